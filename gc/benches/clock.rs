//! The cost of timing a pause: a clock read at its start and `elapsed` at
//! its end, with the clock tmgc uses (`quanta`, the TSC) and with
//! `std::time::Instant`. Every commit while marking runs is timed, so this
//! is paid per commit then (docs/PERFORMANCE.md, "Minimum mutator
//! utilisation and the pause targets").
//!
//! Run: `cargo bench -p tmgc --bench clock` (about 10 seconds). It first
//! prints how long the TSC's one-time calibration took in this process.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

fn clocks(c: &mut Criterion) {
    let t = std::time::Instant::now();
    black_box(quanta::Instant::now()); // the first read calibrates
    eprintln!("quanta calibration: {:?}", t.elapsed());
    let mut g = c.benchmark_group("pause_clock");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("std now + elapsed", |b| b.iter(|| black_box(std::time::Instant::now()).elapsed()));
    g.bench_function("quanta now + elapsed", |b| b.iter(|| black_box(quanta::Instant::now()).elapsed()));
    g.finish();
}

criterion_group!(benches, clocks);
criterion_main!(benches);
