//! The one table of D3DKMT calls: syscall number, exported C name, argument struct.
//!
//! The number of each call is the Linux dxgkrnl ioctl number of the same operation (reference
//! dxg.md §5.2), so the kernel can be checked against that table and the argument struct is the
//! one the ioctl carries. `for_each_d3dkmt_call!(callback)` expands `callback!` with the table;
//! [`crate::sys`] builds the call-number enum from it and [`crate::d3dkmt`] the C entry points.

/// Invokes `$callback! { Variant = number => ExportName(ARGUMENT_STRUCT), ... }`.
macro_rules! for_each_d3dkmt_call {
    ($callback:ident) => {
        $callback! {
            OpenAdapterFromLuid = 0x01 => D3DKMTOpenAdapterFromLuid(D3DKMT_OPENADAPTERFROMLUID),
            CreateDevice = 0x02 => D3DKMTCreateDevice(D3DKMT_CREATEDEVICE),
            CreateContext = 0x03 => D3DKMTCreateContext(D3DKMT_CREATECONTEXT),
            CreateContextVirtual = 0x04 => D3DKMTCreateContextVirtual(D3DKMT_CREATECONTEXTVIRTUAL),
            DestroyContext = 0x05 => D3DKMTDestroyContext(D3DKMT_DESTROYCONTEXT),
            CreateAllocation2 = 0x06 => D3DKMTCreateAllocation2(D3DKMT_CREATEALLOCATION),
            CreatePagingQueue = 0x07 => D3DKMTCreatePagingQueue(D3DKMT_CREATEPAGINGQUEUE),
            ReserveGpuVirtualAddress = 0x08 => D3DKMTReserveGpuVirtualAddress(D3DDDI_RESERVEGPUVIRTUALADDRESS),
            QueryAdapterInfo = 0x09 => D3DKMTQueryAdapterInfo(D3DKMT_QUERYADAPTERINFO),
            QueryVideoMemoryInfo = 0x0a => D3DKMTQueryVideoMemoryInfo(D3DKMT_QUERYVIDEOMEMORYINFO),
            MakeResident = 0x0b => D3DKMTMakeResident(D3DDDI_MAKERESIDENT),
            MapGpuVirtualAddress = 0x0c => D3DKMTMapGpuVirtualAddress(D3DDDI_MAPGPUVIRTUALADDRESS),
            Escape = 0x0d => D3DKMTEscape(D3DKMT_ESCAPE),
            GetDeviceState = 0x0e => D3DKMTGetDeviceState(D3DKMT_GETDEVICESTATE),
            SubmitCommand = 0x0f => D3DKMTSubmitCommand(D3DKMT_SUBMITCOMMAND),
            CreateSynchronizationObject2 = 0x10 => D3DKMTCreateSynchronizationObject2(D3DKMT_CREATESYNCHRONIZATIONOBJECT2),
            SignalSynchronizationObject2 = 0x11 => D3DKMTSignalSynchronizationObject2(D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2),
            WaitForSynchronizationObject2 = 0x12 => D3DKMTWaitForSynchronizationObject2(D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2),
            DestroyAllocation2 = 0x13 => D3DKMTDestroyAllocation2(D3DKMT_DESTROYALLOCATION2),
            EnumAdapters2 = 0x14 => D3DKMTEnumAdapters2(D3DKMT_ENUMADAPTERS2),
            CloseAdapter = 0x15 => D3DKMTCloseAdapter(D3DKMT_CLOSEADAPTER),
            ChangeVideoMemoryReservation = 0x16 => D3DKMTChangeVideoMemoryReservation(D3DKMT_CHANGEVIDEOMEMORYRESERVATION),
            CreateHwContext = 0x17 => D3DKMTCreateHwContext(D3DKMT_CREATEHWCONTEXT),
            CreateHwQueue = 0x18 => D3DKMTCreateHwQueue(D3DKMT_CREATEHWQUEUE),
            DestroyDevice = 0x19 => D3DKMTDestroyDevice(D3DKMT_DESTROYDEVICE),
            DestroyHwContext = 0x1a => D3DKMTDestroyHwContext(D3DKMT_DESTROYHWCONTEXT),
            DestroyHwQueue = 0x1b => D3DKMTDestroyHwQueue(D3DKMT_DESTROYHWQUEUE),
            DestroyPagingQueue = 0x1c => D3DKMTDestroyPagingQueue(D3DDDI_DESTROYPAGINGQUEUE),
            DestroySynchronizationObject = 0x1d => D3DKMTDestroySynchronizationObject(D3DKMT_DESTROYSYNCHRONIZATIONOBJECT),
            Evict = 0x1e => D3DKMTEvict(D3DKMT_EVICT),
            FlushHeapTransitions = 0x1f => D3DKMTFlushHeapTransitions(D3DKMT_FLUSHHEAPTRANSITIONS),
            FreeGpuVirtualAddress = 0x20 => D3DKMTFreeGpuVirtualAddress(D3DKMT_FREEGPUVIRTUALADDRESS),
            GetContextInProcessSchedulingPriority = 0x21 => D3DKMTGetContextInProcessSchedulingPriority(D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY),
            GetContextSchedulingPriority = 0x22 => D3DKMTGetContextSchedulingPriority(D3DKMT_GETCONTEXTSCHEDULINGPRIORITY),
            GetSharedResourceAdapterLuid = 0x23 => D3DKMTGetSharedResourceAdapterLuid(D3DKMT_GETSHAREDRESOURCEADAPTERLUID),
            InvalidateCache = 0x24 => D3DKMTInvalidateCache(D3DKMT_INVALIDATECACHE),
            Lock2 = 0x25 => D3DKMTLock2(D3DKMT_LOCK2),
            MarkDeviceAsError = 0x26 => D3DKMTMarkDeviceAsError(D3DKMT_MARKDEVICEASERROR),
            OfferAllocations = 0x27 => D3DKMTOfferAllocations(D3DKMT_OFFERALLOCATIONS),
            OpenResource2 = 0x28 => D3DKMTOpenResource2(D3DKMT_OPENRESOURCE),
            OpenSynchronizationObject = 0x29 => D3DKMTOpenSynchronizationObject(D3DKMT_OPENSYNCHRONIZATIONOBJECT),
            QueryAllocationResidency = 0x2a => D3DKMTQueryAllocationResidency(D3DKMT_QUERYALLOCATIONRESIDENCY),
            QueryResourceInfo = 0x2b => D3DKMTQueryResourceInfo(D3DKMT_QUERYRESOURCEINFO),
            ReclaimAllocations2 = 0x2c => D3DKMTReclaimAllocations2(D3DKMT_RECLAIMALLOCATIONS2),
            Render = 0x2d => D3DKMTRender(D3DKMT_RENDER),
            SetAllocationPriority = 0x2e => D3DKMTSetAllocationPriority(D3DKMT_SETALLOCATIONPRIORITY),
            SetContextInProcessSchedulingPriority = 0x2f => D3DKMTSetContextInProcessSchedulingPriority(D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY),
            SetContextSchedulingPriority = 0x30 => D3DKMTSetContextSchedulingPriority(D3DKMT_SETCONTEXTSCHEDULINGPRIORITY),
            SignalSynchronizationObjectFromCpu = 0x31 => D3DKMTSignalSynchronizationObjectFromCpu(D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU),
            SignalSynchronizationObjectFromGpu = 0x32 => D3DKMTSignalSynchronizationObjectFromGpu(D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU),
            SignalSynchronizationObjectFromGpu2 = 0x33 => D3DKMTSignalSynchronizationObjectFromGpu2(D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2),
            SubmitCommandToHwQueue = 0x34 => D3DKMTSubmitCommandToHwQueue(D3DKMT_SUBMITCOMMANDTOHWQUEUE),
            SubmitSignalSyncObjectsToHwQueue = 0x35 => D3DKMTSubmitSignalSyncObjectsToHwQueue(D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE),
            SubmitWaitForSyncObjectsToHwQueue = 0x36 => D3DKMTSubmitWaitForSyncObjectsToHwQueue(D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE),
            Unlock2 = 0x37 => D3DKMTUnlock2(D3DKMT_UNLOCK2),
            UpdateAllocationProperty = 0x38 => D3DKMTUpdateAllocationProperty(D3DDDI_UPDATEALLOCPROPERTY),
            UpdateGpuVirtualAddress = 0x39 => D3DKMTUpdateGpuVirtualAddress(D3DKMT_UPDATEGPUVIRTUALADDRESS),
            WaitForSynchronizationObjectFromCpu = 0x3a => D3DKMTWaitForSynchronizationObjectFromCpu(D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU),
            WaitForSynchronizationObjectFromGpu = 0x3b => D3DKMTWaitForSynchronizationObjectFromGpu(D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU),
            GetAllocationPriority = 0x3c => D3DKMTGetAllocationPriority(D3DKMT_GETALLOCATIONPRIORITY),
            QueryClockCalibration = 0x3d => D3DKMTQueryClockCalibration(D3DKMT_QUERYCLOCKCALIBRATION),
            EnumAdapters3 = 0x3e => D3DKMTEnumAdapters3(D3DKMT_ENUMADAPTERS3),
            ShareObjectsInternal = 0x3f => D3DKMTShareObjectsInternal(D3DKMT_SHAREOBJECTS),
            OpenSyncObjectFromNtHandle2 = 0x40 => D3DKMTOpenSyncObjectFromNtHandle2(D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2),
            QueryResourceInfoFromNtHandle = 0x41 => D3DKMTQueryResourceInfoFromNtHandle(D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE),
            OpenResourceFromNtHandle = 0x42 => D3DKMTOpenResourceFromNtHandle(D3DKMT_OPENRESOURCEFROMNTHANDLE),
            QueryStatistics = 0x43 => D3DKMTQueryStatistics(D3DKMT_QUERYSTATISTICS),
            ShareObjectWithHost = 0x44 => D3DKMTShareObjectWithHost(D3DKMT_SHAREOBJECTWITHHOST),
            CreateSyncFile = 0x45 => D3DKMTCreateSyncFile(D3DKMT_CREATESYNCFILE),
        }
    };
}
pub(crate) use for_each_d3dkmt_call;

/// Entry points libdxg itself stubs out with `STATUS_NOT_SUPPORTED` (reference dxg.md §5.3);
/// dxgos exports them with the same answer. Each takes one pointer argument.
macro_rules! for_each_not_supported {
    ($callback:ident) => {
        $callback! {
            D3DKMTGetMultisampleMethodList, D3DKMTSetQueuedLimit, D3DKMTOpenNtHandleFromName,
            D3DKMTOpenSyncObjectNtHandleFromName, D3DKMTOpenProtectedSessionFromNtHandle,
            D3DKMTLock, D3DKMTUnlock, D3DKMTSetDisplayPrivateDriverFormat,
            D3DKMTCreateProtectedSession, D3DKMTDestroyProtectedSession,
            D3DKMTQueryProtectedSessionStatus, D3DKMTCreateTrackedWorkload,
            D3DKMTDestroyTrackedWorkload, D3DKMTGetTrackedWorkloadStatistics,
            D3DKMTResetTrackedWorkloadStatistics, D3DKMTUpdateTrackedWorkload,
            D3DKMTGetAvailableTrackedWorkloadIndex, D3DKMTCreateKeyedMutex2, D3DKMTOpenKeyedMutex2,
            D3DKMTDestroyKeyedMutex, D3DKMTAcquireKeyedMutex2, D3DKMTReleaseKeyedMutex2,
            D3DKMTQueryProtectedSessionInfoFromNtHandle, D3DKMTPresent,
            D3DKMTSubmitPresentToHwQueue, D3DKMTPinResources, D3DKMTUnpinResources,
        }
    };
}
pub(crate) use for_each_not_supported;
