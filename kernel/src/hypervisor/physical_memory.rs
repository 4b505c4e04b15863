//! `GuestMemory` over the guest's own RAM, through the physical-memory window.
//!
//! Only RAM from the boot memory map is reachable (never MMIO), and every access is
//! bounds-checked against it. Copies are volatile so the compiler neither elides nor repeats
//! them: the host may change shared pages at any time, and callers validate what they copied.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use boot_info::{BootInfo, MemoryKind};
use hyperv::memory::{GuestMemory, MemoryError};
use x86_64::PhysAddr;

use crate::memory::physical_to_virtual;

/// The guest's RAM by guest-physical address.
#[derive(Clone)]
pub struct PhysicalMemory {
    /// Sorted, merged `[start, end)` RAM ranges.
    ranges: Vec<(u64, u64)>,
}

impl PhysicalMemory {
    /// The RAM ranges of the boot memory map (usable, kernel, ACPI reclaimable).
    pub fn from_boot_info(boot_info: &BootInfo) -> Self {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for region in boot_info.memory_regions() {
            if !matches!(
                region.kind(),
                MemoryKind::Usable | MemoryKind::KernelReserved | MemoryKind::AcpiReclaimable
            ) {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.1 == region.start => last.1 = region.end(),
                _ => ranges.push((region.start, region.end())),
            }
        }
        PhysicalMemory { ranges }
    }

    fn check(&self, gpa: u64, length: usize) -> Result<*mut u8, MemoryError> {
        let error = MemoryError::OutOfRange { gpa, length: length as u64 };
        let end = gpa.checked_add(length as u64).ok_or(error)?;
        if !self.ranges.iter().any(|&(start, stop)| start <= gpa && end <= stop) {
            return Err(error);
        }
        Ok(physical_to_virtual(PhysAddr::new(gpa)).as_mut_ptr())
    }

    fn atomic(&self, gpa: u64) -> Result<&AtomicU32, MemoryError> {
        if gpa % 4 != 0 {
            return Err(MemoryError::Misaligned { gpa });
        }
        let pointer = self.check(gpa, 4)?;
        // SAFETY: the address is aligned RAM inside the window (checked above), which stays
        // mapped for the kernel's lifetime; AtomicU32 has the layout of u32.
        Ok(unsafe { &*(pointer as *const AtomicU32) })
    }
}

impl GuestMemory for PhysicalMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let source = self.check(gpa, buffer.len())?;
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: `source..source + len` is mapped RAM (checked above).
            *byte = unsafe { core::ptr::read_volatile(source.add(index)) };
        }
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let destination = self.check(gpa, data.len())?;
        for (index, byte) in data.iter().enumerate() {
            // SAFETY: `destination..destination + len` is mapped RAM (checked above).
            unsafe { core::ptr::write_volatile(destination.add(index), *byte) };
        }
        Ok(())
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        Ok(self.atomic(gpa)?.load(Ordering::Acquire))
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.atomic(gpa)?.store(value, Ordering::Release);
        Ok(())
    }
}
