//! Weak references (`tmgc::Weak`): a cell keeps its referent while
//! something else does, is cleared in the cycle its referent dies, and a
//! weak read racing a cycle never hands out a dead object. The verifier is
//! on in every test here. The trap-5 tests that hold a cycle at a chosen
//! point are unit tests (`gc/src/collector/weak_tests.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use tmgc::{Abort, Config, Heap, Ref, Root, Trace, TxError, Value, Weak};

#[derive(Trace)]
struct Obj {
    id: Value<u64>,
    next: Ref<Obj>,
}

/// References live inside the object (not behind a `Vec`'s pointer), so
/// transactions can address them.
#[derive(Trace)]
struct Table<const N: usize> {
    cells: [Ref<Weak<Obj>>; N],
    kept: [Ref<Obj>; N],
}

fn table<const N: usize>() -> Table<N> {
    Table { cells: std::array::from_fn(|_| Ref::null()), kept: std::array::from_fn(|_| Ref::null()) }
}

/// Collections only when asked: each test counts what its own cycles did.
fn quiet() -> Config {
    Config::default().verify(true).min_trigger_bytes(u64::MAX / 4)
}

#[test]
fn cells_are_cleared_exactly_when_their_referents_die() {
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    const N: usize = 400;
    // Cell i refers to object i; the table keeps the even objects.
    let table: Root<Table<N>> = m
        .transaction::<_, ()>(|tx| {
            let t = tx.alloc(table::<N>())?;
            for i in 0..N {
                let o = tx.alloc(Obj { id: Value::new(i as u64), next: Ref::null() })?;
                let w = tx.new_weak(Some(o))?;
                tx.store(t, |t| &t.cells[i], Some(w))?;
                if i % 2 == 0 {
                    tx.store(t, |t| &t.kept[i], Some(o))?;
                }
            }
            Ok(tx.root(t))
        })
        .unwrap();
    let cleared: u64 = (0..2).map(|_| heap.collect().unwrap().weak_cleared).sum();
    assert_eq!(cleared, (N / 2) as u64, "one clearing per dead referent, none twice");
    let alive = m
        .transaction::<_, ()>(|tx| {
            let t = tx.get_root(&table)?;
            let mut alive = Vec::new();
            for i in 0..N {
                let w = tx.load(t, |t| &t.cells[i])?.unwrap();
                if let Some(o) = tx.upgrade(w)? {
                    assert_eq!(tx.get(o, |o| &o.id)?, i as u64, "cell {i} refers to its own object");
                    alive.push(i);
                }
            }
            Ok(alive)
        })
        .unwrap();
    assert_eq!(alive, (0..N).step_by(2).collect::<Vec<_>>(), "exactly the kept objects are still reachable");
    assert_eq!(heap.stats().weak_cells, N, "every cell is alive (the table holds them)");

    // Drop the cells themselves: they leave the collector's registry.
    m.transaction::<_, ()>(|tx| {
        let t = tx.get_root(&table)?;
        for i in 0..N {
            tx.store(t, |t| &t.cells[i], None)?;
        }
        Ok(())
    })
    .unwrap();
    heap.collect().unwrap();
    assert_eq!(heap.stats().weak_cells, 0, "dead cells left the registry");
    assert!(heap.stats().verify_failures.is_empty());
}

#[test]
fn retargeted_and_aborted_cells() {
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    let (a, cell) = m
        .transaction::<_, ()>(|tx| {
            let a = tx.alloc(Obj { id: Value::new(1), next: Ref::null() })?;
            let w = tx.new_weak::<Obj>(None)?;
            assert!(tx.upgrade(w)?.is_none(), "an empty cell");
            tx.set_weak(w, Some(a))?;
            let got = tx.upgrade(w)?.expect("this transaction's own new referent");
            assert_eq!(tx.get(got, |o| &o.id)?, 1);
            Ok((tx.root(a), tx.root(w)))
        })
        .unwrap();
    // An aborted transaction's cell never reaches the registry.
    let before = heap.stats().weak_cells;
    let r = m.transaction::<_, &str>(|tx| {
        let b = tx.alloc(Obj { id: Value::new(2), next: Ref::null() })?;
        tx.new_weak(Some(b))?;
        Err::<(), _>(Abort::User("changed my mind"))
    });
    assert!(matches!(r, Err(TxError::Aborted("changed my mind"))), "{r:?}");
    assert_eq!(heap.stats().weak_cells, before);

    // Retarget to an unrooted object: cleared when it dies, while the old
    // referent, still rooted, lives on.
    m.transaction::<_, ()>(|tx| {
        let w = tx.get_root(&cell)?;
        let b = tx.alloc(Obj { id: Value::new(3), next: Ref::null() })?;
        tx.set_weak(w, Some(b))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(heap.collect().unwrap().weak_cleared, 1);
    m.transaction::<_, ()>(|tx| {
        let w = tx.get_root(&cell)?;
        assert!(tx.upgrade(w)?.is_none(), "its referent died");
        let a = tx.get_root(&a)?;
        assert_eq!(tx.get(a, |o| &o.id)?, 1);
        Ok(())
    })
    .unwrap();
}

/// Threads read weak cells and make what they find strongly reachable
/// again, retarget cells to new objects and drop their strong references,
/// while cycles run back to back. Every resurrected object must be whole
/// (the verifier checks each cycle, and the ids are checked here), and a
/// cell never yields an object other than one it was set to.
#[test]
fn weak_reads_racing_cycles_never_resurrect_the_dead() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, stop) = (heap.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 10 {
                heap.collect().unwrap();
                n += 1;
            }
            n
        })
    };
    // Many cells, and most operations leave the cell alone: a referent
    // must go a whole cycle without being read (a read while marking keeps
    // it) or replaced for its cell to be cleared.
    const CELLS: usize = 512;
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let heap = heap.clone();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                let table = m
                    .transaction::<_, ()>(|tx| {
                        let tab = tx.alloc(table::<CELLS>())?;
                        for i in 0..CELLS {
                            let w = tx.new_weak::<Obj>(None)?;
                            tx.store(tab, |x| &x.cells[i], Some(w))?;
                        }
                        Ok(tx.root(tab))
                    })
                    .unwrap();
                let (mut x, mut ops, mut found) = (t + 1, 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = (x % CELLS as u64) as usize;
                    let op = x >> 32 & 7;
                    let hit = m
                        .transaction::<_, ()>(|tx| {
                            let tab = tx.get_root(&table)?;
                            let w = tx.load(tab, |x| &x.cells[i])?.unwrap();
                            match op {
                                // A chain of two new objects, held only weakly.
                                0 | 1 => {
                                    let tail = tx.alloc(Obj { id: Value::new(x | 1), next: Ref::null() })?;
                                    let head = tx.alloc(Obj { id: Value::new(x), next: Ref::null() })?;
                                    tx.store(head, |o| &o.next, Some(tail))?;
                                    tx.set_weak(w, Some(head))?;
                                    Ok(false)
                                }
                                // Resurrect: whatever the cell yields becomes strong.
                                2 => {
                                    let got = tx.upgrade(w)?;
                                    if let Some(o) = got {
                                        let id = tx.get(o, |o| &o.id)?;
                                        let tail = tx.load(o, |o| &o.next)?.expect("a chain head keeps its tail");
                                        assert_eq!(tx.get(tail, |o| &o.id)?, id | 1, "a whole chain");
                                    }
                                    tx.store(tab, |x| &x.kept[i], got)?;
                                    Ok(got.is_some())
                                }
                                // Let go of the strong reference.
                                3 => {
                                    tx.store(tab, |x| &x.kept[i], None)?;
                                    Ok(false)
                                }
                                // Leave the cell alone.
                                _ => Ok(false),
                            }
                        })
                        .unwrap();
                    ops += 1;
                    found += u64::from(hit);
                }
                (ops, found)
            })
        })
        .collect();
    thread::sleep(std::time::Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (ops, found) = workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let cycles = collector.join().unwrap();
    let st = heap.stats();
    assert!(st.verify_failures.is_empty(), "{:?}", st.verify_failures);
    assert!(found > 0 && found < ops, "the test both found and missed referents ({found} of {ops})");
    let cleared: u64 = st.recent.iter().map(|c| c.weak_cleared).sum();
    assert!(cleared > 0, "cycles cleared cells ({cycles} cycles)");
}

/// A dropped root leaves the root set at its thread's next commit point:
/// `Heap::collect` from a thread that has not reached one keeps the object,
/// `Mutator::collect` (a commit point, then the cycle) frees it.
#[test]
fn mutator_collect_applies_dropped_roots_first() {
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    let (root, cell) = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc(Obj { id: Value::new(5), next: Ref::null() })?;
            let w = tx.new_weak(Some(o))?;
            Ok((tx.root(o), tx.root(w)))
        })
        .unwrap();
    drop(root);
    assert_eq!(heap.collect().unwrap().weak_cleared, 0, "the dropped root still counted");
    assert_eq!(m.collect().unwrap().weak_cleared, 1, "the commit point removed it first");
    let gone = m
        .transaction::<_, ()>(|tx| {
            let w = tx.get_root(&cell)?;
            Ok(tx.upgrade(w)?.is_none())
        })
        .unwrap();
    assert!(gone);
}

/// An interpreter's weak references: weak cells in the reference slots of
/// dynamic objects (`slot_weak`, `set_slot_weak`). A dict-like object holds
/// a cell to each of two values; the one nothing else holds is cleared.
#[test]
fn dynamic_objects_hold_weak_cells_in_their_slots() {
    use tmgc::{DynType, DynTypeSpec};
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    let dict = DynType::register(DynTypeSpec::new("WeakDict").ref_slots(2).data_words(0)).unwrap();
    let int = DynType::register(DynTypeSpec::new("Int").ref_slots(0).data_words(1)).unwrap();
    let (d, kept) = m
        .transaction::<_, ()>(|tx| {
            let d = tx.alloc_dyn(dict)?;
            let mut vals = Vec::new();
            for (i, v) in [10u64, 20].into_iter().enumerate() {
                let x = tx.alloc_dyn(int)?;
                tx.set_data(x, 0, v)?;
                let w = tx.new_weak(Some(x))?;
                tx.set_slot_weak(d, i, Some(w))?;
                vals.push(x);
            }
            Ok((tx.root(d), tx.root(vals[0])))
        })
        .unwrap();
    assert_eq!(m.collect().unwrap().weak_cleared, 1);
    let seen = m
        .transaction::<_, ()>(|tx| {
            let d = tx.get_root(&d)?;
            let mut seen = Vec::new();
            for i in 0..2 {
                let w = tx.slot_weak(d, i)?.expect("the dict holds its cells");
                seen.push(match tx.upgrade(w)? {
                    Some(x) => Some(tx.data(x, 0)?),
                    None => None,
                });
            }
            Ok(seen)
        })
        .unwrap();
    assert_eq!(seen, vec![Some(10), None], "the rooted value stays, the other is cleared");
    drop(kept);
}

/// Reading a slot that holds an ordinary object as a weak cell is a clear
/// panic, not a reinterpretation of the object.
#[test]
#[should_panic(expected = "not a weak cell")]
fn slot_weak_refuses_an_ordinary_object() {
    use tmgc::{DynType, DynTypeSpec};
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    let ty = DynType::register(DynTypeSpec::new("Box").ref_slots(1).data_words(0)).unwrap();
    let _ = m.transaction::<_, ()>(|tx| {
        let a = tx.alloc_dyn(ty)?;
        let b = tx.alloc_dyn(ty)?;
        tx.set_slot(a, 0, Some(b))?;
        tx.slot_weak(a, 0)?;
        Ok(())
    });
}

/// A weak cell read from a slot as an ordinary dynamic object is refused by
/// every dynamic accessor with a clear panic.
#[test]
#[should_panic(expected = "not a dynamic object")]
fn a_weak_cell_read_with_slot_is_refused_as_a_dynamic_object() {
    use tmgc::{DynType, DynTypeSpec};
    let heap = Heap::new(quiet()).unwrap();
    let mut m = heap.attach().unwrap();
    let ty = DynType::register(DynTypeSpec::new("Holder").ref_slots(1).data_words(1)).unwrap();
    let _ = m.transaction::<_, ()>(|tx| {
        let a = tx.alloc_dyn(ty)?;
        let w = tx.new_weak::<tmgc::Dyn>(None)?;
        tx.set_slot_weak(a, 0, Some(w))?;
        let c = tx.slot(a, 0)?.expect("the cell");
        tx.data(c, 0)?;
        Ok(())
    });
}
