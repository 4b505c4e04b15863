//! Fuzzes the emulated host's vGPU dispatch with guest command bytes: a host with one vGPU, an
//! IO space, a process, an open adapter and a device receives a sequence of commands whose
//! headers are chosen from the input (vGPU or global command number, process, async bit,
//! extension header once interface version 40 is negotiated) and whose bodies are raw input.
//! Also interleaves GPADL registration, device-state notifications and offered-allocation
//! discards. The host must answer, never panic.
#![no_main]

use dxg::wire::{CommandHeader, ExtensionHeader, GlobalCommand, VgpuCommand};
use emulator::vgpu::{GpuHost, HostChannel, HostOutput, VgpuDescription};
use hyperv::memory::AtomicMemory;
use libfuzzer_sys::fuzz_target;

/// Guest RAM the host can reach: 256 KiB at 0; the IO space is its upper 128 KiB (small, so
/// each run is cheap).
const MEMORY_BYTES: usize = 256 << 10;
const IO_SPACE_START: u64 = 128 << 10;
const IO_SPACE_BYTES: u64 = 128 << 10;
const VGPU_LUID: u64 = 2;

/// Builds one message: optional extension header, command header, body.
fn message(extension: bool, process: u32, channel_word: u32, command: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ExtensionHeader::SIZE + CommandHeader::SIZE + body.len());
    if extension {
        bytes.extend_from_slice(&(ExtensionHeader::SIZE as u32).to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&VGPU_LUID.to_le_bytes());
    }
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&process.to_le_bytes());
    bytes.extend_from_slice(&channel_word.to_le_bytes());
    bytes.extend_from_slice(&command.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Sends a command and returns the first completion's bytes.
fn call(host: &mut GpuHost<&AtomicMemory>, channel: HostChannel, bytes: &[u8]) -> Vec<u8> {
    host.receive(channel, 1, true, bytes);
    let mut reply = Vec::new();
    while let Some(output) = host.poll_output() {
        if let HostOutput::Completion { bytes, .. } = output
            && reply.is_empty()
        {
            reply = bytes;
        }
    }
    reply
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset + 4)
        .map_or(0, |word| u32::from_le_bytes(word.try_into().unwrap()))
}

/// A host with one vGPU, an IO space, one process, the adapter open and one device.
/// Returns the host and the process handle.
fn ready_host(memory: &AtomicMemory) -> (GpuHost<&AtomicMemory>, u32, u32) {
    let mut host = GpuHost::new(memory, 2);
    host.add_vgpu(VgpuDescription::new(1, VGPU_LUID));
    let mut io_space = Vec::new();
    io_space.extend_from_slice(&IO_SPACE_START.to_le_bytes());
    io_space.extend_from_slice(&IO_SPACE_BYTES.to_le_bytes());
    io_space.extend_from_slice(&[0; 8]);
    let global = GlobalCommand::SetIoSpaceRegion.as_u32();
    call(
        &mut host,
        HostChannel::Global,
        &message(false, 0, 1, global, &io_space),
    );
    let create = GlobalCommand::CreateProcess.as_u32();
    let process = u32_at(
        &call(
            &mut host,
            HostChannel::Global,
            &message(false, 0, 1, create, &[0; 64]),
        ),
        0,
    );
    assert_ne!(process, 0, "the fuzz setup must create a process");
    let open = call(
        &mut host,
        HostChannel::Vgpu(0),
        &message(
            false,
            process,
            0,
            VgpuCommand::OpenAdapter.as_u32(),
            &[0; 16],
        ),
    );
    let adapter = u32_at(&open, 0);
    let mut device = Vec::new();
    device.extend_from_slice(&adapter.to_le_bytes());
    device.resize(64, 0);
    call(
        &mut host,
        HostChannel::Vgpu(0),
        &message(
            false,
            process,
            0,
            VgpuCommand::CreateDevice.as_u32(),
            &device,
        ),
    );
    (host, process, adapter)
}

fuzz_target!(|data: &[u8]| {
    let memory = AtomicMemory::new(0, MEMORY_BYTES);
    let (mut host, process, _adapter) = ready_host(&memory);
    let mut extension = false;
    let mut rest = data;
    while let [
        kind,
        number,
        selector,
        flags,
        length_low,
        length_high,
        tail @ ..,
    ] = rest
    {
        let length = usize::from(u16::from_le_bytes([*length_low, *length_high])).min(tail.len());
        let (body, next) = tail.split_at(length);
        rest = next;
        let process = match selector % 4 {
            0 => 0,
            1 | 2 => process,
            _ => u32_at(body, 0),
        };
        let asynchronous = if flags & 1 != 0 { 1 << 8 } else { 0 };
        let completion = flags & 2 == 0;
        match kind % 8 {
            0..=3 => {
                let channel = if kind & 0x80 != 0 { 1 } else { 0 };
                let bytes = message(
                    extension,
                    process,
                    asynchronous,
                    u32::from(*number % 72),
                    body,
                );
                host.receive(
                    HostChannel::Vgpu(channel),
                    u64::from(*flags),
                    completion,
                    &bytes,
                );
            }
            4 | 5 => {
                let command = 1000 + u32::from(*number % 32);
                let bytes = message(extension, process, 1 | asynchronous, command, body);
                host.receive(HostChannel::Global, u64::from(*flags), completion, &bytes);
            }
            6 => {
                // Raw bytes, no header built for the guest.
                host.receive(HostChannel::Vgpu(0), 0, completion, body);
            }
            _ => match number % 5 {
                0 => {
                    if let Some(config) = host.pci_config(0) {
                        let version = if extension { 39 } else { 40 };
                        config.write_u32(0xD0, version);
                        extension = !extension;
                    }
                }
                1 => {
                    let frames = body
                        .chunks_exact(8)
                        .map(|frame| u64::from_le_bytes(frame.try_into().unwrap()))
                        .collect();
                    host.register_gpadl(u32::from(*selector), frames);
                }
                2 => host.unregister_gpadl(u32::from(*selector)),
                3 => host.notify_device_state_changed(),
                _ => {
                    host.discard_offered();
                }
            },
        }
        while host.poll_output().is_some() {}
    }
});
