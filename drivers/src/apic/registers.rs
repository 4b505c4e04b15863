//! The local-APIC registers the kernel uses, where each lives in either mode, and the
//! interrupt command register's encodings.

use super::ApicError;

/// First MSR of the x2APIC register range (SDM §10.12.1.2).
pub const X2APIC_MSR_BASE: u32 = 0x800;
/// xAPIC offset of the ICR's low half (vector, delivery mode, status, shorthand).
pub const XAPIC_INTERRUPT_COMMAND_LOW: u16 = 0x300;
/// xAPIC offset of the ICR's high half (destination in bits 31:24). x2APIC has no such
/// register: MSR 0x831 is reserved.
pub const XAPIC_INTERRUPT_COMMAND_HIGH: u16 = 0x310;
/// x2APIC MSR of the whole 64-bit ICR.
pub const X2APIC_INTERRUPT_COMMAND: u32 =
    X2APIC_MSR_BASE + (XAPIC_INTERRUPT_COMMAND_LOW as u32 >> 4);
/// ICR bit 12 (xAPIC only): the previous command is still being sent.
pub const DELIVERY_PENDING: u32 = 1 << 12;

/// Who may read or write a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write.
    ReadWrite,
    /// Read only (a write faults in x2APIC mode).
    ReadOnly,
    /// Write only (a read faults in x2APIC mode).
    WriteOnly,
}

/// A local-APIC register other than the ICR (which [`InterruptCommand`] covers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// Local APIC id: bits 31:24 in xAPIC mode, all 32 bits in x2APIC mode.
    Id,
    /// Version and the number of LVT entries.
    Version,
    /// Task priority (0 accepts every interrupt).
    TaskPriority,
    /// End of interrupt: write 0.
    EndOfInterrupt,
    /// Spurious-interrupt vector and the software-enable bit (8).
    SpuriousInterruptVector,
    /// Error status: write 0 to latch, then read.
    ErrorStatus,
    /// Local vector table entry of the timer.
    TimerLocalVector,
    /// Timer initial count (writing starts the count).
    TimerInitialCount,
    /// Timer current count.
    TimerCurrentCount,
    /// Timer divide configuration.
    TimerDivideConfiguration,
}

impl Register {
    /// Every register, for tests and tables.
    pub const ALL: [Register; 10] = [
        Register::Id,
        Register::Version,
        Register::TaskPriority,
        Register::EndOfInterrupt,
        Register::SpuriousInterruptVector,
        Register::ErrorStatus,
        Register::TimerLocalVector,
        Register::TimerInitialCount,
        Register::TimerCurrentCount,
        Register::TimerDivideConfiguration,
    ];

    /// Byte offset in the xAPIC register page.
    pub const fn xapic_offset(self) -> u16 {
        match self {
            Register::Id => 0x20,
            Register::Version => 0x30,
            Register::TaskPriority => 0x80,
            Register::EndOfInterrupt => 0xb0,
            Register::SpuriousInterruptVector => 0xf0,
            Register::ErrorStatus => 0x280,
            Register::TimerLocalVector => 0x320,
            Register::TimerInitialCount => 0x380,
            Register::TimerCurrentCount => 0x390,
            Register::TimerDivideConfiguration => 0x3e0,
        }
    }

    /// MSR number in x2APIC mode: 0x800 + offset / 16.
    pub const fn x2apic_msr(self) -> u32 {
        X2APIC_MSR_BASE + (self.xapic_offset() as u32 >> 4)
    }

    /// Who may access it (the x2APIC rules; the kernel follows them in both modes).
    pub const fn access(self) -> Access {
        match self {
            Register::Id | Register::Version | Register::TimerCurrentCount => Access::ReadOnly,
            Register::EndOfInterrupt => Access::WriteOnly,
            _ => Access::ReadWrite,
        }
    }

    /// Whether the only value it accepts is 0 (a non-zero write faults in x2APIC mode).
    pub const fn accepts_only_zero(self) -> bool {
        matches!(self, Register::EndOfInterrupt | Register::ErrorStatus)
    }

    /// Checks a read against [`Register::access`].
    pub fn check_read(self) -> Result<(), ApicError> {
        match self.access() {
            Access::WriteOnly => Err(ApicError::WriteOnly(self)),
            _ => Ok(()),
        }
    }

    /// Checks a write of `value` against [`Register::access`] and
    /// [`Register::accepts_only_zero`].
    pub fn check_write(self, value: u32) -> Result<(), ApicError> {
        match self.access() {
            Access::ReadOnly => Err(ApicError::ReadOnly(self)),
            _ if self.accepts_only_zero() && value != 0 => Err(ApicError::MustWriteZero(self)),
            _ => Ok(()),
        }
    }
}

/// Where an interrupt command goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The processor with this APIC id (physical destination mode).
    Physical(u32),
    /// This processor (shorthand 01).
    SelfOnly,
    /// Every processor including this one (shorthand 10).
    AllIncludingSelf,
    /// Every other processor (shorthand 11).
    AllExcludingSelf,
}

/// A fixed-delivery, edge-triggered interrupt command (the only kind the kernel sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptCommand {
    /// The vector (16..=255).
    pub vector: u8,
    /// Where it goes.
    pub destination: Destination,
}

/// ICR bit 14: level "assert" (required for fixed delivery).
const LEVEL_ASSERT: u32 = 1 << 14;
/// ICR bits 19:18: the destination shorthand.
const SHORTHAND_SHIFT: u32 = 18;
/// Lowest legal vector.
const FIRST_LEGAL_VECTOR: u8 = 16;

impl InterruptCommand {
    /// A command sending `vector` to this processor.
    pub const fn to_self(vector: u8) -> Self {
        InterruptCommand {
            vector,
            destination: Destination::SelfOnly,
        }
    }

    /// The low 32 bits, identical in both modes except that bit 12 (delivery status) is
    /// read-only in xAPIC mode and absent in x2APIC mode: fixed delivery (000), physical
    /// destination mode, assert, edge, the shorthand in bits 19:18.
    fn low_bits(self) -> Result<u32, ApicError> {
        if self.vector < FIRST_LEGAL_VECTOR {
            return Err(ApicError::IllegalVector(self.vector));
        }
        let shorthand: u32 = match self.destination {
            Destination::Physical(_) => 0b00,
            Destination::SelfOnly => 0b01,
            Destination::AllIncludingSelf => 0b10,
            Destination::AllExcludingSelf => 0b11,
        };
        Ok(u32::from(self.vector) | LEVEL_ASSERT | (shorthand << SHORTHAND_SHIFT))
    }

    fn destination_id(self) -> u32 {
        match self.destination {
            Destination::Physical(id) => id,
            _ => 0,
        }
    }

    /// The xAPIC encoding as (high, low): write the high half (destination in bits 31:24)
    /// first, then the low half, which sends. Ids above 255 do not fit.
    pub fn xapic_encoding(self) -> Result<(u32, u32), ApicError> {
        let low = self.low_bits()?;
        let destination = self.destination_id();
        if destination > 0xff {
            return Err(ApicError::DestinationOutOfRange(destination));
        }
        Ok((destination << 24, low))
    }

    /// The x2APIC encoding: one 64-bit value for MSR 0x830, the 32-bit destination in bits
    /// 63:32.
    pub fn x2apic_encoding(self) -> Result<u64, ApicError> {
        let low = self.low_bits()?;
        Ok((u64::from(self.destination_id()) << 32) | u64::from(low))
    }
}
