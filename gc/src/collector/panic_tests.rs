//! A collector that panics mid-cycle (a tmgc bug) fails every collection
//! cleanly from then on and releases the threads, wherever it stopped: no
//! waiter blocks for ever, no mutator stays stopped, nothing is lost.
//!
//! The panics are injected (`crate::fault`) at every point of the cycle
//! outside the marker (FT4); `fault_tests.rs` has the marker's and the
//! mutators' points.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use crate::fault::FaultPoint as Fault;
use crate::*;

#[derive(Trace)]
struct Node {
    val: Value<u64>,
    next: Ref<Node>,
}

/// Long enough for any step of these small tests on a loaded machine; only
/// a thread blocked for good takes it.
const STUCK: Duration = Duration::from_secs(60);

fn recovers_from(fault: Fault) {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    // A worker keeps a rooted list of 0..n and churns garbage, so it is
    // inside transactions and at commit points whenever the fault strikes.
    let worker = {
        let (heap, stop, commits) = (heap.clone(), Arc::clone(&stop), Arc::clone(&commits));
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let head = m
                .transaction::<_, ()>(|tx| {
                    let h = tx.alloc(Node { val: Value::new(0), next: Ref::null() })?;
                    Ok(tx.root(h))
                })
                .unwrap();
            let mut n = 1u64;
            while !stop.load(Ordering::Relaxed) {
                m.transaction::<_, ()>(|tx| {
                    let h = tx.get_root(&head)?;
                    let next = tx.load(h, |h| &h.next)?;
                    let node = tx.alloc(Node { val: Value::new(n), next: Ref::null() })?;
                    tx.store(node, |x| &x.next, next)?;
                    tx.store(h, |h| &h.next, Some(node))?;
                    for i in 0..8 {
                        tx.alloc(Node { val: Value::new(i), next: Ref::null() })?;
                    }
                    Ok(())
                })
                .unwrap();
                n += 1;
                commits.fetch_add(1, Ordering::Relaxed);
            }
            // Every value pushed is still there, newest first.
            let vals = m
                .transaction::<_, ()>(|tx| {
                    let mut vals = Vec::new();
                    let h = tx.get_root(&head)?;
                    let mut cur = tx.load(h, |h| &h.next)?;
                    while let Some(c) = cur {
                        vals.push(tx.get(c, |c| &c.val)?);
                        cur = tx.load(c, |c| &c.next)?;
                    }
                    Ok(vals)
                })
                .unwrap();
            assert_eq!(vals, (1..n).rev().collect::<Vec<_>>(), "the worker's list lost nodes");
        })
    };
    while commits.load(Ordering::Relaxed) < 100 {
        thread::yield_now();
    }
    heap.collect().expect("a cycle before the fault");
    heap.inner.inject_fault(fault);

    let (tx, rx) = mpsc::channel();
    let h = heap.clone();
    thread::spawn(move || tx.send(h.collect()).unwrap());
    let r = rx.recv_timeout(STUCK).expect("collect returned after the collector panicked");
    // A panic in the marker is reported as a marking panic (the cycle is
    // abandoned, as for a panicking `Trace`); anywhere else as the
    // collector's own.
    let injected = |r: &Result<CycleStats, CollectError>| match r {
        Err(CollectError::TracePanicked(m)) => fault == Fault::Mark && m.contains(crate::fault::INJECTED),
        Err(CollectError::Panicked(m)) => fault != Fault::Mark && m.contains(crate::fault::INJECTED),
        _ => false,
    };
    assert!(injected(&r), "{fault:?}: {r:?}");

    // Broken for good: later collections fail at once, the same way.
    let again = heap.collect();
    assert!(matches!(again, Err(CollectError::Panicked(_) | CollectError::TracePanicked(_))), "{fault:?}: {again:?}");

    // The worker was released and keeps committing.
    let before = commits.load(Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let c = Arc::clone(&commits);
    thread::spawn(move || {
        while c.load(Ordering::Relaxed) < before + 1000 {
            thread::yield_now();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(STUCK)
        .unwrap_or_else(|_| panic!("{fault:?}: the worker stopped committing after the collector panicked"));
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    assert!(heap.stats().verify_failures.is_empty());
}

#[test]
fn a_collector_panic_at_a_cycle_start_fails_waiters_cleanly() {
    recovers_from(Fault::CycleStart);
}

#[test]
fn a_collector_panic_in_the_verifier_stop_releases_the_threads() {
    recovers_from(Fault::VerifyStop);
}

#[test]
fn a_collector_panic_after_the_sweep_began_loses_nothing() {
    recovers_from(Fault::SweepBegun);
}

#[test]
fn a_marker_panic_abandons_the_cycle_and_loses_nothing() {
    recovers_from(Fault::Mark);
}

#[test]
fn a_collector_panic_after_a_termination_round_releases_the_threads() {
    recovers_from(Fault::Termination);
}

#[test]
fn a_collector_panic_closing_the_weak_gate_loses_nothing() {
    recovers_from(Fault::WeakGate);
}

#[test]
fn a_collector_panic_in_the_sweep_loses_nothing() {
    recovers_from(Fault::Sweep);
}

/// A `Trace` implementation that panics in the verifier's re-trace (not in
/// marking) is reported as a `Trace` panic, not as a collector bug, and
/// the stopped threads are released.
#[test]
fn a_trace_panic_in_the_verifier_is_a_trace_panic() {
    use std::sync::atomic::AtomicBool;
    static FAIL: AtomicBool = AtomicBool::new(false);
    struct Flaky;
    // SAFETY: holds no reference; panicking is the point of the test.
    unsafe impl Trace for Flaky {
        fn trace(&self, _: &mut Tracer<'_>) {
            assert!(!FAIL.load(Ordering::SeqCst), "flaky trace");
        }
    }
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let _keep = m
        .transaction::<_, ()>(|tx| {
            let f = tx.alloc(Flaky)?;
            Ok(tx.root(f))
        })
        .unwrap();
    let c = &heap.inner.collector;
    c.hold.store(super::Hold::BeforeClose as u8, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    let h = heap.clone();
    thread::spawn(move || tx.send(h.collect()).unwrap());
    while !c.held.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    FAIL.store(true, Ordering::SeqCst);
    c.hold.store(0, Ordering::SeqCst);
    let r = rx.recv_timeout(STUCK).expect("collect returned");
    FAIL.store(false, Ordering::SeqCst);
    assert!(matches!(r, Err(CollectError::TracePanicked(ref m)) if m.contains("flaky")), "{r:?}");
    // Released: this thread's next transaction runs.
    m.transaction::<_, ()>(|_| Ok(())).unwrap();
}
