//! Encoding of the GPU-memory requests (dxg.md §3.12, §3.25): GPU virtual addresses (16–19),
//! allocation priorities (59, 60), residency queries (41), offer / reclaim (57, 58) and
//! CHANGEVIDEOMEMORYRESERVATION (49).
//!
//! Validation follows the other requests: every handle must be a live object of the calling
//! process of the right kind (unknown or foreign handles → INVALID_HANDLE, wrong kind →
//! OBJECT_TYPE_MISMATCH), objects named together must live on the same adapter, and counts stay
//! within the §2.9 limits and the 128 KiB packet size.

use super::prelude::*;

/// The most operations one UPDATEGPUVIRTUALADDRESS packet can carry (limit 2048, packet 128 KiB
/// including the extension header).
pub(super) fn max_update_operations() -> usize {
    let fit = (MAX_PACKET_SIZE - ExtensionHeader::SIZE - UpdateGpuVirtualAddressCommand::SIZE)
        / UpdateGpuVirtualAddressOperation::SIZE;
    fit.min(MAX_UPDATE_GPU_VA_OPERATIONS)
}

fn encode_operation(operation: &GpuVirtualAddressOperation) -> UpdateGpuVirtualAddressOperation {
    let mut wire = UpdateGpuVirtualAddressOperation::zeroed();
    match *operation {
        GpuVirtualAddressOperation::Map {
            base_address,
            size,
            allocation,
            allocation_offset,
            allocation_size,
        } => {
            wire.operation = VA_OPERATION_MAP;
            wire.words[..5].copy_from_slice(&[
                base_address,
                size,
                u64::from(allocation.0),
                allocation_offset,
                allocation_size,
            ]);
        }
        GpuVirtualAddressOperation::Unmap {
            base_address,
            size,
            protection,
        } => {
            wire.operation = VA_OPERATION_UNMAP;
            wire.words[..3].copy_from_slice(&[base_address, size, protection]);
        }
        GpuVirtualAddressOperation::Copy {
            source_address,
            size,
            destination_address,
        } => {
            wire.operation = VA_OPERATION_COPY;
            wire.words[..3].copy_from_slice(&[source_address, size, destination_address]);
        }
        GpuVirtualAddressOperation::MapProtect {
            base_address,
            size,
            allocation,
            allocation_offset,
            allocation_size,
            protection,
            driver_protection,
        } => {
            wire.operation = VA_OPERATION_MAP_PROTECT;
            wire.words = [
                base_address,
                size,
                u64::from(allocation.0),
                allocation_offset,
                allocation_size,
                protection,
                driver_protection,
            ];
        }
    }
    wire
}

impl Driver {
    /// Validates "a resource, or a list of allocations" (priorities, residency); returns the
    /// number of results the host answers with.
    fn resource_or_allocations(
        &self,
        pid: ProcessId,
        device: &ObjectEntry,
        resource: D3dkmtHandle,
        allocations: &[D3dkmtHandle],
    ) -> Result<usize, NtStatus> {
        if resource.is_null() == allocations.is_empty() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        check_count(allocations.len(), 0, MAX_RESIDENCY_ALLOCATIONS)?;
        if !resource.is_null() {
            self.object_on(pid, resource, &[Resource], device.adapter)?;
        }
        self.objects_on(pid, allocations, &[Allocation], device.adapter)?;
        Ok(allocations.len().max(1))
    }

    /// Checks the 1 … 10240 handles of an offer or reclaim: allocations, or resources when
    /// `resources` is non-zero, all on `adapter`.
    fn allocations_or_resources(
        &self,
        pid: ProcessId,
        handles: &[D3dkmtHandle],
        resources: u8,
        adapter: AdapterId,
    ) -> Result<(), NtStatus> {
        check_count(handles.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
        let kind = if resources != 0 { Resource } else { Allocation };
        self.objects_on(pid, handles, &[kind], adapter)
    }

    /// Starts a GPU virtual-address request (reserve, update) or CHANGEVIDEOMEMORYRESERVATION.
    pub(super) fn start_virtual_address_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::ReserveGpuVirtualAddress {
                paging_queue,
                mut command,
            } => {
                let (id, target) = match (command.adapter.is_null(), paging_queue.is_null()) {
                    (false, true) => {
                        let id = self.adapter_of(pid, command.adapter)?;
                        (id, self.host_adapter(id)?)
                    }
                    (true, false) => {
                        let entry = self.object(pid, paging_queue, &[PagingQueue])?;
                        (entry.adapter, paging_queue)
                    }
                    _ => return Err(NtStatus::INVALID_PARAMETER),
                };
                command.adapter = target;
                self.send_carried(pid, ticket, id, Expect::ByCommand, command);
            }
            Request::UpdateGpuVirtualAddress {
                mut command,
                operations,
            } => {
                let (device, context) = (command.device, command.context);
                let device_entry = self.object(pid, device, &[Device])?;
                let adapter = device_entry.adapter;
                check_count(operations.len(), 1, max_update_operations())?;
                let context_entry = self.object_on(pid, context, &[Context, HwQueue], adapter)?;
                if context_entry.device != device {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                if !command.fence_object.is_null() {
                    let kinds = [SyncObject, MonitoredFence];
                    self.object_on(pid, command.fence_object, &kinds, adapter)?;
                }
                // At most `max_update_operations()` operations (checked above): no saturation.
                let mut tail = Vec::with_capacity(operations.len().saturating_mul(64));
                for operation in &operations {
                    if let GpuVirtualAddressOperation::Map { allocation, .. }
                    | GpuVirtualAddressOperation::MapProtect { allocation, .. } = operation
                    {
                        self.object_on(pid, *allocation, &[Allocation], adapter)?;
                    }
                    tail.extend_from_slice(encode_operation(operation).as_bytes());
                }
                command.num_operations = operations.len() as u32;
                let bytes = self.message(pid, command, WHOLE, &[&tail], 0)?;
                self.send_request(pid, ticket, adapter, Expect::Status, bytes);
            }
            Request::ChangeVideoMemoryReservation(mut command) => {
                let id = self.adapter_of(pid, command.adapter)?;
                // Linux leaves the process and adapter fields of the arguments zero.
                (command.process, command.adapter) = (0, D3dkmtHandle::NULL);
                self.send_carried(pid, ticket, id, Expect::Status, command);
            }
            other => return self.start_memory_request(pid, ticket, other),
        }
        Ok(())
    }

    /// Starts the allocation-list memory requests: priorities, residency, offer / reclaim.
    fn start_memory_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::SetAllocationPriority {
                device,
                resource,
                allocations,
                priorities,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let results = self.resource_or_allocations(pid, &entry, resource, &allocations)?;
                if priorities.len() != results {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let code = VgpuCommand::SetAllocationPriority;
                let bytes =
                    self.priority_message(pid, code, device, resource, &allocations, &priorities)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::GetAllocationPriority {
                device,
                resource,
                allocations,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let results = self.resource_or_allocations(pid, &entry, resource, &allocations)?;
                let code = VgpuCommand::GetAllocationPriority;
                let bytes =
                    self.priority_message(pid, code, device, resource, &allocations, &[])?;
                let expect = Expect::Values { count: results };
                self.send_request(pid, ticket, entry, expect, bytes);
            }
            Request::QueryAllocationResidency {
                mut command,
                allocations,
            } => {
                let entry = self.object(pid, command.device, &[Device])?;
                let resource = command.resource;
                let results = self.resource_or_allocations(pid, &entry, resource, &allocations)?;
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes = self.message(pid, command, WHOLE, &[&tail], 0)?;
                let expect = Expect::Values { count: results };
                self.send_request(pid, ticket, entry.adapter, expect, bytes);
            }
            Request::OfferAllocations {
                mut command,
                handles,
            } => {
                let entry = self.object(pid, command.device, &[Device])?;
                self.allocations_or_resources(pid, &handles, command.resources, entry.adapter)?;
                command.allocation_count = handles.len() as u32;
                let tail = handle_bytes(&handles);
                let bytes = self.message(pid, command, OFFER_HANDLES_OFFSET, &[&tail], 0)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::ReclaimAllocations {
                mut command,
                handles,
            } => {
                let entry = self.object(pid, command.device, &[Device])?;
                self.object_on(pid, command.paging_queue, &[PagingQueue], entry.adapter)?;
                self.allocations_or_resources(pid, &handles, command.resources, entry.adapter)?;
                command.allocation_count = handles.len() as u32;
                let tail = handle_bytes(&handles);
                let bytes = self.message(pid, command, WHOLE, &[&tail], RECLAIM_SLACK)?;
                let results = if command.write_results != 0 {
                    handles.len()
                } else {
                    0
                };
                let expect = Expect::Reclaim { results };
                self.send_request(pid, ticket, entry.adapter, expect, bytes);
            }
            other => return self.start_sharing_request(pid, ticket, other),
        }
        Ok(())
    }

    /// SETALLOCATIONPRIORITY or GETALLOCATIONPRIORITY of `device`: the fixed part, the
    /// allocation handles and `priorities` (set); the get also carries Linux's zeroed result
    /// buffer (`dxgvmb_send_get_allocation_priority`: `round8(4 + 4 · results)` bytes).
    fn priority_message(
        &self,
        pid: ProcessId,
        code: VgpuCommand,
        device: D3dkmtHandle,
        resource: D3dkmtHandle,
        allocations: &[D3dkmtHandle],
        priorities: &[u32],
    ) -> Result<Vec<u8>, NtStatus> {
        let mut command: AllocationPriorityCommand = self.command_as(code, pid);
        command.device = device;
        command.resource = resource;
        command.allocation_count = allocations.len() as u32;
        let results = allocations.len().max(1);
        let slack = match code {
            VgpuCommand::GetAllocationPriority => {
                result_area(results.saturating_mul(4).saturating_add(4))
            }
            _ => 0,
        };
        let tail = [&handle_bytes(allocations)[..], &u32_bytes(priorities)];
        message_of(command.as_bytes(), PRIORITY_HANDLES_OFFSET, &tail, slack)
    }
}
