//! End-to-end tests of user processes on the GPU: the demo applications through D3DKMT (the
//! syscall layer, the process's `DxgGateway`, the dxg task, VMBus, the emulated vGPU), two
//! processes at once, a process killed while it submits, the read-only fence page, the
//! invalid-argument table of `apps/selftest` (mode 7), a resource shared between two
//! processes (modes 11 and 12), and the GPU rendering into a process's own memory (mode 13).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use spin::Mutex;

use crate::process::{self, KILLED_BY_OWNER, ProcessExit, ProcessHandle, images};
use dxg::core::Request;
use dxg::wire::NtStatus;

use crate::services::GpuStack;
use crate::services::dxg_task::GpuCall;
use crate::services::gpu_gateway::DxgGateway;
use crate::syscall::ConsoleCapture;
use crate::testing::TestResult;
use crate::{ensure, kernel_test, task};

fn capture() -> ConsoleCapture {
    Arc::new(Mutex::new(String::new()))
}

/// Spawns application `name` with `argument`, a GPU gateway on `stack` and a console capture.
/// The invalid-argument table (selftest mode 7) and the framebuffer release (mode 16) also get
/// the boot framebuffer.
fn spawn(
    stack: &GpuStack,
    name: &str,
    argument: u64,
    console: &ConsoleCapture,
    expect_fault: bool,
) -> Result<ProcessHandle, String> {
    let image = images::find(name).ok_or_else(|| format!("no embedded {name}"))?;
    let mut builder = process::Builder::new(name, image)
        .argument(argument)
        .capture_console(console.clone());
    let framebuffer = crate::services::mmio_space::boot_framebuffer();
    let wants_framebuffer = name == "selftest" && matches!(argument & 0xff, 7 | 16);
    if let (true, Some(framebuffer)) = (wants_framebuffer, framebuffer) {
        builder = builder.framebuffer(crate::syscall::FramebufferGrant { framebuffer });
    }
    if expect_fault {
        builder = builder.expect_fault();
    }
    builder
        .spawn(Box::new(
            DxgGateway::new(stack.gpu.clone(), name).with_object_counts(stack.objects.clone()),
        ))
        .map_err(|error| format!("spawn {name}: {error:?}"))
}

/// Waits up to `milliseconds` for `text` to appear in `console`.
fn wait_for(console: &ConsoleCapture, text: &str, milliseconds: u64) -> bool {
    for _ in 0..milliseconds / 5 {
        if console.lock().contains(text) {
            return true;
        }
        task::sleep_milliseconds(5);
    }
    console.lock().contains(text)
}

fn line_with<'a>(console: &'a str, text: &str) -> &'a str {
    console
        .lines()
        .find(|line| line.contains(text))
        .unwrap_or("")
}

/// Runs `body` on a started GPU stack and shuts the stack down, whatever `body` returned.
fn with_stack(body: impl FnOnce(&GpuStack) -> TestResult) -> TestResult {
    let stack = GpuStack::start(5_000)?;
    let result = body(&stack);
    let shutdown = stack.shut_down();
    result?;
    shutdown
}

fn demo_applications_run_in_user_mode() -> TestResult {
    with_stack(|stack| {
        for (name, argument, verdict) in [
            ("d3dkmt-info", 0, "driver description"),
            ("c-demo", 0, "every pixel verified"),
            ("gpu-demo", 1, "verified against the CPU"),
        ] {
            let console = capture();
            let exit = spawn(stack, name, argument, &console, false)?.join();
            let text = console.lock().clone();
            ensure!(
                exit == ProcessExit::Exited(0),
                "{name} ended with {exit:?}; it wrote:\n{text}"
            );
            ensure!(text.contains(verdict), "{name} wrote:\n{text}");
            log::info!("{name}: {}", line_with(&text, verdict));
        }
        Ok(())
    })
}
kernel_test!(
    gpu_user_demo_applications,
    demo_applications_run_in_user_mode
);

fn two_processes_render_at_once() -> TestResult {
    with_stack(|stack| {
        let (first_console, second_console) = (capture(), capture());
        let first = spawn(stack, "gpu-demo", 1, &first_console, false)?;
        let second = spawn(stack, "gpu-demo", 1 | (32 << 8), &second_console, false)?;
        let (first, second) = (first.join(), second.join());
        let (first_text, second_text) =
            (first_console.lock().clone(), second_console.lock().clone());
        ensure!(
            first == ProcessExit::Exited(0) && second == ProcessExit::Exited(0),
            "ended with {first:?} and {second:?}; they wrote:\n{first_text}{second_text}"
        );
        ensure!(
            first_text.contains("(48 iterations)") && second_text.contains("(32 iterations)"),
            "each process should verify its own image:\n{first_text}{second_text}"
        );
        Ok(())
    })
}
kernel_test!(gpu_user_two_processes_at_once, two_processes_render_at_once);

fn process_killed_mid_submit_leaves_the_rest_healthy() -> TestResult {
    with_stack(|stack| {
        let looping_console = capture();
        let looping = spawn(stack, "gpu-demo", 2, &looping_console, false)?;
        ensure!(
            wait_for(&looping_console, "submitting", 5_000),
            "the looping process never started submitting: {}",
            looping_console.lock()
        );
        // Let it get well into its submit loop while another process renders.
        let other_console = capture();
        let other = spawn(stack, "gpu-demo", 1, &other_console, false)?;
        task::sleep_milliseconds(50);
        let looping_id = looping.id();
        looping.kill();
        let exit = looping.join();
        ensure!(
            exit == ProcessExit::Killed(KILLED_BY_OWNER),
            "the looping process ended with {exit:?}"
        );
        // Its gateway sent DESTROYPROCESS: the dxg core no longer knows the process.
        let call = GpuCall {
            process: dxg::core::ProcessId(looping_id.0),
            request: Request::EnumAdapters,
        };
        let answer = stack.gpu.call(call);
        ensure!(
            matches!(answer, Ok(Err(status)) if status == NtStatus::INVALID_HANDLE),
            "the killed process is still known to the dxg driver: {answer:?}"
        );
        let exit = other.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "the other process ended with {exit:?}: {}",
            other_console.lock()
        );
        // The driver still serves new processes.
        let after_console = capture();
        let exit = spawn(stack, "gpu-demo", 1, &after_console, false)?.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "a process after the kill ended with {exit:?}: {}",
            after_console.lock()
        );
        Ok(())
    })
}
kernel_test!(
    gpu_user_process_killed_mid_submit,
    process_killed_mid_submit_leaves_the_rest_healthy
);

fn fence_page_is_read_only() -> TestResult {
    with_stack(|stack| {
        let console = capture();
        let exit = spawn(stack, "gpu-demo", 3, &console, true)?.join();
        // Page fault (14) with error code bits: present (0) and write (1), from user mode (2).
        match exit {
            ProcessExit::Faulted(fault)
                if fault.vector == 14 && fault.error_code & 0b111 == 0b111 =>
            {
                Ok(())
            }
            other => Err(format!(
                "writing the fence page should be a protection fault, got {other:?}: {}",
                console.lock()
            )),
        }
    })
}
kernel_test!(gpu_user_fence_page_is_read_only, fence_page_is_read_only);

/// Runs two `selftest` processes: the holder (mode `holder_mode`) prints a handle after
/// `marker` and waits; the user (mode `user_mode`) gets that handle in argument bits 32–63 and
/// must exit 0; then the holder is killed. Returns the user's console line with `verdict`.
fn handle_passed_between_processes(
    stack: &GpuStack,
    holder_mode: u64,
    marker: &str,
    user_mode: u64,
    verdict: &str,
) -> Result<String, String> {
    let holder_console = capture();
    let holder = spawn(stack, "selftest", holder_mode, &holder_console, false)?;
    ensure!(
        wait_for(&holder_console, marker, 5_000),
        "the holder never printed {marker:?}: {}",
        holder_console.lock()
    );
    let text = holder_console.lock().clone();
    let handle = line_with(&text, marker)
        .rsplit("0x")
        .next()
        .and_then(|hex| u32::from_str_radix(hex.trim(), 16).ok())
        .ok_or_else(|| format!("no handle in {text:?}"))?;
    let console = capture();
    let argument = user_mode | (u64::from(handle) << 32);
    let exit = spawn(stack, "selftest", argument, &console, false)?.join();
    holder.kill();
    let holder_exit = holder.join();
    let text = console.lock().clone();
    ensure!(
        exit == ProcessExit::Exited(0),
        "mode {user_mode} ended with {exit:?}:\n{text}"
    );
    ensure!(
        holder_exit == ProcessExit::Killed(KILLED_BY_OWNER),
        "the holder ended with {holder_exit:?}"
    );
    Ok(String::from(line_with(&text, verdict)))
}

/// A view released by Unlock2 (mode 14), by destroying the locked allocation (mode 15) or by
/// UnmapFramebuffer (mode 16) is unmapped: the process's write through it is a not-present
/// page fault, and the stack keeps working afterwards.
fn released_views_are_unmapped() -> TestResult {
    with_stack(|stack| {
        for mode in [14, 15, 16] {
            let console = capture();
            let exit = spawn(stack, "selftest", mode, &console, false)?.join();
            let text = console.lock().clone();
            ensure!(
                text.contains("view released"),
                "mode {mode} failed before the release: {exit:?}: {text}"
            );
            // Page fault (14), error code: not present (bit 0 clear), write (1), user (2).
            match exit {
                ProcessExit::Faulted(fault)
                    if fault.vector == 14 && fault.error_code & 0b111 == 0b110 => {}
                other => {
                    return Err(format!(
                        "mode {mode}: a write through a released view should fault, got {other:?}: {text}"
                    ));
                }
            }
        }
        let console = capture();
        let exit = spawn(stack, "gpu-demo", 1, &console, false)?.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "a process after the faults ended with {exit:?}: {}",
            console.lock()
        );
        Ok(())
    })
}
kernel_test!(
    gpu_user_released_views_are_unmapped,
    released_views_are_unmapped
);

/// A DestroyDevice whose argument struct lies in a Lock2 view of that device (selftest mode
/// 23): the call unmaps the view, so the copy of the struct back to the process fails, and the
/// device's host request, made after that copy (`GatewayAnswer::Wait`), must be made all the
/// same: the process's dxg object count comes back to what it was before the device.
fn destroy_device_from_its_own_view() -> TestResult {
    with_stack(|stack| {
        let console = capture();
        let exit = spawn(stack, "selftest", 23, &console, false)?.join();
        ensure!(
            exit == ProcessExit::Exited(0),
            "mode 23 ended with {exit:?}: {}",
            console.lock()
        );
        Ok(())
    })
}
kernel_test!(
    gpu_user_destroy_device_from_its_own_view,
    destroy_device_from_its_own_view
);

fn invalid_argument_table() -> TestResult {
    with_stack(|stack| {
        let line = handle_passed_between_processes(
            stack,
            8,
            "holding device",
            7,
            "invalid-argument table",
        )?;
        log::info!("{line}");
        Ok(())
    })
}
kernel_test!(gpu_user_invalid_argument_table, invalid_argument_table);

fn resource_shared_between_processes() -> TestResult {
    with_stack(|stack| {
        let line = handle_passed_between_processes(
            stack,
            11,
            "shared resource",
            12,
            "opened the shared resource",
        )?;
        log::info!("{line}");
        Ok(())
    })
}
kernel_test!(
    gpu_user_resource_shared_between_processes,
    resource_shared_between_processes
);

fn gpu_renders_into_process_memory() -> TestResult {
    with_stack(|stack| {
        let console = capture();
        let exit = spawn(stack, "selftest", 13, &console, false)?.join();
        let text = console.lock().clone();
        ensure!(
            exit == ProcessExit::Exited(0),
            "existing-sysmem process ended with {exit:?}:\n{text}"
        );
        log::info!("{}", line_with(&text, "own memory"));
        Ok(())
    })
}
kernel_test!(
    gpu_user_existing_system_memory,
    gpu_renders_into_process_memory
);
