//! The kernel heap: [`super::HEAP_SIZE`] of freshly mapped 4 KiB pages at
//! [`super::HEAP_START`], handed to the `linked_list_allocator` global allocator in `main.rs`
//! through [`KernelHeap`], which counts the callers inside the allocator: the heap's lock is a
//! kernel-global lock, and a fault while it is held is never contained ([`is_busy`]).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use linked_list_allocator::LockedHeap;
use x86_64::VirtAddr;

use super::{HEAP_SIZE, HEAP_START, MappingKind, allocate_frame, frames::FRAME_SIZE, paging};

/// Callers inside the allocator (its lock held, or about to be).
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// The global allocator: `linked_list_allocator`'s heap, with [`INSIDE`] counted around every
/// call.
pub struct KernelHeap {
    heap: LockedHeap,
}

impl KernelHeap {
    /// A heap without memory ([`init`] gives it its pages).
    pub const fn empty() -> KernelHeap {
        KernelHeap {
            heap: LockedHeap::empty(),
        }
    }
}

/// Counts one caller inside the allocator for as long as it lives.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        INSIDE.fetch_add(1, Ordering::Acquire);
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, Ordering::Release);
    }
}

// SAFETY: every call is forwarded unchanged to `LockedHeap`, a correct `GlobalAlloc`; the
// counter around it changes nothing about the memory handed out.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _inside = Inside::enter();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { self.heap.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        let _inside = Inside::enter();
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { self.heap.dealloc(pointer, layout) }
    }
}

/// Whether some code is inside the heap allocator (holding its lock): a fault now could not
/// be contained.
pub fn is_busy() -> bool {
    INSIDE.load(Ordering::Acquire) != 0
}

/// Bytes of the heap in use (for leak checks).
pub fn used_bytes() -> usize {
    let _inside = Inside::enter();
    crate::HEAP.heap.lock().used()
}

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
            .heap
            .lock()
            .init(HEAP_START as *mut u8, HEAP_SIZE as usize);
    }
    Ok(())
}
