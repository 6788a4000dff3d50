//! Model-based test of the transaction API: random operations (allocate,
//! write, link, read, drop roots, transactions that abort on purpose or
//! panic part-way), each compared with a plain model after every step.

use std::panic::{catch_unwind, AssertUnwindSafe};

use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use tmgc::{Abort, Config, Gc, Heap, Mutator, Ref, Root, Trace, Tx, TxError, Value};

#[derive(Trace)]
struct Cell {
    value: Value<i64>,
    next: Ref<Cell>,
}

#[derive(Clone, Debug)]
enum Step {
    New(i64),
    Set(usize, i64),
    Link(usize, usize),
    Unlink(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Commit(Vec<Step>),
    AbortUser(Vec<Step>),
    Panic(Vec<Step>),
    DropRoot(usize),
}

impl Arbitrary for Step {
    fn arbitrary(g: &mut Gen) -> Step {
        match u8::arbitrary(g) % 4 {
            0 => Step::New(i64::arbitrary(g)),
            1 => Step::Set(usize::arbitrary(g), i64::arbitrary(g)),
            2 => Step::Link(usize::arbitrary(g), usize::arbitrary(g)),
            _ => Step::Unlink(usize::arbitrary(g)),
        }
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        fn steps(g: &mut Gen) -> Vec<Step> {
            let n = usize::arbitrary(g) % 6;
            (0..n).map(|_| Step::arbitrary(g)).collect()
        }
        match u8::arbitrary(g) % 8 {
            0..=3 => Op::Commit(steps(g)),
            4 | 5 => Op::AbortUser(steps(g)),
            6 => Op::Panic(steps(g)),
            _ => Op::DropRoot(usize::arbitrary(g)),
        }
    }
}

/// The plain model: rooted cells with a value and an optional link (by index).
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    cells: Vec<(i64, Option<usize>)>,
}

impl Model {
    fn apply(&mut self, s: &Step) {
        let n = self.cells.len();
        match *s {
            Step::New(v) => self.cells.push((v, None)),
            Step::Set(i, v) if n > 0 => self.cells[i % n].0 = v,
            Step::Link(i, j) if n > 0 => self.cells[i % n].1 = Some(j % n),
            Step::Unlink(i) if n > 0 => self.cells[i % n].1 = None,
            _ => {}
        }
    }
}

fn run_steps<'tx>(tx: &mut Tx<'tx>, roots: &[Root<Cell>], steps: &[Step]) -> Result<Vec<Root<Cell>>, Abort<()>> {
    let mut cells: Vec<Gc<'tx, Cell>> = Vec::new();
    for r in roots {
        cells.push(tx.get_root(r)?);
    }
    let mut new_roots = Vec::new();
    for s in steps {
        let n = cells.len();
        match *s {
            Step::New(v) => {
                let c = tx.alloc(Cell { value: Value::new(v), next: Ref::null() })?;
                new_roots.push(tx.root(c));
                cells.push(c);
            }
            Step::Set(i, v) if n > 0 => tx.set(cells[i % n], |c| &c.value, v)?,
            Step::Link(i, j) if n > 0 => tx.store(cells[i % n], |c| &c.next, Some(cells[j % n]))?,
            Step::Unlink(i) if n > 0 => tx.store(cells[i % n], |c| &c.next, None)?,
            _ => {}
        }
    }
    Ok(new_roots)
}

fn observe(m: &mut Mutator, roots: &[Root<Cell>]) -> Model {
    m.transaction::<_, ()>(|tx| {
        let cells: Vec<Gc<'_, Cell>> = roots.iter().map(|r| tx.get_root(r)).collect::<Result<_, _>>()?;
        let mut model = Model::default();
        for &c in &cells {
            let v = tx.get(c, |c| &c.value)?;
            let next =
                tx.load(c, |c| &c.next)?.map(|n| cells.iter().position(|&x| x == n).expect("link to a rooted cell"));
            model.cells.push((v, next));
        }
        Ok(model)
    })
    .unwrap()
}

fn run(ops: Vec<Op>, solo: bool) -> TestResult {
    let heap = Heap::new(Config::default().solo(solo)).unwrap();
    let mut m = heap.attach().unwrap();
    let mut roots: Vec<Root<Cell>> = Vec::new();
    let mut model = Model::default();
    for op in ops {
        let bytes = m.allocated_bytes();
        match op {
            Op::Commit(steps) => {
                let new = m.transaction(|tx| run_steps(tx, &roots, &steps)).unwrap();
                roots.extend(new);
                steps.iter().for_each(|s| model.apply(s));
            }
            Op::AbortUser(steps) => {
                let r = m.transaction(|tx| {
                    run_steps(tx, &roots, &steps)?;
                    Err::<(), _>(Abort::User(()))
                });
                if !matches!(r, Err(TxError::Aborted(()))) {
                    return TestResult::error("a user abort did not come back as Aborted");
                }
                if m.allocated_bytes() != bytes {
                    return TestResult::error("an aborted transaction kept allocated bytes");
                }
            }
            Op::Panic(steps) => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    let _ = m.transaction::<(), ()>(|tx| {
                        run_steps(tx, &roots, &steps)?;
                        panic!("injected");
                    });
                }));
                if r.is_ok() {
                    return TestResult::error("the panic did not propagate");
                }
                if m.allocated_bytes() != bytes {
                    return TestResult::error("a panicking transaction kept allocated bytes");
                }
            }
            Op::DropRoot(i) => {
                if !roots.is_empty() {
                    let i = i % roots.len();
                    roots.remove(i);
                    model.cells.remove(i);
                    // Links into the dropped cell are not observable through
                    // roots any more: forget them in the model, unlink in the heap.
                    for c in &mut model.cells {
                        match c.1 {
                            Some(j) if j == i => c.1 = None,
                            Some(j) if j > i => c.1 = Some(j - 1),
                            _ => {}
                        }
                    }
                    let _ = m.transaction::<_, ()>(|tx| {
                        let cells: Vec<Gc<'_, Cell>> =
                            roots.iter().map(|r| tx.get_root(r)).collect::<Result<_, _>>()?;
                        for &c in &cells {
                            if let Some(n) = tx.load(c, |c| &c.next)? {
                                if !cells.contains(&n) {
                                    tx.store(c, |c| &c.next, None)?;
                                }
                            }
                        }
                        Ok(())
                    });
                }
            }
        }
        let seen = observe(&mut m, &roots);
        if seen != model {
            return TestResult::error(format!("heap {seen:?} != model {model:?}"));
        }
        if m.root_count() != roots.len() {
            return TestResult::error("root count differs");
        }
    }
    TestResult::passed()
}

/// A lone mutator runs solo (no concurrency control); the same operations
/// must also match the model under TL2's (solo mode off).
fn check(solo: bool) {
    // Injected panics print their message; keep the output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("injected") {
            eprintln!("{info}");
        }
    }));
    let prop: fn(Vec<Op>) -> TestResult = if solo { |ops| run(ops, true) } else { |ops| run(ops, false) };
    QuickCheck::new().tests(200).max_tests(200).quickcheck(prop);
    std::panic::set_hook(hook);
}

#[test]
fn random_transactions_match_the_model() {
    check(true);
}

#[test]
fn random_transactions_match_the_model_without_solo_mode() {
    check(false);
}
