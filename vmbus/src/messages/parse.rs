//! The control-message parser.
//!
//! The payload is copied into a zeroed 240-byte buffer before anything is looked at, so the
//! caller may pass a view of shared memory and the result does not depend on later changes.
//! Each type has a minimum length (its oldest layout); longer payloads are accepted (hosts pad)
//! and shorter versions of grown layouts are zero-extended. Field values are not judged here:
//! that is the job of the state machines, which know what they expect.

use super::*;
use crate::version::MAX_MESSAGE_SIZE;
use alloc::vec::Vec;

/// A parsed control message. Fixed layouts are held by value; GPADL messages also carry the
/// variable part (range descriptors and PFNs) as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlMessage {
    /// OFFERCHANNEL (1).
    OfferChannel(OfferChannel),
    /// RESCIND_CHANNELOFFER (2).
    RescindChannelOffer(RescindChannelOffer),
    /// REQUESTOFFERS (3).
    RequestOffers,
    /// ALLOFFERS_DELIVERED (4).
    AllOffersDelivered,
    /// OPENCHANNEL (5); `extended` is true for the 156-byte 6.0 form.
    OpenChannel {
        /// The message (extension fields zero unless `extended`).
        message: OpenChannel,
        /// Whether the 6.0 extension was present.
        extended: bool,
    },
    /// OPENCHANNEL_RESULT (6).
    OpenChannelResult(OpenChannelResult),
    /// CLOSECHANNEL (7).
    CloseChannel(CloseChannel),
    /// GPADL_HEADER (8).
    GpadlHeader {
        /// The fixed part.
        message: GpadlHeader,
        /// Range descriptors and PFNs in this message (bytes from offset 20).
        data: Vec<u8>,
    },
    /// GPADL_BODY (9).
    GpadlBody {
        /// The fixed part.
        message: GpadlBody,
        /// PFNs in this message (bytes from offset 16).
        data: Vec<u8>,
    },
    /// GPADL_CREATED (10).
    GpadlCreated(GpadlCreated),
    /// GPADL_TEARDOWN (11).
    GpadlTeardown(GpadlTeardown),
    /// GPADL_TORNDOWN (12).
    GpadlTorndown(GpadlTorndown),
    /// RELID_RELEASED (13).
    RelidReleased(RelidReleased),
    /// INITIATE_CONTACT (14); `extended` is true for the 56-byte form with a client id.
    InitiateContact {
        /// The message.
        message: InitiateContact,
        /// Whether the client id was present.
        extended: bool,
    },
    /// VERSION_RESPONSE (15); `length` is the payload length (16, 20 or 40).
    VersionResponse {
        /// The message (6.0 fields zero if absent).
        message: VersionResponse,
        /// Payload length as received, capped at 40.
        length: usize,
    },
    /// UNLOAD (16).
    Unload,
    /// UNLOAD_RESPONSE (17).
    UnloadResponse,
    /// OPEN_RESERVED_CHANNEL (18).
    OpenReservedChannel(OpenReservedChannel),
    /// CLOSE_RESERVED_CHANNEL (19).
    CloseReservedChannel(CloseReservedChannel),
    /// CLOSE_RESERVED_RESPONSE (20).
    CloseReservedResponse(CloseReservedResponse),
    /// TL_CONNECT_REQUEST (21); `extended` is true for the 56-byte form with a silo id.
    TlConnectRequest {
        /// The message.
        message: TlConnectRequest,
        /// Whether the silo id was present.
        extended: bool,
    },
    /// MODIFYCHANNEL (22).
    ModifyChannel(ModifyChannel),
    /// TL_CONNECT_RESULT (23).
    TlConnectResult(TlConnectResult),
    /// MODIFYCHANNEL_RESPONSE (24).
    ModifyChannelResponse(ModifyChannelResponse),
    /// MODIFY_CONNECTION (25).
    ModifyConnection(ModifyConnection),
    /// MODIFY_CONNECTION_RESPONSE (26).
    ModifyConnectionResponse(ModifyConnectionResponse),
    /// PAUSE (27).
    Pause,
    /// PAUSE_RESPONSE (28).
    PauseResponse,
    /// RESUME (29).
    Resume,
}

impl ControlMessage {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            ControlMessage::OfferChannel(_) => MessageType::OFFER_CHANNEL,
            ControlMessage::RescindChannelOffer(_) => MessageType::RESCIND_CHANNEL_OFFER,
            ControlMessage::RequestOffers => MessageType::REQUEST_OFFERS,
            ControlMessage::AllOffersDelivered => MessageType::ALL_OFFERS_DELIVERED,
            ControlMessage::OpenChannel { .. } => MessageType::OPEN_CHANNEL,
            ControlMessage::OpenChannelResult(_) => MessageType::OPEN_CHANNEL_RESULT,
            ControlMessage::CloseChannel(_) => MessageType::CLOSE_CHANNEL,
            ControlMessage::GpadlHeader { .. } => MessageType::GPADL_HEADER,
            ControlMessage::GpadlBody { .. } => MessageType::GPADL_BODY,
            ControlMessage::GpadlCreated(_) => MessageType::GPADL_CREATED,
            ControlMessage::GpadlTeardown(_) => MessageType::GPADL_TEARDOWN,
            ControlMessage::GpadlTorndown(_) => MessageType::GPADL_TORNDOWN,
            ControlMessage::RelidReleased(_) => MessageType::RELID_RELEASED,
            ControlMessage::InitiateContact { .. } => MessageType::INITIATE_CONTACT,
            ControlMessage::VersionResponse { .. } => MessageType::VERSION_RESPONSE,
            ControlMessage::Unload => MessageType::UNLOAD,
            ControlMessage::UnloadResponse => MessageType::UNLOAD_RESPONSE,
            ControlMessage::OpenReservedChannel(_) => MessageType::OPEN_RESERVED_CHANNEL,
            ControlMessage::CloseReservedChannel(_) => MessageType::CLOSE_RESERVED_CHANNEL,
            ControlMessage::CloseReservedResponse(_) => MessageType::CLOSE_RESERVED_RESPONSE,
            ControlMessage::TlConnectRequest { .. } => MessageType::TL_CONNECT_REQUEST,
            ControlMessage::ModifyChannel(_) => MessageType::MODIFY_CHANNEL,
            ControlMessage::TlConnectResult(_) => MessageType::TL_CONNECT_RESULT,
            ControlMessage::ModifyChannelResponse(_) => MessageType::MODIFY_CHANNEL_RESPONSE,
            ControlMessage::ModifyConnection(_) => MessageType::MODIFY_CONNECTION,
            ControlMessage::ModifyConnectionResponse(_) => MessageType::MODIFY_CONNECTION_RESPONSE,
            ControlMessage::Pause => MessageType::PAUSE,
            ControlMessage::PauseResponse => MessageType::PAUSE_RESPONSE,
            ControlMessage::Resume => MessageType::RESUME,
        }
    }
}

/// Why a control-message payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 8-byte header.
    NoHeader {
        /// Payload length.
        length: usize,
    },
    /// Longer than a SynIC message payload (240 bytes).
    TooLong {
        /// Payload length.
        length: usize,
    },
    /// Shorter than the smallest layout of its type.
    TooShort {
        /// The message type.
        message_type: MessageType,
        /// Payload length.
        length: usize,
        /// Minimum length for the type.
        minimum: usize,
    },
    /// A type this protocol does not define (0 or > 29).
    UnknownType(MessageType),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NoHeader { length } => write!(f, "{length}-byte message has no header"),
            ParseError::TooLong { length } => write!(f, "{length}-byte message exceeds 240"),
            ParseError::TooShort {
                message_type,
                length,
                minimum,
            } => {
                write!(f, "{message_type:?} is {length} bytes, needs {minimum}")
            }
            ParseError::UnknownType(message_type) => write!(f, "unknown {message_type:?}"),
        }
    }
}

/// Parses a control-message payload (starting with its 8-byte header).
pub fn parse(bytes: &[u8]) -> Result<ControlMessage, ParseError> {
    let length = bytes.len();
    // Copy first: everything below looks only at the private, zero-extended copy.
    let mut buffer = [0u8; MAX_MESSAGE_SIZE];
    let Some(destination) = buffer.get_mut(..length) else {
        return Err(ParseError::TooLong { length });
    };
    destination.copy_from_slice(bytes);
    if length < size_of::<MessageHeader>() {
        return Err(ParseError::NoHeader { length });
    }
    let message_type = MessageType(u32::from_le_bytes([
        buffer[0], buffer[1], buffer[2], buffer[3],
    ]));
    let buffer = &buffer;
    let check = |minimum: usize| {
        if length < minimum {
            Err(ParseError::TooShort {
                message_type,
                length,
                minimum,
            })
        } else {
            Ok(())
        }
    };
    fn read<T: Message>(buffer: &[u8; MAX_MESSAGE_SIZE]) -> T {
        // The buffer is 240 bytes and every layout is at most 196, so this cannot fail; the
        // zeroed fallback keeps the function total anyway.
        T::read_from_prefix(buffer)
            .map(|(value, _)| value)
            .unwrap_or_else(|_| T::new_zeroed())
    }
    /// The bytes after a fixed part of `fixed_size` bytes, up to `length`. The callers have
    /// checked `length >= MIN_SIZE`, which is the fixed size for GPADL messages, so the range
    /// is never empty-by-error; an impossible range gives no bytes rather than a panic.
    fn variable_part(buffer: &[u8; MAX_MESSAGE_SIZE], fixed_size: usize, length: usize) -> Vec<u8> {
        buffer
            .get(fixed_size..length)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }
    macro_rules! fixed {
        ($variant:ident, $ty:ty) => {{
            check(<$ty>::MIN_SIZE)?;
            ControlMessage::$variant(read::<$ty>(buffer))
        }};
    }
    macro_rules! header_only {
        ($variant:ident) => {{
            check(size_of::<MessageHeader>())?;
            ControlMessage::$variant
        }};
    }
    let message = match message_type {
        MessageType::OFFER_CHANNEL => fixed!(OfferChannel, OfferChannel),
        MessageType::RESCIND_CHANNEL_OFFER => fixed!(RescindChannelOffer, RescindChannelOffer),
        MessageType::REQUEST_OFFERS => header_only!(RequestOffers),
        MessageType::ALL_OFFERS_DELIVERED => header_only!(AllOffersDelivered),
        MessageType::OPEN_CHANNEL => {
            check(OpenChannel::MIN_SIZE)?;
            ControlMessage::OpenChannel {
                message: read(buffer),
                extended: length >= size_of::<OpenChannel>(),
            }
        }
        MessageType::OPEN_CHANNEL_RESULT => fixed!(OpenChannelResult, OpenChannelResult),
        MessageType::CLOSE_CHANNEL => fixed!(CloseChannel, CloseChannel),
        MessageType::GPADL_HEADER => {
            check(GpadlHeader::MIN_SIZE)?;
            ControlMessage::GpadlHeader {
                message: read(buffer),
                data: variable_part(buffer, size_of::<GpadlHeader>(), length),
            }
        }
        MessageType::GPADL_BODY => {
            check(GpadlBody::MIN_SIZE)?;
            ControlMessage::GpadlBody {
                message: read(buffer),
                data: variable_part(buffer, size_of::<GpadlBody>(), length),
            }
        }
        MessageType::GPADL_CREATED => fixed!(GpadlCreated, GpadlCreated),
        MessageType::GPADL_TEARDOWN => fixed!(GpadlTeardown, GpadlTeardown),
        MessageType::GPADL_TORNDOWN => fixed!(GpadlTorndown, GpadlTorndown),
        MessageType::RELID_RELEASED => fixed!(RelidReleased, RelidReleased),
        MessageType::INITIATE_CONTACT => {
            check(InitiateContact::MIN_SIZE)?;
            ControlMessage::InitiateContact {
                message: read(buffer),
                extended: length >= size_of::<InitiateContact>(),
            }
        }
        MessageType::VERSION_RESPONSE => {
            check(VersionResponse::MIN_SIZE)?;
            ControlMessage::VersionResponse {
                message: read(buffer),
                length: length.min(size_of::<VersionResponse>()),
            }
        }
        MessageType::UNLOAD => header_only!(Unload),
        MessageType::UNLOAD_RESPONSE => header_only!(UnloadResponse),
        MessageType::OPEN_RESERVED_CHANNEL => fixed!(OpenReservedChannel, OpenReservedChannel),
        MessageType::CLOSE_RESERVED_CHANNEL => fixed!(CloseReservedChannel, CloseReservedChannel),
        MessageType::CLOSE_RESERVED_RESPONSE => {
            fixed!(CloseReservedResponse, CloseReservedResponse)
        }
        MessageType::TL_CONNECT_REQUEST => {
            check(TlConnectRequest::MIN_SIZE)?;
            ControlMessage::TlConnectRequest {
                message: read(buffer),
                extended: length >= size_of::<TlConnectRequest>(),
            }
        }
        MessageType::MODIFY_CHANNEL => fixed!(ModifyChannel, ModifyChannel),
        MessageType::TL_CONNECT_RESULT => fixed!(TlConnectResult, TlConnectResult),
        MessageType::MODIFY_CHANNEL_RESPONSE => {
            fixed!(ModifyChannelResponse, ModifyChannelResponse)
        }
        MessageType::MODIFY_CONNECTION => fixed!(ModifyConnection, ModifyConnection),
        MessageType::MODIFY_CONNECTION_RESPONSE => {
            fixed!(ModifyConnectionResponse, ModifyConnectionResponse)
        }
        MessageType::PAUSE => header_only!(Pause),
        MessageType::PAUSE_RESPONSE => header_only!(PauseResponse),
        MessageType::RESUME => header_only!(Resume),
        other => return Err(ParseError::UnknownType(other)),
    };
    Ok(message)
}

use core::mem::size_of;
