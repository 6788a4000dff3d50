//! Variable-length objects (issue 17): arrays of tagged values, reference
//! slots, data words and bytes, their length chosen at allocation, read and
//! written through transactions, kept by the collector, and traced in
//! chunks when large (AR1-AR3 of gc/src/array.rs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;

use quickcheck::{Arbitrary, Gen, QuickCheck};
use tmgc::{Abort, Config, Dyn, DynType, DynTypeSpec, Elems, GlobalRoot, Heap, MarkerKind, Tagged, TxError};
use tmgc_tests::{bounded, verified};

struct Types {
    vector: DynType,
    slots: DynType,
    words: DynType,
    string: DynType,
    pair: DynType,
}

fn types() -> &'static Types {
    static T: OnceLock<Types> = OnceLock::new();
    T.get_or_init(|| Types {
        // An interpreter's vector: a fixed data word (a tag), then tagged elements.
        vector: DynType::register(DynTypeSpec::new("Vector").data_words(1).array(Elems::Tagged)).unwrap(),
        slots: DynType::register(DynTypeSpec::new("Slots").ref_slots(1).array(Elems::Slots)).unwrap(),
        words: DynType::register(DynTypeSpec::new("Words").array(Elems::Words)).unwrap(),
        string: DynType::register(DynTypeSpec::new("String").array(Elems::Bytes)).unwrap(),
        pair: DynType::register(DynTypeSpec::new("Pair").tagged_words(2)).unwrap(),
    })
}

/// A list of `n` pairs holding `0..n`.
fn list<'tx>(tx: &mut tmgc::Tx<'tx>, n: u64) -> Result<Option<tmgc::Gc<'tx, Dyn>>, Abort<()>> {
    let mut head = None;
    for i in (0..n).rev() {
        let p = tx.alloc_dyn(types().pair)?;
        tx.set_tagged(p, 0, Tagged::int(i as i64).unwrap())?;
        if let Some(h) = head {
            tx.set_tagged(p, 1, Tagged::Ref(h))?;
        }
        head = Some(p);
    }
    Ok(head)
}

fn sum_list<'tx>(tx: &mut tmgc::Tx<'tx>, mut cur: Option<tmgc::Gc<'tx, Dyn>>) -> Result<i64, Abort<()>> {
    let mut s = 0;
    while let Some(c) = cur {
        let Tagged::Int(v) = tx.tagged(c, 0)? else { panic!("a list was freed (value is not an int)") };
        s += v.get();
        cur = match tx.tagged(c, 1)? {
            Tagged::Ref(n) => Some(n),
            Tagged::Null => None,
            other => panic!("a list was freed (next is {other:?})"),
        };
    }
    Ok(s)
}

#[test]
fn every_kind_reads_back_what_was_written() {
    let t = types();
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    let roots = m
        .transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(t.vector, 100)?;
            let s = tx.alloc_array(t.slots, 50)?;
            let w = tx.alloc_array(t.words, 30)?;
            let b = tx.alloc_bytes(t.string, b"hello")?;
            assert_eq!((tx.array_len(v), tx.array_len(s), tx.array_len(w), tx.array_len(b)), (100, 50, 30, 5));
            assert_eq!(tx.elem(v, 99)?, Tagged::Null, "a fresh array is null");
            assert_eq!(tx.elem_slot(s, 49)?, None);
            assert_eq!(tx.elem_word(w, 29)?, 0);
            for i in 0..100 {
                let x = if i % 3 == 0 { Tagged::Ref(list(tx, 3)?.unwrap()) } else { Tagged::int(i as i64).unwrap() };
                tx.set_elem(v, i, x)?;
            }
            for i in 0..50 {
                let l = list(tx, 4)?;
                tx.set_elem_slot(s, i, l)?;
            }
            for i in 0..30 {
                tx.set_elem_word(w, i, u64::MAX - i as u64)?;
            }
            tx.set_data(v, 0, 77)?;
            tx.set_slot(s, 0, Some(v))?;
            Ok((tx.global_root(v), tx.global_root(s), tx.global_root(w), tx.global_root(b)))
        })
        .unwrap();
    for _ in 0..3 {
        heap.collect().unwrap();
        // Written again through the log (published objects now).
        m.transaction::<_, ()>(|tx| {
            let (v, s, w, b) = (
                tx.get_global(&roots.0)?,
                tx.get_global(&roots.1)?,
                tx.get_global(&roots.2)?,
                tx.get_global(&roots.3)?,
            );
            let mut sum = 0;
            for i in 0..100 {
                sum += match tx.elem(v, i)? {
                    Tagged::Ref(l) => sum_list(tx, Some(l))?,
                    Tagged::Int(n) => n.get(),
                    other => panic!("element {i}: {other:?}"),
                };
            }
            assert_eq!(sum, (0..100).filter(|i| i % 3 != 0).sum::<i64>() + 34 * 3);
            for i in 0..50 {
                let l = tx.elem_slot(s, i)?;
                assert_eq!(sum_list(tx, l)?, 6);
            }
            assert_eq!(tx.slot(s, 0)?, Some(v));
            assert_eq!(tx.data(v, 0)?, 77);
            for i in 0..30 {
                assert_eq!(tx.elem_word(w, i)?, u64::MAX - i as u64);
            }
            let mut out = [0; 5];
            tx.read_bytes(b, 0, &mut out)?;
            assert_eq!(&out, b"hello");
            tx.set_byte(b, 0, b'j')?;
            assert_eq!(tx.byte(b, 0)?, b'j', "a write is read back in its own transaction");
            tx.set_byte(b, 0, b'h')?;
            Ok(())
        })
        .unwrap();
    }
    assert!(heap.stats().verify_failures.is_empty());
}

#[test]
fn misuse_panics_with_a_clear_message() {
    let t = types();
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let msg = |m: &mut tmgc::Mutator, f: &dyn Fn(&mut tmgc::Mutator)| -> String {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(m))).unwrap_err();
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let out_of_range = msg(&mut m, &|m| {
        let _ = m.transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(types().vector, 3)?;
            tx.elem(v, 3)?;
            Ok(())
        });
    });
    assert!(out_of_range.contains("index 3 out of range: the array has 3"), "{out_of_range}");
    let wrong_kind = msg(&mut m, &|m| {
        let _ = m.transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(types().words, 3)?;
            tx.elem(v, 0)?;
            Ok(())
        });
    });
    assert!(wrong_kind.contains("holds Words elements, not Tagged"), "{wrong_kind}");
    let not_array = msg(&mut m, &|m| {
        let _ = m.transaction::<_, ()>(|tx| {
            let p = tx.alloc_dyn(types().pair)?;
            tx.array_len(p);
            Ok(())
        });
    });
    assert!(not_array.contains("is not an array"), "{not_array}");
    let alloc_dyn = msg(&mut m, &|m| {
        let _ = m.transaction::<_, ()>(|tx| {
            tx.alloc_dyn(types().vector)?;
            Ok(())
        });
    });
    assert!(alloc_dyn.contains("allocate it with `alloc_array`"), "{alloc_dyn}");
    // Too large for memory: an error, not a panic or an overflow.
    let r = m.transaction::<_, ()>(|tx| Ok(tx.alloc_array(t.vector, usize::MAX / 4).map(|_| ())?));
    assert!(matches!(r, Err(TxError::Alloc(tmgc::AllocError::TooLarge { .. }))), "{r:?}");
}

/// Byte and word operations on random ranges, across committed and
/// aborted transactions, against a `Vec<u8>` model.
#[derive(Clone, Debug)]
enum Op {
    Write { at: usize, bytes: Vec<u8>, abort: bool },
    SetByte { at: usize, b: u8 },
    Read { at: usize, n: usize },
    Collect,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 8 {
            0..=2 => Op::Write { at: usize::arbitrary(g) % 200, bytes: Vec::arbitrary(g), abort: bool::arbitrary(g) },
            3 | 4 => Op::SetByte { at: usize::arbitrary(g) % 200, b: u8::arbitrary(g) },
            5 | 6 => Op::Read { at: usize::arbitrary(g) % 200, n: usize::arbitrary(g) % 40 },
            _ => Op::Collect,
        }
    }
}

#[test]
fn bytes_match_a_model() {
    fn prop(ops: Vec<Op>) -> bool {
        const LEN: usize = 203; // not a multiple of 8: the last word is partial
        let heap = Heap::new(verified()).unwrap();
        let mut m = heap.attach().unwrap();
        let s: GlobalRoot<Dyn> = m
            .transaction::<_, ()>(|tx| {
                let o = tx.alloc_array(types().string, LEN)?;
                Ok(tx.global_root(o))
            })
            .unwrap();
        let mut model = vec![0u8; LEN];
        for op in ops {
            match op {
                Op::Write { at, bytes, abort } => {
                    let bytes: Vec<u8> = bytes.into_iter().take(LEN - at).collect();
                    let r = m.transaction::<_, &str>(|tx| {
                        let o = tx.get_global(&s)?;
                        tx.write_bytes(o, at, &bytes)?;
                        if abort {
                            return Err(Abort::User("rolled back"));
                        }
                        Ok(())
                    });
                    if !abort {
                        r.unwrap();
                        model[at..at + bytes.len()].copy_from_slice(&bytes);
                    }
                }
                Op::SetByte { at, b } => {
                    m.transaction::<_, ()>(|tx| {
                        let o = tx.get_global(&s)?;
                        Ok(tx.set_byte(o, at, b)?)
                    })
                    .unwrap();
                    model[at] = b;
                }
                Op::Read { at, n } => {
                    let n = n.min(LEN - at);
                    let got = m
                        .transaction::<_, ()>(|tx| {
                            let o = tx.get_global(&s)?;
                            let mut out = vec![0; n];
                            tx.read_bytes(o, at, &mut out)?;
                            let one_by_one: Vec<u8> = (at..at + n).map(|i| tx.byte(o, i)).collect::<Result<_, _>>()?;
                            assert_eq!(out, one_by_one);
                            Ok(out)
                        })
                        .unwrap();
                    if got != model[at..at + n] {
                        return false;
                    }
                }
                Op::Collect => {
                    m.collect().unwrap();
                }
            }
        }
        let all = m
            .transaction::<_, ()>(|tx| {
                let o = tx.get_global(&s)?;
                let mut out = vec![0; LEN];
                tx.read_bytes(o, 0, &mut out)?;
                Ok(out)
            })
            .unwrap();
        all == model
    }
    QuickCheck::new().tests(60).quickcheck(prop as fn(Vec<Op>) -> bool);
}

/// A large array is traced in chunks (AR3): marking a 1M-element array
/// takes one unit of work per 4,096 elements, not one for the whole.
#[test]
fn a_large_array_is_traced_in_chunks() {
    let heap = Heap::new(verified().background(false)).unwrap();
    let mut m = heap.attach().unwrap();
    const N: usize = 1 << 20;
    let big = m
        .transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(types().vector, N)?;
            // References spread over every chunk.
            for i in (0..N).step_by(1000) {
                let l = list(tx, 2)?.unwrap();
                tx.set_elem(v, i, Tagged::Ref(l))?;
            }
            Ok(tx.global_root(v))
        })
        .unwrap();
    let c = m.collect().unwrap();
    let chunks = N / 4096;
    assert!(
        c.marked_objects as usize >= chunks + 2 * N.div_ceil(1000),
        "{} units of marking for {chunks} chunks",
        c.marked_objects
    );
    assert!(c.marked_bytes as usize >= N * 8, "the whole array's bytes count as marked ({})", c.marked_bytes);
    let sum = m
        .transaction::<_, ()>(|tx| {
            let v = tx.get_global(&big)?;
            let mut s = 0;
            for i in (0..N).step_by(1000) {
                let Tagged::Ref(l) = tx.elem(v, i)? else { panic!("element {i} lost") };
                s += sum_list(tx, Some(l))?;
            }
            Ok(s)
        })
        .unwrap();
    assert_eq!(sum, N.div_ceil(1000) as i64);
}

/// Where X moves inside the large array: tagged elements or slots.
#[derive(Clone, Copy)]
enum Kind {
    Tagged,
    Slots,
}

/// The adversarial move for array elements: X's only reference moves
/// between the first element of a large array (in the chunk the marker
/// traces first) and the last (traced last, after every filler list in
/// the chunks between), back and forth, while cycles run. The barrier on
/// element writes (AR2) keeps X; without it the verifier fails.
fn move_inside_a_large_array(kind: Kind, marker: MarkerKind) {
    bounded("array move", 300, move || {
        let t = types();
        // No giving way: on a crowded machine (tests run in parallel) the
        // mover would yield while marking runs, and only its first commit
        // of a cycle (white, covered by barrier (e)) would race the marker.
        let heap = Heap::new(verified().marker(marker).give_way(false)).unwrap();
        let mut m = heap.attach().unwrap();
        const N: usize = 5 * 4096;
        let arr = m
            .transaction::<_, ()>(|tx| {
                let a = match kind {
                    Kind::Tagged => tx.alloc_array(t.vector, N)?,
                    Kind::Slots => tx.alloc_array(t.slots, N)?,
                };
                for i in 1..N - 1 {
                    if i % 64 == 0 {
                        // About 100,000 objects between the first chunk and
                        // the last (the window of `tmgc_tests::FILLERS`).
                        let l = list(tx, 320)?;
                        match kind {
                            Kind::Tagged => tx.set_elem(a, i, l.map_or(Tagged::Null, Tagged::Ref))?,
                            Kind::Slots => tx.set_elem_slot(a, i, l)?,
                        }
                    }
                }
                let x = list(tx, 10)?;
                match kind {
                    Kind::Tagged => tx.set_elem(a, N - 1, Tagged::Ref(x.unwrap()))?,
                    Kind::Slots => tx.set_elem_slot(a, N - 1, x)?,
                }
                Ok(tx.global_root(a))
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let collector = {
            let (heap, stop) = (heap.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let r: Vec<_> = (0..40).map(|_| heap.collect()).collect();
                stop.store(true, Ordering::Relaxed);
                r
            })
        };
        // One transaction in 32 moves X; the others only read it. A
        // commit that stores X while its thread allocates white (the first
        // after a cycle's T) shades X by barrier (e), which would hide a
        // missing deletion barrier for the rest of the cycle: with reads in
        // between, some cycles begin with a read, and only barrier (a) on
        // element writes keeps X through their moves.
        let mut rng = tmgc_tests::rng(0xa77a);
        let mut moves = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let at = if moves % 2 == 0 { N - 1 } else { 0 };
            let mv = rng.u32(0..32) == 0;
            m.transaction::<_, ()>(|tx| {
                let a = tx.get_global(&arr)?;
                let (from, to) = (at, N - 1 - at);
                let x = match kind {
                    Kind::Tagged => {
                        let Tagged::Ref(x) = tx.elem(a, from)? else { panic!("X is where the last move put it") };
                        if mv {
                            tx.set_elem(a, to, Tagged::Ref(x))?;
                            tx.set_elem(a, from, Tagged::int(-1).unwrap())?;
                        }
                        x
                    }
                    Kind::Slots => {
                        let x = tx.elem_slot(a, from)?.expect("X is where the last move put it");
                        if mv {
                            tx.set_elem_slot(a, to, Some(x))?;
                            tx.set_elem_slot(a, from, None)?;
                        }
                        x
                    }
                };
                assert_eq!(sum_list(tx, Some(x))?, 45, "X's list was freed");
                Ok(())
            })
            .unwrap();
            moves += usize::from(mv);
        }
        for r in collector.join().unwrap() {
            r.unwrap();
        }
        assert!(moves > 20, "the mover ran during the cycles ({moves} moves)");
    });
}

#[test]
fn tagged_elements_moved_across_chunks_serial() {
    move_inside_a_large_array(Kind::Tagged, MarkerKind::Serial);
}

#[test]
fn slot_elements_moved_across_chunks_parallel() {
    move_inside_a_large_array(Kind::Slots, MarkerKind::Parallel(2));
}

#[test]
fn tagged_elements_moved_across_chunks_assisted() {
    move_inside_a_large_array(Kind::Tagged, MarkerKind::Assisted);
}

/// A 100 MB array in the large-object space: allocated, filled, kept
/// across cycles with every marker, and freed when dropped.
#[test]
fn a_hundred_megabyte_array() {
    let heap = Heap::new(verified().marker(MarkerKind::Parallel(2)).background(false)).unwrap();
    let mut m = heap.attach().unwrap();
    const N: usize = 100 << 20 >> 3; // 13,107,200 words
    let before = heap.space_stats().large_bytes;
    let big = m
        .transaction::<_, ()>(|tx| {
            let v = tx.alloc_array(types().vector, N)?;
            let l = list(tx, 10)?.unwrap();
            tx.set_elem(v, N - 1, Tagged::Ref(l))?;
            tx.set_elem(v, 0, Tagged::int(5).unwrap())?;
            Ok(tx.global_root(v))
        })
        .unwrap();
    assert!(heap.space_stats().large_bytes - before >= N * 8, "in the large-object space");
    for _ in 0..2 {
        m.collect().unwrap();
        let s = m
            .transaction::<_, ()>(|tx| {
                let v = tx.get_global(&big)?;
                let Tagged::Ref(l) = tx.elem(v, N - 1)? else { panic!("the last element was lost") };
                let first = matches!(tx.elem(v, 0)?, Tagged::Int(n) if n.get() == 5);
                Ok((sum_list(tx, Some(l))?, first))
            })
            .unwrap();
        assert_eq!(s, (45, true));
    }
    drop(big);
    m.collect().unwrap();
    m.collect().unwrap();
    assert!(heap.space_stats().large_bytes - before < N * 8, "freed once dropped");
}

/// A published array filled and re-read in one transaction: every write
/// is logged, and reads of written elements come from the log (through
/// its index: a linear scan made this quadratic, minutes at this size).
/// Then an aborted fill leaves the committed values.
#[test]
fn filling_a_published_array_in_one_transaction() {
    let heap = Heap::new(verified()).unwrap();
    let mut m = heap.attach().unwrap();
    const N: usize = 200_000;
    let a = m
        .transaction::<_, ()>(|tx| {
            let a = tx.alloc_array(types().words, N)?;
            Ok(tx.global_root(a))
        })
        .unwrap();
    let sum = m
        .transaction::<_, ()>(|tx| {
            let o = tx.get_global(&a)?;
            for i in 0..N {
                tx.set_elem_word(o, i, i as u64)?;
            }
            for i in (0..N).step_by(7) {
                tx.set_elem_word(o, i, 2 * i as u64)?; // a second write to the same word
            }
            let mut s = 0;
            for i in 0..N {
                s += tx.elem_word(o, i)?;
            }
            Ok(s)
        })
        .unwrap();
    let expect: u64 = (0..N as u64).map(|i| if i % 7 == 0 { 2 * i } else { i }).sum();
    assert_eq!(sum, expect);
    let r = m.transaction::<(), &str>(|tx| {
        let o = tx.get_global(&a)?;
        for i in 0..N {
            tx.set_elem_word(o, i, 0)?;
        }
        Err(Abort::User("undo"))
    });
    assert!(r.is_err());
    m.collect().unwrap();
    let again = m
        .transaction::<_, ()>(|tx| {
            let o = tx.get_global(&a)?;
            let mut s = 0;
            for i in 0..N {
                s += tx.elem_word(o, i)?;
            }
            Ok(s)
        })
        .unwrap();
    assert_eq!(again, expect, "the aborted fill left the committed values");
}
