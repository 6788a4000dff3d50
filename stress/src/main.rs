//! `tmgc-stress`: the stress harness of the tmgc collector, and the first
//! thing to run.
//!
//! Every thread runs transactional workloads (`workloads/`), rotating
//! through the chosen mix one slice at a time, while the concurrent
//! collector reclaims memory. Each thread checks its own structures after
//! its commits, the shared graph keeps a conserved sum, and with `--verify`
//! the heap verifier re-traces the heap after every cycle. Aborts and panics
//! are injected on purpose and must leave no trace.
//!
//! Exit status: 0 when every check passed; 1 on the first verification
//! failure (the message names the workload, thread, seed and object); 2 on
//! a usage or set-up error.

mod ctx;
mod opts;
mod report;
mod workloads;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tmgc::{Config, Heap};

use ctx::{Counters, Ctx, Failure, Rng, INJECTED};
use opts::{Opts, Workload};
use report::{Report, ThreadReport};
use workloads::Shared;

fn main() -> ExitCode {
    let opts = Opts::parse();
    // tmgc's warnings (a misspelt TMGC_* variable...) on stderr.
    tmgc::warnings_to_stderr();
    if opts.threads() > opts::max_threads() {
        eprintln!(
            "tmgc-stress: --threads {} is more than this machine can run within --duration: at most {} (16 per core, at least 256)",
            opts.threads(),
            opts::max_threads()
        );
        return ExitCode::from(2);
    }
    if opts.nursery_mib.is_some() && !opts.generational {
        eprintln!("tmgc-stress: --nursery-mib sets generational mode's nursery: give --generational too");
        return ExitCode::from(2);
    }
    if opts.fault_permille > 0 && !cfg!(feature = "faults") {
        eprintln!(
            "tmgc-stress: --fault-permille needs the build feature `faults`: \
             cargo build --release -p tmgc-stress --features faults"
        );
        return ExitCode::from(2);
    }
    // Injected panics are expected: keep them quiet, report the rest.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let ours = info.payload().downcast_ref::<&str>() == Some(&INJECTED);
        let tmgc_fault = cfg!(feature = "faults")
            && info.payload().downcast_ref::<String>().is_some_and(|m| m.starts_with("tmgc: injected fault at"));
        if !ours && !tmgc_fault {
            default_hook(info);
        }
    }));
    let marker = match opts.marker {
        opts::Marker::Serial => tmgc::MarkerKind::Serial,
        opts::Marker::Parallel => tmgc::MarkerKind::Parallel(0),
        opts::Marker::Assisted => tmgc::MarkerKind::Assisted,
    };
    let config = Config::default()
        .heap_limit(opts.heap_limit_mib << 20)
        .growth_factor(opts.growth_factor)
        .min_trigger_bytes(opts.min_trigger_mib << 20)
        .verify(opts.verify)
        .generational(opts.generational)
        .nursery_bytes(opts.nursery_mib.unwrap_or(32) << 20)
        .solo(!opts.no_solo)
        .give_way(!opts.no_give_way)
        .background(!opts.no_background)
        .marker(marker);
    let config = if opts.huge_pages {
        let alloc = config.get_alloc().clone().huge_pages(true);
        config.alloc(alloc)
    } else {
        config
    };
    let heap = match Heap::new(config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("tmgc-stress: cannot create the heap: {e}");
            return ExitCode::from(2);
        }
    };
    let report = run(&opts, &heap);
    if opts.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if let Some(f) = &report.failure {
        if f.workload == HARNESS {
            // Nothing failed a check: the run did too little to pass.
            eprintln!("tmgc-stress: FAILED: {}", f.detail);
            return ExitCode::from(1);
        }
        let who = match f.thread {
            usize::MAX if f.workload == VERIFIER => "the collector".to_string(),
            usize::MAX => "the main thread's last check".to_string(),
            t => format!("thread {t}"),
        };
        eprintln!(
            "tmgc-stress: VERIFICATION FAILED in workload `{}`, {who}, seed {} (rerun: --seed {} --threads {}): {}",
            f.workload,
            f.seed,
            opts.seed,
            opts.threads(),
            f.detail
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The failure's name for a run that committed and checked nothing.
const HARNESS: &str = "harness";
/// The failure's name for a heap-verifier failure (the collector's thread).
const VERIFIER: &str = "heap verifier";

fn run(opts: &Opts, heap: &Heap) -> Report {
    let threads = opts.threads();
    let mix = opts.workloads();
    let shared = Arc::new(Shared { graph: workloads::graph::Graph::new(heap), resources: Default::default() });
    let stop = Arc::new(AtomicBool::new(false));
    let failure: Arc<Mutex<Option<Failure>>> = Arc::new(Mutex::new(None));
    let commits = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(opts.duration);

    // Threads still to start when the duration is over are not started.
    let workers: Vec<_> = (0..threads)
        .take_while(|_| Instant::now() < end)
        .map(|t| {
            let (heap, opts, mix, shared) = (heap.clone(), opts.clone(), mix.clone(), Arc::clone(&shared));
            let (stop, failure, commits) = (Arc::clone(&stop), Arc::clone(&failure), Arc::clone(&commits));
            std::thread::spawn(move || {
                let (stop2, failure2, base_seed) = (Arc::clone(&stop), Arc::clone(&failure), opts.seed);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut m = heap.attach().expect("one mutator per thread");
                    let seed = opts.seed.wrapping_add(t as u64);
                    let mut ctx = Ctx {
                        heap: &heap,
                        m: &mut m,
                        rng: Rng::new(seed),
                        opts: &opts,
                        thread: t,
                        seed,
                        workload: "",
                        until: start,
                        stop: &stop,
                        committed: &commits,
                        counters: Counters::default(),
                        forward_ok: false,
                    };
                    let mut slice = 0usize;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                        let w = mix[(t + slice) % mix.len()];
                        ctx.workload = w.name();
                        ctx.forward_ok = w == Workload::Graph;
                        ctx.until = (Instant::now() + Duration::from_millis(opts.slice_ms)).min(end);
                        let r = workloads::run(w, &mut ctx, &shared);
                        if let Err(f) = r {
                            failure.lock().unwrap().get_or_insert(f);
                            stop.store(true, Ordering::Relaxed);
                        }
                        if opts.ops.is_some_and(|n| commits.load(Ordering::Relaxed) >= n) {
                            stop.store(true, Ordering::Relaxed);
                        }
                        slice += 1;
                    }
                    let counters = ctx.counters.clone();
                    let id = m.id();
                    let allocated = m.allocated_bytes();
                    let conflicts = m.tx_counts().conflicts;
                    m.commit_point(); // merge this thread's pauses into the statistics
                    let pauses = heap.stats().per_mutator.into_iter().find(|(i, _)| *i == id).map(|(_, h)| h);
                    ThreadReport { thread: t, counters, conflicts, allocated, pauses }
                }));
                r.unwrap_or_else(|p| {
                    // A panic outside the injected ones (a check's own
                    // assertion, or a bug): a failure, and everyone stops.
                    let detail = ctx::panic_message(&*p).unwrap_or_else(|| "a worker thread panicked".into());
                    failure2.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(Failure {
                        workload: "worker",
                        thread: t,
                        seed: base_seed.wrapping_add(t as u64),
                        detail: format!("panic: {detail}"),
                    });
                    stop2.store(true, Ordering::Relaxed);
                    ThreadReport { thread: t, counters: Counters::default(), conflicts: 0, allocated: 0, pauses: None }
                })
            })
        })
        .collect();

    // The monitor: progress, heap size over time, collector failures.
    let bar = (!opts.json).then(|| report::progress(opts.duration));
    let mut heap_samples: Vec<(f64, u64)> = Vec::new();
    let mut peak_heap = 0u64;
    while !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        let st = heap.stats();
        peak_heap = peak_heap.max(st.heap_bytes);
        let t = start.elapsed().as_secs_f64();
        if heap_samples.last().is_none_or(|&(s, _)| t - s >= 1.0) {
            heap_samples.push((t, st.heap_bytes));
        }
        if let Some(f) = st.verify_failures.first() {
            verifier_failed(&failure, opts.seed, f.clone());
            stop.store(true, Ordering::Relaxed);
        }
        if let Some(b) = &bar {
            b.set_position((t * 10.0) as u64);
            b.set_message(format!(
                "{} commits, {} cycles, heap {} MiB",
                commits.load(Ordering::Relaxed),
                st.cycles,
                st.heap_bytes >> 20
            ));
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let threads: Vec<ThreadReport> = workers.into_iter().map(|w| w.join().expect("a worker thread panicked")).collect();
    let elapsed = start.elapsed();
    // One last cycle, so its verification (if on) covers the final heap.
    if opts.verify {
        if let Err(e) = heap.collect() {
            verifier_failed(&failure, opts.seed, e.to_string());
        }
    }
    // Every resource of the finalize workload released exactly once.
    if mix.contains(&opts::Workload::Finalize) && failure.lock().unwrap().is_none() {
        if let Err(detail) = workloads::finalize::finish(heap, &shared.resources) {
            failure.lock().unwrap().get_or_insert(Failure {
                workload: "finalize",
                thread: usize::MAX,
                seed: opts.seed,
                detail,
            });
        }
    }
    let stats = heap.stats();
    if let Some(f) = stats.verify_failures.first() {
        // A cycle that failed after the monitor's last look.
        verifier_failed(&failure, opts.seed, f.clone());
    }
    let mut failure = failure.lock().unwrap().clone();
    // A run that checked nothing proves nothing: it must not say OK.
    let checked: u64 = threads.iter().map(|t| t.counters.commits + t.counters.checks).sum();
    if failure.is_none() && checked == 0 {
        failure = Some(Failure {
            workload: HARNESS,
            thread: usize::MAX,
            seed: opts.seed,
            detail: "the run committed and checked nothing (too short, or no thread started)".into(),
        });
    }
    // The heap's own high-water mark also catches peaks between samples.
    let peak_heap = peak_heap.max(stats.peak_heap_bytes);
    Report::new(opts, threads, (stats, heap.tx_counts()), elapsed, peak_heap, heap_samples, failure)
}

/// Record a heap-verifier failure, unless a failure is already recorded
/// (the first one is the one reported).
fn verifier_failed(failure: &std::sync::Mutex<Option<Failure>>, seed: u64, detail: String) {
    failure.lock().unwrap().get_or_insert(Failure { workload: VERIFIER, thread: usize::MAX, seed, detail });
}
