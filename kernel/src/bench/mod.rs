//! Benchmarks (`mode=bench`): printed as `bench <name>: median N <unit> ...` lines on COM1,
//! then QEMU exits with success. Numbers are reported, never asserted.
//!
//! The unit is `cycles` (TSC), or `instructions` when the command line says
//! `bench-unit=instructions`: `cargo run -- bench --icount` runs QEMU with
//! `-icount shift=0,align=off,sleep=off`, where the TSC advances one tick per guest
//! instruction (docs/performance.md, "Guest instruction counts").
//!
//! For short traced runs: `bench-only=ipc` on the command line runs only the [`ipc`] benches,
//! `bench-only=channel` only the channel round trip, `bench-only=ring` only the in-guest VMBus
//! ring ([`host::guest_ring`]), `bench-only=user` only the GPU stack and
//! the ring-3 benches; `bench-samples=N` sets the ring-3 benches' sample count.
//!
//! Benches that cross to the host also print a `<name>_guest` line: the guest-side part, the
//! whole minus the host's time the kernel counted meanwhile ([`crate::host_time`]).
//!
//! - [`host`]: the GPU stack's boot phases, the ring-3 D3DKMT calls (`apps/selftest` mode 9),
//!   the VMBus ring inside the guest;
//! - [`ipc`]: the channel round trip and the pieces it is made of, the wake of a task by an
//!   interrupt.

mod host;
mod ipc;

use alloc::vec::Vec;

use crate::{qemu, serial};

/// What the TSC counts in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// TSC cycles (QEMU without `-icount`: host time scaled to the guest's TSC rate).
    Cycles,
    /// Guest instructions (QEMU `-icount shift=0`: one TSC tick per instruction).
    Instructions,
}

impl Unit {
    /// From the command line's `bench-unit=` (cycles when absent or unknown).
    pub fn from_command_line(command_line: &str) -> Unit {
        match boot_info::command_line_value(command_line, "bench-unit") {
            Some("instructions") => Unit::Instructions,
            _ => Unit::Cycles,
        }
    }

    /// The word printed after a count.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Cycles => "cycles",
            Unit::Instructions => "instructions",
        }
    }
}

/// Runs every benchmark and exits QEMU. `boot_points` are the kernel's boot timestamps (name,
/// TSC) from its entry to its first task.
pub fn run(command_line: &str, boot_points: &[(&'static str, u64)]) -> ! {
    let unit = Unit::from_command_line(command_line);
    serial::write_fmt(format_args!(
        "bench: counting {} (TSC {} Hz)\n",
        unit.name(),
        crate::clock::tsc_frequency()
    ));
    // `bench-only=ipc` runs only the IPC benches, `bench-only=channel` only the channel round
    // trip (short runs for an instruction trace: docs/performance.md).
    // `bench-only=ring` only the in-guest VMBus ring,
    // `bench-only=user` only the GPU stack and the ring-3 benches, and `bench-samples=N`
    // makes the ring-3 benches take N samples each.
    let only = boot_info::command_line_value(command_line, "bench-only");
    let samples = boot_info::command_line_value(command_line, "bench-samples")
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    if only.is_none() || only == Some("user") {
        // The GPU stack first, so that its boot phases follow the kernel's own without a gap.
        host::gpu_stack(unit, boot_points, samples);
    }
    if only.is_none() || only == Some("ring") {
        host::guest_ring(unit);
    }
    if only.is_none() || only == Some("ipc") || only == Some("channel") {
        ipc::channel_round_trip(unit);
    }
    if only.is_none() || only == Some("ipc") {
        ipc::pieces(unit);
        ipc::interrupt_wake(unit);
    }
    qemu::exit_success()
}

/// Sorts `samples` and prints `bench <name>: median … mean … min …`; `FAILED` when empty.
pub fn report(name: &str, unit: Unit, samples: &mut [u64]) {
    if samples.is_empty() {
        serial::write_fmt(format_args!("bench {name}: FAILED (no samples)\n"));
        return;
    }
    samples.sort_unstable();
    let count = samples.len() as u64;
    let median = samples[samples.len() / 2];
    let mean = samples.iter().sum::<u64>() / count;
    let minimum = samples[0];
    let unit = unit.name();
    serial::write_fmt(format_args!(
        "bench {name}: median {median} {unit}, mean {mean} {unit}, min {minimum} {unit} \
         ({count} iterations)\n"
    ));
}

/// Runs `operation` `count` times after `warm_up` unmeasured runs; each sample is the TSC
/// difference around one run. Returns `None` when an operation failed.
pub fn sample(
    count: usize,
    warm_up: usize,
    mut operation: impl FnMut() -> bool,
) -> Option<Vec<u64>> {
    let mut samples = Vec::with_capacity(count);
    for index in 0..count + warm_up {
        let start = crate::arch::cpu::read_tsc();
        let passed = operation();
        let cycles = crate::arch::cpu::read_tsc() - start;
        if !passed {
            return None;
        }
        if index >= warm_up {
            samples.push(cycles);
        }
    }
    Some(samples)
}
