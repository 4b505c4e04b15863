//! Command handlers of the emulated host (dxg.md §3, §8): receiving, routing and shaping
//! replies, plus the process- and adapter-level commands. The other handlers live by area:
//! `dispatch_objects`, `dispatch_sync`, `dispatch_submit`, `dispatch_memory`,
//! `dispatch_scheduling`, `dispatch_sharing`; shared bookkeeping in `dispatch_support`.

use super::io_space::IoSpace;
use super::{GpuHost, HostChannel, HostOutput, HostProcess};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use hyperv::mmio::MmioRange;
use zerocopy::{FromBytes, IntoBytes};

/// Largest allocation the emulator backs (bytes).
pub const MAX_ALLOCATION_BYTES: u64 = 64 << 20;

pub(super) type Handled = Result<Vec<u8>, NtStatus>;

pub(super) fn status_bytes(status: NtStatus) -> Vec<u8> {
    status.0.to_le_bytes().to_vec()
}

/// `KMTQAITYPE_GETSEGMENTSIZE` (d3dkmthk.h): a 24-byte `D3DKMT_SEGMENTSIZEINFO`.
pub const QUERY_GET_SEGMENT_SIZE: u32 = 3;

/// Writes `status` little-endian at `offset` of a reply the caller sized; the offsets used are
/// constants inside the fixed reply sizes, and a write past the end is dropped, not a panic.
pub(super) fn put_status(reply: &mut [u8], offset: usize, status: NtStatus) {
    put_bytes(reply, offset, &status.0.to_le_bytes());
}

/// Copies `bytes` into `reply` at `offset`; the offsets used are constants inside the reply's
/// fixed part, and a write past the end is dropped, not a panic.
pub(super) fn put_bytes(reply: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(slot) = offset
        .checked_add(bytes.len())
        .and_then(|end| reply.get_mut(offset..end))
    {
        slot.copy_from_slice(bytes);
    }
}

/// Byte offset of element `index` of an array of `stride`-byte elements starting at `base`;
/// `None` where that overflows (the guest chose the index or the count).
pub(super) fn element_offset(base: usize, index: usize, stride: usize) -> Option<usize> {
    index.checked_mul(stride)?.checked_add(base)
}

/// `result_area(base + 4 * count)`: a reply of `base` bytes then `count` u32 entries, rounded
/// up to the result-area alignment. Callers clamp `count` to [`MAX_RESIDENCY_ALLOCATIONS`];
/// an overflow (never reached) gives the largest aligned size instead of a panic.
pub(super) fn u32_result_area(base: usize, count: usize) -> usize {
    element_offset(base, count, 4)
        .and_then(|end| end.checked_add(7))
        .map_or(usize::MAX & !7, |rounded| rounded & !7)
}

pub(super) fn parse<T: FromBytes>(command: &[u8]) -> Result<T, NtStatus> {
    read_prefix(command).map_err(|_| NtStatus::INVALID_PARAMETER)
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
        self.statistics.commands = self.statistics.commands.saturating_add(1);
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
                        self.statistics.failures = self.statistics.failures.saturating_add(1);
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
        let Some((adapter, vgpu)) = adapter.and_then(|index| Some((index, self.vgpus.get(index)?)))
        else {
            return Some(self.finish(code, Err(NtStatus::INVALID_PARAMETER), command));
        };
        if vgpu.removed {
            return Some(self.finish(code, Err(NtStatus::DEVICE_REMOVED), command));
        }
        let result = match command_kind {
            VgpuCommand::OpenAdapter => self.open_adapter(adapter),
            VgpuCommand::CloseAdapter => Ok(Vec::new()),
            VgpuCommand::GetInternalAdapterInfo => self.internal_info(adapter),
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
        self.statistics.failures = self.statistics.failures.saturating_add(1);
        let mut reply = match VgpuCommand::from_u32(code) {
            Some(VgpuCommand::OpenAdapter) => {
                let mut reply = vec![0u8; OpenAdapterReply::SIZE];
                put_status(&mut reply, 4, status);
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
                if let Some(status_slot) = echo.get_mut(24..28) {
                    status_slot.fill(0);
                }
                return echo;
            }
            Some(VgpuCommand::MakeResident) => {
                let mut reply = vec![0u8; MakeResidentReply::SIZE];
                put_status(&mut reply, 16, status);
                return reply;
            }
            Some(VgpuCommand::GetDeviceState) => {
                let mut reply = vec![0u8; GetDeviceStateReply::SIZE];
                put_status(&mut reply, 56, status);
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
            let size = (request.private_data_size as usize).min(MAX_PACKET_SIZE);
            reply.resize(size.saturating_add(4), 0);
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

    /// The guest closed `channel` (CLOSECHANNEL, UNLOAD or a new connection): the host objects
    /// that lived on it go with it, so that a guest driver that re-opens the channel starts
    /// from nothing and the host holds nothing for the old instance.
    /// - the global channel carries the VM's host processes (CREATEPROCESS) and, through them,
    ///   every object: all processes are destroyed as by DESTROYPROCESS, pending CPU waits
    ///   dropped, adapters closed;
    /// - vGPU `i`'s channel carries the objects created on adapter `i`: they are destroyed
    ///   (storage freed, as DESTROYDEVICE would), and the adapter is closed.
    ///
    /// Hyper-V's GPU-PV host is not public, so this is the emulator's model (see
    /// docs/emulated-platform.md): the handles a closed channel's session created cannot be
    /// named on a later session, so keeping their objects could only leak them.
    pub fn channel_closed(&mut self, channel: HostChannel) {
        match channel {
            HostChannel::Global => {
                let processes: Vec<D3dkmtHandle> = self.processes.keys().copied().collect();
                let count = processes.len();
                for process in processes {
                    let _ = self.destroy_process(process);
                }
                self.waits.clear();
                for index in 0..self.vgpus.len() {
                    self.close_host_adapter(index);
                }
                if count > 0 {
                    log::info!("vgpu: global channel closed: {count} host processes destroyed");
                }
            }
            HostChannel::Vgpu(index) => {
                let processes: Vec<D3dkmtHandle> = self.processes.keys().copied().collect();
                for process in processes {
                    self.destroy_where(process, |_, owned| owned.adapter == index);
                    if let Some(entry) = self.processes.get_mut(&process) {
                        entry.gpu_va.remove(&index);
                        entry
                            .reservations
                            .retain(|(adapter, _), _| *adapter != index);
                    }
                }
                self.close_host_adapter(index);
            }
        }
    }

    /// Forgets vGPU `index`'s host adapter handle (OPENADAPTER allocates a new one).
    fn close_host_adapter(&mut self, index: usize) {
        if let Some(vgpu) = self.vgpus.get_mut(index)
            && !vgpu.host_adapter.is_null()
        {
            let handle = std::mem::replace(&mut vgpu.host_adapter, D3dkmtHandle::NULL);
            self.adapter_handles.free(handle);
        }
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
            || request.start.checked_add(request.length).is_none()
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        // Moving the IO space under live objects would orphan their storage; Hyper-V's answer
        // to a second SETIOSPACEREGION is not documented, refusing it is ours.
        if self.io_pages_in_use() > 0 {
            log::warn!("vgpu: SETIOSPACEREGION refused: the IO space has objects");
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.check_io_space_placement(request.start, request.length)?;
        self.io_space = Some(IoSpace::new(request.start, request.length));
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// With a known platform layout, the IO space must lie inside one VMBus MMIO gap, outside
    /// RAM (Hyper-V maps GPU memory there; it cannot be the guest's own RAM), and where this
    /// host has memory to back it (under QEMU only the high-gap dimm is backed). Hyper-V's
    /// exact status for a refused region is not documented; INVALID_PARAMETER is ours.
    fn check_io_space_placement(&self, start: u64, length: u64) -> Result<(), NtStatus> {
        let Some(layout) = &self.layout else {
            return Ok(());
        };
        if let Err(error) = layout.check_device_range(MmioRange::new(start, length)) {
            log::warn!("vgpu: SETIOSPACEREGION refused: {error}");
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut probe = [0u8; 1];
        let Some(last) = length
            .checked_sub(1)
            .and_then(|last_offset| start.checked_add(last_offset))
        else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        if self.memory.read(start, &mut probe).is_err()
            || self.memory.read(last, &mut probe).is_err()
        {
            log::warn!(
                "vgpu: SETIOSPACEREGION refused: {:#x}+{length:#x} is not backed by host memory",
                start
            );
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(())
    }

    fn open_adapter(&mut self, adapter: usize) -> Handled {
        let vgpu = self
            .vgpus
            .get_mut(adapter)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        if vgpu.host_adapter.is_null() {
            vgpu.host_adapter = self.adapter_handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
        }
        let reply = OpenAdapterReply {
            host_adapter: vgpu.host_adapter,
            status: 0,
            host_interface_version: INTERFACE_VERSION,
            host_last_compatible_interface_version: LAST_COMPATIBLE_INTERFACE_VERSION,
        };
        Ok(reply.as_bytes().to_vec())
    }

    fn internal_info(&self, adapter: usize) -> Handled {
        let description = &self
            .vgpus
            .get(adapter)
            .ok_or(NtStatus::INVALID_PARAMETER)?
            .description;
        let mut reply = InternalAdapterInfoReply::zeroed();
        reply.device_types = DEVICE_TYPE_VIRTUAL_RENDER;
        reply.flags = if description.async_messaging {
            ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED
        } else {
            0
        };
        reply.host_adapter_luid = Luid::of_channel_instance(&description.config.channel_instance);
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
        Ok(bytes)
    }

    /// Answers QUERYADAPTERINFO for the types this host's adapter knows; others are
    /// NOT_SUPPORTED.
    fn query_adapter_info(&self, adapter: usize, command: &[u8]) -> Handled {
        let request: QueryAdapterInfoCommand = parse(command)?;
        let size = request.private_data_size as usize;
        if size == 0 || size > MAX_PACKET_SIZE {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut data = vec![0u8; size];
        let put = |data: &mut Vec<u8>, offset: usize, value: u32| {
            if let Some(slot) = data.get_mut(offset..offset.saturating_add(4)) {
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
            QUERY_GET_SEGMENT_SIZE => {
                // D3DKMT_SEGMENTSIZEINFO {u64 dedicated video, dedicated system, shared system}:
                // the IO space is the adapter's only (dedicated) memory. Every WDDM driver's
                // adapter answers this type (d3dkmthk.h, KMTQAITYPE_GETSEGMENTSIZE).
                let dedicated = self.io_space.as_ref().map_or(0, |space| space.length());
                put(&mut data, 0, dedicated as u32);
                put(&mut data, 4, (dedicated >> 32) as u32);
            }
            QUERY_DRIVER_DESCRIPTION => {
                // A NUL-terminated UTF-16 string: the buffer must hold at least the
                // terminator (the size is the application's; BUFFER_TOO_SMALL is ours).
                let Some(room) = (size / 2).checked_sub(1) else {
                    return Err(NtStatus::BUFFER_TOO_SMALL);
                };
                let text = &self
                    .vgpus
                    .get(adapter)
                    .ok_or(NtStatus::INVALID_PARAMETER)?
                    .description
                    .description;
                for (slot, unit) in data.chunks_exact_mut(2).take(room).zip(text.encode_utf16()) {
                    slot.copy_from_slice(&unit.to_le_bytes());
                }
            }
            _ => return Err(NtStatus::NOT_SUPPORTED),
        }
        let mut reply = Vec::with_capacity(size.saturating_add(4));
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
            VgpuCommand::CreateDevice
            | VgpuCommand::DestroyDevice
            | VgpuCommand::FlushDevice
            | VgpuCommand::CreatePagingQueue
            | VgpuCommand::DestroyPagingQueue
            | VgpuCommand::CreateContextVirtual
            | VgpuCommand::DestroyContext
            | VgpuCommand::CreateAllocation
            | VgpuCommand::DestroyAllocation
            | VgpuCommand::MakeResident
            | VgpuCommand::Evict
            | VgpuCommand::Lock2
            | VgpuCommand::Unlock2 => self.object_command(process_handle, kind, command, adapter),
            VgpuCommand::CreateSyncObject
            | VgpuCommand::SignalSyncObject
            | VgpuCommand::WaitForSyncObjectFromCpu
            | VgpuCommand::WaitForSyncObjectFromGpu => {
                self.sync_command(process_handle, kind, command, adapter)
            }
            VgpuCommand::SubmitCommand => self.submit(process_handle, adapter, command),
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
                let used = (self.io_pages_in_use() as u64).saturating_mul(PAGE_SIZE);
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
                self.expect_device(process_handle, request.device, adapter)?;
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
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#[path = "dispatch_tests.rs"]
mod tests;
