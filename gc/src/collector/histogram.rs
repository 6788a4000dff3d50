//! [`Histogram`]: the pause histograms of [`crate::GcStats`], nanoseconds
//! from 1 ns to 60 s at two significant digits. A wrapper, so the
//! histogram crate behind it (`hdrhistogram`) can change without
//! changing tmgc's API.

/// A histogram of durations in nanoseconds (pauses at commit points).
///
/// ```
/// let heap = tmgc::Heap::new(tmgc::Config::default()).unwrap();
/// heap.collect().unwrap();
/// let p = heap.stats().pauses;
/// assert!(p.is_empty() || p.value_at_quantile(0.99) <= p.max());
/// ```
#[derive(Clone, Default)]
pub struct Histogram {
    /// Made at the first value recorded or added: its counts are about
    /// 30 KiB, so a thread that never pauses (and a `Pauses` that is only
    /// moved or cloned) costs no allocation, zeroing or copy of them.
    inner: Option<Box<hdrhistogram::Histogram<u64>>>,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram { inner: None }
    }

    fn counts(&mut self) -> &mut hdrhistogram::Histogram<u64> {
        self.inner.get_or_insert_with(|| {
            Box::new(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 2).expect("valid histogram bounds"))
        })
    }

    /// Record one value (clamped to the histogram's range).
    #[inline]
    pub(crate) fn record(&mut self, ns: u64) {
        self.counts().saturating_record(ns.max(1));
    }

    /// Add every value of `other`.
    pub(crate) fn add(&mut self, other: &Histogram) {
        if let Some(o) = other.inner.as_deref().filter(|o| !o.is_empty()) {
            let _ = self.counts().add(o);
        }
    }

    pub(crate) fn reset(&mut self) {
        if let Some(h) = &mut self.inner {
            h.reset();
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.len())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest value recorded (0 if none).
    pub fn min(&self) -> u64 {
        match &self.inner {
            Some(h) if !h.is_empty() => h.min(),
            _ => 0,
        }
    }

    /// The largest value recorded (0 if none).
    pub fn max(&self) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.max())
    }

    /// The mean of the values recorded (0 if none).
    pub fn mean(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |h| h.mean())
    }

    /// Values recorded between `low` and `high` (both included, to the
    /// histogram's precision: two significant digits).
    pub fn count_between(&self, low: u64, high: u64) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.count_between(low, high.min(h.high())))
    }

    /// The value at quantile `q` (0.99 for p99); 0 if none was recorded.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.value_at_quantile(q))
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.len())
            .field("min", &self.min())
            .field("p50", &self.value_at_quantile(0.5))
            .field("p99", &self.value_at_quantile(0.99))
            .field("max", &self.max())
            .finish()
    }
}

/// Serialised as its summary: `len`, `min`, `mean`, `p50`, `p90`, `p99`,
/// `p999` and `max`, in nanoseconds (the `serde` feature).
#[cfg(feature = "serde")]
impl serde::Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Histogram", 8)?;
        st.serialize_field("len", &self.len())?;
        st.serialize_field("min", &self.min())?;
        st.serialize_field("mean", &self.mean())?;
        st.serialize_field("p50", &self.value_at_quantile(0.5))?;
        st.serialize_field("p90", &self.value_at_quantile(0.9))?;
        st.serialize_field("p99", &self.value_at_quantile(0.99))?;
        st.serialize_field("p999", &self.value_at_quantile(0.999))?;
        st.serialize_field("max", &self.max())?;
        st.end()
    }
}
