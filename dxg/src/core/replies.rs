//! Received packets: transaction matching and the decoding (with length checks) of the bring-up,
//! process, adapter-info, device, paging queue and context replies. The other replies are
//! decoded by area, each decoder handing what it does not know to the next: `replies_memory`,
//! `replies_sync` (which also handles the host→guest notifications), `replies_extended` and
//! `replies_sharing`. The per-transaction records live in `replies_pending`.

pub(super) use super::replies_pending::{Expect, Pending};
use super::{AdapterId, ChannelId, Driver, ObjectEntry, ObjectKind};
use super::{PacketKind, ProcessId, ProcessState, ProtocolError, Reply, Ticket};
use crate::wire::*;
use zerocopy::FromBytes;

fn status_of(payload: &[u8]) -> Option<NtStatus> {
    read_prefix::<i32>(payload).ok().map(NtStatus)
}

impl Driver {
    /// Feeds one received packet from `channel`.
    pub fn receive(
        &mut self,
        channel: ChannelId,
        kind: PacketKind,
        transaction_id: u64,
        payload: &[u8],
    ) {
        match kind {
            PacketKind::InBand => match channel {
                ChannelId::Vgpu(instance) => {
                    self.protocol_error(ProtocolError::InBandOnVgpuChannel(instance))
                }
                ChannelId::Global => self.on_notification(payload),
            },
            PacketKind::Completion => match self.pending.remove(&(channel, transaction_id)) {
                Some(pending) => self.on_reply(pending, payload),
                None => self.protocol_error(ProtocolError::UnknownTransaction {
                    channel,
                    transaction_id,
                }),
            },
        }
    }

    /// Gives up on transaction `transaction_id` of `channel`: its packet was never sent (the
    /// ring refused it, or the channel is gone) or the host did not answer within its bound.
    /// The request fails with `status` (as when its adapter goes away); a late completion is
    /// then an unknown transaction. Returns whether the transaction was outstanding.
    pub fn abandon_transaction(
        &mut self,
        channel: ChannelId,
        transaction_id: u64,
        status: NtStatus,
    ) -> bool {
        match self.pending.remove(&(channel, transaction_id)) {
            Some(pending) => {
                self.fail_pending(pending, status);
                true
            }
            None => false,
        }
    }

    /// Copies a `T` from the reply, or reports a short reply and fails the request.
    pub(super) fn need<T: FromBytes>(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        expected: usize,
    ) -> Option<T> {
        if payload.len() < expected {
            self.protocol_error(ProtocolError::ReplyTooShort {
                command: pending.command,
                expected,
                received: payload.len(),
            });
            return None;
        }
        read_prefix(payload).ok()
    }

    /// Reads a reply struct `T` (its size is the reply's minimum); a short reply is reported
    /// and fails the request with BUFFER_TOO_SMALL, and `None` tells the decoder it is done.
    pub(super) fn decode<T: FromBytes>(&mut self, pending: &Pending, payload: &[u8]) -> Option<T> {
        let reply = self.need::<T>(pending, payload, core::mem::size_of::<T>());
        if reply.is_none() {
            self.finish(pending, Err(NtStatus::BUFFER_TOO_SMALL));
        }
        reply
    }

    pub(super) fn bad_reply(&mut self, pending: &Pending, reason: &'static str) {
        self.protocol_error(ProtocolError::BadReply {
            command: pending.command,
            reason,
        });
    }

    pub(super) fn finish(&mut self, pending: &Pending, result: Result<Reply, NtStatus>) {
        if let Some(ticket) = pending.ticket {
            self.complete(ticket, result);
        }
    }

    pub(super) fn insert_object(&mut self, pending: &Pending, entry: ObjectEntry) -> bool {
        let inserted = pending
            .process
            .and_then(|pid| self.processes.get_mut(&pid))
            .map(|process| process.insert(entry).is_ok())
            .unwrap_or(false);
        if !inserted {
            self.bad_reply(pending, "null, out-of-range or duplicate handle");
        }
        inserted
    }

    fn on_reply(&mut self, pending: Pending, payload: &[u8]) {
        let short = Err(NtStatus::BUFFER_TOO_SMALL);
        match pending.expect.clone() {
            Expect::SetIoSpace => {
                let status = match self.need::<i32>(&pending, payload, 4) {
                    Some(status) => Ok(NtStatus(status)),
                    None => Err(NtStatus::BUFFER_TOO_SMALL),
                };
                self.on_io_space_reply(status);
            }
            Expect::OpenAdapter(id) => {
                let reply =
                    self.need::<OpenAdapterReply>(&pending, payload, OpenAdapterReply::SIZE);
                self.on_open_adapter_reply(id, reply);
            }
            Expect::InternalInfo(id) => {
                let expected = if self.has_extension_header() {
                    InternalAdapterInfoReply::SIZE
                } else {
                    INTERNAL_ADAPTER_INFO_REPLY_OLD_SIZE
                };
                let reply = if payload.len() < expected {
                    self.need::<u8>(&pending, payload, expected);
                    None
                } else {
                    let mut buffer = [0u8; InternalAdapterInfoReply::SIZE];
                    for (target, source) in buffer.iter_mut().zip(payload) {
                        *target = *source;
                    }
                    read_prefix::<InternalAdapterInfoReply>(&buffer).ok()
                };
                self.on_internal_info_reply(id, reply);
            }
            Expect::CloseAdapter(id) => self.on_close_adapter_reply(id),
            Expect::CreateProcess => {
                let Some(pid) = pending.process else { return };
                match self.need::<u32>(&pending, payload, 4) {
                    Some(handle) if handle != 0 => {
                        if let Some(process) = self.processes.get_mut(&pid) {
                            process.host = D3dkmtHandle(handle);
                            process.state = ProcessState::Active;
                        }
                        self.finish(
                            &pending,
                            Ok(Reply::ProcessCreated {
                                host_process: D3dkmtHandle(handle),
                            }),
                        );
                    }
                    other => {
                        self.processes.remove(&pid);
                        let status = if other.is_some() {
                            NtStatus::INVALID_HANDLE
                        } else {
                            NtStatus::BUFFER_TOO_SMALL
                        };
                        self.finish(&pending, Err(status));
                    }
                }
            }
            Expect::DestroyProcess => {
                if let Some(pid) = pending.process {
                    self.processes.remove(&pid);
                    self.forget_abandoned_events(pid);
                }
                let result = match self.need::<i32>(&pending, payload, 4) {
                    Some(status) if status < 0 => Err(NtStatus(status)),
                    Some(status) => Ok(Reply::Status(NtStatus(status))),
                    None => short,
                };
                self.finish(&pending, result);
            }
            Expect::TeardownStep { ticket } => self.teardown_step_done(pending.process, ticket),
            Expect::Ignore | Expect::NoResult => {
                self.finish(&pending, Ok(Reply::Status(NtStatus::SUCCESS)))
            }
            Expect::Status | Expect::DestroyObjects { .. } => {
                let result = match self.need::<i32>(&pending, payload, 4) {
                    Some(status) if status < 0 => Err(NtStatus(status)),
                    Some(status) => Ok(Reply::Status(NtStatus(status))),
                    None => short,
                };
                if let (Ok(_), Expect::DestroyObjects { handles }, Some(pid)) =
                    (&result, &pending.expect, pending.process)
                {
                    let handles = handles.clone();
                    self.remove_objects(pid, &handles);
                }
                self.finish(&pending, result);
            }
            Expect::QueryAdapterInfo { size, query_type } => {
                let with_status = self.has_extension_header();
                let start: usize = if with_status { 4 } else { 0 };
                // `size` comes from the application: a sum past usize::MAX is simply too long.
                let expected = start.saturating_add(size);
                if payload.len() < expected {
                    self.need::<u8>(&pending, payload, expected);
                    return self.finish(&pending, short);
                }
                if with_status
                    && let Some(status) = status_of(payload).filter(|status| !status.is_success())
                {
                    return self.finish(&pending, Err(status));
                }
                let Some(data) = payload.get(start..expected) else {
                    return self.finish(&pending, short);
                };
                let mut data = data.to_vec();
                let compute_only = pending
                    .adapter
                    .and_then(|id| self.adapters.get(id.0))
                    .is_some_and(|adapter| adapter.compute_only);
                if (query_type == QUERY_ADAPTER_TYPE || query_type == QUERY_ADAPTER_TYPE_RENDER)
                    && let Some(first) = data.first_chunk_mut::<4>()
                {
                    let mut word = u32::from_le_bytes(*first);
                    word &= !ADAPTER_TYPE_GUEST_CLEARED;
                    word |= ADAPTER_TYPE_PARAVIRTUALIZED;
                    if compute_only {
                        word |= ADAPTER_TYPE_COMPUTE_ONLY;
                    }
                    *first = word.to_le_bytes();
                }
                self.finish(&pending, Ok(Reply::AdapterInfo(data)));
            }
            _ => self.on_device_reply(pending, payload),
        }
    }

    /// Decodes the device, paging-queue, context, device-state and escape replies; hands the
    /// others to the memory decoder.
    fn on_device_reply(&mut self, pending: Pending, payload: &[u8]) {
        let short = Err(NtStatus::BUFFER_TOO_SMALL);
        match pending.expect.clone() {
            Expect::Device { adapter } => {
                let Some(handle) = self.need::<u32>(&pending, payload, 4) else {
                    return self.finish(&pending, short);
                };
                let device = D3dkmtHandle(handle);
                if device.is_null() {
                    return self.finish(&pending, Err(NtStatus::UNSUCCESSFUL));
                }
                let counter = self.device_state_counter;
                let entry = ObjectEntry {
                    handle: device,
                    kind: ObjectKind::Device,
                    adapter,
                    device,
                    size: 0,
                    cached: false,
                    cached_execution_state: Some((counter, DEVICE_EXECUTION_ACTIVE)),
                };
                if !self.insert_object(&pending, entry) {
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                self.finish(&pending, Ok(Reply::Device(device)));
            }
            Expect::PagingQueue { adapter, device } => {
                let Some(reply) = self.decode::<CreatePagingQueueReply>(&pending, payload) else {
                    return;
                };
                if !self.is_io_space_page(reply.fence_storage_physical_address) {
                    self.bad_reply(&pending, "paging queue fence address outside the IO space");
                    return self.finish(&pending, Err(NtStatus::INVALID_PARAMETER));
                }
                let queue = ObjectEntry::simple(
                    reply.paging_queue,
                    ObjectKind::PagingQueue,
                    adapter,
                    device,
                );
                let fence = ObjectEntry::simple(
                    reply.sync_object,
                    ObjectKind::MonitoredFence,
                    adapter,
                    device,
                );
                if !self.insert_object(&pending, queue) {
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                if !self.insert_object(&pending, fence) {
                    if let Some(pid) = pending.process {
                        self.remove_objects(pid, &[reply.paging_queue]);
                    }
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                self.finish(
                    &pending,
                    Ok(Reply::PagingQueue {
                        paging_queue: reply.paging_queue,
                        sync_object: reply.sync_object,
                        fence_address: reply.fence_storage_physical_address,
                    }),
                );
            }
            Expect::Context {
                adapter,
                device,
                private_size,
            } => {
                let expected = CREATE_CONTEXT_PRIVATE_OFFSET.saturating_add(private_size);
                if self.need::<u8>(&pending, payload, expected).is_none() {
                    return self.finish(&pending, short);
                }
                let context = D3dkmtHandle(read_at::<u32>(payload, 24).unwrap_or(0));
                if context.is_null() {
                    return self.finish(&pending, Err(NtStatus::UNSUCCESSFUL));
                }
                let private_data = read_bytes(payload, CREATE_CONTEXT_PRIVATE_OFFSET, private_size)
                    .unwrap_or(&[])
                    .to_vec();
                if !self.insert_object(
                    &pending,
                    ObjectEntry::simple(context, ObjectKind::Context, adapter, device),
                ) {
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                self.finish(
                    &pending,
                    Ok(Reply::Context {
                        context,
                        private_data,
                    }),
                );
            }
            Expect::DeviceState { device } => {
                let Some(reply) = self.decode::<GetDeviceStateReply>(&pending, payload) else {
                    return;
                };
                if reply.status < 0 {
                    return self.finish(&pending, Err(NtStatus(reply.status)));
                }
                let state = reply.state[0] as u32;
                if reply.state_type == DEVICE_STATE_EXECUTION {
                    let counter = self.device_state_counter;
                    if let Some(entry) = pending
                        .process
                        .and_then(|pid| self.processes.get_mut(&pid))
                        .and_then(|p| p.get_mut(device))
                    {
                        entry.cached_execution_state = Some((counter, state));
                    }
                }
                self.finish(
                    &pending,
                    Ok(Reply::DeviceState {
                        state_type: reply.state_type,
                        state,
                    }),
                );
            }
            Expect::Escape { size } => {
                let Some(data) = payload.get(..size) else {
                    self.need::<u8>(&pending, payload, size);
                    return self.finish(&pending, short);
                };
                self.finish(&pending, Ok(Reply::Escape(data.to_vec())));
            }
            _ => self.on_memory_reply(pending, payload),
        }
    }

    /// Whether `address` names a whole page of the IO space the host may hand the guest: a
    /// monitored-fence page (CREATESYNCHRONIZATIONOBJECT, OPENSYNCOBJECT, CREATEPAGINGQUEUE,
    /// CREATEHWQUEUE) or a LOCK2 view. The rule: page-aligned, and the page from `address` to
    /// `address + PAGE_SIZE` lies inside the registered IO space. This is stricter than Linux
    /// (`dxgkrnl` checks the range only and drops an in-page offset); an unaligned or outside
    /// address is a bad reply, since the kernel maps that page into the calling process.
    pub(super) fn is_io_space_page(&self, address: u64) -> bool {
        let Some((base, length)) = self.io_space() else {
            return false;
        };
        let (Some(page_end), Some(space_end)) =
            (address.checked_add(PAGE_SIZE), base.checked_add(length))
        else {
            return false;
        };
        address.is_multiple_of(PAGE_SIZE) && address >= base && page_end <= space_end
    }

    fn teardown_step_done(&mut self, pid: Option<ProcessId>, ticket: Ticket) {
        let Some(pid) = pid else { return };
        let Some(process) = self.processes.get_mut(&pid) else {
            return;
        };
        process.teardown_outstanding = process.teardown_outstanding.saturating_sub(1);
        if process.teardown_outstanding == 0 {
            self.send_destroy_process(pid, ticket);
        }
    }

    /// A pending transaction will never be answered (adapter or channel gone).
    pub(super) fn fail_pending(&mut self, pending: Pending, status: NtStatus) {
        match pending.expect {
            Expect::TeardownStep { ticket } => self.teardown_step_done(pending.process, ticket),
            Expect::WaitFromCpu { event } => {
                if self.wait_refused(event) {
                    self.finish(&pending, Err(status));
                }
            }
            Expect::OpenAdapter(id) | Expect::InternalInfo(id) => {
                self.set_adapter_state(id, super::AdapterState::Stopped)
            }
            Expect::CreateProcess => {
                if let Some(pid) = pending.process {
                    self.processes.remove(&pid);
                }
                self.finish(&pending, Err(status));
            }
            _ => self.finish(&pending, Err(status)),
        }
    }
}

impl ObjectEntry {
    /// An entry with no size and no cached state.
    pub(super) fn simple(
        handle: D3dkmtHandle,
        kind: ObjectKind,
        adapter: AdapterId,
        device: D3dkmtHandle,
    ) -> Self {
        Self {
            handle,
            kind,
            adapter,
            device,
            size: 0,
            cached: false,
            cached_execution_state: None,
        }
    }
}
