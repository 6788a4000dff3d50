//! The heap: shared state of all mutators.
//!
//! - the TL2 **global version clock**, bumped once by every commit that
//!   writes or publishes;
//! - the **commit gate**: the count of commits in flight, or the inevitable
//!   transaction's exclusive hold (see `Tx::become_inevitable`);
//! - the allocation [`Space`](tmgc_alloc::Space), global roots, and the
//!   commit-point poll flag the collector will raise.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicBool, AtomicU64, Spin};
use tmgc_alloc::Space;
use tmgc_roots::GlobalRoots;

use crate::error::HeapError;
use crate::header::Header;
use crate::mutator::Mutator;

/// How a heap is set up.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The allocation layer's configuration (heap limit, huge pages, ...).
    pub alloc: tmgc_alloc::Config,
}

/// The gate's exclusive bit: an inevitable transaction runs.
const EXCLUSIVE: u64 = 1 << 63;

pub(crate) struct HeapInner {
    pub(crate) space: Space,
    pub(crate) clock: CachePadded<AtomicU64>,
    gate: CachePadded<AtomicU64>,
    pub(crate) globals: GlobalRoots,
    /// Raised by the collector to ask mutators to meet it at a commit point.
    pub(crate) poll: AtomicBool,
    pub(crate) commits: AtomicU64,
    pub(crate) conflicts: AtomicU64,
}

impl HeapInner {
    /// A normal commit enters the gate (waits while an inevitable
    /// transaction runs).
    pub(crate) fn gate_enter(&self) {
        let backoff = Spin::new();
        loop {
            let g = self.gate.load(Ordering::Acquire);
            if g & EXCLUSIVE == 0
                && self.gate.compare_exchange_weak(g, g + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                return;
            }
            backoff.snooze();
        }
    }

    pub(crate) fn gate_exit(&self) {
        self.gate.fetch_sub(1, Ordering::Release);
    }

    /// Take the gate exclusively: waits for commits in flight to finish and
    /// for any other inevitable transaction to end.
    pub(crate) fn gate_exclusive(&self) {
        let backoff = Spin::new();
        while self.gate.compare_exchange_weak(0, EXCLUSIVE, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            backoff.snooze();
        }
    }

    pub(crate) fn gate_release_exclusive(&self) {
        debug_assert_eq!(self.gate.load(Ordering::Relaxed), EXCLUSIVE, "releasing a gate not held exclusively");
        self.gate.store(0, Ordering::Release);
    }
}

/// A transactional heap. Cheap to clone (a reference count); every thread
/// that uses it attaches its own [`Mutator`].
///
/// ```
/// use tmgc::{Config, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// let n: Result<u64, tmgc::TxError<()>> = m.transaction(|_tx| Ok(42));
/// assert_eq!(n.unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

#[cfg(not(tmgc_loom))]
thread_local! {
    /// Heaps this thread has a mutator for (by address of their shared state).
    static ATTACHED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

#[cfg(tmgc_loom)]
loom::thread_local! {
    static ATTACHED: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

impl Heap {
    /// A new, empty heap.
    pub fn new(config: Config) -> Result<Heap, HeapError> {
        let space = tmgc_alloc::Space::with_drop_hook(config.alloc, |p| {
            let h = p.cast::<Header>();
            // SAFETY: the allocation layer calls the hook once for each dead
            // object allocated with `alloc_needs_drop`, which the transaction
            // layer does only for objects whose type has a destructor; the
            // object starts with its header and its payload is initialised.
            unsafe {
                let info = h.as_ref().type_info();
                info.drop_payload(Header::payload(h));
            }
        })
        .map_err(HeapError::Alloc)?;
        Ok(Heap {
            inner: Arc::new(HeapInner {
                space,
                clock: CachePadded::new(AtomicU64::new(0)),
                gate: CachePadded::new(AtomicU64::new(0)),
                globals: GlobalRoots::new(),
                poll: AtomicBool::new(false),
                commits: AtomicU64::new(0),
                conflicts: AtomicU64::new(0),
            }),
        })
    }

    /// Attach the calling thread: its mutator runs its transactions. One per
    /// thread and heap ([`HeapError::AlreadyAttached`] otherwise).
    pub fn attach(&self) -> Result<Mutator, HeapError> {
        let key = Arc::as_ptr(&self.inner).addr();
        ATTACHED.with(|a| {
            let mut a = a.borrow_mut();
            if a.contains(&key) {
                return Err(HeapError::AlreadyAttached);
            }
            a.push(key);
            Ok(())
        })?;
        Ok(Mutator::new(Arc::clone(&self.inner)))
    }

    /// The allocation space (statistics, and for the collector).
    pub fn space(&self) -> &Space {
        &self.inner.space
    }

    /// Transactions committed and conflicts retried so far (folded in when
    /// each mutator detaches).
    pub fn tx_counts(&self) -> (u64, u64) {
        (self.inner.commits.load(Ordering::Relaxed), self.inner.conflicts.load(Ordering::Relaxed))
    }

    /// The global version clock (commits that wrote or published).
    pub fn clock(&self) -> u64 {
        self.inner.clock.load(Ordering::Acquire)
    }
}

/// Called by a dropping mutator.
pub(crate) fn detach(inner: &Arc<HeapInner>) {
    let key = Arc::as_ptr(inner).addr();
    let _ = ATTACHED.try_with(|a| a.borrow_mut().retain(|&k| k != key));
}
