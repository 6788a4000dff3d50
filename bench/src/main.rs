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
//! arena, and C with Boehm GC (built by `bench/peers/setup.sh`; reported as
//! missing when it is not there).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Whole-program benchmarks: tmgc against Box (system, mimalloc), an arena and Boehm GC")]
struct Opts {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// N=18-sized runs (about a minute), for a quick look and for CI.
    #[arg(long)]
    quick: bool,
    /// The size (binary-trees depth); default 21, or 18 with --quick.
    #[arg(long)]
    n: Option<u32>,
    /// Mutator thread counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Systems to run, comma-separated (tmgc, box-system, box-mimalloc, arena, boehm-1, boehm-2).
    #[arg(long, value_delimiter = ',', default_value = "tmgc,box-system,box-mimalloc,arena,boehm-1,boehm-2")]
    systems: Vec<String>,
    /// Programs to run, comma-separated (binary-trees).
    #[arg(long, value_delimiter = ',', default_value = "binary-trees")]
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
            eprintln!("tmgc-bench: unknown program {program}");
            return ExitCode::from(2);
        }
        return ExitCode::SUCCESS;
    }
    let n = opts.n.unwrap_or(if opts.quick { 18 } else { 21 });
    let mut ok = true;
    let mut report = Vec::new();
    println!("tmgc-bench: n = {n}, {} run(s) each; CPU: {}", opts.runs, cpu_model());
    for program in &opts.programs {
        for &threads in &opts.threads {
            println!("\n## {program}, N={n}, {threads} mutator thread(s)\n");
            println!("| system | wall s | CPU s | peak RSS MB | wall ÷ tmgc | RSS ÷ tmgc | notes |");
            println!("|---|---|---|---|---|---|---|");
            let mut reference: Option<Vec<String>> = None;
            let mut tmgc_row: Option<(f64, f64)> = None;
            for system in &opts.systems {
                let row = measure(program, system, n, threads, opts.runs);
                let entry = match row {
                    Err(why) => {
                        println!("| {system} | | | | | | {why} |");
                        serde_json::json!({"program": program, "system": system, "threads": threads, "n": n, "missing": why})
                    }
                    Ok(m) => {
                        let same = reference.get_or_insert_with(|| m.lines.clone()) == &m.lines;
                        ok &= same;
                        if system == "tmgc" {
                            tmgc_row = Some((m.wall_s, m.rss_mb));
                        }
                        let (rt, rr) = tmgc_row.map_or((String::new(), String::new()), |(w, r)| {
                            (format!("{:.2}", m.wall_s / w), format!("{:.2}", m.rss_mb / r))
                        });
                        let mut notes = m.extras.join("; ");
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
        }
    }
    if let Some(dir) = opts.json.parent() {
        let _ = std::fs::create_dir_all(dir);
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
        "box-system" => Ok(inproc("box")),
        "arena" => Ok(inproc("arena")),
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
            if program != "binary-trees" {
                return Err("no Boehm version of this program yet".into());
            }
            if threads != 1 {
                return Err("n/a: the C program has one mutator thread".into());
            }
            let markers = s.trim_start_matches("boehm-");
            let exe = peers_dir().join("binary_trees_boehm");
            if !exe.exists() {
                return Err("missing: run bench/peers/setup.sh (installs libgc-dev, builds the C program)".into());
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
