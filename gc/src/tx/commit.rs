//! Commit and abort: the solo commit, the one-object commit, the general
//! commit (lock, clock, validate, publish), the commit barrier, rollback,
//! and rolling a commit forward.
//!
//! The commit point. Until a commit has validated (or, solo, decided to
//! write) the attempt can be rolled back (`rollback`). From then on it
//! must reach the heap: `Tx::stage` says which step of `finish` runs, and
//! `Tx`'s destructor finishes a commit that a panic interrupted (a tmgc
//! bug, or an injected fault: FT2 of `crate::fault`) before the panic goes
//! on. Rolling back there would be unsound: the barrier may already have
//! shaded the new objects a rewind frees, and written-back words may have
//! been read.
//!
//! CM1: a roll-forward runs again only the step a panic interrupted (and
//! those after it), never one that finished, and each step can run again
//! from its start with the same effect *given that the steps after it have
//! not begun* (the stages, `stage`, say which): shading is idempotent (M1);
//! stamping the new objects is, until a reference to them is written back;
//! write-back stores the same words into objects still locked by us;
//! unlocking takes each lock from the log only once it is released; the
//! tail steps take what they consume (the checkpoint, the root drops, the
//! finalizer registrations) or mark it done (`inevitable`). A second panic
//! while rolling forward is a panic in a destructor during unwinding: the
//! process aborts, which is all that
//! is left when a commit can neither finish nor be undone.
//!
//! CM2: a commit none of whose new objects can leave the transaction
//! (no way out of SV1, `collector/survivors.rs`, hands out one of them,
//! and it allocated no weak cell: `Tx::news_may_escape`) publishes none
//! of them: it commits as a read-only transaction, at its read version,
//! and its new objects keep `NEW` and whatever word their version-lock
//! slots held (HD2 of `header.rs`: a dead object's free word, or 0).
//! Nothing can reach them from the commit on (a `Gc` dies with its
//! transaction, and every other way to an unpublished object is one of
//! SV1's), so they are garbage that no transaction,
//! marker or commit barrier reads again. While the collector marks,
//! the barrier shades none of them and walks no survivors. The decision
//! is taken once, by `commit_general` before the commit point, and kept
//! in `Tx::escape`: a roll-forward (CM1) cannot take it again, as
//! publishing clears the `NEW` flags it reads.
//!
//! CM3: such a commit gives their memory back at once, as an abort does:
//! their destructors run (on this thread, at the commit, as GC work as in
//! the sweep that would otherwise have run them: a panic in one is caught
//! and counted in `GcStats::destructor_panics`), and
//! the allocator rewinds to the attempt's checkpoint (alloc's
//! `checkpoint.rs`), which clears their start, mark and drop bits and
//! hands the same memory to the next allocation. That is the abort's
//! rewind at the same point of the same thread's attempt, so it meets the
//! collector as an abort does: the objects were allocated white and
//! nothing marked them (the barrier, the survivors' walk and the
//! remembered set skip them when none escapes), the write-back touches
//! none of them, and no handshake is answered between the checkpoint and
//! the rewind (answers happen between transactions). The destructors run
//! on this thread while it is still in its commit: a handshake waits for
//! them as for the rest of the commit (they are not timed as a pause). A transaction that builds, reads and drops a structure
//! (each binary-trees tree) so never reaches the collector: its bytes are
//! not even counted as allocated. It is the non-moving form of stmgc's
//! nursery reset at commit, for the case where nothing survives.
//!
//! NL1: the new objects are neither logged nor counted one by one:
//! `Tx::alloc_raw` is the only allocation of an attempt, every allocation
//! after its checkpoint (taken before the first), so the objects the
//! allocator lists since that checkpoint (alloc's `allocated_since`: the
//! start bits of the ranges a rewind would clear, less the fillers) are
//! exactly its new objects, headers written; an attempt without a
//! checkpoint has none. `Tx::list_news` fills `logs.news` from there at
//! the two places that read it: a commit that publishes them (`escape`,
//! CM2), at the start of `finish`, before the barrier, the stamp and the
//! weak cells' registration; and a rewind that must run their
//! destructors (`drop_news`). A commit that gives them back (CM3) only
//! counts them (`count_since`, a population count of the same bits) for
//! `TxCounts`: the binary-trees and GCBench trees are never listed. The
//! listing is idempotent (the start bits stay until a rewind), so a
//! roll-forward (CM1) may list again; it reads no header. Debug builds
//! also count each allocation and check every listing against it.
//!
//! NL2: a commit that publishes its new objects lists them only if
//! something reads the list (`Tx::lists_news`): the commit barrier (the
//! barrier on: survivors, (c), the remembered set) or the weak cells'
//! registration. Otherwise the stamp walks the allocator's record in
//! place (`allocated_since` again, at STAMP) and `allocated` is its count:
//! a list costs 8 bytes per object, 32 MiB for binary-trees' long-lived
//! tree of 4 million nodes, on top of the tree. Both inputs of the
//! decision are fixed for the attempt (`gc.barrier` changes only at a
//! commit point's answer; `weak_news` only at allocation), so a
//! roll-forward decides as the first run did, and streams again: the
//! stamp is idempotent, and the record stays until a rewind or the
//! checkpoint's release, both after STAMP.
//!
//! SQ1: the quiet solo commit. A solo attempt (S2 of `crate::solo`) that
//! logged no write, took no checkpoint (so allocated nothing: NL1),
//! registered no global root or finalizer and runs with the barrier off
//! has nothing to write back, stamp or shade: of `finish` only the tail
//! is left (queued root drops, and the roots it created becoming
//! permanent), with its stage marks and the `RootCommit` fault point.
//! `commit_solo` skips the write-back steps, and the logs' clearing and
//! trimming (LG1: nothing was logged), when nothing was written. The solo
//! commit is inlined whole into the transaction loop (`quiet_solo`
//! chooses it there); every other commit is a call (docs/PERFORMANCE.md,
//! "the quiet solo commit (SQ1) and A6"). SQ2: the loop counts a quiet
//! solo commit apart, as it has nothing allocated or given back to
//! count and, with the barrier off, never gives way.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::collector::mark::shade;
use crate::collector::stats::PauseClock;
use crate::collector::{remset, survivors};
use crate::error::Conflict;
use crate::flags::{vlock, ObjFlags};
use crate::header::Header;
use crate::heap::INEVITABLE;
use crate::sync::{sc_order, Spin};
use crate::thread::MutatorState;
use tmgc_alloc::Checkpoint;

use super::{Logs, Tx, Write};
use crate::fault::FaultPoint;

/// The steps of a commit (`Tx::stage`): before the commit point, then the
/// steps of `Tx::finish` in order, then done (committed or rolled back).
pub(super) mod stage {
    /// Running, or committing before the commit point: rollback undoes it.
    pub(crate) const OPEN: u8 = 0;
    /// The commit barrier (or, in mode R, the remembered set).
    pub(crate) const BARRIER: u8 = 1;
    /// New objects stamped with the write version and published (`NEW`
    /// cleared). Run again only if it did not finish: until the locks
    /// are released nobody else can reach them, but afterwards another
    /// commit may hold one locked, and a second stamp would erase that.
    pub(crate) const STAMP: u8 = 2;
    /// The logged words written back, every written object still locked
    /// by us (so writing them again writes the same words).
    pub(crate) const WRITE_BACK: u8 = 3;
    /// The locks released with the write version, each leaving the lock
    /// log once released (so a second run releases only the rest).
    pub(crate) const UNLOCK: u8 = 4;
    /// Global roots set, new weak cells registered.
    pub(crate) const GLOBALS: u8 = 5;
    /// A full grey buffer handed over, the inevitable token, the
    /// checkpoint, root drops and new roots, finalizer registrations, the
    /// logs.
    pub(crate) const TAIL: u8 = 6;
    /// Committed or rolled back: nothing is left to do.
    pub(crate) const DONE: u8 = 7;
}

impl<'tx> Tx<'tx> {
    /// Whether the commit is the quiet solo one ([`Tx::commit_solo`]):
    /// solo mode, no new object (no checkpoint), the barrier off, no
    /// global root or finalizer registered. Such a commit cannot fail,
    /// has nothing allocated or given back to count, and never gives way
    /// (that needs the barrier on); the transaction loop counts it apart.
    /// Every other commit is [`Tx::commit_concurrent`].
    #[inline(always)]
    pub(crate) fn quiet_solo(&self) -> bool {
        let logs = &self.core.logs;
        // OW3 of `owned`: with an empty read set, a concurrent attempt
        // touched only objects its mutator owns (and roots).
        (self.solo || (logs.reads.is_empty() && !self.inevitable))
            && self.ck.is_none()
            && !self.core.gc.barrier
            && logs.globals.is_empty()
            && logs.finals.is_empty()
    }

    /// The solo commit (`quiet_solo` holds), inlined whole into
    /// the transaction loop: as a call it cost the one-thread rows of the
    /// tx bench (docs/PERFORMANCE.md, "the quiet solo commit (SQ1) and
    /// A6"). Write back the logged words: nothing to lock, validate, stamp
    /// or shade (S2 of `solo`). The steps of `finish` that have work here,
    /// in its order; with nothing logged (SQ1) the write-back steps are
    /// skipped, stage marks included.
    #[inline(always)]
    pub(crate) fn commit_solo(&mut self) -> (u64, bool) {
        debug_assert!(self.quiet_solo(), "the solo commit without its conditions");
        let logs = &self.core.logs;
        // No checkpoint: no new object (NL1).
        debug_assert!(
            logs.reads.is_empty() && logs.locked.is_empty(),
            "solo (or owned-only) transactions log no reads"
        );
        self.wv = self.rv;
        let wrote = !logs.writes.is_empty();
        if wrote {
            self.stage = stage::BARRIER;
            if self.core.gc.generational {
                self.remember(); // RS1 in this path too (T1)
            }
            self.stage = stage::WRITE_BACK;
            // SAFETY: field words of live objects; no other transaction
            // runs (solo mode).
            unsafe { write_back(&self.core.logs.writes, &self.core.faults) };
            self.stage = stage::TAIL;
            self.core.logs.clear_writes();
        }
        self.stage = stage::TAIL;
        self.apply_root_drops();
        // Roots it created need no shading: the barrier is off.
        self.core.faults.hit(FaultPoint::RootCommit);
        self.core.roots.commit();
        self.stage = stage::DONE;
        (self.rv, wrote)
    }

    /// Every commit but the quiet solo one: out of line, so that one
    /// inlines into the transaction loop. Returns the version the
    /// transaction serializes at, and whether it wrote (or published)
    /// anything.
    #[inline(never)]
    pub(crate) fn commit_concurrent(&mut self) -> Result<(u64, bool), Conflict> {
        if self.plain_read_only() {
            return Ok(self.commit_read_only());
        }
        if let Some(obj) = self.single_object_writer() {
            return self.commit_one(obj);
        }
        self.commit_general()
    }

    /// A read-only attempt with nothing to publish, shade, register or
    /// release: no write, no new object (no checkpoint), no global root,
    /// no finalizer, not inevitable, the barrier off. The shape
    /// `commit_read_only` handles.
    #[inline]
    fn plain_read_only(&self) -> bool {
        let logs = &self.core.logs;
        !self.inevitable
            && self.ck.is_none()
            && !self.core.gc.barrier
            && logs.writes.is_empty()
            && logs.globals.is_empty()
            && logs.finals.is_empty()
    }

    /// The general commit (`commit_general`) for a `plain_read_only`
    /// attempt: every read was valid at `rv` (each one checked against
    /// it, or moved it forward after validating the read set: the module
    /// docs), so `rv` is its serialization point, as in TL2, with nothing
    /// to lock or validate. Of `finish` only the tail has work: the root
    /// drops and the new roots, which need no shading (the barrier is
    /// off). Stage marks as in `finish`, so a panic in the tail (an
    /// injected fault at `RootCommit`) rolls forward through it.
    #[inline(never)]
    fn commit_read_only(&mut self) -> (u64, bool) {
        debug_assert!(self.core.logs.locked.is_empty(), "a read-only attempt locks nothing");
        self.wv = self.rv;
        self.stage = stage::TAIL;
        self.core.logs.reads.clear();
        super::trim(&mut self.core.logs.reads); // LG1
        self.apply_root_drops();
        self.core.faults.hit(FaultPoint::RootCommit);
        self.core.roots.commit();
        debug_assert!(self.core.logs.is_clear(), "a read-only commit left a log behind");
        self.stage = stage::DONE;
        (self.rv, false)
    }

    /// The object every logged write goes to, if the attempt wrote one
    /// object only (a record updated in place) and has nothing else to
    /// publish, lock or shade: the shape `commit_one` handles.
    #[inline]
    fn single_object_writer(&self) -> Option<NonNull<Header>> {
        let logs = &self.core.logs;
        let first = logs.writes.first()?.obj();
        let simple = !self.solo
            && !self.inevitable
            && self.ck.is_none()
            && !self.core.gc.barrier
            && logs.globals.is_empty()
            && logs.finals.is_empty()
            && logs.writes.iter().all(|w| w.obj() == first);
        simple.then_some(first)
    }

    /// The general commit (`try_commit`) for a write set of one object
    /// (`single_object_writer`): lock it, read the clock, validate the read
    /// set, write back, release with the write version. The same steps in
    /// the same order, without the lock-set scratch, sorting, or the lock
    /// log; the loom model `read_set_validation_prevents_write_skew` runs
    /// through it (each withdrawal writes one account).
    #[inline(never)]
    fn commit_one(&mut self, obj: NonNull<Header>) -> Result<(u64, bool), Conflict> {
        let tag = self.core.tag;
        // SAFETY: an object in the write log is live.
        let vl = unsafe { obj.as_ref() }.vlock();
        let w = vl.load(Ordering::SeqCst);
        if vlock::is_owned_by(w, tag) {
            return self.commit_owned();
        }
        if vlock::is_held(w) {
            if let Some(t) = vlock::owner(w) {
                self.core.owned.wants = t; // OW5
            }
            return Err(Conflict);
        }
        if vl.compare_exchange(w, vlock::locked_by(w, tag), Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return Err(Conflict);
        }
        // In the lock log from here, so a rollback releases it.
        self.core.logs.locked.push((obj, w));
        // Ordered after the lock and before validation, as in `try_commit`.
        sc_order();
        self.core.faults.hit(FaultPoint::Validate);
        let c = self.core.heap.clock.load(Ordering::SeqCst);
        let valid = c & INEVITABLE == 0
            && self.core.logs.reads.iter().all(|&(o, seen)| {
                if o == obj {
                    w == seen
                } else {
                    // SAFETY: objects in the read set are live.
                    unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst) == seen
                }
            });
        if !valid {
            Self::unlock(&mut self.core.logs); // restore: we wrote nothing
            return Err(Conflict);
        }
        let wv = (c & !INEVITABLE).max(self.maxv).max(vlock::version(w)) + 1;
        // The commit point: the steps of `finish` that have work here, in
        // its order and with its stage marks (a roll-forward finishes with
        // `finish`), inline for this hot path.
        // SAFETY: every logged write goes to `obj`, which we hold locked.
        unsafe { self.write_back_one(wv) };
        self.stage = stage::UNLOCK;
        // OW1: written by this mutator's last commit to it as well, so
        // it keeps writing it: released as owned. Never a weak cell: an
        // inevitable `upgrade` reads one inside the weak gate, and must not
        // wait there for an owner that may itself wait at the gate's entry
        // while the collector closes it.
        if vlock::tag(w) == tag && crate::owned::may_take(self.core) && !Self::is_weak_cell(obj) {
            self.core.owned.objs.push(obj);
            // Once per object taken (not per commit): a counter, Relaxed.
            self.core.heap.owned_taken.fetch_add(1, Ordering::Relaxed);
            vl.store(vlock::owned_by(wv, tag), Ordering::Release);
            // OW8: the next attempts begin with it (set once the word says so).
            self.core.owned.hint = Some((obj, vlock::owned_by(wv, tag)));
        } else {
            vl.store(vlock::stamp(wv, tag), Ordering::Release);
        }
        let logs = &mut self.core.logs;
        logs.locked.pop();
        debug_assert!(
            logs.news.is_empty() && logs.globals.is_empty() && logs.locked.is_empty(),
            "commit_one clears only the logs it used"
        );
        self.finish_one();
        Ok((wv, true))
    }

    /// `commit_one`'s and `commit_owned`'s steps of `finish` up to the
    /// write-back, with its stage marks: the remembered set (RS1, T1),
    /// then the write-back at `wv`.
    ///
    /// # Safety
    /// Every logged write goes to an object no other transaction reads or
    /// writes until this commit ends: locked by us, or owned (OW2).
    #[inline(always)]
    unsafe fn write_back_one(&mut self, wv: u64) {
        self.wv = wv;
        self.stage = stage::BARRIER;
        if self.core.gc.generational {
            self.remember();
        }
        self.stage = stage::WRITE_BACK;
        // SAFETY: field words of live objects that only we touch (the
        // caller's contract).
        unsafe { write_back(&self.core.logs.writes, &self.core.faults) };
    }

    /// `commit_one`'s and `commit_owned`'s tail of `finish`: clear the
    /// logs, apply the root drops, make the new roots permanent (no
    /// shading: the barrier is off).
    #[inline(always)]
    fn finish_one(&mut self) {
        self.stage = stage::TAIL;
        let logs = &mut self.core.logs;
        logs.clear_writes();
        logs.reads.clear();
        super::trim(&mut logs.reads); // LG1
        self.apply_root_drops();
        self.core.faults.hit(FaultPoint::RootCommit);
        self.core.roots.commit();
        self.stage = stage::DONE;
    }

    /// `commit_one` for an object this mutator owns, with a read set to
    /// validate (an empty one commits solo, OW3): read the clock, validate,
    /// write back; nothing to lock (nobody else reads or writes the object,
    /// OW2) and the word stays as it is. The write version is only recorded
    /// for the release (OW4).
    #[inline(never)]
    fn commit_owned(&mut self) -> Result<(u64, bool), Conflict> {
        sc_order();
        self.core.faults.hit(FaultPoint::Validate);
        let c = self.core.heap.clock.load(Ordering::SeqCst);
        if c & INEVITABLE != 0 || !validate(&self.core.logs.reads, self.core.tag) {
            return Err(Conflict);
        }
        let wv = (c & !INEVITABLE).max(self.maxv) + 1;
        self.core.owned.maxv = self.core.owned.maxv.max(wv);
        // SAFETY: every logged write goes to the object we own (OW2).
        unsafe { self.write_back_one(wv) };
        self.finish_one();
        Ok((wv, true))
    }

    #[inline(never)]
    fn commit_general(&mut self) -> Result<(u64, bool), Conflict> {
        // CM2, decided once per commit, here: `finish` (and a roll-forward
        // of it, which finds the new objects published and so can no longer
        // tell) reads the decision from `self.escape`.
        self.escape = self.news_may_escape();
        let logs = &self.core.logs;
        if logs.writes.is_empty() && logs.globals.is_empty() && !self.escape {
            // Read-only: every read was valid at rv, so this is its commit
            // point; its new objects, if any, stay unpublished (CM2). Its
            // new roots still need barrier (b), run by `finish`: the
            // thread's root scan may be behind it, and the path it read
            // them through may be deleted before T.
            self.finish(self.rv);
            return Ok((self.rv, false));
        }
        let wv = if self.solo {
            // Nothing to lock or validate (S2), and no version to advance:
            // no other transaction's read set spans this commit. New
            // objects are not stamped (SP1 of `header.rs`); the write-back
            // uses the read version.
            self.rv
        } else {
            self.lock_and_validate()?
        };
        self.finish(wv);
        Ok((wv, true))
    }

    /// Lock the write set, read the clock, validate the read set; the
    /// write version, or `Conflict` with every lock released.
    fn lock_and_validate(&mut self) -> Result<u64, Conflict> {
        let logs = &mut self.core.logs;
        let heap = &*self.core.heap;
        // Lock the written objects, in address order (no lock cycles). A
        // normal commit gives up on a held lock; the inevitable one waits
        // (the holder is a commit that will finish or back off).
        let mut objs = std::mem::take(&mut logs.objs);
        objs.extend(logs.writes.iter().map(Write::obj));
        objs.sort_unstable();
        objs.dedup();
        let spin = Spin::new();
        let mut failed = false;
        for &o in &objs {
            // SAFETY: objects in the write log are live.
            let vl = unsafe { o.as_ref() }.vlock();
            // Whether this object's owner has been asked (OW5).
            let mut raised = false;
            loop {
                let w = vl.load(Ordering::SeqCst);
                if vlock::is_owned_by(w, self.core.tag) {
                    break; // ours: nobody else reads or writes it (OW2)
                }
                if !vlock::is_held(w)
                    && vl
                        .compare_exchange(w, vlock::locked_by(w, self.core.tag), Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    logs.locked.push((o, w));
                    break;
                }
                let owner = vlock::owner(w);
                if !self.inevitable {
                    if let Some(t) = owner {
                        self.core.owned.wants = t; // OW5
                    }
                    failed = true;
                    break;
                }
                if let Some(t) = owner {
                    crate::owned::ask_running(heap, t, &mut raised); // OW5
                }
                spin.snooze();
            }
            if failed {
                break;
            }
        }
        objs.clear();
        logs.objs = objs;
        if failed {
            Self::unlock(logs);
            return Err(Conflict);
        }
        // The lazy clock: read, not bumped (module docs). Ordered after the
        // locks (a reader whose read version covers our write version must
        // see them) and before validation (of two commits that each read
        // what the other writes, the second sees the first's locks).
        sc_order();
        self.core.faults.hit(FaultPoint::Validate);
        let c = heap.clock.load(Ordering::SeqCst);
        if c & INEVITABLE != 0 && !self.inevitable {
            // An inevitable transaction runs: no other commit may land.
            Self::unlock(logs);
            return Err(Conflict);
        }
        if !self.inevitable && !validate_locked(&logs.reads, &logs.locked, self.core.tag) {
            Self::unlock(logs);
            return Err(Conflict);
        }
        // Past the clock and every version read or overwritten, so each
        // object's version grows with each write (no ABA), and a reader
        // that depends on us depends on a larger version.
        let mut wv = (c & !INEVITABLE).max(self.maxv);
        for &(_, w) in &logs.locked {
            wv = wv.max(vlock::version(w));
        }
        // OW4: owned objects it wrote take no version now; their release will.
        let owned = &mut self.core.owned;
        owned.maxv = owned.maxv.max(wv + 1);
        Ok(wv + 1)
    }

    /// Everything after the commit point, from the step `stage` names (the
    /// first, on a normal commit; the interrupted one, when `Tx`'s
    /// destructor rolls a commit forward). Each step records itself in
    /// `stage` before it begins and can run again from its start (CM1).
    pub(super) fn finish(&mut self, wv: u64) {
        self.wv = wv;
        // CM2, decided by `commit_general` before the commit point (false
        // on the other paths, which allocate nothing): if none of the new
        // objects can escape, they are garbage from here on.
        let escape = self.escape;
        if self.stage <= stage::GLOBALS {
            // NL1: the steps up to GLOBALS read the list; a commit that
            // gives its new objects back counts them before its rewind.
            // Before the first stage mark of a commit: a panic here (out
            // of memory, or the check failing) rolls back, which is sound
            // as nothing is published yet; a roll-forward lists again.
            if escape && self.lists_news() {
                self.list_news();
                self.allocated = self.core.logs.news.len();
            } else if let Some(ck) = &self.ck {
                // CM3's give-back, or NL2's stream: counted, not listed.
                self.allocated = self.core.alloc.count_since(ck).expect("the attempt's own checkpoint");
                #[cfg(debug_assertions)]
                debug_assert_eq!(self.allocated, self.allocated_check, "NL1: the allocator counts every new object");
            }
        }
        if self.stage <= stage::BARRIER {
            // A roll-forward finds the barrier begun (CM1).
            let again = self.stage == stage::BARRIER;
            self.stage = stage::BARRIER;
            let core = &*self.core;
            // New objects that cannot escape (CM2) need no barrier: the
            // commit gives them back (CM3).
            // (`escape` implies new objects: `news_may_escape`.)
            let read_only = core.logs.writes.is_empty() && !escape && core.logs.globals.is_empty();
            if core.gc.barrier {
                if read_only {
                    // Barrier (b) only. Not once marking has closed in
                    // generational mode: a mark now would promote an object
                    // nobody traces (T3), and the roots are scanned at the
                    // next REQ answer anyway.
                    if !self.closed() {
                        shade_created_roots(self.core);
                    }
                } else {
                    // GC work at a commit point: timed as a pause (only
                    // while the barrier is on, so the clock reads cost
                    // nothing otherwise).
                    let clock = PauseClock::start();
                    // A second run (a roll-forward) finds the survivors
                    // marked (SV4) and logs them without `Trace` code.
                    self.commit_barrier(again, escape);
                    self.core.gc.record_pause(&clock, std::time::Duration::ZERO);
                }
            } else if core.gc.generational && !core.logs.writes.is_empty() {
                self.remember(); // mode R (RS1)
            }
        }
        self.publish(wv, escape);
        self.stage = stage::TAIL;
        if self.core.gc.grey.len() >= crate::collector::mark::GREY_PACKET {
            // Published: the marker may trace what the barrier shaded (M3).
            self.hand_over_grey();
        }
        if self.inevitable && !self.solo {
            self.heap().release_inevitable();
            self.inevitable = false; // released once (CM1)
        }
        if !escape {
            if let Some(ck) = &self.ck {
                // CM3: none of the new objects can be reached from here on
                // (CM2), so their memory is given back now, as an abort
                // would: destructors run, then the allocator rewinds to
                // the attempt's checkpoint. The checkpoint stays in `ck`
                // until it is released below, so a roll-forward after a
                // panic here still releases it (A4: an open checkpoint
                // keeps every block owned); the destructors run once
                // (`drop_news` takes the news first), and a second rewind
                // to the same checkpoint, with nothing allocated since,
                // changes nothing.
                reclaim_news(self.core, ck, std::mem::take(&mut self.drop_news));
                self.core.alloc.rewind(ck).expect("the attempt's own checkpoint");
            }
        }
        if let Some(ck) = self.ck.take() {
            self.core.alloc.release(ck).expect("the attempt's own checkpoint");
        }
        self.apply_root_drops();
        self.core.faults.hit(FaultPoint::RootCommit);
        self.core.roots.commit();
        if !self.core.logs.finals.is_empty() {
            // Committed: the registrations exist from now on (F4: their
            // objects were reachable by this transaction).
            self.core.heap.collector.finals.register(&mut self.core.logs.finals);
        }
        self.core.logs.clear();
        self.stage = stage::DONE;
    }

    /// Objects this committed transaction allocated (for `TxCounts`).
    #[inline]
    pub(crate) fn allocated(&self) -> usize {
        self.allocated
    }

    /// Of those, the ones its commit gave back (CM3), for `TxCounts`.
    #[inline]
    pub(crate) fn given_back(&self) -> usize {
        if self.escape {
            0
        } else {
            self.allocated
        }
    }

    /// `Tx`'s destructor, for a commit past its commit point that a panic
    /// interrupted: finish it (FT2 of `crate::fault`).
    #[cold]
    pub(super) fn roll_forward(&mut self) {
        debug_assert!(self.stage > stage::OPEN && self.stage < stage::DONE);
        self.finish(self.wv);
    }

    /// Steps STAMP to GLOBALS of a commit, from the one `stage` names,
    /// with the write set locked (or in solo mode): new objects stamped
    /// with `wv` and published (unless none can `escape`: CM2), the logged
    /// words written back, the locks released with `wv`, the global roots
    /// set, new weak cells registered.
    fn publish(&mut self, wv: u64, escape: bool) {
        // Tests only: a commit held between its barrier and its write-back.
        #[cfg(all(test, not(tmgc_loom)))]
        crate::collector::trap_tests::before_write_back();
        let tag = self.core.tag;
        let solo = self.solo;
        let listed = escape && self.lists_news();
        let logs = &mut self.core.logs;
        if self.stage <= stage::STAMP {
            self.stage = stage::STAMP;
            // Publish new objects: stamped with wv (a transaction older than
            // wv that reaches one through a global root conflicts), then NEW
            // cleared with Release, before any reference to them is written
            // back. A solo commit does not stamp (SP1 of `header.rs`): no
            // transaction overlaps it, and leaving the side slot untouched
            // keeps its page out of memory (8 bytes an object).
            let stamp = |h: NonNull<Header>| {
                // SAFETY: our own live new objects.
                let h = unsafe { h.as_ref() };
                if !solo {
                    h.vlock().store(vlock::stamp(wv, tag), Ordering::Relaxed);
                }
                h.clear_new();
            };
            if listed {
                // The decision `finish` took (NL2): a list not built would
                // leave every new object unpublished, silently.
                assert_eq!(logs.news.len(), self.allocated, "NL2: the commit listed its new objects");
                logs.news.iter().copied().for_each(stamp);
            } else if escape {
                // NL2: not listed; the allocator's record in place.
                let ck = self.ck.as_ref().expect("new objects to publish, so a checkpoint (NL1)");
                let mut stamped = 0usize;
                self.core
                    .alloc
                    .allocated_since(ck, |p| {
                        stamp(p.cast());
                        stamped += 1;
                    })
                    .expect("the attempt's own checkpoint");
                debug_assert_eq!(stamped, self.allocated, "NL2: the stream stamps every new object once");
            }
        }
        if self.stage <= stage::WRITE_BACK {
            self.stage = stage::WRITE_BACK;
            // SAFETY: field words of live objects we hold locked (or, in
            // solo mode, that no other transaction writes).
            unsafe { write_back(&logs.writes, &self.core.faults) };
        }
        if self.stage <= stage::UNLOCK {
            self.stage = stage::UNLOCK;
            // Released from the end, each leaving the log once stamped
            // (CM1: a roll-forward finds the ones still held).
            while let Some(&(o, _)) = logs.locked.last() {
                // SAFETY: live objects we hold locked.
                unsafe { o.as_ref() }.vlock().store(vlock::stamp(wv, tag), Ordering::Release);
                logs.locked.pop();
            }
        }
        if self.stage <= stage::GLOBALS {
            self.stage = stage::GLOBALS;
            for &(slot, h) in &logs.globals {
                // False (nothing set) if every handle was dropped already.
                self.core.heap.globals.set(slot, h.cast());
            }
            if self.weak_news {
                let weak = |h: &NonNull<Header>| {
                    // SAFETY: our own objects, live and just published.
                    unsafe { h.as_ref() }.flags().contains(ObjFlags::WEAK)
                };
                // Published: the collector clears them from its next walk on
                // (collector/weak_gate.rs, the registry). After the unlock,
                // so a walk in progress holds up no lock of ours. A cell
                // registered after a walk was published with the barrier on
                // (marked) or after this thread answered SWEEP (in a swept
                // block): the registry's argument covers both.
                self.core.heap.collector.weak_cells.register(logs.news.iter().copied().filter(weak));
            }
        }
    }

    /// The commit barrier while the collector marks (docs/COLLECTOR.md, P2),
    /// run after validation, with the write set locked, before write-back:
    /// (a) shade the old value of every reference field about to be
    /// overwritten (snapshot at the beginning: a deleted edge cannot hide an
    /// object the marker has not reached); (b) shade the objects of the
    /// roots this transaction created and of the global roots it sets;
    /// (c) if this transaction began before this thread observed MARK,
    /// shade every object it publishes. Only 0 -> 1 marks push (M1), into
    /// this thread's buffer, handed over at a commit point.
    ///
    /// A transaction that began after its thread observed MARK first marks
    /// its survivors (P4, `collector/survivors.rs`): the new objects
    /// reachable from what it publishes, black, traced here, pushed
    /// nowhere, so a churning heap does not keep termination rounds
    /// finding "new" marks forever (trap 9). Its other new objects are
    /// garbage, and this cycle's sweep frees them (but a small commit that
    /// publishes one marks them all: SV5).
    ///
    /// Generational mode adds two rules. Until marking closes, a reference
    /// to an unmarked object stored into a marked holder is shaded (T2 of
    /// the generations review: between this thread's REQ answer and T, an
    /// old holder may receive the only reference to a young object whose
    /// other path a thread still in mode R deletes unbarriered). Once
    /// marking has closed for this cycle (`Collector::closed`), the commit
    /// marks nothing but its survivors (a late mark would promote an object
    /// nobody traces: T3) and logs as in mode R, its survivors included
    /// (RS1, RS6 of `collector/remset.rs`).
    ///
    /// `escape`: whether any new object can leave the transaction (CM2);
    /// if not, none is walked or shaded.
    #[cold]
    fn commit_barrier(&mut self, again: bool, escape: bool) {
        let survivors = if self.core.gc.survivors && escape { self.mark_survivors(again) } else { 0 };
        if self.closed() {
            let core = &mut *self.core;
            debug_assert!(
                core.gc.survivors,
                "a transaction committing after marking closed began after its thread's MARK answer"
            );
            // SAFETY: validated, write set locked, not written back (the
            // caller); new objects initialised, not yet published, their
            // survivors marked.
            unsafe {
                remset::remember(&core.logs.writes, &mut core.gc.remset);
                // RS6 looks only at survivors. A second run (a roll-forward,
                // whose walk marks none) logs every marked one with
                // references: no `Trace` code runs while a panic unwinds.
                // Never for news a CM3 commit gives back (`escape` false):
                // the remembered set must not keep their addresses (RS5).
                if escape && (survivors > 0 || again) {
                    remset::remember_survivors(&core.logs.news, &mut core.gc.remset, again);
                }
            }
            return;
        }
        let core = &mut *self.core;
        shade_created_roots(core);
        core.faults.hit(FaultPoint::Barrier);
        let grey = &mut core.gc.grey;
        for w in &core.logs.writes {
            if let Write::Ptr { word, obj, .. } = *w {
                // SAFETY: a live object we hold locked.
                if unsafe { obj.as_ref() }.flags().contains(ObjFlags::WEAK) {
                    // A weak cell's old referent is not part of the snapshot:
                    // only strong references keep objects alive.
                    continue;
                }
                // SAFETY: a field word of a live object we hold locked.
                let old = unsafe { (*word).load(Ordering::Acquire) };
                // A reference slot, a `Ref` field, or a tagged word (whose
                // immediates decode to no reference: TG2 of `tagged`).
                if let Some(old) = crate::tagged::decode_ref(old) {
                    // SAFETY: a published reference field holds null or a
                    // live object; nothing is swept while the barrier is on.
                    unsafe { shade(old, grey) };
                }
            }
        }
        for &(_, h) in &core.logs.globals {
            // SAFETY: as above.
            unsafe { shade(h, grey) };
        }
        // (e) A transaction that began before its thread observed MARK may
        // validate before T and write back after it: a path it read can
        // then be deleted before T by a thread still without its barrier,
        // and the reference it stores would land in an object the marker
        // has already traced. So every reference it stores is shaded (an
        // insertion barrier for these commits only; found by review).
        // Transactions begun after MARK read the heap after T, which (I2)
        // covers, and their new objects are marked by their walk (P4).
        // T2 (generational mode): a young value stored into an old (marked)
        // holder is shaded, by transactions begun after MARK too.
        let before_mark = !core.gc.survivors;
        if before_mark || core.gc.generational {
            for w in &core.logs.writes {
                let Write::Ptr { obj, value, .. } = *w else { continue };
                let Some(v) = crate::tagged::decode_ref(value) else { continue };
                // SAFETY: `obj` is a live object we hold locked.
                let holder = unsafe { obj.as_ref() };
                let strong = !holder.flags().contains(ObjFlags::WEAK);
                // SAFETY: as above.
                if strong && (before_mark || unsafe { tmgc_alloc::is_marked(obj.cast()) }) {
                    // `v` is our own new object (initialised, published with
                    // this commit, as (c) shades them) or a live object this
                    // transaction reached and validated.
                    // SAFETY: so live; nothing is swept while the barrier is on.
                    unsafe { shade(v, grey) };
                }
            }
        }
        if before_mark && !core.gc.generational && escape {
            // (c): every new object it publishes. In generational mode (e)
            // covers their entry points instead (a new object becomes
            // reachable only through a logged store, a root or a global
            // root, shaded by (b), or through another new object reachable
            // so); shading every new object would promote the garbage a
            // transaction publishes unreferenced: a whole binary tree per
            // commit that spans a cycle's start.
            for &h in &core.logs.news {
                // SAFETY: our own new objects, initialised, about to be published.
                unsafe { shade(h, grey) };
            }
        }
    }

    /// Hand the barrier's full grey buffer to the markers now, not at the
    /// next handshake: a buffer left to grow over a long marking phase was
    /// reallocated and copied inside a commit's pause (megabytes on a 1 GiB
    /// heap).
    #[cold]
    #[inline(never)]
    fn hand_over_grey(&mut self) {
        let gc = &mut self.core.gc;
        let full = std::mem::replace(&mut gc.grey, Vec::with_capacity(crate::collector::mark::GREY_PACKET));
        self.core.heap.collector.grey.push_packet(full);
    }

    /// Whether any new object of this attempt can leave it: it allocated a
    /// weak cell (registered at commit), or one of SV1's ways out
    /// (`collector/survivors.rs`, `escape_starts`) hands out one of its
    /// new objects. A new object reachable from an older one was stored
    /// there by a logged write, itself a way out, so no other start
    /// matters. If none can, the commit publishes none of them (CM2).
    #[inline]
    fn news_may_escape(&self) -> bool {
        // No checkpoint, no new object (NL1); with one, a weak cell or a
        // start with `NEW` set is a new object.
        self.ck.is_some() && (self.weak_news || escape_starts(&self.core.logs, &self.core.roots).any(Self::is_new))
    }

    /// NL2: whether a commit that publishes its new objects lists them
    /// (something reads the list), or stamps them from the allocator's
    /// record in place.
    #[inline]
    fn lists_news(&self) -> bool {
        self.core.gc.barrier || self.weak_news
    }

    /// NL1: list the attempt's new objects in `logs.news`, from the
    /// allocator's record since the attempt's checkpoint. Idempotent.
    fn list_news(&mut self) {
        let core = &mut *self.core;
        core.logs.news.clear();
        if let Some(ck) = &self.ck {
            list_news(core, ck);
        }
        #[cfg(debug_assertions)]
        debug_assert_eq!(core.logs.news.len(), self.allocated_check, "NL1: the allocator lists every new object once");
    }

    /// P4: mark the new objects this commit publishes reachable (SV1 of
    /// `collector/survivors.rs`), from every way out of the transaction,
    /// or all of them if the commit is small (SV5) or this thread's large
    /// commits' news have been surviving (SV6). Returns how many it marked.
    /// `again`: a roll-forward's second run, which finds them marked and
    /// so measures nothing for SV6.
    fn mark_survivors(&mut self, again: bool) -> u64 {
        let core = &mut *self.core;
        let logs = &core.logs;
        let news = logs.news.len();
        // SV5 and SV6 hold outside generational mode only, where a mark
        // lasts one cycle.
        let adaptive = !core.gc.generational;
        let all = adaptive && (news <= survivors::SMALL_COMMIT || core.gc.survival.take_mark_all());
        let starts = escape_starts(logs, &core.roots);
        // SAFETY: called from the commit barrier (validated, write set
        // locked, nothing published), this thread past its MARK answer;
        // every start is a reference this transaction holds (SV1).
        let marked = unsafe {
            survivors::mark_survivors(starts, &logs.news, self.weak_news, all, &mut core.gc.walk, &core.faults)
        };
        if adaptive && !all && !again {
            core.gc.survival.walked(news, marked);
        }
        marked
    }

    /// Generational mode, barrier on, and marking closed for this
    /// thread's cycle (`Collector::closed`): the commit marks nothing but
    /// its survivors and logs as in mode R (T3, T4). Read after validation
    /// (SeqCst), so a commit that can see a white object of a thread past
    /// its SWEEP answer sees the close too.
    fn closed(&self) -> bool {
        self.core.gc.generational
            && self.core.heap.collector.closed.load(Ordering::SeqCst) == self.core.gc.barrier_epoch
    }

    /// RS1 (mode R) for this commit's write log: log its old holders of
    /// young references. Cold: only generational heaps with reference
    /// writes get here.
    #[cold]
    #[inline(never)]
    fn remember(&mut self) {
        let core = &mut *self.core;
        // SAFETY: every caller has validated (or runs solo) and holds the
        // written objects locked, before write-back.
        unsafe { remset::remember(&core.logs.writes, &mut core.gc.remset) };
    }

    fn unlock(logs: &mut Logs) {
        for (o, w) in logs.locked.drain(..) {
            // SAFETY: live objects we locked; restore their word.
            unsafe { o.as_ref() }.vlock().store(w, Ordering::Release);
        }
    }

    /// Roll the attempt back (also on panic, from `Drop`).
    /// Roll the attempt back; returns the tag of an owner it met (OW5 of
    /// `owned`), 0 if none, for the caller to ask once parked.
    pub(crate) fn abort(mut self) -> u32 {
        let wants = self.core.owned.wants;
        self.rollback(); // clears it
        wants
    }

    #[inline(never)]
    pub(super) fn rollback(&mut self) {
        if self.stage == stage::DONE {
            return;
        }
        debug_assert_eq!(self.stage, stage::OPEN, "a rollback past the commit point");
        self.stage = stage::DONE;
        // The owner this attempt met (`abort` read it before this): not
        // carried to a later attempt's ask (after a panic's rollback, say).
        self.core.owned.wants = 0;
        Self::unlock(&mut self.core.logs);
        if self.inevitable && !self.solo {
            self.heap().release_inevitable();
        }
        // Destructors of the values this attempt moved into the heap, as
        // GC work (W0, inside `drop_news`), as the sweep and a CM3 commit
        // run them: a destructor cannot re-enter a heap, whichever of the
        // three runs it.
        let (panic, _) = drop_news(self.core, self.ck.as_ref(), std::mem::take(&mut self.drop_news));
        if let Some(ck) = self.ck.take() {
            self.core.alloc.rewind(&ck).expect("the attempt's own checkpoint");
            self.core.alloc.release(ck).expect("the attempt's own checkpoint");
        }
        self.apply_root_drops();
        self.core.roots.abort();
        for &(slot, _) in &self.core.logs.globals {
            self.core.heap.globals.release(slot);
        }
        self.core.logs.clear();
        if let Some(p) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

/// CM3: run the destructors of the new objects a commit gives back, as
/// the sweep would have run them, only sooner: as GC work (W0: a
/// destructor cannot re-enter the heap), a panic caught and counted
/// (`GcStats::destructor_panics`), the commit unaffected. `with_drops`:
/// some new object has a destructor (`Tx::drop_news`).
fn reclaim_news(core: &mut MutatorState, ck: &Checkpoint, with_drops: bool) {
    let (_, panics) = drop_news(core, Some(ck), with_drops);
    if panics > 0 {
        core.heap.destructor_panics.fetch_add(panics, Ordering::Relaxed);
    }
}

/// Run the destructors of an attempt's new objects, which a rewind to
/// `ck`, the attempt's checkpoint, is about to give back (an abort, or
/// CM3's commit), and empty the news log. A destructor that panics must
/// not stop this half-way (a later rollback or roll-forward would drop the
/// same values again): the rest run; the first panic is returned, with the
/// number of panics. Lists and reads the new objects only if `with_drops`
/// (some new object has a destructor: `Tx::drop_news`; the caller takes
/// the flag, so a second call runs none). The destructors run as GC work
/// (W0), entered here once there is something to do.
fn drop_news(
    core: &mut MutatorState,
    ck: Option<&Checkpoint>,
    with_drops: bool,
) -> (Option<Box<dyn std::any::Any + Send>>, u64) {
    if !with_drops && core.logs.news.is_empty() {
        // Nothing to run and nothing to empty (`Logs::clear` trims the
        // buffer, LG1): most attempts that give their objects back.
        return (None, 0);
    }
    let _work = crate::gcwork::GcWork::enter();
    if with_drops {
        if let Some(ck) = ck {
            core.logs.news.clear();
            list_news(core, ck); // NL1
        }
    }
    let mut news = std::mem::take(&mut core.logs.news);
    let (mut panic, mut panics) = (None, 0);
    if with_drops {
        for &h in &news {
            let run = || {
                // Our own new objects, initialised by `alloc` (the header is
                // written before the object is logged; a dynamic payload is
                // zeroed), about to be rewound; the list was taken, so no
                // later rollback or roll-forward sees them again.
                // SAFETY: so each payload is live and dropped exactly once.
                unsafe {
                    let info = h.as_ref().type_info();
                    if info.flags().contains(ObjFlags::HAS_DROP) {
                        info.drop_payload(Header::payload(h));
                    }
                }
            };
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                panic.get_or_insert(p);
                panics += 1;
            }
        }
    }
    news.clear();
    super::trim(&mut news); // LG1
    core.logs.news = news; // keep the buffer's memory
    (panic, panics)
}

/// Append to `logs.news` every object allocated since `ck`, the attempt's
/// own open checkpoint: its new objects (NL1).
fn list_news(core: &mut MutatorState, ck: &Checkpoint) {
    let news = &mut core.logs.news;
    core.alloc.allocated_since(ck, |p| news.push(p.cast())).expect("the attempt's own checkpoint");
}

/// Whether every object in a read set still has the word it was read with
/// (or that word locked by this mutator's own commit). `SeqCst` loads: see
/// the module docs.
pub(super) fn validate(reads: &[(NonNull<Header>, u64)], tag: u32) -> bool {
    reads.iter().all(|&(o, seen)| {
        // SAFETY: objects in the read set are live.
        let w = unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst);
        w == seen || w == vlock::locked_by(seen, tag)
    })
}

/// [`validate`] at commit, with the write set locked: an object we locked
/// is checked against the word our lock CAS replaced (no load, and no
/// wait behind the CAS); others are loaded. Large write sets fall back to
/// loading every word (our lock leaves the version in place).
fn validate_locked(reads: &[(NonNull<Header>, u64)], locked: &[(NonNull<Header>, u64)], tag: u32) -> bool {
    if locked.len() > 4 {
        return validate(reads, tag);
    }
    reads.iter().all(|&(o, seen)| match locked.iter().find(|&&(l, _)| l == o) {
        Some(&(_, was)) => was == seen,
        // SAFETY: objects in the read set are live.
        None => unsafe { o.as_ref() }.vlock().load(Ordering::SeqCst) == seen,
    })
}

/// Barrier (b) for the roots the running transaction created: shade their
/// objects. Every commit with the barrier on runs it, read-only ones too
/// (a read-only transaction may root an object whose last heap path another
/// thread deletes before T).
/// SV1's ways out of a transaction (`collector/survivors.rs`), as the
/// references they hand out: the values of its logged reference writes,
/// the objects of the roots it created and of the global roots it sets,
/// and the objects it registers finalizers or cleanups for. (Its new weak
/// cells, registered at commit, are the other way out.)
fn escape_starts<'a>(logs: &'a Logs, roots: &'a tmgc_roots::RootTable) -> impl Iterator<Item = NonNull<Header>> + 'a {
    let stored = logs.writes.iter().filter_map(|w| match *w {
        Write::Ptr { value, .. } => crate::tagged::decode_ref(value),
        Write::Word { .. } => None,
    });
    let rooted = roots.created().map(NonNull::cast);
    let globals = logs.globals.iter().map(|&(_, h)| h);
    let finalized = logs.finals.iter().map(|e| e.obj);
    stored.chain(rooted).chain(globals).chain(finalized)
}

fn shade_created_roots(core: &mut MutatorState) {
    for r in core.roots.created() {
        // SAFETY: this transaction reached the object, it was valid at its
        // read version, and nothing is swept while the barrier is on.
        unsafe { shade(r.cast(), &mut core.gc.grey) };
    }
}

/// Store every logged write into its word (Release: a reader that sees a
/// new value sees everything the commit published before it).
///
/// # Safety
/// Each write's word is a field word of a live object, and no other
/// transaction writes these objects until the caller is done: it holds
/// their version locks, or runs in solo mode.
#[inline]
unsafe fn write_back(writes: &[Write], faults: &crate::fault::Faults) {
    for (i, w) in writes.iter().enumerate() {
        if i == 1 || writes.len() == 1 {
            faults.hit(FaultPoint::WriteBack); // after the first word (FT2)
        }
        match *w {
            // SAFETY: a live field word (the caller's guarantee).
            Write::Word { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
            // SAFETY: as above.
            Write::Ptr { word, value, .. } => unsafe { (*word).store(value, Ordering::Release) },
        }
    }
}
