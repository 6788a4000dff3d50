//! The object header: what the collector and the transactions know of
//! every object besides its payload. In no word of the object (V4 of
//! docs/HEADER.md): a [`Header`] is a zero-sized type at the object's
//! address, and its two words live in the side tables of the object's
//! chunk (`tmgc_alloc::side`, SD1-SD4):
//!
//! ```text
//! side entry (32 bits):  | type code (TC1 of type_code.rs) | ObjFlags (low 7 bits) |
//! side version lock:     | version | tag | OWNED | LOCKED |   (flags::vlock)
//! object:                | payload ...
//! ```
//!
//! Under loom the same two words are the object's first 16 bytes (loom's
//! atomics would not fit a chunk's tables); every protocol on them is the
//! same code, which the loom models check. There a fresh object's
//! version-lock word is not zero but the hardest free word a reused
//! granule can hold (its allocator's own tag, a version past its read
//! version: `Tx::alloc_raw`), so the models meet the unstamped words of
//! HD2 and SP1.
//!
//! Invariants:
//! - (HD1) The entry is written when the object is allocated, before it
//!   is published. After that only two bits change: `NEW`, cleared by the
//!   owning transaction before the publishing Release store (a plain
//!   store: nobody else writes the entry of an unpublished object; an
//!   object its transaction never publishes keeps it until its commit
//!   rewinds it: CM2 and CM3 of `tx/commit.rs`), and `LOGGED`
//!   (generational mode), by atomic read-modify-writes that keep every
//!   other bit. The type, shape and length of a published object never
//!   change, so a marker may read them at any time. A dead object's entry
//!   keeps its last value (SD3) and is never read: nothing reaches a dead
//!   object, and the sweeper finds objects by their start bits.
//! - (HD2) The version-lock word is changed only by CAS (a commit taking the
//!   lock), by the lock holder (release with a new version, or restoring
//!   the old word when the commit backs off), by an owner's release (OW4
//!   of `owned.rs`), or by the publishing commit's stamp (STAMP of
//!   `tx/commit.rs`), which gives a new object its first word. Allocation
//!   does not write it (that would cost 8 bytes of resident memory an
//!   object, SD3), so until the stamp the slot holds what the granule's
//!   last object left: a free word (OW6: nothing owned is swept; a locked
//!   object is in a running commit's write set, so live), which nobody
//!   reads, as nobody else can reach a `NEW` object and its own
//!   transaction reads and writes it in place. Every publication by a
//!   commit that is not solo stamps (CM2, NL2; the quiet solo commit
//!   publishes nothing, SQ1). See [`crate::flags::vlock`].
//! - (SP1) *A solo publication does not stamp.* A solo commit writes back
//!   without touching any version-lock word (S2 of `solo.rs`), and leaves
//!   its new objects' words as it finds them too: 0, or the free word a
//!   dead object left (HD2), whose version may be any and whose tag any
//!   mutator's. That word is as good as a stamp: no transaction overlaps a
//!   solo one (S2), so every later transaction began after the publication
//!   and reads the object's final contents, whatever the word says; a word
//!   it takes for its own (its tag) or for a later commit's (a version
//!   above its read version: it extends its snapshot, harmlessly) names no
//!   value it could read inconsistently, and validation compares words
//!   exactly, which an untouched word passes. The first concurrent commit
//!   to write the object locks the word it finds and releases it with a
//!   larger version (`wv` exceeds every version it read), as for any
//!   object. So a single-threaded program never touches the version-lock
//!   table: binary-trees' long-lived tree would cost 32 MiB more with
//!   stamps.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicU32, AtomicU64};

use crate::flags::{ObjFlags, FLAG_MASK};
use crate::types::TypeInfo;

/// An object's header: zero-sized, at the object's address; its words are
/// in the side tables of the object's chunk (module docs).
#[cfg(not(tmgc_loom))]
#[repr(C, align(16))]
pub struct Header {
    /// No bytes; an `UnsafeCell` all the same, so that a `&Header` is not
    /// taken for a reference to frozen memory (its words change: HD1,
    /// HD2).
    _words_are_aside: [std::cell::UnsafeCell<u64>; 0],
}

#[cfg(not(tmgc_loom))]
// SAFETY: a `Header` has no bytes; its words, aside, are atomics.
unsafe impl Sync for Header {}
#[cfg(not(tmgc_loom))]
// SAFETY: as above.
unsafe impl Send for Header {}

/// An object's header (under loom: its two words, in the object).
#[cfg(tmgc_loom)]
#[repr(C, align(16))]
pub struct Header {
    entry: AtomicU32,
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

/// Bytes of the header in the object: none (16 under loom), so an
/// object is its payload.
pub const HEADER_BYTES: usize = std::mem::size_of::<Header>();
#[cfg(not(tmgc_loom))]
const _: () = assert!(HEADER_BYTES == 0);
#[cfg(tmgc_loom)]
const _: () = assert!(HEADER_BYTES == 16);
const _: () = assert!(std::mem::align_of::<TypeInfo>() > FLAG_MASK);

impl Header {
    /// Give the fresh object at `this` its entry: type `ty`, `flags` (HD1).
    /// Its version-lock word is left as it is (HD2).
    ///
    /// # Safety
    /// `this` is an object just allocated by a live heap's allocator (its
    /// chunk mapped, SD1), of type `ty`, not yet published.
    #[cfg(all(test, not(tmgc_loom)))]
    #[inline(always)]
    pub(crate) unsafe fn init(this: NonNull<Header>, ty: &'static TypeInfo, flags: ObjFlags) {
        // SAFETY: forwarded from the caller.
        unsafe { Header::init_coded(this, crate::type_code::code_of(ty), flags) }
    }

    /// Give the fresh object at `this` its entry: the type coded `code`
    /// (`type_code::code_of`), `flags` (HD1); its version-lock word is left
    /// as it is (HD2). An allocator codes the type before it allocates, so
    /// that a panic on the coding's cold path (TC3: no room left to copy a
    /// far descriptor) leaves no object behind with no entry, which an
    /// abort's destructor pass would read.
    ///
    /// # Safety
    /// `this` is an object just allocated by a live heap's allocator (its
    /// chunk mapped, SD1), not yet published, and `code` is its type's.
    #[inline(always)]
    pub(crate) unsafe fn init_coded(this: NonNull<Header>, code: u32, flags: ObjFlags) {
        let e = code | (flags.bits() & FLAG_MASK) as u32;
        #[cfg(not(tmgc_loom))]
        // SAFETY: the caller passes a fresh object of a live heap (SD1).
        unsafe {
            tmgc_alloc::side::entry(this.as_ptr().cast()).store(e, Ordering::Relaxed)
        };
        #[cfg(tmgc_loom)]
        // SAFETY: fresh memory of an object, at least a header's size.
        unsafe {
            this.write(Header { entry: AtomicU32::new(e), vlock: AtomicU64::new(0) })
        };
    }

    /// The object's address with its chunk's provenance (SD4 of
    /// `tmgc_alloc::side`: a `&Header` is a reference to a zero-sized
    /// type, whose own provenance covers no byte).
    #[cfg(not(tmgc_loom))]
    #[inline(always)]
    fn object(&self) -> *const u8 {
        std::ptr::with_exposed_provenance((self as *const Header).addr())
    }

    /// The entry (HD1).
    #[inline(always)]
    fn entry(&self) -> &AtomicU32 {
        #[cfg(not(tmgc_loom))]
        // SAFETY: a `&Header` is only ever made for an object of a live
        // heap (its allocation path and the references to it), whose
        // chunk stays mapped while the heap lives (SD1), and `object`
        // carries the chunk's provenance (SD4).
        return unsafe { tmgc_alloc::side::entry(self.object()) };
        #[cfg(tmgc_loom)]
        &self.entry
    }

    /// The object's type.
    #[inline]
    pub fn type_info(&self) -> &'static TypeInfo {
        // (HD1) the entry holds a type code (TC1) and the flags, which
        // `info_of` leaves out.
        crate::type_code::info_of(self.entry().load(Ordering::Acquire))
    }

    /// The object's flags.
    #[inline]
    pub fn flags(&self) -> ObjFlags {
        ObjFlags::from_bits_truncate(self.entry().load(Ordering::Acquire) as usize & FLAG_MASK)
    }

    /// Clear `NEW`: the owning transaction publishes the object (HD1).
    pub(crate) fn clear_new(&self) {
        let e = self.entry().load(Ordering::Relaxed) & !(ObjFlags::NEW.bits() as u32);
        self.entry().store(e, Ordering::Release);
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

    /// Change the entry with `f` by compare-and-swap (HD1: `LOGGED`
    /// changes only by read-modify-write). Returns whether `f` asked for a
    /// change and it was made; `None` from `f` changes nothing.
    fn update_type_word(&self, f: impl Fn(usize) -> Option<usize>) -> bool {
        let mut cur = self.entry().load(Ordering::Acquire);
        loop {
            let Some(next) = f(cur as usize) else { return false };
            match self.entry().compare_exchange_weak(cur, next as u32, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    /// The version-lock word (HD2); only the transaction layer changes it.
    #[inline]
    pub(crate) fn vlock(&self) -> &AtomicU64 {
        #[cfg(not(tmgc_loom))]
        // SAFETY: as in `entry`.
        return unsafe { tmgc_alloc::side::vlock(self.object()) };
        #[cfg(tmgc_loom)]
        &self.vlock
    }

    /// The current value of the version-lock word (see [`crate::flags::vlock`]).
    pub fn version_lock(&self) -> u64 {
        self.vlock().load(Ordering::Acquire)
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

    /// Hint the CPU to fetch the first line of the object at `this`: its
    /// payload's, the header being aside (V4). The marker asks for the
    /// objects it will scan next, and the dynamic accessors for a payload
    /// whose word's address waits on the entry. A hint only: it never
    /// faults, whatever the address, and is not ordered with locked
    /// instructions.
    #[inline(always)]
    pub(crate) fn prefetch(this: NonNull<Header>) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; it reads nothing and never faults,
        // whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(this.as_ptr().cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = this;
    }
}

/// Objects made outside any heap's transactions, for unit tests: their
/// memory is a real chunk's (SD1 of `tmgc_alloc::side`), so their headers
/// have side slots.
#[cfg(all(test, not(tmgc_loom)))]
pub(crate) struct TestObjects {
    alloc: tmgc_alloc::LocalAllocator,
    _space: tmgc_alloc::Space,
}

#[cfg(all(test, not(tmgc_loom)))]
impl TestObjects {
    pub(crate) fn new() -> Self {
        let space = tmgc_alloc::Space::new(tmgc_alloc::Config::default()).expect("a space");
        TestObjects { alloc: space.allocator(), _space: space }
    }

    /// A zero-filled object of type `ty` (`size` bytes of object) with
    /// `flags`, its version-lock word 0.
    pub(crate) fn make(&mut self, ty: &'static TypeInfo, flags: ObjFlags, size: usize) -> NonNull<Header> {
        let h = self
            .alloc
            .alloc(size.max(1), ty.align().max(std::mem::align_of::<Header>()))
            .expect("memory")
            .cast::<Header>();
        // SAFETY: fresh memory of `size` bytes of a live space.
        unsafe {
            std::ptr::write_bytes(h.as_ptr().cast::<u8>(), 0, size);
            Header::init(h, ty, flags);
            h.as_ref().vlock().store(0, Ordering::Relaxed);
        }
        h
    }
}
