//! Whole-program benchmarks run on tmgc and on its peers (see README.md,
//! "Benchmarks against peers", and docs/PERFORMANCE.md).
//!
//! Each program is written idiomatically for each system and prints the
//! same lines: the runner (`src/main.rs`) compares them, so a system that
//! computes something else fails the run. Each (program, system) pair runs
//! in a process of its own, so its peak RSS is its own.
//!
//! The programs (each module says what it computes and how its size follows
//! from `n`):
//! - [`binary_trees`]: the Benchmarks Game's binary-trees;
//! - [`gcbench`]: Boehm's GCBench (top-down and bottom-up trees, a
//!   long-lived tree and a long-lived array of doubles);
//! - [`alloc_rate`]: 32-byte objects, each written, one in 100 kept;
//! - [`graph`]: a shared random graph whose edges transactions rewire.

pub mod alloc_rate;
pub mod binary_trees;
pub mod gcbench;
pub mod graph;
mod rng;
mod tmgc_report;

pub use rng::SplitMix;

/// A system a program runs on, in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// tmgc: transactions on a collected heap.
    Tmgc,
    /// `Box`, freed by `Drop`, with whatever global allocator this
    /// binary has (the system's, or mimalloc in `tmgc-bench-mimalloc`).
    /// The graph, whose nodes have several owners, uses `Arc` + `Mutex`.
    Boxed,
    /// A bump arena (bumpalo), reset after each tree: the floor. With
    /// `TMGC_BENCH_ARENA_HEADER=1` (the runner's `arena-header`), binary-trees
    /// nodes carry a header of tmgc's size.
    Arena,
    /// dumpster's thread-safe `sync::Gc` (reference counting with a
    /// cycle collector): the Rust garbage-collected pointer a user would
    /// reach for.
    Dumpster,
}

impl System {
    /// The system named `s` (`tmgc`, `box`, `arena`, `dumpster`).
    pub fn parse(s: &str) -> Option<System> {
        match s {
            "tmgc" => Some(System::Tmgc),
            "box" => Some(System::Boxed),
            "arena" => Some(System::Arena),
            "dumpster" => Some(System::Dumpster),
            _ => None,
        }
    }
}

/// The programs, in the order the runner reports them.
pub const PROGRAMS: [&str; 4] = ["binary-trees", "gcbench", "alloc-rate", "graph"];

/// Why `program` has no meaning on `system` (a runner's system name such
/// as `arena` or `boehm-2`) with `threads` mutator threads, if it has none.
pub fn not_applicable(program: &str, system: &str, threads: usize) -> Option<&'static str> {
    match (program, system) {
        ("gcbench", _) if threads != 1 => Some("n/a: GCBench is a one-thread program"),
        ("alloc-rate", "arena") => {
            Some("n/a: an arena frees nothing before its reset, and one object in 100 lives to the end")
        }
        (p, "arena-header") if p != "binary-trees" => {
            Some("n/a: the arena with tmgc's header is a control for binary-trees only")
        }
        ("graph", "arena") => Some("n/a: replaced nodes must be freed while the graph lives; an arena cannot"),
        (_, s) if s.starts_with("boehm-") && threads != 1 => Some("n/a: the C programs have one mutator thread"),
        _ => None,
    }
}

/// Run `program` on `system` with size `n` and `threads` mutator threads,
/// printing its output lines; `#` lines carry statistics for the runner.
/// Returns false for an unknown program, or one with no meaning on
/// `system` (see [`not_applicable`]).
pub fn run(program: &str, system: System, n: u32, threads: usize) -> bool {
    let threads = threads.max(1);
    match program {
        "binary-trees" => binary_trees::run(system, n, threads),
        "gcbench" => gcbench::run(system, n),
        "alloc-rate" => alloc_rate::run(system, n, threads),
        "graph" => graph::run(system, n, threads),
        _ => false,
    }
}
