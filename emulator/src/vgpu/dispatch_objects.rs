//! Host handlers of the device-level commands: devices, paging queues, contexts, allocations,
//! residency and LOCK2/UNLOCK2 (dxg.md §3).

use super::dispatch::{
    Handled, MAX_ALLOCATION_BYTES, element_offset, parse, put_bytes, status_bytes,
};
use super::{GpuHost, HostObject, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

impl<M: GuestMemory> GpuHost<M> {
    /// Handles the device-level commands.
    pub(super) fn object_command(
        &mut self,
        process_handle: D3dkmtHandle,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        match kind {
            VgpuCommand::CreateDevice => {
                let request: CreateDeviceCommand = parse(command)?;
                self.device_state_cookie = request.error_code;
                let process = self.process_mut(process_handle)?;
                let handle = process.handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
                process.objects.insert(
                    handle,
                    Owned {
                        device: handle,
                        adapter,
                        object: HostObject::Device { adapter },
                    },
                );
                Ok(handle.0.to_le_bytes().to_vec())
            }
            VgpuCommand::DestroyDevice => {
                let request: HandleCommand = parse(command)?;
                self.expect_device(process_handle, request.handle, adapter)?;
                self.destroy_where(process_handle, |handle, owned| {
                    handle == request.handle || owned.device == request.handle
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::FlushDevice => {
                let request: FlushDeviceCommand = parse(command)?;
                self.expect_device(process_handle, request.device, adapter)?;
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::CreatePagingQueue => {
                let request: CreatePagingQueueCommand = parse(command)?;
                self.expect_device(process_handle, request.device, adapter)?;
                let page = self.allocate_io(PAGE_SIZE)?;
                self.memory
                    .write_u64(page, 0)
                    .map_err(|_| NtStatus::NO_MEMORY)?;
                let process = self.process_mut(process_handle)?;
                let (Some(queue), Some(fence)) =
                    (process.handles.allocate(), process.handles.allocate())
                else {
                    return Err(NtStatus::NO_MEMORY);
                };
                let fence_object = HostObject::SyncObject {
                    object_type: SYNC_OBJECT_MONITORED_FENCE,
                    fence_page: Some(page),
                    value: 0,
                    event: 0,
                };
                process.objects.insert(
                    fence,
                    Owned {
                        device: request.device,
                        adapter,
                        object: fence_object,
                    },
                );
                process.objects.insert(
                    queue,
                    Owned {
                        device: request.device,
                        adapter,
                        object: HostObject::PagingQueue { fence },
                    },
                );
                let reply = CreatePagingQueueReply {
                    paging_queue: queue,
                    sync_object: fence,
                    fence_storage_physical_address: page,
                    fence_storage_offset: 0,
                };
                Ok(reply.as_bytes().to_vec())
            }
            VgpuCommand::DestroyPagingQueue => {
                let request: HandleCommand = parse(command)?;
                let fence =
                    match self.expect(process_handle, request.handle, adapter, |object| {
                        matches!(object, HostObject::PagingQueue { .. })
                    })? {
                        HostObject::PagingQueue { fence } => fence,
                        _ => D3dkmtHandle::NULL,
                    };
                self.destroy_where(process_handle, |handle, _| {
                    handle == request.handle || handle == fence
                });
                Ok(Vec::new())
            }
            VgpuCommand::CreateContextVirtual => {
                // The fixed part is 52 bytes; the struct's 4-byte placeholder may be absent.
                let mut fixed = [0u8; CreateContextVirtualCommand::SIZE];
                let available = command.len().min(fixed.len());
                if available < CREATE_CONTEXT_PRIVATE_OFFSET {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                put_bytes(
                    &mut fixed,
                    0,
                    command
                        .get(..available)
                        .ok_or(NtStatus::INVALID_PARAMETER)?,
                );
                let request: CreateContextVirtualCommand = parse(&fixed)?;
                self.expect_device(process_handle, request.device, adapter)?;
                let process = self.process_mut(process_handle)?;
                let handle = process.handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
                process.objects.insert(
                    handle,
                    Owned {
                        device: request.device,
                        adapter,
                        object: HostObject::Context,
                    },
                );
                let mut echo = command.to_vec();
                put_bytes(&mut echo, 24, &handle.0.to_le_bytes());
                Ok(echo)
            }
            VgpuCommand::DestroyContext => {
                let request: HandleCommand = parse(command)?;
                self.expect(process_handle, request.handle, adapter, |object| {
                    matches!(object, HostObject::Context)
                })?;
                let context = request.handle;
                let fences: Vec<D3dkmtHandle> = self
                    .processes
                    .get(&process_handle)
                    .map(|process| {
                        process
                            .objects
                            .values()
                            .filter_map(|owned| match owned.object {
                                HostObject::HwQueue {
                                    context: owner,
                                    fence,
                                } if owner == context => Some(fence),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // A context takes its hardware queues (and their progress fences) with it.
                self.destroy_where(process_handle, |handle, owned| {
                    handle == context
                        || fences.contains(&handle)
                        || matches!(owned.object, HostObject::HwQueue { context: owner, .. } if owner == context)
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::CreateAllocation => {
                self.create_allocation(process_handle, adapter, command)
            }
            VgpuCommand::DestroyAllocation => {
                let request: DestroyAllocationCommand = parse(command)?;
                let count = request.allocation_count as usize;
                if count > MAX_ALLOCATIONS_PER_CREATE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let handles = read_u32_array(command, DestroyAllocationCommand::SIZE, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                for handle in &handles {
                    self.expect_allocation(process_handle, D3dkmtHandle(*handle), adapter)?;
                }
                let resource = request.resource;
                if !resource.is_null() {
                    self.expect(process_handle, resource, adapter, |object| {
                        matches!(object, HostObject::Resource)
                    })?;
                }
                self.destroy_where(process_handle, |handle, owned| {
                    handles.contains(&handle.0)
                        || (!resource.is_null()
                            && (handle == resource
                                || matches!(owned.object, HostObject::Allocation { resource: owner, .. } if owner == resource)))
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::MakeResident => {
                let request: MakeResidentCommand = parse(command)?;
                let fence =
                    match self.expect(process_handle, request.paging_queue, adapter, |object| {
                        matches!(object, HostObject::PagingQueue { .. })
                    })? {
                        HostObject::PagingQueue { fence } => fence,
                        _ => return Err(NtStatus::INVALID_HANDLE),
                    };
                let count = request.allocation_count as usize;
                if count == 0 || count > MAX_RESIDENCY_ALLOCATIONS {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let handles = read_u32_array(command, MakeResidentCommand::SIZE, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                self.set_residency(process_handle, adapter, &handles, RESIDENCY_GPU_MEMORY)?;
                let value = self.advance_paging_fence(process_handle, fence)?;
                let reply = MakeResidentReply {
                    paging_fence_value: value,
                    num_bytes_to_trim: 0,
                    status: NtStatus::PENDING.0,
                    padding: 0,
                };
                Ok(reply.as_bytes().to_vec())
            }
            VgpuCommand::Evict => {
                let request: EvictCommand = parse(command)?;
                self.expect_device(process_handle, request.device, adapter)?;
                let count = request.allocation_count as usize;
                if count == 0 || count > MAX_RESIDENCY_ALLOCATIONS {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let handles = read_u32_array(command, EVICT_HANDLES_OFFSET, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                self.set_residency(process_handle, adapter, &handles, RESIDENCY_NOT_RESIDENT)?;
                Ok(EvictReply {
                    num_bytes_to_trim: 0,
                }
                .as_bytes()
                .to_vec())
            }
            VgpuCommand::Lock2 => {
                let request: Lock2Command = parse(command)?;
                let address =
                    match self.expect_allocation(process_handle, request.allocation, adapter)? {
                        HostObject::Allocation { address, .. } => address,
                        _ => return Err(NtStatus::INVALID_HANDLE),
                    };
                // Existing-sysmem allocations already have a CPU mapping (the guest's pages).
                if super::sysmem::SysmemWindows::is_window(address) {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                Ok(Lock2Reply {
                    status: 0,
                    padding: 0,
                    cpu_visible_buffer_offset: address,
                }
                .as_bytes()
                .to_vec())
            }
            VgpuCommand::Unlock2 => {
                let request: Unlock2Command = parse(command)?;
                self.expect_allocation(process_handle, request.allocation, adapter)?;
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            _ => Err(NtStatus::NOT_IMPLEMENTED),
        }
    }

    fn create_allocation(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: CreateAllocationCommand = parse(command)?;
        self.expect_device(process_handle, request.device, adapter)?;
        let count = request.allocation_count as usize;
        if count == 0 || count > MAX_ALLOCATIONS_PER_CREATE {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut infos = Vec::with_capacity(count);
        for index in 0..count {
            let info_offset =
                element_offset(CreateAllocationCommand::SIZE, index, AllocationInfo::SIZE)
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
            let info: AllocationInfo =
                read_at(command, info_offset).map_err(|_| NtStatus::INVALID_PARAMETER)?;
            infos.push(info);
        }
        let mut offset = element_offset(CreateAllocationCommand::SIZE, count, AllocationInfo::SIZE)
            .and_then(|offset| offset.checked_add(request.private_runtime_data_size as usize))
            .and_then(|offset| offset.checked_add(request.private_driver_data_size as usize))
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let mut privates = Vec::with_capacity(count);
        for info in &infos {
            let data = read_bytes(command, offset, info.private_driver_data_size as usize)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
            offset = offset
                .checked_add(data.len())
                .ok_or(NtStatus::INVALID_PARAMETER)?;
            privates.push(data.to_vec());
        }
        let mut resource = D3dkmtHandle::NULL;
        if request.flags & CREATE_ALLOCATION_CREATE_RESOURCE != 0 {
            resource = self
                .process_mut(process_handle)?
                .handles
                .allocate()
                .ok_or(NtStatus::NO_MEMORY)?;
        } else if !request.resource.is_null() {
            self.expect(process_handle, request.resource, adapter, |object| {
                matches!(object, HostObject::Resource)
            })?;
            resource = request.resource;
        }
        let existing_sysmem = request.flags & CREATE_ALLOCATION_EXISTING_SYSMEM != 0;
        let mut created: Vec<(D3dkmtHandle, u64, u64)> = Vec::with_capacity(count);
        let mut failure = None;
        for private in &privates {
            // Private data: u64 size in bytes at offset 0 (default one page).
            let requested = private
                .get(..8)
                .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
                .unwrap_or(PAGE_SIZE)
                .max(1);
            // Checked before rounding up to pages, which would overflow near u64::MAX.
            if requested > MAX_ALLOCATION_BYTES {
                failure = Some(NtStatus::NO_MEMORY);
                break;
            }
            let Some(size) = requested.div_ceil(PAGE_SIZE).checked_mul(PAGE_SIZE) else {
                failure = Some(NtStatus::NO_MEMORY);
                break;
            };
            let address = if existing_sysmem {
                // Backed by guest pages named later (SETEXISTINGSYSMEMPAGES / ...STORE).
                let Some(address) = self.sysmem.create((size / PAGE_SIZE) as usize) else {
                    failure = Some(NtStatus::NO_MEMORY);
                    break;
                };
                address
            } else {
                let Ok(address) = self.allocate_io(size) else {
                    failure = Some(NtStatus::NO_MEMORY);
                    break;
                };
                let zeros = vec![0u8; size as usize];
                let _ = self.memory.write(address, &zeros);
                address
            };
            let Some(handle) = self.process_mut(process_handle)?.handles.allocate() else {
                failure = Some(NtStatus::NO_MEMORY);
                break;
            };
            created.push((handle, address, size));
        }
        if let Some(status) = failure {
            for (handle, address, size) in created {
                self.process_mut(process_handle)?.handles.free(handle);
                self.release_range(address, size);
            }
            let process = self.process_mut(process_handle)?;
            if request.flags & CREATE_ALLOCATION_CREATE_RESOURCE != 0 {
                process.handles.free(resource);
            }
            return Err(status);
        }
        let process = self
            .processes
            .get_mut(&process_handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if request.flags & CREATE_ALLOCATION_CREATE_RESOURCE != 0 {
            process.objects.insert(
                resource,
                Owned {
                    device: request.device,
                    adapter,
                    object: HostObject::Resource,
                },
            );
        }
        let mut reply = CreateAllocationReply {
            flags: 0,
            resource,
            global_share: D3dkmtHandle::NULL,
            vgpu_flags: 0,
        }
        .as_bytes()
        .to_vec();
        for ((handle, address, size), private) in created.iter().zip(&privates) {
            process.objects.insert(
                *handle,
                Owned {
                    device: request.device,
                    adapter,
                    object: HostObject::Allocation {
                        address: *address,
                        size: *size,
                        resource,
                    },
                },
            );
            let mut info = CreatedAllocationInfo::zeroed();
            info.allocation = *handle;
            info.private_driver_data_size = private.len() as u32;
            info.allocation_flags = if existing_sysmem {
                ALLOCATION_FLAG_CACHED | ALLOCATION_FLAG_EXISTING_SYSMEM
            } else {
                ALLOCATION_FLAG_CACHED
            };
            info.allocation_size = *size;
            reply.extend_from_slice(info.as_bytes());
        }
        for private in &privates {
            reply.extend_from_slice(private);
        }
        Ok(reply)
    }
}
