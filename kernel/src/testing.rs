//! The in-kernel test framework.
//!
//! [`kernel_test!`](crate::kernel_test) puts a [`KernelTest`] into the `.kernel_tests` linker
//! section; the linker script collects them between `__kernel_tests_start` and
//! `__kernel_tests_end`. [`run`] runs the selected tests one by one, each in its own task with
//! fault containment, and prints on COM1:
//!
//! ```text
//! test <name> ... ok
//! test <name> ... FAILED: <reason>
//! kernel tests: N passed, M failed
//! ```
//!
//! Tests named `host_fault_*` ([`HOST_FAULT_PREFIX`]) need a host fault their QEMU test
//! configures, and run only when named (`tests=`).
//!
//! `test <name> ... ` is printed before the test runs, so the host can name a hung test; a
//! watchdog on the timer tick also fails a test that runs longer than [`TEST_TIMEOUT_SECONDS`]
//! and exits. Afterwards QEMU exits through isa-debug-exit with 0x10 (all passed) or 0x11.

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::{qemu, serial, task};

/// What a test returns: `Err` carries the failure reason.
pub type TestResult = Result<(), String>;

/// One registered test.
#[repr(C)]
pub struct KernelTest {
    /// The test's name.
    pub name: &'static str,
    /// The test body.
    pub function: fn() -> TestResult,
}

/// Registers `function` (a `fn() -> TestResult`) as kernel test `name`.
#[macro_export]
#[allow_internal_unsafe]
macro_rules! kernel_test {
    ($name:ident, $function:path) => {
        #[cfg(feature = "in-kernel-tests")]
        const _: () = {
            // SAFETY: `.kernel_tests` holds only `KernelTest` statics (the linker script
            // collects it between the two symbols `registered_tests` reads); this is one.
            #[used]
            #[unsafe(link_section = ".kernel_tests")]
            static TEST: $crate::testing::KernelTest = $crate::testing::KernelTest {
                name: stringify!($name),
                function: $function,
            };
        };
        // Without the tests in the image, the test is still type-checked (and so is everything
        // it calls), but nothing refers to it, so it is left out of the link.
        #[cfg(not(feature = "in-kernel-tests"))]
        const _: fn() -> $crate::testing::TestResult = $function;
    };
}

/// Fails the test with a formatted reason unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($reason:tt)+) => {
        if !$condition {
            return Err(alloc::format!($($reason)+));
        }
    };
}

/// Longest a single test may run.
pub const TEST_TIMEOUT_SECONDS: u64 = 60;
static WATCHDOG_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

unsafe extern "C" {
    /// Start of the test registry (linker script symbol).
    static __kernel_tests_start: [u8; 0];
    /// End of the test registry (linker script symbol).
    static __kernel_tests_end: [u8; 0];
}

/// Every registered test.
pub fn registered_tests() -> &'static [KernelTest] {
    let start = (&raw const __kernel_tests_start).cast::<KernelTest>();
    let end = (&raw const __kernel_tests_end).cast::<KernelTest>();
    let count = (end as usize - start as usize) / core::mem::size_of::<KernelTest>();
    // SAFETY: the linker script places only `KernelTest` statics (each 8-byte aligned, of a
    // size that is a multiple of 8, so packed without gaps) between the two symbols; they are
    // immutable statics that live forever.
    unsafe { core::slice::from_raw_parts(start, count) }
}

/// Tests named with this prefix need a misbehaving emulated host that their QEMU test sets up
/// (a runner `--host-fault`): they run only when named, never in `all`.
pub const HOST_FAULT_PREFIX: &str = "host_fault_";

fn is_selected(name: &str, selection: &str) -> bool {
    match selection {
        "all" | "" => !name.starts_with(HOST_FAULT_PREFIX),
        "none" => false,
        list => list.split(',').any(|wanted| wanted == name),
    }
}

/// Called on every timer tick: fails a test that has run too long.
pub fn check_watchdog(now: u64) {
    if now >= WATCHDOG_DEADLINE.load(Ordering::Relaxed) {
        serial::write_fmt(format_args!(
            "FAILED: timed out after {TEST_TIMEOUT_SECONDS} s\nkernel tests: watchdog expired\n"
        ));
        qemu::exit_failure();
    }
}

/// Runs the tests named by `selection` (`all`, `none` or a comma-separated list) and exits QEMU.
///
/// An image built without the `in-kernel-tests` feature (release images, by default) has none
/// registered: it says so and exits with the failure status rather than reporting 0 passed.
pub fn run(selection: &str) -> ! {
    if !cfg!(feature = "in-kernel-tests") {
        serial::write_fmt(format_args!(
            "kernel tests: this image was built without them (release images leave them out; \
             build with DXGOS_KERNEL_TESTS=1)\n"
        ));
        qemu::exit_failure();
    }
    let tests = registered_tests();
    for wanted in selection.split(',') {
        if !matches!(wanted, "all" | "none" | "") && !tests.iter().any(|test| test.name == wanted) {
            serial::write_fmt(format_args!("warning: no kernel test named {wanted:?}\n"));
        }
    }
    let mut passed = 0;
    let mut failed = 0;
    for test in tests
        .iter()
        .filter(|test| is_selected(test.name, selection))
    {
        serial::write_fmt(format_args!("test {} ... ", test.name));
        let deadline =
            crate::clock::ticks() + TEST_TIMEOUT_SECONDS * u64::from(crate::clock::TICK_HZ);
        WATCHDOG_DEADLINE.store(deadline, Ordering::Relaxed);
        let function = test.function;
        let written = serial::bytes_written();
        let outcome = task::Builder::new(test.name)
            .contain_faults()
            .spawn(function)
            .join();
        WATCHDOG_DEADLINE.store(u64::MAX, Ordering::Relaxed);
        if serial::bytes_written() != written {
            // The test printed (a log line, an expected-fault report): repeat the prefix so
            // the verdict sits on a `test <name> ... ` line.
            serial::finish_line();
            serial::write_fmt(format_args!("test {} ... ", test.name));
        }
        match outcome {
            Ok(Ok(())) => {
                passed += 1;
                serial::write_str("ok\n");
            }
            Ok(Err(reason)) => {
                failed += 1;
                serial::write_fmt(format_args!("FAILED: {reason}\n"));
            }
            Err(fault) => {
                failed += 1;
                serial::write_fmt(format_args!(
                    "FAILED: {} at {:#x} (address {:#x})\n",
                    fault.name, fault.instruction, fault.address
                ));
            }
        }
    }
    serial::write_fmt(format_args!(
        "kernel tests: {passed} passed, {failed} failed\n"
    ));
    if failed == 0 {
        qemu::exit_success()
    } else {
        qemu::exit_failure()
    }
}
