//! Typed errors of the vPCI client.

use super::client::Phase;
use super::wire::ProtocolVersion;
use core::fmt;

/// Why a packet was rejected or the bus failed.
///
/// A rejected packet is dropped and changes nothing; [`VpciError::is_fatal`] errors also put
/// the client into [`Phase::Failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpciError {
    /// The config window base is not 4 KiB aligned or the window would wrap the address space.
    BadWindow {
        /// The base given.
        gpa: u64,
    },
    /// A VMBus packet type the vPCI channel does not carry (only in-band and completions).
    UnexpectedPacketType(u16),
    /// A message or completion shorter than its fixed part.
    Truncated {
        /// What was being parsed (message type, or 0 for a completion).
        message_type: u32,
        /// Bytes received.
        length: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// An in-band message type the client does not know.
    UnknownMessage(u32),
    /// A message that makes no sense in the current phase (e.g. relations before the
    /// version was agreed).
    UnexpectedMessage {
        /// Message type.
        message_type: u32,
        /// The client's phase.
        phase: Phase,
    },
    /// A completion whose transaction id matches no outstanding request.
    UnknownTransaction(u64),
    /// A completion answers a request for a function that has since been removed or replaced
    /// at the same slot; it is dropped and advances nothing.
    StaleCompletion {
        /// The slot the request was for.
        slot: u32,
        /// The completion's transaction id.
        transaction_id: u64,
    },
    /// The host refused every protocol version the client speaks.
    NoCommonVersion,
    /// The host failed version negotiation with a status other than REVISION_MISMATCH.
    VersionRejected {
        /// The version offered.
        version: ProtocolVersion,
        /// The host's status.
        status: u32,
    },
    /// BUS_D0ENTRY failed (e.g. the window overlaps the host's framebuffer).
    D0EntryFailed {
        /// The host's status.
        status: u32,
    },
    /// A per-function request failed; the function is not brought up.
    FunctionRequestFailed {
        /// The function's slot.
        slot: u32,
        /// The request's message type.
        message_type: u32,
        /// The host's status.
        status: u32,
    },
    /// A function list with more entries than a bus can have.
    TooManyFunctions {
        /// The count claimed.
        count: u32,
    },
    /// A function list shorter than its count says.
    RelationsTruncated {
        /// The count claimed.
        count: u32,
        /// Payload bytes received.
        length: usize,
    },
    /// A function list naming the same slot twice.
    DuplicateSlot(u32),
    /// A slot number with reserved bits set.
    BadSlot(u32),
    /// The request needs a running bus.
    NotRunning(Phase),
}

impl VpciError {
    /// Whether the error stopped the bus (negotiation or D0 entry failed).
    pub const fn is_fatal(&self) -> bool {
        matches!(
            self,
            VpciError::NoCommonVersion
                | VpciError::VersionRejected { .. }
                | VpciError::D0EntryFailed { .. }
        )
    }
}

impl fmt::Display for VpciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VpciError::BadWindow { gpa } => write!(f, "bad config window base {gpa:#x}"),
            VpciError::UnexpectedPacketType(kind) => write!(f, "unexpected packet type {kind:#x}"),
            VpciError::Truncated {
                message_type,
                length,
                needed,
            } => write!(
                f,
                "message {message_type:#x} truncated: {length} bytes, {needed} needed"
            ),
            VpciError::UnknownMessage(kind) => write!(f, "unknown message type {kind:#x}"),
            VpciError::UnexpectedMessage {
                message_type,
                phase,
            } => write!(f, "message {message_type:#x} unexpected in phase {phase:?}"),
            VpciError::UnknownTransaction(id) => write!(f, "completion for unknown id {id}"),
            VpciError::StaleCompletion {
                slot,
                transaction_id,
            } => write!(
                f,
                "completion {transaction_id} is for a function no longer at slot {slot:#x}"
            ),
            VpciError::NoCommonVersion => {
                f.write_str("the host accepts no protocol version we speak")
            }
            VpciError::VersionRejected { version, status } => write!(
                f,
                "version {:#x} rejected with status {status:#x}",
                version.0
            ),
            VpciError::D0EntryFailed { status } => write!(f, "BUS_D0ENTRY failed: {status:#x}"),
            VpciError::FunctionRequestFailed {
                slot,
                message_type,
                status,
            } => write!(
                f,
                "request {message_type:#x} for slot {slot:#x} failed: {status:#x}"
            ),
            VpciError::TooManyFunctions { count } => write!(f, "relations list {count} functions"),
            VpciError::RelationsTruncated { count, length } => {
                write!(f, "relations of {count} functions in {length} bytes")
            }
            VpciError::DuplicateSlot(slot) => write!(f, "slot {slot:#x} listed twice"),
            VpciError::BadSlot(slot) => write!(f, "slot {slot:#x} has reserved bits set"),
            VpciError::NotRunning(phase) => write!(f, "the bus is not running ({phase:?})"),
        }
    }
}
