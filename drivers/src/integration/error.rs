//! Typed errors of the IC protocol core.

use core::fmt;

/// Why a host IC message was rejected. A rejected message is dropped (no reply) and changes
/// nothing, except [`IcError::NoCommonVersion`], after which the channel answers nothing but
/// a new negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcError {
    /// Shorter than its fixed part.
    Truncated {
        /// Bytes received.
        length: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Larger than any IC message.
    TooLarge(usize),
    /// The pipe header's type is not data.
    BadPipeType(u32),
    /// The pipe header announces more bytes than the packet has.
    BadPipeSize {
        /// Announced size.
        announced: u32,
        /// Bytes after the pipe header.
        available: usize,
    },
    /// The version lists are longer than Linux accepts or than the body.
    BadVersionCounts {
        /// Framework versions listed.
        framework: u16,
        /// Message versions listed.
        message: u16,
    },
    /// The host offered no framework or message version the guest speaks (answered with empty
    /// lists, as Linux does).
    NoCommonVersion,
    /// A service message before the versions were negotiated.
    NotNegotiated(u16),
    /// A message type the service does not carry.
    UnexpectedMessageType(u16),
    /// The message is a response or not a transaction where a request was expected.
    NotARequest(u8),
}

impl fmt::Display for IcError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcError::Truncated { length, needed } => {
                write!(
                    formatter,
                    "truncated message ({length} bytes, {needed} needed)"
                )
            }
            IcError::TooLarge(length) => write!(formatter, "message too large ({length} bytes)"),
            IcError::BadPipeType(kind) => write!(formatter, "pipe packet type {kind} is not data"),
            IcError::BadPipeSize {
                announced,
                available,
            } => write!(
                formatter,
                "pipe header announces {announced} bytes, {available} present"
            ),
            IcError::BadVersionCounts { framework, message } => write!(
                formatter,
                "bad version counts ({framework} framework, {message} message)"
            ),
            IcError::NoCommonVersion => formatter.write_str("no common version"),
            IcError::NotNegotiated(kind) => {
                write!(formatter, "message type {kind} before negotiation")
            }
            IcError::UnexpectedMessageType(kind) => {
                write!(formatter, "unexpected message type {kind}")
            }
            IcError::NotARequest(flags) => write!(formatter, "not a request (flags {flags:#x})"),
        }
    }
}
