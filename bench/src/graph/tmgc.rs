//! The graph on tmgc, as an interpreter would hold it: nodes are dynamic
//! objects (four reference slots and one data word), the table is a
//! dynamic object of `v` slots shared through a `GlobalRoot`, and each
//! step is one transaction on the thread's own mutator.

use tmgc::{Abort, Dyn, DynType, DynTypeSpec, Gc, GlobalRoot, Heap, Tx};

use super::{check_term, initial_edges, my_steps, Step, Steps, Target, EDGES};

type R<T> = Result<T, Abort<()>>;

fn node<'tx>(tx: &mut Tx<'tx>, ty: DynType, value: u64) -> R<Gc<'tx, Dyn>> {
    let n = tx.alloc_dyn(ty)?;
    tx.set_data(n, 0, value)?;
    Ok(n)
}

fn at<'tx>(tx: &mut Tx<'tx>, obj: Gc<'tx, Dyn>, i: usize) -> R<Gc<'tx, Dyn>> {
    Ok(tx.slot(obj, i)?.expect("a full graph"))
}

fn values<'tx>(tx: &mut Tx<'tx>, n: Gc<'tx, Dyn>) -> R<[u64; EDGES]> {
    let mut v = [0; EDGES];
    for (k, x) in v.iter_mut().enumerate() {
        if let Some(y) = tx.slot(n, k)? {
            *x = tx.data(y, 0)?;
        }
    }
    Ok(v)
}

fn step<'tx>(tx: &mut Tx<'tx>, ty: DynType, table: &GlobalRoot<Dyn>, s: Step) -> R<u64> {
    let t = tx.get_global(table)?;
    let u = at(tx, t, s.u)?;
    let seen = values(tx, u)?.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    let x = match s.target {
        Target::Table(v) => at(tx, t, v)?,
        Target::Fresh(value, to) => {
            let w = node(tx, ty, value)?;
            for (k, v) in to.into_iter().enumerate() {
                let y = at(tx, t, v)?;
                tx.set_slot(w, k, Some(y))?;
            }
            w
        }
    };
    tx.set_slot(u, s.edge, Some(x))?;
    Ok(seen)
}

pub(crate) fn run(v: usize, total: u64, threads: usize) -> u64 {
    let heap = Heap::new(crate::tmgc_report::config()).expect("a heap");
    let ty = DynType::register(DynTypeSpec::new("GraphNode").ref_slots(EDGES).data_words(1)).expect("a node type");
    let table_ty = DynType::register(DynTypeSpec::new("GraphTable").ref_slots(v)).expect("a table type");
    let mut m = heap.attach().expect("attach");
    let init = initial_edges(v);
    let table = m
        .transaction::<_, ()>(|tx| {
            let t = tx.alloc_dyn(table_ty)?;
            for u in 0..v {
                let n = node(tx, ty, u as u64)?;
                tx.set_slot(t, u, Some(n))?;
            }
            for (u, es) in init.iter().enumerate() {
                let n = at(tx, t, u)?;
                for (k, &x) in es.iter().enumerate() {
                    let y = at(tx, t, x)?;
                    tx.set_slot(n, k, Some(y))?;
                }
            }
            Ok(tx.global_root(t))
        })
        .expect("the table");
    let work = |m: &mut tmgc::Mutator, t: usize| {
        let mut steps = Steps::new(v, t, threads);
        let mut acc = 0u64;
        for _ in 0..my_steps(total, t, threads) {
            let s = steps.draw();
            let seen = m.transaction::<_, ()>(|tx| step(tx, ty, &table, s)).expect("a step");
            acc = acc.wrapping_add(seen);
        }
        std::hint::black_box(acc);
    };
    std::thread::scope(|s| {
        let (heap, work) = (&heap, &work);
        let hs: Vec<_> =
            (1..threads).map(|t| s.spawn(move || work(&mut heap.attach().expect("attach a worker"), t))).collect();
        work(&mut m, 0);
        hs.into_iter().for_each(|h| h.join().expect("a graph thread panicked"));
    });
    let check = m
        .transaction::<_, ()>(|tx| {
            let t = tx.get_global(&table)?;
            let mut check = 0u64;
            for u in 0..v {
                let n = at(tx, t, u)?;
                for j in 0..EDGES {
                    let x = at(tx, n, j)?;
                    let term = check_term(j, tx.data(x, 0)?, values(tx, x)?);
                    check = check.wrapping_add(term);
                }
            }
            Ok(check)
        })
        .expect("the check");
    drop(table);
    drop(m);
    crate::tmgc_report::print(&heap);
    check
}
