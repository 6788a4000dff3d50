//! Command-line options.

use clap::{Parser, ValueEnum};

/// The workloads (see `workloads/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Short-lived binary trees plus one long-lived tree per thread.
    Trees,
    /// A shared random graph mutated by every thread: conflicts, aborts, a
    /// conserved sum.
    Graph,
    /// An LRU-like cache: long-lived entries with eviction churn.
    Lru,
    /// Large objects (over 8 KiB) and reference arrays.
    Large,
    /// Long transactions, and inevitable ones.
    Long,
    /// Threads that attach, work, and exit or panic in mid-cycle.
    Churn,
    /// Live data grown up to the heap limit: clean `HeapExhausted`, never a crash.
    Pressure,
    /// An interning table of weak references: entries die when nothing
    /// else holds them, and found ones are made strong again.
    Weak,
    /// An interpreter's object heap: a growable vector of tagged values
    /// (integers, strings, vectors, large vectors traced in chunks) under
    /// pushes, pops, replacements and in-place string edits.
    Objects,
    /// Objects owning a counted resource, released by finalizers and
    /// cleanups: each exactly once, never while reachable.
    Finalize,
}

impl Workload {
    pub(crate) const ALL: [Workload; 10] = [
        Workload::Trees,
        Workload::Graph,
        Workload::Lru,
        Workload::Large,
        Workload::Long,
        Workload::Churn,
        Workload::Pressure,
        Workload::Weak,
        Workload::Objects,
        Workload::Finalize,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Trees => "trees",
            Workload::Graph => "graph",
            Workload::Lru => "lru",
            Workload::Large => "large",
            Workload::Long => "long",
            Workload::Churn => "churn",
            Workload::Pressure => "pressure",
            Workload::Weak => "weak",
            Workload::Objects => "objects",
            Workload::Finalize => "finalize",
        }
    }
}

/// Marking strategies (the collector's `MarkerKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Marker {
    /// One background marker thread.
    Serial,
    /// Marker threads with work stealing, one per core.
    Parallel,
    /// No marker threads: mutators mark at their commit points.
    Assisted,
}

#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "Stress harness for the tmgc concurrent collector: transactional workloads, \
             concurrent collections, verification after every commit and (with --verify) every cycle"
)]
pub(crate) struct Opts {
    /// Mutator threads (default: the number of cores). More than cores is
    /// allowed, up to 16 per core (at least 256): past that, threads
    /// starting and ending their slices no longer fit the duration.
    #[arg(long, value_parser = at_least_one)]
    pub(crate) threads: Option<u64>,
    /// How long to run, in seconds (more than 0; threads still starting
    /// when it is over are not started).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true, value_parser = positive_seconds)]
    pub(crate) duration: f64,
    /// Stop after about this many committed transactions in all (at
    /// least 1; instead of, or before, the duration): each thread stops
    /// at its next check once the total is reached, so a run may pass it
    /// by a few transactions a thread.
    #[arg(long, value_parser = at_least_one)]
    pub(crate) ops: Option<u64>,
    /// Seed: thread i's operations come from seed + i, so a run is
    /// reproducible from its seed (up to thread interleaving).
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Workloads to mix (comma-separated; default: all). Each thread rotates
    /// through them, one slice at a time.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) workloads: Vec<Workload>,
    /// Length of one workload slice, in milliseconds (at least 1).
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub(crate) slice_ms: u64,
    /// Heap limit in MiB.
    #[arg(long, default_value_t = 512)]
    pub(crate) heap_limit_mib: usize,
    /// Pacer growth factor: a cycle starts after allocating this times the live bytes.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = positive_factor)]
    pub(crate) growth_factor: f64,
    /// Smallest allocation volume (MiB) that triggers a cycle.
    #[arg(long, default_value_t = 8)]
    pub(crate) min_trigger_mib: u64,
    /// Marking strategy.
    #[arg(long, value_enum, default_value_t = Marker::Serial)]
    pub(crate) marker: Marker,
    /// Percentage of transactions aborted on purpose, 0 to 99 (they must
    /// leave no trace; 100 would commit nothing).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=99))]
    pub(crate) abort_percent: u64,
    /// Per mille of transactions that panic on purpose, 0 to 999.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=999))]
    pub(crate) panic_permille: u64,
    /// Per mille of transactions whose mutator gets a tmgc fault armed
    /// (a panic at its validation or its handshake answer, where the
    /// transaction rolls back; in the graph workload also at its barrier,
    /// write-back or root commit, where it is rolled forward: the graph's
    /// checks hold either way). Needs the build feature `faults`
    /// (`cargo build --release -p tmgc-stress --features faults`).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub(crate) fault_permille: u64,
    /// Run the heap verifier after every cycle (a stop-the-world re-trace).
    #[arg(long)]
    pub(crate) verify: bool,
    /// Generational collection: young cycles (sticky mark bits and the
    /// commit barrier's remembered set) between full ones.
    #[arg(long)]
    pub(crate) generational: bool,
    /// Generational mode: the least allocation (MiB) between young cycles
    /// (default 32; only with --generational).
    #[arg(long)]
    pub(crate) nursery_mib: Option<u64>,
    /// Solo mode off (`Config::solo(false)`): full concurrency control
    /// even while one thread is attached.
    #[arg(long)]
    pub(crate) no_solo: bool,
    /// Giving way off (`Config::give_way(false)`).
    #[arg(long)]
    pub(crate) no_give_way: bool,
    /// No background collector thread (`Config::background(false)`):
    /// cycles run on the threads that wait for memory or call collect.
    #[arg(long)]
    pub(crate) no_background: bool,
    /// Ask the OS for huge pages for the heap's chunks (`MADV_HUGEPAGE`).
    #[arg(long)]
    pub(crate) huge_pages: bool,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    pub(crate) json: bool,
}

/// The most mutator threads a run may start on this machine: 16 per core,
/// at least 256. On the 2-core AMD EPYC VM of 2026-12-01 (`tmgc-stress
/// --threads N --duration 3`, timed whole), 256 threads ran a
/// 3 s run in 4.2 s and 1,000 threads in 14.7 s (every thread must be
/// scheduled to notice the end of its slice); 4,000 once took 203 s and
/// 3.5 GB.
pub(crate) fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (16 * cores).max(256)
}

fn at_least_one(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn positive_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// The longest `--duration`: about 31 years, so that the run's end is an
/// `Instant` the clock can hold.
const MAX_SECONDS: f64 = 1e9;

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_SECONDS => Ok(v),
        Ok(v) if v.is_finite() && v > MAX_SECONDS => Err(format!("`{s}` is more than {MAX_SECONDS:e} seconds")),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

impl Opts {
    pub(crate) fn threads(&self) -> usize {
        self.threads.map_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()), |t| t as usize)
    }

    pub(crate) fn workloads(&self) -> Vec<Workload> {
        if self.workloads.is_empty() {
            Workload::ALL.to_vec()
        } else {
            self.workloads.clone()
        }
    }
}
