//! Encoders: typed arguments in, control-message payload bytes out.
//!
//! Each encoder fills the header (type, zero padding) and emits the layout's size for the
//! version in use (the base size unless the function says otherwise).

use super::*;
use crate::guid::Guid;
use alloc::vec::Vec;
use core::mem::size_of;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromZeros, IntoBytes};

fn header(message_type: MessageType) -> MessageHeader {
    MessageHeader {
        message_type: U32::new(message_type.0),
        padding: U32::new(0),
    }
}

/// Serialises `message` with its header type set, truncated to `length` bytes.
pub fn to_payload<T: Message>(message: &T, length: usize) -> Vec<u8> {
    let mut bytes = message.as_bytes().to_vec();
    // Every layout starts with its header (the `wire!` macro puts it first), so the prefix is
    // always there.
    if let Some(prefix) = bytes.get_mut(..size_of::<MessageHeader>()) {
        prefix.copy_from_slice(header(T::TYPE).as_bytes());
    }
    bytes.truncate(length.clamp(size_of::<MessageHeader>(), size_of::<T>()));
    bytes
}

/// A message that is only a header (REQUESTOFFERS, ALLOFFERS_DELIVERED, UNLOAD, ...).
pub fn header_only(message_type: MessageType) -> Vec<u8> {
    header(message_type).as_bytes().to_vec()
}

/// INITIATE_CONTACT (14): 40 bytes. For versions ≥ 5.0 `interrupt_page_or_target_info` holds the
/// message SINT in byte 0 and the VTL in byte 1 (see [`target_info`]); below 5.0 it is the GPA
/// of the interrupt page.
pub fn initiate_contact(
    version: u32,
    target_vcpu: u32,
    interrupt_page_or_target_info: u64,
    monitor_page1: u64,
    monitor_page2: u64,
) -> Vec<u8> {
    let mut message = InitiateContact::new_zeroed();
    message.version_requested = U32::new(version);
    message.target_vcpu = U32::new(target_vcpu);
    message.interrupt_page_or_target_info = U64::new(interrupt_page_or_target_info);
    message.monitor_page1 = U64::new(monitor_page1);
    message.monitor_page2 = U64::new(monitor_page2);
    to_payload(&message, InitiateContact::MIN_SIZE)
}

/// The ≥ 5.0 "target info" word of INITIATE_CONTACT: SINT, VTL, feature flags.
pub const fn target_info(sint: u8, vtl: u8, feature_flags: u32) -> u64 {
    sint as u64 | (vtl as u64) << 8 | (feature_flags as u64) << 32
}

/// VERSION_RESPONSE (15), 16-byte form.
pub fn version_response(
    supported: bool,
    connection_state: u8,
    message_connection_id: u32,
) -> Vec<u8> {
    let mut message = VersionResponse::new_zeroed();
    message.version_supported = u8::from(supported);
    message.connection_state = connection_state;
    message.message_connection_id = U32::new(message_connection_id);
    to_payload(&message, VersionResponse::MIN_SIZE)
}

/// REQUESTOFFERS (3).
pub fn request_offers() -> Vec<u8> {
    header_only(MessageType::REQUEST_OFFERS)
}

/// The fields of an OFFERCHANNEL that a host chooses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferFields {
    /// Device class.
    pub interface_type: Guid,
    /// Device instance.
    pub interface_instance: Guid,
    /// Offer flags.
    pub flags: u16,
    /// MMIO MiB wanted.
    pub mmio_megabytes: u16,
    /// User-defined area.
    pub user_defined: [u8; 120],
    /// Sub-channel index.
    pub sub_channel_index: u16,
    /// Relid.
    pub child_relid: u32,
    /// Monitor id (0xFF if none).
    pub monitor_id: u8,
    /// Monitor allocated.
    pub monitor_allocated: bool,
    /// Dedicated interrupt.
    pub is_dedicated_interrupt: bool,
    /// Guest→host signalling connection id.
    pub connection_id: u32,
}

/// OFFERCHANNEL (1).
pub fn offer_channel(fields: &OfferFields) -> Vec<u8> {
    let mut message = OfferChannel::new_zeroed();
    message.interface_type = fields.interface_type;
    message.interface_instance = fields.interface_instance;
    message.flags = U16::new(fields.flags);
    message.mmio_megabytes = U16::new(fields.mmio_megabytes);
    message.user_defined = fields.user_defined;
    message.sub_channel_index = U16::new(fields.sub_channel_index);
    message.child_relid = U32::new(fields.child_relid);
    message.monitor_id = fields.monitor_id;
    message.monitor_allocated = u8::from(fields.monitor_allocated);
    message.is_dedicated_interrupt = U16::new(u16::from(fields.is_dedicated_interrupt));
    message.connection_id = U32::new(fields.connection_id);
    to_payload(&message, OfferChannel::MIN_SIZE)
}

/// RESCIND_CHANNELOFFER (2).
pub fn rescind_channel_offer(child_relid: u32) -> Vec<u8> {
    let mut message = RescindChannelOffer::new_zeroed();
    message.child_relid = U32::new(child_relid);
    to_payload(&message, RescindChannelOffer::MIN_SIZE)
}

/// ALLOFFERS_DELIVERED (4).
pub fn all_offers_delivered() -> Vec<u8> {
    header_only(MessageType::ALL_OFFERS_DELIVERED)
}

/// OPENCHANNEL (5), 148-byte form.
pub fn open_channel(
    child_relid: u32,
    open_id: u32,
    ring_buffer_gpadl: u32,
    target_vp: u32,
    downstream_ring_buffer_page_offset: u32,
    user_data: &[u8; 120],
) -> Vec<u8> {
    let mut message = OpenChannel::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.open_id = U32::new(open_id);
    message.ring_buffer_gpadl = U32::new(ring_buffer_gpadl);
    message.target_vp = U32::new(target_vp);
    message.downstream_ring_buffer_page_offset = U32::new(downstream_ring_buffer_page_offset);
    message.user_data = *user_data;
    to_payload(&message, OpenChannel::MIN_SIZE)
}

/// OPENCHANNEL_RESULT (6).
pub fn open_channel_result(child_relid: u32, open_id: u32, status: u32) -> Vec<u8> {
    let mut message = OpenChannelResult::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.open_id = U32::new(open_id);
    message.status = U32::new(status);
    to_payload(&message, OpenChannelResult::MIN_SIZE)
}

/// CLOSECHANNEL (7).
pub fn close_channel(child_relid: u32) -> Vec<u8> {
    let mut message = CloseChannel::new_zeroed();
    message.child_relid = U32::new(child_relid);
    to_payload(&message, CloseChannel::MIN_SIZE)
}

/// GPADL_HEADER (8): the fixed part followed by `data` (range descriptors and PFNs).
pub fn gpadl_header(
    child_relid: u32,
    gpadl: u32,
    range_buffer_length: u16,
    range_count: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut message = GpadlHeader::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.gpadl = U32::new(gpadl);
    message.range_buffer_length = U16::new(range_buffer_length);
    message.range_count = U16::new(range_count);
    let mut bytes = to_payload(&message, GpadlHeader::MIN_SIZE);
    bytes.extend_from_slice(data);
    bytes
}

/// GPADL_BODY (9): the fixed part followed by `data` (PFNs).
pub fn gpadl_body(message_number: u32, gpadl: u32, data: &[u8]) -> Vec<u8> {
    let mut message = GpadlBody::new_zeroed();
    message.message_number = U32::new(message_number);
    message.gpadl = U32::new(gpadl);
    let mut bytes = to_payload(&message, GpadlBody::MIN_SIZE);
    bytes.extend_from_slice(data);
    bytes
}

/// GPADL_CREATED (10).
pub fn gpadl_created(child_relid: u32, gpadl: u32, status: u32) -> Vec<u8> {
    let mut message = GpadlCreated::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.gpadl = U32::new(gpadl);
    message.status = U32::new(status);
    to_payload(&message, GpadlCreated::MIN_SIZE)
}

/// GPADL_TEARDOWN (11).
pub fn gpadl_teardown(child_relid: u32, gpadl: u32) -> Vec<u8> {
    let mut message = GpadlTeardown::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.gpadl = U32::new(gpadl);
    to_payload(&message, GpadlTeardown::MIN_SIZE)
}

/// GPADL_TORNDOWN (12).
pub fn gpadl_torndown(gpadl: u32) -> Vec<u8> {
    let mut message = GpadlTorndown::new_zeroed();
    message.gpadl = U32::new(gpadl);
    to_payload(&message, GpadlTorndown::MIN_SIZE)
}

/// RELID_RELEASED (13).
pub fn relid_released(child_relid: u32) -> Vec<u8> {
    let mut message = RelidReleased::new_zeroed();
    message.child_relid = U32::new(child_relid);
    to_payload(&message, RelidReleased::MIN_SIZE)
}

/// UNLOAD (16).
pub fn unload() -> Vec<u8> {
    header_only(MessageType::UNLOAD)
}

/// UNLOAD_RESPONSE (17).
pub fn unload_response() -> Vec<u8> {
    header_only(MessageType::UNLOAD_RESPONSE)
}

/// MODIFYCHANNEL (22).
pub fn modify_channel(child_relid: u32, target_vp: u32) -> Vec<u8> {
    let mut message = ModifyChannel::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.target_vp = U32::new(target_vp);
    to_payload(&message, ModifyChannel::MIN_SIZE)
}

/// MODIFYCHANNEL_RESPONSE (24).
pub fn modify_channel_response(child_relid: u32, status: u32) -> Vec<u8> {
    let mut message = ModifyChannelResponse::new_zeroed();
    message.child_relid = U32::new(child_relid);
    message.status = U32::new(status);
    to_payload(&message, ModifyChannelResponse::MIN_SIZE)
}

/// TL_CONNECT_REQUEST (21): 40 bytes, or 56 with `silo_id` (≥ 5.2).
pub fn tl_connect_request(
    guest_endpoint_id: Guid,
    host_service_id: Guid,
    silo_id: Option<Guid>,
) -> Vec<u8> {
    let mut message = TlConnectRequest::new_zeroed();
    message.guest_endpoint_id = guest_endpoint_id;
    message.host_service_id = host_service_id;
    let length = match silo_id {
        Some(silo) => {
            message.silo_id = silo;
            size_of::<TlConnectRequest>()
        }
        None => TlConnectRequest::MIN_SIZE,
    };
    to_payload(&message, length)
}
