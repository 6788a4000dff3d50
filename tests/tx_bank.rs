//! Bank transfers: 2 to 8 threads move money between accounts while
//! read-only transactions sum every balance. The total is conserved, and
//! since reads are opaque, every read-only transaction sees the exact total
//! *inside its body*, even an attempt that will later retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tmgc::{Config, GlobalRoot, Heap, Ref, Trace, Value};

const ACCOUNTS: usize = 32;
const START: i64 = 1_000;

#[derive(Trace)]
struct Account {
    balance: Value<i64>,
}

#[derive(Trace)]
struct Bank {
    accounts: [Ref<Account>; ACCOUNTS],
}

fn setup(heap: &Heap) -> GlobalRoot<Bank> {
    let mut m = heap.attach().unwrap();
    m.transaction::<_, ()>(|tx| {
        let bank = tx.alloc(Bank { accounts: std::array::from_fn(|_| Ref::null()) })?;
        for i in 0..ACCOUNTS {
            let a = tx.alloc(Account { balance: Value::new(START) })?;
            tx.store(bank, |b| &b.accounts[i], Some(a))?;
        }
        Ok(tx.global_root(bank))
    })
    .unwrap()
}

/// Sum every balance in one read-only transaction. Reads are opaque, so the
/// total is exact in every attempt, not only the committed one: checked
/// inside the body.
fn audit(m: &mut tmgc::Mutator, bank: &GlobalRoot<Bank>) -> i64 {
    m.transaction::<_, ()>(|tx| {
        let b = tx.get_global(bank)?;
        let mut sum = 0;
        for k in 0..ACCOUNTS {
            let a = tx.load(b, |b| &b.accounts[k])?.expect("account");
            sum += tx.get(a, |a| &a.balance)?;
        }
        assert_eq!(sum, START * ACCOUNTS as i64, "an inconsistent snapshot");
        Ok(sum)
    })
    .unwrap()
}

fn run(threads: usize, transfers: usize) {
    let heap = Heap::new(Config::default()).unwrap();
    let bank = setup(&heap);
    let checks = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let heap = heap.clone();
            let bank = bank.clone();
            let checks = Arc::clone(&checks);
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut rng = tmgc_tests::rng(t as u64 + 1);
                for i in 0..transfers {
                    let x = rng.u64(..);
                    if t == 0 && i % 4 == 0 {
                        // A read-only auditor.
                        let total = audit(&mut m, &bank);
                        assert_eq!(total, START * ACCOUNTS as i64);
                        checks.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let from = (x % ACCOUNTS as u64) as usize;
                    let to = ((x >> 20) % ACCOUNTS as u64) as usize;
                    let amount = ((x >> 40) % 50) as i64;
                    m.transaction::<_, ()>(|tx| {
                        let b = tx.get_global(&bank)?;
                        let a = tx.load(b, |b| &b.accounts[from])?.expect("account");
                        let c = tx.load(b, |b| &b.accounts[to])?.expect("account");
                        let ba = tx.get(a, |a| &a.balance)?;
                        tx.set(a, |a| &a.balance, ba - amount)?;
                        let bc = tx.get(c, |c| &c.balance)?;
                        tx.set(c, |c| &c.balance, bc + amount)?;
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
    });
    let mut m = heap.attach().unwrap();
    let total = audit(&mut m, &bank);
    assert_eq!(total, START * ACCOUNTS as i64);
    assert!(checks.load(Ordering::Relaxed) > 0);
    drop(m);
    let commits = heap.tx_counts().commits;
    assert!(commits as usize >= threads * transfers);
}

#[test]
fn two_threads() {
    run(2, 5_000);
}

#[test]
fn four_threads() {
    run(4, 3_000);
}

#[test]
fn eight_threads() {
    run(8, 1_500);
}
