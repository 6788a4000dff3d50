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
//!   cursor where it was;
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
    _not_send: std::marker::PhantomData<*const ()>,
}

impl LocalAllocator {
    /// Open a checkpoint at the current allocation point.
    ///
    /// # Panics
    /// If `u32::MAX` checkpoints are open already (their serial numbers
    /// alone take 32 GiB): the depth would wrap. Nothing changes then.
    pub fn checkpoint(&mut self) -> Checkpoint {
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
        let switched = self.log[ck.log_len..].iter().any(|e| matches!(e, LogEntry::Region { .. }));
        // Where the unflushed black range of the checkpoint's region starts
        // now, if that region is still the current one.
        let black_from_now = self.block.filter(|_| !switched).map(|b| b.granule_of(self.black_from));
        let mut again: Vec<Region> = Vec::new();

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
                    again.push(Region { block: b, start, end });
                }
            }
        }
        // Everything logged since the checkpoint, newest first.
        let entries: Vec<LogEntry> = self.log.drain(ck.log_len..).collect();
        let first_region = entries.iter().position(|e| matches!(e, LogEntry::Region { .. }));
        for (i, e) in entries.into_iter().enumerate().rev() {
            match e {
                LogEntry::Region { region, used } => {
                    let hi = if used < region.end { used + 1 } else { region.end };
                    let first = Some(i) == first_region
                        && ck.region.is_some_and(|r| r.0 == region.block && r.1 == region.start);
                    let from = if first { ck.region.map_or(region.start, |r| r.2) } else { region.start };
                    clear_bits(region.block, from, hi);
                    if !first {
                        again.push(region);
                    }
                }
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
        // `again` is newest first; pending pops from the end, so pushing in
        // this order makes the oldest the next one used.
        self.pending.extend(again);
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
            None => self.clear_region(),
        }
        self.retired_bytes = ck.total - self.region_bytes();
        self.open = ck.depth + 1;
        self.serials.truncate(self.open as usize);
        self.fold_now();
        Ok(())
    }

    /// Close `ck` and every newer checkpoint, keeping what they allocated.
    pub fn release(&mut self, ck: Checkpoint) -> Result<(), AllocError> {
        self.check(&ck)?;
        self.open = ck.depth;
        self.serials.truncate(self.open as usize);
        if self.open == 0 {
            self.end_checkpoints();
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

/// Clear start, mark and drop bits of granules `[lo, hi)` of an owned block.
fn clear_bits(b: BlockRef, lo: usize, hi: usize) {
    let hi = hi.min(BLOCK_GRANULES);
    bitmap::clear_range_owned(b.starts(), lo, hi);
    bitmap::clear_range_shared(b.marks(), lo, hi);
    if let Some(d) = b.drop_bits() {
        bitmap::clear_range_owned(&d.0, lo, hi);
    }
}
