//! Solo mode: a heap with one attached mutator runs its transactions
//! without concurrency control, like a biased lock; a second attach revokes
//! the grant through the handshake machinery before it returns.
//!
//! ## Why it is safe
//! Only transactions write object fields, but for the collector clearing
//! dead weak cells, which never touches version words in any mode (upgrades
//! judge a cell's referent through the weak gate, in solo mode as in any
//! other). A solo transaction needs no version checks, read set,
//! locks or validation if no other transaction can commit while it runs
//! and none of its reads can be overtaken: which holds while its mutator
//! is the only one attached. Solo commits write back in place, without
//! touching the version-lock words (no non-solo transaction's read set
//! spans a solo commit, so no ABA can follow: see (S2)).
//!
//! ## Invariants
//! - (S1) At most one record holds the grant (`Solo::holder`), and only
//!   while it is the only registered record. Every attach and detach runs
//!   its registry change and its grant or revocation under `Solo::lock`.
//! - (S2) A mutator runs a transaction in solo mode only while it holds
//!   the grant, and an attach returns only after the holder's last solo
//!   transaction has ended, with a happens-before edge to the attacher
//!   (the holder's acknowledgement, a Release store, or its PARKED state
//!   read under its `handoff` lock). So no two transactions overlap when
//!   either is solo.
//! - (S3) The grant a thread runs with lives in its `MutatorState` (`MutatorState::solo`),
//!   read by `Tx::begin` with no atomic. It changes only under the handshake
//!   ownership rules (H1/H2 of `collector::handshake`): the thread applies
//!   `MutatorRecord::solo_want` at a commit point's slow path, or whoever holds
//!   `handoff` and saw the thread PARKED applies it for the thread. Each
//!   change of `solo_want` raises the thread's `pending` flag, so the next
//!   commit point of a running thread takes the slow path; the collector,
//!   answering for a parked thread, applies it too before clearing `pending`.
//!
//! A grant costs the fast path nothing: the commit point's one load of
//! `pending` covers it. A revocation waits for the holder's running
//! transaction to end, holding the solo lock: so a transaction body must
//! not wait for another thread to attach, nor attach to a heap itself (two
//! such bodies on two heaps could wait for each other).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::collector::handshake::raise;
use crate::sync::{lock, Mutex, Spin};
use crate::thread::{MutatorRecord, MutatorState, DETACHED, PARKED};

/// The heap's solo grant.
pub(crate) struct Solo {
    /// Whether grants are given at all (`Config::solo`).
    enabled: bool,
    /// The record holding the grant (S1). Held across each attach's and
    /// detach's registry change.
    lock: Mutex<Option<Arc<MutatorRecord>>>,
}

impl Solo {
    pub(crate) fn new(enabled: bool) -> Self {
        Solo { enabled, lock: Mutex::new(None) }
    }

    /// Register a new mutator (`register` runs under the solo lock) and
    /// settle the grant: the first attached mutator gets it; a second one
    /// revokes it from the holder, waiting for its running transaction.
    pub(crate) fn attach(
        &self,
        register: impl FnOnce() -> Option<Arc<MutatorRecord>>,
        attached: impl FnOnce() -> usize,
    ) -> Option<Arc<MutatorRecord>> {
        let mut holder = lock(&self.lock);
        let rec = register()?;
        if let Some(h) = holder.take() {
            revoke(&h);
        } else if self.enabled && attached() == 1 {
            // Raised again after the store: the collector may have answered
            // for the new (parked) record already, clearing the `pending` it
            // starts with; its first commit point must apply the grant (S3).
            rec.solo_want.store(true, Ordering::Relaxed);
            raise(std::slice::from_ref(&rec));
            *holder = Some(Arc::clone(&rec));
        }
        Some(rec)
    }

    /// Unregister a mutator (under the solo lock); if one mutator remains,
    /// it gets the grant from its next commit point on.
    pub(crate) fn detach(&self, rec: &MutatorRecord, unregister: impl FnOnce() -> Vec<Arc<MutatorRecord>>) {
        let mut holder = lock(&self.lock);
        if holder.as_deref().is_some_and(|h| std::ptr::eq(h, rec)) {
            *holder = None;
        }
        let rest = unregister();
        if self.enabled && holder.is_none() {
            if let [only] = &rest[..] {
                // Every other mutator is gone, and their commits happened
                // before their detach; the survivor's commit point reads
                // the grant under its `handoff`, after this raise.
                only.solo_want.store(true, Ordering::Relaxed);
                raise(std::slice::from_ref(only));
                *holder = Some(Arc::clone(only));
            }
        }
    }
}

/// Bring `core`'s grant up to date with `rec.solo_want` (S3).
///
/// The caller owns `core` under H1 or H2 of `collector::handshake`, after
/// the raise that came with the last change of `solo_want`.
pub(crate) fn apply(rec: &MutatorRecord, core: &mut MutatorState) {
    let want = rec.solo_want.load(Ordering::Acquire);
    if core.solo != want {
        core.solo = want;
        // Release: the thread's solo transactions so far happen before a
        // revoker that reads `false` here.
        rec.solo_has.store(want, Ordering::Release);
    }
}

/// How long a revocation waits before it warns (once) on standard error.
#[cfg(not(tmgc_loom))]
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Take the grant away from `h`, and wait until no solo transaction of its
/// runs (S2).
fn revoke(h: &Arc<MutatorRecord>) {
    h.solo_want.store(false, Ordering::Relaxed);
    // Raised under `handoff`, then the heavy fence: the asymmetric Dekker
    // of the handshakes. Either we see the thread RUNNING below and wait for
    // its acknowledgement, or it sees `pending` and applies the revocation
    // at its commit point before its next transaction.
    raise(std::slice::from_ref(h));
    let spin = Spin::new();
    #[cfg(not(tmgc_loom))]
    let (started, mut warned) = (std::time::Instant::now(), false);
    loop {
        #[cfg(not(tmgc_loom))]
        if !warned && started.elapsed() >= LONG_WAIT {
            // Most likely a deadlock: the holder's transaction body waits
            // for this very attach (or for a thread stuck behind it).
            warned = true;
            log::warn!(
                "tmgc: an attach has waited {} s for the lone mutator's running transaction \
                 (solo mode, Config::solo). A transaction body that waits for another thread to \
                 attach, or attaches itself, waits for ever; see docs/TRANSACTIONS.md, \"Solo mode\".",
                LONG_WAIT.as_secs()
            );
        }
        if !h.solo_has.load(Ordering::Acquire) {
            return; // acknowledged (or never applied the grant)
        }
        match h.state.load(Ordering::Acquire) {
            DETACHED => return,
            PARKED => {
                if let Ok(mut parked) = h.lock_if_parked() {
                    // (H2) through the guard.
                    apply(h, parked.state());
                    return;
                }
            }
            _ => {}
        }
        spin.wait();
    }
}
