//! Handles on heap objects: [`Gc<'tx, T>`] inside a transaction, [`Root<T>`]
//! and [`GlobalRoot<T>`] across transactions.
//!
//! # Why `Gc<'tx, T>` cannot escape its transaction
//!
//! 1. `Mutator::transaction` calls the body as `for<'tx> FnMut(&mut
//!    Tx<'tx>)`: `'tx` is chosen anew for each attempt, and the body must
//!    work for *every* `'tx`.
//! 2. `Gc<'tx, T>` and `Tx<'tx>` are **invariant** in `'tx` (a
//!    `PhantomData<fn(&'tx ()) -> &'tx ()>`), so a `Gc<'tx, T>` cannot be
//!    coerced to any other lifetime.
//! 3. The body's result type `R` and every variable it captures are named
//!    outside the closure, so none can mention `'tx`: returning a `Gc`,
//!    storing it in a captured variable, or keeping it for the next attempt
//!    are all type errors.
//!
//! So every `Gc` dies with its transaction, and the collector never has to
//! scan a thread's stack: what outlives a transaction is an explicit
//! [`Root`] or [`GlobalRoot`]. `Gc` holds a raw pointer, so it is neither
//! `Send` nor `Sync`.
//!
//! ```compile_fail,E0521
//! # use tmgc::*;
//! # #[derive(Trace)] struct Cell { v: Value<u64> }
//! let heap = Heap::new(Config::default()).unwrap();
//! let mut m = heap.attach().unwrap();
//! let mut escaped = None;
//! let _ = m.transaction::<_, ()>(|tx| {
//!     escaped = Some(tx.alloc(Cell { v: Value::new(1) })?); // does not compile
//!     Ok(())
//! });
//! ```
//!
//! ```compile_fail
//! # use tmgc::*;
//! # #[derive(Trace)] struct Cell { v: Value<u64> }
//! let heap = Heap::new(Config::default()).unwrap();
//! let mut m = heap.attach().unwrap();
//! let gc = m.transaction::<_, ()>(|tx| Ok(tx.alloc(Cell { v: Value::new(1) })?)); // does not compile
//! ```
//!
//! # Global roots and their heap (GS1)
//!
//! A [`GlobalRoot`] holds its heap weakly: the heap itself may hold one
//! (in a finalizer's or a cleanup's closure) without keeping itself alive
//! after its last `Heap` and `Mutator` are dropped. Reading one takes a
//! transaction on its heap, which keeps the heap alive; the weak count
//! keeps the heap's address unique while the root lives, so the address
//! comparison that recognises a root's heap is exact.
//!
//! A `Mutator` cannot move to another thread either:
//!
//! ```compile_fail,E0277
//! let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
//! let m = heap.attach().unwrap();
//! std::thread::spawn(move || drop(m)); // does not compile: Mutator is not Send
//! ```

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use tmgc_roots::{GlobalSlot, ResolvedSlot, Slot};

use crate::header::Header;
use crate::heap::HeapInner;
use crate::thread::RootDrops;
use crate::types::GcType;

/// Invariant lifetime brand.
pub(crate) type Brand<'tx> = PhantomData<fn(&'tx ()) -> &'tx ()>;

/// A reference to a heap object, valid for the transaction `'tx`.
pub struct Gc<'tx, T: ?Sized> {
    pub(crate) ptr: NonNull<Header>,
    _brand: Brand<'tx>,
    _type: PhantomData<*const T>,
}

impl<T: ?Sized> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Gc<'_, T> {}

impl<T: ?Sized> PartialEq for Gc<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<T: ?Sized> Eq for Gc<'_, T> {}

/// By identity (the object's address): equal handles hash equal.
impl<T: ?Sized> std::hash::Hash for Gc<'_, T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ptr.hash(state);
    }
}

/// By address: an arbitrary but stable order (objects never move), for
/// ordered maps keyed by identity.
impl<T: ?Sized> PartialOrd for Gc<'_, T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: ?Sized> Ord for Gc<'_, T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ptr.cmp(&other.ptr)
    }
}

impl<T: ?Sized> std::fmt::Debug for Gc<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gc({:p})", self.ptr)
    }
}

impl<'tx, T: ?Sized> Gc<'tx, T> {
    /// # Safety
    /// `ptr` is the header of a live object of type `T` that stays live for `'tx`.
    pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> Self {
        Gc { ptr, _brand: PhantomData, _type: PhantomData }
    }

    /// The object's header.
    pub fn header(&self) -> &'tx Header {
        // SAFETY: (from_header) the object is live for 'tx.
        unsafe { self.ptr.as_ref() }
    }

    /// Whether two handles name the same object.
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        a.ptr == b.ptr
    }

    /// The object's address: its identity. tmgc never moves objects, so it
    /// is stable for the object's life, and two live objects never share
    /// it; once an object is freed, a later one may get its address, so
    /// compare identities of objects that are both reachable (inside one
    /// transaction, or held by roots). An object its transaction never
    /// publishes is freed at that commit (CM3 of `tx/commit.rs`), and the
    /// thread's next transaction allocates at the same addresses: an
    /// address carried out of a transaction names nothing once it ends. For hashing by identity, `Gc` is
    /// `Hash` and `Ord` by this address.
    pub fn as_ptr(self) -> *const () {
        self.ptr.as_ptr().cast_const().cast()
    }
}

impl<'tx, T: GcType> Gc<'tx, T> {
    /// The same object as a dynamically typed handle, to keep in a dynamic
    /// object's slot or tagged word ([`crate::Tx::set_slot`],
    /// [`crate::Tagged::Ref`]); [`Gc::downcast`] gives the type back. The
    /// slot and data accessors of `Tx` panic on an object that is not of a
    /// [`crate::DynType`].
    pub fn into_dyn(self) -> Gc<'tx, Dyn> {
        // SAFETY: the same live object; `Dyn` claims nothing of its layout
        // (every `Tx` accessor of `Gc<Dyn>` checks the descriptor).
        unsafe { Gc::from_header(self.ptr) }
    }
}

impl<'tx> Gc<'tx, Dyn> {
    /// The object as a `T`, if it is one (its descriptor says so, by
    /// `TypeId`); `None` for an object of another Rust type, of a
    /// [`crate::DynType`], or a weak cell.
    ///
    /// ```
    /// use tmgc::{Config, DynType, DynTypeSpec, Heap, Trace, Value};
    /// #[derive(Trace)]
    /// struct Point { x: Value<i64> }
    /// #[derive(Trace)]
    /// struct Other { x: Value<i64> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let boxed = DynType::register(DynTypeSpec::new("Box").ref_slots(1)).unwrap();
    /// let x = m.transaction::<_, ()>(|tx| {
    ///     let p = tx.alloc(Point { x: Value::new(7) })?;
    ///     let b = tx.alloc_dyn(boxed)?;
    ///     tx.set_slot(b, 0, Some(p.into_dyn()))?; // a Rust object in a slot
    ///     let d = tx.slot(b, 0)?.unwrap();
    ///     assert!(d.downcast::<Other>().is_none());
    ///     let p = d.downcast::<Point>().expect("a Point");
    ///     Ok(tx.get(p, |p| &p.x)?)
    /// });
    /// assert_eq!(x.unwrap(), 7);
    /// ```
    pub fn downcast<T: GcType>(self) -> Option<Gc<'tx, T>> {
        // SAFETY: the descriptor says the object is a `T` (by `TypeId`),
        // and it is live for 'tx.
        self.header().type_info().is::<T>().then(|| unsafe { Gc::from_header(self.ptr) })
    }

    /// Whether the object is of dynamic type `ty`: one comparison of its
    /// descriptor (an interpreter's `pair?`). Its type word never changes
    /// (HD1), so this needs no transaction read.
    ///
    /// ```
    /// use tmgc::{Config, DynInit, DynType, DynTypeSpec, Heap};
    ///
    /// let pair = DynType::register(DynTypeSpec::new("Pair").tagged_words(2)).unwrap();
    /// let boxed = DynType::register(DynTypeSpec::new("Box").tagged_words(1)).unwrap();
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let r = m.transaction::<_, ()>(|tx| {
    ///     let p = tx.alloc_with(pair, DynInit::new())?;
    ///     Ok((p.is(pair), p.is(boxed), p.dyn_type() == Some(pair)))
    /// });
    /// assert_eq!(r.unwrap(), (true, false, true));
    /// ```
    #[inline]
    pub fn is(self, ty: crate::DynType) -> bool {
        std::ptr::eq(self.header().type_info(), ty.info())
    }

    /// The object's dynamic type; `None` for a Rust-typed object (in a
    /// slot through [`Gc::into_dyn`]) or a weak cell.
    #[inline]
    pub fn dyn_type(self) -> Option<crate::DynType> {
        let info = self.header().type_info();
        info.shape_ref().is_some().then(|| crate::DynType::of_info(info))
    }
}

/// Reading a `Gc` gives the payload: immutable fields directly, and `Ref` /
/// `Value` fields, which only a transaction can read or write.
impl<'tx, T: GcType> Deref for Gc<'tx, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: (from_header) a live, initialised object of type T; its
        // payload sits at the type's payload offset.
        unsafe { &*self.ptr.cast::<u8>().add(T::TYPE_INFO.payload_offset()).cast::<T>().as_ptr() }
    }
}

/// Marker type of dynamically typed objects ([`crate::DynType`]).
#[derive(Debug)]
pub enum Dyn {}

/// Identity traits (`PartialEq`, `Eq`, `Hash`, `PartialOrd`, `Ord`) by the
/// address a handle records: equal handles name the same object.
macro_rules! identity_traits {
    ($ty:ident) => {
        impl<T: ?Sized> PartialEq for $ty<T> {
            fn eq(&self, other: &Self) -> bool {
                self.addr() == other.addr()
            }
        }
        impl<T: ?Sized> Eq for $ty<T> {}
        impl<T: ?Sized> std::hash::Hash for $ty<T> {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.addr().hash(state);
            }
        }
        impl<T: ?Sized> PartialOrd for $ty<T> {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl<T: ?Sized> Ord for $ty<T> {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.addr().cmp(&other.addr())
            }
        }
    };
}

/// A reference to a heap object that outlives transactions: one of this
/// thread's roots. Created with `Tx::root`, read with `Tx::get_root`.
/// Dropping it removes the root at the next commit point (a transaction,
/// `Mutator::commit_point` or `Mutator::collect`): until then a collection
/// keeps its object. Not `Send` (the compiler's message names an `Rc`
/// inside it): a root belongs to its thread's root set (docs/COLLECTOR.md,
/// trap 2). To share an object between threads, use a [`GlobalRoot`].
///
/// Its identity is its object's: [`Root::as_ptr`] is the address
/// [`Gc::as_ptr`] gives for the object, and `Eq`, `Hash` and `Ord` compare
/// it, so two roots of one object are equal.
pub struct Root<T: ?Sized> {
    pub(crate) slot: Slot,
    pub(crate) drops: Rc<RootDrops>,
    addr: usize,
    _type: PhantomData<fn(&T) -> &T>,
}

impl<T: ?Sized> Root<T> {
    pub(crate) fn new(slot: Slot, drops: Rc<RootDrops>, obj: NonNull<Header>) -> Self {
        Root { slot, drops, addr: obj.addr().get(), _type: PhantomData }
    }

    fn addr(&self) -> usize {
        self.addr
    }

    /// The same root, typed as `U` (the caller knows the object is one).
    pub(crate) fn cast<U: ?Sized>(self) -> Root<U> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so its `drops` is moved out once.
        let drops = unsafe { std::ptr::read(&me.drops) };
        Root { slot: me.slot, drops, addr: me.addr, _type: PhantomData }
    }

    /// The object's address, as [`Gc::as_ptr`] gives it: its identity, for
    /// as long as the root holds it. An address only (it has no provenance:
    /// read the object through `Tx::get_root`).
    pub fn as_ptr(&self) -> *const () {
        std::ptr::without_provenance(self.addr)
    }
}

identity_traits!(Root);

impl<T: ?Sized> Drop for Root<T> {
    fn drop(&mut self) {
        // Queued, applied at this thread's next commit or abort: the table
        // itself may be in the collector's hands while the thread is parked.
        if let Ok(mut d) = self.drops.try_borrow_mut() {
            d.push(self.slot);
        }
    }
}

impl<T: ?Sized> std::fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root({:#x})", self.addr)
    }
}

/// A root shared by every thread. Created with `Tx::global_root` (set when
/// that transaction commits), read with `Tx::get_global`. `Send` and `Sync`.
///
/// It does not keep its heap alive: once every `Heap` handle and `Mutator`
/// of the heap is gone, the heap shuts down and its global roots are inert
/// (nothing can read them: that takes a transaction on the heap). So a
/// finalizer's or a cleanup's closure may hold one (a runtime's registry)
/// without keeping a dropped heap mapped through the closure it holds.
///
/// Clones share one global root: dropping the last clone gives the root
/// back (its object is then kept only by other references; the collector
/// may free it from the next cycle on). Dropping the last clone before the
/// creating transaction commits means the root is never set. There is no
/// limit on the number of global roots.
///
/// Its identity is its object's, as for [`Root`]: [`GlobalRoot::as_ptr`],
/// `Eq`, `Hash` and `Ord`. (clippy's `mutable_key_type` lint fires on a
/// set of them, seeing the atomics of the heap behind the handle: a false
/// positive, as the hash reads only the address recorded at creation.)
pub struct GlobalRoot<T: ?Sized> {
    pub(crate) share: Arc<GlobalShare>,
    _type: PhantomData<fn(&T) -> &T>,
}

/// What clones of one [`GlobalRoot`] share; the last one dropped gives the
/// slot back (G3 of `tmgc_roots::GlobalRoots`), if the heap still lives.
///
/// (GS1) `heap` is weak: a global root held by the heap itself (in a
/// finalizer's or cleanup's closure) would otherwise keep the heap alive
/// for ever. The weak count keeps the heap's allocation, so no other heap
/// is ever at this address while the root lives: an address comparison
/// with a running transaction's heap tells whether `resolved` points into
/// that heap's table (which the transaction keeps alive).
pub(crate) struct GlobalShare {
    /// The slot, resolved in `heap.globals`; valid while `heap` lives.
    pub(crate) resolved: ResolvedSlot,
    pub(crate) heap: Weak<HeapInner>,
    addr: usize,
}

impl GlobalShare {
    /// Whether this root belongs to `heap` (GS1).
    #[inline]
    pub(crate) fn of(&self, heap: &Arc<HeapInner>) -> bool {
        std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap))
    }
}

impl Drop for GlobalShare {
    fn drop(&mut self) {
        // A global root dropped while a cycle runs: its object was shaded
        // at T if it was set then (G5), and a transaction that read it
        // before the drop and stores it after T either began before its
        // thread observed MARK (barrier (e) shades what it stores) or read
        // the root after T, when it was shaded. docs/COLLECTOR.md, trap 3.
        // A heap already gone took its table with it (GS1).
        if let Some(heap) = self.heap.upgrade() {
            heap.globals.release(self.resolved.slot());
        }
    }
}

impl<T: ?Sized> GlobalRoot<T> {
    pub(crate) fn new(slot: GlobalSlot, heap: &Arc<HeapInner>, obj: NonNull<Header>) -> Self {
        let resolved = heap.globals.resolve(slot);
        let heap = Arc::downgrade(heap);
        GlobalRoot { share: Arc::new(GlobalShare { resolved, heap, addr: obj.addr().get() }), _type: PhantomData }
    }

    fn addr(&self) -> usize {
        self.share.addr
    }

    /// The object's address, as [`Gc::as_ptr`] gives it: its identity, for
    /// as long as the root holds it. An address only (no provenance: read
    /// the object through `Tx::get_global`).
    pub fn as_ptr(&self) -> *const () {
        std::ptr::without_provenance(self.share.addr)
    }
}

identity_traits!(GlobalRoot);

impl<T: ?Sized> Clone for GlobalRoot<T> {
    fn clone(&self) -> Self {
        GlobalRoot { share: Arc::clone(&self.share), _type: PhantomData }
    }
}

impl<T: ?Sized> std::fmt::Debug for GlobalRoot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GlobalRoot({:#x}, slot {})", self.share.addr, self.share.resolved.slot().index())
    }
}
