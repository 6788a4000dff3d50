//! [`warnings_to_stderr`]: a minimal `log` logger for programs that
//! install none, so that tmgc's warnings (a misspelt `TMGC_*` variable, a
//! solo-mode attach that waits, a mutator dropped inside the collector)
//! are not dropped. The workspace's binaries (`tmgc-stress`,
//! `tmgc-scheme`) call it first thing.
//!
//! Invariants: it installs a logger at most once and never replaces one a
//! program set; a record is written whole or not at all, and a failed
//! write (a closed stderr) is ignored, never a panic (the collector's own
//! code may log).

/// Warnings and errors, one line each on stderr.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            use std::io::Write as _;
            // One formatted line, then one write; errors ignored (not
            // `eprintln!`, which panics when stderr is closed).
            let line = format!("{}: {}\n", r.level().as_str().to_lowercase(), r.args());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
    fn flush(&self) {}
}

static LOG: StderrLog = StderrLog;

/// Print the `log` crate's warnings and errors (tmgc's, and every other
/// crate's) on stderr, one line each: for a program that installs no
/// logger of its own, in which they would otherwise go nowhere. Returns
/// whether it was installed (`false`: a logger was already set, and stays).
///
/// ```
/// // First thing in `main`, before the first `Heap::new`.
/// let _ = tmgc::warnings_to_stderr();
/// ```
pub fn warnings_to_stderr() -> bool {
    let installed = log::set_logger(&LOG).is_ok();
    if installed {
        log::set_max_level(log::LevelFilter::Warn);
    }
    installed
}
