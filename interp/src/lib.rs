//! A Scheme on the tmgc heap whose event handlers run as parallel
//! transactions: the PyPy-TM plan, with tmgc as its heap.
//!
//! A program's top-level forms run one after another, each as a
//! transaction on the main thread. `(spawn-event proc arg ...)` queues an
//! event; `(run-events)` (or the end of the program) runs the queued
//! events, and those they spawn, on `workers` threads, each event one
//! transaction. The rule: the output and the final heap equal those of
//! some serial order of the events (tmgc's transactions are serialisable;
//! output goes through inevitability, see [`Options`]).
//!
//! ```
//! use tmgc_scheme::{Interp, Options};
//!
//! let mut s = Interp::new(Options::default().capture_output(true)).unwrap();
//! s.run_str("
//!   (define total 0)
//!   (define (add! n) (set! total (+ total n)))
//!   (do ((i 1 (+ i 1))) ((> i 100)) (spawn-event add! i))
//!   (run-events)
//!   (display total)").unwrap();
//! assert_eq!(s.take_output(), "5050");
//! ```
//!
//! Every value lives in the tmgc heap (see `value.rs` for the
//! representation); the interpreter's frames live in the running
//! transaction (see `eval.rs`), and what survives a transaction is reached
//! from global roots: the global variables' directory, quoted constants
//! and queued events.
#![deny(missing_docs)]

mod code;
mod compile;
mod error;
mod eval;
mod events;
mod prims;
mod print;
mod program;
mod reader;
mod symbol;
mod value;

use std::sync::{Arc, Mutex, PoisonError};
use tmgc::{Config, Dyn, GlobalRoot, Heap, HeapError, Mutator, TxError};

pub use error::{Pos, SchemeError};
pub use events::EventStats;
pub use reader::{read_all, Sexp, SK};
pub use symbol::Sym;

use code::Lambda;
use eval::{Ctx, OutputMode};
use program::Program;

/// How a program runs.
#[derive(Clone)]
pub struct Options {
    /// Worker threads for events (at least 1). With one, events run on the
    /// main thread, in solo mode.
    pub workers: usize,
    /// Global-lock mode: events run one at a time on one thread, as a
    /// GIL interpreter runs them (the baseline for the speed-up). tmgc's
    /// solo mode gives such transactions no concurrency control: no read
    /// set, no validation, no locks.
    pub gil: bool,
    /// The heap's configuration. The default is tmgc's, but for a 64 MiB
    /// allocation budget before the first cycle (`Config::min_trigger_bytes`;
    /// tmgc's default is 8 MiB): an interpreter favours throughput, and on
    /// two cores a cycle's marking takes time from the workers. The
    /// `TMGC_*` environment variables still override it.
    pub config: Config,
    /// Collect output in a buffer ([`Interp::take_output`]) instead of
    /// writing it to standard output.
    pub capture: bool,
    /// Deepest nesting of non-tail calls (a Scheme error past it; see also
    /// [`Options::stack_bytes`]).
    pub max_depth: u32,
    /// Bytes of stack the interpreter may use on the thread that calls it
    /// (and on its worker threads, which it makes with [`STACK_BYTES`]):
    /// a deeper recursion is a Scheme error, never a stack overflow. The
    /// default, 1 MiB, is safe on any thread; give more on a thread with a
    /// deeper stack (the binary runs on [`STACK_BYTES`] and gives all but
    /// 64 MiB of it).
    pub stack_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 1,
            gil: false,
            config: Config::default().min_trigger_bytes(MIN_TRIGGER_BYTES),
            capture: false,
            max_depth: 5_000,
            stack_bytes: 1 << 20,
        }
    }
}

impl Options {
    /// Set [`Options::workers`].
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }
    /// Set [`Options::gil`].
    pub fn gil(mut self, v: bool) -> Self {
        self.gil = v;
        self
    }
    /// Set [`Options::config`].
    pub fn config(mut self, c: Config) -> Self {
        self.config = c;
        self
    }
    /// Set [`Options::capture`].
    pub fn capture_output(mut self, v: bool) -> Self {
        self.capture = v;
        self
    }
    /// Set [`Options::stack_bytes`].
    pub fn stack_bytes(mut self, b: usize) -> Self {
        self.stack_bytes = b;
        self
    }

    pub(crate) fn limits(&self) -> eval::Limits {
        eval::Limits { max_depth: self.max_depth, stack_bytes: self.stack_bytes }
    }

    /// Set [`Options::max_depth`].
    pub fn max_depth(mut self, d: u32) -> Self {
        self.max_depth = d.max(10);
        self
    }
}

/// Where output goes.
#[derive(Clone)]
pub(crate) enum Sink {
    Stdout,
    Buffer(Arc<Mutex<String>>),
}

impl Sink {
    pub(crate) fn write(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self {
            Sink::Stdout => {
                use std::io::Write as _;
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }
            Sink::Buffer(b) => b.lock().unwrap_or_else(PoisonError::into_inner).push_str(s),
        }
    }
}

/// An interpreter: a heap, the main thread's mutator, and a program's
/// global state.
pub struct Interp {
    heap: Heap,
    m: Mutator,
    prog: Arc<Program>,
    lambdas: Vec<&'static Lambda>,
    queue: Vec<GlobalRoot<Dyn>>,
    opts: Options,
    sink: Sink,
    stats: EventStats,
    source: Option<String>,
}

impl Interp {
    /// A fresh interpreter with the builtins bound.
    pub fn new(opts: Options) -> Result<Interp, HeapError> {
        let heap = Heap::new(opts.config.clone())?;
        let mut m = heap.attach()?;
        let t = value::types();
        let dir = m
            .transaction::<_, ()>(|tx| {
                let d = tx.alloc_array(t.vector, program::DIR)?;
                Ok(tx.global_root(d))
            })
            .map_err(|e| match e {
                TxError::Alloc(a) => HeapError::Alloc(a),
                _ => HeapError::Config("the interpreter's global directory could not be made"),
            })?;
        let prog = Arc::new(Program::new(dir));
        // Bind the builtins.
        let ids: Vec<(u32, usize)> = prims::PRIMS
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = prog.global_id(Sym::intern(p.name)).expect("room for the builtins");
                prog.globals().prim[id as usize] = Some(i as u16);
                (id, i)
            })
            .collect();
        m.transaction::<_, SchemeError>(|tx| {
            for &(id, _) in &ids {
                program::ensure_chunk(tx, &prog, id)?;
            }
            let mut lambdas = Vec::new();
            let mut lock = None;
            let limits = eval::Limits { max_depth: 10, stack_bytes: 1 << 16 };
            let mut cx = Ctx::new(tx, &prog, &mut lambdas, OutputMode::AfterCommit, &mut lock, limits);
            for &(id, p) in &ids {
                cx.set_global(id, value::prim_val(p), true)?;
            }
            Ok(())
        })
        .map_err(|e| match e {
            // The first chunk could not be mapped (`ulimit -v`, say): say so.
            TxError::Alloc(a) => HeapError::Alloc(a),
            _ => HeapError::Config("the builtins could not be bound"),
        })?;
        let sink = if opts.capture { Sink::Buffer(Arc::new(Mutex::new(String::new()))) } else { Sink::Stdout };
        Ok(Interp {
            heap,
            m,
            prog,
            lambdas: Vec::new(),
            queue: Vec::new(),
            opts,
            sink,
            stats: EventStats::default(),
            source: None,
        })
    }

    /// Name the program's source (a file name) in the messages of errors
    /// raised by events, which are reported as they happen.
    pub fn set_source_name(&mut self, name: impl Into<String>) {
        self.source = Some(name.into());
    }

    /// The heap (for its statistics).
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// The output collected so far (with [`Options::capture`]), emptied.
    pub fn take_output(&mut self) -> String {
        match &self.sink {
            Sink::Buffer(b) => std::mem::take(&mut *b.lock().unwrap_or_else(PoisonError::into_inner)),
            Sink::Stdout => String::new(),
        }
    }

    /// Event statistics so far.
    pub fn event_stats(&self) -> &EventStats {
        &self.stats
    }

    /// Run every form of `src` in order; queued events run at each
    /// `(run-events)` and at the end. Stops at the first error, whose
    /// form's effects are rolled back (those of earlier forms stay).
    pub fn run_str(&mut self, src: &str) -> Result<(), SchemeError> {
        let forms = reader::read_all(src)?;
        for f in &forms {
            self.run_form(f)?;
        }
        if !self.queue.is_empty() {
            self.run_events();
        }
        Ok(())
    }

    /// Evaluate one datum as a top-level form; its value as `write` shows it.
    pub fn eval_form(&mut self, form: &Sexp) -> Result<String, SchemeError> {
        self.run_form(form)
    }

    /// Evaluate the forms of `src`; the value of the last as `write` shows
    /// it (the REPL's and the tests' entry point). Events spawned are
    /// queued until `(run-events)` or [`Interp::run_events`].
    pub fn eval_str(&mut self, src: &str) -> Result<String, SchemeError> {
        let mut last = String::new();
        for f in &reader::read_all(src)? {
            last = self.run_form(f)?;
        }
        Ok(last)
    }

    fn run_form(&mut self, form: &Sexp) -> Result<String, SchemeError> {
        let k = symbol::known();
        if form.list().is_some_and(|l| l.len() == 1 && l[0].sym() == Some(k.run_events)) {
            self.run_events();
            return Ok(String::new());
        }
        let prog = Arc::clone(&self.prog);
        let thunk = self.m.transaction(|tx| Ok(compile::Compiler::new(tx, &prog).toplevel(form)?)).map_err(tx_err)?;
        let lambdas = &mut self.lambdas;
        let depth = self.opts.limits();
        let mut lock = None;
        let r = self.m.transaction(|tx| {
            let mut cx = Ctx::new(tx, &prog, lambdas, OutputMode::AfterCommit, &mut lock, depth);
            let v = cx.run_thunk(thunk)?;
            let shown = if v == value::unspec() { String::new() } else { cx.show_full(v)? };
            Ok((shown, std::mem::take(&mut cx.fx)))
        });
        match r {
            Ok((shown, fx)) => {
                self.sink.write(&fx.out);
                self.queue.extend(fx.spawned);
                Ok(shown)
            }
            Err(e) => Err(tx_err(e)),
        }
    }

    /// Run the queued events (and those they spawn) to the end, on
    /// [`Options::workers`] threads; their statistics are added to
    /// [`Interp::event_stats`].
    pub fn run_events(&mut self) -> EventStats {
        let q = std::mem::take(&mut self.queue);
        let s = events::run(self, q);
        self.stats.add(&s);
        s
    }

    /// The statistics report (`--stats`): the events' figures, then the GC's.
    pub fn report(&self) -> String {
        let s = &self.stats;
        format!(
            "events: {} ({} failed), retries (conflicts): {}, inevitable: {}, event time: {:.3} s\n{}\n",
            s.events,
            s.errors,
            s.retries,
            s.inevitable,
            s.wall.as_secs_f64(),
            self.heap.stats(),
        )
    }
}

pub(crate) fn tx_err(e: TxError<SchemeError>) -> SchemeError {
    match e {
        TxError::Aborted(s) => s,
        TxError::Alloc(a) => SchemeError::new(format!("out of memory: {a}")),
        TxError::Root(r) => SchemeError::new(format!("internal error: {r}")),
        other => SchemeError::new(format!("internal error: {other}")),
    }
}

/// The interpreter's default allocation budget before the first cycle.
pub const MIN_TRIGGER_BYTES: u64 = 64 << 20;

/// Stack of the threads that run Scheme (the binary's main one and the
/// workers): virtual memory, touched only as deep as recursion goes.
pub const STACK_BYTES: usize = 1 << 30;
