//! The context switch between kernel tasks.
//!
//! A task that is not running is described by one saved stack pointer: its stack holds the
//! callee-saved registers pushed by [`switch`] and the return address into the scheduler (or,
//! for a new task, into its entry trampoline). Interrupts are disabled across a switch; each
//! task re-enables them itself.

core::arch::global_asm!(
    r#"
    .section .text.switch_context, "ax"
    .global switch_context
switch_context:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    .text
"#
);

unsafe extern "sysv64" {
    fn switch_context(save_stack_pointer: *mut u64, new_stack_pointer: u64);
}

/// Saves the current context into `*save_stack_pointer` and resumes the context saved in
/// `new_stack_pointer`.
///
/// # Safety
/// `new_stack_pointer` must come from a previous `switch` or from [`prepare_stack`], its stack
/// must still be alive, and interrupts must be disabled.
pub unsafe fn switch(save_stack_pointer: *mut u64, new_stack_pointer: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { switch_context(save_stack_pointer, new_stack_pointer) }
}

/// Prepares a fresh stack so that switching to it enters `entry` (which must never return)
/// with a correctly aligned stack and a zero frame pointer (ending backtraces). Returns the
/// initial saved stack pointer.
pub fn prepare_stack(stack: &mut [u64], entry: extern "C" fn() -> !) -> u64 {
    let top = stack.len();
    // The stack top is 16-byte aligned (the caller allocates 16-byte aligned stacks), so after
    // `ret` pops `entry` the stack pointer is 8 mod 16, exactly as after a call.
    stack[top - 1] = 0; // fake return address of `entry`
    stack[top - 2] = entry as usize as u64;
    for slot in &mut stack[top - 8..top - 2] {
        *slot = 0; // rbp, rbx, r12–r15
    }
    stack[top - 8..].as_ptr() as u64
}
