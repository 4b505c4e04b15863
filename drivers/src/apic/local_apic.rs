//! The operations the kernel performs on its local APIC, over either backend.

use super::ApicError;
use super::backend::LocalApicRegisters;
use super::registers::{InterruptCommand, Register};

/// Spurious-interrupt vector register bit 8: APIC software enable.
const SOFTWARE_ENABLE: u32 = 1 << 8;
/// Timer divide configuration for "divide by 16" (bits 3, 1:0 = 0b0_11).
const DIVIDE_BY_16: u32 = 0b0011;
/// LVT bit 16: masked.
const LVT_MASKED: u32 = 1 << 16;
/// LVT timer bits 18:17 = 01: periodic.
const LVT_PERIODIC: u32 = 1 << 17;

/// A local APIC behind `R`.
#[derive(Debug)]
pub struct LocalApic<R> {
    registers: R,
}

impl<R: LocalApicRegisters> LocalApic<R> {
    /// Wraps a backend.
    pub fn new(registers: R) -> Self {
        LocalApic { registers }
    }

    /// The backend.
    pub fn registers(&self) -> &R {
        &self.registers
    }

    /// Accepts every priority, software-enables the APIC with `spurious_vector` and masks the
    /// timer.
    pub fn enable(&self, spurious_vector: u8) -> Result<(), ApicError> {
        self.registers.write(Register::TaskPriority, 0)?;
        self.registers.write(
            Register::SpuriousInterruptVector,
            SOFTWARE_ENABLE | u32::from(spurious_vector),
        )?;
        self.registers.write(Register::TimerLocalVector, LVT_MASKED)
    }

    /// This processor's APIC id.
    pub fn id(&self) -> u32 {
        self.registers.id()
    }

    /// Signals the end of the interrupt being handled (writes 0 to EOI).
    pub fn end_of_interrupt(&self) -> Result<(), ApicError> {
        self.registers.write(Register::EndOfInterrupt, 0)
    }

    /// Starts the timer counting down from `u32::MAX` (masked, one-shot, divide by 16) for
    /// calibration.
    pub fn start_calibration_count(&self) -> Result<(), ApicError> {
        self.registers
            .write(Register::TimerDivideConfiguration, DIVIDE_BY_16)?;
        self.registers
            .write(Register::TimerLocalVector, LVT_MASKED)?;
        self.registers.write(Register::TimerInitialCount, u32::MAX)
    }

    /// Ticks counted since [`LocalApic::start_calibration_count`]; stops the count.
    pub fn stop_calibration_count(&self) -> Result<u64, ApicError> {
        let remaining = self.registers.read(Register::TimerCurrentCount)?;
        self.registers.write(Register::TimerInitialCount, 0)?;
        Ok(u64::from(u32::MAX - remaining))
    }

    /// Starts the periodic timer on `vector`, firing every `ticks` (divide-by-16) ticks
    /// (clamped to 1..=u32::MAX).
    pub fn start_periodic_timer(&self, vector: u8, ticks: u64) -> Result<(), ApicError> {
        self.registers
            .write(Register::TimerDivideConfiguration, DIVIDE_BY_16)?;
        self.registers
            .write(Register::TimerLocalVector, LVT_PERIODIC | u32::from(vector))?;
        let count = u32::try_from(ticks.max(1)).unwrap_or(u32::MAX);
        self.registers.write(Register::TimerInitialCount, count)
    }

    /// Sends `vector` to this processor and waits until the command left (xAPIC), asking
    /// `budget_expired` between polls; gives up with [`ApicError::DeliveryTimeout`].
    pub fn send_self_interrupt(
        &self,
        vector: u8,
        mut budget_expired: impl FnMut() -> bool,
    ) -> Result<(), ApicError> {
        self.registers
            .send_interrupt_command(InterruptCommand::to_self(vector))?;
        while self.registers.delivery_pending() {
            if budget_expired() {
                return Err(ApicError::DeliveryTimeout);
            }
            core::hint::spin_loop();
        }
        Ok(())
    }
}
