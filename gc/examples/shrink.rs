//! A heap that grows and then shrinks, and its resident memory following
//! it: what a long-running server or interpreter expects after a burst.
//!
//! The program builds `MILLIONS` million 16-byte nodes in two lists and
//! keeps one node in 8,192 (one every 128 KiB) on the second, so that one
//! block in four keeps a survivor and no chunk is ever wholly free. It drops the first
//! list, and runs cycles until the collector has given the free blocks
//! back to the OS (`CycleStats::blocks_released`, docs/COLLECTOR.md,
//! "Memory back to the OS"). It prints, after each step, the heap's
//! committed bytes and the process's resident set (`VmRSS`, Linux only).
//! With `shared`, a second thread attaches first, so the commits are not
//! solo and stamp each node's version lock (docs/HEADER.md).
//!
//! Run: `cargo run --release -p tmgc --example shrink -- [MILLIONS] [shared]`
//! (default 8 million nodes: 128 MiB of nodes, about a second).

use tmgc::{Config, Heap, Ref, Root, Trace, Value};

/// A list node: 16 bytes, all payload.
#[derive(Trace)]
struct Node {
    val: Value<u64>,
    next: Ref<Node>,
}

/// One node in `KEEP` survives the shrink.
const KEEP: u64 = 8192;
/// Nodes made per transaction.
const BATCH: u64 = 1 << 14;

fn rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} MiB", kib as f64 / 1024.0))
        })
        .unwrap_or_else(|| "n/a".to_owned())
}

fn report(step: &str, committed: u64) {
    println!("{step:<44} committed {:>7.1} MiB   resident {}", committed as f64 / (1 << 20) as f64, rss_mib());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let millions: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let shared = args.next().as_deref() == Some("shared");
    let n = millions << 20;
    let heap = Heap::new(Config::default()).expect("a heap");
    let mut m = heap.attach().expect("a mutator");
    // An idle second mutator on a thread of its own: while it is attached,
    // commits are not solo.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let (ready, attached) = std::sync::mpsc::channel::<()>();
    let other = shared.then(|| {
        let heap = heap.clone();
        let t = std::thread::spawn(move || {
            let _m = heap.attach().expect("a second mutator");
            ready.send(()).expect("main waits");
            let _ = wait.recv();
        });
        attached.recv().expect("the second mutator attached");
        t
    });
    report("start", m.collect().expect("a cycle").committed_bytes);

    let mut lists: Vec<(Root<Node>, Root<Node>)> = Vec::new();
    for b in 0..n / BATCH {
        let r = m
            .transaction::<_, ()>(|tx| {
                let (mut gone, mut kept) = (None, None);
                for i in 0..BATCH {
                    let v = b * BATCH + i;
                    let node = tx.alloc(Node { val: Value::new(v), next: Ref::null() })?;
                    let head = if v % KEEP == 0 { &mut kept } else { &mut gone };
                    tx.store(node, |x| &x.next, *head)?;
                    *head = Some(node);
                }
                Ok((tx.root(gone.expect("a node")), tx.root(kept.expect("a node"))))
            })
            .expect("a batch");
        lists.push(r);
    }
    report(&format!("{millions} M nodes live"), m.collect().expect("a cycle").committed_bytes);

    let kept: Vec<Root<Node>> = lists.into_iter().map(|(_, kept)| kept).collect();
    let mut released = 0;
    let mut committed = 0;
    for _ in 0..4 {
        let c = m.collect().expect("a cycle");
        released += c.blocks_released;
        committed = c.committed_bytes;
    }
    report(&format!("1 in {KEEP} kept, 4 cycles later"), committed);
    println!("blocks given back: {released}");
    assert!(released > 0, "a heap that shrank gave no block back");

    // The survivors are intact.
    let mut count = 0;
    for r in &kept {
        count += m
            .transaction::<_, ()>(|tx| {
                let mut cur = Some(tx.get_root(r)?);
                let mut c = 0u64;
                while let Some(x) = cur {
                    assert_eq!(tx.get(x, |x| &x.val)? % KEEP, 0, "a survivor changed");
                    c += 1;
                    cur = tx.load(x, |x| &x.next)?;
                }
                Ok(c)
            })
            .expect("a walk");
    }
    assert_eq!(count, n / KEEP, "a survivor lost");
    drop(done);
    if let Some(t) = other {
        t.join().expect("the second mutator");
    }
}
