//! Encoders of the allocation requests (dxg.md §3): create, destroy, residency, LOCK2/UNLOCK2
//! and SUBMITCOMMAND.

use super::prelude::*;

impl Driver {
    /// Encodes the allocation requests: create, destroy, residency, LOCK2/UNLOCK2 and SUBMITCOMMAND.
    pub(super) fn start_allocation_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::CreateAllocation {
                mut command,
                runtime_data,
                driver_data,
                allocations,
            } => {
                let (device, resource) = (command.device, command.resource);
                let entry = self.object(pid, device, &[Device])?;
                check_count(allocations.len(), 1, MAX_ALLOCATIONS_PER_CREATE)?;
                if !resource.is_null() {
                    self.object(pid, resource, &[Resource])?;
                }
                command.private_runtime_data_size = runtime_data.len() as u32;
                command.private_driver_data_size = driver_data.len() as u32;
                command.allocation_count = allocations.len() as u32;
                let mut infos =
                    Vec::with_capacity(allocations.len().saturating_mul(AllocationInfo::SIZE));
                let mut private = Vec::new();
                for allocation in &allocations {
                    let info = AllocationInfo {
                        flags: allocation.flags,
                        private_driver_data_size: allocation.private_data.len() as u32,
                        vidpn_source_id: allocation.vidpn_source_id,
                    };
                    infos.extend_from_slice(info.as_bytes());
                    private.extend_from_slice(&allocation.private_data);
                }
                let tail = [&infos[..], &runtime_data, &driver_data, &private];
                let bytes = self.message(pid, command, WHOLE, &tail, 0)?;
                let expect = Expect::Allocations {
                    count: allocations.len(),
                    creates_resource: command.flags & CREATE_ALLOCATION_CREATE_RESOURCE != 0,
                    resource,
                };
                self.send_request(pid, ticket, entry, expect, bytes);
            }
            Request::DestroyAllocation {
                mut command,
                allocations,
            } => {
                let (device, resource) = (command.device, command.resource);
                let entry = self.object(pid, device, &[Device])?;
                check_count(allocations.len(), 0, MAX_ALLOCATIONS_PER_CREATE)?;
                if allocations.is_empty() == resource.is_null() {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                for handle in &allocations {
                    self.object(pid, *handle, &[Allocation])?;
                }
                if !resource.is_null() {
                    self.object(pid, resource, &[Resource])?;
                }
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes =
                    self.message(pid, command, WHOLE, &[&tail], DESTROY_ALLOCATION_SLACK)?;
                let mut destroyed = allocations;
                if !resource.is_null() {
                    destroyed.push(resource);
                }
                let expect = Expect::DestroyObjects { handles: destroyed };
                self.send_request(pid, ticket, entry.adapter, expect, bytes);
            }
            Request::MakeResident {
                mut command,
                allocations,
            } => {
                let entry = self.object(pid, command.paging_queue, &[PagingQueue])?;
                check_count(allocations.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes = self.message(pid, command, WHOLE, &[&tail], MAKE_RESIDENT_SLACK)?;
                self.send_request(pid, ticket, entry.adapter, Expect::ByCommand, bytes);
            }
            Request::Evict {
                mut command,
                allocations,
            } => {
                let entry = self.object(pid, command.device, &[Device])?;
                check_count(allocations.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                // EVICT's reply carries no status (`dxgkvmb_command_evict_return`), so the host
                // cannot refuse a handle that is not an allocation: checked here instead.
                for allocation in &allocations {
                    self.object_on(pid, *allocation, &[Allocation], entry.adapter)?;
                }
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes = self.message(pid, command, EVICT_HANDLES_OFFSET, &[&tail], 0)?;
                self.send_request(pid, ticket, entry.adapter, Expect::ByCommand, bytes);
            }
            Request::Lock { device, allocation } => {
                let entry = self.object(pid, device, &[Device])?;
                let allocation_entry = self.object(pid, allocation, &[Allocation])?;
                let mut command: Lock2Command = self.command(pid);
                command.device = device;
                command.allocation = allocation;
                let expect = Expect::Lock {
                    cached: allocation_entry.cached,
                };
                self.send_request(pid, ticket, entry.adapter, expect, command.as_bytes());
            }
            Request::Unlock { device, allocation } => {
                let entry = self.object(pid, device, &[Device])?;
                self.object(pid, allocation, &[Allocation])?;
                let mut command: Unlock2Command = self.command(pid);
                command.device = device;
                command.allocation = allocation;
                let bytes = command.as_bytes();
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::SubmitCommand {
                contexts,
                command_buffer,
                command_length,
                private_data,
                history_buffers,
            } => {
                check_count(contexts.len(), 1, MAX_BROADCAST_CONTEXTS)?;
                check_count(history_buffers.len(), 0, MAX_HISTORY_BUFFERS)?;
                let (first, others) = contexts.split_first().ok_or(NtStatus::INVALID_PARAMETER)?;
                let entry = self.object(pid, *first, &[Context])?;
                for context in others {
                    self.object(pid, *context, &[Context])?;
                }
                let mut command: SubmitCommandCommand = self.command(pid);
                command.command_buffer = command_buffer;
                command.command_length = command_length;
                command.broadcast_context_count = contexts.len() as u32;
                for (slot, context) in command.broadcast_context.iter_mut().zip(&contexts) {
                    *slot = *context;
                }
                command.private_data_size = private_data.len() as u32;
                command.num_history_buffers = history_buffers.len() as u32;
                let tail = [&handle_bytes(&history_buffers)[..], &private_data];
                let bytes = self.message(pid, command, WHOLE, &tail, 0)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            other => return self.start_sync_request(pid, ticket, other),
        }
        Ok(())
    }
}
