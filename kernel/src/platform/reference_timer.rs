//! Calibration of the TSC and the local APIC timer against a fixed-frequency reference: the
//! ACPI PM timer (3.579545 MHz), else the HPET, else Hyper-V's frequency MSRs.

use x86_64::PhysAddr;

use super::{PlatformError, PlatformInfo, local_apic};
use crate::arch::cpu;

/// Frequency of the ACPI PM timer.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// How long each calibration measures.
const CALIBRATION_MICROSECONDS: u64 = 20_000;

/// The result of a calibration.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// Local APIC timer ticks per second at divide-by-16.
    pub apic_timer_hz: u64,
    /// Which reference was used.
    pub source: &'static str,
}

/// Calibrates against the best reference the platform has.
pub fn calibrate(info: &PlatformInfo) -> Result<Calibration, PlatformError> {
    if let Some(pm_timer) = info.pm_timer {
        let mask = if pm_timer.is_32_bit {
            u32::MAX
        } else {
            0x00ff_ffff
        };
        let read = || cpu::read_port_u32(pm_timer.port) & mask;
        let (tsc_hz, apic_timer_hz) = measure(read, mask, PM_TIMER_HZ);
        return Ok(Calibration {
            tsc_hz,
            apic_timer_hz,
            source: "ACPI PM timer",
        });
    }
    if let Some(address) = info.hpet_address {
        let registers = crate::memory::map_mmio(PhysAddr::new(address), 0x100)
            .map_err(|_| PlatformError::Mapping)?
            .as_u64();
        // SAFETY: `registers` is the uncached mapping of the HPET register block; offset 0 is
        // the capabilities register, 0x10 the configuration register, 0xF0 the main counter.
        let (period_femtoseconds, read) = unsafe {
            let capabilities = core::ptr::read_volatile(registers as *const u64);
            let configuration = (registers + 0x10) as *mut u64;
            core::ptr::write_volatile(configuration, core::ptr::read_volatile(configuration) | 1);
            let counter = (registers + 0xf0) as *const u32;
            (capabilities >> 32, move || {
                core::ptr::read_volatile(counter)
            })
        };
        if let Some(hpet_hz) = 1_000_000_000_000_000u64.checked_div(period_femtoseconds) {
            let (tsc_hz, apic_timer_hz) = measure(read, u32::MAX, hpet_hz);
            return Ok(Calibration {
                tsc_hz,
                apic_timer_hz,
                source: "HPET",
            });
        }
    }
    hyperv_frequencies().ok_or(PlatformError::NoReferenceTimer)
}

/// Counts TSC and APIC timer ticks while `read` (a counter of `reference_hz`, wrapping at
/// `mask`) advances by [`CALIBRATION_MICROSECONDS`].
fn measure(read: impl Fn() -> u32, mask: u32, reference_hz: u64) -> (u64, u64) {
    let wanted = reference_hz * CALIBRATION_MICROSECONDS / 1_000_000;
    x86_64::instructions::interrupts::without_interrupts(|| {
        let start = read();
        local_apic::start_calibration_count();
        let tsc_start = cpu::read_tsc();
        let elapsed = loop {
            let elapsed = u64::from(read().wrapping_sub(start) & mask);
            if elapsed >= wanted {
                break elapsed;
            }
            core::hint::spin_loop();
        };
        let tsc = cpu::read_tsc() - tsc_start;
        let apic = local_apic::stop_calibration_count();
        (tsc * reference_hz / elapsed, apic * reference_hz / elapsed)
    })
}

/// Hyper-V reports both frequencies in MSRs 0x40000022/0x40000023 when the partition may read
/// them (CPUID 0x40000003 EAX bit 11).
fn hyperv_frequencies() -> Option<Calibration> {
    let (_, ebx, ecx, edx) = cpu::cpuid(0x4000_0000, 0);
    let vendor = [ebx.to_le_bytes(), ecx.to_le_bytes(), edx.to_le_bytes()];
    if vendor.concat() != b"Microsoft Hv" {
        return None;
    }
    let (privileges, ..) = cpu::cpuid(0x4000_0003, 0);
    if privileges & (1 << 11) == 0 {
        return None;
    }
    // SAFETY: the frequency MSRs exist when the access-frequency privilege is set.
    let (tsc_hz, apic_hz) = unsafe { (cpu::read_msr(0x4000_0022), cpu::read_msr(0x4000_0023)) };
    Some(Calibration {
        tsc_hz,
        apic_timer_hz: apic_hz / 16,
        source: "Hyper-V frequency MSRs",
    })
}
