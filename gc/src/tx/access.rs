//! A transaction's reads and writes: the inlined fast paths (solo mode,
//! an owned object's one-load reads (`Tx::plain`, OW9 of `owned`), a
//! re-read of the object read last, one of the transaction's own new objects,
//! the first write to it), and the snapshot rules of the module docs of
//! `tx` behind them.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicPtr, AtomicU64};

use crate::error::Conflict;
use crate::field::{Ref, TaggedField, Value, Word};
use crate::flags::{vlock, ObjFlags};
use crate::gcref::{Dyn, Gc};
use crate::header::Header;
use crate::sync::{sc_order, Spin};
use crate::tagged::Tagged;
use crate::types::WEAK_CELL;
use crate::types::{DynShape, GcType, TypeInfo};
use crate::weak::Weak;

use super::commit::validate;
use super::{Tx, Write};

impl<'tx> Tx<'tx> {
    /// Panics unless `field` lies inside `obj`'s payload. Tested on the
    /// field's offset, by wrapping subtraction: when the projection is a
    /// field access the compiler sees that offset as a constant and the
    /// test folds away (comparing addresses, it could not: `a + size` may
    /// overflow for all it knows).
    #[track_caller]
    #[inline(always)]
    fn check_field<T: GcType, F>(obj: Gc<'tx, T>, field: &F) {
        let base = obj.ptr.addr().get().wrapping_add(T::TYPE_INFO.payload_offset());
        let off = (field as *const F).addr().wrapping_sub(base);
        let (size, f) = (T::TYPE_INFO.size(), std::mem::size_of::<F>());
        assert!(f <= size && off <= size - f, "field projection must return a field of the object passed in");
    }

    /// Read a [`Value`] field of `obj`.
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj` (a `Value` in a `Vec`
    /// or `Box` field, or in another object): the projection must name a
    /// field of `obj` itself. The panic names the caller's line.
    #[track_caller]
    #[inline]
    pub fn get<T: GcType, W: Word>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Value<W>,
    ) -> Result<W, Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let bits = self.read_field(obj.ptr, f.word())?;
        Ok(W::from_bits(bits))
    }

    /// Write a [`Value`] field of `obj`.
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj` (a `Value` in a `Vec`
    /// or `Box` field, or in another object): the projection must name a
    /// field of `obj` itself. The panic names the caller's line.
    #[track_caller]
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
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj` (a `Ref` in a `Vec`
    /// or `Box` field, or in another object): the projection must name a
    /// field of `obj` itself. The panic names the caller's line.
    #[track_caller]
    #[inline]
    pub fn load<T: GcType, U: ?Sized>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &Ref<U>,
    ) -> Result<Option<Gc<'tx, U>>, Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let p = self.read_field(obj.ptr, f.word())?;
        // A reference field holds null or a `U` (only `store`, which takes a
        // `Gc<U>`, writes it), and no object is freed under a running
        // transaction.
        // SAFETY: so `p` is a live `U` for 'tx.
        Ok(NonNull::new(p).map(|p| unsafe { Gc::from_header(p) }))
    }

    /// Write a [`Ref`] field of `obj`.
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj` (a `Ref` in a `Vec`
    /// or `Box` field, or in another object): the projection must name a
    /// field of `obj` itself. The panic names the caller's line.
    #[track_caller]
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

    /// Read a [`TaggedField`] of `obj`.
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj`, as [`Tx::get`] does.
    #[track_caller]
    #[inline]
    pub fn load_tagged<T: GcType>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &TaggedField,
    ) -> Result<Tagged<'tx>, Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        let w = self.read_field(obj.ptr, f.word())?;
        // SAFETY: read by this transaction from a tagged field of an object
        // live for 'tx: a reference in it came from a `Gc` (TG1: only
        // `store_tagged` writes one) and is live for 'tx.
        Ok(unsafe { Tagged::decode(w) })
    }

    /// Write a [`TaggedField`] of `obj`: logged as a reference write, so
    /// the commit barrier covers it (TG2 of `tagged`).
    ///
    /// # Panics
    ///
    /// If `field` returns a reference outside `obj`, as [`Tx::set`] does.
    #[track_caller]
    #[inline]
    pub fn store_tagged<T: GcType>(
        &mut self,
        obj: Gc<'tx, T>,
        field: impl FnOnce(&T) -> &TaggedField,
        value: Tagged<'tx>,
    ) -> Result<(), Conflict> {
        let f = field(&obj);
        Self::check_field(obj, f);
        self.write(Write::Ptr { obj: obj.ptr, word: f.word(), value: value.encode() })
    }

    #[track_caller]
    #[inline]
    fn dyn_words(obj: Gc<'tx, Dyn>) -> (&'static TypeInfo, DynShape, NonNull<u8>) {
        // The word's address waits for the shape, which waits for the
        // entry, a cache line apart from the payload (V4, docs/HEADER.md):
        // ask for the payload's first line now, so that a pointer chase
        // misses on the two lines at once, not one after the other.
        Header::prefetch(obj.ptr);
        let info = obj.header().type_info();
        // Not `unwrap_or_else`: a panic in a closure names the closure's
        // line, not the caller's (`#[track_caller]`).
        let Some(shape) = info.shape() else {
            panic!(
                "a `{}` is not a dynamic object (a weak cell read with `slot`? read it with `slot_weak`)",
                info.name()
            )
        };
        // SAFETY: a live dynamic object: its payload follows the header
        // directly (alignment 8, the layout of `array`), found without
        // reading the header again for its type's alignment.
        (info, shape, unsafe { obj.ptr.cast::<u8>().add(crate::HEADER_BYTES) })
    }

    /// Reference slot `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    fn slot_word(obj: Gc<'tx, Dyn>, i: usize) -> (&'static TypeInfo, &'tx AtomicPtr<Header>) {
        let (info, shape, p) = Self::dyn_words(obj);
        let slots = shape.ref_slots;
        assert!(i < slots, "slot {i} out of range: the type has {slots}");
        // SAFETY: slot i of the payload's slot array, of an object live for 'tx.
        (info, unsafe { &*p.cast::<AtomicPtr<Header>>().as_ptr().add(i) })
    }

    /// Tagged word `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    fn tagged_word(obj: Gc<'tx, Dyn>, i: usize) -> (&'static TypeInfo, &'tx AtomicPtr<Header>) {
        let (info, shape, p) = Self::dyn_words(obj);
        let n = shape.tagged_words;
        assert!(i < n, "tagged word {i} out of range: the type has {n}");
        // SAFETY: tagged word i follows the slots, in an object live for 'tx.
        (info, unsafe { &*p.cast::<AtomicPtr<Header>>().as_ptr().add(shape.ref_slots + i) })
    }

    /// Data word `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    fn data_word(obj: Gc<'tx, Dyn>, i: usize) -> (&'static TypeInfo, &'tx AtomicU64) {
        let (info, shape, p) = Self::dyn_words(obj);
        let n = shape.data_words;
        assert!(i < n, "data word {i} out of range: the type has {n}");
        // SAFETY: data word i follows the slots and tagged words, in an
        // object live for 'tx.
        (info, unsafe { &*p.cast::<AtomicU64>().as_ptr().add(shape.ref_words() + i) })
    }

    /// Read tagged word `i` of a dynamic object: an immediate, null, or a
    /// reference. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    pub fn tagged(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Tagged<'tx>, Conflict> {
        let (info, word) = Self::tagged_word(obj, i);
        let w = self.read_dyn_of(info, obj, word)?;
        // SAFETY: read by this transaction from a tagged word of an object
        // live for 'tx (a reference in it is a live dynamic object, TG1).
        Ok(unsafe { Tagged::decode(w) })
    }

    /// Write tagged word `i` of a dynamic object. Logged as a reference
    /// write, so the commit barrier covers it (TG2 of `tagged`). Panics if
    /// `i` is out of range.
    #[track_caller]
    #[inline]
    pub fn set_tagged(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: Tagged<'tx>) -> Result<(), Conflict> {
        let (info, word) = Self::tagged_word(obj, i);
        self.write_dyn_of(info, obj, Write::Ptr { obj: obj.ptr, word, value: value.encode() })
    }

    /// Read reference slot `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    pub fn slot(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Option<Gc<'tx, Dyn>>, Conflict> {
        let (info, word) = Self::slot_word(obj, i);
        let v = self.read_dyn_of(info, obj, word)?;
        // SAFETY: as in `load`: a slot holds null or a live object: a
        // dynamic one (`set_slot`), or a weak cell (`set_slot_weak`), which
        // every dynamic accessor refuses with a panic (`dyn_words`).
        Ok(NonNull::new(v).map(|v| unsafe { Gc::from_header(v) }))
    }

    /// Write reference slot `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    pub fn set_slot(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: Option<Gc<'tx, Dyn>>) -> Result<(), Conflict> {
        let (info, word) = Self::slot_word(obj, i);
        self.write_dyn_of(
            info,
            obj,
            Write::Ptr { obj: obj.ptr, word, value: value.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) },
        )
    }

    /// Read reference slot `i` of a dynamic object as a weak cell (one that
    /// [`Tx::set_slot_weak`] stored there): an interpreter's weak
    /// references. The slot holds the cell strongly; the cell does not hold
    /// its referent ([`Tx::upgrade`]). Panics if `i` is out of range, or if
    /// the slot holds an object that is not a weak cell.
    #[track_caller]
    pub fn slot_weak(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Option<Gc<'tx, Weak<Dyn>>>, Conflict> {
        let (info, word) = Self::slot_word(obj, i);
        let Some(v) = NonNull::new(self.read_dyn_of(info, obj, word)?) else { return Ok(None) };
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
    #[track_caller]
    pub fn set_slot_weak(
        &mut self,
        obj: Gc<'tx, Dyn>,
        i: usize,
        cell: Option<Gc<'tx, Weak<Dyn>>>,
    ) -> Result<(), Conflict> {
        let (info, word) = Self::slot_word(obj, i);
        self.write_dyn_of(
            info,
            obj,
            Write::Ptr { obj: obj.ptr, word, value: cell.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) },
        )
    }

    /// Read data word `i` of a dynamic object. Panics if `i` is out of range.
    #[track_caller]
    #[inline]
    pub fn data(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<u64, Conflict> {
        let (info, word) = Self::data_word(obj, i);
        self.read_dyn_of(info, obj, word)
    }

    /// Write data word `i` of a dynamic object. Data words are plain data:
    /// the collector never reads a reference from them (T2 of `types`);
    /// keep references in slots or tagged words. Panics if `i` is out of
    /// range.
    #[track_caller]
    #[inline]
    pub fn set_data(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: u64) -> Result<(), Conflict> {
        let (info, word) = Self::data_word(obj, i);
        self.write_dyn_of(info, obj, Write::Word { obj: obj.ptr, word, value })
    }

    #[inline]
    pub(super) fn is_new(obj: NonNull<Header>) -> bool {
        // SAFETY: a live object.
        unsafe { obj.as_ref() }.flags().contains(ObjFlags::NEW)
    }

    #[inline]
    pub(super) fn is_weak_cell(obj: NonNull<Header>) -> bool {
        // SAFETY: a live object.
        unsafe { obj.as_ref() }.flags().contains(ObjFlags::WEAK)
    }

    fn logged(&mut self, addr: usize) -> Option<Write> {
        let logs = &mut self.core.logs;
        logs.index.find(&logs.writes, addr).map(|i| logs.writes[i])
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
            let mut raised = false;
            loop {
                let v1 = h.vlock().load(Ordering::SeqCst);
                if vlock::is_owned_by(v1, self.core.tag) {
                    return Ok(load()); // ours (OW2 of `owned`)
                }
                if let Some(t) = vlock::owner(v1) {
                    // Another mutator owns it: ask, and wait (OW5).
                    crate::owned::ask_running(&self.core.heap, t, &mut raised);
                }
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
                return self.held(obj, v1, load);
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

    /// `read_checked` met a held word: ours if we own the object (read in
    /// place, no read-set entry: OW2 of `owned`), else a conflict, noting
    /// the owner to ask after the rollback (OW5).
    #[inline(never)]
    fn held<V>(&mut self, obj: NonNull<Header>, v1: u64, load: impl Fn() -> V) -> Result<V, Conflict> {
        if vlock::is_owned_by(v1, self.core.tag) {
            self.last_read = Some((obj, v1)); // for `reread`, as above
            return Ok(load());
        }
        if let Some(t) = vlock::owner(v1) {
            self.core.owned.wants = t;
        }
        Err(Conflict)
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
        debug_assert!(
            self.last_read == self.core.logs.reads.last().copied()
                || self.last_read.is_some_and(|(_, w)| vlock::is_owned_by(w, self.core.tag)),
            "`last_read` is the read set's last entry, or an object we own"
        );
        debug_assert!(self.unlogged || !self.core.logs.writes.is_empty(), "`unlogged` with a write logged");
        let (last, seen) = self.last_read?;
        if last != obj {
            return None;
        }
        let value = load();
        // SAFETY: a live object.
        (unsafe { obj.as_ref() }.vlock().load(Ordering::SeqCst) == seen).then_some(value)
    }

    /// Read a word of dynamic object `obj`, whose type `info` the caller
    /// read to find the word (one load of the header, not two): one
    /// Acquire load if the type is frozen (F1 of `DynTypeSpec::frozen`:
    /// its words never change once it is published, and we reached it
    /// through an Acquire load of a published reference, or allocated it),
    /// [`Tx::read_field`] otherwise.
    #[inline]
    pub(super) fn read_dyn_of<F: FieldWord>(
        &mut self,
        info: &TypeInfo,
        obj: Gc<'tx, Dyn>,
        w: &F,
    ) -> Result<F::Value, Conflict> {
        if info.is_frozen() {
            return Ok(w.load(Ordering::Acquire));
        }
        self.read_field(obj.ptr, w)
    }

    /// Write a word of dynamic object `obj` of type `info` (read by the
    /// caller); panics for a published frozen object (F1: only its
    /// allocating transaction writes it, while NEW), naming the caller's
    /// line.
    #[track_caller]
    #[inline(always)]
    pub(super) fn write_dyn_of(&mut self, info: &TypeInfo, obj: Gc<'tx, Dyn>, w: Write) -> Result<(), Conflict> {
        if info.is_frozen() && !Self::is_new(obj.ptr) {
            Self::frozen_write(obj);
        }
        self.write(w)
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn frozen_write(obj: Gc<'tx, Dyn>) -> ! {
        panic!(
            "a `{}` is frozen (DynTypeSpec::frozen): only the transaction that allocates it writes it, before it commits",
            obj.header().type_info().name()
        )
    }

    /// Read one field word of `obj`: the inlined fast paths (solo mode
    /// before any write; the owned object `Tx::plain` names, before any
    /// write; a re-read of the object read last; one of our new objects),
    /// then the rest.
    #[inline]
    pub(super) fn read_field<F: FieldWord>(&mut self, obj: NonNull<Header>, w: &F) -> Result<F::Value, Conflict> {
        if self.unlogged_solo {
            // No other transaction runs (solo mode, S2), and this one has
            // logged no write yet.
            return Ok(w.load(Ordering::Acquire));
        }
        if self.plain == Some(obj) {
            // An object we own, read before in this attempt (or the hint),
            // with nothing logged: its word cannot change while we run
            // (OW2, OW9 of `owned`), so a re-read is one load.
            debug_assert!(
                // SAFETY: a live object.
                vlock::is_owned_by(unsafe { obj.as_ref() }.vlock().load(Ordering::Relaxed), self.core.tag),
                "OW9: `plain` names an object we own"
            );
            return Ok(w.load(Ordering::Acquire));
        }
        if self.unlogged {
            // The object read last (a record's fields in turn), with
            // nothing logged to look up first: no header load (a new
            // object is never `last_read`: those are read in place, below,
            // and never join the read set).
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        if Self::is_new(obj) {
            // Ours and unpublished: written in place (never logged), read
            // by nobody else. The header shares the field's cache line in
            // a small object, and a read of a published one loads it anyway.
            return Ok(w.load(Ordering::Relaxed));
        }
        self.read_field_slow(obj, w)
    }

    #[inline(never)]
    fn read_field_slow<F: FieldWord>(&mut self, obj: NonNull<Header>, w: &F) -> Result<F::Value, Conflict> {
        // Not new (`read_field` read those in place). Our own writes
        // first; then the object read last. With nothing logged,
        // `read_field` tried the re-read (and solo mode, then, never gets
        // here).
        // SAFETY: a live object.
        let word = unsafe { obj.as_ref() }.vlock().load(Ordering::Relaxed);
        if self.unlogged && vlock::is_owned_by(word, self.core.tag) {
            // The first read of an object we own (OW2 of `owned`): only we
            // make a word ours, and only we (or someone acting for us while
            // we are parked) make it free again, so a Relaxed load tells.
            // The word stays as it is until the attempt ends (OW2), so its
            // re-reads are one load each (`plain`, OW9), and the next
            // attempts begin with it (the hint, OW8).
            self.last_read = Some((obj, word));
            self.plain = Some(obj); // OW9
            self.core.owned.hint = self.last_read; // OW8
            return Ok(w.load(Ordering::Acquire));
        }
        self.read_field_logged(obj, w)
    }

    /// The rest of [`Tx::read_field_slow`], apart so that the first read of
    /// an owned object returns from a small function.
    #[inline(never)]
    fn read_field_logged<F: FieldWord>(&mut self, obj: NonNull<Header>, w: &F) -> Result<F::Value, Conflict> {
        if !self.core.logs.writes.is_empty() {
            if let Some(v) = self.logged((w as *const F).addr()).and_then(|l| F::logged_value(&l)) {
                return Ok(v);
            }
            if self.solo {
                return Ok(w.load(Ordering::Acquire));
            }
            if let Some(v) = self.reread(obj, || w.load(Ordering::Acquire)) {
                return Ok(v);
            }
        }
        debug_assert!(!self.solo, "a solo read with nothing logged takes the fast path");
        debug_assert!(!Self::is_new(obj), "`read_field` reads new objects in place");
        self.read_checked(obj, || w.load(Ordering::Acquire))
    }

    /// Log a write (or make it in place, to an object of ours). Inlined: a
    /// write to an object this transaction allocated is a plain store (the
    /// common case of code that builds structures: no log, no lookup); the
    /// first write of a solo transaction, or the first write to the object
    /// read last, is a push; the rest is out of line.
    #[inline]
    pub(super) fn write(&mut self, w: Write) -> Result<(), Conflict> {
        let obj = w.obj();
        if Self::is_new(obj) {
            // Private (NEW: unpublished, reached only by this transaction):
            // written in place. Its publication (a Release store after
            // NEW is cleared) makes these stores visible.
            match w {
                // SAFETY: a field word of a live object of ours.
                Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Relaxed) },
                // SAFETY: as above.
                Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Relaxed) },
            }
            return Ok(());
        }
        let logs = &mut self.core.logs;
        if logs.writes.is_empty() && (self.solo || self.last_read.is_some_and(|(o, _)| o == obj)) {
            // Nothing logged to merge with, and the object is in the read
            // set already (or needs none: solo mode, or owned).
            self.unlogged_solo = false;
            self.unlogged = false;
            self.plain = None; // OW9: a write may shadow the word now
            logs.writes.push(w);
            return Ok(());
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
        debug_assert!(!Self::is_new(obj), "`write` stores into new objects in place");
        let logs = &mut self.core.logs;
        if let Some(i) = logs.index.find(&logs.writes, w.addr()) {
            logs.writes[i] = w;
            return Ok(());
        }
        let read_last = logs.reads.last().is_some_and(|&(o, _)| o == obj);
        if !self.solo && !read_last && !logs.index.wrote(&logs.writes, obj.addr().get()) {
            // First write to this object: it must belong to our snapshot,
            // and it joins the read set (trap 8).
            self.read_checked(obj, || ())?;
        }
        self.unlogged_solo = false;
        self.unlogged = false;
        self.plain = None; // OW9
        self.core.logs.writes.push(w);
        Ok(())
    }
}

/// A field word a transaction reads: a data word or a reference word.
pub(super) trait FieldWord {
    /// What the word holds.
    type Value: Copy;
    /// Load the word.
    fn load(&self, order: Ordering) -> Self::Value;
    /// The value a logged write to this word holds (writes of the other
    /// kind never share its address).
    fn logged_value(w: &Write) -> Option<Self::Value>;
}

impl FieldWord for AtomicU64 {
    type Value = u64;
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline]
    fn logged_value(w: &Write) -> Option<u64> {
        match *w {
            Write::Word { value, .. } => Some(value),
            Write::Ptr { .. } => None,
        }
    }
}

impl FieldWord for AtomicPtr<Header> {
    type Value = *mut Header;
    #[inline]
    fn load(&self, order: Ordering) -> *mut Header {
        AtomicPtr::load(self, order)
    }
    #[inline]
    fn logged_value(w: &Write) -> Option<*mut Header> {
        match *w {
            Write::Ptr { value, .. } => Some(value),
            Write::Word { .. } => None,
        }
    }
}
