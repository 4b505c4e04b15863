//! [`SharedFileMemory`]: guest memory shared with QEMU through a memory-backend file mapped at
//! a base GPA (GPA = base + file offset), mapped with `memmap2`: guest RAM at GPA 0, and the
//! `pc-dimm` that backs the emulated VMBus high MMIO gap at its own address.
//!
//! This is the emulator's one `unsafe` module. The guest writes the mapping concurrently, so
//! nothing here ever forms a Rust reference into it: bytes are copied by `shared_copy` (inline
//! assembly on x86-64, volatile bytes elsewhere) and the 32-bit words with atomics created on
//! the fly, after a bounds check.
#![allow(unsafe_code)]

use hyperv::memory::{GuestMemory, MemoryError};
use memmap2::MmapRaw;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Guest memory mapped from one of QEMU's shared memory-backend files.
pub struct SharedFileMemory {
    map: MmapRaw,
    base: u64,
}

impl SharedFileMemory {
    /// Maps the whole file read-write and shared, as guest RAM at GPA 0.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_at(path, 0)
    }

    /// Maps the whole file read-write and shared, its first byte at GPA `base`.
    pub fn open_at(path: &Path, base: u64) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::from_file(&file, base)
    }

    /// Maps all of an open file (a memfd, say) read-write and shared, its first byte at GPA
    /// `base`.
    pub fn from_file(file: &std::fs::File, base: u64) -> std::io::Result<Self> {
        let map = MmapRaw::map_raw(file)?;
        if base.checked_add(map.len() as u64).is_none() {
            return Err(std::io::Error::other(
                "mapping wraps past the top of the GPA space",
            ));
        }
        Ok(Self { map, base })
    }

    /// Bytes mapped.
    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }

    /// GPA of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Whether `[gpa, gpa + length)` lies inside this mapping.
    pub fn covers(&self, gpa: u64, length: u64) -> bool {
        gpa >= self.base
            && gpa
                .checked_add(length)
                .is_some_and(|end| end <= self.base + self.size())
    }

    /// Checks `[gpa, gpa + length)` and returns its offset in the mapping.
    fn offset(&self, gpa: u64, length: usize) -> Result<usize, MemoryError> {
        let error = MemoryError::OutOfRange {
            gpa,
            length: length as u64,
        };
        if !self.covers(gpa, length as u64) {
            return Err(error);
        }
        usize::try_from(gpa - self.base).map_err(|_| error)
    }

    fn word(&self, gpa: u64) -> Result<&AtomicU32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        // SAFETY: `offset + 4 <= len` was checked, so the pointer is inside the live mapping
        // (which `self` keeps alive for the returned lifetime); the mapping is page-aligned
        // and `gpa` is 4-aligned, so the pointer is aligned for `AtomicU32`. The memory is
        // only ever accessed atomically or with volatile byte copies by this process, and by
        // the guest (outside Rust's model) concurrently, which is what atomics are for.
        Ok(unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) })
    }
}

/// Copies `length` bytes between our memory and the mapping, which the guest may write
/// meanwhile. On x86-64: `rep movsq` then `rep movsb` in inline assembly, which is outside
/// Rust's memory model (a concurrent guest write is no data race; each byte read is some value
/// the guest wrote) and runs at `memcpy` speed, as OpenVMM's `trycopy` crate copies guest
/// memory (microsoft/openvmm `support/trycopy/src/lib.rs`); the same copy as the kernel's
/// `PhysicalMemory`. Elsewhere: one volatile byte at a time.
///
/// # Safety
/// `source` must be valid for reads and `destination` for writes of `length` bytes, and the
/// ranges must not overlap.
unsafe fn shared_copy(source: *const u8, destination: *mut u8, length: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: both ranges are valid for `length` = 8·words + bytes bytes and disjoint (the
    // caller's promise); `rep movs` copies exactly that many bytes forward (the direction flag
    // is clear on entry to an asm block), uses no stack, changes no flags, and the operands
    // declare rsi/rdi/rcx as clobbered.
    unsafe {
        core::arch::asm!(
            "rep movsq",
            "mov rcx, {bytes}",
            "rep movsb",
            bytes = in(reg) length % 8,
            inout("rcx") length / 8 => _,
            inout("rsi") source => _,
            inout("rdi") destination => _,
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for index in 0..length {
        // SAFETY: `index < length`, inside both ranges (the caller's promise); volatile `u8`
        // accesses have no alignment requirement.
        unsafe {
            destination
                .add(index)
                .write_volatile(source.add(index).read_volatile())
        };
    }
}

impl GuestMemory for SharedFileMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let offset = self.offset(gpa, buffer.len())?;
        // SAFETY: `offset + buffer.len() <= len` was checked, so the source lies inside the
        // mapping; `buffer` is ours and not part of the mapping, so the ranges are disjoint.
        unsafe {
            shared_copy(
                self.map.as_ptr().add(offset),
                buffer.as_mut_ptr(),
                buffer.len(),
            )
        };
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let offset = self.offset(gpa, data.len())?;
        // SAFETY: bounds checked above, so the destination lies inside the writable, shared
        // mapping; `data` is a Rust slice, not part of the mapping, so the ranges are disjoint.
        unsafe { shared_copy(data.as_ptr(), self.map.as_mut_ptr().add(offset), data.len()) };
        Ok(())
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        Ok(self.word(gpa)?.load(Ordering::Acquire))
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.word(gpa)?.store(value, Ordering::Release);
        Ok(())
    }

    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        Ok(self.word(gpa)?.swap(value, Ordering::AcqRel))
    }

    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(self.word(gpa)?.fetch_or(bits, Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_backed_memory_round_trips_and_checks_bounds() {
        let path = std::env::temp_dir().join(format!("dxgos-shared-memory-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; 8192]).unwrap();
        let memory = SharedFileMemory::open(&path).unwrap();
        assert_eq!(memory.size(), 8192);
        memory.write(0x1003, &[1, 2, 3, 4, 5]).unwrap();
        let mut out = [0u8; 6];
        memory.read(0x1002, &mut out).unwrap();
        assert_eq!(out, [0, 1, 2, 3, 4, 5]);
        assert_eq!(memory.fetch_or_u32(0x1ffc, 0x100).unwrap(), 0);
        assert_eq!(memory.swap_u32(0x1ffc, 0).unwrap(), 0x100);
        assert_eq!(
            memory.load_u32(0x1002),
            Err(MemoryError::Misaligned { gpa: 0x1002 })
        );
        assert!(matches!(
            memory.read(8190, &mut [0; 4]),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(matches!(
            memory.write(u64::MAX, &[0; 2]),
            Err(MemoryError::OutOfRange { .. })
        ));
        // The file sees the writes (as QEMU would).
        drop(memory);
        let contents = std::fs::read(&path).unwrap();
        assert_eq!(&contents[0x1003..0x1008], &[1, 2, 3, 4, 5]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn copies_of_every_length_and_alignment_touch_exactly_their_bytes() {
        let path = std::env::temp_dir().join(format!("dxgos-shared-copy-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let memory = SharedFileMemory::open(&path).unwrap();
        let mut model = vec![0u8; 96];
        for start in 0..40usize {
            for length in 0..=(96 - start).min(40) {
                let data: Vec<u8> = (0..length).map(|index| (start * 7 + index) as u8).collect();
                memory.write(start as u64, &data).unwrap();
                model[start..start + length].copy_from_slice(&data);
                let mut all = vec![0u8; 96];
                memory.read(0, &mut all).unwrap();
                assert_eq!(all, model, "after writing {length} bytes at {start}");
            }
        }
        drop(memory);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_mapping_at_a_base_address_is_reached_by_gpa() {
        let path = std::env::temp_dir().join(format!("dxgos-shared-base-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let memory = SharedFileMemory::open_at(&path, 0x1_0000_0000).unwrap();
        memory.write(0x1_0000_0010, &[7, 8]).unwrap();
        assert!(matches!(
            memory.read(0x10, &mut [0; 2]),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(memory.covers(0x1_0000_0000, 4096));
        assert!(!memory.covers(0x1_0000_0001, 4096));
        drop(memory);
        assert_eq!(&std::fs::read(&path).unwrap()[0x10..0x12], &[7, 8]);
        std::fs::remove_file(&path).unwrap();
    }
}
