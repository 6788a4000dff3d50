//! Shared helpers for the integration tests in this folder: one set of
//! test types, one seeded random source, a heap with the verifier on, and
//! a bound on programs that could deadlock.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tmgc::{Config, Gc, GlobalRoot, Heap, Mutator, Ref, Trace, Tx, Value};

/// A list node: the test type most tests build graphs from.
#[derive(Trace)]
pub struct Node {
    /// The node's value.
    pub val: Value<u64>,
    /// The next node.
    pub next: Ref<Node>,
}

/// A list of `n` nodes holding `n-1, ..., 1, 0` from the head (so the
/// values sum to `n(n-1)/2`), built in the running transaction.
pub fn list<'tx>(tx: &mut Tx<'tx>, n: u64) -> Result<Option<Gc<'tx, Node>>, tmgc::Abort<()>> {
    let mut head = None;
    for i in 0..n {
        let x = tx.alloc(Node { val: Value::new(i), next: Ref::null() })?;
        tx.store(x, |x| &x.next, head)?;
        head = Some(x);
    }
    Ok(head)
}

/// The sum of the values of the list from `head` on, read in the running
/// transaction.
pub fn sum<'tx, E>(tx: &mut Tx<'tx>, head: Option<Gc<'tx, Node>>) -> Result<u64, tmgc::Abort<E>> {
    let (mut cur, mut sum) = (head, 0);
    while let Some(c) = cur {
        sum += tx.get(c, |x| &x.val)?;
        cur = tx.load(c, |x| &x.next)?;
    }
    Ok(sum)
}

/// The window of the adversarial mover tests (`gc_churn.rs`, `gc_tagged.rs`):
/// `FILLERS` chains of `FILLER_NODES` nodes between the holder the marker
/// scans first and the one it scans last (fields are traced in order and
/// the mark stack is LIFO), about 100,000 objects, whatever the marker's
/// lookahead. With 20,000 objects the test once passed with the commit
/// barrier disabled; keep it this wide.
pub const FILLERS: usize = 64;
/// Nodes of each filler chain (see [`FILLERS`]).
pub const FILLER_NODES: u64 = 1_600;

/// A seeded random source (`fastrand`), so a failing run can be replayed:
/// a test names its seed in its failure message.
pub fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

/// The default heap configuration with the verifier on.
pub fn verified() -> Config {
    Config::default().verify(true)
}

/// Two counters a transaction always changes together: a reader that sees
/// them differ saw half of a commit (the solo-mode and owned-object tests).
#[derive(Trace)]
pub struct Pair {
    /// The first counter.
    pub x: Value<u64>,
    /// The second, always equal to the first between commits.
    pub y: Value<u64>,
}

/// `n` pairs at zero, each behind a global root, made by a mutator of
/// their own (attached and detached here).
pub fn pairs(heap: &Heap, n: usize) -> Vec<GlobalRoot<Pair>> {
    let mut m = heap.attach().unwrap();
    (0..n)
        .map(|_| {
            m.transaction::<_, ()>(|tx| {
                let p = tx.alloc(Pair { x: Value::new(0), y: Value::new(0) })?;
                Ok(tx.global_root(p))
            })
            .unwrap()
        })
        .collect()
}

/// Add one to both counters of `p` (one object written), checking they
/// are equal (opacity).
pub fn bump(m: &mut Mutator, p: &GlobalRoot<Pair>) {
    m.transaction::<_, ()>(|tx| {
        let o = tx.get_global(p)?;
        let (x, y) = (tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?);
        assert_eq!(x, y, "a transaction saw half of another's writes");
        tx.set(o, |o| &o.x, x + 1)?;
        tx.set(o, |o| &o.y, y + 1)?;
        Ok(())
    })
    .unwrap();
}

/// Both counters of `p`, read in one transaction.
pub fn read_pair(m: &mut Mutator, p: &GlobalRoot<Pair>) -> (u64, u64) {
    m.transaction::<_, ()>(|tx| {
        let o = tx.get_global(p)?;
        Ok((tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?))
    })
    .unwrap()
}

/// Run `f` on a thread; panic if it has not finished after `secs` seconds
/// (a deadlock: the test fails instead of hanging CI), or with its panic.
pub fn bounded<T: Send + 'static>(what: &str, secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(_) => unreachable!("the thread sends before it returns"),
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: deadlock (not finished after {secs} s)"),
    }
}

/// The workspace README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// `cycles` collections of `heap` run back to back on a thread of their
/// own, while the test's mutator works: [`Cycles::running`] until the
/// last one ends, then [`Cycles::join`] checks each one's result (the
/// verifier's, with `Config::verify`).
pub struct Cycles {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: thread::JoinHandle<Vec<Result<tmgc::CycleStats, tmgc::CollectError>>>,
}

impl Cycles {
    /// Start `cycles` collections of `heap`.
    pub fn start(heap: &Heap, cycles: usize) -> Cycles {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (heap, flag) = (heap.clone(), std::sync::Arc::clone(&done));
        let thread = thread::spawn(move || {
            let results = (0..cycles).map(|_| heap.collect()).collect();
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            results
        });
        Cycles { done, thread }
    }

    /// Whether collections are still running.
    pub fn running(&self) -> bool {
        !self.done.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait for the last collection; panic, naming `what`, if one failed.
    pub fn join(self, what: &str) {
        for r in self.thread.join().expect("the collecting thread") {
            r.unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }
}
