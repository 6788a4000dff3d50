//! Weak references: the gate that decides what a weak read may return
//! while a cycle runs, and the registry of weak cells the collector clears.
//!
//! A weak cell ([`crate::Weak`]) is a small object with one reference word
//! that the marker does not trace. Reading it ([`crate::Tx::upgrade`]) gives
//! a strong reference the transaction may store anywhere, so a read must
//! never hand out an object that the collector has decided is dead (trap 5
//! of docs/COLLECTOR.md: a weak read after a thread's last termination
//! flush resurrects a dying object whose children are not traced).
//!
//! ## The phases (P7)
//! - `IDLE`: no cycle is marking, and every weak cell whose referent died
//!   in the last cycle has been cleared: a referent read is live.
//! - `SHADE` (from before the REQ request until marking closes): a read
//!   shades its referent into the collector's grey set directly, not into
//!   the thread's barrier buffer, so the collector sees it before it closes
//!   whatever termination round the thread last answered. (A weak read
//!   during REQ must shade too: a transaction that read the referent before
//!   its thread's handshake may store it into an object after T.)
//! - `CLOSED` (marking closed, until the dead referents are cleared): a
//!   referent is returned only if it is marked.
//!
//! ## The gate
//! One word holds the phase, a `CLOSING` bit and the number of readers
//! inside. A reader enters with one CAS (never while `CLOSING` is set),
//! reads the cell's word inside, and leaves with one `fetch_sub`. The
//! collector changes the phase only with `CLOSING` set and no reader
//! inside (`switch`), so a reader sees one phase from its entry to its exit:
//! - (W1) a shade made in `SHADE` is in the grey set before the collector
//!   looks at it under `CLOSING` (the reader's `fetch_sub` is Release, the
//!   collector's wait is Acquire); `SHADE -> CLOSED` happens only when the
//!   grey set is then empty, else marking resumes;
//! - (W2) in `CLOSED` no sweep has begun (the collector begins the sweep
//!   only after `CLOSED -> IDLE`, under the gate), so a referent read there
//!   is dead or live but never freed, and its mark bit says which;
//! - (W3) `CLOSED -> IDLE` happens after every registered cell whose
//!   referent is unmarked was cleared, so in `IDLE` a non-null referent is
//!   live.
//!
//! ## The registry
//! A weak cell is registered when the transaction that allocated it
//! commits (an aborted one never existed). While `CLOSED` the collector
//! walks the registry: a cell that is itself unmarked is dead and leaves
//! it (it is freed by this cycle's sweep, which comes after the walk); in a
//! live cell a referent that is unmarked is cleared with a CAS, which fails
//! only if a commit wrote the cell since, and a referent written while the
//! barrier is on is always marked (a strong read finds marked objects, a
//! weak read in `CLOSED` only marked ones, and a new object is marked by
//! its commit as a survivor, or shaded). A cell registered after the walk
//! was published with the barrier on (marked with its referent as a
//! survivor, SV1 of `survivors.rs`, so both outlive this sweep) or after its
//! thread answered SWEEP (white, in a block already swept): every
//! registered cell is alive at the next walk or unmarked there.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::header::Header;
use crate::sync::{lock, AtomicPtr, AtomicU64, Mutex, Spin};

const READERS: u64 = (1 << 32) - 1;
const CLOSING: u64 = 1 << 32;
const PHASE_SHIFT: u32 = 33;

/// What a weak read may return now (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WeakPhase {
    Idle = 0,
    Shade = 1,
    Closed = 2,
}

impl WeakPhase {
    fn of(word: u64) -> WeakPhase {
        match word >> PHASE_SHIFT {
            0 => WeakPhase::Idle,
            1 => WeakPhase::Shade,
            _ => WeakPhase::Closed,
        }
    }
}

/// The gate of the weak-read phases.
pub(crate) struct WeakGate {
    word: AtomicU64,
}

/// A reader inside the gate: the phase cannot change until it is dropped.
pub(crate) struct Reader<'a> {
    gate: &'a WeakGate,
    pub(crate) phase: WeakPhase,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.gate.word.fetch_sub(1, Ordering::Release);
    }
}

impl WeakGate {
    pub(crate) fn new() -> WeakGate {
        WeakGate { word: AtomicU64::new(0) }
    }

    /// Enter as a reader (waits while the collector switches phases, which
    /// takes as long as the readers already inside plus a few loads).
    pub(crate) fn enter(&self) -> Reader<'_> {
        let spin = Spin::new();
        loop {
            let w = self.word.load(Ordering::Acquire);
            if w & CLOSING == 0
                && self.word.compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                return Reader { gate: self, phase: WeakPhase::of(w) };
            }
            spin.snooze();
        }
    }

    /// The collector: with no reader inside, run `check`; if it allows,
    /// move to phase `to`. Returns whether it moved. Only the collector
    /// calls this (cycles are serialised), so `CLOSING` has one owner.
    pub(crate) fn switch(&self, to: WeakPhase, check: impl FnOnce() -> bool) -> bool {
        self.word.fetch_or(CLOSING, Ordering::AcqRel);
        let spin = Spin::new();
        while self.word.load(Ordering::Acquire) & READERS != 0 {
            spin.snooze();
        }
        if check() {
            self.word.store((to as u64) << PHASE_SHIFT, Ordering::Release);
            true
        } else {
            self.word.fetch_and(!CLOSING, Ordering::Release);
            false
        }
    }
}

/// A registered weak cell.
struct Cell(NonNull<Header>);

// SAFETY: a cell is an address of a heap object; the registry only reads
// and CASes its word and its mark bit, from whichever thread holds the lock.
unsafe impl Send for Cell {}

/// What clearing did in one cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cleared {
    /// Cells whose referent died, now cleared.
    pub(crate) cleared: u64,
}

/// Every published weak cell that was alive at the last walk or published
/// since.
#[derive(Default)]
pub(crate) struct Registry {
    cells: Mutex<Vec<Cell>>,
}

impl Registry {
    /// Register weak cells just published by a commit.
    pub(crate) fn register(&self, cells: impl Iterator<Item = NonNull<Header>>) {
        lock(&self.cells).extend(cells.map(Cell));
    }

    /// The walk's first half (module docs): clear every unmarked referent,
    /// in every registered cell, dead cells included (a dead cell may be
    /// revived by the finalizers' marking, `finalize.rs`, and must not
    /// keep a referent that this cycle frees).
    ///
    /// # Safety
    /// Marking is closed and complete for this cycle and this cycle's sweep
    /// has not begun, so every registered cell and referent is unfreed and
    /// its mark bit says whether it is live.
    pub(crate) unsafe fn clear_dead_referents(&self) -> Cleared {
        let mut report = Cleared::default();
        for c in lock(&self.cells).iter() {
            // SAFETY: an unfreed weak cell (the caller's guarantee): its
            // payload is one reference word.
            let slot = unsafe { cell_slot(c.0) };
            let r = slot.load(Ordering::Acquire);
            // SAFETY: a referent of a registered cell is unfreed (as above).
            if let Some(r) = NonNull::new(r).filter(|r| !unsafe { tmgc_alloc::is_marked(r.cast()) }) {
                // Fails only if a commit wrote the cell since: then it holds
                // a marked object (module docs).
                if slot.compare_exchange(r.as_ptr(), std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok()
                {
                    report.cleared += 1;
                }
            }
        }
        report
    }

    /// The walk's second half, after the finalizers' marking: drop the
    /// cells that are still unmarked (this cycle's sweep frees them).
    ///
    /// # Safety
    /// As for `clear_dead_referents`, and the finalizers' marking is done.
    pub(crate) unsafe fn drop_dead_cells(&self) {
        // SAFETY: an unfreed object (the caller's guarantee).
        lock(&self.cells).retain(|c| unsafe { tmgc_alloc::is_marked(c.0.cast()) });
    }

    /// Registered cells (for statistics).
    pub(crate) fn len(&self) -> usize {
        lock(&self.cells).len()
    }
}

/// The reference word of a weak cell.
///
/// # Safety
/// `cell` is an unfreed object of the weak-cell type (`types::WEAK_CELL`),
/// and the reference returned is not used after it is freed.
pub(crate) unsafe fn cell_slot<'a>(cell: NonNull<Header>) -> &'a AtomicPtr<Header> {
    // SAFETY: the weak-cell payload is one `AtomicPtr<Header>` at the
    // header's payload offset (the caller's guarantee on the type).
    unsafe { &*Header::payload(cell).cast::<AtomicPtr<Header>>().as_ptr() }
}

#[cfg(all(test, tmgc_loom))]
mod loom_model {
    //! `RUSTFLAGS="--cfg tmgc_loom" cargo test -p tmgc --lib --release --target-dir target/loom weak`
    use super::{WeakGate, WeakPhase};
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::Arc;

    /// A reader shades (pushes to the "grey set") only in `SHADE`; the
    /// collector closes only when the grey set is empty under the gate.
    /// Whatever the interleaving, a shade is never left behind a close: if
    /// the reader shaded, the collector saw it before closing (W1), and a
    /// reader that entered after the close sees `CLOSED`.
    #[test]
    fn no_shade_is_lost_behind_a_close() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let gate = Arc::new(WeakGate::new());
            assert!(gate.switch(WeakPhase::Shade, || true));
            let grey = Arc::new(AtomicUsize::new(0));
            let shaded = Arc::new(AtomicBool::new(false));
            let reader = {
                let (gate, grey, shaded) = (Arc::clone(&gate), Arc::clone(&grey), Arc::clone(&shaded));
                loom::thread::spawn(move || {
                    let r = gate.enter();
                    match r.phase {
                        WeakPhase::Shade => {
                            grey.fetch_add(1, Ordering::Relaxed);
                            shaded.store(true, Ordering::Relaxed);
                        }
                        WeakPhase::Closed => {}
                        WeakPhase::Idle => panic!("the model never reopens"),
                    }
                })
            };
            // The collector: drain what it sees, then try to close, until
            // it closes with nothing new.
            let mut drained = 0;
            loop {
                drained += grey.swap(0, Ordering::Relaxed);
                if gate.switch(WeakPhase::Closed, || grey.load(Ordering::Relaxed) == 0) {
                    break;
                }
            }
            reader.join().unwrap();
            if shaded.load(Ordering::Relaxed) {
                assert_eq!(drained, 1, "a shade made in SHADE landed after the close");
            }
            assert_eq!(grey.load(Ordering::Relaxed), 0, "a shade after the close");
        });
    }
}
