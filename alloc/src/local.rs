//! The thread-local bump allocator.
//!
//! ## Fast path
//! `cursor` and `limit` bound the current *region* (a hole or a whole fresh
//! block). An allocation that fits is a compare, an add, and a one-byte
//! store that stages its start bit (A5). No atomic, no lock, no thread-local
//! lookup, and no load that depends on the previous allocation's store. `cursor` and `limit` start out null, so the first
//! allocation takes the slow path without an "initialised?" test.
//!
//! ## Slow path (`#[cold]`), in order
//! 1. the next hole of a block this allocator owns (`pending`, then the
//!    unread rest of the last claimed block's hole chain, `chain`: read one
//!    hole at a time, HC1 of `holes.rs`);
//! 2. a RECYCLABLE block swept in the current epoch whose largest hole fits;
//! 3. a block still unswept in the current epoch, swept here (lazy sweep);
//! 4. a FREE block from the pool (counted against the heap limit);
//! 5. a new chunk from the OS.
//!
//! ## Invariants
//! - (A1) Every block in `owned` is in state ALLOC and owned by this
//!   allocator; the current region, every pending region and the unread
//!   chain lie in one of them.
//! - (A2) A region is entered at a granule with no live cell inside it; when it
//!   is left, a filler start bit is set at the cursor if space remains, so the
//!   block's cell partition (sweep.rs, (P)) holds once the block is retired.
//!   Alignment padding is a filler too; while a checkpoint is open it is
//!   logged (`LogEntry::Filler`), so that within the ranges a checkpoint
//!   covers, every start bit but a logged filler and each left region's
//!   end marker is an object allocated since (`allocated_since`).
//! - (A3) Objects in `[black_from, cursor)` were allocated black; their mark
//!   bits are set (flushed) when the region is left, the colour changes, or
//!   `flush_marks` is called. Until then a marker may see them unmarked and
//!   trace them once more, which is harmless.
//! - (A5) Start bits of the bitmap word the cursor is in are *staged*: one
//!   byte per granule in the allocator, folded into the block's bitmap (one
//!   `or`) when the cursor moves to the next word, and before anything reads
//!   or changes the bitmap (leaving a region, the slow path, rewind,
//!   `flush_marks`). A read-modify-write of the bitmap word per allocation
//!   would chain consecutive allocations through store forwarding and double
//!   the cost of the fast path (measured: docs/PERFORMANCE.md).
//! - (A4) While a checkpoint is open, no owned block is retired, so
//!   everything allocated since the checkpoint is still in this allocator's
//!   hands: `rewind` can give it back exactly, and `allocated_since` can
//!   list it.
//! - (A6) When the last checkpoint closes, the allocator keeps at most
//!   [`FREE_KEEP`] wholly free blocks (one pending region covering the
//!   block) and gives the rest back to the pool (`give_back_free_blocks`).
//!   So what a thread owns between transactions is bounded by what it
//!   holds live plus `FREE_KEEP` blocks, and so is the work of its SWEEP
//!   answer (`retire_all`), which is a pause.
//! - (A7) `objects` counts the objects allocated and not rewound: each
//!   start bit a flush of the stage folds in, each one the slow path sets
//!   for an object (not for a filler or an end marker), each large object.
//!   A checkpoint records it after flushing the stage, and a rewind
//!   restores it, so what a checkpoint covers counts as a subtraction
//!   (`count_since`), where a population count of its ranges read the
//!   start bitmap of every block a large transaction filled again.

use std::ptr::{null_mut, NonNull};

use crate::bitmap;
use crate::block_life::{self, make_free, retire_block};
use crate::chunk::{pages, state, BlockRef};
use crate::holes::{ChainCursor, Free, Hole};
use crate::large::{self, LargePtr};
use crate::layout::*;
use crate::pool;
use crate::space::{Space, SpaceInner};
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::AllocError;

/// The colour new objects get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Unmarked: a new object survives the next sweep only if something marks it.
    White,
    /// Marked: a new object survives the sweep of the cycle being marked.
    Black,
}

/// A range of free granules `[start, end)` of an owned block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) block: BlockRef,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// What happened since the oldest open checkpoint (see `checkpoint.rs`).
#[derive(Debug)]
pub(crate) enum LogEntry {
    /// A region was left after bumping up to granule `used`.
    Region { region: Region, used: usize },
    /// A large object was allocated.
    Large(LargePtr),
    /// Alignment padding at this granule of this block became a free
    /// filler cell (A2): a start bit that is no object, which
    /// `allocated_since` must skip.
    Filler(BlockRef, usize),
}

/// The byte a staged start bit is written as (its top bit is what
/// `movemask` collects).
const STAGED: u8 = 0x80;

/// Staged start bits of one block, one byte per granule.
#[repr(C, align(64))]
struct Stage([u8; BLOCK_GRANULES]);

/// The top bits of 64 staged bytes as one bitmap word.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
fn gather(b: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_movemask_epi8};
    let mut bits = 0u64;
    for (i, chunk) in b.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of x86-64; `chunk` is 16 readable bytes.
        let m = unsafe { _mm_movemask_epi8(_mm_loadu_si128(chunk.as_ptr().cast::<__m128i>())) };
        bits |= u64::from(m as u16) << (16 * i);
    }
    bits
}

/// The top bits of 64 staged bytes as one bitmap word.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
#[inline]
fn gather(b: &[u8; 64]) -> u64 {
    b.iter().enumerate().fold(0, |bits, (i, &x)| bits | (u64::from(x >> 7) << i))
}

/// A thread's allocator. Obtain one with [`Space::allocator`].
///
/// ```
/// use tmgc_alloc::{Config, Space};
/// let space = Space::new(Config::default()).unwrap();
/// let mut a = space.allocator();
/// let p = a.alloc(32, 8).unwrap();
/// assert_eq!(p.as_ptr() as usize % 16, 0);
/// assert!(a.alloc(0, 8).is_err());
/// ```
pub struct LocalAllocator {
    // Hot: the fast path touches only these fields.
    cursor: *mut u8,
    limit: *mut u8,
    /// One byte per granule of the current block: start bits not yet folded
    /// into the block's start bitmap (A5). Owned: from `Box::into_raw` of a
    /// `Stage`, freed in `Drop`, and only ever accessed through this pointer.
    stage: *mut u8,
    /// `stage` less the current block's first granule number (the block's
    /// address over `GRANULE`), so that the fast path finds an object's
    /// staged byte at `stage_bias + address / GRANULE` with no mask. Only
    /// offset by wrapping arithmetic, and only dereferenced at an address
    /// inside the current region, whose bytes lie in `stage`.
    stage_bias: *mut u8,
    starts: *const AtomicU64,
    // Cold.
    /// First granule of the current block whose start bit may be staged.
    stage_from: usize,
    /// (A7) Objects whose start bits are in the bitmaps (flushed from the
    /// stage, or set by the slow path) or that are large, since this
    /// allocator began, less those rewound: fillers and end markers are
    /// not counted. A checkpoint records it, so `count_since` is a
    /// subtraction, not a population count of the ranges it covers.
    pub(crate) objects: u64,
    pub(crate) black: bool,
    pub(crate) black_from: *mut u8,
    pub(crate) region_start: *mut u8,
    pub(crate) block: Option<BlockRef>,
    pub(crate) pending: Vec<Region>,
    /// The unread rest of the last claimed block's hole chain, used once
    /// `pending` is empty (HC1 of `holes.rs`).
    chain: Option<ChainCursor>,
    pub(crate) owned: Vec<BlockRef>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) open: u32,
    /// Serial numbers of the open checkpoints, outermost first.
    pub(crate) serials: Vec<u64>,
    pub(crate) next_serial: u64,
    pub(crate) id: u64,
    pub(crate) retired_bytes: i64,
    folded: i64,
    chunk_cursor: usize,
    lazy_drop_sweep: bool,
    /// A6: the wholly free blocks kept when the last checkpoint closes
    /// ([`FREE_KEEP`]; unit tests set fewer).
    pub(crate) free_keep: usize,
    pub(crate) space: Arc<SpaceInner>,
}

// SAFETY: every raw pointer in a LocalAllocator points into blocks it owns
// (A1) or is null; ownership is recorded in shared atomic block states, not
// tied to a thread, so the allocator may move to another thread.
unsafe impl Send for LocalAllocator {}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// How far ahead of the cursor the fast path prefetches a cache line
/// (x86-64 `_MM_HINT_ET0`: `prefetchw` where the build enables the
/// `prfchw` target feature, `prefetcht0` in a baseline build): the next
/// objects are stored into memory no one has touched since it was swept
/// or mapped, and each store to a line not in the cache waits for it (the
/// binary-trees profile). 2 KiB, measured against 512 bytes and none,
/// whole-process A/B, 3 pairs each on an AMD EPYC (Zen 2) VM, baseline
/// build (`prefetcht0`): binary-trees N=21 (generational) 0.97x wall,
/// alloc-rate 0.96x, GCBench 0.97x; 512 bytes gave 0.98x on binary-trees.
/// `prefetchw` forced with inline assembly measured the same as
/// `prefetcht0` (GCBench 1.02x, binary-trees 0.99x; the replacement is
/// in docs/PERFORMANCE.md), so the portable intrinsic stays.
const PREFETCH_AHEAD: usize = 2048;

/// A6: how many wholly free blocks (16 MiB) an allocator keeps for its
/// next allocations when its last checkpoint closes; `give_back_free_blocks`
/// returns the rest to the pool. A transaction that built and gave back a
/// large private structure (binary-trees' stretch tree: 8,192 blocks)
/// would otherwise keep all of it owned: out of the pool and its
/// decommit, and each block one more to retire in the thread's SWEEP
/// answer, a pause (about 0.25 µs a block: 1 ms for 4,096 blocks). Each
/// block given back and claimed again costs a few atomic operations on
/// the pool's shared words: with 64 kept, binary-trees on two threads
/// (each building and giving back trees of up to 2,048 blocks) took
/// 1.06x the wall time and 1.09x the CPU of keeping them all (6 pairs),
/// with 512 0.997x the wall time and 0.95x the CPU; its largest pause is
/// 112-125 µs with 512, 61-90 µs with 64 (AMD EPYC Zen 3 VM;
/// docs/PERFORMANCE.md, "the quiet solo commit (SQ1) and A6", names the
/// commands).
pub(crate) const FREE_KEEP: usize = 512;

/// The allocator's id and the bytes it has in hand; no pointer is read.
impl std::fmt::Debug for LocalAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAllocator")
            .field("id", &self.id)
            .field("region_bytes", &self.limit.addr().wrapping_sub(self.cursor.addr()))
            .finish_non_exhaustive()
    }
}

impl LocalAllocator {
    pub(crate) fn new(space: Arc<SpaceInner>) -> Self {
        LocalAllocator {
            cursor: null_mut(),
            limit: null_mut(),
            stage: Box::into_raw(Box::new(Stage([0; BLOCK_GRANULES]))).cast::<u8>(),
            stage_bias: null_mut(),
            starts: std::ptr::null(),
            stage_from: 0,
            objects: 0,
            black: false,
            black_from: null_mut(),
            region_start: null_mut(),
            block: None,
            pending: Vec::new(),
            chain: None,
            owned: Vec::new(),
            log: Vec::new(),
            open: 0,
            serials: Vec::new(),
            next_serial: 0,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            retired_bytes: 0,
            folded: 0,
            chunk_cursor: 0,
            lazy_drop_sweep: true,
            free_keep: FREE_KEEP,
            space,
        }
    }

    /// Allocate `size` bytes aligned to `align`. The memory is uninitialised.
    ///
    /// Errors: [`AllocError::ZeroSize`], [`AllocError::BadAlign`],
    /// [`AllocError::TooLarge`], [`AllocError::HeapExhausted`],
    /// [`AllocError::OutOfMemory`]. On error nothing changes.
    #[inline(always)]
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<NonNull<u8>, AllocError> {
        if size.wrapping_sub(1) < LARGE_THRESHOLD && align.is_power_of_two() && align <= GRANULE {
            let size = granule_round(size);
            let p = self.cursor;
            if size <= self.limit.addr().wrapping_sub(p.addr()) {
                // SAFETY: `size <= limit - cursor`, so `p + size` stays in the
                // current region of an owned block (A1), and `p` is not null;
                // `stage_bias + p / GRANULE` is `stage` plus p's granule in
                // that block, below BLOCK_GRANULES, the stage's length.
                unsafe {
                    self.cursor = p.add(size);
                    // The start bit is staged by a byte store, no load:
                    // nothing chains one allocation to the next through
                    // memory (A5).
                    *self.stage_bias.wrapping_add(p.addr() >> LOG_GRANULE) = STAGED;
                    // A hint, never a fault: it may point past the region.
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_ET0 }>(
                        p.wrapping_add(PREFETCH_AHEAD).cast(),
                    );
                    return Ok(NonNull::new_unchecked(p));
                }
            }
        }
        self.alloc_slow(size, align, false)
    }

    /// Fold staged start bits `[stage_from, cursor)` into the current
    /// block's start bitmap and clear them from the stage (A5). Inlined:
    /// most calls (a checkpoint, a rewind, the second of a commit's
    /// reads) find nothing staged, and return after one comparison.
    #[inline]
    pub(crate) fn flush_stage(&mut self) {
        if let Some(b) = self.block {
            if self.stage_from < b.granule_of(self.cursor) {
                self.flush_staged(b);
            }
        }
    }

    /// `flush_stage` with something staged in `b`, the current block.
    #[inline(never)]
    fn flush_staged(&mut self, b: BlockRef) {
        let from = self.stage_from;
        let to = b.granule_of(self.cursor);
        let starts = b.starts();
        let mut objects = 0;
        for (w, start_word) in starts.iter().enumerate().take((to - 1) / 64 + 1).skip(from / 64) {
            // SAFETY: `stage` is our own BLOCK_GRANULES-byte buffer and
            // `w * 64 + 64 <= BLOCK_GRANULES`; no other reference to it exists.
            let chunk = unsafe { &mut *self.stage.add(w * 64).cast::<[u8; 64]>() };
            let bits = gather(chunk);
            if bits != 0 {
                objects += u64::from(bits.count_ones());
                *chunk = [0; 64];
                // Plain load and store: only the owner writes this bitmap (A1).
                start_word.store(start_word.load(Ordering::Relaxed) | bits, Ordering::Relaxed);
            }
        }
        self.stage_from = to;
        self.objects += objects; // A7
    }

    /// Allocate an object whose destructor must run when a sweep frees it:
    /// the space's drop hook is called with its address then.
    pub fn alloc_needs_drop(&mut self, size: usize, align: usize) -> Result<NonNull<u8>, AllocError> {
        if size > LARGE_THRESHOLD {
            return self.alloc_slow(size, align, true);
        }
        let p = self.alloc(size, align)?;
        let block = self.block.expect("a small allocation has a current block");
        let g = block.granule_of(p.as_ptr());
        bitmap::set_owned(&block.drop_bits_or_init().0, g);
        Ok(p)
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, size: usize, align: usize, needs_drop: bool) -> Result<NonNull<u8>, AllocError> {
        self.flush_stage();
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(AllocError::BadAlign { align });
        }
        let max = self.space.max_object_bytes();
        if size > max {
            return Err(AllocError::TooLarge { size, max });
        }
        let rsize = granule_round(size);
        if rsize > LARGE_THRESHOLD {
            let ptr = large::alloc_large(&self.space, rsize, align, self.black, needs_drop, self.open > 0)?;
            self.retired_bytes += rsize as i64;
            self.objects += 1;
            if self.open > 0 {
                self.log.push(LogEntry::Large(ptr));
            }
            self.maybe_fold();
            return Ok(ptr.object());
        }
        let need = rsize / GRANULE + align.max(GRANULE) / GRANULE - 1;
        loop {
            let p = self.cursor.map_addr(|a| (a + align - 1) & !(align - 1));
            if !self.cursor.is_null() && p.addr() + rsize <= self.limit.addr() {
                let block = self.block.expect("a region has a block");
                if p != self.cursor {
                    // Alignment padding becomes a free filler cell (A2). Under
                    // black allocation, flush the marks below it first so the
                    // filler is never copied into the mark bitmap (A3).
                    if self.black {
                        let from = block.granule_of(self.black_from);
                        bitmap::or_range_from(block.marks(), block.starts(), from, block.granule_of(self.cursor));
                        self.black_from = p;
                    }
                    bitmap::set_owned(block.starts(), block.granule_of(self.cursor));
                    if self.open > 0 {
                        self.log.push(LogEntry::Filler(block, block.granule_of(self.cursor)));
                    }
                }
                let g = block.granule_of(p);
                bitmap::set_owned(block.starts(), g);
                self.objects += 1;
                if needs_drop {
                    bitmap::set_owned(&block.drop_bits_or_init().0, g);
                }
                // SAFETY: `p + rsize <= limit`, inside the region.
                self.cursor = unsafe { p.add(rsize) };
                // SAFETY: inside a mapped block, so non-null.
                return Ok(unsafe { NonNull::new_unchecked(p) });
            }
            self.next_region(need)?;
        }
    }

    /// Leave the current region and enter one with at least `need` granules.
    /// On error nothing has changed: the region, the pending holes and the
    /// log are as they were, and no block was retired.
    fn next_region(&mut self, need: usize) -> Result<(), AllocError> {
        let saved = self.block.map(|b| {
            (b, b.granule_of(self.region_start), b.granule_of(self.cursor), b.granule_of(self.limit), self.black_from)
        });
        let (log_len, retired) = (self.log.len(), self.retired_bytes);
        self.leave_region();
        let mut skipped = Vec::new();
        while let Some(r) = self.next_pending() {
            if r.end - r.start >= need {
                self.enter_region(r);
                self.retire_finished();
                return Ok(());
            }
            // Too small for this request: skip it, leaving a free filler (A2).
            bitmap::set_owned(r.block.starts(), r.start);
            if self.open > 0 {
                self.log.push(LogEntry::Region { region: r, used: r.start });
            }
            skipped.push(r);
        }
        match self.claim_block(need) {
            Ok((block, free)) => {
                // Ours to allocate in: its next sweep is a full one (SW3).
                block.meta().clean.store(false, Ordering::Relaxed);
                self.retire_finished();
                self.owned.push(block);
                self.chunk_cursor = block.chunk().head.index as usize;
                debug_assert!(self.chain.is_none(), "a block claimed before the last one's chain was read");
                match free {
                    Free::Whole => self.pending.push(Region { block, start: 0, end: BLOCK_GRANULES }),
                    Free::Chain(first) => self.chain = ChainCursor::new(block, first),
                }
                // The claim guarantees one hole fits; skip the ones before it.
                self.next_region_from_pending(need);
                Ok(())
            }
            Err(e) => {
                self.pending.extend(skipped.into_iter().rev());
                self.log.truncate(log_len);
                if let Some((b, start, cursor, end, black_from)) = saved {
                    // Remove the filler leaving set, and resume where we were.
                    bitmap::clear_range_owned(b.starts(), cursor, (cursor + 1).min(end));
                    self.restore_region(b, start, cursor, end);
                    self.black_from = black_from;
                }
                self.retired_bytes = retired;
                Err(e)
            }
        }
    }

    /// The next free region: a pending one, else the next hole of the
    /// unread chain.
    #[inline]
    fn next_pending(&mut self) -> Option<Region> {
        self.pending.pop().or_else(|| self.next_chain_hole())
    }

    /// Read the next hole of the unread chain, if any.
    fn next_chain_hole(&mut self) -> Option<Region> {
        let cursor = self.chain.take()?;
        let block = cursor.block;
        // SAFETY: the chain of a block we own (A1), its holes from here on
        // unread until now and so untouched (HC1).
        let (h, rest) = unsafe { cursor.read() };
        self.chain = rest;
        Some(Region { block, start: h.start, end: h.start + h.len })
    }

    /// Read the rest of the chain into `pending` (below the regions
    /// already there, so the order of use stays the same).
    fn read_whole_chain(&mut self) {
        let mut rest: Vec<Region> = std::iter::from_fn(|| self.next_chain_hole()).collect();
        rest.reverse();
        rest.append(&mut self.pending);
        self.pending = rest;
    }

    fn next_region_from_pending(&mut self, need: usize) {
        while let Some(r) = self.next_pending() {
            if r.end - r.start >= need {
                self.enter_region(r);
                return;
            }
            bitmap::set_owned(r.block.starts(), r.start);
            if self.open > 0 {
                self.log.push(LogEntry::Region { region: r, used: r.start });
            }
        }
        unreachable!("a claimed block has a hole that fits");
    }

    pub(crate) fn enter_region(&mut self, r: Region) {
        debug_assert!(self.block.is_none(), "entering a region without leaving the last");
        debug_assert_eq!(pool::state_of(r.block), state::ALLOC, "entering a region of a block not owned");
        self.set_block(r.block);
        self.cursor = r.block.granule_ptr(r.start);
        self.limit = r.block.granule_ptr(r.end);
        self.region_start = self.cursor;
        self.black_from = self.cursor;
        self.stage_from = r.start;
    }

    /// Leave the current region: flush black marks, set the filler (A2),
    /// account and log it. Idempotent.
    pub(crate) fn leave_region(&mut self) {
        self.flush_stage();
        let Some(b) = self.block.take() else { return };
        let start = b.granule_of(self.region_start);
        let used = b.granule_of(self.cursor);
        let end = b.granule_of(self.limit);
        if self.black {
            bitmap::or_range_from(b.marks(), b.starts(), b.granule_of(self.black_from), used);
        }
        if used < end {
            bitmap::set_owned(b.starts(), used);
        }
        self.retired_bytes += ((used - start) * GRANULE) as i64;
        if self.open > 0 {
            self.log.push(LogEntry::Region { region: Region { block: b, start, end }, used });
        }
        self.cursor = null_mut();
        self.limit = null_mut();
        self.region_start = null_mut();
        self.black_from = null_mut();
        self.maybe_fold();
    }

    /// Claim a block with a hole of at least `need` granules; returns it
    /// (state ALLOC, owned by us) with its free space.
    fn claim_block(&mut self, need: usize) -> Result<(BlockRef, Free), AllocError> {
        let space = Arc::clone(&self.space);
        let table = &space.chunks;
        let epoch = space.sweep_epoch.load(Ordering::SeqCst);

        // 2. A recyclable block swept in this epoch.
        if let Some(r) = block_life::claim_recyclable(&space, self.chunk_cursor, need, epoch) {
            return Ok(r);
        }

        // 3. Lazy sweep.
        if let Some(r) = block_life::lazy_sweep(&space, self.chunk_cursor, epoch, need, self.lazy_drop_sweep) {
            return Ok(r);
        }

        // 4. A free block; 5. a new chunk.
        let reserved = space.reserve_heap(BLOCK_BYTES)?;
        loop {
            let seen = table.len();
            if let Some(b) = block_life::claim_free(table, &space.sweep_epoch, self.chunk_cursor) {
                let c = b.chunk();
                if !c.touched.load(Ordering::Relaxed) {
                    c.touched.store(true, Ordering::Relaxed);
                }
                if c.decommitted.load(Ordering::Relaxed) {
                    c.decommitted.store(false, Ordering::Relaxed);
                }
                // DC1, DC2 of `decommit.rs`: ours now, so only we write it.
                if b.meta().pages.load(Ordering::Relaxed) != pages::RESIDENT {
                    b.meta().pages.store(pages::RESIDENT, Ordering::Relaxed);
                    space.committed_bytes.fetch_add(BLOCK_BYTES, Ordering::Relaxed);
                }
                space.note_peak(reserved);
                return Ok((b, Free::Whole));
            }
            if space.map_faults.refuse(crate::MapSite::Chunk) {
                // An injected refusal, on the real one's path (FI1).
                space.unreserve_heap(BLOCK_BYTES);
                return Err(AllocError::OutOfMemory { requested: CHUNK_BYTES });
            }
            match table.grow(space.config.get_huge_pages(), seen) {
                Ok(mapped) => {
                    if mapped {
                        // Its metadata; each block counts once claimed (DC2).
                        space.committed_bytes.fetch_add(crate::chunk::FIXED_META_BYTES, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    space.unreserve_heap(BLOCK_BYTES);
                    return Err(match (e, space.config.get_heap_limit()) {
                        (pool::GrowError::TableFull, Some(limit)) => AllocError::HeapExhausted {
                            requested: BLOCK_BYTES,
                            heap_bytes: space.heap_bytes.load(Ordering::Relaxed),
                            limit,
                        },
                        _ => AllocError::OutOfMemory { requested: CHUNK_BYTES },
                    });
                }
            }
        }
    }

    /// Give back to the pool the wholly free owned blocks past the
    /// [`FREE_KEEP`] used next (A6), unless a checkpoint is open (A4). A
    /// block is wholly free when one pending region covers it: a region is
    /// entered only at a granule with no live cell in it and runs to the
    /// next one (A2), and a rewind clears the start, mark and drop bits of
    /// what it gives back. `release` calls this as the last checkpoint
    /// closes; it costs one test unless more than `FREE_KEEP` regions are
    /// pending.
    pub(crate) fn give_back_free_blocks(&mut self) {
        if self.open > 0 || self.pending.len() <= self.free_keep {
            return;
        }
        let busy = [self.block, self.chain.as_ref().map(|c| c.block)];
        // `pending` is used from its end: keep the first `free_keep` whole
        // blocks found from there.
        let mut whole = 0;
        let mut extra: Vec<(usize, usize)> = Vec::new();
        for r in self.pending.iter().rev() {
            if r.start == 0 && r.end == BLOCK_GRANULES && !busy.contains(&Some(r.block)) {
                whole += 1;
                if whole > self.free_keep {
                    extra.push(r.block.key());
                }
            }
        }
        if extra.is_empty() {
            return;
        }
        extra.sort_unstable();
        extra.dedup();
        let gone = |b: BlockRef| extra.binary_search(&b.key()).is_ok();
        self.pending.retain(|r| !gone(r.block));
        let space = &self.space;
        let mut first_chunk = usize::MAX;
        self.owned.retain(|&b| {
            if gone(b) {
                debug_assert!(bitmap::next_set(b.starts(), 0).is_none(), "a wholly free block holds a start bit");
                make_free(space, b);
                first_chunk = first_chunk.min(b.chunk().head.index as usize);
            }
            !gone(b)
        });
        // The next claim searches from the first chunk given back to: its
        // pages are resident, where a chunk further on may hold blocks never
        // touched (GCBench's peak RSS: 216.5 MiB searching on, 204 back).
        if first_chunk != usize::MAX {
            self.chunk_cursor = first_chunk;
        }
    }

    /// Retire owned blocks that have no region left in use, unless a
    /// checkpoint is open (A4). The slow path does this when it takes a new
    /// region with no checkpoint open; a caller whose allocations all happen
    /// under checkpoints (transactions) calls it between them, or the
    /// filled blocks pile up until [`LocalAllocator::retire_all`], which
    /// then has that much more to do.
    pub fn retire_finished(&mut self) {
        if self.open > 0 {
            return;
        }
        let current = self.block;
        // The blocks with a pending region: a scan of `pending` per owned
        // block is O(owned x pending) (see `retire_all`), so past a few
        // regions they are sorted once and searched.
        let few = self.pending.len() <= 16;
        let mut sorted: Vec<(usize, usize)> = Vec::new();
        if !few {
            sorted.extend(self.pending.iter().map(|r| r.block.key()));
            sorted.sort_unstable();
        }
        let pending = &self.pending;
        let has_pending = |b: BlockRef| {
            if few {
                pending.iter().any(|r| r.block == b)
            } else {
                sorted.binary_search(&b.key()).is_ok()
            }
        };
        let chain = self.chain.as_ref().map(|c| c.block);
        let space = &self.space;
        self.owned.retain(|&b| {
            let busy = Some(b) == current || Some(b) == chain || has_pending(b);
            if !busy {
                retire_block(space, b, &[]);
            }
            busy
        });
    }

    /// Give every block this allocator owns back to the space: holes it has
    /// not used become a RECYCLABLE block's chain. Call at a commit point;
    /// the next allocation takes a fresh region. Fails while a checkpoint is open.
    pub fn retire_all(&mut self) -> Result<(), AllocError> {
        if self.open > 0 {
            return Err(AllocError::CheckpointOpen);
        }
        let remainder = self.block.map(|b| (b, b.granule_of(self.cursor), b.granule_of(self.limit)));
        self.leave_region();
        if let Some((block, start, end)) = remainder.filter(|r| r.1 < r.2) {
            self.pending.push(Region { block, start, end });
        }
        self.read_whole_chain();
        // Each owned block's pending regions, in address order: one sort,
        // then a binary search per block. A scan of every pending region
        // per owned block was O(owned x pending): 15 ms, in one pause at
        // the SWEEP answer, for binary-trees N=21's 4,096 owned blocks.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable_by_key(|r| (r.block.key(), r.start));
        let mut regions: Vec<Hole> = Vec::new();
        for b in std::mem::take(&mut self.owned) {
            let from = pending.partition_point(|r| r.block.key() < b.key());
            let to = from + pending[from..].partition_point(|r| r.block == b);
            regions.clear();
            regions.extend(pending[from..to].iter().map(|r| Hole { start: r.start, len: r.end - r.start }));
            retire_block(&self.space, b, &regions);
        }
        self.fold_now();
        Ok(())
    }

    /// Choose the colour of the objects allocated from now on.
    pub fn set_colour(&mut self, colour: Colour) {
        self.flush_marks();
        self.black = colour == Colour::Black;
    }

    /// The colour new objects get.
    pub fn colour(&self) -> Colour {
        if self.black {
            Colour::Black
        } else {
            Colour::White
        }
    }

    /// Publish the start bits of recent allocations (A5) and set the mark
    /// bits of every object allocated black so far (A3). A collector calls
    /// this at commit points before anyone else reads this allocator's blocks.
    pub fn flush_marks(&mut self) {
        self.flush_stage();
        if let (true, Some(b)) = (self.black, self.block) {
            bitmap::or_range_from(b.marks(), b.starts(), b.granule_of(self.black_from), b.granule_of(self.cursor));
        }
        self.black_from = self.cursor;
    }

    /// Whether the lazy sweep of the slow path may sweep blocks holding
    /// objects with destructors (and so run destructors). A collector turns
    /// this off while a transaction runs, so destructors never run inside one.
    pub fn set_lazy_drop_sweep(&mut self, allowed: bool) {
        self.lazy_drop_sweep = allowed;
    }

    /// Bytes this allocator has allocated (and not rewound) over its life.
    pub fn allocated_bytes(&self) -> u64 {
        (self.retired_bytes + (self.cursor.addr() - self.region_start.addr()) as i64) as u64
    }

    /// A handle on the space this allocator takes memory from.
    pub fn space(&self) -> Space {
        Space { inner: Arc::clone(&self.space) }
    }

    /// A unique id (checkpoints carry it).
    pub fn id(&self) -> u64 {
        self.id
    }

    fn maybe_fold(&mut self) {
        let delta = self.retired_bytes - self.folded;
        if delta.unsigned_abs() as usize >= self.space.config.get_fold_bytes() {
            self.fold_now();
        }
    }

    /// Add this allocator's unreported bytes to the space's counter.
    pub(crate) fn fold_now(&mut self) {
        let delta = self.retired_bytes - self.folded;
        if delta != 0 {
            self.space.allocated.fetch_add(delta, Ordering::Relaxed);
            self.folded = self.retired_bytes;
        }
    }

    /// Make granules `[start, end)` of `block` the current region again
    /// with the cursor at `cursor`, for the fast path (a rewind restoring
    /// the region current at its checkpoint).
    pub(crate) fn restore_region(&mut self, block: BlockRef, start: usize, cursor: usize, end: usize) {
        self.flush_stage();
        self.set_block(block);
        self.region_start = block.granule_ptr(start);
        self.cursor = block.granule_ptr(cursor);
        self.limit = block.granule_ptr(end);
        self.stage_from = cursor;
    }

    /// Make `block` the current block: the fast path's pointers into its
    /// start bitmap and into the stage (`stage_bias`) follow it.
    fn set_block(&mut self, block: BlockRef) {
        self.block = Some(block);
        self.starts = block.starts().as_ptr();
        self.stage_bias = self.stage.wrapping_sub(block.granule_ptr(0).addr() >> LOG_GRANULE);
    }

    pub(crate) fn cursor(&self) -> *mut u8 {
        self.cursor
    }

    pub(crate) fn limit(&self) -> *mut u8 {
        self.limit
    }

    pub(crate) fn clear_region(&mut self) {
        self.flush_stage();
        self.block = None;
        self.cursor = null_mut();
        self.limit = null_mut();
        self.region_start = null_mut();
        self.black_from = null_mut();
    }
}

impl Drop for LocalAllocator {
    fn drop(&mut self) {
        // Open checkpoints end with the allocator: what they cover stays allocated.
        self.open = 0;
        self.serials.clear();
        self.end_checkpoints();
        let _ = self.retire_all();
        // SAFETY: `stage` came from Box::into_raw of a Stage in `new` and is
        // freed only here.
        drop(unsafe { Box::from_raw(self.stage.cast::<Stage>()) });
    }
}

#[cfg(all(test, not(tmgc_loom)))]
mod stage_tests {
    use super::*;

    #[test]
    fn gather_matches_a_naive_fold() {
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut st = [0u8; 64];
            for (i, b) in st.iter_mut().enumerate() {
                if x >> i & 1 == 1 {
                    *b = STAGED;
                }
            }
            assert_eq!(gather(&st), x);
        }
    }

    #[test]
    fn staged_starts_are_published_by_flush() {
        let s = crate::Space::new(crate::Config::default()).unwrap();
        let mut a = s.allocator();
        let objs: Vec<_> = (0..300).map(|_| a.alloc(16, 8).unwrap()).collect();
        a.flush_marks();
        assert!(objs.iter().all(|p| s.is_cell_start(p.as_ptr())));
    }
}
