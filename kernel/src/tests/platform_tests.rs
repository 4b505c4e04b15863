//! Tests of ACPI discovery, the timer and interrupt delivery.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::ipc::InterruptSignal;
use crate::testing::TestResult;
use crate::{clock, ensure, interrupts, kernel_test, platform, task};

fn acpi_describes_the_apics() -> TestResult {
    let info = platform::info().ok_or("platform not initialised")?;
    ensure!(info.local_apic_address != 0, "no local APIC address");
    ensure!(!info.io_apics.is_empty(), "no I/O APIC");
    ensure!(!info.processor_apic_ids.is_empty(), "no processor");
    ensure!(
        clock::tsc_frequency() > 10_000_000,
        "TSC frequency {} Hz",
        clock::tsc_frequency()
    );
    Ok(())
}
kernel_test!(acpi_describes_the_apics, acpi_describes_the_apics);

fn timer_interrupts_arrive() -> TestResult {
    let start = clock::ticks();
    // Halt-wait (interrupts on) until several ticks have passed.
    let tsc_start = crate::arch::cpu::read_tsc();
    while clock::ticks() < start + 5 {
        task::yield_now();
        crate::arch::cpu::enable_interrupts_and_halt();
        ensure!(
            crate::arch::cpu::read_tsc() - tsc_start < clock::tsc_frequency() * 5,
            "fewer than 5 ticks in 5 s"
        );
    }
    let before_sleep = clock::ticks();
    task::sleep_milliseconds(20);
    let slept = clock::ticks() - before_sleep;
    ensure!(slept >= 20, "slept only {slept} ticks for 20 ms");
    Ok(())
}
kernel_test!(timer_interrupts_arrive, timer_interrupts_arrive);

/// Under QEMU (TCG: no x2APIC, no Hyper-V CPUID leaves) the local APIC is in xAPIC mode at
/// the base IA32_APIC_BASE gives, which the MADT agrees with, and the clock was calibrated
/// against the ACPI PM timer with nothing rejected; both summaries have the boot report's shape.
fn apic_mode_and_clock_source_are_reported() -> TestResult {
    use alloc::string::ToString;
    use drivers::apic::ApicMode;
    use drivers::timekeeping::TimeSource;

    let info = platform::info().ok_or("platform not initialised")?;
    let apic = platform::local_apic::summary().ok_or("no local APIC summary")?;
    ensure!(
        apic.mode
            == ApicMode::XApic {
                base: info.local_apic_address
            },
        "APIC mode {} (MADT {:#x})",
        apic.mode,
        info.local_apic_address
    );
    ensure!(
        platform::local_apic::mode() == Some(apic.mode),
        "mode() disagrees with summary()"
    );
    let line = apic.to_string();
    ensure!(
        line.starts_with("apic mode=xapic base=0x")
            && line.ends_with(&alloc::format!("id={}", apic.id)),
        "apic line {line:?}"
    );
    let calibration = platform::reference_timer::calibration().ok_or("no calibration recorded")?;
    ensure!(
        calibration.source == TimeSource::AcpiPmTimer && calibration.rejected.is_empty(),
        "calibration {calibration}"
    );
    ensure!(
        calibration.frequencies.tsc_hz == clock::tsc_frequency(),
        "calibration {calibration} but the clock runs at {} Hz",
        clock::tsc_frequency()
    );
    let line = calibration.to_string();
    ensure!(
        line.starts_with("clock source=acpi-pm-timer tsc=") && !line.contains("rejected"),
        "clock line {line:?}"
    );
    ensure!(
        crate::serial::bytes_dropped() == 0,
        "COM1 dropped {} bytes",
        crate::serial::bytes_dropped()
    );
    Ok(())
}
kernel_test!(
    apic_mode_and_clock_source_are_reported,
    apic_mode_and_clock_source_are_reported
);

static FUNCTION_HANDLER_CALLS: AtomicU32 = AtomicU32::new(0);

fn count_call(_vector: u8) {
    FUNCTION_HANDLER_CALLS.fetch_add(1, Ordering::Relaxed);
}

fn vector_function_handler_runs() -> TestResult {
    let vector = interrupts::allocate_vector().map_err(|error| alloc::format!("{error:?}"))?;
    interrupts::register_handler(vector, count_call)
        .map_err(|error| alloc::format!("{error:?}"))?;
    ensure!(
        interrupts::register_handler(vector, count_call)
            == Err(interrupts::InterruptError::VectorInUse(vector)),
        "second registration not refused"
    );
    let before = FUNCTION_HANDLER_CALLS.load(Ordering::Relaxed);
    interrupts::send_self_interrupt(vector);
    interrupts::send_self_interrupt(vector);
    let after = FUNCTION_HANDLER_CALLS.load(Ordering::Relaxed);
    interrupts::unregister(vector);
    ensure!(
        after == before + 2,
        "handler ran {} times instead of 2",
        after - before
    );
    Ok(())
}
kernel_test!(vector_function_handler_runs, vector_function_handler_runs);

/// Routes COM1's ISA IRQ 4 through the I/O APIC and provokes it with the UART's
/// "transmitter empty" interrupt.
fn isa_irq_routed_through_io_apic() -> TestResult {
    if !crate::serial::is_present() {
        return Ok(());
    }
    let vector = interrupts::allocate_vector().map_err(|error| alloc::format!("{error:?}"))?;
    let signal = InterruptSignal::new();
    interrupts::register_signal(vector, signal.clone())
        .map_err(|error| alloc::format!("{error:?}"))?;
    let gsi = interrupts::route_isa_irq(4, vector).map_err(|error| alloc::format!("{error:?}"))?;
    crate::serial::set_transmit_interrupt(true);
    let deadline = clock::ticks() + 1000;
    let mut raised = false;
    while clock::ticks() < deadline {
        if signal.take() {
            raised = true;
            break;
        }
        task::sleep_milliseconds(1);
    }
    crate::serial::set_transmit_interrupt(false);
    interrupts::mask_gsi(gsi);
    interrupts::unregister(vector);
    ensure!(
        raised,
        "COM1 IRQ 4 (GSI {gsi}) never arrived on vector {vector:#x}"
    );
    Ok(())
}
kernel_test!(
    isa_irq_routed_through_io_apic,
    isa_irq_routed_through_io_apic
);

fn acpi_gives_the_power_off_and_reset_registers() -> TestResult {
    let info = platform::info().ok_or("platform not initialised")?;
    let power = info.power;
    ensure!(power.pm1a_control.is_some(), "no PM1a control register");
    ensure!(power.s5.is_ok(), "no \\_S5: {:?}", power.s5);
    ensure!(power.reset.is_some(), "no FADT reset register");
    Ok(())
}
kernel_test!(
    acpi_gives_the_power_off_and_reset_registers,
    acpi_gives_the_power_off_and_reset_registers
);

fn setting_the_wall_clock_never_moves_the_monotonic_clock() -> TestResult {
    // 2031-01-01T00:00:00Z and ten seconds before it, in Unix nanoseconds.
    const LATER: u64 = 1_924_992_000_000_000_000;
    const EARLIER: u64 = LATER - 10_000_000_000;
    let before = clock::nanoseconds_since_boot();
    ensure!(clock::set_wall_clock(LATER), "the wall clock was not set");
    let wall = clock::wall_clock_nanoseconds().ok_or("no wall clock after setting it")?;
    let after = clock::nanoseconds_since_boot();
    ensure!(after >= before, "the monotonic clock went back");
    ensure!(
        wall >= LATER && wall - LATER <= after - before,
        "the wall clock reads {wall}, set to {LATER} within {} ns",
        after - before
    );
    // Setting it back in time moves the wall clock only.
    ensure!(
        clock::set_wall_clock(EARLIER),
        "the wall clock was not set back"
    );
    let wall = clock::wall_clock_nanoseconds().ok_or("no wall clock")?;
    ensure!(wall < LATER, "the wall clock did not go back");
    ensure!(
        clock::nanoseconds_since_boot() >= after,
        "the monotonic clock went back with the wall clock"
    );
    Ok(())
}
kernel_test!(
    setting_the_wall_clock_never_moves_the_monotonic_clock,
    setting_the_wall_clock_never_moves_the_monotonic_clock
);

/// TSC → nanoseconds without a division per call (`clock::scale_cycles`): for TSC rates from
/// 1 Hz to 10 GHz and cycle counts up to 2^63, the result is the exact `cycles · 10^9 / hz`
/// rounded down, or one less; it never goes backwards; the calibrated clock converts one
/// second's cycles to 10^9 ns (to one).
fn cycles_convert_to_nanoseconds_by_multiplication() -> TestResult {
    let rates = [
        1,
        3,
        1_000,
        999_986_671,
        1_000_000_000,
        2_593_910_000,
        10_000_000_000,
    ];
    let counts = [
        0,
        1,
        7,
        1_000,
        999_999_937,
        1 << 32,
        123_456_789_012_345,
        1 << 63,
    ];
    for hz in rates {
        let rate = clock::nanoseconds_per_cycle(hz);
        let mut previous = 0;
        for cycles in counts {
            let exact = u128::from(cycles) * 1_000_000_000 / u128::from(hz);
            let exact = u64::try_from(exact).unwrap_or(u64::MAX);
            let scaled = clock::scale_cycles(cycles, rate);
            ensure!(
                scaled == exact || scaled + 1 == exact,
                "{cycles} cycles at {hz} Hz: {scaled} ns, exactly {exact}"
            );
            ensure!(
                scaled >= previous,
                "the conversion went backwards at {hz} Hz"
            );
            previous = scaled;
        }
    }
    ensure!(
        clock::nanoseconds_per_cycle(0) == (0, 0) && clock::scale_cycles(5, (0, 0)) == 0,
        "an uncalibrated clock converts to 0"
    );
    let second = clock::cycles_to_nanoseconds(clock::tsc_frequency());
    ensure!(
        second.abs_diff(1_000_000_000) <= 1,
        "one second of cycles is {second} ns"
    );
    Ok(())
}
kernel_test!(
    cycles_convert_to_nanoseconds_by_multiplication,
    cycles_convert_to_nanoseconds_by_multiplication
);
