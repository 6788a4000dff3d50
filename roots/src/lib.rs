//! # tmgc-roots
//!
//! Root sets for the tmgc collector: each mutator's own root set, scanned by
//! that mutator at its own commit point, and the global roots. This crate is
//! filled in by the collector issue; today it only fixes the crate's place in
//! the dependency order `tmgc-alloc <- tmgc-roots <- tmgc <- tmgc-stress`.
#![deny(missing_docs)]

pub use tmgc_alloc as alloc;
