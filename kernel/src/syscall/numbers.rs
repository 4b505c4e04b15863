//! The syscall numbers and D3DKMT argument sizes of `docs/d3dkmt.md` (the convention userlib's
//! `sys` module defines; the kernel does not depend on userlib, so the table is transcribed
//! here and checked against userlib's `D3DKMT_CALLS` by hand when either changes).

/// End the process: `rdi` = exit code.
pub const EXIT: u64 = 0x100;
/// Write UTF-8 text: `rdi` = address, `rsi` = length; returns bytes written or an NTSTATUS.
pub const WRITE_CONSOLE: u64 = 0x101;
/// Describe the framebuffer (`STATUS_NOT_SUPPORTED` without a framebuffer grant).
pub const GET_FRAMEBUFFER_INFO: u64 = 0x102;
/// Map the framebuffer into the process (idempotent).
pub const MAP_FRAMEBUFFER: u64 = 0x103;
/// Yield to the other ready tasks.
pub const YIELD: u64 = 0x104;
/// Sleep `rdi` microseconds.
pub const SLEEP: u64 = 0x105;

/// `(number, sizeof argument struct)` of every D3DKMT call (the Linux dxgkrnl ioctl numbers).
const D3DKMT_ARGUMENT_SIZES: [(u32, usize); 69] = [
    (0x01, 12),  // D3DKMTOpenAdapterFromLuid
    (0x02, 64),  // D3DKMTCreateDevice
    (0x03, 96),  // D3DKMTCreateContext
    (0x04, 40),  // D3DKMTCreateContextVirtual
    (0x05, 4),   // D3DKMTDestroyContext
    (0x06, 72),  // D3DKMTCreateAllocation2
    (0x07, 32),  // D3DKMTCreatePagingQueue
    (0x08, 72),  // D3DKMTReserveGpuVirtualAddress
    (0x09, 24),  // D3DKMTQueryAdapterInfo
    (0x0a, 56),  // D3DKMTQueryVideoMemoryInfo
    (0x0b, 48),  // D3DKMTMakeResident
    (0x0c, 104), // D3DKMTMapGpuVirtualAddress
    (0x0d, 32),  // D3DKMTEscape
    (0x0e, 56),  // D3DKMTGetDeviceState
    (0x0f, 384), // D3DKMTSubmitCommand
    (0x10, 96),  // D3DKMTCreateSynchronizationObject2
    (0x11, 464), // D3DKMTSignalSynchronizationObject2
    (0x12, 200), // D3DKMTWaitForSynchronizationObject2
    (0x13, 24),  // D3DKMTDestroyAllocation2
    (0x14, 16),  // D3DKMTEnumAdapters2
    (0x15, 4),   // D3DKMTCloseAdapter
    (0x16, 32),  // D3DKMTChangeVideoMemoryReservation
    (0x17, 40),  // D3DKMTCreateHwContext
    (0x18, 48),  // D3DKMTCreateHwQueue
    (0x19, 4),   // D3DKMTDestroyDevice
    (0x1a, 4),   // D3DKMTDestroyHwContext
    (0x1b, 4),   // D3DKMTDestroyHwQueue
    (0x1c, 4),   // D3DKMTDestroyPagingQueue
    (0x1d, 4),   // D3DKMTDestroySynchronizationObject
    (0x1e, 32),  // D3DKMTEvict
    (0x1f, 4),   // D3DKMTFlushHeapTransitions
    (0x20, 24),  // D3DKMTFreeGpuVirtualAddress
    (0x21, 8),   // D3DKMTGetContextInProcessSchedulingPriority
    (0x22, 8),   // D3DKMTGetContextSchedulingPriority
    (0x23, 24),  // D3DKMTGetSharedResourceAdapterLuid
    (0x24, 24),  // D3DKMTInvalidateCache
    (0x25, 24),  // D3DKMTLock2
    (0x26, 8),   // D3DKMTMarkDeviceAsError
    (0x27, 40),  // D3DKMTOfferAllocations
    (0x28, 72),  // D3DKMTOpenResource2
    (0x29, 72),  // D3DKMTOpenSynchronizationObject
    (0x2a, 32),  // D3DKMTQueryAllocationResidency
    (0x2b, 32),  // D3DKMTQueryResourceInfo
    (0x2c, 40),  // D3DKMTReclaimAllocations2
    (0x2d, 368), // D3DKMTRender
    (0x2e, 32),  // D3DKMTSetAllocationPriority
    (0x2f, 8),   // D3DKMTSetContextInProcessSchedulingPriority
    (0x30, 8),   // D3DKMTSetContextSchedulingPriority
    (0x31, 32),  // D3DKMTSignalSynchronizationObjectFromCpu
    (0x32, 80),  // D3DKMTSignalSynchronizationObjectFromGpu
    (0x33, 96),  // D3DKMTSignalSynchronizationObjectFromGpu2
    (0x34, 56),  // D3DKMTSubmitCommandToHwQueue
    (0x35, 40),  // D3DKMTSubmitSignalSyncObjectsToHwQueue
    (0x36, 24),  // D3DKMTSubmitWaitForSyncObjectsToHwQueue
    (0x37, 8),   // D3DKMTUnlock2
    (0x38, 40),  // D3DKMTUpdateAllocationProperty
    (0x39, 56),  // D3DKMTUpdateGpuVirtualAddress
    (0x3a, 40),  // D3DKMTWaitForSynchronizationObjectFromCpu
    (0x3b, 80),  // D3DKMTWaitForSynchronizationObjectFromGpu
    (0x3c, 32),  // D3DKMTGetAllocationPriority
    (0x3d, 40),  // D3DKMTQueryClockCalibration
    (0x3e, 24),  // D3DKMTEnumAdapters3
    (0x3f, 40),  // D3DKMTShareObjectsInternal(behind`D3DKMTShareObjects`)
    (0x40, 88),  // D3DKMTOpenSyncObjectFromNtHandle2
    (0x41, 40),  // D3DKMTQueryResourceInfoFromNtHandle
    (0x42, 104), // D3DKMTOpenResourceFromNtHandle
    (0x43, 808), // D3DKMTQueryStatistics
    (0x44, 24),  // D3DKMTShareObjectWithHost
    (0x45, 24),  // D3DKMTCreateSyncFile
];

/// The argument-struct size of D3DKMT call `number`, or `None` if there is no such call.
pub fn d3dkmt_argument_size(number: u64) -> Option<usize> {
    let number = u32::try_from(number).ok()?;
    D3DKMT_ARGUMENT_SIZES
        .iter()
        .find(|(candidate, _)| *candidate == number)
        .map(|(_, size)| *size)
}
