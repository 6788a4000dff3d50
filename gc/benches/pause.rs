//! Pauses and cycle durations with a large live heap.
//!
//! Run: `cargo bench -p tmgc --bench pause` (about 2 minutes); sizes in MiB
//! can be given: `cargo bench -p tmgc --bench pause -- 64 256`, and the
//! number of churning threads with `PAUSE_MUTATORS=1` (default 2), the
//! marker with `PAUSE_MARKER=assisted|parallel` (default serial), and
//! `PAUSE_GIVE_WAY=0` turns giving way off (`Config::give_way`). With
//! `--features pause-cputime` each pause is also timed on the thread's CPU
//! clock, and the report adds the CPU-time quantiles: a pause whose wall
//! time is far above any pause's CPU time was the thread off its CPU.
//! It also adds a control: after each commit, each churning thread times
//! 300 multiply-adds (well under a microsecond of work) on the same
//! clock. On a VM that clock also charges a thread for time it did not
//! run (the hypervisor holding the vCPU, interrupts), so a pause's CPU
//! time shows GC work only where it stands clear of the control's in the
//! same run. Those clock reads (two system calls a pause) and the control
//! are the mutator's time outside its pauses, so they dilute its pauses:
//! they took the MMU at 10 ms from about 75% to 82-83% on an Intel Xeon
//! VM (docs/PERFORMANCE.md). Take the MMU from a build without the
//! feature; the bench says so when it has it.
//!
//! For each live-heap size: one thread builds the live heap (chains of
//! 10,000 nodes of 32 bytes, each held by a global root), then two mutator
//! threads churn (each transaction replaces one of its 1,024 rooted chains
//! of 16 nodes, so the commit barrier shades the old chain while marking
//! runs) while the main thread runs back-to-back collections. Reported:
//! each churning mutator's pauses at commit points (handshake answers and
//! commit-barrier work), their minimum mutator utilisation (MMU: the worst
//! share of any 1, 10 or 100 ms window a churning thread kept for its own
//! work, `GcStats::mmu`), the cycle durations, and the churn rate. A JSON
//! line per size goes to `target/pause-<marker>-<mutators>.json`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tmgc::{Config, GlobalRoot, Heap, Mutator, Ref, Root, Trace, Value};

#[derive(Trace)]
struct Node {
    val: Value<u64>,
    next: Ref<Node>,
}

#[derive(Trace)]
struct Slot {
    chain: Ref<Node>,
    next: Ref<Slot>,
}

const CHAIN: u64 = 10_000;
const NODE_BYTES: u64 = 32;
const SLOTS: u64 = 1024;
const CYCLES: usize = 6;

fn build_live(heap: &Heap, mib: u64) -> Vec<GlobalRoot<Node>> {
    let mut m = heap.attach().unwrap();
    let chains = (mib << 20) / (CHAIN * NODE_BYTES);
    (0..chains)
        .map(|c| {
            m.transaction::<_, ()>(|tx| {
                let mut head = None;
                for i in 0..CHAIN {
                    let n = tx.alloc(Node { val: Value::new(c ^ i), next: Ref::null() })?;
                    tx.store(n, |x| &x.next, head)?;
                    head = Some(n);
                }
                Ok(tx.global_root(head.unwrap()))
            })
            .unwrap()
        })
        .collect()
}

fn table(m: &mut Mutator) -> Root<Slot> {
    m.transaction::<_, ()>(|tx| {
        let mut head = None;
        for _ in 0..SLOTS {
            let s = tx.alloc(Slot { chain: Ref::null(), next: head.map_or(Ref::null(), |_| Ref::null()) })?;
            tx.store(s, |x| &x.next, head)?;
            head = Some(s);
        }
        Ok(tx.root(head.unwrap()))
    })
    .unwrap()
}

/// The control: dependent multiply-adds timed, after each commit, on the
/// same thread CPU clock that times the pauses (`pause-cputime`). A few
/// hundred nanoseconds of work: any sample far above that is the clock
/// charging the thread for something else (the hypervisor holding the
/// vCPU, an interrupt), so a pause's CPU time is GC work only where it
/// stands clear of the control's maximum in the same run.
const CONTROL_OPS: u64 = 300;

/// The thread's CPU time, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call writes only it.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One control sample: the CPU time of `CONTROL_OPS` multiply-adds.
fn control_sample() -> u64 {
    let c0 = thread_cpu_ns();
    let mut x = 0u64;
    for i in 0..CONTROL_OPS {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    thread_cpu_ns().saturating_sub(c0)
}

/// A churning mutator; returns its id and, with `pause-cputime`, its
/// control samples.
fn churn(heap: Heap, stop: Arc<AtomicBool>, txs: Arc<AtomicU64>, seed: u64) -> (u64, Histogram<u64>) {
    let control = cfg!(feature = "pause-cputime");
    let mut samples = Histogram::<u64>::new(3).unwrap();
    let mut m = heap.attach().unwrap();
    let t = table(&mut m);
    let mut x = seed;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = x % 64; // walk at most 64 slots: short transactions
        m.transaction::<_, ()>(|tx| {
            let mut s = tx.get_root(&t)?;
            for _ in 0..k {
                s = tx.load(s, |x| &x.next)?.unwrap();
            }
            let mut head = None;
            for i in 0..16 {
                let n = tx.alloc(Node { val: Value::new(i), next: Ref::null() })?;
                tx.store(n, |x| &x.next, head)?;
                head = Some(n);
            }
            tx.store(s, |x| &x.chain, head)?;
            Ok(())
        })
        .unwrap();
        n += 1;
        if control {
            samples.record(control_sample()).unwrap();
        }
    }
    txs.fetch_add(n, Ordering::Relaxed);
    (m.id(), samples)
}

/// CPU-milliseconds this VM's CPUs were stolen by the hypervisor so far,
/// summed over all CPUs (`/proc/stat`, field 8 of the `cpu` line, in 10 ms
/// ticks); 0 where
/// unavailable. A descheduled vCPU stalls whatever thread it runs, GC work
/// included, so the pause report states it beside the long pauses.
fn steal_ms() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(8)).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |ticks| ticks * 10)
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![64, 256, 1024] } else { sizes };
    let mutators: u64 = std::env::var("PAUSE_MUTATORS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let give_way = std::env::var("PAUSE_GIVE_WAY").map_or(true, |v| v != "0");
    let mut marker_name = std::env::var("PAUSE_MARKER").unwrap_or_else(|_| "serial".into());
    if !give_way {
        marker_name.push_str("-nogiveway");
    }
    println!("{mutators} churning mutators, {marker_name} marker, {CYCLES} back-to-back cycles per size");
    if cfg!(feature = "pause-cputime") {
        println!(
            "pause-cputime: the CPU clock's system calls and the control run between the pauses and dilute them; \
             take the MMU from a build without the feature"
        );
    }
    let mut json = String::new();
    println!(
        "| live heap | cycles | cycle mean | cycle max | mark mean | pause p50 | pause p99 | pause max | MMU 1 / 10 / 100 ms | commits/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for mib in sizes {
        let marker = match std::env::var("PAUSE_MARKER").as_deref() {
            Ok("assisted") => tmgc::MarkerKind::Assisted,
            Ok("parallel") => tmgc::MarkerKind::Parallel(2),
            _ => tmgc::MarkerKind::Serial,
        };
        let config = Config::default().verify(false).min_trigger_bytes(u64::MAX / 4).marker(marker).give_way(give_way);
        let heap = Heap::new(config).unwrap();
        let live = build_live(&heap, mib);
        heap.collect().unwrap(); // settle: the build's own cycle state
        let stop = Arc::new(AtomicBool::new(false));
        let txs = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..mutators)
            .map(|i| {
                let (heap, stop, txs) = (heap.clone(), Arc::clone(&stop), Arc::clone(&txs));
                std::thread::spawn(move || churn(heap, stop, txs, 0x9E37_79B9 + i))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        let steal0 = steal_ms();
        let before = heap.stats().cycles;
        for _ in 0..CYCLES {
            heap.collect().unwrap();
        }
        let elapsed = t0.elapsed();
        let steal = steal_ms() - steal0;
        stop.store(true, Ordering::Relaxed);
        let mut control = Histogram::<u64>::new(3).unwrap();
        let ids: Vec<u64> = workers
            .into_iter()
            .map(|w| {
                let (id, samples) = w.join().unwrap();
                control.add(&samples).unwrap();
                id
            })
            .collect();
        let st = heap.stats();
        let cycles: Vec<_> = st.recent.iter().filter(|c| c.cycle > before).collect();
        let mean = cycles.iter().map(|c| c.duration).sum::<Duration>() / cycles.len() as u32;
        let max = cycles.iter().map(|c| c.duration).max().unwrap();
        let mark = cycles.iter().map(|c| c.mark).sum::<Duration>() / cycles.len() as u32;
        // The churning mutators' pauses (detached now: folded into `pauses`
        // together with the builder's, which churned nothing).
        let p = &st.pauses;
        eprintln!(
            "  {mib} MiB: {} pauses; p99.9 {:.1} µs; over 100 µs: {}; over 1 ms: {}; hypervisor steal {steal} CPU-ms (all CPUs) in {:.0} ms; gave way {} times",
            p.len(),
            p.value_at_quantile(0.999) as f64 / 1e3,
            p.count_between(100_000, u64::MAX / 2),
            p.count_between(1_000_000, u64::MAX / 2),
            elapsed.as_secs_f64() * 1e3,
            st.gave_way
        );
        let c = &st.pause_cpu;
        if !c.is_empty() {
            eprintln!(
                "  {mib} MiB: pause CPU time: p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs; over 100 µs: {}; over 1 ms: {}",
                c.value_at_quantile(0.99) as f64 / 1e3,
                c.value_at_quantile(0.999) as f64 / 1e3,
                c.max() as f64 / 1e3,
                c.count_between(100_000, u64::MAX / 2),
                c.count_between(1_000_000, u64::MAX / 2),
            );
            eprintln!(
                "  {mib} MiB: control ({CONTROL_OPS} multiply-adds on the same clock after each commit): p99.9 {:.1} µs, max {:.1} µs; over 100 µs: {} of {}",
                control.value_at_quantile(0.999) as f64 / 1e3,
                control.max() as f64 / 1e3,
                control.count_between(100_000, u64::MAX / 2),
                control.len(),
            );
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let us = |ns: u64| ns as f64 / 1e3;
        let row = serde_json::json!({
            "marker": marker_name,
            "mutators": mutators,
            "live_mib": mib,
            "cycles": cycles.len(),
            "cycle_mean_ms": ms(mean),
            "cycle_max_ms": ms(max),
            "mark_mean_ms": ms(mark),
            "pause_p50_us": us(p.value_at_quantile(0.5)),
            "pause_p99_us": us(p.value_at_quantile(0.99)),
            "pause_max_us": us(p.max()),
            "pauses": p.len(),
            "over_1ms": p.count_between(1_000_000, u64::MAX / 2),
            "steal_cpu_ms": steal,
            "pause_cpu_p99_us": (!c.is_empty()).then(|| us(c.value_at_quantile(0.99))),
            "pause_cpu_max_us": (!c.is_empty()).then(|| us(c.max())),
            "cpu_over_1ms": (!c.is_empty()).then(|| c.count_between(1_000_000, u64::MAX / 2)),
            "control_cpu_max_us": (!control.is_empty()).then(|| us(control.max())),
            "control_cpu_over_100us": (!control.is_empty()).then(|| control.count_between(100_000, u64::MAX / 2)),
            "pause_cputime": cfg!(feature = "pause-cputime"),
            "mmu_1ms": st.mmu[0].utilisation,
            "mmu_10ms": st.mmu[1].utilisation,
            "mmu_100ms": st.mmu[2].utilisation,
            "commits_per_s": txs.load(Ordering::Relaxed) as f64 / (elapsed.as_secs_f64() + 0.2),
            "mutator_ids": ids,
        });
        let f = |k: &str| row[k].as_f64().unwrap_or(0.0);
        println!(
            "| {mib} MiB | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} µs | {:.2} µs | {:.1} µs | {:.0}% / {:.0}% / {:.0}% | {:.0} |",
            cycles.len(),
            f("cycle_mean_ms"),
            f("cycle_max_ms"),
            f("mark_mean_ms"),
            f("pause_p50_us"),
            f("pause_p99_us"),
            f("pause_max_us"),
            100.0 * f("mmu_1ms"),
            100.0 * f("mmu_10ms"),
            100.0 * f("mmu_100ms"),
            f("commits_per_s")
        );
        json.push_str(&row.to_string());
        json.push('\n');
        drop(live);
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(format!("{dir}/pause-{marker_name}-{mutators}.json"), json);
}
