//! Sharing and standard allocations (dxg.md §3.19, §3.26): the reply layouts of OPENRESOURCE
//! (vGPU 32) and DDIGETSTANDARDALLOCATIONDRIVERDATA (vGPU 39), and their constants. The command
//! structs live next to their relatives (`OpenResourceCommand`, `GetStandardAllocationDriverDataCommand`
//! in `allocation`, `OpenSyncObjectCommand`, `ShareObjectWithHostCommand` in `process`).
//! Layouts from Linux `drivers/hv/dxgkrnl/dxgvmbus.h` (`dxgkvmb_command_openresource_return`,
//! `dxgkvmb_command_getstandardallocprivdata_return`).

use super::{D3dkmtHandle, wire_struct};

wire_struct! {
    /// OPENRESOURCE reply fixed part, 8 bytes; `allocation_count` handles follow at +8. Linux
    /// expects `round8(8 + 4n)` bytes.
    pub struct OpenResourceReply {
        pub resource: D3dkmtHandle,
        pub status: i32,
    } size 8;
}

wire_struct! {
    /// DDIGETSTANDARDALLOCATIONDRIVERDATA reply fixed part, 36 bytes: status, the two blob sizes
    /// and the 24-byte surface-data union; the allocation blob then the resource blob follow.
    pub struct GetStandardAllocationDriverDataReply {
        pub status: i32,
        pub private_driver_data_size: u32,
        pub private_driver_resource_size: u32,
        pub width: u32,
        pub height: u32,
        pub format: u32,
        pub surface_type: u32,
        pub flags: u32,
        pub pitch: u32,
    } size 36;
}

/// `D3DKMDT_STANDARDALLOCATION_GDISURFACE`, the only standard allocation type Linux sends.
pub const STANDARD_ALLOCATION_GDI_SURFACE: u32 = 4;
/// `D3DKMDT_GDISURFACE_TEXTURE_CROSSADAPTER`, the GDI surface type Linux sends.
pub const GDI_SURFACE_TEXTURE_CROSSADAPTER: u32 = 7;
/// Sync object flag bit 0: shared (`D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS`).
pub const SYNC_FLAG_SHARED: u32 = 1 << 0;
/// Sync object flag bit 1: nt_security_sharing.
pub const SYNC_FLAG_NT_SECURITY_SHARING: u32 = 1 << 1;
/// CREATEALLOCATION flag bit 1: create_shared.
pub const CREATE_ALLOCATION_CREATE_SHARED: u32 = 1 << 1;
/// CREATEALLOCATION flag bit 6: nt_security_sharing.
pub const CREATE_ALLOCATION_NT_SECURITY_SHARING: u32 = 1 << 6;
