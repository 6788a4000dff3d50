//! Loom models of the allocation layer's protocols. Run with
//! `RUSTFLAGS="--cfg tmgc_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tmgc-alloc --test loom --release`
//! (see docs/TESTING.md). Under `tmgc_loom` blocks are 1 KiB and chunks 16 KiB.
#![cfg(tmgc_loom)]

use std::collections::HashSet;
use std::ptr::NonNull;

use loom::thread;
use std::sync::{Arc, Mutex};
use tmgc_alloc::{Colour, Config, Space, BLOCK_BYTES, LARGE_THRESHOLD};

fn addr(p: NonNull<u8>) -> usize {
    p.as_ptr() as usize
}

fn fill(p: NonNull<u8>, n: usize, b: u8) {
    // SAFETY: models fill only what they just allocated.
    unsafe { std::ptr::write_bytes(p.as_ptr(), b, n) }
}

fn holds(p: NonNull<u8>, n: usize, b: u8) -> bool {
    // SAFETY: models read only live objects they filled.
    unsafe { std::slice::from_raw_parts(p.as_ptr(), n).iter().all(|&x| x == b) }
}

/// Block pool: two allocators claiming fresh blocks at once never get the same one.
#[test]
fn pool_claims_are_exclusive() {
    loom::model(|| {
        let space = Space::new(Config::default()).unwrap();
        let s2 = space.clone();
        let t = thread::spawn(move || {
            let mut a = s2.allocator();
            let p = a.alloc(LARGE_THRESHOLD, 16).unwrap();
            fill(p, LARGE_THRESHOLD, 1);
            (addr(p) / BLOCK_BYTES, a)
        });
        let mut a = space.allocator();
        let p = a.alloc(LARGE_THRESHOLD, 16).unwrap();
        fill(p, LARGE_THRESHOLD, 2);
        let (other, a2) = t.join().unwrap();
        assert_ne!(addr(p) / BLOCK_BYTES, other, "one block claimed by two allocators");
        assert!(holds(p, LARGE_THRESHOLD, 2));
        drop(a2);
    });
}

/// Hand-off between allocating and sweeping: a block retired while a sweep
/// epoch begins is always swept in that epoch (never left unhinted), and an
/// owned block is never swept.
#[test]
fn retire_races_begin_sweep() {
    loom::model(|| {
        let space = Space::new(Config::default()).unwrap();
        let mut a = space.allocator();
        let live = a.alloc(64, 16).unwrap();
        fill(live, 64, 7);
        // SAFETY: just allocated from a live space.
        unsafe { tmgc_alloc::mark(live) };
        let s2 = space.clone();
        let sweeper = thread::spawn(move || {
            s2.begin_sweep();
            s2.sweep();
        });
        a.retire_all().unwrap();
        sweeper.join().unwrap();
        // Whatever the interleaving, one more sweep finishes the epoch.
        space.sweep();
        assert_eq!(space.unswept_blocks(), 0, "a retired block escaped the sweep");
        assert!(holds(live, 64, 7), "a live object was swept");
    });
}

/// Eager sweepers and an allocator sweeping lazily share the unswept
/// blocks: every dead object is dropped exactly once, and live ones survive.
#[test]
fn sweepers_and_lazy_sweep_sweep_each_block_once() {
    loom::model(|| {
        // A std mutex: its critical section has no loom operation, so it
        // cannot block a loom thread, and it adds no branch to explore.
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let d2 = Arc::clone(&dropped);
        let space =
            Space::with_drop_hook(Config::default(), move |p| d2.lock().unwrap().push(p.as_ptr() as usize)).unwrap();
        let mut a = space.allocator();
        // Four objects fill a block: two blocks, half of each kept alive.
        let half = LARGE_THRESHOLD;
        let objs: Vec<_> = (0..8).map(|_| a.alloc_needs_drop(half, 16).unwrap()).collect();
        for p in objs.iter().step_by(2) {
            fill(*p, half, 3);
            // SAFETY: live object of a live space.
            unsafe { tmgc_alloc::mark(*p) };
        }
        a.retire_all().unwrap();
        space.begin_sweep();
        let s2 = space.clone();
        let eager = thread::spawn(move || {
            s2.sweep();
        });
        // The allocator takes a block; it must sweep it (or find it swept) first.
        let fresh = a.alloc(half, 16).unwrap();
        fill(fresh, half, 4);
        eager.join().unwrap();
        space.sweep();
        let got = dropped.lock().unwrap().clone();
        let unique: HashSet<usize> = got.iter().copied().collect();
        assert_eq!(got.len(), unique.len(), "an object was dropped twice");
        let expect: HashSet<usize> = objs.iter().skip(1).step_by(2).map(|p| addr(*p)).collect();
        assert_eq!(unique, expect);
        for p in objs.iter().step_by(2) {
            assert!(holds(*p, half, 3));
        }
        assert!(holds(fresh, half, 4));
    });
}

/// Rewind clears the marks of rewound black objects with `fetch_and` while a
/// marker sets the mark of a neighbour in the same bitmap word.
#[test]
fn rewind_races_a_marker() {
    loom::model(|| {
        let space = Space::new(Config::default()).unwrap();
        let mut a = space.allocator();
        let old = a.alloc(16, 16).unwrap();
        a.set_colour(Colour::Black);
        let ck = a.checkpoint();
        let young = a.alloc(16, 16).unwrap();
        a.flush_marks();
        let o = addr(old);
        let marker = thread::spawn(move || {
            // SAFETY: `old` is live for the whole model.
            unsafe { tmgc_alloc::mark(NonNull::new(o as *mut u8).unwrap()) }
        });
        a.rewind(&ck).unwrap();
        assert!(marker.join().unwrap(), "old was unmarked, so this mark is the first");
        // SAFETY: `old` is live.
        assert!(unsafe { tmgc_alloc::is_marked(old) }, "rewind lost a neighbour's mark");
        a.release(ck).unwrap();
        // `young` is rewound: its memory is the allocator's again, unmarked.
        let again = a.alloc(16, 16).unwrap();
        assert_eq!(again, young);
        a.flush_marks();
        a.set_colour(Colour::White);
    });
}

/// A sweep running while another thread begins the next epoch finishes or
/// gives way; it never claims, puts back and re-hints the block it already
/// stamped forever (issue 25 A). One more sweep then finishes the new epoch.
#[test]
fn sweep_races_the_next_begin_sweep() {
    loom::model(|| {
        let space = Space::new(Config::default()).unwrap();
        let mut a = space.allocator();
        let live = a.alloc(64, 16).unwrap();
        fill(live, 64, 9);
        // SAFETY: just allocated from a live space.
        unsafe { tmgc_alloc::mark(live) };
        a.retire_all().unwrap();
        space.begin_sweep();
        let s2 = space.clone();
        let next = thread::spawn(move || s2.begin_sweep());
        let report = space.sweep();
        let second = next.join().unwrap();
        assert!(report.epoch < second || space.unswept_blocks() == 0);
        space.sweep();
        assert_eq!(space.unswept_blocks(), 0, "the new epoch was left unswept");
        assert!(holds(live, 64, 9), "a live object was swept");
    });
}

/// Block-level decommit (`decommit.rs`, DC1-DC2) against a claim: an
/// allocator taking free blocks while `release_free_blocks` gives idle ones
/// back never has a block decommitted under its objects, and the committed
/// bytes count every block once (all free again and the chunk decommitted
/// whole, only the metadata is left). Without the decommit lock (the state
/// CAS) the object is zeroed under its owner; with a claim that does not
/// count its block back, the bytes drift.
#[test]
fn block_decommit_races_a_claim() {
    // The setup and the closing sweeps walk every block of the chunk.
    let mut model = loom::model::Builder::new();
    model.max_branches = 100_000;
    model.check(|| {
        let space = Space::new(Config::default().decommit_empty_chunks(false)).unwrap();
        // Two blocks used once, then free long enough to be idle.
        let mut a = space.allocator();
        for _ in 0..2 {
            a.alloc(LARGE_THRESHOLD, 16).unwrap();
            a.alloc(LARGE_THRESHOLD, 16).unwrap();
            a.alloc(LARGE_THRESHOLD, 16).unwrap();
            a.alloc(LARGE_THRESHOLD, 16).unwrap();
        }
        a.retire_all().unwrap();
        // Freed by the first sweep, then free through two whole cycles.
        for _ in 0..3 {
            space.begin_sweep();
            space.sweep();
        }
        let s2 = space.clone();
        let t = thread::spawn(move || {
            let mut a = s2.allocator();
            let p = a.alloc(LARGE_THRESHOLD, 16).unwrap();
            fill(p, LARGE_THRESHOLD, 5);
            (addr(p), a)
        });
        let released = space.release_free_blocks(0);
        let (p, a2) = t.join().unwrap();
        assert!(released >= 1, "an idle block is left to give back");
        let p = NonNull::new(p as *mut u8).unwrap();
        assert!(holds(p, LARGE_THRESHOLD, 5), "a block was decommitted under its owner");
        drop((a, a2));
        for _ in 0..2 {
            space.begin_sweep();
            space.sweep();
        }
        space.release_free_blocks(0);
        space.release_empty_chunks();
        let st = space.stats();
        assert_eq!(st.committed_bytes, st.metadata_bytes, "DC2: {st:?}");
    });
}
