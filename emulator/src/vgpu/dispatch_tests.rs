//! Regression tests of the dispatch handlers against hostile guest sizes and values: each
//! ends in a status reply, never a panic.

use super::super::{GpuHost, HostChannel, HostOutput, VgpuDescription};
use dxg::wire::*;
use hyperv::memory::AtomicMemory;

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
