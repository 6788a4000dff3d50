//! Marking a transaction's survivors at its commit (P4 of
//! docs/COLLECTOR.md).
//!
//! A transaction allocates white, always. While its thread is between its
//! MARK answer and its SWEEP answer (after T), its commit marks, before it
//! publishes anything, exactly the new objects that leave the transaction
//! reachable: those reachable from what the commit hands to the rest of the
//! program, through its own new objects. The rest of its new objects die
//! with it and this cycle's sweep frees them (but see SV5 and SV6: a small
//! commit that publishes, and a large one of a thread whose large commits'
//! news have been surviving, mark them all). (Allocating black, as tmgc
//! did before, kept every object of every transaction that ran during
//! marking until the next cycle: a binary-trees transaction's whole tree.)
//!
//! ## Invariants
//! - (SV1) **Escapes.** A new object leaves its transaction only through
//!   the commit: the value of a logged reference write (into any holder,
//!   weak cells included), a root it created, a global root it sets, an
//!   object it registers a finalizer or cleanup for, a weak cell it
//!   allocated (registered at commit), or another new object reachable
//!   from one of these. `Gc` handles die with the transaction, and an
//!   unpublished object is reachable from nowhere else. Every one of these
//!   is a start of the walk ([`mark_survivors`]).
//! - (SV2) **Black, complete, counted nowhere.** The walk marks each start
//!   that is one of its own new objects (`NEW` set) and everything new it
//!   reaches, following strong references and, conservatively, a new weak
//!   cell's referent (a cell may be registered after this cycle's
//!   registry walk, and it and its referent must then survive the sweep:
//!   module docs of `weak_gate`). It pushes nothing grey: when it returns
//!   every object it marked has been traced here, as far as tracing
//!   matters (a reference to an object that is not new is covered by the
//!   snapshot, I2, exactly as for an object allocated black). So its marks
//!   are not new work for termination (P6, trap 9): a churning program
//!   does not keep marking from closing.
//! - (SV3) **Before publication.** The walk runs in the commit barrier,
//!   after validation and before stamping (`NEW` still set, nothing
//!   written back, no cell or finalizer registered): whoever can see one of
//!   these objects afterwards, the collector included, sees it marked.
//!   Every block it lies in is still owned by the thread (A4 of the
//!   allocator: the attempt's checkpoint is open), and large objects are
//!   pinned, so no sweep reads its mark before the walk is over.
//! - (SV4) **Complete before any panic goes on** (CM1 of `tx/commit.rs`).
//!   The walk runs user `Trace` code, inside GC work (W0: it cannot
//!   attach, transact or collect). If that code panics (or the injected
//!   `FaultPoint::Barrier`, which fires after the walk's first object),
//!   the walk marks every new object of the transaction instead, as black
//!   allocation did (sound: their references are their own new objects or
//!   objects the transaction read after T), and only then lets the panic
//!   go on; the commit rolls forward (FT2) and a second walk finds nothing
//!   left to do, so no `Trace` code runs again during the unwinding (a
//!   second panic there would abort the process).
//! - (SV5) **Small commits that publish mark every new object.** A commit
//!   with at most [`SMALL_COMMIT`] new objects, outside generational mode,
//!   stops at the first start that is one of its new objects and marks
//!   all of them instead of walking ([`mark_every_new`]), the fallback of
//!   SV4: sound for the same reason, and it runs no `Trace` code. The walk
//!   costs a trace per survivor; marking all costs a mark per object and
//!   no trace, and floats at most `SMALL_COMMIT` dead objects per commit
//!   into the next cycle (black allocation's cost, bounded). A commit none
//!   of whose new objects escapes does not walk: it publishes none of them
//!   and gives them back at once (CM2, CM3 of `tx/commit.rs`). The large transactions whose garbage
//!   P4 was made for (a binary-trees tree) still walk. In generational
//!   mode a marked object is old until the next full cycle, so every
//!   commit walks there. docs/PERFORMANCE.md has the measurements behind
//!   the rule.
//! - (SV6) **Large commits whose news survive mark them all, until a walk
//!   says otherwise.** The walk measures survival: of a large commit's
//!   new objects, the share it marked. When a thread's last walk marked
//!   at least three quarters ([`Survival`]), its next large commits that
//!   publish mark every new object as SV5 does (sound for the same
//!   reason), 1, 2, 4, ... up to [`MAX_CREDIT`] of them before it walks
//!   again to measure; a walk below three quarters sets the count back to
//!   none. A program that publishes what it builds (a tree handed to the
//!   rest of the program) pays a mark per object instead of a trace per
//!   object; one that builds mostly garbage keeps walking, and a change
//!   of habit floats at most `MAX_CREDIT` commits' garbage to the next
//!   cycle. Outside generational mode only, as SV5.

use std::ptr::NonNull;

use super::mark::Grey;
use super::weak_gate::cell_slot;
use crate::fault::FaultPoint;
use crate::flags::ObjFlags;
use crate::gcwork::trace_at_commit;
use crate::header::Header;
use crate::trace::{Tracer, Visitor};

/// The walk's state.
struct Walk<'a> {
    stack: &'a mut Vec<Grey>,
    marked: u64,
}

impl Walk<'_> {
    /// Mark `obj` and queue it if it is one of the committing
    /// transaction's own new objects not yet reached.
    fn reach(&mut self, obj: NonNull<Header>) {
        // SAFETY: every caller passes a reference the committing
        // transaction holds (a start, SV1) or one a new object of it holds.
        if !unsafe { is_new(obj) } {
            return;
        }
        // SAFETY: a live object of this heap, marked while its cycle marks
        // (before its sweep reads the block: SV3).
        if unsafe { tmgc_alloc::mark(obj.cast()) } {
            self.marked += 1;
            self.stack.push(Grey(obj));
        }
    }
}

/// Whether `obj`, a reference the committing transaction holds (its own
/// new object, or a live object it reached and validated: SV1), is one of
/// its new objects. Only the owning transaction's objects carry `NEW`
/// before publication.
///
/// # Safety
/// `obj` is such a reference: a live object of this heap.
unsafe fn is_new(obj: NonNull<Header>) -> bool {
    // SAFETY: live (the caller's guarantee).
    unsafe { obj.as_ref() }.flags().contains(ObjFlags::NEW)
}

impl Visitor for Walk<'_> {
    fn visit(&mut self, obj: NonNull<Header>) {
        self.reach(obj);
    }
}

/// Mark the committing transaction's survivors (SV1-SV4): every own new
/// object reachable from `starts` and, if `weak_cells`, from the weak
/// cells among `news`; or, if `all` (SV5, SV6) and any of its new objects
/// escapes, all of them. Returns how many objects it marked. `stack` is
/// scratch.
///
/// # Safety
/// Called from the commit barrier of a transaction that began after its
/// thread observed MARK of the cycle being marked (or closed, not yet
/// swept for this thread), after validation, before its new objects are
/// published. `news` are all its new objects, initialised; each start is
/// a reference the transaction holds (SV1): its own new object or a live
/// object.
pub(crate) unsafe fn mark_survivors(
    starts: impl Iterator<Item = NonNull<Header>>,
    news: &[NonNull<Header>],
    weak_cells: bool,
    all: bool,
    stack: &mut Vec<Grey>,
    faults: &crate::fault::Faults,
) -> u64 {
    stack.clear(); // what a walk a panic cut short left
    let mut walk = Walk { stack, marked: 0 };
    // `true`: a commit that marks all (SV5, SV6) and whose new objects
    // escape, before the walk marked any. A panic in `Trace` code: every new object (SV4).
    let escaped_all = trace_at_commit(
        &mut walk,
        |walk| {
            for s in starts {
                // SAFETY: a start is a reference the transaction holds (SV1).
                if all && unsafe { is_new(s) } {
                    return true;
                }
                walk.reach(s);
            }
            if weak_cells && all {
                return true; // a new weak cell escapes
            }
            if weak_cells {
                for &h in news {
                    // SAFETY: our own new objects (the caller's guarantee).
                    if unsafe { h.as_ref() }.flags().contains(ObjFlags::WEAK) {
                        walk.reach(h);
                    }
                }
            }
            while let Some(Grey(obj)) = walk.stack.pop() {
                // SAFETY: queued by `reach`: our own initialised new object.
                let h = unsafe { obj.as_ref() };
                let info = h.type_info();
                if h.flags().contains(ObjFlags::WEAK) {
                    // SAFETY: a weak cell of ours, unpublished: its word is ours.
                    let r = unsafe { cell_slot(obj) }.load(std::sync::atomic::Ordering::Relaxed);
                    if let Some(r) = NonNull::new(r) {
                        walk.reach(r);
                    }
                } else if info.has_refs() {
                    // SAFETY: an initialised payload of this type, private to
                    // this thread until the commit publishes it.
                    unsafe { info.trace(Header::payload(obj), &mut Tracer::new(walk)) };
                }
                // An injected panic part-way through the walk (SV4).
                faults.hit(FaultPoint::Barrier);
            }
            false
        },
        |_| {
            // SAFETY: the caller's guarantee.
            unsafe { mark_every_new(news) };
        },
    );
    if escaped_all {
        // SAFETY: the caller's guarantee.
        unsafe { mark_every_new(news) }
    } else {
        walk.marked
    }
}

/// A thread's measure of its large commits' survival (SV6): how many of
/// its next large commits that publish mark all their new objects instead
/// of walking.
#[derive(Debug, Default)]
pub(crate) struct Survival {
    /// Large commits left to mark all before the next walk measures again.
    credit: u32,
    /// Walks in a row that found at least three quarters of the new
    /// objects surviving (the next credit is `2^streak`, at most
    /// `MAX_CREDIT`).
    streak: u32,
}

/// The most large commits marked all between two measuring walks (SV6).
pub(crate) const MAX_CREDIT: u32 = 64;

impl Survival {
    /// Whether this large commit marks all its new objects (spending one
    /// commit of credit) rather than walking.
    #[inline]
    pub(crate) fn take_mark_all(&mut self) -> bool {
        let all = self.credit > 0;
        self.credit = self.credit.saturating_sub(1);
        all
    }

    /// A walk over `news` new objects marked `marked` of them.
    pub(crate) fn walked(&mut self, news: usize, marked: u64) {
        if marked.saturating_mul(4) >= (news as u64).saturating_mul(3) {
            self.credit = 1u32.checked_shl(self.streak).unwrap_or(MAX_CREDIT).min(MAX_CREDIT);
            self.streak = self.streak.saturating_add(1);
        } else {
            *self = Survival::default();
        }
    }
}

/// New objects a commit may publish and still mark them all instead of
/// walking (SV5). Under loom, 2: a model's transactions are that small,
/// and its models take both paths.
#[cfg(not(tmgc_loom))]
pub(crate) const SMALL_COMMIT: usize = 64;
/// See above.
#[cfg(tmgc_loom)]
pub(crate) const SMALL_COMMIT: usize = 2;

/// Mark every one of `news` (SV4's fallback, and SV5). Returns how many
/// it marked.
///
/// # Safety
/// As for [`mark_survivors`]: from the commit barrier of a transaction
/// past its thread's MARK answer, before publication; `news` are all its
/// new objects, initialised.
pub(crate) unsafe fn mark_every_new(news: &[NonNull<Header>]) -> u64 {
    // `Header` starts its object: the same addresses as `NonNull<u8>`.
    let objs: &[NonNull<u8>] = {
        // SAFETY: `NonNull<Header>` and `NonNull<u8>` have the same layout
        // (a non-null pointer); the slice is only read.
        unsafe { std::slice::from_raw_parts(news.as_ptr().cast(), news.len()) }
    };
    // SAFETY: our own new objects, live, in blocks this thread still owns
    // (SV3): marked before any sweep reads them. Allocated one after the
    // other, they share mark words: one read-modify-write per word.
    unsafe { tmgc_alloc::mark_all(objs) }
}
