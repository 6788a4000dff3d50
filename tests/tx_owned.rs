//! Owned objects (`gc/src/owned.rs`, docs/TRANSACTIONS.md "Owned
//! objects"): a mutator whose commits write an object twice in a row owns
//! it, and another mutator that meets it asks for it back. These tests
//! check that ownership is taken, that every way of asking ends (an owner
//! that runs, one parked between transactions, one that detaches, an
//! inevitable asker), that nothing is lost or seen half-written, and that
//! collection cycles (which release everything) keep the heap sound. The
//! loom model `an_owner_releases_to_an_asker` explores the interleavings.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tmgc::{Config, GlobalRoot, Heap, Value};
use tmgc_tests::{bounded, bump, pairs, read_pair as read, Pair};

/// Solo mode off: ownership is a matter of the concurrent path, and a
/// lone mutator would otherwise run solo.
fn config() -> Config {
    Config::default().solo(false).owned(true)
}

/// Run `f` on another thread; fail (rather than hang) if it takes more than
/// 20 s.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    bounded(what, 20, f)
}

/// `p`'s counters, read by a mutator of a new thread (within 20 s).
fn read_elsewhere(heap: &Heap, p: &GlobalRoot<Pair>, what: &str) -> (u64, u64) {
    let (h, q) = (heap.clone(), p.clone());
    within(what, move || read(&mut h.attach().unwrap(), &q))
}

/// A heap with one pair that a new mutator has bumped `n` times and so
/// owns (two commits in a row take it).
fn owned_pair(n: u64) -> (Heap, GlobalRoot<Pair>, tmgc::Mutator) {
    let heap = Heap::new(config()).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    let mut owner = heap.attach().unwrap();
    for _ in 0..n {
        bump(&mut owner, &p);
    }
    assert!(heap.tx_counts().owned_taken >= 1, "two commits in a row took the object");
    (heap, p, owner)
}

#[test]
fn two_commits_in_a_row_take_an_object_and_a_reader_gets_it_back_from_a_parked_owner() {
    let (heap, p, mut owner) = owned_pair(5);
    // The owner stays attached, parked between transactions: the reader
    // releases the object for it.
    let seen = read_elsewhere(&heap, &p, "a read of an object owned by a parked mutator");
    assert_eq!(seen, (5, 5), "the owner's last commit is what the reader sees");
    assert!(heap.tx_counts().owned_asked >= 1, "the reader asked");
    // The owner goes on; it takes the object again.
    for _ in 0..3 {
        bump(&mut owner, &p);
    }
    assert_eq!(read(&mut owner, &p), (8, 8));
}

#[test]
fn a_detaching_owner_releases_what_it_owns() {
    let heap = Heap::new(config()).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    {
        let mut owner = heap.attach().unwrap();
        for _ in 0..4 {
            bump(&mut owner, &p);
        }
    }
    let taken = heap.tx_counts().owned_taken;
    assert!(taken >= 1);
    let seen = read_elsewhere(&heap, &p, "a read after the owner detached");
    assert_eq!(seen, (4, 4));
    assert_eq!(heap.tx_counts().owned_asked, 0, "nobody had to ask: the owner released at its detach");
}

#[test]
fn a_running_owner_releases_at_its_next_commit_point() {
    let heap = Heap::new(config()).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let bumps = Arc::new(AtomicU64::new(0));
    let (started, has_started) = mpsc::channel();
    let owner = {
        let (h, q, stop, bumps) = (heap.clone(), p.clone(), stop.clone(), bumps.clone());
        std::thread::spawn(move || {
            let mut m = h.attach().unwrap();
            for _ in 0..3 {
                bump(&mut m, &q);
            }
            bumps.store(3, Ordering::Relaxed);
            started.send(()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                bump(&mut m, &q);
                bumps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    has_started.recv_timeout(Duration::from_secs(20)).expect("the owner's first commits");
    let (h, q) = (heap.clone(), p.clone());
    let reads = within("reads of an object its owner keeps writing", move || {
        let mut m = h.attach().unwrap();
        (0..200).map(|_| read(&mut m, &q)).collect::<Vec<_>>()
    });
    stop.store(true, Ordering::Relaxed);
    owner.join().unwrap();
    for w in reads.windows(2) {
        assert!(w[0].0 <= w[1].0, "reads went back in time: {:?} then {:?}", w[0], w[1]);
    }
    for (x, y) in &reads {
        assert_eq!(x, y, "a read saw half of a commit");
    }
    let mut m = heap.attach().unwrap();
    let n = bumps.load(Ordering::Relaxed);
    assert_eq!(read(&mut m, &p), (n, n), "an update was lost");
}

#[test]
fn an_inevitable_transaction_gets_an_owned_object() {
    let heap = Heap::new(config()).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let owner = {
        let (h, q, stop) = (heap.clone(), p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut m = h.attach().unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 10 {
                bump(&mut m, &q);
                n += 1;
            }
            n
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while heap.tx_counts().owned_taken == 0 {
        assert!(std::time::Instant::now() < deadline && !owner.is_finished(), "the owner took nothing");
        std::thread::yield_now();
    }
    let (h, q) = (heap.clone(), p.clone());
    let (x, y) = within("an inevitable read of an owned object", move || {
        let mut m = h.attach().unwrap();
        m.transaction::<_, ()>(|tx| {
            tx.become_inevitable()?;
            let o = tx.get_global(&q)?;
            Ok((tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?))
        })
        .unwrap()
    });
    assert_eq!(x, y, "the inevitable transaction saw half of a commit");
    stop.store(true, Ordering::Relaxed);
    let n = owner.join().unwrap();
    let mut m = heap.attach().unwrap();
    assert_eq!(read(&mut m, &p), (n, n), "an update was lost");
}

/// Each thread mostly bumps its own pair (which it comes to own) and now
/// and then moves a unit between its pair and another thread's (two
/// objects: the general commit, which must ask for the other's). Nothing
/// is lost, no read is torn, and the transfers conserve the total.
#[test]
fn threads_that_own_their_data_and_trade_with_each_other_lose_nothing() {
    const THREADS: usize = 4;
    const ROUNDS: u64 = 4_000;
    let heap = Heap::new(config().verify(true)).unwrap();
    let ps = Arc::new(pairs(&heap, THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (h, ps) = (heap.clone(), ps.clone());
            std::thread::spawn(move || {
                let mut m = h.attach().unwrap();
                let mut rng = fastrand::Rng::with_seed(t as u64);
                let mut moved_out = 0u64;
                for i in 0..ROUNDS {
                    bump(&mut m, &ps[t]);
                    if i % 16 == 15 {
                        // Move a matched unit: our x and y down, theirs up.
                        let u = (t + 1 + rng.usize(..THREADS - 1)) % THREADS;
                        m.transaction::<_, ()>(|tx| {
                            let (a, b) = (tx.get_global(&ps[t])?, tx.get_global(&ps[u])?);
                            let (ax, ay) = (tx.get(a, |o| &o.x)?, tx.get(a, |o| &o.y)?);
                            let (bx, by) = (tx.get(b, |o| &o.x)?, tx.get(b, |o| &o.y)?);
                            assert!(ax == ay && bx == by, "a torn pair: ({ax}, {ay}) ({bx}, {by})");
                            tx.set(a, |o| &o.x, ax - 1)?;
                            tx.set(a, |o| &o.y, ay - 1)?;
                            tx.set(b, |o| &o.x, bx + 1)?;
                            tx.set(b, |o| &o.y, by + 1)?;
                            Ok(())
                        })
                        .unwrap();
                        moved_out += 1;
                    }
                    if i % 1000 == 999 {
                        m.collect().unwrap(); // cycles release everything (OW6)
                    }
                }
                moved_out
            })
        })
        .collect();
    let moved: u64 = within("owners trading", move || handles.into_iter().map(|h| h.join().unwrap()).sum());
    assert!(moved > 0);
    let mut m = heap.attach().unwrap();
    let total: u64 = ps
        .iter()
        .map(|p| {
            let (x, y) = read(&mut m, p);
            assert_eq!(x, y, "a torn pair at the end");
            x
        })
        .sum();
    assert_eq!(total, THREADS as u64 * ROUNDS, "the transfers did not conserve the total");
    let c = heap.tx_counts();
    assert!(c.owned_taken > 0 && c.owned_asked > 0, "ownership was taken and asked for: {c:?}");
}

#[test]
fn ownership_off_takes_nothing() {
    let heap = Heap::new(config().owned(false)).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    let mut m = heap.attach().unwrap();
    for _ in 0..5 {
        bump(&mut m, &p);
    }
    assert_eq!(heap.tx_counts().owned_taken, 0);
    assert_eq!(read(&mut m, &p), (5, 5));
}

/// OW6: every answer to a handshake releases what the thread owns, so an
/// owned object that dies is not owned when the sweep frees it, and its
/// memory, reused, is never written by a later release. Without OW6 the
/// owner's detach releases objects already swept and reused (the debug
/// check in `owned::release_all` fires on the new objects' words).
#[test]
fn an_owned_object_that_dies_is_released_before_it_is_swept() {
    let heap = Heap::new(config().verify(true)).unwrap();
    let mut owner = heap.attach().unwrap();
    let roots: Vec<tmgc::Root<Pair>> = (0..32)
        .map(|_| {
            owner
                .transaction::<_, ()>(|tx| {
                    let p = tx.alloc(Pair { x: Value::new(0), y: Value::new(0) })?;
                    Ok(tx.root(p))
                })
                .unwrap()
        })
        .collect();
    for r in &roots {
        for _ in 0..3 {
            owner
                .transaction::<_, ()>(|tx| {
                    let o = tx.get_root(r)?;
                    let x = tx.get(o, |o| &o.x)?;
                    tx.set(o, |o| &o.x, x + 1)?;
                    tx.set(o, |o| &o.y, x + 1)?;
                    Ok(())
                })
                .unwrap();
        }
    }
    assert!(heap.tx_counts().owned_taken >= 32, "{:?}", heap.tx_counts());
    drop(roots);
    for _ in 0..2 {
        owner.collect().unwrap();
    }
    // New objects of the same size, in the memory just swept.
    let fresh: Vec<tmgc::Root<Pair>> = (0..256)
        .map(|i| {
            owner
                .transaction::<_, ()>(|tx| {
                    let p = tx.alloc(Pair { x: Value::new(i), y: Value::new(i) })?;
                    Ok(tx.root(p))
                })
                .unwrap()
        })
        .collect();
    for (i, r) in fresh.iter().enumerate() {
        let (x, y) = owner
            .transaction::<_, ()>(|tx| {
                let o = tx.get_root(r)?;
                Ok((tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?))
            })
            .unwrap();
        assert_eq!((x, y), (i as u64, i as u64));
    }
    drop(fresh);
    drop(owner); // releases what it still owns (OW7)
    heap.collect().unwrap();
}

/// A transaction that read an object which another mutator then takes
/// must not wait for the owned word when it becomes inevitable: its read
/// is stale, so it conflicts and retries (and then asks).
#[test]
fn becoming_inevitable_after_a_read_of_an_object_since_taken_retries() {
    let heap = Heap::new(config()).unwrap();
    let p = pairs(&heap, 1).pop().unwrap();
    let (go, wait_go) = mpsc::channel::<()>();
    let (taken, wait_taken) = mpsc::channel::<()>();
    let (done, wait_done) = mpsc::channel::<()>();
    let owner = {
        let (h, q) = (heap.clone(), p.clone());
        std::thread::spawn(move || {
            let mut m = h.attach().unwrap();
            wait_go.recv().unwrap();
            for _ in 0..3 {
                bump(&mut m, &q);
            }
            taken.send(()).unwrap();
            // Attached, parked, owning the pair, until the test ends.
            let _ = wait_done.recv();
            drop(m);
        })
    };
    let (h, q) = (heap.clone(), p.clone());
    let (x, y, attempts) = within("becoming inevitable after the read object was taken", move || {
        let mut m = h.attach().unwrap();
        let mut attempts = 0;
        let mut go = Some(go);
        let mut wait_taken = Some(wait_taken);
        let r = m
            .transaction::<_, ()>(|tx| {
                attempts += 1;
                let o = tx.get_global(&q)?;
                let x = tx.get(o, |o| &o.x)?;
                if let (Some(g), Some(w)) = (go.take(), wait_taken.take()) {
                    // First attempt: let the owner take the pair after our read.
                    g.send(()).unwrap();
                    w.recv().unwrap();
                }
                tx.become_inevitable()?;
                let y = tx.get(o, |o| &o.y)?;
                Ok((x, y))
            })
            .unwrap();
        (r.0, r.1, attempts)
    });
    assert_eq!((x, y), (3, 3), "the retry read the owner's last commit");
    assert!(attempts >= 2, "the stale first attempt conflicted");
    done.send(()).unwrap();
    owner.join().unwrap();
}

/// A weak cell is never owned: an inevitable `upgrade` reads it inside the
/// weak gate, where it must not wait for an owner.
#[test]
fn weak_cells_are_never_owned() {
    let heap = Heap::new(config()).unwrap();
    let mut m = heap.attach().unwrap();
    let (cell, target) = m
        .transaction::<_, ()>(|tx| {
            let t = tx.alloc(Pair { x: Value::new(1), y: Value::new(1) })?;
            let c = tx.new_weak(Some(t))?;
            Ok((tx.global_root(c), tx.global_root(t)))
        })
        .unwrap();
    for i in 0..6 {
        m.transaction::<_, ()>(|tx| {
            let c = tx.get_global(&cell)?;
            let t = tx.get_global(&target)?;
            tx.set_weak(c, if i % 2 == 0 { None } else { Some(t) })?;
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(heap.tx_counts().owned_taken, 0, "a weak cell was taken");
}

/// Inevitable readers ask owners while verified cycles stop the world
/// (the verifier holds each parked thread's lock until all are parked, and
/// releases for the threads it holds: an inevitable asker never waits for
/// such a lock). A churn that ends, not a forced interleaving.
#[test]
fn inevitable_askers_and_verified_cycles_end() {
    let heap = Heap::new(config().verify(true)).unwrap();
    let ps = Arc::new(pairs(&heap, 2));
    let stop = Arc::new(AtomicBool::new(false));
    let owners: Vec<_> = (0..2)
        .map(|t| {
            let (h, ps, stop) = (heap.clone(), ps.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut m = h.attach().unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    bump(&mut m, &ps[t]);
                    n += 1;
                    if n % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(200)); // parked, owning
                    }
                }
                n
            })
        })
        .collect();
    let (h, q) = (heap.clone(), ps.clone());
    within("inevitable askers against verified cycles", move || {
        let mut m = h.attach().unwrap();
        for i in 0..300 {
            let (x, y) = m
                .transaction::<_, ()>(|tx| {
                    tx.become_inevitable()?;
                    let o = tx.get_global(&q[i % 2])?;
                    Ok((tx.get(o, |o| &o.x)?, tx.get(o, |o| &o.y)?))
                })
                .unwrap();
            assert_eq!(x, y, "an inevitable read saw half of a commit");
            if i % 30 == 0 {
                m.collect().unwrap();
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = owners.into_iter().map(|o| o.join().unwrap()).collect();
    let mut m = heap.attach().unwrap();
    for (p, n) in ps.iter().zip(counts) {
        assert_eq!(read(&mut m, p), (n, n), "an update was lost");
    }
}

#[test]
fn an_owner_reads_its_own_writes_to_an_owned_object() {
    // OW8 and OW9 of `owned`: the owner's reads of its object are plain
    // loads (from the attempt's first, through the hint) only until it
    // logs a write; after one, a read of the same word returns the logged
    // value, not the one in the object.
    let (heap, p, mut owner) = owned_pair(4);
    let (before, after, other) = owner
        .transaction::<_, ()>(|tx| {
            let o = tx.get_global(&p)?;
            let before = tx.get(o, |o| &o.x)?;
            tx.set(o, |o| &o.x, before + 100)?;
            let after = tx.get(o, |o| &o.x)?;
            let other = tx.get(o, |o| &o.y)?;
            tx.set(o, |o| &o.y, other + 100)?;
            Ok((before, after, other))
        })
        .unwrap();
    assert_eq!((before, after, other), (4, 104, 4), "a read after a logged write sees the write");
    // The next attempt begins with the object as its hint: it reads the
    // committed values in place.
    assert_eq!(read(&mut owner, &p), (104, 104));
    assert_eq!(read_elsewhere(&heap, &p, "a read of the owned object from another thread"), (104, 104));
}
