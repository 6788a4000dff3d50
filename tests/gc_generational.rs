//! Generational mode (`Config::generational`): young cycles keep the
//! marks of earlier cycles and trace from the roots plus the old holders
//! the commit barrier remembered (gc/src/collector/remset.rs, RS1-RS6;
//! docs/COLLECTOR.md, "Generations"). Each test names the trap of the
//! generations review it guards against; the verifier runs in every cycle,
//! and a missed edge also shows as a wrong sum read from freed (poisoned)
//! memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use tmgc::{Abort, Config, Heap, Ref, Trace};
use tmgc_tests::{bounded, list, verified, Node};

/// An old holder: survives a full cycle before the test starts.
#[derive(Trace)]
struct Holder {
    extra: Ref<Node>,
    young: Ref<Holder>,
}

fn gen() -> Config {
    // No cycle of the pacer's: the tests choose every cycle.
    verified().generational(true).min_trigger_bytes(1 << 40).nursery_bytes(1 << 40)
}

fn sum_list<'tx>(tx: &mut tmgc::Tx<'tx>, mut cur: Option<tmgc::Gc<'tx, Node>>) -> Result<u64, Abort<()>> {
    let mut sum = 0;
    while let Some(c) = cur {
        sum += tx.get(c, |n| &n.val)?;
        cur = tx.load(c, |n| &n.next)?;
    }
    Ok(sum)
}

/// The adversarial move, young-cycle variant: each round builds a young
/// list X under a young holder Y (itself hung from the old global G), then
/// moves X's only reference into the old holder O and unhooks Y. While
/// young cycles run back to back, O is often the only path to X, and O
/// is old, so only the remembered set (or, between a REQ answer and T,
/// the T2 shade) tells the cycle about X.
fn young_object_moved_into_an_old_holder(solo: bool) {
    let heap = Heap::new(gen()).unwrap();
    // A second mutator, attached and idle on a thread of its own, turns
    // solo mode off: the commits then take `commit_one` and `publish` (T1).
    let (release, idle) = std::sync::mpsc::channel::<()>();
    let (attached, wait_attached) = std::sync::mpsc::channel::<()>();
    let idle = (!solo).then(|| {
        let heap = heap.clone();
        thread::spawn(move || {
            let _m = heap.attach().unwrap();
            attached.send(()).unwrap();
            let _ = idle.recv();
        })
    });
    if idle.is_some() {
        wait_attached.recv().unwrap();
    }
    let mut m = heap.attach().unwrap();
    assert_eq!(m.is_solo(), solo);
    let (g, o) = m
        .transaction::<_, ()>(|tx| {
            let g = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            let o = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            Ok((tx.global_root(g), tx.global_root(o)))
        })
        .unwrap();
    heap.collect().unwrap(); // full: G and O are old
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = {
        let (heap, stop) = (heap.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut r = Vec::new();
            for i in 0..60u64 {
                r.push(heap.collect_young());
                // Gaps between cycles: the mover commits with its barrier
                // off there (mode R), and only the remembered set records
                // what it stores into old objects.
                thread::sleep(std::time::Duration::from_micros(i % 4 * 300));
            }
            stop.store(true, Ordering::Relaxed);
            r
        })
    };
    let mut rounds = 0u64;
    while !stop.load(Ordering::Relaxed) {
        m.transaction::<_, ()>(|tx| {
            let g = tx.get_global(&g)?;
            let x = list(tx, 10)?;
            let y = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            tx.store(y, |y| &y.extra, x)?;
            tx.store(g, |g| &g.young, Some(y))?; // old G -> young Y: logged
            Ok(())
        })
        .unwrap();
        m.transaction::<_, ()>(|tx| {
            let (g, o) = (tx.get_global(&g)?, tx.get_global(&o)?);
            let y = tx.load(g, |g| &g.young)?.expect("Y hangs from G");
            let x = tx.load(y, |y| &y.extra)?;
            tx.store(o, |o| &o.extra, x)?; // the only path to X is now old O
            tx.store(y, |y| &y.extra, None)?;
            tx.store(g, |g| &g.young, None)?;
            Ok(())
        })
        .unwrap();
        let sum = m
            .transaction::<_, ()>(|tx| {
                let o = tx.get_global(&o)?;
                let x = tx.load(o, |o| &o.extra)?;
                sum_list(tx, x)
            })
            .unwrap();
        assert_eq!(sum, 45, "X (reachable only through an old object) was freed, round {rounds}");
        rounds += 1;
    }
    for r in cycles.join().unwrap() {
        let c = r.expect("the verifier found a live object unmarked");
        assert!(!c.full, "the test's cycles are young");
    }
    heap.collect_young().expect("the verifier, one cycle after the last move");
    assert!(rounds > 60, "the mover ran during the cycles ({rounds} rounds)");
    drop(release);
    if let Some(h) = idle {
        h.join().unwrap();
    }
}

#[test]
fn a_young_object_moved_into_an_old_holder_survives_young_cycles() {
    bounded("generational mover", 120, || young_object_moved_into_an_old_holder(false));
}

#[test]
fn a_young_object_moved_into_an_old_holder_survives_young_cycles_solo() {
    bounded("generational mover (solo)", 120, || young_object_moved_into_an_old_holder(true));
}

/// T6: a loop storing young objects into one old object, allocating
/// nothing, logs the holder once (the `LOGGED` bit), not once per store.
#[test]
fn stores_into_one_old_object_log_it_once() {
    let stores: u64 = if cfg!(debug_assertions) { 1_000_000 } else { 10_000_000 };
    let heap = Heap::new(gen()).unwrap();
    let mut m = heap.attach().unwrap();
    let o = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            Ok(tx.root(o))
        })
        .unwrap();
    heap.collect().unwrap(); // O is old
    let young = m
        .transaction::<_, ()>(|tx| {
            let a = list(tx, 3)?;
            let b = list(tx, 4)?;
            Ok((tx.root(a.unwrap()), tx.root(b.unwrap())))
        })
        .unwrap();
    for i in 0..stores {
        m.transaction::<_, ()>(|tx| {
            let o = tx.get_root(&o)?;
            let v = tx.get_root(if i % 2 == 0 { &young.0 } else { &young.1 })?;
            tx.store(o, |o| &o.extra, Some(v))?;
            Ok(())
        })
        .unwrap();
    }
    let c = heap.collect_young().unwrap();
    assert_eq!(c.remembered, 1, "{stores} stores into one old object logged it once");
}

/// T6 (i): an attempt that aborts after storing a young object into an
/// old one leaves no `LOGGED` bit behind; the next commit that stores one
/// logs the holder, so its young referent survives.
#[test]
fn an_aborted_store_into_an_old_object_logs_nothing() {
    let heap = Heap::new(gen()).unwrap();
    let mut m = heap.attach().unwrap();
    let o = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            Ok(tx.root(o))
        })
        .unwrap();
    heap.collect().unwrap();
    let r = m.transaction::<(), ()>(|tx| {
        let o = tx.get_root(&o)?;
        let x = list(tx, 10)?;
        tx.store(o, |o| &o.extra, x)?;
        Err(Abort::User(())) // changed its mind
    });
    assert!(r.is_err());
    assert_eq!(heap.collect_young().unwrap().remembered, 0, "the aborted attempt logged nothing");
    m.transaction::<_, ()>(|tx| {
        let o = tx.get_root(&o)?;
        let x = list(tx, 10)?;
        tx.store(o, |o| &o.extra, x)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(heap.collect_young().unwrap().remembered, 1);
    heap.collect_young().unwrap(); // the verifier once more
    let sum = m
        .transaction::<_, ()>(|tx| {
            let o = tx.get_root(&o)?;
            let x = tx.load(o, |o| &o.extra)?;
            sum_list(tx, x)
        })
        .unwrap();
    assert_eq!(sum, 45);
}

/// T6 (iii), RS5: a full cycle consumes the remembered set, so an old
/// holder that dies in it leaves no entry for a later young cycle to
/// trace (it would read freed memory).
#[test]
fn a_full_cycle_leaves_no_stale_entry() {
    let heap = Heap::new(gen()).unwrap();
    let mut m = heap.attach().unwrap();
    let o = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            Ok(tx.root(o))
        })
        .unwrap();
    heap.collect().unwrap();
    m.transaction::<_, ()>(|tx| {
        let o = tx.get_root(&o)?;
        let x = list(tx, 10)?;
        tx.store(o, |o| &o.extra, x)?;
        Ok(())
    })
    .unwrap();
    drop(o);
    m.commit_point(); // the root leaves the root set
    let full = heap.collect().unwrap();
    assert!(full.full);
    assert_eq!(full.remembered, 1, "the full cycle took the entry (and dropped it)");
    let young = heap.collect_young().unwrap();
    assert_eq!(young.remembered, 0, "no stale entry for the dead holder");
}

/// T5, RS3: a thread that logs an old holder and detaches hands its
/// entries over; the next young cycle traces the holder.
#[test]
fn a_detached_thread_hands_over_its_remembered_set() {
    let heap = Heap::new(gen()).unwrap();
    let o = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let o = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
            Ok(tx.global_root(o))
        })
        .unwrap()
    };
    heap.collect().unwrap();
    {
        let heap = heap.clone();
        let o = o.clone();
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            m.transaction::<_, ()>(|tx| {
                let o = tx.get_global(&o)?;
                let x = list(tx, 10)?;
                tx.store(o, |o| &o.extra, x)?;
                Ok(())
            })
            .unwrap();
        })
        .join()
        .unwrap();
    }
    let c = heap.collect_young().unwrap();
    assert_eq!(c.remembered, 1);
    heap.collect_young().unwrap();
    let mut m = heap.attach().unwrap();
    let sum = m
        .transaction::<_, ()>(|tx| {
            let o = tx.get_global(&o)?;
            let x = tx.load(o, |o| &o.extra)?;
            sum_list(tx, x)
        })
        .unwrap();
    assert_eq!(sum, 45);
}

/// T9: an old weak cell pointed at a young referent is cleared when the
/// referent dies in a young cycle (the registry walk covers every cell).
#[test]
fn an_old_weak_cell_with_a_young_referent_is_cleared() {
    let heap = Heap::new(gen()).unwrap();
    let mut m = heap.attach().unwrap();
    let w = m
        .transaction::<_, ()>(|tx| {
            let w = tx.new_weak::<Node>(None)?;
            Ok(tx.root(w))
        })
        .unwrap();
    heap.collect().unwrap(); // the cell is old
    let keep = m
        .transaction::<_, ()>(|tx| {
            let w = tx.get_root(&w)?;
            let x = list(tx, 1)?.unwrap();
            tx.set_weak(w, Some(x))?;
            Ok(tx.root(x))
        })
        .unwrap();
    let alive = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_root(&w)?;
            Ok(tx.upgrade(c)?.is_some())
        })
        .unwrap();
    assert!(alive, "the referent is rooted");
    // Dropped before any cycle sees it rooted (a cycle would make it old).
    drop(keep);
    m.commit_point();
    let c = heap.collect_young().unwrap();
    assert_eq!(c.weak_cleared, 1, "the young referent died");
    let alive = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_root(&w)?;
            Ok(tx.upgrade(c)?.is_some())
        })
        .unwrap();
    assert!(!alive);
}

/// T11: with only old garbage, the heap limit's wait gets a full cycle
/// (a young one frees nothing old, and the retry would fail).
#[test]
fn only_old_garbage_at_the_heap_limit_gets_a_full_cycle() {
    // The old generation's own trigger is out of the way (growth factor
    // 1000): only the heap limit asks for full cycles here.
    let heap = Heap::new(gen().heap_limit(48 << 20).growth_factor(1000.0)).unwrap();
    let mut m = heap.attach().unwrap();
    for round in 0..12 {
        // About 8 MiB of list, rooted across a young cycle (so it is old),
        // then dropped: old garbage only a full cycle frees.
        let nodes = (8 << 20) / (std::mem::size_of::<Node>() + tmgc::HEADER_BYTES) as u64;
        let r = m.transaction::<_, ()>(|tx| {
            let x = list(tx, nodes)?;
            Ok(tx.root(x.unwrap()))
        });
        let root = r.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        heap.collect_young().unwrap();
        drop(root);
    }
    let st = heap.stats();
    assert!(st.full_cycles >= 2, "the heap limit asked for full cycles ({} of {})", st.full_cycles, st.cycles);
}

/// Young and full cycles from the pacer with several threads churning,
/// the verifier on (the churn tests of `gc_churn.rs` in generational
/// mode): nothing reachable is ever freed, and young cycles outnumber
/// full ones.
#[test]
fn churn_with_young_and_full_cycles() {
    let heap = Heap::new(verified().generational(true).nursery_bytes(4 << 20).min_trigger_bytes(1 << 20)).unwrap();
    let hs: Vec<_> = (0..3u64)
        .map(|t| {
            let heap = heap.clone();
            thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                let keep = m
                    .transaction::<_, ()>(|tx| {
                        let h = tx.alloc(Holder { extra: Ref::null(), young: Ref::null() })?;
                        Ok(tx.root(h))
                    })
                    .unwrap();
                let mut rng = tmgc_tests::rng(t);
                for i in 0..20_000u64 {
                    let n = rng.u64(1..40);
                    // A list not kept is published anyway (a root, dropped
                    // at once), so it is young garbage for the cycles, not
                    // memory its own commit gives back (CM3).
                    let dropped = m.transaction::<_, ()>(|tx| {
                        let h = tx.get_root(&keep)?;
                        let x = list(tx, n)?;
                        let mut dropped = None;
                        if i % 3 == 0 {
                            tx.store(h, |h| &h.extra, x)?; // into an old holder, mostly
                        } else {
                            dropped = x.map(|x| tx.root(x));
                        }
                        // The kept list is intact: n nodes holding n-1..0.
                        let (mut cur, mut len, mut sum) = (tx.load(h, |h| &h.extra)?, 0u64, 0u64);
                        while let Some(c) = cur {
                            sum += tx.get(c, |n| &n.val)?;
                            len += 1;
                            cur = tx.load(c, |n| &n.next)?;
                        }
                        assert_eq!(sum, len * len.saturating_sub(1) / 2, "thread {t}, transaction {i}");
                        Ok(dropped)
                    });
                    drop(dropped.unwrap());
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let st = heap.stats();
    assert!(st.verify_failures.is_empty(), "{:?}", st.verify_failures);
    assert!(st.cycles > st.full_cycles, "young cycles ran ({} cycles, {} full)", st.cycles, st.full_cycles);
}
