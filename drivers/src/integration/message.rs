//! Parsing a host IC packet and turning it into the reply.
//!
//! A reply is the request itself with the IC header's flags set to transaction | response, its
//! status and body changed in place, sent with the request's VMBus transaction id: the shape
//! Linux's util drivers answer with (torvalds/linux `drivers/hv/hv_util.c`: every callback sets
//! `icflags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE` and sends `recvlen` bytes with
//! the packet's `requestid`). The pipe header is kept, and checked first: its type must be data
//! and its size must cover the IC header and the body the IC header announces.

use alloc::vec::Vec;
use core::mem::size_of;
use zerocopy::FromBytes;

use super::error::IcError;
use super::wire::{
    BODY_OFFSET, IC_HEADER_OFFSET, IcHeader, PIPE_PACKET_TYPE_DATA, PipeHeader, header_flags,
};

/// Most bytes of an IC packet the guest accepts (OpenVMM `MAX_MESSAGE_SIZE`).
pub const MAXIMUM_PACKET_BYTES: usize = 13_312;

/// A host IC message, parsed and checked, with a copy of the packet to answer in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcMessage {
    /// The IC header as received.
    pub header: IcHeader,
    packet: Vec<u8>,
    body_length: usize,
}

impl IcMessage {
    /// Parses `packet` (the VMBus packet payload): pipe header, IC header, and a body of the
    /// announced size.
    pub fn parse(packet: &[u8]) -> Result<IcMessage, IcError> {
        if packet.len() > MAXIMUM_PACKET_BYTES {
            return Err(IcError::TooLarge(packet.len()));
        }
        let (pipe, rest) =
            PipeHeader::read_from_prefix(packet).map_err(|_| IcError::Truncated {
                length: packet.len(),
                needed: size_of::<PipeHeader>(),
            })?;
        if pipe.flags.get() != PIPE_PACKET_TYPE_DATA {
            return Err(IcError::BadPipeType(pipe.flags.get()));
        }
        let pipe_size = usize::try_from(pipe.size.get()).unwrap_or(usize::MAX);
        if pipe_size > rest.len() {
            return Err(IcError::BadPipeSize {
                announced: pipe.size.get(),
                available: rest.len(),
            });
        }
        let (header, _) = IcHeader::read_from_prefix(rest).map_err(|_| IcError::Truncated {
            length: packet.len(),
            needed: BODY_OFFSET,
        })?;
        let body_length = usize::from(header.message_size.get());
        let needed = BODY_OFFSET.saturating_add(body_length);
        if packet.len() < needed || pipe_size < needed.saturating_sub(IC_HEADER_OFFSET) {
            return Err(IcError::Truncated {
                length: packet.len(),
                needed,
            });
        }
        Ok(IcMessage {
            header,
            packet: packet.to_vec(),
            body_length,
        })
    }

    /// The message body (`message_size` bytes after the IC header).
    pub fn body(&self) -> &[u8] {
        self.packet
            .get(BODY_OFFSET..BODY_OFFSET.saturating_add(self.body_length))
            .unwrap_or(&[])
    }

    /// Whether the host expects an answer (the transaction flag).
    pub fn expects_response(&self) -> bool {
        self.header.flags & header_flags::TRANSACTION != 0
    }

    /// The reply: the packet with `status`, the transaction | response flags, and the body
    /// replaced by `body` (the message size set to its length).
    pub fn reply(&self, status: u32, body: &[u8]) -> Vec<u8> {
        let mut header = self.header;
        header.status.set(status);
        header.flags = header_flags::TRANSACTION | header_flags::RESPONSE;
        header
            .message_size
            .set(u16::try_from(body.len()).unwrap_or(u16::MAX));
        let mut reply = Vec::with_capacity(BODY_OFFSET.saturating_add(body.len()));
        let size = size_of::<IcHeader>().saturating_add(body.len());
        let pipe = PipeHeader {
            flags: PIPE_PACKET_TYPE_DATA.into(),
            size: u32::try_from(size).unwrap_or(u32::MAX).into(),
        };
        reply.extend_from_slice(zerocopy::IntoBytes::as_bytes(&pipe));
        reply.extend_from_slice(zerocopy::IntoBytes::as_bytes(&header));
        reply.extend_from_slice(body);
        reply
    }

    /// The reply with the body as received and `status` (heartbeat, shutdown, time sync).
    pub fn reply_with_status(&self, status: u32) -> Vec<u8> {
        self.reply(status, self.body())
    }
}
