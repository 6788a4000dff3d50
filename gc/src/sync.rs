//! The one place this crate reaches for atomics, locks, spin-waiting and
//! fences: `std` (and crossbeam's `Backoff`) normally, loom's under
//! `--cfg tmgc_loom`, so the loom models in `gc/tests/loom.rs` explore the
//! commit and handshake protocols.
//!
//! ## The asymmetric fence
//! A mutator announces that it runs (a store to its record) and then reads
//! its poll flag; the collector raises the flag and then reads the state.
//! That is Dekker's pattern: each side needs a store-load fence. The
//! mutator's side is a commit point, taken every transaction, so it gets
//! only a compiler fence ([`light_fence`]); the collector's side, taken once
//! per handshake, issues `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! ([`heavy_fence`]), which runs a full fence on every CPU running one of
//! this process's threads. Where `membarrier` is unavailable (old kernel,
//! seccomp, other OS, miri, loom) both sides use `fence(SeqCst)`, which is
//! what loom models.

#[cfg(not(tmgc_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64};
#[cfg(not(tmgc_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(tmgc_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64};
#[cfg(tmgc_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

use std::sync::atomic::Ordering;

/// Completes a `SeqCst` access for loom. The transaction layer's lazy clock
/// (`tx/mod.rs`) relies on the single total order of `SeqCst` accesses (lock
/// CASes, clock loads, version-lock loads). loom models `SeqCst` accesses
/// only as `AcqRel`, but models `SeqCst` fences exactly; so under
/// `tmgc_loom` this is a `fence(SeqCst)`, placed after each such access
/// that the argument orders before a later one on another location. In
/// normal builds it is nothing: the accesses themselves are `SeqCst` (on
/// x86 a `SeqCst` load is a plain load, and a lock CAS is a full barrier).
#[inline(always)]
pub(crate) fn sc_order() {
    #[cfg(tmgc_loom)]
    fence(Ordering::SeqCst);
}

/// Spin-wait with backoff (loom: yield, so the model can make progress).
pub(crate) struct Spin {
    #[cfg(not(tmgc_loom))]
    backoff: crossbeam_utils::Backoff,
}

impl Spin {
    pub(crate) fn new() -> Self {
        Spin {
            #[cfg(not(tmgc_loom))]
            backoff: crossbeam_utils::Backoff::new(),
        }
    }

    pub(crate) fn snooze(&self) {
        #[cfg(not(tmgc_loom))]
        self.backoff.snooze();
        #[cfg(tmgc_loom)]
        loom::thread::yield_now();
    }

    /// Snooze, and once spinning stops paying, sleep briefly: for waits
    /// that can last milliseconds (a handshake waiting for a long transaction).
    pub(crate) fn wait(&self) {
        #[cfg(not(tmgc_loom))]
        if self.backoff.is_completed() {
            std::thread::sleep(std::time::Duration::from_micros(50));
            return;
        }
        self.snooze();
    }
}

/// Lock a mutex, ignoring poisoning: every critical section in this crate
/// leaves its data consistent before anything can panic in it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(target_os = "linux", not(miri), not(tmgc_loom)))]
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    /// 0: not tried; 1: registered (asymmetric); 2: unavailable (symmetric).
    static MODE: AtomicU8 = AtomicU8::new(0);

    fn call(cmd: libc::c_int) -> bool {
        // SAFETY: membarrier takes two integer arguments and touches no
        // memory of ours; a failure is a return value, not UB.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
    }

    /// Register the process (once). Called before any mutator attaches.
    pub(crate) fn init() {
        if MODE.load(Ordering::Acquire) == 0 {
            let ok = call(CMD_REGISTER_PRIVATE_EXPEDITED);
            // A racing init may already have stored: both computed the same.
            MODE.store(if ok { 1 } else { 2 }, Ordering::Release);
        }
    }

    #[inline]
    pub(crate) fn symmetric() -> bool {
        MODE.load(Ordering::Relaxed) != 1
    }

    pub(crate) fn heavy() -> bool {
        !symmetric() && call(CMD_PRIVATE_EXPEDITED)
    }
}

/// Make the process ready for [`heavy_fence`] (called by `Heap::new`).
pub(crate) fn init_fences() {
    #[cfg(all(target_os = "linux", not(miri), not(tmgc_loom)))]
    membarrier::init();
}

/// The mutator's side of the store-load fence (see the module docs).
#[inline]
pub(crate) fn light_fence() {
    #[cfg(all(target_os = "linux", not(miri), not(tmgc_loom)))]
    {
        if membarrier::symmetric() {
            fence(Ordering::SeqCst);
        } else {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        }
    }
    #[cfg(not(all(target_os = "linux", not(miri), not(tmgc_loom))))]
    fence(Ordering::SeqCst);
}

/// The collector's side: a fence on every CPU that runs a mutator.
pub(crate) fn heavy_fence() {
    fence(Ordering::SeqCst);
    #[cfg(all(target_os = "linux", not(miri), not(tmgc_loom)))]
    {
        if !membarrier::symmetric() && !membarrier::heavy() {
            // The call failed after registration succeeded: this cannot
            // happen on Linux (the command is valid and registered). Fail
            // loudly rather than run without the fence.
            panic!("membarrier(PRIVATE_EXPEDITED) failed after registration");
        }
    }
}

/// The calling thread's id (loom's, under loom: its threads share one OS thread).
#[cfg(not(tmgc_loom))]
pub(crate) fn thread_id() -> std::thread::ThreadId {
    std::thread::current().id()
}

/// The calling thread's id (loom's, under loom: its threads share one OS thread).
#[cfg(tmgc_loom)]
pub(crate) fn thread_id() -> loom::thread::ThreadId {
    loom::thread::current().id()
}

/// What [`thread_id`] returns.
#[cfg(not(tmgc_loom))]
pub(crate) type ThreadId = std::thread::ThreadId;
/// What [`thread_id`] returns.
#[cfg(tmgc_loom)]
pub(crate) type ThreadId = loom::thread::ThreadId;
