//! Regression tests of the dispatch handlers against hostile guest sizes and values: each
//! ends in a status reply, never a panic.

use super::super::{GpuHost, HostChannel, HostOutput, VgpuDescription};
use dxg::wire::*;
use hyperv::memory::AtomicMemory;
use zerocopy::IntoBytes;

/// Sends one command on the first vGPU channel and returns the completion bytes.
fn call(host: &mut GpuHost<&AtomicMemory>, command: &[u8]) -> Vec<u8> {
    host.receive(HostChannel::Vgpu(0), 1, true, command);
    match host.poll_output() {
        Some(HostOutput::Completion { bytes, .. }) => bytes,
        other => panic!("expected a completion, got {other:?}"),
    }
}

/// A vGPU command: the header (process, command type) then `body`.
fn vgpu_command(command: VgpuCommand, process: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; CommandHeader::SIZE];
    bytes[8..12].copy_from_slice(&process.to_le_bytes());
    bytes[16..20].copy_from_slice(&command.as_u32().to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn query_adapter_info(query_type: u32, size: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&query_type.to_le_bytes());
    body.extend_from_slice(&size.to_le_bytes());
    body.resize(body.len() + size as usize, 0);
    vgpu_command(VgpuCommand::QueryAdapterInfo, 0, &body)
}

fn status_of(reply: &[u8]) -> NtStatus {
    NtStatus(i32::from_le_bytes(reply[..4].try_into().unwrap()))
}

/// QueryAdapterInfo(DRIVER_DESCRIPTION) with a 1-byte buffer is a legal application call the
/// translator passes on; it used to panic the host (`size / 2 - 1`). Now a status.
#[test]
fn driver_description_into_a_one_byte_buffer_is_a_status() {
    let memory = AtomicMemory::new(0x1_0000_0000, 1 << 20);
    let mut host = GpuHost::new(&memory, 1);
    host.add_vgpu(VgpuDescription::new(1, 2));
    let reply = call(&mut host, &query_adapter_info(QUERY_DRIVER_DESCRIPTION, 1));
    assert_eq!(status_of(&reply), NtStatus::BUFFER_TOO_SMALL);
    // Sizes that fit get the text, truncated and NUL-terminated.
    let reply = call(&mut host, &query_adapter_info(QUERY_DRIVER_DESCRIPTION, 2));
    assert_eq!(reply, vec![0, 0]);
    let reply = call(&mut host, &query_adapter_info(QUERY_DRIVER_DESCRIPTION, 5));
    let description = host.vgpu(0).unwrap().description.description.clone();
    let first = description.encode_utf16().next().unwrap().to_le_bytes();
    assert_eq!(reply, vec![first[0], first[1], 0, 0, 0]);
}

/// A command from a wire struct, with the header's process, channel word and command number
/// filled in (global commands: channel word 1).
fn command_of<T: zerocopy::IntoBytes + zerocopy::Immutable>(
    code: u32,
    process: u32,
    value: &T,
) -> Vec<u8> {
    let mut bytes = value.as_bytes().to_vec();
    bytes[8..12].copy_from_slice(&process.to_le_bytes());
    let channel_word: u32 = if code >= 1000 { 1 } else { 0 };
    bytes[12..16].copy_from_slice(&channel_word.to_le_bytes());
    bytes[16..20].copy_from_slice(&code.to_le_bytes());
    bytes
}

fn global_call(host: &mut GpuHost<&AtomicMemory>, command: &[u8]) -> Vec<u8> {
    host.receive(HostChannel::Global, 1, true, command);
    match host.poll_output() {
        Some(HostOutput::Completion { bytes, .. }) => bytes,
        other => panic!("expected a completion, got {other:?}"),
    }
}

fn set_io_space(host: &mut GpuHost<&AtomicMemory>, start: u64, length: u64) -> NtStatus {
    let mut request = SetIoSpaceRegionCommand::zeroed();
    request.start = start;
    request.length = length;
    let code = GlobalCommand::SetIoSpaceRegion.as_u32();
    status_of(&global_call(host, &command_of(code, 0, &request)))
}

/// A host with an IO space at 1 MiB (1 MiB long), a process and a device: (host, process,
/// device).
fn host_with_device(memory: &AtomicMemory) -> (GpuHost<&AtomicMemory>, u32, u32) {
    let mut host = GpuHost::new(memory, 1);
    host.add_vgpu(VgpuDescription::new(1, 2));
    assert_eq!(set_io_space(&mut host, 1 << 20, 1 << 20), NtStatus::SUCCESS);
    let create = GlobalCommand::CreateProcess.as_u32();
    let reply = global_call(
        &mut host,
        &command_of(create, 0, &CreateProcessCommand::zeroed()),
    );
    let process = u32::from_le_bytes(reply[..4].try_into().unwrap());
    let code = VgpuCommand::CreateDevice.as_u32();
    let reply = call(
        &mut host,
        &command_of(code, process, &CreateDeviceCommand::zeroed()),
    );
    let device = u32::from_le_bytes(reply[..4].try_into().unwrap());
    assert_ne!(device, 0);
    (host, process, device)
}

/// SETIOSPACEREGION whose range wraps past the top of the address space used to be accepted
/// (without a platform layout), and every later use of its end overflowed.
#[test]
fn an_io_space_that_wraps_is_refused() {
    let memory = AtomicMemory::new(0x1_0000_0000, 1 << 20);
    let mut host = GpuHost::new(&memory, 1);
    host.add_vgpu(VgpuDescription::new(1, 2));
    assert_eq!(
        set_io_space(&mut host, 0xFFFF_FFFF_FFFF_F000, 1 << 20),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(host.io_space(), None);
}

/// A second SETIOSPACEREGION under live objects used to move the space, and freeing an
/// object of the old space then underflowed `address - base`. Now it is refused, and the
/// objects are freed in their own space.
#[test]
fn the_io_space_does_not_move_under_live_objects() {
    let memory = AtomicMemory::new(0, 4 << 20);
    let (mut host, process, device) = host_with_device(&memory);
    let mut request = CreateSyncObjectCommand::zeroed();
    request.device = D3dkmtHandle(device);
    request.object_type = SYNC_OBJECT_MONITORED_FENCE;
    let code = VgpuCommand::CreateSyncObject.as_u32();
    call(&mut host, &command_of(code, process, &request));
    assert_eq!(host.io_pages_in_use(), 1);
    assert_eq!(
        set_io_space(&mut host, 2 << 20, 1 << 20),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(host.io_space(), Some((1 << 20, 1 << 20)));
    let destroy = GlobalCommand::DestroyProcess.as_u32();
    let header = [0u8; CommandHeader::SIZE];
    assert_eq!(
        status_of(&global_call(
            &mut host,
            &command_of(destroy, process, &header)
        )),
        NtStatus::SUCCESS
    );
    assert_eq!(host.io_pages_in_use(), 0);
}

/// CREATEALLOCATION with a private-data size near u64::MAX used to overflow while rounding up
/// to pages; now it is NO_MEMORY like any size over the limit.
#[test]
fn a_huge_allocation_size_is_no_memory() {
    let memory = AtomicMemory::new(0, 4 << 20);
    let (mut host, process, device) = host_with_device(&memory);
    let mut request = CreateAllocationCommand::zeroed();
    request.device = D3dkmtHandle(device);
    request.allocation_count = 1;
    let mut info = AllocationInfo::zeroed();
    info.private_driver_data_size = 8;
    let code = VgpuCommand::CreateAllocation.as_u32();
    let mut command = command_of(code, process, &request);
    command.extend_from_slice(info.as_bytes());
    command.extend_from_slice(&u64::MAX.to_le_bytes());
    let reply = call(&mut host, &command);
    assert_eq!(status_of(&reply), NtStatus::NO_MEMORY);
    assert_eq!(host.io_pages_in_use(), 0);
}

/// QueryAdapterInfo(GETSEGMENTSIZE): the IO space as the dedicated video memory, the rest 0;
/// an unknown type is NOT_SUPPORTED.
#[test]
fn segment_sizes_report_the_io_space() {
    let memory = AtomicMemory::new(0x1_0000_0000, 1 << 20);
    let mut host = GpuHost::new(&memory, 1);
    host.add_vgpu(VgpuDescription::new(1, 2));
    assert_eq!(set_io_space(&mut host, 1 << 20, 1 << 20), NtStatus::SUCCESS);
    let reply = call(
        &mut host,
        &query_adapter_info(super::QUERY_GET_SEGMENT_SIZE, 24),
    );
    let mut expected = vec![0u8; 24];
    expected[..8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    assert_eq!(reply, expected);
    let reply = call(&mut host, &query_adapter_info(4, 16));
    assert_eq!(status_of(&reply), NtStatus::NOT_SUPPORTED);
}

/// A host process with a device and a monitored fence (one IO-space page).
fn host_with_fence(memory: &AtomicMemory) -> (GpuHost<&AtomicMemory>, u32) {
    let (mut host, process, device) = host_with_device(memory);
    let mut request = CreateSyncObjectCommand::zeroed();
    request.device = D3dkmtHandle(device);
    request.object_type = SYNC_OBJECT_MONITORED_FENCE;
    let code = VgpuCommand::CreateSyncObject.as_u32();
    call(&mut host, &command_of(code, process, &request));
    assert_eq!((host.object_count(), host.io_pages_in_use()), (2, 1));
    (host, process)
}

/// Issue 14: the guest's dxg driver restarts by closing and re-opening its channels; the host
/// must not keep what it held for the old session, or the chaos run's host object counts grow.
#[test]
fn closing_the_global_channel_releases_every_host_process_and_object() {
    let memory = AtomicMemory::new(0, 4 << 20);
    let (mut host, _process) = host_with_fence(&memory);
    host.channel_closed(HostChannel::Global);
    assert_eq!(
        (
            host.process_count(),
            host.object_count(),
            host.io_pages_in_use()
        ),
        (0, 0, 0)
    );
    // The re-opened session starts over: the IO space may be announced again.
    assert_eq!(set_io_space(&mut host, 2 << 20, 1 << 20), NtStatus::SUCCESS);
}

#[test]
fn closing_a_vgpu_channel_releases_the_objects_of_that_adapter() {
    let memory = AtomicMemory::new(0, 4 << 20);
    let (mut host, _process) = host_with_fence(&memory);
    host.channel_closed(HostChannel::Vgpu(1));
    assert_eq!(
        host.object_count(),
        2,
        "another adapter's channel: nothing changes"
    );
    host.channel_closed(HostChannel::Vgpu(0));
    assert_eq!((host.object_count(), host.io_pages_in_use()), (0, 0));
    assert_eq!(
        host.process_count(),
        1,
        "the process lives on the global channel"
    );
}

/// A monitored fence of `device`: its handle.
fn monitored_fence(host: &mut GpuHost<&AtomicMemory>, process: u32, device: u32) -> u32 {
    let mut request = CreateSyncObjectCommand::zeroed();
    request.device = D3dkmtHandle(device);
    request.object_type = SYNC_OBJECT_MONITORED_FENCE;
    let code = VgpuCommand::CreateSyncObject.as_u32();
    let reply = call(host, &command_of(code, process, &request));
    u32::from_le_bytes(reply[..4].try_into().unwrap())
}

/// WAITFORSYNCOBJECTFROMCPU on one object for `value`, signalling guest event `event`.
fn cpu_wait(process: u32, device: u32, fence: u32, value: u64, event: u64) -> Vec<u8> {
    let mut request = WaitForSyncObjectFromCpuCommand::zeroed();
    request.device = D3dkmtHandle(device);
    request.object_count = 1;
    request.guest_event_pointer = event;
    let code = VgpuCommand::WaitForSyncObjectFromCpu.as_u32();
    let mut command = command_of(code, process, &request);
    command.extend_from_slice(&fence.to_le_bytes());
    command.extend_from_slice(&value.to_le_bytes());
    command
}

/// A guest that queues CPU waits that never complete used to grow the host's wait list without
/// bound. Now the wait past `MAX_CPU_WAITS_PER_PROCESS` is NO_MEMORY and not queued; another
/// process still gets its waits, and the process's waits go with it.
#[test]
fn cpu_waits_are_bounded_per_process() {
    let memory = AtomicMemory::new(0, 4 << 20);
    let (mut host, process, device) = host_with_device(&memory);
    let fence = monitored_fence(&mut host, process, device);
    let limit = super::super::MAX_CPU_WAITS_PER_PROCESS;
    for event in 0..limit as u64 {
        let reply = call(&mut host, &cpu_wait(process, device, fence, 1, event + 1));
        assert_eq!(status_of(&reply), NtStatus::SUCCESS, "wait {event}");
    }
    assert_eq!(host.pending_waits(), limit);
    let reply = call(&mut host, &cpu_wait(process, device, fence, 1, 0xffff));
    assert_eq!(status_of(&reply), NtStatus::NO_MEMORY);
    assert_eq!(host.pending_waits(), limit);

    // Another process is not refused because of the first one's waits.
    let create = GlobalCommand::CreateProcess.as_u32();
    let reply = global_call(
        &mut host,
        &command_of(create, 0, &CreateProcessCommand::zeroed()),
    );
    let other = u32::from_le_bytes(reply[..4].try_into().unwrap());
    let code = VgpuCommand::CreateDevice.as_u32();
    let reply = call(
        &mut host,
        &command_of(code, other, &CreateDeviceCommand::zeroed()),
    );
    let other_device = u32::from_le_bytes(reply[..4].try_into().unwrap());
    let other_fence = monitored_fence(&mut host, other, other_device);
    let reply = call(&mut host, &cpu_wait(other, other_device, other_fence, 1, 7));
    assert_eq!(status_of(&reply), NtStatus::SUCCESS);
    assert_eq!(host.pending_waits(), limit + 1);

    let destroy = GlobalCommand::DestroyProcess.as_u32();
    let header = [0u8; CommandHeader::SIZE];
    global_call(&mut host, &command_of(destroy, process, &header));
    assert_eq!(host.pending_waits(), 1);
}
