//! The UEFI memory map, before and after exiting boot services.

use crate::BootError;
use boot_info::{MAX_MEMORY_REGIONS, MemoryKind, MemoryRegion};
use uefi::boot::{self, MemoryType};
use uefi::mem::memory_map::{MemoryMap, MemoryMapOwned};

const PAGE: u64 = 4096;

/// One past the highest physical address the firmware describes (RAM or MMIO).
pub fn highest_address() -> Result<u64, BootError> {
    let map = boot::memory_map(MemoryType::LOADER_DATA).map_err(|error| BootError {
        status: error.status(),
        what: "read the memory map",
    })?;
    Ok(map
        .entries()
        .map(|d| d.phys_start + d.page_count * PAGE)
        .max()
        .unwrap_or(0))
}

fn kind(memory_type: MemoryType) -> MemoryKind {
    match memory_type {
        MemoryType::CONVENTIONAL
        | MemoryType::BOOT_SERVICES_CODE
        | MemoryType::BOOT_SERVICES_DATA
        | MemoryType::LOADER_CODE => MemoryKind::Usable,
        MemoryType::LOADER_DATA => MemoryKind::KernelReserved,
        MemoryType::ACPI_RECLAIM => MemoryKind::AcpiReclaimable,
        MemoryType::ACPI_NON_VOLATILE => MemoryKind::AcpiNvs,
        MemoryType::RUNTIME_SERVICES_CODE | MemoryType::RUNTIME_SERVICES_DATA => {
            MemoryKind::UefiRuntime
        }
        _ => MemoryKind::Reserved,
    }
}

/// Writes the map into `regions`, sorted by address with adjacent regions of one kind merged;
/// returns the count. When there are more regions than room, the tail is dropped (and usable
/// memory there is simply not used).
pub fn convert(map: &MemoryMapOwned, regions: &mut [MemoryRegion; MAX_MEMORY_REGIONS]) -> usize {
    let mut count = 0usize;
    let mut descriptors: [(u64, u64, MemoryKind); MAX_MEMORY_REGIONS] =
        [(0, 0, MemoryKind::Reserved); MAX_MEMORY_REGIONS];
    let mut total = 0usize;
    for descriptor in map.entries() {
        if total == MAX_MEMORY_REGIONS {
            break;
        }
        descriptors[total] = (
            descriptor.phys_start,
            descriptor.page_count * PAGE,
            kind(descriptor.ty),
        );
        total += 1;
    }
    let descriptors = &mut descriptors[..total];
    descriptors.sort_unstable_by_key(|d| d.0);
    for &(start, length, kind) in descriptors.iter() {
        if count > 0 {
            let last = &mut regions[count - 1];
            if last.kind() == kind && last.end() == start {
                last.length += length;
                continue;
            }
        }
        regions[count] = MemoryRegion {
            start,
            length,
            kind: kind as u32,
            reserved: 0,
        };
        count += 1;
    }
    count
}
