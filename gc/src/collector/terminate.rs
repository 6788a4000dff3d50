//! Termination detection for parallel marking.
//!
//! `n` workers share work through queues only their owners push to (plus
//! an injector filled before they start). A worker that finds no work
//! anywhere *goes idle*: it increments `idle` and then alternates between
//! looking for visible work (if it sees some, it decrements `idle` and goes
//! back to work) and checking whether `idle == n` (then everyone stops).
//!
//! ## Invariants
//! - (TR1) A worker pushes work only while it is not idle, and goes idle only
//!   with its own local stack and queue empty.
//! - (TR2) A worker leaves the idle state (decrement) before it takes work.
//!
//! So at an instant where `idle == n`, no worker holds work, no queue can
//! gain work (nobody is working), and every queue is empty (each was empty
//! when its owner went idle, and only owners push). Nobody sees visible work
//! again, so `idle` stays `n` and every worker eventually sees it and
//! returns: no work is lost and nobody waits forever. The loom model below
//! checks exactly this function with a small generated workload.

use std::sync::atomic::Ordering;

use crate::sync::{AtomicBool, AtomicU64, Spin};

/// Run one worker until every worker is idle with no work left.
///
/// - `next()` takes work: from the worker's own stack or queue, else by
///   stealing. It returns `None` only when it found nothing anywhere.
/// - `visible()` says whether some queue (any worker's, or the injector)
///   seems to hold work; it may be stale.
/// - `process(item)` handles one item and may make new work, which it must
///   put where `next()` (of this worker) or `visible()` (of others) finds it.
///
/// `abort` set (a peer panicked) makes idle workers return at once.
pub(crate) fn run_worker<T>(
    n: u64,
    idle: &AtomicU64,
    abort: &AtomicBool,
    mut next: impl FnMut() -> Option<T>,
    visible: impl Fn() -> bool,
    mut process: impl FnMut(T),
) {
    loop {
        while let Some(item) = next() {
            process(item);
        }
        // (TR1): our stack and queue are empty.
        idle.fetch_add(1, Ordering::SeqCst);
        let spin = Spin::new();
        loop {
            if idle.load(Ordering::SeqCst) == n || abort.load(Ordering::Relaxed) {
                return;
            }
            if visible() {
                // (TR2): not idle any more before taking anything.
                idle.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            spin.snooze();
        }
    }
}

#[cfg(all(test, tmgc_loom))]
mod loom_model {
    //! `RUSTFLAGS="--cfg tmgc_loom" cargo test -p tmgc --lib --release --target-dir target/loom terminate`
    use super::run_worker;
    use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};

    /// Two workers; item k (< 4) makes items 2k+1 and 2k+2 (a tree of 7).
    /// Every item must be processed exactly once and both workers return.
    #[test]
    fn termination_loses_no_work_and_ends() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let queues: Arc<[Mutex<Vec<u64>>; 2]> = Arc::new([Mutex::new(vec![0]), Mutex::new(Vec::new())]);
            let idle = Arc::new(AtomicU64::new(0));
            let abort = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicUsize::new(0));
            let worker = |me: usize| {
                let (queues, idle, done, abort) =
                    (Arc::clone(&queues), Arc::clone(&idle), Arc::clone(&done), Arc::clone(&abort));
                move || {
                    let next = || {
                        let mine = queues[me].lock().unwrap().pop();
                        mine.or_else(|| queues[1 - me].lock().unwrap().pop())
                    };
                    let visible = || queues.iter().any(|q| !q.lock().unwrap().is_empty());
                    run_worker(2, &idle, &abort, next, visible, |k| {
                        done.fetch_add(1, Ordering::SeqCst);
                        if k < 3 {
                            let mut q = queues[me].lock().unwrap();
                            q.push(2 * k + 1);
                            q.push(2 * k + 2);
                        }
                    });
                }
            };
            let t = loom::thread::spawn(worker(1));
            worker(0)();
            t.join().unwrap();
            assert_eq!(done.load(Ordering::SeqCst), 7, "every item processed exactly once");
            assert!(queues.iter().all(|q| q.lock().unwrap().is_empty()));
        });
    }
}
