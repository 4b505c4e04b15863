//! The calibration loop's decisions: the kernel reads a reference counter and the TSC over and
//! over and feeds each pair to [`Measurement::observe`], which says when to stop.
//!
//! The counter may wrap (the 24-bit PM timer wraps every 4.7 s): elapsed time is the sum of
//! the masked steps between consecutive reads, so any number of wraps is counted as long as
//! reads are closer together than half a wrap. A step of more than half the range is taken as
//! a counter that went backwards or skipped ([`CalibrationError::CounterJumped`]).
//!
//! The loop ends, whatever the hardware does, on the first of: enough reference ticks; the
//! counter unchanged for [`Limits::unchanged_reads`] reads in a row (a stuck counter); the TSC
//! advanced by [`Limits::tsc_cycles`] (about 4 s even at 1 GHz, far beyond the 20 ms wanted);
//! [`Limits::reads`] reads in all (for a TSC that does not move either).

use super::CalibrationError;
use super::source::Frequencies;

/// A reference counter: its rate and the mask of its implemented bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSpec {
    /// Ticks per second.
    pub frequency_hz: u64,
    /// Implemented bits (the counter wraps from `mask` to 0).
    pub mask: u64,
}

/// The ACPI PM timer's rate (ACPI spec §4.8.3.3).
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// TIME_REF_COUNT counts 100 ns units.
pub const HYPERV_REFERENCE_COUNTER_HZ: u64 = 10_000_000;
/// The longest HPET period the HPET specification allows (100 ns, in femtoseconds).
const HPET_MAXIMUM_PERIOD_FEMTOSECONDS: u64 = 100_000_000;

impl CounterSpec {
    /// The ACPI PM timer, 24 or 32 bits wide (FADT flag TMR_VAL_EXT).
    pub const fn pm_timer(is_32_bit: bool) -> Self {
        CounterSpec {
            frequency_hz: PM_TIMER_HZ,
            mask: if is_32_bit { 0xffff_ffff } else { 0x00ff_ffff },
        }
    }

    /// Hyper-V's partition reference counter.
    pub const HYPERV_REFERENCE_COUNTER: CounterSpec = CounterSpec {
        frequency_hz: HYPERV_REFERENCE_COUNTER_HZ,
        mask: u64::MAX,
    };

    /// The HPET main counter read 32 bits at a time, from the period in its capabilities
    /// register (femtoseconds per tick); `None` when the period is 0 or above the 100 ns the
    /// HPET specification allows.
    pub fn hpet(period_femtoseconds: u64) -> Option<Self> {
        if period_femtoseconds == 0 || period_femtoseconds > HPET_MAXIMUM_PERIOD_FEMTOSECONDS {
            return None;
        }
        Some(CounterSpec {
            frequency_hz: 1_000_000_000_000_000 / period_femtoseconds,
            mask: 0xffff_ffff,
        })
    }
}

/// When the measurement gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Consecutive reads with no change that mean "stuck".
    pub unchanged_reads: u32,
    /// Reads in all.
    pub reads: u64,
    /// TSC cycles since the start.
    pub tsc_cycles: u64,
}

impl Limits {
    /// The limits the kernel uses at boot. A PM-timer read costs at least ~100 ns (a VM exit
    /// on Hyper-V, an I/O cycle on hardware), so 100 000 unchanged reads are at least 10 ms of
    /// a 3.58 MHz counter not moving; 2^32 TSC cycles are 0.4–4 s at 1–10 GHz.
    pub const BOOT: Limits = Limits {
        unchanged_reads: 100_000,
        reads: 20_000_000,
        tsc_cycles: 1 << 32,
    };
}

/// A finished measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Reference ticks that passed.
    pub reference_ticks: u64,
    /// TSC cycles that passed meanwhile.
    pub tsc_cycles: u64,
    /// The reference's rate.
    pub reference_hz: u64,
}

impl Sample {
    /// Converts `ticks` of some clock counted over this sample to that clock's rate.
    pub fn rate_of(self, ticks: u64) -> u64 {
        let rate = u128::from(ticks) * u128::from(self.reference_hz)
            / u128::from(self.reference_ticks.max(1));
        u64::try_from(rate).unwrap_or(u64::MAX)
    }

    /// The TSC rate, and the APIC timer's from `apic_ticks` counted meanwhile, checked.
    pub fn frequencies(self, apic_ticks: u64) -> Result<Frequencies, CalibrationError> {
        Frequencies::checked(self.rate_of(self.tsc_cycles), self.rate_of(apic_ticks))
    }
}

/// What to do after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Read again.
    Continue,
    /// Enough reference time passed.
    Finished(Sample),
    /// Give up on this reference.
    Failed(CalibrationError),
}

/// One bounded measurement of the TSC against a reference counter.
#[derive(Debug, Clone)]
pub struct Measurement {
    spec: CounterSpec,
    limits: Limits,
    wanted_ticks: u64,
    elapsed_ticks: u64,
    last_counter: u64,
    unchanged_reads: u32,
    reads: u64,
    tsc_start: u64,
}

impl Measurement {
    /// Starts measuring `duration_microseconds` of `spec` from the reads `counter` and `tsc`.
    pub fn start(
        spec: CounterSpec,
        duration_microseconds: u64,
        counter: u64,
        tsc: u64,
        limits: Limits,
    ) -> Self {
        let wanted = u128::from(spec.frequency_hz) * u128::from(duration_microseconds) / 1_000_000;
        Measurement {
            spec,
            limits,
            wanted_ticks: u64::try_from(wanted).unwrap_or(u64::MAX).max(1),
            elapsed_ticks: 0,
            last_counter: counter & spec.mask,
            unchanged_reads: 0,
            reads: 0,
            tsc_start: tsc,
        }
    }

    /// Reference ticks the measurement waits for.
    pub fn wanted_ticks(&self) -> u64 {
        self.wanted_ticks
    }

    /// Takes the next pair of reads.
    pub fn observe(&mut self, counter: u64, tsc: u64) -> Progress {
        self.reads += 1;
        let counter = counter & self.spec.mask;
        let step = counter.wrapping_sub(self.last_counter) & self.spec.mask;
        if step > self.spec.mask / 2 {
            return Progress::Failed(CalibrationError::CounterJumped { ticks: step });
        }
        if step == 0 {
            self.unchanged_reads += 1;
            if self.unchanged_reads >= self.limits.unchanged_reads {
                return Progress::Failed(CalibrationError::CounterStuck);
            }
        } else {
            self.unchanged_reads = 0;
            self.elapsed_ticks += step;
            self.last_counter = counter;
        }
        let tsc_cycles = tsc.wrapping_sub(self.tsc_start);
        if self.elapsed_ticks >= self.wanted_ticks {
            return Progress::Finished(Sample {
                reference_ticks: self.elapsed_ticks,
                tsc_cycles,
                reference_hz: self.spec.frequency_hz,
            });
        }
        if tsc_cycles > self.limits.tsc_cycles || self.reads >= self.limits.reads {
            return Progress::Failed(CalibrationError::TimedOut);
        }
        Progress::Continue
    }
}
