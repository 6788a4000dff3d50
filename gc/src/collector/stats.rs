//! Collector statistics: per-cycle figures and commit-point pauses.

use std::time::Duration;

use hdrhistogram::Histogram;

/// What one collection cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Objects the marker traced.
    pub marked_objects: u64,
    /// Bytes of the objects the marker traced.
    pub marked_bytes: u64,
    /// Bytes allocated since the previous cycle began.
    pub allocated_bytes: u64,
    /// Live bytes after the sweep (cells of marked or black objects).
    pub live_bytes: u64,
    /// Bytes freed: live before plus allocated, minus live after.
    pub freed_bytes: u64,
    /// Heap size (blocks in use plus large objects) after the sweep.
    pub heap_bytes: u64,
    /// Objects whose destructor the sweep ran.
    pub objects_dropped: u64,
    /// Whether the verifier checked this cycle.
    pub verified: bool,
}

/// A snapshot of the collector's statistics ([`crate::Heap::stats`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GcStats {
    /// Cycles completed.
    pub cycles: u64,
    /// The last cycles (up to 64), oldest first.
    pub recent: Vec<CycleStats>,
    /// Longest cycle so far.
    pub max_cycle: Duration,
    /// Total time in cycles.
    pub total_cycle_time: Duration,
    /// Current heap size in bytes (blocks in use plus large objects).
    pub heap_bytes: u64,
    /// Largest heap size seen at the end of a cycle.
    pub peak_heap_bytes: u64,
    /// Every mutator's pauses at commit points (time spent on GC work there:
    /// handshake responses and commit barriers), in nanoseconds. Threads
    /// still attached contribute what they merged at their last handshake.
    pub pauses: Histogram<u64>,
    /// The same, per mutator: `(mutator id, histogram)`; detached mutators
    /// are folded into `pauses` only.
    pub per_mutator: Vec<(u64, Histogram<u64>)>,
    /// Heap-verifier failures so far (empty when all is well).
    pub verify_failures: Vec<String>,
    /// Destructors that panicked while the sweep ran them (caught; the
    /// objects were freed anyway).
    pub destructor_panics: u64,
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
