//! Mark rate of every marking strategy on the same heap shapes, against
//! Boehm GC's `GC_gcollect` on the same shapes, in one run.
//!
//! Run: `scripts/bench-setup.sh` once (installs libgc and builds the peer),
//! then `cargo bench -p tmgc --bench mark` (about 3 minutes). Sizes in MiB
//! can be given after `--` (default 1024 for trees and graph; the list is
//! 10 million nodes), and a subset of shapes with `MARK_SHAPES=trees,list`.
//!
//! Shapes: `trees`, binary trees of depth 20 (32-byte nodes: a 16-byte
//! header and two references); `graph`, batches of 1 million 48-byte nodes,
//! each with an edge to the next node of its batch and three edges to
//! random nodes of its batch (48 MB of random accesses per batch); `list`,
//! one 10-million-node list (no parallelism possible). The figure is the
//! best of 3 full cycles' marking time (from T to the close of marking);
//! Boehm's is the best of 3 `GC_gcollect` calls (mark plus its eager part
//! of sweeping), with its default number of markers and with 1.

use std::time::Duration;

use tmgc::{Config, GlobalRoot, Heap, MarkerKind, Ref, Trace};

#[derive(Trace)]
struct T2 {
    l: Ref<T2>,
    r: Ref<T2>,
}

#[derive(Trace)]
struct G4 {
    e: [Ref<G4>; 4],
}

fn tree<'t>(tx: &mut tmgc::Tx<'t>, d: u32) -> Result<tmgc::Gc<'t, T2>, tmgc::Abort<()>> {
    let t = tx.alloc(T2 { l: Ref::null(), r: Ref::null() })?;
    if d > 0 {
        let l = tree(tx, d - 1)?;
        let r = tree(tx, d - 1)?;
        tx.store(t, |t| &t.l, Some(l))?;
        tx.store(t, |t| &t.r, Some(r))?;
    }
    Ok(t)
}

/// Build `shape` held by global roots, pushed onto `roots` (a global
/// root lasts as long as its last handle: dropped in its transaction, it
/// is never set, and the shape would be garbage); returns the number of
/// objects.
fn build(heap: &Heap, shape: &str, mib: u64, roots: &mut Vec<Box<dyn std::any::Any>>) -> u64 {
    let mut m = heap.attach().unwrap();
    match shape {
        "trees" => {
            let per = (1u64 << 21) - 1;
            let n = ((mib << 20) / (per * 32)).max(1);
            for _ in 0..n {
                let r = m
                    .transaction::<_, ()>(|tx| {
                        let t = tree(tx, 20)?;
                        let r: GlobalRoot<T2> = tx.global_root(t);
                        Ok(r)
                    })
                    .unwrap();
                roots.push(Box::new(r));
            }
            n * per
        }
        "graph" => {
            let batch = 1_000_000usize;
            let n = ((mib << 20) / (batch as u64 * 48)).max(1);
            let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
            for _ in 0..n {
                let r = m.transaction::<_, ()>(|tx| {
                    let nodes: Vec<_> = (0..batch)
                        .map(|_| tx.alloc(G4 { e: std::array::from_fn(|_| Ref::null()) }))
                        .collect::<Result<_, _>>()?;
                    for k in 0..batch {
                        if k + 1 < batch {
                            tx.store(nodes[k], |g| &g.e[0], Some(nodes[k + 1]))?;
                        }
                        for j in 1..4 {
                            let t = nodes[rng.usize(..batch)];
                            tx.store(nodes[k], |g| &g.e[j], Some(t))?;
                        }
                    }
                    let r: GlobalRoot<G4> = tx.global_root(nodes[0]);
                    Ok(r)
                });
                roots.push(Box::new(r.unwrap()));
            }
            n * batch as u64
        }
        _ => {
            let n = 10_000_000u64;
            let r = m
                .transaction::<_, ()>(|tx| {
                    let mut head: Option<tmgc::Gc<'_, T2>> = None;
                    for _ in 0..n {
                        let t = tx.alloc(T2 { l: Ref::null(), r: Ref::null() })?;
                        tx.store(t, |t| &t.l, head)?;
                        head = Some(t);
                    }
                    let r: GlobalRoot<T2> = tx.global_root(head.unwrap());
                    Ok(r)
                })
                .unwrap();
            roots.push(Box::new(r));
            n
        }
    }
}

/// A marking time, and the objects and bytes marked.
type Marked = (Duration, u64, u64);

/// Best marking time of 3 cycles, and the objects and bytes marked.
fn run(shape: &str, mib: u64, marker: MarkerKind) -> Marked {
    let config = Config::default().background(false).verify(false).min_trigger_bytes(u64::MAX / 4).marker(marker);
    let heap = Heap::new(config).unwrap();
    let mut roots = Vec::new();
    let built = build(&heap, shape, mib, &mut roots);
    heap.collect().unwrap(); // the build's garbage (the batch Vecs' handles are not heap objects)
    let mut best = (Duration::MAX, 0, 0);
    for _ in 0..3 {
        let c = heap.collect().unwrap();
        // The shape is what each cycle marks: a figure over an empty heap
        // (roots lost) must not pass for a marking rate.
        assert!(c.marked_objects >= built, "{shape}: marked {} of the {built} objects built", c.marked_objects);
        if c.mark < best.0 {
            best = (c.mark, c.marked_objects, c.marked_bytes);
        }
    }
    drop(roots);
    best
}

fn boehm(shape: &str, mib: u64, markers: Option<&str>) -> Option<Marked> {
    let exe = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/boehm_mark");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([shape, &mib.to_string()]);
    if let Some(m) = markers {
        cmd.env("GC_MARKERS", m);
    }
    let out = cmd.output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<&str> = line.split_whitespace().collect();
    let ms: f64 = f.get(3)?.parse().ok()?;
    Some((Duration::from_secs_f64(ms / 1e3), f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
}

fn main() {
    let mib: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1024);
    println!("| shape | marker | mark time | objects/s | bytes/s | vs serial |");
    println!("|---|---|---|---|---|---|");
    let only = std::env::var("MARK_SHAPES").unwrap_or_default();
    for shape in ["trees", "graph", "list"] {
        if !only.is_empty() && !only.split(',').any(|s| s == shape) {
            continue;
        }
        let mut serial = None;
        let rows: Vec<(String, Option<Marked>)> = vec![
            ("tmgc serial".into(), Some(run(shape, mib, MarkerKind::Serial))),
            ("tmgc parallel, 1 marker".into(), Some(run(shape, mib, MarkerKind::Parallel(1)))),
            ("tmgc parallel, 2 markers".into(), Some(run(shape, mib, MarkerKind::Parallel(2)))),
            ("Boehm GC_gcollect, default markers".into(), boehm(shape, mib, None)),
            ("Boehm GC_gcollect, 1 marker".into(), boehm(shape, mib, Some("1"))),
        ];
        for (name, r) in rows {
            match r {
                Some((t, objs, bytes)) => {
                    let s = t.as_secs_f64();
                    let base = *serial.get_or_insert(s);
                    println!(
                        "| {shape} | {name} | {:.1} ms | {:.1} M | {:.2} GB/s | {:.2}x |",
                        s * 1e3,
                        objs as f64 / s / 1e6,
                        bytes as f64 / s / 1e9,
                        base / s
                    );
                }
                None => println!("| {shape} | {name} | not run: build the peer with scripts/bench-setup.sh | | | |"),
            }
        }
    }
}
