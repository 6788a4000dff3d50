//! `tmgc-bench`: whole programs on tmgc and on the systems a user would
//! pick instead, in one run, with ratios.
//!
//! Each (program, system, threads) runs as a child process, so its peak
//! RSS is its own: wall time from spawn to exit, CPU time (user + system)
//! and peak RSS from the child's `wait4` resource usage. Every system must
//! print the same program lines (lines starting with `#` carry figures);
//! a system that prints anything else makes the run fail.
//!
//! Peers: `Box` with the system allocator and with mimalloc, a bumpalo
//! arena, dumpster's `sync::Gc`, and C with Boehm GC (built by
//! `bench/peers/setup.sh`; reported as missing when it is not there). A
//! program with no meaning on a peer says so in its row
//! ([`tmgc_bench::not_applicable`]).
//!
//! Output: a Markdown table per program and thread count, the JSON report
//! (`--json`), and an SVG plot per table beside the JSON file.

mod plot;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Whole-program benchmarks: tmgc against Box (system, mimalloc), an arena, dumpster and Boehm GC")]
struct Opts {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// N=18-sized runs (about 35 s after the build), for a quick look and for CI.
    #[arg(long)]
    quick: bool,
    /// The size (binary-trees depth; each program's docs say how its size
    /// follows from it); default 21, or 18 with --quick.
    #[arg(long)]
    n: Option<u32>,
    /// Mutator thread counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Systems to run, comma-separated (tmgc, box-system, box-mimalloc, arena, dumpster, boehm-1, boehm-2;
    /// also tmgc-gen and tmgc-full: tmgc with generational mode on and off;
    /// tmgc-published: tmgc with every short-lived tree of binary-trees and
    /// GCBench published, so the collector frees them; arena-header:
    /// binary-trees in the arena with the object size of tmgc before V4, a
    /// 16-byte header written in front of each node).
    #[arg(long, value_delimiter = ',', default_value = "tmgc,box-system,box-mimalloc,arena,dumpster,boehm-1,boehm-2")]
    systems: Vec<String>,
    /// Programs to run, comma-separated (binary-trees, gcbench, alloc-rate, graph).
    #[arg(long, value_delimiter = ',', default_value = "binary-trees,gcbench,alloc-rate,graph")]
    programs: Vec<String>,
    /// Runs of each measurement; the report gives the median wall time.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/peers.json")]
    json: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one program in this process (used by the runner).
    #[command(hide = true)]
    Run { program: String, system: String, n: u32, threads: usize },
}

/// One measured run of a child process.
struct Measured {
    wall_s: f64,
    cpu_s: f64,
    rss_mb: f64,
    lines: Vec<String>,
    extras: Vec<String>,
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    if let Some(Cmd::Run { program, system, n, threads }) = &opts.cmd {
        let Some(sys) = tmgc_bench::System::parse(system) else {
            eprintln!("tmgc-bench: unknown in-process system {system}");
            return ExitCode::from(2);
        };
        if !tmgc_bench::run(program, sys, *n, *threads) {
            eprintln!("tmgc-bench: unknown program {program}, or one with no meaning on {system}");
            return ExitCode::from(2);
        }
        return ExitCode::SUCCESS;
    }
    let n = opts.n.unwrap_or(if opts.quick { 18 } else { 21 });
    let mut ok = true;
    let mut report = Vec::new();
    let out_dir = opts.json.parent().map(PathBuf::from).unwrap_or_default();
    let _ = std::fs::create_dir_all(&out_dir);
    if let Some(bad) = opts.systems.iter().find(|s| !known_system(s)) {
        eprintln!("tmgc-bench: unknown system {bad} (known: {}, boehm-N)", SYSTEMS.join(", "));
        return ExitCode::from(2);
    }
    println!("tmgc-bench: n = {n}, {} run(s) each; CPU: {}", opts.runs, cpu_model());
    for program in &opts.programs {
        if !tmgc_bench::PROGRAMS.contains(&program.as_str()) {
            eprintln!("tmgc-bench: unknown program {program} (known: {})", tmgc_bench::PROGRAMS.join(", "));
            return ExitCode::from(2);
        }
        for &threads in &opts.threads {
            if program == "gcbench" && threads != 1 {
                println!("\n## {program}, {threads} mutator threads: n/a (GCBench is a one-thread program)");
                continue;
            }
            println!("\n## {program}, N={n}, {threads} mutator thread(s)\n");
            println!("| system | wall s | CPU s | peak RSS MB | wall ÷ tmgc | RSS ÷ tmgc | notes |");
            println!("|---|---|---|---|---|---|---|");
            let mut reference: Option<Vec<String>> = None;
            let mut tmgc_row: Option<(f64, f64)> = None;
            let mut bars = Vec::new();
            for system in &opts.systems {
                let row = match tmgc_bench::not_applicable(program, system, threads) {
                    Some(why) => Err(why.to_string()),
                    None => measure(program, system, n, threads, opts.runs),
                };
                let entry = match row {
                    Err(why) => {
                        println!("| {system} | | | | | | {why} |");
                        serde_json::json!({"program": program, "system": system, "threads": threads, "n": n, "missing": why})
                    }
                    Ok(m) => {
                        let same = reference.get_or_insert_with(|| m.lines.clone()) == &m.lines;
                        ok &= same;
                        if tmgc_row.is_none() && system.starts_with("tmgc") {
                            tmgc_row = Some((m.wall_s, m.rss_mb));
                        }
                        let (rt, rr) = tmgc_row.map_or((String::new(), String::new()), |(w, r)| {
                            (format!("{:.2}", m.wall_s / w), format!("{:.2}", m.rss_mb / r))
                        });
                        bars.push(plot::Bar {
                            system: system.clone(),
                            wall_s: m.wall_s,
                            cpu_s: m.cpu_s,
                            rss_mb: m.rss_mb,
                        });
                        let mut notes = m.extras.iter().map(|e| note(e)).collect::<Vec<_>>().join("; ");
                        if !same {
                            notes = format!("WRONG OUTPUT; {notes}");
                        }
                        println!(
                            "| {system} | {:.2} | {:.2} | {:.0} | {rt} | {rr} | {notes} |",
                            m.wall_s, m.cpu_s, m.rss_mb
                        );
                        serde_json::json!({"program": program, "system": system, "threads": threads, "n": n,
                            "wall_s": m.wall_s, "cpu_s": m.cpu_s, "peak_rss_mb": m.rss_mb,
                            "same_output": same, "extras": m.extras})
                    }
                };
                report.push(entry);
            }
            let svg = out_dir.join(format!("{program}-{threads}t.svg"));
            let title = format!("{program}, N={n}, {threads} thread(s); {}", cpu_model());
            match plot::draw(&svg, &title, &bars) {
                Ok(()) => println!("\nplot: {}", svg.display()),
                Err(e) => eprintln!("tmgc-bench: cannot draw {}: {e}", svg.display()),
            }
        }
    }
    let doc = serde_json::json!({"n": n, "runs": opts.runs, "cpu": cpu_model(), "rows": report});
    match std::fs::write(&opts.json, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
        Ok(()) => println!("\nJSON: {}", opts.json.display()),
        Err(e) => eprintln!("tmgc-bench: cannot write {}: {e}", opts.json.display()),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("tmgc-bench: a system printed different program output (rows marked WRONG OUTPUT)");
        ExitCode::from(1)
    }
}

/// The command that runs `program` on `system`, or why it cannot run.
/// The systems the runner knows besides `boehm-N` (`command` builds each
/// one's process).
const SYSTEMS: [&str; 9] = [
    "tmgc",
    "tmgc-gen",
    "tmgc-full",
    "tmgc-published",
    "box-system",
    "box-mimalloc",
    "arena",
    "arena-header",
    "dumpster",
];

/// Whether `command` knows `system` (a typo is refused before anything runs).
fn known_system(system: &str) -> bool {
    SYSTEMS.contains(&system)
        || system.strip_prefix("boehm-").is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

fn command(program: &str, system: &str, n: u32, threads: usize) -> Result<Command, String> {
    let me = std::env::current_exe().map_err(|e| format!("no own path: {e}"))?;
    let sibling = |name: &str| me.with_file_name(name);
    let inproc = |sys: &str| {
        let mut c = Command::new(&me);
        c.args(["run", program, sys, &n.to_string(), &threads.to_string()]);
        c
    };
    match system {
        "tmgc" => Ok(inproc("tmgc")),
        "tmgc-gen" | "tmgc-full" => {
            let mut c = inproc("tmgc");
            c.env("TMGC_BENCH_GENERATIONAL", if system == "tmgc-gen" { "1" } else { "0" });
            Ok(c)
        }
        "tmgc-published" => {
            let mut c = inproc("tmgc");
            c.env("TMGC_BENCH_PUBLISH", "1");
            Ok(c)
        }
        "box-system" => Ok(inproc("box")),
        "arena" => Ok(inproc("arena")),
        "arena-header" => {
            let mut c = inproc("arena");
            c.env("TMGC_BENCH_ARENA_HEADER", "1");
            Ok(c)
        }
        "dumpster" => Ok(inproc("dumpster")),
        "box-mimalloc" => {
            let exe = sibling("tmgc-bench-mimalloc");
            if !exe.exists() {
                return Err(format!("missing: {} (cargo build --release -p tmgc-bench)", exe.display()));
            }
            let mut c = Command::new(exe);
            c.args([program, &n.to_string(), &threads.to_string()]);
            Ok(c)
        }
        s if s.starts_with("boehm-") => {
            let markers = s.trim_start_matches("boehm-");
            let exe = peers_dir().join(format!("{}_boehm", program.replace('-', "_")));
            if !exe.exists() {
                return Err("missing: run bench/peers/setup.sh (installs libgc-dev, builds the C programs)".into());
            }
            let mut c = Command::new(exe);
            c.arg(n.to_string()).env("GC_MARKERS", markers);
            Ok(c)
        }
        other => Err(format!("unknown system {other}")),
    }
}

/// Where `bench/peers/setup.sh` puts the peers it builds.
fn peers_dir() -> PathBuf {
    std::env::var_os("TMGC_BENCH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/peers"))
}

/// Run `runs` times; the median wall time's run is reported.
fn measure(program: &str, system: &str, n: u32, threads: usize, runs: usize) -> Result<Measured, String> {
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        all.push(run_child(command(program, system, n, threads)?)?);
    }
    all.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let mid = all.len() / 2;
    Ok(all.swap_remove(mid))
}

fn run_child(mut cmd: Command) -> Result<Measured, String> {
    let t0 = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        so.read_to_string(&mut out).map_err(|e| format!("cannot read its output: {e}"))?;
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our child, not yet waited for; both out
    // pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let wall_s = t0.elapsed().as_secs_f64();
    if pid < 0 {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("failed (status {status})"));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (lines, extras) = out.lines().map(str::to_owned).partition(|l: &String| !l.starts_with('#'));
    Ok(Measured {
        wall_s,
        cpu_s: secs(ru.ru_utime) + secs(ru.ru_stime),
        rss_mb: ru.ru_maxrss as f64 / 1024.0,
        lines,
        extras,
    })
}

/// A `#` line of a child, made readable for the table's notes column
/// (the JSON report keeps the line as it came).
fn note(extra: &str) -> String {
    let (tag, body) = extra.split_once(' ').unwrap_or((extra, ""));
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return extra.to_string();
    };
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
    match tag {
        "#tmgc" => format!(
            "{} cycles ({} full), marked {:.0} MB in the last {}, pause p99 {:.2} µs, max {:.0} µs, peak heap {:.0} MB",
            num("cycles"),
            num("full_cycles"),
            num("marked_bytes_recent") / 1048576.0,
            num("recent_cycles"),
            num("pause_p99_ns") / 1e3,
            num("pause_max_ns") / 1e3,
            num("peak_heap_bytes") / 1048576.0
        ),
        "#boehm" => format!("libgc {} marks in parallel: {}", v["version"], num("parallel") != 0.0),
        "#boehm-heap" => format!("{} collections, heap {:.0} MB", num("collections"), num("heap_bytes") / 1048576.0),
        _ => extra.to_string(),
    }
}

/// The CPU model (`/proc/cpuinfo`), named with every table.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_system_has_a_command() {
        for s in SYSTEMS.iter().copied().chain(["boehm-1", "boehm-2"]) {
            assert!(known_system(s));
            if let Err(e) = command("binary-trees", s, 4, 1) {
                assert!(e.starts_with("missing"), "{s}: {e}");
            }
        }
        for s in ["tmgc-typo", "boehm-", "boehm-x", "arena_header"] {
            assert!(!known_system(s), "{s}");
        }
        assert!(command("binary-trees", "tmgc-typo", 4, 1).is_err());
    }
}
