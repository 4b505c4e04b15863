//! Priorities: Set/GetContextSchedulingPriority, Set/GetContextInProcessSchedulingPriority,
//! SetAllocationPriority and GetAllocationPriority (dxg.md §3.25).

use super::{Call, unexpected};
use crate::d3dkmt::arguments::{checked_count, decode, encode, read_array, read_handles};
use crate::d3dkmt::{CallResult, Environment, NtStatus, Reply, Request};
use alloc::vec::Vec;
use dxg::wire::D3dkmtHandle;
use userlib::abi::{
    D3DKMT_GETALLOCATIONPRIORITY, D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY,
    D3DKMT_GETCONTEXTSCHEDULINGPRIORITY, D3DKMT_MAKERESIDENT_ALLOC_MAX,
    D3DKMT_SETALLOCATIONPRIORITY, D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY,
    D3DKMT_SETCONTEXTSCHEDULINGPRIORITY,
};
use zerocopy::IntoBytes;

/// `D3DKMTSetContextSchedulingPriority`.
pub fn set_context_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SETCONTEXTSCHEDULINGPRIORITY = decode(call.arguments)?;
    set_context_priority(call, arguments.hContext, arguments.Priority, false)
}

/// `D3DKMTSetContextInProcessSchedulingPriority`.
pub fn set_context_in_process_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY = decode(call.arguments)?;
    set_context_priority(call, arguments.hContext, arguments.Priority, true)
}

fn set_context_priority(
    call: &mut Call<'_>,
    context: u32,
    priority: i32,
    in_process: bool,
) -> CallResult {
    call.gpu_status(Request::SetContextSchedulingPriority {
        context: D3dkmtHandle(context),
        priority,
        in_process,
    })
}

/// `D3DKMTGetContextSchedulingPriority`.
pub fn get_context_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_GETCONTEXTSCHEDULINGPRIORITY = decode(call.arguments)?;
    arguments.Priority = get_context_priority(call, arguments.hContext, false)?;
    encode(call.arguments, &arguments);
    Ok(NtStatus::SUCCESS)
}

/// `D3DKMTGetContextInProcessSchedulingPriority`.
pub fn get_context_in_process_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY = decode(call.arguments)?;
    arguments.Priority = get_context_priority(call, arguments.hContext, true)?;
    encode(call.arguments, &arguments);
    Ok(NtStatus::SUCCESS)
}

fn get_context_priority(
    call: &mut Call<'_>,
    context: u32,
    in_process: bool,
) -> Result<i32, NtStatus> {
    let request = Request::GetContextSchedulingPriority {
        context: D3dkmtHandle(context),
        in_process,
    };
    match call.gpu(request)? {
        Reply::SchedulingPriority(priority) => Ok(priority),
        other => Err(unexpected(&other)),
    }
}

/// "A resource, or 1 … 10240 allocations" (priorities, residency): checks the pair, reads the
/// allocation handles and returns them with the number of per-allocation values (one for a
/// resource).
pub fn resource_or_allocations(
    environment: &dyn Environment,
    resource: u32,
    count: u32,
    handles: u64,
) -> Result<(D3dkmtHandle, Vec<D3dkmtHandle>, usize), NtStatus> {
    let count = checked_count(count, 0, D3DKMT_MAKERESIDENT_ALLOC_MAX)?;
    let resource = D3dkmtHandle(resource);
    if resource.is_null() == (count == 0) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let allocations = read_handles(environment, handles, count)?;
    Ok((resource, allocations, count.max(1)))
}

/// Writes one `u32` per allocation (or one for the resource) to user `address`; a reply with
/// another number of values is refused.
pub fn write_values(
    environment: &dyn Environment,
    address: u64,
    values: &[u32],
    expected: usize,
) -> CallResult {
    if values.len() != expected {
        log::warn!(
            "d3dkmt: {} values in the reply for {expected}",
            values.len()
        );
        return Err(NtStatus::UNSUCCESSFUL);
    }
    crate::d3dkmt::arguments::write_bytes(environment, address, values.as_bytes())?;
    Ok(NtStatus::SUCCESS)
}

/// `D3DKMTSetAllocationPriority`: a resource with one priority, or 1 … 10240 allocations with
/// one priority each.
pub fn set_allocation_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SETALLOCATIONPRIORITY = decode(call.arguments)?;
    let (resource, allocations, values) = resource_or_allocations(
        call.environment,
        arguments.hResource,
        arguments.AllocationCount,
        arguments.phAllocationList,
    )?;
    let priorities = read_array(call.environment, arguments.pPriorities, values)?;
    call.gpu_status(Request::SetAllocationPriority {
        device: D3dkmtHandle(arguments.hDevice),
        resource,
        allocations,
        priorities,
    })
}

/// `D3DKMTGetAllocationPriority`: writes one priority per allocation (or one for the
/// resource) to `pPriorities`.
pub fn get_allocation_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_GETALLOCATIONPRIORITY = decode(call.arguments)?;
    let (resource, allocations, values) = resource_or_allocations(
        call.environment,
        arguments.hResource,
        arguments.AllocationCount,
        arguments.phAllocationList,
    )?;
    let request = Request::GetAllocationPriority {
        device: D3dkmtHandle(arguments.hDevice),
        resource,
        allocations,
    };
    match call.gpu(request)? {
        Reply::AllocationPriorities(priorities) => {
            write_values(call.environment, arguments.pPriorities, &priorities, values)
        }
        other => Err(unexpected(&other)),
    }
}
