//! Tracing: how the marker finds the references inside an object.
//!
//! # The `Trace` contract (read this before implementing it by hand)
//!
//! `unsafe trait Trace` is how the collector learns where a type keeps its
//! heap references. An implementation is sound when:
//!
//! 1. **Every reference is visited.** `trace` calls [`Tracer::edge`] (through
//!    the fields' own `trace`) for every [`Ref`](crate::Ref) stored in
//!    `self`, directly or inside owned data (a `Vec<Ref<T>>`, an `Option`).
//!    A reference that is not visited is not marked; its object is freed
//!    while still reachable, and the next read through it is a use after
//!    free.
//! 2. **Tracing only reads.** `trace` runs on marker threads concurrently with
//!    commits that write fields back; it must not write, lock, allocate in the
//!    heap, or assume any other field is stable. `Ref::trace` loads its word
//!    atomically (Acquire), which is why references are atomic words.
//! 3. **`HAS_REFS` is honest.** It may be `true` for a type with no reference
//!    (only wasted work), never `false` for one that has any: the marker
//!    skips objects whose type says `false`.
//! 4. **Only the object's own references.** Every reference reported is
//!    one that `self` holds: in a `Ref` field (written only by the
//!    transaction layer, whose commit barrier shades what it overwrites),
//!    or in data that was immutable since the object was allocated. A
//!    reference found anywhere else (a global, another object, a number
//!    turned into an address) was never covered by the barrier: the marker
//!    would mark a freed object, or an object of another heap, whose next
//!    cycle then skips what it reaches. This is why [`Tracer::edge`] is
//!    `unsafe`, and why a dynamic type has no trace callback (its
//!    references live in slots and tagged words, which tmgc traces itself).
//! 5. **No re-entry.** `trace` runs inside the collector's work, as does a
//!    destructor run by the sweep. There, `Heap::attach`, `Heap::collect`
//!    and `Mutator::transaction` return an `InGcWork` error, for every
//!    heap (invariant W0 of docs/COLLECTOR.md): enforced at run time, so a
//!    `trace` or `Drop` that tries gets an error, not a deadlock, and never
//!    obtains a `Gc` to report.
//!
//! `#[derive(Trace)]` meets all five by tracing every field. Hand-written
//! impls are for containers and foreign types; [`NoTrace`] wraps a value that
//! holds no reference.

use std::ptr::NonNull;

use crate::collector::mark::{shade, Grey};
use crate::header::Header;

/// Receives the references a marker finds.
pub trait Visitor {
    /// Visit one non-null reference to an object header.
    fn visit(&mut self, obj: NonNull<Header>);
}

/// What [`Trace::trace`] reports references to.
pub struct Tracer<'a> {
    sink: Sink<'a>,
}

/// Where a [`Tracer`] sends references. Marking, the hot case, is a
/// predictable branch with the shading inlined at each edge rather than a
/// call through a `dyn Visitor`.
enum Sink<'a> {
    Visitor(&'a mut dyn Visitor),
    /// Shade each reference onto this mark stack (see [`Tracer::marking`]).
    Mark(&'a mut Vec<Grey>),
}

impl std::fmt::Debug for Tracer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}

impl<'a> Tracer<'a> {
    /// A tracer reporting to `visitor`.
    pub fn new(visitor: &'a mut dyn Visitor) -> Self {
        Tracer { sink: Sink::Visitor(visitor) }
    }

    /// A tracer that shades every reference it is given, pushing the newly
    /// marked onto `stack`.
    ///
    /// # Safety
    /// It may only trace the payload of a live, published object while
    /// marking runs (M3 of docs/COLLECTOR.md): every reference such a
    /// payload holds is then null or a live object (I2), which is what
    /// [`shade`] requires of each edge.
    #[inline]
    pub(crate) unsafe fn marking(stack: &'a mut Vec<Grey>) -> Self {
        Tracer { sink: Sink::Mark(stack) }
    }

    /// Report one reference (ignores null). Safe code reports references
    /// by tracing its [`Ref`](crate::Ref) fields (`Ref::trace` calls this);
    /// calling it directly is for a hand-written `Trace` of a container
    /// that keeps references another way.
    ///
    /// # Safety
    /// `obj` must be null or a reference held by the object being traced
    /// (rule 4 of the [module docs](crate::trace)): read atomically from a
    /// field that only the transaction layer writes, or immutable since the
    /// object was allocated. Then it is a live object of the heap being
    /// traced (I2 of docs/COLLECTOR.md). Anything else goes wrong in one of
    /// two ways: a marking tracer sets the mark bit at `obj`, so a dangling
    /// or foreign address writes to unrelated memory and the marker later
    /// reads a forged header (whose type word holds a function pointer); and
    /// a live object that is not held this way was never covered by the
    /// commit barrier, so its own referents may be freed while reachable.
    #[inline]
    pub unsafe fn edge(&mut self, obj: Option<NonNull<Header>>) {
        if let Some(o) = obj {
            match &mut self.sink {
                Sink::Mark(stack) => {
                    // SAFETY: `o` is a live object (the caller's guarantee),
                    // as `shade` requires.
                    unsafe { shade(o, stack) };
                }
                Sink::Visitor(v) => v.visit(o),
            }
        }
    }
}

/// Types the collector can trace. See the [module docs](crate::trace) for the
/// contract; derive it with `#[derive(Trace)]`.
///
/// # Safety
/// `trace` must visit every heap reference `self` holds and no other
/// (rules 1 and 4 of the module docs), must only read, and `HAS_REFS` must
/// be `true` if the type can hold any reference (see the module docs for
/// what goes wrong otherwise).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Trace`, so it cannot be stored in the heap",
    note = "heap objects, weak cells included, are held through `Ref<T>` fields (`Ref<Weak<T>>` for a weak cell); plain data goes in `Value<T>` or an immutable field of a `Trace` type",
    note = "a Rust value with no heap reference in it (a file handle, a native resource) goes in a `NoTrace<T>` field, after `unsafe impl NoTraceSafe for T {{}}`"
)]
pub unsafe trait Trace: Send + Sync + 'static {
    /// Whether values of this type can hold heap references.
    const HAS_REFS: bool = true;

    /// Visit every heap reference in `self`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Leaf types: `Trace` with nothing to visit, and `NoTraceSafe` (one list
/// for both).
macro_rules! no_refs {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: holds no heap reference.
        unsafe impl Trace for $t {
            const HAS_REFS: bool = false;
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
        // SAFETY: a standard type with no `Ref` inside.
        unsafe impl NoTraceSafe for $t {}
    )*};
}

no_refs!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    Box<str>,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicBool
);

// SAFETY: traces each element.
unsafe impl<T: Trace> Trace for Vec<T> {
    const HAS_REFS: bool = T::HAS_REFS;
    fn trace(&self, t: &mut Tracer<'_>) {
        if T::HAS_REFS {
            self.iter().for_each(|x| x.trace(t));
        }
    }
}

// SAFETY: traces each element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const HAS_REFS: bool = T::HAS_REFS;
    fn trace(&self, t: &mut Tracer<'_>) {
        if T::HAS_REFS {
            self.iter().for_each(|x| x.trace(t));
        }
    }
}

// SAFETY: traces the value if present.
unsafe impl<T: Trace> Trace for Option<T> {
    const HAS_REFS: bool = T::HAS_REFS;
    fn trace(&self, t: &mut Tracer<'_>) {
        if let Some(x) = self {
            x.trace(t);
        }
    }
}

// SAFETY: traces the boxed value.
unsafe impl<T: Trace> Trace for Box<T> {
    const HAS_REFS: bool = T::HAS_REFS;
    fn trace(&self, t: &mut Tracer<'_>) {
        (**self).trace(t);
    }
}

/// A value that holds no heap reference, whatever its type: its
/// `Trace` impl does nothing. Wrapping a value that *does* hold a `Ref` in
/// it is prevented: `Ref` is not `NoTraceSafe`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoTrace<T>(pub T);

/// Types that certainly hold no heap reference, for [`NoTrace`].
///
/// tmgc implements it for the standard types that cannot hold a
/// [`Ref`](crate::Ref): primitives, `String`, `Box<str>`, `PathBuf`,
/// `Duration`, `Instant`, `File`, atomics, and the standard containers and
/// wrappers (`Vec`, `VecDeque`, `Box`, `Option`, `Arc`, `Mutex`, `RwLock`,
/// `HashMap`, `HashSet`, `BTreeMap`, `BTreeSet`, tuples up to four,
/// arrays) of types that implement it. So a `NoTrace<HashMap<String,
/// u64>>` field needs no code of the user's:
///
/// ```
/// use std::collections::HashMap;
/// use tmgc::{Config, Heap, NoTrace, Trace};
///
/// #[derive(Trace)]
/// struct Module {
///     names: NoTrace<HashMap<String, u64>>, // immutable after allocation
/// }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let n = m.atomically(|tx| {
///     let names = HashMap::from([("x".to_string(), 1)]);
///     let module = tx.alloc(Module { names: NoTrace(names) })?;
///     Ok(module.names["x"])
/// });
/// assert_eq!(n.unwrap(), 1);
/// ```
///
/// For another crate's type (the orphan rule forbids implementing this
/// trait for it in your crate), wrap it in a type of your own and
/// implement the trait for the wrapper: `struct Conn(foreign::Conn);
/// unsafe impl NoTraceSafe for Conn {}`.
///
/// # Safety
/// The type must not contain a [`Ref`](crate::Ref) anywhere.
pub unsafe trait NoTraceSafe: Send + Sync + 'static {}

macro_rules! no_trace_safe {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: a standard type with no `Ref` inside.
        unsafe impl NoTraceSafe for $t {}
    )*};
}

no_trace_safe!(
    std::path::PathBuf,
    std::time::Duration,
    std::time::Instant,
    std::fs::File,
    std::collections::hash_map::RandomState,
    std::sync::atomic::AtomicI64,
);

// The containers and wrappers below hold `Ref`s only through their items,
// which the bounds require to hold none.
// SAFETY: as said above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for Vec<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for std::collections::VecDeque<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for Box<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for Option<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe + ?Sized> NoTraceSafe for std::sync::Arc<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for std::sync::Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe> NoTraceSafe for std::sync::RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: NoTraceSafe, const N: usize> NoTraceSafe for [T; N] {}
// SAFETY: as above.
unsafe impl<K: NoTraceSafe, V: NoTraceSafe, S: NoTraceSafe> NoTraceSafe for std::collections::HashMap<K, V, S> {}
// SAFETY: as above.
unsafe impl<K: NoTraceSafe, S: NoTraceSafe> NoTraceSafe for std::collections::HashSet<K, S> {}
// SAFETY: as above.
unsafe impl<K: NoTraceSafe, V: NoTraceSafe> NoTraceSafe for std::collections::BTreeMap<K, V> {}
// SAFETY: as above.
unsafe impl<K: NoTraceSafe> NoTraceSafe for std::collections::BTreeSet<K> {}
// SAFETY: as above.
unsafe impl<A: NoTraceSafe, B: NoTraceSafe> NoTraceSafe for (A, B) {}
// SAFETY: as above.
unsafe impl<A: NoTraceSafe, B: NoTraceSafe, C: NoTraceSafe> NoTraceSafe for (A, B, C) {}
// SAFETY: as above.
unsafe impl<A: NoTraceSafe, B: NoTraceSafe, C: NoTraceSafe, D: NoTraceSafe> NoTraceSafe for (A, B, C, D) {}

// SAFETY: `NoTraceSafe` promises there is no reference to visit.
unsafe impl<T: NoTraceSafe> Trace for NoTrace<T> {
    const HAS_REFS: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl<T> std::ops::Deref for NoTrace<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
