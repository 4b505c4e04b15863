//! Containment and supervision (issue 14): a panic, a page fault and a stack overflow in a
//! task spawned with fault containment end that task only; what it owned through a
//! `TaskSlot` is released; a process (`apps/selftest` mode 21, "the survivor") keeps running
//! through a panic, a page fault and a stack overflow in each of the integration services,
//! dxg, vPCI and VMBus tasks, each contained and its driver restarted, and opens the restarted
//! adapter again after each GPU driver fault; faults in the vPCI task during its bus's bring-up are contained and recovered too.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::faults::{self, Driver, Kind, Plan};
use crate::ipc::{self, TrySendError};
use crate::process::{self, ProcessExit, images};
use crate::services::gpu_gateway::DxgGateway;
use crate::services::{GpuStack, integration_task, supervisor, vpci_task};
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

/// Restarts a fault in `driver` causes: vPCI restarts dxg above it, VMBus the integration
/// services, vPCI and dxg.
fn restarts_caused_by(driver: Driver) -> u64 {
    match driver {
        Driver::Dxg | Driver::Integration => 1,
        Driver::Vpci => 2,
        Driver::Vmbus => 4,
    }
}

/// The faults the survivor lives through: each kind in the dxg, vPCI and VMBus tasks (at most
/// three per driver, within the supervisor's give-up rule).
const SURVIVED_FAULTS: [(Driver, Kind); 9] = [
    (Driver::Dxg, Kind::Panic),
    (Driver::Dxg, Kind::PageFault),
    (Driver::Dxg, Kind::StackOverflow),
    (Driver::Vpci, Kind::Panic),
    (Driver::Vpci, Kind::PageFault),
    (Driver::Vpci, Kind::StackOverflow),
    (Driver::Vmbus, Kind::Panic),
    (Driver::Vmbus, Kind::PageFault),
    (Driver::Vmbus, Kind::StackOverflow),
];

/// What the test has read of the survivor's console (`apps/selftest` mode 21).
#[derive(Debug, Default, Clone, Copy)]
struct SurvivorState {
    /// The last `survivor: tick <n>`.
    tick: u64,
    /// The last `survivor: removed <k>`.
    removed: u64,
    /// The last `survivor: reopened <k>` (0 after `survivor: adapter open`).
    reopened: Option<u64>,
}

/// Reads the survivor's console as it comes (and clears it, so the capture stays small).
struct SurvivorWatch {
    console: crate::syscall::ConsoleCapture,
    state: SurvivorState,
    /// Lines other than ticks, for failure messages (the last few).
    notes: alloc::vec::Vec<String>,
}

impl SurvivorWatch {
    fn poll(&mut self) -> SurvivorState {
        let text = core::mem::take(&mut *self.console.lock());
        for line in text.lines() {
            let number = |prefix: &str| {
                line.strip_prefix(prefix)
                    .and_then(|rest| rest.trim().parse::<u64>().ok())
            };
            if let Some(tick) = number("survivor: tick ") {
                self.state.tick = tick;
                continue;
            }
            if let Some(removed) = number("survivor: removed ") {
                self.state.removed = removed;
            } else if let Some(reopened) = number("survivor: reopened ") {
                self.state.reopened = Some(reopened);
            } else if line == "survivor: adapter open" {
                self.state.reopened = Some(0);
            }
            if self.notes.len() == 16 {
                self.notes.remove(0);
            }
            self.notes.push(String::from(line));
        }
        self.state
    }

    /// Polls (sleeping, so others run) until `condition` holds or `milliseconds` pass; the
    /// state it held in, or `None`.
    fn wait_until(
        &mut self,
        milliseconds: u64,
        mut condition: impl FnMut(&SurvivorState) -> bool,
    ) -> Option<SurvivorState> {
        let mut waited = 0;
        loop {
            let state = self.poll();
            if condition(&state) {
                return Some(state);
            }
            if waited >= milliseconds {
                return None;
            }
            task::sleep_milliseconds(5);
            waited += 5;
        }
    }
}

/// Injects `kind` into `driver` while the survivor runs: the fault is contained, the driver
/// restarted, the survivor keeps ticking while the adapter is gone, then re-opens it and its
/// GPU calls succeed again, and it keeps ticking after.
fn fault_under_the_survivor(
    stack: &GpuStack,
    watch: &mut SurvivorWatch,
    survivor: &process::ProcessHandle,
    driver: Driver,
    kind: Kind,
) -> TestResult {
    let name = driver.name();
    let before = watch.poll();
    let restarts_before = supervisor::restarts();
    let generation = stack.link.current().generation;
    let injected = faults::injected();
    faults::arm(Plan {
        driver,
        kind,
        after: 0,
    });
    // The survivor's next GPU call (or vPCI's doorbell) meets the fault.
    let mut waited = 0;
    while faults::injected() == injected && waited < RESTART_MILLISECONDS {
        watch.poll();
        task::sleep_milliseconds(5);
        waited += 5;
    }
    ensure!(
        faults::injected() == injected + 1,
        "{name} {kind:?}: the fault was not injected"
    );
    let at_fault = watch.poll();
    ensure!(
        stack
            .link
            .wait_for_adapter(generation + 1, RESTART_MILLISECONDS),
        "{name} {kind:?}: no restarted adapter within {RESTART_MILLISECONDS} ms"
    );
    let restarts = supervisor::restarts() - restarts_before;
    ensure!(
        restarts == restarts_caused_by(driver),
        "{name} {kind:?}: {restarts} restarts, expected {}",
        restarts_caused_by(driver)
    );
    let removal = before.removed + 1;
    let reopened = watch
        .wait_until(RESTART_MILLISECONDS, |state| {
            state.reopened == Some(removal) || state.removed > removal
        })
        .ok_or_else(|| {
            format!(
                "{name} {kind:?}: the survivor did not re-open the adapter: {:?}, {:?}",
                watch.state, watch.notes
            )
        })?;
    ensure!(
        reopened.removed == removal && reopened.reopened == Some(removal),
        "{name} {kind:?}: the survivor saw {} removals for one fault: {:?}",
        reopened.removed - before.removed,
        watch.notes
    );
    // Progress while the driver was down and restarting (from the fault to the re-open), and
    // after: the survivor is a process the fault did not touch.
    ensure!(
        reopened.tick > at_fault.tick,
        "{name} {kind:?}: the survivor made no progress from the fault to its re-open"
    );
    let after = watch
        .wait_until(RESTART_MILLISECONDS, |state| state.tick > reopened.tick + 2)
        .ok_or_else(|| format!("{name} {kind:?}: the survivor stopped after its re-open"))?;
    ensure!(
        !survivor.is_finished() || removal == SURVIVED_FAULTS.len() as u64,
        "{name} {kind:?}: the survivor ended early: {:?}",
        watch.notes
    );
    crate::serial::write_fmt(format_args!(
        "survival: {name} {kind:?}: contained, {restarts} restarts; the survivor ticked \
         {} -> {} -> {} -> {} (armed, fault, re-open {removal}, after)\n",
        before.tick, at_fault.tick, reopened.tick, after.tick
    ));
    Ok(())
}

/// Service negotiations of the four integration services of one instance.
const INTEGRATION_SERVICES: u64 = 4;

/// Injects `kind` into the integration services task while the survivor runs: the fault is
/// contained, the task restarted alone (one restart), its services negotiate again, and the
/// GPU stack is not touched: the survivor keeps its adapter and keeps ticking.
fn integration_fault_under_the_survivor(
    stack: &GpuStack,
    watch: &mut SurvivorWatch,
    kind: Kind,
) -> TestResult {
    let before = watch.poll();
    let restarts_before = supervisor::restarts();
    let generation = stack.link.current().generation;
    let negotiated = integration_task::negotiations();
    let injected = faults::injected();
    faults::arm(Plan {
        driver: Driver::Integration,
        kind,
        after: 0,
    });
    let mut waited = 0;
    while (faults::injected() == injected
        || integration_task::negotiations() < negotiated + INTEGRATION_SERVICES)
        && waited < RESTART_MILLISECONDS
    {
        watch.poll();
        task::sleep_milliseconds(5);
        waited += 5;
    }
    ensure!(
        faults::injected() == injected + 1,
        "integration {kind:?}: the fault was not injected"
    );
    let negotiations = integration_task::negotiations() - negotiated;
    ensure!(
        negotiations >= INTEGRATION_SERVICES,
        "integration {kind:?}: {negotiations} services negotiated again after the restart"
    );
    let restarts = supervisor::restarts() - restarts_before;
    ensure!(
        restarts == 1,
        "integration {kind:?}: {restarts} restarts, expected 1"
    );
    let after = watch
        .wait_until(RESTART_MILLISECONDS, |state| state.tick > before.tick + 2)
        .ok_or_else(|| format!("integration {kind:?}: the survivor stopped"))?;
    ensure!(
        stack.link.current().generation == generation && after.removed == before.removed,
        "integration {kind:?}: the GPU adapter was removed: {:?}",
        watch.notes
    );
    crate::serial::write_fmt(format_args!(
        "survival: integration {kind:?}: contained, 1 restart, {negotiations} services \
         negotiated again; the survivor ticked {} -> {} and kept its adapter\n",
        before.tick, after.tick
    ));
    Ok(())
}

/// A process keeps running through a panic, a page fault and a stack overflow in the
/// integration services task (its adapter untouched), then in each of the dxg, vPCI and VMBus
/// tasks, and opens the restarted adapter again after each of those.
fn a_process_lives_through_driver_faults_and_reopens() -> TestResult {
    let stack = GpuStack::start(RESTART_MILLISECONDS)?;
    let console: crate::syscall::ConsoleCapture = Arc::new(spin::Mutex::new(String::new()));
    let wanted = SURVIVED_FAULTS.len() as u64;
    let survivor = process::Builder::new("survivor", images::SELFTEST)
        .argument(21 | (wanted << 8))
        .capture_console(console.clone())
        .spawn(Box::new(DxgGateway::supervised(
            stack.link.clone(),
            "survivor",
        )))
        .map_err(|error| format!("spawn the survivor: {error:?}"))?;
    let mut watch = SurvivorWatch {
        console,
        state: SurvivorState::default(),
        notes: alloc::vec::Vec::new(),
    };
    let result: TestResult = (|| {
        watch
            .wait_until(RESTART_MILLISECONDS, |state| state.reopened == Some(0))
            .ok_or_else(|| format!("the survivor never opened the adapter: {:?}", watch.notes))?;
        for kind in [Kind::Panic, Kind::PageFault, Kind::StackOverflow] {
            integration_fault_under_the_survivor(&stack, &mut watch, kind)?;
        }
        for (driver, kind) in SURVIVED_FAULTS {
            fault_under_the_survivor(&stack, &mut watch, &survivor, driver, kind)?;
        }
        Ok(())
    })();
    if result.is_err() {
        survivor.kill();
    }
    let exit = survivor.join();
    watch.poll();
    let shutdown = stack.shut_down();
    result?;
    ensure!(
        exit == ProcessExit::Exited(0),
        "the survivor ended with {exit:?}: {:?}",
        watch.notes
    );
    shutdown
}
kernel_test!(
    supervision_a_process_lives_through_driver_faults_and_reopens,
    a_process_lives_through_driver_faults_and_reopens
);

/// Polls (sleeping) until `condition` holds or `milliseconds` pass; whether it held.
fn wait_for(milliseconds: u64, mut condition: impl FnMut() -> bool) -> bool {
    let mut waited = 0;
    while !condition() {
        if waited >= milliseconds {
            return false;
        }
        task::sleep_milliseconds(10);
        waited += 10;
    }
    true
}

/// After a contained fault, the ring pages of a channel whose close the host never confirms
/// stay lent to it, in the integration services task and in the vPCI task. Needs a host that
/// never answers GPADL_TEARDOWN: `tests/qemu_supervision.rs` boots it with
/// `--host-fault gpadl-torndown:never`.
fn unconfirmed_closes_keep_their_ring_pages() -> TestResult {
    let stack = GpuStack::start(RESTART_MILLISECONDS)?;
    let result = (|| {
        ensure!(
            wait_for(RESTART_MILLISECONDS, || integration_task::negotiations()
                >= INTEGRATION_SERVICES),
            "the integration services never negotiated"
        );
        let restarts = supervisor::restarts();
        let kept = integration_task::ring_pages_kept();
        faults::arm(Plan {
            driver: Driver::Integration,
            kind: Kind::Panic,
            after: 0,
        });
        ensure!(
            wait_for(RESTART_MILLISECONDS, || supervisor::restarts() > restarts),
            "the integration services task was not restarted"
        );
        let integration_kept = integration_task::ring_pages_kept() - kept;
        // Four channels of 2 × 4 ring pages, none confirmed closed.
        ensure!(
            integration_kept == INTEGRATION_SERVICES * 8,
            "the integration task kept {integration_kept} ring pages of unconfirmed closes"
        );
        let restarts = supervisor::restarts();
        let kept = vpci_task::ring_pages_kept();
        faults::arm(Plan {
            driver: Driver::Vpci,
            kind: Kind::Panic,
            after: 0,
        });
        ensure!(
            wait_for(RESTART_MILLISECONDS, || supervisor::restarts() > restarts),
            "the vPCI task was not restarted"
        );
        let vpci_kept = vpci_task::ring_pages_kept() - kept;
        ensure!(
            vpci_kept > 0,
            "the vPCI task freed the ring pages of a close the host never confirmed"
        );
        crate::serial::write_fmt(format_args!(
            "containment: unconfirmed closes kept {integration_kept} integration and \
             {vpci_kept} vPCI ring pages lent to the host\n"
        ));
        Ok(())
    })();
    // The closes of the shutdown are not confirmed either; only the result above counts.
    let _ = stack.shut_down();
    result
}
kernel_test!(
    host_fault_unconfirmed_closes_keep_their_ring_pages,
    unconfirmed_closes_keep_their_ring_pages
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
