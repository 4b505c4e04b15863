//! The local APIC in xAPIC mode (MMIO, mapped uncached): enable, end of interrupt, the
//! periodic timer and self-IPIs.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::PhysAddr;

use super::PlatformError;

const ID: usize = 0x20;
const TASK_PRIORITY: usize = 0x80;
const END_OF_INTERRUPT: usize = 0xb0;
const SPURIOUS_VECTOR: usize = 0xf0;
const INTERRUPT_COMMAND_LOW: usize = 0x300;
const INTERRUPT_COMMAND_HIGH: usize = 0x310;
const TIMER_LVT: usize = 0x320;
const TIMER_INITIAL_COUNT: usize = 0x380;
const TIMER_CURRENT_COUNT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

/// The APIC timer counts at the bus clock divided by 16.
const DIVIDE_BY_16: u32 = 0b0011;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const IA32_APIC_BASE: u32 = 0x1b;

static BASE: AtomicU64 = AtomicU64::new(0);

fn register(offset: usize) -> *mut u32 {
    let base = BASE.load(Ordering::Relaxed);
    debug_assert!(base != 0, "local APIC used before init");
    (base as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `register` points into the uncached mapping of the local APIC's 4 KiB register
    // page made by `init`; APIC registers are 32-bit and 16-byte aligned.
    unsafe { core::ptr::read_volatile(register(offset)) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile(register(offset), value) }
}

/// Maps the local APIC at `physical_address`, enables it with spurious vector 0xFF and accepts
/// every priority.
pub fn init(physical_address: u64) -> Result<(), PlatformError> {
    // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU with an APIC (all of them).
    let base_msr = unsafe { crate::arch::cpu::read_msr(IA32_APIC_BASE) };
    if base_msr & (1 << 10) != 0 {
        log::debug!("x2APIC mode is enabled by firmware; using xAPIC MMIO is not possible");
        return Err(PlatformError::Acpi("local APIC is in x2APIC mode"));
    }
    let virtual_address = crate::memory::map_mmio(PhysAddr::new(physical_address), 4096)
        .map_err(|_| PlatformError::Mapping)?;
    BASE.store(virtual_address.as_u64(), Ordering::Relaxed);
    write(TASK_PRIORITY, 0);
    write(
        SPURIOUS_VECTOR,
        0x100 | u32::from(crate::interrupts::SPURIOUS_VECTOR),
    );
    write(TIMER_LVT, LVT_MASKED);
    Ok(())
}

/// This processor's APIC id.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    write(END_OF_INTERRUPT, 0);
}

/// Starts the timer counting down from `u32::MAX` (masked, one-shot) for calibration.
pub fn start_calibration_count() {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(TIMER_LVT, LVT_MASKED);
    write(TIMER_INITIAL_COUNT, u32::MAX);
}

/// Ticks elapsed since [`start_calibration_count`]; stops the count.
pub fn stop_calibration_count() -> u64 {
    let elapsed = u32::MAX - read(TIMER_CURRENT_COUNT);
    write(TIMER_INITIAL_COUNT, 0);
    u64::from(elapsed)
}

/// Starts the periodic timer on `vector`, firing every `ticks` (divide-by-16) timer ticks.
pub fn start_periodic_timer(vector: u8, ticks: u64) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(TIMER_LVT, LVT_PERIODIC | u32::from(vector));
    write(
        TIMER_INITIAL_COUNT,
        ticks.clamp(1, u64::from(u32::MAX)) as u32,
    );
}

/// Sends interrupt `vector` to this processor (fixed delivery, "self" shorthand).
pub fn send_self_interrupt(vector: u8) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        write(INTERRUPT_COMMAND_HIGH, 0);
        write(
            INTERRUPT_COMMAND_LOW,
            (0b01 << 18) | (1 << 14) | u32::from(vector),
        );
        while read(INTERRUPT_COMMAND_LOW) & (1 << 12) != 0 {
            core::hint::spin_loop();
        }
    });
}
