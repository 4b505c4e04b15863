//! Errors of the emulated host: bad guest messages (dropped and logged, as a host would) and
//! posts to unregistered connection ids (failed at hypercall level).

use std::fmt;
use vmbus::messages::{MessageType, ParseError};
use vmbus::ring::RingError;
use vmbus::version::HV_STATUS_INVALID_CONNECTION_ID;

/// Why the host rejected a guest message or signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// Nothing listens on this connection id: HvPostMessage fails.
    InvalidConnectionId(u32),
    /// The message arrived on a registered connection id that is wrong for it.
    WrongConnectionId {
        /// The id it should have used.
        expected: u32,
        /// The id it used.
        found: u32,
    },
    /// The SynIC message type is not 1.
    BadSynicMessageType(u32),
    /// The payload is not a control message.
    Parse(ParseError),
    /// The message is not valid in the current state or not guest→host.
    Unexpected(MessageType),
    /// No such channel.
    UnknownRelid(u32),
    /// The relid is still held by the guest (a re-offer before RELID_RELEASED).
    RelidInUse(u32),
    /// No such GPADL (or it belongs to another channel).
    UnknownGpadl(u32),
    /// A signal on a connection id no channel uses.
    UnknownSignal(u32),
    /// The guest's ring is broken; the channel stops.
    Ring(RingError),
}

impl ServerError {
    /// The hypercall status HvPostMessage returns for this error, if the post itself fails.
    pub fn hypercall_status(&self) -> Option<u16> {
        match self {
            ServerError::InvalidConnectionId(_) => Some(HV_STATUS_INVALID_CONNECTION_ID),
            _ => None,
        }
    }
}

impl From<ParseError> for ServerError {
    fn from(error: ParseError) -> Self {
        ServerError::Parse(error)
    }
}

impl From<RingError> for ServerError {
    fn from(error: RingError) -> Self {
        ServerError::Ring(error)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
