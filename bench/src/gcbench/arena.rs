//! GCBench in a bump arena (bumpalo), reset after each tree; the
//! long-lived tree and array live in an arena of their own.

use std::cell::Cell;
use std::hint::black_box;

use bumpalo::Bump;

use super::{array_value, GcBench};

#[derive(Default)]
struct Node<'a> {
    left: Cell<Option<&'a Node<'a>>>,
    right: Cell<Option<&'a Node<'a>>>,
    _i: i32,
    _j: i32,
}

fn populate<'a>(a: &'a Bump, d: u32, n: &Node<'a>) {
    if d == 0 {
        return;
    }
    let (l, r) = (a.alloc(Node::default()), a.alloc(Node::default()));
    n.left.set(Some(l));
    n.right.set(Some(r));
    populate(a, d - 1, l);
    populate(a, d - 1, r);
}

fn make_tree(a: &Bump, d: u32) -> &Node<'_> {
    if d == 0 {
        a.alloc(Node::default())
    } else {
        let (l, r) = (make_tree(a, d - 1), make_tree(a, d - 1));
        a.alloc(Node { left: Cell::new(Some(l)), right: Cell::new(Some(r)), _i: 0, _j: 0 })
    }
}

fn count(n: &Node<'_>) -> u64 {
    1 + n.left.get().map_or(0, count) + n.right.get().map_or(0, count)
}

#[derive(Default)]
pub(crate) struct ArenaBench {
    /// The long-lived data, in an arena leaked on purpose (freed at exit,
    /// as it would be at its reset).
    kept: Option<(&'static Node<'static>, &'static [f64])>,
    scratch: Bump,
}

impl GcBench for ArenaBench {
    fn stretch(&mut self, d: u32) -> u64 {
        let n = count(make_tree(&self.scratch, d));
        self.scratch.reset();
        n
    }
    fn keep(&mut self, d: u32, len: usize) {
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        let t = arena.alloc(Node::default());
        populate(arena, d, t);
        let array = arena.alloc_slice_fill_copy(len, 0.0);
        for (i, x) in array.iter_mut().enumerate().take(len / 2) {
            *x = array_value(i);
        }
        self.kept = Some((t, array));
    }
    fn top_down(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for _ in 0..iters {
            let t = self.scratch.alloc(Node::default());
            populate(&self.scratch, d, t);
            last = count(black_box(t));
            self.scratch.reset();
        }
        last
    }
    fn bottom_up(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for _ in 0..iters {
            last = count(black_box(make_tree(&self.scratch, d)));
            self.scratch.reset();
        }
        last
    }
    fn check_kept(&mut self) -> (u64, f64, f64) {
        let (t, a) = self.kept.expect("kept");
        (count(t), a[1000], a.iter().sum())
    }
}
