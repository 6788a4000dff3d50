//! The space: memory shared by every allocator of one heap.
//!
//! It owns the chunk table (the block pool), the large-object set, the
//! accounting counters and the sweep epoch. A `Space` is an ordinary value:
//! one process can hold many, and dropping the last handle (and the last
//! allocator) unmaps everything.
//!
//! ## Sweep epochs
//! `sweep_epoch` counts sweeps. `begin_sweep` starts epoch `e`: every block
//! holding objects with `swept_epoch < e` must be swept once with this
//! cycle's marks before an allocator may allocate white in it. Blocks are
//! swept by whoever claims them first: an eager sweeper (`sweep`, callable
//! from many threads at once) or an allocator taking the block (lazy sweep).
//! A block owned by an allocator is never swept; it is hinted as unswept when
//! its owner retires it. `unswept_blocks() == 0` means the sweep is over.
//!
//! A `sweep` call works for the epoch current when it begins. If the epoch
//! moves during the call, it gives way at its next claim (puts the block
//! back unswept and returns): `block_life::release_block` re-hints a
//! block only if its stamp is older than the space's epoch, so a call that
//! did not stop would claim its own stamped block forever.
//!
//! ## Drop hooks
//! (R1) A thread running this space's drop hook is recorded (`InHook`);
//! `begin_sweep`, `sweep` and `clear_marks` of the space panic on it. A
//! hook runs before its object's memory can be reused, at most once per
//! object; see sweep.rs (SW1, SW2) and large.rs (L4) for a panicking hook
//! and for the marks changing under a sweep.
//!
//! A block stamped with epoch `s` has been swept for `s`: a later
//! `sweep(s)` does not look at it, so objects allocated in it after the
//! stamp survive that sweep whatever their colour.
//!
//! Epochs are `u64` and are compared with `<`, so they must never wrap.
//! They cannot: at one cycle per microsecond, 2^64 epochs last 584,000
//! years. (A `u32` lasted 71 minutes at that rate, 49.7 days at one cycle
//! per millisecond; after a wrap no block stamped near the top was ever due
//! again. Test `sweeps_stay_right_across_u32_max_epochs`.)

use std::cell::RefCell;
use std::ptr::NonNull;

use crate::bitmap;
use crate::block_life;
use crate::chunk::{locate, state, BlockRef, Location, KIND_LARGE, KIND_SMALL, META_BLOCKS};
use crate::large::{self, LargeSet};
use crate::layout::*;
use crate::local::LocalAllocator;
use crate::pool::{self, ChunkTable, Hint};
use crate::sync::{Arc, AtomicI64, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::{AllocError, Config};

/// A destructor hook: called by sweeping with the address of each dead
/// object that was allocated with `alloc_needs_drop`. See
/// [`Space::with_drop_hook`] for what it may and may not do.
pub type DropHook = Box<dyn Fn(NonNull<u8>) + Send + Sync>;

#[cfg(not(tmgc_loom))]
std::thread_local! {
    /// The spaces (by address) whose drop hook this thread is running, innermost last.
    static IN_HOOK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}
#[cfg(tmgc_loom)]
loom::thread_local! {
    /// The spaces (by address) whose drop hook this thread is running, innermost last.
    static IN_HOOK: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// (R1) While it lives, this thread is inside a drop hook of one space: that
/// space's `begin_sweep`, `sweep` and `clear_marks` panic on this thread.
/// Every call of a drop hook happens inside one (`sweep_block`, `sweep_large`).
/// (On a thread whose thread-locals are already destroyed, which only a
/// thread-local destructor could see, nothing is recorded and nothing is
/// refused: the check gives way rather than panic there.)
pub(crate) struct InHook(usize);

impl InHook {
    pub(crate) fn enter(space: &SpaceInner) -> InHook {
        let id = std::ptr::from_ref(space).addr();
        let _ = IN_HOOK.try_with(|v| v.borrow_mut().push(id));
        InHook(id)
    }
}

impl Drop for InHook {
    fn drop(&mut self) {
        let _ = IN_HOOK.try_with(|v| {
            let mut v = v.borrow_mut();
            if let Some(i) = v.iter().rposition(|&x| x == self.0) {
                v.remove(i);
            }
        });
    }
}

#[cfg(not(any(miri, tmgc_loom)))]
const MAX_CHUNKS: usize = 1 << 16;
#[cfg(all(miri, not(tmgc_loom)))]
const MAX_CHUNKS: usize = 128; // 16 MiB of 128 KiB chunks
#[cfg(tmgc_loom)]
const MAX_CHUNKS: usize = 2;

pub(crate) struct SpaceInner {
    pub(crate) config: Config,
    pub(crate) chunks: ChunkTable,
    pub(crate) heap_bytes: AtomicUsize,
    /// The largest `heap_bytes` has been with its reservations in use
    /// (`note_peak`).
    pub(crate) peak_heap_bytes: AtomicUsize,
    pub(crate) committed_bytes: AtomicUsize,
    pub(crate) allocated: AtomicI64,
    pub(crate) live_bytes: AtomicUsize,
    pub(crate) sweep_epoch: AtomicU64,
    pub(crate) large_swept_epoch: AtomicU64,
    pub(crate) large: Mutex<LargeSet>,
    pub(crate) drop_hook: Option<DropHook>,
    /// Injected `mmap` refusals (`fault.rs`; a constant no otherwise).
    pub(crate) map_faults: crate::fault::MapFaults,
}

/// A heap's memory: chunks of blocks plus large objects. Cheap to clone
/// (a reference count). See the crate docs for an example.
#[derive(Clone)]
pub struct Space {
    pub(crate) inner: Arc<SpaceInner>,
}

/// The heap's size, high-water mark and limit, read from atomics: no lock.
impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space")
            .field("heap_bytes", &self.heap_bytes())
            .field("peak_heap_bytes", &self.peak_heap_bytes())
            .field("heap_limit", &self.inner.config.get_heap_limit())
            .finish_non_exhaustive()
    }
}

/// What one call of [`Space::sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// The epoch this call swept for: the current one when it began. If
    /// [`Space::sweep_epoch`] is newer now, the epoch moved during the call
    /// and the call gave way (see [`Space::sweep`]).
    pub epoch: u64,
    /// Blocks this call swept.
    pub blocks_swept: usize,
    /// Of those, blocks that were empty and went back to the pool.
    pub blocks_freed: usize,
    /// Bytes in live cells of the blocks this call swept.
    pub live_bytes: usize,
    /// Objects handed to the drop hook.
    pub objects_dropped: usize,
    /// Large objects unmapped.
    pub large_freed: usize,
    /// Chunks whose pages went back to the OS.
    pub chunks_decommitted: usize,
}

/// A snapshot of a space's accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpaceStats {
    /// Bytes of blocks in use plus large-object mappings: what the limit caps.
    pub heap_bytes: usize,
    /// The largest `heap_bytes` has been ([`Space::peak_heap_bytes`]).
    pub peak_heap_bytes: usize,
    /// The heap limit, if any.
    pub heap_limit: Option<usize>,
    /// Bytes of memory the heap may hold resident: the chunks' metadata,
    /// every block handed to an allocator since its chunk was mapped and
    /// not given back since (`release_free_blocks`, `release_empty_chunks`,
    /// and `sweep` for chunks idle through two sweeps),
    /// the large objects' mappings. Pages of a mapped chunk never handed
    /// out are not counted (the OS gives them on first touch). With huge
    /// pages on, the OS may hold more: a touched block faults in its
    /// whole huge page.
    pub committed_bytes: usize,
    /// Bytes allocated since the counter was last taken (folded per thread in batches).
    pub allocated_bytes: i64,
    /// Bytes in live cells found by the current or last sweep.
    pub live_bytes: usize,
    /// Chunks mapped.
    pub chunks: usize,
    /// Blocks in the pool.
    pub blocks_free: usize,
    /// Blocks owned by allocators.
    pub blocks_owned: usize,
    /// Blocks holding objects with no hole offered.
    pub blocks_used: usize,
    /// Blocks holding objects and holes.
    pub blocks_recyclable: usize,
    /// Live large objects, and their bytes.
    pub large_objects: usize,
    /// Bytes of live large objects.
    pub large_bytes: usize,
    /// Bytes of fixed metadata (chunk headers and bitmaps; not the side
    /// tables' address space, whose pages are resident only where objects
    /// are: 4 bytes an object, 8 more once it is published).
    pub metadata_bytes: usize,
    /// The current sweep epoch.
    pub sweep_epoch: u64,
}

impl Space {
    /// A new, empty space. Nothing is mapped until the first allocation.
    pub fn new(config: Config) -> Result<Space, AllocError> {
        Self::build(config, None)
    }

    /// A new space whose sweeps call `hook` for every dead object that was
    /// allocated with [`LocalAllocator::alloc_needs_drop`]. The hook runs
    /// before the object's memory can be reused, at most once per object,
    /// on the thread that sweeps the object's block ([`Space::sweep`], or an
    /// allocation that sweeps lazily).
    ///
    /// **Re-entry.** While the hook runs, that thread must not call this
    /// space's [`begin_sweep`](Space::begin_sweep),
    /// [`sweep`](Space::sweep) or [`clear_marks`](Space::clear_marks): they
    /// panic with a message saying so. (Beginning an epoch under a running
    /// sweep, or clearing the marks it is reading, would free marked objects
    /// or stall the sweep.) Everything else is allowed, allocating from this
    /// space included; an allocation may sweep lazily and so run the hook
    /// nested.
    ///
    /// **Panics in the hook** propagate out of the `sweep` (or allocation)
    /// that ran it, once the block is back in a consistent state: unswept,
    /// so that the next sweep finishes it. The object whose hook panicked
    /// counts as dropped (it is not called again); the block's other dead
    /// objects get their hooks from that next sweep. For a large object the
    /// panicking one is unmapped and the dead ones not reached yet are kept
    /// until the next epoch's sweep, which runs their hooks.
    pub fn with_drop_hook(
        config: Config,
        hook: impl Fn(NonNull<u8>) + Send + Sync + 'static,
    ) -> Result<Space, AllocError> {
        Self::build(config, Some(Box::new(hook)))
    }

    fn build(config: Config, drop_hook: Option<DropHook>) -> Result<Space, AllocError> {
        if config.get_fold_bytes() == 0 {
            return Err(AllocError::InvalidConfig("fold_bytes must be at least 1"));
        }
        let capacity = match config.get_heap_limit() {
            Some(0) => return Err(AllocError::InvalidConfig("heap_limit must be positive")),
            // A thread takes memory a block at a time: below one block, no
            // small object could ever be allocated.
            Some(l) if l < BLOCK_BYTES => return Err(AllocError::InvalidConfig(
                "heap_limit must be at least one block (BLOCK_BYTES, 32 KiB): a thread takes memory a block at a time",
            )),
            Some(l) => (l.div_ceil(pool::CHUNK_DATA_BYTES) + 1).min(MAX_CHUNKS),
            None => MAX_CHUNKS,
        };
        Ok(Space {
            inner: Arc::new(SpaceInner {
                config,
                chunks: ChunkTable::new(capacity),
                heap_bytes: AtomicUsize::new(0),
                peak_heap_bytes: AtomicUsize::new(0),
                committed_bytes: AtomicUsize::new(0),
                allocated: AtomicI64::new(0),
                live_bytes: AtomicUsize::new(0),
                sweep_epoch: AtomicU64::new(0),
                large_swept_epoch: AtomicU64::new(0),
                large: Mutex::new(LargeSet::default()),
                drop_hook,
                map_faults: Default::default(),
            }),
        })
    }

    /// A new thread-local allocator for this space.
    pub fn allocator(&self) -> LocalAllocator {
        LocalAllocator::new(Arc::clone(&self.inner))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Bytes allocated since the counter was last taken, as folded by the
    /// allocators so far (each holds back less than `fold_bytes`).
    pub fn allocated_bytes(&self) -> i64 {
        self.inner.allocated.load(Ordering::Relaxed)
    }

    /// Read and reset the allocation counter (a pacer calls this at a cycle start).
    pub fn take_allocated_bytes(&self) -> i64 {
        self.inner.allocated.swap(0, Ordering::Relaxed)
    }

    /// Bytes the heap limit counts.
    pub fn heap_bytes(&self) -> usize {
        self.inner.heap_bytes.load(Ordering::Relaxed)
    }

    /// The largest [`heap_bytes`](Space::heap_bytes) has been since the
    /// space was made: blocks in use plus large objects, at its high-water
    /// mark, whatever sweeps have given back since. Like `heap_bytes`, it
    /// may count another thread's reservation in flight that a refused
    /// mapping then undoes (never one above the limit).
    pub fn peak_heap_bytes(&self) -> usize {
        self.inner.peak_heap_bytes.load(Ordering::Relaxed)
    }

    /// The current sweep epoch.
    pub fn sweep_epoch(&self) -> u64 {
        self.inner.sweep_epoch.load(Ordering::SeqCst)
    }

    /// Start sweep epoch `e = sweep_epoch() + 1` with the marks now in the
    /// bitmaps, and return it. Every block holding objects becomes due for
    /// sweeping; see the module docs. The caller (a collector) guarantees
    /// marking is over and the previous sweep finished.
    ///
    /// # Panics
    /// If called from inside this space's drop hook (see
    /// [`with_drop_hook`](Space::with_drop_hook)).
    pub fn begin_sweep(&self) -> u64 {
        let s = &self.inner;
        s.refuse_from_hook("begin_sweep");
        // An RMW, then state loads: see `block_life::release_block` for why
        // this pairing never leaves a block unswept and unhinted.
        let e = s.sweep_epoch.fetch_add(1, Ordering::AcqRel) + 1;
        s.live_bytes.store(0, Ordering::Relaxed);
        for b in s.chunks.blocks() {
            let st = b.meta().state.load(Ordering::SeqCst);
            if (st == state::USED || st == state::RECYCLABLE) && b.meta().swept_epoch.load(Ordering::Acquire) < e {
                pool::set_hint(b, Hint::Unswept);
            }
        }
        e
    }

    /// Sweep every block still due in the current epoch that no allocator
    /// owns, and the large objects. Safe to call from many threads at once:
    /// they share the work block by block.
    ///
    /// A call sweeps for the epoch current when it begins
    /// ([`SweepReport::epoch`]). If [`begin_sweep`](Space::begin_sweep)
    /// starts a newer epoch meanwhile (on another thread: a caller that
    /// does so breaks `begin_sweep`'s contract, but safely), the call gives
    /// way: it puts back the block it holds unswept and returns at once,
    /// without sweeping the large objects. What is left belongs to the new
    /// epoch; call `sweep` again for it.
    ///
    /// # Panics
    /// If called from inside this space's drop hook, or if the drop hook
    /// panics (see [`with_drop_hook`](Space::with_drop_hook)).
    pub fn sweep(&self) -> SweepReport {
        let s = &self.inner;
        s.refuse_from_hook("sweep");
        let epoch = s.sweep_epoch.load(Ordering::SeqCst);
        let mut report = SweepReport { epoch, ..SweepReport::default() };
        // Blocks first (block_life.rs, which says why this terminates).
        if !block_life::sweep_unswept_blocks(s, epoch, &mut report) {
            return report;
        }
        if s.large_swept_epoch.fetch_max(epoch, Ordering::AcqRel) < epoch {
            let (live, freed) = large::sweep_large(s, epoch);
            s.live_bytes.fetch_add(live, Ordering::Relaxed);
            report.live_bytes += live;
            report.large_freed = freed;
        }
        if s.config.get_decommit_empty_chunks() {
            report.chunks_decommitted = self.release_idle_chunks();
        }
        report
    }

    /// Blocks holding objects that are not yet swept in the current epoch
    /// (including blocks allocators still own). Zero means the sweep is done.
    pub fn unswept_blocks(&self) -> usize {
        let s = &self.inner;
        let e = s.sweep_epoch.load(Ordering::SeqCst);
        s.chunks
            .blocks()
            .filter(|b| {
                // A CLAIMING block is empty (`block_life::claim_free`).
                let st = b.meta().state.load(Ordering::Acquire);
                st != state::FREE && st != state::CLAIMING && b.meta().swept_epoch.load(Ordering::Acquire) < e
            })
            .count()
            + usize::from(s.large_swept_epoch.load(Ordering::Acquire) < e)
    }

    /// Clear every mark bit, for the next cycle. The caller guarantees no
    /// marking and no sweeping is in progress.
    ///
    /// # Panics
    /// If called from inside this space's drop hook (see
    /// [`with_drop_hook`](Space::with_drop_hook)).
    pub fn clear_marks(&self) {
        self.inner.refuse_from_hook("clear_marks");
        for b in self.inner.chunks.blocks() {
            if b.meta().state.load(Ordering::Acquire) != state::FREE {
                bitmap::clear_all(b.marks());
                b.meta().clean.store(false, Ordering::Relaxed); // SW3
            }
        }
        large::clear_large_marks(&self.inner);
    }

    /// Give the pages of every wholly free chunk back to the OS now; they
    /// stay reserved and come back zeroed on first use. Returns how many
    /// chunks. (`sweep` does this only for chunks that stayed idle, see
    /// [`Config::decommit_empty_chunks`].)
    pub fn release_empty_chunks(&self) -> usize {
        let s = &self.inner;
        (0..s.chunks.len()).filter(|&i| crate::decommit::try_decommit_chunk(s, s.chunks.get(i))).count()
    }

    /// Give the pages of free blocks back to the OS, a run of adjacent
    /// blocks at a time, while more than `retain` bytes are committed
    /// ([`SpaceStats::committed_bytes`]); returns how many blocks. Only
    /// blocks that stayed free through the last two sweep epochs go (a
    /// heap that keeps reusing its free blocks keeps them); none with
    /// [`Config::huge_pages`] on (it would split the huge pages), with
    /// [`Config::decommit_free_blocks`] off, or where the OS's page is
    /// larger than a block. A decommitted block stays in the pool and
    /// comes back zeroed when an allocator takes it. The collector calls
    /// this after each sweep with what its heap needs until the next
    /// cycle, so memory a shrinking heap no longer needs goes back even
    /// where no whole chunk is free. See `decommit.rs` (DC1-DC3).
    pub fn release_free_blocks(&self, retain: usize) -> usize {
        crate::decommit::release_free_blocks(&self.inner, retain)
    }

    /// Decommit chunks that were wholly free at the previous idle check and
    /// had no block claimed since: memory a steady-state heap keeps reusing
    /// is not given back only to be faulted in again.
    fn release_idle_chunks(&self) -> usize {
        let s = &self.inner;
        let mut released = 0;
        for i in 0..s.chunks.len() {
            let c = s.chunks.get(i);
            // SAFETY: chunks stay mapped while the space lives (C2).
            let chunk = unsafe { c.as_ref() };
            if chunk.decommitted.load(Ordering::Acquire) {
                continue;
            }
            let epoch = s.sweep_epoch.load(Ordering::Acquire);
            let touched = chunk.touched.swap(false, Ordering::AcqRel);
            let empty = (META_BLOCKS..BLOCKS_PER_CHUNK).all(|b| pool::state_of(BlockRef::new(c, b)) == state::FREE);
            let seen = chunk.empty_seen.load(Ordering::Acquire);
            if !empty || touched {
                // Used since the last look: start counting again.
                chunk.empty_seen.store(if empty { epoch + 1 } else { 0 }, Ordering::Release);
            } else if seen == 0 {
                chunk.empty_seen.store(epoch + 1, Ordering::Release);
            } else if seen < epoch + 1 && crate::decommit::try_decommit_chunk(s, c) {
                // Free and untouched since an earlier epoch.
                chunk.empty_seen.store(0, Ordering::Release);
                released += 1;
            }
        }
        released
    }

    /// Is `p` the first granule of a cell (an object, or a free filler) in
    /// this space, or the start of a live large object? Safe on any pointer;
    /// slow (a verifier's check, not a fast path). Objects allocated since
    /// their allocator last published its start bits (`flush_marks`,
    /// `retire_all`) may not show yet.
    pub fn is_cell_start(&self, p: *const u8) -> bool {
        let s = &self.inner;
        let base = p.addr() & !(CHUNK_BYTES - 1);
        let in_table = (0..s.chunks.len()).any(|i| s.chunks.get(i).as_ptr().addr() == base);
        if in_table {
            let index = (p.addr() - base) / BLOCK_BYTES;
            if index < META_BLOCKS || p.addr() % GRANULE != 0 {
                return false;
            }
            let b = BlockRef::new(s.chunks.get(base_index(s, base)), index);
            return pool::state_of(b) != state::FREE && bitmap::get(b.starts(), b.granule_of(p), Ordering::Relaxed);
        }
        let set = s.large.lock().unwrap_or_else(|e| e.into_inner());
        set.objects.iter().any(|l| l.object().as_ptr().cast_const() == p)
    }

    /// Fault injection (feature `fault-injection`): refuse the next `n`
    /// mappings at `site`, as an OS that is out of memory would. Each gets
    /// [`AllocError::OutOfMemory`] and leaves the space unchanged.
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// use tmgc_alloc::{AllocError, Config, MapSite, Space};
    /// let space = Space::new(Config::default()).unwrap();
    /// let mut a = space.allocator();
    /// space.refuse_maps(MapSite::Large, 1);
    /// let before = space.stats();
    /// assert!(matches!(a.alloc(1 << 20, 8), Err(AllocError::OutOfMemory { .. })));
    /// assert_eq!(space.stats(), before, "nothing changed");
    /// assert!(a.alloc(1 << 20, 8).is_ok(), "the next mapping succeeds");
    /// # }
    /// ```
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn refuse_maps(&self, site: crate::MapSite, n: u32) {
        self.inner.map_faults.arm(site, n);
    }

    /// [`SpaceStats::committed_bytes`] alone: one load, where `stats`
    /// walks every block (a census) and takes the large-object lock.
    pub fn committed_bytes(&self) -> usize {
        self.inner.committed_bytes.load(Ordering::Relaxed)
    }

    /// A snapshot of the accounting.
    pub fn stats(&self) -> SpaceStats {
        let s = &self.inner;
        let census = pool::census(&s.chunks);
        let (large_objects, large_bytes) = {
            let set = s.large.lock().unwrap_or_else(|e| e.into_inner());
            (set.objects.len(), set.bytes)
        };
        let chunks = s.chunks.len();
        SpaceStats {
            heap_bytes: s.heap_bytes.load(Ordering::Relaxed),
            peak_heap_bytes: s.peak_heap_bytes.load(Ordering::Relaxed),
            heap_limit: s.config.get_heap_limit(),
            committed_bytes: s.committed_bytes.load(Ordering::Relaxed),
            allocated_bytes: s.allocated.load(Ordering::Relaxed),
            live_bytes: s.live_bytes.load(Ordering::Relaxed),
            chunks,
            blocks_free: census[state::FREE as usize],
            blocks_owned: census[state::ALLOC as usize] + census[state::CLAIMING as usize],
            blocks_used: census[state::USED as usize] + census[state::SWEEPING as usize],
            blocks_recyclable: census[state::RECYCLABLE as usize],
            large_objects,
            large_bytes,
            metadata_bytes: chunks * crate::chunk::FIXED_META_BYTES,
            sweep_epoch: s.sweep_epoch.load(Ordering::SeqCst),
        }
    }
}

fn base_index(s: &SpaceInner, base: usize) -> usize {
    (0..s.chunks.len()).find(|&i| s.chunks.get(i).as_ptr().addr() == base).expect("chunk in table")
}

impl SpaceInner {
    /// Panic if this thread is running this space's drop hook (R1).
    fn refuse_from_hook(&self, what: &str) {
        let id = std::ptr::from_ref(self).addr();
        if IN_HOOK.try_with(|v| v.borrow().contains(&id)).unwrap_or(false) {
            panic!(
                "tmgc-alloc: Space::{what} called from inside this space's drop hook; a drop hook must not begin \
                 a sweep, sweep or clear marks of its own space (see Space::with_drop_hook)"
            );
        }
    }

    /// The largest object that could ever be allocated.
    pub(crate) fn max_object_bytes(&self) -> usize {
        let hard = (isize::MAX as usize / 2) & !(GRANULE - 1);
        self.config.get_heap_limit().map_or(hard, |l| l.min(hard))
    }

    /// Count `bytes` more against the heap limit, or fail without change.
    /// Returns the heap size with them, for [`SpaceInner::note_peak`].
    pub(crate) fn reserve_heap(&self, bytes: usize) -> Result<usize, AllocError> {
        let before = self.heap_bytes.fetch_add(bytes, Ordering::AcqRel);
        if let Some(limit) = self.config.get_heap_limit() {
            if before + bytes > limit {
                self.heap_bytes.fetch_sub(bytes, Ordering::AcqRel);
                return Err(AllocError::HeapExhausted { requested: bytes, heap_bytes: before, limit });
            }
        }
        Ok(before + bytes)
    }

    /// Raise the high-water mark to `now`, the heap size a reservation
    /// returned, once the memory it reserved is in use (a reservation
    /// undone after a refused mapping changes nothing, FI1). A block's
    /// worth or more at a time, never on the bump path; the load spares
    /// the read-modify-write once the peak is behind us.
    pub(crate) fn note_peak(&self, now: usize) {
        if now > self.peak_heap_bytes.load(Ordering::Relaxed) {
            self.peak_heap_bytes.fetch_max(now, Ordering::Relaxed);
        }
    }

    pub(crate) fn unreserve_heap(&self, bytes: usize) {
        self.heap_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Drop for SpaceInner {
    fn drop(&mut self) {
        let large: Vec<_> = {
            let mut set = self.large.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut set.objects)
        };
        for p in large {
            // SAFETY: the last handle is gone, so no allocator or object user remains.
            unsafe { large::unmap_large(self, p) };
        }
        for c in self.chunks.drain() {
            // SAFETY: as above; each chunk is unmapped once.
            unsafe { crate::chunk::unmap_small(c) };
        }
    }
}

/// Mark `obj`. Returns `true` if this call marked it (its mark went 0 -> 1):
/// only then should a marker trace it.
///
/// # Safety
/// The caller must uphold both of these:
///
/// 1. `obj` is an address returned by an allocator of a [`Space`] that is
///    still alive, and the object has not been freed since (by a sweep or
///    a rewind). Otherwise the chunk header found by masking `obj` may not
///    exist, and this reads and writes unrelated memory, or an unmapped
///    page.
/// 2. The caller is the *only collector* of that space, marking within its
///    own cycle: between clearing the marks ([`Space::clear_marks`]) and
///    beginning the sweep ([`Space::begin_sweep`]). In particular, no one
///    but its collector may mark an object of a heap a collector manages
///    (such as a `tmgc` heap: a header reached through its public API is
///    not a licence to mark it). A collector traces an object only when its
///    own `mark` returns `true`; a mark set by anyone else (between cycles,
///    or during marking) makes the collector's `mark` return `false`, so
///    the object is never traced, the objects reachable only through it are
///    never marked, and the sweep frees them while they are still reachable:
///    a use-after-free in the collector's safe API. A mark set after the
///    sweep began may also keep a dead object, or land on memory the sweep
///    has just freed or reused.
///
/// A collector may also keep its marks from one cycle to the next (a
/// generational collector's sticky mark bits: the sweep frees unmarked
/// cells and leaves marks as they are); marks it set itself in an earlier
/// cycle then stand for "old", and only that collector may rely on them.
///
/// Objects of a space with no collector, marked by the code that sweeps it
/// (as in the crate example), meet (2) trivially.
#[inline]
pub unsafe fn mark(obj: NonNull<u8>) -> bool {
    // SAFETY: forwarded from the caller.
    match unsafe { locate(obj) } {
        Location::Small(b, g) => {
            let (w, m) = bitmap::locate(g);
            let word = &b.marks()[w];
            // A plain load first: most edges of a shared graph find their
            // object marked already, and a locked RMW stalls the loads
            // behind it. A set bit is final for this cycle: bits only go
            // 0 -> 1 until the sweep, and the caller must order the clearing
            // of the previous cycle's bits (`Space::clear_marks`) before its
            // marking (the collector does: marker threads start after it,
            // and mutators reach the next cycle through its request word and
            // their handoff lock), so this load never returns a stale set
            // bit. The `fetch_or` alone decides who marks a clear bit.
            if word.load(Ordering::Relaxed) & m != 0 {
                return false;
            }
            word.fetch_or(m, Ordering::AcqRel) & m == 0
        }
        Location::Large(l) => l.mark.fetch_or(1, Ordering::AcqRel) & 1 == 0,
    }
}

/// Mark every object of `objs`, as [`mark`] marks each, and return how
/// many this call marked (marks that went 0 -> 1). Objects whose marks
/// share a bitmap word, as a run of objects allocated one after the other
/// does, are marked with one read-modify-write for the run, not one each:
/// a transaction's new objects, marked at its commit, are such a run.
///
/// # Safety
/// Each object meets both requirements of [`mark`]. The same object may
/// appear more than once.
pub unsafe fn mark_all(objs: &[NonNull<u8>]) -> u64 {
    /// Set `bits` in `word` (a mark word of a live block); how many were
    /// clear.
    ///
    /// # Safety
    /// `word` points to a mark word of a block of a live space.
    unsafe fn set(word: *const AtomicU64, bits: u64) -> u64 {
        // SAFETY: the caller's guarantee.
        let word = unsafe { &*word };
        // As in `mark`: a plain load first, the `fetch_or` decides.
        if word.load(Ordering::Relaxed) & bits == bits {
            return 0;
        }
        let old = word.fetch_or(bits, Ordering::AcqRel);
        u64::from((bits & !old).count_ones())
    }
    let mut marked = 0;
    // The run being gathered: a mark word and the bits to set in it.
    let mut run: Option<(*const AtomicU64, u64)> = None;
    for &obj in objs {
        // SAFETY: forwarded from the caller.
        match unsafe { locate(obj) } {
            Location::Small(b, g) => {
                let (w, m) = bitmap::locate(g);
                let word: *const AtomicU64 = &b.marks()[w];
                match &mut run {
                    Some((at, bits)) if std::ptr::eq(*at, word) => *bits |= m,
                    _ => {
                        if let Some((at, bits)) = run.replace((word, m)) {
                            // SAFETY: a mark word of an object's block,
                            // live by the caller's guarantee.
                            marked += unsafe { set(at, bits) };
                        }
                    }
                }
            }
            Location::Large(l) => marked += u64::from(l.mark.fetch_or(1, Ordering::AcqRel) & 1 == 0),
        }
    }
    if let Some((at, bits)) = run {
        // SAFETY: as above.
        marked += unsafe { set(at, bits) };
    }
    marked
}

/// Is `obj` marked?
///
/// # Safety
/// `obj` must meet requirement 1 of [`mark`]: an object of a live space,
/// not freed since. Otherwise this reads unrelated memory, or faults on the
/// unmapped page of a freed large object.
///
/// The answer means something only to the space's collector (during its
/// cycle, or between cycles if it keeps its marks: sticky mark bits, see
/// [`mark`]): the marks are cleared and rewritten by its cycles, so another
/// caller sees a snapshot of a cycle in progress (or of the last one) and
/// must not keep or free anything on its strength. That is a logic error,
/// not undefined behaviour, as long as requirement 1 holds.
#[inline]
pub unsafe fn is_marked(obj: NonNull<u8>) -> bool {
    // SAFETY: forwarded from the caller.
    match unsafe { locate(obj) } {
        Location::Small(b, g) => bitmap::get(b.marks(), g, Ordering::Acquire),
        Location::Large(l) => l.mark.load(Ordering::Acquire) & 1 != 0,
    }
}

/// Bytes from `obj` to the end of its cell (or the large object's size):
/// at least the object's size.
///
/// # Safety
/// `obj` must meet requirement 1 of [`mark`] (an object of a live space, not
/// freed since; otherwise this reads unrelated memory). Also, the allocator
/// that allocated in the object's block has published its start bits since
/// (`flush_marks`, `retire_all`, or leaving the block) and is not allocating
/// in it now: otherwise the start bits read here are incomplete and the size
/// returned is too large, and a caller that reads or copies that many bytes
/// touches the neighbouring objects or free memory.
pub unsafe fn cell_bytes(obj: NonNull<u8>) -> usize {
    // SAFETY: forwarded from the caller.
    match unsafe { locate(obj) } {
        Location::Small(b, g) => (bitmap::next_set(b.starts(), g + 1).unwrap_or(BLOCK_GRANULES) - g) * GRANULE,
        Location::Large(l) => l.size.load(Ordering::Relaxed),
    }
}

const _: () = assert!(KIND_SMALL != KIND_LARGE);
