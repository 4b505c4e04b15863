//! Turning typed requests into commands (dxg.md §3): validation, handle translation, routing.
//!
//! The request table (`table`) serves the requests that need only their handles checked; the
//! others go through one chain of encoders by area, each matching the requests of its area and
//! handing any other on: process/adapter (this file) → allocations (`encode_objects`) → sync
//! (`encode_sync`) → GPU virtual addresses and memory (`encode_memory`) → sharing
//! (`encode_sharing`) → scheduling and system memory (`encode_scheduling`), which refuses what is
//! left with NOT_IMPLEMENTED; process teardown is `encode_process`. A request variant is named
//! once, in its row or its encoder.
//!
//! This file also holds the one send path ([`Driver::send_request`]): the channel comes from the
//! code in the command's header (the command table, `wire::commands`), which an encoder's
//! struct carries from [`Driver::command`] or `Command::stamped`.

use super::prelude::*;

pub(super) fn check_count(count: usize, minimum: usize, limit: usize) -> Result<(), NtStatus> {
    if count < minimum || count > limit {
        Err(NtStatus::INVALID_PARAMETER)
    } else {
        Ok(())
    }
}

/// The `fixed` length of [`message_of`] that sends a command's whole struct.
pub(super) const WHOLE: usize = usize::MAX;

/// A command's message: the first `fixed` bytes of its struct (the part before its variable
/// tail: a field offset pinned by the wire module's offset asserts, or [`WHOLE`]), `tail`, then
/// `slack` zero bytes; INVALID_PARAMETER for a message that would not fit in one packet with
/// its extension header.
pub(super) fn message_of(
    command: &[u8],
    fixed: usize,
    tail: &[&[u8]],
    slack: usize,
) -> Result<Vec<u8>, NtStatus> {
    let bytes = build_message(None, command.get(..fixed).unwrap_or(command), tail, slack);
    if bytes.len().saturating_add(ExtensionHeader::SIZE) > MAX_PACKET_SIZE {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok(bytes)
}

pub(super) fn handle_bytes(handles: &[D3dkmtHandle]) -> Vec<u8> {
    handles
        .iter()
        .flat_map(|handle| handle.0.to_le_bytes())
        .collect()
}

/// The 32-byte handle command `code` of host process `process` naming `handle`.
pub(super) fn handle_message(
    code: impl Into<CommandCode>,
    process: D3dkmtHandle,
    handle: D3dkmtHandle,
) -> Vec<u8> {
    let mut command: HandleCommand = new_command(code, process);
    command.handle = handle;
    command.as_bytes().to_vec()
}

/// What a request's command concerns: its adapter and the device its objects live on (null
/// for an adapter-level command); recorded with the transaction for the reply's decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct On {
    pub adapter: AdapterId,
    pub device: D3dkmtHandle,
}

impl From<AdapterId> for On {
    fn from(adapter: AdapterId) -> Self {
        let device = D3dkmtHandle::NULL;
        Self { adapter, device }
    }
}

impl From<ObjectEntry> for On {
    fn from(entry: ObjectEntry) -> Self {
        let (adapter, device) = (entry.adapter, entry.device);
        Self { adapter, device }
    }
}

impl On {
    /// A table entry for an object of `kind` the host created on this adapter and device (no
    /// size, no cached state).
    pub(super) fn entry(self, handle: D3dkmtHandle, kind: ObjectKind) -> ObjectEntry {
        ObjectEntry {
            handle,
            kind,
            adapter: self.adapter,
            device: self.device,
            size: 0,
            cached: false,
            cached_execution_state: None,
        }
    }
}

/// Puts the extension header for `vgpu_luid` in front of `message`, in place: no second
/// buffer (the encoders' [`build_message`] already reserves room for the header, so this
/// moves the command once and does not reallocate).
fn prepend_extension_header(message: &mut Vec<u8>, vgpu_luid: Luid) {
    let length = message.len();
    message.reserve_exact(ExtensionHeader::SIZE);
    message.resize(length.saturating_add(ExtensionHeader::SIZE), 0);
    message.copy_within(..length, ExtensionHeader::SIZE);
    if let Some(header) = message.get_mut(..ExtensionHeader::SIZE) {
        header.copy_from_slice(ExtensionHeader::new(vgpu_luid).as_bytes());
    }
}

/// Whether a command may go asynchronously when the host enabled async messaging: the
/// submissions, signals and GPU waits (the driver expects no reply to them then).
fn may_be_async(command: &[u8]) -> bool {
    use VgpuCommand::{SignalSyncObject, SubmitCommand, SubmitCommandToHwQueue};
    matches!(
        command_number(command).and_then(VgpuCommand::from_u32),
        Some(SubmitCommand | SubmitCommandToHwQueue | SignalSyncObject)
            | Some(VgpuCommand::WaitForSyncObjectFromGpu)
    )
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

    pub(super) fn active_process_mut(
        &mut self,
        process: ProcessId,
    ) -> Result<&mut Process, NtStatus> {
        match self.processes.get_mut(&process) {
            Some(entry) if entry.state == ProcessState::Active => Ok(entry),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    pub(super) fn adapter_of(
        &self,
        process: ProcessId,
        handle: D3dkmtHandle,
    ) -> Result<AdapterId, NtStatus> {
        self.adapter_and_host_process(process, handle)
            .map(|(id, _)| id)
    }

    /// [`Self::adapter_of`] and the host's handle of `process` ([`Self::host_process`]) from
    /// one lookup of the process: for the requests that need both.
    pub(super) fn adapter_and_host_process(
        &self,
        process: ProcessId,
        handle: D3dkmtHandle,
    ) -> Result<(AdapterId, D3dkmtHandle), NtStatus> {
        let entry = self.active_process(process)?;
        let id = entry.adapter(handle).ok_or(NtStatus::INVALID_HANDLE)?;
        self.require_active(id)?;
        Ok((id, entry.host))
    }

    /// The host's handle for adapter `id` (DEVICE_REMOVED if there is no such adapter).
    pub(super) fn host_adapter(&self, id: AdapterId) -> Result<D3dkmtHandle, NtStatus> {
        self.adapters
            .get(id.0)
            .map(|adapter| adapter.host_adapter)
            .ok_or(NtStatus::DEVICE_REMOVED)
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

    /// Looks up `handle` as one of `kinds` and checks it lives on `adapter`.
    pub(super) fn object_on(
        &self,
        pid: ProcessId,
        handle: D3dkmtHandle,
        kinds: &[ObjectKind],
        adapter: AdapterId,
    ) -> Result<ObjectEntry, NtStatus> {
        let entry = self.object(pid, handle, kinds)?;
        if entry.adapter != adapter {
            return Err(NtStatus::INVALID_HANDLE);
        }
        Ok(entry)
    }

    /// [`Self::object_on`] for every handle of `handles`.
    pub(super) fn objects_on(
        &self,
        pid: ProcessId,
        handles: &[D3dkmtHandle],
        kinds: &[ObjectKind],
        adapter: AdapterId,
    ) -> Result<(), NtStatus> {
        for handle in handles {
            self.object_on(pid, *handle, kinds, adapter)?;
        }
        Ok(())
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
        vgpu_luid: Luid,
        command: Vec<u8>,
        mut pending: Pending,
        asynchronous: bool,
    ) {
        pending.command = command_number(&command).unwrap_or(u32::MAX);
        let mut bytes = command;
        if self.has_extension_header() {
            prepend_extension_header(&mut bytes, vgpu_luid);
        }
        let transaction_id = if asynchronous {
            let offset = if self.has_extension_header() {
                ExtensionHeader::SIZE + 12
            } else {
                12
            };
            if let Some(word) = offset.checked_add(1).and_then(|index| bytes.get_mut(index)) {
                *word |= (ASYNC_MESSAGE_BIT >> 8) as u8;
            }
            0
        } else {
            let transaction_id = self.next_transaction(channel);
            bytes.shrink_to_fit();
            self.pending.insert((channel, transaction_id), pending);
            transaction_id
        };
        let packet = super::OutgoingPacket {
            channel,
            transaction_id,
            completion_requested: !asynchronous,
            bytes,
        };
        self.actions.push_back(super::Action::Send(packet));
    }

    /// Sends a vGPU command for `adapter`, routed per the async-messaging rule; a command that
    /// may go asynchronously ([`may_be_async`]) does so when the host enabled async messaging,
    /// and its request completes with SUCCESS at once.
    pub(super) fn send_vgpu(&mut self, adapter: AdapterId, command: Vec<u8>, pending: Pending) {
        let Some(entry) = self.adapters.get(adapter.0) else {
            // Callers pass adapters they looked up; a missing one is treated as removed.
            self.fail_pending(pending, NtStatus::DEVICE_REMOVED);
            return;
        };
        let luid = entry.vgpu_luid;
        let channel = if self.async_messaging() {
            ChannelId::Global
        } else {
            ChannelId::Vgpu(entry.channel_instance)
        };
        let asynchronous = may_be_async(&command) && self.async_messaging();
        let ticket = pending.ticket;
        self.send_raw(channel, luid, command, pending, asynchronous);
        if asynchronous && let Some(ticket) = ticket {
            self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
        }
    }

    /// Sends the command of a request of `pid` (`bytes`, from the header on) on the channel
    /// its code names: a vGPU command for `on`'s adapter ([`Self::send_vgpu`]), a global
    /// command with a zero vGPU LUID (as Linux sends the sharing commands). The reply, read as
    /// `expect` for `on`'s adapter and device, completes `ticket`.
    pub(super) fn send_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        on: impl Into<On>,
        expect: Expect,
        bytes: impl Into<Vec<u8>>,
    ) {
        let (on, bytes) = (on.into(), bytes.into());
        let pending = Pending::request(pid, ticket, expect, on);
        match command_number(&bytes).and_then(CommandCode::from_u32) {
            Some(CommandCode::Global(_)) => self.send_global(None, bytes, pending),
            _ => self.send_vgpu(on.adapter, bytes, pending),
        }
    }

    /// [`Self::send_request`] for a command a request carries whole: its header is replaced by
    /// one for `pid`'s host process (the caller's header is not sent), its other fields go as
    /// they are.
    pub(super) fn send_carried<C: Command>(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        on: impl Into<On>,
        expect: Expect,
        command: C,
    ) {
        let command = command.stamped(self.host_process(pid));
        self.send_request(pid, ticket, on, expect, command.as_bytes());
    }

    /// Sends a vGPU command the driver issues on its own for `pid` (no ticket waits for it).
    pub(super) fn send_internal(
        &mut self,
        pid: ProcessId,
        adapter: AdapterId,
        expect: Expect,
        bytes: Vec<u8>,
    ) {
        let pending = Pending::internal(pid, expect, adapter);
        self.send_vgpu(adapter, bytes, pending);
    }

    /// Sends a global command.
    pub(super) fn send_global(
        &mut self,
        adapter: Option<AdapterId>,
        command: Vec<u8>,
        pending: Pending,
    ) {
        let luid = adapter
            .and_then(|id| self.adapters.get(id.0))
            .map(|entry| entry.vgpu_luid)
            .unwrap_or_default();
        self.send_raw(ChannelId::Global, luid, command, pending, false);
    }

    /// A zeroed command `T` whose header carries its code (from the command table) and the host
    /// handle of `process`; the send helpers read the code back from the header.
    pub(super) fn command<T: Command>(&self, process: ProcessId) -> T {
        T::with_process(self.host_process(process))
    }

    /// [`message_of`] `command` of a request of `pid`, its header replaced by one for `pid`'s
    /// host process.
    pub(super) fn message<C: Command>(
        &self,
        pid: ProcessId,
        command: C,
        fixed: usize,
        tail: &[&[u8]],
        slack: usize,
    ) -> Result<Vec<u8>, NtStatus> {
        let command = command.stamped(self.host_process(pid));
        message_of(command.as_bytes(), fixed, tail, slack)
    }

    /// [`Self::command`] for a struct several commands share: the caller names the code.
    pub(super) fn command_as<T: FromBytes + IntoBytes>(
        &self,
        code: impl Into<CommandCode>,
        process: ProcessId,
    ) -> T {
        new_command(code, self.host_process(process))
    }

    /// Starts a process-, adapter- or device-level request (the first encoder of the chain).
    pub(super) fn start_adapter_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::CreateProcess { pid: os_pid, name } => {
                if !self.global_ready() {
                    return Err(NtStatus::DEVICE_REMOVED);
                }
                if self.processes.contains_key(&pid) {
                    return Err(NtStatus::OBJECT_NAME_COLLISION);
                }
                let process_key = pid
                    .0
                    .checked_add(0x1000_0000)
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
                self.processes.insert(pid, Process::new());
                let mut command = CreateProcessCommand::with_process(D3dkmtHandle::NULL);
                command.process = process_key;
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
                let pending = Pending::unbound(pid, ticket, Expect::CreateProcess);
                self.send_global(None, command.as_bytes().to_vec(), pending);
            }
            Request::DestroyProcess => self.start_process_teardown(pid, ticket)?,
            Request::EnumAdapters => {
                let active: Vec<(AdapterId, Luid)> = self
                    .adapters
                    .iter()
                    .enumerate()
                    .filter(|(_, adapter)| adapter.state == AdapterState::Active)
                    .map(|(index, adapter)| (AdapterId(index), adapter.luid))
                    .take(MAX_ADAPTERS)
                    .collect();
                let process = self.active_process_mut(pid)?;
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
                let id = self
                    .adapters
                    .iter()
                    .position(|adapter| {
                        adapter.state == AdapterState::Active && adapter.luid == luid
                    })
                    .map(AdapterId);
                let process = self.active_process_mut(pid)?;
                let handle = process.open_adapter(id.ok_or(NtStatus::INVALID_PARAMETER)?);
                let entry = AdapterEntry { handle, luid };
                self.complete(ticket, Ok(Reply::AdapterOpened(entry)));
            }
            Request::CloseAdapter { adapter } => {
                if !self.active_process_mut(pid)?.close_adapter(adapter) {
                    return Err(NtStatus::INVALID_HANDLE);
                }
                self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
            }
            Request::QueryAdapterInfo {
                adapter,
                query_type,
                data,
            } => {
                let (id, host_process) = self.adapter_and_host_process(pid, adapter)?;
                check_count(data.len(), 1, MAX_PACKET_SIZE)?;
                let mut command = QueryAdapterInfoCommand::with_process(host_process);
                command.query_type = query_type;
                command.private_data_size = data.len() as u32;
                let bytes =
                    build_message(None, command.as_bytes(), &[&data], QUERY_ADAPTER_INFO_SLACK);
                // The caller's buffer, copied into the message, becomes the reply's buffer.
                let expect = Expect::QueryAdapterInfo {
                    buffer: data,
                    query_type,
                };
                self.send_request(pid, ticket, id, expect, bytes);
            }
            Request::GetDeviceState(command) => {
                let (device, state_type) = (command.device, command.state_type);
                let entry = self.object(pid, device, &[Device])?;
                if state_type == DEVICE_STATE_EXECUTION
                    && let Some((counter, state)) = entry.cached_execution_state
                    && counter == self.device_state_counter
                {
                    self.complete(ticket, Ok(Reply::DeviceState { state_type, state }));
                    return Ok(());
                }
                self.send_carried(pid, ticket, entry, Expect::ByCommand, command);
            }
            Request::Escape { mut command, data } => {
                let (id, host_process) = self.adapter_and_host_process(pid, command.adapter)?;
                check_count(data.len(), 0, MAX_PACKET_SIZE)?;
                command.adapter = self.host_adapter(id)?;
                command.private_data_size = data.len() as u32;
                let command = command.stamped(host_process);
                let bytes = build_message(None, command.as_bytes(), &[&data], ESCAPE_SLACK);
                self.send_request(pid, ticket, id, Expect::Escape { size: data.len() }, bytes);
            }
            Request::CreateDevice { adapter, flags } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command: CreateDeviceCommand = self.command(pid);
                command.flags = flags;
                command.error_code = self.config.device_state_cookie;
                self.send_request(pid, ticket, id, Expect::ByCommand, command.as_bytes());
            }
            Request::CreateContext {
                mut command,
                private_data,
            } => {
                let entry = self.object(pid, command.device, &[Device])?;
                check_count(private_data.len(), 0, MAX_PACKET_SIZE)?;
                command.private_data_size = private_data.len() as u32;
                let (fixed, slack) = (CREATE_CONTEXT_PRIVATE_OFFSET, CREATE_CONTEXT_SLACK);
                let bytes = self.message(pid, command, fixed, &[&private_data], slack)?;
                let expect = Expect::Context {
                    private_size: private_data.len(),
                };
                self.send_request(pid, ticket, entry, expect, bytes);
            }
            other => return self.start_allocation_request(pid, ticket, other),
        }
        Ok(())
    }

    /// The 32-byte handle command `command` of `pid` naming `handle`.
    pub(super) fn handle_command(
        &self,
        command: VgpuCommand,
        pid: ProcessId,
        handle: D3dkmtHandle,
    ) -> Vec<u8> {
        handle_message(command, self.host_process(pid), handle)
    }

    /// FLUSHDEVICE with the device-terminate reason (before DESTROYDEVICE).
    pub(super) fn flush_device_command(&self, pid: ProcessId, device: D3dkmtHandle) -> Vec<u8> {
        let mut flush: FlushDeviceCommand = self.command(pid);
        flush.device = device;
        flush.reason = FLUSH_REASON_DEVICE_TERMINATE;
        flush.as_bytes().to_vec()
    }

    /// DESTROYALLOCATION of one resource or one allocation of `device`, assumed not in use
    /// (process teardown, undoing an OPENRESOURCE).
    pub(super) fn destroy_not_in_use_command(
        &self,
        pid: ProcessId,
        device: D3dkmtHandle,
        handle: D3dkmtHandle,
        is_resource: bool,
    ) -> Vec<u8> {
        let single = [handle];
        let (resource, allocations) = match is_resource {
            true => (handle, &[][..]),
            false => (D3dkmtHandle::NULL, &single[..]),
        };
        self.destroy_allocations_not_in_use_command(pid, device, resource, allocations)
    }

    /// DESTROYALLOCATION of `resource` (or null) and the `allocations` of `device` (none with a
    /// resource), assumed not in use (undoing a CREATEALLOCATION the guest could not register).
    pub(super) fn destroy_allocations_not_in_use_command(
        &self,
        pid: ProcessId,
        device: D3dkmtHandle,
        resource: D3dkmtHandle,
        allocations: &[D3dkmtHandle],
    ) -> Vec<u8> {
        let mut destroy: DestroyAllocationCommand = self.command(pid);
        destroy.device = device;
        destroy.resource = resource;
        destroy.flags = DESTROY_ALLOCATION_ASSUME_NOT_IN_USE;
        // At most MAX_ALLOCATIONS_PER_CREATE handles (the request's count), so this fits.
        destroy.allocation_count = allocations.len() as u32;
        let tail = handle_bytes(allocations);
        build_message(None, destroy.as_bytes(), &[&tail], DESTROY_ALLOCATION_SLACK)
    }

    pub(super) fn remove_objects(&mut self, pid: ProcessId, handles: &[D3dkmtHandle]) {
        if let Some(process) = self.processes.get_mut(&pid) {
            for handle in handles {
                process.remove(*handle);
            }
        }
    }
}
