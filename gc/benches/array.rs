//! Array element reads and writes against a `Vec` under a `Mutex`, in the
//! same run (issue 17).
//!
//! Run: `cargo bench -p tmgc --bench array` (about 1 minute).
//!
//! Two kinds of work on an array of 4,096 integers:
//! - `read16_write1`: read 16 elements at pseudo-random positions and
//!   write 1 (an interpreter's vector in a handler). `tmgc` does it in a
//!   transaction on a tagged array reached through a global root; `mutex`
//!   under one `std::sync::Mutex<Vec<i64>>` per array.
//! - `sum4096`: read every element once (a scan), the same two ways.
//!
//! One thread (solo mode, and with solo mode off: the concurrency control
//! two threads pay), and two threads on disjoint arrays or on one array.

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tmgc::{Config, Dyn, DynType, DynTypeSpec, Elems, GlobalRoot, Heap, Mutator, Tagged};

const N: usize = 4096;
const BATCH: u64 = 1000;

fn vector() -> DynType {
    DynType::register(DynTypeSpec::new("BenchVector").array(Elems::Tagged)).unwrap()
}

fn make(heap: &Heap, n: usize) -> Vec<GlobalRoot<Dyn>> {
    let mut m = heap.attach().unwrap();
    (0..n)
        .map(|_| {
            m.transaction::<_, ()>(|tx| {
                let v = tx.alloc_array(vector(), N)?;
                for i in 0..N {
                    tx.set_elem(v, i, Tagged::int(i as i64).unwrap())?;
                }
                Ok(tx.global_root(v))
            })
            .unwrap()
        })
        .collect()
}

fn int(t: Tagged<'_>) -> i64 {
    match t {
        Tagged::Int(n) => n.get(),
        _ => 0,
    }
}

/// Positions: a seeded walk over the array (`fastrand`), the same in
/// every attempt of a transaction and in the `Mutex` version.
fn next(x: &mut usize) -> usize {
    let mut r = fastrand::Rng::with_seed(*x as u64);
    *x = r.usize(..);
    *x % N
}

fn tx_batch(m: &mut Mutator, v: &GlobalRoot<Dyn>, seed: &mut usize) {
    for _ in 0..BATCH {
        let start = *seed;
        m.transaction::<_, ()>(|tx| {
            let mut x = start;
            let a = tx.get_global(v)?;
            let mut sum = 0;
            for _ in 0..16 {
                sum += int(tx.elem(a, next(&mut x))?);
            }
            tx.set_elem(a, next(&mut x), Tagged::int(black_box(sum) % 1000).unwrap())?;
            Ok(())
        })
        .unwrap();
        *seed = seed.wrapping_add(17);
    }
}

fn mutex_batch(lock: &Mutex<Vec<i64>>, seed: &mut usize) {
    for _ in 0..BATCH {
        let mut x = *seed;
        let mut g = lock.lock().unwrap();
        let mut sum = 0;
        for _ in 0..16 {
            sum += g[next(&mut x)];
        }
        let i = next(&mut x);
        g[i] = black_box(sum) % 1000;
        drop(g);
        *seed = seed.wrapping_add(17);
    }
}

fn tx_sum(m: &mut Mutator, v: &GlobalRoot<Dyn>) -> i64 {
    m.transaction::<_, ()>(|tx| {
        let a = tx.get_global(v)?;
        let mut s = 0;
        for i in 0..N {
            s += int(tx.elem(a, i)?);
        }
        Ok(s)
    })
    .unwrap()
}

fn mutex_sum(lock: &Mutex<Vec<i64>>) -> i64 {
    lock.lock().unwrap().iter().sum()
}

fn two(iters: u64, work: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for t in 0..2 {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                work(t, iters);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let heap = Heap::new(Config::default()).unwrap();
    let arrays = make(&heap, 2);
    let locks: Vec<Mutex<Vec<i64>>> = (0..2).map(|_| Mutex::new((0..N as i64).collect())).collect();

    let mut g = c.benchmark_group("array_read16_write1");
    g.throughput(Throughput::Elements(BATCH));
    {
        let mut m = heap.attach().unwrap();
        let mut seed = 1;
        g.bench_function(BenchmarkId::new("tmgc", "1 thread"), |b| b.iter(|| tx_batch(&mut m, &arrays[0], &mut seed)));
    }
    {
        let heap = Heap::new(Config::default().solo(false)).unwrap();
        let arrays = make(&heap, 1);
        let mut m = heap.attach().unwrap();
        let mut seed = 1;
        g.bench_function(BenchmarkId::new("tmgc", "1 thread, solo off"), |b| {
            b.iter(|| tx_batch(&mut m, &arrays[0], &mut seed))
        });
    }
    let mut seed = 1;
    g.bench_function(BenchmarkId::new("mutex", "1 thread"), |b| b.iter(|| mutex_batch(&locks[0], &mut seed)));
    g.throughput(Throughput::Elements(2 * BATCH));
    for (name, shared) in [("2 threads disjoint", false), ("2 threads shared", true)] {
        g.bench_function(BenchmarkId::new("tmgc", name), |b| {
            b.iter_custom(|iters| {
                two(iters, &|t, n| {
                    let mut m = heap.attach().unwrap();
                    let mut seed = t * 7919 + 1;
                    let v = &arrays[if shared { 0 } else { t }];
                    (0..n).for_each(|_| tx_batch(&mut m, v, &mut seed));
                })
            })
        });
        g.bench_function(BenchmarkId::new("mutex", name), |b| {
            b.iter_custom(|iters| {
                two(iters, &|t, n| {
                    let mut seed = t * 7919 + 1;
                    let l = &locks[if shared { 0 } else { t }];
                    (0..n).for_each(|_| mutex_batch(l, &mut seed));
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("array_sum4096");
    g.throughput(Throughput::Elements(N as u64));
    {
        let mut m = heap.attach().unwrap();
        g.bench_function(BenchmarkId::new("tmgc", "1 thread"), |b| b.iter(|| black_box(tx_sum(&mut m, &arrays[0]))));
    }
    {
        let heap = Heap::new(Config::default().solo(false)).unwrap();
        let arrays = make(&heap, 1);
        let mut m = heap.attach().unwrap();
        g.bench_function(BenchmarkId::new("tmgc", "1 thread, solo off"), |b| {
            b.iter(|| black_box(tx_sum(&mut m, &arrays[0])))
        });
    }
    g.bench_function(BenchmarkId::new("mutex", "1 thread"), |b| b.iter(|| black_box(mutex_sum(&locks[0]))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
