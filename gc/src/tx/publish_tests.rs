//! CM2 of `tx/commit.rs`: a commit none of whose new objects can leave
//! the transaction publishes none of them (they keep `NEW`, unstamped,
//! and the next cycle frees them), even if it stores a reference that is
//! not new; a commit whose way out (SV1) hands out one of them publishes
//! all of them. Each way out has its own case, so leaving
//! one out of `Tx::news_may_escape` fails here.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::flags::ObjFlags;
use crate::header::Header;
use crate::*;

struct Count(Arc<AtomicUsize>);
// SAFETY: holds no heap reference.
unsafe impl NoTraceSafe for Count {}
impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Node {
    next: Ref<Node>,
    count: NoTrace<Count>,
}

#[derive(Trace)]
struct Holder {
    node: Ref<Node>,
}

const CHAIN: usize = 3;

/// No collector thread: cycles run only when a test asks, so the headers
/// read after a commit are not swept under the test.
fn heap() -> Heap {
    Heap::new(Config::default().verify(true).background(false)).unwrap()
}

/// Commit a transaction that allocates a chain of `CHAIN` nodes and hands
/// its head to `out`; the chain's headers, and whether each is still
/// unpublished (`NEW`) right after the commit.
fn commit_chain<R>(
    m: &mut Mutator,
    drops: &Arc<AtomicUsize>,
    out: impl for<'t> Fn(&mut Tx<'t>, Gc<'t, Node>) -> Result<R, Abort<()>>,
) -> (R, Vec<bool>) {
    let mut headers: Vec<NonNull<Header>> = Vec::new();
    let r = m
        .transaction::<_, ()>(|tx| {
            headers.clear();
            let mut head = tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
            headers.push(head.header().into());
            for _ in 1..CHAIN {
                let n = tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
                tx.store(n, |n| &n.next, Some(head))?;
                headers.push(n.header().into());
                head = n;
            }
            out(tx, head)
        })
        .unwrap();
    // SAFETY: the chain's objects are in the heap until a cycle sweeps
    // them, and no cycle runs (no collector thread, no `collect` yet).
    let new = headers.iter().map(|h| unsafe { h.as_ref() }.flags().contains(ObjFlags::NEW)).collect();
    (r, new)
}

#[test]
fn a_commit_whose_new_objects_cannot_escape_publishes_none() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let ((), new) = commit_chain(&mut m, &drops, |_, _| Ok(()));
    assert_eq!(new, [true; CHAIN], "nothing escaped, so nothing was published (CM2)");
    // A way out taken that hands out none of them (a store of null into
    // an old object): still nothing to publish.
    let holder = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { node: Ref::null() })?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    let ((), new) = commit_chain(&mut m, &drops, |tx, _| {
        let h = tx.get_global(&holder)?;
        tx.store(h, |h| &h.node, None)?;
        Ok(())
    });
    assert_eq!(new, [true; CHAIN], "a stored reference that is not new publishes nothing");
    // Garbage from the commit on: the next cycle frees it (and the
    // verifier, on here, checks the heap it leaves).
    m.collect().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2 * CHAIN);
}

#[test]
fn every_way_out_publishes_every_new_object() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let holder = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { node: Ref::null() })?;
            Ok(tx.global_root(h))
        })
        .unwrap();

    let ((), stored) = commit_chain(&mut m, &drops, |tx, head| {
        let h = tx.get_global(&holder)?;
        tx.store(h, |h| &h.node, Some(head))?;
        Ok(())
    });
    let (root, rooted) = commit_chain(&mut m, &drops, |tx, head| Ok(tx.root(head)));
    let (global, global_set) = commit_chain(&mut m, &drops, |tx, head| Ok(tx.global_root(head)));
    let ((), finalized) = commit_chain(&mut m, &drops, |tx, head| {
        tx.add_cleanup(head, || ());
        Ok(())
    });
    // A new weak cell is registered at commit, even unreachable (SV1).
    let ((), in_weak_cell) = commit_chain(&mut m, &drops, |tx, head| {
        tx.new_weak(Some(head))?;
        Ok(())
    });
    for (way, new) in [
        ("a reference stored", stored),
        ("a root", rooted),
        ("a global root", global_set),
        ("a cleanup", finalized),
        ("a weak cell", in_weak_cell),
    ] {
        assert_eq!(new, [false; CHAIN], "{way}: every new object published");
    }

    // The published chains are whole after a cycle: the stored, rooted
    // and global ones reachable, the cleanup's and the weak cell's
    // garbage.
    m.collect().unwrap();
    m.collect().unwrap();
    for (what, len) in [
        (
            "stored",
            chain_len(&mut m, |tx| {
                let h = tx.get_global(&holder)?;
                Ok(tx.load(h, |h| &h.node)?)
            }),
        ),
        ("rooted", chain_len(&mut m, |tx| Ok(Some(tx.get_root(&root)?)))),
        ("global", chain_len(&mut m, |tx| Ok(Some(tx.get_global(&global)?)))),
    ] {
        assert_eq!(len, CHAIN, "the {what} chain survived whole");
    }
    assert_eq!(drops.load(Ordering::SeqCst), 2 * CHAIN, "the cleanup's and the weak cell's chains were freed");
}

fn chain_len(m: &mut Mutator, head: impl for<'t> Fn(&mut Tx<'t>) -> Result<Option<Gc<'t, Node>>, Abort<()>>) -> usize {
    m.transaction::<_, ()>(|tx| {
        let mut n = head(tx)?;
        let mut len = 0;
        while let Some(x) = n {
            len += 1;
            n = tx.load(x, |x| &x.next)?;
        }
        Ok(len)
    })
    .unwrap()
}
