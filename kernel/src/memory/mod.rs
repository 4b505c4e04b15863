//! Memory management: physical frames, page tables, the kernel heap and MMIO mappings.
//!
//! Virtual layout (one PML4 slot per purpose, so new mappings never touch the window):
//! - `0xffff_8000_0000_0000`: the stub's physical-memory window (all RAM, at least 4 GiB);
//! - [`HEAP_START`]: the kernel heap, [`HEAP_SIZE`] of 4 KiB pages;
//! - [`MMIO_START`]: uncached device mappings, handed out by a bump allocator;
//! - [`SCRATCH_START`]: pages tests map and unmap;
//! - [`stacks::STACKS_START`]: kernel task stacks, each above an unmapped guard;
//! - `0xffff_ffff_8000_0000`: the kernel image.
//!
//! The lower half is empty once [`paging::remove_identity_map`] has run.

pub mod frames;
pub mod heap;
pub mod paging;
pub mod registers;
pub mod stacks;

use core::sync::atomic::{AtomicU64, Ordering};

use boot_info::{BootInfo, MemoryKind, MemoryRegion, PHYSICAL_MEMORY_OFFSET};
use spin::Mutex;
use x86_64::{PhysAddr, VirtAddr};

use frames::{FRAME_SIZE, FrameBitmap};
pub use paging::{MapError, MappingKind, is_readable};

/// Start of the kernel heap.
pub const HEAP_START: u64 = 0xffff_c000_0000_0000;
/// Size of the kernel heap.
pub const HEAP_SIZE: u64 = 16 * 1024 * 1024;
/// Start of the MMIO mapping region.
pub const MMIO_START: u64 = 0xffff_d000_0000_0000;
/// Start of the scratch region for test mappings.
pub const SCRATCH_START: u64 = 0xffff_e000_0000_0000;

static FRAMES: Mutex<Option<FrameBitmap>> = Mutex::new(None);
static NEXT_MMIO: AtomicU64 = AtomicU64::new(MMIO_START);
/// The live [`ContiguousPages`] as `[start, end)` physical ranges: the RAM the kernel may lend
/// to the host (rings, SynIC pages), and so the only RAM `PhysicalMemory` reaches.
static LENDABLE: Mutex<alloc::vec::Vec<(u64, u64)>> = Mutex::new(alloc::vec::Vec::new());
/// The last few [`LENDABLE`] ranges [`is_lendable`] found, packed by [`pack_lent_range`] (0:
/// empty), so that the accesses of a ring or SynIC page (dozens per host interrupt) skip the
/// lock and the walk. Written only under the `LENDABLE` lock: filled with a range found in the
/// list, and emptied in the same critical section that removes a range from it, so an entry
/// seen here is a live allocation, exactly as a lookup under the lock would find it.
static LENDABLE_HITS: [AtomicU64; LENDABLE_HIT_SLOTS] =
    [const { AtomicU64::new(0) }; LENDABLE_HIT_SLOTS];
/// Number of [`LENDABLE_HITS`] entries (a ring, the SynIC message and event-flags pages, one
/// more).
const LENDABLE_HIT_SLOTS: usize = 4;
/// The next [`LENDABLE_HITS`] entry to fill (round robin; changed only under the lock).
static LENDABLE_NEXT_HIT: AtomicU64 = AtomicU64::new(0);
/// Bits of a packed range holding its page count (the rest hold its first frame number).
const PACKED_COUNT_BITS: u32 = 24;
/// The boot memory map, recorded by [`init`] (for [`is_kernel_ram`]).
static MEMORY_MAP: spin::Once<&'static [MemoryRegion]> = spin::Once::new();

/// Memory could not be provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

/// The physical-memory window's offset (physical address 0 maps here).
pub(crate) fn window_offset() -> VirtAddr {
    VirtAddr::new(PHYSICAL_MEMORY_OFFSET)
}

/// The virtual address of physical address `physical` inside the physical-memory window.
pub fn physical_to_virtual(physical: PhysAddr) -> VirtAddr {
    window_offset() + physical.as_u64()
}

fn with_frames<R>(body: impl FnOnce(&mut FrameBitmap) -> R) -> Option<R> {
    x86_64::instructions::interrupts::without_interrupts(|| FRAMES.lock().as_mut().map(body))
}

/// Sets up the frame allocator, the page-table mapper and the heap, then removes the identity
/// map. Returns the number of free frames afterwards.
pub fn init(boot_info: &'static BootInfo) -> Result<usize, &'static str> {
    let regions = boot_info.memory_regions();
    MEMORY_MAP.call_once(|| regions);
    let usable_end = regions
        .iter()
        .filter(|region| region.kind() == MemoryKind::Usable)
        .map(|region| region.end())
        .max()
        .ok_or("the memory map has no usable region")?;
    let words = FrameBitmap::words_needed(usable_end);
    let bytes = (words as u64 * 8).next_multiple_of(FRAME_SIZE);
    let storage_region = regions
        .iter()
        .filter(|region| region.kind() == MemoryKind::Usable && region.start >= 0x10_0000)
        .find(|region| region.length >= bytes)
        .ok_or("no usable region can hold the frame bitmap")?;
    let storage_virtual = physical_to_virtual(PhysAddr::new(storage_region.start));
    // SAFETY: the region is usable RAM that nothing else uses yet (the bitmap marks these frames
    // in use before handing out any frame), mapped writable through the window, 4 KiB aligned.
    let storage =
        unsafe { core::slice::from_raw_parts_mut(storage_virtual.as_mut_ptr::<u64>(), words) };
    let bitmap = FrameBitmap::new(regions, storage, storage_region.start);
    *FRAMES.lock() = Some(bitmap);
    paging::init();
    heap::init()?;
    stacks::init().map_err(|_| "could not create the page tables of the stack region")?;
    paging::remove_identity_map().map_err(|_| "could not remove the identity map")?;
    Ok(free_frames())
}

/// Whether any byte of `[physical, physical + length)` is RAM the kernel owns: a usable region
/// (the frame allocator's: the heap, page tables, stacks, rings, process memory) or one the
/// boot stub reserved for the kernel (image, page tables, boot information). Before [`init`]
/// recorded the memory map, every range counts as kernel RAM. Mappings of device memory
/// ([`map_mmio`], [`registers::RegisterBlock`]) refuse such ranges: a second, uncached or
/// volatile view of memory Rust code owns would let safe code change it behind its owner.
pub fn is_kernel_ram(physical: PhysAddr, length: u64) -> bool {
    let Some(regions) = MEMORY_MAP.get() else {
        return true;
    };
    let start = physical.as_u64();
    let end = start.saturating_add(length.max(1));
    regions.iter().any(|region| {
        matches!(
            region.kind(),
            MemoryKind::Usable | MemoryKind::KernelReserved
        ) && region.start < end
            && start < region.end()
    })
}

/// Whether `[physical, end)` lies inside one live [`ContiguousPages`] allocation: memory only
/// ever accessed volatile or atomically (never through a Rust reference), which the host may
/// share. Everything else in RAM (heap, stacks, page tables, process memory) is not.
///
/// A range found once is remembered ([`LENDABLE_HITS`]) until its pages are freed, so repeated
/// accesses to the same allocation take neither the lock nor the walk.
pub fn is_lendable(physical: u64, end: u64) -> bool {
    let covers = |(start, stop): (u64, u64)| start <= physical && end <= stop;
    if LENDABLE_HITS
        .iter()
        .filter_map(|hit| unpack_lent_range(hit.load(Ordering::Acquire)))
        .any(covers)
    {
        return true;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let lendable = LENDABLE.lock();
        let Some(&found) = lendable.iter().find(|&&range| covers(range)) else {
            return false;
        };
        if let Some(packed) = pack_lent_range(found) {
            let slot = LENDABLE_NEXT_HIT.fetch_add(1, Ordering::Relaxed) as usize;
            if let Some(hit) = LENDABLE_HITS.get(slot % LENDABLE_HIT_SLOTS) {
                hit.store(packed, Ordering::Release);
            }
        }
        true
    })
}

/// `[start, end)` of whole pages as one word (first frame number above, page count below), or
/// `None` when it does not fit (then it is simply not remembered).
fn pack_lent_range((start, end): (u64, u64)) -> Option<u64> {
    let pages = end.checked_sub(start)? / FRAME_SIZE;
    let fits = start.is_multiple_of(FRAME_SIZE)
        && end.is_multiple_of(FRAME_SIZE)
        && pages > 0
        && pages < 1 << PACKED_COUNT_BITS
        && start / FRAME_SIZE < 1 << (64 - PACKED_COUNT_BITS);
    fits.then_some(((start / FRAME_SIZE) << PACKED_COUNT_BITS) | pages)
}

/// The range [`pack_lent_range`] packed; `None` for an empty entry.
fn unpack_lent_range(packed: u64) -> Option<(u64, u64)> {
    let pages = packed & ((1 << PACKED_COUNT_BITS) - 1);
    if pages == 0 {
        return None;
    }
    let start = (packed >> PACKED_COUNT_BITS) * FRAME_SIZE;
    Some((start, start + pages * FRAME_SIZE))
}

/// Number of free physical frames.
pub fn free_frames() -> usize {
    with_frames(|frames| frames.free_frames()).unwrap_or(0)
}

/// Allocates one frame (not zeroed); used for mappings the caller manages itself.
pub fn allocate_frame() -> Result<PhysAddr, OutOfMemory> {
    with_frames(|frames| frames.allocate(1))
        .flatten()
        .ok_or(OutOfMemory)
}

/// Returns a frame from [`allocate_frame`].
///
/// # Safety
/// `frame` came from [`allocate_frame`], is not freed yet, and nothing uses it any more (no
/// mapping the kernel or a process still reaches it through, no device or host it was lent
/// to): the allocator hands it to the next caller.
pub unsafe fn free_frame(frame: PhysAddr) {
    with_frames(|frames| frames.free(frame, 1));
}

/// Physically contiguous, zeroed 4 KiB pages, accessible through the physical-memory window;
/// returned to the frame allocator on drop. For DMA-style sharing such as VMBus ring buffers.
#[derive(Debug)]
pub struct ContiguousPages {
    physical: PhysAddr,
    count: usize,
}

impl ContiguousPages {
    /// Allocates `count` contiguous pages and zeroes them.
    pub fn allocate_zeroed(count: usize) -> Result<Self, OutOfMemory> {
        let physical = with_frames(|frames| frames.allocate(count))
            .flatten()
            .ok_or(OutOfMemory)?;
        let start = physical_to_virtual(physical).as_mut_ptr::<u8>();
        // SAFETY: the frames were just claimed from the allocator, so nothing else refers to
        // them, and the window maps them writable.
        unsafe { core::ptr::write_bytes(start, 0, count * FRAME_SIZE as usize) };
        let end = physical.as_u64() + count as u64 * FRAME_SIZE;
        x86_64::instructions::interrupts::without_interrupts(|| {
            LENDABLE.lock().push((physical.as_u64(), end));
        });
        Ok(ContiguousPages { physical, count })
    }

    /// Physical address of the first page.
    pub fn physical_address(&self) -> PhysAddr {
        self.physical
    }

    /// Virtual address of the first page (inside the physical-memory window).
    pub fn virtual_address(&self) -> VirtAddr {
        physical_to_virtual(self.physical)
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.count
    }

    /// Reads the `u64` at byte `offset` of these pages (volatile); `None` when it is not an
    /// aligned offset inside them.
    pub fn read_u64(&self, offset: u64) -> Option<u64> {
        self.words()?.read_at(usize::try_from(offset).ok()?).ok()
    }

    /// Writes the `u64` at byte `offset` of these pages (volatile); `false` when it is not an
    /// aligned offset inside them.
    pub fn write_u64(&self, offset: u64, value: u64) -> bool {
        let Some(offset) = usize::try_from(offset).ok() else {
            return false;
        };
        self.words()
            .is_some_and(|words| words.write_at(offset, value).is_ok())
    }

    /// The pages as a register block, for the two accessors above only (the block must not
    /// outlive `self`, so it is never handed out).
    fn words(&self) -> Option<registers::RegisterBlock> {
        // SAFETY: the pages are this value's own (claimed from the allocator, freed only on
        // drop, which `&self` keeps from happening while the block is used), mapped through
        // the window, and only ever accessed volatile or through the host-shared memory
        // types, never through a Rust reference.
        unsafe {
            registers::RegisterBlock::new(self.virtual_address(), self.count * FRAME_SIZE as usize)
        }
    }

    /// Physical address of page `index`.
    pub fn page_physical_address(&self, index: usize) -> Option<PhysAddr> {
        (index < self.count).then(|| self.physical + index as u64 * FRAME_SIZE)
    }
}

impl Drop for ContiguousPages {
    fn drop(&mut self) {
        let start = self.physical.as_u64();
        x86_64::instructions::interrupts::without_interrupts(|| {
            let mut lendable = LENDABLE.lock();
            lendable.retain(|&(lent, _)| lent != start);
            // Forget every remembered range in the same critical section (before the frames
            // are freed below), so no later `is_lendable` admits these pages.
            for hit in &LENDABLE_HITS {
                hit.store(0, Ordering::SeqCst);
            }
        });
        with_frames(|frames| frames.free(self.physical, self.count));
    }
}

/// Maps `size` bytes of device registers at `physical` uncached and returns the virtual address
/// of `physical`. Mappings are permanent (devices live as long as the kernel).
/// Kernel RAM ([`is_kernel_ram`]) is refused with [`MapError::KernelMemory`].
pub fn map_mmio(physical: PhysAddr, size: u64) -> Result<VirtAddr, MapError> {
    if is_kernel_ram(physical, size) {
        log::warn!("memory: refused an MMIO mapping of kernel RAM at {physical:?}+{size:#x}");
        return Err(MapError::KernelMemory);
    }
    let first = physical.align_down(FRAME_SIZE);
    let pages = (physical.as_u64() - first.as_u64() + size).div_ceil(FRAME_SIZE);
    let base = NEXT_MMIO.fetch_add(pages * FRAME_SIZE, Ordering::Relaxed);
    for index in 0..pages {
        paging::map_page(
            VirtAddr::new(base + index * FRAME_SIZE),
            first + index * FRAME_SIZE,
            MappingKind::Mmio,
        )?;
    }
    Ok(VirtAddr::new(base + (physical.as_u64() - first.as_u64())))
}

/// Makes device memory outside RAM (the dxg IO space in a VMBus MMIO gap, say) reachable at
/// its place in the physical-memory window, `[physical, physical + length)` in whole pages,
/// uncached. Pages the boot window already maps (its 2 MiB pages cover at least the first
/// 4 GiB, write-back; on Hyper-V the MTRR default type makes such aliases over MMIO uncached)
/// are left as they are. Mappings are permanent: the IO space lives as long as the VM.
pub fn map_device_window(physical: PhysAddr, length: u64) -> Result<(), MapError> {
    let first = physical.align_down(FRAME_SIZE);
    let pages = (physical.as_u64() - first.as_u64() + length).div_ceil(FRAME_SIZE);
    for index in 0..pages {
        let frame = first + index * FRAME_SIZE;
        if paging::translate(physical_to_virtual(frame)).is_some() {
            continue;
        }
        match paging::map_page(physical_to_virtual(frame), frame, MappingKind::Mmio) {
            Ok(()) | Err(MapError::AlreadyMapped) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
