//! Identity and conversions (issue 17): `Gc` hashes and orders by the
//! object's address, which never changes; a typed handle becomes a
//! `Gc<Dyn>` and back, checked by `TypeId`; a dynamic object's slot holds
//! a Rust object, which the collector traces through the slot.

use std::collections::{BTreeSet, HashMap, HashSet};

use tmgc::{DynType, DynTypeSpec, Heap, Ref, Tagged, Trace, Value};
use tmgc_tests::{list, verified, Node};

#[derive(Trace)]
struct Point {
    x: Value<i64>,
    next: Ref<Point>,
}

#[derive(Trace)]
struct Other {
    x: Value<i64>,
}

fn boxed() -> DynType {
    static T: std::sync::OnceLock<DynType> = std::sync::OnceLock::new();
    *T.get_or_init(|| DynType::register(DynTypeSpec::new("Box").ref_slots(1).tagged_words(1)).unwrap())
}

/// Handles reached by two paths are one identity: equal, same hash, same
/// address; distinct objects are distinct; the order is the address order.
#[test]
fn identity_is_the_address() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let head = list(tx, 100)?.unwrap();
        let mut nodes = Vec::new();
        let mut cur = Some(head);
        while let Some(c) = cur {
            nodes.push(c);
            cur = tx.load(c, |n| &n.next)?;
        }
        // A second walk reaches the same objects through `load` again.
        let mut again = Vec::new();
        let mut cur = Some(head);
        while let Some(c) = cur {
            again.push(c);
            cur = tx.load(c, |n| &n.next)?;
        }
        let set: HashSet<_> = nodes.iter().copied().collect();
        assert_eq!(set.len(), 100, "100 distinct objects");
        let by_id: HashMap<_, u64> = nodes.iter().map(|&n| (n, 1)).collect();
        for (a, b) in nodes.iter().zip(&again) {
            assert_eq!(a, b);
            assert_eq!(a.as_ptr(), b.as_ptr());
            assert!(set.contains(b) && by_id.contains_key(b));
        }
        let ordered: BTreeSet<_> = again.iter().copied().collect();
        let addrs: Vec<_> = ordered.iter().map(|g| g.as_ptr() as usize).collect();
        assert!(addrs.windows(2).all(|w| w[0] < w[1]), "ordered by address");
        Ok(())
    })
    .unwrap();
}

/// `into_dyn` then `downcast` gives the type back; another Rust type and
/// a dynamic object give `None`.
#[test]
fn downcast_checks_the_type() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let p = tx.alloc(Point { x: Value::new(7), next: Ref::null() })?;
        let d = p.into_dyn();
        assert_eq!(d.as_ptr(), p.as_ptr());
        assert!(d.downcast::<Other>().is_none());
        assert!(d.downcast::<Node>().is_none());
        let back = d.downcast::<Point>().expect("a Point");
        assert_eq!(tx.get(back, |p| &p.x)?, 7);
        let b = tx.alloc_dyn(boxed())?;
        assert!(b.downcast::<Point>().is_none(), "a dynamic object is no Rust type");
        Ok(())
    })
    .unwrap();
}

/// A Rust object kept only in a dynamic object's slot (and another only
/// in a tagged word) survives cycles: the marker traces it through the
/// slot with its own descriptor, its own references included.
#[test]
fn a_slot_holds_a_rust_object_across_cycles() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let tail = tx.alloc(Point { x: Value::new(2), next: Ref::null() })?;
            let p = tx.alloc(Point { x: Value::new(1), next: Ref::null() })?;
            tx.store(p, |p| &p.next, Some(tail))?;
            let q = tx.alloc(Point { x: Value::new(3), next: Ref::null() })?;
            let b = tx.alloc_dyn(boxed())?;
            tx.set_slot(b, 0, Some(p.into_dyn()))?;
            tx.set_tagged(b, 0, Tagged::Ref(q.into_dyn()))?;
            Ok(tx.root(b))
        })
        .unwrap();
    for _ in 0..3 {
        // Garbage between cycles, so freed cells are reused: published (a
        // root, dropped at once), else its own commit would give it back
        // (CM3) and no cycle would see it.
        let l = m
            .transaction::<_, ()>(|tx| {
                let l = list(tx, 10_000)?;
                Ok(l.map(|l| tx.root(l)))
            })
            .unwrap();
        drop(l);
        heap.collect().expect("the verifier");
    }
    let sum = m
        .transaction::<_, ()>(|tx| {
            let b = tx.get_root(&root)?;
            let p = tx.slot(b, 0)?.and_then(|d| d.downcast::<Point>()).expect("a Point in slot 0");
            let tail = tx.load(p, |p| &p.next)?.expect("its next");
            let Tagged::Ref(q) = tx.tagged(b, 0)? else { panic!("a reference in tagged word 0") };
            let q = q.downcast::<Point>().expect("a Point in tagged word 0");
            Ok(tx.get(p, |p| &p.x)? + tx.get(tail, |p| &p.x)? + tx.get(q, |p| &p.x)?)
        })
        .unwrap();
    assert_eq!(sum, 6);
}
