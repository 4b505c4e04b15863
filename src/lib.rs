//! The dxgos runner: boots the image in QEMU (q35 + OVMF) and reports how the guest ended.
//!
//! `cargo run` and the QEMU tests (`tests/`) both go through [`run`]. A run:
//! 1. writes a copy of the boot disk with the run's kernel command line (`disk-image`),
//! 2. copies the OVMF variable store (the firmware writes to it),
//! 3. starts QEMU with COM1 on a pipe, `isa-debug-exit` on port 0xF4 and guest RAM in a shared
//!    file (so the emulated Hyper-V host can reach it by guest-physical address),
//! 4. streams COM1, remembers which in-kernel test is running, and enforces a timeout that names
//!    the hung test,
//! 5. maps QEMU's exit status to a [`GuestExit`].
#![forbid(unsafe_code)]

pub mod chaos;
mod firmware;
mod firmware_tables;
mod host;
pub mod platform_layout;
mod qemu;
mod screenshot;
mod serial_monitor;
pub mod symbols;

pub use emulator::vmbus_server::AnswerFault;
pub use firmware::{Firmware, FirmwareError, find_firmware, find_qemu};
pub use host::{HostCounts, HostOptions, VmbusFaults, parse_ic_faults, parse_ic_rescind};
pub use qemu::{
    GuestExit, Mode, POWER_OFF_MARKER, RESTART_MARKER, RunConfig, RunOutcome, RunnerError,
    SCREENSHOT_MARKER, run,
};
pub use screenshot::{Image, read_ppm};

/// Path of the default boot disk written by build.rs.
pub const DEFAULT_IMAGE: &str = env!("DXGOS_IMAGE");
/// Path of the kernel ELF built by build.rs (unstripped: for debuggers).
pub const KERNEL_ELF: &str = env!("DXGOS_KERNEL");
/// Path of the kernel ELF that goes on the ESP (stripped by build.rs where it could be).
pub const KERNEL_ON_ESP: &str = env!("DXGOS_KERNEL_ON_ESP");
/// Path of the UEFI boot stub built by build.rs.
pub const BOOT_STUB: &str = env!("DXGOS_BOOT_STUB");
/// The workspace's target directory (per-run files go to `run/` below it).
pub const TARGET_DIRECTORY: &str = env!("DXGOS_TARGET_DIR");
