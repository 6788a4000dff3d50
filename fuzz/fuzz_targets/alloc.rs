//! Fuzz target `alloc`: the allocation layer alone. Bytes become a
//! sequence of allocations (small, medium, large; aligned 8 to 256),
//! checkpoints, rewinds and releases, and cycles (retire, mark a chosen
//! subset, sweep, clear the marks), against a model of the live objects.
//! Every live object keeps the bytes written into it, starts a cell, and
//! overlaps no other; rewound and unmarked ones are gone from the model.
//!
//! Run: `cargo +nightly fuzz run alloc` from this directory.
#![no_main]

use std::ptr::NonNull;

use libfuzzer_sys::fuzz_target;
use tmgc_alloc::{Checkpoint, Config, LocalAllocator, Space};

/// A live object: address, size, and the byte it is filled with.
#[derive(Clone, Copy)]
struct Obj {
    p: NonNull<u8>,
    size: usize,
    fill: u8,
}

fn check(space: &Space, live: &[Obj]) {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for o in live {
        assert!(space.is_cell_start(o.p.as_ptr()), "a live object is not a cell start");
        // SAFETY: a live object of `size` bytes that this target filled.
        let bytes = unsafe { std::slice::from_raw_parts(o.p.as_ptr(), o.size) };
        assert!(bytes.iter().all(|&b| b == o.fill), "a live object's bytes changed");
        spans.push((o.p.as_ptr() as usize, o.size));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "two live objects overlap");
    }
}

fn alloc(a: &mut LocalAllocator, live: &mut Vec<Obj>, size: usize, align: usize, fill: u8) {
    let p = a.alloc(size, align).expect("the heap has no limit here");
    assert_eq!(p.as_ptr() as usize % align, 0, "misaligned");
    // SAFETY: a fresh allocation of `size` bytes.
    unsafe { std::ptr::write_bytes(p.as_ptr(), fill, size) };
    live.push(Obj { p, size, fill });
}

fuzz_target!(|data: &[u8]| {
    let space = Space::new(Config::default()).unwrap();
    let mut a = space.allocator();
    let mut live: Vec<Obj> = Vec::new();
    // Open checkpoints, with the number of live objects when each opened.
    let mut cks: Vec<(Checkpoint, usize)> = Vec::new();
    for (k, c) in data.chunks_exact(3).take(512).enumerate() {
        let fill = (k as u8).wrapping_mul(31) | 1;
        match c[0] % 8 {
            0..=2 => {
                let size = 1 + usize::from(c[1]) * 4 + usize::from(c[2] % 4) * 1024;
                alloc(&mut a, &mut live, size, 8 << (c[2] >> 6), fill);
            }
            3 => {
                // A large object (its own mapping).
                let size = 9 * 1024 + usize::from(c[1]) * 512;
                alloc(&mut a, &mut live, size, 16, fill);
            }
            4 => cks.push((a.checkpoint(), live.len())),
            5 => {
                if let Some((ck, n)) = cks.pop() {
                    a.rewind(&ck).unwrap();
                    a.release(ck).unwrap();
                    live.truncate(n);
                }
            }
            6 => {
                if let Some((ck, _)) = cks.pop() {
                    a.release(ck).unwrap();
                }
            }
            _ => {
                // A cycle: close the checkpoints, retire the blocks, mark
                // the objects the byte keeps, sweep, clear the marks.
                while let Some((ck, _)) = cks.pop() {
                    a.release(ck).unwrap();
                }
                a.retire_all().unwrap();
                let keep = c[1];
                let mut kept = Vec::new();
                for (i, o) in live.iter().enumerate() {
                    if (keep >> (i % 8)) & 1 == 1 {
                        // SAFETY: a live object of this space; no collector
                        // runs here, this target marks and sweeps itself.
                        unsafe { tmgc_alloc::mark(o.p) };
                        kept.push(*o);
                    }
                }
                live = kept;
                space.begin_sweep();
                while space.unswept_blocks() > 0 {
                    space.sweep();
                }
                space.clear_marks();
            }
        }
        a.flush_marks(); // staged start bits, published for the check
        check(&space, &live);
    }
    while let Some((ck, _)) = cks.pop() {
        a.release(ck).unwrap();
    }
    a.flush_marks();
    check(&space, &live);
});
