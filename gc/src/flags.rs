//! Per-object transactional flags.
//!
//! Every object has a [`Header`](crate::header::Header) of two words,
//! kept beside the object in its chunk's side tables: the entry (the
//! type's 32-bit code, whose low 7 bits hold the [`ObjFlags`] below) and
//! the version-lock word (see [`vlock`]).
//!
//! | flag | meaning | set by, when | cleared by, when | under |
//! |---|---|---|---|---|
//! | `NEW` | allocated by the running transaction and not yet published: private to its thread, written in place, rewound on abort | the allocating transaction, at allocation | the same transaction at commit, before the Release store that publishes it; never, if the commit publishes none of its new objects (CM2 of `tx/commit.rs`: they are garbage from then on, and the commit rewinds them as an abort does, CM3) | the owning thread only (nobody else can reach it) |
//! | `HAS_DROP` | sweeping must run the type's destructor | allocation, from the type | never | immutable |
//! | `WEAK` | a weak cell (`Weak<T>`): its one reference word is not traced, and the collector clears it when its referent dies; a commit that publishes one registers it with the collector | allocation, from the weak-cell type | never | immutable |
//! | `FINALIZABLE` | *reserved*, never set: finalizers do not use a header bit (a registration's place in the collector's registry or queue is its state, F1 of `collector/finalize.rs`, so a finalizer can be registered on any object, old or new, and runs once) | - | - | - |
//! | `LARGE` | the object lives in the large-object space | allocation, from its size | never | immutable |
//! | `CARDS` | *reserved* for large arrays whose reference slots are tracked by card marking; not set yet | allocation | never | immutable |
//! | `LOGGED` | generational mode: the object is an old holder in some thread's remembered set (RS2 of `collector/remset.rs`), so a further store of a young reference into it is not logged again | a commit with the barrier off (or closed), after validation, holding the object's lock, by compare-and-swap (`Header::try_log`); or the thread that allocated it, before publishing it | the collector at a cycle's T, when it takes the entry (`Header::clear_logged`, compare-and-swap), before it traces the holder | atomic read-modify-writes of the entry; never on an unpublished object by anyone but its owner |
//!
//! All flags but `NEW` and `LOGGED` are fixed at allocation; `NEW` changes
//! only before publication, and `LOGGED` only by atomic read-modify-writes
//! that leave every other bit as it is. So once an object is published its
//! type, shape, length and fixed flags never change, which is what the
//! commit protocol and the marker rely on (docs/COLLECTOR.md, P2d); the
//! version-lock word and `LOGGED` are the only words of a header that
//! change.
//!
//! **Candidates not taken.** `HAS_SHADOW` is not a header bit: several
//! transactions may hold private copies of one object at once, so "has a
//! shadow" belongs to each transaction's write set, not to the object.
//! `LOCKED` and `INEVITABLE_OWNED` live in the version-lock word, where the
//! commit takes them with one CAS together with the version.

bitflags::bitflags! {
    /// Per-object flags; see the [module docs](self) for who sets and clears each.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ObjFlags: usize {
        /// Allocated by the running transaction; not yet published.
        const NEW = 1 << 0;
        /// Sweeping runs the type's destructor.
        const HAS_DROP = 1 << 1;
        /// A weak reference object.
        const WEAK = 1 << 2;
        /// Has a finalizer.
        const FINALIZABLE = 1 << 3;
        /// Lives in the large-object space.
        const LARGE = 1 << 4;
        /// A large array with card marking.
        const CARDS = 1 << 5;
        /// In a remembered set (generational mode); see the module docs.
        const LOGGED = 1 << 6;
    }
}

/// Bits of the entry that hold flags (`TypeInfo` is 128-byte aligned, so a
/// type's code has these bits clear: TC1 of `type_code.rs`).
pub(crate) const FLAG_MASK: usize = 0b111_1111;

/// The version-lock word: TL2's versioned lock, with the last writer's tag.
///
/// | bits | meaning |
/// |---|---|
/// | 0 `LOCKED` | a committing transaction holds the object (between locking its write set and writing back) |
/// | 1 `OWNED` | the mutator named by the tag owns the object (`crate::owned`): its transactions read and write it as a solo transaction does, and every other one treats the word as held until the owner releases it |
/// | 2..22 tag | the writer tag of the mutator whose commit last wrote the object (0: never written by a commit, or released by its owner: OW4 of `owned`), or of its owner |
/// | 22..64 version | the write version of that commit (of an owned object: of the commit that took it) |
///
/// Every commit that writes an object gives it a version larger than the
/// one it had, so an object's version alone identifies its state: a reader
/// that samples the word, reads, and samples it again, and later finds the
/// same word, read a value that has not changed since (no ABA). Whether the
/// value belongs to the reader's snapshot is decided from the version and
/// the tag (`tx/mod.rs`: the lazy clock).
pub mod vlock {
    /// Held by a committing transaction.
    pub const LOCKED: u64 = 1 << 0;
    /// Owned by the mutator its tag names (`crate::owned`).
    pub const OWNED: u64 = 1 << 1;
    /// How far the writer tag is shifted.
    pub const TAG_SHIFT: u32 = 2;
    /// Bits of the writer tag: at most `2^20 - 1` mutators attached at once.
    pub const TAG_BITS: u32 = 20;
    /// The largest writer tag.
    pub const MAX_TAG: u32 = (1 << TAG_BITS) - 1;
    /// How far the version is shifted.
    pub const VERSION_SHIFT: u32 = TAG_SHIFT + TAG_BITS;

    /// The version in a version-lock word.
    #[inline]
    pub const fn version(word: u64) -> u64 {
        word >> VERSION_SHIFT
    }

    /// The writer tag in a version-lock word.
    #[inline]
    pub const fn tag(word: u64) -> u32 {
        ((word >> TAG_SHIFT) as u32) & MAX_TAG
    }

    /// An unlocked word: `version`, written by the mutator tagged `tag`.
    #[inline]
    pub const fn stamp(version: u64, tag: u32) -> u64 {
        version << VERSION_SHIFT | (tag as u64) << TAG_SHIFT
    }

    /// The word a commit by the mutator tagged `tag` holds while it has
    /// locked an object whose word was `word`: the version stays, the tag
    /// says who holds the lock.
    #[inline]
    pub const fn locked_by(word: u64, tag: u32) -> u64 {
        stamp(version(word), tag) | LOCKED
    }

    /// Whether the word is locked by a commit or owned by a mutator.
    #[inline]
    pub const fn is_held(word: u64) -> bool {
        word & (LOCKED | OWNED) != 0
    }

    /// The word of an object owned by the mutator tagged `tag`, taken by
    /// a commit at `version`.
    #[inline]
    pub const fn owned_by(version: u64, tag: u32) -> u64 {
        stamp(version, tag) | OWNED
    }

    /// Whether the word says the mutator tagged `tag` owns the object (one
    /// mask and one comparison: the version is left out).
    #[inline]
    pub const fn is_owned_by(word: u64, tag: u32) -> bool {
        word & !(u64::MAX << VERSION_SHIFT) == (OWNED | (tag as u64) << TAG_SHIFT)
    }

    /// The owner's tag if the word is owned (and not locked), else `None`.
    #[inline]
    pub const fn owner(word: u64) -> Option<u32> {
        if word & (LOCKED | OWNED) == OWNED {
            Some(tag(word))
        } else {
            None
        }
    }
}
