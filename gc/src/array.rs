//! Variable-length objects: a dynamic type whose payload ends in an array
//! of elements, its length chosen at allocation ([`Elems`],
//! [`DynTypeSpec::array`](crate::DynTypeSpec::array),
//! [`Tx::alloc_array`](crate::Tx::alloc_array)).
//!
//! # Layout
//! ```text
//! | header | fixed words (slots, tagged, data) | length | elements ... |
//! ```
//! The length word counts elements (bytes for [`Elems::Bytes`]); element
//! words follow it, 8 bytes each (bytes are packed 8 to a word, little
//! end first).
//!
//! # Invariants
//! - (AR1) The length is written before the object is published and never
//!   changes (HD1 of `header`): a marker, the verifier and `Tx::array_len` read it with
//!   no synchronisation beyond the publication.
//! - (AR2) Element words of [`Elems::Slots`] and [`Elems::Tagged`] arrays
//!   are reference words, as fixed slots and tagged words are (T2): written
//!   only through the transaction layer as `Write::Ptr`, so the commit
//!   barrier shades what a commit overwrites, and traced by tmgc's code
//!   only. Element words of the other kinds are plain data.
//! - (AR3) Marking splits an array of more than [`CHUNK_MIN`] reference
//!   elements into chunks: the first scan traces the fixed words and chunk
//!   0 and pushes a *continuation* for chunk 1, which traces its chunk and
//!   pushes the next, and so on. A continuation is a grey entry whose
//!   address carries the chunk number in bits 48-63 (every heap address is
//!   below 2^48: the allocation layer refuses mappings past it,
//!   `tmgc_alloc::ADDRESS_BITS`, so an entry with those bits clear is a
//!   whole object, and one with them set a continuation). So no unit of
//!   marking work exceeds one chunk, whatever the array's size: a mutator's
//!   assist stays within its budget and other markers can steal the rest.
//!   Continuations are pushed only for an object that is already marked,
//!   so each chunk is traced once per cycle (M1 holds per chunk).

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::collector::mark::{shade, Grey};
use crate::header::Header;
use crate::sync::{AtomicPtr, AtomicU64};
use crate::types::{DynShape, DYN_WORD};

/// What the elements of an array type hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Elems {
    /// References to dynamic objects or null ([`Tx::elem_slot`](crate::Tx::elem_slot)).
    Slots,
    /// Tagged values: an immediate or a reference ([`Tx::elem`](crate::Tx::elem)).
    Tagged,
    /// 64-bit data words, never references ([`Tx::elem_word`](crate::Tx::elem_word)).
    Words,
    /// Bytes, packed 8 to a word: strings and buffers ([`Tx::byte`](crate::Tx::byte),
    /// [`Tx::read_bytes`](crate::Tx::read_bytes)).
    Bytes,
}

impl Elems {
    /// Whether elements are reference words (AR2).
    pub fn holds_refs(self) -> bool {
        matches!(self, Elems::Slots | Elems::Tagged)
    }

    /// Payload words that `len` elements take, if that fits in memory.
    pub(crate) fn words(self, len: usize) -> Option<usize> {
        let words = match self {
            Elems::Bytes => len.div_ceil(DYN_WORD),
            _ => len,
        };
        (words <= isize::MAX as usize / DYN_WORD).then_some(words)
    }
}

/// Smallest chunk of reference elements that marking traces as one unit
/// (AR3): 4,096 elements, 32 KiB of words.
pub(crate) const CHUNK_MIN: usize = 4096;
/// Chunk numbers fit in the 16 high bits of a continuation.
const MAX_CHUNKS: usize = (1 << 16) - 1;
const CHUNK_SHIFT: u32 = tmgc_alloc::ADDRESS_BITS;
const _: () = assert!(CHUNK_SHIFT + 16 <= usize::BITS);

/// Elements per marking chunk of an array of `len` reference elements.
#[inline]
pub(crate) fn chunk_len(len: usize) -> usize {
    CHUNK_MIN.max(len.div_ceil(MAX_CHUNKS))
}

/// The payload of a dynamic object.
///
/// # Safety
/// `obj` is a live dynamic object (alignment 8: its payload follows the
/// header directly).
#[inline]
unsafe fn payload(obj: NonNull<Header>) -> NonNull<u8> {
    // SAFETY: forwarded; dynamic payloads start right after the header.
    unsafe { obj.cast::<u8>().add(crate::HEADER_BYTES) }
}

/// The length word of an array object.
///
/// # Safety
/// `obj` is a live dynamic object of an array type of shape `shape`.
#[inline]
pub(crate) unsafe fn len_word<'a>(obj: NonNull<Header>, shape: &DynShape) -> &'a AtomicU64 {
    // SAFETY: the length word follows the fixed words (layout above).
    unsafe { &*payload(obj).cast::<AtomicU64>().as_ptr().add(shape.fixed_words()) }
}

/// The length of an array object (AR1: immutable, so a Relaxed load).
///
/// # Safety
/// As for [`len_word`].
#[inline]
pub(crate) unsafe fn len(obj: NonNull<Header>, shape: &DynShape) -> usize {
    // SAFETY: forwarded.
    unsafe { len_word(obj, shape) }.load(Ordering::Relaxed) as usize
}

/// Element word `i` of an array object, as a word of type `W`.
///
/// # Safety
/// `obj` is a live array object of shape `shape`, `i` is below its element
/// word count, and `W` is the word type of its element kind
/// (`AtomicPtr<Header>` for reference elements, `AtomicU64` otherwise).
#[inline]
pub(crate) unsafe fn elem_word<'a, W>(obj: NonNull<Header>, shape: &DynShape, i: usize) -> &'a W {
    // SAFETY: element words follow the length word (layout above).
    unsafe { &*payload(obj).cast::<W>().as_ptr().add(shape.fixed_words() + 1 + i) }
}

/// Bytes of the whole object `obj` (header, fixed part, elements).
///
/// # Safety
/// `obj` is a live, published object (or one being built whose length word
/// is written).
#[inline]
pub(crate) unsafe fn object_bytes(obj: NonNull<Header>) -> usize {
    // SAFETY: a live object.
    let info = unsafe { obj.as_ref() }.type_info();
    match info.shape() {
        Some(shape @ DynShape { elems: Some(e), .. }) => {
            // SAFETY: a live array object (its type says so).
            let n = unsafe { len(obj, &shape) };
            info.object_size() + e.words(n).expect("a length that was allocated") * DYN_WORD
        }
        _ => info.object_size(),
    }
}

/// Trace the reference elements `[from, to)` of an array object.
///
/// # Safety
/// `obj` is a live, published array object with reference elements, traced
/// while marking runs (as `Tracer::marking` requires), and `to <= len`.
unsafe fn shade_elems(obj: NonNull<Header>, shape: &DynShape, from: usize, to: usize, stack: &mut Vec<Grey>) {
    for i in from..to {
        // SAFETY: i < len, a reference element word (AR2).
        let w: &AtomicPtr<Header> = unsafe { elem_word(obj, shape, i) };
        if let Some(r) = crate::tagged::decode_ref(w.load(Ordering::Acquire)) {
            // SAFETY: a reference element holds null, an immediate (decoded
            // away) or a live object (AR2, TG1, I2).
            unsafe { shade(r, stack) };
        }
    }
}

/// The continuation for chunk `c` of `obj` (AR3).
fn continuation(obj: NonNull<Header>, c: usize) -> Grey {
    debug_assert!(c > 0 && c <= MAX_CHUNKS);
    debug_assert_eq!(obj.addr().get() >> CHUNK_SHIFT, 0, "heap addresses are below 2^ADDRESS_BITS");
    Grey(obj.map_addr(|a| a | (c << CHUNK_SHIFT)))
}

/// A grey entry's object and chunk number (0 for a whole object).
#[inline]
pub(crate) fn split(g: Grey) -> (NonNull<Header>, usize) {
    let c = g.0.addr().get() >> CHUNK_SHIFT;
    if c == 0 {
        (g.0, 0)
    } else {
        // SAFETY: clearing the chunk bits of a continuation leaves the
        // object's (non-null) header address.
        (unsafe { NonNull::new_unchecked(g.0.as_ptr().map_addr(|a| a & ((1 << CHUNK_SHIFT) - 1))) }, c)
    }
}

/// Mark-time tracing of the elements of an array object from its first
/// scan: chunk 0, and a continuation for the rest if there is more (AR3).
/// Returns the element bytes traced.
///
/// # Safety
/// As for [`shade_elems`]; `obj` is marked (this is its first scan).
pub(crate) unsafe fn scan_first_chunk(obj: NonNull<Header>, shape: &DynShape, stack: &mut Vec<Grey>) -> usize {
    // SAFETY: a live array object.
    let n = unsafe { len(obj, shape) };
    let k = chunk_len(n);
    let to = if n > k {
        stack.push(continuation(obj, 1));
        k
    } else {
        n
    };
    // SAFETY: forwarded; `to <= n`.
    unsafe { shade_elems(obj, shape, 0, to, stack) };
    to * DYN_WORD
}

/// Trace chunk `c` of an array object (a continuation popped from the grey
/// set), pushing the next one first if there is more. Returns the bytes
/// traced.
///
/// # Safety
/// `obj` is a live, published array object with reference elements, marked
/// this cycle, traced while marking runs.
#[cold]
pub(crate) unsafe fn scan_chunk(obj: NonNull<Header>, c: usize, stack: &mut Vec<Grey>) -> usize {
    // SAFETY: a live object.
    let shape = unsafe { obj.as_ref() }.type_info().shape().expect("a continuation names an array");
    // SAFETY: a live array object.
    let n = unsafe { len(obj, &shape) };
    let k = chunk_len(n);
    let from = c * k;
    let to = n.min(from + k);
    if to < n {
        // `c + 1` fits: `n <= MAX_CHUNKS * k` by `chunk_len`.
        stack.push(continuation(obj, c + 1));
    }
    // SAFETY: forwarded; `from <= to <= n`.
    unsafe { shade_elems(obj, &shape, from, to, stack) };
    (to - from) * DYN_WORD
}

/// Visit every reference element of an array object, whole (the verifier
/// and other visitors).
///
/// # Safety
/// `obj` is a live array object of shape `shape` with reference elements.
pub(crate) unsafe fn visit_elems(obj: NonNull<Header>, shape: &DynShape, mut f: impl FnMut(Option<NonNull<Header>>)) {
    // SAFETY: a live array object.
    let n = unsafe { len(obj, shape) };
    for i in 0..n {
        // SAFETY: i < len, a reference element word (AR2).
        let w: &AtomicPtr<Header> = unsafe { elem_word(obj, shape, i) };
        f(crate::tagged::decode_ref(w.load(Ordering::Acquire)));
    }
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_length() {
        for n in [0, 1, CHUNK_MIN, CHUNK_MIN + 1, 10 * CHUNK_MIN + 7, MAX_CHUNKS * CHUNK_MIN + 1, 1 << 31] {
            let k = chunk_len(n);
            assert!(k >= CHUNK_MIN);
            assert!(n.div_ceil(k) <= MAX_CHUNKS + 1, "n={n}: chunk numbers fit in 16 bits");
        }
    }

    #[test]
    fn continuations_round_trip() {
        // Only the address matters: continuations are pointer bits.
        let h = Box::new(0u128);
        let obj = NonNull::from(&*h).cast::<Header>();
        assert_eq!(split(Grey(obj)), (obj, 0));
        let g = continuation(obj, 513);
        assert_eq!(split(g), (obj, 513));
        assert_eq!(split(continuation(obj, MAX_CHUNKS)), (obj, MAX_CHUNKS));
    }

    #[test]
    fn element_words() {
        assert_eq!(Elems::Bytes.words(0), Some(0));
        assert_eq!(Elems::Bytes.words(9), Some(2));
        assert_eq!(Elems::Words.words(3), Some(3));
        assert_eq!(Elems::Tagged.words(usize::MAX), None);
    }
}
