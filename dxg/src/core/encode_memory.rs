//! Encoding of the GPU-memory requests (dxg.md §3.12, §3.25): GPU virtual addresses (16–19),
//! allocation priorities (59, 60), residency queries (41), offer / reclaim (57, 58),
//! UPDATEALLOCATIONPROPERTY (56), INVALIDATECACHE (67) and CHANGEVIDEOMEMORYRESERVATION (49).
//!
//! Validation follows the other requests: every handle must be a live object of the calling
//! process of the right kind (unknown or foreign handles → INVALID_HANDLE, wrong kind →
//! OBJECT_TYPE_MISMATCH), objects named together must live on the same adapter, and counts stay
//! within the §2.9 limits and the 128 KiB packet size.

use super::encode::{check_count, check_packet, fixed_part, handle_bytes};
use super::replies::Expect;
use super::{Driver, GpuVirtualAddressOperation, ObjectEntry, ProcessId, Request, Ticket};
use crate::wire::*;
use alloc::vec::Vec;
use zerocopy::IntoBytes;

use super::ObjectKind::{Allocation, Context, Device, HwQueue, MonitoredFence, PagingQueue};
use super::ObjectKind::{Resource, SyncObject};

/// Offset of the handle array in OFFERALLOCATIONS.
const OFFER_HANDLES_OFFSET: usize = 44;

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

    /// Starts a GPU virtual-address request (reserve, map, free, update).
    pub(super) fn start_virtual_address_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::ReserveGpuVirtualAddress {
                adapter,
                paging_queue,
                base_address,
                minimum_address,
                maximum_address,
                size,
                reservation_type,
                driver_protection,
            } => {
                let (id, target) = match (adapter.is_null(), paging_queue.is_null()) {
                    (false, true) => {
                        let id = self.adapter_of(pid, adapter)?;
                        (id, self.host_adapter(id)?)
                    }
                    (true, false) => {
                        let entry = self.object(pid, paging_queue, &[PagingQueue])?;
                        (entry.adapter, paging_queue)
                    }
                    _ => return Err(NtStatus::INVALID_PARAMETER),
                };
                let mut command: ReserveGpuVirtualAddressCommand = self.command(pid);
                command.adapter = target;
                command.base_address = base_address;
                command.minimum_address = minimum_address;
                command.maximum_address = maximum_address;
                command.size = size;
                command.reservation_type = reservation_type;
                command.driver_protection = driver_protection;
                self.send(
                    pid,
                    ticket,
                    id,
                    Expect::GpuVirtualAddress { map: false },
                    &command,
                );
            }
            Request::MapGpuVirtualAddress {
                paging_queue,
                allocation,
                base_address,
                minimum_address,
                maximum_address,
                offset_in_pages,
                size_in_pages,
                protection,
                driver_protection,
            } => {
                let queue = self.object(pid, paging_queue, &[PagingQueue])?;
                self.object_on(pid, allocation, &[Allocation], queue.adapter)?;
                let mut command: MapGpuVirtualAddressCommand = self.command(pid);
                command.paging_queue = paging_queue;
                command.base_address = base_address;
                command.minimum_address = minimum_address;
                command.maximum_address = maximum_address;
                command.allocation = allocation;
                command.offset_in_pages = offset_in_pages;
                command.size_in_pages = size_in_pages;
                command.protection = protection;
                command.driver_protection = driver_protection;
                self.send(
                    pid,
                    ticket,
                    queue.adapter,
                    Expect::GpuVirtualAddress { map: true },
                    &command,
                );
            }
            Request::FreeGpuVirtualAddress {
                adapter,
                base_address,
                size,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command: FreeGpuVirtualAddressCommand = self.command(pid);
                command.adapter = self.host_adapter(id)?;
                command.base_address = base_address;
                command.size = size;
                self.send(pid, ticket, id, Expect::Status, &command);
            }
            Request::UpdateGpuVirtualAddress {
                device,
                context,
                fence_object,
                fence_value,
                flags,
                operations,
            } => {
                let device_entry = self.object(pid, device, &[Device])?;
                let adapter = device_entry.adapter;
                check_count(operations.len(), 1, max_update_operations())?;
                let context_entry = self.object_on(pid, context, &[Context, HwQueue], adapter)?;
                if context_entry.device != device {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                if !fence_object.is_null() {
                    self.object_on(pid, fence_object, &[SyncObject, MonitoredFence], adapter)?;
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
                let mut command: UpdateGpuVirtualAddressCommand = self.command(pid);
                command.fence_value = fence_value;
                command.device = device;
                command.context = context;
                command.fence_object = fence_object;
                command.num_operations = operations.len() as u32;
                command.flags = flags;
                let bytes = build_message(None, command.as_bytes(), &[&tail], 0);
                check_packet(&bytes)?;
                self.send_request(pid, ticket, adapter, Expect::Status, bytes);
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
                let command = self.priority_command(
                    VgpuCommand::SetAllocationPriority,
                    pid,
                    device,
                    resource,
                    allocations.len(),
                );
                let bytes = build_message(
                    None,
                    fixed_part(command.as_bytes(), PRIORITY_HANDLES_OFFSET)?,
                    &[&handle_bytes(&allocations), &u32_bytes(&priorities)],
                    0,
                );
                check_packet(&bytes)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::GetAllocationPriority {
                device,
                resource,
                allocations,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let results = self.resource_or_allocations(pid, &entry, resource, &allocations)?;
                let command = self.priority_command(
                    VgpuCommand::GetAllocationPriority,
                    pid,
                    device,
                    resource,
                    allocations.len(),
                );
                // Linux (`dxgvmb_send_get_allocation_priority`) sends its zeroed result buffer,
                // `round8(4 + 4 · count)` bytes, along with the request.
                let bytes = build_message(
                    None,
                    fixed_part(command.as_bytes(), PRIORITY_HANDLES_OFFSET)?,
                    &[&handle_bytes(&allocations)],
                    result_area(results.saturating_mul(4).saturating_add(4)),
                );
                check_packet(&bytes)?;
                self.send_request(
                    pid,
                    ticket,
                    entry.adapter,
                    Expect::AllocationPriorities { count: results },
                    bytes,
                );
            }
            Request::QueryAllocationResidency {
                device,
                resource,
                allocations,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let results = self.resource_or_allocations(pid, &entry, resource, &allocations)?;
                let mut command: QueryAllocationResidencyCommand = self.command(pid);
                command.device = device;
                command.resource = resource;
                command.allocation_count = allocations.len() as u32;
                let bytes =
                    build_message(None, command.as_bytes(), &[&handle_bytes(&allocations)], 0);
                check_packet(&bytes)?;
                self.send_request(
                    pid,
                    ticket,
                    entry.adapter,
                    Expect::Residency { count: results },
                    bytes,
                );
            }
            Request::OfferAllocations {
                device,
                handles,
                resources,
                priority,
                flags,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                check_count(handles.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                let kind = if resources { Resource } else { Allocation };
                self.objects_on(pid, &handles, &[kind], entry.adapter)?;
                let mut command: OfferAllocationsCommand = self.command(pid);
                command.device = device;
                command.allocation_count = handles.len() as u32;
                command.priority = priority;
                command.flags = flags;
                command.resources = u8::from(resources);
                let bytes = build_message(
                    None,
                    fixed_part(command.as_bytes(), OFFER_HANDLES_OFFSET)?,
                    &[&handle_bytes(&handles)],
                    0,
                );
                check_packet(&bytes)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::ReclaimAllocations {
                device,
                paging_queue,
                handles,
                resources,
                write_results,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                self.object_on(pid, paging_queue, &[PagingQueue], entry.adapter)?;
                check_count(handles.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                let kind = if resources { Resource } else { Allocation };
                self.objects_on(pid, &handles, &[kind], entry.adapter)?;
                let mut command: ReclaimAllocationsCommand = self.command(pid);
                command.device = device;
                command.paging_queue = paging_queue;
                command.allocation_count = handles.len() as u32;
                command.resources = u8::from(resources);
                command.write_results = u8::from(write_results);
                let bytes = build_message(
                    None,
                    command.as_bytes(),
                    &[&handle_bytes(&handles)],
                    RECLAIM_SLACK,
                );
                check_packet(&bytes)?;
                let results = if write_results { handles.len() } else { 0 };
                self.send_request(
                    pid,
                    ticket,
                    entry.adapter,
                    Expect::Reclaim { results },
                    bytes,
                );
            }
            other => return self.start_memory_property_request(pid, ticket, other),
        }
        Ok(())
    }

    /// Starts UPDATEALLOCATIONPROPERTY, INVALIDATECACHE and CHANGEVIDEOMEMORYRESERVATION.
    fn start_memory_property_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::UpdateAllocationProperty {
                paging_queue,
                allocation,
                supported_segment_set,
                preferred_segment,
                flags,
                property_mask,
            } => {
                let queue = self.object(pid, paging_queue, &[PagingQueue])?;
                self.object_on(pid, allocation, &[Allocation], queue.adapter)?;
                let mut command: UpdateAllocationPropertyCommand = self.command(pid);
                command.paging_queue = paging_queue;
                command.allocation = allocation;
                command.supported_segment_set = supported_segment_set;
                command.preferred_segment = preferred_segment;
                command.flags = flags;
                command.property_mask = property_mask;
                self.send(pid, ticket, queue.adapter, Expect::PagingFence, &command);
            }
            Request::InvalidateCache {
                device,
                allocation,
                offset,
                length,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                self.object_on(pid, allocation, &[Allocation], entry.adapter)?;
                let mut command: InvalidateCacheCommand = self.command(pid);
                command.device = device;
                command.allocation = allocation;
                command.offset = offset;
                command.length = length;
                self.send(pid, ticket, entry.adapter, Expect::Status, &command);
            }
            Request::ChangeVideoMemoryReservation {
                adapter,
                segment_group,
                reservation,
                physical_adapter_index,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command: ChangeVideoMemoryReservationCommand = self.command(pid);
                // Linux leaves the process and adapter fields of the arguments zero.
                command.memory_segment_group = segment_group;
                command.reservation = reservation;
                command.physical_adapter_index = physical_adapter_index;
                self.send(pid, ticket, id, Expect::Status, &command);
            }
            other => return self.start_sharing_request(pid, ticket, other),
        }
        Ok(())
    }

    fn priority_command(
        &self,
        command: VgpuCommand,
        pid: ProcessId,
        device: D3dkmtHandle,
        resource: D3dkmtHandle,
        count: usize,
    ) -> AllocationPriorityCommand {
        let mut message: AllocationPriorityCommand = self.command_as(command, pid);
        message.device = device;
        message.resource = resource;
        message.allocation_count = count as u32;
        message
    }
}
