//! Thread churn: short-lived threads attach, build and check a rooted list,
//! and exit; a third of them panic inside a transaction instead. They come
//! and go in the middle of cycles; none may block a handshake or lose an
//! object of another thread.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{check_list, list};
use crate::ctx::{Ctx, Failure, INJECTED};

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    while ctx.running() {
        let heap = ctx.heap.clone();
        let seed = ctx.rng.next();
        let panics = seed % 3 == 0;
        ctx.counters.threads_spawned += 1;
        // The child's commits and passed checks, or what failed.
        let child = std::thread::spawn(move || -> Result<(u64, u64), String> {
            let mut m = heap.attach().map_err(|e| e.to_string())?;
            let f = move |i: u64| seed.wrapping_add(i);
            let r = m.transaction::<_, ()>(|tx| {
                // A failed check cannot happen while building; keep a heap
                // exhaustion as it is (it must wait for a cycle, not spin).
                let l = list(tx, 100, f).map_err(|e| match e {
                    tmgc::Abort::Heap(h) => tmgc::Abort::Heap(h),
                    _ => tmgc::Abort::Conflict,
                })?;
                Ok(tx.root(l.expect("a 100-node list")))
            });
            let root = match r {
                Ok(r) => r,
                Err(tmgc::TxError::Alloc(_)) => return Ok((0, 0)), // heap limit: clean
                Err(e) => return Err(format!("churn thread: {e:?}")),
            };
            let mut checked = 0;
            for _ in 0..3 {
                let r = m.transaction(|tx| {
                    let l = tx.get_root(&root)?;
                    check_list(tx, Some(l), 100, f, "churn thread's list")
                });
                match r {
                    Ok(()) => checked += 1,
                    Err(tmgc::TxError::Alloc(_)) => {}
                    Err(e) => return Err(format!("{e:?}")),
                }
            }
            if panics {
                let _ = m.transaction::<(), ()>(|tx| {
                    let _ = list(tx, 10, f);
                    std::panic::panic_any(INJECTED)
                });
            }
            Ok((1, checked))
        });
        match catch_unwind(AssertUnwindSafe(|| child.join())) {
            Ok(Ok(Ok((commits, checked)))) => {
                ctx.counters.commits += commits;
                ctx.counters.checks += checked;
            }
            Ok(Ok(Err(m))) => return Err(ctx.fail(m)),
            Ok(Err(p)) if p.downcast_ref::<&str>() == Some(&INJECTED) => ctx.counters.injected_panics += 1,
            Ok(Err(_)) | Err(_) => return Err(ctx.fail("a churn thread panicked unexpectedly")),
        }
    }
    Ok(())
}
