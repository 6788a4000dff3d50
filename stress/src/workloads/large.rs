//! Large objects and reference arrays: a rooted ring of 16 slots, each
//! holding a 9 KiB object (over the 8 KiB large-object threshold, so each
//! lives in its own mapping) filled from a seed. Every transaction replaces
//! one; after each commit, the new one and a random other are checked.

use tmgc::{Ref, Trace, Value};

use super::until_committed;
use crate::ctx::{ensure, Ctx, Failure};

const WORDS: usize = 1150;
const RING: usize = 16;

#[derive(Trace)]
pub(crate) struct Big {
    seed: Value<u64>,
    words: [Value<u64>; WORDS],
}

#[derive(Trace)]
pub(crate) struct Ring {
    slots: [Ref<Big>; RING],
}

fn word(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(i as u32 % 64) ^ i as u64
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let Some(ring) = until_committed(ctx, |tx| {
        let r = tx.alloc(Ring { slots: std::array::from_fn(|_| Ref::null()) })?;
        Ok(tx.root(r))
    })?
    else {
        return Ok(());
    };
    // The seed each slot's object must carry (what this thread committed):
    // a freed object whose memory another `Big` reused would be
    // self-consistent, but not carry the right seed.
    let mut seeds: [Option<u64>; RING] = [None; RING];
    while ctx.running() {
        let (slot, seed) = (ctx.rng.below(RING as u64) as usize, ctx.rng.next());
        let committed = ctx.tx(|tx| {
            let r = tx.get_root(&ring)?;
            let b =
                tx.alloc(Big { seed: Value::new(seed), words: std::array::from_fn(|i| Value::new(word(seed, i))) })?;
            tx.store(r, |r| &r.slots[slot], Some(b))?;
            Ok(())
        })?;
        if committed.is_some() {
            seeds[slot] = Some(seed);
        }
        for slot in [slot, ctx.rng.below(RING as u64) as usize] {
            ctx.check(|tx| {
                let r = tx.get_root(&ring)?;
                let b = tx.load(r, |r| &r.slots[slot])?;
                ensure(b.is_some() == seeds[slot].is_some(), || {
                    format!("large slot {slot}: object present is {}", b.is_some())
                })?;
                if let Some(b) = b {
                    let seed = tx.get(b, |b| &b.seed)?;
                    ensure(Some(seed) == seeds[slot], || {
                        format!(
                            "large object {:p} in slot {slot} has seed {seed}, committed {:?}",
                            b.header(),
                            seeds[slot]
                        )
                    })?;
                    for i in (0..WORDS).step_by(7) {
                        let w = tx.get(b, |b| &b.words[i])?;
                        ensure(w == word(seed, i), || {
                            format!("large object {:p} (seed {seed}): word {i} is {w:#x}", b.header())
                        })?;
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
