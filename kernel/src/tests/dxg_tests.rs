//! End-to-end tests of the GPU stack against the host QEMU is wired to (the dxgos emulator's
//! vPCI and vGPU under `cargo test`): the adapter is enumerated through virtual PCI and the dxg
//! channels, and a render goes through the monitored fence and back.

use alloc::format;

use dxg::core::ProcessId;

use crate::services::{GpuStack, gpu_demo};
use crate::testing::TestResult;
use crate::{ensure, kernel_test, task};

fn render_fence_and_readback() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let report = gpu_demo::run(&stack.gpu, ProcessId(7), None);
    let shutdown = stack.shut_down();
    let report = report?;
    log::info!(
        "dxg: adapter {:#x}:{:#x}: device, context, allocation and monitored fence created; Mandelbrot rendered, fence waited, surface checksum {:#018x} verified",
        report.adapter_luid.1,
        report.adapter_luid.0,
        report.checksum
    );
    shutdown
}
kernel_test!(dxg_render_fence_and_readback, render_fence_and_readback);

fn two_processes_at_once() -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let first = stack.gpu.clone();
    let second = stack.gpu.clone();
    let a = task::spawn("gpu-a", move || gpu_demo::run(&first, ProcessId(21), None));
    let b = task::spawn("gpu-b", move || gpu_demo::run(&second, ProcessId(22), None));
    let a = a
        .join()
        .map_err(|fault| format!("process A faulted: {fault:?}"))?;
    let b = b
        .join()
        .map_err(|fault| format!("process B faulted: {fault:?}"))?;
    let shutdown = stack.shut_down();
    let (a, b) = (a?, b?);
    ensure!(
        a.checksum == b.checksum,
        "the two processes saw different images"
    );
    shutdown
}
kernel_test!(dxg_two_processes_at_once, two_processes_at_once);
