//! What the collector's unit tests share: a drop counter for heap
//! objects, and holding a cycle at a `Hold` point while a mutator answers
//! its handshakes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Hold;
use crate::*;

/// Counts the drops of the objects that carry it.
pub(super) struct Tally(pub(super) Arc<AtomicUsize>);
// SAFETY: holds no heap reference.
unsafe impl NoTraceSafe for Tally {}
impl Drop for Tally {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A held cycle's thread.
pub(super) type HeldCycle = thread::JoinHandle<Result<CycleStats, CollectError>>;

/// Start a cycle on another thread and hold it at `point`, `m` answering
/// its handshakes; the caller releases it by clearing `hold` (or with
/// [`release`]).
pub(super) fn hold_at(heap: &Heap, m: &mut Mutator, point: Hold) -> HeldCycle {
    let c = &heap.inner.collector;
    c.held.store(false, Ordering::SeqCst);
    c.hold.store(point as u8, Ordering::SeqCst);
    let h = heap.clone();
    let t = thread::spawn(move || h.collect());
    while !c.held.load(Ordering::SeqCst) {
        m.commit_point(); // answer the handshakes
        thread::sleep(Duration::from_millis(1));
    }
    m.commit_point();
    t
}

/// Release the held cycle and answer its handshakes until it is over.
pub(super) fn release(heap: &Heap, m: &mut Mutator, t: HeldCycle) -> CycleStats {
    heap.inner.collector.hold.store(0, Ordering::SeqCst);
    while !t.is_finished() {
        m.commit_point();
        thread::sleep(Duration::from_millis(1));
    }
    t.join().unwrap().expect("the held cycle")
}
