//! The syscall numbers and D3DKMT argument sizes of `docs/d3dkmt.md`, taken from userlib's
//! `sys` module (the ABI definition applications are built against; the kernel uses its tables,
//! never its `syscall` instruction).

use userlib::sys::SyscallNumber;

/// End the process: `rdi` = exit code.
pub const EXIT: u64 = SyscallNumber::Exit as u64;
/// Write UTF-8 text: `rdi` = address, `rsi` = length; returns bytes written or an NTSTATUS.
pub const WRITE_CONSOLE: u64 = SyscallNumber::WriteConsole as u64;
/// Describe the framebuffer (`STATUS_NOT_SUPPORTED` without a framebuffer grant).
pub const GET_FRAMEBUFFER_INFO: u64 = SyscallNumber::GetFramebufferInfo as u64;
/// Map the framebuffer into the process (idempotent).
pub const MAP_FRAMEBUFFER: u64 = SyscallNumber::MapFramebuffer as u64;
/// Unmap the framebuffer view (a no-op when it is not mapped).
pub const UNMAP_FRAMEBUFFER: u64 = SyscallNumber::UnmapFramebuffer as u64;
/// Yield to the other ready tasks.
pub const YIELD: u64 = SyscallNumber::Yield as u64;
/// Sleep `rdi` microseconds.
pub const SLEEP: u64 = SyscallNumber::Sleep as u64;
/// Read clock `rdi` (monotonic or wall): nanoseconds, or an NTSTATUS.
pub const GET_TIME: u64 = SyscallNumber::GetTime as u64;
/// The caller's dxg object count (a debug query for leak checks).
pub const DXG_OBJECT_COUNT: u64 = SyscallNumber::DxgObjectCount as u64;
/// The kernel's free page frames (a debug query for leak checks).
pub const FREE_FRAMES: u64 = SyscallNumber::FreeFrames as u64;

/// The argument-struct size of D3DKMT call `number`, or `None` if there is no such call: the
/// table of userlib (the ABI both sides share), so it cannot drift from what applications send.
pub fn d3dkmt_argument_size(number: u64) -> Option<usize> {
    SyscallNumber::from_raw(number)?.argument_size()
}

/// The dxgos call number in `rax` (`userlib::sys::DXGOS_SYSCALL_BASE` + number), or `None` for
/// a number outside the dxgos range (a Linux syscall number, `process::linux`).
pub fn dxgos_call(rax: u64) -> Option<u64> {
    const MASK: u64 = 0x0fff_ffff;
    (rax & !MASK == userlib::sys::DXGOS_SYSCALL_BASE).then_some(rax & MASK)
}
