//! Injected faults at named points: the reliability suite's way to show
//! that a panic in any stage of a transaction or a cycle, a thread leaving
//! mid-handshake, or the OS refusing memory loses nothing, leaks nothing and
//! deadlocks nothing (docs/RELIABILITY.md, "Fault injection").
//!
//! Built with the feature `fault-injection` (and in this crate's own
//! tests); otherwise every `Faults::hit` is an empty inline function and
//! [`Heap::inject_fault`](crate::Heap::inject_fault) does not exist. A
//! fault is armed for one point, on one mutator (the points of its commit
//! and its handshake answer: [`Mutator::inject_fault`](crate::Mutator::inject_fault))
//! or on the heap (the collector's points and `mmap`), and fires once: the
//! first time the point is reached there, it panics with a message that
//! starts with [`INJECTED`] (or the mapping fails), and is disarmed.
//!
//! What each fault must leave behind (the tests in
//! `collector/fault_tests.rs` check these):
//! - FT1: a panic before a transaction's commit point ([`FaultPoint::Validate`])
//!   rolls it back: its locks are released, its new objects dropped, its
//!   roots discarded, as for a panic in its body.
//! - FT2: a panic at or after the commit point ([`FaultPoint::Barrier`],
//!   [`FaultPoint::WriteBack`], [`FaultPoint::RootCommit`]) rolls the
//!   commit *forward*: `Tx`'s destructor runs the rest of it (every step
//!   can run again from its start, CM1 of `tx/commit.rs`), so the
//!   transaction's effects are in the heap, all of them, and then the panic
//!   goes on to the caller of `transaction`. Rolling back there would be
//!   unsound: the barrier may have shaded the new objects a rewind would
//!   free, and a write-back cannot be taken back from readers.
//! - FT3: a thread that panics in the middle of its handshake answer
//!   ([`FaultPoint::Handshake`]) keeps its flag raised and parks: the
//!   collector answers for it while it is parked (or sees it detach), and
//!   else its next commit point answers again, in full (the answer turns
//!   the barrier on last). Found by the soak: with the flag cleared, a
//!   thread that attached during marking and panicked in its first answer
//!   ran on with its barrier off (MARK is not awaited), and the verifier
//!   found a reachable object freed.
//! - FT4: a panic in the collector ([`FaultPoint::CycleStart`] to
//!   [`FaultPoint::Sweep`]) breaks the collector for good, without freeing
//!   anything live: every waiter and every later collection gets
//!   `CollectError::Panicked` (a panic in the marker,
//!   `CollectError::TracePanicked`), and no thread stays stopped.
//! - FT5: a refused mapping ([`FaultPoint::MapChunk`],
//!   [`FaultPoint::MapLarge`]) is `TxError::Alloc(AllocError::OutOfMemory)`
//!   for the transaction that allocates, rolled back as any abort.

// Without the feature only the crate's tests name the points.
#![cfg_attr(not(feature = "fault-injection"), allow(dead_code, unreachable_pub))]

#[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
use std::sync::atomic::{AtomicU8, Ordering};

/// How an injected panic's message starts.
pub const INJECTED: &str = "tmgc: injected fault at";

/// A named point where [`Heap::inject_fault`](crate::Heap::inject_fault)
/// can make tmgc fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultPoint {
    /// A commit, with its write set locked, before validating its reads.
    Validate = 1,
    /// A commit's barrier while the collector marks: in the walk that
    /// marks its survivors, after the first object (if the transaction
    /// began after its thread observed MARK and publishes a new object),
    /// else after it shaded the roots the transaction created and before
    /// the old values.
    Barrier,
    /// A commit's write-back, after its first word (before it, for a
    /// transaction that writes one word).
    WriteBack,
    /// A commit, after write-back, before its new roots are committed.
    RootCommit,
    /// A mutator answering a handshake at its commit point, after it
    /// handed over its remembered set and before it shaded its roots.
    Handshake,
    /// The collector, at the start of a cycle, before any request.
    CycleStart,
    /// The collector's marker, as it begins to drain the grey set.
    Mark,
    /// The collector, after a termination round's answers are in.
    Termination,
    /// The collector closing the weak gate at the end of marking.
    WeakGate,
    /// The collector in the verifier's stop, with every thread held (only
    /// with `Config::verify`).
    VerifyStop,
    /// The collector after the sweep epoch began, before the SWEEP request.
    SweepBegun,
    /// The collector in its sweep, after the first batch of blocks.
    Sweep,
    /// The allocation layer's next new chunk of blocks: `mmap` refuses.
    MapChunk,
    /// The allocation layer's next large-object mapping: `mmap` refuses.
    MapLarge,
}

impl FaultPoint {
    /// Every point, in the order a transaction and then a cycle meet them.
    pub const ALL: [FaultPoint; 14] = [
        FaultPoint::Validate,
        FaultPoint::Barrier,
        FaultPoint::WriteBack,
        FaultPoint::RootCommit,
        FaultPoint::Handshake,
        FaultPoint::CycleStart,
        FaultPoint::Mark,
        FaultPoint::Termination,
        FaultPoint::WeakGate,
        FaultPoint::VerifyStop,
        FaultPoint::SweepBegun,
        FaultPoint::Sweep,
        FaultPoint::MapChunk,
        FaultPoint::MapLarge,
    ];

    /// Whether the point is a mutator's: a stage of its commit, or its
    /// handshake answer. Those are armed on one mutator
    /// ([`Mutator::inject_fault`](crate::Mutator::inject_fault)); the
    /// others on the heap ([`Heap::inject_fault`](crate::Heap::inject_fault)).
    pub fn in_mutator(self) -> bool {
        matches!(
            self,
            FaultPoint::Validate
                | FaultPoint::Barrier
                | FaultPoint::WriteBack
                | FaultPoint::RootCommit
                | FaultPoint::Handshake
        )
    }

    /// Whether a transaction this fault interrupts has committed when the
    /// panic reaches its caller (FT2: rolled forward), rather than rolled
    /// back (FT1, FT3).
    pub fn commits(self) -> bool {
        matches!(self, FaultPoint::Barrier | FaultPoint::WriteBack | FaultPoint::RootCommit)
    }

    /// The point armed as `code` (0: none).
    fn from_code(code: u8) -> Option<FaultPoint> {
        FaultPoint::ALL.into_iter().find(|&p| p as u8 == code)
    }
}

/// The armed point of one heap (0: none).
#[derive(Default)]
pub(crate) struct Faults {
    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    armed: AtomicU8,
}

impl Faults {
    /// Panic here if `point` is armed (and disarm it). One relaxed load
    /// when the feature is on; nothing when it is off.
    #[inline(always)]
    pub(crate) fn hit(&self, point: FaultPoint) {
        #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
        if self.armed.load(Ordering::Relaxed) == point as u8 {
            self.fire(point);
        }
        let _ = point;
    }

    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    #[cold]
    #[inline(never)]
    fn fire(&self, point: FaultPoint) {
        if self.armed.compare_exchange(point as u8, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            panic!("{INJECTED} {point:?}");
        }
    }

    /// Arm `point` (replacing any point armed before).
    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    pub(crate) fn arm(&self, point: FaultPoint) {
        self.armed.store(point as u8, Ordering::Relaxed);
    }

    /// Disarm; the point that was armed and had not fired, if any.
    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    pub(crate) fn disarm(&self) -> Option<FaultPoint> {
        FaultPoint::from_code(self.armed.swap(0, Ordering::Relaxed))
    }

    /// The armed point, if it has not fired yet.
    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    pub(crate) fn armed(&self) -> Option<FaultPoint> {
        FaultPoint::from_code(self.armed.load(Ordering::Relaxed))
    }
}
