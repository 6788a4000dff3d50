//! Weak cells in transactions: allocation, upgrade through the weak gate
//! (`collector/weak_gate.rs`), and retargeting.

use std::ptr::NonNull;

use crate::sync::AtomicPtr;

use tmgc_alloc::AllocError;

use crate::collector::mark::shade;
use crate::collector::weak_gate::{cell_slot, WeakPhase};
use crate::error::Conflict;
use crate::gcref::Gc;
use crate::header::Header;
use crate::heap::HeapInner;
use crate::types::WEAK_CELL;
use crate::weak::Weak;

use super::{Tx, Write};

impl<'tx> Tx<'tx> {
    /// Allocate a weak cell referring to `target` (or to nothing). The cell
    /// is an ordinary object (root it, or store it in a [`Ref`](crate::Ref) field); it
    /// does not keep `target` alive. See [`crate::weak`].
    pub fn new_weak<T: ?Sized>(&mut self, target: Option<Gc<'tx, T>>) -> Result<Gc<'tx, Weak<T>>, AllocError> {
        let h = self.alloc_raw(&WEAK_CELL, WEAK_CELL.object_size())?;
        self.weak_news = true;
        let target = target.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr());
        // SAFETY: a fresh weak cell: its payload is one reference word, not
        // yet initialised; after this write the object is a `Weak<T>`.
        unsafe {
            Header::payload(h).cast::<AtomicPtr<Header>>().write(AtomicPtr::new(target));
            Ok(Gc::from_header(h))
        }
    }

    /// The referent of weak cell `w`, if it is still alive. While a cycle
    /// marks, this keeps the referent alive for the cycle; once marking
    /// closes, a referent the marker did not reach is `None` (and the cell
    /// is cleared before its referent is freed). A transactional read of the
    /// cell: a commit that retargets it conflicts as with any field.
    pub fn upgrade<T: ?Sized>(&mut self, w: Gc<'tx, Weak<T>>) -> Result<Option<Gc<'tx, T>>, Conflict> {
        // Inside the gate the weak phase cannot change (collector/weak_gate.rs):
        // the cell is read, and its referent judged, in one phase.
        let heap: *const HeapInner = &*self.core.heap;
        // (A raw pointer, not an `Arc` clone: no reference-count RMWs on a
        // weak read, and `self` stays free for the transactional read.)
        // SAFETY: `self.core` holds an `Arc` of the heap for all of 'tx,
        // and this call does not drop it.
        let heap = unsafe { &*heap };
        let gate = heap.collector.weak_gate.enter();
        // SAFETY: `w` is a live weak cell (a `Gc<Weak<T>>` comes only from
        // `new_weak` or from reads of references typed `Weak<T>`).
        let slot = unsafe { cell_slot(w.ptr) };
        let Some(r) = NonNull::new(self.read_field(w.ptr, slot)?) else { return Ok(None) };
        let live = if Self::is_new(r) {
            // Our own new object, stored by this transaction: private, live.
            true
        } else {
            match gate.phase {
                WeakPhase::Idle => true,
                WeakPhase::Shade => {
                    // Straight into the collector's grey set, not this
                    // thread's buffer: the buffer may have been flushed for
                    // the last time (trap 5).
                    let mut grey = Vec::new();
                    // SAFETY: nothing is freed before marking closes, and a
                    // referent read in SHADE is published and unfreed.
                    if unsafe { shade(r, &mut grey) } {
                        heap.collector.grey.push_packet(grey);
                    }
                    true
                }
                // SAFETY: in CLOSED no sweep has begun (W2): `r` is unfreed.
                WeakPhase::Closed => unsafe { tmgc_alloc::is_marked(r.cast()) },
            }
        };
        drop(gate);
        // SAFETY: `r` is alive for 'tx: judged so above, and a cell only
        // ever holds null or a `T` (`new_weak` and `set_weak` take `Gc<T>`).
        Ok(live.then(|| unsafe { Gc::from_header(r) }))
    }

    /// Retarget weak cell `w` (a transactional write of the cell).
    pub fn set_weak<T: ?Sized>(&mut self, w: Gc<'tx, Weak<T>>, target: Option<Gc<'tx, T>>) -> Result<(), Conflict> {
        // SAFETY: `w` is a live weak cell (as in `upgrade`).
        let word: *const AtomicPtr<Header> = unsafe { cell_slot(w.ptr) };
        self.write(Write::Ptr { obj: w.ptr, word, value: target.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) })
    }
}
