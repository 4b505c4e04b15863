//! Received packets: transaction matching, reply decoding (with length checks) and host→guest
//! notifications.

use super::{
    Action, AdapterId, ChannelId, CreatedAllocation, Driver, GuestEvent, ObjectEntry, ObjectKind,
};
use super::{PacketKind, ProcessId, ProcessState, ProtocolError, Reply, Ticket};
use crate::wire::*;
use alloc::vec::Vec;
use zerocopy::FromBytes;

/// What a reply means to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    SetIoSpace,
    OpenAdapter(AdapterId),
    InternalInfo(AdapterId),
    CloseAdapter(AdapterId),
    CreateProcess,
    DestroyProcess,
    TeardownStep {
        ticket: Ticket,
    },
    /// A reply nobody waits for (FLUSHDEVICE before DESTROYDEVICE).
    Ignore,
    /// 4-byte status.
    Status,
    /// No result expected (any payload).
    NoResult,
    QueryAdapterInfo {
        size: usize,
        query_type: u32,
    },
    Device {
        adapter: AdapterId,
    },
    PagingQueue {
        adapter: AdapterId,
        device: D3dkmtHandle,
    },
    Context {
        adapter: AdapterId,
        device: D3dkmtHandle,
        private_size: usize,
    },
    Allocations {
        adapter: AdapterId,
        device: D3dkmtHandle,
        count: usize,
        creates_resource: bool,
        /// The existing resource the allocations join (null if none).
        resource: D3dkmtHandle,
    },
    DestroyObjects {
        handles: Vec<D3dkmtHandle>,
    },
    MakeResident,
    Evict,
    Lock {
        cached: bool,
    },
    SyncObject {
        adapter: AdapterId,
        device: D3dkmtHandle,
        monitored: bool,
        event: Option<u64>,
    },
    WaitFromCpu {
        event: u64,
    },
    VideoMemory,
    DeviceState {
        device: D3dkmtHandle,
    },
    Escape {
        size: usize,
    },
    /// RESERVE (16 bytes, no status) or MAP (24 bytes with status) GPU VA reply.
    GpuVirtualAddress {
        map: bool,
    },
    /// CREATEHWQUEUE echo.
    HwQueue {
        device: D3dkmtHandle,
        context: D3dkmtHandle,
        private_size: usize,
    },
    /// GETCONTEXTSCHEDULINGPRIORITY: status + priority.
    SchedulingPriority,
    /// GETALLOCATIONPRIORITY: status + `count` priorities.
    AllocationPriorities {
        count: usize,
    },
    /// QUERYALLOCATIONRESIDENCY: status + `count` residency values.
    Residency {
        count: usize,
    },
    /// RECLAIMALLOCATIONS: fence, status, `results` results.
    Reclaim {
        results: usize,
    },
    /// QUERYCLOCKCALIBRATION: status + packed clock data.
    ClockCalibration,
    /// UPDATEALLOCATIONPROPERTY: fence + status.
    PagingFence,
    /// QUERYSTATISTICS: status, reserved, result.
    Statistics,
    /// ISFEATUREENABLED: status, descriptor, result.
    Feature,
    /// CREATENTSHAREDOBJECT: the shared handle; registers `kind` under it.
    NtShared {
        adapter: AdapterId,
        kind: super::encode_sharing::SharedKind,
    },
    /// OPENRESOURCE: resource, status, handles; (size, flags) per allocation from the registry.
    ResourceOpened {
        adapter: AdapterId,
        device: D3dkmtHandle,
        allocations: Vec<(u64, u32)>,
    },
    /// OPENSYNCOBJECT: handle, status, GPU VA, fence page.
    SyncOpened {
        adapter: AdapterId,
        device: D3dkmtHandle,
        global: D3dkmtHandle,
        monitored: bool,
    },
    /// SHAREOBJECTWITHHOST: status, VAIL handle.
    VailHandle,
    /// DDIGETSTANDARDALLOCATIONDRIVERDATA with the requested blob sizes (0, 0 = sizing call).
    StandardAllocationData {
        allocation_size: u32,
        resource_size: u32,
    },
    /// One SETEXISTINGSYSMEMPAGES chunk starting at `offset`.
    SysmemPages {
        device: D3dkmtHandle,
        allocation: D3dkmtHandle,
        page_frames: Vec<u64>,
        offset: usize,
    },
}

/// An outstanding transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub expect: Expect,
    pub adapter: Option<AdapterId>,
    pub ticket: Option<Ticket>,
    pub process: Option<ProcessId>,
    pub command: u32,
}

impl Pending {
    pub fn new(expect: Expect, adapter: Option<AdapterId>) -> Self {
        let command = match &expect {
            Expect::SetIoSpace => GlobalCommand::SetIoSpaceRegion.as_u32(),
            Expect::OpenAdapter(_) => VgpuCommand::OpenAdapter.as_u32(),
            Expect::InternalInfo(_) => VgpuCommand::GetInternalAdapterInfo.as_u32(),
            Expect::CloseAdapter(_) => VgpuCommand::CloseAdapter.as_u32(),
            _ => u32::MAX,
        };
        Self {
            expect,
            adapter,
            ticket: None,
            process: None,
            command,
        }
    }
}

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
                    let length = payload.len().min(buffer.len());
                    buffer[..length].copy_from_slice(&payload[..length]);
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
                let expected = size + if with_status { 4 } else { 0 };
                if payload.len() < expected {
                    self.need::<u8>(&pending, payload, expected);
                    return self.finish(&pending, short);
                }
                if with_status
                    && let Some(status) = status_of(payload).filter(|status| !status.is_success())
                {
                    return self.finish(&pending, Err(status));
                }
                let start = if with_status { 4 } else { 0 };
                let mut data = payload[start..start + size].to_vec();
                if (query_type == QUERY_ADAPTER_TYPE || query_type == QUERY_ADAPTER_TYPE_RENDER)
                    && data.len() >= 4
                {
                    let compute_only = pending
                        .adapter
                        .map(|id| self.adapters[id.0].compute_only)
                        .unwrap_or(false);
                    let mut word = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                    word &= !ADAPTER_TYPE_GUEST_CLEARED;
                    word |= ADAPTER_TYPE_PARAVIRTUALIZED;
                    if compute_only {
                        word |= ADAPTER_TYPE_COMPUTE_ONLY;
                    }
                    data[..4].copy_from_slice(&word.to_le_bytes());
                }
                self.finish(&pending, Ok(Reply::AdapterInfo(data)));
            }
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
                let Some(reply) = self.need::<CreatePagingQueueReply>(
                    &pending,
                    payload,
                    CreatePagingQueueReply::SIZE,
                ) else {
                    return self.finish(&pending, short);
                };
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
                let expected = CREATE_CONTEXT_PRIVATE_OFFSET + private_size;
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
            Expect::Allocations {
                adapter,
                device,
                count,
                creates_resource,
                resource: existing_resource,
            } => {
                let expected = CreateAllocationReply::SIZE + count * CreatedAllocationInfo::SIZE;
                let Some(reply) = self.need::<CreateAllocationReply>(&pending, payload, expected)
                else {
                    return self.finish(&pending, short);
                };
                let mut created = Vec::with_capacity(count);
                for index in 0..count {
                    let offset = CreateAllocationReply::SIZE + index * CreatedAllocationInfo::SIZE;
                    let Ok(info) = read_at::<CreatedAllocationInfo>(payload, offset) else {
                        return self.finish(&pending, short);
                    };
                    created.push(info);
                }
                let mut inserted = Vec::new();
                let mut ok = true;
                if creates_resource {
                    if self.insert_object(
                        &pending,
                        ObjectEntry::simple(reply.resource, ObjectKind::Resource, adapter, device),
                    ) {
                        inserted.push(reply.resource);
                    } else {
                        ok = false;
                    }
                }
                for info in &created {
                    if !ok {
                        break;
                    }
                    let mut entry = ObjectEntry::simple(
                        info.allocation,
                        ObjectKind::Allocation,
                        adapter,
                        device,
                    );
                    entry.size = info.allocation_size;
                    entry.cached = info.allocation_flags & ALLOCATION_FLAG_CACHED != 0;
                    if self.insert_object(&pending, entry) {
                        inserted.push(info.allocation);
                    } else {
                        ok = false;
                    }
                }
                if !ok {
                    if let Some(pid) = pending.process {
                        self.remove_objects(pid, &inserted);
                    }
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                let allocations = created
                    .iter()
                    .map(|info| CreatedAllocation {
                        handle: info.allocation,
                        size: info.allocation_size,
                        flags: info.allocation_flags,
                    })
                    .collect();
                let member_of = if creates_resource {
                    reply.resource
                } else {
                    existing_resource
                };
                if !member_of.is_null()
                    && let Some(process) =
                        pending.process.and_then(|pid| self.processes.get_mut(&pid))
                {
                    let handles: Vec<D3dkmtHandle> =
                        created.iter().map(|info| info.allocation).collect();
                    let private = created
                        .iter()
                        .map(|info| info.private_driver_data_size)
                        .fold(0u32, u32::saturating_add);
                    process.add_resource_allocations(member_of, &handles, private);
                }
                let resource = if creates_resource {
                    reply.resource
                } else {
                    D3dkmtHandle::NULL
                };
                self.finish(
                    &pending,
                    Ok(Reply::Allocations {
                        resource,
                        allocations,
                    }),
                );
            }
            Expect::MakeResident => {
                let Some(reply) =
                    self.need::<MakeResidentReply>(&pending, payload, MakeResidentReply::SIZE)
                else {
                    return self.finish(&pending, short);
                };
                let status = NtStatus(reply.status);
                let result = if status.is_success() {
                    Ok(Reply::Resident {
                        status,
                        paging_fence_value: reply.paging_fence_value,
                        bytes_to_trim: reply.num_bytes_to_trim,
                    })
                } else {
                    Err(status)
                };
                self.finish(&pending, result);
            }
            Expect::Evict => {
                let Some(reply) = self.need::<EvictReply>(&pending, payload, EvictReply::SIZE)
                else {
                    return self.finish(&pending, short);
                };
                self.finish(
                    &pending,
                    Ok(Reply::Evicted {
                        bytes_to_trim: reply.num_bytes_to_trim,
                    }),
                );
            }
            Expect::Lock { cached } => {
                let Some(reply) = self.need::<Lock2Reply>(&pending, payload, Lock2Reply::SIZE)
                else {
                    return self.finish(&pending, short);
                };
                if reply.status < 0 {
                    return self.finish(&pending, Err(NtStatus(reply.status)));
                }
                let address = reply.cpu_visible_buffer_offset;
                if !self.inside_io_space(address) || address % PAGE_SIZE != 0 {
                    self.bad_reply(&pending, "lock address outside the IO space");
                    return self.finish(&pending, Err(NtStatus::INVALID_PARAMETER));
                }
                self.finish(&pending, Ok(Reply::Locked { address, cached }));
            }
            Expect::SyncObject {
                adapter,
                device,
                monitored,
                event,
            } => {
                let Some(reply) = self.need::<CreateSyncObjectReply>(
                    &pending,
                    payload,
                    CreateSyncObjectReply::SIZE,
                ) else {
                    return self.finish(&pending, short);
                };
                if monitored && !self.inside_io_space(reply.fence_storage_address) {
                    self.bad_reply(&pending, "fence address outside the IO space");
                    return self.finish(&pending, Err(NtStatus::INVALID_PARAMETER));
                }
                if !self.insert_object(
                    &pending,
                    ObjectEntry::simple(reply.sync_object, ObjectKind::SyncObject, adapter, device),
                ) {
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                if let Some(process) = pending.process.and_then(|pid| self.processes.get_mut(&pid))
                {
                    process.set_sync_object_info(
                        reply.sync_object,
                        reply.global_sync_object,
                        monitored,
                    );
                }
                if let (Some(event), Some(process)) = (event, pending.process) {
                    self.events.insert(
                        event,
                        GuestEvent::Notification {
                            process,
                            sync_object: reply.sync_object,
                        },
                    );
                }
                self.finish(
                    &pending,
                    Ok(Reply::SyncObject {
                        handle: reply.sync_object,
                        global: reply.global_sync_object,
                        gpu_address: reply.fence_gpu_virtual_address,
                        fence_address: if monitored {
                            reply.fence_storage_address
                        } else {
                            0
                        },
                    }),
                );
            }
            Expect::WaitFromCpu { event } => {
                let status = self.need::<i32>(&pending, payload, 4).map(NtStatus);
                match status {
                    Some(status) if status.is_success() => {
                        if let Some(GuestEvent::Wait {
                            ticket,
                            acknowledged,
                            signalled,
                            ..
                        }) = self.events.get_mut(&event)
                        {
                            *acknowledged = true;
                            if *signalled {
                                let ticket = *ticket;
                                self.events.remove(&event);
                                self.complete(ticket, Ok(Reply::WaitCompleted));
                            }
                        }
                    }
                    other => {
                        if self.wait_refused(event) {
                            let status = other.unwrap_or(NtStatus::BUFFER_TOO_SMALL);
                            self.finish(&pending, Err(status));
                        }
                    }
                }
            }
            Expect::VideoMemory => {
                let Some(reply) = self.need::<QueryVideoMemoryInfoReply>(
                    &pending,
                    payload,
                    QueryVideoMemoryInfoReply::SIZE,
                ) else {
                    return self.finish(&pending, short);
                };
                self.finish(
                    &pending,
                    Ok(Reply::VideoMemory {
                        budget: reply.budget,
                        current_usage: reply.current_usage,
                        current_reservation: reply.current_reservation,
                        available_for_reservation: reply.available_for_reservation,
                    }),
                );
            }
            Expect::DeviceState { device } => {
                let Some(reply) =
                    self.need::<GetDeviceStateReply>(&pending, payload, GetDeviceStateReply::SIZE)
                else {
                    return self.finish(&pending, short);
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
                if payload.len() < size {
                    self.need::<u8>(&pending, payload, size);
                    return self.finish(&pending, short);
                }
                self.finish(&pending, Ok(Reply::Escape(payload[..size].to_vec())));
            }
            _ => self.on_extended_reply(pending, payload),
        }
    }

    pub(super) fn inside_io_space(&self, address: u64) -> bool {
        match self.io_space() {
            Some((base, length)) => {
                address >= base && address.saturating_add(PAGE_SIZE) <= base.saturating_add(length)
            }
            None => false,
        }
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

    fn on_notification(&mut self, payload: &[u8]) {
        match parse_notification(payload) {
            Ok(Notification::SignalGuestEvent { event, .. }) => match self.events.get_mut(&event) {
                Some(GuestEvent::Wait {
                    ticket,
                    acknowledged,
                    signalled,
                    ..
                }) => {
                    *signalled = true;
                    if *acknowledged {
                        let ticket = *ticket;
                        self.events.remove(&event);
                        self.complete(ticket, Ok(Reply::WaitCompleted));
                    }
                }
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
                    self.device_state_counter += 1;
                }
            }
            Ok(Notification::PropagatePresentHistoryToken) => {
                log::debug!("dxg: unexpected PROPAGATEPRESENTHISTORYTOKEN");
            }
            Ok(Notification::SendWnfNotification) => {}
            Err(error) => self.protocol_error(ProtocolError::BadNotification(error)),
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
