//! The GPU-PV (dxgkrnl) wire format: message headers, command numbers, the fixed parts of every
//! command the Linux guest sends and of their replies, handles, LUIDs, NTSTATUS values and limits.
//!
//! Every struct is `#[repr(C)]` with explicit padding fields so that it can derive zerocopy's
//! `IntoBytes`; sizes and field offsets are pinned by compile-time asserts next to each struct
//! (numbers from `shared/reference/dxg.md` §2–§3, offsets relative to the 24-byte command header).
//! Parsing copies bytes out of the packet first ([`read_prefix`]) and validates the copy; nothing
//! here panics on input.
//!
//! Only little-endian targets are supported (the guest is x86-64), so native integers are used.

#[cfg(target_endian = "big")]
compile_error!("the dxg wire format is little-endian; big-endian targets are not supported");

mod adapter;
mod allocation;
mod codes;
mod commands;
mod device;
mod header;
mod misc;
mod notification;
mod process;
mod sharing;
mod sync;
mod types;

pub use adapter::*;
pub use allocation::*;
pub use codes::*;
pub use commands::*;
pub use device::*;
pub use header::*;
pub use hyperv::{Guid, NtStatus};
pub use misc::*;
pub use notification::*;
pub use process::*;
pub use sharing::*;
pub use sync::*;
pub use types::*;

use alloc::vec::Vec;
use zerocopy::{FromBytes, IntoBytes};

/// Maximum size of one command or one result (`DXG_MAX_VM_BUS_PACKET_SIZE`).
pub const MAX_PACKET_SIZE: usize = 131_072;
/// Maximum allocations in one CREATEALLOCATION (`D3DKMT_CREATEALLOCATION_MAX`).
pub const MAX_ALLOCATIONS_PER_CREATE: usize = 1024;
/// Maximum allocations in one MAKERESIDENT / EVICT / OFFER / RECLAIM.
pub const MAX_RESIDENCY_ALLOCATIONS: usize = 10_240;
/// Maximum broadcast contexts in one SUBMITCOMMAND.
pub const MAX_BROADCAST_CONTEXTS: usize = 64;
/// Maximum objects waited on or signalled in one command.
pub const MAX_SYNC_OBJECTS: usize = 32;
/// Maximum history buffers in one SUBMITCOMMAND.
pub const MAX_HISTORY_BUFFERS: usize = 1024;
/// Maximum adapters (per enumeration, and in this driver overall).
pub const MAX_ADAPTERS: usize = 64;
/// Maximum page-frame numbers in one SETEXISTINGSYSMEMPAGES message.
pub const MAX_PFNS_PER_MESSAGE: usize = (MAX_PACKET_SIZE - 40 - 4096) / 8;
/// Maximum operations in one UPDATEGPUVIRTUALADDRESS.
pub const MAX_UPDATE_GPU_VA_OPERATIONS: usize = 2048;
/// Size of one guest page / IO-space page.
pub const PAGE_SIZE: u64 = 4096;

/// A wire-level parse failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The bytes end before the structure or its variable part does.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A count field exceeds the protocol limit.
    CountTooLarge {
        /// The count found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A field holds a value the protocol does not allow.
    InvalidField(&'static str),
    /// The command number is not known.
    UnknownCommand(u32),
}

/// Copies a `T` out of the start of `bytes` (no alignment needed; never panics).
pub fn read_prefix<T: FromBytes>(bytes: &[u8]) -> Result<T, WireError> {
    T::read_from_prefix(bytes)
        .map(|(value, _)| value)
        .map_err(|_| WireError::TooShort {
            needed: core::mem::size_of::<T>(),
            available: bytes.len(),
        })
}

/// Copies a `T` out of `bytes` at `offset`.
pub fn read_at<T: FromBytes>(bytes: &[u8], offset: usize) -> Result<T, WireError> {
    let tail = bytes.get(offset..).ok_or(WireError::TooShort {
        needed: offset,
        available: bytes.len(),
    })?;
    read_prefix(tail).map_err(|_| WireError::TooShort {
        needed: offset.saturating_add(core::mem::size_of::<T>()),
        available: bytes.len(),
    })
}

/// Reads `count` little-endian values of `T` starting at `offset` (unaligned allowed).
pub fn read_array<T: FromBytes + IntoBytes + Clone>(
    bytes: &[u8],
    offset: usize,
    count: usize,
) -> Result<Vec<T>, WireError> {
    // An overflowing length cannot be in `bytes` either: `read_bytes` refuses it.
    let length = count.checked_mul(core::mem::size_of::<T>());
    let slice = read_bytes(bytes, offset, length.unwrap_or(usize::MAX))?;
    // `slice` holds exactly `count` values: the copy below cannot fail.
    let mut values = alloc::vec![T::new_zeroed(); count];
    values.as_mut_bytes().copy_from_slice(slice);
    Ok(values)
}

/// Reads `count` little-endian u32 values starting at `offset`.
pub fn read_u32_array(bytes: &[u8], offset: usize, count: usize) -> Result<Vec<u32>, WireError> {
    read_array(bytes, offset, count)
}

/// Reads `count` little-endian u64 values starting at `offset` (unaligned allowed).
pub fn read_u64_array(bytes: &[u8], offset: usize, count: usize) -> Result<Vec<u64>, WireError> {
    read_array(bytes, offset, count)
}

/// Returns `length` bytes at `offset`.
pub fn read_bytes(bytes: &[u8], offset: usize, length: usize) -> Result<&[u8], WireError> {
    let end = offset.checked_add(length);
    end.and_then(|end| bytes.get(offset..end))
        .ok_or(WireError::TooShort {
            needed: end.unwrap_or(usize::MAX),
            available: bytes.len(),
        })
}

/// Pins the size of a wire struct at compile time.
macro_rules! assert_size {
    ($type:ty, $size:expr) => {
        const _: () = assert!(core::mem::size_of::<$type>() == $size);
    };
}
/// Pins the offset of a field at compile time.
macro_rules! assert_offset {
    ($type:ty, $field:ident, $offset:expr) => {
        const _: () = assert!(core::mem::offset_of!($type, $field) == $offset);
    };
}
pub(crate) use {assert_offset, assert_size};

/// Declares a wire struct with the standard derives, a `SIZE` constant, a compile-time size
/// assert and a `zeroed()` constructor. A field written `@OFFSET pub name: Type` also gets a
/// compile-time assert that it sits at byte `OFFSET` (from the reference). A command (or a host
/// notification) is written `pub struct Name: CommandHeader { … }`: its first field is
/// `pub header: CommandHeader` (offsets count from the start of the header).
macro_rules! wire_struct {
    ($(#[$meta:meta])* pub struct $name:ident: CommandHeader { $($body:tt)* } size $size:expr;) => {
        $crate::wire::wire_struct! {
            $(#[$meta])*
            pub struct $name { pub header: $crate::wire::CommandHeader, $($body)* } size $size;
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* $(@$offset:tt)? pub $field:ident : $type:ty,)* } size $size:expr;) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
        #[repr(C)]
        #[allow(missing_docs)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
        }
        $crate::wire::assert_size!($name, $size);
        $($($crate::wire::assert_offset!($name, $field, $offset);)?)*
        impl $name {
            /// Size of the fixed part in bytes.
            pub const SIZE: usize = $size;
            /// An all-zero value.
            pub fn zeroed() -> Self {
                <Self as zerocopy::FromZeros>::new_zeroed()
            }
        }
    };
}
pub(crate) use wire_struct;
