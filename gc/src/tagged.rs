//! Tagged words: one word of a dynamic object that holds either an
//! immediate (a small integer, or an interpreter's own small constant) or a
//! reference, as an interpreter's values do.
//!
//! # Encoding (tmgc owns it)
//!
//! A tagged word is a pointer-sized atomic word, read with one Acquire load
//! (so a marker never sees a torn tag and payload):
//!
//! | low 3 bits | meaning |
//! |---|---|
//! | `000`, word 0 | [`Tagged::Null`] (a zeroed payload reads as null) |
//! | `000`, word != 0 | [`Tagged::Ref`]: the header address of an object (objects are at least 8-byte aligned) |
//! | `001` | [`Tagged::Int`]: a 61-bit signed integer in bits 3 to 63 |
//! | `010` | [`Tagged::Imm`]: its kind (1 to 14) in bits 3 to 6, a 57-bit payload in bits 7 to 63 |
//! | `011` to `111` | never written |
//!
//! Three tag bits, not four, so that the encoding holds when objects are
//! only 8-byte aligned (docs/HEADER.md, step S1 of the one-word header).
//!
//! # Why this is sound (the invariants the collector relies on)
//!
//! - **(TG1) A reference in a tagged word came from a `Gc`.** The only
//!   writers are [`Tx::set_tagged`](crate::Tx::set_tagged) (and the array
//!   and `TVec` setters) and, for a Rust-typed object's
//!   [`TaggedField`](crate::TaggedField), [`Tx::store_tagged`](crate::Tx::store_tagged),
//!   which take a [`Tagged`] (a field is made holding no reference): a reference can only be built from a `Gc<'tx, Dyn>` the
//!   transaction holds, and an immediate can only be built by the
//!   constructors here, which never produce low bits `000`. No raw `u64`
//!   store reaches a tagged word, so no integer (an old address, say) can
//!   decode as a reference and revive a freed object.
//! - **(TG2) Tagged words are reference words.** They are logged as
//!   `Write::Ptr`, so the commit barrier covers them as it covers reference
//!   slots: barrier (a) decodes the overwritten value ([`decode_ref`]) and
//!   shades it if it is a reference, skipping immediates.
//! - **(TG3) tmgc traces them itself.** The marker and the verifier decode
//!   every tagged word of a dynamic object with [`decode_ref`], and a
//!   `TaggedField`'s `Trace` impl (tmgc's) does the same; no user code
//!   decides which words are references.

use std::ptr::NonNull;

use crate::gcref::{Dyn, Gc};
use crate::header::Header;

/// Low bits of a tagged word that mark an immediate.
const TAG_BITS: u32 = 3;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
const INT_TAG: usize = 0b001;
const IMM_TAG: usize = 0b010;
/// Bits of an immediate's kind, above its tag.
const KIND_BITS: u32 = 4;
/// Where an immediate's payload starts.
const IMM_SHIFT: u32 = TAG_BITS + KIND_BITS;

/// A value read from or written to a tagged word of a dynamic object
/// ([`Tx::tagged`](crate::Tx::tagged), [`Tx::set_tagged`](crate::Tx::set_tagged)).
///
/// ```
/// use tmgc::{Config, DynType, DynTypeSpec, Heap, Tagged};
///
/// let cons = DynType::register(DynTypeSpec::new("Cons").tagged_words(2)).unwrap();
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let sum = m.transaction::<_, ()>(|tx| {
///     let tail = tx.alloc_dyn(cons)?;
///     tx.set_tagged(tail, 0, Tagged::int(2).unwrap())?;
///     let head = tx.alloc_dyn(cons)?;
///     tx.set_tagged(head, 0, Tagged::int(1).unwrap())?;
///     tx.set_tagged(head, 1, Tagged::Ref(tail))?;
///     let mut sum = 0;
///     let mut cell = Some(head);
///     while let Some(c) = cell {
///         if let Tagged::Int(n) = tx.tagged(c, 0)? {
///             sum += n.get();
///         }
///         cell = match tx.tagged(c, 1)? {
///             Tagged::Ref(next) => Some(next),
///             _ => None,
///         };
///     }
///     Ok(sum)
/// });
/// assert_eq!(sum.unwrap(), 3);
/// ```
///
/// A `Tagged` lives in one transaction: its lifetime is the transaction's
/// brand, which no other lifetime can stand for (so a reference cannot
/// leave its transaction). A constant therefore cannot be a
/// `Tagged<'static>`: keep constants as what they are outside the heap, an
/// [`Imm`] (a `const`) or an `i64`, and make the `Tagged` inside the body
/// (`Tagged::Imm(NIL)`, `Tagged::int(n)`), as [`Tagged::as_imm`] and
/// [`Tagged::as_int`] take them back out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tagged<'tx> {
    /// No value (a fresh object's tagged words are null).
    Null,
    /// A small integer.
    Int(SmallInt),
    /// An interpreter-defined immediate (booleans, characters, ...).
    Imm(Imm),
    /// A reference to an object, valid in this transaction. A typed
    /// handle becomes one with [`Gc::into_dyn`] (`Tagged::Ref(node.into_dyn())`).
    Ref(Gc<'tx, Dyn>),
}

impl<'tx> Tagged<'tx> {
    /// `Tagged::Int(v)` if `v` fits in 61 bits.
    #[inline]
    pub fn int(v: i64) -> Option<Tagged<'tx>> {
        SmallInt::new(v).map(Tagged::Int)
    }

    /// The integer, if this is one: a value that may leave the transaction
    /// (a `Tagged` may not, as it can hold a reference).
    ///
    /// ```
    /// use tmgc::Tagged;
    /// assert_eq!(Tagged::int(-7).unwrap().as_int(), Some(-7));
    /// assert_eq!(Tagged::Null.as_int(), None);
    /// ```
    #[inline]
    pub fn as_int(self) -> Option<i64> {
        match self {
            Tagged::Int(i) => Some(i.get()),
            _ => None,
        }
    }

    /// The immediate, if this is one (it may leave the transaction too).
    #[inline]
    pub fn as_imm(self) -> Option<Imm> {
        match self {
            Tagged::Imm(m) => Some(m),
            _ => None,
        }
    }

    /// The reference, if this is one.
    #[inline]
    pub fn as_gc(self) -> Option<Gc<'tx, Dyn>> {
        match self {
            Tagged::Ref(g) => Some(g),
            _ => None,
        }
    }

    /// The word that stores this value.
    #[inline]
    pub(crate) fn encode(self) -> *mut Header {
        match self {
            Tagged::Null => std::ptr::null_mut(),
            Tagged::Ref(g) => g.ptr.as_ptr(),
            Tagged::Int(i) => immediate(((i.0 as usize) << TAG_BITS) | INT_TAG),
            Tagged::Imm(m) => {
                immediate(((m.payload as usize) << IMM_SHIFT) | (usize::from(m.kind) << TAG_BITS) | IMM_TAG)
            }
        }
    }

    /// The value a tagged word holds.
    ///
    /// # Safety
    /// `w` was read from a tagged word of an object live for `'tx`, by a
    /// transaction valid for `'tx` (a reference it holds is then a live
    /// dynamic object, TG1).
    #[inline]
    pub(crate) unsafe fn decode(w: *mut Header) -> Tagged<'tx> {
        if let Some(p) = decode_ref(w) {
            // SAFETY: a reference (TG1), live for 'tx (the caller).
            return Tagged::Ref(unsafe { Gc::from_header(p) });
        }
        let bits = w.addr();
        match bits & TAG_MASK {
            0 => Tagged::Null,
            INT_TAG => Tagged::Int(SmallInt((bits as i64) >> TAG_BITS)),
            // IMM_TAG: `encode` writes no other tag (TG1). Only memory no
            // transaction may read gets here with another one (freed cells
            // are poisoned with 0xDB in debug builds, tag 011).
            tag => {
                debug_assert_eq!(tag, IMM_TAG, "a tagged word tmgc never wrote: {bits:#x}");
                Tagged::Imm(Imm {
                    kind: ((bits >> TAG_BITS) & ((1 << KIND_BITS) - 1)) as u8,
                    payload: (bits >> IMM_SHIFT) as u64,
                })
            }
        }
    }
}

/// An immediate's word: an integer with no provenance (never dereferenced).
#[inline]
fn immediate(bits: usize) -> *mut Header {
    debug_assert_ne!(bits & TAG_MASK, 0, "an immediate never looks like a reference");
    std::ptr::without_provenance_mut(bits)
}

/// The reference a tagged word (or a reference slot) holds, if any: the
/// one decoding the marker, the verifier and the commit barrier use (TG2,
/// TG3). A reference slot never holds an immediate, so this is exact for
/// both kinds of word.
#[inline]
pub(crate) fn decode_ref(w: *mut Header) -> Option<NonNull<Header>> {
    if w.addr() & TAG_MASK != 0 {
        return None;
    }
    NonNull::new(w)
}

/// A signed integer of 61 bits, the payload of [`Tagged::Int`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmallInt(i64);

impl SmallInt {
    /// The smallest value: -2^60.
    pub const MIN: i64 = -(1 << 60);
    /// The largest value: 2^60 - 1.
    pub const MAX: i64 = (1 << 60) - 1;

    /// `v`, if it lies in `MIN..=MAX` (an interpreter boxes larger ones).
    #[inline]
    pub const fn new(v: i64) -> Option<SmallInt> {
        if v >= Self::MIN && v <= Self::MAX {
            Some(SmallInt(v))
        } else {
            None
        }
    }

    /// The integer.
    #[inline]
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// An interpreter-defined immediate: a kind (1 to 14) and a 57-bit
/// payload, for values that need no object (`#t`, `#f`, characters, the
/// empty list, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Imm {
    kind: u8,
    payload: u64,
}

impl Imm {
    /// The largest payload: 2^57 - 1.
    pub const MAX_PAYLOAD: u64 = (1 << 57) - 1;

    /// An immediate of `kind` (1 to 14) holding `payload` (at most
    /// [`Imm::MAX_PAYLOAD`]); `None` otherwise.
    pub const fn new(kind: u8, payload: u64) -> Option<Imm> {
        if kind >= 1 && kind <= 14 && payload <= Self::MAX_PAYLOAD {
            Some(Imm { kind, payload })
        } else {
            None
        }
    }

    /// Its kind, 1 to 14.
    pub const fn kind(self) -> u8 {
        self.kind
    }

    /// Its payload.
    pub const fn payload(self) -> u64 {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_immediate_decodes_as_a_reference() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for v in [SmallInt::MIN, SmallInt::MAX, 0, -1, 1] {
            let w = Tagged::int(v).unwrap().encode();
            assert_eq!(decode_ref(w), None);
            // SAFETY: an immediate; no reference to be live.
            assert_eq!(unsafe { Tagged::decode(w) }, Tagged::int(v).unwrap());
        }
        for _ in 0..if cfg!(miri) { 500 } else { 100_000 } {
            let v = (next() as i64) >> 3;
            let w = Tagged::int(v).unwrap().encode();
            assert_eq!(decode_ref(w), None, "int {v}");
            // SAFETY: as above.
            assert_eq!(unsafe { Tagged::decode(w) }, Tagged::int(v).unwrap());
            let kind = (next() % 14 + 1) as u8;
            let m = Imm::new(kind, next() >> 7).unwrap();
            let w = Tagged::Imm(m).encode();
            assert_eq!(decode_ref(w), None, "imm {m:?}");
            // SAFETY: as above.
            assert_eq!(unsafe { Tagged::decode(w) }, Tagged::Imm(m));
        }
        assert_eq!(Tagged::int(SmallInt::MAX + 1), None);
        assert_eq!(Tagged::int(SmallInt::MIN - 1), None);
        assert_eq!(Imm::new(0, 1), None);
        assert_eq!(Imm::new(15, 1), None);
        assert_eq!(Imm::new(1, Imm::MAX_PAYLOAD + 1), None);
        assert_eq!(decode_ref(Tagged::Null.encode()), None);
        for (kind, payload) in [(1, 0), (14, Imm::MAX_PAYLOAD), (7, 1 << 56)] {
            let m = Imm::new(kind, payload).unwrap();
            // SAFETY: an immediate.
            assert_eq!(unsafe { Tagged::decode(Tagged::Imm(m).encode()) }, Tagged::Imm(m));
        }
        // An object only 8-byte aligned (a one-word header, docs/HEADER.md)
        // still decodes as a reference.
        let eight = std::ptr::without_provenance_mut::<Header>(0x7f00_0000_1008);
        assert_eq!(decode_ref(eight).map(NonNull::as_ptr), Some(eight));
    }
}
