//! A type's 32-bit code: where its descriptor is, in the bits an object's
//! side entry has for it (SH-B of docs/HEADER.md).
//!
//! A code is the descriptor's address less [`base`], which is the address
//! of an anchor static of this crate less 2 GiB. Descriptors are aligned
//! to 128 ([`TypeInfo`]), so a code's low 7 bits are zero, free for the
//! object's flags ([`crate::flags::FLAG_MASK`]).
//!
//! Invariants:
//! - (TC1) *Every code names a descriptor.* A code is made only by
//!   [`code_of`], from a `&'static TypeInfo` whose address it checked to
//!   lie within `[base, base + 2^32)`, after exposing that address's
//!   provenance; [`info_of`] turns it back into the same reference.
//!   Descriptors are never freed (T1 of `types.rs`).
//! - (TC2) *Every descriptor has a code.* Rust types' descriptors are
//!   constants of the program, in its image beside the anchor: within
//!   reach where the program is linked as one image. Dynamic descriptors
//!   are placed in [`POOL`], a static of this crate (so in the anchor's
//!   image too), by [`place_with`]. A descriptor out of reach all the same (a
//!   Rust dylib mapped far away) is copied into the pool the first time
//!   it is coded ([`far_code`], a cold path keyed by its address), and the
//!   copy's code is used: its objects read the copy, which is equal field
//!   for field (T1), so nothing but its address differs, and no code
//!   compares a Rust type's descriptor by address (`Gc::downcast`
//!   compares `TypeId`s). Each thread remembers the last far descriptor
//!   it coded, so a program that allocates one far type over and over
//!   takes the shared map's lock only once per thread and type change.
//! - (TC3) *Bounded.* The pool holds [`MAX_DYN_TYPES`] dynamic
//!   descriptors (T3 of `types.rs` refuses more), plus [`RESERVED`] for
//!   tmgc's own reserved names and far copies; when it is full,
//!   [`place_with`] refuses with [`TypeError::TooManyTypes`].

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::types::{TypeError, TypeInfo, MAX_DYN_TYPES, WEAK_CELL};

/// Pool slots beyond [`MAX_DYN_TYPES`]: tmgc's own reserved names (a few)
/// and copies of far descriptors (TC2, TC3).
pub(crate) const RESERVED: usize = 256;

/// Slots of the pool. Smaller under miri, which gives statics real memory
/// at their first use (the limit of T3 is checked against this length too).
#[cfg(not(miri))]
const POOL_LEN: usize = MAX_DYN_TYPES + RESERVED;
#[cfg(miri)]
const POOL_LEN: usize = 1024 + RESERVED;

/// Dynamic descriptors, placed once each and never moved or freed (TC2).
/// In `.bss`: the kernel gives a page of it memory at its first write.
struct Pool {
    slots: [UnsafeCell<MaybeUninit<TypeInfo>>; POOL_LEN],
    /// Slots handed out: each index below it is written exactly once, by
    /// the `place_with` that took it, before its reference is returned.
    next: AtomicUsize,
}

// SAFETY: a slot is written once, by the one `place_with` that took its index
// (a `fetch_add`), before any reference to it exists; afterwards it is
// only read, through `&'static TypeInfo`s (`TypeInfo` is `Sync`).
unsafe impl Sync for Pool {}

static POOL: Pool =
    Pool { slots: [const { UnsafeCell::new(MaybeUninit::uninit()) }; POOL_LEN], next: AtomicUsize::new(0) };

/// The address codes count from: the anchor's less 2 GiB, so that a
/// descriptor up to 2 GiB before or after it has a code.
#[inline(always)]
fn base() -> usize {
    (&WEAK_CELL as *const TypeInfo).addr().wrapping_sub(1 << 31)
}

/// The code of `info` (TC1): one subtraction and one comparison; a
/// descriptor out of reach takes the cold path (TC2).
#[inline(always)]
pub(crate) fn code_of(info: &'static TypeInfo) -> u32 {
    let off = (info as *const TypeInfo).expose_provenance().wrapping_sub(base());
    if off < 1 << 32 {
        off as u32
    } else {
        far_code(info)
    }
}

/// The descriptor a code names (TC1).
#[inline(always)]
pub(crate) fn info_of(code: u32) -> &'static TypeInfo {
    let addr = base().wrapping_add(code as usize & !crate::flags::FLAG_MASK);
    // SAFETY: (TC1) the code was made by `code_of` from a `&'static
    // TypeInfo` at exactly this address, whose provenance it exposed;
    // descriptors are never freed (T1).
    unsafe { &*std::ptr::with_exposed_provenance::<TypeInfo>(addr) }
}

/// Place the descriptor `make` builds, calling it only once a slot is
/// taken: what it leaks for the descriptor (a dynamic type's name) is not
/// leaked when the pool is full.
pub(crate) fn place_with(make: impl FnOnce() -> TypeInfo) -> Result<&'static TypeInfo, TypeError> {
    let i = POOL.next.fetch_add(1, Ordering::Relaxed);
    if i >= POOL_LEN {
        // Keep `next` from wrapping however often this is asked.
        POOL.next.store(POOL_LEN, Ordering::Relaxed);
        return Err(TypeError::TooManyTypes { limit: MAX_DYN_TYPES.min(POOL_LEN - RESERVED) });
    }
    let info = make();
    // SAFETY: index `i` was handed out to this call alone (the
    // `fetch_add`), and nothing reads slot `i` before we return it.
    let info: &'static TypeInfo = unsafe { (*POOL.slots[i].get()).write(info) };
    debug_assert!(
        (info as *const TypeInfo).addr().wrapping_sub(base()) < 1 << 32,
        "TC2: the pool is in the anchor's image"
    );
    Ok(info)
}

/// The code of a descriptor out of reach: that of its copy in the pool,
/// made at its first coding (TC2).
#[cold]
#[inline(never)]
fn far_code(info: &'static TypeInfo) -> u32 {
    thread_local! {
        /// The last far descriptor this thread coded, and its code.
        static LAST: std::cell::Cell<(usize, u32)> = const { std::cell::Cell::new((0, 0)) };
    }
    let addr = (info as *const TypeInfo).addr();
    // `try_with`: a destructor may allocate while the thread's locals go.
    if let Ok(Some(code)) = LAST.try_with(|l| {
        let (a, c) = l.get();
        (a == addr).then_some(c)
    }) {
        return code;
    }
    let code = far_code_shared(info);
    let _ = LAST.try_with(|l| l.set((addr, code)));
    code
}

/// [`far_code`] through the map of copies every thread shares.
fn far_code_shared(info: &'static TypeInfo) -> u32 {
    type Copies = std::collections::HashMap<usize, &'static TypeInfo>;
    static COPIES: std::sync::OnceLock<std::sync::Mutex<Copies>> = std::sync::OnceLock::new();
    let mut copies = COPIES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let addr = (info as *const TypeInfo).addr();
    let copy = match copies.get(&addr) {
        Some(&c) => c,
        None => {
            let c = place_with(|| info.clone()).unwrap_or_else(|_| {
                panic!("tmgc: no room left to copy the descriptor of `{}`, which is out of reach (TC3)", info.name())
            });
            copies.insert(addr, c);
            c
        }
    };
    let off = (copy as *const TypeInfo).expose_provenance().wrapping_sub(base());
    assert!(off < 1 << 32, "TC2: the pool is in the anchor's image");
    off as u32
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;
    use crate::types::GcType;

    #[test]
    fn codes_round_trip() {
        for info in [&WEAK_CELL, <String as GcType>::TYPE_INFO, <u64 as GcType>::TYPE_INFO] {
            let c = code_of(info);
            assert_eq!(c as usize & crate::flags::FLAG_MASK, 0, "the flag bits are free");
            assert!(std::ptr::eq(info_of(c), info));
            assert!(std::ptr::eq(info_of(c | 0x7f), info), "the flag bits are ignored");
        }
        let d = crate::DynType::register(crate::DynTypeSpec::new("TypeCodeTest").tagged_words(2)).unwrap();
        assert!(std::ptr::eq(info_of(code_of(d.info())), d.info()));
    }

    #[test]
    fn a_far_descriptor_is_coded_by_its_copy() {
        // A descriptor on the heap, as a Rust dylib's would be: maybe near,
        // maybe not; `far_code` is what a far one takes.
        let far: &'static TypeInfo = Box::leak(Box::new(<String as GcType>::TYPE_INFO.clone()));
        let c = far_code(far);
        assert_eq!(far_code(far), c, "one copy per descriptor");
        let copy = info_of(c);
        assert!(!std::ptr::eq(copy, far));
        assert_eq!(copy.name(), far.name());
        assert_eq!(copy.object_size(), far.object_size());
        // Another far descriptor, then the first again (past the thread's
        // memory of the last one), and from another thread.
        let other: &'static TypeInfo = Box::leak(Box::new(<u64 as GcType>::TYPE_INFO.clone()));
        let c2 = far_code(other);
        assert_ne!(c2, c);
        assert_eq!(info_of(c2).name(), other.name());
        assert_eq!(far_code(far), c);
        assert_eq!(std::thread::spawn(move || far_code(far)).join().unwrap(), c, "one copy for every thread");
    }
}
