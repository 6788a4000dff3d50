//! Side bitmaps: one bit per granule of a block, as a slice of atomic words.
//!
//! Who may write which bitmap, and how, is the rule that keeps these
//! race-free without read-modify-writes on the allocation fast path:
//! - **start bits** of a block are written only by the block's owner (the
//!   allocator that holds it, or the sweeper that claimed it), with a relaxed
//!   load and a relaxed store. Nobody reads them concurrently except through
//!   an ownership hand-off (the block-state CAS), which orders them.
//! - **mark bits** are set by markers and by black-allocation flushes with
//!   `fetch_or`, and cleared by rewind with `fetch_and` (markers may be setting
//!   neighbouring bits in the same word at the same time).

use crate::sync::{AtomicU64, Ordering};

/// Word index and bit mask of granule `i`.
#[inline(always)]
pub(crate) const fn locate(i: usize) -> (usize, u64) {
    (i / 64, 1u64 << (i % 64))
}

/// Set bit `i` with a plain (non-RMW) store. Only for bitmaps the caller owns.
#[inline(always)]
pub(crate) fn set_owned(words: &[AtomicU64], i: usize) {
    let (w, m) = locate(i);
    let word = &words[w];
    word.store(word.load(Ordering::Relaxed) | m, Ordering::Relaxed);
}

/// Is bit `i` set?
#[inline]
pub(crate) fn get(words: &[AtomicU64], i: usize, order: Ordering) -> bool {
    let (w, m) = locate(i);
    words[w].load(order) & m != 0
}

/// The words bits `[lo, hi)` (`lo < hi`) touch, each with the mask of
/// the range's bits in it: all ones but in the first and the last word.
/// The one home of the range arithmetic (granule indices are block-wide).
#[inline]
fn word_masks(lo: usize, hi: usize) -> impl Iterator<Item = (usize, u64)> {
    debug_assert!(lo < hi);
    let (first, last) = (lo / 64, (hi - 1) / 64);
    let (head, tail) = (!0u64 << (lo % 64), !0u64 >> (63 - (hi - 1) % 64));
    (first..=last).map(move |w| {
        let mut m = !0u64;
        if w == first {
            m &= head;
        }
        if w == last {
            m &= tail;
        }
        (w, m)
    })
}

/// Clear bits `[lo, hi)` with plain stores. Only for bitmaps the caller owns.
pub(crate) fn clear_range_owned(words: &[AtomicU64], lo: usize, hi: usize) {
    if lo >= hi {
        return;
    }
    for (w, m) in word_masks(lo, hi) {
        let word = &words[w];
        let v = word.load(Ordering::Relaxed);
        if v & m != 0 {
            word.store(v & !m, Ordering::Relaxed);
        }
    }
}

/// Clear bits `[lo, hi)` atomically (others may set other bits meanwhile).
pub(crate) fn clear_range_shared(words: &[AtomicU64], lo: usize, hi: usize) {
    if lo >= hi {
        return;
    }
    for (w, m) in word_masks(lo, hi) {
        let word = &words[w];
        if word.load(Ordering::Relaxed) & m != 0 {
            word.fetch_and(!m, Ordering::AcqRel);
        }
    }
}

/// `dst |= src & [lo, hi)`, atomically per word: used to flush black
/// allocation (the marks of every object start in the range).
pub(crate) fn or_range_from(dst: &[AtomicU64], src: &[AtomicU64], lo: usize, hi: usize) {
    if lo >= hi {
        return;
    }
    for (w, m) in word_masks(lo, hi) {
        let bits = src[w].load(Ordering::Relaxed) & m;
        if bits != 0 && dst[w].load(Ordering::Relaxed) & bits != bits {
            dst[w].fetch_or(bits, Ordering::AcqRel);
        }
    }
}

/// Zero every word with plain stores.
pub(crate) fn clear_all(words: &[AtomicU64]) {
    for w in words {
        if w.load(Ordering::Relaxed) != 0 {
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// Index of the first set bit at or after `from`, if any.
pub(crate) fn next_set(words: &[AtomicU64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    if w >= words.len() {
        return None;
    }
    let mut v = words[w].load(Ordering::Relaxed) & (!0u64 << (from % 64));
    loop {
        if v != 0 {
            return Some(w * 64 + v.trailing_zeros() as usize);
        }
        w += 1;
        if w == words.len() {
            return None;
        }
        v = words[w].load(Ordering::Relaxed);
    }
}

/// Index of the first set bit at or after `from` in a plain copy of a
/// bitmap (a sweep's snapshot of the marks), if any.
pub(crate) fn next_set_in(words: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut v = *words.get(w)? & (!0u64 << (from % 64));
    loop {
        if v != 0 {
            return Some(w * 64 + v.trailing_zeros() as usize);
        }
        w += 1;
        v = *words.get(w)?;
    }
}

/// Number of set bits in `[lo, hi)`.
pub(crate) fn count_range(words: &[AtomicU64], lo: usize, hi: usize) -> usize {
    if lo >= hi {
        return 0;
    }
    word_masks(lo, hi).map(|(w, m)| (words[w].load(Ordering::Relaxed) & m).count_ones() as usize).sum()
}

/// Number of set bits.
pub(crate) fn count(words: &[AtomicU64]) -> usize {
    words.iter().map(|w| w.load(Ordering::Relaxed).count_ones() as usize).sum()
}

#[cfg(all(test, not(tmgc_loom)))]
mod tests {
    use super::*;

    fn bm(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn set_clear_and_scan() {
        let b = bm(4);
        for i in [0, 63, 64, 130, 255] {
            set_owned(&b, i);
        }
        assert_eq!(count(&b), 5);
        assert_eq!(next_set(&b, 1), Some(63));
        assert_eq!(next_set(&b, 64), Some(64));
        assert_eq!(next_set(&b, 65), Some(130));
        assert_eq!(next_set(&b, 256), None);
        let plain: Vec<u64> = b.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        for from in [0, 1, 63, 64, 65, 130, 131, 255, 256] {
            assert_eq!(next_set_in(&plain, from), next_set(&b, from), "from {from}");
        }
        clear_range_owned(&b, 60, 131);
        assert_eq!(count(&b), 2);
        assert!(get(&b, 0, Ordering::Relaxed) && get(&b, 255, Ordering::Relaxed));
        clear_range_owned(&b, 0, 1);
        assert_eq!(next_set(&b, 0), Some(255));
    }

    #[test]
    fn ranges_cross_words() {
        let src = bm(4);
        let dst = bm(4);
        for i in (0..256).step_by(3) {
            set_owned(&src, i);
        }
        or_range_from(&dst, &src, 10, 200);
        let expect = (10..200).filter(|i| i % 3 == 0).count();
        assert_eq!(count(&dst), expect);
        clear_range_shared(&dst, 0, 256);
        assert_eq!(count(&dst), 0);
    }

    /// Every range operation against a bit-by-bit model, for ranges
    /// starting and ending at each bit position around word boundaries.
    #[test]
    fn range_operations_match_a_bit_model() {
        let n = 4 * 64;
        let pattern = |i: usize| (i * 7 + i / 5) % 3 != 0;
        let edges: Vec<usize> =
            if cfg!(miri) { vec![0, 1, 63, 64, 65, 127, 128, 190, 255, 256] } else { (0..=n).collect() };
        let load = |b: &[AtomicU64]| -> Vec<bool> { (0..n).map(|i| get(b, i, Ordering::Relaxed)).collect() };
        let filled = || {
            let b = bm(4);
            (0..n).filter(|&i| pattern(i)).for_each(|i| set_owned(&b, i));
            b
        };
        for &lo in &edges {
            for &hi in edges.iter().filter(|&&h| h >= lo) {
                let inside = |i: usize| lo <= i && i < hi;
                let expect_cleared: Vec<bool> = (0..n).map(|i| pattern(i) && !inside(i)).collect();
                let b = filled();
                clear_range_owned(&b, lo, hi);
                assert_eq!(load(&b), expect_cleared, "clear_range_owned {lo}..{hi}");
                let b = filled();
                clear_range_shared(&b, lo, hi);
                assert_eq!(load(&b), expect_cleared, "clear_range_shared {lo}..{hi}");
                let b = filled();
                assert_eq!(count_range(&b, lo, hi), (lo..hi).filter(|&i| pattern(i)).count(), "count_range {lo}..{hi}");
                let dst = bm(4);
                set_owned(&dst, 0);
                or_range_from(&dst, &b, lo, hi);
                let expect_or: Vec<bool> = (0..n).map(|i| i == 0 || (pattern(i) && inside(i))).collect();
                assert_eq!(load(&dst), expect_or, "or_range_from {lo}..{hi}");
            }
        }
    }
}
