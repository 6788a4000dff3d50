//! Minimum mutator utilisation (MMU): how much of any window of time a
//! mutator thread keeps for its own work.
//!
//! MMU(w) is the smallest share of any window of length `w` that a thread
//! spends outside its pauses (Cheng and Blelloch's measure of a
//! collector's responsiveness; Go reports it from its traces). A pause is
//! what `stats::Pauses` times: GC work at a commit point (a handshake
//! answer, a mark assist, the commit barrier while the barrier is on).
//! Giving way (`Config::give_way`) is not a pause and is not counted.
//!
//! Two measures live here:
//! - [`mmu`], exact, over a list of pause intervals (the per-cycle figure
//!   of `Config::gctrace`, from the last pauses a thread handed over);
//! - [`MmuMeter`], one per mutator thread, which measures MMU for the
//!   windows in [`WINDOWS`] over the thread's whole life, at a bounded
//!   cost per pause and in bounded memory, however many pauses there are
//!   (the pause bench sees millions).
//!
//! The meter cuts time into buckets of [`BUCKET`] and keeps each bucket's
//! pause time in a ring. Its invariants:
//! - **M1** (the sums). For each window `w` of `WINDOWS`, with
//!   `k = w / BUCKET`, `sums[i]` is the pause time in the last `k + 1`
//!   buckets up to `cur`, the bucket of the latest pause (the ring keeps at
//!   least `k + 1` of them).
//! - **M2** (conservative). Any window of length `w` lies within `k + 1`
//!   consecutive buckets, so its pause time is at most one of those sums;
//!   `worst[i]`, the largest sum seen, is at least the worst window's
//!   pause time. The reported MMU is therefore never above the true one,
//!   and below it by at most `BUCKET / w` (1% at 1 ms).
//! - **M3** (order). A thread's pauses are recorded in the order they
//!   start and do not overlap, so buckets only move forward; a pause whose
//!   clock reading steps back (a TSC a little behind on another core) is
//!   counted in the current bucket.
//!
//! Cost: a pause adds to one bucket (more for a pause longer than 10 µs);
//! a pause after a gap moves the ring forward a bucket at a time, three
//! subtractions and a store each, up to 10,001 buckets (a gap longer than
//! the largest window clears the ring instead), outside the timed pause.
//! The ring, 64 KiB, is allocated at a thread's first pause.

use std::time::Duration;

use super::stats::Instant;

/// The windows the meter measures: 1, 10 and 100 ms.
pub(crate) const WINDOWS: [Duration; 3] =
    [Duration::from_millis(1), Duration::from_millis(10), Duration::from_millis(100)];

/// The meter's time resolution.
pub(crate) const BUCKET: Duration = Duration::from_micros(10);

const BUCKET_NS: u64 = BUCKET.as_nanos() as u64;

/// Buckets per window, `k` of M1 (one more is summed).
const K: [u64; 3] = [
    WINDOWS[0].as_nanos() as u64 / BUCKET_NS,
    WINDOWS[1].as_nanos() as u64 / BUCKET_NS,
    WINDOWS[2].as_nanos() as u64 / BUCKET_NS,
];

/// Ring length: a power of two above the largest window's `k + 1`.
const RING: usize = (K[2] as usize + 2).next_power_of_two();

/// One thread's MMU meter (see the module docs).
pub(crate) struct MmuMeter {
    /// Bucket 0 starts here (the thread's first pause).
    epoch: Option<Instant>,
    /// Pause nanoseconds per bucket, bucket `b` at `b % RING`; allocated
    /// at the first pause (a thread that never pauses costs nothing).
    ring: Vec<u32>,
    /// The bucket of the latest pause.
    cur: u64,
    /// M1.
    sums: [u64; 3],
    /// M2: the largest of each sum so far.
    worst: [u64; 3],
}

impl MmuMeter {
    pub(crate) fn new() -> MmuMeter {
        MmuMeter { epoch: None, ring: Vec::new(), cur: 0, sums: [0; 3], worst: [0; 3] }
    }

    /// Count a pause of `len` that began at `start`; returns the worst
    /// pause time per window so far, in nanoseconds (M2).
    pub(crate) fn record(&mut self, start: Instant, len: Duration) -> [u64; 3] {
        let epoch = *self.epoch.get_or_insert(start);
        let s = start.saturating_duration_since(epoch).as_nanos() as u64;
        let e = s + len.as_nanos() as u64;
        let mut t = s;
        while t < e {
            let b = t / BUCKET_NS;
            let end = e.min((b + 1) * BUCKET_NS);
            self.add(b, end - t);
            t = end;
        }
        self.worst
    }

    fn add(&mut self, b: u64, ns: u64) {
        if self.ring.is_empty() {
            self.ring = vec![0; RING];
            self.cur = b;
        }
        // M3. A clock that steps back (a TSC that lags on another core, a
        // VM) gives an earlier bucket: counted in the current one, which
        // keeps the sums right and the figure off by at most a bucket.
        if b > self.cur {
            self.advance(b);
        }
        let slot = &mut self.ring[(self.cur as usize) % RING];
        *slot = slot.saturating_add(ns as u32);
        for i in 0..WINDOWS.len() {
            self.sums[i] += ns;
            self.worst[i] = self.worst[i].max(self.sums[i]);
        }
    }

    /// Move `cur` forward to `b`, dropping from each sum the buckets that
    /// leave its window (M1).
    fn advance(&mut self, b: u64) {
        if b - self.cur > K[2] + 1 {
            // Every window is past the old buckets: start afresh.
            self.ring.fill(0);
            self.sums = [0; 3];
            self.cur = b;
            return;
        }
        while self.cur < b {
            self.cur += 1;
            for (i, k) in K.iter().enumerate() {
                if let Some(gone) = self.cur.checked_sub(k + 1) {
                    self.sums[i] -= u64::from(self.ring[(gone as usize) % RING]);
                }
            }
            // The slot held bucket `cur - RING`, out of every window since.
            self.ring[(self.cur as usize) % RING] = 0;
        }
    }
}

/// MMU per window of [`WINDOWS`] from the worst pause times a meter
/// reported (`MmuMeter::record`).
pub(crate) fn utilisation(worst: [u64; 3]) -> [f64; 3] {
    std::array::from_fn(|i| 1.0 - (worst[i] as f64 / WINDOWS[i].as_nanos() as f64).min(1.0))
}

/// The minimum mutator utilisation of one thread over `[from, to]` for
/// windows of `w`, exactly: the smallest share of any window of that
/// length that the thread spent outside its pauses (1.0 with no pause; a
/// span shorter than `w` is one window). The worst window starts at
/// `from`, at a pause's start, or ends at a pause's end.
pub(crate) fn mmu(pauses: &[(Instant, Duration)], from: Instant, to: Instant, w: Duration) -> f64 {
    let span = to.saturating_duration_since(from);
    let w = w.min(span);
    if w.is_zero() {
        return 1.0;
    }
    let last_start = to - w;
    let overlap = |t: Instant| -> Duration {
        let end = t + w;
        pauses
            .iter()
            .map(|&(s, d)| {
                let (a, b) = (s.max(t), (s + d).min(end));
                b.saturating_duration_since(a)
            })
            .sum()
    };
    let starts = std::iter::once(from)
        .chain(pauses.iter().map(|&(s, _)| s))
        .chain(pauses.iter().filter_map(|&(s, d)| (s + d).checked_sub(w)))
        .map(|t| t.clamp(from, last_start));
    let worst = starts.map(overlap).max().unwrap_or_default();
    1.0 - (worst.as_secs_f64() / w.as_secs_f64()).min(1.0)
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn mmu_of_known_pauses() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let to = t0 + ms(100);
        assert_eq!(mmu(&[], t0, to, ms(10)), 1.0);
        // One 2 ms pause: the worst 10 ms window holds all of it.
        let one = [(t0 + ms(50), ms(2))];
        assert!((mmu(&one, t0, to, ms(10)) - 0.8).abs() < 1e-9);
        // Two 3 ms pauses 4 ms apart: a 10 ms window holds both.
        let two = [(t0 + ms(20), ms(3)), (t0 + ms(27), ms(3))];
        assert!((mmu(&two, t0, to, ms(10)) - 0.4).abs() < 1e-9);
        // A 1 ms window inside a pause: 0.
        assert_eq!(mmu(&two, t0, to, ms(1)), 0.0);
        // A pause at the very start counts (windows start at `from`).
        let edge = [(t0, ms(5))];
        assert!((mmu(&edge, t0, to, ms(10)) - 0.5).abs() < 1e-9);
        // A span shorter than the window is one window.
        assert!((mmu(&edge, t0, t0 + ms(8), ms(10)) - 3.0 / 8.0).abs() < 1e-9);
    }

    /// The meter's figure never exceeds the exact MMU (M2) and is below it
    /// by at most a bucket's share of the window, on random pause lists:
    /// sparse ones, dense bursts (the commit barrier while marking), long
    /// pauses spanning many buckets, and idle gaps longer than every
    /// window.
    #[test]
    fn the_meter_is_conservative_and_within_a_bucket_of_exact() {
        let mut rng = fastrand::Rng::with_seed(0x6d6d75);
        for case in 0..60 {
            let t0 = Instant::now();
            let mut t = t0 + Duration::from_nanos(rng.u64(0..5_000));
            let mut pauses = Vec::new();
            for _ in 0..rng.usize(1..400) {
                let gap = match rng.u8(0..10) {
                    0 => rng.u64(0..300_000_000), // idle, past every window
                    1..=4 => rng.u64(0..2_000),   // a burst
                    _ => rng.u64(0..3_000_000),
                };
                let len = match rng.u8(0..10) {
                    0 => rng.u64(0..20_000_000), // long, many buckets
                    _ => rng.u64(0..50_000),
                };
                t += Duration::from_nanos(gap);
                pauses.push((t, Duration::from_nanos(len)));
                t += Duration::from_nanos(len);
            }
            let mut meter = MmuMeter::new();
            let mut worst = [0; 3];
            for &(s, d) in &pauses {
                worst = meter.record(s, d);
            }
            let got = utilisation(worst);
            // Exact over a span that starts a window before the first pause
            // (the meter counts time before a thread's first pause as
            // mutator time) and ends at the last pause's end.
            let from = t0;
            let to = t + WINDOWS[2];
            for (i, &w) in WINDOWS.iter().enumerate() {
                let exact = mmu(&pauses, from, to, w);
                let slack = BUCKET.as_secs_f64() / w.as_secs_f64() + 1e-9;
                assert!(got[i] <= exact + 1e-9, "case {case}, {w:?}: meter {} above exact {exact}", got[i]);
                assert!(got[i] >= exact - slack, "case {case}, {w:?}: meter {} too far below exact {exact}", got[i]);
            }
        }
    }

    /// M3: a pause whose clock reading is earlier than the last one's (a
    /// TSC behind on another core) is counted, in the current bucket, and
    /// does not panic.
    #[test]
    fn a_clock_that_steps_back_is_counted_in_the_current_bucket() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut m = MmuMeter::new();
        m.record(t0 + us(100), us(3));
        let worst = m.record(t0 + us(50), us(4));
        assert_eq!(worst, [7_000; 3]);
    }

    #[test]
    fn pauses_take_the_windows_they_fill() {
        assert_eq!(utilisation([0; 3]), [1.0; 3]);
        // A pause longer than a window takes it whole.
        let mut m = MmuMeter::new();
        let w = m.record(Instant::now(), Duration::from_millis(20));
        assert_eq!(utilisation(w)[..2], [0.0, 0.0]);
        assert!((utilisation(w)[2] - 0.8).abs() < 0.011);
        // Pauses one window long in all, starting inside a bucket: they
        // span `k + 1` buckets, and the window that holds them is all
        // pause (M2).
        for (i, &w) in WINDOWS.iter().enumerate() {
            let mut m = MmuMeter::new();
            let t0 = Instant::now();
            m.record(t0, Duration::from_micros(1));
            let half = w / 2;
            m.record(t0 + Duration::from_micros(5), half);
            let worst = m.record(t0 + Duration::from_micros(5) + half, w - half);
            assert_eq!(utilisation(worst)[i], 0.0, "{w:?}");
        }
    }
}
