//! The part of a process's address space where the kernel maps views for it (locked
//! allocations, fence pages, the framebuffer): a first-fit allocator of page ranges, with an
//! unmapped guard page after every view so that an overrun faults instead of reaching the next
//! view. Pure bookkeeping; the page tables are [`super::address_space::AddressSpace`]'s.

use alloc::collections::BTreeMap;

/// Start of the view region (inclusive).
pub const VIEW_REGION_START: u64 = 0x0000_6000_0000_0000;
/// End of the view region (exclusive); below the user stack.
pub const VIEW_REGION_END: u64 = 0x0000_7000_0000_0000;

const PAGE_SIZE: u64 = 4096;

/// Allocated views: start → length in bytes (whole pages, guard page not included).
#[derive(Debug, Default)]
pub struct ViewRegion {
    views: BTreeMap<u64, u64>,
}

impl ViewRegion {
    /// Reserves `length` bytes (rounded up to whole pages, at least one); returns the start
    /// address and the rounded length.
    pub fn reserve(&mut self, length: u64) -> Option<(u64, u64)> {
        let length = length.checked_next_multiple_of(PAGE_SIZE)?.max(PAGE_SIZE);
        let needed = length.checked_add(PAGE_SIZE)?;
        let mut candidate = VIEW_REGION_START;
        for (start, view_length) in &self.views {
            if start - candidate >= needed {
                break;
            }
            candidate = start + view_length + PAGE_SIZE;
        }
        if VIEW_REGION_END - candidate < needed {
            return None;
        }
        self.views.insert(candidate, length);
        Some((candidate, length))
    }

    /// Releases the view starting at `start`; returns its length, or `None` if there is none.
    pub fn release(&mut self, start: u64) -> Option<u64> {
        self.views.remove(&start)
    }
}
