//! The assisted marker: mutators trace at their commit points (the mark
//! assists of `assists.rs`), the collector thread takes over only when no
//! mutator assists.

use super::{MarkReport, MarkWork, Marker};

/// Mutator-assisted marking: no marker threads. While marking runs,
/// mutators trace a bounded number of grey objects at their commit points,
/// in proportion to what they allocate (like Go's mark assists); the
/// collector thread only waits, and traces by itself only when no mutator
/// has assisted for `IDLE_TAKEOVER` (all parked or not allocating), so
/// marking never depends on a mutator to finish (P0).
#[derive(Debug, Default)]
pub(crate) struct AssistedMarker;

/// How long the collector lets marking wait for assists before it traces
/// a chunk itself.
const IDLE_TAKEOVER: std::time::Duration = std::time::Duration::from_millis(2);

impl Marker for AssistedMarker {
    fn drain(&self, work: &MarkWork<'_>) -> MarkReport {
        let assists = work.assists;
        let mut last = std::time::Instant::now();
        assists.drain(work, || {
            work.give_way(&mut last);
            if assists.idle_ns() >= IDLE_TAKEOVER.as_nanos() as u64 {
                assists.takeover(work, 4096)
            } else {
                std::thread::sleep(std::time::Duration::from_micros(100));
                MarkReport::default()
            }
        })
    }

    fn assists_always(&self) -> bool {
        true
    }
}
