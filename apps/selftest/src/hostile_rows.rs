//! More rows of the mode-7 table ([`crate::invalid_arguments`]), toward every D3DKMT call: huge
//! counts, kernel-space nested pointers, views already released (by Unlock2, by destroying the
//! allocation), live handles of the wrong kind and another process's handles. Each row expects
//! one exact NTSTATUS and, like every row of the table, leaves the dxg object count unchanged.

use userlib::abi::status::STATUS_ACCESS_VIOLATION;
use userlib::abi::{self, D3DKMT_HANDLE, flags};
use userlib::gpu::Device;
use userlib::sys::{Native, SyscallNumber as N};

use crate::invalid_arguments::{
    BAD_POINTER, Expectation, FOREIGN, KERNEL_ADDRESS, OVERSIZE, SWAPPED, Table, row,
};

/// A count far above every D3DKMT limit.
const HUGE: u32 = u32::MAX;
/// A released view: a user address that was a view and is no longer mapped.
const RELEASED_BY_UNLOCK: Expectation = ("view released by Unlock2", STATUS_ACCESS_VIOLATION);
const RELEASED_BY_DESTROY: Expectation = (
    "view released by DestroyAllocation2",
    STATUS_ACCESS_VIOLATION,
);
/// The framebuffer view (a borrowed device mapping, never the process's own memory): the
/// kernel's user copies refuse device pages, and it cannot back an allocation.
const FRAMEBUFFER_VIEW: Expectation = ("the framebuffer view", STATUS_ACCESS_VIOLATION);

/// The framebuffer view given back to the kernel, as for a released view ([`view_rows`]).
pub(crate) fn framebuffer_view_rows(table: &mut Table, device: &Device<'_, Native>, view: u64) {
    view_rows(table, device, FRAMEBUFFER_VIEW, view);
}

/// The live objects the rows use.
struct Live {
    adapter: D3DKMT_HANDLE,
    device: D3DKMT_HANDLE,
    context: D3DKMT_HANDLE,
    fence: D3DKMT_HANDLE,
}

/// Runs every row group.
pub(crate) fn run(
    table: &mut Table,
    device: &Device<'_, Native>,
    context: D3DKMT_HANDLE,
    fence: D3DKMT_HANDLE,
    foreign_device: u32,
) {
    let live = Live {
        adapter: device.adapter().handle(),
        device: device.handle(),
        context,
        fence,
    };
    huge_counts(table, &live);
    kernel_pointers(table, &live);
    released_views(table, device);
    swapped(table, &live);
    if foreign_device != 0 {
        foreign(table, &live, foreign_device);
    }
}

/// Counts above the limits, with valid pointers (so only the count is wrong).
fn huge_counts(table: &mut Table, live: &Live) {
    let handles = [live.fence; 4];
    let values = [1u64; 4];
    let list = handles.as_ptr() as u64;
    let mut resident = abi::D3DDDI_MAKERESIDENT {
        NumAllocations: HUGE,
        AllocationList: list,
        ..Default::default()
    };
    row(table, OVERSIZE, N::MakeResident, &mut resident);
    let mut evict = abi::D3DKMT_EVICT {
        hDevice: live.device,
        NumAllocations: HUGE,
        AllocationList: list,
        ..Default::default()
    };
    row(table, OVERSIZE, N::Evict, &mut evict);
    let mut destroy = abi::D3DKMT_DESTROYALLOCATION2 {
        hDevice: live.device,
        phAllocationList: list,
        AllocationCount: HUGE,
        ..Default::default()
    };
    row(table, OVERSIZE, N::DestroyAllocation2, &mut destroy);
    let mut priorities = [0u32; 4];
    let mut set = abi::D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: live.device,
        phAllocationList: list,
        AllocationCount: HUGE,
        pPriorities: priorities.as_ptr() as u64,
        ..Default::default()
    };
    row(table, OVERSIZE, N::SetAllocationPriority, &mut set);
    let mut get = abi::D3DKMT_GETALLOCATIONPRIORITY {
        hDevice: live.device,
        phAllocationList: list,
        AllocationCount: HUGE,
        pPriorities: priorities.as_mut_ptr() as u64,
        ..Default::default()
    };
    row(table, OVERSIZE, N::GetAllocationPriority, &mut get);
    let mut residency = abi::D3DKMT_QUERYALLOCATIONRESIDENCY {
        hDevice: live.device,
        phAllocationList: list,
        AllocationCount: HUGE,
        pResidencyStatus: priorities.as_mut_ptr() as u64,
        ..Default::default()
    };
    row(table, OVERSIZE, N::QueryAllocationResidency, &mut residency);
    let mut offer = abi::D3DKMT_OFFERALLOCATIONS {
        hDevice: live.device,
        HandleList: list,
        NumAllocations: HUGE,
        ..Default::default()
    };
    row(table, OVERSIZE, N::OfferAllocations, &mut offer);
    let mut reclaim = abi::D3DKMT_RECLAIMALLOCATIONS2 {
        NumAllocations: HUGE,
        HandleList: list,
        pResults: priorities.as_mut_ptr() as u64,
        ..Default::default()
    };
    row(table, OVERSIZE, N::ReclaimAllocations2, &mut reclaim);
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: live.device,
        NumAllocations: HUGE,
        pAllocationInfo2: list,
        ..Default::default()
    };
    row(table, OVERSIZE, N::CreateAllocation2, &mut create);
    let mut wait_gpu = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: live.context,
        ObjectCount: 33,
        ObjectHandleArray: list,
        MonitoredFenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    row(
        table,
        OVERSIZE,
        N::WaitForSynchronizationObjectFromGpu,
        &mut wait_gpu,
    );
    let mut signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
        hContext: live.context,
        ObjectCount: 33,
        ..Default::default()
    };
    row(
        table,
        OVERSIZE,
        N::SignalSynchronizationObject2,
        &mut signal,
    );
    let mut wait = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
        hContext: live.context,
        ObjectCount: 33,
        ..Default::default()
    };
    row(table, OVERSIZE, N::WaitForSynchronizationObject2, &mut wait);
    let mut submit = abi::D3DKMT_SUBMITCOMMANDTOHWQUEUE {
        NumPrimaries: 17,
        WrittenPrimaries: list,
        ..Default::default()
    };
    row(table, OVERSIZE, N::SubmitCommandToHwQueue, &mut submit);
    let mut update = abi::D3DKMT_UPDATEGPUVIRTUALADDRESS {
        hDevice: live.device,
        hContext: live.context,
        NumOperations: HUGE,
        pOperations: list,
        ..Default::default()
    };
    row(table, OVERSIZE, N::UpdateGpuVirtualAddress, &mut update);
}

/// Nested pointers into the kernel half, one per call that reads an array or a buffer.
fn kernel_pointers(table: &mut Table, live: &Live) {
    let mut resident = abi::D3DDDI_MAKERESIDENT {
        NumAllocations: 1,
        AllocationList: KERNEL_ADDRESS,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::MakeResident, &mut resident);
    let mut evict = abi::D3DKMT_EVICT {
        hDevice: live.device,
        NumAllocations: 1,
        AllocationList: KERNEL_ADDRESS,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::Evict, &mut evict);
    let mut destroy = abi::D3DKMT_DESTROYALLOCATION2 {
        hDevice: live.device,
        phAllocationList: KERNEL_ADDRESS,
        AllocationCount: 1,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::DestroyAllocation2, &mut destroy);
    let priorities = [0u32; 1];
    let mut set = abi::D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: live.device,
        phAllocationList: KERNEL_ADDRESS,
        AllocationCount: 1,
        pPriorities: priorities.as_ptr() as u64,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::SetAllocationPriority, &mut set);
    let values = [1u64];
    let mut signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: live.device,
        ObjectCount: 1,
        ObjectHandleArray: KERNEL_ADDRESS,
        FenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    row(
        table,
        BAD_POINTER,
        N::SignalSynchronizationObjectFromCpu,
        &mut signal,
    );
    let handles = [live.fence];
    let mut signal_values = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: live.device,
        ObjectCount: 1,
        ObjectHandleArray: handles.as_ptr() as u64,
        FenceValueArray: KERNEL_ADDRESS,
        ..Default::default()
    };
    row(
        table,
        BAD_POINTER,
        N::SignalSynchronizationObjectFromCpu,
        &mut signal_values,
    );
    let mut escape = abi::D3DKMT_ESCAPE {
        hAdapter: live.adapter,
        hDevice: live.device,
        pPrivateDriverData: KERNEL_ADDRESS,
        PrivateDriverDataSize: 8,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::Escape, &mut escape);
    let mut context = abi::D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: live.device,
        pPrivateDriverData: KERNEL_ADDRESS,
        PrivateDriverDataSize: 8,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::CreateContextVirtual, &mut context);
    let mut enumerate = abi::D3DKMT_ENUMADAPTERS3 {
        NumAdapters: 4,
        pAdapters: KERNEL_ADDRESS,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::EnumAdapters3, &mut enumerate);
    let mut offer = abi::D3DKMT_OFFERALLOCATIONS {
        hDevice: live.device,
        HandleList: KERNEL_ADDRESS,
        NumAllocations: 1,
        ..Default::default()
    };
    row(table, BAD_POINTER, N::OfferAllocations, &mut offer);
    let mut wait_gpu = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: live.context,
        ObjectCount: 1,
        ObjectHandleArray: KERNEL_ADDRESS,
        MonitoredFenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    row(
        table,
        BAD_POINTER,
        N::WaitForSynchronizationObjectFromGpu,
        &mut wait_gpu,
    );
}

/// A view's address after Unlock2, and after the allocation was destroyed while locked, given
/// back to the kernel: as a nested buffer, as the argument struct, and as existing system
/// memory. The kernel unmapped the view, so each is `STATUS_ACCESS_VIOLATION`.
fn released_views(table: &mut Table, device: &Device<'_, Native>) {
    let Ok(mut unlocked) = device.create_allocation(4096) else {
        table.check_with("setup", "CreateAllocation2", -1, false, 0);
        return;
    };
    let unlocked_view = match unlocked.lock() {
        Ok(view) => view.as_ptr() as u64,
        Err(_) => {
            table.check_with("setup", "Lock2", -1, false, 0);
            return;
        }
    };
    view_rows(table, device, RELEASED_BY_UNLOCK, unlocked_view);
    drop(unlocked);
    let Ok(mut destroyed) = device.create_allocation(4096) else {
        table.check_with("setup", "CreateAllocation2", -1, false, 0);
        return;
    };
    let destroyed_view = match destroyed.lock() {
        Ok(view) => {
            let address = view.as_ptr() as u64;
            // Keep it locked: the allocation is destroyed with its view still mapped.
            core::mem::forget(view);
            address
        }
        Err(_) => {
            table.check_with("setup", "Lock2", -1, false, 0);
            return;
        }
    };
    drop(destroyed);
    view_rows(table, device, RELEASED_BY_DESTROY, destroyed_view);
}

fn view_rows(table: &mut Table, device: &Device<'_, Native>, kind: Expectation, view: u64) {
    let mut query = abi::D3DKMT_QUERYADAPTERINFO {
        hAdapter: device.adapter().handle(),
        Type: flags::KMTQAITYPE_ADAPTERTYPE,
        pPrivateDriverData: view,
        PrivateDriverDataSize: 4,
        ..Default::default()
    };
    row(table, kind, N::QueryAdapterInfo, &mut query);
    let handles = [device.handle()];
    let mut escape = abi::D3DKMT_ESCAPE {
        hAdapter: device.adapter().handle(),
        hDevice: handles[0],
        pPrivateDriverData: view,
        PrivateDriverDataSize: 16,
        ..Default::default()
    };
    row(table, kind, N::Escape, &mut escape);
    let size = 4096u64.to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: view,
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: device.handle(),
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        Flags: flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM,
        ..Default::default()
    };
    row(table, kind, N::CreateAllocation2, &mut create);
    // The view as the argument struct itself.
    let number = N::GetDeviceState;
    let size = number.argument_size().unwrap_or(0) as u64;
    let status = table.counted(kind.0, number, || {
        userlib::sys::result_to_status(crate::raw_syscall(number as u64, view, size, 0))
    });
    table.reach(number);
    table.check(kind.0, "D3DKMTGetDeviceState (struct)", status, kind.1);
}

/// Live handles of this process where another kind goes.
fn swapped(table: &mut Table, live: &Live) {
    let size = 4096u64.to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: live.context,
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        ..Default::default()
    };
    row(table, SWAPPED, N::CreateAllocation2, &mut create);
    let mut queue = abi::D3DKMT_CREATEPAGINGQUEUE {
        hDevice: live.fence,
        ..Default::default()
    };
    row(table, SWAPPED, N::CreatePagingQueue, &mut queue);
    let mut sync = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: live.context,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
            Type: flags::D3DDDI_MONITORED_FENCE,
            ..Default::default()
        },
        ..Default::default()
    };
    row(table, SWAPPED, N::CreateSynchronizationObject2, &mut sync);
    let objects = [live.context];
    let values = [1u64];
    let mut signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: live.device,
        ObjectCount: 1,
        ObjectHandleArray: objects.as_ptr() as u64,
        FenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    row(
        table,
        SWAPPED,
        N::SignalSynchronizationObjectFromCpu,
        &mut signal,
    );
    let mut submit = abi::D3DKMT_SUBMITCOMMAND {
        BroadcastContextCount: 1,
        ..Default::default()
    };
    submit.BroadcastContext[0] = live.fence;
    row(table, SWAPPED, N::SubmitCommand, &mut submit);
    let mut destroy_queue = abi::D3DDDI_DESTROYPAGINGQUEUE {
        hPagingQueue: live.context,
    };
    row(table, SWAPPED, N::DestroyPagingQueue, &mut destroy_queue);
    let allocations = [live.fence];
    let mut evict = abi::D3DKMT_EVICT {
        hDevice: live.device,
        NumAllocations: 1,
        AllocationList: allocations.as_ptr() as u64,
        ..Default::default()
    };
    row(table, SWAPPED, N::Evict, &mut evict);
    let mut set_priority = abi::D3DKMT_SETCONTEXTSCHEDULINGPRIORITY {
        hContext: live.device,
        ..Default::default()
    };
    row(
        table,
        SWAPPED,
        N::SetContextSchedulingPriority,
        &mut set_priority,
    );
    let mut get_priority = abi::D3DKMT_GETCONTEXTSCHEDULINGPRIORITY {
        hContext: live.fence,
        ..Default::default()
    };
    row(
        table,
        SWAPPED,
        N::GetContextSchedulingPriority,
        &mut get_priority,
    );
    let mut error = abi::D3DKMT_MARKDEVICEASERROR {
        hDevice: live.context,
        ..Default::default()
    };
    row(table, SWAPPED, N::MarkDeviceAsError, &mut error);
}

/// Another process's device handle, in the calls that create on or act through a device.
fn foreign(table: &mut Table, live: &Live, foreign_device: u32) {
    let size = 4096u64.to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: foreign_device,
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        ..Default::default()
    };
    row(table, FOREIGN, N::CreateAllocation2, &mut create);
    let mut queue = abi::D3DKMT_CREATEPAGINGQUEUE {
        hDevice: foreign_device,
        ..Default::default()
    };
    row(table, FOREIGN, N::CreatePagingQueue, &mut queue);
    let mut sync = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: foreign_device,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
            Type: flags::D3DDDI_MONITORED_FENCE,
            ..Default::default()
        },
        ..Default::default()
    };
    row(table, FOREIGN, N::CreateSynchronizationObject2, &mut sync);
    let mut lock = abi::D3DKMT_LOCK2 {
        hDevice: foreign_device,
        hAllocation: foreign_device,
        ..Default::default()
    };
    row(table, FOREIGN, N::Lock2, &mut lock);
    let mut error = abi::D3DKMT_MARKDEVICEASERROR {
        hDevice: foreign_device,
        ..Default::default()
    };
    row(table, FOREIGN, N::MarkDeviceAsError, &mut error);
    let objects = [foreign_device];
    let values = [1u64];
    let mut signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: live.device,
        ObjectCount: 1,
        ObjectHandleArray: objects.as_ptr() as u64,
        FenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    row(
        table,
        FOREIGN,
        N::SignalSynchronizationObjectFromCpu,
        &mut signal,
    );
    let mut destroy = abi::D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        hSyncObject: foreign_device,
    };
    row(
        table,
        FOREIGN,
        N::DestroySynchronizationObject,
        &mut destroy,
    );
}
