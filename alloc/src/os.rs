//! Aligned memory from the OS, and giving it back.
//!
//! Normally `mmap`/`munmap`/`madvise`. Under miri and loom the system
//! allocator stands in (miri does not model `mmap` with trimming), with the
//! same contract: zeroed, `align`-aligned memory.
//!
//! This module and `chunk.rs` hold the crate's raw memory handling.

use std::ptr::NonNull;

/// Map `len` bytes aligned to `align` (a power of two, at least a page),
/// zero-filled. `None` when the OS refuses, or when the mapping would end
/// at or above 2^[`ADDRESS_BITS`](crate::ADDRESS_BITS) (it is given back).
pub(crate) fn map_aligned(len: usize, align: usize, huge_pages: bool) -> Option<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && len % 4096 == 0);
    let p = imp::map_aligned(len, align, huge_pages)?;
    if p.addr().get().checked_add(len).is_none_or(|end| end > 1 << crate::ADDRESS_BITS) {
        // SAFETY: the mapping just made, whole, never handed out.
        unsafe { imp::unmap(p, len, align) };
        return None;
    }
    Some(p)
}

/// Ask for huge pages on the whole pages of `[ptr, ptr + len)`, a range
/// of a mapping from [`map_aligned`] (a hint; failure only loses it). The
/// range is rounded inward: `madvise` refuses a start that is not on a
/// page (a large object starts 16 bytes into one, `side::large_layout`),
/// and the pages it only shares stay as they are.
///
/// # Safety
/// The range lies inside one live mapping from [`map_aligned`].
pub(crate) unsafe fn advise_huge(ptr: NonNull<u8>, len: usize) {
    #[cfg(not(any(miri, tmgc_loom)))]
    {
        let page = page_size();
        let start = ptr.as_ptr().addr().next_multiple_of(page);
        let end = (ptr.as_ptr().addr() + len) / page * page;
        if end > start {
            // SAFETY: advice on whole pages of the caller's live mapping.
            unsafe {
                libc::madvise(
                    ptr.as_ptr().wrapping_add(start - ptr.as_ptr().addr()).cast(),
                    end - start,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(any(miri, tmgc_loom))]
    let _ = (ptr, len);
}

/// Return a mapping made by [`map_aligned`].
///
/// # Safety
/// `ptr`, `len` and `align` must be exactly those of one earlier
/// `map_aligned` call whose memory has not been unmapped yet, and nothing may
/// touch that memory afterwards: every later access would fault (or, under
/// miri, be a use after free).
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize, align: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { imp::unmap(ptr, len, align) }
}

/// Tell the OS it may take back the physical pages of `[ptr, ptr + len)`; the
/// range stays mapped and reads as zero afterwards. Returns whether the OS
/// took the advice.
///
/// # Safety
/// The range must lie inside one live mapping from [`map_aligned`], be
/// aligned to [`page_size`] at both ends, and hold nothing anyone still
/// needs: its contents are lost. (The OS rounds a length up to whole
/// pages: an unaligned end would lose the next page's contents too.)
pub(crate) unsafe fn decommit(ptr: NonNull<u8>, len: usize) -> bool {
    debug_assert!(ptr.as_ptr().addr() % page_size() == 0 && len % page_size() == 0, "decommit of a partial page");
    // SAFETY: forwarded from the caller.
    unsafe { imp::decommit(ptr, len) }
}

/// The OS's page size (4 KiB on x86-64; 4, 16 or 64 KiB on AArch64).
pub(crate) fn page_size() -> usize {
    imp::page_size()
}

#[cfg(not(any(miri, tmgc_loom)))]
mod imp {
    use std::ptr::NonNull;

    pub(super) fn map_aligned(len: usize, align: usize, huge_pages: bool) -> Option<NonNull<u8>> {
        let reserve = len.checked_add(align)?;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing aliases nothing.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let raw = raw.cast::<u8>();
        let lead = raw.align_offset(align);
        let trail = reserve - lead - len;
        // SAFETY: `[raw, raw + lead)` and the tail after `len` lie inside the
        // mapping just made, and nobody else knows of it yet.
        unsafe {
            if lead > 0 {
                libc::munmap(raw.cast(), lead);
            }
            if trail > 0 {
                libc::munmap(raw.add(lead + len).cast(), trail);
            }
        }
        // SAFETY: `lead < reserve`, so the result is inside the mapping.
        let base = unsafe { raw.add(lead) };
        if huge_pages {
            // SAFETY: advice on our own mapping; failure only loses the hint.
            unsafe { libc::madvise(base.cast(), len, libc::MADV_HUGEPAGE) };
        }
        NonNull::new(base)
    }

    pub(super) unsafe fn unmap(ptr: NonNull<u8>, len: usize, _align: usize) {
        // SAFETY: the caller passes one whole live mapping.
        let rc = unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
        debug_assert_eq!(rc, 0, "munmap of a chunk failed");
    }

    pub(super) unsafe fn decommit(ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the caller passes a page-aligned range of a live private
        // anonymous mapping whose contents are dead; MADV_DONTNEED makes it
        // read as zero.
        unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_DONTNEED) == 0 }
    }

    pub(super) fn page_size() -> usize {
        static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        // SAFETY: sysconf reads a constant of the system.
        *PAGE.get_or_init(|| usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096))
    }
}

#[cfg(any(miri, tmgc_loom))]
mod imp {
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::ptr::NonNull;

    pub(super) fn map_aligned(len: usize, align: usize, _huge_pages: bool) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(len, align).ok()?;
        // SAFETY: `len` is non-zero (callers map whole pages).
        NonNull::new(unsafe { alloc_zeroed(layout) })
    }

    pub(super) unsafe fn unmap(ptr: NonNull<u8>, len: usize, align: usize) {
        // SAFETY: the caller passes one live allocation made with this layout.
        unsafe { dealloc(ptr.as_ptr(), Layout::from_size_align_unchecked(len, align)) }
    }

    pub(super) unsafe fn decommit(ptr: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the caller passes a range inside one live allocation.
        unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, len) };
        true
    }

    /// Simulated pages: 4 KiB, or a block where blocks are smaller
    /// (loom's 1 KiB), so that the decommit paths run in the models.
    pub(super) fn page_size() -> usize {
        crate::layout::BLOCK_BYTES.min(4096)
    }
}
