//! Host→guest notifications (dxg.md §2.10).

use super::{CommandHeader, HostToGuestCommand, WireError, read_prefix, wire_struct};

wire_struct! {
    /// SIGNALGUESTEVENT / SIGNALGUESTEVENTPASSIVE, 48 bytes.
    pub struct SignalGuestEventMessage: CommandHeader {
        @24 pub event: u64,
        pub process_id: u64,
        @40 pub dereference_event: u8,
        pub padding: [u8; 7],
    } size 48;
}

wire_struct! {
    /// SETGUESTDATA, 48 bytes.
    pub struct SetGuestDataMessage: CommandHeader {
        pub guest_pointer: u64,
        pub data: u64,
        /// Bit 0 dereference; bits 1..4 data_type (0 DWORD, 1 UINT64).
        @40 pub flags: u32,
        pub padding: u32,
    } size 48;
}

/// A parsed host→guest notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notification {
    /// SIGNALGUESTEVENT (or its passive twin): signal guest event `event`.
    SignalGuestEvent {
        /// The guest event id (non-zero).
        event: u64,
        /// Whether it came as SIGNALGUESTEVENTPASSIVE.
        passive: bool,
    },
    /// SETGUESTDATA.
    SetGuestData {
        /// Cookie the guest gave the host earlier.
        guest_pointer: u64,
        /// The data word.
        data: u64,
        /// 0 = DWORD, 1 = UINT64.
        data_type: u32,
    },
    /// PROPAGATEPRESENTHISTORYTOKEN (not handled by Linux).
    PropagatePresentHistoryToken,
    /// SENDWNFNOTIFICATION (accepted and ignored).
    SendWnfNotification,
}

/// Parses a host→guest in-band packet. Never panics.
pub fn parse_notification(bytes: &[u8]) -> Result<Notification, WireError> {
    let header: CommandHeader = read_prefix(bytes)?;
    if header.channel_type() != super::ChannelType::HostToVm as u32 {
        return Err(WireError::InvalidField("channel_type"));
    }
    match HostToGuestCommand::from_u32(header.command_type) {
        Some(HostToGuestCommand::SignalGuestEvent)
        | Some(HostToGuestCommand::SignalGuestEventPassive) => {
            let message: SignalGuestEventMessage = read_prefix(bytes)?;
            if message.event == 0 {
                return Err(WireError::InvalidField("event"));
            }
            Ok(Notification::SignalGuestEvent {
                event: message.event,
                passive: header.command_type == HostToGuestCommand::SignalGuestEventPassive as u32,
            })
        }
        Some(HostToGuestCommand::SetGuestData) => {
            let message: SetGuestDataMessage = read_prefix(bytes)?;
            Ok(Notification::SetGuestData {
                guest_pointer: message.guest_pointer,
                data: message.data,
                data_type: (message.flags >> 1) & 0xF,
            })
        }
        Some(HostToGuestCommand::PropagatePresentHistoryToken) => {
            Ok(Notification::PropagatePresentHistoryToken)
        }
        Some(HostToGuestCommand::SendWnfNotification) => Ok(Notification::SendWnfNotification),
        None => Err(WireError::UnknownCommand(header.command_type)),
    }
}
