//! Sweeping one block: from its start and mark bitmaps to live bytes and a
//! hole chain, without touching live objects.
//!
//! ## The cell partition
//! (P) In a block nobody is allocating in, the start bits partition the
//! block into *cells*: each runs from its start bit to the next start bit (or
//! the block's end), and granule 0 always begins one. A cell is an object
//! (possibly with a few granules of trailing waste) or a free filler. So the
//! extent of every cell is known from the start bitmap alone.
//!
//! Sweeping, with the block owned by the sweeper (state SWEEPING, or ALLOC
//! for an allocator sweeping lazily):
//! - a cell whose start is marked is live; its granules count as live;
//! - every other cell is free: objects among them that need a destructor
//!   (drop bit set) are handed to the drop hook, and in debug builds their
//!   memory is poisoned;
//! - each maximal run of free cells keeps only its first start bit (a
//!   filler), so (P) still holds, and becomes one hole of the chain.
//!
//! Marks are left as they are: they are this cycle's and are cleared before
//! the next one (`Space::clear_marks`).

use std::ptr::NonNull;

use crate::bitmap;
use crate::chunk::BlockRef;
use crate::holes::{ChainBuilder, Hole};
use crate::layout::*;
use crate::sync::Ordering;

/// What a block sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Granules in live cells.
    pub(crate) live: usize,
    /// Largest hole offered for reuse, in granules.
    pub(crate) max_hole: usize,
    /// Objects handed to the drop hook.
    pub(crate) dropped: usize,
}

/// Poison byte for freed memory in debug builds.
pub const POISON: u8 = 0xDB;

/// Sweep an owned block for `epoch`. See the module docs.
pub(crate) fn sweep_block(block: BlockRef, epoch: u32, hook: Option<&(dyn Fn(NonNull<u8>) + Send + Sync)>) -> Swept {
    let starts = block.starts();
    let marks = block.marks();
    let drops = block.drop_bits();
    let mut out = Swept::default();
    let mut chain = ChainBuilder::new(block);
    let mut run: Option<usize> = None;

    let Some(mut s) = bitmap::next_set(starts, 0) else {
        // No cell at all: the block is empty.
        block.meta().swept_epoch.store(epoch, Ordering::Release);
        block.meta().live_granules.store(0, Ordering::Relaxed);
        return out;
    };
    if s > 0 {
        // Granules before the first cell are free (a defensive repair of (P)).
        bitmap::set_owned(starts, 0);
        run = Some(0);
    }
    loop {
        let e = bitmap::next_set(starts, s + 1).unwrap_or(BLOCK_GRANULES);
        if bitmap::get(marks, s, Ordering::Acquire) {
            if let Some(r) = run.take() {
                chain.push(Hole { start: r, len: s - r });
            }
            out.live += e - s;
        } else {
            if let Some(d) = drops {
                if bitmap::get(&d.0, s, Ordering::Relaxed) {
                    bitmap::clear_owned(&d.0, s);
                    out.dropped += 1;
                    if let Some(h) = hook {
                        // SAFETY: granule pointers of a data block are non-null.
                        h(unsafe { NonNull::new_unchecked(block.granule_ptr(s)) });
                    }
                }
            }
            poison(block, s, e);
            if run.is_none() {
                run = Some(s);
            } else {
                bitmap::clear_owned(starts, s);
            }
        }
        if e == BLOCK_GRANULES {
            break;
        }
        s = e;
    }
    if let Some(r) = run {
        chain.push(Hole { start: r, len: BLOCK_GRANULES - r });
    }
    out.max_hole = chain.finish();
    if out.live == 0 {
        bitmap::clear_all(starts);
        block.free_drop_bits();
    }
    let m = block.meta();
    m.live_granules.store(out.live as u32, Ordering::Relaxed);
    m.swept_epoch.store(epoch, Ordering::Release);
    out
}

/// Fill freed granules `[s, e)` with [`POISON`] in debug builds.
#[inline]
fn poison(block: BlockRef, s: usize, e: usize) {
    if cfg!(debug_assertions) {
        // SAFETY: the caller owns the block and `[s, e)` is a free cell.
        unsafe { std::ptr::write_bytes(block.granule_ptr(s), POISON, (e - s) * GRANULE) };
    }
}
