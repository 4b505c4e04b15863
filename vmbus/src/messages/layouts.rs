//! `#[repr(C)]` wire layouts of every VMBus channel-management message (reference vmbus.md
//! §4.3/§4.4).
//!
//! Fields use zerocopy's little-endian integer types, so every struct has alignment 1 and its
//! size is exactly the wire size; offsets include the 8-byte message header. Messages that grew
//! over protocol versions are declared at their largest size; [`Message::MIN_SIZE`] is the size
//! of the original layout, and shorter messages are zero-extended when parsed.
//! Sizes and offsets are pinned at compile time below and by hand-written byte vectors in the
//! tests.

use super::MessageType;
use crate::guid::Guid;
use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A control message layout.
pub trait Message: FromBytes + IntoBytes + Immutable + KnownLayout + Unaligned + Sized {
    /// The message type in the header.
    const TYPE: MessageType;
    /// Size of the oldest (smallest) form of the message; a shorter payload is malformed.
    const MIN_SIZE: usize;
}

macro_rules! wire {
    ($(#[$meta:meta])* $name:ident, $type:expr, min $min:expr, size $size:expr, { $($(#[$fmeta:meta])* $field:ident : $ty:ty = $offset:expr),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
        #[repr(C)]
        pub struct $name {
            /// The 8-byte message header.
            pub header: MessageHeader,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
        impl Message for $name {
            const TYPE: MessageType = $type;
            const MIN_SIZE: usize = $min;
        }
        const _: () = assert!(size_of::<$name>() == $size);
        // The header is always there and the oldest layout is a prefix of the newest: the
        // parser's minimum-length checks and `encode::to_payload`'s clamp rely on it.
        const _: () = assert!(size_of::<MessageHeader>() <= $min && $min <= $size);
        $(const _: () = assert!(offset_of!($name, $field) == $offset);)*
    };
}

/// The header every control message starts with.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct MessageHeader {
    /// The [`MessageType`].
    pub message_type: U32,
    /// Always zero.
    pub padding: U32,
}
const _: () = assert!(size_of::<MessageHeader>() == 8);

wire!(
    /// OFFERCHANNEL (1), host→guest: a device channel.
    OfferChannel, MessageType::OFFER_CHANNEL, min 196, size 196, {
        /// Device class GUID.
        interface_type: Guid = 8,
        /// Device instance GUID.
        interface_instance: Guid = 24,
        /// Reserved (two u64).
        reserved: [u8; 16] = 40,
        /// Channel flags (see [`super::offer_flags`]).
        flags: U16 = 56,
        /// MMIO space the device wants, in MiB.
        mmio_megabytes: U16 = 58,
        /// User-defined area (pipe mode at its start for pipe offers).
        user_defined: [u8; 120] = 60,
        /// Sub-channel index, 0 for the primary channel.
        sub_channel_index: U16 = 180,
        /// Reserved (OpenVMM: optional MMIO megabytes).
        mmio_megabytes_optional: U16 = 182,
        /// The channel's relid.
        child_relid: U32 = 184,
        /// Monitor id, 0xFF if none.
        monitor_id: u8 = 188,
        /// Bit 0: a monitor id is allocated.
        monitor_allocated: u8 = 189,
        /// Bit 0: the channel has its own connection id for signalling.
        is_dedicated_interrupt: U16 = 190,
        /// Connection id for guest→host signals.
        connection_id: U32 = 192,
    }
);

wire!(
    /// RESCIND_CHANNELOFFER (2), host→guest.
    RescindChannelOffer, MessageType::RESCIND_CHANNEL_OFFER, min 12, size 12, {
        /// The rescinded channel.
        child_relid: U32 = 8,
    }
);

wire!(
    /// OPENCHANNEL (5), guest→host; 148 bytes, 156 with the 6.0 extension.
    OpenChannel, MessageType::OPEN_CHANNEL, min 148, size 156, {
        /// The channel to open.
        child_relid: U32 = 8,
        /// Any value; echoed in OPENCHANNEL_RESULT.
        open_id: U32 = 12,
        /// GPADL handle describing both rings.
        ring_buffer_gpadl: U32 = 16,
        /// VP index for host→guest interrupts.
        target_vp: U32 = 20,
        /// Pages of the guest→host ring (incl. its header) = first page of the host→guest ring.
        downstream_ring_buffer_page_offset: U32 = 24,
        /// Data passed to the device.
        user_data: [u8; 120] = 28,
        /// (6.0 extension) guest-chosen connection id.
        guest_connection_id: U32 = 148,
        /// (6.0 extension) guest-chosen event flag.
        event_flag: U16 = 152,
        /// (6.0 extension) flags; bit 0 redirect interrupt.
        open_flags: U16 = 154,
    }
);

wire!(
    /// OPENCHANNEL_RESULT (6), host→guest.
    OpenChannelResult, MessageType::OPEN_CHANNEL_RESULT, min 20, size 20, {
        /// The channel.
        child_relid: U32 = 8,
        /// The open id of the request.
        open_id: U32 = 12,
        /// 0 on success.
        status: U32 = 16,
    }
);

wire!(
    /// CLOSECHANNEL (7), guest→host; no reply.
    CloseChannel, MessageType::CLOSE_CHANNEL, min 12, size 12, {
        /// The channel.
        child_relid: U32 = 8,
    }
);

wire!(
    /// GPADL_HEADER (8), guest→host: the fixed part; range descriptors and PFNs follow.
    GpadlHeader, MessageType::GPADL_HEADER, min 20, size 20, {
        /// Owning channel.
        child_relid: U32 = 8,
        /// GPADL handle chosen by the guest.
        gpadl: U32 = 12,
        /// Total bytes of ranges and PFNs across the header and all bodies.
        range_buffer_length: U16 = 16,
        /// Number of ranges.
        range_count: U16 = 18,
    }
);

wire!(
    /// GPADL_BODY (9), guest→host: the fixed part; PFNs follow.
    GpadlBody, MessageType::GPADL_BODY, min 16, size 16, {
        /// Message number (ignored by hosts).
        message_number: U32 = 8,
        /// The GPADL handle being continued.
        gpadl: U32 = 12,
    }
);

wire!(
    /// GPADL_CREATED (10), host→guest.
    GpadlCreated, MessageType::GPADL_CREATED, min 20, size 20, {
        /// Owning channel.
        child_relid: U32 = 8,
        /// The GPADL handle.
        gpadl: U32 = 12,
        /// 0 on success.
        status: U32 = 16,
    }
);

wire!(
    /// GPADL_TEARDOWN (11), guest→host.
    GpadlTeardown, MessageType::GPADL_TEARDOWN, min 16, size 16, {
        /// Owning channel.
        child_relid: U32 = 8,
        /// The GPADL handle.
        gpadl: U32 = 12,
    }
);

wire!(
    /// GPADL_TORNDOWN (12), host→guest.
    GpadlTorndown, MessageType::GPADL_TORNDOWN, min 12, size 12, {
        /// The GPADL handle.
        gpadl: U32 = 8,
    }
);

wire!(
    /// RELID_RELEASED (13), guest→host: a rescinded relid may be reused.
    RelidReleased, MessageType::RELID_RELEASED, min 12, size 12, {
        /// The released relid.
        child_relid: U32 = 8,
    }
);

wire!(
    /// INITIATE_CONTACT (14), guest→host; 40 bytes, 56 with the 6.0 client id.
    InitiateContact, MessageType::INITIATE_CONTACT, min 40, size 56, {
        /// The proposed version.
        version_requested: U32 = 8,
        /// VP index that receives control messages.
        target_vcpu: U32 = 12,
        /// < 5.0: interrupt page GPA. ≥ 5.0: byte 0 message SINT, byte 1 VTL, bytes 4–7
        /// feature flags (6.0).
        interrupt_page_or_target_info: U64 = 16,
        /// Parent→child monitor page GPA.
        monitor_page1: U64 = 24,
        /// Child→parent monitor page GPA.
        monitor_page2: U64 = 32,
        /// (6.0 extension) client id.
        client_id: Guid = 40,
    }
);

wire!(
    /// VERSION_RESPONSE (15), host→guest; 16 bytes, 20 or 40 for 6.0.
    VersionResponse, MessageType::VERSION_RESPONSE, min 16, size 40, {
        /// 1 if the proposed version is accepted.
        version_supported: u8 = 8,
        /// 0 success, 1 low resources, 2 unknown failure.
        connection_state: u8 = 9,
        /// Padding.
        padding: U16 = 10,
        /// ≥ 5.0: connection id for every later message.
        message_connection_id: U32 = 12,
        /// (6.0) supported feature flags.
        supported_features: U32 = 16,
        /// (6.0) padding.
        padding2: U32 = 20,
        /// (6.0) server-chosen parent→child monitor page.
        monitor_page1: U64 = 24,
        /// (6.0) server-chosen child→parent monitor page.
        monitor_page2: U64 = 32,
    }
);

wire!(
    /// OPEN_RESERVED_CHANNEL (18), guest→host.
    OpenReservedChannel, MessageType::OPEN_RESERVED_CHANNEL, min 28, size 28, {
        /// Reserved channel id.
        channel_id: U32 = 8,
        /// Target VP.
        target_vp: U32 = 12,
        /// Target SINT.
        target_sint: U32 = 16,
        /// Ring GPADL.
        ring_buffer_gpadl: U32 = 20,
        /// Downstream ring page offset.
        downstream_page_offset: U32 = 24,
    }
);

wire!(
    /// CLOSE_RESERVED_CHANNEL (19), guest→host.
    CloseReservedChannel, MessageType::CLOSE_RESERVED_CHANNEL, min 20, size 20, {
        /// Reserved channel id.
        channel_id: U32 = 8,
        /// Target VP.
        target_vp: U32 = 12,
        /// Target SINT.
        target_sint: U32 = 16,
    }
);

wire!(
    /// CLOSE_RESERVED_RESPONSE (20), host→guest.
    CloseReservedResponse, MessageType::CLOSE_RESERVED_RESPONSE, min 12, size 12, {
        /// Reserved channel id.
        channel_id: U32 = 8,
    }
);

wire!(
    /// TL_CONNECT_REQUEST (21), guest→host (hv_sock); 40 bytes, 56 with the 5.2 silo id.
    TlConnectRequest, MessageType::TL_CONNECT_REQUEST, min 40, size 56, {
        /// Guest endpoint id.
        guest_endpoint_id: Guid = 8,
        /// Host service id.
        host_service_id: Guid = 24,
        /// (≥ 5.2) silo id.
        silo_id: Guid = 40,
    }
);

wire!(
    /// MODIFYCHANNEL (22), guest→host.
    ModifyChannel, MessageType::MODIFY_CHANNEL, min 16, size 16, {
        /// The channel.
        child_relid: U32 = 8,
        /// New target VP.
        target_vp: U32 = 12,
    }
);

wire!(
    /// TL_CONNECT_RESULT (23), host→guest.
    TlConnectResult, MessageType::TL_CONNECT_RESULT, min 44, size 44, {
        /// Endpoint id.
        endpoint_id: Guid = 8,
        /// Service id.
        service_id: Guid = 24,
        /// Status (signed NTSTATUS-like).
        status: U32 = 40,
    }
);

wire!(
    /// MODIFYCHANNEL_RESPONSE (24), host→guest (≥ 5.3).
    ModifyChannelResponse, MessageType::MODIFY_CHANNEL_RESPONSE, min 16, size 16, {
        /// The channel.
        child_relid: U32 = 8,
        /// Status.
        status: U32 = 12,
    }
);

wire!(
    /// MODIFY_CONNECTION (25), guest→host (6.0).
    ModifyConnection, MessageType::MODIFY_CONNECTION, min 24, size 24, {
        /// Parent→child monitor page GPA.
        parent_to_child_monitor_page: U64 = 8,
        /// Child→parent monitor page GPA.
        child_to_parent_monitor_page: U64 = 16,
    }
);

wire!(
    /// MODIFY_CONNECTION_RESPONSE (26), host→guest (6.0).
    ModifyConnectionResponse, MessageType::MODIFY_CONNECTION_RESPONSE, min 9, size 9, {
        /// Connection state.
        connection_state: u8 = 8,
    }
);

/// One GPADL range descriptor; `page_count` PFNs (u64) follow it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct GpadlRange {
    /// Bytes described by the range.
    pub byte_count: U32,
    /// Offset into the first page.
    pub byte_offset: U32,
}
const _: () = assert!(size_of::<GpadlRange>() == 8);

/// Offset of the first PFN in a single-range GPADL_HEADER.
pub const GPADL_HEADER_PFN_OFFSET: usize = size_of::<GpadlHeader>() + size_of::<GpadlRange>();
const _: () = assert!(GPADL_HEADER_PFN_OFFSET == 28);
