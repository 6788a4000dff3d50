//! The block pool: the chunk table, the hint bitmaps, and the search that
//! claims a block through a hint.
//!
//! The block states, the claim CASes and the rule that keeps a stale hint
//! from losing a block (B1) are in `block_life.rs`; this module only finds
//! candidates. Finding is by three per-chunk **hint bitmaps** (free,
//! recyclable, unswept): [`claim_in_chunk`] first wins the hint bit with
//! `fetch_and` (so two claimers rarely chase the same block), then runs the
//! caller's state CAS. Hints may be stale: a stale hint just fails the CAS.
//!
//! There is no global lock on this path: only growing the chunk table takes
//! a mutex (once per chunk, 16 MiB).
//!
//! The chunk table is append-only while the space lives (chunk memory is
//! given back with `decommit`, never unmapped early), so a claimer can read
//! any chunk without a lock.

use std::ptr::NonNull;

use crate::chunk::{map_small, BlockRef, SmallChunk, DATA_BLOCKS, META_BLOCKS};
use crate::layout::*;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Which hint bitmap to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    Free,
    Recyclable,
    Unswept,
}

impl Hint {
    fn words(self, c: &SmallChunk) -> &[AtomicU64] {
        match self {
            Hint::Free => &c.free_hint,
            Hint::Recyclable => &c.recyclable_hint,
            Hint::Unswept => &c.unswept_hint,
        }
    }
}

/// Append-only table of small chunks.
pub(crate) struct ChunkTable {
    slots: Box<[AtomicPtr<SmallChunk>]>,
    len: AtomicUsize,
    grow: Mutex<()>,
}

impl ChunkTable {
    pub(crate) fn new(capacity: usize) -> Self {
        ChunkTable {
            slots: (0..capacity).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            len: AtomicUsize::new(0),
            grow: Mutex::new(()),
        }
    }

    /// Number of published chunks.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Chunk `i`, which must be `< len()`.
    pub(crate) fn get(&self, i: usize) -> NonNull<SmallChunk> {
        let p = self.slots[i].load(Ordering::Acquire);
        NonNull::new(p).expect("published chunk slot is set")
    }

    /// Every data block of every chunk.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = BlockRef> + '_ {
        (0..self.len()).flat_map(move |i| {
            let c = self.get(i);
            (META_BLOCKS..META_BLOCKS + DATA_BLOCKS).map(move |b| BlockRef::new(c, b))
        })
    }

    /// Map a new chunk and publish it, unless the table grew since the
    /// caller saw `seen_len` chunks (then look there first). Returns whether
    /// this call mapped a chunk.
    pub(crate) fn grow(&self, huge_pages: bool, seen_len: usize) -> Result<bool, GrowError> {
        let _g = self.grow.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.len.load(Ordering::Acquire);
        if n != seen_len {
            return Ok(false);
        }
        if n == self.slots.len() {
            return Err(GrowError::TableFull);
        }
        let c = map_small(n as u32, huge_pages).ok_or(GrowError::Os)?;
        self.slots[n].store(c.as_ptr(), Ordering::Release);
        self.len.store(n + 1, Ordering::Release);
        Ok(true)
    }

    /// All chunks, for teardown.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = NonNull<SmallChunk>> + '_ {
        let n = self.len.load(Ordering::Acquire);
        self.len.store(0, Ordering::Release);
        self.slots[..n].iter().filter_map(|s| NonNull::new(s.swap(std::ptr::null_mut(), Ordering::AcqRel)))
    }
}

/// Why the chunk table could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrowError {
    TableFull,
    Os,
}

/// Set the hint bit of `block` (after its state store, by B1).
pub(crate) fn set_hint(block: BlockRef, hint: Hint) {
    let (w, m) = crate::bitmap::locate(block.index());
    let word = &hint.words(block.chunk())[w];
    if word.load(Ordering::Relaxed) & m == 0 {
        word.fetch_or(m, Ordering::AcqRel);
    }
}

/// Try to claim one block of chunk `c` through `hint`. `accept` sees each
/// candidate before its hint is taken (to skip, say, recyclable blocks whose
/// largest hole is too small); `transition` attempts the state CAS and
/// returns whether it won.
pub(crate) fn claim_in_chunk(
    c: NonNull<SmallChunk>,
    hint: Hint,
    mut accept: impl FnMut(BlockRef) -> bool,
    mut transition: impl FnMut(BlockRef) -> bool,
) -> Option<BlockRef> {
    // SAFETY: chunks in the table stay mapped while the space lives (C2).
    let chunk = unsafe { c.as_ref() };
    for (w, word) in hint.words(chunk).iter().enumerate() {
        let mut v = word.load(Ordering::Relaxed);
        while v != 0 {
            let bit = v.trailing_zeros() as usize;
            let m = 1u64 << bit;
            v &= !m;
            let block = BlockRef::new(c, w * 64 + bit);
            if !accept(block) {
                continue;
            }
            let prev = word.fetch_and(!m, Ordering::AcqRel);
            if prev & m == 0 {
                continue; // another claimer took the hint
            }
            if transition(block) {
                return Some(block);
            }
        }
    }
    None
}

/// CAS a block's state from `from` to `to`.
#[inline]
pub(crate) fn cas_state(block: BlockRef, from: u8, to: u8) -> bool {
    block.meta().state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// The state of a block.
#[inline]
pub(crate) fn state_of(block: BlockRef) -> u8 {
    block.meta().state.load(Ordering::Acquire)
}

/// Visit chunks from `start`, wrapping around, until `f` returns `Some`.
pub(crate) fn for_each_chunk_from<T>(
    table: &ChunkTable,
    start: usize,
    mut f: impl FnMut(NonNull<SmallChunk>) -> Option<T>,
) -> Option<T> {
    let n = table.len();
    (0..n).find_map(|k| f(table.get((start + k) % n)))
}

/// Number of blocks in each state, for statistics.
pub(crate) fn census(table: &ChunkTable) -> [usize; 7] {
    let mut counts = [0usize; 7];
    for b in table.blocks() {
        counts[state_of(b) as usize] += 1;
    }
    counts
}

/// Bytes of data blocks a chunk holds.
pub(crate) const CHUNK_DATA_BYTES: usize = DATA_BLOCKS * BLOCK_BYTES;
