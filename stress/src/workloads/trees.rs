//! Binary-trees churn: short-lived trees of random depth, built and checked
//! in one transaction each, plus one long-lived tree per slice checked
//! every 32 trees. Half the short-lived trees, at random, are published
//! (a root, dropped after the commit) and so freed by the collector; the
//! other half are given back by their own commit (CM3 of tmgc's
//! `tx/commit.rs`).

use tmgc::{Abort, Gc, Ref, Trace, Tx, Value};

use super::until_committed;
use crate::ctx::{ensure, Ctx, Failure, Stop};

#[derive(Trace)]
pub(crate) struct TNode {
    item: Value<u64>,
    left: Ref<TNode>,
    right: Ref<TNode>,
}

fn build<'t>(tx: &mut Tx<'t>, depth: u32, item: u64) -> Result<Gc<'t, TNode>, Abort<Stop>> {
    let n = tx.alloc(TNode { item: Value::new(item), left: Ref::null(), right: Ref::null() })?;
    if depth > 0 {
        let l = build(tx, depth - 1, 2 * item)?;
        let r = build(tx, depth - 1, 2 * item + 1)?;
        tx.store(n, |x| &x.left, Some(l))?;
        tx.store(n, |x| &x.right, Some(r))?;
    }
    Ok(n)
}

/// Count the nodes, checking every item (left = 2i, right = 2i + 1).
fn check<'t>(tx: &mut Tx<'t>, root: Gc<'t, TNode>, item: u64) -> Result<u64, Abort<Stop>> {
    let mut stack = vec![(root, item)];
    let mut n = 0;
    while let Some((x, want)) = stack.pop() {
        let got = tx.get(x, |x| &x.item)?;
        ensure(got == want, || format!("tree node {:p}: item {got}, expected {want}", x.header()))?;
        n += 1;
        if let Some(l) = tx.load(x, |x| &x.left)? {
            stack.push((l, 2 * want));
        }
        if let Some(r) = tx.load(x, |x| &x.right)? {
            stack.push((r, 2 * want + 1));
        }
    }
    Ok(n)
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    const LONG_DEPTH: u32 = 12;
    let Some(long) = until_committed(ctx, |tx| {
        let t = build(tx, LONG_DEPTH, 1)?;
        Ok(tx.root(t))
    })?
    else {
        return Ok(());
    };
    let mut i = 0u64;
    while ctx.running() {
        let depth = 4 + ctx.rng.below(7) as u32;
        let publish = ctx.rng.chance(500);
        let _published = ctx.tx(|tx| {
            let t = build(tx, depth, 1)?;
            let n = check(tx, t, 1)?;
            ensure(n == (1 << (depth + 1)) - 1, || format!("short-lived tree of depth {depth}: {n} nodes"))?;
            Ok(publish.then(|| tx.root(t)))
        })?;
        i += 1;
        if i % 32 == 0 {
            ctx.check(|tx| {
                let t = tx.get_root(&long)?;
                let n = check(tx, t, 1)?;
                ensure(n == (1 << (LONG_DEPTH + 1)) - 1, || format!("long-lived tree: {n} nodes"))
            })?;
        }
    }
    Ok(())
}
