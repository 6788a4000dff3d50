//! Allocation rate: objects of 32 bytes (a link and three words), each
//! written when it is made; one in 100 is kept in a list to the end, the
//! rest are dropped at once. Objects are made in batches of 100 (the
//! first of a batch is the kept one); with T threads, thread t makes
//! batches t, t + T, .., each thread keeping a list of its own.
//!
//! Size: 100 million objects at `n = 21`, halved for each step below
//! (`--quick`, `n = 18`: 12.5 million). The check sums the kept objects'
//! words, so it does not depend on how batches fall to threads.

mod boxed;
mod dumpster;
mod tmgc;

use crate::System;

/// Objects per batch; the first of each batch is kept.
pub const BATCH: u64 = 100;

/// Objects made for size `n`, a multiple of [`BATCH`].
pub fn objects(n: u32) -> u64 {
    let full: u64 = 100_000_000;
    let o = if n >= 21 { full << (n - 21).min(8) } else { full >> (21 - n).min(20) };
    (o / BATCH).max(1) * BATCH
}

/// The three words written into object `i`.
#[inline]
pub fn words(i: u64) -> [u64; 3] {
    [i, i ^ 0x5555_5555, i.wrapping_mul(3)]
}

/// What a kept object adds to the check.
pub fn check_of(w: [u64; 3]) -> u64 {
    w[0].wrapping_add(w[1]).wrapping_add(w[2])
}

/// The batches thread `t` of `threads` makes, of `batches`.
pub fn my_batches(batches: u64, t: usize, threads: usize) -> impl Iterator<Item = u64> {
    (t as u64..batches).step_by(threads)
}

/// One thread's result: objects kept and their check.
pub(crate) type Tally = (u64, u64);

/// Run the program on `system`, printing its line.
pub fn run(system: System, n: u32, threads: usize) -> bool {
    let total = objects(n);
    let batches = total / BATCH;
    let tallies: Vec<Tally> = match system {
        System::Tmgc => tmgc::run(batches, threads),
        System::Boxed => spread(threads, |t| boxed::thread(batches, t, threads)),
        System::Dumpster => spread(threads, |t| dumpster::thread(batches, t, threads)),
        System::Arena => return false,
    };
    let kept: u64 = tallies.iter().map(|t| t.0).sum();
    let check = tallies.iter().fold(0u64, |a, t| a.wrapping_add(t.1));
    println!("{total} objects of 32 bytes\t kept: {kept}\t check: {check}");
    true
}

/// Run `f(t)` for t in 0..threads, thread 0 on the calling thread.
pub(crate) fn spread<F>(threads: usize, f: F) -> Vec<Tally>
where
    F: Fn(usize) -> Tally + Sync,
{
    std::thread::scope(|s| {
        let f = &f;
        let hs: Vec<_> = (1..threads).map(|t| s.spawn(move || f(t))).collect();
        let mut all = vec![f(0)];
        all.extend(hs.into_iter().map(|h| h.join().expect("an allocating thread panicked")));
        all
    })
}
