use tmgc::{Config, Heap, Ref, Trace};
#[derive(Trace)]
struct Node {
    left: Ref<Node>,
    right: Ref<Node>,
}
fn main() {
    let n: u64 = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().unwrap());
    let heap = Heap::new(Config::default()).unwrap();
    let mut m = heap.attach().unwrap();
    let t = std::time::Instant::now();
    let mut k = 0u64;
    for _ in 0..n {
        k += m
            .transaction::<_, ()>(|tx| {
                let x = tx.alloc(Node { left: Ref::null(), right: Ref::null() })?;
                Ok(tx.load(x, |x| &x.left)?.is_none() as u64)
            })
            .unwrap();
    }
    let e = t.elapsed();
    println!("{k} {:?} {:.1} ns/tx", e, e.as_nanos() as f64 / n as f64);
}
