//! The block life cycle: every move of a block from one state to another.
//!
//! ## States
//! A block's `state` (the constants are in `chunk::state`) is the only
//! truth about who owns it; the per-chunk hint bitmaps (`pool.rs`) only
//! help find candidates.
//!
//! | state | meaning | who moves it out, how, where |
//! |---|---|---|
//! | FREE | empty, in the pool | an allocator, CAS to CLAIMING ([`claim_free`]); a decommit, CAS to SWEEPING as a lock (`decommit.rs`, back to FREE at once) |
//! | CLAIMING | empty, owned by its claimer, not yet stamped | its claimer, a store to ALLOC ([`claim_free`]) |
//! | ALLOC | owned by one allocator | its owner, a store ([`retire_block`], [`release_block`], [`make_free`]) |
//! | USED | holds objects, no hole offered | a sweeper, CAS to SWEEPING ([`claim_unswept`]) |
//! | RECYCLABLE | holds objects and a hole chain valid for `swept_epoch`, with a hole of at least [`RECYCLE_MIN_HOLE`] granules | an allocator, CAS to ALLOC ([`claim_recyclable`]); a sweeper, CAS to SWEEPING ([`claim_unswept`]) |
//! | SWEEPING | owned by an eager sweeper ([`sweep_unswept_blocks`]) or an allocator sweeping lazily ([`lazy_sweep`]), or FREE under the decommit lock (`decommit.rs`: counted as used and unswept while held) | its claimer, a store: to FREE/USED/RECYCLABLE ([`settle`]), back to where it was claimed from ([`release_block`], also when a drop hook panics, sweep.rs (SW1)), or to ALLOC (a lazy sweep keeps it) |
//! | META | holds chunk metadata | never |
//!
//! **Ownership moves by CAS on the state**: `FREE -> CLAIMING` (then ALLOC
//! by its claimer), `RECYCLABLE -> ALLOC`, `USED|RECYCLABLE -> SWEEPING`. A
//! CAS that fails means someone else got there first; nobody ever owns a
//! block twice (loom model `pool_claims_are_exclusive`). Only the owner
//! stores a state, and only the owner writes the block's metadata.
//!
//! Claiming goes through a hint (`pool::claim_in_chunk`): a claimer first
//! wins the hint bit with `fetch_and` (so two claimers rarely chase the same
//! block), then CASes the state. Hints may be stale; the rule that keeps
//! them from losing a block is:
//! - (B1) whoever moves a block *into* FREE or RECYCLABLE, or makes it
//!   unowned while it still needs sweeping, stores the state first and sets
//!   the hint after (`fetch_or`), so a hint that was cleared by a claimer whose
//!   CAS failed is set again by the next transition into the hinted state.
//!   [`release_block`] and [`make_free`] are the only ways a block becomes
//!   unowned (besides the decommit lock, which puts FREE back with its hint).
//!
//! ## Sweep epochs and the stamp
//! A block stamped with epoch `s` (`swept_epoch`) has been swept for `s`, or
//! was claimed empty in `s`; a sweep for `s` never looks at it again (see
//! `space.rs`, "Sweep epochs"). A block is swept for an epoch by whoever
//! claims it first from USED or RECYCLABLE with a stamp older than the
//! epoch: the eager sweep or a lazy one. An owned block (ALLOC) is never
//! swept; its owner retires it and [`release_block`] hints it then. Retiring
//! against `begin_sweep` is a store-buffering pair, closed by a
//! read-modify-write of the epoch on both sides: see [`release_block`].

use std::ptr::NonNull;

use crate::bitmap;
use crate::chunk::{state, BlockRef, SmallChunk};
use crate::holes::{ChainBuilder, Free, Hole};
use crate::layout::*;
use crate::pool::{self, cas_state, claim_in_chunk, for_each_chunk_from, ChunkTable, Hint};
use crate::space::{SpaceInner, SweepReport};
use crate::sweep::{sweep_block, Swept};
use crate::sync::{AtomicU64, Ordering};

/// How many unswept blocks one refill may sweep before it takes a free block.
const LAZY_SWEEP_ATTEMPTS: usize = 16;

/// The claim CAS of a sweep, lazy or eager: take one block of chunk `c`
/// hinted unswept that `accept` likes, `USED|RECYCLABLE -> SWEEPING`.
/// Returns the block and the state it was claimed from (`prev`), where it
/// goes back to if it is not swept after all.
pub(crate) fn claim_unswept(c: NonNull<SmallChunk>, accept: impl FnMut(BlockRef) -> bool) -> Option<(BlockRef, u8)> {
    let mut prev = state::USED;
    let claimed = claim_in_chunk(c, Hint::Unswept, accept, |b| {
        for from in [state::USED, state::RECYCLABLE] {
            if cas_state(b, from, state::SWEEPING) {
                prev = from;
                return true;
            }
        }
        false
    });
    claimed.map(|b| (b, prev))
}

/// Claim a FREE block for allocation (`FREE -> CLAIMING -> ALLOC`) anywhere in the table,
/// starting at chunk `start`, and stamp it as swept in the current epoch
/// (it holds nothing to sweep).
///
/// Only a block's owner may write its metadata (a claimer that lost could
/// otherwise stamp a block someone else owns), so the claim goes through
/// CLAIMING: `FREE -> CLAIMING` by CAS, the stamp, then ALLOC. A block is
/// never ALLOC with the stamp of an older epoch than the one its claimer
/// read, and `Space::unswept_blocks` does not count a CLAIMING block (it
/// holds nothing), so a count taken mid-claim is exact.
pub(crate) fn claim_free(table: &ChunkTable, sweep_epoch: &AtomicU64, start: usize) -> Option<BlockRef> {
    for_each_chunk_from(table, start, |c| {
        claim_in_chunk(
            c,
            Hint::Free,
            |_| true,
            |b| {
                if !cas_state(b, state::FREE, state::CLAIMING) {
                    return false;
                }
                b.meta().swept_epoch.store(sweep_epoch.load(Ordering::SeqCst), Ordering::Release);
                b.meta().state.store(state::ALLOC, Ordering::SeqCst);
                true
            },
        )
    })
}

/// Claim a RECYCLABLE block swept in `epoch` whose largest hole has at
/// least `need` granules (`RECYCLABLE -> ALLOC`), searching from chunk
/// `start`. Returns it with its hole chain, unread.
pub(crate) fn claim_recyclable(space: &SpaceInner, start: usize, need: usize, epoch: u64) -> Option<(BlockRef, Free)> {
    let recycled = for_each_chunk_from(&space.chunks, start, |c| {
        claim_in_chunk(
            c,
            Hint::Recyclable,
            |b| {
                b.meta().max_hole.load(Ordering::Relaxed) as usize >= need
                    && b.meta().swept_epoch.load(Ordering::Relaxed) == epoch
            },
            |b| cas_state(b, state::RECYCLABLE, state::ALLOC),
        )
    });
    if let Some(b) = recycled {
        if b.meta().swept_epoch.load(Ordering::Acquire) == epoch
            && b.meta().max_hole.load(Ordering::Relaxed) as usize >= need
        {
            return Some((b, Free::chain_of(b)));
        }
        // Its epoch or holes changed between the hint and the claim
        // (another allocator used it, or a sweep epoch began). Put it
        // back; never sweep here: it may already be swept for this
        // epoch, and sweeping twice frees live white objects.
        release_block(space, b, state::RECYCLABLE);
    }
    None
}

/// Sweep a block claimed (SWEEPING) from `prev` for `epoch`, and count its
/// live bytes in the space. A panicking drop hook leaves it in `prev` (SW1).
fn sweep_claimed(space: &SpaceInner, b: BlockRef, epoch: u64, prev: u8) -> Swept {
    let s = sweep_block(space, b, epoch, prev);
    space.live_bytes.fetch_add(s.live * GRANULE, Ordering::Relaxed);
    s
}

/// The lazy sweep of an allocator's refill: claim blocks still unswept in
/// `epoch` (searching from chunk `start`) and sweep them, until one has a
/// hole of at least `need` granules; that one is kept (ALLOC, owned by the
/// caller) and returned with its free space (its chain, unread). Gives up after
/// `LAZY_SWEEP_ATTEMPTS` blocks. Unless `lazy_drop`, blocks with objects
/// that need a destructor are left for a sweeper or a commit point.
pub(crate) fn lazy_sweep(
    space: &SpaceInner,
    start: usize,
    epoch: u64,
    need: usize,
    lazy_drop: bool,
) -> Option<(BlockRef, Free)> {
    for _ in 0..LAZY_SWEEP_ATTEMPTS {
        let claimed = for_each_chunk_from(&space.chunks, start, |c| {
            claim_unswept(
                c,
                // Only test the pointer: the bitmap of a block we do not
                // own may be freed at any moment.
                |b| lazy_drop || b.meta().drop_bits.load(Ordering::Relaxed).is_null(),
            )
        });
        let Some((b, prev)) = claimed else { break };
        let done = b.meta().swept_epoch.load(Ordering::Acquire) >= epoch;
        if done || (!lazy_drop && b.drop_bits().is_some()) {
            release_block(space, b, prev);
            if !done {
                pool::set_hint(b, Hint::Unswept);
                break; // leave it for a sweeper or a commit point
            }
            continue;
        }
        if let Some(r) = sweep_for_alloc(space, b, prev, epoch, need) {
            return Some(r);
        }
    }
    None
}

/// Sweep a block we hold in SWEEPING (claimed from `prev`); keep it if
/// a hole fits, else settle it. A panicking drop hook leaves it in `prev`.
fn sweep_for_alloc(space: &SpaceInner, b: BlockRef, prev: u8, epoch: u64, need: usize) -> Option<(BlockRef, Free)> {
    let s = sweep_claimed(space, b, epoch, prev);
    if s.live == 0 {
        b.meta().state.store(state::ALLOC, Ordering::SeqCst);
        return Some((b, Free::Whole));
    }
    if s.max_hole >= need {
        b.meta().state.store(state::ALLOC, Ordering::SeqCst);
        return Some((b, Free::chain_of(b)));
    }
    settle(space, b, s);
    None
}

/// The eager sweep of the blocks (`Space::sweep`): claim and sweep every
/// block hinted unswept, for `epoch`, adding to `report`. Returns `false`
/// if it gave way because the epoch moved (the caller then stops too).
///
/// Why this terminates: a block goes back unswept only through
/// [`release_block`], which hints it again only if its stamp is older
/// than the space's epoch. A block stamped `epoch` by this call (or
/// earlier) is therefore offered again only once the epoch has
/// moved, and then the check below stops the call at its next
/// claim. Without that check the call claimed, put back and re-hinted
/// the same block forever (issue 25 A).
pub(crate) fn sweep_unswept_blocks(s: &SpaceInner, epoch: u64, report: &mut SweepReport) -> bool {
    for i in 0..s.chunks.len() {
        let c = s.chunks.get(i);
        while let Some((b, prev)) = claim_unswept(c, |_| true) {
            if s.sweep_epoch.load(Ordering::SeqCst) != epoch {
                // The epoch moved: give way (see above).
                release_block(s, b, prev);
                return false;
            }
            if b.meta().swept_epoch.load(Ordering::Acquire) >= epoch {
                release_block(s, b, prev);
                continue;
            }
            let swept = sweep_claimed(s, b, epoch, prev);
            report.blocks_swept += 1;
            report.live_bytes += swept.live * GRANULE;
            report.objects_dropped += swept.dropped;
            if swept.live == 0 {
                report.blocks_freed += 1;
            }
            settle(s, b, swept);
        }
    }
    true
}

/// The largest hole, in granules, that makes a block RECYCLABLE (offered
/// to allocators); a block whose holes are all smaller is USED until a
/// later sweep finds more room in it. Without this floor the recyclable
/// search read the metadata of every block with a hole too small for the
/// request, on every refill: 17% of GCBench's mutator samples in
/// generational mode (AMD EPYC VM; the `perf` command is in
/// docs/PERFORMANCE.md).
pub(crate) const RECYCLE_MIN_HOLE: usize = 4;

/// Give an owned block back: free if it holds nothing, RECYCLABLE if it has
/// `holes` (free regions, sorted, each starting a filler) and was swept in
/// the current epoch, USED otherwise; hinted as unswept if it needs a sweep.
pub(crate) fn retire_block(space: &SpaceInner, b: BlockRef, holes: &[Hole]) {
    debug_assert_eq!(pool::state_of(b), state::ALLOC, "retiring a block not owned");
    for h in holes {
        bitmap::set_owned(b.starts(), h.start);
    }
    let live = bitmap::next_set(b.starts(), 0).is_some_and(|_| {
        let free: usize = holes.iter().map(|h| h.len).sum();
        free < BLOCK_GRANULES
    });
    if !live {
        make_free(space, b);
        return;
    }
    let epoch = space.sweep_epoch.load(Ordering::SeqCst);
    let swept = b.meta().swept_epoch.load(Ordering::Relaxed);
    let mut st = state::USED;
    if !holes.is_empty() && swept == epoch {
        let mut chain = ChainBuilder::new(b);
        for h in holes {
            chain.push(*h);
        }
        if chain.finish() >= RECYCLE_MIN_HOLE {
            st = state::RECYCLABLE;
        }
    }
    release_block(space, b, st);
}

/// Put a block that was just swept (state SWEEPING or ALLOC, owned by the
/// caller) where it belongs: the pool, the recyclable set, or used.
pub(crate) fn settle(space: &SpaceInner, b: BlockRef, swept: Swept) {
    if swept.live == 0 {
        make_free(space, b);
    } else if swept.max_hole >= RECYCLE_MIN_HOLE {
        release_block(space, b, state::RECYCLABLE);
    } else {
        release_block(space, b, state::USED);
    }
}

/// Give up ownership of a block that holds objects, as USED or RECYCLABLE:
/// store the state, set its hints (B1), and hint it unswept if a sweep epoch
/// it has not been swept for has begun. Every path that makes a block
/// unowned with objects in it goes through here.
///
/// The epoch is read with a read-modify-write after the state store.
/// `begin_sweep` bumps the epoch with an RMW and then loads block states.
/// The two RMWs are ordered in the epoch's modification order: if ours is
/// later it reads the new epoch and we hint; if it is earlier, begin_sweep's
/// RMW reads from it (release/acquire), so our state store happens-before
/// begin_sweep's state load, which sees the block and hints it. Either way
/// the block is never left unswept and unhinted. (A plain load would need
/// SeqCst's total order, which loom does not model; loom found the lost
/// block with one.)
pub(crate) fn release_block(space: &SpaceInner, b: BlockRef, st: u8) {
    debug_assert!(st == state::USED || st == state::RECYCLABLE, "release_block to state {st}");
    b.meta().state.store(st, Ordering::SeqCst);
    if st == state::RECYCLABLE {
        pool::set_hint(b, Hint::Recyclable);
    }
    if b.meta().swept_epoch.load(Ordering::Acquire) < space.sweep_epoch.fetch_add(0, Ordering::AcqRel) {
        pool::set_hint(b, Hint::Unswept);
    }
}

/// Return an owned block that holds no object to the pool.
pub(crate) fn make_free(space: &SpaceInner, b: BlockRef) {
    debug_assert!(
        bitmap::count(b.marks()) == 0 || bitmap::next_set(b.starts(), 0).is_none(),
        "freeing a block with marked objects"
    );
    bitmap::clear_all(b.starts());
    bitmap::clear_all(b.marks());
    b.free_drop_bits();
    // Free since this epoch: the idle test of `decommit.rs` reads it (a
    // FREE block's stamp means nothing else, and its claimer stamps it).
    b.meta().swept_epoch.store(space.sweep_epoch.load(Ordering::SeqCst), Ordering::Relaxed);
    b.meta().state.store(state::FREE, Ordering::SeqCst);
    pool::set_hint(b, Hint::Free);
    space.unreserve_heap(BLOCK_BYTES);
}
