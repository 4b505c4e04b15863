//! The application executables embedded in the kernel.
//!
//! `kernel/build.rs` builds every crate listed in its `APPS` (under `apps/`, target
//! `x86_64-unknown-none`, release) and copies each to `$OUT_DIR/apps/NAME.elf`; they are
//! included here as bytes, so neither the boot stub nor a file system is involved.

/// `apps/hello`: prints a greeting and exits 0.
pub const HELLO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/hello.elf"));

/// `apps/selftest`: the process tests' application (mode = spawn argument).
pub const SELFTEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/selftest.elf"));

/// `apps/gpu-demo`: renders a Mandelbrot on the GPU through D3DKMT, verifies it and shows it
/// (mode = spawn argument).
pub const GPU_DEMO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/gpu-demo.elf"));

/// `apps/d3dkmt-info`: prints what the adapters answer to QueryAdapterInfo and friends.
pub const D3DKMT_INFO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/d3dkmt-info.elf"));

/// `apps/c-demo`: a C program against the generated header, rendering and verifying a gradient.
pub const C_DEMO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/c-demo.elf"));

/// `apps/gpupv-check`: GPU-PV with only the vendor-neutral D3DKMT calls (the boot's
/// `gpupv-check` stage runs it).
pub const GPUPV_CHECK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/gpupv-check.elf"));

/// Every embedded application by name.
pub const ALL: &[(&str, &[u8])] = &[
    ("hello", HELLO),
    ("selftest", SELFTEST),
    ("gpu-demo", GPU_DEMO),
    ("d3dkmt-info", D3DKMT_INFO),
    ("c-demo", C_DEMO),
    ("gpupv-check", GPUPV_CHECK),
];

/// The embedded application called `name`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    ALL.iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, image)| *image)
}

/// `apps/musl-selftest`: the process runtime's test program, a static musl C program
/// (`kernel/build.rs`, `MUSL_APPS`; started with `process::Builder::linux_start`, the mode in
/// `argv[1]`).
pub const MUSL_SELFTEST: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/apps/musl-selftest.elf"));

/// `userlib/tests/c/wsl_style_d3dkmt.cpp` built unchanged as a static musl C++ program: D3DKMT
/// code written the way WSL code is, with a second thread (`MUSL_APPS`; `linux_start`).
pub const WSL_D3DKMT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/wsl-d3dkmt.elf"));
