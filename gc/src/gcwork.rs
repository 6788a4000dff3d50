//! Collector work on a thread: the code that runs inside it (`Trace`
//! implementations, destructors run by the sweep) must not re-enter the
//! heap.
//!
//! A thread is *inside GC work* while it holds a [`GcWork`] guard:
//! - a thread running a cycle (the collector thread, or the caller of
//!   `collect` with `background: false`): marking, termination rounds, the
//!   verifier's stop, weak clearing and the sweep;
//! - a parallel marker's helper thread, for its whole life;
//! - a mutator assisting the marker at a commit point;
//! - a mutator's commit marking its survivors, or logging them in the
//!   remembered set (`collector/survivors.rs`, RS6): both run `Trace` code;
//! - any thread running a destructor from the sweep's drop hook (the
//!   collector, or a mutator sweeping lazily), or of the new objects a
//!   commit gives back (CM3 of `tx/commit.rs`) or an abort's rollback
//!   rewinds.
//!
//! # Invariant (W0)
//!
//! Inside GC work, [`Heap::attach`](crate::Heap::attach),
//! [`Heap::collect`](crate::Heap::collect) / `Mutator::collect`, and
//! [`Mutator::transaction`](crate::Mutator::transaction) return an error
//! (`InGcWork`), for every heap of the process, and do nothing else. So:
//! - a cycle never waits for itself (a destructor or a `Trace` impl calling
//!   `collect` would wait for the cycle that runs it; the verifier's stop
//!   waits for every mutator, and one attached from inside the stop would
//!   never park);
//! - collector code never obtains a `Gc` (they come only from transactions),
//!   so it cannot hand the marker an object that is not reachable (a freed
//!   one, or one of another heap whose cycle would then skip it).
//!
//! A destructor may still do what `Drop` is for: free native memory,
//! close a file, count, log, send on a channel.
//!
//! The state is thread-local and counts nested guards (a drop hook runs
//! inside a cycle's sweep, itself inside the cycle).

use std::cell::Cell;
use std::marker::PhantomData;

#[cfg(not(tmgc_loom))]
thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

#[cfg(tmgc_loom)]
loom::thread_local! {
    static DEPTH: Cell<u32> = Cell::new(0);
}

/// Proof that this thread is inside GC work until the guard drops. Not
/// `Send`: the state it sets is the creating thread's.
pub(crate) struct GcWork {
    _not_send: PhantomData<*const ()>,
}

impl GcWork {
    /// Enter GC work on this thread.
    #[must_use = "the thread is inside GC work only while the guard lives"]
    pub(crate) fn enter() -> GcWork {
        DEPTH.with(|d| d.set(d.get() + 1));
        GcWork { _not_send: PhantomData }
    }
}

impl Drop for GcWork {
    fn drop(&mut self) {
        DEPTH.with(|d| {
            debug_assert!(d.get() > 0, "a GcWork guard left without entering");
            d.set(d.get() - 1);
        });
    }
}

/// Run `body`, which runs user `Trace` code in a committing transaction's
/// barrier (the survivors' walk, RS6), inside GC work. If that code
/// panics, run `fallback` (sound work that runs no `Trace` code) and let
/// the panic go on: the commit then rolls forward with nothing left for
/// `Trace` code to do, so no second panic can happen while the first
/// unwinds (SV4 of `collector/survivors.rs`).
/// Both get `state`, the work's own (a walk's stack, a remembered set).
pub(crate) fn trace_at_commit<S, R>(state: &mut S, body: impl FnOnce(&mut S) -> R, fallback: impl FnOnce(&mut S)) -> R {
    let _gc_work = GcWork::enter(); // W0
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut *state))) {
        Ok(r) => r,
        Err(p) => {
            fallback(state);
            std::panic::resume_unwind(p)
        }
    }
}

/// Whether this thread is inside GC work (W0). One thread-local load.
#[inline]
pub(crate) fn inside() -> bool {
    // `try_with`: a destructor of another thread-local may ask while this
    // thread exits; by then it runs no GC work.
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}
