//! Allocations: CreateAllocation2, DestroyAllocation2, MakeResident, Evict, Lock2 and Unlock2.
//! Allocations over existing system memory are backed in `existing_sysmem.rs`.

use super::prelude::*;
use super::{existing_sysmem, standard_allocation};

/// `D3DKMT_CREATEALLOCATIONFLAGS` bits this gateway cannot serve: CreateProtected (3) and
/// ExistingSection (17) have no `Request` (Linux refuses both too). StandardAllocation (16) is
/// served in `standard_allocation.rs`.
const UNSUPPORTED_CREATE_FLAGS: u32 = 1 << 3 | 1 << 17;

/// `D3DKMTCreateAllocation2`: 1 … 1024 `D3DDDI_ALLOCATIONINFO2` entries, each with its private
/// driver data; all private data together ≤ 128 KiB. Writes `hAllocation` (and a
/// `GpuVirtualAddress` of 0: the host does not report one) into every entry. With ExistingSysMem
/// (or `pSystemMem` set) the allocations are backed by the application's pages at `pSystemMem`
/// (see `existing_sysmem.rs`).
pub fn create_allocation2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATEALLOCATION = decode(call.arguments)?;
    let count = checked_count(arguments.NumAllocations, 1, D3DKMT_CREATEALLOCATION_MAX)?;
    if arguments.Flags & UNSUPPORTED_CREATE_FLAGS != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let device = D3dkmtHandle(arguments.hDevice);
    let mut budget = PrivateDataBudget::new();
    let runtime_data = budget.read(
        call.environment,
        arguments.pPrivateRuntimeData,
        arguments.PrivateRuntimeDataSize,
    )?;
    let driver_data = budget.read(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let mut infos: Vec<D3DDDI_ALLOCATIONINFO2> =
        read_array(call.environment, arguments.pAllocationInfo2, count)?;
    let standard = if arguments.Flags & D3DKMT_CREATEALLOCATIONFLAGS_STANDARD_ALLOCATION != 0 {
        Some(standard_allocation::driver_data(call, &arguments, &infos)?)
    } else {
        None
    };
    let system_memory = existing_sysmem::user_memory(arguments.Flags, &infos)?;
    let mut flags = arguments.Flags;
    if system_memory.is_some() {
        flags |= D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM;
    }
    let mut allocations = Vec::with_capacity(count);
    for info in &infos {
        let private_data = match &standard {
            Some(standard) => standard.allocation.clone(),
            None => budget.read(
                call.environment,
                info.pPrivateDriverData,
                info.PrivateDriverDataSize,
            )?,
        };
        allocations.push(AllocationRequest {
            flags: info.Flags,
            vidpn_source_id: info.VidPnSourceId,
            private_data,
        });
    }
    let driver_data = standard.map_or(driver_data, |standard| standard.global);
    let command = CreateAllocationCommand {
        device,
        resource: D3dkmtHandle(arguments.hResource),
        flags,
        ..FromZeros::new_zeroed()
    };
    let request = Request::CreateAllocation {
        command,
        runtime_data,
        driver_data,
        allocations,
    };
    let (resource, created) = reply!(call.gpu(request)?,
        Reply::Allocations { resource, allocations } => (resource, allocations));
    let finished = hand_over(call, device, &created, system_memory.as_deref(), &mut infos);
    if let Err(failure) = finished.and_then(|()| {
        write_bytes(
            call.environment,
            arguments.pAllocationInfo2,
            infos.as_bytes(),
        )
    }) {
        undo_create(call, device, resource, &created);
        return Err(failure);
    }
    let owner = if resource.is_null() {
        D3dkmtHandle(arguments.hResource)
    } else {
        resource
    };
    // One user address per created allocation (`created.len() == count == infos.len()`),
    // or none (0) for allocations in IO space.
    let user_addresses = system_memory
        .iter()
        .flatten()
        .copied()
        .chain(core::iter::repeat(0));
    for (allocation, user_address) in created.iter().zip(user_addresses) {
        call.views.add_allocation(
            allocation.handle,
            AllocationRecord {
                device,
                resource: owner,
                size: allocation.size,
                system_memory: user_address,
            },
        );
    }
    arguments.hResource = owner.0;
    arguments.hGlobalShare = 0;
    call.store(&arguments)
}

/// The steps of CreateAllocation2 between the host's reply and writing the infos back: the
/// reply must hold one allocation per info; allocations over existing system memory get their
/// pages; each info gets its `hAllocation` (and a `GpuVirtualAddress` of 0).
fn hand_over(
    call: &mut Call<'_>,
    device: D3dkmtHandle,
    created: &[CreatedAllocation],
    system_memory: Option<&[u64]>,
    infos: &mut [D3DDDI_ALLOCATIONINFO2],
) -> Result<(), NtStatus> {
    if created.len() != infos.len() {
        log::warn!(
            "d3dkmt: CreateAllocation returned {} allocations for {}",
            created.len(),
            infos.len()
        );
        return Err(NtStatus::UNSUCCESSFUL);
    }
    if let Some(addresses) = system_memory {
        existing_sysmem::back(call, device, created, addresses)?;
    }
    for (info, allocation) in infos.iter_mut().zip(created) {
        info.hAllocation = allocation.handle.0;
        info.GpuVirtualAddress = 0;
    }
    Ok(())
}

/// Destroys what a failed CreateAllocation2 created (the new resource, or the allocations).
fn undo_create(
    call: &mut Call<'_>,
    device: D3dkmtHandle,
    resource: D3dkmtHandle,
    created: &[CreatedAllocation],
) {
    let allocations = if resource.is_null() {
        created.iter().map(|allocation| allocation.handle).collect()
    } else {
        Vec::new()
    };
    if resource.is_null() && allocations.is_empty() {
        return;
    }
    call.undo(Request::DestroyAllocation {
        command: DestroyAllocationCommand {
            device,
            resource,
            flags: D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE,
            ..FromZeros::new_zeroed()
        },
        allocations,
    });
}

/// `D3DKMTDestroyAllocation2`: ≤ 1024 allocations, or a resource; their views go first.
pub fn destroy_allocation2(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_DESTROYALLOCATION2 = decode(call.arguments)?;
    let count = checked_count(arguments.AllocationCount, 0, D3DKMT_CREATEALLOCATION_MAX)?;
    let allocations = read_handles(call.environment, arguments.phAllocationList, count)?;
    let resource = D3dkmtHandle(arguments.hResource);
    call.views
        .remove_allocations(call.environment, &allocations);
    call.views.remove_resource(call.environment, resource);
    call.gpu_status(Request::DestroyAllocation {
        command: DestroyAllocationCommand {
            device: D3dkmtHandle(arguments.hDevice),
            resource,
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        allocations,
    })
}

/// `D3DKMTMakeResident`: 1 … 10240 allocations (the priority list is not sent, as in the Linux
/// driver). Returns `STATUS_PENDING` when the caller must wait for `PagingFenceValue`.
pub fn make_resident(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DDDI_MAKERESIDENT = decode(call.arguments)?;
    let allocations = read_residency_list(
        call.environment,
        arguments.NumAllocations,
        arguments.AllocationList,
    )?;
    let request = Request::MakeResident {
        command: MakeResidentCommand {
            paging_queue: D3dkmtHandle(arguments.hPagingQueue),
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        allocations,
    };
    let (status, paging_fence_value, bytes_to_trim) = reply!(call.gpu(request)?,
        Reply::Resident { status, paging_fence_value, bytes_to_trim } =>
            (status, paging_fence_value, bytes_to_trim));
    let status = success_or_failure(status)?;
    arguments.PagingFenceValue = paging_fence_value;
    arguments.NumBytesToTrim = bytes_to_trim;
    call.store(&arguments)?;
    Ok(status)
}

/// `D3DKMTEvict`: 1 … 10240 allocations.
pub fn evict(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_EVICT = decode(call.arguments)?;
    let allocations = read_residency_list(
        call.environment,
        arguments.NumAllocations,
        arguments.AllocationList,
    )?;
    let request = Request::Evict {
        command: EvictCommand {
            device: D3dkmtHandle(arguments.hDevice),
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        allocations,
    };
    arguments.NumBytesToTrim =
        reply!(call.gpu(request)?, Reply::Evicted { bytes_to_trim } => bytes_to_trim);
    call.store(&arguments)
}

/// `D3DKMTLock2`: maps the allocation read/write (its size rounded up to pages) and returns the
/// user address in `pData`. A locked allocation's view is reused and counted, without a host
/// message. An allocation over existing system memory is already the application's memory:
/// `pData` is its `pSystemMem`, without a host message or a view (as Linux).
pub fn lock2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_LOCK2 = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let allocation = D3dkmtHandle(arguments.hAllocation);
    let record = call.views.allocation(allocation);
    if record.is_some_and(|record| record.device != device) {
        return Err(NtStatus::INVALID_HANDLE);
    }
    if let Some(record) = record
        && record.system_memory != 0
    {
        arguments.pData = record.system_memory;
        return call.store(&arguments);
    }
    if let Some(view) = call.views.lock_mut(allocation) {
        view.count = view
            .count
            .checked_add(1)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        arguments.pData = view.mapping.user_address;
        return call.store(&arguments);
    }
    let (address, cached) = reply!(call.gpu(Request::Lock { device, allocation })?,
        Reply::Locked { address, cached } => (address, cached));
    // Without a record the core knows the handle but this process never created it: no size
    // to map.
    let mapped = record.ok_or(NtStatus::INVALID_HANDLE).and_then(|record| {
        let access = ViewAccess {
            writable: true,
            cached,
        };
        Mapping::map(call.environment, address, record.size, access)
    });
    let mapping = call.or_undo(mapped, Request::Unlock { device, allocation })?;
    call.views
        .add_lock(call.environment, allocation, device, mapping);
    arguments.pData = mapping.user_address;
    call.store(&arguments)
}

/// `D3DKMTUnlock2`: releases one Lock2; the last one unmaps the view and tells the host. An
/// allocation without a view (existing system memory, or never locked) tells the host each time,
/// as Linux does.
pub fn unlock2(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_UNLOCK2 = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let allocation = D3dkmtHandle(arguments.hAllocation);
    if let Some(view) = call.views.lock_mut(allocation)
        && view.device != device
    {
        return Err(NtStatus::INVALID_HANDLE);
    }
    match call.views.release_lock(call.environment, allocation) {
        Release::StillLocked => Ok(NtStatus::SUCCESS),
        Release::Unmapped | Release::NotLocked => {
            call.gpu_status(Request::Unlock { device, allocation })
        }
    }
}
