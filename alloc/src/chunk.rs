//! Chunks: `CHUNK_BYTES`-aligned mappings with their metadata at the base.
//!
//! A **small chunk** begins with a [`SmallChunk`] header that holds, side by
//! side, the per-chunk block hints, one [`BlockMeta`] per block, and the
//! mark and start bitmaps of every block; then every granule's side slots
//! ([`SIDE_OFFSET`]: 12 bytes a granule, so three quarters of the chunk's
//! address space, of which only the slots of objects that exist are ever
//! touched). They fill the first [`META_BLOCKS`] blocks; the remaining
//! blocks hold objects. Fixed metadata apart from the side tables is 9 blocks
//! (1.76% of a 16 MiB chunk); the side tables cost 4 bytes of resident
//! memory an object, and 8 more once it is published (`side.rs`).
//!
//! A **large chunk** holds one large object after a [`LargeChunk`] header.
//!
//! Both begin with a [`ChunkHead`], so masking any object address down to
//! its chunk base finds out which kind holds it.
//!
//! Invariants this module keeps:
//! - (C1) Every chunk is mapped zero-filled, and all-zero bytes are a valid
//!   value of every metadata type here (atomics have their integer's
//!   representation), so a fresh mapping needs only its non-zero fields set.
//!   Under loom, whose atomics are not plain integers, every field is written.
//! - (C2) A chunk's memory stays mapped until its `Space` is dropped: a
//!   [`BlockRef`] is only used by code that holds the space alive, so the
//!   references it hands out never dangle.
//! - (C3) `ChunkHead::kind` and `index` are written before the chunk is
//!   published (Release store into the chunk table) and never change.

use std::ptr::NonNull;

use crate::layout::*;
use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// The chunk holds blocks of small objects.
pub(crate) const KIND_SMALL: u8 = 1;
/// The chunk holds one large object.
pub(crate) const KIND_LARGE: u8 = 2;

/// The common prefix of every chunk.
#[repr(C)]
pub(crate) struct ChunkHead {
    pub(crate) kind: u8,
    pub(crate) index: u32,
}

/// Block states. The state is the truth about who owns a block; the
/// per-chunk hint bitmaps only help find candidates. Who moves a block
/// between them, and how: `block_life.rs`.
pub(crate) mod state {
    /// Empty, in the pool. Zero, so a fresh chunk's blocks start free.
    pub(crate) const FREE: u8 = 0;
    /// Owned by one local allocator.
    pub(crate) const ALLOC: u8 = 1;
    /// Holds objects; nobody owns it; no hole is offered.
    pub(crate) const USED: u8 = 2;
    /// Holds objects and a chain of holes valid for epoch `swept_epoch`.
    pub(crate) const RECYCLABLE: u8 = 3;
    /// Claimed by a sweeper (or by an allocator sweeping lazily).
    pub(crate) const SWEEPING: u8 = 4;
    /// Holds chunk metadata; never changes.
    pub(crate) const META: u8 = 5;
    /// Being claimed from the pool: empty, owned by its claimer, which
    /// stamps it with the current sweep epoch and then makes it ALLOC
    /// (`block_life::claim_free`). Holds nothing to sweep.
    pub(crate) const CLAIMING: u8 = 6;
}

/// Values of `BlockMeta::pages` (DC1 of `decommit.rs`).
pub(crate) mod pages {
    /// Never claimed since its chunk was mapped or decommitted whole: no
    /// page of it is resident, and giving it back would give nothing.
    pub(crate) const FRESH: u8 = 0;
    /// Claimed at least once since: its pages may be resident.
    pub(crate) const RESIDENT: u8 = 1;
    /// Given back alone (`decommit::release_free_blocks`) and not claimed
    /// since: its bytes are not counted in `committed_bytes`.
    pub(crate) const RELEASED: u8 = 2;
}

/// Per-block metadata. Fields are ordered largest first so that the
/// 64-bit epoch costs no padding: 32 bytes, as with the 32-bit epoch before.
#[repr(C)]
pub(crate) struct BlockMeta {
    /// The sweep epoch this block was last swept in (or claimed empty in).
    /// 64 bits: it never wraps (see `space.rs`, "Sweep epochs").
    pub(crate) swept_epoch: AtomicU64,
    /// Bitmap of objects that need a destructor, allocated on first use.
    pub(crate) drop_bits: AtomicPtr<DropBits>,
    /// Granules covered by live cells after the last sweep.
    pub(crate) live_granules: AtomicU32,
    /// Granule index of the first hole of the chain (meaningful in RECYCLABLE).
    pub(crate) first_hole: AtomicU32,
    /// Length in granules of the largest hole of the chain.
    pub(crate) max_hole: AtomicU32,
    /// One of [`state`]; changed by CAS (claims) or by the owner (releases).
    pub(crate) state: AtomicU8,
    /// (SW3 of `sweep.rs`) Swept, and since then neither owned by an
    /// allocator nor had its marks cleared: a sweep now would find what
    /// the last one found. Set by `sweep_block`; cleared by the allocator
    /// that claims the block and by `Space::clear_marks`.
    pub(crate) clean: AtomicBool,
    /// (DC1 of `decommit.rs`) Whether the block's pages may be resident:
    /// one of [`pages`]. Written only by whoever owns the block (the
    /// decommit lock, a claimer, a chunk-wide decommit holding every block).
    pub(crate) pages: AtomicU8,
}

#[cfg(all(target_pointer_width = "64", not(tmgc_loom)))]
const _: () = assert!(std::mem::size_of::<BlockMeta>() == 32, "block metadata grew");

/// One bit per granule: the object starting there needs its destructor run
/// when it dies. Only blocks that ever held such an object have one.
pub(crate) struct DropBits(pub(crate) [AtomicU64; BITMAP_WORDS]);

impl DropBits {
    pub(crate) fn new() -> Self {
        DropBits(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

type Bitmap = [AtomicU64; BITMAP_WORDS];

/// Header of a small chunk.
#[repr(C)]
pub(crate) struct SmallChunk {
    pub(crate) head: ChunkHead,
    /// Hint: block may be FREE.
    pub(crate) free_hint: [AtomicU64; CHUNK_BITMAP_WORDS],
    /// Hint: block may be RECYCLABLE.
    pub(crate) recyclable_hint: [AtomicU64; CHUNK_BITMAP_WORDS],
    /// Hint: block may need sweeping in the current epoch.
    pub(crate) unswept_hint: [AtomicU64; CHUNK_BITMAP_WORDS],
    /// The data pages were given back to the OS and not touched since.
    pub(crate) decommitted: AtomicBool,
    /// A block was claimed from the pool since the last idle check.
    pub(crate) touched: AtomicBool,
    /// 1 + the sweep epoch in which the chunk was last found wholly free
    /// and untouched (0: not seen so).
    pub(crate) empty_seen: AtomicU64,
    pub(crate) blocks: [BlockMeta; BLOCKS_PER_CHUNK],
    pub(crate) marks: [Bitmap; BLOCKS_PER_CHUNK],
    pub(crate) starts: [Bitmap; BLOCKS_PER_CHUNK],
}

/// Offset of a chunk's side tables (`side.rs`): every granule's side slots,
/// the entry of the object that starts there (its type code and flags,
/// 32 bits) and its version-lock word (64 bits), in two arrays right after
/// the [`SmallChunk`] header, at the same offsets in every chunk, so that a
/// slot's address is arithmetic on the object's; a large chunk places its
/// object so that the same arithmetic lands on words of its own
/// (`side::large_layout`). Raw memory, outside the `SmallChunk` struct: a
/// reference to the chunk's header then covers its few pages, not 12 MiB
/// of tables (which miri would retag on every use). On a 4 KiB boundary,
/// so that each table's slots of a run of blocks are whole pages where a
/// block's slots are (DC4 of `decommit.rs`). Not under loom, where the
/// header keeps its two words in the object (`gc/src/header.rs`).
#[cfg(not(tmgc_loom))]
pub(crate) const SIDE_OFFSET: usize = std::mem::size_of::<SmallChunk>().next_multiple_of(4096);
/// Bytes of a small chunk's side tables (`side.rs`): address space, of
/// which only the slots of objects that exist are ever resident, so the
/// heap's accounting leaves them out (DC2 of `decommit.rs`).
#[cfg(not(tmgc_loom))]
pub(crate) const SIDE_BYTES: usize = 12 * CHUNK_GRANULES;
/// Bytes of a small chunk's side tables (none under loom).
#[cfg(tmgc_loom)]
pub(crate) const SIDE_BYTES: usize = 0;

/// Blocks at the start of each small chunk taken by its header (and its
/// side tables).
#[cfg(not(tmgc_loom))]
pub(crate) const META_BLOCKS: usize = (SIDE_OFFSET + SIDE_BYTES).div_ceil(BLOCK_BYTES);
/// Blocks at the start of each small chunk taken by its header.
#[cfg(tmgc_loom)]
pub(crate) const META_BLOCKS: usize = std::mem::size_of::<SmallChunk>().div_ceil(BLOCK_BYTES);
/// Bytes of a small chunk's metadata blocks apart from its side tables:
/// what the heap's accounting counts for the chunk's metadata.
pub(crate) const FIXED_META_BYTES: usize = META_BLOCKS * BLOCK_BYTES - SIDE_BYTES;
/// Data blocks per small chunk.
pub(crate) const DATA_BLOCKS: usize = BLOCKS_PER_CHUNK - META_BLOCKS;
const _: () = assert!(DATA_BLOCKS >= BLOCKS_PER_CHUNK / 8, "metadata must leave room for data");

/// Header of a large chunk. The object follows at `offset`.
#[repr(C)]
pub(crate) struct LargeChunk {
    pub(crate) head: ChunkHead,
    /// Bit 0: the object is marked.
    pub(crate) mark: AtomicU64,
    /// The object's size in bytes (granule-rounded).
    pub(crate) size: AtomicUsize,
    /// Length of the whole mapping.
    pub(crate) map_len: AtomicUsize,
    /// Bytes the heap's accounting charged for it (`side::large_layout`:
    /// the mapping may reach further, to the object's side slots).
    pub(crate) charged: AtomicUsize,
    /// Offset of the object from the chunk base.
    pub(crate) offset: AtomicUsize,
    /// Sweep epoch the object was last swept in or born in.
    pub(crate) swept_epoch: AtomicU64,
    /// The object needs its destructor run when it dies.
    pub(crate) has_drop: AtomicBool,
    /// Index in the space's large-object set (changed under its mutex).
    pub(crate) slot: AtomicUsize,
    /// Allocated under an open checkpoint: sweeps leave it alone until the
    /// checkpoint closes (only its allocator may free it, by rewind).
    /// A std atomic: not part of any modelled protocol.
    pub(crate) pinned: std::sync::atomic::AtomicBool,
}

/// Map and initialise a small chunk that will sit at `index` in the table.
pub(crate) fn map_small(index: u32, huge_pages: bool) -> Option<NonNull<SmallChunk>> {
    let base = crate::os::map_aligned(CHUNK_BYTES, CHUNK_BYTES, false)?;
    if huge_pages {
        // Only the data blocks: a huge page of side tables would make a
        // slot touched cost 2 MiB of resident memory.
        // SAFETY: the data blocks of the mapping just made.
        unsafe { crate::os::advise_huge(base.add(META_BLOCKS * BLOCK_BYTES), DATA_BLOCKS * BLOCK_BYTES) };
    }
    // SH-A: side slots are reached by address arithmetic (`side.rs`).
    let _ = base.as_ptr().expose_provenance();
    let chunk = base.cast::<SmallChunk>();
    // SAFETY: the mapping is fresh, zeroed, CHUNK_BYTES long and aligned, so
    // it holds a SmallChunk (META_BLOCKS blocks cover it) that nobody else can
    // see yet; by (C1) zero bytes are valid for every field.
    unsafe {
        #[cfg(tmgc_loom)]
        init_loom_small(chunk);
        let c = chunk.as_ptr();
        (*c).head.kind = KIND_SMALL;
        (*c).head.index = index;
        let c = &*c;
        for b in 0..META_BLOCKS {
            c.blocks[b].state.store(state::META, Ordering::Relaxed);
        }
        for b in META_BLOCKS..BLOCKS_PER_CHUNK {
            let (w, m) = crate::bitmap::locate(b);
            c.free_hint[w].fetch_or(m, Ordering::Relaxed);
        }
        // Fault the mark and start bitmaps in now, on the allocation slow
        // path that maps the chunk, rather than at the first mark or
        // allocation in each of their pages: a mark is often made inside a
        // commit's pause (a survivor), and these faults were the tail of
        // those pauses (p99.9 of 9-11 µs on the pause bench, 0.6-2.9 µs
        // without them: docs/PERFORMANCE.md). Not under loom: these are
        // plain zero words.
        #[cfg(not(tmgc_loom))]
        for b in META_BLOCKS..BLOCKS_PER_CHUNK {
            c.marks[b][0].store(0, Ordering::Relaxed);
            c.starts[b][0].store(0, Ordering::Relaxed);
        }
    }
    Some(chunk)
}

#[cfg(tmgc_loom)]
unsafe fn init_loom_small(chunk: NonNull<SmallChunk>) {
    fn words<const N: usize>() -> [AtomicU64; N] {
        std::array::from_fn(|_| AtomicU64::new(0))
    }
    let value = SmallChunk {
        head: ChunkHead { kind: 0, index: 0 },
        free_hint: words(),
        recyclable_hint: words(),
        unswept_hint: words(),
        decommitted: AtomicBool::new(false),
        touched: AtomicBool::new(false),
        empty_seen: AtomicU64::new(0),
        blocks: std::array::from_fn(|_| BlockMeta {
            swept_epoch: AtomicU64::new(0),
            drop_bits: AtomicPtr::new(std::ptr::null_mut()),
            live_granules: AtomicU32::new(0),
            first_hole: AtomicU32::new(0),
            max_hole: AtomicU32::new(0),
            state: AtomicU8::new(state::FREE),
            clean: AtomicBool::new(false),
            pages: AtomicU8::new(pages::FRESH),
        }),
        marks: std::array::from_fn(|_| words()),
        starts: std::array::from_fn(|_| words()),
    };
    // SAFETY: the caller passes fresh memory big enough for a SmallChunk.
    unsafe { chunk.as_ptr().write(value) };
}

/// Drop a small chunk's metadata values (only loom's atomics need it) and
/// unmap it.
///
/// # Safety
/// `chunk` came from [`map_small`], is unmapped at most once, and no
/// reference into it (no `BlockRef`, no object pointer) is used afterwards.
pub(crate) unsafe fn unmap_small(chunk: NonNull<SmallChunk>) {
    // SAFETY: the caller guarantees exclusive, final access.
    unsafe {
        let c = chunk.as_ref();
        for b in META_BLOCKS..BLOCKS_PER_CHUNK {
            let p = c.blocks[b].drop_bits.load(Ordering::Relaxed);
            if !p.is_null() {
                drop(Box::from_raw(p));
            }
        }
        #[cfg(tmgc_loom)]
        std::ptr::drop_in_place(chunk.as_ptr());
        crate::os::unmap(chunk.cast(), CHUNK_BYTES, CHUNK_BYTES);
    }
}

/// A handle on one data block of a small chunk.
///
/// By (C2) the references it returns are valid while its space lives; every
/// holder of a `BlockRef` holds the space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BlockRef {
    chunk: NonNull<SmallChunk>,
    index: usize,
}

// SAFETY: a BlockRef is an address into shared, atomically accessed metadata;
// which thread may touch what is governed by the block state, not by which
// thread holds the handle.
unsafe impl Send for BlockRef {}
// SAFETY: as above; `&BlockRef` only gives out `&` to atomics.
unsafe impl Sync for BlockRef {}

impl BlockRef {
    pub(crate) fn new(chunk: NonNull<SmallChunk>, index: usize) -> Self {
        debug_assert!((META_BLOCKS..BLOCKS_PER_CHUNK).contains(&index), "not a data block");
        BlockRef { chunk, index }
    }

    /// The chunk header.
    #[inline(always)]
    pub(crate) fn chunk(&self) -> &SmallChunk {
        // SAFETY: (C2): the chunk is mapped and initialised while any BlockRef
        // to it is in use.
        unsafe { self.chunk.as_ref() }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The chunk's base, with the provenance of its whole mapping (for its
    /// side tables, `side::decommit_slots`).
    #[cfg(not(tmgc_loom))]
    pub(crate) fn chunk_ptr(&self) -> NonNull<SmallChunk> {
        self.chunk
    }

    /// A total order on blocks (chunk address, then index), to sort and
    /// search sets of them.
    #[inline]
    pub(crate) fn key(&self) -> (usize, usize) {
        (self.chunk.as_ptr().addr(), self.index)
    }

    #[inline(always)]
    pub(crate) fn meta(&self) -> &BlockMeta {
        &self.chunk().blocks[self.index]
    }

    #[inline(always)]
    pub(crate) fn marks(&self) -> &[AtomicU64] {
        &self.chunk().marks[self.index]
    }

    #[inline(always)]
    pub(crate) fn starts(&self) -> &[AtomicU64] {
        &self.chunk().starts[self.index]
    }

    /// The block's drop bitmap, if it has one.
    pub(crate) fn drop_bits(&self) -> Option<&DropBits> {
        let p = self.meta().drop_bits.load(Ordering::Acquire);
        // SAFETY: a non-null pointer here came from Box::into_raw in
        // `drop_bits_or_init` and is freed only by the block's owner when the
        // block becomes FREE, so it is live while our caller owns the block.
        unsafe { p.as_ref() }
    }

    /// The block's drop bitmap, allocating it. Only the block's owner calls this.
    pub(crate) fn drop_bits_or_init(&self) -> &DropBits {
        if let Some(d) = self.drop_bits() {
            return d;
        }
        let p = Box::into_raw(Box::new(DropBits::new()));
        self.meta().drop_bits.store(p, Ordering::Release);
        // SAFETY: just allocated; freed only when the block becomes FREE.
        unsafe { &*p }
    }

    /// Free the drop bitmap. Only the block's owner calls this, when the
    /// block holds no object that needs dropping.
    pub(crate) fn free_drop_bits(&self) {
        let p = self.meta().drop_bits.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: came from Box::into_raw; the owner is its only user.
            drop(unsafe { Box::from_raw(p) });
        }
    }

    /// Address of the block's first byte.
    #[inline(always)]
    pub(crate) fn base(&self) -> *mut u8 {
        // SAFETY: index < BLOCKS_PER_CHUNK, so the offset stays inside the
        // chunk mapping that `chunk` points to (with its provenance).
        unsafe { self.chunk.as_ptr().cast::<u8>().add(self.index * BLOCK_BYTES) }
    }

    /// Address of granule `g` of the block (`g == BLOCK_GRANULES` is one past the end).
    #[inline(always)]
    pub(crate) fn granule_ptr(&self, g: usize) -> *mut u8 {
        debug_assert!(g <= BLOCK_GRANULES);
        // SAFETY: at most one past the block's end, which is still inside
        // the chunk mapping or one past it.
        unsafe { self.base().add(g * GRANULE) }
    }

    /// Granule index of an address inside (or one past) the block.
    #[inline(always)]
    pub(crate) fn granule_of(&self, p: *const u8) -> usize {
        let off = p.addr().wrapping_sub(self.base().addr());
        debug_assert!(off <= BLOCK_BYTES, "address outside its block");
        off / GRANULE
    }

    /// The block holding `p`, which must lie in a data block of a live small chunk.
    ///
    /// # Safety
    /// `p` points into (or one past the granule-aligned end of) a data block
    /// of a small chunk whose space is alive.
    pub(crate) unsafe fn containing(p: *const u8) -> BlockRef {
        let base = p.cast_mut().map_addr(|a| a & !(CHUNK_BYTES - 1));
        let index = (p.addr() - base.addr()) / BLOCK_BYTES;
        // SAFETY: masking keeps provenance of a pointer into the chunk and
        // the caller guarantees it is a live small chunk.
        BlockRef::new(unsafe { NonNull::new_unchecked(base.cast()) }, index)
    }
}

/// Where an object lives, found by masking its address.
pub(crate) enum Location<'a> {
    /// In a block: the block and the object's first granule.
    Small(BlockRef, usize),
    /// In its own large chunk.
    Large(&'a LargeChunk),
}

/// Find the chunk that holds `obj`.
///
/// # Safety
/// `obj` is an object start handed out by an allocator of a live space and
/// not yet freed (so its chunk is mapped and its head initialised).
#[inline]
pub(crate) unsafe fn locate<'a>(obj: NonNull<u8>) -> Location<'a> {
    let base = obj.as_ptr().map_addr(|a| a & !(CHUNK_BYTES - 1));
    // SAFETY: the caller guarantees the chunk is live, and every chunk begins
    // with an initialised ChunkHead (C3).
    let kind = unsafe { (*base.cast::<ChunkHead>()).kind };
    if kind == KIND_LARGE {
        // SAFETY: a large chunk begins with a LargeChunk.
        Location::Large(unsafe { &*base.cast::<LargeChunk>() })
    } else {
        debug_assert_eq!(kind, KIND_SMALL, "object pointer into a chunk of unknown kind");
        // SAFETY: the object lies in a data block of a live small chunk.
        let block = unsafe { BlockRef::containing(obj.as_ptr()) };
        let g = block.granule_of(obj.as_ptr());
        Location::Small(block, g)
    }
}
