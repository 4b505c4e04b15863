//! Preemption and killability end to end in QEMU (issue 14): the in-kernel tests of
//! `kernel/src/tests/preemption_tests.rs` run in their own boots, one of them beside an emulated
//! host that never answers a dxg request.
//!
//! - A ring-3 spinner (`apps/selftest` mode 16) no longer starves another process, which
//!   completes; the spinner is then killed. The runaway-task watchdog names a kernel task that
//!   does not yield.
//! - A process blocked in a GPU call whose host reply never comes (the hostile-host row "dxg
//!   reply never sent": CreateDevice is never answered) is killed, and the kill does not wait
//!   for the dxg task's reply bound (30 s by default): the kill is reported before the dxg
//!   task gives the request up.
//!
//! No duration is asserted; the runner's timeout only keeps a broken kernel from hanging.

use dxgos::{GuestExit, Mode, RunConfig, RunOutcome, run};

fn run_kernel_tests(name: &str, tests: &[&str], hostile_row: Option<&str>) -> RunOutcome {
    let mut config = RunConfig::new(Mode::Test);
    config.name = name.into();
    config.echo = false;
    config.tests = Some(tests.join(","));
    config.host.hostile_row = hostile_row.map(String::from);
    run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"))
}

fn assert_passed(outcome: &RunOutcome, tests: &[&str]) {
    let console = &outcome.console;
    for test in tests {
        assert!(
            console
                .lines()
                .any(|line| line.trim_end() == format!("test {test} ... ok")),
            "kernel test {test} was not reported ok:\n{console}"
        );
    }
    assert!(!console.contains("panic"), "{console}");
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
}

#[test]
fn a_ring_3_spinner_does_not_starve_another_process_and_is_killed() {
    let tests = [
        "preemption_ring_3_spinner_does_not_starve_another_process",
        "preemption_process_waiting_for_a_silent_server_is_killed",
        "preemption_runaway_kernel_task_is_reported",
    ];
    let outcome = run_kernel_tests("preemption", &tests, None);
    assert_passed(&outcome, &tests);
    let console = &outcome.console;
    assert!(
        console.contains("(selftest) killed: killed by its owner"),
        "{console}"
    );
    assert!(
        console
            .lines()
            .any(|line| line.starts_with("watchdog: task ")
                && line.contains("\"preemption_runaway_kernel_task_is_reported\"")),
        "the watchdog did not name the runaway task:\n{console}"
    );
}

#[test]
fn a_process_blocked_in_a_never_answered_gpu_call_is_killed() {
    let tests = ["preemption_process_blocked_in_a_gpu_call_is_killed"];
    let outcome = run_kernel_tests(
        "preemption-hostile-dxg",
        &tests,
        Some("dxg reply never sent"),
    );
    assert_passed(&outcome, &tests);
    let console = &outcome.console;
    let killed = console
        .find("preemption test: process killed while blocked in CreateDevice")
        .unwrap_or_else(|| panic!("not killed inside the unanswered CreateDevice:\n{console}"));
    // The dxg task gives the request up only at its bound; the kill came first.
    if let Some(given_up) = console.find("dxg: no reply to transaction") {
        assert!(
            killed < given_up,
            "the kill waited for the dxg reply bound:\n{console}"
        );
    }
}
