//! A shared random graph, mutated by every thread: 64 nodes in a table
//! behind a global root. Transactions move value between two nodes (the sum
//! is conserved), re-point edges, and replace nodes by fresh copies (the old
//! node stays reachable through other nodes' edges until they move on).
//! Threads conflict and retry; after every commit a read-only transaction
//! verifies the sum and follows three edges from every node. A quarter of
//! the transactions only re-point the edge of the thread's home node (one
//! object written, commit after commit), so each thread comes to own its
//! home node (`Config::owned`), and every check, which reads all nodes,
//! asks the other threads for theirs.

use tmgc::{GlobalRoot, Heap, Ref, Trace, Value};

use crate::ctx::{ensure, Ctx, Failure};

const N: usize = 64;
const UNIT: i64 = 1000;

#[derive(Trace)]
pub(crate) struct GNode {
    id: Value<u64>,
    val: Value<i64>,
    edge: Ref<GNode>,
}

#[derive(Trace)]
pub(crate) struct Table {
    slots: [Ref<GNode>; N],
}

pub(crate) struct Graph {
    root: GlobalRoot<Table>,
}

impl Graph {
    pub(crate) fn new(heap: &Heap) -> Graph {
        let mut m = heap.attach().expect("attach the set-up thread");
        let root = m
            .transaction::<_, ()>(|tx| {
                let t = tx.alloc(Table { slots: std::array::from_fn(|_| Ref::null()) })?;
                let mut nodes = Vec::with_capacity(N);
                for i in 0..N {
                    let n = tx.alloc(GNode { id: Value::new(i as u64), val: Value::new(UNIT), edge: Ref::null() })?;
                    tx.store(t, |t| &t.slots[i], Some(n))?;
                    nodes.push(n);
                }
                for i in 0..N {
                    tx.store(nodes[i], |x| &x.edge, Some(nodes[(i * 7 + 3) % N]))?;
                }
                Ok(tx.global_root(t))
            })
            .expect("set up the shared graph");
        Graph { root }
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>, g: &Graph) -> Result<(), Failure> {
    while ctx.running() {
        let (a, b) = (ctx.rng.below(N as u64) as usize, ctx.rng.below(N as u64) as usize);
        let amount = ctx.rng.below(100) as i64 - 50;
        let op = ctx.rng.below(4);
        if op == 3 {
            // The home node's edge only: a one-object commit, which takes it.
            let home = ctx.thread % N;
            ctx.tx(|tx| {
                let t = tx.get_global(&g.root)?;
                let h = tx.load(t, |t| &t.slots[home])?.expect("every slot holds a node");
                let nb = tx.load(t, |t| &t.slots[b])?.expect("every slot holds a node");
                tx.store(h, |x| &x.edge, Some(nb))?;
                Ok(())
            })?;
        } else {
            ctx.tx(|tx| {
                let t = tx.get_global(&g.root)?;
                let na = tx.load(t, |t| &t.slots[a])?.expect("every slot holds a node");
                let nb = tx.load(t, |t| &t.slots[b])?.expect("every slot holds a node");
                if a != b {
                    let (va, vb) = (tx.get(na, |x| &x.val)?, tx.get(nb, |x| &x.val)?);
                    tx.set(na, |x| &x.val, va - amount)?;
                    tx.set(nb, |x| &x.val, vb + amount)?;
                }
                match op {
                    0 => tx.store(na, |x| &x.edge, Some(nb))?,
                    1 => {
                        // Replace node a by a fresh copy.
                        let (id, val, edge) =
                            (tx.get(na, |x| &x.id)?, tx.get(na, |x| &x.val)?, tx.load(na, |x| &x.edge)?);
                        let fresh = tx.alloc(GNode { id: Value::new(id), val: Value::new(val), edge: Ref::null() })?;
                        tx.store(fresh, |x| &x.edge, edge)?;
                        tx.store(t, |t| &t.slots[a], Some(fresh))?;
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        // After every commit: the sum is conserved and every edge is sound.
        {
            ctx.check(|tx| {
                let t = tx.get_global(&g.root)?;
                let mut sum = 0;
                for k in 0..N {
                    let n = tx.load(t, |t| &t.slots[k])?;
                    let n = match n {
                        Some(n) => n,
                        None => return ensure(false, || format!("graph slot {k} is empty")),
                    };
                    let id = tx.get(n, |x| &x.id)?;
                    ensure(id == k as u64, || format!("graph slot {k} holds node {:p} with id {id}", n.header()))?;
                    sum += tx.get(n, |x| &x.val)?;
                    // Follow three edges: each reaches a node with a valid id.
                    let mut e = tx.load(n, |x| &x.edge)?;
                    for _ in 0..3 {
                        let Some(x) = e else { break };
                        let xid = tx.get(x, |x| &x.id)?;
                        ensure(xid < N as u64, || {
                            format!("graph edge from slot {k} reaches {:p} with id {xid}", x.header())
                        })?;
                        e = tx.load(x, |x| &x.edge)?;
                    }
                }
                ensure(sum == UNIT * N as i64, || format!("graph sum is {sum}, expected {}", UNIT * N as i64))
            })?;
        }
    }
    Ok(())
}
