//! Service channels: channels whose packets go to a host device model (the vGPU, virtual PCI)
//! instead of being echoed.
//!
//! The server owns the rings; the device model owns the protocol. They meet through
//! [`ChannelService`]: [`Server::run_services`](super::Server::run_services) reads each open
//! [`DeviceKind::Service`](super::DeviceKind::Service) channel's guest→host ring, hands every
//! packet to [`ChannelService::receive`], collects what the model answers with
//! [`ChannelService::poll_reply`] (for any channel, not only the one that was read: the vGPU
//! answers a vGPU command on the vGPU channel and may notify on the global channel), and
//! writes the answers into the host→guest rings.
//!
//! Back-pressure: answers that do not fit wait in a per-channel outbox (in order), the host
//! sets `pending_send_sz` so the guest signals once it has read enough, and the channel's
//! guest→host ring is not read again until its outbox is empty. So a guest that stops reading
//! its replies stops the host from taking its requests (its own ring fills, and it waits on
//! pending_send_sz in turn); nothing is dropped. The signalling rules (interrupt mask,
//! empty→non-empty, pending_send_sz crossing) are those of `vmbus::ring`.

use vmbus::guid::Guid;
use vmbus::ring::{OutgoingPacket, PacketType};

/// A packet the guest wrote into a service channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServicePacket<'a> {
    /// The channel.
    pub relid: u32,
    /// The channel offer's device class.
    pub class: Guid,
    /// The channel offer's instance GUID.
    pub instance: Guid,
    /// Packet type (in-band data for the dxg and vPCI protocols).
    pub packet_type: PacketType,
    /// The guest's transaction id.
    pub transaction_id: u64,
    /// Whether the guest asked for a completion.
    pub completion_requested: bool,
    /// The payload (after the descriptor and any extra header).
    pub payload: &'a [u8],
}

/// The kind of a host→guest packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// A completion (`VM_PKT_COMP`) answering the guest's transaction.
    Completion,
    /// An in-band packet (a host-initiated notification or request).
    InBand {
        /// Whether the host asks the guest for a completion.
        completion_requested: bool,
    },
}

/// A packet a device model wants written into channel `relid`'s host→guest ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceReply {
    /// The channel.
    pub relid: u32,
    /// Completion or in-band.
    pub kind: ReplyKind,
    /// For completions: the request's transaction id; for in-band packets: any id (0 for dxg
    /// notifications).
    pub transaction_id: u64,
    /// The payload.
    pub bytes: Vec<u8>,
}

impl ServiceReply {
    /// A completion of `transaction_id` on `relid`.
    pub fn completion(relid: u32, transaction_id: u64, bytes: Vec<u8>) -> Self {
        Self {
            relid,
            kind: ReplyKind::Completion,
            transaction_id,
            bytes,
        }
    }

    /// An unsolicited in-band packet on `relid` (transaction id 0, no completion requested).
    pub fn notification(relid: u32, bytes: Vec<u8>) -> Self {
        Self {
            relid,
            kind: ReplyKind::InBand {
                completion_requested: false,
            },
            transaction_id: 0,
            bytes,
        }
    }

    pub(super) fn outgoing(&self) -> OutgoingPacket<'_> {
        match self.kind {
            ReplyKind::Completion => OutgoingPacket::completion(self.transaction_id, &self.bytes),
            ReplyKind::InBand {
                completion_requested,
            } => OutgoingPacket::in_band(self.transaction_id, completion_requested, &self.bytes),
        }
    }
}

/// A host device model behind one or more service channels.
pub trait ChannelService {
    /// A packet arrived from the guest.
    fn receive(&mut self, packet: ServicePacket<'_>);

    /// The next packet for the guest (on any channel), if any.
    fn poll_reply(&mut self) -> Option<ServiceReply>;
}

/// Counters of the service-channel machinery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStatistics {
    /// Packets read from guest→host rings and handed to the model.
    pub packets_received: u64,
    /// Packets written into host→guest rings.
    pub replies_sent: u64,
    /// Times a host→guest ring was full and the host waited for the guest's signal
    /// (pending_send_sz) with replies in the outbox.
    pub ring_full_waits: u64,
    /// Replies dropped: for a channel that is not open (or rescinded, or broken), or too large
    /// for the ring.
    pub replies_dropped: u64,
    /// Event flags set for the guest.
    pub signals: u64,
    /// Channels stopped because the guest corrupted a ring.
    pub broken_channels: u64,
}
