//! Registering finalizers and cleanups in a transaction
//! (`collector/finalize.rs` has the protocol, docs/FINALIZATION.md the
//! semantics). A registration takes effect when the transaction commits;
//! if it aborts, the closure is dropped unrun.

use crate::collector::finalize::{Action, Entry};
use crate::gcref::{Dyn, Gc, Root};
use crate::mutator::Mutator;

use super::Tx;

impl<'tx> Tx<'tx> {
    /// Run `f` once after `obj` becomes unreachable, outside any
    /// transaction, when a thread calls [`Mutator::run_finalizers`]. `f`
    /// gets that thread's mutator and a [`Root`] of the object: it may read
    /// the object (and what it reaches) in transactions of its own, and
    /// resurrect it by storing it somewhere reachable; it is not finalized
    /// again unless registered again.
    ///
    /// Ordering: if finalizable A references finalizable B, A's finalizer
    /// runs first and B stays allocated until it has. Weak references to
    /// the object are cleared before its finalizer runs. Objects in a
    /// cycle of finalizable objects are never finalized; the collector
    /// counts them (`GcStats::finalizer_cycles`). See docs/FINALIZATION.md.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tmgc::{Config, Heap, Trace, Value};
    ///
    /// #[derive(Trace)]
    /// struct File { fd: Value<i64> }
    ///
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut m = heap.attach().unwrap();
    /// let c = Arc::clone(&closed);
    /// m.transaction::<_, ()>(|tx| {
    ///     let f = tx.alloc(File { fd: Value::new(3) })?;
    ///     let c = Arc::clone(&c);
    ///     tx.register_finalizer(f, move |m, root| {
    ///         let fd = m.transaction::<_, ()>(|tx| {
    ///             let f = tx.get_root(&root)?;
    ///             Ok(tx.get(f, |f| &f.fd)?)
    ///         });
    ///         assert_eq!(fd.unwrap(), 3);
    ///         c.fetch_add(1, Ordering::SeqCst); // close(fd) here
    ///     });
    ///     Ok(())
    /// })
    /// .unwrap();
    /// m.collect().unwrap(); // unreachable: its finalizer is due
    /// assert_eq!(m.run_finalizers(), 1);
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// ```
    pub fn register_finalizer<T: ?Sized + 'static>(
        &mut self,
        obj: Gc<'tx, T>,
        f: impl FnOnce(&mut Mutator, Root<T>) + Send + 'static,
    ) {
        let f = Box::new(move |m: &mut Mutator, r: Root<Dyn>| f(m, r.cast::<T>()));
        self.core.logs.finals.push(Entry { obj: obj.ptr, action: Action::Finalize(f) });
    }

    /// Run `f` once after `obj` becomes unreachable (and, if it has a
    /// finalizer, after that finalizer has run without resurrecting it),
    /// when a thread calls [`Mutator::run_finalizers`]. `f` never sees the
    /// object: give it what it needs when registering (a file descriptor,
    /// a native handle), as Go's `runtime.AddCleanup` does. The safer
    /// default for native resources.
    ///
    /// `f` must not capture a handle on `obj` (a `GlobalRoot` is `Send`):
    /// that would keep the object reachable for ever, and `f` would never
    /// run.
    pub fn add_cleanup<T: ?Sized>(&mut self, obj: Gc<'tx, T>, f: impl FnOnce() + Send + 'static) {
        self.core.logs.finals.push(Entry { obj: obj.ptr, action: Action::Cleanup(Box::new(f)) });
    }
}
