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
        let mut run = 0usize;
        let mut first = None;
        for (index, used) in self.used.iter().enumerate() {
            // The run is at most index + 1 pages long, so it never saturates.
            run = if *used { 0 } else { run.saturating_add(1) };
            if run == pages {
                first = index.checked_add(1).and_then(|end| end.checked_sub(pages));
                break;
            }
        }
        let first = first?;
        self.used
            .get_mut(first..first.checked_add(pages)?)?
            .iter_mut()
            .for_each(|page| *page = true);
        self.base
            .checked_add((first as u64).checked_mul(PAGE_SIZE)?)
    }

    /// Frees what [`IoSpace::allocate`] returned. An address outside the IO space frees
    /// nothing.
    pub fn free(&mut self, address: u64, bytes: u64) {
        let Some(offset) = address.checked_sub(self.base) else {
            log::warn!("vgpu: free of {address:#x} below the IO space ignored");
            return;
        };
        let first = (offset / PAGE_SIZE) as usize;
        let pages = bytes.div_ceil(PAGE_SIZE).max(1) as usize;
        if let Some(range) = first
            .checked_add(pages)
            .and_then(|end| self.used.get_mut(first..end))
        {
            range.iter_mut().for_each(|page| *page = false);
        }
    }

    /// Pages in use.
    pub fn used_pages(&self) -> usize {
        self.used.iter().filter(|page| **page).count()
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const BASE: u64 = 0x1_0000_0000;

    #[test]
    fn free_below_the_base_frees_nothing() {
        let mut space = IoSpace::new(BASE, 16 * PAGE_SIZE);
        let address = space.allocate(PAGE_SIZE);
        assert_eq!(address, Some(BASE));
        space.free(BASE - PAGE_SIZE, 2 * PAGE_SIZE);
        space.free(0, u64::MAX);
        assert_eq!(space.used_pages(), 1);
    }

    #[test]
    fn free_past_the_end_frees_nothing() {
        let mut space = IoSpace::new(BASE, 16 * PAGE_SIZE);
        space.allocate(PAGE_SIZE);
        space.free(u64::MAX, u64::MAX);
        space.free(BASE + 8 * PAGE_SIZE, u64::MAX);
        assert_eq!(space.used_pages(), 1);
    }

    #[test]
    fn allocations_are_first_fit_and_freed_pages_are_reused() {
        let mut space = IoSpace::new(BASE, 16 * PAGE_SIZE);
        assert_eq!(space.allocate(1), Some(BASE));
        assert_eq!(space.allocate(2 * PAGE_SIZE), Some(BASE + PAGE_SIZE));
        space.free(BASE, 1);
        assert_eq!(space.allocate(PAGE_SIZE), Some(BASE));
        // 15 usable pages (the last page is never handed out): 3 used, 12 left.
        assert_eq!(space.allocate(13 * PAGE_SIZE), None);
        assert_eq!(space.allocate(u64::MAX), None);
        assert_eq!(space.allocate(12 * PAGE_SIZE), Some(BASE + 3 * PAGE_SIZE));
    }
}
