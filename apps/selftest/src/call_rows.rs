//! The rows of the mode-7 table ([`crate::invalid_arguments`]) that run on a live device,
//! described as data: each row names a D3DKMT call, the fields of its argument struct that are
//! set (every other byte is zero) and the status it must end in. [`rows!`] turns
//! `Kind Call STRUCT { Field: value, ... }` into a [`Row`] (field offsets from `offset_of!`), so
//! a row is one line, not another struct literal. The groups: oversize and huge counts, bad
//! nested pointers (unmapped, kernel), live handles of the wrong kind, made-up handles and
//! LUIDs, another process's handles, and the calls dxgos does not serve.

use userlib::abi::status::{STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED};
use userlib::abi::{self, D3DKMT_HANDLE, flags};
use userlib::sys::SyscallNumber as N;

use crate::invalid_arguments::{
    ADAPTER_SWAPPED, BAD_POINTER, Expectation, FOREIGN, KERNEL_ADDRESS, MADE_UP_HANDLE, OVERSIZE,
    SWAPPED, Table, UNMAPPED, export_name,
};

/// A made-up handle where the call takes one.
const BAD_HANDLE: Expectation = ("bad handle", STATUS_INVALID_HANDLE);
/// A LUID no adapter has.
const UNKNOWN_LUID: Expectation = ("unknown LUID", STATUS_INVALID_PARAMETER);
/// A call dxgos does not serve, given live handles: still not served, nothing created.
const UNSERVED: Expectation = ("unserved call with live handles", STATUS_NOT_SUPPORTED);
/// Statistics of another process (`hProcess`), which dxgos does not give out.
const OTHER_PROCESS: Expectation = ("another process's statistics", STATUS_NOT_SUPPORTED);

/// What one field of a row's argument struct holds. Handles are written as 4 bytes, the rest
/// (addresses, 64-bit values) as 8, except [`Value::Word`].
#[derive(Clone, Copy)]
pub(crate) enum Value {
    /// This process's adapter.
    Adapter,
    /// This process's device.
    Device,
    /// This process's context.
    Context,
    /// This process's monitored fence.
    Fence,
    /// This process's 4 KiB allocation.
    Allocation,
    /// Another process's device handle.
    Foreign,
    /// A handle no process was given.
    MadeUp,
    /// A 32-bit value.
    Word(u32),
    /// A 64-bit value.
    Quad(u64),
    /// An address in the kernel half.
    Kernel,
    /// An unmapped user address.
    Unmapped,
    /// A readable array of 40 fence handles.
    Fences,
    /// A readable array of 40 fence values (1).
    Values,
    /// A readable array holding the context handle.
    Contexts,
    /// A readable array holding another process's device handle.
    Foreigns,
    /// A readable `D3DDDI_ALLOCATIONINFO2` asking for a 4 KiB allocation.
    AllocationInfo,
    /// 64 writable bytes.
    Buffer,
}

/// One row: `call` with `fields` set must end in `kind`'s status.
pub(crate) struct Row {
    kind: Expectation,
    call: N,
    fields: &'static [(usize, Value)],
}

/// `Kind Call STRUCT { Field: value, ... }` rows; see the module docs.
macro_rules! rows {
    ($($kind:ident $call:ident $abi:ident { $($($field:ident).+: $value:expr),* $(,)? })*) => {
        &[$(Row {
            kind: $kind,
            call: N::$call,
            fields: &[$((core::mem::offset_of!(abi::$abi, $($field).+), $value)),*],
        }),*]
    };
}

use Value::*;

/// A count far above every D3DKMT limit.
const HUGE: u32 = u32::MAX;
/// `D3DDDI_SYNCHRONIZATIONOBJECTINFO2.Type` of a monitored fence.
const MONITORED_FENCE: u32 = flags::D3DDDI_MONITORED_FENCE;

/// The rows; `Foreign` rows run only when another process's device handle was given.
const ROWS: &[Row] = rows! {
    OVERSIZE WaitForSynchronizationObjectFromCpu D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(33), ObjectHandleArray: Fences, FenceValueArray: Values }
    OVERSIZE SignalSynchronizationObjectFromGpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU { hContext: Context, ObjectCount: Word(33), ObjectHandleArray: Fences, MonitoredFenceValueArray: Values }
    OVERSIZE SignalSynchronizationObjectFromCpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(33), ObjectHandleArray: Fences, FenceValueArray: Values }
    OVERSIZE SubmitCommand D3DKMT_SUBMITCOMMAND { BroadcastContextCount: Word(65), BroadcastContext: Context }
    OVERSIZE CreateAllocation2 D3DKMT_CREATEALLOCATION { hDevice: Device, NumAllocations: Word(1025), pAllocationInfo2: Unmapped }
    OVERSIZE QueryAdapterInfo D3DKMT_QUERYADAPTERINFO { hAdapter: Adapter, Type: Word(15), pPrivateDriverData: Buffer, PrivateDriverDataSize: Word(0x7fff_ffff) }
    OVERSIZE MakeResident D3DDDI_MAKERESIDENT { NumAllocations: Word(HUGE), AllocationList: Fences }
    OVERSIZE Evict D3DKMT_EVICT { hDevice: Device, NumAllocations: Word(HUGE), AllocationList: Fences }
    OVERSIZE DestroyAllocation2 D3DKMT_DESTROYALLOCATION2 { hDevice: Device, phAllocationList: Fences, AllocationCount: Word(HUGE) }
    OVERSIZE SetAllocationPriority D3DKMT_SETALLOCATIONPRIORITY { hDevice: Device, phAllocationList: Fences, AllocationCount: Word(HUGE), pPriorities: Buffer }
    OVERSIZE GetAllocationPriority D3DKMT_GETALLOCATIONPRIORITY { hDevice: Device, phAllocationList: Fences, AllocationCount: Word(HUGE), pPriorities: Buffer }
    OVERSIZE QueryAllocationResidency D3DKMT_QUERYALLOCATIONRESIDENCY { hDevice: Device, phAllocationList: Fences, AllocationCount: Word(HUGE), pResidencyStatus: Buffer }
    OVERSIZE OfferAllocations D3DKMT_OFFERALLOCATIONS { hDevice: Device, HandleList: Fences, NumAllocations: Word(HUGE) }
    OVERSIZE ReclaimAllocations2 D3DKMT_RECLAIMALLOCATIONS2 { NumAllocations: Word(HUGE), HandleList: Fences, pResults: Buffer }
    OVERSIZE CreateAllocation2 D3DKMT_CREATEALLOCATION { hDevice: Device, NumAllocations: Word(HUGE), pAllocationInfo2: Fences }
    OVERSIZE WaitForSynchronizationObjectFromGpu D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU { hContext: Context, ObjectCount: Word(33), ObjectHandleArray: Fences, MonitoredFenceValueArray: Values }
    OVERSIZE SignalSynchronizationObject2 D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 { hContext: Context, ObjectCount: Word(33) }
    OVERSIZE WaitForSynchronizationObject2 D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 { hContext: Context, ObjectCount: Word(33) }
    OVERSIZE SubmitCommandToHwQueue D3DKMT_SUBMITCOMMANDTOHWQUEUE { NumPrimaries: Word(17), WrittenPrimaries: Fences }
    OVERSIZE UpdateGpuVirtualAddress D3DKMT_UPDATEGPUVIRTUALADDRESS { hDevice: Device, hContext: Context, NumOperations: Word(HUGE), pOperations: Fences }

    BAD_POINTER WaitForSynchronizationObjectFromCpu D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(1), ObjectHandleArray: Unmapped, FenceValueArray: Values }
    BAD_POINTER SubmitCommand D3DKMT_SUBMITCOMMAND { BroadcastContextCount: Word(1), BroadcastContext: Context, pPrivateDriverData: Unmapped, PrivateDriverDataSize: Word(32) }
    BAD_POINTER CreateAllocation2 D3DKMT_CREATEALLOCATION { hDevice: Device, NumAllocations: Word(1), pAllocationInfo2: Unmapped }
    BAD_POINTER QueryAdapterInfo D3DKMT_QUERYADAPTERINFO { hAdapter: Adapter, Type: Word(15), pPrivateDriverData: Kernel, PrivateDriverDataSize: Word(8) }
    BAD_POINTER EnumAdapters2 D3DKMT_ENUMADAPTERS2 { NumAdapters: Word(4), pAdapters: Unmapped }
    BAD_POINTER MakeResident D3DDDI_MAKERESIDENT { NumAllocations: Word(1), AllocationList: Kernel }
    BAD_POINTER Evict D3DKMT_EVICT { hDevice: Device, NumAllocations: Word(1), AllocationList: Kernel }
    BAD_POINTER DestroyAllocation2 D3DKMT_DESTROYALLOCATION2 { hDevice: Device, phAllocationList: Kernel, AllocationCount: Word(1) }
    BAD_POINTER SetAllocationPriority D3DKMT_SETALLOCATIONPRIORITY { hDevice: Device, phAllocationList: Kernel, AllocationCount: Word(1), pPriorities: Buffer }
    BAD_POINTER SignalSynchronizationObjectFromCpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(1), ObjectHandleArray: Kernel, FenceValueArray: Values }
    BAD_POINTER SignalSynchronizationObjectFromCpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(1), ObjectHandleArray: Fences, FenceValueArray: Kernel }
    BAD_POINTER Escape D3DKMT_ESCAPE { hAdapter: Adapter, hDevice: Device, pPrivateDriverData: Kernel, PrivateDriverDataSize: Word(8) }
    BAD_POINTER CreateContextVirtual D3DKMT_CREATECONTEXTVIRTUAL { hDevice: Device, pPrivateDriverData: Kernel, PrivateDriverDataSize: Word(8) }
    BAD_POINTER EnumAdapters3 D3DKMT_ENUMADAPTERS3 { NumAdapters: Word(4), pAdapters: Kernel }
    BAD_POINTER OfferAllocations D3DKMT_OFFERALLOCATIONS { hDevice: Device, HandleList: Kernel, NumAllocations: Word(1) }
    BAD_POINTER WaitForSynchronizationObjectFromGpu D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU { hContext: Context, ObjectCount: Word(1), ObjectHandleArray: Kernel, MonitoredFenceValueArray: Values }

    SWAPPED GetDeviceState D3DKMT_GETDEVICESTATE { hDevice: Context, StateType: Word(1) }
    SWAPPED CreateContextVirtual D3DKMT_CREATECONTEXTVIRTUAL { hDevice: Fence }
    SWAPPED Lock2 D3DKMT_LOCK2 { hDevice: Device, hAllocation: Context }
    SWAPPED DestroyContext D3DKMT_DESTROYCONTEXT { hContext: Fence }
    SWAPPED DestroySynchronizationObject D3DKMT_DESTROYSYNCHRONIZATIONOBJECT { hSyncObject: Context }
    ADAPTER_SWAPPED DestroyDevice D3DKMT_DESTROYDEVICE { hDevice: Adapter }
    SWAPPED CreateAllocation2 D3DKMT_CREATEALLOCATION { hDevice: Context, NumAllocations: Word(1), pAllocationInfo2: AllocationInfo }
    SWAPPED CreatePagingQueue D3DKMT_CREATEPAGINGQUEUE { hDevice: Fence }
    SWAPPED CreateSynchronizationObject2 D3DKMT_CREATESYNCHRONIZATIONOBJECT2 { hDevice: Context, Info.Type: Word(MONITORED_FENCE) }
    SWAPPED SignalSynchronizationObjectFromCpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(1), ObjectHandleArray: Contexts, FenceValueArray: Values }
    SWAPPED SubmitCommand D3DKMT_SUBMITCOMMAND { BroadcastContextCount: Word(1), BroadcastContext: Fence }
    SWAPPED DestroyPagingQueue D3DDDI_DESTROYPAGINGQUEUE { hPagingQueue: Context }
    SWAPPED Evict D3DKMT_EVICT { hDevice: Device, NumAllocations: Word(1), AllocationList: Fences }
    SWAPPED SetContextSchedulingPriority D3DKMT_SETCONTEXTSCHEDULINGPRIORITY { hContext: Device }
    SWAPPED GetContextSchedulingPriority D3DKMT_GETCONTEXTSCHEDULINGPRIORITY { hContext: Fence }
    SWAPPED MarkDeviceAsError D3DKMT_MARKDEVICEASERROR { hDevice: Context }

    FOREIGN CreateContextVirtual D3DKMT_CREATECONTEXTVIRTUAL { hDevice: Foreign }
    FOREIGN GetDeviceState D3DKMT_GETDEVICESTATE { hDevice: Foreign, StateType: Word(1) }
    FOREIGN CreateAllocation2 D3DKMT_CREATEALLOCATION { hDevice: Foreign, NumAllocations: Word(1), pAllocationInfo2: AllocationInfo }
    FOREIGN CreatePagingQueue D3DKMT_CREATEPAGINGQUEUE { hDevice: Foreign }
    FOREIGN CreateSynchronizationObject2 D3DKMT_CREATESYNCHRONIZATIONOBJECT2 { hDevice: Foreign, Info.Type: Word(MONITORED_FENCE) }
    FOREIGN Lock2 D3DKMT_LOCK2 { hDevice: Foreign, hAllocation: Foreign }
    FOREIGN MarkDeviceAsError D3DKMT_MARKDEVICEASERROR { hDevice: Foreign }
    FOREIGN SignalSynchronizationObjectFromCpu D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU { hDevice: Device, ObjectCount: Word(1), ObjectHandleArray: Foreigns, FenceValueArray: Values }
    FOREIGN DestroySynchronizationObject D3DKMT_DESTROYSYNCHRONIZATIONOBJECT { hSyncObject: Foreign }
    FOREIGN DestroyDevice D3DKMT_DESTROYDEVICE { hDevice: Foreign }

    UNKNOWN_LUID OpenAdapterFromLuid D3DKMT_OPENADAPTERFROMLUID { AdapterLuid: Quad(0x7777_0000_0bad) }
    UNKNOWN_LUID QueryStatistics D3DKMT_QUERYSTATISTICS { Type: Word(0), AdapterLuid: Quad(0x7777_0000_0bad) }
    OTHER_PROCESS QueryStatistics D3DKMT_QUERYSTATISTICS { hProcess: Quad(4) }

    BAD_HANDLE ReserveGpuVirtualAddress D3DDDI_RESERVEGPUVIRTUALADDRESS { hAdapter: MadeUp, Size: Quad(4096) }
    SWAPPED ReserveGpuVirtualAddress D3DDDI_RESERVEGPUVIRTUALADDRESS { hAdapter: Context, Size: Quad(4096) }
    BAD_HANDLE MapGpuVirtualAddress D3DDDI_MAPGPUVIRTUALADDRESS { hPagingQueue: MadeUp, hAllocation: Allocation, SizeInPages: Quad(1) }
    SWAPPED MapGpuVirtualAddress D3DDDI_MAPGPUVIRTUALADDRESS { hPagingQueue: Context, hAllocation: Allocation, SizeInPages: Quad(1) }
    ADAPTER_SWAPPED FreeGpuVirtualAddress D3DKMT_FREEGPUVIRTUALADDRESS { hAdapter: Fence, BaseAddress: Quad(1 << 32), Size: Quad(4096) }
    SWAPPED UpdateAllocationProperty D3DDDI_UPDATEALLOCPROPERTY { hPagingQueue: Context, hAllocation: Allocation }
    ADAPTER_SWAPPED ChangeVideoMemoryReservation D3DKMT_CHANGEVIDEOMEMORYRESERVATION { hAdapter: Device }
    ADAPTER_SWAPPED FlushHeapTransitions D3DKMT_FLUSHHEAPTRANSITIONS { hAdapter: Device }
    ADAPTER_SWAPPED QueryClockCalibration D3DKMT_QUERYCLOCKCALIBRATION { hAdapter: Device }
    SWAPPED InvalidateCache D3DKMT_INVALIDATECACHE { hDevice: Device, hAllocation: Context, Length: Quad(64) }
    SWAPPED GetContextInProcessSchedulingPriority D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY { hContext: Device }
    SWAPPED SetContextInProcessSchedulingPriority D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY { hContext: Fence }
    SWAPPED ShareObjectWithHost D3DKMT_SHAREOBJECTWITHHOST { hDevice: Device, hObject: Context }

    SWAPPED CreateHwQueue D3DKMT_CREATEHWQUEUE { hHwContext: Fence }
    SWAPPED DestroyHwQueue D3DKMT_DESTROYHWQUEUE { hHwQueue: Context }
    OVERSIZE CreateHwQueue D3DKMT_CREATEHWQUEUE { hHwContext: Context, PrivateDriverDataSize: Word(0x7fff_ffff), pPrivateDriverData: Buffer }
    BAD_POINTER CreateHwQueue D3DKMT_CREATEHWQUEUE { hHwContext: Context, PrivateDriverDataSize: Word(8), pPrivateDriverData: Kernel }
    SWAPPED SubmitWaitForSyncObjectsToHwQueue D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE { hHwQueue: Fence, ObjectCount: Word(1), ObjectHandleArray: Fences, FenceValueArray: Values }
    OVERSIZE SubmitWaitForSyncObjectsToHwQueue D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE { hHwQueue: Context, ObjectCount: Word(33), ObjectHandleArray: Fences, FenceValueArray: Values }
    BAD_POINTER SubmitWaitForSyncObjectsToHwQueue D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE { hHwQueue: Context, ObjectCount: Word(1), ObjectHandleArray: Kernel, FenceValueArray: Values }
    OVERSIZE SubmitSignalSyncObjectsToHwQueue D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE { BroadcastHwQueueCount: Word(1), BroadcastHwQueueArray: Contexts, ObjectCount: Word(33), ObjectHandleArray: Fences, FenceValueArray: Values }
    BAD_POINTER SubmitSignalSyncObjectsToHwQueue D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE { BroadcastHwQueueCount: Word(1), BroadcastHwQueueArray: Kernel, ObjectCount: Word(1), ObjectHandleArray: Fences, FenceValueArray: Values }
    OVERSIZE SignalSynchronizationObjectFromGpu2 D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 { ObjectCount: Word(33), ObjectHandleArray: Fences, BroadcastContextCount: Word(1), BroadcastContextArray: Contexts, FenceValue: Quad(1) }
    BAD_POINTER SignalSynchronizationObjectFromGpu2 D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 { ObjectCount: Word(1), ObjectHandleArray: Kernel, BroadcastContextCount: Word(1), BroadcastContextArray: Contexts, FenceValue: Quad(1) }
    BAD_POINTER SignalSynchronizationObjectFromGpu2 D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 { ObjectCount: Word(1), ObjectHandleArray: Fences, BroadcastContextCount: Word(1), BroadcastContextArray: Unmapped, FenceValue: Quad(1) }

    OVERSIZE ShareObjectsInternal D3DKMT_SHAREOBJECTS { ObjectCount: Word(u32::MAX), ObjectHandleArray: Fences, phSharedNtHandle: Buffer }
    BAD_POINTER ShareObjectsInternal D3DKMT_SHAREOBJECTS { ObjectCount: Word(1), ObjectHandleArray: Kernel, phSharedNtHandle: Buffer }
    BAD_POINTER ShareObjectsInternal D3DKMT_SHAREOBJECTS { ObjectCount: Word(1), ObjectHandleArray: Fences, phSharedNtHandle: Kernel }
    BAD_HANDLE OpenResource2 D3DKMT_OPENRESOURCE { hDevice: Device, hGlobalShare: MadeUp, NumAllocations: Word(1), pOpenAllocationInfo2: Buffer }
    BAD_HANDLE OpenResourceFromNtHandle D3DKMT_OPENRESOURCEFROMNTHANDLE { hDevice: Device, hNtHandle: Quad(MADE_UP_HANDLE as u64), NumAllocations: Word(1), pOpenAllocationInfo2: Buffer }
    BAD_HANDLE QueryResourceInfoFromNtHandle D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE { hDevice: Device, hNtHandle: Quad(MADE_UP_HANDLE as u64) }
    BAD_HANDLE OpenSyncObjectFromNtHandle2 D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 { hNtHandle: Quad(MADE_UP_HANDLE as u64), hDevice: Device }

    FOREIGN CreateHwQueue D3DKMT_CREATEHWQUEUE { hHwContext: Foreign }
    FOREIGN DestroyHwQueue D3DKMT_DESTROYHWQUEUE { hHwQueue: Foreign }
    FOREIGN FlushHeapTransitions D3DKMT_FLUSHHEAPTRANSITIONS { hAdapter: Foreign }
    FOREIGN QueryClockCalibration D3DKMT_QUERYCLOCKCALIBRATION { hAdapter: Foreign }
    FOREIGN GetContextInProcessSchedulingPriority D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY { hContext: Foreign }
    FOREIGN ShareObjectWithHost D3DKMT_SHAREOBJECTWITHHOST { hDevice: Foreign, hObject: Foreign }

    UNSERVED CreateContext D3DKMT_CREATECONTEXT { hDevice: Device }
    UNSERVED CreateHwContext D3DKMT_CREATEHWCONTEXT { hDevice: Device }
    UNSERVED DestroyHwContext D3DKMT_DESTROYHWCONTEXT { hHwContext: Context }
    UNSERVED GetSharedResourceAdapterLuid D3DKMT_GETSHAREDRESOURCEADAPTERLUID { hGlobalShare: MadeUp }
    UNSERVED OpenSynchronizationObject D3DKMT_OPENSYNCHRONIZATIONOBJECT { hSharedHandle: MadeUp }
    UNSERVED QueryResourceInfo D3DKMT_QUERYRESOURCEINFO { hDevice: Device, hGlobalShare: MadeUp }
    UNSERVED Render D3DKMT_RENDER { hDevice: Device, CommandLength: Word(8) }
    UNSERVED CreateSyncFile D3DKMT_CREATESYNCFILE { hDevice: Device, hMonitoredFence: Fence, FenceValue: Quad(1) }
};

/// The live objects and buffers the rows point at.
pub(crate) struct Live {
    pub(crate) adapter: D3DKMT_HANDLE,
    pub(crate) device: D3DKMT_HANDLE,
    pub(crate) context: D3DKMT_HANDLE,
    pub(crate) fence: D3DKMT_HANDLE,
    pub(crate) allocation: D3DKMT_HANDLE,
    /// Another process's device (0: none given).
    pub(crate) foreign: D3DKMT_HANDLE,
}

/// Runs every row of [`ROWS`].
pub(crate) fn run(table: &mut Table, live: &Live) {
    let fences = [live.fence; 40];
    let values = [1u64; 40];
    let contexts = [live.context];
    let foreigns = [live.foreign];
    let mut buffer = [0u64; 8];
    let buffer_address = buffer.as_mut_ptr() as u64;
    let size = 4096u64.to_le_bytes();
    let allocation_info = abi::D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    for row in ROWS {
        let uses_foreign = row.fields.iter().any(|(_, value)| matches!(value, Foreign));
        if uses_foreign && live.foreign == 0 {
            continue;
        }
        let mut arguments = Arguments([0; 1024]);
        let bytes = &mut arguments.0;
        for &(offset, value) in row.fields {
            let (word, wide) = match value {
                Adapter => (u64::from(live.adapter), false),
                Device => (u64::from(live.device), false),
                Context => (u64::from(live.context), false),
                Fence => (u64::from(live.fence), false),
                Allocation => (u64::from(live.allocation), false),
                Foreign => (u64::from(live.foreign), false),
                MadeUp => (u64::from(MADE_UP_HANDLE), false),
                Word(value) => (u64::from(value), false),
                Quad(value) => (value, true),
                Kernel => (KERNEL_ADDRESS, true),
                Unmapped => (UNMAPPED, true),
                Fences => (fences.as_ptr() as u64, true),
                Values => (values.as_ptr() as u64, true),
                Contexts => (contexts.as_ptr() as u64, true),
                Foreigns => (foreigns.as_ptr() as u64, true),
                AllocationInfo => (core::ptr::from_ref(&allocation_info) as u64, true),
                Buffer => (buffer_address, true),
            };
            let width = if wide { 8 } else { 4 };
            if let Some(field) = bytes.get_mut(offset..offset + width) {
                field.copy_from_slice(&word.to_le_bytes()[..width]);
            }
        }
        let size = row.call.argument_size().unwrap_or(0) as u64;
        let address = arguments.0.as_mut_ptr() as u64;
        let (what, expected) = row.kind;
        let call = row.call;
        let status = table.counted(what, call, || {
            userlib::sys::result_to_status(crate::raw_syscall(call as u64, address, size, 0))
        });
        table.reach(call);
        table.check(what, export_name(call), status, expected);
    }
}

/// An 8-byte aligned, zeroed argument struct bigger than any D3DKMT struct.
#[repr(C, align(8))]
struct Arguments([u8; 1024]);
