//! The registry of attached mutators: registration under the registry
//! lock (so a cycle's snapshot includes a new mutator or the mutator's
//! raised `pending` makes it answer, trap 4), writer tags, and the crowding
//! rule for giving way, recomputed at each attach and detach.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::stats::Pauses;
use super::Collector;
use crate::sync::lock;
use crate::thread::MutatorRecord;

/// How often threads give up their CPU while the collector marks on a
/// crowded machine (`Collector::crowded`): mutators between transactions
/// (`Tx::yield_due`), markers every 256 objects (`MarkWork::give_way`).
/// Shorter than a scheduler tick (4 ms at 250 Hz), so a mutator preempted
/// in the middle of GC work at a commit point gets its core back within
/// about a quantum: docs/COLLECTOR.md, "Giving way".
pub(crate) const YIELD_QUANTUM: std::time::Duration = std::time::Duration::from_micros(100);

/// Attached mutators, and the writer tags not in use.
#[derive(Default)]
pub(crate) struct Registry {
    pub(super) records: Vec<Arc<MutatorRecord>>,
    /// Tags of mutators that detached, to reuse (1 ..= `next_tag`).
    pub(super) free_tags: Vec<u32>,
    /// The largest tag handed out so far.
    pub(super) next_tag: u32,
}

impl Collector {
    // ---- registry ----

    /// Register a new mutator, with the smallest free writer tag (see
    /// `flags::vlock`); `None` if `vlock::MAX_TAG` mutators are attached.
    /// Under the registry lock, so a cycle's snapshot of the registry
    /// either includes it (and waits for it) or was taken before, and then
    /// the new record's raised `pending` makes its first commit point answer
    /// the current word (trap 4). A tag is reused only after its previous
    /// owner unregistered, so that owner's commits happen before the new
    /// owner's transactions (the lazy clock's rule for own versions, `tx/mod.rs`).
    pub(crate) fn register(&self, make: impl FnOnce(u64, u32) -> MutatorRecord) -> Option<Arc<MutatorRecord>> {
        let mut reg = lock(&self.registry);
        let tag = match reg.free_tags.pop() {
            Some(t) => t,
            None if reg.next_tag < crate::flags::vlock::MAX_TAG => {
                reg.next_tag += 1;
                reg.next_tag
            }
            None => return None,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let rec = Arc::new(make(id, tag));
        reg.records.push(Arc::clone(&rec));
        self.update_crowded(reg.records.len());
        Some(rec)
    }

    pub(crate) fn unregister(&self, rec: &MutatorRecord, pauses: &Pauses) {
        {
            let mut reg = lock(&self.registry);
            reg.records.retain(|r| !std::ptr::eq(&**r, rec));
            reg.free_tags.push(rec.tag);
            self.update_crowded(reg.records.len());
        }
        lock(&self.stats).detached_pauses.add(pauses);
    }

    /// Recompute `crowded` for `mutators` attached: the marker's own
    /// threads (a parallel marker's, whoever runs the cycle) or else the
    /// collector thread, if there is one. The assisted marker counts its
    /// collector thread too: it sweeps eagerly and marks when assists stop.
    /// Markers read the flag when marking starts; mutators at each commit.
    pub(super) fn update_crowded(&self, mutators: usize) {
        let own = self.marker.own_threads();
        let gc_threads = if own > 0 { own } else { usize::from(self.config.background) };
        self.crowded.store(self.config.give_way && mutators + gc_threads > self.cores, Ordering::Relaxed);
    }

    /// Whether mutators should give way between transactions while the
    /// barrier is on (see the field).
    #[inline]
    pub(crate) fn crowded(&self) -> bool {
        self.crowded.load(Ordering::Relaxed)
    }

    /// How many mutators are attached.
    pub(crate) fn attached(&self) -> usize {
        lock(&self.registry).records.len()
    }

    /// The attached mutator tagged `tag`, if any (OW5 of `owned`).
    pub(crate) fn record_of(&self, tag: u32) -> Option<Arc<MutatorRecord>> {
        lock(&self.registry).records.iter().find(|r| r.tag == tag).cloned()
    }

    /// The attached mutators' records.
    pub(crate) fn snapshot(&self) -> Vec<Arc<MutatorRecord>> {
        lock(&self.registry).records.clone()
    }
}
