//! Powering off (ACPI S5) and resetting through the FADT, the same path on Hyper-V Gen2 and
//! QEMU (`/work/shared/reference/hyperv-gen2.md`: write `\_S5`'s SLP_TYPa with SLP_EN to the
//! FADT's PM1a control register; reset through the FADT's reset register).
//!
//! The registers and sleep types come from [`super::acpi::PowerControl`]; the values written
//! are computed by `drivers::acpi_sleep` (host-tested). Both functions only return when the
//! write did not take effect within a bounded wait (or the platform lacks the register).

use drivers::acpi_sleep::SleepTypes;

use super::acpi::{IoRegister, PowerControl};
use crate::arch::cpu;

/// Why the machine is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerError {
    /// The platform was not parsed.
    NoPlatform,
    /// No PM1a control register in the FADT.
    NoControlRegister,
    /// No usable `\_S5`.
    NoSleepType(drivers::acpi_sleep::SleepTypeError),
    /// No reset register (or the FADT says reset through it is unsupported).
    NoResetRegister,
    /// The write was made but the machine did not stop within the wait.
    StillRunning,
}

fn control() -> Result<PowerControl, PowerError> {
    super::info()
        .map(|info| info.power)
        .ok_or(PowerError::NoPlatform)
}

/// Enters S5 (soft off). Returns only on failure.
pub fn power_off() -> PowerError {
    let control = match control() {
        Ok(control) => control,
        Err(error) => return error,
    };
    let Some(pm1a) = control.pm1a_control else {
        return PowerError::NoControlRegister;
    };
    let types = match control.s5 {
        Ok(types) => types,
        Err(error) => return PowerError::NoSleepType(error),
    };
    if let Some(pm1b) = control.pm1b_control {
        write_control(
            pm1b,
            SleepTypes {
                a: types.b,
                b: types.b,
            },
        );
    }
    write_control(pm1a, types);
    wait_to_stop()
}

/// Resets the machine through the FADT reset register. Returns only on failure.
pub fn reset() -> PowerError {
    let control = match control() {
        Ok(control) => control,
        Err(error) => return error,
    };
    let Some((register, value)) = control.reset else {
        return PowerError::NoResetRegister;
    };
    // SAFETY: the port is the FADT's reset register (SystemIO); writing its reset value is what
    // the firmware documents it for.
    unsafe { cpu::write_port_u8(register.port, value) };
    wait_to_stop()
}

fn write_control(register: IoRegister, types: SleepTypes) {
    // SAFETY: the port is the FADT's PM1x control register (SystemIO); reading it has no side
    // effect and the value written keeps its other bits and sets SLP_TYP | SLP_EN, which
    // enters the sleep state, as ACPI defines.
    unsafe {
        let current = cpu::read_port_u16(register.port);
        cpu::write_port_u16(register.port, types.pm1a_control_value(current));
    }
}

/// Gives the platform a second to act on the write.
fn wait_to_stop() -> PowerError {
    let mut budget = crate::clock::wait_budget(1_000_000, 100_000_000);
    while !crate::clock::budget_expired(&mut budget) {
        core::hint::spin_loop();
    }
    PowerError::StillRunning
}
