//! Finalizers and cleanups: what runs after an object becomes unreachable
//! (docs/FINALIZATION.md has the semantics and the comparison with other
//! runtimes).
//!
//! A transaction registers a **finalizer** (`Tx::register_finalizer`: a
//! closure that gets the object back, in transactions of its own, and may
//! resurrect it) or a **cleanup** (`Tx::add_cleanup`: a closure that gets
//! only what it captured). The registration lands in the [`Finals`]
//! registry when the transaction commits; an aborted one never existed.
//!
//! ## At the end of a cycle's marking (`Finals::after_marking`)
//! With marking closed and complete, the weak cells' dead referents
//! cleared and the weak gate IDLE (so no transaction can reach an unmarked
//! object any more: I2, and no weak cell points at one), before the sweep:
//! 1. the finalizable objects left unmarked are the candidates;
//! 2. everything reachable from each candidate's *children* is marked
//!    (Boehm's order: a candidate reachable from another stays for a later
//!    cycle, so if A refers to B, A is finalized first and B stays alive
//!    until A's finalizer has run); a candidate found reachable from its
//!    own children is in a cycle of finalizable objects: it is never ready,
//!    and the cycle counts it (`GcStats::finalizer_cycles`);
//! 3. the candidates still unmarked are ready: each is marked with what it
//!    reaches (it survives the sweep for its finalizer), leaves the
//!    registry and joins the queue;
//! 4. cleanups whose object is still unmarked are queued (after the
//!    finalizers' marking: a finalizer may resurrect what a cleanup is
//!    watching).
//!
//! No barrier or handshake is needed for this marking: nothing a mutator
//! can reach is unmarked now.
//!
//! ## Invariants
//! - (F1) Exactly once: an entry moves from the registry to the queue at
//!   most once, and a queued action is taken out at most once (its state
//!   goes QUEUED -> RUNNING -> DONE under the queue's lock). A resurrected
//!   object is finalized again only if something registers it again.
//! - (F2) The queue is a root set: the object of every QUEUED or RUNNING
//!   finalizer is shaded at each cycle's T (and reported to the verifier),
//!   so an object waiting for its finalizer, and everything it reaches,
//!   stays allocated. The runner marks an entry DONE only after a
//!   committed transaction made the object a root of its own thread.
//! - (F3) DONE entries leave the queue at the next cycle's start, before
//!   REQ: never while a scan at T may be reading the queue.
//! - (F4) A registered entry's object is unfreed while it is registered:
//!   it was reachable by the registering transaction, and an entry leaves
//!   the registry (for the queue) before the sweep that could free it.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::collector::mark::{scan_object, shade, Grey};
use crate::gcref::{Dyn, Root};
use crate::header::Header;
use crate::mutator::Mutator;
use crate::sync::{lock, Mutex};

/// A finalizer, type-erased: it gets the runner's mutator and a root of
/// its object.
pub(crate) type FinalizeFn = Box<dyn FnOnce(&mut Mutator, Root<Dyn>) + Send>;
/// A cleanup: only what it captured.
pub(crate) type CleanupFn = Box<dyn FnOnce() + Send>;

/// What to run for an object.
pub(crate) enum Action {
    Finalize(FinalizeFn),
    Cleanup(CleanupFn),
}

/// A registration: an object and its action.
pub(crate) struct Entry {
    pub(crate) obj: NonNull<Header>,
    pub(crate) action: Action,
}

// SAFETY: an object address (shared heap memory, read only under the
// collector protocol: F2, F4) and a `Send` closure.
unsafe impl Send for Entry {}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Queued,
    Running,
    Done,
}

/// A queued action (F1-F3).
struct Pending {
    id: u64,
    /// The object a finalizer gets (a root set entry while not DONE, F2);
    /// `None` for a cleanup.
    obj: Option<NonNull<Header>>,
    action: Option<Action>,
    state: State,
}

/// What one cycle's `after_marking` did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FinalReport {
    /// Finalizers queued.
    pub(crate) finalizers: u64,
    /// Cleanups queued.
    pub(crate) cleanups: u64,
    /// Candidates found in cycles of finalizable objects (never ready).
    pub(crate) in_cycles: u64,
}

/// The queue: entries in the order they were queued (so by increasing
/// id); those before `next` were taken (RUNNING or DONE), those from
/// `next` on are QUEUED. Taking and finishing are O(1) and O(log n).
#[derive(Default)]
struct Queue {
    entries: Vec<Pending>,
    next: usize,
}

impl Queue {
    fn push(&mut self, p: Pending) {
        self.entries.push(p);
    }
}

/// The registry and the queue of one heap.
#[derive(Default)]
pub(crate) struct Finals {
    registry: Mutex<Vec<Entry>>,
    queue: Mutex<Queue>,
    next_id: AtomicU64,
    /// Statistics.
    pub(crate) ran: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) in_cycles: AtomicU64,
}

// SAFETY: the queue's object addresses are read only under the protocol
// (F2); everything else is `Send` (closures) or atomic.
unsafe impl Send for Finals {}
// SAFETY: as above; all shared access goes through the mutexes and atomics.
unsafe impl Sync for Finals {}

impl Finals {
    /// Add the registrations of a committed transaction.
    pub(crate) fn register(&self, entries: &mut Vec<Entry>) {
        lock(&self.registry).append(entries);
    }

    /// Registrations not yet queued.
    pub(crate) fn registered(&self) -> usize {
        lock(&self.registry).len()
    }

    /// Queued actions not yet done.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.queue).entries.iter().filter(|p| p.state != State::Done).count()
    }

    /// F3: forget the DONE entries (at a cycle's start, before REQ).
    pub(crate) fn remove_done(&self) {
        let mut q = lock(&self.queue);
        q.entries.retain(|p| p.state != State::Done);
        // What is left before the first QUEUED entry is RUNNING.
        q.next = q.entries.iter().take_while(|p| p.state == State::Running).count();
    }

    /// F2: the objects of the QUEUED and RUNNING finalizers.
    pub(crate) fn scan(&self, mut f: impl FnMut(NonNull<Header>)) {
        for p in lock(&self.queue).entries.iter() {
            if let (Some(o), true) = (p.obj, p.state != State::Done) {
                f(o);
            }
        }
    }

    /// The marking of the module docs, steps 1-4.
    ///
    /// # Safety
    /// Marking is closed and complete for this cycle, every weak cell's
    /// unmarked referent is cleared and the weak gate is IDLE, and this
    /// cycle's sweep has not begun: every registered object is unfreed
    /// (F4) and its mark bit says whether anything can reach it.
    pub(crate) unsafe fn after_marking(&self) -> FinalReport {
        let mut report = FinalReport::default();
        let mut reg = lock(&self.registry);
        // SAFETY: unfreed (the caller's guarantee).
        let marked = |o: NonNull<Header>| unsafe { tmgc_alloc::is_marked(o.cast()) };
        let candidates: Vec<usize> = reg
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.action, Action::Finalize(_)) && !marked(e.obj))
            .map(|(i, _)| i)
            .collect();
        let mut stack: Vec<Grey> = Vec::new();
        for &i in &candidates {
            let obj = reg[i].obj;
            if marked(obj) {
                continue; // reached from an earlier candidate: it waits
            }
            // Step 2: mark what its children reach (not the object itself).
            // SAFETY: an unfreed object; its references are unfreed too
            // (nothing is swept before this cycle's sweep), as `shade`
            // requires; no mutator can reach what is marked here.
            unsafe {
                scan_object(Grey(obj), &mut stack);
                drain(&mut stack);
            }
            if marked(obj) {
                report.in_cycles += 1;
            }
        }
        // Step 3: the ready ones, marked with what they reach, queued.
        let mut ready = Vec::new();
        for &i in &candidates {
            let obj = reg[i].obj;
            if !marked(obj) {
                // SAFETY: as above.
                unsafe {
                    shade(obj, &mut stack);
                    drain(&mut stack);
                }
                ready.push(i);
            }
        }
        // Step 4: cleanups of objects still unmarked.
        let cleanups: Vec<usize> = reg
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.action, Action::Cleanup(_)) && !marked(e.obj))
            .map(|(i, _)| i)
            .collect();
        let mut take: Vec<usize> = ready.iter().chain(&cleanups).copied().collect();
        take.sort_unstable();
        let mut q = lock(&self.queue);
        for &i in take.iter().rev() {
            let e = reg.swap_remove(i);
            let obj = match e.action {
                Action::Finalize(_) => {
                    report.finalizers += 1;
                    Some(e.obj)
                }
                Action::Cleanup(_) => {
                    report.cleanups += 1;
                    None
                }
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            q.push(Pending { id, obj, action: Some(e.action), state: State::Queued });
        }
        self.in_cycles.store(report.in_cycles, Ordering::Relaxed);
        report
    }

    /// Queue every registration, reachable or not (`Mutator::finalize_all`,
    /// at a program's exit). Safe at any time: a queued object is a root
    /// (F2), so running a finalizer of a reachable object frees nothing.
    pub(crate) fn queue_all(&self) -> usize {
        let mut reg = lock(&self.registry);
        let mut q = lock(&self.queue);
        let n = reg.len();
        for e in reg.drain(..) {
            let obj = matches!(e.action, Action::Finalize(_)).then_some(e.obj);
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            q.push(Pending { id, obj, action: Some(e.action), state: State::Queued });
        }
        n
    }

    /// Take the next queued action (F1: QUEUED -> RUNNING).
    pub(crate) fn take(&self) -> Option<(u64, Option<NonNull<Header>>, Action)> {
        let mut q = lock(&self.queue);
        let i = q.next;
        let p = q.entries.get_mut(i)?;
        debug_assert_eq!(p.state, State::Queued);
        p.state = State::Running;
        let taken = (p.id, p.obj, p.action.take().expect("a queued entry holds its action"));
        q.next = i + 1;
        Some(taken)
    }

    /// The runner is done with `id` (RUNNING -> DONE; F2: after its object
    /// became a committed root of the runner's thread, for a finalizer).
    pub(crate) fn done(&self, id: u64) {
        let mut q = lock(&self.queue);
        if let Ok(i) = q.entries.binary_search_by_key(&id, |p| p.id) {
            q.entries[i].state = State::Done;
        }
    }
}

/// Trace everything reachable from `stack`, depth first.
///
/// # Safety
/// Every entry is a marked, unfreed object whose references are unfreed
/// (no sweep has begun), as `scan_object` requires.
unsafe fn drain(stack: &mut Vec<Grey>) {
    while let Some(g) = stack.pop() {
        // SAFETY: the caller's guarantee, kept for every object `shade`
        // pushes (its references are unfreed objects too).
        unsafe { scan_object(g, stack) };
    }
}
