//! [`TVec`]: a growable vector of tagged values in the heap, as an
//! interpreter's list: a holder object (its storage array in slot 0, its
//! length in data word 0) over a [`Elems::Tagged`] array that is
//! reallocated, twice as large, and copied when full.
//!
//! Everything goes through the transaction: a push, a pop or a growth is
//! atomic with the rest of the transaction, and two transactions that push
//! to one vector conflict (on the holder) and run one after the other.
//!
//! Invariants: (TV1) elements at and past the length are null (a pop
//! clears its element, so the storage never keeps a popped value alive);
//! (TV2) the length never exceeds the storage's length.

use std::sync::OnceLock;

use crate::array::Elems;
use crate::error::{Abort, Conflict};
use crate::gcref::{Dyn, Gc};
use crate::tagged::Tagged;
use crate::tx::Tx;
use crate::types::{DynType, DynTypeSpec};
use tmgc_alloc::AllocError;

/// The holder and storage types, registered once per process.
fn types() -> (DynType, DynType) {
    static T: OnceLock<(DynType, DynType)> = OnceLock::new();
    *T.get_or_init(|| {
        let holder = DynType::register_any(DynTypeSpec::new("tmgc::TVec").ref_slots(1).data_words(1));
        let storage = DynType::register_any(DynTypeSpec::new("tmgc::TVec storage").array(Elems::Tagged));
        (holder.expect("a small fixed shape"), storage.expect("a small array shape"))
    })
}

/// A growable vector of [`Tagged`] values, valid for one transaction like
/// any [`Gc`]; keep it across transactions through its object
/// ([`TVec::as_gc`], a root, a slot, a tagged word) and get it back with
/// [`TVec::from_gc`].
///
/// ```
/// use tmgc::{Config, Heap, TVec, Tagged};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let total = m.transaction::<_, ()>(|tx| {
///     let v = TVec::new(tx, 0)?;
///     for i in 0..100 {
///         v.push(tx, Tagged::int(i).unwrap())?;
///     }
///     assert_eq!(v.len(tx)?, 100);
///     let mut total = 0;
///     while let Some(Tagged::Int(n)) = v.pop(tx)? {
///         total += n.get();
///     }
///     Ok(total)
/// });
/// assert_eq!(total.unwrap(), 4950);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TVec<'tx>(Gc<'tx, Dyn>);

impl<'tx> TVec<'tx> {
    /// A new, empty vector with room for `capacity` elements before it
    /// grows.
    pub fn new(tx: &mut Tx<'tx>, capacity: usize) -> Result<Self, AllocError> {
        let (holder, storage) = types();
        let h = tx.alloc_dyn(holder)?;
        let s = tx.alloc_array(storage, capacity)?;
        // Writes to objects this transaction allocated: in place, no
        // conflict possible.
        tx.set_slot(h, 0, Some(s)).expect("a new object's slot");
        Ok(TVec(h))
    }

    /// The object `g` as a vector, if it is one.
    pub fn from_gc(g: Gc<'tx, Dyn>) -> Option<Self> {
        std::ptr::eq(g.header().type_info(), types().0.info()).then_some(TVec(g))
    }

    /// The vector's object (to store it, root it or compare it).
    pub fn as_gc(self) -> Gc<'tx, Dyn> {
        self.0
    }

    fn storage(self, tx: &mut Tx<'tx>) -> Result<Gc<'tx, Dyn>, Conflict> {
        Ok(tx.slot(self.0, 0)?.expect("a vector's storage (TV2)"))
    }

    /// The number of elements.
    pub fn len(self, tx: &mut Tx<'tx>) -> Result<usize, Conflict> {
        Ok(tx.data(self.0, 0)? as usize)
    }

    /// Whether it has no element.
    pub fn is_empty(self, tx: &mut Tx<'tx>) -> Result<bool, Conflict> {
        Ok(self.len(tx)? == 0)
    }

    /// Elements it holds before it must grow.
    pub fn capacity(self, tx: &mut Tx<'tx>) -> Result<usize, Conflict> {
        let s = self.storage(tx)?;
        Ok(tx.array_len(s))
    }

    /// Element `i`, or `None` past the end.
    pub fn get(self, tx: &mut Tx<'tx>, i: usize) -> Result<Option<Tagged<'tx>>, Conflict> {
        if i >= self.len(tx)? {
            return Ok(None);
        }
        let s = self.storage(tx)?;
        tx.elem(s, i).map(Some)
    }

    /// Replace element `i`. Panics if `i` is past the end.
    pub fn set(self, tx: &mut Tx<'tx>, i: usize, value: Tagged<'tx>) -> Result<(), Conflict> {
        let n = self.len(tx)?;
        assert!(i < n, "index {i} out of range: the vector has {n} elements");
        let s = self.storage(tx)?;
        tx.set_elem(s, i, value)
    }

    /// Append `value`, growing the storage (twice as large, at least 4) if
    /// it is full.
    pub fn push<E>(self, tx: &mut Tx<'tx>, value: Tagged<'tx>) -> Result<(), Abort<E>> {
        let n = self.len(tx)?;
        let mut s = self.storage(tx)?;
        let cap = tx.array_len(s);
        if n == cap {
            let grown = tx.alloc_array(types().1, (2 * cap).max(4))?;
            for i in 0..n {
                let x = tx.elem(s, i)?;
                tx.set_elem(grown, i, x)?;
            }
            tx.set_slot(self.0, 0, Some(grown))?;
            s = grown;
        }
        tx.set_elem(s, n, value)?;
        tx.set_data(self.0, 0, n as u64 + 1)?;
        Ok(())
    }

    /// Remove and return the last element (its slot is cleared, TV1).
    pub fn pop(self, tx: &mut Tx<'tx>) -> Result<Option<Tagged<'tx>>, Conflict> {
        let n = self.len(tx)?;
        if n == 0 {
            return Ok(None);
        }
        let s = self.storage(tx)?;
        let x = tx.elem(s, n - 1)?;
        tx.set_elem(s, n - 1, Tagged::Null)?;
        tx.set_data(self.0, 0, n as u64 - 1)?;
        Ok(Some(x))
    }
}
