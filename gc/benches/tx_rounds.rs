//! The one-thread rows of the `tx` bench, timed as rounds and reported as
//! their minimum: a low-noise companion for A/B comparisons of the solo
//! path on a shared VM.
//!
//! Run: `cargo bench -p tmgc --bench tx_rounds` (a few seconds once built).
//!
//! On a VM whose two cores are shared, criterion's medians of the `tx`
//! bench's tmgc rows moved by up to 40% between runs of one binary while
//! its Mutex row moved by 5% (docs/PERFORMANCE.md, "the quiet solo
//! commit (SQ1) and A6"). Here each row runs `ROUNDS` rounds of `PER_ROUND`
//! transactions, interleaved with the other rows (so a slow stretch of
//! the host hits every row alike), and prints the fastest round, the
//! first quartile and the median, in ns per transaction. The fastest
//! round is the figure to compare: interference only adds time. Compare
//! two builds by running their binaries in turn, several times.
//!
//! The work is the `tx` bench's: read 8 word fields of a record and write
//! 1, in a transaction on a record reached through a global root, or
//! under a `Mutex`. `empty` is begin and commit only; `reads` adds the
//! root's read and the 8 reads; `full` adds the write. One mutator, alone
//! on its heap: solo mode (docs/TRANSACTIONS.md); `TMGC_SOLO=0` turns it
//! off, so the same rows run with concurrency control. `TX_ROUNDS_EACH=1`
//! prints every round, with the solo state and the cycles run.
//! `TX_ROUNDS_ROW=<name>` (`mutex`, `empty`, `reads`, `full`) runs that
//! row alone: for instruction counts of one row under cachegrind.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

use tmgc::{Config, GlobalRoot, Heap, Mutator, Trace, Value};

const ROUNDS: usize = 15;
const PER_ROUND: u32 = 1_000_000;

#[derive(Trace)]
struct Rec {
    f: [Value<u64>; 8],
}

/// How much of the transaction a row does (a constant, so that each row
/// is its own code, as in a program that runs one kind of transaction).
const EMPTY: u8 = 0;
const READS: u8 = 1;
const FULL: u8 = 2;

fn tx<const PART: u8>(m: &mut Mutator, rec: &GlobalRoot<Rec>) {
    m.transaction::<_, ()>(|tx| {
        if PART == EMPTY {
            return Ok(());
        }
        let r = tx.get_global(rec)?;
        let mut sum = 0;
        for i in 0..8 {
            sum += tx.get(r, |r| &r.f[i])?;
        }
        if PART == READS {
            black_box(sum);
            return Ok(());
        }
        tx.set(r, |r| &r.f[0], black_box(sum) % 1000)?;
        Ok(())
    })
    .unwrap();
}

/// One round: ns per operation.
fn round(mut op: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..PER_ROUND {
        op();
    }
    t.elapsed().as_nanos() as f64 / f64::from(PER_ROUND)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not:
    // then one short round checks that every row runs.
    let rounds = if std::env::args().any(|a| a == "--bench") { ROUNDS } else { 1 };
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    // One mutator alone on its heap runs solo, unless `TMGC_SOLO=0` turns
    // solo mode off (the same rows with concurrency control).
    let solo_off = std::env::var("TMGC_SOLO").is_ok_and(|v| v == "0");
    // `TX_ROUNDS_EACH=1`: every round's figures on standard error, with
    // the mutator's solo state and the cycles run so far (a slow round
    // with neither changed was slowed from outside the process).
    let each = std::env::var("TX_ROUNDS_EACH").is_ok_and(|v| v == "1");
    assert_eq!(m.is_solo(), !solo_off, "one mutator alone on its heap runs solo unless TMGC_SOLO=0");
    let rec = m
        .transaction::<_, ()>(|tx| {
            let r = tx.alloc(Rec { f: std::array::from_fn(|i| Value::new(i as u64)) })?;
            Ok(tx.global_root(r))
        })
        .unwrap();
    let lock = Mutex::new(vec![[1u64; 8]; 2]);
    let rows = ["mutex", "empty", "reads", "full"];
    // `TX_ROUNDS_ROW=<row>`: that row alone (its index).
    let only = std::env::var("TX_ROUNDS_ROW").ok().map(|row| {
        rows.iter()
            .position(|&r| r == row)
            .unwrap_or_else(|| panic!("TX_ROUNDS_ROW={row:?}: one of mutex, empty, reads, full"))
    });
    let runs = |i: usize| only.is_none_or(|o| o == i);
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        if runs(0) {
            times[0].push(round(|| {
                let mut g = lock.lock().unwrap();
                let r = &mut g[0];
                let sum: u64 = r.iter().sum();
                r[0] = black_box(sum) % 1000;
            }));
        }
        if runs(1) {
            times[1].push(round(|| tx::<EMPTY>(&mut m, &rec)));
        }
        if runs(2) {
            times[2].push(round(|| tx::<READS>(&mut m, &rec)));
        }
        if runs(3) {
            times[3].push(round(|| tx::<FULL>(&mut m, &rec)));
        }
        if each {
            let ran: Vec<String> =
                (0..rows.len()).filter_map(|i| times[i].last().map(|t| format!("{} {t:.2}", rows[i]))).collect();
            let r = times.iter().map(Vec::len).max().unwrap_or(0) - 1;
            eprintln!("round {r}: {} ns; solo {}, cycles {}", ran.join(" "), m.is_solo(), heap.stats().cycles);
        }
    }
    let mode = if solo_off { "solo off (TMGC_SOLO=0)" } else { "solo" };
    println!("ns per transaction, {rounds} rounds of {PER_ROUND}, {mode}: min / first quartile / median");
    for (i, t) in times.iter_mut().enumerate() {
        if t.is_empty() {
            continue;
        }
        t.sort_by(f64::total_cmp);
        let name = if i == 0 { rows[0].to_string() } else { format!("tmgc {}", rows[i]) };
        println!("{name:>12}: {:6.2} / {:6.2} / {:6.2}", t[0], t[t.len() / 4], t[t.len() / 2]);
    }
    if only.is_none() {
        let min = |i: usize| times[i][0];
        println!("tmgc full / mutex (min): {:.2}x", min(3) / min(0));
    }
}
