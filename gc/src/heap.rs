//! The heap: shared state of all mutators.
//!
//! - the **global version clock**, a lazy TL2 clock: commits read it but do
//!   not bump it; a transaction that meets a newer version from another
//!   thread advances it (see `tx/mod.rs`). Its top bit says an inevitable
//!   transaction runs (see `Tx::become_inevitable`);
//! - the allocation [`Space`](tmgc_alloc::Space), global roots, and the
//!   collector (`collector/`), which meets each mutator at its commit points.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::collector::stats::GcStats;
use crate::collector::{CollectError, Collector, GcConfig};
use crate::sync::{AtomicU64, Spin};
use tmgc_alloc::Space;
use tmgc_roots::GlobalRoots;

use crate::error::HeapError;
use crate::header::Header;
use crate::mutator::Mutator;

/// How a heap is set up: `Config::default()` and the setters below (the
/// same builder style as [`alloc::Config`](crate::alloc::Config); new
/// settings can come without breaking callers).
///
/// ```
/// let config = tmgc::Config::default()
///     .heap_limit(256 << 20)
///     .growth_factor(2.0); // let the heap grow to 3x live before a cycle
/// assert_eq!(config.get_growth_factor(), 2.0);
/// let heap = tmgc::Heap::new(config).unwrap();
/// ```
///
/// # Environment overrides
/// `Heap::new` applies these variables over the configuration it is
/// given (an operator's switch, like Go's `GOGC`: no recompiling). A
/// malformed value is an error (`HeapError::Env`), never ignored. Any
/// other `TMGC_*` variable (a misspelt one, say `TMGC_HEAP_LIMT`) is
/// named in a `log::warn!` by the process's first `Heap::new` (names
/// beginning `TMGC_BENCH_` or `TMGC_LOOM_` belong to this workspace's
/// tools and are passed over).
///
/// | variable | value | sets |
/// |---|---|---|
/// | `TMGC_GCTRACE` | `1` or `0` | `Config::gctrace`: one line per cycle on stderr |
/// | `TMGC_GROWTH_FACTOR` | a positive number | `Config::growth_factor` |
/// | `TMGC_MIN_TRIGGER_BYTES` | bytes (`64M`, `1G` and `512K` accepted: powers of 1,024) | `Config::min_trigger_bytes` |
/// | `TMGC_HEAP_LIMIT` | bytes, as above | `Config::heap_limit` |
/// | `TMGC_VERIFY` | `1` or `0` | `Config::verify` |
/// | `TMGC_MARKER` | `serial`, `parallel`, `parallel:N` or `assisted` | `Config::marker` |
/// | `TMGC_GENERATIONAL` | `1` or `0` | `Config::generational` |
/// | `TMGC_NURSERY_BYTES` | bytes, as above | `Config::nursery_bytes` |
/// | `TMGC_SOLO` | `1` or `0` | `Config::solo` |
/// | `TMGC_OWNED` | `1` or `0` | `Config::owned` |
/// | `TMGC_GIVE_WAY` | `1` or `0` | `Config::give_way` |
/// | `TMGC_MARK_ASSISTS` | `1` or `0` | `Config::mark_assists` |
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The allocation layer's configuration (heap limit, huge pages, ...).
    alloc: tmgc_alloc::Config,
    /// The pacer: a cycle starts once the bytes allocated since the last
    /// one reach `growth_factor` times the live bytes it left (default 1.0),
    /// and never below `min_trigger_bytes`.
    growth_factor: f64,
    /// The smallest allocation volume that triggers a cycle (default 8 MiB).
    min_trigger_bytes: u64,
    /// Run the heap verifier after every marking (a stop-the-world
    /// re-trace; see `docs/COLLECTOR.md`). Default: on in debug builds, off
    /// in release builds.
    verify: bool,
    /// Run the pacer's cycles on a background collector thread (default).
    /// Either way, a thread that calls [`Heap::collect`] or waits for
    /// memory runs the cycle it waits for; off, those are the only cycles.
    background: bool,
    /// How marking is done.
    marker: MarkerKind,
    /// Solo mode (default on): while one mutator is attached, its
    /// transactions run without concurrency control (no version checks,
    /// read set, locks or validation). A second attach revokes it first,
    /// waiting for the running transaction of the first: so a transaction
    /// body must not wait for another thread to attach, nor attach to a
    /// heap itself. See `docs/TRANSACTIONS.md`.
    solo: bool,
    /// Owned objects: a thread that writes an object in two commits in a
    /// row owns it, until another thread asks for it (default on).
    owned: bool,
    /// Giving way (default on): while the collector marks and more threads
    /// want a core than the machine has (attached mutators plus marker
    /// threads), mutators give up their CPU between transactions, and
    /// markers every 256 objects, once per 100 µs. A mutator that the
    /// scheduler preempts in the middle of GC work at a commit point then
    /// waits about that long for its core, not a scheduler tick: the price
    /// is some mutator throughput while marking runs. See
    /// `docs/COLLECTOR.md`, "Giving way".
    give_way: bool,
    /// Mark assists past the goal (default on): while a full cycle marks
    /// and the bytes allocated during it pass what the pacer's goal left
    /// room for, each mutator traces a bounded share of the grey set at
    /// its commit points (up to 512 objects per 16 KiB it allocates), with
    /// the serial and parallel markers too. The assisted marker takes
    /// assists throughout marking whatever this says. See
    /// `docs/COLLECTOR.md`, "Pacing".
    mark_assists: bool,
    /// Generational collection: young cycles between full ones.
    generational: bool,
    /// Generational mode: the least allocation between young cycles.
    nursery_bytes: u64,
    /// One line per cycle on stderr (`TMGC_GCTRACE=1`).
    gctrace: bool,
    /// Called at the end of each cycle with its statistics.
    on_cycle: Option<crate::collector::CycleHook>,
}

/// Transactions committed, conflicts retried, objects allocated ([`Heap::tx_counts`],
/// [`Mutator::tx_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxCounts {
    /// Transactions committed.
    pub commits: u64,
    /// Attempts rolled back by a conflict and retried.
    pub conflicts: u64,
    /// Objects allocated by the committed transactions (published or
    /// left as garbage by the commit; objects of rolled-back attempts are
    /// not counted).
    pub allocations: u64,
    /// Of those, the objects whose commit published none of them and gave
    /// their memory back at once (CM3 of `tx/commit.rs`): they never
    /// reached the collector.
    pub given_back: u64,
    /// Objects a mutator took into ownership ([`Config::owned`]): heap-wide
    /// only (a mutator's own counts leave it at 0).
    pub owned_taken: u64,
    /// Times a mutator asked another for the objects it owns (heap-wide
    /// only, as above).
    pub owned_asked: u64,
}

/// The marking strategy (docs/COLLECTOR.md, "Marking strategies").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkerKind {
    /// One marker: the collector thread (or the thread running the cycle).
    #[default]
    Serial,
    /// This many marker threads with work stealing, started for each
    /// marking drain (0 means one per core).
    Parallel(usize),
    /// No marker threads: mutators mark at their commit points, in
    /// proportion to what they allocate, a bounded amount each time.
    Assisted,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            alloc: tmgc_alloc::Config::default(),
            growth_factor: 1.0,
            min_trigger_bytes: 8 << 20,
            verify: cfg!(debug_assertions),
            background: !cfg!(tmgc_loom),
            marker: MarkerKind::Serial,
            solo: true,
            owned: true,
            give_way: true,
            mark_assists: true,
            generational: false,
            nursery_bytes: 32 << 20,
            gctrace: false,
            on_cycle: None,
        }
    }
}

impl Config {
    /// The allocation layer's configuration (heap limit, huge pages, ...).
    pub fn alloc(mut self, v: tmgc_alloc::Config) -> Self {
        self.alloc = v;
        self
    }

    /// The pacer's growth factor: a cycle starts once the bytes allocated since the last one reach this times the live bytes it left (default 1.0).
    pub fn growth_factor(mut self, v: f64) -> Self {
        self.growth_factor = v;
        self
    }

    /// The smallest allocation volume that triggers a cycle (default 8 MiB).
    pub fn min_trigger_bytes(mut self, v: u64) -> Self {
        self.min_trigger_bytes = v;
        self
    }

    /// Run the heap verifier after every marking (default: on in debug builds, off in release builds).
    pub fn verify(mut self, v: bool) -> Self {
        self.verify = v;
        self
    }

    /// Run the pacer's cycles on a background collector thread (default
    /// on). Off, cycles run only on threads that wait for one (a
    /// [`Heap::collect`] call, a transaction at the heap limit); a thread
    /// that waits for a cycle runs it itself either way.
    pub fn background(mut self, v: bool) -> Self {
        self.background = v;
        self
    }

    /// How marking is done (default serial).
    pub fn marker(mut self, v: MarkerKind) -> Self {
        self.marker = v;
        self
    }

    /// Solo mode (default on): a lone mutator's transactions skip concurrency control.
    pub fn solo(mut self, v: bool) -> Self {
        self.solo = v;
        self
    }

    /// Owned objects (default on): a thread whose commits write an object
    /// twice in a row owns it, and reads and writes it as a solo
    /// transaction does (no read set, lock or validation), until another
    /// thread meets it; that thread then waits for the owner's next commit
    /// point (or releases for it, if it is parked between transactions).
    /// Two threads that mostly write objects of their own pay the solo
    /// transaction's cost for them (docs/TRANSACTIONS.md, "Owned objects").
    ///
    /// ```
    /// use tmgc::{Config, Heap};
    /// let heap = Heap::new(Config::default().owned(false)).unwrap();
    /// # drop(heap);
    /// ```
    pub fn owned(mut self, v: bool) -> Self {
        self.owned = v;
        self
    }

    /// Giving way while the collector marks on a crowded machine (default on).
    pub fn give_way(mut self, v: bool) -> Self {
        self.give_way = v;
        self
    }

    /// Mark assists once the heap passes its goal during a full cycle
    /// (default on; the assisted marker always takes them).
    pub fn mark_assists(mut self, v: bool) -> Self {
        self.mark_assists = v;
        self
    }

    /// Generational collection (default off). Cycles are *young* or
    /// *full*. A young cycle leaves the marks of the cycles before it in
    /// place (sticky mark bits): marked objects are the old generation, and
    /// the cycle traces only from the roots and from the old objects that
    /// commits stored young references into (the remembered set, recorded
    /// by the commit barrier), so its work is in proportion to what
    /// survives, not to the heap. A full cycle clears the marks first and
    /// traces everything, reclaiming old garbage; it runs when the old
    /// generation has grown by `growth_factor` since the last full cycle,
    /// at the heap limit, and for [`Heap::collect`]. Young cycles run after
    /// a nursery's worth of allocation (see
    /// [`nursery_bytes`](Config::nursery_bytes)). See
    /// `docs/COLLECTOR.md`, "Generations".
    pub fn generational(mut self, v: bool) -> Self {
        self.generational = v;
        self
    }

    /// Generational mode: the least allocation between young cycles
    /// (default 32 MiB, and never below `min_trigger_bytes`). The pacer
    /// starts from a quarter of `growth_factor` times the live bytes, and
    /// doubles the nursery while young cycles promote more than a quarter
    /// of what they followed (see `docs/COLLECTOR.md`, "Generations").
    pub fn nursery_bytes(mut self, v: u64) -> Self {
        self.nursery_bytes = v;
        self
    }

    /// The heap limit: shorthand for `alloc(self.get_alloc().clone().heap_limit(bytes))`.
    /// At least one block ([`crate::alloc::BLOCK_BYTES`], 32 KiB): [`Heap::new`]
    /// refuses a smaller one with
    /// `HeapError::Alloc(AllocError::InvalidConfig(..))`.
    ///
    /// The limit bounds the heap at every moment, garbage included: the
    /// objects a running transaction allocated and dropped stay until it
    /// ends (a cycle frees only what committed or aborted transactions
    /// left), so one transaction whose temporaries exceed the limit fails
    /// with `HeapExhausted` however little of them is live. Split such
    /// work into several transactions.
    pub fn heap_limit(mut self, bytes: usize) -> Self {
        self.alloc = self.alloc.heap_limit(bytes);
        self
    }

    /// See [`Config::alloc`].
    pub fn get_alloc(&self) -> &tmgc_alloc::Config {
        &self.alloc
    }

    /// See [`Config::growth_factor`].
    pub fn get_growth_factor(&self) -> f64 {
        self.growth_factor
    }

    /// See [`Config::min_trigger_bytes`].
    pub fn get_min_trigger_bytes(&self) -> u64 {
        self.min_trigger_bytes
    }

    /// See [`Config::generational`].
    pub fn get_generational(&self) -> bool {
        self.generational
    }

    /// See [`Config::nursery_bytes`].
    pub fn get_nursery_bytes(&self) -> u64 {
        self.nursery_bytes
    }

    /// See [`Config::verify`].
    pub fn get_verify(&self) -> bool {
        self.verify
    }

    /// See [`Config::background`].
    pub fn get_background(&self) -> bool {
        self.background
    }

    /// See [`Config::marker`].
    pub fn get_marker(&self) -> MarkerKind {
        self.marker
    }

    /// See [`Config::solo`].
    pub fn get_solo(&self) -> bool {
        self.solo
    }

    /// See [`Config::owned`].
    pub fn get_owned(&self) -> bool {
        self.owned
    }

    /// See [`Config::give_way`].
    pub fn get_give_way(&self) -> bool {
        self.give_way
    }

    /// See [`Config::mark_assists`].
    pub fn get_mark_assists(&self) -> bool {
        self.mark_assists
    }

    /// Print one line per cycle on stderr, as Go's `GODEBUG=gctrace=1`
    /// (default off; `TMGC_GCTRACE=1` turns it on without recompiling):
    /// the cycle number and kind, its phase times, the heap before and
    /// after and the live bytes, what was marked and freed, finalizers
    /// queued, the pauses so far, and the minimum mutator utilisation
    /// (MMU) over the cycle for 1 ms and 10 ms windows (the worst window of
    /// the worst attached thread, from the pause intervals each thread
    /// hands over at its handshakes).
    pub fn gctrace(mut self, v: bool) -> Self {
        self.gctrace = v;
        self
    }

    /// See [`Config::gctrace`].
    pub fn get_gctrace(&self) -> bool {
        self.gctrace
    }

    /// Call `f` at the end of each cycle with its statistics, on the thread
    /// that ran the cycle (for a runtime that exports metrics). `f` runs
    /// inside the collector's work: it may read [`Heap::stats`] but
    /// `attach`, `collect` and transactions return `InGcWork` there (W0);
    /// a panic in it is caught and ignored.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// let cycles = Arc::new(AtomicU64::new(0));
    /// let c = Arc::clone(&cycles);
    /// let heap = tmgc::Heap::new(tmgc::Config::default().on_cycle(move |s| {
    ///     c.fetch_add(1, Ordering::SeqCst);
    ///     assert!(s.cycle > 0);
    /// }))
    /// .unwrap();
    /// heap.collect().unwrap();
    /// assert_eq!(cycles.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_cycle(mut self, f: impl Fn(&crate::CycleStats) + Send + Sync + 'static) -> Self {
        self.on_cycle = Some(crate::collector::CycleHook(Arc::new(f)));
        self
    }
}

/// The clock's top bit: an inevitable transaction runs. The other bits are
/// the version clock (lazy: see `tx/mod.rs`).
pub(crate) const INEVITABLE: u64 = 1 << 63;

pub(crate) struct HeapInner {
    pub(crate) space: Space,
    /// The lazy version clock, with the `INEVITABLE` bit.
    pub(crate) clock: CachePadded<AtomicU64>,
    pub(crate) globals: GlobalRoots,
    pub(crate) commits: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    /// Objects taken into ownership, and asks for owned objects (`owned`).
    pub(crate) owned_taken: AtomicU64,
    pub(crate) owned_asked: AtomicU64,
    pub(crate) allocations: AtomicU64,
    /// Objects given back at their commit (`TxCounts::given_back`).
    pub(crate) given_back: AtomicU64,
    /// Destructors that panicked during a sweep (caught).
    pub(crate) destructor_panics: Arc<AtomicU64>,
    pub(crate) collector: Collector,
    /// The single-mutator grant (`solo`).
    pub(crate) solo: crate::solo::Solo,
}

impl HeapInner {
    /// `Heap::inject_fault`, for the crate's tests too.
    #[cfg(all(any(test, feature = "fault-injection"), not(tmgc_loom)))]
    pub(crate) fn inject_fault(&self, point: crate::fault::FaultPoint) {
        use crate::fault::FaultPoint;
        debug_assert!(!point.in_mutator(), "{point:?} is armed on a mutator");
        match point {
            FaultPoint::MapChunk => self.space.refuse_maps(tmgc_alloc::MapSite::Chunk, 1),
            FaultPoint::MapLarge => self.space.refuse_maps(tmgc_alloc::MapSite::Large, 1),
            p => self.collector.faults.arm(p),
        }
    }

    /// The current version (the clock without the inevitable bit).
    /// A `SeqCst` load: part of the lazy clock's total order (`tx/mod.rs`).
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.clock.load(Ordering::SeqCst) & !INEVITABLE
    }

    /// Advance the clock to at least `v` (keeping the inevitable bit);
    /// returns the version it holds afterwards (`>= v`). A `SeqCst`
    /// read-modify-write, taken only by a transaction that met a version
    /// newer than its read version written by another thread.
    pub(crate) fn advance(&self, v: u64) -> u64 {
        let mut c = self.clock.load(Ordering::SeqCst);
        loop {
            if c & !INEVITABLE >= v {
                return c & !INEVITABLE;
            }
            match self.clock.compare_exchange_weak(c, (c & INEVITABLE) | v, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return v,
                Err(now) => c = now,
            }
        }
    }

    /// Wait while an inevitable transaction runs.
    pub(crate) fn wait_inevitable(&self) {
        let spin = Spin::new();
        while self.clock.load(Ordering::Acquire) & INEVITABLE != 0 {
            spin.snooze();
        }
    }

    /// Set the inevitable bit; returns the version at that moment, or
    /// `None` if another inevitable transaction holds it (the caller
    /// conflicts and waits parked, not spinning while it runs).
    pub(crate) fn take_inevitable(&self) -> Option<u64> {
        let spin = Spin::new();
        loop {
            let c = self.clock.load(Ordering::SeqCst);
            if c & INEVITABLE != 0 {
                return None;
            }
            if self.clock.compare_exchange_weak(c, c | INEVITABLE, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Some(c);
            }
            spin.snooze();
        }
    }

    pub(crate) fn release_inevitable(&self) {
        let prev = self.clock.fetch_and(!INEVITABLE, Ordering::SeqCst);
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

/// The heap's space (its size, high-water mark and limit, read from
/// atomics): no lock is taken, so it prints anywhere, even from code the
/// collector runs.
///
/// ```
/// let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
/// assert!(format!("{heap:?}").starts_with("Heap { space: Space { heap_bytes: 0, peak_heap_bytes: 0, heap_limit: "));
/// ```
impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap").field("space", &self.inner.space).finish_non_exhaustive()
    }
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
        // Operators' overrides (gc/src/env.rs has the table).
        let config = crate::env::apply(config)?;
        // Calibrate the pauses' clock now, once per process, not in the
        // first pause it times (0.6 ms measured; `quanta` bounds it at
        // 200 ms where the TSC reads noisily).
        crate::collector::stats::Instant::now();
        let destructor_panics = Arc::new(AtomicU64::new(0));
        let panics = Arc::clone(&destructor_panics);
        let space = tmgc_alloc::Space::with_drop_hook(config.alloc, move |p| {
            // A destructor is GC work, on whichever thread sweeps (W0).
            let _work = crate::gcwork::GcWork::enter();
            let h = p.cast::<Header>();
            let run = || {
                // The allocation layer calls the hook once for each dead
                // object allocated with `alloc_needs_drop`, which the
                // transaction layer does only for objects whose type has a
                // destructor.
                // SAFETY: so `h` is a dead object's header, its payload is
                // initialised, and nothing uses it again: drop it exactly once.
                unsafe {
                    let info = h.as_ref().type_info();
                    info.drop_payload(Header::payload(h));
                }
            };
            // A destructor that panics must not take the sweeper (the
            // collector thread) down with it: the object is freed anyway,
            // and the panic is counted (`GcStats::destructor_panics`).
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
                panics.fetch_add(1, Ordering::Relaxed);
            }
        })
        .map_err(HeapError::Alloc)?;
        if !(config.growth_factor.is_finite() && config.growth_factor > 0.0) {
            return Err(HeapError::Config("growth_factor must be a positive number"));
        }
        crate::sync::init_fences();
        let gc = GcConfig {
            growth_factor: config.growth_factor,
            min_trigger_bytes: config.min_trigger_bytes,
            verify: config.verify,
            background: config.background && !cfg!(tmgc_loom),
            give_way: config.give_way,
            mark_assists: config.mark_assists,
            generational: config.generational,
            owned: config.owned,
            nursery_bytes: config.nursery_bytes.max(config.min_trigger_bytes),
            gctrace: config.gctrace,
            on_cycle: config.on_cycle.clone(),
        };
        let marker: Box<dyn crate::collector::mark::Marker> = match config.marker {
            MarkerKind::Serial => Box::new(crate::collector::mark::SerialMarker),
            MarkerKind::Assisted => Box::new(crate::collector::mark::AssistedMarker),
            MarkerKind::Parallel(n) => Box::new(crate::collector::mark::ParallelMarker {
                threads: if n == 0 { crate::collector::machine_cores().unwrap_or(2) } else { n },
            }),
        };
        let inner = Arc::new(HeapInner {
            space,
            clock: CachePadded::new(AtomicU64::new(0)),
            globals: GlobalRoots::new(),
            commits: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            owned_taken: AtomicU64::new(0),
            owned_asked: AtomicU64::new(0),
            allocations: AtomicU64::new(0),
            given_back: AtomicU64::new(0),
            destructor_panics,
            collector: Collector::new(gc, marker),
            solo: crate::solo::Solo::new(config.solo),
        });
        if inner.collector.config.background {
            crate::collector::spawn(&inner);
        }
        Ok(Heap { inner })
    }

    /// Fault injection (feature `fault-injection`): the collector panics
    /// at `point` the next time it gets there, or, for the `Map*` points,
    /// the allocation layer's next mapping there fails; once. What each
    /// fault leaves behind is stated in [`tmgc::fault`](crate::fault);
    /// docs/RELIABILITY.md lists the tests. Arming a point replaces the one
    /// armed before. `Err(point)` for a mutator's point
    /// ([`FaultPoint::in_mutator`](crate::fault::FaultPoint::in_mutator)):
    /// those are armed on one mutator, with
    /// [`Mutator::inject_fault`](crate::Mutator::inject_fault).
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// use tmgc::fault::FaultPoint;
    /// use tmgc::{AllocError, CollectError, Config, Heap, TVec, TxError};
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// heap.inject_fault(FaultPoint::MapLarge).unwrap();
    /// let r = m.transaction::<_, ()>(|tx| Ok(TVec::new(tx, 1 << 16).map(|_| ())?));
    /// assert!(matches!(r, Err(TxError::Alloc(AllocError::OutOfMemory { .. }))));
    /// heap.inject_fault(FaultPoint::CycleStart).unwrap();
    /// assert!(matches!(heap.collect(), Err(CollectError::Panicked(_))), "broken for good");
    /// assert_eq!(heap.inject_fault(FaultPoint::WriteBack), Err(FaultPoint::WriteBack));
    /// # }
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, point: crate::fault::FaultPoint) -> Result<(), crate::fault::FaultPoint> {
        if point.in_mutator() {
            return Err(point);
        }
        self.inner.inject_fault(point);
        Ok(())
    }

    /// Fault injection: the collector's point armed by
    /// [`inject_fault`](Heap::inject_fault) that has not fired yet, if any
    /// (the `Map*` points are the allocation layer's and not shown here).
    #[cfg(feature = "fault-injection")]
    pub fn armed_fault(&self) -> Option<crate::fault::FaultPoint> {
        self.inner.collector.faults.armed()
    }

    /// Run a full collection cycle that starts after this call, and wait
    /// for it. The calling thread runs the cycle itself (the background
    /// collector thread, if any, runs only the pacer's cycles; one running
    /// now is waited for first). Safe to call from a thread with an
    /// attached mutator (between its transactions the mutator is parked,
    /// and the cycle answers for it). Fails only if the heap verifier found a bug, a `Trace`
    /// implementation or the collector itself panicked, or the heap is
    /// shutting down. Called from code the collector runs (a `Trace`
    /// implementation, a destructor run by the sweep) it returns
    /// [`CollectError::InGcWork`] at once: the cycle would wait for itself
    /// (W0, docs/COLLECTOR.md).
    ///
    /// A [`Root`](crate::Root) dropped since this thread's last commit
    /// point still counts: roots leave the root set at the next commit
    /// point (a transaction, or [`Mutator::commit_point`](crate::Mutator::commit_point)).
    /// [`Mutator::collect`](crate::Mutator::collect) runs that commit point
    /// first, for a thread that wants its dropped roots gone in this cycle.
    ///
    /// ```
    /// use tmgc::{Config, Heap, Value, Trace};
    /// #[derive(Trace)]
    /// struct Cell { v: Value<u64> }
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let keep = m.transaction::<_, ()>(|tx| {
    ///     for _ in 0..1000 { tx.alloc(Cell { v: Value::new(0) })?; } // garbage once committed
    ///     let c = tx.alloc(Cell { v: Value::new(7) })?;
    ///     Ok(tx.root(c))
    /// }).unwrap();
    /// let cycle = heap.collect().unwrap();
    /// assert!(cycle.live_bytes < 1000 * 32);
    /// let v = m.transaction::<_, ()>(|tx| { let c = tx.get_root(&keep)?; Ok(tx.get(c, |c| &c.v)?) });
    /// assert_eq!(v.unwrap(), 7);
    /// ```
    pub fn collect(&self) -> Result<crate::CycleStats, CollectError> {
        self.inner.collector.collect(&self.inner, true)
    }

    /// Run a young cycle that starts after this call, and wait for it: with
    /// [`Config::generational`], a cycle that traces only from the roots
    /// and the remembered old holders, and frees only young garbage (a full
    /// cycle instead if one is due or requested); without it, a full cycle.
    /// Fails as [`Heap::collect`] does.
    ///
    /// ```
    /// use tmgc::{Config, Heap, Ref, Trace, Value};
    /// #[derive(Trace)]
    /// struct Node { next: Ref<Node>, v: Value<u64> }
    ///
    /// let heap = Heap::new(Config::default().generational(true)).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let old = m.transaction::<_, ()>(|tx| {
    ///     let n = tx.alloc(Node { next: Ref::null(), v: Value::new(1) })?;
    ///     Ok(tx.root(n))
    /// }).unwrap();
    /// assert!(heap.collect().unwrap().full); // `old` is old from now on
    /// m.transaction::<_, ()>(|tx| {
    ///     let o = tx.get_root(&old)?;
    ///     let young = tx.alloc(Node { next: Ref::null(), v: Value::new(2) })?;
    ///     tx.store(o, |o| &o.next, Some(young))?; // logged: an old holder
    ///     Ok(())
    /// }).unwrap();
    /// let cycle = heap.collect_young().unwrap();
    /// assert!(!cycle.full);
    /// assert_eq!(cycle.remembered, 1);
    /// let v = m.transaction::<_, ()>(|tx| {
    ///     let o = tx.get_root(&old)?;
    ///     let y = tx.load(o, |o| &o.next)?.unwrap();
    ///     Ok(tx.get(y, |y| &y.v)?)
    /// });
    /// assert_eq!(v.unwrap(), 2);
    /// ```
    pub fn collect_young(&self) -> Result<crate::CycleStats, CollectError> {
        self.inner.collector.collect(&self.inner, false)
    }

    /// Collector statistics: cycles, their durations and volumes, heap
    /// size, and every mutator's pauses at commit points.
    pub fn stats(&self) -> GcStats {
        self.inner.collector.stats(&self.inner)
    }

    /// Attach the calling thread: its mutator runs its transactions. One per
    /// thread and heap ([`HeapError::AlreadyAttached`] otherwise). A
    /// [`Mutator`] is not `Send`: each thread that runs transactions calls
    /// `attach` itself (share the [`Heap`], a cheap clone, not the mutator).
    /// From code the collector runs (a `Trace` implementation, a destructor
    /// run by the sweep) it returns [`HeapError::InGcWork`]: such code may
    /// free native resources, count or log, but not use any heap (W0,
    /// docs/COLLECTOR.md).
    pub fn attach(&self) -> Result<Mutator, HeapError> {
        if crate::gcwork::inside() {
            return Err(HeapError::InGcWork);
        }
        let key = Arc::as_ptr(&self.inner).addr();
        ATTACHED.with(|a| {
            let mut a = a.borrow_mut();
            if a.contains(&key) {
                return Err(HeapError::AlreadyAttached);
            }
            a.push(key);
            Ok(())
        })?;
        Mutator::new(Arc::clone(&self.inner)).ok_or_else(|| {
            detach(&self.inner);
            HeapError::TooManyMutators
        })
    }

    /// Statistics of the heap's memory. (The `Space` itself is not exposed:
    /// sweeping it by hand would free objects that transactions and roots
    /// still reach. Only the collector sweeps.)
    pub fn space_stats(&self) -> tmgc_alloc::SpaceStats {
        self.inner.space.stats()
    }

    /// Transactions committed and conflicts retried so far (folded in when
    /// each mutator detaches).
    pub fn tx_counts(&self) -> TxCounts {
        TxCounts {
            commits: self.inner.commits.load(Ordering::Relaxed),
            conflicts: self.inner.conflicts.load(Ordering::Relaxed),
            allocations: self.inner.allocations.load(Ordering::Relaxed),
            given_back: self.inner.given_back.load(Ordering::Relaxed),
            owned_taken: self.inner.owned_taken.load(Ordering::Relaxed),
            owned_asked: self.inner.owned_asked.load(Ordering::Relaxed),
        }
    }

    /// The global version clock. It is lazy: commits do not advance it; a
    /// transaction that meets a newer version written by another thread
    /// does (so it moves with the communication between threads, not with
    /// the commit count).
    pub fn clock(&self) -> u64 {
        self.inner.version()
    }
}

/// Called by a dropping mutator.
pub(crate) fn detach(inner: &Arc<HeapInner>) {
    let key = Arc::as_ptr(inner).addr();
    let _ = ATTACHED.try_with(|a| a.borrow_mut().retain(|&k| k != key));
}
