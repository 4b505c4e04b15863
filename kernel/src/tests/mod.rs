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
