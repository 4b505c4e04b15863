//! Boots the image in QEMU with `mode=test` and checks the in-kernel test run.
//!
//! The kernel prints `test <name> ... ok|FAILED` for each registered test and a closing
//! `kernel tests: N passed, M failed`, then exits through isa-debug-exit (status 33 for all
//! passed). This test fails when QEMU or OVMF is missing, with the install line in the message.

use dxgos::{GuestExit, Mode, RunConfig, run};

fn summary(console: &str) -> Option<(u32, u32)> {
    let line = console
        .lines()
        .rev()
        .find(|line| line.starts_with("kernel tests: "))?;
    let rest = line.strip_prefix("kernel tests: ")?;
    let (passed, failed) = rest.split_once(" passed, ")?;
    Some((
        passed.trim().parse().ok()?,
        failed.trim_end_matches(" failed").trim().parse().ok()?,
    ))
}

#[test]
fn in_kernel_tests_pass_in_qemu() {
    let mut config = RunConfig::new(Mode::Test);
    config.name = "kernel-tests".into();
    let outcome = run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"));
    let (passed, failed) = summary(&outcome.console).unwrap_or_else(|| {
        panic!(
            "no 'kernel tests:' summary line; guest exit {:?}",
            outcome.exit
        )
    });
    println!(
        "QEMU checked: {passed} in-kernel tests passed, {failed} failed, in {:.1} s",
        outcome.elapsed.as_secs_f64()
    );
    assert_eq!(failed, 0, "in-kernel tests failed:\n{}", outcome.console);
    assert!(passed > 0, "no in-kernel test ran");
    assert_eq!(outcome.exit, GuestExit::Success, "guest exit status");
}
