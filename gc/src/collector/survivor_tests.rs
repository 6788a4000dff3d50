//! P4 of docs/COLLECTOR.md: a transaction that runs while the collector
//! marks allocates white, and its commit marks only its survivors
//! (`collector/survivors.rs`).
//!
//! The first test checks the point of it: the garbage such a transaction
//! leaves dies in the same cycle (with black allocation it lived to the
//! next), while what it publishes survives. The second commits after the
//! weak cells were walked and the finalizers found, before the sweep: a
//! finalizer registration and a weak cell published there must survive
//! this cycle's sweep although nothing strong reaches them (SV1, SV2).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::survivors::SMALL_COMMIT;
use super::test_support::{hold_at, release, Tally};
use super::Hold;
use crate::*;

#[derive(Trace)]
struct Leaf {
    v: Value<u64>,
}

#[derive(Trace)]
struct Node {
    v: Value<u64>,
    next: Ref<Node>,
    tally: NoTrace<Tally>,
}

#[derive(Trace)]
struct Holder {
    node: Ref<Node>,
}

/// A new object made by `make`, committed as a global root.
fn rooted<T: GcType>(m: &mut Mutator, make: impl Fn() -> T) -> GlobalRoot<T> {
    m.transaction::<_, ()>(|tx| {
        let h = tx.alloc(make())?;
        Ok(tx.global_root(h))
    })
    .unwrap()
}

/// A chain of `n` new nodes carrying `tally`, its head returned.
fn chain<'t>(tx: &mut Tx<'t>, n: u64, tally: &Arc<AtomicUsize>) -> Result<Gc<'t, Node>, Abort<()>> {
    let mut head = tx.alloc(Node { v: Value::new(0), next: Ref::null(), tally: NoTrace(Tally(tally.clone())) })?;
    for v in 1..n {
        let n = tx.alloc(Node { v: Value::new(v), next: Ref::null(), tally: NoTrace(Tally(tally.clone())) })?;
        tx.store(n, |n| &n.next, Some(head))?;
        head = n;
    }
    Ok(head)
}

/// The transaction these tests commit while marking runs: `garbage` new
/// nodes dropped (tallied in `g`), and a 10-node chain (tallied in `k`)
/// stored into `holder`, an old object.
fn publish_chain_and_garbage(
    tx: &mut Tx<'_>,
    garbage: u64,
    (g, k): (&Arc<AtomicUsize>, &Arc<AtomicUsize>),
    holder: &GlobalRoot<Holder>,
) -> Result<(), Abort<()>> {
    chain(tx, garbage, g)?; // unreachable when it commits
    let c = chain(tx, 10, k)?;
    let h = tx.get_global(holder)?;
    tx.store(h, |h| &h.node, Some(c))?;
    Ok(())
}

/// Commit a chain of `n` new nodes (tallied in `t`) stored into `holder`:
/// every new object of the commit survives it.
fn publish_chain(m: &mut Mutator, n: u64, t: &Arc<AtomicUsize>, holder: &GlobalRoot<Holder>) {
    m.transaction::<_, ()>(|tx| {
        let c = chain(tx, n, t)?;
        let h = tx.get_global(holder)?;
        tx.store(h, |h| &h.node, Some(c))?;
        Ok(())
    })
    .unwrap();
}

fn chain_len(m: &mut Mutator, holder: &GlobalRoot<Holder>) -> u64 {
    m.transaction::<_, ()>(|tx| {
        let h = tx.get_global(holder)?;
        let mut n = tx.load(h, |h| &h.node)?;
        let mut len = 0;
        while let Some(x) = n {
            assert_eq!(tx.get(x, |x| &x.v)?, 9 - len, "a survivor's payload changed");
            len += 1;
            n = tx.load(x, |x| &x.next)?;
        }
        Ok(len)
    })
    .unwrap()
}

/// What the weak cell `weak` gives: nothing, or its referent's payload.
fn upgrade(m: &mut Mutator, weak: &GlobalRoot<Weak<Leaf>>) -> Option<u64> {
    m.transaction::<_, ()>(|tx| {
        let w = tx.get_global(weak)?;
        Ok(match tx.upgrade(w)? {
            Some(y) => Some(tx.get(y, |y| &y.v)?),
            None => None,
        })
    })
    .unwrap()
}

#[test]
fn a_transactions_garbage_during_marking_dies_in_that_cycle() {
    for generational in [false, true] {
        let heap = Heap::new(Config::default().verify(true).generational(generational)).unwrap();
        let mut m = heap.attach().unwrap();
        let holder = rooted(&mut m, || Holder { node: Ref::null() });
        let (garbage, kept) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

        // Marking done, every barrier on: this transaction began after its
        // thread observed MARK.
        let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
        m.transaction::<_, ()>(|tx| publish_chain_and_garbage(tx, 1000, (&garbage, &kept), &holder)).unwrap();
        let st = release(&heap, &mut m, cycle);
        assert!(st.verified, "the held cycle was verified");
        assert_eq!(
            garbage.load(Ordering::SeqCst),
            1000,
            "generational {generational}: the transaction's garbage outlived the cycle it ran in"
        );
        assert_eq!(kept.load(Ordering::SeqCst), 0, "generational {generational}: a survivor was freed");
        m.collect().unwrap(); // verified
        heap.collect_young().unwrap();
        assert_eq!(chain_len(&mut m, &holder), 10);
        assert_eq!(kept.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_finalizer_and_a_weak_cell_published_after_the_weak_walk_survive_the_sweep() {
    for generational in [false, true] {
        // Unverified: the verifier's stop-the-world lasts until the SWEEP
        // request, so no commit could land in the window held here. A
        // freed object shows as a reused cell (0xdead) instead.
        let heap = Heap::new(Config::default().verify(false).generational(generational)).unwrap();
        let mut m = heap.attach().unwrap();
        let seen = Arc::new(AtomicU64::new(0));

        // Weak cells walked, finalizers found, the sweep about to begin;
        // this thread still has its barrier on and marks its survivors.
        let cycle = hold_at(&heap, &mut m, Hold::WeakWalkDone);
        let s = seen.clone();
        let weak = m
            .transaction::<_, ()>(move |tx| {
                let f = tx.alloc(Leaf { v: Value::new(7) })?;
                let s = s.clone();
                tx.register_finalizer(f, move |m, root| {
                    let v = m.transaction::<_, ()>(|tx| {
                        let f = tx.get_root(&root)?;
                        Ok(tx.get(f, |f| &f.v)?)
                    });
                    s.store(v.unwrap(), Ordering::SeqCst);
                });
                let y = tx.alloc(Leaf { v: Value::new(9) })?;
                let w = tx.new_weak(Some(y))?;
                Ok(tx.global_root(w))
            })
            .unwrap();
        release(&heap, &mut m, cycle);

        // Reuse whatever the sweep freed, with other values. Each batch is
        // published (a root, dropped at once), so the next one takes new
        // memory: an unpublished batch would be given back by its commit
        // (CM3), and every batch would rewrite the same 32 KB.
        for _ in 0..64 {
            let batch = m
                .transaction::<_, ()>(|tx| {
                    let first = tx.alloc(Leaf { v: Value::new(0xdead) })?;
                    for _ in 1..1000 {
                        tx.alloc(Leaf { v: Value::new(0xdead) })?;
                    }
                    Ok(tx.root(first))
                })
                .unwrap();
            drop(batch);
        }
        // Not yet cleared (the cell was published after this cycle's walk):
        // the referent must still be there.
        assert_eq!(upgrade(&mut m, &weak), Some(9), "generational {generational}: the weak referent was freed");
        // The finalizer's object is found due and queued, the weak
        // referent is cleared.
        m.collect().unwrap();
        m.collect().unwrap();
        assert_eq!(m.run_finalizers(), 1, "generational {generational}");
        assert_eq!(seen.load(Ordering::SeqCst), 7, "generational {generational}: the finalizer read a freed object");
        assert_eq!(upgrade(&mut m, &weak), None, "generational {generational}: the dead referent was not cleared");
    }
}

/// SV5: a commit of at most `SMALL_COMMIT` new objects, one of which
/// escapes, marks them all, its garbage too, which then dies in the next
/// cycle; one more object and the commit walks, and its garbage dies in
/// the cycle it ran in; a small commit that publishes no new object gives
/// them back at the commit (CM3).
#[test]
fn a_small_commit_marks_every_new_object_and_a_larger_one_walks() {
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = rooted(&mut m, || Holder { node: Ref::null() });
    let small = SMALL_COMMIT as u64;
    for (garbage_nodes, floats) in [(small - 10, true), (small - 9, false)] {
        let (kept, garbage) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
        let (h, k, g) = (holder.clone(), kept.clone(), garbage.clone());
        m.transaction::<_, ()>(|tx| publish_chain_and_garbage(tx, garbage_nodes, (&g, &k), &h)).unwrap();
        let st = release(&heap, &mut m, cycle);
        assert!(st.verified);
        let freed = garbage.load(Ordering::SeqCst) as u64;
        assert_eq!(freed, if floats { 0 } else { garbage_nodes }, "{garbage_nodes} + 10 new objects");
        m.collect().unwrap();
        assert_eq!(garbage.load(Ordering::SeqCst) as u64, garbage_nodes, "the next cycle frees the garbage");
        assert_eq!(chain_len(&mut m, &holder), 10);
        assert_eq!(kept.load(Ordering::SeqCst), 0, "a survivor was freed");
    }
    // A small commit none of whose new objects escapes marks nothing and
    // gives them back at once (CM3 of `tx/commit.rs`), while the cycle
    // marks: destructors run at the commit, and the verifier checks the
    // heap the rewind leaves.
    let garbage = Arc::new(AtomicUsize::new(0));
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    let (h, g) = (holder.clone(), garbage.clone());
    m.transaction::<_, ()>(|tx| {
        chain(tx, 20, &g)?;
        let h = tx.get_global(&h)?;
        let old = tx.load(h, |h| &h.node)?;
        tx.store(h, |h| &h.node, old)?; // a logged write, of an old object
        Ok(())
    })
    .unwrap();
    assert_eq!(garbage.load(Ordering::SeqCst), 20, "a commit that publishes nothing gave its objects back");
    let st = release(&heap, &mut m, cycle);
    assert!(st.verified);
    assert_eq!(garbage.load(Ordering::SeqCst), 20, "no destructor ran twice");
}

/// SV6: a large commit whose walk finds its new objects surviving lets
/// the thread's next large commit mark all of its own (its garbage floats
/// to the next cycle); that credit spent, the next one walks again and,
/// finding mostly garbage, keeps walking.
#[test]
fn large_commits_mark_all_after_a_walk_finds_their_news_surviving() {
    const N: u64 = SMALL_COMMIT as u64 * 2;
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = rooted(&mut m, || Holder { node: Ref::null() });
    let tallies: Vec<_> = (0..4).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let kept = Arc::new(AtomicUsize::new(0));
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    // 1: every new object survives (a chain stored into an old holder).
    publish_chain(&mut m, N, &tallies[0], &holder);
    // 2, 3, 4: N garbage nodes and 10 survivors each.
    for t in &tallies[1..] {
        let (h, g, k) = (holder.clone(), t.clone(), kept.clone());
        m.transaction::<_, ()>(|tx| publish_chain_and_garbage(tx, N, (&g, &k), &h)).unwrap();
    }
    let st = release(&heap, &mut m, cycle);
    assert!(st.verified);
    let freed: Vec<u64> = tallies.iter().map(|t| t.load(Ordering::SeqCst) as u64).collect();
    assert_eq!(freed[1], 0, "the commit after a surviving walk marked all its new objects");
    assert_eq!(freed[2], N, "the credit spent, the next commit walked");
    assert_eq!(freed[3], N, "after a walk that found garbage, the next commit walked too");
    m.collect().unwrap();
    let freed: Vec<u64> = tallies.iter().map(|t| t.load(Ordering::SeqCst) as u64).collect();
    assert_eq!(freed, [N, N, N, N], "the next cycle frees what floated");
    assert_eq!(chain_len(&mut m, &holder), 10);
    assert_eq!(kept.load(Ordering::SeqCst), 20, "only the replaced survivors died");
}

/// SV6 is off in generational mode, where a marked object stays old until
/// the next full cycle: after a large commit whose news all survive, the
/// next one still walks, and its garbage dies in the cycle it ran in.
#[test]
fn in_generational_mode_large_commits_walk_after_a_surviving_one() {
    const N: u64 = SMALL_COMMIT as u64 * 2;
    let heap = Heap::new(Config::default().verify(true).generational(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = rooted(&mut m, || Holder { node: Ref::null() });
    let (first, garbage, kept) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    publish_chain(&mut m, N, &first, &holder);
    let (h, g, k) = (holder.clone(), garbage.clone(), kept.clone());
    m.transaction::<_, ()>(|tx| publish_chain_and_garbage(tx, N, (&g, &k), &h)).unwrap();
    let st = release(&heap, &mut m, cycle);
    assert!(st.verified);
    assert_eq!(garbage.load(Ordering::SeqCst) as u64, N, "the second commit walked: its garbage died in this cycle");
    assert_eq!(chain_len(&mut m, &holder), 10);
    assert_eq!(kept.load(Ordering::SeqCst), 0, "a survivor was freed");
}

/// The credit SV6 gives doubles with each walk that finds most new objects
/// surviving, up to `MAX_CREDIT`, and a walk that finds garbage takes it
/// all back.
#[test]
fn the_survival_credit_doubles_to_its_ceiling_and_resets() {
    use super::survivors::{Survival, MAX_CREDIT};
    let spend = |s: &mut Survival| std::iter::from_fn(|| s.take_mark_all().then_some(())).count() as u32;
    let mut s = Survival::default();
    assert_eq!(spend(&mut s), 0, "no credit before any walk");
    let mut expect = 1;
    for _ in 0..10 {
        s.walked(100, 75);
        assert_eq!(spend(&mut s), expect);
        expect = (expect * 2).min(MAX_CREDIT);
    }
    s.walked(100, 74);
    assert_eq!(spend(&mut s), 0, "a walk below three quarters leaves no credit");
    s.walked(100, 100);
    assert_eq!(spend(&mut s), 1, "and starts the doubling again");
}

/// SV4: a panic part-way through the walk (the injected `Barrier` fault
/// fires after its first object) makes the walk mark every new object of
/// the transaction, garbage included, before the panic goes on; the
/// commit rolls forward and the chain is whole. (Garbage enough that the
/// commit walks: SV5.)
#[test]
fn a_walk_cut_short_marks_every_new_object() {
    const GARBAGE: u64 = SMALL_COMMIT as u64;
    let heap = Heap::new(Config::default().verify(true)).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = rooted(&mut m, || Holder { node: Ref::null() });
    let (kept, garbage) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    m.arm_fault(crate::fault::FaultPoint::Barrier);
    let (h, k, g) = (holder.clone(), kept.clone(), garbage.clone());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.transaction::<_, ()>(|tx| publish_chain_and_garbage(tx, GARBAGE, (&g, &k), &h))
    }));
    assert!(r.is_err(), "the fault fired");
    let st = release(&heap, &mut m, cycle);
    assert!(st.verified);
    assert_eq!(garbage.load(Ordering::SeqCst), 0, "the walk cut short marked every new object");
    m.collect().unwrap();
    assert_eq!(garbage.load(Ordering::SeqCst) as u64, GARBAGE, "the next cycle frees the garbage");
    assert_eq!(chain_len(&mut m, &holder), 10, "the rolled-forward commit published the chain");
    assert_eq!(kept.load(Ordering::SeqCst), 0, "a survivor was freed");
}

/// A payload whose `Trace` tries to attach to its heap, and records what
/// it got (W0: `Trace` code runs inside GC work, the survivors' walk
/// included).
struct Sneaky {
    heap: Heap,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

// SAFETY: holds no heap reference (`HAS_REFS` is true only so that the
// walk calls `trace`); the body breaks the rule that tracing only reads,
// on purpose, to show that it is refused.
unsafe impl Trace for Sneaky {
    fn trace(&self, _: &mut Tracer<'_>) {
        let got = self.heap.attach().err().map(|e| format!("{e:?}"));
        self.log.lock().unwrap().push(format!("{got:?}"));
    }
}

#[derive(Trace)]
struct SneakyNode {
    sneaky: Sneaky,
}

#[derive(Trace)]
struct SneakyHolder {
    node: Ref<SneakyNode>,
}

#[test]
fn trace_code_in_the_walk_cannot_attach() {
    let heap = Heap::new(Config::default().verify(false)).unwrap();
    let mut m = heap.attach().unwrap();
    let holder = rooted(&mut m, || SneakyHolder { node: Ref::null() });
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let cycle = hold_at(&heap, &mut m, Hold::BeforeClose);
    let sneaky = || Sneaky { heap: heap.clone(), log: log.clone() };
    m.transaction::<_, ()>(|tx| {
        for _ in 0..SMALL_COMMIT {
            tx.alloc(Leaf { v: Value::new(0) })?; // so the commit walks (SV5)
        }
        let n = tx.alloc(SneakyNode { sneaky: sneaky() })?;
        let h = tx.get_global(&holder)?;
        tx.store(h, |h| &h.node, Some(n))?;
        Ok(())
    })
    .unwrap();
    let walked = log.lock().unwrap().clone();
    release(&heap, &mut m, cycle);
    assert_eq!(walked, vec!["Some(\"InGcWork\")".to_string()], "the walk traced the survivor once, refused");
}
