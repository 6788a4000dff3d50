//! `tmgc-stress`: the workspace's main job.
//!
//! Today it drives the allocation layer: every thread allocates objects of
//! random sizes (some large, some with destructors), keeps a random subset
//! alive in a ring, and aborts a share of its "transactions" (checkpoint and
//! rewind). When the heap has grown by a trigger amount, the threads meet for
//! a stand-in collection: each marks its own ring, then all sweep in
//! parallel, and each verifies the contents of every object it kept. The
//! concurrent collector (with no such rendezvous) replaces the stand-in when
//! it lands; the full workload mix follows with it.
//!
//! Exit status: 0 on success, 1 on the first verification failure (named with
//! thread, seed and object), 2 on a usage or heap error.

use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tmgc::alloc::{AllocError, Config, LocalAllocator, Space, LARGE_THRESHOLD};

#[derive(Parser, Debug, Clone)]
#[command(version, about = "Stress and demo harness for the tmgc allocation layer")]
struct Args {
    /// Mutator threads (default: the number of cores). More than cores is allowed.
    #[arg(long)]
    threads: Option<usize>,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seed: the same seed runs the same per-thread operation sequences.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Heap limit in MiB.
    #[arg(long, default_value_t = 1024)]
    heap_limit_mib: usize,
    /// Collect after this many MiB allocated since the last collection.
    #[arg(long, default_value_t = 64)]
    trigger_mib: usize,
    /// Objects each thread keeps alive.
    #[arg(long, default_value_t = 20_000)]
    live_objects: usize,
    /// Percentage of transactions that abort (rewind their allocations).
    #[arg(long, default_value_t = 10)]
    abort_percent: u64,
    /// Check every kept object after every collection (on by default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    verify: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

struct Kept {
    ptr: NonNull<u8>,
    size: usize,
    seed: u64,
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Fill an object with bytes derived from `seed`.
fn write_pattern(p: NonNull<u8>, size: usize, seed: u64) {
    // SAFETY: `p` is a fresh allocation of `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), size) };
    let mut x = seed | 1;
    for b in bytes {
        *b = xorshift(&mut x) as u8;
    }
}

fn pattern_holds(k: &Kept) -> bool {
    // SAFETY: kept objects are marked at every collection, so they are live.
    let bytes = unsafe { std::slice::from_raw_parts(k.ptr.as_ptr(), k.size) };
    let mut x = k.seed | 1;
    bytes.iter().all(|&b| b == xorshift(&mut x) as u8)
}

#[derive(Default)]
struct Totals {
    allocs: AtomicU64,
    bytes: AtomicU64,
    txs: AtomicU64,
    aborts: AtomicU64,
}

struct Shared {
    args: Args,
    space: Space,
    barrier: Barrier,
    collect: AtomicBool,
    stop: AtomicBool,
    start: Instant,
    totals: Totals,
    cycles: AtomicUsize,
    cycle_times: Mutex<Vec<Duration>>,
    peak_heap: AtomicUsize,
    failure: Mutex<Option<String>>,
}

/// One thread's run. Returns an error string on a verification failure.
fn mutator(sh: &Shared, t: usize) -> Result<(), String> {
    let args = &sh.args;
    let mut a: LocalAllocator = sh.space.allocator();
    let mut rng = args.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1));
    let mut kept: Vec<Kept> = Vec::with_capacity(args.live_objects);
    let duration = Duration::from_secs_f64(args.duration);
    let trigger = (args.trigger_mib as i64) << 20;
    loop {
        // A batch of transactions.
        for _ in 0..64 {
            let abort = xorshift(&mut rng) % 100 < args.abort_percent;
            let ck = a.checkpoint();
            let mut staged = Vec::new();
            for _ in 0..16 {
                let r = xorshift(&mut rng);
                let size = match r % 1000 {
                    0 => LARGE_THRESHOLD + (r as usize >> 12) % (4 * LARGE_THRESHOLD),
                    1..=50 => 256 + (r as usize >> 12) % 1024,
                    _ => 16 + (r as usize >> 12) % 112,
                };
                let p = match a.alloc(size, 8) {
                    Ok(p) => p,
                    Err(e @ AllocError::HeapExhausted { .. }) => {
                        return Err(format!("thread {t}: {e} (raise --heap-limit-mib)"));
                    }
                    Err(e) => return Err(format!("thread {t}: allocation failed: {e}")),
                };
                let seed = xorshift(&mut rng);
                write_pattern(p, size, seed);
                sh.totals.bytes.fetch_add(size as u64, Ordering::Relaxed);
                staged.push(Kept { ptr: p, size, seed });
            }
            sh.totals.txs.fetch_add(1, Ordering::Relaxed);
            if abort {
                a.rewind(&ck).map_err(|e| e.to_string())?;
                sh.totals.aborts.fetch_add(1, Ordering::Relaxed);
            } else {
                sh.totals.allocs.fetch_add(staged.len() as u64, Ordering::Relaxed);
                for k in staged {
                    if kept.len() < args.live_objects {
                        kept.push(k);
                    } else if xorshift(&mut rng) % 4 == 0 {
                        let i = (xorshift(&mut rng) as usize) % kept.len();
                        kept[i] = k;
                    }
                }
            }
            a.release(ck).map_err(|e| e.to_string())?;
        }
        if t == 0 && sh.space.allocated_bytes() >= trigger {
            sh.collect.store(true, Ordering::Release);
        }
        let time_up = sh.start.elapsed() >= duration;
        if !(sh.collect.load(Ordering::Acquire) || time_up) {
            continue;
        }
        // Stand-in collection: everyone meets here.
        sh.barrier.wait();
        if t == 0 {
            sh.stop.store(time_up, Ordering::Release);
            sh.collect.store(false, Ordering::Release);
            sh.space.take_allocated_bytes();
            sh.space.clear_marks();
        }
        sh.barrier.wait();
        let started = Instant::now();
        for k in &kept {
            // SAFETY: every kept object is live: marked at every collection.
            unsafe { tmgc::alloc::mark(k.ptr) };
        }
        a.retire_all().map_err(|e| e.to_string())?;
        sh.barrier.wait();
        if t == 0 {
            sh.peak_heap.fetch_max(sh.space.heap_bytes(), Ordering::Relaxed);
            sh.space.begin_sweep();
        }
        sh.barrier.wait();
        sh.space.sweep();
        sh.barrier.wait();
        if t == 0 {
            sh.cycles.fetch_add(1, Ordering::Relaxed);
            sh.cycle_times.lock().unwrap().push(started.elapsed());
            if sh.space.unswept_blocks() != 0 {
                return Err("a sweep finished with blocks left unswept".into());
            }
        }
        if args.verify {
            if let Some(k) = kept.iter().find(|k| !pattern_holds(k)) {
                return Err(format!(
                    "verification failed: thread {t}, seed {}, object {:p} ({} bytes) was overwritten",
                    args.seed, k.ptr, k.size
                ));
            }
        }
        let stop = sh.stop.load(Ordering::Acquire);
        sh.barrier.wait();
        if stop {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    args.threads = Some(threads);
    if args.duration <= 0.0 || args.live_objects == 0 || args.abort_percent > 100 {
        eprintln!("error: --duration and --live-objects must be positive and --abort-percent at most 100");
        return ExitCode::from(2);
    }
    let space = match Space::new(Config::default().heap_limit(args.heap_limit_mib << 20)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let sh = Arc::new(Shared {
        args: args.clone(),
        space,
        barrier: Barrier::new(threads),
        collect: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        start: Instant::now(),
        totals: Totals::default(),
        cycles: AtomicUsize::new(0),
        cycle_times: Mutex::new(Vec::new()),
        peak_heap: AtomicUsize::new(0),
        failure: Mutex::new(None),
    });
    if !args.json {
        eprintln!(
            "tmgc-stress: {threads} threads for {:.1} s, seed {}, heap limit {} MiB (allocation-layer mix)",
            args.duration, args.seed, args.heap_limit_mib
        );
    }
    std::thread::scope(|s| {
        for t in 0..threads {
            let sh = Arc::clone(&sh);
            s.spawn(move || {
                if let Err(e) = mutator(&sh, t) {
                    sh.failure.lock().unwrap().get_or_insert(e);
                    // Leave the process now: the other threads are waiting at a barrier.
                    eprintln!("FAILED: {}", sh.failure.lock().unwrap().as_deref().unwrap_or(""));
                    std::process::exit(1);
                }
            });
        }
    });
    report(&sh)
}

fn report(sh: &Shared) -> ExitCode {
    let elapsed = sh.start.elapsed().as_secs_f64();
    let t = &sh.totals;
    let allocs = t.allocs.load(Ordering::Relaxed);
    let bytes = t.bytes.load(Ordering::Relaxed);
    let txs = t.txs.load(Ordering::Relaxed);
    let aborts = t.aborts.load(Ordering::Relaxed);
    let times = sh.cycle_times.lock().unwrap().clone();
    let cycles = times.len();
    let mean_ms = times.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1e3 / cycles.max(1) as f64;
    let max_ms = times.iter().map(|d| d.as_secs_f64() * 1e3).fold(0.0, f64::max);
    let st = sh.space.stats();
    let rss = peak_rss_kib();
    if sh.args.json {
        let v = serde_json::json!({
            "threads": sh.args.threads, "seed": sh.args.seed, "seconds": elapsed,
            "allocations": allocs, "allocated_bytes": bytes,
            "allocations_per_sec": allocs as f64 / elapsed, "mb_per_sec": bytes as f64 / elapsed / 1e6,
            "transactions": txs, "aborts": aborts, "abort_rate": aborts as f64 / txs.max(1) as f64,
            "collections": cycles, "collection_ms_mean": mean_ms, "collection_ms_max": max_ms,
            "peak_heap_bytes": sh.peak_heap.load(Ordering::Relaxed), "heap_bytes": st.heap_bytes,
            "committed_bytes": st.committed_bytes, "live_bytes": st.live_bytes,
            "peak_rss_kib": rss, "verified": sh.args.verify, "ok": true,
        });
        println!("{v}");
    } else {
        let mib = |b: usize| format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
        let rows = [
            ("threads", format!("{}", sh.args.threads.unwrap_or(1))),
            ("seconds", format!("{elapsed:.2}")),
            ("allocations", format!("{allocs} ({:.1} M/s)", allocs as f64 / elapsed / 1e6)),
            ("bytes allocated", format!("{} ({:.0} MB/s)", mib(bytes as usize), bytes as f64 / elapsed / 1e6)),
            ("transactions", format!("{txs}, {aborts} aborted ({:.1}%)", 100.0 * aborts as f64 / txs.max(1) as f64)),
            ("collections", format!("{cycles} (mean {mean_ms:.2} ms, max {max_ms:.2} ms, stand-in)")),
            ("peak heap", mib(sh.peak_heap.load(Ordering::Relaxed))),
            ("heap now / committed", format!("{} / {}", mib(st.heap_bytes), mib(st.committed_bytes))),
            ("live after last sweep", mib(st.live_bytes)),
            ("peak RSS", rss.map_or("n/a".into(), |k| mib(k * 1024))),
            (
                "verification",
                if sh.args.verify { "every kept object, every collection: OK".into() } else { "off".into() },
            ),
        ];
        println!("{:-<60}", "");
        for (k, v) in rows {
            println!("{k:<24}{v}");
        }
        println!("{:-<60}", "");
    }
    ExitCode::SUCCESS
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
