//! Guard pages under kernel task stacks (issue 14): a task that overflows its stack runs into
//! the unmapped guard below it; the page-fault handler (on its own IST stack) reports the
//! overflow naming the task, and, the task having no fault containment, QEMU ends with the
//! failure status instead of a triple fault (which would reset the machine and loop through
//! the firmware until the runner's timeout). A contained overflow ends only its task
//! (tests/qemu_supervision.rs).

use dxgos::{GuestExit, Mode, RunConfig, run};

#[test]
fn a_task_stack_overflow_hits_the_guard_page_and_is_reported_by_name() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "stack-overflow".into();
    config.echo = false;
    config
        .extra_command_line
        .push("fault=kernel-stack-overflow".into());
    let outcome = run(&config).expect("QEMU and OVMF are installed");
    let console = &outcome.console;
    assert_ne!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains("stack overflow: task \"deep\" ran off its stack into the guard page"),
        "{console}"
    );
    assert!(console.contains("fatal exception: exiting"), "{console}");
    // Reported once: the machine did not reset and boot again.
    assert_eq!(console.matches("stack overflow:").count(), 1, "{console}");
}
