//! Model-based properties of the allocation layer: random sequences of
//! allocations (small, aligned, large, with destructors), checkpoints,
//! rewinds, releases, marks and full sweep cycles, checked after every step
//! against a plain model of which objects exist.
//!
//! Properties:
//! - objects never overlap, are aligned, and small ones lie inside one block;
//! - every object's contents survive everything but its own death;
//! - `allocated_since` and `count_since` give, for each open checkpoint,
//!   exactly the objects allocated while it was open;
//! - rewind frees exactly what was allocated since the checkpoint and
//!   restores the allocator's byte count;
//! - a sweep frees exactly the unmarked objects (seen through the drop hook,
//!   which sees every dead object allocated with `alloc_needs_drop`).

// Real threads and real memory: not a loom model (those are in loom.rs).
#![cfg(not(tmgc_loom))]

use std::collections::{BTreeMap, HashSet};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use tmgc_alloc::{Config, Space, BLOCK_BYTES, LARGE_THRESHOLD};

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align: usize,
        drop: bool,
    },
    Checkpoint,
    Rewind,
    Release,
    Mark(usize),
    /// `mark_all` of a run of objects in address order (from the `.0`th,
    /// `.1` of them, each of the first two given twice).
    MarkAll(usize, usize),
    Cycle,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 20 {
            0..=11 => {
                let size = match u8::arbitrary(g) % 10 {
                    0 => LARGE_THRESHOLD + usize::arbitrary(g) % (3 * LARGE_THRESHOLD),
                    1 => 1 + usize::arbitrary(g) % LARGE_THRESHOLD,
                    _ => 1 + usize::arbitrary(g) % 256,
                };
                let align = *g.choose(&[1, 8, 16, 16, 64, 512]).unwrap();
                Op::Alloc { size, align, drop: bool::arbitrary(g) }
            }
            12 => Op::Checkpoint,
            13 => Op::Rewind,
            14 => Op::Release,
            15..=16 => Op::Mark(usize::arbitrary(g)),
            17..=18 => Op::MarkAll(usize::arbitrary(g), usize::arbitrary(g) % 80),
            _ => Op::Cycle,
        }
    }
}

struct Obj {
    size: usize,
    byte: u8,
    drop: bool,
    marked: bool,
    /// Depth of open checkpoints when it was allocated.
    depth: usize,
}

fn run(ops: Vec<Op>) -> TestResult {
    let dropped = Arc::new(Mutex::new(Vec::<usize>::new()));
    let d2 = Arc::clone(&dropped);
    let space = Space::with_drop_hook(Config::default().heap_limit(256 << 20), move |p| {
        d2.lock().unwrap().push(p.as_ptr() as usize)
    })
    .unwrap();
    let mut a = space.allocator();
    let mut objs: BTreeMap<usize, Obj> = BTreeMap::new();
    let mut cks: Vec<(tmgc_alloc::Checkpoint, u64)> = Vec::new();
    let mut counter = 0u8;

    for op in ops {
        match op {
            Op::Alloc { size, align, drop } => {
                let p = if drop { a.alloc_needs_drop(size, align) } else { a.alloc(size, align) }.unwrap();
                let addr = p.as_ptr() as usize;
                if addr % align != 0 {
                    return TestResult::error(format!("misaligned {addr:#x} for {align}"));
                }
                if size <= LARGE_THRESHOLD && addr / BLOCK_BYTES != (addr + size - 1) / BLOCK_BYTES {
                    return TestResult::error("small object crosses a block");
                }
                if let Some((&prev, o)) = objs.range(..=addr).next_back() {
                    if prev + o.size > addr {
                        return TestResult::error("overlaps the object before it");
                    }
                }
                if let Some((&next, _)) = objs.range(addr..).next() {
                    if addr + size > next {
                        return TestResult::error("overlaps the object after it");
                    }
                }
                counter = counter.wrapping_add(1);
                // SAFETY: fresh allocation of `size` bytes.
                unsafe { std::ptr::write_bytes(p.as_ptr(), counter, size) };
                objs.insert(addr, Obj { size, byte: counter, drop, marked: false, depth: cks.len() });
            }
            Op::Checkpoint => {
                let ck = a.checkpoint();
                cks.push((ck, a.allocated_bytes()));
            }
            Op::Rewind => {
                let Some((ck, bytes)) = cks.last() else { continue };
                let depth = cks.len();
                a.rewind(ck).unwrap();
                if a.allocated_bytes() != *bytes {
                    return TestResult::error("rewind did not restore the byte count");
                }
                let gone: Vec<usize> = objs.iter().filter(|(_, o)| o.depth >= depth).map(|(&k, _)| k).collect();
                for k in gone {
                    objs.remove(&k);
                    if space.is_cell_start(k as *const u8) {
                        return TestResult::error("a rewound object is still a cell");
                    }
                }
            }
            Op::Release => {
                if let Some((ck, _)) = cks.pop() {
                    a.release(ck).unwrap();
                    let depth = cks.len();
                    for o in objs.values_mut() {
                        o.depth = o.depth.min(depth);
                    }
                }
            }
            Op::Mark(i) => {
                if objs.is_empty() {
                    continue;
                }
                let k = *objs.keys().nth(i % objs.len()).unwrap();
                // SAFETY: `k` is a live object of `space`.
                let first = unsafe { tmgc_alloc::mark(NonNull::new(k as *mut u8).unwrap()) };
                let o = objs.get_mut(&k).unwrap();
                if first == o.marked {
                    return TestResult::error("mark() disagrees with the model");
                }
                o.marked = true;
            }
            Op::MarkAll(i, n) => {
                if objs.is_empty() {
                    continue;
                }
                let start = i % objs.len();
                let keys: Vec<usize> = objs.keys().copied().skip(start).take(n).collect();
                let mut run: Vec<NonNull<u8>> = Vec::new();
                for (j, &k) in keys.iter().enumerate() {
                    let p = NonNull::new(k as *mut u8).unwrap();
                    run.push(p);
                    if j < 2 {
                        run.push(p); // the same object again
                    }
                }
                let expect = keys.iter().filter(|k| !objs[k].marked).count() as u64;
                // SAFETY: live objects of `space`.
                let got = unsafe { tmgc_alloc::mark_all(&run) };
                if got != expect {
                    return TestResult::error(format!("mark_all marked {got}, the model says {expect}"));
                }
                for k in keys {
                    objs.get_mut(&k).unwrap().marked = true;
                    // SAFETY: as above.
                    if !unsafe { tmgc_alloc::is_marked(NonNull::new(k as *mut u8).unwrap()) } {
                        return TestResult::error("mark_all left an object unmarked");
                    }
                }
            }
            Op::Cycle => {
                // A collection happens only between transactions.
                while let Some((ck, _)) = cks.pop() {
                    a.release(ck).unwrap();
                }
                for o in objs.values_mut() {
                    o.depth = 0;
                }
                a.retire_all().unwrap();
                dropped.lock().unwrap().clear();
                space.begin_sweep();
                space.sweep();
                if space.unswept_blocks() != 0 {
                    return TestResult::error("sweep left blocks unswept");
                }
                let expect: HashSet<usize> =
                    objs.iter().filter(|(_, o)| !o.marked && o.drop).map(|(&k, _)| k).collect();
                let got: HashSet<usize> = dropped.lock().unwrap().iter().copied().collect();
                if got != expect || dropped.lock().unwrap().len() != expect.len() {
                    return TestResult::error(format!("dropped {got:x?}, expected {expect:x?}"));
                }
                objs.retain(|_, o| o.marked);
                space.clear_marks();
                for o in objs.values_mut() {
                    o.marked = false;
                }
            }
        }
        // What each open checkpoint covers: the objects allocated while it
        // was open (`depth` above its index), listed and counted alike.
        for (i, (ck, _)) in cks.iter().enumerate() {
            let expect: HashSet<usize> = objs.iter().filter(|(_, o)| o.depth > i).map(|(&k, _)| k).collect();
            let mut listed = Vec::new();
            a.allocated_since(ck, |p| listed.push(p.as_ptr() as usize)).unwrap();
            let got: HashSet<usize> = listed.iter().copied().collect();
            if got != expect || listed.len() != expect.len() {
                return TestResult::error(format!("checkpoint {i} lists {got:x?}, the model says {expect:x?}"));
            }
            if a.count_since(ck) != Ok(expect.len()) {
                return TestResult::error(format!("checkpoint {i}: count_since disagrees with the model"));
            }
        }
        for (&k, o) in &objs {
            // SAFETY: `k` is a live object of `o.size` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(k as *const u8, o.size) };
            if bytes.iter().any(|&b| b != o.byte) {
                return TestResult::error(format!("object at {k:#x} was overwritten"));
            }
        }
    }
    TestResult::passed()
}

#[test]
fn random_operations_match_the_model() {
    QuickCheck::new().tests(300).max_tests(300).quickcheck(run as fn(Vec<Op>) -> TestResult);
}

#[test]
fn long_random_sequences_match_the_model() {
    let mut g = Gen::new(3000);
    for _ in 0..10 {
        let ops: Vec<Op> = (0..3000).map(|_| Op::arbitrary(&mut g)).collect();
        let r = run(ops);
        assert!(!r.is_failure() && !r.is_error(), "{r:?}");
    }
}
