//! `TVec`, the growable vector built on arrays (issue 17): against a
//! `Vec` model across transactions, aborts and cycles; and two threads
//! pushing to one vector concurrently lose no push.

use quickcheck::{Arbitrary, Gen, QuickCheck};
use tmgc::{Abort, GlobalRoot, Heap, TVec, Tagged};
use tmgc_tests::{bounded, verified};

#[derive(Clone, Debug)]
enum Op {
    Push(i32),
    Pop,
    Set(usize, i32),
    /// Push these, then abort: nothing changes.
    AbortedPushes(u8),
    Collect,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 10 {
            0..=4 => Op::Push(i32::arbitrary(g)),
            5 | 6 => Op::Pop,
            7 => Op::Set(usize::arbitrary(g) % 64, i32::arbitrary(g)),
            8 => Op::AbortedPushes(u8::arbitrary(g) % 20),
            _ => Op::Collect,
        }
    }
}

fn contents(m: &mut tmgc::Mutator, v: &GlobalRoot<tmgc::Dyn>) -> Vec<i64> {
    m.transaction::<_, ()>(|tx| {
        let v = TVec::from_gc(tx.get_global(v)?).expect("a TVec");
        let mut out = Vec::new();
        for i in 0..v.len(tx)? {
            let Some(Tagged::Int(n)) = v.get(tx, i)? else { panic!("element {i} is an int") };
            out.push(n.get());
        }
        assert_eq!(v.get(tx, out.len())?, None);
        Ok(out)
    })
    .unwrap()
}

#[test]
fn tvec_matches_a_vec() {
    fn prop(ops: Vec<Op>) -> bool {
        let heap = Heap::new(verified()).unwrap();
        let mut m = heap.attach().unwrap();
        let v = m
            .transaction::<_, ()>(|tx| {
                let v = TVec::new(tx, 0)?;
                Ok(tx.global_root(v.as_gc()))
            })
            .unwrap();
        let mut model: Vec<i64> = Vec::new();
        for op in ops {
            match op {
                Op::Push(x) => {
                    m.transaction::<_, ()>(|tx| {
                        let t = TVec::from_gc(tx.get_global(&v)?).unwrap();
                        t.push(tx, Tagged::int(x.into()).unwrap())
                    })
                    .unwrap();
                    model.push(x.into());
                }
                Op::Pop => {
                    let got = m
                        .transaction::<_, ()>(|tx| {
                            let t = TVec::from_gc(tx.get_global(&v)?).unwrap();
                            Ok(t.pop(tx)?.map(|x| match x {
                                Tagged::Int(n) => n.get(),
                                other => panic!("{other:?}"),
                            }))
                        })
                        .unwrap();
                    if got != model.pop() {
                        return false;
                    }
                }
                Op::Set(i, x) => {
                    if i < model.len() {
                        m.transaction::<_, ()>(|tx| {
                            let t = TVec::from_gc(tx.get_global(&v)?).unwrap();
                            Ok(t.set(tx, i, Tagged::int(x.into()).unwrap())?)
                        })
                        .unwrap();
                        model[i] = x.into();
                    }
                }
                Op::AbortedPushes(n) => {
                    let r = m.transaction::<(), &str>(|tx| {
                        let t = TVec::from_gc(tx.get_global(&v)?).unwrap();
                        for k in 0..n {
                            t.push(tx, Tagged::int(k.into()).unwrap())?;
                        }
                        Err(Abort::User("undo"))
                    });
                    assert!(r.is_err());
                }
                Op::Collect => {
                    m.collect().unwrap();
                }
            }
        }
        contents(&mut m, &v) == model
    }
    QuickCheck::new().tests(80).quickcheck(prop as fn(Vec<Op>) -> bool);
}

/// Two threads push 20,000 values each into one vector (growing it many
/// times) while cycles run: conflicts retry, nothing is lost or doubled.
#[test]
fn concurrent_pushes_lose_nothing() {
    bounded("concurrent pushes", 120, || {
        let heap = Heap::new(verified()).unwrap();
        let v = heap
            .attach()
            .unwrap()
            .transaction::<_, ()>(|tx| {
                let v = TVec::new(tx, 1)?;
                Ok(tx.global_root(v.as_gc()))
            })
            .unwrap();
        let threads: Vec<_> = (0..2i64)
            .map(|t| {
                let (heap, v) = (heap.clone(), v.clone());
                std::thread::spawn(move || {
                    let mut m = heap.attach().unwrap();
                    for i in 0..20_000 {
                        m.transaction::<_, ()>(|tx| {
                            let t2 = TVec::from_gc(tx.get_global(&v)?).unwrap();
                            t2.push(tx, Tagged::int(t * 1_000_000 + i).unwrap())
                        })
                        .unwrap();
                        if i % 5_000 == 0 {
                            m.collect().unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut m = heap.attach().unwrap();
        let mut all = contents(&mut m, &v);
        assert_eq!(all.len(), 40_000);
        // Each thread's values appear in its own order.
        for t in 0..2 {
            let mine: Vec<_> = all.iter().filter(|&&x| x / 1_000_000 == t).map(|x| x % 1_000_000).collect();
            assert_eq!(mine, (0..20_000).collect::<Vec<_>>());
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 40_000);
    });
}
