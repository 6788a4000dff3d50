//! Objects that own a counted native resource, released by a finalizer
//! (which reads the object's list first) or by a cleanup (which sees only
//! the resource's id). Each thread keeps a window of rooted objects, drops
//! the oldest, and runs due finalizers every few objects (a commit point
//! of its choosing). A resource released while its object is still
//! reachable, or twice, is a failure; at the end of the run every resource
//! must be released exactly once (`Resources::check`, after the last
//! cycles).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{check_list, list};
use crate::ctx::{Ctx, Failure};

/// A resource's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Its object is rooted by a workload.
    Held,
    /// Its object's root was dropped: it may be released.
    Dropped,
    /// Released (once).
    Released,
}

/// Every resource the workload made, shared by all threads.
#[derive(Default)]
pub(crate) struct Resources {
    next: AtomicU64,
    states: Mutex<HashMap<u64, State>>,
    errors: Mutex<Vec<String>>,
    /// Checks passed since a thread last took the count: releases of a
    /// dropped object's resource, and finalizers' reads of their object.
    passed: AtomicU64,
}

impl Resources {
    fn set(&self, id: u64, s: State) {
        self.states.lock().unwrap().insert(id, s);
    }

    fn release(&self, id: u64, by: &str) {
        let mut st = self.states.lock().unwrap();
        match st.get(&id).copied() {
            Some(State::Dropped) => {
                st.insert(id, State::Released);
                self.passed.fetch_add(1, Ordering::Relaxed);
            }
            other => self.errors.lock().unwrap().push(format!("resource {id} released by a {by} while {other:?}")),
        }
    }

    /// The checks passed since the last call (into a thread's counters).
    fn take_passed(&self) -> u64 {
        self.passed.swap(0, Ordering::Relaxed)
    }

    /// A failure found by a release, if any.
    pub(crate) fn first_error(&self) -> Option<String> {
        self.errors.lock().unwrap().first().cloned()
    }

    /// At the end: every resource released exactly once. Returns how many.
    pub(crate) fn check(&self) -> Result<usize, String> {
        if let Some(e) = self.first_error() {
            return Err(e);
        }
        let st = self.states.lock().unwrap();
        match st.iter().find(|(_, s)| **s != State::Released) {
            Some((id, s)) => Err(format!("resource {id} is {s:?} at the end of the run (never released)")),
            None => Ok(st.len()),
        }
    }
}

fn values(id: u64) -> impl Fn(u64) -> u64 {
    move |i| id * 8 + i
}

pub(crate) fn run(ctx: &mut Ctx<'_>, res: &Arc<Resources>) -> Result<(), Failure> {
    let mut window = std::collections::VecDeque::new();
    let mut made = 0u64;
    while ctx.running() {
        let id = res.next.fetch_add(1, Ordering::Relaxed);
        let by_finalizer = ctx.rng.below(2) == 0;
        let r = Arc::clone(res);
        let root = ctx.tx(|tx| {
            let head = list(tx, 3, values(id))?.expect("a 3-node list");
            let r = Arc::clone(&r);
            if by_finalizer {
                tx.register_finalizer(head, move |m, root| {
                    let ok = m.transaction(|tx| {
                        let h = tx.get_root(&root)?;
                        check_list(tx, Some(h), 3, values(id), "a finalizer's object")
                    });
                    match ok {
                        Ok(()) => _ = r.passed.fetch_add(1, Ordering::Relaxed),
                        Err(e) => r.errors.lock().unwrap().push(format!("resource {id}: {e:?}")),
                    }
                    r.release(id, "finalizer");
                });
            } else {
                tx.add_cleanup(head, move || r.release(id, "cleanup"));
            }
            Ok(tx.root(head))
        })?;
        let Some(root) = root else { continue }; // rolled back: never existed
        res.set(id, State::Held);
        window.push_back((id, root));
        if window.len() > 50 {
            let (old, r) = window.pop_front().expect("non-empty");
            res.set(old, State::Dropped);
            drop(r);
        }
        made += 1;
        if made % 16 == 0 {
            ctx.m.run_finalizers();
            if let Some(e) = res.first_error() {
                return Err(ctx.fail(e));
            }
            ctx.counters.checks += res.take_passed();
        }
    }
    for (old, r) in window {
        res.set(old, State::Dropped);
        drop(r);
    }
    ctx.m.commit_point();
    Ok(())
}

/// The last check of a run: cycles and finalizer runs until nothing is
/// due, then every resource must be released once.
pub(crate) fn finish(heap: &tmgc::Heap, res: &Resources) -> Result<usize, String> {
    let mut m = heap.attach().map_err(|e| e.to_string())?;
    for _ in 0..4 {
        m.collect().map_err(|e| e.to_string())?;
        m.run_finalizers();
    }
    res.check()
}
