//! The calibration references and the order they are tried in.

use hyperv::cpuid::{
    HYPERVISOR_PRESENT_ECX_BIT, HypervisorLeaves, INTERFACE_SIGNATURE_HV1, MiscFeatures,
    PartitionPrivileges, VENDOR_EBX, VENDOR_ECX, VENDOR_EDX,
};

use super::CalibrationError;

/// A reference the TSC and the APIC timer can be calibrated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// Hyper-V reports both frequencies in MSRs 0x40000022/0x40000023: no measurement.
    HypervFrequencyRegisters,
    /// Hyper-V's partition reference counter (MSR 0x40000020), 10 MHz, 64 bits.
    HypervReferenceCounter,
    /// The ACPI PM timer, 3.579545 MHz, 24 or 32 bits.
    AcpiPmTimer,
    /// The HPET's main counter (its low 32 bits), at the rate its capabilities give.
    Hpet,
}

impl TimeSource {
    /// The short name the boot report prints.
    pub fn name(self) -> &'static str {
        match self {
            TimeSource::HypervFrequencyRegisters => "hyperv-frequency-msrs",
            TimeSource::HypervReferenceCounter => "hyperv-reference-counter",
            TimeSource::AcpiPmTimer => "acpi-pm-timer",
            TimeSource::Hpet => "hpet",
        }
    }
}

impl core::fmt::Display for TimeSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What Hyper-V's CPUID leaves grant for timekeeping. Only for a hypervisor whose MSRs the
/// kernel reads directly (real Hyper-V); the emulated host's MSRs travel over COM2, which is
/// not up while the kernel calibrates (and whose own timeouts need the calibrated TSC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HypervisorTimeFeatures {
    /// Partition privileges (leaf 0x40000003 EAX/EBX).
    pub privileges: PartitionPrivileges,
    /// Misc features (leaf 0x40000003 EDX).
    pub misc: MiscFeatures,
}

impl HypervisorTimeFeatures {
    /// Reads the grants from the CPUID leaves when they describe Hyper-V ("Microsoft Hv",
    /// interface "Hv#1"). Unlike [`HypervisorLeaves::check`] this does not require the VMBus
    /// privileges: timekeeping needs only its own.
    pub fn from_leaves(leaves: &HypervisorLeaves) -> Option<Self> {
        let [_, ebx, ecx, edx] = leaves.vendor;
        let is_hyper_v = leaves.processor_info_ecx & HYPERVISOR_PRESENT_ECX_BIT != 0
            && (ebx, ecx, edx) == (VENDOR_EBX, VENDOR_ECX, VENDOR_EDX)
            && leaves.interface == INTERFACE_SIGNATURE_HV1;
        is_hyper_v.then(|| HypervisorTimeFeatures {
            privileges: PartitionPrivileges::from_registers(leaves.features[0], leaves.features[1]),
            misc: MiscFeatures::from_bits_retain(leaves.features[3]),
        })
    }

    /// Whether TSC_FREQUENCY and APIC_FREQUENCY may be read: privilege bit 11 and, as Linux
    /// requires before trusting them, misc feature bit 8.
    pub fn frequency_registers(self) -> bool {
        self.privileges
            .contains(PartitionPrivileges::ACCESS_FREQUENCY_REGISTERS)
            && self.misc.contains(MiscFeatures::FREQUENCY_DETAILS)
    }

    /// Whether TIME_REF_COUNT may be read (privilege bit 1).
    pub fn reference_counter(self) -> bool {
        self.privileges
            .contains(PartitionPrivileges::ACCESS_PARTITION_REFERENCE_COUNTER)
    }
}

/// The references the platform has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlatformTimers {
    /// Hyper-V's grants, when its MSRs are directly readable.
    pub hypervisor: Option<HypervisorTimeFeatures>,
    /// Whether the FADT describes a PM timer in I/O space.
    pub pm_timer: bool,
    /// Whether there is an HPET.
    pub hpet: bool,
}

/// The sources to try, best first: the ones that need no measurement, then the precise,
/// non-wrapping hypervisor counter, then the ACPI PM timer (every Gen2 VM has one), then the
/// HPET. The kernel tries the next one when a source fails.
pub fn candidates(timers: PlatformTimers) -> impl Iterator<Item = TimeSource> {
    let hypervisor = timers.hypervisor;
    [
        (
            hypervisor.is_some_and(HypervisorTimeFeatures::frequency_registers),
            TimeSource::HypervFrequencyRegisters,
        ),
        (
            hypervisor.is_some_and(HypervisorTimeFeatures::reference_counter),
            TimeSource::HypervReferenceCounter,
        ),
        (timers.pm_timer, TimeSource::AcpiPmTimer),
        (timers.hpet, TimeSource::Hpet),
    ]
    .into_iter()
    .filter_map(|(available, source)| available.then_some(source))
}

/// The calibrated frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frequencies {
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// Local APIC timer ticks per second at divide-by-16.
    pub apic_timer_hz: u64,
}

/// TSC rates outside this range are not a working x86-64 TSC.
const PLAUSIBLE_TSC_HZ: core::ops::RangeInclusive<u64> = 10_000_000..=100_000_000_000;
/// APIC timer rates (after divide-by-16) outside this range cannot drive a 1 kHz tick.
const PLAUSIBLE_APIC_TIMER_HZ: core::ops::RangeInclusive<u64> = 10_000..=10_000_000_000;
/// The divider the kernel programs.
pub const APIC_TIMER_DIVIDER: u64 = 16;

impl Frequencies {
    /// Checks a TSC rate and an APIC timer rate (already divided by 16).
    pub fn checked(tsc_hz: u64, apic_timer_hz: u64) -> Result<Self, CalibrationError> {
        if !PLAUSIBLE_TSC_HZ.contains(&tsc_hz) {
            return Err(CalibrationError::ImplausibleFrequency {
                which: "tsc",
                hz: tsc_hz,
            });
        }
        if !PLAUSIBLE_APIC_TIMER_HZ.contains(&apic_timer_hz) {
            return Err(CalibrationError::ImplausibleFrequency {
                which: "apic-timer",
                hz: apic_timer_hz,
            });
        }
        Ok(Frequencies {
            tsc_hz,
            apic_timer_hz,
        })
    }

    /// From Hyper-V's TSC_FREQUENCY and APIC_FREQUENCY values (the latter is the timer's
    /// input clock, before the divider).
    pub fn from_hypervisor(tsc_hz: u64, apic_input_hz: u64) -> Result<Self, CalibrationError> {
        Self::checked(tsc_hz, apic_input_hz / APIC_TIMER_DIVIDER)
    }
}
