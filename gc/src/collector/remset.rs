//! The remembered set of generational mode: old objects that may hold
//! references to young ones, recorded by the commit that stores them, so a
//! young cycle traces from the roots plus these holders instead of from
//! every old object. docs/COLLECTOR.md, "Generations", has the argument;
//! generations-review.md (shared) the traps it answers (T1-T14).
//!
//! *Old* means marked: a young cycle leaves its marks in place (sticky
//! mark bits) and only a full cycle clears them, at its start (G3).
//!
//! ## Invariants
//! - (RS1) **Mode R.** A commit whose thread's barrier is off (before its
//!   REQ answer, or after its SWEEP answer), or on but with marking closed
//!   for its cycle (`Collector::closed`, T3), runs [`remember`] on its
//!   write log after validation and before write-back, in all three commit
//!   paths (the inlined solo commit, `commit_one`, `publish`; T1): each
//!   reference store with a non-null value into a non-`WEAK` holder that
//!   is marked, of a value that is not, logs the holder. It never marks.
//! - (RS2) **Dedupe.** A holder is logged only by the call that sets its
//!   `LOGGED` bit (`Header::try_log`), so a loop storing young objects into
//!   one old object logs it once per cycle (T6). The bit is set after
//!   validation (an aborted attempt logs nothing) and cleared only when the
//!   collector takes the entry at T, before it traces the holder.
//! - (RS3) **Hand-over.** A thread's entries stay in its own `remset`
//!   (never in the grey machinery, whose packets are dropped at SWEEP
//!   answers and at P0: T5) and move to the collector's `RemsetIn` at the
//!   thread's REQ answer (by the thread, or by the collector under its
//!   `handoff` while it is parked) and at detach.
//! - (RS4) **Consumption at T.** With every thread's REQ answer in, the
//!   collector takes `RemsetIn`: for each holder it clears `LOGGED`, then
//!   (young cycle) pushes the holder grey so the marker traces its fields,
//!   or (full cycle) drops the entry: a full cycle traces everything. No
//!   thread is in mode R between the REQ answers and its SWEEP answer, so
//!   no commit tests a bit while it is being cleared.
//! - (RS5) **Entries are live.** Every entry names an object marked in the
//!   latest cycle that reached its SWEEP: logged holders are marked, marks
//!   are cleared only at a full cycle's start, and that cycle's T drops
//!   every entry logged before it. So a holder is never freed while its
//!   entry waits, and tracing it reads a live object.
//! - (RS6) **Survivors when marking closed.** A commit in a closed
//!   cycle that publishes survivors (new objects it marks: P4,
//!   `survivors.rs`) logs each one that holds a reference to an unmarked
//!   object: they are marked (old) from now on, and their fields were
//!   written in place, unlogged, perhaps with a young object a thread that
//!   already answered SWEEP allocated (T4). One whose references are all marked needs no entry: a later
//!   change to its fields is a logged write (RS1).

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::mark::Grey;
use crate::flags::ObjFlags;
use crate::header::Header;
use crate::sync::{lock, Mutex};
use crate::trace::Tracer;
use crate::tx::Write;

/// Whether `obj` is marked (old, between cycles).
///
/// # Safety
/// `obj` is a live heap object.
#[inline]
unsafe fn marked(obj: NonNull<Header>) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { tmgc_alloc::is_marked(obj.cast()) }
}

/// RS1 for one commit's write log: log every marked non-`WEAK` holder that
/// receives a reference to an unmarked object. Returns how many holders it
/// logged.
///
/// # Safety
/// The commit has validated and holds every written object locked (or
/// runs in solo mode), and has not written back yet: every holder and
/// every new value is a live object.
pub(crate) unsafe fn remember(writes: &[Write], remset: &mut Vec<Grey>) -> usize {
    let mut logged = 0;
    for w in writes {
        let Write::Ptr { obj, value, .. } = *w else { continue };
        // A reference slot, a `Ref` field, or a tagged word (whose
        // immediates hold no reference: TG2 of `tagged`).
        let Some(v) = crate::tagged::decode_ref(value) else { continue };
        // SAFETY: a live object of the write log (the caller's guarantee).
        let h = unsafe { obj.as_ref() };
        if h.flags().contains(ObjFlags::WEAK) {
            continue; // a weak cell's referent is not a strong edge (T9)
        }
        // SAFETY: both live (the caller's guarantee).
        if unsafe { marked(obj) && !marked(v) } && h.try_log() {
            remset.push(Grey(obj));
            logged += 1;
        }
    }
    logged
}

/// RS6: log the survivors a commit publishes after marking closed (its
/// new objects it marked: `collector/survivors.rs`) that hold a reference
/// to an unmarked object. (Logging every survivor with reference fields is
/// also correct, but a transaction that builds a large structure across a
/// cycle's close, pointing only at itself, then logged half a million
/// objects for the next T to trace: binary-trees, depth 18.) Its other new
/// objects are unmarked: garbage that this cycle's sweep frees, never
/// logged (RS5). Survivors reach only survivors among the new objects, so
/// references among them count as marked.
///
/// `conservative` (a roll-forward's second run, while a panic unwinds):
/// log every survivor with references, running no `Trace` code. A
/// `Trace` that panics here gets the same treatment before its panic goes
/// on.
///
/// # Safety
/// `news` are the committing transaction's own new objects, initialised,
/// not yet published, with its survivors marked.
pub(crate) unsafe fn remember_survivors(news: &[NonNull<Header>], remset: &mut Vec<Grey>, conservative: bool) {
    /// Finds whether any reference it visits is unmarked.
    struct AnyYoung(bool);
    impl crate::trace::Visitor for AnyYoung {
        fn visit(&mut self, obj: NonNull<Header>) {
            // SAFETY: a reference held by a live object of the committing
            // transaction: live (it read it, validated, or allocated it).
            self.0 |= !unsafe { marked(obj) };
        }
    }
    if !conservative {
        // A `Trace` that panics: log every survivor without looking, then
        // the panic goes on (the commit rolls forward: FT2).
        crate::gcwork::trace_at_commit(
            remset,
            |remset| {
                for &h in news {
                    // SAFETY: our own live new objects (the caller's guarantee).
                    if !unsafe { survivor_with_refs(h) } {
                        continue;
                    }
                    let mut young = AnyYoung(false);
                    // SAFETY: as above: an initialised payload of its type,
                    // private to this thread until the commit publishes it.
                    unsafe { h.as_ref().type_info().trace(Header::payload(h), &mut Tracer::new(&mut young)) };
                    if young.0 {
                        // SAFETY: as above.
                        unsafe { log_survivor(h, remset) };
                    }
                }
            },
            // SAFETY: the caller's guarantee.
            |remset| unsafe { log_every_survivor(news, remset) },
        );
        return;
    }
    // SAFETY: the caller's guarantee.
    unsafe { log_every_survivor(news, remset) };
}

/// A survivor (marked) that can hold references (not a weak cell).
///
/// # Safety
/// `h` is the committing transaction's own live new object.
unsafe fn survivor_with_refs(h: NonNull<Header>) -> bool {
    // SAFETY: forwarded from the caller.
    let hdr = unsafe { h.as_ref() };
    // SAFETY: as above.
    hdr.type_info().has_refs() && !hdr.flags().contains(ObjFlags::WEAK) && unsafe { marked(h) }
}

/// Log `h` unless it is logged already (RS2).
///
/// # Safety
/// `h` is the committing transaction's own live new object.
unsafe fn log_survivor(h: NonNull<Header>, remset: &mut Vec<Grey>) {
    // SAFETY: forwarded from the caller.
    if unsafe { h.as_ref() }.try_log() {
        remset.push(Grey(h));
    }
}

/// RS6 without running `Trace` code: log every survivor with references
/// (correct, only more to trace at the next T).
///
/// # Safety
/// As for [`remember_survivors`].
unsafe fn log_every_survivor(news: &[NonNull<Header>], remset: &mut Vec<Grey>) {
    for &h in news {
        // SAFETY: the caller's guarantee.
        if unsafe { survivor_with_refs(h) } {
            // SAFETY: as above.
            unsafe { log_survivor(h, remset) };
        }
    }
}

/// The collector's side: entries handed over (RS3), taken at T (RS4).
#[derive(Default)]
pub(crate) struct RemsetIn {
    entries: Mutex<Vec<Grey>>,
    /// Entries taken over the heap's life (a statistic).
    taken: std::sync::atomic::AtomicU64,
}

impl RemsetIn {
    /// Hand over a thread's entries (RS3). Never called while the caller
    /// holds this set's lock across a handshake wait.
    pub(crate) fn hand_over(&self, remset: &mut Vec<Grey>) {
        if remset.is_empty() {
            return;
        }
        let mut e = lock(&self.entries);
        if e.is_empty() {
            std::mem::swap(&mut *e, remset);
        } else {
            e.append(remset);
        }
    }

    /// RS4, at T: take every entry and clear its `LOGGED` bit. Returns the
    /// holders to trace (young cycle) or nothing (full cycle), and how
    /// many entries there were.
    pub(crate) fn take(&self, young: bool) -> (Vec<Grey>, usize) {
        let entries = std::mem::take(&mut *lock(&self.entries));
        let n = entries.len();
        self.taken.fetch_add(n as u64, Ordering::Relaxed);
        for g in &entries {
            // SAFETY: RS5: every entry is a live object.
            let h = unsafe { g.0.as_ref() };
            h.clear_logged();
            // SAFETY: live (RS5).
            debug_assert!(!young || unsafe { marked(g.0) }, "RS5: a remembered holder is old");
        }
        if young {
            (entries, n)
        } else {
            (Vec::new(), n)
        }
    }
}
