//! An LRU-like cache per thread: 1,024 keys in a two-level table, skewed
//! accesses, entries with a 4-node payload, and approximate LRU eviction
//! (the oldest of 8 sampled entries, every 16 accesses). Long-lived entries
//! mixed with churn; every hit checks the entry's key and payload.

use tmgc::{Ref, Trace, Value};

use super::{check_list, list, until_committed, Node};
use crate::ctx::{ensure, Ctx, Failure};

const PARTS: usize = 16;
const PER: usize = 64;
const KEYS: u64 = (PARTS * PER) as u64;

#[derive(Trace)]
pub(crate) struct Entry {
    key: Value<u64>,
    stamp: Value<u64>,
    payload: Ref<Node>,
}

#[derive(Trace)]
pub(crate) struct Part {
    slots: [Ref<Entry>; PER],
}

#[derive(Trace)]
pub(crate) struct Dir {
    parts: [Ref<Part>; PARTS],
}

fn payload(key: u64) -> impl Fn(u64) -> u64 {
    move |i| key * 4 + i
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let Some(dir) = until_committed(ctx, |tx| {
        let d = tx.alloc(Dir { parts: std::array::from_fn(|_| Ref::null()) })?;
        for p in 0..PARTS {
            let part = tx.alloc(Part { slots: std::array::from_fn(|_| Ref::null()) })?;
            tx.store(d, |d| &d.parts[p], Some(part))?;
        }
        Ok(tx.root(d))
    })?
    else {
        return Ok(());
    };
    let mut tick = 0u64;
    while ctx.running() {
        tick += 1;
        // Skewed keys: small keys are hot.
        let key = ctx.rng.below(KEYS) * ctx.rng.below(KEYS) / KEYS;
        let (p, s) = ((key as usize) / PER, (key as usize) % PER);
        // A hit checks the entry's key and payload (a check that commits).
        let hit = ctx.tx(|tx| {
            let d = tx.get_root(&dir)?;
            let part = tx.load(d, |d| &d.parts[p])?.expect("parts are never removed");
            match tx.load(part, |x| &x.slots[s])? {
                Some(e) => {
                    let k = tx.get(e, |e| &e.key)?;
                    ensure(k == key, || format!("lru slot of key {key} holds entry {:p} of key {k}", e.header()))?;
                    let pl = tx.load(e, |e| &e.payload)?;
                    check_list(tx, pl, 4, payload(key), "lru payload")?;
                    tx.set(e, |e| &e.stamp, tick)?;
                    Ok(true)
                }
                None => {
                    let pl = list(tx, 4, payload(key))?;
                    let e = tx.alloc(Entry { key: Value::new(key), stamp: Value::new(tick), payload: Ref::null() })?;
                    tx.store(e, |e| &e.payload, pl)?;
                    tx.store(part, |x| &x.slots[s], Some(e))?;
                    Ok(false)
                }
            }
        })?;
        ctx.counters.checks += u64::from(hit == Some(true));
        if tick % 16 == 0 {
            let sample: Vec<u64> = (0..8).map(|_| ctx.rng.below(KEYS)).collect();
            ctx.tx(|tx| {
                let d = tx.get_root(&dir)?;
                let mut oldest: Option<(u64, u64)> = None;
                for &k in &sample {
                    let part = tx.load(d, |d| &d.parts[k as usize / PER])?.expect("parts are never removed");
                    if let Some(e) = tx.load(part, |x| &x.slots[k as usize % PER])? {
                        let st = tx.get(e, |e| &e.stamp)?;
                        if oldest.is_none_or(|(_, o)| st < o) {
                            oldest = Some((k, st));
                        }
                    }
                }
                if let Some((k, _)) = oldest {
                    let part = tx.load(d, |d| &d.parts[k as usize / PER])?.expect("parts are never removed");
                    tx.store(part, |x| &x.slots[k as usize % PER], None)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
