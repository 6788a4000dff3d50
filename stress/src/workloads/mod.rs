//! The workloads. Each runs on one thread for one slice, keeps its own
//! structures, and checks them after its commits; `graph` also keeps an
//! invariant over a structure all threads share.

pub(crate) mod churn;
pub(crate) mod finalize;
pub(crate) mod graph;
pub(crate) mod large;
pub(crate) mod long;
pub(crate) mod lru;
pub(crate) mod objects;
pub(crate) mod pressure;
pub(crate) mod trees;
pub(crate) mod weak;

use tmgc::{Abort, Gc, Ref, Trace, Tx, Value};

use crate::ctx::{ensure, Ctx, Failure, Stop};
use crate::opts::Workload;

/// A list node, shared by several workloads.
#[derive(Trace)]
pub(crate) struct Node {
    pub(crate) val: Value<u64>,
    pub(crate) next: Ref<Node>,
}

/// A list of `len` nodes with values `f(0..len)`, head first.
pub(crate) fn list<'t>(tx: &mut Tx<'t>, len: u64, f: impl Fn(u64) -> u64) -> Result<Option<Gc<'t, Node>>, Abort<Stop>> {
    let mut head = None;
    for i in (0..len).rev() {
        let n = tx.alloc(Node { val: Value::new(f(i)), next: Ref::null() })?;
        tx.store(n, |x| &x.next, head)?;
        head = Some(n);
    }
    Ok(head)
}

/// Check a list built by [`list`]: its length and every value.
pub(crate) fn check_list<'t>(
    tx: &mut Tx<'t>,
    mut cur: Option<Gc<'t, Node>>,
    len: u64,
    f: impl Fn(u64) -> u64,
    what: &str,
) -> Result<(), Abort<Stop>> {
    let mut i = 0;
    while let Some(n) = cur {
        let v = tx.get(n, |x| &x.val)?;
        ensure(v == f(i), || format!("{what}: node {i} at {:p} holds {v}, expected {}", n.header(), f(i)))?;
        cur = tx.load(n, |x| &x.next)?;
        i += 1;
    }
    ensure(i == len, || format!("{what}: {i} nodes, expected {len}"))
}

/// Shared state set up before the threads start.
pub(crate) struct Shared {
    pub(crate) graph: graph::Graph,
    pub(crate) resources: std::sync::Arc<finalize::Resources>,
}

/// Run one slice of `w`.
pub(crate) fn run(w: Workload, ctx: &mut Ctx<'_>, shared: &Shared) -> Result<(), Failure> {
    match w {
        Workload::Trees => trees::run(ctx),
        Workload::Graph => graph::run(ctx, &shared.graph),
        Workload::Lru => lru::run(ctx),
        Workload::Large => large::run(ctx),
        Workload::Long => long::run(ctx),
        Workload::Churn => churn::run(ctx),
        Workload::Pressure => pressure::run(ctx),
        Workload::Weak => weak::run(ctx),
        Workload::Objects => objects::run(ctx),
        Workload::Finalize => finalize::run(ctx, &shared.resources),
    }
}

/// Keep trying `f` until it commits (injected aborts and panics, and the
/// heap limit, retry), or the slice ends.
pub(crate) fn until_committed<R>(
    ctx: &mut Ctx<'_>,
    mut f: impl for<'t> FnMut(&mut Tx<'t>) -> Result<R, Abort<Stop>>,
) -> Result<Option<R>, Failure> {
    while ctx.running() {
        if let Some(r) = ctx.tx(&mut f)? {
            return Ok(Some(r));
        }
    }
    Ok(None)
}
