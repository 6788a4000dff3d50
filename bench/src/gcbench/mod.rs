//! GCBench, after Hans Boehm's (itself after John Ellis and Pete Kovac):
//! a stretch tree; a long-lived tree and a long-lived array of doubles
//! that stay to the end; then for each depth d = 4, 6, .., max, `iters(d)`
//! trees built top-down (a node is allocated, then its children are
//! allocated and stored into it) and as many built bottom-up (children
//! first, as binary-trees does).
//!
//! Size: `n` is the stretch depth; the long-lived tree and the largest
//! depth are `n - 2`; the array has 500,000 doubles, the first half set to
//! `1/i`. With `n = 18` (`--quick`) this is Boehm's program; `n = 21`
//! builds 8 times as many nodes. Boehm's program checks only that the
//! long-lived data survive; here each batch also counts the nodes of its
//! last tree, so every system proves it built the same shapes.

mod arena;
mod boxed;
mod dumpster;
mod tmgc;

use crate::System;

/// The smallest depth.
pub const MIN_DEPTH: u32 = 4;
/// Doubles in the long-lived array.
pub const ARRAY_LEN: usize = 500_000;

/// Nodes in a full tree of depth `d`.
pub fn tree_size(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// Trees of depth `d` built each way, for stretch depth `stretch`:
/// Boehm's `NumIters`.
pub fn iters(stretch: u32, d: u32) -> u64 {
    2 * tree_size(stretch) / tree_size(d)
}

/// The work of one system. Every method returns the node count of the
/// tree it checked.
pub(crate) trait GcBench {
    /// Build a tree of depth `d` bottom-up and count it.
    fn stretch(&mut self, d: u32) -> u64;
    /// Build the long-lived tree (top-down) and array, and keep them.
    fn keep(&mut self, d: u32, array_len: usize);
    /// Build `iters` trees of depth `d` top-down; count the last.
    fn top_down(&mut self, d: u32, iters: u64) -> u64;
    /// Build `iters` trees of depth `d` bottom-up; count the last.
    fn bottom_up(&mut self, d: u32, iters: u64) -> u64;
    /// Count the long-lived tree; read `array[1000]` and sum the array.
    fn check_kept(&mut self) -> (u64, f64, f64);
}

/// Run GCBench on `system`, printing its lines.
pub fn run(system: System, n: u32) -> bool {
    let n = n.max(MIN_DEPTH + 4);
    match system {
        System::Tmgc => {
            let mut b = tmgc::TmgcBench::new();
            drive(&mut b, n);
            b.report();
        }
        System::Boxed => drive(&mut boxed::BoxBench::default(), n),
        System::Arena => drive(&mut arena::ArenaBench::default(), n),
        System::Dumpster => drive(&mut dumpster::DumpsterBench::default(), n),
    }
    true
}

fn drive<B: GcBench>(b: &mut B, stretch: u32) {
    let max = stretch - 2;
    println!("stretch tree of depth {stretch}\t check: {}", b.stretch(stretch));
    b.keep(max, ARRAY_LEN);
    for d in (MIN_DEPTH..=max).step_by(2) {
        let k = iters(stretch, d);
        let td = b.top_down(d, k);
        let bu = b.bottom_up(d, k);
        println!("{k}\t trees of depth {d}\t top-down check: {td}\t bottom-up check: {bu}");
    }
    let (nodes, a1000, sum) = b.check_kept();
    println!("long lived tree of depth {max}\t check: {nodes}");
    println!("long lived array of {ARRAY_LEN} doubles\t a[1000]: {a1000:.9}\t sum: {sum:.6}");
}

/// The value Boehm's program stores at `array[i]` (`i` < half the
/// length; the rest stay 0). Index 0 holds 0 here, not 1/0.
pub fn array_value(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        1.0 / i as f64
    }
}
