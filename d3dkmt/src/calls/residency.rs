//! Residency and memory management: QueryAllocationResidency, OfferAllocations,
//! ReclaimAllocations2, UpdateAllocationProperty, InvalidateCache and
//! ChangeVideoMemoryReservation (dxg.md §3.25).

use super::prelude::*;
use super::priority::{AllocationList, write_values};

/// `D3DKMTQueryAllocationResidency`: writes one `D3DKMT_ALLOCATIONRESIDENCYSTATUS` per
/// allocation (or one for the resource) to `pResidencyStatus`.
pub fn query_allocation_residency(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_QUERYALLOCATIONRESIDENCY = decode(call.arguments)?;
    let list = AllocationList::read(call.environment, &arguments)?;
    let request = Request::QueryAllocationResidency {
        command: QueryAllocationResidencyCommand {
            device: list.device,
            resource: list.resource,
            ..FromZeros::new_zeroed()
        },
        allocations: list.allocations,
    };
    let statuses = reply!(call.gpu(request)?, Reply::Residency(statuses) => statuses);
    write_values(
        call.environment,
        arguments.pResidencyStatus,
        &statuses,
        list.values,
    )
}

/// The handles of Offer/Reclaim: exactly one of `resources` (resource handles) and
/// `allocations` (allocation handles) is non-null, with 1 … 10240 handles. Returns the handles
/// and whether they are resources.
fn offered_handles(
    environment: &dyn Environment,
    resources: u64,
    allocations: u64,
    count: u32,
) -> Result<(Vec<D3dkmtHandle>, bool), NtStatus> {
    if (resources == 0) == (allocations == 0) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let are_resources = resources != 0;
    let address = if are_resources {
        resources
    } else {
        allocations
    };
    Ok((
        read_residency_list(environment, count, address)?,
        are_resources,
    ))
}

/// `D3DKMTOfferAllocations`.
pub fn offer_allocations(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_OFFERALLOCATIONS = decode(call.arguments)?;
    let (handles, resources) = offered_handles(
        call.environment,
        arguments.pResources,
        arguments.HandleList,
        arguments.NumAllocations,
    )?;
    call.gpu_status(Request::OfferAllocations {
        command: OfferAllocationsCommand {
            device: D3dkmtHandle(arguments.hDevice),
            resources: u8::from(resources),
            priority: arguments.Priority,
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        handles,
    })
}

/// `D3DKMTReclaimAllocations2`: the device is the paging queue's (an unknown paging queue is
/// `STATUS_INVALID_HANDLE`); with `pResults` one `D3DDDI_RECLAIM_RESULT` per handle is written
/// there. Writes `PagingFenceValue`; returns `STATUS_PENDING` when the caller must wait for it.
pub fn reclaim_allocations2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_RECLAIMALLOCATIONS2 = decode(call.arguments)?;
    let paging_queue = D3dkmtHandle(arguments.hPagingQueue);
    let (handles, resources) = offered_handles(
        call.environment,
        arguments.pResources,
        arguments.HandleList,
        arguments.NumAllocations,
    )?;
    let device = call
        .owners
        .paging_queue_device(paging_queue)
        .ok_or(NtStatus::INVALID_HANDLE)?;
    let count = handles.len();
    let write_results = arguments.pResults != 0;
    let request = Request::ReclaimAllocations {
        command: ReclaimAllocationsCommand {
            device,
            paging_queue,
            resources: u8::from(resources),
            write_results: u8::from(write_results),
            ..FromZeros::new_zeroed()
        },
        handles,
    };
    let (status, paging_fence_value, results) = reply!(call.gpu(request)?,
        Reply::Reclaimed { status, paging_fence_value, results } =>
            (status, paging_fence_value, results));
    let status = success_or_failure(status)?;
    if write_results {
        write_values(call.environment, arguments.pResults, &results, count)?;
    }
    arguments.PagingFenceValue = paging_fence_value;
    call.store(&arguments)?;
    Ok(status)
}

/// `D3DKMTUpdateAllocationProperty`: writes `PagingFenceValue`; returns `STATUS_PENDING` when
/// the caller must wait for it.
pub fn update_allocation_property(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DDDI_UPDATEALLOCPROPERTY = decode(call.arguments)?;
    let request = Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
        paging_queue: D3dkmtHandle(arguments.hPagingQueue),
        allocation: D3dkmtHandle(arguments.hAllocation),
        supported_segment_set: arguments.SupportedSegmentSet,
        preferred_segment: arguments.PreferredSegment,
        flags: arguments.Flags,
        property_mask: arguments.PropertyMaskValue,
        ..FromZeros::new_zeroed()
    });
    let (status, paging_fence_value) = reply!(call.gpu(request)?,
        Reply::PagingFence { status, paging_fence_value } => (status, paging_fence_value));
    let status = success_or_failure(status)?;
    arguments.PagingFenceValue = paging_fence_value;
    call.store(&arguments)?;
    Ok(status)
}

/// `D3DKMTInvalidateCache`.
pub fn invalidate_cache(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_INVALIDATECACHE = decode(call.arguments)?;
    call.gpu_status(Request::InvalidateCache(InvalidateCacheCommand {
        device: D3dkmtHandle(arguments.hDevice),
        allocation: D3dkmtHandle(arguments.hAllocation),
        offset: arguments.Offset,
        length: arguments.Length,
        ..FromZeros::new_zeroed()
    }))
}

/// `D3DKMTChangeVideoMemoryReservation`: only for the caller (`hProcess` 0), as in Linux.
pub fn change_video_memory_reservation(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_CHANGEVIDEOMEMORYRESERVATION = decode(call.arguments)?;
    if arguments.hProcess != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    call.gpu_status(Request::ChangeVideoMemoryReservation(
        ChangeVideoMemoryReservationCommand {
            adapter: D3dkmtHandle(arguments.hAdapter),
            memory_segment_group: arguments.MemorySegmentGroup,
            reservation: arguments.Reservation,
            physical_adapter_index: arguments.PhysicalAdapterIndex,
            ..FromZeros::new_zeroed()
        },
    ))
}
