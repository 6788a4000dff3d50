//! Allocation rate on tmgc: each batch of 100 objects is one transaction;
//! its first object is linked into the thread's list, whose head is a
//! rooted `Head` object (so each commit stores into an old object); the
//! other 99 are garbage as soon as the transaction commits.
//!
//! `TMGC_BENCH_LISTS=N` (1 to 64, default 1) spreads the kept objects over
//! N lists, batch b into list b mod N: the same objects and the same
//! check, but a marker (or a mark assist) can split the live data N ways,
//! where one list is a chain that only one thread at a time can trace.

use tmgc::{Abort, Gc, Heap, Mutator, Ref, Trace, Tx, Value};

use super::{check_of, my_batches, Tally, BATCH};

#[derive(Trace)]
struct Obj {
    next: Ref<Obj>,
    a: Value<u64>,
    b: Value<u64>,
    c: Value<u64>,
}

#[derive(Trace)]
struct Head {
    first: [Ref<Obj>; MAX_LISTS],
}

const MAX_LISTS: usize = 64;

/// The lists the kept objects are spread over (`TMGC_BENCH_LISTS`).
fn lists() -> usize {
    static LISTS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LISTS.get_or_init(|| match std::env::var("TMGC_BENCH_LISTS") {
        Err(_) => 1,
        Ok(v) => match v.parse() {
            Ok(n) if (1..=MAX_LISTS).contains(&n) => n,
            _ => panic!("TMGC_BENCH_LISTS={v}: a number of lists from 1 to {MAX_LISTS}"),
        },
    })
}

fn obj<'tx>(tx: &mut Tx<'tx>, i: u64) -> Result<Gc<'tx, Obj>, Abort<()>> {
    let [a, b, c] = super::words(i);
    Ok(tx.alloc(Obj { next: Ref::null(), a: Value::new(a), b: Value::new(b), c: Value::new(c) })?)
}

fn thread(m: &mut Mutator, batches: u64, t: usize, threads: usize) -> Tally {
    let head = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Head { first: std::array::from_fn(|_| Ref::null()) })?;
            Ok(tx.root(h))
        })
        .expect("a list head");
    for b in my_batches(batches, t, threads) {
        m.transaction::<_, ()>(|tx| {
            let first = b * BATCH;
            let h = tx.get_root(&head)?;
            let kept = obj(tx, first)?;
            let k = (b % lists() as u64) as usize;
            let old = tx.load(h, |h| &h.first[k])?;
            tx.store(kept, |o| &o.next, old)?;
            tx.store(h, |h| &h.first[k], Some(kept))?;
            for i in first + 1..first + BATCH {
                obj(tx, i)?;
            }
            Ok(())
        })
        .expect("a batch");
    }
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_root(&head)?;
        let (mut kept, mut check) = (0, 0u64);
        for k in 0..lists() {
            let mut cur = tx.load(h, |h| &h.first[k])?;
            while let Some(o) = cur {
                kept += 1;
                let w = [tx.get(o, |o| &o.a)?, tx.get(o, |o| &o.b)?, tx.get(o, |o| &o.c)?];
                check = check.wrapping_add(check_of(w));
                cur = tx.load(o, |o| &o.next)?;
            }
        }
        Ok((kept, check))
    })
    .expect("the list's check")
}

pub(crate) fn run(batches: u64, threads: usize) -> Vec<Tally> {
    let heap = Heap::new(crate::tmgc_report::config()).expect("a heap");
    let tallies = super::spread(threads, |t| {
        let mut m = heap.attach().expect("attach");
        thread(&mut m, batches, t, threads)
    });
    crate::tmgc_report::print(&heap);
    tallies
}
