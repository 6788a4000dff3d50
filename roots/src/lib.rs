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
//! - [`GlobalRoots`]: roots shared by all threads, lock-free to read (rarely
//!   changed; scanned by the collector once per cycle).
//!
//! Entries are plain object addresses (`NonNull<u8>`); the `tmgc` crate
//! wraps them in typed handles.
#![deny(missing_docs)]

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

// Global roots are shared between threads: under `--cfg tmgc_loom` they use
// loom's atomics and mutex, so the tmgc loom models see the
// synchronisation a global root carries (a commit's Release store of the
// slot, the collector's Acquire scan at T).
#[cfg(not(tmgc_loom))]
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(not(tmgc_loom))]
use std::sync::Mutex;

#[cfg(tmgc_loom)]
use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(tmgc_loom)]
use loom::sync::Mutex;

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

/// A handle on a global root: slot index and the generation of the
/// reservation it came from (see [`GlobalRoots`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalSlot {
    index: usize,
    generation: u64,
}

/// Global roots per segment (small under loom, which tracks every atomic).
const SEGMENT: usize = if cfg!(tmgc_loom) { 16 } else { 1024 };
/// Segments: at most `SEGMENT * SEGMENTS` (65,536; 1,024 under loom) global roots.
const SEGMENTS: usize = 64;

/// One global root slot: the object and the slot's state word.
struct GlobalEntry {
    obj: AtomicPtr<u8>,
    /// `generation << 2 | state` (see [`GlobalRoots`]).
    state: AtomicU64,
}

type Segment = [GlobalEntry; SEGMENT];

/// A slot's states (the low two bits of its state word).
mod slot_state {
    /// Nobody holds the slot; its index is on the free list (or was never
    /// handed out).
    pub(crate) const FREE: u64 = 0;
    /// A running transaction reserved it; its commit sets it.
    pub(crate) const RESERVED: u64 = 1;
    /// It holds an object, scanned at every cycle's T.
    pub(crate) const SET: u64 = 2;

    pub(crate) const fn word(generation: u64, state: u64) -> u64 {
        generation << 2 | state
    }
    pub(crate) const fn generation(w: u64) -> u64 {
        w >> 2
    }
    pub(crate) const fn state(w: u64) -> u64 {
        w & 3
    }
}
use slot_state::{FREE, RESERVED, SET};

/// Roots shared by all threads. See the crate docs.
///
/// Reading a global root is three atomic loads, with no lock: every
/// transaction that starts from shared data reads one, so a mutex here
/// would serialise all threads. Slots live in append-only segments that
/// are never moved or freed while the set lives.
///
/// # Slot generations (G1-G3)
///
/// Each slot has a state word: a 62-bit generation and a state, FREE,
/// RESERVED or SET, changed only by compare-and-swap. A handle
/// ([`GlobalSlot`]) records the generation of the reservation it came
/// from.
///
/// - **G1** `reserve` takes a FREE slot of generation g to RESERVED g+1:
///   every reservation has a generation no earlier handle holds (62 bits
///   do not wrap: at 10^9 reservations a second, that takes 146 years).
/// - **G2** `set` takes RESERVED g to SET g, `unreserve` takes RESERVED g
///   to FREE g and only then gives the index back, so a slot is freed at
///   most once per reservation, whoever calls `unreserve` how often.
/// - **G3** `get` answers for a handle of generation g only while the state
///   word reads SET g before and after it loads the object (a seqlock read):
///   a handle kept from an aborted reservation finds a later generation, or
///   FREE g, and gets [`GlobalError::Stale`], never the object of whoever
///   reuses the slot.
pub struct GlobalRoots {
    segments: Box<[AtomicPtr<Segment>]>,
    next: AtomicUsize,
    /// Indices of FREE slots given back by `unreserve`.
    free: Mutex<Vec<usize>>,
}

impl Default for GlobalRoots {
    fn default() -> Self {
        GlobalRoots {
            segments: (0..SEGMENTS).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            next: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
        }
    }
}

impl std::fmt::Debug for GlobalRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GlobalRoots({} slots)", self.next.load(Ordering::Relaxed))
    }
}

/// Why a global root could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalRootsFull;

/// Why a global root could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalError {
    /// Reserved and not set yet: the transaction that reserved it has not
    /// committed.
    Unset,
    /// The reservation the handle came from was given back (its
    /// transaction aborted); the slot may hold another root now.
    Stale,
}

impl GlobalRoots {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn segment(&self, k: usize) -> Option<&Segment> {
        let p = self.segments.get(k)?.load(Ordering::Acquire);
        // SAFETY: a non-null segment pointer came from Box::into_raw below and
        // is freed only when the set is dropped.
        unsafe { p.as_ref() }
    }

    #[inline]
    fn entry(&self, index: usize) -> Option<&GlobalEntry> {
        Some(&self.segment(index / SEGMENT)?[index % SEGMENT])
    }

    /// Reserve an empty global root (G1); [`GlobalRoots::set`] fills it (a
    /// transaction reserves, its commit sets).
    pub fn reserve(&self) -> Result<GlobalSlot, GlobalRootsFull> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let index = match reused {
            Some(i) => i,
            None => self.fresh_index()?,
        };
        let e = self.entry(index).expect("a handed-out index has a segment");
        let w = e.state.load(Ordering::Acquire);
        debug_assert_eq!(slot_state::state(w), FREE, "a slot on the free list is FREE");
        let generation = slot_state::generation(w) + 1;
        let taken =
            e.state.compare_exchange(w, slot_state::word(generation, RESERVED), Ordering::AcqRel, Ordering::Relaxed);
        assert!(taken.is_ok(), "global root slot {index} changed while it was free");
        Ok(GlobalSlot { index, generation })
    }

    fn fresh_index(&self) -> Result<usize, GlobalRootsFull> {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        let k = i / SEGMENT;
        if k >= SEGMENTS {
            return Err(GlobalRootsFull);
        }
        if self.segment(k).is_none() {
            let fresh: Box<Segment> = Box::new(std::array::from_fn(|_| GlobalEntry {
                obj: AtomicPtr::new(std::ptr::null_mut()),
                state: AtomicU64::new(slot_state::word(0, FREE)),
            }));
            let fresh = Box::into_raw(fresh);
            if self.segments[k]
                .compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
        Ok(i)
    }

    /// Give back a slot reserved and never set (its transaction aborted),
    /// for reuse (G2). A second call, or a call for a slot that was set,
    /// does nothing.
    pub fn unreserve(&self, slot: GlobalSlot) {
        let Some(e) = self.entry(slot.index) else { return };
        let freed = e.state.compare_exchange(
            slot_state::word(slot.generation, RESERVED),
            slot_state::word(slot.generation, FREE),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        if freed.is_ok() {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(slot.index);
        }
    }

    /// Add a global root holding `obj`.
    pub fn add(&self, obj: NonNull<u8>) -> Result<GlobalSlot, GlobalRootsFull> {
        let s = self.reserve()?;
        self.set(s, obj);
        Ok(s)
    }

    /// Fill a slot this caller reserved (G2), or replace the object of a
    /// slot it set. The object is stored before the state word (Release),
    /// so a reader that sees SET sees it.
    ///
    /// Panics if the reservation was given back (a bug of the caller: only
    /// the transaction that reserved a slot sets or unreserves it).
    pub fn set(&self, slot: GlobalSlot, obj: NonNull<u8>) {
        let e = self.entry(slot.index).expect("a reserved slot's segment exists");
        let w = e.state.load(Ordering::Acquire);
        assert!(
            slot_state::generation(w) == slot.generation && slot_state::state(w) != FREE,
            "set of global root slot {} whose reservation was given back",
            slot.index
        );
        e.obj.store(obj.as_ptr(), Ordering::Release);
        if slot_state::state(w) == RESERVED {
            let set = e.state.compare_exchange(
                w,
                slot_state::word(slot.generation, SET),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            assert!(set.is_ok(), "global root slot {} changed while its reservation was being set", slot.index);
        }
    }

    /// The object a global root holds (G3): Acquire loads, no lock.
    #[inline]
    pub fn get(&self, slot: GlobalSlot) -> Result<NonNull<u8>, GlobalError> {
        let e = self.entry(slot.index).ok_or(GlobalError::Stale)?;
        let w = e.state.load(Ordering::Acquire);
        if slot_state::generation(w) != slot.generation {
            return Err(GlobalError::Stale);
        }
        match slot_state::state(w) {
            SET => {}
            RESERVED => return Err(GlobalError::Unset),
            _ => return Err(GlobalError::Stale),
        }
        let p = e.obj.load(Ordering::Acquire);
        // The Acquire load above orders this re-read after it: an object
        // read under an unchanged SET word belongs to this generation.
        if e.state.load(Ordering::Acquire) != w {
            return Err(GlobalError::Stale);
        }
        NonNull::new(p).ok_or(GlobalError::Unset)
    }

    /// Every global root's object (the SET slots).
    pub fn scan(&self) -> Vec<NonNull<u8>> {
        let n = self.next.load(Ordering::Acquire).min(SEGMENT * SEGMENTS);
        (0..n)
            .filter_map(|i| {
                // `get` answers only for a SET slot of this generation.
                let w = self.entry(i)?.state.load(Ordering::Acquire);
                self.get(GlobalSlot { index: i, generation: slot_state::generation(w) }).ok()
            })
            .collect()
    }
}

impl Drop for GlobalRoots {
    fn drop(&mut self) {
        for s in self.segments.iter() {
            let p = s.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: from Box::into_raw in `reserve`; dropped once.
                drop(unsafe { Box::from_raw(p) });
            }
        }
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

    #[test]
    fn global_roots() {
        let g = GlobalRoots::new();
        let s = g.add(p(16)).unwrap();
        g.set(s, p(64));
        assert_eq!(g.get(s), Ok(p(64)));
        let r = g.reserve().unwrap();
        assert_eq!(g.get(r), Err(GlobalError::Unset));
        g.unreserve(r);
        let again = g.reserve().unwrap();
        assert_eq!(again.index, r.index, "an unset slot is reused");
        assert_ne!(again.generation, r.generation, "with a new generation");
        g.set(again, p(128));
        assert_eq!(g.get(r), Err(GlobalError::Stale), "a handle from the aborted reservation is stale");
        assert_eq!(g.get(again), Ok(p(128)));
        assert_eq!(g.scan(), vec![p(64), p(128)]);
        // Across segments.
        let many: Vec<_> = (0..3000).map(|i| g.add(p(16 * (i + 1))).unwrap()).collect();
        assert_eq!(g.get(many[2999]), Ok(p(16 * 3000)));
        assert_eq!(g.scan().len(), 3002);
    }

    #[test]
    fn unreserve_frees_a_slot_once() {
        let g = GlobalRoots::new();
        let r = g.reserve().unwrap();
        g.unreserve(r);
        g.unreserve(r); // a second give-back of the same reservation
        let a = g.reserve().unwrap();
        let b = g.reserve().unwrap();
        assert_ne!(a.index, b.index, "two live reservations never share a slot");
        // Unreserving a set slot does nothing.
        g.set(a, p(16));
        g.unreserve(a);
        assert_eq!(g.get(a), Ok(p(16)));
        let c = g.reserve().unwrap();
        assert_ne!(c.index, a.index);
    }
}
