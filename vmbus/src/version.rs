//! VMBus protocol versions and the connection-id rules that depend on them.
//!
//! A version is `(major << 16) | minor` (reference vmbus.md §4.2). The guest proposes one
//! version per INITIATE_CONTACT and the host answers yes or no — there is no counter-offer — so
//! the client walks [`SUPPORTED_VERSIONS`] from the newest down.
//!
//! Connection ids (§0.1, §4.1): INITIATE_CONTACT goes to [`MESSAGE_CONNECTION_ID_MULTICLIENT`]
//! (4) for versions ≥ 5.0 and to [`MESSAGE_CONNECTION_ID`] (1) below; after a successful
//! handshake at ≥ 5.0 every message goes to the `message_connection_id` of VERSION_RESPONSE.

use core::fmt;

/// A VMBus protocol version, `(major << 16) | minor`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32);

impl Version {
    /// Windows Server 2008 (0.13).
    pub const WS2008: Version = Version(0x0000_000D);
    /// Windows 7 / Server 2008 R2 (1.1).
    pub const WIN7: Version = Version(0x0001_0001);
    /// Windows 8 / Server 2012 (2.4).
    pub const WIN8: Version = Version(0x0002_0004);
    /// Windows 8.1 / Server 2012 R2 (3.0).
    pub const WIN8_1: Version = Version(0x0003_0000);
    /// Windows 10 (4.0).
    pub const WIN10: Version = Version(0x0004_0000);
    /// Windows 10 RS3 (4.1).
    pub const WIN10_V4_1: Version = Version(0x0004_0001);
    /// Newer Windows 10 (5.0): INITIATE_CONTACT on connection id 4.
    pub const WIN10_V5: Version = Version(0x0005_0000);
    /// Windows 10 RS4 (5.1).
    pub const WIN10_V5_1: Version = Version(0x0005_0001);
    /// Windows Server 2019 / RS5 (5.2).
    pub const WIN10_V5_2: Version = Version(0x0005_0002);
    /// Windows Server 2022 (5.3).
    pub const WIN10_V5_3: Version = Version(0x0005_0003);
    /// OpenVMM "Copper" (6.0): feature flags. Not proposed by this client.
    pub const COPPER: Version = Version(0x0006_0000);

    /// The major number.
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The minor number.
    pub const fn minor(self) -> u16 {
        self.0 as u16
    }

    /// The connection id INITIATE_CONTACT for this version must be posted to.
    pub const fn initiate_contact_connection_id(self) -> u32 {
        if self.0 >= Version::WIN10_V5.0 {
            MESSAGE_CONNECTION_ID_MULTICLIENT
        } else {
            MESSAGE_CONNECTION_ID
        }
    }

    /// Whether VERSION_RESPONSE carries the message connection id to use afterwards (≥ 5.0).
    pub const fn has_message_connection_id(self) -> bool {
        self.0 >= Version::WIN10_V5.0
    }

    /// Whether the host sets the SIEF bit of the relid directly (≥ 2.4).
    pub const fn has_direct_event_flags(self) -> bool {
        self.0 >= Version::WIN8.0
    }

    /// Whether UNLOAD is answered with UNLOAD_RESPONSE (used from 3.0, as Linux does).
    pub const fn supports_unload(self) -> bool {
        self.0 >= Version::WIN8_1.0
    }

    /// Whether MODIFYCHANNEL is answered (≥ 5.3).
    pub const fn has_modify_channel_response(self) -> bool {
        self.0 >= Version::WIN10_V5_3.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

/// The versions this client proposes, newest first (Linux's list: 2.4 is the oldest because
/// older hosts need the shared interrupt page for host→guest events).
pub const SUPPORTED_VERSIONS: [Version; 8] = [
    Version::WIN10_V5_3,
    Version::WIN10_V5_2,
    Version::WIN10_V5_1,
    Version::WIN10_V5,
    Version::WIN10_V4_1,
    Version::WIN10,
    Version::WIN8_1,
    Version::WIN8,
];

/// Control-message connection id for versions < 5.0 (and what most hosts return for ≥ 5.0).
pub const MESSAGE_CONNECTION_ID: u32 = 1;
/// The bits of a connection id that name the connection (`HV_CONNECTION_ID`: a 24-bit id and
/// 8 reserved bits; vmbus.md §4.1, QEMU masks with 0x00FFFFFF). 0 names no connection.
pub const CONNECTION_ID_MASK: u32 = 0x00FF_FFFF;

/// Whether `id` can be a message connection id: non-zero, reserved bits clear. Linux's
/// `vmbus_negotiate_version` (torvalds/linux drivers/hv/connection.c) takes `msg_conn_id`
/// unchecked; dxgos refuses what cannot name a connection, so no later post goes there.
pub const fn is_valid_message_connection_id(id: u32) -> bool {
    id != 0 && id & !CONNECTION_ID_MASK == 0
}

/// Legacy guest→host event connection id (WS2008 doorbell).
pub const EVENT_CONNECTION_ID: u32 = 2;
/// Legacy monitor connection id.
pub const MONITOR_CONNECTION_ID: u32 = 3;
/// The "multiclient" connection id INITIATE_CONTACT goes to for versions ≥ 5.0.
pub const MESSAGE_CONNECTION_ID_MULTICLIENT: u32 = 4;
/// The SynIC interrupt source (SINT) VMBus uses for messages and events.
pub const VMBUS_SINT: u8 = 2;
/// The SynIC message type of every VMBus control message (HvPostMessage `message_type`).
pub const VMBUS_SYNIC_MESSAGE_TYPE: u32 = 1;
/// Maximum SynIC message payload (a control message including its 8-byte header).
pub const MAX_MESSAGE_SIZE: usize = 240;
/// Hypercall status the host returns for a post to an unregistered connection id.
pub const HV_STATUS_INVALID_CONNECTION_ID: u16 = 0x0012;
/// Hypercall status for a full message queue (retry later).
pub const HV_STATUS_INSUFFICIENT_BUFFERS: u16 = 0x0013;
/// Number of relids the SIEF event page can signal (2048 bits); relid 0 is reserved.
pub const MAX_RELID: u32 = 2047;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_follow_the_version() {
        assert_eq!(Version(0x0005_0000).initiate_contact_connection_id(), 4);
        assert_eq!(Version(0x0005_0003).initiate_contact_connection_id(), 4);
        assert_eq!(Version(0x0004_0001).initiate_contact_connection_id(), 1);
        assert_eq!(Version(0x0002_0004).initiate_contact_connection_id(), 1);
        assert_eq!(alloc::format!("{}", Version::WIN10_V4_1), "4.1");
    }

    #[test]
    fn supported_versions_descend() {
        assert!(SUPPORTED_VERSIONS.windows(2).all(|pair| pair[0] > pair[1]));
        assert_eq!(SUPPORTED_VERSIONS[0].0, 0x0005_0003);
        assert_eq!(SUPPORTED_VERSIONS[7].0, 0x0002_0004);
    }
}
