//! The NTSTATUS values the syscall layer itself returns.

/// Success.
pub const STATUS_SUCCESS: i32 = 0;
/// The argument size does not match the call's struct.
pub const STATUS_INFO_LENGTH_MISMATCH: i32 = 0xC000_0004_u32 as i32;
/// A user pointer is not mapped user memory with the needed access.
pub const STATUS_ACCESS_VIOLATION: i32 = 0xC000_0005_u32 as i32;
/// An argument is invalid.
pub const STATUS_INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
/// No such system call.
pub const STATUS_INVALID_SYSTEM_SERVICE: i32 = 0xC000_001C_u32 as i32;
/// The call exists but is not available.
pub const STATUS_NOT_SUPPORTED: i32 = 0xC000_00BB_u32 as i32;
/// No memory (or address space) for the request.
pub const STATUS_NO_MEMORY: i32 = 0xC000_0017_u32 as i32;
