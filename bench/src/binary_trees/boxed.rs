//! binary-trees with `Box`: each tree is freed by `Drop` when its check is
//! done, through the binary's global allocator.

use super::{share, Trees};

struct Node {
    kids: Option<(Box<Node>, Box<Node>)>,
}

fn build(d: u32) -> Box<Node> {
    Box::new(Node { kids: (d > 0).then(|| (build(d - 1), build(d - 1))) })
}

fn check(n: &Node) -> u64 {
    1 + n.kids.as_ref().map_or(0, |(l, r)| check(l) + check(r))
}

fn batch(d: u32, count: u64) -> u64 {
    (0..count).map(|_| check(&build(d))).sum()
}

#[derive(Default)]
pub(crate) struct BoxTrees {
    kept: Option<Box<Node>>,
}

impl Trees for BoxTrees {
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
