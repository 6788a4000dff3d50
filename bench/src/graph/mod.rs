//! A mutation-heavy graph: a table of nodes, each with a value and four
//! edges, starts as a random graph; then steps rewire it. A step picks a
//! node `u`, reads its four neighbours' values, and points one of `u`'s
//! edges either at a random table node or at a fresh node (a random value
//! and four edges into the table). A fresh node dies when its one edge is
//! rewired again, so the heap holds the table, up to four fresh nodes per
//! table node, and garbage; every step overwrites a reference in an old
//! object, which on tmgc is the commit barrier's work while marking runs.
//!
//! With T threads, thread t rewires only nodes u with u mod T = t, with a
//! generator of its own, so the final graph (and the check) is the same
//! whatever the interleaving; reads cross partitions, so tmgc's
//! transactions can conflict. The random numbers of a step are drawn
//! before it runs (a retried transaction redraws nothing).
//!
//! Size: 2^(n-3) table nodes and 2^(n+3) steps (`n = 21`: 262,144 nodes,
//! 16 M steps; `--quick`: 32,768 and 2 M).

mod boxed;
mod dumpster;
mod tmgc;

use crate::{SplitMix, System};

/// Edges per node.
pub const EDGES: usize = 4;

/// Table nodes for size `n`.
pub fn nodes(n: u32) -> usize {
    1 << n.clamp(8, 30).saturating_sub(3)
}

/// Steps for size `n`.
pub fn steps(n: u32) -> u64 {
    1 << (n.clamp(8, 30) + 3)
}

/// The initial graph: node `u`'s edges, drawn from one generator.
pub fn initial_edges(v: usize) -> Vec<[usize; EDGES]> {
    let mut g = SplitMix::new(0x0067_7261_7068);
    (0..v).map(|_| std::array::from_fn(|_| g.below(v as u64) as usize)).collect()
}

/// What a step does to node `u`'s edge `edge`.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// Point it at table node `v`.
    Table(usize),
    /// Point it at a fresh node with this value and these table edges.
    Fresh(u64, [usize; EDGES]),
}

/// One step, drawn before it runs.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// The node rewired (owned by the drawing thread).
    pub u: usize,
    /// Which of its edges.
    pub edge: usize,
    /// Where the edge goes.
    pub target: Target,
}

/// Thread `t`'s generator of steps.
pub struct Steps {
    g: SplitMix,
    v: usize,
    t: usize,
    threads: usize,
}

impl Steps {
    /// Thread `t` of `threads`, on a table of `v` nodes.
    pub fn new(v: usize, t: usize, threads: usize) -> Self {
        Steps { g: SplitMix::new(0x5eed_0000 + t as u64), v, t, threads }
    }

    /// The next step.
    pub fn draw(&mut self) -> Step {
        let mine = (self.v - self.t).div_ceil(self.threads) as u64;
        let u = self.g.below(mine) as usize * self.threads + self.t;
        let edge = self.g.below(EDGES as u64) as usize;
        let r = self.g.next_u64();
        let v = self.v as u64;
        let target = if r & 1 == 0 {
            Target::Table(self.g.below(v) as usize)
        } else {
            Target::Fresh(r >> 40, std::array::from_fn(|_| self.g.below(v) as usize))
        };
        Step { u, edge, target }
    }
}

/// How many of `total` steps thread `t` runs.
pub fn my_steps(total: u64, t: usize, threads: usize) -> u64 {
    total / threads as u64 + u64::from((t as u64) < total % threads as u64)
}

/// The check's share of table node `u`'s edge `j`, given the value of
/// its target `x` and the values of `x`'s neighbours.
pub fn check_term(j: usize, x_value: u64, x_neighbours: [u64; EDGES]) -> u64 {
    let s = x_neighbours.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    x_value.wrapping_mul(j as u64 + 1).wrapping_add(s)
}

/// Run the program on `system`, printing its line.
pub fn run(system: System, n: u32, threads: usize) -> bool {
    let (v, total) = (nodes(n), steps(n));
    let check = match system {
        System::Tmgc => tmgc::run(v, total, threads),
        System::Boxed => boxed::run(v, total, threads),
        System::Dumpster => dumpster::run(v, total, threads),
        System::Arena => return false,
    };
    println!("{v} nodes, {total} rewirings\t check: {check}");
    true
}
