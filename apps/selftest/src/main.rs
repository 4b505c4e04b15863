//! The application the kernel's process tests run (`kernel/src/tests/process_tests.rs`). The
//! spawn argument (`rdi` at entry) selects what it does; the low byte is the mode:
//!
//! | mode | behaviour | expected end |
//! |---|---|---|
//! | 1 | passes bad pointers, bad sizes and unknown numbers to the kernel and checks the statuses; makes one good D3DKMT call | exit 0, or the number of the first failed check |
//! | 2 | reads address 0x10 | killed: page fault |
//! | 3 | executes `hlt` (privileged) | killed: #GP |
//! | 4 | executes `ud2` | killed: #UD |
//! | 5 | writes `<tag><i>` and yields, three times (tag = byte 1 of the argument) | exit 0 |
//! | 6 | writes to a kernel address | killed: page fault |
//! | 7 | the D3DKMT invalid-argument table ([`invalid_arguments`], [`call_rows`]); bits 32–63: another process's device handle; wants a framebuffer grant | exit 0, or the number of failed rows |
//! | 8 | creates eight devices, prints the last handle, sleeps until killed | killed |
//! | 9 | benchmarks of the user → kernel → host path ([`bench`]) | exit 0 |
//! | 10 | sets the trap flag (single-step) | killed: #DB |
//! | 11 | renders a gradient into a shared resource, shares it, prints the handle, sleeps ([`sharing`]) | killed |
//! | 12 | opens the shared resource of bits 32–63 and verifies its pixels ([`sharing`]) | exit 0 |
//! | 13 | the GPU renders into the process's own memory (existing-sysmem allocation) ([`sharing`]) | exit 0 |
//! | 14 | locks an allocation, unlocks it, then writes through the released view ([`released_views`]) | killed: page fault (not present) |
//! | 15 | locks an allocation, destroys it while locked, then writes through the view ([`released_views`]) | killed: page fault (not present) |
//! | 16 | maps the framebuffer, unmaps it (`UnmapFramebuffer`), then writes through the old view ([`released_views`]); wants a framebuffer grant | killed: page fault (not present) |
//! | 17 | prints `selftest: spinning`, then spins in ring 3 without system calls ([`spin`]) | killed |
//! | 18 | opens the first adapter, prints `selftest: creating a device`, creates one (a host that never answers blocks it here), prints `selftest: device created`, sleeps ([`block_in_a_gpu_call`]) | killed |
//! | 19 | keeps known values in `rax`, `rcx`, `rdx`, `rsi`, `rdi`, `r8`–`r15` across spin loops for 300 ms of the monotonic clock, so preemption interrupts it mid-loop ([`registers_survive_preemption`]) | exit 0, or 1 if a register changed |
//! | 20 | as 19 for `xmm0`–`xmm15`, MXCSR and the x87 control word, with values seeded by byte 1 of the argument (two processes keep different values); first checks the start state (FCW 0x37f, MXCSR 0x1f80) ([`vector_registers_survive_preemption`]) | exit 0; 1 if a register changed, 4 if the start state was wrong |
//! | 21 | lives through driver restarts: a GPU call and `survivor: tick <n>` each round; on STATUS_DEVICE_REMOVED opens the adapter again (bits 8–15: how many removals to live through) ([`survivor`]) | exit 0 |
//! | 22 | opens the first adapter, creates a device and a monitored fence, prints `selftest: waiting from the CPU`, then waits from the CPU for a value nobody signals, forever ([`wait_forever_from_the_cpu`]) | killed |
//! | 23 | calls DestroyDevice with its struct inside a Lock2 view of that device, which the call unmaps; checks the answer (STATUS_ACCESS_VIOLATION: the copy back failed) and that the dxg object count is back at its value before the device ([`released_views`]) | exit 0 |
//!
//! Faults are provoked with inline assembly on purpose; this crate is test code.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use userlib::abi::status::{
    STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_SYSTEM_SERVICE,
    STATUS_SUCCESS,
};
use userlib::println;
use userlib::sys::{Native, process};

mod bench;
mod call_rows;
mod hostile_rows;
mod invalid_arguments;
mod released_views;
mod sharing;
mod survivor;

/// The entry point: `argument` is the value the kernel was asked to pass.
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(argument: u64) -> ! {
    let code = match argument & 0xff {
        1 => bad_pointers(),
        2 => {
            // SAFETY: deliberately not safe: the page is unmapped, the kernel kills us.
            unsafe { core::ptr::read_volatile(0x10 as *const u8) };
            100
        }
        3 => {
            // SAFETY: deliberately privileged: #GP in ring 3, the kernel kills us.
            unsafe { core::arch::asm!("hlt") };
            101
        }
        4 => {
            // SAFETY: deliberately undefined: #UD, the kernel kills us.
            unsafe { core::arch::asm!("ud2") };
            102
        }
        5 => interleave((argument >> 8) as u8),
        6 => {
            // SAFETY: deliberately not safe: a supervisor page, the kernel kills us.
            unsafe { core::ptr::write_volatile(0xffff_8000_0010_0000 as *mut u64, 1) };
            103
        }
        7 => invalid_arguments::run((argument >> 32) as u32),
        8 => invalid_arguments::hold_a_device(),
        9 => bench::run(argument),
        11 => sharing::produce(),
        12 => sharing::consume(argument >> 32),
        13 => sharing::existing_system_memory(),
        14 => released_views::write_after(released_views::Release::Unlock),
        15 => released_views::write_after(released_views::Release::Destroy),
        16 => released_views::write_after_framebuffer_unmap(),
        17 => spin(),
        18 => block_in_a_gpu_call(),
        19 => registers_survive_preemption(),
        20 => vector_registers_survive_preemption((argument >> 8) as u8),
        21 => survivor::run(((argument >> 8) & 0xff) as u32),
        22 => wait_forever_from_the_cpu(),
        23 => released_views::destroy_device_from_its_own_view(),
        10 => {
            // SAFETY: deliberately sets RFLAGS.TF: the next instruction raises #DB in ring 3
            // and the kernel kills us.
            unsafe {
                core::arch::asm!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "nop");
            }
            104
        }
        _ => 99,
    };
    exit(code)
}

/// Mode 16: loops forever without a system call; only preemption lets anything else run, and
/// only a kill that reaches ring 3 ends it.
fn spin() -> i32 {
    println!("selftest: spinning");
    let mut counter = 0u64;
    loop {
        // `black_box` keeps the loop (and its lack of system calls) in the binary.
        counter = core::hint::black_box(counter.wrapping_add(1));
    }
}

/// Mode 18: spins with known values in every register an interrupt-driven preemption must
/// restore (`rcx` and `r11` included, which `sysretq` would not), until 300 ms of the monotonic
/// clock have passed; 1 if any value changed. Two of these side by side preempt each other.
fn registers_survive_preemption() -> i32 {
    const SPINS: u64 = 1 << 22;
    let monotonic = userlib::sys::CLOCK_MONOTONIC;
    let Ok(start) = process::time(&Native, monotonic) else {
        return 2;
    };
    let mut round = 0u64;
    loop {
        let expected: [u64; 12] = core::array::from_fn(|index| {
            0x0101_0101_0101_0101u64.wrapping_mul(index as u64 + 1) ^ round
        });
        let mut values = expected;
        let mut counter = SPINS;
        // SAFETY: the assembly only counts `rax` down; every other operand is read back
        // unchanged unless the kernel failed to restore it.
        unsafe {
            core::arch::asm!(
                "2:",
                "dec rax",
                "jnz 2b",
                inout("rax") counter,
                inout("rcx") values[0],
                inout("rdx") values[1],
                inout("rsi") values[2],
                inout("rdi") values[3],
                inout("r8") values[4],
                inout("r9") values[5],
                inout("r10") values[6],
                inout("r11") values[7],
                inout("r12") values[8],
                inout("r13") values[9],
                inout("r14") values[10],
                inout("r15") values[11],
                options(nomem, nostack),
            );
        }
        if counter != 0 || values != expected {
            println!("selftest: a register changed in round {round}: {values:x?}");
            return 1;
        }
        round += 1;
        match process::time(&Native, monotonic) {
            Ok(now) if now.saturating_sub(start) >= 300_000_000 => break,
            Ok(_) => {}
            Err(_) => return 3,
        }
    }
    println!("selftest: registers kept over {round} rounds");
    0
}

/// Mode 20: keeps seeded values in `xmm0`–`xmm15`, a seeded MXCSR rounding mode and a seeded
/// x87 control word across spin loops for 300 ms, so preemption (and the other process with
/// another seed) interrupts it mid-loop. The app is built soft-float, so nothing but this
/// assembly touches these registers; one `asm!` block loads, spins and stores them.
fn vector_registers_survive_preemption(seed: u8) -> i32 {
    const SPINS: u64 = 1 << 22;
    #[repr(C, align(16))]
    struct Vectors([u64; 32]);
    let mut start_control = [0u32; 2];
    // SAFETY: stores the x87 control word and MXCSR into the local array (2 + 4 bytes).
    unsafe {
        core::arch::asm!(
            "fnstcw [{area}]",
            "stmxcsr [{area} + 4]",
            area = in(reg) start_control.as_mut_ptr(),
            options(nostack),
        );
    }
    if start_control[0] & 0xffff != 0x037f || start_control[1] != 0x1f80 {
        println!(
            "selftest: start state fcw {:#x} mxcsr {:#x}",
            start_control[0] & 0xffff,
            start_control[1]
        );
        return 4;
    }
    let monotonic = userlib::sys::CLOCK_MONOTONIC;
    let Ok(start) = process::time(&Native, monotonic) else {
        return 2;
    };
    // Rounding control: MXCSR bits 13–14, FCW bits 10–11; the seed picks one of four modes.
    let mode = u32::from(seed & 3);
    let mxcsr_expected = 0x1f80 | (mode << 13);
    let control_expected = 0x037f | (mode << 10);
    let mut round = 0u64;
    loop {
        let expected = Vectors(core::array::from_fn(|index| {
            0x0101_0101_0101_0101u64.wrapping_mul(index as u64 + 1)
                ^ round
                ^ (u64::from(seed) << 56)
        }));
        let mut values = Vectors([0; 32]);
        let mut control = [control_expected, mxcsr_expected, 0, 0];
        let mut counter = SPINS;
        // SAFETY: loads xmm0–xmm15 from `expected`, MXCSR and FCW from `control[0..2]`, counts
        // `rax` down, then stores the sixteen registers into `values` and the control registers
        // into `control[2..4]`; all four buffers are locals of the right size and alignment.
        // Nothing else in this soft-float program uses these registers.
        unsafe {
            core::arch::asm!(
                "fldcw [{control}]",
                "ldmxcsr [{control} + 4]",
                "movdqa xmm0, [{input}]",
                "movdqa xmm1, [{input} + 16]",
                "movdqa xmm2, [{input} + 32]",
                "movdqa xmm3, [{input} + 48]",
                "movdqa xmm4, [{input} + 64]",
                "movdqa xmm5, [{input} + 80]",
                "movdqa xmm6, [{input} + 96]",
                "movdqa xmm7, [{input} + 112]",
                "movdqa xmm8, [{input} + 128]",
                "movdqa xmm9, [{input} + 144]",
                "movdqa xmm10, [{input} + 160]",
                "movdqa xmm11, [{input} + 176]",
                "movdqa xmm12, [{input} + 192]",
                "movdqa xmm13, [{input} + 208]",
                "movdqa xmm14, [{input} + 224]",
                "movdqa xmm15, [{input} + 240]",
                "2:",
                "dec rax",
                "jnz 2b",
                "movdqa [{output}], xmm0",
                "movdqa [{output} + 16], xmm1",
                "movdqa [{output} + 32], xmm2",
                "movdqa [{output} + 48], xmm3",
                "movdqa [{output} + 64], xmm4",
                "movdqa [{output} + 80], xmm5",
                "movdqa [{output} + 96], xmm6",
                "movdqa [{output} + 112], xmm7",
                "movdqa [{output} + 128], xmm8",
                "movdqa [{output} + 144], xmm9",
                "movdqa [{output} + 160], xmm10",
                "movdqa [{output} + 176], xmm11",
                "movdqa [{output} + 192], xmm12",
                "movdqa [{output} + 208], xmm13",
                "movdqa [{output} + 224], xmm14",
                "movdqa [{output} + 240], xmm15",
                "fnstcw [{control} + 8]",
                "stmxcsr [{control} + 12]",
                inout("rax") counter,
                input = in(reg) expected.0.as_ptr(),
                output = in(reg) values.0.as_mut_ptr(),
                control = in(reg) control.as_mut_ptr(),
                options(nostack),
            );
        }
        if counter != 0 || values.0 != expected.0 {
            println!(
                "selftest: a vector register changed in round {round}: {:x?}",
                values.0
            );
            return 1;
        }
        if control[2] & 0xffff != control_expected || control[3] != mxcsr_expected {
            println!(
                "selftest: fcw {:#x} mxcsr {:#x} in round {round}",
                control[2] & 0xffff,
                control[3]
            );
            return 1;
        }
        round += 1;
        match process::time(&Native, monotonic) {
            Ok(now) if now.saturating_sub(start) >= 300_000_000 => break,
            Ok(_) => {}
            Err(_) => return 3,
        }
    }
    println!("selftest: vector registers kept over {round} rounds");
    0
}

/// Mode 18: a GPU call the kernel's test kills the process in (the emulated host's "dxg reply
/// never sent" row drops the CreateDevice reply); with an answering host it sleeps instead.
fn block_in_a_gpu_call() -> i32 {
    let Ok(mut adapters) = userlib::gpu::Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    println!("selftest: creating a device");
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
    println!("selftest: device created {:#x}", device.handle());
    // Sleeps of a second (the call takes microseconds), so that the test watching for the
    // process to be blocked sees it blocked, not between two short sleeps.
    loop {
        process::sleep(&Native, 1_000_000);
    }
}

/// Mode 22: a CPU wait (`WaitForSynchronizationObjectFromCpu`, no timeout) for a fence value
/// nobody signals: the kernel makes it after releasing the process (a detached wait), and only
/// a kill ends it.
fn wait_forever_from_the_cpu() -> i32 {
    let Ok(mut adapters) = userlib::gpu::Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
    let Ok(fence) = device.create_sync_object() else {
        return 4;
    };
    println!("selftest: waiting from the CPU");
    match fence.wait_cpu(1, None) {
        Ok(()) => 5,
        Err(_) => 6,
    }
}

fn exit(code: i32) -> ! {
    process::exit_now(code)
}

/// A raw system call, for numbers and arguments userlib's typed wrappers would not produce
/// (through userlib's one `syscall` instruction, [`userlib::sys::raw_syscall`]).
pub(crate) fn raw_syscall(number: u64, arg0: u64, arg1: u64, arg2: u64) -> i64 {
    // SAFETY: every address selftest passes is either one the kernel must refuse (null, kernel,
    // non-canonical, unmapped, wrapping: the point of the tests) or a buffer of selftest's own
    // at least as large as the size passed with it, which the kernel writes only within.
    unsafe { userlib::sys::raw_syscall(number, arg0, arg1, arg2) }
}

const WRITE_CONSOLE: u64 = 0x101;
const OPEN_ADAPTER_FROM_LUID: u64 = 0x01;

fn bad_pointers() -> i32 {
    let violation = i64::from(STATUS_ACCESS_VIOLATION);
    let stack_byte = 0u8;
    let stack = core::ptr::from_ref(&stack_byte) as u64;
    let checks: [(u64, u64, u64, i64); 9] = [
        // Null, kernel, non-canonical, unmapped, wrapping around, running off the stack top.
        (WRITE_CONSOLE, 0, 5, violation),
        (WRITE_CONSOLE, 0xffff_8000_0000_0000, 16, violation),
        (WRITE_CONSOLE, 0x0000_8000_0000_0000, 16, violation),
        (WRITE_CONSOLE, 0x1000_0000, 16, violation),
        (WRITE_CONSOLE, u64::MAX - 2, 16, violation),
        (WRITE_CONSOLE, stack, 0x10_0000, violation),
        // A D3DKMT call with an unreadable struct, a wrong size, an unknown number.
        (OPEN_ADAPTER_FROM_LUID, 0x10, 12, violation),
        (
            OPEN_ADAPTER_FROM_LUID,
            stack,
            13,
            i64::from(STATUS_INFO_LENGTH_MISMATCH),
        ),
        (0x7777, 0, 0, i64::from(STATUS_INVALID_SYSTEM_SERVICE)),
    ];
    for (index, (number, address, length, expected)) in checks.iter().enumerate() {
        if raw_syscall(*number, *address, *length, 0) != *expected {
            return index as i32 + 1;
        }
    }
    // A good D3DKMT call: the test gateway writes 0x1234 into hAdapter (offset 8).
    let mut open = [0u8; 12];
    open[0] = 0x42;
    let status = raw_syscall(OPEN_ADAPTER_FROM_LUID, open.as_mut_ptr() as u64, 12, 0);
    if status != i64::from(STATUS_SUCCESS) {
        return 20;
    }
    if u32::from_le_bytes([open[8], open[9], open[10], open[11]]) != 0x1234 {
        return 21;
    }
    // Still alive and still able to write after all that.
    if process::write_console(&Native, b"selftest: bad pointers refused\n") != 31 {
        return 22;
    }
    0
}

fn interleave(tag: u8) -> i32 {
    for index in 0..3u8 {
        process::write_console(&Native, &[tag, b'0' + index]);
        process::yield_now(&Native);
    }
    0
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    process::write_console(&Native, b"selftest: panic\n");
    exit(98)
}
