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
///
/// # Safety
/// Port I/O reaches devices, and through them memory: PCI configuration space (0xCF8/0xCFC)
/// can move BARs over RAM or enable bus mastering, and reads can have device side effects (a
/// UART's data register, a PCI data port after an address write). The caller must name a port
/// of a device it owns, with an access that keeps the device from touching memory the kernel
/// uses (`docs/kernel.md`: the UARTs, the ACPI PM block, the PCI configuration mechanism
/// #1 ports under the ACPI handler's rules, QEMU's isa-debug-exit, the legacy PIC masks).
pub unsafe fn read_port_u8(port: u16) -> u8 {
    // SAFETY: the caller meets this function's contract.
    unsafe { Port::<u8>::new(port).read() }
}

/// Reads a 16-bit I/O port.
///
/// # Safety
/// As [`read_port_u8`].
pub unsafe fn read_port_u16(port: u16) -> u16 {
    // SAFETY: the caller meets `read_port_u8`'s contract.
    unsafe { Port::<u16>::new(port).read() }
}

/// Reads a 32-bit I/O port.
///
/// # Safety
/// As [`read_port_u8`].
pub unsafe fn read_port_u32(port: u16) -> u32 {
    // SAFETY: the caller meets `read_port_u8`'s contract.
    unsafe { Port::<u32>::new(port).read() }
}

/// Writes an 8-bit I/O port.
///
/// # Safety
/// As [`read_port_u8`]; a write must also leave the device unable to write memory the kernel
/// has not given it (no DMA set up through the port, no BAR moved over RAM).
pub unsafe fn write_port_u8(port: u16, value: u8) {
    // SAFETY: the caller meets this function's contract.
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Writes a 16-bit I/O port.
///
/// # Safety
/// As [`write_port_u8`].
pub unsafe fn write_port_u16(port: u16, value: u16) {
    // SAFETY: the caller meets `write_port_u8`'s contract.
    unsafe { Port::<u16>::new(port).write(value) }
}

/// Writes a 32-bit I/O port.
///
/// # Safety
/// As [`write_port_u8`].
pub unsafe fn write_port_u32(port: u16, value: u32) {
    // SAFETY: the caller meets `write_port_u8`'s contract.
    unsafe { Port::<u32>::new(port).write(value) }
}

/// Writes `value` to QEMU's `isa-debug-exit` port (0xF4), which ends QEMU with status
/// `(value << 1) | 1`; elsewhere nothing claims the port.
pub fn write_debug_exit_port(value: u8) {
    // SAFETY: 0xF4 is the isa-debug-exit device (or unclaimed): the write reaches no memory.
    unsafe { write_port_u32(0xf4, u32::from(value)) }
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

/// The caller's frame pointer (`rbp`: the kernel target keeps frame pointers), for a
/// backtrace of the running code.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: copies `rbp` into a register; reads no memory and changes nothing else.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags));
    }
    rbp
}
