//! The emulated Hyper-V platform's address map under QEMU: guest RAM, and the two VMBus MMIO
//! gaps that the firmware describes in ACPI (`\_SB.VMOD._CRS`, filled from a `BIOS`
//! OperationRegion as mu_msvm's DSDT does).
//!
//! On Hyper-V the gaps lie outside RAM and the host backs what a device maps there. Under QEMU
//! the emulated host can only reach memory shared through a file, so the **high gap** is a
//! `pc-dimm` at a fixed address in q35's device-memory region above 4 GiB, backed by a shared
//! file that the emulator maps too. The dimm is 2 MiB longer than the gap: that tail (outside
//! the gap) holds the `BIOS` OperationRegion the SSDT's `_INI` reads. The **low gap** (below
//! 4 GiB) is not backed: by default it is the VGA framebuffer BAR that OVMF places at
//! 0xC000_0000 (on Gen2 the synthetic video framebuffer also lies in the low gap, and guests
//! keep it out of their pool, as Linux's `vmbus_reserve_fb` does). Config windows may lie in
//! either gap (their accesses are trapped over the link); an IO space must lie in the high
//! gap, where the host has memory.
//!
//! `--mmio-gaps low=0xBASE+0xSIZE,high=0xBASE+0xSIZE` (either may be `none`) mirrors
//! Hyper-V's `Set-VM -LowMemoryMappedIoSpace` / `-HighMemoryMappedIoSpace`.

use hyperv::mmio::{FOUR_GIB, MmioGaps, MmioRange};

const MIB: u64 = 1 << 20;

/// Bytes after the high gap in the dimm, holding the `BIOS` OperationRegion.
pub const DIMM_TAIL_BYTES: u64 = 2 * MIB;

/// Where the dimm goes when there is no high gap (it then holds only the `BIOS` region).
const DIMM_BASE_WITHOUT_HIGH_GAP: u64 = 0x8_0000_0000;

/// The gaps `cargo run` offers: the framebuffer BAR as the low gap, 256 MiB at 32 GiB as the
/// high one.
pub fn default_gaps() -> MmioGaps {
    MmioGaps {
        low: Some(MmioRange::new(0xC000_0000, 16 * MIB)),
        high: Some(MmioRange::new(0x8_0000_0000, 256 * MIB)),
    }
}

/// Parses `low=0xBASE+0xSIZE,high=0xBASE+0xSIZE` (`none` for an absent gap). A gap not named
/// keeps its value in `defaults`.
pub fn parse_gaps(text: &str, defaults: MmioGaps) -> Result<MmioGaps, String> {
    let mut gaps = defaults;
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let (key, value) = item.split_once('=').ok_or(format!(
            "--mmio-gaps: expected low=… or high=…, got {item:?}"
        ))?;
        let range = if value == "none" {
            None
        } else {
            Some(parse_range(value)?)
        };
        match key {
            "low" => gaps.low = range,
            "high" => gaps.high = range,
            _ => return Err(format!("--mmio-gaps: unknown gap {key:?} (low or high)")),
        }
    }
    Ok(gaps)
}

fn parse_range(text: &str) -> Result<MmioRange, String> {
    let (base, size) = text
        .split_once('+')
        .ok_or(format!("--mmio-gaps: expected 0xBASE+0xSIZE, got {text:?}"))?;
    let number = |part: &str| {
        let digits = part.strip_prefix("0x").unwrap_or(part);
        u64::from_str_radix(digits, 16).map_err(|_| format!("--mmio-gaps: not hex: {part:?}"))
    };
    Ok(MmioRange::new(number(base)?, number(size)?))
}

/// The QEMU memory layout of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLayout {
    /// Guest RAM in MiB (all of it below 4 GiB).
    pub ram_mib: u64,
    /// The gaps offered in ACPI.
    pub gaps: MmioGaps,
    /// The emulator-backed dimm: the high gap (if any) followed by [`DIMM_TAIL_BYTES`].
    pub dimm: MmioRange,
}

impl MemoryLayout {
    /// Checks `gaps` against what QEMU and the emulator can give and lays out the dimm.
    pub fn new(ram_mib: u64, gaps: MmioGaps) -> Result<Self, String> {
        emulator::acpi_tables::check_gap_layout(&gaps)
            .map_err(|error| format!("--mmio-gaps: {error}"))?;
        let ram_end = ram_mib * MIB;
        if let Some(low) = gaps.low {
            let end = low.end().ok_or("--mmio-gaps: the low gap wraps")?;
            if low.length == 0 || end > FOUR_GIB || low.base < ram_end {
                return Err(format!(
                    "--mmio-gaps: the low gap {low} must be non-empty, above RAM \
                     ({ram_end:#x}) and below 4 GiB"
                ));
            }
        }
        let dimm = match gaps.high {
            Some(high) => {
                let aligned =
                    high.base.is_multiple_of(2 * MIB) && high.length.is_multiple_of(2 * MIB);
                if high.base < FOUR_GIB || high.length == 0 || !aligned {
                    return Err(format!(
                        "--mmio-gaps: the high gap {high} must lie above 4 GiB, be non-empty \
                         and 2 MiB aligned in base and size (it is a QEMU pc-dimm)"
                    ));
                }
                MmioRange::new(high.base, high.length + DIMM_TAIL_BYTES)
            }
            None => MmioRange::new(DIMM_BASE_WITHOUT_HIGH_GAP, DIMM_TAIL_BYTES),
        };
        if dimm.end().is_none_or(|end| end > 1 << 40) {
            return Err(format!(
                "--mmio-gaps: the high gap {dimm} ends above the guest's 40-bit physical space"
            ));
        }
        Ok(MemoryLayout {
            ram_mib,
            gaps,
            dimm,
        })
    }

    /// GPA of the `BIOS` OperationRegion (the dimm's tail).
    pub fn bios_region_address(&self) -> u64 {
        self.dimm.base + self.dimm.length - DIMM_TAIL_BYTES
    }

    /// Offset of the `BIOS` OperationRegion in the dimm's file.
    pub fn bios_region_file_offset(&self) -> u64 {
        self.dimm.length - DIMM_TAIL_BYTES
    }

    /// `-m` for QEMU: RAM, one hotplug slot and a `maxmem` that makes q35's device-memory
    /// region (which starts at 4 GiB when all RAM is below it) reach the end of the dimm.
    pub fn memory_argument(&self) -> String {
        let device_memory_mib = (self.dimm.base + self.dimm.length - FOUR_GIB).div_ceil(MIB);
        format!(
            "{}M,slots=1,maxmem={}M",
            self.ram_mib,
            self.ram_mib + device_memory_mib
        )
    }

    /// The `-object`/`-device` pair for the dimm backed by `path`.
    pub fn dimm_arguments(&self, path: &std::path::Path) -> [String; 4] {
        [
            "-object".into(),
            format!(
                "memory-backend-file,id=vmbus-mmio,size={}M,mem-path={},share=on",
                self.dimm.length / MIB,
                path.display()
            ),
            "-device".into(),
            format!(
                "pc-dimm,id=vmbus-mmio-dimm,memdev=vmbus-mmio,addr={:#x}",
                self.dimm.base
            ),
        ]
    }

    /// Guest RAM as the emulator knows it.
    pub fn ram(&self) -> MmioRange {
        MmioRange::new(0, self.ram_mib * MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_parse_and_override_the_defaults() {
        let gaps = parse_gaps("high=0x1000000000+0x4000000", default_gaps()).unwrap();
        assert_eq!(gaps.low, default_gaps().low);
        assert_eq!(gaps.high, Some(MmioRange::new(0x10_0000_0000, 0x400_0000)));
        let gaps = parse_gaps("low=none,high=none", default_gaps()).unwrap();
        assert_eq!(gaps, MmioGaps::default());
        assert!(parse_gaps("middle=0x1+0x1", default_gaps()).is_err());
        assert!(parse_gaps("low=0xzz+0x1", default_gaps()).is_err());
        assert!(parse_gaps("low=0x1000", default_gaps()).is_err());
    }

    #[test]
    fn the_layout_puts_the_dimm_at_the_high_gap_with_its_tail() {
        let layout = MemoryLayout::new(512, default_gaps()).unwrap();
        assert_eq!(layout.dimm, MmioRange::new(0x8_0000_0000, 258 * MIB));
        assert_eq!(layout.bios_region_address(), 0x8_1000_0000);
        assert_eq!(layout.bios_region_file_offset(), 256 * MIB);
        // 32 GiB − 4 GiB + 258 MiB of device memory.
        assert_eq!(layout.memory_argument(), "512M,slots=1,maxmem=29442M");
    }

    #[test]
    fn gaps_qemu_cannot_give_are_refused() {
        let low_in_ram = MmioGaps {
            low: Some(MmioRange::new(0x1000_0000, MIB)),
            high: None,
        };
        assert!(MemoryLayout::new(512, low_in_ram).is_err());
        let high_below_4g = MmioGaps {
            low: None,
            high: Some(MmioRange::new(0xE000_0000, 2 * MIB)),
        };
        assert!(MemoryLayout::new(512, high_below_4g).is_err());
        let unaligned = MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x1_0000_1000, 2 * MIB)),
        };
        assert!(MemoryLayout::new(512, unaligned).is_err());
        let no_gaps = MemoryLayout::new(512, MmioGaps::default()).unwrap();
        assert_eq!(no_gaps.dimm, MmioRange::new(0x8_0000_0000, 2 * MIB));
    }
}
