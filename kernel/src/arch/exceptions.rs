//! Exception reports and the fault policy.
//!
//! Every exception prints a readable report on COM1: the vector's name, the error code, all
//! registers, CR2 for page faults and a frame-pointer backtrace (the target keeps frame
//! pointers). Then:
//! - a fault in an ordinary kernel task whose builder asked for fault containment (the test
//!   runner does this for every test, the supervisor for every driver) ends that task with a
//!   [`TaskFault`] that its joiner sees, and the kernel carries on — unless a kernel-global lock
//!   may be held (`task::global_locks_held`: interrupts were disabled, or the heap allocator
//!   was running), which the dead task could never release;
//! - a fault of ring-3 code (a process's) goes back to the process task itself: the exception
//!   leaves user mode like a preempting interrupt, and `user_mode::run` returns
//!   `Exit::Faulted`, so the task ends through its ordinary path and drops what it owns (an
//!   abandoned task's stack would keep it forever);
//! - a stack overflow is such a fault: the page-fault handler runs on its own IST stack
//!   (`gdt::PAGE_FAULT_IST_INDEX`), so the CPU can push the fault's frame even when the
//!   task's stack pointer is in its guard page, and the fault is reported and contained like
//!   any other page fault;
//! - anything else (a fault in interrupt context, in the boot or idle task, a double fault, an
//!   NMI or machine check, or an uncontained task) exits QEMU with the failure status.

use super::interrupt_entry::InterruptFrame;
use crate::memory::stacks;
use crate::serial;
use crate::task::TaskFault;

/// The architectural name of an exception vector.
pub fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt (NMI)",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection fault (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating-point error (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating-point error (#XM)",
        20 => "virtualization exception (#VE)",
        21 => "control protection (#CP)",
        28 => "hypervisor injection (#HV)",
        29 => "VMM communication (#VC)",
        30 => "security exception (#SX)",
        _ => "reserved exception",
    }
}

/// RFLAGS.IF: interrupts were enabled where the exception was taken.
const INTERRUPT_FLAG: u64 = 1 << 9;

/// Vectors a task can be ended for without endangering the rest of the kernel.
fn is_containable(vector: u8) -> bool {
    matches!(vector, 0 | 3 | 4 | 5 | 6 | 13 | 14 | 16 | 17 | 19)
}

/// Whether an exception taken while ring 3 ran can end that process alone: every synchronous
/// exception of user code can (the kernel was not in the middle of anything), including #DB
/// from single-stepping (TF set with `popf`) or `int1`; NMI (2), #DF (8) and #MC (18) are about
/// the machine, not the process.
fn is_containable_from_user(vector: u8) -> bool {
    !matches!(vector, 2 | 8 | 18)
}

/// Handles exception `frame.vector`; `nesting` is the interrupt depth before this one.
/// Returns whether the exception came from ring 3 and goes back to the process task (the
/// entry stub then leaves user mode, see `user_mode::Exit::Faulted`).
pub(super) fn handle(frame: &mut InterruptFrame, nesting: usize) -> bool {
    let vector = frame.vector as u8;
    let address = if vector == 14 {
        super::cpu::read_cr2()
    } else {
        0
    };
    // A double fault's CR2 is the page fault that could not be delivered (the CPU could not
    // push its frame): in a stack's guard, that is a stack overflow.
    let fault_address = if vector == 8 {
        super::cpu::read_cr2()
    } else {
        address
    };
    let task = crate::task::current_task_description();
    let from_user = frame.cs & 3 == 3;
    let containable = if from_user {
        is_containable_from_user(vector)
    } else {
        is_containable(vector)
    };
    let interrupts_were_enabled = frame.rflags & INTERRUPT_FLAG != 0;
    let contain = nesting == 0
        && containable
        && task.contain_faults
        && (from_user || !crate::task::global_locks_held(interrupts_were_enabled));
    // Says whether only the task ends (contained) or the kernel stops (`EXCEPTION`).
    let heading = match (contain, task.expects_fault) {
        (true, true) => "expected exception",
        (true, false) => "contained exception",
        (false, _) => "EXCEPTION",
    };
    serial::finish_line();
    serial::write_fmt(format_args!(
        "{heading}: {} (vector {vector}) in task {:?}, error code {:#x}\n",
        exception_name(vector),
        task.name(),
        frame.error_code
    ));
    if vector == 14 {
        serial::write_fmt(format_args!(
            "  faulting address (CR2) {address:#018x}: {}\n",
            describe_page_fault(frame.error_code)
        ));
    }
    if !from_user && matches!(vector, 8 | 14) && stacks::guard_slot(fault_address).is_some() {
        serial::write_fmt(format_args!(
            "stack overflow: task {:?} ran off its stack into the guard page at {fault_address:#018x}\n",
            task.name()
        ));
    }
    print_registers(frame);
    print_backtrace(frame.rip, frame.rbp);
    let fault = TaskFault {
        vector,
        name: exception_name(vector),
        error_code: frame.error_code,
        instruction: frame.rip,
        address,
    };
    // Ring 3 was entered by `user_mode::run`, whose task gets the fault back.
    if contain && from_user {
        super::user_mode::record_fault(fault);
        return true;
    }
    if contain {
        super::interrupt_entry::leave_abandoned_handler();
        crate::task::abandon_current(fault);
    }
    serial::write_str("fatal exception: exiting\n");
    crate::qemu::exit_failure();
}

fn describe_page_fault(error_code: u64) -> &'static str {
    match (
        error_code & 1 != 0,
        error_code & 2 != 0,
        error_code & 16 != 0,
    ) {
        (_, _, true) => "instruction fetch",
        (false, false, _) => "read of a non-present page",
        (false, true, _) => "write to a non-present page",
        (true, false, _) => "protection violation on read",
        (true, true, _) => "protection violation on write",
    }
}

fn print_registers(frame: &InterruptFrame) {
    serial::write_fmt(format_args!(
        "  rip {:#018x} cs {:#06x} rflags {:#010x} rsp {:#018x} ss {:#06x}\n\
         \x20 rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}\n\
         \x20 rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}\n\
         \x20 r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}\n\
         \x20 r13 {:#018x} r14 {:#018x} r15 {:#018x}\n",
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss,
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11,
        frame.r12,
        frame.r13,
        frame.r14,
        frame.r15
    ));
}

/// Prints a frame-pointer backtrace starting at `rip` with frame pointer `rbp`.
pub fn print_backtrace(rip: u64, rbp: u64) {
    serial::write_fmt(format_args!("  backtrace:\n    0: {rip:#018x}\n"));
    print_callers(rbp, 1);
}

/// Prints a backtrace of the code calling this (a panic report): its callers' return
/// addresses, from the caller's frame on, numbered from 1 (every one is a return address;
/// frame 0 of an exception report is the faulting instruction itself).
#[inline(never)]
pub fn print_current_backtrace() {
    serial::write_str("  backtrace:\n");
    print_callers(super::cpu::frame_pointer(), 1);
}

/// Prints the return addresses of the frame records from `rbp` on, numbered from `first`.
fn print_callers(rbp: u64, first: usize) {
    let mut frame_pointer = rbp;
    for depth in first..first + 23 {
        if frame_pointer == 0
            || !frame_pointer.is_multiple_of(8)
            || !crate::memory::is_readable(frame_pointer, 16)
        {
            break;
        }
        let (next, return_address) = read_frame_record(frame_pointer);
        if return_address == 0 {
            break;
        }
        serial::write_fmt(format_args!("    {depth}: {return_address:#018x}\n"));
        if next <= frame_pointer {
            break;
        }
        frame_pointer = next;
    }
}

fn read_frame_record(frame_pointer: u64) -> (u64, u64) {
    let Some(pointer) = core::ptr::NonNull::new(frame_pointer as *mut [u64; 2]) else {
        return (0, 0);
    };
    // SAFETY: the caller checked that the 16 bytes at `frame_pointer` are mapped, readable and
    // 8-byte aligned; volatile reads because the memory is not known to hold initialised Rust
    // values, and no reference is made.
    unsafe { volatile::VolatilePtr::new_read_only(pointer) }
        .read()
        .into()
}

/// Reads one byte from an unmapped address of the scratch region or of a task stack's guard
/// page, to provoke a page fault: used by the fault tests and fault injection (in a task
/// spawned with fault containment, which the fault ends). Any other address (elsewhere, or
/// mapped) is not touched and reads as 0, so this never reads memory.
pub fn read_byte_at(address: u64) -> u8 {
    let scratch = crate::memory::SCRATCH_START..crate::memory::stacks::STACKS_START;
    let in_guard = crate::memory::stacks::guard_slot(address).is_some();
    if !(scratch.contains(&address) || in_guard)
        || crate::memory::paging::translate(x86_64::VirtAddr::new(address)).is_some()
    {
        return 0;
    }
    let Some(pointer) = core::ptr::NonNull::new(address as *mut u8) else {
        return 0;
    };
    // SAFETY: the address is in the scratch region or a stack's guard page and unmapped
    // (checked above; guard pages are never mapped, only tests map scratch pages, and they do
    // not map this one while provoking the fault), so the read
    // raises a page fault, which the exception handler reports and contains; no memory is read.
    unsafe { volatile::VolatilePtr::new_read_only(pointer) }.read()
}
