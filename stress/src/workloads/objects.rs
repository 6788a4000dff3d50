//! An interpreter's object heap under churn: two `TVec`s of tagged values
//! per thread (small integers, strings as byte arrays, vectors as tagged
//! arrays, now and then a large vector of 20,000 elements, traced in
//! chunks), with pushes, pops, element replacements, in-place string
//! edits, vector growth, and transfers of a value from one vector to the
//! other (its only reference moves between arrays: the array barrier's
//! case). Half the vectors are made with their elements (`alloc_with`),
//! half allocated and then written. A model of the contents is kept outside the heap and updated
//! only when a transaction commits; every read checks an element against
//! it, and each slice ends with a check of the whole.

use tmgc::{Dyn, DynInit, DynType, DynTypeSpec, Elems, Gc, TVec, Tagged, Tx};

use super::until_committed;
use crate::ctx::{ensure, Ctx, Failure, Stop};
use tmgc::Abort;

/// Elements the vector holds at most (past it, pops win).
const CAP: usize = 600;
/// A large vector's length: five marking chunks.
const LARGE: usize = 20_000;

/// What an element of the vector is, outside the heap.
#[derive(Clone, Debug, PartialEq)]
enum Model {
    Int(i64),
    /// A string: its bytes.
    Str(Vec<u8>),
    /// A vector of `len` tagged elements: element `i` is
    /// `Int(seed + i)`, except every 97th, a string of its index.
    Vec {
        len: usize,
        seed: i64,
    },
}

fn types() -> (DynType, DynType) {
    static T: std::sync::OnceLock<(DynType, DynType)> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        (
            DynType::register(DynTypeSpec::new("stress::String").array(Elems::Bytes)).unwrap(),
            DynType::register(DynTypeSpec::new("stress::Vector").array(Elems::Tagged)).unwrap(),
        )
    })
}

fn string_of(rng: &mut crate::ctx::Rng) -> Vec<u8> {
    let n = rng.below(40) as usize;
    (0..n).map(|_| b'a' + rng.below(26) as u8).collect()
}

/// Build the heap value of `m`.
fn build<'t>(tx: &mut Tx<'t>, m: &Model) -> Result<Tagged<'t>, Abort<Stop>> {
    let (string, vector) = types();
    Ok(match m {
        Model::Int(n) => Tagged::int(*n).expect("a small integer"),
        Model::Str(b) => Tagged::Ref(tx.alloc_bytes(string, b)?),
        Model::Vec { len, seed } => {
            let elem = |tx: &mut Tx<'t>, i: usize| -> Result<Tagged<'t>, Abort<Stop>> {
                Ok(if i % 97 == 0 {
                    Tagged::Ref(tx.alloc_bytes(string, i.to_string().as_bytes())?)
                } else {
                    Tagged::int(seed + i as i64).expect("a small integer")
                })
            };
            if seed % 2 == 0 {
                // Made with its elements (`alloc_with`, IN1-IN5 of tmgc's
                // tx/init.rs), large vectors too.
                let elems = (0..*len).map(|i| elem(tx, i)).collect::<Result<Vec<_>, _>>()?;
                Tagged::Ref(tx.alloc_with(vector, DynInit::new().elems(&elems))?)
            } else {
                // Allocated, then written element by element.
                let v = tx.alloc_array(vector, *len)?;
                for i in 0..*len {
                    let x = elem(tx, i)?;
                    tx.set_elem(v, i, x)?;
                }
                Tagged::Ref(v)
            }
        }
    })
}

fn fail(m: String) -> Abort<Stop> {
    Abort::User(Stop::Fail(m))
}

fn bytes_of<'t>(tx: &mut Tx<'t>, s: Gc<'t, Dyn>) -> Result<Vec<u8>, Abort<Stop>> {
    let mut out = vec![0; tx.array_len(s)];
    tx.read_bytes(s, 0, &mut out)?;
    Ok(out)
}

/// Check heap value `x` against `m` (`sample`: check only a few of a
/// vector's elements).
fn check<'t>(tx: &mut Tx<'t>, x: Tagged<'t>, m: &Model, sample: bool, what: &str) -> Result<(), Abort<Stop>> {
    match (m, x) {
        (Model::Int(n), Tagged::Int(k)) => ensure(k.get() == *n, || format!("{what}: int {} for {n}", k.get())),
        (Model::Str(b), Tagged::Ref(s)) => {
            let got = bytes_of(tx, s)?;
            ensure(&got == b, || format!("{what}: string {got:?} for {b:?}"))
        }
        (Model::Vec { len, seed }, Tagged::Ref(v)) => {
            let n = tx.array_len(v);
            ensure(n == *len, || format!("{what}: vector of {n} for {len}"))?;
            let idx: Vec<usize> =
                if sample { vec![0, n / 2, n.saturating_sub(1), 97 % n.max(1)] } else { (0..n).collect() };
            for i in idx.into_iter().filter(|&i| i < n) {
                let e = tx.elem(v, i)?;
                if i % 97 == 0 {
                    let Tagged::Ref(s) = e else { return Err(fail(format!("{what}[{i}]: {e:?}"))) };
                    let got = bytes_of(tx, s)?;
                    ensure(got == i.to_string().as_bytes(), || format!("{what}[{i}]: string {got:?}"))?;
                } else {
                    let ok = matches!(e, Tagged::Int(k) if k.get() == seed + i as i64);
                    ensure(ok, || format!("{what}[{i}]: {e:?}, expected {}", seed + i as i64))?;
                }
            }
            Ok(())
        }
        (m, x) => Err(fail(format!("{what}: {x:?} where the model has {m:?}"))),
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let Some(roots) = until_committed(ctx, |tx| {
        let (a, b) = (TVec::new(tx, 4)?, TVec::new(tx, 4)?);
        Ok([tx.root(a.as_gc()), tx.root(b.as_gc())])
    })?
    else {
        return Ok(());
    };
    let mut models: [Vec<Model>; 2] = [Vec::new(), Vec::new()];
    while ctx.running() {
        let roll = ctx.rng.below(100);
        let k = ctx.rng.below(2) as usize;
        let root = &roots[k];
        let len = models[k].len();
        if roll < 40 && len < CAP {
            // Push a new value.
            let m = match ctx.rng.below(100) {
                0..=39 => Model::Int(ctx.rng.next() as i64 >> 8),
                40..=79 => Model::Str(string_of(&mut ctx.rng)),
                80..=98 => Model::Vec { len: ctx.rng.below(200) as usize, seed: ctx.rng.below(1 << 40) as i64 },
                _ => Model::Vec { len: LARGE, seed: ctx.rng.below(1 << 40) as i64 },
            };
            let done = ctx.tx(|tx| {
                let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
                let x = build(tx, &m)?;
                v.push(tx, x)
            })?;
            if done.is_some() {
                models[k].push(m);
            }
        } else if roll < 55 && len > 0 {
            // Pop, checking what comes out.
            let last = models[k].last().cloned().expect("non-empty");
            let done = ctx.tx(|tx| {
                let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
                let x = v.pop(tx)?.ok_or_else(|| fail("pop of a non-empty vector".into()))?;
                check(tx, x, &last, true, "popped element")
            })?;
            if done.is_some() {
                models[k].pop();
            }
        } else if roll < 68 && len > 0 && models[1 - k].len() < CAP {
            // Transfer: element i moves to the other vector's end; the last
            // element takes its place (swap-remove), so both vectors' arrays
            // lose and gain references in one commit.
            let i = ctx.rng.below(len as u64) as usize;
            let (from, to) = (&roots[k], &roots[1 - k]);
            let done = ctx.tx(|tx| {
                let a = TVec::from_gc(tx.get_root(from)?).expect("the thread's vector");
                let b = TVec::from_gc(tx.get_root(to)?).expect("the thread's vector");
                let x = a.get(tx, i)?.ok_or_else(|| fail(format!("element {i} missing")))?;
                let last = a.pop(tx)?.expect("non-empty");
                if i < len - 1 {
                    a.set(tx, i, last)?;
                }
                b.push(tx, x)
            })?;
            if done.is_some() {
                let m = models[k].swap_remove(i);
                models[1 - k].push(m);
            }
        } else if roll < 80 && len > 0 {
            // Replace an element (the old value becomes garbage).
            let i = ctx.rng.below(len as u64) as usize;
            let m = Model::Str(string_of(&mut ctx.rng));
            let done = ctx.tx(|tx| {
                let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
                let x = build(tx, &m)?;
                Ok(v.set(tx, i, x)?)
            })?;
            if done.is_some() {
                models[k][i] = m;
            }
        } else if roll < 88 && len > 0 {
            // Edit a string in place.
            let i = ctx.rng.below(len as u64) as usize;
            if let Model::Str(b) = &models[k][i] {
                if !b.is_empty() {
                    let at = ctx.rng.below(b.len() as u64) as usize;
                    let new: Vec<u8> = (at..b.len()).map(|_| b'A' + ctx.rng.below(26) as u8).collect();
                    let done = ctx.tx(|tx| {
                        let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
                        let Some(Tagged::Ref(s)) = v.get(tx, i)? else { return Err(fail("a string".into())) };
                        tx.write_bytes(s, at, &new)?;
                        Ok(())
                    })?;
                    if done.is_some() {
                        if let Model::Str(b) = &mut models[k][i] {
                            b[at..].copy_from_slice(&new);
                        }
                    }
                }
            }
        } else if len > 0 {
            // Read and check a random element.
            let i = ctx.rng.below(len as u64) as usize;
            let m = models[k][i].clone();
            ctx.check(|tx| {
                let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
                let x = v.get(tx, i)?.ok_or_else(|| fail(format!("element {i} missing")))?;
                check(tx, x, &m, false, "element")
            })?;
        }
    }
    // Both vectors against the model.
    for (root, model) in roots.iter().zip(&models) {
        ctx.check(|tx| {
            let v = TVec::from_gc(tx.get_root(root)?).expect("the thread's vector");
            let n = v.len(tx)?;
            ensure(n == model.len(), || format!("vector of {n} elements, model {}", model.len()))?;
            for (i, m) in model.iter().enumerate() {
                let x = v.get(tx, i)?.expect("within the length");
                check(tx, x, m, true, "final element")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}
