//! The emulated-platform link: the wire codec between the dxgos kernel under QEMU and the
//! dxgos emulator, which plays Hyper-V (see `docs/emulated-platform.md`).
//!
//! Guest RAM is shared with the emulator through a QEMU memory-backend file (GPA = file
//! offset), so message slots, event flags and hypercall input blocks travel through memory as
//! on Hyper-V. What cannot travel through memory — MSR accesses, the hypercall instruction and
//! the interrupt — travels as frames through the shared-memory mailboxes of QEMU's
//! `ivshmem-doorbell` device ([`mailbox`]; a doorbell wakes the host, the device's interrupt
//! the guest), or over the guest's COM2 UART, whose chardev is a unix socket served by the
//! emulator. Firmware may print text on COM2, so every frame is guarded by a magic, a
//! kind-determined length and a CRC, and [`FrameDecoder`] skips garbage and resynchronises.
//!
//! Frame layout (all integers little-endian):
//!
//! | Offset | Size | Field |
//! |---|---|---|
//! | 0 | 2 | magic `A5 C3` |
//! | 2 | 1 | kind |
//! | 3 | 1 | payload length (fixed per kind) |
//! | 4 | n | payload |
//! | 4 + n | 2 | CRC-16/CCITT-FALSE of bytes 2 .. 4 + n |

mod crc;
mod decoder;
mod frame;
pub mod mailbox;

pub use crc::crc16;
pub use decoder::{DecoderStatistics, FrameDecoder, Frames};
pub use frame::{EncodedFrame, Frame, FrameKind};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = [0xA5, 0xC3];
/// Bytes around the payload: magic, kind, length, CRC.
pub const FRAME_OVERHEAD: usize = 6;
/// The largest payload of any kind.
pub const MAX_PAYLOAD_LENGTH: usize = 24;
/// The largest frame.
pub const MAX_FRAME_LENGTH: usize = FRAME_OVERHEAD + MAX_PAYLOAD_LENGTH;
/// The protocol version this crate speaks (Hello / HelloReply).
pub const PROTOCOL_VERSION: u32 = 1;

/// `MsrResult.status`: the access succeeded.
pub const MSR_STATUS_OK: u32 = 0;
/// `MsrResult.status`: the access would raise #GP on Hyper-V.
pub const MSR_STATUS_GENERAL_PROTECTION: u32 = 1;
/// `MmioResult.status`: the access was handled.
pub const MMIO_STATUS_OK: u32 = 0;
/// `MmioResult.status`: nobody emulates that address (reads return all ones).
pub const MMIO_STATUS_UNHANDLED: u32 = 1;

mod backend;
pub use backend::{EmulatedLinkBackend, RECEIVE_BUDGET_BYTES, REQUEST_BUDGET_BYTES, SerialLink};

#[cfg(test)]
mod tests;
