//! Checkpoint and rewind: give back exactly what was allocated since a point.
//!
//! An aborted transaction rewinds its allocator to the checkpoint taken when
//! it began. While any checkpoint is open the allocator logs every region it
//! leaves and every large object it maps, and retires no block (local.rs,
//! (A4)). `rewind` then walks the log backwards:
//! - each region left since the checkpoint has the start, mark and drop bits
//!   of what was bumped in it cleared (its filler too), and goes back on the
//!   pending list, so the allocator reuses the same memory, in the same order;
//! - each large object is unmapped;
//! - the region current at the checkpoint becomes current again, with the
//!   cursor where it was; (RW1) if none was, the oldest region given back
//!   (the one the next allocation's slow path would take from `pending`)
//!   becomes current at its start, so the checkpoint of the next
//!   transaction finds a region to restore and its allocations stay on
//!   the fast path (without it, a thread running small transactions took
//!   the slow path at every transaction's first allocation);
//! - the range of black allocation still to flush (local.rs, (A3)) becomes
//!   what it was at the checkpoint *and still is*: the objects allocated
//!   black before the checkpoint that no flush has covered since, and
//!   nothing if the checkpoint was taken white or the colour is white now.
//!   So a rewind never marks an object allocated white, whatever the colour
//!   when it runs (each checkpoint records its colour).
//!
//! Marks are cleared with `fetch_and` because markers may be setting bits of
//! neighbouring live objects in the same words. Allocation accounting goes
//! back to its value at the checkpoint, and is folded into the space's counter
//! at once, so an abort leaves the space's allocated bytes unchanged.
//!
//! Checkpoints nest: rewinding to one keeps it open and invalidates newer
//! ones; releasing one releases it and every newer one.

use std::ptr::NonNull;

use crate::bitmap;
use crate::chunk::BlockRef;
use crate::large;
use crate::layout::BLOCK_GRANULES;
use crate::local::{LocalAllocator, LogEntry, Region};
use crate::AllocError;

/// A point to [`LocalAllocator::rewind`] to. Not `Send`: it belongs to the
/// allocator (and thread) that took it.
#[derive(Debug)]
pub struct Checkpoint {
    alloc_id: u64,
    serial: u64,
    depth: u32,
    log_len: usize,
    region: Option<(BlockRef, usize, usize, usize)>,
    black_from: usize,
    /// The colour at the checkpoint: the colour of the objects in
    /// `[black_from, cursor)` of `region`, not yet flushed then (A3).
    black: bool,
    total: i64,
    /// The allocator's object count after flushing the stage (A7).
    objects: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl LocalAllocator {
    /// Open a checkpoint at the current allocation point.
    ///
    /// # Panics
    /// If `u32::MAX` checkpoints are open already (their serial numbers
    /// alone take 32 GiB): the depth would wrap. Nothing changes then.
    pub fn checkpoint(&mut self) -> Checkpoint {
        // A7: the count covers every object allocated so far.
        self.flush_stage();
        let depth = self.open;
        let open = depth.checked_add(1).expect("tmgc-alloc: more than u32::MAX nested checkpoints");
        let serial = self.next_serial;
        self.next_serial += 1;
        self.serials.push(serial);
        self.open = open;
        let region = self
            .block
            .map(|b| (b, b.granule_of(self.region_start), b.granule_of(self.cursor()), b.granule_of(self.limit())));
        Checkpoint {
            alloc_id: self.id,
            serial,
            depth,
            log_len: self.log.len(),
            region,
            black_from: self.block.map_or(0, |b| b.granule_of(self.black_from)),
            black: self.black,
            total: self.allocated_bytes() as i64,
            objects: self.objects,
            _not_send: std::marker::PhantomData,
        }
    }

    fn check(&self, ck: &Checkpoint) -> Result<(), AllocError> {
        if ck.alloc_id != self.id {
            return Err(AllocError::ForeignCheckpoint);
        }
        // Each checkpoint has a serial number, and the open ones are listed
        // in order: one that was released or rewound past is not at its
        // depth any more, even if a newer checkpoint took that depth since.
        if self.serials.get(ck.depth as usize) != Some(&ck.serial) || ck.log_len > self.log.len() {
            return Err(AllocError::StaleCheckpoint);
        }
        Ok(())
    }

    /// Free everything allocated since `ck` (which stays open). Newer
    /// checkpoints become stale.
    pub fn rewind(&mut self, ck: &Checkpoint) -> Result<(), AllocError> {
        self.check(ck)?;
        self.flush_stage();
        // Most rewinds (a small transaction's) find nothing logged since
        // `ck`: the log's walk below is skipped.
        let logged = self.log.len() > ck.log_len;
        let switched = logged && self.log[ck.log_len..].iter().any(|e| matches!(e, LogEntry::Region { .. }));
        // Where the unflushed black range of the checkpoint's region starts
        // now, if that region is still the current one.
        let black_from_now = self.block.filter(|_| !switched).map(|b| b.granule_of(self.black_from));
        // The regions given back go on `pending` newest first: it pops
        // from the end, so the oldest is the next one used. (Pushed there
        // directly, and the log drained in place: a rewind allocates nothing.)

        // The current region: it is the checkpoint's own region only if no
        // region was left since (then bumping resumes at the checkpoint's cursor).
        if let Some(b) = self.block {
            let start = b.granule_of(self.region_start);
            let cursor = b.granule_of(self.cursor());
            let end = b.granule_of(self.limit());
            match ck.region.filter(|_| !switched) {
                Some(r) => clear_bits(b, r.2, cursor),
                None => {
                    clear_bits(b, start, cursor);
                    self.pending.push(Region { block: b, start, end });
                }
            }
        }
        // Everything logged since the checkpoint, newest first.
        if logged {
            let first_region = self.log[ck.log_len..].iter().position(|e| matches!(e, LogEntry::Region { .. }));
            for (i, e) in self.log.drain(ck.log_len..).enumerate().rev() {
                match e {
                    LogEntry::Region { region, used } => {
                        let hi = if used < region.end { used + 1 } else { region.end };
                        let first = Some(i) == first_region
                            && ck.region.is_some_and(|r| r.0 == region.block && r.1 == region.start);
                        let from = if first { ck.region.map_or(region.start, |r| r.2) } else { region.start };
                        clear_bits(region.block, from, hi);
                        if !first {
                            self.pending.push(region);
                        }
                    }
                    // Its start bit lies in a region of this log, whose
                    // range is cleared with it.
                    LogEntry::Filler(..) => {}
                    LogEntry::Large(ptr) => {
                        if large::remove_large(&self.space, ptr) {
                            // SAFETY: just removed from the set by us, its
                            // allocator; no one else can reach an object of an
                            // unfinished checkpoint.
                            unsafe { large::unmap_large(&self.space, ptr) };
                        }
                    }
                }
            }
        }
        match ck.region {
            Some((b, start, cursor, end)) => {
                self.restore_region(b, start, cursor, end);
                // (A3) after the rewind: `[black_from, cursor)` holds only
                // black objects not flushed yet. Of the checkpoint's range
                // `[ck.black_from, cursor)`, that is nothing if it was white
                // (a white range must never be flushed as black: issue 25 B),
                // and otherwise what no flush since has covered: a flush
                // moves `black_from` up to the cursor, and every colour
                // change flushes first.
                let from = match black_from_now {
                    Some(now) if ck.black && self.black => ck.black_from.max(now).min(cursor),
                    _ => cursor,
                };
                self.black_from = b.granule_ptr(from.max(start));
            }
            None => {
                // No region was current at `ck` (its first allocation took
                // the slow path). The region the next allocation's slow
                // path would enter, the oldest one given back, is entered
                // here instead (RW1): the next checkpoint then finds it
                // current, and its rewind restores it in place, so a run
                // of small transactions stays on the fast path.
                self.clear_region();
                if let Some(r) = self.pending.pop() {
                    self.enter_region(r);
                }
            }
        }
        self.retired_bytes = ck.total - self.region_bytes();
        self.objects = ck.objects; // A7
        self.open = ck.depth + 1;
        self.serials.truncate(self.open as usize);
        self.fold_now();
        Ok(())
    }

    /// Call `f` with every object allocated since `ck` (which stays open)
    /// and not rewound since, each once, as the address `alloc` returned:
    /// the regions left since `ck`, in the order they were left, each in
    /// address order, with the large objects where they were logged; then
    /// the current region. Allocation order within a region; across
    /// regions and large objects, the order the log records them in.
    ///
    /// This is the list a caller that needs it only at the end (a
    /// transaction publishing its new objects) need not keep: the log and
    /// the start bits already hold it. The objects are exactly the granules
    /// with a start bit in the ranges `rewind` would clear, less each
    /// left region's end marker (`leave_region` sets the start bit of the
    /// first unused granule): the same ranges, so the two agree on what
    /// "since `ck`" holds.
    ///
    /// ```
    /// use tmgc_alloc::{Config, Space, LARGE_THRESHOLD};
    /// let space = Space::new(Config::default()).unwrap();
    /// let mut a = space.allocator();
    /// let before = a.alloc(32, 8).unwrap();
    /// let ck = a.checkpoint();
    /// let small = a.alloc(48, 8).unwrap();
    /// let large = a.alloc(2 * LARGE_THRESHOLD, 8).unwrap();
    /// let mut seen = Vec::new();
    /// a.allocated_since(&ck, |p| seen.push(p)).unwrap();
    /// assert_eq!(seen.len(), 2);
    /// assert!(seen.contains(&small) && seen.contains(&large) && !seen.contains(&before));
    /// a.release(ck).unwrap();
    /// ```
    pub fn allocated_since(&mut self, ck: &Checkpoint, mut f: impl FnMut(NonNull<u8>)) -> Result<(), AllocError> {
        // Alignment fillers since `ck` (rare: over-aligned objects only),
        // by address, sorted for a binary search. Most calls have none
        // logged, and skip the pass that collects them.
        self.check(ck)?;
        let mut fillers: Vec<usize> = Vec::new();
        if self.log[ck.log_len..].iter().any(|e| matches!(e, LogEntry::Filler(..))) {
            self.covered_since(ck, |c| {
                if let Covered::Filler(b, g) = c {
                    fillers.push(b.granule_ptr(g).addr());
                }
            })?;
            fillers.sort_unstable();
        }
        self.covered_since(ck, |c| match c {
            Covered::Range(b, lo, hi) => each_start(b, lo, hi, &fillers, &mut f),
            Covered::Large(ptr) => f(ptr.object()),
            Covered::Filler(..) => {}
        })
    }

    /// How many objects [`allocated_since`](Self::allocated_since) would
    /// list for `ck`, without visiting each object or reading the start
    /// bitmaps: the allocator's object count less the one `ck` recorded
    /// (A7 of `local.rs`). For a caller that needs only the number.
    ///
    /// ```
    /// use tmgc_alloc::{Config, Space, LARGE_THRESHOLD};
    /// let space = Space::new(Config::default()).unwrap();
    /// let mut a = space.allocator();
    /// a.alloc(32, 8).unwrap();
    /// let ck = a.checkpoint();
    /// for _ in 0..100 {
    ///     a.alloc(48, 8).unwrap();
    /// }
    /// a.alloc(16, 64).unwrap(); // over-aligned: padding before it
    /// a.alloc(2 * LARGE_THRESHOLD, 8).unwrap();
    /// assert_eq!(a.count_since(&ck), Ok(102));
    /// a.release(ck).unwrap();
    /// ```
    pub fn count_since(&mut self, ck: &Checkpoint) -> Result<usize, AllocError> {
        self.check(ck)?;
        self.flush_stage();
        let n = (self.objects - ck.objects) as usize;
        debug_assert_eq!(Ok(n), self.count_since_by_bits(ck), "A7: the count agrees with the start bits");
        Ok(n)
    }

    /// `count_since` by a population count of the start bits in the
    /// ranges `ck` covers, less its fillers: the definition A7's count
    /// must agree with (debug builds check that it does).
    fn count_since_by_bits(&mut self, ck: &Checkpoint) -> Result<usize, AllocError> {
        // Every start bit in the ranges is an object but the fillers
        // logged since `ck`, each of which lies in one of them (padding
        // before an object allocated since `ck`).
        let (mut n, mut fillers) = (0usize, 0usize);
        self.covered_since(ck, |c| match c {
            Covered::Range(b, lo, hi) => n += bitmap::count_range(b.starts(), lo, hi),
            Covered::Large(_) => n += 1,
            Covered::Filler(..) => fillers += 1,
        })?;
        debug_assert!(fillers <= n, "every filler logged since the checkpoint lies in a range counted");
        Ok(n - fillers)
    }

    /// What was allocated since `ck`, as `allocated_since` and
    /// `count_since` read it: the granule range bumped in each region left
    /// since `ck` (from `ck`'s cursor in the region current at `ck`; a
    /// left region's end marker lies past it), each large object and
    /// filler logged, in log order; then the current region's range up to
    /// the cursor. The same ranges `rewind` clears, less the end markers.
    /// Staged start bits are flushed first (A5).
    fn covered_since(&mut self, ck: &Checkpoint, mut visit: impl FnMut(Covered)) -> Result<(), AllocError> {
        self.check(ck)?;
        self.flush_stage();
        let mut switched = false;
        for e in &self.log[ck.log_len..] {
            match *e {
                LogEntry::Region { region, used } => {
                    // The first region left since `ck` may be the one
                    // current at `ck`: its objects before `ck`'s cursor are older.
                    let first = !switched && ck.region.is_some_and(|r| r.0 == region.block && r.1 == region.start);
                    let from = if first { ck.region.map_or(region.start, |r| r.2) } else { region.start };
                    switched = true;
                    visit(Covered::Range(region.block, from, used.min(BLOCK_GRANULES)));
                }
                LogEntry::Large(ptr) => visit(Covered::Large(ptr)),
                LogEntry::Filler(b, g) => visit(Covered::Filler(b, g)),
            }
        }
        if let Some(b) = self.block {
            // As in `rewind`: the checkpoint's own region only if no region
            // was left since.
            let from = match ck.region.filter(|_| !switched) {
                Some(r) => r.2,
                None => b.granule_of(self.region_start),
            };
            visit(Covered::Range(b, from, b.granule_of(self.cursor()).min(BLOCK_GRANULES)));
        }
        Ok(())
    }

    /// Close `ck` and every newer checkpoint, keeping what they allocated.
    pub fn release(&mut self, ck: Checkpoint) -> Result<(), AllocError> {
        self.check(&ck)?;
        self.open = ck.depth;
        self.serials.truncate(self.open as usize);
        if self.open == 0 {
            self.end_checkpoints();
            self.give_back_free_blocks();
        }
        Ok(())
    }

    /// The last checkpoint is closed: unpin the large objects it covered
    /// (sweeps may look at them again) and forget the log.
    pub(crate) fn end_checkpoints(&mut self) {
        for e in self.log.drain(..) {
            if let LogEntry::Large(p) = e {
                p.get().pinned.store(false, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Number of open checkpoints.
    pub fn open_checkpoints(&self) -> u32 {
        self.open
    }

    fn region_bytes(&self) -> i64 {
        (self.cursor().addr() - self.region_start.addr()) as i64
    }
}

/// One piece of what a checkpoint covers (`covered_since`).
enum Covered {
    /// Granules `[lo, hi)` of an owned block, bumped since the checkpoint.
    Range(BlockRef, usize, usize),
    /// A large object allocated since the checkpoint.
    Large(crate::large::LargePtr),
    /// Alignment padding at this granule: a start bit that is no object.
    Filler(BlockRef, usize),
}

/// Call `f` with the object at each start bit of granules `[lo, hi)` of
/// an owned block (only its owner writes the start bits: A1), but the
/// `fillers` (addresses, sorted).
fn each_start(b: BlockRef, lo: usize, hi: usize, fillers: &[usize], f: &mut impl FnMut(NonNull<u8>)) {
    // The words up to `hi`'s: the search past the last object stops there,
    // not at the block's end (a small transaction's one object sits in a
    // block whose start bitmap is otherwise empty).
    let starts = &b.starts()[..hi.div_ceil(64).min(BLOCK_GRANULES / 64)];
    let mut g = lo;
    while let Some(s) = bitmap::next_set(starts, g).filter(|&s| s < hi) {
        let p = b.granule_ptr(s);
        if fillers.is_empty() || fillers.binary_search(&p.addr()).is_err() {
            // SAFETY: `granule_ptr` of a granule inside the block is a
            // pointer into the block's mapping, never null.
            f(unsafe { NonNull::new_unchecked(p) });
        }
        g = s + 1;
    }
}

/// Clear start, mark and drop bits of granules `[lo, hi)` of an owned block.
fn clear_bits(b: BlockRef, lo: usize, hi: usize) {
    let hi = hi.min(BLOCK_GRANULES);
    bitmap::clear_range_owned(b.starts(), lo, hi);
    bitmap::clear_range_shared(b.marks(), lo, hi);
    if let Some(d) = b.drop_bits() {
        bitmap::clear_range_owned(&d.0, lo, hi);
    }
}
