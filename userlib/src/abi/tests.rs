//! Layout tests. Expected numbers are written from the reference (dxg.md §5.2 ioctl codes, §5.4
//! sizes, and the field order of `d3dkmthk.h` / the Linux uapi), never computed from our structs.

use super::*;
use crate::sys::{D3DKMT_CALLS, SyscallNumber};

/// (struct, field, offset) from the reference headers.
const OFFSETS: &[(&str, &str, usize)] = &[
    ("LUID", "HighPart", 4),
    ("D3DKMT_ADAPTERINFO", "AdapterLuid", 4),
    ("D3DKMT_ADAPTERINFO", "NumOfSources", 12),
    ("D3DKMT_ADAPTERINFO", "bPrecisePresentRegionsPreferred", 16),
    ("D3DKMT_ENUMADAPTERS2", "pAdapters", 8),
    ("D3DKMT_ENUMADAPTERS3", "NumAdapters", 8),
    ("D3DKMT_ENUMADAPTERS3", "pAdapters", 16),
    ("D3DKMT_OPENADAPTERFROMLUID", "hAdapter", 8),
    ("D3DKMT_QUERYADAPTERINFO", "Type", 4),
    ("D3DKMT_QUERYADAPTERINFO", "pPrivateDriverData", 8),
    ("D3DKMT_QUERYADAPTERINFO", "PrivateDriverDataSize", 16),
    ("D3DKMT_CREATEDEVICE", "Flags", 8),
    ("D3DKMT_CREATEDEVICE", "hDevice", 12),
    ("D3DKMT_CREATEDEVICE", "pCommandBuffer", 16),
    ("D3DKMT_CREATEDEVICE", "pAllocationList", 32),
    ("D3DKMT_CREATEDEVICE", "pPatchLocationList", 48),
    ("D3DKMT_CREATEDEVICE", "PatchLocationListSize", 56),
    ("D3DKMT_CREATECONTEXTVIRTUAL", "Flags", 12),
    ("D3DKMT_CREATECONTEXTVIRTUAL", "pPrivateDriverData", 16),
    ("D3DKMT_CREATECONTEXTVIRTUAL", "PrivateDriverDataSize", 24),
    ("D3DKMT_CREATECONTEXTVIRTUAL", "ClientHint", 28),
    ("D3DKMT_CREATECONTEXTVIRTUAL", "hContext", 32),
    ("D3DKMT_CREATECONTEXT", "CommandBuffer", 88),
    ("D3DKMT_CREATEPAGINGQUEUE", "hPagingQueue", 8),
    (
        "D3DKMT_CREATEPAGINGQUEUE",
        "FenceValueCPUVirtualAddress",
        16,
    ),
    ("D3DKMT_CREATEPAGINGQUEUE", "PhysicalAdapterIndex", 24),
    ("D3DKMT_CREATEALLOCATION", "pPrivateRuntimeData", 16),
    ("D3DKMT_CREATEALLOCATION", "PrivateRuntimeDataSize", 24),
    ("D3DKMT_CREATEALLOCATION", "pPrivateDriverData", 32),
    ("D3DKMT_CREATEALLOCATION", "PrivateDriverDataSize", 40),
    ("D3DKMT_CREATEALLOCATION", "NumAllocations", 44),
    ("D3DKMT_CREATEALLOCATION", "pAllocationInfo2", 48),
    ("D3DKMT_CREATEALLOCATION", "Flags", 56),
    (
        "D3DKMT_CREATEALLOCATION",
        "hPrivateRuntimeResourceHandle",
        64,
    ),
    ("D3DDDI_ALLOCATIONINFO2", "pSystemMem", 8),
    ("D3DDDI_ALLOCATIONINFO2", "pPrivateDriverData", 16),
    ("D3DDDI_ALLOCATIONINFO2", "PrivateDriverDataSize", 24),
    ("D3DDDI_ALLOCATIONINFO2", "VidPnSourceId", 28),
    ("D3DDDI_ALLOCATIONINFO2", "Flags", 32),
    ("D3DDDI_ALLOCATIONINFO2", "GpuVirtualAddress", 40),
    ("D3DDDI_ALLOCATIONINFO2", "Priority", 48),
    ("D3DDDI_ALLOCATIONINFO2", "Reserved", 56),
    ("D3DKMT_DESTROYALLOCATION2", "phAllocationList", 8),
    ("D3DKMT_DESTROYALLOCATION2", "AllocationCount", 16),
    ("D3DKMT_DESTROYALLOCATION2", "Flags", 20),
    ("D3DKMT_CREATESTANDARDALLOCATION", "ExistingHeapSize", 8),
    ("D3DKMT_CREATESTANDARDALLOCATION", "Flags", 16),
    ("D3DKMT_LOCK2", "Flags", 8),
    ("D3DKMT_LOCK2", "pData", 16),
    ("D3DDDI_MAKERESIDENT", "AllocationList", 8),
    ("D3DDDI_MAKERESIDENT", "PriorityList", 16),
    ("D3DDDI_MAKERESIDENT", "Flags", 24),
    ("D3DDDI_MAKERESIDENT", "PagingFenceValue", 32),
    ("D3DDDI_MAKERESIDENT", "NumBytesToTrim", 40),
    ("D3DKMT_EVICT", "AllocationList", 8),
    ("D3DKMT_EVICT", "NumBytesToTrim", 24),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "BaseAddress", 8),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "hAllocation", 32),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "OffsetInPages", 40),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "Protection", 56),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "Reserved0", 72),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "Reserved1", 80),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "VirtualAddress", 88),
    ("D3DDDI_MAPGPUVIRTUALADDRESS", "PagingFenceValue", 96),
    ("D3DDDI_RESERVEGPUVIRTUALADDRESS", "Size", 32),
    ("D3DDDI_RESERVEGPUVIRTUALADDRESS", "ReservationType", 40),
    ("D3DDDI_RESERVEGPUVIRTUALADDRESS", "DriverProtection", 48),
    ("D3DDDI_RESERVEGPUVIRTUALADDRESS", "VirtualAddress", 56),
    ("D3DDDI_RESERVEGPUVIRTUALADDRESS", "PagingFenceValue", 64),
    ("D3DKMT_QUERYVIDEOMEMORYINFO", "hAdapter", 8),
    ("D3DKMT_QUERYVIDEOMEMORYINFO", "MemorySegmentGroup", 12),
    ("D3DKMT_QUERYVIDEOMEMORYINFO", "Budget", 16),
    ("D3DKMT_QUERYVIDEOMEMORYINFO", "AvailableForReservation", 40),
    ("D3DKMT_QUERYVIDEOMEMORYINFO", "PhysicalAdapterIndex", 48),
    ("D3DKMT_ESCAPE", "Type", 8),
    ("D3DKMT_ESCAPE", "pPrivateDriverData", 16),
    ("D3DKMT_ESCAPE", "PrivateDriverDataSize", 24),
    ("D3DKMT_ESCAPE", "hContext", 28),
    ("D3DKMT_GETDEVICESTATE", "StateType", 4),
    ("D3DKMT_GETDEVICESTATE", "ExecutionState", 8),
    ("D3DKMT_SUBMITCOMMAND", "CommandLength", 8),
    ("D3DKMT_SUBMITCOMMAND", "PresentHistoryToken", 16),
    ("D3DKMT_SUBMITCOMMAND", "BroadcastContextCount", 24),
    ("D3DKMT_SUBMITCOMMAND", "BroadcastContext", 28),
    ("D3DKMT_SUBMITCOMMAND", "pPrivateDriverData", 288),
    ("D3DKMT_SUBMITCOMMAND", "PrivateDriverDataSize", 296),
    ("D3DKMT_SUBMITCOMMAND", "NumPrimaries", 300),
    ("D3DKMT_SUBMITCOMMAND", "WrittenPrimaries", 304),
    ("D3DKMT_SUBMITCOMMAND", "NumHistoryBuffers", 368),
    ("D3DKMT_SUBMITCOMMAND", "HistoryBufferArray", 376),
    ("D3DKMT_SUBMITCOMMANDTOHWQUEUE", "HwQueueProgressFenceId", 8),
    ("D3DKMT_SUBMITCOMMANDTOHWQUEUE", "pPrivateDriverData", 32),
    ("D3DKMT_SUBMITCOMMANDTOHWQUEUE", "WrittenPrimaries", 48),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO2", "InitialFenceValue", 8),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "FenceValueCPUVirtualAddress",
        16,
    ),
    (
        "D3DDDI_SYNCHRONIZATIONOBJECTINFO2",
        "FenceValueGPUVirtualAddress",
        24,
    ),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO2", "EngineAffinity", 32),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO2", "SharedHandle", 72),
    ("D3DKMT_CREATESYNCHRONIZATIONOBJECT2", "Info", 8),
    ("D3DKMT_CREATESYNCHRONIZATIONOBJECT2", "hSyncObject", 88),
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2", "FenceValue", 136),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2", "Flags", 136),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2",
        "BroadcastContextCount",
        140,
    ),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2",
        "BroadcastContext",
        144,
    ),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2", "FenceValue", 400),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU",
        "ObjectHandleArray",
        8,
    ),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU",
        "FenceValueArray",
        16,
    ),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU",
        "hAsyncEvent",
        24,
    ),
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU", "Flags", 32),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU", "Flags", 24),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU",
        "MonitoredFenceValueArray",
        16,
    ),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU",
        "MonitoredFenceValueArray",
        16,
    ),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2",
        "ObjectHandleArray",
        8,
    ),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2", "Flags", 16),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2",
        "BroadcastContextArray",
        24,
    ),
    (
        "D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2",
        "FenceValue",
        32,
    ),
    ("D3DKMT_CREATEHWQUEUE", "pPrivateDriverData", 16),
    ("D3DKMT_CREATEHWQUEUE", "hHwQueue", 24),
    (
        "D3DKMT_CREATEHWQUEUE",
        "HwQueueProgressFenceCPUVirtualAddress",
        32,
    ),
    (
        "D3DKMT_CREATEHWQUEUE",
        "HwQueueProgressFenceGPUVirtualAddress",
        40,
    ),
    ("D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE", "ObjectCount", 16),
    (
        "D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE",
        "FenceValueArray",
        32,
    ),
    ("D3DKMT_UPDATEGPUVIRTUALADDRESS", "pOperations", 16),
    ("D3DKMT_UPDATEGPUVIRTUALADDRESS", "FenceValue", 40),
    ("D3DKMT_UPDATEGPUVIRTUALADDRESS", "Flags", 48),
    ("D3DDDI_UPDATEALLOCPROPERTY", "PagingFenceValue", 24),
    ("D3DDDI_UPDATEALLOCPROPERTY", "PropertyMaskValue", 32),
    ("D3DKMT_OFFERALLOCATIONS", "NumAllocations", 24),
    ("D3DKMT_RECLAIMALLOCATIONS2", "PagingFenceValue", 32),
    ("D3DKMT_GETSHAREDRESOURCEADAPTERLUID", "AdapterLuid", 16),
    ("D3DKMT_OPENRESOURCE", "pOpenAllocationInfo2", 16),
    ("D3DKMT_OPENRESOURCE", "hResource", 68),
    (
        "D3DKMT_OPENRESOURCEFROMNTHANDLE",
        "pTotalPrivateDriverDataBuffer",
        72,
    ),
    ("D3DKMT_OPENRESOURCEFROMNTHANDLE", "hResource", 80),
    ("D3DKMT_OPENRESOURCEFROMNTHANDLE", "hSyncObject", 100),
    ("D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2", "hSyncObject", 16),
    (
        "D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2",
        "FenceValueCPUVirtualAddress",
        24,
    ),
    ("D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2", "EngineAffinity", 40),
    ("D3DKMT_SHAREOBJECTS", "phSharedNtHandle", 32),
    ("D3DKMT_QUERYCLOCKCALIBRATION", "GpuFrequency", 12),
    ("D3DKMT_QUERYCLOCKCALIBRATION", "ClockDataFlags", 36),
    ("D3DKMT_QUERYSTATISTICS", "AdapterLuid", 4),
    ("D3DKMT_QUERYSTATISTICS", "hProcess", 16),
    ("D3DKMT_QUERYSTATISTICS", "QueryResult", 24),
    ("D3DKMT_QUERYSTATISTICS", "Query", 800),
    ("D3DKMT_RENDER", "pNewCommandBuffer", 24),
    ("D3DKMT_RENDER", "PresentHistoryToken", 72),
    ("D3DKMT_RENDER", "BroadcastContext", 84),
    ("D3DKMT_RENDER", "NewCommandBuffer", 344),
    ("D3DKMT_RENDER", "PrivateDriverDataSize", 360),
    ("D3DKMT_CREATESYNCFILE", "FenceValue", 8),
    ("D3DKMT_CREATESYNCFILE", "hSyncFile", 16),
    // libdxg's v1 structs: offsets from the field lists of `d3dkmthk.h` / `d3dukmdt.h` (Windows
    // SDK, as in microsoft/libdxg `include/` and microsoft/DirectX-Headers), x86-64 LP64 rules.
    ("D3DDDI_OPENALLOCATIONINFO", "hAllocation", 0),
    ("D3DDDI_OPENALLOCATIONINFO", "pPrivateDriverData", 8),
    ("D3DDDI_OPENALLOCATIONINFO", "PrivateDriverDataSize", 16),
    ("D3DKMT_DESTROYALLOCATION", "hResource", 4),
    ("D3DKMT_DESTROYALLOCATION", "phAllocationList", 8),
    ("D3DKMT_DESTROYALLOCATION", "AllocationCount", 16),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO", "MaxCount", 4),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO", "InitialCount", 8),
    ("D3DKMT_CREATESYNCHRONIZATIONOBJECT", "Info", 4),
    ("D3DKMT_CREATESYNCHRONIZATIONOBJECT", "hSyncObject", 72),
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECT", "ObjectCount", 4),
    (
        "D3DKMT_WAITFORSYNCHRONIZATIONOBJECT",
        "ObjectHandleArray",
        8,
    ),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT", "ObjectHandleArray", 8),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT", "Flags", 136),
];

/// (struct, size, alignment) of libdxg's v1 structs, from the same headers (they have no ioctl
/// of their own, so the ioctl-code test below cannot pin them).
const V1_LAYOUTS: &[(&str, usize, usize)] = &[
    ("D3DDDI_OPENALLOCATIONINFO", 24, 8),
    ("D3DKMT_DESTROYALLOCATION", 24, 8),
    ("D3DDDI_SYNCHRONIZATIONOBJECTINFO", 68, 4),
    ("D3DKMT_CREATESYNCHRONIZATIONOBJECT", 76, 4),
    ("D3DKMT_WAITFORSYNCHRONIZATIONOBJECT", 136, 4),
    ("D3DKMT_SIGNALSYNCHRONIZATIONOBJECT", 140, 4),
];

#[test]
fn v1_struct_layouts_match_the_headers() {
    for &(name, size, align) in V1_LAYOUTS {
        let layout = layout(name).unwrap_or_else(|| panic!("no struct {name}"));
        assert_eq!((layout.size, layout.align), (size, align), "{name}");
    }
}

#[test]
fn field_offsets_match_the_reference() {
    for &(name, field, offset) in OFFSETS {
        let layout = layout(name).unwrap_or_else(|| panic!("no struct {name}"));
        assert_eq!(layout.offset_of(field), Some(offset), "{name}.{field}");
    }
}

/// The Linux ioctl code of each call (dxg.md §5.2), which encodes the argument size.
const IOCTL_CODES: &[(u32, u32)] = &[
    (0x01, 0xC00C4701),
    (0x02, 0xC0404702),
    (0x03, 0xC0604703),
    (0x04, 0xC0284704),
    (0x05, 0xC0044705),
    (0x06, 0xC0484706),
    (0x07, 0xC0204707),
    (0x08, 0xC0484708),
    (0x09, 0xC0184709),
    (0x0a, 0xC038470A),
    (0x0b, 0xC030470B),
    (0x0c, 0xC068470C),
    (0x0d, 0xC020470D),
    (0x0e, 0xC038470E),
    (0x0f, 0xC180470F),
    (0x10, 0xC0604710),
    (0x11, 0xC1D04711),
    (0x12, 0xC0C84712),
    (0x13, 0xC0184713),
    (0x14, 0xC0104714),
    (0x15, 0xC0044715),
    (0x16, 0xC0204716),
    (0x17, 0xC0284717),
    (0x18, 0xC0304718),
    (0x19, 0xC0044719),
    (0x1a, 0xC004471A),
    (0x1b, 0xC004471B),
    (0x1c, 0xC004471C),
    (0x1d, 0xC004471D),
    (0x1e, 0xC020471E),
    (0x1f, 0xC004471F),
    (0x20, 0xC0184720),
    (0x21, 0xC0084721),
    (0x22, 0xC0084722),
    (0x23, 0xC0184723),
    (0x24, 0xC0184724),
    (0x25, 0xC0184725),
    (0x26, 0xC0084726),
    (0x27, 0xC0284727),
    (0x28, 0xC0484728),
    (0x29, 0xC0484729),
    (0x2a, 0xC020472A),
    (0x2b, 0xC020472B),
    (0x2c, 0xC028472C),
    (0x2d, 0xC170472D),
    (0x2e, 0xC020472E),
    (0x2f, 0xC008472F),
    (0x30, 0xC0084730),
    (0x31, 0xC0204731),
    (0x32, 0xC0504732),
    (0x33, 0xC0604733),
    (0x34, 0xC0384734),
    (0x35, 0xC0284735),
    (0x36, 0xC0184736),
    (0x37, 0xC0084737),
    (0x38, 0xC0284738),
    (0x39, 0xC0384739),
    (0x3a, 0xC028473A),
    (0x3b, 0xC050473B),
    (0x3c, 0xC020473C),
    (0x3d, 0xC028473D),
    (0x3e, 0xC018473E),
    (0x3f, 0xC028473F),
    (0x40, 0xC0584740),
    (0x41, 0xC0284741),
    (0x42, 0xC0684742),
    (0x43, 0xC3284743),
    (0x44, 0xC0184744),
    (0x45, 0xC0184745),
];

#[test]
fn every_call_matches_its_linux_ioctl_code() {
    assert_eq!(D3DKMT_CALLS.len(), IOCTL_CODES.len());
    for &(number, code) in IOCTL_CODES {
        let call = D3DKMT_CALLS
            .iter()
            .find(|call| call.number as u32 == number)
            .unwrap_or_else(|| panic!("no call {number:#x}"));
        let size = (code >> 16) & 0x3fff;
        assert_eq!(code & 0xff, number, "{}", call.export);
        assert_eq!(
            call.argument_size as u32, size,
            "{} ({})",
            call.export, call.argument
        );
        assert_eq!(
            SyscallNumber::from_raw(u64::from(number)).and_then(SyscallNumber::argument_size),
            Some(size as usize)
        );
    }
}

#[test]
fn every_struct_is_described_and_has_no_hidden_padding() {
    for layout in STRUCTS {
        // Fields are in order and (with the spelled-out padding) leave no gaps: the derive of
        // `IntoBytes` already refuses padding; this checks the descriptor table agrees.
        let mut windows = layout.fields.windows(2);
        assert!(
            windows.all(|pair| pair[0].offset < pair[1].offset),
            "{}",
            layout.name
        );
        assert!(layout.size > 0);
    }
    assert_eq!(STRUCTS.len(), 83);
}

#[test]
fn status_constants_match_the_reference() {
    use status::*;
    assert_eq!(STATUS_NOT_SUPPORTED as u32, 0xC00000BB);
    assert_eq!(STATUS_INVALID_PARAMETER as u32, 0xC000000D);
    assert_eq!(STATUS_DEVICE_REMOVED as u32, 0xC00002B6);
    assert_eq!(STATUS_GRAPHICS_ALLOCATION_BUSY as u32, 0xC01E0102);
    assert_eq!(STATUS_TIMEOUT, 0x102);
    assert!(nt_success(STATUS_PENDING));
    assert!(!nt_success(STATUS_UNSUCCESSFUL));
}
