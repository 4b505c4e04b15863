//! VMBus ring buffers over [`GuestMemory`](hyperv::memory::GuestMemory).
//!
//! A channel has two rings in one GPADL: pages `[0, S)` carry guest→host packets, pages
//! `[S, end)` host→guest packets. Each ring is a 4 KiB control page followed by a data area of
//! `D` bytes (reference vmbus.md §5):
//!
//! | control offset | field | written by |
//! |---|---|---|
//! | 0 | write index | producer |
//! | 4 | read index | consumer |
//! | 8 | interrupt mask | consumer |
//! | 12 | pending send size | producer |
//! | 64 | feature bits (bit 0: pending send size supported) | producer |
//!
//! Packets are a 16-byte descriptor, an optional extra header, the payload padded to 8 bytes and
//! an 8-byte trailer (the packet's start offset << 32). A write of `T` bytes needs `T < free`
//! so the ring is never exactly full (write == read means empty).
//!
//! Each direction has one owner: [`RingSender`] produces, [`RingReceiver`] consumes. Both keep
//! their own index privately, validate the peer's index on every load, copy packets out
//! before looking at them, and report whether the peer must be signalled: the sender when the
//! ring went from empty to non-empty and the peer has not masked interrupts, the receiver when
//! the free space crossed the peer's `pending_send_sz`. Work can be batched: write or read
//! several packets, then `commit` once.
//!
//! Two APIs move packets. The copying one takes the payload as a slice
//! ([`RingSender::write_packet`]) and copies a whole packet out into a `Vec`
//! ([`RingReceiver::read_packet`]). The in-place one, in the shape of OpenVMM's `vmbus_ring`
//! (`OutgoingRing::write` returning a `RingRange` to fill, `IncomingRing::read` returning
//! ranges to read; microsoft/openvmm `vm/devices/vmbus/vmbus_ring/src/lib.rs`), copies each
//! payload once each way: [`RingSender::reserve`] writes the descriptor and hands out a
//! [`PacketWriter`] that writes the payload into the ring; [`RingReceiver::peek`] validates a
//! copy of the descriptor and hands out a [`PacketReader`] that reads the payload out of the
//! ring, bounded by that copy. A packet that lies in one piece of guest memory (all but the
//! wrapping one in a contiguous ring) is found with one lookup and then reached by address.

mod channel;
mod layout;
mod packet;
mod receiver;
mod sender;

pub use channel::ChannelRings;
pub use layout::{RingPages, initialize_control_page, split_channel_rings};
pub use packet::{
    GpaDirectError, GpaDirectRange, IncomingPacket, OutgoingPacket, PacketDescriptor, PacketHeader,
    PacketType, gpa_direct_header, in_band_packet_size, parse_gpa_direct_header,
};
pub use receiver::{PacketReader, ReceiveBatch, RingReceiver};
pub use sender::{PacketWriter, RingSender, SendBatch};

use core::fmt;
use hyperv::memory::MemoryError;

/// Offset of the write index in the control page.
pub const WRITE_INDEX_OFFSET: u64 = 0;
/// Offset of the read index in the control page.
pub const READ_INDEX_OFFSET: u64 = 4;
/// Offset of the interrupt mask in the control page.
pub const INTERRUPT_MASK_OFFSET: u64 = 8;
/// Offset of the pending send size in the control page.
pub const PENDING_SEND_SIZE_OFFSET: u64 = 12;
/// Offset of the feature bits in the control page.
pub const FEATURE_BITS_OFFSET: u64 = 64;
/// Feature bit: the producer honours `pending_send_sz` signalling.
pub const FEATURE_PENDING_SEND_SIZE: u32 = 1;
/// Size of the control page.
pub const CONTROL_PAGE_SIZE: u64 = 4096;
/// Size of the trailer after every packet.
pub const TRAILER_SIZE: u32 = 8;
/// Default data-area size of each ring (256 KiB), plus one control page.
pub const DEFAULT_RING_DATA_SIZE: u32 = 256 * 1024;
/// Largest payload a dxg packet may carry (128 KiB); fits a default ring.
pub const MAX_DXG_PACKET_PAYLOAD: usize = 128 * 1024;

/// Which control-page index was found corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// The write index.
    Write,
    /// The read index.
    Read,
}

/// Why a descriptor was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// A packet type the ring does not carry.
    BadType(u16),
    /// A flag bit other than "completion requested".
    BadFlags(u16),
    /// `offset8` below 2 or above `len8`.
    BadOffset {
        /// offset8.
        offset8: u16,
        /// len8.
        length8: u16,
    },
    /// The packet claims more bytes than the ring holds.
    Overlong {
        /// Bytes claimed (packet + trailer).
        claimed: u32,
        /// Bytes available to read.
        available: u32,
    },
    /// Fewer bytes available than a descriptor and trailer.
    Truncated {
        /// Bytes available.
        available: u32,
    },
}

/// A ring-buffer failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// Not enough free space now; `needed` bytes (packet + trailer) must be strictly less than
    /// the free space. Retry after the peer signals (see [`RingSender::wait_for_space`]).
    Full {
        /// Bytes the write needs.
        needed: u32,
    },
    /// The packet can never fit in this ring (or overflows `len8`).
    TooLarge {
        /// Bytes the packet needs.
        needed: usize,
    },
    /// The peer wrote an index that is out of range or not 8-aligned.
    CorruptIndex {
        /// Which index.
        kind: IndexKind,
        /// The value found.
        value: u32,
    },
    /// The peer wrote a malformed packet descriptor.
    CorruptDescriptor(DescriptorError),
    /// An in-place access (see [`RingSender::reserve`], [`RingReceiver::peek`]) reached
    /// outside the packet's payload or extra header.
    OutsidePacket {
        /// First byte of the access, from the start of the part.
        offset: usize,
        /// Bytes accessed.
        length: usize,
        /// Length of the part.
        packet_length: usize,
    },
    /// The ring pages do not form a valid ring.
    BadGeometry,
    /// Guest memory could not be accessed.
    Memory(MemoryError),
}

/// The error of an access outside a packet's window, which the ring's own checks rule out
/// before every access (out of line: the cold path); typed all the same.
#[cold]
fn window_error(_: hyperv::memory::AccessError) -> RingError {
    RingError::BadGeometry
}

impl From<MemoryError> for RingError {
    fn from(error: MemoryError) -> Self {
        RingError::Memory(error)
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full { needed } => write!(f, "ring full ({needed} bytes needed)"),
            RingError::TooLarge { needed } => write!(f, "packet of {needed} bytes never fits"),
            RingError::CorruptIndex { kind, value } => {
                write!(f, "corrupt {kind:?} index {value:#x}")
            }
            RingError::CorruptDescriptor(error) => write!(f, "corrupt descriptor: {error:?}"),
            RingError::OutsidePacket {
                offset,
                length,
                packet_length,
            } => write!(
                f,
                "access {offset:#x}+{length:#x} outside a packet part of {packet_length:#x} bytes"
            ),
            RingError::BadGeometry => write!(f, "invalid ring geometry"),
            RingError::Memory(error) => write!(f, "{error}"),
        }
    }
}

/// Bytes from index `from` forward to index `to` in a ring of `size` bytes (both below `size`,
/// as `sender::check_index` ensures). Ring indices are modulo the ring size, so the distance
/// wraps at the end of the data area: `(to − from) mod size`, computed without overflow for
/// any `size` up to `u32::MAX`.
fn ring_distance(from: u32, to: u32, size: u32) -> u32 {
    // Wrapping is the protocol's semantics here: both operations are modulo 2^32 and the true
    // result lies in `[0, size)`.
    let difference = to.wrapping_sub(from);
    if to >= from {
        difference
    } else {
        difference.wrapping_add(size)
    }
}

/// Free bytes of a ring of `size` bytes whose producer is at `write` and consumer at `read`:
/// the distance from `write` forward to `read`, where equal indices mean an empty ring (all
/// `size` bytes free; the ring is never exactly full).
fn ring_free(write: u32, read: u32, size: u32) -> u32 {
    match ring_distance(write, read, size) {
        0 => size,
        free => free,
    }
}

/// The index `length` bytes after `index` in a ring of `size` bytes (modulo the ring size).
/// `None` only if `size` is zero, which no [`RingPages`] has.
fn ring_advance(index: u32, length: usize, size: u32) -> Option<u32> {
    let end = u64::from(index).checked_add(u64::try_from(length).ok()?)?;
    let size = u64::from(size);
    // The common case (index < size, length ≤ size) wraps at most once: a compare and a
    // subtraction instead of a 64-bit division on every packet.
    let end = match end.checked_sub(size) {
        None => end,
        Some(wrapped) if wrapped < size => wrapped,
        Some(_) => end.checked_rem(size)?,
    };
    u32::try_from(end).ok()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod in_place_tests;
#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests;
