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
//!   never writes back into an object that changed since (docs/COLLECTOR.md,
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
//! validating or advancing any version, and without stamping its new
//! objects (SP1 of `header.rs`). Writes stay buffered, so aborts, panics
//! and the commit barrier work as in every transaction. No other transaction overlaps a
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

//!
//! ## Files
//! `access.rs`: reads and writes (the fast paths and the snapshot);
//! `commit.rs`: commit (solo, one object, general), the commit barrier,
//! abort; `init.rs`: allocation with initial contents; `weak_cells.rs`:
//! weak cells. This file: the `Tx` and its logs,
//! allocation, roots, inevitability.

mod access;
mod array;
mod commit;
mod finalizers;
mod init;
pub use init::DynInit;
#[cfg(all(test, not(tmgc_loom)))]
mod publish_tests;
mod weak_cells;
mod write_index;

use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicPtr, AtomicU64};

use tmgc_alloc::{AllocError, Checkpoint, LocalAllocator};

use crate::error::{Conflict, RootMisuse};
use crate::flags::{vlock, ObjFlags};
use crate::gcref::{Brand, Dyn, Gc, GlobalRoot, Root};
use crate::header::Header;
use crate::heap::HeapInner;
use crate::sync::{sc_order, Spin};
use crate::thread::{MutatorState, Parker, RootDrops};
use crate::types::{DynType, GcType, TypeInfo};

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
    /// Objects read, with the version-lock word each had. Grows only
    /// through `Tx::read_checked`, which keeps `Tx::last_read` equal to its
    /// last entry, or to an object the mutator owns (which needs no entry:
    /// OW2 of `owned`): `write` and `commit_one` rely on that (an object
    /// read last is in the read set or owned, so its first write needs no
    /// read of its own). Anything else that pushes, pops or clears it
    /// during an attempt must update `last_read` too.
    pub(crate) reads: Vec<(NonNull<Header>, u64)>,
    pub(crate) writes: Vec<Write>,
    /// The attempt's new objects, empty until a commit or rollback lists
    /// them from the allocator (`Tx::list_news`, NL1 of `commit.rs`).
    pub(crate) news: Vec<NonNull<Header>>,
    pub(crate) globals: Vec<(tmgc_roots::GlobalSlot, NonNull<Header>)>,
    pub(crate) locked: Vec<(NonNull<Header>, u64)>,
    /// Scratch for the commit's lock set (kept to reuse its memory).
    pub(crate) objs: Vec<NonNull<Header>>,
    /// Lookups in `writes` (cleared with it: WI1).
    pub(crate) index: write_index::WriteIndex,
    /// Finalizers and cleanups registered by the attempt (moved to the
    /// collector's registry at commit, dropped at abort).
    pub(crate) finals: Vec<crate::collector::finalize::Entry>,
}

impl Logs {
    fn is_clear(&self) -> bool {
        self.reads.is_empty()
            && self.writes.is_empty()
            && self.news.is_empty()
            && self.globals.is_empty()
            && self.finals.is_empty()
    }

    /// Empty the write log and its index together (WI1 of `write_index`),
    /// trimming both (LG1: every commit and rollback empties the write
    /// log here, the common solo commit included).
    #[inline]
    pub(crate) fn clear_writes(&mut self) {
        self.writes.clear();
        self.index.clear();
        trim(&mut self.writes);
    }

    /// Empty every log (the general commit's end, and a rollback's),
    /// giving back the memory of a log one large attempt grew (LG1). The
    /// other commits empty only the logs they used, and trim those.
    fn clear(&mut self) {
        self.reads.clear();
        self.clear_writes();
        self.news.clear();
        self.globals.clear();
        self.finals.clear();
        self.locked.clear();
        trim(&mut self.reads);
        trim(&mut self.news);
        trim(&mut self.locked);
        trim(&mut self.objs);
    }
}

/// LG1: entries an empty log keeps room for between attempts. A log's
/// buffer is kept to be reused, but one attempt that listed a tree of 4
/// million new objects (NL1) would otherwise keep 32 MiB for the life of
/// its mutator. A log is trimmed to this only once it holds room for
/// [`LOG_TRIM_ABOVE`], so attempts of a steady size a little over it do
/// not shrink and regrow their log each time. Smaller under miri, whose
/// run of the tests that grow a log past it (`tx/publish_tests.rs`) pays
/// per object.
pub(crate) const LOG_KEEP: usize = if cfg!(miri) { 64 } else { 1 << 14 };

/// LG1: the capacity past which an empty log is trimmed to [`LOG_KEEP`].
pub(crate) const LOG_TRIM_ABOVE: usize = 4 * LOG_KEEP;

/// Shrink an empty log's buffer to [`LOG_KEEP`] entries if it has room
/// for more than [`LOG_TRIM_ABOVE`] (LG1): one test of the capacity
/// inline, the shrink out of line.
#[inline]
pub(crate) fn trim<T>(log: &mut Vec<T>) {
    debug_assert!(log.is_empty(), "only an empty log is trimmed");
    if log.capacity() > LOG_TRIM_ABOVE {
        shrink(log);
    }
}

#[cold]
#[inline(never)]
fn shrink<T>(log: &mut Vec<T>) {
    log.shrink_to(LOG_KEEP);
}

/// A running transaction. Its lifetime `'tx` brands every [`Gc`] it hands
/// out (see the `gcref` module docs).
pub struct Tx<'tx> {
    core: &'tx mut MutatorState,
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
    /// No write logged yet (`core.logs.writes` empty), kept here so that
    /// a re-read (`last_read`) tests a flag of the `Tx`, not the log.
    unlogged: bool,
    /// The read set's last entry (`reads.last()`), or an object read since
    /// (or, at the start, `Owned::hint`: OW8) that the mutator owns (its
    /// word stays as it is until the attempt ends: OW2 of `owned`), kept
    /// here so that a re-read of the same object does not reach into the
    /// logs.
    last_read: Option<(NonNull<Header>, u64)>,
    /// An object we own whose fields this attempt reads with one load
    /// each, while nothing is logged (OW9 of `owned`): the hint (OW8), then
    /// the last owned object whose first read in this attempt took the
    /// owned path (reads of other objects leave it). None once a write is
    /// logged.
    plain: Option<NonNull<Header>>,
    /// How far the commit got (`commit::stage`): rollback before the
    /// commit point, roll-forward after it, nothing once DONE.
    stage: u8,
    /// The write version, once past the commit point (for a roll-forward).
    wv: u64,
    /// Objects the committed attempt allocated, published or not
    /// (`TxCounts::allocations`): set by its commit from the allocator
    /// (NL1 of `commit.rs`).
    allocated: usize,
    /// Debug builds: objects the attempt allocated, counted one by one,
    /// against which each listing is checked (NL1).
    #[cfg(debug_assertions)]
    allocated_check: usize,
    /// Some of its new objects are weak cells (set by `new_weak`; the
    /// survivors' walk starts from them, step GLOBALS registers them).
    weak_news: bool,
    /// Some of its new objects have a destructor (`HAS_DROP`): a rewind
    /// (abort, or CM3's commit) runs them first. Without one it need not
    /// read the new objects' headers.
    drop_news: bool,
    /// CM2's decision, taken by `commit_general` before the commit point:
    /// some new object can escape, so the commit publishes them all. Kept
    /// for a roll-forward, which cannot decide again (publishing clears
    /// the `NEW` flags the decision reads).
    escape: bool,
    _brand: Brand<'tx>,
    /// The thread is RUNNING while the attempt lives; dropped after
    /// `Drop::drop` rolled back an unfinished attempt (fields drop after
    /// it), so the thread parks only once its `MutatorState` is free again.
    _running: Parker<'tx>,
}

/// Whether the transaction runs in solo mode, and how much it has logged.
impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("solo", &self.solo)
            .field("logged_writes", &self.core.logs.writes.len())
            .finish_non_exhaustive()
    }
}

impl<'tx> Tx<'tx> {
    #[inline]
    pub(crate) fn begin(core: &'tx mut MutatorState, drops: &'tx Rc<RootDrops>, running: Parker<'tx>) -> Self {
        debug_assert!(core.logs.is_clear(), "an attempt began with another attempt's logs");
        let rv = core.heap.version();
        sc_order();
        let solo = core.solo;
        let hint = core.owned.hint;
        // OW8: while set, the hint's object is ours with exactly that word.
        debug_assert!(
            // SAFETY: a hinted object is owned by us, so live (OW6).
            hint.is_none_or(|(o, w)| unsafe { o.as_ref() }.vlock().load(Ordering::Relaxed) == w),
            "OW8: the owned hint's word changed while it was set"
        );
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
            unlogged: true,
            // OW8 of `owned`: an object we own, read in place from the
            // attempt's first read of it.
            last_read: hint,
            plain: hint.map(|(o, _)| o),
            stage: commit::stage::OPEN,
            wv: 0,
            allocated: 0,
            #[cfg(debug_assertions)]
            allocated_check: 0,
            weak_news: false,
            drop_news: false,
            escape: false,
            _brand: std::marker::PhantomData,
            _running: running,
        }
    }

    /// Apply the root drops queued since the last commit or abort.
    #[inline(always)]
    fn apply_root_drops(&mut self) {
        // Most commits have none: one shared borrow's test, inline.
        if self.drops.try_borrow().is_ok_and(|d| !d.is_empty()) {
            self.apply_root_drops_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn apply_root_drops_slow(&mut self) {
        if let Ok(mut d) = self.drops.try_borrow_mut() {
            for s in d.drain(..) {
                self.core.roots.drop_root(s);
            }
        }
    }

    /// Tests: the capacity of the news log (NL2, LG1).
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn news_capacity(&self) -> usize {
        self.core.logs.news.capacity()
    }

    /// Tests: the capacity of the write log (LG1).
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn writes_capacity(&self) -> usize {
        self.core.logs.writes.capacity()
    }

    fn heap(&self) -> &HeapInner {
        &self.core.heap
    }

    // ---- allocation ----

    /// Allocate `value` in the heap. The object is private to this
    /// transaction until it commits, and vanishes if it aborts (its destructor
    /// runs then).
    #[inline]
    pub fn alloc<T: GcType>(&mut self, value: T) -> Result<Gc<'tx, T>, AllocError> {
        let h = self.alloc_raw(T::TYPE_INFO, T::TYPE_INFO.object_size())?;
        // SAFETY: `alloc_raw` returned a fresh object of T's size and
        // alignment with its header written; the payload is uninitialised.
        unsafe {
            crate::header::Header::payload_of(h, T::TYPE_INFO).cast::<T>().write(value);
            Ok(Gc::from_header(h))
        }
    }

    /// Allocate an object of a dynamic type: null slots, zero data words.
    /// Panics for an array type (allocate it with [`Tx::alloc_array`]),
    /// naming the caller's line.
    #[track_caller]
    pub fn alloc_dyn(&mut self, ty: DynType) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        assert!(!info.is_array(), "`{}` is an array type: allocate it with `alloc_array`", info.name());
        // Nothing given: every word zero (IN4 of `init.rs`).
        self.alloc_with(ty, DynInit::new())
    }

    /// Allocate an object of an array type ([`crate::DynTypeSpec::array`])
    /// with `len` elements (bytes, for [`crate::Elems::Bytes`]): null
    /// slots and elements, zero data. An array above
    /// [`crate::alloc::LARGE_THRESHOLD`] bytes lives in the large-object
    /// space; the marker traces it in chunks (AR3 of gc/src/array.rs).
    /// Panics for a type that is not an array type.
    ///
    /// ```
    /// use tmgc::{Config, DynType, DynTypeSpec, Elems, Heap, Tagged};
    ///
    /// let vector = DynType::register(DynTypeSpec::new("Vector").array(Elems::Tagged)).unwrap();
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let sum = m.transaction::<_, ()>(|tx| {
    ///     let v = tx.alloc_array(vector, 10)?;
    ///     for i in 0..tx.array_len(v) {
    ///         tx.set_elem(v, i, Tagged::int(i as i64).unwrap())?;
    ///     }
    ///     let mut sum = 0;
    ///     for i in 0..tx.array_len(v) {
    ///         if let Tagged::Int(n) = tx.elem(v, i)? {
    ///             sum += n.get();
    ///         }
    ///     }
    ///     Ok(sum)
    /// });
    /// assert_eq!(sum.unwrap(), 45);
    /// ```
    #[track_caller]
    pub fn alloc_array(&mut self, ty: DynType, len: usize) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let shape = info.shape().expect("a dynamic type");
        // Not `unwrap_or_else`: a panic in a closure names its own line.
        let Some(elems) = shape.elems else { panic!("`{}` is not an array type", info.name()) };
        let (words, size) = init::array_size(info, elems, len)?;
        let h = self.alloc_raw(info, size)?;
        // SAFETY: a fresh object of `size` bytes: the fixed words, the
        // length word and `words` element words.
        unsafe {
            init_dyn_words(h, &shape, words);
            crate::array::len_word(h, &shape).store(len as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }

    /// Inlined into the caller (with `T`'s type info a constant there); the
    /// checkpoint and the allocator's slow path are out of line.
    #[inline(always)]
    fn alloc_raw(&mut self, info: &'static TypeInfo, size: usize) -> Result<NonNull<Header>, AllocError> {
        // A `&Header` is 16-aligned (its type is), whatever the payload asks.
        let align = info.align().max(std::mem::align_of::<Header>());
        let needs_drop = info.flags().contains(ObjFlags::HAS_DROP);
        // Before the allocation: its cold path may panic (TC3), and an
        // object must not exist without its entry (`Header::init_coded`).
        let code = crate::type_code::code_of(info);
        if self.ck.is_none() {
            self.first_checkpoint();
        }
        let a: &mut LocalAllocator = &mut self.core.alloc;
        let p = if needs_drop {
            let p = a.alloc_needs_drop(size, align)?;
            self.drop_news = true;
            p
        } else {
            a.alloc(size, align)?
        };
        let h = p.cast::<Header>();
        let mut flags = info.flags() | ObjFlags::NEW;
        if size > tmgc_alloc::LARGE_THRESHOLD {
            flags |= ObjFlags::LARGE;
        }
        // SAFETY: a fresh object of type `info`, suitably aligned.
        unsafe { Header::init_coded(h, code, flags) };
        // Under loom the version-lock word is in the object, written at
        // `init`; outside it, allocation leaves the word the granule's last
        // object left (HD2), a free word of any mutator's, whose version
        // may pass the lazy clock by one. The models see the hardest such
        // word instead of a zero: this mutator's own tag (a read accepts
        // its own tag's versions past its snapshot; a commit that finds it
        // takes ownership, OW1) at a version past our read version. A solo
        // publication leaves it as it is (SP1).
        #[cfg(tmgc_loom)]
        // SAFETY: the object was just given its header.
        unsafe { h.as_ref() }.vlock().store(vlock::stamp(self.rv + 1, self.core.tag), Ordering::Relaxed);
        // Neither logged nor counted here: the allocator lists or counts
        // them when a commit needs them (NL1 of `commit.rs`). A count kept
        // here, a read-modify-write of the `Tx` per object, chained each
        // allocation to the last through memory: binary-trees took 0.947x
        // the time without it (AMD EPYC Zen 3; docs/PERFORMANCE.md). Debug builds keep
        // one, to check the listing.
        #[cfg(debug_assertions)]
        {
            self.allocated_check += 1;
        }
        Ok(h)
    }

    /// Before the attempt's first allocation: an abort rewinds to here.
    #[cold]
    #[inline(never)]
    fn first_checkpoint(&mut self) {
        self.ck = Some(self.core.alloc.checkpoint());
    }

    // ---- roots ----

    /// Make `obj` a root of this thread, from this transaction's commit on.
    /// If the transaction aborts the root vanishes and the handle is stale.
    pub fn root<T: ?Sized>(&mut self, obj: Gc<'tx, T>) -> Root<T> {
        let slot = self.core.roots.create(obj.ptr.cast());
        Root::new(slot, Rc::clone(self.drops), obj.ptr)
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

    /// Make `obj` a global root, set when this transaction commits; it
    /// stays until its last clone is dropped. There is no limit on how
    /// many exist.
    pub fn global_root<T: ?Sized>(&mut self, obj: Gc<'tx, T>) -> GlobalRoot<T> {
        let slot = self.core.heap.globals.reserve();
        self.core.logs.globals.push((slot, obj.ptr));
        GlobalRoot::new(slot, &self.core.heap, obj.ptr)
    }

    /// The object a global root holds.
    #[inline]
    pub fn get_global<T: ?Sized>(&mut self, root: &GlobalRoot<T>) -> Result<Gc<'tx, T>, RootMisuse> {
        if !root.share.of(&self.core.heap) {
            return Err(RootMisuse::OtherHeap);
        }
        // A handle kept from an aborted attempt (captured, or carried out
        // in `Abort::User`) finds its reservation given back: `Stale`, never
        // the object of whoever reuses the slot (G4 of `GlobalRoots`).
        // SAFETY: `resolved` came from `resolve` on the globals of
        // `root.share.heap`, the heap we run on (tested above: GS1 of
        // `GlobalShare`), alive while we borrow it.
        let p = unsafe { self.core.heap.globals.get_resolved(&root.share.resolved) }.map_err(|e| match e {
            tmgc_roots::GlobalError::Unset => RootMisuse::Unset,
            tmgc_roots::GlobalError::Stale => RootMisuse::Stale,
        })?;
        // No version check is needed here: the object's immutable fields were
        // written before its commit published it (Release), and any field
        // read checks the object's version, which is the publishing commit's
        // `wv`, against this transaction's `rv` (opacity).
        // SAFETY: global roots keep their objects alive; created from a Gc<T>.
        Ok(unsafe { Gc::from_header(p.cast::<Header>()) })
    }

    /// The old name of [`Tx::get_global`] (renamed to pair with
    /// [`Tx::get_root`]).
    #[deprecated(since = "0.1.0", note = "renamed to `get_global`, as `get_root` reads a `Root`")]
    #[inline]
    pub fn global<T: ?Sized>(&mut self, root: &GlobalRoot<T>) -> Result<Gc<'tx, T>, RootMisuse> {
        self.get_global(root)
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
                // An owned word is held until someone asks (OW5), and no
                // read-set entry is one (a read of an owned object either
                // conflicts or, ours, joins no read set): taken since we
                // read it, so stale.
                if !vlock::is_held(w) || vlock::owner(w).is_some() {
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

    /// Whether the thread should give up its CPU once this (committed)
    /// attempt has parked: while the barrier is on and more threads want a
    /// core than there are (`Collector::crowded`), once per
    /// `collector::YIELD_QUANTUM`. See docs/COLLECTOR.md, "Giving way".
    #[inline]
    pub(crate) fn yield_due(&mut self) -> bool {
        // Inlined: with the barrier off (most commits) it is one test.
        self.core.gc.barrier && self.yield_due_marking()
    }

    #[inline(never)]
    fn yield_due_marking(&mut self) -> bool {
        let gc = &mut self.core.gc;
        if !self.core.heap.collector.crowded() {
            return false;
        }
        let now = std::time::Instant::now();
        if now.duration_since(gc.last_yield) < crate::collector::YIELD_QUANTUM {
            return false;
        }
        gc.last_yield = now;
        true
    }

    /// Whether this transaction is inevitable.
    pub fn is_inevitable(&self) -> bool {
        self.inevitable
    }
}

impl Drop for Tx<'_> {
    #[inline]
    fn drop(&mut self) {
        // A body that panicked (or a commit before its commit point): roll
        // back; a commit a panic interrupted past it: roll forward (FT2).
        // Either way the panic goes on.
        match self.stage {
            commit::stage::OPEN => self.rollback(),
            commit::stage::DONE => {}
            _ => self.roll_forward(),
        }
    }
}

/// Initialise the payload of a fresh dynamic object of `shape`: its fixed
/// words, and for an array type its length word (0) and `elem_words`
/// element words, all null or zero.
///
/// # Safety
/// `h` is a fresh object of at least that many payload words, its header
/// written, its payload not yet initialised.
unsafe fn init_dyn_words(h: NonNull<Header>, shape: &crate::types::DynShape, elem_words: usize) {
    let words = shape.fixed_words() + shape.elems.map_or(0, |_| 1 + elem_words);
    #[cfg(not(tmgc_loom))]
    // SAFETY: a fresh payload of `words` words, each an 8-byte atomic whose
    // zero value is null, `Tagged::Null` or 0.
    unsafe {
        std::ptr::write_bytes(Header::payload(h).as_ptr(), 0, words * crate::types::DYN_WORD)
    };
    // Loom's atomics are handles into the model's state, not plain words:
    // zeroed memory would make every word the same atomic. Build each one
    // (the stride is the same for both kinds, `DYN_WORD`).
    #[cfg(tmgc_loom)]
    {
        // SAFETY: a fresh payload (caller).
        let p = unsafe { Header::payload(h) };
        let elem_refs = shape.elems.is_some_and(crate::Elems::holds_refs);
        for i in 0..words {
            let first_elem = shape.fixed_words() + 1;
            if i < shape.ref_words() || (elem_refs && i >= first_elem) {
                // SAFETY: word i of the fresh payload, written once.
                unsafe { p.cast::<AtomicPtr<Header>>().as_ptr().add(i).write(AtomicPtr::new(std::ptr::null_mut())) };
            } else {
                // SAFETY: as above.
                unsafe { p.cast::<AtomicU64>().as_ptr().add(i).write(AtomicU64::new(0)) };
            }
        }
    }
}
