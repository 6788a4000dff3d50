//! Tests of the safe API's contracts that a safe-code audit found broken
//! (issue 25): the sweep epoch moving during a sweep, rewinding across a
//! colour change, re-entry from a drop hook, a panicking drop hook, and
//! counters near their limits. Each failed before its fix.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::*;

fn is_marked(p: NonNull<u8>) -> bool {
    // SAFETY: tests ask only about objects they allocated and that are not freed.
    unsafe { crate::is_marked(p) }
}

/// A rewind made while black, to a checkpoint taken while white, must not
/// mark the white objects allocated before the checkpoint (nor the padding
/// between them): the checkpoint's unflushed range was white.
#[test]
fn rewind_under_black_to_a_white_checkpoint_marks_nothing_old() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    let w1 = a.alloc(32, 8).unwrap();
    let w2 = a.alloc(32, 256).unwrap();
    let ck = a.checkpoint();
    a.set_colour(Colour::Black);
    a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(!is_marked(w1) && !is_marked(w2), "a white object was marked by the rewind");
    a.release(ck).unwrap();
    a.set_colour(Colour::White);
    a.retire_all().unwrap();
    s.begin_sweep();
    let r = s.sweep();
    assert_eq!(r.live_bytes, 0);
    assert_eq!(s.stats().live_bytes, 0);
}

/// The other way round stays as it was: objects allocated black before a
/// black checkpoint and not yet flushed are marked by the flush after a
/// rewind.
#[test]
fn rewind_under_black_to_a_black_checkpoint_keeps_old_black_objects() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    a.alloc(32, 8).unwrap();
    a.set_colour(Colour::Black);
    let b1 = a.alloc(32, 8).unwrap();
    let ck = a.checkpoint();
    let young = a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(is_marked(b1), "a black object lost its mark");
    assert!(!is_marked(young));
    a.release(ck).unwrap();
    a.set_colour(Colour::White);
    a.retire_all().unwrap();
    s.begin_sweep();
    assert_eq!(s.sweep().live_bytes, 32);
}

/// A flush since the checkpoint already covered the checkpoint's black
/// range; a rewind must not flush it again (after `clear_marks` began a new
/// cycle, that would mark an old object of the new cycle).
#[test]
fn rewind_does_not_flush_again_what_a_flush_since_covered() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    a.set_colour(Colour::Black);
    let b1 = a.alloc(32, 8).unwrap();
    let ck = a.checkpoint();
    a.flush_marks();
    assert!(is_marked(b1));
    s.clear_marks();
    a.alloc(32, 8).unwrap();
    a.rewind(&ck).unwrap();
    a.flush_marks();
    assert!(!is_marked(b1), "the rewind flushed an old range again");
    a.release(ck).unwrap();
}

/// Sweep epochs are `u64`: at one cycle per microsecond they last 584,000
/// years, where a `u32` lasted 71 minutes (49.7 days at one per
/// millisecond). Started just below `u32::MAX`, cycles go on freeing the
/// dead and keeping the marked: with a `u32` the epoch wrapped to 0, no
/// block stamped near `u32::MAX` was ever due again, and nothing died.
#[test]
fn sweeps_stay_right_across_u32_max_epochs() {
    let s = Space::new(Config::default()).unwrap();
    s.inner.sweep_epoch.store((u32::MAX - 2).into(), std::sync::atomic::Ordering::SeqCst);
    s.inner.large_swept_epoch.store((u32::MAX - 2).into(), std::sync::atomic::Ordering::SeqCst);
    let mut a = s.allocator();
    let mut keep = Vec::new();
    for cycle in 0..6 {
        keep.push(a.alloc(32, 8).unwrap());
        a.alloc(32, 8).unwrap(); // dies this cycle
        a.alloc(LARGE_THRESHOLD * 2, 8).unwrap(); // dies this cycle
        a.retire_all().unwrap();
        s.clear_marks();
        for &p in &keep {
            // SAFETY: kept objects are marked every cycle, so never freed.
            unsafe { crate::mark(p) };
        }
        s.begin_sweep();
        s.sweep();
        assert_eq!(s.unswept_blocks(), 0, "cycle {cycle}: a block is due but never swept");
        assert_eq!(s.stats().live_bytes, keep.len() * 32, "cycle {cycle}: live bytes wrong (no block was swept?)");
        assert_eq!(s.stats().large_objects, 0, "cycle {cycle}: a dead large object survived");
    }
    assert!(s.sweep_epoch() > u64::from(u32::MAX));
}

/// The checkpoint depth is a `u32`: opening more than `u32::MAX` nested
/// checkpoints (32 GiB of serial numbers) panics with a message and changes
/// nothing, instead of wrapping the depth to 0.
#[test]
fn checkpoint_depth_does_not_wrap() {
    let s = Space::new(Config::default()).unwrap();
    let mut a = s.allocator();
    a.open = u32::MAX;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = a.checkpoint();
    }));
    let msg = r.expect_err("a checkpoint beyond u32::MAX must panic");
    let msg = msg.downcast_ref::<String>().map(String::as_str).or(msg.downcast_ref::<&str>().copied()).unwrap_or("");
    assert!(msg.contains("nested checkpoints"), "unexpected panic: {msg}");
    assert_eq!(a.open, u32::MAX);
    assert!(a.serials.is_empty(), "a failed checkpoint left a serial number");
    a.open = 0;
}

/// What `f`, run on a thread of its own, returned or panicked with; a test
/// failure (not a hang) if it has not finished within `secs` seconds.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> std::thread::Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(r) => r,
        Err(_) => panic!("{what} did not return within {secs} s"),
    }
}

/// The message of a panic payload.
fn message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<String>().map(String::as_str).or(p.downcast_ref::<&str>().copied()).unwrap_or("")
}

/// A block with one dead object needing a destructor and one marked object
/// (so the sweep keeps the block: a freed block is never hinted again).
fn dead_and_live(s: &Space) -> (NonNull<u8>, NonNull<u8>) {
    let mut a = s.allocator();
    let dead = a.alloc_needs_drop(32, 8).unwrap();
    let live = a.alloc_needs_drop(32, 8).unwrap();
    // SAFETY: just allocated from a live space.
    unsafe {
        std::ptr::write_bytes(live.as_ptr(), 0x5A, 32);
        crate::mark(live);
    }
    a.retire_all().unwrap();
    (dead, live)
}

/// Issue 25 A, two threads: a sweep is running (held inside its drop hook)
/// when another thread begins the next epoch. The sweep must give way, not
/// claim and re-hint the block it already stamped forever.
#[test]
fn a_sweep_gives_way_when_the_epoch_moves() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    // The first call of the hook tells the test and waits for it; later
    // calls find the channels closed and return at once.
    let s = Space::with_drop_hook(Config::default(), move |_| {
        let _ = entered_tx.lock().unwrap().send(());
        let _ = go_rx.lock().unwrap().recv();
    })
    .unwrap();
    let (_dead, live) = dead_and_live(&s);
    let first = s.begin_sweep();
    let s2 = s.clone();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(s2.sweep());
    });
    entered_rx.recv_timeout(Duration::from_secs(10)).expect("the sweep reached the drop hook");
    let second = s.begin_sweep();
    drop(go_tx);
    let report = done_rx.recv_timeout(Duration::from_secs(10)).expect("the sweep did not return after the epoch moved");
    assert_eq!(report.epoch, first, "the sweep was for the first epoch");
    let report = s.sweep();
    assert_eq!(report.epoch, second);
    assert_eq!(s.unswept_blocks(), 0);
    // SAFETY: `live` was marked, so it was not freed.
    assert!(unsafe { std::slice::from_raw_parts(live.as_ptr(), 32) }.iter().all(|&b| b == 0x5A));
}

/// A space whose drop hook records every address it is called with, and
/// panics on the address stored in the returned cell.
#[allow(clippy::type_complexity)]
fn recording_space() -> (Space, Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let bad = Arc::new(AtomicUsize::new(0));
    let (c2, b2) = (Arc::clone(&calls), Arc::clone(&bad));
    let s = Space::with_drop_hook(Config::default(), move |p| {
        c2.lock().unwrap().push(p.as_ptr().addr());
        if p.as_ptr().addr() == b2.load(Ordering::Relaxed) {
            panic!("boom");
        }
    })
    .unwrap();
    (s, calls, bad)
}

/// Issue 25: a drop hook that panics left its block SWEEPING, so
/// `unswept_blocks()` never returned to 0 (and the objects after it in the
/// same bitmap word lost their hooks). Now the panic reaches the caller once
/// the block is back, unswept and hinted: the next sweep finishes it, every
/// other dead object gets its hook exactly once, and the panicking one is
/// not called again.
#[test]
fn a_panicking_drop_hook_leaves_its_block_consistent() {
    let (s, calls, bad) = recording_space();
    let mut a = s.allocator();
    let dead: Vec<_> = (0..4).map(|_| a.alloc_needs_drop(32, 8).unwrap()).collect();
    let live = a.alloc_needs_drop(32, 8).unwrap();
    // SAFETY: just allocated from a live space.
    unsafe { crate::mark(live) };
    a.retire_all().unwrap();
    bad.store(dead[1].as_ptr().addr(), Ordering::Relaxed);
    s.begin_sweep();
    let s2 = s.clone();
    let r = within(10, "a sweep whose hook panics", move || s2.sweep());
    assert_eq!(message(&*r.expect_err("the hook's panic reaches the caller")), "boom");
    let s2 = s.clone();
    within(10, "the next sweep", move || s2.sweep()).expect("no hook is called twice");
    assert_eq!(s.unswept_blocks(), 0, "the block of the panicking hook stayed unswept");
    let mut got = calls.lock().unwrap().clone();
    got.sort_unstable();
    let mut want: Vec<usize> = dead.iter().map(|p| p.as_ptr().addr()).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every dead object's hook ran exactly once");
    assert_eq!(s.stats().live_bytes, 32);
}

/// The same in the allocator's lazy sweep: the panic leaves `alloc`, the
/// block goes back unswept, and an eager sweep finishes it.
#[test]
fn a_panicking_drop_hook_in_a_lazy_sweep_leaves_its_block_consistent() {
    let (s, calls, bad) = recording_space();
    let mut a = s.allocator();
    let dead = a.alloc_needs_drop(32, 8).unwrap();
    a.retire_all().unwrap();
    bad.store(dead.as_ptr().addr(), Ordering::Relaxed);
    s.begin_sweep();
    let s2 = s.clone();
    let r = within(10, "an allocation sweeping lazily", move || {
        let mut b = s2.allocator();
        b.alloc(32, 8).map(|_| ())
    });
    assert_eq!(message(&*r.expect_err("the hook's panic reaches the allocation")), "boom");
    let s2 = s.clone();
    within(10, "the next sweep", move || s2.sweep()).unwrap();
    assert_eq!(s.unswept_blocks(), 0);
    assert_eq!(*calls.lock().unwrap(), vec![dead.as_ptr().addr()]);
}

/// Large objects: a panicking hook leaked the mapping of every dead large
/// object not yet unmapped (removed from the set, never unmapped, still
/// counted in `heap_bytes`). Now the panicking one is unmapped and the
/// others go back to the set, and the next cycle runs their hooks.
#[test]
fn a_panicking_drop_hook_leaks_no_large_object() {
    let (s, calls, bad) = recording_space();
    let mut a = s.allocator();
    let big: Vec<_> = (0..3).map(|_| a.alloc_needs_drop(LARGE_THRESHOLD * 2, 8).unwrap()).collect();
    a.retire_all().unwrap();
    bad.store(big[1].as_ptr().addr(), Ordering::Relaxed);
    s.begin_sweep();
    let s2 = s.clone();
    let r = within(10, "a sweep whose hook panics", move || s2.sweep());
    assert_eq!(message(&*r.expect_err("the hook's panic reaches the caller")), "boom");
    s.clear_marks();
    s.begin_sweep();
    let s2 = s.clone();
    within(10, "the next cycle's sweep", move || s2.sweep()).unwrap();
    assert_eq!(s.unswept_blocks(), 0);
    assert_eq!(s.stats().large_objects, 0);
    assert_eq!(s.heap_bytes(), 0, "a dead large object's mapping leaked");
    let mut got = calls.lock().unwrap().clone();
    got.sort_unstable();
    let mut want: Vec<usize> = big.iter().map(|p| p.as_ptr().addr()).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every dead large object's hook ran exactly once");
}

/// A space whose drop hook records each address and then, the first time
/// only, calls `reenter` on the space itself. Taking the space out of the
/// returned slot ends the re-entry (and the reference cycle).
#[allow(clippy::type_complexity)]
fn reentrant_space(reenter: fn(&Space)) -> (Space, Arc<Mutex<Option<Space>>>, Arc<Mutex<Vec<usize>>>) {
    let slot: Arc<Mutex<Option<Space>>> = Arc::new(Mutex::new(None));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (slot2, calls2) = (Arc::clone(&slot), Arc::clone(&calls));
    let s = Space::with_drop_hook(Config::default(), move |p| {
        calls2.lock().unwrap().push(p.as_ptr().addr());
        let me = slot2.lock().unwrap().take();
        if let Some(me) = me {
            reenter(&me);
        }
    })
    .unwrap();
    *slot.lock().unwrap() = Some(s.clone());
    (s, slot, calls)
}

/// Sweep `s` on a thread of its own, within a deadline; the panic message
/// if it panicked.
fn sweep_panics(s: &Space) -> Option<String> {
    let s2 = s.clone();
    within(10, "a sweep whose hook re-enters the space", move || s2.sweep()).err().map(|p| message(&*p).to_owned())
}

fn assert_refused(msg: Option<String>, what: &str) {
    let msg = msg.unwrap_or_else(|| panic!("{what} from a drop hook was not refused"));
    assert!(msg.contains(what) && msg.contains("drop hook"), "unexpected panic: {msg}");
}

/// Issue 25 A, drop-hook variant: a hook that begins the next sweep epoch
/// made the running sweep claim and re-hint one block forever. Re-entry
/// from a hook is refused: `begin_sweep` panics with a message, the epoch
/// does not move, and the next sweep finishes.
#[test]
fn a_drop_hook_cannot_begin_a_sweep() {
    let (s, slot, calls) = reentrant_space(|s| {
        s.begin_sweep();
    });
    let (dead, _live) = dead_and_live(&s);
    let e = s.begin_sweep();
    assert_refused(sweep_panics(&s), "begin_sweep");
    assert_eq!(s.sweep_epoch(), e, "the refused call moved the epoch");
    slot.lock().unwrap().take();
    s.sweep();
    assert_eq!(s.unswept_blocks(), 0);
    assert_eq!(*calls.lock().unwrap(), vec![dead.as_ptr().addr()]);
}

/// Issue 25 C: a hook that cleared the marks during a sweep made it free a
/// marked object (`live`) without its hook, and a new allocation got its
/// address. `clear_marks` from a hook is refused; `live` keeps its mark,
/// its memory and its drop bit.
#[test]
fn a_drop_hook_cannot_clear_marks() {
    let (s, slot, calls) = reentrant_space(|s| s.clear_marks());
    let (dead, live) = dead_and_live(&s);
    s.begin_sweep();
    assert_refused(sweep_panics(&s), "clear_marks");
    assert!(is_marked(live), "the refused call cleared a mark");
    slot.lock().unwrap().take();
    s.sweep();
    assert_eq!(s.unswept_blocks(), 0);
    assert_eq!(*calls.lock().unwrap(), vec![dead.as_ptr().addr()], "only the dead object's hook ran");
    let mut b = s.allocator();
    for _ in 0..BLOCK_BYTES / GRANULE {
        assert_ne!(b.alloc(16, 16).unwrap(), live, "a marked object's memory was reused");
    }
    // SAFETY: `live` is marked, so it was not freed.
    assert!(unsafe { std::slice::from_raw_parts(live.as_ptr(), 32) }.iter().all(|&b| b == 0x5A));
}

/// `sweep` from a hook is refused too: a hook does not drive the sweep it
/// runs in.
#[test]
fn a_drop_hook_cannot_sweep() {
    let (s, slot, _calls) = reentrant_space(|s| {
        s.sweep();
    });
    dead_and_live(&s);
    s.begin_sweep();
    assert_refused(sweep_panics(&s), "sweep");
    slot.lock().unwrap().take();
    s.sweep();
    assert_eq!(s.unswept_blocks(), 0);
}

/// Issue 25 C from another thread: `clear_marks` while a sweep runs breaks
/// its contract, but must still not break `with_drop_hook`'s promise. A
/// block's sweep decides life and death from one snapshot of its marks, so
/// the marked object `live`, in the block being swept, is neither freed
/// without its hook nor handed out again.
#[test]
fn clear_marks_on_another_thread_during_a_sweep_frees_nothing_without_its_hook() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c2 = Arc::clone(&calls);
    let s = Space::with_drop_hook(Config::default(), move |p| {
        c2.lock().unwrap().push(p.as_ptr().addr());
        let _ = entered_tx.lock().unwrap().send(());
        let _ = go_rx.lock().unwrap().recv();
    })
    .unwrap();
    let (dead, live) = dead_and_live(&s);
    s.begin_sweep();
    let s2 = s.clone();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(s2.sweep());
    });
    entered_rx.recv_timeout(Duration::from_secs(10)).expect("the sweep reached the drop hook");
    s.clear_marks();
    drop(go_tx);
    done_rx.recv_timeout(Duration::from_secs(10)).expect("the sweep returned");
    let freed_without_hook = !calls.lock().unwrap().contains(&live.as_ptr().addr());
    let mut b = s.allocator();
    for _ in 0..BLOCK_BYTES / GRANULE {
        let p = b.alloc(16, 16).unwrap();
        assert!(p != live || !freed_without_hook, "an object's memory was reused before its hook ran");
    }
    assert_eq!(*calls.lock().unwrap(), vec![dead.as_ptr().addr()]);
}
