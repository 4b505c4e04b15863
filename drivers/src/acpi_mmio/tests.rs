//! Tests of the gap search against AML compiled by iasl from the `.asl` files in `testdata/`
//! (rebuild a fixture with `iasl -p NAME NAME.asl` there).

use alloc::vec;
use alloc::vec::Vec;

use super::*;

const GUARDED: &[u8] = include_bytes!("testdata/msvm_guarded.aml");
const UNGUARDED: &[u8] = include_bytes!("testdata/msvm_unguarded.aml");
const QEMU_LIKE: &[u8] = include_bytes!("testdata/qemu_like.aml");
const WITHOUT_MODULE: &[u8] = include_bytes!("testdata/vmbus_without_module.aml");
const STATIC_RESOURCES: &[u8] = include_bytes!("testdata/static_resources.aml");

/// Where the fixtures' `BIOS` region lies.
const DATA_BLOCK: u64 = 0x7FFE_0000;
const MIB: u64 = 1 << 20;

/// Guest memory holding one block at `base`; every other read fails.
struct FakeMemory {
    base: u64,
    bytes: Vec<u8>,
}

impl PhysicalMemory for FakeMemory {
    fn read(&self, address: u64, bytes: &mut [u8]) -> Result<(), MemoryReadError> {
        let error = MemoryReadError {
            address,
            length: bytes.len(),
        };
        let start = address.checked_sub(self.base).ok_or(error)? as usize;
        let source = self.bytes.get(start..start + bytes.len()).ok_or(error)?;
        bytes.copy_from_slice(source);
        Ok(())
    }
}

/// The firmware data block: low gap in bytes, high gap in MiB, then the enable bytes.
fn data_block(low: (u32, u32), high_mib: (u32, u32), vmbus_enabled: bool) -> FakeMemory {
    let mut bytes = vec![0u8; 0xFF];
    for (index, value) in [low.0, low.1, high_mib.0, high_mib.1]
        .into_iter()
        .enumerate()
    {
        bytes[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    }
    bytes[0x2B] = u8::from(vmbus_enabled); // VCFG in the guarded layout
    FakeMemory {
        base: DATA_BLOCK,
        bytes,
    }
}

fn hyper_v_defaults() -> FakeMemory {
    data_block((0xF800_0000, 0x0800_0000), (0xFE00, 512), true)
}

#[test]
fn the_guarded_firmware_shape_gives_both_gaps() {
    let memory = data_block((0xF800_0000, 0x0400_0000), (0x1_0000, 512), true);
    let gaps = find_vmbus_mmio_gaps(&[GUARDED], &memory).unwrap();
    assert_eq!(
        gaps,
        MmioGaps {
            low: Some(MmioRange::new(0xF800_0000, 0x0400_0000)),
            high: Some(MmioRange::new(0x1_0000 * MIB, 512 * MIB)),
        }
    );
}

#[test]
fn the_unguarded_firmware_shape_gives_both_gaps() {
    let memory = data_block((0xE000_0000, 0x1000_0000), (0x2_0000, 64), false);
    let gaps = find_vmbus_mmio_gaps(&[UNGUARDED], &memory).unwrap();
    assert_eq!(
        gaps,
        MmioGaps {
            low: Some(MmioRange::new(0xE000_0000, 0x1000_0000)),
            high: Some(MmioRange::new(0x2_0000 * MIB, 64 * MIB)),
        }
    );
}

#[test]
fn only_a_low_gap_leaves_the_high_one_absent() {
    let memory = data_block((0xF800_0000, 0x0400_0000), (0, 0), true);
    let gaps = find_vmbus_mmio_gaps(&[GUARDED], &memory).unwrap();
    assert_eq!(gaps.low, Some(MmioRange::new(0xF800_0000, 0x0400_0000)));
    assert_eq!(gaps.high, None);
}

#[test]
fn zero_length_gaps_are_absent_even_when_max_is_garbage() {
    // Unguarded _INI: a zero low gap leaves _MIN 0, _LEN 0, _MAX 0xFFFFFFFF (Linux would take
    // 0..=0xFFFFFFFF); a zero high gap leaves _MAX = 2^64 - 1.
    let memory = data_block((0, 0), (0x1_0000, 16), false);
    let gaps = find_vmbus_mmio_gaps(&[UNGUARDED], &memory).unwrap();
    assert_eq!(
        gaps,
        MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x1_0000 * MIB, 16 * MIB)),
        }
    );
    let nothing = data_block((0, 0), (0, 0), false);
    assert_eq!(
        find_vmbus_mmio_gaps(&[UNGUARDED], &nothing),
        Err(GapsError::NoMmioRanges {
            device: path(&[b"_SB_", b"VMOD", b"VMBS"])
        })
    );
}

#[test]
fn vmbus_disabled_in_the_data_block_means_no_vmbus_device() {
    let memory = data_block((0xF800_0000, 0x0400_0000), (0x1_0000, 512), false);
    assert_eq!(
        find_vmbus_mmio_gaps(&[GUARDED], &memory),
        Err(GapsError::NoVmbusDevice { load_error: None })
    );
}

#[test]
fn qemu_tables_without_vmbus_give_a_clear_error() {
    let memory = data_block((0, 0), (0, 0), false);
    let error = find_vmbus_mmio_gaps(&[QEMU_LIKE], &memory).unwrap_err();
    assert_eq!(error, GapsError::NoVmbusDevice { load_error: None });
    assert!(alloc::format!("{error}").contains("no VMBus device"));
}

#[test]
fn a_vmbus_device_without_memory_anywhere_up_the_tree_has_no_ranges() {
    let memory = data_block((0, 0), (0, 0), false);
    let error = find_vmbus_mmio_gaps(&[QEMU_LIKE, WITHOUT_MODULE], &memory).unwrap_err();
    assert_eq!(
        error,
        GapsError::NoMmioRanges {
            device: path(&[b"_SB_", b"VMBS"])
        }
    );
    assert!(alloc::format!("{error}").contains("no VMBus MMIO ranges"));
}

#[test]
fn static_resources_of_an_ancestor_are_used_with_linux_filtering() {
    // Ancestor _CRS is a method; the I/O range and the zero-length descriptor are skipped;
    // the low range is cut below the vTPM; _STA 0x0B (present) is a method with a local.
    let memory = data_block((0, 0), (0, 0), false);
    let gaps = find_vmbus_mmio_gaps(&[QEMU_LIKE, STATIC_RESOURCES], &memory).unwrap();
    assert_eq!(
        gaps,
        MmioGaps {
            low: Some(MmioRange::new(0xF800_0000, VTPM_BASE_ADDRESS - 0xF800_0000)),
            high: Some(MmioRange::new(0x10_0000_0000, 0x4000_0000)),
        }
    );
}

#[test]
fn an_unreadable_data_block_is_an_evaluation_error() {
    let memory = FakeMemory {
        base: 0,
        bytes: Vec::new(),
    };
    // The guarded DSDT reads VCFG at load time (the failure is recorded, VMBS is skipped).
    assert!(matches!(
        find_vmbus_mmio_gaps(&[GUARDED], &memory),
        Err(GapsError::NoVmbusDevice {
            load_error: Some(AmlError::Memory(_))
        })
    ));
    // The unguarded one reads the block only in _INI.
    assert!(matches!(
        find_vmbus_mmio_gaps(&[UNGUARDED], &memory),
        Err(GapsError::Evaluation {
            error: AmlError::Memory(_),
            ..
        })
    ));
}

#[test]
fn bad_headers_are_refused() {
    let memory = hyper_v_defaults();
    assert_eq!(
        find_vmbus_mmio_gaps(&[&GUARDED[..20]], &memory),
        Err(GapsError::InvalidTable {
            index: 0,
            reason: TableError::BadLength
        })
    );
    assert_eq!(
        find_vmbus_mmio_gaps(&[QEMU_LIKE, &GUARDED[..GUARDED.len() - 1]], &memory),
        Err(GapsError::InvalidTable {
            index: 1,
            reason: TableError::BadLength
        })
    );
    let mut not_aml = GUARDED.to_vec();
    not_aml[0..4].copy_from_slice(b"APIC");
    assert_eq!(
        find_vmbus_mmio_gaps(&[&not_aml], &memory),
        Err(GapsError::InvalidTable {
            index: 0,
            reason: TableError::NotAml
        })
    );
}

/// A table with `body` as its AML and a correct header.
fn table(body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"SSDT");
    bytes.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    bytes.push(2);
    bytes.push(0);
    bytes.extend_from_slice(b"DXGOS TESTTEST");
    bytes.extend_from_slice(&[0; 12]);
    bytes.extend_from_slice(body);
    let sum = bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    bytes[9] = 0u8.wrapping_sub(sum);
    bytes
}

/// Every truncation of the AML, with the header length fixed up, loads without panicking and
/// never finds gaps that are not there.
#[test]
fn truncated_aml_gives_typed_errors() {
    let memory = hyper_v_defaults();
    for fixture in [GUARDED, UNGUARDED, QEMU_LIKE] {
        for length in 36..fixture.len() {
            let truncated = table(&fixture[36..length]);
            match find_vmbus_mmio_gaps(&[&truncated], &memory) {
                Ok(gaps) => assert!(gaps.low.is_some() || gaps.high.is_some()),
                Err(error) => {
                    let _ = alloc::format!("{error}");
                }
            }
        }
    }
}

#[test]
fn garbage_and_corrupted_aml_never_panic() {
    let memory = hyper_v_defaults();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..400 {
        let mut body = GUARDED[36..].to_vec();
        for _ in 0..(1 + round % 8) {
            let position = (next() as usize) % body.len();
            body[position] = next() as u8;
        }
        let _ = find_vmbus_mmio_gaps(&[&table(&body)], &memory);
        let random: Vec<u8> = (0..(next() % 300)).map(|_| next() as u8).collect();
        let _ = find_vmbus_mmio_gaps(&[&table(&random)], &memory);
    }
}

#[test]
fn endless_loops_end_at_the_step_limit() {
    let memory = hyper_v_defaults();
    // Module level: While (One) {}  — recorded, loading goes on.
    let endless = table(&[0xA2, 0x02, 0x01]);
    assert_eq!(
        find_vmbus_mmio_gaps(&[&endless], &memory),
        Err(GapsError::NoVmbusDevice {
            load_error: Some(AmlError::StepLimit)
        })
    );
    // _STA of the VMBus device: Method (_STA) { While (One) {} }
    let mut device = vec![0x5B, 0x82, 0x00];
    device.extend_from_slice(b"VMBS");
    device.extend_from_slice(&[0x08]);
    device.extend_from_slice(b"_CID\x0DVMBus\x00");
    device.extend_from_slice(&[0x14, 0x09]);
    device.extend_from_slice(b"_STA");
    device.extend_from_slice(&[0x00, 0xA2, 0x02, 0x01]);
    device[2] = (device.len() - 2) as u8;
    let error = find_vmbus_mmio_gaps(&[&table(&device)], &memory).unwrap_err();
    assert_eq!(
        error,
        GapsError::Evaluation {
            path: path(&[b"VMBS", b"_STA"]),
            error: AmlError::StepLimit
        }
    );
}

#[test]
fn deep_nesting_and_recursion_are_bounded() {
    let memory = hyper_v_defaults();
    // Method (RECU) { RECU () } called from _STA of a VMBus device.
    let mut device = vec![0x5B, 0x82, 0x00];
    device.extend_from_slice(b"VMBS\x08_CID\x0DVMBus\x00");
    device.extend_from_slice(&[0x14, 0x0A]);
    device.extend_from_slice(b"RECU\x00RECU");
    device.extend_from_slice(&[0x14, 0x0A]);
    device.extend_from_slice(b"_STA\x00RECU");
    device[2] = (device.len() - 2) as u8;
    let error = find_vmbus_mmio_gaps(&[&table(&device)], &memory).unwrap_err();
    assert!(matches!(
        error,
        GapsError::Evaluation {
            error: AmlError::DepthLimit,
            ..
        }
    ));
    // 200 nested LNot at module level inside Store.
    let mut nested = vec![0x70];
    nested.extend(core::iter::repeat_n(0x92, 200));
    nested.extend_from_slice(&[0x01, 0x60]);
    let result = find_vmbus_mmio_gaps(&[&table(&nested)], &memory);
    assert_eq!(
        result,
        Err(GapsError::NoVmbusDevice {
            load_error: Some(AmlError::DepthLimit)
        })
    );
}

#[test]
fn stores_into_the_firmware_region_are_refused() {
    // Method _INI { Store (One, MG2B) } under a module device over the data block.
    let memory = hyper_v_defaults();
    let mut body = Vec::new();
    body.extend_from_slice(&[0x5B, 0x80]);
    body.extend_from_slice(b"BIOS\x00\x0C");
    body.extend_from_slice(&(DATA_BLOCK as u32).to_le_bytes());
    body.extend_from_slice(&[0x0A, 0xFF]);
    body.extend_from_slice(&[0x5B, 0x81, 0x0B]);
    body.extend_from_slice(b"BIOS\x01MG2B\x20");
    let mut device = vec![0x5B, 0x82, 0x00];
    device.extend_from_slice(b"VMBS\x08_CID\x0DVMBus\x00");
    device.extend_from_slice(&[0x14, 0x0C]);
    device.extend_from_slice(b"_INI\x00\x70\x01MG2B");
    device[2] = (device.len() - 2) as u8;
    body.extend_from_slice(&device);
    let error = find_vmbus_mmio_gaps(&[&table(&body)], &memory).unwrap_err();
    assert_eq!(
        error,
        GapsError::Evaluation {
            path: path(&[b"VMBS", b"_INI"]),
            error: AmlError::WriteToRegion(path(&[b"MG2B"]))
        }
    );
}

fn path(segments: &[&[u8; 4]]) -> AmlPath {
    AmlPath(segments.iter().map(|segment| **segment).collect())
}

#[test]
fn buffer_copies_are_bounded() {
    // Name (BUFF, Buffer (0xFFFF) {}) ; While (One) { Store (BUFF, Local0) }
    let memory = hyper_v_defaults();
    let mut body = Vec::new();
    body.extend_from_slice(b"\x08BUFF\x11\x04\x0B\xFF\xFF");
    body.extend_from_slice(b"\xA2\x08\x01\x70BUFF\x60");
    assert_eq!(
        find_vmbus_mmio_gaps(&[&table(&body)], &memory),
        Err(GapsError::NoVmbusDevice {
            load_error: Some(AmlError::SizeLimit)
        })
    );
}

#[test]
fn oversized_tables_are_refused_by_their_header() {
    let memory = hyper_v_defaults();
    let mut header = table(&[]);
    header[4..8].copy_from_slice(&(2 * MAXIMUM_TABLE_LENGTH as u32).to_le_bytes());
    assert_eq!(
        find_vmbus_mmio_gaps(&[&header], &memory),
        Err(GapsError::InvalidTable {
            index: 0,
            reason: TableError::TooLarge
        })
    );
}

/// `content` preceded by its PkgLength (one or two bytes).
fn package(content: &[u8]) -> Vec<u8> {
    let mut bytes = if content.len() + 1 < 0x40 {
        vec![(content.len() + 1) as u8]
    } else {
        let total = content.len() + 2;
        assert!(total < 0x1000);
        vec![0x40 | (total & 0x0F) as u8, (total >> 4) as u8]
    };
    bytes.extend_from_slice(content);
    bytes
}

/// An SSDT with `\VMBS` (`_CID "VMBus"`) whose `_CRS` is `template` (which must end with its
/// end tag).
fn vmbus_with_resources(template: &[u8]) -> Vec<u8> {
    let mut buffer = vec![0x0A, template.len() as u8];
    buffer.extend_from_slice(template);
    let mut body = b"VMBS\x08_CID\x0DVMBus\x00\x08_CRS\x11".to_vec();
    body.extend(package(&buffer));
    let mut device = vec![0x5B, 0x82];
    device.extend(package(&body));
    table(&device)
}

fn qword_memory(minimum: u64, maximum: u64, length: u64) -> Vec<u8> {
    let mut bytes = vec![0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x03];
    for value in [0, minimum, maximum, 0, length] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

#[test]
fn ranges_reaching_the_top_inverted_or_overlapping_are_refused() {
    let memory = hyper_v_defaults();
    let vmbus = path(&[b"VMBS"]);
    let mut top = qword_memory(0x10_0000_0000, u64::MAX, 1);
    top.extend_from_slice(&[0x79, 0x00]);
    assert!(matches!(
        find_vmbus_mmio_gaps(&[&vmbus_with_resources(&top)], &memory),
        Err(GapsError::InvalidRange { .. })
    ));
    let mut inverted = qword_memory(0x10_0000_0000, 0xF_0000_0000, 1);
    inverted.extend_from_slice(&[0x79, 0x00]);
    assert!(matches!(
        find_vmbus_mmio_gaps(&[&vmbus_with_resources(&inverted)], &memory),
        Err(GapsError::InvalidRange { .. })
    ));
    let mut overlapping = qword_memory(0xFF00_0000, 0x1_1FFF_FFFF, 0x2100_0000);
    overlapping.extend(qword_memory(0x1_0000_0000, 0x1_0FFF_FFFF, 0x1000_0000));
    overlapping.extend_from_slice(&[0x79, 0x00]);
    assert_eq!(
        find_vmbus_mmio_gaps(&[&vmbus_with_resources(&overlapping)], &memory),
        Err(GapsError::OverlappingRanges(vmbus))
    );
}

#[test]
fn adjacent_ranges_merge_and_separate_ones_are_too_many() {
    let memory = hyper_v_defaults();
    let mut adjacent = qword_memory(0x10_0000_0000, 0x10_0FFF_FFFF, 0x1000_0000);
    adjacent.extend(qword_memory(0x10_1000_0000, 0x10_1FFF_FFFF, 0x1000_0000));
    adjacent.extend_from_slice(&[0x79, 0x00]);
    assert_eq!(
        find_vmbus_mmio_gaps(&[&vmbus_with_resources(&adjacent)], &memory),
        Ok(MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x10_0000_0000, 0x2000_0000))
        })
    );
    let mut apart = qword_memory(0x10_0000_0000, 0x10_0FFF_FFFF, 0x1000_0000);
    apart.extend(qword_memory(0x20_0000_0000, 0x20_0FFF_FFFF, 0x1000_0000));
    apart.extend_from_slice(&[0x79, 0x00]);
    assert_eq!(
        find_vmbus_mmio_gaps(&[&vmbus_with_resources(&apart)], &memory),
        Err(GapsError::TooManyRanges(path(&[b"VMBS"])))
    );
}
