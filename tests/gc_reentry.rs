//! Code the collector runs (`Trace` implementations while it marks or
//! verifies, destructors run by the sweep) cannot re-enter a heap
//! (invariant W0, gc/src/gcwork.rs; issue 24): `attach`, `collect` and
//! `transaction` return `InGcWork` there, for every heap, and the cycle
//! goes on.
//!
//! Before W0, a destructor calling `collect` hung the cycle (it waited for
//! itself), with the background collector and without; a `Trace` impl
//! calling `collect` hung too; and one that attached deadlocked against
//! the verifier's stop. Each test runs its program on a thread and fails
//! if it has not finished in 60 s, so a regression fails CI instead of
//! hanging it.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use tmgc::{CollectError, Config, Heap, HeapError, Mutator, Trace, Tracer, TxError, Value};

/// Run `f` bounded by 60 s (`tmgc_tests::bounded`).
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    tmgc_tests::bounded(what, 60, f)
}

type Log = Arc<Mutex<Vec<String>>>;

/// What a re-entering destructor tries.
#[derive(Clone, Copy)]
enum Try {
    Collect,
    AttachAndTransact,
    /// A transaction on a mutator of another heap, kept in a thread-local
    /// of the sweeping thread.
    OtherHeapsMutator,
}

thread_local! {
    static OTHER: RefCell<Option<(Heap, Mutator)>> = const { RefCell::new(None) };
}

/// A heap object whose destructor re-enters `heap`.
struct Reenter {
    heap: Heap,
    what: Try,
    log: Log,
}

// SAFETY: holds no heap reference.
unsafe impl Trace for Reenter {
    const HAS_REFS: bool = false;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Drop for Reenter {
    fn drop(&mut self) {
        let entry = match self.what {
            Try::Collect => format!("{:?}", self.heap.collect().err()),
            Try::AttachAndTransact => match self.heap.attach() {
                Ok(mut m) => format!("attached: {:?}", m.transaction::<_, ()>(|_| Ok(())).err()),
                Err(e) => format!("{e:?}"),
            },
            Try::OtherHeapsMutator => OTHER.with(|o| match o.borrow_mut().as_mut() {
                Some((_, m)) => format!("{:?}", m.transaction::<_, ()>(|_| Ok(())).err()),
                None => "no mutator on this thread".into(),
            }),
        };
        self.log.lock().unwrap().push(entry);
    }
}

/// Allocate one `Reenter` as garbage, collect, and return what its
/// destructor saw.
fn destructor_reenters(background: bool, what: Try) -> Vec<String> {
    let heap = Heap::new(Config::default().background(background).verify(true)).unwrap();
    let log: Log = Arc::default();
    {
        let mut m = heap.attach().unwrap();
        let (h, l) = (heap.clone(), Arc::clone(&log));
        // Rooted, so published: a commit that publishes none of its new
        // objects would run the destructor itself (CM3 of tmgc's
        // `tx/commit.rs`; W0 holds there too, `tx::publish_tests`). The
        // root's drop applies at the next commit.
        let root = m
            .transaction::<_, ()>(|tx| {
                let r = tx.alloc(Reenter { heap: h.clone(), what, log: Arc::clone(&l) })?;
                Ok(tx.root(r))
            })
            .unwrap();
        drop(root);
        m.transaction::<_, ()>(|_| Ok(())).unwrap();
    }
    if matches!(what, Try::OtherHeapsMutator) {
        // The cycle (and so the sweep) runs on this thread when there is
        // no background collector.
        let other = Heap::new(Config::default()).unwrap();
        let m = other.attach().unwrap();
        OTHER.with(|o| *o.borrow_mut() = Some((other, m)));
    }
    // The first cycle frees the object; its sweep runs the destructor.
    heap.collect().unwrap();
    heap.collect().unwrap();
    OTHER.with(|o| o.borrow_mut().take());
    let v = log.lock().unwrap().clone();
    v
}

#[test]
fn a_destructor_that_collects_gets_an_error_background() {
    let log = bounded("collect in Drop", || destructor_reenters(true, Try::Collect));
    assert_eq!(log, vec![format!("{:?}", Some(CollectError::InGcWork))]);
}

#[test]
fn a_destructor_that_collects_gets_an_error_no_background() {
    let log = bounded("collect in Drop", || destructor_reenters(false, Try::Collect));
    assert_eq!(log, vec![format!("{:?}", Some(CollectError::InGcWork))]);
}

#[test]
fn a_destructor_cannot_attach() {
    for background in [true, false] {
        let log = bounded("attach in Drop", move || destructor_reenters(background, Try::AttachAndTransact));
        assert_eq!(log, vec![format!("{:?}", HeapError::InGcWork)]);
    }
}

#[test]
fn a_destructor_cannot_run_a_transaction_of_another_heap() {
    let log = bounded("transaction in Drop", || destructor_reenters(false, Try::OtherHeapsMutator));
    assert_eq!(log, vec![format!("{:?}", Some(TxError::<()>::InGcWork))]);
}

/// A heap object whose `Trace` impl tries to collect and attach (to its own
/// heap and another) every time it is traced: by the marker and, with
/// `verify`, by the verifier's stop.
#[derive(Clone)]
struct Sneaky {
    heap: Heap,
    other: Heap,
    log: Log,
}

// SAFETY: holds no heap reference (`HAS_REFS` is true only so that the
// marker calls `trace`); the body breaks the rule that tracing only reads,
// on purpose, to show the collector refuses it.
unsafe impl Trace for Sneaky {
    fn trace(&self, _: &mut Tracer<'_>) {
        let mut log = self.log.lock().unwrap();
        log.push(format!("collect: {:?}", self.heap.collect().err()));
        log.push(format!("attach: {:?}", self.heap.attach().err()));
        log.push(format!("attach other: {:?}", self.other.attach().err()));
    }
}

#[derive(Trace)]
struct Holder {
    sneaky: Sneaky,
    n: Value<u64>,
}

fn trace_reenters(config: Config) -> Vec<String> {
    let heap = Heap::new(config).unwrap();
    let other = Heap::new(Config::default()).unwrap();
    let log: Log = Arc::default();
    let mut m = heap.attach().unwrap();
    let s = Sneaky { heap: heap.clone(), other: other.clone(), log: Arc::clone(&log) };
    let _keep = m
        .transaction::<_, ()>(|tx| {
            let h = tx.alloc(Holder { sneaky: s.clone(), n: Value::new(1) })?;
            Ok(tx.global_root(h))
        })
        .unwrap();
    drop(m);
    for _ in 0..2 {
        heap.collect().unwrap();
    }
    let v = log.lock().unwrap().clone();
    v
}

fn assert_all_refused(log: &[String], traces: usize) {
    assert!(log.len() >= 3 * traces, "traced at least {traces} times: {log:?}");
    for e in log {
        assert!(
            e == "collect: Some(InGcWork)" || e == "attach: Some(InGcWork)" || e == "attach other: Some(InGcWork)",
            "{e}"
        );
    }
}

#[test]
fn a_trace_impl_cannot_collect_or_attach_with_the_verifier() {
    // Marked and verified in each of 2 cycles.
    let log = bounded("collect/attach in Trace", || trace_reenters(Config::default().verify(true)));
    assert_all_refused(&log, 4);
}

#[test]
fn a_trace_impl_cannot_collect_or_attach_parallel_marker() {
    let config = Config::default().verify(false).marker(tmgc::MarkerKind::Parallel(2));
    let log = bounded("collect/attach in Trace", move || trace_reenters(config));
    assert_all_refused(&log, 2);
}

#[test]
fn a_trace_impl_cannot_collect_or_attach_without_background_thread() {
    let config = Config::default().verify(true).background(false);
    let log = bounded("collect/attach in Trace", move || trace_reenters(config));
    assert_all_refused(&log, 4);
}

thread_local! {
    /// The thread's own mutator, kept where code the collector runs on this
    /// thread (with `background: false`) can reach it.
    static MINE: RefCell<Option<Mutator>> = const { RefCell::new(None) };
}

/// What the thread's own mutator did when used from code the collector
/// runs on the same thread.
fn use_own_mutator() -> String {
    MINE.with(|m| {
        let Ok(mut g) = m.try_borrow_mut() else { return "borrowed".into() };
        let Some(m) = g.as_mut() else { return "none".into() };
        let collect = m.collect().err();
        m.commit_point(); // does nothing inside GC work
        let solo = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.is_solo()))
            .map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default());
        format!(
            "collect: {collect:?}; is_solo panicked: {}",
            solo.as_ref().err().is_some_and(|s| s.contains("code the collector runs"))
        )
    })
}

/// A `Trace` impl that uses this thread's own mutator (found by review:
/// `Mutator::collect` ran a commit point before its check, and with the
/// verifier holding this thread's lock, `collect` or `is_solo` deadlocked).
struct UsesOwnMutator {
    log: Log,
}

// SAFETY: reports nothing; the body tries (and fails) to re-enter.
unsafe impl Trace for UsesOwnMutator {
    fn trace(&self, _: &mut Tracer<'_>) {
        self.log.lock().unwrap().push(use_own_mutator());
    }
}

#[test]
fn a_trace_impl_cannot_use_its_threads_own_mutator() {
    let log = bounded("own mutator in Trace", || {
        let heap = Heap::new(Config::default().background(false).verify(true)).unwrap();
        let log: Log = Arc::default();
        let mut m = heap.attach().unwrap();
        let l = Arc::clone(&log);
        let _keep = m.transaction::<_, ()>(|tx| {
            let o = tx.alloc(UsesOwnMutator { log: Arc::clone(&l) })?;
            Ok(tx.global_root(o))
        });
        MINE.with(|t| *t.borrow_mut() = Some(m));
        let r = heap.collect();
        MINE.with(|t| t.borrow_mut().take());
        r.unwrap();
        let v = log.lock().unwrap().clone();
        v
    });
    assert!(log.len() >= 2, "traced by the marker and the verifier: {log:?}");
    for e in &log {
        assert_eq!(e, "collect: Some(InGcWork); is_solo panicked: true");
    }
}

/// A destructor that uses its thread's own mutator: `collect` returns
/// `InGcWork` and does nothing else (its commit point would have removed a
/// dropped root in the middle of the sweep), `commit_point` does nothing.
struct DropUsesOwnMutator {
    log: Log,
}

// SAFETY: holds no heap reference.
unsafe impl Trace for DropUsesOwnMutator {
    const HAS_REFS: bool = false;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Drop for DropUsesOwnMutator {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(use_own_mutator());
    }
}

#[test]
fn a_destructor_cannot_use_its_threads_own_mutator() {
    let (log, roots) = bounded("own mutator in Drop", || {
        let heap = Heap::new(Config::default().background(false).verify(true)).unwrap();
        let log: Log = Arc::default();
        let mut m = heap.attach().unwrap();
        let l = Arc::clone(&log);
        let keep = m
            .transaction::<_, ()>(|tx| {
                tx.alloc(DropUsesOwnMutator { log: Arc::clone(&l) })?;
                let v = tx.alloc(Value::<u64>::new(1))?;
                Ok(tx.root(v))
            })
            .unwrap();
        drop(keep); // queued: leaves the root set at this thread's next commit point
        MINE.with(|t| *t.borrow_mut() = Some(m));
        heap.collect().unwrap(); // the sweep runs the destructor on this thread
        let m = MINE.with(|t| t.borrow_mut().take()).unwrap();
        let roots = m.root_count(); // no commit point ran inside the sweep
        let v = log.lock().unwrap().clone();
        (v, roots)
    });
    assert_eq!(log, vec!["collect: Some(InGcWork); is_solo panicked: true".to_string()]);
    assert_eq!(roots, 1, "the dropped root was removed by a commit point inside the sweep");
}
