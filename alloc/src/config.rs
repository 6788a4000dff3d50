//! Configuration of a [`crate::Space`].

/// How a [`crate::Space`] takes memory from the OS.
///
/// ```
/// let config = tmgc_alloc::Config::default().heap_limit(64 << 20).huge_pages(true);
/// assert_eq!(config.get_heap_limit(), Some(64 << 20));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    heap_limit: Option<usize>,
    huge_pages: bool,
    decommit_empty_chunks: bool,
    decommit_free_blocks: bool,
    fold_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heap_limit: None,
            huge_pages: false,
            decommit_empty_chunks: true,
            decommit_free_blocks: true,
            fold_bytes: 64 << 10,
        }
    }
}

impl Config {
    /// Cap the heap (blocks in use plus large objects) at `bytes`.
    /// Allocations beyond it fail with [`crate::AllocError::HeapExhausted`].
    /// A limit below one block ([`crate::BLOCK_BYTES`], 32 KiB), 0
    /// included, is refused when the space is made
    /// ([`crate::AllocError::InvalidConfig`]).
    pub fn heap_limit(mut self, bytes: usize) -> Self {
        self.heap_limit = Some(bytes);
        self
    }

    /// Ask the OS for transparent huge pages on heap chunks (`MADV_HUGEPAGE`),
    /// which makes first-touch of fresh memory much cheaper.
    pub fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }

    /// Give the pages of idle chunks back to the OS after sweeping (default
    /// on). A chunk is idle when it was wholly free at two consecutive sweeps
    /// and no block was taken from it in between, so a heap in a steady state
    /// does not give memory back only to fault it in again.
    pub fn decommit_empty_chunks(mut self, on: bool) -> Self {
        self.decommit_empty_chunks = on;
        self
    }

    /// Let [`Space::release_free_blocks`](crate::Space::release_free_blocks)
    /// give single free blocks back to the OS (default on; the collector
    /// calls it after each sweep). Off, it gives back nothing: only wholly
    /// free chunks go back ([`Config::decommit_empty_chunks`]). Never with
    /// [`Config::huge_pages`], nor where the OS's pages are larger than a
    /// block (64 KiB pages on some AArch64 kernels).
    pub fn decommit_free_blocks(mut self, on: bool) -> Self {
        self.decommit_free_blocks = on;
        self
    }

    /// How many bytes a thread may allocate before it adds them to the
    /// space's shared counter (default 64 KiB). Smaller is more precise for
    /// a pacer, larger touches the shared counter less often.
    pub fn fold_bytes(mut self, bytes: usize) -> Self {
        self.fold_bytes = bytes;
        self
    }

    /// The heap limit, if any.
    pub fn get_heap_limit(&self) -> Option<usize> {
        self.heap_limit
    }

    /// Whether huge pages are requested.
    pub fn get_huge_pages(&self) -> bool {
        self.huge_pages
    }

    /// Whether empty chunks are decommitted.
    pub fn get_decommit_empty_chunks(&self) -> bool {
        self.decommit_empty_chunks
    }

    /// Whether single free blocks may be decommitted.
    pub fn get_decommit_free_blocks(&self) -> bool {
        self.decommit_free_blocks
    }

    /// The per-thread folding threshold in bytes.
    pub fn get_fold_bytes(&self) -> usize {
        self.fold_bytes
    }
}
