//! The platform around the CPU: ACPI tables, the local APIC and I/O APICs, the legacy PICs
//! (only ever masked: Hyper-V Gen2 has none) and the reference timers used for calibration.
//!
//! Nothing here relies on devices a Hyper-V Gen2 VM lacks (PIC, PIT, PS/2, VGA): timing comes
//! from Hyper-V's frequency MSRs or reference counter, the ACPI PM timer or the HPET
//! ([`reference_timer`]), interrupts from the APICs (the local APIC in xAPIC or x2APIC mode,
//! [`local_apic`]).

pub mod acpi;
pub mod io_apic;
pub mod local_apic;
pub mod pic;
pub mod power;
pub mod reference_timer;

use spin::Once;

pub use acpi::PlatformInfo;

static PLATFORM: Once<PlatformInfo> = Once::new();

/// What went wrong bringing up the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// The boot info carries no RSDP.
    NoRsdp,
    /// The ACPI tables could not be parsed.
    Acpi(&'static str),
    /// An MMIO mapping failed.
    Mapping,
    /// No reference timer to calibrate against (or every one failed; the log says why).
    NoReferenceTimer,
    /// IA32_APIC_BASE describes a local APIC the kernel cannot use.
    LocalApic(drivers::apic::ModeError),
    /// A local APIC register access was refused.
    LocalApicAccess(drivers::apic::ApicError),
}

/// Parses ACPI, masks the PICs, enables the local APIC and I/O APICs, calibrates the TSC and
/// the APIC timer and starts the periodic tick at `tick_hz`.
pub fn init(rsdp_address: u64, tick_hz: u32) -> Result<&'static PlatformInfo, PlatformError> {
    if rsdp_address == 0 {
        return Err(PlatformError::NoRsdp);
    }
    let info = acpi::parse(rsdp_address)?;
    let info = PLATFORM.call_once(|| info);
    pic::mask_all();
    let apic_mode = local_apic::init(info.local_apic_address)?;
    for io_apic in &info.io_apics {
        io_apic::add(io_apic.id, io_apic.address, io_apic.gsi_base)?;
    }
    let calibration = reference_timer::calibrate(info)?;
    log::debug!("platform: local APIC {apic_mode}; {calibration}");
    crate::clock::set_tsc_frequency(calibration.frequencies.tsc_hz);
    local_apic::start_periodic_timer(
        crate::interrupts::TIMER_VECTOR,
        calibration.frequencies.apic_timer_hz / u64::from(tick_hz),
    );
    Ok(info)
}

/// The platform description, once [`init`] has run.
pub fn info() -> Option<&'static PlatformInfo> {
    PLATFORM.get()
}
