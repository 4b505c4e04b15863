//! The chaos run (issue 14; `mode=chaos chaos-faults=<N>`, `cargo run -- chaos`): the GPU
//! driver stack comes up, then faults are injected into each driver in turn while a cheap app
//! (`d3dkmt-info`: it enumerates and opens the adapter) runs in a loop.
//!
//! Fault `i` (from 0) goes to driver `i mod 3` (VMBus, vPCI, dxg) with kind `(i / 3) mod 3`
//! (panic, page fault, stack overflow), so every nine faults cover each driver and kind once.
//! Each fault is armed at run time (`faults::arm`, to fire at the driver's next checkpoint);
//! an app run meets it (or the vPCI task's doorbell fires it); the supervisor restarts the
//! driver (VMBus with everything above it, vPCI with dxg); then the app runs again on the
//! restarted adapter and must exit 0. A run that does not is counted as failed.
//!
//! Spacing: the supervisor gives a driver up after more than `MAXIMUM_FAILURES` failures
//! within `FAILURE_WINDOW_SECONDS`. The chaos run keeps within that rule rather than changing
//! it: before a fault it waits until its driver has had fewer than `MAXIMUM_FAILURES`
//! injected faults within the window plus [`WINDOW_MARGIN_SECONDS`] (the supervisor records a
//! failure a little after the fault fires).
//!
//! Leaks: the first nine faults (every driver and kind once; half the faults in a run of
//! fewer than 18) are the warm-up, in which the kernel's high-water marks are reached; the
//! free frames and heap bytes in use are then taken as the baseline and compared again after
//! the last fault and app run, with the stack in the same state (adapter active, no
//! process). The stack is then shut
//! down (VMBus UNLOAD), so the emulated host should hold no process, object or IO page: the
//! runner checks its counts after QEMU ends.
//!
//! At the end the summary is written raw to the console:
//! `chaos: F faults injected, R drivers restarted, A app runs completed, L frames leaked,
//! kernel alive`, and QEMU exits with success only if every app run after a restart
//! completed and no frame or heap byte leaked.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;

use crate::faults::{self, Driver, Kind, Plan};
use crate::process::{self, ProcessExit, images};
use crate::services::gpu_gateway::DxgGateway;
use crate::services::{GpuStack, supervisor};
use crate::task;

/// Faults of a chaos run without `chaos-faults=`.
pub const DEFAULT_FAULTS: u64 = 100;
/// Added to the supervisor's failure window when spacing faults.
const WINDOW_MARGIN_SECONDS: u64 = 5;
/// How long the stack may take to come up, and a restarted adapter to become active
/// (generous: a full VMBus bring-up under TCG on a loaded machine).
const RESTART_MILLISECONDS: u64 = 120_000;
/// App runs that may pass before an armed VMBus or dxg fault fires (each run sends the
/// drivers messages; the first one normally meets the fault).
const RUNS_TO_MEET_A_FAULT: u32 = 5;
/// Faults before the leak baseline: every driver and kind once, so that the kernel's
/// high-water marks (the scheduler's queues, say, sized for the most tasks alive at once, which
/// peaks at the first VMBus stack overflow) are reached. Shorter runs warm up for half their
/// faults.
const WARM_UP_FAULTS: u64 = (DRIVERS.len() * KINDS.len()) as u64;
/// The app run in a loop.
const APP: &str = "d3dkmt-info";

const DRIVERS: [Driver; 3] = [Driver::Vmbus, Driver::Vpci, Driver::Dxg];
const KINDS: [Kind; 3] = [Kind::Panic, Kind::PageFault, Kind::StackOverflow];

/// What the chaos run counted.
#[derive(Debug, Default)]
struct Tally {
    injected: u64,
    app_runs: u64,
    failed_runs: u64,
    /// The first problem seen (a failed run, a missing restart).
    first_problem: Option<String>,
}

impl Tally {
    fn problem(&mut self, problem: String) {
        log::error!("chaos: {problem}");
        self.first_problem.get_or_insert(problem);
    }
}

/// Free frames and heap bytes in use.
#[derive(Debug, Clone, Copy)]
struct Usage {
    free_frames: usize,
    heap_bytes: usize,
}

impl Usage {
    fn now() -> Usage {
        Usage {
            free_frames: crate::memory::free_frames(),
            heap_bytes: crate::memory::heap::used_bytes(),
        }
    }
}

/// Runs the chaos mode with `fault_count` faults and exits QEMU with its verdict.
pub fn run(fault_count: u64) -> ! {
    let chaos = task::spawn("chaos", move || chaos(fault_count));
    let success = match chaos.join() {
        Ok(success) => success,
        Err(fault) => {
            log::error!("chaos: the chaos task faulted: {fault:?}");
            false
        }
    };
    if success {
        crate::qemu::exit_success()
    }
    crate::qemu::exit_failure()
}

/// The chaos run; whether it passed.
fn chaos(fault_count: u64) -> bool {
    let stack = match GpuStack::start(RESTART_MILLISECONDS) {
        Ok(stack) => stack,
        Err(error) => {
            log::error!("chaos: the GPU stack did not start: {error}");
            return false;
        }
    };
    let mut tally = Tally::default();
    let mut spacing = Spacing::default();
    expect_clean_run(&stack, &mut tally, "before any fault");
    let warm_up = (fault_count / 2).min(WARM_UP_FAULTS);
    let mut baseline = Usage::now();
    for index in 0..fault_count {
        if index == warm_up {
            baseline = Usage::now();
        }
        let plan = Plan {
            driver: DRIVERS[index as usize % DRIVERS.len()],
            kind: KINDS[(index as usize / DRIVERS.len()) % KINDS.len()],
            after: 0,
        };
        spacing.wait_for_room(plan.driver);
        if let Err(problem) = fault_and_recover(&stack, plan, &mut tally) {
            // The stack did not come back: no later fault can be meaningful.
            tally.problem(problem);
            break;
        }
        spacing.record(plan.driver);
        let usage = Usage::now();
        log::debug!(
            "chaos: after fault {index} ({} {:?}): {} free frames, {} heap bytes in use",
            plan.driver.name(),
            plan.kind,
            usage.free_frames,
            usage.heap_bytes
        );
    }
    let end = Usage::now();
    let leaked_frames = baseline.free_frames.saturating_sub(end.free_frames);
    let leaked_heap = end.heap_bytes.saturating_sub(baseline.heap_bytes);
    crate::serial::write_fmt(format_args!(
        "chaos: after the warm-up {} free frames and {} heap bytes in use, at the end {} and {}\n",
        baseline.free_frames, baseline.heap_bytes, end.free_frames, end.heap_bytes
    ));
    let shutdown = stack.shut_down();
    if let Err(error) = &shutdown {
        tally.problem(format!("the GPU stack's shutdown failed: {error}"));
    }
    crate::serial::write_fmt(format_args!(
        "chaos: {} faults injected, {} drivers restarted, {} app runs completed, {leaked_frames} frames leaked, kernel alive\n",
        tally.injected,
        supervisor::restarts(),
        tally.app_runs
    ));
    if leaked_heap != 0 {
        tally.problem(format!("{leaked_heap} heap bytes leaked"));
    }
    if leaked_frames != 0 {
        tally.problem(format!("{leaked_frames} frames leaked"));
    }
    if tally.injected < fault_count {
        tally.problem(format!(
            "only {} of {fault_count} faults injected",
            tally.injected
        ));
    }
    match &tally.first_problem {
        None => true,
        Some(problem) => {
            crate::serial::write_fmt(format_args!(
                "chaos: FAILED ({} failed app runs; first problem: {problem})\n",
                tally.failed_runs
            ));
            false
        }
    }
}

/// Injects `plan`, waits for the restarted adapter and runs the app on it.
fn fault_and_recover(stack: &GpuStack, plan: Plan, tally: &mut Tally) -> Result<(), String> {
    let generation = stack.link.current().generation;
    let injected = faults::injected();
    faults::arm(plan);
    // The app meets the fault (or runs just before or after it): it must end by itself, with
    // a success or with STATUS_DEVICE_REMOVED from its calls, never be killed.
    let mut runs = 0;
    while faults::injected() == injected && runs < RUNS_TO_MEET_A_FAULT {
        match run_app(stack)? {
            ProcessExit::Exited(_) => {}
            other => tally.problem(format!("{plan:?}: the app meeting the fault: {other:?}")),
        }
        runs += 1;
    }
    if faults::injected() == injected {
        return Err(format!("{plan:?}: the fault did not fire"));
    }
    tally.injected += 1;
    if !stack
        .link
        .wait_for_adapter(generation + 1, RESTART_MILLISECONDS)
    {
        return Err(format!(
            "{plan:?}: no restarted adapter within {RESTART_MILLISECONDS} ms"
        ));
    }
    expect_clean_run(stack, tally, "after a restart");
    Ok(())
}

/// Runs the app once; it must exit 0.
fn expect_clean_run(stack: &GpuStack, tally: &mut Tally, when: &str) {
    match run_app(stack) {
        Ok(ProcessExit::Exited(0)) => tally.app_runs += 1,
        Ok(other) => {
            tally.failed_runs += 1;
            tally.problem(format!("{APP} {when}: {other:?}"));
        }
        Err(error) => {
            tally.failed_runs += 1;
            tally.problem(format!("{APP} {when}: {error}"));
        }
    }
}

/// Runs `d3dkmt-info` to its end, through a gateway that follows the restarts.
fn run_app(stack: &GpuStack) -> Result<ProcessExit, String> {
    let image = images::find(APP).ok_or("no embedded d3dkmt-info")?;
    let handle = process::Builder::new(APP, image)
        .spawn(Box::new(DxgGateway::supervised(stack.link.clone(), APP)))
        .map_err(|error| format!("spawn {APP}: {error:?}"))?;
    Ok(handle.join())
}

/// When each driver's recent faults were injected (timer ticks), to keep within the
/// supervisor's give-up rule.
struct Spacing {
    injected: [VecDeque<u64>; 3],
}

impl Default for Spacing {
    /// Sized for the most faults a window holds, so the run's own bookkeeping does not grow
    /// the heap between the baseline and the end.
    fn default() -> Spacing {
        Spacing {
            injected: core::array::from_fn(|_| {
                VecDeque::with_capacity(supervisor::MAXIMUM_FAILURES + 1)
            }),
        }
    }
}

impl Spacing {
    fn window_ticks() -> u64 {
        crate::clock::milliseconds_to_ticks(
            (supervisor::FAILURE_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS) * 1000,
        )
    }

    fn slot(&mut self, driver: Driver) -> &mut VecDeque<u64> {
        let index = DRIVERS
            .iter()
            .position(|candidate| *candidate == driver)
            .unwrap_or(0);
        &mut self.injected[index]
    }

    /// Sleeps until a fault in `driver` keeps its failures within the supervisor's rule.
    fn wait_for_room(&mut self, driver: Driver) {
        let window = Self::window_ticks();
        let times = self.slot(driver);
        while let Some(&oldest) = times.front() {
            let now = crate::clock::ticks();
            if now.saturating_sub(oldest) > window {
                times.pop_front();
                continue;
            }
            if times.len() < supervisor::MAXIMUM_FAILURES {
                return;
            }
            log::info!(
                "chaos: waiting for {} to have fewer than {} recent failures",
                driver.name(),
                supervisor::MAXIMUM_FAILURES
            );
            let ticks = (oldest + window + 1).saturating_sub(now);
            task::park_until(now + ticks);
        }
    }

    fn record(&mut self, driver: Driver) {
        let now = crate::clock::ticks();
        self.slot(driver).push_back(now);
    }
}
