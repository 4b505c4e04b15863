//! The host side of an open channel: its two rings, the echo device, and the outbox of a
//! service channel.

use super::error::ServerError;
use super::service::{ServiceReply, ServiceStatistics};
use hyperv::memory::GuestMemory;
use std::collections::VecDeque;
use vmbus::ring::{OutgoingPacket, PacketType, RingError, RingReceiver, RingSender};

/// The host's ends of an open channel's rings.
#[derive(Debug)]
pub struct HostChannel<M: GuestMemory> {
    /// Reads the guest→host ring (pages before the downstream offset).
    pub receiver: RingReceiver<M>,
    /// Writes the host→guest ring (pages from the downstream offset).
    pub sender: RingSender<M>,
    /// VP the guest wants events on.
    pub target_vp: u32,
    buffer: Vec<u8>,
    /// Service replies waiting for room in the host→guest ring, in order.
    pub(super) outbox: VecDeque<ServiceReply>,
    /// The guest corrupted a ring: the channel is no longer serviced.
    pub(super) broken: bool,
}

impl<M: GuestMemory> HostChannel<M> {
    pub(super) fn new(receiver: RingReceiver<M>, sender: RingSender<M>, target_vp: u32) -> Self {
        HostChannel {
            receiver,
            sender,
            target_vp,
            buffer: Vec::new(),
            outbox: VecDeque::new(),
            broken: false,
        }
    }

    /// Service replies waiting for room in the host→guest ring.
    pub fn queued_replies(&self) -> usize {
        self.outbox.len()
    }

    /// Writes queued service replies into the host→guest ring until it is full (then asks the
    /// guest, through pending_send_sz, to signal when it has room). Returns whether the guest
    /// must be signalled and whether the outbox is now empty.
    pub(super) fn flush(
        &mut self,
        statistics: &mut ServiceStatistics,
    ) -> Result<(bool, bool), RingError> {
        let mut signal = false;
        while let Some(reply) = self.outbox.front() {
            match self.sender.write_packet(&reply.outgoing()) {
                Ok(()) => {
                    self.outbox.pop_front();
                    statistics.replies_sent += 1;
                }
                Err(RingError::Full { needed }) => {
                    signal |= self.sender.commit()?;
                    if self.sender.wait_for_space(needed)? {
                        continue;
                    }
                    statistics.ring_full_waits += 1;
                    break;
                }
                Err(RingError::TooLarge { needed }) => {
                    log::warn!(
                        "vmbus server: reply of {needed} bytes never fits channel {}'s ring; dropped",
                        reply.relid
                    );
                    self.outbox.pop_front();
                    statistics.replies_dropped += 1;
                }
                Err(error) => return Err(error),
            }
        }
        signal |= self.sender.commit()?;
        Ok((signal, self.outbox.is_empty()))
    }

    /// Echoes every pending in-band packet: one with "completion requested" is answered by a
    /// completion with the same transaction id and payload, any other by an in-band packet
    /// (transaction id kept, no completion requested). Stops when the host→guest ring is full
    /// (asking the guest, through pending_send_sz, to signal when it has room). Returns whether
    /// the guest must be signalled.
    pub fn echo(&mut self) -> Result<bool, ServerError> {
        let mut signal = false;
        loop {
            let mut blocked = None;
            while let Some(packet) = self.receiver.read_packet(&mut self.buffer)? {
                if packet.packet_type != PacketType::DATA_IN_BAND {
                    continue;
                }
                let payload = packet.payload(&self.buffer);
                let reply = if packet.completion_requested {
                    OutgoingPacket::completion(packet.transaction_id, payload)
                } else {
                    OutgoingPacket::in_band(packet.transaction_id, false, payload)
                };
                match self.sender.write_packet(&reply) {
                    Ok(()) => {}
                    Err(RingError::Full { needed }) => {
                        self.receiver.unread_last();
                        blocked = Some(needed);
                        break;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            signal |= self.sender.commit()?;
            signal |= self.receiver.commit()?;
            match blocked {
                Some(needed) if self.sender.wait_for_space(needed)? => continue,
                _ => return Ok(signal),
            }
        }
    }
}
