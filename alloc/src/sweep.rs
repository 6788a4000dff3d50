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
//! Sweeping, with the block owned by the sweeper (state SWEEPING, claimed
//! from state `prev`, USED or RECYCLABLE; the sweeper is an eager sweep or
//! an allocator sweeping lazily):
//! - a cell whose start is marked is live; its granules count as live;
//! - every other cell is free: objects among them that need a destructor
//!   (drop bit set, mark clear) are handed to the drop hook first, and in
//!   debug builds free memory is poisoned;
//! - each maximal run of free cells keeps only its first start bit (a
//!   filler), so (P) still holds, and becomes one hole of the chain;
//! - a block with no live cell is wholly free (no hole chain is needed: the
//!   caller returns it to the pool or bumps through it whole).
//!
//! ## Drop hooks
//! Hooks run first, while the dead objects are intact, and change nothing
//! but drop bits: each object's drop bit is cleared just before its hook is
//! called, so a hook runs at most once per object. (SW1) If a hook panics,
//! the block goes back to `prev`, unswept and hinted (`release_block`),
//! before the panic leaves `sweep_block`: its bitmaps and hole chain are as
//! they were, so any later sweep finishes it. The objects whose hooks have
//! not run yet keep their drop bits and get their hooks then; the one whose
//! hook panicked counts as dropped and is not called again.
//!
//! Marks are left as they are: they are this cycle's and are cleared before
//! the next one (`Space::clear_marks`).
//!
//! (SW3) **Clean blocks are not swept again.** A sweep leaves the block
//! `clean`. Its result depends only on the block's start and mark bits
//! and drop bits, and those change only while an allocator owns the block
//! (bumping, rewinding, flushing black marks) or when its marks are
//! cleared: the allocator that claims a block, and `Space::clear_marks`,
//! clear `clean`. Markers set marks only on objects, and every object of a
//! clean block is marked already (the last sweep freed the others, and a
//! free cell is reachable from nowhere). So a sweep of a clean block only
//! stamps the epoch and reports what the last one found: the same live
//! granules, the same hole chain (still in the free cells, which nobody
//! wrote since), nothing to drop. Without generations every cycle clears
//! the marks, so this never applies; a young cycle keeps the marks, and it
//! re-swept every old block of the heap (T13 of the generations review).
//!
//! (SW2) A block's sweep reads its mark bitmap once, into a snapshot, and
//! decides everything from that: which objects get their hook, which cells
//! are live, which are freed. An object is therefore freed only if the same
//! snapshot sent it to the hook (when it has a drop bit), even if the marks
//! change during the sweep (a `clear_marks` on another thread, which breaks
//! its contract but must not break `Space::with_drop_hook`'s promise).

use std::ptr::NonNull;

use crate::bitmap;
use crate::block_life::release_block;
use crate::chunk::BlockRef;
use crate::holes::{ChainBuilder, Hole};
use crate::layout::*;
use crate::space::{InHook, SpaceInner};
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
// A poisoned word must never look like a reference to tmgc's tagged words
// (low 3 bits 000: a freed object read by mistake would be traced).
const _: () = assert!(POISON & 0b111 != 0);

/// Sweep an owned block for `epoch`. See the module docs.
///
/// The cost is proportional to the live cells and the free runs, not to
/// the dead objects: marks are only ever set at cell starts (`mark` takes an
/// object address, black flushes copy start bits), so the marked starts,
/// read word by word, give the live cells, and the gaps between them are the
/// free runs, cleared a word at a time.
///
/// `block` is owned by the caller in state SWEEPING, claimed from `prev`.
/// If the drop hook panics, the block is back in `prev` (unswept, hinted)
/// when the panic leaves this function (SW1).
pub(crate) fn sweep_block(space: &SpaceInner, block: BlockRef, epoch: u64, prev: u8) -> Swept {
    let m = block.meta();
    if m.clean.load(Ordering::Relaxed) {
        // (SW3) Nothing changed since the last sweep: the same live cells,
        // the same hole chain, nothing dead.
        m.swept_epoch.store(epoch, Ordering::Release);
        return Swept {
            live: m.live_granules.load(Ordering::Relaxed) as usize,
            max_hole: m.max_hole.load(Ordering::Relaxed) as usize,
            dropped: 0,
        };
    }
    let starts = block.starts();
    // (SW2): one read of the marks for the whole sweep.
    let marks: [u64; BITMAP_WORDS] = std::array::from_fn(|w| block.marks()[w].load(Ordering::Acquire));
    let mut out = Swept::default();

    // Destructors first, while dead objects are intact.
    if let Some(d) = block.drop_bits() {
        let hook = space.drop_hook.as_deref();
        let put_back = PutBack { space, block, prev, armed: true };
        let _in_hook = hook.map(|_| InHook::enter(space));
        for (w, word) in d.0.iter().enumerate() {
            let mut dead = word.load(Ordering::Relaxed) & !marks[w];
            while dead != 0 {
                let bit = dead & dead.wrapping_neg();
                dead ^= bit;
                // Clear the bit before the call: at most one call per object,
                // even if it panics (SW1). Only the owner writes drop bits.
                word.store(word.load(Ordering::Relaxed) & !bit, Ordering::Relaxed);
                out.dropped += 1;
                if let Some(h) = hook {
                    let g = w * 64 + bit.trailing_zeros() as usize;
                    // SAFETY: granule pointers of a data block are non-null.
                    h(unsafe { NonNull::new_unchecked(block.granule_ptr(g)) });
                }
            }
        }
        put_back.disarm();
    }

    // Fast path: every cell start marked, so every cell is live (P: the
    // cells tile the block) and nothing changes but the accounting. Most
    // blocks of a large old heap are like this; checking costs two loads
    // per 64 granules instead of two bitmap searches per object.
    if starts.iter().zip(marks.iter()).all(|(s, m)| s.load(Ordering::Relaxed) & !m == 0)
        && bitmap::get(starts, 0, Ordering::Relaxed)
    {
        out.live = BLOCK_GRANULES;
        out.max_hole = ChainBuilder::new(block).finish(); // no hole: 0
        m.live_granules.store(out.live as u32, Ordering::Relaxed);
        m.clean.store(true, Ordering::Relaxed);
        m.swept_epoch.store(epoch, Ordering::Release);
        return out;
    }

    let mut chain = ChainBuilder::new(block);
    let mut free_from = 0; // start of the current free run
    let mut g = 0;
    while let Some(s) = bitmap::next_set_in(&marks, g) {
        debug_assert!(bitmap::get(starts, s, Ordering::Relaxed), "mark bit {s} is not at a cell start");
        if s > free_from {
            free_run(block, &mut chain, free_from, s);
        }
        let e = bitmap::next_set(starts, s + 1).unwrap_or(BLOCK_GRANULES);
        out.live += e - s;
        free_from = e;
        g = e;
        if e == BLOCK_GRANULES {
            break;
        }
    }
    if out.live == 0 {
        // Nothing survived: the whole block is free.
        bitmap::clear_all(starts);
        poison(block, 0, BLOCK_GRANULES);
        block.free_drop_bits();
    } else if free_from < BLOCK_GRANULES {
        free_run(block, &mut chain, free_from, BLOCK_GRANULES);
    }
    out.max_hole = if out.live == 0 { BLOCK_GRANULES } else { chain.finish() };
    m.live_granules.store(out.live as u32, Ordering::Relaxed);
    // A wholly free block goes back to the pool (its claimer clears this).
    m.clean.store(out.live > 0, Ordering::Relaxed);
    m.swept_epoch.store(epoch, Ordering::Release);
    out
}

/// Puts a block whose drop hook panicked back where it was claimed from
/// (SW1). Disarmed once every hook has returned.
struct PutBack<'a> {
    space: &'a SpaceInner,
    block: BlockRef,
    prev: u8,
    armed: bool,
}

impl PutBack<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Unwinding from a hook: nothing but drop bits has changed, so
            // the block is as it was when claimed, only not stamped.
            release_block(self.space, self.block, self.prev);
        }
    }
}

/// Make granules `[from, to)` (whole dead cells) one free filler cell and a
/// hole of the chain.
fn free_run(block: BlockRef, chain: &mut ChainBuilder, from: usize, to: usize) {
    let starts = block.starts();
    bitmap::clear_range_owned(starts, from, to);
    bitmap::set_owned(starts, from);
    poison(block, from, to);
    chain.push(Hole { start: from, len: to - from });
}

/// Fill freed granules `[s, e)` with [`POISON`] in debug builds.
#[inline]
fn poison(block: BlockRef, s: usize, e: usize) {
    if cfg!(debug_assertions) {
        // SAFETY: the caller owns the block and `[s, e)` is a free cell.
        unsafe { std::ptr::write_bytes(block.granule_ptr(s), POISON, (e - s) * GRANULE) };
    }
}
