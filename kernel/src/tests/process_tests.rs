//! Tests of user-mode processes: loading, ring 3 entry, system calls, pointer validation,
//! fault containment, clean-up and interleaving (with `apps/hello` and `apps/selftest`).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use crate::process::{self, ProcessExit, ProcessId, SpawnError, images};
use crate::syscall::status::{STATUS_INVALID_PARAMETER, STATUS_SUCCESS};
use crate::syscall::{ConsoleCapture, GatewayAnswer, GpuGateway, NoGpu, UserSpace};
use crate::testing::TestResult;
use crate::{ensure, kernel_test};

/// A gateway that answers OpenAdapterFromLuid (0x01) with hAdapter 0x1234 and records calls
/// and exits.
#[derive(Clone, Default)]
struct RecordingGateway {
    calls: Arc<AtomicUsize>,
    exits: Arc<Mutex<Vec<(ProcessId, ProcessExit)>>>,
}

impl GpuGateway for RecordingGateway {
    fn call(
        &mut self,
        _process: ProcessId,
        number: u32,
        arguments: &mut [u8],
        user: &mut UserSpace<'_>,
        _arg2: u64,
    ) -> GatewayAnswer {
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Nested pointers go through the same checks: page 0 is never mapped, the stack is.
        let mut word = [0u8; 8];
        let stack = process::USER_STACK_TOP - 16;
        if user.read(0x10, &mut word).is_ok()
            || user.write(0x10, &word).is_ok()
            || user.check(stack, 16, true).is_err()
            || user.read(stack, &mut word).is_err()
        {
            return GatewayAnswer::Status(STATUS_INVALID_PARAMETER);
        }
        if number != 1 || arguments.len() != 12 || arguments[0] != 0x42 {
            return GatewayAnswer::Status(STATUS_INVALID_PARAMETER);
        }
        arguments[8..12].copy_from_slice(&0x1234u32.to_le_bytes());
        GatewayAnswer::Status(STATUS_SUCCESS)
    }

    fn on_exit(&mut self, process: ProcessId, exit: &ProcessExit) {
        self.exits.lock().push((process, *exit));
    }
}

fn capture() -> ConsoleCapture {
    Arc::new(Mutex::new(String::new()))
}

fn spawn_error(error: SpawnError) -> String {
    format!("spawn failed: {error:?}")
}

fn process_runs_and_exits_with_its_code() -> TestResult {
    // The first process also sets up the shared kernel half once; measure from the second.
    let hello = images::find("hello").ok_or("no embedded hello")?;
    let first = process::spawn("hello", hello, Box::new(NoGpu)).map_err(spawn_error)?;
    ensure!(
        first.join() == ProcessExit::Exited(0),
        "first hello did not exit 0"
    );
    let free_before = crate::memory::free_frames();
    let console = capture();
    let gateway = RecordingGateway::default();
    let handle = process::Builder::new("hello", images::HELLO)
        .capture_console(console.clone())
        .spawn(Box::new(gateway.clone()))
        .map_err(spawn_error)?;
    let id = handle.id();
    let exit = handle.join();
    ensure!(exit == ProcessExit::Exited(0), "hello ended with {exit:?}");
    let text = console.lock().clone();
    ensure!(text == "hello from ring 3\n", "hello wrote {text:?}");
    let exits = gateway.exits.lock().clone();
    ensure!(
        exits == [(id, ProcessExit::Exited(0))],
        "on_exit calls {exits:?}"
    );
    let exit = process::Builder::new("selftest", images::SELFTEST)
        .argument(0x55) // unknown mode: exits with 99
        .spawn(Box::new(NoGpu))
        .map_err(spawn_error)?
        .join();
    ensure!(
        exit == ProcessExit::Exited(99),
        "selftest ended with {exit:?}"
    );
    let free_after = crate::memory::free_frames();
    ensure!(
        free_after == free_before,
        "frames leaked: {free_before} free before, {free_after} after"
    );
    Ok(())
}
kernel_test!(
    process_runs_and_exits_with_its_code,
    process_runs_and_exits_with_its_code
);

fn bad_pointers_get_access_violation() -> TestResult {
    let console = capture();
    let gateway = RecordingGateway::default();
    let exit = process::Builder::new("selftest", images::SELFTEST)
        .argument(1)
        .capture_console(console.clone())
        .spawn(Box::new(gateway.clone()))
        .map_err(spawn_error)?
        .join();
    // Exit code n > 0 names the first check that got the wrong status (apps/selftest).
    ensure!(
        exit == ProcessExit::Exited(0),
        "selftest ended with {exit:?}"
    );
    let calls = gateway.calls.load(Ordering::Relaxed);
    ensure!(
        calls == 1,
        "the gateway saw {calls} calls (only the good one should reach it)"
    );
    let text = console.lock().clone();
    ensure!(
        text == "selftest: bad pointers refused\n",
        "selftest wrote {text:?}"
    );
    Ok(())
}
kernel_test!(
    bad_pointers_get_access_violation,
    bad_pointers_get_access_violation
);

fn faulting_process_is_killed_and_others_continue() -> TestResult {
    // Mode → expected vector: read of an unmapped page, `hlt`, `ud2`, write to a kernel page,
    // single-step trap.
    let cases = [(2u64, 14u8), (3, 13), (4, 6), (6, 14), (10, 1)];
    // Warm up the shared kernel half before counting frames.
    process::spawn("hello", images::HELLO, Box::new(NoGpu))
        .map_err(spawn_error)?
        .join();
    let free_before = crate::memory::free_frames();
    let gateway = RecordingGateway::default();
    let mut faulting = Vec::new();
    for (mode, vector) in cases {
        let handle = process::Builder::new("selftest", images::SELFTEST)
            .argument(mode)
            .expect_fault()
            .spawn(Box::new(gateway.clone()))
            .map_err(spawn_error)?;
        faulting.push((handle, vector));
    }
    let console = capture();
    let survivor = process::Builder::new("hello", images::HELLO)
        .capture_console(console.clone())
        .spawn(Box::new(NoGpu))
        .map_err(spawn_error)?;
    for (handle, vector) in faulting {
        match handle.join() {
            ProcessExit::Faulted(fault) if fault.vector == vector => {}
            other => {
                return Err(format!(
                    "expected a fault with vector {vector}, got {other:?}"
                ));
            }
        }
    }
    let exit = survivor.join();
    ensure!(
        exit == ProcessExit::Exited(0),
        "survivor ended with {exit:?}"
    );
    ensure!(
        console.lock().as_str() == "hello from ring 3\n",
        "survivor wrote {:?}",
        console.lock()
    );
    let exits = gateway.exits.lock().len();
    ensure!(exits == cases.len(), "on_exit ran {exits} times");
    let free_after = crate::memory::free_frames();
    ensure!(
        free_after == free_before,
        "frames leaked: {free_before} free before, {free_after} after"
    );
    Ok(())
}
kernel_test!(
    faulting_process_is_killed_and_others_continue,
    faulting_process_is_killed_and_others_continue
);

/// Spawns `selftest` in `mode`, expects it to fault with `vector`, and returns how many heap
/// bytes more are in use after it was joined than before it was spawned.
fn faulting_round(mode: u64, vector: u8) -> Result<isize, String> {
    let before = crate::memory::heap::used_bytes() as isize;
    let handle = process::Builder::new("selftest", images::SELFTEST)
        .argument(mode)
        .expect_fault()
        .spawn(Box::new(NoGpu))
        .map_err(spawn_error)?;
    match handle.join() {
        ProcessExit::Faulted(fault) if fault.vector == vector => {}
        other => {
            return Err(format!(
                "expected a fault with vector {vector}, got {other:?}"
            ));
        }
    }
    Ok(crate::memory::heap::used_bytes() as isize - before)
}

fn faulting_thread_leaves_no_heap_behind() -> TestResult {
    // `ud2` (#UD) and a read of an unmapped page (#PF, taken on its own interrupt stack).
    for (mode, vector) in [(4u64, 6u8), (2, 14)] {
        // Warm up the scheduler's queues, the stack pool and the frame caches.
        faulting_round(mode, vector)?;
        let leaked = faulting_round(mode, vector)?;
        ensure!(
            leaked == 0,
            "a process faulting in mode {mode} left {leaked} heap bytes behind"
        );
    }
    Ok(())
}
kernel_test!(
    faulting_thread_leaves_no_heap_behind,
    faulting_thread_leaves_no_heap_behind
);

fn processes_interleave() -> TestResult {
    let console = capture();
    let handles = b"ab"
        .iter()
        .map(|tag| {
            process::Builder::new("selftest", images::SELFTEST)
                .argument(5 | (u64::from(*tag) << 8))
                .capture_console(console.clone())
                .spawn(Box::new(NoGpu))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(spawn_error)?;
    // Cooperative: neither has run yet.
    ensure!(
        handles.iter().all(|handle| !handle.is_finished()),
        "a process finished before the spawner blocked"
    );
    for handle in handles {
        let exit = handle.join();
        ensure!(exit == ProcessExit::Exited(0), "ended with {exit:?}");
    }
    let text = console.lock().clone();
    ensure!(text == "a0b0a1b1a2b2", "interleaving {text:?}");
    Ok(())
}
kernel_test!(processes_interleave, processes_interleave);

fn bad_executables_are_refused() -> TestResult {
    let mut truncated = Vec::from(images::HELLO);
    truncated.truncate(100);
    let mut shifted_entry = Vec::from(images::HELLO);
    shifted_entry[24..32].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes());
    let free_before = crate::memory::free_frames();
    for (label, image) in [
        ("empty", &[][..]),
        ("text", &b"#!/bin/sh\necho hello\n"[..]),
        ("truncated", &truncated[..]),
        ("kernel entry point", &shifted_entry[..]),
    ] {
        match process::spawn("bad", image, Box::new(NoGpu)) {
            Err(SpawnError::Executable(_)) => {}
            Err(other) => return Err(format!("{label}: {other:?}")),
            Ok(handle) => {
                let exit = handle.join();
                return Err(format!("{label}: accepted, ended with {exit:?}"));
            }
        }
    }
    let free_after = crate::memory::free_frames();
    ensure!(
        free_after == free_before,
        "frames leaked: {free_before} free before, {free_after} after"
    );
    Ok(())
}
kernel_test!(bad_executables_are_refused, bad_executables_are_refused);

/// A minimal static x86-64 executable: the file header and one readable, executable `PT_LOAD`
/// segment (the file itself, at 0x40_0000, one page in memory), entry at its start; `edit`
/// changes bytes before it is returned. Offsets from the ELF64 specification (System V ABI).
fn small_executable(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut image = alloc::vec![0u8; 120];
    image[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    image[16..18].copy_from_slice(&2u16.to_le_bytes()); // e_type ET_EXEC
    image[18..20].copy_from_slice(&62u16.to_le_bytes()); // e_machine x86-64
    image[20..24].copy_from_slice(&1u32.to_le_bytes()); // e_version
    image[24..32].copy_from_slice(&0x40_0000u64.to_le_bytes()); // e_entry
    image[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    image[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    image[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    image[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    image[64..68].copy_from_slice(&1u32.to_le_bytes()); // p_type PT_LOAD
    image[68..72].copy_from_slice(&5u32.to_le_bytes()); // p_flags R+X
    image[80..88].copy_from_slice(&0x40_0000u64.to_le_bytes()); // p_vaddr
    image[96..104].copy_from_slice(&120u64.to_le_bytes()); // p_filesz
    image[104..112].copy_from_slice(&0x1000u64.to_le_bytes()); // p_memsz
    edit(&mut image);
    image
}

/// Loads `image` into a fresh address space, starting at byte `misalignment` of a buffer.
fn load_at(image: &[u8], misalignment: usize) -> Result<u64, process::ElfError> {
    let mut buffer = alloc::vec![0u8; image.len() + misalignment];
    buffer[misalignment..].copy_from_slice(image);
    let mut space = crate::arch::address_space::AddressSpace::new()
        .map_err(|_| process::ElfError::OutOfMemory)?;
    process::elf::load(&buffer[misalignment..], &mut space).map(|image| image.entry)
}

/// A named hostile image and the error it must get.
type Case = (&'static str, Vec<u8>, fn(&process::ElfError) -> bool);

/// Every field of an executable is checked, with the typed error naming what failed, and no
/// image makes the loader (or the ELF crate under it) panic; a sound image loads from any
/// buffer alignment.
fn hostile_executables_are_refused() -> TestResult {
    use process::ElfError::{BadSegment, Truncated, Unsupported};
    for misalignment in [0, 1, 3] {
        let entry = load_at(&small_executable(|_| {}), misalignment);
        ensure!(
            entry == Ok(0x40_0000),
            "sound image at +{misalignment}: {entry:?}"
        );
    }
    let put = |at: usize, bytes: &[u8]| {
        let bytes = bytes.to_vec();
        move |image: &mut Vec<u8>| image[at..at + bytes.len()].copy_from_slice(&bytes)
    };
    let cases: [Case; 12] = [
        ("not ELF", small_executable(put(0, b"\x7fELG")), |e| {
            matches!(e, Unsupported(_))
        }),
        (
            "too short",
            small_executable(|image| image.truncate(40)),
            |e| matches!(e, Unsupported(_)),
        ),
        ("32-bit", small_executable(put(4, &[1])), |e| {
            matches!(e, Unsupported(_))
        }),
        ("big-endian", small_executable(put(5, &[2])), |e| {
            matches!(e, Unsupported(_))
        }),
        ("PIE", small_executable(put(16, &3u16.to_le_bytes())), |e| {
            matches!(e, Unsupported(_))
        }),
        (
            "not x86-64",
            small_executable(put(18, &40u16.to_le_bytes())),
            |e| matches!(e, Unsupported(_)),
        ),
        (
            "headers past the end",
            small_executable(put(56, &3u16.to_le_bytes())),
            |e| *e == Truncated,
        ),
        (
            "header offset overflows",
            small_executable(put(32, &u64::MAX.to_le_bytes())),
            |e| *e == Truncated,
        ),
        (
            "misaligned headers",
            small_executable(|image| {
                image[32..40].copy_from_slice(&60u64.to_le_bytes());
                image.truncate(116);
            }),
            |e| matches!(e, Unsupported(_)),
        ),
        (
            "interpreter",
            small_executable(put(64, &3u32.to_le_bytes())),
            |e| matches!(e, Unsupported(_)),
        ),
        (
            "file bytes past the end",
            small_executable(put(96, &121u64.to_le_bytes())),
            |e| *e == BadSegment(0x40_0000),
        ),
        (
            "entry outside the segment",
            small_executable(put(24, &0x40_1000u64.to_le_bytes())),
            |e| *e == BadSegment(0x40_1000),
        ),
    ];
    for (name, image, expected) in cases {
        let result = load_at(&image, 0);
        ensure!(result.as_ref().is_err_and(expected), "{name}: {result:?}");
    }
    let low = small_executable(|image| {
        image[80..88].copy_from_slice(&0x1000u64.to_le_bytes());
        image[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
    });
    ensure!(
        load_at(&low, 0) == Err(BadSegment(0x1000)),
        "segment below 64 KiB admitted"
    );
    let larger_file =
        small_executable(|image| image[104..112].copy_from_slice(&8u64.to_le_bytes()));
    ensure!(
        load_at(&larger_file, 0) == Err(BadSegment(0x40_0000)),
        "file size above memory size admitted"
    );
    let kernel_half = small_executable(|image| {
        image[80..88].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes());
        image[24..32].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes());
    });
    ensure!(
        load_at(&kernel_half, 0) == Err(BadSegment(0xffff_8000_0000_0000)),
        "segment in the kernel half admitted"
    );
    Ok(())
}
kernel_test!(
    hostile_executables_are_refused,
    hostile_executables_are_refused
);
