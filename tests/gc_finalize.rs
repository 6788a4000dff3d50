//! Finalizers, cleanups and dynamic destructors (issue 18; the protocol in
//! gc/src/collector/finalize.rs, the semantics in docs/FINALIZATION.md).
//! Every heap here runs with the verifier on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tmgc::{Abort, DynData, DynType, DynTypeSpec, GlobalRoot, Heap, Ref, Trace, Value};
use tmgc_tests::{bounded, verified};

#[derive(Trace)]
struct Obj {
    id: Value<u64>,
    next: Ref<Obj>,
    other: Ref<Obj>,
}

fn obj(id: u64) -> Obj {
    Obj { id: Value::new(id), next: Ref::null(), other: Ref::null() }
}

#[derive(Trace)]
struct Holder {
    slot: Ref<Obj>,
}

type Log = Arc<Mutex<Vec<u64>>>;

/// A finalizer that logs its object's id (read in a transaction of its own).
fn logging(log: &Log) -> impl FnOnce(&mut tmgc::Mutator, tmgc::Root<Obj>) + Send + 'static {
    let log = Arc::clone(log);
    move |m, root| {
        let id = m
            .transaction::<_, ()>(|tx| {
                let o = tx.get_root(&root)?;
                Ok(tx.get(o, |o| &o.id)?)
            })
            .unwrap();
        log.lock().unwrap().push(id);
    }
}

fn run_all(m: &mut tmgc::Mutator) -> usize {
    m.collect().unwrap();
    m.run_finalizers()
}

#[test]
fn each_unreachable_finalizable_object_is_finalized_exactly_once() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let kept = m
        .transaction::<_, ()>(|tx| {
            let mut kept = Vec::new();
            for i in 0..1000u64 {
                let o = tx.alloc(obj(i))?;
                tx.register_finalizer(o, logging(&log));
                if i % 2 == 0 {
                    kept.push(tx.root(o));
                }
            }
            Ok(kept)
        })
        .unwrap();
    assert_eq!(heap.stats().finalizers_registered, 1000);
    assert_eq!(run_all(&mut m), 500);
    let mut seen = log.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).filter(|i| i % 2 == 1).collect::<Vec<_>>(), "exactly the unreachable half");
    assert_eq!(run_all(&mut m), 0, "nothing twice");
    drop(kept);
    assert_eq!(run_all(&mut m), 500);
    assert_eq!(run_all(&mut m), 0);
    let mut seen = log.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "each once");
    let st = heap.stats();
    assert_eq!((st.finalizers_run, st.finalizers_registered, st.finalizers_pending), (1000, 0, 0));
}

#[test]
fn a_registration_in_an_aborted_transaction_never_runs() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let kept = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(obj(1))?;
            Ok(tx.global_root(o))
        })
        .unwrap();
    let r = m.transaction::<(), &str>(|tx| {
        let o = tx.get_global(&kept)?;
        tx.register_finalizer(o, logging(&log));
        Err(Abort::User("no"))
    });
    assert!(r.is_err());
    drop(kept);
    assert_eq!(run_all(&mut m), 0);
    assert_eq!(heap.stats().finalizers_registered, 0);
}

/// A finalizer stores its object (and the chain it holds) into a live
/// holder: the object survives whole, with the verifier on, through
/// cycles; it is not finalized again, unless it registers again.
#[test]
fn resurrection_keeps_the_object_and_what_it_reaches() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let holder: GlobalRoot<Holder> = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { slot: Ref::null() })?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    let again = Arc::new(AtomicBool::new(true));
    fn resurrect(
        holder: GlobalRoot<Holder>,
        calls: Arc<AtomicUsize>,
        again: Arc<AtomicBool>,
    ) -> impl FnOnce(&mut tmgc::Mutator, tmgc::Root<Obj>) + Send + 'static {
        move |m, root| {
            calls.fetch_add(1, Ordering::SeqCst);
            let re = again.swap(false, Ordering::SeqCst);
            m.transaction::<_, ()>(|tx| {
                let o = tx.get_root(&root)?;
                let h = tx.get_global(&holder)?;
                tx.store(h, |h| &h.slot, Some(o))?;
                if re {
                    tx.register_finalizer(o, resurrect(holder.clone(), Arc::clone(&calls), Arc::clone(&again)));
                }
                Ok(())
            })
            .unwrap();
        }
    }
    m.transaction::<_, ()>(|tx| {
        let mut head = tx.alloc(obj(100))?;
        for i in 0..100 {
            let n = tx.alloc(obj(i))?;
            tx.store(n, |n| &n.next, Some(head))?;
            head = n;
        }
        tx.register_finalizer(head, resurrect(holder.clone(), Arc::clone(&calls), Arc::clone(&again)));
        Ok(())
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 1);
    let sum = |m: &mut tmgc::Mutator| {
        m.transaction::<_, ()>(|tx| {
            let h = tx.get_global(&holder)?;
            let mut cur = tx.load(h, |h| &h.slot)?;
            let mut s = 0;
            while let Some(c) = cur {
                s += tx.get(c, |c| &c.id)?;
                cur = tx.load(c, |c| &c.next)?;
            }
            Ok(s)
        })
        .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(run_all(&mut m), 0, "resurrected: reachable again, and its registration was used");
        assert_eq!(sum(&mut m), (0..100).sum::<u64>() + 100);
    }
    // It registered again: unreachable once more, it is finalized again
    // (and resurrects itself a second time, this time without registering).
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_global(&holder)?;
        Ok(tx.store(h, |h| &h.slot, None)?)
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 1);
    assert_eq!(sum(&mut m), (0..100).sum::<u64>() + 100);
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_global(&holder)?;
        Ok(tx.store(h, |h| &h.slot, None)?)
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 0, "not registered any more");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A -> B -> C, all finalizable: A's finalizer runs first; B becomes due
/// only in the cycle after it ran, then C. A tree: the root before its
/// children, children before grandchildren.
#[test]
fn finalizers_run_in_reference_order() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    m.transaction::<_, ()>(|tx| {
        let c = tx.alloc(obj(3))?;
        let b = tx.alloc(obj(2))?;
        let a = tx.alloc(obj(1))?;
        tx.store(a, |a| &a.next, Some(b))?;
        tx.store(b, |b| &b.next, Some(c))?;
        for o in [c, b, a] {
            tx.register_finalizer(o, logging(&log));
        }
        Ok(())
    })
    .unwrap();
    let mut rounds = Vec::new();
    for _ in 0..4 {
        rounds.push(run_all(&mut m));
    }
    assert_eq!(rounds, [1, 1, 1, 0], "one link per cycle");
    assert_eq!(*log.lock().unwrap(), [1, 2, 3]);

    // A binary tree of depth 4 (ids: heap order, root 1).
    let log: Log = Default::default();
    m.transaction::<_, ()>(|tx| {
        fn build<'t>(tx: &mut tmgc::Tx<'t>, id: u64, depth: u32, log: &Log) -> Result<tmgc::Gc<'t, Obj>, Abort<()>> {
            let o = tx.alloc(obj(id))?;
            if depth > 1 {
                let l = build(tx, 2 * id, depth - 1, log)?;
                let r = build(tx, 2 * id + 1, depth - 1, log)?;
                tx.store(o, |o| &o.next, Some(l))?;
                tx.store(o, |o| &o.other, Some(r))?;
            }
            tx.register_finalizer(o, logging(log));
            Ok(o)
        }
        build(tx, 1, 4, &log)?;
        Ok(())
    })
    .unwrap();
    let mut per_cycle = Vec::new();
    loop {
        let n = run_all(&mut m);
        if n == 0 {
            break;
        }
        let mut l = log.lock().unwrap();
        let mut ids: Vec<u64> = l.drain(..).collect();
        ids.sort_unstable();
        per_cycle.push(ids);
    }
    assert_eq!(per_cycle, vec![vec![1], vec![2, 3], vec![4, 5, 6, 7], (8..16).collect::<Vec<_>>()]);
}

/// Finalizable objects in a cycle are never finalized, and reported.
#[test]
fn cycles_of_finalizable_objects_are_reported() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    m.transaction::<_, ()>(|tx| {
        let a = tx.alloc(obj(1))?;
        let b = tx.alloc(obj(2))?;
        tx.store(a, |a| &a.next, Some(b))?;
        tx.store(b, |b| &b.next, Some(a))?;
        tx.register_finalizer(a, logging(&log));
        tx.register_finalizer(b, logging(&log));
        // A lone finalizable object beside them still runs.
        let c = tx.alloc(obj(3))?;
        tx.register_finalizer(c, logging(&log));
        Ok(())
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 1);
    assert_eq!(*log.lock().unwrap(), [3]);
    let st = heap.stats();
    assert_eq!(st.finalizer_cycles, 1, "one of the two is found reachable from itself");
    assert_eq!(st.finalizers_registered, 2, "kept, not silently dropped");
    assert_eq!(run_all(&mut m), 0);
}

/// Weak references to a finalizable object are cleared before its
/// finalizer runs; the finalizer can still read the object.
#[test]
fn weak_references_are_cleared_before_the_finalizer() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let weak = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(obj(42))?;
            tx.register_finalizer(o, logging(&log));
            let w = tx.new_weak(Some(o))?;
            Ok(tx.global_root(w))
        })
        .unwrap();
    m.collect().unwrap();
    let upgraded = m
        .transaction::<_, ()>(|tx| {
            let w = tx.get_global(&weak)?;
            Ok(tx.upgrade(w)?.is_some())
        })
        .unwrap();
    assert!(!upgraded, "cleared in the cycle that found the object due");
    assert_eq!(m.run_finalizers(), 1);
    assert_eq!(*log.lock().unwrap(), [42], "the finalizer read the object");
}

#[test]
fn a_panicking_finalizer_is_counted_and_the_next_ones_run() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    m.transaction::<_, ()>(|tx| {
        for i in 0..10u64 {
            let o = tx.alloc(obj(i))?;
            if i % 3 == 0 {
                tx.register_finalizer(o, |_, _| panic!("finalizer panics on purpose"));
            } else {
                tx.register_finalizer(o, logging(&log));
            }
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 10);
    assert_eq!(log.lock().unwrap().len(), 6);
    assert_eq!(heap.stats().finalizer_panics, 4);
    assert_eq!(run_all(&mut m), 0, "a panicked finalizer is not run again");
}

/// A cleanup gets only what it captured, runs once the object is
/// unreachable, and waits while a finalizer keeps the object alive.
#[test]
fn cleanups_run_after_the_object_dies_for_good() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let closed: Log = Default::default();
    let holder: GlobalRoot<Holder> = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { slot: Ref::null() })?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    m.transaction::<_, ()>(|tx| {
        let plain = tx.alloc(obj(1))?;
        let c = Arc::clone(&closed);
        tx.add_cleanup(plain, move || c.lock().unwrap().push(7)); // the "fd" 7
        let revived = tx.alloc(obj(2))?;
        let c = Arc::clone(&closed);
        tx.add_cleanup(revived, move || c.lock().unwrap().push(8));
        let h = holder.clone();
        tx.register_finalizer(revived, move |m, root| {
            m.transaction::<_, ()>(|tx| {
                let o = tx.get_root(&root)?;
                let h = tx.get_global(&h)?;
                Ok(tx.store(h, |h| &h.slot, Some(o))?)
            })
            .unwrap();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 2, "the plain object's cleanup and the finalizer");
    assert_eq!(*closed.lock().unwrap(), [7]);
    assert_eq!(run_all(&mut m), 0, "the resurrected object's cleanup waits");
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_global(&holder)?;
        Ok(tx.store(h, |h| &h.slot, None)?)
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 1);
    assert_eq!(*closed.lock().unwrap(), [7, 8]);
}

static DYN_CLOSED: AtomicUsize = AtomicUsize::new(0);
static DYN_SUM: AtomicUsize = AtomicUsize::new(0);

fn dyn_close(d: &DynData<'_>) {
    DYN_CLOSED.fetch_add(1, Ordering::SeqCst);
    DYN_SUM.fetch_add((d.get(0) + d.get(1)) as usize, Ordering::SeqCst);
}

#[test]
fn dynamic_destructors_see_data_words_once() {
    let ty = DynType::register(DynTypeSpec::new("NativeBuf").ref_slots(1).data_words(2).on_drop(dyn_close)).unwrap();
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let kept = m
        .transaction::<_, ()>(|tx| {
            let mut kept = Vec::new();
            for i in 0..100u64 {
                let o = tx.alloc_dyn(ty)?;
                tx.set_data(o, 0, i)?;
                tx.set_data(o, 1, 1000)?;
                if i < 10 {
                    kept.push(tx.root(o));
                }
            }
            Ok(kept)
        })
        .unwrap();
    m.collect().unwrap();
    assert_eq!(DYN_CLOSED.load(Ordering::SeqCst), 90);
    assert_eq!(DYN_SUM.load(Ordering::SeqCst), (10..100).sum::<usize>() + 90 * 1000);
    drop(kept);
    m.collect().unwrap();
    m.collect().unwrap();
    assert_eq!(DYN_CLOSED.load(Ordering::SeqCst), 100, "each once");
}

/// Objects owning a counted resource, made and dropped by three threads
/// while cycles run; a fourth thread runs cycles and the finalizers, in
/// turn. Every resource
/// is released exactly once, and none while its object is reachable.
#[test]
fn finalizers_under_concurrent_churn() {
    bounded("finalizer churn", 180, || {
        const PER: usize = 3_000;
        let heap = Heap::new(verified().min_trigger_bytes(1 << 20)).unwrap();
        let released: Arc<Vec<AtomicUsize>> = Arc::new((0..3 * PER).map(|_| AtomicUsize::new(0)).collect());
        let live: Arc<Vec<AtomicBool>> = Arc::new((0..3 * PER).map(|_| AtomicBool::new(false)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let (heap, stop) = (heap.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    m.collect().unwrap();
                    n += m.run_finalizers();
                }
                n
            })
        };
        let workers: Vec<_> = (0..3usize)
            .map(|t| {
                let (heap, released, live) = (heap.clone(), Arc::clone(&released), Arc::clone(&live));
                std::thread::spawn(move || {
                    let mut m = heap.attach().unwrap();
                    let mut window = std::collections::VecDeque::new();
                    for i in 0..PER {
                        let id = t * PER + i;
                        live[id].store(true, Ordering::SeqCst);
                        let (rel, lv) = (Arc::clone(&released), Arc::clone(&live));
                        let root = m
                            .transaction::<_, ()>(|tx| {
                                let o = tx.alloc(obj(id as u64))?;
                                let pad = tx.alloc(obj(0))?;
                                tx.store(o, |o| &o.next, Some(pad))?;
                                let (rel, lv) = (Arc::clone(&rel), Arc::clone(&lv));
                                if id % 2 == 0 {
                                    tx.add_cleanup(o, move || {
                                        assert!(!lv[id].load(Ordering::SeqCst), "released while reachable");
                                        rel[id].fetch_add(1, Ordering::SeqCst);
                                    });
                                } else {
                                    tx.register_finalizer(o, move |m, root| {
                                        assert!(!lv[id].load(Ordering::SeqCst), "finalized while reachable");
                                        let v = m
                                            .transaction::<_, ()>(|tx| {
                                                let o = tx.get_root(&root)?;
                                                let pad = tx.load(o, |o| &o.next)?.expect("its subgraph");
                                                Ok((tx.get(o, |o| &o.id)?, tx.get(pad, |p| &p.id)?))
                                            })
                                            .unwrap();
                                        assert_eq!(v, (id as u64, 0));
                                        rel[id].fetch_add(1, Ordering::SeqCst);
                                    });
                                }
                                Ok(tx.root(o))
                            })
                            .unwrap();
                        window.push_back((id, root));
                        if window.len() > 20 {
                            let (old, r) = window.pop_front().unwrap();
                            // Unreachable from here on (the root goes at
                            // the next commit point).
                            live[old].store(false, Ordering::SeqCst);
                            drop(r);
                        }
                    }
                    for (old, r) in window {
                        live[old].store(false, Ordering::SeqCst);
                        drop(r);
                    }
                    m.commit_point();
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let mut m = heap.attach().unwrap();
        for _ in 0..3 {
            m.collect().unwrap();
            m.run_finalizers();
        }
        stop.store(true, Ordering::SeqCst);
        runner.join().unwrap();
        for (id, r) in released.iter().enumerate() {
            assert_eq!(r.load(Ordering::SeqCst), 1, "resource {id} released once");
        }
        let st = heap.stats();
        assert_eq!(st.finalizer_panics, 0);
        assert!(st.cycles > 3, "cycles ran during the churn");
    });
}

/// Generational mode: a young cycle finalizes the young unreachable
/// objects; old ones wait for a full cycle (their marks are sticky).
#[test]
fn young_and_full_cycles_finalize_what_they_reclaim() {
    let heap = Heap::new(verified().generational(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let old = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(obj(1))?;
            tx.register_finalizer(o, logging(&log));
            Ok(tx.root(o))
        })
        .unwrap();
    m.collect().unwrap(); // full: `old` is marked, old from now on
    m.transaction::<_, ()>(|tx| {
        let y = tx.alloc(obj(2))?;
        tx.register_finalizer(y, logging(&log));
        Ok(())
    })
    .unwrap();
    drop(old);
    m.commit_point();
    let c = heap.collect_young().unwrap();
    assert!(!c.full);
    assert_eq!(m.run_finalizers(), 1);
    assert_eq!(*log.lock().unwrap(), [2], "the young one; the old one waits for a full cycle");
    heap.collect().unwrap();
    assert_eq!(m.run_finalizers(), 1);
    assert_eq!(*log.lock().unwrap(), [2, 1]);
}

/// At exit: `finalize_all` runs every registration, reachable or not;
/// dropping the heap runs none (their closures are dropped unrun).
#[test]
fn finalize_all_at_exit_and_heap_drop() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let kept = m
        .transaction::<_, ()>(|tx| {
            let a = tx.alloc(obj(1))?;
            tx.register_finalizer(a, logging(&log));
            let b = tx.alloc(obj(2))?;
            let l = Arc::clone(&log);
            tx.add_cleanup(b, move || l.lock().unwrap().push(20));
            Ok((tx.root(a), tx.root(b)))
        })
        .unwrap();
    assert_eq!(m.finalize_all(), 2);
    let mut got = log.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, [1, 20], "reachable objects' finalizers and cleanups ran");
    let ids = m
        .transaction::<_, ()>(|tx| {
            let (a, b) = (tx.get_root(&kept.0)?, tx.get_root(&kept.1)?);
            Ok((tx.get(a, |a| &a.id)?, tx.get(b, |b| &b.id)?))
        })
        .unwrap();
    assert_eq!(ids, (1, 2), "and the objects are intact");
    drop(kept);
    assert_eq!(run_all(&mut m), 0, "used up");

    // Dropping the heap: registered closures are dropped, not run.
    let ran = Arc::new(AtomicBool::new(false));
    let token = Arc::new(());
    {
        let heap = Heap::new(verified()).unwrap();
        let mut m = heap.attach().unwrap();
        let (r, t) = (Arc::clone(&ran), Arc::clone(&token));
        m.transaction::<_, ()>(|tx| {
            let a = tx.alloc(obj(1))?;
            let (r, t) = (Arc::clone(&r), Arc::clone(&t));
            tx.add_cleanup(a, move || {
                let _t = t;
                r.store(true, Ordering::SeqCst)
            });
            Ok(tx.root(a))
        })
        .map(drop)
        .unwrap();
    }
    assert!(!ran.load(Ordering::SeqCst), "no finalizer runs at heap drop");
    assert_eq!(Arc::strong_count(&token), 1, "its closure was dropped with the heap");
}

/// A closure that holds a global root of its own heap (a runtime's
/// registry, or the object's neighbour) does not keep a dropped heap alive
/// (GS1 of `GlobalShare`): the closures are dropped with the heap, and
/// the global root inside them with it. It did keep it, collector thread
/// and mappings included, until the root held the heap weakly.
#[test]
fn a_closure_holding_a_global_root_does_not_keep_the_heap() {
    let token = Arc::new(());
    {
        let heap = Heap::new(verified()).unwrap();
        let mut m = heap.attach().unwrap();
        let t = Arc::clone(&token);
        m.transaction::<_, ()>(|tx| {
            let registry = tx.alloc(obj(1))?;
            let registry = tx.global_root(registry);
            let a = tx.alloc(obj(2))?;
            let (t, r) = (Arc::clone(&t), registry.clone());
            tx.add_cleanup(a, move || drop((t, r)));
            let b = tx.alloc(obj(3))?;
            tx.register_finalizer(b, move |_, _| drop(registry));
            Ok((tx.root(a), tx.root(b)))
        })
        .map(drop)
        .unwrap();
    }
    // The heap owns the closures: their drop is the heap's.
    assert_eq!(Arc::strong_count(&token), 1, "the closures were dropped with the heap");
}

/// The interpreter's variant: a finalizer on a dynamic object reads its
/// tagged words through `Root<Dyn>`.
#[test]
fn finalizers_on_dynamic_objects() {
    use tmgc::Tagged;
    let pair = DynType::register(DynTypeSpec::new("FinPair").tagged_words(2)).unwrap();
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let log: Log = Default::default();
    let l = Arc::clone(&log);
    m.transaction::<_, ()>(|tx| {
        let cdr = tx.alloc_dyn(pair)?;
        tx.set_tagged(cdr, 0, Tagged::int(5).unwrap())?;
        let p = tx.alloc_dyn(pair)?;
        tx.set_tagged(p, 0, Tagged::int(4).unwrap())?;
        tx.set_tagged(p, 1, Tagged::Ref(cdr))?;
        let l = Arc::clone(&l);
        tx.register_finalizer(p, move |m, root| {
            let sum = m
                .transaction::<_, ()>(|tx| {
                    let p = tx.get_root(&root)?;
                    let (Tagged::Int(a), Tagged::Ref(c)) = (tx.tagged(p, 0)?, tx.tagged(p, 1)?) else {
                        panic!("the pair is intact")
                    };
                    let Tagged::Int(b) = tx.tagged(c, 0)? else { panic!("its cdr is intact") };
                    Ok(a.get() + b.get())
                })
                .unwrap();
            l.lock().unwrap().push(sum as u64);
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(run_all(&mut m), 1);
    assert_eq!(*log.lock().unwrap(), [9]);
}
