//! Lookups in a transaction's write log that stay cheap when it is long.
//!
//! A transaction looks its write log up by word address (a read of a word
//! it wrote, a second write to a word) and by object (is this the first
//! write to it). A linear scan is fastest for the few writes most
//! transactions make; a transaction that fills a published array of a
//! million elements would make it quadratic. So past [`LINEAR`] entries
//! the log gets hash indexes, brought up to date on each lookup.
//!
//! Invariant (WI1): the log only grows during an attempt (entries are
//! appended or replaced in place, never removed or reordered), so an index
//! entry, once made, stays right until [`WriteIndex::clear`], which the
//! attempt's end calls with the log's.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::Write;

/// Log length up to which lookups scan.
const LINEAR: usize = 32;

/// Indexes over a write log (see the module docs).
#[derive(Default)]
pub(crate) struct WriteIndex {
    /// The hash indexes, made for the first log longer than `LINEAR`
    /// (boxed: most transactions never need them, and the logs they sit
    /// in are on every transaction's path).
    maps: Option<Box<Maps>>,
    /// Log entries already in the indexes.
    indexed: usize,
}

#[derive(Default)]
struct Maps {
    by_addr: HashMap<usize, usize, BuildHasherDefault<AddrHasher>>,
    objs: HashSet<usize, BuildHasherDefault<AddrHasher>>,
}

impl WriteIndex {
    /// Out of line: the short logs' scans stay inline in the callers.
    #[inline(never)]
    fn catch_up(&mut self, writes: &[Write]) -> &Maps {
        let maps = self.maps.get_or_insert_with(Default::default);
        for (i, w) in writes.iter().enumerate().skip(self.indexed) {
            maps.by_addr.insert(w.addr(), i);
            maps.objs.insert(w.obj().addr().get());
        }
        self.indexed = writes.len();
        maps
    }

    /// The position of the logged write to word `addr`, if any.
    #[inline]
    pub(crate) fn find(&mut self, writes: &[Write], addr: usize) -> Option<usize> {
        if writes.len() <= LINEAR {
            return writes.iter().rposition(|w| w.addr() == addr);
        }
        self.catch_up(writes).by_addr.get(&addr).copied()
    }

    /// Whether the log holds a write to object `obj`.
    #[inline]
    pub(crate) fn wrote(&mut self, writes: &[Write], obj: usize) -> bool {
        if writes.len() <= LINEAR {
            return writes.iter().any(|w| w.obj().addr().get() == obj);
        }
        self.catch_up(writes).objs.contains(&obj)
    }

    /// Forget everything (the log was cleared).
    #[inline]
    pub(crate) fn clear(&mut self) {
        if self.indexed > 0 {
            self.clear_maps();
        }
    }

    #[cold]
    fn clear_maps(&mut self) {
        if let Some(m) = &mut self.maps {
            m.by_addr.clear();
            m.objs.clear();
            // LG1 of `tx/mod.rs`: as the logs, not kept at the size one
            // large attempt grew them to.
            if m.by_addr.capacity() > super::LOG_TRIM_ABOVE {
                m.by_addr.shrink_to(super::LOG_KEEP);
            }
            if m.objs.capacity() > super::LOG_TRIM_ABOVE {
                m.objs.shrink_to(super::LOG_KEEP);
            }
        }
        self.indexed = 0;
    }
}

/// A hasher for word and object addresses (8- and 16-byte aligned):
/// Fibonacci hashing of the address without its zero low bits.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let h = ((n >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}
