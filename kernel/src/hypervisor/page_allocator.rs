//! `hyperv::platform::PageAllocator` over the kernel's frame allocator, and the registry of the
//! pages it granted.
//!
//! The registry is what makes [`super::real::RealHypervisor`]'s safe MSR and hypercall methods
//! sound: the hypervisor overlays (HYPERCALL, SIMP, SIEFP) and reads or writes (slow hypercall
//! blocks) only pages this allocator handed out for that purpose and that are not yet freed,
//! never an arbitrary guest page.

use alloc::collections::BTreeMap;
use hyperv::platform::{OutOfPages, PageAllocator, PagePurpose};
use spin::Mutex;

use crate::memory;

/// Pages handed out and not yet freed, by GPA, with their purpose and the pages themselves
/// (freed, and no longer lendable, when the SynIC gives them back).
static GRANTED: Mutex<BTreeMap<u64, (PagePurpose, memory::ContiguousPages)>> =
    Mutex::new(BTreeMap::new());

/// Whether `gpa` is the start of a page granted for `purpose` and not yet freed.
pub fn is_granted(gpa: u64, purpose: PagePurpose) -> bool {
    GRANTED
        .lock()
        .get(&gpa)
        .is_some_and(|(granted, _)| *granted == purpose)
}

/// Hands out zeroed frames by physical address (the window maps them executable too, which the
/// hypercall page needs).
pub struct KernelPageAllocator;

impl PageAllocator for KernelPageAllocator {
    fn allocate_page(&mut self, purpose: PagePurpose) -> Result<u64, OutOfPages> {
        let pages = memory::ContiguousPages::allocate_zeroed(1).map_err(|_| OutOfPages)?;
        let address = pages.physical_address().as_u64();
        // Owned by the registry (lent to the SynIC) until `free_page`.
        GRANTED.lock().insert(address, (purpose, pages));
        Ok(address)
    }

    fn free_page(&mut self, gpa: u64, purpose: PagePurpose) {
        // Only a page this allocator granted for `purpose` goes back to the frame allocator.
        let mut granted = GRANTED.lock();
        if !granted
            .get(&gpa)
            .is_some_and(|(granted, _)| *granted == purpose)
        {
            log::warn!("hypervisor: free of a page not granted for {purpose:?}: {gpa:#x}");
            return;
        }
        let pages = granted.remove(&gpa);
        drop(granted);
        // The caller disabled the overlay or took the page back from the host: dropping the
        // pages frees the frame and makes it unreachable through `PhysicalMemory`.
        drop(pages);
    }
}
