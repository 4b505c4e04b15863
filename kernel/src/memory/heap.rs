//! The kernel heap: [`super::HEAP_SIZE`] of freshly mapped 4 KiB pages at
//! [`super::HEAP_START`], handed to the `linked_list_allocator` global allocator in `main.rs`.

use x86_64::VirtAddr;

use super::{HEAP_SIZE, HEAP_START, MappingKind, allocate_frame, frames::FRAME_SIZE, paging};

/// Maps the heap pages and initialises the global allocator.
pub fn init() -> Result<(), &'static str> {
    for offset in (0..HEAP_SIZE).step_by(FRAME_SIZE as usize) {
        let frame = allocate_frame().map_err(|_| "out of frames for the heap")?;
        paging::map_page(
            VirtAddr::new(HEAP_START + offset),
            frame,
            MappingKind::Memory,
        )
        .map_err(|_| "could not map the heap")?;
    }
    // SAFETY: the range was just mapped writable, is used by nothing else, and is initialised
    // exactly once (this runs once during boot, before any allocation).
    unsafe {
        crate::HEAP
            .lock()
            .init(HEAP_START as *mut u8, HEAP_SIZE as usize);
    }
    Ok(())
}
