//! The assisted marker: mutators trace at their commit points, the
//! collector thread takes over only when no mutator assists.

use std::time::Instant;

use super::{MarkReport, MarkWork, Marker};

/// Mutator-assisted marking: no marker threads. While marking runs,
/// mutators trace a bounded number of grey objects at their commit points,
/// in proportion to what they allocate (like Go's mark assists); the
/// collector thread only waits, and traces by itself only when no mutator
/// has assisted for `IDLE_TAKEOVER` (all parked or not allocating), so
/// marking never depends on a mutator to finish (P0).
#[derive(Debug, Default)]
pub(crate) struct AssistedMarker {
    /// `drain` is running: assists are wanted.
    active: std::sync::atomic::AtomicBool,
    /// Assists holding grey objects outside the grey set right now.
    in_flight: std::sync::atomic::AtomicU64,
    /// When the last assist ended (ns since `epoch`).
    last_assist_ns: std::sync::atomic::AtomicU64,
    /// An assist panicked (a `Trace` implementation panicked on a mutator).
    failed: std::sync::atomic::AtomicBool,
    /// Work done by assists since `drain` began.
    objects: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    epoch: std::sync::OnceLock<std::time::Instant>,
}

/// How long the collector lets marking wait for assists before it traces
/// a chunk itself.
const IDLE_TAKEOVER: std::time::Duration = std::time::Duration::from_millis(2);

impl AssistedMarker {
    fn now_ns(&self) -> u64 {
        self.epoch.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
    }

    /// Trace up to `budget` objects (and about `budget` times
    /// [`ASSIST_BYTES_PER_OBJECT`] bytes) taken from the grey set; leftovers go
    /// back as a packet.
    fn chunk(&self, work: &MarkWork<'_>, budget: usize, by_mutator: bool) -> MarkReport {
        use std::sync::atomic::Ordering::SeqCst;
        // Counted in flight *before* taking work, so `drain` never sees the
        // grey set empty while an assist holds some of it.
        self.in_flight.fetch_add(1, SeqCst);
        // Leaves flight also when tracing panics, marking the drain failed
        // (else `drain` would wait for this assist forever).
        struct Flight<'a>(&'a AssistedMarker);
        impl Drop for Flight<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    self.0.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        let flight = Flight(self);
        let mut report = MarkReport::default();
        if let Some(mut packet) = work.take_packet() {
            // Work on at most `budget` of the packet's objects: a large
            // packet (a root scan) would otherwise grow, and reallocating
            // it inside an assist costs a copy of all of it.
            let mut stack = if packet.len() > budget {
                let tail = packet.split_off(packet.len() - budget);
                work.push_packet(packet);
                tail
            } else {
                packet
            };
            // Bounded in bytes too: a chunk of a large array (AR3) is one
            // object of 32 KiB, so an assist stops after about `budget`
            // objects of 64 bytes' worth of tracing, whatever their size.
            while report.objects < budget as u64 && report.bytes < (budget * ASSIST_BYTES_PER_OBJECT) as u64 {
                let Some(g) = stack.pop() else { break };
                report.bytes += work.scan(g, &mut stack) as u64;
                report.objects += 1;
            }
            work.push_packet(stack);
        }
        if by_mutator {
            // Counted before leaving flight, so `drain` (which waits for no
            // assist in flight) reads every assist's work.
            self.objects.fetch_add(report.objects, SeqCst);
            self.bytes.fetch_add(report.bytes, SeqCst);
            self.last_assist_ns.store(self.now_ns(), SeqCst);
        }
        std::mem::forget(flight);
        self.in_flight.fetch_sub(1, SeqCst);
        report
    }
}

impl Marker for AssistedMarker {
    fn drain(&self, work: &MarkWork<'_>) -> MarkReport {
        use std::sync::atomic::Ordering::SeqCst;
        self.objects.store(0, SeqCst);
        self.bytes.store(0, SeqCst);
        self.last_assist_ns.store(self.now_ns(), SeqCst);
        self.active.store(true, SeqCst);
        // Assists stop with the drain, also when its own tracing panics
        // (else mutators would assist, and not pace, for ever).
        struct Active<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Active<'_> {
            fn drop(&mut self) {
                self.0.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let _active = Active(&self.active);
        let mut own = MarkReport::default();
        let mut last = Instant::now();
        loop {
            work.give_way(&mut last);
            if self.failed.load(SeqCst) {
                panic!("a mark assist panicked: a Trace implementation panicked on a mutator thread");
            }
            if self.in_flight.load(SeqCst) == 0 && work.grey.is_empty() && self.in_flight.load(SeqCst) == 0 {
                break;
            }
            let idle_for = self.now_ns().saturating_sub(self.last_assist_ns.load(SeqCst));
            if idle_for >= IDLE_TAKEOVER.as_nanos() as u64 {
                own += self.chunk(work, 4096, false);
            } else {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
        self.active.store(false, SeqCst);
        // Assists that saw `active` just before it turned off may still be
        // running: wait for them (they are bounded).
        while self.in_flight.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        own += MarkReport { objects: self.objects.load(SeqCst), bytes: self.bytes.load(SeqCst) };
        own
    }

    fn assist(&self, work: &MarkWork<'_>, budget: usize) -> MarkReport {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.active.load(SeqCst) {
            return MarkReport::default();
        }
        self.chunk(work, budget, true)
    }

    fn wants_assists(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The bytes of tracing an assist may do per object of its budget.
const ASSIST_BYTES_PER_OBJECT: usize = 64;
