//! binary-trees in a bump arena (bumpalo), reset after each tree: no
//! per-object free and no collector, the floor a collector is measured
//! against. Each thread has its own arena.
//!
//! `H` is the number of header words in front of each node: 0 for the
//! floor (a node of 16 bytes), 2 for the runner's `arena-header` system
//! (`TMGC_BENCH_ARENA_HEADER=1`): a node of tmgc's size, 32 bytes, whose
//! two header words are written at allocation as tmgc writes its type
//! word and version-lock word. It tells what the object's size costs an
//! allocator with no collector, apart from everything else tmgc does.
//! `TMGC_BENCH_ARENA_HEADER=8` gives 1 header word (a node of 24 bytes):
//! what an 8-byte header and granule would leave of that cost.

use bumpalo::Bump;

use super::{share, Trees};

/// What the header variant writes in each header word (a stand-in for a
/// type pointer; a constant, as tmgc's type word is for one type).
const HEADER_WORD: usize = 0x5eed;

struct Node<'a, const H: usize> {
    _header: [usize; H],
    kids: Option<(&'a Node<'a, H>, &'a Node<'a, H>)>,
}

/// The header words the runner asked for: `TMGC_BENCH_ARENA_HEADER=1`
/// (or `16`) for the 16-byte header tmgc had before V4 (docs/HEADER.md),
/// `8` for one 8-byte word (a node of 24 bytes: what an 8-byte header and
/// granule would have given it), else none: tmgc's object size today.
pub(crate) fn header_words() -> usize {
    match std::env::var("TMGC_BENCH_ARENA_HEADER").as_deref() {
        Ok("1" | "16") => 2,
        Ok("8") => 1,
        _ => 0,
    }
}

fn build<const H: usize>(a: &Bump, d: u32) -> &Node<'_, H> {
    a.alloc(Node { _header: [HEADER_WORD; H], kids: (d > 0).then(|| (build(a, d - 1), build(a, d - 1))) })
}

fn check<const H: usize>(n: &Node<'_, H>) -> u64 {
    1 + n.kids.map_or(0, |(l, r)| check(l) + check(r))
}

fn batch<const H: usize>(a: &mut Bump, d: u32, count: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..count {
        sum += check(build::<H>(a, d));
        a.reset();
    }
    sum
}

/// The arena's trees, with `H` header words per node.
#[derive(Default)]
pub(crate) struct ArenaTrees<const H: usize> {
    /// The long-lived tree, in an arena that lives as long as the process
    /// (leaked on purpose: it is freed at exit, as it would be at reset).
    kept: Option<&'static Node<'static, H>>,
    /// Thread 0's arena for short-lived trees.
    scratch: Bump,
}

impl<const H: usize> Trees for ArenaTrees<H> {
    type Shared = ();
    fn stretch(&mut self, d: u32) -> u64 {
        batch::<H>(&mut self.scratch, d, 1)
    }
    fn keep(&mut self, d: u32) {
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        self.kept = Some(build(arena, d));
    }
    fn check_kept(&mut self) -> u64 {
        check(self.kept.expect("kept"))
    }
    fn batch(&mut self, d: u32, count: u64, threads: usize) -> u64 {
        batch::<H>(&mut self.scratch, d, share(count, 0, threads))
    }
    fn shared(&self) {}
    fn batch_shared(_: &(), d: u32, count: u64, t: usize, threads: usize) -> u64 {
        batch::<H>(&mut Bump::new(), d, share(count, t, threads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_variants_have_their_object_sizes() {
        // tmgc's node is two 8-byte references and no header bytes (V4 of
        // docs/HEADER.md); the variants with header words measure what a
        // one-word and a two-word header (tmgc's before V4) cost.
        assert_eq!(std::mem::size_of::<Node<'static, 0>>(), 16 + tmgc::HEADER_BYTES);
        assert_eq!(std::mem::size_of::<Node<'static, 1>>(), 24);
        assert_eq!(std::mem::size_of::<Node<'static, 2>>(), 32);
    }

    #[test]
    fn both_variants_count_every_node() {
        let a = Bump::new();
        assert_eq!(check(build::<0>(&a, 6)), super::super::nodes(6));
        assert_eq!(check(build::<1>(&a, 6)), super::super::nodes(6));
        assert_eq!(check(build::<2>(&a, 6)), super::super::nodes(6));
    }
}
