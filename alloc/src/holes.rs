//! The hole chain: free ranges of a swept block, linked through the free
//! memory itself.
//!
//! A hole is a run of free granules `[g, g + len)` whose first granule has a
//! start bit (a *filler* cell, never marked). Its first 8 bytes hold
//! `[next, len]` as two `u32`s: the granule index of the next hole (or
//! [`NO_HOLE`]) and the length in granules. The block's metadata points at
//! the first hole and records the largest. The chain lives in the holes, not
//! in the mark bitmap, so it stays valid after the next cycle clears marks.
//!
//! Only the block's owner reads or writes the chain (the block-state CAS
//! hands the memory over, so the plain accesses here never race).

use crate::chunk::BlockRef;
use crate::layout::MIN_HOLE_GRANULES;
use crate::sync::Ordering;

/// End of the chain.
pub(crate) const NO_HOLE: u32 = u32::MAX;

/// A free range `[start, start + len)` in granules of `block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hole {
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// Builds a chain in address order while a block is swept or retired.
pub(crate) struct ChainBuilder {
    block: BlockRef,
    first: u32,
    last: u32,
    max: usize,
}

impl ChainBuilder {
    pub(crate) fn new(block: BlockRef) -> Self {
        ChainBuilder { block, first: NO_HOLE, last: NO_HOLE, max: 0 }
    }

    /// Add a free run. Runs shorter than the minimum hole stay free but unlinked.
    pub(crate) fn push(&mut self, hole: Hole) {
        if hole.len < MIN_HOLE_GRANULES {
            return;
        }
        // SAFETY: the caller owns the block and `hole` is free memory in it.
        unsafe { write_header(self.block, hole.start, NO_HOLE, hole.len as u32) };
        if self.last == NO_HOLE {
            self.first = hole.start as u32;
        } else {
            // SAFETY: `last` is a hole header this builder wrote.
            unsafe {
                let len = read_header(self.block, self.last as usize).1;
                write_header(self.block, self.last as usize, hole.start as u32, len);
            }
        }
        self.last = hole.start as u32;
        self.max = self.max.max(hole.len);
    }

    /// Record the chain in the block's metadata; returns the largest hole.
    pub(crate) fn finish(self) -> usize {
        let m = self.block.meta();
        m.first_hole.store(self.first, Ordering::Relaxed);
        m.max_hole.store(self.max as u32, Ordering::Relaxed);
        self.max
    }
}

/// The free space of a block an allocator has just claimed: all of it (a
/// FREE block), or its hole chain from the first hole, read one hole at a
/// time as the allocator needs the next one ([`ChainCursor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Free {
    /// The whole block is free (no chain was written in it).
    Whole,
    /// The chain starting at this granule.
    Chain(u32),
}

impl Free {
    /// The free space of an owned, swept block: its chain as the sweep (or
    /// a retire) recorded it.
    pub(crate) fn chain_of(block: BlockRef) -> Free {
        Free::Chain(block.meta().first_hole.load(Ordering::Relaxed))
    }
}

/// The unread rest of an owned block's hole chain: the next hole begins at
/// granule `next`. Reading a chain eagerly cost one dependent cache miss
/// per hole, all at the claim (`read_chain` took 13% of alloc-rate's
/// samples, 98% of it on the header load); read lazily, each hole's header
/// is loaded when the allocator comes to that hole, whose first line it is
/// about to write if it enters it. (Prefetching the next hole's header
/// as well measured no gain: alloc-rate and published binary-trees 0.99x
/// without it.)
///
/// Invariant (HC1): a chain hole not yet read is untouched: its owner
/// allocates only in regions it has read, and nobody else writes into a
/// block it owns, so the header the sweep wrote is still there.
///
/// Not `Copy`: `read` consumes it, so no position is read twice (a hole
/// once read may be written).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChainCursor {
    pub(crate) block: BlockRef,
    next: u32,
}

impl ChainCursor {
    /// A cursor at granule `first` of `block`'s chain; `None` for an empty chain.
    pub(crate) fn new(block: BlockRef, first: u32) -> Option<ChainCursor> {
        (first != NO_HOLE).then_some(ChainCursor { block, next: first })
    }

    /// Read the next hole; the cursor moves past it (`None` once the chain
    /// is done).
    ///
    /// # Safety
    /// The caller owns `block`, whose chain this cursor walks, and no hole
    /// from this position on has been read (so none written: HC1).
    pub(crate) unsafe fn read(self) -> (Hole, Option<ChainCursor>) {
        // SAFETY: the caller owns the block; `next` came from a chain a
        // sweep or retire of this block wrote, its holes unused since (HC1).
        let (next, len) = unsafe { read_header(self.block, self.next as usize) };
        let rest = ChainCursor::new(self.block, next);
        (Hole { start: self.next as usize, len: len as usize }, rest)
    }
}

/// # Safety
/// The caller owns `block` and granule `g` begins at least one free granule.
unsafe fn write_header(block: BlockRef, g: usize, next: u32, len: u32) {
    // SAFETY: granules are 16-byte aligned and 16 bytes long; a [u32; 2] needs 4 and 8.
    unsafe { block.granule_ptr(g).cast::<[u32; 2]>().write([next, len]) }
}

/// # Safety
/// The caller owns `block` and a header was written at granule `g`.
unsafe fn read_header(block: BlockRef, g: usize) -> (u32, u32) {
    // SAFETY: as for write_header; the header is initialised.
    let [next, len] = unsafe { block.granule_ptr(g).cast::<[u32; 2]>().read() };
    (next, len)
}
