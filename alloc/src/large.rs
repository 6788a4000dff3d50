//! The large-object space: objects above [`crate::LARGE_THRESHOLD`], each in
//! its own `CHUNK_BYTES`-aligned mapping headed by a `LargeChunk`.
//!
//! Invariants:
//! - (L1) Every live large object is in the space's `LargeSet`, under its
//!   mutex. Whoever removes it from the set (a sweep finding it unmarked, or
//!   the allocator rewinding it) is the only one who unmaps it.
//! - (L2) A large object is swept in epoch `e` only if its `swept_epoch` is
//!   below `e`; it is born with the space's current sweep epoch, so objects
//!   allocated during sweep `e` survive it (white allocation is safe there).
//! - (L3) A large object allocated while its allocator has a checkpoint open
//!   is *pinned* until the last checkpoint closes: a sweep never frees it,
//!   so a rewind can always remove and unmap it itself.
//! - (L4) A dead object removed from the set by a sweep is unmapped after
//!   its drop hook returns; if the hook panics, it is unmapped anyway and
//!   the dead objects not reached yet go back to the set, so a panicking
//!   hook leaks no mapping and frees nothing without its hook (`Pending`).
//!
//! Allocating a large object is a system call or three and takes the set's
//! mutex; that is not the common path.

use std::ptr::NonNull;

use crate::chunk::{ChunkHead, LargeChunk, KIND_LARGE};
use crate::layout::CHUNK_BYTES;
use crate::space::SpaceInner;
use crate::sync::Ordering;
use crate::AllocError;

const PAGE: usize = 4096;

/// A large chunk pointer that may cross threads (it is only dereferenced
/// under the rules of (L1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LargePtr(pub(crate) NonNull<LargeChunk>);
// SAFETY: see (L1): the set's mutex decides who may unmap it; its fields are atomics.
unsafe impl Send for LargePtr {}

impl LargePtr {
    pub(crate) fn get(&self) -> &LargeChunk {
        // SAFETY: (L1): a LargePtr is used only while the object is in the set
        // or owned by whoever removed it, so the mapping is live.
        unsafe { self.0.as_ref() }
    }

    /// The object's address.
    pub(crate) fn object(&self) -> NonNull<u8> {
        let off = self.get().offset.load(Ordering::Relaxed);
        // SAFETY: the object lies inside the mapping at `offset`.
        unsafe { NonNull::new_unchecked(self.0.as_ptr().cast::<u8>().add(off)) }
    }
}

/// The set of live large objects: a slab in allocation order (deterministic,
/// which loom needs); each header records its slot, so removal is O(1).
#[derive(Default)]
pub(crate) struct LargeSet {
    pub(crate) objects: Vec<LargePtr>,
    pub(crate) bytes: usize,
}

impl LargeSet {
    fn insert(&mut self, p: LargePtr) {
        p.get().slot.store(self.objects.len(), Ordering::Relaxed);
        self.objects.push(p);
        self.bytes += p.get().size.load(Ordering::Relaxed);
    }

    /// Remove `p` if it is in the set.
    fn remove(&mut self, p: LargePtr) -> bool {
        let i = p.get().slot.load(Ordering::Relaxed);
        if self.objects.get(i) != Some(&p) {
            return false;
        }
        self.objects.swap_remove(i);
        if let Some(moved) = self.objects.get(i) {
            moved.get().slot.store(i, Ordering::Relaxed);
        }
        self.bytes -= p.get().size.load(Ordering::Relaxed);
        true
    }
}

/// The object's offset in its chunk, the mapping's length and the bytes
/// charged (SD2 of `side.rs`).
fn large_layout(size: usize, align: usize) -> (usize, usize, usize) {
    #[cfg(not(tmgc_loom))]
    return crate::side::large_layout(size, align, PAGE);
    // Under loom the header keeps its words in the object: no slots.
    #[cfg(tmgc_loom)]
    {
        let offset = std::mem::size_of::<LargeChunk>().next_multiple_of(align.max(crate::GRANULE));
        let len = (offset + size).next_multiple_of(PAGE);
        (offset, len, len)
    }
}

/// Map a large object of `size` bytes (granule-rounded by the caller).
pub(crate) fn alloc_large(
    space: &SpaceInner,
    size: usize,
    align: usize,
    black: bool,
    needs_drop: bool,
    pinned: bool,
) -> Result<LargePtr, AllocError> {
    let (offset, map_len, charged) = large_layout(size, align);
    let reserved = space.reserve_heap(charged)?;
    let refused = space.map_faults.refuse(crate::MapSite::Large); // injected (FI1)
    let base = if refused { None } else { crate::os::map_aligned(map_len, CHUNK_BYTES, false) };
    let Some(base) = base else {
        space.unreserve_heap(charged);
        return Err(AllocError::OutOfMemory { requested: charged });
    };
    if space.config.get_huge_pages() {
        // The object's pages only, not the side slots' (SD2 of `side.rs`).
        // SAFETY: `[offset, offset + size)` lies in the mapping just made.
        unsafe { crate::os::advise_huge(base.add(offset), size) };
    }
    // SD4 of `side.rs`: the object's slots are reached by arithmetic.
    let _ = base.as_ptr().expose_provenance();
    space.note_peak(reserved);
    let chunk = base.cast::<LargeChunk>();
    // SAFETY: fresh zeroed mapping, large enough for the header, seen by nobody yet.
    unsafe {
        #[cfg(tmgc_loom)]
        chunk.as_ptr().write(LargeChunk {
            head: ChunkHead { kind: 0, index: 0 },
            mark: crate::sync::AtomicU64::new(0),
            size: crate::sync::AtomicUsize::new(0),
            map_len: crate::sync::AtomicUsize::new(0),
            charged: crate::sync::AtomicUsize::new(0),
            offset: crate::sync::AtomicUsize::new(0),
            swept_epoch: crate::sync::AtomicU64::new(0),
            has_drop: crate::sync::AtomicBool::new(false),
            slot: crate::sync::AtomicUsize::new(0),
            pinned: std::sync::atomic::AtomicBool::new(false),
        });
        let c = chunk.as_ptr();
        (*c).head = ChunkHead { kind: KIND_LARGE, index: u32::MAX };
    }
    let ptr = LargePtr(chunk);
    let c = ptr.get();
    c.size.store(size, Ordering::Relaxed);
    c.map_len.store(map_len, Ordering::Relaxed);
    c.charged.store(charged, Ordering::Relaxed);
    c.offset.store(offset, Ordering::Relaxed);
    c.swept_epoch.store(space.sweep_epoch.load(Ordering::SeqCst), Ordering::Relaxed);
    c.has_drop.store(needs_drop, Ordering::Relaxed);
    c.pinned.store(pinned, std::sync::atomic::Ordering::Relaxed);
    c.mark.store(black as u64, Ordering::Release);
    space.committed_bytes.fetch_add(charged, Ordering::Relaxed);
    space.large.lock().unwrap_or_else(|e| e.into_inner()).insert(ptr);
    Ok(ptr)
}

/// Remove a large object from the set (rewind). Returns whether it was there.
pub(crate) fn remove_large(space: &SpaceInner, ptr: LargePtr) -> bool {
    space.large.lock().unwrap_or_else(|e| e.into_inner()).remove(ptr)
}

/// Unmap a large object that was removed from the set.
///
/// # Safety
/// The caller removed `ptr` from the set (L1) and nobody uses the object
/// or its header again.
pub(crate) unsafe fn unmap_large(space: &SpaceInner, ptr: LargePtr) {
    let map_len = ptr.get().map_len.load(Ordering::Relaxed);
    let charged = ptr.get().charged.load(Ordering::Relaxed);
    space.unreserve_heap(charged);
    space.committed_bytes.fetch_sub(charged, Ordering::Relaxed);
    // SAFETY: forwarded from the caller; this is exactly the mapping made by alloc_large.
    unsafe {
        #[cfg(tmgc_loom)]
        std::ptr::drop_in_place(ptr.0.as_ptr());
        crate::os::unmap(ptr.0.cast(), map_len, CHUNK_BYTES);
    }
}

/// Sweep the large-object space for `epoch`: unmap every unmarked object
/// born before the epoch. Returns (live bytes, freed objects).
pub(crate) fn sweep_large(space: &SpaceInner, epoch: u64) -> (usize, usize) {
    let dead: Vec<LargePtr> = {
        let mut set = space.large.lock().unwrap_or_else(|e| e.into_inner());
        let dead: Vec<LargePtr> = set
            .objects
            .iter()
            .copied()
            .filter(|p| {
                let c = p.get();
                c.swept_epoch.load(Ordering::Relaxed) < epoch
                    && c.mark.load(Ordering::Acquire) & 1 == 0
                    && !c.pinned.load(std::sync::atomic::Ordering::Acquire)
            })
            .collect();
        for p in &dead {
            set.remove(*p);
        }
        for p in &set.objects {
            p.get().swept_epoch.store(epoch, Ordering::Relaxed);
        }
        dead
    };
    let live = space.large.lock().unwrap_or_else(|e| e.into_inner()).bytes;
    let n = dead.len();
    let mut pending = Pending { space, objects: dead, calling: None };
    let _in_hook = space.drop_hook.as_ref().map(|_| crate::space::InHook::enter(space));
    while let Some(p) = pending.objects.pop() {
        if p.get().has_drop.load(Ordering::Relaxed) {
            if let Some(h) = space.drop_hook.as_deref() {
                pending.calling = Some(p);
                h(p.object());
                pending.calling = None;
            }
        }
        // SAFETY: removed from the set above (L1); nobody else holds it.
        unsafe { unmap_large(space, p) };
    }
    (live, n)
}

/// (L4) Dead large objects a sweep has removed from the set and not unmapped
/// yet. If a drop hook panics, dropping this unmaps the object whose hook
/// panicked (it counts as dropped, as in a block) and puts the others back
/// in the set unmarked, with their old `swept_epoch`: none leaks, none is
/// freed without its hook, and the next epoch's sweep runs their hooks.
struct Pending<'a> {
    space: &'a SpaceInner,
    objects: Vec<LargePtr>,
    calling: Option<LargePtr>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.calling.take() {
            // SAFETY: removed from the set by the sweep (L1); its hook has
            // been called, and nobody else holds it.
            unsafe { unmap_large(self.space, p) };
        }
        if !self.objects.is_empty() {
            let mut set = self.space.large.lock().unwrap_or_else(|e| e.into_inner());
            for p in self.objects.drain(..) {
                set.insert(p);
            }
        }
    }
}

/// Clear the marks of every large object.
pub(crate) fn clear_large_marks(space: &SpaceInner) {
    let set = space.large.lock().unwrap_or_else(|e| e.into_inner());
    for p in &set.objects {
        p.get().mark.store(0, Ordering::Relaxed);
    }
}
