//! A GPU virtual address space: one per host process and vGPU (RESERVEGPUVIRTUALADDRESS and
//! FREEGPUVIRTUALADDRESS name an adapter, not a device, so the space is per process per adapter).
//!
//! Addresses live in `[VA_BASE, VA_END)`, page (4 KiB) granular. Reservations are disjoint
//! ranges; mappings are kept per page (page → allocation, page of the allocation), so MAP over an
//! existing mapping replaces it and UNMAP / COPY work on any page range. Every mapped page lies in
//! a reservation; MAP at address 0 makes an implicit reservation of its own size.

use dxg::wire::{D3dkmtHandle, NtStatus, PAGE_SIZE, RESERVE_NO_COMMIT};
use std::collections::BTreeMap;

/// Lowest GPU virtual address handed out (kept apart from IO-space guest-physical addresses,
/// which the command processor also accepts as command buffer addresses).
pub const VA_BASE: u64 = 0x1000_0000_0000;
/// End (exclusive) of the GPU virtual address space.
pub const VA_END: u64 = 0x8000_0000_0000;

/// One mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedPage {
    /// The allocation.
    pub allocation: D3dkmtHandle,
    /// Page index inside the allocation.
    pub allocation_page: u64,
    /// Protection bits given with the mapping.
    pub protection: u64,
}

/// A reserved range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Size in bytes (page multiple).
    pub size: u64,
    /// 0 no-access, 1 zero, 2 no-commit.
    pub reservation_type: u32,
}

impl Reservation {
    /// The end of the reservation starting at `start`. Reservations lie inside
    /// [`VA_BASE`, `VA_END`) (checked when made), so the sum never saturates.
    fn end(&self, start: u64) -> u64 {
        start.saturating_add(self.size)
    }
}

/// A process's GPU virtual address space on one vGPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuVaSpace {
    reservations: BTreeMap<u64, Reservation>,
    pages: BTreeMap<u64, MappedPage>,
}

fn page_count(size: u64) -> Result<u64, NtStatus> {
    if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(size / PAGE_SIZE)
}

impl GpuVaSpace {
    /// An empty space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `size` bytes at `base` (non-zero: exactly there) or anywhere in
    /// `[minimum, maximum)` (`maximum` 0 = no limit). Returns the base address.
    pub fn reserve(
        &mut self,
        base: u64,
        minimum: u64,
        maximum: u64,
        size: u64,
        reservation_type: u32,
    ) -> Result<u64, NtStatus> {
        page_count(size)?;
        if reservation_type > RESERVE_NO_COMMIT {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let address = if base != 0 {
            let end = base.checked_add(size).ok_or(NtStatus::INVALID_PARAMETER)?;
            if !base.is_multiple_of(PAGE_SIZE) || base < VA_BASE || end > VA_END {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            if !self.is_free(base, end) {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            base
        } else {
            self.find_free(minimum, maximum, size)
                .ok_or(NtStatus::NO_MEMORY)?
        };
        self.reservations.insert(
            address,
            Reservation {
                size,
                reservation_type,
            },
        );
        Ok(address)
    }

    /// Frees the reservation that starts at `base` with exactly `size` bytes, with its mappings.
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), NtStatus> {
        match self.reservations.get(&base) {
            Some(reservation) if reservation.size == size => {}
            _ => return Err(NtStatus::INVALID_PARAMETER),
        }
        self.reservations.remove(&base);
        self.clear_pages(base, size);
        Ok(())
    }

    /// Maps `page_count` pages of `allocation` (of `allocation_pages` pages) from
    /// `first_allocation_page` at `base` (inside a reservation) or, with `base` 0, at a new
    /// implicit reservation in `[minimum, maximum)`. Returns the address.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &mut self,
        base: u64,
        minimum: u64,
        maximum: u64,
        allocation: D3dkmtHandle,
        allocation_pages: u64,
        first_allocation_page: u64,
        pages: u64,
        protection: u64,
    ) -> Result<u64, NtStatus> {
        let end_page = first_allocation_page
            .checked_add(pages)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        if pages == 0 || end_page > allocation_pages {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let size = pages
            .checked_mul(PAGE_SIZE)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let address = if base == 0 {
            self.reserve(0, minimum, maximum, size, 0)?
        } else {
            self.check_reserved(base, size)?;
            base
        };
        // [address, address + size) is inside a reservation (below VA_END) and the allocation
        // pages end at end_page, both checked above: the page walk cannot overflow.
        let page_addresses = (address..address.saturating_add(size)).step_by(PAGE_SIZE as usize);
        for (page_address, allocation_page) in page_addresses.zip(first_allocation_page..end_page) {
            self.pages.insert(
                page_address,
                MappedPage {
                    allocation,
                    allocation_page,
                    protection,
                },
            );
        }
        Ok(address)
    }

    /// Unmaps a reserved range (it stays reserved).
    pub fn unmap(&mut self, base: u64, size: u64) -> Result<(), NtStatus> {
        self.check_reserved(base, size)?;
        self.clear_pages(base, size);
        Ok(())
    }

    /// Copies the mappings of `[source, source + size)` to `destination` (both reserved; pages
    /// unmapped in the source become unmapped in the destination).
    pub fn copy(&mut self, source: u64, size: u64, destination: u64) -> Result<(), NtStatus> {
        self.check_reserved(source, size)?;
        self.check_reserved(destination, size)?;
        // Both ranges are whole pages inside reservations (checked above), so neither end
        // overflows.
        let source_pages = (source..source.saturating_add(size)).step_by(PAGE_SIZE as usize);
        let copied: Vec<Option<MappedPage>> = source_pages
            .map(|address| self.pages.get(&address).copied())
            .collect();
        let destination_pages =
            (destination..destination.saturating_add(size)).step_by(PAGE_SIZE as usize);
        for (address, page) in destination_pages.zip(copied) {
            match page {
                Some(page) => self.pages.insert(address, page),
                None => self.pages.remove(&address),
            };
        }
        Ok(())
    }

    /// The mapping of the page containing `address`, with the byte offset inside that page.
    pub fn translate(&self, address: u64) -> Option<(MappedPage, u64)> {
        let offset = address % PAGE_SIZE;
        // offset <= address, so the page base never wraps.
        let page = address.saturating_sub(offset);
        self.pages.get(&page).map(|mapped| (*mapped, offset))
    }

    /// Unmaps every page of a destroyed allocation.
    pub fn forget_allocation(&mut self, allocation: D3dkmtHandle) {
        self.pages.retain(|_, page| page.allocation != allocation);
    }

    /// Number of mapped pages.
    pub fn mapped_pages(&self) -> usize {
        self.pages.len()
    }

    /// Number of reservations.
    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    fn clear_pages(&mut self, base: u64, size: u64) {
        let doomed: Vec<u64> = self
            .pages
            .range(base..base.saturating_add(size))
            .map(|(address, _)| *address)
            .collect();
        for address in doomed {
            self.pages.remove(&address);
        }
    }

    /// Checks that `[base, base + size)` is page aligned and inside one reservation.
    fn check_reserved(&self, base: u64, size: u64) -> Result<(), NtStatus> {
        page_count(size)?;
        let end = base.checked_add(size).ok_or(NtStatus::INVALID_PARAMETER)?;
        if !base.is_multiple_of(PAGE_SIZE) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        match self.reservations.range(..=base).next_back() {
            Some((start, reservation)) if end <= reservation.end(*start) => Ok(()),
            _ => Err(NtStatus::INVALID_PARAMETER),
        }
    }

    fn is_free(&self, base: u64, end: u64) -> bool {
        let before = self
            .reservations
            .range(..end)
            .next_back()
            .is_some_and(|(start, reservation)| reservation.end(*start) > base);
        !before
    }

    fn find_free(&self, minimum: u64, maximum: u64, size: u64) -> Option<u64> {
        let low = minimum.max(VA_BASE).next_multiple_of(PAGE_SIZE);
        let high = if maximum == 0 {
            VA_END
        } else {
            maximum.min(VA_END)
        };
        let mut candidate = low;
        for (start, reservation) in &self.reservations {
            let end = reservation.end(*start);
            if end <= candidate {
                continue;
            }
            if *start >= candidate.checked_add(size)? {
                break;
            }
            candidate = end;
        }
        (candidate.checked_add(size)? <= high).then_some(candidate)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    const A: D3dkmtHandle = D3dkmtHandle(0x40);

    #[test]
    fn reserve_map_translate_unmap_free() {
        let mut space = GpuVaSpace::new();
        let base = space.reserve(0, 0, 0, 4 * PAGE_SIZE, 0).unwrap();
        assert_eq!(base, VA_BASE);
        let second = space.reserve(0, 0, 0, PAGE_SIZE, 0).unwrap();
        assert_eq!(
            second,
            VA_BASE + 4 * PAGE_SIZE,
            "first fit after the first range"
        );
        assert_eq!(
            space.reserve(base + PAGE_SIZE, 0, 0, PAGE_SIZE, 0),
            Err(NtStatus::INVALID_PARAMETER),
            "overlap"
        );
        assert_eq!(
            space.map(base + PAGE_SIZE, 0, 0, A, 2, 0, 2, 0),
            Ok(base + PAGE_SIZE)
        );
        assert_eq!(
            space
                .translate(base + 2 * PAGE_SIZE + 8)
                .map(|(page, offset)| (page.allocation_page, offset)),
            Some((1, 8))
        );
        assert_eq!(
            space.map(base + 3 * PAGE_SIZE, 0, 0, A, 2, 0, 2, 0),
            Err(NtStatus::INVALID_PARAMETER),
            "past the reservation"
        );
        assert_eq!(
            space.map(base, 0, 0, A, 2, 1, 2, 0),
            Err(NtStatus::INVALID_PARAMETER),
            "past the allocation"
        );
        space.copy(base + PAGE_SIZE, PAGE_SIZE, base).unwrap();
        assert_eq!(space.translate(base).unwrap().0.allocation_page, 0);
        space.unmap(base, 2 * PAGE_SIZE).unwrap();
        assert_eq!(space.mapped_pages(), 1);
        assert_eq!(
            space.free(base, PAGE_SIZE),
            Err(NtStatus::INVALID_PARAMETER),
            "size must match"
        );
        space.free(base, 4 * PAGE_SIZE).unwrap();
        assert_eq!(space.mapped_pages(), 0);
        assert_eq!(
            space.reserve(0, 0, 0, PAGE_SIZE, 0),
            Ok(VA_BASE),
            "freed space is reused"
        );
    }

    #[test]
    fn bounds_and_implicit_reservations() {
        let mut space = GpuVaSpace::new();
        assert_eq!(
            space.reserve(0, 0, 0, 0, 0),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            space.reserve(0, 0, 0, 100, 0),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            space.reserve(0, 0, 0, PAGE_SIZE, 3),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            space.reserve(VA_END - PAGE_SIZE, 0, 0, 2 * PAGE_SIZE, 0),
            Err(NtStatus::INVALID_PARAMETER)
        );
        assert_eq!(
            space.reserve(0, 0, VA_BASE + PAGE_SIZE, 2 * PAGE_SIZE, 0),
            Err(NtStatus::NO_MEMORY)
        );
        let high = VA_BASE + 0x10_0000;
        assert_eq!(space.reserve(0, high, 0, PAGE_SIZE, 0), Ok(high));
        let mapped = space.map(0, 0, 0, A, 1, 0, 1, 0).unwrap();
        assert_eq!(mapped, VA_BASE);
        space.forget_allocation(A);
        assert_eq!(space.mapped_pages(), 0);
        assert_eq!(space.reservation_count(), 2);
    }
}
