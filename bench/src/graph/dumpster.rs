//! The graph with dumpster's `sync::Gc`: a `sync::Gc` hands out shared
//! references only, so the edges sit in a `Mutex`. A replaced fresh node
//! is freed when its count drops to zero; the table's cycles are left to
//! dumpster's cycle collector when the table is dropped.
//!
//! dumpster's collector traces recursively, on whichever thread drops the
//! `Gc` that starts a collection: on a random graph that recursion is as
//! deep as the graph is wide, and a spawned thread's 2 MiB stack
//! overflows (`--quick`, 2 threads). So every thread here, the first
//! too, runs on a stack of [`STACK`] bytes (reserved, touched only as
//! deep as the recursion goes).

use std::hint::black_box;
use std::sync::Mutex;

use dumpster::sync::Gc;
use dumpster::Trace;

use super::{check_term, initial_edges, my_steps, Steps, Target, EDGES};

#[derive(Trace)]
struct Node {
    value: u64,
    edges: Mutex<[Option<Gc<Node>>; EDGES]>,
}

fn node(value: u64) -> Gc<Node> {
    Gc::new(Node { value, edges: Mutex::new(Default::default()) })
}

fn edges(n: &Node) -> std::sync::MutexGuard<'_, [Option<Gc<Node>>; EDGES]> {
    n.edges.lock().expect("an unpoisoned node")
}

fn values(n: &Node) -> [u64; EDGES] {
    let e = edges(n);
    std::array::from_fn(|k| e[k].as_ref().map_or(0, |x| x.value))
}

fn worker(table: &[Gc<Node>], total: u64, t: usize, threads: usize) {
    let mut steps = Steps::new(table.len(), t, threads);
    let mut acc = 0u64;
    for _ in 0..my_steps(total, t, threads) {
        let s = steps.draw();
        let u = &table[s.u];
        acc = acc.wrapping_add(values(u).iter().sum::<u64>());
        let x = match s.target {
            Target::Table(v) => table[v].clone(),
            Target::Fresh(value, to) => {
                let w = node(value);
                *edges(&w) = to.map(|v| Some(table[v].clone()));
                w
            }
        };
        edges(u)[s.edge] = Some(x);
    }
    black_box(acc);
}

/// The stack each thread of this program runs on.
const STACK: usize = 1 << 30;

pub(crate) fn run(v: usize, total: u64, threads: usize) -> u64 {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run_on_big_stacks(v, total, threads))
        .expect("a thread")
        .join()
        .expect("the graph's main thread panicked")
}

fn run_on_big_stacks(v: usize, total: u64, threads: usize) -> u64 {
    let table: Vec<Gc<Node>> = (0..v as u64).map(node).collect();
    for (u, es) in initial_edges(v).into_iter().enumerate() {
        *edges(&table[u]) = es.map(|x| Some(table[x].clone()));
    }
    std::thread::scope(|s| {
        let table = &table;
        let hs: Vec<_> = (1..threads)
            .map(|t| {
                std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn_scoped(s, move || worker(table, total, t, threads))
                    .expect("a thread")
            })
            .collect();
        worker(table, total, 0, threads);
        hs.into_iter().for_each(|h| h.join().expect("a graph thread panicked"));
    });
    let mut check = 0u64;
    for u in &table {
        // Copied out of the lock first: an edge may point back at `u`.
        let e = edges(u).clone();
        for (j, x) in e.iter().enumerate() {
            let x = x.as_ref().expect("a full table");
            check = check.wrapping_add(check_term(j, x.value, values(x)));
        }
    }
    check
}
