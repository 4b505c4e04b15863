//! Command handlers of the emulated host (dxg.md §3, §8).

use super::command_processor::{self, CommandTarget, Surface};
use super::io_space::IoSpace;
use super::{CpuWait, GpuHost, HostChannel, HostObject, HostOutput, HostProcess, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::{FromBytes, IntoBytes};

/// Largest allocation the emulator backs (bytes).
pub const MAX_ALLOCATION_BYTES: u64 = 64 << 20;

pub(super) type Handled = Result<Vec<u8>, NtStatus>;

pub(super) fn status_bytes(status: NtStatus) -> Vec<u8> {
    status.0.to_le_bytes().to_vec()
}

pub(super) fn parse<T: FromBytes>(command: &[u8]) -> Result<T, NtStatus> {
    read_prefix(command).map_err(|_| NtStatus::INVALID_PARAMETER)
}

struct Target<'a> {
    memory: &'a super::sysmem::ScatteredMemory<'a>,
    process: &'a HostProcess,
    adapter: usize,
}

impl CommandTarget for Target<'_> {
    fn allocation(&self, handle: D3dkmtHandle) -> Option<Surface> {
        match self.process.objects.get(&handle) {
            Some(Owned {
                adapter,
                object: HostObject::Allocation { address, size, .. },
                ..
            }) if *adapter == self.adapter => Some(Surface {
                address: *address,
                size: *size,
            }),
            _ => None,
        }
    }
    fn fence(&self, handle: D3dkmtHandle) -> Option<u64> {
        match self.process.objects.get(&handle) {
            Some(Owned {
                object:
                    HostObject::SyncObject {
                        fence_page: Some(page),
                        ..
                    },
                ..
            }) => Some(*page),
            _ => None,
        }
    }
    fn memory(&self) -> &dyn GuestMemory {
        self.memory
    }
}

impl<M: GuestMemory> GpuHost<M> {
    /// Handles one guest packet on `channel`.
    pub fn receive(
        &mut self,
        channel: HostChannel,
        transaction_id: u64,
        completion_requested: bool,
        bytes: &[u8],
    ) {
        self.statistics.commands += 1;
        let extension = self.extension_headers();
        let reply = match split_message(bytes, extension) {
            Ok(message) => {
                let adapter = match channel {
                    HostChannel::Vgpu(index) => Some(index),
                    HostChannel::Global => message.extension.and_then(|extension| {
                        self.vgpus.iter().position(|vgpu| {
                            vgpu.description.config.vgpu_luid == extension.vgpu_luid
                        })
                    }),
                };
                self.dispatch(message.header, message.command, adapter)
            }
            Err(_) => Some(status_bytes(NtStatus::INVALID_PARAMETER)),
        };
        if let Some(reply) = reply
            && completion_requested
        {
            self.outputs.push_back(HostOutput::Completion {
                channel,
                transaction_id,
                bytes: reply,
            });
        }
        self.evaluate_waits();
    }

    fn dispatch(
        &mut self,
        header: CommandHeader,
        command: &[u8],
        adapter: Option<usize>,
    ) -> Option<Vec<u8>> {
        let code = header.command_type;
        if header.channel_type() == ChannelType::VmToHost as u32 {
            let result = match GlobalCommand::from_u32(code) {
                Some(GlobalCommand::CreateProcess) => self.create_process(command),
                Some(GlobalCommand::DestroyProcess) => self.destroy_process(header.process),
                Some(GlobalCommand::SetIoSpaceRegion) => self.set_io_space(command),
                Some(GlobalCommand::DestroySyncObject) => {
                    self.destroy_sync_object(header.process, command)
                }
                Some(
                    kind @ (GlobalCommand::CreateNtSharedObject
                    | GlobalCommand::DestroyNtSharedObject
                    | GlobalCommand::OpenSyncObject
                    | GlobalCommand::ShareObjectWithHost),
                ) => {
                    let result = self.sharing_command(header.process, kind, command);
                    if let Err(status) = result {
                        self.statistics.failures += 1;
                        return Some(super::dispatch_sharing::global_failure_reply(kind, status));
                    }
                    result
                }
                _ => Err(NtStatus::NOT_IMPLEMENTED),
            };
            return Some(self.finish(code, result, command));
        }
        let Some(command_kind) = VgpuCommand::from_u32(code) else {
            return Some(self.finish(code, Err(NtStatus::NOT_IMPLEMENTED), command));
        };
        let Some(adapter) = adapter.filter(|index| *index < self.vgpus.len()) else {
            return Some(self.finish(code, Err(NtStatus::INVALID_PARAMETER), command));
        };
        if self.vgpus[adapter].removed {
            return Some(self.finish(code, Err(NtStatus::DEVICE_REMOVED), command));
        }
        let result = match command_kind {
            VgpuCommand::OpenAdapter => self.open_adapter(adapter),
            VgpuCommand::CloseAdapter => Ok(Vec::new()),
            VgpuCommand::GetInternalAdapterInfo => Ok(self.internal_info(adapter)),
            VgpuCommand::IsFeatureEnabled => self.is_feature_enabled(command),
            _ => self.process_command(header, command_kind, command, adapter),
        };
        if header.is_async() {
            if let Err(status) = result {
                log::debug!("vgpu: async command {code} failed: {status:?}");
            }
            return None;
        }
        Some(self.finish(code, result, command))
    }

    /// Turns a handler result into reply bytes, shaping failures like the real reply.
    fn finish(&mut self, code: u32, result: Handled, command: &[u8]) -> Vec<u8> {
        let status = match result {
            Ok(bytes) => return bytes,
            Err(status) => status,
        };
        self.statistics.failures += 1;
        let mut reply = match VgpuCommand::from_u32(code) {
            Some(VgpuCommand::OpenAdapter) => {
                let mut reply = vec![0u8; OpenAdapterReply::SIZE];
                reply[4..8].copy_from_slice(&status.0.to_le_bytes());
                return reply;
            }
            Some(VgpuCommand::CreateDevice)
            | Some(VgpuCommand::CreatePagingQueue)
            | Some(VgpuCommand::CreateSyncObject)
                if code < 1000 =>
            {
                let size = match VgpuCommand::from_u32(code) {
                    Some(VgpuCommand::CreatePagingQueue) => CreatePagingQueueReply::SIZE,
                    Some(VgpuCommand::CreateSyncObject) => CreateSyncObjectReply::SIZE,
                    _ => 4,
                };
                return vec![0u8; size];
            }
            Some(VgpuCommand::CreateContextVirtual) => {
                let mut echo = command.to_vec();
                if echo.len() >= 28 {
                    echo[24..28].fill(0);
                }
                return echo;
            }
            Some(VgpuCommand::MakeResident) => {
                let mut reply = vec![0u8; MakeResidentReply::SIZE];
                reply[16..20].copy_from_slice(&status.0.to_le_bytes());
                return reply;
            }
            Some(VgpuCommand::GetDeviceState) => {
                let mut reply = vec![0u8; GetDeviceStateReply::SIZE];
                reply[56..60].copy_from_slice(&status.0.to_le_bytes());
                return reply;
            }
            Some(other) => match super::dispatch_memory::failure_reply(other, status, command) {
                Some(reply) => return reply,
                None => status_bytes(status),
            },
            None => status_bytes(status),
        };
        if code == VgpuCommand::QueryAdapterInfo.as_u32()
            && let Ok(request) = read_prefix::<QueryAdapterInfoCommand>(command)
        {
            reply.resize(
                4 + (request.private_data_size as usize).min(MAX_PACKET_SIZE),
                0,
            );
        }
        reply
    }

    fn create_process(&mut self, command: &[u8]) -> Handled {
        let request: CreateProcessCommand = parse(command)?;
        let handle = self.process_handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
        let process = HostProcess {
            guest_pid: request.process_id,
            ..HostProcess::default()
        };
        self.processes.insert(handle, process);
        Ok(handle.0.to_le_bytes().to_vec())
    }

    fn destroy_process(&mut self, handle: D3dkmtHandle) -> Handled {
        let process = self
            .processes
            .remove(&handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        for owned in process.objects.values() {
            self.release_storage(&owned.object);
        }
        self.destroy_shared_of(handle);
        self.process_handles.free(handle);
        self.waits.retain(|wait| wait.process != handle);
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    fn set_io_space(&mut self, command: &[u8]) -> Handled {
        let request: SetIoSpaceRegionCommand = parse(command)?;
        if request.length == 0
            || request.length > u64::from(self.mmio_megabytes) << 20
            || !request.start.is_multiple_of(PAGE_SIZE)
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.io_space = Some(IoSpace::new(request.start, request.length));
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    fn open_adapter(&mut self, adapter: usize) -> Handled {
        if self.vgpus[adapter].host_adapter.is_null() {
            self.vgpus[adapter].host_adapter =
                self.adapter_handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
        }
        let reply = OpenAdapterReply {
            host_adapter: self.vgpus[adapter].host_adapter,
            status: 0,
            host_interface_version: INTERFACE_VERSION,
            host_last_compatible_interface_version: LAST_COMPATIBLE_INTERFACE_VERSION,
        };
        Ok(reply.as_bytes().to_vec())
    }

    fn internal_info(&self, adapter: usize) -> Vec<u8> {
        let description = &self.vgpus[adapter].description;
        let mut reply = InternalAdapterInfoReply::zeroed();
        reply.device_types = DEVICE_TYPE_VIRTUAL_RENDER;
        reply.flags = if description.async_messaging {
            ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED
        } else {
            0
        };
        reply.host_adapter_luid = description.config.channel_instance.adapter_luid();
        reply.host_vgpu_luid = description.config.vgpu_luid;
        for (slot, unit) in reply
            .device_description
            .iter_mut()
            .take(79)
            .zip(description.description.encode_utf16())
        {
            *slot = unit;
        }
        for (slot, unit) in reply
            .device_instance_id
            .iter_mut()
            .take(259)
            .zip("VMBUS\\DXGOS\\VGPU".encode_utf16())
        {
            *slot = unit;
        }
        let mut bytes = reply.as_bytes().to_vec();
        if !self.extension_headers() {
            bytes.truncate(INTERNAL_ADAPTER_INFO_REPLY_OLD_SIZE);
        }
        bytes
    }

    fn query_adapter_info(&self, adapter: usize, command: &[u8]) -> Handled {
        let request: QueryAdapterInfoCommand = parse(command)?;
        let size = request.private_data_size as usize;
        if size == 0 || size > MAX_PACKET_SIZE {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut data = vec![0u8; size];
        let put = |data: &mut Vec<u8>, offset: usize, value: u32| {
            if let Some(slot) = data.get_mut(offset..offset + 4) {
                slot.copy_from_slice(&value.to_le_bytes());
            }
        };
        match request.query_type {
            QUERY_ADAPTER_TYPE | QUERY_ADAPTER_TYPE_RENDER => put(
                &mut data,
                0,
                ADAPTER_TYPE_RENDER_SUPPORTED | (1 << 1) | ADAPTER_TYPE_PARAVIRTUALIZED,
            ),
            QUERY_PHYSICAL_ADAPTER_DEVICE_IDS => {
                // {u32 physical adapter index, vendor, device, subvendor, subsystem, revision, bus type}
                put(&mut data, 4, u32::from(PCI_VENDOR_MICROSOFT));
                put(&mut data, 8, u32::from(PCI_DEVICE_VIRTUAL_RENDER));
            }
            QUERY_WDDM_2_7_CAPS => {}
            QUERY_DRIVER_DESCRIPTION => {
                let text = &self.vgpus[adapter].description.description;
                for (index, unit) in text.encode_utf16().enumerate().take(size / 2 - 1) {
                    data[index * 2..index * 2 + 2].copy_from_slice(&unit.to_le_bytes());
                }
            }
            _ => return Err(NtStatus::NOT_SUPPORTED),
        }
        let mut reply = Vec::with_capacity(size + 4);
        if self.extension_headers() {
            reply.extend_from_slice(&0i32.to_le_bytes());
        }
        reply.extend_from_slice(&data);
        Ok(reply)
    }

    fn process_command(
        &mut self,
        header: CommandHeader,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        if kind == VgpuCommand::QueryAdapterInfo {
            return self.query_adapter_info(adapter, command);
        }
        let process_handle = header.process;
        if !self.processes.contains_key(&process_handle) {
            return Err(NtStatus::INVALID_HANDLE);
        }
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
                self.expect(process_handle, request.handle, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
                self.destroy_where(process_handle, |handle, owned| {
                    handle == request.handle || owned.device == request.handle
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::FlushDevice => {
                let request: FlushDeviceCommand = parse(command)?;
                self.expect(process_handle, request.device, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::CreatePagingQueue => {
                let request: CreatePagingQueueCommand = parse(command)?;
                self.expect(process_handle, request.device, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
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
                fixed[..available].copy_from_slice(&command[..available]);
                let request: CreateContextVirtualCommand = parse(&fixed)?;
                self.expect(process_handle, request.device, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
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
                echo[24..28].copy_from_slice(&handle.0.to_le_bytes());
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
                    self.expect(process_handle, D3dkmtHandle(*handle), adapter, |object| {
                        matches!(object, HostObject::Allocation { .. })
                    })?;
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
                self.expect(process_handle, request.device, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
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
                    match self.expect(process_handle, request.allocation, adapter, |object| {
                        matches!(object, HostObject::Allocation { .. })
                    })? {
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
                self.expect(process_handle, request.allocation, adapter, |object| {
                    matches!(object, HostObject::Allocation { .. })
                })?;
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::CreateSyncObject => {
                self.create_sync_object(process_handle, adapter, command)
            }
            VgpuCommand::SubmitCommand => self.submit(process_handle, adapter, command),
            VgpuCommand::SignalSyncObject => self.signal(process_handle, adapter, command),
            VgpuCommand::WaitForSyncObjectFromCpu => {
                let request: WaitForSyncObjectFromCpuCommand = parse(command)?;
                let count = request.object_count as usize;
                if count == 0 || count > MAX_SYNC_OBJECTS || request.guest_event_pointer == 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let base = WaitForSyncObjectFromCpuCommand::SIZE;
                let handles = read_u32_array(command, base, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                let values = read_u64_array(command, base + 4 * count, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                for handle in &handles {
                    self.expect(process_handle, D3dkmtHandle(*handle), adapter, |object| {
                        matches!(object, HostObject::SyncObject { .. })
                    })?;
                }
                self.waits.push(CpuWait {
                    process: process_handle,
                    event: request.guest_event_pointer,
                    objects: handles.into_iter().map(D3dkmtHandle).zip(values).collect(),
                    wait_any: request.flags & WAIT_FLAG_WAIT_ANY != 0,
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::WaitForSyncObjectFromGpu => {
                // The emulated GPU executes submissions synchronously, so a GPU-side wait has
                // nothing to wait for once its context and objects exist. Legacy waits
                // (`legacy_fence_object`, D3DKMTWaitForSynchronizationObject2 and non-monitored
                // objects) carry one meaningful value, in the first slot.
                let request: WaitForSyncObjectFromGpuCommand = parse(command)?;
                let count = request.object_count as usize;
                if count == 0 || count > MAX_SYNC_OBJECTS {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                self.expect(process_handle, request.context, adapter, |object| {
                    matches!(object, HostObject::Context | HostObject::HwQueue { .. })
                })?;
                let handles = read_u32_array(
                    command,
                    WaitForSyncObjectFromGpuCommand::SIZE + 8 * count,
                    count,
                )
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                for handle in handles {
                    self.expect(process_handle, D3dkmtHandle(handle), adapter, |object| {
                        matches!(object, HostObject::SyncObject { .. })
                    })?;
                }
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::QueryVideoMemoryInfo => {
                let request: QueryVideoMemoryInfoCommand = parse(command)?;
                let reservation = self
                    .processes
                    .get(&process_handle)
                    .and_then(|process| {
                        process
                            .reservations
                            .get(&(adapter, request.memory_segment_group))
                    })
                    .copied()
                    .unwrap_or(0);
                let budget = self
                    .io_space
                    .as_ref()
                    .map(|space| space.length())
                    .unwrap_or(0);
                let used = self.io_pages_in_use() as u64 * PAGE_SIZE;
                let reply = QueryVideoMemoryInfoReply {
                    budget,
                    current_usage: used,
                    current_reservation: reservation,
                    available_for_reservation: budget / 2,
                };
                Ok(reply.as_bytes().to_vec())
            }
            VgpuCommand::GetDeviceState => {
                let request: GetDeviceStateCommand = parse(command)?;
                self.expect(process_handle, request.device, adapter, |object| {
                    matches!(object, HostObject::Device { .. })
                })?;
                let mut reply = GetDeviceStateReply::zeroed();
                reply.device = request.device;
                reply.state_type = request.state_type;
                if request.state_type == DEVICE_STATE_EXECUTION {
                    let marked = self
                        .processes
                        .get(&process_handle)
                        .is_some_and(|process| process.device_errors.contains_key(&request.device));
                    reply.state[0] = u64::from(if marked {
                        DEVICE_EXECUTION_ERROR_DMAFAULT
                    } else {
                        DEVICE_EXECUTION_ACTIVE
                    });
                }
                Ok(reply.as_bytes().to_vec())
            }
            VgpuCommand::Escape => {
                let request: EscapeCommand = parse(command)?;
                let data = read_bytes(
                    command,
                    EscapeCommand::SIZE,
                    request.private_data_size as usize,
                )
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                Ok(data.to_vec())
            }
            other => self.extended_command(process_handle, other, command, adapter),
        }
    }

    pub(super) fn process_mut(
        &mut self,
        handle: D3dkmtHandle,
    ) -> Result<&mut HostProcess, NtStatus> {
        self.processes
            .get_mut(&handle)
            .ok_or(NtStatus::INVALID_HANDLE)
    }

    /// Checks that `handle` is an object of this process on `adapter` matching `kind`.
    pub(super) fn expect(
        &self,
        process: D3dkmtHandle,
        handle: D3dkmtHandle,
        adapter: usize,
        kind: impl Fn(&HostObject) -> bool,
    ) -> Result<HostObject, NtStatus> {
        let owned = self
            .processes
            .get(&process)
            .and_then(|process| process.objects.get(&handle))
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if owned.adapter != adapter {
            return Err(NtStatus::INVALID_HANDLE);
        }
        if !kind(&owned.object) {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
        Ok(owned.object.clone())
    }

    pub(super) fn fence_page(
        &self,
        process: D3dkmtHandle,
        fence: D3dkmtHandle,
    ) -> Result<u64, NtStatus> {
        match self
            .processes
            .get(&process)
            .and_then(|process| process.objects.get(&fence))
        {
            Some(Owned {
                object:
                    HostObject::SyncObject {
                        fence_page: Some(page),
                        ..
                    },
                ..
            }) => Ok(*page),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    pub(super) fn allocate_io(&mut self, bytes: u64) -> Result<u64, NtStatus> {
        self.io_space
            .as_mut()
            .and_then(|space| space.allocate(bytes))
            .ok_or(NtStatus::NO_MEMORY)
    }

    /// Drops one holder of an object's storage; IO-space pages and sysmem windows go with the
    /// last holder (storage shared through OPENRESOURCE / OPENSYNCOBJECT has several).
    pub(super) fn release_storage(&mut self, object: &HostObject) {
        let (address, size) = match object {
            HostObject::Allocation { address, size, .. } => (*address, *size),
            HostObject::SyncObject {
                fence_page: Some(page),
                ..
            } => (*page, PAGE_SIZE),
            _ => return,
        };
        self.release_range(address, size);
    }

    /// Drops one holder of `[address, address + size)` (see [`Self::retain_range`]).
    pub(super) fn release_range(&mut self, address: u64, size: u64) {
        if super::sysmem::SysmemWindows::is_window(address) {
            self.sysmem.release(address);
            return;
        }
        if let Some(extra) = self.storage_holders.get_mut(&address) {
            *extra -= 1;
            if *extra == 0 {
                self.storage_holders.remove(&address);
            }
            return;
        }
        if let Some(space) = self.io_space.as_mut() {
            space.free(address, size);
        }
    }

    /// One more holder of the storage at `address` (an IO-space range or a sysmem window).
    pub(super) fn retain_range(&mut self, address: u64) {
        if super::sysmem::SysmemWindows::is_window(address) {
            self.sysmem.retain(address);
        } else {
            *self.storage_holders.entry(address).or_insert(0) += 1;
        }
    }

    /// Guest memory as the GPU sees it: IO space and guest RAM directly, existing-sysmem
    /// windows translated to the guest's pages.
    pub(super) fn gpu_memory(&self) -> super::sysmem::ScatteredMemory<'_> {
        super::sysmem::ScatteredMemory {
            inner: &self.memory,
            windows: &self.sysmem,
        }
    }

    /// Destroys every object of `process` matching `filter`, freeing storage and handles.
    pub(super) fn destroy_where(
        &mut self,
        process: D3dkmtHandle,
        filter: impl Fn(D3dkmtHandle, &Owned) -> bool,
    ) {
        let Some(entry) = self.processes.get_mut(&process) else {
            return;
        };
        let doomed: Vec<D3dkmtHandle> = entry
            .objects
            .iter()
            .filter(|(handle, owned)| filter(**handle, owned))
            .map(|(h, _)| *h)
            .collect();
        let mut released = Vec::new();
        for handle in &doomed {
            if let Some(owned) = entry.objects.remove(handle) {
                entry.handles.free(*handle);
                entry.forget(*handle);
                released.push(owned.object);
            }
        }
        for object in released {
            self.release_storage(&object);
        }
        self.forget_dead_globals();
        self.waits.retain(|wait| {
            wait.process != process
                || wait
                    .objects
                    .iter()
                    .all(|(handle, _)| !doomed.contains(handle))
        });
    }

    fn create_allocation(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: CreateAllocationCommand = parse(command)?;
        self.expect(process_handle, request.device, adapter, |object| {
            matches!(object, HostObject::Device { .. })
        })?;
        let count = request.allocation_count as usize;
        if count == 0 || count > MAX_ALLOCATIONS_PER_CREATE {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut infos = Vec::with_capacity(count);
        for index in 0..count {
            let info: AllocationInfo = read_at(
                command,
                CreateAllocationCommand::SIZE + index * AllocationInfo::SIZE,
            )
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
            infos.push(info);
        }
        let mut offset = CreateAllocationCommand::SIZE + count * AllocationInfo::SIZE;
        offset = offset
            .checked_add(request.private_runtime_data_size as usize)
            .and_then(|offset| offset.checked_add(request.private_driver_data_size as usize))
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let mut privates = Vec::with_capacity(count);
        for info in &infos {
            let data = read_bytes(command, offset, info.private_driver_data_size as usize)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
            offset += data.len();
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
            let size = private
                .get(..8)
                .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
                .unwrap_or(PAGE_SIZE)
                .max(1)
                .div_ceil(PAGE_SIZE)
                * PAGE_SIZE;
            if size > MAX_ALLOCATION_BYTES {
                failure = Some(NtStatus::NO_MEMORY);
                break;
            }
            let address = if existing_sysmem {
                // Backed by guest pages named later (SETEXISTINGSYSMEMPAGES / ...STORE).
                self.sysmem.create((size / PAGE_SIZE) as usize)
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

    fn create_sync_object(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: CreateSyncObjectCommand = parse(command)?;
        self.expect(process_handle, request.device, adapter, |object| {
            matches!(object, HostObject::Device { .. })
        })?;
        let (fence_page, value, event) = match request.object_type {
            SYNC_OBJECT_MONITORED_FENCE => {
                let page = self.allocate_io(PAGE_SIZE)?;
                self.memory
                    .write_u64(page, request.parameters[0])
                    .map_err(|_| NtStatus::NO_MEMORY)?;
                (Some(page), 0, 0)
            }
            SYNC_OBJECT_FENCE | SYNC_OBJECT_MUTEX | SYNC_OBJECT_SEMAPHORE => {
                (None, request.parameters[0], 0)
            }
            SYNC_OBJECT_CPU_NOTIFICATION => (None, 0, request.parameters[0]),
            _ => return Err(NtStatus::NOT_SUPPORTED),
        };
        let process = self.process_mut(process_handle)?;
        let Some(handle) = process.handles.allocate() else {
            if let (Some(page), Some(space)) = (fence_page, self.io_space.as_mut()) {
                space.free(page, PAGE_SIZE);
            }
            return Err(NtStatus::NO_MEMORY);
        };
        let object = HostObject::SyncObject {
            object_type: request.object_type,
            fence_page,
            value,
            event,
        };
        process.objects.insert(
            handle,
            Owned {
                device: request.device,
                adapter,
                object,
            },
        );
        // Sync objects created shared get a host-global handle (OPENSYNCOBJECT names it).
        let global = if request.flags & SYNC_FLAG_SHARED != 0 {
            match self.new_global_sync(process_handle, handle) {
                Ok(global) => global,
                Err(status) => {
                    self.destroy_where(process_handle, |candidate, _| candidate == handle);
                    return Err(status);
                }
            }
        } else {
            D3dkmtHandle::NULL
        };
        let reply = CreateSyncObjectReply {
            sync_object: handle,
            global_sync_object: global,
            fence_gpu_virtual_address: fence_page.unwrap_or(0),
            fence_storage_address: fence_page.unwrap_or(0),
            fence_storage_offset: 0,
            padding: 0,
        };
        Ok(reply.as_bytes().to_vec())
    }

    fn destroy_sync_object(&mut self, process_handle: D3dkmtHandle, command: &[u8]) -> Handled {
        let request: HandleCommand = parse(command)?;
        let owned = self
            .processes
            .get(&process_handle)
            .and_then(|process| process.objects.get(&request.handle))
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if !matches!(owned.object, HostObject::SyncObject { .. }) {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
        self.destroy_where(process_handle, |handle, _| handle == request.handle);
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    fn submit(&mut self, process_handle: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: SubmitCommandCommand = parse(command)?;
        let contexts = request.broadcast_context_count as usize;
        if contexts == 0
            || contexts > MAX_BROADCAST_CONTEXTS
            || request.num_history_buffers as usize > MAX_HISTORY_BUFFERS
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.expect(
            process_handle,
            request.broadcast_context[0],
            adapter,
            |object| matches!(object, HostObject::Context),
        )?;
        let private_offset = SubmitCommandCommand::SIZE + 4 * request.num_history_buffers as usize;
        let stream = if request.private_data_size > 0 {
            read_bytes(command, private_offset, request.private_data_size as usize)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?
                .to_vec()
        } else {
            self.read_command_buffer(
                process_handle,
                adapter,
                request.command_buffer,
                request.command_length,
            )?
        };
        self.execute_stream(process_handle, adapter, &stream)?;
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// Reads a command buffer of `length` bytes at `address`: a GPU virtual address mapped in
    /// the process's address space on `adapter` (contiguous in one allocation), or an IO-space
    /// guest-physical address (e.g. an allocation the guest filled through LOCK2).
    pub(super) fn read_command_buffer(
        &self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        address: u64,
        length: u32,
    ) -> Result<Vec<u8>, NtStatus> {
        if length == 0 {
            return Ok(Vec::new());
        }
        let length = (length as usize).min(MAX_PACKET_SIZE);
        let mut buffer = vec![0u8; length];
        let physical = match self.translate_gpu_va(process_handle, adapter, address, length as u64)
        {
            Some(physical) => physical,
            None => {
                let inside = self.io_space.as_ref().is_some_and(|space| {
                    address >= space.base()
                        && address.saturating_add(length as u64) <= space.base() + space.length()
                });
                if !inside {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                address
            }
        };
        self.gpu_memory()
            .read(physical, &mut buffer)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        Ok(buffer)
    }

    /// Runs a command stream for a process (counting the work), see
    /// `docs/vgpu-command-processor.md`.
    pub(super) fn execute_stream(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        stream: &[u8],
    ) -> Result<(), NtStatus> {
        let started = std::time::Instant::now();
        let process = self
            .processes
            .get(&process_handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let memory = self.gpu_memory();
        let target = Target {
            memory: &memory,
            process,
            adapter,
        };
        let mut signals = 0;
        let result = command_processor::execute(stream, &target, &mut |_, _| signals += 1);
        let elapsed = (started.elapsed().as_nanos() / 100) as u64;
        let packets = result.map(|executed| executed.packets).unwrap_or(0);
        self.statistics.submissions += 1;
        self.statistics.running_time += elapsed;
        if let Some(process) = self.processes.get_mut(&process_handle) {
            process.counters.submissions += 1;
            process.counters.running_time += elapsed;
        }
        match result {
            Ok(executed) => {
                self.statistics.packets_executed += u64::from(executed.packets);
                if let Some(process) = self.processes.get_mut(&process_handle) {
                    process.counters.packets += u64::from(packets);
                }
                Ok(())
            }
            Err(error) => {
                log::debug!("vgpu: command stream failed: {error:?}");
                Err(NtStatus::INVALID_PARAMETER)
            }
        }
    }

    /// SIGNALSYNCOBJECT: objects, then contexts (validated: contexts or hardware queues of the
    /// process on this vGPU), then one fence value per object — or none, as
    /// D3DKMTSignalSynchronizationObject2 sends it, and then every object gets the legacy value
    /// of the header.
    fn signal(&mut self, process_handle: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: SignalSyncObjectCommand = parse(command)?;
        let objects = request.object_count as usize;
        let contexts = request.context_count as usize;
        if objects > MAX_SYNC_OBJECTS || contexts > MAX_BROADCAST_CONTEXTS + 1 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let base = SignalSyncObjectCommand::SIZE;
        let handles =
            read_u32_array(command, base, objects).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        let context_handles = read_u32_array(command, base + 4 * objects, contexts)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        for context in context_handles {
            self.expect(process_handle, D3dkmtHandle(context), adapter, |object| {
                matches!(object, HostObject::Context | HostObject::HwQueue { .. })
            })?;
        }
        for handle in &handles {
            self.expect(process_handle, D3dkmtHandle(*handle), adapter, |object| {
                matches!(object, HostObject::SyncObject { .. })
            })?;
        }
        let values_offset = base + 4 * (objects + contexts);
        let values = read_u64_array(command, values_offset, objects).ok();
        for (index, handle) in handles.iter().enumerate() {
            let value = values
                .as_ref()
                .map(|values| values[index])
                .unwrap_or(request.fence_value);
            let handle = D3dkmtHandle(*handle);
            let process = self
                .processes
                .get_mut(&process_handle)
                .ok_or(NtStatus::INVALID_HANDLE)?;
            let owned = process
                .objects
                .get_mut(&handle)
                .ok_or(NtStatus::INVALID_HANDLE)?;
            match &mut owned.object {
                HostObject::SyncObject {
                    fence_page: Some(page),
                    ..
                } => {
                    let page = *page;
                    self.memory
                        .write_u64(page, value)
                        .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                }
                HostObject::SyncObject {
                    object_type: SYNC_OBJECT_CPU_NOTIFICATION,
                    event,
                    ..
                } => {
                    let event = *event;
                    self.signal_guest_event(event);
                }
                HostObject::SyncObject { value: current, .. } => *current = value,
                _ => return Err(NtStatus::OBJECT_TYPE_MISMATCH),
            }
        }
        if request.flags & SIGNAL_FLAG_ENQUEUE_CPU_EVENT != 0 && request.cpu_event_or_device != 0 {
            self.signal_guest_event(request.cpu_event_or_device);
        }
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    pub(super) fn signal_guest_event(&mut self, event: u64) {
        let mut message = SignalGuestEventMessage::zeroed();
        message.header =
            CommandHeader::host_to_guest(HostToGuestCommand::SignalGuestEvent.as_u32());
        message.event = event;
        self.statistics.events_signalled += 1;
        self.outputs
            .push_back(HostOutput::Notification(message.as_bytes().to_vec()));
    }

    fn current_value(&self, process: D3dkmtHandle, handle: D3dkmtHandle) -> Option<u64> {
        match &self.processes.get(&process)?.objects.get(&handle)?.object {
            HostObject::SyncObject {
                fence_page: Some(page),
                ..
            } => self.memory.read_u64(*page).ok(),
            HostObject::SyncObject { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// Completes every CPU wait whose objects reached their values.
    pub(super) fn evaluate_waits(&mut self) {
        let mut index = 0;
        while index < self.waits.len() {
            let wait = &self.waits[index];
            let mut reached = wait.objects.iter().map(|(handle, value)| {
                self.current_value(wait.process, *handle)
                    .is_some_and(|current| current >= *value)
            });
            let done = if wait.wait_any {
                reached.any(|flag| flag)
            } else {
                reached.all(|flag| flag)
            };
            if done {
                let event = wait.event;
                self.waits.remove(index);
                self.signal_guest_event(event);
            } else {
                index += 1;
            }
        }
    }
}
