//! Transaction throughput against a global lock, in the same run.
//!
//! Run: `cargo bench -p tmgc --bench tx` (about 1 minute).
//!
//! The work: read 8 word fields of a record and write 1. `tmgc` does it in a
//! transaction (the record reached through a root); `mutex` does it under
//! one `std::sync::Mutex` holding all records (the global-lock baseline).
//! Two threads run either on disjoint records (no conflicts: scaling) or on
//! the same record (every transaction conflicts with the other thread's);
//! a last row runs each of two threads on a heap of its own (each solo),
//! the ceiling two threads reach with the solo transaction's cost.
//!
//! Three more one-thread rows take the solo transaction apart (its cost
//! without the mutex's work to compare): `empty` (begin and commit only),
//! `root` (and the global root's read), `reads` (and the 8 reads); the
//! full row adds the write. The same three rows with solo mode off take
//! the concurrent path apart (`reads` is a read-only transaction there:
//! its own commit path, `Tx::commit_read_only`).
//!
//! A second group, `tx_alloc1`, times a transaction that allocates one
//! object of two references: `given back` (the commit finds it
//! unreachable and gives its memory back, CM3) and `published` (stored into
//! a rooted object: the commit publishes it, and the collector frees the
//! one it replaced), against `Box::new` dropped at once and a `Box` stored
//! under a `Mutex` (the old one freed), on one thread.

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tmgc::{Config, GlobalRoot, Heap, Mutator, Ref, Trace, Value};

const BATCH: u64 = 1000;

#[derive(Trace)]
struct Rec {
    f: [Value<u64>; 8],
}

/// Records for the threads, at least a cache line apart (so "disjoint"
/// records share no line).
fn make(heap: &Heap, n: usize) -> Vec<GlobalRoot<Rec>> {
    let mut m = heap.attach().unwrap();
    (0..n)
        .map(|_| {
            m.transaction::<_, ()>(|tx| {
                let r = tx.alloc(Rec { f: std::array::from_fn(|i| Value::new(i as u64)) })?;
                tx.alloc(Rec { f: std::array::from_fn(|_| Value::new(0)) })?; // spacer
                Ok(tx.global_root(r))
            })
            .unwrap()
        })
        .collect()
}

fn tx_batch(m: &mut Mutator, rec: &GlobalRoot<Rec>) {
    tx_part(m, rec, Part::Full)
}

/// How much of the transaction's work `tx_part` does.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Empty,
    Root,
    Reads,
    Full,
}

fn tx_part(m: &mut Mutator, rec: &GlobalRoot<Rec>, part: Part) {
    for _ in 0..BATCH {
        m.transaction::<_, ()>(|tx| {
            if part == Part::Empty {
                return Ok(());
            }
            let r = tx.get_global(rec)?;
            if part == Part::Root {
                black_box(&r);
                return Ok(());
            }
            let mut sum = 0;
            for i in 0..8 {
                sum += tx.get(r, |r| &r.f[i])?;
            }
            if part == Part::Reads {
                black_box(sum);
                return Ok(());
            }
            tx.set(r, |r| &r.f[0], black_box(sum) % 1000)?;
            Ok(())
        })
        .unwrap();
    }
}

fn mutex_batch(lock: &Mutex<Vec<[u64; 8]>>, i: usize) {
    for _ in 0..BATCH {
        let mut g = lock.lock().unwrap();
        let r = &mut g[i];
        let sum: u64 = r.iter().sum();
        r[0] = black_box(sum) % 1000;
    }
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
    let mut g = c.benchmark_group("tx_read8_write1");
    g.throughput(Throughput::Elements(BATCH));
    let heap = Heap::new(Config::default()).unwrap();
    let recs = make(&heap, 2);
    {
        // Alone on the heap: solo mode (docs/TRANSACTIONS.md).
        let mut m = heap.attach().unwrap();
        g.bench_function(BenchmarkId::new("tmgc", "1 thread"), |b| b.iter(|| tx_batch(&mut m, &recs[0])));
        for (name, part) in
            [("1 thread, empty", Part::Empty), ("1 thread, root", Part::Root), ("1 thread, reads", Part::Reads)]
        {
            g.bench_function(BenchmarkId::new("tmgc", name), |b| b.iter(|| tx_part(&mut m, &recs[0], part)));
        }
    }
    {
        // The same with full concurrency control, as each of two threads runs.
        let heap = Heap::new(Config::default().solo(false)).unwrap();
        let recs = make(&heap, 1);
        let mut m = heap.attach().unwrap();
        g.bench_function(BenchmarkId::new("tmgc", "1 thread, solo off"), |b| b.iter(|| tx_batch(&mut m, &recs[0])));
        for (name, part) in [
            ("1 thread, solo off, empty", Part::Empty),
            ("1 thread, solo off, root", Part::Root),
            ("1 thread, solo off, reads", Part::Reads),
        ] {
            g.bench_function(BenchmarkId::new("tmgc", name), |b| b.iter(|| tx_part(&mut m, &recs[0], part)));
        }
    }
    let lock = Mutex::new(vec![[1u64; 8]; 2]);
    g.bench_function(BenchmarkId::new("mutex", "1 thread"), |b| b.iter(|| mutex_batch(&lock, 0)));

    // Two threads: throughput is 2 * BATCH per iteration.
    g.throughput(Throughput::Elements(2 * BATCH));
    for (name, shared) in [("2 threads disjoint", false), ("2 threads shared", true)] {
        g.bench_function(BenchmarkId::new("tmgc", name), |b| {
            b.iter_custom(|iters| {
                two(iters, &|t, n| {
                    let mut m = heap.attach().unwrap();
                    let rec = &recs[if shared { 0 } else { t }];
                    (0..n).for_each(|_| tx_batch(&mut m, rec));
                })
            })
        });
        g.bench_function(BenchmarkId::new("mutex", name), |b| {
            b.iter_custom(|iters| {
                two(iters, &|t, n| (0..n).for_each(|_| mutex_batch(&lock, if shared { 0 } else { t })))
            })
        });
    }
    // The ceiling for two threads: each alone on a heap of its own, so
    // each runs solo. What a design that let a thread keep the solo path
    // on data only it touches could give on this machine (docs/PERFORMANCE.md,
    // "the two-thread ceiling").
    let heaps: Vec<Heap> = (0..2).map(|_| Heap::new(Config::default()).unwrap()).collect();
    let own: Vec<GlobalRoot<Rec>> = heaps.iter().map(|h| make(h, 1).pop().unwrap()).collect();
    g.bench_function(BenchmarkId::new("tmgc", "2 heaps, solo each"), |b| {
        b.iter_custom(|iters| {
            two(iters, &|t, n| {
                let mut m = heaps[t].attach().unwrap();
                (0..n).for_each(|_| tx_batch(&mut m, &own[t]));
            })
        })
    });
    g.finish();
}

/// The allocated object: two references, as a binary tree's node.
#[derive(Trace)]
struct Node {
    left: Ref<Node>,
    right: Ref<Node>,
}

/// The same node as a `Box` for the plain-Rust rows.
struct BoxNode {
    _left: Option<Box<BoxNode>>,
    _right: Option<Box<BoxNode>>,
}

fn bench_alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_alloc1");
    g.throughput(Throughput::Elements(BATCH));
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let fresh = || Node { left: Ref::null(), right: Ref::null() };
    g.bench_function(BenchmarkId::new("tmgc", "given back"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let seen = m
                    .transaction::<_, ()>(|tx| {
                        let n = tx.alloc(fresh())?;
                        Ok(tx.load(n, |n| &n.left)?.is_none())
                    })
                    .unwrap();
                black_box(seen);
            }
        })
    });
    let holder = m
        .atomically(|tx| {
            let h = tx.alloc(fresh())?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    g.bench_function(BenchmarkId::new("tmgc", "published"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                m.transaction::<_, ()>(|tx| {
                    let h = tx.get_global(&holder)?;
                    let n = tx.alloc(fresh())?;
                    tx.store(h, |h| &h.left, Some(n))?;
                    Ok(())
                })
                .unwrap();
            }
        })
    });
    g.bench_function(BenchmarkId::new("box", "dropped"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(Box::new(BoxNode { _left: None, _right: None })));
            }
        })
    });
    let slot: Mutex<Option<Box<BoxNode>>> = Mutex::new(None);
    g.bench_function(BenchmarkId::new("box", "under a mutex"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let n = Box::new(BoxNode { _left: None, _right: None });
                *slot.lock().unwrap() = Some(black_box(n));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = bench, bench_alloc
}
criterion_main!(benches);
