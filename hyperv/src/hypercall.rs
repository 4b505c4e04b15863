//! The hypercall ABI (reference §2): the input value in RCX, the output value in RAX, the call
//! codes VMBus needs and their input blocks.
//!
//! Slow calls pass the GPA of an input block in RDX and of an output block in R8; fast calls
//! pass the first 16 input bytes in RDX and R8 themselves.

use crate::status::{HvError, HvStatus};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// HvPostMessage (slow only).
pub const CALL_POST_MESSAGE: u16 = 0x005C;
/// HvSignalEvent (fast or slow).
pub const CALL_SIGNAL_EVENT: u16 = 0x005D;
/// HvRetargetDeviceInterrupt (needed by virtual PCI).
pub const CALL_RETARGET_DEVICE_INTERRUPT: u16 = 0x007E;

/// Largest payload of HvPostMessage.
pub const POST_MESSAGE_MAX_PAYLOAD: usize = 240;
/// Connection ids are 24 bits wide; the host ignores bits 31:24.
pub const CONNECTION_ID_MASK: u32 = 0x00FF_FFFF;
/// Required alignment of input and output blocks.
pub const BLOCK_ALIGNMENT: u64 = 8;

/// The hypercall input value (RCX, reference §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HypercallInput {
    /// Bits 15:0.
    pub call_code: u16,
    /// Bit 16: register-based call.
    pub fast: bool,
    /// Bits 26:17: variable header size in 8-byte units (10 bits).
    pub variable_header_size: u16,
    /// Bit 31: route to the L0 hypervisor.
    pub nested: bool,
    /// Bits 43:32 (12 bits).
    pub rep_count: u16,
    /// Bits 59:48 (12 bits).
    pub rep_start_index: u16,
}

/// Bits of the input value that must be zero: 30:27, 47:44, 63:60.
const INPUT_RESERVED_MASK: u64 = (0xF << 27) | (0xF << 44) | (0xF << 60);

impl HypercallInput {
    /// A slow (memory-block) call with no reps.
    pub const fn slow(call_code: u16) -> Self {
        Self {
            call_code,
            fast: false,
            variable_header_size: 0,
            nested: false,
            rep_count: 0,
            rep_start_index: 0,
        }
    }

    /// A fast (register) call with no reps.
    pub const fn fast(call_code: u16) -> Self {
        let mut input = Self::slow(call_code);
        input.fast = true;
        input
    }

    /// The value for RCX. Fields wider than their bit range are truncated.
    pub const fn to_bits(self) -> u64 {
        self.call_code as u64
            | (self.fast as u64) << 16
            | ((self.variable_header_size as u64) & 0x3FF) << 17
            | (self.nested as u64) << 31
            | ((self.rep_count as u64) & 0xFFF) << 32
            | ((self.rep_start_index as u64) & 0xFFF) << 48
    }

    /// Decodes RCX; a value with reserved bits set is `InvalidHypercallInput`.
    pub const fn from_bits(bits: u64) -> Result<Self, HvError> {
        if bits & INPUT_RESERVED_MASK != 0 {
            return Err(HvError::InvalidHypercallInput);
        }
        Ok(Self {
            call_code: bits as u16,
            fast: bits & (1 << 16) != 0,
            variable_header_size: ((bits >> 17) & 0x3FF) as u16,
            nested: bits & (1 << 31) != 0,
            rep_count: ((bits >> 32) & 0xFFF) as u16,
            rep_start_index: ((bits >> 48) & 0xFFF) as u16,
        })
    }
}

/// The hypercall output value (RAX): bits 15:0 status, 43:32 reps completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HypercallOutput(pub u64);

impl HypercallOutput {
    /// A successful call with no reps.
    pub const SUCCESS: Self = Self(0);

    /// The output value of `status` with `reps_completed`.
    pub const fn new(status: HvStatus, reps_completed: u16) -> Self {
        Self(status.0 as u64 | ((reps_completed as u64) & 0xFFF) << 32)
    }

    /// The output value of a typed result with no reps.
    pub const fn from_result(result: Result<(), HvError>) -> Self {
        Self::new(HvStatus::from_result(result), 0)
    }

    /// Bits 15:0.
    pub const fn status(self) -> HvStatus {
        HvStatus(self.0 as u16)
    }

    /// Bits 43:32.
    pub const fn reps_completed(self) -> u16 {
        ((self.0 >> 32) & 0xFFF) as u16
    }

    /// `Ok` for success, the typed error otherwise.
    pub const fn result(self) -> Result<(), HvError> {
        self.status().result()
    }
}

/// The HvPostMessage input block (reference §2.6), 256 bytes, 8-byte aligned, must not cross a
/// page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct PostMessageInput {
    /// Offset 0: connection id (low 24 bits meaningful).
    pub connection_id: u32,
    /// Offset 4: reserved, 0.
    pub reserved: u32,
    /// Offset 8: message type (non-zero, bit 31 clear; VMBus uses 1).
    pub message_type: u32,
    /// Offset 12: payload size (≤ 240).
    pub payload_size: u32,
    /// Offset 16: payload; only `payload_size` bytes are delivered.
    pub payload: [u8; POST_MESSAGE_MAX_PAYLOAD],
}

const _: () = assert!(size_of::<PostMessageInput>() == 256);
const _: () = assert!(core::mem::offset_of!(PostMessageInput, message_type) == 8);
const _: () = assert!(core::mem::offset_of!(PostMessageInput, payload) == 16);

impl PostMessageInput {
    /// Builds the block; `None` when the payload exceeds 240 bytes.
    pub fn new(connection_id: u32, message_type: u32, payload: &[u8]) -> Option<Self> {
        if payload.len() > POST_MESSAGE_MAX_PAYLOAD {
            return None;
        }
        let mut block = Self {
            connection_id,
            reserved: 0,
            message_type,
            payload_size: payload.len() as u32,
            payload: [0; POST_MESSAGE_MAX_PAYLOAD],
        };
        block.payload[..payload.len()].copy_from_slice(payload);
        Some(block)
    }
}

/// The HvSignalEvent input (reference §2.7), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SignalEventInput {
    /// Offset 0: connection id.
    pub connection_id: u32,
    /// Offset 4: flag number, relative to the port's base flag.
    pub flag_number: u16,
    /// Offset 6: reserved, 0.
    pub reserved: u16,
}

const _: () = assert!(size_of::<SignalEventInput>() == 8);
const _: () = assert!(core::mem::offset_of!(SignalEventInput, flag_number) == 4);

impl SignalEventInput {
    /// The first fast-call register (RDX): the 8 input bytes as a little-endian `u64`.
    pub const fn to_fast_register(self) -> u64 {
        self.connection_id as u64 | (self.flag_number as u64) << 32 | (self.reserved as u64) << 48
    }

    /// Splits RDX of a fast call into the input.
    pub const fn from_fast_register(value: u64) -> Self {
        Self {
            connection_id: value as u32,
            flag_number: (value >> 32) as u16,
            reserved: (value >> 48) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_values_match_the_reference() {
        assert_eq!(HypercallInput::slow(CALL_POST_MESSAGE).to_bits(), 0x5C);
        // Linux's fast HvSignalEvent: RCX = 0x0001005D.
        assert_eq!(
            HypercallInput::fast(CALL_SIGNAL_EVENT).to_bits(),
            0x0001_005D
        );
        let all = HypercallInput {
            call_code: 0xBEEF,
            fast: true,
            variable_header_size: 0x3FF,
            nested: true,
            rep_count: 0xFFF,
            rep_start_index: 0xFFF,
        };
        assert_eq!(all.to_bits(), 0x0FFF_0FFF_87FF_BEEF);
        assert_eq!(HypercallInput::from_bits(0x0FFF_0FFF_87FF_BEEF), Ok(all));
        let reps = HypercallInput {
            rep_count: 3,
            rep_start_index: 1,
            ..HypercallInput::slow(2)
        };
        assert_eq!(reps.to_bits(), 0x0001_0003_0000_0002);
        assert_eq!(
            HypercallInput {
                variable_header_size: 2,
                ..Default::default()
            }
            .to_bits(),
            0x4_0000
        );
    }

    #[test]
    fn reserved_input_bits_are_rejected() {
        for bit in [27, 28, 29, 30, 44, 45, 46, 47, 60, 61, 62, 63] {
            assert_eq!(
                HypercallInput::from_bits(0x5C | 1 << bit),
                Err(HvError::InvalidHypercallInput),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn output_values() {
        assert_eq!(
            HypercallOutput(0x0000_0005_0000_0012).status(),
            HvStatus(0x12)
        );
        assert_eq!(HypercallOutput(0x0000_0005_0000_0012).reps_completed(), 5);
        assert_eq!(
            HypercallOutput(0x0000_0005_0000_0012).result(),
            Err(HvError::InvalidConnectionId)
        );
        assert_eq!(HypercallOutput::new(HvStatus(0x13), 2).0, 0x2_0000_0013);
        assert_eq!(HypercallOutput::SUCCESS.result(), Ok(()));
    }

    #[test]
    fn post_message_block_layout() {
        let block = PostMessageInput::new(4, 1, &[0xAA, 0xBB, 0xCC]).unwrap();
        let bytes = block.as_bytes();
        assert_eq!(bytes.len(), 256);
        assert_eq!(&bytes[0..4], &[4, 0, 0, 0]);
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
        assert_eq!(&bytes[8..12], &[1, 0, 0, 0]);
        assert_eq!(&bytes[12..16], &[3, 0, 0, 0]);
        assert_eq!(&bytes[16..20], &[0xAA, 0xBB, 0xCC, 0]);
        assert!(PostMessageInput::new(4, 1, &[0; 241]).is_none());
        assert!(PostMessageInput::new(4, 1, &[0; 240]).is_some());
    }

    #[test]
    fn signal_event_forms() {
        let input = SignalEventInput {
            connection_id: 0x1234,
            flag_number: 0,
            reserved: 0,
        };
        assert_eq!(input.to_fast_register(), 0x1234);
        let flagged = SignalEventInput {
            connection_id: 7,
            flag_number: 3,
            reserved: 0,
        };
        assert_eq!(flagged.to_fast_register(), 0x0000_0003_0000_0007);
        assert_eq!(flagged.as_bytes(), &[7, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(
            SignalEventInput::from_fast_register(0x0001_0003_0000_0007).reserved,
            1
        );
    }
}
