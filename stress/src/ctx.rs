//! What every workload thread carries: its mutator, its seeded random
//! stream, its counters, and the transaction wrapper that injects user
//! aborts and panics and classifies every outcome.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tmgc::{Abort, Heap, Mutator, Tx, TxError};

use crate::opts::Opts;

/// The workloads' seeded random numbers (`fastrand`), reproducible from
/// the seed a failure report names.
#[derive(Clone, Debug)]
pub(crate) struct Rng(fastrand::Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0.u64(..)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n.max(1))
    }
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// A verification failure: what, where, and how to reproduce it.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) workload: &'static str,
    pub(crate) thread: usize,
    pub(crate) seed: u64,
    pub(crate) detail: String,
}

/// Why a transaction body stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// An abort the harness injected (the transaction must leave no trace).
    Injected,
    /// A check failed: the message names the object.
    Fail(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Injected => write!(f, "an abort the harness injected"),
            Stop::Fail(m) => write!(f, "{m}"),
        }
    }
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Fail(s)
    }
}

/// Per-thread counters, summed into the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: u64,
    pub(crate) injected_aborts: u64,
    pub(crate) injected_panics: u64,
    /// tmgc faults that fired (`--fault-permille`), and of those, the
    /// ones past the commit point (rolled forward).
    pub(crate) injected_faults: u64,
    pub(crate) faults_rolled_forward: u64,
    pub(crate) exhausted: u64,
    pub(crate) checks: u64,
    pub(crate) threads_spawned: u64,
}

/// The message a panic carried, if it was a string.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> Option<String> {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// The marker a panic hook recognises (so injected panics print nothing).
pub(crate) const INJECTED: &str = "tmgc-stress: injected panic";

pub(crate) struct Ctx<'a> {
    pub(crate) heap: &'a Heap,
    pub(crate) m: &'a mut Mutator,
    pub(crate) rng: Rng,
    pub(crate) opts: &'a Opts,
    pub(crate) thread: usize,
    pub(crate) seed: u64,
    pub(crate) workload: &'static str,
    pub(crate) until: Instant,
    pub(crate) stop: &'a AtomicBool,
    /// Commits of every thread, counted only under `--ops`.
    pub(crate) committed: &'a AtomicU64,
    pub(crate) counters: Counters,
    /// The running workload's checks hold for commits it does not see
    /// the result of (a fault past the commit point: rolled forward, the
    /// result dropped with the panic). Set by `graph`.
    pub(crate) forward_ok: bool,
}

impl Ctx<'_> {
    /// Should the workload keep going (its slice is not over, no failure)?
    pub(crate) fn running(&self) -> bool {
        Instant::now() < self.until
            && !self.stop.load(Ordering::Relaxed)
            && self.opts.ops.is_none_or(|n| self.committed.load(Ordering::Relaxed) < n)
    }

    pub(crate) fn fail(&self, detail: impl Into<String>) -> Failure {
        Failure { workload: self.workload, thread: self.thread, seed: self.seed, detail: detail.into() }
    }

    /// Run `body` as a transaction, sometimes aborting or panicking after it
    /// on purpose (`--abort-percent`, `--panic-permille`). `Ok(Some)`:
    /// committed; `Ok(None)`: rolled back on purpose, or the heap limit was
    /// reached cleanly; `Err`: a check failed.
    pub(crate) fn tx<R>(
        &mut self,
        mut body: impl for<'t> FnMut(&mut Tx<'t>) -> Result<R, Abort<Stop>>,
    ) -> Result<Option<R>, Failure> {
        let abort = self.rng.below(100) < self.opts.abort_percent;
        let panic = !abort && self.rng.chance(self.opts.panic_permille);
        let fault = self.arm_fault();
        let m = &mut *self.m;
        let r = catch_unwind(AssertUnwindSafe(|| {
            m.transaction(|tx| {
                let r = body(tx)?;
                if abort {
                    return Err(Abort::User(Stop::Injected));
                }
                if panic {
                    std::panic::panic_any(INJECTED);
                }
                Ok(r)
            })
        }));
        let fired = self.disarm_fault(fault);
        match r {
            Err(p) => {
                if p.downcast_ref::<&str>() == Some(&INJECTED) {
                    self.counters.injected_panics += 1;
                    Ok(None)
                } else if let Some(point) = fired.filter(|_| is_tmgc_fault(&*p)) {
                    // Rolled back, or (graph only) rolled forward: the
                    // workload's next checks say whether anything was lost.
                    self.counters.injected_faults += 1;
                    self.counters.faults_rolled_forward += u64::from(fault_commits(point));
                    Ok(None)
                } else {
                    let msg = panic_message(&*p).unwrap_or_default();
                    Err(self.fail(format!("a transaction panicked: {msg}")))
                }
            }
            Ok(Ok(r)) => {
                self.counters.commits += 1;
                if self.opts.ops.is_some() {
                    // Only when asked: a shared counter every commit touches.
                    self.committed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(r))
            }
            Ok(Err(TxError::Aborted(Stop::Injected))) => {
                self.counters.injected_aborts += 1;
                Ok(None)
            }
            Ok(Err(TxError::Aborted(Stop::Fail(m)))) => Err(self.fail(m)),
            Ok(Err(TxError::Alloc(tmgc::alloc::AllocError::HeapExhausted { .. }))) => {
                self.counters.exhausted += 1;
                Ok(None)
            }
            Ok(Err(e)) => Err(self.fail(format!("unexpected transaction error: {e}"))),
        }
    }

    /// With `--fault-permille`: maybe arm a fault on this mutator for the
    /// next transaction. Draws from the random stream only when faults are
    /// on, so runs without them replay as before.
    #[cfg(feature = "faults")]
    fn arm_fault(&mut self) -> Option<tmgc::fault::FaultPoint> {
        use tmgc::fault::FaultPoint as P;
        if self.opts.fault_permille == 0 || !self.rng.chance(self.opts.fault_permille) {
            return None;
        }
        let back = [P::Validate, P::Handshake];
        let all = [P::Validate, P::Handshake, P::Barrier, P::WriteBack, P::RootCommit];
        let pick: &[P] = if self.forward_ok { &all } else { &back };
        let p = pick[self.rng.below(pick.len() as u64) as usize];
        self.m.inject_fault(p).expect("a mutator's point");
        Some(p)
    }

    #[cfg(not(feature = "faults"))]
    fn arm_fault(&mut self) -> Option<Never> {
        None
    }

    /// Disarm the fault `arm_fault` armed; the point if it fired.
    #[cfg(feature = "faults")]
    fn disarm_fault(&mut self, armed: Option<tmgc::fault::FaultPoint>) -> Option<tmgc::fault::FaultPoint> {
        armed.filter(|_| self.m.disarm_fault().is_none())
    }

    #[cfg(not(feature = "faults"))]
    fn disarm_fault(&mut self, armed: Option<Never>) -> Option<Never> {
        armed
    }

    /// A read-only checking transaction (no injection): `check` returns a
    /// message on a discrepancy.
    pub(crate) fn check(
        &mut self,
        mut check: impl for<'t> FnMut(&mut Tx<'t>) -> Result<(), Abort<Stop>>,
    ) -> Result<(), Failure> {
        self.counters.checks += 1;
        match self.m.transaction(|tx| check(tx)) {
            Ok(()) => Ok(()),
            Err(TxError::Aborted(Stop::Fail(m))) => Err(self.fail(m)),
            Err(TxError::Alloc(tmgc::alloc::AllocError::HeapExhausted { .. })) => {
                self.counters.exhausted += 1;
                Ok(())
            }
            Err(e) => Err(self.fail(format!("a check transaction failed: {e:?}"))),
        }
    }
}

/// No fault points without the `faults` feature.
#[cfg(not(feature = "faults"))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Never {}

#[cfg(feature = "faults")]
fn is_tmgc_fault(p: &(dyn std::any::Any + Send)) -> bool {
    panic_message(p).is_some_and(|m| m.starts_with(tmgc::fault::INJECTED))
}

#[cfg(not(feature = "faults"))]
fn is_tmgc_fault(_: &(dyn std::any::Any + Send)) -> bool {
    false
}

#[cfg(feature = "faults")]
fn fault_commits(p: tmgc::fault::FaultPoint) -> bool {
    p.commits()
}

#[cfg(not(feature = "faults"))]
fn fault_commits(p: Never) -> bool {
    match p {}
}

/// Turn a failed check into the abort that carries it.
pub(crate) fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), Abort<Stop>> {
    if ok {
        Ok(())
    } else {
        Err(Abort::User(Stop::Fail(msg())))
    }
}
