//! The smallest dxgos application: prints a greeting with the WriteConsole syscall (through
//! userlib's `sys::process` wrappers) and exits with code 0.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use userlib::sys::{Native, process};

/// The entry point: the kernel enters ring 3 here with `rdi` = the spawn argument and `rsp` at
/// the top of the user stack (aligned as after a call).
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(_argument: u64) -> ! {
    process::write_console(&Native, b"hello from ring 3\n");
    process::exit_now(0)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    process::write_console(&Native, b"hello: panic\n");
    process::exit_now(127)
}
