//! Priorities: Set/GetContextSchedulingPriority, Set/GetContextInProcessSchedulingPriority,
//! SetAllocationPriority and GetAllocationPriority (dxg.md §3.25).

use super::prelude::*;

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
    call.gpu_status(Request::SetContextSchedulingPriority(
        SetContextSchedulingPriorityCommand {
            context: D3dkmtHandle(context),
            priority,
            in_process: u8::from(in_process),
            ..FromZeros::new_zeroed()
        },
    ))
}

/// `D3DKMTGetContextSchedulingPriority`.
pub fn get_context_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_GETCONTEXTSCHEDULINGPRIORITY = decode(call.arguments)?;
    arguments.Priority = get_context_priority(call, arguments.hContext, false)?;
    call.store(&arguments)
}

/// `D3DKMTGetContextInProcessSchedulingPriority`.
pub fn get_context_in_process_scheduling_priority(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY = decode(call.arguments)?;
    arguments.Priority = get_context_priority(call, arguments.hContext, true)?;
    call.store(&arguments)
}

fn get_context_priority(
    call: &mut Call<'_>,
    context: u32,
    in_process: bool,
) -> Result<i32, NtStatus> {
    let request = Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
        context: D3dkmtHandle(context),
        in_process: u8::from(in_process),
        ..FromZeros::new_zeroed()
    });
    Ok(reply!(call.gpu(request)?, Reply::SchedulingPriority(priority) => priority))
}

/// "A resource, or 1 … 10240 allocations" of a device (priorities, residency), read from the
/// argument struct.
pub struct AllocationList {
    /// `hDevice`.
    pub device: D3dkmtHandle,
    /// `hResource` (null when allocations are named).
    pub resource: D3dkmtHandle,
    /// The handles at `phAllocationList` (none when a resource is named).
    pub allocations: Vec<D3dkmtHandle>,
    /// The number of per-allocation values (one for a resource).
    pub values: usize,
}

/// An argument struct naming a resource or an allocation list: `hDevice`, `hResource`,
/// `AllocationCount` and `phAllocationList`.
pub trait NamesAllocations {
    /// `(hDevice, hResource, AllocationCount, phAllocationList)`.
    fn fields(&self) -> (u32, u32, u32, u64);
}

macro_rules! names_allocations {
    ($($name:ty),*) => {
        $(impl NamesAllocations for $name {
            fn fields(&self) -> (u32, u32, u32, u64) {
                (
                    self.hDevice,
                    self.hResource,
                    self.AllocationCount,
                    self.phAllocationList,
                )
            }
        })*
    };
}

names_allocations!(
    D3DKMT_SETALLOCATIONPRIORITY,
    D3DKMT_GETALLOCATIONPRIORITY,
    D3DKMT_QUERYALLOCATIONRESIDENCY
);

impl AllocationList {
    /// Checks the resource-or-allocations pair of `arguments` (exactly one of them, with
    /// 0 … 10240 allocations) and reads the allocation handles.
    pub fn read(
        environment: &dyn Environment,
        arguments: &impl NamesAllocations,
    ) -> Result<Self, NtStatus> {
        let (device, resource, count, handles) = arguments.fields();
        let count = checked_count(count, 0, D3DKMT_MAKERESIDENT_ALLOC_MAX)?;
        let resource = D3dkmtHandle(resource);
        if resource.is_null() == (count == 0) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(Self {
            device: D3dkmtHandle(device),
            resource,
            allocations: read_handles(environment, handles, count)?,
            values: count.max(1),
        })
    }
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
    crate::arguments::write_bytes(environment, address, values.as_bytes())?;
    Ok(NtStatus::SUCCESS)
}

/// `D3DKMTSetAllocationPriority`: a resource with one priority, or 1 … 10240 allocations with
/// one priority each.
pub fn set_allocation_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SETALLOCATIONPRIORITY = decode(call.arguments)?;
    let list = AllocationList::read(call.environment, &arguments)?;
    let priorities = read_array(call.environment, arguments.pPriorities, list.values)?;
    call.gpu_status(Request::SetAllocationPriority {
        device: list.device,
        resource: list.resource,
        allocations: list.allocations,
        priorities,
    })
}

/// `D3DKMTGetAllocationPriority`: writes one priority per allocation (or one for the
/// resource) to `pPriorities`.
pub fn get_allocation_priority(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_GETALLOCATIONPRIORITY = decode(call.arguments)?;
    let list = AllocationList::read(call.environment, &arguments)?;
    let request = Request::GetAllocationPriority {
        device: list.device,
        resource: list.resource,
        allocations: list.allocations,
    };
    let priorities = reply!(call.gpu(request)?, Reply::AllocationPriorities(values) => values);
    write_values(
        call.environment,
        arguments.pPriorities,
        &priorities,
        list.values,
    )
}
