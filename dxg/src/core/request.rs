//! The typed API of the driver: requests in, replies out.

use crate::wire::{D3dkmtHandle, Luid, NtStatus};
use alloc::string::String;
use alloc::vec::Vec;

/// One allocation to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocationRequest {
    /// `D3DDDI_ALLOCATIONINFO2` flags (primary, stereo, override_priority).
    pub flags: u32,
    /// VidPN source id.
    pub vidpn_source_id: u32,
    /// Per-allocation private driver data (the vGPU reads the surface size from it, see
    /// `docs/vgpu-command-processor.md`).
    pub private_data: Vec<u8>,
}

/// The kind of synchronisation object to create, with its type-specific parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncObjectKind {
    /// SYNCHRONIZATION_MUTEX.
    Mutex {
        /// Initially owned.
        initial_state: bool,
    },
    /// SEMAPHORE.
    Semaphore {
        /// Maximum count.
        max_count: u32,
        /// Initial count.
        initial_count: u32,
    },
    /// FENCE.
    Fence {
        /// Initial value.
        initial_value: u64,
    },
    /// CPU_NOTIFICATION: the driver assigns a guest event; each signal is reported as
    /// [`super::Action::SyncObjectNotified`].
    CpuNotification,
    /// MONITORED_FENCE.
    MonitoredFence {
        /// Initial value.
        initial_value: u64,
        /// Engine affinity.
        engine_affinity: u32,
    },
}

/// A request from a guest process (the D3DKMT entry points the kernel's dxg task serves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Register the process with the host (first open of the device). Must come first.
    CreateProcess {
        /// Guest process id.
        pid: u64,
        /// Process name (truncated to 260 UTF-16 units).
        name: String,
    },
    /// Tear down everything the process still owns, then DESTROYPROCESS (last close).
    DestroyProcess,
    /// List the active adapters (guest-local; creates adapter handles).
    EnumAdapters,
    /// Open the adapter with this LUID (guest-local).
    OpenAdapterFromLuid {
        /// Adapter LUID.
        luid: Luid,
    },
    /// Close a guest-local adapter handle.
    CloseAdapter {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
    },
    /// QUERYADAPTERINFO.
    QueryAdapterInfo {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
        /// KMTQAITYPE.
        query_type: u32,
        /// The caller's buffer contents (its size is the reply size), 1 … 128 KiB.
        data: Vec<u8>,
    },
    /// CREATEDEVICE.
    CreateDevice {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
        /// `D3DKMT_CREATEDEVICEFLAGS`.
        flags: u32,
    },
    /// FLUSHDEVICE then DESTROYDEVICE.
    DestroyDevice {
        /// Device handle.
        device: D3dkmtHandle,
    },
    /// CREATEPAGINGQUEUE.
    CreatePagingQueue {
        /// Device handle.
        device: D3dkmtHandle,
        /// −1, 0 or 1.
        priority: i32,
    },
    /// DESTROYPAGINGQUEUE.
    DestroyPagingQueue {
        /// Paging queue handle.
        paging_queue: D3dkmtHandle,
    },
    /// CREATECONTEXTVIRTUAL.
    CreateContext {
        /// Device handle.
        device: D3dkmtHandle,
        /// Node ordinal.
        node_ordinal: u32,
        /// Engine affinity.
        engine_affinity: u32,
        /// `D3DDDI_CREATECONTEXTFLAGS`.
        flags: u32,
        /// Client hint.
        client_hint: u32,
        /// Private driver data (≤ 128 KiB).
        private_data: Vec<u8>,
    },
    /// DESTROYCONTEXT.
    DestroyContext {
        /// Context handle.
        context: D3dkmtHandle,
    },
    /// CREATEALLOCATION.
    CreateAllocation {
        /// Device handle.
        device: D3dkmtHandle,
        /// Existing resource to add to, or null.
        resource: D3dkmtHandle,
        /// `D3DKMT_CREATEALLOCATIONFLAGS`.
        flags: u32,
        /// Private runtime data.
        runtime_data: Vec<u8>,
        /// Resource-level private driver data.
        driver_data: Vec<u8>,
        /// The allocations (1 … 1024).
        allocations: Vec<AllocationRequest>,
    },
    /// DESTROYALLOCATION.
    DestroyAllocation {
        /// Device handle.
        device: D3dkmtHandle,
        /// Resource to destroy (with no allocations), or null.
        resource: D3dkmtHandle,
        /// Allocations to destroy.
        allocations: Vec<D3dkmtHandle>,
        /// `D3DDDICB_DESTROYALLOCATION2FLAGS`.
        flags: u32,
    },
    /// MAKERESIDENT.
    MakeResident {
        /// Paging queue handle (required).
        paging_queue: D3dkmtHandle,
        /// Allocations (1 … 10240).
        allocations: Vec<D3dkmtHandle>,
        /// `D3DDDI_MAKERESIDENT_FLAGS`.
        flags: u32,
    },
    /// EVICT.
    Evict {
        /// Device handle.
        device: D3dkmtHandle,
        /// Allocations.
        allocations: Vec<D3dkmtHandle>,
        /// `D3DDDI_EVICT_FLAGS`.
        flags: u32,
    },
    /// LOCK2: map an allocation for the CPU.
    Lock {
        /// Device handle.
        device: D3dkmtHandle,
        /// Allocation handle.
        allocation: D3dkmtHandle,
    },
    /// UNLOCK2.
    Unlock {
        /// Device handle.
        device: D3dkmtHandle,
        /// Allocation handle.
        allocation: D3dkmtHandle,
    },
    /// CREATESYNCOBJECT.
    CreateSyncObject {
        /// Device handle.
        device: D3dkmtHandle,
        /// Type and parameters.
        kind: SyncObjectKind,
        /// `D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS`.
        flags: u32,
    },
    /// DESTROYSYNCOBJECT (global channel).
    DestroySyncObject {
        /// Sync object handle.
        sync_object: D3dkmtHandle,
    },
    /// SUBMITCOMMAND.
    SubmitCommand {
        /// Broadcast contexts (1 … 64); the first one picks the device.
        contexts: Vec<D3dkmtHandle>,
        /// Command buffer GPU virtual address.
        command_buffer: u64,
        /// Command buffer length.
        command_length: u32,
        /// Private driver data (the vGPU's command stream, see `docs/vgpu-command-processor.md`).
        private_data: Vec<u8>,
        /// History buffer handles (≤ 1024).
        history_buffers: Vec<D3dkmtHandle>,
    },
    /// SIGNALSYNCOBJECT from a GPU context (one value per object).
    SignalFromGpu {
        /// The signalling context.
        context: D3dkmtHandle,
        /// Objects (1 … 32).
        objects: Vec<D3dkmtHandle>,
        /// One fence value per object.
        values: Vec<u64>,
    },
    /// SIGNALSYNCOBJECT from the CPU.
    SignalFromCpu {
        /// Device handle.
        device: D3dkmtHandle,
        /// Objects (1 … 32).
        objects: Vec<D3dkmtHandle>,
        /// One fence value per object.
        values: Vec<u64>,
    },
    /// WAITFORSYNCOBJECTFROMCPU; completes when the host signals the guest event.
    WaitFromCpu {
        /// Device handle.
        device: D3dkmtHandle,
        /// Objects (1 … 32).
        objects: Vec<D3dkmtHandle>,
        /// One fence value per object.
        values: Vec<u64>,
        /// Wake when any (instead of all) objects reached their values.
        wait_any: bool,
    },
    /// WAITFORSYNCOBJECTFROMGPU (monitored fences).
    WaitFromGpu {
        /// The waiting context.
        context: D3dkmtHandle,
        /// Objects (1 … 32).
        objects: Vec<D3dkmtHandle>,
        /// One fence value per object.
        values: Vec<u64>,
    },
    /// QUERYVIDEOMEMORYINFO.
    QueryVideoMemoryInfo {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
        /// 0 local, 1 non-local.
        segment_group: u32,
    },
    /// GETDEVICESTATE.
    GetDeviceState {
        /// Device handle.
        device: D3dkmtHandle,
        /// State type (1 = execution).
        state_type: u32,
    },
    /// ESCAPE.
    Escape {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
        /// Device handle or null.
        device: D3dkmtHandle,
        /// Context handle or null.
        context: D3dkmtHandle,
        /// Escape type.
        escape_type: u32,
        /// `D3DDDI_ESCAPEFLAGS`.
        flags: u32,
        /// Private data (≤ 128 KiB).
        data: Vec<u8>,
    },
}

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
    /// QueryVideoMemoryInfo result.
    VideoMemory {
        /// Budget.
        budget: u64,
        /// Current usage.
        current_usage: u64,
        /// Current reservation.
        current_reservation: u64,
        /// Available for reservation.
        available_for_reservation: u64,
    },
    /// GetDeviceState result: the state words (execution state in the first).
    DeviceState {
        /// State type.
        state_type: u32,
        /// Execution state for type 1, else the first union word.
        state: u32,
    },
    /// Escape result: the updated private data.
    Escape(Vec<u8>),
}
