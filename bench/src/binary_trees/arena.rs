//! binary-trees in a bump arena (bumpalo), reset after each tree: no
//! per-object free and no collector, the floor a collector is measured
//! against. Each thread has its own arena.

use bumpalo::Bump;

use super::{share, Trees};

struct Node<'a> {
    kids: Option<(&'a Node<'a>, &'a Node<'a>)>,
}

fn build(a: &Bump, d: u32) -> &Node<'_> {
    a.alloc(Node { kids: (d > 0).then(|| (build(a, d - 1), build(a, d - 1))) })
}

fn check(n: &Node<'_>) -> u64 {
    1 + n.kids.map_or(0, |(l, r)| check(l) + check(r))
}

fn batch(a: &mut Bump, d: u32, count: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..count {
        sum += check(build(a, d));
        a.reset();
    }
    sum
}

#[derive(Default)]
pub(crate) struct ArenaTrees {
    /// The long-lived tree, in an arena that lives as long as the process
    /// (leaked on purpose: it is freed at exit, as it would be at reset).
    kept: Option<&'static Node<'static>>,
    /// Thread 0's arena for short-lived trees.
    scratch: Bump,
}

impl Trees for ArenaTrees {
    type Shared = ();
    fn stretch(&mut self, d: u32) -> u64 {
        batch(&mut self.scratch, d, 1)
    }
    fn keep(&mut self, d: u32) {
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        self.kept = Some(build(arena, d));
    }
    fn check_kept(&mut self) -> u64 {
        check(self.kept.expect("kept"))
    }
    fn batch(&mut self, d: u32, count: u64, threads: usize) -> u64 {
        batch(&mut self.scratch, d, share(count, 0, threads))
    }
    fn shared(&self) {}
    fn batch_shared(_: &(), d: u32, count: u64, t: usize, threads: usize) -> u64 {
        batch(&mut Bump::new(), d, share(count, t, threads))
    }
}
