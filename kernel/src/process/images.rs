//! The application executables embedded in the kernel.
//!
//! `kernel/build.rs` builds every crate listed in its `APPS` (under `apps/`, target
//! `x86_64-unknown-none`, release) and copies each to `$OUT_DIR/apps/NAME.elf`; they are
//! included here as bytes, so neither the boot stub nor a file system is involved.

/// `apps/hello`: prints a greeting and exits 0.
pub const HELLO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/hello.elf"));

/// `apps/selftest`: the process tests' application (mode = spawn argument).
pub const SELFTEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/apps/selftest.elf"));

/// Every embedded application by name.
pub const ALL: &[(&str, &[u8])] = &[("hello", HELLO), ("selftest", SELFTEST)];

/// The embedded application called `name`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    ALL.iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, image)| *image)
}
