//! Encoders of the legacy D3DKMT synchronization calls and of CancelWait (dxg.md §3.16, §3.18).
//!
//! `D3DKMTSignalSynchronizationObject2` (ioctl 0x11) and `D3DKMTWaitForSynchronizationObject2`
//! (ioctl 0x12) use the same vGPU commands as the newer calls but carry one legacy fence value:
//! SIGNALSYNCOBJECT with the value at +40 and no fence array (the call's context first in the
//! context list), WAITFORSYNCOBJECTFROMGPU with `legacy_fence_object` set and the value in the
//! first slot. Facts from Linux `ioctl.c` (`dxgkio_signal_sync_object`, `dxgkio_wait_sync_object`)
//! and `dxgvmbus.c` (`dxgvmb_send_signal_sync_object`, `dxgvmb_send_wait_sync_object_gpu`).

use super::encode::{check_count, handle_bytes};
use super::replies::{Expect, Pending};
use super::{Driver, GuestEvent, ObjectKind, ProcessId, Request, Ticket};
use crate::wire::*;
use alloc::vec;
use zerocopy::IntoBytes;

use ObjectKind::{Context, MonitoredFence, SyncObject};

impl Driver {
    /// Routes the legacy synchronization requests and CancelWait.
    pub(super) fn start_sync_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
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
            ),
            Request::WaitForSynchronizationObject2 {
                context,
                objects,
                fence_value,
            } => {
                let entry = self.object(pid, context, &[Context])?;
                check_count(objects.len(), 1, MAX_SYNC_OBJECTS)?;
                for object in &objects {
                    self.object(pid, *object, &[SyncObject, MonitoredFence])?;
                }
                // Linux copies `n` values starting at the call's single fence value; the rest of
                // the argument union (reserved, zero) fills the other slots.
                let mut values = vec![0u64; objects.len()];
                values[0] = fence_value;
                let bytes = self.wait_from_gpu_message(pid, context, &objects, &values, true);
                let pending = Pending {
                    expect: Expect::Status,
                    adapter: Some(entry.adapter),
                    ticket: Some(ticket),
                    process: Some(pid),
                    command: VgpuCommand::WaitForSyncObjectFromGpu.as_u32(),
                };
                self.send_vgpu(entry.adapter, bytes, pending, true);
                Ok(())
            }
            Request::CancelWait { ticket: wait } => self.cancel_wait(pid, ticket, wait),
            _ => Err(NtStatus::NOT_IMPLEMENTED),
        }
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
        let mut command = WaitForSyncObjectFromGpuCommand::zeroed();
        command.header = self.vgpu_header(VgpuCommand::WaitForSyncObjectFromGpu, pid);
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
        for object in objects {
            self.object(pid, *object, &[SyncObject, MonitoredFence])?;
        }
        let enqueue = flags & SIGNAL_FLAG_ENQUEUE_CPU_EVENT != 0;
        let event = if enqueue { self.new_event() } else { 0 };
        let mut command = SignalSyncObjectCommand::zeroed();
        command.header = self.vgpu_header(VgpuCommand::SignalSyncObject, pid);
        command.object_count = objects.len() as u32;
        command.flags = flags;
        command.context_count = 1 + broadcast_contexts.len() as u32;
        command.fence_value = fence_value;
        command.cpu_event_or_device = event;
        let bytes = build_message(
            None,
            command.as_bytes(),
            &[
                &handle_bytes(objects),
                &handle_bytes(&[context]),
                &handle_bytes(broadcast_contexts),
            ],
            0,
        );
        let code = VgpuCommand::SignalSyncObject.as_u32();
        if !enqueue {
            let pending = Pending {
                expect: Expect::Status,
                adapter: Some(entry.adapter),
                ticket: Some(ticket),
                process: Some(pid),
                command: code,
            };
            self.send_vgpu(entry.adapter, bytes, pending, true);
            return Ok(());
        }
        // The ticket completes when the host signals the event (after its acknowledgement, which
        // an asynchronous send never gets).
        let asynchronous = self.async_messaging;
        self.events.insert(
            event,
            GuestEvent::Wait {
                ticket,
                acknowledged: asynchronous,
                signalled: false,
                adapter: entry.adapter,
                process: pid,
            },
        );
        let pending = Pending {
            expect: Expect::WaitFromCpu { event },
            adapter: Some(entry.adapter),
            ticket: (!asynchronous).then_some(ticket),
            process: Some(pid),
            command: code,
        };
        self.send_vgpu(entry.adapter, bytes, pending, true);
        Ok(())
    }
}
