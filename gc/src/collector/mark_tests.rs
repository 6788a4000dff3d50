//! Every marking strategy on the same heaps must mark exactly the same set:
//! the set reachable from the roots, computed independently from the edges
//! the test built. Heaps: a wide tree, a deep list (10 million nodes: no
//! stack may overflow), a random graph, and a ring (cycles). Each marker
//! runs twice: alone, and with a thread assisting it all the while (but
//! on the list, which no helper can split).

use std::ptr::NonNull;

use crate::collector::mark::{shade, AssistedMarker, Assists, GreySet, MarkWork, Marker, ParallelMarker, SerialMarker};
use crate::{Config, Heap, Ref, Trace};

#[derive(Trace)]
struct N4 {
    edges: [Ref<N4>; 4],
}

/// A heap of `count` objects whose edges are `edges(i)`; returns the
/// objects' addresses, in index order.
fn build(heap: &Heap, count: usize, edges: &dyn Fn(usize) -> Vec<usize>) -> Vec<usize> {
    let mut m = heap.attach().unwrap();
    let mut addrs: Vec<usize> = Vec::with_capacity(count);
    // Allocate in batches (one transaction each), rooting nothing: the test
    // marks from explicit roots and no cycle runs (background off, no pacer).
    let mut roots = Vec::new();
    for start in (0..count).step_by(100_000) {
        let end = (start + 100_000).min(count);
        let r = m
            .transaction::<_, ()>(|tx| {
                let mut batch = Vec::with_capacity(end - start);
                for _ in start..end {
                    let o = tx.alloc(N4 { edges: std::array::from_fn(|_| Ref::null()) })?;
                    // The object's own pointer (its provenance covers the
                    // whole object), not its header reference's.
                    batch.push(o.ptr.as_ptr().expose_provenance());
                }
                let keep = tx.alloc(N4 { edges: std::array::from_fn(|_| Ref::null()) })?;
                Ok((batch, tx.root(keep)))
            })
            .unwrap();
        addrs.extend(r.0);
        roots.push(r.1);
    }
    // Link the objects by writing their reference fields directly: this is
    // a test of marking, not of transactions, and nothing else runs.
    for (i, &a) in addrs.iter().enumerate() {
        // SAFETY: `a` is a live N4 we allocated above (nothing is swept:
        // no cycle runs in these tests); no transaction runs concurrently.
        let o = unsafe { &*std::ptr::with_exposed_provenance::<u8>(a).add(crate::HEADER_BYTES).cast::<N4>() };
        for (k, j) in edges(i).into_iter().enumerate().take(4) {
            o.edges[k].store(NonNull::new(addrs[j] as *mut crate::header::Header));
        }
    }
    std::mem::forget(roots); // keep the batch roots' objects allocated
    addrs
}

/// Mark with `marker`; with `assisted`, another thread assists the drain
/// all the while it runs (MA1-MA4 of `mark/assists.rs`), as a mutator past
/// the goal would. Returns the mark of each object, and the objects the
/// assisting thread traced.
fn marked_by(heap: &Heap, marker: &dyn Marker, addrs: &[usize], roots: &[usize], assisted: bool) -> (Vec<bool>, u64) {
    let space = &heap.inner.space;
    space.clear_marks();
    let grey = GreySet::default();
    let mut g = Vec::new();
    for &r in roots {
        // SAFETY: a live object of this heap.
        unsafe { shade(NonNull::new(addrs[r] as *mut crate::header::Header).unwrap(), &mut g) };
    }
    grey.push_packet(g);
    let assists = Assists::default();
    assists.want_above(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let helped = std::thread::scope(|s| {
        let helper = assisted.then(|| {
            s.spawn(|| {
                let work = MarkWork::new(&grey, &assists, None);
                let mut helped = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if assists.wanted(0) {
                        helped += assists.assist(&work, 64).objects;
                    }
                    std::hint::spin_loop();
                }
                helped
            })
        });
        marker.drain(&MarkWork::new(&grey, &assists, None));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        helper.map_or(0, |h| h.join().unwrap())
    });
    assert!(grey.is_empty(), "a drain returned with grey objects left (MA2)");
    let marks = addrs
        .iter()
        // SAFETY: live objects of this heap.
        .map(|&a| unsafe { tmgc_alloc::is_marked(NonNull::new(a as *mut u8).unwrap()) })
        .collect();
    (marks, helped)
}

fn reference(count: usize, edges: &dyn Fn(usize) -> Vec<usize>, roots: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; count];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(edges(i).into_iter().take(4));
        }
    }
    seen
}

fn check_all(count: usize, edges: &dyn Fn(usize) -> Vec<usize>, roots: &[usize]) {
    let heap = Heap::new(Config::default().background(false).verify(false).min_trigger_bytes(u64::MAX / 4)).unwrap();
    let addrs = build(&heap, count, edges);
    let want = reference(count, edges, roots);
    let markers: [(&str, Box<dyn Marker>); 5] = [
        ("assisted (no mutator: the collector takes over)", Box::new(AssistedMarker)),
        ("serial", Box::new(SerialMarker)),
        ("parallel(1)", Box::new(ParallelMarker { threads: 1 })),
        ("parallel(2)", Box::new(ParallelMarker { threads: 2 })),
        ("parallel(4)", Box::new(ParallelMarker { threads: 4 })),
    ];
    // A chain cannot be split, so a helper finds nothing to take: the
    // ten-million list (slow in debug builds) runs without one.
    let runs: &[bool] = if count > 1_000_000 { &[false] } else { &[false, true] };
    for ((name, m), &assisted) in markers.iter().flat_map(|m| runs.iter().map(move |a| (m, a))) {
        let (got, helped) = marked_by(&heap, m.as_ref(), &addrs, roots, assisted);
        if assisted {
            eprintln!("{name}, assisted: the assisting thread traced {helped} objects");
        }
        let wrong: Vec<usize> = (0..count).filter(|&i| got[i] != want[i]).take(5).collect();
        assert!(
            wrong.is_empty(),
            "{name} (assisted: {assisted}): objects {wrong:?} marked {:?}, reachable {:?}",
            wrong.iter().map(|&i| got[i]).collect::<Vec<_>>(),
            wrong.iter().map(|&i| want[i]).collect::<Vec<_>>()
        );
    }
}

#[test]
fn wide_tree() {
    // 1 root, 4 children each, 5 levels: 1 + 4 + ... + 4^5 = 1365; plus
    // unreachable objects after it.
    let count = 2000;
    let edges = |i: usize| (1..=4).map(|k| 4 * i + k).filter(|&j| j < 1365).collect();
    check_all(count, &edges, &[0]);
}

#[test]
fn deep_list_of_ten_million() {
    let count = 10_000_000;
    let edges = |i: usize| if i + 1 < count { vec![i + 1] } else { vec![] };
    check_all(count, &edges, &[0]);
}

#[test]
fn random_graph() {
    let count = 50_000;
    let edges = |i: usize| {
        let mut rng = fastrand::Rng::with_seed(i as u64 + 1);
        (0..(i % 5)).map(|_| rng.usize(..count)).collect()
    };
    check_all(count, &edges, &[3, 77, 12_345]);
}

#[test]
fn ring() {
    let count = 10_000;
    let edges = |i: usize| vec![(i + 1) % 5000];
    check_all(count, &edges, &[4999]);
}
