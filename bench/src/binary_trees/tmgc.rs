//! binary-trees on tmgc: each short-lived tree is built and checked in one
//! transaction, which publishes nothing, so its commit gives the tree's
//! memory back (unless `TMGC_BENCH_PUBLISH=1`: `tmgc_report::publish`);
//! the long-lived tree is a `Root` of the main thread's
//! mutator; worker threads attach mutators of their own.

use tmgc::{Abort, Gc, Heap, Mutator, Ref, Root, Trace, Tx};

use super::{share, Trees};

#[derive(Trace)]
struct Node {
    left: Ref<Node>,
    right: Ref<Node>,
}

fn build<'tx>(tx: &mut Tx<'tx>, d: u32) -> Result<Gc<'tx, Node>, Abort<()>> {
    let n = tx.alloc(Node { left: Ref::null(), right: Ref::null() })?;
    if d > 0 {
        let l = build(tx, d - 1)?;
        let r = build(tx, d - 1)?;
        tx.store(n, |n| &n.left, Some(l))?;
        tx.store(n, |n| &n.right, Some(r))?;
    }
    Ok(n)
}

fn check<'tx>(tx: &mut Tx<'tx>, n: Gc<'tx, Node>) -> Result<u64, Abort<()>> {
    match tx.load(n, |n| &n.left)? {
        None => Ok(1),
        Some(l) => {
            let r = tx.load(n, |n| &n.right)?.expect("a full tree");
            Ok(1 + check(tx, l)? + check(tx, r)?)
        }
    }
}

fn one_tree(m: &mut Mutator, d: u32) -> u64 {
    let (n, _published) = m
        .transaction::<_, ()>(|tx| {
            let t = build(tx, d)?;
            Ok((check(tx, t)?, crate::tmgc_report::publish(tx, t)))
        })
        .expect("a tree transaction");
    n
}

pub(crate) struct TmgcTrees {
    heap: Heap,
    /// The main thread's mutator: it holds the long-lived tree, and is
    /// detached in `report` so its pauses count in the heap's figures.
    main: Option<Mutator>,
    kept: Option<Root<Node>>,
}

impl TmgcTrees {
    pub(crate) fn new() -> Self {
        // Release builds: the verifier is off by default.
        let heap = Heap::new(crate::tmgc_report::config()).expect("a heap");
        let main = heap.attach().expect("attach");
        TmgcTrees { heap, main: Some(main), kept: None }
    }

    fn m(&mut self) -> &mut Mutator {
        self.main.as_mut().expect("attached")
    }

    /// Print the collector's figures as a `#tmgc` line for the runner.
    pub(crate) fn report(mut self) {
        self.kept = None;
        self.main = None; // detach: its pauses are folded into the stats
        crate::tmgc_report::print(&self.heap);
    }
}

impl Trees for TmgcTrees {
    type Shared = Heap;
    fn stretch(&mut self, d: u32) -> u64 {
        one_tree(self.m(), d)
    }
    fn keep(&mut self, d: u32) {
        let root = self.m().transaction::<_, ()>(|tx| {
            let t = build(tx, d)?;
            Ok(tx.root(t))
        });
        self.kept = Some(root.expect("the long-lived tree"));
    }
    fn check_kept(&mut self) -> u64 {
        let kept = self.kept.take().expect("kept");
        let n = self.m().transaction::<_, ()>(|tx| {
            let t = tx.get_root(&kept)?;
            check(tx, t)
        });
        self.kept = Some(kept);
        n.expect("the long-lived tree's check")
    }
    fn batch(&mut self, d: u32, count: u64, threads: usize) -> u64 {
        let m = self.m();
        (0..share(count, 0, threads)).map(|_| one_tree(m, d)).sum()
    }
    fn shared(&self) -> Heap {
        self.heap.clone()
    }
    fn batch_shared(heap: &Heap, d: u32, count: u64, t: usize, threads: usize) -> u64 {
        let mut m = heap.attach().expect("attach a worker");
        (0..share(count, t, threads)).map(|_| one_tree(&mut m, d)).sum()
    }
}
