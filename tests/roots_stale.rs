//! Handles carried out of an aborted attempt (issue 23): a `GlobalRoot` or a
//! `Root` created by an attempt that rolled back is stale, and using it
//! gives `RootMisuse::Stale`, never the object that reuses its slot.
//!
//! The handle audit (docs/TRANSACTIONS.md, "Handles that leave an aborted
//! attempt") points at these tests.

use quickcheck::{Arbitrary, Gen, QuickCheck};
use tmgc::{Abort, Config, GlobalRoot, Heap, Root, RootMisuse, Trace, TxError, Value};

#[derive(Trace)]
struct A {
    v: Value<u64>,
}

#[derive(Trace)]
struct B {
    w: Value<u64>,
    x: Value<u64>,
}

fn heap() -> Heap {
    Heap::new(Config::default()).unwrap()
}

/// The program of issue 23: before slot generations it read B's first word
/// through the stale `GlobalRoot<A>` (`Ok(0xdead)`).
#[test]
fn a_global_root_captured_from_an_aborted_attempt_is_stale() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let mut stale: Option<GlobalRoot<A>> = None;
    let r = m.transaction::<(), &str>(|tx| {
        let a = tx.alloc(A { v: Value::new(1) })?;
        stale = Some(tx.global_root(a));
        Err(Abort::User("abort on purpose"))
    });
    assert!(matches!(r, Err(TxError::Aborted("abort on purpose"))));
    let b = m
        .transaction::<_, ()>(|tx| {
            let b = tx.alloc(B { w: Value::new(0xdead), x: Value::new(7) })?;
            Ok(tx.global_root(b))
        })
        .unwrap();
    let r = m.transaction::<_, ()>(|tx| {
        let a = tx.get_global(stale.as_ref().unwrap())?;
        Ok(tx.get(a, |a| &a.v)?)
    });
    assert!(matches!(r, Err(TxError::Root(RootMisuse::Stale))), "{r:?}");
    // The slot's new owner is untouched.
    let w = m.transaction::<_, ()>(|tx| {
        let b = tx.get_global(&b)?;
        Ok((tx.get(b, |b| &b.w)?, tx.get(b, |b| &b.x)?))
    });
    assert_eq!(w.unwrap(), (0xdead, 7));
}

/// The second route (issue 24): the handle leaves the attempt as the user
/// error of `Abort::User`.
#[test]
fn a_global_root_carried_out_in_the_abort_error_is_stale() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let r = m.transaction::<(), GlobalRoot<A>>(|tx| {
        let a = tx.alloc(A { v: Value::new(1) })?;
        Err(Abort::User(tx.global_root(a)))
    });
    let Err(TxError::Aborted(stale)) = r else { panic!("the attempt aborts") };
    let _b = m
        .transaction::<_, ()>(|tx| {
            let b = tx.alloc(B { w: Value::new(0xdead), x: Value::new(7) })?;
            Ok(tx.global_root(b))
        })
        .unwrap();
    let r = m.transaction::<_, ()>(|tx| {
        let a = tx.get_global(&stale)?;
        Ok(tx.get(a, |a| &a.v)?)
    });
    assert!(matches!(r, Err(TxError::Root(RootMisuse::Stale))), "{r:?}");
}

/// A global root read inside the transaction that creates it is not set yet.
#[test]
fn a_global_root_is_unset_until_its_transaction_commits() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let r = m.transaction::<_, ()>(|tx| {
        let a = tx.alloc(A { v: Value::new(1) })?;
        let g = tx.global_root(a);
        Ok(tx.get_global(&g).map(|_| ()))
    });
    assert_eq!(r.unwrap(), Err(RootMisuse::Unset));
}

/// The same for a thread's own `Root`, by both routes.
#[test]
fn a_root_carried_out_of_an_aborted_attempt_is_stale() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let mut captured: Option<Root<A>> = None;
    let _ = m.transaction::<(), ()>(|tx| {
        let a = tx.alloc(A { v: Value::new(1) })?;
        captured = Some(tx.root(a));
        Err(Abort::User(()))
    });
    let r = m.transaction::<(), Root<A>>(|tx| {
        let a = tx.alloc(A { v: Value::new(2) })?;
        Err(Abort::User(tx.root(a)))
    });
    let Err(TxError::Aborted(in_error)) = r else { panic!("the attempt aborts") };
    let _b = m
        .transaction::<_, ()>(|tx| {
            let b = tx.alloc(B { w: Value::new(0xdead), x: Value::new(7) })?;
            Ok((tx.root(b), tx.root(b)))
        })
        .unwrap();
    for stale in [captured.as_ref().unwrap(), &in_error] {
        let r = m.transaction::<_, ()>(|tx| {
            let a = tx.get_root(stale)?;
            Ok(tx.get(a, |a| &a.v)?)
        });
        assert!(matches!(r, Err(TxError::Root(RootMisuse::Stale))), "{r:?}");
    }
}

/// The other side: a root made by a committed attempt stays valid through
/// later aborts, whichever commit path committed it. Each shape below takes
/// its own path (docs/TRANSACTIONS.md): with solo mode off, a read-only
/// attempt (its own short commit), one that writes one object (the
/// one-object commit), one that allocates (the general commit), one that
/// only roots; with solo mode on, the solo commit. A path that forgot to
/// commit the thread's new roots would leave them pending, and the next
/// abort would release them.
#[test]
fn a_root_from_every_commit_path_survives_a_later_abort() {
    // Under miri (CI) the concurrent paths only: the solo one is the
    // common path every other test takes.
    let modes: &[bool] = if cfg!(miri) { &[false] } else { &[false, true] };
    for &solo in modes {
        let heap = Heap::new(Config::default().solo(solo)).unwrap();
        let mut m = heap.attach().unwrap();
        let base = m
            .transaction::<_, ()>(|tx| {
                let a = tx.alloc(A { v: Value::new(5) })?;
                Ok(tx.root(a))
            })
            .unwrap();
        let mut roots = Vec::new();
        for shape in 0..4 {
            let r = m
                .transaction::<_, ()>(|tx| {
                    let a = tx.get_root(&base)?;
                    match shape {
                        0 => {
                            let _ = tx.get(a, |a| &a.v)?;
                            Ok(tx.root(a))
                        }
                        1 => {
                            let v = tx.get(a, |a| &a.v)?;
                            tx.set(a, |a| &a.v, v + 1)?;
                            Ok(tx.root(a))
                        }
                        2 => {
                            let n = tx.alloc(A { v: Value::new(100) })?;
                            Ok(tx.root(n))
                        }
                        _ => Ok(tx.root(a)),
                    }
                })
                .unwrap();
            roots.push((shape, r));
        }
        let aborted = m.transaction::<(), ()>(|tx| {
            let a = tx.get_root(&base)?;
            tx.set(a, |a| &a.v, 0)?;
            let _ = tx.root(a);
            Err(Abort::User(()))
        });
        assert!(matches!(aborted, Err(TxError::Aborted(()))));
        for (shape, r) in &roots {
            let v = m.transaction::<_, ()>(|tx| {
                let a = tx.get_root(r)?;
                Ok(tx.get(a, |a| &a.v)?)
            });
            let want = if *shape == 2 { 100 } else { 6 };
            assert_eq!(v.ok(), Some(want), "solo {solo}, shape {shape}: the committed root was lost");
        }
    }
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    /// Create a handle to a new object of type A (`kind == 0`) or B, in an
    /// attempt that commits or aborts; the handle leaves by capture or
    /// (for aborts) in the error.
    Create { global: bool, kind: u8, commit: bool, in_error: bool },
    /// Use handle `i % len`.
    Use(usize),
    /// Run a cycle (slots and memory are reused after it).
    Collect,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 8 {
            0..=3 => Op::Create {
                global: bool::arbitrary(g),
                kind: u8::arbitrary(g) % 2,
                commit: bool::arbitrary(g),
                in_error: bool::arbitrary(g),
            },
            4..=6 => Op::Use(usize::arbitrary(g)),
            _ => Op::Collect,
        }
    }
}

#[derive(Debug)]
enum Handle {
    GlobalA(GlobalRoot<A>),
    GlobalB(GlobalRoot<B>),
    RootA(Root<A>),
    RootB(Root<B>),
}

/// Runs `ops`; every committed handle reads its own object (its id in every
/// word), every aborted one is `Stale`.
fn run(ops: Vec<Op>) -> bool {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let mut handles: Vec<(Handle, Option<u64>)> = Vec::new();
    let mut next_id = 1u64;
    for op in ops {
        match op {
            Op::Create { global, kind, commit, in_error } => {
                let id = next_id;
                next_id += 1;
                let mut captured = None;
                let r = m.transaction::<(), Option<Handle>>(|tx| {
                    let h = if kind == 0 {
                        let a = tx.alloc(A { v: Value::new(id) })?;
                        if global {
                            Handle::GlobalA(tx.global_root(a))
                        } else {
                            Handle::RootA(tx.root(a))
                        }
                    } else {
                        let b = tx.alloc(B { w: Value::new(id), x: Value::new(id) })?;
                        if global {
                            Handle::GlobalB(tx.global_root(b))
                        } else {
                            Handle::RootB(tx.root(b))
                        }
                    };
                    if !commit && in_error {
                        return Err(Abort::User(Some(h)));
                    }
                    captured = Some(h);
                    if commit {
                        Ok(())
                    } else {
                        Err(Abort::User(None))
                    }
                });
                let h = match r {
                    Ok(()) | Err(TxError::Aborted(None)) => captured.take().unwrap(),
                    Err(TxError::Aborted(Some(h))) => h,
                    Err(e) => panic!("unexpected {e:?}"),
                };
                handles.push((h, commit.then_some(id)));
            }
            Op::Use(i) if !handles.is_empty() => {
                let (h, expect) = &handles[i % handles.len()];
                let r = m.transaction::<_, ()>(|tx| {
                    Ok(match h {
                        Handle::GlobalA(g) => {
                            let a = tx.get_global(g)?;
                            vec![tx.get(a, |a| &a.v)?]
                        }
                        Handle::GlobalB(g) => {
                            let b = tx.get_global(g)?;
                            vec![tx.get(b, |b| &b.w)?, tx.get(b, |b| &b.x)?]
                        }
                        Handle::RootA(r) => {
                            let a = tx.get_root(r)?;
                            vec![tx.get(a, |a| &a.v)?]
                        }
                        Handle::RootB(r) => {
                            let b = tx.get_root(r)?;
                            vec![tx.get(b, |b| &b.w)?, tx.get(b, |b| &b.x)?]
                        }
                    })
                });
                match (r, expect) {
                    (Ok(words), Some(id)) if words.iter().all(|w| w == id) => {}
                    (Err(TxError::Root(RootMisuse::Stale)), None) => {}
                    (r, expect) => {
                        eprintln!("handle expected {expect:?}, read {r:?}");
                        return false;
                    }
                }
            }
            Op::Use(_) => {}
            Op::Collect => {
                m.collect().unwrap();
            }
        }
    }
    true
}

#[test]
fn no_stale_handle_reads_another_object() {
    let runs = if cfg!(miri) { 4 } else { 200 };
    QuickCheck::new().tests(runs).max_tests(runs).quickcheck(run as fn(Vec<Op>) -> bool);
}
