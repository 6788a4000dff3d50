//! Marking: shading, the grey set, the [`Marker`] trait, its one inner
//! loop (`trace_stack`) and the serial marker. The other strategies have a
//! file each: `parallel.rs` (work stealing), `assisted.rs` (mutators mark
//! at their commit points); `assists.rs` has the mark assists every
//! marker takes (MA1-MA4).
//!
//! ## Invariants
//! - (M1) `shade(x)` is an atomic `fetch_or` of x's mark bit (after a plain
//!   load that skips it when the bit is already set). Only the call that
//!   turns the bit 0 -> 1 pushes x, so an object is traced at most once per
//!   cycle, whoever shades it: markers, commit barriers, root scans (docs/COLLECTOR.md,
//!   P5). Whether x's type has references is checked when x is
//!   scanned, not when it is pushed, so grey packets hold leaves too.
//! - (M2) Markers read reference fields with Acquire loads (`Ref::trace`),
//!   pairing with the Release stores of commit write-back, and never lock
//!   or write objects.
//! - (M3) An object reaches the grey set only after its payload is
//!   initialised and visible to the marker: markers find objects through
//!   published references (Acquire) or through packets handed over under
//!   the grey set's mutex by the thread that shaded them, after its commit
//!   (at a handshake answer, or at the end of a commit once its buffer
//!   holds [`GREY_PACKET`] objects).
//! - (M4) No recursion: tracing pushes onto an explicit stack, so a
//!   10-million-node list needs no deep call stack.

mod assisted;
mod assists;
mod parallel;

pub(crate) use assisted::AssistedMarker;
pub(crate) use assists::Assists;
pub(crate) use parallel::ParallelMarker;

use std::ptr::NonNull;

use crate::header::Header;
use crate::sync::{lock, AtomicU64, Mutex};
use crate::trace::Tracer;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Grey objects a mutator's barrier buffer holds before its commit hands
/// them over (M3), rather than waiting for a handshake. Under loom, 2: a
/// model's commits shade a few objects, and its models take that path.
#[cfg(not(tmgc_loom))]
pub(crate) const GREY_PACKET: usize = 4096;
/// See above.
#[cfg(tmgc_loom)]
pub(crate) const GREY_PACKET: usize = 2;

/// An object address in the grey set. `Send`: it is only an address; the
/// collector protocol, not the type, says when it may be dereferenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Grey(pub(crate) NonNull<Header>);

// SAFETY: an address of a heap object, which lives in shared memory; the
// marking protocol (M1-M3) says when it may be read, on any thread.
unsafe impl Send for Grey {}

/// Mark `obj`; if this call marked it, push it.
///
/// The object's header is not read here: whether it can hold references is
/// checked when it is popped (`scan_object`). On x86 the next edge's mark
/// (`lock or`) waits for every earlier load, so a header read here would
/// serialise one cache miss per edge behind the locked instructions.
///
/// # Safety
/// `obj` must be a live heap object of a heap that is still alive (allocated
/// and not freed by a sweep or a rewind).
#[inline]
pub(crate) unsafe fn shade(obj: NonNull<Header>, grey: &mut Vec<Grey>) -> bool {
    // SAFETY: forwarded from the caller.
    if unsafe { tmgc_alloc::mark(obj.cast()) } {
        grey.push(Grey(obj));
        true
    } else {
        false
    }
}

/// Trace one grey object: shade everything it references. A grey entry
/// may be a continuation of a large array (AR3 of gc/src/array.rs): then
/// one chunk of its elements is traced.
///
/// # Safety
/// `g` must be a live, published heap object (M3), or a continuation of
/// one.
pub(crate) unsafe fn scan_object(g: Grey, stack: &mut Vec<Grey>) -> usize {
    let (obj, chunk) = crate::array::split(g);
    if chunk != 0 {
        // SAFETY: a continuation of a live, published, marked array.
        return unsafe { crate::array::scan_chunk(obj, chunk, stack) };
    }
    // SAFETY: live and published (caller).
    let h = unsafe { obj.as_ref() };
    let info = h.type_info();
    if info.is_array() {
        // SAFETY: as above.
        return unsafe { scan_array(obj, stack) };
    }
    if !info.has_refs() {
        return info.object_size();
    }
    // SAFETY: as above; the payload follows the header at the type's
    // payload offset (computed from `info`, already loaded).
    let payload = unsafe { obj.cast::<u8>().add(info.payload_offset()) };
    // SAFETY: `payload` is a live, published object's, traced while marking
    // runs (the caller's guarantee), as `Tracer::marking` requires.
    let mut tracer = unsafe { Tracer::marking(stack) };
    // SAFETY: a live, initialised payload of this type.
    unsafe { info.trace(payload, &mut tracer) };
    info.object_size()
}

/// The first scan of an array object: its fixed reference words, then its
/// first chunk of reference elements (and a continuation for the rest).
/// Returns the bytes traced.
///
/// # Safety
/// `obj` is a live, published array object, marked, traced while marking
/// runs.
#[cold]
unsafe fn scan_array(obj: NonNull<Header>, stack: &mut Vec<Grey>) -> usize {
    // SAFETY: a live object.
    let info = unsafe { obj.as_ref() }.type_info();
    let shape = info.shape().expect("an array type is dynamic");
    if !shape.elems.is_some_and(|e| e.holds_refs()) {
        if shape.ref_words() > 0 {
            // SAFETY: traces the fixed words (its elements hold no
            // reference) of a live, published object while marking runs.
            unsafe { trace_fixed(obj, shape.ref_words(), stack) };
        }
        // SAFETY: a live object.
        return unsafe { crate::array::object_bytes(obj) };
    }
    // SAFETY: as above.
    unsafe { trace_fixed(obj, shape.ref_words(), stack) };
    // SAFETY: a live, published, marked array with reference elements.
    info.object_size() + unsafe { crate::array::scan_first_chunk(obj, &shape, stack) }
}

/// Shade the `n` fixed reference words of a dynamic object.
///
/// # Safety
/// `obj` is a live, published dynamic object with at least `n` fixed
/// reference words, traced while marking runs.
unsafe fn trace_fixed(obj: NonNull<Header>, n: usize, stack: &mut Vec<Grey>) {
    for i in 0..n {
        // SAFETY: fixed word i of the payload (right after the header) is a
        // slot or tagged word, a reference word (T2).
        let w = unsafe {
            &*obj.cast::<u8>().add(crate::HEADER_BYTES).cast::<crate::sync::AtomicPtr<Header>>().as_ptr().add(i)
        };
        if let Some(r) = crate::tagged::decode_ref(w.load(Ordering::Acquire)) {
            // SAFETY: null, an immediate (decoded away) or a live object
            // (T2, TG1, I2).
            unsafe { shade(r, stack) };
        }
    }
}

/// The grey objects handed to markers by mutators (their barrier buffers)
/// and by the collector (root and global-root scans).
#[derive(Default)]
pub(crate) struct GreySet {
    packets: Mutex<Vec<Vec<Grey>>>,
    /// Objects ever handed over (a termination round compares it).
    handed: AtomicU64,
}

impl GreySet {
    /// Hand over a packet of grey objects (empty packets are ignored).
    pub(crate) fn push_packet(&self, packet: Vec<Grey>) {
        if packet.is_empty() {
            return;
        }
        self.handed.fetch_add(packet.len() as u64, Ordering::Relaxed);
        lock(&self.packets).push(packet);
    }

    /// Take one packet of grey objects, if any.
    pub(crate) fn take_packet(&self) -> Option<Vec<Grey>> {
        lock(&self.packets).pop()
    }

    /// Objects handed over so far.
    pub(crate) fn handed(&self) -> u64 {
        self.handed.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.packets).is_empty()
    }
}

/// What one marking drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MarkReport {
    /// Objects traced.
    pub(crate) objects: u64,
    /// Bytes of the objects traced (headers included).
    pub(crate) bytes: u64,
    /// Of `objects`, those mutators' assists traced.
    pub(crate) assisted: u64,
}

impl std::ops::AddAssign for MarkReport {
    fn add_assign(&mut self, o: MarkReport) {
        self.objects += o.objects;
        self.bytes += o.bytes;
        self.assisted += o.assisted;
    }
}

/// The work a [`Marker`] does: trace grey objects until none is left.
pub(crate) struct MarkWork<'a> {
    pub(crate) grey: &'a GreySet,
    /// Give the CPU up every `YIELD_QUANTUM`, counting here, while the
    /// machine is crowded (`Collector::crowded`, read as marking starts);
    /// `None` otherwise, and always in a mutator's assist (a pause).
    pub(crate) give_way: Option<&'a std::sync::atomic::AtomicU64>,
    /// The mark assists (`assists.rs`): every drain runs through them.
    pub(crate) assists: &'a Assists,
    /// Loom models of the marking protocols trace a fake graph.
    #[cfg(tmgc_loom)]
    scan_with: Option<&'a (dyn Fn(Grey, &mut Vec<Grey>) -> usize + Sync)>,
}

impl<'a> MarkWork<'a> {
    /// The work of the grey set `grey`, with the mark assists `assists`.
    pub(crate) fn new(
        grey: &'a GreySet,
        assists: &'a Assists,
        give_way: Option<&'a std::sync::atomic::AtomicU64>,
    ) -> Self {
        MarkWork {
            grey,
            give_way,
            assists,
            #[cfg(tmgc_loom)]
            scan_with: None,
        }
    }

    /// A loom model's work: `scan` traces its fake objects.
    #[cfg(all(test, tmgc_loom))]
    pub(crate) fn with_scan(
        grey: &'a GreySet,
        assists: &'a Assists,
        scan: &'a (dyn Fn(Grey, &mut Vec<Grey>) -> usize + Sync),
    ) -> Self {
        MarkWork { grey, give_way: None, assists, scan_with: Some(scan) }
    }
}

impl MarkWork<'_> {
    /// On a crowded machine, give the CPU up once `YIELD_QUANTUM` has passed
    /// since `last`: mutators doing GC work at their commit points then
    /// wait a quantum for a core, not a scheduler tick (docs/COLLECTOR.md,
    /// "Giving way"). Called every 256 objects traced.
    #[inline]
    pub(crate) fn give_way(&self, last: &mut Instant) {
        if let Some(count) = self.give_way {
            if last.elapsed() >= crate::collector::YIELD_QUANTUM {
                std::thread::yield_now();
                count.fetch_add(1, Ordering::Relaxed);
                *last = Instant::now();
            }
        }
    }

    /// Take a packet of grey objects.
    pub(crate) fn take_packet(&self) -> Option<Vec<Grey>> {
        self.grey.take_packet()
    }

    /// Trace `obj`: shade its children, pushing the newly marked ones onto
    /// `stack`. Returns the object's size in bytes.
    pub(crate) fn scan(&self, obj: Grey, stack: &mut Vec<Grey>) -> usize {
        #[cfg(tmgc_loom)]
        if let Some(scan) = self.scan_with {
            return scan(obj, stack);
        }
        // SAFETY: grey objects are live and published (M3), and nothing
        // reachable is freed before marking closes.
        unsafe { scan_object(obj, stack) }
    }

    /// Give grey objects back for other markers (or a later drain).
    pub(crate) fn push_packet(&self, packet: Vec<Grey>) {
        self.grey.push_packet(packet);
    }
}

/// A marking strategy: empties the grey set, tracing everything reachable
/// from it. Every strategy shares the atomic mark bitmap (M1), so no object
/// is traced twice; the collector calls `drain` again whenever a
/// termination round finds new grey objects. Every drain runs through
/// `work.assists.drain` (MA2 of `assists.rs`), so mutators can assist any
/// strategy; a strategy that keeps work on private stacks shares it when
/// an assist goes hungry (MA3).
pub(crate) trait Marker: Send + Sync {
    /// Trace until the grey set is empty.
    fn drain(&self, work: &MarkWork<'_>) -> MarkReport;

    /// Whether mutators assist throughout a drain (the assisted marker),
    /// rather than once the heap passes its goal (`Config::mark_assists`).
    fn assists_always(&self) -> bool {
        false
    }

    /// The marker threads it starts for a drain (0: it marks on the
    /// thread that runs the cycle).
    fn own_threads(&self) -> usize {
        0
    }
}

/// Trace depth-first from `stack` until it is empty; every 256 objects,
/// `every` may take work off the stack (to share it). Returns (objects,
/// bytes) traced. The one inner loop of every marker: one copy of the
/// machine code (not inlined, `every` called indirectly once per 256
/// objects), so the serial marker and the parallel one with one thread run
/// the same per-object code.
#[inline(never)]
fn trace_stack(work: &MarkWork<'_>, stack: &mut Vec<Grey>, every: &mut dyn FnMut(&mut Vec<Grey>)) -> MarkReport {
    let (mut objects, mut bytes) = (0u64, 0u64);
    // A small FIFO between the stack and the scan (prefetch-on-grey): an
    // object popped from the stack is prefetched and scanned `PREFETCH`
    // pops later, so up to that many header misses overlap instead of
    // each stalling the marker. Depth-first order is kept up to the FIFO's
    // length. A chain (one object on the stack at a time) bypasses it.
    let mut ring = [Grey(NonNull::dangling()); PREFETCH];
    let (mut head, mut len) = (0usize, 0usize);
    // `every` runs every 256 units of work: an object is one unit, and a
    // large one (a chunk of an array, AR3) one more per 4 KiB, so a run of
    // chunks yields and shares as often as a run of small objects.
    let (mut units, mut next_every) = (0u64, SHARE_EVERY);
    loop {
        if len == 0 && stack.len() <= 1 {
            // A chain (or the end): nothing to overlap, skip the FIFO.
            let Some(g) = stack.pop() else { break };
            let b = work.scan(g, stack) as u64;
            bytes += b;
            objects += 1;
            units += 1 + (b >> 12);
            if units >= next_every {
                next_every = units + SHARE_EVERY;
                every(stack);
            }
            continue;
        }
        while len < PREFETCH {
            let Some(g) = stack.pop() else { break };
            Header::prefetch(crate::array::split(g).0);
            ring[(head + len) % PREFETCH] = g;
            len += 1;
        }
        if len == 0 {
            break;
        }
        let g = ring[head];
        head = (head + 1) % PREFETCH;
        len -= 1;
        let b = work.scan(g, stack) as u64;
        bytes += b;
        objects += 1;
        units += 1 + (b >> 12);
        if units >= next_every {
            next_every = units + SHARE_EVERY;
            every(stack);
        }
    }
    MarkReport { objects, bytes, assisted: 0 }
}

/// Units of work (an object, or 4 KiB of a large one) between two calls of
/// `trace_stack`'s `every` (giving way, sharing). Every unit under loom, so
/// the models reach the sharing points.
const SHARE_EVERY: u64 = if cfg!(tmgc_loom) { 1 } else { 256 };

/// Objects in flight between popping and scanning (`trace_stack`).
const PREFETCH: usize = 8;

/// One marker thread (the collector's own): pops packets and traces them
/// depth-first with an explicit stack (M4).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SerialMarker;

impl Marker for SerialMarker {
    fn drain(&self, work: &MarkWork<'_>) -> MarkReport {
        let mut stack: Vec<Grey> = Vec::new();
        let mut last = Instant::now();
        work.assists.drain(work, || {
            let mut report = MarkReport::default();
            while let Some(packet) = work.take_packet() {
                stack.extend(packet);
                report += trace_stack(work, &mut stack, &mut |stack| {
                    work.give_way(&mut last);
                    work.assists.share(work, stack);
                });
            }
            report
        })
    }
}
