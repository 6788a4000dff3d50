//! An interning table of weak references per thread, as an interpreter
//! keeps for interned strings or a `WeakValueDictionary`: 1,024 keys, each
//! with a weak cell to its entry (key and a 4-node payload). A ring of the
//! 64 most recently used entries holds them strongly; everything else dies
//! at the next cycle and its cell is cleared. A lookup that finds an entry
//! checks its key and payload (a weak read that resurrected a dying entry
//! would find it freed or half-traced) and makes it strong again; a miss
//! interns a new entry. Cycles run while lookups race them, so weak reads
//! land in every weak phase.
//!
//! The ring holds each entry through a new `Use` object, not directly: an
//! overwritten ring slot is shaded by the commit barrier (its old value),
//! which would mark every entry that passed through the ring and hide a
//! weak read that failed to keep its referent; a new object allocated
//! while marking is black and never traced, so only the weak read itself
//! can keep the entry it found.

use tmgc::{Ref, Trace, Value, Weak};

use super::{check_list, list, until_committed, Node};
use crate::ctx::{ensure, Ctx, Failure};

const KEYS: usize = 1024;
const RING: usize = 64;

#[derive(Trace)]
pub(crate) struct Entry {
    key: Value<u64>,
    payload: Ref<Node>,
}

#[derive(Trace)]
pub(crate) struct Use {
    entry: Ref<Entry>,
}

#[derive(Trace)]
pub(crate) struct Table {
    cells: [Ref<Weak<Entry>>; KEYS],
    ring: [Ref<Use>; RING],
}

fn payload(key: u64) -> impl Fn(u64) -> u64 {
    move |i| key.wrapping_mul(0x9E37_79B9) ^ i
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let Some(table) = until_committed(ctx, |tx| {
        let t = tx
            .alloc(Table { cells: std::array::from_fn(|_| Ref::null()), ring: std::array::from_fn(|_| Ref::null()) })?;
        for k in 0..KEYS {
            let w = tx.new_weak::<Entry>(None)?;
            tx.store(t, |t| &t.cells[k], Some(w))?;
        }
        Ok(tx.root(t))
    })?
    else {
        return Ok(());
    };
    let mut tick = 0usize;
    while ctx.running() {
        tick += 1;
        let key = ctx.rng.below(KEYS as u64);
        let slot = tick % RING;
        // An upgrade that succeeds checks the entry (a check that commits).
        let hit = ctx.tx(|tx| {
            let t = tx.get_root(&table)?;
            let w = tx.load(t, |t| &t.cells[key as usize])?.expect("cells are never removed");
            let (e, hit) = match tx.upgrade(w)? {
                Some(e) => {
                    let k = tx.get(e, |e| &e.key)?;
                    ensure(k == key, || format!("weak cell of key {key} yields entry {:p} of key {k}", e.header()))?;
                    let pl = tx.load(e, |e| &e.payload)?;
                    check_list(tx, pl, 4, payload(key), "interned payload")?;
                    (e, true)
                }
                None => {
                    let pl = list(tx, 4, payload(key))?;
                    let e = tx.alloc(Entry { key: Value::new(key), payload: Ref::null() })?;
                    tx.store(e, |e| &e.payload, pl)?;
                    tx.set_weak(w, Some(e))?;
                    (e, false)
                }
            };
            let u = tx.alloc(Use { entry: Ref::null() })?;
            tx.store(u, |u| &u.entry, Some(e))?;
            tx.store(t, |t| &t.ring[slot], Some(u))?;
            Ok(hit)
        })?;
        ctx.counters.checks += u64::from(hit == Some(true));
    }
    Ok(())
}
