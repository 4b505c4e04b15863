//! Integration-component (IC) wire format: the pipe header, the IC message header, version
//! negotiation and the payloads of heartbeat, shutdown, time sync and key-value exchange.
//!
//! Facts from torvalds/linux `include/linux/hyperv.h` (`vmbuspipe_hdr`, `ic_version`,
//! `icmsg_hdr`, `icmsg_negotiate`, `shutdown_msg_data`, `heartbeat_msg_data`,
//! `ictimesync_data`, `ictimesync_ref_data`, the `ICMSGTYPE_*`/`ICMSGHDRFLAG_*`/`HV_*` numbers),
//! `drivers/hv/hv_util.c` and `hv_kvp.c` (version lists), `include/uapi/linux/hyperv.h` (KVP
//! message), and microsoft/openvmm `vm/devices/hyperv_ic_protocol/src/lib.rs` (the host's view:
//! header flags, shutdown flags, pipe packet type). All fields are little-endian and packed;
//! the structures use zerocopy's little-endian types, so `#[repr(C)]` adds no padding and the
//! sizes asserted below are the wire sizes.

use core::mem::size_of;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The pipe header every IC packet payload starts with (`vmbuspipe_hdr`: flags, size).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct PipeHeader {
    /// Pipe packet type (OpenVMM `PIPE_PACKET_TYPE_DATA` = 1 for data).
    pub flags: U32,
    /// Bytes after the pipe header.
    pub size: U32,
}

/// The pipe packet type of a data packet (OpenVMM `vmbus_ring::PIPE_PACKET_TYPE_DATA`).
pub const PIPE_PACKET_TYPE_DATA: u32 = 1;

/// An IC version (`ic_version`: major, minor).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
#[repr(C)]
pub struct IcVersion {
    /// Major version.
    pub major: U16,
    /// Minor version.
    pub minor: U16,
}

impl IcVersion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> IcVersion {
        IcVersion {
            major: U16::new(major),
            minor: U16::new(minor),
        }
    }
}

impl core::fmt::Display for IcVersion {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{}.{}", self.major.get(), self.minor.get())
    }
}

/// The IC message header (`icmsg_hdr`), after the pipe header.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct IcHeader {
    /// Framework version (`icverframe`).
    pub framework_version: IcVersion,
    /// Message type (`icmsgtype`, [`message_type`]).
    pub message_type: U16,
    /// Message version (`icvermsg`).
    pub message_version: IcVersion,
    /// Bytes of the message after this header (`icmsgsize`).
    pub message_size: U16,
    /// Status (`HV_S_OK`, `HV_E_FAIL`, ...).
    pub status: U32,
    /// IC transaction id, echoed in the response.
    pub transaction_id: u8,
    /// [`header_flags`].
    pub flags: u8,
    /// Reserved.
    pub reserved: [u8; 2],
}

/// Version negotiation (`icmsg_negotiate`); `framework_count` framework versions then
/// `message_count` message versions follow.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct NegotiateHeader {
    /// Framework versions that follow (`icframe_vercnt`).
    pub framework_count: U16,
    /// Message versions after them (`icmsg_vercnt`).
    pub message_count: U16,
    /// Reserved.
    pub reserved: U32,
}

/// Heartbeat (`heartbeat_msg_data`: sequence number, 32 reserved bytes). OpenVMM's host view is
/// shorter (sequence, application state, 4 reserved bytes); only the sequence number is read.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct HeartbeatData {
    /// Sequence number; the reply carries it + 1.
    pub sequence: U64,
}

/// Shutdown request (`shutdown_msg_data`), without its 2048-byte display message.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct ShutdownData {
    /// Reason code (OpenVMM sends `SHTDN_REASON_FLAG_PLANNED`).
    pub reason_code: U32,
    /// Seconds the host allows.
    pub timeout_seconds: U32,
    /// [`shutdown_flags`].
    pub flags: U32,
}

/// Bytes of the display message after [`ShutdownData`].
pub const SHUTDOWN_MESSAGE_BYTES: usize = 2048;

/// Time sample before 4.0 (`ictimesync_data`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct TimeSyncData {
    /// Host time, 100 ns units since 1601-01-01 UTC.
    pub parent_time: U64,
    /// Guest time (unused by guests).
    pub child_time: U64,
    /// Round-trip time.
    pub round_trip_time: U64,
    /// [`time_sync_flags`].
    pub flags: u8,
}

/// Time sample of version 4.0 (`ictimesync_ref_data`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct TimeSyncReferenceData {
    /// Host time, 100 ns units since 1601-01-01 UTC.
    pub parent_time: U64,
    /// The partition reference counter (100 ns) when the sample was taken.
    pub reference_time: U64,
    /// [`time_sync_flags`].
    pub flags: u8,
    /// Leap flags.
    pub leap_flags: u8,
    /// Stratum.
    pub stratum: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// KVP message header (`hv_kvp_hdr`: operation, pool, 2 pad bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct KvpHeader {
    /// [`kvp::OPERATION_GET`] ... .
    pub operation: u8,
    /// [`kvp::POOL_AUTO`] ... .
    pub pool: u8,
    /// Padding.
    pub pad: U16,
}

/// A key-value record (`hv_kvp_exchg_msg_value` without its key and value arrays): the key
/// ([`kvp::MAXIMUM_KEY_BYTES`]) and value ([`kvp::MAXIMUM_VALUE_BYTES`]) follow, UTF-16LE.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct KvpValueHeader {
    /// `REG_SZ` (1) for strings.
    pub value_type: U32,
    /// Bytes of the key, its NUL included.
    pub key_size: U32,
    /// Bytes of the value, its NUL included.
    pub value_size: U32,
}

const _: () = assert!(size_of::<PipeHeader>() == 8);
const _: () = assert!(size_of::<IcVersion>() == 4);
const _: () = assert!(size_of::<IcHeader>() == 20);
const _: () = assert!(size_of::<NegotiateHeader>() == 8);
const _: () = assert!(size_of::<HeartbeatData>() == 8);
const _: () = assert!(size_of::<ShutdownData>() == 12);
const _: () = assert!(size_of::<TimeSyncData>() == 25);
const _: () = assert!(size_of::<TimeSyncReferenceData>() == 22);
const _: () = assert!(size_of::<KvpHeader>() == 4);
const _: () = assert!(size_of::<KvpValueHeader>() == 12);

/// Offset of the IC header in a packet payload.
pub const IC_HEADER_OFFSET: usize = size_of::<PipeHeader>();
/// Offset of the message body (`ICMSG_HDR` in Linux).
pub const BODY_OFFSET: usize = IC_HEADER_OFFSET + size_of::<IcHeader>();

/// `icmsgtype` values (`ICMSGTYPE_*`).
pub mod message_type {
    /// Version negotiation.
    pub const NEGOTIATE: u16 = 0;
    /// Heartbeat.
    pub const HEARTBEAT: u16 = 1;
    /// Key-value exchange.
    pub const KVP_EXCHANGE: u16 = 2;
    /// Shutdown.
    pub const SHUTDOWN: u16 = 3;
    /// Time sync.
    pub const TIME_SYNC: u16 = 4;
}

/// `icflags` bits (`ICMSGHDRFLAG_*`).
pub mod header_flags {
    /// The message is part of a transaction (a response is expected / given).
    pub const TRANSACTION: u8 = 1;
    /// A request.
    pub const REQUEST: u8 = 2;
    /// A response.
    pub const RESPONSE: u8 = 4;
}

/// Status values (`HV_S_OK`, `HV_E_FAIL`, ... in Linux's `include/linux/hyperv.h`).
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// Failure.
    pub const FAIL: u32 = 0x8000_4005;
    /// KVP: no more items at this index (`HV_S_CONT`).
    pub const CONTINUE: u32 = 0x8007_0103;
    /// Not supported (`HV_ERROR_NOT_SUPPORTED`).
    pub const NOT_SUPPORTED: u32 = 0x8007_0032;
}

/// Shutdown request flags (Linux `shutdown_onchannelcallback`: 0 shut down, 2 restart, 4
/// hibernate, OR 1 to force; OpenVMM `ShutdownFlags`: bit 0 force, bit 1 restart, bit 2
/// hibernate).
pub mod shutdown_flags {
    /// Force.
    pub const FORCE: u32 = 1;
    /// Restart instead of power off.
    pub const RESTART: u32 = 2;
    /// Hibernate.
    pub const HIBERNATE: u32 = 4;
}

/// Time sync flags (`ICTIMESYNCFLAG_*`).
pub mod time_sync_flags {
    /// A probe.
    pub const PROBE: u8 = 0;
    /// Set the clock (sent after boot or restore).
    pub const SYNC: u8 = 1;
    /// A periodic sample.
    pub const SAMPLE: u8 = 2;
}

/// 100 ns units between 1601-01-01 and 1970-01-01 (`WLTIMEDELTA`).
pub const WINDOWS_TO_UNIX_EPOCH_100NS: u64 = 116_444_736_000_000_000;

/// Most versions of either kind a negotiation may list
/// (`IC_VERSION_NEGOTIATION_MAX_VER_COUNT`).
pub const MAXIMUM_VERSION_COUNT: usize = 100;

/// Framework versions the guest accepts, best first (`fw_versions`: `UTIL_FW_VERSION` 3.0,
/// `UTIL_WS2K8_FW_VERSION` 1.0).
pub const FRAMEWORK_VERSIONS: [IcVersion; 2] = [IcVersion::new(3, 0), IcVersion::new(1, 0)];
/// Heartbeat versions, best first (`hb_versions`).
pub const HEARTBEAT_VERSIONS: [IcVersion; 2] = [IcVersion::new(3, 0), IcVersion::new(1, 0)];
/// Shutdown versions, best first (`sd_versions`).
pub const SHUTDOWN_VERSIONS: [IcVersion; 4] = [
    IcVersion::new(3, 2),
    IcVersion::new(3, 1),
    IcVersion::new(3, 0),
    IcVersion::new(1, 0),
];
/// Time sync versions, best first (`ts_versions`).
pub const TIME_SYNC_VERSIONS: [IcVersion; 3] = [
    IcVersion::new(4, 0),
    IcVersion::new(3, 0),
    IcVersion::new(1, 0),
];
/// KVP versions, best first (`kvp_versions` in `hv_kvp.c`: WIN8 4.0, WIN7 3.0, WS2008 1.0).
pub const KVP_VERSIONS: [IcVersion; 3] = [
    IcVersion::new(4, 0),
    IcVersion::new(3, 0),
    IcVersion::new(1, 0),
];

/// Key-value exchange numbers (`include/uapi/linux/hyperv.h`).
pub mod kvp {
    /// Get a value by key.
    pub const OPERATION_GET: u8 = 0;
    /// Set a value.
    pub const OPERATION_SET: u8 = 1;
    /// Delete a value.
    pub const OPERATION_DELETE: u8 = 2;
    /// Enumerate a pool by index.
    pub const OPERATION_ENUMERATE: u8 = 3;
    /// Pool of the guest's intrinsic (auto) items.
    pub const POOL_AUTO: u8 = 2;
    /// `REG_SZ`.
    pub const REG_SZ: u32 = 1;
    /// Bytes of the key array (`HV_KVP_EXCHANGE_MAX_KEY_SIZE`).
    pub const MAXIMUM_KEY_BYTES: usize = 512;
    /// Bytes of the value array (`HV_KVP_EXCHANGE_MAX_VALUE_SIZE`).
    pub const MAXIMUM_VALUE_BYTES: usize = 2048;
}
