//! References in tagged words (issue 22): a tagged word is a reference word
//! for the collector (TG2, TG3 of gc/src/tagged.rs), so moving the only
//! reference to an object between tagged words (or reference slots) while
//! marking runs loses nothing, with every marker.
//!
//! Before tagged words, an interpreter kept such references in data words
//! and reported them from a trace callback; the commit barrier did not
//! shade overwritten data words, and this very program (with data words)
//! had the verifier fail within 1 to 13 cycles. With barrier (a)'s shading
//! of overwritten words disabled for dynamic objects (checked once, on
//! 2026-12-01), all four tests below failed: the verified ones with "heap
//! verification failed: ... object ... of type `Pair`, reachable through
//! ..., is not marked: the sweep would free it", the unverified one with
//! "X's list was freed (next is Imm(...))" (the mover read freed, poisoned
//! memory; with 3 tag bits a debug build now stops at the read: "a tagged
//! word tmgc never wrote").
//!
//! The mover must not upgrade X's weak cell while marking runs: a weak read
//! during marking shades its referent, which hid the broken barrier in the
//! first version of this test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use tmgc::{Config, Dyn, DynType, DynTypeSpec, GlobalRoot, Heap, MarkerKind, Ref, Tagged, TaggedField, Trace, Weak};

use tmgc_tests::{FILLERS, FILLER_NODES};

/// `last` is scanned first and `first` after every filler chain (the
/// window of `tmgc_tests::FILLERS`).
#[derive(Trace)]
struct Wide {
    first: Ref<Dyn>,
    fillers: [Ref<Dyn>; FILLERS],
    last: Ref<Dyn>,
}

struct Types {
    /// An interpreter's pair: tagged word 0 the value, 1 the next pair.
    pair: DynType,
    /// A holder: slot 0 or tagged word 0 holds the only reference to X; a
    /// data word that is plain data.
    holder: DynType,
}

fn types() -> Types {
    Types {
        pair: DynType::register(DynTypeSpec::new("Pair").tagged_words(2)).unwrap(),
        holder: DynType::register(DynTypeSpec::new("Holder").ref_slots(1).tagged_words(1).data_words(1)).unwrap(),
    }
}

/// A list of `n` pairs holding `0..n`, built in one transaction.
fn list<'tx>(tx: &mut tmgc::Tx<'tx>, pair: DynType, n: u64) -> Result<Option<tmgc::Gc<'tx, Dyn>>, tmgc::Abort<()>> {
    let mut head = None;
    for i in (0..n).rev() {
        let p = tx.alloc_dyn(pair)?;
        tx.set_tagged(p, 0, Tagged::int(i as i64).unwrap())?;
        if let Some(h) = head {
            tx.set_tagged(p, 1, Tagged::Ref(h))?;
        }
        head = Some(p);
    }
    Ok(head)
}

/// Where the mover keeps X: a tagged word, or a reference slot.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Tagged,
    Slot,
    /// A `TaggedField` of a Rust-typed holder (`FieldHolder`).
    Field,
}

/// A Rust-typed holder: its tagged field holds X, or an integer.
#[derive(Trace)]
struct FieldHolder {
    x: TaggedField,
    data: tmgc::Value<u64>,
}

/// The holder `h` is, as a `FieldHolder` (`Via::Field`).
fn typed(h: tmgc::Gc<'_, Dyn>) -> tmgc::Gc<'_, FieldHolder> {
    h.downcast::<FieldHolder>().expect("a FieldHolder")
}

fn run(config: Config, marker: &str, via: Via) {
    let t = types();
    let heap = Heap::new(config).unwrap();
    let mut m = heap.attach().unwrap();
    let (wide, weak_x): (GlobalRoot<Wide>, GlobalRoot<Weak<Dyn>>) = m
        .transaction::<_, ()>(|tx| {
            let x = list(tx, t.pair, 10)?.unwrap(); // X and its list: values sum to 45
            let (first, last) = match via {
                Via::Field => {
                    let holder = || FieldHolder { x: TaggedField::null(), data: tmgc::Value::new(0) };
                    let (first, last) = (tx.alloc(holder())?, tx.alloc(holder())?);
                    tx.store_tagged(first, |h| &h.x, Tagged::Ref(x))?;
                    (first.into_dyn(), last.into_dyn())
                }
                _ => (tx.alloc_dyn(t.holder)?, tx.alloc_dyn(t.holder)?),
            };
            match via {
                Via::Tagged => tx.set_tagged(first, 0, Tagged::Ref(x))?,
                Via::Slot => tx.set_slot(first, 0, Some(x))?,
                Via::Field => {}
            }
            let w = tx.alloc(Wide {
                first: Ref::null(),
                fillers: std::array::from_fn(|_| Ref::null()),
                last: Ref::null(),
            })?;
            for i in 0..FILLERS {
                let c = list(tx, t.pair, FILLER_NODES)?;
                tx.store(w, |w| &w.fillers[i], c)?;
            }
            tx.store(w, |w| &w.first, Some(first))?;
            tx.store(w, |w| &w.last, Some(last))?;
            let weak = tx.new_weak(Some(x))?;
            Ok((tx.global_root(w), tx.global_root(weak)))
        })
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, stop) = (heap.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let results: Vec<_> = (0..30).map(|_| heap.collect()).collect();
            stop.store(true, Ordering::Relaxed);
            results
        })
    };
    // One transaction in 32 moves X; the others only read it. A commit
    // that stores X while its thread allocates white (the first after a
    // cycle's T) shades X by barrier (e), which hides a missing deletion
    // barrier for the rest of that cycle; with reads in between, some
    // cycles begin with a read, and only barrier (a) keeps X through the
    // moves that follow (found 2026-12-01: with X moved by every
    // transaction, these tests passed with barrier (a) disabled).
    let mut rng = tmgc_tests::rng(0x7a66);
    let mut moves = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mv = rng.u32(0..32) == 0;
        m.transaction::<_, ()>(|tx| {
            let w = tx.get_global(&wide)?;
            let (first, last) = (tx.load(w, |w| &w.first)?.unwrap(), tx.load(w, |w| &w.last)?.unwrap());
            let (from, to) = if moves % 2 == 0 { (first, last) } else { (last, first) };
            // Copy X into the holder the marker scanned first, then delete
            // it from the one it reaches last (the data word changes too:
            // plain data, never a reference). Through a tagged word, X's
            // old word becomes an immediate.
            let x = match via {
                Via::Tagged => {
                    let Tagged::Ref(x) = tx.tagged(from, 0)? else { panic!("X is where the last move put it") };
                    if mv {
                        tx.set_tagged(to, 0, Tagged::Ref(x))?;
                        tx.set_tagged(from, 0, Tagged::int(-1).unwrap())?;
                    }
                    x
                }
                Via::Slot => {
                    let x = tx.slot(from, 0)?.expect("X is where the last move put it");
                    if mv {
                        tx.set_slot(to, 0, Some(x))?;
                        tx.set_slot(from, 0, None)?;
                    }
                    x
                }
                Via::Field => {
                    let (from, to) = (typed(from), typed(to));
                    let Tagged::Ref(x) = tx.load_tagged(from, |h| &h.x)? else {
                        panic!("X is where the last move put it")
                    };
                    if mv {
                        tx.store_tagged(to, |h| &h.x, Tagged::Ref(x))?;
                        tx.store_tagged(from, |h| &h.x, Tagged::int(-1).unwrap())?;
                    }
                    x
                }
            };
            if mv {
                match via {
                    Via::Field => tx.set(typed(to), |h| &h.data, moves)?,
                    _ => tx.set_data(to, 0, moves)?,
                }
            }
            // X's list is intact, and X's weak cell still finds it.
            let (mut cur, mut sum) = (Some(x), 0);
            while let Some(c) = cur {
                let Tagged::Int(v) = tx.tagged(c, 0)? else { panic!("X's list was freed (a value is not an int)") };
                sum += v.get();
                cur = match tx.tagged(c, 1)? {
                    Tagged::Ref(n) => Some(n),
                    Tagged::Null => None,
                    other => panic!("X's list was freed (next is {other:?})"),
                };
            }
            assert_eq!(sum, 45, "X or its list was freed");
            // (No weak upgrade here: during marking it shades X, which
            // would hide a missing barrier. X's cell is checked after.)
            Ok(())
        })
        .unwrap();
        moves += u64::from(mv);
    }
    for r in collector.join().unwrap() {
        r.unwrap_or_else(|e| panic!("{marker}: {e}"));
    }
    // A cycle that found X unmarked cleared its weak cell.
    let kept = m.transaction::<_, ()>(|tx| {
        let cell = tx.get_global(&weak_x)?;
        Ok(tx.upgrade(cell)?.is_some())
    });
    assert!(kept.unwrap(), "{marker}: X's weak cell was cleared while X was reachable");
    assert!(moves > 30, "the mover ran during the cycles ({moves} moves)");
}

/// No giving way: on a crowded machine (tests run in parallel) the mover
/// would yield while marking runs and rarely race the marker.
fn verified(marker: MarkerKind) -> Config {
    Config::default().verify(true).marker(marker).give_way(false)
}

#[test]
fn tagged_references_moved_behind_the_marker_serial() {
    run(verified(MarkerKind::Serial), "serial", Via::Tagged);
}

#[test]
fn tagged_references_moved_behind_the_marker_parallel() {
    run(verified(MarkerKind::Parallel(2)), "parallel", Via::Tagged);
}

#[test]
fn tagged_references_moved_behind_the_marker_assisted() {
    run(verified(MarkerKind::Assisted), "assisted", Via::Tagged);
}

/// The same move through dynamic reference slots (`set_slot`).
#[test]
fn slot_references_moved_behind_the_marker() {
    run(verified(MarkerKind::Serial), "serial, slots", Via::Slot);
}

/// The same move through a `TaggedField` of a Rust-typed holder.
#[test]
fn tagged_field_references_moved_behind_the_marker() {
    run(verified(MarkerKind::Serial), "serial, typed fields", Via::Field);
}

/// The same in generational mode (young cycles trace from the remembered
/// set, which a typed field's commit records as a tagged word's).
#[test]
fn tagged_field_references_moved_behind_the_marker_generational() {
    run(verified(MarkerKind::Serial).generational(true), "serial, typed fields, generational", Via::Field);
}

/// With the verifier off, a lost X would be swept: its words poisoned
/// (debug builds) or reused, which the mover's checksum sees, and its weak
/// cell cleared, which the check after the cycles sees.
#[test]
fn tagged_references_moved_behind_the_marker_unverified() {
    run(Config::default().verify(false).give_way(false), "serial, no verifier", Via::Tagged);
}

/// A `TaggedField` is traced: an object held only through one survives
/// cycles whole, and dies once the field holds an integer instead.
#[test]
fn a_tagged_field_keeps_its_referent_and_only_while_it_holds_it() {
    let t = types();
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let (holder, weak) = m
        .transaction::<_, ()>(|tx| {
            let x = list(tx, t.pair, 10)?.unwrap();
            let h = tx.alloc(FieldHolder { x: TaggedField::null(), data: tmgc::Value::new(0) })?;
            tx.store_tagged(h, |h| &h.x, Tagged::Ref(x))?;
            let w = tx.new_weak(Some(x))?;
            Ok((tx.root(h), tx.root(w)))
        })
        .unwrap();
    for _ in 0..2 {
        m.collect().unwrap();
    }
    let (sum, alive) = m
        .transaction::<_, ()>(|tx| {
            let h = tx.get_root(&holder)?;
            let mut cur = tx.load_tagged(h, |h| &h.x)?.as_gc();
            let mut sum = 0;
            while let Some(c) = cur {
                sum += tx.tagged(c, 0)?.as_int().expect("X's list intact");
                cur = tx.tagged(c, 1)?.as_gc();
            }
            let w = tx.get_root(&weak)?;
            Ok((sum, tx.upgrade(w)?.is_some()))
        })
        .unwrap();
    assert_eq!((sum, alive), (45, true), "X, held only by the tagged field, was freed");
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_root(&holder)?;
        tx.store_tagged(h, |h| &h.x, Tagged::int(7).unwrap())?;
        Ok(())
    })
    .unwrap();
    for _ in 0..2 {
        m.collect().unwrap();
    }
    let gone = m.transaction::<_, ()>(|tx| {
        let w = tx.get_root(&weak)?;
        Ok(tx.upgrade(w)?.is_none())
    });
    assert!(gone.unwrap(), "X lived on after the field stopped holding it");
}
