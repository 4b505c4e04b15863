//! The Windows NTSTATUS, one type for the protocol, driver and translator crates.
//!
//! Hyper-V's VMBus devices answer with NTSTATUS values: the dxgkrnl protocol's replies (dxg.md
//! §2.8) and every vPCI completion (vpci.md); the D3DKMT translator returns them to
//! applications (`ntstatus.h` names). userlib's raw `STATUS_*` constants (the C ABI, in a crate
//! without `alloc`) are checked against these by a test in `d3dkmt`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A Windows NTSTATUS: negative is failure, zero and positive are success codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct NtStatus(pub i32);

impl NtStatus {
    /// STATUS_SUCCESS.
    pub const SUCCESS: Self = Self(0);
    /// STATUS_TIMEOUT (a success code).
    pub const TIMEOUT: Self = Self(0x102);
    /// STATUS_PENDING (a success code).
    pub const PENDING: Self = Self(0x103);
    /// STATUS_UNSUCCESSFUL.
    pub const UNSUCCESSFUL: Self = Self(0xC000_0001_u32 as i32);
    /// STATUS_NOT_IMPLEMENTED.
    pub const NOT_IMPLEMENTED: Self = Self(0xC000_0002_u32 as i32);
    /// STATUS_INFO_LENGTH_MISMATCH (at the D3DKMT boundary: the argument size is not the
    /// struct's size).
    pub const INFO_LENGTH_MISMATCH: Self = Self(0xC000_0004_u32 as i32);
    /// STATUS_ACCESS_VIOLATION (at the D3DKMT boundary: an argument pointer is not readable or
    /// writable user memory).
    pub const ACCESS_VIOLATION: Self = Self(0xC000_0005_u32 as i32);
    /// STATUS_INVALID_HANDLE.
    pub const INVALID_HANDLE: Self = Self(0xC000_0008_u32 as i32);
    /// STATUS_INVALID_PARAMETER.
    pub const INVALID_PARAMETER: Self = Self(0xC000_000D_u32 as i32);
    /// STATUS_NO_MEMORY.
    pub const NO_MEMORY: Self = Self(0xC000_0017_u32 as i32);
    /// STATUS_INVALID_SYSTEM_SERVICE (at the D3DKMT boundary: the call number is unknown).
    pub const INVALID_SYSTEM_SERVICE: Self = Self(0xC000_001C_u32 as i32);
    /// STATUS_ILLEGAL_INSTRUCTION.
    pub const ILLEGAL_INSTRUCTION: Self = Self(0xC000_001D_u32 as i32);
    /// STATUS_ACCESS_DENIED.
    pub const ACCESS_DENIED: Self = Self(0xC000_0022_u32 as i32);
    /// STATUS_BUFFER_TOO_SMALL.
    pub const BUFFER_TOO_SMALL: Self = Self(0xC000_0023_u32 as i32);
    /// STATUS_OBJECT_TYPE_MISMATCH.
    pub const OBJECT_TYPE_MISMATCH: Self = Self(0xC000_0024_u32 as i32);
    /// STATUS_OBJECT_NAME_INVALID.
    pub const OBJECT_NAME_INVALID: Self = Self(0xC000_0033_u32 as i32);
    /// STATUS_OBJECT_NAME_NOT_FOUND.
    pub const OBJECT_NAME_NOT_FOUND: Self = Self(0xC000_0034_u32 as i32);
    /// STATUS_OBJECT_NAME_COLLISION.
    pub const OBJECT_NAME_COLLISION: Self = Self(0xC000_0035_u32 as i32);
    /// STATUS_REVISION_MISMATCH (vPCI: try a lower protocol version).
    pub const REVISION_MISMATCH: Self = Self(0xC000_0059_u32 as i32);
    /// STATUS_DEVICE_NOT_CONNECTED: a request whose packet could not be sent (its channel is
    /// gone or its ring refused it).
    pub const DEVICE_NOT_CONNECTED: Self = Self(0xC000_009D_u32 as i32);
    /// STATUS_IO_TIMEOUT: the host did not answer a request within its bound.
    pub const IO_TIMEOUT: Self = Self(0xC000_00B5_u32 as i32);
    /// STATUS_NOT_SUPPORTED.
    pub const NOT_SUPPORTED: Self = Self(0xC000_00BB_u32 as i32);
    /// STATUS_CANCELLED.
    pub const CANCELLED: Self = Self(0xC000_0120_u32 as i32);
    /// STATUS_DEVICE_REMOVED.
    pub const DEVICE_REMOVED: Self = Self(0xC000_02B6_u32 as i32);
    /// STATUS_BAD_DATA (vPCI: OpenVMM's answer to malformed or unknown requests).
    pub const BAD_DATA: Self = Self(0xC000_090B_u32 as i32);
    /// STATUS_GRAPHICS_ALLOCATION_BUSY.
    pub const GRAPHICS_ALLOCATION_BUSY: Self = Self(0xC01E_0102_u32 as i32);

    /// Whether this is a success (non-negative) status.
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }
    /// The raw 32-bit value.
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }
    /// The status of a raw 32-bit wire value.
    pub const fn from_u32(value: u32) -> Self {
        Self(value as i32)
    }
    /// The Linux errno the WSL driver maps this status to (0 for success codes).
    pub const fn to_errno(self) -> i32 {
        if self.is_success() {
            return 0;
        }
        match self.as_u32() {
            0xC000_0035 => 17,              // EEXIST
            0xC000_0017 => 12,              // ENOMEM
            0xC000_000D => 22,              // EINVAL
            0xC000_0033 | 0xC000_0034 => 2, // ENOENT
            0xC000_0023 => 75,              // EOVERFLOW
            0xC000_02B6 => 19,              // ENODEV
            0xC000_0120 => 125,             // ECANCELED
            0xC000_0022 => 13,              // EACCES
            0xC000_00BB | 0xC000_0002 => 1, // EPERM
            0xC000_001D => 95,              // EOPNOTSUPP
            0xC000_0008 => 9,               // EBADF
            0xC01E_0102 => 115,             // EINPROGRESS
            0xC000_0024 => 91,              // EPROTOTYPE
            _ => 22,
        }
    }
}

impl core::fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NtStatus({:#010x})", self.as_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::NtStatus;

    #[test]
    fn values_are_the_ntstatus_h_numbers() {
        // ntstatus.h (Windows SDK; the same numbers in Linux's drivers/hv/dxgkrnl and
        // OpenVMM's vPCI): written out here, not taken from the constants.
        let pinned = [
            (NtStatus::SUCCESS, 0x0000_0000_u32),
            (NtStatus::TIMEOUT, 0x0000_0102),
            (NtStatus::PENDING, 0x0000_0103),
            (NtStatus::INFO_LENGTH_MISMATCH, 0xC000_0004),
            (NtStatus::ACCESS_VIOLATION, 0xC000_0005),
            (NtStatus::INVALID_SYSTEM_SERVICE, 0xC000_001C),
            (NtStatus::REVISION_MISMATCH, 0xC000_0059),
            (NtStatus::NOT_SUPPORTED, 0xC000_00BB),
            (NtStatus::DEVICE_REMOVED, 0xC000_02B6),
            (NtStatus::BAD_DATA, 0xC000_090B),
            (NtStatus::GRAPHICS_ALLOCATION_BUSY, 0xC01E_0102),
        ];
        for (status, raw) in pinned {
            assert_eq!(status.as_u32(), raw);
            assert_eq!(NtStatus::from_u32(raw), status);
            assert_eq!(status.is_success(), raw < 0x8000_0000);
        }
    }
}
