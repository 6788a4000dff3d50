//! Global roots: roots shared by all threads, lock-free to read, added by
//! a transaction's commit and removed when their last handle is dropped.
//!
//! # Layout
//! Slots live in append-only segments that are never moved or freed while
//! the set lives. Segment `k` holds `BASE << k` slots, so 48 segments
//! address more slots than memory can hold: there is no capacity limit
//! (an interpreter with a million module globals uses 10 segments).
//!
//! # Slot generations and states (G1-G5)
//! Each slot has a state word: a 62-bit generation and a state, FREE,
//! RESERVED, SETTING or SET, changed only by compare-and-swap (except
//! SETTING -> SET, made by the one thread that owns the SETTING state). A
//! handle ([`GlobalSlot`]) records the generation of the reservation it
//! came from.
//!
//! - **G1** `reserve` takes a FREE slot of generation g to RESERVED g+1:
//!   every reservation has a generation no earlier handle holds (62 bits
//!   do not wrap: at 10^9 reservations a second, that takes 146 years).
//! - **G2** `set` takes RESERVED g to SETTING g, stores the object, then
//!   publishes SET g (Release). The object is written only while the slot
//!   is SETTING g, a state no other thread leaves, so a reservation given
//!   back and reused by another thread never receives a late store of an
//!   old object. `set` of a reservation already given back does nothing
//!   and says so.
//! - **G3** `release` takes RESERVED g or SET g to FREE g and only then
//!   gives the index back, so a slot is freed at most once per
//!   reservation, whoever releases how often; a release that finds SETTING
//!   g waits for SET g (the setter is between two stores).
//! - **G4** `get` answers for a handle of generation g only while the state
//!   word reads SET g before and after it loads the object (a seqlock
//!   read): a handle kept from a given-back reservation finds a later
//!   generation, or FREE g, and gets [`GlobalError::Stale`], never the
//!   object of whoever reuses the slot. `get_resolved` is the same read
//!   through a [`ResolvedSlot`] (no segment lookup; `SET g` compared as
//!   one word), and hands every other outcome to `get`.
//! - **G5** `scan` reports the object of every slot that is SET before and
//!   after its load. A slot released during the scan may still be
//!   reported (its object then survives one more cycle); a slot set during
//!   the scan may be missed, which the collector covers: a commit that
//!   sets a global root while marking runs shades its object (barrier (b)
//!   of docs/COLLECTOR.md), and no commit with its barrier off runs at T.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

#[cfg(not(tmgc_loom))]
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(not(tmgc_loom))]
use std::sync::Mutex;

#[cfg(tmgc_loom)]
use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(tmgc_loom)]
use loom::sync::Mutex;

/// A handle on a global root: slot index and the generation of the
/// reservation it came from (see [`GlobalRoots`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalSlot {
    index: usize,
    generation: u64,
}

impl GlobalSlot {
    /// The slot's index (for diagnostics).
    pub fn index(&self) -> usize {
        self.index
    }
}

/// A slot resolved to its entry once ([`GlobalRoots::resolve`]), so that
/// reading it ([`GlobalRoots::get_resolved`]) skips the segment lookup
/// and tests the state word with one comparison.
#[derive(Clone, Copy, Debug)]
pub struct ResolvedSlot {
    entry: NonNull<GlobalEntry>,
    slot: GlobalSlot,
}

// SAFETY: a `ResolvedSlot` is an address of atomics that live as long as
// their `GlobalRoots` (segments are never moved or freed before it is
// dropped); it is dereferenced only by `get_resolved`, whose caller
// guarantees that set is alive.
unsafe impl Send for ResolvedSlot {}
// SAFETY: as for `Send`: shared access only reads atomics.
unsafe impl Sync for ResolvedSlot {}

impl ResolvedSlot {
    /// The handle it was resolved from.
    pub fn slot(&self) -> GlobalSlot {
        self.slot
    }
}

/// Slots of segment 0 (small under loom, which tracks every atomic).
const BASE: usize = if cfg!(tmgc_loom) { 2 } else { 1024 };
/// Segments: segment `k` holds `BASE << k` slots.
const SEGMENTS: usize = 48;

/// One global root slot: the object and the slot's state word.
struct GlobalEntry {
    obj: AtomicPtr<u8>,
    /// `generation << 2 | state`.
    state: AtomicU64,
}

/// A slot's states (the low two bits of its state word).
mod slot_state {
    /// Nobody holds the slot; its index is on the free list (or was never
    /// handed out).
    pub(crate) const FREE: u64 = 0;
    /// A running transaction reserved it; its commit sets it.
    pub(crate) const RESERVED: u64 = 1;
    /// It holds an object, scanned at every cycle's T.
    pub(crate) const SET: u64 = 2;
    /// A commit is storing the object (G2): read as not set yet.
    pub(crate) const SETTING: u64 = 3;

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
use slot_state::{FREE, RESERVED, SET, SETTING};

/// Segment and offset of slot `index`.
#[inline]
fn locate(index: usize) -> (usize, usize) {
    let n = index / BASE + 1;
    let k = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (k, index - BASE * ((1 << k) - 1))
}

/// Roots shared by all threads. See the module docs.
///
/// Reading a global root is three atomic loads, with no lock: every
/// transaction that starts from shared data reads one, so a mutex here
/// would serialise all threads.
pub struct GlobalRoots {
    segments: Box<[AtomicPtr<GlobalEntry>]>,
    next: AtomicUsize,
    /// Indices of FREE slots given back by `release`.
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

/// Why a global root could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalError {
    /// Reserved and not set yet: the transaction that reserved it has not
    /// committed.
    Unset,
    /// The reservation the handle came from was given back (its
    /// transaction aborted, or its last handle was dropped); the slot may
    /// hold another root now.
    Stale,
}

impl GlobalRoots {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn entry(&self, index: usize) -> Option<&GlobalEntry> {
        let (k, off) = locate(index);
        let p = self.segments.get(k)?.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null segment pointer came from `Box::into_raw` of
        // `BASE << k` entries in `fresh_index` and is freed only when the
        // set is dropped; `off < BASE << k` by `locate`.
        Some(unsafe { &*p.add(off) })
    }

    /// Reserve an empty global root (G1); [`GlobalRoots::set`] fills it (a
    /// transaction reserves, its commit sets).
    pub fn reserve(&self) -> GlobalSlot {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let index = reused.unwrap_or_else(|| self.fresh_index());
        let e = self.entry(index).expect("a handed-out index has a segment");
        let w = e.state.load(Ordering::Acquire);
        debug_assert_eq!(slot_state::state(w), FREE, "a slot on the free list is FREE");
        let generation = slot_state::generation(w) + 1;
        let taken =
            e.state.compare_exchange(w, slot_state::word(generation, RESERVED), Ordering::AcqRel, Ordering::Relaxed);
        assert!(taken.is_ok(), "global root slot {index} changed while it was free");
        GlobalSlot { index, generation }
    }

    fn fresh_index(&self) -> usize {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        let (k, _) = locate(i);
        assert!(k < SEGMENTS, "global roots exhausted the address space");
        if self.segments[k].load(Ordering::Acquire).is_null() {
            let fresh: Box<[GlobalEntry]> = (0..BASE << k)
                .map(|_| GlobalEntry {
                    obj: AtomicPtr::new(std::ptr::null_mut()),
                    state: AtomicU64::new(slot_state::word(0, FREE)),
                })
                .collect();
            let fresh = Box::into_raw(fresh).cast::<GlobalEntry>();
            if self.segments[k]
                .compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: ours, never published, `BASE << k` entries long.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(fresh, BASE << k)) });
            }
        }
        i
    }

    /// Give back a reservation, set or not (its transaction aborted, or
    /// its last handle was dropped), for reuse (G3). A second call, or a
    /// call for a reservation given back already, does nothing. Returns
    /// whether this call freed the slot.
    pub fn release(&self, slot: GlobalSlot) -> bool {
        let Some(e) = self.entry(slot.index) else { return false };
        let mut w = e.state.load(Ordering::Acquire);
        loop {
            if slot_state::generation(w) != slot.generation || slot_state::state(w) == FREE {
                return false;
            }
            if slot_state::state(w) == SETTING {
                // The setter is between its two stores (G2): wait for SET.
                std::hint::spin_loop();
                #[cfg(tmgc_loom)]
                loom::thread::yield_now();
                w = e.state.load(Ordering::Acquire);
                continue;
            }
            match e.state.compare_exchange(
                w,
                slot_state::word(slot.generation, FREE),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        // The object is left in place: a stale reader's seqlock (G4) fails
        // on the state word, and the next `set` overwrites it.
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(slot.index);
        true
    }

    /// Add a global root holding `obj`.
    pub fn add(&self, obj: NonNull<u8>) -> GlobalSlot {
        let s = self.reserve();
        self.set(s, obj);
        s
    }

    /// Fill a slot reserved by this caller (G2). Returns false, storing
    /// nothing, if the reservation was given back already (its last
    /// handle was dropped before the transaction that made it committed).
    ///
    /// Panics if the slot was set already (only the transaction that
    /// reserved a slot sets it, once).
    pub fn set(&self, slot: GlobalSlot, obj: NonNull<u8>) -> bool {
        let e = self.entry(slot.index).expect("a reserved slot's segment exists");
        let reserved = slot_state::word(slot.generation, RESERVED);
        match e.state.compare_exchange(
            reserved,
            slot_state::word(slot.generation, SETTING),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(w) => {
                assert!(
                    slot_state::generation(w) != slot.generation || slot_state::state(w) == FREE,
                    "global root slot {} set twice",
                    slot.index
                );
                return false;
            }
        }
        // Release (the seqlock's writer side, G4): a reader whose Acquire
        // load finds this object then sees SETTING g at its re-read of the
        // state word, so a stale handle never accepts it (loom found the
        // Relaxed store unsound: `stale_read_against_reuse`).
        e.obj.store(obj.as_ptr(), Ordering::Release);
        // Release: a reader that sees SET g sees the object.
        e.state.store(slot_state::word(slot.generation, SET), Ordering::Release);
        true
    }

    /// The object a global root holds (G4): Acquire loads, no lock.
    #[inline]
    pub fn get(&self, slot: GlobalSlot) -> Result<NonNull<u8>, GlobalError> {
        let e = self.entry(slot.index).ok_or(GlobalError::Stale)?;
        let w = e.state.load(Ordering::Acquire);
        if slot_state::generation(w) != slot.generation {
            return Err(GlobalError::Stale);
        }
        match slot_state::state(w) {
            SET => {}
            RESERVED | SETTING => return Err(GlobalError::Unset),
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

    /// Resolve `slot`, a handle this set handed out, to its entry (its
    /// segment exists from the reservation on and never moves).
    pub fn resolve(&self, slot: GlobalSlot) -> ResolvedSlot {
        let e = self.entry(slot.index).expect("a handed-out index has a segment");
        ResolvedSlot { entry: NonNull::from(e), slot }
    }

    /// [`GlobalRoots::get`] through a resolved slot: the same answers
    /// (G4), with the set slot's read inlined: the state word compared
    /// with `SET g` at once, before and after the object's load. Any
    /// other outcome (unset, stale, a writer in between) goes to `get`.
    ///
    /// # Safety
    /// `r` came from [`GlobalRoots::resolve`] of this set (`self`, alive
    /// while the caller borrows it, so `r`'s entry is too).
    #[inline]
    pub unsafe fn get_resolved(&self, r: &ResolvedSlot) -> Result<NonNull<u8>, GlobalError> {
        // SAFETY: the caller guarantees `r` is an entry of this live set,
        // and entries are never moved or freed while the set lives.
        let e = unsafe { r.entry.as_ref() };
        // The state word of this reservation while it is set.
        let set = slot_state::word(r.slot.generation, SET);
        if e.state.load(Ordering::Acquire) == set {
            let p = e.obj.load(Ordering::Acquire);
            // The seqlock's re-read, as in `get`.
            if e.state.load(Ordering::Acquire) == set {
                if let Some(p) = NonNull::new(p) {
                    return Ok(p);
                }
            }
        }
        self.get_cold(r.slot)
    }

    #[cold]
    #[inline(never)]
    fn get_cold(&self, slot: GlobalSlot) -> Result<NonNull<u8>, GlobalError> {
        self.get(slot)
    }

    /// Every global root's object (the SET slots, G5), passed to `f`.
    pub fn scan(&self, mut f: impl FnMut(NonNull<u8>)) {
        let n = self.next.load(Ordering::Acquire);
        for i in 0..n {
            let Some(e) = self.entry(i) else { continue };
            let w = e.state.load(Ordering::Acquire);
            if slot_state::state(w) != SET {
                continue;
            }
            if let Ok(p) = self.get(GlobalSlot { index: i, generation: slot_state::generation(w) }) {
                f(p);
            }
        }
    }

    /// Global roots set now.
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.scan(|_| n += 1);
        n
    }

    /// No global root is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for GlobalRoots {
    fn drop(&mut self) {
        for (k, s) in self.segments.iter().enumerate() {
            let p = s.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: from `Box::into_raw` in `fresh_index`, of `BASE << k`
                // entries; dropped once.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, BASE << k)) });
            }
        }
    }
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;

    fn p(n: usize) -> NonNull<u8> {
        NonNull::new(n as *mut u8).unwrap()
    }

    fn scan(g: &GlobalRoots) -> Vec<NonNull<u8>> {
        let mut v = Vec::new();
        g.scan(|p| v.push(p));
        v
    }

    #[test]
    fn locate_covers_segments_in_order() {
        let mut expect = (0, 0);
        for i in 0..BASE * 20 {
            assert_eq!(locate(i), expect, "index {i}");
            expect.1 += 1;
            if expect.1 == BASE << expect.0 {
                expect = (expect.0 + 1, 0);
            }
        }
    }

    #[test]
    fn reserve_set_get_and_unset() {
        let g = GlobalRoots::new();
        let s = g.add(p(16));
        assert_eq!(g.get(s), Ok(p(16)));
        let r = g.reserve();
        assert_eq!(g.get(r), Err(GlobalError::Unset));
        assert!(g.release(r));
        let again = g.reserve();
        assert_eq!(again.index, r.index, "a given-back slot is reused");
        assert_ne!(again.generation, r.generation, "with a new generation");
        assert!(g.set(again, p(128)));
        assert_eq!(g.get(r), Err(GlobalError::Stale), "a handle from the given-back reservation is stale");
        assert_eq!(g.get(again), Ok(p(128)));
        assert_eq!(scan(&g), vec![p(16), p(128)]);
    }

    #[test]
    fn a_million_roots_and_their_release() {
        let g = GlobalRoots::new();
        let many: Vec<_> = (0..1_000_000).map(|i| g.add(p(16 * (i + 1)))).collect();
        assert_eq!(g.get(many[999_999]), Ok(p(16 * 1_000_000)));
        assert_eq!(g.len(), 1_000_000);
        for s in &many[..500_000] {
            assert!(g.release(*s));
        }
        assert_eq!(g.len(), 500_000);
        assert_eq!(g.get(many[0]), Err(GlobalError::Stale));
        // Released slots are reused before fresh ones.
        let before = g.next.load(Ordering::Relaxed);
        for i in 0..500_000 {
            g.add(p(16 * (i + 1)));
        }
        assert_eq!(g.next.load(Ordering::Relaxed), before, "no fresh slot was needed");
        assert_eq!(g.len(), 1_000_000);
    }

    #[test]
    fn release_frees_a_reservation_once() {
        let g = GlobalRoots::new();
        let r = g.reserve();
        assert!(g.release(r));
        assert!(!g.release(r), "a second give-back of the same reservation");
        let a = g.reserve();
        let b = g.reserve();
        assert_ne!(a.index, b.index, "two live reservations never share a slot");
        assert!(!g.release(r), "an old handle cannot free the slot's new reservation");
        assert_eq!(g.get(a), Err(GlobalError::Unset));
    }

    #[test]
    fn set_after_release_stores_nothing() {
        let g = GlobalRoots::new();
        let r = g.reserve();
        assert!(g.release(r), "the last handle dropped before the commit");
        let other = g.reserve();
        assert_eq!(other.index, r.index);
        assert!(!g.set(r, p(16)), "the late commit finds its reservation given back");
        assert!(g.set(other, p(32)));
        assert_eq!(g.get(other), Ok(p(32)), "the new reservation keeps its object");
    }

    /// `get_resolved` gives `get`'s answer in every state a handle meets:
    /// set, reserved, given back, and given back with its slot reused.
    #[test]
    fn a_resolved_slot_answers_as_get_does() {
        let g = GlobalRoots::new();
        let check = |s: GlobalSlot, r: &ResolvedSlot, expect: Result<NonNull<u8>, GlobalError>| {
            // SAFETY: `r` was resolved by `g`, alive here.
            let got = unsafe { g.get_resolved(r) };
            assert_eq!(got, expect, "resolved read of {s:?}");
            assert_eq!(g.get(s), expect, "read of {s:?}");
        };
        let set = g.add(p(16));
        let rs = g.resolve(set);
        check(set, &rs, Ok(p(16)));
        let reserved = g.reserve();
        let rr = g.resolve(reserved);
        check(reserved, &rr, Err(GlobalError::Unset));
        assert!(g.set(reserved, p(48)));
        check(reserved, &rr, Ok(p(48)));
        assert!(g.release(set));
        check(set, &rs, Err(GlobalError::Stale));
        let reuse = g.reserve();
        assert_eq!(reuse.index, set.index);
        check(set, &rs, Err(GlobalError::Stale));
        assert!(g.set(reuse, p(64)));
        check(set, &rs, Err(GlobalError::Stale));
        check(reuse, &g.resolve(reuse), Ok(p(64)));
        // A slot of a later segment.
        let many: Vec<_> = (0..3 * BASE).map(|i| g.add(p(16 * (i + 1)))).collect();
        let last = *many.last().unwrap();
        check(last, &g.resolve(last), Ok(p(16 * 3 * BASE)));
    }

    #[test]
    #[should_panic(expected = "set twice")]
    fn setting_twice_panics() {
        let g = GlobalRoots::new();
        let r = g.add(p(16));
        g.set(r, p(32));
    }
}

/// Loom models of a global root's life against a reader and the
/// collector's scan (`RUSTFLAGS="--cfg tmgc_loom" cargo test -p tmgc-roots
/// --release --target-dir target/loom`).
#[cfg(all(test, tmgc_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    fn p(n: usize) -> NonNull<u8> {
        NonNull::new(n as *mut u8).unwrap()
    }

    /// A handle is dropped on one thread while the commit that made it sets
    /// it on another; the slot is then reused. The reuse never receives
    /// the late commit's object (G2), and a scan reports only objects that
    /// were set.
    #[test]
    fn set_races_release_and_reuse() {
        loom::model(|| {
            let g = Arc::new(GlobalRoots::new());
            let r = g.reserve();
            let committer = {
                let g = Arc::clone(&g);
                loom::thread::spawn(move || g.set(r, p(16)))
            };
            g.release(r);
            let mine = g.reserve();
            assert!(g.set(mine, p(32)));
            let mut seen = Vec::new();
            g.scan(|x| seen.push(x));
            committer.join().unwrap();
            assert_eq!(g.get(mine), Ok(p(32)), "the reuse kept its own object");
            assert!(seen.contains(&p(32)));
            assert!(seen.iter().all(|&x| x == p(16) || x == p(32)));
            assert_eq!(g.get(r).ok(), None, "the dropped handle reads nothing");
        });
    }

    /// A stale handle read while its slot is released and reused never
    /// returns the new object (G4).
    #[test]
    fn stale_read_against_reuse() {
        loom::model(|| {
            let g = Arc::new(GlobalRoots::new());
            let old = g.add(p(16));
            let reader = {
                let g = Arc::clone(&g);
                loom::thread::spawn(move || g.get(old))
            };
            assert!(g.release(old));
            let new = g.add(p(32));
            let read = reader.join().unwrap();
            assert!(read == Ok(p(16)) || read == Err(GlobalError::Stale), "{read:?}");
            assert_eq!(g.get(new), Ok(p(32)));
        });
    }

    /// The same race read through a resolved slot (`get_resolved`, the
    /// transaction's read of a global root): never the new object.
    #[test]
    fn stale_resolved_read_against_reuse() {
        loom::model(|| {
            let g = Arc::new(GlobalRoots::new());
            let old = g.add(p(16));
            let resolved = g.resolve(old);
            let reader = {
                let g = Arc::clone(&g);
                loom::thread::spawn(move || {
                    // SAFETY: resolved by `g`, which the reader keeps alive.
                    unsafe { g.get_resolved(&resolved) }
                })
            };
            assert!(g.release(old));
            let new = g.add(p(32));
            let read = reader.join().unwrap();
            assert!(read == Ok(p(16)) || read == Err(GlobalError::Stale), "{read:?}");
            assert_eq!(g.get(new), Ok(p(32)));
        });
    }
}
