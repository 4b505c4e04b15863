//! A process's address space: its own level-4 page table whose upper half (entries 256–511)
//! is the kernel's, and whose lower half holds only the process's pages (user-accessible).
//!
//! Sharing the kernel half: the first address space pre-allocates an (empty) level-3 table for
//! every upper-half slot of the kernel's level-4 table that has none, so the kernel half never
//! gains a new level-4 entry afterwards. Every address space copies those 256 entries once, and
//! every later kernel mapping (heap, MMIO, scratch) lands in a shared level-3 table that all of
//! them see. Kernel tasks can therefore run on any process's page tables; a process's tables
//! are only loaded into CR3 by its own task, and are freed only after CR3 has been moved back
//! to the kernel's.
//!
//! Both halves go through x86_64's page-table types: the user half is mapped, translated and
//! unmapped with an `OffsetPageTable` over this address space's level-4 table (the same mapper
//! type the kernel half uses, `crate::memory::paging`). Every user-half table the mapper makes
//! carries present, writable and user, so the leaf entry alone decides a page's access; only
//! the teardown in `Drop` walks the tables itself (the crate has no walk that frees leaf
//! frames).
//!
//! User memory is never dereferenced by the kernel at its user address: [`AddressSpace::read`]
//! and [`AddressSpace::write`] translate through this address space's tables (checking present,
//! user and, for writes, writable, and canonical, below [`USER_END`], for the whole range) and
//! copy through the physical-memory window. Copies cannot fault, and a bad pointer is an
//! `Err`, never an exception.

use core::cell::Cell;

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use spin::Once;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{
    MapToError, MappedFrame, MapperFlush, TranslateResult, UnmapError,
};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use super::view_region::ViewRegion;
use crate::memory::{self, OutOfMemory};

/// End (exclusive) of the user half: one page below the canonical boundary, so an instruction
/// at the very end of user space cannot leave a non-canonical return address in `rcx`.
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

const PAGE_SIZE: u64 = 4096;

/// Page-table bit (available to software) marking a user page whose frame the address space
/// does not own: an IO-space view or the framebuffer, never freed with the address space.
const BORROWED: PageTableFlags = PageTableFlags::BIT_9;
/// Page-table bit (available to software) marking a user page onto device memory, which the
/// physical window may not map: the kernel's user copies refuse it.
const DEVICE: PageTableFlags = PageTableFlags::BIT_10;

/// The memory type of a borrowed user page, through the page-attribute table the kernel
/// programs at boot (`crate::memory::paging::init`: entry 1 write-combining, as Linux lays out
/// IA32_PAT; kernel MMIO mappings use entry 3, uncached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryType {
    /// Write-back (PAT entry 0): RAM, fence pages, allocations the host marked cached.
    WriteBack,
    /// Write-combining (PAT entry 1, PWT): the framebuffer, allocations not marked cached.
    WriteCombining,
}

impl MemoryType {
    fn flags(self) -> PageTableFlags {
        match self {
            MemoryType::WriteBack => PageTableFlags::empty(),
            MemoryType::WriteCombining => PageTableFlags::WRITE_THROUGH,
        }
    }
}

/// A user address range that is not entirely mapped with the needed access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessViolation {
    /// The first address that failed.
    pub address: u64,
}

/// Access rights of a user page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserPageAccess {
    /// Ring 3 may write it.
    pub writable: bool,
    /// Ring 3 may execute it.
    pub executable: bool,
}

/// Why mapping a user page failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapUserError {
    /// The address is not a page-aligned user address.
    NotUserPage(u64),
    /// No frame for the page or a page table.
    OutOfMemory,
    /// The page is mapped already (and may not be remapped this way).
    AlreadyMapped(u64),
}

impl From<OutOfMemory> for MapUserError {
    fn from(_: OutOfMemory) -> Self {
        MapUserError::OutOfMemory
    }
}

static KERNEL_LEVEL_4: Once<PhysFrame> = Once::new();

/// The kernel's level-4 table, with every upper-half slot given a level-3 table (first call).
fn kernel_level_4() -> Result<PhysFrame, OutOfMemory> {
    if let Some(frame) = KERNEL_LEVEL_4.get() {
        return Ok(*frame);
    }
    let (frame, _) = Cr3::read();
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: no process exists yet (this runs before the first address space), so CR3 is
        // the kernel's table, mapped by the window. Only unused upper-half entries are written,
        // each with a fresh zeroed table, with interrupts off; the kernel's mapper (which owns
        // this table) is not in the middle of an operation, since every mapper operation runs
        // to completion with interrupts off on this single CPU.
        let table = unsafe { table_at(frame.start_address()) };
        for entry in table.iter_mut().skip(256) {
            if entry.is_unused() {
                let level_3 = allocate_zeroed_frame()?;
                entry.set_addr(level_3, PageTableFlags::PRESENT | PageTableFlags::WRITABLE);
            }
        }
        Ok::<(), OutOfMemory>(())
    })?;
    Ok(*KERNEL_LEVEL_4.call_once(|| frame))
}

/// Loads the kernel's own page tables if CR3 holds any other (before freeing a process's).
pub fn activate_kernel() {
    if let Some(kernel) = KERNEL_LEVEL_4.get() {
        let (current, _) = Cr3::read();
        if current != *kernel {
            // SAFETY: the kernel's table maps the whole kernel half (shared by every address
            // space), so the running code and stack stay mapped.
            unsafe { Cr3::write(*kernel, Cr3Flags::empty()) };
        }
    }
}

fn allocate_zeroed_frame() -> Result<PhysAddr, OutOfMemory> {
    let frame = memory::allocate_frame()?;
    let start = memory::physical_to_virtual(frame).as_mut_ptr::<u8>();
    // SAFETY: the frame was just claimed from the allocator, so nothing else refers to it, and
    // the window maps it writable.
    unsafe { core::ptr::write_bytes(start, 0, PAGE_SIZE as usize) };
    Ok(frame)
}

/// The page table in frame `physical`, through the window.
///
/// # Safety
/// `physical` must hold a page table that nothing else accesses while the reference lives.
unsafe fn table_at(physical: PhysAddr) -> &'static mut PageTable {
    // SAFETY: guaranteed by the caller; the window maps all RAM.
    unsafe { &mut *memory::physical_to_virtual(physical).as_mut_ptr::<PageTable>() }
}

/// Frames for the user half's page tables (the mapper zeroes each new table itself).
struct TableFrames;

// SAFETY: every frame comes from the kernel's frame allocator, which hands each out once.
unsafe impl FrameAllocator<Size4KiB> for TableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        memory::allocate_frame()
            .ok()
            .map(PhysFrame::containing_address)
    }
}

/// Flags of every user-half page table above a leaf: the leaf entry alone restricts access.
const PARENT_FLAGS: PageTableFlags = PageTableFlags::PRESENT
    .union(PageTableFlags::WRITABLE)
    .union(PageTableFlags::USER_ACCESSIBLE);

/// The 4 KiB user page at `page`, when `page` is a page-aligned user address.
fn user_page(page: u64) -> Result<Page<Size4KiB>, MapUserError> {
    if !page.is_multiple_of(PAGE_SIZE) || page >= USER_END {
        return Err(MapUserError::NotUserPage(page));
    }
    Page::from_start_address(VirtAddr::new(page)).map_err(|_| MapUserError::NotUserPage(page))
}

/// An address space's level-4 table frame, owned by its [`AddressSpace`] (freed when that is
/// dropped) and reached weakly by the [`Root`] handles its threads keep.
struct RootFrame(PhysAddr);

impl Drop for RootFrame {
    fn drop(&mut self) {
        if Cr3::read().0 == PhysFrame::containing_address(self.0) {
            activate_kernel();
        }
        // SAFETY: the address space was dropped (its user half freed and cleared just before)
        // and `Root::activate` loads the table only while this value lives; CR3 no longer
        // points at it (switched away above; one CPU).
        unsafe { memory::free_frame(self.0) };
    }
}

/// A handle on an address space's level-4 table for entering ring 3 without the process's
/// lock ([`AddressSpace::root`]): a thread loads it into CR3 while another thread of its
/// process holds the address space for a system call. It does not keep the table alive (a
/// thread that faults never drops what it holds): once the address space is gone,
/// [`Root::activate`] refuses.
#[derive(Clone)]
pub struct Root {
    /// The table's frame (compared with CR3 only; loaded only through `owner`).
    frame: PhysFrame,
    owner: Weak<RootFrame>,
}

impl Root {
    /// Loads the table into CR3 (if it is not loaded already); `false` when its address space
    /// is gone.
    pub fn activate(&self) -> bool {
        // Loaded already (the usual case: back to ring 3 after a system call) and its address
        // space alive: then the frame in CR3 is this address space's table, not a reuse of
        // the frame by another one (`RootFrame` frees it only when the owner goes).
        if Cr3::read().0 == self.frame && self.owner.strong_count() > 0 {
            return true;
        }
        let Some(root) = self.owner.upgrade() else {
            return false;
        };
        // SAFETY: the upper half is the kernel's, so the running kernel code, its stack and
        // heap stay mapped; the table is alive (`root` holds it here), and when its address
        // space drops it, `RootFrame` switches CR3 away first.
        unsafe { Cr3::write(PhysFrame::containing_address(root.0), Cr3Flags::empty()) };
        true
    }
}

impl core::fmt::Debug for Root {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_tuple("Root").field(&self.frame).finish()
    }
}

/// A process's page tables (see the module docs). Dropping it frees every user page and user
/// page table; the kernel half is shared and untouched.
pub struct AddressSpace {
    /// Owns the level-4 table; its threads' [`Root`]s reach it weakly.
    root: Arc<RootFrame>,
    views: ViewRegion,
    /// The last page [`AddressSpace::translate`] found: its address (bit 0 set when it was
    /// checked writable) and its frame. A system call's copies mostly touch one page (the
    /// argument struct is read, then written back), and a walk of the tables costs about a
    /// hundred instructions. Forgotten whenever the tables may change: every change goes
    /// through [`AddressSpace::mapper`], which takes `&mut self`. (`Cell`: an address space is
    /// used by one thread at a time, under its process's lock; the type is `Send`, not `Sync`.)
    last_translation: Cell<Option<(u64, PhysAddr)>>,
    /// The frame numbers [`AddressSpace::owned_frames`] lent to a device (sorted, each once):
    /// the host reads and writes them in place until the process's DestroyProcess, so they
    /// stay allocated for the address space's life even when the process unmaps their page.
    lent_frames: Cell<Vec<u64>>,
    /// Lent frames whose page was unmapped: freed when the address space is dropped.
    unmapped_lent_frames: Vec<PhysAddr>,
}

impl core::fmt::Debug for AddressSpace {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("AddressSpace")
            .field("level_4", &self.level_4())
            .field("views", &self.views)
            .field("unmapped_lent_frames", &self.unmapped_lent_frames.len())
            .finish_non_exhaustive()
    }
}

impl AddressSpace {
    /// An address space with no user pages.
    pub fn new() -> Result<AddressSpace, OutOfMemory> {
        let kernel = kernel_level_4()?;
        let level_4 = allocate_zeroed_frame()?;
        // SAFETY: `level_4` is a fresh frame only this value owns; the kernel's upper half is
        // only read (its entries never change after `kernel_level_4`).
        unsafe {
            let kernel_table = table_at(kernel.start_address());
            let table = table_at(level_4);
            for index in 256..512 {
                table[index] = kernel_table[index].clone();
            }
        }
        Ok(AddressSpace {
            root: Arc::new(RootFrame(level_4)),
            views: ViewRegion::default(),
            last_translation: Cell::new(None),
            lent_frames: Cell::new(Vec::new()),
            unmapped_lent_frames: Vec::new(),
        })
    }

    /// The physical address of its level-4 table.
    fn level_4(&self) -> PhysAddr {
        self.root.0
    }

    /// A handle its threads keep to load this address space without holding it (see
    /// [`Root`]).
    pub fn root(&self) -> Root {
        Root {
            frame: PhysFrame::containing_address(self.level_4()),
            owner: Arc::downgrade(&self.root),
        }
    }

    /// This address space's tables as x86_64's mapper (through the physical-memory window).
    fn mapper(&mut self) -> OffsetPageTable<'_> {
        // The tables may change: forget the remembered translation.
        self.last_translation.set(None);
        // SAFETY: `level_4` is this address space's own level-4 table, mapped by the window;
        // the mapper borrows `self` mutably, so no other mapper or walk of these tables lives
        // meanwhile. Only the user half is changed through it (every caller passes a
        // `user_page`); the shared kernel half is only read.
        unsafe { OffsetPageTable::new(table_at(self.level_4()), memory::window_offset()) }
    }

    /// What this address space maps at `address` (frame and leaf flags), read only.
    #[inline(always)]
    fn translate_entry(&self, address: u64) -> TranslateResult {
        // SAFETY: as in `mapper`; `translate` only reads the tables, and the mapper is dropped
        // before this returns; `&self` excludes the `&mut self` operations that change them.
        let mapper =
            unsafe { OffsetPageTable::new(table_at(self.level_4()), memory::window_offset()) };
        mapper.translate(VirtAddr::new(address))
    }

    /// Maps `page` to `frame` with `flags`, making the page tables on the way.
    fn map_leaf(
        &mut self,
        page: Page<Size4KiB>,
        frame: PhysAddr,
        flags: PageTableFlags,
    ) -> Result<(), MapUserError> {
        let frame = PhysFrame::containing_address(frame);
        // SAFETY: `page` is a user page of this address space; the frame is either fresh (owned
        // pages) or borrowed device/framebuffer memory no Rust reference covers, so the mapping
        // aliases no Rust object.
        let mapped = unsafe {
            self.mapper().map_to_with_table_flags(
                page,
                frame,
                flags,
                PARENT_FLAGS,
                &mut TableFrames,
            )
        };
        match mapped {
            // The page was not present: no stale TLB entry to flush.
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(MapUserError::OutOfMemory),
            Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {
                Err(MapUserError::AlreadyMapped(page.start_address().as_u64()))
            }
        }
    }

    /// Maps a zeroed page at the page-aligned user address `page`. If the page is mapped
    /// already, its access is widened to include `access` and its contents are kept.
    pub fn map_zeroed(&mut self, page: u64, access: UserPageAccess) -> Result<(), MapUserError> {
        let user = user_page(page)?;
        let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        let old = match self.translate_entry(page) {
            TranslateResult::NotMapped => None,
            TranslateResult::Mapped { flags, .. } => Some(flags),
            TranslateResult::InvalidFrameAddress(_) => {
                return Err(MapUserError::AlreadyMapped(page));
            }
        };
        let Some(old) = old else {
            let frame = allocate_zeroed_frame()?;
            if access.writable {
                flags |= PageTableFlags::WRITABLE;
            }
            if !access.executable {
                flags |= PageTableFlags::NO_EXECUTE;
            }
            return self.map_leaf(user, frame, flags).inspect_err(|_| {
                // SAFETY: the frame was allocated just above and the failed map left no
                // mapping of it.
                unsafe { memory::free_frame(frame) };
            });
        };
        if old.contains(BORROWED) {
            return Err(MapUserError::AlreadyMapped(page));
        }
        if access.writable || old.contains(PageTableFlags::WRITABLE) {
            flags |= PageTableFlags::WRITABLE;
        }
        if !access.executable && old.contains(PageTableFlags::NO_EXECUTE) {
            flags |= PageTableFlags::NO_EXECUTE;
        }
        // SAFETY: only widens (or keeps) the access of a page this address space owns; no Rust
        // reference points into user memory.
        let updated = unsafe { self.mapper().update_flags(user, flags) };
        updated
            .map(MapperFlush::flush)
            .map_err(|_| MapUserError::AlreadyMapped(page))
    }

    /// Maps the page-aligned user page `page` onto the physical frame `physical`, which this
    /// address space does not own (IO-space views, the framebuffer): the frame is never freed
    /// with the address space, and the page is never executable. With `device`, the frame may
    /// lie outside RAM (the physical window may not map it), so the kernel's user copies refuse
    /// it. `memory_type` picks the caching. The page must not be mapped yet.
    pub fn map_borrowed(
        &mut self,
        page: u64,
        physical: u64,
        writable: bool,
        device: bool,
        memory_type: MemoryType,
    ) -> Result<(), MapUserError> {
        if !physical.is_multiple_of(PAGE_SIZE)
            || PhysAddr::try_new(physical)
                .is_ok_and(|frame| memory::is_kernel_ram(frame, PAGE_SIZE))
        {
            // Borrowed pages are device, framebuffer or IO-space memory; kernel RAM (the heap,
            // page tables, another process's frames) is never lent to a process.
            return Err(MapUserError::NotUserPage(physical));
        }
        let user = user_page(page)?;
        let mut flags = PageTableFlags::PRESENT
            | PageTableFlags::USER_ACCESSIBLE
            | PageTableFlags::NO_EXECUTE
            | BORROWED
            | memory_type.flags();
        if writable {
            flags |= PageTableFlags::WRITABLE;
        }
        if device {
            flags |= DEVICE;
        }
        let physical =
            PhysAddr::try_new(physical).map_err(|_| MapUserError::NotUserPage(physical))?;
        self.map_leaf(user, physical, flags)
    }

    /// Removes the mapping of user page `page` made by [`Self::map_borrowed`]; pages the
    /// address space owns (and unmapped pages) are left alone. Returns whether it unmapped.
    pub fn unmap_borrowed(&mut self, page: u64) -> bool {
        let Ok(user) = user_page(page) else {
            return false;
        };
        match self.translate_entry(page) {
            TranslateResult::Mapped { flags, .. } if flags.contains(BORROWED) => {}
            _ => return false,
        }
        match self.mapper().unmap(user) {
            Ok((_, flush)) => {
                flush.flush();
                true
            }
            Err(UnmapError::PageNotMapped | UnmapError::ParentEntryHugePage) => false,
            Err(UnmapError::InvalidFrameAddress(_)) => false,
        }
    }

    /// Unmaps the user page `page` if this address space owns it (a page of [`Self::map_zeroed`])
    /// and frees its frame, unless [`Self::owned_frames`] lent the frame to a device: that one
    /// is kept until the address space is dropped. Borrowed and unmapped pages are left alone.
    /// Returns whether it unmapped.
    pub fn unmap_owned(&mut self, page: u64) -> bool {
        let Ok(user) = user_page(page) else {
            return false;
        };
        match self.translate_entry(page) {
            TranslateResult::Mapped { flags, .. } if !flags.contains(BORROWED) => {}
            _ => return false,
        }
        match self.mapper().unmap(user) {
            Ok((frame, flush)) => {
                flush.flush();
                if self.is_lent(frame.start_address()) {
                    // The device may still write it: keep it until the address space goes.
                    self.unmapped_lent_frames.push(frame.start_address());
                    return true;
                }
                // SAFETY: an owned leaf: its frame came from the frame allocator for this
                // address space, was never lent to a device, and the mapping is gone (TLB
                // entry flushed above); no Rust reference covers user memory.
                unsafe { memory::free_frame(frame.start_address()) };
                true
            }
            Err(_) => false,
        }
    }

    /// Whether [`Self::owned_frames`] lent `frame` to a device.
    fn is_lent(&mut self, frame: PhysAddr) -> bool {
        let number = frame.as_u64() / PAGE_SIZE;
        self.lent_frames.get_mut().binary_search(&number).is_ok()
    }

    /// Unmaps and frees the owned, user-accessible page `page` if it holds only zeros and its
    /// frame was never lent to a device ([`Self::owned_frames`]): what `mprotect(PROT_NONE)`
    /// does with such a page (access given back maps a zeroed one, so nothing is lost).
    /// Returns whether it did.
    pub fn unmap_owned_if_zero(&mut self, page: u64) -> bool {
        let Some((frame, flags)) = self.leaf(page, false) else {
            return false;
        };
        if flags.contains(BORROWED) || self.is_lent(frame) {
            return false;
        }
        let mut chunk = [0u8; 512];
        for offset in (0..PAGE_SIZE).step_by(chunk.len()) {
            if self.read(page + offset, &mut chunk).is_err() || chunk.iter().any(|&byte| byte != 0)
            {
                return false;
            }
        }
        self.unmap_owned(page)
    }

    /// Sets the access of the owned, mapped user page `page` to exactly `access` (unlike
    /// [`Self::map_zeroed`], which only widens). `None` is no access (`PROT_NONE`): the page
    /// stays present and keeps its frame and contents, but only for the kernel's tables, so
    /// ring 3 faults on it and the kernel's user copies refuse it; a later access restores it.
    /// `Err` for borrowed or unmapped pages.
    pub fn set_owned_access(
        &mut self,
        page: u64,
        access: Option<UserPageAccess>,
    ) -> Result<(), MapUserError> {
        let user = user_page(page)?;
        let old = match self.translate_entry(page) {
            TranslateResult::Mapped { flags, .. } if !flags.contains(BORROWED) => flags,
            _ => return Err(MapUserError::NotUserPage(page)),
        };
        let mut flags = (old - PageTableFlags::WRITABLE - PageTableFlags::USER_ACCESSIBLE)
            | PageTableFlags::NO_EXECUTE;
        if let Some(access) = access {
            flags |= PageTableFlags::USER_ACCESSIBLE;
            if access.writable {
                flags |= PageTableFlags::WRITABLE;
            }
            if access.executable {
                flags -= PageTableFlags::NO_EXECUTE;
            }
        }
        // SAFETY: changes the access of a page this address space owns; no Rust reference
        // points into user memory, and the stale TLB entry is flushed.
        let updated = unsafe { self.mapper().update_flags(user, flags) };
        updated
            .map(MapperFlush::flush)
            .map_err(|_| MapUserError::NotUserPage(page))
    }

    /// Maps `length` bytes (whole pages) of physical memory at page-aligned `physical` into
    /// the view region (see [`ViewRegion`]) as borrowed pages; returns the user address.
    /// `device` and `memory_type` as in [`Self::map_borrowed`].
    pub fn map_view(
        &mut self,
        physical: u64,
        length: u64,
        writable: bool,
        device: bool,
        memory_type: MemoryType,
    ) -> Result<u64, MapUserError> {
        if !physical.is_multiple_of(PAGE_SIZE) || physical.checked_add(length).is_none() {
            return Err(MapUserError::NotUserPage(physical));
        }
        let (start, reserved) = self
            .views
            .reserve(length)
            .ok_or(MapUserError::OutOfMemory)?;
        let pages = reserved / PAGE_SIZE;
        for index in 0..pages {
            let offset = index * PAGE_SIZE;
            if let Err(error) = self.map_borrowed(
                start + offset,
                physical + offset,
                writable,
                device,
                memory_type,
            ) {
                self.unmap_view(start);
                return Err(error);
            }
        }
        Ok(start)
    }

    /// Unmaps the view starting at `start` (made by [`Self::map_view`]); returns its length in
    /// bytes, or `None` if no view starts there.
    pub fn unmap_view(&mut self, start: u64) -> Option<u64> {
        let length = self.views.release(start)?;
        let mut page = start;
        while page < start + length {
            self.unmap_borrowed(page);
            page += PAGE_SIZE;
        }
        Some(length)
    }

    /// The physical address of user address `address`, if its page is present and
    /// user-accessible (and writable, when `write`) at every level.
    pub fn translate(&self, address: u64, write: bool) -> Option<PhysAddr> {
        let offset = address & (PAGE_SIZE - 1);
        // Page-aligned, so bit 0 is free to say "checked writable".
        let key = (address - offset) | u64::from(write);
        if let Some((remembered, frame)) = self.last_translation.get()
            && remembered == key
        {
            return Some(frame + offset);
        }
        let (frame, _) = self.leaf(address, write)?;
        self.last_translation.set(Some((key, frame)));
        Some(frame + offset)
    }

    /// The frames behind `length` bytes of user memory at page-aligned `address`, for memory a
    /// device will read and write in place (an application's existing-system-memory GPU
    /// allocation): every page must be present, user-writable and owned by this address space
    /// (a view of IO space or the framebuffer is refused). The frames stay allocated until the
    /// address space is dropped, even if the process unmaps the pages meanwhile (`munmap`:
    /// [`Self::unmap_owned`] keeps a lent frame; `mprotect(PROT_NONE)` keeps every page's).
    pub fn owned_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, AccessViolation> {
        if !address.is_multiple_of(PAGE_SIZE) || !length.is_multiple_of(PAGE_SIZE) {
            return Err(AccessViolation { address });
        }
        self.check(address, length, true)?;
        let mut frames = Vec::with_capacity((length / PAGE_SIZE) as usize);
        let mut page = address;
        while page < address + length {
            match self.leaf(page, true) {
                Some((frame, flags)) if !flags.contains(BORROWED) => {
                    frames.push(frame.as_u64() / PAGE_SIZE)
                }
                _ => return Err(AccessViolation { address: page }),
            }
            page += PAGE_SIZE;
        }
        let mut lent = self.lent_frames.take();
        lent.extend_from_slice(&frames);
        lent.sort_unstable();
        lent.dedup();
        self.lent_frames.set(lent);
        Ok(frames)
    }

    /// The frame and leaf flags of user address `address`, if its page is present and
    /// user-accessible (and writable, when `write`) at every level, and not device memory.
    #[inline]
    fn leaf(&self, address: u64, write: bool) -> Option<(PhysAddr, PageTableFlags)> {
        if address >= USER_END {
            return None;
        }
        let mut needed = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        if write {
            needed |= PageTableFlags::WRITABLE;
        }
        match self.translate_entry(address & !(PAGE_SIZE - 1)) {
            TranslateResult::Mapped {
                frame: MappedFrame::Size4KiB(frame),
                flags,
                ..
            } if flags.contains(needed) && !flags.contains(DEVICE) => {
                Some((frame.start_address(), flags))
            }
            _ => None,
        }
    }

    /// Copies `buffer.len()` bytes from user address `address`.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), AccessViolation> {
        self.read_with(address, buffer, false)
    }

    /// Copies `buffer.len()` bytes from user address `address`; with `writable` the range must
    /// be user-writable too (an in/out struct, checked before the call has any effect).
    pub fn read_with(
        &self,
        address: u64,
        buffer: &mut [u8],
        writable: bool,
    ) -> Result<(), AccessViolation> {
        self.check_if_spanning(address, buffer.len(), writable)?;
        self.copy_pages(
            address,
            buffer.len(),
            writable,
            |physical, offset, length| {
                // SAFETY: `check` found the range mapped and user-accessible; the window maps the
                // frame; the source is user memory, not a Rust object.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        memory::physical_to_virtual(physical).as_ptr::<u8>(),
                        buffer[offset..offset + length].as_mut_ptr(),
                        length,
                    );
                }
            },
        )
    }

    /// Copies `data` to user address `address`; with `ignore_write_protection` the page need
    /// not be user-writable (for the ELF loader filling read-only segments).
    pub fn write_with(
        &self,
        address: u64,
        data: &[u8],
        ignore_write_protection: bool,
    ) -> Result<(), AccessViolation> {
        let writable = !ignore_write_protection;
        self.check_if_spanning(address, data.len(), writable)?;
        self.copy_pages(address, data.len(), writable, |physical, offset, length| {
            // SAFETY: `check` found the range mapped (writable when required); the window maps
            // the frame; the destination is user memory, not a Rust object.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[offset..offset + length].as_ptr(),
                    memory::physical_to_virtual(physical).as_mut_ptr::<u8>(),
                    length,
                );
            }
        })
    }

    /// Copies `data` to user-writable memory at user address `address`.
    pub fn write(&self, address: u64, data: &[u8]) -> Result<(), AccessViolation> {
        self.write_with(address, data, false)
    }

    /// Checks that `length` bytes at `address` are user memory with the needed access.
    pub fn check(&self, address: u64, length: u64, write: bool) -> Result<(), AccessViolation> {
        if length == 0 {
            return Ok(());
        }
        let end = address
            .checked_add(length)
            .filter(|end| *end <= USER_END)
            .ok_or(AccessViolation { address })?;
        let mut page = address & !(PAGE_SIZE - 1);
        while page < end {
            let probe = page.max(address);
            if self.translate(probe, write).is_none() {
                return Err(AccessViolation { address: probe });
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Checks a range that crosses a page boundary before a copy, so that a copy that would
    /// fail on a later page changes nothing. A range inside one page is left to the copy, whose
    /// one translation is the whole check: the page is below [`USER_END`] (a page-aligned
    /// bound), so the range's end is too, and the address cannot overflow.
    fn check_if_spanning(
        &self,
        address: u64,
        length: usize,
        write: bool,
    ) -> Result<(), AccessViolation> {
        let room_in_page = PAGE_SIZE - (address & (PAGE_SIZE - 1));
        if length as u64 <= room_in_page {
            return Ok(());
        }
        self.check(address, length as u64, write)
    }

    /// Copies page by page, translating (and so checking) each page once.
    fn copy_pages(
        &self,
        address: u64,
        length: usize,
        write: bool,
        mut copy: impl FnMut(PhysAddr, usize, usize),
    ) -> Result<(), AccessViolation> {
        let mut done = 0usize;
        while done < length {
            let current = address + done as u64;
            let in_page = (PAGE_SIZE - (current & (PAGE_SIZE - 1))) as usize;
            let chunk = in_page.min(length - done);
            let physical = self
                .translate(current, write)
                .ok_or(AccessViolation { address: current })?;
            copy(physical, done, chunk);
            done += chunk;
        }
        Ok(())
    }

    fn free_table(physical: PhysAddr, level: usize) {
        // SAFETY: a table of this (dying) address space's lower half; nothing else refers to it.
        let table = unsafe { table_at(physical) };
        for entry in table.iter_mut() {
            if entry.is_unused() {
                continue;
            }
            if level > 1 {
                Self::free_table(entry.addr(), level - 1);
            } else if !entry.flags().contains(BORROWED) {
                // SAFETY: an owned (not borrowed) leaf of this dying address space: its frame
                // came from the frame allocator, and the entry is cleared right after.
                unsafe { memory::free_frame(entry.addr()) };
            }
            entry.set_unused();
        }
        // SAFETY: the table itself, allocated for this address space; its parent entry is
        // cleared by the caller and it is not active (the kernel tables are loaded).
        unsafe { memory::free_frame(physical) };
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        if Cr3::read().0 == PhysFrame::containing_address(self.level_4()) {
            activate_kernel();
        }
        // SAFETY: the level-4 table belongs to this address space; only its lower half (the
        // user part) is walked and freed; the upper half is the kernel's and stays.
        let table = unsafe { table_at(self.level_4()) };
        for entry in table.iter_mut().take(256) {
            if !entry.is_unused() {
                Self::free_table(entry.addr(), 3);
                entry.set_unused();
            }
        }
        for frame in core::mem::take(&mut self.unmapped_lent_frames) {
            // SAFETY: a frame this address space lent to a device and unmapped later (so no
            // table above freed it); the process is gone and its host state destroyed
            // (DestroyProcess runs before the address space is dropped), so nothing uses it.
            unsafe { memory::free_frame(frame) };
        }
        // The level-4 table itself goes with `self.root` (`RootFrame`), dropped next.
    }
}
