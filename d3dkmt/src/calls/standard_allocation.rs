//! Standard allocations (`D3DKMT_CREATEALLOCATIONFLAGS` StandardAllocation): the vendor-neutral
//! allocation path, whose private driver data the host supplies instead of the application (no
//! user-mode driver needed).
//!
//! As the Linux driver does (`dxgkio_create_allocation` and `get_standard_alloc_priv_data` in
//! `drivers/hv/dxgkrnl/ioctl.c`, microsoft/WSL2-Linux-Kernel; reference dxg.md §3.7, §3.26):
//!
//! - `pPrivateDriverData` points to a `D3DKMT_CREATESTANDARDALLOCATION`; exactly one
//!   allocation, `PrivateDriverDataSize` 0, the allocation's own private data size 0, a heap
//!   size that is non-zero and page-aligned;
//! - type EXISTINGHEAP needs a page-aligned `pSystemMem` and the ExistingSysMem flag; type
//!   CROSSADAPTER needs neither; any other type is `STATUS_INVALID_PARAMETER`;
//! - DDIGETSTANDARDALLOCATIONDRIVERDATA is sent twice for a GDI surface of width = heap size,
//!   height 1, format UNKNOWN, type TEXTURE_CROSSADAPTER: once for the blob sizes, once for the
//!   blobs; an allocation blob of size 0 is `STATUS_INVALID_PARAMETER`;
//! - CREATEALLOCATION then carries the 24-byte struct as the global private data and the
//!   host's allocation blob as the allocation's private data.
//!
//! Where dxgos differs: a heap larger than 4 GiB - 1 is refused (`INVALID_PARAMETER`) instead of
//! being truncated into the surface's 32-bit width.

use super::prelude::*;

/// What a standard allocation sends instead of the application's private data.
pub struct StandardData {
    /// The global private data: the application's `D3DKMT_CREATESTANDARDALLOCATION` bytes.
    pub global: Vec<u8>,
    /// The allocation's private data: the host's blob.
    pub allocation: Vec<u8>,
}

/// Checks a standard allocation's arguments and asks the host for its private data.
pub fn driver_data(
    call: &mut Call<'_>,
    arguments: &D3DKMT_CREATEALLOCATION,
    infos: &[D3DDDI_ALLOCATIONINFO2],
) -> Result<StandardData, NtStatus> {
    let [info] = infos else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if arguments.pPrivateDriverData == 0
        || arguments.PrivateDriverDataSize != 0
        || info.PrivateDriverDataSize != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let global = read_bytes(
        call.environment,
        arguments.pPrivateDriverData,
        size_of::<D3DKMT_CREATESTANDARDALLOCATION>(),
    )?;
    let standard =
        D3DKMT_CREATESTANDARDALLOCATION::read_from_bytes(&global).map_err(|_| ACCESS_VIOLATION)?;
    check(arguments.Flags, &standard, info)?;
    let width =
        u32::try_from(standard.ExistingHeapSize).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let (allocation_size, resource_size) = blobs(call, device, width, (0, 0))?.0;
    if allocation_size == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let ((returned, _), allocation) = blobs(call, device, width, (allocation_size, resource_size))?;
    if returned != allocation_size || allocation.len() != allocation_size as usize {
        return Err(NtStatus::UNSUCCESSFUL);
    }
    Ok(StandardData { global, allocation })
}

/// The rules of the module docs for the standard allocation's type, heap and memory.
fn check(
    flags: u32,
    standard: &D3DKMT_CREATESTANDARDALLOCATION,
    info: &D3DDDI_ALLOCATIONINFO2,
) -> Result<(), NtStatus> {
    let existing = flags & D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM != 0;
    let memory_ok = match standard.Type {
        D3DKMT_STANDARDALLOCATIONTYPE_EXISTINGHEAP => {
            existing && info.pSystemMem != 0 && info.pSystemMem.is_multiple_of(PAGE_SIZE)
        }
        D3DKMT_STANDARDALLOCATIONTYPE_CROSSADAPTER => !existing && info.pSystemMem == 0,
        _ => false,
    };
    let heap = standard.ExistingHeapSize;
    if !memory_ok || heap == 0 || !heap.is_multiple_of(PAGE_SIZE) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(())
}

/// One DDIGETSTANDARDALLOCATIONDRIVERDATA for a heap of `width` bytes with the blob sizes
/// `sizes` (0, 0 to learn them): the host's sizes and the allocation blob.
fn blobs(
    call: &mut Call<'_>,
    device: D3dkmtHandle,
    width: u32,
    sizes: (u32, u32),
) -> Result<((u32, u32), Vec<u8>), NtStatus> {
    let request = Request::GetStandardAllocationDriverData {
        device,
        command: GetStandardAllocationDriverDataCommand {
            allocation_type: STANDARD_ALLOCATION_GDI_SURFACE,
            private_driver_data_size: sizes.0,
            private_driver_resource_size: sizes.1,
            width,
            height: 1,
            surface_type: GDI_SURFACE_TEXTURE_CROSSADAPTER,
            ..FromZeros::new_zeroed()
        },
    };
    match call.gpu(request)? {
        Reply::StandardAllocationDriverData {
            allocation_data_size,
            resource_data_size,
            allocation_data,
            ..
        } => Ok(((allocation_data_size, resource_data_size), allocation_data)),
        other => Err(super::unexpected(&other)),
    }
}
