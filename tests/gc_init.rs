//! Allocation with initial contents (`Tx::alloc_with`, IN1-IN4 of
//! gc/src/tx/init.rs) while cycles run: objects reached only through words
//! an initialisation wrote (tagged words, reference slots, tagged and slot
//! elements) survive every cycle, verified, in full and generational mode,
//! and read back what was written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use tmgc::{Abort, Config, Dyn, DynInit, DynType, DynTypeSpec, Elems, Gc, Heap, Tagged, Tx};

struct Types {
    /// Tagged word 0 the value, 1 the next pair.
    pair: DynType,
    /// A list's head in slot 0, its length in data word 0.
    holder: DynType,
    /// Holders, as slot elements.
    shelf: DynType,
    /// Lists, as tagged elements.
    vector: DynType,
    /// The shelf in slot 0, the vector in slot 1, the lists' base in data
    /// word 0.
    top: DynType,
}

fn types() -> Types {
    Types {
        pair: DynType::register(DynTypeSpec::new("InitPair").tagged_words(2)).unwrap(),
        holder: DynType::register(DynTypeSpec::new("InitHolder").ref_slots(1).data_words(1)).unwrap(),
        shelf: DynType::register(DynTypeSpec::new("InitShelf").array(Elems::Slots)).unwrap(),
        vector: DynType::register(DynTypeSpec::new("InitVector").array(Elems::Tagged)).unwrap(),
        top: DynType::register(DynTypeSpec::new("InitTop").ref_slots(2).data_words(1)).unwrap(),
    }
}

const LISTS: usize = 8;
const LEN: u64 = 500;

/// `LISTS` lists of `LEN` pairs holding `base..base + LEN`, each behind a
/// holder on a shelf and in a vector: every reference written by
/// `alloc_with` alone.
fn build<'tx>(tx: &mut Tx<'tx>, t: &Types, base: u64) -> Result<Gc<'tx, Dyn>, Abort<()>> {
    let mut heads = Vec::with_capacity(LISTS);
    let mut holders = Vec::with_capacity(LISTS);
    for _ in 0..LISTS {
        let mut next = Tagged::Null;
        for i in (0..LEN).rev() {
            let v = Tagged::int((base + i) as i64).unwrap();
            next = Tagged::Ref(tx.alloc_with(t.pair, DynInit::new().tagged(&[v, next]))?);
        }
        let Tagged::Ref(head) = next else { unreachable!("LEN > 0") };
        heads.push(next);
        holders.push(Some(tx.alloc_with(t.holder, DynInit::new().slots(&[Some(head)]).data(&[LEN]))?));
    }
    let vector = tx.alloc_with(t.vector, DynInit::new().elems(&heads))?;
    let shelf = tx.alloc_with(t.shelf, DynInit::new().elem_slots(&holders))?;
    Ok(tx.alloc_with(t.top, DynInit::new().slots(&[Some(shelf), Some(vector)]).data(&[base]))?)
}

/// A list's sum, checked to be `base..base + LEN`.
fn sum<'tx>(tx: &mut Tx<'tx>, head: Gc<'tx, Dyn>, base: u64) -> Result<u64, Abort<()>> {
    let (mut cur, mut i, mut sum) = (Some(head), base, 0);
    while let Some(c) = cur {
        match tx.tagged(c, 0)? {
            Tagged::Int(v) if v.get() == i as i64 => sum += i,
            other => panic!("pair {} holds {other:?}: freed or never written", i - base),
        }
        cur = match tx.tagged(c, 1)? {
            Tagged::Ref(n) => Some(n),
            Tagged::Null => None,
            other => panic!("a next word of {other:?}: freed or never written"),
        };
        i += 1;
    }
    assert_eq!(i - base, LEN, "the whole list");
    Ok(sum)
}

/// Check every list of `top` through both of its paths: the shelf's
/// holders and the vector's tagged elements.
fn check<'tx>(tx: &mut Tx<'tx>, top: Gc<'tx, Dyn>) -> Result<(), Abort<()>> {
    let base = tx.data(top, 0)?;
    let (shelf, vector) = (tx.slot(top, 0)?.expect("the shelf"), tx.slot(top, 1)?.expect("the vector"));
    assert_eq!((tx.array_len(shelf), tx.array_len(vector)), (LISTS, LISTS));
    let want = (base..base + LEN).sum::<u64>();
    for k in 0..LISTS {
        let holder = tx.elem_slot(shelf, k)?.expect("a holder");
        assert_eq!(tx.data(holder, 0)?, LEN);
        let head = tx.slot(holder, 0)?.expect("a list");
        let Tagged::Ref(same) = tx.elem(vector, k)? else { panic!("list {k} in the vector") };
        assert_eq!(head, same, "the shelf and the vector hold the same list {k}");
        assert_eq!(sum(tx, head, base)?, want);
    }
    Ok(())
}

/// A collector thread runs 20 cycles while this thread builds a new
/// generation of lists, checks it and the one before, and replaces the
/// root each transaction: every cycle meets initialised objects that are
/// new, newly published, and published long ago.
fn run(config: Config) {
    let t = types();
    let heap = Heap::new(config.verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let mut root = m
        .transaction::<_, ()>(|tx| {
            let top = build(tx, &t, 0)?;
            Ok(tx.global_root(top))
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, stop) = (heap.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let results: Vec<_> = (0..20).map(|_| heap.collect()).collect();
            stop.store(true, Ordering::Relaxed);
            results
        })
    };
    let mut rounds = 0u64;
    while !stop.load(Ordering::Relaxed) || rounds < 3 {
        rounds += 1;
        root = m
            .transaction::<_, ()>(|tx| {
                let old = tx.get_global(&root)?;
                check(tx, old)?;
                let new = build(tx, &t, rounds * LEN)?;
                check(tx, new)?;
                Ok(tx.global_root(new))
            })
            .unwrap();
    }
    for r in collector.join().unwrap() {
        r.expect("a verified cycle");
    }
    m.collect().expect("a last verified cycle");
    m.transaction::<_, ()>(|tx| {
        let top = tx.get_global(&root)?;
        check(tx, top)
    })
    .unwrap();
    assert!(heap.stats().cycles >= 21, "the cycles ran");
}

#[test]
fn initialised_objects_survive_concurrent_cycles() {
    run(Config::default());
}

#[test]
fn initialised_objects_survive_concurrent_young_cycles() {
    run(Config::default().generational(true));
}
