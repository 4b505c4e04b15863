//! The physical frame allocator: one bit per 4 KiB frame up to the end of the highest usable
//! region, set when the frame is in use (or is not usable RAM at all).
//!
//! Only `MemoryKind::Usable` frames are ever cleared, so KernelReserved, ACPI, UEFI runtime and
//! MMIO regions can never be handed out. The first 1 MiB is kept back as well (frame 0 would
//! alias a null physical address; low memory is precious for later AP start-up code). The
//! bitmap itself lives in the first usable region large enough to hold it.
//!
//! A first-fit scan serves both single frames and physically contiguous runs (VMBus rings need
//! contiguous pages with known physical addresses).

use boot_info::{MemoryKind, MemoryRegion};
use x86_64::PhysAddr;

/// Size of a frame.
pub const FRAME_SIZE: u64 = 4096;
const RESERVED_LOW_MEMORY: u64 = 1024 * 1024;

/// The bitmap and its bookkeeping.
pub struct FrameBitmap {
    bits: &'static mut [u64],
    frame_count: usize,
    free_count: usize,
    search_hint: usize,
}

impl FrameBitmap {
    /// Builds the bitmap from the memory map, placing it at `storage` (which must be frames of a
    /// usable region, mapped through the physical-memory window at `storage_virtual`).
    pub fn new(
        regions: &[MemoryRegion],
        storage: &'static mut [u64],
        storage_physical: u64,
    ) -> Self {
        let frame_count = storage.len() * 64;
        storage.fill(u64::MAX);
        let mut bitmap = FrameBitmap {
            bits: storage,
            frame_count,
            free_count: 0,
            search_hint: 0,
        };
        for region in regions
            .iter()
            .filter(|region| region.kind() == MemoryKind::Usable)
        {
            let start = region.start.max(RESERVED_LOW_MEMORY).div_ceil(FRAME_SIZE);
            let end = (region.end() / FRAME_SIZE).min(frame_count as u64);
            for frame in start..end {
                bitmap.set_free(frame as usize);
            }
        }
        let storage_frames = (bitmap.bits.len() as u64 * 8).div_ceil(FRAME_SIZE);
        let first = storage_physical / FRAME_SIZE;
        for frame in first..first + storage_frames {
            bitmap.set_used(frame as usize);
        }
        bitmap
    }

    /// Frames needed to track memory up to `end` (one bit each), as 64-bit words.
    pub fn words_needed(end: u64) -> usize {
        (end / FRAME_SIZE).div_ceil(64) as usize
    }

    fn is_used(&self, frame: usize) -> bool {
        self.bits[frame / 64] & (1 << (frame % 64)) != 0
    }

    fn set_free(&mut self, frame: usize) {
        if self.is_used(frame) {
            self.bits[frame / 64] &= !(1 << (frame % 64));
            self.free_count += 1;
        }
    }

    fn set_used(&mut self, frame: usize) {
        if frame < self.frame_count && !self.is_used(frame) {
            self.bits[frame / 64] |= 1 << (frame % 64);
            self.free_count -= 1;
        }
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> usize {
        self.free_count
    }

    /// Finds and claims `count` contiguous free frames; returns the first one's address.
    pub fn allocate(&mut self, count: usize) -> Option<PhysAddr> {
        if count == 0 || count > self.free_count {
            return None;
        }
        let found = self
            .find_run(self.search_hint, self.frame_count, count)
            .or_else(|| self.find_run(0, self.frame_count, count))?;
        for frame in found..found + count {
            self.set_used(frame);
        }
        self.search_hint = found + count;
        Some(PhysAddr::new(found as u64 * FRAME_SIZE))
    }

    fn find_run(&self, from: usize, to: usize, count: usize) -> Option<usize> {
        let mut frame = from;
        let mut run_start = from;
        let mut run_length = 0;
        while frame < to {
            if frame.is_multiple_of(64) && self.bits[frame / 64] == u64::MAX {
                frame += 64;
                run_length = 0;
                run_start = frame;
                continue;
            }
            if self.is_used(frame) {
                run_length = 0;
                run_start = frame + 1;
            } else {
                run_length += 1;
                if run_length == count {
                    return Some(run_start);
                }
            }
            frame += 1;
        }
        None
    }

    /// Returns `count` frames starting at `start` (which a previous [`Self::allocate`] gave out).
    pub fn free(&mut self, start: PhysAddr, count: usize) {
        let first = (start.as_u64() / FRAME_SIZE) as usize;
        for frame in first..first + count {
            if frame < self.frame_count {
                self.set_free(frame);
            }
        }
        self.search_hint = self.search_hint.min(first);
    }
}
