//! Typed errors from NTSTATUS.

use crate::abi::{NTSTATUS, status::*};

/// A failed D3DKMT call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum D3dkmtError {
    /// STATUS_INVALID_PARAMETER.
    InvalidParameter,
    /// STATUS_INVALID_HANDLE.
    InvalidHandle,
    /// STATUS_NO_MEMORY.
    NoMemory,
    /// STATUS_ACCESS_DENIED.
    AccessDenied,
    /// STATUS_BUFFER_TOO_SMALL.
    BufferTooSmall,
    /// STATUS_NOT_SUPPORTED or STATUS_NOT_IMPLEMENTED.
    NotSupported,
    /// STATUS_DEVICE_REMOVED.
    DeviceRemoved,
    /// STATUS_GRAPHICS_ALLOCATION_BUSY.
    AllocationBusy,
    /// STATUS_OBJECT_NAME_NOT_FOUND / STATUS_OBJECT_NAME_INVALID.
    NotFound,
    /// STATUS_INFO_LENGTH_MISMATCH: the kernel expected another argument size.
    LengthMismatch,
    /// STATUS_INVALID_SYSTEM_SERVICE: the kernel does not know the call.
    UnknownCall,
    /// A CPU wait ran out of time (STATUS_TIMEOUT, a success code in NTSTATUS terms).
    Timeout,
    /// The kernel answered success with output that breaks the contract (e.g. more adapters
    /// than the buffer holds, a null mapping).
    InvalidReply,
    /// Any other failure status.
    Other(NTSTATUS),
}

impl D3dkmtError {
    /// Maps a failure status (negative) to its error; success codes are not errors.
    pub fn from_status(status: NTSTATUS) -> Option<Self> {
        if status >= 0 {
            return None;
        }
        Some(match status {
            STATUS_INVALID_PARAMETER => Self::InvalidParameter,
            STATUS_INVALID_HANDLE => Self::InvalidHandle,
            STATUS_NO_MEMORY => Self::NoMemory,
            STATUS_ACCESS_DENIED => Self::AccessDenied,
            STATUS_BUFFER_TOO_SMALL => Self::BufferTooSmall,
            STATUS_NOT_SUPPORTED | STATUS_NOT_IMPLEMENTED => Self::NotSupported,
            STATUS_DEVICE_REMOVED => Self::DeviceRemoved,
            STATUS_GRAPHICS_ALLOCATION_BUSY => Self::AllocationBusy,
            STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_NAME_INVALID => Self::NotFound,
            STATUS_INFO_LENGTH_MISMATCH => Self::LengthMismatch,
            STATUS_INVALID_SYSTEM_SERVICE => Self::UnknownCall,
            other => Self::Other(other),
        })
    }

    /// The NTSTATUS this error stands for.
    pub fn status(self) -> NTSTATUS {
        match self {
            Self::InvalidParameter => STATUS_INVALID_PARAMETER,
            Self::InvalidHandle => STATUS_INVALID_HANDLE,
            Self::NoMemory => STATUS_NO_MEMORY,
            Self::AccessDenied => STATUS_ACCESS_DENIED,
            Self::BufferTooSmall => STATUS_BUFFER_TOO_SMALL,
            Self::NotSupported => STATUS_NOT_SUPPORTED,
            Self::DeviceRemoved => STATUS_DEVICE_REMOVED,
            Self::AllocationBusy => STATUS_GRAPHICS_ALLOCATION_BUSY,
            Self::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
            Self::LengthMismatch => STATUS_INFO_LENGTH_MISMATCH,
            Self::UnknownCall => STATUS_INVALID_SYSTEM_SERVICE,
            Self::Timeout => STATUS_TIMEOUT,
            Self::InvalidReply => STATUS_UNSUCCESSFUL,
            Self::Other(status) => status,
        }
    }
}

impl core::fmt::Display for D3dkmtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?} (NTSTATUS {:#010x})", self.status() as u32)
    }
}

impl core::error::Error for D3dkmtError {}

/// `Ok(status)` for success codes (0 and positive), the typed error otherwise.
pub fn check(status: NTSTATUS) -> Result<NTSTATUS, D3dkmtError> {
    match D3dkmtError::from_status(status) {
        None => Ok(status),
        Some(error) => Err(error),
    }
}
