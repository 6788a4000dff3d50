//! binary-trees, by the rules of the Computer Language Benchmarks Game:
//! minimum depth 4; a stretch tree of depth N+1, built and checked; a
//! long-lived tree of depth N, kept to the end; then for d = 4, 6, .., N,
//! 2^(N-d+4) trees of depth d, each built then checked (a check counts the
//! nodes). With T threads each thread builds every T-th tree of each
//! depth, and the checks are summed.

mod arena;
mod boxed;
mod dumpster;
mod tmgc;

use crate::System;

/// The smallest depth.
pub const MIN_DEPTH: u32 = 4;

/// Nodes in a full tree of depth `d`: what every system's check returns.
pub fn nodes(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// The depths and how many trees each has, for size `n`.
pub fn depths(n: u32) -> impl Iterator<Item = (u32, u64)> {
    let max = n.max(MIN_DEPTH + 2);
    (MIN_DEPTH..=max).step_by(2).map(move |d| (d, 1u64 << (max - d + MIN_DEPTH)))
}

/// The work of one system: the three phases of the program. Thread 0's
/// share of each depth runs on the calling thread (`batch`), so one thread
/// means one thread: tmgc's main mutator stays alone (solo mode). Other
/// threads get an owned `Shared` handle (`batch_shared`).
pub(crate) trait Trees {
    /// What a worker thread needs (tmgc: the heap, to attach to).
    type Shared: Clone + Send + 'static;
    /// Build and check a tree of depth `d` (the stretch tree).
    fn stretch(&mut self, d: u32) -> u64;
    /// Build the long-lived tree of depth `d` and keep it.
    fn keep(&mut self, d: u32);
    /// Check the long-lived tree.
    fn check_kept(&mut self) -> u64;
    /// Build and check thread 0's share of `count` trees of depth `d`.
    fn batch(&mut self, d: u32, count: u64, threads: usize) -> u64;
    /// The handle worker threads get.
    fn shared(&self) -> Self::Shared;
    /// Build and check thread `t`'s share (`t` > 0) on a worker thread.
    fn batch_shared(shared: &Self::Shared, d: u32, count: u64, t: usize, threads: usize) -> u64;
}

/// Run the program on `system`, printing the benchmark's lines.
pub fn run(system: System, n: u32, threads: usize) -> bool {
    let max = n.max(MIN_DEPTH + 2);
    match system {
        System::Tmgc => {
            let mut t = tmgc::TmgcTrees::new();
            drive(&mut t, max, threads);
            t.report();
        }
        System::Boxed => drive(&mut boxed::BoxTrees::default(), max, threads),
        System::Arena => match arena::header_words() {
            2 => drive(&mut arena::ArenaTrees::<2>::default(), max, threads),
            1 => drive(&mut arena::ArenaTrees::<1>::default(), max, threads),
            _ => drive(&mut arena::ArenaTrees::<0>::default(), max, threads),
        },
        System::Dumpster => drive(&mut dumpster::DumpsterTrees::default(), max, threads),
    }
    true
}

fn drive<T: Trees>(trees: &mut T, max: u32, threads: usize) {
    let stretch = max + 1;
    println!("stretch tree of depth {stretch}\t check: {}", trees.stretch(stretch));
    trees.keep(max);
    for (d, count) in depths(max) {
        let shared = trees.shared();
        let check: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (1..threads)
                .map(|t| {
                    let shared = shared.clone();
                    s.spawn(move || T::batch_shared(&shared, d, count, t, threads))
                })
                .collect();
            let mine = trees.batch(d, count, threads);
            mine + hs.into_iter().map(|h| h.join().expect("a tree thread panicked")).sum::<u64>()
        });
        println!("{count}\t trees of depth {d}\t check: {check}");
    }
    println!("long lived tree of depth {max}\t check: {}", trees.check_kept());
}

/// How many of `count` trees thread `t` of `threads` builds.
pub(crate) fn share(count: u64, t: usize, threads: usize) -> u64 {
    let (t, n) = (t as u64, threads as u64);
    count / n + u64::from(t < count % n)
}
