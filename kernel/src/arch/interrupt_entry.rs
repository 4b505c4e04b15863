//! Interrupt and exception entry: one small assembly stub per vector saves every general
//! register into an [`InterruptFrame`] and calls [`interrupt_dispatch`], which sends exceptions
//! (vectors 0–31) to [`super::exceptions`] and everything else to [`crate::interrupts`].
//!
//! When an interrupt (vector 32 and up) arrived in ring 3 and the scheduler wants the CPU back,
//! or ring-3 code raised an exception, [`interrupt_dispatch`] answers `true` and the common
//! stub leaves through `arch::user_mode`'s `interrupt_leave_user_mode` instead of `iretq`: the
//! process task's [`super::user_mode::run`] returns, and the task yields in task context
//! (preemption of ring 3 only; kernel code is never preempted, see `task`) or ends.
//!
//! Hand-written stubs (instead of the `x86-interrupt` ABI) give exception reports every
//! register, and give every device vector one generic path without 224 generic functions.

use spin::Lazy;
use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptDescriptorTable;

use super::gdt;

/// The registers saved on interrupt entry, lowest address first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct InterruptFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rax: u64,
    /// The vector number the stub pushed.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<InterruptFrame>() == 22 * 8);

// One 16-byte stub per vector. Vectors where the CPU pushes an error code (8, 10–14, 17, 21,
// 29, 30) skip the dummy push so every frame has the same layout.
core::arch::global_asm!(
    r#"
    .section .text.interrupt_stubs, "ax"
    .balign 16
    .global interrupt_stubs
interrupt_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push 0
    .endif
    push vector
    jmp interrupt_common
    .set vector, vector + 1
    .endr

interrupt_common:
    cld
    push rax
    push rcx
    push rdx
    push rbx
    push rbp
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    call {dispatch}
    test al, al
    jnz interrupt_leave_user_mode
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rbp
    pop rbx
    pop rdx
    pop rcx
    pop rax
    add rsp, 16
    iretq
    .text
"#,
    dispatch = sym interrupt_dispatch,
);

unsafe extern "C" {
    /// The first of 256 16-byte stubs defined in the assembly above.
    static interrupt_stubs: [u8; 0];
}

fn stub_address(vector: usize) -> VirtAddr {
    VirtAddr::from_ptr(&raw const interrupt_stubs) + (vector as u64) * 16
}

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY (for every `set_handler_addr` below): each address is the entry stub for exactly
    // that vector, which saves all registers, calls `interrupt_dispatch` and returns with
    // `iretq`, matching the frame the CPU pushed for this vector (with or without error code).
    unsafe {
        idt.divide_error.set_handler_addr(stub_address(0));
        idt.debug.set_handler_addr(stub_address(1));
        idt.non_maskable_interrupt
            .set_handler_addr(stub_address(2))
            .set_stack_index(gdt::NMI_IST_INDEX);
        idt.breakpoint.set_handler_addr(stub_address(3));
        idt.overflow.set_handler_addr(stub_address(4));
        idt.bound_range_exceeded.set_handler_addr(stub_address(5));
        idt.invalid_opcode.set_handler_addr(stub_address(6));
        idt.device_not_available.set_handler_addr(stub_address(7));
        idt.double_fault
            .set_handler_addr(stub_address(8))
            .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
        idt.invalid_tss.set_handler_addr(stub_address(10));
        idt.segment_not_present.set_handler_addr(stub_address(11));
        idt.stack_segment_fault.set_handler_addr(stub_address(12));
        idt.general_protection_fault
            .set_handler_addr(stub_address(13));
        idt.page_fault
            .set_handler_addr(stub_address(14))
            .set_stack_index(gdt::PAGE_FAULT_IST_INDEX);
        idt.x87_floating_point.set_handler_addr(stub_address(16));
        idt.alignment_check.set_handler_addr(stub_address(17));
        idt.machine_check
            .set_handler_addr(stub_address(18))
            .set_stack_index(gdt::MACHINE_CHECK_IST_INDEX);
        idt.simd_floating_point.set_handler_addr(stub_address(19));
        idt.virtualization.set_handler_addr(stub_address(20));
        idt.cp_protection_exception
            .set_handler_addr(stub_address(21));
        idt.hv_injection_exception
            .set_handler_addr(stub_address(28));
        idt.vmm_communication_exception
            .set_handler_addr(stub_address(29));
        idt.security_exception.set_handler_addr(stub_address(30));
        for vector in 32..=255u8 {
            idt[vector].set_handler_addr(stub_address(vector as usize));
        }
    }
    idt
});

/// Loads the IDT.
pub fn init() {
    IDT.load();
}

/// Depth of nested interrupt handling (0 = task context).
static NESTING: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Whether the CPU is currently inside an interrupt or exception handler.
pub fn in_interrupt() -> bool {
    NESTING.load(core::sync::atomic::Ordering::Relaxed) != 0
}

/// Called by the common stub with the saved registers. Returns whether the stub should leave
/// ring 3 for the interrupted process task's kernel side (an interrupt that arrived in ring 3
/// while [`crate::task::preemption_due`], or an exception of ring-3 code) instead of returning
/// to where it was interrupted.
extern "C" fn interrupt_dispatch(frame: &mut InterruptFrame) -> bool {
    let nesting = NESTING.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let leave = if frame.vector < 32 {
        super::exceptions::handle(frame, nesting)
    } else {
        crate::interrupts::dispatch(frame.vector as u8);
        frame.cs & 3 == 3 && nesting == 0 && crate::task::preemption_due()
    };
    NESTING.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
    leave
}

/// Forgets one level of interrupt nesting: used when an exception handler abandons the faulting
/// task and switches away instead of returning through the stub.
pub fn leave_abandoned_handler() {
    NESTING.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
}
