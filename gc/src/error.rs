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
    /// A root handle was misused (stale, of another mutator or heap:
    /// [`RootMisuse`]).
    Root(RootMisuse),
}

impl<E> Abort<E> {
    /// The same outcome with the user error mapped by `f`: a conflict stays
    /// a conflict (and is retried), the heap and root errors stay as they
    /// are. For a helper whose user error differs from its caller's; mapping
    /// every `Abort` to a user error would turn a rare conflict into a
    /// user abort (a wrong result, not a retry).
    ///
    /// ```
    /// use tmgc::Abort;
    /// let a: Abort<u32> = Abort::User(7);
    /// assert!(matches!(a.map_user(|n| format!("code {n}")), Abort::User(s) if s == "code 7"));
    /// let c: Abort<u32> = Abort::Conflict;
    /// assert!(matches!(c.map_user(|n| n.to_string()), Abort::Conflict));
    /// ```
    pub fn map_user<F>(self, f: impl FnOnce(E) -> F) -> Abort<F> {
        match self {
            Abort::Conflict => Abort::Conflict,
            Abort::User(e) => Abort::User(f(e)),
            Abort::Heap(h) => Abort::Heap(h),
            Abort::Root(r) => Abort::Root(r),
        }
    }
}

impl Abort<std::convert::Infallible> {
    /// An outcome with no user error, as one of any user error type (a
    /// helper written for `Infallible`, called from a transaction that may
    /// give up).
    pub fn widen<F>(self) -> Abort<F> {
        self.map_user(|never| match never {})
    }
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
    /// A [`Root`](crate::Root) of another mutator (thread).
    Foreign,
    /// A [`GlobalRoot`](crate::GlobalRoot) of another heap.
    OtherHeap,
    /// A global root read inside the transaction that creates it (it is
    /// set when that transaction commits).
    Unset,
}

impl fmt::Display for RootMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootMisuse::Stale => write!(f, "stale root: created by a transaction that aborted, or already dropped"),
            RootMisuse::Foreign => write!(f, "root belongs to another mutator"),
            RootMisuse::OtherHeap => write!(f, "global root belongs to another heap"),
            RootMisuse::Unset => {
                write!(f, "global root read inside the transaction that creates it (set at its commit)")
            }
        }
    }
}

impl std::error::Error for RootMisuse {}

/// How a transaction ended without committing. It displays, and is an
/// `Error`, when the user error `E` displays: `TxError<&str>`,
/// `TxError<String>`, `TxError<Infallible>` (from
/// [`Mutator::atomically`](crate::Mutator::atomically)) or your own error
/// type, printed with its `Display`; a `TxError<()>` is `Debug` only.
///
/// ```
/// use std::error::Error;
/// use tmgc::{Abort, Config, Heap, TxError};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let r = m.transaction::<(), _>(|_| Err(Abort::User("out of stock")));
/// let e: Box<dyn Error> = Box::new(r.unwrap_err());
/// assert_eq!(e.to_string(), "transaction aborted by its body: out of stock");
/// ```
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

impl<E: fmt::Display> fmt::Display for TxError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::Aborted(e) => write!(f, "transaction aborted by its body: {e}"),
            TxError::Alloc(e) => write!(f, "transaction rolled back: {e}"),
            TxError::Root(r) => write!(f, "{r}"),
            TxError::InGcWork => write!(f, "{IN_GC_WORK}"),
        }
    }
}

/// No `source()`: each variant's message already carries the inner
/// error's (so a printer that walks the chain does not print it twice);
/// match the variant to reach the inner error itself.
impl<E: fmt::Debug + fmt::Display> std::error::Error for TxError<E> {}

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
    /// A `TMGC_*` environment override is malformed (the table of
    /// overrides is in the docs of [`Config`](crate::Config)).
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
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
            HeapError::Env { var, value, expected } => write!(f, "{var}={value}: expected {expected}"),
            HeapError::TooManyMutators => {
                write!(f, "too many mutators attached at once (the limit is {})", crate::flags::vlock::MAX_TAG)
            }
            HeapError::InGcWork => write!(f, "{IN_GC_WORK}"),
        }
    }
}

/// No `source()`, as for [`TxError`]: `Alloc`'s message is the inner
/// error's.
impl std::error::Error for HeapError {}

/// Why a collection did not end well.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectError {
    /// The heap verifier found a reachable object that is not marked (a
    /// collector bug); the message names it.
    Verify(String),
    /// The heap is being dropped.
    Shutdown,
    /// Called from inside a transaction of this heap (the cycle would wait
    /// for this thread's next commit point, which cannot come).
    InTransaction,
    /// Called from code the collector runs (a `Trace` implementation, a
    /// destructor run by the sweep): the cycle would wait for itself. See
    /// [`HeapError::InGcWork`](crate::HeapError::InGcWork).
    InGcWork,
    /// A `Trace` implementation
    /// panicked during marking. Marking could not complete, so nothing was
    /// freed, and the collector frees nothing from then on: memory stays
    /// safe, the heap keeps working up to its limit.
    TracePanicked(String),
    /// The collector itself panicked in a cycle (a bug in tmgc; the message
    /// is the panic's). The threads were released at their commit points,
    /// nothing more is freed, and every later collection returns this
    /// error: memory stays safe, the heap keeps working up to its limit.
    Panicked(String),
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollectError::Verify(m) => write!(f, "heap verification failed: {m}"),
            CollectError::Shutdown => write!(f, "the heap is shutting down"),
            CollectError::TracePanicked(m) => {
                write!(f, "marking stopped: a Trace implementation panicked ({m}); the collector frees nothing now")
            }
            CollectError::Panicked(m) => {
                write!(f, "the collector panicked ({m}), a tmgc bug; it frees nothing now")
            }
            CollectError::InTransaction => {
                write!(f, "Heap::collect called inside a transaction: call it between transactions")
            }
            CollectError::InGcWork => write!(f, "{}", IN_GC_WORK),
        }
    }
}

impl std::error::Error for CollectError {}
