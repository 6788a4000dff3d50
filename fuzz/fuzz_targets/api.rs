//! Fuzz target `api`: bytes decoded into a sequence of tmgc API operations
//! on one mutator while the background collector runs cycles (with the
//! heap verifier on), each checked against a plain model: allocate,
//! write, link, unlink, read back, drop roots, global roots, transactions
//! that abort on purpose or panic part-way, collections, a `TVec` pushed
//! and popped, weak cells, and cleanups counted at the end (each runs
//! once, for exactly the objects that became unreachable).
//!
//! Run: `cargo +nightly fuzz run api` from this directory (docs/TESTING.md).
#![no_main]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    heap: &'a Heap,
    m: &'a mut Mutator,
    /// Every cell ever committed: its value and link (the model), and its
    /// handle while it has one.
    cells: Vec<(i64, Option<usize>, Option<Handle>)>,
    vec: GlobalRoot<tmgc::Dyn>,
    vec_model: Vec<i64>,
    weak: Option<(usize, Root<Weak<Cell>>)>,
    cleanups_registered: usize,
    cleanups_run: Arc<AtomicUsize>,
}

fn get<'tx, E>(tx: &mut tmgc::Tx<'tx>, h: &Handle) -> Result<tmgc::Gc<'tx, Cell>, Abort<E>> {
    Ok(match h {
        Handle::Local(r) => tx.get_root(r)?,
        Handle::Global(g) => tx.get_global(g)?,
    })
}

impl<'a> State<'a> {
    fn new(heap: &'a Heap, m: &'a mut Mutator) -> State<'a> {
        let vec = m
            .atomically(|tx| {
                let v = TVec::new(tx, 2)?;
                Ok(tx.global_root(v.as_gc()))
            })
            .unwrap();
        State {
            heap,
            m,
            cells: Vec::new(),
            vec,
            vec_model: Vec::new(),
            weak: None,
            cleanups_registered: 0,
            cleanups_run: Arc::new(AtomicUsize::new(0)),
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
        match op % 12 {
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
                if let Some(i) = self.pick(arg[0]) {
                    let h = self.cells[i].2.as_ref().unwrap();
                    self.m
                        .atomically(|tx| {
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

fn run(heap: &Heap, m: &mut Mutator, data: &[u8]) {
    let mut s = State::new(heap, m);
    for chunk in data.chunks_exact(4).take(256) {
        s.step(chunk[0], [chunk[1], chunk[2], chunk[3]]);
        if chunk[0] % 16 == 15 {
            s.check();
        }
    }
    s.check();
    // Every cleanup runs once, after its object died (two cycles suffice:
    // nothing refers to those objects).
    for _ in 0..if s.cleanups_registered > 0 { 2 } else { 0 } {
        s.m.collect().unwrap();
        s.m.run_finalizers();
    }
    assert_eq!(s.cleanups_run.load(Ordering::SeqCst), s.cleanups_registered, "each cleanup ran once");
    assert!(s.heap.stats().verify_failures.is_empty());
}
