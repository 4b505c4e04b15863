//! userlib's `D3DKMT*` C entry points as a static library for C/C++ programs linked against
//! musl (`kernel/build.rs`, `MUSL_APPS`). The entry points take and return only integers and
//! pointers, so the soft-float Rust code and musl's SSE code share the System V calling
//! convention; they reach the kernel through userlib's `syscall` (dxgos numbers), beside
//! musl's Linux calls. They keep no state of their own: several threads may call them at once
//! (the kernel serves one process's D3DKMT calls one at a time).
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]

// Links userlib's exported C symbols.
pub use userlib;
use userlib::sys::{Native, process};

/// A panic in the entry points ends the process (nothing in them is expected to panic).
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    process::write_console(&Native, b"d3dkmt-c: panic\n");
    process::exit_now(98)
}
