//! The parallel marker: `threads` marker threads with work stealing
//! (crossbeam-deque), terminating through `terminate.rs` (TR1, TR2).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{trace_stack, Grey, MarkReport, MarkWork, Marker};
use crate::sync::AtomicU64;

/// A marker offers the older half of its local stack to idle peers once
/// the stack holds this many objects (checked every 256 objects). Low on
/// purpose: a depth-first trace of a binary tree keeps only about its depth
/// on the stack (21 for depth 20), so a higher threshold never splits a
/// tree and two markers share only the roots. A chain keeps one object on
/// the stack and is never split.
const SHARE_FROM: usize = 2;

/// `threads` marker threads with work stealing (crossbeam-deque). Each
/// marks depth-first from a private stack and moves half of it to its
/// shared deque only when a peer is idle (`SHARE_FROM`), so a long
/// chain (which cannot be split) runs at the speed of one marker: no deque
/// operation per object. Termination: `terminate.rs` (loom-modelled).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParallelMarker {
    /// Marker threads (at least 1).
    pub(crate) threads: usize,
}

impl Marker for ParallelMarker {
    fn own_threads(&self) -> usize {
        self.threads.max(1)
    }

    fn drain(&self, work: &MarkWork<'_>) -> MarkReport {
        // Assists take packets from the grey set and hand leftovers back
        // there, where the markers do not look while they run: a round of
        // markers ends, and the next one starts from what came back.
        work.assists.drain(work, || self.round(work))
    }
}

impl ParallelMarker {
    /// One round: the grey set into an injector, `threads` markers until
    /// they all go idle (`terminate.rs`).
    fn round(&self, work: &MarkWork<'_>) -> MarkReport {
        use crossbeam_deque::{Injector, Steal, Stealer, Worker};
        let n = self.threads.max(1);
        let injector: Injector<Grey> = Injector::new();
        while let Some(p) = work.take_packet() {
            for g in p {
                injector.push(g);
            }
        }
        if injector.is_empty() {
            return MarkReport::default();
        }
        let deques: Vec<Worker<Grey>> = (0..n).map(|_| Worker::new_lifo()).collect();
        let stealers: Vec<Stealer<Grey>> = deques.iter().map(Worker::stealer).collect();
        let idle = AtomicU64::new(0);
        let abort = crate::sync::AtomicBool::new(false);
        let reports: Vec<MarkReport> = std::thread::scope(|s| {
            let handles: Vec<_> = deques
                .into_iter()
                .enumerate()
                .map(|(me, deque)| {
                    let (injector, stealers, idle, abort) = (&injector, &stealers, &idle, &abort);
                    s.spawn(move || {
                        // A marker thread runs Trace impls: GC work (W0).
                        let _work = crate::gcwork::GcWork::enter();
                        // A panic (a `Trace` implementation that panics)
                        // stops the peers too, then goes on to the collector.
                        struct Abort<'a>(&'a crate::sync::AtomicBool);
                        impl Drop for Abort<'_> {
                            fn drop(&mut self) {
                                if std::thread::panicking() {
                                    self.0.store(true, Ordering::Relaxed);
                                }
                            }
                        }
                        let _abort = Abort(abort);
                        let mut report = MarkReport::default();
                        let mut stack: Vec<Grey> = Vec::new();
                        let mut last = Instant::now();
                        let steal = |deque: &Worker<Grey>| -> Option<Grey> {
                            loop {
                                let mut retry = false;
                                match injector.steal_batch_and_pop(deque) {
                                    Steal::Success(g) => return Some(g),
                                    Steal::Retry => retry = true,
                                    Steal::Empty => {}
                                }
                                for (i, st) in stealers.iter().enumerate() {
                                    if i == me {
                                        continue;
                                    }
                                    match st.steal_batch_and_pop(deque) {
                                        Steal::Success(g) => return Some(g),
                                        Steal::Retry => retry = true,
                                        Steal::Empty => {}
                                    }
                                }
                                if !retry {
                                    return None;
                                }
                            }
                        };
                        let visible = || !injector.is_empty() || stealers.iter().any(|s| !s.is_empty());
                        // `next` and `process` share the stack and the deque.
                        // The local stack is empty whenever `next` runs:
                        // `process` marks depth-first from one item until its
                        // stack is empty, so the per-object cost is the
                        // serial marker's plus a counter test.
                        let state = std::cell::RefCell::new((&mut stack, &deque, &mut report));
                        crate::collector::terminate::run_worker(
                            n as u64,
                            idle,
                            abort,
                            || {
                                let st = state.borrow();
                                st.1.pop().or_else(|| steal(st.1))
                            },
                            visible,
                            |g| {
                                let mut st = state.borrow_mut();
                                // Work on locals (the stack, the counters),
                                // as the serial marker does: behind the
                                // RefCell they would be reloaded per object.
                                let mut stack = std::mem::take(&mut *st.0);
                                let deque = st.1;
                                stack.push(g);
                                let r = trace_stack(work, &mut stack, &mut |stack| {
                                    work.give_way(&mut last);
                                    if stack.len() >= SHARE_FROM && idle.load(Ordering::Relaxed) > 0 {
                                        // Share the oldest half (nearest the
                                        // roots: the largest subgraphs).
                                        for g in stack.drain(..stack.len() / 2) {
                                            deque.push(g);
                                        }
                                    }
                                    // And with a hungry assist (MA3).
                                    work.assists.share(work, stack);
                                });
                                *st.0 = stack;
                                *st.2 += r;
                            },
                        );
                        report
                    })
                })
                .collect();
            let mut reports = Vec::new();
            let mut panic = None;
            for h in handles {
                match h.join() {
                    Ok(r) => reports.push(r),
                    Err(p) => panic = Some(p),
                }
            }
            if let Some(p) = panic {
                std::panic::resume_unwind(p);
            }
            reports
        });
        let mut total = MarkReport::default();
        for r in reports {
            total += r;
        }
        total
    }
}
