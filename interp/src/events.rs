//! The event loop: queued events run as transactions on worker threads.
//!
//! An event is a list `(proc arg ...)` held by a global root. A worker
//! runs it as one transaction (`Mutator::transaction`, so a conflict runs
//! it again from the start); the events it spawns are queued only once it
//! commits, and its output is written then.
//!
//! Output and serial equivalence: with several workers, a transaction
//! becomes inevitable at its first output and takes the output lock,
//! which it keeps until its buffered output is written after its commit.
//! Only one transaction is inevitable at a time, so outputs appear in the
//! order of their transactions' commits: the serial order tmgc's commits
//! define. Events that do not print run fully in parallel.
//!
//! Termination: the loop ends when the queue is empty and no worker is
//! running an event (a running event may still spawn more).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tmgc::{Dyn, GlobalRoot, Heap, Mutator};

use crate::code::Lambda;
use crate::eval::{Ctx, OutputMode};
use crate::prims::list_items;
use crate::program::Program;
use crate::{tx_err, Interp, Sink};

/// What a run of events did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Events run to their commit (or to an error).
    pub events: u64,
    /// Events that raised an error (their effects rolled back).
    pub errors: u64,
    /// Attempts that ended in a conflict and ran again.
    pub retries: u64,
    /// Events that became inevitable (for output).
    pub inevitable: u64,
    /// Wall time of the runs.
    pub wall: Duration,
}

impl EventStats {
    pub(crate) fn add(&mut self, o: &EventStats) {
        self.events += o.events;
        self.errors += o.errors;
        self.retries += o.retries;
        self.inevitable += o.inevitable;
        self.wall += o.wall;
    }
}

struct Queue {
    items: VecDeque<GlobalRoot<Dyn>>,
    running: usize,
}

struct Shared {
    q: Mutex<Queue>,
    cv: Condvar,
    prog: Arc<Program>,
    sink: Sink,
    max_depth: u32,
    output: OutputMode,
}

/// Run `initial` and every event it spawns.
pub(crate) fn run(it: &mut Interp, initial: Vec<GlobalRoot<Dyn>>) -> EventStats {
    let started = Instant::now();
    let workers = if it.opts.gil { 1 } else { it.opts.workers.max(1) };
    let shared = Arc::new(Shared {
        q: Mutex::new(Queue { items: initial.into(), running: 0 }),
        cv: Condvar::new(),
        prog: Arc::clone(&it.prog),
        sink: it.sink.clone(),
        max_depth: it.opts.max_depth,
        output: if workers > 1 { OutputMode::Inevitable } else { OutputMode::AfterCommit },
    });
    let mut total = EventStats::default();
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 1..workers {
            let shared = Arc::clone(&shared);
            let heap: Heap = it.heap.clone();
            let h = std::thread::Builder::new()
                .name("tmgc-scheme-worker".into())
                .stack_size(crate::STACK_BYTES)
                .spawn_scoped(s, move || {
                    let mut m = match heap.attach() {
                        Ok(m) => m,
                        Err(e) => {
                            log::error!("tmgc-scheme: a worker could not attach: {e}");
                            return EventStats::default();
                        }
                    };
                    let mut lambdas = Vec::new();
                    worker(&shared, &mut m, &mut lambdas)
                })
                .expect("a worker thread starts");
            handles.push(h);
        }
        // The main thread is worker 0, with its own mutator.
        let mine = worker(&shared, &mut it.m, &mut it.lambdas);
        total.add(&mine);
        for h in handles {
            match h.join() {
                Ok(st) => total.add(&st),
                Err(_) => log::error!("tmgc-scheme: a worker panicked"),
            }
        }
    });
    total.wall = started.elapsed();
    total
}

fn worker(sh: &Shared, m: &mut Mutator, lambdas: &mut Vec<&'static Lambda>) -> EventStats {
    let mut st = EventStats::default();
    loop {
        let ev = {
            let mut q = sh.q.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(e) = q.items.pop_front() {
                    q.running += 1;
                    break Some(e);
                }
                if q.running == 0 {
                    break None;
                }
                q = sh.cv.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(ev) = ev else {
            sh.cv.notify_all();
            return st;
        };
        let before = m.tx_counts().conflicts;
        let mut lock = None;
        let r = m.transaction(|tx| {
            let e = tx.get_global(&ev)?;
            let mut cx = Ctx::new(tx, &sh.prog, lambdas, sh.output, &mut lock, sh.max_depth);
            let items = list_items(&mut cx, "an event", tmgc::Tagged::Ref(e))?;
            cx.call(items[0], &items[1..])?;
            Ok(std::mem::take(&mut cx.fx))
        });
        st.retries += m.tx_counts().conflicts - before;
        st.events += 1;
        let spawned = match r {
            Ok(fx) => {
                sh.sink.write(&fx.out);
                st.inevitable += u64::from(fx.inevitable);
                fx.spawned
            }
            Err(e) => {
                st.errors += 1;
                let e = tx_err(e);
                sh.sink.write("");
                eprintln!("tmgc-scheme: error in an event (its effects are rolled back): {e}");
                Vec::new()
            }
        };
        // Output written: the next inevitable transaction may print.
        drop(lock);
        drop(ev);
        let mut q = sh.q.lock().unwrap_or_else(PoisonError::into_inner);
        q.items.extend(spawned);
        q.running -= 1;
        drop(q);
        sh.cv.notify_all();
    }
}
