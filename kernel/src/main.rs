//! The dxgos kernel.
#![no_std]
#![no_main]

extern crate alloc;

mod serial;

use boot_info::BootInfo;

/// The kernel heap; `memory::init` gives it its pages.
#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Entered from the UEFI boot stub with the boot info's virtual address in `rdi`.
#[unsafe(no_mangle)]
pub extern "sysv64" fn kernel_entry(boot_info: &'static BootInfo) -> ! {
    serial::init();
    serial::write_str("dxgos kernel entered\n");
    let _ = boot_info;
    loop {
        x86_64::instructions::hlt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    serial::write_fmt(format_args!("KERNEL PANIC: {info}\n"));
    loop {
        x86_64::instructions::hlt();
    }
}
