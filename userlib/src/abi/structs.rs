//! The struct definitions (one `abi_structs!` table; see the module docs for the conventions).
//!
//! Sizes and offsets follow `d3dkmthk.h` for x86-64 (layout-identical to the Linux dxgkrnl uapi
//! structs that libdxg's ioctls carry); they are checked in `super::tests` against numbers
//! written from the reference.

use super::{D3DGPU_VIRTUAL_ADDRESS, D3DKMT_HANDLE, abi_structs};

abi_structs! {
    /// A locally unique identifier (`LUID`): identifies an adapter.
    LUID {
        /// Low 32 bits.
        LowPart: u32 => "UINT",
        /// High 32 bits.
        HighPart: i32 => "LONG",
    }

    /// One adapter returned by `D3DKMTEnumAdapters2/3`.
    D3DKMT_ADAPTERINFO {
        /// Adapter handle (opened for the caller; close with `D3DKMTCloseAdapter`).
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Adapter LUID.
        AdapterLuid: LUID => "LUID",
        /// Number of VidPN sources.
        NumOfSources: u32 => "UINT",
        /// BOOL.
        bPrecisePresentRegionsPreferred: u32 => "UINT",
    }

    /// `D3DKMTEnumAdapters2`.
    D3DKMT_ENUMADAPTERS2 {
        /// in: capacity of `pAdapters`; out: number of adapters.
        NumAdapters: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in: array of `NumAdapters` entries (or null to query the count).
        pAdapters: u64 => "D3DKMT_ADAPTERINFO*",
    }

    /// `D3DKMTEnumAdapters3`.
    D3DKMT_ENUMADAPTERS3 {
        /// `D3DKMT_ENUMADAPTERS_FILTER` (bit 0 IncludeComputeOnly, bit 1 IncludeDisplayOnly).
        Filter: u64 => "UINT64",
        /// in/out: as in `D3DKMT_ENUMADAPTERS2`.
        NumAdapters: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in: adapter array.
        pAdapters: u64 => "D3DKMT_ADAPTERINFO*",
    }

    /// `D3DKMTOpenAdapterFromLuid`.
    D3DKMT_OPENADAPTERFROMLUID {
        /// in.
        AdapterLuid: LUID => "LUID",
        /// out.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTCloseAdapter`.
    D3DKMT_CLOSEADAPTER {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTQueryAdapterInfo`.
    D3DKMT_QUERYADAPTERINFO {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `KMTQUERYADAPTERINFOTYPE`.
        Type: u32 => "UINT",
        /// in/out: the caller's buffer.
        pPrivateDriverData: u64 => "VOID*",
        /// in: buffer size.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTCreateDevice`.
    D3DKMT_CREATEDEVICE {
        /// in (union with the kernel-mode `pAdapter`).
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// The upper half of the 8-byte adapter union.
        _Padding0: u32 => "UINT",
        /// in: `D3DKMT_CREATEDEVICEFLAGS`.
        Flags: u32 => "UINT",
        /// out.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out: D3D10 compatibility.
        pCommandBuffer: u64 => "VOID*",
        /// out.
        CommandBufferSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        pAllocationList: u64 => "VOID*",
        /// out.
        AllocationListSize: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// out.
        pPatchLocationList: u64 => "VOID*",
        /// out.
        PatchLocationListSize: u32 => "UINT",
        /// Padding.
        _Padding3: u32 => "UINT",
    }

    /// `D3DKMTDestroyDevice`.
    D3DKMT_DESTROYDEVICE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTCreateContext` (legacy; the Linux driver does not implement it).
    D3DKMT_CREATECONTEXT {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NodeOrdinal: u32 => "UINT",
        /// in.
        EngineAffinity: u32 => "UINT",
        /// in: `D3DDDI_CREATECONTEXTFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in: `D3DKMT_CLIENTHINT`.
        ClientHint: u32 => "UINT",
        /// out.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        pCommandBuffer: u64 => "VOID*",
        /// out.
        CommandBufferSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        pAllocationList: u64 => "VOID*",
        /// out.
        AllocationListSize: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// out.
        pPatchLocationList: u64 => "VOID*",
        /// out.
        PatchLocationListSize: u32 => "UINT",
        /// Padding.
        _Padding3: u32 => "UINT",
        /// out.
        CommandBuffer: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
    }

    /// `D3DKMTCreateContextVirtual`.
    D3DKMT_CREATECONTEXTVIRTUAL {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NodeOrdinal: u32 => "UINT",
        /// in.
        EngineAffinity: u32 => "UINT",
        /// in: `D3DDDI_CREATECONTEXTFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in: `D3DKMT_CLIENTHINT`.
        ClientHint: u32 => "UINT",
        /// out.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTDestroyContext`.
    D3DKMT_DESTROYCONTEXT {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTCreatePagingQueue`.
    D3DKMT_CREATEPAGINGQUEUE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DDDI_PAGINGQUEUE_PRIORITY` (−1, 0, 1).
        Priority: i32 => "INT",
        /// out.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out: the queue's monitored fence.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        FenceValueCPUVirtualAddress: u64 => "VOID*",
        /// in.
        PhysicalAdapterIndex: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTDestroyPagingQueue`.
    D3DDDI_DESTROYPAGINGQUEUE {
        /// in.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// One allocation of `D3DKMT_CREATEALLOCATION`.
    D3DDDI_ALLOCATIONINFO2 {
        /// out.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in: existing system memory (union with `hSection`).
        pSystemMem: u64 => "const VOID*",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in.
        VidPnSourceId: u32 => "UINT",
        /// in: `D3DDDI_ALLOCATIONINFOFLAGS_WDDM2_0`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        GpuVirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in: priority (union with a 64-bit `Unused`).
        Priority: u32 => "UINT",
        /// The upper half of the priority union.
        _Padding2: u32 => "UINT",
        /// Reserved.
        Reserved: [u64; 5] => "UINT64[5]",
    }

    /// `D3DKMTCreateAllocation2`.
    D3DKMT_CREATEALLOCATION {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in/out.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        hGlobalShare: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateRuntimeData: u64 => "const VOID*",
        /// in.
        PrivateRuntimeDataSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in (union with `pStandardAllocation`).
        pPrivateDriverData: u64 => "const VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in.
        NumAllocations: u32 => "UINT",
        /// in/out (union with the legacy `pAllocationInfo`).
        pAllocationInfo2: u64 => "D3DDDI_ALLOCATIONINFO2*",
        /// in: `D3DKMT_CREATEALLOCATIONFLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// in.
        hPrivateRuntimeResourceHandle: u64 => "HANDLE",
    }

    /// `D3DKMT_CREATESTANDARDALLOCATION`: what `D3DKMT_CREATEALLOCATION.pPrivateDriverData`
    /// points to when the StandardAllocation flag is set (the uapi's
    /// `d3dkmt_createstandardallocation`).
    D3DKMT_CREATESTANDARDALLOCATION {
        /// in: `D3DKMT_STANDARDALLOCATIONTYPE` (1 EXISTINGHEAP, 2 CROSSADAPTER).
        Type: u32 => "UINT",
        /// Reserved.
        _Padding0: u32 => "UINT",
        /// in: the heap's size in bytes (`ExistingHeapData.Size`; non-zero, page-aligned).
        ExistingHeapSize: u64 => "UINT64",
        /// in: `D3DKMT_CREATESTANDARDALLOCATIONFLAGS`.
        Flags: u32 => "UINT",
        /// Reserved.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTDestroyAllocation` (libdxg's v1 form; userlib sends it as
    /// `D3DKMTDestroyAllocation2` with no flags).
    D3DKMT_DESTROYALLOCATION {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        phAllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        AllocationCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTDestroyAllocation2`.
    D3DKMT_DESTROYALLOCATION2 {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        phAllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        AllocationCount: u32 => "UINT",
        /// in: `D3DDDICB_DESTROYALLOCATION2FLAGS`.
        Flags: u32 => "UINT",
    }

    /// `D3DKMTLock2`.
    D3DKMT_LOCK2 {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DDDICB_LOCK2FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out: the CPU mapping.
        pData: u64 => "VOID*",
    }

    /// `D3DKMTUnlock2`.
    D3DKMT_UNLOCK2 {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTMakeResident`.
    D3DDDI_MAKERESIDENT {
        /// in.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NumAllocations: u32 => "UINT",
        /// in.
        AllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        PriorityList: u64 => "const UINT*",
        /// in: `D3DDDI_MAKERESIDENT_FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        PagingFenceValue: u64 => "UINT64",
        /// out.
        NumBytesToTrim: u64 => "UINT64",
    }

    /// `D3DKMTEvict`.
    D3DKMT_EVICT {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NumAllocations: u32 => "UINT",
        /// in.
        AllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in: `D3DDDI_EVICT_FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        NumBytesToTrim: u64 => "UINT64",
    }

    /// `D3DKMTMapGpuVirtualAddress`.
    D3DDDI_MAPGPUVIRTUALADDRESS {
        /// in.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        BaseAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        MinimumAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        MaximumAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in.
        OffsetInPages: u64 => "UINT64",
        /// in.
        SizeInPages: u64 => "UINT64",
        /// in: `D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE`.
        Protection: u64 => "UINT64",
        /// in.
        DriverProtection: u64 => "UINT64",
        /// Reserved.
        Reserved0: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// Reserved.
        Reserved1: u64 => "UINT64",
        /// out.
        VirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// out.
        PagingFenceValue: u64 => "UINT64",
    }

    /// `D3DKMTReserveGpuVirtualAddress`.
    D3DDDI_RESERVEGPUVIRTUALADDRESS {
        /// in (union with `hPagingQueue`).
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        BaseAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        MinimumAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        MaximumAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        Size: u64 => "UINT64",
        /// in: `D3DDDIGPUVIRTUALADDRESS_RESERVATION_TYPE`.
        ReservationType: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in.
        DriverProtection: u64 => "UINT64",
        /// out.
        VirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// out.
        PagingFenceValue: u64 => "UINT64",
    }

    /// `D3DKMTFreeGpuVirtualAddress`.
    D3DKMT_FREEGPUVIRTUALADDRESS {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        BaseAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        Size: u64 => "UINT64",
    }

    /// One operation of `D3DKMT_UPDATEGPUVIRTUALADDRESS` (shown as its Map/MapProtect member; for
    /// Copy, `SourceAddress` = `BaseAddress`, `DestAddress` = the 8 bytes at offset 24).
    D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
        /// `D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION_TYPE`.
        OperationType: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// Map: base address.
        BaseAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// Map: size.
        SizeInBytes: u64 => "UINT64",
        /// Map: allocation.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// Map: offset in the allocation.
        AllocationOffsetInBytes: u64 => "UINT64",
        /// Map: size in the allocation.
        AllocationSizeInBytes: u64 => "UINT64",
        /// MapProtect: protection.
        Protection: u64 => "UINT64",
        /// MapProtect: driver protection.
        DriverProtection: u64 => "UINT64",
    }

    /// `D3DKMTUpdateGpuVirtualAddress`.
    D3DKMT_UPDATEGPUVIRTUALADDRESS {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hFenceObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NumOperations: u32 => "UINT",
        /// in.
        pOperations: u64 => "D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION*",
        /// Reserved.
        Reserved0: u64 => "UINT64",
        /// Reserved.
        Reserved1: u64 => "UINT64",
        /// in.
        FenceValue: u64 => "UINT64",
        /// in: bit 0 DoNotWait.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTQueryVideoMemoryInfo`.
    D3DKMT_QUERYVIDEOMEMORYINFO {
        /// in: process (0 = the caller).
        hProcess: u64 => "HANDLE",
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DKMT_MEMORY_SEGMENT_GROUP`.
        MemorySegmentGroup: u32 => "UINT",
        /// out.
        Budget: u64 => "UINT64",
        /// out.
        CurrentUsage: u64 => "UINT64",
        /// out.
        CurrentReservation: u64 => "UINT64",
        /// out.
        AvailableForReservation: u64 => "UINT64",
        /// in.
        PhysicalAdapterIndex: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTChangeVideoMemoryReservation`.
    D3DKMT_CHANGEVIDEOMEMORYRESERVATION {
        /// in.
        hProcess: u64 => "HANDLE",
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        MemorySegmentGroup: u32 => "UINT",
        /// in.
        Reservation: u64 => "UINT64",
        /// in.
        PhysicalAdapterIndex: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTEscape`.
    D3DKMT_ESCAPE {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DKMT_ESCAPETYPE`.
        Type: u32 => "UINT",
        /// in: `D3DDDI_ESCAPEFLAGS`.
        Flags: u32 => "UINT",
        /// in/out.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTGetDeviceState`.
    D3DKMT_GETDEVICESTATE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DKMT_DEVICESTATE_TYPE`.
        StateType: u32 => "UINT",
        /// out (first 4 bytes of the 48-byte state union).
        ExecutionState: u32 => "UINT",
        /// The rest of the state union (present / reset / page-fault states).
        _StateRest0: u32 => "UINT",
        /// The rest of the state union.
        _StateRest: [u64; 5] => "UINT64[5]",
    }

    /// `D3DKMTSubmitCommand`.
    D3DKMT_SUBMITCOMMAND {
        /// in: command buffer GPU VA.
        Commands: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        CommandLength: u32 => "UINT",
        /// in: `D3DKMT_SUBMITCOMMANDFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        PresentHistoryToken: u64 => "UINT64",
        /// in.
        BroadcastContextCount: u32 => "UINT",
        /// in.
        BroadcastContext: [D3DKMT_HANDLE; 64] => "D3DKMT_HANDLE[64]",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in.
        NumPrimaries: u32 => "UINT",
        /// in.
        WrittenPrimaries: [D3DKMT_HANDLE; 16] => "D3DKMT_HANDLE[16]",
        /// in.
        NumHistoryBuffers: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in.
        HistoryBufferArray: u64 => "const D3DKMT_HANDLE*",
    }

    /// `D3DKMTSubmitCommandToHwQueue`.
    D3DKMT_SUBMITCOMMANDTOHWQUEUE {
        /// in.
        hHwQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        HwQueueProgressFenceId: u64 => "UINT64",
        /// in.
        CommandBuffer: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        CommandLength: u32 => "UINT",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        NumPrimaries: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in.
        WrittenPrimaries: u64 => "const D3DKMT_HANDLE*",
    }

    /// v1 sync object attributes, mutex or semaphore (the 64-byte union is shown as its Semaphore
    /// member; `SynchronizationMutex.InitialState` shares the bytes of `MaxCount`).
    D3DDDI_SYNCHRONIZATIONOBJECTINFO {
        /// `D3DDDI_SYNCHRONIZATIONOBJECT_TYPE`.
        Type: u32 => "UINT",
        /// in: Semaphore.MaxCount (union with SynchronizationMutex.InitialState, a BOOL).
        MaxCount: u32 => "UINT",
        /// in: Semaphore.InitialCount.
        InitialCount: u32 => "UINT",
        /// The rest of the union.
        _Reserved: [u32; 14] => "UINT[14]",
    }

    /// `D3DKMTCreateSynchronizationObject` (libdxg's v1 form: mutexes and semaphores only).
    D3DKMT_CREATESYNCHRONIZATIONOBJECT {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        Info: D3DDDI_SYNCHRONIZATIONOBJECTINFO => "D3DDDI_SYNCHRONIZATIONOBJECTINFO",
        /// out.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// Sync object attributes (the union is shown as its MonitoredFence member; Fence.FenceValue
    /// and the mutex/semaphore parameters share the 8 bytes of `InitialFenceValue`).
    D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
        /// `D3DDDI_SYNCHRONIZATIONOBJECT_TYPE`.
        Type: u32 => "UINT",
        /// `D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS`.
        Flags: u32 => "UINT",
        /// in: initial value.
        InitialFenceValue: u64 => "UINT64",
        /// out: CPU VA of the fence value.
        FenceValueCPUVirtualAddress: u64 => "VOID*",
        /// out: GPU VA of the fence value.
        FenceValueGPUVirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        EngineAffinity: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// The rest of the 64-byte union.
        _Reserved: [u64; 4] => "UINT64[4]",
        /// out: shared handle.
        SharedHandle: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTCreateSynchronizationObject2`.
    D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in/out.
        Info: D3DDDI_SYNCHRONIZATIONOBJECTINFO2 => "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        /// out.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTDestroySynchronizationObject`.
    D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        /// in.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTOpenSynchronizationObject`.
    D3DKMT_OPENSYNCHRONIZATIONOBJECT {
        /// in.
        hSharedHandle: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Reserved.
        Reserved: [u64; 8] => "UINT64[8]",
    }

    /// `D3DKMTWaitForSynchronizationObject` (libdxg's v1 form of the GPU wait).
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECT {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: [D3DKMT_HANDLE; 32] => "D3DKMT_HANDLE[32]",
    }

    /// `D3DKMTSignalSynchronizationObject` (libdxg's v1 form of the signal).
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECT {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: [D3DKMT_HANDLE; 32] => "D3DKMT_HANDLE[32]",
        /// in: `D3DDDICB_SIGNALFLAGS`.
        Flags: u32 => "UINT",
    }

    /// `D3DKMTWaitForSynchronizationObject2` (GPU wait by a context).
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: [D3DKMT_HANDLE; 32] => "D3DKMT_HANDLE[32]",
        /// in: Fence.FenceValue (first word of a 64-byte union).
        FenceValue: u64 => "UINT64",
        /// The rest of the union.
        Reserved: [u64; 7] => "UINT64[7]",
    }

    /// `D3DKMTSignalSynchronizationObject2`.
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: [D3DKMT_HANDLE; 32] => "D3DKMT_HANDLE[32]",
        /// in: `D3DDDICB_SIGNALFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        BroadcastContextCount: u32 => "UINT",
        /// in.
        BroadcastContext: [D3DKMT_HANDLE; 64] => "D3DKMT_HANDLE[64]",
        /// in: Fence.FenceValue (union with CpuEventHandle).
        FenceValue: u64 => "UINT64",
        /// The rest of the union.
        Reserved: [u64; 7] => "UINT64[7]",
    }

    /// `D3DKMTWaitForSynchronizationObjectFromCpu`.
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in.
        FenceValueArray: u64 => "const UINT64*",
        /// in: event to signal instead of blocking (0 = block).
        hAsyncEvent: u64 => "HANDLE",
        /// in: `D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTSignalSynchronizationObjectFromCpu`.
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in.
        FenceValueArray: u64 => "const UINT64*",
        /// in: `D3DDDICB_SIGNALFLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
    }

    /// `D3DKMTWaitForSynchronizationObjectFromGpu`.
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in: monitored fence values (union with `FenceValue`).
        MonitoredFenceValueArray: u64 => "const UINT64*",
        /// The rest of the 64-byte union.
        Reserved: [u64; 7] => "UINT64[7]",
    }

    /// `D3DKMTSignalSynchronizationObjectFromGpu`.
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in: monitored fence values.
        MonitoredFenceValueArray: u64 => "const UINT64*",
        /// The rest of the 64-byte union.
        Reserved: [u64; 7] => "UINT64[7]",
    }

    /// `D3DKMTSignalSynchronizationObjectFromGpu2`.
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 {
        /// in.
        ObjectCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in: `D3DDDICB_SIGNALFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        BroadcastContextCount: u32 => "UINT",
        /// in.
        BroadcastContextArray: u64 => "const D3DKMT_HANDLE*",
        /// in: FenceValue (union with CpuEventHandle and MonitoredFenceValueArray).
        FenceValue: u64 => "UINT64",
        /// The rest of the union.
        Reserved: [u64; 7] => "UINT64[7]",
    }

    /// `D3DKMTCreateHwContext` (the Linux driver does not implement it).
    D3DKMT_CREATEHWCONTEXT {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NodeOrdinal: u32 => "UINT",
        /// in.
        EngineAffinity: u32 => "UINT",
        /// in.
        Flags: u32 => "UINT",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// out.
        hHwContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTDestroyHwContext`.
    D3DKMT_DESTROYHWCONTEXT {
        /// in.
        hHwContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTCreateHwQueue`.
    D3DKMT_CREATEHWQUEUE {
        /// in: the context.
        hHwContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DDDI_CREATEHWQUEUEFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// out.
        hHwQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        hHwQueueProgressFence: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        HwQueueProgressFenceCPUVirtualAddress: u64 => "VOID*",
        /// out.
        HwQueueProgressFenceGPUVirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
    }

    /// `D3DKMTDestroyHwQueue`.
    D3DKMT_DESTROYHWQUEUE {
        /// in.
        hHwQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTSubmitWaitForSyncObjectsToHwQueue`.
    D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE {
        /// in.
        hHwQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        ObjectCount: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in.
        FenceValueArray: u64 => "const UINT64*",
    }

    /// `D3DKMTSubmitSignalSyncObjectsToHwQueue`.
    D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE {
        /// in: `D3DDDICB_SIGNALFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        BroadcastHwQueueCount: u32 => "UINT",
        /// in.
        BroadcastHwQueueArray: u64 => "const D3DKMT_HANDLE*",
        /// in.
        ObjectCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in.
        FenceValueArray: u64 => "const UINT64*",
    }

    /// `D3DKMTSetContextSchedulingPriority`.
    D3DKMT_SETCONTEXTSCHEDULINGPRIORITY {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        Priority: i32 => "INT",
    }

    /// `D3DKMTGetContextSchedulingPriority`.
    D3DKMT_GETCONTEXTSCHEDULINGPRIORITY {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        Priority: i32 => "INT",
    }

    /// `D3DKMTSetContextInProcessSchedulingPriority`.
    D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        Priority: i32 => "INT",
    }

    /// `D3DKMTGetContextInProcessSchedulingPriority`.
    D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        /// in.
        hContext: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        Priority: i32 => "INT",
    }

    /// `D3DKMTSetAllocationPriority`.
    D3DKMT_SETALLOCATIONPRIORITY {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        phAllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        AllocationCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPriorities: u64 => "const UINT*",
    }

    /// `D3DKMTGetAllocationPriority`.
    D3DKMT_GETALLOCATIONPRIORITY {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        phAllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        AllocationCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        pPriorities: u64 => "UINT*",
    }

    /// `D3DKMTQueryAllocationResidency`.
    D3DKMT_QUERYALLOCATIONRESIDENCY {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        phAllocationList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        AllocationCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out: `D3DKMT_ALLOCATIONRESIDENCYSTATUS` per allocation.
        pResidencyStatus: u64 => "UINT*",
    }

    /// `D3DKMTMarkDeviceAsError`.
    D3DKMT_MARKDEVICEASERROR {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DKMT_DEVICE_ERROR_REASON`.
        Reason: u32 => "UINT",
    }

    /// `D3DKMTUpdateAllocationProperty`.
    D3DDDI_UPDATEALLOCPROPERTY {
        /// in.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        SupportedSegmentSet: u32 => "UINT",
        /// in: `D3DDDI_SEGMENTPREFERENCE`.
        PreferredSegment: u32 => "UINT",
        /// in: `D3DDDI_UPDATEALLOCPROPERTY_FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        PagingFenceValue: u64 => "UINT64",
        /// in: which properties to set.
        PropertyMaskValue: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTOfferAllocations`.
    D3DKMT_OFFERALLOCATIONS {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pResources: u64 => "D3DKMT_HANDLE*",
        /// in.
        HandleList: u64 => "const D3DKMT_HANDLE*",
        /// in.
        NumAllocations: u32 => "UINT",
        /// in: `D3DKMT_OFFER_PRIORITY`.
        Priority: u32 => "UINT",
        /// in: `D3DKMT_OFFER_FLAGS`.
        Flags: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// `D3DKMTReclaimAllocations2`.
    D3DKMT_RECLAIMALLOCATIONS2 {
        /// in.
        hPagingQueue: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NumAllocations: u32 => "UINT",
        /// in.
        pResources: u64 => "D3DKMT_HANDLE*",
        /// in.
        HandleList: u64 => "D3DKMT_HANDLE*",
        /// out: `D3DDDI_RECLAIM_RESULT` per allocation (union with `pDiscarded`).
        pResults: u64 => "UINT*",
        /// out.
        PagingFenceValue: u64 => "UINT64",
    }

    /// `D3DKMTFlushHeapTransitions`.
    D3DKMT_FLUSHHEAPTRANSITIONS {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTGetSharedResourceAdapterLuid`.
    D3DKMT_GETSHAREDRESOURCEADAPTERLUID {
        /// in.
        hGlobalShare: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        hNtHandle: u64 => "HANDLE",
        /// out.
        AdapterLuid: LUID => "LUID",
    }

    /// `D3DKMTInvalidateCache`.
    D3DKMT_INVALIDATECACHE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        Offset: u64 => "UINT64",
        /// in.
        Length: u64 => "UINT64",
    }

    /// One allocation of `D3DKMTOpenResource` (libdxg's v1 form; the array's address goes in
    /// `D3DKMT_OPENRESOURCE::pOpenAllocationInfo2`, the union's `pOpenAllocationInfo` member).
    D3DDDI_OPENALLOCATIONINFO {
        /// out.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "const VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
    }

    /// One allocation of `D3DKMT_OPENRESOURCE` / `D3DKMT_OPENRESOURCEFROMNTHANDLE`.
    D3DDDI_OPENALLOCATIONINFO2 {
        /// out.
        hAllocation: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        pPrivateDriverData: u64 => "const VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        GpuVirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// Reserved.
        Reserved: [u64; 6] => "UINT64[6]",
    }

    /// `D3DKMTOpenResource2`, and `D3DKMTOpenResource` with a `D3DDDI_OPENALLOCATIONINFO` array in
    /// `pOpenAllocationInfo2` (the union's `pOpenAllocationInfo`); the Linux driver implements
    /// neither.
    D3DKMT_OPENRESOURCE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hGlobalShare: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NumAllocations: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in/out: the allocation array (a `D3DDDI_OPENALLOCATIONINFO*` for `D3DKMTOpenResource`).
        pOpenAllocationInfo2: u64 => "D3DDDI_OPENALLOCATIONINFO2*",
        /// in.
        pPrivateRuntimeData: u64 => "VOID*",
        /// in.
        PrivateRuntimeDataSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in.
        pResourcePrivateDriverData: u64 => "VOID*",
        /// in.
        ResourcePrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// in.
        pTotalPrivateDriverDataBuffer: u64 => "VOID*",
        /// in/out.
        TotalPrivateDriverDataBufferSize: u32 => "UINT",
        /// out.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTQueryResourceInfo` (the Linux driver does not implement it).
    D3DKMT_QUERYRESOURCEINFO {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hGlobalShare: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        pPrivateRuntimeData: u64 => "VOID*",
        /// in/out.
        PrivateRuntimeDataSize: u32 => "UINT",
        /// out.
        TotalPrivateDriverDataSize: u32 => "UINT",
        /// out.
        ResourcePrivateDriverDataSize: u32 => "UINT",
        /// out.
        NumAllocations: u32 => "UINT",
    }

    /// `D3DKMTQueryResourceInfoFromNtHandle`.
    D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        hNtHandle: u64 => "HANDLE",
        /// in.
        pPrivateRuntimeData: u64 => "VOID*",
        /// in/out.
        PrivateRuntimeDataSize: u32 => "UINT",
        /// out.
        TotalPrivateDriverDataSize: u32 => "UINT",
        /// out.
        ResourcePrivateDriverDataSize: u32 => "UINT",
        /// out.
        NumAllocations: u32 => "UINT",
    }

    /// `D3DKMTOpenResourceFromNtHandle`.
    D3DKMT_OPENRESOURCEFROMNTHANDLE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        hNtHandle: u64 => "HANDLE",
        /// in.
        NumAllocations: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// in/out.
        pOpenAllocationInfo2: u64 => "D3DDDI_OPENALLOCATIONINFO2*",
        /// in.
        PrivateRuntimeDataSize: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// in.
        pPrivateRuntimeData: u64 => "VOID*",
        /// in.
        ResourcePrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding3: u32 => "UINT",
        /// in.
        pResourcePrivateDriverData: u64 => "VOID*",
        /// in.
        TotalPrivateDriverDataBufferSize: u32 => "UINT",
        /// Padding.
        _Padding4: u32 => "UINT",
        /// in.
        pTotalPrivateDriverDataBuffer: u64 => "VOID*",
        /// out.
        hResource: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// out.
        hKeyedMutex: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        pKeyedMutexPrivateRuntimeData: u64 => "VOID*",
        /// in.
        KeyedMutexPrivateRuntimeDataSize: u32 => "UINT",
        /// out.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
    }

    /// `D3DKMTOpenSyncObjectFromNtHandle2`.
    D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
        /// in.
        hNtHandle: u64 => "HANDLE",
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in: `D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS`.
        Flags: u32 => "UINT",
        /// out.
        hSyncObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out: MonitoredFence.FenceValueCPUVirtualAddress (64-byte union).
        FenceValueCPUVirtualAddress: u64 => "VOID*",
        /// out.
        FenceValueGPUVirtualAddress: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        EngineAffinity: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// The rest of the union.
        _Reserved: [u64; 5] => "UINT64[5]",
    }

    /// The structure behind `D3DKMTShareObjects` (its arguments, as one struct).
    D3DKMT_SHAREOBJECTS {
        /// in.
        ObjectCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        ObjectHandleArray: u64 => "const D3DKMT_HANDLE*",
        /// in: `OBJECT_ATTRIBUTES*`.
        pObjectAttributes: u64 => "VOID*",
        /// in.
        DesiredAccess: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        phSharedNtHandle: u64 => "HANDLE*",
    }

    /// `D3DKMTShareObjectWithHost`.
    D3DKMT_SHAREOBJECTWITHHOST {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hObject: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// Reserved.
        Reserved: u64 => "UINT64",
        /// out.
        hVailNtHandle: u64 => "UINT64",
    }

    /// `D3DKMTCreateSyncFile`.
    D3DKMT_CREATESYNCFILE {
        /// in.
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        hMonitoredFence: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        FenceValue: u64 => "UINT64",
        /// out: file descriptor.
        hSyncFile: u64 => "UINT64",
    }

    /// `D3DKMTQueryClockCalibration` (`#pragma pack(1)`; `ClockData` flattened).
    #[repr(packed)]
    D3DKMT_QUERYCLOCKCALIBRATION {
        /// in.
        hAdapter: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        NodeOrdinal: u32 => "UINT",
        /// in.
        PhysicalAdapterIndex: u32 => "UINT",
        /// out: ClockData.GpuFrequency.
        GpuFrequency: u64 => "UINT64",
        /// out: ClockData.GpuClockCounter.
        GpuClockCounter: u64 => "UINT64",
        /// out: ClockData.CpuClockCounter.
        CpuClockCounter: u64 => "UINT64",
        /// out: ClockData.Flags.
        ClockDataFlags: u32 => "UINT",
    }

    /// `D3DKMTQueryStatistics` (808 bytes; the result union is opaque here).
    D3DKMT_QUERYSTATISTICS {
        /// in: `D3DKMT_QUERYSTATISTICS_TYPE`.
        Type: u32 => "UINT",
        /// in.
        AdapterLuid: LUID => "LUID",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// in.
        hProcess: u64 => "HANDLE",
        /// out: `D3DKMT_QUERYSTATISTICS_RESULT` (0x308 bytes).
        QueryResult: [u64; 97] => "UINT64[97]",
        /// in: the query union (SegmentId / NodeId / VidPnSourceId in the first word).
        Query: [u32; 2] => "UINT[2]",
    }

    /// `D3DKMTRender` (legacy; the Linux driver does not implement it).
    D3DKMT_RENDER {
        /// in (union with `hContext`).
        hDevice: D3DKMT_HANDLE => "D3DKMT_HANDLE",
        /// in.
        CommandOffset: u32 => "UINT",
        /// in.
        CommandLength: u32 => "UINT",
        /// in.
        AllocationCount: u32 => "UINT",
        /// in.
        PatchLocationCount: u32 => "UINT",
        /// Padding.
        _Padding0: u32 => "UINT",
        /// out.
        pNewCommandBuffer: u64 => "VOID*",
        /// in/out.
        NewCommandBufferSize: u32 => "UINT",
        /// Padding.
        _Padding1: u32 => "UINT",
        /// out.
        pNewAllocationList: u64 => "VOID*",
        /// in/out.
        NewAllocationListSize: u32 => "UINT",
        /// Padding.
        _Padding2: u32 => "UINT",
        /// out.
        pNewPatchLocationList: u64 => "VOID*",
        /// in/out.
        NewPatchLocationListSize: u32 => "UINT",
        /// in: `D3DKMT_RENDERFLAGS`.
        Flags: u32 => "UINT",
        /// in.
        PresentHistoryToken: u64 => "UINT64",
        /// in.
        BroadcastContextCount: u32 => "UINT",
        /// in.
        BroadcastContext: [D3DKMT_HANDLE; 64] => "D3DKMT_HANDLE[64]",
        /// out.
        QueuedBufferCount: u32 => "UINT",
        /// out.
        NewCommandBuffer: D3DGPU_VIRTUAL_ADDRESS => "D3DGPU_VIRTUAL_ADDRESS",
        /// in.
        pPrivateDriverData: u64 => "VOID*",
        /// in.
        PrivateDriverDataSize: u32 => "UINT",
        /// Padding.
        _Padding3: u32 => "UINT",
    }

    /// dxgos: the demo framebuffer (`SyscallNumber::GetFramebufferInfo` / `MapFramebuffer`).
    DXGOS_FRAMEBUFFER_INFO {
        /// User virtual address of the mapping (0 until mapped).
        Address: u64 => "UINT64",
        /// Size of the mapping in bytes.
        Size: u64 => "UINT64",
        /// Width in pixels.
        Width: u32 => "UINT",
        /// Height in pixels.
        Height: u32 => "UINT",
        /// Bytes per row.
        Pitch: u32 => "UINT",
        /// Pixel format: 1 = B8G8R8X8 (32 bits per pixel, blue in the low byte).
        Format: u32 => "UINT",
    }
}
