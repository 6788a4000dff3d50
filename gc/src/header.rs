//! The object header: two words in front of every object's payload.
//!
//! ```text
//! | type word: &'static TypeInfo | ObjFlags (low 6 bits) | version-lock word | payload ...
//! ```
//!
//! Invariants:
//! - (HD1) The type word is written before the object is published. After
//!   that only two bits change: `NEW`, cleared by the owning transaction
//!   before the publishing Release store (a plain store: nobody else
//!   writes the type word of an unpublished object; an object its
//!   transaction never publishes keeps it until its commit rewinds it: CM2
//!   and CM3 of `tx/commit.rs`), and `LOGGED`
//!   (generational mode), by atomic read-modify-writes that keep every
//!   other bit. The type, shape and length of a published object never
//!   change, so a marker may read them at any time.
//! - (HD2) The version-lock word is changed only by CAS (a commit taking the
//!   lock) or by the lock holder (release with a new version, or restoring
//!   the old word when the commit backs off). See [`crate::flags::vlock`].

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicPtr, AtomicU64};

use crate::flags::{ObjFlags, FLAG_MASK};
use crate::types::TypeInfo;

/// The header in front of every heap object.
#[repr(C, align(16))]
pub struct Header {
    ty: AtomicPtr<TypeInfo>,
    vlock: AtomicU64,
}

/// The type's name and the flags; the version-lock word is left out (a
/// transaction's business, and racy to read).
impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("type", &self.type_info().name())
            .field("flags", &self.flags())
            .finish_non_exhaustive()
    }
}

/// Bytes of the header: 16, one granule (two under `--cfg tmgc_granule8`).
pub const HEADER_BYTES: usize = std::mem::size_of::<Header>();
const _: () = assert!(HEADER_BYTES == 16);
const _: () = assert!(std::mem::align_of::<TypeInfo>() > FLAG_MASK);

impl Header {
    /// A header for an object of type `ty` with `flags`, version 0.
    pub fn new(ty: &'static TypeInfo, flags: ObjFlags) -> Header {
        let p = (ty as *const TypeInfo).cast_mut().map_addr(|a| a | (flags.bits() & FLAG_MASK));
        Header { ty: AtomicPtr::new(p), vlock: AtomicU64::new(0) }
    }

    /// The object's type.
    #[inline]
    pub fn type_info(&self) -> &'static TypeInfo {
        let p = self.ty.load(Ordering::Acquire).map_addr(|a| a & !FLAG_MASK);
        // SAFETY: (HD1) the type word always holds a `&'static TypeInfo`
        // with flag bits in its alignment padding, which we just masked off.
        unsafe { &*p }
    }

    /// The object's flags.
    #[inline]
    pub fn flags(&self) -> ObjFlags {
        ObjFlags::from_bits_truncate(self.ty.load(Ordering::Acquire).addr() & FLAG_MASK)
    }

    /// Clear `NEW`: the owning transaction publishes the object (HD1).
    pub(crate) fn clear_new(&self) {
        let p = self.ty.load(Ordering::Relaxed).map_addr(|a| a & !ObjFlags::NEW.bits());
        self.ty.store(p, Ordering::Release);
    }

    /// Set `LOGGED` unless it is set (HD1); whether this call set it. The
    /// remembered set's dedupe test (RS2 of `collector/remset.rs`).
    #[inline]
    pub(crate) fn try_log(&self) -> bool {
        let bit = ObjFlags::LOGGED.bits();
        self.update_type_word(|a| (a & bit == 0).then_some(a | bit))
    }

    /// Clear `LOGGED` (HD1): the collector took this object's remembered
    /// set entry.
    pub(crate) fn clear_logged(&self) {
        let bit = ObjFlags::LOGGED.bits();
        self.update_type_word(|a| (a & bit != 0).then_some(a & !bit));
    }

    /// Change the type word's address bits with `f` by compare-and-swap
    /// (HD1: `LOGGED` changes only by read-modify-write; `AtomicPtr`'s
    /// `fetch_or` is newer than this crate's MSRV). Returns whether `f`
    /// asked for a change and it was made; `None` from `f` changes nothing.
    fn update_type_word(&self, f: impl Fn(usize) -> Option<usize>) -> bool {
        let mut cur = self.ty.load(Ordering::Acquire);
        loop {
            let Some(next) = f(cur.addr()) else { return false };
            match self.ty.compare_exchange_weak(cur, cur.with_addr(next), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    /// The version-lock word (HD2); only the transaction layer changes it.
    #[inline]
    pub(crate) fn vlock(&self) -> &AtomicU64 {
        &self.vlock
    }

    /// The current value of the version-lock word (see [`crate::flags::vlock`]).
    pub fn version_lock(&self) -> u64 {
        self.vlock.load(Ordering::Acquire)
    }

    /// The payload of the object whose header is at `this`.
    ///
    /// # Safety
    /// `this` must point at the header of a live object (allocated as header
    /// plus payload, not yet freed); otherwise the type read here is garbage
    /// and the returned pointer points anywhere.
    #[inline]
    pub(crate) unsafe fn payload(this: NonNull<Header>) -> NonNull<u8> {
        // SAFETY: the caller guarantees a live header.
        let info = unsafe { this.as_ref() }.type_info();
        // SAFETY: the object's own type.
        unsafe { Self::payload_of(this, info) }
    }

    /// The payload of the object of type `info` whose header is at `this`,
    /// without reading the header: for code that knows the type (the
    /// allocation path, where `info` is a constant and the header was
    /// just written, so reading it back would wait on that store).
    ///
    /// # Safety
    /// `this` is an object of type `info`, allocated as header plus
    /// payload, not yet freed.
    #[inline(always)]
    pub(crate) unsafe fn payload_of(this: NonNull<Header>, info: &TypeInfo) -> NonNull<u8> {
        // SAFETY: objects are allocated as header + payload, so the payload
        // offset of their type stays inside the object.
        unsafe { this.cast::<u8>().add(info.payload_offset()) }
    }
}
