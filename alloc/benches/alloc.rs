//! Allocation-rate microbenchmarks: tmgc-alloc against its floor and peers,
//! all in the same run so the ratios are fair.
//!
//! Run: `cargo bench -p tmgc-alloc --bench alloc` (about 3 minutes).
//!
//! Every variant does the same work per object: allocate, write its first
//! word, and keep the pointer in an array; a batch is 1024 objects. Every
//! `k` batches each variant gives back what those batches allocated, so all
//! of them cycle through the same memory (`k = 1`: hot, 16 to 64 KiB;
//! `k = 64`: warm, 1 to 4 MiB). Variants:
//! - `bump`: a hand-written bump pointer over a pre-faulted region, reset (the floor);
//! - `tmgc`: `LocalAllocator::alloc`, rewound to a checkpoint (the fast path,
//!   its refills every 32 KiB and the amortised rewind);
//! - `tmgc_swept` (k = 64 only): memory comes back by full sweep cycles
//!   every 256 batches with every object dead (no rewind);
//! - `system`, `mimalloc`: `GlobalAlloc::alloc`, and `dealloc` of each
//!   object at the reset: `Box::new` and drop with that allocator.
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
/// (`fastrand`, fixed seed).
fn mixed_sizes() -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    (0..BATCH)
        .map(|_| {
            let x = rng.u64(..);
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

/// The largest object any workload allocates.
const MAX_SIZE: usize = 512;

/// One allocator under test. Every `k` batches it gives back everything the
/// last `k` batches allocated: the bump pointer resets, tmgc rewinds to a
/// checkpoint, malloc frees each object. So all variants cycle through the
/// same amount of memory: `k = 1` keeps it hot in L1/L2, `k = 64` (1 to 4
/// MiB) does not.
trait Variant {
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]);
    fn reset(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]);
}

impl Variant for Bump {
    #[inline(never)]
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        for_each_size(sizes, |i, s| {
            let p = self.alloc(s);
            init(p, i);
            out[i] = p;
        });
    }
    fn reset(&mut self, _: Sizes<'_>, _: &mut [*mut u8]) {
        self.cursor = 0;
    }
}

/// One batch of tmgc allocations (shared by the tmgc variants).
#[inline(always)]
fn tmgc_batch(a: &mut LocalAllocator, sizes: Sizes<'_>, out: &mut [*mut u8]) {
    for_each_size(sizes, |i, s| {
        let p = a.alloc(s, 8).unwrap().as_ptr();
        init(p, i);
        out[i] = p;
    });
}

/// tmgc, rewound to a checkpoint at each reset.
struct Rewinding {
    a: LocalAllocator,
    ck: Option<tmgc_alloc::Checkpoint>,
}

impl Rewinding {
    fn new(space: &Space) -> Self {
        let mut a = space.allocator();
        let ck = Some(a.checkpoint());
        Rewinding { a, ck }
    }
}

impl Variant for Rewinding {
    #[inline(never)]
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        tmgc_batch(&mut self.a, sizes, out);
    }
    fn reset(&mut self, _: Sizes<'_>, _: &mut [*mut u8]) {
        let ck = self.ck.take().unwrap();
        self.a.rewind(&ck).unwrap();
        self.a.release(ck).unwrap();
        self.ck = Some(self.a.checkpoint());
    }
}

impl Drop for Rewinding {
    fn drop(&mut self) {
        if let Some(ck) = self.ck.take() {
            self.a.release(ck).unwrap();
        }
    }
}

/// `Box::new` and drop through a global allocator.
struct Malloc<G: GlobalAlloc>(G);

impl<G: GlobalAlloc> Variant for Malloc<G> {
    #[inline(never)]
    fn batch(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        for_each_size(sizes, |i, s| {
            // SAFETY: non-zero size, valid alignment.
            let p = unsafe { self.0.alloc(Layout::from_size_align_unchecked(s, 8)) };
            init(p, i);
            out[i] = p;
        });
    }
    fn reset(&mut self, sizes: Sizes<'_>, out: &mut [*mut u8]) {
        for batch in out.chunks_exact(BATCH) {
            for_each_size(sizes, |i, s| {
                if !batch[i].is_null() {
                    // SAFETY: allocated by `batch` with this layout, freed once.
                    unsafe { self.0.dealloc(batch[i], Layout::from_size_align_unchecked(s, 8)) };
                }
            });
        }
        out.fill(std::ptr::null_mut());
    }
}

/// Run batches of `v`, resetting every `k`.
struct Driver<V: Variant> {
    v: V,
    k: usize,
    n: usize,
    out: Vec<*mut u8>,
}

impl<V: Variant> Driver<V> {
    fn new(v: V, k: usize) -> Self {
        Driver { v, k, n: 0, out: vec![std::ptr::null_mut(); k * BATCH] }
    }
    fn step(&mut self, sizes: Sizes<'_>) {
        let slot = self.n % self.k;
        if slot == 0 && self.n > 0 {
            self.v.reset(sizes, &mut self.out);
        }
        self.n += 1;
        self.v.batch(sizes, &mut self.out[slot * BATCH..(slot + 1) * BATCH]);
        black_box(&self.out);
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
        tmgc_batch(&mut self.a, sizes, out);
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

fn workloads() -> Vec<(String, Option<usize>)> {
    let mut w: Vec<(String, Option<usize>)> = [16, 32, 64].iter().map(|&s| (s.to_string(), Some(s))).collect();
    w.push(("mixed".into(), None));
    w
}

fn single_thread(c: &mut Criterion) {
    let mixed = mixed_sizes();
    for k in [1, 64] {
        let mut g = c.benchmark_group(format!("alloc_1t_k{k}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        for (name, fixed) in workloads() {
            let sizes = fixed.map_or(Sizes::Mixed(&mixed), Sizes::Fixed);
            let mut bump = Driver::new(Bump::new(k * BATCH * MAX_SIZE), k);
            g.bench_function(BenchmarkId::new("bump", &name), |b| b.iter(|| bump.step(sizes)));
            let space = Space::new(Config::default()).unwrap();
            let mut tmgc = Driver::new(Rewinding::new(&space), k);
            g.bench_function(BenchmarkId::new("tmgc", &name), |b| b.iter(|| tmgc.step(sizes)));
            let mut system = Driver::new(Malloc(System), k);
            g.bench_function(BenchmarkId::new("system", &name), |b| b.iter(|| system.step(sizes)));
            system.v.reset(sizes, &mut system.out);
            let mut mi = Driver::new(Malloc(MiMalloc), k);
            g.bench_function(BenchmarkId::new("mimalloc", &name), |b| b.iter(|| mi.step(sizes)));
            mi.v.reset(sizes, &mut mi.out);
            if k == 64 {
                let mut sw = Swept::new();
                let mut out = vec![std::ptr::null_mut(); BATCH];
                g.bench_function(BenchmarkId::new("tmgc_swept", &name), |b| b.iter(|| sw.batch(sizes, &mut out)));
            }
        }
        g.finish();
    }
}

/// Two threads, each doing `iters` batches; the time is wall-clock for both,
/// so perfect scaling shows the same time per batch as one thread.
fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_2t_k64");
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
        let k = 64;
        g.bench_function(BenchmarkId::new("bump", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut d = Driver::new(Bump::new(k * BATCH * MAX_SIZE), k);
                    (0..n).for_each(|_| d.step(sizes));
                })
            })
        });
        let space = Space::new(Config::default()).unwrap();
        g.bench_function(BenchmarkId::new("tmgc", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut d = Driver::new(Rewinding::new(&space), k);
                    (0..n).for_each(|_| d.step(sizes));
                })
            })
        });
        g.bench_function(BenchmarkId::new("system", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut d = Driver::new(Malloc(System), k);
                    (0..n).for_each(|_| d.step(sizes));
                    d.v.reset(sizes, &mut d.out);
                })
            })
        });
        g.bench_function(BenchmarkId::new("mimalloc", &name), |b| {
            b.iter_custom(|iters| {
                run(iters, &|n| {
                    let mut d = Driver::new(Malloc(MiMalloc), k);
                    (0..n).for_each(|_| d.step(sizes));
                    d.v.reset(sizes, &mut d.out);
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
