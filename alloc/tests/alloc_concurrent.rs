//! Concurrency of the allocation layer with real threads: allocators bump,
//! rewind and lazily sweep while other threads sweep eagerly, over many
//! cycles; nothing live is ever overwritten, and the heap reaches a steady
//! state.

// Real threads and real memory: not a loom model (those are in loom.rs).
#![cfg(not(tmgc_loom))]

use std::ptr::NonNull;
use std::sync::{Arc, Barrier};

use tmgc_alloc::{Colour, Config, LocalAllocator, Space};

const THREADS: usize = 3;
const CYCLES: usize = 30;
const PER_CYCLE: usize = 20_000;
const KEEP: usize = 2_000;

struct Kept {
    ptr: NonNull<u8>,
    size: usize,
    byte: u8,
}

// SAFETY: test-only: each thread keeps its own objects.
unsafe impl Send for Kept {}

fn check(kept: &[Kept]) {
    for k in kept {
        // SAFETY: kept objects are marked every cycle, so never freed.
        let bytes = unsafe { std::slice::from_raw_parts(k.ptr.as_ptr(), k.size) };
        assert!(bytes.iter().all(|&b| b == k.byte), "a live object was overwritten");
    }
}

fn churn(a: &mut LocalAllocator, kept: &mut Vec<Kept>, seed: usize, cycle: usize) {
    let mut x = seed * 7919 + cycle * 104_729 + 1;
    for i in 0..PER_CYCLE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 8 + x % 200;
        // Every so often, a transaction that aborts.
        if i % 97 == 0 {
            let ck = a.checkpoint();
            for _ in 0..50 {
                a.alloc(size, 8).unwrap();
            }
            a.rewind(&ck).unwrap();
            a.release(ck).unwrap();
        }
        let p = a.alloc(size, 8).unwrap();
        let byte = (x % 251) as u8;
        // SAFETY: fresh allocation of `size` bytes.
        unsafe { std::ptr::write_bytes(p.as_ptr(), byte, size) };
        if i % (PER_CYCLE / KEEP) == 0 {
            let slot = (x / 7) % KEEP;
            let k = Kept { ptr: p, size, byte };
            if kept.len() < KEEP {
                kept.push(k);
            } else {
                kept[slot] = k;
            }
        }
    }
}

#[test]
fn allocate_and_sweep_concurrently_reach_a_steady_state() {
    let space = Space::new(Config::default().heap_limit(512 << 20)).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let peaks: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let space = space.clone();
                let barrier = Arc::clone(&barrier);
                s.spawn(move || {
                    let mut a = space.allocator();
                    let mut kept = Vec::new();
                    let mut peak = Vec::new();
                    for cycle in 0..CYCLES {
                        // Mutator phase: white allocation, with aborts.
                        churn(&mut a, &mut kept, t, cycle);
                        check(&kept);
                        a.retire_all().unwrap();
                        barrier.wait();
                        // Cycle start: the previous sweep is over; clear marks.
                        if t == 0 {
                            assert_eq!(space.unswept_blocks(), 0, "previous sweep unfinished");
                            space.clear_marks();
                        }
                        barrier.wait();
                        // Marking (a stand-in for the collector): each thread
                        // marks its own survivors and allocates black.
                        a.set_colour(Colour::Black);
                        for k in &kept {
                            // SAFETY: kept objects are live.
                            unsafe { tmgc_alloc::mark(k.ptr) };
                        }
                        churn(&mut a, &mut kept, t + 50, cycle);
                        a.retire_all().unwrap();
                        a.set_colour(Colour::White);
                        barrier.wait();
                        if t == 0 {
                            space.begin_sweep();
                        }
                        barrier.wait();
                        // Sweep phase: thread 0 sweeps eagerly while the others
                        // allocate white (sweeping lazily what they take).
                        if t == 0 {
                            space.sweep();
                        } else {
                            churn(&mut a, &mut kept, t + 100, cycle);
                            a.retire_all().unwrap();
                        }
                        space.sweep();
                        barrier.wait();
                        check(&kept);
                        peak.push(space.heap_bytes());
                        barrier.wait();
                    }
                    peak
                })
            })
            .collect();
        let per_thread: Vec<Vec<usize>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        per_thread[0].clone()
    });
    // Steady state: the heap in the last third of the run is no bigger than
    // 1.5x the biggest it was in the middle third.
    let third = CYCLES / 3;
    let mid = *peaks[third..2 * third].iter().max().unwrap();
    let end = *peaks[2 * third..].iter().max().unwrap();
    assert!(end <= mid + mid / 2, "heap keeps growing: {peaks:?}");
}
