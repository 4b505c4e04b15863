//! The producer side of one ring.

use super::packet::{OutgoingPacket, PacketHeader, check_inside, padded8, zero_padding8};
use super::window_error;
use super::{
    INTERRUPT_MASK_OFFSET, IndexKind, PENDING_SEND_SIZE_OFFSET, READ_INDEX_OFFSET, RingError,
    RingPages, TRAILER_SIZE, WRITE_INDEX_OFFSET, ring_advance, ring_free,
};
use hyperv::memory::{GuestMemory, Window};
use zerocopy::IntoBytes;

/// Size of a packet descriptor: where the payload starts in a packet without extra header.
const DESCRIPTOR_SIZE: usize = 16;

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
    /// Where a small packet is laid out whole before its one copy into the ring; kept, so it
    /// is not zero-filled for every packet (`lay_out_small` writes every word it returns).
    scratch: [u64; SMALL_PACKET_WORDS],
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
            scratch: [0; SMALL_PACKET_WORDS],
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

    /// Checks that a packet of `needed` ring bytes (trailer included) can ever fit and fits
    /// now; returns its descriptor's `len8` (see [`make_room`]).
    #[inline]
    fn make_room(&mut self, needed: usize) -> Result<u16, RingError> {
        make_room(
            &self.memory,
            &self.pages,
            self.next_write,
            &mut self.cached_read,
            needed,
        )
    }

    /// Writes a packet without publishing it; call [`commit`](Self::commit) to publish.
    ///
    /// The payload is copied from `packet.payload`; [`reserve`](Self::reserve) lets the caller
    /// write it into the ring in place instead.
    pub fn write_packet(&mut self, packet: &OutgoingPacket<'_>) -> Result<(), RingError> {
        let length8 = self.make_room(packet.ring_size())?;
        let start = self.next_write;
        // The descriptor is two whole words built in registers; it reaches memory only as
        // whole words, so the copy that reads them back never stalls on store forwarding.
        let (first, second) = packet.header().descriptor(length8).words();
        if packet.extra_header.is_empty()
            && let Some(bytes) =
                lay_out_small(&mut self.scratch, [first, second], packet.payload, start)
        {
            // A small packet is one guest-memory access (what a guest pays most for: a
            // bounds check and a copy per access).
            self.next_write = self.pages.write_data(&self.memory, start, bytes)?;
            return Ok(());
        }
        let needed = packet.ring_size();
        if let Some(window) = self
            .pages
            .unbroken(start, needed)
            .and_then(|gpa| self.memory.window(gpa, needed))
        {
            // The whole packet lies in one piece of guest memory that the memory hands out as
            // a window: its parts are written by offset after one check.
            write_large_in_window(&window, [first, second], packet, start)?;
            // Inside the first segment, so at or before the end of the data area.
            let end = start.wrapping_add(needed as u32);
            self.next_write = if end >= self.pages.data_size() {
                0
            } else {
                end
            };
            return Ok(());
        }
        let descriptor_words = [first.to_le(), second.to_le()];
        let mut offset = self
            .pages
            .write_data(&self.memory, start, descriptor_words.as_bytes())?;
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
        self.next_write = self.write_tail(start, offset, packet.payload.len())?;
        Ok(())
    }

    /// Writes the zero padding and the trailer (see [`write_tail`]).
    #[inline]
    fn write_tail(&self, start: u32, offset: u32, payload_length: usize) -> Result<u32, RingError> {
        write_tail(&self.memory, &self.pages, start, offset, payload_length)
    }

    /// Reserves room for one packet whose payload the caller writes into the ring in place
    /// ([`PacketWriter::write`]), without a staging copy: the descriptor and extra header are
    /// written now, the padding and trailer by [`PacketWriter::finish`], which adds the
    /// packet to the batch that [`commit`](Self::commit) publishes. Dropping the writer
    /// instead abandons the packet (nothing is written past the published index, so the peer
    /// never sees it).
    ///
    /// Payload bytes the caller does not write keep what the ring held there before (bytes of
    /// earlier packets this side sent, which the peer has already seen).
    #[inline]
    pub fn reserve(
        &mut self,
        header: &PacketHeader<'_>,
        payload_length: usize,
    ) -> Result<PacketWriter<'_, M>, RingError> {
        let RingSender {
            memory,
            pages,
            next_write,
            cached_read,
            ..
        } = self;
        reserve_in(
            memory,
            pages,
            next_write,
            cached_read,
            None,
            header,
            payload_length,
        )
    }

    /// A run of writes ([`SendBatch::reserve`]) through one window of the ring's first
    /// segment (all of a contiguous ring), taken here with one check against the memory:
    /// each packet's window is then a part of it, checked against it alone, where
    /// [`reserve`](Self::reserve) asks the memory for a window per packet. What a driver
    /// writing several packets before one [`commit`](Self::commit) uses. Packets are checked
    /// and written exactly as by `reserve`; `commit` publishes them after the batch is
    /// dropped.
    #[inline]
    pub fn batch(&mut self) -> SendBatch<'_, M> {
        let RingSender {
            memory,
            pages,
            next_write,
            cached_read,
            ..
        } = self;
        let segment = pages
            .unbroken_from(0)
            .and_then(|(gpa, length)| memory.window(gpa, length as usize));
        SendBatch {
            memory,
            pages,
            next_write,
            cached_read,
            segment,
        }
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

/// A packet reserved by [`RingSender::reserve`], whose payload is written into the ring in
/// place. [`finish`](Self::finish) adds it to the sender's batch; dropping it abandons it.
#[derive(Debug)]
#[must_use = "a reserved packet is sent only after `finish` and `commit`"]
pub struct PacketWriter<'a, M: GuestMemory> {
    /// The sender's memory, ring placement and next write offset (borrowed apart, so that
    /// the packet's window can borrow the memory beside them).
    memory: &'a M,
    pages: &'a RingPages,
    next_write: &'a mut u32,
    /// Ring offset of the packet's descriptor.
    start: u32,
    /// A window of the whole packet (descriptor at offset 0, payload at 16, trailer after
    /// the padded payload), if it is one piece of guest memory (every packet of a contiguous
    /// ring but the one that wraps) and the memory hands out windows; then the packet ends at
    /// ring offset `next`. Otherwise the payload is reached through the ring from ring offset
    /// `payload`.
    window: Option<Window<'a>>,
    /// Ring offset of the payload's first byte, if there is no window.
    payload: u32,
    /// Ring offset after the packet's trailer, if there is a window.
    next: u32,
    /// Payload length in bytes (without padding).
    payload_length: usize,
}

impl<M: GuestMemory> PacketWriter<'_, M> {
    /// The payload length given to [`RingSender::reserve`].
    pub fn payload_len(&self) -> usize {
        self.payload_length
    }

    /// Copies `data` into the payload at byte `offset` (in place, in the ring). A range beyond
    /// the payload is [`RingError::OutsidePacket`].
    #[inline]
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), RingError> {
        check_inside(offset, data.len(), self.payload_length)?;
        if let Some(window) = &self.window {
            // Inside the payload (checked above), so inside the window: no overflow.
            window
                .write(DESCRIPTOR_SIZE.wrapping_add(offset), data)
                .map_err(window_error)?;
        } else {
            let position = ring_advance(self.payload, offset, self.pages.data_size())
                .ok_or(RingError::BadGeometry)?;
            self.pages.write_data(self.memory, position, data)?;
        }
        Ok(())
    }

    /// Writes the padding and trailer and adds the packet to the sender's batch (published
    /// by [`RingSender::commit`]).
    #[inline]
    pub fn finish(self) -> Result<(), RingError> {
        if let Some(window) = &self.window {
            // The padding was zeroed by `reserve`; the trailer follows the padded payload,
            // the window's last 8 bytes.
            let trailer = u64::from(self.start) << 32;
            window
                .write_u64(window.len().wrapping_sub(TRAILER_SIZE as usize), trailer)
                .map_err(window_error)?;
            *self.next_write = self.next;
        } else {
            let end = ring_advance(self.payload, self.payload_length, self.pages.data_size())
                .ok_or(RingError::BadGeometry)?;
            *self.next_write = write_tail(
                self.memory,
                self.pages,
                self.start,
                end,
                self.payload_length,
            )?;
        }
        Ok(())
    }
}

/// Writes the zero padding after a payload of `payload_length` bytes that ends at ring offset
/// `offset`, then the trailer of the packet that starts at `start`; returns the offset after
/// the trailer.
#[inline]
fn write_tail<M: GuestMemory>(
    memory: &M,
    pages: &RingPages,
    start: u32,
    offset: u32,
    payload_length: usize,
) -> Result<u32, RingError> {
    let (bytes, length) = tail(start, payload_length);
    let tail = bytes.get(..length).ok_or(RingError::BadGeometry)?;
    pages.write_data(memory, offset, tail)
}

/// The bytes after a payload of `payload_length` bytes in the packet that starts at ring
/// offset `start`: its zero padding, then the trailer (the start offset in the high half), in
/// the first `length` of the 16 bytes returned. One little-endian u128 shifted past the
/// padding, built in registers; the padding is below 8 bytes, so the shift is below 96 bits.
#[inline]
fn tail(start: u32, payload_length: usize) -> ([u8; 16], usize) {
    let trailer = u64::from(start) << 32;
    let padding = zero_padding8(payload_length).len();
    let shift = (padding as u32).saturating_mul(8);
    let bytes = u128::from(trailer).wrapping_shl(shift).to_le_bytes();
    (bytes, padding.saturating_add(TRAILER_SIZE as usize))
}

/// Writes a packet that is not laid out whole (large, or with an extra header) into `window`,
/// which holds exactly its ring bytes: descriptor, extra header and its padding, payload, and
/// the payload's padding with the trailer (holding `start`).
fn write_large_in_window(
    window: &Window<'_>,
    descriptor: [u64; 2],
    packet: &OutgoingPacket<'_>,
    start: u32,
) -> Result<(), RingError> {
    let [first, second] = descriptor;
    window
        .write_u128(0, u128::from(second) << 64 | u128::from(first))
        .map_err(window_error)?;
    let mut offset = DESCRIPTOR_SIZE;
    if !packet.extra_header.is_empty() {
        window
            .write(offset, packet.extra_header)
            .map_err(window_error)?;
        offset = offset.saturating_add(packet.extra_header.len());
        let padding = zero_padding8(packet.extra_header.len());
        window.write(offset, padding).map_err(window_error)?;
        offset = offset.saturating_add(padding.len());
    }
    window.write(offset, packet.payload).map_err(window_error)?;
    offset = offset.saturating_add(packet.payload.len());
    // The padding (zeros) and the trailer in one copy, as `write_tail` writes them.
    let (bytes, length) = tail(start, packet.payload.len());
    let tail = bytes.get(..length).ok_or(RingError::BadGeometry)?;
    window.write(offset, tail).map_err(window_error)
}

/// Packets of up to this many 8-byte words (descriptor, payload with its padding, trailer;
/// 256 bytes) with no extra header are laid out whole and written with one copy.
const SMALL_PACKET_WORDS: usize = 32;

/// Lays out an in-band packet with no extra header (descriptor words, payload, zero padding,
/// trailer holding `start`) in `words`, or `None` if it does not fit there. Every word of the
/// returned bytes is written here (the buffer is reused and holds the previous packet).
fn lay_out_small<'a>(
    words: &'a mut [u64; SMALL_PACKET_WORDS],
    descriptor: [u64; 2],
    payload: &[u8],
    start: u32,
) -> Option<&'a [u8]> {
    let payload_words = payload.len().div_ceil(8);
    let total = payload_words.checked_add(3)?;
    let words = words.get_mut(..total)?;
    let (head, rest) = words.split_at_mut_checked(2)?;
    head.copy_from_slice(&[descriptor[0].to_le(), descriptor[1].to_le()]);
    let (body, trailer) = rest.split_at_mut_checked(payload_words)?;
    // The payload's last word is zeroed first, so its padding is zero after the copy.
    if let Some(last) = body.last_mut() {
        *last = 0;
    }
    body.as_mut_bytes()
        .get_mut(..payload.len())?
        .copy_from_slice(payload);
    trailer.copy_from_slice(&[(u64::from(start) << 32).to_le()]);
    Some(words.as_bytes())
}

pub(super) fn check_index(value: u32, size: u32, kind: IndexKind) -> Result<(), RingError> {
    if value >= size || !value.is_multiple_of(8) {
        return Err(RingError::CorruptIndex { kind, value });
    }
    Ok(())
}

/// Checks that a packet of `needed` ring bytes (trailer included) can ever fit in the ring at
/// `pages` and fits now, written from `next_write`; returns its descriptor's `len8`. The
/// cached read index is enough while it shows room; only a ring that looks full costs a load
/// (and validation) of the shared index, which is then cached.
#[inline]
fn make_room<M: GuestMemory>(
    memory: &M,
    pages: &RingPages,
    next_write: u32,
    cached_read: &mut u32,
    needed: usize,
) -> Result<u16, RingError> {
    let size = pages.data_size();
    // `needed` counts the trailer, so the subtraction never saturates.
    let length8 = needed.saturating_sub(TRAILER_SIZE as usize) / 8;
    let Ok(length8) = u16::try_from(length8) else {
        return Err(RingError::TooLarge { needed });
    };
    if needed >= size as usize {
        return Err(RingError::TooLarge { needed });
    }
    let needed = needed as u32;
    if needed >= ring_free(next_write, *cached_read, size) {
        let read = memory.load_u32(pages.field(READ_INDEX_OFFSET))?;
        check_index(read, size, IndexKind::Read)?;
        *cached_read = read;
        if needed >= ring_free(next_write, read, size) {
            return Err(RingError::Full { needed });
        }
    }
    Ok(length8)
}

/// Reserves a packet (see [`RingSender::reserve`]); `segment` is the window of the first
/// segment a [`SendBatch`] holds, if any.
// Always inlined: out of line, the returned writer goes through memory.
#[inline(always)]
fn reserve_in<'a, M: GuestMemory>(
    memory: &'a M,
    pages: &'a RingPages,
    next_write: &'a mut u32,
    cached_read: &mut u32,
    segment: Option<Window<'a>>,
    header: &PacketHeader<'_>,
    payload_length: usize,
) -> Result<PacketWriter<'a, M>, RingError> {
    let needed = header
        .size()
        .saturating_add(padded8(payload_length))
        .saturating_add(TRAILER_SIZE as usize);
    let length8 = make_room(memory, pages, *next_write, cached_read, needed)?;
    let start = *next_write;
    let (first, second) = header.descriptor(length8).words();
    if header.extra_header.is_empty()
        && let Some(window) = match segment {
            // The packet's part of the segment, if it ends inside it.
            Some(segment) => segment.window(start as usize, needed).ok(),
            None => pages
                .unbroken(start, needed)
                .and_then(|gpa| memory.window(gpa, needed)),
        }
    {
        // The whole packet lies in one piece of guest memory (every packet of a
        // contiguous ring but the one that wraps), which the memory hands out as a
        // window: checked once, it reaches the packet's parts by offset from here on,
        // without ring arithmetic or another check against the whole memory.
        window
            .write_u128(0, u128::from(second) << 64 | u128::from(first))
            .map_err(window_error)?;
        let padded = padded8(payload_length);
        if padded != payload_length {
            // Zero the payload's last word first: the caller's bytes then leave its
            // padding zero. `padded ≥ 8` here (a payload that needs padding is not empty),
            // and it ends inside the window, before the trailer.
            window
                .write_u64(DESCRIPTOR_SIZE.wrapping_add(padded).wrapping_sub(8), 0)
                .map_err(window_error)?;
        }
        // The packet ends inside the first segment, so at or before the end of the data
        // area: the offset after it is `start + needed`, or 0 at the very end.
        let end = start.wrapping_add(needed as u32);
        let next = if end >= pages.data_size() { 0 } else { end };
        return Ok(PacketWriter {
            memory,
            pages,
            next_write,
            start,
            window: Some(window),
            payload: 0,
            next,
            payload_length,
        });
    }
    let descriptor_words = [first.to_le(), second.to_le()];
    let mut payload = pages.write_data(memory, start, descriptor_words.as_bytes())?;
    if !header.extra_header.is_empty() {
        payload = pages.write_data(memory, payload, header.extra_header)?;
        payload = pages.write_data(memory, payload, zero_padding8(header.extra_header.len()))?;
    }
    Ok(PacketWriter {
        memory,
        pages,
        next_write,
        start,
        window: None,
        payload,
        next: 0,
        payload_length,
    })
}

/// A run of writes to a [`RingSender`] through one window of the ring's first segment; see
/// [`RingSender::batch`].
#[derive(Debug)]
pub struct SendBatch<'a, M: GuestMemory> {
    /// The sender's memory, placement, next write offset and cached read index (borrowed
    /// apart, so that the window can borrow the memory beside them).
    memory: &'a M,
    pages: &'a RingPages,
    next_write: &'a mut u32,
    cached_read: &'a mut u32,
    /// A window of the first segment from data offset 0, if the memory hands out windows.
    segment: Option<Window<'a>>,
}

impl<M: GuestMemory> SendBatch<'_, M> {
    /// Reserves a packet, as [`RingSender::reserve`] does.
    #[inline]
    pub fn reserve(
        &mut self,
        header: &PacketHeader<'_>,
        payload_length: usize,
    ) -> Result<PacketWriter<'_, M>, RingError> {
        reserve_in(
            self.memory,
            self.pages,
            self.next_write,
            self.cached_read,
            self.segment,
            header,
            payload_length,
        )
    }
}
