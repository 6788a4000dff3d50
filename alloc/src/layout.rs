//! Sizes of granules, blocks and chunks, and everything derived from them.
//!
//! | unit    | normal  | under miri | under loom |
//! |---------|---------|------------|------------|
//! | granule | 16 B    | 16 B       | 16 B       |
//! | block   | 32 KiB  | 4 KiB      | 1 KiB      |
//! | chunk   | 16 MiB  | 128 KiB    | 16 KiB     |
//!
//! Constants shrink under miri and loom (as crossbeam-epoch shrinks its bags)
//! so that the interpreters and model checkers stay fast; every other constant
//! is derived from these three, so the code paths are the same.
//!
//! Invariants:
//! - A granule is the unit of allocation and of every side bitmap: one mark bit
//!   and one start bit per granule. Every object starts on a granule boundary
//!   and its size is rounded up to whole granules.
//! - A chunk is `CHUNK_BYTES`-aligned, so the chunk that holds an address is
//!   found by masking. Its first `META_BLOCKS` blocks hold the chunk's metadata
//!   (see `chunk.rs`); the rest are data blocks.
//! - No small object crosses a block boundary.

/// log2 of the granule size: 16 bytes. (An 8-byte granule, step S2 of
/// the one-word header in docs/HEADER.md, was built behind a cfg and
/// removed with V4: each granule has a 12-byte pair of side slots, which
/// would outweigh an 8-byte granule.)
pub(crate) const LOG_GRANULE: usize = 4;
/// The unit of allocation: every object starts on a granule and is a whole number of them.
pub const GRANULE: usize = 1 << LOG_GRANULE;

/// Every heap address is below `2^ADDRESS_BITS`: a mapping that would
/// reach past it is refused (user-space addresses on x86-64 and AArch64
/// Linux are below 2^47 unless a program asks for more). The collector
/// keeps a chunk number in the bits above (large arrays' marking
/// continuations, AR3 of tmgc's `array.rs`).
pub const ADDRESS_BITS: u32 = 48;

#[cfg(not(any(miri, tmgc_loom)))]
const LOG_BLOCK: usize = 15;
#[cfg(all(miri, not(tmgc_loom)))]
const LOG_BLOCK: usize = 12;
#[cfg(tmgc_loom)]
const LOG_BLOCK: usize = 10;

#[cfg(not(any(miri, tmgc_loom)))]
const LOG_CHUNK: usize = 24;
#[cfg(all(miri, not(tmgc_loom)))]
const LOG_CHUNK: usize = 17;
#[cfg(tmgc_loom)]
const LOG_CHUNK: usize = 14;

/// Size of a block, the unit a thread-local allocator takes from the pool.
pub const BLOCK_BYTES: usize = 1 << LOG_BLOCK;
/// Size and alignment of a chunk, the unit of memory taken from the OS.
pub const CHUNK_BYTES: usize = 1 << LOG_CHUNK;
/// Granules in one chunk: each has an entry and a version-lock slot in
/// the chunk's side tables (`side.rs`).
#[cfg(not(tmgc_loom))]
pub(crate) const CHUNK_GRANULES: usize = CHUNK_BYTES / GRANULE;
/// Granules in one block.
pub(crate) const BLOCK_GRANULES: usize = BLOCK_BYTES / GRANULE;
/// Words in one per-block side bitmap (one bit per granule).
pub(crate) const BITMAP_WORDS: usize = BLOCK_GRANULES / 64;
const _: () = assert!(BITMAP_WORDS.is_power_of_two());
/// Blocks in one chunk, metadata blocks included.
pub(crate) const BLOCKS_PER_CHUNK: usize = CHUNK_BYTES / BLOCK_BYTES;
/// Words in one per-chunk block bitmap (one bit per block).
pub(crate) const CHUNK_BITMAP_WORDS: usize = BLOCKS_PER_CHUNK.div_ceil(64);

/// Objects larger than this go to the large-object space, each in its own
/// mapping. A quarter block: an object that size wastes at most a quarter of a
/// block when it ends a hole, and larger ones are rare enough that a system
/// call each costs little next to initialising them.
pub const LARGE_THRESHOLD: usize = BLOCK_BYTES / 4;

/// Largest alignment an allocation may ask for: a page, or a quarter block
/// where blocks are smaller (under miri and loom).
pub const MAX_ALIGN: usize = if BLOCK_BYTES / 4 < 4096 { BLOCK_BYTES / 4 } else { 4096 };

/// Holes smaller than this many granules are not offered for reuse by the
/// sweep (they stay free and merge with their neighbours when those die).
pub(crate) const MIN_HOLE_GRANULES: usize = 2;

const _: () = assert!(BLOCK_GRANULES % 64 == 0, "bitmaps are whole words");
const _: () = assert!(LARGE_THRESHOLD < BLOCK_BYTES);
const _: () = assert!(MAX_ALIGN <= BLOCK_BYTES);

/// Round `size` up to whole granules. `size` must be at most `isize::MAX`.
#[inline(always)]
pub(crate) const fn granule_round(size: usize) -> usize {
    (size + GRANULE - 1) & !(GRANULE - 1)
}
