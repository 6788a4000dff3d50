//! `RefArray<T>`, arrays of references to Rust-typed objects (RA1 and RA2
//! of gc/src/refarray.rs): the collector keeps what only an array holds and
//! frees what it no longer holds; an array is recognised by its element
//! type and by nothing else; a foreign element is a panic, not another
//! type; two threads' updates to one array lose nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use tmgc::{Abort, Config, DynType, DynTypeSpec, Elems, Heap, Ref, RefArray, Trace, Value};
use tmgc_tests::{bounded, verified};

/// Leaves dropped (only `kept_through_the_array_alone_and_freed_when_cleared` makes them).
static DROPPED: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Leaf {
    n: Value<u64>,
    _guard: DropCount,
}

struct DropCount;

impl Drop for DropCount {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: holds no heap reference.
unsafe impl Trace for DropCount {
    const HAS_REFS: bool = false;
    fn trace(&self, _: &mut tmgc::Tracer<'_>) {}
}

#[derive(Trace)]
struct Tag {
    _n: Value<u64>,
}

#[derive(Trace)]
struct Node {
    n: Value<u64>,
    next: Ref<Node>,
}

#[test]
fn kept_through_the_array_alone_and_freed_when_cleared() {
    let heap = Heap::new(verified().background(false)).unwrap();
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let arr = RefArray::<Leaf>::new(tx, 100)?;
            for i in 0..100 {
                let leaf = tx.alloc(Leaf { n: Value::new(i), _guard: DropCount })?;
                arr.set(tx, i as usize, Some(leaf))?;
            }
            Ok(tx.root(arr.as_gc()))
        })
        .unwrap();
    for _ in 0..2 {
        m.collect().unwrap();
    }
    assert_eq!(DROPPED.load(Ordering::SeqCst), 0, "a leaf held only by the array was freed");
    let sum = m
        .transaction::<_, ()>(|tx| {
            let arr = RefArray::<Leaf>::from_gc(tx.get_root(&root)?).expect("an array of leaves");
            assert_eq!(arr.len(tx), 100);
            let mut sum = 0;
            for i in 0..arr.len(tx) {
                let leaf = arr.get(tx, i)?.expect("every element set");
                sum += tx.get(leaf, |l| &l.n)?;
            }
            // Clear the even elements.
            for i in (0..100).step_by(2) {
                arr.set(tx, i, None)?;
            }
            Ok(sum)
        })
        .unwrap();
    assert_eq!(sum, 4950);
    for _ in 0..2 {
        m.collect().unwrap();
    }
    assert_eq!(DROPPED.load(Ordering::SeqCst), 50, "the cleared elements' leaves, and only those, are freed");
    assert!(heap.stats().verify_failures.is_empty(), "{:?}", heap.stats().verify_failures);
}

#[test]
fn an_array_is_recognised_by_its_element_type_only() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let other = DynType::register(DynTypeSpec::new("plain slots").array(Elems::Slots)).unwrap();
    m.transaction::<_, ()>(|tx| {
        let nodes = RefArray::<Node>::new(tx, 2)?;
        assert!(RefArray::<Node>::from_gc(nodes.as_gc()).is_some_and(|a| a == nodes));
        assert!(RefArray::<Tag>::from_gc(nodes.as_gc()).is_none(), "an array of another element type");
        let plain = tx.alloc_array(other, 2)?;
        assert!(RefArray::<Node>::from_gc(plain).is_none(), "an array of the same shape, not a RefArray");
        let empty = RefArray::<Node>::new(tx, 0)?;
        assert!(empty.is_empty(tx));
        assert!(format!("{nodes:?}").starts_with("RefArray<"));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_foreign_element_or_an_index_past_the_end_panics() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let nodes = RefArray::<Node>::new(tx, 1)?;
            // Written past `RefArray::set` (RA2): a `Tag` in an array of `Node`s.
            let tag = tx.alloc(Tag { _n: Value::new(1) })?;
            tx.set_elem_slot(nodes.as_gc(), 0, Some(tag.into_dyn()))?;
            nodes.get(tx, 0)?;
            Ok(())
        })
    }));
    let msg = r.expect_err("a foreign element panics");
    let msg = msg.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("is a `") && msg.contains("Tag"), "{msg}");
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let nodes = RefArray::<Node>::new(tx, 1)?;
            nodes.set(tx, 1, None)?;
            Ok(())
        })
    }));
    assert!(r.is_err(), "index 1 of a 1-element array");
    // The heap and the mutator carry on.
    assert!(m.transaction::<_, ()>(|tx| Ok(RefArray::<Node>::new(tx, 3)?.len(tx))).is_ok_and(|n| n == 3));
}

#[test]
fn two_threads_push_onto_shared_buckets_and_lose_nothing() {
    bounded("two threads on one RefArray", 120, || {
        const BUCKETS: usize = 16;
        const PER_THREAD: u64 = 2_000;
        let heap = Heap::new(verified()).unwrap();
        let mut m = heap.attach().unwrap();
        let table = m
            .transaction::<_, ()>(|tx| {
                let arr = RefArray::<Node>::new(tx, BUCKETS)?;
                Ok(tx.global_root(arr.as_gc()))
            })
            .unwrap();
        let workers: Vec<_> = (0..2u64)
            .map(|t| {
                let (heap, table) = (heap.clone(), table.clone());
                thread::spawn(move || {
                    let mut m = heap.attach().unwrap();
                    for k in 0..PER_THREAD {
                        let key = t * PER_THREAD + k;
                        m.transaction::<_, ()>(|tx| {
                            let arr = RefArray::<Node>::from_gc(tx.get_global(&table)?).expect("buckets");
                            let b = (key as usize * 7) % BUCKETS;
                            let head = arr.get(tx, b)?;
                            let n = tx.alloc(Node { n: Value::new(key), next: Ref::null() })?;
                            tx.store(n, |n| &n.next, head)?;
                            arr.set(tx, b, Some(n))?;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        m.collect().unwrap();
        let (count, sum) = m
            .transaction::<_, ()>(|tx| {
                let arr = RefArray::<Node>::from_gc(tx.get_global(&table)?).expect("buckets");
                let (mut count, mut sum) = (0u64, 0u64);
                for b in 0..arr.len(tx) {
                    let mut cur = arr.get(tx, b)?;
                    while let Some(n) = cur {
                        let key = tx.get(n, |n| &n.n)?;
                        if (key as usize * 7) % BUCKETS != b {
                            return Err(Abort::User(()));
                        }
                        count += 1;
                        sum += key;
                        cur = tx.load(n, |n| &n.next)?;
                    }
                }
                Ok((count, sum))
            })
            .expect("every node in its own bucket");
        let n = 2 * PER_THREAD;
        assert_eq!((count, sum), (n, n * (n - 1) / 2), "a push was lost or doubled");
        assert!(heap.stats().verify_failures.is_empty());
    });
}
