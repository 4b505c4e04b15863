//! The producer side of one ring.

use super::packet::{FLAG_COMPLETION_REQUESTED, OutgoingPacket, PacketDescriptor, zero_padding8};
use super::{
    INTERRUPT_MASK_OFFSET, IndexKind, PENDING_SEND_SIZE_OFFSET, READ_INDEX_OFFSET, RingError,
    RingPages, TRAILER_SIZE, WRITE_INDEX_OFFSET, ring_free,
};
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;
use zerocopy::little_endian::{U16, U64};

/// Writes packets into one ring. Owns the ring's write index and pending send size.
#[derive(Debug)]
pub struct RingSender<M: GuestMemory> {
    memory: M,
    pages: RingPages,
    /// Where the next packet goes (may be ahead of the published index).
    next_write: u32,
    /// The write index last published.
    committed_write: u32,
    /// The consumer's read index as last loaded (validated). Free space computed from it is a
    /// lower bound (the consumer only moves forward), so the sender reloads the index only
    /// when the cached value says a packet does not fit, as rtrb caches its peer's position.
    cached_read: u32,
    /// Whether this side set `pending_send_sz` and must clear it.
    waiting_for_space: bool,
}

impl<M: GuestMemory> RingSender<M> {
    /// Attaches to a ring, taking the write index found in the control page (0 after
    /// [`super::initialize_control_page`]). The feature bits are left as found: the guest sets
    /// them when it initialises both rings before OPENCHANNEL; the host only reads them.
    pub fn new(memory: M, pages: RingPages) -> Result<Self, RingError> {
        let write = memory.load_u32(pages.field(WRITE_INDEX_OFFSET))?;
        check_index(write, pages.data_size(), IndexKind::Write)?;
        let read = memory.load_u32(pages.field(READ_INDEX_OFFSET))?;
        check_index(read, pages.data_size(), IndexKind::Read)?;
        Ok(RingSender {
            memory,
            pages,
            next_write: write,
            committed_write: write,
            cached_read: read,
            waiting_for_space: false,
        })
    }

    /// The ring's placement.
    pub fn pages(&self) -> &RingPages {
        &self.pages
    }

    /// The memory the ring lives in.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// The largest payload of an in-band packet that can ever fit.
    pub fn max_payload(&self) -> usize {
        // 16 + payload + 8 < data size, payload a multiple of 8.
        const OVERHEAD: usize = 16 + TRAILER_SIZE as usize + 8;
        (self.pages.data_size() as usize).saturating_sub(OVERHEAD)
    }

    /// Loads and validates the consumer's read index, and caches it.
    fn load_read_index(&mut self) -> Result<u32, RingError> {
        let read = self.memory.load_u32(self.pages.field(READ_INDEX_OFFSET))?;
        check_index(read, self.pages.data_size(), IndexKind::Read)?;
        self.cached_read = read;
        Ok(read)
    }

    /// Free bytes according to the read index last loaded (a lower bound).
    fn cached_free_bytes(&self) -> u32 {
        ring_free(self.next_write, self.cached_read, self.pages.data_size())
    }

    /// Free bytes according to a fresh load of the read index.
    fn free_bytes(&mut self) -> Result<u32, RingError> {
        self.load_read_index()?;
        Ok(self.cached_free_bytes())
    }

    /// Writes a packet without publishing it; call [`commit`](Self::commit) to publish.
    pub fn write_packet(&mut self, packet: &OutgoingPacket<'_>) -> Result<(), RingError> {
        let size = self.pages.data_size();
        let needed = packet.ring_size();
        // `ring_size` counts the trailer, so the subtraction never saturates.
        let length8 = needed.saturating_sub(TRAILER_SIZE as usize) / 8;
        if needed >= size as usize || length8 > usize::from(u16::MAX) {
            return Err(RingError::TooLarge { needed });
        }
        let needed = needed as u32;
        // The cached read index is enough while it shows room; only a ring that looks full
        // costs a load of the shared index.
        if needed >= self.cached_free_bytes() && needed >= self.free_bytes()? {
            return Err(RingError::Full { needed });
        }
        let start = self.next_write;
        let header_size = packet.header_size();
        let descriptor = PacketDescriptor {
            packet_type: U16::new(packet.packet_type.0),
            data_offset8: U16::new((header_size / 8) as u16),
            length8: U16::new(length8 as u16),
            flags: U16::new(if packet.completion_requested {
                FLAG_COMPLETION_REQUESTED
            } else {
                0
            }),
            transaction_id: U64::new(packet.transaction_id),
        };
        let trailer = (u64::from(start) << 32).to_le_bytes();
        if needed as usize <= SMALL_PACKET {
            let mut small = [0u8; SMALL_PACKET];
            if let Some(bytes) = assemble(&mut small, &descriptor, packet, &trailer) {
                // A small packet is one copy into the ring.
                self.next_write = self.pages.write_data(&self.memory, start, bytes)?;
                return Ok(());
            }
        }
        let mut offset = self
            .pages
            .write_data(&self.memory, start, descriptor.as_bytes())?;
        if !packet.extra_header.is_empty() {
            offset = self
                .pages
                .write_data(&self.memory, offset, packet.extra_header)?;
            offset = self.pages.write_data(
                &self.memory,
                offset,
                zero_padding8(packet.extra_header.len()),
            )?;
        }
        offset = self
            .pages
            .write_data(&self.memory, offset, packet.payload)?;
        // The payload's padding and the trailer go in one copy.
        let mut tail = [0u8; 16];
        let padding = zero_padding8(packet.payload.len()).len();
        let tail = tail
            .get_mut(..padding.saturating_add(trailer.len()))
            .ok_or(RingError::BadGeometry)?;
        tail.get_mut(padding..)
            .ok_or(RingError::BadGeometry)?
            .copy_from_slice(&trailer);
        self.next_write = self.pages.write_data(&self.memory, offset, tail)?;
        Ok(())
    }

    /// Publishes the packets written since the last commit. Returns whether the consumer must
    /// be signalled: it had drained the ring (read index == previously published write index)
    /// and has not masked interrupts.
    pub fn commit(&mut self) -> Result<bool, RingError> {
        if self.next_write == self.committed_write {
            return Ok(false);
        }
        let previous = self.committed_write;
        self.memory
            .store_u32(self.pages.field(WRITE_INDEX_OFFSET), self.next_write)?;
        self.committed_write = self.next_write;
        self.memory.fence();
        if self.waiting_for_space {
            self.memory
                .store_u32(self.pages.field(PENDING_SEND_SIZE_OFFSET), 0)?;
            self.waiting_for_space = false;
        }
        if self
            .memory
            .load_u32(self.pages.field(INTERRUPT_MASK_OFFSET))?
            != 0
        {
            return Ok(false);
        }
        // Linux's hv_ringbuffer_write / hv_signal_on_write rule (torvalds/linux
        // drivers/hv/ring_buffer.c): after publishing, signal only if the consumer had caught
        // up with the previously published write index, i.e. the ring went empty→non-empty.
        let read = self.load_read_index()?;
        Ok(read == previous)
    }

    /// Writes and publishes one packet; returns whether to signal the consumer.
    pub fn send(&mut self, packet: &OutgoingPacket<'_>) -> Result<bool, RingError> {
        self.write_packet(packet)?;
        self.commit()
    }

    /// Discards packets written but not committed.
    pub fn revert(&mut self) {
        self.next_write = self.committed_write;
    }

    /// After [`RingError::Full`]: asks the consumer to signal once `needed` bytes can be
    /// written (sets `pending_send_sz`), then re-checks. Returns `true` if the space is already
    /// there (no signal will come; retry now), `false` to wait for the consumer's signal.
    pub fn wait_for_space(&mut self, needed: u32) -> Result<bool, RingError> {
        self.memory
            .store_u32(self.pages.field(PENDING_SEND_SIZE_OFFSET), needed)?;
        self.waiting_for_space = true;
        self.memory.fence();
        if needed < self.free_bytes()? {
            self.memory
                .store_u32(self.pages.field(PENDING_SEND_SIZE_OFFSET), 0)?;
            self.waiting_for_space = false;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Packets up to this many ring bytes are assembled on the stack and copied in one piece.
const SMALL_PACKET: usize = 256;

/// Lays out a whole packet (descriptor, extra header, payload, zero padding, trailer) in
/// `buffer`, or `None` if it does not fit there.
fn assemble<'a>(
    buffer: &'a mut [u8; SMALL_PACKET],
    descriptor: &PacketDescriptor,
    packet: &OutgoingPacket<'_>,
    trailer: &[u8; 8],
) -> Option<&'a [u8]> {
    let length = packet.ring_size();
    let bytes = buffer.get_mut(..length)?;
    let header_size = packet.header_size();
    let descriptor_bytes = descriptor.as_bytes();
    bytes
        .get_mut(..descriptor_bytes.len())?
        .copy_from_slice(descriptor_bytes);
    let extra_start = descriptor_bytes.len();
    bytes
        .get_mut(extra_start..extra_start.checked_add(packet.extra_header.len())?)?
        .copy_from_slice(packet.extra_header);
    bytes
        .get_mut(header_size..header_size.checked_add(packet.payload.len())?)?
        .copy_from_slice(packet.payload);
    let trailer_start = length.checked_sub(trailer.len())?;
    bytes.get_mut(trailer_start..)?.copy_from_slice(trailer);
    // The stack buffer started zeroed, so the padding between the pieces is zero.
    Some(bytes)
}

pub(super) fn check_index(value: u32, size: u32, kind: IndexKind) -> Result<(), RingError> {
    if value >= size || !value.is_multiple_of(8) {
        return Err(RingError::CorruptIndex { kind, value });
    }
    Ok(())
}
