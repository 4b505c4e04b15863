//! Small CPU helpers: time stamp counter, halting, port I/O, CPUID and MSR wrappers.

use x86_64::instructions::port::Port;

/// Reads the time stamp counter.
#[inline]
pub fn read_tsc() -> u64 {
    // SAFETY: RDTSC has no side effects; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Halts with interrupts disabled, forever (used after fatal reports).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Enables interrupts and halts until the next one, atomically (`sti; hlt`).
pub fn enable_interrupts_and_halt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

/// Reads an 8-bit I/O port.
pub fn read_port_u8(port: u16) -> u8 {
    // SAFETY: port reads of the ports the kernel uses (ACPI PM block, UART) have no memory effects.
    unsafe { Port::<u8>::new(port).read() }
}

/// Reads a 16-bit I/O port.
pub fn read_port_u16(port: u16) -> u16 {
    // SAFETY: see `read_port_u8`.
    unsafe { Port::<u16>::new(port).read() }
}

/// Reads a 32-bit I/O port.
pub fn read_port_u32(port: u16) -> u32 {
    // SAFETY: see `read_port_u8`.
    unsafe { Port::<u32>::new(port).read() }
}

/// Writes an 8-bit I/O port.
pub fn write_port_u8(port: u16, value: u8) {
    // SAFETY: port I/O cannot violate Rust memory safety on this platform (no DMA is set up
    // through ports the kernel writes).
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Writes a 16-bit I/O port.
pub fn write_port_u16(port: u16, value: u16) {
    // SAFETY: see `write_port_u8`.
    unsafe { Port::<u16>::new(port).write(value) }
}

/// Writes a 32-bit I/O port.
pub fn write_port_u32(port: u16, value: u32) {
    // SAFETY: see `write_port_u8`.
    unsafe { Port::<u32>::new(port).write(value) }
}

/// Executes CPUID for `leaf`/`subleaf` and returns (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let result = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (result.eax, result.ebx, result.ecx, result.edx)
}

/// Reads a model-specific register.
///
/// # Safety
/// The MSR must exist on this CPU (reading an absent MSR raises #GP).
pub unsafe fn read_msr(msr: u32) -> u64 {
    // SAFETY: the caller guarantees the MSR exists.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Writes a model-specific register.
///
/// # Safety
/// The MSR must exist on this CPU and accept `value` (else #GP), and writing it must not break
/// an invariant the kernel relies on (paging, the GDT, the running code's mode).
pub unsafe fn write_msr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees the MSR exists and that the write is harmless.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

/// The processor's physical address width (CPUID 0x80000008 EAX bits 7:0; 36 when the leaf is
/// absent, the architectural minimum).
pub fn physical_address_bits() -> u8 {
    const ADDRESS_SIZES_LEAF: u32 = 0x8000_0008;
    let (highest_extended_leaf, ..) = cpuid(0x8000_0000, 0);
    if highest_extended_leaf < ADDRESS_SIZES_LEAF {
        return 36;
    }
    let (eax, ..) = cpuid(ADDRESS_SIZES_LEAF, 0);
    eax as u8
}

/// Reads CR2, the faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}
