//! The NTSTATUS values the syscall layer and the GPU gateway return: userlib's (the ABI
//! applications are built against), re-exported so both sides use the same numbers.

pub use userlib::abi::status::{
    STATUS_ACCESS_VIOLATION, STATUS_DEVICE_REMOVED, STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_SYSTEM_SERVICE, STATUS_NO_MEMORY,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS, STATUS_TIMEOUT,
};
