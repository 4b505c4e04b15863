//! x86-64 specifics: descriptor tables, interrupt entry, exception reports, context switch and
//! the few CPU instructions the rest of the kernel needs.
//!
//! Everything that needs `unsafe` to talk to the CPU lives here (or in `memory` and `platform`),
//! so that tasks, channels and tests are written in safe Rust.

pub mod address_space;
pub mod context;
pub mod cpu;
pub mod exceptions;
pub mod fpu;
pub mod gdt;
pub mod interrupt_entry;
pub mod pci_config;
pub mod user_mode;
pub mod view_region;

/// Entered from the UEFI boot stub with the boot info's virtual address in `rdi` (the linker
/// script's `ENTRY`); runs the kernel.
#[unsafe(no_mangle)]
pub extern "sysv64" fn kernel_entry(boot_info: &'static boot_info::BootInfo) -> ! {
    crate::kernel_main(boot_info)
}

/// Loads the GDT (with the TSS and its IST stacks) and the IDT, and enables SSE for ring 3.
pub fn init() {
    gdt::init();
    fpu::init();
    interrupt_entry::init();
}
