//! Leaving QEMU through the `isa-debug-exit` device at port 0xf4: writing `v` ends QEMU with
//! status `(v << 1) | 1`. Elsewhere (real Hyper-V) the write does nothing and the kernel halts.

use crate::arch::cpu;

/// Value meaning success (QEMU exit status 33).
pub const SUCCESS: u8 = 0x10;
/// Value meaning failure (QEMU exit status 35).
pub const FAILURE: u8 = 0x11;

/// Exits QEMU with `value`, then halts if QEMU did not exit.
pub fn exit(value: u8) -> ! {
    cpu::write_debug_exit_port(value);
    cpu::halt_forever()
}

/// Exits QEMU with the success status.
pub fn exit_success() -> ! {
    exit(SUCCESS)
}

/// Exits QEMU with the failure status.
pub fn exit_failure() -> ! {
    exit(FAILURE)
}
