//! Client errors: bad requests from drivers and bad messages from the host.

use crate::gpadl::GpadlError;
use crate::messages::{MessageType, ParseError};
use core::fmt;

/// A request the client refused, or a host message it rejected (and dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The payload is not a valid control message.
    Parse(ParseError),
    /// A message that is not expected in the current state (or not host→guest at all).
    UnexpectedMessage(MessageType),
    /// The request needs a connected client.
    NotConnected,
    /// `connect` while already connected or connecting.
    AlreadyConnected,
    /// REQUESTOFFERS was already sent on this connection.
    OffersAlreadyRequested,
    /// No channel with this relid.
    UnknownRelid(u32),
    /// The host offered a relid that is already in use.
    DuplicateRelid(u32),
    /// The host offered relid 0 or one beyond the event page.
    InvalidRelid(u32),
    /// The channel was rescinded.
    Rescinded(u32),
    /// The channel is not in a state that allows the request.
    ChannelBusy(u32),
    /// No GPADL with this handle (or it belongs to another channel).
    UnknownGpadl(u32),
    /// The GPADL is not created (yet), or is already being torn down.
    GpadlNotReady(u32),
    /// A reply names a different channel than the request it answers.
    Mismatch {
        /// The channel of the request.
        expected: u32,
        /// The channel in the reply.
        found: u32,
    },
    /// The GPADL request is malformed.
    Gpadl(GpadlError),
    /// All GPADL handles are used.
    OutOfGpadlHandles,
    /// VERSION_RESPONSE (≥ 5.0) named a message connection id no message can go to: 0, or
    /// one with bits above the 24-bit id set (0xFFFFFFFF among them). The connection fails.
    InvalidMessageConnectionId(u32),
    /// A restart (UNLOAD, then INITIATE_CONTACT) needs protocol 3.0: an older host has no
    /// reconnect (torvalds/linux `drivers/hv/channel_mgmt.c`, `vmbus_initiate_unload`), so the
    /// bus stays down.
    RestartUnsupported {
        /// The version of the connection.
        version: crate::version::Version,
    },
    /// The GPADL carries the rings of an OPENCHANNEL still waiting for its result: it may be
    /// torn down only once the host has answered the open (or rescinded the channel).
    OpenInFlight {
        /// The channel being opened.
        relid: u32,
        /// Its ring GPADL.
        gpadl: u32,
    },
}

impl From<ParseError> for ClientError {
    fn from(error: ParseError) -> Self {
        ClientError::Parse(error)
    }
}

impl From<GpadlError> for ClientError {
    fn from(error: GpadlError) -> Self {
        ClientError::Gpadl(error)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Parse(error) => write!(f, "bad control message: {error}"),
            other => write!(f, "{other:?}"),
        }
    }
}
