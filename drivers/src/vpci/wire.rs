//! vPCI wire format (reference vpci.md §1.3, §2): message types, protocol versions, statuses
//! and the packet layouts a client of one BAR-less function needs.
//!
//! Every message is the payload of a VMBus in-band packet (type 6) and starts with a u32
//! message type `0x42490000 + n`; every completion payload starts with an NTSTATUS. All fields
//! are little-endian and the structures are packed: they are built from zerocopy's
//! little-endian integer types, so `#[repr(C)]` adds no padding and the sizes below are the
//! wire sizes (asserted at compile time).

// vPCI messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use core::mem::size_of;
use hyperv::NtStatus;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The vPCI device class (`44C4F61D-4444-4400-9D52-802E27EDE19F`).
pub const CLASS: vmbus::guid::Guid = vmbus::guid::class::VIRTUAL_PCI;

/// Base of every message type.
pub const MESSAGE_BASE: u32 = 0x4249_0000;
/// Host → guest: the function list with v1 descriptions.
pub const BUS_RELATIONS: u32 = MESSAGE_BASE;
/// Guest → host: ask for the function list (answered by a message, not a completion).
pub const QUERY_BUS_RELATIONS: u32 = MESSAGE_BASE + 0x01;
/// Guest → host: the BAR probe masks of one function.
pub const QUERY_RESOURCE_REQUIREMENTS: u32 = MESSAGE_BASE + 0x05;
/// Guest → host: the bus is powered; carries the config window base.
pub const BUS_D0ENTRY: u32 = MESSAGE_BASE + 0x07;
/// Guest → host: the bus is powered off.
pub const BUS_D0EXIT: u32 = MESSAGE_BASE + 0x08;
/// Host → guest: release a function.
pub const EJECT: u32 = MESSAGE_BASE + 0x0B;
/// Guest → host: the function was released.
pub const EJECTION_COMPLETE: u32 = MESSAGE_BASE + 0x0F;
/// Guest → host: resources assigned (v1, protocol 1.1).
pub const RESOURCES_ASSIGNED: u32 = MESSAGE_BASE + 0x10;
/// Guest → host: resources released.
pub const RESOURCES_RELEASED: u32 = MESSAGE_BASE + 0x11;
/// Host → guest: config blocks invalidated (SR-IOV back channel; ignored here).
pub const INVALIDATE_BLOCK: u32 = MESSAGE_BASE + 0x12;
/// Guest → host: protocol version negotiation.
pub const QUERY_PROTOCOL_VERSION: u32 = MESSAGE_BASE + 0x13;
/// Guest → host: resources assigned (v2, protocol ≥ 1.2).
pub const RESOURCES_ASSIGNED2: u32 = MESSAGE_BASE + 0x16;
/// Host → guest: the function list with v2 descriptions (protocol ≥ 1.3).
pub const BUS_RELATIONS2: u32 = MESSAGE_BASE + 0x19;
/// Guest → host: resources assigned (v3, protocol 1.4; not sent by this client).
pub const RESOURCES_ASSIGNED3: u32 = MESSAGE_BASE + 0x1A;

/// A protocol version word (`major << 16 | minor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(pub u32);

impl ProtocolVersion {
    /// 1.1 (Windows 10), the base protocol.
    pub const V1_1: ProtocolVersion = ProtocolVersion(0x0001_0001);
    /// 1.2 (RS1): RESOURCES_ASSIGNED2.
    pub const V1_2: ProtocolVersion = ProtocolVersion(0x0001_0002);
    /// 1.3 (Vibranium): BUS_RELATIONS2.
    pub const V1_3: ProtocolVersion = ProtocolVersion(0x0001_0003);
    /// 1.4 (WS2022).
    pub const V1_4: ProtocolVersion = ProtocolVersion(0x0001_0004);
    /// What the client offers, best first (Linux's order).
    pub const CLIENT_ORDER: [ProtocolVersion; 4] = [Self::V1_4, Self::V1_3, Self::V1_2, Self::V1_1];
}

/// STATUS_SUCCESS (the values are the one NTSTATUS type's, [`hyperv::NtStatus`], as the
/// unsigned words the vPCI completions carry).
pub const STATUS_SUCCESS: u32 = NtStatus::SUCCESS.as_u32();
/// STATUS_REVISION_MISMATCH: try a lower protocol version.
pub const STATUS_REVISION_MISMATCH: u32 = NtStatus::REVISION_MISMATCH.as_u32();
/// STATUS_BAD_DATA (OpenVMM's answer to malformed or unknown requests).
pub const STATUS_BAD_DATA: u32 = NtStatus::BAD_DATA.as_u32();
/// STATUS_NOT_SUPPORTED.
pub const STATUS_NOT_SUPPORTED: u32 = NtStatus::NOT_SUPPORTED.as_u32();

/// Whether an NTSTATUS means success (non-negative as an s32).
pub const fn status_is_success(status: u32) -> bool {
    NtStatus::from_u32(status).is_success()
}

/// Bytes of the config window: page 0 holds the function-select register, page 1 the selected
/// function's config space (vpci.md §5.1).
pub const CONFIG_WINDOW_SIZE: u64 = 0x2000;
/// Offset of the config space page inside the window.
pub const CONFIG_SPACE_OFFSET: u64 = 0x1000;
/// Bytes of one function's config space reachable through the window.
pub const CONFIG_SPACE_SIZE: u64 = 0x1000;
/// Required alignment of the window.
pub const CONFIG_WINDOW_ALIGNMENT: u64 = 0x1000;

/// Most functions a bus can list: slots are 5 bits of device and 3 bits of function.
pub const MAX_FUNCTIONS: usize = 256;

/// A function's slot number ("win_slot"): bits 0–4 device, bits 5–7 function, the rest 0.
/// Not Linux's devfn (`device << 3 | function`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotNumber(pub u32);

impl SlotNumber {
    /// The slot of `device` (0–31) function `function` (0–7); `None` when out of range.
    pub const fn new(device: u8, function: u8) -> Option<SlotNumber> {
        if device > 31 || function > 7 {
            return None;
        }
        Some(SlotNumber(device as u32 | (function as u32) << 5))
    }
    /// The device number.
    pub const fn device(self) -> u8 {
        (self.0 & 0x1F) as u8
    }
    /// The function number.
    pub const fn function(self) -> u8 {
        ((self.0 >> 5) & 0x7) as u8
    }
    /// Whether reserved bits (8–31) are clear.
    pub const fn is_valid(self) -> bool {
        self.0 & !0xFF == 0
    }
}

/// A message that is only its type (QUERY_BUS_RELATIONS, BUS_D0EXIT).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct MessageHeader {
    /// Message type.
    pub message_type: U32,
}

/// QUERY_PROTOCOL_VERSION (8 bytes, Linux's form).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct QueryProtocolVersion {
    /// [`QUERY_PROTOCOL_VERSION`].
    pub message_type: U32,
    /// The version requested.
    pub protocol_version: U32,
}

/// A message carrying only a slot: QUERY_RESOURCE_REQUIREMENTS, RESOURCES_RELEASED, EJECT.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct SlotMessage {
    /// Message type.
    pub message_type: U32,
    /// The function's slot.
    pub slot: U32,
}

/// BUS_D0ENTRY (16 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct BusD0Entry {
    /// [`BUS_D0ENTRY`].
    pub message_type: U32,
    /// Reserved, 0.
    pub reserved: U32,
    /// Guest-physical base of the 8 KiB config window.
    pub mmio_base: U64,
}

/// EJECTION_COMPLETE (12 bytes, Linux's and FreeBSD's form).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct EjectionComplete {
    /// [`EJECTION_COMPLETE`].
    pub message_type: U32,
    /// The ejected slot.
    pub slot: U32,
    /// 0.
    pub status: U32,
}

/// Bytes of the six partial resource descriptors (6 × 20) in RESOURCES_ASSIGNED*.
pub const RESOURCE_DESCRIPTORS_BYTES: usize = 120;

/// RESOURCES_ASSIGNED (v1, 148 bytes): all resources zero, no MSI.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct ResourcesAssigned {
    /// [`RESOURCES_ASSIGNED`].
    pub message_type: U32,
    /// The function's slot.
    pub slot: U32,
    /// Six partial resource descriptors (unused: zero).
    pub resources: [u8; RESOURCE_DESCRIPTORS_BYTES],
    /// MSI descriptor count (0).
    pub msi_descriptor_count: U32,
    /// Reserved.
    pub reserved: [u8; 16],
}

/// RESOURCES_ASSIGNED2 (202 bytes): all resources zero, no MSI.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct ResourcesAssigned2 {
    /// [`RESOURCES_ASSIGNED2`].
    pub message_type: U32,
    /// The function's slot.
    pub slot: U32,
    /// Six partial resource descriptors (unused: zero).
    pub resources: [u8; RESOURCE_DESCRIPTORS_BYTES],
    /// MSI descriptor count (0).
    pub msi_descriptor_count: U32,
    /// Reserved.
    pub reserved: [u8; 70],
}

/// The count header of BUS_RELATIONS and BUS_RELATIONS2.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct BusRelationsHeader {
    /// [`BUS_RELATIONS`] or [`BUS_RELATIONS2`].
    pub message_type: U32,
    /// Number of function descriptions that follow.
    pub device_count: U32,
}

/// Function description v1 (20 bytes), element of BUS_RELATIONS.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct FunctionDescription {
    /// Vendor id (config 0x00).
    pub vendor_id: U16,
    /// Device id (config 0x02).
    pub device_id: U16,
    /// Revision (config 0x08).
    pub revision: u8,
    /// Programming interface (config 0x09).
    pub programming_interface: u8,
    /// Sub-class (config 0x0A).
    pub sub_class: u8,
    /// Base class (config 0x0B).
    pub base_class: u8,
    /// Subsystem vendor (low 16 bits) and subsystem id (high 16) (config 0x2C).
    pub subsystem: U32,
    /// Slot number.
    pub slot: U32,
    /// Serial number.
    pub serial_number: U32,
}

/// Function description v2 (28 bytes), element of BUS_RELATIONS2.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct FunctionDescription2 {
    /// The v1 fields.
    pub base: FunctionDescription,
    /// Bit 0: `numa_node` is valid.
    pub flags: U32,
    /// Virtual NUMA node.
    pub numa_node: U16,
    /// Reserved.
    pub reserved: U16,
}

/// Flag of [`FunctionDescription2::flags`]: the NUMA node is valid.
pub const FLAG_NUMA_AFFINITY: u32 = 1;

/// Completion of QUERY_RESOURCE_REQUIREMENTS (28 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct ResourceRequirementsCompletion {
    /// NTSTATUS.
    pub status: U32,
    /// The six BAR probe values.
    pub probed_bars: [U32; 6],
}

/// The prefix of every completion.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct CompletionStatus {
    /// NTSTATUS.
    pub status: U32,
}

const _: () = assert!(size_of::<MessageHeader>() == 4);
const _: () = assert!(size_of::<QueryProtocolVersion>() == 8);
const _: () = assert!(size_of::<SlotMessage>() == 8);
const _: () = assert!(size_of::<BusD0Entry>() == 16);
const _: () = assert!(core::mem::offset_of!(BusD0Entry, mmio_base) == 8);
const _: () = assert!(size_of::<EjectionComplete>() == 12);
const _: () = assert!(size_of::<ResourcesAssigned>() == 148);
const _: () = assert!(core::mem::offset_of!(ResourcesAssigned, msi_descriptor_count) == 128);
const _: () = assert!(size_of::<ResourcesAssigned2>() == 202);
const _: () = assert!(core::mem::offset_of!(ResourcesAssigned2, msi_descriptor_count) == 128);
const _: () = assert!(size_of::<BusRelationsHeader>() == 8);
const _: () = assert!(size_of::<FunctionDescription>() == 20);
const _: () = assert!(core::mem::offset_of!(FunctionDescription, subsystem) == 8);
const _: () = assert!(core::mem::offset_of!(FunctionDescription, slot) == 12);
const _: () = assert!(core::mem::offset_of!(FunctionDescription, serial_number) == 16);
const _: () = assert!(size_of::<FunctionDescription2>() == 28);
const _: () = assert!(core::mem::offset_of!(FunctionDescription2, flags) == 20);
const _: () = assert!(core::mem::offset_of!(FunctionDescription2, numa_node) == 24);
const _: () = assert!(size_of::<ResourceRequirementsCompletion>() == 28);
const _: () = assert!(size_of::<CompletionStatus>() == 4);

/// Copies a `T` out of the start of `bytes`; `None` when too short. Trailing bytes (VMBus
/// padding, fields a newer host appends) are ignored: messages are parsed by prefix.
pub fn read_prefix<T: FromBytes>(bytes: &[u8]) -> Option<T> {
    T::read_from_prefix(bytes).ok().map(|(value, _)| value)
}

/// QUERY_PROTOCOL_VERSION for `version`.
pub fn query_protocol_version(version: ProtocolVersion) -> QueryProtocolVersion {
    QueryProtocolVersion {
        message_type: U32::new(QUERY_PROTOCOL_VERSION),
        protocol_version: U32::new(version.0),
    }
}

/// A message that is only `message_type`.
pub fn header(message_type: u32) -> MessageHeader {
    MessageHeader {
        message_type: U32::new(message_type),
    }
}

/// A `message_type` carrying `slot`.
pub fn slot_message(message_type: u32, slot: SlotNumber) -> SlotMessage {
    SlotMessage {
        message_type: U32::new(message_type),
        slot: U32::new(slot.0),
    }
}

/// BUS_D0ENTRY for a window at `mmio_base`.
pub fn bus_d0_entry(mmio_base: u64) -> BusD0Entry {
    BusD0Entry {
        message_type: U32::new(BUS_D0ENTRY),
        reserved: U32::new(0),
        mmio_base: U64::new(mmio_base),
    }
}

/// EJECTION_COMPLETE for `slot`, status 0.
pub fn ejection_complete(slot: SlotNumber) -> EjectionComplete {
    EjectionComplete {
        message_type: U32::new(EJECTION_COMPLETE),
        slot: U32::new(slot.0),
        status: U32::new(STATUS_SUCCESS),
    }
}

/// RESOURCES_ASSIGNED (v1) for `slot`, nothing assigned.
pub fn resources_assigned(slot: SlotNumber) -> ResourcesAssigned {
    let mut message = ResourcesAssigned::new_zeroed();
    message.message_type = U32::new(RESOURCES_ASSIGNED);
    message.slot = U32::new(slot.0);
    message
}

/// RESOURCES_ASSIGNED2 for `slot`, nothing assigned.
pub fn resources_assigned2(slot: SlotNumber) -> ResourcesAssigned2 {
    let mut message = ResourcesAssigned2::new_zeroed();
    message.message_type = U32::new(RESOURCES_ASSIGNED2);
    message.slot = U32::new(slot.0);
    message
}
