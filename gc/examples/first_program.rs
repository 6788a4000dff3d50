//! A first program with tmgc, written from the documentation only (by a
//! reviewer who read README.md, the crate docs and docs/*.md, not the
//! code, on 2026-12-01: it compiled against the API on the first try; the
//! one build error was the workspace's `unreachable_pub` lint). Helper
//! functions, a `HashMap` field and a field of another crate's type, a
//! user abort rolled back, and two threads sharing an object through a
//! `GlobalRoot`. CI runs it.
//!
//! Run: `cargo run --release -p tmgc --example first_program`

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

use tmgc::{Abort, Config, Gc, Heap, NoTrace, NoTraceSafe, Ref, Trace, Tx, TxError, Value};

/// Plays the role of another crate.
#[allow(unreachable_pub)]
mod foreign {
    pub struct Conn {
        pub id: u32,
    }
}

/// Our own wrapper around the foreign type (the orphan rule forbids
/// implementing `NoTraceSafe` for `foreign::Conn` directly).
struct Conn(foreign::Conn);
// SAFETY: a `foreign::Conn` holds a u32, no `Ref`.
unsafe impl NoTraceSafe for Conn {}

#[derive(Trace)]
struct Account {
    balance: Value<i64>,                 // transactional data
    next: Ref<Account>,                  // transactional reference
    tags: NoTrace<HashMap<String, u64>>, // immutable after allocation
    conn: NoTrace<Conn>,                 // a foreign type, immutable
}

fn new_account<'tx, E>(tx: &mut Tx<'tx>, balance: i64, id: u32) -> Result<Gc<'tx, Account>, Abort<E>> {
    let tags = HashMap::from([("id".to_string(), id as u64)]);
    Ok(tx.alloc(Account {
        balance: Value::new(balance),
        next: Ref::null(),
        tags: NoTrace(tags),
        conn: NoTrace(Conn(foreign::Conn { id })),
    })?)
}

/// Never gives up: generic in the caller's user error.
fn deposit<'tx, E>(tx: &mut Tx<'tx>, a: Gc<'tx, Account>, n: i64) -> Result<i64, Abort<E>> {
    let b = tx.get(a, |a| &a.balance)? + n;
    tx.set(a, |a| &a.balance, b)?;
    Ok(b)
}

/// May give up on purpose.
fn withdraw<'tx>(tx: &mut Tx<'tx>, a: Gc<'tx, Account>, n: i64) -> Result<i64, Abort<&'static str>> {
    let b = tx.get(a, |a| &a.balance)?;
    if b < n {
        return Err(Abort::User("insufficient funds"));
    }
    tx.set(a, |a| &a.balance, b - n)?;
    Ok(b - n)
}

/// Sum of the balances along the `next` chain, generic in `E`.
fn chain_sum<'tx, E>(tx: &mut Tx<'tx>, a: Gc<'tx, Account>) -> Result<(i64, usize), Abort<E>> {
    let (mut sum, mut len, mut cur) = (0, 0, Some(a));
    while let Some(n) = cur {
        sum += tx.get(n, |n| &n.balance)?;
        len += 1;
        cur = tx.load(n, |n| &n.next)?;
    }
    Ok((sum, len))
}

fn main() {
    const ROUNDS: i64 = 2_000;

    let heap = Heap::new(Config::default()).expect("heap");
    let mut m = heap.attach().expect("attach");

    // Two linked accounts, A -> B (A holds more than ROUNDS, so no transfer gives up), shared through one GlobalRoot on A.
    let shared = m
        .atomically(|tx| {
            let a = new_account(tx, 10_000, 1)?;
            let b = new_account(tx, 50, 2)?;
            tx.store(a, |a| &a.next, Some(b))?;
            Ok(tx.global_root(a))
        })
        .expect("create");

    // Immutable fields are read through the Gc directly.
    let (id, tag) = m
        .atomically(|tx| {
            let a = tx.get_global(&shared)?;
            Ok((a.conn.0 .0.id, a.tags["id"]))
        })
        .expect("read immutable");
    assert_eq!((id, tag), (1, 1));

    // 1. A transaction that gives up on purpose: its writes are rolled back.
    let r = m.transaction(|tx| {
        let a = tx.get_global(&shared)?;
        deposit(tx, a, 1_000)?; // written, then rolled back
        let c = new_account(tx, 7, 3)?; // allocated, then rolled back
        tx.store(a, |a| &a.next, Some(c))?; // unlinks B, then rolled back
        withdraw(tx, a, 1_000_000)?; // gives up
        Ok(())
    });
    assert!(matches!(r, Err(TxError::Aborted("insufficient funds"))), "expected a user abort");
    let (sum, len) = m
        .atomically(|tx| {
            let a = tx.get_global(&shared)?;
            chain_sum(tx, a)
        })
        .expect("read after abort");
    assert_eq!((sum, len), (10_050, 2), "the aborted writes were rolled back");

    // 2. Two threads: the other moves 1 from A to B each round (a user error
    // is possible but must not happen); this one deposits 1 into A.
    // Barriers (outside any transaction): `start` so both loops really
    // overlap, `end` so the other thread stays attached until this one's
    // loop is done. Without `end`, a descheduled main thread can find the
    // other one finished and detached, and itself rightly solo again.
    let start = Arc::new(Barrier::new(2));
    let end = Arc::new(Barrier::new(2));
    let other = {
        let heap = heap.clone();
        let shared = shared.clone();
        let (start, end) = (start.clone(), end.clone());
        thread::spawn(move || {
            let mut m = heap.attach().expect("attach 2");
            start.wait();
            for _ in 0..ROUNDS {
                m.transaction(|tx| {
                    let a = tx.get_global(&shared)?;
                    let b = tx.load(a, |a| &a.next)?.expect("B is linked");
                    withdraw(tx, a, 1)?;
                    deposit(tx, b, 1)?;
                    Ok(())
                })
                .expect("transfer");
            }
            end.wait();
            m.tx_counts()
        })
    };
    start.wait();
    // The other thread's attach returned before `start`, and it detaches
    // only after `end`: this mutator's grant is revoked.
    assert!(!m.is_solo(), "a second attached mutator revokes solo mode");
    for _ in 0..ROUNDS {
        m.atomically(|tx| {
            let a = tx.get_global(&shared)?;
            deposit(tx, a, 1)?;
            Ok(())
        })
        .expect("deposit");
    }
    end.wait();
    let oc = other.join().expect("thread 2");
    let (other_commits, other_retries) = (oc.commits, oc.conflicts);

    heap.collect().expect("collect");

    let (a_bal, b_bal, sum) = m
        .atomically(|tx| {
            let a = tx.get_global(&shared)?;
            let b = tx.load(a, |a| &a.next)?.expect("B");
            let (sum, _) = chain_sum(tx, a)?;
            Ok((tx.get(a, |a| &a.balance)?, tx.get(b, |b| &b.balance)?, sum))
        })
        .expect("final read");
    assert_eq!(sum, 10_050 + ROUNDS, "final sum");
    assert_eq!(b_bal, 50 + ROUNDS, "every transfer landed in B");
    assert_eq!(a_bal, 10_000, "A got back what it gave");

    let c = m.tx_counts();
    let (my_commits, my_retries) = (c.commits, c.conflicts);
    println!("user abort reported and rolled back: ok");
    println!("final: A = {a_bal}, B = {b_bal}, sum = {sum} (expected {})", 10_050 + ROUNDS);
    println!("commits/retries: main {my_commits}/{my_retries}, other {other_commits}/{other_retries}");
    println!("{}", heap.stats());
}
