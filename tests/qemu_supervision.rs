//! Contained driver faults and the supervisor (issue 14), under QEMU with the emulated host.
//!
//! Boot 1 (`mode=test`): the in-kernel tests `supervision_*` inject a panic, a page fault and
//! a stack overflow into the dxg task and the VMBus task (after the stack is up, while a
//! process calls the GPU) and into the vPCI task (in the middle of its bus's bring-up); each
//! fault is contained, the driver restarted (VMBus with the integration services, vPCI and
//! dxg above it; vPCI with dxg above it), and a process then enumerates and opens the
//! restarted adapter (`d3dkmt-info` exits 0). The containment tests show a panic, a page
//! fault and a stack overflow ending only their task while another task keeps running, and
//! the heap bytes an abandoned task leaves behind.
//!
//! Boot 2 (`mode=run`): the same faults through the kernel command line
//! (`fault=vpci:stack-overflow@2 fault=dxg:page-fault@3`), in the normal boot path: both
//! drivers restart and the demo then runs to its successful end.
//!
//! A driver made to fail more often than the supervisor allows stays down with its log line,
//! and a process still runs afterwards.
//!
//! A VMBus fault word fires only once the supervisor runs (after the first offer list), so
//! boot 2 does not use one.

use std::time::Duration;

use dxgos::{GuestExit, Mode, RunConfig, run};

const SUPERVISION_TESTS: &str = "contained_faults_end_only_their_task,\
contained_panic_releases_the_slot,fault_words_parse,\
supervision_dxg_faults_are_contained_and_dxg_restarted,\
supervision_vpci_faults_are_contained_and_vpci_restarted,\
supervision_vmbus_faults_are_contained_and_everything_restarted,\
supervision_a_driver_failing_too_often_stays_down";

#[test]
fn driver_faults_are_contained_and_the_drivers_restarted() {
    let mut config = RunConfig::new(Mode::Test);
    config.name = "supervision".into();
    config.echo = false;
    config.tests = Some(SUPERVISION_TESTS.into());
    // Generous: six GPU stack bring-ups under TCG on a loaded machine.
    config.timeout = Duration::from_secs(900);
    let outcome = run(&config).expect("QEMU and OVMF are installed");
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains("kernel tests: 7 passed, 0 failed"),
        "{console}"
    );
    for reason in ["panic", "page fault", "stack overflow"] {
        for line in [
            format!("supervisor: restarted dxg ({reason})"),
            format!("supervisor: restarted vpci ({reason})"),
            format!("supervisor: restarted vmbus ({reason})"),
        ] {
            assert!(console.contains(&line), "no {line:?} in\n{console}");
        }
    }
    assert_eq!(
        console
            .matches("supervisor: restarted dxg (vpci restarted)")
            .count(),
        3,
        "{console}"
    );
    for task in ["dxg", "vpci"] {
        let overflow = format!("stack overflow: task \"{task}\" ran off its stack");
        assert!(console.contains(&overflow), "no {overflow:?} in\n{console}");
    }
    assert!(!console.contains("KERNEL PANIC"), "{console}");
    // Only the driver made to fail too often gives up, and the rest lives on.
    assert_eq!(console.matches("stays down").count(), 1, "{console}");
    assert!(
        console.contains("supervisor: dxg stays down (panic: 6 failures within 60 s)"),
        "{console}"
    );
    assert!(console.contains("hello from ring 3"), "{console}");
}

#[test]
fn fault_words_on_the_command_line_are_injected_and_recovered_in_the_demo() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "supervision-words".into();
    config.echo = false;
    config.timeout = Duration::from_secs(600);
    config.extra_command_line.extend([
        "fault=vpci:stack-overflow@2".into(),
        "fault=dxg:page-fault@3".into(),
    ]);
    let outcome = run(&config).expect("QEMU and OVMF are installed");
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains("supervisor: restarted vpci (stack overflow)"),
        "{console}"
    );
    assert!(
        console.contains("supervisor: restarted dxg (page fault)"),
        "{console}"
    );
    assert!(console.contains("hvdiag: result ok"), "{console}");
    assert!(!console.contains("KERNEL PANIC"), "{console}");
}
