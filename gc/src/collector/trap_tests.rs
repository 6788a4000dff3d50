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
                let h = tx.global(&g)?;
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
            let h = tx.global(&g)?;
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
