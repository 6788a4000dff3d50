//! A symbol table with weak references, shared by several threads: what an
//! interpreter keeps for interned strings. Each key maps to a weak cell;
//! interning a key either finds the live symbol through its cell or
//! allocates a new one and points the cell at it. Threads keep a few
//! symbols strongly (their "locals"). Any other symbol dies in the first
//! cycle during which no thread looks it up (a lookup while a cycle marks
//! keeps its symbol for that cycle), and its cell is cleared; the table
//! itself never grows. Once the threads are done, one cycle clears every
//! cell.
//!
//! Run: `cargo run --release -p tmgc --example intern` (about a second).

use std::sync::Arc;
use std::thread;

use tmgc::{Config, GlobalRoot, Heap, Ref, Trace, Value, Weak};

const KEYS: usize = 4096;
const LOCALS: usize = 16;
const THREADS: u64 = 4;
const INTERNS: u64 = 1_000_000;

/// An interned symbol (its key stands for the string).
#[derive(Trace)]
struct Symbol {
    key: Value<u64>,
}

/// The shared table: one weak cell per key, filled on first use.
#[derive(Trace)]
struct Table {
    cells: [Ref<Weak<Symbol>>; KEYS],
}

/// A thread's strong references: the symbols it is "using".
#[derive(Trace)]
struct Locals {
    held: [Ref<Symbol>; LOCALS],
}

fn main() {
    let heap = Heap::new(Config::default()).expect("a heap");
    let table: GlobalRoot<Table> = heap
        .attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let t = tx.alloc(Table { cells: std::array::from_fn(|_| Ref::null()) })?;
            for k in 0..KEYS {
                let w = tx.new_weak::<Symbol>(None)?;
                tx.store(t, |t| &t.cells[k], Some(w))?;
            }
            Ok(tx.global_root(t))
        })
        .unwrap();
    let table = Arc::new(table);

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (heap, table) = (heap.clone(), Arc::clone(&table));
            thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                let locals = m
                    .transaction::<_, ()>(|tx| {
                        let l = tx.alloc(Locals { held: std::array::from_fn(|_| Ref::null()) })?;
                        Ok(tx.root(l))
                    })
                    .unwrap();
                let (mut x, mut hits, mut misses) = (0x9E37_79B9_7F4A_7C15 ^ t, 0u64, 0u64);
                for i in 0..INTERNS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Skewed: small keys are interned far more often, and
                    // large ones so rarely that they die between uses.
                    let key = (x % KEYS as u64) * (x >> 40 & (KEYS as u64 - 1)) / KEYS as u64;
                    let hit = m
                        .transaction::<_, ()>(|tx| {
                            let t = tx.get_global(&table)?;
                            let w = tx.load(t, |t| &t.cells[key as usize])?.expect("every key has a cell");
                            let (sym, hit) = match tx.upgrade(w)? {
                                Some(s) => (s, true),
                                None => {
                                    let s = tx.alloc(Symbol { key: Value::new(key) })?;
                                    tx.set_weak(w, Some(s))?;
                                    (s, false)
                                }
                            };
                            assert_eq!(tx.get(sym, |s| &s.key)?, key, "a cell yields its own key's symbol");
                            // Keep every 8th symbol in use for a while.
                            if i % 8 == 0 {
                                let l = tx.get_root(&locals)?;
                                tx.store(l, |l| &l.held[(i / 8) as usize % LOCALS], Some(sym))?;
                            }
                            Ok(hit)
                        })
                        .unwrap();
                    if hit {
                        hits += 1;
                    } else {
                        misses += 1;
                    }
                }
                (hits, misses)
            })
        })
        .collect();
    // This program allocates too little for the pacer to start cycles on
    // its own; run them back to back while the threads intern, so symbols
    // die and are interned again under the collector.
    let mut cycles = 0;
    while !workers.iter().all(|w| w.is_finished()) {
        heap.collect().expect("a cycle");
        cycles += 1;
    }
    let (hits, misses) = workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));

    // Nothing holds a symbol strongly now: one cycle clears every cell.
    let last = heap.collect().expect("a cycle");
    let live = heap
        .attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let t = tx.get_global(&table)?;
            let mut live = 0;
            for k in 0..KEYS {
                let w = tx.load(t, |t| &t.cells[k])?.expect("every key has a cell");
                live += usize::from(tx.upgrade(w)?.is_some());
            }
            Ok(live)
        })
        .unwrap();
    let stats = heap.stats();
    let cleared: u64 = stats.recent.iter().map(|c| c.weak_cleared).sum();
    println!(
        "{THREADS} threads interned {} keys during {cycles} cycles: {hits} hits, {misses} new symbols",
        hits + misses
    );
    println!("cells cleared over the last {} cycles: {cleared}", stats.recent.len());
    println!(
        "after the last cycle ({} cleared in it): {live} of {KEYS} cells still refer to a symbol",
        last.weak_cleared
    );
    println!("{stats}");
    assert_eq!(live, 0, "no symbol is held any more, so every cell was cleared");
}
