//! The Rust shell of the C demo: the entry point calls `dxgos_c_main` (in `src/demo.c`) and
//! exits with its result. The C code reaches the kernel only through userlib's exported
//! `D3DKMT*` and `dxgos_*` C functions, declared by the generated `d3dkmt_dxgos.h`.
#![no_std]
#![no_main]

// Links userlib's exported C symbols.
use userlib as _;
use userlib::sys::{Native, process};

unsafe extern "C" {
    /// The C program's main (`src/demo.c`).
    safe fn dxgos_c_main() -> i32;
}

/// The entry point.
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
