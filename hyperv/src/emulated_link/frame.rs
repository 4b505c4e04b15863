//! Frame kinds, their payload layouts, and the encoder.

use super::{FRAME_OVERHEAD, MAGIC, MAX_FRAME_LENGTH, crc16};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The kind byte. Guest → host kinds are 0x01..=0x7F, host → guest kinds 0x81..=0xFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// Guest → host: start of a session.
    Hello = 0x01,
    /// Guest → host: `wrmsr`.
    WriteMsr = 0x02,
    /// Guest → host: `rdmsr`.
    ReadMsr = 0x03,
    /// Guest → host: a hypercall (RCX, RDX, R8).
    Hypercall = 0x04,
    /// Guest → host: a trapped MMIO read.
    MmioRead = 0x05,
    /// Guest → host: a trapped MMIO write.
    MmioWrite = 0x06,
    /// Host → guest: answer to Hello.
    HelloReply = 0x81,
    /// Host → guest: answer to WriteMsr and ReadMsr.
    MsrResult = 0x82,
    /// Host → guest: answer to Hypercall (RAX).
    HypercallResult = 0x83,
    /// Host → guest: a SINT fired; memory was updated before this frame was sent.
    Interrupt = 0x84,
    /// Host → guest: answer to MmioRead and MmioWrite.
    MmioResult = 0x85,
}

impl FrameKind {
    /// The kind of a kind byte.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::Hello,
            0x02 => Self::WriteMsr,
            0x03 => Self::ReadMsr,
            0x04 => Self::Hypercall,
            0x05 => Self::MmioRead,
            0x06 => Self::MmioWrite,
            0x81 => Self::HelloReply,
            0x82 => Self::MsrResult,
            0x83 => Self::HypercallResult,
            0x84 => Self::Interrupt,
            0x85 => Self::MmioResult,
            _ => return None,
        })
    }

    /// The payload length every frame of this kind has.
    pub const fn payload_length(self) -> usize {
        match self {
            Self::Hello | Self::ReadMsr | Self::Interrupt => 4,
            Self::WriteMsr | Self::MmioRead | Self::MmioResult => 12,
            Self::Hypercall => 24,
            Self::MmioWrite => 20,
            Self::HelloReply | Self::MsrResult => 16,
            Self::HypercallResult => 8,
        }
    }

    /// Whether the guest sends this kind.
    pub const fn is_guest_to_host(self) -> bool {
        (self as u8) < 0x80
    }
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct HelloPayload {
    version: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct WriteMsrPayload {
    msr: U32,
    value: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ReadMsrPayload {
    msr: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct HypercallPayload {
    input: U64,
    input_parameter: U64,
    output_parameter: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct MmioReadPayload {
    gpa: U64,
    size: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct MmioWritePayload {
    gpa: U64,
    size: U32,
    value: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct HelloReplyPayload {
    version: U32,
    vp_index: U32,
    privileges: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct MsrResultPayload {
    msr: U32,
    status: U32,
    value: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct HypercallResultPayload {
    output: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct InterruptPayload {
    vector: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct MmioResultPayload {
    status: U32,
    value: U64,
}

const _: () = {
    assert!(size_of::<HelloPayload>() == FrameKind::Hello.payload_length());
    assert!(size_of::<WriteMsrPayload>() == FrameKind::WriteMsr.payload_length());
    assert!(size_of::<ReadMsrPayload>() == FrameKind::ReadMsr.payload_length());
    assert!(size_of::<HypercallPayload>() == FrameKind::Hypercall.payload_length());
    assert!(size_of::<MmioReadPayload>() == FrameKind::MmioRead.payload_length());
    assert!(size_of::<MmioWritePayload>() == FrameKind::MmioWrite.payload_length());
    assert!(size_of::<HelloReplyPayload>() == FrameKind::HelloReply.payload_length());
    assert!(size_of::<MsrResultPayload>() == FrameKind::MsrResult.payload_length());
    assert!(size_of::<HypercallResultPayload>() == FrameKind::HypercallResult.payload_length());
    assert!(size_of::<InterruptPayload>() == FrameKind::Interrupt.payload_length());
    assert!(size_of::<MmioResultPayload>() == FrameKind::MmioResult.payload_length());
};

/// One decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Guest → host: the guest speaks protocol `version`.
    Hello {
        /// [`super::PROTOCOL_VERSION`] of the guest.
        version: u32,
    },
    /// Guest → host: write `value` to `msr`; answered by `MsrResult`.
    WriteMsr {
        /// MSR number.
        msr: u32,
        /// Value.
        value: u64,
    },
    /// Guest → host: read `msr`; answered by `MsrResult`.
    ReadMsr {
        /// MSR number.
        msr: u32,
    },
    /// Guest → host: hypercall; answered by `HypercallResult`.
    Hypercall {
        /// RCX: the hypercall input value.
        input: u64,
        /// RDX: input block GPA, or first fast input.
        input_parameter: u64,
        /// R8: output block GPA, or second fast input.
        output_parameter: u64,
    },
    /// Guest → host: read `size` bytes of trapped MMIO at `gpa`; answered by `MmioResult`.
    MmioRead {
        /// Address.
        gpa: u64,
        /// 1, 2, 4 or 8.
        size: u32,
    },
    /// Guest → host: write trapped MMIO; answered by `MmioResult`.
    MmioWrite {
        /// Address.
        gpa: u64,
        /// 1, 2, 4 or 8.
        size: u32,
        /// Value in the low `size` bytes.
        value: u64,
    },
    /// Host → guest: answer to Hello.
    HelloReply {
        /// The host's protocol version.
        version: u32,
        /// The VP index of the guest's processor.
        vp_index: u32,
        /// Partition privileges the host emulates (CPUID 0x40000003 EAX | EBX << 32).
        privileges: u64,
    },
    /// Host → guest: answer to WriteMsr/ReadMsr.
    MsrResult {
        /// The MSR accessed.
        msr: u32,
        /// [`super::MSR_STATUS_OK`] or [`super::MSR_STATUS_GENERAL_PROTECTION`].
        status: u32,
        /// The value read (0 for writes).
        value: u64,
    },
    /// Host → guest: RAX of the hypercall.
    HypercallResult {
        /// The hypercall output value.
        output: u64,
    },
    /// Host → guest: raise `vector`.
    Interrupt {
        /// The interrupt vector of the SINT that fired.
        vector: u32,
    },
    /// Host → guest: answer to MmioRead/MmioWrite.
    MmioResult {
        /// [`super::MMIO_STATUS_OK`] or [`super::MMIO_STATUS_UNHANDLED`].
        status: u32,
        /// Value read (0 for writes).
        value: u64,
    },
}

/// An encoded frame in a fixed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedFrame {
    bytes: [u8; MAX_FRAME_LENGTH],
    length: usize,
}

impl EncodedFrame {
    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

impl Frame {
    /// The kind of this frame.
    pub const fn kind(&self) -> FrameKind {
        match self {
            Frame::Hello { .. } => FrameKind::Hello,
            Frame::WriteMsr { .. } => FrameKind::WriteMsr,
            Frame::ReadMsr { .. } => FrameKind::ReadMsr,
            Frame::Hypercall { .. } => FrameKind::Hypercall,
            Frame::MmioRead { .. } => FrameKind::MmioRead,
            Frame::MmioWrite { .. } => FrameKind::MmioWrite,
            Frame::HelloReply { .. } => FrameKind::HelloReply,
            Frame::MsrResult { .. } => FrameKind::MsrResult,
            Frame::HypercallResult { .. } => FrameKind::HypercallResult,
            Frame::Interrupt { .. } => FrameKind::Interrupt,
            Frame::MmioResult { .. } => FrameKind::MmioResult,
        }
    }

    /// Encodes the frame.
    pub fn encode(&self) -> EncodedFrame {
        let mut bytes = [0u8; MAX_FRAME_LENGTH];
        let kind = self.kind();
        let length = kind.payload_length();
        bytes[..2].copy_from_slice(&MAGIC);
        bytes[2] = kind as u8;
        bytes[3] = length as u8;
        let payload = &mut bytes[4..4 + length];
        match *self {
            Frame::Hello { version } => payload.copy_from_slice(
                HelloPayload {
                    version: version.into(),
                }
                .as_bytes(),
            ),
            Frame::WriteMsr { msr, value } => payload.copy_from_slice(
                WriteMsrPayload {
                    msr: msr.into(),
                    value: value.into(),
                }
                .as_bytes(),
            ),
            Frame::ReadMsr { msr } => {
                payload.copy_from_slice(ReadMsrPayload { msr: msr.into() }.as_bytes())
            }
            Frame::Hypercall {
                input,
                input_parameter,
                output_parameter,
            } => payload.copy_from_slice(
                HypercallPayload {
                    input: input.into(),
                    input_parameter: input_parameter.into(),
                    output_parameter: output_parameter.into(),
                }
                .as_bytes(),
            ),
            Frame::MmioRead { gpa, size } => payload.copy_from_slice(
                MmioReadPayload {
                    gpa: gpa.into(),
                    size: size.into(),
                }
                .as_bytes(),
            ),
            Frame::MmioWrite { gpa, size, value } => payload.copy_from_slice(
                MmioWritePayload {
                    gpa: gpa.into(),
                    size: size.into(),
                    value: value.into(),
                }
                .as_bytes(),
            ),
            Frame::HelloReply {
                version,
                vp_index,
                privileges,
            } => payload.copy_from_slice(
                HelloReplyPayload {
                    version: version.into(),
                    vp_index: vp_index.into(),
                    privileges: privileges.into(),
                }
                .as_bytes(),
            ),
            Frame::MsrResult { msr, status, value } => payload.copy_from_slice(
                MsrResultPayload {
                    msr: msr.into(),
                    status: status.into(),
                    value: value.into(),
                }
                .as_bytes(),
            ),
            Frame::HypercallResult { output } => payload.copy_from_slice(
                HypercallResultPayload {
                    output: output.into(),
                }
                .as_bytes(),
            ),
            Frame::Interrupt { vector } => payload.copy_from_slice(
                InterruptPayload {
                    vector: vector.into(),
                }
                .as_bytes(),
            ),
            Frame::MmioResult { status, value } => payload.copy_from_slice(
                MmioResultPayload {
                    status: status.into(),
                    value: value.into(),
                }
                .as_bytes(),
            ),
        }
        let crc = crc16(&bytes[2..4 + length]);
        bytes[4 + length..FRAME_OVERHEAD + length].copy_from_slice(&crc.to_le_bytes());
        EncodedFrame {
            bytes,
            length: FRAME_OVERHEAD + length,
        }
    }

    /// Parses the payload of a frame whose kind, length and CRC were already checked.
    pub(super) fn parse(kind: FrameKind, payload: &[u8]) -> Option<Frame> {
        Some(match kind {
            FrameKind::Hello => {
                let p = HelloPayload::read_from_bytes(payload).ok()?;
                Frame::Hello {
                    version: p.version.get(),
                }
            }
            FrameKind::WriteMsr => {
                let p = WriteMsrPayload::read_from_bytes(payload).ok()?;
                Frame::WriteMsr {
                    msr: p.msr.get(),
                    value: p.value.get(),
                }
            }
            FrameKind::ReadMsr => {
                let p = ReadMsrPayload::read_from_bytes(payload).ok()?;
                Frame::ReadMsr { msr: p.msr.get() }
            }
            FrameKind::Hypercall => {
                let p = HypercallPayload::read_from_bytes(payload).ok()?;
                Frame::Hypercall {
                    input: p.input.get(),
                    input_parameter: p.input_parameter.get(),
                    output_parameter: p.output_parameter.get(),
                }
            }
            FrameKind::MmioRead => {
                let p = MmioReadPayload::read_from_bytes(payload).ok()?;
                Frame::MmioRead {
                    gpa: p.gpa.get(),
                    size: p.size.get(),
                }
            }
            FrameKind::MmioWrite => {
                let p = MmioWritePayload::read_from_bytes(payload).ok()?;
                Frame::MmioWrite {
                    gpa: p.gpa.get(),
                    size: p.size.get(),
                    value: p.value.get(),
                }
            }
            FrameKind::HelloReply => {
                let p = HelloReplyPayload::read_from_bytes(payload).ok()?;
                Frame::HelloReply {
                    version: p.version.get(),
                    vp_index: p.vp_index.get(),
                    privileges: p.privileges.get(),
                }
            }
            FrameKind::MsrResult => {
                let p = MsrResultPayload::read_from_bytes(payload).ok()?;
                Frame::MsrResult {
                    msr: p.msr.get(),
                    status: p.status.get(),
                    value: p.value.get(),
                }
            }
            FrameKind::HypercallResult => {
                let p = HypercallResultPayload::read_from_bytes(payload).ok()?;
                Frame::HypercallResult {
                    output: p.output.get(),
                }
            }
            FrameKind::Interrupt => {
                let p = InterruptPayload::read_from_bytes(payload).ok()?;
                Frame::Interrupt {
                    vector: p.vector.get(),
                }
            }
            FrameKind::MmioResult => {
                let p = MmioResultPayload::read_from_bytes(payload).ok()?;
                Frame::MmioResult {
                    status: p.status.get(),
                    value: p.value.get(),
                }
            }
        })
    }
}
