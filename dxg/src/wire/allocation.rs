//! Allocations: create/destroy, lock/unlock, residency, GPU virtual addresses, existing sysmem,
//! priorities and properties (dxg.md §3.7–§3.12, §3.25, §3.26).

use super::{D3dkmtHandle, wire_struct};

wire_struct! {
    /// CREATEALLOCATION (vGPU 4) fixed part, 64 bytes. Tail: n × [`AllocationInfo`], R runtime
    /// bytes, G driver bytes, then each allocation's private data.
    pub struct CreateAllocationCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub resource: D3dkmtHandle,
        pub private_runtime_data_size: u32,
        pub private_driver_data_size: u32,
        @40 pub allocation_count: u32,
        pub flags: u32,
        @48 pub private_runtime_resource_handle: u64,
        @56 pub make_resident: u8,
        pub padding: [u8; 7],
    } size 64;
}
/// CREATEALLOCATION flag bit 0: create_resource.
pub const CREATE_ALLOCATION_CREATE_RESOURCE: u32 = 1 << 0;
/// CREATEALLOCATION flag bit 5: existing_sysmem.
pub const CREATE_ALLOCATION_EXISTING_SYSMEM: u32 = 1 << 5;
/// CREATEALLOCATION flag bit 16: standard_allocation.
pub const CREATE_ALLOCATION_STANDARD: u32 = 1 << 16;

wire_struct! {
    /// One allocation's info in a CREATEALLOCATION request, 12 bytes.
    pub struct AllocationInfo {
        pub flags: u32,
        pub private_driver_data_size: u32,
        pub vidpn_source_id: u32,
    } size 12;
}

wire_struct! {
    /// CREATEALLOCATION reply fixed part, 16 bytes; n × [`CreatedAllocationInfo`] follow.
    pub struct CreateAllocationReply {
        pub flags: u32,
        pub resource: D3dkmtHandle,
        pub global_share: D3dkmtHandle,
        pub vgpu_flags: u32,
    } size 16;
}

wire_struct! {
    /// One allocation in a CREATEALLOCATION reply, 72 bytes.
    pub struct CreatedAllocationInfo {
        pub allocation: D3dkmtHandle,
        pub private_driver_data_size: u32,
        pub allocation_flags: u32,
        pub padding: u32,
        @16 pub allocation_size: u64,
        @24 pub description_allocation: u64,
        pub width: u32,
        pub height: u32,
        pub format: u32,
        pub multisample_method: u32,
        pub refresh_rate_numerator: u32,
        pub refresh_rate_denominator: u32,
        pub private_driver_attribute: u32,
        pub description_flags: u32,
        pub rotation: u32,
        pub padding2: u32,
    } size 72;
}
/// Reply allocation flag bit 19: cached (CPU mapping is cached, not write-combined).
pub const ALLOCATION_FLAG_CACHED: u32 = 1 << 19;
/// Allocation flag bit 11: existing_sysmem (backed by guest pages, `dxgkvmb_allocflags`).
pub const ALLOCATION_FLAG_EXISTING_SYSMEM: u32 = 1 << 11;

wire_struct! {
    /// DESTROYALLOCATION (vGPU 5) fixed part, 40 bytes; handles follow; message 48 + 4n.
    pub struct DestroyAllocationCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub resource: D3dkmtHandle,
        pub allocation_count: u32,
        pub flags: u32,
    } size 40;
}
/// Bytes Linux sends for DESTROYALLOCATION beyond `40 + 4n`.
pub const DESTROY_ALLOCATION_SLACK: usize = 8;
/// DESTROYALLOCATION flag bit 0: assume_not_in_use.
pub const DESTROY_ALLOCATION_ASSUME_NOT_IN_USE: u32 = 1;

wire_struct! {
    /// LOCK2 (vGPU 23), 64 bytes.
    pub struct Lock2Command: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub flags: u32,
        pub reserved: u32,
        @40 pub data: u64,
        @48 pub use_legacy_lock: u8,
        pub padding: [u8; 3],
        pub legacy_flags: u32,
        @56 pub private_driver_data: u32,
        pub padding2: u32,
    } size 64;
}

wire_struct! {
    /// LOCK2 reply, 16 bytes.
    pub struct Lock2Reply {
        pub status: i32,
        pub padding: u32,
        /// A guest-physical address inside the IO space.
        pub cpu_visible_buffer_offset: u64,
    } size 16;
}

wire_struct! {
    /// UNLOCK2 (vGPU 24), 40 bytes.
    pub struct Unlock2Command: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub use_legacy_unlock: u8,
        pub padding: [u8; 7],
    } size 40;
}

wire_struct! {
    /// MAKERESIDENT (vGPU 11) fixed part, 40 bytes; handles follow; message 44 + 4n.
    pub struct MakeResidentCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub paging_queue: D3dkmtHandle,
        pub flags: u32,
        pub allocation_count: u32,
    } size 40;
}
/// Bytes Linux sends for MAKERESIDENT beyond `40 + 4n`.
pub const MAKE_RESIDENT_SLACK: usize = 4;

wire_struct! {
    /// MAKERESIDENT reply, 24 bytes.
    pub struct MakeResidentReply {
        pub paging_fence_value: u64,
        pub num_bytes_to_trim: u64,
        pub status: i32,
        pub padding: u32,
    } size 24;
}

wire_struct! {
    /// EVICT (vGPU 12) fixed part with its first handle slot, 40 bytes; message 36 + 4n.
    pub struct EvictCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub flags: u32,
        pub allocation_count: u32,
        @36 pub first_allocation: D3dkmtHandle,
    } size 40;
}
/// Offset of EVICT's handle array (its `first_allocation` slot).
pub const EVICT_HANDLES_OFFSET: usize = 36;

wire_struct! {
    /// EVICT reply, 8 bytes.
    pub struct EvictReply {
        pub num_bytes_to_trim: u64,
    } size 8;
}

wire_struct! {
    /// RESERVEGPUVIRTUALADDRESS (vGPU 18), 96 bytes.
    pub struct ReserveGpuVirtualAddressCommand: CommandHeader {
        pub adapter: D3dkmtHandle,
        pub padding: u32,
        pub base_address: u64,
        pub minimum_address: u64,
        pub maximum_address: u64,
        pub size: u64,
        pub reservation_type: u32,
        pub padding2: u32,
        pub driver_protection: u64,
        pub virtual_address: u64,
        pub paging_fence_value: u64,
    } size 96;
}

wire_struct! {
    /// RESERVEGPUVIRTUALADDRESS reply, 16 bytes.
    pub struct ReserveGpuVirtualAddressReply {
        pub virtual_address: u64,
        pub paging_fence_value: u64,
    } size 16;
}

wire_struct! {
    /// MAPGPUVIRTUALADDRESS (vGPU 17), 136 bytes.
    pub struct MapGpuVirtualAddressCommand: CommandHeader {
        pub paging_queue: D3dkmtHandle,
        pub padding: u32,
        pub base_address: u64,
        pub minimum_address: u64,
        pub maximum_address: u64,
        pub allocation: D3dkmtHandle,
        pub padding2: u32,
        pub offset_in_pages: u64,
        pub size_in_pages: u64,
        pub protection: u64,
        pub driver_protection: u64,
        pub reserved0: u32,
        pub padding3: u32,
        pub reserved1: u64,
        pub virtual_address: u64,
        pub paging_fence_value: u64,
        @128 pub device: D3dkmtHandle,
        pub padding4: u32,
    } size 136;
}

wire_struct! {
    /// MAPGPUVIRTUALADDRESS reply, 24 bytes.
    pub struct MapGpuVirtualAddressReply {
        pub virtual_address: u64,
        pub paging_fence_value: u64,
        pub status: i32,
        pub padding: u32,
    } size 24;
}

wire_struct! {
    /// FREEGPUVIRTUALADDRESS (vGPU 16), 48 bytes.
    pub struct FreeGpuVirtualAddressCommand: CommandHeader {
        pub adapter: D3dkmtHandle,
        pub reserved: u32,
        pub base_address: u64,
        pub size: u64,
    } size 48;
}

wire_struct! {
    /// UPDATEGPUVIRTUALADDRESS (vGPU 19) fixed part, 56 bytes; n × 64-byte operations follow.
    pub struct UpdateGpuVirtualAddressCommand: CommandHeader {
        pub fence_value: u64,
        pub device: D3dkmtHandle,
        pub context: D3dkmtHandle,
        pub fence_object: D3dkmtHandle,
        pub num_operations: u32,
        pub flags: u32,
        pub padding: u32,
    } size 56;
}

wire_struct! {
    /// One UPDATEGPUVIRTUALADDRESS operation, 64 bytes (operation-specific union as u64 words).
    pub struct UpdateGpuVirtualAddressOperation {
        pub operation: u32,
        pub padding: u32,
        pub words: [u64; 7],
    } size 64;
}

wire_struct! {
    /// SETEXISTINGSYSMEMSTORE (vGPU 45), 40 bytes.
    pub struct SetExistingSysmemStoreCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub gpadl: u32,
        pub padding: u32,
    } size 40;
}

wire_struct! {
    /// SETEXISTINGSYSMEMPAGES (vGPU 66), 40 bytes; u64 PFNs follow.
    pub struct SetExistingSysmemPagesCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub num_pages: u32,
        pub alloc_offset_in_pages: u32,
    } size 40;
}

wire_struct! {
    /// SETALLOCATIONPRIORITY (vGPU 59) / GETALLOCATIONPRIORITY (vGPU 60) fixed part, 40 bytes:
    /// 36 bytes of fields padded to the header's 8-byte alignment (`sizeof` of
    /// `dxgkvmb_command_setallocationpriority` in Linux `dxgvmbus.h`). Handles (and, for SET, the
    /// priorities after them) follow at +40 (`&command[1]` in `dxgvmb_send_set_allocation_priority`).
    pub struct AllocationPriorityCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub resource: D3dkmtHandle,
        pub allocation_count: u32,
        pub padding: u32,
    } size 40;
}
/// Offset of the handle array in SETALLOCATIONPRIORITY / GETALLOCATIONPRIORITY (after the 40-byte
/// fixed part).
pub const PRIORITY_HANDLES_OFFSET: usize = 40;
/// Rounds a result size up to 8 bytes, as Linux's `init_message_res` does for the reply buffers
/// of GETALLOCATIONPRIORITY, QUERYALLOCATIONRESIDENCY, RECLAIMALLOCATIONS, OPENRESOURCE and
/// DDIGETSTANDARDALLOCATIONDRIVERDATA (the guest refuses shorter completions). A size within 7
/// of `usize::MAX` gives `usize::MAX` (never less than `bytes`, so a length check against it
/// still refuses).
pub const fn result_area(bytes: usize) -> usize {
    match bytes.checked_add(7) {
        Some(padded) => padded & !7,
        None => usize::MAX,
    }
}

wire_struct! {
    /// QUERYALLOCATIONRESIDENCY (vGPU 41) fixed part, 56 bytes; handles follow. The header and
    /// then `d3dkmt_queryallocationresidency` (microsoft/WSL2-Linux-Kernel
    /// drivers/hv/dxgkrnl/dxgvmbus.h `dxgkvmb_command_queryallocationresidency`, fields from
    /// include/uapi/misc/d3dkmthk.h): +24 device, +28 resource, +32 allocations pointer,
    /// +40 allocation count, +44 reserved, +48 residency-status pointer.
    pub struct QueryAllocationResidencyCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub resource: D3dkmtHandle,
        pub allocations_pointer: u64,
        pub allocation_count: u32,
        pub reserved: u32,
        pub residency_status_pointer: u64,
    } size 56;
}

wire_struct! {
    /// OFFERALLOCATIONS (vGPU 57) fixed part with the first handle slot, 48 bytes; handles at +44.
    pub struct OfferAllocationsCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation_count: u32,
        pub priority: u32,
        pub flags: u32,
        pub resources: u8,
        pub padding: [u8; 3],
        @44 pub first_allocation: D3dkmtHandle,
    } size 48;
}
/// Offset of OFFERALLOCATIONS' handle array (its `first_allocation` slot).
pub const OFFER_HANDLES_OFFSET: usize = 44;

wire_struct! {
    /// RECLAIMALLOCATIONS (vGPU 58) fixed part, 40 bytes; handles at +40.
    pub struct ReclaimAllocationsCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub paging_queue: D3dkmtHandle,
        pub allocation_count: u32,
        pub resources: u8,
        pub write_results: u8,
        pub padding: [u8; 2],
    } size 40;
}
/// Bytes Linux sends for RECLAIMALLOCATIONS beyond `40 + 4n`: the message is
/// `sizeof(dxgkvmb_command_reclaimallocations) − 4 + 4n` = `44 + 4n` (the 48-byte struct's tail
/// padding after its one-handle placeholder).
pub const RECLAIM_SLACK: usize = 4;

wire_struct! {
    /// CHANGEVIDEOMEMORYRESERVATION (vGPU 49), 56 bytes.
    pub struct ChangeVideoMemoryReservationCommand: CommandHeader {
        pub process: u64,
        pub adapter: D3dkmtHandle,
        pub memory_segment_group: u32,
        pub reservation: u64,
        pub physical_adapter_index: u32,
        pub padding: u32,
    } size 56;
}

wire_struct! {
    /// UPDATEALLOCATIONPROPERTY (vGPU 56), 64 bytes.
    pub struct UpdateAllocationPropertyCommand: CommandHeader {
        pub paging_queue: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub supported_segment_set: u32,
        pub preferred_segment: u32,
        pub flags: u32,
        pub padding: u32,
        pub paging_fence_value: u64,
        pub property_mask: u32,
        pub padding2: u32,
    } size 64;
}

wire_struct! {
    /// A reply carrying a paging fence value and a status (UPDATEALLOCATIONPROPERTY), 16 bytes.
    pub struct FenceValueStatusReply {
        pub paging_fence_value: u64,
        pub status: i32,
        pub padding: u32,
    } size 16;
}

wire_struct! {
    /// INVALIDATECACHE (vGPU 67), 56 bytes.
    pub struct InvalidateCacheCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub allocation: D3dkmtHandle,
        pub offset: u64,
        pub length: u64,
        pub reserved: u64,
    } size 56;
}

wire_struct! {
    /// OPENRESOURCE (vGPU 32), 48 bytes. Reply: resource, status, allocation handles.
    pub struct OpenResourceCommand: CommandHeader {
        pub device: D3dkmtHandle,
        @28 pub nt_security_sharing: u8,
        pub padding: [u8; 3],
        @32 pub global_share: D3dkmtHandle,
        @36 pub allocation_count: u32,
        @40 pub total_private_driver_data_size: u32,
        pub padding2: u32,
    } size 48;
}

wire_struct! {
    /// DDIGETSTANDARDALLOCATIONDRIVERDATA (vGPU 39), 64 bytes.
    pub struct GetStandardAllocationDriverDataCommand: CommandHeader {
        @24 pub allocation_type: u32,
        pub private_driver_data_size: u32,
        pub private_driver_resource_size: u32,
        @36 pub physical_adapter_index: u32,
        @40 pub width: u32,
        pub height: u32,
        pub format: u32,
        pub surface_type: u32,
        pub flags: u32,
        @60 pub pitch: u32,
    } size 64;
}

/// QUERYALLOCATIONRESIDENCY: resident in GPU memory.
pub const RESIDENCY_GPU_MEMORY: u32 = 1;
/// QUERYALLOCATIONRESIDENCY: resident in shared (system) memory.
pub const RESIDENCY_SHARED_MEMORY: u32 = 2;
/// QUERYALLOCATIONRESIDENCY: not resident.
pub const RESIDENCY_NOT_RESIDENT: u32 = 3;
/// RECLAIMALLOCATIONS result: contents kept.
pub const RECLAIM_OK: u32 = 0;
/// RECLAIMALLOCATIONS result: contents discarded.
pub const RECLAIM_DISCARDED: u32 = 1;
/// RECLAIMALLOCATIONS result: not committed.
pub const RECLAIM_NOT_COMMITTED: u32 = 2;
/// Offset of the results in the RECLAIMALLOCATIONS reply (after the u64 fence and the status).
pub const RECLAIM_RESULTS_OFFSET: usize = 12;
/// Reserve type: no access.
pub const RESERVE_NO_ACCESS: u32 = 0;
/// Reserve type: reads return zero.
pub const RESERVE_ZERO: u32 = 1;
/// Reserve type: no commit.
pub const RESERVE_NO_COMMIT: u32 = 2;
/// UPDATEGPUVIRTUALADDRESS operation: MAP.
pub const VA_OPERATION_MAP: u32 = 0;
/// UPDATEGPUVIRTUALADDRESS operation: UNMAP.
pub const VA_OPERATION_UNMAP: u32 = 1;
/// UPDATEGPUVIRTUALADDRESS operation: COPY.
pub const VA_OPERATION_COPY: u32 = 2;
/// UPDATEGPUVIRTUALADDRESS operation: MAP_PROTECT.
pub const VA_OPERATION_MAP_PROTECT: u32 = 3;
