//! Entering ring 3 and coming back on `syscall`.
//!
//! The model is "return to the kernel task": a process is an ordinary kernel task whose body
//! loops `run(&mut registers)` → handle the system call → `run` again. [`run`] saves the
//! task's callee-saved registers on its kernel stack, records that stack pointer (for the
//! `syscall` entry and as the TSS's `rsp0`), loads the user registers and executes `sysretq`.
//! The `syscall` entry switches back to the recorded kernel stack, stores every user register
//! into the same [`UserRegisters`] and returns from [`run`] as if it were an ordinary call.
//! System calls are therefore handled in plain Rust on the process task's stack, where they may
//! block like any task; the CPU holds no user state while they do.
//!
//! One CPU makes two statics enough (no `swapgs`): only the running task can be in ring 3, and
//! it re-records its stack on every entry. Interrupts in ring 3 arrive on `rsp0` (just below
//! the saved registers) and run their handler. Normally the handler `iretq`s back to ring 3;
//! when the scheduler wants the CPU back ([`crate::task::preemption_due`]: the time slice is
//! used up while other tasks are ready, or the task was interrupted to be killed), the
//! interrupt entry instead jumps to `interrupt_leave_user_mode`, which stores the user
//! registers from the interrupt frame into the same [`UserRegisters`] and returns from [`run`]
//! with [`Exit::Interrupted`], exactly as a `syscall` would. The process task then yields like
//! any task, at an ordinary scheduling point in task context: no kernel code was interrupted,
//! so no kernel lock is held across the switch (the kernel's `spin` locks do not disable
//! interrupts, and preempting a holder would deadlock the next locker). Because `rcx` and
//! `r11` hold live user values after an interrupt, the next entry then goes through `iretq`
//! (`user_mode_enter_full`) instead of `sysretq`. An exception in ring 3 is reported by the
//! fault policy (`arch::exceptions`) and leaves the same way: [`run`] returns
//! [`Exit::Faulted`], and the process task ends through its ordinary path, dropping what it
//! owns (a task abandoned where it stands would never drop what its stack holds).
//!
//! MSRs: STAR (segment bases, see `gdt`), LSTAR = [`syscall_entry`], SFMASK clears IF, TF, DF,
//! AC, NT and IOPL on entry (so the entry runs with interrupts off), EFER.SCE enables `syscall`.

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use spin::Mutex;

use super::gdt::{self, Selectors};
use crate::task::TaskFault;

/// A process's user-mode registers: what `syscall` saved, or what the next `sysretq` loads.
/// `rcx` and `r11` are clobbered by `syscall` (they hold the return RIP and RFLAGS).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct UserRegisters {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    /// Where ring 3 resumes.
    pub rip: u64,
    /// The user stack pointer.
    pub rsp: u64,
    /// The user flags (sanitised by [`run`]).
    pub rflags: u64,
}

const _: () = {
    assert!(core::mem::offset_of!(UserRegisters, rdi) == 40);
    assert!(core::mem::offset_of!(UserRegisters, rip) == 120);
    assert!(core::mem::offset_of!(UserRegisters, rsp) == 128);
    assert!(core::mem::offset_of!(UserRegisters, rflags) == 136);
};

/// The flags a process may keep across kernel entries: CF, PF, AF, ZF, SF, DF, OF. IF is
/// always set; TF, IOPL, NT, AC, RF and the rest are cleared.
const USER_FLAGS: u64 = 0x0cd5;

/// Kernel stack pointer of the task in ring 3 (pointing at its saved registers).
static mut KERNEL_STACK_POINTER: u64 = 0;
/// Scratch for the user stack pointer during the `syscall` entry.
static mut USER_STACK_POINTER: u64 = 0;

core::arch::global_asm!(
    r#"
    .section .text.user_mode, "ax"
    .global user_mode_enter
user_mode_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov [rip + {kernel_stack}], rsp
    mov [rsi], rsp
    mov rcx, [rdi + 120]
    mov r11, [rdi + 136]
    mov rax, [rdi + 0]
    mov rbx, [rdi + 8]
    mov rdx, [rdi + 24]
    mov rsi, [rdi + 32]
    mov rbp, [rdi + 48]
    mov r8, [rdi + 56]
    mov r9, [rdi + 64]
    mov r10, [rdi + 72]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rsp, [rdi + 128]
    mov rdi, [rdi + 40]
    sysretq

    .global user_mode_enter_full
user_mode_enter_full:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov [rip + {kernel_stack}], rsp
    mov [rsi], rsp
    push {user_data}
    push qword ptr [rdi + 128]
    push qword ptr [rdi + 136]
    push {user_code}
    push qword ptr [rdi + 120]
    mov rax, [rdi + 0]
    mov rbx, [rdi + 8]
    mov rcx, [rdi + 16]
    mov rdx, [rdi + 24]
    mov rsi, [rdi + 32]
    mov rbp, [rdi + 48]
    mov r8, [rdi + 56]
    mov r9, [rdi + 64]
    mov r10, [rdi + 72]
    mov r11, [rdi + 80]
    mov r12, [rdi + 88]
    mov r13, [rdi + 96]
    mov r14, [rdi + 104]
    mov r15, [rdi + 112]
    mov rdi, [rdi + 40]
    iretq

    .global syscall_entry
syscall_entry:
    mov [rip + {user_stack}], rsp
    mov rsp, [rip + {kernel_stack}]
    xchg rdi, [rsp]
    mov [rdi + 0], rax
    mov [rdi + 8], rbx
    mov [rdi + 16], rcx
    mov [rdi + 24], rdx
    mov [rdi + 32], rsi
    mov [rdi + 48], rbp
    mov [rdi + 56], r8
    mov [rdi + 64], r9
    mov [rdi + 72], r10
    mov [rdi + 80], r11
    mov [rdi + 88], r12
    mov [rdi + 96], r13
    mov [rdi + 104], r14
    mov [rdi + 112], r15
    mov [rdi + 120], rcx
    mov [rdi + 136], r11
    mov rax, [rip + {user_stack}]
    mov [rdi + 128], rax
    pop rax
    mov [rdi + 40], rax
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax
    ret

    .global interrupt_leave_user_mode
interrupt_leave_user_mode:
    mov rax, [rip + {kernel_stack}]
    mov rax, [rax]
    mov rcx, [rsp + 112]
    mov [rax + 0], rcx
    mov rcx, [rsp + 88]
    mov [rax + 8], rcx
    mov rcx, [rsp + 104]
    mov [rax + 16], rcx
    mov rcx, [rsp + 96]
    mov [rax + 24], rcx
    mov rcx, [rsp + 72]
    mov [rax + 32], rcx
    mov rcx, [rsp + 64]
    mov [rax + 40], rcx
    mov rcx, [rsp + 80]
    mov [rax + 48], rcx
    mov rcx, [rsp + 56]
    mov [rax + 56], rcx
    mov rcx, [rsp + 48]
    mov [rax + 64], rcx
    mov rcx, [rsp + 40]
    mov [rax + 72], rcx
    mov rcx, [rsp + 32]
    mov [rax + 80], rcx
    mov rcx, [rsp + 24]
    mov [rax + 88], rcx
    mov rcx, [rsp + 16]
    mov [rax + 96], rcx
    mov rcx, [rsp + 8]
    mov [rax + 104], rcx
    mov rcx, [rsp + 0]
    mov [rax + 112], rcx
    mov rcx, [rsp + 136]
    mov [rax + 120], rcx
    mov rcx, [rsp + 160]
    mov [rax + 128], rcx
    mov rcx, [rsp + 152]
    mov [rax + 136], rcx
    mov rsp, [rip + {kernel_stack}]
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    mov eax, 1
    ret
    .text
"#,
    kernel_stack = sym KERNEL_STACK_POINTER,
    user_stack = sym USER_STACK_POINTER,
    user_data = const USER_DATA_SELECTOR,
    user_code = const USER_CODE_SELECTOR,
);

/// The user data selector with RPL 3 (`gdt`'s table: 0x18), the `ss` of an `iretq` to ring 3.
const USER_DATA_SELECTOR: u64 = 0x1b;
/// The user code selector with RPL 3 (`gdt`'s table: 0x20), the `cs` of an `iretq` to ring 3.
const USER_CODE_SELECTOR: u64 = 0x23;

// The interrupt frame `interrupt_leave_user_mode` reads (offsets in its assembly).
const _: () = {
    use super::interrupt_entry::InterruptFrame as Frame;
    assert!(core::mem::offset_of!(Frame, r15) == 0);
    assert!(core::mem::offset_of!(Frame, r11) == 32);
    assert!(core::mem::offset_of!(Frame, rdi) == 64);
    assert!(core::mem::offset_of!(Frame, rax) == 112);
    assert!(core::mem::offset_of!(Frame, rip) == 136);
    assert!(core::mem::offset_of!(Frame, rflags) == 152);
    assert!(core::mem::offset_of!(Frame, rsp) == 160);
};

unsafe extern "sysv64" {
    /// Enters ring 3 with `sysretq`; returns 0 after `syscall`, 1 after an interrupt that
    /// left user mode.
    fn user_mode_enter(registers: *mut UserRegisters, ring0_stack_slot: *mut u64) -> u64;
    /// Like `user_mode_enter`, restoring every register (`rcx`, `r11` too) with `iretq`.
    fn user_mode_enter_full(registers: *mut UserRegisters, ring0_stack_slot: *mut u64) -> u64;
    fn syscall_entry();
}

/// Programs STAR, LSTAR, SFMASK and EFER.SCE (called by `gdt::init`).
pub(super) fn init(selectors: &Selectors) {
    Star::write(
        selectors.user_code,
        selectors.user_data,
        selectors.kernel_code,
        selectors.kernel_data,
    )
    .expect("the GDT orders its segments as sysret needs");
    assert!(
        u64::from(selectors.user_data.0) == USER_DATA_SELECTOR
            && u64::from(selectors.user_code.0) == USER_CODE_SELECTOR,
        "the GDT's user selectors are the ones iretq to ring 3 uses"
    );
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_LOW
            | RFlags::IOPL_HIGH,
    );
    // SAFETY: enabling `syscall` only makes LSTAR's entry (set above) reachable from ring 3.
    unsafe { Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// Why [`run`] refused to enter ring 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryError {
    /// `rip` is not a user address below `limit` (a non-canonical `rcx` would make `sysretq`
    /// fault in ring 0).
    BadInstructionPointer(u64),
}

/// How ring 3 gave the CPU back to [`run`]'s caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The process executed `syscall`: `rax` is the number, `rip` the instruction after it,
    /// `rcx`/`r11` are clobbered (they hold `rip` and the flags).
    SystemCall,
    /// An interrupt arrived while the scheduler wanted the CPU back (time slice used up, or a
    /// kill pending): every register holds the interrupted user state, including `rcx` and
    /// `r11`; nothing is to be served.
    Interrupted,
    /// Ring-3 code raised a CPU exception (already reported on COM1; [`take_fault`] gives
    /// it); the registers hold the user state at the faulting instruction. The thread must
    /// not run on. (The fault is not carried here: `Exit` stays small, so [`run`]'s result is
    /// returned in registers on every system call.)
    Faulted,
}

/// The exception that ended the last ring-3 run, from [`record_fault`] to [`take_fault`].
/// Written by the exception handler (interrupts off) and read by the task that was in ring 3,
/// with nothing scheduled in between (kernel code is not preempted), so one slot serves the
/// one CPU.
static USER_FAULT: Mutex<Option<TaskFault>> = Mutex::new(None);

/// Called by the exception handler for an exception of ring-3 code, just before the entry
/// stub leaves user mode: [`run`] then returns [`Exit::Faulted`].
pub(super) fn record_fault(fault: TaskFault) {
    *USER_FAULT.lock() = Some(fault);
}

/// The exception behind the [`Exit::Faulted`] that [`run`] just returned (taken: `None`
/// afterwards). Call it before anything else can run in ring 3.
pub fn take_fault() -> Option<TaskFault> {
    USER_FAULT.lock().take()
}

/// Runs the current task in ring 3 with `registers` until it executes `syscall` or is
/// interrupted to give the CPU back (see the module docs); returns which, with `registers`
/// holding the user state at that point.
///
/// `previous` is how ring 3 was last left (use [`Exit::SystemCall`] for a fresh process): after
/// [`Exit::Interrupted`] the entry restores every register with `iretq`, after a system call it
/// uses the faster `sysretq`. The caller has loaded the process's address space (its kernel
/// half is the kernel's, so the task keeps running normally afterwards). `registers.rip` must
/// lie below `limit`, which must itself be a canonical lower-half address.
#[inline]
pub fn run(registers: &mut UserRegisters, limit: u64, previous: Exit) -> Result<Exit, EntryError> {
    if registers.rip >= limit || limit > 0x0000_8000_0000_0000 {
        return Err(EntryError::BadInstructionPointer(registers.rip));
    }
    registers.rflags = (registers.rflags & USER_FLAGS) | RFlags::INTERRUPT_FLAG.bits() | 0x2;
    x86_64::instructions::interrupts::disable();
    // SAFETY: interrupts are off until `sysretq`/`iretq` (which set IF from the sanitised
    // flags) and again when `syscall` (SFMASK clears IF) or the interrupt exit (an interrupt
    // gate clears IF) returns here, so nothing else can use the two statics or see the
    // half-switched state. `registers` outlives the call (it is a `&mut`); the TSS slot is the
    // live TSS's `rsp0`. The user registers cannot reach kernel memory: the user code and data
    // segments have DPL 3, `rip` was checked above, and the address space maps kernel pages
    // supervisor-only. The callee-saved registers and the stack are restored exactly by the
    // `syscall` and interrupt-exit paths before they return.
    let exit = unsafe {
        match previous {
            Exit::SystemCall => user_mode_enter(registers, gdt::ring0_stack_slot()),
            Exit::Interrupted | Exit::Faulted => {
                user_mode_enter_full(registers, gdt::ring0_stack_slot())
            }
        }
    };
    let exit = if exit == 0 {
        Exit::SystemCall
    } else if USER_FAULT.lock().is_some() {
        Exit::Faulted
    } else {
        Exit::Interrupted
    };
    x86_64::instructions::interrupts::enable();
    Ok(exit)
}

/// Loads the FS base a user thread set (`arch_prctl(ARCH_SET_FS)`, its thread pointer) before
/// it enters ring 3. The kernel never uses FS, so the value lasts until the next thread's
/// entry. Values outside the user half are refused (`false`, nothing written): the callers
/// validate already, and a non-canonical base would fault in ring 0.
#[inline]
pub fn set_thread_pointer(base: u64) -> bool {
    if base >= USER_HALF_END {
        return false;
    }
    x86_64::registers::model_specific::FsBase::write(VirtAddr::new_truncate(base));
    true
}

/// The end of the canonical lower half.
const USER_HALF_END: u64 = 0x0000_8000_0000_0000;
