//! Transactions: TL2 with lazy versioning and a lazy clock, opacity, and
//! commit points.
//!
//! ## The algorithm
//! Every object's version-lock word holds a version and the *writer tag* of
//! the mutator whose commit last wrote it (`flags::vlock`). The global
//! clock `G` is **lazy**: commits read it but never bump it, so disjoint
//! transactions share no written cache line.
//! - **Begin**: `rv = G`.
//! - **Read** a field of a published object: sample its word, load the
//!   field (Acquire), sample the word again; a held lock or a change between
//!   the samples is a [`Conflict`]. The word is *in the snapshot* if its
//!   version is at most `rv`, or if it carries this mutator's own tag (the
//!   object is as our own earlier commit left it). Otherwise another thread
//!   wrote it after our snapshot began: **extend** the snapshot (advance `G`
//!   to at least that version, check that every word in the read set is
//!   unchanged, take `G` as the new `rv`) and read again. The object and the
//!   word join the read set. A running transaction therefore never sees an
//!   inconsistent state, even one that will abort (**opacity**).
//! - **Write**: buffered in the write log (lazy versioning), per word; a read
//!   of a word this transaction wrote returns the buffered value. The first
//!   write to an object puts it in the read set like a read, so a commit
//!   never writes back into an object that changed since (design brief §3,
//!   trap 8). Objects this transaction allocated (`NEW`) are private and
//!   written in place.
//! - **Commit** (only if it wrote or published): lock the written objects in
//!   address order (CAS: the lock word keeps the version and carries our
//!   tag); read `G`; validate the read set (every word as read, or our own
//!   lock on it); take `wv = max(G, every version read or overwritten) + 1`;
//!   stamp the new objects with `(wv, tag)` and clear `NEW`; write the logged
//!   words back (Release); release the locks with `(wv, tag)`. Read-only
//!   transactions commit with no work at all.
//! - **Abort**: release any locks (restoring the words), run the destructors
//!   of the objects it allocated, rewind the allocator to the attempt's
//!   checkpoint, discard the roots it created. Conflicts retry with backoff.
//!
//! **Why the lazy clock is sound.** (1) A commit with write version `wv`
//! read `G < wv` *after* locking its write set, so `G` reaches `wv` only by
//! a later advance; any transaction whose `rv >= wv` read `G` after that,
//! and so sees the commit's locks or its written-back values, never a
//! half-written state. This needs the lock CAS, the clock loads and the
//! version-lock loads to be `SeqCst` (one total order); under loom, which
//! models `SeqCst` accesses only as `AcqRel`, `sync::sc_order` adds the
//! equivalent `SeqCst` fences. (2) A word with our own tag was written by
//! one of our own earlier commits, which finished before this transaction
//! began; tags are reused only after the previous owner detached (which
//! happens before the next owner attaches). (3) Each write gives an object a
//! larger version than it had, so a word that is unchanged means a value
//! that is unchanged (no ABA), and validation compares words exactly.
//! (4) Two commits that each read what the other writes both lock before
//! they validate, in one `SeqCst` order, so the second to validate sees the
//! first's lock (write skew is impossible; the loom model
//! `read_set_validation_prevents_write_skew` fails without this order).
//!
//! Serializability: a writer is equivalent to running atomically at its
//! validation (its reads unchanged until then, its writes under its locks);
//! a reader at its last snapshot. A transaction that read or overwrote
//! another's write has a larger version than it, but two independent
//! writers may share a version: unlike TL2's counter, versions are not a
//! serial order by themselves.
//!
//! ## Solo mode
//! While its mutator is the only one attached (`crate::solo`), a
//! transaction runs with no concurrency control: a read is one load (after
//! a look in the write log once it has written), a write is logged without
//! joining a read set, and a commit writes the log back without locking,
//! validating or advancing any version (new objects are stamped with the
//! read version). Writes stay buffered, so aborts, panics and the commit
//! barrier work as in every transaction. No other transaction overlaps a
//! solo one (S2 of `solo`), so none can observe its write-back half done,
//! and no read set spans it.
//!
//! ## Inevitable transactions
//! `become_inevitable` sets the clock's top bit (`INEVITABLE`; if another
//! transaction holds it, the attempt conflicts and waits, parked, for it to
//! end). A normal commit that then reads the clock sees the bit and backs
//! off (restores its locked words, retries once the bit clears), so no
//! commit lands while it runs. Commits that read the clock *before* the bit
//! was set already hold all their locks (a commit locks before it reads the
//! clock, in the `SeqCst` order); the inevitable transaction waits for those
//! locks instead of aborting. It checks that what it read before is
//! unchanged, and from then on reads whatever is unlocked and cannot
//! conflict: it may do I/O.
//! **Other transactions keep running but wait at their commit** until it
//! ends. Its writes are still buffered, so an inevitable transaction that
//! fails (heap full, or its body gives up) still rolls back its heap effects.

use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicPtr, AtomicU64};

use tmgc_alloc::{AllocError, Checkpoint, LocalAllocator};

use crate::collector::mark::shade;
use crate::collector::stats::PauseClock;
use crate::collector::weak::{cell_slot, WeakPhase};
use crate::error::{Conflict, RootMisuse};
use crate::field::{Ref, Value, Word};
use crate::flags::{vlock, ObjFlags};
use crate::gcref::{Brand, Dyn, Gc, GlobalRoot, Root};
use crate::header::Header;
use crate::heap::{HeapInner, INEVITABLE};
use crate::mutator::{Core, RootDrops, Running};
use crate::sync::{sc_order, Spin};
use crate::types::WEAK_CELL;
use crate::types::{DynType, GcType, TypeInfo};
use crate::weak::Weak;

/// A logged write.
#[derive(Clone, Copy)]
pub(crate) enum Write {
    Word { obj: NonNull<Header>, word: *const AtomicU64, value: u64 },
    Ptr { obj: NonNull<Header>, word: *const AtomicPtr<Header>, value: *mut Header },
}

impl Write {
    fn obj(&self) -> NonNull<Header> {
        match *self {
            Write::Word { obj, .. } | Write::Ptr { obj, .. } => obj,
        }
    }
    fn addr(&self) -> usize {
        match *self {
            Write::Word { word, .. } => word.addr(),
            Write::Ptr { word, .. } => word.addr(),
        }
    }
}

/// Per-attempt logs, kept in the mutator so their memory is reused.
#[derive(Default)]
pub(crate) struct Logs {
    /// Objects read, with the version-lock word each had.
    pub(crate) reads: Vec<(NonNull<Header>, u64)>,
    pub(crate) writes: Vec<Write>,
    pub(crate) news: Vec<NonNull<Header>>,
    pub(crate) globals: Vec<(tmgc_roots::GlobalSlot, NonNull<Header>)>,
    pub(crate) locked: Vec<(NonNull<Header>, u64)>,
    /// Scratch for the commit's lock set (kept to reuse its memory).
    pub(crate) objs: Vec<NonNull<Header>>,
}

impl Logs {
    fn is_clear(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty() && self.news.is_empty() && self.globals.is_empty()
    }

    fn clear(&mut self) {
        self.reads.clear();
        self.writes.clear();
        self.news.clear();
        self.globals.clear();
        self.locked.clear();
    }
}

/// A running transaction. Its lifetime `'tx` brands every [`Gc`] it hands
/// out (see the `gcref` module docs).
pub struct Tx<'tx> {
    core: &'tx mut Core,
    drops: &'tx Rc<RootDrops>,
    ck: Option<Checkpoint>,
    /// The read version: every object read has a version at most `rv` or
    /// was last written by this mutator (see the module docs).
    rv: u64,
    /// The largest version of any object read (the write version exceeds it).
    maxv: u64,
    inevitable: bool,
    /// Solo mode (`crate::solo`): no other transaction runs while this one
    /// does, so reads and commits skip concurrency control.
    solo: bool,
    /// `solo`, and no write logged yet: a read is one load.
    unlogged_solo: bool,
    /// The read set's last entry (`reads.last()`), kept here so that a
    /// re-read of the same object does not reach into the logs.
    last_read: Option<(NonNull<Header>, u64)>,
    finished: bool,
    _brand: Brand<'tx>,
    /// The thread is RUNNING while the attempt lives; dropped after
    /// `Drop::drop` rolled back an unfinished attempt (fields drop after
    /// it), so the thread parks only once its `Core` is free again.
    _running: Running<'tx>,
}

impl<'tx> Tx<'tx> {
    #[inline]
    pub(crate) fn begin(core: &'tx mut Core, drops: &'tx Rc<RootDrops>, running: Running<'tx>) -> Self {
        debug_assert!(core.logs.is_clear(), "an attempt began with another attempt's logs");
        let rv = core.heap.version();
        sc_order();
        let solo = core.solo;
        Tx {
            core,
            drops,
            // Taken at the first allocation: most transactions allocate
            // nothing, and then there is nothing to rewind.
            ck: None,
            rv,
            maxv: 0,
            inevitable: false,
            solo,
            unlogged_solo: solo,
            last_read: None,
            finished: false,
            _brand: std::marker::PhantomData,
            _running: running,
        }
    }

    /// Apply the root drops queued since the last commit or abort.
    #[inline]
    fn apply_root_drops(&mut self) {
        if let Ok(mut d) = self.drops.try_borrow_mut() {
            if d.is_empty() {
                return;
            }
            for s in d.drain(..) {
                self.core.roots.drop_root(s);
            }
        }
    }

    fn heap(&self) -> &HeapInner {
        &self.core.heap
    }

    // ---- allocation ----

    /// Allocate `value` in the heap. The object is private to this
    /// transaction until it commits, and vanishes if it aborts (its destructor
    /// runs then).
    pub fn alloc<T: GcType>(&mut self, value: T) -> Result<Gc<'tx, T>, AllocError> {
        let h = self.alloc_raw(T::TYPE_INFO)?;
        // SAFETY: `alloc_raw` returned a fresh object of T's size and
        // alignment with its header written; the payload is uninitialised.
        unsafe {
            crate::header::Header::payload(h).cast::<T>().write(value);
            Ok(Gc::from_header(h))
        }
    }

    /// Allocate an object of a dynamic type: null slots, zero data words.
    pub fn alloc_dyn(&mut self, ty: DynType) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let h = self.alloc_raw(info)?;
        // SAFETY: a fresh payload of `size` bytes = slots + data words, all of
        // which are 8-byte atomics whose zero value is null / 0.
        unsafe { std::ptr::write_bytes(Header::payload(h).as_ptr(), 0, info.size()) };
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }

    fn alloc_raw(&mut self, info: &'static TypeInfo) -> Result<NonNull<Header>, AllocError> {
        let size = info.object_size();
        let align = info.align().max(crate::HEADER_BYTES);
        let needs_drop = info.flags().contains(ObjFlags::HAS_DROP);
        let a: &mut LocalAllocator = &mut self.core.alloc;
        if self.ck.is_none() {
            // Before the attempt's first allocation: an abort rewinds to here.
            self.ck = Some(a.checkpoint());
        }
        let p = if needs_drop { a.alloc_needs_drop(size, align)? } else { a.alloc(size, align)? };
        let h = p.cast::<Header>();
        let mut flags = info.flags() | ObjFlags::NEW;
        if size > tmgc_alloc::LARGE_THRESHOLD {
            flags |= ObjFlags::LARGE;
        }
        // SAFETY: fresh, suitably aligned memory of at least a header's size.
        unsafe { h.write(Header::new(info, flags)) };
        self.core.logs.news.push(h);
        Ok(h)
    }

    // ---- weak references ----

    /// Allocate a weak cell referring to `target` (or to nothing). The cell
    /// is an ordinary object (root it, or store it in a [`Ref`] field); it
    /// does not keep `target` alive. See [`crate::weak`].
    pub fn new_weak<T: ?Sized>(&mut self, target: Option<Gc<'tx, T>>) -> Result<Gc<'tx, Weak<T>>, AllocError> {
        let h = self.alloc_raw(&WEAK_CELL)?;
        let target = target.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr());
        // SAFETY: a fresh weak cell: its payload is one reference word, not
        // yet initialised; after this write the object is a `Weak<T>`.
        unsafe {
            Header::payload(h).cast::<AtomicPtr<Header>>().write(AtomicPtr::new(target));
            Ok(Gc::from_header(h))
        }
    }

    /// The referent of weak cell `w`, if it is still alive. While a cycle
    /// marks, this keeps the referent alive for the cycle; once marking
    /// closes, a referent the marker did not reach is `None` (and the cell
    /// is cleared before its referent is freed). A transactional read of the
    /// cell: a commit that retargets it conflicts as with any field.
    pub fn upgrade<T: ?Sized>(&mut self, w: Gc<'tx, Weak<T>>) -> Result<Option<Gc<'tx, T>>, Conflict> {
        // Inside the gate the weak phase cannot change (collector/weak.rs):
        // the cell is read, and its referent judged, in one phase.
        let heap: *const HeapInner = &*self.core.heap;
        // (A raw pointer, not an `Arc` clone: no reference-count RMWs on a
        // weak read, and `self` stays free for the transactional read.)
        // SAFETY: `self.core` holds an `Arc` of the heap for all of 'tx,
        // and this call does not drop it.
        let heap = unsafe { &*heap };
        let gate = heap.collector.weak_gate.enter();
        // SAFETY: `w` is a live weak cell (a `Gc<Weak<T>>` comes only from
        // `new_weak` or from reads of references typed `Weak<T>`).
        let slot = unsafe { cell_slot(w.ptr) };
        let Some(r) = NonNull::new(self.read_ptr(w.ptr, slot)?) else { return Ok(None) };
        let live = if Self::is_new(r) {
            // Our own new object, stored by this transaction: private, live.
            true
        } else {
            match gate.phase {
                WeakPhase::Idle => true,
                WeakPhase::Shade => {
                    // Straight into the collector's grey set, not this
                    // thread's buffer: the buffer may have been flushed for
                    // the last time (trap 5).
                    let mut grey = Vec::new();
                    // SAFETY: nothing is freed before marking closes, and a
                    // referent read in SHADE is published and unfreed.
                    if unsafe { shade(r, &mut grey) } {
                        heap.collector.grey.push_packet(grey);
                    }
                    true
                }
                // SAFETY: in CLOSED no sweep has begun (W2): `r` is unfreed.
                WeakPhase::Closed => unsafe { tmgc_alloc::is_marked(r.cast()) },
            }
        };
        drop(gate);
        // SAFETY: `r` is alive for 'tx: judged so above, and a cell only
        // ever holds null or a `T` (`new_weak` and `set_weak` take `Gc<T>`).
        Ok(live.then(|| unsafe { Gc::from_header(r) }))
    }

    /// Retarget weak cell `w` (a transactional write of the cell).
    pub fn set_weak<T: ?Sized>(&mut self, w: Gc<'tx, Weak<T>>, target: Option<Gc<'tx, T>>) -> Result<(), Conflict> {
        // SAFETY: `w` is a live weak cell (as in `upgrade`).
        let word: *const AtomicPtr<Header> = unsafe { cell_slot(w.ptr) };
        self.write(Write::Ptr { obj: w.ptr, word, value: target.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) })
    }

    // ---- reads and writes ----

    fn check_field<T: GcType, F>(obj: Gc<'tx, T>, field: &F) {
        let base = obj.ptr.addr().get() + T::TYPE_INFO.payload_offset();
        let a = (field as *const F).addr();
        assert!(
            a >= base && a + std::mem::size_of::<F>() <= base + T::TYPE_INFO.size(),
            "field projection must return a field of the object passed in"
        );
    }

    /// Read a [`Value`] field of `obj`.
    #[inline]
    pub fn get<T: GcType, W: Word>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Value<W>,
    ) -> Result<W, Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let bits = self.read_word(obj.ptr, f.word())?;
        Ok(W::from_bits(bits))
    }

    /// Write a [`Value`] field of `obj`.
    #[inline]
    pub fn set<T: GcType, W: Word>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Value<W>,
        value: W,
    ) -> Result<(), Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        self.write(Write::Word { obj: obj.ptr, word: f.word(), value: value.to_bits() })
    }

    /// Read a [`Ref`] field of `obj`.
    #[inline]
    pub fn load<T: GcType, U: ?Sized>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Ref<U>,
    ) -> Result<Option<Gc<'tx, U>>, Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let p = self.read_ptr(obj.ptr, f.word())?;
        // A reference field holds null or a `U` (only `store`, which takes a
        // `Gc<U>`, writes it), and no object is freed under a running
        // transaction.
        // SAFETY: so `p` is a live `U` for 'tx.
        Ok(NonNull::new(p).map(|p| unsafe { Gc::from_header(p) }))
    }

    /// Write a [`Ref`] field of `obj`.
    #[inline]
    pub fn store<T: GcType, U: ?Sized>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Ref<U>,
        value: Option<Gc<'tx, U>>,
    ) -> Result<(), Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let value = value.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr());
        self.write(Write::Ptr { obj: obj.ptr, word: f.word(), value })
    }

    fn dyn_words(obj: Gc<'tx, Dyn>) -> (usize, usize, NonNull<u8>) {
        let info = obj.header().type_info();
        let (slots, data) = info.shape().unwrap_or_else(|| {
            panic!(
                "a `{}` is not a dynamic object (a weak cell read with `slot`? read it with `slot_weak`)",
                info.name()
            )
        });
        // SAFETY: a live object.
        (slots, data, unsafe { Header::payload(obj.ptr) })
    }

    /// Reference slot `i` of a dynamic object. Panics if `i` is out of range.
    fn slot_word(obj: Gc<'tx, Dyn>, i: usize) -> &'tx AtomicPtr<Header> {
        let (slots, _, p) = Self::dyn_words(obj);
        assert!(i < slots, "slot {i} out of range: the type has {slots}");
        // SAFETY: slot i of the payload's slot array, of an object live for 'tx.
        unsafe { &*p.cast::<AtomicPtr<Header>>().as_ptr().add(i) }
    }

    /// Read reference slot `i` of a dynamic object. Panics if `i` is out of range.
    pub fn slot(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Option<Gc<'tx, Dyn>>, Conflict> {
        let v = self.read_ptr(obj.ptr, Self::slot_word(obj, i))?;
        // SAFETY: as in `load`: a slot holds null or a live object: a
        // dynamic one (`set_slot`), or a weak cell (`set_slot_weak`), which
        // every dynamic accessor refuses with a panic (`dyn_words`).
        Ok(NonNull::new(v).map(|v| unsafe { Gc::from_header(v) }))
    }

    /// Write reference slot `i` of a dynamic object. Panics if `i` is out of range.
    pub fn set_slot(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: Option<Gc<'tx, Dyn>>) -> Result<(), Conflict> {
        let word = Self::slot_word(obj, i);
        self.write(Write::Ptr { obj: obj.ptr, word, value: value.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) })
    }

    /// Read reference slot `i` of a dynamic object as a weak cell (one that
    /// [`Tx::set_slot_weak`] stored there): an interpreter's weak
    /// references. The slot holds the cell strongly; the cell does not hold
    /// its referent ([`Tx::upgrade`]). Panics if `i` is out of range, or if
    /// the slot holds an object that is not a weak cell.
    pub fn slot_weak(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Option<Gc<'tx, Weak<Dyn>>>, Conflict> {
        let Some(v) = NonNull::new(self.read_ptr(obj.ptr, Self::slot_word(obj, i))?) else { return Ok(None) };
        // SAFETY: a slot holds null or a live object (as in `slot`).
        let info = unsafe { v.as_ref() }.type_info();
        assert!(
            std::ptr::eq(info, &WEAK_CELL),
            "slot {i} holds a `{}`, not a weak cell (read it with `slot`)",
            info.name()
        );
        // SAFETY: a live weak cell, whose referent is a dynamic object (only
        // `set_slot_weak`, which takes a `Gc<Weak<Dyn>>`, stores cells in
        // slots).
        Ok(Some(unsafe { Gc::from_header(v) }))
    }

    /// Store weak cell `cell` (or null) in reference slot `i` of a dynamic
    /// object; read it back with [`Tx::slot_weak`]. Panics if `i` is out of
    /// range.
    pub fn set_slot_weak(
        &mut self,
        obj: Gc<'tx, Dyn>,
        i: usize,
        cell: Option<Gc<'tx, Weak<Dyn>>>,
    ) -> Result<(), Conflict> {
        let word = Self::slot_word(obj, i);
        self.write(Write::Ptr { obj: obj.ptr, word, value: cell.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) })
    }

    /// Read data word `i` of a dynamic object. Panics if `i` is out of range.
    pub fn data(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<u64, Conflict> {
        let (slots, data, p) = Self::dyn_words(obj);
        assert!(i < data, "data word {i} out of range: the type has {data}");
        // SAFETY: data word i follows the slots.
        let w = unsafe { &*p.cast::<AtomicU64>().as_ptr().add(slots + i) };
        self.read_word(obj.ptr, w)
    }

    /// Write data word `i` of a dynamic object. Panics if `i` is out of range.
    pub fn set_data(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: u64) -> Result<(), Conflict> {
        let (slots, data, p) = Self::dyn_words(obj);
        assert!(i < data, "data word {i} out of range: the type has {data}");
        // SAFETY: data word i follows the slots.
        let word = unsafe { p.cast::<AtomicU64>().as_ptr().add(slots + i) }.cast_const();
        self.write(Write::Word { obj: obj.ptr, word, value })
    }

    #[inline]
    fn is_new(obj: NonNull<Header>) -> bool {
        // SAFETY: a live object.
        unsafe { obj.as_ref() }.flags().contains(ObjFlags::NEW)
    }

    fn logged(&self, addr: usize) -> Option<Write> {
        self.core.logs.writes.iter().rev().find(|w| w.addr() == addr).copied()
    }

    /// Read one word of `obj` (see the module docs).
    fn read_checked<V>(&mut self, obj: NonNull<Header>, load: impl Fn() -> V) -> Result<V, Conflict> {
        // SAFETY: a live object.
        let h = unsafe { obj.as_ref() };
        if self.inevitable {
            // Only commits that read the clock before we became inevitable
            // can still be writing (they hold their locks): wait for them.
            // Every other commit backs off until we end.
            let spin = Spin::new();
            loop {
                let v1 = h.vlock().load(Ordering::SeqCst);
                if !vlock::is_held(v1) {
                    let value = load();
                    if h.vlock().load(Ordering::SeqCst) == v1 {
                        self.maxv = self.maxv.max(vlock::version(v1));
                        return Ok(value);
                    }
                }
                spin.snooze();
            }
        }
        loop {
            let v1 = h.vlock().load(Ordering::SeqCst);
            if vlock::is_held(v1) {
                return Err(Conflict);
            }
            let version = vlock::version(v1);
            if version > self.rv && vlock::tag(v1) != self.core.tag {
                // Written by another thread after our snapshot: move the
                // snapshot forward if what we read is still current.
                self.extend(version)?;
                continue;
            }
            let value = load();
            if h.vlock().load(Ordering::SeqCst) != v1 {
                return Err(Conflict);
            }
            self.maxv = self.maxv.max(version);
            self.last_read = Some((obj, v1));
            let reads = &mut self.core.logs.reads;
            match reads.last() {
                // Any later change to an object we read has a version past
                // `rv` and another tag, so a re-read finds the same word.
                Some(&(last, w)) if last == obj => debug_assert_eq!(w, v1, "an accepted re-read changed"),
                _ => reads.push((obj, v1)),
            }
            return Ok(value);
        }
    }

    /// Snapshot extension: advance the clock to at least `version`, check
    /// that everything read so far is unchanged, and take the clock as the
    /// new read version.
    #[cold]
    #[inline(never)]
    fn extend(&mut self, version: u64) -> Result<(), Conflict> {
        let now = self.core.heap.advance(version);
        sc_order();
        if !validate(&self.core.logs.reads, self.core.tag) {
            return Err(Conflict);
        }
        self.rv = now;
        Ok(())
    }

    /// Another read of the object read last (a record's fields one after
    /// another): one sample of its word after the load suffices. A commit
    /// that wrote the field locked the object first (the word left `seen`)
    /// and released it with a newer version, so a value newer than `seen`
    /// (read with Acquire) cannot be followed by `seen` again; a commit that
    /// backs off restores `seen` but never wrote a field.
    #[inline]
    fn reread<V>(&self, obj: NonNull<Header>, load: impl Fn() -> V) -> Option<V> {
        debug_assert_eq!(self.last_read, self.core.logs.reads.last().copied());
        let (last, seen) = self.last_read?;
        if last != obj {
            return None;
        }
        let value = load();
        // SAFETY: a live object.
        (unsafe { obj.as_ref() }.vlock().load(Ordering::SeqCst) == seen).then_some(value)
    }

    /// Read one field word of `obj`: the inlined fast paths (solo mode
    /// before any write; a re-read of the object read last), then the rest.
    #[inline]
    fn read_word(&mut self, obj: NonNull<Header>, w: &AtomicU64) -> Result<u64, Conflict> {
        if self.unlogged_solo {
            // No other transaction runs (solo mode, S2), and this one has
            // logged no write yet.
            return Ok(w.load(Ordering::Acquire));
        }
        if self.core.logs.writes.is_empty() {
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        self.read_word_slow(obj, w)
    }

    #[inline(never)]
    fn read_word_slow(&mut self, obj: NonNull<Header>, w: &AtomicU64) -> Result<u64, Conflict> {
        // Our own writes first (a new object's are in place, never logged);
        // then the object read last, which is not new (new objects never
        // enter the read set), before looking at the header. With nothing
        // logged, `read_word` tried the re-read (and solo mode, then, never
        // gets here).
        if !self.core.logs.writes.is_empty() {
            if let Some(Write::Word { value, .. }) = self.logged((w as *const AtomicU64).addr()) {
                return Ok(value);
            }
            if self.solo {
                return Ok(w.load(Ordering::Acquire));
            }
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        debug_assert!(!self.solo, "a solo read with nothing logged takes the fast path");
        if Self::is_new(obj) {
            return Ok(w.load(Ordering::Relaxed));
        }
        self.read_checked(obj, || w.load(Ordering::Acquire))
    }

    /// [`Tx::read_word`] for reference words.
    #[inline]
    fn read_ptr(&mut self, obj: NonNull<Header>, w: &AtomicPtr<Header>) -> Result<*mut Header, Conflict> {
        if self.unlogged_solo {
            return Ok(w.load(Ordering::Acquire));
        }
        if self.core.logs.writes.is_empty() {
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        self.read_ptr_slow(obj, w)
    }

    #[inline(never)]
    fn read_ptr_slow(&mut self, obj: NonNull<Header>, w: &AtomicPtr<Header>) -> Result<*mut Header, Conflict> {
        // In the order of `read_word_slow`.
        if !self.core.logs.writes.is_empty() {
            if let Some(Write::Ptr { value, .. }) = self.logged((w as *const AtomicPtr<Header>).addr()) {
                return Ok(value);
            }
            if self.solo {
                return Ok(w.load(Ordering::Acquire));
            }
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        debug_assert!(!self.solo, "a solo read with nothing logged takes the fast path");
        if Self::is_new(obj) {
            return Ok(w.load(Ordering::Relaxed));
        }
        self.read_checked(obj, || w.load(Ordering::Acquire))
    }

    /// Log a write (or make it in place, to an object of ours). Inlined: the
    /// first write of a solo transaction, or the first write to the object
    /// read last, is a push; the rest is out of line.
    #[inline]
    fn write(&mut self, w: Write) -> Result<(), Conflict> {
        let logs = &mut self.core.logs;
        if logs.writes.is_empty() && !Self::is_new(w.obj()) {
            let obj = w.obj();
            if self.solo || self.last_read.is_some_and(|(o, _)| o == obj) {
                // Nothing logged to merge with, and the object is in the
                // read set already (or needs none: solo mode).
                self.unlogged_solo = false;
                logs.writes.push(w);
                return Ok(());
            }
        }
        // Passed as its parts: a `Write` whose address escaped to the out-of-line
        // call would be built on the stack and copied into the log with wider
        // loads than its stores (a store-forwarding stall, measured at ~4 ns).
        match w {
            Write::Word { obj, word, value } => self.write_slow(obj, word.cast(), value, None),
            Write::Ptr { obj, word, value } => self.write_slow(obj, word.cast(), 0, Some(value)),
        }
    }

    /// The rest of [`Tx::write`]: `word` is a reference word if `ptr` is
    /// `Some` (its value), a data word otherwise (`bits`).
    #[inline(never)]
    fn write_slow(
        &mut self,
        obj: NonNull<Header>,
        word: *const (),
        bits: u64,
        ptr: Option<*mut Header>,
    ) -> Result<(), Conflict> {
        let w = match ptr {
            Some(value) => Write::Ptr { obj, word: word.cast(), value },
            None => Write::Word { obj, word: word.cast(), value: bits },
        };
        if Self::is_new(obj) {
            // Private: written in place.
            match w {
                // SAFETY: a field word of a live object of ours.
                Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Relaxed) },
                // SAFETY: as above.
                Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Relaxed) },
            }
            return Ok(());
        }
        let logs = &mut self.core.logs;
        if let Some(e) = logs.writes.iter_mut().rev().find(|e| e.addr() == w.addr()) {
            *e = w;
            return Ok(());
        }
        let read_last = logs.reads.last().is_some_and(|&(o, _)| o == obj);
        if !self.solo && !read_last && !logs.writes.iter().any(|e| e.obj() == obj) {
            // First write to this object: it must belong to our snapshot,
            // and it joins the read set (trap 8).
            self.read_checked(obj, || ())?;
        }
        self.unlogged_solo = false;
        self.core.logs.writes.push(w);
        Ok(())
    }

    // ---- roots ----

    /// Make `obj` a root of this thread, from this transaction's commit on.
    /// If the transaction aborts the root vanishes and the handle is stale.
    pub fn root<T: ?Sized>(&mut self, obj: Gc<'tx, T>) -> Root<T> {
        let slot = self.core.roots.create(obj.ptr.cast());
        Root::new(slot, Rc::clone(self.drops))
    }

    /// The object a root holds.
    pub fn get_root<T: ?Sized>(&mut self, root: &Root<T>) -> Result<Gc<'tx, T>, RootMisuse> {
        if !Rc::ptr_eq(&root.drops, self.drops) {
            return Err(RootMisuse::Foreign);
        }
        let p = self.core.roots.get(root.slot).map_err(|_| RootMisuse::Stale)?;
        // SAFETY: a live root keeps its object alive; it was created from a
        // `Gc<T>`.
        Ok(unsafe { Gc::from_header(p.cast()) })
    }

    /// Make `obj` a global root, set when this transaction commits.
    /// Panics past 65,536 global roots (global roots are for a program's
    /// entry points, not per-object bookkeeping).
    pub fn global_root<T: ?Sized>(&mut self, obj: Gc<'tx, T>) -> GlobalRoot<T> {
        let slot = self.core.heap.globals.reserve().expect("too many global roots (the limit is 65,536)");
        self.core.logs.globals.push((slot, obj.ptr));
        GlobalRoot::new(slot, std::sync::Arc::clone(&self.core.heap))
    }

    /// The object a global root holds.
    pub fn global<T: ?Sized>(&mut self, root: &GlobalRoot<T>) -> Result<Gc<'tx, T>, RootMisuse> {
        if !std::sync::Arc::ptr_eq(&root.heap, &self.core.heap) {
            return Err(RootMisuse::Foreign);
        }
        let p = self.core.heap.globals.get(root.slot).ok_or(RootMisuse::Unset)?;
        // No version check is needed here: the object's immutable fields were
        // written before its commit published it (Release), and any field
        // read checks the object's version, which is the publishing commit's
        // `wv`, against this transaction's `rv` (opacity).
        // SAFETY: global roots keep their objects alive; created from a Gc<T>.
        Ok(unsafe { Gc::from_header(p.cast::<Header>()) })
    }

    // ---- inevitability ----

    /// Make this transaction inevitable: from now on it cannot conflict, so
    /// it may do I/O. Others wait at their commit until it ends. Fails with
    /// a conflict (the attempt retries) if what it read so far is stale, or
    /// if another transaction is inevitable now (the retry waits, parked,
    /// until that one ends).
    pub fn become_inevitable(&mut self) -> Result<(), Conflict> {
        if self.inevitable {
            return Ok(());
        }
        if self.solo {
            // Nothing else commits while a solo transaction runs (S2).
            self.inevitable = true;
            return Ok(());
        }
        let now = self.heap().take_inevitable().ok_or(Conflict)?;
        sc_order();
        // Everything read so far must still be as we read it. Commits in
        // flight hold their locks until they finish: wait for them.
        let spin = Spin::new();
        let stale = self.core.logs.reads.iter().any(|&(o, seen)| {
            // SAFETY: objects in the read set are live.
            let vl = unsafe { o.as_ref() }.vlock();
            loop {
                let w = vl.load(Ordering::SeqCst);
                if !vlock::is_held(w) {
                    return w != seen;
                }
                spin.snooze();
            }
        });
        if stale {
            self.heap().release_inevitable();
            return Err(Conflict);
        }
        self.inevitable = true;
        self.rv = now;
        Ok(())
    }

    /// Whether this transaction is inevitable.
    pub fn is_inevitable(&self) -> bool {
        self.inevitable
    }

    // ---- commit and abort ----

    /// Commit; returns the version the transaction serializes at, and
    /// whether it wrote (or published) anything.
    #[inline]
    pub(crate) fn commit(&mut self) -> Result<(u64, bool), Conflict> {
        let logs = &self.core.logs;
        if self.solo && self.ck.is_none() && !self.core.gc.barrier && logs.news.is_empty() && logs.globals.is_empty() {
            debug_assert!(logs.reads.is_empty() && logs.locked.is_empty(), "solo transactions log no reads");
            // The common solo commit, inlined: write back the logged words
            // (nothing to lock, validate, stamp or shade; S2 of `solo`).
            for w in &logs.writes {
                match *w {
                    // SAFETY: field words of live objects; no other
                    // transaction runs (solo mode).
                    Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
                    // SAFETY: as above.
                    Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
                }
            }
            let wrote = !logs.writes.is_empty();
            self.core.logs.writes.clear();
            self.apply_root_drops();
            // Roots it created need no shading: the barrier is off.
            self.core.roots.commit();
            self.finished = true;
            return Ok((self.rv, wrote));
        }
        if let Some(obj) = self.single_object_writer() {
            return self.commit_one(obj);
        }
        self.commit_general()
    }

    /// The object every logged write goes to, if the attempt wrote one
    /// object only (a record updated in place) and has nothing else to
    /// publish, lock or shade: the shape `commit_one` handles.
    #[inline]
    fn single_object_writer(&self) -> Option<NonNull<Header>> {
        let logs = &self.core.logs;
        let first = logs.writes.first()?.obj();
        let simple = !self.solo
            && !self.inevitable
            && self.ck.is_none()
            && !self.core.gc.barrier
            && logs.news.is_empty()
            && logs.globals.is_empty()
            && logs.writes.iter().all(|w| w.obj() == first);
        simple.then_some(first)
    }

    /// The general commit (`try_commit`) for a write set of one object
    /// (`single_object_writer`): lock it, read the clock, validate the read
    /// set, write back, release with the write version. The same steps in
    /// the same order, without the lock-set scratch, sorting, or the lock
    /// log; the loom model `read_set_validation_prevents_write_skew` runs
    /// through it (each withdrawal writes one account).
    #[inline(never)]
    fn commit_one(&mut self, obj: NonNull<Header>) -> Result<(u64, bool), Conflict> {
        let tag = self.core.tag;
        // SAFETY: an object in the write log is live.
        let vl = unsafe { obj.as_ref() }.vlock();
        let w = vl.load(Ordering::SeqCst);
        if vlock::is_held(w)
            || vl.compare_exchange(w, vlock::locked_by(w, tag), Ordering::SeqCst, Ordering::Relaxed).is_err()
        {
            return Err(Conflict);
        }
        // Ordered after the lock and before validation, as in `try_commit`.
        sc_order();
        let c = self.core.heap.clock.load(Ordering::SeqCst);
        let valid = c & INEVITABLE == 0
            && self.core.logs.reads.iter().all(|&(o, seen)| {
                if o == obj {
                    w == seen
                } else {
                    // SAFETY: objects in the read set are live.
                    unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst) == seen
                }
            });
        if !valid {
            vl.store(w, Ordering::Release); // restore: we wrote nothing
            return Err(Conflict);
        }
        let wv = (c & !INEVITABLE).max(self.maxv).max(vlock::version(w)) + 1;
        let logs = &mut self.core.logs;
        for w in &logs.writes {
            match *w {
                // SAFETY: field words of an object we hold locked.
                Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
                // SAFETY: as above.
                Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
            }
        }
        vl.store(vlock::stamp(wv, tag), Ordering::Release);
        logs.writes.clear();
        logs.reads.clear();
        self.apply_root_drops();
        // Roots it created need no shading: the barrier is off.
        self.core.roots.commit();
        self.finished = true;
        Ok((wv, true))
    }

    #[inline(never)]
    fn commit_general(&mut self) -> Result<(u64, bool), Conflict> {
        let r = self.try_commit();
        if r.is_ok() {
            if self.inevitable && !self.solo {
                self.heap().release_inevitable();
            }
            if let Some(ck) = self.ck.take() {
                self.core.alloc.release(ck).expect("the attempt's own checkpoint");
            }
            self.apply_root_drops();
            self.core.roots.commit();
            self.core.logs.clear();
            self.finished = true;
        }
        r
    }

    fn try_commit(&mut self) -> Result<(u64, bool), Conflict> {
        let logs = &mut self.core.logs;
        if logs.writes.is_empty() && logs.news.is_empty() && logs.globals.is_empty() {
            // Read-only: every read was valid at rv. Its new roots still
            // need barrier (b): the thread's root scan may be behind it,
            // and the path it read them through may be deleted before T.
            if self.core.gc.barrier {
                shade_created_roots(self.core);
            }
            return Ok((self.rv, false));
        }
        if self.solo {
            // Nothing to lock or validate (S2), and no version to advance:
            // no other transaction's read set spans this commit. New
            // objects get the read version: every later transaction's read
            // version is at least that.
            self.publish(self.rv);
            return Ok((self.rv, true));
        }
        let heap = &*self.core.heap;
        // Lock the written objects, in address order (no lock cycles). A
        // normal commit gives up on a held lock; the inevitable one waits
        // (the holder is a commit that will finish or back off).
        let mut objs = std::mem::take(&mut logs.objs);
        objs.extend(logs.writes.iter().map(Write::obj));
        objs.sort_unstable();
        objs.dedup();
        let spin = Spin::new();
        let mut failed = false;
        for &o in &objs {
            // SAFETY: objects in the write log are live.
            let vl = unsafe { o.as_ref() }.vlock();
            loop {
                let w = vl.load(Ordering::SeqCst);
                if !vlock::is_held(w)
                    && vl
                        .compare_exchange(w, vlock::locked_by(w, self.core.tag), Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    logs.locked.push((o, w));
                    break;
                }
                if !self.inevitable {
                    failed = true;
                    break;
                }
                spin.snooze();
            }
            if failed {
                break;
            }
        }
        objs.clear();
        logs.objs = objs;
        if failed {
            Self::unlock(logs);
            return Err(Conflict);
        }
        // The lazy clock: read, not bumped (module docs). Ordered after the
        // locks (a reader whose read version covers our write version must
        // see them) and before validation (of two commits that each read
        // what the other writes, the second sees the first's locks).
        sc_order();
        let c = heap.clock.load(Ordering::SeqCst);
        if c & INEVITABLE != 0 && !self.inevitable {
            // An inevitable transaction runs: no other commit may land.
            Self::unlock(logs);
            return Err(Conflict);
        }
        if !self.inevitable && !validate_locked(&logs.reads, &logs.locked, self.core.tag) {
            Self::unlock(logs);
            return Err(Conflict);
        }
        // Past the clock and every version read or overwritten, so each
        // object's version grows with each write (no ABA), and a reader
        // that depends on us depends on a larger version.
        let mut wv = (c & !INEVITABLE).max(self.maxv);
        for &(_, w) in &logs.locked {
            wv = wv.max(vlock::version(w));
        }
        let wv = wv + 1;
        self.publish(wv);
        Ok((wv, true))
    }

    /// The end of a writer's commit, with its write set locked (or in solo
    /// mode): the commit barrier, new objects stamped with `wv` and
    /// published, the logged words written back, the locks released with
    /// `wv`, the global roots set, new weak cells registered.
    fn publish(&mut self, wv: u64) {
        if self.core.gc.barrier {
            // GC work at a commit point: timed as a pause (only while the
            // barrier is on, so the clock reads cost nothing otherwise).
            let clock = PauseClock::start();
            self.commit_barrier();
            self.core.gc.pauses.record(&clock, std::time::Duration::ZERO);
        }
        let logs = &mut self.core.logs;
        // Publish new objects: stamped with wv (a transaction older than wv
        // that reaches one through a global root conflicts), then NEW cleared
        // with Release, before any reference to them is written back.
        let mut weak_cells = false;
        for h in &logs.news {
            // SAFETY: our own live new objects.
            let h = unsafe { h.as_ref() };
            h.vlock().store(vlock::stamp(wv, self.core.tag), Ordering::Relaxed);
            weak_cells |= h.flags().contains(ObjFlags::WEAK);
            h.clear_new();
        }
        for w in &logs.writes {
            match *w {
                // SAFETY: field words of live objects we hold locked.
                Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
                // SAFETY: as above.
                Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
            }
        }
        for (o, _) in logs.locked.drain(..) {
            // SAFETY: live objects we hold locked.
            unsafe { o.as_ref() }.vlock().store(vlock::stamp(wv, self.core.tag), Ordering::Release);
        }
        for &(slot, h) in &logs.globals {
            self.core.heap.globals.set(slot, h.cast());
        }
        if weak_cells {
            // Published: the collector clears them from its next walk on
            // (collector/weak.rs, the registry). After the unlock, so a
            // walk in progress holds up no lock of ours. A cell registered
            // after a walk was published with the barrier on (marked) or
            // after this thread answered SWEEP (in a swept block): the
            // registry's argument covers both.
            let cells = logs.news.iter().copied().filter(|h| {
                // SAFETY: our own objects, live and just published.
                unsafe { h.as_ref() }.flags().contains(ObjFlags::WEAK)
            });
            self.core.heap.collector.weak_cells.register(cells);
        }
    }

    /// The commit barrier while the collector marks (design brief §3, P2),
    /// run after validation, with the write set locked, before write-back:
    /// (a) shade the old value of every reference field about to be
    /// overwritten (snapshot at the beginning: a deleted edge cannot hide an
    /// object the marker has not reached); (b) shade the objects of the
    /// roots this transaction created and of the global roots it sets;
    /// (c) if this transaction allocated white (it began before this thread
    /// observed MARK), shade every object it publishes. Only 0 -> 1 marks
    /// push (M1), into this thread's buffer, handed over at a commit point.
    ///
    /// Objects this thread allocated black get their mark bits now (A3 of
    /// the allocator defers them): published unmarked, another thread's
    /// barrier would shade them as new work, and a churning heap could keep
    /// termination rounds finding "new" marks forever (trap 9).
    #[cold]
    fn commit_barrier(&mut self) {
        let core = &mut *self.core;
        if core.alloc.colour() == tmgc_alloc::Colour::Black {
            core.alloc.flush_marks();
        }
        shade_created_roots(core);
        let grey = &mut core.gc.grey;
        for w in &core.logs.writes {
            if let Write::Ptr { word, obj, .. } = *w {
                // SAFETY: a live object we hold locked.
                if unsafe { obj.as_ref() }.flags().contains(ObjFlags::WEAK) {
                    // A weak cell's old referent is not part of the snapshot:
                    // only strong references keep objects alive.
                    continue;
                }
                // SAFETY: a field word of a live object we hold locked.
                let old = unsafe { (*word).load(Ordering::Acquire) };
                if let Some(old) = NonNull::new(old) {
                    // SAFETY: a published reference field holds null or a
                    // live object; nothing is swept while the barrier is on.
                    unsafe { shade(old, grey) };
                }
            }
        }
        for &(_, h) in &core.logs.globals {
            // SAFETY: as above.
            unsafe { shade(h, grey) };
        }
        if core.alloc.colour() == tmgc_alloc::Colour::White {
            for &h in &core.logs.news {
                // SAFETY: our own new objects, initialised, about to be published.
                unsafe { shade(h, grey) };
            }
        }
    }

    fn unlock(logs: &mut Logs) {
        for (o, w) in logs.locked.drain(..) {
            // SAFETY: live objects we locked; restore their word.
            unsafe { o.as_ref() }.vlock().store(w, Ordering::Release);
        }
    }

    /// Roll the attempt back (also on panic, from `Drop`).
    pub(crate) fn abort(mut self) {
        self.rollback();
    }

    #[inline(never)]
    fn rollback(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        Self::unlock(&mut self.core.logs);
        if self.inevitable && !self.solo {
            self.heap().release_inevitable();
        }
        // Destructors of the values this attempt moved into the heap. A
        // destructor that panics must not stop the rollback half-way (the
        // next attempt would drop the same values again): finish it, then
        // let the first panic go on.
        let mut panic = None;
        let mut news = std::mem::take(&mut self.core.logs.news);
        for &h in &news {
            let run = || {
                // Our own new objects, initialised by `alloc` (the header is
                // written before the object is logged; a dynamic payload is
                // zeroed), about to be rewound; the list was taken, so no
                // later rollback sees them again.
                // SAFETY: so each payload is live and dropped exactly once.
                unsafe {
                    let info = h.as_ref().type_info();
                    if info.flags().contains(ObjFlags::HAS_DROP) {
                        info.drop_payload(Header::payload(h));
                    }
                }
            };
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                panic.get_or_insert(p);
            }
        }
        news.clear();
        self.core.logs.news = news; // keep the buffer's memory
        if let Some(ck) = self.ck.take() {
            self.core.alloc.rewind(&ck).expect("the attempt's own checkpoint");
            self.core.alloc.release(ck).expect("the attempt's own checkpoint");
        }
        self.apply_root_drops();
        self.core.roots.abort();
        for &(slot, _) in &self.core.logs.globals {
            self.core.heap.globals.unreserve(slot);
        }
        self.core.logs.clear();
        if let Some(p) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

impl Drop for Tx<'_> {
    #[inline]
    fn drop(&mut self) {
        // A body that panicked: roll back, and let the panic go on.
        if !self.finished {
            self.rollback();
        }
    }
}

/// Whether every object in a read set still has the word it was read with
/// (or that word locked by this mutator's own commit). `SeqCst` loads: see
/// the module docs.
fn validate(reads: &[(NonNull<Header>, u64)], tag: u32) -> bool {
    reads.iter().all(|&(o, seen)| {
        // SAFETY: objects in the read set are live.
        let w = unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst);
        w == seen || w == vlock::locked_by(seen, tag)
    })
}

/// [`validate`] at commit, with the write set locked: an object we locked
/// is checked against the word our lock CAS replaced (no load, and no
/// wait behind the CAS); others are loaded. Large write sets fall back to
/// loading every word (our lock leaves the version in place).
fn validate_locked(reads: &[(NonNull<Header>, u64)], locked: &[(NonNull<Header>, u64)], tag: u32) -> bool {
    if locked.len() > 4 {
        return validate(reads, tag);
    }
    reads.iter().all(|&(o, seen)| match locked.iter().find(|&&(l, _)| l == o) {
        Some(&(_, was)) => was == seen,
        // SAFETY: objects in the read set are live.
        None => unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst) == seen,
    })
}

/// Barrier (b) for the roots the running transaction created: shade their
/// objects. Every commit with the barrier on runs it, read-only ones too
/// (a read-only transaction may root an object whose last heap path another
/// thread deletes before T).
fn shade_created_roots(core: &mut Core) {
    for r in core.roots.created() {
        // SAFETY: this transaction reached the object, it was valid at its
        // read version, and nothing is swept while the barrier is on.
        unsafe { shade(r.cast(), &mut core.gc.grey) };
    }
}
