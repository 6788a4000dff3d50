//! Giving memory back to the OS: whole chunks, and runs of free blocks.
//!
//! Both decommit only FREE memory, under the decommit lock: a block is
//! moved `FREE -> SWEEPING` by CAS (so no claimer can take it meanwhile),
//! its pages are given back (`os::decommit`: `MADV_DONTNEED`, the pages
//! read as zeros when next touched), and it goes back to FREE with its
//! hint set (B1 of `block_life.rs`). A FREE block holds nothing anyone
//! reads: its objects, marks, start bits and hole chain are gone, and
//! the metadata lives in the chunk's META blocks, never decommitted.
//! While locked, a block counts as used and unswept (`Space::stats`,
//! `Space::unswept_blocks`).
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
//!   has nothing resident to give (so a chunk decommitted whole, whose
//!   blocks are all FRESH, is never decommitted again block by block).
//! - (DC2) `committed_bytes` is what the heap may hold resident: each
//!   chunk's metadata from its mapping on, each RESIDENT block (counted
//!   by the claim that makes it so, uncounted by the decommit that ends
//!   it), each large object's mapping. So a chunk mapped and used only
//!   in part counts only the blocks it handed out. (Where the OS refuses
//!   the advice, nothing is uncounted.)
//! - (DC3) Only whole pages are given back: blocks alone only where a
//!   page divides a block (not on 64 KiB-page kernels: the OS rounds a
//!   length up to whole pages, and a 32 KiB block would take its
//!   neighbour's page with it), a chunk's data range rounded inward to
//!   whole pages; and no block alone with huge pages on (it would split
//!   the huge page under it).
//!
//! - (DC4) The side slots (`side.rs`) of decommitted blocks go back with
//!   them: a chunk-wide decommit gives back both tables whole, a run of
//!   blocks the pages of slots that only its granules have (rounded
//!   inward; the tables start on a 4 KiB boundary, so with 32 KiB blocks
//!   each block's slots are whole pages: 8 KiB of entries, 16 KiB of
//!   version locks). A FREE block has no object whose slots anyone reads
//!   (SD3), and a slot read as zero is what a fresh mapping gives (C1):
//!   an entry is written when its object is allocated, and a zero
//!   version-lock word is a free one (HD2 of tmgc's `header.rs`). Without
//!   this a heap that shrank kept up to 12 bytes of slots resident for
//!   every 16 bytes of blocks it gave back. The slots are not counted in
//!   `committed_bytes` (DC2): they are resident only where objects were.
//!
//! Policy, not safety: a block goes back alone only once it stayed FREE
//! through the last [`IDLE_EPOCHS`] whole cycles (its stamp: the epoch a
//! sweep or `make_free` freed it in, or a claim took it in), and only
//! while more than the caller's `retain` bytes are committed, so a heap
//! that keeps reusing its free blocks from cycle to cycle does not fault
//! them in again (the scavenger of Go's runtime keeps its heap goal plus
//! 10% the same way). Adjacent idle blocks go back in one call (one
//! system call and one TLB shootdown per run, not per block).

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
        // DC3: the data range rounded inward to whole pages.
        let page = crate::os::page_size();
        let data = blocks[0].base();
        let start = data.addr().next_multiple_of(page);
        let end = (c.as_ptr().addr() + CHUNK_BYTES) / page * page;
        // Inside the chunk's data blocks: `start - data` is under a page.
        let from = NonNull::new(data.wrapping_add(start - data.addr())).expect("a chunk's data range");
        // Every data block of the chunk is locked by us and free, so no one
        // needs its contents (C2: the chunk stays mapped); the range is
        // page-aligned at both ends.
        // SAFETY: a dead, page-aligned range of a live mapping (above).
        let done = unsafe { crate::os::decommit(from, end - start) };
        // The side tables too (DC4).
        #[cfg(not(tmgc_loom))]
        if done {
            // SAFETY: a live chunk; every data block is free and ours, so
            // no slot of the chunk belongs to an object anyone reaches.
            unsafe { crate::side::decommit_slots(c.cast(), 0, CHUNK_GRANULES) };
        }
        if done {
            // DC1, DC2: every block FRESH again; the resident ones uncounted.
            let mut resident = 0;
            for b in &locked {
                if b.meta().pages.swap(pages::FRESH, Ordering::Relaxed) == pages::RESIDENT {
                    resident += BLOCK_BYTES;
                }
            }
            s.committed_bytes.fetch_sub(resident, Ordering::Relaxed);
        } else {
            chunk.decommitted.store(false, Ordering::Release);
        }
    }
    for b in locked {
        b.meta().state.store(state::FREE, Ordering::SeqCst);
        pool::set_hint(b, Hint::Free);
    }
    all
}

/// Decommit FREE blocks idle through the last [`IDLE_EPOCHS`] cycles, a
/// run of adjacent ones at a time, while more than `retain` bytes are
/// committed; returns how many. Nothing where DC3 or the configuration
/// forbids it.
pub(crate) fn release_free_blocks(s: &SpaceInner, retain: usize) -> usize {
    // Most cycles end here: nothing above `retain` (one load).
    if s.config.get_huge_pages()
        || !s.config.get_decommit_free_blocks()
        || BLOCK_BYTES % crate::os::page_size() != 0
        || s.committed_bytes.load(Ordering::Relaxed) <= retain
    {
        return 0;
    }
    let epoch = s.sweep_epoch.load(Ordering::Acquire);
    let idle = |b: BlockRef| {
        let m = b.meta();
        m.pages.load(Ordering::Relaxed) == pages::RESIDENT
            && m.swept_epoch.load(Ordering::Relaxed) + IDLE_EPOCHS <= epoch
    };
    let mut released = 0;
    let mut run: Vec<BlockRef> = Vec::new();
    for i in 0..s.chunks.len() {
        let c = s.chunks.get(i);
        for index in META_BLOCKS..BLOCKS_PER_CHUNK {
            let room = s.committed_bytes.load(Ordering::Relaxed).saturating_sub(retain) / BLOCK_BYTES;
            if run.len() >= room {
                released += release_run(s, &mut run);
                if s.committed_bytes.load(Ordering::Relaxed) <= retain {
                    return released;
                }
            }
            let b = BlockRef::new(c, index);
            if pool::state_of(b) == state::FREE && idle(b) && cas_state(b, state::FREE, state::SWEEPING) {
                // Ours now: look again (a claim and a free may have come
                // between the test and the lock).
                if idle(b) {
                    run.push(b);
                    continue;
                }
                b.meta().state.store(state::FREE, Ordering::SeqCst);
                pool::set_hint(b, Hint::Free);
            }
            released += release_run(s, &mut run);
        }
        released += release_run(s, &mut run);
    }
    released
}

/// Give back `run` (adjacent blocks of one chunk, each locked by us and
/// idle), unlock them, and empty it; returns how many went back.
fn release_run(s: &SpaceInner, run: &mut Vec<BlockRef>) -> usize {
    let Some(first) = run.first() else { return 0 };
    let from = NonNull::new(first.base()).expect("a block's base");
    // The blocks are adjacent in one chunk (C2: mapped while the space
    // lives), each FREE and locked by us, so no one reads or writes their
    // data; blocks are page-aligned and a page divides a block (DC3,
    // checked by the caller).
    // SAFETY: a dead, page-aligned range of a live mapping (above).
    let done = unsafe { crate::os::decommit(from, run.len() * BLOCK_BYTES) };
    // Their side slots too (DC4), whole pages of them.
    #[cfg(not(tmgc_loom))]
    if done {
        let g0 = first.index() * BLOCK_GRANULES;
        // SAFETY: the run's chunk is live; its blocks are FREE and ours
        // (above), so no slot of their granules is read or written.
        unsafe { crate::side::decommit_slots(first.chunk_ptr().cast(), g0, g0 + run.len() * BLOCK_GRANULES) };
    }
    let n = if done { run.len() } else { 0 };
    for b in run.drain(..) {
        if done {
            b.meta().pages.store(pages::RELEASED, Ordering::Relaxed);
        }
        b.meta().state.store(state::FREE, Ordering::SeqCst);
        pool::set_hint(b, Hint::Free);
    }
    s.committed_bytes.fetch_sub(n * BLOCK_BYTES, Ordering::Relaxed);
    n
}
