//! The Rust shell of the C demo: the entry point calls `dxgos_c_main` (in `src/demo.c`) and
//! exits with its result. The C code reaches the kernel only through userlib's exported
//! `D3DKMT*` and `dxgos_*` C functions, declared by the generated `d3dkmt_dxgos.h`.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

// Links userlib's exported C symbols.
use userlib as _;
use userlib::sys::{Native, process};

// SAFETY: `dxgos_c_main` is `int dxgos_c_main(void)` in `src/demo.c`, which build.rs compiles
// for the same x86-64 System V ABI (a C `int` is an `i32`). It is declared `safe` because no
// call can break a Rust invariant: it takes no arguments, its C code uses only its own locals,
// string constants and the memory the kernel maps for it (the locked allocation, the fence
// page), and it reaches the kernel only through userlib's exported entry points, with
// pointers to those.
unsafe extern "C" {
    /// The C program's main (`src/demo.c`).
    safe fn dxgos_c_main() -> i32;
}

/// The entry point.
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(_argument: u64) -> ! {
    process::exit_now(dxgos_c_main())
}

/// `memset`, `memcpy` and friends come from compiler_builtins; the C side uses none of libc.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    process::write_console(&Native, b"c-demo: panic\n");
    process::exit_now(98)
}
