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
use crate::types::{DynShape, DynType, TypeInfo, DYN_WORD};

use super::Tx;

/// The initial contents of a dynamic object, for [`Tx::alloc_with`]:
/// its first reference slots, tagged words and data words, and for an
/// array type its elements (which also give its length). Words not given
/// are zero: null, [`Tagged::Null`] or 0.
///
/// Each part is given once: a setter for a part already given (slots,
/// tagged words or data words given as a non-empty slice, or elements of
/// any kind, through `elems`, `elems_filled`, `elem_slots`, `elem_words`
/// or `bytes`) panics rather than replace what was given.
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
        match init.elems {
            // A fixed shape, inlined: a pair, a box, a flonum.
            ElemsInit::Absent if shape.elems.is_none() => {
                if !fits(shape, &init, None) {
                    misfit(info.name(), shape, &init, None);
                }
                let h = self.alloc_raw(info, info.object_size())?;
                // SAFETY: a fresh object of shape `shape` (IN2), of its
                // fixed size, its payload found from its type alone (no
                // read of the header just written); `init` fits it and
                // gives no elements.
                unsafe { write_fixed(Header::payload_of(h, info), shape, &init) };
                // SAFETY: header written, payload initialised, live for 'tx.
                Ok(unsafe { Gc::from_header(h) })
            }
            // A vector given its elements (an interpreter's commonest
            // array), out of line but with no dispatch on the kind.
            ElemsInit::Tagged(elems) if shape.elems == Some(Elems::Tagged) => self.alloc_tagged_array(ty, &init, elems),
            _ => self.alloc_array_with(ty, &init),
        }
    }

    /// [`Tx::alloc_with`] for an [`Elems::Tagged`] array given `elems`.
    #[track_caller]
    #[inline(never)]
    fn alloc_tagged_array(
        &mut self,
        ty: DynType,
        init: &DynInit<'_, 'tx>,
        elems: &[Tagged<'tx>],
    ) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let Some(shape) = info.shape_ref() else { unreachable!("a `DynType` has a shape") };
        let given = Some((Elems::Tagged, elems.len()));
        if !fits(shape, init, given) {
            misfit(info.name(), shape, init, given);
        }
        let (_, size) = array_size(info, Elems::Tagged, elems.len())?;
        let h = self.alloc_raw(info, size)?;
        // SAFETY: a fresh array of `size` bytes of shape `shape` (IN2): its
        // fixed words, its length word and one word per element; `init`
        // fits it (`fits`), and gives these elements.
        unsafe {
            let p = Header::payload_of(h, info);
            write_fixed(p, shape, init);
            let first = write_length(p, shape, elems.len());
            for (i, t) in elems.iter().enumerate() {
                ptr_word(p, first + i, t.encode());
            }
        }
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }

    /// [`Tx::alloc_with`] for an array type, or with elements given (which
    /// `misfit` refuses for a fixed type), out of line.
    #[track_caller]
    #[inline(never)]
    fn alloc_array_with(&mut self, ty: DynType, init: &DynInit<'_, 'tx>) -> Result<Gc<'tx, Dyn>, AllocError> {
        let info = ty.info();
        let Some(shape) = info.shape_ref() else { unreachable!("a `DynType` has a shape") };
        let elems = init.elems.kind_len();
        if !fits(shape, init, elems) {
            misfit(info.name(), shape, init, elems);
        }
        let len = elems.map_or(0, |(_, len)| len);
        let Some(kind) = shape.elems else { unreachable!("`fits` refused elements for a fixed type") };
        let (elem_words, size) = array_size(info, kind, len)?;
        let h = self.alloc_raw(info, size)?;
        // SAFETY: a fresh object of `size` bytes of shape `shape` (IN2),
        // with room for its fixed words, its length word and `elem_words`
        // element words; `init` fits it (`fits`), and its elements number
        // `len`.
        unsafe {
            let p = Header::payload_of(h, info);
            write_fixed(p, shape, init);
            let first = write_length(p, shape, len);
            write_elems(p, first, init.elems, elem_words);
        }
        // SAFETY: header written, payload initialised, live for 'tx.
        Ok(unsafe { Gc::from_header(h) })
    }
}

/// The element words and the bytes of an object of array type `info`
/// holding `len` elements of kind `kind` (bytes, for `Bytes`), or
/// `TooLarge` past what memory can hold: the one size computation of
/// every array allocation (`Tx::alloc_array` and the paths here).
pub(super) fn array_size(info: &TypeInfo, kind: Elems, len: usize) -> Result<(usize, usize), AllocError> {
    let too_large = || AllocError::TooLarge { size: usize::MAX, max: isize::MAX as usize };
    let words = kind.words(len).ok_or_else(too_large)?;
    let size = info.object_size().checked_add(words * DYN_WORD).ok_or_else(too_large)?;
    Ok((words, size))
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

/// Word `i` of the payload at `p`, a reference word, written once as a
/// new atomic (`ptr::write`, not a store: the memory was never an atomic
/// before, and under loom a word must be built to exist in the model).
///
/// # Safety
/// `p` is the payload of a new object of the running attempt (IN2) and
/// word `i` of it is a reference word inside the object, not written
/// before.
#[inline]
unsafe fn ptr_word(p: NonNull<u8>, i: usize, v: *mut Header) {
    // SAFETY: as the caller promises.
    unsafe { p.cast::<AtomicPtr<Header>>().as_ptr().add(i).write(AtomicPtr::new(v)) }
}

/// As [`ptr_word`], for a data word (a data word of the fixed part, the
/// length word, or an element of a data kind).
///
/// # Safety
/// As for [`ptr_word`], word `i` being a data word.
#[inline]
unsafe fn data_word(p: NonNull<u8>, i: usize, v: u64) {
    // SAFETY: as the caller promises.
    unsafe { p.cast::<AtomicU64>().as_ptr().add(i).write(AtomicU64::new(v)) }
}

fn gc_bits(g: &Option<Gc<'_, Dyn>>) -> *mut Header {
    g.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr())
}

/// Write every fixed word of a new object once (IN2, IN4): the given
/// slots, tagged words and data words, zero for the rest.
///
/// # Safety
/// `p` is the payload of a new object of the running attempt, of shape
/// `shape`, its fixed words not written yet; `init` fits `shape` (`fits`).
#[inline]
unsafe fn write_fixed(p: NonNull<u8>, shape: &DynShape, init: &DynInit<'_, '_>) {
    for i in 0..shape.ref_slots {
        // SAFETY: slot i (below `ref_slots`: the layout of `types`),
        // written once.
        unsafe { ptr_word(p, i, init.slots.get(i).map_or(std::ptr::null_mut(), gc_bits)) };
    }
    for i in 0..shape.tagged_words {
        let v = init.tagged.get(i).map_or(std::ptr::null_mut(), |t| t.encode());
        // SAFETY: tagged word i, a reference word after the slots, written
        // once.
        unsafe { ptr_word(p, shape.ref_slots + i, v) };
    }
    for i in 0..shape.data_words {
        // SAFETY: data word i, after the reference words, written once.
        unsafe { data_word(p, shape.ref_words() + i, init.data.get(i).copied().unwrap_or(0)) };
    }
}

/// Write an array's length word (IN5: after the fixed words) and return
/// the index of its first element word.
///
/// # Safety
/// `p` is the payload of a new array object of the running attempt, of
/// shape `shape`, its length word not written yet.
#[inline]
unsafe fn write_length(p: NonNull<u8>, shape: &DynShape, len: usize) -> usize {
    let length = shape.fixed_words();
    // SAFETY: the length word of an array of shape `shape` (caller).
    unsafe { data_word(p, length, len as u64) };
    length + 1
}

/// Write an array's elements from word `first` of the payload (IN2, IN5).
///
/// # Safety
/// `p` is the payload of a new array object of the running attempt whose
/// elements, of the kind `elems` gives, start at word `first` and take
/// `elem_words` words (what those elements take), not written yet.
unsafe fn write_elems(p: NonNull<u8>, first: usize, elems: ElemsInit<'_, '_>, elem_words: usize) {
    // Each write: element word `first + i`, below `first + elem_words` as
    // the elements take exactly that many words, of the word type of the
    // kind (a reference kind's words are reference words), written once.
    match elems {
        ElemsInit::Absent => debug_assert_eq!(elem_words, 0),
        ElemsInit::Slots(s) => {
            for (i, g) in s.iter().enumerate() {
                // SAFETY: as above, a slot element.
                unsafe { ptr_word(p, first + i, gc_bits(g)) };
            }
        }
        ElemsInit::Tagged(s) => {
            for (i, t) in s.iter().enumerate() {
                // SAFETY: as above, a tagged element.
                unsafe { ptr_word(p, first + i, t.encode()) };
            }
        }
        ElemsInit::Filled(n, t) => {
            for i in 0..n {
                // SAFETY: as above, a tagged element.
                unsafe { ptr_word(p, first + i, t.encode()) };
            }
        }
        ElemsInit::Words(s) => {
            for (i, &w) in s.iter().enumerate() {
                // SAFETY: as above, a word element.
                unsafe { data_word(p, first + i, w) };
            }
        }
        ElemsInit::Bytes(s) => {
            for (i, chunk) in s.chunks(DYN_WORD).enumerate() {
                let mut le = [0u8; DYN_WORD];
                le[..chunk.len()].copy_from_slice(chunk);
                // SAFETY: as above, a word of bytes.
                unsafe { data_word(p, first + i, u64::from_le_bytes(le)) };
            }
        }
    }
}
