//! The local APIC, in whichever mode the firmware left it: xAPIC (registers in a 4 KiB MMIO
//! page, mapped uncached) or x2APIC (registers are MSRs 0x800 + offset / 16).
//!
//! The decisions live, host-tested, in `drivers::apic`: [`drivers::apic::choose_mode`] reads
//! IA32_APIC_BASE (EN, EXTD, the base), the register map and access rules, the interrupt
//! command's two encodings and the operation sequences ([`drivers::apic::LocalApic`]). This
//! file only supplies the two raw accessors behind that one register interface, [`XApicPage`]
//! (the kernel's [`RegisterBlock`]: volatile 32-bit loads and stores with the `volatile`
//! crate) and [`X2ApicMsrs`] (`rdmsr`/`wrmsr` in the x2APIC range), and keeps the one local
//! APIC of the boot processor.
//!
//! The MMIO base comes from IA32_APIC_BASE; the MADT's address is only compared with it (a
//! mismatch is logged, the MSR wins: it is what the processor decodes).

use drivers::apic::{
    ApicBackend, ApicMode, IA32_APIC_BASE, LocalApic, LocalApicRegisters, MmioWindow,
    ModelSpecificRegisters, X2ApicRegisters, XApicRegisters, choose_mode,
};
use spin::Once;
use x86_64::PhysAddr;

use super::PlatformError;
use crate::arch::cpu;
use crate::memory::registers::RegisterBlock;

/// Size of the xAPIC register page.
const PAGE_SIZE: u64 = 4096;
/// The x2APIC MSR range (SDM: 0x800–0x8FF).
const X2APIC_MSRS: core::ops::RangeInclusive<u32> = 0x800..=0x8ff;
/// How long a self-IPI may stay "send pending" (it takes well under a microsecond).
const DELIVERY_TIMEOUT_MICROSECONDS: u64 = 1000;
/// Polls of the delivery status before the TSC is calibrated.
const DELIVERY_SPINS_BEFORE_CALIBRATION: u64 = 100_000;

/// The uncached mapping of the xAPIC register page (its virtual address).
pub struct XApicPage {
    registers: RegisterBlock,
}

impl XApicPage {
    /// Whether `offset` names a register (16-byte aligned, in the page).
    fn is_register(offset: u16) -> bool {
        let is_register = u64::from(offset) < PAGE_SIZE && offset.is_multiple_of(16);
        if !is_register {
            log::error!("local APIC: no register at offset {offset:#x}");
        }
        is_register
    }
}

impl MmioWindow for XApicPage {
    fn read32(&self, offset: u16) -> u32 {
        if Self::is_register(offset) {
            self.registers.read32(offset)
        } else {
            0
        }
    }

    fn write32(&self, offset: u16, value: u32) {
        if Self::is_register(offset) {
            self.registers.write32(offset, value);
        }
    }
}

/// `rdmsr`/`wrmsr` restricted to the x2APIC range; exists only once x2APIC mode was found on.
pub struct X2ApicMsrs {
    _private: (),
}

impl ModelSpecificRegisters for X2ApicMsrs {
    fn read_msr(&self, msr: u32) -> u64 {
        if !X2APIC_MSRS.contains(&msr) {
            log::error!("local APIC: MSR {msr:#x} is not an x2APIC register");
            return 0;
        }
        // SAFETY: x2APIC mode is on (IA32_APIC_BASE EN and EXTD, checked in `init` before this
        // type is built), so the x2APIC MSRs exist; the backend only reads registers the SDM
        // marks readable.
        unsafe { cpu::read_msr(msr) }
    }

    fn write_msr(&self, msr: u32, value: u64) {
        if !X2APIC_MSRS.contains(&msr) {
            log::error!("local APIC: MSR {msr:#x} is not an x2APIC register");
            return;
        }
        // SAFETY: as in `read_msr`; the backend writes only writable registers, 0 to EOI and
        // ESR. APIC registers do not affect memory safety.
        unsafe { cpu::write_msr(msr, value) }
    }
}

type Backend = ApicBackend<XApicPage, X2ApicMsrs>;

static LOCAL_APIC: Once<LocalApic<Backend>> = Once::new();

fn apic() -> Option<&'static LocalApic<Backend>> {
    LOCAL_APIC.get()
}

/// Finds the mode from IA32_APIC_BASE (enabling a globally disabled APIC in xAPIC mode),
/// builds the matching backend, software-enables the APIC with spurious vector 0xFF and
/// accepts every priority. `madt_address` is the MADT's local APIC address, compared with
/// the MSR's.
pub fn init(madt_address: u64) -> Result<ApicMode, PlatformError> {
    // SAFETY: IA32_APIC_BASE exists on every x86-64 processor (all have a local APIC).
    let apic_base = unsafe { cpu::read_msr(IA32_APIC_BASE) };
    let choice =
        choose_mode(apic_base, cpu::physical_address_bits()).map_err(PlatformError::LocalApic)?;
    if let Some(enabled) = choice.enable_with {
        log::info!("local APIC was globally disabled; enabling it in xAPIC mode");
        // SAFETY: setting EN with the base unchanged is the architectural way to enable the
        // APIC (SDM §10.4.3); it touches no memory.
        unsafe { cpu::write_msr(IA32_APIC_BASE, enabled.0) };
    }
    if !choice.mode.agrees_with_madt(madt_address) {
        log::warn!(
            "local APIC: MADT says {madt_address:#x}, IA32_APIC_BASE says {}; using the MSR",
            choice.mode
        );
    }
    let backend = match choice.mode {
        ApicMode::XApic { base } => {
            let registers = RegisterBlock::map_device(PhysAddr::new(base), PAGE_SIZE)
                .map_err(|_| PlatformError::Mapping)?;
            let page = XApicPage { registers };
            ApicBackend::XApic(XApicRegisters::new(page, base))
        }
        ApicMode::X2Apic => ApicBackend::X2Apic(X2ApicRegisters::new(X2ApicMsrs { _private: () })),
    };
    let apic = LOCAL_APIC.call_once(|| LocalApic::new(backend));
    apic.enable(crate::interrupts::SPURIOUS_VECTOR)
        .map_err(PlatformError::LocalApicAccess)?;
    log::debug!("local APIC: {} id {}", choice.mode, apic.id());
    Ok(choice.mode)
}

/// The mode in use, once [`init`] has run.
pub fn mode() -> Option<ApicMode> {
    apic().map(|apic| apic.registers().mode())
}

/// What the boot report prints about the local APIC, once [`init`] has run:
/// `apic mode=xapic base=0x<hex> id=<n>` or `apic mode=x2apic id=<n>`.
pub fn summary() -> Option<ApicSummary> {
    apic().map(|apic| ApicSummary {
        mode: apic.registers().mode(),
        id: apic.id(),
    })
}

/// See [`summary`].
#[derive(Debug, Clone, Copy)]
pub struct ApicSummary {
    /// The mode.
    pub mode: ApicMode,
    /// This processor's APIC id.
    pub id: u32,
}

impl core::fmt::Display for ApicSummary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "apic mode={} id={}", self.mode, self.id)
    }
}

/// This processor's APIC id (0 before [`init`]).
pub fn id() -> u32 {
    apic().map_or(0, LocalApic::id)
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    if let Some(apic) = apic() {
        // Writing 0 to EOI is always accepted: the result carries no error to handle.
        let _ = apic.end_of_interrupt();
    }
}

/// Starts the timer counting down from `u32::MAX` (masked, one-shot) for calibration.
pub fn start_calibration_count() {
    if let Some(apic) = apic()
        && let Err(error) = apic.start_calibration_count()
    {
        log::error!("local APIC: calibration count: {error}");
    }
}

/// Ticks elapsed since [`start_calibration_count`]; stops the count.
pub fn stop_calibration_count() -> u64 {
    let Some(apic) = apic() else { return 0 };
    apic.stop_calibration_count().unwrap_or_else(|error| {
        log::error!("local APIC: calibration count: {error}");
        0
    })
}

/// Starts the periodic timer on `vector`, firing every `ticks` (divide-by-16) timer ticks.
pub fn start_periodic_timer(vector: u8, ticks: u64) {
    if let Some(apic) = apic()
        && let Err(error) = apic.start_periodic_timer(vector, ticks)
    {
        log::error!("local APIC: periodic timer: {error}");
    }
}

/// Sends interrupt `vector` to this processor (fixed delivery, "self" shorthand).
pub fn send_self_interrupt(vector: u8) {
    let Some(apic) = apic() else { return };
    let result = x86_64::instructions::interrupts::without_interrupts(|| {
        let mut budget = crate::clock::wait_budget(
            DELIVERY_TIMEOUT_MICROSECONDS,
            DELIVERY_SPINS_BEFORE_CALIBRATION,
        );
        apic.send_self_interrupt(vector, || crate::clock::budget_expired(&mut budget))
    });
    if let Err(error) = result {
        log::error!("local APIC: self-IPI {vector:#x}: {error}");
    }
}
