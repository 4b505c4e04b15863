//! Which D3DKMT calls are served, by which handler, and which are not (with the reason).
//!
//! Serving a call later means writing its handler and moving its line from
//! [`UNSERVED_CALLS`] to `HANDLERS`; a unit test checks that every call of userlib's table is in
//! exactly one of the two.

use super::CallResult;
use super::calls::{Call, adapter, allocation, device, sync};
use userlib::sys::SyscallNumber;

/// A call handler.
type Handler = fn(&mut Call<'_>) -> CallResult;

/// The served calls.
static HANDLERS: &[(SyscallNumber, Handler)] = &[
    (
        SyscallNumber::OpenAdapterFromLuid,
        adapter::open_adapter_from_luid,
    ),
    (SyscallNumber::CreateDevice, device::create_device),
    (
        SyscallNumber::CreateContextVirtual,
        device::create_context_virtual,
    ),
    (SyscallNumber::DestroyContext, device::destroy_context),
    (
        SyscallNumber::CreateAllocation2,
        allocation::create_allocation2,
    ),
    (
        SyscallNumber::CreatePagingQueue,
        device::create_paging_queue,
    ),
    (SyscallNumber::QueryAdapterInfo, adapter::query_adapter_info),
    (
        SyscallNumber::QueryVideoMemoryInfo,
        adapter::query_video_memory_info,
    ),
    (SyscallNumber::MakeResident, allocation::make_resident),
    (SyscallNumber::Escape, adapter::escape),
    (SyscallNumber::GetDeviceState, device::get_device_state),
    (SyscallNumber::SubmitCommand, device::submit_command),
    (
        SyscallNumber::CreateSynchronizationObject2,
        sync::create_synchronization_object2,
    ),
    (
        SyscallNumber::DestroyAllocation2,
        allocation::destroy_allocation2,
    ),
    (SyscallNumber::EnumAdapters2, adapter::enum_adapters2),
    (SyscallNumber::CloseAdapter, adapter::close_adapter),
    (SyscallNumber::DestroyDevice, device::destroy_device),
    (
        SyscallNumber::DestroyPagingQueue,
        device::destroy_paging_queue,
    ),
    (
        SyscallNumber::DestroySynchronizationObject,
        sync::destroy_synchronization_object,
    ),
    (SyscallNumber::Evict, allocation::evict),
    (SyscallNumber::Lock2, allocation::lock2),
    (
        SyscallNumber::SignalSynchronizationObjectFromCpu,
        sync::signal_from_cpu,
    ),
    (
        SyscallNumber::SignalSynchronizationObjectFromGpu,
        sync::signal_from_gpu,
    ),
    (
        SyscallNumber::SignalSynchronizationObjectFromGpu2,
        sync::signal_from_gpu2,
    ),
    (SyscallNumber::Unlock2, allocation::unlock2),
    (
        SyscallNumber::WaitForSynchronizationObjectFromCpu,
        sync::wait_from_cpu,
    ),
    (
        SyscallNumber::WaitForSynchronizationObjectFromGpu,
        sync::wait_from_gpu,
    ),
    (SyscallNumber::EnumAdapters3, adapter::enum_adapters3),
];

/// The D3DKMT calls answered with `STATUS_NOT_SUPPORTED`, with the reason: the dxg core has
/// no `Request` for them yet (or the Linux driver does not implement them either).
pub const UNSERVED_CALLS: &[(u32, &str)] = &[
    (
        0x03,
        "CreateContext: legacy; the Linux driver does not implement it either",
    ),
    (
        0x08,
        "ReserveGpuVirtualAddress: no GPU virtual address Request yet",
    ),
    (
        0x0c,
        "MapGpuVirtualAddress: no GPU virtual address Request yet",
    ),
    (
        0x11,
        "SignalSynchronizationObject2: no Request for legacy signals (single fence value, broadcast contexts, CPU events)",
    ),
    (
        0x12,
        "WaitForSynchronizationObject2: no Request for legacy GPU waits (single fence value)",
    ),
    (
        0x16,
        "ChangeVideoMemoryReservation: no residency-budget Request yet",
    ),
    (
        0x17,
        "CreateHwContext: the Linux driver does not implement it either",
    ),
    (0x18, "CreateHwQueue: no hardware queue Request yet"),
    (
        0x1a,
        "DestroyHwContext: the Linux driver does not implement it either",
    ),
    (0x1b, "DestroyHwQueue: no hardware queue Request yet"),
    (0x1f, "FlushHeapTransitions: no Request yet"),
    (
        0x20,
        "FreeGpuVirtualAddress: no GPU virtual address Request yet",
    ),
    (
        0x21,
        "GetContextInProcessSchedulingPriority: no priority Request yet",
    ),
    (
        0x22,
        "GetContextSchedulingPriority: no priority Request yet",
    ),
    (
        0x23,
        "GetSharedResourceAdapterLuid: the Linux driver does not implement it either",
    ),
    (0x24, "InvalidateCache: no Request yet"),
    (0x26, "MarkDeviceAsError: no Request yet"),
    (0x27, "OfferAllocations: no offer/reclaim Request yet"),
    (
        0x28,
        "OpenResource2: legacy sharing; the Linux driver does not implement it either",
    ),
    (
        0x29,
        "OpenSynchronizationObject: legacy sharing; the Linux driver does not implement it either",
    ),
    (0x2a, "QueryAllocationResidency: no residency Request yet"),
    (
        0x2b,
        "QueryResourceInfo: legacy sharing; the Linux driver does not implement it either",
    ),
    (0x2c, "ReclaimAllocations2: no offer/reclaim Request yet"),
    (
        0x2d,
        "Render: legacy; the Linux driver does not implement it either",
    ),
    (0x2e, "SetAllocationPriority: no priority Request yet"),
    (
        0x2f,
        "SetContextInProcessSchedulingPriority: no priority Request yet",
    ),
    (
        0x30,
        "SetContextSchedulingPriority: no priority Request yet",
    ),
    (
        0x34,
        "SubmitCommandToHwQueue: no hardware queue Request yet",
    ),
    (
        0x35,
        "SubmitSignalSyncObjectsToHwQueue: no hardware queue Request yet",
    ),
    (
        0x36,
        "SubmitWaitForSyncObjectsToHwQueue: no hardware queue Request yet",
    ),
    (0x38, "UpdateAllocationProperty: no residency Request yet"),
    (
        0x39,
        "UpdateGpuVirtualAddress: no GPU virtual address Request yet",
    ),
    (0x3c, "GetAllocationPriority: no priority Request yet"),
    (0x3d, "QueryClockCalibration: no Request yet"),
    (
        0x3f,
        "ShareObjectsInternal (behind ShareObjects): no sharing Request yet (and no NT handles in dxgos)",
    ),
    (0x40, "OpenSyncObjectFromNtHandle2: no sharing Request yet"),
    (
        0x41,
        "QueryResourceInfoFromNtHandle: no sharing Request yet",
    ),
    (0x42, "OpenResourceFromNtHandle: no sharing Request yet"),
    (0x43, "QueryStatistics: no Request yet"),
    (0x44, "ShareObjectWithHost: no sharing Request yet"),
    (0x45, "CreateSyncFile: no sync files in dxgos"),
];

/// The handler of a served call.
pub(super) fn handler(number: u32) -> Option<Handler> {
    HANDLERS
        .iter()
        .find(|(call, _)| *call as u32 == number)
        .map(|(_, handler)| *handler)
}

/// Whether D3DKMT call `number` is served (not in [`UNSERVED_CALLS`] and not unknown).
pub fn is_served(number: u32) -> bool {
    handler(number).is_some()
}

/// The numbers of the served calls, in table order.
pub fn served_calls() -> impl Iterator<Item = u32> {
    HANDLERS.iter().map(|(call, _)| *call as u32)
}
