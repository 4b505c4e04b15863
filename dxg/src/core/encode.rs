//! Turning typed requests into commands (dxg.md §3): validation, handle translation, routing.

use super::replies::{Expect, Pending};
use super::{
    AdapterEntry, AdapterId, AdapterState, ChannelId, Driver, GuestEvent, ObjectEntry, ObjectKind,
};
use super::{Process, ProcessId, ProcessState, Reply, Request, SyncObjectKind, Ticket};
use crate::wire::*;
use alloc::vec::Vec;
use zerocopy::IntoBytes;

use ObjectKind::{
    Allocation, Context, Device, HwQueue, MonitoredFence, PagingQueue, Resource, SyncObject,
};

pub(super) fn check_count(count: usize, minimum: usize, limit: usize) -> Result<(), NtStatus> {
    if count < minimum || count > limit {
        Err(NtStatus::INVALID_PARAMETER)
    } else {
        Ok(())
    }
}

pub(super) fn handle_bytes(handles: &[D3dkmtHandle]) -> Vec<u8> {
    handles
        .iter()
        .flat_map(|handle| handle.0.to_le_bytes())
        .collect()
}

impl Driver {
    /// Submits a request on behalf of `process`. The result always arrives later as
    /// [`super::Action::Complete`] with the returned ticket (immediately for requests served
    /// locally or refused by validation).
    pub fn submit(&mut self, process: ProcessId, request: Request) -> Ticket {
        let ticket = self.new_ticket();
        if let Err(status) = self.start_request(process, ticket, request) {
            self.complete(ticket, Err(status));
        }
        ticket
    }

    pub(super) fn active_process(&self, process: ProcessId) -> Result<&Process, NtStatus> {
        match self.processes.get(&process) {
            Some(entry) if entry.state == ProcessState::Active => Ok(entry),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    pub(super) fn adapter_of(
        &self,
        process: ProcessId,
        handle: D3dkmtHandle,
    ) -> Result<AdapterId, NtStatus> {
        let id = self
            .active_process(process)?
            .adapter(handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        self.require_active(id)?;
        Ok(id)
    }

    pub(super) fn require_active(&self, id: AdapterId) -> Result<(), NtStatus> {
        match self.adapters.get(id.0).map(|adapter| adapter.state) {
            Some(AdapterState::Active) => Ok(()),
            _ => Err(NtStatus::DEVICE_REMOVED),
        }
    }

    pub(super) fn object(
        &self,
        process: ProcessId,
        handle: D3dkmtHandle,
        kinds: &[ObjectKind],
    ) -> Result<ObjectEntry, NtStatus> {
        let process = self.active_process(process)?;
        let entry = match process.get(handle) {
            Some(entry) if kinds.contains(&entry.kind) => *entry,
            Some(_) => return Err(NtStatus::OBJECT_TYPE_MISMATCH),
            None => return Err(NtStatus::INVALID_HANDLE),
        };
        self.require_active(entry.adapter)?;
        Ok(entry)
    }

    pub(super) fn host_process(&self, process: ProcessId) -> D3dkmtHandle {
        self.processes
            .get(&process)
            .map(|entry| entry.host)
            .unwrap_or_default()
    }

    /// Sends a command that is built from the header onwards; adds the extension header,
    /// allocates the transaction id and records what to do with the reply.
    pub(super) fn send_raw(
        &mut self,
        channel: ChannelId,
        adapter: Option<AdapterId>,
        vgpu_luid: Luid,
        command: Vec<u8>,
        pending: Pending,
        asynchronous: bool,
    ) {
        let mut bytes = if self.has_extension_header() {
            build_message(Some(vgpu_luid), &command, &[], 0)
        } else {
            command
        };
        let _ = adapter;
        if asynchronous {
            let offset = if self.has_extension_header() {
                ExtensionHeader::SIZE + 12
            } else {
                12
            };
            if let Some(word) = bytes.get_mut(offset + 1) {
                *word |= (ASYNC_MESSAGE_BIT >> 8) as u8;
            }
            self.actions
                .push_back(super::Action::Send(super::OutgoingPacket {
                    channel,
                    transaction_id: 0,
                    completion_requested: false,
                    bytes,
                }));
            return;
        }
        let transaction_id = self.next_transaction(channel);
        bytes.shrink_to_fit();
        self.pending.insert((channel, transaction_id), pending);
        self.actions
            .push_back(super::Action::Send(super::OutgoingPacket {
                channel,
                transaction_id,
                completion_requested: true,
                bytes,
            }));
    }

    /// Sends a vGPU command for `adapter`, routed per the async-messaging rule.
    pub(super) fn send_vgpu(
        &mut self,
        adapter: AdapterId,
        command: Vec<u8>,
        pending: Pending,
        may_be_async: bool,
    ) {
        let entry = &self.adapters[adapter.0];
        let luid = entry.vgpu_luid;
        let channel = if self.async_messaging {
            ChannelId::Global
        } else {
            ChannelId::Vgpu(entry.channel_instance)
        };
        let asynchronous = may_be_async && self.async_messaging;
        let ticket = pending.ticket;
        self.send_raw(channel, Some(adapter), luid, command, pending, asynchronous);
        if asynchronous && let Some(ticket) = ticket {
            self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
        }
    }

    /// Sends a global command.
    pub(super) fn send_global(
        &mut self,
        adapter: Option<AdapterId>,
        command: Vec<u8>,
        pending: Pending,
    ) {
        let luid = adapter
            .map(|id| self.adapters[id.0].vgpu_luid)
            .unwrap_or_default();
        self.send_raw(ChannelId::Global, adapter, luid, command, pending, false);
    }

    pub(super) fn vgpu_header(&self, command: VgpuCommand, process: ProcessId) -> CommandHeader {
        CommandHeader::vgpu(command.as_u32(), self.host_process(process), false)
    }

    fn start_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        let pending = |expect: Expect, adapter: Option<AdapterId>, command: u32| Pending {
            expect,
            adapter,
            ticket: Some(ticket),
            process: Some(pid),
            command,
        };
        match request {
            Request::CreateProcess { pid: os_pid, name } => {
                if !self.global_ready() {
                    return Err(NtStatus::DEVICE_REMOVED);
                }
                if self.processes.contains_key(&pid) {
                    return Err(NtStatus::OBJECT_NAME_COLLISION);
                }
                self.processes.insert(pid, Process::new());
                let mut command = CreateProcessCommand::zeroed();
                command.header = CommandHeader::global(
                    GlobalCommand::CreateProcess.as_u32(),
                    D3dkmtHandle::NULL,
                );
                command.process = 0x1000_0000 + pid.0;
                command.process_id = os_pid;
                for (slot, unit) in command
                    .process_name
                    .iter_mut()
                    .take(260)
                    .zip(name.encode_utf16())
                {
                    *slot = unit;
                }
                command.flags = CREATE_PROCESS_LINUX;
                let code = GlobalCommand::CreateProcess.as_u32();
                self.send_global(
                    None,
                    command.as_bytes().to_vec(),
                    pending(Expect::CreateProcess, None, code),
                );
            }
            Request::DestroyProcess => self.start_process_teardown(pid, ticket)?,
            Request::EnumAdapters => {
                self.active_process(pid)?;
                let active: Vec<(AdapterId, Luid)> = self
                    .adapters
                    .iter()
                    .enumerate()
                    .filter(|(_, adapter)| adapter.state == AdapterState::Active)
                    .map(|(index, adapter)| (AdapterId(index), adapter.luid))
                    .take(MAX_ADAPTERS)
                    .collect();
                let process = self
                    .processes
                    .get_mut(&pid)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                let entries = active
                    .into_iter()
                    .map(|(id, luid)| AdapterEntry {
                        handle: process.open_adapter(id),
                        luid,
                    })
                    .collect();
                self.complete(ticket, Ok(Reply::Adapters(entries)));
            }
            Request::OpenAdapterFromLuid { luid } => {
                self.active_process(pid)?;
                let id = self
                    .adapters
                    .iter()
                    .position(|adapter| {
                        adapter.state == AdapterState::Active && adapter.luid == luid
                    })
                    .map(AdapterId)
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
                let process = self
                    .processes
                    .get_mut(&pid)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                let handle = process.open_adapter(id);
                self.complete(
                    ticket,
                    Ok(Reply::AdapterOpened(AdapterEntry { handle, luid })),
                );
            }
            Request::CloseAdapter { adapter } => {
                self.active_process(pid)?;
                let process = self
                    .processes
                    .get_mut(&pid)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                if !process.close_adapter(adapter) {
                    return Err(NtStatus::INVALID_HANDLE);
                }
                self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
            }
            Request::QueryAdapterInfo {
                adapter,
                query_type,
                data,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                check_count(data.len(), 1, MAX_PACKET_SIZE)?;
                let mut command = QueryAdapterInfoCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::QueryAdapterInfo, pid);
                command.query_type = query_type;
                command.private_data_size = data.len() as u32;
                let bytes =
                    build_message(None, command.as_bytes(), &[&data], QUERY_ADAPTER_INFO_SLACK);
                let expect = Expect::QueryAdapterInfo {
                    size: data.len(),
                    query_type,
                };
                self.send_vgpu(
                    id,
                    bytes,
                    pending(expect, Some(id), VgpuCommand::QueryAdapterInfo.as_u32()),
                    false,
                );
            }
            Request::CreateDevice { adapter, flags } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command = CreateDeviceCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::CreateDevice, pid);
                command.flags = flags;
                command.error_code = self.config.device_state_cookie;
                let expect = Expect::Device { adapter: id };
                let bytes = command.as_bytes().to_vec();
                self.send_vgpu(
                    id,
                    bytes,
                    pending(expect, Some(id), VgpuCommand::CreateDevice.as_u32()),
                    false,
                );
            }
            Request::DestroyDevice { device } => {
                let entry = self.object(pid, device, &[Device])?;
                if let Some(process) = self.processes.get_mut(&pid) {
                    process.remove_device_tree(device);
                }
                let mut flush = FlushDeviceCommand::zeroed();
                flush.header = self.vgpu_header(VgpuCommand::FlushDevice, pid);
                flush.device = device;
                flush.reason = FLUSH_REASON_DEVICE_TERMINATE;
                let flush_pending = Pending {
                    expect: Expect::Ignore,
                    adapter: Some(entry.adapter),
                    ticket: None,
                    process: Some(pid),
                    command: VgpuCommand::FlushDevice.as_u32(),
                };
                self.send_vgpu(
                    entry.adapter,
                    flush.as_bytes().to_vec(),
                    flush_pending,
                    false,
                );
                let command = self.handle_command(VgpuCommand::DestroyDevice, pid, device);
                let code = VgpuCommand::DestroyDevice.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command,
                    pending(Expect::Status, Some(entry.adapter), code),
                    false,
                );
            }
            Request::CreatePagingQueue { device, priority } => {
                let entry = self.object(pid, device, &[Device])?;
                let mut command = CreatePagingQueueCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::CreatePagingQueue, pid);
                command.device = device;
                command.priority = priority;
                let expect = Expect::PagingQueue {
                    adapter: entry.adapter,
                    device,
                };
                let code = VgpuCommand::CreatePagingQueue.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command.as_bytes().to_vec(),
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::DestroyPagingQueue { paging_queue } => {
                let entry = self.object(pid, paging_queue, &[PagingQueue])?;
                self.remove_objects(pid, &[paging_queue]);
                let command =
                    self.handle_command(VgpuCommand::DestroyPagingQueue, pid, paging_queue);
                let code = VgpuCommand::DestroyPagingQueue.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command,
                    pending(Expect::NoResult, Some(entry.adapter), code),
                    false,
                );
            }
            Request::CreateContext {
                device,
                node_ordinal,
                engine_affinity,
                flags,
                client_hint,
                private_data,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                check_count(private_data.len(), 0, MAX_PACKET_SIZE)?;
                let mut command = CreateContextVirtualCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::CreateContextVirtual, pid);
                command.device = device;
                command.node_ordinal = node_ordinal;
                command.engine_affinity = engine_affinity;
                command.flags = flags;
                command.client_hint = client_hint;
                command.private_data_size = private_data.len() as u32;
                let fixed = &command.as_bytes()[..CREATE_CONTEXT_PRIVATE_OFFSET];
                let bytes = build_message(None, fixed, &[&private_data], CREATE_CONTEXT_SLACK);
                let expect = Expect::Context {
                    adapter: entry.adapter,
                    device,
                    private_size: private_data.len(),
                };
                let code = VgpuCommand::CreateContextVirtual.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::DestroyContext { context } => {
                let entry = self.object(pid, context, &[Context])?;
                if let Some(process) = self.processes.get_mut(&pid) {
                    process.remove_context(context);
                }
                let command = self.handle_command(VgpuCommand::DestroyContext, pid, context);
                let code = VgpuCommand::DestroyContext.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command,
                    pending(Expect::Status, Some(entry.adapter), code),
                    false,
                );
            }
            Request::CreateAllocation {
                device,
                resource,
                flags,
                runtime_data,
                driver_data,
                allocations,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                check_count(allocations.len(), 1, MAX_ALLOCATIONS_PER_CREATE)?;
                if !resource.is_null() {
                    self.object(pid, resource, &[Resource])?;
                }
                let mut command = CreateAllocationCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::CreateAllocation, pid);
                command.device = device;
                command.resource = resource;
                command.private_runtime_data_size = runtime_data.len() as u32;
                command.private_driver_data_size = driver_data.len() as u32;
                command.allocation_count = allocations.len() as u32;
                command.flags = flags;
                let mut infos = Vec::with_capacity(allocations.len() * AllocationInfo::SIZE);
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
                let bytes = build_message(
                    None,
                    command.as_bytes(),
                    &[&infos, &runtime_data, &driver_data, &private],
                    0,
                );
                if bytes.len() + ExtensionHeader::SIZE > MAX_PACKET_SIZE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let expect = Expect::Allocations {
                    adapter: entry.adapter,
                    device,
                    count: allocations.len(),
                    creates_resource: flags & CREATE_ALLOCATION_CREATE_RESOURCE != 0,
                    resource,
                };
                let code = VgpuCommand::CreateAllocation.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::DestroyAllocation {
                device,
                resource,
                allocations,
                flags,
            } => {
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
                let mut command = DestroyAllocationCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::DestroyAllocation, pid);
                command.device = device;
                command.resource = resource;
                command.allocation_count = allocations.len() as u32;
                command.flags = flags;
                let tail = handle_bytes(&allocations);
                let bytes =
                    build_message(None, command.as_bytes(), &[&tail], DESTROY_ALLOCATION_SLACK);
                let mut destroyed = allocations;
                if !resource.is_null() {
                    destroyed.push(resource);
                }
                let expect = Expect::DestroyObjects { handles: destroyed };
                let code = VgpuCommand::DestroyAllocation.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::MakeResident {
                paging_queue,
                allocations,
                flags,
            } => {
                let entry = self.object(pid, paging_queue, &[PagingQueue])?;
                check_count(allocations.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                let mut command = MakeResidentCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::MakeResident, pid);
                command.paging_queue = paging_queue;
                command.flags = flags;
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes = build_message(None, command.as_bytes(), &[&tail], MAKE_RESIDENT_SLACK);
                let code = VgpuCommand::MakeResident.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(Expect::MakeResident, Some(entry.adapter), code),
                    false,
                );
            }
            Request::Evict {
                device,
                allocations,
                flags,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                check_count(allocations.len(), 1, MAX_RESIDENCY_ALLOCATIONS)?;
                let mut command = EvictCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::Evict, pid);
                command.device = device;
                command.flags = flags;
                command.allocation_count = allocations.len() as u32;
                let tail = handle_bytes(&allocations);
                let bytes = build_message(
                    None,
                    &command.as_bytes()[..EVICT_HANDLES_OFFSET],
                    &[&tail],
                    0,
                );
                let code = VgpuCommand::Evict.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(Expect::Evict, Some(entry.adapter), code),
                    false,
                );
            }
            Request::Lock { device, allocation } => {
                let entry = self.object(pid, device, &[Device])?;
                let allocation_entry = self.object(pid, allocation, &[Allocation])?;
                let mut command = Lock2Command::zeroed();
                command.header = self.vgpu_header(VgpuCommand::Lock2, pid);
                command.device = device;
                command.allocation = allocation;
                let expect = Expect::Lock {
                    cached: allocation_entry.cached,
                };
                let code = VgpuCommand::Lock2.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command.as_bytes().to_vec(),
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::Unlock { device, allocation } => {
                let entry = self.object(pid, device, &[Device])?;
                self.object(pid, allocation, &[Allocation])?;
                let mut command = Unlock2Command::zeroed();
                command.header = self.vgpu_header(VgpuCommand::Unlock2, pid);
                command.device = device;
                command.allocation = allocation;
                let code = VgpuCommand::Unlock2.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command.as_bytes().to_vec(),
                    pending(Expect::Status, Some(entry.adapter), code),
                    false,
                );
            }
            Request::CreateSyncObject {
                device,
                kind,
                flags,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let mut command = CreateSyncObjectCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::CreateSyncObject, pid);
                command.device = device;
                command.flags = flags;
                command.client_hint = SYNC_CLIENT_HINT_UMD;
                let mut event = None;
                let (object_type, monitored) = match kind {
                    SyncObjectKind::Mutex { initial_state } => {
                        command.parameters[0] = u64::from(initial_state);
                        (SYNC_OBJECT_MUTEX, false)
                    }
                    SyncObjectKind::Semaphore {
                        max_count,
                        initial_count,
                    } => {
                        command.parameters[0] =
                            u64::from(max_count) | (u64::from(initial_count) << 32);
                        (SYNC_OBJECT_SEMAPHORE, false)
                    }
                    SyncObjectKind::Fence { initial_value } => {
                        command.parameters[0] = initial_value;
                        (SYNC_OBJECT_FENCE, false)
                    }
                    SyncObjectKind::CpuNotification => {
                        let id = self.new_event();
                        command.parameters[0] = id;
                        event = Some(id);
                        (SYNC_OBJECT_CPU_NOTIFICATION, false)
                    }
                    SyncObjectKind::MonitoredFence {
                        initial_value,
                        engine_affinity,
                    } => {
                        command.parameters[0] = initial_value;
                        command.parameters[3] = u64::from(engine_affinity);
                        (SYNC_OBJECT_MONITORED_FENCE, true)
                    }
                };
                command.object_type = object_type;
                let expect = Expect::SyncObject {
                    adapter: entry.adapter,
                    device,
                    monitored,
                    event,
                };
                let code = VgpuCommand::CreateSyncObject.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command.as_bytes().to_vec(),
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::DestroySyncObject { sync_object } => {
                let entry = self.object(pid, sync_object, &[SyncObject])?;
                self.remove_objects(pid, &[sync_object]);
                self.events.retain(|_, event| {
                    !matches!(event, GuestEvent::Notification { process, sync_object: object } if *process == pid && *object == sync_object)
                });
                let mut command = HandleCommand::zeroed();
                command.header = CommandHeader::global(
                    GlobalCommand::DestroySyncObject.as_u32(),
                    self.host_process(pid),
                );
                command.handle = sync_object;
                let code = GlobalCommand::DestroySyncObject.as_u32();
                self.send_global(
                    Some(entry.adapter),
                    command.as_bytes().to_vec(),
                    pending(Expect::Status, Some(entry.adapter), code),
                );
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
                let entry = self.object(pid, contexts[0], &[Context])?;
                for context in &contexts[1..] {
                    self.object(pid, *context, &[Context])?;
                }
                let mut command = SubmitCommandCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::SubmitCommand, pid);
                command.command_buffer = command_buffer;
                command.command_length = command_length;
                command.broadcast_context_count = contexts.len() as u32;
                for (slot, context) in command.broadcast_context.iter_mut().zip(&contexts) {
                    *slot = *context;
                }
                command.private_data_size = private_data.len() as u32;
                command.num_history_buffers = history_buffers.len() as u32;
                let history = handle_bytes(&history_buffers);
                let bytes = build_message(None, command.as_bytes(), &[&history, &private_data], 0);
                if bytes.len() + ExtensionHeader::SIZE > MAX_PACKET_SIZE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let code = VgpuCommand::SubmitCommand.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(Expect::Status, Some(entry.adapter), code),
                    true,
                );
            }
            Request::SignalFromGpu {
                context,
                objects,
                values,
            } => {
                let entry = self.object(pid, context, &[Context, HwQueue])?;
                self.signal(pid, entry, &objects, &values, &[context], 0, ticket)?;
            }
            Request::SignalFromCpu {
                device,
                objects,
                values,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                self.signal(
                    pid,
                    entry,
                    &objects,
                    &values,
                    &[],
                    u64::from(device.0),
                    ticket,
                )?;
            }
            Request::WaitFromCpu {
                device,
                objects,
                values,
                wait_any,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
                if values.len() != objects.len() {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                for object in &objects {
                    self.object(pid, *object, &[SyncObject, MonitoredFence])?;
                }
                let event = self.new_event();
                self.events.insert(
                    event,
                    GuestEvent::Wait {
                        ticket,
                        acknowledged: false,
                        signalled: false,
                        adapter: entry.adapter,
                        process: pid,
                    },
                );
                let mut command = WaitForSyncObjectFromCpuCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::WaitForSyncObjectFromCpu, pid);
                command.device = device;
                command.object_count = objects.len() as u32;
                command.flags = if wait_any { WAIT_FLAG_WAIT_ANY } else { 0 };
                command.guest_event_pointer = event;
                let bytes = build_message(
                    None,
                    command.as_bytes(),
                    &[&handle_bytes(&objects), &u64_bytes(&values)],
                    0,
                );
                let code = VgpuCommand::WaitForSyncObjectFromCpu.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(Expect::WaitFromCpu { event }, Some(entry.adapter), code),
                    false,
                );
            }
            Request::WaitFromGpu {
                context,
                objects,
                values,
            } => {
                let entry = self.object(pid, context, &[Context, HwQueue])?;
                check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
                if values.len() != objects.len() {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                for object in &objects {
                    self.object(pid, *object, &[SyncObject, MonitoredFence])?;
                }
                // Linux marks the wait legacy unless the first object is a monitored fence.
                let legacy = !self.is_monitored_fence(pid, objects[0]);
                let bytes = self.wait_from_gpu_message(pid, context, &objects, &values, legacy);
                let code = VgpuCommand::WaitForSyncObjectFromGpu.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    bytes,
                    pending(Expect::Status, Some(entry.adapter), code),
                    true,
                );
            }
            Request::QueryVideoMemoryInfo {
                adapter,
                segment_group,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command = QueryVideoMemoryInfoCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::QueryVideoMemoryInfo, pid);
                command.adapter = self.adapters[id.0].host_adapter;
                command.memory_segment_group = segment_group;
                let code = VgpuCommand::QueryVideoMemoryInfo.as_u32();
                self.send_vgpu(
                    id,
                    command.as_bytes().to_vec(),
                    pending(Expect::VideoMemory, Some(id), code),
                    false,
                );
            }
            Request::GetDeviceState { device, state_type } => {
                let entry = self.object(pid, device, &[Device])?;
                if state_type == DEVICE_STATE_EXECUTION
                    && let Some((counter, state)) = entry.cached_execution_state
                    && counter == self.device_state_counter
                {
                    self.complete(ticket, Ok(Reply::DeviceState { state_type, state }));
                    return Ok(());
                }
                let mut command = GetDeviceStateCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::GetDeviceState, pid);
                command.device = device;
                command.state_type = state_type;
                let expect = Expect::DeviceState { device };
                let code = VgpuCommand::GetDeviceState.as_u32();
                self.send_vgpu(
                    entry.adapter,
                    command.as_bytes().to_vec(),
                    pending(expect, Some(entry.adapter), code),
                    false,
                );
            }
            Request::Escape {
                adapter,
                device,
                context,
                escape_type,
                flags,
                data,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                check_count(data.len(), 0, MAX_PACKET_SIZE)?;
                let mut command = EscapeCommand::zeroed();
                command.header = self.vgpu_header(VgpuCommand::Escape, pid);
                command.adapter = self.adapters[id.0].host_adapter;
                command.device = device;
                command.escape_type = escape_type;
                command.flags = flags;
                command.private_data_size = data.len() as u32;
                command.context = context;
                let bytes = build_message(None, command.as_bytes(), &[&data], ESCAPE_SLACK);
                let code = VgpuCommand::Escape.as_u32();
                self.send_vgpu(
                    id,
                    bytes,
                    pending(Expect::Escape { size: data.len() }, Some(id), code),
                    false,
                );
            }
            other => return self.start_extended_request(pid, ticket, other),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn signal(
        &mut self,
        pid: ProcessId,
        entry: ObjectEntry,
        objects: &[D3dkmtHandle],
        values: &[u64],
        contexts: &[D3dkmtHandle],
        device_word: u64,
        ticket: Ticket,
    ) -> Result<(), NtStatus> {
        check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
        if values.len() != objects.len() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        for object in objects {
            self.object(pid, *object, &[SyncObject, MonitoredFence])?;
        }
        let mut command = SignalSyncObjectCommand::zeroed();
        command.header = self.vgpu_header(VgpuCommand::SignalSyncObject, pid);
        command.object_count = objects.len() as u32;
        command.context_count = contexts.len() as u32;
        command.cpu_event_or_device = device_word;
        let bytes = build_message(
            None,
            command.as_bytes(),
            &[
                &handle_bytes(objects),
                &handle_bytes(contexts),
                &u64_bytes(values),
            ],
            0,
        );
        let pending = Pending {
            expect: Expect::Status,
            adapter: Some(entry.adapter),
            ticket: Some(ticket),
            process: Some(pid),
            command: VgpuCommand::SignalSyncObject.as_u32(),
        };
        self.send_vgpu(entry.adapter, bytes, pending, true);
        Ok(())
    }

    pub(super) fn handle_command(
        &self,
        command: VgpuCommand,
        pid: ProcessId,
        handle: D3dkmtHandle,
    ) -> Vec<u8> {
        let mut message = HandleCommand::zeroed();
        message.header = self.vgpu_header(command, pid);
        message.handle = handle;
        message.as_bytes().to_vec()
    }

    pub(super) fn remove_objects(&mut self, pid: ProcessId, handles: &[D3dkmtHandle]) {
        if let Some(process) = self.processes.get_mut(&pid) {
            for handle in handles {
                process.remove(*handle);
            }
        }
    }

    /// Process exit (dxg.md §4.3 step 6): FLUSHDEVICE, DESTROYALLOCATION per allocation and
    /// resource, DESTROYDEVICE for every live device, then DESTROYPROCESS once all answered.
    fn start_process_teardown(&mut self, pid: ProcessId, ticket: Ticket) -> Result<(), NtStatus> {
        let process = self
            .processes
            .get_mut(&pid)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if process.state != ProcessState::Active {
            return Err(NtStatus::INVALID_HANDLE);
        }
        process.state = ProcessState::Destroying;
        let devices = process.entries_of(Device);
        let allocations = process.entries_of(Allocation);
        let resources = process.entries_of(Resource);
        let mut commands: Vec<(AdapterId, Vec<u8>, u32)> = Vec::new();
        for device in devices
            .iter()
            .filter(|device| self.require_active(device.adapter).is_ok())
        {
            let mut flush = FlushDeviceCommand::zeroed();
            flush.header = self.vgpu_header(VgpuCommand::FlushDevice, pid);
            flush.device = device.handle;
            flush.reason = FLUSH_REASON_DEVICE_TERMINATE;
            commands.push((
                device.adapter,
                flush.as_bytes().to_vec(),
                VgpuCommand::FlushDevice.as_u32(),
            ));
            let owned = allocations
                .iter()
                .chain(resources.iter())
                .filter(|entry| entry.device == device.handle);
            for entry in owned {
                let mut destroy = DestroyAllocationCommand::zeroed();
                destroy.header = self.vgpu_header(VgpuCommand::DestroyAllocation, pid);
                destroy.device = device.handle;
                destroy.flags = DESTROY_ALLOCATION_ASSUME_NOT_IN_USE;
                let tail = if entry.kind == Resource {
                    destroy.resource = entry.handle;
                    Vec::new()
                } else {
                    destroy.allocation_count = 1;
                    entry.handle.0.to_le_bytes().to_vec()
                };
                let bytes =
                    build_message(None, destroy.as_bytes(), &[&tail], DESTROY_ALLOCATION_SLACK);
                commands.push((
                    device.adapter,
                    bytes,
                    VgpuCommand::DestroyAllocation.as_u32(),
                ));
            }
            let destroy = self.handle_command(VgpuCommand::DestroyDevice, pid, device.handle);
            commands.push((device.adapter, destroy, VgpuCommand::DestroyDevice.as_u32()));
        }
        let shared = self.teardown_shared_objects(pid, ticket);
        if let Some(process) = self.processes.get_mut(&pid) {
            process.teardown_outstanding = commands.len() + shared;
        }
        // Waits still pending end now; their late signals are ignored (see `waits`).
        self.abandon_process_events(pid, NtStatus::DEVICE_REMOVED);
        if commands.is_empty() && shared == 0 {
            self.send_destroy_process(pid, ticket);
        }
        for (adapter, bytes, code) in commands {
            let pending = Pending {
                expect: Expect::TeardownStep { ticket },
                adapter: Some(adapter),
                ticket: None,
                process: Some(pid),
                command: code,
            };
            self.send_vgpu(adapter, bytes, pending, false);
        }
        Ok(())
    }

    pub(super) fn send_destroy_process(&mut self, pid: ProcessId, ticket: Ticket) {
        let host = self.host_process(pid);
        let header = CommandHeader::global(GlobalCommand::DestroyProcess.as_u32(), host);
        let pending = Pending {
            expect: Expect::DestroyProcess,
            adapter: None,
            ticket: Some(ticket),
            process: Some(pid),
            command: GlobalCommand::DestroyProcess.as_u32(),
        };
        if self.global_ready() {
            self.send_global(None, header.as_bytes().to_vec(), pending);
        } else {
            self.processes.remove(&pid);
            self.forget_abandoned_events(pid);
            self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
        }
    }
}
