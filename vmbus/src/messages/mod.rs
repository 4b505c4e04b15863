//! VMBus channel-management ("control") messages: wire layouts, a parser and encoders.
//!
//! Control messages travel as SynIC messages of type 1 with a payload of at most 240 bytes that
//! starts with an 8-byte header (`message_type u32`, `padding u32`). [`parse`] turns a payload
//! into a typed [`ControlMessage`]; it copies the bytes first (the SynIC page is shared with the
//! host) and never panics. The encoders in [`encode`] build payloads for both directions; the
//! client uses the guest→host ones and the emulated host the host→guest ones.

pub mod encode;
mod layouts;
mod parse;

pub use layouts::*;
pub use parse::{ControlMessage, ParseError, parse};

use core::fmt;

/// A control message type (an open set: unknown values are representable).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageType(pub u32);

impl MessageType {
    /// 0: invalid.
    pub const INVALID: MessageType = MessageType(0);
    /// 1: OFFERCHANNEL.
    pub const OFFER_CHANNEL: MessageType = MessageType(1);
    /// 2: RESCIND_CHANNELOFFER.
    pub const RESCIND_CHANNEL_OFFER: MessageType = MessageType(2);
    /// 3: REQUESTOFFERS.
    pub const REQUEST_OFFERS: MessageType = MessageType(3);
    /// 4: ALLOFFERS_DELIVERED.
    pub const ALL_OFFERS_DELIVERED: MessageType = MessageType(4);
    /// 5: OPENCHANNEL.
    pub const OPEN_CHANNEL: MessageType = MessageType(5);
    /// 6: OPENCHANNEL_RESULT.
    pub const OPEN_CHANNEL_RESULT: MessageType = MessageType(6);
    /// 7: CLOSECHANNEL.
    pub const CLOSE_CHANNEL: MessageType = MessageType(7);
    /// 8: GPADL_HEADER.
    pub const GPADL_HEADER: MessageType = MessageType(8);
    /// 9: GPADL_BODY.
    pub const GPADL_BODY: MessageType = MessageType(9);
    /// 10: GPADL_CREATED.
    pub const GPADL_CREATED: MessageType = MessageType(10);
    /// 11: GPADL_TEARDOWN.
    pub const GPADL_TEARDOWN: MessageType = MessageType(11);
    /// 12: GPADL_TORNDOWN.
    pub const GPADL_TORNDOWN: MessageType = MessageType(12);
    /// 13: RELID_RELEASED.
    pub const RELID_RELEASED: MessageType = MessageType(13);
    /// 14: INITIATE_CONTACT.
    pub const INITIATE_CONTACT: MessageType = MessageType(14);
    /// 15: VERSION_RESPONSE.
    pub const VERSION_RESPONSE: MessageType = MessageType(15);
    /// 16: UNLOAD.
    pub const UNLOAD: MessageType = MessageType(16);
    /// 17: UNLOAD_RESPONSE.
    pub const UNLOAD_RESPONSE: MessageType = MessageType(17);
    /// 18: OPEN_RESERVED_CHANNEL.
    pub const OPEN_RESERVED_CHANNEL: MessageType = MessageType(18);
    /// 19: CLOSE_RESERVED_CHANNEL.
    pub const CLOSE_RESERVED_CHANNEL: MessageType = MessageType(19);
    /// 20: CLOSE_RESERVED_RESPONSE.
    pub const CLOSE_RESERVED_RESPONSE: MessageType = MessageType(20);
    /// 21: TL_CONNECT_REQUEST.
    pub const TL_CONNECT_REQUEST: MessageType = MessageType(21);
    /// 22: MODIFYCHANNEL.
    pub const MODIFY_CHANNEL: MessageType = MessageType(22);
    /// 23: TL_CONNECT_RESULT.
    pub const TL_CONNECT_RESULT: MessageType = MessageType(23);
    /// 24: MODIFYCHANNEL_RESPONSE.
    pub const MODIFY_CHANNEL_RESPONSE: MessageType = MessageType(24);
    /// 25: MODIFY_CONNECTION (6.0).
    pub const MODIFY_CONNECTION: MessageType = MessageType(25);
    /// 26: MODIFY_CONNECTION_RESPONSE (6.0).
    pub const MODIFY_CONNECTION_RESPONSE: MessageType = MessageType(26);
    /// 27: PAUSE (6.0).
    pub const PAUSE: MessageType = MessageType(27);
    /// 28: PAUSE_RESPONSE (6.0).
    pub const PAUSE_RESPONSE: MessageType = MessageType(28);
    /// 29: RESUME (6.0).
    pub const RESUME: MessageType = MessageType(29);
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageType({})", self.0)
    }
}

/// Channel offer flag bits (OFFERCHANNEL offset 56).
pub mod offer_flags {
    /// Enumerate a device interface.
    pub const ENUMERATE_DEVICE_INTERFACE: u16 = 0x1;
    /// Named-pipe mode.
    pub const NAMED_PIPE_MODE: u16 = 0x10;
    /// Loopback.
    pub const LOOPBACK: u16 = 0x100;
    /// Parent offer.
    pub const PARENT_OFFER: u16 = 0x200;
    /// Request monitored notification.
    pub const REQUEST_MONITORED_NOTIFICATION: u16 = 0x400;
    /// hv_sock (TLNPI provider) offer.
    pub const TLNPI_PROVIDER: u16 = 0x2000;
}

/// Status value hosts use for a failed GPADL or open (STATUS_UNSUCCESSFUL).
pub const STATUS_UNSUCCESSFUL: u32 = 0x8000_FFFF;

/// Maximum PFNs in a single-range GPADL_HEADER (28 + 26·8 = 236 ≤ 240).
pub const GPADL_HEADER_MAX_PFNS: usize = 26;
/// Maximum PFNs in a GPADL_BODY (16 + 28·8 = 240).
pub const GPADL_BODY_MAX_PFNS: usize = 28;
/// Maximum pages of a single-range GPADL: `range_buflen` is a u16 holding 8 + 8·pages bytes.
pub const GPADL_MAX_PAGES: usize = (u16::MAX as usize - 8) / 8;
