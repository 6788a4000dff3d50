//! The heap: shared state of all mutators.
//!
//! - the TL2 **global version clock**, bumped once by every commit that
//!   writes or publishes, whose top bit says an inevitable transaction runs
//!   (see `Tx::become_inevitable`);
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

/// The clock's top bit: an inevitable transaction runs. The other bits
/// count commits (the TL2 version clock).
pub(crate) const INEVITABLE: u64 = 1 << 63;

pub(crate) struct HeapInner {
    pub(crate) space: Space,
    /// TL2 version clock, with the `INEVITABLE` bit.
    pub(crate) clock: CachePadded<AtomicU64>,
    pub(crate) globals: GlobalRoots,
    /// Raised by the collector to ask mutators to meet it at a commit point.
    pub(crate) poll: AtomicBool,
    pub(crate) commits: AtomicU64,
    pub(crate) conflicts: AtomicU64,
}

impl HeapInner {
    /// The current version (the clock without the inevitable bit).
    pub(crate) fn version(&self) -> u64 {
        self.clock.load(Ordering::Acquire) & !INEVITABLE
    }

    /// Wait while an inevitable transaction runs.
    pub(crate) fn wait_inevitable(&self) {
        let spin = Spin::new();
        while self.clock.load(Ordering::Acquire) & INEVITABLE != 0 {
            spin.snooze();
        }
    }

    /// Set the inevitable bit (waiting for another inevitable transaction to
    /// end); returns the version at that moment.
    pub(crate) fn take_inevitable(&self) -> u64 {
        let spin = Spin::new();
        loop {
            let c = self.clock.load(Ordering::Acquire);
            if c & INEVITABLE == 0
                && self.clock.compare_exchange_weak(c, c | INEVITABLE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            {
                return c;
            }
            spin.snooze();
        }
    }

    pub(crate) fn release_inevitable(&self) {
        let prev = self.clock.fetch_and(!INEVITABLE, Ordering::AcqRel);
        debug_assert!(prev & INEVITABLE != 0, "releasing inevitability not held");
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
            // The allocation layer calls the hook once for each dead object
            // allocated with `alloc_needs_drop`, which the transaction layer
            // does only for objects whose type has a destructor.
            // SAFETY: so `h` is a dead object's header, its payload is
            // initialised, and nothing uses it again: drop it exactly once.
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

    /// Statistics of the heap's memory. (The `Space` itself is not exposed:
    /// sweeping it by hand would free objects that transactions and roots
    /// still reach. Only the collector sweeps.)
    pub fn space_stats(&self) -> tmgc_alloc::SpaceStats {
        self.inner.space.stats()
    }

    /// Transactions committed and conflicts retried so far (folded in when
    /// each mutator detaches).
    pub fn tx_counts(&self) -> (u64, u64) {
        (self.inner.commits.load(Ordering::Relaxed), self.inner.conflicts.load(Ordering::Relaxed))
    }

    /// The global version clock (commits that wrote or published).
    pub fn clock(&self) -> u64 {
        self.inner.version()
    }
}

/// Called by a dropping mutator.
pub(crate) fn detach(inner: &Arc<HeapInner>) {
    let key = Arc::as_ptr(inner).addr();
    let _ = ATTACHED.try_with(|a| a.borrow_mut().retain(|&k| k != key));
}
