//! Side slots (SH-A of docs/HEADER.md): every object's *entry* (a 32-bit
//! word that `tmgc` fills with its type code and flags) and its
//! *version-lock slot* (a 64-bit word, the transaction layer's) live in
//! its chunk's side tables (after the chunk's header: `chunk::SIDE_OFFSET`),
//! not in the object, which is its payload alone.
//!
//! Invariants this module keeps:
//! - (SD1) *Arithmetic, one pair a granule.* The slots of the object that
//!   starts at `p` are at `chunk(p) + ENTRY_BASE + 4 g` and `chunk(p) +
//!   VLOCK_BASE + 8 g`, where `chunk(p)` masks `p` down to its chunk and
//!   `g = (p - chunk(p)) / GRANULE`: no load, no branch. A granule starts
//!   at most one live object, so no two live objects share a slot.
//! - (SD2) *Large chunks make room.* A large chunk has no tables; it
//!   places its object at an offset where the same arithmetic lands on two
//!   words of its mapping that neither its `LargeChunk` header nor its
//!   object covers (`large_layout`).
//! - (SD3) *Slots outlive their objects.* This crate never writes a slot
//!   (they are zero when mapped, C1), so a slot keeps what its last object
//!   left until the next object starting on its granule is given one; what
//!   a dead object's slot may hold, and why that is harmless, is `tmgc`'s
//!   argument (HD1 and HD2 of its `header.rs`). The one exception: the
//!   pages of slots of blocks given back to the OS go back with them
//!   (`decommit_slots`, DC4 of `decommit.rs`), and read zero again, as
//!   when mapped.
//! - (SD4) *Provenance.* A slot is reached from the object's pointer
//!   (`with_addr`), so it needs that pointer's provenance to cover the
//!   chunk: every object pointer an allocator hands out is derived from its
//!   chunk's mapping, and keeps its provenance. Code that holds less (`tmgc`'s
//!   `&Header`, a reference to a zero-sized type) recovers it with
//!   `std::ptr::with_exposed_provenance`: every chunk's base is exposed when
//!   it is mapped (`chunk::map_small`, `large::alloc_large`).
//!
//! Not under loom: there, `tmgc`'s header keeps both words in the object
//! (loom's atomics are 8 bytes each and would not fit a chunk's tables).

use crate::chunk::{LargeChunk, SIDE_OFFSET};
use crate::layout::{CHUNK_BYTES, CHUNK_GRANULES, GRANULE, LOG_GRANULE};
use crate::sync::{AtomicU32, AtomicU64};

/// Offset of the entry table from a chunk's base.
pub const ENTRY_BASE: usize = SIDE_OFFSET;
/// Offset of the version-lock table from a chunk's base.
pub const VLOCK_BASE: usize = ENTRY_BASE + 4 * CHUNK_GRANULES;
const _: () = assert!(ENTRY_BASE >= std::mem::size_of::<LargeChunk>(), "a large chunk's slots lie past its header");
const _: () = assert!(std::mem::size_of::<AtomicU32>() == 4 && std::mem::size_of::<AtomicU64>() == 8);
const _: () = assert!(VLOCK_BASE % 8 == 0);

/// The entry of the object starting at `obj` (SD1).
///
/// # Safety
/// `obj` is the first byte of an object that an allocator of a live
/// [`Space`](crate::Space) handed out (small or large), and its chunk is
/// still mapped (C2: while the space lives); its provenance covers the
/// chunk (SD4).
#[inline(always)]
pub unsafe fn entry<'a>(obj: *const u8) -> &'a AtomicU32 {
    let a = obj.addr();
    let at = (a & !(CHUNK_BYTES - 1)) + ENTRY_BASE + (((a & (CHUNK_BYTES - 1)) >> LOG_GRANULE) << 2);
    // SAFETY: (SD1, SD2) `at` is the object's entry, inside its chunk's
    // mapping, which `obj`'s provenance covers (SD4); zero-filled memory
    // is a valid `AtomicU32` (C1).
    unsafe { &*obj.with_addr(at).cast::<AtomicU32>() }
}

/// The version-lock slot of the object starting at `obj` (SD1).
///
/// # Safety
/// As for [`entry`].
#[inline(always)]
pub unsafe fn vlock<'a>(obj: *const u8) -> &'a AtomicU64 {
    let a = obj.addr();
    let at = (a & !(CHUNK_BYTES - 1)) + VLOCK_BASE + (((a & (CHUNK_BYTES - 1)) >> LOG_GRANULE) << 3);
    // SAFETY: as in `entry`, for the version-lock table.
    unsafe { &*obj.with_addr(at).cast::<AtomicU64>() }
}

/// Give back the pages of side slots that only granules `[g0, g1)` of the
/// small chunk at `chunk` have, both tables, rounded inward to whole pages
/// (the pages at either end may hold other granules' slots); they read as
/// zero when next touched, as when mapped (SD3). Returns whether the OS
/// took every call.
///
/// # Safety
/// `chunk` is a live small chunk of its space (C2), with the provenance of
/// its mapping, and no one reads or writes a slot of a granule in `[g0,
/// g1)` meanwhile: no object that anyone may still reach starts there
/// (every block of the range is FREE and held by the caller, DC4 of
/// `decommit.rs`).
pub(crate) unsafe fn decommit_slots(chunk: std::ptr::NonNull<u8>, g0: usize, g1: usize) -> bool {
    debug_assert!(g0 <= g1 && g1 <= CHUNK_GRANULES);
    let page = crate::os::page_size();
    let mut all = true;
    for (table, width) in [(ENTRY_BASE, 4), (VLOCK_BASE, 8)] {
        let start = (table + g0 * width).next_multiple_of(page);
        let end = (table + g1 * width) / page * page;
        if start < end {
            let from = std::ptr::NonNull::new(chunk.as_ptr().wrapping_add(start)).expect("a chunk's tables");
            // SAFETY: whole pages of the chunk's side tables (inside its
            // mapping: `table + g1 * width` is at most the table's end),
            // holding only the slots of granules no one reads (the caller).
            all &= unsafe { crate::os::decommit(from, end - start) };
        }
    }
    all
}

/// Where a large object of `size` bytes aligned to `align` goes in its
/// chunk (SD2): `(offset, map_len, charged)`, the object's offset, the
/// mapping's length, and the bytes the heap's accounting charges: the
/// pages that can ever be resident (the header's, the entry's, the
/// object's and the version lock's, each page once), not the untouched
/// address space between them.
pub(crate) fn large_layout(size: usize, align: usize, page: usize) -> (usize, usize, usize) {
    let step = align.max(GRANULE);
    // The entry's slot, ENTRY_BASE + offset / 4, lies past the header
    // (ENTRY_BASE is) and before the object (`ENTRY_BASE + 4 <= 3/4 offset`).
    let near = (4 * (ENTRY_BASE + 4)).div_ceil(3).next_multiple_of(step);
    let entry_at = |offset: usize| ENTRY_BASE + (offset >> LOG_GRANULE) * 4;
    let vlock_at = |offset: usize| VLOCK_BASE + (offset >> LOG_GRANULE) * 8;
    let charged = |offset: usize| {
        let mut spans = [
            (0, std::mem::size_of::<LargeChunk>()),
            (entry_at(offset), entry_at(offset) + 4),
            (offset, offset + size),
            (vlock_at(offset), vlock_at(offset) + 8),
        ];
        spans.sort_unstable();
        // Whole pages of the union of the spans.
        let (mut pages, mut covered) = (0, 0);
        for (from, to) in spans {
            let (first, end) = ((from / page).max(covered), to.div_ceil(page));
            if end > first {
                pages += end - first;
                covered = end;
            }
        }
        pages * page
    };
    if near + size <= vlock_at(near) {
        // The object ends before its version-lock slot; the mapping
        // reaches on to the slot.
        (near, (vlock_at(near) + 8).next_multiple_of(page), charged(near))
    } else {
        // The object starts after its version-lock slot.
        let far = (2 * VLOCK_BASE + 16).next_multiple_of(step);
        debug_assert!(vlock_at(far) + 8 <= far);
        (far, (far + size).next_multiple_of(page), charged(far))
    }
}
