//! Existing-system-memory allocations (SETEXISTINGSYSMEMPAGES 66 / SETEXISTINGSYSMEMSTORE 45).
//!
//! Such an allocation is not backed by IO-space pages but by guest pages the guest names (page
//! frame numbers). The host gives it a *window*: a synthetic address range above
//! [`WINDOW_BASE`], one [`WINDOW_STRIDE`] per allocation, so the allocation still has one
//! `address` like every other allocation. [`ScatteredMemory`] wraps the guest memory and
//! translates window addresses page by page to the guest pages; every other address passes
//! through. The command processor, GPU virtual addresses and offer/discard therefore work on
//! existing-sysmem allocations unchanged, reading and writing the guest's own pages.
//!
//! Windows are reference counted: an allocation opened by another process (OPENRESOURCE) shares
//! its creator's window.

use hyperv::memory::{GuestMemory, MemoryError};
use std::collections::BTreeMap;

/// First window address (far above any guest-physical address).
pub const WINDOW_BASE: u64 = 1 << 62;
/// Address space per window (larger than the biggest allocation).
pub const WINDOW_STRIDE: u64 = 1 << 27;
const PAGE: u64 = dxg::wire::PAGE_SIZE;

#[derive(Debug)]
struct Window {
    /// Guest-physical address of each page, `None` until the guest named it.
    pages: Vec<Option<u64>>,
    /// Holders (the creating allocation and every opened copy).
    references: u32,
}

/// All windows of one host.
#[derive(Debug, Default)]
pub struct SysmemWindows {
    next: u64,
    windows: BTreeMap<u64, Window>,
}

/// Why the guest's page list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagesError {
    /// The address is not a window.
    NotSysmem,
    /// `offset + count` exceeds the allocation.
    OutOfRange,
}

impl SysmemWindows {
    /// Whether `address` lies in the window range.
    pub fn is_window(address: u64) -> bool {
        address >= WINDOW_BASE
    }

    /// A new window of `pages` pages (none named yet); returns its address, or `None` once the
    /// window range above [`WINDOW_BASE`] is used up.
    pub fn create(&mut self, pages: usize) -> Option<u64> {
        let address = self
            .next
            .checked_mul(WINDOW_STRIDE)
            .and_then(|offset| WINDOW_BASE.checked_add(offset))?;
        self.next = self.next.checked_add(1)?;
        self.windows.insert(
            address,
            Window {
                pages: vec![None; pages],
                references: 1,
            },
        );
        Some(address)
    }

    /// One more holder of the window at `address`.
    pub fn retain(&mut self, address: u64) {
        if let Some(window) = self.windows.get_mut(&address) {
            window.references = window.references.saturating_add(1);
        }
    }

    /// Drops one holder; the window goes with the last one.
    pub fn release(&mut self, address: u64) {
        if let Some(window) = self.windows.get_mut(&address) {
            window.references = window.references.saturating_sub(1);
            if window.references == 0 {
                self.windows.remove(&address);
            }
        }
    }

    /// Names guest pages `offset .. offset + frames.len()` of the window by page frame number.
    pub fn set_pages(
        &mut self,
        address: u64,
        offset: usize,
        frames: &[u64],
    ) -> Result<(), PagesError> {
        let window = self
            .windows
            .get_mut(&address)
            .ok_or(PagesError::NotSysmem)?;
        let end = offset
            .checked_add(frames.len())
            .ok_or(PagesError::OutOfRange)?;
        let slots = window
            .pages
            .get_mut(offset..end)
            .ok_or(PagesError::OutOfRange)?;
        for (slot, frame) in slots.iter_mut().zip(frames) {
            *slot = Some(frame.saturating_mul(PAGE));
        }
        Ok(())
    }

    /// The guest-physical address behind window address `address` (one page at most).
    fn translate(&self, address: u64) -> Option<u64> {
        let (base, window) = self.windows.range(..=address).next_back()?;
        let offset = address.checked_sub(*base)?;
        let page = window.pages.get((offset / PAGE) as usize).copied()??;
        page.checked_add(offset % PAGE)
    }

    /// Whether every page of the window at `address` was named.
    pub fn complete(&self, address: u64) -> bool {
        self.windows
            .get(&address)
            .is_some_and(|window| window.pages.iter().all(Option::is_some))
    }

    /// Live windows.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Guest memory with the windows translated (see the module documentation).
pub struct ScatteredMemory<'a> {
    /// The real guest memory.
    pub inner: &'a dyn GuestMemory,
    /// The windows.
    pub windows: &'a SysmemWindows,
}

impl ScatteredMemory<'_> {
    /// Splits `[address, address + length)` into per-page pieces and calls `each` with the
    /// translated address, the offset in the caller's buffer and the piece length.
    fn pieces(
        &self,
        address: u64,
        length: usize,
        mut each: impl FnMut(u64, usize, usize) -> Result<(), MemoryError>,
    ) -> Result<(), MemoryError> {
        if !SysmemWindows::is_window(address) {
            return each(address, 0, length);
        }
        let mut done = 0usize;
        while let Some(remaining) = length.checked_sub(done).filter(|left| *left > 0) {
            let current = address
                .checked_add(done as u64)
                .ok_or(MemoryError::OutOfRange {
                    gpa: address,
                    length: length as u64,
                })?;
            // current % PAGE < PAGE, so this is 1 ..= PAGE.
            let in_page = PAGE.saturating_sub(current % PAGE) as usize;
            let take = in_page.min(remaining);
            let physical = self
                .windows
                .translate(current)
                .ok_or(MemoryError::OutOfRange {
                    gpa: current,
                    length: take as u64,
                })?;
            each(physical, done, take)?;
            // take <= remaining, so done stays <= length.
            done = done.saturating_add(take);
        }
        Ok(())
    }
}

impl GuestMemory for ScatteredMemory<'_> {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let length = buffer.len();
        self.pieces(gpa, length, |physical, offset, take| {
            let piece = offset
                .checked_add(take)
                .and_then(|end| buffer.get_mut(offset..end))
                .ok_or(MemoryError::OutOfRange {
                    gpa: physical,
                    length: take as u64,
                })?;
            self.inner.read(physical, piece)
        })
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.pieces(gpa, data.len(), |physical, offset, take| {
            let piece = offset
                .checked_add(take)
                .and_then(|end| data.get(offset..end))
                .ok_or(MemoryError::OutOfRange {
                    gpa: physical,
                    length: take as u64,
                })?;
            self.inner.write(physical, piece)
        })
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        let mut physical = gpa;
        self.pieces(gpa, 4, |address, _, _| {
            physical = address;
            Ok(())
        })?;
        self.inner.load_u32(physical)
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        let mut physical = gpa;
        self.pieces(gpa, 4, |address, _, _| {
            physical = address;
            Ok(())
        })?;
        self.inner.store_u32(physical, value)
    }
}
