//! The one place this crate reaches for atomics, spin-waiting and
//! thread-locals: `std` (and crossbeam's `Backoff`) normally, loom's under
//! `--cfg tmgc_loom`, so the loom models in `gc/tests/loom.rs` explore the
//! commit protocol.

#[cfg(not(tmgc_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64};

#[cfg(tmgc_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64};

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
}
