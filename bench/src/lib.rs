//! Whole-program benchmarks run on tmgc and on its peers (see README.md,
//! "Benchmarks against peers", and docs/PERFORMANCE.md).
//!
//! Each program is written idiomatically for each system and prints the
//! same lines: the runner (`src/main.rs`) compares them, so a system that
//! computes something else fails the run. Each (program, system) pair runs
//! in a process of its own, so its peak RSS is its own.

pub mod binary_trees;

/// A system a program runs on, in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// tmgc: transactions on a collected heap.
    Tmgc,
    /// `Box`, freed by `Drop`, with whatever global allocator this
    /// binary has (the system's, or mimalloc in `tmgc-bench-mimalloc`).
    Boxed,
    /// A bump arena (bumpalo), reset after each tree: the floor.
    Arena,
}

impl System {
    /// The system named `s` (`tmgc`, `box`, `arena`).
    pub fn parse(s: &str) -> Option<System> {
        match s {
            "tmgc" => Some(System::Tmgc),
            "box" => Some(System::Boxed),
            "arena" => Some(System::Arena),
            _ => None,
        }
    }
}

/// Run `program` on `system` with size `n` and `threads` mutator threads,
/// printing its output lines; `#` lines carry statistics for the runner.
/// Returns false for an unknown program.
pub fn run(program: &str, system: System, n: u32, threads: usize) -> bool {
    match program {
        "binary-trees" => {
            binary_trees::run(system, n, threads);
            true
        }
        _ => false,
    }
}
