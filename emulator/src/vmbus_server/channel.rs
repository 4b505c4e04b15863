//! The host side of an open channel: its two rings, the echo device, and the outbox of a
//! service channel.

use super::error::ServerError;
use super::service::{ServiceReply, ServiceStatistics};
use hyperv::memory::GuestMemory;
use std::collections::VecDeque;
use vmbus::ring::{
    IndexKind, OutgoingPacket, PacketType, READ_INDEX_OFFSET, RingError, RingReceiver, RingSender,
    WRITE_INDEX_OFFSET,
};

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
    /// A host fault (`AnswerTiming::CorruptRing`): the guest→host ring's read index is written
    /// misaligned after every read, so the guest finds it corrupt whenever it loads it.
    pub(super) corrupt_read_index: bool,
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
            corrupt_read_index: false,
        }
    }

    /// Writes a misaligned value (12) into the ring index the host owns of `kind`: the write
    /// index of the host→guest ring or the read index of the guest→host ring. The guest must
    /// report it as CorruptIndex when it loads it.
    pub(super) fn corrupt_index(&self, kind: IndexKind) {
        let control = match kind {
            IndexKind::Write => self.sender.pages().control_gpa() + WRITE_INDEX_OFFSET,
            IndexKind::Read => self.receiver.pages().control_gpa() + READ_INDEX_OFFSET,
        };
        // One guest memory behind both rings.
        let _ = self.sender.memory().store_u32(control, 12);
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
                // Blocked on the host→guest ring: the guest signals when it made room.
                Some(_) => return Ok(signal),
                // The guest decides whether to signal by comparing its previous write index
                // with the read index published so far, so a packet written after the last
                // empty read but before the commit above came with no signal. End the drain
                // as Linux's hv_end_read does (torvalds/linux include/linux/hyperv.h: clear
                // the interrupt mask, full barrier, re-check the bytes to read) and go on if
                // the ring is not empty.
                None if !self.receiver.unmask_and_check_empty()? => continue,
                None => return Ok(signal),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperv::memory::{AtomicMemory, MemoryError};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::sync::Arc;
    use vmbus::ring::{
        FEATURE_PENDING_SEND_SIZE, RingPages, WRITE_INDEX_OFFSET, initialize_control_page,
    };

    const BASE: u64 = 0x10_0000;
    const RING_BYTES: u64 = 2 * 4096;

    /// Guest memory seen by the host, which runs `hook` (the guest's next step) right after
    /// the host's `trigger`-th load of the word at `watched`: a hand-made interleaving.
    struct InterleavedMemory {
        inner: Arc<AtomicMemory>,
        watched: u64,
        trigger: u32,
        loads: Cell<u32>,
        hook: RefCell<Option<Box<dyn FnOnce()>>>,
    }

    impl GuestMemory for InterleavedMemory {
        fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
            self.inner.read(gpa, buffer)
        }
        fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
            self.inner.write(gpa, data)
        }
        fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
            let value = self.inner.load_u32(gpa)?;
            if gpa == self.watched {
                self.loads.set(self.loads.get() + 1);
                if self.loads.get() == self.trigger
                    && let Some(hook) = self.hook.borrow_mut().take()
                {
                    hook();
                }
            }
            Ok(value)
        }
        fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
            self.inner.store_u32(gpa, value)
        }
    }

    /// The lost wake-up of `echo_across_threads_with_small_rings` (emulator/tests/
    /// vmbus_threads.rs), stepped by hand: the guest writes a packet after the host's drain
    /// found the guest→host ring empty but before the host published its read index. The
    /// guest's rule (signal only if the read index equals its previous write index) then
    /// says "no signal", so the host must notice the packet itself before it stops.
    #[test]
    fn echo_sees_a_packet_written_between_its_last_read_and_its_commit() {
        let memory = Arc::new(AtomicMemory::new(BASE, 2 * RING_BYTES as usize));
        let upstream = RingPages::contiguous(BASE, RING_BYTES).unwrap();
        let downstream = RingPages::contiguous(BASE + RING_BYTES, RING_BYTES).unwrap();
        for pages in [&upstream, &downstream] {
            initialize_control_page(&*memory, pages, FEATURE_PENDING_SEND_SIZE).unwrap();
        }
        let mut guest_sender = RingSender::new(memory.clone(), upstream.clone()).unwrap();
        let mut guest_receiver = RingReceiver::new(memory.clone(), downstream.clone()).unwrap();
        assert!(
            guest_sender
                .send(&OutgoingPacket::in_band(1, false, &[1; 8]))
                .unwrap()
        );
        let late_signal = Rc::new(Cell::new(None));
        let late_signal_seen = late_signal.clone();
        let host_memory = InterleavedMemory {
            inner: memory.clone(),
            watched: upstream.control_gpa() + WRITE_INDEX_OFFSET,
            // Load 1 finds packet 1; load 2 is the drain's "empty" check.
            trigger: 2,
            loads: Cell::new(0),
            hook: RefCell::new(Some(Box::new(move || {
                let signal = guest_sender
                    .send(&OutgoingPacket::in_band(2, false, &[2; 8]))
                    .unwrap();
                late_signal.set(Some(signal));
            }))),
        };
        let mut host = HostChannel::new(
            RingReceiver::new(&host_memory, upstream).unwrap(),
            RingSender::new(&host_memory, downstream).unwrap(),
            0,
        );
        assert!(host.echo().unwrap(), "the echo of packet 1 needs a signal");
        assert_eq!(
            late_signal_seen.get(),
            Some(false),
            "packet 2 was written inside the window, without a signal"
        );
        let mut buffer = Vec::new();
        let mut echoed = Vec::new();
        while let Some(packet) = guest_receiver.read_packet(&mut buffer).unwrap() {
            echoed.push(packet.transaction_id);
        }
        assert_eq!(echoed, [1, 2], "packet 2 was lost until the next signal");
    }
}
