//! GPU virtual addresses: ReserveGpuVirtualAddress, MapGpuVirtualAddress,
//! FreeGpuVirtualAddress and UpdateGpuVirtualAddress (dxg.md §3.12).

use super::prelude::*;

/// `D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION_TYPE` values.
const OPERATION_MAP: u32 = 0;
const OPERATION_UNMAP: u32 = 1;
const OPERATION_COPY: u32 = 2;
const OPERATION_MAP_PROTECT: u32 = 3;

/// `D3DKMTReserveGpuVirtualAddress`. `hAdapter` is a union with `hPagingQueue`: like the Linux
/// driver, the handle is tried as an adapter first and, when it names none, as a paging queue.
/// Only `VirtualAddress` is written back (as Linux does).
pub fn reserve_gpu_virtual_address(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DDDI_RESERVEGPUVIRTUALADDRESS = decode(call.arguments)?;
    let handle = D3dkmtHandle(arguments.hAdapter);
    let request = |adapter, paging_queue| Request::ReserveGpuVirtualAddress {
        paging_queue,
        command: ReserveGpuVirtualAddressCommand {
            adapter,
            base_address: arguments.BaseAddress,
            minimum_address: arguments.MinimumAddress,
            maximum_address: arguments.MaximumAddress,
            size: arguments.Size,
            reservation_type: arguments.ReservationType,
            driver_protection: arguments.DriverProtection,
            ..FromZeros::new_zeroed()
        },
    };
    let reply = match call.gpu(request(handle, D3dkmtHandle::NULL)) {
        Err(NtStatus::INVALID_HANDLE) if !handle.is_null() => {
            call.gpu(request(D3dkmtHandle::NULL, handle))?
        }
        other => other?,
    };
    let (status, virtual_address) = reply!(reply,
        Reply::GpuVirtualAddress { status, virtual_address, .. } => (status, virtual_address));
    let status = success_or_failure(status)?;
    arguments.VirtualAddress = virtual_address;
    call.store(&arguments)?;
    Ok(status)
}

/// `D3DKMTMapGpuVirtualAddress`: writes `VirtualAddress` and `PagingFenceValue`; returns
/// `STATUS_PENDING` when the caller must wait for the paging fence.
pub fn map_gpu_virtual_address(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DDDI_MAPGPUVIRTUALADDRESS = decode(call.arguments)?;
    let request = Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
        paging_queue: D3dkmtHandle(arguments.hPagingQueue),
        allocation: D3dkmtHandle(arguments.hAllocation),
        base_address: arguments.BaseAddress,
        minimum_address: arguments.MinimumAddress,
        maximum_address: arguments.MaximumAddress,
        offset_in_pages: arguments.OffsetInPages,
        size_in_pages: arguments.SizeInPages,
        protection: arguments.Protection,
        driver_protection: arguments.DriverProtection,
        ..FromZeros::new_zeroed()
    });
    let (status, virtual_address, paging_fence_value) = reply!(call.gpu(request)?,
        Reply::GpuVirtualAddress { status, virtual_address, paging_fence_value } =>
            (status, virtual_address, paging_fence_value));
    let status = success_or_failure(status)?;
    arguments.VirtualAddress = virtual_address;
    arguments.PagingFenceValue = paging_fence_value;
    call.store(&arguments)?;
    Ok(status)
}

/// `D3DKMTFreeGpuVirtualAddress`.
pub fn free_gpu_virtual_address(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_FREEGPUVIRTUALADDRESS = decode(call.arguments)?;
    call.gpu_status(Request::FreeGpuVirtualAddress(
        FreeGpuVirtualAddressCommand {
            adapter: D3dkmtHandle(arguments.hAdapter),
            base_address: arguments.BaseAddress,
            size: arguments.Size,
            ..FromZeros::new_zeroed()
        },
    ))
}

/// `D3DKMTUpdateGpuVirtualAddress`: 1 … 2048 operations (the dxg core refuses a batch that
/// does not fit in one packet); an unknown operation type is `STATUS_INVALID_PARAMETER`.
pub fn update_gpu_virtual_address(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_UPDATEGPUVIRTUALADDRESS = decode(call.arguments)?;
    let count = checked_count(arguments.NumOperations, 1, MAX_UPDATE_GPU_VA_OPERATIONS)?;
    let raw: Vec<D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION> =
        read_array(call.environment, arguments.pOperations, count)?;
    let operations = raw.iter().map(operation).collect::<Result<Vec<_>, _>>()?;
    call.gpu_status(Request::UpdateGpuVirtualAddress {
        command: UpdateGpuVirtualAddressCommand {
            device: D3dkmtHandle(arguments.hDevice),
            context: D3dkmtHandle(arguments.hContext),
            fence_object: D3dkmtHandle(arguments.hFenceObject),
            fence_value: arguments.FenceValue,
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        operations,
    })
}

/// One operation of the user's array. The struct shows the union as its MapProtect member;
/// Unmap's `Protection` and Copy's `DestAddress` are the 8 bytes at offset 24 (`hAllocation`
/// and the padding after it).
fn operation(
    raw: &D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION,
) -> Result<GpuVirtualAddressOperation, NtStatus> {
    let third_word = u64::from(raw.hAllocation) | u64::from(raw._Padding1) << 32;
    Ok(match raw.OperationType {
        OPERATION_MAP => GpuVirtualAddressOperation::Map {
            base_address: raw.BaseAddress,
            size: raw.SizeInBytes,
            allocation: D3dkmtHandle(raw.hAllocation),
            allocation_offset: raw.AllocationOffsetInBytes,
            allocation_size: raw.AllocationSizeInBytes,
        },
        OPERATION_UNMAP => GpuVirtualAddressOperation::Unmap {
            base_address: raw.BaseAddress,
            size: raw.SizeInBytes,
            protection: third_word,
        },
        OPERATION_COPY => GpuVirtualAddressOperation::Copy {
            source_address: raw.BaseAddress,
            size: raw.SizeInBytes,
            destination_address: third_word,
        },
        OPERATION_MAP_PROTECT => GpuVirtualAddressOperation::MapProtect {
            base_address: raw.BaseAddress,
            size: raw.SizeInBytes,
            allocation: D3dkmtHandle(raw.hAllocation),
            allocation_offset: raw.AllocationOffsetInBytes,
            allocation_size: raw.AllocationSizeInBytes,
            protection: raw.Protection,
            driver_protection: raw.DriverProtection,
        },
        _ => return Err(NtStatus::INVALID_PARAMETER),
    })
}
