//! Packet descriptors and the packets that go into and come out of a ring.

use super::{DescriptorError, RingError, TRAILER_SIZE};
use alloc::vec::Vec;
use core::mem::size_of;
use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A packet type (reference vmbus.md §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketType(pub u16);

impl PacketType {
    /// 0x6: ordinary in-band data.
    pub const DATA_IN_BAND: PacketType = PacketType(0x6);
    /// 0x7: data in transfer pages (host→guest netvsc receive path).
    pub const DATA_USING_TRANSFER_PAGES: PacketType = PacketType(0x7);
    /// 0x9: data in guest buffers described by PFN.
    pub const DATA_USING_GPA_DIRECT: PacketType = PacketType(0x9);
    /// 0xB: a completion; the transaction id echoes the request.
    pub const COMPLETION: PacketType = PacketType(0xB);

    /// Whether rings carry this type (OpenVMM's accepted set).
    pub const fn is_valid(self) -> bool {
        matches!(self.0, 0x6 | 0x7 | 0x9 | 0xB)
    }
}

/// Flag: the sender wants a completion packet.
pub const FLAG_COMPLETION_REQUESTED: u16 = 1;

/// The 16-byte descriptor at the start of every packet.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct PacketDescriptor {
    /// [`PacketType`].
    pub packet_type: U16,
    /// Offset of the payload from the packet start, in 8-byte units.
    pub data_offset8: U16,
    /// Packet length (without the trailer), in 8-byte units.
    pub length8: U16,
    /// Flags; only `FLAG_COMPLETION_REQUESTED` (bit 0) is defined.
    pub flags: U16,
    /// Transaction id.
    pub transaction_id: U64,
}
const _: () = assert!(size_of::<PacketDescriptor>() == 16);
const _: () = assert!(core::mem::offset_of!(PacketDescriptor, transaction_id) == 8);

impl PacketDescriptor {
    /// The descriptor as the two little-endian words it occupies in the ring: type, offset8,
    /// len8 and flags (low to high), then the transaction id.
    pub fn words(&self) -> (u64, u64) {
        let first = u64::from(self.packet_type.get())
            | u64::from(self.data_offset8.get()) << 16
            | u64::from(self.length8.get()) << 32
            | u64::from(self.flags.get()) << 48;
        (first, self.transaction_id.get())
    }

    /// The descriptor read from its two ring words (the inverse of [`words`](Self::words)).
    pub fn from_words(first: u64, second: u64) -> Self {
        PacketDescriptor {
            packet_type: U16::new(first as u16),
            data_offset8: U16::new((first >> 16) as u16),
            length8: U16::new((first >> 32) as u16),
            flags: U16::new((first >> 48) as u16),
            transaction_id: U64::new(second),
        }
    }

    /// Validates the descriptor against the bytes available to read.
    pub fn validate(&self, available: u32) -> Result<(), DescriptorError> {
        let packet_type = PacketType(self.packet_type.get());
        if !packet_type.is_valid() {
            return Err(DescriptorError::BadType(packet_type.0));
        }
        let flags = self.flags.get();
        if flags & !FLAG_COMPLETION_REQUESTED != 0 {
            return Err(DescriptorError::BadFlags(flags));
        }
        let (offset8, length8) = (self.data_offset8.get(), self.length8.get());
        if offset8 < 2 || offset8 > length8 {
            return Err(DescriptorError::BadOffset { offset8, length8 });
        }
        #[allow(
            clippy::arithmetic_side_effects,
            reason = "length8 ≤ u16::MAX, so length8 · 8 + TRAILER_SIZE < 2^20 fits a u32"
        )]
        let claimed = u32::from(length8) * 8 + TRAILER_SIZE;
        if claimed > available {
            return Err(DescriptorError::Overlong { claimed, available });
        }
        Ok(())
    }
}

/// Everything of a packet to write but its payload: for [`RingSender::reserve`], which lets
/// the caller write the payload in place.
///
/// [`RingSender::reserve`]: super::RingSender::reserve
#[derive(Clone, Copy, Debug)]
pub struct PacketHeader<'a> {
    /// Type.
    pub packet_type: PacketType,
    /// Transaction id (use a non-zero id when requesting a completion).
    pub transaction_id: u64,
    /// Ask the peer for a completion.
    pub completion_requested: bool,
    /// Type-specific extra header (padded to 8 bytes on the wire).
    pub extra_header: &'a [u8],
}

impl<'a> PacketHeader<'a> {
    /// The header of an in-band data packet.
    pub fn in_band(transaction_id: u64, completion_requested: bool) -> Self {
        PacketHeader {
            packet_type: PacketType::DATA_IN_BAND,
            transaction_id,
            completion_requested,
            extra_header: &[],
        }
    }

    /// The header of a completion for `transaction_id`.
    pub fn completion(transaction_id: u64) -> Self {
        PacketHeader {
            packet_type: PacketType::COMPLETION,
            transaction_id,
            completion_requested: false,
            extra_header: &[],
        }
    }

    /// The header of a GPA-direct packet; `extra_header` comes from [`gpa_direct_header`].
    /// Completion is requested, as guests do for these.
    pub fn gpa_direct(transaction_id: u64, extra_header: &'a [u8]) -> Self {
        PacketHeader {
            packet_type: PacketType::DATA_USING_GPA_DIRECT,
            transaction_id,
            completion_requested: true,
            extra_header,
        }
    }

    /// Bytes of descriptor + padded extra header, i.e. `offset8 · 8`. Saturates at
    /// `usize::MAX`, a size no ring holds.
    pub fn size(&self) -> usize {
        size_of::<PacketDescriptor>().saturating_add(padded8(self.extra_header.len()))
    }

    /// The descriptor of a packet with this header and `length8` (the caller checked that the
    /// whole packet, hence its header, fits `len8`, so `offset8` fits a `u16` too).
    pub(super) fn descriptor(&self, length8: u16) -> PacketDescriptor {
        PacketDescriptor {
            packet_type: U16::new(self.packet_type.0),
            data_offset8: U16::new((self.size() / 8) as u16),
            length8: U16::new(length8),
            flags: U16::new(if self.completion_requested {
                FLAG_COMPLETION_REQUESTED
            } else {
                0
            }),
            transaction_id: U64::new(self.transaction_id),
        }
    }
}

/// Checks that `[offset, offset + length)` lies inside a part of a packet `packet_length`
/// bytes long (for in-place payload access).
#[inline]
pub(super) fn check_inside(
    offset: usize,
    length: usize,
    packet_length: usize,
) -> Result<(), RingError> {
    match offset.checked_add(length) {
        Some(end) if end <= packet_length => Ok(()),
        _ => Err(outside(offset, length, packet_length)),
    }
}

/// The error for an access outside a packet's part (kept out of line: the cold path).
#[cold]
pub(super) fn outside(offset: usize, length: usize, packet_length: usize) -> RingError {
    RingError::OutsidePacket {
        offset,
        length,
        packet_length,
    }
}

/// A packet to write.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingPacket<'a> {
    /// Type.
    pub packet_type: PacketType,
    /// Transaction id (use a non-zero id when requesting a completion).
    pub transaction_id: u64,
    /// Ask the peer for a completion.
    pub completion_requested: bool,
    /// Type-specific extra header (padded to 8 bytes on the wire).
    pub extra_header: &'a [u8],
    /// Payload (padded to 8 bytes on the wire).
    pub payload: &'a [u8],
}

impl<'a> OutgoingPacket<'a> {
    /// An in-band data packet.
    pub fn in_band(transaction_id: u64, completion_requested: bool, payload: &'a [u8]) -> Self {
        OutgoingPacket {
            packet_type: PacketType::DATA_IN_BAND,
            transaction_id,
            completion_requested,
            extra_header: &[],
            payload,
        }
    }

    /// A completion for `transaction_id`.
    pub fn completion(transaction_id: u64, payload: &'a [u8]) -> Self {
        OutgoingPacket {
            packet_type: PacketType::COMPLETION,
            transaction_id,
            completion_requested: false,
            extra_header: &[],
            payload,
        }
    }

    /// A GPA-direct packet; `extra_header` comes from [`gpa_direct_header`]. Completion is
    /// requested, as guests do for these.
    pub fn gpa_direct(transaction_id: u64, extra_header: &'a [u8], payload: &'a [u8]) -> Self {
        OutgoingPacket {
            packet_type: PacketType::DATA_USING_GPA_DIRECT,
            transaction_id,
            completion_requested: true,
            extra_header,
            payload,
        }
    }

    /// Everything but the payload.
    pub fn header(&self) -> PacketHeader<'a> {
        PacketHeader {
            packet_type: self.packet_type,
            transaction_id: self.transaction_id,
            completion_requested: self.completion_requested,
            extra_header: self.extra_header,
        }
    }

    /// Bytes of descriptor + extra header, i.e. `offset8 · 8`. Saturates at `usize::MAX`,
    /// a size no ring holds (the sender then refuses the packet as too large).
    pub fn header_size(&self) -> usize {
        self.header().size()
    }

    /// Bytes the packet occupies in the ring, trailer included. Saturates at `usize::MAX`, as
    /// [`header_size`](Self::header_size).
    pub fn ring_size(&self) -> usize {
        self.header_size()
            .saturating_add(padded8(self.payload.len()))
            .saturating_add(TRAILER_SIZE as usize)
    }
}

/// `length` rounded up to a multiple of 8, saturating at `usize::MAX` (a size no ring holds).
pub(super) const fn padded8(length: usize) -> usize {
    match length.checked_next_multiple_of(8) {
        Some(padded) => padded,
        None => usize::MAX,
    }
}

/// The zero bytes that pad `length` bytes to a multiple of 8: `(−length) mod 8` of them
/// (wrapping negation keeps the residue because 2^usize::BITS is a multiple of 8).
pub(super) fn zero_padding8(length: usize) -> &'static [u8] {
    const ZEROS: [u8; 8] = [0; 8];
    ZEROS.get(..length.wrapping_neg() % 8).unwrap_or(&[])
}

/// `units · 8` bytes, for the descriptor's 8-byte-unit fields.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "units ≤ u16::MAX, so units · 8 < 2^19 fits any usize of 32 bits or more"
)]
pub(super) fn units8_to_bytes(units: u16) -> usize {
    usize::from(units) * 8
}

/// Bytes an in-band packet with `payload_length` bytes occupies in a ring. Saturates at
/// `usize::MAX`, a size no ring holds.
pub const fn in_band_packet_size(payload_length: usize) -> usize {
    16usize
        .saturating_add(padded8(payload_length))
        .saturating_add(TRAILER_SIZE as usize)
}

/// One range of a GPA-direct packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpaDirectRange {
    /// Bytes in the range.
    pub byte_count: u32,
    /// Offset into the first page.
    pub byte_offset: u32,
    /// Guest frame numbers.
    pub pfns: Vec<u64>,
}

/// Builds the extra header of a GPA-direct packet: reserved u32, range count u32, then each
/// range `{byte_count u32, byte_offset u32, PFN u64…}`.
pub fn gpa_direct_header(ranges: &[GpaDirectRange]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    for range in ranges {
        bytes.extend_from_slice(&range.byte_count.to_le_bytes());
        bytes.extend_from_slice(&range.byte_offset.to_le_bytes());
        for pfn in &range.pfns {
            bytes.extend_from_slice(&pfn.to_le_bytes());
        }
    }
    bytes
}

/// Why a GPA-direct extra header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpaDirectError {
    /// Shorter than its range count says.
    Truncated,
    /// Zero ranges (OpenVMM rejects these too).
    NoRanges,
    /// A range's offset is beyond its first page.
    BadOffset,
}

/// Parses the extra header of a received GPA-direct packet (the inverse of
/// [`gpa_direct_header`]). Works on the copy the receiver made; never panics.
pub fn parse_gpa_direct_header(bytes: &[u8]) -> Result<Vec<GpaDirectRange>, GpaDirectError> {
    let word = |offset: usize| -> Result<u32, GpaDirectError> {
        let slice = offset
            .checked_add(4)
            .and_then(|end| bytes.get(offset..end))
            .ok_or(GpaDirectError::Truncated)?;
        let array: [u8; 4] = slice.try_into().map_err(|_| GpaDirectError::Truncated)?;
        Ok(u32::from_le_bytes(array))
    };
    let range_count = word(4)?;
    if range_count == 0 {
        return Err(GpaDirectError::NoRanges);
    }
    let mut offset: usize = 8;
    let mut ranges = Vec::new();
    for _ in 0..range_count {
        let byte_count = word(offset)?;
        let byte_offset = word(offset.checked_add(4).ok_or(GpaDirectError::Truncated)?)?;
        if byte_offset >= 4096 {
            return Err(GpaDirectError::BadOffset);
        }
        offset = offset.checked_add(8).ok_or(GpaDirectError::Truncated)?;
        let pages = crate::gpadl::GpaRange::pages_spanned(byte_offset, byte_count);
        let range_bytes = usize::try_from(pages)
            .ok()
            .and_then(|pages| pages.checked_mul(8));
        let (end, range) = range_bytes
            .and_then(|length| offset.checked_add(length))
            .and_then(|end| Some((end, bytes.get(offset..end)?)))
            .ok_or(GpaDirectError::Truncated)?;
        let pfns = range
            .chunks_exact(8)
            .map(|chunk| {
                let mut value = [0u8; 8];
                value.copy_from_slice(chunk);
                u64::from_le_bytes(value)
            })
            .collect();
        ranges.push(GpaDirectRange {
            byte_count,
            byte_offset,
            pfns,
        });
        offset = end;
    }
    Ok(ranges)
}

/// Where a received packet's parts lie in the caller's buffer (which holds the packet copied
/// out of the ring, descriptor first, without the trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingPacket {
    /// Type.
    pub packet_type: PacketType,
    /// Transaction id.
    pub transaction_id: u64,
    /// Whether the sender asked for a completion.
    pub completion_requested: bool,
    /// Offset of the payload in the buffer (`offset8 · 8`).
    pub payload_offset: usize,
    /// Packet length in the buffer (`len8 · 8`).
    pub length: usize,
}

impl IncomingPacket {
    /// The payload (padded to 8 bytes).
    pub fn payload<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        buffer.get(self.payload_offset..self.length).unwrap_or(&[])
    }

    /// The extra header between the descriptor and the payload.
    pub fn extra_header<'a>(&self, buffer: &'a [u8]) -> &'a [u8] {
        buffer
            .get(size_of::<PacketDescriptor>()..self.payload_offset)
            .unwrap_or(&[])
    }
}
