//! The heap verifier: after marking closes, with every mutator parked and
//! held by the collector, re-trace from all roots and check that every
//! reachable object is an allocated cell and is marked. A failure is a
//! collector bug that would free a live object; it is reported, never
//! ignored (`Heap::collect` returns it, `GcStats::verify_failures` keeps it).

use std::collections::HashSet;
use std::ptr::NonNull;

use std::sync::atomic::Ordering;

use super::handshake::word;
use super::{CollectError, CycleState};
use crate::collector::mark::Grey;
use crate::fault::FaultPoint;
use crate::header::Header;
use crate::heap::HeapInner;
use crate::sync::Spin;
use crate::thread::{DETACHED, PARKED};
use crate::trace::{Tracer, Visitor};

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) objects: usize,
}

/// Re-trace from `roots` (every thread's root table and the global roots).
///
/// # Safety
/// Every mutator must be stopped (parked and held) for the whole call,
/// marking must be closed, and sweeping must not have begun: then the graph
/// does not change under the walk and every reachable object is allocated.
pub(crate) unsafe fn verify(heap: &HeapInner, roots: Vec<(String, NonNull<Header>)>) -> Result<Verified, String> {
    struct Edges<'a>(&'a mut Vec<NonNull<Header>>);
    impl Visitor for Edges<'_> {
        fn visit(&mut self, obj: NonNull<Header>) {
            self.0.push(obj);
        }
    }
    let mut seen: HashSet<Grey> = HashSet::new();
    let mut stack: Vec<(NonNull<Header>, NonNull<Header>)> = Vec::new();
    for (origin, r) in &roots {
        if !heap.space.is_cell_start(r.as_ptr().cast()) {
            return Err(format!("verify: {origin} holds {:p}, which is not an allocated object", r.as_ptr()));
        }
        stack.push((*r, *r));
    }
    let mut children = Vec::new();
    let mut first: Option<String> = None;
    while let Some((obj, parent)) = stack.pop() {
        if !seen.insert(Grey(obj)) {
            continue;
        }
        if !heap.space.is_cell_start(obj.as_ptr().cast()) {
            return Err(format!(
                "verify: object {:p} reachable through {:p} is not an allocated object (freed or wild)",
                obj.as_ptr(),
                parent.as_ptr()
            ));
        }
        // SAFETY: an allocated cell start of this heap (checked above).
        let h = unsafe { obj.as_ref() };
        let info = h.type_info();
        // SAFETY: as above; marking is closed, so the mark bit is final.
        let marked = unsafe { tmgc_alloc::is_marked(obj.cast()) };
        if !marked {
            first.get_or_insert_with(|| {
                format!(
                    "verify: object {:p} of type `{}`, reachable through {:p}, is not marked: the sweep would free it",
                    obj.as_ptr(),
                    info.name(),
                    parent.as_ptr()
                )
            });
            // Mark it (and, by going on, everything reachable) so the sweep
            // that follows does not free it: the failure is reported, and
            // the program that hit it does not crash on a use after free.
            // SAFETY: an allocated object of this heap.
            unsafe { tmgc_alloc::mark(obj.cast()) };
        }
        children.clear();
        // SAFETY: a live, initialised payload of this type; the world is stopped.
        unsafe { info.trace(Header::payload(obj), &mut Tracer::new(&mut Edges(&mut children))) };
        stack.extend(children.iter().map(|&c| (c, obj)));
    }
    match first {
        Some(e) => Err(e),
        None => Ok(Verified { objects: seen.len() }),
    }
}

impl super::Collector {
    /// Stop every mutator at a commit point (VERIFY request), hold each
    /// one's lock, and verify the heap. The outer `Err` is a panic of a
    /// `Trace` implementation during the re-trace (the threads are released
    /// first).
    #[allow(clippy::type_complexity)]
    pub(super) fn verify_stopped(
        &self,
        heap: &HeapInner,
        cs: &mut CycleState,
    ) -> Result<Result<(), CollectError>, Box<dyn std::any::Any + Send>> {
        self.verifications.fetch_add(1, Ordering::AcqRel);
        let (_w, recs) = self.request(cs, word::VERIFY);
        let mut held: Vec<Option<crate::thread::ParkedState<'_>>> = Vec::with_capacity(recs.len());
        held.resize_with(recs.len(), || None);
        let spin = Spin::new();
        loop {
            let mut all = true;
            for (i, r) in recs.iter().enumerate() {
                if let Some(p) = &mut held[i] {
                    // A running inevitable transaction may be waiting for
                    // what this stopped thread owns, and cannot take its
                    // lock from us: release for it (OW5 of `owned`).
                    crate::owned::apply(r, p.state());
                    continue;
                }
                if r.state.load(Ordering::Acquire) == DETACHED {
                    continue;
                }
                all = false;
                if r.state.load(Ordering::Acquire) == PARKED {
                    held[i] = r.lock_if_parked().ok();
                }
            }
            if all {
                break;
            }
            spin.wait();
        }
        let mut roots: Vec<(String, NonNull<Header>)> = Vec::new();
        for (r, parked) in recs.iter().zip(held.iter_mut()) {
            let Some(parked) = parked else { continue }; // detached
                                                         // (H2) through the guard.
            let core = parked.state();
            core.alloc.flush_marks(); // publish staged start bits for the check
            roots.extend(core.roots.scan().map(|p| (format!("a root of mutator {}", r.id), p.cast())));
        }
        heap.globals.scan(|p| roots.push(("a global root".to_string(), p.cast())));
        self.finals.scan(|p| roots.push(("an object waiting for its finalizer".to_string(), p)));
        self.faults.hit(FaultPoint::VerifyStop);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: every mutator is parked and held (or detached),
            // marking is closed, and the sweep has not begun.
            unsafe { verify(heap, roots) }
        }));
        // Moving on (to SWEEP, or the abandon's SWEEP) releases the stopped
        // threads (they wait for the word to change, then for their lock).
        drop(held);
        self.verifications.fetch_add(1, Ordering::AcqRel);
        r.map(|r| r.map(|_| ()).map_err(CollectError::Verify))
    }
}
