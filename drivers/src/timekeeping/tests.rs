use std::vec::Vec;

use hyperv::cpuid::{HypervisorLeaves, MiscFeatures, PartitionPrivileges};

use super::*;

fn hyper_v_leaves(privileges_eax: u32, misc_edx: u32) -> HypervisorLeaves {
    HypervisorLeaves {
        processor_info_ecx: 1 << 31,
        // "Microsoft Hv", "Hv#1" as the registers hold them.
        vendor: [0x4000_000b, 0x7263_694d, 0x666f_736f, 0x7648_2074],
        interface: 0x3123_7648,
        features: [privileges_eax, 0, 0, misc_edx],
        recommendations: 0,
    }
}

fn sources(timers: PlatformTimers) -> Vec<TimeSource> {
    candidates(timers).collect()
}

#[test]
fn hyper_v_grants_decide_which_hypervisor_sources_are_tried() {
    let all = HypervisorTimeFeatures::from_leaves(&hyper_v_leaves((1 << 11) | (1 << 1), 1 << 8));
    assert_eq!(
        sources(PlatformTimers {
            hypervisor: all,
            pm_timer: true,
            hpet: false
        }),
        [
            TimeSource::HypervFrequencyRegisters,
            TimeSource::HypervReferenceCounter,
            TimeSource::AcpiPmTimer
        ]
    );
    // Privilege bit 11 without "frequency MSRs available" (EDX bit 8): not trusted.
    let no_details = HypervisorTimeFeatures::from_leaves(&hyper_v_leaves((1 << 11) | (1 << 1), 0));
    assert_eq!(
        sources(PlatformTimers {
            hypervisor: no_details,
            pm_timer: true,
            hpet: true
        }),
        [
            TimeSource::HypervReferenceCounter,
            TimeSource::AcpiPmTimer,
            TimeSource::Hpet
        ]
    );
    // No privileges at all (as under QEMU, where CPUID has no Hyper-V leaves).
    let none = HypervisorTimeFeatures::from_leaves(&hyper_v_leaves(0, 1 << 8));
    assert_eq!(
        sources(PlatformTimers {
            hypervisor: none,
            pm_timer: true,
            hpet: true
        }),
        [TimeSource::AcpiPmTimer, TimeSource::Hpet]
    );
    assert_eq!(sources(PlatformTimers::default()), []);
}

#[test]
fn only_hyper_v_leaves_grant_anything() {
    let mut leaves = hyper_v_leaves(1 << 1, 0);
    let features = HypervisorTimeFeatures::from_leaves(&leaves).unwrap();
    assert!(features.reference_counter());
    assert!(!features.frequency_registers());
    assert_eq!(features.misc, MiscFeatures::empty());
    assert_eq!(
        features.privileges,
        PartitionPrivileges::ACCESS_PARTITION_REFERENCE_COUNTER
    );
    leaves.vendor[1] = u32::from_le_bytes(*b"KVMK");
    assert_eq!(HypervisorTimeFeatures::from_leaves(&leaves), None);
    let mut absent = hyper_v_leaves(1 << 1, 0);
    absent.processor_info_ecx = 0;
    assert_eq!(HypervisorTimeFeatures::from_leaves(&absent), None);
}

/// Feeds `reads` (counter, TSC) pairs until the measurement stops.
fn run(mut measurement: Measurement, reads: impl Iterator<Item = (u64, u64)>) -> (Progress, u64) {
    let mut count = 0;
    for (counter, tsc) in reads {
        count += 1;
        let progress = measurement.observe(counter, tsc);
        if progress != Progress::Continue {
            return (progress, count);
        }
    }
    (Progress::Continue, count)
}

#[test]
fn a_steady_pm_timer_finishes_with_its_frequency() {
    let spec = measurement::CounterSpec::pm_timer(false);
    let measurement = Measurement::start(spec, 20_000, 1000, 0, Limits::BOOT);
    assert_eq!(measurement.wanted_ticks(), 71_590);
    // 10 ticks and 8 380 TSC cycles per read: a 3 GHz TSC.
    let reads = (1..).map(|read: u64| (1000 + 10 * read, 8380 * read));
    let (progress, count) = run(measurement, reads);
    assert_eq!(count, 7159);
    let Progress::Finished(sample) = progress else {
        panic!("{progress:?}")
    };
    assert_eq!(sample.reference_ticks, 71_590);
    assert_eq!(sample.tsc_cycles, 8380 * 7159);
    let frequencies = sample.frequencies(62_500 * 20).unwrap();
    // 8380 cycles per 10 ticks of 3 579 545 Hz.
    assert_eq!(frequencies.tsc_hz, 8380 * 7159 * 3_579_545 / 71_590);
    assert_eq!(frequencies.apic_timer_hz, 1_250_000 * 3_579_545 / 71_590);
}

#[test]
fn wraps_of_a_24_bit_counter_are_counted() {
    let spec = measurement::CounterSpec::pm_timer(false);
    let start = 0x00ff_ff00;
    let measurement = Measurement::start(spec, 20_000, start, 0, Limits::BOOT);
    // The counter as the hardware shows it: 24 bits, wrapping; upper bits read as garbage
    // and are masked.
    let reads = (1..).map(|read: u64| (((start + 1000 * read) & 0xff_ffff) | 0xab00_0000, read));
    let (progress, _) = run(measurement, reads);
    let Progress::Finished(sample) = progress else {
        panic!("{progress:?}")
    };
    assert_eq!(sample.reference_ticks, 72_000);
}

#[test]
fn many_wraps_are_counted_when_reads_are_frequent() {
    let spec = CounterSpec {
        frequency_hz: 1_000_000,
        mask: 0xff,
    };
    let measurement = Measurement::start(spec, 1000, 0, 0, Limits::BOOT);
    let reads = (1..).map(|read: u64| ((100 * read) & 0xff, read));
    let (progress, count) = run(measurement, reads);
    assert_eq!(count, 10);
    assert!(matches!(progress, Progress::Finished(sample) if sample.reference_ticks == 1000));
}

#[test]
fn a_stuck_counter_ends_the_measurement() {
    let spec = measurement::CounterSpec::pm_timer(true);
    let limits = Limits {
        unchanged_reads: 500,
        ..Limits::BOOT
    };
    let measurement = Measurement::start(spec, 20_000, 77, 0, limits);
    let (progress, count) = run(measurement, (1..).map(|read| (77, read)));
    assert_eq!(progress, Progress::Failed(CalibrationError::CounterStuck));
    assert_eq!(count, 500);
}

#[test]
fn a_counter_that_stops_after_moving_is_stuck_too() {
    let spec = measurement::CounterSpec::pm_timer(true);
    let limits = Limits {
        unchanged_reads: 50,
        ..Limits::BOOT
    };
    let measurement = Measurement::start(spec, 20_000, 0, 0, limits);
    let reads = (1..).map(|read: u64| (read.min(30), read));
    let (progress, count) = run(measurement, reads);
    assert_eq!(progress, Progress::Failed(CalibrationError::CounterStuck));
    assert_eq!(count, 30 + 50);
}

#[test]
fn a_counter_going_backwards_is_refused() {
    let spec = measurement::CounterSpec::HYPERV_REFERENCE_COUNTER;
    let mut measurement = Measurement::start(spec, 20_000, 5_000_000, 0, Limits::BOOT);
    assert_eq!(measurement.observe(5_000_010, 10), Progress::Continue);
    assert_eq!(
        measurement.observe(5_000_009, 20),
        Progress::Failed(CalibrationError::CounterJumped { ticks: u64::MAX })
    );
}

#[test]
fn a_slow_counter_runs_out_of_tsc_budget() {
    let spec = measurement::CounterSpec::pm_timer(true);
    let limits = Limits {
        tsc_cycles: 1_000_000,
        ..Limits::BOOT
    };
    let measurement = Measurement::start(spec, 20_000, 0, 0, limits);
    // One tick per read, 10 000 cycles per read: the budget ends after 100 reads.
    let reads = (1..).map(|read: u64| (read, 10_000 * read));
    let (progress, count) = run(measurement, reads);
    assert_eq!(progress, Progress::Failed(CalibrationError::TimedOut));
    assert_eq!(count, 101);
}

#[test]
fn a_stuck_tsc_runs_out_of_reads() {
    let spec = measurement::CounterSpec::pm_timer(true);
    let limits = Limits {
        unchanged_reads: 10,
        reads: 1000,
        tsc_cycles: 1 << 32,
    };
    let measurement = Measurement::start(spec, 20_000, 0, 42, limits);
    // The counter moves every 5th read; the TSC never moves.
    let reads = (1..).map(|read: u64| (read / 5, 42));
    let (progress, count) = run(measurement, reads);
    assert_eq!(progress, Progress::Failed(CalibrationError::TimedOut));
    assert_eq!(count, 1000);
}

#[test]
fn implausible_frequencies_are_refused() {
    assert_eq!(
        Frequencies::from_hypervisor(2_500_000_000, 200_000_000),
        Ok(Frequencies {
            tsc_hz: 2_500_000_000,
            apic_timer_hz: 12_500_000
        })
    );
    assert_eq!(
        Frequencies::from_hypervisor(0, 200_000_000),
        Err(CalibrationError::ImplausibleFrequency {
            which: "tsc",
            hz: 0
        })
    );
    assert_eq!(
        Frequencies::from_hypervisor(2_500_000_000, 0),
        Err(CalibrationError::ImplausibleFrequency {
            which: "apic-timer",
            hz: 0
        })
    );
    // A reference that leapt forward in one read makes the TSC look absurdly slow.
    let sample = Sample {
        reference_ticks: 1 << 40,
        tsc_cycles: 1000,
        reference_hz: 10_000_000,
    };
    assert!(matches!(
        sample.frequencies(1000),
        Err(CalibrationError::ImplausibleFrequency { which: "tsc", .. })
    ));
}

#[test]
fn hpet_periods_outside_the_specification_are_refused() {
    assert_eq!(CounterSpec::hpet(0), None);
    assert_eq!(CounterSpec::hpet(100_000_001), None);
    assert_eq!(
        CounterSpec::hpet(10_000_000).map(|spec| spec.frequency_hz),
        Some(100_000_000)
    );
}

#[test]
fn waits_count_spins_before_calibration_and_cycles_after() {
    let mut spins = WaitBudget::new(0, 1000, 3, 0);
    assert!(!spins.is_timed());
    assert_eq!(
        [0, 0, 0, 0].map(|tsc| spins.expired(tsc)),
        [false, false, false, true]
    );

    // 2 GHz, 10 µs: 20 000 cycles.
    let mut timed = WaitBudget::new(2_000_000_000, 10, 3, u64::MAX - 5_000);
    assert!(timed.is_timed());
    assert!(!timed.expired(u64::MAX));
    assert!(!timed.expired(14_998)); // 19 999 cycles later, across the TSC's wrap
    assert!(timed.expired(14_999));

    let mut backwards = WaitBudget::new(2_000_000_000, 10, 3, 1_000_000);
    assert!(backwards.expired(999_999));

    let mut huge = WaitBudget::new(u64::MAX, u64::MAX, 0, 0);
    assert!(!huge.expired(u64::MAX - 1));
}

#[test]
fn sources_and_errors_print_as_the_boot_report_expects() {
    use std::string::ToString;
    assert_eq!(TimeSource::AcpiPmTimer.to_string(), "acpi-pm-timer");
    assert_eq!(
        TimeSource::HypervFrequencyRegisters.to_string(),
        "hyperv-frequency-msrs"
    );
    assert_eq!(CalibrationError::CounterStuck.to_string(), "counter-stuck");
}
