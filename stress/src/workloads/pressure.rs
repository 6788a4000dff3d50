//! Heap-limit pressure: grow a live set of 128 KiB lists until the heap
//! limit refuses one (a clean `HeapExhausted`, after the collector has had
//! a full cycle to make room), check every list, then let them all go.

use tmgc::Root;

use super::{check_list, list, Node};
use crate::ctx::{Ctx, Failure};

const LEN: u64 = 4096;

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let limit_lists = (ctx.opts.heap_limit_mib as u64) * (1 << 20) / (LEN * 32);
    while ctx.running() {
        let mut held: Vec<(Root<Node>, u64)> = Vec::new();
        let exhausted_before = ctx.counters.exhausted;
        while ctx.running() && ctx.counters.exhausted == exhausted_before && (held.len() as u64) < limit_lists {
            let seed = ctx.rng.next();
            if let Some(r) = ctx.tx(|tx| {
                let l = list(tx, LEN, |i| seed ^ i)?;
                Ok(tx.root(l.expect("a list")))
            })? {
                held.push((r, seed));
            }
        }
        for (r, seed) in &held {
            let seed = *seed;
            ctx.check(|tx| {
                let l = tx.get_root(r)?;
                check_list(tx, Some(l), LEN, |i| seed ^ i, "pressure list")
            })?;
        }
        drop(held);
        ctx.m.commit_point(); // the roots go now, not at the next transaction
    }
    Ok(())
}
