//! Discovery and bring-up (dxg.md §1): PCI config negotiation, channel offers in any order,
//! IO space, OPENADAPTER and GETINTERNALADAPTERINFO, and adapter removal.

use super::prelude::*;
use super::{IO_SPACE_ALIGNMENT, MAX_INCOMING_PACKET, RING_BUFFER_BYTES};

/// A failed PCI configuration access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigSpaceError;

/// Dword access to one PCI function's configuration space (provided by the vPCI driver).
pub trait ConfigSpace {
    /// Reads the dword at `offset`.
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError>;
    /// Writes the dword at `offset`.
    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), ConfigSpaceError>;
}

/// Why a PCI function could not become an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// A config access failed.
    ConfigSpace,
    /// Already 64 adapters.
    TooManyAdapters,
    /// The device id is not a GPU-PV function.
    NotGpuPv,
    /// The function is absent: its vendor id reads 0xFFFF (PCI's answer for a function that is
    /// gone or a config window that is not mapped), before or during the probe.
    FunctionAbsent,
    /// A live adapter already has this vGPU channel instance GUID; a second PCI function with
    /// the same GUID would share its channel and LUID.
    DuplicateInstance(Guid),
}

impl From<ConfigSpaceError> for ProbeError {
    fn from(_: ConfigSpaceError) -> Self {
        ProbeError::ConfigSpace
    }
}

/// Offset of the vendor id (low 16 bits) and device id (high 16 bits) in PCI config space.
const PCI_CONFIG_VENDOR_DEVICE: u16 = 0x00;
/// The vendor id an absent PCI function reads as.
const PCI_VENDOR_ABSENT: u16 = 0xFFFF;

/// What the first probed function negotiated (committed only when the probe succeeds).
struct Negotiated {
    version: u32,
    host_caps: u32,
}

/// Fails with [`ProbeError::FunctionAbsent`] when the function's vendor id reads 0xFFFF.
fn check_present(config: &mut dyn ConfigSpace) -> Result<(), ProbeError> {
    let word = config.read_u32(PCI_CONFIG_VENDOR_DEVICE)?;
    if word as u16 == PCI_VENDOR_ABSENT {
        return Err(ProbeError::FunctionAbsent);
    }
    Ok(())
}

/// Reads the dword at `offset`; an all-ones value is data only if the function is still present
/// (a function that went away mid-probe reads all-ones everywhere).
fn read_present(config: &mut dyn ConfigSpace, offset: u16) -> Result<u32, ProbeError> {
    let value = config.read_u32(offset)?;
    if value == u32::MAX {
        check_present(config)?;
    }
    Ok(value)
}

/// Negotiates the interface version with the first function (dxg.md §1.2): writes the guest
/// caps, reads the host's version; an old host (0 or below ours) keeps its version, otherwise
/// the guest writes its own and reads the host caps.
fn negotiate_version(config: &mut dyn ConfigSpace) -> Result<Negotiated, ProbeError> {
    config.write_u32(PCI_CONFIG_LUID_OR_GUEST_CAPS, GUEST_CAPS_WSL2)?;
    let host_version = read_present(config, PCI_CONFIG_VERSION)?;
    if host_version < INTERFACE_VERSION {
        let version = if host_version == 0 {
            INTERFACE_VERSION_OLD
        } else {
            host_version
        };
        return Ok(Negotiated {
            version,
            host_caps: 0,
        });
    }
    config.write_u32(PCI_CONFIG_VERSION, INTERFACE_VERSION)?;
    let host_caps = read_present(config, PCI_CONFIG_HOST_CAPS)?;
    Ok(Negotiated {
        version: INTERFACE_VERSION,
        host_caps,
    })
}

impl Driver {
    /// Probes a GPU-PV PCI function (vendor 0x1414, device 0x008E or 0x008A): checks that the
    /// function is present (vendor id not 0xFFFF), negotiates the interface version on the first
    /// function, reads the channel GUID (and vGPU LUID), refuses a GUID a live adapter already
    /// has, and creates an adapter waiting for its channels. Nothing is recorded unless the whole
    /// probe succeeds.
    pub fn probe_pci_function(
        &mut self,
        pci_function: u32,
        device_id: u16,
        config: &mut dyn ConfigSpace,
    ) -> Result<AdapterId, ProbeError> {
        self.probe_checked(pci_function, device_id, config)
            .inspect_err(|error| {
                log::warn!("dxg: PCI function {pci_function:#x} refused: {error:?}")
            })
    }

    fn probe_checked(
        &mut self,
        pci_function: u32,
        device_id: u16,
        config: &mut dyn ConfigSpace,
    ) -> Result<AdapterId, ProbeError> {
        if device_id != PCI_DEVICE_VIRTUAL_RENDER && device_id != PCI_DEVICE_COMPUTE_ACCELERATOR {
            return Err(ProbeError::NotGpuPv);
        }
        if self.live_adapters().count() >= MAX_ADAPTERS {
            return Err(ProbeError::TooManyAdapters);
        }
        check_present(config)?;
        let negotiated = if self.version == 0 {
            Some(negotiate_version(config)?)
        } else {
            None
        };
        let version = negotiated
            .as_ref()
            .map_or(self.version, |negotiated| negotiated.version);
        // The GUID is four dwords from PCI_CONFIG_GUID on.
        let mut guid = [0u8; 16];
        let offsets = (PCI_CONFIG_GUID..).step_by(4);
        for (chunk, offset) in guid.as_chunks_mut::<4>().0.iter_mut().zip(offsets) {
            *chunk = read_present(config, offset)?.to_le_bytes();
        }
        let guid = Guid::from_bytes(guid);
        let mut vgpu_luid = Luid::default();
        if version >= INTERFACE_VERSION {
            vgpu_luid.low = read_present(config, PCI_CONFIG_LUID_OR_GUEST_CAPS)?;
            vgpu_luid.high = read_present(config, PCI_CONFIG_LUID_OR_GUEST_CAPS + 4)?;
        }
        if self.adapter_by_instance(guid).is_some() {
            return Err(ProbeError::DuplicateInstance(guid));
        }
        if let Some(negotiated) = negotiated {
            self.version = negotiated.version;
            self.host_caps = negotiated.host_caps;
        }
        let id = AdapterId(self.adapters.len());
        self.adapters.push(Adapter {
            pci_function,
            compute_only: device_id == PCI_DEVICE_COMPUTE_ACCELERATOR,
            channel_instance: guid,
            luid: Luid::of_channel_instance(&guid),
            vgpu_luid,
            host_adapter: D3dkmtHandle::NULL,
            state: AdapterState::WaitingVmbus,
            channel_open: false,
            next_transaction: 1,
            info: None,
        });
        self.try_start_adapters();
        Ok(id)
    }

    /// The global channel was offered; `mmio_megabytes` comes from the offer.
    pub fn global_channel_offered(&mut self, mmio_megabytes: u32) {
        if self.global.is_some() {
            self.protocol_error(ProtocolError::DuplicateGlobalChannel);
            return;
        }
        self.global = Some(GlobalChannel {
            mmio_megabytes,
            state: GlobalState::Offered,
            io_space: None,
            next_transaction: 1,
        });
        self.try_start_adapters();
    }

    /// A vGPU channel with this instance GUID was offered.
    pub fn vgpu_channel_offered(&mut self, instance: Guid) {
        if !self.vgpu_offers.contains(&instance) {
            self.vgpu_offers.push(instance);
        }
        self.try_start_adapters();
    }

    /// The IO space requested by [`Action::AllocateIoSpace`] was reserved at `base`.
    pub fn io_space_allocated(&mut self, base: u64, length: u64) {
        let Some(global) = self.global.as_mut() else {
            return;
        };
        if global.state != GlobalState::AwaitingIoSpace {
            return;
        }
        global.io_space = Some((base, length));
        global.state = GlobalState::SettingIoSpace;
        let mut command = SetIoSpaceRegionCommand::with_process(D3dkmtHandle::NULL);
        command.start = base;
        command.length = length;
        let pending = Pending::new(Expect::SetIoSpace, None);
        self.send_global(None, command.as_bytes().to_vec(), pending);
    }

    /// The IO space could not be reserved; no adapter can start.
    pub fn io_space_failed(&mut self) {
        self.set_global_state(GlobalState::Failed);
    }

    /// Sets the global channel's bring-up state (nothing without a global channel).
    fn set_global_state(&mut self, state: GlobalState) {
        if let Some(global) = self.global.as_mut() {
            global.state = state;
        }
    }

    /// The VMBus layer could not open `channel`.
    pub fn channel_open_failed(&mut self, channel: ChannelId) {
        match channel {
            ChannelId::Global => self.io_space_failed(),
            ChannelId::Vgpu(instance) => {
                if let Some(id) = self.vgpu_channel_gone(instance) {
                    self.fail_adapter_pending(id);
                    self.set_adapter_state(id, AdapterState::Stopped);
                }
            }
        }
    }

    /// The PCI function went away: stop the adapter, send CLOSEADAPTER, close its channel.
    pub fn remove_pci_function(&mut self, pci_function: u32) {
        let found = self
            .live_adapters()
            .find(|(_, adapter)| adapter.pci_function == pci_function);
        if let Some((id, _)) = found {
            self.remove_adapter(id, true);
        }
    }

    /// The host rescinded a vGPU channel: the adapter is removed without further traffic.
    pub fn vgpu_channel_rescinded(&mut self, instance: Guid) {
        self.vgpu_offers.retain(|offer| *offer != instance);
        if let Some(id) = self.vgpu_channel_gone(instance) {
            self.remove_adapter(id, false);
        }
    }

    /// Marks the vGPU channel `instance` closed on its live adapter, and returns that adapter.
    fn vgpu_channel_gone(&mut self, instance: Guid) -> Option<AdapterId> {
        let id = self.adapter_by_instance(instance)?;
        if let Some(adapter) = self.adapters.get_mut(id.0) {
            adapter.channel_open = false;
        }
        Some(id)
    }

    /// The host rescinded the global channel: everything stops.
    pub fn global_channel_rescinded(&mut self) {
        let live: Vec<AdapterId> = self.live_adapters().map(|(id, _)| id).collect();
        for id in live {
            self.remove_adapter(id, false);
        }
        self.fail_pending_where(|_| true);
        if let Some(global) = self.global.take() {
            if let Some((base, length)) = global.io_space {
                self.actions.push_back(Action::FreeIoSpace { base, length });
            }
            if global.state != GlobalState::Offered {
                self.actions
                    .push_back(Action::CloseChannel(ChannelId::Global));
            }
        }
    }

    /// The adapters not removed, with their ids.
    fn live_adapters(&self) -> impl Iterator<Item = (AdapterId, &Adapter)> {
        self.adapters
            .iter()
            .enumerate()
            .filter(|(_, adapter)| adapter.state != AdapterState::Removed)
            .map(|(index, adapter)| (AdapterId(index), adapter))
    }

    pub(super) fn adapter_by_instance(&self, instance: Guid) -> Option<AdapterId> {
        self.live_adapters()
            .find(|(_, adapter)| adapter.channel_instance == instance)
            .map(|(id, _)| id)
    }

    fn remove_adapter(&mut self, id: AdapterId, send_close: bool) {
        let Some(adapter) = self.adapters.get(id.0) else {
            return;
        };
        let was_started = matches!(adapter.state, AdapterState::Active | AdapterState::Starting);
        self.fail_adapter_pending(id);
        let waits: Vec<(u64, super::Ticket)> = self
            .events
            .iter()
            .filter_map(|(event, state)| match state {
                super::GuestEvent::Wait {
                    ticket, adapter, ..
                } if *adapter == id => Some((*event, *ticket)),
                _ => None,
            })
            .collect();
        for (event, ticket) in waits {
            self.events.remove(&event);
            self.complete(ticket, Err(NtStatus::DEVICE_REMOVED));
        }
        for process in self.processes.values_mut() {
            process.remove_adapter_objects(id);
        }
        let Some(adapter) = self.adapters.get(id.0) else {
            return;
        };
        let channel = ChannelId::Vgpu(adapter.channel_instance);
        if send_close && was_started && adapter.channel_open && !adapter.host_adapter.is_null() {
            let mut command: HandleCommand =
                new_command(VgpuCommand::CloseAdapter, D3dkmtHandle::NULL);
            command.handle = adapter.host_adapter;
            let luid = adapter.vgpu_luid;
            let pending = Pending::new(Expect::CloseAdapter(id), None);
            // CLOSEADAPTER always goes on the vGPU channel; the channel is closed when it completes.
            self.send_raw(channel, luid, command.as_bytes().to_vec(), pending, false);
        } else {
            self.on_close_adapter_reply(id);
        }
        self.set_adapter_state(id, AdapterState::Removed);
    }

    pub(super) fn fail_adapter_pending(&mut self, id: AdapterId) {
        self.fail_pending_where(|pending| {
            pending.adapter == Some(id) && !matches!(pending.expect, Expect::CloseAdapter(_))
        });
    }

    /// Fails with DEVICE_REMOVED every outstanding transaction that `selected` picks (those
    /// outstanding now; what failing them sends is not failed).
    fn fail_pending_where(&mut self, selected: impl Fn(&Pending) -> bool) {
        let keys = self.pending.keys_where(selected);
        for key in keys {
            if let Some(pending) = self.pending.remove(&key) {
                self.fail_pending(pending, NtStatus::DEVICE_REMOVED);
            }
        }
    }

    pub(super) fn set_adapter_state(&mut self, id: AdapterId, state: AdapterState) {
        let Some(adapter) = self.adapters.get_mut(id.0) else {
            return;
        };
        if adapter.state == state {
            return;
        }
        adapter.state = state;
        let luid = adapter.luid;
        self.actions.push_back(Action::AdapterStateChanged {
            adapter: id,
            luid,
            state,
        });
    }

    /// Starts every adapter whose preconditions hold (dxg.md §1.6).
    pub(super) fn try_start_adapters(&mut self) {
        let Some(global) = self.global.as_ref() else {
            return;
        };
        let ready: Vec<AdapterId> = self
            .live_adapters()
            .filter(|(_, adapter)| {
                adapter.state == AdapterState::WaitingVmbus
                    && self.vgpu_offers.contains(&adapter.channel_instance)
            })
            .map(|(id, _)| id)
            .collect();
        if ready.is_empty() {
            return;
        }
        match global.state {
            GlobalState::Offered => {
                if global.mmio_megabytes == 0 {
                    self.set_global_state(GlobalState::Failed);
                    self.protocol_error(ProtocolError::NoIoSpace);
                    return;
                }
                let bytes = u64::from(global.mmio_megabytes) << 20;
                self.set_global_state(GlobalState::AwaitingIoSpace);
                self.actions.push_back(open_channel(ChannelId::Global));
                self.actions.push_back(Action::AllocateIoSpace {
                    bytes,
                    alignment: IO_SPACE_ALIGNMENT,
                });
            }
            GlobalState::Ready => {
                for id in ready {
                    self.open_adapter(id);
                }
            }
            GlobalState::AwaitingIoSpace | GlobalState::SettingIoSpace | GlobalState::Failed => {}
        }
    }

    fn open_adapter(&mut self, id: AdapterId) {
        let Some(adapter) = self.adapters.get_mut(id.0) else {
            return;
        };
        adapter.state = AdapterState::Starting;
        let channel = ChannelId::Vgpu(adapter.channel_instance);
        if !adapter.channel_open {
            adapter.channel_open = true;
            self.actions.push_back(open_channel(channel));
        }
        let mut command = OpenAdapterCommand::with_process(D3dkmtHandle::NULL);
        command.interface_version = self.version;
        command.last_compatible_interface_version = LAST_COMPATIBLE_INTERFACE_VERSION;
        let pending = Pending::new(Expect::OpenAdapter(id), Some(id));
        self.send_vgpu(id, command.as_bytes().to_vec(), pending);
    }

    pub(super) fn on_io_space_reply(&mut self, status: Result<NtStatus, NtStatus>) {
        if matches!(status, Ok(status) if status.is_success()) {
            self.set_global_state(GlobalState::Ready);
            self.try_start_adapters();
        } else {
            self.set_global_state(GlobalState::Failed);
        }
    }

    pub(super) fn on_open_adapter_reply(&mut self, id: AdapterId, reply: Option<OpenAdapterReply>) {
        match reply {
            Some(reply) if reply.status >= 0 && reply.host_adapter.0 != 0 => {
                let Some(adapter) = self.adapters.get_mut(id.0) else {
                    return;
                };
                adapter.host_adapter = reply.host_adapter;
                let command: CommandHeader =
                    new_command(VgpuCommand::GetInternalAdapterInfo, D3dkmtHandle::NULL);
                let pending = Pending::new(Expect::InternalInfo(id), Some(id));
                self.send_vgpu(id, command.as_bytes().to_vec(), pending);
            }
            _ => self.set_adapter_state(id, AdapterState::Stopped),
        }
    }

    pub(super) fn on_internal_info_reply(
        &mut self,
        id: AdapterId,
        reply: Option<InternalAdapterInfoReply>,
    ) {
        let accepted = reply.filter(|reply| {
            let reported = reply.flags & ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED != 0;
            self.accept_async_messaging(id, reported)
        });
        let Some(reply) = accepted else {
            self.set_adapter_state(id, AdapterState::Stopped);
            return;
        };
        let version = self.version;
        let Some(adapter) = self.adapters.get_mut(id.0) else {
            return;
        };
        if version >= INTERFACE_VERSION {
            adapter.vgpu_luid = reply.host_vgpu_luid;
        }
        adapter.info = Some(reply);
        self.set_adapter_state(id, AdapterState::Active);
    }

    /// Applies an adapter's async-message flag to the VM-wide one. Linux's dxgkrnl keeps one
    /// VM-wide flag and lets each GETINTERNALADAPTERINFO overwrite it
    /// (`dxgglobal->async_msg_enabled` in `dxgvmb_send_get_internal_adapter_info`,
    /// microsoft/WSL2-Linux-Kernel drivers/hv/dxgkrnl/dxgvmbus.c), so the last adapter decides
    /// silently and the routing of every adapter's traffic changes under it. Here the first
    /// adapter to answer fixes the flag for the VM; a later adapter that disagrees is refused
    /// (logged as [`ProtocolError::AsyncMessagingMismatch`]) because its traffic could not be
    /// routed as it expects without re-routing everyone else's.
    fn accept_async_messaging(&mut self, id: AdapterId, reported: bool) -> bool {
        match self.async_messaging {
            None => {
                self.async_messaging = Some(reported);
                true
            }
            Some(fixed) if fixed == reported => true,
            Some(_) => {
                self.protocol_error(ProtocolError::AsyncMessagingMismatch {
                    adapter: id,
                    reported,
                });
                false
            }
        }
    }

    /// CLOSEADAPTER was answered (or is not sent): closes the adapter's channel if it is open.
    pub(super) fn on_close_adapter_reply(&mut self, id: AdapterId) {
        let Some(adapter) = self.adapters.get_mut(id.0) else {
            return;
        };
        if adapter.channel_open {
            adapter.channel_open = false;
            let channel = ChannelId::Vgpu(adapter.channel_instance);
            self.actions.push_back(Action::CloseChannel(channel));
        }
    }

    pub(super) fn next_transaction(&mut self, channel: ChannelId) -> u64 {
        let counter = match channel {
            ChannelId::Global => self
                .global
                .as_mut()
                .map(|global| &mut global.next_transaction),
            ChannelId::Vgpu(instance) => self
                .adapters
                .iter_mut()
                .rev()
                .find(|adapter| adapter.channel_instance == instance)
                .map(|adapter| &mut adapter.next_transaction),
        };
        match counter {
            Some(counter) => {
                let id = *counter;
                *counter = counter.wrapping_add(1).max(1);
                id
            }
            None => 1,
        }
    }

    /// Whether the global channel is ready for commands.
    pub fn global_ready(&self) -> bool {
        matches!(
            self.global.as_ref().map(|global| global.state),
            Some(GlobalState::Ready)
        )
    }

    /// The registered IO space (base, length), once known.
    pub fn io_space(&self) -> Option<(u64, u64)> {
        self.global.as_ref().and_then(|global| global.io_space)
    }
}

/// The action that opens a dxg channel with the guest's ring and packet sizes.
fn open_channel(channel: ChannelId) -> Action {
    Action::OpenChannel {
        channel,
        ring_bytes: RING_BUFFER_BYTES,
        max_packet_bytes: MAX_INCOMING_PACKET,
    }
}
