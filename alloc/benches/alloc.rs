//! Allocation-rate microbenchmarks: tmgc-alloc against its floor and peers,
//! all in the same run so the ratios are fair.
//!
//! Run: `cargo bench -p tmgc-alloc --bench alloc` (about 3 minutes).
//!
//! Every variant does the same work per object: allocate, write its first
//! word, and keep the pointer in an array. Variants:
//! - `bump`: a hand-written bump pointer over a pre-faulted region (the floor);
//! - `tmgc`: `LocalAllocator::alloc`, rewound to a checkpoint every 64
//!   batches, as the bump region is reset (warm memory: the fast path plus
//!   its refills every 32 KiB, plus the amortised rewind);
//! - `tmgc_swept`: the same, but memory comes back by full sweep cycles with
//!   every object dead (alloc plus amortised sweeping, no rewind);
//! - `system`, `mimalloc`: `GlobalAlloc::alloc` then `dealloc` of each object
//!   of the batch, i.e. `Box::new` + drop with that allocator.
//!
//! `fresh` allocates 64 MiB of 32-byte objects from never-touched memory:
//! page faults dominate, and transparent huge pages change them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimalloc::MiMalloc;
use tmgc_alloc::{Config, LocalAllocator, Space};

const BATCH: usize = 1024;

/// Sizes for the mixed distribution: mostly small, a tail up to 512 bytes
/// (xorshift, fixed seed).
fn mixed_sizes() -> Vec<usize> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..BATCH)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 100 {
                0..=39 => 16,
                40..=69 => 32,
                70..=84 => 48,
                85..=94 => 64 + (x as usize >> 8) % 64,
                _ => 128 + (x as usize >> 8) % 384,
            }
        })
        .collect()
}

/// The floor: a bump pointer over a pre-faulted region.
struct Bump {
    region: Vec<u8>,
    cursor: usize,
}

impl Bump {
    fn new(bytes: usize) -> Self {
        Bump { region: vec![1u8; bytes], cursor: 0 }
    }
    #[inline(always)]
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let size = (size + 15) & !15;
        if size <= self.region.len() - self.cursor {
            let p = self.region.as_mut_ptr().wrapping_add(self.cursor);
            self.cursor += size;
            p
        } else {
            std::ptr::null_mut()
        }
    }
}

#[inline(always)]
fn init(p: *mut u8, i: usize) {
    // SAFETY: every variant hands out at least 16 bytes, 8-aligned.
    unsafe { p.cast::<usize>().write(i) }
}

/// Sizes are compile-time constants for the fixed-size workloads (as for
/// `alloc(size_of::<T>())`) and read from an array for the mixed one.
#[derive(Clone, Copy)]
enum Sizes<'a> {
    Fixed(usize),
    Mixed(&'a [usize]),
}

#[inline(always)]
fn for_each_size(sizes: Sizes<'_>, mut f: impl FnMut(usize, usize)) {
    match sizes {
        Sizes::Fixed(16) => (0..BATCH).for_each(|i| f(i, 16)),
        Sizes::Fixed(32) => (0..BATCH).for_each(|i| f(i, 32)),
        Sizes::Fixed(64) => (0..BATCH).for_each(|i| f(i, 64)),
        Sizes::Fixed(n) => (0..BATCH).for_each(|i| f(i, n)),
        Sizes::Mixed(v) => v.iter().enumerate().for_each(|(i, &s)| f(i, s)),
    }
}

/// Batches between resets: the bump region and the tmgc checkpoint cover
/// this many batches (1 to 4 MiB), so both touch the same memory.
const RESET_EVERY: usize = 64;

#[inline(never)]
fn batch_bump(b: &mut Bump, sizes: Sizes<'_>, out: &mut [*mut u8]) {
    if b.region.len() - b.cursor < BATCH * 512 {
        b.cursor = 0;
    }
    for_each_size(sizes, |i, s| {
        let p = b.alloc(s);
        init(p, i);
        out[i] = p;
    });
}

/// tmgc with a checkpoint rewound every `RESET_EVERY` batches.
struct Rewinding {
    a: LocalAllocator,
    ck: Option<tmgc_alloc::Checkpoint>,
    n: usize,
}

impl Rewinding {
    fn new(space: &Space) -> Self {
        Rewinding { a: space.allocator(), ck: None, n: 0 }
    }

    #[inline(never)]
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        if self.n % RESET_EVERY == 0 {
            if let Some(ck) = self.ck.take() {
                self.a.rewind(&ck).unwrap();
                self.a.release(ck).unwrap();
            }
            self.ck = Some(self.a.checkpoint());
        }
        self.n += 1;
        let a = &mut self.a;
        for_each_size(sizes, |i, s| {
            let p = a.alloc(s, 8).unwrap().as_ptr();
            init(p, i);
            out[i] = p;
        });
    }
}

impl Drop for Rewinding {
    fn drop(&mut self) {
        if let Some(ck) = self.ck.take() {
            self.a.release(ck).unwrap();
        }
    }
}

/// Allocation with memory coming back through full sweep cycles (all dead).
struct Swept {
    space: Space,
    a: LocalAllocator,
    since: usize,
}

impl Swept {
    fn new() -> Self {
        let space = Space::new(Config::default()).unwrap();
        let a = space.allocator();
        Swept { space, a, since: 0 }
    }
    #[inline(never)]
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        let a = &mut self.a;
        for_each_size(sizes, |i, s| {
            let p = a.alloc(s, 8).unwrap().as_ptr();
            init(p, i);
            out[i] = p;
        });
        self.since += 1;
        if self.since == 256 {
            self.since = 0;
            self.a.retire_all().unwrap();
            self.space.clear_marks();
            self.space.begin_sweep();
            self.space.sweep();
        }
    }
}

#[inline(never)]
fn batch_global<G: GlobalAlloc>(g: &G, sizes: Sizes<'_>, out: &mut [*mut u8]) {
    for_each_size(sizes, |i, s| {
        // SAFETY: non-zero size, valid alignment.
        let p = unsafe { g.alloc(Layout::from_size_align_unchecked(s, 8)) };
        init(p, i);
        out[i] = p;
    });
    black_box(&out);
    for_each_size(sizes, |i, s| {
        // SAFETY: allocated just above with this layout.
        unsafe { g.dealloc(out[i], Layout::from_size_align_unchecked(s, 8)) };
    });
}

fn workloads() -> Vec<(String, Option<usize>)> {
    let mut w: Vec<(String, Option<usize>)> = [16, 32, 64].iter().map(|&s| (s.to_string(), Some(s))).collect();
    w.push(("mixed".into(), None));
    w
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_1t");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mixed = mixed_sizes();
    for (name, fixed) in workloads() {
        let sizes = fixed.map_or(Sizes::Mixed(&mixed), Sizes::Fixed);
        let mut out = vec![std::ptr::null_mut(); BATCH];
        let mut bump = Bump::new(RESET_EVERY * BATCH * 64 + BATCH * 512);
        g.bench_function(BenchmarkId::new("bump", &name), |b| b.iter(|| batch_bump(&mut bump, sizes, &mut out)));
        let space = Space::new(Config::default()).unwrap();
        let mut r = Rewinding::new(&space);
        g.bench_function(BenchmarkId::new("tmgc", &name), |b| b.iter(|| r.batch(sizes, &mut out)));
        let mut sw = Swept::new();
        g.bench_function(BenchmarkId::new("tmgc_swept", &name), |b| b.iter(|| sw.batch(sizes, &mut out)));
        g.bench_function(BenchmarkId::new("system", &name), |b| b.iter(|| batch_global(&System, sizes, &mut out)));
        g.bench_function(BenchmarkId::new("mimalloc", &name), |b| b.iter(|| batch_global(&MiMalloc, sizes, &mut out)));
    }
    g.finish();
}

/// Two threads, each doing `iters` batches; the time is wall-clock for both,
/// so perfect scaling shows the same time per batch as one thread.
fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_2t");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    let mixed = mixed_sizes();
    for (name, fixed) in workloads().into_iter().filter(|(n, _)| n == "32" || n == "mixed") {
        let sizes = fixed.map_or(Sizes::Mixed(&mixed), Sizes::Fixed);
        let run = |iters: u64, work: &(dyn Fn(u64) + Sync)| -> Duration {
            let barrier = std::sync::Barrier::new(3);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        barrier.wait();
                        work(iters);
                        barrier.wait();
                    });
                }
                barrier.wait();
                let t = Instant::now();
                barrier.wait();
                t.elapsed()
            })
        };
        g.bench_function(BenchmarkId::new("bump", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut bump = Bump::new(RESET_EVERY * BATCH * 64 + BATCH * 512);
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_bump(&mut bump, sizes, &mut out);
                    }
                })
            })
        });
        let space = Space::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("tmgc", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut r = Rewinding::new(&space);
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        r.batch(sizes, &mut out);
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("system", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_global(&System, sizes, &mut out);
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("mimalloc", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_global(&MiMalloc, sizes, &mut out);
                    }
                })
            })
        });
    }
    g.finish();
}

/// 64 MiB of 32-byte objects from fresh memory, per object.
fn fresh(c: &mut Criterion) {
    const BYTES: usize = 64 << 20;
    const N: usize = BYTES / 32;
    let mut g = c.benchmark_group("alloc_fresh");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for huge in [false, true] {
        let tag = if huge { "thp" } else { "4k" };
        g.bench_function(BenchmarkId::new("bump", tag), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // SAFETY: a private anonymous mapping of our own.
                    let base = unsafe {
                        libc::mmap(
                            std::ptr::null_mut(),
                            BYTES,
                            libc::PROT_READ | libc::PROT_WRITE,
                            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                            -1,
                            0,
                        )
                    };
                    assert_ne!(base, libc::MAP_FAILED);
                    if huge {
                        // SAFETY: advice on our own mapping.
                        unsafe { libc::madvise(base, BYTES, libc::MADV_HUGEPAGE) };
                    }
                    let base = base.cast::<u8>();
                    let t = Instant::now();
                    let mut cursor = 0usize;
                    for i in 0..N {
                        let p = base.wrapping_add(cursor);
                        cursor += 32;
                        init(p, i);
                    }
                    total += t.elapsed();
                    // SAFETY: unmapping the mapping made above.
                    unsafe { libc::munmap(base.cast(), BYTES) };
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("tmgc", tag), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let space = Space::new(Config::default().huge_pages(huge)).unwrap();
                    let mut a = space.allocator();
                    let t = Instant::now();
                    let mut last = NonNull::dangling();
                    for i in 0..N {
                        last = a.alloc(32, 8).unwrap();
                        init(last.as_ptr(), i);
                    }
                    total += t.elapsed();
                    black_box(last);
                }
                total
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, two_threads, fresh
}
criterion_main!(benches);
