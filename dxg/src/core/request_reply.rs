//! The typed replies requests complete with ([`Reply`]) and their element types.

use crate::wire::{D3dkmtHandle, Luid, NtStatus, QueryVideoMemoryInfoReply};
use alloc::vec::Vec;

/// One enumerated adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterEntry {
    /// Guest-local adapter handle (per process).
    pub handle: D3dkmtHandle,
    /// Adapter LUID.
    pub luid: Luid,
}

/// One allocation created by CREATEALLOCATION.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedAllocation {
    /// Allocation handle.
    pub handle: D3dkmtHandle,
    /// Size in bytes.
    pub size: u64,
    /// Allocation flags (bit 19 = cached).
    pub flags: u32,
}

/// A typed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The command succeeded with this (non-negative) status; PENDING is passed through.
    Status(NtStatus),
    /// CreateProcess done.
    ProcessCreated {
        /// Host process handle.
        host_process: D3dkmtHandle,
    },
    /// EnumAdapters result.
    Adapters(Vec<AdapterEntry>),
    /// OpenAdapterFromLuid result.
    AdapterOpened(AdapterEntry),
    /// QueryAdapterInfo result data (same size as the request's).
    AdapterInfo(Vec<u8>),
    /// CreateDevice result.
    Device(D3dkmtHandle),
    /// CreatePagingQueue result.
    PagingQueue {
        /// Paging queue handle.
        paging_queue: D3dkmtHandle,
        /// Its paging fence (a monitored fence).
        sync_object: D3dkmtHandle,
        /// IO-space address of the fence value page (u64 at offset 0).
        fence_address: u64,
    },
    /// CreateContext result.
    Context {
        /// Context handle.
        context: D3dkmtHandle,
        /// Private data returned by the host.
        private_data: Vec<u8>,
    },
    /// CreateAllocation result.
    Allocations {
        /// Resource handle (null unless created).
        resource: D3dkmtHandle,
        /// The allocations, in request order.
        allocations: Vec<CreatedAllocation>,
    },
    /// MakeResident result.
    Resident {
        /// SUCCESS or PENDING (wait for the paging fence).
        status: NtStatus,
        /// Paging fence value to wait for.
        paging_fence_value: u64,
        /// Bytes to trim.
        bytes_to_trim: u64,
    },
    /// Evict result.
    Evicted {
        /// Bytes to trim.
        bytes_to_trim: u64,
    },
    /// Lock result: the IO-space guest-physical address of the allocation's CPU view.
    Locked {
        /// Page-aligned guest-physical address.
        address: u64,
        /// Whether the mapping should be cached (else write-combined).
        cached: bool,
    },
    /// CreateSyncObject result.
    SyncObject {
        /// Sync object handle.
        handle: D3dkmtHandle,
        /// Global handle (shared objects).
        global: D3dkmtHandle,
        /// Fence GPU virtual address.
        gpu_address: u64,
        /// IO-space address of the fence value page (monitored fences), 0 otherwise.
        fence_address: u64,
    },
    /// WaitFromCpu: the host signalled the wait's guest event.
    WaitCompleted,
    /// QueryVideoMemoryInfo result: the host's reply as it came (budget, current usage,
    /// current reservation, available for reservation).
    VideoMemory(QueryVideoMemoryInfoReply),
    /// GetDeviceState result: the state words (execution state in the first).
    DeviceState {
        /// State type.
        state_type: u32,
        /// Execution state for type 1, else the first union word.
        state: u32,
    },
    /// Escape result: the updated private data.
    Escape(Vec<u8>),
    /// ReserveGpuVirtualAddress / MapGpuVirtualAddress result.
    GpuVirtualAddress {
        /// SUCCESS, or PENDING for a map (wait for the paging fence).
        status: NtStatus,
        /// The GPU virtual address.
        virtual_address: u64,
        /// Paging fence value to wait for (maps).
        paging_fence_value: u64,
    },
    /// CreateHwQueue result.
    HwQueue {
        /// Hardware queue handle.
        hwqueue: D3dkmtHandle,
        /// Its progress fence (a monitored fence).
        progress_fence: D3dkmtHandle,
        /// IO-space address of the progress fence page (u64 value at offset 0).
        fence_address: u64,
        /// GPU virtual address of the progress fence.
        fence_gpu_address: u64,
        /// Private data returned by the host.
        private_data: Vec<u8>,
    },
    /// GetContextSchedulingPriority result.
    SchedulingPriority(i32),
    /// GetAllocationPriority result: one per allocation (or one for the resource).
    AllocationPriorities(Vec<u32>),
    /// QueryAllocationResidency result: 1 in GPU memory, 2 in shared memory, 3 not resident; one
    /// per allocation (or one for the resource).
    Residency(Vec<u32>),
    /// ReclaimAllocations result.
    Reclaimed {
        /// SUCCESS or PENDING (wait for the paging fence).
        status: NtStatus,
        /// Paging fence value to wait for.
        paging_fence_value: u64,
        /// Per handle: 0 OK, 1 DISCARDED, 2 NOT_COMMITTED (empty unless requested).
        results: Vec<u32>,
    },
    /// QueryClockCalibration result.
    ClockCalibration {
        /// GPU clock frequency in Hz.
        gpu_frequency: u64,
        /// GPU clock counter.
        gpu_clock_counter: u64,
        /// CPU clock counter sampled at the same time.
        cpu_clock_counter: u64,
        /// Flags (bit 0 context_management_processor).
        flags: u32,
    },
    /// UpdateAllocationProperty result.
    PagingFence {
        /// SUCCESS or PENDING (wait for the paging fence).
        status: NtStatus,
        /// Paging fence value to wait for.
        paging_fence_value: u64,
    },
    /// QueryStatistics result: the 776-byte `D3DKMT_QUERYSTATISTICS_RESULT`.
    Statistics(Vec<u8>),
    /// IsFeatureEnabled result.
    Feature {
        /// Result bit 0: the feature is enabled.
        enabled: bool,
        /// Result bit 1: the host knows the feature.
        known: bool,
        /// Result version.
        version: u16,
        /// Raw result bits (enabled b0, known_feature b1, supported_by_driver b2,
        /// supported_on_config b3).
        result_bits: u16,
        /// Raw descriptor bits (supported b0, virtualization_mode b1..3, global b4, …).
        descriptor_bits: u16,
        /// Descriptor minimum version.
        min_version: u16,
        /// Descriptor maximum version.
        max_version: u16,
    },
    /// CreateNtSharedObject result: the VM-wide shared handle.
    NtSharedObject(D3dkmtHandle),
    /// OpenResource result.
    ResourceOpened {
        /// The caller's new resource handle.
        resource: D3dkmtHandle,
        /// The caller's new allocation handles (sizes and flags as shared).
        allocations: Vec<CreatedAllocation>,
    },
    /// ShareObjectWithHost result: the host's (VAIL) NT handle.
    VailNtHandle(u64),
    /// QuerySharedResource result.
    SharedResourceInfo {
        /// Number of allocations of the resource.
        allocation_count: u32,
        /// Total private driver data bytes of the resource (sent with OPENRESOURCE).
        private_data_size: u32,
    },
    /// GetStandardAllocationDriverData result.
    StandardAllocationDriverData {
        /// Allocation blob size.
        allocation_data_size: u32,
        /// Resource blob size.
        resource_data_size: u32,
        /// Allocation blob (empty on the sizing call).
        allocation_data: Vec<u8>,
        /// Resource blob (empty on the sizing call).
        resource_data: Vec<u8>,
    },
}
