//! The event loop: queued events run as transactions on worker threads.
//!
//! An event is a list `(proc arg ...)` held by a global root. A worker
//! runs it as one transaction (`Mutator::transaction`, so a conflict runs
//! it again from the start); the events it spawns are queued only once it
//! commits, and its output is written then.
//!
//! Output and serial equivalence: with several workers, a transaction
//! becomes inevitable at its first output and takes the output lock,
//! which it keeps until its buffered output is written after its commit.
//! Only one transaction is inevitable at a time, so outputs appear in the
//! order of their transactions' commits: the serial order tmgc's commits
//! define. Events that do not print run fully in parallel.
//!
//! The queue is a lock-free injector (crossbeam-deque): taking an event
//! and queueing the ones it spawned take no lock. A worker with nothing
//! to do spins briefly, then sleeps on a condition variable (with a
//! timeout, so a wake-up lost to a race costs a millisecond, not a hang);
//! a worker that queues events wakes sleepers only if there are some.
//!
//! Termination: `pending` counts events queued or running; a running
//! event's spawned events are added before its own is taken off, so
//! `pending` reaches 0 only when the queue is empty and no event runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};
use crossbeam_utils::Backoff;

use tmgc::{Dyn, GlobalRoot, Heap, Mutator};

use crate::code::Lambda;
use crate::eval::{Ctx, OutputMode};
use crate::prims::list_items;
use crate::program::Program;
use crate::{tx_err, Interp, Sink};

/// What a run of events did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Events run to their commit (or to an error).
    pub events: u64,
    /// Events that raised an error (their effects rolled back).
    pub errors: u64,
    /// Attempts that ended in a conflict and ran again.
    pub retries: u64,
    /// Events that became inevitable (for output).
    pub inevitable: u64,
    /// Wall time of the runs.
    pub wall: Duration,
}

impl EventStats {
    pub(crate) fn add(&mut self, o: &EventStats) {
        self.events += o.events;
        self.errors += o.errors;
        self.retries += o.retries;
        self.inevitable += o.inevitable;
        self.wall += o.wall;
    }
}

struct Shared {
    queue: Injector<GlobalRoot<Dyn>>,
    /// Events queued or running.
    pending: AtomicUsize,
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    prog: Arc<Program>,
    sink: Sink,
    /// The program's name, for event errors' positions.
    source: Option<String>,
    limits: crate::eval::Limits,
    output: OutputMode,
}

impl Shared {
    fn take(&self) -> Option<GlobalRoot<Dyn>> {
        loop {
            match self.queue.steal() {
                Steal::Success(e) => return Some(e),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    /// The next event, or None once every event has run.
    fn next(&self) -> Option<GlobalRoot<Dyn>> {
        let backoff = Backoff::new();
        loop {
            if let Some(e) = self.take() {
                return Some(e);
            }
            if self.pending.load(Ordering::SeqCst) == 0 {
                return None;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let g = self.sleep.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            if self.queue.is_empty() && self.pending.load(Ordering::SeqCst) != 0 {
                let _ = self.wake.wait_timeout(g, Duration::from_millis(1));
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Queue `spawned` and retire one finished event.
    fn finish(&self, spawned: Vec<GlobalRoot<Dyn>>) {
        let n = spawned.len();
        self.pending.fetch_add(n, Ordering::SeqCst);
        for e in spawned {
            self.queue.push(e);
        }
        let left = self.pending.fetch_sub(1, Ordering::SeqCst) - 1;
        if (n > 0 || left == 0) && self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.sleep.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }
}

/// Run `initial` and every event it spawns.
pub(crate) fn run(it: &mut Interp, initial: Vec<GlobalRoot<Dyn>>) -> EventStats {
    let started = Instant::now();
    let workers = if it.opts.gil { 1 } else { it.opts.workers.max(1) };
    let queue = Injector::new();
    let pending = AtomicUsize::new(initial.len());
    for e in initial {
        queue.push(e);
    }
    let shared = Arc::new(Shared {
        queue,
        pending,
        sleepers: AtomicUsize::new(0),
        sleep: Mutex::new(()),
        wake: Condvar::new(),
        prog: Arc::clone(&it.prog),
        sink: it.sink.clone(),
        source: it.source.clone(),
        limits: it.opts.limits(),
        output: if workers > 1 { OutputMode::Inevitable } else { OutputMode::AfterCommit },
    });
    let mut total = EventStats::default();
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 1..workers {
            let shared = Arc::clone(&shared);
            let heap: Heap = it.heap.clone();
            // The stack the limits assume, and the margin past it that the
            // binary keeps on its own thread.
            let stack = shared.limits.stack_bytes + (64 << 20);
            let h = std::thread::Builder::new().name("tmgc-scheme-worker".into()).stack_size(stack).spawn_scoped(
                s,
                move || {
                    let mut m = match heap.attach() {
                        Ok(m) => m,
                        Err(e) => {
                            log::error!("tmgc-scheme: a worker could not attach: {e}");
                            return EventStats::default();
                        }
                    };
                    let mut lambdas = Vec::new();
                    worker(&shared, &mut m, &mut lambdas)
                },
            );
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Fewer workers, same results: the main thread is one.
                    eprintln!(
                        "tmgc-scheme: a worker thread could not start ({e}); running events on {} of {workers} threads",
                        handles.len() + 1
                    );
                    break;
                }
            }
        }
        // The main thread is worker 0, with its own mutator.
        let mine = worker(&shared, &mut it.m, &mut it.lambdas);
        total.add(&mine);
        for h in handles {
            match h.join() {
                Ok(st) => total.add(&st),
                Err(_) => log::error!("tmgc-scheme: a worker panicked"),
            }
        }
    });
    total.wall = started.elapsed();
    total
}

/// Event `ev` as `write` shows it in messages (`(#<procedure car> 5)`), in
/// a read-only transaction of its own; `None` if that fails too.
fn describe(
    sh: &Shared,
    m: &mut Mutator,
    lambdas: &mut Vec<&'static Lambda>,
    ev: &tmgc::GlobalRoot<tmgc::Dyn>,
) -> Option<String> {
    let mut lock = None;
    m.transaction(|tx| {
        let e = tx.get_global(ev)?;
        let mut cx = Ctx::new(tx, &sh.prog, lambdas, sh.output, &mut lock, sh.limits);
        Ok(cx.show(tmgc::Tagged::Ref(e))?)
    })
    .ok()
}

fn worker(sh: &Shared, m: &mut Mutator, lambdas: &mut Vec<&'static Lambda>) -> EventStats {
    let mut st = EventStats::default();
    while let Some(ev) = sh.next() {
        let before = m.tx_counts().conflicts;
        let mut lock = None;
        let r = m.transaction(|tx| {
            let e = tx.get_global(&ev)?;
            let mut cx = Ctx::new(tx, &sh.prog, lambdas, sh.output, &mut lock, sh.limits);
            let items = list_items(&mut cx, "an event", tmgc::Tagged::Ref(e))?;
            cx.call(items[0], &items[1..])?;
            Ok(std::mem::take(&mut cx.fx))
        });
        st.retries += m.tx_counts().conflicts - before;
        st.events += 1;
        let spawned = match r {
            Ok(fx) => {
                sh.sink.write(&fx.out);
                st.inevitable += u64::from(fx.inevitable);
                fx.spawned
            }
            Err(e) => {
                st.errors += 1;
                let e = tx_err(e);
                sh.sink.write("");
                let at = match (&sh.source, e.pos) {
                    (Some(f), Some(_)) => format!("{f}:"),
                    (Some(f), None) => format!("{f}: "),
                    (None, _) => "tmgc-scheme: ".to_string(),
                };
                // With no position (a builtin called as the event's
                // procedure), the event itself says which one failed.
                let which = match e.pos {
                    Some(_) => String::new(),
                    None => describe(sh, m, lambdas, &ev).map(|d| format!(" {d}")).unwrap_or_default(),
                };
                eprintln!("{at}{e} (in an event{which}; its effects are rolled back)");
                Vec::new()
            }
        };
        // Output written: the next inevitable transaction may print.
        drop(lock);
        drop(ev);
        sh.finish(spawned);
    }
    st
}
