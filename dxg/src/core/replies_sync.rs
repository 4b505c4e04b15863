//! Decoding of the replies to sync object requests (CREATESYNCOBJECT, WAITFORSYNCOBJECTFROMCPU)
//! and of the host→guest notifications on the global channel (SIGNALGUESTEVENT completes CPU
//! waits and reports CPU_NOTIFICATION signals; SETGUESTDATA bumps the device-state counter).

use super::prelude::*;

impl Driver {
    /// CREATESYNCOBJECT: registers the object (see [`Self::sync_object_registered`]) and, for a
    /// CPU_NOTIFICATION object, its guest `event`.
    pub(super) fn sync_object_created(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        monitored: bool,
        event: Option<u64>,
    ) -> Result<Reply, NtStatus> {
        let reply = fixed::<CreateSyncObjectReply>(payload)?;
        let (handle, global) = (reply.sync_object, reply.global_sync_object);
        let addresses = (reply.fence_storage_address, reply.fence_gpu_virtual_address);
        let result = self.sync_object_registered(pending, handle, global, monitored, addresses)?;
        if let (Some(event), Some(process)) = (event, pending.process) {
            let sync_object = handle;
            let notification = GuestEvent::Notification {
                process,
                sync_object,
            };
            self.events.insert(event, notification);
        }
        Ok(result)
    }

    /// Registers a sync object the host created or opened, with its global handle and kind; a
    /// monitored fence's page (`addresses`: fence page, GPU address) must lie in the IO space.
    pub(super) fn sync_object_registered(
        &mut self,
        pending: &Pending,
        handle: D3dkmtHandle,
        global: D3dkmtHandle,
        monitored: bool,
        (address, gpu_address): (u64, u64),
    ) -> Result<Reply, NtStatus> {
        let entry = pending.on()?.entry(handle, ObjectKind::SyncObject);
        let page = monitored.then_some((address, "fence address outside the IO space"));
        self.register_created(pending, handle, page, &[entry])?;
        if let Some(process) = pending.process.and_then(|pid| self.processes.get_mut(&pid)) {
            process.set_sync_object_info(handle, global, monitored);
        }
        Ok(Reply::SyncObject {
            handle,
            global,
            gpu_address,
            fence_address: if monitored { address } else { 0 },
        })
    }

    /// The host's status for a WAITFORSYNCOBJECTFROMCPU: a success acknowledges the wait (it
    /// completes once the event was also signalled), a failure or a short reply ends it.
    pub(super) fn on_wait_reply(&mut self, pending: &Pending, payload: &[u8], event: u64) {
        match self.need::<i32>(pending, payload, 4).map(NtStatus) {
            Some(status) if status.is_success() => self.wait_progress(event, true),
            other => {
                if self.wait_refused(event) {
                    let status = other.unwrap_or(NtStatus::BUFFER_TOO_SMALL);
                    self.finish(pending, Err(status));
                }
            }
        }
    }

    /// Handles an in-band packet of the global channel (a host→guest notification).
    pub(super) fn on_notification(&mut self, payload: &[u8]) {
        match parse_notification(payload) {
            Ok(Notification::SignalGuestEvent { event, .. }) => match self.events.get_mut(&event) {
                Some(GuestEvent::Wait { .. }) => self.wait_progress(event, false),
                Some(GuestEvent::Notification {
                    process,
                    sync_object,
                }) => {
                    let action = Action::SyncObjectNotified {
                        process: *process,
                        sync_object: *sync_object,
                    };
                    self.actions.push_back(action);
                }
                None => {
                    if self.late_signal(event) {
                        log::debug!("dxg: late signal for abandoned guest event {event}");
                    } else {
                        self.protocol_error(ProtocolError::UnknownGuestEvent(event));
                    }
                }
            },
            Ok(Notification::SetGuestData {
                guest_pointer,
                data,
                data_type,
            }) => {
                if data_type == 0
                    && guest_pointer == self.config.device_state_cookie
                    && data as u32 != 0
                {
                    // A generation compared only for equality with cached values: wrapping is
                    // intended (aliasing would take 2^64 host notifications).
                    self.device_state_counter = self.device_state_counter.wrapping_add(1);
                }
            }
            Ok(Notification::PropagatePresentHistoryToken) => {
                log::debug!("dxg: unexpected PROPAGATEPRESENTHISTORYTOKEN");
            }
            Ok(Notification::SendWnfNotification) => {}
            Err(error) => self.protocol_error(ProtocolError::BadNotification(error)),
        }
    }

    /// A CPU wait on `event` got the host's acknowledgement (`acknowledged`) or its signal (the
    /// two may come in either order); with both it completes.
    fn wait_progress(&mut self, event: u64, acknowledgement: bool) {
        let Some(GuestEvent::Wait {
            ticket,
            acknowledged,
            signalled,
            ..
        }) = self.events.get_mut(&event)
        else {
            return;
        };
        match acknowledgement {
            true => *acknowledged = true,
            false => *signalled = true,
        }
        if *acknowledged && *signalled {
            let ticket = *ticket;
            self.events.remove(&event);
            self.complete(ticket, Ok(Reply::WaitCompleted));
        }
    }
}
