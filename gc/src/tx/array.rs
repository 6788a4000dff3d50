//! A transaction's element reads and writes of array objects (layout and
//! invariants in gc/src/array.rs). Each element access is a word access of
//! `access.rs`: the same snapshot rules, fast paths and logging as a field.
//! Reference elements are logged as `Write::Ptr` (AR2), so the commit
//! barrier covers them; bytes are read and written a word at a time.
//!
//! Misuse is a panic, as for slices: an index out of range, or an accessor
//! of another element kind than the array's.

use crate::array::{len, Elems};

use crate::error::Conflict;
use crate::gcref::{Dyn, Gc};
use crate::header::Header;
use crate::sync::{AtomicPtr, AtomicU64};
use crate::tagged::Tagged;
use crate::types::{DynShape, DynType, TypeInfo, DYN_WORD};
use tmgc_alloc::AllocError;

use super::{Tx, Write};

impl<'tx> Tx<'tx> {
    /// The shape of an array object, checked to hold `want` elements.
    #[track_caller]
    fn array_shape(obj: Gc<'tx, Dyn>, want: Option<Elems>) -> DynShape {
        let info = obj.header().type_info();
        // Not `unwrap_or_else`: a panic in a closure names the closure's
        // line, not the caller's (`#[track_caller]`).
        let Some(shape) = info.shape().filter(|s| s.elems.is_some()) else {
            panic!("a `{}` is not an array (its type has no `DynTypeSpec::array`)", info.name())
        };
        if let Some(want) = want {
            let have = shape.elems.expect("checked above");
            assert!(have == want, "a `{}` holds {have:?} elements, not {want:?}", info.name());
        }
        shape
    }

    /// The word of element `i` (of byte `8 * i` for byte arrays), checked
    /// against the array's length (`limit`: elements, or bytes). Inlined:
    /// one descriptor read, one length read, two compares.
    #[track_caller]
    #[inline]
    fn elem_at<W>(obj: Gc<'tx, Dyn>, want: Elems, i: usize, limit: usize) -> (&'static TypeInfo, &'tx W) {
        let info = obj.header().type_info();
        if info.elems() != Some(want) {
            Self::wrong_elems(obj, want);
        }
        // SAFETY: an array object of this type: its payload (right after
        // the header: alignment 8) holds the length word at `elem_base - 1`
        // and the elements from `elem_base` (AR1, layout of `array`).
        let base = unsafe { obj.ptr.cast::<u8>().add(crate::HEADER_BYTES).cast::<AtomicU64>().add(info.elem_base()) };
        // SAFETY: as above; the length is immutable (AR1).
        let n = unsafe { base.sub(1).as_ref() }.load(std::sync::atomic::Ordering::Relaxed) as usize;
        if limit >= n {
            Self::out_of_range(limit, n);
        }
        // SAFETY: word i is below the element word count (i <= limit / 8
        // for bytes, i == limit otherwise, and limit < n), and `W` is the
        // word type of `want`, the array's element kind (the callers pair
        // `Slots`/`Tagged` with `AtomicPtr`, the others with `AtomicU64`;
        // both are 8-byte atomics).
        (info, unsafe { base.add(i).cast::<W>().as_ref() })
    }

    #[track_caller]
    #[cold]
    #[inline(never)]
    fn wrong_elems(obj: Gc<'tx, Dyn>, want: Elems) -> ! {
        let shape = Self::array_shape(obj, None);
        panic!(
            "a `{}` holds {:?} elements, not {want:?}",
            obj.header().type_info().name(),
            shape.elems.expect("an array")
        );
    }

    #[track_caller]
    #[cold]
    #[inline(never)]
    fn out_of_range(i: usize, n: usize) -> ! {
        panic!("index {i} out of range: the array has {n}");
    }

    /// The length of an array object: its element count (bytes, for a byte
    /// array), fixed at allocation, so reading it needs no validation.
    /// Panics for an object that is not an array.
    #[track_caller]
    #[inline]
    pub fn array_len(&self, obj: Gc<'tx, Dyn>) -> usize {
        let shape = Self::array_shape(obj, None);
        // SAFETY: a live array object of this shape (AR1: immutable).
        unsafe { len(obj.ptr, &shape) }
    }

    /// Read element `i` of a [`Elems::Tagged`] array.
    #[track_caller]
    #[inline]
    pub fn elem(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Tagged<'tx>, Conflict> {
        let (info, w): (_, &AtomicPtr<Header>) = Self::elem_at(obj, Elems::Tagged, i, i);
        let v = self.read_dyn_of(info, obj, w)?;
        // SAFETY: read by this transaction from a tagged element of an
        // object live for 'tx (a reference in it is live, TG1, AR2).
        Ok(unsafe { Tagged::decode(v) })
    }

    /// Write element `i` of a [`Elems::Tagged`] array (a reference write:
    /// the commit barrier covers it, AR2).
    #[track_caller]
    #[inline]
    pub fn set_elem(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: Tagged<'tx>) -> Result<(), Conflict> {
        let (info, word) = Self::elem_at(obj, Elems::Tagged, i, i);
        self.write_dyn_of(info, obj, Write::Ptr { obj: obj.ptr, word, value: value.encode() })
    }

    /// Read element `i` of a [`Elems::Slots`] array.
    #[track_caller]
    #[inline]
    pub fn elem_slot(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<Option<Gc<'tx, Dyn>>, Conflict> {
        let (info, w): (_, &AtomicPtr<Header>) = Self::elem_at(obj, Elems::Slots, i, i);
        let v = self.read_dyn_of(info, obj, w)?;
        Ok(std::ptr::NonNull::new(v).map(|v| {
            // SAFETY: a slot element holds null or a live object (only
            // `set_elem_slot`, which takes a `Gc<Dyn>`, writes it).
            unsafe { Gc::from_header(v) }
        }))
    }

    /// Write element `i` of a [`Elems::Slots`] array.
    #[track_caller]
    #[inline]
    pub fn set_elem_slot(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: Option<Gc<'tx, Dyn>>) -> Result<(), Conflict> {
        let (info, word) = Self::elem_at(obj, Elems::Slots, i, i);
        self.write_dyn_of(
            info,
            obj,
            Write::Ptr { obj: obj.ptr, word, value: value.map_or(std::ptr::null_mut(), |g| g.ptr.as_ptr()) },
        )
    }

    /// Read element `i` of a [`Elems::Words`] array.
    #[track_caller]
    #[inline]
    pub fn elem_word(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<u64, Conflict> {
        let (info, w): (_, &AtomicU64) = Self::elem_at(obj, Elems::Words, i, i);
        self.read_dyn_of(info, obj, w)
    }

    /// Write element `i` of a [`Elems::Words`] array (plain data, never a
    /// reference).
    #[track_caller]
    #[inline]
    pub fn set_elem_word(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: u64) -> Result<(), Conflict> {
        let (info, word) = Self::elem_at(obj, Elems::Words, i, i);
        self.write_dyn_of(info, obj, Write::Word { obj: obj.ptr, word, value })
    }

    /// Read byte `i` of a [`Elems::Bytes`] array.
    #[track_caller]
    #[inline]
    pub fn byte(&mut self, obj: Gc<'tx, Dyn>, i: usize) -> Result<u8, Conflict> {
        let (info, w): (_, &AtomicU64) = Self::elem_at(obj, Elems::Bytes, i / DYN_WORD, i);
        Ok((self.read_dyn_of(info, obj, w)? >> (8 * (i % DYN_WORD))) as u8)
    }

    /// Write byte `i` of a [`Elems::Bytes`] array (its word is read, then
    /// written whole).
    #[track_caller]
    #[inline]
    pub fn set_byte(&mut self, obj: Gc<'tx, Dyn>, i: usize, value: u8) -> Result<(), Conflict> {
        let (info, word): (_, &AtomicU64) = Self::elem_at(obj, Elems::Bytes, i / DYN_WORD, i);
        let old = self.read_dyn_of(info, obj, word)?;
        let shift = 8 * (i % DYN_WORD);
        let new = (old & !(0xff << shift)) | (u64::from(value) << shift);
        self.write_dyn_of(info, obj, Write::Word { obj: obj.ptr, word, value: new })
    }

    /// Copy bytes `start..start + out.len()` of a [`Elems::Bytes`] array
    /// into `out`, a word at a time.
    #[track_caller]
    pub fn read_bytes(&mut self, obj: Gc<'tx, Dyn>, start: usize, out: &mut [u8]) -> Result<(), Conflict> {
        if out.is_empty() {
            return Ok(());
        }
        let end = start.checked_add(out.len()).expect("byte range overflows");
        let mut i = start;
        while i < end {
            let (info, w): (_, &AtomicU64) = Self::elem_at(obj, Elems::Bytes, i / DYN_WORD, end - 1);
            let bytes = self.read_dyn_of(info, obj, w)?.to_le_bytes();
            let from = i % DYN_WORD;
            let n = (DYN_WORD - from).min(end - i);
            out[i - start..i - start + n].copy_from_slice(&bytes[from..from + n]);
            i += n;
        }
        Ok(())
    }

    /// Write `src` over bytes `start..start + src.len()` of a
    /// [`Elems::Bytes`] array, a word at a time (a word only partly
    /// covered is read first).
    #[track_caller]
    pub fn write_bytes(&mut self, obj: Gc<'tx, Dyn>, start: usize, src: &[u8]) -> Result<(), Conflict> {
        if src.is_empty() {
            return Ok(());
        }
        let end = start.checked_add(src.len()).expect("byte range overflows");
        let mut i = start;
        while i < end {
            let (info, word): (_, &AtomicU64) = Self::elem_at(obj, Elems::Bytes, i / DYN_WORD, end - 1);
            let from = i % DYN_WORD;
            let n = (DYN_WORD - from).min(end - i);
            let mut bytes =
                if n == DYN_WORD { [0; DYN_WORD] } else { self.read_dyn_of(info, obj, word)?.to_le_bytes() };
            bytes[from..from + n].copy_from_slice(&src[i - start..i - start + n]);
            self.write_dyn_of(info, obj, Write::Word { obj: obj.ptr, word, value: u64::from_le_bytes(bytes) })?;
            i += n;
        }
        Ok(())
    }

    /// Allocate a [`Elems::Bytes`] array holding `bytes` (a string, say):
    /// [`Tx::alloc_with`] given [`DynInit::bytes`](super::DynInit::bytes).
    ///
    /// # Panics
    ///
    /// Before allocating, naming the caller's line, if `ty` is not an
    /// array of bytes.
    ///
    /// ```
    /// use tmgc::{Config, DynType, DynTypeSpec, Elems, Heap};
    ///
    /// let string = DynType::register(DynTypeSpec::new("String").array(Elems::Bytes)).unwrap();
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let back = m.transaction::<_, ()>(|tx| {
    ///     let s = tx.alloc_bytes(string, "hello, heap".as_bytes())?;
    ///     tx.set_byte(s, 0, b'H')?;
    ///     let mut out = vec![0; tx.array_len(s)];
    ///     tx.read_bytes(s, 0, &mut out)?;
    ///     Ok(String::from_utf8(out).unwrap())
    /// });
    /// assert_eq!(back.unwrap(), "Hello, heap");
    /// ```
    #[track_caller]
    pub fn alloc_bytes(&mut self, ty: DynType, bytes: &[u8]) -> Result<Gc<'tx, Dyn>, AllocError> {
        self.alloc_with(ty, super::DynInit::new().bytes(bytes))
    }
}
