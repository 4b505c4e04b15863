//! The dxgos kernel.
//!
//! Boot order (see `docs/kernel.md`): COM1, boot-info check, command line and logger, GDT/IDT,
//! memory (frames, paging, heap, identity map removed), ACPI and the APICs with the calibrated
//! periodic tick, tasks; then the mode: `run` (init task → `services::run`), `test` (the
//! in-kernel tests) or `bench`.
//!
//! In `mode=run` the boot writes the boot report (`diagnostics`): it opens once the heap
//! exists, and after a failure the kernel idles, repeating the report on COM1.
#![no_std]
#![no_main]
// `unsafe` only in the modules ARCHITECTURE.md lists ("Where unsafe may live").
#![deny(unsafe_code)]
// `kernel_test!` (in `testing`, an allowed module) expands to a `link_section` static in the
// test modules; `allow_internal_unsafe` keeps that expansion allowed without an `allow` there.
#![feature(allow_internal_unsafe)]
#![allow(internal_features)]

extern crate alloc;

#[allow(unsafe_code)]
mod arch;
mod bench;
mod chaos;
mod clock;
mod diagnostics;
#[allow(unsafe_code)]
mod display;
mod faults;
mod host_time;
#[allow(unsafe_code)]
mod hypervisor;
mod interrupts;
mod ipc;
mod logger;
#[allow(unsafe_code)]
mod memory;
mod options;
#[allow(unsafe_code)]
mod platform;
mod process;
mod qemu;
#[allow(unsafe_code)]
mod serial;
mod services;
mod syscall;
mod task;
#[allow(unsafe_code)]
mod testing;
mod tests;

use boot_info::BootInfo;
use diagnostics::{Outcome, Stage};
use options::{Mode, Options};

/// The kernel heap; `memory::init` gives it its pages.
#[global_allocator]
static HEAP: memory::heap::KernelHeap = memory::heap::KernelHeap::empty();

/// The kernel proper, called by `arch::kernel_entry` (the symbol the boot stub jumps to).
fn kernel_main(boot_info: &'static BootInfo) -> ! {
    let entry_tsc = arch::cpu::read_tsc();
    serial::init();
    if !boot_info.is_valid() {
        serial::write_fmt(format_args!(
            "dxgos: boot info mismatch: magic {:#x} version {} (expected {:#x} version {}); halting\n",
            boot_info.magic,
            boot_info.version,
            boot_info::BOOT_INFO_MAGIC,
            boot_info::BOOT_INFO_VERSION
        ));
        diagnostics::fail_early(
            Stage::Firmware,
            format_args!("boot info from the stub does not match this kernel"),
        );
        arch::cpu::halt_forever();
    }
    clock::mark_boot(entry_tsc);
    let options = Options::parse(boot_info.command_line());
    logger::init(options.log_level);
    for problem in options.problems.iter().flatten() {
        log::warn!("command line: {problem}");
    }
    arch::init();
    let free_frames = match memory::init(boot_info) {
        Ok(free_frames) => free_frames,
        Err(reason) => {
            if options.mode == Mode::Run {
                diagnostics::fail_early(
                    Stage::Firmware,
                    format_args!("memory setup failed: {reason}"),
                );
            }
            fatal(format_args!("memory setup failed: {reason}"))
        }
    };
    if options.mode == Mode::Run {
        diagnostics::start(boot_info);
        diagnostics::enter(Stage::Acpi);
    }
    hypervisor::physical_memory::PhysicalMemory::record_boot_map(boot_info);
    services::mmio_space::record_framebuffer(boot_info.framebuffer());
    let memory_tsc = arch::cpu::read_tsc();
    log::debug!("memory ready: {} MiB free", free_frames / 256);
    if let Err(error) = platform::init(boot_info.rsdp_address, clock::TICK_HZ) {
        diagnostics::fail(format_args!("platform setup failed: {error:?}"));
        fatal(format_args!("platform setup failed: {error:?}"));
    }
    task::init();
    x86_64::instructions::interrupts::enable();
    let interrupts_tsc = arch::cpu::read_tsc();
    let first_task_tsc = task::spawn("first", arch::cpu::read_tsc)
        .join()
        .unwrap_or(0);
    let boot_points = [
        ("kernel_entry", entry_tsc),
        ("memory_ready", memory_tsc),
        ("interrupts_ready", interrupts_tsc),
        ("first_task", first_task_tsc),
    ];
    log_boot_timestamps(boot_info, &boot_points);
    inject_faults(boot_info.command_line());
    faults::configure(boot_info.command_line());
    // In every mode: the kernel tests of a silent host use the cap too.
    services::host_waits::configure(boot_info.command_line());
    match options.mode {
        Mode::Test => testing::run(options.tests),
        Mode::Bench => bench::run(boot_info.command_line(), &boot_points),
        Mode::Chaos => chaos::run(options.chaos_faults),
        Mode::Run => run(boot_info),
    }
}

/// `fault=kernel-panic` panics, `fault=kernel-page-fault` takes an uncontained page fault in
/// a task and `fault=kernel-stack-overflow` overflows a task's stack into its guard page, so
/// the host can check that each ends QEMU with the failure status (and a report naming the
/// task) instead of hanging or resetting.
fn inject_faults(command_line: &str) {
    let Some(faults) = boot_info::command_line_value(command_line, "fault") else {
        return;
    };
    for fault in faults.split(',') {
        match fault {
            "kernel-panic" => panic!("fault injection: kernel-panic"),
            "kernel-page-fault" => {
                let _ = task::spawn("faulty", || {
                    arch::exceptions::read_byte_at(memory::SCRATCH_START + 0xbad_0000)
                })
                .join();
            }
            "kernel-stack-overflow" => {
                let _ = task::spawn("deep", || recurse_without_end(0)).join();
            }
            _ => {}
        }
    }
}

/// Recurses until the stack runs out (for `fault=kernel-stack-overflow`).
fn recurse_without_end(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if core::hint::black_box(true) {
        recurse_without_end(depth + 1).wrapping_add(frame[63])
    } else {
        frame[0]
    }
}

/// The normal boot path: an init task brings the services up and runs the demo; QEMU exits
/// with the demo's verdict. A failure before the report's `result ok` ends the report with
/// `result fail`; the kernel then idles and repeats it (the runner ends QEMU on that line).
fn run(boot_info: &'static BootInfo) -> ! {
    let init = task::spawn("init", move || {
        log::info!("dxgos kernel up");
        services::run(&services::ServiceContext { boot_info })
    });
    match init.join() {
        Ok(Ok(())) => qemu::exit_success(),
        Ok(Err(error)) => {
            diagnostics::fail(&error);
            log::error!("{error}");
        }
        Err(fault) => {
            diagnostics::fail(format_args!("init task faulted: {fault:?}"));
            log::error!("init task faulted: {fault:?}");
        }
    }
    if diagnostics::outcome() == Some(Outcome::Failed) {
        diagnostics::idle_after_failure()
    }
    qemu::exit_failure()
}

fn log_boot_timestamps(boot_info: &BootInfo, phases: &[(&str, u64)]) {
    let stub_entry = boot_info.timestamps.stub_entry;
    let relative = |tsc: u64| clock::cycles_to_nanoseconds(tsc.saturating_sub(stub_entry)) / 1000;
    log::debug!(
        "boot: stub entry tsc {stub_entry}, stub exit +{} us",
        relative(boot_info.timestamps.stub_exit)
    );
    for (phase, tsc) in phases {
        log::debug!("boot: {phase} +{} us (tsc {tsc})", relative(*tsc));
    }
}

fn fatal(message: core::fmt::Arguments<'_>) -> ! {
    serial::write_fmt(format_args!("dxgos: {message}\n"));
    qemu::exit_failure()
}

/// A panic in a task spawned with fault containment, outside interrupt context and with no
/// kernel-global lock held, ends that task only (`task::contain_panic`); any other stops the
/// kernel.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let interrupts_were_enabled = x86_64::instructions::interrupts::are_enabled();
    x86_64::instructions::interrupts::disable();
    if let Some((fault, task)) = task::contain_panic(interrupts_were_enabled) {
        let heading = if task.expects_fault {
            "expected panic"
        } else {
            "TASK PANIC"
        };
        serial::finish_line();
        serial::write_fmt(format_args!(
            "{heading} in task {:?} (contained): {info}\n",
            task.name()
        ));
        arch::exceptions::print_current_backtrace();
        task::abandon_current(fault);
    }
    serial::write_fmt(format_args!("KERNEL PANIC: {info}\n"));
    arch::exceptions::print_current_backtrace();
    diagnostics::fail_from_panic(info);
    qemu::exit_failure()
}
