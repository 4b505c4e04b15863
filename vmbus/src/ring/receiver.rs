//! The consumer side of one ring.

use super::packet::{
    FLAG_COMPLETION_REQUESTED, IncomingPacket, PacketDescriptor, PacketType, check_inside, outside,
    units8_to_bytes,
};
use super::sender::check_index;
use super::window_error;
use super::{
    DescriptorError, FEATURE_BITS_OFFSET, FEATURE_PENDING_SEND_SIZE, INTERRUPT_MASK_OFFSET,
    IndexKind, PENDING_SEND_SIZE_OFFSET, READ_INDEX_OFFSET, RingError, RingPages, TRAILER_SIZE,
    WRITE_INDEX_OFFSET, ring_advance, ring_distance, ring_free,
};
use alloc::vec::Vec;
use core::mem::size_of;
use hyperv::memory::{GuestMemory, Window};
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
    /// caught up with the cached value. Every read that finds the ring corrupt forgets it
    /// ([`forget_write`]), so that the next one judges the ring by what the producer has
    /// published since, never again by a stale value.
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
    #[inline]
    fn load_write_index(&self) -> Result<u32, RingError> {
        let write = self.memory.load_u32(self.pages.field(WRITE_INDEX_OFFSET))?;
        check_index(write, self.pages.data_size(), IndexKind::Write)?;
        Ok(write)
    }

    fn available(&self) -> Result<u32, RingError> {
        let write = self.load_write_index()?;
        Ok(ring_distance(self.next_read, write, self.pages.data_size()))
    }

    /// Whether nothing is left to read.
    pub fn is_empty(&self) -> Result<bool, RingError> {
        Ok(self.available()? == 0)
    }

    /// Bytes readable now, or `None` if the ring is empty; an error if fewer bytes are
    /// readable than the smallest packet. Judged by the cached write index while that shows
    /// at least a descriptor and a trailer; reloaded when it shows fewer (drained, or short:
    /// an error only if the shared index still says so, never by a stale copy).
    #[inline]
    fn readable(&mut self) -> Result<Option<u32>, RingError> {
        let size = self.pages.data_size();
        let available = ring_distance(self.next_read, self.cached_write, size);
        if available >= MINIMUM_PACKET {
            return Ok(Some(available));
        }
        self.cached_write = self.load_write_index()?;
        readable_after_load(self.next_read, self.cached_write, size)
    }

    /// Consumes the packet at the read position, `length` bytes long without its trailer
    /// (not published until [`commit`](Self::commit)).
    #[inline]
    fn consume(&mut self, length: usize) {
        consume(
            &mut self.next_read,
            &mut self.last_start,
            self.pages.data_size(),
            length,
        );
    }

    /// The next packet, validated but left in the ring: its payload and extra header are read
    /// in place ([`PacketReader::read_payload`]) and [`PacketReader::release`] consumes it
    /// (published by [`commit`](Self::commit)); dropping the reader leaves it for the next
    /// `peek`. Returns `None` if the ring is empty; a corrupt ring returns an error and
    /// consumes nothing.
    ///
    /// The descriptor is copied out once and validated; the payload stays in memory the peer
    /// can still change, so what the caller reads from it is a copy to validate, as with
    /// [`read_packet`](Self::read_packet).
    #[inline]
    pub fn peek(&mut self) -> Result<Option<PacketReader<'_, M>>, RingError> {
        let Some(available) = self.readable()? else {
            return Ok(None);
        };
        let RingReceiver {
            memory,
            pages,
            next_read,
            cached_write,
            last_start,
            ..
        } = self;
        let (descriptor, window) = descriptor_at(memory, pages, *next_read, available)
            .map_err(|error| forget_write(cached_write, *next_read, error))?;
        // Byte lengths derived once from the validated copy (offset8 ≤ len8, so the
        // subtraction does not wrap), kept rather than re-derived on every call.
        let length = units8_to_bytes(descriptor.length8.get());
        let payload_offset = units8_to_bytes(descriptor.data_offset8.get());
        let payload_length = length.wrapping_sub(payload_offset);
        // The payload's part of the packet's window (`validate` checked that the payload
        // ends inside the packet, `descriptor_at` that the packet ends inside the window).
        let window = window.and_then(|window| window.window(payload_offset, payload_length).ok());
        Ok(Some(PacketReader {
            memory,
            pages,
            next_read,
            last_start,
            words: descriptor.words(),
            length,
            payload_offset,
            payload_length,
            window,
        }))
    }

    /// A run of reads ([`ReceiveBatch::peek`]) through one window of the ring's first
    /// segment (all of a contiguous ring), taken here with one check against the memory:
    /// each packet's descriptor is read through it and the packet's window is the part of it
    /// the validated length gives, where [`peek`](Self::peek) asks the memory for a window
    /// per packet. What a driver draining the ring uses. Packets are validated and read
    /// exactly as by `peek`; [`commit`](Self::commit) publishes them after the batch is
    /// dropped.
    #[inline]
    pub fn batch(&mut self) -> ReceiveBatch<'_, M> {
        let RingReceiver {
            memory,
            pages,
            next_read,
            cached_write,
            last_start,
            ..
        } = self;
        let segment = pages
            .unbroken_from(0)
            .and_then(|(gpa, length)| memory.window(gpa, length as usize));
        ReceiveBatch {
            memory,
            pages,
            next_read,
            cached_write,
            last_start,
            segment,
        }
    }

    /// Copies the next packet (without its trailer) into `buffer` and validates the copy.
    /// Returns `None` if the ring is empty. The read index is not published until
    /// [`commit`](Self::commit). A corrupt ring returns an error and consumes nothing.
    pub fn read_packet(
        &mut self,
        buffer: &mut Vec<u8>,
    ) -> Result<Option<IncomingPacket>, RingError> {
        let Some(available) = self.readable()? else {
            return Ok(None);
        };
        let (descriptor, window) =
            descriptor_at(&self.memory, &self.pages, self.next_read, available)
                .map_err(|error| forget_write(&mut self.cached_write, self.next_read, error))?;
        let length = units8_to_bytes(descriptor.length8.get());
        // Reuse the caller's buffer: only bytes beyond its current length are zeroed (a
        // buffer reused for packets of similar size is never zero-filled again), and every
        // byte kept is overwritten by the copy below.
        if buffer.len() < length {
            buffer.resize(length, 0);
        } else {
            buffer.truncate(length);
        }
        // `validate` checked offset8 ≥ 2 and offset8 ≤ length8, so the packet holds at least
        // the 16-byte descriptor and the body range exists.
        let (head, body) = buffer
            .split_at_mut_checked(size_of::<PacketDescriptor>())
            .ok_or(RingError::BadGeometry)?;
        let (first, second) = descriptor.words();
        let (first_bytes, second_bytes) = head.split_at_mut(8);
        first_bytes.copy_from_slice(&first.to_le_bytes());
        second_bytes.copy_from_slice(&second.to_le_bytes());
        if let Some(window) = window {
            // The packet lies in the window (`descriptor_at` checked its length): the body
            // is one copy, with no other check against the whole memory.
            window
                .read(size_of::<PacketDescriptor>(), body)
                .map_err(window_error)?;
        } else {
            let body_offset = ring_advance(
                self.next_read,
                size_of::<PacketDescriptor>(),
                self.pages.data_size(),
            )
            .ok_or(RingError::BadGeometry)?;
            self.pages.read_data(&self.memory, body_offset, body)?;
        }
        self.consume(length);
        Ok(Some(incoming(&descriptor)))
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

/// Reads and validates the descriptor of the packet at ring offset `read`, with `available`
/// bytes readable (at least a descriptor and a trailer). With it, a window from the packet's
/// first byte if the whole packet (without its trailer) is one piece of guest memory and the
/// memory hands out windows.
#[inline]
fn descriptor_at<'a, M: GuestMemory>(
    memory: &'a M,
    pages: &RingPages,
    read: u32,
    available: u32,
) -> Result<(PacketDescriptor, Option<Window<'a>>), RingError> {
    // The descriptor is read once, as two whole words (one copy, wrapping if it must), and
    // validated before its length is trusted; kept as words, it is never reloaded with a
    // wider access than the copy stored it with (no store-forwarding stall).
    let window = pages
        .unbroken_from(read)
        .filter(|(_, room)| *room >= size_of::<PacketDescriptor>() as u32)
        .and_then(|(gpa, room)| memory.window(gpa, room as usize));
    let descriptor = match &window {
        // One window of the rest of the first segment, checked once; one 16-byte load.
        Some(window) => {
            let words = window.read_u128(0).map_err(window_error)?;
            PacketDescriptor::from_words(words as u64, (words >> 64) as u64)
        }
        None => {
            let mut words = [0u64; 2];
            pages.read_data(memory, read, words.as_mut_bytes())?;
            PacketDescriptor::from_words(u64::from_le(words[0]), u64::from_le(words[1]))
        }
    };
    descriptor
        .validate(available)
        .map_err(RingError::CorruptDescriptor)?;
    let length = units8_to_bytes(descriptor.length8.get());
    let window = window.filter(|window| length <= window.len());
    Ok((descriptor, window))
}

/// The fewest bytes a packet occupies: a descriptor and a trailer.
const MINIMUM_PACKET: u32 = size_of::<PacketDescriptor>() as u32 + TRAILER_SIZE;

/// Bytes readable from `read` up to a write index `write` just loaded: `None` if none, an
/// error if fewer than [`MINIMUM_PACKET`].
#[inline]
fn readable_after_load(read: u32, write: u32, size: u32) -> Result<Option<u32>, RingError> {
    match ring_distance(read, write, size) {
        0 => Ok(None),
        available if available < MINIMUM_PACKET => {
            Err(RingError::CorruptDescriptor(DescriptorError::Truncated {
                available,
            }))
        }
        available => Ok(Some(available)),
    }
}

/// Forgets the cached write index after the packet at `read` was found corrupt, and returns
/// `error`: the cache is set to `read` ("nothing known to be readable"), so the next read
/// loads the producer's index afresh. A cached index says which bytes the producer had
/// published; an honest producer never rewrites them before they are consumed, so a packet
/// inside them stays valid, but a hostile one may leave garbage at the read position (or a
/// descriptor longer than the cached index allows), then publish a fresh packet there or an
/// empty ring. Judged by the cache alone, the reader would report the same error forever,
/// whatever the producer publishes next; with the cache forgotten, one read reports the error
/// and the next judges the ring by the shared index again. (A cache showing fewer bytes than
/// a packet is never trusted at all: `readable` reloads it. That was the racing-peer test's
/// stuck reader: `Truncated { available: 8 }` from a cached index, for 50 M reads.) Out of
/// line: the corrupt path.
#[cold]
fn forget_write(cached_write: &mut u32, read: u32, error: RingError) -> RingError {
    *cached_write = read;
    error
}

/// Moves the read position `next_read` of a ring of `size` bytes past the packet there,
/// `length` bytes long without its trailer, remembering its start in `last_start`.
#[inline]
fn consume(next_read: &mut u32, last_start: &mut Option<u32>, size: u32, length: usize) {
    // `validate` checked `length + 8 ≤ available < size`, so the end lies less than one ring
    // size past `next_read`: one compare and at most one subtraction (all in u64, where these
    // sums of values below 2^32 cannot overflow).
    let size = u64::from(size);
    let end = u64::from(*next_read)
        .wrapping_add(length as u64)
        .wrapping_add(u64::from(TRAILER_SIZE));
    let next = if end >= size {
        end.wrapping_sub(size)
    } else {
        end
    };
    *last_start = Some(*next_read);
    // Below `size`, a u32: the cast is exact.
    *next_read = next as u32;
}

/// The packet a validated descriptor describes, as laid out from its first byte.
#[inline]
fn incoming(descriptor: &PacketDescriptor) -> IncomingPacket {
    IncomingPacket {
        packet_type: PacketType(descriptor.packet_type.get()),
        transaction_id: descriptor.transaction_id.get(),
        completion_requested: descriptor.flags.get() & FLAG_COMPLETION_REQUESTED != 0,
        payload_offset: units8_to_bytes(descriptor.data_offset8.get()),
        length: units8_to_bytes(descriptor.length8.get()),
    }
}

/// The next packet of a ring, validated and read in place; see [`RingReceiver::peek`].
#[derive(Debug)]
#[must_use = "a peeked packet stays in the ring until `release`"]
pub struct PacketReader<'a, M: GuestMemory> {
    /// The receiver's memory, ring placement, read position and last packet start (borrowed
    /// apart, so that the packet's window can borrow the memory beside them).
    memory: &'a M,
    pages: &'a RingPages,
    next_read: &'a mut u32,
    last_start: &'a mut Option<u32>,
    /// The copy of the packet's descriptor that was validated, as its two words
    /// ([`PacketDescriptor::words`]): kept whole, never stored as 16-bit fields and reloaded
    /// wider (a store-forwarding stall that cost a quarter of the time per 64-byte packet).
    words: (u64, u64),
    /// The packet's length without its trailer (`len8 · 8`), from the validated copy.
    length: usize,
    /// Offset of the payload from the packet's first byte (`offset8 · 8`), from the
    /// validated copy.
    payload_offset: usize,
    /// Length of the payload (`length − payload_offset`; `validate` checked offset8 ≤ len8).
    payload_length: usize,
    /// A window of exactly the payload, if the packet lies in one piece of guest memory and
    /// the memory hands out windows: its own bounds check is the payload's, so a read through
    /// it is checked once. Otherwise (and for the extra header) the packet is reached
    /// through the ring.
    window: Option<Window<'a>>,
}

impl<M: GuestMemory> PacketReader<'_, M> {
    /// The packet's type, transaction id, flags and layout (from the copy of its descriptor
    /// that was validated; offsets count from the packet's first byte).
    pub fn packet(&self) -> IncomingPacket {
        incoming(&PacketDescriptor::from_words(self.words.0, self.words.1))
    }

    /// Length of the payload in bytes: `(len8 − offset8) · 8`, padding included (the wire
    /// format carries no finer length).
    #[inline]
    pub fn payload_len(&self) -> usize {
        self.payload_length
    }

    /// Length of the extra header between the descriptor and the payload, in bytes.
    pub fn extra_header_len(&self) -> usize {
        self.payload_offset
            .saturating_sub(size_of::<PacketDescriptor>())
    }

    /// Copies `buffer.len()` payload bytes from byte `offset` of the payload, in place from
    /// the ring. A range beyond the payload is [`RingError::OutsidePacket`].
    #[inline]
    pub fn read_payload(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RingError> {
        if let Some(window) = &self.window {
            // The window is exactly the payload: its check is the payload's bound (one check,
            // where a check of the payload and one of a packet window took 17 instructions
            // per 64-byte packet).
            return window
                .read(offset, buffer)
                .map_err(|_| outside(offset, buffer.len(), self.payload_length));
        }
        check_inside(offset, buffer.len(), self.payload_length)?;
        self.read_through_ring(self.payload_offset, offset, buffer)
    }

    /// Copies `buffer.len()` bytes of the extra header from its byte `offset`. A range beyond
    /// the extra header is [`RingError::OutsidePacket`].
    pub fn read_extra_header(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RingError> {
        check_inside(offset, buffer.len(), self.extra_header_len())?;
        self.read_through_ring(size_of::<PacketDescriptor>(), offset, buffer)
    }

    /// Copies from packet byte `part + offset` through the ring (a range already checked to
    /// be inside the packet, which `validate` checked to be inside the readable bytes).
    #[inline]
    fn read_through_ring(
        &self,
        part: usize,
        offset: usize,
        buffer: &mut [u8],
    ) -> Result<(), RingError> {
        let position = part
            .checked_add(offset)
            .and_then(|from_start| {
                ring_advance(*self.next_read, from_start, self.pages.data_size())
            })
            .ok_or(RingError::BadGeometry)?;
        self.pages.read_data(self.memory, position, buffer)
    }

    /// Consumes the packet (the read index is published by [`RingReceiver::commit`]).
    #[inline]
    pub fn release(self) -> Result<(), RingError> {
        consume(
            self.next_read,
            self.last_start,
            self.pages.data_size(),
            self.length,
        );
        Ok(())
    }
}

/// A run of reads from a [`RingReceiver`] through one window of the ring's first segment;
/// see [`RingReceiver::batch`]. Its `peek` is a copy of the receiver's with the window
/// reached through the batch (kept apart, so that the receiver's own `peek` compiles as
/// before: sharing one body cost it 12 instructions per 64-byte packet, docs/performance.md).
#[derive(Debug)]
pub struct ReceiveBatch<'a, M: GuestMemory> {
    /// The receiver's memory, placement, read position, cached write index and last packet
    /// start (borrowed apart, so that the window can borrow the memory beside them).
    memory: &'a M,
    pages: &'a RingPages,
    next_read: &'a mut u32,
    cached_write: &'a mut u32,
    last_start: &'a mut Option<u32>,
    /// A window of the first segment from data offset 0, if the memory hands out windows.
    segment: Option<Window<'a>>,
}

impl<M: GuestMemory> ReceiveBatch<'_, M> {
    /// The next packet, as [`RingReceiver::peek`] returns it (`None` if the ring is empty; a
    /// corrupt ring is an error and consumes nothing).
    #[inline]
    pub fn peek(&mut self) -> Result<Option<PacketReader<'_, M>>, RingError> {
        let size = self.pages.data_size();
        let read = *self.next_read;
        // Bytes readable by the cached write index, reloaded only when it shows fewer than a
        // packet (drained, or short), as `RingReceiver::readable`: one compare on the hot
        // path.
        let mut available = ring_distance(read, *self.cached_write, size);
        if available < MINIMUM_PACKET {
            let write = self.memory.load_u32(self.pages.field(WRITE_INDEX_OFFSET))?;
            check_index(write, size, IndexKind::Write)?;
            *self.cached_write = write;
            match readable_after_load(read, write, size)? {
                Some(fresh) => available = fresh,
                None => return Ok(None),
            }
        }
        let (descriptor, window, length, payload_offset) = match self
            .segment
            .as_ref()
            .and_then(|segment| Some((segment, segment.read_u128(read as usize).ok()?)))
        {
            // The descriptor through the batch's window (one 16-byte load checked against
            // it), validated; the payload's window is the part of the segment the validated
            // lengths give (exactly the payload, so a read through it is checked once), or
            // none if the packet runs past the segment.
            Some((segment, words)) => {
                let descriptor = PacketDescriptor::from_words(words as u64, (words >> 64) as u64);
                if let Err(error) = descriptor.validate(available) {
                    return Err(self.corrupt(RingError::CorruptDescriptor(error)));
                }
                let length = units8_to_bytes(descriptor.length8.get());
                let payload_offset = units8_to_bytes(descriptor.data_offset8.get());
                // `read` < the ring size and `payload_offset` < 2^19: no overflow.
                let payload = (read as usize).wrapping_add(payload_offset);
                let window = segment
                    .window(payload, length.wrapping_sub(payload_offset))
                    .ok();
                (descriptor, window, length, payload_offset)
            }
            None => match descriptor_at(self.memory, self.pages, read, available) {
                Ok((descriptor, window)) => {
                    let length = units8_to_bytes(descriptor.length8.get());
                    let payload_offset = units8_to_bytes(descriptor.data_offset8.get());
                    let payload_length = length.wrapping_sub(payload_offset);
                    let window = window
                        .and_then(|window| window.window(payload_offset, payload_length).ok());
                    (descriptor, window, length, payload_offset)
                }
                Err(error) => return Err(self.corrupt(error)),
            },
        };
        Ok(Some(PacketReader {
            memory: self.memory,
            pages: self.pages,
            next_read: self.next_read,
            last_start: self.last_start,
            words: descriptor.words(),
            length,
            payload_offset,
            payload_length: length.wrapping_sub(payload_offset),
            window,
        }))
    }

    /// [`forget_write`] for this batch's receiver (out of line: the corrupt path).
    #[cold]
    #[inline(never)]
    fn corrupt(&mut self, error: RingError) -> RingError {
        forget_write(self.cached_write, *self.next_read, error)
    }
}
