//! Collector traps that need a view of the request word (crate-internal):
//! the test holds a cycle in a chosen phase by keeping one thread inside a
//! transaction, and acts while the cycle waits there.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::collector::handshake::word;
use crate::*;

#[derive(Trace)]
struct Leaf {
    v: Value<u64>,
}

#[derive(Trace)]
struct Holder {
    x: Ref<Leaf>,
}

thread_local! {
    /// A test's hook, run by this thread's commits between the commit
    /// barrier and the write-back (`Tx::publish`).
    static BEFORE_WRITE_BACK: std::cell::RefCell<Option<Box<dyn FnMut()>>> = const { std::cell::RefCell::new(None) };
}

/// Run this thread's hook, if a test set one.
pub(crate) fn before_write_back() {
    BEFORE_WRITE_BACK.with(|h| {
        if let Some(f) = h.borrow_mut().as_mut() {
            f();
        }
    });
}

fn phase(heap: &Heap) -> u64 {
    word::phase(heap.inner.collector.word.load(std::sync::atomic::Ordering::SeqCst))
}

/// Trap 1 of docs/COLLECTOR.md: nothing is black before T.
///
/// Thread B is inside a transaction when the cycle requests handshake 1, so
/// the cycle waits in REQ. Meanwhile thread A (answered, barrier on) copies
/// the only heap reference to X into a new object N that it roots; then B
/// deletes the original without a barrier (it has not answered yet). If A
/// had allocated N black, shading N at commit would push nothing, X would
/// be reached only through a black object and never traced, and the
/// verifier would find it unmarked. Allocated white, N is shaded and traced.
#[test]
fn nothing_is_black_before_t() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut a = heap.attach().unwrap();
    let g = a
        .transaction::<_, ()>(|tx| {
            let x = tx.alloc(Leaf { v: Value::new(42) })?;
            let h = tx.alloc(Holder { x: Ref::null() })?;
            tx.store(h, |h| &h.x, Some(x))?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    let (in_tx, b_in_tx) = mpsc::channel();
    let (go, b_go) = mpsc::channel::<()>();
    let b = {
        let (heap, g) = (heap.clone(), g.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let mut first = true;
            m.transaction::<_, ()>(|tx| {
                let h = tx.get_global(&g)?;
                if first {
                    first = false;
                    in_tx.send(()).unwrap();
                    b_go.recv().unwrap();
                }
                tx.store(h, |h| &h.x, None)?;
                Ok(())
            })
            .unwrap();
        })
    };
    b_in_tx.recv().unwrap();
    let cycle = {
        let heap = heap.clone();
        thread::spawn(move || heap.collect())
    };
    // The cycle asks for handshake 1 and waits for B.
    while phase(&heap) != word::REQ {
        thread::sleep(Duration::from_millis(1));
    }
    // A answers (or is answered for: it is parked) and copies the reference.
    a.commit_point();
    let n = a
        .transaction::<_, ()>(|tx| {
            let h = tx.get_global(&g)?;
            let x = tx.load(h, |h| &h.x)?;
            let n = tx.alloc(Holder { x: Ref::null() })?;
            tx.store(n, |n| &n.x, x)?;
            Ok(tx.root(n))
        })
        .unwrap();
    assert_eq!(phase(&heap), word::REQ, "B holds the cycle in handshake 1");
    go.send(()).unwrap();
    b.join().unwrap();
    cycle.join().unwrap().expect("the verifier found X unmarked: it was reachable only through a black object");
    let v = a
        .transaction::<_, ()>(|tx| {
            let n = tx.get_root(&n)?;
            let x = tx.load(n, |n| &n.x)?.expect("N still refers to X");
            Ok(tx.get(x, |x| &x.v)?)
        })
        .unwrap();
    assert_eq!(v, 42);
}

/// T2 of the generations review (generational mode): between a thread's
/// REQ answer and T, an old holder receives the only reference to a young
/// object whose other path a thread still in mode R deletes without a
/// barrier. B holds the young cycle in REQ from inside a transaction; A
/// (answered, barrier on) moves young W from young Y into old X; then B
/// deletes Y's reference. X is old (not traced) and A, in mode S, logged
/// nothing: only A's shade of W (a young value stored into a marked
/// holder) keeps W.
#[test]
fn a_young_object_stored_into_an_old_one_before_t_is_shaded() {
    let heap =
        Heap::new(Config::default().verify(true).generational(true).min_trigger_bytes(1 << 40).nursery_bytes(1 << 40))
            .unwrap();
    let mut a = heap.attach().unwrap();
    let x = a
        .transaction::<_, ()>(|tx| {
            let x = tx.alloc(Holder { x: Ref::null() })?;
            Ok(tx.global_root(x))
        })
        .unwrap();
    assert!(heap.collect().unwrap().full); // X is old
    let y = a
        .transaction::<_, ()>(|tx| {
            let w = tx.alloc(Leaf { v: Value::new(42) })?;
            let y = tx.alloc(Holder { x: Ref::null() })?;
            tx.store(y, |y| &y.x, Some(w))?;
            Ok(tx.global_root(y))
        })
        .unwrap();
    let (in_tx, b_in_tx) = mpsc::channel();
    let (go, b_go) = mpsc::channel::<()>();
    let b = {
        let (heap, y) = (heap.clone(), y.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let mut first = true;
            m.transaction::<_, ()>(|tx| {
                let y = tx.get_global(&y)?;
                if first {
                    first = false;
                    in_tx.send(()).unwrap();
                    b_go.recv().unwrap();
                }
                tx.store(y, |y| &y.x, None)?; // mode R: no barrier
                Ok(())
            })
            .unwrap();
        })
    };
    b_in_tx.recv().unwrap();
    let cycle = {
        let heap = heap.clone();
        thread::spawn(move || heap.collect_young())
    };
    while phase(&heap) != word::REQ {
        thread::sleep(Duration::from_millis(1));
    }
    a.commit_point(); // A answers REQ: mode S
    a.transaction::<_, ()>(|tx| {
        let (xo, yo) = (tx.get_global(&x)?, tx.get_global(&y)?);
        let w = tx.load(yo, |y| &y.x)?;
        tx.store(xo, |x| &x.x, w)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(phase(&heap), word::REQ, "B holds the cycle in handshake 1");
    go.send(()).unwrap();
    b.join().unwrap();
    let c = cycle.join().unwrap().expect("the verifier found W unmarked: reachable only through old X");
    assert!(!c.full);
    let v = a
        .transaction::<_, ()>(|tx| {
            let xo = tx.get_global(&x)?;
            let w = tx.load(xo, |x| &x.x)?.expect("X refers to W");
            Ok(tx.get(w, |w| &w.v)?)
        })
        .unwrap();
    assert_eq!(v, 42);
}

#[derive(Trace)]
struct Slot {
    s: Ref<Holder>,
}

/// T3 and T4 of the generations review (generational mode): after a young
/// cycle's marking closed, a thread whose barrier is still on (it has not
/// answered SWEEP) commits while another, past its SWEEP answer, has
/// published young objects. Thread A (past SWEEP) publishes W (white) with
/// W.x = C written in place into old X. Then B (barrier on, marking its
/// survivors, inside a transaction begun after marking closed) either
/// moves W out of X into young Z (T3: barrier (a) would mark W, a late
/// mark nobody traces) or wraps W in a new object N it publishes into Z
/// (T4: N is a survivor, marked, its field was written in place). At the
/// next young cycle W (T3) or N (T4) is old: if it was never traced, C
/// (T3) or W (T4) is unmarked while reachable. With `Collector::closed`,
/// B marks nothing but its survivors and logs those that hold an unmarked
/// object (RS6).
///
/// The verifier is off: its stop would wait for B, which waits inside its
/// transaction. A weak cell to C tells whether C was freed (and debug
/// builds poison freed memory).
fn after_close(what: AfterClose) {
    use super::Hold;
    let heap =
        Heap::new(Config::default().verify(false).generational(true).min_trigger_bytes(1 << 40).nursery_bytes(1 << 40))
            .unwrap();
    let mut a = heap.attach().unwrap();
    let x = a
        .transaction::<_, ()>(|tx| {
            let x = tx.alloc(Slot { s: Ref::null() })?;
            Ok(tx.global_root(x))
        })
        .unwrap();
    assert!(heap.collect().unwrap().full); // X is old
    let z = a
        .transaction::<_, ()>(|tx| {
            let z = tx.alloc(Slot { s: Ref::null() })?;
            Ok(tx.global_root(z))
        })
        .unwrap(); // Z is young
    let (start, b_start) = mpsc::channel::<()>();
    let (in_tx, b_in_tx) = mpsc::channel();
    let (go, b_go) = mpsc::channel::<()>();
    let b = {
        let (heap, x, z) = (heap.clone(), x.clone(), z.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            b_start.recv().unwrap();
            let mut first = true;
            m.transaction::<_, ()>(|tx| {
                if first {
                    first = false;
                    in_tx.send(()).unwrap();
                    b_go.recv().unwrap();
                }
                let (xo, zo) = (tx.get_global(&x)?, tx.get_global(&z)?);
                let w = tx.load(xo, |x| &x.s)?.expect("A published W into X");
                if what == AfterClose::Root {
                    // Read-only: it roots W and writes nothing. Barrier (b)
                    // would mark W late, in the read-only commit's branch.
                    let r = tx.root(w);
                    drop(r);
                    return Ok(None);
                }
                let kept = if what == AfterClose::Wrap {
                    // N is a survivor, marked at commit (this transaction
                    // began after MARK), and N.s = W is written in place,
                    // unlogged.
                    let n = tx.alloc(Slot { s: Ref::null() })?;
                    tx.store(n, |n| &n.s, Some(w))?;
                    Some(tx.global_root(n))
                } else {
                    tx.store(zo, |z| &z.s, Some(w))?;
                    None
                };
                tx.store(xo, |x| &x.s, None)?; // barrier (a) would mark W
                Ok(kept)
            })
            .unwrap()
        })
    };
    let c = &heap.inner.collector;
    c.held.store(false, std::sync::atomic::Ordering::SeqCst);
    c.hold.store(Hold::BeforeWeakClearing as u8, std::sync::atomic::Ordering::SeqCst);
    let cycle = {
        let heap = heap.clone();
        thread::spawn(move || heap.collect_young())
    };
    while !c.held.load(std::sync::atomic::Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    // Marking is closed: B begins its transaction now (barrier on)
    // and waits inside it, so the SWEEP handshake waits for B.
    start.send(()).unwrap();
    b_in_tx.recv().unwrap();
    c.hold.store(0, std::sync::atomic::Ordering::SeqCst);
    while phase(&heap) != word::SWEEP {
        thread::sleep(Duration::from_millis(1));
    }
    a.commit_point(); // A answers SWEEP: barrier off, white
    let c_cell = a
        .transaction::<_, ()>(|tx| {
            let xo = tx.get_global(&x)?;
            let w = tx.alloc(Holder { x: Ref::null() })?;
            let c = tx.alloc(Leaf { v: Value::new(42) })?;
            tx.store(w, |w| &w.x, Some(c))?; // in place: W is new
            tx.store(xo, |x| &x.s, Some(w))?; // old X -> young W: logged
            let cell = tx.new_weak(Some(c))?;
            Ok(tx.root(cell))
        })
        .unwrap();
    go.send(()).unwrap();
    let kept = b.join().unwrap();
    let first = cycle.join().unwrap().expect("the young cycle");
    assert!(!first.full);
    heap.collect_young().unwrap();
    let c_alive = a
        .transaction::<_, ()>(|tx| {
            let cell = tx.get_root(&c_cell)?;
            Ok(tx.upgrade(cell)?.is_some())
        })
        .unwrap();
    assert!(c_alive, "C, reachable through W, was freed: an old object was never traced");
    let v = a
        .transaction::<_, ()>(|tx| {
            let holder = match (&kept, what) {
                (Some(n), _) => tx.get_global(n)?,
                (None, AfterClose::Root) => tx.get_global(&x)?,
                (None, _) => tx.get_global(&z)?,
            };
            let w = tx.load(holder, |h| &h.s)?.expect("it holds W");
            let c = tx.load(w, |w| &w.x)?.expect("W holds C");
            Ok(tx.get(c, |c| &c.v)?)
        })
        .unwrap();
    assert_eq!(v, 42);
}

/// What B does after marking closed (see `after_close`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterClose {
    /// Moves W from old X into young Z (T3: barrier (a)).
    Move,
    /// Wraps W in a new object, a survivor (T4: RS6).
    Wrap,
    /// Roots W in a read-only transaction (T3 through barrier (b) of the
    /// read-only branch; found by review).
    Root,
}

#[test]
fn a_commit_after_close_marks_nothing() {
    after_close(AfterClose::Move);
}

#[test]
fn survivors_published_after_close_are_logged() {
    after_close(AfterClose::Wrap);
}

#[test]
fn a_read_only_commit_after_close_marks_nothing() {
    after_close(AfterClose::Root);
}

/// The insertion half of the commit barrier for transactions that began
/// before their thread observed MARK ((e) of `commit_barrier`; found by
/// review). A (answered REQ, allocating white) reads Z from Y and stores
/// it into O; its commit validates and runs its barrier before T, then
/// waits before writing back. Meanwhile B, inside a transaction begun
/// before REQ (so its barrier is off), deletes Y's reference, and
/// detaches. T passes; the marker traces O (a global root) with its old,
/// null field, and the cycle asks for a termination round. Then A writes
/// back O.x = Z. Z was reachable at T only through A's pending write: A's
/// commit must have shaded it.
fn validated_before_t_written_after(generational: bool) {
    let heap = Heap::new(
        // Solo mode off: A's attach would otherwise wait for B's
        // transaction to end (revoking B's grant), and B waits for A.
        Config::default()
            .verify(true)
            .solo(false)
            .generational(generational)
            .min_trigger_bytes(1 << 40)
            .nursery_bytes(1 << 40),
    )
    .unwrap();
    let (o, y) = {
        let mut m = heap.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            let o = tx.alloc(Holder { x: Ref::null() })?;
            let z = tx.alloc(Leaf { v: Value::new(42) })?;
            let y = tx.alloc(Holder { x: Ref::null() })?;
            tx.store(y, |y| &y.x, Some(z))?;
            Ok((tx.global_root(o), tx.global_root(y)))
        })
        .unwrap()
    };
    // B: inside a transaction from before REQ until told to delete.
    let (b_in, b_in_rx) = mpsc::channel();
    let (b_go, b_go_rx) = mpsc::channel::<()>();
    let b = {
        let (heap, y) = (heap.clone(), y.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let mut first = true;
            m.transaction::<_, ()>(|tx| {
                let yo = tx.get_global(&y)?;
                if first {
                    first = false;
                    b_in.send(()).unwrap();
                    b_go_rx.recv().unwrap();
                }
                tx.store(yo, |y| &y.x, None)?; // barrier off: no shade
                Ok(())
            })
            .unwrap();
        })
    };
    b_in_rx.recv().unwrap();
    let cycle = {
        let heap = heap.clone();
        thread::spawn(move || if generational { heap.collect_young() } else { heap.collect() })
    };
    while phase(&heap) != word::REQ {
        thread::sleep(Duration::from_millis(1));
    }
    // A: answers REQ (it attaches now), and holds its commit before the
    // write-back.
    let (a_paused, a_paused_rx) = mpsc::channel();
    let (a_go, a_go_rx) = mpsc::channel::<()>();
    let a = {
        let (heap, o, y) = (heap.clone(), o.clone(), y.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            let mut hook = Some((a_paused, a_go_rx));
            BEFORE_WRITE_BACK.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    if let Some((paused, go)) = hook.take() {
                        paused.send(()).unwrap();
                        go.recv().unwrap();
                    }
                }))
            });
            m.transaction::<_, ()>(|tx| {
                let (oo, yo) = (tx.get_global(&o)?, tx.get_global(&y)?);
                let z = tx.load(yo, |y| &y.x)?;
                assert!(z.is_some(), "B deletes only after A's commit validated");
                tx.store(oo, |o| &o.x, z)?;
                Ok(())
            })
            .unwrap();
            BEFORE_WRITE_BACK.with(|h| *h.borrow_mut() = None);
        })
    };
    a_paused_rx.recv().unwrap(); // A validated, ran its barrier, has not written back
    b_go.send(()).unwrap();
    b.join().unwrap(); // B deleted Y.x unbarriered and detached
                       // T, marking (O traced with its null field), then a termination round,
                       // which waits for A.
    while phase(&heap) != word::FLUSH {
        thread::sleep(Duration::from_millis(1));
    }
    a_go.send(()).unwrap();
    a.join().unwrap();
    cycle.join().unwrap().expect("the verifier found Z unmarked: stored by a commit that validated before T");
    let mut m = heap.attach().unwrap();
    let v = m
        .transaction::<_, ()>(|tx| {
            let oo = tx.get_global(&o)?;
            let z = tx.load(oo, |o| &o.x)?.expect("O refers to Z");
            Ok(tx.get(z, |z| &z.v)?)
        })
        .unwrap();
    assert_eq!(v, 42);
}

#[test]
fn a_commit_validated_before_t_and_written_after_it_loses_nothing() {
    validated_before_t_written_after(false);
}

#[test]
fn a_commit_validated_before_t_and_written_after_it_loses_nothing_generational() {
    validated_before_t_written_after(true);
}
