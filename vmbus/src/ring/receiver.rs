//! The consumer side of one ring.

use super::packet::{
    FLAG_COMPLETION_REQUESTED, IncomingPacket, PacketDescriptor, PacketType, units8_to_bytes,
};
use super::sender::check_index;
use super::{
    DescriptorError, FEATURE_BITS_OFFSET, FEATURE_PENDING_SEND_SIZE, INTERRUPT_MASK_OFFSET,
    IndexKind, PENDING_SEND_SIZE_OFFSET, READ_INDEX_OFFSET, RingError, RingPages, TRAILER_SIZE,
    WRITE_INDEX_OFFSET, ring_advance, ring_distance, ring_free,
};
use alloc::vec::Vec;
use core::mem::size_of;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

/// Reads packets from one ring. Owns the ring's read index and interrupt mask.
#[derive(Debug)]
pub struct RingReceiver<M: GuestMemory> {
    memory: M,
    pages: RingPages,
    /// Where the next packet starts (may be ahead of the published index).
    next_read: u32,
    /// The read index last published.
    committed_read: u32,
    /// The producer's write index as last loaded (validated). Bytes up to it stay readable
    /// until this side consumes them, so `read_packet` reloads the index only when it has
    /// caught up with the cached value.
    cached_write: u32,
    /// Start of the packet returned by the last `read_packet`, for `unread_last`.
    last_start: Option<u32>,
}

impl<M: GuestMemory> RingReceiver<M> {
    /// Attaches to a ring, taking the read index found in the control page.
    pub fn new(memory: M, pages: RingPages) -> Result<Self, RingError> {
        let read = memory.load_u32(pages.field(READ_INDEX_OFFSET))?;
        check_index(read, pages.data_size(), IndexKind::Read)?;
        Ok(RingReceiver {
            memory,
            pages,
            next_read: read,
            committed_read: read,
            // Equal to the read index: "nothing known to be readable", so the first read
            // loads the real write index.
            cached_write: read,
            last_start: None,
        })
    }

    /// The ring's placement.
    pub fn pages(&self) -> &RingPages {
        &self.pages
    }

    /// The producer's write index, validated.
    fn load_write_index(&self) -> Result<u32, RingError> {
        let write = self.memory.load_u32(self.pages.field(WRITE_INDEX_OFFSET))?;
        check_index(write, self.pages.data_size(), IndexKind::Write)?;
        Ok(write)
    }

    fn available(&self) -> Result<u32, RingError> {
        let write = self.load_write_index()?;
        Ok(ring_distance(self.next_read, write, self.pages.data_size()))
    }

    /// Bytes readable according to the cached write index, reloading it only when that says
    /// the ring is drained.
    fn available_cached(&mut self) -> Result<u32, RingError> {
        let size = self.pages.data_size();
        let cached = ring_distance(self.next_read, self.cached_write, size);
        if cached != 0 {
            return Ok(cached);
        }
        self.cached_write = self.load_write_index()?;
        Ok(ring_distance(self.next_read, self.cached_write, size))
    }

    /// Whether nothing is left to read.
    pub fn is_empty(&self) -> Result<bool, RingError> {
        Ok(self.available()? == 0)
    }

    /// Copies the next packet (without its trailer) into `buffer` and validates the copy.
    /// Returns `None` if the ring is empty. The read index is not published until
    /// [`commit`](Self::commit). A corrupt ring returns an error and consumes nothing.
    pub fn read_packet(
        &mut self,
        buffer: &mut Vec<u8>,
    ) -> Result<Option<IncomingPacket>, RingError> {
        let available = self.available_cached()?;
        if available == 0 {
            return Ok(None);
        }
        const MINIMUM: u32 = size_of::<PacketDescriptor>() as u32 + TRAILER_SIZE;
        if available < MINIMUM {
            return Err(RingError::CorruptDescriptor(DescriptorError::Truncated {
                available,
            }));
        }
        // The descriptor is read as two whole words (one copy, wrapping if it must) and
        // validated before its length is trusted; kept as words, it is never reloaded with a
        // wider access than the copy stored it with (no store-forwarding stall).
        let size = self.pages.data_size();
        let mut words = [0u64; 2];
        self.pages
            .read_data(&self.memory, self.next_read, words.as_mut_bytes())?;
        let (first, second) = (u64::from_le(words[0]), u64::from_le(words[1]));
        let descriptor = PacketDescriptor::from_words(first, second);
        descriptor
            .validate(available)
            .map_err(RingError::CorruptDescriptor)?;
        let length = units8_to_bytes(descriptor.length8.get());
        // Reuse the caller's buffer: only bytes beyond its current length are zeroed (a
        // buffer reused for packets of similar size is never zero-filled again), and every
        // byte kept is overwritten by the copy below.
        if buffer.len() < length {
            buffer.resize(length, 0);
        } else {
            buffer.truncate(length);
        }
        let (head, body) = buffer
            .split_at_mut_checked(size_of::<PacketDescriptor>())
            .ok_or(RingError::CorruptDescriptor(DescriptorError::Truncated {
                available,
            }))?;
        // `validate` checked offset8 ≥ 2 and offset8 ≤ length8, so the packet holds at least
        // the 16-byte descriptor and the body range exists.
        let (first_bytes, second_bytes) = head.split_at_mut(8);
        first_bytes.copy_from_slice(&first.to_le_bytes());
        second_bytes.copy_from_slice(&second.to_le_bytes());
        let body_offset = ring_advance(self.next_read, size_of::<PacketDescriptor>(), size)
            .ok_or(RingError::BadGeometry)?;
        self.pages.read_data(&self.memory, body_offset, body)?;
        let next_read = length
            .checked_add(TRAILER_SIZE as usize)
            .and_then(|claimed| ring_advance(self.next_read, claimed, size))
            .ok_or(RingError::BadGeometry)?;
        self.last_start = Some(self.next_read);
        self.next_read = next_read;
        Ok(Some(IncomingPacket {
            packet_type: PacketType(descriptor.packet_type.get()),
            transaction_id: descriptor.transaction_id.get(),
            completion_requested: descriptor.flags.get() & FLAG_COMPLETION_REQUESTED != 0,
            payload_offset: units8_to_bytes(descriptor.data_offset8.get()),
            length,
        }))
    }

    /// Publishes the read index. Returns whether the producer must be signalled: the ring's
    /// feature bits enable pending send size, the producer asked for `pending_send_sz` bytes,
    /// and the free space crossed from "not enough" (≤) to "enough" (>) with this commit — the
    /// rule of Linux's `hv_pkt_iter_close` (torvalds/linux drivers/hv/ring_buffer.c), so a
    /// producer is woken once per wait, not on every read.
    pub fn commit(&mut self) -> Result<bool, RingError> {
        if self.next_read == self.committed_read {
            return Ok(false);
        }
        let size = self.pages.data_size();
        let consumed = ring_distance(self.committed_read, self.next_read, size);
        self.memory
            .store_u32(self.pages.field(READ_INDEX_OFFSET), self.next_read)?;
        self.committed_read = self.next_read;
        self.last_start = None;
        self.memory.fence();
        let features = self
            .memory
            .load_u32(self.pages.field(FEATURE_BITS_OFFSET))?;
        if features & FEATURE_PENDING_SEND_SIZE == 0 {
            return Ok(false);
        }
        // Some producers write "size − 1" meaning "when empty"; mask to 8 as OpenVMM does.
        let pending = self
            .memory
            .load_u32(self.pages.field(PENDING_SEND_SIZE_OFFSET))?
            & !7;
        if pending == 0 {
            return Ok(false);
        }
        let free_after = ring_free(self.load_write_index()?, self.next_read, size);
        let free_before = free_after.saturating_sub(consumed);
        Ok(free_before <= pending && pending < free_after)
    }

    /// Discards packets read but not committed, so they will be read again.
    pub fn revert(&mut self) {
        self.next_read = self.committed_read;
        self.last_start = None;
    }

    /// Puts back the packet returned by the last [`read_packet`](Self::read_packet) (if it
    /// is not committed yet), e.g. because its reply did not fit.
    pub fn unread_last(&mut self) {
        if let Some(start) = self.last_start.take() {
            self.next_read = start;
        }
    }

    /// Sets or clears the interrupt mask ("don't signal me on empty→non-empty").
    pub fn set_interrupt_mask(&mut self, masked: bool) -> Result<(), RingError> {
        self.memory
            .store_u32(self.pages.field(INTERRUPT_MASK_OFFSET), u32::from(masked))?;
        self.memory.fence();
        Ok(())
    }

    /// Ends a drain: clears the interrupt mask and re-checks the ring. Returns `true` if the
    /// ring is empty (sleep until signalled), `false` if a packet slipped in (drain again).
    pub fn unmask_and_check_empty(&mut self) -> Result<bool, RingError> {
        self.set_interrupt_mask(false)?;
        self.is_empty()
    }
}
