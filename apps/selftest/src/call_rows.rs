//! Rows of the mode-7 table ([`crate::invalid_arguments`]) described as data: each row names a
//! D3DKMT call, the fields of its argument struct that are set (every other byte is zero) and
//! the status it must end in. [`rows!`] turns `Kind Call STRUCT { Field: value, ... }` into a
//! [`Row`] (field offsets from `offset_of!`), so a new row is one line, not another struct
//! literal. These rows reach the calls the generic rows alone covered: GPU virtual addresses,
//! hardware queues, scheduling priorities, residency, sharing by NT handle, statistics, and the
//! calls dxgos does not serve.

use userlib::abi::status::{STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED};
use userlib::abi::{self, D3DKMT_HANDLE};
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
    /// A readable array of four fence handles.
    Fences,
    /// A readable array of four fence values (1).
    Values,
    /// A readable array holding the context handle.
    Contexts,
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
    ($($kind:ident $call:ident $abi:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        &[$(Row {
            kind: $kind,
            call: N::$call,
            fields: &[$((core::mem::offset_of!(abi::$abi, $field), $value)),*],
        }),*]
    };
}

use Value::*;

/// The rows; `Foreign` rows run only when another process's device handle was given.
const ROWS: &[Row] = rows! {
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
    let fences = [live.fence; 4];
    let values = [1u64; 4];
    let contexts = [live.context];
    let mut buffer = [0u64; 8];
    let buffer_address = buffer.as_mut_ptr() as u64;
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
