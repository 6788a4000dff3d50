//! GCBench with dumpster's `sync::Gc`. Top-down construction stores
//! children into a node after it is allocated, so a node's children sit
//! in `Mutex`es (a `sync::Gc` hands out shared references only).

use std::hint::black_box;
use std::sync::Mutex;

use dumpster::sync::Gc;
use dumpster::Trace;

use super::{array_value, GcBench};

#[derive(Trace, Default)]
struct Node {
    left: Mutex<Option<Gc<Node>>>,
    right: Mutex<Option<Gc<Node>>>,
    _i: i32,
    _j: i32,
}

fn kid(m: &Mutex<Option<Gc<Node>>>) -> Option<Gc<Node>> {
    m.lock().expect("an unpoisoned node").clone()
}

fn populate(d: u32, n: &Node) {
    if d == 0 {
        return;
    }
    let (l, r) = (Gc::new(Node::default()), Gc::new(Node::default()));
    *n.left.lock().expect("an unpoisoned node") = Some(l.clone());
    *n.right.lock().expect("an unpoisoned node") = Some(r.clone());
    populate(d - 1, &l);
    populate(d - 1, &r);
}

fn make_tree(d: u32) -> Gc<Node> {
    if d == 0 {
        Gc::new(Node::default())
    } else {
        let (l, r) = (make_tree(d - 1), make_tree(d - 1));
        Gc::new(Node { left: Mutex::new(Some(l)), right: Mutex::new(Some(r)), _i: 0, _j: 0 })
    }
}

fn count(n: &Node) -> u64 {
    1 + kid(&n.left).map_or(0, |k| count(&k)) + kid(&n.right).map_or(0, |k| count(&k))
}

#[derive(Default)]
pub(crate) struct DumpsterBench {
    tree: Option<Gc<Node>>,
    array: Option<Gc<Vec<f64>>>,
}

impl GcBench for DumpsterBench {
    fn stretch(&mut self, d: u32) -> u64 {
        count(&make_tree(d))
    }
    fn keep(&mut self, d: u32, len: usize) {
        let t = Gc::new(Node::default());
        populate(d, &t);
        self.tree = Some(t);
        let mut a = vec![0.0; len];
        for (i, x) in a.iter_mut().enumerate().take(len / 2) {
            *x = array_value(i);
        }
        self.array = Some(Gc::new(a));
    }
    fn top_down(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for _ in 0..iters {
            let t = Gc::new(Node::default());
            populate(d, &t);
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
        let a = self.array.as_ref().expect("kept");
        (count(self.tree.as_ref().expect("kept")), a[1000], a.iter().sum())
    }
}
