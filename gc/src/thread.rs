//! A mutator's per-thread state, and who may touch it when.
//!
//! Each mutator has a [`MutatorRecord`], shared with the collector: its
//! state (`RUNNING`, `PARKED`, `DETACHED`), its `pending` flag, the last
//! request word it answered, and its [`MutatorState`]: allocator, root table,
//! transaction logs, barrier state. The state is used by one party at a
//! time:
//! - **(H1)** by its own thread while `RUNNING`: proven by a [`Running`]
//!   guard, which only [`MutatorRecord::enter`] makes, after the thread's
//!   commit point found `pending` clear (or answered it under `handoff`);
//! - **(H2)** by whoever holds the record's `handoff` lock *and* saw
//!   `PARKED` under it: proven by a [`ParkedState`] guard, which only
//!   [`MutatorRecord::lock_if_parked`] makes (the collector answering for a
//!   parked thread, the verifier's stop, a solo revocation).
//!
//! Why they never overlap: a thread becomes `RUNNING` with a plain store, a
//! light fence and a load of `pending`; a set flag sends it to the slow
//! path, which takes `handoff` before touching its state
//! ([`PendingEntry::lock`]). The collector raises `pending` under `handoff`,
//! issues the heavy fence (`sync::heavy_fence`, `membarrier` on Linux),
//! and only then reads states. By the asymmetric Dekker argument
//! (docs/COLLECTOR.md, "Parking") either the collector sees `RUNNING` and
//! waits for the thread's own answer, or the thread sees `pending` and
//! blocks on `handoff`. `state()` on each guard is the one place that turns
//! the proof into a reference, so the argument is written once, here.

use std::cell::{RefCell, UnsafeCell};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tmgc_alloc::LocalAllocator;
use tmgc_roots::{RootTable, Slot};

use crate::collector::mark::Grey;
use crate::collector::mmu::MmuMeter;
use crate::collector::stats::{PauseClock, Pauses};
use crate::collector::survivors::Survival;
use crate::heap::HeapInner;
use crate::sync::{light_fence, lock, AtomicBool, AtomicU32, AtomicU64, Mutex, MutexGuard};
use crate::tx::Logs;

/// Mutator record states.
pub(crate) const RUNNING: u32 = 0;
pub(crate) const PARKED: u32 = 1;
pub(crate) const DETACHED: u32 = 2;

/// The collector's per-thread state (barrier, buffers, pacing), part of
/// [`MutatorState`].
pub(crate) struct LocalGc {
    /// The commit barrier is on (from handshake 1 to this thread's SWEEP).
    pub(crate) barrier: bool,
    /// The cycle (24-bit epoch) the barrier was turned on for.
    pub(crate) barrier_epoch: u64,
    /// The cycle whose SWEEP this thread answered.
    pub(crate) swept_epoch: u64,
    /// This thread answered MARK of the cycle its barrier is on for and has
    /// not answered its SWEEP: its commits mark their survivors (P4,
    /// `collector/survivors.rs`). Changed only at its commit points, so it
    /// holds for a whole attempt.
    pub(crate) survivors: bool,
    /// Scratch stack of the survivors' walk (kept to reuse its memory).
    pub(crate) walk: Vec<Grey>,
    /// How this thread's large commits' news have been surviving (SV6).
    pub(crate) survival: Survival,
    /// Objects this thread shaded and has not handed over yet.
    pub(crate) grey: Vec<Grey>,
    /// Generational mode is on (the heap's configuration, copied here so
    /// a commit reads it without following the heap pointer).
    pub(crate) generational: bool,
    /// Old holders this thread's commits logged and has not handed over
    /// yet (RS1-RS3 of `collector/remset.rs`).
    pub(crate) remset: Vec<Grey>,
    /// Pauses not yet merged into the record (ns).
    pub(crate) pauses: Pauses,
    /// This thread's minimum mutator utilisation, over its life.
    pub(crate) mmu: MmuMeter,
    /// Own allocated bytes at which to consult the pacer next.
    pub(crate) pacer_next: u64,
    /// When this thread last gave up its CPU at a commit point while the
    /// barrier was on (`Tx::yield_due`).
    pub(crate) last_yield: Instant,
}

impl LocalGc {
    /// Record the pause `clock` timed (less `excluded`, a wait not of the
    /// collector's making) in this thread's histograms and MMU meter.
    #[inline]
    pub(crate) fn record_pause(&mut self, clock: &PauseClock, excluded: Duration) {
        self.pauses.record(clock, excluded, &mut self.mmu);
    }
}

/// What a transaction borrows from its mutator: everything the collector
/// may also touch while the thread is parked (H2).
pub(crate) struct MutatorState {
    pub(crate) heap: Arc<HeapInner>,
    pub(crate) alloc: LocalAllocator,
    pub(crate) roots: RootTable,
    pub(crate) logs: Logs,
    pub(crate) gc: LocalGc,
    /// This mutator's writer tag (`flags::vlock`): its commits stamp it
    /// into the objects they write.
    pub(crate) tag: u32,
    /// This thread holds the heap's solo grant: its transactions run
    /// without concurrency control (`solo`, S3).
    pub(crate) solo: bool,
    /// The objects this mutator owns (`owned`, OW1-OW9).
    pub(crate) owned: crate::owned::Owned,
    /// This mutator's injected fault (`crate::fault`; shared with its
    /// `Mutator`, which arms it). Nothing without `fault-injection`.
    pub(crate) faults: Arc<crate::fault::Faults>,
}

/// Roots dropped (outside any transaction, or inside one) and not yet
/// removed from the table: `Root::drop` only queues here, so it never
/// touches the table while the collector may be scanning it.
pub(crate) type RootDrops = RefCell<Vec<Slot>>;

/// What the `handoff` lock guards besides the state of a parked thread.
pub(crate) struct Handoff {
    /// This thread's pauses at commit points (ns), merged from its local
    /// histograms at each slow path.
    pub(crate) pauses: Pauses,
}

/// A mutator as the collector sees it. See the module docs.
pub(crate) struct MutatorRecord {
    pub(crate) id: u64,
    /// The mutator's writer tag (`flags::vlock`), also in its state.
    pub(crate) tag: u32,
    /// The thread that owns the mutator.
    pub(crate) owner: crate::sync::ThreadId,
    pub(crate) state: AtomicU32,
    pub(crate) pending: AtomicBool,
    pub(crate) acked: AtomicU64,
    /// Solo mode wanted for this mutator (`solo`; changed under the heap's
    /// solo lock, each change followed by a raise of `pending`).
    pub(crate) solo_want: AtomicBool,
    /// Solo mode applied to its state (`solo::apply`).
    pub(crate) solo_has: AtomicBool,
    /// Another mutator asked for the objects this one owns (OW5 of
    /// `owned`; set before a raise of `pending`, cleared by `owned::apply`).
    pub(crate) release_want: AtomicBool,
    pub(crate) handoff: Mutex<Handoff>,
    /// Reached only through the guards (H1, H2).
    state_cell: UnsafeCell<MutatorState>,
}

// `MutatorState` holds only data that may move between threads (its
// allocator is `Send`; its logs are addresses).
// SAFETY: `state_cell` is used by one party at a time, per (H1)/(H2) above;
// the other fields are atomics and a mutex.
unsafe impl Sync for MutatorRecord {}
// SAFETY: `state_cell` is used by one party at a time, per (H1)/(H2)
// above, whichever thread that is; `MutatorState` holds only data that may
// move between threads; the other fields are atomics and a mutex.
unsafe impl Send for MutatorRecord {}

/// What [`MutatorRecord::enter`] found at the commit point.
pub(crate) enum Entered<'a> {
    /// Nothing pending: the thread owns its state (H1).
    Running(Running<'a>),
    /// The collector asked for something: lock `handoff` first.
    Pending(PendingEntry<'a>),
}

impl MutatorRecord {
    pub(crate) fn new(id: u64, tag: u32, mut state: MutatorState) -> MutatorRecord {
        state.tag = tag;
        MutatorRecord {
            id,
            tag,
            owner: crate::sync::thread_id(),
            state: AtomicU32::new(PARKED),
            pending: AtomicBool::new(true),
            acked: AtomicU64::new(u64::MAX),
            solo_want: AtomicBool::new(false),
            solo_has: AtomicBool::new(false),
            release_want: AtomicBool::new(false),
            handoff: Mutex::new(Handoff { pauses: Pauses::new() }),
            state_cell: UnsafeCell::new(state),
        }
    }

    /// The commit point, called by the record's own thread: become
    /// `RUNNING` (a store, a light fence, one load of `pending`). The only
    /// maker of [`Running`] and [`PendingEntry`].
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        debug_assert_eq!(self.owner, crate::sync::thread_id(), "a commit point on another thread");
        debug_assert!(!crate::gcwork::inside(), "a commit point inside GC work (W0): its method must refuse first");
        debug_assert_ne!(self.state.load(Ordering::Relaxed), RUNNING, "a commit point while running");
        self.state.store(RUNNING, Ordering::Relaxed);
        light_fence();
        if self.pending.load(Ordering::Acquire) {
            Entered::Pending(PendingEntry { rec: self })
        } else {
            Entered::Running(Running { parker: Parker { rec: self } })
        }
    }

    /// Lock `handoff` and check the thread is `PARKED` under it: the one
    /// helper for "lock, then check again". `Err(state)` with the state
    /// seen under the lock otherwise (the lock is released).
    pub(crate) fn lock_if_parked(&self) -> Result<ParkedState<'_>, u32> {
        let guard = lock(&self.handoff);
        match self.state.load(Ordering::Acquire) {
            PARKED => Ok(ParkedState { rec: self, guard }),
            s => Err(s),
        }
    }

    /// `lock_if_parked` without waiting for the lock: `None` if another
    /// holds it, or if the thread is not `PARKED` under it.
    pub(crate) fn try_lock_if_parked(&self) -> Option<ParkedState<'_>> {
        let guard = self.handoff.try_lock().ok()?;
        (self.state.load(Ordering::Acquire) == PARKED).then_some(ParkedState { rec: self, guard })
    }

    /// # Safety
    /// The caller holds a guard of this module proving (H1) or (H2), and
    /// makes no other reference from it while the returned one lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn state_mut(&self) -> &mut MutatorState {
        // SAFETY: exclusive by the caller's guarantee.
        unsafe { &mut *self.state_cell.get() }
    }
}

/// Proof that the record's thread is `RUNNING` and owns its state (H1).
/// Dropping it parks the thread (also when unwinding), through its
/// [`Parker`].
pub(crate) struct Running<'a> {
    parker: Parker<'a>,
}

impl<'a> Running<'a> {
    /// The thread's state.
    pub(crate) fn state(&mut self) -> &mut MutatorState {
        // SAFETY: (H1) this guard exists only while the thread is RUNNING
        // after a clear `pending` (or an answer under `handoff`); `&mut self`
        // makes the reference unique.
        unsafe { self.parker.rec.state_mut() }
    }

    /// Split into the state, borrowed for the guard's whole life, and the
    /// token that parks the thread when dropped: a transaction (`Tx`) holds
    /// both, and drops the token last, after its rollback.
    pub(crate) fn into_parts(self) -> (&'a mut MutatorState, Parker<'a>) {
        let rec = self.parker.rec;
        // SAFETY: (H1) as in `state`; the guard is consumed (its parker
        // moves out with the reference), so this is the only reference, and
        // the thread stays RUNNING until the `Parker` drops.
        let state = unsafe { rec.state_mut() };
        (state, self.parker)
    }

    /// Take `handoff` as its owner (to publish pauses, or to detach). The
    /// state stays the thread's (H1): the collector answers only for a
    /// thread it sees `PARKED` under this lock.
    pub(crate) fn lock(self) -> OwnerLocked<'a> {
        let guard = lock(&self.parker.rec.handoff);
        OwnerLocked { running: self, guard: Some(guard) }
    }
}

/// Parks the thread when dropped: what makes a [`Running`] end in `PARKED`,
/// and the second half of [`Running::into_parts`].
pub(crate) struct Parker<'a> {
    rec: &'a MutatorRecord,
}

impl Drop for Parker<'_> {
    #[inline]
    fn drop(&mut self) {
        self.rec.state.store(PARKED, Ordering::Release);
    }
}

/// The record's thread is `RUNNING`, but the collector raised `pending`:
/// the state may still be in the collector's hands until `handoff` is
/// taken, so this guard gives no access to it.
pub(crate) struct PendingEntry<'a> {
    rec: &'a MutatorRecord,
}

impl<'a> PendingEntry<'a> {
    /// The record.
    pub(crate) fn record(&self) -> &'a MutatorRecord {
        self.rec
    }

    /// Take `handoff`: from then on the thread owns its state (a collector
    /// acting for a parked thread holds the lock and sees `RUNNING` no
    /// more).
    pub(crate) fn lock(self) -> OwnerLocked<'a> {
        let guard = lock(&self.rec.handoff);
        OwnerLocked { running: Running { parker: Parker { rec: self.rec } }, guard: Some(guard) }
    }
}

/// The record's own thread, `RUNNING` and holding `handoff`.
pub(crate) struct OwnerLocked<'a> {
    running: Running<'a>,
    /// `None` only inside [`OwnerLocked::park_while`].
    guard: Option<MutexGuard<'a, Handoff>>,
}

impl<'a> OwnerLocked<'a> {
    /// The thread's state (H1).
    pub(crate) fn state(&mut self) -> &mut MutatorState {
        self.running.state()
    }

    /// The thread's state and what `handoff` guards, together (to move
    /// pauses from one to the other).
    pub(crate) fn state_and_handoff(&mut self) -> (&mut MutatorState, &mut Handoff) {
        let h = self.guard.as_mut().expect("handoff is held outside park_while");
        (self.running.state(), h)
    }

    /// Park, release `handoff`, run `wait`, then come back in as at any
    /// commit point (RUNNING, fence, lock). Returns the time spent waiting
    /// and relocking. The state is not reachable while parked: `wait` gets
    /// no access to it.
    pub(crate) fn park_while(&mut self, wait: impl FnOnce()) -> Duration {
        let rec = self.running.parker.rec;
        rec.state.store(PARKED, Ordering::Release);
        self.guard = None;
        let stopped = Instant::now();
        wait();
        rec.state.store(RUNNING, Ordering::Relaxed);
        light_fence();
        self.guard = Some(lock(&rec.handoff));
        stopped.elapsed()
    }

    /// Release `handoff`, still running.
    pub(crate) fn unlock(self) -> Running<'a> {
        drop(self.guard);
        self.running
    }

    /// Leave for good: the record becomes `DETACHED` (never `PARKED`
    /// again) and `handoff` is released.
    pub(crate) fn detach(self) {
        let rec = self.running.parker.rec;
        rec.state.store(DETACHED, Ordering::Release);
        std::mem::forget(self.running);
        drop(self.guard);
    }
}

/// Proof that the caller holds `handoff` and saw `PARKED` under it (H2):
/// the thread blocks on `handoff` before it touches its state again.
pub(crate) struct ParkedState<'a> {
    rec: &'a MutatorRecord,
    #[allow(dead_code)] // held for its lock
    guard: MutexGuard<'a, Handoff>,
}

impl ParkedState<'_> {
    /// The parked thread's state.
    pub(crate) fn state(&mut self) -> &mut MutatorState {
        // SAFETY: (H2) we hold `handoff` and saw PARKED under it; `&mut
        // self` makes the reference unique.
        unsafe { self.rec.state_mut() }
    }
}
