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

/// Print `heap`'s figures. Call it after every mutator has detached, so
/// their pauses are folded into the heap's statistics.
pub(crate) fn print(heap: &Heap) {
    let st = heap.stats();
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
