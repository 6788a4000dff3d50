//! Global roots that can be dropped (issue 17): the last clone's drop
//! gives the root back, and the collector frees the object from then on;
//! clones share one slot; there is no capacity limit; a handle's identity
//! is its object's. Each test counts destructors, so an object freed too
//! early or kept for ever fails it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tmgc::{Abort, GlobalRoot, Heap, NoTrace, NoTraceSafe, Ref, RootMisuse, Trace, TxError, Value};
use tmgc_tests::{bounded, verified};

/// A destructor counter (holds no heap reference).
struct Drops(Arc<AtomicUsize>);
// SAFETY: an `Arc` of a counter: no `Ref` inside.
unsafe impl NoTraceSafe for Drops {}

/// An object whose destructor counts itself in its own counter.
#[derive(Trace)]
struct Counted {
    v: Value<u64>,
    next: Ref<Counted>,
    drops: NoTrace<Drops>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.0 .0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(drops: &Arc<AtomicUsize>, v: u64) -> Counted {
    Counted { v: Value::new(v), next: Ref::null(), drops: NoTrace(Drops(Arc::clone(drops))) }
}

/// Two full cycles: the first frees what was unreachable at its T.
fn collect_twice(heap: &Heap) {
    heap.collect().unwrap();
    heap.collect().unwrap();
}

#[test]
fn dropping_the_last_clone_frees_the_object() {
    let heap = Heap::new(verified()).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach().unwrap();
    let g = m.transaction::<_, ()>(|tx| {
        let x = tx.alloc(counted(&drops, 7))?;
        let y = tx.alloc(counted(&drops, 8))?;
        tx.store(x, |x| &x.next, Some(y))?;
        Ok(tx.global_root(x))
    });
    let g = g.unwrap();
    let clone = g.clone();
    assert_eq!(g, clone, "clones are one root");
    drop(g);
    m.collect().unwrap();
    m.collect().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a clone still holds the root");
    let v = m.transaction::<_, ()>(|tx| {
        let x = tx.get_global(&clone)?;
        let y = tx.load(x, |x| &x.next)?.unwrap();
        Ok((tx.get(x, |x| &x.v)?, tx.get(y, |y| &y.v)?))
    });
    assert_eq!(v.unwrap(), (7, 8));
    drop(clone);
    drop(m);
    collect_twice(&heap);
    assert_eq!(drops.load(Ordering::SeqCst), 2, "the last drop gave the root back: both objects freed");
    assert_eq!(heap.stats().global_roots, 0);
}

#[test]
fn a_root_dropped_before_its_commit_is_never_set() {
    let heap = Heap::new(verified()).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let x = tx.alloc(counted(&drops, 1))?;
        drop(tx.global_root(x));
        Ok(())
    })
    .unwrap();
    assert_eq!(heap.stats().global_roots, 0);
    drop(m);
    collect_twice(&heap);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// An interpreter's module globals: a million global roots, no limit hit;
/// dropping half frees exactly that half, and the freed slots are reused.
#[test]
fn a_million_global_roots() {
    let heap = Heap::new(tmgc::Config::default()).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut m = heap.attach().unwrap();
    let mut roots: Vec<GlobalRoot<Counted>> = Vec::new();
    for batch in 0..100u64 {
        let more = m
            .transaction::<_, ()>(|tx| {
                let mut v = Vec::with_capacity(10_000);
                for i in 0..10_000 {
                    let x = tx.alloc(counted(&drops, batch * 10_000 + i))?;
                    v.push(tx.global_root(x));
                }
                Ok(v)
            })
            .unwrap();
        roots.extend(more);
    }
    assert_eq!(heap.stats().global_roots, 1_000_000);
    let odd: Vec<_> = roots.iter().enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, r)| r.clone()).collect();
    drop(roots);
    m.collect().unwrap();
    m.collect().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 500_000, "exactly the dropped half was freed");
    let sum = m
        .transaction::<_, ()>(|tx| {
            let mut s = 0;
            for r in &odd {
                let x = tx.get_global(r)?;
                s += tx.get(x, |x| &x.v)?;
            }
            Ok(s)
        })
        .unwrap();
    assert_eq!(sum, (0..1_000_000u64).filter(|i| i % 2 == 1).sum::<u64>());
    assert_eq!(heap.stats().global_roots, 500_000);
}

/// A handle kept from a dropped root's generation cannot read the slot's
/// next owner (only possible through a stale reservation: a dropped
/// handle is gone; this reaches it through an aborted attempt's handle).
#[test]
fn a_reused_slot_is_not_read_through_an_old_handle() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut stale = None;
    let r = m.transaction::<(), &str>(|tx| {
        let x = tx.alloc(counted(&drops, 1))?;
        stale = Some(tx.global_root(x));
        Err(Abort::User("on purpose"))
    });
    assert!(r.is_err());
    let fresh = m
        .transaction::<_, ()>(|tx| {
            let y = tx.alloc(counted(&drops, 2))?;
            Ok(tx.global_root(y))
        })
        .unwrap();
    drop(stale.take()); // its release finds a later generation: no effect
    let r = m.transaction::<_, ()>(|tx| {
        let y = tx.get_global(&fresh)?;
        Ok(tx.get(y, |y| &y.v)?)
    });
    assert_eq!(r.unwrap(), 2, "the stale handle's drop did not free the new owner's slot");
    let mut stale = None;
    let _ = m.transaction::<(), &str>(|tx| {
        let x = tx.alloc(counted(&drops, 3))?;
        stale = Some(tx.global_root(x));
        Err(Abort::User("again"))
    });
    let r = m.transaction::<_, ()>(|tx| {
        let x = tx.get_global(stale.as_ref().unwrap())?;
        Ok(tx.get(x, |x| &x.v)?)
    });
    assert!(matches!(r, Err(TxError::Root(RootMisuse::Stale))), "{r:?}");
}

/// Roots and global roots have their object's identity.
#[test]
fn root_identity_is_the_objects() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (r1, r2, g1, g2, other, addr) = m
        .transaction::<_, ()>(|tx| {
            let x = tx.alloc(counted(&drops, 1))?;
            let y = tx.alloc(counted(&drops, 2))?;
            Ok((tx.root(x), tx.root(x), tx.global_root(x), tx.global_root(x), tx.global_root(y), x.as_ptr()))
        })
        .unwrap();
    assert_eq!(r1, r2, "two roots of one object are equal");
    assert_eq!(r1.as_ptr(), addr);
    assert_eq!(g1, g2, "two global roots of one object are equal");
    assert_eq!(g1.as_ptr(), addr);
    assert_ne!(g1, other);
    // clippy's `mutable_key_type` sees the atomics behind the handle; the
    // hash reads only the address recorded at creation (see `GlobalRoot`).
    #[allow(clippy::mutable_key_type)]
    let set: HashSet<_> = [g1.clone(), g2.clone(), other.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_eq!(g1.cmp(&other), g1.as_ptr().cmp(&other.as_ptr()));
    // Reading through a root gives back the same address.
    let back = m.transaction::<_, ()>(|tx| Ok((tx.get_root(&r1)?.as_ptr(), tx.get_global(&g2)?.as_ptr()))).unwrap();
    assert_eq!(back, (addr, addr));
}

/// Global roots are made and dropped on several threads while cycles run
/// (the verifier after each): each thread keeps a window of roots, checks
/// the values through them, and drops the oldest. Nothing held is freed;
/// at the end everything is.
#[test]
fn global_roots_churn_across_threads_and_cycles() {
    bounded("global roots churn", 120, || {
        let heap = Heap::new(verified()).unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let (heap, done) = (heap.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::SeqCst) {
                    heap.collect().unwrap();
                    n += 1;
                }
                n
            })
        };
        // The churn goes on until two cycles have completed during it (at
        // least 3,000 transactions a thread): how long that takes depends on
        // the machine, not on a guess (it once took 20 ms, and no cycle
        // finished in time; `bounded` stops a churn that never ends).
        let cycles0 = heap.stats().cycles;
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let heap = heap.clone();
                let drops = Arc::clone(&drops);
                std::thread::spawn(move || {
                    let mut m = heap.attach().unwrap();
                    let mut window: std::collections::VecDeque<(u64, GlobalRoot<Counted>)> = Default::default();
                    let mut made = 0;
                    for i in 0u64.. {
                        if i >= 3_000 && i % 100 == 0 && heap.stats().cycles >= cycles0 + 2 {
                            break;
                        }
                        let v = t * 1_000_000 + i;
                        let g = m
                            .transaction::<_, ()>(|tx| {
                                let x = tx.alloc(counted(&drops, v))?;
                                let pad = tx.alloc(counted(&drops, v))?;
                                tx.store(x, |x| &x.next, Some(pad))?;
                                Ok(tx.global_root(x))
                            })
                            .unwrap();
                        made += 2;
                        window.push_back((v, g));
                        if window.len() > 50 {
                            drop(window.pop_front());
                        }
                        if i % 100 == 0 {
                            for (v, g) in &window {
                                let got = m
                                    .transaction::<_, ()>(|tx| {
                                        let x = tx.get_global(g)?;
                                        let pad = tx.load(x, |x| &x.next)?.unwrap();
                                        Ok((tx.get(x, |x| &x.v)?, tx.get(pad, |p| &p.v)?))
                                    })
                                    .unwrap();
                                assert_eq!(got, (*v, *v), "a held global root's objects are intact");
                            }
                        }
                    }
                    made
                })
            })
            .collect();
        let made: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(heap.stats().cycles >= cycles0 + 2, "cycles ran during the churn");
        done.store(true, Ordering::SeqCst);
        collector.join().unwrap();
        collect_twice(&heap);
        assert_eq!(drops.load(Ordering::SeqCst), made, "every object is freed once its root is dropped");
    });
}
