//! A thread's handle on the heap, and the transaction loop.
//!
//! `Mutator::transaction` runs its body as a transaction: conflicts roll
//! back and retry with backoff; `Abort::User` rolls back and returns its
//! value; a panic rolls back (the attempt's `Tx` is dropped while unwinding)
//! and goes on unwinding; nothing the attempt allocated or rooted survives.
//!
//! **Commit points.** Each attempt begins at a commit point: the boundary
//! between two transactions of this thread, the one place where a mutator
//! will meet the collector. The check costs one relaxed load of the heap's
//! poll flag on the fast path.
//!
//! **Nesting.** A transaction body cannot start another transaction: the
//! mutator is mutably borrowed by the running one (a compile error), and a
//! thread cannot attach a second mutator to the same heap
//! ([`HeapError::AlreadyAttached`](crate::HeapError::AlreadyAttached)).
//! Compose transactional code by passing `&mut Tx` down instead.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tmgc_alloc::LocalAllocator;
use tmgc_roots::RootTable;

use crate::error::{Abort, TxError};
use crate::heap::{detach, HeapInner};
use crate::tx::{Logs, Tx};

/// What a transaction borrows from its mutator.
pub(crate) struct Core {
    pub(crate) heap: Arc<HeapInner>,
    pub(crate) alloc: LocalAllocator,
    pub(crate) roots: Rc<RefCell<RootTable>>,
    pub(crate) logs: Logs,
}

/// A thread's handle on a [`Heap`](crate::Heap): it runs that thread's
/// transactions. Not `Send`: its roots and its allocator's blocks belong to
/// its thread.
pub struct Mutator {
    core: Core,
    commits: u64,
    conflicts: u64,
    last_version: (u64, bool),
    // Not Send or Sync (also implied by the `Rc`; stated for the reader).
    _thread_bound: PhantomData<*mut ()>,
}

impl Mutator {
    pub(crate) fn new(heap: Arc<HeapInner>) -> Self {
        let mut alloc = heap.space.allocator();
        // Destructors never run inside a transaction: leave blocks that hold
        // objects with destructors to eager sweepers and commit points.
        alloc.set_lazy_drop_sweep(false);
        Mutator {
            core: Core { heap, alloc, roots: Rc::new(RefCell::new(RootTable::new())), logs: Logs::default() },
            commits: 0,
            conflicts: 0,
            last_version: (0, false),
            _thread_bound: PhantomData,
        }
    }

    /// Run `body` as a transaction; see the [module docs](self).
    ///
    /// ```
    /// use tmgc::{Abort, Config, Heap, Trace, TxError, Value};
    /// #[derive(Trace)]
    /// struct Counter { n: Value<u64> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let root = m.transaction::<_, ()>(|tx| {
    ///     let c = tx.alloc(Counter { n: Value::new(0) })?;
    ///     Ok(tx.root(c))
    /// }).unwrap();
    /// m.transaction::<_, ()>(|tx| {
    ///     let c = tx.get_root(&root)?;
    ///     let n = tx.get(c, |c| &c.n)?;
    ///     tx.set(c, |c| &c.n, n + 1)?;
    ///     Ok(())
    /// }).unwrap();
    /// // Giving up on purpose: rolled back, no retry.
    /// let r = m.transaction(|tx| {
    ///     let c = tx.get_root(&root)?;
    ///     tx.set(c, |c| &c.n, 100)?;
    ///     Err::<(), _>(Abort::User("changed my mind"))
    /// });
    /// assert!(matches!(r, Err(TxError::Aborted("changed my mind"))));
    /// let n = m.transaction::<_, ()>(|tx| { let c = tx.get_root(&root)?; Ok(tx.get(c, |c| &c.n)?) });
    /// assert_eq!(n.unwrap(), 1);
    /// ```
    pub fn transaction<R, E>(
        &mut self,
        mut body: impl for<'tx> FnMut(&mut Tx<'tx>) -> Result<R, Abort<E>>,
    ) -> Result<R, TxError<E>> {
        let backoff = crate::sync::Spin::new();
        loop {
            self.commit_point();
            let mut tx = Tx::begin(&mut self.core);
            match body(&mut tx) {
                Ok(r) => {
                    if let Ok(v) = tx.commit() {
                        self.commits += 1;
                        self.last_version = v;
                        return Ok(r);
                    }
                }
                Err(Abort::Conflict) => tx.abort(),
                Err(Abort::User(e)) => {
                    tx.abort();
                    return Err(TxError::Aborted(e));
                }
                Err(Abort::Heap(e)) => {
                    tx.abort();
                    return Err(TxError::Alloc(e));
                }
                Err(Abort::Root(m)) => {
                    tx.abort();
                    return Err(TxError::Root(m));
                }
            }
            self.conflicts += 1;
            // Do not spin against an inevitable transaction: wait it out.
            self.core.heap.wait_inevitable();
            backoff.snooze();
        }
    }

    /// The commit-point check: one relaxed load unless the collector asked
    /// for this thread.
    #[inline]
    pub fn commit_point(&mut self) {
        if self.core.heap.poll.load(Ordering::Relaxed) {
            self.commit_point_slow();
        }
    }

    #[cold]
    fn commit_point_slow(&mut self) {
        // Make this thread's recent allocations parseable for the collector
        // (start bits, black marks). The collector's handshake joins here.
        self.core.alloc.flush_marks();
    }

    /// Bytes this mutator has allocated and kept (aborted attempts excluded).
    pub fn allocated_bytes(&self) -> u64 {
        self.core.alloc.allocated_bytes()
    }

    /// Where the last committed transaction serializes: `(version, wrote)`.
    /// A writer's version is its write version (unique to it); a read-only
    /// transaction's is its read version, and it comes after every writer
    /// with that version or less. Sorting committed transactions by
    /// `(version, !wrote)` gives an equivalent serial order.
    pub fn last_commit_version(&self) -> (u64, bool) {
        self.last_version
    }

    /// Transactions committed and conflicts retried by this mutator.
    pub fn tx_counts(&self) -> (u64, u64) {
        (self.commits, self.conflicts)
    }

    /// Committed roots of this thread (what a root scan would report).
    pub fn root_count(&self) -> usize {
        self.core.roots.borrow().scan().count()
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        let h = &self.core.heap;
        h.commits.fetch_add(self.commits, Ordering::Relaxed);
        h.conflicts.fetch_add(self.conflicts, Ordering::Relaxed);
        detach(h);
    }
}
