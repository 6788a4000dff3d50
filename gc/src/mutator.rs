//! A thread's handle on the heap, and the transaction loop.
//!
//! `Mutator::transaction` runs its body as a transaction: conflicts roll
//! back and retry with backoff; `Abort::User` rolls back and returns its
//! value; a panic rolls back (the attempt's `Tx` is dropped while unwinding)
//! and goes on unwinding; nothing the attempt allocated or rooted survives.
//!
//! **Commit points.** Each attempt begins at a commit point: the boundary
//! between two transactions of this thread, the one place where a mutator
//! meets the collector. On the fast path it costs a store (this thread is
//! running), a compiler fence, and one load of this thread's own `pending`
//! flag: no lock, no read-modify-write (`collector/handshake.rs`).
//!
//! **Parking.** Between transactions a mutator is *parked*: the collector
//! answers its handshakes for it (shading its roots, retiring its blocks)
//! under the thread's own lock, so a thread that attaches and then sleeps,
//! blocks on I/O, or waits for another thread never holds up a cycle. Waits
//! inside `transaction` (for an inevitable transaction, or for a cycle to
//! free memory) park too.
//!
//! **Heap limit.** An attempt that runs out of heap rolls back, waits
//! (parked) for a full cycle that starts after it failed, and retries once;
//! only if it runs out again does `transaction` return
//! [`TxError::Alloc`]`(HeapExhausted)`. An inevitable transaction returns
//! the error at once (it may have done I/O, so it is not retried). What a
//! running attempt allocated stays until it ends, dead or not (a cycle
//! reclaims only what finished transactions left): an event handler that
//! makes more temporaries than the limit allows fails however few of them
//! live, and must be split into several transactions. The waiting thread
//! runs that cycle itself.
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
use std::time::Instant;

use tmgc_alloc::AllocError;
use tmgc_roots::RootTable;

use crate::collector::handshake::{respond, word};
use crate::collector::stats::{PauseClock, Pauses};
use crate::error::{Abort, Conflict, TxError};
use crate::heap::{detach, HeapInner};
use crate::thread::{Entered, LocalGc, MutatorRecord, MutatorState, PendingEntry, RootDrops, Running};
use crate::tx::{Logs, Tx};

/// A thread's handle on a [`Heap`](crate::Heap): it runs that thread's
/// transactions. Not `Send`: each thread calls
/// [`Heap::attach`](crate::Heap::attach) for a mutator of its own (a `Heap`
/// is `Clone + Send`), since its roots and its allocator's blocks belong to
/// its thread.
pub struct Mutator {
    rec: Arc<MutatorRecord>,
    heap: Arc<HeapInner>,
    drops: Rc<RootDrops>,
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    faults: Arc<crate::fault::Faults>,
    commits: u64,
    conflicts: u64,
    allocations: u64,
    given_back: u64,
    last_version: (u64, bool),
    // Not Send or Sync (also implied by the `Rc`; stated for the reader).
    _thread_bound: PhantomData<*mut ()>,
}

impl Mutator {
    /// `None` if the heap has `vlock::MAX_TAG` mutators attached.
    pub(crate) fn new(heap: Arc<HeapInner>) -> Option<Self> {
        let mut alloc = heap.space.allocator();
        let faults = Arc::new(crate::fault::Faults::default());
        // Destructors never run inside a transaction: leave blocks that hold
        // objects with destructors to the collector's sweep.
        alloc.set_lazy_drop_sweep(false);
        let core = MutatorState {
            heap: Arc::clone(&heap),
            alloc,
            roots: RootTable::new(),
            logs: Logs::default(),
            gc: LocalGc {
                barrier: false,
                barrier_epoch: u64::MAX,
                swept_epoch: u64::MAX,
                survivors: false,
                walk: Vec::new(),
                survival: Default::default(),
                grey: Vec::new(),
                generational: heap.collector.config.generational,
                remset: Vec::new(),
                pauses: Pauses::new(),
                mmu: crate::collector::mmu::MmuMeter::new(),
                pacer_next: crate::collector::PACER_STEP,
                last_yield: Instant::now(),
            },
            tag: 0,
            solo: false,
            owned: crate::owned::Owned::default(),
            faults: Arc::clone(&faults),
        };
        let collector = &heap.collector;
        let rec = heap
            .solo
            .attach(|| collector.register(|id, tag| MutatorRecord::new(id, tag, core)), || collector.attached())?;
        let heap = Arc::clone(&heap);
        Some(Mutator {
            rec,
            heap,
            drops: Rc::new(RefCell::new(Vec::new())),
            faults,
            commits: 0,
            allocations: 0,
            given_back: 0,
            conflicts: 0,
            last_version: (0, false),
            _thread_bound: PhantomData,
        })
    }

    /// Become RUNNING: the commit point. Fast path: a store, a compiler
    /// fence and one load of our own flag (`MutatorRecord::enter`).
    #[inline]
    fn enter<'a>(rec: &'a MutatorRecord, heap: &HeapInner) -> Running<'a> {
        match rec.enter() {
            Entered::Running(r) => r,
            Entered::Pending(p) => Self::enter_slow(p, heap),
        }
    }

    #[cold]
    #[inline(never)]
    fn enter_slow<'a>(entry: PendingEntry<'a>, heap: &HeapInner) -> Running<'a> {
        let clock = PauseClock::start();
        let mut verify_wait = std::time::Duration::ZERO;
        let v0 = heap.collector.verifications.load(Ordering::Acquire);
        let rec = entry.record();
        let mut me = entry.lock();
        if v0 % 2 == 1 || heap.collector.verifications.load(Ordering::Acquire) != v0 {
            // Blocked behind the verifier's stop-the-world: not a pause.
            verify_wait += clock.wall();
        }
        loop {
            rec.pending.store(false, Ordering::Relaxed);
            crate::solo::apply(rec, me.state());
            crate::owned::apply(rec, me.state());
            let w = heap.collector.word.load(Ordering::Acquire);
            if rec.acked.load(Ordering::Relaxed) == w {
                break;
            }
            if word::phase(w) == word::VERIFY {
                // Stop for the verifier: parked, lock released, until the
                // word moves on; then come back in as at any commit point.
                // The verifier's stop-the-world is a test facility, not a
                // pause of the collector: leave it out of the pause figures.
                rec.acked.store(w, Ordering::Release);
                verify_wait += me.park_while(|| heap.collector.wait_word_change(w));
                continue;
            }
            // A panic in the answer (an injected fault: FT3 of
            // `crate::fault`) leaves the flag raised, so the thread's next
            // commit point answers again, in full: MARK is not awaited, and
            // a thread that attached during marking would otherwise run on
            // with its barrier off until the next termination round.
            let reraise = Reraise(&rec.pending);
            respond(heap, me.state(), w, true);
            std::mem::forget(reraise);
            rec.acked.store(w, Ordering::Release);
        }
        let (state, handoff) = me.state_and_handoff();
        state.gc.record_pause(&clock, verify_wait);
        handoff.pauses.add(&state.gc.pauses);
        state.gc.pauses.reset();
        me.unlock()
    }

    /// [`Mutator::transaction`] for a body that never gives up on purpose:
    /// its error type is `Infallible`, so no `::<_, ()>` is needed, and a
    /// helper written for any `E` (`fn f<'tx, E>(tx: &mut Tx<'tx>, ...) ->
    /// Result<_, Abort<E>>`) is called with `?` as usual.
    ///
    /// ```
    /// use tmgc::{Abort, Config, Gc, Heap, Trace, Tx, Value};
    /// #[derive(Trace)]
    /// struct Counter { n: Value<u64> }
    ///
    /// // A helper: generic in the caller's user error, conflicts stay conflicts.
    /// fn bump<'tx, E>(tx: &mut Tx<'tx>, c: Gc<'tx, Counter>) -> Result<u64, Abort<E>> {
    ///     let n = tx.get(c, |c| &c.n)? + 1;
    ///     tx.set(c, |c| &c.n, n)?;
    ///     Ok(n)
    /// }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let root = m.atomically(|tx| {
    ///     let c = tx.alloc(Counter { n: Value::new(0) })?;
    ///     Ok(tx.root(c))
    /// }).unwrap();
    /// let n = m.atomically(|tx| {
    ///     let c = tx.get_root(&root)?;
    ///     bump(tx, c)
    /// });
    /// assert_eq!(n.unwrap(), 1);
    /// ```
    pub fn atomically<R>(
        &mut self,
        body: impl for<'tx> FnMut(&mut Tx<'tx>) -> Result<R, Abort<std::convert::Infallible>>,
    ) -> Result<R, TxError<std::convert::Infallible>> {
        self.transaction(body)
    }

    /// Run `body` as a transaction; see the [module docs](crate::mutator)
    /// for retries, parking, the heap limit and nesting.
    ///
    /// `R` is what the body returns on success; `E` is the error it may give
    /// up with on purpose (`Err(Abort::User(e))`, returned as
    /// [`TxError::Aborted`] without a retry). Rust
    /// cannot infer `E` from a body that never gives up: write
    /// `m.transaction::<_, ()>(...)`, as below, or use
    /// [`Mutator::atomically`].
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
        if crate::gcwork::inside() {
            return Err(TxError::InGcWork);
        }
        let backoff = crate::sync::Spin::new();
        let mut waited_for_memory = false;
        let rec: &MutatorRecord = &self.rec;
        let give_way;
        // The committed attempt leaves the loop with `break`, which drops
        // its `Tx` (and parks the thread) in place: moving the `Tx` out
        // (`drop(tx)`) cost a memcpy of it per transaction.
        let committed = loop {
            // The attempt owns the parking token: the thread parks only
            // when the attempt has committed or rolled back (H1 until then).
            let (core, running) = Self::enter(rec, &self.heap).into_parts();
            if core.alloc.allocated_bytes() >= core.gc.pacer_next {
                crate::collector::pace(core);
            }
            let mut tx = Tx::begin(core, &self.drops, running);
            // The tag of an owner the attempt met, if it conflicts (OW5).
            let wants = match body(&mut tx) {
                Ok(r) if tx.quiet_solo() => {
                    // Nothing allocated or given back to count, and no
                    // giving way with the barrier off (`Tx::quiet_solo`).
                    self.last_version = tx.commit_solo();
                    self.commits += 1;
                    give_way = false;
                    break r;
                }
                Ok(r) => match tx.commit_concurrent() {
                    Ok(v) => {
                        self.commits += 1;
                        self.allocations += tx.allocated() as u64;
                        self.given_back += tx.given_back() as u64;
                        self.last_version = v;
                        give_way = tx.yield_due();
                        break r;
                    }
                    Err(Conflict) => tx.abort(),
                },
                Err(Abort::Conflict) => tx.abort(),
                Err(Abort::User(e)) => {
                    tx.abort();
                    return Err(TxError::Aborted(e));
                }
                Err(Abort::Heap(e)) => {
                    let inevitable = tx.is_inevitable();
                    tx.abort();
                    let exhausted = matches!(e, AllocError::HeapExhausted { .. });
                    if !exhausted || inevitable || waited_for_memory {
                        return Err(TxError::Alloc(e));
                    }
                    // Rolled back; wait parked for a cycle that starts after
                    // the failure (trap 10), then retry once.
                    waited_for_memory = true;
                    let _ = self.heap.collector.collect_parked(&self.heap, true);
                    continue;
                }
                Err(Abort::Root(m)) => {
                    tx.abort();
                    return Err(TxError::Root(m));
                }
            };
            self.conflicts += 1;
            if wants != 0 {
                // Parked: ask the owner for its objects, and wait (OW5).
                crate::owned::revoke(&self.heap, wants);
            }
            // Do not spin against an inevitable transaction: wait it out,
            // parked (a blocking wait is a commit point).
            self.heap.wait_inevitable();
            backoff.snooze();
        };
        // Parked now. Giving way (docs/COLLECTOR.md): outside any pause.
        if give_way {
            std::thread::yield_now();
            self.heap.collector.gave_way.fetch_add(1, Ordering::Relaxed);
        }
        Ok(committed)
    }

    /// Fault injection (feature `fault-injection`): this mutator panics at
    /// `point` the next time it gets there (a stage of its commit, or its
    /// own answer to a handshake), once; the point replaces any armed
    /// before. Past the commit point the transaction is rolled forward
    /// before the panic reaches the caller (`point.commits()`), before it
    /// rolled back (FT1 to FT3 of [`tmgc::fault`](crate::fault)).
    /// `Err(point)` for a point that is not a mutator's (see
    /// [`Heap::inject_fault`](crate::Heap::inject_fault)).
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// use tmgc::fault::{FaultPoint, INJECTED};
    /// use tmgc::{Config, Heap, Trace, Value};
    /// #[derive(Trace)]
    /// struct Cell { v: Value<u64> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let root = m.transaction::<_, ()>(|tx| { let c = tx.alloc(Cell { v: Value::new(1) })?; Ok(tx.root(c)) }).unwrap();
    /// m.inject_fault(FaultPoint::RootCommit).unwrap();
    /// let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     m.transaction::<_, ()>(|tx| { let c = tx.get_root(&root)?; tx.set(c, |c| &c.v, 2)?; Ok(()) })
    /// }));
    /// let msg = r.unwrap_err().downcast::<String>().unwrap();
    /// assert!(msg.starts_with(INJECTED));
    /// assert_eq!(m.disarm_fault(), None, "it fired");
    /// // Past its commit point: the transaction was rolled forward (FT2).
    /// let v = m.transaction::<_, ()>(|tx| { let c = tx.get_root(&root)?; Ok(tx.get(c, |c| &c.v)?) });
    /// assert_eq!(v.unwrap(), 2);
    /// # }
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, point: crate::fault::FaultPoint) -> Result<(), crate::fault::FaultPoint> {
        if !point.in_mutator() {
            return Err(point);
        }
        self.faults.arm(point);
        Ok(())
    }

    /// Fault injection: disarm this mutator's point; the point if it was
    /// still armed (it had not fired), else `None`.
    #[cfg(feature = "fault-injection")]
    pub fn disarm_fault(&mut self) -> Option<crate::fault::FaultPoint> {
        self.faults.disarm()
    }

    /// Tests: whether this mutator's next commit point answers a request.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn pending(&self) -> bool {
        self.rec.pending.load(Ordering::SeqCst)
    }

    /// Tests: `inject_fault` without the feature.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fn arm_fault(&mut self, point: crate::fault::FaultPoint) {
        assert!(point.in_mutator());
        self.faults.arm(point);
    }

    /// A full collection, as [`Heap::collect`](crate::Heap::collect), after
    /// a commit point of this thread ([`Mutator::commit_point`]): the roots
    /// this thread dropped since its last transaction are gone before the
    /// cycle starts, so their objects can be freed by it. The thread also
    /// hands its current block back and reports the bytes it allocated,
    /// which it otherwise reports in batches (`fold_bytes`): they count in
    /// this cycle's `allocated_bytes` and `freed_bytes`, not a cycle late.
    ///
    /// ```
    /// use tmgc::{Config, Heap, Trace, Value};
    /// #[derive(Trace)]
    /// struct Big { n: Value<u64> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let (root, weak) = m.transaction::<_, ()>(|tx| {
    ///     let b = tx.alloc(Big { n: Value::new(1) })?;
    ///     let w = tx.new_weak(Some(b))?;
    ///     Ok((tx.root(b), tx.root(w)))
    /// }).unwrap();
    /// drop(root);
    /// let cycle = m.collect().unwrap();
    /// assert_eq!(cycle.weak_cleared, 1, "the object died in this very cycle");
    /// ```
    pub fn collect(&mut self) -> Result<crate::CycleStats, crate::CollectError> {
        if crate::gcwork::inside() {
            // Before the commit point: inside GC work it must do nothing (W0).
            return Err(crate::CollectError::InGcWork);
        }
        self.commit_point();
        // No transaction runs (`&mut self`), so no checkpoint is open.
        self.with_core(|c| c.alloc.retire_all()).expect("no checkpoint is open outside a transaction");
        self.heap.collector.collect(&self.heap, true)
    }

    /// Run the finalizers and cleanups that are due (their objects became
    /// unreachable: `Tx::register_finalizer`, `Tx::add_cleanup`), one after
    /// another on this thread, outside any transaction; returns how many
    /// ran. A finalizer that panics is caught and counted
    /// (`GcStats::finalizer_panics`), and the next ones still run. Call it
    /// where the program may run them (an event loop between events, a
    /// thread of its own); none runs otherwise.
    ///
    /// Inside code the collector runs (W0) it runs nothing and returns 0.
    pub fn run_finalizers(&mut self) -> usize {
        use crate::collector::finalize::Action;
        if crate::gcwork::inside() {
            return 0;
        }
        let mut n = 0;
        while let Some((id, obj, action)) = self.heap.collector.finals.take() {
            let heap = std::sync::Arc::clone(&self.heap);
            let finals = &heap.collector.finals;
            let ran = match action {
                Action::Cleanup(f) => {
                    finals.done(id);
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                }
                Action::Finalize(f) => {
                    let obj = obj.expect("a finalizer has its object");
                    // F2: the object stays a queue root until this commit
                    // has made it a root of this thread.
                    let root = self
                        .transaction::<_, ()>(|tx| {
                            // SAFETY: a queued object is unfreed (F2) and
                            // held by the queue until this root commits.
                            Ok(tx.root(unsafe { crate::Gc::<crate::Dyn>::from_header(obj) }))
                        })
                        .expect("a transaction that only creates a root commits");
                    finals.done(id);
                    let me = &mut *self;
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || f(me, root)))
                }
            };
            finals.ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if ran.is_err() {
                finals.panicked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            n += 1;
        }
        n
    }

    /// Run every registered finalizer and cleanup now, whether its object
    /// is reachable or not, then the ones already due; returns how many
    /// ran. For a program's exit (as Boehm's `GC_finalize_all`): dropping
    /// the `Heap` runs no finalizer (docs/FINALIZATION.md). A finalizer of
    /// a reachable object runs while the object stays reachable; its
    /// registration is used up either way. Registrations made while this
    /// runs wait for their objects to die, as usual.
    pub fn finalize_all(&mut self) -> usize {
        if crate::gcwork::inside() {
            return 0;
        }
        self.heap.collector.finals.queue_all();
        self.run_finalizers()
    }

    /// A commit point outside any transaction: answer the collector now if
    /// it asked, and remove the roots dropped since this thread's last
    /// transaction (a dropped [`Root`](crate::Root) is otherwise removed at
    /// the next commit or abort). Rarely needed: a parked thread is
    /// answered for; [`Mutator::collect`] runs one before its cycle.
    ///
    /// Called from code the collector runs (a `Trace` impl, a destructor
    /// run by the sweep), it does nothing (W0, docs/COLLECTOR.md): that
    /// code may hold this thread's own lock, or the thread's state may be in
    /// the collector's hands.
    pub fn commit_point(&mut self) {
        if crate::gcwork::inside() {
            return;
        }
        let drops = &self.drops;
        let rec = &self.rec;
        self.with_core(|c| {
            if let Ok(mut d) = drops.try_borrow_mut() {
                for s in d.drain(..) {
                    c.roots.drop_root(s);
                }
            }
            c.roots.commit();
        });
        // Publish this thread's recent pauses (commit barriers, mark
        // assists) to `Heap::stats` now rather than at the next handshake.
        let mut me = Self::enter(rec, &self.heap).lock();
        let (state, handoff) = me.state_and_handoff();
        handoff.pauses.add(&state.gc.pauses);
        state.gc.pauses.reset();
    }

    /// Run `f` on this thread's state at a commit point. Panics inside GC
    /// work (W0): the state may be in the collector's hands there, and the
    /// collector may hold this thread's lock (the verifier's stop), so the
    /// commit point would deadlock.
    fn with_core<T>(&self, f: impl FnOnce(&mut MutatorState) -> T) -> T {
        assert!(!crate::gcwork::inside(), "Mutator {}", crate::error::IN_GC_WORK);
        // (H1) through the guard; no transaction is running (it would
        // borrow `self` mutably).
        f(Self::enter(&self.rec, &self.heap).state())
    }

    /// Bytes this mutator has allocated and kept: aborted attempts are
    /// excluded, and so are the new objects of a commit that published
    /// none of them (CM3 of `tx/commit.rs`: given back at the commit).
    ///
    /// # Panics
    /// Inside code the collector runs (W0 of docs/COLLECTOR.md).
    pub fn allocated_bytes(&self) -> u64 {
        self.with_core(|c| c.alloc.allocated_bytes())
    }

    /// The last committed transaction's version: `(version, wrote)`. A
    /// writer's is its write version, larger than the version of every
    /// object it read or overwrote; a read-only transaction's is its read
    /// version. A transaction that read or overwrote another's writes has a
    /// larger version than it, but independent writers may share a version
    /// (the clock is lazy, see `Tx`), so versions alone are not a serial
    /// order. In solo mode ([`Mutator::is_solo`]), and for a transaction
    /// that touched only objects its mutator owns ([`Config::owned`](crate::Config::owned)),
    /// commits advance no version: a writer reports its read version,
    /// which can be lower than what the same thread's earlier commits
    /// reported.
    pub fn last_commit_version(&self) -> (u64, bool) {
        self.last_version
    }

    /// Transactions committed and conflicts retried by this mutator.
    pub fn tx_counts(&self) -> crate::heap::TxCounts {
        crate::heap::TxCounts {
            commits: self.commits,
            conflicts: self.conflicts,
            allocations: self.allocations,
            given_back: self.given_back,
            owned_taken: 0,
            owned_asked: 0,
        }
    }

    /// Committed roots of this thread (what a root scan would report).
    ///
    /// # Panics
    /// Inside code the collector runs (W0 of docs/COLLECTOR.md).
    pub fn root_count(&self) -> usize {
        self.with_core(|c| c.roots.scan().count())
    }

    /// Whether this mutator's transactions run in solo mode: it is the only
    /// mutator attached to its heap, and [`Config::solo`](crate::Config::solo)
    /// is on. A commit point (as [`Mutator::commit_point`]): it takes up a
    /// grant or a revocation made since this thread's last transaction, so
    /// it reflects the attaches and detaches that completed before the
    /// call (a thread still starting up has not attached yet).
    ///
    /// ```
    /// use tmgc::{Config, Heap};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let m = heap.attach().unwrap();
    /// assert!(m.is_solo());
    /// let h = heap.clone();
    /// std::thread::spawn(move || {
    ///     let other = h.attach().unwrap(); // revokes the grant first
    ///     assert!(!other.is_solo());
    /// }).join().unwrap();
    /// // The other mutator detached: alone again, solo again.
    /// assert!(m.is_solo());
    /// ```
    ///
    /// # Panics
    /// Inside code the collector runs (W0 of docs/COLLECTOR.md).
    pub fn is_solo(&self) -> bool {
        self.with_core(|c| c.solo)
    }

    /// This mutator's id in [`crate::GcStats::per_mutator`].
    pub fn id(&self) -> u64 {
        self.rec.id
    }
}

/// The mutator's id and its own counts; nothing is locked, so it prints
/// anywhere, even from code the collector runs.
///
/// ```
/// let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
/// let mut m = heap.attach().unwrap();
/// m.atomically(|_| Ok(())).unwrap();
/// assert!(format!("{m:?}").starts_with(&format!("Mutator {{ id: {}, commits: 1", m.id())));
/// ```
impl std::fmt::Debug for Mutator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutator")
            .field("id", &self.rec.id)
            .field("commits", &self.commits)
            .field("conflicts", &self.conflicts)
            .field("allocations", &self.allocations)
            .finish_non_exhaustive()
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        if crate::gcwork::inside() {
            // A commit point here could deadlock (W0), and a drop cannot
            // fail: the mutator stays attached and parked (the collector
            // answers for it; its roots stay, its blocks are not given
            // back). Said once per process.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "tmgc: a Mutator dropped inside code the collector runs (a Trace impl or a destructor) \
                     stays attached: its roots and blocks are kept (docs/COLLECTOR.md, W0)"
                );
            }
            return;
        }
        let rec: &MutatorRecord = &self.rec;
        let heap = Arc::clone(&self.heap);
        let pauses;
        {
            let mut me = Self::enter(rec, &self.heap).lock();
            let (core, handoff) = me.state_and_handoff();
            // Hand over what the collector needs from us; our blocks go back
            // to the space (they are swept like any others); our roots go
            // away with us.
            heap.collector.grey.push_packet(std::mem::take(&mut core.gc.grey));
            // RS3: our old holders' entries outlive us.
            heap.collector.remset.hand_over(&mut core.gc.remset);
            // OW7: nothing stays owned by a tag that is about to be freed.
            crate::owned::release_all(core);
            let _ = core.alloc.retire_all();
            handoff.pauses.add(&core.gc.pauses);
            pauses = handoff.pauses.clone();
            me.detach(); // stays DETACHED, never PARKED
        }
        heap.solo.detach(rec, || {
            heap.collector.unregister(rec, &pauses);
            heap.collector.snapshot()
        });
        // Short-lived threads may never reach a pacer check of their own:
        // the bytes they allocated (folded into the space by `retire_all`)
        // still count.
        heap.collector.request_if_due(&heap.space);
        heap.commits.fetch_add(self.commits, Ordering::Relaxed);
        heap.conflicts.fetch_add(self.conflicts, Ordering::Relaxed);
        heap.allocations.fetch_add(self.allocations, Ordering::Relaxed);
        heap.given_back.fetch_add(self.given_back, Ordering::Relaxed);
        detach(&heap);
    }
}

/// Raises a record's `pending` flag again when dropped: `enter_slow` holds
/// one over each answer and forgets it once the answer is complete, so an
/// answer cut short by a panic is answered again at the next commit point.
struct Reraise<'a>(&'a crate::sync::AtomicBool);

impl Drop for Reraise<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
