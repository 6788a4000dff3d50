//! Handshakes: how the collector meets each mutator at its commit points,
//! and acts for mutators that are parked or gone.
//!
//! ## The request word
//! The collector publishes requests in one word: a sequence number, the
//! cycle (epoch) and the phase asked for ([`word`]). Each mutator has a
//! [`MutatorRecord`] with its own `pending` flag, raised by the collector for every
//! request; a mutator's commit point reads only that flag (one load on the
//! fast path, no read-modify-write).
//!
//! ## States and ownership of a mutator's state
//! A mutator is `RUNNING`, `PARKED` or `DETACHED`; who may touch its
//! `MutatorState` when (H1, H2), and the guards that prove it, are in
//! `crate::thread`.
//!
//! ## Responses are cumulative
//! [`respond`] brings a thread up to date with the current word, whatever
//! requests it missed: a thread attaching in the middle of a cycle, or one
//! parked through several requests, ends in the same state as one that saw
//! every request. `acked` records the last word answered.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::CycleState;
use crate::collector::mark::shade;
use crate::heap::HeapInner;
use crate::sync::{lock, Spin};
use crate::thread::{MutatorRecord, MutatorState, DETACHED, PARKED};

/// The request word: `seq << 32 | epoch (24 bits) << 8 | phase`.
pub(crate) mod word {
    /// No cycle runs; nothing to do.
    pub(crate) const IDLE: u64 = 0;
    /// Handshake 1 of a cycle: turn the barrier on, shade your roots.
    pub(crate) const REQ: u64 = 1;
    /// Marking runs (after T): from the next transaction on, mark your
    /// survivors at commit (P4).
    pub(crate) const MARK: u64 = 2;
    /// A termination round: hand over your grey objects.
    pub(crate) const FLUSH: u64 = 3;
    /// The verifier stops the world: park until it is done.
    pub(crate) const VERIFY: u64 = 4;
    /// Marking is closed and sweeping runs: retire your blocks, allocate
    /// white, turn the barrier off.
    pub(crate) const SWEEP: u64 = 5;

    pub(crate) fn make(seq: u64, epoch: u64, phase: u64) -> u64 {
        (seq << 32) | ((epoch & 0xFF_FFFF) << 8) | phase
    }
    pub(crate) fn phase(w: u64) -> u64 {
        w & 0xFF
    }
    pub(crate) fn epoch(w: u64) -> u64 {
        (w >> 8) & 0xFF_FFFF
    }
}

/// Bring `core` up to date with request `w` (see the module docs). Called
/// by the thread at its commit point, or by the collector for a parked one.
///
/// `by_owner`: the thread itself answers (the only place an injected
/// `Handshake` fault fires: FT3 of `crate::fault`). Handshake 1 sets the
/// barrier last, so an answer a panic interrupted is answered again in
/// full by whoever answers next (the thread, or the collector once it
/// parks).
pub(crate) fn respond(heap: &HeapInner, core: &mut MutatorState, w: u64, by_owner: bool) {
    // OW6 of `owned`: no object stays owned across an answer, so none is
    // owned when the sweep begins.
    crate::owned::release_all(core);
    let (phase, epoch) = (word::phase(w), word::epoch(w));
    match phase {
        word::REQ | word::MARK | word::FLUSH | word::VERIFY => {
            if !core.gc.barrier || core.gc.barrier_epoch != epoch {
                // Handshake 1 (P1): barrier on, roots shaded.
                core.alloc.flush_marks();
                // RS3: the entries logged in mode R go to the collector,
                // which takes them at T.
                heap.collector.remset.hand_over(&mut core.gc.remset);
                if by_owner {
                    core.faults.hit(crate::fault::FaultPoint::Handshake);
                }
                let grey = &mut core.gc.grey;
                for r in core.roots.scan() {
                    // SAFETY: a committed root keeps its object alive, and
                    // sweeping (which could free it) is not running: this
                    // cycle has not reached SWEEP.
                    unsafe { shade(r.cast(), grey) };
                }
                // Last: nothing above is skipped by a later answer if this
                // one did not get here.
                core.gc.barrier = true;
                core.gc.barrier_epoch = epoch;
                core.gc.survivors = false;
            }
            // P4: transactions begun after observing MARK mark their
            // survivors at commit (they allocate white, as every
            // transaction does).
            if phase != word::REQ {
                core.gc.survivors = true;
            }
        }
        word::SWEEP if core.gc.swept_epoch != epoch => {
            // P8: retire the blocks allocated in during marking, so from
            // now on new objects go only into blocks already swept in this
            // epoch; then barrier off.
            core.alloc.retire_all().expect("no checkpoint is open at a commit point");
            core.gc.survivors = false;
            core.gc.barrier = false;
            core.gc.swept_epoch = epoch;
            // Late shades (see docs/COLLECTOR.md, termination) need no
            // tracing: marking is closed and complete.
            core.gc.grey.clear();
        }
        _ => {}
    }
    heap.collector.grey.push_packet(std::mem::take(&mut core.gc.grey));
}

/// The collector's side of one handshake: try to complete request `w` for
/// `rec`. Returns whether `rec` is done with it (acknowledged, answered on
/// its behalf now, or detached). A parked thread is answered for only if
/// `for_parked`.
pub(crate) fn try_complete(heap: &HeapInner, rec: &MutatorRecord, w: u64, for_parked: bool) -> bool {
    if rec.acked.load(Ordering::Acquire) == w || rec.state.load(Ordering::Acquire) == DETACHED {
        return true;
    }
    if !for_parked || rec.state.load(Ordering::Acquire) != PARKED {
        return false; // it answers at its next commit point
    }
    let mut parked = match rec.lock_if_parked() {
        Ok(p) => p,
        Err(DETACHED) => return true,
        Err(_) => return false,
    };
    if rec.acked.load(Ordering::Acquire) == w {
        return true;
    }
    // (H2) through the guard: the thread blocks on `handoff` before it
    // touches its state again.
    let core = parked.state();
    respond(heap, core, w, false);
    // `pending` may also carry a change of solo mode: apply it for the
    // thread before clearing the flag (S3 of `solo`).
    crate::solo::apply(rec, core);
    // And a request for its owned objects (OW5 of `owned`).
    crate::owned::apply(rec, core);
    rec.acked.store(w, Ordering::Release);
    rec.pending.store(false, Ordering::Release);
    true
}

/// Raise `pending` on every record in `recs` (under each one's `handoff`,
/// so no thread's slow path can clear a flag raised for a newer word).
pub(crate) fn raise(recs: &[Arc<MutatorRecord>]) {
    for r in recs {
        let _g = lock(&r.handoff);
        r.pending.store(true, Ordering::Release);
    }
    crate::sync::heavy_fence();
}

/// [`raise`] for one record without waiting for its `handoff`: whether the
/// flag was raised (`false`: another holds the lock; try again later).
/// For a thread that runs a transaction and must not block (OW5 of
/// `owned`: an inevitable asker).
pub(crate) fn try_raise(rec: &MutatorRecord) -> bool {
    let Ok(g) = rec.handoff.try_lock() else { return false };
    rec.pending.store(true, Ordering::Release);
    drop(g);
    crate::sync::heavy_fence();
    true
}

/// How long a handshake waits for parked threads to answer by themselves
/// before the collector answers for them (`await_acks`).
const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_micros(200);

impl super::Collector {
    // ---- requests ----

    /// Publish a new request word and raise every thread's flag.
    pub(super) fn request(&self, cs: &mut CycleState, phase: u64) -> (u64, Vec<Arc<MutatorRecord>>) {
        cs.seq += 1;
        let w = word::make(cs.seq, cs.epoch, phase);
        self.word.store(w, Ordering::SeqCst);
        // Wake threads parked in a VERIFY stop (they wait for the word).
        {
            let _s = lock(&self.signal.state);
            self.signal.word.notify_all();
        }
        let recs = self.snapshot();
        raise(&recs);
        (w, recs)
    }

    /// Wait until every thread of `recs` answered `w` (itself, or through
    /// the collector while parked).
    pub(super) fn await_acks(&self, heap: &HeapInner, w: u64, mut recs: Vec<Arc<MutatorRecord>>) {
        let spin = Spin::new();
        let start = std::time::Instant::now();
        // The thread running this cycle may have a mutator of its own
        // (`Mutator::collect`, or a transaction waiting for memory): it is
        // parked, and cannot answer while its thread runs the cycle.
        let me = crate::sync::thread_id();
        loop {
            // Answer for parked threads only after a grace period: a busy
            // thread, parked for a moment between two transactions, answers
            // by itself at its next commit point. Were the collector to
            // answer for it, the thread would block on its own handoff lock
            // meanwhile, and if the collector were preempted holding it, the
            // thread would wait a scheduler time slice (milliseconds).
            let for_parked = cfg!(tmgc_loom) || start.elapsed() >= ANSWER_GRACE;
            recs.retain(|r| !try_complete(heap, r, w, for_parked || r.owner == me));
            if recs.is_empty() {
                return;
            }
            spin.wait();
        }
    }

    /// Park the calling thread until the word is no longer `w`.
    pub(crate) fn wait_word_change(&self, w: u64) {
        let mut s = lock(&self.signal.state);
        while self.word.load(Ordering::Acquire) == w {
            s = self.signal.word.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}
