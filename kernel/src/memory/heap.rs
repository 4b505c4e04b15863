//! The kernel heap: [`super::HEAP_SIZE`] of freshly mapped 4 KiB pages at
//! [`super::HEAP_START`], handed to `linked_list_allocator`'s first-fit [`Heap`] through the
//! global allocator [`KernelHeap`] in `main.rs`, which counts the callers inside the allocator:
//! the heap's lock is a kernel-global lock, and a fault while it is held is never contained
//! ([`is_busy`]).
//!
//! **Size classes in front of the first fit.** A first-fit allocation walks the hole list and
//! a free merges with its neighbours: about 300 instructions a pair in the release kernel,
//! 650 in the dev kernel, and a D3DKMT call makes several (its argument copy, the reply
//! channel, the translator's and the driver's vectors). Small blocks therefore go through a
//! [`SizeClassCache`]: every layout of at most [`LARGEST_CLASS`] bytes and alignment at most
//! [`CLASS_ALIGN`] is rounded up to a power-of-two class (16 … 512 bytes) and always taken from
//! the backing heap with that class's layout, so a freed block can serve any later layout of
//! its class; freed blocks wait on the class's free list (linked through their first word) up to
//! [`CACHED_PER_CLASS`] blocks, beyond which they go back to the backing heap. The cache and
//! the heap share one lock, so a call takes it once. At most about 32 KiB sit in the cache,
//! and [`used_bytes`] does not count them (leak checks see the same numbers as before).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use linked_list_allocator::Heap;
use spin::Mutex;
use x86_64::VirtAddr;

use super::{HEAP_SIZE, HEAP_START, MappingKind, allocate_frame, frames::FRAME_SIZE, paging};

/// Callers inside the allocator (its lock held, or about to be).
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// The alignment of every class block (and the most a layout may ask for to use a class).
pub const CLASS_ALIGN: usize = 16;
/// The smallest class, bytes.
const SMALLEST_CLASS: usize = 16;
/// The largest class, bytes: bigger layouts go straight to the backing heap.
pub const LARGEST_CLASS: usize = 512;
/// Classes: 16, 32, 64, 128, 256, 512 bytes.
const CLASSES: usize = 6;
/// Free blocks kept per class; more go back to the backing heap.
pub const CACHED_PER_CLASS: usize = 32;

/// The class of `layout` (an index into the cache), if it has one.
pub(crate) fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST_CLASS || layout.align() > CLASS_ALIGN {
        return None;
    }
    let rounded = layout.size().max(SMALLEST_CLASS).next_power_of_two();
    Some((rounded.trailing_zeros() - SMALLEST_CLASS.trailing_zeros()) as usize)
}

/// The backing layout of each class: 16 … 512 bytes, aligned to 16 (checked when compiling).
const CLASS_LAYOUTS: [Layout; CLASSES] = {
    let mut layouts = [Layout::new::<u8>(); CLASSES];
    let mut class = 0;
    while class < CLASSES {
        layouts[class] = match Layout::from_size_align(SMALLEST_CLASS << class, CLASS_ALIGN) {
            Ok(layout) => layout,
            Err(_) => panic!("a class layout is invalid"),
        };
        class += 1;
    }
    layouts
};

/// The backing layout of class `class` (< [`CLASSES`]).
fn class_layout(class: usize) -> Layout {
    CLASS_LAYOUTS[class]
}

/// Free class blocks, one singly linked list per class (see the module docs).
pub(crate) struct SizeClassCache {
    /// First free block of each class (its first word holds the next one's address; 0 ends).
    heads: [usize; CLASSES],
    /// Blocks on each list.
    counts: [usize; CLASSES],
    /// Bytes on all lists.
    pub(crate) cached_bytes: usize,
}

impl SizeClassCache {
    /// An empty cache.
    pub(crate) const fn new() -> SizeClassCache {
        SizeClassCache {
            heads: [0; CLASSES],
            counts: [0; CLASSES],
            cached_bytes: 0,
        }
    }

    /// Takes a free block of `class`, if one waits.
    pub(crate) fn pop(&mut self, class: usize) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.heads[class] as *mut u8)?;
        // SAFETY: a block on the list is a free class block of at least 16 bytes, aligned to
        // 16, that only this list refers to; `push` wrote the next address in its first word.
        self.heads[class] = unsafe { block.cast::<usize>().read() };
        self.counts[class] -= 1;
        self.cached_bytes -= SMALLEST_CLASS << class;
        Some(block)
    }

    /// Keeps `block` (a freed block of `class`), or gives it back if the list is full.
    ///
    /// # Safety
    /// `block` came from the backing heap with `class_layout(class)` and is no longer used.
    pub(crate) unsafe fn push(
        &mut self,
        class: usize,
        block: NonNull<u8>,
    ) -> Result<(), NonNull<u8>> {
        if self.counts[class] >= CACHED_PER_CLASS {
            return Err(block);
        }
        // SAFETY: the caller gives up the block, which is at least 16 bytes and 16-aligned.
        unsafe { block.cast::<usize>().write(self.heads[class]) };
        self.heads[class] = block.as_ptr() as usize;
        self.counts[class] += 1;
        self.cached_bytes += SMALLEST_CLASS << class;
        Ok(())
    }
}

/// The backing heap and the cache in front of it, behind one lock.
struct Allocator {
    heap: Heap,
    cache: SizeClassCache,
}

impl Allocator {
    fn allocate(&mut self, layout: Layout) -> *mut u8 {
        let layout = match class_of(layout) {
            Some(class) => match self.cache.pop(class) {
                Some(block) => return block.as_ptr(),
                None => class_layout(class),
            },
            None => layout,
        };
        self.heap
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    /// # Safety
    /// `block` came from [`Self::allocate`] with `layout` and is no longer used.
    unsafe fn deallocate(&mut self, block: NonNull<u8>, layout: Layout) {
        let (block, layout) = match class_of(layout) {
            // SAFETY: a class layout's block came from the heap with the class layout.
            Some(class) => match unsafe { self.cache.push(class, block) } {
                Ok(()) => return,
                Err(block) => (block, class_layout(class)),
            },
            None => (block, layout),
        };
        // SAFETY: the block came from `allocate_first_fit` with exactly this layout.
        unsafe { self.heap.deallocate(block, layout) }
    }
}

/// The global allocator: `linked_list_allocator`'s heap with the size-class cache in front,
/// and [`INSIDE`] counted around every call.
pub struct KernelHeap {
    allocator: Mutex<Allocator>,
}

impl KernelHeap {
    /// A heap without memory ([`init`] gives it its pages).
    pub const fn empty() -> KernelHeap {
        KernelHeap {
            allocator: Mutex::new(Allocator {
                heap: Heap::empty(),
                cache: SizeClassCache::new(),
            }),
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

// SAFETY: blocks come from `linked_list_allocator`'s `Heap` (a correct first-fit allocator)
// with the layout asked for or, for a class, a layout at least as large and as aligned; a
// class block is reused only after it was freed, and only for a layout of the same class.
unsafe impl GlobalAlloc for KernelHeap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _inside = Inside::enter();
        self.allocator.lock().allocate(layout)
    }

    #[inline]
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        let _inside = Inside::enter();
        if let Some(block) = NonNull::new(pointer) {
            // SAFETY: the caller's contract for `dealloc`: `pointer` came from `alloc` with
            // `layout` and is no longer used.
            unsafe { self.allocator.lock().deallocate(block, layout) }
        }
    }
}

/// Whether some code is inside the heap allocator (holding its lock): a fault now could not
/// be contained.
pub fn is_busy() -> bool {
    INSIDE.load(Ordering::Acquire) != 0
}

/// Bytes of the heap in use (for leak checks): the free class blocks kept by the cache are not
/// counted.
pub fn used_bytes() -> usize {
    let _inside = Inside::enter();
    let allocator = crate::HEAP.allocator.lock();
    allocator.heap.used() - allocator.cache.cached_bytes
}

/// Bytes of free class blocks the cache keeps (at most [`CACHED_PER_CLASS`] per class).
pub fn cached_bytes() -> usize {
    let _inside = Inside::enter();
    crate::HEAP.allocator.lock().cache.cached_bytes
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
    let _inside = Inside::enter();
    // SAFETY: the range was just mapped writable, is used by nothing else, and is initialised
    // exactly once (this runs once during boot, before any allocation).
    unsafe {
        crate::HEAP
            .allocator
            .lock()
            .heap
            .init(HEAP_START as *mut u8, HEAP_SIZE as usize);
    }
    Ok(())
}
