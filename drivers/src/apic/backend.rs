//! The register-access interface and its two backends.
//!
//! [`LocalApicRegisters`] is what the rest of the kernel sees. [`XApicRegisters`] maps it onto
//! a 4 KiB MMIO page, [`X2ApicRegisters`] onto MSRs; both check every access against the
//! register's rules first ([`Register::check_read`], [`Register::check_write`]), so an access
//! that would fault in x2APIC mode is an error here in either mode, never a #GP.
//! [`ApicBackend`] is the one the kernel picked.

use super::ApicError;
use super::mode::ApicMode;
use super::registers::{
    DELIVERY_PENDING, InterruptCommand, Register, X2APIC_INTERRUPT_COMMAND,
    XAPIC_INTERRUPT_COMMAND_HIGH, XAPIC_INTERRUPT_COMMAND_LOW,
};

/// 32-bit volatile accesses at byte offsets of the xAPIC register page (the kernel's uncached
/// mapping of it). Offsets are multiples of 16 below 0x400.
pub trait MmioWindow {
    /// Loads the register at `offset`.
    fn read32(&self, offset: u16) -> u32;
    /// Stores `value` to the register at `offset`.
    fn write32(&self, offset: u16, value: u32);
}

/// `rdmsr` / `wrmsr` on the current processor.
pub trait ModelSpecificRegisters {
    /// Reads `msr`.
    fn read_msr(&self, msr: u32) -> u64;
    /// Writes `value` to `msr`.
    fn write_msr(&self, msr: u32, value: u64);
}

/// Access to the local APIC's registers, whatever the mode.
pub trait LocalApicRegisters {
    /// The mode this backend serves.
    fn mode(&self) -> ApicMode;
    /// Reads `register` (not a write-only one).
    fn read(&self, register: Register) -> Result<u32, ApicError>;
    /// Writes `value` to `register` (not a read-only one; 0 to EOI and ESR).
    fn write(&self, register: Register, value: u32) -> Result<(), ApicError>;
    /// Sends an interrupt command.
    fn send_interrupt_command(&self, command: InterruptCommand) -> Result<(), ApicError>;
    /// Whether the last interrupt command is still being sent (always false in x2APIC mode,
    /// which has no delivery-status bit).
    fn delivery_pending(&self) -> bool;
    /// This processor's APIC id (8 bits in xAPIC mode, 32 in x2APIC mode).
    fn id(&self) -> u32;
}

/// xAPIC: registers in the MMIO page at `base`.
#[derive(Debug)]
pub struct XApicRegisters<W> {
    window: W,
    base: u64,
}

impl<W: MmioWindow> XApicRegisters<W> {
    /// A backend over `window`, the mapping of the page at physical address `base`.
    pub fn new(window: W, base: u64) -> Self {
        XApicRegisters { window, base }
    }
}

impl<W: MmioWindow> LocalApicRegisters for XApicRegisters<W> {
    fn mode(&self) -> ApicMode {
        ApicMode::XApic { base: self.base }
    }

    fn read(&self, register: Register) -> Result<u32, ApicError> {
        register.check_read()?;
        Ok(self.window.read32(register.xapic_offset()))
    }

    fn write(&self, register: Register, value: u32) -> Result<(), ApicError> {
        register.check_write(value)?;
        self.window.write32(register.xapic_offset(), value);
        Ok(())
    }

    fn send_interrupt_command(&self, command: InterruptCommand) -> Result<(), ApicError> {
        let (high, low) = command.xapic_encoding()?;
        self.window.write32(XAPIC_INTERRUPT_COMMAND_HIGH, high);
        self.window.write32(XAPIC_INTERRUPT_COMMAND_LOW, low);
        Ok(())
    }

    fn delivery_pending(&self) -> bool {
        self.window.read32(XAPIC_INTERRUPT_COMMAND_LOW) & DELIVERY_PENDING != 0
    }

    fn id(&self) -> u32 {
        self.window.read32(Register::Id.xapic_offset()) >> 24
    }
}

/// x2APIC: registers are MSRs.
#[derive(Debug)]
pub struct X2ApicRegisters<M> {
    msrs: M,
}

impl<M: ModelSpecificRegisters> X2ApicRegisters<M> {
    /// A backend over `msrs`.
    pub fn new(msrs: M) -> Self {
        X2ApicRegisters { msrs }
    }
}

impl<M: ModelSpecificRegisters> LocalApicRegisters for X2ApicRegisters<M> {
    fn mode(&self) -> ApicMode {
        ApicMode::X2Apic
    }

    fn read(&self, register: Register) -> Result<u32, ApicError> {
        register.check_read()?;
        // The registers the kernel reads are 32 bits wide; the upper half reads as zero.
        Ok(self.msrs.read_msr(register.x2apic_msr()) as u32)
    }

    fn write(&self, register: Register, value: u32) -> Result<(), ApicError> {
        register.check_write(value)?;
        self.msrs.write_msr(register.x2apic_msr(), u64::from(value));
        Ok(())
    }

    fn send_interrupt_command(&self, command: InterruptCommand) -> Result<(), ApicError> {
        let value = command.x2apic_encoding()?;
        self.msrs.write_msr(X2APIC_INTERRUPT_COMMAND, value);
        Ok(())
    }

    fn delivery_pending(&self) -> bool {
        false
    }

    fn id(&self) -> u32 {
        self.msrs.read_msr(Register::Id.x2apic_msr()) as u32
    }
}

/// The backend the kernel chose from IA32_APIC_BASE.
#[derive(Debug)]
pub enum ApicBackend<W, M> {
    /// MMIO.
    XApic(XApicRegisters<W>),
    /// MSRs.
    X2Apic(X2ApicRegisters<M>),
}

impl<W: MmioWindow, M: ModelSpecificRegisters> LocalApicRegisters for ApicBackend<W, M> {
    fn mode(&self) -> ApicMode {
        match self {
            ApicBackend::XApic(backend) => backend.mode(),
            ApicBackend::X2Apic(backend) => backend.mode(),
        }
    }

    fn read(&self, register: Register) -> Result<u32, ApicError> {
        match self {
            ApicBackend::XApic(backend) => backend.read(register),
            ApicBackend::X2Apic(backend) => backend.read(register),
        }
    }

    fn write(&self, register: Register, value: u32) -> Result<(), ApicError> {
        match self {
            ApicBackend::XApic(backend) => backend.write(register, value),
            ApicBackend::X2Apic(backend) => backend.write(register, value),
        }
    }

    fn send_interrupt_command(&self, command: InterruptCommand) -> Result<(), ApicError> {
        match self {
            ApicBackend::XApic(backend) => backend.send_interrupt_command(command),
            ApicBackend::X2Apic(backend) => backend.send_interrupt_command(command),
        }
    }

    fn delivery_pending(&self) -> bool {
        match self {
            ApicBackend::XApic(backend) => backend.delivery_pending(),
            ApicBackend::X2Apic(backend) => backend.delivery_pending(),
        }
    }

    fn id(&self) -> u32 {
        match self {
            ApicBackend::XApic(backend) => backend.id(),
            ApicBackend::X2Apic(backend) => backend.id(),
        }
    }
}
