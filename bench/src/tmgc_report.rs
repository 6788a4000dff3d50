//! tmgc's side of every program: the heap's configuration, and the
//! `#tmgc` line every tmgc program prints last (the collector's figures:
//! cycles, marked bytes, pauses, heap size) for the runner's notes and
//! JSON.

use tmgc::{Config, Heap};

/// The configuration every tmgc program uses: the default, with
/// generational mode as `TMGC_BENCH_GENERATIONAL` says (`1` on, `0` off;
/// unset: the default). The runner sets it for its `tmgc-gen` and
/// `tmgc-full` systems. Release builds: the verifier is off by default.
pub(crate) fn config() -> Config {
    let c = Config::default();
    match std::env::var("TMGC_BENCH_GENERATIONAL").as_deref() {
        Ok("1") => c.generational(true),
        Ok("0") => c.generational(false),
        _ => c,
    }
}

/// Whether each short-lived tree of binary-trees and GCBench is published
/// (`TMGC_BENCH_PUBLISH=1`: the runner's `tmgc-published` system). By
/// default a tree built and dropped in one transaction is never published,
/// and its commit gives its memory back at once (CM3 of tmgc's
/// `tx/commit.rs`): the collector never sees it. Published, every tree is
/// stamped, walked by its commit if a cycle marks, and freed by the
/// collector: the figure that measures the collector on these programs.
/// (Not the same as before CM3, when a tree stayed unpublished and only
/// the sweep freed it.)
pub(crate) fn publish_trees() -> bool {
    static PUBLISH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PUBLISH.get_or_init(|| std::env::var("TMGC_BENCH_PUBLISH").as_deref() == Ok("1"))
}

/// With [`publish_trees`], a root of `t`: it publishes `t` at the commit,
/// and the caller drops it right after (a root drop applies at the next
/// commit), so `t` is garbage from then on, for the collector to free.
pub(crate) fn publish<'tx, T>(tx: &mut tmgc::Tx<'tx>, t: tmgc::Gc<'tx, T>) -> Option<tmgc::Root<T>> {
    publish_trees().then(|| tx.root(t))
}

/// Print `heap`'s figures. Call it after every mutator has detached, so
/// their pauses are folded into the heap's statistics.
///
/// With `TMGC_BENCH_CYCLES=1` set, it first prints each of the last 64
/// cycles to standard error (kind, duration, marked and live bytes,
/// remembered holders), for a look inside one run.
pub(crate) fn print(heap: &Heap) {
    let st = heap.stats();
    if std::env::var_os("TMGC_BENCH_CYCLES").is_some() {
        for c in &st.recent {
            eprintln!(
                "cycle {:>4} {} {:>8.2} ms (to T {:.2}, mark {:.2}) marked {:>7.1} MB allocated {:>7.1} MB live {:>7.1} MB heap {:>7.1} MB remembered {}",
                c.cycle,
                if c.full { "full " } else { "young" },
                c.duration.as_secs_f64() * 1e3,
                c.to_t.as_secs_f64() * 1e3,
                c.mark.as_secs_f64() * 1e3,
                c.marked_bytes as f64 / 1e6,
                c.allocated_bytes as f64 / 1e6,
                c.live_bytes as f64 / 1e6,
                c.heap_bytes as f64 / 1e6,
                c.remembered
            );
        }
    }
    let marked: u64 = st.recent.iter().map(|c| c.marked_bytes).sum();
    let q = |p: f64| if st.pauses.is_empty() { 0 } else { st.pauses.value_at_quantile(p) };
    let max = if st.pauses.is_empty() { 0 } else { st.pauses.max() };
    println!(
        "#tmgc {}",
        serde_json::json!({
            "cycles": st.cycles,
            "full_cycles": st.full_cycles,
            "generational": config().get_generational(),
            "marked_bytes_recent": marked,
            "recent_cycles": st.recent.len(),
            "pause_p99_ns": q(0.99),
            "pause_max_ns": max,
            "peak_heap_bytes": st.peak_heap_bytes,
            "total_cycle_ms": st.total_cycle_time.as_secs_f64() * 1e3,
        })
    );
}
