//! D3DKMT-format handle allocation per host process: non-zero, index below 2^24 − 1, unique
//! across all object types of the process while live, and not reused right after a free (the
//! index only moves forward; it wraps after 16 M allocations, skipping live indices).

use dxg::wire::D3dkmtHandle;
use std::collections::BTreeSet;

/// Allocates handles for one host process.
#[derive(Debug)]
pub struct HandleAllocator {
    next_index: u32,
    generation: u32,
    live: BTreeSet<u32>,
}

impl Default for HandleAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl HandleAllocator {
    /// A fresh allocator (first index 1).
    pub fn new() -> Self {
        Self {
            next_index: 1,
            generation: 1,
            live: BTreeSet::new(),
        }
    }

    /// A new live handle, or `None` when all indices are live.
    pub fn allocate(&mut self) -> Option<D3dkmtHandle> {
        for _ in 0..=D3dkmtHandle::MAX_INDEX {
            let index = self.next_index;
            // next_index <= MAX_INDEX (< 2^24) and generation is 1 ..= 3: neither saturates.
            self.next_index = self.next_index.saturating_add(1);
            if self.next_index > D3dkmtHandle::MAX_INDEX {
                self.next_index = 1;
                self.generation = (self.generation % 3).saturating_add(1);
            }
            if !self.live.contains(&index) {
                self.live.insert(index);
                return Some(D3dkmtHandle::new(index, self.generation, 0));
            }
        }
        None
    }

    /// Frees a handle.
    pub fn free(&mut self, handle: D3dkmtHandle) {
        self.live.remove(&handle.index());
    }

    /// Number of live handles.
    pub fn live(&self) -> usize {
        self.live.len()
    }
}
