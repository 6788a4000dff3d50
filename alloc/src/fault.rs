//! Injected `mmap` refusals (feature `fault-injection`, and this crate's
//! own tests): the space refuses its next `n` mappings at a named site, as
//! an OS out of address space or memory would. Each refusal takes the same
//! error path as a real one, so a test can show that nothing changes on
//! error (FI1 below) and that allocation works again afterwards.
//!
//! Invariant FI1: a refused mapping leaves the space as it was: the bytes
//! it reserved against the heap limit are given back, no block or chunk is
//! claimed, and the caller gets [`AllocError::OutOfMemory`](crate::AllocError).
//!
//! Without the feature the check is a constant `false`.

#[cfg(any(test, feature = "fault-injection"))]
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the allocation layer asks the OS for memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapSite {
    /// A new chunk of blocks, when a thread-local allocator finds no free
    /// block (the refill slow path).
    Chunk,
    /// A large object's own mapping.
    Large,
}

/// The refusals still to come, per site.
#[derive(Default)]
pub(crate) struct MapFaults {
    #[cfg(any(test, feature = "fault-injection"))]
    refuse: [AtomicU32; 2],
}

impl MapFaults {
    /// Whether the mapping about to be made at `site` is refused (and one
    /// refusal used up).
    #[inline]
    pub(crate) fn refuse(&self, site: MapSite) -> bool {
        #[cfg(any(test, feature = "fault-injection"))]
        {
            let n = &self.refuse[site as usize];
            n.load(Ordering::Relaxed) > 0
                && n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1)).is_ok()
        }
        #[cfg(not(any(test, feature = "fault-injection")))]
        {
            let _ = site;
            false
        }
    }

    /// Refuse the next `n` mappings at `site`.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) fn arm(&self, site: MapSite, n: u32) {
        self.refuse[site as usize].store(n, Ordering::Relaxed);
    }
}
