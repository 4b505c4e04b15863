//! The local APIC without I/O: which mode the firmware left it in, where each register lives
//! in that mode, how an interrupt command is encoded, and the two register-access backends.
//!
//! The kernel owns the only `unsafe` part, the raw accesses ([`MmioWindow`]: 32-bit volatile
//! loads and stores in the uncached mapping of the xAPIC page; [`ModelSpecificRegisters`]:
//! `rdmsr`/`wrmsr`). Everything that decides *what* to access lives here, so that it runs in
//! host tests: QEMU 7.2 under TCG has no x2APIC, so the x2APIC path can be exercised nowhere
//! else before it meets real Hyper-V.
//!
//! Why this crate: `drivers` is the crate of device logic free of I/O and of the kernel; the
//! local APIC is such a device. `hyperv` is the wrong home (the APIC is architectural, not a
//! Hyper-V interface), and the kernel itself has no host tests.
//!
//! - [`mode`]: IA32_APIC_BASE decoded; [`choose_mode`] picks xAPIC (MMIO at the MSR's base) or
//!   x2APIC (MSRs) and says when the APIC must first be enabled.
//! - [`registers`]: the registers the kernel uses, their xAPIC offsets, x2APIC MSRs
//!   (0x800 + offset / 16) and access rules; [`InterruptCommand`] and its two encodings.
//! - [`backend`]: the [`LocalApicRegisters`] interface and its backends, [`XApicRegisters`]
//!   and [`X2ApicRegisters`], which refuse the accesses the hardware would fault on.
//! - [`LocalApic`]: the operations the kernel performs (enable, EOI, timer, self-IPI) over
//!   either backend.
//!
//! Facts: Intel SDM Vol. 3A ch. 10 (11 in newer editions), "Advanced Programmable Interrupt
//! Controller": §10.4.4 IA32_APIC_BASE (bit 8 BSP, bit 10 EXTD, bit 11 EN, base bits
//! 12..MAXPHYADDR); §10.12.1.2 the x2APIC register address space (MSR 0x800 + offset / 16,
//! ID read-only and 32 bits wide at 0x802, EOI and SELF IPI write-only, a non-zero write to
//! EOI or ESR raises #GP, ICR one 64-bit MSR at 0x830 with no delivery-status bit, 0x831
//! reserved); §10.12.5 the mode transitions (EN = 0 with EXTD = 1 is invalid).

pub mod backend;
pub mod mode;
pub mod registers;

mod local_apic;

#[cfg(test)]
mod tests;

pub use backend::{
    ApicBackend, LocalApicRegisters, MmioWindow, ModelSpecificRegisters, X2ApicRegisters,
    XApicRegisters,
};
pub use local_apic::LocalApic;
pub use mode::{ApicBase, ApicMode, IA32_APIC_BASE, ModeChoice, ModeError, choose_mode};
pub use registers::{Access, Destination, InterruptCommand, Register};

/// A local-APIC access the hardware would refuse (a fault in x2APIC mode, an APIC error or an
/// undefined result in xAPIC mode), caught before it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicError {
    /// The register is write-only (reading it faults in x2APIC mode).
    WriteOnly(Register),
    /// The register is read-only (writing it faults in x2APIC mode).
    ReadOnly(Register),
    /// The register accepts only the value 0 (EOI, ESR: anything else faults in x2APIC mode).
    MustWriteZero(Register),
    /// The destination APIC id does not fit the mode's destination field (8 bits in xAPIC
    /// mode).
    DestinationOutOfRange(u32),
    /// Vectors 0–15 are illegal for interrupts (the APIC flags "send illegal vector").
    IllegalVector(u8),
    /// An xAPIC interrupt command stayed "send pending" for the whole wait budget.
    DeliveryTimeout,
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicError::WriteOnly(register) => write!(f, "{register:?} is write-only"),
            ApicError::ReadOnly(register) => write!(f, "{register:?} is read-only"),
            ApicError::MustWriteZero(register) => write!(f, "{register:?} accepts only 0"),
            ApicError::DestinationOutOfRange(id) => {
                write!(f, "destination APIC id {id:#x} does not fit the mode")
            }
            ApicError::IllegalVector(vector) => write!(f, "vector {vector} is illegal"),
            ApicError::DeliveryTimeout => write!(f, "interrupt command still pending"),
        }
    }
}
