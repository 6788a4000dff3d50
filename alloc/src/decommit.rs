//! Giving memory back to the OS: whole chunks, and single free blocks.
//!
//! Both decommit only FREE memory, under the decommit lock: a block is
//! moved `FREE -> SWEEPING` by CAS (so no claimer can take it meanwhile),
//! its pages are given back (`os::decommit`: `MADV_DONTNEED`, the pages
//! read as zeros when next touched), and it goes back to FREE with its
//! hint set (B1 of `block_life.rs`). A FREE block holds nothing anyone
//! reads: its objects, marks, start bits and hole chain are gone, and
//! the metadata lives in the chunk's META blocks, never decommitted.
//!
//! - (DC1) A block's `pages` (`chunk::pages`) say whether its pages may
//!   be resident: FRESH (never claimed since its chunk was mapped or
//!   decommitted whole), RESIDENT (claimed since), RELEASED (given back
//!   alone, not claimed since). Only its owner writes them: the decommit
//!   lock (RESIDENT -> RELEASED), the claimer (LocalAllocator's refill: to
//!   RESIDENT), a chunk-wide decommit holding every block (all to FRESH).
//!   They are written before the state store that makes the block FREE
//!   and read after the CAS that claims it, so the claimer sees them.
//!   Only RESIDENT blocks are given back alone: a FRESH or RELEASED one
//!   has nothing resident to give.
//! - (DC2) `committed_bytes` is what the heap may hold resident: each
//!   chunk's metadata from its mapping on, each RESIDENT block (counted
//!   by the claim that makes it so, uncounted by the decommit that ends
//!   it), each large object's mapping. So a chunk mapped and used only
//!   in part counts only the blocks it handed out.
//! - (DC3) A block is decommitted alone only if its chunk is not
//!   decommitted as a whole (checked under the block's lock: a chunk-wide
//!   decommit needs every block's lock, so it cannot start meanwhile), and
//!   never with huge pages on (it would split the huge page under it).
//!
//! Policy, not safety: a block goes back only once it stayed FREE through
//! the whole last cycle (stamped before the current sweep epoch: a block
//! this sweep freed, or one claimed since, carries the current stamp), and only while more than the
//! caller's `retain` bytes are committed, so a heap that keeps reusing its
//! free blocks from cycle to cycle does not fault them in again (the
//! scavenger of Go's runtime keeps its heap goal plus 10% the same way).

use std::ptr::NonNull;

use crate::chunk::{pages, state, BlockRef, SmallChunk, META_BLOCKS};
use crate::layout::*;
use crate::pool::{self, cas_state, Hint};
use crate::space::SpaceInner;
use crate::sync::Ordering;

/// How many whole cycles a block must stay FREE before it goes back alone:
/// a heap that swings (GCBench's temporary trees) reuses within two what
/// it freed. Measured in docs/PERFORMANCE.md ("Block-level decommit").
pub(crate) const IDLE_EPOCHS: u64 = 2;

/// Decommit chunk `c` if every data block is free; returns whether it did.
pub(crate) fn try_decommit_chunk(s: &SpaceInner, c: NonNull<SmallChunk>) -> bool {
    // SAFETY: chunks stay mapped while the space lives (C2).
    let chunk = unsafe { c.as_ref() };
    if chunk.decommitted.load(Ordering::Acquire) {
        return false;
    }
    let blocks: Vec<BlockRef> = (META_BLOCKS..BLOCKS_PER_CHUNK).map(|b| BlockRef::new(c, b)).collect();
    if blocks.iter().any(|b| pool::state_of(*b) != state::FREE) {
        return false;
    }
    // Lock every block by moving it out of FREE; roll back on a race.
    let mut locked = Vec::with_capacity(blocks.len());
    for b in &blocks {
        if cas_state(*b, state::FREE, state::SWEEPING) {
            locked.push(*b);
        } else {
            break;
        }
    }
    // Another thread may have decommitted it between our check and our locks.
    let all = locked.len() == blocks.len() && !chunk.decommitted.swap(true, Ordering::AcqRel);
    if all {
        // DC1, DC2: every block FRESH again; the resident ones uncounted.
        let mut resident = 0;
        for b in &locked {
            if b.meta().pages.swap(pages::FRESH, Ordering::Relaxed) == pages::RESIDENT {
                resident += BLOCK_BYTES;
            }
        }
        let data = blocks[0].base();
        // SAFETY: every data block of the chunk is locked by us and free, so
        // no one needs its contents; the range is page-aligned and inside the
        // chunk mapping.
        unsafe { crate::os::decommit(NonNull::new_unchecked(data), pool::CHUNK_DATA_BYTES) };
        s.committed_bytes.fetch_sub(resident, Ordering::Relaxed);
    }
    for b in locked {
        b.meta().state.store(state::FREE, Ordering::SeqCst);
        pool::set_hint(b, Hint::Free);
    }
    all
}

/// Decommit FREE blocks that stayed free through the last whole cycle
/// (stamped before the current sweep epoch), one at a time, while more than `retain` bytes are committed;
/// returns how many. Nothing with huge pages on (DC3).
pub(crate) fn release_free_blocks(s: &SpaceInner, retain: usize) -> usize {
    if s.config.get_huge_pages() {
        return 0;
    }
    let epoch = s.sweep_epoch.load(Ordering::Acquire);
    let idle = |b: BlockRef| {
        let m = b.meta();
        m.pages.load(Ordering::Relaxed) == pages::RESIDENT
            && m.swept_epoch.load(Ordering::Relaxed) + IDLE_EPOCHS <= epoch
    };
    let mut released = 0;
    for i in 0..s.chunks.len() {
        let c = s.chunks.get(i);
        // SAFETY: chunks stay mapped while the space lives (C2).
        let chunk = unsafe { c.as_ref() };
        for index in META_BLOCKS..BLOCKS_PER_CHUNK {
            if s.committed_bytes.load(Ordering::Relaxed) <= retain {
                return released;
            }
            if chunk.decommitted.load(Ordering::Acquire) {
                break;
            }
            let b = BlockRef::new(c, index);
            if pool::state_of(b) != state::FREE || !idle(b) || !cas_state(b, state::FREE, state::SWEEPING) {
                continue;
            }
            // Ours now: look again (a claim and a free may have come
            // between the test and the lock), and at the chunk (DC3).
            if idle(b) && !chunk.decommitted.load(Ordering::Acquire) {
                // SAFETY: a FREE block locked by us: nobody reads or writes
                // its data; a whole block is page-aligned and inside its
                // chunk's mapping.
                unsafe { crate::os::decommit(NonNull::new_unchecked(b.base()), BLOCK_BYTES) };
                b.meta().pages.store(pages::RELEASED, Ordering::Relaxed);
                s.committed_bytes.fetch_sub(BLOCK_BYTES, Ordering::Relaxed);
                released += 1;
            }
            b.meta().state.store(state::FREE, Ordering::SeqCst);
            pool::set_hint(b, Hint::Free);
        }
    }
    released
}
