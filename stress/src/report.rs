//! The report: a summary table (or JSON) and the progress bar.

use std::fmt::Write as _;
use std::time::Duration;

use tmgc::GcStats;
use tmgc::Histogram;

use crate::ctx::{Counters, Failure};
use crate::opts::Opts;

pub(crate) struct ThreadReport {
    pub(crate) thread: usize,
    pub(crate) counters: Counters,
    pub(crate) conflicts: u64,
    pub(crate) allocated: u64,
    pub(crate) pauses: Option<Histogram>,
}

pub(crate) struct Report {
    threads: Vec<ThreadReport>,
    stats: GcStats,
    elapsed: Duration,
    peak_heap: u64,
    heap_samples: Vec<(f64, u64)>,
    peak_rss: u64,
    workloads: Vec<&'static str>,
    seed: u64,
    verify: bool,
    heap_limit_mib: usize,
    /// Every mutator's counts (all detached by the end: workers, churn's threads).
    counts: tmgc::TxCounts,
    fault_permille: u64,
    marker: &'static str,
    pub(crate) failure: Option<Failure>,
}

/// Peak resident set size of this process, from `/proc/self/status`.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()))
        })
        .map_or(0, |kib| kib << 10)
}

pub(crate) fn progress(secs: f64) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new((secs * 10.0) as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    b
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

impl Report {
    pub(crate) fn new(
        opts: &Opts,
        threads: Vec<ThreadReport>,
        (stats, counts): (GcStats, tmgc::TxCounts),
        elapsed: Duration,
        peak_heap: u64,
        heap_samples: Vec<(f64, u64)>,
        failure: Option<Failure>,
    ) -> Report {
        Report {
            threads,
            stats,
            counts,
            elapsed,
            peak_heap,
            heap_samples,
            peak_rss: peak_rss(),
            workloads: opts.workloads().iter().map(|w| w.name()).collect(),
            seed: opts.seed,
            verify: opts.verify,
            heap_limit_mib: opts.heap_limit_mib,
            fault_permille: opts.fault_permille,
            marker: match opts.marker {
                crate::opts::Marker::Serial => "serial",
                crate::opts::Marker::Parallel => "parallel",
                crate::opts::Marker::Assisted => "assisted",
            },
            failure,
        }
    }

    fn total<F: Fn(&ThreadReport) -> u64>(&self, f: F) -> u64 {
        self.threads.iter().map(f).sum()
    }

    /// Live bytes found by the cycles of the run: (mean, max).
    fn live(&self) -> (u64, u64) {
        let c = &self.stats.recent;
        let max = c.iter().map(|c| c.live_bytes).max().unwrap_or(0);
        (c.iter().map(|c| c.live_bytes).sum::<u64>() / c.len().max(1) as u64, max)
    }

    fn summary(&self) -> Vec<(&'static str, String)> {
        let secs = self.elapsed.as_secs_f64();
        let commits = self.total(|t| t.counters.commits);
        let conflicts = self.total(|t| t.conflicts);
        let injected = self.total(|t| t.counters.injected_aborts);
        let panics = self.total(|t| t.counters.injected_panics);
        let faults = self.total(|t| t.counters.injected_faults);
        let forward = self.total(|t| t.counters.faults_rolled_forward);
        let aborts = conflicts + injected + panics + faults - forward;
        let allocated = self.total(|t| t.allocated);
        let mib = |b: u64| b as f64 / 1048576.0;
        let (live_mean, live_max) = self.live();
        vec![
            ("duration", format!("{secs:.1} s")),
            ("threads", self.threads.len().to_string()),
            ("workloads", self.workloads.join(",")),
            ("marker", self.marker.to_string()),
            ("seed", self.seed.to_string()),
            ("transactions committed", format!("{commits} ({:.0}/s)", commits as f64 / secs)),
            (
                "aborted attempts",
                format!(
                    "{aborts} ({:.1}% of attempts): {conflicts} conflicts, {injected} injected aborts, {panics} injected panics",
                    100.0 * aborts as f64 / (commits + aborts).max(1) as f64
                ),
            ),
            (
                "injected tmgc faults",
                if self.fault_permille > 0 {
                    format!("{faults} fired ({forward} past the commit point, rolled forward; --fault-permille {})", self.fault_permille)
                } else {
                    "off (--fault-permille, build feature `faults`)".into()
                },
            ),
            (
                "clean HeapExhausted",
                format!("{} (the pressure workload fills the heap on purpose)", self.total(|t| t.counters.exhausted)),
            ),
            ("threads spawned by churn", self.total(|t| t.counters.threads_spawned).to_string()),
            ("checks passed", self.total(|t| t.counters.checks).to_string()),
            ("allocated", format!("{:.0} MiB ({:.0} MiB/s)", mib(allocated), mib(allocated) / secs)),
            (
                "objects allocated (committed)",
                format!("{} ({:.0}/s; every mutator's, churn's threads too)", self.counts.allocations, self.counts.allocations as f64 / secs),
            ),
            (
                "of those, given back at their commit",
                format!("{} (a commit that published none of its new objects frees them at once)", self.counts.given_back),
            ),
            (
                "objects owned / asks for them",
                format!(
                    "{} / {} (a thread that writes an object twice in a row owns it until another asks: Config::owned)",
                    self.counts.owned_taken, self.counts.owned_asked
                ),
            ),
            ("collection cycles (full)", format!("{} ({})", self.stats.cycles, self.stats.full_cycles)),
            (
                "cycle duration mean / max",
                format!(
                    "{:.1} ms / {:.1} ms",
                    self.stats.total_cycle_time.as_secs_f64() * 1e3 / self.stats.cycles.max(1) as f64,
                    self.stats.max_cycle.as_secs_f64() * 1e3
                ),
            ),
            ("verified cycles", if self.verify { format!("{} (all)", self.stats.cycles) } else { "off (--verify)".into() }),
            ("live heap after a cycle, mean / max", format!("{:.1} / {:.1} MiB (last 64 cycles)", mib(live_mean), mib(live_max))),
            ("objects marked / by mark assists", {
                let c = &self.stats.recent;
                let marked: u64 = c.iter().map(|c| c.marked_objects).sum();
                let assisted: u64 = c.iter().map(|c| c.assisted_objects).sum();
                format!("{marked} / {assisted} (last 64 cycles)")
            }),
            ("blocks given back to the OS", {
                let released: u64 = self.stats.recent.iter().map(|c| c.blocks_released).sum();
                format!("{released} (last 64 cycles; with their side slots: DC4 of alloc's decommit.rs)")
            }),
            (
                "heap size peak / limit",
                format!("{:.1} / {} MiB (--heap-limit-mib)", mib(self.peak_heap), self.heap_limit_mib),
            ),
            (
                "peak RSS",
                format!(
                    "{:.1} MiB (the process: the heap, its side tables, and the workloads' own models and logs, \
                     which the heap limit does not count)",
                    mib(self.peak_rss)
                ),
            ),
            (
                "pauses p50 / p99 / max (all threads)",
                format!(
                    "{:.2} µs / {:.2} µs / {:.2} ms (wall time; preemption counts when busy threads outnumber cores)",
                    us(self.stats.pauses.value_at_quantile(0.5)),
                    us(self.stats.pauses.value_at_quantile(0.99)),
                    us(self.stats.pauses.max()) / 1e3
                ),
            ),
            (
                "gave way while marking",
                format!("{} times (threads outnumber cores: Config::give_way)", self.stats.gave_way),
            ),
        ]
    }

    pub(crate) fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "tmgc-stress summary");
        for (k, v) in self.summary() {
            let _ = writeln!(s, "  {k:<38} {v}");
        }
        let _ =
            writeln!(s, "\n  thread  commits  conflicts  injected aborts  injected panics  pause p50    p99       max");
        for t in &self.threads {
            let (p50, p99, max) =
                t.pauses.as_ref().map_or((0, 0, 0), |h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.max()));
            let _ = writeln!(
                s,
                "  {:>6}  {:>7}  {:>9}  {:>15}  {:>15}  {:>7.2}µs {:>7.2}µs {:>7.2}ms",
                t.thread,
                t.counters.commits,
                t.conflicts,
                t.counters.injected_aborts,
                t.counters.injected_panics,
                us(p50),
                us(p99),
                us(max) / 1e3
            );
        }
        let samples: Vec<String> =
            self.heap_samples.iter().map(|(t, b)| format!("{t:.0}s:{:.0}", *b as f64 / 1048576.0)).collect();
        let _ = writeln!(s, "\n  heap size over time (MiB): {}", samples.join(" "));
        let _ = writeln!(s, "  result: {}", if self.failure.is_some() { "FAILED" } else { "OK: every check passed" });
        s
    }

    pub(crate) fn json(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let threads: Vec<_> = self
            .threads
            .iter()
            .map(|t| {
                let h = t.pauses.as_ref();
                serde_json::json!({
                    "thread": t.thread,
                    "commits": t.counters.commits,
                    "conflicts": t.conflicts,
                    "injected_aborts": t.counters.injected_aborts,
                    "injected_panics": t.counters.injected_panics,
                    "injected_faults": t.counters.injected_faults,
                    "faults_rolled_forward": t.counters.faults_rolled_forward,
                    "heap_exhausted": t.counters.exhausted,
                    "checks": t.counters.checks,
                    "allocated_bytes": t.allocated,
                    "pause_p50_ns": h.map_or(0, |h| h.value_at_quantile(0.5)),
                    "pause_p99_ns": h.map_or(0, |h| h.value_at_quantile(0.99)),
                    "pause_max_ns": h.map_or(0, |h| h.max()),
                })
            })
            .collect();
        let commits = self.total(|t| t.counters.commits);
        let allocated = self.total(|t| t.allocated);
        serde_json::json!({
            "ok": self.failure.is_none(),
            "failure": self.failure.as_ref().map(|f| serde_json::json!({
                "workload": f.workload, "thread": f.thread, "seed": f.seed, "detail": f.detail,
            })),
            "seed": self.seed,
            "duration_s": secs,
            "workloads": self.workloads,
            "commits": commits,
            "commits_per_s": commits as f64 / secs,
            "allocated_bytes": allocated,
            "allocated_mb_per_s": allocated as f64 / secs / 1e6,
            "cycles": self.stats.cycles,
            "full_cycles": self.stats.full_cycles,
            "gave_way": self.stats.gave_way,
            "verify": self.verify,
            "cycle_max_ms": self.stats.max_cycle.as_secs_f64() * 1e3,
            "cycle_total_ms": self.stats.total_cycle_time.as_secs_f64() * 1e3,
            "live_bytes_mean": self.live().0,
            "live_bytes_max": self.live().1,
            "marker": self.marker,
            "heap_limit_mib": self.heap_limit_mib,
            "fault_permille": self.fault_permille,
            "objects_allocated": self.counts.allocations,
            "objects_given_back": self.counts.given_back,
            "objects_owned_taken": self.counts.owned_taken,
            "owned_asks": self.counts.owned_asked,
            "transactions_all_mutators": self.counts.commits,
            "heap_peak_bytes": self.peak_heap,
            "peak_rss_bytes": self.peak_rss,
            "heap_bytes_over_time": self.heap_samples,
            "pause_p50_ns": self.stats.pauses.value_at_quantile(0.5),
            "pause_p99_ns": self.stats.pauses.value_at_quantile(0.99),
            "pause_max_ns": self.stats.pauses.max(),
            "threads": threads,
        })
        .to_string()
    }
}
