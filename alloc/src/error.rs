//! Errors: every misuse and every resource limit is a value, never an abort.

use std::fmt;

/// Why an allocation-layer call failed. Nothing is lost when one is returned:
/// every object stays allocated, the allocator resumes in the region it was
/// bumping, and the accounting is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocError {
    /// A zero-byte allocation was requested.
    ZeroSize,
    /// The request can never be satisfied: bigger than the heap limit or
    /// than the largest object this crate supports.
    TooLarge {
        /// Bytes requested.
        size: usize,
        /// The largest size that could ever succeed.
        max: usize,
    },
    /// The alignment is not a power of two, or above [`crate::MAX_ALIGN`].
    BadAlign {
        /// Alignment requested.
        align: usize,
    },
    /// The heap limit would be exceeded. A collector frees memory and retries.
    HeapExhausted {
        /// Bytes the allocator tried to add to the heap (a block, or a large object).
        requested: usize,
        /// Heap bytes in use when it tried.
        heap_bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The operating system refused to map more memory.
    OutOfMemory {
        /// Bytes the allocator asked the OS for.
        requested: usize,
    },
    /// The checkpoint belongs to another allocator.
    ForeignCheckpoint,
    /// The checkpoint was already released, or an older one was rewound past it.
    StaleCheckpoint,
    /// The call needs every checkpoint of this allocator released first.
    CheckpointOpen,
    /// A configuration value is out of range.
    InvalidConfig(&'static str),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::ZeroSize => write!(f, "zero-sized allocation requested"),
            AllocError::TooLarge { size, max } => {
                write!(f, "allocation of {size} bytes can never succeed: the maximum is {max} bytes")
            }
            AllocError::BadAlign { align } => write!(
                f,
                "alignment {align} is not supported: it must be a power of two no greater than {}",
                crate::MAX_ALIGN
            ),
            AllocError::HeapExhausted { requested, heap_bytes, limit } => {
                write!(f, "heap limit of {limit} bytes reached: {heap_bytes} bytes in use, {requested} more requested")
            }
            AllocError::OutOfMemory { requested } => {
                write!(f, "the operating system refused to map {requested} more bytes")
            }
            AllocError::ForeignCheckpoint => write!(f, "checkpoint belongs to another allocator"),
            AllocError::StaleCheckpoint => {
                write!(f, "checkpoint was already released or rewound past")
            }
            AllocError::CheckpointOpen => write!(f, "operation needs every checkpoint released first"),
            AllocError::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for AllocError {}
