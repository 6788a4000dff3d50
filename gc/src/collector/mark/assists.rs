//! Mark assists: mutators trace a bounded share of the grey set at their
//! commit points while a marking drain runs (Go's mark assists), with any
//! marker. The assisted marker wants them always; the serial and parallel
//! markers once the bytes allocated during the cycle pass what the pacer's
//! goal left room for (`above`), so that a mutator that outruns the marker
//! pays for its allocation in marking, and the heap stops growing past its
//! goal (docs/COLLECTOR.md, "Pacing").
//!
//! ## Invariants
//! - (MA1) An assist counts itself in flight (`in_flight`) before it takes
//!   work from the grey set, and leaves flight only after everything it
//!   took is traced or handed back to the grey set (also when a `Trace`
//!   implementation panics under it: then `failed` is set first).
//! - (MA2) [`Assists::drain`] turns `active` on, runs its marker, and
//!   returns only after turning `active` off, seeing no assist in flight,
//!   and then the grey set empty (else it turns assists on again and goes
//!   on). So when a drain returns, no assist holds grey objects, none
//!   starts before the next drain, and the assists left nothing in the
//!   grey set: everything they took is traced. (A packet a commit hands
//!   over meanwhile is the termination round's, P6.)
//! - (MA3) A marker that keeps its work on a private stack hands the older
//!   half of it to the grey set when an assist found nothing to take
//!   (`hungry`), at its next sharing point (every `SHARE_EVERY` units of
//!   work of `trace_stack`). `hungry` is a hint: no protocol depends on it.
//! - (MA4) An assist is bounded: at most `budget` objects, about
//!   `budget` times [`ASSIST_BYTES_PER_OBJECT`] bytes of tracing, and
//!   about [`ASSIST_TIME_CAP`] of wall time (read every
//!   [`ASSIST_CLOCK_EVERY`] objects).
//!
//! The loom model at the end of this file runs the serial marker's drain
//! against an assisting thread, on a small fake graph, and checks MA2 and
//! that the marker shares (MA3): see `assists_against_a_drain`.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use super::{Grey, MarkReport, MarkWork};
use crate::sync::{sc_order, AtomicBool, AtomicU64, Spin};

/// The bytes of tracing an assist may do per object of its budget.
const ASSIST_BYTES_PER_OBJECT: usize = 64;

/// An assist stops after this much wall time, whatever is left of its
/// budget: a pause is bounded in time, not only in work. On a large heap
/// each object it traces can be a cache miss, and 512 objects once took
/// 721 µs of CPU time in one assist (pause bench, 256 MiB, 2 mutators,
/// the serial marker, AMD EPYC Zen 2; docs/PERFORMANCE.md).
#[cfg(not(tmgc_loom))]
const ASSIST_TIME_CAP: std::time::Duration = std::time::Duration::from_micros(100);

/// How many objects an assist traces between two reads of the clock.
#[cfg(not(tmgc_loom))]
const ASSIST_CLOCK_EVERY: u64 = 32;

/// The mark assists' shared state, one per collector.
#[derive(Debug)]
pub(crate) struct Assists {
    /// A drain is running: assists may take work (MA2).
    active: AtomicBool,
    /// Assists holding grey objects outside the grey set right now (MA1).
    in_flight: AtomicU64,
    /// An assist panicked (a `Trace` implementation panicked on a mutator).
    failed: AtomicBool,
    /// Work done by assists since the drain began (counted before an
    /// assist leaves flight, so the drain reads all of it).
    objects: AtomicU64,
    bytes: AtomicU64,
    /// An assist found the grey set empty: a marker with a private stack
    /// should share (MA3). A hint no protocol depends on, but loom's under
    /// loom, so the model explores the orders that make a marker share.
    hungry: AtomicBool,
    /// Bytes allocated during the cycle past which assists are wanted
    /// (`u64::MAX`: none). A pacing hint, read with the allocation counter.
    above: std::sync::atomic::AtomicU64,
    /// When the last assist ended (ns since `epoch`): the assisted marker
    /// takes over when assists stop.
    last_ns: std::sync::atomic::AtomicU64,
    epoch: std::sync::OnceLock<std::time::Instant>,
}

impl Default for Assists {
    fn default() -> Self {
        Assists {
            active: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            hungry: AtomicBool::new(false),
            above: std::sync::atomic::AtomicU64::new(u64::MAX),
            last_ns: std::sync::atomic::AtomicU64::new(0),
            epoch: std::sync::OnceLock::new(),
        }
    }
}

/// Assists on while it lives; dropped (also when the drain's own tracing
/// panics: else mutators would assist, and not pace, for ever), it turns
/// them off and waits for the assists in flight (MA2).
struct Active<'a>(&'a Assists);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.store(false, SeqCst);
        sc_order();
        let spin = Spin::new();
        while self.0.in_flight.load(SeqCst) != 0 {
            spin.snooze();
        }
        self.0.hungry.store(false, Relaxed);
    }
}

impl Assists {
    /// Want assists once `bytes` have been allocated during the cycle
    /// (`u64::MAX`: never). Set by the cycle before marking starts.
    pub(crate) fn want_above(&self, bytes: u64) {
        self.above.store(bytes, Relaxed);
    }

    /// Whether a mutator that has seen `allocated` bytes allocated during
    /// the cycle should assist now.
    #[inline]
    pub(crate) fn wanted(&self, allocated: u64) -> bool {
        self.active.load(Relaxed) && allocated >= self.above.load(Relaxed)
    }

    fn now_ns(&self) -> u64 {
        self.epoch.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
    }

    /// Nanoseconds since the last assist ended (or the drain began).
    pub(crate) fn idle_ns(&self) -> u64 {
        self.now_ns().saturating_sub(self.last_ns.load(Relaxed))
    }

    /// Run one marking drain with assists on (MA2): `step` traces what the
    /// marker can (or waits a little); it runs again until the grey set is
    /// empty with assists off and none in flight. Returns the marker's work
    /// plus the assists'. Panics if an assist panicked.
    pub(crate) fn drain(&self, work: &MarkWork<'_>, mut step: impl FnMut() -> MarkReport) -> MarkReport {
        self.objects.store(0, SeqCst);
        self.bytes.store(0, SeqCst);
        self.last_ns.store(self.now_ns(), Relaxed);
        let mut own = MarkReport::default();
        loop {
            self.active.store(true, SeqCst);
            let active = Active(self);
            let spin = Spin::new();
            loop {
                self.check_failed();
                // A hint: an assist can begin and end between these loads
                // and leave its leftovers behind; the test after `active`
                // is off below is the one that counts.
                if self.in_flight.load(SeqCst) == 0 && work.grey.is_empty() {
                    break;
                }
                let r = step();
                if r.objects == 0 {
                    // Nothing to take: assists hold the rest, or will hand it back.
                    spin.snooze();
                }
                own += r;
            }
            drop(active);
            // An assist that panicked while the drain waited for it lost
            // what it held: marking is incomplete.
            self.check_failed();
            // Assists off and none in flight: none can hand anything back
            // any more, so an empty grey set now means they left nothing.
            if work.grey.is_empty() {
                break;
            }
        }
        let objects = self.objects.load(SeqCst);
        own += MarkReport { objects, bytes: self.bytes.load(SeqCst), assisted: objects };
        own
    }

    fn check_failed(&self) {
        if self.failed.swap(false, SeqCst) {
            panic!("a mark assist panicked: a Trace implementation panicked on a mutator thread");
        }
    }

    /// A mutator's assist at a commit point: nothing unless a drain runs.
    pub(crate) fn assist(&self, work: &MarkWork<'_>, budget: usize) -> MarkReport {
        let Some(r) = self.chunk(work, budget) else { return MarkReport::default() };
        self.objects.fetch_add(r.objects, SeqCst);
        self.bytes.fetch_add(r.bytes, SeqCst);
        self.last_ns.store(self.now_ns(), Relaxed);
        // Counted before leaving flight (see `objects`).
        self.in_flight.fetch_sub(1, SeqCst);
        r
    }

    /// The assisted marker's own chunk, on the drain's thread when assists
    /// stop: like an assist, but its work is counted by the drain's `step`.
    pub(crate) fn takeover(&self, work: &MarkWork<'_>, budget: usize) -> MarkReport {
        let Some(r) = self.chunk(work, budget) else { return MarkReport::default() };
        self.in_flight.fetch_sub(1, SeqCst);
        r
    }

    /// Trace up to `budget` objects taken from the grey set (MA4); leftovers
    /// go back as a packet. `None` (and not in flight) when no drain runs;
    /// else in flight on return: the caller leaves it.
    fn chunk(&self, work: &MarkWork<'_>, budget: usize) -> Option<MarkReport> {
        // MA1: in flight *before* looking at `active` and taking work. With
        // the drain's end (`active` off, then `in_flight` read; all SeqCst)
        // that is a store-load pair on each side: either this assist sees
        // the drain over, or the drain sees it in flight and waits. Looking
        // at `active` first would let an assist that saw it on take a
        // packet handed over after the drain returned, behind the
        // termination round's back (`sc_order`: loom models the SeqCst
        // accesses' total order only through fences).
        self.in_flight.fetch_add(1, SeqCst);
        sc_order();
        if !self.active.load(SeqCst) {
            self.in_flight.fetch_sub(1, SeqCst);
            return None;
        }
        // Leaves flight also when tracing panics, marking the drain failed
        // (else the drain would wait for this assist forever).
        struct Flight<'a>(&'a Assists);
        impl Drop for Flight<'_> {
            fn drop(&mut self) {
                self.0.failed.store(true, SeqCst);
                self.0.in_flight.fetch_sub(1, SeqCst);
            }
        }
        let flight = Flight(self);
        let mut report = MarkReport::default();
        match work.take_packet() {
            Some(packet) => {
                // At most `budget` of the packet's objects: a large packet
                // (a root scan) would otherwise grow, and reallocating it
                // inside an assist costs a copy of all of it.
                let mut stack = if packet.len() > budget {
                    let mut packet = packet;
                    let tail = packet.split_off(packet.len() - budget);
                    work.push_packet(packet);
                    tail
                } else {
                    packet
                };
                // Bounded in bytes too: a chunk of a large array (AR3) is
                // one object of 32 KiB.
                #[cfg(not(tmgc_loom))]
                let start = std::time::Instant::now();
                while report.objects < budget as u64 && report.bytes < (budget * ASSIST_BYTES_PER_OBJECT) as u64 {
                    let Some(g) = stack.pop() else { break };
                    report.bytes += work.scan(g, &mut stack) as u64;
                    report.objects += 1;
                    // Not under loom: the clock would make the model's
                    // runs differ.
                    #[cfg(not(tmgc_loom))]
                    if report.objects % ASSIST_CLOCK_EVERY == 0 && start.elapsed() >= ASSIST_TIME_CAP {
                        break;
                    }
                }
                work.push_packet(stack);
            }
            None => self.hungry.store(true, Relaxed),
        }
        std::mem::forget(flight);
        Some(report)
    }

    /// MA3: at a sharing point of a marker with a private stack, hand the
    /// older half of `stack` (nearest the roots: the largest subgraphs) to
    /// the grey set if an assist went hungry.
    #[inline]
    pub(crate) fn share(&self, work: &MarkWork<'_>, stack: &mut Vec<Grey>) {
        // The swap (only once the load saw a hungry assist) lets one of
        // several parallel markers answer it, not each of them.
        if self.hungry.load(Relaxed) && stack.len() >= 2 && self.hungry.swap(false, Relaxed) {
            let half: Vec<Grey> = stack.drain(..stack.len() / 2).collect();
            work.push_packet(half);
        }
    }
}

#[cfg(all(test, tmgc_loom))]
mod loom_model {
    //! `RUSTFLAGS="--cfg tmgc_loom" cargo test -p tmgc --lib --release --target-dir target/loom assists`
    use std::ptr::NonNull;

    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Arc;

    use super::super::{Grey, GreySet, MarkWork, Marker, SerialMarker};
    use super::Assists;
    use crate::header::Header;

    /// Nodes of the fake graph: node k (< 3) references 2k+1 and 2k+2.
    const NODES: usize = 7;
    /// A node handed over after the drain returned (a commit's barrier
    /// packet): no assist may take it (MA2).
    const LATE: usize = NODES;

    struct Graph {
        marked: Vec<AtomicBool>,
        traced: Vec<AtomicBool>,
        /// Traced by the assisting thread.
        by_assist: Vec<AtomicBool>,
    }

    fn grey(k: usize) -> Grey {
        // A fake address: the index, shifted past null and the array
        // continuation bits; the model's scan never dereferences it.
        Grey(NonNull::new(((k + 1) << 8) as *mut Header).unwrap())
    }

    fn index(g: Grey) -> usize {
        (g.0.as_ptr() as usize >> 8) - 1
    }

    impl Graph {
        fn scan(&self, g: Grey, stack: &mut Vec<Grey>, assist: bool) -> usize {
            let k = index(g);
            assert!(!self.traced[k].swap(true, Ordering::SeqCst), "node {k} traced twice");
            self.by_assist[k].store(assist, Ordering::SeqCst);
            for c in [2 * k + 1, 2 * k + 2] {
                if c < NODES && !self.marked[c].swap(true, Ordering::SeqCst) {
                    stack.push(grey(c));
                }
            }
            1
        }
    }

    /// The serial marker, which shares on demand (MA3), drains while a
    /// mutator assists twice. At the drain's return, the whole graph is traced,
    /// each node once, and nothing is left in the grey set (MA2: no assist
    /// holds work or left any behind); and a packet handed over after it
    /// stays in the grey set for the termination round (an assist that
    /// looked at `active` before counting itself in flight could take it:
    /// loom finds that order, as it finds a drain that does not wait for
    /// its assists, or returns on two looks at the counter around one at
    /// the grey set, with 3 preemptions).
    #[test]
    fn assists_against_a_drain() {
        // Executions in which the assist traced a node the marker shared
        // with it (MA3: not the root, which it can take before the marker
        // does). std's atomic: outside the model.
        static SHARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let graph = Arc::new(Graph {
                marked: (0..=NODES).map(|k| AtomicBool::new(k == 0 || k == LATE)).collect(),
                traced: (0..=NODES).map(|_| AtomicBool::new(false)).collect(),
                by_assist: (0..=NODES).map(|_| AtomicBool::new(false)).collect(),
            });
            let grey_set = Arc::new(GreySet::default());
            grey_set.push_packet(vec![grey(0)]);
            let assists = Arc::new(Assists::default());
            assists.want_above(0);
            let scan = {
                let graph = Arc::clone(&graph);
                move |g: Grey, s: &mut Vec<Grey>| graph.scan(g, s, false)
            };
            let mutator = {
                let (grey_set, assists, graph) = (Arc::clone(&grey_set), Arc::clone(&assists), Arc::clone(&graph));
                loom::thread::spawn(move || {
                    let scan = move |g: Grey, s: &mut Vec<Grey>| graph.scan(g, s, true);
                    let work = MarkWork::with_scan(&grey_set, &assists, &scan);
                    for _ in 0..2 {
                        if assists.wanted(0) {
                            assists.assist(&work, 2);
                        }
                    }
                })
            };
            let report = SerialMarker.drain(&MarkWork::with_scan(&grey_set, &assists, &scan));
            let mut left = Vec::new();
            while let Some(p) = grey_set.take_packet() {
                left.extend(p.into_iter().map(index));
            }
            grey_set.push_packet(vec![grey(LATE)]);
            // The termination round waits for the mutators' answers
            // before it looks at the grey set.
            loom::thread::yield_now();
            assert_eq!(grey_set.take_packet(), Some(vec![grey(LATE)]), "an assist took work after the drain");
            assert!(!graph.traced[LATE].load(Ordering::SeqCst));
            // Nothing was left (the drain waits for an empty grey set with
            // assists off), so the whole graph is traced, each node once.
            assert!(left.is_empty(), "the drain returned with {left:?} in the grey set");
            assert!(graph.traced[..NODES].iter().all(|t| t.load(Ordering::SeqCst)));
            assert_eq!(report.objects, NODES as u64, "the drain counts the assists' work");
            let by = |k: usize| graph.by_assist[k].load(Ordering::SeqCst);
            if !by(0) && (1..NODES).any(by) {
                SHARED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            mutator.join().unwrap();
        });
        assert!(
            SHARED.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "no execution had the marker share work with the assist"
        );
    }
}
