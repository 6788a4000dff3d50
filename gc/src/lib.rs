//! # tmgc
//!
//! A concurrent mark-sweep garbage collector for transactional heaps.
//!
//! This crate holds the object model: an object is its payload alone; its
//! [`Header`] (its [`TypeInfo`] coded with its transactional [`ObjFlags`],
//! and a TL2 version-lock word) is two side slots in its chunk's tables,
//! found from the object's address by arithmetic (docs/HEADER.md). Payload types are Rust types implementing
//! [`Trace`] (derive it) or [`DynType`]s an interpreter registers at run
//! time. Mutable fields are atomic words: [`Ref`] for references, [`Value`]
//! for word-sized data.
//!
//! ```
//! use tmgc::{GcType, Ref, Trace, Value};
//!
//! #[derive(Trace)]
//! struct Node {
//!     key: u64,                // immutable after allocation
//!     value: Value<i64>,       // transactional data
//!     next: Ref<Node>,         // transactional reference
//! }
//!
//! let info = Node::TYPE_INFO;
//! assert!(info.has_refs());
//! assert_eq!(info.size(), std::mem::size_of::<Node>());
//! ```
//!
//! `Trace` cannot be derived for a union (which field is live is unknown):
//!
//! ```compile_fail
//! #[derive(tmgc::Trace)]
//! union U { a: u64, b: f64 }
//! ```
//!
//! A heap, a thread's mutator, and transactions:
//!
//! ```
//! use tmgc::{Abort, Config, Gc, Heap, Ref, Trace, Tx, TxError, Value};
//!
//! #[derive(Trace)]
//! struct Account {
//!     balance: Value<i64>,
//!     next: Ref<Account>,
//! }
//!
//! /// A helper that may give up: `?` keeps a conflict a conflict (the
//! /// transaction is retried); only `Abort::User` gives up. (A helper that
//! /// never gives up can be generic in the caller's error: `Abort<E>`.)
//! fn withdraw<'tx>(tx: &mut Tx<'tx>, a: Gc<'tx, Account>, n: i64) -> Result<(), Abort<&'static str>> {
//!     let b = tx.get(a, |a| &a.balance)?;
//!     if b < n {
//!         return Err(Abort::User("insufficient funds")); // rolled back, not retried
//!     }
//!     tx.set(a, |a| &a.balance, b - n)?;
//!     Ok(())
//! }
//!
//! let heap = Heap::new(Config::default())?;
//! let mut m = heap.attach()?; // one mutator per thread
//! let acct = m.atomically(|tx| {
//!     let a = tx.alloc(Account { balance: Value::new(100), next: Ref::null() })?;
//!     Ok(tx.global_root(a)) // outlives the transaction; Send + Sync
//! })?;
//! m.transaction(|tx| {
//!     let a = tx.get_global(&acct)?;
//!     withdraw(tx, a, 30)
//! })?;
//! let r = m.transaction(|tx| {
//!     let a = tx.get_global(&acct)?;
//!     withdraw(tx, a, 1_000)
//! });
//! assert!(matches!(r, Err(TxError::Aborted("insufficient funds"))));
//! let balance = m.atomically(|tx| {
//!     let a = tx.get_global(&acct)?;
//!     Ok(tx.get(a, |a| &a.balance)?)
//! })?;
//! assert_eq!(balance, 70);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Transactions run on a [`Heap`] through a per-thread [`Mutator`]; objects
//! reached inside one are [`Gc<'tx, T>`](Gc) handles that cannot escape it,
//! and [`Root`]s keep objects across transactions. The concurrent
//! [`collector`] reclaims memory while transactions run, meeting each thread
//! only at its commit points. [`Weak`] cells (module [`weak`]) refer to an
//! object without keeping it alive: hold them in `Ref<Weak<T>>` fields or
//! roots, read them with [`Tx::upgrade`]. Module [`alloc`] holds what a
//! heap's user needs of the allocation layer (its `Config`, its error).
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

// Linux only, stated plainly: membarrier, MADV_HUGEPAGE (through tmgc-alloc) and CLOCK_THREAD_CPUTIME_ID have no fallback here yet.
#[cfg(not(target_os = "linux"))]
compile_error!("tmgc supports Linux only (it uses membarrier, MADV_HUGEPAGE (through tmgc-alloc) and CLOCK_THREAD_CPUTIME_ID); see README.md, \"Platform\"");

// Lets `#[derive(Trace)]`'s `::tmgc::` paths resolve inside this crate too.
extern crate self as tmgc;

mod array;
pub mod collector;
mod env;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(not(feature = "fault-injection"))]
mod fault;
mod field;
pub mod flags;
pub mod gcref;
mod gcwork;
mod header;
mod heap;
pub mod mutator;
mod owned;
mod refarray;
mod solo;
mod stderr_log;
mod sync;
mod tagged;
mod thread;
pub mod trace;
mod tvec;
pub mod tx;
mod type_code;
mod types;
pub mod weak;

/// What a heap's user needs of the allocation layer: its configuration
/// (the heap limit), its error, its statistics.
///
/// The rest of `tmgc-alloc` (spaces, allocators, `mark`, sweeping) is the
/// collector's: marking an object of a heap between its cycles, say, would
/// make the next cycle skip what it reaches. It is not re-exported; a
/// program that builds its own collector depends on `tmgc-alloc` itself.
pub mod alloc {
    pub use tmgc_alloc::{AllocError, Config, SpaceStats, BLOCK_BYTES, LARGE_THRESHOLD};
}

pub use array::Elems;
pub use collector::histogram::Histogram;
pub use collector::stats::{CycleStats, GcStats, Mmu};
pub use collector::CollectError;
pub use error::{Abort, Conflict, HeapError, RootMisuse, TxError};
pub use field::{Ref, TaggedField, Value, Word};
pub use flags::ObjFlags;
pub use gcref::{Dyn, Gc, GlobalRoot, Root};
pub use header::{Header, HEADER_BYTES};
pub use heap::{Config, Heap, MarkerKind, TxCounts};
pub use mutator::Mutator;
pub use refarray::RefArray;
pub use stderr_log::warnings_to_stderr;
pub use tagged::{Imm, SmallInt, Tagged};
pub use tmgc_alloc::AllocError;
pub use tmgc_derive::Trace;
pub use trace::{NoTrace, NoTraceSafe, Trace, Tracer, Visitor};
pub use tvec::TVec;
pub use tx::{DynInit, Tx};
pub use types::{
    DropFn, DynData, DynDropFn, DynShape, DynType, DynTypeSpec, GcType, TraceFn, TypeError, TypeInfo, MAX_DYN_TYPES,
};
pub use weak::Weak;

#[cfg(all(test, not(tmgc_loom)))]
mod tests;

// The crate's README (its example runs as a doctest); the workspace's
// README.md is tested by the `tmgc-tests` crate (it lies outside this
// package).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
