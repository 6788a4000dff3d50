//! Allocation rate with dumpster's `sync::Gc`: an object whose count
//! drops to zero is freed at once. The kept list's links sit in `Mutex`es
//! so the list can be torn down link by link at the end (dropping a
//! million-link chain at once would recurse through every link).

use std::hint::black_box;
use std::sync::Mutex;

use dumpster::sync::Gc;
use dumpster::Trace;

use super::{check_of, my_batches, words, Tally, BATCH};

#[derive(Trace)]
struct Obj {
    next: Mutex<Option<Gc<Obj>>>,
    w: [u64; 3],
}

fn next(o: &Obj) -> Option<Gc<Obj>> {
    o.next.lock().expect("an unpoisoned link").take()
}

pub(crate) fn thread(batches: u64, t: usize, threads: usize) -> Tally {
    let mut head: Option<Gc<Obj>> = None;
    for b in my_batches(batches, t, threads) {
        let first = b * BATCH;
        head = Some(Gc::new(Obj { next: Mutex::new(head.take()), w: words(first) }));
        for i in first + 1..first + BATCH {
            black_box(Gc::new(Obj { next: Mutex::new(None), w: words(i) }));
        }
    }
    let (mut kept, mut check) = (0, 0u64);
    // Count and tear down in one pass: each link is taken out of its
    // object before the object is dropped.
    let mut cur = head;
    while let Some(o) = cur {
        kept += 1;
        check = check.wrapping_add(check_of(o.w));
        cur = next(&o);
    }
    (kept, check)
}
