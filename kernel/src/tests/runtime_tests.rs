//! Tests of the process runtime (docs/d3dkmt.md, "Process runtime"): user threads' x87/SSE
//! state across preemption, and static musl C/C++ programs (`apps/musl-selftest`, the WSL-style
//! D3DKMT program) with threads, futexes, anonymous memory and clocks.
//!
//! No test asserts a duration; bounds only keep a broken kernel from hanging the run.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;

use super::join_within;
use crate::arch::fpu::{DEFAULT_FPU_CONTROL_WORD, DEFAULT_MXCSR, FpuState};
use crate::process::{self, KILLED_BY_OWNER, ProcessExit, ProcessHandle, images};
use crate::services::GpuStack;
use crate::services::gpu_gateway::DxgGateway;
use crate::syscall::{ConsoleCapture, GpuGateway, NoGpu};
use crate::testing::TestResult;
use crate::{ensure, kernel_test, task};

fn capture() -> ConsoleCapture {
    Arc::new(Mutex::new(String::new()))
}

/// A fresh thread's area goes through the CPU unchanged: restored, then saved, it still holds
/// the default control word and MXCSR.
fn fresh_fpu_state_round_trips() -> TestResult {
    let fresh = FpuState::new();
    ensure!(
        fresh.control_word() == DEFAULT_FPU_CONTROL_WORD && fresh.mxcsr() == DEFAULT_MXCSR,
        "a fresh area holds fcw {:#x} mxcsr {:#x}",
        fresh.control_word(),
        fresh.mxcsr()
    );
    // Through the CPU as a thread's would go: loaded (saving whichever process thread's
    // registers were live into its own area first), then saved from the registers again.
    let mut saved = fresh;
    saved.load();
    saved.left_ring3();
    saved.save_now();
    ensure!(
        saved.control_word() == DEFAULT_FPU_CONTROL_WORD && saved.mxcsr() == DEFAULT_MXCSR,
        "restored then saved: fcw {:#x} mxcsr {:#x}",
        saved.control_word(),
        saved.mxcsr()
    );
    Ok(())
}
kernel_test!(
    runtime_fresh_fpu_state_round_trips,
    fresh_fpu_state_round_trips
);

/// Two processes with different values in xmm0–xmm15, MXCSR and the x87 control word preempt
/// each other mid-loop; each finds its own values every round.
fn vector_registers_survive_preemption() -> TestResult {
    super::preemption_tests::checkers_survive_preemption(
        [20 | (1 << 8), 20 | (2 << 8)],
        "a vector register checker",
    )
}
kernel_test!(
    runtime_vector_registers_survive_preemption,
    vector_registers_survive_preemption
);

/// Generous bound for a step that normally takes milliseconds (a loaded machine is slow).
const STEP_MILLISECONDS: u64 = 20_000;

/// Starts `apps/musl-selftest` in `mode` (its `argv[1]`) with `gateway`, console captured.
fn musl_selftest(
    mode: u64,
    console: &ConsoleCapture,
    gateway: Box<dyn GpuGateway>,
) -> Result<ProcessHandle, String> {
    process::Builder::new("musl-selftest", images::MUSL_SELFTEST)
        .argument(mode)
        .linux_start()
        .capture_console(console.clone())
        .spawn(gateway)
        .map_err(|error| format!("spawn musl-selftest mode {mode}: {error:?}"))
}

/// Runs musl-selftest `mode` to its end; checks the exit and, if given, a line it printed.
fn musl_mode_ends(mode: u64, expected: ProcessExit, text: Option<&str>) -> TestResult {
    let console = capture();
    let exit = musl_selftest(mode, &console, Box::new(NoGpu))?.join();
    let printed = console.lock().clone();
    ensure!(
        exit == expected,
        "musl-selftest mode {mode} ended with {exit:?} (expected {expected:?}); it wrote:\n{printed}"
    );
    if let Some(text) = text {
        ensure!(
            printed.contains(text),
            "musl-selftest mode {mode} wrote:\n{printed}"
        );
    }
    Ok(())
}

/// printf (with %f and %ls), malloc and friends, mmap/munmap, clocks, nanosleep, four threads
/// with a mutex, a condition variable, pthread_once and __thread, joined.
fn musl_program_runs_threads() -> TestResult {
    musl_mode_ends(
        1,
        ProcessExit::Exited(0),
        Some("musl-selftest: 4 threads counted to 8000"),
    )?;
    let console = capture();
    let exit = musl_selftest(1, &console, Box::new(NoGpu))?.join();
    ensure!(
        exit == ProcessExit::Exited(0) && console.lock().contains("42 2.500 wide"),
        "second run: {exit:?}: {:?}",
        console.lock()
    );
    Ok(())
}
kernel_test!(runtime_musl_program_runs_threads, musl_program_runs_threads);

/// Bad arguments to every Linux call the runtime serves get errno values, not a crash.
fn musl_bad_arguments_are_refused() -> TestResult {
    musl_mode_ends(
        5,
        ProcessExit::Exited(0),
        Some("musl-selftest: bad arguments refused"),
    )
}
kernel_test!(
    runtime_musl_bad_arguments_are_refused,
    musl_bad_arguments_are_refused
);

/// abort() in a second thread ends the whole process (128 + SIGABRT); exit() in the main thread
/// ends it while another thread waits on a condition variable forever.
fn musl_process_ends_with_any_thread() -> TestResult {
    musl_mode_ends(3, ProcessExit::Exited(134), None)?;
    musl_mode_ends(4, ProcessExit::Exited(7), None)
}
kernel_test!(
    runtime_musl_process_ends_with_any_thread,
    musl_process_ends_with_any_thread
);

/// A kill ends every thread (two spin in ring 3) and frees the process's pages.
fn kill_ends_every_thread() -> TestResult {
    let frames_before = crate::memory::free_frames();
    let console = capture();
    let process = musl_selftest(2, &console, Box::new(NoGpu))?;
    let mut started = false;
    for _ in 0..STEP_MILLISECONDS / 5 {
        started = console.lock().contains("musl-selftest: spinning") && process.live_threads() == 2;
        if started {
            break;
        }
        task::sleep_milliseconds(5);
    }
    ensure!(
        started,
        "the two spinners never started: {:?}",
        console.lock()
    );
    // Both spin without system calls: only preemption lets this task run again.
    task::sleep_milliseconds(50);
    ensure!(!process.is_finished(), "the spinners ended by themselves");
    process.kill();
    let mut ended = false;
    for _ in 0..STEP_MILLISECONDS / 5 {
        ended = process.is_finished();
        if ended {
            break;
        }
        task::sleep_milliseconds(5);
    }
    ensure!(ended, "the killed process did not end");
    ensure!(
        process.live_threads() == 0,
        "{} threads still live",
        process.live_threads()
    );
    let exit = process.join();
    ensure!(
        exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "ended with {exit:?}"
    );
    let frames_after = crate::memory::free_frames();
    ensure!(
        frames_after + 8 >= frames_before,
        "{} frames fewer after the process ended",
        frames_before.saturating_sub(frames_after)
    );
    Ok(())
}
kernel_test!(runtime_kill_ends_every_thread, kill_ends_every_thread);

/// How long the WSL-style program may take (guest time) before the test calls it stuck.
const WSL_STYLE_MILLISECONDS: u64 = 30_000;

/// The WSL-style D3DKMT program (`userlib/tests/c/wsl_style_d3dkmt.cpp`, built unchanged on
/// musl) runs green against the emulated host, its second and third threads included: the
/// third waits from the CPU for a fence the main thread signals meanwhile, which deadlocks if
/// one thread's host wait holds the whole process (then the program is killed after
/// [`WSL_STYLE_MILLISECONDS`] and the test fails).
fn wsl_style_program_runs() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let console = capture();
    let result = process::Builder::new("wsl-d3dkmt", images::WSL_D3DKMT)
        .linux_start()
        .capture_console(console.clone())
        .spawn(Box::new(
            DxgGateway::new(stack.gpu.clone(), "wsl-d3dkmt")
                .with_object_counts(stack.objects.clone()),
        ))
        .map_err(|error| format!("spawn wsl-d3dkmt: {error:?}"))
        .map(|process| join_within(process, WSL_STYLE_MILLISECONDS));
    let shutdown = stack.shut_down();
    let exit = result?;
    let printed = console.lock().clone();
    ensure!(
        exit == ProcessExit::Exited(0),
        "wsl-d3dkmt ended with {exit:?}; it wrote:\n{printed}"
    );
    ensure!(
        printed.contains("wsl-style D3DKMT test passed"),
        "wsl-d3dkmt exited 0 but did not report a clean pass; it wrote:\n{printed}"
    );
    log::debug!("wsl-d3dkmt wrote:\n{printed}");
    shutdown
}
kernel_test!(runtime_wsl_style_program_runs, wsl_style_program_runs);

/// The anonymous-memory bookkeeping: first fit, splitting releases, coverage, the cap.
fn anonymous_memory_reservations() -> TestResult {
    use crate::process::memory::{AnonymousMemory, MAX_RESERVED_BYTES, PAGE_SIZE, REGION_START};
    let mut memory = AnonymousMemory::default();
    let first = memory.reserve(4 * PAGE_SIZE);
    let second = memory.reserve(2 * PAGE_SIZE);
    ensure!(
        first == Some(REGION_START) && second == Some(REGION_START + 4 * PAGE_SIZE),
        "first fit gave {first:x?} and {second:x?}"
    );
    ensure!(
        memory.covers(REGION_START, 6 * PAGE_SIZE),
        "adjacent ranges not covered"
    );
    ensure!(
        !memory.covers(REGION_START, 7 * PAGE_SIZE),
        "covers past the end"
    );
    // Releasing the middle of the first range splits it; the hole is reused first.
    let released = memory.release(REGION_START + PAGE_SIZE, PAGE_SIZE);
    ensure!(
        released == alloc::vec![(REGION_START + PAGE_SIZE, PAGE_SIZE)],
        "released {released:x?}"
    );
    ensure!(
        !memory.covers(REGION_START, 2 * PAGE_SIZE),
        "the hole is still covered"
    );
    ensure!(
        memory.reserve(PAGE_SIZE) == Some(REGION_START + PAGE_SIZE),
        "the hole was not reused"
    );
    // A release spanning several ranges and unreserved space returns only what was reserved.
    let released = memory.release(REGION_START - PAGE_SIZE, 100 * PAGE_SIZE);
    ensure!(released.len() == 4, "released {released:x?}");
    ensure!(
        memory.reserve(0).is_none() && memory.reserve(100).is_none(),
        "odd sizes reserved"
    );
    ensure!(
        memory.reserve(MAX_RESERVED_BYTES + PAGE_SIZE).is_none(),
        "the cap was exceeded"
    );
    ensure!(
        memory.reserve(MAX_RESERVED_BYTES).is_some(),
        "the whole cap refused"
    );
    ensure!(memory.reserve(PAGE_SIZE).is_none(), "reserved past the cap");
    ensure!(
        memory.release(u64::MAX - 10, 100).is_empty(),
        "an overflowing release"
    );
    Ok(())
}
kernel_test!(
    runtime_anonymous_memory_reservations,
    anonymous_memory_reservations
);
