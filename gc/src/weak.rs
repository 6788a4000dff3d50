//! Weak references: [`Weak<T>`] cells that do not keep their referent alive.
//!
//! A weak cell is a small heap object holding one reference that the
//! collector does not trace. While something else keeps the referent
//! reachable, [`Tx::upgrade`](crate::Tx::upgrade) returns it; once the
//! referent is reachable only through weak cells, the next cycle clears
//! every cell that refers to it (before it frees it), and `upgrade` returns
//! `None` from then on. This is what an interpreter needs for Python's
//! `weakref` objects, or for caches and interning tables.
//!
//! Cells are ordinary heap objects: allocate one with
//! [`Tx::new_weak`](crate::Tx::new_weak), keep it in a [`Ref`](crate::Ref)
//! field or a root like any object, retarget it with
//! [`Tx::set_weak`](crate::Tx::set_weak). An interpreter's dynamic objects
//! keep `Weak<Dyn>` cells in their reference slots
//! ([`Tx::set_slot_weak`](crate::Tx::set_slot_weak),
//! [`Tx::slot_weak`](crate::Tx::slot_weak)). Reads and writes of the cell are
//! transactional; the collector's clearing is not a write any transaction
//! can conflict with (a cleared referent was unreachable, so no
//! transaction can hold it).
//!
//! While a cycle marks, an `upgrade` shades the referent (it stays alive
//! for this cycle), and after marking closes it returns only referents the
//! marker reached. `docs/COLLECTOR.md` ("Weak references") has the
//! protocol and its argument.
//!
//! ```
//! use tmgc::{Config, Heap, Trace, Value};
//!
//! #[derive(Trace)]
//! struct Big { n: Value<u64> }
//!
//! let heap = Heap::new(Config::default()).unwrap();
//! let mut m = heap.attach().unwrap();
//! let (strong, weak) = m.transaction::<_, ()>(|tx| {
//!     let b = tx.alloc(Big { n: Value::new(7) })?;
//!     let w = tx.new_weak(Some(b))?;
//!     Ok((tx.root(b), tx.root(w)))
//! }).unwrap();
//! heap.collect().unwrap();
//! // Still strongly reachable: the cell still refers to it.
//! let n = m.transaction::<_, ()>(|tx| {
//!     let w = tx.get_root(&weak)?;
//!     Ok(match tx.upgrade(w)? { Some(b) => tx.get(b, |b| &b.n)?, None => 0 })
//! }).unwrap();
//! assert_eq!(n, 7);
//! drop(strong);
//! m.collect().unwrap(); // a commit point (the dropped root leaves), then a cycle
//! let gone = m.transaction::<_, ()>(|tx| {
//!     let w = tx.get_root(&weak)?;
//!     Ok(tx.upgrade(w)?.is_none())
//! }).unwrap();
//! assert!(gone, "the cycle cleared the cell");
//! ```
//!
//! In an object, a weak cell is held through a `Ref<Weak<T>>` field (a
//! `Weak<T>` value itself never exists outside the heap):
//!
//! ```
//! use tmgc::{Config, Heap, Ref, Trace, Value, Weak};
//!
//! #[derive(Trace)]
//! struct Interned { text: Value<u64> }
//!
//! #[derive(Trace)]
//! struct CacheSlot {
//!     key: u64,
//!     entry: Ref<Weak<Interned>>, // does not keep the entry alive
//! }
//!
//! let heap = Heap::new(Config::default()).unwrap();
//! let mut m = heap.attach().unwrap();
//! let slot = m.transaction::<_, ()>(|tx| {
//!     let e = tx.alloc(Interned { text: Value::new(42) })?;
//!     let w = tx.new_weak(Some(e))?;
//!     let s = tx.alloc(CacheSlot { key: 1, entry: Ref::null() })?;
//!     tx.store(s, |s| &s.entry, Some(w))?;
//!     Ok(tx.root(s))
//! }).unwrap();
//! heap.collect().unwrap(); // nothing else held the entry
//! let hit = m.transaction::<_, ()>(|tx| {
//!     let s = tx.get_root(&slot)?;
//!     let w = tx.load(s, |s| &s.entry)?.expect("the cell itself is held");
//!     Ok(tx.upgrade(w)?.is_some())
//! }).unwrap();
//! assert!(!hit, "the cache entry was collected");
//! ```
//!
//! A `Weak<T>` field by value does not compile (the error's note says to
//! use `Ref<Weak<T>>`):
//!
//! ```compile_fail
//! #[derive(tmgc::Trace)]
//! struct Obj { v: tmgc::Value<u64> }
//! #[derive(tmgc::Trace)]
//! struct Bad { w: tmgc::Weak<Obj> }
//! ```

use std::marker::PhantomData;

/// A weak cell referring to a `T` (or to nothing). Only ever seen behind a
/// [`Gc`](crate::Gc), a [`Ref`](crate::Ref) or a root: allocate it with
/// [`Tx::new_weak`](crate::Tx::new_weak). See the [module docs](self).
pub struct Weak<T: ?Sized> {
    /// Uninhabited: a `Weak<T>` value never exists outside the heap, whose
    /// cells have their own layout (one reference word).
    _never: std::convert::Infallible,
    _type: PhantomData<fn(&T) -> &T>,
}

impl<T: ?Sized> std::fmt::Debug for Weak<T> {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self._never {}
    }
}
