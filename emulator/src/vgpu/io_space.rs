//! The IO space: the guest-physical range announced with SETIOSPACEREGION, handed out in whole
//! pages for allocation views and fence pages. The bytes live in guest memory (`GuestMemory`,
//! addressed by GPA); the last page of the range is never handed out.

use dxg::wire::PAGE_SIZE;

/// First-fit page allocator over the IO space.
#[derive(Debug)]
pub struct IoSpace {
    base: u64,
    length: u64,
    used: Vec<bool>,
}

impl IoSpace {
    /// Covers `[base, base + length)`.
    pub fn new(base: u64, length: u64) -> Self {
        let pages = (length / PAGE_SIZE).saturating_sub(1).min(1 << 20) as usize;
        Self {
            base,
            length,
            used: vec![false; pages],
        }
    }

    /// Base GPA.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Allocates `bytes` (rounded up to pages, at least one), returning the GPA.
    pub fn allocate(&mut self, bytes: u64) -> Option<u64> {
        let pages = bytes.div_ceil(PAGE_SIZE).max(1) as usize;
        let mut run = 0;
        for index in 0..self.used.len() {
            run = if self.used[index] { 0 } else { run + 1 };
            if run == pages {
                let first = index + 1 - pages;
                self.used[first..=index]
                    .iter_mut()
                    .for_each(|page| *page = true);
                return Some(self.base + first as u64 * PAGE_SIZE);
            }
        }
        None
    }

    /// Frees what [`IoSpace::allocate`] returned.
    pub fn free(&mut self, address: u64, bytes: u64) {
        let first = ((address - self.base) / PAGE_SIZE) as usize;
        let pages = bytes.div_ceil(PAGE_SIZE).max(1) as usize;
        if let Some(range) = self.used.get_mut(first..first + pages) {
            range.iter_mut().for_each(|page| *page = false);
        }
    }

    /// Pages in use.
    pub fn used_pages(&self) -> usize {
        self.used.iter().filter(|page| **page).count()
    }
}
