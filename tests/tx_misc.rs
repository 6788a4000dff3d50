//! Transaction edge cases: aborts and panics lose nothing, inevitable
//! transactions, the heap limit, root misuse, dynamic types.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use tmgc::{Abort, Config, DynType, DynTypeSpec, Heap, HeapError, Ref, RootMisuse, Trace, TxError, Value};

#[derive(Trace)]
struct Cell {
    value: Value<i64>,
    next: Ref<Cell>,
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Noisy {
    name: String,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_aborted_transaction_leaves_allocated_bytes_unchanged() {
    let heap = Heap::new(Config::default().clone()).unwrap();
    let mut m = heap.attach().unwrap();
    // Kept (rooted): a cell its commit published, so the abort below
    // rewinds from the middle of a region (an unpublished one would have
    // been given back by its commit, CM3, leaving nothing allocated).
    let _kept = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            Ok(tx.root(c))
        })
        .unwrap();
    let (mine, space) = (m.allocated_bytes(), heap.space_stats().allocated_bytes);
    assert!(mine > 0, "the kept cell is counted");
    let r = m.transaction(|tx| {
        for i in 0..10_000 {
            tx.alloc(Cell { value: Value::new(i), next: Ref::null() })?;
        }
        Err::<(), _>(Abort::User("no"))
    });
    assert!(matches!(r, Err(TxError::Aborted("no"))));
    assert_eq!(m.allocated_bytes(), mine);
    assert_eq!(heap.space_stats().allocated_bytes, space);
}

#[test]
fn aborts_and_panics_run_the_destructors_of_what_they_allocated() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let before = DROPS.load(Ordering::SeqCst);
    let _ = m.transaction(|tx| {
        tx.alloc(Noisy { name: "a".into() })?;
        tx.alloc(Noisy { name: "b".into() })?;
        Err::<(), _>(Abort::User(()))
    });
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 2);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = m.transaction::<(), ()>(|tx| {
            tx.alloc(Noisy { name: "c".into() })?;
            panic!("boom");
        });
    }));
    assert!(r.is_err());
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 3);
    // The mutator still works after the panic.
    let n = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Noisy { name: "kept".into() })?;
            Ok(c.name.len())
        })
        .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn inevitable_transactions_never_retry_and_others_wait() {
    let heap = Heap::new(Config::default()).unwrap();
    let counter = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(0), next: Ref::null() })?;
            Ok(tx.global_root(c))
        })
        .unwrap()
    };
    let inevitable_attempts = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..3 {
            let (heap, counter, attempts) = (heap.clone(), counter.clone(), &inevitable_attempts);
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                for i in 0..300 {
                    let io = t == 0 && i % 30 == 0;
                    m.transaction::<_, ()>(|tx| {
                        let c = tx.get_global(&counter)?;
                        if io {
                            tx.become_inevitable()?;
                            attempts.fetch_add(1, Ordering::SeqCst);
                            // "I/O": others keep running meanwhile.
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        let v = tx.get(c, |c| &c.value)?;
                        tx.set(c, |c| &c.value, v + 1)?;
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
    });
    // Once inevitable, an attempt always commits: exactly one per I/O transaction.
    assert_eq!(inevitable_attempts.load(Ordering::SeqCst), 10);
    let mut m = heap.attach().unwrap();
    let v = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_global(&counter)?;
            Ok(tx.get(c, |c| &c.value)?)
        })
        .unwrap();
    assert_eq!(v, 900);
}

#[test]
fn the_heap_limit_is_a_clean_error() {
    let heap = Heap::new(Config::default().alloc(tmgc::alloc::Config::default().heap_limit(1 << 20))).unwrap();
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(7), next: Ref::null() })?;
            Ok(tx.root(c))
        })
        .unwrap();
    let r = m.transaction::<(), ()>(|tx| loop {
        tx.alloc(Cell { value: Value::new(0), next: Ref::null() })?;
    });
    assert!(matches!(r, Err(TxError::Alloc(tmgc::alloc::AllocError::HeapExhausted { .. }))), "{r:?}");
    // One message with the whole story, printed once by a printer that
    // walks the chain (`anyhow`'s `{:#}`, say): no source repeats it.
    let r = m.transaction::<(), &str>(|tx| loop {
        tx.alloc(Cell { value: Value::new(0), next: Ref::null() })?;
    });
    let e: Box<dyn std::error::Error> = Box::new(r.unwrap_err());
    let mut chain = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        chain.push(s.to_string());
        next = s.source();
    }
    assert_eq!(chain.len(), 1, "{chain:?}");
    assert!(chain[0].starts_with("transaction rolled back: heap limit of 1048576 bytes reached"), "{chain:?}");
    // Nothing lost: the old object is intact and new transactions work.
    let v = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_root(&root)?;
            Ok(tx.get(c, |c| &c.value)?)
        })
        .unwrap();
    assert_eq!(v, 7);
}

#[test]
fn root_misuse_is_a_clear_error() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    assert!(matches!(heap.attach(), Err(HeapError::AlreadyAttached)));
    // A root created by a transaction that aborted is stale.
    let mut stale = None;
    let _ = m.transaction(|tx| {
        let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
        stale = Some(tx.root(c));
        Err::<(), _>(Abort::User(()))
    });
    let stale = stale.unwrap();
    let r = m.transaction::<_, ()>(|tx| Ok(tx.get_root(&stale).map(|_| ())?));
    assert!(matches!(r, Err(TxError::Root(RootMisuse::Stale))));
    // A root of another heap's mutator is foreign.
    let other = Heap::new(Config::default()).unwrap();
    let mut m2 = other.attach().unwrap();
    let foreign = m2
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            Ok(tx.root(c))
        })
        .unwrap();
    let r = m.transaction::<_, ()>(|tx| Ok(tx.get_root(&foreign).map(|_| ())?));
    assert!(matches!(r, Err(TxError::Root(RootMisuse::Foreign))));
    // A global root of another heap says so.
    let global = m2
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            Ok(tx.global_root(c))
        })
        .unwrap();
    let r = m.transaction::<_, ()>(|tx| Ok(tx.get_global(&global).map(|_| ())?));
    let Err(TxError::Root(e)) = r else { panic!("{r:?}") };
    assert_eq!(e, RootMisuse::OtherHeap);
    assert!(e.to_string().contains("another heap"), "{e}");
}

#[test]
fn dynamic_objects_in_transactions() {
    let ty = DynType::register(DynTypeSpec::new("Pair").ref_slots(2).data_words(1)).unwrap();
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let root = m
        .transaction::<_, ()>(|tx| {
            let a = tx.alloc_dyn(ty)?;
            let b = tx.alloc_dyn(ty)?;
            tx.set_slot(a, 0, Some(b))?;
            tx.set_data(b, 0, 99)?;
            Ok(tx.root(a))
        })
        .unwrap();
    let v = m
        .transaction::<_, ()>(|tx| {
            let a = tx.get_root(&root)?;
            let b = tx.slot(a, 0)?.expect("linked");
            assert!(tx.slot(a, 1)?.is_none());
            tx.set_data(b, 0, 100)?;
            Ok(tx.data(b, 0)?)
        })
        .unwrap();
    assert_eq!(v, 100);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = m.transaction::<_, ()>(|tx| {
            let a = tx.get_root(&root)?;
            Ok(tx.slot(a, 2)?.is_some())
        });
    }));
    assert!(r.is_err(), "an out-of-range slot must panic with a clear message");
}

static BOMB_DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Bomb {
    armed: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        BOMB_DROPS.fetch_add(1, Ordering::SeqCst);
        if self.armed {
            panic!("bomb");
        }
    }
}

#[test]
fn a_destructor_that_panics_during_rollback_is_not_run_twice() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let before = BOMB_DROPS.load(Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = m.transaction(|tx| {
            tx.alloc(Bomb { armed: true })?;
            tx.alloc(Bomb { armed: false })?;
            Err::<(), _>(Abort::User(()))
        });
    }));
    assert!(r.is_err(), "the destructor's panic propagates");
    assert_eq!(BOMB_DROPS.load(Ordering::SeqCst), before + 2, "every value dropped once, despite the panic");
    // The rollback finished: the next transactions neither drop them again
    // nor publish them.
    let _ = m.transaction(|_| Err::<(), _>(Abort::User(())));
    m.transaction::<_, ()>(|tx| {
        tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
        Ok(())
    })
    .unwrap();
    assert_eq!(BOMB_DROPS.load(Ordering::SeqCst), before + 2);
}

#[test]
fn aborted_attempts_give_their_global_root_slots_back() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    // Far more aborted attempts than there are global root slots (65,536).
    for _ in 0..70_000 {
        let _ = m.transaction(|tx| {
            let c = tx.alloc(Cell { value: Value::new(0), next: Ref::null() })?;
            let _g = tx.global_root(c);
            Err::<(), _>(Abort::User(()))
        });
    }
    let g = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(5), next: Ref::null() })?;
            Ok(tx.global_root(c))
        })
        .unwrap();
    let v = m
        .transaction::<_, ()>(|tx| {
            let c = tx.get_global(&g)?;
            Ok(tx.get(c, |c| &c.value)?)
        })
        .unwrap();
    assert_eq!(v, 5);
}

/// An object whose fields own memory off the heap.
#[derive(Trace)]
struct Holder {
    first: Value<i64>,
    boxed: Box<Cell>,
    words: Vec<Value<i64>>,
    last: Ref<Cell>,
}

/// A field projection that returns anything but a field of the object
/// passed in is a clear panic on every accessor, never a read or write
/// elsewhere: a field behind one of the object's own pointers (a `Box`'s,
/// a `Vec`'s buffer), or of an object off the heap. The folded test of
/// `check_field` (one unsigned comparison on the field's offset, which
/// wraps for an address below the object) must still refuse them.
#[test]
fn a_projection_outside_the_object_panics_on_every_accessor() {
    let outside: &'static Cell = Box::leak(Box::new(Cell { value: Value::new(0), next: Ref::null() }));
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = || Holder {
        first: Value::new(1),
        boxed: Box::new(Cell { value: Value::new(2), next: Ref::null() }),
        words: vec![Value::new(3), Value::new(4)],
        last: Ref::null(),
    };
    let mut panics = |case: u8| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _ = m.transaction::<_, ()>(|tx| {
                let h = tx.alloc(holder())?;
                match case {
                    0 => drop(tx.load(h, |h| &h.boxed.next)?),
                    1 => tx.store(h, |h| &h.boxed.next, None)?,
                    2 => drop(tx.get(h, |h| &h.words[1])?),
                    3 => tx.set(h, |h| &h.words[0], 7)?,
                    4 => drop(tx.load(h, |_| &outside.next)?),
                    _ => tx.set(h, |_| &outside.value, 7)?,
                }
                Ok(())
            });
        }));
        let msg = r.expect_err("a projection outside the object must panic");
        let msg = msg.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| msg.downcast_ref::<String>().cloned());
        assert!(
            msg.as_deref().is_some_and(|s| s.contains("field projection must return a field")),
            "case {case}: {msg:?}"
        );
    };
    for case in 0..6 {
        panics(case);
    }
    // The object's own fields, first and last, are accepted.
    let v = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(holder())?;
            let c = tx.alloc(Cell { value: Value::new(5), next: Ref::null() })?;
            tx.store(h, |h| &h.last, Some(c))?;
            tx.set(h, |h| &h.first, 6)?;
            Ok(tx.get(h, |h| &h.first)? + i64::from(tx.load(h, |h| &h.last)?.is_some()))
        })
        .unwrap();
    assert_eq!(v, 7);
}

#[test]
fn a_transaction_and_its_heap_print_with_debug() {
    // Structs that hold them can derive Debug (missing_debug_implementations
    // is enforced on the library crates).
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let s = m
        .transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            let r = tx.root(c);
            Ok(format!("{tx:?} {c:?} {r:?}"))
        })
        .unwrap();
    assert!(s.starts_with("Tx { solo: "), "{s}");
    assert!(format!("{heap:?}").starts_with("Heap { space: Space { heap_bytes: "), "{heap:?}");
    assert!(format!("{m:?}").contains("commits: 1"), "{m:?}");
}

#[derive(Trace)]
struct Kids {
    kids: Vec<Ref<Cell>>,
}

/// Where the misuse panics below were raised, by message.
static PANIC_SITES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

#[test]
fn misuse_panics_name_the_callers_line() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        let msg = msg.unwrap_or_default();
        if let Some(l) = info.location() {
            PANIC_SITES.lock().unwrap().push((msg, l.file().to_string()));
        }
        previous(info);
    }));
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let arr_ty = DynType::register(DynTypeSpec::new("misuse array").array(tmgc::Elems::Tagged)).unwrap();
    // A projection to a reference outside the object (in a `Vec` it owns).
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let k = tx.alloc(Kids { kids: vec![Ref::null()] })?;
            tx.store(k, |k| &k.kids[0], None)?;
            Ok(())
        })
    }));
    assert!(r.is_err());
    // An element index past an array's end.
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(arr_ty, 3)?;
            tx.elem(v, 3)?;
            Ok(())
        })
    }));
    assert!(r.is_err());
    // Not an array at all (the shape check), and an element of the wrong
    // type in a `RefArray` (RA2).
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            tx.array_len(c.into_dyn());
            Ok(())
        })
    }));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let kids = tmgc::RefArray::<Kids>::new(tx, 1)?;
            let c = tx.alloc(Cell { value: Value::new(1), next: Ref::null() })?;
            tx.set_elem_slot(kids.as_gc(), 0, Some(c.into_dyn()))?;
            kids.get(tx, 0)?;
            Ok(())
        })
    }));
    assert!(r.is_err());
    // Allocation with the wrong kind of type, each way round.
    let plain = DynType::register(DynTypeSpec::new("misuse plain").tagged_words(1).frozen()).unwrap();
    for arr in [true, false] {
        let r = catch_unwind(AssertUnwindSafe(|| {
            m.transaction::<_, ()>(|tx| {
                if arr {
                    tx.alloc_dyn(arr_ty)?;
                } else {
                    tx.alloc_array(plain, 1)?;
                }
                Ok(())
            })
        }));
        assert!(r.is_err());
    }
    // Initial contents that do not fit the type (IN1 of tx/init.rs): too
    // many words, elements for a type with none, elements of another kind
    // (through `alloc_bytes` too), a part of a `DynInit` given twice.
    for case in 0..6 {
        let r = catch_unwind(AssertUnwindSafe(|| {
            m.transaction::<_, ()>(|tx| {
                let one = [tmgc::Tagged::Null; 2];
                match case {
                    0 => tx.alloc_with(plain, tmgc::DynInit::new().tagged(&one))?,
                    1 => tx.alloc_with(plain, tmgc::DynInit::new().elem_words(&[1]))?,
                    2 => tx.alloc_with(arr_ty, tmgc::DynInit::new().elem_words(&[1]))?,
                    3 => tx.alloc_with(plain, tmgc::DynInit::new().tagged(&one[..1]).tagged(&one[..1]))?,
                    4 => tx.alloc_with(arr_ty, tmgc::DynInit::new().elems(&one).bytes(b"x"))?,
                    _ => tx.alloc_bytes(arr_ty, b"abc")?,
                };
                Ok(())
            })
        }));
        assert!(r.is_err());
    }
    // A write to a published object of a frozen type (F1).
    let frozen = m
        .transaction::<_, ()>(|tx| {
            let o = tx.alloc_dyn(plain)?;
            Ok(tx.root(o))
        })
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| {
            let o = tx.get_root(&frozen)?;
            tx.set_tagged(o, 0, tmgc::Tagged::int(1).unwrap())?;
            Ok(())
        })
    }));
    assert!(r.is_err());
    drop(std::panic::take_hook()); // the default hook again
    let sites = PANIC_SITES.lock().unwrap().clone();
    for what in [
        "field projection must return a field",
        "index 3 out of range",
        "is not an array",
        "written past `RefArray::set`",
        "is an array type",
        "is not an array type",
        "frozen",
        "2 tagged words given for a `misuse plain`, which has 1",
        "elements (Words) given for a `misuse plain`, which is not an array type",
        "Words elements given for a `misuse array`, an array of Tagged elements",
        "Bytes elements given for a `misuse array`, an array of Tagged elements",
        "DynInit: tagged words given twice",
        "DynInit: array elements given twice",
    ] {
        let (_, file) = sites.iter().find(|(m, _)| m.contains(what)).unwrap_or_else(|| panic!("{what}: {sites:?}"));
        assert!(file.ends_with("tx_misc.rs"), "{what} raised at {file}, not the caller's line");
    }
    // The heap is usable after both.
    assert_eq!(
        m.transaction::<_, ()>(|tx| Ok(tx.alloc(Cell { value: Value::new(3), next: Ref::null() }).map(|_| 3)?))
            .unwrap(),
        3
    );
}
