//! Host handlers of the synchronization commands: sync objects, SIGNALSYNCOBJECT (also as the
//! legacy D3DKMTSignalSynchronizationObject2 sends it), CPU waits answered with SIGNALGUESTEVENT,
//! and GPU waits (validated and acknowledged: the emulated GPU is synchronous).

use super::dispatch::{Handled, element_offset, parse, status_bytes};
use super::{CpuWait, GpuHost, HostObject, HostOutput, MAX_CPU_WAITS_PER_PROCESS, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

impl<M: GuestMemory> GpuHost<M> {
    /// Handles the synchronization commands.
    pub(super) fn sync_command(
        &mut self,
        process_handle: D3dkmtHandle,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        match kind {
            VgpuCommand::CreateSyncObject => {
                self.create_sync_object(process_handle, adapter, command)
            }
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
                let values_offset =
                    element_offset(base, count, 4).ok_or(NtStatus::INVALID_PARAMETER)?;
                let values = read_u64_array(command, values_offset, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                for handle in &handles {
                    self.expect_sync_object(process_handle, D3dkmtHandle(*handle), adapter)?;
                }
                let pending = self
                    .waits
                    .iter()
                    .filter(|wait| wait.process == process_handle)
                    .count();
                if pending >= MAX_CPU_WAITS_PER_PROCESS {
                    log::debug!("vgpu: {pending} CPU waits pending for the process; refused");
                    return Err(NtStatus::NO_MEMORY);
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
                let handles_offset =
                    element_offset(WaitForSyncObjectFromGpuCommand::SIZE, count, 8)
                        .ok_or(NtStatus::INVALID_PARAMETER)?;
                let handles = read_u32_array(command, handles_offset, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                for handle in handles {
                    self.expect_sync_object(process_handle, D3dkmtHandle(handle), adapter)?;
                }
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            _ => Err(NtStatus::NOT_IMPLEMENTED),
        }
    }

    fn create_sync_object(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: CreateSyncObjectCommand = parse(command)?;
        self.expect_device(process_handle, request.device, adapter)?;
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

    pub(super) fn destroy_sync_object(
        &mut self,
        process_handle: D3dkmtHandle,
        command: &[u8],
    ) -> Handled {
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
        let contexts_offset =
            element_offset(base, objects, 4).ok_or(NtStatus::INVALID_PARAMETER)?;
        let context_handles = read_u32_array(command, contexts_offset, contexts)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        for context in context_handles {
            self.expect(process_handle, D3dkmtHandle(context), adapter, |object| {
                matches!(object, HostObject::Context | HostObject::HwQueue { .. })
            })?;
        }
        for handle in &handles {
            self.expect_sync_object(process_handle, D3dkmtHandle(*handle), adapter)?;
        }
        let values_offset = objects
            .checked_add(contexts)
            .and_then(|words| element_offset(base, words, 4))
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let values = read_u64_array(command, values_offset, objects).ok();
        for (index, handle) in handles.iter().enumerate() {
            let value = values
                .as_ref()
                .and_then(|values| values.get(index).copied())
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
        self.statistics.events_signalled = self.statistics.events_signalled.saturating_add(1);
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
        while let Some(wait) = self.waits.get(index) {
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
                // index < waits.len() here, so this never saturates.
                index = index.saturating_add(1);
            }
        }
    }
}
