//! Unit tests of the vGPU host pieces.

use super::command_processor::{self, CommandError, CommandTarget, Surface};
use super::handles::HandleAllocator;
use super::io_space::IoSpace;
use super::{GpuHost, HostChannel, HostOutput, VgpuDescription, VgpuPciConfig};
use dxg::wire::{D3dkmtHandle, Guid, Luid};
use hyperv::memory::{AtomicMemory, GuestMemory};

#[test]
fn config_words_match_the_vpci_reference_probe() {
    // vpci.md §10 G: GUID {01234567-89AB-CDEF-0123-456789ABCDEF}, version 40, LUID 0xABCD, caps 0.
    let guid = Guid::from_bytes([
        0x67, 0x45, 0x23, 0x01, 0xAB, 0x89, 0xEF, 0xCD, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD,
        0xEF,
    ]);
    let mut config = VgpuPciConfig::new(guid, Luid::from_u64(0xABCD));
    config.write_u32(0xD4, 1);
    assert_eq!(config.read_u32(0xD0), 0x28);
    config.write_u32(0xD0, 0x28);
    assert_eq!(config.read_u32(0xDC), 0);
    let reads: Vec<u32> = [0xC0, 0xC4, 0xC8, 0xCC, 0xD4, 0xD8]
        .iter()
        .map(|offset| config.read_u32(*offset))
        .collect();
    assert_eq!(
        reads,
        vec![
            0x0123_4567,
            0xCDEF_89AB,
            0x6745_2301,
            0xEFCD_AB89,
            0x0000_ABCD,
            0
        ]
    );
    assert_eq!(
        (config.guest_caps, config.guest_version),
        (1, 40),
        "0xD4 write is guest caps, LUID unchanged"
    );
}

#[test]
fn handles_are_unique_and_not_reused_immediately() {
    let mut handles = HandleAllocator::new();
    let first = handles.allocate().unwrap();
    let second = handles.allocate().unwrap();
    assert_ne!(first, second);
    assert!(!first.is_null() && first.index() < D3dkmtHandle::MAX_INDEX);
    handles.free(first);
    let third = handles.allocate().unwrap();
    assert_ne!(third, first, "a just-freed handle is not handed out again");
    assert_eq!(handles.live(), 2);
}

#[test]
fn io_space_allocates_pages_and_keeps_the_last_page_free() {
    let mut space = IoSpace::new(0x10_0000, 4 * 4096);
    let a = space.allocate(4096).unwrap();
    let b = space.allocate(8192).unwrap();
    assert_eq!((a, b), (0x10_0000, 0x10_1000));
    assert_eq!(space.allocate(1), None, "the last page is never handed out");
    space.free(a, 4096);
    assert_eq!(space.allocate(100), Some(0x10_0000));
}

struct Fixed<'a>(&'a AtomicMemory);
impl CommandTarget for Fixed<'_> {
    fn allocation(&self, handle: D3dkmtHandle) -> Option<Surface> {
        (handle.0 == 0x40).then_some(Surface {
            address: 0x1000,
            size: 256,
        })
    }
    fn fence(&self, handle: D3dkmtHandle) -> Option<u64> {
        (handle.0 == 0x80).then_some(0x2000)
    }
    fn memory(&self) -> &dyn GuestMemory {
        self.0
    }
}

fn words(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

#[test]
fn command_stream_errors_are_typed() {
    let memory = AtomicMemory::new(0x1000, 0x2000);
    let target = Fixed(&memory);
    let mut ignore = |_, _| {};
    assert_eq!(
        command_processor::execute(&words(&[9, 8]), &target, &mut ignore),
        Err(CommandError::UnknownOpcode(9))
    );
    assert_eq!(
        command_processor::execute(&words(&[1, 12]), &target, &mut ignore),
        Err(CommandError::Malformed { offset: 0 })
    );
    assert_eq!(
        command_processor::execute(&[1, 0, 0], &target, &mut ignore),
        Err(CommandError::Malformed { offset: 0 })
    );
    assert_eq!(
        command_processor::execute(&words(&[1, 24, 0x40, 250, 8, 0]), &target, &mut ignore),
        Err(CommandError::OutOfBounds)
    );
    assert_eq!(
        command_processor::execute(&words(&[1, 24, 0x41, 0, 8, 0]), &target, &mut ignore),
        Err(CommandError::BadHandle(D3dkmtHandle(0x41)))
    );
    assert_eq!(
        command_processor::execute(&words(&[3, 28, 0x40, 0, 9, 8, 36]), &target, &mut ignore),
        Err(CommandError::OutOfBounds)
    );
    let mut signalled = Vec::new();
    let done = command_processor::execute(
        &words(&[0, 8, 5, 24, 0x80, 0, 3, 1]),
        &target,
        &mut |handle, value| signalled.push((handle, value)),
    );
    assert_eq!(done.map(|executed| executed.packets), Ok(2));
    assert_eq!(signalled, vec![(D3dkmtHandle(0x80), 0x1_0000_0003)]);
    assert_eq!(memory.read_u64(0x2000), Ok(0x1_0000_0003));
}

#[test]
fn hostile_guest_packets_get_status_replies_and_async_gets_none() {
    let memory = AtomicMemory::new(0x1_0000_0000, 1 << 20);
    let mut host = GpuHost::new(&memory, 1);
    host.add_vgpu(VgpuDescription::new(1, 2));
    // Garbage: too short for a header.
    host.receive(HostChannel::Vgpu(0), 5, true, &[1, 2, 3]);
    assert_eq!(
        host.poll_output(),
        Some(HostOutput::Completion {
            channel: HostChannel::Vgpu(0),
            transaction_id: 5,
            bytes: vec![0x0D, 0, 0, 0xC0]
        })
    );
    // Unknown vGPU command 63, and a process-scoped command with no process.
    let mut header = vec![0u8; 24];
    header[16] = 63;
    host.receive(HostChannel::Vgpu(0), 6, true, &header);
    assert!(
        matches!(host.poll_output(), Some(HostOutput::Completion { bytes, .. }) if bytes == vec![0x02, 0, 0, 0xC0])
    );
    header[16] = 20;
    header[13] = 1; // async bit: no reply even on failure
    host.receive(HostChannel::Vgpu(0), 0, false, &header);
    assert_eq!(host.poll_output(), None);
    // Version 40 negotiated: the extension header is now required.
    host.pci_config(0).unwrap().write_u32(0xD0, 40);
    host.receive(HostChannel::Global, 7, true, &[0u8; 40]);
    assert!(
        matches!(host.poll_output(), Some(HostOutput::Completion { bytes, .. }) if bytes == vec![0x0D, 0, 0, 0xC0])
    );
}

/// SETIOSPACEREGION with a known platform layout: only a range inside a VMBus MMIO gap,
/// outside RAM and backed by host memory is accepted (Hyper-V maps GPU memory there).
#[test]
fn io_space_must_lie_in_a_gap_outside_ram_and_backed() {
    use crate::platform::PlatformLayout;
    use hyperv::mmio::{MmioGaps, MmioRange};
    const HIGH: u64 = 0x8_0000_0000;
    // Host memory: the high gap only (as under QEMU, where a pc-dimm backs it).
    let memory = AtomicMemory::new(HIGH, 2 << 20);
    let mut host = GpuHost::new(&memory, 1);
    host.set_platform_layout(PlatformLayout {
        ram: vec![MmioRange::new(0, 512 << 20)],
        gaps: MmioGaps {
            low: Some(MmioRange::new(0xC000_0000, 16 << 20)),
            high: Some(MmioRange::new(HIGH, 4 << 20)),
        },
    });
    let mut set_io_space = |start: u64, length: u64| {
        let mut command = vec![0u8; 48];
        command[12..16].copy_from_slice(&1u32.to_le_bytes());
        command[16..20].copy_from_slice(&1010u32.to_le_bytes());
        command[24..32].copy_from_slice(&start.to_le_bytes());
        command[32..40].copy_from_slice(&length.to_le_bytes());
        host.receive(HostChannel::Global, 9, true, &command);
        match host.poll_output() {
            Some(HostOutput::Completion { bytes, .. }) => bytes,
            other => panic!("{other:?}"),
        }
    };
    let invalid_parameter = vec![0x0D, 0, 0, 0xC0];
    assert_eq!(set_io_space(0x100_0000, 1 << 20), invalid_parameter, "RAM");
    assert_eq!(
        set_io_space(0xC000_0000, 1 << 20),
        invalid_parameter,
        "unbacked low gap"
    );
    assert_eq!(
        set_io_space(0x1_0000_0000, 1 << 20),
        invalid_parameter,
        "no gap"
    );
    assert_eq!(
        set_io_space(HIGH + (3 << 20), 2 << 20),
        invalid_parameter,
        "straddles the gap end"
    );
    assert_eq!(
        set_io_space(HIGH, 1 << 20),
        vec![0, 0, 0, 0],
        "inside the backed high gap"
    );
    assert_eq!(host.io_space(), Some((HIGH, 1 << 20)));
}
