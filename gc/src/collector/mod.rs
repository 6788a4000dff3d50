//! The collector: concurrent mark-sweep, synchronised with commit points.
//!
//! One cycle (docs/COLLECTOR.md has the invariants and the argument):
//! 1. **REQ(e)** handshake: every thread turns its commit barrier on and
//!    shades its own roots at its own commit point (or the collector does it
//!    for a parked thread under the thread's lock). No stop-the-world.
//! 2. **T**: every acknowledgement is in; the collector shades the global
//!    roots and publishes **MARK(e)**: transactions begun from now on
//!    mark their survivors at commit (P4).
//! 3. **Marking** by the configured marker (`Config::marker`), then **termination rounds**
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

pub(crate) mod finalize;
pub(crate) mod histogram;
pub(crate) mod mark;
pub(crate) mod mmu;
pub(crate) mod stats;

mod cycle;
pub(crate) mod handshake;
mod registry;
pub(crate) mod remset;
pub(crate) mod survivors;
mod terminate;
mod trigger;
mod verify;
pub(crate) mod weak_gate;

#[cfg(all(test, not(tmgc_loom)))]
mod fault_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod mark_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod panic_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod survivor_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod test_support;
#[cfg(all(test, not(tmgc_loom)))]
pub(crate) mod trap_tests;
#[cfg(all(test, not(tmgc_loom)))]
mod weak_tests;

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Mutex};
use handshake::word;
use mark::{GreySet, MarkWork, Marker};
use stats::{CycleStats, StatsState};

pub use crate::error::CollectError;
pub(crate) use cycle::CycleState;
#[cfg(all(test, not(tmgc_loom)))]
pub(crate) use cycle::Hold;
pub(crate) use registry::{Registry, YIELD_QUANTUM};
pub(crate) use trigger::{pace, spawn, Signal, PACER_STEP};

/// The collector's shared state, one per heap.
pub(crate) struct Collector {
    /// The current request (see `handshake::word`).
    pub(crate) word: CachePadded<AtomicU64>,
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    pub(crate) grey: GreySet,
    /// Mark assists (`mark/assists.rs`), taken with any marker.
    pub(crate) assists: mark::Assists,
    /// The weak-read phases (P7; `weak_gate.rs`).
    pub(crate) weak_gate: weak_gate::WeakGate,
    /// Published weak cells, cleared when their referents die.
    pub(crate) weak_cells: weak_gate::Registry,
    /// Registered finalizers and cleanups, and the queue of those due
    /// (`finalize.rs`).
    pub(crate) finals: finalize::Finals,
    /// Generational mode: remembered-set entries handed over by threads,
    /// taken at T (RS3, RS4 of `remset.rs`).
    pub(crate) remset: remset::RemsetIn,
    /// The 24-bit epoch of the cycle whose marking has closed, stored with
    /// the weak gate's switch to CLOSED and reset (to `NOT_CLOSED`) at the
    /// next cycle's start. A commit whose barrier is on for that epoch
    /// marks nothing and logs as in mode R (T3, T4; RS1, RS6).
    pub(crate) closed: AtomicU64,
    /// Generational mode: the next cycle should be full (the old
    /// generation grew past its trigger, or memory is short).
    pub(crate) full_due: std::sync::atomic::AtomicBool,
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
    /// The machine's cores ([`machine_cores`]).
    cores: usize,
    /// Times a thread gave way (`GcStats::gave_way`); a statistic only.
    pub(crate) gave_way: std::sync::atomic::AtomicU64,
    /// The heap's injected fault, if any (`crate::fault`: feature
    /// `fault-injection` and tests; nothing otherwise). Here because every
    /// point, the commit's too, reaches the collector.
    pub(crate) faults: crate::fault::Faults,
    /// Tests only: the `Hold` point where a cycle waits while this holds
    /// it (`hold_point`), setting `held` when it gets there; 0 for none.
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) hold: std::sync::atomic::AtomicU8,
    #[cfg(all(test, not(tmgc_loom)))]
    pub(crate) held: std::sync::atomic::AtomicBool,
}

/// The collector's part of [`crate::Config`].
#[derive(Clone, Debug)]
pub(crate) struct GcConfig {
    pub(crate) growth_factor: f64,
    pub(crate) min_trigger_bytes: u64,
    pub(crate) verify: bool,
    pub(crate) background: bool,
    pub(crate) give_way: bool,
    /// Mark assists past the goal (`Config::mark_assists`).
    pub(crate) mark_assists: bool,
    /// Young cycles between full ones (`Config::generational`).
    pub(crate) generational: bool,
    /// Owned objects (`Config::owned`).
    pub(crate) owned: bool,
    /// Generational mode: bytes allocated between young cycles.
    pub(crate) nursery_bytes: u64,
    /// One line per cycle on stderr (`Config::gctrace`).
    pub(crate) gctrace: bool,
    /// `Config::on_cycle`.
    pub(crate) on_cycle: Option<CycleHook>,
}

/// A callback at the end of each cycle (`Config::on_cycle`).
#[derive(Clone)]
pub(crate) struct CycleHook(pub(crate) Arc<dyn Fn(&crate::CycleStats) + Send + Sync>);

impl std::fmt::Debug for CycleHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CycleHook")
    }
}

/// `Collector::closed` when no cycle's marking is closed.
pub(crate) const NOT_CLOSED: u64 = u64::MAX - 1;

impl Collector {
    pub(crate) fn new(config: GcConfig, marker: Box<dyn Marker>) -> Collector {
        let c = Collector {
            word: CachePadded::new(AtomicU64::new(word::make(0, 0, word::IDLE))),
            registry: Mutex::new(Registry::default()),
            crowded: std::sync::atomic::AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            grey: GreySet::default(),
            assists: mark::Assists::default(),
            weak_gate: weak_gate::WeakGate::new(),
            weak_cells: weak_gate::Registry::default(),
            finals: finalize::Finals::default(),
            remset: remset::RemsetIn::default(),
            closed: AtomicU64::new(NOT_CLOSED),
            full_due: std::sync::atomic::AtomicBool::new(false),
            cycle: Mutex::new(CycleState::default()),
            signal: Arc::new(Signal::new()),
            stats: Mutex::new(StatsState::new()),
            trigger_bytes: AtomicU64::new(config.min_trigger_bytes),
            verifications: AtomicU64::new(0),
            faults: Default::default(),
            #[cfg(all(test, not(tmgc_loom)))]
            hold: std::sync::atomic::AtomicU8::new(0),
            #[cfg(all(test, not(tmgc_loom)))]
            held: std::sync::atomic::AtomicBool::new(false),
            cores: machine_cores().unwrap_or(1),
            gave_way: std::sync::atomic::AtomicU64::new(0),
            marker,
            config,
        };
        c.update_crowded(0);
        c
    }

    // ---- mark assists ----

    /// Whether mutators should assist marking now: a drain runs, and
    /// (but for the assisted marker) the bytes allocated during the cycle
    /// passed what its goal left room for.
    pub(crate) fn wants_assists(&self, space: &tmgc_alloc::Space) -> bool {
        self.assists.wanted(space.allocated_bytes().max(0) as u64)
    }

    /// A mutator's assist (at a commit point): trace at most `budget` objects.
    pub(crate) fn assist(&self, budget: usize) -> u64 {
        let _work = crate::gcwork::GcWork::enter();
        self.assists.assist(&MarkWork::new(&self.grey, &self.assists, None), budget).objects
    }
}

/// The machine's cores (`available_parallelism`), read once per process:
/// the call reads the cgroup's files (several system calls), too much for
/// every `Heap::new` (and it made each loom execution several times
/// slower). `None` where the system does not say. A `std` cell even
/// under loom: a constant of the process, which no protocol reads.
pub(crate) fn machine_cores() -> Option<usize> {
    static CORES: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().ok().map(|n| n.get()))
}
