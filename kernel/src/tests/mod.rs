//! The in-kernel tests, grouped by subsystem.

mod containment_tests;
mod dxg_tests;
mod gpu_process_tests;
mod ipc_tests;
mod memory_tests;
mod platform_tests;
mod preemption_tests;
mod process_tests;
mod runtime_tests;
mod task_tests;
mod vmbus_tests;

use crate::process::{ProcessExit, ProcessHandle};
use crate::{clock, task};

/// Joins `process` if it ends within `milliseconds`; else kills it first (its exit then says
/// so: [`ProcessExit::Killed`]).
fn join_within(process: ProcessHandle, milliseconds: u64) -> ProcessExit {
    let deadline = clock::ticks().saturating_add(clock::milliseconds_to_ticks(milliseconds));
    while !process.is_finished() && clock::ticks() < deadline {
        task::sleep_milliseconds(10);
    }
    if !process.is_finished() {
        log::warn!("the process did not end within {milliseconds} ms: killed");
        process.kill();
    }
    process.join()
}
