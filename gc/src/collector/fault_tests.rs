//! Injected faults in the mutators' stages (`crate::fault`): a panic
//! before a commit point rolls the transaction back (FT1), one at or after
//! it rolls the commit forward (FT2), a thread that panics mid-handshake is
//! answered for (FT3), a refused mapping is an allocation error (FT5). In
//! every case the test checks that nothing is lost (every committed effect
//! is there, the verifier agrees), nothing leaks (every object dies once
//! unreachable: the drop count), and nothing deadlocks (the same objects
//! commit again, cycles complete; a stuck step fails after `STUCK`).
//! The collector's points (FT4) are in `panic_tests.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use super::test_support::{hold_at, Tally};
use super::Hold;
use crate::fault::{FaultPoint, INJECTED};
use crate::*;

#[derive(Trace)]
struct Acct {
    bal: Value<u64>,
}

#[derive(Trace)]
struct Node {
    val: Value<u64>,
    next: Ref<Node>,
    tally: NoTrace<Tally>,
}

/// Each account's first balance (room for every transfer of the tests).
const START: u64 = 1 << 32;

/// Long enough for any step here on a loaded machine; only a thread
/// blocked for good takes it.
const STUCK: Duration = Duration::from_secs(60);

/// Run `f` on a thread of its own and fail if it does not return in time.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(STUCK).unwrap_or_else(|_| panic!("stuck: {what}"))
}

/// Which commit path the faulting transaction takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// One thread, solo mode: the inlined solo commit (no new object).
    Solo,
    /// Solo mode, with new objects: the general commit without locks.
    SoloNew,
    /// Solo off, one object written: `commit_one`.
    One,
    /// Solo off, two accounts written and a node pushed: the general commit.
    General,
    /// As `General`, inevitable.
    Inevitable,
    /// As `General`, while a cycle is held in marking (barrier on).
    Marking,
    /// Read-only, creating a root (barrier (b) only).
    ReadOnly,
    /// Solo off, ownership on: one account written (so owned after the
    /// history's commits) and the other read: `commit_owned`, which
    /// validates the read.
    Owned,
    /// As `Owned` without the other account's read: the read set is
    /// empty, so the owned-only commit is the solo one (OW3).
    OwnedOnly,
}

impl Path {
    /// The paths whose commits write objects, one of each commit function.
    const WRITING: [Path; 7] =
        [Path::Solo, Path::SoloNew, Path::One, Path::General, Path::Inevitable, Path::Owned, Path::OwnedOnly];

    fn owned(self) -> bool {
        matches!(self, Path::Owned | Path::OwnedOnly)
    }
}

struct World {
    a: Root<Acct>,
    b: Root<Acct>,
    list: Root<Node>,
    made: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl World {
    fn new(m: &mut Mutator) -> World {
        let (made, dropped) = (Arc::new(AtomicUsize::new(1)), Arc::new(AtomicUsize::new(0)));
        let d = Arc::clone(&dropped); // the list's head: made above
        let (a, b, list) = m
            .transaction::<_, ()>(|tx| {
                let a = tx.alloc(Acct { bal: Value::new(START) })?;
                let b = tx.alloc(Acct { bal: Value::new(START) })?;
                let l =
                    tx.alloc(Node { val: Value::new(0), next: Ref::null(), tally: NoTrace(Tally(Arc::clone(&d))) })?;
                Ok((tx.root(a), tx.root(b), tx.root(l)))
            })
            .unwrap();
        World { a, b, list, made, dropped }
    }

    /// The drop counter of a new node, counted as made (an attempt that
    /// rolls back makes one too, and drops it).
    fn tally(&self) -> NoTrace<Tally> {
        self.made.fetch_add(1, Ordering::SeqCst);
        NoTrace(Tally(Arc::clone(&self.dropped)))
    }

    /// The transaction of `path`: move 1 from a to b (or add 1 to a), push
    /// a node (for the paths with new objects), root something (read-only).
    fn step(&self, m: &mut Mutator, path: Path, n: u64) -> Result<Option<Root<Acct>>, TxError<()>> {
        let news = matches!(path, Path::SoloNew | Path::General | Path::Inevitable | Path::Marking);
        m.transaction::<_, ()>(|tx| {
            if path == Path::Inevitable {
                tx.become_inevitable()?;
            }
            let a = tx.get_root(&self.a)?;
            if path == Path::ReadOnly {
                let _ = tx.get(a, |a| &a.bal)?;
                return Ok(Some(tx.root(a)));
            }
            let x = tx.get(a, |a| &a.bal)?;
            if path.owned() {
                tx.set(a, |a| &a.bal, x + 1)?;
                if path == Path::Owned {
                    let b = tx.get_root(&self.b)?;
                    let _ = tx.get(b, |b| &b.bal)?;
                }
                return Ok(None);
            }
            if path == Path::One || path == Path::Solo {
                tx.set(a, |a| &a.bal, x + 1)?;
                if path == Path::Solo {
                    let b = tx.get_root(&self.b)?;
                    let y = tx.get(b, |b| &b.bal)?;
                    tx.set(b, |b| &b.bal, y - 1)?; // two words: write-back stops between them
                }
                return Ok(None);
            }
            if news {
                self.step_in(tx, n)?;
            } else {
                let b = tx.get_root(&self.b)?;
                let y = tx.get(b, |b| &b.bal)?;
                tx.set(a, |a| &a.bal, x - 1)?;
                tx.set(b, |b| &b.bal, y + 1)?;
            }
            Ok(None)
        })
    }

    /// Move 1 from a to b and push a node holding `n`, in `tx`.
    fn step_in<E>(&self, tx: &mut Tx<'_>, n: u64) -> Result<(), Abort<E>> {
        let (a, b) = (tx.get_root(&self.a)?, tx.get_root(&self.b)?);
        let (x, y) = (tx.get(a, |a| &a.bal)?, tx.get(b, |b| &b.bal)?);
        tx.set(a, |a| &a.bal, x - 1)?;
        tx.set(b, |b| &b.bal, y + 1)?;
        let l = tx.get_root(&self.list)?;
        let first = tx.load(l, |l| &l.next)?;
        let node = tx.alloc(Node { val: Value::new(n), next: Ref::null(), tally: self.tally() })?;
        tx.store(node, |x| &x.next, first)?;
        tx.store(l, |l| &l.next, Some(node))?;
        Ok(())
    }

    /// (a + b, a, the list's values newest first).
    fn read(&self, m: &mut Mutator) -> (u64, u64, Vec<u64>) {
        m.transaction::<_, ()>(|tx| {
            let (a, b) = (tx.get_root(&self.a)?, tx.get_root(&self.b)?);
            let (x, y) = (tx.get(a, |a| &a.bal)?, tx.get(b, |b| &b.bal)?);
            let mut vals = Vec::new();
            let l = tx.get_root(&self.list)?;
            let mut cur = tx.load(l, |l| &l.next)?;
            while let Some(c) = cur {
                vals.push(tx.get(c, |c| &c.val)?);
                cur = tx.load(c, |c| &c.next)?;
            }
            Ok((x + y, x, vals))
        })
        .unwrap()
    }
}

/// Arm `point`, run `path`'s transaction until the fault fires, and check
/// FT1 (Validate) or FT2 (the others).
fn transaction_fault(point: FaultPoint, path: Path) {
    // Ownership off but for the owned paths: the same record written in
    // commit after commit would be owned, and an owned-only commit has no
    // validation (OW3 of `owned`), so the other paths would not reach
    // their fault points.
    let config = Config::default().verify(true).solo(matches!(path, Path::Solo | Path::SoloNew)).owned(path.owned());
    let heap = Heap::new(config).unwrap();
    let mut m = heap.attach().unwrap();
    let w = World::new(&mut m);
    // Some history first, committed normally.
    for n in 1..=5 {
        w.step(&mut m, path, n).unwrap();
    }
    let before = w.read(&mut m);
    if path.owned() {
        // The history's commits took account a; `read` did not ask (the
        // owner's own reads).
        let c = heap.tx_counts();
        assert!(c.owned_taken >= 1 && c.owned_asked == 0, "{point:?} on {path:?}: a is owned: {c:?}");
    }

    // For `Marking`: hold a cycle before its close, every thread's barrier on.
    let cycle = (path == Path::Marking).then(|| hold_at(&heap, &mut m, Hold::BeforeClose));

    m.arm_fault(point);
    let r = catch_unwind(AssertUnwindSafe(|| w.step(&mut m, path, 99)));
    let msg = match r {
        Err(p) => p.downcast::<String>().map(|s| *s).unwrap_or_default(),
        Ok(r) => panic!("{point:?} on {path:?}: no fault fired ({:?})", r.map(|_| ())),
    };
    assert!(msg.starts_with(INJECTED), "{point:?} on {path:?}: {msg}");

    if let Some(t) = cycle {
        heap.inner.collector.hold.store(0, Ordering::SeqCst);
        let done = within("the held cycle", move || t.join().unwrap());
        done.expect("the held cycle verifies");
    }

    // FT1 or FT2: the effects are all absent, or all present.
    let after = w.read(&mut m);
    let forward = point != FaultPoint::Validate;
    let mut want = before.clone();
    if forward {
        match path {
            Path::ReadOnly => {}
            Path::One | Path::Owned | Path::OwnedOnly => {
                want.0 += 1;
                want.1 += 1;
            }
            Path::Solo => want.1 += 1,
            _ => {
                want.1 -= 1;
                want.2.insert(0, 99);
            }
        }
    }
    assert_eq!(after, want, "{point:?} on {path:?}: rolled {}", if forward { "forward" } else { "back" });
    if !matches!(path, Path::One | Path::Owned | Path::OwnedOnly) {
        assert_eq!(after.0, 2 * START, "{point:?} on {path:?}: money made or lost");
    }

    // Nothing deadlocks: the same objects commit again, from another
    // thread too, and cycles complete and verify.
    w.step(&mut m, path, 100).unwrap();
    let h = heap.clone();
    let (a, b) = m
        .transaction::<_, ()>(|tx| {
            let (a, b) = (tx.get_root(&w.a)?, tx.get_root(&w.b)?);
            Ok((tx.global_root(a), tx.global_root(b)))
        })
        .unwrap();
    within("another thread writing the same accounts", move || {
        let mut m2 = h.attach().unwrap();
        m2.transaction::<_, ()>(|tx| {
            let (a, b) = (tx.get_global(&a)?, tx.get_global(&b)?);
            let (x, y) = (tx.get(a, |a| &a.bal)?, tx.get(b, |b| &b.bal)?);
            tx.set(a, |a| &a.bal, x + 1)?;
            tx.set(b, |b| &b.bal, y - 1)?;
            Ok(())
        })
        .unwrap();
    });
    let h = heap.clone();
    within("a cycle after the fault", move || h.collect()).expect("verified");

    // Nothing leaks: once unreachable, every node made is dropped, once.
    let World { a, b, list, made, dropped, .. } = w;
    drop((a, b, list));
    m.commit_point();
    for _ in 0..2 {
        let h = heap.clone();
        within("the last cycles", move || h.collect()).expect("verified");
    }
    assert_eq!(dropped.load(Ordering::SeqCst), made.load(Ordering::SeqCst), "{point:?} on {path:?}: drops");
    assert!(heap.stats().verify_failures.is_empty());
}

#[test]
fn a_panic_before_validation_rolls_back() {
    for path in [Path::One, Path::General, Path::Inevitable, Path::Owned] {
        transaction_fault(FaultPoint::Validate, path);
    }
}

#[test]
fn a_panic_in_the_commit_barrier_rolls_forward() {
    transaction_fault(FaultPoint::Barrier, Path::Marking);
}

#[test]
fn a_panic_in_write_back_rolls_forward() {
    for path in Path::WRITING.into_iter().chain([Path::Marking]) {
        transaction_fault(FaultPoint::WriteBack, path);
    }
}

#[test]
fn a_panic_committing_roots_rolls_forward() {
    for path in Path::WRITING.into_iter().chain([Path::ReadOnly]) {
        transaction_fault(FaultPoint::RootCommit, path);
    }
}

/// FT3: a thread that panics in the middle of its handshake answer parks
/// (the panic leaves `transaction`); the collector answers for it, or sees
/// it detach when the thread ends. `carry_on`: the thread catches the panic
/// and keeps committing; else it ends with the panic.
fn handshake_fault(carry_on: bool) {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let made = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (fired_tx, fired_rx) = mpsc::channel();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (heap, made, dropped, stop) = (heap.clone(), Arc::clone(&made), Arc::clone(&dropped), Arc::clone(&stop));
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let w = World {
                a: dummy_root(&mut m),
                b: dummy_root(&mut m),
                list: head(&mut m, &made, &dropped),
                made,
                dropped,
            };
            let mut n = 1;
            let mut fired = false;
            while !stop.load(Ordering::SeqCst) {
                if n == 5 && !fired {
                    m.arm_fault(FaultPoint::Handshake); // fires at the next request it answers
                }
                match catch_unwind(AssertUnwindSafe(|| w.step(&mut m, Path::General, n))) {
                    Ok(r) => {
                        r.unwrap();
                        n += 1;
                    }
                    Err(p) => {
                        let msg = p.downcast::<String>().map(|s| *s).unwrap_or_default();
                        assert!(msg.starts_with(INJECTED), "{msg}");
                        assert!(!fired, "fired twice");
                        fired = true;
                        fired_tx.send(()).unwrap();
                        if !carry_on {
                            // Ends now: its roots and its mutator go with
                            // the unwinding (here, by dropping them).
                            return None;
                        }
                    }
                }
            }
            let (_, _, vals) = w.read(&mut m);
            // Every commit is in the list, newest first (none lost, none twice).
            assert_eq!(vals, (1..n).rev().collect::<Vec<_>>());
            Some(n)
        })
    };
    // Collect until the fault fires (only the thread's own answer fires
    // it, not the collector's for it).
    let h = heap.clone();
    within("the fault firing in the worker's answer", move || loop {
        h.collect().expect("cycles verify");
        if fired_rx.try_recv().is_ok() {
            break;
        }
    });
    for _ in 0..3 {
        let h = heap.clone();
        within("cycles after the fault", move || h.collect()).expect("verified");
    }
    stop.store(true, Ordering::SeqCst);
    let n = worker.join().unwrap();
    assert_eq!(n.is_some(), carry_on);
    for _ in 0..2 {
        let h = heap.clone();
        within("the last cycles", move || h.collect()).expect("verified");
    }
    assert_eq!(dropped.load(Ordering::SeqCst), made.load(Ordering::SeqCst), "the thread's objects leaked");
    assert!(heap.stats().verify_failures.is_empty());
}

fn dummy_root(m: &mut Mutator) -> Root<Acct> {
    m.transaction::<_, ()>(|tx| {
        let a = tx.alloc(Acct { bal: Value::new(START) })?;
        Ok(tx.root(a))
    })
    .unwrap()
}

fn head(m: &mut Mutator, made: &Arc<AtomicUsize>, dropped: &Arc<AtomicUsize>) -> Root<Node> {
    made.fetch_add(1, Ordering::SeqCst);
    m.transaction::<_, ()>(|tx| {
        let l = tx.alloc(Node { val: Value::new(0), next: Ref::null(), tally: NoTrace(Tally(Arc::clone(dropped))) })?;
        Ok(tx.root(l))
    })
    .unwrap()
}

#[test]
fn a_thread_that_panics_mid_handshake_and_carries_on_loses_nothing() {
    handshake_fault(true);
}

#[test]
fn a_thread_that_exits_mid_handshake_holds_up_no_cycle() {
    handshake_fault(false);
}

/// FT5: `mmap` refusing a new chunk or a large object is an allocation
/// error for that transaction, rolled back; the next one succeeds.
#[test]
fn a_refused_mapping_is_an_allocation_error_and_loses_nothing() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let w = World::new(&mut m);
    let before = w.read(&mut m);
    // A large object: its mapping is refused.
    heap.inner.inject_fault(FaultPoint::MapLarge);
    let r = m.transaction::<_, ()>(|tx| {
        w.step_in(tx, 7)?;
        let v = TVec::new(tx, 1 << 16)?;
        Ok(tx.root(v.as_gc()))
    });
    assert!(matches!(r, Err(TxError::Alloc(AllocError::OutOfMemory { .. }))), "{:?}", r.map(|_| ()));
    assert_eq!(w.read(&mut m), before, "rolled back");
    let big = m
        .transaction::<_, ()>(|tx| {
            let v = TVec::new(tx, 1 << 16)?;
            Ok(tx.root(v.as_gc()))
        })
        .expect("the next mapping");
    drop(big);
    // A new chunk: refused when the thread's blocks run out.
    heap.inner.inject_fault(FaultPoint::MapChunk);
    let mut n = 100;
    let err = loop {
        match m.transaction::<_, ()>(|tx| {
            for _ in 0..64 {
                w.step_in(tx, n)?;
            }
            Ok(())
        }) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1_000_000, "no refusal");
    };
    assert!(matches!(err, TxError::Alloc(AllocError::OutOfMemory { .. })), "{err:?}");
    let kept = w.read(&mut m);
    assert_eq!(
        kept.2.len(),
        before.2.len() + 64 * (n - 100) as usize,
        "committed pushes lost, or the refused one kept"
    );
    w.step(&mut m, Path::General, 0).expect("allocation works again");
    heap.collect().expect("verified");
    let World { a, b, list, made, dropped } = w;
    drop((a, b, list));
    m.commit_point();
    heap.collect().unwrap();
    heap.collect().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), made.load(Ordering::SeqCst));
}

/// FT3 for a request nobody awaits: a thread that attaches during marking
/// and panics in its first answer (handshake 1, at MARK or FLUSH) keeps its
/// flag raised, so its next commit point answers again and turns its
/// barrier on. Found by the soak (docs/RELIABILITY.md): with the flag
/// cleared, the thread ran on barrier-off and a reachable object was freed.
#[test]
fn a_thread_cut_short_in_its_first_answer_during_marking_answers_again() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let _w = World::new(&mut m);
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    let c = &heap.inner.collector;
    let h = heap.clone();
    within("a thread attaching during marking", move || {
        let mut m2 = h.attach().unwrap();
        m2.arm_fault(FaultPoint::Handshake);
        let r = catch_unwind(AssertUnwindSafe(|| m2.transaction::<_, ()>(|_| Ok(()))));
        let msg = r.expect_err("the answer panicked").downcast::<String>().map(|s| *s).unwrap_or_default();
        assert!(msg.starts_with(INJECTED), "{msg}");
        assert!(m2.pending(), "an answer cut short is answered again at the next commit point");
        m2.transaction::<_, ()>(|_| Ok(())).unwrap();
        assert!(!m2.pending());
    });
    c.hold.store(0, Ordering::SeqCst);
    within("the held cycle", move || cycle.join().unwrap()).expect("verified");
}
