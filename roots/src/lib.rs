//! # tmgc-roots
//!
//! Root sets for the tmgc collector.
//!
//! - [`RootTable`]: one mutator's own roots. Its thread scans it at its own
//!   commit point when the collector asks (unsynchronised root scanning);
//!   while the thread is parked the collector scans it on the thread's
//!   behalf, holding the thread's own lock. It needs no lock of its own. Roots are added and
//!   removed **transactionally**: a root created by a transaction is pending
//!   until the transaction commits and vanishes if it aborts; a root dropped
//!   is removed at the next commit. Each slot has a generation, so a handle
//!   to a root that an abort discarded is detected, not misread.
//! - [`GlobalRoots`]: roots shared by all threads, lock-free to read,
//!   scanned by the collector once per cycle, with no capacity limit; a
//!   global root is given back when its last handle is dropped (under
//!   `--cfg tmgc_loom` they use loom's atomics, so the tmgc loom models see
//!   the synchronisation a global root carries).
//!
//! Entries are plain object addresses (`NonNull<u8>`); the `tmgc` crate
//! wraps them in typed handles.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

use std::ptr::NonNull;

mod global;
pub use global::{GlobalError, GlobalRoots, GlobalSlot, ResolvedSlot};

/// A handle on one slot of a [`RootTable`]: index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    index: u32,
    /// 64 bits: a stale handle never matches a reused slot again (a 32-bit
    /// generation wraps after 2^32 aborted roots, and a stale `Root<A>`
    /// would then read whatever object of whatever type sits there).
    generation: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    obj: Option<NonNull<u8>>,
    generation: u64,
    /// Created by the running transaction, not yet committed.
    pending: bool,
}

/// Why a root could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootError {
    /// The root was created by a transaction that aborted, or was dropped.
    Stale,
}

impl std::fmt::Display for RootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stale root: it was created by a transaction that aborted, or already dropped")
    }
}

impl std::error::Error for RootError {}

/// One mutator's roots. See the crate docs.
///
/// A root is pending until its transaction commits, and goes stale if it
/// aborts; a dropped root leaves at the next commit:
///
/// ```
/// use std::ptr::NonNull;
/// use tmgc_roots::{RootError, RootTable};
///
/// let (x, y) = (0u8, 0u8); // stand-ins for two heap objects
/// let (a, b) = (NonNull::from(&x), NonNull::from(&y));
/// let mut t = RootTable::new();
/// let kept = t.create(a);
/// t.commit();
/// let lost = t.create(b);
/// assert_eq!(t.get(lost), Ok(b)); // its own transaction may use it
/// t.abort();
/// assert_eq!(t.get(lost), Err(RootError::Stale));
/// assert_eq!(t.scan().collect::<Vec<_>>(), [a]);
/// t.drop_root(kept);
/// assert_eq!(t.len(), 1); // until the next commit
/// t.commit();
/// assert!(t.is_empty() && t.get(kept).is_err());
/// ```
#[derive(Default, Debug)]
pub struct RootTable {
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Slots created by the running transaction.
    created: Vec<u32>,
    /// Slots dropped since the last commit.
    dropped: Vec<Slot>,
}

// The tmgc crate hands a table to the collector only while its thread is
// parked: the handshake protocol, not the type system, keeps the two from
// using it at once.
// SAFETY: a table holds object addresses, not references into any thread's
// memory; moving it to another thread is sound.
unsafe impl Send for RootTable {}

impl RootTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a root for `obj`, pending until [`RootTable::commit`].
    pub fn create(&mut self, obj: NonNull<u8>) -> Slot {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry { obj: None, generation: 0, pending: false });
                (self.entries.len() - 1) as u32
            }
        };
        let e = &mut self.entries[index as usize];
        e.obj = Some(obj);
        e.pending = true;
        self.created.push(index);
        Slot { index, generation: e.generation }
    }

    /// The object of a live root (pending ones included: the transaction that
    /// created it may use it).
    pub fn get(&self, slot: Slot) -> Result<NonNull<u8>, RootError> {
        match self.entries.get(slot.index as usize) {
            Some(e) if e.generation == slot.generation => e.obj.ok_or(RootError::Stale),
            _ => Err(RootError::Stale),
        }
    }

    /// Drop a root; it is removed at the next commit point (or at once if it
    /// is still pending and the transaction aborts).
    pub fn drop_root(&mut self, slot: Slot) {
        if self.get(slot).is_ok() {
            self.dropped.push(slot);
        }
    }

    /// The running transaction committed: its roots become permanent and
    /// dropped roots go away.
    #[inline]
    pub fn commit(&mut self) {
        if !self.created.is_empty() || !self.dropped.is_empty() {
            self.commit_changes();
        }
    }

    fn commit_changes(&mut self) {
        for i in self.created.drain(..) {
            self.entries[i as usize].pending = false;
        }
        for s in std::mem::take(&mut self.dropped) {
            self.release(s);
        }
    }

    /// The running transaction aborted: its roots vanish (their handles go
    /// stale). Drops of older roots still happen at the next commit point.
    pub fn abort(&mut self) {
        for i in std::mem::take(&mut self.created) {
            let e = &mut self.entries[i as usize];
            if e.pending {
                let s = Slot { index: i, generation: e.generation };
                self.release(s);
            }
        }
        let entries = &self.entries;
        self.dropped.retain(|s| entries.get(s.index as usize).is_some_and(|e| e.generation == s.generation));
    }

    fn release(&mut self, s: Slot) {
        let e = &mut self.entries[s.index as usize];
        if e.generation == s.generation && e.obj.is_some() {
            e.obj = None;
            e.pending = false;
            e.generation = e.generation.wrapping_add(1);
            self.free.push(s.index);
        }
    }

    /// Objects of the roots the running transaction created (pending until
    /// it commits): a commit during marking shades them.
    pub fn created(&self) -> impl Iterator<Item = NonNull<u8>> + '_ {
        self.created.iter().filter_map(|&i| self.entries[i as usize].obj)
    }

    /// Every committed root's object (what a root scan reports).
    pub fn scan(&self) -> impl Iterator<Item = NonNull<u8>> + '_ {
        self.entries.iter().filter(|e| !e.pending).filter_map(|e| e.obj)
    }

    /// Live roots, pending ones included.
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.obj.is_some()).count()
    }

    /// No live root.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize) -> NonNull<u8> {
        NonNull::new(n as *mut u8).unwrap()
    }

    #[test]
    fn roots_are_pending_until_commit() {
        let mut t = RootTable::new();
        let a = t.create(p(16));
        assert_eq!(t.get(a), Ok(p(16)));
        assert_eq!(t.scan().count(), 0, "pending roots are not scanned yet");
        t.commit();
        assert_eq!(t.scan().collect::<Vec<_>>(), vec![p(16)]);
    }

    #[test]
    fn abort_discards_created_roots_and_stales_their_handles() {
        let mut t = RootTable::new();
        let kept = t.create(p(16));
        t.commit();
        let lost = t.create(p(32));
        t.abort();
        assert_eq!(t.get(lost), Err(RootError::Stale));
        assert_eq!(t.get(kept), Ok(p(16)));
        // The slot is reused with a new generation: the old handle stays stale.
        let again = t.create(p(48));
        assert_eq!(again.index, lost.index);
        assert_eq!(t.get(lost), Err(RootError::Stale));
        t.commit();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn drops_take_effect_at_commit() {
        let mut t = RootTable::new();
        let a = t.create(p(16));
        t.commit();
        t.drop_root(a);
        assert_eq!(t.get(a), Ok(p(16)), "still there until the commit point");
        t.commit();
        assert_eq!(t.get(a), Err(RootError::Stale));
        assert!(t.is_empty());
    }
}
