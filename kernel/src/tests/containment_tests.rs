//! Containment and supervision (issue 14): a panic, a page fault and a stack overflow in a
//! task spawned with fault containment end that task only; what it owned through a
//! `TaskSlot` is released; and faults injected into the vPCI and dxg tasks are contained, the
//! drivers restarted, and a process then opens the restarted adapter.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::faults::{self, Driver, Kind, Plan};
use crate::ipc::{self, TrySendError};
use crate::process::{self, ProcessExit, images};
use crate::services::gpu_gateway::DxgGateway;
use crate::services::{GpuStack, supervisor};
use crate::task::{self, TaskSlot};
use crate::testing::TestResult;
use crate::{ensure, kernel_test};

/// A task that counts while others fault: it must keep running.
fn spawn_bystander() -> (Arc<AtomicU64>, Arc<AtomicBool>, task::TaskHandle<()>) {
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (task_count, task_stop) = (count.clone(), stop.clone());
    let handle = task::spawn("bystander", move || {
        while !task_stop.load(Ordering::Relaxed) {
            task_count.fetch_add(1, Ordering::Relaxed);
            task::sleep_milliseconds(1);
        }
    });
    (count, stop, handle)
}

fn contained_faults_end_only_their_task() -> TestResult {
    let (count, stop, bystander) = spawn_bystander();
    for kind in [Kind::Panic, Kind::PageFault, Kind::StackOverflow] {
        let handle = task::Builder::new("faulty")
            .expect_fault()
            .spawn(move || faults_now(kind));
        let expected = match kind {
            Kind::Panic => "panic",
            Kind::PageFault => "page fault",
            Kind::StackOverflow => "stack overflow",
        };
        match handle.join() {
            Err(fault) if fault.reason() == expected => {}
            other => return Err(format!("{kind:?}: expected {expected}, got {other:?}")),
        }
        // A stack overflow is a page fault on the page-fault handler's own stack now.
        let before = count.load(Ordering::Relaxed);
        task::sleep_milliseconds(5);
        ensure!(
            count.load(Ordering::Relaxed) > before,
            "the bystander task stopped after a contained {kind:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    bystander
        .join()
        .map_err(|fault| format!("bystander: {fault:?}"))
}
kernel_test!(
    contained_faults_end_only_their_task,
    contained_faults_end_only_their_task
);

/// Fires a fault of `kind` as the injection points do.
fn faults_now(kind: Kind) {
    faults::arm(Plan {
        driver: Driver::Integration,
        kind,
        after: 0,
    });
    faults::checkpoint(Driver::Integration, 0);
}

/// A task owning a channel's receiver through a slot; it panics (`fault`) or returns.
fn slot_round(fault: bool) -> Result<isize, String> {
    let before = crate::memory::heap::used_bytes() as isize;
    let (sender, receiver) = ipc::channel::<u32>(4);
    let slot = TaskSlot::new(receiver);
    let mut builder = task::Builder::new("owner");
    if fault {
        builder = builder.expect_fault();
    }
    let handle = builder.spawn_in_slot(slot.clone(), move |entered| {
        if let Some(receiver) = entered {
            let _ = receiver.try_recv();
            if core::hint::black_box(fault) {
                panic!("the owner panics with its slot entered");
            }
        }
    });
    let owner = handle.task().clone();
    let result = handle.join();
    ensure!(
        result.is_err() == fault,
        "owner task: expected fault {fault}, got {result:?}"
    );
    let receiver = slot
        .reclaim(&owner)
        .ok_or("the slot was empty after the task ended")?;
    drop(receiver);
    ensure!(
        matches!(sender.try_send(1), Err(TrySendError::Closed(_))),
        "the peer does not see the channel closed after the owner ended"
    );
    drop((sender, slot, owner));
    Ok(crate::memory::heap::used_bytes() as isize - before)
}

fn contained_panic_releases_the_slot() -> TestResult {
    // Warm up the scheduler's queues and the stack pool.
    slot_round(false)?;
    slot_round(true)?;
    let normal = slot_round(false)?;
    let abandoned = slot_round(true)?;
    crate::serial::write_fmt(format_args!(
        "containment: a task ending normally leaves {normal} heap bytes, an abandoned one {abandoned}\n"
    ));
    ensure!(normal == 0, "a normal end leaked {normal} heap bytes");
    // The slot's reference, the body and its result live in the task's control block, not on
    // the abandoned stack (`task::Builder::spawn_in_slot`).
    ensure!(
        abandoned == 0,
        "an abandoned task left {abandoned} heap bytes behind"
    );
    Ok(())
}
kernel_test!(
    contained_panic_releases_the_slot,
    contained_panic_releases_the_slot
);

/// How long the restarted adapter may take to become active (generous: a loaded host).
const RESTART_MILLISECONDS: u64 = 60_000;

/// Runs `d3dkmt-info` (it enumerates and opens the adapter) to its end.
fn run_info(stack: &GpuStack) -> Result<ProcessExit, String> {
    let name = "d3dkmt-info";
    let image = images::find(name).ok_or("no embedded d3dkmt-info")?;
    let handle = process::Builder::new(name, image)
        .spawn(Box::new(DxgGateway::supervised(stack.link.clone(), name)))
        .map_err(|error| format!("spawn {name}: {error:?}"))?;
    Ok(handle.join())
}

/// Arms `plan`, lets a process meet it, and checks the restart and a re-open.
fn fault_and_recover(stack: &GpuStack, plan: Plan, restarts: u64) -> TestResult {
    let restarts_before = supervisor::restarts();
    let generation = stack.link.current().generation;
    let injected = faults::injected();
    faults::arm(plan);
    // This process's calls meet the fault (or come just after it): it is not killed, it
    // ends by itself (with STATUS_DEVICE_REMOVED from its calls, or a success).
    let exit = run_info(stack)?;
    ensure!(
        matches!(exit, ProcessExit::Exited(_)),
        "{plan:?}: the process meeting the fault did not end by itself: {exit:?}"
    );
    ensure!(
        faults::injected() == injected + 1,
        "{plan:?}: the fault was not injected"
    );
    ensure!(
        stack
            .link
            .wait_for_adapter(generation + 1, RESTART_MILLISECONDS),
        "{plan:?}: no restarted adapter within {RESTART_MILLISECONDS} ms"
    );
    ensure!(
        supervisor::restarts() == restarts_before + restarts,
        "{plan:?}: {} restarts, expected {restarts}",
        supervisor::restarts() - restarts_before
    );
    let exit = run_info(stack)?;
    ensure!(
        exit == ProcessExit::Exited(0),
        "{plan:?}: d3dkmt-info on the restarted adapter: {exit:?}"
    );
    Ok(())
}

fn dxg_faults_are_contained_and_dxg_restarted() -> TestResult {
    let stack = GpuStack::start(RESTART_MILLISECONDS)?;
    let result = (|| {
        ensure!(
            run_info(&stack)? == ProcessExit::Exited(0),
            "d3dkmt-info before any fault"
        );
        for kind in [Kind::Panic, Kind::PageFault, Kind::StackOverflow] {
            let plan = Plan {
                driver: Driver::Dxg,
                kind,
                after: 0,
            };
            fault_and_recover(&stack, plan, 1)?;
        }
        Ok(())
    })();
    let shutdown = stack.shut_down();
    result?;
    shutdown
}
kernel_test!(
    supervision_dxg_faults_are_contained_and_dxg_restarted,
    dxg_faults_are_contained_and_dxg_restarted
);

fn vpci_faults_are_contained_and_vpci_restarted() -> TestResult {
    for kind in [Kind::Panic, Kind::PageFault, Kind::StackOverflow] {
        let restarts = supervisor::restarts();
        // After its offer and its open: in the middle of the bus's bring-up.
        faults::arm(Plan {
            driver: Driver::Vpci,
            kind,
            after: 2,
        });
        let stack = GpuStack::start(RESTART_MILLISECONDS)?;
        let result = (|| {
            ensure!(
                faults::armed() == 0,
                "{kind:?}: the vPCI fault did not fire"
            );
            ensure!(
                stack.link.wait_for_adapter(1, RESTART_MILLISECONDS),
                "{kind:?}: no adapter after the vPCI restart"
            );
            // vPCI, and dxg with it.
            ensure!(
                supervisor::restarts() == restarts + 2,
                "{kind:?}: {} restarts, expected 2",
                supervisor::restarts() - restarts
            );
            let exit = run_info(&stack)?;
            ensure!(
                exit == ProcessExit::Exited(0),
                "{kind:?}: d3dkmt-info after the vPCI restart: {exit:?}"
            );
            Ok(())
        })();
        let shutdown = stack.shut_down();
        result?;
        shutdown?;
    }
    Ok(())
}
kernel_test!(
    supervision_vpci_faults_are_contained_and_vpci_restarted,
    vpci_faults_are_contained_and_vpci_restarted
);

fn vmbus_faults_are_contained_and_everything_restarted() -> TestResult {
    let stack = GpuStack::start(RESTART_MILLISECONDS)?;
    let result = (|| {
        ensure!(
            run_info(&stack)? == ProcessExit::Exited(0),
            "d3dkmt-info before any fault"
        );
        for kind in [Kind::Panic, Kind::PageFault, Kind::StackOverflow] {
            let plan = Plan {
                driver: Driver::Vmbus,
                kind,
                after: 0,
            };
            // VMBus, then the integration services, vPCI and dxg above it.
            fault_and_recover(&stack, plan, 4)?;
        }
        Ok(())
    })();
    let shutdown = stack.shut_down();
    result?;
    shutdown
}
kernel_test!(
    supervision_vmbus_faults_are_contained_and_everything_restarted,
    vmbus_faults_are_contained_and_everything_restarted
);

fn a_driver_failing_too_often_stays_down() -> TestResult {
    let stack = GpuStack::start(RESTART_MILLISECONDS)?;
    let restarts = supervisor::restarts();
    // Each restarted instance meets the next fault at once: one more failure than allowed.
    for _ in 0..=supervisor::MAXIMUM_FAILURES {
        faults::arm(Plan {
            driver: Driver::Dxg,
            kind: Kind::Panic,
            after: 0,
        });
    }
    let generation = stack.link.current().generation;
    // Wakes the dxg task, which meets the first fault.
    let _ = run_info(&stack)?;
    let mut waited = 0;
    while faults::armed() != 0 && waited < RESTART_MILLISECONDS {
        task::sleep_milliseconds(10);
        waited += 10;
    }
    let result = (|| {
        ensure!(faults::armed() == 0, "not every armed dxg fault fired");
        ensure!(
            supervisor::restarts() == restarts + supervisor::MAXIMUM_FAILURES as u64,
            "{} restarts, expected {}",
            supervisor::restarts() - restarts,
            supervisor::MAXIMUM_FAILURES
        );
        ensure!(
            !stack.link.wait_for_adapter(generation + 6, 100),
            "a dxg instance came up after the give-up"
        );
        // The rest of the system lives: a process runs, and a GPU call gets an answer.
        let image = images::find("hello").ok_or("no embedded hello")?;
        let hello = process::Builder::new("hello", image)
            .spawn(Box::new(DxgGateway::supervised(
                stack.link.clone(),
                "hello",
            )))
            .map_err(|error| format!("spawn hello: {error:?}"))?;
        ensure!(
            hello.join() == ProcessExit::Exited(0),
            "hello after the give-up"
        );
        let exit = run_info(&stack)?;
        ensure!(
            matches!(exit, ProcessExit::Exited(code) if code != 0),
            "d3dkmt-info without a dxg driver: {exit:?}"
        );
        Ok(())
    })();
    let shutdown = stack.shut_down();
    result?;
    match shutdown {
        Err(reason) if reason.contains("dxg stays down (panic)") => Ok(()),
        other => Err(format!("shutdown after the give-up: {other:?}")),
    }
}
kernel_test!(
    supervision_a_driver_failing_too_often_stays_down,
    a_driver_failing_too_often_stays_down
);
