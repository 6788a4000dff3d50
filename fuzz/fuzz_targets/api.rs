//! Fuzz target `api`: bytes decoded into sequences of tmgc API operations
//! on 1 to 3 mutator threads while the background collector runs cycles
//! (with the heap verifier on), each checked against a plain model:
//! allocate, write (some in inevitable transactions), link, unlink, read
//! back, drop roots, global roots, transactions that abort on purpose or
//! panic part-way, collections, a `TVec` pushed and popped, weak cells,
//! cleanups counted at the end (each runs once, for exactly the objects
//! that became unreachable), and a counter that every thread increments.
//!
//! The first byte gives the thread count; then each 4-byte chunk is one
//! operation, its first byte's high nibble naming the thread. Each thread
//! has a model of its own objects (so a check holds however the threads
//! interleave) and runs its operations in order as they arrive: the
//! threads run concurrently, so an input explores one interleaving of
//! many. The shared counter's final value is the sum of every thread's
//! increments, whatever the interleaving.
//!
//! Run: `cargo +nightly fuzz run api` from this directory (docs/TESTING.md).
#![no_main]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use libfuzzer_sys::fuzz_target;
use tmgc::{Abort, Config, GlobalRoot, Heap, Mutator, Ref, Root, TVec, Tagged, Trace, Value, Weak};

#[derive(Trace)]
struct Cell {
    value: Value<i64>,
    next: Ref<Cell>,
}

/// How a cell is held: a thread root or a global root (or, once dropped,
/// only through links).
enum Handle {
    Local(Root<Cell>),
    Global(GlobalRoot<Cell>),
}

struct State<'a> {
    m: &'a mut Mutator,
    /// Every cell ever committed: its value and link (the model), and its
    /// handle while it has one.
    cells: Vec<(i64, Option<usize>, Option<Handle>)>,
    vec: GlobalRoot<tmgc::Dyn>,
    vec_model: Vec<i64>,
    weak: Option<(usize, Root<Weak<Cell>>)>,
    cleanups_registered: usize,
    cleanups_run: Arc<AtomicUsize>,
    /// The cell every thread increments, and this thread's increments.
    counter: GlobalRoot<Cell>,
    increments: i64,
}

fn get<'tx, E>(tx: &mut tmgc::Tx<'tx>, h: &Handle) -> Result<tmgc::Gc<'tx, Cell>, Abort<E>> {
    Ok(match h {
        Handle::Local(r) => tx.get_root(r)?,
        Handle::Global(g) => tx.get_global(g)?,
    })
}

impl<'a> State<'a> {
    fn new(m: &'a mut Mutator, counter: GlobalRoot<Cell>) -> State<'a> {
        let vec = m
            .atomically(|tx| {
                let v = TVec::new(tx, 2)?;
                Ok(tx.global_root(v.as_gc()))
            })
            .unwrap();
        State {
            m,
            cells: Vec::new(),
            vec,
            vec_model: Vec::new(),
            weak: None,
            cleanups_registered: 0,
            cleanups_run: Arc::new(AtomicUsize::new(0)),
            counter,
            increments: 0,
        }
    }

    /// A handled cell, chosen by `k`.
    fn pick(&self, k: u8) -> Option<usize> {
        let held: Vec<usize> = (0..self.cells.len()).filter(|&i| self.cells[i].2.is_some()).collect();
        (!held.is_empty()).then(|| held[k as usize % held.len()])
    }

    /// Every handled cell, its value and its link's value, against the model.
    fn check(&mut self) {
        let expect: Vec<(usize, i64, Option<i64>)> = (0..self.cells.len())
            .filter(|&i| self.cells[i].2.is_some())
            .map(|i| (i, self.cells[i].0, self.cells[i].1.map(|j| self.cells[j].0)))
            .collect();
        let cells = &self.cells;
        let got = self
            .m
            .transaction::<_, ()>(|tx| {
                let mut out = Vec::new();
                for &(i, _, _) in &expect {
                    let c = get(tx, cells[i].2.as_ref().unwrap())?;
                    let v = tx.get(c, |c| &c.value)?;
                    let n = match tx.load(c, |c| &c.next)? {
                        Some(n) => Some(tx.get(n, |n| &n.value)?),
                        None => None,
                    };
                    out.push((i, v, n));
                }
                Ok(out)
            })
            .unwrap();
        assert_eq!(got, expect, "the heap differs from the model");
        let vec_model = &self.vec_model;
        let vec = &self.vec;
        let v = self
            .m
            .atomically(|tx| {
                let t = TVec::from_gc(tx.get_global(vec)?).unwrap();
                let mut out = Vec::new();
                for i in 0..t.len(tx)? {
                    match t.get(tx, i)? {
                        Some(Tagged::Int(n)) => out.push(n.get()),
                        other => panic!("vector element {i}: {other:?}"),
                    }
                }
                Ok(out)
            })
            .unwrap();
        assert_eq!(&v, vec_model, "the vector differs from the model");
        if let Some((i, w)) = &self.weak {
            let held = self.cells[*i].2.is_some();
            let up = self.m.atomically(|tx| {
                let w = tx.get_root(w)?;
                Ok(tx.upgrade(w)?.map(|c| c.as_ptr()))
            });
            if held {
                assert!(up.unwrap().is_some(), "a weak cell to a rooted cell was cleared");
            }
        }
    }

    /// One operation decoded from `op` and `arg`.
    fn step(&mut self, op: u8, arg: [u8; 3]) {
        let v = i64::from(i16::from_le_bytes([arg[1], arg[2]]));
        match op % 13 {
            0 | 1 => {
                let global = arg[0] % 3 == 0;
                let h = self
                    .m
                    .atomically(|tx| {
                        let c = tx.alloc(Cell { value: Value::new(v), next: Ref::null() })?;
                        Ok(if global { Handle::Global(tx.global_root(c)) } else { Handle::Local(tx.root(c)) })
                    })
                    .unwrap();
                self.cells.push((v, None, Some(h)));
            }
            2 => {
                // A write, in an inevitable transaction when the top bit
                // of the choice byte is set.
                let inevitable = arg[0] & 0x80 != 0;
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    self.m
                        .atomically(|tx| {
                            if inevitable {
                                tx.become_inevitable()?;
                            }
                            let c = get(tx, h)?;
                            Ok(tx.set(c, |c| &c.value, v)?)
                        })
                        .unwrap();
                    self.cells[i].0 = v;
                }
            }
            3 => {
                if let (Some(i), Some(j)) = (self.pick(arg[0]), self.pick(arg[1])) {
                    let (hi, hj) = (self.cells[i].2.as_ref().unwrap(), self.cells[j].2.as_ref().unwrap());
                    self.m
                        .atomically(|tx| {
                            let (a, b) = (get(tx, hi)?, get(tx, hj)?);
                            Ok(tx.store(a, |a| &a.next, Some(b))?)
                        })
                        .unwrap();
                    self.cells[i].1 = Some(j);
                }
            }
            4 => {
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    self.m
                        .atomically(|tx| {
                            let a = get(tx, h)?;
                            Ok(tx.store(a, |a| &a.next, None)?)
                        })
                        .unwrap();
                    self.cells[i].1 = None;
                }
            }
            5 => {
                if let Some(i) = self.pick(arg[0]) {
                    self.cells[i].2 = None; // the root is dropped
                    self.m.commit_point();
                }
            }
            6 => {
                // Writes, then a user abort: nothing may change.
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    let r = self.m.transaction::<(), &str>(|tx| {
                        let c = get(tx, h)?;
                        tx.set(c, |c| &c.value, v.wrapping_add(1))?;
                        tx.alloc(Cell { value: Value::new(v), next: Ref::null() })?;
                        Err(Abort::User("on purpose"))
                    });
                    assert!(r.is_err());
                }
            }
            7 => {
                // Writes, then a panic: nothing may change.
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    let m = &mut self.m;
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        m.atomically::<()>(|tx| {
                            let c = get(tx, h)?;
                            tx.set(c, |c| &c.value, v.wrapping_add(2))?;
                            panic!("on purpose");
                        })
                    }));
                    assert!(r.is_err());
                }
            }
            8 => {
                self.m.collect().expect("a cycle (the verifier passes)");
                self.m.run_finalizers();
            }
            9 => {
                let push = arg[0] % 3 != 0 || self.vec_model.is_empty();
                let vec = &self.vec;
                let got = self
                    .m
                    .atomically(|tx| {
                        let t = TVec::from_gc(tx.get_global(vec)?).unwrap();
                        if push {
                            t.push(tx, Tagged::int(v).unwrap())?;
                            Ok(None)
                        } else {
                            Ok(t.pop(tx)?.map(|x| match x {
                                Tagged::Int(n) => n.get(),
                                other => panic!("{other:?}"),
                            }))
                        }
                    })
                    .unwrap();
                if push {
                    self.vec_model.push(v);
                } else {
                    assert_eq!(got, self.vec_model.pop(), "the popped value");
                }
            }
            10 => {
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    let w = self
                        .m
                        .atomically(|tx| {
                            let c = get(tx, h)?;
                            let w = tx.new_weak(Some(c))?;
                            Ok(tx.root(w))
                        })
                        .unwrap();
                    self.weak = Some((i, w));
                }
            }
            12 => {
                // The shared counter: other threads' commits interleave.
                let counter = &self.counter;
                self.m
                    .atomically(|tx| {
                        let c = tx.get_global(counter)?;
                        let n = tx.get(c, |c| &c.value)?;
                        Ok(tx.set(c, |c| &c.value, n + 1)?)
                    })
                    .unwrap();
                self.increments += 1;
            }
            _ => {
                // An unreachable object with a cleanup.
                let run = Arc::clone(&self.cleanups_run);
                self.m
                    .atomically(|tx| {
                        let c = tx.alloc(Cell { value: Value::new(v), next: Ref::null() })?;
                        let run = Arc::clone(&run);
                        tx.add_cleanup(c, move || {
                            run.fetch_add(1, Ordering::SeqCst);
                        });
                        Ok(())
                    })
                    .unwrap();
                self.cleanups_registered += 1;
            }
        }
    }
}

thread_local! {
    /// One heap and mutator for every input (creating a heap per input
    /// capped the rate at about 200 inputs a second): each input starts
    /// with a fresh model, and the objects of earlier inputs are garbage.
    static HEAP: (Heap, std::cell::RefCell<Mutator>) = {
        let heap = Heap::new(Config::default().verify(true).min_trigger_bytes(64 << 10)).unwrap();
        let m = heap.attach().unwrap();
        // libFuzzer's panic hook aborts on every panic; the target's own
        // (a transaction panicking on purpose, caught) must not.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"on purpose") {
                hook(info);
            }
        }));
        (heap, std::cell::RefCell::new(m))
    };
}

fuzz_target!(|data: &[u8]| HEAP.with(|(heap, m)| run(heap, &mut m.borrow_mut(), data)));

/// One operation of a thread, then a check after every 16th kind.
fn apply(s: &mut State<'_>, op: u8, arg: [u8; 3]) {
    s.step(op, arg);
    if op == 15 {
        s.check();
    }
}

/// What a thread's model owes at the end: (cleanups registered, cleanups
/// run, counter increments).
type Owed = (usize, Arc<AtomicUsize>, i64);

fn finish(mut s: State<'_>) -> Owed {
    s.check();
    (s.cleanups_registered, s.cleanups_run, s.increments)
}

fn run(heap: &Heap, m: &mut Mutator, data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let threads = 1 + usize::from(first % 3);
    let counter = m
        .atomically(|tx| {
            let c = tx.alloc(Cell { value: Value::new(0), next: Ref::null() })?;
            Ok(tx.global_root(c))
        })
        .unwrap();
    let mut owed: Vec<Owed> = std::thread::scope(|sc| {
        let mut senders = Vec::new();
        let mut helpers = Vec::new();
        for _ in 1..threads {
            let (send, recv) = mpsc::channel::<(u8, [u8; 3])>();
            let (heap, counter) = (heap.clone(), counter.clone());
            helpers.push(sc.spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut s = State::new(&mut m, counter);
                for (op, arg) in recv {
                    apply(&mut s, op, arg);
                }
                finish(s)
            }));
            senders.push(send);
        }
        let mut s = State::new(m, counter.clone());
        for chunk in rest.chunks_exact(4).take(256) {
            let (t, op, arg) = (usize::from(chunk[0] >> 4) % threads, chunk[0] & 15, [chunk[1], chunk[2], chunk[3]]);
            if t == 0 {
                apply(&mut s, op, arg);
            } else {
                senders[t - 1].send((op, arg)).unwrap();
            }
        }
        drop(senders);
        let mut owed = vec![finish(s)];
        // A helper's failed check is a panic: it reaches libFuzzer here.
        owed.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        owed
    });
    // Every thread's increments are in the counter.
    let total: i64 = owed.iter().map(|o| o.2).sum();
    let got = m
        .atomically(|tx| {
            let c = tx.get_global(&counter)?;
            Ok(tx.get(c, |c| &c.value)?)
        })
        .unwrap();
    assert_eq!(got, total, "the shared counter lost increments");
    // Every cleanup runs once, after its object died (two cycles suffice:
    // nothing refers to those objects), whichever thread runs it.
    if owed.iter().any(|o| o.0 > 0) {
        for _ in 0..2 {
            m.collect().unwrap();
            m.run_finalizers();
        }
    }
    for (registered, run, _) in owed.drain(..) {
        assert_eq!(run.load(Ordering::SeqCst), registered, "each cleanup ran once");
    }
    assert!(heap.stats().verify_failures.is_empty());
}
