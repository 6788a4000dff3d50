//! CM2 and CM3 of `tx/commit.rs`: a commit none of whose new objects can
//! leave the transaction publishes none of them, and gives their memory
//! back at once (destructors run, the allocator rewinds), even if it
//! stores a reference that is not new; a commit whose way out (SV1) hands
//! out one of them publishes all of them. Each way out has its own case,
//! so leaving one out of `Tx::news_may_escape` fails here.

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
/// its head to `out`; the chain's headers, first allocated first.
fn commit_chain<R>(
    m: &mut Mutator,
    drops: &Arc<AtomicUsize>,
    out: impl for<'t> Fn(&mut Tx<'t>, Gc<'t, Node>) -> Result<R, Abort<()>>,
) -> (R, Vec<NonNull<Header>>) {
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
    (r, headers)
}

/// Whether each object is still unpublished (`NEW`).
///
/// Only for published objects: they stay in the heap, as no cycle runs
/// (no collector thread, no `collect` yet) while the test reads them.
fn still_new(headers: &[NonNull<Header>]) -> Vec<bool> {
    // SAFETY: live objects (the caller's promise).
    headers.iter().map(|h| unsafe { h.as_ref() }.flags().contains(ObjFlags::NEW)).collect()
}

/// What a test's transaction does with its chain's head.
type Out<'a> = dyn for<'t> Fn(&mut Tx<'t>, Gc<'t, Node>) -> Result<(), Abort<()>> + 'a;

/// The address of the next object a transaction allocates.
fn next_address(m: &mut Mutator) -> NonNull<Header> {
    m.transaction::<_, ()>(|tx| {
        let n = tx.alloc(Holder { node: Ref::null() })?;
        Ok(NonNull::from(n.header()))
    })
    .unwrap()
}

#[test]
fn a_commit_whose_new_objects_cannot_escape_gives_them_back_at_once() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let holder = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { node: Ref::null() })?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    // No way out; then a way out taken that hands out none of them (a
    // store of null into an old object).
    let ways: [(&str, &Out<'_>); 2] = [
        ("no way out", &|_, _| Ok(())),
        ("a stored reference that is not new", &|tx, _| {
            let h = tx.get_global(&holder)?;
            tx.store(h, |h| &h.node, None)?;
            Ok(())
        }),
    ];
    for (i, (way, out)) in ways.into_iter().enumerate() {
        let before = m.allocated_bytes();
        let ((), headers) = commit_chain(&mut m, &drops, out);
        // CM3: dropped at the commit, not by a cycle (none ran), and the
        // allocation is given back: not counted, and the next object takes
        // the first one's place.
        assert_eq!(drops.load(Ordering::SeqCst), (i + 1) * CHAIN, "{way}: destructors ran at the commit");
        assert_eq!(m.allocated_bytes(), before, "{way}: the allocation was given back");
        assert_eq!(next_address(&mut m), headers[0], "{way}: the memory is reused at once");
    }
    let c = m.tx_counts();
    // The chains and the two probes (which carry out an address only).
    assert_eq!(c.given_back, 2 * CHAIN as u64 + 2, "counted as given back: {c:?}");
    assert_eq!(c.allocations, 1 + 2 * CHAIN as u64 + 2, "the holder, the chains, the two probes: {c:?}");
    // The verifier (on here) checks the heap this leaves, and no
    // destructor runs twice.
    m.collect().unwrap();
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
    assert_eq!(drops.load(Ordering::SeqCst), 0, "published objects are not given back at the commit");
    assert_eq!(m.tx_counts().given_back, 0, "none counted as given back");
    for (way, new) in [
        ("a reference stored", stored),
        ("a root", rooted),
        ("a global root", global_set),
        ("a cleanup", finalized),
        ("a weak cell", in_weak_cell),
    ] {
        assert_eq!(still_new(&new), [false; CHAIN], "{way}: every new object published");
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

struct PanicOnDrop;
// SAFETY: holds no heap reference.
unsafe impl NoTraceSafe for PanicOnDrop {}
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a destructor panicked");
    }
}

#[derive(Trace)]
struct Bomb {
    bomb: NoTrace<PanicOnDrop>,
}

#[test]
fn a_destructor_that_panics_at_a_cm3_commit_is_counted_and_the_commit_stands() {
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let before = m.allocated_bytes();
    let r = m.transaction::<_, ()>(|tx| {
        tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
        tx.alloc(Bomb { bomb: NoTrace(PanicOnDrop) })?;
        tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
        Ok(7)
    });
    // As in the sweep that would have run it: caught and counted, and
    // the commit returns its result.
    assert_eq!(r.unwrap(), 7);
    assert_eq!(heap.stats().destructor_panics, 1);
    // Every other destructor ran, once; the memory was given back all the
    // same, and the mutator goes on.
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(m.allocated_bytes(), before);
    let ((), _) = commit_chain(&mut m, &drops, |_, _| Ok(()));
    m.collect().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2 + CHAIN);
    assert_eq!(heap.stats().destructor_panics, 1);
}

/// A destructor run at a CM3 commit, or by an abort's rollback, is GC
/// work (W0): it cannot attach to a heap, as one run by the sweep cannot.
#[test]
fn a_destructor_run_at_a_cm3_commit_or_an_abort_cannot_re_enter_the_heap() {
    /// Attaches to `other` (a second heap, so the refusal is W0's and not
    /// `AlreadyAttached`) from its destructor, and records the answer.
    struct Reenter(Heap, Arc<std::sync::Mutex<Option<String>>>);
    // SAFETY: holds no heap reference (a `Heap` handle is not one).
    unsafe impl NoTraceSafe for Reenter {}
    impl Drop for Reenter {
        fn drop(&mut self) {
            *self.1.lock().unwrap() = Some(format!("{:?}", self.0.attach().err()));
        }
    }
    #[derive(Trace)]
    struct Holds {
        r: NoTrace<Reenter>,
    }
    let (heap, other) = (heap(), heap());
    let mut m = heap.attach().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    m.transaction::<_, ()>(|tx| {
        tx.alloc(Holds { r: NoTrace(Reenter(other.clone(), seen.clone())) })?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some(format!("{:?}", Some(HeapError::InGcWork)).as_str()),
        "attach inside the destructor is refused as GC work"
    );
    // The same destructor run by the rollback of an attempt that gives up.
    *seen.lock().unwrap() = None;
    let r = m.transaction::<(), ()>(|tx| {
        tx.alloc(Holds { r: NoTrace(Reenter(other.clone(), seen.clone())) })?;
        Err(Abort::User(()))
    });
    assert!(matches!(r, Err(TxError::Aborted(()))), "{r:?}");
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some(format!("{:?}", Some(HeapError::InGcWork)).as_str()),
        "attach inside a rollback's destructor is refused as GC work"
    );
}

/// Commit a list of `len` new nodes, every one published through a root
/// of its head, and a weak cell to the head if `weak` (which makes the
/// commit list its new objects: NL2); the root, and the news log's
/// capacity in the next transaction.
fn publish_list(m: &mut Mutator, len: usize, weak: bool) -> (Root<Node>, usize) {
    let drops = Arc::new(AtomicUsize::new(0));
    let root = m
        .transaction::<_, ()>(|tx| {
            let mut head = tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
            for _ in 1..len {
                let n = tx.alloc(Node { next: Ref::null(), count: NoTrace(Count(drops.clone())) })?;
                tx.store(n, |n| &n.next, Some(head))?;
                head = n;
            }
            if weak {
                tx.new_weak(Some(head))?;
            }
            Ok(tx.root(head))
        })
        .unwrap();
    let capacity = m.transaction::<_, ()>(|tx| Ok(tx.news_capacity())).unwrap();
    (root, capacity)
}

/// Every node of the list from `root`, each checked published.
fn published_length(m: &mut Mutator, root: &Root<Node>) -> usize {
    m.transaction::<_, ()>(|tx| {
        let mut n = Some(tx.get_root(root)?);
        let mut len = 0;
        while let Some(node) = n {
            assert!(!node.header().flags().contains(ObjFlags::NEW), "node {len} was not published");
            len += 1;
            n = tx.load(node, |n| &n.next)?;
        }
        Ok(len)
    })
    .unwrap()
}

#[test]
fn a_publishing_commit_with_the_barrier_off_stamps_its_news_unlisted() {
    // NL2: nothing reads a list (no cycle: the barrier is off; no weak
    // cell), so the commit stamps the new objects from the allocator's
    // record and the news log never grows.
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let len = 2 * super::LOG_TRIM_ABOVE;
    let (root, capacity) = publish_list(&mut m, len, false);
    assert_eq!(capacity, 0, "NL2: the commit listed its new objects");
    assert_eq!(published_length(&mut m, &root), len);
    assert_eq!(m.tx_counts().allocations, len as u64, "counted from the allocator");
    drop(root);
    m.collect().unwrap(); // the verifier checks the heap it leaves
}

#[test]
fn a_log_one_large_commit_grew_is_given_back() {
    // LG1: a weak cell makes the commit list its new objects (NL2); the
    // list's buffer is trimmed when the commit ends.
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let len = 2 * super::LOG_TRIM_ABOVE;
    let (root, capacity) = publish_list(&mut m, len, true);
    assert!(capacity <= super::LOG_KEEP, "LG1: the news log kept {capacity} entries");
    assert_eq!(published_length(&mut m, &root), len);
    drop(root);
    m.collect().unwrap();
}

#[test]
fn a_write_log_one_large_solo_commit_grew_is_given_back() {
    // LG1 on the common solo commit's path: a transaction that writes
    // every node of a published list logs a write per node; its commit
    // trims the write log.
    let heap = heap();
    let mut m = heap.attach().unwrap();
    let len = 2 * super::LOG_TRIM_ABOVE;
    let (root, _) = publish_list(&mut m, len, false);
    m.transaction::<_, ()>(|tx| {
        let mut n = Some(tx.get_root(&root)?);
        while let Some(node) = n {
            let next = tx.load(node, |n| &n.next)?;
            tx.store(node, |n| &n.next, next)?;
            n = next;
        }
        assert!(tx.writes_capacity() >= len, "a write logged per node");
        Ok(())
    })
    .unwrap();
    let capacity = m.transaction::<_, ()>(|tx| Ok(tx.writes_capacity())).unwrap();
    assert!(capacity <= super::LOG_KEEP, "LG1: the write log kept {capacity} entries");
    assert_eq!(published_length(&mut m, &root), len);
}
