//! The one place this crate reaches for atomics, locks and `Arc`.
//!
//! Normally these are `std`'s. Built with `RUSTFLAGS="--cfg tmgc_loom"` they are
//! loom's, so the loom models in `tests/loom.rs` explore every interleaving of
//! the block-pool and sweep hand-off protocols. The cfg is crate-prefixed so a
//! downstream `--cfg loom` cannot change tmgc's internals.

#[cfg(not(tmgc_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc, Mutex,
};

#[cfg(tmgc_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc, Mutex,
};
