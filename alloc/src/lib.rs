//! # tmgc-alloc: the memory layer of the tmgc collector
//!
//! Chunks from the OS, cut into blocks with side metadata; a thread-local
//! bump allocator with checkpoint and rewind; block sweeping, lazy and
//! eager; a large-object space; accounting and a hard heap limit.
//!
//! ```
//! use std::ptr::NonNull;
//! use tmgc_alloc::{Config, Space};
//!
//! let space = Space::new(Config::default().heap_limit(64 << 20)).unwrap();
//! let mut a = space.allocator();
//! let keep = a.alloc(48, 8).unwrap();
//! let _garbage = a.alloc(48, 8).unwrap();
//!
//! // A collector marks what is reachable...
//! // SAFETY: `keep` was just allocated from a live space.
//! assert!(unsafe { tmgc_alloc::mark(keep) });
//! // ...then, with every allocator at a safe point, sweeps.
//! a.retire_all().unwrap();
//! space.begin_sweep();
//! let report = space.sweep();
//! assert_eq!(report.live_bytes, 48);
//! ```
//!
//! ## Layout
//! - [`GRANULE`] (16 B): allocation unit; one mark bit, one start bit and one pair of side slots (`side`) each.
//! - [`BLOCK_BYTES`] (32 KiB): what a thread takes from the pool.
//! - [`CHUNK_BYTES`] (16 MiB, aligned): what the space takes from the OS;
//!   its first blocks hold the metadata of all its blocks, found by masking.
//! - Objects above [`LARGE_THRESHOLD`] (8 KiB) get a mapping each.
//!
//! The design, its invariants and its measurements are in the workspace's
//! `docs/ALLOCATION.md` and `docs/PERFORMANCE.md`.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(unsafe_op_in_unsafe_fn)]

// Linux only, stated plainly: mmap with MADV_HUGEPAGE and MADV_DONTNEED have no fallback here yet.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "tmgc supports Linux only (it uses mmap with MADV_HUGEPAGE and MADV_DONTNEED); see README.md, \"Platform\""
);

mod bitmap;
mod block_life;
mod checkpoint;
mod chunk;
mod config;
mod decommit;
mod error;
mod fault;
mod holes;
mod large;
mod layout;
mod local;
mod os;
mod pool;
#[cfg(not(tmgc_loom))]
pub mod side;
mod space;
mod sweep;
mod sync;

pub use checkpoint::Checkpoint;
pub use config::Config;
pub use error::AllocError;
pub use fault::MapSite;
pub use layout::{ADDRESS_BITS, BLOCK_BYTES, CHUNK_BYTES, GRANULE, LARGE_THRESHOLD, MAX_ALIGN};
pub use local::{Colour, LocalAllocator};
pub use space::{cell_bytes, is_marked, mark, mark_all, DropHook, Space, SpaceStats, SweepReport};
pub use sweep::POISON;

#[cfg(all(test, not(tmgc_loom)))]
mod contract_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod tests;
