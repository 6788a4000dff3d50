//! A transaction's new objects are listed from the allocator, not logged
//! one by one (NL1 of gc/src/tx/commit.rs): a commit that publishes them,
//! and a rewind that runs their destructors, must find each exactly once,
//! among over-aligned objects (whose alignment padding leaves free
//! fillers in the block), large objects, objects with destructors and
//! weak cells, across regions and blocks, while the collector marks. The
//! debug build checks the count of every listing; these tests check the
//! effects: every published object survives intact, every given-back or
//! aborted destructor runs once, and the heap verifier passes each cycle.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tmgc::{Abort, Config, Gc, Heap, Ref, Trace, Tx, TxError, Value};

/// An over-aligned payload: its header lands on a 64-byte boundary, so
/// the allocator pads (a free filler cell) after most smaller objects.
#[derive(Trace)]
#[repr(align(64))]
struct Wide {
    val: Value<u64>,
    next: Ref<Link>,
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// A link of the chain; it counts its destructor runs.
#[derive(Trace)]
struct Link {
    val: Value<u64>,
    wide: Ref<Wide>,
    next: Ref<Link>,
}

/// A large object (above the allocator's large threshold).
#[derive(Trace)]
struct Big {
    data: [u64; 4096],
}

impl Drop for Link {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// A chain of `n` links, each with a `Wide` beside it; returns its head
/// and the sum of its values. `weak`: a weak cell to every 97th link.
fn chain<'tx, E>(tx: &mut Tx<'tx>, n: u64, seed: u64, weak: bool) -> Result<(Option<Gc<'tx, Link>>, u64), Abort<E>> {
    let (mut head, mut sum) = (None, 0);
    for i in 0..n {
        let v = seed.wrapping_mul(0x9e37_79b9).wrapping_add(i) & 0xffff;
        let w = tx.alloc(Wide { val: Value::new(v), next: Ref::null() })?;
        let l = tx.alloc(Link { val: Value::new(v), wide: Ref::null(), next: Ref::null() })?;
        tx.store(l, |l| &l.wide, Some(w))?;
        tx.store(w, |w| &w.next, Some(l))?;
        tx.store(l, |l| &l.next, head)?;
        if weak && i % 97 == 0 {
            // A weak cell among the new objects (registered at commit).
            let _ = tx.new_weak(Some(l))?;
        }
        head = Some(l);
        sum += 2 * v;
    }
    Ok((head, sum))
}

fn sum_of<'tx, E>(tx: &mut Tx<'tx>, mut cur: Option<Gc<'tx, Link>>) -> Result<(u64, u64), Abort<E>> {
    let (mut sum, mut len) = (0, 0);
    while let Some(l) = cur {
        let w = tx.load(l, |l| &l.wide)?.expect("every link has its wide object");
        let back = tx.load(w, |w| &w.next)?.expect("every wide object points back");
        assert!(Gc::ptr_eq(back, l), "a wide object points at another link");
        sum += tx.get(l, |l| &l.val)? + tx.get(w, |w| &w.val)?;
        len += 1;
        cur = tx.load(l, |l| &l.next)?;
    }
    Ok((sum, len))
}

#[test]
fn published_given_back_and_aborted_news_are_each_found_once() {
    // Small trigger: cycles run while the transactions commit, so
    // publishing commits mark their survivors from the listed news.
    let heap = Heap::new(Config::default().verify(true).min_trigger_bytes(256 << 10)).unwrap();
    // Cycles back to back from another thread (not a mutator: solo mode
    // stays), so that commits meet every phase.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                heap.collect().unwrap();
            }
        });
        /// Stops the loop also when `rounds` panics.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        rounds(&heap);
    });
}

const ROUNDS: u64 = 400;

fn rounds(heap: &Heap) {
    let mut m = heap.attach().unwrap();
    let mut kept = Vec::new();
    let mut links_kept = 0u64;
    // `TxCounts` of the committed attempts: counted by the allocator now.
    let (mut allocated, mut given_back) = (0u64, 0u64);
    // At least `ROUNDS`, and on until three cycles have completed during
    // them: how long that takes depends on the machine, not on a guess.
    let cycles0 = heap.stats().cycles;
    for round in 0.. {
        if round >= ROUNDS && heap.stats().cycles >= cycles0 + 3 {
            break;
        }
        let n = 50 + round * 37 % 400;
        match round % 4 {
            // Published: rooted; checked again at the end.
            0 | 1 => {
                let (root, sum) = m
                    .transaction::<_, ()>(|tx| {
                        let (head, sum) = chain(tx, n, round, true)?;
                        // A large object among them, unreachable: swept.
                        tx.alloc(Big { data: [round; 4096] })?;
                        Ok((tx.root(head.unwrap()), sum))
                    })
                    .unwrap();
                links_kept += n;
                allocated += 2 * n + n.div_ceil(97) + 1; // links, wide objects, weak cells, `Big`
                kept.push((root, sum, n));
            }
            // Built and dropped: the commit gives it back (CM3), running
            // the links' destructors at once.
            2 => {
                let before = DROPS.load(Ordering::SeqCst);
                let (sum, len) = m
                    .transaction::<_, ()>(|tx| {
                        let (head, sum) = chain(tx, n, round, false)?;
                        assert_eq!(sum_of(tx, head)?, (sum, n));
                        Ok((sum, n))
                    })
                    .unwrap();
                assert!(sum > 0 && len == n);
                assert_eq!(DROPS.load(Ordering::SeqCst), before + n as usize, "a given-back link's destructor");
                allocated += 2 * n;
                given_back += 2 * n;
            }
            // Aborted by the body: the rollback runs every destructor.
            _ => {
                let before = DROPS.load(Ordering::SeqCst);
                let r = m.transaction::<(), &str>(|tx| {
                    chain(tx, n, round, round % 8 == 3)?;
                    Err(Abort::User("give up"))
                });
                assert!(matches!(r, Err(TxError::Aborted("give up"))));
                assert_eq!(DROPS.load(Ordering::SeqCst), before + n as usize, "an aborted link's destructor");
            }
        }
    }
    let counts = m.tx_counts();
    assert_eq!((counts.allocations, counts.given_back), (allocated, given_back), "TxCounts");
    let cycles = heap.stats().cycles - cycles0;
    assert!(cycles >= 3, "{cycles} cycles ran during the rounds");
    heap.collect().unwrap();
    heap.collect().unwrap();
    for (root, sum, n) in &kept {
        let got = m.transaction::<_, ()>(|tx| {
            let head = tx.get_root(root)?;
            sum_of(tx, Some(head))
        });
        let got = got.unwrap();
        assert_eq!(got, (*sum, *n), "a published chain lost or changed an object");
    }
    let live_drops = DROPS.load(Ordering::SeqCst);
    drop(kept);
    m.transaction::<_, ()>(|_| Ok(())).unwrap(); // applies the root drops
    heap.collect().unwrap();
    heap.collect().unwrap();
    assert!(DROPS.load(Ordering::SeqCst) >= live_drops + links_kept as usize, "a published link was never freed");
}
