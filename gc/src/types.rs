//! Type descriptors: what the collector needs to know about an object's
//! type (size, alignment, how to trace it, whether and how to drop it).
//!
//! Two kinds share one [`TypeInfo`] layout:
//! - **Rust types** implementing [`Trace`]: `T::TYPE_INFO` ([`GcType`]) is a
//!   constant built at compile time, so allocating one costs no lookup.
//! - **Dynamic types** an interpreter registers while it runs
//!   ([`DynType::register`]): reference slots, then tagged words (an
//!   immediate or a reference, [`crate::Tagged`]), then raw data words.
//!   tmgc traces the slots and tagged words itself; there is no user trace
//!   callback (T2). A dynamic type may end in an array whose length is
//!   chosen at allocation ([`crate::Elems`], gc/src/array.rs).
//!
//! Invariant (T3): dynamic descriptors are interned and bounded. A header
//! names its type by its descriptor's address (a 32-bit code,
//! `type_code.rs`), so a descriptor is never freed, and dynamic ones are
//! placed in a static pool (TC2 of `type_code.rs`);
//! instead [`DynType::register`] returns the existing descriptor for a
//! name and shape registered before (an interpreter that defines the same
//! class in a loop registers it once), and refuses more than
//! [`MAX_DYN_TYPES`] distinct ones with [`TypeError::TooManyTypes`]. Memory
//! for descriptors is thus bounded by about 200 bytes (plus the name) per
//! distinct shape.
//!
//! Invariant (T1): a `TypeInfo` never changes after it is created, and it
//! outlives every object of its type (it is `'static`).
//!
//! Invariant (T2): every word of a dynamic object that can hold a
//! reference is a reference slot or a tagged word, written only through
//! the transaction layer's `Write::Ptr` (so the commit barrier sees each
//! overwrite), and traced by tmgc's own code. Data words never hold
//! references: the marker does not read them, and the barrier does not
//! shade them. (A user callback reporting references kept in data words
//! was removed: a data-word overwrite escaped the barrier (issue 22), and
//! the callback, holding the marker's tracer, could report any object,
//! freed or of another heap (issue 24).)

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::array::Elems;
use crate::flags::ObjFlags;
use crate::header::Header;
use crate::header::HEADER_BYTES;
use crate::sync::{AtomicPtr, AtomicU64};
use crate::trace::{Trace, Tracer};

/// Erased tracing of a payload.
pub type TraceFn = unsafe fn(NonNull<u8>, &mut Tracer<'_>);
/// Erased destructor of a payload.
pub type DropFn = unsafe fn(NonNull<u8>);

/// The name of a type, for diagnostics.
#[derive(Clone, Copy)]
enum Name {
    Rust(fn() -> &'static str),
    Dynamic(&'static str),
}

/// What the collector knows about a type. 128-byte aligned: a header keeps
/// its [`ObjFlags`] (7 bits) in the low bits of the pointer to it.
#[repr(C, align(128))]
#[derive(Clone)]
pub struct TypeInfo {
    name: Name,
    size: usize,
    align: usize,
    has_refs: bool,
    /// A dynamic type ending in an array (gc/src/array.rs): what its
    /// elements hold (its objects' sizes are read from their length
    /// words). Copied out of `shape` for the element accessors' check.
    elems: Option<Elems>,
    /// For an array type: the payload word index of its first element
    /// (its length word is the one before).
    elem_base: usize,
    /// A frozen dynamic type (F1 of [`DynTypeSpec::frozen`]); copied out
    /// of `shape` for the accessors' check.
    frozen: bool,
    flags: ObjFlags,
    trace: TraceFn,
    drop: Option<DropFn>,
    /// For dynamic types: their layout.
    shape: Option<DynShape>,
    /// For dynamic types: the destructor `DynTypeSpec::on_drop` gave.
    dyn_drop: Option<DynDropFn>,
    /// For Rust types: their `TypeId` (a function, as `TypeId::of` is not
    /// `const` at this crate's MSRV). `Gc::downcast` compares it: a
    /// descriptor's address is not unique (each crate or codegen unit may
    /// hold its own copy of a `const` descriptor), its type is.
    type_id: Option<fn() -> std::any::TypeId>,
}

/// Bytes of one word of a dynamic payload: a reference slot and a tagged
/// word are `AtomicPtr<Header>`, a data word `AtomicU64`, one stride for
/// all (8 bytes; under `--cfg tmgc_loom`, loom's atomics, which
/// `Tx::alloc_dyn` constructs one by one).
pub(crate) const DYN_WORD: usize = std::mem::size_of::<AtomicPtr<Header>>();
const _: () = assert!(std::mem::size_of::<crate::sync::AtomicU64>() == DYN_WORD);

/// The layout of a dynamic type's payload: `ref_slots` reference words,
/// then `tagged_words` tagged words, then `data_words` data words; then,
/// for an array type, a length word and the elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DynShape {
    /// Reference slots ([`Tx::slot`](crate::Tx::slot)).
    pub ref_slots: usize,
    /// Tagged words ([`Tx::tagged`](crate::Tx::tagged)).
    pub tagged_words: usize,
    /// Plain data words ([`Tx::data`](crate::Tx::data)).
    pub data_words: usize,
    /// For an array type, what its elements hold.
    pub elems: Option<Elems>,
    /// Whether its objects are frozen once published
    /// ([`DynTypeSpec::frozen`]).
    pub frozen: bool,
}

impl DynShape {
    /// The fixed words that can hold references: slots and tagged words.
    pub fn ref_words(&self) -> usize {
        self.ref_slots + self.tagged_words
    }

    /// The fixed words: slots, tagged words and data words (an array's
    /// length word follows them).
    pub fn fixed_words(&self) -> usize {
        self.ref_slots + self.tagged_words + self.data_words
    }
}

impl TypeInfo {
    /// The descriptor of a Rust type.
    pub const fn of<T: Trace>() -> TypeInfo {
        TypeInfo {
            name: Name::Rust(std::any::type_name::<T>),
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            has_refs: T::HAS_REFS,
            elems: None,
            elem_base: 0,
            frozen: false,
            flags: if std::mem::needs_drop::<T>() { ObjFlags::HAS_DROP } else { ObjFlags::empty() },
            trace: trace_erased::<T>,
            drop: if std::mem::needs_drop::<T>() { Some(drop_erased::<T>) } else { None },
            shape: None,
            dyn_drop: None,
            type_id: Some(std::any::TypeId::of::<T>),
        }
    }

    /// Whether this describes the Rust type `T` (never for a dynamic type
    /// or a weak cell).
    pub fn is<T: GcType>(&self) -> bool {
        self.type_id.is_some_and(|f| f() == std::any::TypeId::of::<T>())
    }

    /// The type's name.
    pub fn name(&self) -> &'static str {
        match self.name {
            Name::Rust(f) => f(),
            Name::Dynamic(s) => s,
        }
    }

    /// Payload bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Payload alignment.
    pub fn align(&self) -> usize {
        self.align
    }

    /// Offset of the payload from the header: the header, rounded up to the
    /// payload's alignment.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        // Alignments are powers of two (Rust's, and 8 for dynamic types):
        // a mask, not a division (this runs for every object marked).
        debug_assert!(self.align.is_power_of_two());
        (HEADER_BYTES + self.align - 1) & !(self.align - 1)
    }

    /// Bytes of a whole object: header and payload.
    #[inline]
    pub fn object_size(&self) -> usize {
        // At least a byte (a granule, once rounded): an object needs a
        // granule of its own to start on, for its side slots (SD1).
        (self.payload_offset() + self.size).max(1)
    }

    /// Whether objects of this type can hold references (if not, the marker
    /// does not scan them).
    pub fn has_refs(&self) -> bool {
        self.has_refs
    }

    /// Flags every object of this type is born with.
    pub fn flags(&self) -> ObjFlags {
        self.flags
    }

    /// For a dynamic type, its layout.
    pub fn shape(&self) -> Option<DynShape> {
        self.shape
    }

    /// For a dynamic type, its layout, in place (no copy on a hot path).
    #[inline]
    pub(crate) fn shape_ref(&self) -> Option<&DynShape> {
        self.shape.as_ref()
    }

    /// Whether this is a dynamic type ending in an array (its objects'
    /// sizes vary; [`TypeInfo::object_size`] is then the size with no
    /// element).
    #[inline]
    pub fn is_array(&self) -> bool {
        self.elems.is_some()
    }

    /// For an array type, what its elements hold.
    #[inline]
    pub fn elems(&self) -> Option<Elems> {
        self.elems
    }

    /// For an array type, the payload word index of its first element.
    #[inline]
    pub(crate) fn elem_base(&self) -> usize {
        self.elem_base
    }

    /// Whether this is a frozen dynamic type ([`DynTypeSpec::frozen`]).
    #[inline]
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Trace a payload of this type.
    ///
    /// # Safety
    /// `payload` must point at a live, initialised payload of this type.
    pub unsafe fn trace(&self, payload: NonNull<u8>, tracer: &mut Tracer<'_>) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.trace)(payload, tracer) }
    }

    /// Run the destructor of a payload of this type, if it has one.
    ///
    /// # Safety
    /// `payload` must point at a live, initialised payload of this type
    /// that nobody uses again; the destructor runs at most once.
    pub unsafe fn drop_payload(&self, payload: NonNull<u8>) {
        if let Some(d) = self.drop {
            // SAFETY: forwarded from the caller.
            unsafe { d(payload) }
        }
    }
}

impl std::fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeInfo")
            .field("name", &self.name())
            .field("size", &self.size)
            .field("align", &self.align)
            .field("has_refs", &self.has_refs)
            .field("flags", &self.flags)
            .finish()
    }
}

/// The type of every weak cell ([`crate::Weak`]): one reference word the
/// marker does not trace (no references as far as tracing goes), flagged
/// `WEAK` so its commit registers it with the collector.
pub(crate) static WEAK_CELL: TypeInfo = TypeInfo {
    name: Name::Dynamic("tmgc::Weak"),
    size: std::mem::size_of::<crate::sync::AtomicPtr<crate::header::Header>>(),
    align: std::mem::align_of::<crate::sync::AtomicPtr<crate::header::Header>>(),
    has_refs: false,
    elems: None,
    elem_base: 0,
    frozen: false,
    flags: ObjFlags::WEAK,
    trace: trace_nothing,
    drop: None,
    shape: None,
    dyn_drop: None,
    type_id: None,
};

/// # Safety
/// None needed: reads nothing.
unsafe fn trace_nothing(_: NonNull<u8>, _: &mut Tracer<'_>) {}

/// # Safety
/// `p` points at a live `T`.
unsafe fn trace_erased<T: Trace>(p: NonNull<u8>, t: &mut Tracer<'_>) {
    // SAFETY: forwarded from the caller.
    unsafe { p.cast::<T>().as_ref() }.trace(t)
}

/// # Safety
/// `p` points at a live `T` that is dropped exactly once.
unsafe fn drop_erased<T>(p: NonNull<u8>) {
    // SAFETY: forwarded from the caller.
    unsafe { std::ptr::drop_in_place(p.cast::<T>().as_ptr()) }
}

/// Rust types that can live in the heap: every [`Trace`] type.
pub trait GcType: Trace + Sized {
    /// The type's descriptor, built at compile time.
    const TYPE_INFO: &'static TypeInfo;
}

impl<T: Trace> GcType for T {
    const TYPE_INFO: &'static TypeInfo = &TypeInfo::of::<T>();
}

/// The shape of a dynamic type, for [`DynType::register`]: built with
/// [`DynTypeSpec::new`] and its setters (new fields can then be added
/// without breaking callers).
///
/// ```
/// use tmgc::{DynType, DynTypeSpec};
/// let pair = DynType::register(DynTypeSpec::new("Pair").ref_slots(2).data_words(1)).unwrap();
/// let shape = pair.info().shape().unwrap();
/// assert_eq!((shape.ref_slots, shape.tagged_words, shape.data_words), (2, 0, 1));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DynTypeSpec {
    /// A name for diagnostics.
    pub name: String,
    /// Reference slots at the start of the payload.
    pub ref_slots: usize,
    /// Tagged words after them: each an immediate or a reference
    /// ([`crate::Tagged`]), traced and barriered by tmgc.
    pub tagged_words: usize,
    /// Words of plain data after those. They never hold references: keep
    /// a reference in a slot or a tagged word (T2).
    pub data_words: usize,
    /// An array after the fixed words, its length chosen at allocation
    /// ([`Tx::alloc_array`](crate::Tx::alloc_array)); `None` for a fixed
    /// shape.
    pub elems: Option<Elems>,
    /// A destructor, run when an object of the type is swept
    /// ([`DynTypeSpec::on_drop`]).
    pub drop: Option<DynDropFn>,
    /// Frozen once published ([`DynTypeSpec::frozen`]).
    pub frozen: bool,
}

/// A dynamic type's destructor: it sees the object's data words only
/// ([`DynData`]), never the heap (other objects may be freed by the same
/// sweep, so a reference would dangle).
pub type DynDropFn = fn(&DynData<'_>);

/// What a dynamic type's destructor sees: the fixed data words of the
/// object being swept (a file descriptor, a pointer from a C library, a
/// count).
pub struct DynData<'a> {
    words: &'a [AtomicU64],
}

impl std::fmt::Debug for DynData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.words.iter().map(|w| w.load(std::sync::atomic::Ordering::Relaxed))).finish()
    }
}

impl DynData<'_> {
    /// Number of data words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the type has no data word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Data word `i`. Panics if `i` is out of range.
    pub fn get(&self, i: usize) -> u64 {
        self.words[i].load(Ordering::Acquire)
    }
}

impl DynTypeSpec {
    /// A shape named `name`, with no words yet.
    pub fn new(name: impl Into<String>) -> Self {
        DynTypeSpec {
            name: name.into(),
            ref_slots: 0,
            tagged_words: 0,
            data_words: 0,
            elems: None,
            drop: None,
            frozen: false,
        }
    }

    /// Give the type a destructor, run once for each of its objects when
    /// the sweep frees it (on the thread that sweeps, outside any
    /// transaction; a panic in it is caught and counted as
    /// `GcStats::destructor_panics`). It sees the object's data words.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tmgc::{Config, DynData, DynType, DynTypeSpec, Heap};
    ///
    /// static CLOSED: AtomicU64 = AtomicU64::new(0);
    /// fn close(d: &DynData<'_>) {
    ///     CLOSED.fetch_add(d.get(0), Ordering::SeqCst); // close(fd) here
    /// }
    /// let file = DynType::register(DynTypeSpec::new("File").data_words(1).on_drop(close)).unwrap();
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// m.transaction::<_, ()>(|tx| {
    ///     let f = tx.alloc_dyn(file)?;
    ///     tx.set_data(f, 0, 7)?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// m.collect().unwrap();
    /// assert_eq!(CLOSED.load(Ordering::SeqCst), 7);
    /// ```
    pub fn on_drop(mut self, f: DynDropFn) -> Self {
        self.drop = Some(f);
        self
    }

    /// Freeze the type's objects once published: each is written only by
    /// the transaction that allocates it, before that transaction commits,
    /// and is immutable from then on, as an interpreter's code objects,
    /// closures, numbers and (in some languages) strings and tuples are.
    ///
    /// In return, a read of a frozen object is one Acquire load: no read
    /// set entry, no version check, no validation at commit, and no
    /// conflict with any commit.
    ///
    /// Why that is sound (F1): every word of a frozen object is written
    /// while it is NEW, reachable only by its allocating transaction, and
    /// never after; the commit that publishes it makes those stores
    /// visible with the Release store of the first reference to it (P2d)
    /// or of the global root set to it (G4), and every reader reached it
    /// through an Acquire load of such a reference. A value that cannot
    /// change needs no validation: the snapshot rules are for words that
    /// can. The collector traces it as any other object.
    ///
    /// A write to a published frozen object panics (a bug of the caller,
    /// as an index out of range is).
    ///
    /// ```
    /// use tmgc::{Config, DynType, DynTypeSpec, Elems, Heap, Tagged};
    ///
    /// let closure = DynType::register(DynTypeSpec::new("Closure").tagged_words(1).array(Elems::Tagged).frozen()).unwrap();
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let root = m.atomically(|tx| {
    ///     let c = tx.alloc_array(closure, 2)?;
    ///     tx.set_tagged(c, 0, Tagged::int(7).unwrap())?; // NEW: allowed
    ///     tx.set_elem(c, 1, Tagged::int(9).unwrap())?;
    ///     Ok(tx.global_root(c))
    /// }).unwrap();
    /// let sum = m.atomically(|tx| {
    ///     let c = tx.get_global(&root)?;
    ///     match (tx.tagged(c, 0)?, tx.elem(c, 1)?) {
    ///         (Tagged::Int(a), Tagged::Int(b)) => Ok(a.get() + b.get()),
    ///         _ => unreachable!(),
    ///     }
    /// }).unwrap();
    /// assert_eq!(sum, 16);
    /// ```
    pub fn frozen(mut self) -> Self {
        self.frozen = true;
        self
    }

    /// End the shape in an array of `elems`, its length chosen at each
    /// allocation ([`Tx::alloc_array`](crate::Tx::alloc_array)).
    pub fn array(mut self, elems: Elems) -> Self {
        self.elems = Some(elems);
        self
    }

    /// Set the number of reference slots.
    pub fn ref_slots(mut self, n: usize) -> Self {
        self.ref_slots = n;
        self
    }

    /// Set the number of tagged words.
    pub fn tagged_words(mut self, n: usize) -> Self {
        self.tagged_words = n;
        self
    }

    /// Set the number of data words.
    pub fn data_words(mut self, n: usize) -> Self {
        self.data_words = n;
        self
    }
}

/// Why a dynamic type was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeError {
    /// The payload would be larger than any object can be.
    TooLarge {
        /// Words requested.
        words: usize,
    },
    /// [`MAX_DYN_TYPES`] distinct dynamic types are registered already
    /// (T3): descriptors are never freed, so their number is bounded.
    /// Register a shape once and reuse its `DynType`; registering the same
    /// name and shape again returns the same type and never fails.
    TooManyTypes {
        /// The limit.
        limit: usize,
    },
    /// Names starting with `tmgc::` belong to tmgc's own types (such as
    /// [`TVec`](crate::TVec)'s): a user type of the same name and shape
    /// would be the same type (T3) and pass their checks.
    ReservedName {
        /// The name asked for.
        name: String,
    },
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeError::TooLarge { words } => write!(f, "a dynamic type of {words} words is too large"),
            TypeError::ReservedName { name } => {
                write!(f, "the type name `{name}` is reserved: names starting with `tmgc::` are tmgc's own")
            }
            TypeError::TooManyTypes { limit } => write!(
                f,
                "{limit} distinct dynamic types are registered already (descriptors are never freed; reuse a DynType, or register a shape once)"
            ),
        }
    }
}

impl std::error::Error for TypeError {}

/// A registered dynamic type: a handle on its `'static` descriptor. Two
/// handles are equal when they name the same registered type (T3: the same
/// name, shape and destructor register once), so an interpreter's type
/// tests compare them ([`Gc::is`](crate::Gc::is)).
#[derive(Clone, Copy, Debug)]
pub struct DynType(&'static TypeInfo);

impl PartialEq for DynType {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for DynType {}

impl std::hash::Hash for DynType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.0 as *const TypeInfo).hash(state);
    }
}

/// Most distinct dynamic types a process may register (T3).
pub const MAX_DYN_TYPES: usize = 1 << 16;

/// Interned descriptors by name and shape (T3).
type Registry = std::collections::HashMap<(String, DynShape, Option<usize>), &'static TypeInfo>;

fn registry() -> &'static std::sync::Mutex<Registry> {
    static R: std::sync::OnceLock<std::sync::Mutex<Registry>> = std::sync::OnceLock::new();
    R.get_or_init(Default::default)
}

impl DynType {
    /// The handle of a dynamic type's descriptor.
    pub(crate) fn of_info(info: &'static TypeInfo) -> DynType {
        debug_assert!(info.shape().is_some(), "a dynamic type's descriptor");
        DynType(info)
    }

    /// Register a shape, or find it registered: the same name, shape and
    /// destructor (`on_drop`) give the same type (T3); a name registered
    /// again with another shape or destructor is another type. The descriptor lives for the rest of the
    /// process. Fails for a shape too large for any object, and past
    /// [`MAX_DYN_TYPES`] distinct types, and for a name starting with
    /// `tmgc::` (reserved).
    pub fn register(spec: DynTypeSpec) -> Result<DynType, TypeError> {
        if spec.name.starts_with("tmgc::") {
            return Err(TypeError::ReservedName { name: spec.name });
        }
        Self::register_any(spec)
    }

    /// Register any shape, reserved names included (tmgc's own types).
    pub(crate) fn register_any(spec: DynTypeSpec) -> Result<DynType, TypeError> {
        let words = spec
            .ref_slots
            .checked_add(spec.tagged_words)
            .and_then(|w| w.checked_add(spec.data_words))
            .and_then(|w| w.checked_add(spec.elems.is_some() as usize))
            .ok_or(TypeError::TooLarge { words: usize::MAX })?;
        if words > (isize::MAX as usize) / 64 {
            return Err(TypeError::TooLarge { words });
        }
        let shape = DynShape {
            ref_slots: spec.ref_slots,
            tagged_words: spec.tagged_words,
            data_words: spec.data_words,
            elems: spec.elems,
            frozen: spec.frozen,
        };
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        let key = (spec.name, shape, spec.drop.map(|f| f as usize));
        if let Some(&info) = reg.get(&key) {
            return Ok(DynType(info));
        }
        // tmgc's own few types (reserved names) are never refused.
        if reg.len() >= MAX_DYN_TYPES && !key.0.starts_with("tmgc::") {
            return Err(TypeError::TooManyTypes { limit: MAX_DYN_TYPES });
        }
        let info: &'static TypeInfo = crate::type_code::place_with(|| TypeInfo {
            name: Name::Dynamic(Box::leak(key.0.clone().into_boxed_str())),
            size: words * DYN_WORD,
            align: 8,
            has_refs: shape.ref_words() > 0 || shape.elems.is_some_and(Elems::holds_refs),
            elems: shape.elems,
            elem_base: shape.fixed_words() + 1,
            frozen: shape.frozen,
            flags: if spec.drop.is_some() { ObjFlags::HAS_DROP } else { ObjFlags::empty() },
            trace: trace_dynamic,
            drop: spec.drop.map(|_| drop_dynamic as DropFn),
            shape: Some(shape),
            dyn_drop: spec.drop,
            type_id: None,
        })?;
        reg.insert(key, info);
        Ok(DynType(info))
    }

    /// The descriptor.
    pub fn info(&self) -> &'static TypeInfo {
        self.0
    }
}

/// # Safety
/// `p` points at a live payload of a dynamic type registered with `DynType::register`.
unsafe fn trace_dynamic(p: NonNull<u8>, t: &mut Tracer<'_>) {
    // The descriptor is found through the header just before the payload.
    // A raw pointer: it keeps the payload pointer's provenance over the
    // whole object, which the array's elements need; a `&Header` covers
    // the header's 16 bytes only.
    // SAFETY: dynamic payloads have alignment 8 <= 16, so the header is
    // exactly HEADER_BYTES before the payload (no bytes at all, but under
    // loom).
    let obj = unsafe { p.cast::<u8>().sub(HEADER_BYTES).cast::<crate::header::Header>() };
    // SAFETY: the header of a live object.
    let shape = unsafe { obj.as_ref() }.type_info().shape.expect("trace_dynamic on a dynamic type");
    // SAFETY: the payload starts with `ref_words` reference-capable words
    // (slots, then tagged words), all initialised at allocation.
    let words = unsafe { std::slice::from_raw_parts(p.cast::<AtomicPtr<Header>>().as_ptr(), shape.ref_words()) };
    for w in words {
        // One Acquire load per word (M2); slots and tagged words decode
        // alike (a slot never holds an immediate).
        let r = crate::tagged::decode_ref(w.load(Ordering::Acquire));
        // SAFETY: a slot or tagged word holds null, an immediate (decoded
        // away above) or a live object (T2, TG1, I2).
        unsafe { t.edge(r) };
    }
    if shape.elems.is_some_and(Elems::holds_refs) {
        let edge = |r| {
            // SAFETY: an element holds null, an immediate (decoded away) or
            // a live object (AR2, TG1, I2).
            unsafe { t.edge(r) }
        };
        // SAFETY: a live array object of this shape with reference elements.
        unsafe { crate::array::visit_elems(obj, &shape, edge) };
    }
}

/// The destructor of a dynamic type with `DynTypeSpec::on_drop`.
///
/// # Safety
/// `p` points at the payload of an object of such a type, initialised,
/// that nobody uses again (the sweep's drop hook).
unsafe fn drop_dynamic(p: NonNull<u8>) {
    // SAFETY: dynamic payloads follow the header directly (alignment 8);
    // the header of a live object.
    let info = unsafe { p.cast::<Header>().sub(1).as_ref() }.type_info();
    let shape = info.shape.expect("a dynamic type");
    let first = p.cast::<AtomicU64>().as_ptr().wrapping_add(shape.ref_words());
    // SAFETY: the data words follow the reference words, all initialised.
    let words = unsafe { std::slice::from_raw_parts(first, shape.data_words) };
    if let Some(f) = info.dyn_drop {
        f(&DynData { words });
    }
}
