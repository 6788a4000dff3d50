//! Allocation-rate microbenchmarks: tmgc-alloc against its floor and peers,
//! all in the same run so the ratios are fair.
//!
//! Run: `cargo bench -p tmgc-alloc --bench alloc` (about 3 minutes).
//!
//! Every variant does the same work per object: allocate, write its first
//! word, and keep the pointer in an array. Variants:
//! - `bump`: a hand-written bump pointer over a pre-faulted region (the floor);
//! - `tmgc`: `LocalAllocator::alloc`, rewound to a checkpoint after each batch
//!   (warm memory, the pure fast path plus its refills);
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

fn batch_bump(b: &mut Bump, sizes: &[usize], out: &mut [*mut u8]) {
    b.cursor = 0;
    for (i, &s) in sizes.iter().enumerate() {
        let p = b.alloc(s);
        init(p, i);
        out[i] = p;
    }
}

fn batch_tmgc(a: &mut LocalAllocator, sizes: &[usize], out: &mut [*mut u8]) {
    let ck = a.checkpoint();
    for (i, &s) in sizes.iter().enumerate() {
        let p = a.alloc(s, 8).unwrap().as_ptr();
        init(p, i);
        out[i] = p;
    }
    black_box(&out);
    a.rewind(&ck).unwrap();
    a.release(ck).unwrap();
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
    fn batch(&mut self, sizes: &[usize], out: &mut [*mut u8]) {
        for (i, &s) in sizes.iter().enumerate() {
            let p = self.a.alloc(s, 8).unwrap().as_ptr();
            init(p, i);
            out[i] = p;
        }
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

fn batch_global(g: &dyn GlobalAlloc, sizes: &[usize], out: &mut [*mut u8]) {
    for (i, &s) in sizes.iter().enumerate() {
        // SAFETY: non-zero size, valid alignment.
        let p = unsafe { g.alloc(Layout::from_size_align_unchecked(s, 8)) };
        init(p, i);
        out[i] = p;
    }
    black_box(&out);
    for (i, &s) in sizes.iter().enumerate() {
        // SAFETY: allocated just above with this layout.
        unsafe { g.dealloc(out[i], Layout::from_size_align_unchecked(s, 8)) };
    }
}

fn workloads() -> Vec<(String, Vec<usize>)> {
    let mut w: Vec<(String, Vec<usize>)> = [16, 32, 64].iter().map(|&s| (s.to_string(), vec![s; BATCH])).collect();
    w.push(("mixed".into(), mixed_sizes()));
    w
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_1t");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, sizes) in workloads() {
        let mut out = vec![std::ptr::null_mut(); BATCH];
        let mut bump = Bump::new(1 << 20);
        g.bench_with_input(BenchmarkId::new("bump", &name), &sizes, |b, s| {
            b.iter(|| batch_bump(&mut bump, s, &mut out))
        });
        let space = Space::new(Config::default()).unwrap();
        let mut a = space.allocator();
        g.bench_with_input(BenchmarkId::new("tmgc", &name), &sizes, |b, s| b.iter(|| batch_tmgc(&mut a, s, &mut out)));
        let mut sw = Swept::new();
        g.bench_with_input(BenchmarkId::new("tmgc_swept", &name), &sizes, |b, s| b.iter(|| sw.batch(s, &mut out)));
        g.bench_with_input(BenchmarkId::new("system", &name), &sizes, |b, s| {
            b.iter(|| batch_global(&System, s, &mut out))
        });
        g.bench_with_input(BenchmarkId::new("mimalloc", &name), &sizes, |b, s| {
            b.iter(|| batch_global(&MiMalloc, s, &mut out))
        });
    }
    g.finish();
}

/// Two threads, each doing `iters` batches; the time is wall-clock for both,
/// so perfect scaling shows the same time per batch as one thread.
fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_2t");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    for (name, sizes) in workloads().into_iter().filter(|(n, _)| n == "32" || n == "mixed") {
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
        g.bench_with_input(BenchmarkId::new("bump", &name), &sizes, |b, s| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut bump = Bump::new(1 << 20);
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_bump(&mut bump, s, &mut out);
                    }
                })
            })
        });
        let space = Space::new(Config::default()).unwrap();
        g.bench_with_input(BenchmarkId::new("tmgc", &name), &sizes, |b, s| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut a = space.allocator();
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_tmgc(&mut a, s, &mut out);
                    }
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("system", &name), &sizes, |b, s| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_global(&System, s, &mut out);
                    }
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("mimalloc", &name), &sizes, |b, s| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut out = vec![std::ptr::null_mut(); BATCH];
                    for _ in 0..n {
                        batch_global(&MiMalloc, s, &mut out);
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
