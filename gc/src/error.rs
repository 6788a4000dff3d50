//! Transaction outcomes and errors.

use std::fmt;

/// A conflict with another transaction: the attempt must be retried.
/// Returned by the `Tx` accessors; `?` turns it into [`Abort::Conflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transaction conflict (retried automatically)")
    }
}

impl std::error::Error for Conflict {}

/// Why a transaction body stopped early.
#[derive(Debug)]
pub enum Abort<E> {
    /// A conflict: the transaction is rewound and retried.
    Conflict,
    /// The body gave up on purpose: the transaction is rewound and
    /// [`TxError::Aborted`] carries the value out, with no retry.
    User(E),
    /// The heap is full: the transaction is rewound and the error returned.
    Heap(tmgc_alloc::AllocError),
    /// A root handle was stale or belonged to another mutator.
    Root(RootMisuse),
}

impl<E> From<Conflict> for Abort<E> {
    fn from(_: Conflict) -> Self {
        Abort::Conflict
    }
}

impl<E> From<tmgc_alloc::AllocError> for Abort<E> {
    fn from(e: tmgc_alloc::AllocError) -> Self {
        Abort::Heap(e)
    }
}

impl<E> From<RootMisuse> for Abort<E> {
    fn from(m: RootMisuse) -> Self {
        Abort::Root(m)
    }
}

/// Misuse of a root handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootMisuse {
    /// Created by a transaction that aborted (a [`Root`](crate::Root) or a
    /// [`GlobalRoot`](crate::GlobalRoot) carried out of the attempt, by a
    /// captured variable or inside `Abort::User`), or already dropped. The
    /// slot may hold another root now; the handle never reads it.
    Stale,
    /// Belongs to another mutator (thread).
    Foreign,
    /// A global root read inside the transaction that creates it (it is
    /// set when that transaction commits).
    Unset,
}

/// How a transaction ended without committing.
#[derive(Debug)]
pub enum TxError<E> {
    /// The body returned `Abort::User(e)`.
    Aborted(E),
    /// Allocation failed (heap limit, or an invalid request); nothing was kept.
    Alloc(tmgc_alloc::AllocError),
    /// A root handle was misused.
    Root(RootMisuse),
    /// Called from code the collector runs (a `Trace` implementation, a
    /// destructor run by the sweep): nothing ran. See [`HeapError::InGcWork`].
    InGcWork,
}

impl<E: fmt::Debug> fmt::Display for TxError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::Aborted(e) => write!(f, "transaction aborted by its body: {e:?}"),
            TxError::Alloc(e) => write!(f, "transaction rolled back: {e}"),
            TxError::Root(RootMisuse::Stale) => {
                write!(f, "stale root: created by a transaction that aborted, or already dropped")
            }
            TxError::Root(RootMisuse::Foreign) => write!(f, "root belongs to another mutator"),
            TxError::Root(RootMisuse::Unset) => {
                write!(f, "global root read inside the transaction that creates it (set at its commit)")
            }
            TxError::InGcWork => write!(f, "{IN_GC_WORK}"),
        }
    }
}

impl<E: fmt::Debug> std::error::Error for TxError<E> {}

/// Errors of heap set-up and attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeapError {
    /// The allocation layer refused the configuration.
    Alloc(tmgc_alloc::AllocError),
    /// This thread already has a mutator for this heap (transactions would
    /// nest or deadlock with an inevitable one).
    AlreadyAttached,
    /// A configuration value is out of range (the message says which).
    Config(&'static str),
    /// About a million mutators are attached at once (each needs a writer
    /// tag of 20 bits in the objects it writes); detach some first.
    TooManyMutators,
    /// Called from code the collector runs: a `Trace` implementation while
    /// it marks or verifies, or a destructor (`Drop`) run by the sweep. Such
    /// code must not attach, collect or run transactions, on any heap: a
    /// cycle would wait for itself, and a reference it obtained could reach
    /// the marker. Nothing was done. (Invariant W0, docs/COLLECTOR.md.)
    InGcWork,
}

/// The message of every `InGcWork` error.
pub(crate) const IN_GC_WORK: &str = "called from code the collector runs (a Trace implementation or a destructor run by the sweep): it must not attach, collect or run transactions";

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapError::Alloc(e) => write!(f, "{e}"),
            HeapError::AlreadyAttached => write!(f, "this thread already has a mutator attached to this heap"),
            HeapError::Config(m) => write!(f, "invalid configuration: {m}"),
            HeapError::TooManyMutators => {
                write!(f, "too many mutators attached at once (the limit is {})", crate::flags::vlock::MAX_TAG)
            }
            HeapError::InGcWork => write!(f, "{IN_GC_WORK}"),
        }
    }
}

impl std::error::Error for HeapError {}
