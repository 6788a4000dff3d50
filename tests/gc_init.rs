//! Allocation with initial contents (`Tx::alloc_with`, IN1-IN5 of
//! gc/src/tx/init.rs) while cycles run: objects reached only through words
//! an initialisation wrote (tagged words, reference slots, tagged and slot
//! elements) survive every cycle, verified, in full and generational mode,
//! and read back what was written.

use std::sync::atomic::Ordering;

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
    let cycles = tmgc_tests::Cycles::start(&heap, 20);
    let mut rounds = 0u64;
    while cycles.running() || rounds < 3 {
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
    cycles.join("a verified cycle");
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

/// The edges: an array type given no elements (length 0), byte arrays of
/// 0, 8 and 9 bytes (no word, a whole word, a word and a byte), a frozen
/// type made with its contents, and a type with a destructor, which sees
/// the data words `alloc_with` gave.
#[test]
fn empty_arrays_word_edges_frozen_types_and_destructors() {
    static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    fn on_drop(d: &tmgc::DynData<'_>) {
        DROPPED.fetch_add(d.get(0), Ordering::Relaxed);
    }
    let vector = DynType::register(DynTypeSpec::new("InitEdgeVector").ref_slots(1).array(Elems::Tagged)).unwrap();
    let bytes = DynType::register(DynTypeSpec::new("InitEdgeBytes").array(Elems::Bytes)).unwrap();
    let frozen = DynType::register(DynTypeSpec::new("InitFrozen").tagged_words(2).frozen()).unwrap();
    let handle = DynType::register(DynTypeSpec::new("InitHandle").data_words(1).on_drop(on_drop)).unwrap();
    let heap = Heap::new(Config::default().verify(true).background(false)).unwrap();
    let mut m = heap.attach().unwrap();
    let got = m
        .transaction::<_, ()>(|tx| {
            let s = tx.alloc_with(bytes, DynInit::new().bytes(b"12345678X"))?;
            let v = tx.alloc_with(vector, DynInit::new().slots(&[Some(s)]))?;
            let lens: Vec<usize> = [&b""[..], b"12345678"]
                .iter()
                .map(|b| tx.alloc_with(bytes, DynInit::new().bytes(b)).map(|g| tx.array_len(g)))
                .collect::<Result<_, _>>()?;
            let f = tx.alloc_with(frozen, DynInit::new().tagged(&[Tagged::int(7).unwrap(), Tagged::Ref(v)]))?;
            for _ in 0..10 {
                tx.alloc_with(handle, DynInit::new().data(&[42]))?; // garbage once committed
            }
            let mut out = [0; 9];
            tx.read_bytes(s, 0, &mut out)?;
            // A filled vector, and the type queries.
            let nine = Tagged::int(9).unwrap();
            let filled = tx.alloc_with(vector, DynInit::new().elems_filled(3, nine))?;
            let elems = (0..3).map(|i| tx.elem(filled, i)).collect::<Result<Vec<_>, _>>()?;
            assert_eq!((tx.array_len(filled), elems), (3, vec![nine; 3]));
            assert!(filled.is(vector) && !filled.is(bytes) && filled.dyn_type() == Some(vector));
            let rust = tx.alloc(tmgc_tests::Node { val: tmgc::Value::new(1), next: tmgc::Ref::null() })?;
            assert_eq!(rust.into_dyn().dyn_type(), None, "a Rust-typed object has no dynamic type");
            Ok((tx.array_len(v), tx.slot(v, 0)? == Some(s), lens, out, tx.global_root(f)))
        })
        .unwrap();
    let (len, same, lens, out, f) = got;
    assert_eq!((len, same, lens, &out), (0, true, vec![0, 8], b"12345678X"));
    m.collect().unwrap();
    assert_eq!(DROPPED.load(Ordering::Relaxed), 420, "each destructor saw its data word");
    let back = m.transaction::<_, ()>(|tx| {
        let f = tx.get_global(&f)?;
        let Tagged::Ref(v) = tx.tagged(f, 1)? else { panic!("the frozen object's reference") };
        Ok((tx.tagged(f, 0)?.as_int(), tx.array_len(v)))
    });
    assert_eq!(back.unwrap(), (Some(7), 0));
}

/// A published list X moves into a box made by `alloc_with` in the same
/// commit that deletes X's old reference and swaps the boxes, while
/// cycles run (verified): the initial word is X's only reference from
/// then on, the case NL1 (the commit lists its new objects) and the
/// deletion barrier cover between them.
fn move_into_new_boxes(config: Config) {
    let t = types();
    let boxed = DynType::register(DynTypeSpec::new("InitBox").ref_slots(1)).unwrap();
    let heap = Heap::new(config.verify(true).give_way(false)).unwrap();
    let mut m = heap.attach().unwrap();
    let anchor = m
        .transaction::<_, ()>(|tx| {
            let mut next = Tagged::Null;
            for i in (0..10).rev() {
                next = Tagged::Ref(tx.alloc_with(t.pair, DynInit::new().tagged(&[Tagged::int(i).unwrap(), next]))?);
            }
            let Tagged::Ref(x) = next else { unreachable!() };
            let b = tx.alloc_with(boxed, DynInit::new().slots(&[Some(x)]))?;
            let a = tx.alloc_with(boxed, DynInit::new().slots(&[Some(b)]))?;
            Ok(tx.global_root(a))
        })
        .unwrap();
    let cycles = tmgc_tests::Cycles::start(&heap, 20);
    let mut moves = 0u64;
    while cycles.running() {
        m.transaction::<_, ()>(|tx| {
            let a = tx.get_global(&anchor)?;
            let b = tx.slot(a, 0)?.expect("a box");
            let x = tx.slot(b, 0)?.expect("X in its box");
            let (mut cur, mut sum) = (Some(x), 0);
            while let Some(c) = cur {
                let Tagged::Int(v) = tx.tagged(c, 0)? else { panic!("X's list was freed") };
                sum += v.get();
                cur = tx.tagged(c, 1)?.as_gc();
            }
            assert_eq!(sum, 45, "X or its list was freed");
            let nb = tx.alloc_with(boxed, DynInit::new().slots(&[Some(x)]))?;
            tx.set_slot(b, 0, None)?;
            tx.set_slot(a, 0, Some(nb))?;
            Ok(())
        })
        .unwrap();
        moves += 1;
    }
    cycles.join("a verified cycle");
    assert!(moves > 20, "the mover ran during the cycles ({moves} moves)");
}

#[test]
fn a_published_object_moved_into_an_initialised_box() {
    move_into_new_boxes(Config::default());
}

#[test]
fn a_published_object_moved_into_an_initialised_box_generational() {
    move_into_new_boxes(Config::default().generational(true));
}
