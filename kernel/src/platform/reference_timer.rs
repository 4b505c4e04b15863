//! Calibration of the TSC and the local APIC timer, bounded in time.
//!
//! The sources are tried in the order `drivers::timekeeping::candidates` gives: Hyper-V's
//! frequency MSRs (no measurement), Hyper-V's partition reference counter (TIME_REF_COUNT,
//! 10 MHz), the ACPI PM timer, the HPET. A source that fails (a stuck or jumping counter, a
//! measurement over budget, an implausible result) is logged and the next one is tried, so a
//! broken reference costs a bounded delay, never a hung boot: every measurement loop runs
//! under `drivers::timekeeping::Measurement`, which ends on a stuck counter, a spent TSC
//! budget or a spent read budget.
//!
//! The Hyper-V sources are used only when CPUID shows Hyper-V itself, whose synthetic MSRs the
//! kernel reads directly. Under QEMU the emulated host's MSRs are reached over COM2, which is
//! not connected yet at this point (its request timeouts need this calibration), and its
//! frequency MSRs are not emulated: there the PM timer is the reference.

use alloc::vec::Vec;

use drivers::timekeeping::{
    CalibrationError, CounterSpec, Frequencies, HypervisorTimeFeatures, Limits, Measurement,
    PlatformTimers, Progress, TimeSource, candidates,
};
use hyperv::cpuid::{HypervisorLeaves, LEAF_FEATURES, LEAF_INTERFACE, LEAF_VENDOR};
use hyperv::msr;
use spin::Once;
use volatile::access::ReadOnly;
use x86_64::PhysAddr;

use super::acpi::PmTimer;
use super::{PlatformError, PlatformInfo, local_apic};
use crate::arch::cpu;
use crate::memory::registers::{AccessError, Register, RegisterBlock};

/// Length of the HPET register block mapped (IA-PC HPET specification 1.0a, §2.3.1).
const HPET_BLOCK_LENGTH: u64 = 0x100;
/// General capabilities and ID: the counter period in femtoseconds in bits 63:32.
const HPET_CAPABILITIES: Register<u64, ReadOnly> = Register::at(0x00);
/// General configuration: bit 0 (ENABLE_CNF) starts the main counter.
const HPET_CONFIGURATION: Register<u64> = Register::at(0x10);
/// ENABLE_CNF.
const HPET_ENABLE: u64 = 1;
/// The main counter (its low 32 bits are read).
const HPET_MAIN_COUNTER: Register<u32, ReadOnly> = Register::at(0xf0);

/// How long each measurement runs.
const CALIBRATION_MICROSECONDS: u64 = 20_000;

/// The result of a calibration.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The TSC and APIC timer (divide-by-16) rates.
    pub frequencies: Frequencies,
    /// The source that gave them.
    pub source: TimeSource,
    /// Sources tried before, and why each failed.
    pub rejected: Vec<(TimeSource, CalibrationError)>,
}

impl core::fmt::Display for Calibration {
    /// `clock source=<name> tsc=<Hz> apic-timer=<Hz>`, then ` rejected=<name>:<reason>,...`
    /// when sources failed (the boot report's clock line).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "clock source={} tsc={} apic-timer={}",
            self.source, self.frequencies.tsc_hz, self.frequencies.apic_timer_hz
        )?;
        for (index, (source, error)) in self.rejected.iter().enumerate() {
            let separator = if index == 0 { " rejected=" } else { "," };
            write!(f, "{separator}{source}:{error}")?;
        }
        Ok(())
    }
}

static CALIBRATION: Once<Calibration> = Once::new();

/// The calibration, once [`calibrate`] has succeeded (for the boot report).
pub fn calibration() -> Option<&'static Calibration> {
    CALIBRATION.get()
}

/// Calibrates against the best reference that works.
pub fn calibrate(info: &PlatformInfo) -> Result<&'static Calibration, PlatformError> {
    let timers = PlatformTimers {
        hypervisor: HypervisorTimeFeatures::from_leaves(&hypervisor_leaves()),
        pm_timer: info.pm_timer.is_some(),
        hpet: info.hpet_address.is_some(),
    };
    let mut rejected = Vec::new();
    for source in candidates(timers) {
        match calibrate_with(source, info) {
            Ok(frequencies) => {
                return Ok(CALIBRATION.call_once(|| Calibration {
                    frequencies,
                    source,
                    rejected,
                }));
            }
            Err(error) => {
                log::warn!("calibration against {source} failed: {error}");
                rejected.push((source, error));
            }
        }
    }
    Err(PlatformError::NoReferenceTimer)
}

fn calibrate_with(
    source: TimeSource,
    info: &PlatformInfo,
) -> Result<Frequencies, CalibrationError> {
    match source {
        TimeSource::HypervFrequencyRegisters => hyperv_frequency_registers(),
        TimeSource::HypervReferenceCounter => hyperv_reference_counter(),
        TimeSource::AcpiPmTimer => info
            .pm_timer
            .map_or(Err(CalibrationError::NotGranted), pm_timer),
        TimeSource::Hpet => info
            .hpet_address
            .map_or(Err(CalibrationError::NotGranted), hpet),
    }
}

/// The CPUID leaves that say whether this is Hyper-V and what it grants.
fn hypervisor_leaves() -> HypervisorLeaves {
    let (_, _, processor_info_ecx, _) = cpu::cpuid(1, 0);
    let (a, b, c, d) = cpu::cpuid(LEAF_VENDOR, 0);
    let (interface, ..) = cpu::cpuid(LEAF_INTERFACE, 0);
    let (fa, fb, fc, fd) = cpu::cpuid(LEAF_FEATURES, 0);
    HypervisorLeaves {
        processor_info_ecx,
        vendor: [a, b, c, d],
        interface,
        features: [fa, fb, fc, fd],
        recommendations: 0,
    }
}

/// Hyper-V's TSC_FREQUENCY and APIC_FREQUENCY (the APIC timer's input clock).
fn hyperv_frequency_registers() -> Result<Frequencies, CalibrationError> {
    // SAFETY: `candidates` offers this source only when CPUID shows Hyper-V granting the
    // frequency-register privilege and feature, so both MSRs exist; reading them has no side
    // effects.
    let (tsc_hz, apic_hz) = unsafe {
        (
            cpu::read_msr(msr::TSC_FREQUENCY),
            cpu::read_msr(msr::APIC_FREQUENCY),
        )
    };
    Frequencies::from_hypervisor(tsc_hz, apic_hz)
}

/// Measures against TIME_REF_COUNT.
fn hyperv_reference_counter() -> Result<Frequencies, CalibrationError> {
    // SAFETY: offered only when CPUID shows Hyper-V granting the partition-reference-counter
    // privilege, so the MSR exists; reading it has no side effects.
    let read = || unsafe { cpu::read_msr(msr::TIME_REF_COUNT) };
    measure(CounterSpec::HYPERV_REFERENCE_COUNTER, read)
}

/// Measures against the ACPI PM timer.
fn pm_timer(pm_timer: PmTimer) -> Result<Frequencies, CalibrationError> {
    // SAFETY: the FADT's PM timer port; reading the counter has no side effects and the
    // timer cannot reach memory.
    let read = || u64::from(unsafe { cpu::read_port_u32(pm_timer.port) });
    measure(CounterSpec::pm_timer(pm_timer.is_32_bit), read)
}

/// Measures against the HPET's main counter (enabling it).
fn hpet(address: u64) -> Result<Frequencies, CalibrationError> {
    let Ok(registers) = RegisterBlock::map_device(PhysAddr::new(address), HPET_BLOCK_LENGTH) else {
        return Err(CalibrationError::NotGranted);
    };
    let enable = || -> Result<u64, AccessError> {
        let capabilities = registers.read(HPET_CAPABILITIES)?;
        let configuration = registers.read(HPET_CONFIGURATION)?;
        registers.write(HPET_CONFIGURATION, configuration | HPET_ENABLE)?;
        Ok(capabilities >> 32)
    };
    let Ok(period_femtoseconds) = enable() else {
        return Err(CalibrationError::NotGranted);
    };
    let spec =
        CounterSpec::hpet(period_femtoseconds).ok_or(CalibrationError::ImplausibleFrequency {
            which: "hpet",
            hz: 1_000_000_000_000_000u64
                .checked_div(period_femtoseconds)
                .unwrap_or(0),
        })?;
    let read = || u64::from(registers.read(HPET_MAIN_COUNTER).unwrap_or(0));
    measure(spec, read)
}

/// Counts TSC and APIC timer ticks while the reference advances by [`CALIBRATION_MICROSECONDS`],
/// with interrupts off; [`Measurement`] ends the loop, whatever the counter does.
fn measure(spec: CounterSpec, read: impl Fn() -> u64) -> Result<Frequencies, CalibrationError> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let first = read();
        local_apic::start_calibration_count();
        let mut measurement = Measurement::start(
            spec,
            CALIBRATION_MICROSECONDS,
            first,
            cpu::read_tsc(),
            Limits::BOOT,
        );
        loop {
            match measurement.observe(read(), cpu::read_tsc()) {
                Progress::Continue => core::hint::spin_loop(),
                Progress::Finished(sample) => {
                    return sample.frequencies(local_apic::stop_calibration_count());
                }
                Progress::Failed(error) => {
                    local_apic::stop_calibration_count();
                    return Err(error);
                }
            }
        }
    })
}
