//! [`RefArray`]: a fixed-length array of references to objects of one
//! Rust type, for the variable-length parts of Rust-typed structures (a
//! hash table's buckets, a node's children) that a struct cannot hold: a
//! `Vec<Ref<T>>` field is traced, but no transaction can write it.
//!
//! It is an array object of a dynamic type ([`Elems::Slots`]) that tmgc
//! registers once for each element type `T`; no new unsafe code: elements
//! go in through [`Gc::into_dyn`] and come out through [`Gc::downcast`].
//!
//! Invariants:
//! - (RA1) Each `T` has its own array type (a process-wide table by
//!   `TypeId`, with names made unique by a counter, read through a
//!   per-thread copy), so
//!   [`RefArray::from_gc`] recognises an array of `T`s and nothing else.
//! - (RA2) Only [`RefArray::set`], which takes a `Gc<T>`, writes an element
//!   through this type. An element written another way (with
//!   [`Tx::set_elem_slot`] on [`RefArray::as_gc`]) is checked when read:
//!   [`RefArray::get`] panics naming it, never returns another type.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use crate::array::Elems;
use crate::error::Conflict;
use crate::gcref::{Dyn, Gc};
use crate::tx::Tx;
use crate::types::{DynType, DynTypeSpec, GcType};
use tmgc_alloc::AllocError;

thread_local! {
    /// This thread's copy of the array types it has used: `new` and
    /// `from_gc` look here first, with no lock (a program has few types).
    static SEEN: RefCell<Vec<(TypeId, DynType)>> = const { RefCell::new(Vec::new()) };
}

/// The array type of element type `T`, registered at its first use (RA1).
fn array_type<T: GcType>() -> DynType {
    let id = TypeId::of::<T>();
    if let Some(t) = SEEN.with_borrow(|seen| seen.iter().find(|(k, _)| *k == id).map(|&(_, t)| t)) {
        return t;
    }
    static TYPES: OnceLock<Mutex<HashMap<TypeId, DynType>>> = OnceLock::new();
    let t = {
        let mut types = TYPES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        let n = types.len();
        *types.entry(id).or_insert_with(|| {
            let name = format!("tmgc::RefArray<{}>#{n}", std::any::type_name::<T>());
            DynType::register_any(DynTypeSpec::new(name).array(Elems::Slots)).expect("a one-word array shape")
        })
    };
    SEEN.with_borrow_mut(|seen| seen.push((id, t)));
    t
}

/// A fixed-length array of `Option<Gc<T>>`, all null when made, valid for
/// one transaction like any [`Gc`]. Keep it across transactions through
/// its object ([`RefArray::as_gc`]: a root, a slot, a tagged word, a
/// `Ref<Dyn>` field) and get it back with [`RefArray::from_gc`].
///
/// Reads and writes of its elements are transactional, like a field's;
/// two transactions that write elements of one array conflict (on the
/// array) and run one after the other.
///
/// ```
/// use tmgc::{Config, Heap, Ref, RefArray, Trace, Value};
///
/// #[derive(Trace)]
/// struct Entry { key: Value<u64>, next: Ref<Entry> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// // A table of 8 buckets, kept as a root of this thread.
/// let table = m.transaction::<_, ()>(|tx| {
///     let buckets = RefArray::<Entry>::new(tx, 8)?;
///     Ok(tx.root(buckets.as_gc()))
/// }).unwrap();
/// m.transaction::<_, ()>(|tx| {
///     let buckets = RefArray::<Entry>::from_gc(tx.get_root(&table)?).expect("buckets");
///     for key in [3u64, 11, 5] {
///         let b = (key % 8) as usize;
///         let head = buckets.get(tx, b)?;
///         let e = tx.alloc(Entry { key: Value::new(key), next: Ref::null() })?;
///         tx.store(e, |e| &e.next, head)?;
///         buckets.set(tx, b, Some(e))?;
///     }
///     Ok(())
/// }).unwrap();
/// heap.collect().unwrap();
/// let keys = m.transaction::<_, ()>(|tx| {
///     let buckets = RefArray::<Entry>::from_gc(tx.get_root(&table)?).expect("buckets");
///     let mut keys = Vec::new();
///     let mut e = buckets.get(tx, 3)?;
///     while let Some(x) = e {
///         keys.push(tx.get(x, |x| &x.key)?);
///         e = tx.load(x, |x| &x.next)?;
///     }
///     Ok(keys)
/// }).unwrap();
/// assert_eq!(keys, [11, 3]);
/// ```
pub struct RefArray<'tx, T: GcType> {
    arr: Gc<'tx, Dyn>,
    _elems: PhantomData<fn() -> T>,
}

impl<'tx, T: GcType> RefArray<'tx, T> {
    /// A new array of `len` null elements. Fails as an allocation does (the
    /// heap limit; a length too large for any object).
    pub fn new(tx: &mut Tx<'tx>, len: usize) -> Result<Self, AllocError> {
        let arr = tx.alloc_array(array_type::<T>(), len)?;
        Ok(RefArray { arr, _elems: PhantomData })
    }

    /// `g` as an array of `T`s, if it is one (made by [`RefArray::new`]
    /// for this `T`, RA1).
    pub fn from_gc(g: Gc<'tx, Dyn>) -> Option<Self> {
        std::ptr::eq(g.header().type_info(), array_type::<T>().info())
            .then_some(RefArray { arr: g, _elems: PhantomData })
    }

    /// The array's object, to keep in a root, a slot or a field.
    pub fn as_gc(self) -> Gc<'tx, Dyn> {
        self.arr
    }

    /// The number of elements, fixed when the array was made (read with no
    /// validation: it never changes).
    pub fn len(self, tx: &Tx<'tx>) -> usize {
        tx.array_len(self.arr)
    }

    /// Whether the array has no elements.
    pub fn is_empty(self, tx: &Tx<'tx>) -> bool {
        self.len(tx) == 0
    }

    /// Element `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not below the length, or if the element is not a `T`
    /// (written past this type, on [`RefArray::as_gc`], RA2). The panic
    /// names the caller's line.
    #[track_caller]
    pub fn get(self, tx: &mut Tx<'tx>, i: usize) -> Result<Option<Gc<'tx, T>>, Conflict> {
        // No closure: a panic in one would name its line, not the caller's.
        let Some(g) = tx.elem_slot(self.arr, i)? else { return Ok(None) };
        let Some(t) = g.downcast::<T>() else {
            panic!(
                "element {i} of a `RefArray<{}>` is a `{}` (written past `RefArray::set`)",
                std::any::type_name::<T>(),
                g.header().type_info().name()
            )
        };
        Ok(Some(t))
    }

    /// Set element `i` (a reference write: the commit barrier records it as
    /// it does a `Ref` field's).
    ///
    /// # Panics
    ///
    /// If `i` is not below the length; the panic names the caller's line.
    #[track_caller]
    pub fn set(self, tx: &mut Tx<'tx>, i: usize, value: Option<Gc<'tx, T>>) -> Result<(), Conflict> {
        tx.set_elem_slot(self.arr, i, value.map(Gc::into_dyn))
    }
}

impl<T: GcType> Clone for RefArray<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: GcType> Copy for RefArray<'_, T> {}

impl<T: GcType> PartialEq for RefArray<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.arr == other.arr
    }
}

impl<T: GcType> Eq for RefArray<'_, T> {}

impl<T: GcType> fmt::Debug for RefArray<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefArray<{}>({:p})", std::any::type_name::<T>(), self.arr.as_ptr())
    }
}
