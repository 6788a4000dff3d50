//! Allocation rate with `Box`: a dropped object is freed at once by the
//! global allocator; kept objects form a `Box` list, torn down in a loop
//! (a recursive drop of a million links would overflow the stack).

use std::hint::black_box;

use super::{check_of, my_batches, words, Tally, BATCH};

struct Obj {
    next: Option<Box<Obj>>,
    w: [u64; 3],
}

/// A list that drops its links one by one.
struct List(Option<Box<Obj>>);

impl Drop for List {
    fn drop(&mut self) {
        let mut cur = self.0.take();
        while let Some(mut o) = cur {
            cur = o.next.take();
        }
    }
}

pub(crate) fn thread(batches: u64, t: usize, threads: usize) -> Tally {
    let mut list = List(None);
    for b in my_batches(batches, t, threads) {
        let first = b * BATCH;
        list.0 = Some(Box::new(Obj { next: list.0.take(), w: words(first) }));
        for i in first + 1..first + BATCH {
            black_box(Box::new(Obj { next: None, w: words(i) }));
        }
    }
    let (mut kept, mut check) = (0, 0u64);
    let mut cur = list.0.as_deref();
    while let Some(o) = cur {
        kept += 1;
        check = check.wrapping_add(check_of(o.w));
        cur = o.next.as_deref();
    }
    (kept, check)
}
