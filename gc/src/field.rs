//! Field types of heap objects: [`Ref`] for references, [`Value`] for
//! word-sized plain data, [`TaggedField`] for a tagged value (either).
//!
//! Both are atomic words. Markers read reference fields while commits write
//! them back (docs/COLLECTOR.md, P2d and P5), and transactions read fields
//! that other commits write, so every mutable word of a published object is
//! accessed atomically: writes with Release, reads with Acquire. A plain
//! Rust field (a `String`, a `u32`) is allowed too, but it is immutable
//! after allocation: only `Ref` and `Value` fields change transactionally.
//! A field with interior mutability (an atomic, a `Mutex` in a `NoTrace`)
//! can be changed through the `&T` a `Gc` gives, but outside the
//! transaction: its writes are not logged, not undone by an abort or a
//! retry, and not seen by conflict detection (fit for statistics, not for
//! state a transaction must keep consistent).
//! Reading and writing them goes through a transaction (next issue); here
//! they provide their layout and tracing.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicPtr, AtomicU64};

use crate::header::Header;
use crate::trace::{Trace, Tracer};

/// A reference field: a nullable pointer to another heap object of type `T`.
///
/// It has no public way to dereference it: only a transaction can read it,
/// as a `Gc<'tx, T>` that cannot outlive the transaction. So a destructor,
/// which runs outside any transaction, cannot reach other heap objects.
#[repr(transparent)]
pub struct Ref<T: ?Sized> {
    ptr: AtomicPtr<Header>,
    /// Invariant in `T` (a mutable cell: covariance would let a
    /// `&Ref<Sub>` be written with a `Gc<Super>`), and `Send + Sync`.
    _type: PhantomData<fn(&T) -> &T>,
}

impl<T: ?Sized> Ref<T> {
    /// A null reference.
    #[cfg(not(tmgc_loom))]
    pub const fn null() -> Self {
        Ref { ptr: AtomicPtr::new(std::ptr::null_mut()), _type: PhantomData }
    }

    /// A null reference.
    #[cfg(tmgc_loom)]
    pub fn null() -> Self {
        Ref { ptr: AtomicPtr::new(std::ptr::null_mut()), _type: PhantomData }
    }

    /// The referent's header (Acquire), for markers and transactions.
    #[inline]
    pub(crate) fn load(&self) -> Option<NonNull<Header>> {
        NonNull::new(self.ptr.load(Ordering::Acquire))
    }

    /// The word itself, for the transaction layer's write log.
    #[inline]
    pub(crate) fn word(&self) -> &AtomicPtr<Header> {
        &self.ptr
    }

    /// Store a referent (Release). The transaction layer writes through
    /// [`Ref::word`]; unit tests build objects with this.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn store(&self, obj: Option<NonNull<Header>>) {
        self.ptr.store(obj.map_or(std::ptr::null_mut(), NonNull::as_ptr), Ordering::Release);
    }
}

impl<T: ?Sized> Default for Ref<T> {
    fn default() -> Self {
        Self::null()
    }
}

impl<T: ?Sized> std::fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ref({:p})", self.ptr.load(Ordering::Relaxed))
    }
}

// SAFETY: visits its one reference, read atomically.
unsafe impl<T: ?Sized + 'static> Trace for Ref<T> {
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        // SAFETY: a reference field holds null or a live object (I2 of
        // docs/COLLECTOR.md: nothing reachable is freed while it is traced).
        unsafe { tracer.edge(self.load()) };
    }
}

/// A field of a Rust-typed object that holds a [`Tagged`] value: an
/// integer, an immediate, or a reference to any object (as `Gc<Dyn>`). An
/// interpreter's hash entry, say, keeps its value here rather than in a
/// separate boxed object. Read and written only through a transaction
/// (`Tx::load_tagged`, `Tx::store_tagged`), which treat it as a reference
/// word (the commit barrier decodes it, TG2 of `tagged`); traced by tmgc.
/// Made holding no reference: [`TaggedField::null`], [`TaggedField::int`],
/// [`TaggedField::imm`].
///
/// ```
/// use tmgc::{Config, Heap, Tagged, TaggedField, Trace, Value};
///
/// #[derive(Trace)]
/// struct Entry { key: Value<u64>, value: TaggedField }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let v = m.transaction::<_, ()>(|tx| {
///     let e = tx.alloc(Entry { key: Value::new(1), value: TaggedField::int(5).unwrap() })?;
///     let n = tx.load_tagged(e, |e| &e.value)?.as_int().unwrap();
///     tx.store_tagged(e, |e| &e.value, Tagged::int(n + 1).unwrap())?;
///     Ok(tx.load_tagged(e, |e| &e.value)?.as_int())
/// });
/// assert_eq!(v.unwrap(), Some(6));
/// ```
///
/// [`Tagged`]: crate::Tagged
#[repr(transparent)]
pub struct TaggedField {
    word: AtomicPtr<Header>,
}

impl TaggedField {
    /// A field holding `Tagged::Null`.
    #[cfg(not(tmgc_loom))]
    pub const fn null() -> Self {
        TaggedField { word: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// A field holding `Tagged::Null`.
    #[cfg(tmgc_loom)]
    pub fn null() -> Self {
        TaggedField { word: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// A field holding the integer `v`, if it fits in 61 bits.
    pub fn int(v: i64) -> Option<Self> {
        crate::Tagged::int(v).map(|t| TaggedField { word: AtomicPtr::new(t.encode()) })
    }

    /// A field holding the immediate `m`.
    pub fn imm(m: crate::Imm) -> Self {
        TaggedField { word: AtomicPtr::new(crate::Tagged::Imm(m).encode()) }
    }

    /// The word itself, for the transaction layer.
    #[inline]
    pub(crate) fn word(&self) -> &AtomicPtr<Header> {
        &self.word
    }
}

impl Default for TaggedField {
    fn default() -> Self {
        Self::null()
    }
}

impl std::fmt::Debug for TaggedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaggedField({:p})", self.word.load(Ordering::Relaxed))
    }
}

// SAFETY: visits the reference its word holds, if any, read atomically
// (an immediate or an integer decodes to none: TG2 of `tagged`).
unsafe impl Trace for TaggedField {
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let w = self.word.load(Ordering::Acquire);
        // SAFETY: a tagged field holds null, an immediate, or a live object
        // (I2 of docs/COLLECTOR.md: nothing reachable is freed while it is
        // traced; only `Tx::store_tagged` writes one, from a `Gc`: TG1).
        unsafe { tracer.edge(crate::tagged::decode_ref(w)) };
    }
}

/// Plain data that fits in a word, stored atomically: the integer types up
/// to 64 bits, `bool`, `f32`, `f64` and `char` (sealed).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `Value` field: a `Value<W>` holds one machine word",
    note = "word-sized `Copy` types only (integers up to 64 bits, `bool`, `f32`, `f64`, `char`); put larger data in an object of its own behind a `Ref<T>`, or in an immutable field of a `Trace` type"
)]
pub trait Word: Copy + 'static + private::Sealed {
    /// The value's bits.
    fn to_bits(self) -> u64;
    /// The value from its bits.
    fn from_bits(bits: u64) -> Self;
}

mod private {
    pub trait Sealed {}
}

macro_rules! word_int {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {}
        impl Word for $t {
            #[inline]
            fn to_bits(self) -> u64 { self as u64 }
            #[inline]
            fn from_bits(bits: u64) -> Self { bits as $t }
        }
    )*};
}
word_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl private::Sealed for bool {}
impl Word for bool {
    fn to_bits(self) -> u64 {
        self as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits != 0
    }
}

impl private::Sealed for f64 {}
impl Word for f64 {
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    fn from_bits(bits: u64) -> Self {
        f64::from_bits(bits)
    }
}

impl private::Sealed for f32 {}
impl Word for f32 {
    fn to_bits(self) -> u64 {
        u64::from(f32::to_bits(self))
    }
    fn from_bits(bits: u64) -> Self {
        f32::from_bits(bits as u32)
    }
}

impl private::Sealed for char {}
impl Word for char {
    fn to_bits(self) -> u64 {
        u64::from(u32::from(self))
    }
    fn from_bits(bits: u64) -> Self {
        char::from_u32(bits as u32).unwrap_or('\u{fffd}')
    }
}

/// A transactional plain-data field.
#[repr(transparent)]
pub struct Value<T: Word> {
    bits: AtomicU64,
    // `fn() -> T`: a `Value` holds bits, not a `T`, so it is `Send + Sync`
    // whatever `T` is, and `Word` needs no `Send + Sync` of its own (its
    // types, all sealed, are both). A type that is not a `Word` then gets
    // the one message of `Word`'s `on_unimplemented`, not twelve more about
    // its fields' `Send` and `Sync`.
    _type: PhantomData<fn() -> T>,
}

impl<T: Word> Value<T> {
    /// A field holding `v`.
    pub fn new(v: T) -> Self {
        Value { bits: AtomicU64::new(v.to_bits()), _type: PhantomData }
    }

    /// The word itself, for the transaction layer's write log.
    #[inline]
    pub(crate) fn word(&self) -> &AtomicU64 {
        &self.bits
    }

    /// The value, read directly (unit tests; transactions use [`Value::word`]).
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn load(&self) -> T {
        T::from_bits(self.bits.load(Ordering::Acquire))
    }
}

impl<T: Word + Default> Default for Value<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Word + std::fmt::Debug> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({:?})", T::from_bits(self.bits.load(Ordering::Relaxed)))
    }
}

// SAFETY: plain data, no reference.
unsafe impl<T: Word> Trace for Value<T> {
    const HAS_REFS: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}
