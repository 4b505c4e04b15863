//! Encoders of the synchronization requests (dxg.md §3.15–§3.18): sync objects, signals, CPU and
//! GPU waits, the legacy D3DKMT calls and CancelWait.
//!
//! `D3DKMTSignalSynchronizationObject2` (ioctl 0x11) and `D3DKMTWaitForSynchronizationObject2`
//! (ioctl 0x12) use the same vGPU commands as the newer calls but carry one legacy fence value:
//! SIGNALSYNCOBJECT with the value at +40 and no fence array (the call's context first in the
//! context list), WAITFORSYNCOBJECTFROMGPU with `legacy_fence_object` set and the value in the
//! first slot. Facts from Linux `ioctl.c` (`dxgkio_signal_sync_object`, `dxgkio_wait_sync_object`)
//! and `dxgvmbus.c` (`dxgvmb_send_signal_sync_object`, `dxgvmb_send_wait_sync_object_gpu`).

use super::prelude::*;
use alloc::vec;

impl Driver {
    /// Encodes the synchronization requests: sync objects, signals and waits (also the legacy
    /// calls) and CancelWait.
    pub(super) fn start_sync_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::CreateSyncObject {
                device,
                kind,
                flags,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let mut command: CreateSyncObjectCommand = self.command(pid);
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
                let expect = Expect::SyncObject { monitored, event };
                self.send_request(pid, ticket, entry, expect, command.as_bytes());
            }
            Request::SignalFromGpu {
                context,
                objects,
                values,
            } => {
                let entry = self.object(pid, context, &[Context, HwQueue])?;
                let bytes = self.signal_message(pid, &objects, &values, &[context], 0)?;
                self.send_request(pid, ticket, entry, Expect::Status, bytes);
            }
            Request::SignalFromCpu {
                device,
                objects,
                values,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let device_word = u64::from(device.0);
                let bytes = self.signal_message(pid, &objects, &values, &[], device_word)?;
                self.send_request(pid, ticket, entry, Expect::Status, bytes);
            }
            Request::WaitFromCpu {
                device,
                objects,
                values,
                wait_any,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                self.sync_operands(pid, &objects, &values)?;
                let event = self.register_wait(pid, ticket, entry.adapter, false);
                let mut command: WaitForSyncObjectFromCpuCommand = self.command(pid);
                command.device = device;
                command.object_count = objects.len() as u32;
                command.flags = if wait_any { WAIT_FLAG_WAIT_ANY } else { 0 };
                command.guest_event_pointer = event;
                let tail = [&handle_bytes(&objects)[..], &u64_bytes(&values)];
                let bytes = message_of(command.as_bytes(), WHOLE, &tail, 0)?;
                self.send_request(pid, ticket, entry, Expect::WaitFromCpu { event }, bytes);
            }
            Request::WaitFromGpu {
                context,
                objects,
                values,
            } => {
                let entry = self.object(pid, context, &[Context, HwQueue])?;
                self.sync_operands(pid, &objects, &values)?;
                // Linux marks the wait legacy unless the first object is a monitored fence.
                let first = objects.first().ok_or(NtStatus::INVALID_PARAMETER)?;
                let legacy = !self.is_monitored_fence(pid, *first);
                let bytes = self.wait_from_gpu_message(pid, context, &objects, &values, legacy);
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::SignalSynchronizationObject2 {
                context,
                objects,
                broadcast_contexts,
                flags,
                fence_value,
            } => self.signal_legacy(
                pid,
                ticket,
                context,
                &objects,
                &broadcast_contexts,
                flags,
                fence_value,
            )?,
            Request::WaitForSynchronizationObject2 {
                context,
                objects,
                fence_value,
            } => {
                let entry = self.object(pid, context, &[Context])?;
                check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
                self.sync_objects(pid, &objects)?;
                // Linux copies `n` values starting at the call's single fence value; the rest of
                // the argument union (reserved, zero) fills the other slots.
                let mut values = vec![0u64; objects.len()];
                if let Some(first) = values.first_mut() {
                    *first = fence_value;
                }
                let bytes = self.wait_from_gpu_message(pid, context, &objects, &values, true);
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::CancelWait { ticket: wait } => self.cancel_wait(pid, ticket, wait)?,
            other => return self.start_virtual_address_request(pid, ticket, other),
        }
        Ok(())
    }

    /// Checks that every handle names a sync object or monitored fence of `pid`.
    fn sync_objects(&self, pid: ProcessId, objects: &[D3dkmtHandle]) -> Result<(), NtStatus> {
        for object in objects {
            self.object(pid, *object, &[SyncObject, MonitoredFence])?;
        }
        Ok(())
    }

    /// The operands of a signal or wait with a value per object: 1 to 32 objects (see
    /// [`Self::sync_objects`]) and as many values.
    fn sync_operands(
        &self,
        pid: ProcessId,
        objects: &[D3dkmtHandle],
        values: &[u64],
    ) -> Result<(), NtStatus> {
        check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
        if values.len() != objects.len() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.sync_objects(pid, objects)
    }

    /// The WAITFORSYNCOBJECTFROMGPU message: fixed part, `n` fence values, `n` handles, slack.
    pub(super) fn wait_from_gpu_message(
        &self,
        pid: ProcessId,
        context: D3dkmtHandle,
        objects: &[D3dkmtHandle],
        values: &[u64],
        legacy_fence_object: bool,
    ) -> alloc::vec::Vec<u8> {
        let mut command: WaitForSyncObjectFromGpuCommand = self.command(pid);
        command.context = context;
        command.object_count = objects.len() as u32;
        command.legacy_fence_object = u8::from(legacy_fence_object);
        build_message(
            None,
            command.as_bytes(),
            &[&u64_bytes(values), &handle_bytes(objects)],
            WAIT_FROM_GPU_SLACK,
        )
    }

    /// Whether a sync object handle names a monitored fence (Linux decides the legacy flag of
    /// WaitForSynchronizationObjectFromGpu by the first object's type).
    pub(super) fn is_monitored_fence(&self, pid: ProcessId, handle: D3dkmtHandle) -> bool {
        let Some(process) = self.processes.get(&pid) else {
            return false;
        };
        match process.get(handle).map(|entry| entry.kind) {
            Some(MonitoredFence) => true,
            Some(SyncObject) => process
                .sync_object_info(handle)
                .is_some_and(|(_, monitored)| monitored),
            _ => false,
        }
    }

    /// SIGNALSYNCOBJECT for `D3DKMTSignalSynchronizationObject2`.
    #[allow(clippy::too_many_arguments)]
    fn signal_legacy(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        context: D3dkmtHandle,
        objects: &[D3dkmtHandle],
        broadcast_contexts: &[D3dkmtHandle],
        flags: u32,
        fence_value: u64,
    ) -> Result<(), NtStatus> {
        let entry = self.object(pid, context, &[Context])?;
        check_count(objects.len(), 0, MAX_SYNC_OBJECTS)?;
        check_count(broadcast_contexts.len(), 0, MAX_BROADCAST_CONTEXTS - 1)?;
        for other in broadcast_contexts {
            if self.object(pid, *other, &[Context])?.adapter != entry.adapter {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        }
        self.sync_objects(pid, objects)?;
        // With enqueue_cpu_event the ticket completes when the host signals the event (after its
        // acknowledgement, which an asynchronous send never gets).
        let enqueue = flags & SIGNAL_FLAG_ENQUEUE_CPU_EVENT != 0;
        let asynchronous = self.async_messaging();
        let event = match enqueue {
            true => self.register_wait(pid, ticket, entry.adapter, asynchronous),
            false => 0,
        };
        let mut command: SignalSyncObjectCommand = self.command(pid);
        command.object_count = objects.len() as u32;
        command.flags = flags;
        command.context_count = (broadcast_contexts.len() as u32).saturating_add(1);
        command.fence_value = fence_value;
        command.cpu_event_or_device = event;
        let contexts = [&[context][..], broadcast_contexts].concat();
        let tail = [&handle_bytes(objects)[..], &handle_bytes(&contexts)];
        let bytes = build_message(None, command.as_bytes(), &tail, 0);
        if !enqueue {
            self.send_request(pid, ticket, entry, Expect::Status, bytes);
            return Ok(());
        }
        let mut pending =
            Pending::request(pid, ticket, Expect::WaitFromCpu { event }, entry.into());
        pending.ticket = (!asynchronous).then_some(ticket);
        self.send_vgpu(entry.adapter, bytes, pending);
        Ok(())
    }

    /// Registers a CPU wait of `pid` on a new guest event (acknowledged already when no host
    /// status will come) and returns the event.
    fn register_wait(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        adapter: AdapterId,
        acknowledged: bool,
    ) -> u64 {
        let event = self.new_event();
        let (signalled, process) = (false, pid);
        let wait = GuestEvent::Wait {
            ticket,
            acknowledged,
            signalled,
            adapter,
            process,
        };
        self.events.insert(event, wait);
        event
    }

    /// The SIGNALSYNCOBJECT message of a signal with a value per object (from a context, or
    /// from the CPU with `device_word` the device handle).
    fn signal_message(
        &self,
        pid: ProcessId,
        objects: &[D3dkmtHandle],
        values: &[u64],
        contexts: &[D3dkmtHandle],
        device_word: u64,
    ) -> Result<Vec<u8>, NtStatus> {
        self.sync_operands(pid, objects, values)?;
        let mut command: SignalSyncObjectCommand = self.command(pid);
        command.object_count = objects.len() as u32;
        command.context_count = contexts.len() as u32;
        command.cpu_event_or_device = device_word;
        let tail = [
            &handle_bytes(objects)[..],
            &handle_bytes(contexts),
            &u64_bytes(values),
        ];
        message_of(command.as_bytes(), WHOLE, &tail, 0)
    }
}
