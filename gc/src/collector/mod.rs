//! The collector: concurrent mark-sweep, synchronised with commit points.
//!
//! One cycle (docs/COLLECTOR.md has the invariants and the argument):
//! 1. **REQ(e)** handshake: every thread turns its commit barrier on and
//!    shades its own roots at its own commit point (or the collector does it
//!    for a parked thread under the thread's lock). No stop-the-world.
//! 2. **T**: every acknowledgement is in; the collector shades the global
//!    roots and publishes **MARK(e)**: transactions begun from now on
//!    allocate black.
//! 3. **Marking** by the configured [`Marker`], then **termination rounds**
//!    (FLUSH handshakes collecting every thread's barrier buffer) until a
//!    round brings no new grey object.
//! 4. Optionally the **verifier** stops the world and re-traces.
//! 5. **SWEEP(e)**: the sweep epoch begins; every thread retires its blocks
//!    and turns its barrier off at its commit point; blocks are swept by
//!    allocators (lazily) and by the collector (eagerly, running
//!    destructors outside transactions); then the mark bitmaps are cleared.
//!
//! Cycles are serialised by `cycle`; they run on the background collector
//! thread or, with [`Config::background`](crate::Config) off, on whichever
//! thread calls [`Heap::collect`](crate::Heap::collect) or waits for memory.

pub mod mark;
pub mod stats;

pub(crate) mod handshake;
mod terminate;
mod verify;
pub(crate) mod weak;

#[cfg(all(test, not(tmgc_loom)))]
mod mark_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod panic_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod trap_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod weak_tests;

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::header::Header;
use crate::heap::HeapInner;
use crate::sync::{lock, AtomicU64, Condvar, Mutex, Spin};
use handshake::{raise, try_complete, word, Record, DETACHED, PARKED};

/// How long a handshake waits for parked threads to answer by themselves
/// before the collector answers for them (`await_acks`).
const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_micros(200);
use mark::{shade, GreySet, MarkReport, MarkWork, Marker};
use stats::{CycleStats, GcStats, Pauses};
use weak::WeakPhase;

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
            CollectError::InGcWork => write!(f, "{}", crate::error::IN_GC_WORK),
        }
    }
}

impl std::error::Error for CollectError {}

/// Cycle requests and completions, shared with the background thread (which
/// holds it and only a weak reference to the heap).
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    work: Condvar,
    done: Condvar,
    /// Wakes threads parked in a VERIFY stop.
    word: Condvar,
}

#[derive(Default)]
struct SignalState {
    requested: u64,
    started: u64,
    done: u64,
    shutdown: bool,
    /// Verification failures of completed cycles, by cycle number.
    failures: Vec<(u64, String)>,
    /// Set when marking (`TracePanicked`) or the collector (`Panicked`)
    /// panicked: no cycle runs any more, and every request gets this.
    broken: Option<CollectError>,
}

/// Collector state that lasts across cycles (guarded by `cycle`).
#[derive(Default)]
struct CycleState {
    seq: u64,
    epoch: u64,
    live_bytes: u64,
}

struct StatsState {
    cycles: u64,
    recent: VecDeque<CycleStats>,
    max_cycle: Duration,
    total: Duration,
    peak_heap: u64,
    /// Pauses of detached mutators.
    detached_pauses: Pauses,
}

/// Attached mutators, and the writer tags not in use.
#[derive(Default)]
struct Registry {
    records: Vec<Arc<Record>>,
    /// Tags of mutators that detached, to reuse (1 ..= `next_tag`).
    free_tags: Vec<u32>,
    /// The largest tag handed out so far.
    next_tag: u32,
}

/// The collector's shared state, one per heap.
pub(crate) struct Collector {
    /// The current request (see `handshake::word`).
    pub(crate) word: CachePadded<AtomicU64>,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    pub(crate) grey: GreySet,
    /// The weak-read phases (P7; `weak.rs`).
    pub(crate) weak_gate: weak::WeakGate,
    /// Published weak cells, cleared when their referents die.
    pub(crate) weak_cells: weak::Registry,
    cycle: Mutex<CycleState>,
    pub(crate) signal: Arc<Signal>,
    stats: Mutex<StatsState>,
    pub(crate) marker: Box<dyn Marker>,
    pub(crate) config: GcConfig,
    /// Allocated bytes (since the cycle start) that trigger the next cycle.
    pub(crate) trigger_bytes: AtomicU64,
    /// Odd while the verifier holds the world stopped (bumped at its start
    /// and end), so waits behind it are not counted as pauses.
    pub(crate) verifications: AtomicU64,
    /// More threads want a core while marking runs (attached mutators plus
    /// the collector's own) than the machine has: mutators then give way
    /// between transactions (`Tx::yield_due`). Updated at attach and detach.
    /// A scheduling hint that no protocol depends on: `std`'s atomic even
    /// under loom, so the models do not explore its accesses.
    crowded: std::sync::atomic::AtomicBool,
    /// The machine's cores (`available_parallelism`, read once).
    cores: usize,
    /// Times a thread gave way (`GcStats::gave_way`); a statistic only.
    pub(crate) gave_way: std::sync::atomic::AtomicU64,
    /// Tests only: the point of a cycle where the collector panics on
    /// purpose (`Fault`), to test recovery.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) fault: std::sync::atomic::AtomicU8,
    /// Tests only: the `Hold` point where a cycle waits while this holds
    /// it (`hold_point`), setting `held` when it gets there; 0 for none.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) hold: std::sync::atomic::AtomicU8,
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) held: std::sync::atomic::AtomicBool,
}

/// Points where a test holds a cycle (`Collector::hold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// After the last termination round, before marking closes.
    BeforeClose = 1,
    /// Marking closed (and verified), weak cells not yet cleared.
    BeforeWeakClearing,
}

/// Points where a test makes the collector panic (`Collector::fault`
/// holds one, or 0 for none). In other builds they cost nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// At the start of a cycle, before any request.
    CycleStart = 1,
    /// In the verifier's stop, with every thread held at VERIFY.
    VerifyStop,
    /// After the sweep epoch began, before the SWEEP request.
    SweepBegun,
}

/// How often threads give up their CPU while the collector marks on a
/// crowded machine (`Collector::crowded`): mutators between transactions
/// (`Tx::yield_due`), markers every 256 objects (`MarkWork::give_way`).
/// Shorter than a scheduler tick (4 ms at 250 Hz), so a mutator preempted
/// in the middle of GC work at a commit point gets its core back within
/// about a quantum: docs/COLLECTOR.md, "Giving way".
pub(crate) const YIELD_QUANTUM: std::time::Duration = std::time::Duration::from_micros(100);

/// The collector's part of [`crate::Config`].
#[derive(Clone, Debug)]
pub(crate) struct GcConfig {
    pub(crate) growth_factor: f64,
    pub(crate) min_trigger_bytes: u64,
    pub(crate) verify: bool,
    pub(crate) background: bool,
    pub(crate) give_way: bool,
}

impl Collector {
    pub(crate) fn new(config: GcConfig, marker: Box<dyn Marker>) -> Collector {
        let c = Collector {
            word: CachePadded::new(AtomicU64::new(word::make(0, 0, word::IDLE))),
            registry: Mutex::new(Registry::default()),
            crowded: std::sync::atomic::AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            grey: GreySet::default(),
            weak_gate: weak::WeakGate::new(),
            weak_cells: weak::Registry::default(),
            cycle: Mutex::new(CycleState::default()),
            signal: Arc::new(Signal {
                state: Mutex::new(SignalState::default()),
                work: Condvar::new(),
                done: Condvar::new(),
                word: Condvar::new(),
            }),
            stats: Mutex::new(StatsState {
                cycles: 0,
                recent: VecDeque::new(),
                max_cycle: Duration::ZERO,
                total: Duration::ZERO,
                peak_heap: 0,
                detached_pauses: Pauses::new(),
            }),
            trigger_bytes: AtomicU64::new(config.min_trigger_bytes),
            verifications: AtomicU64::new(0),
            #[cfg(all(test, not(tmgc_loom)))]
            fault: std::sync::atomic::AtomicU8::new(0),
            #[cfg(all(test, not(tmgc_loom)))]
            hold: std::sync::atomic::AtomicU8::new(0),
            #[cfg(all(test, not(tmgc_loom)))]
            held: std::sync::atomic::AtomicBool::new(false),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            gave_way: std::sync::atomic::AtomicU64::new(0),
            marker,
            config,
        };
        c.update_crowded(0);
        c
    }

    // ---- registry ----

    /// Register a new mutator, with the smallest free writer tag (see
    /// `flags::vlock`); `None` if `vlock::MAX_TAG` mutators are attached.
    /// Under the registry lock, so a cycle's snapshot of the registry
    /// either includes it (and waits for it) or was taken before, and then
    /// the new record's raised `pending` makes its first commit point answer
    /// the current word (trap 4). A tag is reused only after its previous
    /// owner unregistered, so that owner's commits happen before the new
    /// owner's transactions (the lazy clock's rule for own versions, `tx/mod.rs`).
    pub(crate) fn register(&self, make: impl FnOnce(u64, u32) -> Record) -> Option<Arc<Record>> {
        let mut reg = lock(&self.registry);
        let tag = match reg.free_tags.pop() {
            Some(t) => t,
            None if reg.next_tag < crate::flags::vlock::MAX_TAG => {
                reg.next_tag += 1;
                reg.next_tag
            }
            None => return None,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let rec = Arc::new(make(id, tag));
        reg.records.push(Arc::clone(&rec));
        self.update_crowded(reg.records.len());
        Some(rec)
    }

    pub(crate) fn unregister(&self, rec: &Record, pauses: &Pauses) {
        {
            let mut reg = lock(&self.registry);
            reg.records.retain(|r| !std::ptr::eq(&**r, rec));
            reg.free_tags.push(rec.tag);
            self.update_crowded(reg.records.len());
        }
        lock(&self.stats).detached_pauses.add(pauses);
    }

    /// Recompute `crowded` for `mutators` attached: the marker's own
    /// threads (a parallel marker's, whoever runs the cycle) or else the
    /// collector thread, if there is one. The assisted marker counts its
    /// collector thread too: it sweeps eagerly and marks when assists stop.
    /// Markers read the flag when marking starts; mutators at each commit.
    fn update_crowded(&self, mutators: usize) {
        let own = self.marker.own_threads();
        let gc_threads = if own > 0 { own } else { usize::from(self.config.background) };
        self.crowded.store(self.config.give_way && mutators + gc_threads > self.cores, Ordering::Relaxed);
    }

    /// Whether mutators should give way between transactions while the
    /// barrier is on (see the field).
    #[inline]
    pub(crate) fn crowded(&self) -> bool {
        self.crowded.load(Ordering::Relaxed)
    }

    /// How many mutators are attached.
    pub(crate) fn attached(&self) -> usize {
        lock(&self.registry).records.len()
    }

    /// The attached mutators' records.
    pub(crate) fn snapshot(&self) -> Vec<Arc<Record>> {
        lock(&self.registry).records.clone()
    }

    // ---- requests ----

    /// Publish a new request word and raise every thread's flag.
    fn request(&self, cs: &mut CycleState, phase: u64) -> (u64, Vec<Arc<Record>>) {
        cs.seq += 1;
        let w = word::make(cs.seq, cs.epoch, phase);
        self.word.store(w, Ordering::SeqCst);
        // Wake threads parked in a VERIFY stop (they wait for the word).
        {
            let _s = lock(&self.signal.state);
            self.signal.word.notify_all();
        }
        let recs = self.snapshot();
        raise(&recs);
        (w, recs)
    }

    /// Wait until every thread of `recs` answered `w` (itself, or through
    /// the collector while parked).
    fn await_acks(&self, heap: &HeapInner, w: u64, mut recs: Vec<Arc<Record>>) {
        let spin = Spin::new();
        let start = std::time::Instant::now();
        loop {
            // Answer for parked threads only after a grace period: a busy
            // thread, parked for a moment between two transactions, answers
            // by itself at its next commit point. Were the collector to
            // answer for it, the thread would block on its own handoff lock
            // meanwhile, and if the collector were preempted holding it, the
            // thread would wait a scheduler time slice (milliseconds).
            let for_parked = cfg!(tmgc_loom) || start.elapsed() >= ANSWER_GRACE;
            recs.retain(|r| !try_complete(heap, r, w, for_parked));
            if recs.is_empty() {
                return;
            }
            spin.wait();
        }
    }

    /// Park the calling thread until the word is no longer `w`.
    pub(crate) fn wait_word_change(&self, w: u64) {
        let mut s = lock(&self.signal.state);
        while self.word.load(Ordering::Acquire) == w {
            s = self.signal.word.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    // ---- triggering and waiting ----

    /// Ask for a cycle that starts after now; returns its number.
    pub(crate) fn request_cycle(&self) -> u64 {
        let mut s = lock(&self.signal.state);
        let target = s.started + 1;
        if s.requested < target {
            s.requested = target;
            self.signal.work.notify_all();
        }
        target
    }

    /// Whether a cycle is requested and not yet started.
    pub(crate) fn cycle_pending(&self) -> bool {
        let s = lock(&self.signal.state);
        s.requested > s.started
    }

    /// Run or wait for a full cycle that starts after now. The calling
    /// thread's mutator, if any, must be parked.
    pub(crate) fn collect(&self, heap: &HeapInner) -> Result<CycleStats, CollectError> {
        if crate::gcwork::inside() {
            return Err(CollectError::InGcWork);
        }
        let me = crate::sync::thread_id();
        if self.snapshot().iter().any(|r| r.owner == me && r.state.load(Ordering::Acquire) == handshake::RUNNING) {
            // The cycle would wait for this thread's commit point, and this
            // thread for the cycle.
            return Err(CollectError::InTransaction);
        }
        self.collect_parked(heap)
    }

    /// `collect` for a caller known to be parked (the transaction loop
    /// waiting for memory).
    pub(crate) fn collect_parked(&self, heap: &HeapInner) -> Result<CycleStats, CollectError> {
        let target = self.request_cycle();
        if self.config.background {
            let mut s = lock(&self.signal.state);
            while s.done < target && !s.shutdown {
                s = self.signal.done.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if let Some(e) = &s.broken {
                return Err(e.clone());
            }
            if s.done < target {
                return Err(CollectError::Shutdown);
            }
            if let Some((_, m)) = s.failures.iter().find(|(c, _)| *c >= target) {
                return Err(CollectError::Verify(m.clone()));
            }
            drop(s);
            let st = lock(&self.stats);
            return Ok(st.recent.iter().find(|c| c.cycle >= target).copied().unwrap_or_default());
        }
        // No background thread: run cycles here until ours is done.
        loop {
            let (n, r) = self.run_requested(heap);
            if n.is_some_and(|n| n >= target) || lock(&self.signal.state).done >= target {
                return match r {
                    Some(r) if n.is_some_and(|n| n >= target) => r,
                    _ => Ok(CycleStats::default()),
                };
            }
        }
    }

    /// Start and run the next requested cycle (if one is still wanted).
    fn run_requested(&self, heap: &HeapInner) -> (Option<u64>, Option<Result<CycleStats, CollectError>>) {
        let mut cs = lock(&self.cycle);
        let n = {
            let mut s = lock(&self.signal.state);
            if s.requested <= s.started {
                return (None, None);
            }
            s.started += 1;
            if let Some(e) = s.broken.clone() {
                // Collection stopped for good: answer at once.
                s.done = s.started;
                self.signal.done.notify_all();
                return (Some(s.started), Some(Err(e)));
            }
            s.started
        };
        // Everything the cycle runs (Trace impls, the verifier, destructors
        // in the sweep) is GC work: it cannot re-enter the heap (W0).
        let work = crate::gcwork::GcWork::enter();
        let cycle = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_cycle(heap, &mut cs, n)));
        drop(work);
        let r = cycle.unwrap_or_else(|p| Err(self.recover(heap, &mut cs, p)));
        let mut s = lock(&self.signal.state);
        s.done = n;
        match &r {
            Err(CollectError::Verify(m)) => s.failures.push((n, m.clone())),
            Err(e @ (CollectError::TracePanicked(_) | CollectError::Panicked(_))) => s.broken = Some(e.clone()),
            _ => {}
        }
        self.signal.done.notify_all();
        (Some(n), Some(r))
    }

    // ---- the cycle ----

    /// Tests only: wait at `point` while a test holds the cycle there
    /// (`hold`), after setting `held`.
    #[inline(always)]
    fn hold_point(&self, point: Hold) {
        #[cfg(all(test, not(tmgc_loom)))]
        if self.hold.load(Ordering::SeqCst) == point as u8 {
            self.held.store(true, Ordering::SeqCst);
            while self.hold.load(Ordering::SeqCst) == point as u8 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = point;
    }

    /// Tests only: panic here if a test asked for a fault at `point`.
    #[inline(always)]
    fn fault_point(&self, point: Fault) {
        #[cfg(all(test, not(tmgc_loom)))]
        if self.fault.load(Ordering::Relaxed) == point as u8 {
            panic!("injected collector fault: {point:?}");
        }
        let _ = point;
    }

    fn run_cycle(&self, heap: &HeapInner, cs: &mut CycleState, n: u64) -> Result<CycleStats, CollectError> {
        let t0 = Instant::now();
        let space = &heap.space;
        let allocated = space.take_allocated_bytes().max(0) as u64;
        let live_before = cs.live_bytes;
        cs.epoch += 1;
        debug_assert_eq!(space.unswept_blocks(), 0, "P0: the previous sweep is finished");
        self.fault_point(Fault::CycleStart);
        // Late shades of the previous cycle (a thread with its barrier still
        // on, detaching before it answered SWEEP) are stale: their marks
        // were cleared with the rest.
        while self.grey.take_packet().is_some() {}
        // Weak reads shade from now on: one that a transaction makes before
        // its thread answers REQ may be stored into an object after T.
        self.weak_gate.switch(WeakPhase::Shade, || true);

        // 1. REQ(e): barriers on, roots shaded by each thread (P1).
        let (w, recs) = self.request(cs, word::REQ);
        self.await_acks(heap, w, recs);

        // 2. T: global roots shaded now, not at the request (trap 3).
        let mut grey = Vec::new();
        for g in heap.globals.scan() {
            // SAFETY: a global root keeps its object alive; nothing is swept
            // during marking.
            unsafe { shade(g.cast::<Header>(), &mut grey) };
        }
        self.grey.push_packet(grey);
        let to_t = t0.elapsed();
        let _ = self.request(cs, word::MARK);

        // 3. Mark, then termination rounds until no new grey object (P6).
        let work = MarkWork { grey: &self.grey, give_way: self.crowded().then_some(&self.gave_way) };
        let mut report = MarkReport::default();
        let mut rounds = 0;
        loop {
            let drained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.marker.drain(&work)));
            match drained {
                Ok(r) => report += r,
                Err(p) => return Err(self.abandon(heap, cs, p)),
            }
            let before = self.grey.handed();
            let (w, recs) = self.request(cs, word::FLUSH);
            self.await_acks(heap, w, recs);
            rounds += 1;
            // Close (P7): with no weak read inside the gate, a grey set
            // still empty means nothing new; else a weak read shaded after
            // the round, and marking goes on.
            if self.grey.handed() == before && self.grey.is_empty() {
                self.hold_point(Hold::BeforeClose);
                if self.weak_gate.switch(WeakPhase::Closed, || self.grey.is_empty()) {
                    break;
                }
            }
        }
        let mark = t0.elapsed() - to_t;

        // 4. Verification (stop-the-world; tests and the stress harness).
        let mut result = Ok(());
        if self.config.verify {
            match self.verify_stopped(heap, cs) {
                Ok(r) => result = r,
                // A `Trace` implementation panicked in the re-trace: as in
                // marking, the cycle is abandoned and nothing is freed.
                Err(p) => return Err(self.abandon(heap, cs, p)),
            }
        }

        // Weak cells to objects the marker did not reach are cleared before
        // anything is freed; then weak reads return what they find (W3).
        self.hold_point(Hold::BeforeWeakClearing);
        // SAFETY: marking is closed and complete (CLOSED), and this cycle's
        // sweep has not begun.
        let weak = unsafe { self.weak_cells.clear_dead() };
        self.weak_gate.switch(WeakPhase::Idle, || true);

        // 5. SWEEP(e).
        space.begin_sweep();
        self.fault_point(Fault::SweepBegun);
        let (w, recs) = self.request(cs, word::SWEEP);
        self.await_acks(heap, w, recs);
        let mut dropped = 0u64;
        let spin = Spin::new();
        loop {
            dropped += space.sweep().objects_dropped as u64;
            if space.unswept_blocks() == 0 {
                break;
            }
            spin.wait();
        }
        space.clear_marks();

        let st = space.stats();
        cs.live_bytes = st.live_bytes as u64;
        let trigger = ((cs.live_bytes as f64) * self.config.growth_factor) as u64;
        self.trigger_bytes.store(trigger.max(self.config.min_trigger_bytes), Ordering::Relaxed);
        let cycle = CycleStats {
            cycle: n,
            duration: t0.elapsed(),
            to_t,
            mark,
            rounds,
            marked_objects: report.objects,
            marked_bytes: report.bytes,
            allocated_bytes: allocated,
            live_bytes: cs.live_bytes,
            freed_bytes: (live_before + allocated).saturating_sub(cs.live_bytes),
            heap_bytes: st.heap_bytes as u64,
            objects_dropped: dropped,
            weak_cleared: weak.cleared,
            verified: self.config.verify,
        };
        let mut s = lock(&self.stats);
        s.cycles += 1;
        s.max_cycle = s.max_cycle.max(cycle.duration);
        s.total += cycle.duration;
        s.peak_heap = s.peak_heap.max(cycle.heap_bytes);
        if s.recent.len() == 64 {
            s.recent.pop_front();
        }
        s.recent.push_back(cycle);
        drop(s);
        result.map(|()| cycle)
    }

    /// Marking panicked (a `Trace` implementation did): marking is
    /// incomplete, so nothing may be freed. Bring every thread back to the
    /// idle state (SWEEP answers: blocks retired, white allocation, barrier
    /// off) without starting a sweep epoch, drop the grey set, clear the
    /// marks. The caller records the collector as broken: no later cycle
    /// runs, so nothing is ever freed on the strength of these marks.
    fn abandon(&self, heap: &HeapInner, cs: &mut CycleState, p: Box<dyn std::any::Any + Send>) -> CollectError {
        let (w, recs) = self.request(cs, word::SWEEP);
        self.await_acks(heap, w, recs);
        while self.grey.take_packet().is_some() {}
        // No sweep follows: weak reads may return what they find.
        self.weak_gate.switch(WeakPhase::Idle, || true);
        heap.space.clear_marks();
        CollectError::TracePanicked(panic_message(&*p))
    }

    /// The collector panicked somewhere in a cycle other than a `Trace`
    /// call (a tmgc bug: an internal assertion, say). Where it stopped is
    /// unknown, so nothing more may be freed: the caller records the
    /// collector as broken and no later cycle runs. Release the threads:
    /// a SWEEP request moves the word off any phase they could be waiting
    /// in (a VERIFY stop) and turns their barriers off. No sweep epoch is
    /// begun here; if this cycle already began one, its marks are complete
    /// (the sweep begins only after marking and verification), so the lazy
    /// sweep finishing it stays correct, and the marks are left for it. If
    /// this recovery panics too, the word has still moved on: the threads
    /// answer it themselves at their commit points.
    fn recover(&self, heap: &HeapInner, cs: &mut CycleState, p: Box<dyn std::any::Any + Send>) -> CollectError {
        let msg = panic_message(&*p);
        // A panic inside the verifier's stop left its counter odd, which
        // would keep every later handoff wait out of the pause figures.
        if self.verifications.load(Ordering::Acquire) % 2 == 1 {
            self.verifications.fetch_add(1, Ordering::AcqRel);
        }
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Weak reads return what they find: no sweep begins from here,
            // and if one had begun, its clearing was done (W3).
            self.weak_gate.switch(WeakPhase::Idle, || true);
            let (w, recs) = self.request(cs, word::SWEEP);
            self.await_acks(heap, w, recs);
            while self.grey.take_packet().is_some() {}
        }));
        CollectError::Panicked(msg)
    }

    /// Stop every mutator at a commit point (VERIFY request), hold each
    /// one's lock, and verify the heap. The outer `Err` is a panic of a
    /// `Trace` implementation during the re-trace (the threads are released
    /// first).
    #[allow(clippy::type_complexity)]
    fn verify_stopped(
        &self,
        heap: &HeapInner,
        cs: &mut CycleState,
    ) -> Result<Result<(), CollectError>, Box<dyn std::any::Any + Send>> {
        self.verifications.fetch_add(1, Ordering::AcqRel);
        let (_w, recs) = self.request(cs, word::VERIFY);
        let mut held = Vec::with_capacity(recs.len());
        held.resize_with(recs.len(), || None);
        let spin = Spin::new();
        loop {
            let mut all = true;
            for (i, r) in recs.iter().enumerate() {
                if held[i].is_some() || r.state.load(Ordering::Acquire) == DETACHED {
                    continue;
                }
                all = false;
                if r.state.load(Ordering::Acquire) == PARKED {
                    let g = lock(&r.handoff);
                    if r.state.load(Ordering::Acquire) == PARKED {
                        held[i] = Some(g);
                    }
                }
            }
            if all {
                break;
            }
            spin.wait();
        }
        let mut roots: Vec<(String, NonNull<Header>)> = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            if held[i].is_none() {
                continue; // detached
            }
            // SAFETY: (H2) we hold its lock and it is parked.
            let core = unsafe { r.core_mut() };
            core.alloc.flush_marks(); // publish staged start bits for the check
            roots.extend(core.roots.scan().map(|p| (format!("a root of mutator {}", r.id), p.cast())));
        }
        roots.extend(heap.globals.scan().into_iter().map(|p| ("a global root".to_string(), p.cast())));
        self.fault_point(Fault::VerifyStop);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: every mutator is parked and held (or detached),
            // marking is closed, and the sweep has not begun.
            unsafe { verify::verify(heap, roots) }
        }));
        // Moving on (to SWEEP, or the abandon's SWEEP) releases the stopped
        // threads (they wait for the word to change, then for their lock).
        drop(held);
        self.verifications.fetch_add(1, Ordering::AcqRel);
        r.map(|r| r.map(|_| ()).map_err(CollectError::Verify))
    }

    // ---- mark assists ----

    /// Whether mutators should assist marking now.
    pub(crate) fn wants_assists(&self) -> bool {
        self.marker.wants_assists()
    }

    /// A mutator's assist (at a commit point): trace at most `budget` objects.
    pub(crate) fn assist(&self, budget: usize) -> u64 {
        let _work = crate::gcwork::GcWork::enter();
        self.marker.assist(&MarkWork { grey: &self.grey, give_way: None }, budget).objects
    }

    // ---- statistics ----

    pub(crate) fn stats(&self, heap: &HeapInner) -> GcStats {
        let recs = self.snapshot();
        let s = lock(&self.stats);
        let mut pauses = s.detached_pauses.clone();
        let mut per = Vec::new();
        for r in &recs {
            // `try_lock`: the verifier may hold a parked thread's lock while
            // it waits for the caller (if the caller is inside a
            // transaction); then that thread's figures are left out.
            let Ok(g) = r.handoff.try_lock() else { continue };
            let h = g.pauses.clone();
            drop(g);
            pauses.add(&h);
            per.push((r.id, h.wall));
        }
        let failures = lock(&self.signal.state).failures.iter().map(|(_, m)| m.clone()).collect();
        GcStats {
            cycles: s.cycles,
            recent: s.recent.iter().copied().collect(),
            max_cycle: s.max_cycle,
            total_cycle_time: s.total,
            heap_bytes: heap.space.heap_bytes() as u64,
            peak_heap_bytes: s.peak_heap,
            pauses: pauses.wall,
            pause_cpu: pauses.cpu,
            per_mutator: per,
            verify_failures: failures,
            weak_cells: self.weak_cells.len(),
            destructor_panics: heap.destructor_panics.load(Ordering::Relaxed),
            gave_way: self.gave_way.load(Ordering::Relaxed),
        }
    }
}

/// The message of a caught panic.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// Start the background collector thread for `heap`. It holds only a weak
/// reference between cycles, so dropping the last handle ends it.
#[cfg(not(tmgc_loom))]
pub(crate) fn spawn(heap: &Arc<HeapInner>) {
    let weak: std::sync::Weak<HeapInner> = Arc::downgrade(heap);
    let signal = Arc::clone(&heap.collector.signal);
    std::thread::Builder::new()
        .name("tmgc-collector".into())
        .spawn(move || collector_loop(&weak, &signal))
        .expect("spawn the collector thread");
}

#[cfg(not(tmgc_loom))]
fn collector_loop(weak: &std::sync::Weak<HeapInner>, signal: &Signal) {
    loop {
        {
            let mut s = lock(&signal.state);
            while s.requested <= s.started && !s.shutdown {
                s = signal.work.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.shutdown {
                return;
            }
        }
        let Some(heap) = weak.upgrade() else { return };
        heap.collector.run_requested(&heap);
    }
}

#[cfg(tmgc_loom)]
pub(crate) fn spawn(_heap: &Arc<HeapInner>) {}

impl Drop for Collector {
    fn drop(&mut self) {
        let mut s = lock(&self.signal.state);
        s.shutdown = true;
        self.signal.work.notify_all();
        self.signal.done.notify_all();
    }
}
