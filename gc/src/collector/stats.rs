//! Collector statistics: per-cycle figures and commit-point pauses.
//!
//! A pause is timed by a clock started where a commit point begins
//! GC work and read where it ends. With the `pause-cputime` feature the
//! clock also reads the thread's CPU clock, so a long pause can be told
//! apart: GC work (CPU time as long as the wall time) or the thread being
//! off its CPU in the middle of short work (preempted, or the hypervisor
//! stealing the core). The feature costs a system call at each end of each
//! timed pause, so it is off by default.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The clock that times pauses: the CPU's time-stamp counter, calibrated
/// against the OS clock once per process (the `quanta` crate; the OS clock
/// where the TSC is not usable, and under miri, which cannot run it).
/// GC work at a commit point is often a tenth of a microsecond, and every
/// commit while marking runs is timed: on the AMD EPYC VM a pair of reads
/// (`now` and `elapsed`) takes 31-37 ns with the TSC, 67-70 ns with
/// `std::time::Instant`, paid by the mutator and partly counted in the
/// pause (docs/PERFORMANCE.md).
#[cfg(not(miri))]
pub(crate) use quanta::Instant;
#[cfg(miri)]
pub(crate) use std::time::Instant;

use crate::heap::HeapInner;
use crate::sync::lock;

use super::histogram::Histogram;
use super::mmu::{self, MmuMeter};

/// One pause being timed.
pub(crate) struct PauseClock {
    wall: Instant,
    #[cfg(feature = "pause-cputime")]
    cpu: u64,
}

impl PauseClock {
    #[inline]
    pub(crate) fn start() -> PauseClock {
        PauseClock {
            wall: Instant::now(),
            #[cfg(feature = "pause-cputime")]
            cpu: thread_cpu_ns(),
        }
    }

    /// Wall time so far.
    pub(crate) fn wall(&self) -> Duration {
        self.wall.elapsed()
    }
}

/// The CPU time this thread has used, in nanoseconds.
#[cfg(feature = "pause-cputime")]
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call writes only it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    debug_assert_eq!(r, 0, "CLOCK_THREAD_CPUTIME_ID is supported on every platform tmgc builds for");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A thread's pause histograms, in nanoseconds: wall time, and thread CPU
/// time (recorded only with the `pause-cputime` feature); its last pauses
/// as intervals, for the minimum mutator utilisation of a cycle
/// (`mmu::mmu`); and its worst pause time per window of `mmu::WINDOWS`
/// over its life (`mmu::MmuMeter`).
#[derive(Clone)]
pub(crate) struct Pauses {
    pub(crate) wall: Histogram,
    pub(crate) cpu: Histogram,
    /// The last `INTERVALS` pauses: start and wall time, oldest first.
    pub(crate) intervals: std::collections::VecDeque<(Instant, Duration)>,
    /// Nanoseconds of pause in the worst window of each of `mmu::WINDOWS`
    /// (of one thread; merged, of the worst thread).
    pub(crate) worst: [u64; 3],
}

/// Pause intervals a thread keeps (for `mmu`; a cycle's pauses at one
/// thread are a few per handshake).
const INTERVALS: usize = 1024;

impl Pauses {
    pub(crate) fn new() -> Pauses {
        Pauses { wall: Histogram::new(), cpu: Histogram::new(), intervals: Default::default(), worst: [0; 3] }
    }

    /// Record the pause `clock` timed, less `excluded` wall time (a wait
    /// that is not a pause of the collector's making), and count it in the
    /// thread's MMU `meter`.
    #[inline]
    pub(crate) fn record(&mut self, clock: &PauseClock, excluded: Duration, meter: &mut MmuMeter) {
        let wall = clock.wall().saturating_sub(excluded);
        self.worst = meter.record(clock.wall, wall);
        self.wall.record(wall.as_nanos() as u64);
        #[cfg(feature = "pause-cputime")]
        self.cpu.record(thread_cpu_ns().saturating_sub(clock.cpu));
        if self.intervals.len() == INTERVALS {
            self.intervals.pop_front();
        }
        self.intervals.push_back((clock.wall, wall));
    }

    pub(crate) fn add(&mut self, o: &Pauses) {
        for (w, o) in self.worst.iter_mut().zip(o.worst) {
            *w = (*w).max(o);
        }
        self.wall.add(&o.wall);
        self.cpu.add(&o.cpu);
        for &i in &o.intervals {
            if self.intervals.len() == INTERVALS {
                self.intervals.pop_front();
            }
            self.intervals.push_back(i);
        }
    }

    pub(crate) fn reset(&mut self) {
        self.wall.reset();
        self.cpu.reset();
        self.intervals.clear();
        self.worst = [0; 3];
    }
}

/// What one collection cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CycleStats {
    /// The cycle's number (1 for the first).
    pub cycle: u64,
    /// From the first handshake request to the end of the sweep.
    pub duration: Duration,
    /// From the first handshake request to T (every thread acknowledged).
    pub to_t: Duration,
    /// Marking (T to the end of the last termination round).
    pub mark: Duration,
    /// Termination rounds (handshakes that collected grey objects).
    pub rounds: u32,
    /// Objects the marker traced (a large array of references counts once
    /// per chunk of its elements: units of tracing work, AR3 of
    /// gc/src/array.rs).
    pub marked_objects: u64,
    /// Bytes of the objects the marker traced.
    pub marked_bytes: u64,
    /// Bytes allocated since the previous cycle began, as the threads have
    /// reported them: each thread folds its count into the heap's in
    /// batches (`fold_bytes` of the allocation config, 64 KiB by default)
    /// and when it leaves a block, so a small allocation may show up a
    /// cycle late.
    pub allocated_bytes: u64,
    /// Live bytes after the sweep: the cells of marked objects, the
    /// survivors of the transactions that ran during marking included (a
    /// cell is the object rounded up to whole granules, so this can
    /// exceed `marked_bytes`).
    pub live_bytes: u64,
    /// Bytes freed: live before plus allocated, minus live after (as exact
    /// as `allocated_bytes`).
    pub freed_bytes: u64,
    /// Heap size (blocks in use plus large objects) after the sweep.
    pub heap_bytes: u64,
    /// Objects whose destructor the sweep ran.
    pub objects_dropped: u64,
    /// Weak cells cleared because their referent died.
    pub weak_cleared: u64,
    /// Whether the verifier checked this cycle.
    pub verified: bool,
    /// A full cycle (every cycle without `Config::generational`); else a
    /// young one, which kept the marks of the cycles before it.
    pub full: bool,
    /// Finalizers this cycle found due (queued for `Mutator::run_finalizers`).
    pub finalizers_queued: u64,
    /// Cleanups this cycle found due.
    pub cleanups_queued: u64,
    /// Remembered-set entries taken at T: old holders traced (young) or
    /// dropped (full).
    pub remembered: u64,
    /// The pacer's goal for this cycle: the bytes of objects in use it
    /// meant the heap to peak at, when marking ends (docs/COLLECTOR.md,
    /// "Pacing"). Full cycles: the live bytes the last cycle traced times
    /// `1 + growth_factor` (at least `min_trigger_bytes` above them);
    /// young cycles: the old generation's goal.
    pub heap_goal: u64,
    /// Bytes allocated while this cycle ran (from its first request to the
    /// end of marking). Only what survives its transaction (P4 of
    /// docs/COLLECTOR.md) survives the cycle.
    pub allocated_during: u64,
    /// How far the bytes in use passed `heap_goal` by the end of marking
    /// (0 when the heap stayed within it).
    pub overshoot: u64,
    /// Objects mutators traced in mark assists at their commit points
    /// (of `marked_objects`): with the assisted marker, most of them; with
    /// the others, the marking the allocation past the goal paid for
    /// (`Config::mark_assists`).
    pub assisted_objects: u64,
    /// Free blocks whose pages this cycle gave back to the OS after its
    /// sweep: free through the last two cycles, while more memory was
    /// committed than the heap needs until the next cycle (alloc's
    /// `Space::release_free_blocks`; docs/COLLECTOR.md, "Memory back to
    /// the OS"). Wholly free chunks go back too, in the sweep, and are not
    /// counted here.
    pub blocks_released: u64,
    /// What the heap may hold resident after this cycle's sweep and
    /// release (alloc's `SpaceStats::committed_bytes`): the chunks'
    /// metadata, the blocks handed out and not given back since, the
    /// large objects. With huge pages the OS may hold more.
    pub committed_bytes: u64,
}

/// The minimum mutator utilisation for one window length
/// ([`GcStats::mmu`]).
///
/// ```
/// let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
/// let mmu = heap.stats().mmu;
/// assert_eq!(mmu.len(), 3);
/// assert_eq!(mmu[1].window, std::time::Duration::from_millis(10));
/// assert_eq!(mmu[1].utilisation, 1.0); // no mutator has paused yet
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Mmu {
    /// The window length.
    pub window: Duration,
    /// The share of the worst window, from 0 to 1.
    pub utilisation: f64,
}

/// A snapshot of the collector's statistics ([`crate::Heap::stats`]).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GcStats {
    /// Cycles completed.
    pub cycles: u64,
    /// Of those, full cycles (all of them without `Config::generational`).
    pub full_cycles: u64,
    /// The last cycles (up to 64), oldest first.
    pub recent: Vec<CycleStats>,
    /// Longest cycle so far.
    pub max_cycle: Duration,
    /// Total time in cycles.
    pub total_cycle_time: Duration,
    /// Current heap size in bytes (blocks in use plus large objects).
    pub heap_bytes: u64,
    /// The largest the heap has been since it was made (blocks in use
    /// plus large objects, at their high-water mark; never below
    /// `heap_bytes`), whatever cycles have freed since. Like
    /// `heap_bytes`, it may count a reservation in flight that a refused
    /// mapping or the limit then undoes (`tmgc_alloc::Space::peak_heap_bytes`).
    pub peak_heap_bytes: u64,
    /// The pacer's goal for the next cycle, in bytes of objects in use
    /// (`CycleStats::heap_goal`); 0 before the first cycle.
    pub heap_goal: u64,
    /// Every mutator's pauses at commit points (time spent on GC work there:
    /// handshake responses and commit barriers), in nanoseconds. Threads
    /// still attached contribute what they merged at their last handshake.
    pub pauses: Histogram,
    /// The thread CPU time of the same pauses, in nanoseconds: recorded
    /// only with the crate's `pause-cputime` feature (empty otherwise). A
    /// pause whose wall time is far above its CPU time was spent off the
    /// CPU (preempted), not on GC work.
    pub pause_cpu: Histogram,
    /// The minimum mutator utilisation (MMU) for windows of 1, 10 and
    /// 100 ms: for each window length, the smallest share of any window
    /// that a mutator thread spent outside its pauses, for the worst
    /// thread (attached or detached) over its whole life. Below the exact
    /// figure of the pauses counted by at most 10 µs per window (1% at
    /// 1 ms), never above it; threads still attached contribute what they
    /// handed over at their last handshake, as for `pauses`.
    pub mmu: Vec<Mmu>,
    /// The same wall times, per mutator: `(mutator id, histogram)`; detached mutators
    /// are folded into `pauses` only.
    pub per_mutator: Vec<(u64, Histogram)>,
    /// Heap-verifier failures so far (empty when all is well).
    pub verify_failures: Vec<String>,
    /// Weak cells the collector tracks: alive at the last cycle, or
    /// published since.
    pub weak_cells: usize,
    /// Global roots set now (counted by a walk of the global root set).
    pub global_roots: usize,
    /// Finalizers and cleanups registered and not yet due.
    pub finalizers_registered: usize,
    /// Finalizers and cleanups due and not yet run (run them with
    /// `Mutator::run_finalizers`).
    pub finalizers_pending: usize,
    /// Finalizers and cleanups run so far.
    pub finalizers_run: u64,
    /// Of those, the ones that panicked (caught; the next ones still ran).
    pub finalizer_panics: u64,
    /// Finalizable objects the last cycle found unreachable except from
    /// themselves: in a cycle of finalizable objects, which is never
    /// finalized (docs/FINALIZATION.md). Not a silent leak: reported here.
    pub finalizer_cycles: u64,
    /// Destructors that panicked while the sweep ran them, or a commit
    /// that gave its new objects back (CM3 of `tx/commit.rs`) (caught; the
    /// objects were freed anyway, and the commit stood).
    pub destructor_panics: u64,
    /// Times a thread gave up its CPU while marking ran on a crowded
    /// machine ([`Config::give_way`](crate::Config::give_way)): mutators
    /// between transactions, markers between pieces of tracing.
    pub gave_way: u64,
}

impl GcStats {
    /// Maximum pause in nanoseconds.
    pub fn max_pause_ns(&self) -> u64 {
        self.pauses.max()
    }

    /// The pause at quantile `q` (0.99 for p99), in nanoseconds.
    pub fn pause_quantile_ns(&self, q: f64) -> u64 {
        self.pauses.value_at_quantile(q)
    }
}

/// A one-screen summary (the `Debug` form prints the histograms whole).
///
/// ```
/// let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
/// assert!(heap.stats().to_string().starts_with("0 cycles; heap"));
/// heap.collect().unwrap();
/// let s = heap.stats().to_string();
/// assert!(s.starts_with("1 cycle (mean "), "{s}");
/// ```
impl std::fmt::Display for GcStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = |b: u64| match b {
            0..1024 => format!("{b} B"),
            1024..1_048_576 => format!("{:.1} KiB", b as f64 / 1024.0),
            _ => format!("{:.1} MiB", b as f64 / 1_048_576.0),
        };
        let us = |ns: u64| ns as f64 / 1e3;
        if self.cycles == 0 {
            write!(f, "0 cycles")?;
        } else {
            let mean = self.total_cycle_time / self.cycles as u32;
            write!(
                f,
                "{} cycle{} (mean {:.1?}, max {:.1?})",
                self.cycles,
                if self.cycles == 1 { "" } else { "s" },
                mean,
                self.max_cycle
            )?;
        }
        write!(f, "; heap {} (peak {})", bytes(self.heap_bytes), bytes(self.peak_heap_bytes))?;
        if let Some(last) = self.recent.last() {
            write!(f, "; last cycle: {} live, {} freed", bytes(last.live_bytes), bytes(last.freed_bytes))?;
            if last.weak_cleared > 0 {
                write!(
                    f,
                    ", {} weak cell{} cleared",
                    last.weak_cleared,
                    if last.weak_cleared == 1 { "" } else { "s" }
                )?;
            }
        }
        write!(
            f,
            "; {} pause{}: p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs",
            self.pauses.len(),
            if self.pauses.len() == 1 { "" } else { "s" },
            us(self.pauses.value_at_quantile(0.5)),
            us(self.pauses.value_at_quantile(0.99)),
            us(self.pauses.max())
        )?;
        if let [a, b, c] = &self.mmu[..] {
            let pc = |m: &Mmu| 100.0 * m.utilisation;
            write!(f, "; MMU {:.0}% / {:.0}% / {:.0}% at 1 / 10 / 100 ms", pc(a), pc(b), pc(c))?;
        }
        if !self.verify_failures.is_empty() {
            write!(f, "; {} VERIFY FAILURES (first: {})", self.verify_failures.len(), self.verify_failures[0])?;
        }
        if self.gave_way > 0 {
            write!(f, "; gave way {} times", self.gave_way)?;
        }
        if self.destructor_panics > 0 {
            write!(f, "; {} destructor panics", self.destructor_panics)?;
        }
        Ok(())
    }
}

pub(crate) struct StatsState {
    pub(super) cycles: u64,
    pub(super) full_cycles: u64,
    pub(super) recent: VecDeque<CycleStats>,
    pub(super) max_cycle: Duration,
    pub(super) total: Duration,
    pub(super) heap_goal: u64,
    /// Pauses of detached mutators.
    pub(super) detached_pauses: Pauses,
}

impl StatsState {
    pub(super) fn new() -> Self {
        StatsState {
            cycles: 0,
            full_cycles: 0,
            recent: VecDeque::new(),
            max_cycle: Duration::ZERO,
            total: Duration::ZERO,
            heap_goal: 0,
            detached_pauses: Pauses::new(),
        }
    }
}

impl super::Collector {
    // ---- statistics ----

    /// The minimum mutator utilisation over `[from, to]` for windows of
    /// `w`, the lowest of the attached threads' (their pauses merged at
    /// their last handshake; a thread whose lock is busy is left out).
    pub(crate) fn mmu(&self, from: Instant, to: Instant, w: Duration) -> f64 {
        let mut worst: f64 = 1.0;
        for r in &self.snapshot() {
            let Ok(g) = r.handoff.try_lock() else { continue };
            let iv: Vec<_> = g.pauses.intervals.iter().copied().filter(|&(s, d)| s + d >= from && s <= to).collect();
            drop(g);
            worst = worst.min(mmu::mmu(&iv, from, to, w));
        }
        worst
    }

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
            full_cycles: s.full_cycles,
            recent: s.recent.iter().copied().collect(),
            max_cycle: s.max_cycle,
            total_cycle_time: s.total,
            heap_bytes: heap.space.heap_bytes() as u64,
            // The space raises its high-water mark just after the heap
            // grows (once the block or mapping is in hand): a snapshot in
            // between reads the larger size.
            peak_heap_bytes: (heap.space.peak_heap_bytes() as u64).max(heap.space.heap_bytes() as u64),
            heap_goal: s.heap_goal,
            pauses: pauses.wall,
            pause_cpu: pauses.cpu,
            mmu: mmu::WINDOWS
                .iter()
                .zip(mmu::utilisation(pauses.worst))
                .map(|(&window, utilisation)| Mmu { window, utilisation })
                .collect(),
            per_mutator: per,
            verify_failures: failures,
            weak_cells: self.weak_cells.len(),
            global_roots: heap.globals.len(),
            finalizers_registered: self.finals.registered(),
            finalizers_pending: self.finals.pending(),
            finalizers_run: self.finals.ran.load(Ordering::Relaxed),
            finalizer_panics: self.finals.panicked.load(Ordering::Relaxed),
            finalizer_cycles: self.finals.in_cycles.load(Ordering::Relaxed),
            destructor_panics: heap.destructor_panics.load(Ordering::Relaxed),
            gave_way: self.gave_way.load(Ordering::Relaxed),
        }
    }
}
