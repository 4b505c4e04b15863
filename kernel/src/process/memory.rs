//! A process's anonymous memory (`mmap(MAP_PRIVATE | MAP_ANONYMOUS)`, what malloc and thread
//! stacks sit on): which address ranges are reserved in its mapping region.
//!
//! The region lies between the executable (linked at 4 MiB) and the view region
//! (`arch::view_region`, 0x6000_0000_0000…), far from the stack. Ranges are reserved first-fit
//! and whole pages; the pages themselves are mapped and unmapped by `process::linux`, eagerly
//! (no demand paging), so this type only keeps the bookkeeping: reservations as a sorted map
//! from start to length, plus the reserved total, capped per process ([`MAX_RESERVED_BYTES`])
//! so that one process cannot take every frame of the kernel.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Start of the mapping region (inclusive).
pub const REGION_START: u64 = 0x0000_1000_0000_0000;
/// End of the mapping region (exclusive): the view region starts here.
pub const REGION_END: u64 = crate::arch::view_region::VIEW_REGION_START;
/// The most a process may have reserved at once (256 MiB).
pub const MAX_RESERVED_BYTES: u64 = 256 * 1024 * 1024;
/// The page size.
pub const PAGE_SIZE: u64 = 4096;

/// The reservations of one process.
#[derive(Debug, Default)]
pub struct AnonymousMemory {
    /// Start → length, both page-aligned, non-overlapping.
    ranges: BTreeMap<u64, u64>,
    reserved: u64,
}

impl AnonymousMemory {
    /// Reserves `length` bytes (a non-zero multiple of the page size); returns the start, or
    /// `None` when the cap or the region would be exceeded.
    pub fn reserve(&mut self, length: u64) -> Option<u64> {
        if length == 0 || !length.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        if self.reserved.checked_add(length)? > MAX_RESERVED_BYTES {
            return None;
        }
        let mut candidate = REGION_START;
        for (&start, &range_length) in &self.ranges {
            if start >= candidate.checked_add(length)? {
                break;
            }
            candidate = candidate.max(start + range_length);
        }
        if candidate.checked_add(length)? > REGION_END {
            return None;
        }
        self.ranges.insert(candidate, length);
        self.reserved += length;
        Some(candidate)
    }

    /// Whether every byte of `[start, start + length)` is reserved.
    pub fn covers(&self, start: u64, length: u64) -> bool {
        let Some(end) = start.checked_add(length) else {
            return false;
        };
        let mut position = start;
        // The last range starting at or before `position`, then the ranges that follow it.
        let first = self
            .ranges
            .range(..=position)
            .next_back()
            .map(|(&start, _)| start)
            .unwrap_or(position);
        for (&range_start, &range_length) in self.ranges.range(first..) {
            if position >= end {
                break;
            }
            if range_start > position {
                return false;
            }
            position = position.max(range_start + range_length);
        }
        position >= end
    }

    /// Releases whatever is reserved inside `[start, start + length)` (splitting ranges that
    /// stick out); returns the released pieces (start, length) for the caller to unmap.
    pub fn release(&mut self, start: u64, length: u64) -> Vec<(u64, u64)> {
        let mut released = Vec::new();
        let Some(end) = start.checked_add(length) else {
            return released;
        };
        let overlapping: Vec<(u64, u64)> = self
            .ranges
            .range(..end)
            .filter(|&(&range_start, &range_length)| range_start + range_length > start)
            .map(|(&range_start, &range_length)| (range_start, range_length))
            .collect();
        for (range_start, range_length) in overlapping {
            let range_end = range_start + range_length;
            self.ranges.remove(&range_start);
            let cut_start = range_start.max(start);
            let cut_end = range_end.min(end);
            if range_start < cut_start {
                self.ranges.insert(range_start, cut_start - range_start);
            }
            if cut_end < range_end {
                self.ranges.insert(cut_end, range_end - cut_end);
            }
            self.reserved -= cut_end - cut_start;
            released.push((cut_start, cut_end - cut_start));
        }
        released
    }
}
