//! Received packets: transaction matching and the one generic path for replies.
//!
//! A completion is matched to its transaction ([`Pending`]). The bring-up and process replies
//! (whose short reply means a stopped adapter or a process that never existed) and the replies
//! that complete something other than their own request (CPU waits, sysmem chunks, teardown
//! steps) are handled first. Every other reply takes the generic path: it is checked against the
//! command table's minimum for the command it answers ([`reply_minimum`], `wire::commands`)
//! before any decoder reads it — a short reply is a [`ProtocolError::ReplyTooShort`] and fails
//! the request with BUFFER_TOO_SMALL — then decoded by [`Driver::decode_reply`] into the
//! request's result, which is completed here once. A decoder therefore reads the fixed part of
//! its reply without a check of its own ([`fixed`]) and checks only a variable tail
//! ([`Driver::tail`]). [`Driver::decode_reply`] is the one dispatch on the reply's [`Expect`]:
//! a reply whose shape follows from its command alone is decoded by its command number
//! (`replies_extended`), the others by what the request recorded, with the larger decoders by
//! area (`replies_memory`, `replies_sync`, `replies_sharing`). The per-transaction records
//! live in `replies_pending`.

use super::prelude::*;
pub(super) use super::replies_pending::{Expect, Pending, SysmemPages};

/// The fixed part `T` at the start of a reply the generic path already checked against the
/// command table's minimum (a reply shorter than `T`, which the table allows for an echo, is
/// BUFFER_TOO_SMALL here: such decoders read fields with `read_at` instead).
pub(super) fn fixed<T: FromBytes>(payload: &[u8]) -> Result<T, NtStatus> {
    read_prefix(payload).map_err(|_| NtStatus::BUFFER_TOO_SMALL)
}

/// `Ok` for a success status, `Err` (the request's result) for a failure status.
pub(super) fn success(status: i32) -> Result<NtStatus, NtStatus> {
    let status = NtStatus(status);
    if status.is_success() {
        Ok(status)
    } else {
        Err(status)
    }
}

/// [`success`] of the status at `offset` of a reply.
pub(super) fn success_at(payload: &[u8], offset: usize) -> Result<NtStatus, NtStatus> {
    success(read_at::<i32>(payload, offset).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?)
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

    /// Copies a `T` from the reply, or reports a short reply (the replies handled before the
    /// generic path).
    pub(super) fn need<T: FromBytes>(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        expected: usize,
    ) -> Option<T> {
        if self.tail(pending, payload, expected).is_err() {
            return None;
        }
        read_prefix(payload).ok()
    }

    /// Checks that a reply holds `expected` bytes (its fixed part and a variable tail); a
    /// shorter one is reported and is BUFFER_TOO_SMALL.
    pub(super) fn tail(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        expected: usize,
    ) -> Result<(), NtStatus> {
        if payload.len() < expected {
            self.protocol_error(ProtocolError::ReplyTooShort {
                command: pending.command,
                expected,
                received: payload.len(),
            });
            return Err(NtStatus::BUFFER_TOO_SMALL);
        }
        Ok(())
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

    /// Registers a host-created object in the process's table; `Err(INVALID_HANDLE)` (and a
    /// protocol error) for a null, out-of-range or duplicate handle, or one at the index of a
    /// live adapter handle ([`super::process::Process::insert`]).
    pub(super) fn insert_object(
        &mut self,
        pending: &Pending,
        entry: ObjectEntry,
    ) -> Result<(), NtStatus> {
        let inserted = pending
            .process
            .and_then(|pid| self.processes.get_mut(&pid))
            .map(|process| process.insert(entry).is_ok())
            .unwrap_or(false);
        if !inserted {
            self.bad_reply(pending, "null, out-of-range or duplicate handle");
            return Err(NtStatus::INVALID_HANDLE);
        }
        Ok(())
    }

    /// Registers `entries` (all or none: on a failure the ones registered are removed again).
    pub(super) fn insert_objects(
        &mut self,
        pending: &Pending,
        entries: &[ObjectEntry],
    ) -> Result<(), NtStatus> {
        for (index, entry) in entries.iter().enumerate() {
            if let Err(status) = self.insert_object(pending, *entry) {
                let inserted: Vec<D3dkmtHandle> = entries
                    .iter()
                    .take(index)
                    .map(|entry| entry.handle)
                    .collect();
                if let Some(pid) = pending.process {
                    self.remove_objects(pid, &inserted);
                }
                return Err(status);
            }
        }
        Ok(())
    }

    /// Registers the objects a creating reply names (all or none). A fence page outside the IO
    /// space (`fence`: its address and the reason to report, for an object that has one) or a
    /// handle that cannot be registered destroys `created` on the host again
    /// ([`Self::destroy_refused`]) and fails the request.
    pub(super) fn register_created(
        &mut self,
        pending: &Pending,
        created: D3dkmtHandle,
        fence: Option<(u64, &'static str)>,
        entries: &[ObjectEntry],
    ) -> Result<(), NtStatus> {
        let registered = match fence {
            Some((address, reason)) if !self.is_io_space_page(address) => {
                self.bad_reply(pending, reason);
                Err(NtStatus::INVALID_PARAMETER)
            }
            _ => self.insert_objects(pending, entries),
        };
        if registered.is_err() {
            self.destroy_refused(pending, created);
        }
        registered
    }

    /// Handles a completion: the special replies here, every other one through the generic
    /// path (table minimum, [`Self::decode_reply`], one completion).
    fn on_reply(&mut self, mut pending: Pending, payload: &[u8]) {
        // Matched in place (the bindings are copies): no clone of the expectation per reply.
        match pending.expect {
            Expect::SetIoSpace => {
                let status = self.need::<i32>(&pending, payload, 4).map(NtStatus);
                self.on_io_space_reply(status.ok_or(NtStatus::BUFFER_TOO_SMALL));
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
                let reply = self.tail(&pending, payload, expected).ok().and_then(|()| {
                    let mut buffer = [0u8; InternalAdapterInfoReply::SIZE];
                    for (target, source) in buffer.iter_mut().zip(payload) {
                        *target = *source;
                    }
                    read_prefix::<InternalAdapterInfoReply>(&buffer).ok()
                });
                self.on_internal_info_reply(id, reply);
            }
            Expect::CloseAdapter(id) => self.on_close_adapter_reply(id),
            Expect::CreateProcess => self.on_create_process_reply(&pending, payload),
            Expect::DestroyProcess => {
                if let Some(pid) = pending.process {
                    self.processes.remove(&pid);
                    self.forget_abandoned_events(pid);
                }
                let result = self.status_reply(&pending, payload);
                self.finish(&pending, result);
            }
            Expect::TeardownStep { ticket } => self.teardown_step_done(pending.process, ticket),
            Expect::Ignore => self.finish(&pending, Ok(Reply::Status(NtStatus::SUCCESS))),
            // The process's waits were ended at its teardown and its abandoned events forgotten
            // when DESTROYPROCESS completed: the answer concerns nobody (and its ticket is done).
            Expect::WaitFromCpu { .. } if self.process_destroyed(&pending) => {
                log::debug!("dxg: late answer to a destroyed process's CPU wait dropped");
            }
            Expect::WaitFromCpu { event } => self.on_wait_reply(&pending, payload, event),
            // A destroyed process's late answer, before the sysmem chunks: a chunk's answer
            // would otherwise send the next chunk for a process the host no longer knows.
            _ if self.process_destroyed(&pending) => self.late_reply_of_destroyed(&pending),
            Expect::SysmemPages(_) => self.on_sysmem_pages_reply(pending, payload),
            _ => {
                let minimum = reply_minimum(pending.command).unwrap_or(0);
                let result = match self.tail(&pending, payload, minimum) {
                    Ok(()) => self.decode_reply(&mut pending, payload),
                    Err(status) => Err(status),
                };
                self.finish(&pending, result);
            }
        }
    }

    /// Whether `pending` is a request of a process the driver no longer knows (its
    /// DESTROYPROCESS completed while the request was outstanding).
    fn process_destroyed(&self, pending: &Pending) -> bool {
        pending
            .process
            .is_some_and(|pid| !self.processes.contains_key(&pid))
    }

    /// The host's answer to a request of a destroyed process: a process killed while its
    /// request was outstanding is released without waiting for that answer (as Linux's
    /// dxgkrnl: the killed waiter leaves `wait_for_completion_killable` in
    /// `dxgvmb_send_sync_msg` and `dxgprocess_release` sends DESTROYPROCESS, microsoft/
    /// WSL2-Linux-Kernel drivers/hv/dxgkrnl/dxgvmbus.c and dxgprocess.c), so the host may
    /// answer it after DESTROYPROCESS. Nothing is decoded, registered or undone (the host freed
    /// the process's objects with it): not a protocol error. Its own transaction id matched it,
    /// so it never completes another request.
    fn late_reply_of_destroyed(&mut self, pending: &Pending) {
        log::debug!(
            "dxg: late reply to command {:#x} of a destroyed process dropped",
            pending.command
        );
        self.finish(pending, Err(NtStatus::INVALID_HANDLE));
    }

    /// A bare status reply: `Ok(Reply::Status)` for a success, `Err` for a failure.
    pub(super) fn status_reply(
        &mut self,
        pending: &Pending,
        payload: &[u8],
    ) -> Result<Reply, NtStatus> {
        self.tail(pending, payload, 4)?;
        success_at(payload, 0).map(Reply::Status)
    }

    fn on_create_process_reply(&mut self, pending: &Pending, payload: &[u8]) {
        let Some(pid) = pending.process else { return };
        match self.need::<u32>(pending, payload, 4) {
            Some(handle) if handle != 0 => {
                if let Some(process) = self.processes.get_mut(&pid) {
                    process.host = D3dkmtHandle(handle);
                    process.state = ProcessState::Active;
                }
                let host_process = D3dkmtHandle(handle);
                self.finish(pending, Ok(Reply::ProcessCreated { host_process }));
            }
            other => {
                self.processes.remove(&pid);
                let status = if other.is_some() {
                    NtStatus::INVALID_HANDLE
                } else {
                    NtStatus::BUFFER_TOO_SMALL
                };
                self.finish(pending, Err(status));
            }
        }
    }

    /// Decodes a reply that passed the table's minimum into its request's result. The
    /// expectation is taken out of `pending` (left [`Expect::Ignore`]; the caller only
    /// completes the ticket with it afterwards), so what it owns (a buffer, handles) moves into
    /// the result instead of being cloned.
    fn decode_reply(&mut self, pending: &mut Pending, payload: &[u8]) -> Result<Reply, NtStatus> {
        let expect = core::mem::replace(&mut pending.expect, Expect::Ignore);
        let pending = &*pending;
        match expect {
            Expect::NoResult => Ok(Reply::Status(NtStatus::SUCCESS)),
            Expect::Status => self.status_reply(pending, payload),
            Expect::DestroyObjects { handles } => {
                let result = self.status_reply(pending, payload);
                if let (Ok(_), Some(pid)) = (&result, pending.process) {
                    self.remove_objects(pid, &handles);
                }
                result
            }
            Expect::QueryAdapterInfo { buffer, query_type } => {
                self.adapter_info_reply(pending, payload, buffer, query_type)
            }
            Expect::Context { private_size } => {
                let expected = CREATE_CONTEXT_PRIVATE_OFFSET.saturating_add(private_size);
                self.tail(pending, payload, expected)?;
                let context = D3dkmtHandle(read_at::<u32>(payload, 24).unwrap_or(0));
                if context.is_null() {
                    return Err(NtStatus::UNSUCCESSFUL);
                }
                let private_data = read_bytes(payload, CREATE_CONTEXT_PRIVATE_OFFSET, private_size)
                    .unwrap_or(&[])
                    .to_vec();
                self.insert_object(pending, pending.on()?.entry(context, ObjectKind::Context))?;
                Ok(Reply::Context {
                    context,
                    private_data,
                })
            }
            Expect::Escape { size } => {
                self.tail(pending, payload, size)?;
                Ok(Reply::Escape(payload.get(..size).unwrap_or(&[]).to_vec()))
            }
            Expect::ByCommand => self.decode_by_command(pending, payload),
            Expect::Allocations {
                count,
                creates_resource,
                resource,
            } => self.allocations_reply(pending, payload, count, creates_resource, resource),
            Expect::Lock { cached } => {
                let reply = fixed::<Lock2Reply>(payload)?;
                success(reply.status)?;
                let address = reply.cpu_visible_buffer_offset;
                if !self.is_io_space_page(address) {
                    self.bad_reply(pending, "lock address outside the IO space");
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                Ok(Reply::Locked { address, cached })
            }
            Expect::SyncObject { monitored, event } => {
                self.sync_object_created(pending, payload, monitored, event)
            }
            Expect::HwQueue {
                context,
                private_size,
            } => self.hwqueue_created(pending, payload, context, private_size),
            Expect::Values { count } => {
                // `count` comes from the application: a length past usize::MAX is too long.
                self.tail(pending, payload, count.saturating_mul(4).saturating_add(4))?;
                success_at(payload, 0)?;
                let values =
                    read_u32_array(payload, 4, count).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                if pending.command == VgpuCommand::QueryAllocationResidency.as_u32() {
                    Ok(Reply::Residency(values))
                } else {
                    Ok(Reply::AllocationPriorities(values))
                }
            }
            Expect::Reclaim { results } => {
                let expected = results
                    .saturating_mul(4)
                    .saturating_add(RECLAIM_RESULTS_OFFSET);
                self.tail(pending, payload, expected)?;
                Ok(Reply::Reclaimed {
                    status: success_at(payload, 8)?,
                    paging_fence_value: read_at::<u64>(payload, 0).unwrap_or(0),
                    results: read_u32_array(payload, RECLAIM_RESULTS_OFFSET, results)
                        .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?,
                })
            }
            Expect::NtShared { kind } => self.nt_shared_created(pending, payload, kind),
            Expect::ResourceOpened { allocations } => {
                self.resource_opened(pending, payload, &allocations)
            }
            Expect::SyncOpened { global, monitored } => {
                self.sync_object_opened(pending, payload, global, monitored)
            }
            Expect::StandardAllocationData {
                allocation_size,
                resource_size,
            } => self.standard_allocation_data(pending, payload, allocation_size, resource_size),
            other => {
                log::warn!("dxg: no reply decoder for {other:?}");
                Err(NtStatus::NOT_IMPLEMENTED)
            }
        }
    }

    /// QUERYADAPTERINFO: `[status,]` then the caller's `size` bytes; the adapter type is
    /// rewritten as Linux does (paravirtualized, compute-only when the adapter is).
    fn adapter_info_reply(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        mut data: Vec<u8>,
        query_type: u32,
    ) -> Result<Reply, NtStatus> {
        let with_status = self.has_extension_header();
        let start: usize = if with_status { 4 } else { 0 };
        // The size comes from the application: a sum past usize::MAX is simply too long.
        let expected = start.saturating_add(data.len());
        self.tail(pending, payload, expected)?;
        if with_status {
            success_at(payload, 0)?;
        }
        // Read into the request's own buffer (`data.len()` bytes), not a new one.
        data.copy_from_slice(
            payload
                .get(start..expected)
                .ok_or(NtStatus::BUFFER_TOO_SMALL)?,
        );
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
        Ok(Reply::AdapterInfo(data))
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

    /// Destroys on the host an object it created in a reply the driver then refused (a fence
    /// page outside the IO space, a handle that cannot be registered) with the command the
    /// command table names for it ([`undo_command`]), so the host keeps no object the guest
    /// does not know: the error paths of Linux's `ioctl.c`
    /// (microsoft/WSL2-Linux-Kernel `drivers/hv/dxgkrnl/ioctl.c`: `dxgkio_create_paging_queue`
    /// sends DESTROYPAGINGQUEUE, `dxgkio_create_sync_object` and `dxgkio_open_sync_object_nt`
    /// DESTROYSYNCOBJECT, `dxgkio_create_hwqueue` DESTROYHWQUEUE). Nothing is sent for a null
    /// handle (nothing was created) or for a handle the process already owns (a host repeating
    /// a live handle: destroying it would take the process's own object); the reply is ignored.
    pub(super) fn destroy_refused(&mut self, pending: &Pending, handle: D3dkmtHandle) {
        let (Some(pid), Some(adapter), Some(code)) = (
            pending.process,
            pending.adapter,
            undo_command(pending.command),
        ) else {
            return;
        };
        let owned = self
            .processes
            .get(&pid)
            .is_some_and(|process| process.get(handle).is_some());
        if handle.is_null() || owned {
            return;
        }
        let pending = Pending::internal(pid, Expect::Ignore, adapter);
        self.send_handle_command(pid, adapter, code, handle, pending);
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
