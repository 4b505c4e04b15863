//! The 16-byte extension header and the 24-byte command headers (dxg.md §2.2–§2.3).

use super::{ChannelType, CommandCode, D3dkmtHandle, Luid, WireError};
use super::{read_prefix, wire_struct};
use zerocopy::{FromBytes, IntoBytes};

wire_struct! {
    /// Prefix of every guest→host command when the interface version is ≥ 40.
    #[derive(Default)]
    pub struct ExtensionHeader {
        /// Offset from the message start to the command header: 16.
        pub command_offset: u32,
        /// Reserved, 0.
        pub reserved: u32,
        /// Host vGPU LUID of the target adapter; zero for adapter-less global commands.
        @8 pub vgpu_luid: Luid,
    } size 16;
}

impl ExtensionHeader {
    /// An extension header for `vgpu_luid`.
    pub const fn new(vgpu_luid: Luid) -> Self {
        Self {
            command_offset: Self::SIZE as u32,
            reserved: 0,
            vgpu_luid,
        }
    }
}

/// Bit 8 of the vGPU header's channel word: the command was sent asynchronously.
pub const ASYNC_MESSAGE_BIT: u32 = 1 << 8;

wire_struct! {
    /// The 24-byte command header shared by guest→host (global and vGPU) and host→guest
    /// messages.
    #[derive(Default)]
    pub struct CommandHeader {
        /// Always 0 (matching is by VMBus transaction id).
        pub command_id: u64,
        /// Host process handle (0 for process-less commands).
        @8 pub process: D3dkmtHandle,
        /// Global: the full `channel_type` (1). vGPU/host→guest: bits 0..7 `channel_type`,
        /// bit 8 async.
        @12 pub channel_word: u32,
        /// The command number.
        @16 pub command_type: u32,
        /// Padding, 0.
        pub padding: u32,
    } size 24;
}

impl CommandHeader {
    /// A header with `channel_word` (the channel type and flags) for `command_type`.
    const fn new(channel_word: u32, command_type: u32, process: D3dkmtHandle) -> Self {
        Self {
            command_id: 0,
            process,
            channel_word,
            command_type,
            padding: 0,
        }
    }
    /// A header for a global (`vm_to_host`) command.
    pub const fn global(command_type: u32, process: D3dkmtHandle) -> Self {
        Self::new(ChannelType::VmToHost as u32, command_type, process)
    }
    /// A header for a vGPU (`vgpu_to_host`) command.
    pub const fn vgpu(command_type: u32, process: D3dkmtHandle, asynchronous: bool) -> Self {
        let async_bit = if asynchronous { ASYNC_MESSAGE_BIT } else { 0 };
        Self::new(
            ChannelType::VgpuToHost as u32 | async_bit,
            command_type,
            process,
        )
    }
    /// The (synchronous) header of `code` on its own channel.
    pub const fn of(code: CommandCode, process: D3dkmtHandle) -> Self {
        match code {
            CommandCode::Vgpu(command) => Self::vgpu(command.as_u32(), process, false),
            CommandCode::Global(command) => Self::global(command.as_u32(), process),
        }
    }
    /// A header for a host→guest notification.
    pub const fn host_to_guest(command_type: u32) -> Self {
        Self::new(
            ChannelType::HostToVm as u32,
            command_type,
            D3dkmtHandle::NULL,
        )
    }
    /// The channel type (low 8 bits for vGPU-style headers; the whole word for global ones).
    pub const fn channel_type(&self) -> u32 {
        if self.channel_word == ChannelType::VmToHost as u32 {
            1
        } else {
            self.channel_word & 0xFF
        }
    }
    /// Whether the async-message bit is set.
    pub const fn is_async(&self) -> bool {
        self.channel_word & ASYNC_MESSAGE_BIT != 0
    }
}

/// A zeroed command struct whose leading 24-byte [`CommandHeader`] carries `code` for the host
/// process `process`. Every guest→host command struct starts with its header (§2.3), so the
/// header is written over the struct's first bytes; a type shorter than a header stays zero.
pub fn new_command<T: FromBytes + IntoBytes>(
    code: impl Into<CommandCode>,
    process: D3dkmtHandle,
) -> T {
    let mut command = T::new_zeroed();
    let header = CommandHeader::of(code.into(), process);
    let _ = header.write_to_prefix(command.as_mut_bytes());
    command
}

/// The command number of an encoded command (the bytes from its header onwards).
pub fn command_number(command: &[u8]) -> Option<u32> {
    super::read_at::<u32>(command, core::mem::offset_of!(CommandHeader, command_type)).ok()
}

/// A guest→host message split into its parts (host side parsing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMessage<'a> {
    /// The extension header, if the message carries one.
    pub extension: Option<ExtensionHeader>,
    /// The command header.
    pub header: CommandHeader,
    /// The command bytes, from the command header onwards (offsets of §3 apply to these).
    pub command: &'a [u8],
}

/// Splits a guest→host message. With `has_extension` (version ≥ 40) the first 16 bytes must be an
/// extension header whose `command_offset` is 16.
pub fn split_message(bytes: &[u8], has_extension: bool) -> Result<SplitMessage<'_>, WireError> {
    let (extension, command) = if has_extension {
        let extension: ExtensionHeader = read_prefix(bytes)?;
        if extension.command_offset as usize != ExtensionHeader::SIZE {
            return Err(WireError::InvalidField("command_offset"));
        }
        let command = bytes
            .get(ExtensionHeader::SIZE..)
            .ok_or(WireError::TooShort {
                needed: ExtensionHeader::SIZE,
                available: bytes.len(),
            })?;
        (Some(extension), command)
    } else {
        (None, bytes)
    };
    let header: CommandHeader = read_prefix(command)?;
    Ok(SplitMessage {
        extension,
        header,
        command,
    })
}
