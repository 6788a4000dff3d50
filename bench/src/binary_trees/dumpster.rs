//! binary-trees with dumpster's `sync::Gc`: trees are immutable once
//! built (children first), so no cell is needed; a tree dies when its last
//! `Gc` is dropped, and dumpster's collector looks for cycles.

use dumpster::sync::Gc;
use dumpster::Trace;

use super::{share, Trees};

#[derive(Trace)]
struct Node {
    kids: Option<(Gc<Node>, Gc<Node>)>,
}

fn build(d: u32) -> Gc<Node> {
    Gc::new(Node { kids: (d > 0).then(|| (build(d - 1), build(d - 1))) })
}

fn check(n: &Node) -> u64 {
    1 + n.kids.as_ref().map_or(0, |(l, r)| check(l) + check(r))
}

fn batch(d: u32, count: u64) -> u64 {
    (0..count).map(|_| check(&build(d))).sum()
}

#[derive(Default)]
pub(crate) struct DumpsterTrees {
    kept: Option<Gc<Node>>,
}

impl Trees for DumpsterTrees {
    type Shared = ();
    fn stretch(&mut self, d: u32) -> u64 {
        check(&build(d))
    }
    fn keep(&mut self, d: u32) {
        self.kept = Some(build(d));
    }
    fn check_kept(&mut self) -> u64 {
        check(self.kept.as_ref().expect("kept"))
    }
    fn batch(&mut self, d: u32, count: u64, threads: usize) -> u64 {
        batch(d, share(count, 0, threads))
    }
    fn shared(&self) {}
    fn batch_shared(_: &(), d: u32, count: u64, t: usize, threads: usize) -> u64 {
        batch(d, share(count, t, threads))
    }
}
