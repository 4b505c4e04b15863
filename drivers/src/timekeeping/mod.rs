//! Early timekeeping without I/O: which reference the kernel calibrates the TSC and the APIC
//! timer against, the bounded measurement loop's decisions, and time-bounded waits.
//!
//! At boot nothing else measures time, so every loop here must end on its own: a stuck or
//! absent reference must not hang the boot with interrupts off. The kernel reads the counters
//! and the TSC; the decisions (which source, when a counter is stuck, wrapped or jumped, when a
//! wait is over, whether a frequency is plausible) are made here, where host tests reach them.
//! It lives in `drivers` for the same reason as [`crate::apic`].
//!
//! - [`source`]: the candidate references in order of preference
//!   ([`source::candidates`]): Hyper-V's frequency MSRs, then its partition reference counter
//!   (TIME_REF_COUNT, 10 MHz), then the ACPI PM timer, then the HPET.
//! - [`measurement`]: [`Measurement`], fed (counter, TSC) samples until enough reference ticks
//!   passed, or it gives up (stuck counter, counter that jumped, TSC or read budget spent).
//! - [`wait`]: [`WaitBudget`], a wait bounded by TSC time once the TSC is calibrated and by a
//!   conservative spin count before.
//!
//! Hyper-V facts (TLFS "Partition Privilege Flags" / "Feature Identification"; Linux
//! arch/x86/include/asm/hyperv-tlfs.h and arch/x86/kernel/cpu/mshyperv.c): CPUID 0x40000003
//! EAX bit 1 grants TIME_REF_COUNT (MSR 0x40000020, 100 ns units); EAX bit 11 grants the
//! frequency MSRs TSC_FREQUENCY (0x40000022) and APIC_FREQUENCY (0x40000023), and Linux reads
//! the TSC frequency from them only when EDX bit 8 ("frequency MSRs available") is also set.
//! The numbers are in [`hyperv::cpuid`] and [`hyperv::msr`].

pub mod measurement;
pub mod source;
pub mod wait;

#[cfg(test)]
mod tests;

pub use measurement::{CounterSpec, Limits, Measurement, Progress, Sample};
pub use source::{Frequencies, HypervisorTimeFeatures, PlatformTimers, TimeSource, candidates};
pub use wait::WaitBudget;

/// Why a reference could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationError {
    /// The counter did not change for the allowed number of consecutive reads.
    CounterStuck,
    /// One step of the counter was more than half its range (it went backwards or skipped).
    CounterJumped {
        /// The step, in counter ticks.
        ticks: u64,
    },
    /// The TSC budget or the read budget ran out before enough reference ticks passed.
    TimedOut,
    /// The result is not a plausible frequency.
    ImplausibleFrequency {
        /// Which one: `"tsc"` or `"apic-timer"`.
        which: &'static str,
        /// The value, in Hz.
        hz: u64,
    },
    /// The hypervisor does not grant the access this source needs.
    NotGranted,
}

impl core::fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CalibrationError::CounterStuck => f.write_str("counter-stuck"),
            CalibrationError::CounterJumped { ticks } => write!(f, "counter-jumped({ticks})"),
            CalibrationError::TimedOut => f.write_str("timed-out"),
            CalibrationError::ImplausibleFrequency { which, hz } => {
                write!(f, "implausible-{which}-frequency({hz})")
            }
            CalibrationError::NotGranted => f.write_str("not-granted"),
        }
    }
}
