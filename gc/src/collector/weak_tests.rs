//! Trap 5 of docs/COLLECTOR.md: a weak read after a thread's last
//! termination flush must not resurrect a dying object.
//!
//! The first test holds a cycle after its last termination round (every
//! thread has flushed its barrier buffer for the last time), then reads a weak
//! cell whose referent X (with a child Y) is reachable only through it, and
//! stores X into a rooted object. With the gate (collector/weak_gate.rs) the
//! read shades X into the collector's grey set, the close finds it, and
//! marking traces X and Y. Without it X (or Y) is unmarked while reachable,
//! and the verifier fails the cycle.
//!
//! A second test holds the cycle after marking closed, before the weak
//! cells are cleared: a weak read there must see that its referent is dead
//! (unmarked), or it would hand out an object about to be freed.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use super::Hold;
use crate::*;

#[derive(Trace)]
struct Leaf {
    v: Value<u64>,
}

#[derive(Trace)]
struct Node {
    child: Ref<Leaf>,
}

#[derive(Trace)]
struct Holder {
    node: Ref<Node>,
}

/// A holder (rooted, its field empty) and a weak cell (rooted) to X, which
/// has a child Y holding 42; X is reachable only through the cell.
fn setup(heap: &Heap) -> (GlobalRoot<Holder>, GlobalRoot<Weak<Node>>) {
    heap.attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let y = tx.alloc(Leaf { v: Value::new(42) })?;
            let x = tx.alloc(Node { child: Ref::null() })?;
            tx.store(x, |x| &x.child, Some(y))?;
            let w = tx.new_weak(Some(x))?;
            let h = tx.alloc(Holder { node: Ref::null() })?;
            Ok((tx.global_root(h), tx.global_root(w)))
        })
        .unwrap()
}

/// The weak read of the tests: upgrade the cell and store what it gives
/// into the holder; returns whether it gave anything.
fn resurrect(
    holder: GlobalRoot<Holder>,
    weak: GlobalRoot<Weak<Node>>,
) -> impl for<'t> FnMut(&mut Tx<'t>) -> Result<bool, Abort<()>> + Send + 'static {
    move |tx| {
        let w = tx.get_global(&weak)?;
        let h = tx.get_global(&holder)?;
        let x = tx.upgrade(w)?;
        tx.store(h, |h| &h.node, x)?;
        Ok(x.is_some())
    }
}

#[test]
fn a_weak_read_after_the_last_flush_keeps_its_referent_and_children() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let (holder, weak) = setup(&heap);
    // Held after the last termination round: the thread that reads has
    // answered it (at its first commit point), so a shade into its own
    // buffer would never be flushed again in this cycle.
    let (found, cycle) = during(&heap, Hold::BeforeClose, resurrect(holder.clone(), weak.clone()));
    assert!(found.unwrap(), "the referent was unreadable before marking closed");
    let stats = cycle.expect("the verifier found X or its child unmarked: resurrected by a weak read");
    assert_eq!(stats.weak_cleared, 0, "the cell's referent was kept");
    heap.collect().unwrap();
    let v = heap
        .attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let h = tx.get_global(&holder)?;
            let x = tx.load(h, |h| &h.node)?.expect("the holder keeps X");
            let y = tx.load(x, |x| &x.child)?.expect("X keeps Y");
            let w = tx.get_global(&weak)?;
            assert!(tx.upgrade(w)?.is_some(), "X is strongly reachable now");
            Ok(tx.get(y, |y| &y.v)?)
        })
        .unwrap();
    assert_eq!(v, 42);
}

#[test]
fn a_weak_read_after_marking_closed_does_not_return_a_dead_referent() {
    // No verifier: its stop-the-world holds every thread until the SWEEP
    // request, so no transaction could run in this window.
    let heap = Heap::new(Config::default().verify(false)).unwrap();
    let (holder, weak) = setup(&heap);
    let (found, cycle) = during(&heap, Hold::BeforeWeakClearing, resurrect(holder.clone(), weak.clone()));
    assert!(!found.unwrap(), "a weak read after marking closed returned an unmarked (dead) referent");
    assert_eq!(cycle.unwrap().weak_cleared, 1, "the dead referent's cell was cleared");
    let cleared = heap
        .attach()
        .unwrap()
        .transaction::<_, ()>(|tx| {
            let w = tx.get_global(&weak)?;
            let h = tx.get_global(&holder)?;
            Ok(tx.upgrade(w)?.is_none() && tx.load(h, |h| &h.node)?.is_none())
        })
        .unwrap();
    assert!(cleared);
}

/// Hold the cycle at `point`, run `body` in a transaction of a thread
/// attached to `heap`, release the cycle, and return what `body` returned
/// and the cycle's result.
fn during<R: Send + 'static>(
    heap: &Heap,
    point: Hold,
    body: impl for<'t> FnMut(&mut Tx<'t>) -> Result<R, Abort<()>> + Send + 'static,
) -> (Result<R, TxError<()>>, Result<CycleStats, CollectError>) {
    let c = &heap.inner.collector;
    c.held.store(false, Ordering::SeqCst);
    c.hold.store(point as u8, Ordering::SeqCst);
    let cycle = {
        let heap = heap.clone();
        thread::spawn(move || heap.collect())
    };
    while !c.held.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    // The reader stays attached until the cycle is over: detaching would
    // hand its barrier buffer to the collector, and rescue a shade that
    // wrongly went there.
    let (result, got) = std::sync::mpsc::channel();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let reader = {
        let heap = heap.clone();
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            result.send(m.transaction(body)).unwrap();
            finished.recv().unwrap();
        })
    };
    let r = got.recv().unwrap();
    c.hold.store(0, Ordering::SeqCst);
    let cycle = cycle.join().unwrap();
    done.send(()).unwrap();
    reader.join().unwrap();
    (r, cycle)
}

/// A cell a transaction fills with its own new object, read back in the
/// same transaction: the object is private (unpublished), so a read while
/// marking must not shade it (a marker would scan an object the abort below
/// gives back), and a read after marking closed must return it although
/// its black mark is not yet flushed.
#[test]
fn a_weak_read_of_the_transactions_own_new_object() {
    let heap = Heap::new(Config::default().verify(false)).unwrap();
    let grey_before = heap.inner.collector.grey.handed();
    let (r, cycle) = during(&heap, Hold::BeforeClose, |tx| {
        let x = tx.alloc(Leaf { v: Value::new(1) })?;
        let w = tx.new_weak(Some(x))?;
        let got = tx.upgrade(w)?;
        assert!(got.is_some(), "the transaction's own object");
        Err::<(), _>(Abort::User(()))
    });
    assert!(matches!(r, Err(TxError::Aborted(()))), "{r:?}");
    cycle.unwrap();
    assert_eq!(heap.inner.collector.grey.handed(), grey_before, "a private new object was shaded");

    let (r, cycle) = during(&heap, Hold::BeforeWeakClearing, |tx| {
        let x = tx.alloc(Leaf { v: Value::new(2) })?;
        let w = tx.new_weak(Some(x))?;
        Ok(tx.upgrade(w)?.is_some())
    });
    cycle.unwrap();
    assert!(r.unwrap(), "a weak read after the close lost the transaction's own new object");
}
