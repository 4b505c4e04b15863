//! The typed API of the driver: requests in. Their parameter types live in
//! `request_parameters`, the replies in `request_reply`.
//!
//! A request whose command is one fixed struct carries that wire struct whole (the command
//! table's struct, `wire::commands`): the caller fills its fields, the driver checks the handles
//! it names, replaces its header (and a guest-local adapter handle by the host's) and sends it.
//! The header the caller leaves (zeroed, e.g. with `FromZeros::new_zeroed`) is never sent.

use super::{AllocationRequest, GpuVirtualAddressOperation, ProcessId, SyncObjectKind};
use crate::wire::*;
use alloc::string::String;
use alloc::vec::Vec;

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
    /// CREATEPAGINGQUEUE (`device`, `priority` −1, 0 or 1).
    CreatePagingQueue(CreatePagingQueueCommand),
    /// DESTROYPAGINGQUEUE.
    DestroyPagingQueue {
        /// Paging queue handle.
        paging_queue: D3dkmtHandle,
    },
    /// CREATECONTEXTVIRTUAL on `device` (`node_ordinal`, `engine_affinity`, `flags`
    /// `D3DDDI_CREATECONTEXTFLAGS`, `client_hint`); `private_data_size` is set by the driver.
    CreateContext {
        /// The command.
        command: CreateContextVirtualCommand,
        /// Private driver data (≤ 128 KiB).
        private_data: Vec<u8>,
    },
    /// DESTROYCONTEXT.
    DestroyContext {
        /// Context handle.
        context: D3dkmtHandle,
    },
    /// CREATEALLOCATION on `device`, adding to the existing `resource` (or null); `flags`
    /// `D3DKMT_CREATEALLOCATIONFLAGS`; the data sizes and `allocation_count` are set by the
    /// driver.
    CreateAllocation {
        /// The command.
        command: CreateAllocationCommand,
        /// Private runtime data.
        runtime_data: Vec<u8>,
        /// Resource-level private driver data.
        driver_data: Vec<u8>,
        /// The allocations (1 … 1024).
        allocations: Vec<AllocationRequest>,
    },
    /// DESTROYALLOCATION: a `resource` of `device` (with no allocations) or allocations;
    /// `flags` `D3DDDICB_DESTROYALLOCATION2FLAGS`; `allocation_count` is set by the driver.
    DestroyAllocation {
        /// The command.
        command: DestroyAllocationCommand,
        /// Allocations to destroy.
        allocations: Vec<D3dkmtHandle>,
    },
    /// MAKERESIDENT on `paging_queue` (required; `device` is left null, as the driver always
    /// sent it); `flags` `D3DDDI_MAKERESIDENT_FLAGS`; `allocation_count` is set by the driver.
    MakeResident {
        /// The command.
        command: MakeResidentCommand,
        /// Allocations (1 … 10240).
        allocations: Vec<D3dkmtHandle>,
    },
    /// EVICT on `device`; `flags` `D3DDDI_EVICT_FLAGS`; `allocation_count` is set by the driver.
    Evict {
        /// The command.
        command: EvictCommand,
        /// Allocations.
        allocations: Vec<D3dkmtHandle>,
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
    /// QUERYVIDEOMEMORYINFO (`adapter`: the guest-local handle, replaced by the host's;
    /// `memory_segment_group` 0 local, 1 non-local).
    QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand),
    /// GETDEVICESTATE (`device`, `state_type` 1 = execution).
    GetDeviceState(GetDeviceStateCommand),
    /// ESCAPE (`adapter`: the guest-local handle, replaced by the host's; `device` and
    /// `context` or null; `private_data_size` is set by the driver).
    Escape {
        /// The command.
        command: EscapeCommand,
        /// Private data (≤ 128 KiB).
        data: Vec<u8>,
    },
    /// RESERVEGPUVIRTUALADDRESS: reserve a GPU VA range on the adapter named by the command's
    /// `adapter` (a guest-local adapter handle, replaced by the host adapter handle) or by
    /// `paging_queue` (sent in the `adapter` field); exactly one of the two is non-null.
    ReserveGpuVirtualAddress {
        /// Paging queue handle, or null.
        paging_queue: D3dkmtHandle,
        /// The command (a base address of 0 is anywhere in `[minimum, maximum)`, a maximum of
        /// 0 no limit; reservation type 0 no-access, 1 zero, 2 no-commit).
        command: ReserveGpuVirtualAddressCommand,
    },
    /// MAPGPUVIRTUALADDRESS: map allocation pages at a GPU VA (`paging_queue` required).
    MapGpuVirtualAddress(MapGpuVirtualAddressCommand),
    /// FREEGPUVIRTUALADDRESS: release a reserved range (`adapter`: the guest-local handle,
    /// replaced by the host's).
    FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand),
    /// UPDATEGPUVIRTUALADDRESS: a batch of map/unmap/copy operations (1 … 2047 with the
    /// extension header, to fit in one packet), ordered against `context` of `device`, after
    /// `fence_object` (a monitored fence, or null) reached `fence_value`; `flags` bit 0
    /// do_not_wait. `num_operations` is set by the driver.
    UpdateGpuVirtualAddress {
        /// The command.
        command: UpdateGpuVirtualAddressCommand,
        /// The operations.
        operations: Vec<GpuVirtualAddressOperation>,
    },
    /// CREATEHWQUEUE: a hardware queue on `context`, with its progress fence (`flags` bit 0
    /// disable_gpu_timeout; `private_data_size` is set by the driver).
    CreateHwQueue {
        /// The command.
        command: CreateHwQueueCommand,
        /// Private driver data (≤ 128 KiB with the command).
        private_data: Vec<u8>,
    },
    /// DESTROYHWQUEUE (also forgets its progress fence).
    DestroyHwQueue {
        /// Hardware queue handle.
        hwqueue: D3dkmtHandle,
    },
    /// SUBMITCOMMANDTOHWQUEUE: run a command stream; the host sets the queue's progress fence to
    /// `progress_fence_id` when it finished. Asynchronous when the host enabled async messaging.
    /// The sizes and counts are set by the driver.
    SubmitCommandToHwQueue {
        /// The command.
        command: SubmitCommandToHwQueueCommand,
        /// Private driver data (the vGPU's command stream, see `docs/vgpu-command-processor.md`).
        private_data: Vec<u8>,
        /// Written primaries (allocation handles; bounded only by the packet size, as in Linux).
        primaries: Vec<D3dkmtHandle>,
    },
    /// SETCONTEXTSCHEDULINGPRIORITY (`in_process` 1: the in-process, relative priority).
    SetContextSchedulingPriority(SetContextSchedulingPriorityCommand),
    /// GETCONTEXTSCHEDULINGPRIORITY (`in_process` 1: the in-process, relative priority).
    GetContextSchedulingPriority(GetContextSchedulingPriorityCommand),
    /// SETALLOCATIONPRIORITY: either a resource (no allocations, one priority) or a list of
    /// allocations with one priority each.
    SetAllocationPriority {
        /// Device handle.
        device: D3dkmtHandle,
        /// Resource, or null.
        resource: D3dkmtHandle,
        /// Allocations (empty with a resource).
        allocations: Vec<D3dkmtHandle>,
        /// One priority per allocation, or one for the resource.
        priorities: Vec<u32>,
    },
    /// GETALLOCATIONPRIORITY: a resource or a list of allocations.
    GetAllocationPriority {
        /// Device handle.
        device: D3dkmtHandle,
        /// Resource, or null.
        resource: D3dkmtHandle,
        /// Allocations (empty with a resource).
        allocations: Vec<D3dkmtHandle>,
    },
    /// QUERYALLOCATIONRESIDENCY: a `resource` of `device` or a list of allocations
    /// (`allocation_count` is set by the driver).
    QueryAllocationResidency {
        /// The command.
        command: QueryAllocationResidencyCommand,
        /// Allocations (empty with a resource).
        allocations: Vec<D3dkmtHandle>,
    },
    /// OFFERALLOCATIONS: let the host discard the contents under memory pressure (`priority` 1
    /// low … 4 auto; `flags` bit 0 offer_immediately, bit 1 allow_decommit; `resources` 1: the
    /// handles are resources; `allocation_count` is set by the driver).
    OfferAllocations {
        /// The command.
        command: OfferAllocationsCommand,
        /// Allocation (or resource) handles, 1 … 10240.
        handles: Vec<D3dkmtHandle>,
    },
    /// RECLAIMALLOCATIONS: take offered allocations back (`resources` 1: the handles are
    /// resources; `write_results` 1: one result per handle, 0 OK, 1 DISCARDED, 2 NOT_COMMITTED;
    /// `allocation_count` is set by the driver).
    ReclaimAllocations {
        /// The command.
        command: ReclaimAllocationsCommand,
        /// Allocation (or resource) handles, 1 … 10240.
        handles: Vec<D3dkmtHandle>,
    },
    /// FLUSHHEAPTRANSITIONS (header only).
    FlushHeapTransitions {
        /// Guest-local adapter handle (picks the vGPU).
        adapter: D3dkmtHandle,
    },
    /// INVALIDATECACHE: a byte range of an allocation of `device`.
    InvalidateCache(InvalidateCacheCommand),
    /// MARKDEVICEASERROR (`reason` 0x80000000 generic, 0x80000006 driver error).
    MarkDeviceAsError(MarkDeviceAsErrorCommand),
    /// QUERYCLOCKCALIBRATION (`adapter`: the guest-local handle, replaced by the host's).
    QueryClockCalibration(QueryClockCalibrationCommand),
    /// CHANGEVIDEOMEMORYRESERVATION (`adapter`: the guest-local handle that picks the vGPU; sent
    /// with process 0 and adapter 0 in the arguments, like Linux).
    ChangeVideoMemoryReservation(ChangeVideoMemoryReservationCommand),
    /// UPDATEALLOCATIONPROPERTY (`paging_queue`, `allocation` on its adapter).
    UpdateAllocationProperty(UpdateAllocationPropertyCommand),
    /// QUERYSTATISTICS (the adapter LUID is replaced by the host adapter LUID).
    QueryStatistics {
        /// Guest-local adapter handle.
        adapter: D3dkmtHandle,
        /// `D3DKMT_QUERYSTATISTICS_TYPE`.
        statistics_type: u32,
        /// Segment / node / VidPN source id for the per-item types (first word of the query).
        query_id: u32,
        /// Another guest process to query (its host handle goes in the header), or `None` for the
        /// caller.
        process: Option<ProcessId>,
    },
    /// ISFEATUREENABLED (sent with process 0).
    IsFeatureEnabled {
        /// Guest-local adapter handle (picks the vGPU).
        adapter: D3dkmtHandle,
        /// Feature id (0 HWSCH, 32 PAGE_BASED_MEMORY_MANAGER, 33 KERNEL_MODE_TESTING).
        feature_id: u32,
    },
    /// CREATENTSHAREDOBJECT (global 1004): share a resource or a sync object created shared; the
    /// host returns a VM-wide shared handle other processes open it by
    /// ([`Reply::NtSharedObject`](super::Reply::NtSharedObject)). The driver remembers what was
    /// shared (allocation sizes, the sync object's global handle), like Linux's sealed shared
    /// resource.
    CreateNtSharedObject {
        /// Resource or sync object handle of the caller.
        object: D3dkmtHandle,
    },
    /// DESTROYNTSHAREDOBJECT (global 1005, process 0): drop a shared handle the caller created.
    /// Objects already opened through it stay.
    DestroyNtSharedObject {
        /// The shared handle from [`Reply::NtSharedObject`](super::Reply::NtSharedObject).
        shared_handle: D3dkmtHandle,
    },
    /// OPENRESOURCE (vGPU 32): open a shared resource in this process; answered with
    /// [`Reply::ResourceOpened`](super::Reply::ResourceOpened) (local handles to the same
    /// allocation memory).
    OpenResource {
        /// Device (on the resource's adapter).
        device: D3dkmtHandle,
        /// Shared handle of a resource.
        shared_handle: D3dkmtHandle,
    },
    /// OPENSYNCOBJECT (global 1002): open a shared sync object in this process (the driver sends
    /// its creation-time global handle); answered with
    /// [`Reply::SyncObject`](super::Reply::SyncObject).
    OpenSyncObject {
        /// Device (on the sync object's adapter).
        device: D3dkmtHandle,
        /// Shared handle of a sync object.
        shared_handle: D3dkmtHandle,
        /// `D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS`.
        flags: u32,
        /// Engine affinity (sent for monitored fences only).
        engine_affinity: u32,
    },
    /// SHAREOBJECTWITHHOST (global 1021): a resource, allocation or sync object `object` on the
    /// adapter of `device`; answered with [`Reply::VailNtHandle`](super::Reply::VailNtHandle).
    ShareObjectWithHost(ShareObjectWithHostCommand),
    /// What a shared resource holds (D3DKMTQueryResourceInfoFromNtHandle): answered by the
    /// driver from its registry of shared handles, without a host message (Linux answers it
    /// from the shared resource object it keeps). The device picks the adapter the handle
    /// must be on.
    QuerySharedResource {
        /// Device handle.
        device: D3dkmtHandle,
        /// The shared handle.
        shared_handle: D3dkmtHandle,
    },
    /// DDIGETSTANDARDALLOCATIONDRIVERDATA (vGPU 39) on the adapter of `device`: with both sizes
    /// (`private_driver_data_size`, `private_driver_resource_size`) 0 the sizing call, else the
    /// data call with the sizes the sizing call returned. Only GDISURFACE (4) is sent, as in
    /// Linux; the surface is `D3DKMDT_GDISURFACEDATA` (Linux sends width = the heap size, height
    /// 1, format 0 UNKNOWN, type 7 TEXTURE_CROSSADAPTER).
    GetStandardAllocationDriverData {
        /// Device handle.
        device: D3dkmtHandle,
        /// The command.
        command: GetStandardAllocationDriverDataCommand,
    },
    /// SETEXISTINGSYSMEMSTORE (vGPU 45): back an existing-sysmem `allocation` of `device` with
    /// the GPADL `gpadl` the caller established on the global channel (hosts without
    /// `map_guest_memory`).
    SetExistingSysmemStore(SetExistingSysmemStoreCommand),
    /// SETEXISTINGSYSMEMPAGES (vGPU 66): back an existing-sysmem allocation with guest pages,
    /// one page frame number per allocation page; sent as one message per 15 867 frames.
    SetExistingSysmemPages {
        /// Device handle.
        device: D3dkmtHandle,
        /// Allocation handle.
        allocation: D3dkmtHandle,
        /// Guest page frame numbers, exactly `allocation size / 4096` of them.
        page_frames: Vec<u64>,
    },
    /// SIGNALSYNCOBJECT as `D3DKMTSignalSynchronizationObject2` (ioctl 0x11) sends it: one
    /// legacy fence value in the header (+40) for every object, no fence array; `context` is sent
    /// as the first context, followed by `broadcast_contexts`. With
    /// [`crate::wire::SIGNAL_FLAG_ENQUEUE_CPU_EVENT`] in `flags` the driver registers a guest
    /// event (sent at +48) and the ticket completes with
    /// [`Reply::WaitCompleted`](super::Reply::WaitCompleted) once the host signalled it (the
    /// point where Linux signals the caller's eventfd); otherwise it completes with the host's
    /// status.
    SignalSynchronizationObject2 {
        /// The signalling context (picks the device and adapter).
        context: D3dkmtHandle,
        /// Objects (0 … 32; 0 is only useful with enqueue_cpu_event).
        objects: Vec<D3dkmtHandle>,
        /// Further contexts to broadcast to (0 … 63).
        broadcast_contexts: Vec<D3dkmtHandle>,
        /// `D3DDDICB_SIGNALFLAGS` (b0 signal_at_submission, b1 enqueue_cpu_event, b2
        /// allow_fence_rewind).
        flags: u32,
        /// The legacy fence value (`Fence.FenceValue`).
        fence_value: u64,
    },
    /// WAITFORSYNCOBJECTFROMGPU as `D3DKMTWaitForSynchronizationObject2` (ioctl 0x12) sends it:
    /// `legacy_fence_object` = 1 and the single fence value in the first value slot (the other
    /// slots are zero).
    WaitForSynchronizationObject2 {
        /// The waiting context (a context, not a hardware queue).
        context: D3dkmtHandle,
        /// Objects (1 … 32).
        objects: Vec<D3dkmtHandle>,
        /// The legacy fence value (`Fence.FenceValue`).
        fence_value: u64,
    },
    /// Gives up a pending [`Request::WaitFromCpu`] (or an enqueued CPU event of
    /// [`Request::SignalSynchronizationObject2`]) of the same process, e.g. after the caller's
    /// timeout. Nothing is sent (the protocol has no cancel command): the wait's ticket completes
    /// with STATUS_CANCELLED and a later host signal for its event is ignored. This request
    /// completes with SUCCESS, or INVALID_PARAMETER when the ticket names no pending wait of the
    /// process.
    CancelWait {
        /// The ticket of the wait to give up.
        ticket: super::Ticket,
    },
}
