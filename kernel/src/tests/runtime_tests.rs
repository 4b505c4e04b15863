//! Tests of the process runtime (docs/d3dkmt.md, "Process runtime"): user threads' x87/SSE
//! state across preemption.
//!
//! No test asserts a duration; bounds only keep a broken kernel from hanging the run.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;

use crate::arch::fpu::{DEFAULT_FPU_CONTROL_WORD, DEFAULT_MXCSR, FpuState};
use crate::process::{self, ProcessExit, ProcessHandle, images};
use crate::syscall::{ConsoleCapture, NoGpu};
use crate::testing::TestResult;
use crate::{ensure, kernel_test, task};

fn capture() -> ConsoleCapture {
    Arc::new(Mutex::new(String::new()))
}

/// Spawns `apps/selftest` in `mode` without a GPU, its console captured.
fn selftest(mode: u64, console: &ConsoleCapture) -> Result<ProcessHandle, String> {
    process::Builder::new("selftest", images::SELFTEST)
        .argument(mode)
        .capture_console(console.clone())
        .spawn(Box::new(NoGpu))
        .map_err(|error| format!("spawn selftest mode {mode}: {error:?}"))
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
    // An owner id no task has (task ids count up from 0), so a process's live state is
    // restored again before it next runs.
    let owner = u64::MAX - 1;
    fresh.restore_for(owner);
    let mut saved = FpuState::new();
    saved.save(owner);
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
    let console = capture();
    let preemptions_before = task::preemptions();
    let first = selftest(20 | (1 << 8), &console)?;
    let second = selftest(20 | (2 << 8), &console)?;
    for process in [first, second] {
        let exit = process.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "a vector register checker ended with {exit:?}: {:?}",
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
    runtime_vector_registers_survive_preemption,
    vector_registers_survive_preemption
);
