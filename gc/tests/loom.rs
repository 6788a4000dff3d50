//! Loom models of commit and validation (TL2 with the lazy clock, `tx.rs`):
//! two transactions transfer between the same two accounts in opposite
//! directions while a third thread audits the total read-only; write skew;
//! an inevitable transaction. Readers meet versions newer than their read
//! version (the clock is lazy) and extend their snapshots; each mutator
//! reuses the writer tag of one that detached. Every interleaving (bounded by `LOOM_MAX_PREEMPTIONS`) must conserve the
//! total, and every transaction must see the exact total inside its body:
//! opacity.
//!
//! They run with solo mode off, but one: a second attach revoking solo mode.
//!
//! `RUSTFLAGS="--cfg tmgc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tmgc --test loom --release --target-dir target/loom`
#![cfg(tmgc_loom)]

use loom::thread;
use tmgc::{Config, GlobalRoot, Heap, Ref, Trace, Value};

#[derive(Trace)]
struct Account {
    balance: Value<i64>,
}

#[derive(Trace)]
struct Bank {
    a: Ref<Account>,
    b: Ref<Account>,
}

/// Solo mode off: these models are about TL2's concurrency control, which
/// a lone mutator's solo mode would skip (`a_second_attach_revokes_solo_mode`
/// models the handover between the two).
fn tl2() -> Config {
    Config::default().solo(false)
}

fn setup(heap: &Heap) -> GlobalRoot<Bank> {
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let bank = tx.alloc(Bank { a: Ref::null(), b: Ref::null() })?;
        let a = tx.alloc(Account { balance: Value::new(10) })?;
        let b = tx.alloc(Account { balance: Value::new(10) })?;
        tx.store(bank, |k| &k.a, Some(a))?;
        tx.store(bank, |k| &k.b, Some(b))?;
        Ok(tx.global_root(bank))
    })
    .unwrap()
}

fn transfer(heap: &Heap, bank: &GlobalRoot<Bank>, a_to_b: bool, amount: i64) {
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let k = tx.get_global(bank)?;
        let a = tx.load(k, |k| &k.a)?.unwrap();
        let b = tx.load(k, |k| &k.b)?.unwrap();
        let (from, to) = if a_to_b { (a, b) } else { (b, a) };
        let f = tx.get(from, |x| &x.balance)?;
        let t = tx.get(to, |x| &x.balance)?;
        assert_eq!(f + t, 20, "a transfer saw an inconsistent state");
        tx.set(from, |x| &x.balance, f - amount)?;
        tx.set(to, |x| &x.balance, t + amount)?;
        Ok(())
    })
    .unwrap();
}

fn balances(heap: &Heap, bank: &GlobalRoot<Bank>) -> (i64, i64) {
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let k = tx.get_global(bank)?;
        let a = tx.load(k, |k| &k.a)?.unwrap();
        let b = tx.load(k, |k| &k.b)?.unwrap();
        let (x, y) = (tx.get(a, |x| &x.balance)?, tx.get(b, |x| &x.balance)?);
        assert_eq!(x + y, 20, "a transaction saw an inconsistent state");
        Ok((x, y))
    })
    .unwrap()
}

#[test]
fn concurrent_commits_conserve_the_total_and_reads_are_opaque() {
    loom::model(|| {
        let heap = Heap::new(tl2()).unwrap();
        let bank = setup(&heap);
        let (h1, b1) = (heap.clone(), bank.clone());
        let t1 = thread::spawn(move || transfer(&h1, &b1, true, 3));
        let (h2, b2) = (heap.clone(), bank.clone());
        let t2 = thread::spawn(move || transfer(&h2, &b2, false, 5));
        let seen = balances(&heap, &bank);
        assert!([(10, 10), (7, 13), (15, 5), (12, 8)].contains(&seen), "not a serial state: {seen:?}");
        t1.join().unwrap();
        t2.join().unwrap();
        // Both transfers applied: no update was lost.
        assert_eq!(balances(&heap, &bank), (12, 8));
        let commits = heap.tx_counts().commits;
        assert!(commits >= 4);
    });
}

/// Solo mode (`solo.rs`): whichever thread attaches first runs alone and
/// without concurrency control until the next attach revokes the grant,
/// waiting for its running transaction; a thread left alone by a detach
/// gets the grant at its next commit point. Transfers and the auditor must
/// still be serial and opaque. Revoking without waiting for the holder's
/// transaction makes this model fail (a lost update or an inconsistent read).
#[test]
fn a_second_attach_revokes_solo_mode() {
    loom::model(|| {
        let heap = Heap::new(Config::default()).unwrap();
        let bank = setup(&heap);
        let (h1, b1) = (heap.clone(), bank.clone());
        let t1 = thread::spawn(move || transfer(&h1, &b1, true, 3));
        let (h2, b2) = (heap.clone(), bank.clone());
        let t2 = thread::spawn(move || transfer(&h2, &b2, false, 5));
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(balances(&heap, &bank), (12, 8), "an update was lost");
    });
}

/// Write skew: each transaction reads both accounts but writes only one, so
/// only read-set validation (not the write locks) can order them. Serially,
/// at most one withdrawal happens.
#[test]
fn read_set_validation_prevents_write_skew() {
    fn withdraw(heap: &Heap, bank: &GlobalRoot<Bank>, from_a: bool) {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let k = tx.get_global(bank)?;
            let a = tx.load(k, |k| &k.a)?.unwrap();
            let b = tx.load(k, |k| &k.b)?.unwrap();
            let (x, y) = (tx.get(a, |v| &v.balance)?, tx.get(b, |v| &v.balance)?);
            if x + y >= 15 {
                let (acct, cur) = if from_a { (a, x) } else { (b, y) };
                tx.set(acct, |v| &v.balance, cur - 15)?;
            }
            Ok(())
        })
        .unwrap();
    }
    loom::model(|| {
        let heap = Heap::new(tl2()).unwrap();
        let bank = setup(&heap);
        let (h1, b1) = (heap.clone(), bank.clone());
        let t1 = thread::spawn(move || withdraw(&h1, &b1, true));
        withdraw(&heap, &bank, false);
        t1.join().unwrap();
        let mut m = heap.attach().unwrap();
        let (x, y) = m
            .transaction::<_, ()>(|tx| {
                let k = tx.get_global(&bank)?;
                let a = tx.load(k, |k| &k.a)?.unwrap();
                let b = tx.load(k, |k| &k.b)?.unwrap();
                Ok((tx.get(a, |v| &v.balance)?, tx.get(b, |v| &v.balance)?))
            })
            .unwrap();
        assert_eq!(x + y, 5, "both withdrew: write skew, ({x}, {y})");
    });
}

/// An inevitable transaction races a normal commit: once inevitable it never
/// retries and sees a consistent state; the normal one waits for it; the
/// outcome is serial.
#[test]
fn inevitable_transactions_race_normal_commits() {
    loom::model(|| {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let heap = Heap::new(tl2()).unwrap();
        let bank = setup(&heap);
        let (h1, b1) = (heap.clone(), bank.clone());
        let t1 = thread::spawn(move || transfer(&h1, &b1, true, 3));
        let after_inevitable = Arc::new(AtomicUsize::new(0));
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let k = tx.get_global(&bank)?;
            let a = tx.load(k, |k| &k.a)?.unwrap();
            let x = tx.get(a, |v| &v.balance)?;
            tx.become_inevitable()?;
            after_inevitable.fetch_add(1, Ordering::SeqCst);
            let b = tx.load(k, |k| &k.b)?.unwrap();
            let y = tx.get(b, |v| &v.balance)?;
            assert_eq!(x + y, 20, "inevitable transaction saw an inconsistent state");
            tx.set(b, |v| &v.balance, y - 5)?;
            tx.set(a, |v| &v.balance, x + 5)?;
            Ok(())
        })
        .unwrap();
        drop(m);
        t1.join().unwrap();
        assert_eq!(after_inevitable.load(Ordering::SeqCst), 1, "an inevitable attempt was retried");
        assert_eq!(balances(&heap, &bank), (12, 8));
    });
}

#[derive(Trace)]
struct Pair {
    x: Value<i64>,
    y: Value<i64>,
}

/// Owned objects (OW1-OW7 of `owned`): a mutator whose second commit to a
/// pair takes it, and whose third writes it back with no lock, races a
/// reader and another writer, which meet the owned word, roll back, ask,
/// and are answered at the owner's next commit point, or by releasing for
/// the parked owner, or by the owner's detach. The reader sees a whole
/// commit (x == y), and no update is lost. Storing the
/// released word Relaxed (`owned::release_all`) makes it fail (a reader
/// sees the free word but old fields); so does releasing for an owner that
/// runs (`owned::try_release_for` without its PARKED test).
static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn an_owner_releases_to_an_asker() {
    fn bump(m: &mut tmgc::Mutator, p: &GlobalRoot<Pair>) {
        m.transaction::<_, ()>(|tx| {
            let o = tx.get_global(p)?;
            let (x, y) = (tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?);
            assert_eq!(x, y, "the owner saw half of a commit");
            tx.set(o, |o| &o.x, x + 1)?;
            tx.set(o, |o| &o.y, y + 1)?;
            Ok(())
        })
        .unwrap();
    }
    fn read(m: &mut tmgc::Mutator, p: &GlobalRoot<Pair>) -> (i64, i64) {
        m.transaction::<_, ()>(|tx| {
            let o = tx.get_global(p)?;
            Ok((tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?))
        })
        .unwrap()
    }
    loom::model(|| {
        let heap = Heap::new(tl2().owned(true)).unwrap();
        let p = {
            let mut m = heap.attach().unwrap();
            m.transaction::<_, ()>(|tx| {
                let p = tx.alloc(Pair { x: Value::new(0), y: Value::new(0) })?;
                Ok(tx.global_root(p))
            })
            .unwrap()
        };
        let (h1, p1) = (heap.clone(), p.clone());
        let owner = thread::spawn(move || {
            let mut m = h1.attach().unwrap();
            for _ in 0..3 {
                bump(&mut m, &p1);
            }
        });
        let (h2, p2) = (heap.clone(), p.clone());
        let writer = thread::spawn(move || {
            let mut m = h2.attach().unwrap();
            bump(&mut m, &p2);
        });
        let mut m = heap.attach().unwrap();
        let (x, y) = read(&mut m, &p);
        assert!(x == y && (0..=4).contains(&x), "the reader saw ({x}, {y})");
        owner.join().unwrap();
        writer.join().unwrap();
        assert_eq!(read(&mut m, &p), (4, 4), "an update was lost");
        assert!(heap.tx_counts().owned_taken >= 1, "the owner took the pair");
        ASKED.fetch_max(heap.tx_counts().owned_asked, std::sync::atomic::Ordering::Relaxed);
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let (asked, runs) =
        (ASKED.load(std::sync::atomic::Ordering::Relaxed), RUNS.load(std::sync::atomic::Ordering::Relaxed));
    assert!(asked >= 1, "no interleaving made the reader ask ({runs} explored)");
}
