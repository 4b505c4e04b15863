//! `hyperv::platform::PageAllocator` over the kernel's frame allocator.

use hyperv::platform::{OutOfPages, PageAllocator, PagePurpose};
use x86_64::PhysAddr;

use crate::memory;

/// Hands out zeroed frames by physical address (the window maps them executable too, which the
/// hypercall page needs).
pub struct KernelPageAllocator;

impl PageAllocator for KernelPageAllocator {
    fn allocate_page(&mut self, _purpose: PagePurpose) -> Result<u64, OutOfPages> {
        let pages = memory::ContiguousPages::allocate_zeroed(1).map_err(|_| OutOfPages)?;
        let address = pages.physical_address().as_u64();
        core::mem::forget(pages); // owned by the SynIC until `free_page`
        Ok(address)
    }

    fn free_page(&mut self, gpa: u64, _purpose: PagePurpose) {
        memory::free_frame(PhysAddr::new(gpa));
    }
}
