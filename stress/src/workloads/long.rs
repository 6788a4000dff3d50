//! Long transactions: each reads a private 2,000-node list, checks its sum
//! against the head's record, and adds 1 to 50 random nodes. Every 10th
//! becomes inevitable first (as if it did I/O): it cannot abort, and other
//! threads wait at their commits until it ends.

use tmgc::{Ref, Trace, Value};

use super::{list, until_committed, Node};
use crate::ctx::{ensure, Ctx, Failure};

const LEN: u64 = 2000;

#[derive(Trace)]
pub(crate) struct Head {
    sum: Value<u64>,
    first: Ref<Node>,
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let Some(head) = until_committed(ctx, |tx| {
        let l = list(tx, LEN, |i| i)?;
        let h = tx.alloc(Head { sum: Value::new(LEN * (LEN - 1) / 2), first: Ref::null() })?;
        tx.store(h, |h| &h.first, l)?;
        Ok(tx.root(h))
    })?
    else {
        return Ok(());
    };
    let mut n = 0u64;
    while ctx.running() {
        n += 1;
        let inevitable = n % 10 == 0;
        let picks: Vec<u64> = (0..50).map(|_| ctx.rng.below(LEN)).collect();
        ctx.tx(|tx| {
            let h = tx.get_root(&head)?;
            if inevitable {
                tx.become_inevitable()?;
            }
            let mut nodes = Vec::with_capacity(LEN as usize);
            let mut cur = tx.load(h, |h| &h.first)?;
            let mut sum = 0;
            while let Some(x) = cur {
                sum += tx.get(x, |x| &x.val)?;
                nodes.push(x);
                cur = tx.load(x, |x| &x.next)?;
            }
            let want = tx.get(h, |h| &h.sum)?;
            ensure(nodes.len() as u64 == LEN && sum == want, || {
                format!("long list: {} nodes summing to {sum}, head records {want}", nodes.len())
            })?;
            for &p in &picks {
                let x = nodes[p as usize];
                let v = tx.get(x, |x| &x.val)?;
                tx.set(x, |x| &x.val, v + 1)?;
            }
            tx.set(h, |h| &h.sum, want + picks.len() as u64)?;
            Ok(())
        })?
        .inspect(|()| ctx.counters.checks += 1); // the list and its sum, checked
    }
    Ok(())
}
