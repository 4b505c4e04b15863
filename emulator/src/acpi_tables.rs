//! ACPI tables the emulated host adds to QEMU's, so that the guest finds VMBus as on Hyper-V.
//!
//! A Hyper-V Generation 2 VM's firmware (microsoft/mu_msvm) describes VMBus in its DSDT
//! (`MsvmPkg/AcpiTables/Dsdt.asl`): a module device `\_SB.VMOD` whose `_INI` copies the two
//! VMBus MMIO gaps from a firmware data block (`OperationRegion (BIOS, SystemMemory, ...)`)
//! into its `_CRS`, and the VMBus device `\_SB.VMOD.VMBS` (`_HID "MSFT1000"`, `_CID "VMBus"`)
//! with only interrupt 5. QEMU's DSDT has none of this, so [`vmbus_ssdt`] gives the same
//! namespace as an SSDT for QEMU's `-acpitable file=...`, and [`bios_region`] the data block's
//! bytes as the firmware fills them (`MsvmPkg/AcpiPlatformDxe/Dsdt.c`, `DsdtAllocateAmlData`):
//! the low gap's base and length in bytes, the high gap's in MiB. The runner places those bytes
//! in guest memory the firmware does not use and passes that address to [`vmbus_ssdt`].
//!
//! The AML is compiled by iasl from `emulator/acpi/vmbus.asl` and committed as
//! `emulator/acpi/vmbus.aml`, so building needs no iasl; a test rebuilds it when iasl is
//! installed and compares. The region address in the AML is a placeholder that
//! [`vmbus_ssdt`] patches where the firmware does: the 32-bit constant after the bytes
//! `5B 80 "BIOS" 00 0C` (ExtOpPrefix, OpRegionOp, the name, SystemMemory, DWordPrefix). Above
//! 4 GiB (QEMU's device-memory region is there) the constant is widened to a QWord; the region
//! is defined at the table's top level, so no enclosing package length changes, only the
//! table's length.

use hyperv::mmio::{FOUR_GIB, MmioGaps};

/// Length of the firmware data block (`OperationRegion (BIOS, SystemMemory, addr, 0xFF)`).
pub const BIOS_REGION_LENGTH: usize = 0xFF;

/// The compiled `emulator/acpi/vmbus.asl`.
pub const VMBUS_SSDT_TEMPLATE: &[u8] = include_bytes!("../acpi/vmbus.aml");

/// Byte offsets of the data block's fields (`Field (BIOS, ByteAcc, ...)` in `vmbus.asl`).
mod offsets {
    /// Low gap base, bytes (`MG2B`).
    pub const LOW_BASE: usize = 0x00;
    /// Low gap length, bytes (`MG2L`).
    pub const LOW_LENGTH: usize = 0x04;
    /// High gap base, MiB (`HMIB`).
    pub const HIGH_BASE_MIB: usize = 0x08;
    /// High gap length, MiB (`HMIL`).
    pub const HIGH_LENGTH_MIB: usize = 0x0C;
    /// VMBus enabled (`VCFG`).
    pub const VMBUS_ENABLED: usize = 0x2B;
}

const MIB: u64 = 1 << 20;
/// The bytes before the region's address: ExtOpPrefix, OpRegionOp, "BIOS", SystemMemory,
/// DWordPrefix.
const REGION_SIGNATURE: [u8; 8] = [0x5B, 0x80, b'B', b'I', b'O', b'S', 0x00, 0x0C];
/// Offset of the region's 32-bit address in [`VMBUS_SSDT_TEMPLATE`] (checked at compile time).
const REGION_ADDRESS_OFFSET: usize = find_region_address(VMBUS_SSDT_TEMPLATE);
const TABLE_HEADER_LENGTH: usize = 36;

const fn find_region_address(table: &[u8]) -> usize {
    let mut start = TABLE_HEADER_LENGTH;
    while start + REGION_SIGNATURE.len() + 4 <= table.len() {
        let mut index = 0;
        while index < REGION_SIGNATURE.len() && table[start + index] == REGION_SIGNATURE[index] {
            index += 1;
        }
        if index == REGION_SIGNATURE.len() {
            return start + REGION_SIGNATURE.len();
        }
        start += 1;
    }
    panic!("vmbus.aml has no OperationRegion (BIOS, SystemMemory, DWord, ...)")
}

/// Gaps the data block cannot express as the firmware's fields do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapLayoutError {
    /// The low gap does not lie below 4 GiB.
    LowGapAbove4GiB,
    /// The high gap's base or length is not a whole number of MiB, or exceeds 32 bits of MiB.
    HighGapNotInMiB,
}

impl core::fmt::Display for GapLayoutError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            GapLayoutError::LowGapAbove4GiB => "the low gap must end at or below 4 GiB",
            GapLayoutError::HighGapNotInMiB => {
                "the high gap's base and size must be whole MiB (the firmware's fields count MiB)"
            }
        })
    }
}

/// Checks that `gaps` can be written to the data block without loss: the low gap below 4 GiB
/// (32-bit fields in bytes), the high gap in whole MiB with 32-bit MiB counts.
pub fn check_gap_layout(gaps: &MmioGaps) -> Result<(), GapLayoutError> {
    if let Some(low) = gaps.low
        && low.end().is_none_or(|end| end > FOUR_GIB)
    {
        return Err(GapLayoutError::LowGapAbove4GiB);
    }
    if let Some(high) = gaps.high {
        let whole = |value: u64| value.is_multiple_of(MIB) && value / MIB <= u64::from(u32::MAX);
        if !whole(high.base) || !whole(high.length) {
            return Err(GapLayoutError::HighGapNotInMiB);
        }
    }
    Ok(())
}

/// The data block as the firmware fills it for `gaps`: low gap in bytes, high gap in MiB (an
/// absent gap is zero), VMBus enabled; the other fields (serial ports, TPM, ...) stay zero. Values that do not fit are truncated as the firmware
/// truncates them (to 32 bits, MiB rounded down); [`check_gap_layout`] refuses such gaps.
pub fn bios_region(gaps: &MmioGaps) -> Vec<u8> {
    let mut region = vec![0u8; BIOS_REGION_LENGTH];
    let mut put = |offset: usize, value: u64| {
        region[offset..offset + 4].copy_from_slice(&(value as u32).to_le_bytes());
    };
    if let Some(low) = gaps.low {
        put(offsets::LOW_BASE, low.base);
        put(offsets::LOW_LENGTH, low.length);
    }
    if let Some(high) = gaps.high {
        put(offsets::HIGH_BASE_MIB, high.base / MIB);
        put(offsets::HIGH_LENGTH_MIB, high.length / MIB);
    }
    region[offsets::VMBUS_ENABLED] = 1;
    region
}

/// The VMBus SSDT with the data block at guest-physical `bios_region_gpa`: header (OEM id
/// "MSFTVM", table id "DXGVMBUS"), AML, correct length and checksum.
pub fn vmbus_ssdt(bios_region_gpa: u64) -> Vec<u8> {
    let template = VMBUS_SSDT_TEMPLATE;
    let mut table = Vec::with_capacity(template.len() + 4);
    let address_end = REGION_ADDRESS_OFFSET + 4;
    if let Ok(address) = u32::try_from(bios_region_gpa) {
        table.extend_from_slice(&template[..REGION_ADDRESS_OFFSET]);
        table.extend_from_slice(&address.to_le_bytes());
    } else {
        // DWordPrefix 0x0C becomes QWordPrefix 0x0E.
        table.extend_from_slice(&template[..REGION_ADDRESS_OFFSET - 1]);
        table.push(0x0E);
        table.extend_from_slice(&bios_region_gpa.to_le_bytes());
    }
    table.extend_from_slice(&template[address_end..]);
    let length = table.len() as u32;
    table[4..8].copy_from_slice(&length.to_le_bytes());
    table[9] = 0;
    let sum = table.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    table[9] = 0u8.wrapping_sub(sum);
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use drivers::acpi_mmio::{self, MemoryReadError, PhysicalMemory};
    use hyperv::mmio::MmioRange;

    struct Block {
        base: u64,
        bytes: Vec<u8>,
    }

    impl PhysicalMemory for Block {
        fn read(&self, address: u64, bytes: &mut [u8]) -> Result<(), MemoryReadError> {
            let error = MemoryReadError {
                address,
                length: bytes.len(),
            };
            let start =
                usize::try_from(address.checked_sub(self.base).ok_or(error)?).map_err(|_| error)?;
            let source = self.bytes.get(start..start + bytes.len()).ok_or(error)?;
            bytes.copy_from_slice(source);
            Ok(())
        }
    }

    fn round_trip(gaps: MmioGaps, region_address: u64) -> Result<MmioGaps, acpi_mmio::GapsError> {
        let table = vmbus_ssdt(region_address);
        let memory = Block {
            base: region_address,
            bytes: bios_region(&gaps),
        };
        acpi_mmio::find_vmbus_mmio_gaps(&[&table], &memory)
    }

    #[test]
    fn the_guest_finds_the_gaps_below_and_above_4_gib() {
        let gaps = MmioGaps {
            low: Some(MmioRange::new(0xE000_0000, 0x1000_0000)),
            high: Some(MmioRange::new(0x40_0000_0000, 0x4000_0000)),
        };
        assert_eq!(check_gap_layout(&gaps), Ok(()));
        assert_eq!(round_trip(gaps, 0x7FFE_F000), Ok(gaps));
        assert_eq!(round_trip(gaps, 0x1_2000_0000), Ok(gaps));
    }

    #[test]
    fn absent_gaps_stay_absent() {
        let low_only = MmioGaps {
            low: Some(MmioRange::new(0xC000_0000, 0x0800_0000)),
            high: None,
        };
        assert_eq!(round_trip(low_only, 0x1_0000_0000), Ok(low_only));
        let high_only = MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x10_0000_0000, 0x10_0000)),
        };
        assert_eq!(round_trip(high_only, 0x1_0000_0000), Ok(high_only));
        assert!(matches!(
            round_trip(MmioGaps::default(), 0x1_0000_0000),
            Err(acpi_mmio::GapsError::NoMmioRanges { .. })
        ));
    }

    #[test]
    fn the_table_has_a_valid_header() {
        for address in [0x7FFE_F000, 0x1_2345_6000] {
            let table = vmbus_ssdt(address);
            assert_eq!(&table[0..4], b"SSDT");
            assert_eq!(
                u32::from_le_bytes(table[4..8].try_into().unwrap()) as usize,
                table.len()
            );
            assert_eq!(table[8], 2, "revision 2: 64-bit integers");
            assert_eq!(&table[10..16], b"MSFTVM");
            assert_eq!(&table[16..24], b"DXGVMBUS");
            assert_eq!(
                table.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte)),
                0
            );
        }
    }

    #[test]
    fn unrepresentable_gaps_are_refused() {
        let high_not_mib = MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x10_0000_1000, 0x10_0000)),
        };
        assert_eq!(
            check_gap_layout(&high_not_mib),
            Err(GapLayoutError::HighGapNotInMiB)
        );
        let low_too_high = MmioGaps {
            low: Some(MmioRange::new(0xFFF0_0000, 0x20_0000)),
            high: None,
        };
        assert_eq!(
            check_gap_layout(&low_too_high),
            Err(GapLayoutError::LowGapAbove4GiB)
        );
    }

    /// `vmbus.aml` is what iasl makes of `vmbus.asl` (creator id and revision, and so the
    /// checksum, depend on the iasl version and are not compared).
    #[test]
    fn the_committed_aml_matches_the_asl() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("acpi");
        let output = std::env::temp_dir().join(format!("dxgos-vmbus-{}", std::process::id()));
        let status = std::process::Command::new("iasl")
            .arg("-p")
            .arg(&output)
            .arg(directory.join("vmbus.asl"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let Ok(status) = status else {
            println!("NOTE: iasl not on PATH; vmbus.aml not compared with vmbus.asl");
            return;
        };
        assert!(status.success(), "iasl failed on vmbus.asl");
        let built_path = output.with_extension("aml");
        let built = std::fs::read(&built_path).unwrap();
        let _ = std::fs::remove_file(&built_path);
        let committed = VMBUS_SSDT_TEMPLATE;
        assert_eq!(
            built.len(),
            committed.len(),
            "rebuild vmbus.aml: iasl -p vmbus vmbus.asl"
        );
        let differs = built
            .iter()
            .zip(committed)
            .enumerate()
            .any(|(index, (a, b))| index != 9 && !(28..36).contains(&index) && a != b);
        assert!(
            !differs,
            "vmbus.aml is stale: iasl -p vmbus vmbus.asl in emulator/acpi"
        );
    }
}
