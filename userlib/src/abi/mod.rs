//! The D3DKMT C ABI: `d3dkmthk.h` types with their exact names and x86-64 (LP64) layouts.
//!
//! Names follow the Windows header (`D3DKMT_CREATEDEVICE`, `hDevice`, `pPrivateDriverData`, …),
//! which is also what WSL's libdxg passes to the kernel unchanged. Layout conventions:
//!
//! - Pointers are `u64` (as in the Linux uapi `__u64`), so every struct is plain data with no
//!   padding holes: the implicit C padding is spelled out as `_Padding*` fields (always zero).
//! - Bit-field flag words (`D3DDDI_*FLAGS`) are `u32` fields named `Flags`, with the bits as
//!   constants in [`flags`].
//! - Unions are flattened to their most used member plus reserved words of the union's size;
//!   the field docs say which other members share those bytes.
//!
//! Every struct is also described by [`StructLayout`] (name, size, field offsets and C types),
//! from which [`crate::header`] writes the C header with `_Static_assert`s of the same layout.

#![allow(non_camel_case_types, non_snake_case)]

mod asserts;
pub mod flags;
mod structs;
#[cfg(test)]
mod tests;

pub use structs::*;

/// A kernel object handle (`D3DKMT_HANDLE`), opaque to applications; 0 is the null handle.
pub type D3DKMT_HANDLE = u32;
/// A GPU virtual address (`D3DGPU_VIRTUAL_ADDRESS`).
pub type D3DGPU_VIRTUAL_ADDRESS = u64;
/// A Windows status code (`NTSTATUS`): negative is failure, 0 and positive are success.
pub type NTSTATUS = i32;

/// The maximum number of adapters `D3DKMTEnumAdapters2` returns (`D3DKMT_ADAPTERS_MAX`).
pub const D3DKMT_ADAPTERS_MAX: usize = 64;
/// Broadcast contexts per submit/signal (`D3DDDI_MAX_BROADCAST_CONTEXT`).
pub const D3DDDI_MAX_BROADCAST_CONTEXT: usize = 64;
/// Objects per wait (`D3DDDI_MAX_OBJECT_WAITED_ON`).
pub const D3DDDI_MAX_OBJECT_WAITED_ON: usize = 32;
/// Objects per signal (`D3DDDI_MAX_OBJECT_SIGNALED`).
pub const D3DDDI_MAX_OBJECT_SIGNALED: usize = 32;
/// Written primaries per submit (`D3DDDI_MAX_WRITTEN_PRIMARIES`).
pub const D3DDDI_MAX_WRITTEN_PRIMARIES: usize = 16;
/// Allocations per `D3DKMTCreateAllocation2` (`D3DKMT_CREATEALLOCATION_MAX`).
pub const D3DKMT_CREATEALLOCATION_MAX: usize = 1024;
/// Allocations per `D3DKMTMakeResident` (`D3DKMT_MAKERESIDENT_ALLOC_MAX`).
pub const D3DKMT_MAKERESIDENT_ALLOC_MAX: usize = 1024 * 10;

/// NTSTATUS values used at the D3DKMT boundary (`ntstatus.h`).
pub mod status {
    use super::NTSTATUS;

    /// STATUS_SUCCESS.
    pub const STATUS_SUCCESS: NTSTATUS = 0;
    /// STATUS_TIMEOUT (a success code: the wait timed out).
    pub const STATUS_TIMEOUT: NTSTATUS = 0x0000_0102;
    /// STATUS_PENDING (a success code: the operation continues, e.g. MakeResident).
    pub const STATUS_PENDING: NTSTATUS = 0x0000_0103;
    /// STATUS_UNSUCCESSFUL.
    pub const STATUS_UNSUCCESSFUL: NTSTATUS = 0xC000_0001_u32 as NTSTATUS;
    /// STATUS_NOT_IMPLEMENTED.
    pub const STATUS_NOT_IMPLEMENTED: NTSTATUS = 0xC000_0002_u32 as NTSTATUS;
    /// STATUS_INFO_LENGTH_MISMATCH: the argument size in `rsi` is not the struct's size.
    pub const STATUS_INFO_LENGTH_MISMATCH: NTSTATUS = 0xC000_0004_u32 as NTSTATUS;
    /// STATUS_ACCESS_VIOLATION: an argument pointer is not readable/writable user memory.
    pub const STATUS_ACCESS_VIOLATION: NTSTATUS = 0xC000_0005_u32 as NTSTATUS;
    /// STATUS_INVALID_HANDLE.
    pub const STATUS_INVALID_HANDLE: NTSTATUS = 0xC000_0008_u32 as NTSTATUS;
    /// STATUS_INVALID_PARAMETER.
    pub const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000_000D_u32 as NTSTATUS;
    /// STATUS_NO_MEMORY.
    pub const STATUS_NO_MEMORY: NTSTATUS = 0xC000_0017_u32 as NTSTATUS;
    /// STATUS_ILLEGAL_INSTRUCTION.
    pub const STATUS_ILLEGAL_INSTRUCTION: NTSTATUS = 0xC000_001D_u32 as NTSTATUS;
    /// STATUS_ACCESS_DENIED.
    pub const STATUS_ACCESS_DENIED: NTSTATUS = 0xC000_0022_u32 as NTSTATUS;
    /// STATUS_BUFFER_TOO_SMALL.
    pub const STATUS_BUFFER_TOO_SMALL: NTSTATUS = 0xC000_0023_u32 as NTSTATUS;
    /// STATUS_OBJECT_TYPE_MISMATCH.
    pub const STATUS_OBJECT_TYPE_MISMATCH: NTSTATUS = 0xC000_0024_u32 as NTSTATUS;
    /// STATUS_OBJECT_NAME_INVALID.
    pub const STATUS_OBJECT_NAME_INVALID: NTSTATUS = 0xC000_0033_u32 as NTSTATUS;
    /// STATUS_OBJECT_NAME_NOT_FOUND.
    pub const STATUS_OBJECT_NAME_NOT_FOUND: NTSTATUS = 0xC000_0034_u32 as NTSTATUS;
    /// STATUS_OBJECT_NAME_COLLISION.
    pub const STATUS_OBJECT_NAME_COLLISION: NTSTATUS = 0xC000_0035_u32 as NTSTATUS;
    /// STATUS_INVALID_SYSTEM_SERVICE: the syscall number is unknown.
    pub const STATUS_INVALID_SYSTEM_SERVICE: NTSTATUS = 0xC000_001C_u32 as NTSTATUS;
    /// STATUS_NOT_SUPPORTED.
    pub const STATUS_NOT_SUPPORTED: NTSTATUS = 0xC000_00BB_u32 as NTSTATUS;
    /// STATUS_DEVICE_REMOVED.
    pub const STATUS_DEVICE_REMOVED: NTSTATUS = 0xC000_02B6_u32 as NTSTATUS;
    /// STATUS_GRAPHICS_ALLOCATION_BUSY.
    pub const STATUS_GRAPHICS_ALLOCATION_BUSY: NTSTATUS = 0xC01E_0102_u32 as NTSTATUS;

    /// `NT_SUCCESS(status)`.
    pub const fn nt_success(status: NTSTATUS) -> bool {
        status >= 0
    }
}

/// One field of a [`StructLayout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Field name (as in `d3dkmthk.h`, or `_Padding*` for spelled-out padding).
    pub name: &'static str,
    /// C type; an array is written `TYPE[N]`.
    pub c_type: &'static str,
    /// Byte offset in the struct.
    pub offset: usize,
    /// `sizeof` the field.
    pub size: usize,
}

/// The layout of one ABI struct, taken from the Rust definition (for the C header generator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// Struct name.
    pub name: &'static str,
    /// `sizeof`.
    pub size: usize,
    /// `alignof` (1 means `#pragma pack(1)`).
    pub align: usize,
    /// Fields in declaration order.
    pub fields: &'static [FieldLayout],
}

impl StructLayout {
    /// The offset of a field by name.
    pub fn offset_of(&self, field: &str) -> Option<usize> {
        self.fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.offset)
    }
}

/// Looks a struct layout up by name.
pub fn layout(name: &str) -> Option<&'static StructLayout> {
    STRUCTS.iter().find(|s| s.name == name)
}

/// Declares ABI structs: the `#[repr(C)]` struct with zerocopy derives, a zeroing `Default`, and
/// an entry in [`STRUCTS`] carrying the C type of every field.
macro_rules! abi_structs {
    ($(
        $(#[doc = $doc:literal])*
        $(#[repr($repr:ident)])?
        $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty => $cty:literal ),* $(,)? }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            $(#[repr($repr)])?
            #[derive(
                Clone, Copy, Debug, PartialEq, Eq,
                zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout,
            )]
            pub struct $name { $( $(#[doc = $fdoc])* pub $field: $ty, )* }

            impl Default for $name {
                fn default() -> Self {
                    <Self as zerocopy::FromZeros>::new_zeroed()
                }
            }
        )*

        /// Every ABI struct, in declaration (dependency) order.
        pub static STRUCTS: &[$crate::abi::StructLayout] = &[
            $(
                $crate::abi::StructLayout {
                    name: stringify!($name),
                    size: core::mem::size_of::<$name>(),
                    align: core::mem::align_of::<$name>(),
                    fields: &[ $(
                        $crate::abi::FieldLayout {
                            name: stringify!($field),
                            c_type: $cty,
                            offset: core::mem::offset_of!($name, $field),
                            size: core::mem::size_of::<$ty>(),
                        },
                    )* ],
                },
            )*
        ];
    };
}
pub(crate) use abi_structs;
