//! [`SharedFileMemory`]: guest memory shared with QEMU through a memory-backend file mapped at
//! a base GPA (GPA = base + file offset), mapped with `memmap2`: guest RAM at GPA 0, and the
//! `pc-dimm` that backs the emulated VMBus high MMIO gap at its own address.
//!
//! This is the emulator's one `unsafe` module. The guest writes the mapping concurrently, so
//! nothing here ever forms a Rust reference into it: bytes are copied with volatile accesses
//! and the 32-bit words with atomics created on the fly, after a bounds check.
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
        let map = MmapRaw::map_raw(&file)?;
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

impl GuestMemory for SharedFileMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let offset = self.offset(gpa, buffer.len())?;
        let base = self.map.as_ptr();
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: `offset + buffer.len() <= len` was checked, so every byte read is
            // inside the mapping; a volatile read of a `u8` has no alignment requirement and
            // tolerates concurrent modification by the guest (we copy, never trust in place).
            *byte = unsafe { base.add(offset + index).read_volatile() };
        }
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let offset = self.offset(gpa, data.len())?;
        let base = self.map.as_mut_ptr();
        for (index, byte) in data.iter().enumerate() {
            // SAFETY: bounds checked above, so every byte written is inside the writable,
            // shared mapping; a volatile `u8` write has no alignment requirement.
            unsafe { base.add(offset + index).write_volatile(*byte) };
        }
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
