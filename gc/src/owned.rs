//! Owned objects: an object one thread keeps writing is owned by that
//! thread, which then reads and writes it as a solo transaction does (no
//! read set, lock, validation or version), until another thread needs it
//! and asks for it back. Solo mode (`crate::solo`) for one object at a
//! time, with the same revocation: a request raised through the handshake
//! machinery, answered at the owner's next commit point, or for the owner
//! while it is parked.
//!
//! ## The states of an object's version-lock word (`flags::vlock`)
//! - *free*: `stamp(v, t)`, the last commit to write it had tag `t`.
//! - *locked*: `locked_by(w, t)`, while a commit holds it.
//! - *owned*: `owned_by(v, t)`, the mutator tagged `t` owns it. Every path
//!   of another mutator sees a held word (`is_held`): a read conflicts, a
//!   commit's lock fails, a validation fails.
//!
//! ## Invariants
//! - (OW1) *Taking.* Only a commit takes an object, in `Tx::commit_one`
//!   (one object written, not inevitable, the barrier off): having locked
//!   it, validated and written back, it releases the lock as `owned_by(wv,
//!   tag)` instead of `stamp(wv, tag)`, if the word it locked said the same
//!   mutator wrote it last (two commits in a row), ownership is on
//!   (`Config::owned`), the owner's list has room (`MAX_OWNED`) and the
//!   object is not a weak cell (an inevitable `upgrade` reads a cell inside
//!   the weak gate, where it must not wait for an owner). The object goes
//!   into the owner's list (`Owned::objs`), in its `MutatorState`.
//! - (OW2) *Stable during an attempt.* An object's word changes from owned
//!   to free only by `release_all` on its owner's state, which runs only
//!   under the handshake rules for that state: by the owner at a commit
//!   point or at its detach (H1), or by a thread holding the owner's
//!   `handoff` that saw it `PARKED` (H2). So while the owner runs an
//!   attempt, every object it owns stays owned, and nobody else writes
//!   or reads it (the word is held): the attempt reads it in place and
//!   writes it back without a lock, as a solo transaction does (S2 of
//!   `solo`, for this object alone).
//! - (OW3) *Only owned reads: a solo commit.* An attempt whose read set is
//!   empty read nothing but owned objects, new objects and roots, so it
//!   commits as a solo transaction does (`Tx::quiet_solo`): write back in
//!   place. Its writes went to owned objects only: a write to any other
//!   published object puts it in the read set first (trap 8).
//! - (OW4) *Release.* `release_all` gives each owned object the word
//!   `stamp(v, tag)` with `v` larger than its version, than every version
//!   the owner's commits on owned objects read or validated
//!   (`Owned::maxv`), and than the clock: as an ordinary commit's release
//!   with a write version, so a reader whose read version covers `v` has
//!   the snapshot the owner's writes depended on, and no word repeats
//!   (no ABA for a reader that read the object before it was taken). The
//!   word's tag is 0, no mutator's: the owner's next commit to it does not
//!   take it back at once (two in a row again), which keeps an object two
//!   threads use in turn from going back to one of them after every ask.
//! - (OW5) *Asking.* A transaction that meets an object owned by another
//!   mutator conflicts and records the owner's tag (`MutatorState::wants`).
//!   After its rollback, parked, the thread asks for the owner's objects
//!   (`revoke`): it sets the owner's `release_want`, raises its `pending`
//!   (under its `handoff`, then the heavy fence, as for a handshake) and
//!   waits until the owner cleared `release_want` (at its next commit
//!   point, in `apply`), releasing them itself under the owner's `handoff`
//!   if it finds the owner `PARKED` (an owner that detached released
//!   everything first, OW7), sleeping once its backoff is spent. An
//!   inevitable transaction cannot roll back: it asks the same way and
//!   spins (`ask_running`) until the word is free. It never blocks on the
//!   owner's `handoff` (a try-lock): whoever holds it may be waiting for
//!   the asker to park, and the verifier's stop, which holds every parked
//!   thread's lock until all are parked, releases for the threads it
//!   holds. A running owner reaches a commit point (its own commit backs
//!   off while the inevitable transaction runs, and then waits parked).
//! - (OW6) *The collector.* Every answer to a handshake (`respond`, by the
//!   thread or for it) releases everything the thread owns. So when the
//!   sweep begins (after every thread answered SWEEP) no owned object is
//!   unmarked: one taken after that answer was written by a transaction
//!   after marking closed, so it was reachable, and marked. No list ever
//!   names a freed object.
//! - (OW7) *Leaving.* A detaching mutator releases everything before its
//!   tag can be reused (`Mutator`'s `Drop`), so an owned word always names
//!   an attached mutator or one still detaching.
//! - (OW8) *The hint.* `Owned::hint` names one object we own and its
//!   word: the last one whose first read an attempt took on the owned
//!   path, or that a commit took (OW1). Every attempt begins with it as
//!   its `Tx::last_read`, so a transaction that reads the object it read
//!   last time reads it inline, on the re-read path, from its first read.
//!   `release_all` clears it before changing any word, and nothing else
//!   changes an owned word (OW2), so while the hint is set its object is
//!   owned by us with exactly that word, and live (OW6): the re-read's
//!   comparison of the word holds, as it does for an owned object read
//!   earlier in the same attempt.
//! - (OW9) *Plain re-reads.* `Tx::plain` names the hint's object at the
//!   start of an attempt, and then the owned object whose first read took
//!   the owned path, until the attempt logs a write (which may shadow a
//!   word: the log must be read first). A read of its fields is one load,
//!   with no sample of its word: by OW2 the word cannot change while the
//!   attempt runs, and by OW8 (or the first read's test) it is ours.
//!
//! What it costs the paths it does not serve: the inline read tests
//! `Tx::plain` after solo mode's test (one comparison), the first read of
//! an object not hinted pays a load and a comparison out of line
//! (`Tx::read_field_slow`), each attempt's begin copies the hint, and the
//! commit point pays nothing: a request arrives through the `pending` flag
//! it loads anyway.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use crate::collector::handshake::{raise, try_raise};
use crate::flags::vlock;
use crate::header::Header;
use crate::heap::HeapInner;
use crate::sync::Spin;
use crate::thread::{MutatorRecord, MutatorState, DETACHED};

/// How many objects a mutator owns at most; past it, commits release as
/// usual (OW1).
pub(crate) const MAX_OWNED: usize = 64;

/// What a mutator owns (in its `MutatorState`, so the handshake rules
/// say who may touch it: OW2).
#[derive(Default)]
pub(crate) struct Owned {
    /// The objects whose words say we own them (OW1).
    pub(crate) objs: Vec<NonNull<Header>>,
    /// The largest version the commits on owned objects depended on (OW4).
    pub(crate) maxv: u64,
    /// The tag of an owner our last attempt met (OW5); 0 for none (no
    /// mutator has tag 0).
    pub(crate) wants: u32,
    /// An object we own and its word, every attempt's first `last_read`
    /// (OW8); cleared by `release_all`.
    pub(crate) hint: Option<(NonNull<Header>, u64)>,
}

/// Whether a commit of `core`'s may take one more object: ownership on
/// (`Config::owned`) and room in the list (OW1).
#[inline]
pub(crate) fn may_take(core: &MutatorState) -> bool {
    core.heap.collector.config.owned && core.owned.objs.len() < MAX_OWNED
}

/// Release everything `core` owns (OW4). The caller owns `core` under H1
/// or H2 of `collector::handshake`.
pub(crate) fn release_all(core: &mut MutatorState) {
    core.owned.hint = None; // OW8: before any word changes
    if core.owned.objs.is_empty() {
        return;
    }
    let tag = core.tag;
    let clock = core.heap.version();
    let floor = clock.max(core.owned.maxv);
    for o in core.owned.objs.drain(..) {
        // SAFETY: an owned object is live: it was reachable when taken, and
        // every answer to a handshake, the last before any sweep, releases
        // it (OW6).
        let vl = unsafe { o.as_ref() }.vlock();
        let w = vl.load(Ordering::Relaxed);
        debug_assert!(vlock::is_owned_by(w, tag), "a listed object not owned by its lister");
        // Release: the owner's write-backs happen before a reader that
        // sees the free word (as an ordinary commit's unlock). Tag 0, no
        // mutator's: the owner's next commit to it does not take it back
        // at once (OW1 wants two in a row again), and the owner's own
        // later reads treat it as another thread's write (they extend
        // past its version rather than rely on the own-tag rule).
        vl.store(vlock::stamp(floor.max(vlock::version(w)) + 1, 0), Ordering::Release);
    }
    core.owned.maxv = 0;
}

/// Answer a request to release (OW5) if one is pending. The caller owns
/// `core` under H1 or H2, after the raise that came with the request.
pub(crate) fn apply(rec: &MutatorRecord, core: &mut MutatorState) {
    if rec.release_want.load(Ordering::Acquire) {
        release_all(core);
        // Release: the words stored above happen before the asker's
        // Acquire load of `false`.
        rec.release_want.store(false, Ordering::Release);
    }
}

/// Ask the mutator tagged `tag` to release what it owns, and wait until it
/// has (OW5). Called between attempts, parked: so an owner asking us back
/// meanwhile finds us parked and releases for us.
pub(crate) fn revoke(heap: &HeapInner, tag: u32) {
    let Some(rec) = heap.collector.record_of(tag) else {
        return; // detached: it released before its tag was freed (OW7)
    };
    ask(heap, &rec);
    let spin = Spin::new();
    while !try_release_for(&rec) {
        // Parked: sleeps once the backoff is spent, as `solo`'s revocation
        // does, rather than burn a core through the owner's transaction.
        spin.wait();
    }
}

/// The inevitable transaction's ask (OW5): it cannot roll back, so it asks
/// and releases for a parked owner, and its caller spins on the word.
/// `raised` (the caller's, false at first) says whether the request has
/// reached the owner's `pending` yet. The asker runs, so it never blocks on
/// the owner's `handoff`: whoever holds it (the verifier's stop, the
/// collector answering for the owner) may be waiting for the asker to park.
/// The verifier's stop applies requests for the threads it holds
/// (`collector::verify`).
pub(crate) fn ask_running(heap: &HeapInner, tag: u32, raised: &mut bool) {
    let Some(rec) = heap.collector.record_of(tag) else { return };
    if !*raised {
        if !rec.release_want.load(Ordering::Acquire) {
            want(heap, &rec);
        }
        *raised = try_raise(&rec);
    }
    if rec.release_want.load(Ordering::Acquire) {
        if let Some(mut p) = rec.try_lock_if_parked() {
            apply(&rec, p.state());
        }
    }
}

/// Set the owner's request and raise its `pending` (under its `handoff`,
/// then the heavy fence): either it runs and sees the flag at its next
/// commit point, or it parked and we see it `PARKED` under the lock.
fn ask(heap: &HeapInner, rec: &std::sync::Arc<MutatorRecord>) {
    want(heap, rec);
    raise(std::slice::from_ref(rec));
}

/// Set the owner's request (counted once per ask).
fn want(heap: &HeapInner, rec: &MutatorRecord) {
    heap.owned_asked.fetch_add(1, Ordering::Relaxed);
    rec.release_want.store(true, Ordering::Release);
}

/// Whether the request to `rec` is answered, releasing for it if it is
/// parked (H2) or detached.
fn try_release_for(rec: &MutatorRecord) -> bool {
    if !rec.release_want.load(Ordering::Acquire) {
        return true;
    }
    match rec.lock_if_parked() {
        Ok(mut p) => {
            apply(rec, p.state());
            true
        }
        Err(DETACHED) => true,
        Err(_) => false,
    }
}
