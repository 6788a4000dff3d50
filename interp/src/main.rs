//! `tmgc-scheme`: run a Scheme program, or a REPL without one.
//!
//! ```text
//! tmgc-scheme examples/bank.scm --workers 2 --stats
//! tmgc-scheme --gil examples/wordcount.scm
//! tmgc-scheme            # a REPL
//! ```

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use clap::Parser;
use tmgc::Config;
use tmgc_scheme::{Interp, Options, STACK_BYTES};

/// A Scheme whose event handlers run as parallel transactions on the tmgc heap.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// The program to run (a REPL on standard input without one).
    file: Option<std::path::PathBuf>,
    /// Evaluate this expression instead of a file.
    #[arg(short = 'e', long = "eval", conflicts_with = "file")]
    expr: Option<String>,
    /// Worker threads for events.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    workers: u64,
    /// Global-lock mode: events one at a time on one thread (the baseline).
    #[arg(long, conflicts_with = "workers")]
    gil: bool,
    /// Turn tmgc's solo mode off (a lone mutator's transactions then keep
    /// read sets and validate, as they do with several).
    #[arg(long)]
    no_solo: bool,
    /// Print event and GC statistics to standard error at exit.
    #[arg(long)]
    stats: bool,
    /// Deepest nesting of non-tail calls, at least 10. The stack bounds it
    /// too (about 950,000 calls of a simple recursion on the 1 GiB stack):
    /// a deeper recursion is an error, not a crash, whichever bound it
    /// meets first.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(10..))]
    max_depth: u32,
}

/// The smallest stack the binary falls back to: 64 MiB of margin (the
/// stack the interpreter may not use) and 64 MiB for recursion.
const MIN_STACK_BYTES: usize = 128 << 20;

fn main() -> ExitCode {
    let args = Args::parse();
    // tmgc's warnings (a misspelt TMGC_* variable...) on stderr.
    tmgc::warnings_to_stderr();
    // Deep recursion needs a deep stack: run on a thread with one. Where
    // the address space is capped (`ulimit -v`), halve it until a thread
    // starts; the recursion limit follows the stack it got.
    let mut stack = STACK_BYTES;
    loop {
        let a = args.clone();
        match std::thread::Builder::new().name("tmgc-scheme".into()).stack_size(stack).spawn(move || run(a, stack)) {
            Ok(h) => return h.join().unwrap_or(ExitCode::from(70)),
            Err(_) if stack / 2 >= MIN_STACK_BYTES => stack /= 2,
            Err(e) => {
                eprintln!(
                    "tmgc-scheme: cannot start a thread with a {} MiB stack ({e}); \
                     raise the address-space limit (`ulimit -v`)",
                    stack >> 20
                );
                return ExitCode::from(71);
            }
        }
    }
}

fn run(args: Args, stack: usize) -> ExitCode {
    let mut config = Config::default().min_trigger_bytes(tmgc_scheme::MIN_TRIGGER_BYTES);
    if args.no_solo {
        config = config.solo(false);
    }
    let opts = Options::default()
        .workers(args.workers as usize)
        .gil(args.gil)
        .config(config)
        .max_depth(args.max_depth)
        .stack_bytes(stack - (64 << 20));
    let mut it = match Interp::new(opts) {
        Ok(it) => it,
        Err(e) => {
            eprintln!("tmgc-scheme: cannot create the heap: {e}");
            return ExitCode::from(70);
        }
    };
    let code = if let Some(e) = &args.expr {
        match it.eval_str(e) {
            Ok(v) => {
                it.run_events();
                if !v.is_empty() {
                    println!("{v}");
                }
                // As for a file: an event that failed fails the run.
                if it.event_stats().errors == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("tmgc-scheme: {e}");
                ExitCode::FAILURE
            }
        }
    } else if let Some(path) = &args.file {
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tmgc-scheme: cannot read {}: {e}", path.display());
                return ExitCode::from(66);
            }
        };
        it.set_source_name(path.display().to_string());
        match it.run_str(&src) {
            Ok(()) if it.event_stats().errors == 0 => ExitCode::SUCCESS,
            Ok(()) => ExitCode::FAILURE,
            Err(e) => {
                match e.pos {
                    Some(_) => eprintln!("{}:{e}", path.display()),
                    None => eprintln!("{}: {e}", path.display()),
                }
                ExitCode::FAILURE
            }
        }
    } else {
        repl(&mut it)
    };
    if args.stats {
        eprint!("{}", it.report());
    }
    code
}

/// Read forms from standard input (a form may span lines), print each value.
/// Prompts only where the input is a terminal: piped input gets its values
/// alone, a line each.
fn repl(it: &mut Interp) -> ExitCode {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut pending = String::new();
    let prompt = |p: &str| {
        if interactive {
            print!("{p}");
            let _ = std::io::stdout().flush();
        }
    };
    prompt("> ");
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        pending.push_str(&line);
        pending.push('\n');
        match tmgc_scheme::read_all(&pending) {
            Err(e) if e.msg.starts_with("unterminated") || e.msg == "unexpected end of input" => {
                prompt("  ");
                continue;
            }
            Err(e) => eprintln!("error: {e}"),
            Ok(forms) => {
                for f in &forms {
                    match it.eval_form(f) {
                        Ok(v) if !v.is_empty() => println!("{v}"),
                        Ok(_) => {}
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
            }
        }
        pending.clear();
        prompt("> ");
    }
    if interactive {
        println!();
    }
    if !pending.trim().is_empty() {
        // The input ended inside a form: say so, as for a file.
        let e = tmgc_scheme::read_all(&pending)
            .err()
            .map_or_else(|| "unexpected end of input".to_string(), |e| e.to_string());
        eprintln!("error: the input ended inside a form: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
