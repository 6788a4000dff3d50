//! # tmgc
//!
//! A concurrent mark-sweep garbage collector for transactional heaps. The
//! object model and transactions, and the collector itself, arrive with the
//! next issues; today this crate re-exports the allocation layer it is built
//! on ([`alloc`]).
#![deny(missing_docs)]

pub use tmgc_alloc as alloc;
pub use tmgc_roots as roots;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
