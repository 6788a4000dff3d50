//! GCBench on tmgc: each tree is built (and, for the last of a batch,
//! counted) in one transaction, which publishes nothing, so its commit
//! gives the tree's memory back (unless `TMGC_BENCH_PUBLISH=1`:
//! `tmgc_report::publish`); the long-lived tree and the array of
//! doubles (a dynamic object of 500,000 data words) are `Root`s of the
//! mutator.

use tmgc::{Abort, Dyn, DynType, DynTypeSpec, Gc, Heap, Mutator, Ref, Root, Trace, Tx, Value};

use super::{array_value, GcBench};

#[derive(Trace)]
struct Node {
    left: Ref<Node>,
    right: Ref<Node>,
    i: Value<i32>,
    j: Value<i32>,
}

type R<T> = Result<T, Abort<()>>;

fn node<'tx>(tx: &mut Tx<'tx>) -> R<Gc<'tx, Node>> {
    Ok(tx.alloc(Node { left: Ref::null(), right: Ref::null(), i: Value::new(0), j: Value::new(0) })?)
}

fn populate<'tx>(tx: &mut Tx<'tx>, d: u32, n: Gc<'tx, Node>) -> R<()> {
    if d == 0 {
        return Ok(());
    }
    let (l, r) = (node(tx)?, node(tx)?);
    tx.store(n, |n| &n.left, Some(l))?;
    tx.store(n, |n| &n.right, Some(r))?;
    populate(tx, d - 1, l)?;
    populate(tx, d - 1, r)
}

fn make_tree<'tx>(tx: &mut Tx<'tx>, d: u32) -> R<Gc<'tx, Node>> {
    if d == 0 {
        return node(tx);
    }
    let (l, r) = (make_tree(tx, d - 1)?, make_tree(tx, d - 1)?);
    // A `Ref` is born null (a `Gc` exists only inside a transaction, so
    // it cannot sit in a value built outside one): store the children.
    let n = node(tx)?;
    tx.store(n, |n| &n.left, Some(l))?;
    tx.store(n, |n| &n.right, Some(r))?;
    Ok(n)
}

fn count<'tx>(tx: &mut Tx<'tx>, n: Gc<'tx, Node>) -> R<u64> {
    let l = tx.load(n, |n| &n.left)?;
    let r = tx.load(n, |n| &n.right)?;
    let mut c = 1;
    for k in [l, r].into_iter().flatten() {
        c += count(tx, k)?;
    }
    Ok(c)
}

pub(crate) struct TmgcBench {
    heap: Heap,
    m: Option<Mutator>,
    array_type: DynType,
    kept: Option<(Root<Node>, Root<Dyn>)>,
}

impl TmgcBench {
    pub(crate) fn new() -> Self {
        let heap = Heap::new(crate::tmgc_report::config()).expect("a heap");
        let m = heap.attach().expect("attach");
        let array_type =
            DynType::register(DynTypeSpec::new("DoubleArray").data_words(super::ARRAY_LEN)).expect("a dynamic type");
        TmgcBench { heap, m: Some(m), array_type, kept: None }
    }

    fn m(&mut self) -> &mut Mutator {
        self.m.as_mut().expect("attached")
    }

    pub(crate) fn report(mut self) {
        self.kept = None;
        self.m = None;
        crate::tmgc_report::print(&self.heap);
    }
}

impl GcBench for TmgcBench {
    fn stretch(&mut self, d: u32) -> u64 {
        self.m()
            .transaction::<_, ()>(|tx| {
                let t = make_tree(tx, d)?;
                Ok((count(tx, t)?, crate::tmgc_report::publish(tx, t)))
            })
            .expect("the stretch tree")
            .0
    }
    fn keep(&mut self, d: u32, len: usize) {
        let ty = self.array_type;
        let kept = self.m().transaction::<_, ()>(|tx| {
            let t = node(tx)?;
            populate(tx, d, t)?;
            let a = tx.alloc_dyn(ty)?;
            for i in 0..len / 2 {
                tx.set_data(a, i, array_value(i).to_bits())?;
            }
            Ok((tx.root(t), tx.root(a)))
        });
        self.kept = Some(kept.expect("the long-lived data"));
    }
    fn top_down(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for k in 0..iters {
            last = self
                .m()
                .transaction::<_, ()>(|tx| {
                    let t = node(tx)?;
                    populate(tx, d, t)?;
                    let c = if k + 1 == iters { count(tx, t)? } else { 0 };
                    Ok((c, crate::tmgc_report::publish(tx, t)))
                })
                .expect("a top-down tree")
                .0;
        }
        last
    }
    fn bottom_up(&mut self, d: u32, iters: u64) -> u64 {
        let mut last = 0;
        for k in 0..iters {
            last = self
                .m()
                .transaction::<_, ()>(|tx| {
                    let t = make_tree(tx, d)?;
                    let c = if k + 1 == iters { count(tx, t)? } else { 0 };
                    Ok((c, crate::tmgc_report::publish(tx, t)))
                })
                .expect("a bottom-up tree")
                .0;
        }
        last
    }
    fn check_kept(&mut self) -> (u64, f64, f64) {
        let (t, a) = self.kept.take().expect("kept");
        let r = self.m().transaction::<_, ()>(|tx| {
            let (tree, array) = (tx.get_root(&t)?, tx.get_root(&a)?);
            let nodes = count(tx, tree)?;
            let a1000 = f64::from_bits(tx.data(array, 1000)?);
            let mut sum = 0.0;
            for i in 0..super::ARRAY_LEN {
                sum += f64::from_bits(tx.data(array, i)?);
            }
            Ok((nodes, a1000, sum))
        });
        self.kept = Some((t, a));
        r.expect("the long-lived data's check")
    }
}
