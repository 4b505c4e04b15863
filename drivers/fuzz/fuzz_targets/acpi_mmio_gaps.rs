//! Fuzzes the VMBus MMIO gap search over host-provided AML and firmware data: a table whose AML
//! body, revision and data block come from the input, optionally after a QEMU-like DSDT.
//! Input: byte 0 = flags (bit 0: load the QEMU-like DSDT first; bit 1: revision 1), bytes
//! 1..256 = the data block at 0x7FFE0000 (where the seeds' region lies), the rest = AML.
//! Invariants: no panic, no hang (the evaluator's step limit), and found gaps are non-empty,
//! do not wrap, do not overlap and are accepted by the MMIO allocator.
#![no_main]

use drivers::acpi_mmio::{MemoryReadError, PhysicalMemory, find_vmbus_mmio_gaps};
use hyperv::mmio::{FOUR_GIB, MmioAllocator};
use libfuzzer_sys::fuzz_target;

const QEMU_LIKE: &[u8] = include_bytes!("../../src/acpi_mmio/testdata/qemu_like.aml");
const DATA_BLOCK: u64 = 0x7FFE_0000;
const DATA_BLOCK_LENGTH: usize = 0xFF;

struct Block<'a>(&'a [u8]);

impl PhysicalMemory for Block<'_> {
    fn read(&self, address: u64, bytes: &mut [u8]) -> Result<(), MemoryReadError> {
        let error = MemoryReadError {
            address,
            length: bytes.len(),
        };
        let start =
            usize::try_from(address.checked_sub(DATA_BLOCK).ok_or(error)?).map_err(|_| error)?;
        let end = start.checked_add(bytes.len()).ok_or(error)?;
        bytes.copy_from_slice(self.0.get(start..end).ok_or(error)?);
        Ok(())
    }
}

fn table(revision: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(36 + body.len());
    bytes.extend_from_slice(b"SSDT");
    bytes.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    bytes.push(revision);
    bytes.push(0);
    bytes.extend_from_slice(b"DXGOS FUZZFUZZ");
    bytes.extend_from_slice(&[0; 12]);
    bytes.extend_from_slice(body);
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (block, body) = rest.split_at(rest.len().min(DATA_BLOCK_LENGTH));
    let ssdt = table(if flags & 2 != 0 { 1 } else { 2 }, body);
    let mut tables: Vec<&[u8]> = Vec::new();
    if flags & 1 != 0 {
        tables.push(QEMU_LIKE);
    }
    tables.push(&ssdt);
    if let Ok(gaps) = find_vmbus_mmio_gaps(&tables, &Block(block)) {
        assert!(gaps.low.is_some() || gaps.high.is_some());
        for gap in gaps.ranges() {
            assert!(gap.length > 0 && gap.end().is_some());
        }
        if let Some(low) = gaps.low {
            assert!(low.base < FOUR_GIB);
        }
        if let Some(high) = gaps.high {
            assert!(high.base >= FOUR_GIB);
        }
        assert!(MmioAllocator::new(&gaps).is_ok());
    }
});
