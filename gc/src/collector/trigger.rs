//! Triggering and waiting: the pacer (`pace` at a mutator's commit point,
//! `request_if_due` written once), requests for cycles, `collect` and the
//! wait for a requested cycle (the heap-limit wait of a transaction goes
//! through `collect_parked`), the background collector thread, shutdown.
//!
//! Every `collect` request and every wait for memory goes through
//! `request_cycle`; cycles are numbered, and a waiter returns when a cycle
//! that started after its request is done (trap 10: a heap-limit waiter
//! waits for a cycle whose T follows the start of its wait).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{CollectError, Collector, CycleStats};
use crate::collector::stats::PauseClock;
use crate::heap::HeapInner;
use crate::sync::{lock, Condvar, Mutex};
use crate::thread::MutatorState;

/// Cycle requests and completions, shared with the background thread (which
/// holds it and only a weak reference to the heap).
pub(crate) struct Signal {
    pub(super) state: Mutex<SignalState>,
    pub(super) work: Condvar,
    pub(super) done: Condvar,
    /// Wakes threads parked in a VERIFY stop.
    pub(super) word: Condvar,
}

#[derive(Default)]
pub(crate) struct SignalState {
    pub(super) requested: u64,
    /// A full cycle is requested: the next cycle to start is full.
    pub(super) full_wanted: bool,
    pub(super) started: u64,
    pub(super) done: u64,
    pub(super) shutdown: bool,
    /// Verification failures of completed cycles, by cycle number.
    pub(super) failures: Vec<(u64, String)>,
    /// Set when marking (`TracePanicked`) or the collector (`Panicked`)
    /// panicked: no cycle runs any more, and every request gets this.
    pub(super) broken: Option<CollectError>,
}

impl Signal {
    pub(super) fn new() -> Self {
        Signal {
            state: Mutex::new(SignalState::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            word: Condvar::new(),
        }
    }
}

impl Collector {
    /// The pacer's test, written once: request a cycle if the bytes
    /// allocated since the last one reached the trigger (the live heap
    /// times `growth_factor`, `cycle.rs` sets it), or if the heap is at 80%
    /// of its limit, unless one is already pending. Run by a mutator every
    /// `PACER_STEP` bytes it allocates, and when it detaches (a short-lived
    /// thread may never reach a step of its own; its bytes still count).
    ///
    /// In generational mode the cycle is young unless memory is short (the
    /// heap at 80% of its limit asks for a full one) or the last cycle
    /// found the old generation past its goal (`full_due`, read when the
    /// cycle starts).
    pub(crate) fn request_if_due(&self, space: &tmgc_alloc::Space) {
        let due = space.allocated_bytes().max(0) as u64 >= self.trigger_bytes.load(Ordering::Relaxed);
        let pressed = space.config().get_heap_limit().is_some_and(|l| space.heap_bytes() >= l / 10 * 8);
        if (due || pressed) && !self.cycle_pending() {
            self.request_cycle(pressed);
        }
    }

    // ---- triggering and waiting ----

    /// Ask for a cycle that starts after now; returns its number. `full`:
    /// that cycle must be a full one (T11 of the generations review:
    /// `collect` and the heap limit need old garbage reclaimed too).
    /// Requests merge: one full request makes the next cycle full.
    pub(crate) fn request_cycle(&self, full: bool) -> u64 {
        self.ask_for_cycle(full, true)
    }

    /// [`Collector::request_cycle`]; `wake`: wake the background thread
    /// for it (`collect_parked`, which runs the cycle itself, does not).
    fn ask_for_cycle(&self, full: bool, wake: bool) -> u64 {
        let mut s = lock(&self.signal.state);
        let target = s.started + 1;
        s.full_wanted |= full;
        if s.requested < target {
            s.requested = target;
            if wake {
                self.signal.work.notify_all();
            }
        }
        target
    }

    /// Whether a cycle is requested and not yet started.
    pub(crate) fn cycle_pending(&self) -> bool {
        let s = lock(&self.signal.state);
        s.requested > s.started
    }

    /// Run or wait for a cycle that starts after now, a full one if `full`
    /// (else young in generational mode, unless a full one is due or
    /// requested). The calling thread's mutator, if any, must be parked.
    pub(crate) fn collect(&self, heap: &HeapInner, full: bool) -> Result<CycleStats, CollectError> {
        if crate::gcwork::inside() {
            return Err(CollectError::InGcWork);
        }
        let me = crate::sync::thread_id();
        if self.snapshot().iter().any(|r| r.owner == me && r.state.load(Ordering::Acquire) == crate::thread::RUNNING) {
            // The cycle would wait for this thread's commit point, and this
            // thread for the cycle.
            return Err(CollectError::InTransaction);
        }
        self.collect_parked(heap, full)
    }

    /// `collect` for a caller known to be parked (the transaction loop
    /// waiting for memory, which asks for a full cycle: T11).
    ///
    /// The caller runs the cycle itself, with a background thread too
    /// (which it does not wake): it waits for the cycle either way, and a
    /// woken collector thread may be put on the CPU of a running mutator,
    /// preempting it inside a commit-point pause while the caller's CPU
    /// idles (the 2-core Intel Xeon VM: pauses of 1 to 4 ms holding under 0.1 ms of GC
    /// work; docs/PERFORMANCE.md). A cycle already running (the pacer's,
    /// on the background thread) is waited for on the cycle lock, and a
    /// requested one the background thread takes first is waited for the
    /// same way.
    pub(crate) fn collect_parked(&self, heap: &HeapInner, full: bool) -> Result<CycleStats, CollectError> {
        let target = self.ask_for_cycle(full, false);
        loop {
            if lock(&self.signal.state).done >= target {
                break;
            }
            self.run_requested(heap);
        }
        let s = lock(&self.signal.state);
        if let Some(e) = &s.broken {
            return Err(e.clone());
        }
        if let Some((_, m)) = s.failures.iter().find(|(c, _)| *c >= target) {
            return Err(CollectError::Verify(m.clone()));
        }
        drop(s);
        let st = lock(&self.stats);
        Ok(st.recent.iter().find(|c| c.cycle >= target).copied().unwrap_or_default())
    }

    /// Start and run the next requested cycle (if one is still wanted). Its
    /// outcome goes to the signal state (`done`, `failures`, `broken`),
    /// where every waiter reads it.
    pub(super) fn run_requested(&self, heap: &HeapInner) {
        let mut cs = lock(&self.cycle);
        let (n, full) = {
            let mut s = lock(&self.signal.state);
            if s.requested <= s.started {
                return;
            }
            s.started += 1;
            if s.broken.is_some() {
                // Collection stopped for good: answer at once.
                s.done = s.started;
                self.signal.done.notify_all();
                return;
            }
            // The kind is fixed with the number, under the same lock: a
            // full request made after this point targets the next cycle
            // and leaves `full_wanted` for it (T11).
            let due = self.full_due.swap(false, Ordering::Relaxed);
            (s.started, !self.config.generational || std::mem::take(&mut s.full_wanted) || due)
        };
        // Everything the cycle runs (Trace impls, the verifier, destructors
        // in the sweep) is GC work: it cannot re-enter the heap (W0).
        let work = crate::gcwork::GcWork::enter();
        let cycle = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_cycle(heap, &mut cs, n, full)));
        drop(work);
        let r = cycle.unwrap_or_else(|p| Err(self.recover(heap, &mut cs, p)));
        let mut s = lock(&self.signal.state);
        s.done = n;
        match &r {
            Err(CollectError::Verify(m)) => s.failures.push((n, m.clone())),
            Err(e @ (CollectError::TracePanicked(_) | CollectError::Panicked(_))) => s.broken = Some(e.clone()),
            _ => {}
        }
        self.signal.done.notify_all();
    }
}

/// Start the background collector thread for `heap`. It holds only a weak
/// reference between cycles, so dropping the last handle ends it.
#[cfg(not(tmgc_loom))]
pub(crate) fn spawn(heap: &Arc<HeapInner>) {
    let weak: std::sync::Weak<HeapInner> = Arc::downgrade(heap);
    let signal = Arc::clone(&heap.collector.signal);
    std::thread::Builder::new()
        .name("tmgc-collector".into())
        .spawn(move || collector_loop(&weak, &signal))
        .expect("spawn the collector thread");
}

#[cfg(not(tmgc_loom))]
pub(super) fn collector_loop(weak: &std::sync::Weak<HeapInner>, signal: &Signal) {
    loop {
        {
            let mut s = lock(&signal.state);
            while s.requested <= s.started && !s.shutdown {
                s = signal.work.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.shutdown {
                return;
            }
        }
        let Some(heap) = weak.upgrade() else { return };
        heap.collector.run_requested(&heap);
    }
}

#[cfg(tmgc_loom)]
pub(crate) fn spawn(_heap: &Arc<HeapInner>) {}

impl Drop for Collector {
    fn drop(&mut self) {
        let mut s = lock(&self.signal.state);
        s.shutdown = true;
        self.signal.work.notify_all();
        self.signal.done.notify_all();
    }
}

/// How often (in bytes this thread allocates) a commit point consults the pacer.
pub(crate) const PACER_STEP: u64 = 256 << 10;
/// While mutators assist marking: one assist per this many bytes allocated...
const ASSIST_STEP: u64 = 16 << 10;
/// ...tracing at most this many objects (bounded pause: about 10 to 100 µs)
/// with the assisted marker, where assists do the marking...
const ASSIST_BUDGET: usize = 1024;
/// ...and this many with the serial and parallel markers, whose assists
/// start once the heap passes its goal (`Config::mark_assists`): half the
/// pause of each assist. On a program whose mutator outruns the marker on
/// splittable data (alloc-rate with 64 lists; docs/PERFORMANCE.md, "Mark
/// assists"), 512 and 1,024 measured alike in time and heap.
const ASSIST_BUDGET_PAST_GOAL: usize = 512;

/// A mutator's share of pacing, at a commit point: consult the pacer (every `PACER_STEP` bytes this thread allocates).
#[cold]
pub(crate) fn pace(core: &mut MutatorState) {
    // Between transactions no checkpoint is open: give back the blocks
    // this thread has filled (transactions allocate under checkpoints,
    // so the allocator's slow path cannot). Bounded here, they make the
    // SWEEP handshake's `retire_all` short: left to pile up over a
    // cycle, thousands of blocks took it a millisecond and more.
    core.alloc.retire_finished();
    let heap = &*core.heap;
    if heap.collector.wants_assists(&heap.space) {
        // A mark assist: GC work at this commit point, bounded, and in
        // proportion to what this thread allocated (one assist per
        // `ASSIST_STEP` bytes).
        let clock = PauseClock::start();
        let always = heap.collector.marker.assists_always();
        heap.collector.assist(if always { ASSIST_BUDGET } else { ASSIST_BUDGET_PAST_GOAL });
        core.gc.record_pause(&clock, std::time::Duration::ZERO);
        core.gc.pacer_next = core.alloc.allocated_bytes() + ASSIST_STEP;
        return;
    }
    core.gc.pacer_next = core.alloc.allocated_bytes() + PACER_STEP;
    heap.collector.request_if_due(&heap.space);
}
