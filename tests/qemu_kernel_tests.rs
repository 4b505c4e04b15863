//! Boots the image in QEMU with `mode=test` and checks the in-kernel test run.
//!
//! The kernel prints `test <name> ... ok|FAILED` for each registered test and a closing
//! `kernel tests: N passed, M failed`, then exits through isa-debug-exit (status 33 for all
//! passed). This test fails when QEMU or OVMF is missing, with the install line in the message.
//!
//! The tests expected are found here, independently of the kernel's registration (a linker
//! section): every `kernel_test!(name, …)` invocation in `kernel/src`. Each must be reported
//! `ok`, and the summary's count must equal theirs, so a test that is lost from the section (or
//! never reached) fails this test. Tests named `host_fault_*` need a misbehaving emulated host
//! and are left out of the full run (their own QEMU tests name them).

use std::path::Path;

use dxgos::{GuestExit, Mode, RunConfig, run};

/// The names of the `kernel_test!` invocations in the `.rs` files under `directory` (comment
/// lines skipped).
fn registered_tests(directory: &Path, names: &mut Vec<String>) {
    let entries = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("read {}: {error}", directory.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            registered_tests(&path, names);
            continue;
        }
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (index, _) in code.match_indices("kernel_test!(") {
            let rest = code[index + "kernel_test!(".len()..].trim_start();
            let name: String = rest
                .chars()
                .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
                .collect();
            assert!(
                !name.is_empty(),
                "unparsed kernel_test! in {}",
                path.display()
            );
            // Run only when named, by the QEMU test that sets their host fault up.
            if !name.starts_with("host_fault_") {
                names.push(name);
            }
        }
    }
}

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
    let mut expected = Vec::new();
    registered_tests(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/src"),
        &mut expected,
    );
    assert!(!expected.is_empty(), "no kernel_test! found in kernel/src");
    for name in &expected {
        assert!(
            outcome
                .console
                .lines()
                .any(|line| line.trim_end() == format!("test {name} ... ok")),
            "kernel test {name} was not reported ok:\n{}",
            outcome.console
        );
    }
    assert_eq!(
        passed as usize,
        expected.len(),
        "passed count differs from the {} kernel_test! invocations in kernel/src",
        expected.len()
    );
    assert_eq!(outcome.exit, GuestExit::Success, "guest exit status");
}
