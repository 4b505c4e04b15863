//! Four-level paging through the physical-memory window (x86_64's `OffsetPageTable`).
//!
//! The kernel keeps the stub's page tables: the window at `PHYSICAL_MEMORY_OFFSET` (2 MiB
//! pages), the kernel image at the top, and (until [`remove_identity_map`]) the low identity
//! map. New mappings (heap, MMIO, test pages) go into their own PML4 slots so that they never
//! split the window's huge pages.

use spin::Mutex;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, TranslateResult, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use super::{physical_to_virtual, with_frames};

static MAPPER: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

/// Why a mapping operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No free frame for a page table.
    OutOfFrames,
    /// The page is already mapped.
    AlreadyMapped,
    /// The page is not mapped.
    NotMapped,
    /// The page lies inside a huge-page mapping.
    InsideHugePage,
    /// Paging has not been set up yet.
    NotInitialized,
    /// The physical range is RAM the kernel owns, not device memory.
    KernelMemory,
}

/// Caching and permissions of a new mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingKind {
    /// Ordinary writable RAM, write-back cached.
    Memory,
    /// Device registers: writable, uncached (PCD + PWT).
    Mmio,
}

impl MappingKind {
    fn flags(self) -> PageTableFlags {
        let base = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::GLOBAL;
        match self {
            MappingKind::Memory => base,
            MappingKind::Mmio => base | PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH,
        }
    }
}

struct KernelFrames;

// SAFETY: every frame returned comes from the frame bitmap, is claimed there, and is not in use.
unsafe impl FrameAllocator<Size4KiB> for KernelFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        with_frames(|frames| frames.allocate(1))
            .flatten()
            .map(PhysFrame::containing_address)
    }
}

/// IA32_PAT as the kernel programs it (Linux's layout): entry 0 write-back, 1 write-combining,
/// 2 uncached-minus, 3 uncached, 4 write-back, 5 write-protected, 6 uncached-minus,
/// 7 write-through. Only entry 1 differs from the power-on value (write-through), so PWT alone
/// selects write-combining; PCD + PWT stays uncached.
pub const PAGE_ATTRIBUTE_TABLE: u64 = 0x0407_0506_0007_0106;

/// The IA32_PAT MSR.
const IA32_PAT: u32 = 0x277;

/// Reads IA32_PAT back (for tests and diagnostics).
pub fn page_attribute_table() -> u64 {
    // SAFETY: IA32_PAT exists on every x86_64 CPU; reading it has no side effect.
    unsafe { x86_64::registers::model_specific::Msr::new(IA32_PAT).read() }
}

/// Takes over the active page tables and programs the page-attribute table.
pub fn init() {
    // SAFETY: writing IA32_PAT changes only the memory type of entry 1 (PWT without PCD),
    // which no mapping made before this point uses (the stub's and the window's pages are
    // write-back, MMIO mappings use PCD + PWT), so no cached translation depends on it.
    unsafe { x86_64::registers::model_specific::Msr::new(IA32_PAT).write(PAGE_ATTRIBUTE_TABLE) };
    let (level_4_frame, _) = Cr3::read();
    let table = physical_to_virtual(level_4_frame.start_address()).as_mut_ptr::<PageTable>();
    // SAFETY: CR3 holds the active level-4 table, which the physical-memory window maps at this
    // address; only this mapper (behind its lock) changes it from now on.
    let mapper = unsafe { OffsetPageTable::new(&mut *table, super::window_offset()) };
    *MAPPER.lock() = Some(mapper);
}

fn with_mapper<R>(body: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> Result<R, MapError> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut guard = MAPPER.lock();
        guard.as_mut().map(body).ok_or(MapError::NotInitialized)
    })
}

/// Removes the stub's identity map (every lower-half PML4 entry) and flushes the TLB.
pub fn remove_identity_map() -> Result<(), MapError> {
    with_mapper(|mapper| {
        for entry in mapper.level_4_table_mut().iter_mut().take(256) {
            entry.set_unused();
        }
        x86_64::instructions::tlb::flush_all();
    })
}

/// Maps the 4 KiB page at `page` to `frame`. Memory-internal: the callers (heap, stacks, MMIO
/// mappings) map fresh virtual ranges of their own to frames they own or device memory.
pub(super) fn map_page(page: VirtAddr, frame: PhysAddr, kind: MappingKind) -> Result<(), MapError> {
    let page = Page::<Size4KiB>::containing_address(page);
    let frame = PhysFrame::<Size4KiB>::containing_address(frame);
    with_mapper(|mapper| {
        // SAFETY: the callers map fresh virtual ranges of their own (heap, MMIO, test pages)
        // that no Rust reference points into yet.
        match unsafe { mapper.map_to(page, frame, kind.flags(), &mut KernelFrames) } {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
            Err(MapToError::PageAlreadyMapped(_)) => Err(MapError::AlreadyMapped),
            Err(MapToError::ParentEntryHugePage) => Err(MapError::InsideHugePage),
        }
    })?
}

/// Unmaps the 4 KiB page at `page` (flushing its TLB entry) and returns the frame it mapped.
/// Memory-internal: only the owner of a mapping (a stack, a test page) takes it away.
pub(super) fn unmap_page(page: VirtAddr) -> Result<PhysAddr, MapError> {
    let page = Page::<Size4KiB>::containing_address(page);
    with_mapper(|mapper| match mapper.unmap(page) {
        Ok((frame, flush)) => {
            flush.flush();
            Ok(frame.start_address())
        }
        Err(UnmapError::ParentEntryHugePage) => Err(MapError::InsideHugePage),
        Err(_) => Err(MapError::NotMapped),
    })?
}

/// The physical address `address` maps to, if any.
pub fn translate(address: VirtAddr) -> Option<PhysAddr> {
    with_mapper(|mapper| mapper.translate_addr(address))
        .ok()
        .flatten()
}

/// Whether `length` bytes at `address` are mapped, without waiting for the page-table lock
/// (for exception handlers: reports `false` when the lock is held).
pub fn is_readable(address: u64, length: u64) -> bool {
    let Some(guard) = MAPPER.try_lock() else {
        return false;
    };
    let Some(mapper) = guard.as_ref() else {
        return false;
    };
    let (Ok(first), Ok(last)) = (
        VirtAddr::try_new(address),
        VirtAddr::try_new(address.saturating_add(length.saturating_sub(1))),
    ) else {
        return false;
    };
    [first, last]
        .iter()
        .all(|address| matches!(mapper.translate(*address), TranslateResult::Mapped { .. }))
}

/// Maps a fresh frame at a scratch page, writes through the new mapping, sees the write through
/// the window, refuses a second map, unmaps it (returning the frame), and the page then faults.
/// (Here, not in `tests/`: `map_page` and `unmap_page` are memory-internal.)
fn page_map_and_unmap() -> crate::testing::TestResult {
    use crate::ensure;
    const TEST_PAGE: u64 = super::SCRATCH_START + 0x10_0000;
    let frame = super::allocate_frame().map_err(|_| "no frame")?;
    let page = VirtAddr::new(TEST_PAGE);
    map_page(page, frame, MappingKind::Memory).map_err(|error| alloc::format!("{error:?}"))?;
    ensure!(
        translate(page) == Some(frame),
        "translation after map is wrong"
    );
    // SAFETY: the scratch page was just mapped to a frame this test owns, and no Rust
    // reference covers either view of it; both blocks are used only within this test.
    let (through_page, through_window) = unsafe {
        (
            super::registers::RegisterBlock::new(page, 4096),
            super::registers::RegisterBlock::new(physical_to_virtual(frame), 4096),
        )
    };
    let (through_page, through_window) = through_page.zip(through_window).ok_or("null block")?;
    let _ = through_page.write_at(16, 0x1234_5678_9abc_def0u64);
    ensure!(
        through_window.read_at::<u64>(16) == Ok(0x1234_5678_9abc_def0),
        "write through the new mapping not visible through the window"
    );
    ensure!(
        map_page(page, frame, MappingKind::Memory) == Err(MapError::AlreadyMapped),
        "double map not refused"
    );
    let unmapped = unmap_page(page).map_err(|error| alloc::format!("{error:?}"))?;
    ensure!(unmapped == frame, "unmap returned another frame");
    ensure!(translate(page).is_none(), "still mapped after unmap");
    ensure!(
        unmap_page(page) == Err(MapError::NotMapped),
        "second unmap not refused"
    );
    // SAFETY: allocated above; its only mapping (the scratch page) is gone, and the blocks
    // over it are not used any more.
    unsafe { super::free_frame(frame) };
    // Touching the unmapped page must fault (the TLB entry was flushed).
    let toucher = crate::task::Builder::new("touch unmapped")
        .expect_fault()
        .spawn(move || crate::arch::exceptions::read_byte_at(TEST_PAGE + 16));
    match toucher.join() {
        Err(fault) if fault.vector == 14 && fault.address == TEST_PAGE + 16 => Ok(()),
        other => Err(alloc::format!(
            "expected a page fault at the unmapped page, got {other:?}"
        )),
    }
}
crate::kernel_test!(page_map_and_unmap, page_map_and_unmap);
