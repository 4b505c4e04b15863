//! Host handlers of the GPU-memory commands (dxg.md §3.12, §3.25): GPU virtual addresses
//! (16–19), residency (41), priorities (59, 60), offer / reclaim (57, 58), allocation property
//! (56), cache invalidation (67) and video memory reservation (49); plus the failure shapes of
//! every command added after the smoke path.
//!
//! GPU virtual addresses live in one [`GpuVaSpace`] per host process and vGPU. The GPU is
//! synchronous, so paging operations (MAP, RECLAIM, property updates) complete at once: the host
//! advances the paging queue's fence page and answers PENDING with that value, which the fence
//! has already reached.

use super::dispatch::{Handled, element_offset, parse, put_bytes, status_bytes, u32_result_area};
use super::gpu_va::GpuVaSpace;
use super::{GpuHost, HostObject, Owned, ResidencyState};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

/// The reply a failed command gets, shaped like its success reply (status where the guest looks
/// for it, the rest zero), for the commands whose reply is not a bare status.
pub(super) fn failure_reply(
    kind: VgpuCommand,
    status: NtStatus,
    command: &[u8],
) -> Option<Vec<u8>> {
    let code = status.0.to_le_bytes();
    let with_status_at = |size: usize, offset: usize| {
        let mut reply = vec![0u8; size];
        put_bytes(&mut reply, offset, &code);
        reply
    };
    let count_at = |offset: usize| read_at::<u32>(command, offset).unwrap_or(0) as usize;
    Some(match kind {
        // No status field: a null address tells the guest it failed.
        VgpuCommand::ReserveGpuVirtualAddress => vec![0u8; ReserveGpuVirtualAddressReply::SIZE],
        VgpuCommand::MapGpuVirtualAddress => with_status_at(MapGpuVirtualAddressReply::SIZE, 16),
        VgpuCommand::CreateHwQueue => {
            let mut echo = command.to_vec();
            if echo.len() >= 36 {
                put_bytes(&mut echo, 24, &code);
                put_bytes(&mut echo, 28, &[0u8; 8]);
            }
            echo
        }
        VgpuCommand::GetContextSchedulingPriority => with_status_at(8, 0),
        VgpuCommand::GetAllocationPriority => with_status_at(
            u32_result_area(4, count_at(32).clamp(1, MAX_RESIDENCY_ALLOCATIONS)),
            0,
        ),
        VgpuCommand::QueryAllocationResidency => with_status_at(
            u32_result_area(4, count_at(48).clamp(1, MAX_RESIDENCY_ALLOCATIONS)),
            0,
        ),
        VgpuCommand::ReclaimAllocations => with_status_at(
            u32_result_area(
                RECLAIM_RESULTS_OFFSET,
                count_at(32).clamp(1, MAX_RESIDENCY_ALLOCATIONS),
            ),
            8,
        ),
        VgpuCommand::QueryClockCalibration => with_status_at(QueryClockCalibrationReply::SIZE, 0),
        VgpuCommand::UpdateAllocationProperty => with_status_at(FenceValueStatusReply::SIZE, 8),
        VgpuCommand::QueryStatistics => with_status_at(QueryStatisticsReply::SIZE, 0),
        VgpuCommand::IsFeatureEnabled => with_status_at(IsFeatureEnabledReply::SIZE, 0),
        VgpuCommand::Lock2 => with_status_at(Lock2Reply::SIZE, 0),
        _ => return super::dispatch_sharing::failure_reply(kind, status, command),
    })
}

impl<M: GuestMemory> GpuHost<M> {
    /// Handles the commands added after the smoke path (process already checked).
    pub(super) fn extended_command(
        &mut self,
        process: D3dkmtHandle,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        match kind {
            VgpuCommand::ReserveGpuVirtualAddress => self.reserve_va(process, adapter, command),
            VgpuCommand::MapGpuVirtualAddress => self.map_va(process, adapter, command),
            VgpuCommand::FreeGpuVirtualAddress => {
                let request: FreeGpuVirtualAddressCommand = parse(command)?;
                self.check_host_adapter(adapter, request.adapter)?;
                self.va_space(process, adapter)?
                    .free(request.base_address, request.size)?;
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::UpdateGpuVirtualAddress => self.update_va(process, adapter, command),
            VgpuCommand::QueryAllocationResidency => {
                let request: QueryAllocationResidencyCommand = parse(command)?;
                let handles = self.resource_or_allocations(
                    process,
                    adapter,
                    request.device,
                    request.resource,
                    request.allocation_count,
                    command,
                    QueryAllocationResidencyCommand::SIZE,
                )?;
                Ok(self.residency_reply(process, &handles, |state| state.residency))
            }
            VgpuCommand::SetAllocationPriority => {
                let request: AllocationPriorityCommand = parse(command)?;
                let handles = self.priority_handles(process, adapter, &request, command)?;
                let priorities_offset = element_offset(
                    PRIORITY_HANDLES_OFFSET,
                    request.allocation_count as usize,
                    4,
                )
                .ok_or(NtStatus::INVALID_PARAMETER)?;
                let priorities = read_u32_array(command, priorities_offset, handles.len())
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                let entry = self.process_mut(process)?;
                for (handle, priority) in handles.iter().zip(&priorities) {
                    entry.residency.entry(*handle).or_default().priority = *priority;
                }
                if !request.resource.is_null() {
                    // The resource's priority also applies to all of its allocations.
                    let members = members_of(&entry.objects, request.resource);
                    let priority = priorities.first().copied().unwrap_or_default();
                    for member in members {
                        entry.residency.entry(member).or_default().priority = priority;
                    }
                }
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::GetAllocationPriority => {
                let request: AllocationPriorityCommand = parse(command)?;
                let handles = self.priority_handles(process, adapter, &request, command)?;
                Ok(self.residency_reply(process, &handles, |state| state.priority))
            }
            VgpuCommand::OfferAllocations => self.offer(process, adapter, command),
            VgpuCommand::ReclaimAllocations => self.reclaim(process, adapter, command),
            VgpuCommand::UpdateAllocationProperty => {
                let request: UpdateAllocationPropertyCommand = parse(command)?;
                let fence = self.paging_queue_fence(process, adapter, request.paging_queue)?;
                self.expect_allocation(process, request.allocation, adapter)?;
                if request.supported_segment_set == 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let entry = self.process_mut(process)?;
                let state = entry.residency.entry(request.allocation).or_default();
                state.supported_segment_set = request.supported_segment_set;
                state.preferred_segment = request.preferred_segment;
                let value = self.advance_paging_fence(process, fence)?;
                Ok(FenceValueStatusReply {
                    paging_fence_value: value,
                    status: NtStatus::PENDING.0,
                    padding: 0,
                }
                .as_bytes()
                .to_vec())
            }
            VgpuCommand::InvalidateCache => {
                let request: InvalidateCacheCommand = parse(command)?;
                self.expect_device(process, request.device, adapter)?;
                let size = match self.expect_allocation(process, request.allocation, adapter)? {
                    HostObject::Allocation { size, .. } => size,
                    _ => 0,
                };
                let end = request.offset.checked_add(request.length);
                if request.length == 0 || end.is_none_or(|end| end > size) {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let entry = self.process_mut(process)?;
                let state = entry.residency.entry(request.allocation).or_default();
                state.cache_invalidations = state.cache_invalidations.saturating_add(1);
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::ChangeVideoMemoryReservation => {
                let request: ChangeVideoMemoryReservationCommand = parse(command)?;
                if request.memory_segment_group > 1 || request.physical_adapter_index != 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let budget = self.io_space().map(|(_, length)| length).unwrap_or(0);
                if request.reservation > budget / 2 {
                    return Err(NtStatus::NO_MEMORY);
                }
                self.process_mut(process)?
                    .reservations
                    .insert((adapter, request.memory_segment_group), request.reservation);
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            _ => self.scheduling_command(process, kind, command, adapter),
        }
    }

    /// The process's GPU VA space on `adapter` (created on first use).
    fn va_space(
        &mut self,
        process: D3dkmtHandle,
        adapter: usize,
    ) -> Result<&mut GpuVaSpace, NtStatus> {
        Ok(self
            .process_mut(process)?
            .gpu_va
            .entry(adapter)
            .or_default())
    }

    /// Translates a GPU VA range that lies inside one mapped allocation to its guest-physical
    /// address.
    pub(super) fn translate_gpu_va(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        address: u64,
        length: u64,
    ) -> Option<u64> {
        let entry = self.processes.get(&process)?;
        let space = entry.gpu_va.get(&adapter)?;
        let (page, offset) = space.translate(address)?;
        let (base, size) = match entry.objects.get(&page.allocation)?.object {
            HostObject::Allocation { address, size, .. } => (address, size),
            _ => return None,
        };
        let start = page
            .allocation_page
            .checked_mul(PAGE_SIZE)?
            .checked_add(offset)?;
        // The whole range must be mapped contiguously onto the same allocation.
        let span = length.saturating_sub(1);
        let last = address.checked_add(span)?;
        let (last_page, last_offset) = space.translate(last)?;
        let last_in_allocation = last_page
            .allocation_page
            .checked_mul(PAGE_SIZE)?
            .checked_add(last_offset)?;
        let contiguous = last_page.allocation == page.allocation
            && Some(last_in_allocation) == start.checked_add(span);
        let inside = start.checked_add(length).is_some_and(|end| end <= size);
        (contiguous && inside)
            .then(|| base.checked_add(start))
            .flatten()
    }

    fn check_host_adapter(&self, adapter: usize, handle: D3dkmtHandle) -> Result<(), NtStatus> {
        let host_adapter = self.vgpus.get(adapter).map(|vgpu| vgpu.host_adapter);
        if handle.is_null() || host_adapter != Some(handle) {
            return Err(NtStatus::INVALID_HANDLE);
        }
        Ok(())
    }

    fn paging_queue_fence(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        queue: D3dkmtHandle,
    ) -> Result<D3dkmtHandle, NtStatus> {
        match self.expect(process, queue, adapter, |object| {
            matches!(object, HostObject::PagingQueue { .. })
        })? {
            HostObject::PagingQueue { fence } => Ok(fence),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    /// Increments a paging fence page and returns the new value.
    pub(super) fn advance_paging_fence(
        &mut self,
        process: D3dkmtHandle,
        fence: D3dkmtHandle,
    ) -> Result<u64, NtStatus> {
        let page = self.fence_page(process, fence)?;
        let value = self
            .memory
            .read_u64(page)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?
            .wrapping_add(1);
        self.memory
            .write_u64(page, value)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        Ok(value)
    }

    /// Sets the residency of allocations (MAKERESIDENT, EVICT), after checking every handle.
    pub(super) fn set_residency(
        &mut self,
        process: D3dkmtHandle,
        adapter: usize,
        handles: &[u32],
        residency: u32,
    ) -> Result<(), NtStatus> {
        for handle in handles {
            self.expect_allocation(process, D3dkmtHandle(*handle), adapter)?;
        }
        let entry = self.process_mut(process)?;
        for handle in handles {
            entry
                .residency
                .entry(D3dkmtHandle(*handle))
                .or_default()
                .residency = residency;
        }
        Ok(())
    }

    /// The handles an allocation-priority command names: its resource, or its allocations.
    fn priority_handles(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        request: &AllocationPriorityCommand,
        command: &[u8],
    ) -> Result<Vec<D3dkmtHandle>, NtStatus> {
        self.resource_or_allocations(
            process,
            adapter,
            request.device,
            request.resource,
            request.allocation_count,
            command,
            PRIORITY_HANDLES_OFFSET,
        )
    }

    /// A SUCCESS reply with `field` of each handle's residency state, in a result area.
    fn residency_reply(
        &self,
        process: D3dkmtHandle,
        handles: &[D3dkmtHandle],
        field: impl Fn(ResidencyState) -> u32,
    ) -> Vec<u8> {
        let mut reply = status_bytes(NtStatus::SUCCESS);
        for handle in handles {
            reply.extend_from_slice(&field(self.residency_of(process, *handle)).to_le_bytes());
        }
        reply.resize(u32_result_area(4, handles.len()), 0);
        reply
    }

    fn residency_of(&self, process: D3dkmtHandle, handle: D3dkmtHandle) -> ResidencyState {
        self.processes
            .get(&process)
            .and_then(|entry| entry.residency.get(&handle))
            .copied()
            .unwrap_or_default()
    }

    /// Validates "a resource, or `count` allocations at `offset` of `command`" of a device;
    /// returns the handles the answer is about (the resource alone, or the allocations).
    #[allow(clippy::too_many_arguments)]
    fn resource_or_allocations(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        device: D3dkmtHandle,
        resource: D3dkmtHandle,
        count: u32,
        command: &[u8],
        offset: usize,
    ) -> Result<Vec<D3dkmtHandle>, NtStatus> {
        self.expect_device(process, device, adapter)?;
        let count = count as usize;
        if count > MAX_RESIDENCY_ALLOCATIONS || (count == 0) == resource.is_null() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if !resource.is_null() {
            self.expect(process, resource, adapter, |object| {
                matches!(object, HostObject::Resource)
            })?;
            return Ok(vec![resource]);
        }
        let handles =
            read_u32_array(command, offset, count).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        let handles: Vec<D3dkmtHandle> = handles.into_iter().map(D3dkmtHandle).collect();
        for handle in &handles {
            self.expect_allocation(process, *handle, adapter)?;
        }
        Ok(handles)
    }

    fn reserve_va(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: ReserveGpuVirtualAddressCommand = parse(command)?;
        // The adapter field is the host adapter handle, or a paging queue of the process.
        if self.check_host_adapter(adapter, request.adapter).is_err() {
            self.paging_queue_fence(process, adapter, request.adapter)?;
        }
        let address = self.va_space(process, adapter)?.reserve(
            request.base_address,
            request.minimum_address,
            request.maximum_address,
            request.size,
            request.reservation_type,
        )?;
        Ok(ReserveGpuVirtualAddressReply {
            virtual_address: address,
            paging_fence_value: 0,
        }
        .as_bytes()
        .to_vec())
    }

    fn map_va(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: MapGpuVirtualAddressCommand = parse(command)?;
        let fence = self.paging_queue_fence(process, adapter, request.paging_queue)?;
        let size = match self.expect_allocation(process, request.allocation, adapter)? {
            HostObject::Allocation { size, .. } => size,
            _ => 0,
        };
        let address = self.va_space(process, adapter)?.map(
            request.base_address,
            request.minimum_address,
            request.maximum_address,
            request.allocation,
            size / PAGE_SIZE,
            request.offset_in_pages,
            request.size_in_pages,
            request.protection,
        )?;
        let value = self.advance_paging_fence(process, fence)?;
        Ok(MapGpuVirtualAddressReply {
            virtual_address: address,
            paging_fence_value: value,
            status: NtStatus::PENDING.0,
            padding: 0,
        }
        .as_bytes()
        .to_vec())
    }

    /// UPDATEGPUVIRTUALADDRESS: all operations apply, or none (they run on a copy of the space).
    /// The wait on `fence_object` is trivially satisfied: the synchronous GPU has no work in
    /// flight that could be ordered after it.
    fn update_va(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: UpdateGpuVirtualAddressCommand = parse(command)?;
        self.expect_device(process, request.device, adapter)?;
        let context = self
            .processes
            .get(&process)
            .and_then(|entry| entry.objects.get(&request.context))
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if context.adapter != adapter
            || context.device != request.device
            || !matches!(
                context.object,
                HostObject::Context | HostObject::HwQueue { .. }
            )
        {
            return Err(NtStatus::INVALID_HANDLE);
        }
        if !request.fence_object.is_null() {
            self.expect_sync_object(process, request.fence_object, adapter)?;
        }
        let count = request.num_operations as usize;
        if count == 0 || count > MAX_UPDATE_GPU_VA_OPERATIONS {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut space = self.va_space(process, adapter)?.clone();
        for index in 0..count {
            let operation_offset = element_offset(
                UpdateGpuVirtualAddressCommand::SIZE,
                index,
                UpdateGpuVirtualAddressOperation::SIZE,
            )
            .ok_or(NtStatus::INVALID_PARAMETER)?;
            let operation: UpdateGpuVirtualAddressOperation =
                read_at(command, operation_offset).map_err(|_| NtStatus::INVALID_PARAMETER)?;
            let words = operation.words;
            match operation.operation {
                VA_OPERATION_MAP | VA_OPERATION_MAP_PROTECT => {
                    let allocation = D3dkmtHandle(words[2] as u32);
                    let size = match self.expect_allocation(process, allocation, adapter)? {
                        HostObject::Allocation { size, .. } => size,
                        _ => 0,
                    };
                    let (base, length, offset) = (words[0], words[1], words[3]);
                    if !offset.is_multiple_of(PAGE_SIZE) || (length != words[4] && words[4] != 0) {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    if length == 0 || !length.is_multiple_of(PAGE_SIZE) {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    let protection = if operation.operation == VA_OPERATION_MAP_PROTECT {
                        words[5]
                    } else {
                        0
                    };
                    if base == 0 {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    space.map(
                        base,
                        0,
                        0,
                        allocation,
                        size / PAGE_SIZE,
                        offset / PAGE_SIZE,
                        length / PAGE_SIZE,
                        protection,
                    )?;
                }
                VA_OPERATION_UNMAP => space.unmap(words[0], words[1])?,
                VA_OPERATION_COPY => space.copy(words[0], words[1], words[2])?,
                _ => return Err(NtStatus::INVALID_PARAMETER),
            }
        }
        *self.va_space(process, adapter)? = space;
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// The allocations (or, for resources, the resources) an offer / reclaim names.
    fn offered_handles(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
        count: usize,
        offset: usize,
        resources: bool,
    ) -> Result<Vec<D3dkmtHandle>, NtStatus> {
        if count == 0 || count > MAX_RESIDENCY_ALLOCATIONS {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let handles: Vec<D3dkmtHandle> = read_u32_array(command, offset, count)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?
            .into_iter()
            .map(D3dkmtHandle)
            .collect();
        for handle in &handles {
            self.expect(process, *handle, adapter, |object| {
                if resources {
                    matches!(object, HostObject::Resource)
                } else {
                    matches!(object, HostObject::Allocation { .. })
                }
            })?;
        }
        Ok(handles)
    }

    /// OFFERALLOCATIONS: the allocations become "offered" (not resident, contents may be
    /// discarded by [`GpuHost::discard_offered`]). Offering twice is refused.
    fn offer(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: OfferAllocationsCommand = parse(command)?;
        self.expect_device(process, request.device, adapter)?;
        if !(1..=4).contains(&request.priority) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let resources = request.resources != 0;
        let handles = self.offered_handles(
            process,
            adapter,
            command,
            request.allocation_count as usize,
            OFFER_HANDLES_OFFSET,
            resources,
        )?;
        let entry = self.process_mut(process)?;
        let targets = expand(&entry.objects, &handles, resources);
        if targets.iter().any(|handle| {
            entry
                .residency
                .get(handle)
                .is_some_and(|state| state.offered.is_some())
        }) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        for handle in targets {
            let state = entry.residency.entry(handle).or_default();
            state.offered = Some(request.priority);
            state.discarded = false;
            state.residency = RESIDENCY_NOT_RESIDENT;
        }
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// RECLAIMALLOCATIONS: offered allocations come back (resident again); each result is
    /// DISCARDED when the host dropped the contents meanwhile, else OK; reclaiming an allocation
    /// that was never offered answers OK. Completes through the paging fence (PENDING).
    fn reclaim(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: ReclaimAllocationsCommand = parse(command)?;
        self.expect_device(process, request.device, adapter)?;
        let fence = self.paging_queue_fence(process, adapter, request.paging_queue)?;
        let resources = request.resources != 0;
        let handles = self.offered_handles(
            process,
            adapter,
            command,
            request.allocation_count as usize,
            ReclaimAllocationsCommand::SIZE,
            resources,
        )?;
        let entry = self.process_mut(process)?;
        let mut results = Vec::with_capacity(handles.len());
        for handle in &handles {
            let mut discarded = false;
            for target in expand(&entry.objects, &[*handle], resources) {
                let state = entry.residency.entry(target).or_default();
                discarded |= state.discarded;
                state.offered = None;
                state.discarded = false;
                state.residency = RESIDENCY_GPU_MEMORY;
            }
            results.push(if discarded {
                RECLAIM_DISCARDED
            } else {
                RECLAIM_OK
            });
        }
        let value = self.advance_paging_fence(process, fence)?;
        let mut reply = value.to_le_bytes().to_vec();
        reply.extend_from_slice(&NtStatus::PENDING.0.to_le_bytes());
        if request.write_results != 0 {
            for result in results {
                reply.extend_from_slice(&result.to_le_bytes());
            }
        }
        // `dxgkvmb_command_reclaimallocations_return` is 16 bytes (one result slot); Linux expects
        // `round8(12 + 4n)` with results, 16 without.
        reply.resize(result_area(reply.len().max(16)), 0);
        Ok(reply)
    }

    /// Simulates memory pressure: every offered allocation loses its contents (zeroed) and
    /// will reclaim as DISCARDED. Returns how many allocations were discarded.
    pub fn discard_offered(&mut self) -> usize {
        let mut victims = Vec::new();
        for entry in self.processes.values_mut() {
            for (handle, state) in entry.residency.iter_mut() {
                if state.offered.is_some() && !state.discarded {
                    state.discarded = true;
                    if let Some(Owned {
                        object: HostObject::Allocation { address, size, .. },
                        ..
                    }) = entry.objects.get(handle)
                    {
                        victims.push((*address, *size));
                    }
                }
            }
        }
        for (address, size) in &victims {
            let _ = self
                .gpu_memory()
                .write(*address, &vec![0u8; *size as usize]);
        }
        victims.len()
    }
}

/// The allocations of a resource.
fn members_of(
    objects: &std::collections::BTreeMap<D3dkmtHandle, Owned>,
    resource: D3dkmtHandle,
) -> Vec<D3dkmtHandle> {
    objects
        .iter()
        .filter(|(_, owned)| {
            matches!(owned.object, HostObject::Allocation { resource: owner, .. } if owner == resource)
        })
        .map(|(handle, _)| *handle)
        .collect()
}

/// Allocations named directly, or through their resources.
fn expand(
    objects: &std::collections::BTreeMap<D3dkmtHandle, Owned>,
    handles: &[D3dkmtHandle],
    resources: bool,
) -> Vec<D3dkmtHandle> {
    if !resources {
        return handles.to_vec();
    }
    handles
        .iter()
        .flat_map(|resource| members_of(objects, *resource))
        .collect()
}
