//! Type descriptors: what the collector needs to know about an object's
//! type (size, alignment, how to trace it, whether and how to drop it).
//!
//! Two kinds share one [`TypeInfo`] layout:
//! - **Rust types** implementing [`Trace`]: `T::TYPE_INFO` ([`GcType`]) is a
//!   constant built at compile time, so allocating one costs no lookup.
//! - **Dynamic types** an interpreter registers while it runs
//!   ([`DynType::register`]): a number of reference slots followed by raw
//!   data words, with an optional extra trace callback. Their descriptors are
//!   leaked on purpose: a header points at its type with a `&'static`, and an
//!   interpreter registers a bounded number of shapes (each a few dozen bytes).
//!
//! Invariant (T1): a `TypeInfo` never changes after it is created, and it
//! outlives every object of its type (it is `'static`).

use crate::sync::AtomicU64;
use std::ptr::NonNull;

use crate::field::Ref;
use crate::flags::ObjFlags;
use crate::header::HEADER_BYTES;
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

/// What the collector knows about a type. 64-byte aligned: a header keeps
/// its [`ObjFlags`] in the low bits of the pointer to it.
#[repr(C, align(64))]
pub struct TypeInfo {
    name: Name,
    size: usize,
    align: usize,
    has_refs: bool,
    flags: ObjFlags,
    trace: TraceFn,
    drop: Option<DropFn>,
    /// For dynamic types: (reference slots, data words).
    shape: Option<(usize, usize)>,
    /// For dynamic types: the extra trace callback.
    dyn_trace: Option<DynTraceFn>,
}

/// A dynamic type's extra trace callback.
pub type DynTraceFn = fn(&DynObjectView<'_>, &mut Tracer<'_>);

impl TypeInfo {
    /// The descriptor of a Rust type.
    pub const fn of<T: Trace>() -> TypeInfo {
        TypeInfo {
            name: Name::Rust(std::any::type_name::<T>),
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            has_refs: T::HAS_REFS,
            flags: if std::mem::needs_drop::<T>() { ObjFlags::HAS_DROP } else { ObjFlags::empty() },
            trace: trace_erased::<T>,
            drop: if std::mem::needs_drop::<T>() { Some(drop_erased::<T>) } else { None },
            shape: None,
            dyn_trace: None,
        }
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
        self.payload_offset() + self.size
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

    /// For a dynamic type, its reference slots and data words.
    pub fn shape(&self) -> Option<(usize, usize)> {
        self.shape
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
    flags: ObjFlags::WEAK,
    trace: trace_nothing,
    drop: None,
    shape: None,
    dyn_trace: None,
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

/// The shape of a dynamic type, for [`DynType::register`].
#[derive(Clone, Debug)]
pub struct DynTypeSpec {
    /// A name for diagnostics.
    pub name: String,
    /// Reference slots at the start of the payload.
    pub ref_slots: usize,
    /// Words of plain data after them.
    pub data_words: usize,
    /// Extra tracing, for references the slots do not cover (an interpreter's
    /// own layout inside the data words is its business; this callback
    /// reports them). `None` for most types.
    pub trace: Option<DynTraceFn>,
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
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeError::TooLarge { words } => write!(f, "a dynamic type of {words} words is too large"),
        }
    }
}

impl std::error::Error for TypeError {}

/// A registered dynamic type: a handle on its `'static` descriptor.
#[derive(Clone, Copy, Debug)]
pub struct DynType(&'static TypeInfo);

impl DynType {
    /// Register a shape. The descriptor lives for the rest of the process.
    pub fn register(spec: DynTypeSpec) -> Result<DynType, TypeError> {
        let words = spec.ref_slots.checked_add(spec.data_words).ok_or(TypeError::TooLarge { words: usize::MAX })?;
        if words > (isize::MAX as usize) / 64 {
            return Err(TypeError::TooLarge { words });
        }
        let info: &'static TypeInfo = Box::leak(Box::new(TypeInfo {
            name: Name::Dynamic(Box::leak(spec.name.into_boxed_str())),
            size: words * 8,
            align: 8,
            has_refs: spec.ref_slots > 0 || spec.trace.is_some(),
            flags: ObjFlags::empty(),
            trace: trace_dynamic,
            drop: None,
            shape: Some((spec.ref_slots, spec.data_words)),
            dyn_trace: spec.trace,
        }));
        Ok(DynType(info))
    }

    /// The descriptor.
    pub fn info(&self) -> &'static TypeInfo {
        self.0
    }
}

/// A read-only view of a dynamic object's payload, for trace callbacks.
pub struct DynObjectView<'a> {
    slots: &'a [Ref<()>],
    data: &'a [AtomicU64],
}

impl<'a> DynObjectView<'a> {
    /// The reference slots.
    pub fn slots(&self) -> &'a [Ref<()>] {
        self.slots
    }

    /// The data words.
    pub fn data(&self) -> &'a [AtomicU64] {
        self.data
    }
}

/// # Safety
/// `p` points at a live payload of a dynamic type registered with `DynType::register`.
unsafe fn trace_dynamic(p: NonNull<u8>, t: &mut Tracer<'_>) {
    // The descriptor is found through the header just before the payload.
    // SAFETY: dynamic payloads have alignment 8 <= 16, so the header is
    // exactly HEADER_BYTES before the payload.
    let header = unsafe { p.cast::<crate::header::Header>().sub(1).as_ref() };
    let info = header.type_info();
    let (slots, words) = info.shape.expect("trace_dynamic on a dynamic type");
    // SAFETY: the payload is `slots` reference words then `words` data
    // words, all initialised at allocation.
    let view = unsafe {
        DynObjectView {
            slots: std::slice::from_raw_parts(p.cast::<Ref<()>>().as_ptr(), slots),
            data: std::slice::from_raw_parts(p.cast::<Ref<()>>().as_ptr().add(slots).cast::<AtomicU64>(), words),
        }
    };
    for s in view.slots {
        s.trace(t);
    }
    if let Some(cb) = info.dyn_trace {
        cb(&view, t);
    }
}
