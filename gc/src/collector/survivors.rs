//! Marking a transaction's survivors at its commit (P4 of
//! docs/COLLECTOR.md).
//!
//! A transaction allocates white, always. While its thread is between its
//! MARK answer and its SWEEP answer (after T), its commit marks, before it
//! publishes anything, exactly the new objects that leave the transaction
//! reachable: those reachable from what the commit hands to the rest of the
//! program, through its own new objects. The rest of its new objects die
//! with it and this cycle's sweep frees them. (Allocating black, as tmgc
//! did before, kept every object of every transaction that ran during
//! marking until the next cycle: a binary-trees transaction's whole tree.)
//!
//! ## Invariants
//! - (SV1) **Escapes.** A new object leaves its transaction only through
//!   the commit: the value of a logged reference write (into any holder,
//!   weak cells included), a root it created, a global root it sets, an
//!   object it registers a finalizer or cleanup for, a weak cell it
//!   allocated (registered at commit), or another new object reachable
//!   from one of these. `Gc` handles die with the transaction, and an
//!   unpublished object is reachable from nowhere else. Every one of these
//!   is a start of the walk ([`mark_survivors`]).
//! - (SV2) **Black, complete, counted nowhere.** The walk marks each start
//!   that is one of its own new objects (`NEW` set) and everything new it
//!   reaches, following strong references and, conservatively, a new weak
//!   cell's referent (a cell may be registered after this cycle's
//!   registry walk, and it and its referent must then survive the sweep:
//!   module docs of `weak_gate`). It pushes nothing grey: when it returns
//!   every object it marked has been traced here, as far as tracing
//!   matters (a reference to an object that is not new is covered by the
//!   snapshot, I2, exactly as for an object allocated black). So its marks
//!   are not new work for termination (P6, trap 9): a churning program
//!   does not keep marking from closing.
//! - (SV3) **Before publication.** The walk runs in the commit barrier,
//!   after validation and before stamping (`NEW` still set, nothing
//!   written back, no cell or finalizer registered): whoever can see one of
//!   these objects afterwards, the collector included, sees it marked.
//!   Every block it lies in is still owned by the thread (A4 of the
//!   allocator: the attempt's checkpoint is open), and large objects are
//!   pinned, so no sweep reads its mark before the walk is over.
//! - (SV4) **Re-runnable** (CM1 of `tx/commit.rs`). A roll-forward runs the
//!   walk again after a panic cut it short (a user's `Trace` that panics,
//!   or the injected `FaultPoint::Barrier`, which fires after the walk's
//!   first object): with `again`, an object found marked is traced anyway,
//!   once.

use std::collections::HashSet;
use std::ptr::NonNull;

use super::mark::Grey;
use super::weak_gate::cell_slot;
use crate::fault::FaultPoint;
use crate::flags::ObjFlags;
use crate::header::Header;
use crate::trace::{Tracer, Visitor};

/// The walk's state: its stack, and on a second run the objects done.
struct Walk<'a> {
    stack: &'a mut Vec<Grey>,
    again: Option<HashSet<Grey>>,
    marked: u64,
}

impl Walk<'_> {
    /// Mark `obj` and queue it if it is one of the committing
    /// transaction's own new objects not yet reached.
    fn reach(&mut self, obj: NonNull<Header>) {
        // SAFETY: a reference the committing transaction holds: its own new
        // object, or a live object it reached and validated (SV1). Only the
        // owning transaction's objects carry `NEW` before publication.
        let new = unsafe { obj.as_ref() }.flags().contains(ObjFlags::NEW);
        if !new {
            return;
        }
        // SAFETY: a live object of this heap, marked while its cycle marks
        // (before its sweep reads the block: SV3).
        let first = unsafe { tmgc_alloc::mark(obj.cast()) };
        let queue = match &mut self.again {
            None => first,
            Some(done) => done.insert(Grey(obj)),
        };
        if queue {
            self.marked += u64::from(first);
            self.stack.push(Grey(obj));
        }
    }
}

impl Visitor for Walk<'_> {
    fn visit(&mut self, obj: NonNull<Header>) {
        self.reach(obj);
    }
}

/// Mark the committing transaction's survivors (SV1-SV4): every own new
/// object reachable from `starts` and from the weak cells among `news`
/// (the caller may pass no `news` when it allocated no weak cell).
/// Returns how many objects it marked. `stack` is scratch.
///
/// # Safety
/// Called from the commit barrier of a transaction that began after its
/// thread observed MARK of the cycle being marked (or closed, not yet
/// swept for this thread), after validation, before its new objects are
/// published. `news` are its own new objects, initialised; each start is a
/// reference the transaction holds (SV1): its own new object or a live
/// object.
pub(crate) unsafe fn mark_survivors(
    starts: impl Iterator<Item = NonNull<Header>>,
    news: &[NonNull<Header>],
    stack: &mut Vec<Grey>,
    again: bool,
    faults: &crate::fault::Faults,
) -> u64 {
    stack.clear(); // what a walk a panic cut short left (SV4)
    let mut walk = Walk { stack, again: again.then(HashSet::new), marked: 0 };
    for s in starts {
        walk.reach(s);
    }
    for &h in news {
        // SAFETY: our own new objects (the caller's guarantee).
        if unsafe { h.as_ref() }.flags().contains(ObjFlags::WEAK) {
            walk.reach(h);
        }
    }
    while let Some(Grey(obj)) = walk.stack.pop() {
        // SAFETY: queued by `reach`: our own initialised new object.
        let h = unsafe { obj.as_ref() };
        let info = h.type_info();
        if h.flags().contains(ObjFlags::WEAK) {
            // SAFETY: a weak cell of ours, unpublished: its one word is ours.
            let r = unsafe { cell_slot(obj) }.load(std::sync::atomic::Ordering::Relaxed);
            if let Some(r) = NonNull::new(r) {
                walk.reach(r);
            }
        } else if info.has_refs() {
            // SAFETY: an initialised payload of this type, private to this
            // thread until the commit publishes it.
            unsafe { info.trace(Header::payload(obj), &mut Tracer::new(&mut walk)) };
        }
        // An injected panic part-way through the walk (SV4): the first
        // object is traced, what it reaches is marked and queued.
        faults.hit(FaultPoint::Barrier);
    }
    walk.marked
}
