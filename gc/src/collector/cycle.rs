//! The cycle: its phases in order (REQ, T, marking and termination rounds,
//! close, verification, weak clearing, SWEEP), and what happens when it
//! panics (`abandon` for a panicking `Trace`, `recover` for a tmgc bug).
//! The test hook `Hold` and the injected faults (`crate::fault`) mark
//! points of the cycle.

use std::sync::atomic::Ordering;
#[cfg(all(test, not(tmgc_loom)))]
use std::time::Duration;
use std::time::Instant;

use super::handshake::word;
use super::mark::{shade, MarkReport, MarkWork};
use super::stats::CycleStats;
use super::weak_gate::WeakPhase;
use super::{CollectError, Collector};
use crate::fault::FaultPoint;
use crate::header::Header;
use crate::heap::HeapInner;
use crate::sync::{lock, Spin};

/// Collector state that lasts across cycles (guarded by `cycle`).
#[derive(Default)]
pub(crate) struct CycleState {
    pub(super) seq: u64,
    pub(super) epoch: u64,
    pub(super) live_bytes: u64,
    /// Generational mode: live bytes after the last full cycle (the old
    /// generation's size then; its goal is this times `1 + growth_factor`).
    pub(super) full_live: u64,
    /// Generational mode: the allocation between young cycles now (starts
    /// at `nursery_bytes`; adapted after each young cycle).
    pub(super) nursery: u64,
    /// The pacer's goal for the next cycle (bytes of objects in use when
    /// its marking ends; 0: none yet, the first cycle comes at
    /// `min_trigger_bytes`).
    pub(super) goal: u64,
    /// Bytes allocated while the last cycle ran.
    pub(super) during: u64,
}

/// Points where a test holds a cycle (`Collector::hold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// After the last termination round, before marking closes.
    BeforeClose = 1,
    /// Marking closed (and verified), weak cells not yet cleared.
    BeforeWeakClearing,
    /// Weak cells cleared and finalizers found: before the sweep begins
    /// and before the SWEEP request.
    WeakWalkDone,
}

impl Collector {
    // ---- the cycle ----

    /// Tests only: wait at `point` while a test holds the cycle there
    /// (`hold`), after setting `held`.
    #[inline(always)]
    pub(super) fn hold_point(&self, point: Hold) {
        #[cfg(all(test, not(tmgc_loom)))]
        if self.hold.load(Ordering::SeqCst) == point as u8 {
            self.held.store(true, Ordering::SeqCst);
            while self.hold.load(Ordering::SeqCst) == point as u8 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = point;
    }

    /// Run cycle `n`: young (generational mode, marks of earlier cycles
    /// kept) or `full`.
    pub(super) fn run_cycle(
        &self,
        heap: &HeapInner,
        cs: &mut CycleState,
        n: u64,
        full: bool,
    ) -> Result<CycleStats, CollectError> {
        let t0 = Instant::now();
        let space = &heap.space;
        let allocated = space.take_allocated_bytes().max(0) as u64;
        let live_before = cs.live_bytes;
        let (goal, during_before) = (cs.goal, cs.during);
        let generational = self.config.generational;
        cs.epoch += 1;
        debug_assert_eq!(space.unswept_blocks(), 0, "P0: the previous sweep is finished");
        self.faults.hit(FaultPoint::CycleStart);
        // The previous cycle's close is over (and a 24-bit epoch that wraps
        // must not find it).
        self.closed.store(super::NOT_CLOSED, Ordering::SeqCst);
        // Late shades of the previous cycle (a thread with its barrier still
        // on, detaching before it answered SWEEP) are stale: their marks
        // were cleared with the rest (or, in generational mode, are marks
        // of objects that were live when they were set). Never `remset`:
        // its entries wait for T (RS3).
        while self.grey.take_packet().is_some() {}
        // F3: finalizers done since the last cycle leave the queue (no scan
        // at T is reading it now).
        self.finals.remove_done();
        if generational && full {
            // G3 / T10: a full cycle starts from no marks. Here, with the
            // previous sweep finished (P0: no lazy sweep reads them) and
            // before REQ (a clear after it would erase root shades).
            space.clear_marks();
        }
        // Weak reads shade from now on: one that a transaction makes before
        // its thread answers REQ may be stored into an object after T.
        self.weak_gate.switch(WeakPhase::Shade, || true);

        // 1. REQ(e): barriers on, roots shaded by each thread (P1).
        let (w, recs) = self.request(cs, word::REQ);
        self.await_acks(heap, w, recs);

        // 2. T: global roots shaded now, not at the request (trap 3).
        let mut grey = Vec::new();
        heap.globals.scan(|g| {
            // SAFETY: a global root keeps its object alive; nothing is swept
            // during marking.
            unsafe { shade(g.cast::<Header>(), &mut grey) };
        });
        // F2: objects waiting for their finalizers are roots.
        self.finals.scan(|o| {
            // SAFETY: a queued finalizer's object is unfreed (F2) and
            // nothing is swept during marking.
            unsafe { shade(o, &mut grey) };
        });
        self.grey.push_packet(grey);
        // RS4: the remembered holders, taken now that every REQ answer (and
        // with it every thread's hand-over) is in: traced in a young cycle,
        // dropped in a full one.
        let remembered = if generational {
            let (holders, n) = self.remset.take(!full);
            self.grey.push_packet(holders);
            n as u64
        } else {
            0
        };
        let to_t = t0.elapsed();
        let _ = self.request(cs, word::MARK);

        // 3. Mark, then termination rounds until no new grey object (P6).
        self.assists.want_above(self.assist_room(full, goal, live_before, allocated, during_before));
        let work = MarkWork::new(&self.grey, &self.assists, self.crowded().then_some(&self.gave_way));
        let mut report = MarkReport::default();
        let mut rounds = 0;
        loop {
            let drained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.faults.hit(FaultPoint::Mark);
                self.marker.drain(&work)
            }));
            match drained {
                Ok(r) => report += r,
                Err(p) => return Err(self.abandon(heap, cs, p)),
            }
            let before = self.grey.handed();
            let (w, recs) = self.request(cs, word::FLUSH);
            self.await_acks(heap, w, recs);
            self.faults.hit(FaultPoint::Termination);
            rounds += 1;
            // Close (P7): with no weak read inside the gate, a grey set
            // still empty means nothing new; else a weak read shaded after
            // the round, and marking goes on.
            if self.grey.handed() == before && self.grey.is_empty() {
                self.hold_point(Hold::BeforeClose);
                self.faults.hit(FaultPoint::WeakGate);
                if self.weak_gate.switch(WeakPhase::Closed, || self.grey.is_empty()) {
                    // T3, T4: from here a commit with its barrier on marks
                    // nothing and logs as in mode R. Before the SWEEP
                    // request, so a commit that can see a white object of
                    // a thread past its SWEEP answer sees this too.
                    self.closed.store(word::epoch(word::make(0, cs.epoch, 0)), Ordering::SeqCst);
                    break;
                }
            }
        }
        let mark = t0.elapsed() - to_t;

        // 4. Verification (stop-the-world; tests and the stress harness).
        let mut result = Ok(());
        if self.config.verify {
            match self.verify_stopped(heap, cs) {
                Ok(r) => result = r,
                // A `Trace` implementation panicked in the re-trace: as in
                // marking, the cycle is abandoned and nothing is freed.
                Err(p) => return Err(self.abandon(heap, cs, p)),
            }
        }

        // Weak cells to objects the marker did not reach are cleared before
        // anything is freed; then weak reads return what they find (W3).
        self.hold_point(Hold::BeforeWeakClearing);
        // SAFETY: marking is closed and complete (CLOSED), and this cycle's
        // sweep has not begun.
        let weak = unsafe { self.weak_cells.clear_dead_referents() };
        self.weak_gate.switch(WeakPhase::Idle, || true);
        // Finalizers and cleanups (finalize.rs): with the gate IDLE and no
        // weak cell left pointing at an unmarked object, nothing a mutator
        // can reach is unmarked; mark what the ready finalizable objects
        // reach, queue them, then drop the weak cells still unmarked.
        // SAFETY: marking closed and complete, dead referents cleared, the
        // gate IDLE, no sweep begun.
        let finals = unsafe { self.finals.after_marking() };
        // SAFETY: as above, after the finalizers' marking.
        unsafe { self.weak_cells.drop_dead_cells() };

        // Allocation while this cycle ran (the counter was taken at its
        // start), and the bytes in use now, at their peak: objects in use
        // after the last sweep, plus everything allocated since then (the
        // counter taken at this start included the last cycle's own
        // allocation, already in `live_before`).
        let during = space.allocated_bytes().max(0) as u64;
        let in_use = in_use(live_before, allocated, during_before, during);

        // 5. SWEEP(e).
        self.hold_point(Hold::WeakWalkDone);
        space.begin_sweep();
        self.faults.hit(FaultPoint::SweepBegun);
        let (w, recs) = self.request(cs, word::SWEEP);
        self.await_acks(heap, w, recs);
        let mut dropped = 0u64;
        let spin = Spin::new();
        loop {
            dropped += space.sweep().objects_dropped as u64;
            self.faults.hit(FaultPoint::Sweep);
            if space.unswept_blocks() == 0 {
                break;
            }
            spin.wait();
        }
        if !generational {
            space.clear_marks();
        }
        // Generational mode keeps the marks: they are the old generation
        // (cleared at the next full cycle's start).

        let st = space.stats();
        cs.live_bytes = st.live_bytes as u64;
        if generational {
            if full {
                cs.full_live = cs.live_bytes;
            }
            cs.nursery = self.next_nursery(cs.nursery, full, live_before, cs.live_bytes, allocated);
            self.trigger_bytes.store(cs.nursery, Ordering::Relaxed);
            let goal = ((cs.full_live as f64) * (1.0 + self.config.growth_factor)) as u64;
            let goal = goal.max(self.config.min_trigger_bytes);
            self.full_due.store(cs.live_bytes >= goal, Ordering::Relaxed);
        } else {
            let (goal, trigger) = self.next_goal(cs.live_bytes);
            cs.goal = goal;
            self.trigger_bytes.store(trigger, Ordering::Relaxed);
        }
        cs.during = during;
        if generational {
            cs.goal = ((cs.full_live as f64) * (1.0 + self.config.growth_factor)) as u64;
        }
        // Free memory back to the OS (alloc's `decommit.rs`): blocks free
        // through the last two cycles, while more is committed than the
        // heap will use before the next cycle (the goal, or the live bytes
        // plus the next trigger or nursery, whichever is larger), a
        // quarter more for blocks objects fill only in part, and the
        // chunks' metadata. A heap that keeps reusing its blocks keeps
        // them; one that shrank gives back what it no longer uses, even
        // where survivors keep every chunk in use.
        let next = cs.live_bytes + self.trigger_bytes.load(Ordering::Relaxed);
        let base = cs.goal.max(next).max(self.config.min_trigger_bytes);
        let retain = base + base / 4 + st.metadata_bytes as u64;
        let blocks_released = space.release_free_blocks(usize::try_from(retain).unwrap_or(usize::MAX)) as u64;
        // One load (`stats` walks every block; the loom models felt it).
        let committed_bytes = space.committed_bytes() as u64;
        let cycle = CycleStats {
            cycle: n,
            duration: t0.elapsed(),
            to_t,
            mark,
            rounds,
            marked_objects: report.objects,
            marked_bytes: report.bytes,
            allocated_bytes: allocated,
            live_bytes: cs.live_bytes,
            freed_bytes: (live_before + allocated).saturating_sub(cs.live_bytes),
            heap_bytes: st.heap_bytes as u64,
            objects_dropped: dropped,
            weak_cleared: weak.cleared,
            finalizers_queued: finals.finalizers,
            cleanups_queued: finals.cleanups,
            verified: self.config.verify,
            full,
            remembered,
            heap_goal: goal,
            allocated_during: during,
            overshoot: if goal == 0 { 0 } else { in_use.saturating_sub(goal) },
            assisted_objects: report.assisted,
            blocks_released,
            committed_bytes,
        };
        let mut s = lock(&self.stats);
        s.cycles += 1;
        s.full_cycles += u64::from(full);
        s.max_cycle = s.max_cycle.max(cycle.duration);
        s.total += cycle.duration;
        s.heap_goal = cs.goal;
        if s.recent.len() == 64 {
            s.recent.pop_front();
        }
        s.recent.push_back(cycle);
        drop(s);
        if self.config.gctrace {
            self.trace_line(heap, &cycle, live_before + allocated, t0);
        }
        if let Some(hook) = &self.config.on_cycle {
            // Inside the cycle's GC work (W0); a panic must not take the
            // collector down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (hook.0)(&cycle)));
        }
        result.map(|()| cycle)
    }

    /// `Config::gctrace`'s line for one cycle, on stderr (the user asked
    /// for it: `TMGC_GCTRACE=1`).
    fn trace_line(&self, heap: &HeapInner, c: &CycleStats, before: u64, t0: std::time::Instant) {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let st = self.stats(heap);
        let us = |ns: u64| ns as f64 / 1e3;
        // The cycle's span on the pauses' clock.
        let now = super::stats::Instant::now();
        let from = now.checked_sub(t0.elapsed()).unwrap_or(now);
        let mmu = |w_ms: u64| 100.0 * self.mmu(from, now, std::time::Duration::from_millis(w_ms));
        eprintln!(
            "tmgc: gc {} {}: {:.2} ms (to T {:.2}, mark {:.2}, verify and sweep {:.2}); {:.1} -> {:.1} MiB live (of {:.1} MiB heap), {:.1} MiB marked ({} objects, {} by assists), {:.1} MiB freed, {} destructors, {} weak cleared, {} finalizers and {} cleanups due; pauses so far p99 {:.1} us, max {:.1} us; MMU in the cycle {:.0}% at 1 ms, {:.0}% at 10 ms",
            c.cycle,
            if c.full { "full" } else { "young" },
            ms(c.duration),
            ms(c.to_t),
            ms(c.mark),
            ms(c.duration.saturating_sub(c.to_t + c.mark)),
            mib(before),
            mib(c.live_bytes),
            mib(c.heap_bytes),
            mib(c.marked_bytes),
            c.marked_objects,
            c.assisted_objects,
            mib(c.freed_bytes),
            c.objects_dropped,
            c.weak_cleared,
            c.finalizers_queued,
            c.cleanups_queued,
            us(st.pauses.value_at_quantile(0.99)),
            us(st.pauses.max()),
            mmu(1),
            mmu(10),
        );
    }

    /// The bytes this cycle may allocate before its mutators assist
    /// marking (`mark/assists.rs`; docs/COLLECTOR.md, "Pacing"): none for
    /// the assisted marker, which wants assists throughout; else what the
    /// goal leaves of the bytes in use at the start (`in_use`, the measure
    /// `CycleStats::overshoot` compares with the goal at the end of
    /// marking). Never (`u64::MAX`) in generational mode (young cycles
    /// are short by design, and a full one is due exactly when the old
    /// generation has passed its goal, so it would assist from its first
    /// byte), for the first cycle (no goal yet), or with
    /// `Config::mark_assists` off.
    fn assist_room(&self, full: bool, goal: u64, live_before: u64, allocated: u64, during_before: u64) -> u64 {
        if self.marker.assists_always() {
            return 0;
        }
        if !self.config.mark_assists || self.config.generational || !full || goal == 0 {
            return u64::MAX;
        }
        goal.saturating_sub(in_use(live_before, allocated, during_before, 0))
    }

    /// The pacer after a full cycle (docs/COLLECTOR.md, "Pacing"): the
    /// goal for the next cycle and the allocation (counted from this
    /// cycle's start) that starts it. The trigger is `growth_factor` times
    /// the bytes the sweep left, at least `min_trigger_bytes`. The counter
    /// includes this cycle's own allocation (its survivors in `live_after`),
    /// and the next cycle allocates about as much while it runs, so the
    /// bytes in use when its marking ends come to about `live_after` plus
    /// the trigger: that is the goal reported (`CycleStats::heap_goal`).
    fn next_goal(&self, live_after: u64) -> (u64, u64) {
        let trigger = (((live_after as f64) * self.config.growth_factor) as u64).max(self.config.min_trigger_bytes);
        (live_after + trigger, trigger)
    }

    /// Generational mode: the allocation before the next young cycle. Its
    /// base is a quarter of what a full cycle's pacer would allow
    /// (`growth_factor` times the live bytes), and never less than
    /// `nursery_bytes`. A young cycle promotes what it marks, the
    /// survivors of the transactions that ran while it marked included
    /// (P4). When that is more than a quarter of what the cycle followed,
    /// young cycles run too often for what the program keeps: the nursery
    /// doubles, up to `growth_factor` times the live bytes. When a cycle promotes less than a sixteenth,
    /// it shrinks back towards the base.
    fn next_nursery(&self, now: u64, full: bool, live_before: u64, live_after: u64, allocated: u64) -> u64 {
        let growth = self.config.growth_factor;
        let base = (((live_after as f64) * growth / 4.0) as u64).max(self.config.nursery_bytes);
        let ceiling = (((live_after as f64) * growth) as u64).max(base);
        let now = now.clamp(base, ceiling);
        if full {
            return now;
        }
        let promoted = live_after.saturating_sub(live_before);
        if promoted.saturating_mul(4) > allocated {
            now.saturating_mul(2).min(ceiling)
        } else if promoted.saturating_mul(16) < allocated {
            (now / 4 * 3).max(base)
        } else {
            now
        }
    }

    /// Marking panicked (a `Trace` implementation did): marking is
    /// incomplete, so nothing may be freed. Bring every thread back to the
    /// idle state (SWEEP answers: blocks retired, white allocation, barrier
    /// off) without starting a sweep epoch, drop the grey set, clear the
    /// marks. The caller records the collector as broken: no later cycle
    /// runs, so nothing is ever freed on the strength of these marks.
    pub(super) fn abandon(
        &self,
        heap: &HeapInner,
        cs: &mut CycleState,
        p: Box<dyn std::any::Any + Send>,
    ) -> CollectError {
        let (w, recs) = self.request(cs, word::SWEEP);
        self.await_acks(heap, w, recs);
        while self.grey.take_packet().is_some() {}
        // No sweep follows: weak reads may return what they find.
        self.weak_gate.switch(WeakPhase::Idle, || true);
        heap.space.clear_marks();
        CollectError::TracePanicked(panic_message(&*p))
    }

    /// The collector panicked somewhere in a cycle other than a `Trace`
    /// call (a tmgc bug: an internal assertion, say). Where it stopped is
    /// unknown, so nothing more may be freed: the caller records the
    /// collector as broken and no later cycle runs. Release the threads:
    /// a SWEEP request moves the word off any phase they could be waiting
    /// in (a VERIFY stop) and turns their barriers off. No sweep epoch is
    /// begun here; if this cycle already began one, its marks are complete
    /// (the sweep begins only after marking and verification), so the lazy
    /// sweep finishing it stays correct, and the marks are left for it. If
    /// this recovery panics too, the word has still moved on: the threads
    /// answer it themselves at their commit points.
    pub(super) fn recover(
        &self,
        heap: &HeapInner,
        cs: &mut CycleState,
        p: Box<dyn std::any::Any + Send>,
    ) -> CollectError {
        let msg = panic_message(&*p);
        // A panic inside the verifier's stop left its counter odd, which
        // would keep every later handoff wait out of the pause figures.
        if self.verifications.load(Ordering::Acquire) % 2 == 1 {
            self.verifications.fetch_add(1, Ordering::AcqRel);
        }
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Weak reads return what they find: no sweep begins from here,
            // and if one had begun, its clearing was done (W3).
            self.weak_gate.switch(WeakPhase::Idle, || true);
            let (w, recs) = self.request(cs, word::SWEEP);
            self.await_acks(heap, w, recs);
            while self.grey.take_packet().is_some() {}
        }));
        CollectError::Panicked(msg)
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The bytes in use once a cycle has allocated `during`: the bytes the last
/// sweep left (`live_before`), plus everything allocated since that sweep:
/// the allocation since the last cycle's start (`allocated`, taken at this
/// cycle's start), less what the last cycle allocated while it ran
/// (`during_before`, counted by its sweep as far as it survived), plus
/// `during`.
fn in_use(live_before: u64, allocated: u64, during_before: u64, during: u64) -> u64 {
    (live_before + allocated + during).saturating_sub(during_before)
}
