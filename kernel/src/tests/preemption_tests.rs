//! Tests of the scheduling model (docs/kernel.md, "Scheduling"): a process spinning in ring 3
//! is preempted and killable, a process blocked in a GPU call is killed without waiting for an
//! answer, and the watchdog reports a runaway kernel task by name.
//!
//! No test asserts a duration: "completes" and "is killed" are checked, and the bounds below
//! only keep a broken kernel from hanging the run (the framework's watchdog is the last one).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;

use super::join_within;
use crate::ipc::{self, Client};
use crate::process::{self, KILLED_BY_OWNER, ProcessExit, ProcessHandle, ProcessId, images};
use crate::services::gpu_gateway::DxgGateway;
use crate::services::{GpuStack, dxg_task};
use crate::syscall::status::STATUS_TIMEOUT;
use crate::syscall::{ConsoleCapture, GatewayAnswer, GpuGateway, NoGpu, UserSpace};
use crate::testing::TestResult;
use crate::{clock, ensure, kernel_test, task};

/// Generous bound for a step that normally takes milliseconds (a loaded machine is slow).
const STEP_MILLISECONDS: u64 = 20_000;

fn capture() -> ConsoleCapture {
    Arc::new(Mutex::new(String::new()))
}

/// Spawns `apps/selftest` in `mode` with `gateway`, its console captured.
fn selftest(
    mode: u64,
    console: &ConsoleCapture,
    gateway: Box<dyn GpuGateway>,
) -> Result<ProcessHandle, String> {
    process::Builder::new("selftest", images::SELFTEST)
        .argument(mode)
        .capture_console(console.clone())
        .spawn(gateway)
        .map_err(|error| format!("spawn selftest mode {mode}: {error:?}"))
}

/// Waits (sleeping, so others run) until `condition` holds or `milliseconds` pass; returns
/// whether it held.
fn wait_until(milliseconds: u64, mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..milliseconds / 5 {
        if condition() {
            return true;
        }
        task::sleep_milliseconds(5);
    }
    condition()
}

fn ring_3_spinner_does_not_starve_another_process() -> TestResult {
    let spinner_console = capture();
    let spinner = selftest(17, &spinner_console, Box::new(NoGpu))?;
    // Without preemption this task would never run again once the spinner has the CPU.
    ensure!(
        wait_until(STEP_MILLISECONDS, || spinner_console
            .lock()
            .contains("selftest: spinning")),
        "the spinner never started: {:?}",
        spinner_console.lock()
    );
    let console = capture();
    let other = selftest(5 | (u64::from(b'x') << 8), &console, Box::new(NoGpu))?;
    let exit = other.join();
    ensure!(
        exit == ProcessExit::Exited(0),
        "the other process ended with {exit:?} beside the spinner"
    );
    ensure!(
        *console.lock() == "x0x1x2",
        "the other process wrote {:?}",
        console.lock()
    );
    ensure!(!spinner.is_finished(), "the spinner ended by itself");
    spinner.kill();
    let exit = spinner.join();
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the spinner ended with {exit:?}"
    );
    Ok(())
}
kernel_test!(
    preemption_ring_3_spinner_does_not_starve_another_process,
    ring_3_spinner_does_not_starve_another_process
);

fn registers_survive_preemption() -> TestResult {
    checkers_survive_preemption([19, 19], "a register checker")
}

/// Runs two selftest register checkers (`arguments`: their modes and seeds) side by side, so
/// they preempt each other every time slice in the middle of their loops; each must exit 0
/// (its registers survived) and at least two preemptions must have happened.
pub(super) fn checkers_survive_preemption(arguments: [u64; 2], what: &str) -> TestResult {
    let console = capture();
    let preemptions_before = task::preemptions();
    let first = selftest(arguments[0], &console, Box::new(NoGpu))?;
    let second = selftest(arguments[1], &console, Box::new(NoGpu))?;
    for process in [first, second] {
        let exit = process.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "{what} ended with {exit:?}: {:?}",
            console.lock()
        );
    }
    let preemptions = task::preemptions() - preemptions_before;
    ensure!(
        preemptions >= 2,
        "only {preemptions} preemptions while two processes spun side by side"
    );
    Ok(())
}
kernel_test!(
    preemption_registers_survive_preemption,
    registers_survive_preemption
);

/// A gateway whose every call asks a server that never answers, as a GPU call whose host never
/// replies waits for the dxg task (without a deadline: only an interruption ends the wait).
struct SilentServerGateway {
    client: Client<u32, i32>,
}

impl GpuGateway for SilentServerGateway {
    fn call(
        &mut self,
        _process: ProcessId,
        number: u32,
        _arguments: &mut [u8],
        _user: &mut UserSpace<'_>,
        _arg2: u64,
    ) -> GatewayAnswer {
        GatewayAnswer::Status(
            self.client
                .call_until(number, None)
                .unwrap_or(STATUS_TIMEOUT),
        )
    }
}

/// A server that keeps every request it gets, unanswered, and reports each one: its client,
/// the reports, and its task (which ends, with the number of requests it held, once every
/// client is gone).
fn silent_server() -> (
    Client<u32, i32>,
    ipc::Receiver<u32>,
    task::TaskHandle<usize>,
) {
    let (client, requests) = ipc::service::<u32, i32>(4);
    let (received_sender, received) = ipc::channel::<u32>(4);
    let server = task::spawn("silent server", move || {
        let mut held = alloc::vec::Vec::new();
        while let Ok(request) = requests.recv() {
            let _ = received_sender.try_send(request.body);
            held.push(request);
        }
        held.len()
    });
    (client, received, server)
}

fn process_waiting_for_a_silent_server_is_killed() -> TestResult {
    let (client, received, server) = silent_server();
    let console = capture();
    let blocked = selftest(18, &console, Box::new(SilentServerGateway { client }))?;
    let deadline = clock::ticks() + clock::milliseconds_to_ticks(STEP_MILLISECONDS);
    ensure!(
        received.recv_until(deadline).is_ok(),
        "the process never called the gateway: {:?}",
        console.lock()
    );
    ensure!(
        wait_until(STEP_MILLISECONDS, || blocked.is_blocked()),
        "the process is not blocked in its call"
    );
    blocked.kill();
    let exit = blocked.join();
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the blocked process ended with {exit:?}"
    );
    // The server never answered: the kill did not wait for it. Its client went with the
    // process, so it ends holding the one request.
    let held = server
        .join()
        .map_err(|fault| format!("server: {fault:?}"))?;
    ensure!(held == 1, "the server held {held} requests");
    Ok(())
}
kernel_test!(
    preemption_process_waiting_for_a_silent_server_is_killed,
    process_waiting_for_a_silent_server_is_killed
);

/// A thread of a process runs in ring 3 while another thread of the process is blocked in a
/// GPU call that holds the process's capabilities: the entry to ring 3 does not take them
/// (`ProcessState::root`). musl-selftest mode 6: main calls a gateway that never answers, its
/// second thread spins and then executes `ud2`; the process must end faulted. Were the entry to
/// ring 3 to wait for the capabilities, the second thread would never run and the process
/// would still be blocked when the step's time runs out.
fn thread_runs_while_another_holds_the_process() -> TestResult {
    let (client, received, server) = silent_server();
    let console = capture();
    let process = process::Builder::new("musl-selftest", images::MUSL_SELFTEST)
        .argument(6)
        .linux_start()
        .capture_console(console.clone())
        .spawn(Box::new(SilentServerGateway { client }))
        .map_err(|error| format!("spawn musl-selftest mode 6: {error:?}"))?;
    let deadline = clock::ticks() + clock::milliseconds_to_ticks(STEP_MILLISECONDS);
    let called = received.recv_until(deadline).is_ok();
    let exit = join_within(process, STEP_MILLISECONDS);
    let held = server
        .join()
        .map_err(|fault| format!("server: {fault:?}"))?;
    ensure!(
        called && held == 1,
        "main never made its GPU call (held {held}): {:?}",
        console.lock()
    );
    ensure!(
        exit != ProcessExit::Killed(KILLED_BY_OWNER),
        "the second thread never ran while main was in its GPU call (killed: {exit:?})"
    );
    ensure!(
        matches!(exit, ProcessExit::Faulted(_)),
        "ended with {exit:?}, not the second thread's fault"
    );
    Ok(())
}
kernel_test!(
    preemption_thread_runs_while_another_holds_the_process,
    thread_runs_while_another_holds_the_process
);

/// A process whose GPU call waits to enter a server's full request queue (the server takes
/// nothing) is killed: the send itself is interruptible (`Sender::send_until`).
fn process_waiting_on_a_full_request_queue_is_killed() -> TestResult {
    let (client, requests) = ipc::service::<u32, i32>(1);
    // Fills the queue; the server never takes a request.
    let filler = client.clone();
    let filled = task::spawn("queue filler", move || filler.call_until(0, Some(0)));
    let _ = filled.join();
    ensure!(requests.len() == 1, "the request queue is not full");
    let console = capture();
    let blocked = selftest(18, &console, Box::new(SilentServerGateway { client }))?;
    // Its first system call is a GPU call (EnumAdapters2), which waits for room in the queue.
    ensure!(
        wait_until(STEP_MILLISECONDS, || blocked.is_blocked()),
        "the process is not blocked: {:?}",
        console.lock()
    );
    blocked.kill();
    let exit = blocked.join();
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the process blocked on the full queue ended with {exit:?}"
    );
    ensure!(
        requests.len() == 1,
        "the killed process's request entered the queue"
    );
    drop(requests);
    Ok(())
}
kernel_test!(
    preemption_process_waiting_on_a_full_request_queue_is_killed,
    process_waiting_on_a_full_request_queue_is_killed
);

/// A process blocked in a real GPU call (selftest mode 18's CreateDevice, through the dxg task,
/// VMBus and the host) is killed while it waits. `tests/qemu_preemption.rs` boots this test
/// with a host that never answers that request (`--host-fault dxg-vgpu=0:never`, CreateDevice
/// is vGPU command 0): only the kill ends the wait, long before the dxg request bound (30 s) would.
/// Without the host fault the answer may come first, and the process is killed in its Sleep
/// call; the console line says which.
fn process_blocked_in_a_gpu_call_is_killed() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let result = kill_while_creating_a_device(&stack);
    let shutdown = stack.shut_down();
    result?;
    shutdown
}
kernel_test!(
    preemption_process_blocked_in_a_gpu_call_is_killed,
    process_blocked_in_a_gpu_call_is_killed
);

/// Starts selftest mode 18 on the GPU stack and waits until it has reached CreateDevice and is
/// blocked (in that call, or in its Sleep after it); returns the process and its console.
fn start_blocked_in_create_device(
    stack: &GpuStack,
) -> Result<(ProcessHandle, ConsoleCapture), String> {
    let console = capture();
    let gateway = DxgGateway::new(stack.gpu.clone(), "selftest");
    let blocked = selftest(18, &console, Box::new(gateway))?;
    ensure!(
        wait_until(STEP_MILLISECONDS, || console
            .lock()
            .contains("selftest: creating a device")),
        "the process never got to CreateDevice: {:?}",
        console.lock()
    );
    ensure!(
        wait_until(STEP_MILLISECONDS, || blocked.is_blocked()),
        "the process is not blocked"
    );
    Ok((blocked, console))
}

fn kill_while_creating_a_device(stack: &GpuStack) -> TestResult {
    let (blocked, console) = start_blocked_in_create_device(stack)?;
    blocked.kill();
    let exit = blocked.join();
    // Read after the end: a device created just before the kill shows here too.
    let created = console.lock().contains("selftest: device created");
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the blocked process ended with {exit:?}: {:?}",
        console.lock()
    );
    crate::serial::write_fmt(format_args!(
        "preemption test: process killed while {}\n",
        if created {
            "sleeping after CreateDevice"
        } else {
            "blocked in CreateDevice"
        }
    ));
    Ok(())
}

/// A process blocked in a GPU call whose request the host never answers is killed, long
/// before the dxg request bound would end its wait. Needs a host that stops answering dxg
/// requests: `tests/qemu_preemption.rs` boots it with `--host-fault dxg-vgpu=0:never` (no
/// CreateDevice is ever answered; every other request is), so that the test also sees the
/// request time out in the dxg task after the kill: the proof that the host never answered and
/// that only the kill ended the process's wait. The process's release (the gateway's
/// DESTROYPROCESS, which this host answers) ends before that request times out: it does not
/// wait for the request the process left (`emulator/tests/killed_process_release.rs` pins the
/// same in the dxg core, with the late answer).
///
/// Each check reads the dxg task's time-out count at the event it is about (the kill, the end
/// of the release), never after a wait of its own. The one race left is inherent: the release
/// must end within the request's bound, which is therefore the unshortened default
/// ([`dxg_task::REPLY_MILLISECONDS`], 30 s, against a release of milliseconds; only a machine
/// loaded far beyond that could lose it).
fn process_in_a_gpu_call_the_host_never_answers_is_killed() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let result = kill_while_the_host_is_silent(&stack);
    let shutdown = stack.shut_down();
    result?;
    shutdown
}
kernel_test!(
    host_fault_process_in_a_gpu_call_the_host_never_answers_is_killed,
    process_in_a_gpu_call_the_host_never_answers_is_killed
);

fn kill_while_the_host_is_silent(stack: &GpuStack) -> TestResult {
    let timed_out_before = dxg_task::requests_timed_out();
    let (blocked, console) = start_blocked_in_create_device(stack)?;
    blocked.kill();
    // Killed before the bound ended the request: the kill ended the wait, not the bound (the
    // kill interrupts the wait at once; however long the process then takes to stop, it exits
    // killed at its system call's return).
    ensure!(
        dxg_task::requests_timed_out() == timed_out_before,
        "the request timed out before the kill"
    );
    ensure!(
        wait_until(STEP_MILLISECONDS, || blocked.has_stopped()),
        "the killed process did not stop"
    );
    let exit = blocked.join();
    // Released (DESTROYPROCESS answered) while the request it left was still outstanding.
    ensure!(
        dxg_task::requests_timed_out() == timed_out_before,
        "the process's release waited for the request it left to time out"
    );
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the blocked process ended with {exit:?}: {:?}",
        console.lock()
    );
    ensure!(
        !console.lock().contains("selftest: device created"),
        "the host answered CreateDevice (is the host fault set?)"
    );
    // The host never answered: the request the process left stayed outstanding until the
    // dxg task gave it up at its bound.
    let bound = crate::services::host_waits::reply_milliseconds();
    ensure!(
        wait_until(bound + STEP_MILLISECONDS, || dxg_task::requests_timed_out()
            > timed_out_before),
        "the request the killed process left was answered, or never timed out"
    );
    crate::serial::write_fmt(format_args!(
        "preemption test: process killed while the host had not answered its CreateDevice; \
         the request timed out in the dxg task after the kill\n"
    ));
    Ok(())
}

/// A process whose CPU wait (`WaitForSynchronizationObjectFromCpu`, no timeout) is made after
/// the syscall layer released it (`Outcome::ReturnAfter`, a detached wait) is killed while it
/// waits: the wait ends at once, the process ends killed, and its release leaves nothing in the
/// dxg core (the wait given up, DESTROYPROCESS answered), without any bound running out.
fn process_in_a_detached_cpu_wait_is_killed() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let result = kill_while_waiting_from_the_cpu(&stack);
    let shutdown = stack.shut_down();
    result?;
    shutdown
}
kernel_test!(
    preemption_process_in_a_detached_cpu_wait_is_killed,
    process_in_a_detached_cpu_wait_is_killed
);

fn kill_while_waiting_from_the_cpu(stack: &GpuStack) -> TestResult {
    let timed_out_before = dxg_task::requests_timed_out();
    let console = capture();
    let gateway = DxgGateway::new(stack.gpu.clone(), "selftest");
    let waiting = selftest(22, &console, Box::new(gateway))?;
    let pid = dxg::core::ProcessId(waiting.id().0);
    ensure!(
        wait_until(STEP_MILLISECONDS, || console
            .lock()
            .contains("selftest: waiting from the CPU")),
        "the process never got to its CPU wait: {:?}",
        console.lock()
    );
    ensure!(
        wait_until(STEP_MILLISECONDS, || waiting.is_blocked()),
        "the process is not blocked"
    );
    let held = stack
        .objects
        .call(pid)
        .map_err(|error| format!("{error:?}"))?;
    ensure!(held > 0, "the waiting process holds no dxg objects");
    waiting.kill();
    let exit = waiting.join();
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the waiting process ended with {exit:?}: {:?}",
        console.lock()
    );
    let left = stack
        .objects
        .call(pid)
        .map_err(|error| format!("{error:?}"))?;
    ensure!(left == 0, "the killed process left {left} dxg objects");
    ensure!(
        dxg_task::requests_timed_out() == timed_out_before,
        "a request timed out: the kill or the release waited for a bound"
    );
    Ok(())
}

fn runaway_kernel_task_is_reported() -> TestResult {
    let before = task::runaway_reports();
    // A ready task this one starves.
    let starved = task::spawn("starved by the runaway", || ());
    let limit =
        clock::ticks() + clock::milliseconds_to_ticks(3 * task::RUNAWAY_MILLISECONDS + 10_000);
    while task::runaway_reports() == before && clock::ticks() < limit {
        core::hint::spin_loop();
    }
    let reports = task::runaway_reports() - before;
    let _ = starved.join();
    ensure!(
        reports == 1,
        "the watchdog reported {reports} runaway episodes"
    );
    Ok(())
}
kernel_test!(
    preemption_runaway_kernel_task_is_reported,
    runaway_kernel_task_is_reported
);
