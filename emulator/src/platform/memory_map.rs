//! [`GuestMemoryMap`]: the guest-physical address space the emulated host can reach, made of
//! several shared mappings (guest RAM at 0, the `pc-dimm` behind the VMBus high gap), and
//! [`PlatformLayout`]: which of it is RAM and which are the VMBus MMIO gaps, so the emulator
//! refuses what Hyper-V refuses (device ranges inside RAM or outside the gaps).

use super::shared_memory::SharedFileMemory;
use hyperv::memory::{GuestMemory, MemoryError};
use hyperv::mmio::{MmioGaps, MmioRange};
use std::fmt;

/// Several shared mappings, each at its own GPA; an access must lie inside one of them.
pub struct GuestMemoryMap {
    regions: Vec<SharedFileMemory>,
}

impl GuestMemoryMap {
    /// A map of `regions` (they must not overlap: checked).
    pub fn new(regions: Vec<SharedFileMemory>) -> std::io::Result<Self> {
        let mut spans: Vec<MmioRange> = regions
            .iter()
            .map(|region| MmioRange::new(region.base(), region.size()))
            .collect();
        spans.sort();
        if spans.windows(2).any(|pair| pair[0].overlaps(&pair[1])) {
            return Err(std::io::Error::other("guest memory mappings overlap"));
        }
        Ok(Self { regions })
    }

    fn region(&self, gpa: u64, length: u64) -> Result<&SharedFileMemory, MemoryError> {
        self.regions
            .iter()
            .find(|region| region.covers(gpa, length))
            .ok_or(MemoryError::OutOfRange { gpa, length })
    }
}

impl GuestMemory for GuestMemoryMap {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.region(gpa, buffer.len() as u64)?.read(gpa, buffer)
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.region(gpa, data.len() as u64)?.write(gpa, data)
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        self.region(gpa, 4)?.load_u32(gpa)
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.region(gpa, 4)?.store_u32(gpa, value)
    }

    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        self.region(gpa, 4)?.swap_u32(gpa, value)
    }

    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        self.region(gpa, 4)?.fetch_or_u32(gpa, bits)
    }
}

/// The platform's address map as the host knows it: guest RAM and the VMBus MMIO gaps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformLayout {
    /// Guest RAM ranges.
    pub ram: Vec<MmioRange>,
    /// The VMBus MMIO gaps offered in ACPI.
    pub gaps: MmioGaps,
}

/// Why the host refuses a device range (a config window, an IO space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// Zero length, or the range wraps past 2^64.
    Invalid(MmioRange),
    /// The range overlaps guest RAM.
    InsideRam(MmioRange),
    /// The range does not lie inside one VMBus MMIO gap.
    OutsideGaps(MmioRange),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Invalid(range) => write!(formatter, "invalid range {range}"),
            LayoutError::InsideRam(range) => write!(formatter, "{range} overlaps guest RAM"),
            LayoutError::OutsideGaps(range) => {
                write!(formatter, "{range} is not inside a VMBus MMIO gap")
            }
        }
    }
}

impl PlatformLayout {
    /// Checks a range the guest announces for a device: it must lie inside one gap and touch
    /// no RAM (a host maps device memory there; it cannot give the guest's own RAM twice).
    pub fn check_device_range(&self, range: MmioRange) -> Result<(), LayoutError> {
        if range.length == 0 || range.end().is_none() {
            return Err(LayoutError::Invalid(range));
        }
        if self.ram.iter().any(|ram| ram.overlaps(&range)) {
            return Err(LayoutError::InsideRam(range));
        }
        if !self.gaps.contain(&range) {
            return Err(LayoutError::OutsideGaps(range));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> PlatformLayout {
        PlatformLayout {
            ram: vec![MmioRange::new(0, 512 << 20)],
            gaps: MmioGaps {
                low: Some(MmioRange::new(0xC000_0000, 0x1000_0000)),
                high: Some(MmioRange::new(0x8_0000_0000, 0x1000_0000)),
            },
        }
    }

    #[test]
    fn device_ranges_must_lie_in_a_gap_and_outside_ram() {
        let layout = layout();
        assert_eq!(
            layout.check_device_range(MmioRange::new(0x8_0000_0000, 0x2000)),
            Ok(())
        );
        assert_eq!(
            layout.check_device_range(MmioRange::new(0x10_0000, 0x2000)),
            Err(LayoutError::InsideRam(MmioRange::new(0x10_0000, 0x2000)))
        );
        let straddling = MmioRange::new(0x8_0FFF_F000, 0x2000);
        assert_eq!(
            layout.check_device_range(straddling),
            Err(LayoutError::OutsideGaps(straddling))
        );
        let between = MmioRange::new(0x1_0000_0000, 0x1000);
        assert_eq!(
            layout.check_device_range(between),
            Err(LayoutError::OutsideGaps(between))
        );
        let wrapping = MmioRange::new(u64::MAX, 2);
        assert_eq!(
            layout.check_device_range(wrapping),
            Err(LayoutError::Invalid(wrapping))
        );
    }

    #[test]
    fn a_map_reaches_each_region_by_gpa_and_nothing_between() {
        let directory = std::env::temp_dir();
        let low = directory.join(format!("dxgos-map-low-{}", std::process::id()));
        let high = directory.join(format!("dxgos-map-high-{}", std::process::id()));
        std::fs::write(&low, vec![0u8; 8192]).unwrap();
        std::fs::write(&high, vec![0u8; 4096]).unwrap();
        let map = GuestMemoryMap::new(vec![
            SharedFileMemory::open(&low).unwrap(),
            SharedFileMemory::open_at(&high, 0x1_0000_0000).unwrap(),
        ])
        .unwrap();
        map.store_u32(0x1_0000_0ffc, 0xabcd).unwrap();
        map.write(0x1ffe, &[1, 2]).unwrap();
        assert_eq!(map.load_u32(0x1_0000_0ffc), Ok(0xabcd));
        assert!(map.read(0x1ffe, &mut [0; 4]).is_err());
        assert!(map.load_u32(0x8000).is_err());
        assert!(
            GuestMemoryMap::new(vec![
                SharedFileMemory::open(&low).unwrap(),
                SharedFileMemory::open_at(&high, 0x1000).unwrap(),
            ])
            .is_err()
        );
        std::fs::remove_file(&low).unwrap();
        std::fs::remove_file(&high).unwrap();
    }
}
