//! GCBench with `Box`: trees are freed by `Drop` when the loop drops them.

use std::hint::black_box;

use super::{array_value, GcBench};

#[derive(Default)]
struct Node {
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
    _i: i32,
    _j: i32,
}

fn populate(d: u32, n: &mut Node) {
    if d == 0 {
        return;
    }
    let (mut l, mut r) = (Box::<Node>::default(), Box::<Node>::default());
    populate(d - 1, &mut l);
    populate(d - 1, &mut r);
    n.left = Some(l);
    n.right = Some(r);
}

fn make_tree(d: u32) -> Box<Node> {
    if d == 0 {
        Box::default()
    } else {
        Box::new(Node { left: Some(make_tree(d - 1)), right: Some(make_tree(d - 1)), _i: 0, _j: 0 })
    }
}

fn count(n: &Node) -> u64 {
    1 + n.left.as_deref().map_or(0, count) + n.right.as_deref().map_or(0, count)
}

#[derive(Default)]
pub(crate) struct BoxBench {
    tree: Option<Box<Node>>,
    array: Vec<f64>,
}

impl GcBench for BoxBench {
    fn stretch(&mut self, d: u32) -> u64 {
        count(&make_tree(d))
    }
    fn keep(&mut self, d: u32, len: usize) {
        let mut t = Box::<Node>::default();
        populate(d, &mut t);
        self.tree = Some(t);
        self.array = vec![0.0; len];
        for i in 0..len / 2 {
            self.array[i] = array_value(i);
        }
    }
    fn top_down(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for _ in 0..iters {
            let mut t = Box::<Node>::default();
            populate(d, &mut t);
            last = count(black_box(&t));
        }
        last
    }
    fn bottom_up(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for _ in 0..iters {
            last = count(black_box(&make_tree(d)));
        }
        last
    }
    fn check_kept(&mut self) -> (u64, f64, f64) {
        (count(self.tree.as_ref().expect("kept")), self.array[1000], self.array.iter().sum())
    }
}
