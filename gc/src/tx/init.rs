//! Allocation with initial contents ([`Tx::alloc_with`]): a dynamic
//! object's fixed words, and an array's elements and length, written as
//! the object is made, so an interpreter builds a pair, a closure or a
//! string in one call, with no `Result` per word.
//!
//! # Invariants
//! - (IN1) Every misuse panics before anything is allocated: more words
//!   of a kind than the type has, elements for a type that is not an
//!   array, or elements of another kind than the array's. So a panic
//!   leaves no object behind, half-written or not.
//! - (IN2) The words are written while the object is `NEW`: private to the
//!   attempt, reached by no other thread and no marker, so a plain store
//!   is the write, exactly as [`Tx::write`] writes a new object's word (no
//!   log, no barrier). The commit that publishes the object lists it with
//!   the attempt's other new objects (NL1 of `commit.rs`), which is what
//!   makes its references safe from a running cycle; an abort rewinds it
//!   with them.
//! - (IN3) Every reference written comes from a `Gc<'tx, Dyn>` or a
//!   `Tagged<'tx>`, branded by this transaction: a live object of this
//!   heap (a Rust-typed one too, through `Gc::into_dyn`), as the `set_*`
//!   accessors require (TG1 of `tagged`, AR2 of
//!   `array`). Reference words hold only such references; data words and
//!   word or byte elements never hold one (T2).
//! - (IN4) Words not given are zero (null, [`Tagged::Null`], 0), as after
//!   [`Tx::alloc_dyn`]. Every payload word is written exactly once, as a
//!   new atomic, so the object is whole before the attempt can publish it.
//! - (IN5) The element words follow the length word, which follows the
//!   fixed words (the layout in gc/src/array.rs, which `array::elem_word`
//!   reads by).

use std::ptr::NonNull;

use tmgc_alloc::AllocError;

use crate::array::Elems;
use crate::gcref::{Dyn, Gc};
use crate::header::Header;
use crate::sync::{AtomicPtr, AtomicU64};
use crate::tagged::Tagged;
use crate::types::{DynShape, DynType, DYN_WORD};

use super::Tx;

/// The initial contents of a dynamic object, for [`Tx::alloc_with`]:
/// its first reference slots, tagged words and data words, and for an
/// array type its elements (which also give its length). Words not given
/// are zero: null, [`Tagged::Null`] or 0.
///
/// Each part is given once: a second call of the same setter, or of a
/// second element setter (`elems`, `elems_filled`, `elem_slots`,
/// `elem_words`, `bytes`), panics rather than replace what was given.
///
/// ```
/// use tmgc::{Config, DynInit, DynType, DynTypeSpec, Elems, Heap, Tagged};
///
/// let pair = DynType::register(DynTypeSpec::new("Pair").tagged_words(2)).unwrap();
/// let string = DynType::register(DynTypeSpec::new("String").array(Elems::Bytes)).unwrap();
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let (car, len) = m.transaction::<_, ()>(|tx| {
///     let s = tx.alloc_with(string, DynInit::new().bytes(b"hello"))?;
///     let p = tx.alloc_with(pair, DynInit::new().tagged(&[Tagged::Ref(s), Tagged::int(5).unwrap()]))?;
///     let Tagged::Ref(s) = tx.tagged(p, 0)? else { unreachable!() };
///     let mut out = [0; 5];
///     tx.read_bytes(s, 0, &mut out)?;
///     Ok((out, tx.array_len(s)))
/// }).unwrap();
/// assert_eq!((&car, len), (b"hello", 5));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DynInit<'a, 'tx> {
    slots: &'a [Option<Gc<'tx, Dyn>>],
    tagged: &'a [Tagged<'tx>],
    data: &'a [u64],
    elems: ElemsInit<'a, 'tx>,
}

/// An array's initial elements, of one kind.
#[derive(Clone, Copy, Debug)]
enum ElemsInit<'a, 'tx> {
    /// None given: a fixed type, or an array of length 0.
    Absent,
    Slots(&'a [Option<Gc<'tx, Dyn>>]),
    Tagged(&'a [Tagged<'tx>]),
    /// `len` tagged elements, each the same value.
    Filled(usize, Tagged<'tx>),
    Words(&'a [u64]),
    Bytes(&'a [u8]),
}

impl ElemsInit<'_, '_> {
    /// The kind and the length (bytes for `Bytes`), if any were given.
    #[inline]
    fn kind_len(&self) -> Option<(Elems, usize)> {
        match self {
            ElemsInit::Absent => None,
            ElemsInit::Slots(s) => Some((Elems::Slots, s.len())),
            ElemsInit::Tagged(s) => Some((Elems::Tagged, s.len())),
            ElemsInit::Filled(len, _) => Some((Elems::Tagged, *len)),
            ElemsInit::Words(s) => Some((Elems::Words, s.len())),
            ElemsInit::Bytes(s) => Some((Elems::Bytes, s.len())),
        }
    }
}

impl Default for DynInit<'_, '_> {
    fn default() -> Self {
        DynInit::new()
    }
}

impl<'a, 'tx> DynInit<'a, 'tx> {
    /// Nothing given: every word zero (what [`Tx::alloc_dyn`] makes), and
    /// for an array type, length 0.
    #[inline]
    pub const fn new() -> Self {
        DynInit { slots: &[], tagged: &[], data: &[], elems: ElemsInit::Absent }
    }

    /// The first reference slots ([`Tx::slot`]), from slot 0. Panics if
    /// given before.
    #[inline]
    #[track_caller]
    pub const fn slots(mut self, slots: &'a [Option<Gc<'tx, Dyn>>]) -> Self {
        assert!(self.slots.is_empty(), "DynInit: reference slots given twice");
        self.slots = slots;
        self
    }

    /// The first tagged words ([`Tx::tagged`]), from word 0. Panics if
    /// given before.
    #[inline]
    #[track_caller]
    pub const fn tagged(mut self, tagged: &'a [Tagged<'tx>]) -> Self {
        assert!(self.tagged.is_empty(), "DynInit: tagged words given twice");
        self.tagged = tagged;
        self
    }

    /// The first data words ([`Tx::data`]), from word 0. Panics if given
    /// before.
    #[inline]
    #[track_caller]
    pub const fn data(mut self, data: &'a [u64]) -> Self {
        assert!(self.data.is_empty(), "DynInit: data words given twice");
        self.data = data;
        self
    }

    #[inline]
    #[track_caller]
    const fn with_elems(mut self, elems: ElemsInit<'a, 'tx>) -> Self {
        assert!(matches!(self.elems, ElemsInit::Absent), "DynInit: array elements given twice");
        self.elems = elems;
        self
    }

    /// The elements of an [`Elems::Tagged`] array: the array gets their
    /// length. Panics if elements were given before.
    #[inline]
    #[track_caller]
    pub const fn elems(self, elems: &'a [Tagged<'tx>]) -> Self {
        self.with_elems(ElemsInit::Tagged(elems))
    }

    /// `len` elements of an [`Elems::Tagged`] array, each `value` (a
    /// `make-vector` with a fill). Panics if elements were given before.
    #[inline]
    #[track_caller]
    pub const fn elems_filled(self, len: usize, value: Tagged<'tx>) -> Self {
        self.with_elems(ElemsInit::Filled(len, value))
    }

    /// The elements of an [`Elems::Slots`] array: the array gets their
    /// length. Panics if elements were given before.
    #[inline]
    #[track_caller]
    pub const fn elem_slots(self, elems: &'a [Option<Gc<'tx, Dyn>>]) -> Self {
        self.with_elems(ElemsInit::Slots(elems))
    }

    /// The elements of an [`Elems::Words`] array: the array gets their
    /// length. Panics if elements were given before.
    #[inline]
    #[track_caller]
    pub const fn elem_words(self, elems: &'a [u64]) -> Self {
        self.with_elems(ElemsInit::Words(elems))
    }

    /// The bytes of an [`Elems::Bytes`] array: the array gets their
    /// length. Panics if elements were given before.
    #[inline]
    #[track_caller]
    pub const fn bytes(self, bytes: &'a [u8]) -> Self {
        self.with_elems(ElemsInit::Bytes(bytes))
    }
}

impl<'tx> Tx<'tx> {
    /// Allocate an object of a dynamic type with the contents `init` gives
    /// (words it does not give are zero). For an array type, the elements
    /// `init` gives set its length (0 if none). The object is new, so its
    /// words are written in place, with nothing to validate: no `Result`
    /// per word, unlike writing each word with [`Tx::set_tagged`] and the
    /// like after [`Tx::alloc_dyn`], and the same object in the end.
    ///
    /// # Panics
    ///
    /// Before allocating anything, naming the caller's line: if `init`
    /// gives more slots, tagged words or data words than the type has,
    /// elements for a type that is not an array, or elements of another
    /// kind than the array's.
    #[track_caller]
    #[inline]
    pub fn alloc_with(&mut self, ty: DynType, init: DynInit<'_, 'tx>) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let Some(shape) = info.shape_ref() else { unreachable!("a `DynType` has a shape") };
        if shape.elems.is_some() || !matches!(init.elems, ElemsInit::Absent) {
            return self.alloc_array_with(ty, init);
        }
        // A fixed shape, inlined: a pair, a box, a flonum.
        if !fits(shape, &init, None) {
            misfit(info.name(), shape, &init, None);
        }
        let h = self.alloc_raw(info, info.object_size())?;
        // SAFETY: a fresh object of shape `shape` (IN2), of its fixed size;
        // `init` fits it and gives no elements.
        unsafe { write_init(h, shape, &init, 0, 0) };
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }

    /// [`Tx::alloc_with`] for an array type, or with elements given (which
    /// `misfit` refuses for a fixed type), out of line.
    #[track_caller]
    #[inline(never)]
    fn alloc_array_with(&mut self, ty: DynType, init: DynInit<'_, 'tx>) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let Some(shape) = info.shape_ref() else { unreachable!("a `DynType` has a shape") };
        let elems = init.elems.kind_len();
        if !fits(shape, &init, elems) {
            misfit(info.name(), shape, &init, elems);
        }
        let len = elems.map_or(0, |(_, len)| len);
        let Some(kind) = shape.elems else { unreachable!("`fits` refused elements for a fixed type") };
        let elem_words = kind.words(len).ok_or_else(too_large)?;
        let size = info.object_size().checked_add(elem_words * DYN_WORD).ok_or_else(too_large)?;
        let h = self.alloc_raw(info, size)?;
        // SAFETY: a fresh object of `size` bytes of shape `shape` (IN2),
        // with room for its fixed words, its length word and `elem_words`
        // element words; `init` fits it (`fits`).
        unsafe { write_init(h, shape, &init, len, elem_words) };
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }
}

fn too_large() -> AllocError {
    AllocError::TooLarge { size: usize::MAX, max: isize::MAX as usize }
}

/// IN1: whether `init` fits `shape` (`elems`: its elements' kind and
/// length). No branch per test: the common case is one compare.
#[inline]
fn fits(shape: &DynShape, init: &DynInit<'_, '_>, elems: Option<(Elems, usize)>) -> bool {
    let kind_ok = match elems {
        None => true,
        Some((kind, _)) => shape.elems == Some(kind),
    };
    (init.slots.len() <= shape.ref_slots)
        & (init.tagged.len() <= shape.tagged_words)
        & (init.data.len() <= shape.data_words)
        & kind_ok
}

/// IN1's panic, naming the caller's line (so not a closure, whose panic
/// would name its own line).
#[track_caller]
#[cold]
#[inline(never)]
fn misfit(name: &str, shape: &DynShape, init: &DynInit<'_, '_>, elems: Option<(Elems, usize)>) -> ! {
    for (what, given, has) in [
        ("reference slot", init.slots.len(), shape.ref_slots),
        ("tagged word", init.tagged.len(), shape.tagged_words),
        ("data word", init.data.len(), shape.data_words),
    ] {
        if given > has {
            let s = |n: usize| if n == 1 { "" } else { "s" };
            panic!("{given} {what}{} given for a `{name}`, which has {has}", s(given));
        }
    }
    match (shape.elems, elems) {
        (None, Some((kind, _))) => {
            panic!("elements ({kind:?}) given for a `{name}`, which is not an array type")
        }
        (Some(has), Some((kind, _))) => {
            panic!("{kind:?} elements given for a `{name}`, an array of {has:?} elements")
        }
        _ => unreachable!("`fits` refused it"),
    }
}

/// Write every payload word of the new object `h` once (IN2, IN4): the
/// given words, zero for the rest, and for an array its length word and
/// elements. Each word is written as a new atomic (`ptr::write`), not
/// stored: the memory was never an atomic before, and under loom a word
/// must be built to exist in the model.
///
/// # Safety
/// `h` is a new object of the running attempt, of shape `shape`, with room
/// for its fixed words and, for an array, a length word and `elem_words`
/// element words, `elem_words` being what `len` elements of its kind
/// take; `init` fits `shape` (`fits`), and its elements, if any, number
/// `len`.
#[inline]
unsafe fn write_init(h: NonNull<Header>, shape: &DynShape, init: &DynInit<'_, '_>, len: usize, elem_words: usize) {
    // SAFETY: a live object's payload (caller).
    let p = unsafe { Header::payload(h) };
    let ptr_word = |i: usize, v: *mut Header| {
        // SAFETY: word `i` of the payload is a reference word within the
        // object (the callers' indices: below `ref_words()`, or an element
        // of a reference kind), written once.
        unsafe { p.cast::<AtomicPtr<Header>>().as_ptr().add(i).write(AtomicPtr::new(v)) }
    };
    let data_word = |i: usize, v: u64| {
        // SAFETY: word `i` of the payload is a data word, the length word
        // or an element of a data kind, within the object, written once.
        unsafe { p.cast::<AtomicU64>().as_ptr().add(i).write(AtomicU64::new(v)) }
    };
    let gc_bits = |g: &Option<Gc<'_, Dyn>>| g.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr());
    for i in 0..shape.ref_slots {
        ptr_word(i, init.slots.get(i).map_or(std::ptr::null_mut(), gc_bits));
    }
    for i in 0..shape.tagged_words {
        ptr_word(shape.ref_slots + i, init.tagged.get(i).map_or(std::ptr::null_mut(), |t| t.encode()));
    }
    for i in 0..shape.data_words {
        data_word(shape.ref_words() + i, init.data.get(i).copied().unwrap_or(0));
    }
    let Some(kind) = shape.elems else { return };
    let length = shape.fixed_words();
    data_word(length, len as u64);
    let first = length + 1;
    match init.elems {
        ElemsInit::Absent => debug_assert_eq!(elem_words, 0),
        ElemsInit::Slots(s) => s.iter().enumerate().for_each(|(i, g)| ptr_word(first + i, gc_bits(g))),
        ElemsInit::Tagged(s) => s.iter().enumerate().for_each(|(i, t)| ptr_word(first + i, t.encode())),
        ElemsInit::Filled(n, t) => (0..n).for_each(|i| ptr_word(first + i, t.encode())),
        ElemsInit::Words(s) => s.iter().enumerate().for_each(|(i, &w)| data_word(first + i, w)),
        ElemsInit::Bytes(s) => {
            for (i, chunk) in s.chunks(DYN_WORD).enumerate() {
                let mut le = [0u8; DYN_WORD];
                le[..chunk.len()].copy_from_slice(chunk);
                data_word(first + i, u64::from_le_bytes(le));
            }
        }
    }
    debug_assert_eq!(kind.words(len), Some(elem_words));
}
