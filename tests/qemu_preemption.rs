//! Preemption and killability end to end in QEMU (issue 14): the in-kernel tests of
//! `kernel/src/tests/preemption_tests.rs`, in two boots.
//!
//! - A ring-3 spinner (`apps/selftest` mode 17) no longer starves another process, which
//!   completes; the spinner is then killed. Registers survive preemption (mode 19), and the
//!   runaway-task watchdog names a kernel task that does not yield.
//! - A process blocked in a GPU call is killed: one waiting for room in a server's full request
//!   queue (the send itself is interruptible), one waiting for a server that never answers
//!   (as a call whose host reply never comes waits for the dxg task: only the kill ends it),
//!   and one blocked in a real CreateDevice through the dxg task, VMBus and the emulated host,
//!   which never answers CreateDevice (`--host-fault dxg-vgpu=0:never`: vGPU command 0, whatever
//!   came before it; counting every dxg answer, `dxg:never@N+`, depended on the boot's order
//!   and broke when other work changed it). The process is killed and released before the
//!   request's bound ends it, and the request then times out in the dxg task: the host never
//!   answered it. The bound is the unshortened default (30 s; it was capped at 10 s, which a
//!   loaded machine's release could outlast), so this boot runs about 30 s longer.
//!
//! No duration is asserted; the runner's timeout only keeps a broken kernel from hanging.

use dxgos::{AnswerFault, GuestExit, Mode, RunConfig, RunOutcome, run};

fn run_kernel_tests(name: &str, tests: &[&str]) -> RunOutcome {
    run_kernel_tests_with(name, tests, |_| {})
}

fn run_kernel_tests_with(
    name: &str,
    tests: &[&str],
    configure: impl FnOnce(&mut RunConfig),
) -> RunOutcome {
    let mut config = RunConfig::new(Mode::Test);
    config.name = name.into();
    config.echo = false;
    config.tests = Some(tests.join(","));
    configure(&mut config);
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
        "preemption_registers_survive_preemption",
        "preemption_runaway_kernel_task_is_reported",
    ];
    let outcome = run_kernel_tests("preemption", &tests);
    assert_passed(&outcome, &tests);
    let console = &outcome.console;
    assert!(
        console.contains("(selftest) killed: killed by its owner"),
        "{console}"
    );
    assert!(
        console.lines().any(|line| line.contains("watchdog: task ")
            && line.contains("\"preemption_runaway_kernel_task_is_reported\"")),
        "the watchdog did not name the runaway task:\n{console}"
    );
}

#[test]
fn a_process_blocked_in_a_gpu_call_is_killed() {
    let tests = [
        "preemption_process_waiting_on_a_full_request_queue_is_killed",
        "preemption_process_waiting_for_a_silent_server_is_killed",
        "host_fault_process_in_a_gpu_call_the_host_never_answers_is_killed",
    ];
    let outcome = run_kernel_tests_with("preemption-gpu-call", &tests, |config| {
        config
            .host
            .answer_faults
            .push(AnswerFault::parse("dxg-vgpu=0:never").expect("a valid host fault"));
        // The request's bound is the default 30 s (no `host-wait-ms`): the release must end
        // within it. A generous run bound for the boot that waits it out.
        config.timeout = std::time::Duration::from_secs(300);
    });
    assert_passed(&outcome, &tests);
    let console = &outcome.console;
    assert_eq!(
        console
            .matches("(selftest) killed: killed by its owner")
            .count(),
        3,
        "{console}"
    );
    assert!(
        console.contains(
            "preemption test: process killed while the host had not answered its CreateDevice"
        ),
        "{console}"
    );
}
