//! Which D3DKMT calls are served, by which handler, and which are not (with the reason).
//!
//! Serving a call later means writing its handler and moving its line from
//! [`UNSERVED_CALLS`] to `HANDLERS`; a unit test checks that every call of userlib's table is in
//! exactly one of the two.

use super::CallResult;
use super::calls::{
    Call, adapter, allocation, device, hardware_queue, legacy_sync, priority, query, residency,
    sharing, sync, virtual_address,
};
use userlib::sys::SyscallNumber;

/// A call handler.
type Handler = fn(&mut Call<'_>) -> CallResult;

/// Declares the served calls: `HANDLERS` pairs each call number with its handler.
macro_rules! handlers {
    ($($call:ident => $handler:path,)*) => {
        /// The served calls.
        static HANDLERS: &[(SyscallNumber, Handler)] = &[$((SyscallNumber::$call, $handler),)*];
    };
}

handlers! {
    QueryResourceInfoFromNtHandle => sharing::query_resource_info_from_nt_handle,
    SignalSynchronizationObject2 => legacy_sync::signal_synchronization_object2,
    WaitForSynchronizationObject2 => legacy_sync::wait_for_synchronization_object2,
    OpenAdapterFromLuid => adapter::open_adapter_from_luid,
    CreateDevice => device::create_device,
    CreateContextVirtual => device::create_context_virtual,
    DestroyContext => device::destroy_context,
    CreateAllocation2 => allocation::create_allocation2,
    CreatePagingQueue => device::create_paging_queue,
    QueryAdapterInfo => adapter::query_adapter_info,
    QueryVideoMemoryInfo => adapter::query_video_memory_info,
    MakeResident => allocation::make_resident,
    Escape => adapter::escape,
    GetDeviceState => device::get_device_state,
    SubmitCommand => device::submit_command,
    CreateSynchronizationObject2 => sync::create_synchronization_object2,
    DestroyAllocation2 => allocation::destroy_allocation2,
    EnumAdapters2 => adapter::enum_adapters2,
    CloseAdapter => adapter::close_adapter,
    DestroyDevice => device::destroy_device,
    DestroyPagingQueue => device::destroy_paging_queue,
    DestroySynchronizationObject => sync::destroy_synchronization_object,
    Evict => allocation::evict,
    Lock2 => allocation::lock2,
    SignalSynchronizationObjectFromCpu => sync::signal_from_cpu,
    SignalSynchronizationObjectFromGpu => sync::signal_from_gpu,
    SignalSynchronizationObjectFromGpu2 => sync::signal_from_gpu2,
    Unlock2 => allocation::unlock2,
    WaitForSynchronizationObjectFromCpu => sync::wait_from_cpu,
    WaitForSynchronizationObjectFromGpu => sync::wait_from_gpu,
    EnumAdapters3 => adapter::enum_adapters3,
    ReserveGpuVirtualAddress => virtual_address::reserve_gpu_virtual_address,
    MapGpuVirtualAddress => virtual_address::map_gpu_virtual_address,
    FreeGpuVirtualAddress => virtual_address::free_gpu_virtual_address,
    UpdateGpuVirtualAddress => virtual_address::update_gpu_virtual_address,
    CreateHwQueue => hardware_queue::create_hw_queue,
    DestroyHwQueue => hardware_queue::destroy_hw_queue,
    SubmitCommandToHwQueue => hardware_queue::submit_command_to_hw_queue,
    SubmitSignalSyncObjectsToHwQueue => hardware_queue::submit_signal_to_hw_queue,
    SubmitWaitForSyncObjectsToHwQueue => hardware_queue::submit_wait_to_hw_queue,
    SetContextSchedulingPriority => priority::set_context_scheduling_priority,
    GetContextSchedulingPriority => priority::get_context_scheduling_priority,
    SetContextInProcessSchedulingPriority => priority::set_context_in_process_scheduling_priority,
    GetContextInProcessSchedulingPriority => priority::get_context_in_process_scheduling_priority,
    SetAllocationPriority => priority::set_allocation_priority,
    GetAllocationPriority => priority::get_allocation_priority,
    QueryAllocationResidency => residency::query_allocation_residency,
    OfferAllocations => residency::offer_allocations,
    ReclaimAllocations2 => residency::reclaim_allocations2,
    UpdateAllocationProperty => residency::update_allocation_property,
    InvalidateCache => residency::invalidate_cache,
    ChangeVideoMemoryReservation => residency::change_video_memory_reservation,
    FlushHeapTransitions => query::flush_heap_transitions,
    MarkDeviceAsError => device::mark_device_as_error,
    QueryClockCalibration => query::query_clock_calibration,
    QueryStatistics => query::query_statistics,
    ShareObjectsInternal => sharing::share_objects,
    OpenResourceFromNtHandle => sharing::open_resource_from_nt_handle,
    OpenResource2 => sharing::open_resource2,
    OpenSyncObjectFromNtHandle2 => sharing::open_sync_object_from_nt_handle2,
    ShareObjectWithHost => sharing::share_object_with_host,
}

/// Declares [`UNSERVED_CALLS`]: each row names the call and why it is not served; the reason
/// given is `"Name: why"`.
macro_rules! unserved {
    ($($call:ident => $why:literal,)*) => {
        /// The D3DKMT calls answered with `STATUS_NOT_SUPPORTED`, with the reason: the dxg core
        /// has no (faithful) `Request` for them yet, or the Linux driver does not implement them
        /// either.
        pub const UNSERVED_CALLS: &[(u32, &str)] = &[$((
            SyscallNumber::$call as u32,
            concat!(stringify!($call), ": ", $why),
        ),)*];
    };
}

unserved! {
    CreateContext => "legacy; the Linux driver does not implement it either",
    CreateHwContext => "the Linux driver does not implement it either",
    DestroyHwContext => "the Linux driver does not implement it either",
    GetSharedResourceAdapterLuid => "the Linux driver does not implement it either",
    OpenSynchronizationObject => "D3DKMT_OPENSYNCHRONIZATIONOBJECT names no device while OpenSyncObject must name the device the object is opened on, and has no fields for a monitored fence's addresses (the Linux driver does not implement it either); use OpenSyncObjectFromNtHandle2",
    QueryResourceInfo => "legacy sharing; the Linux driver does not implement it either",
    Render => "legacy; the Linux driver does not implement it either",
    CreateSyncFile => "no sync files in dxgos",
}

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
