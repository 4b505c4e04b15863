//! The host services behind the emulated SynIC: the VMBus server and the device models behind
//! its channels, wired to `SynicHost` as a [`HostEventHandler`].
//!
//! The link (QEMU's COM2 socket, or the in-process loopback) turns the guest's hypercalls into
//! [`HostEvent`]s; [`HostServices`] feeds them to the VMBus server, runs the service channels
//! (the GPU-PV host, later virtual PCI) and delivers what comes out: control messages into the
//! guest's SynIC message slot (SINT 2), channel signals as event flags.
//!
//! Wiring of the GPU-PV host ([`GpuHost`]):
//! - the dxg global channel (class `DDE9CBC0…`) is [`vgpu::HostChannel::Global`]; host→guest
//!   notifications (SIGNALGUESTEVENT, SETGUESTDATA) go out on it as in-band packets with
//!   transaction id 0 and no completion requested;
//! - each vGPU channel (class `6E382D18…`) is [`vgpu::HostChannel::Vgpu`]`(i)`, `i` being the
//!   vGPU whose PCI config carries that channel's instance GUID (vGPUs are created from the
//!   server configuration, in offer order);
//! - every guest packet that asked for a completion is answered by a completion packet with
//!   the request's transaction id on the channel it came on.
//! - The IO space the guest announces with SETIOSPACEREGION is read and written through the
//!   same guest memory as the rings: under QEMU the kernel allocates it from its RAM (on
//!   Hyper-V it is part of the VMBus MMIO range, backed by the host).
//! - GPADLs the guest creates on the global channel are made known to the GPU-PV host
//!   ([`GpuHost::register_gpadl`]) with their page frames, and forgotten when the VMBus server
//!   forgets them (GPADL_TEARDOWN, a teardown deferred to CLOSECHANNEL, a new connection or
//!   UNLOAD): SETEXISTINGSYSMEMSTORE names such a GPADL (Linux establishes the store's GPADL
//!   on the global channel and sends the command on the vGPU channel). Only GPADLs of whole,
//!   page-aligned ranges are registered (a store backs whole pages). GPADLs of other channels
//!   (rings, vGPU channels) are not.
//!
//! Virtual PCI: [`HostServices::new`] attaches a `vpci::VpciHost` carrying vGPU 0's GPU-PV
//! function ([`VirtualPciService`]) when the configuration offers a vPCI channel and a vGPU:
//! the vPCI channel becomes a service channel and trapped MMIO (the config window) goes to
//! it; the guest's writes of the interface version and caps are copied into the GPU-PV host.
//! Without a vGPU the vPCI channel stays passive and MMIO is unhandled.

use crate::platform::{HostEvent, HostEventHandler, PostFaults, SynicHost};
use crate::vgpu::{self, GpuHost, HostOutput, VgpuDescription, VgpuPciConfig};
use crate::vmbus_server::{
    CHANNEL_CONNECTION_ID_BASE, ChannelService, DeviceKind, GpadlEvent, ReplyKind, Server,
    ServerConfig, ServerError, ServerOutput, ServicePacket, ServiceReply,
};
use hyperv::memory::GuestMemory;
use hyperv::synic::{MessageType, VMBUS_SINT};
use std::sync::{Arc, Mutex, MutexGuard};
use vmbus::guid::class;
use vmbus::ring::PacketType;
use vmbus::version::{MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_MULTICLIENT};

/// Host vGPU LUID of vGPU `index` (what GETINTERNALADAPTERINFO and the PCI config report;
/// distinct from the adapter LUID, which is the first 8 bytes of the channel instance GUID).
pub fn host_vgpu_luid(index: usize) -> u64 {
    0x0D0C_5000 + index as u64
}

/// The virtual PCI host as the services need it (implemented over `emulator::vpci` when it is
/// wired): the vPCI channel's packets and the trapped config-window accesses.
pub trait VirtualPciService: Send {
    /// A guest packet on the vPCI channel.
    fn receive(&mut self, packet: ServicePacket<'_>);
    /// The next packet for the guest on the vPCI channel: kind, transaction id, payload.
    fn poll_packet(&mut self) -> Option<(ReplyKind, u64, Vec<u8>)>;
    /// The guest closed the vPCI channel (or unloaded VMBus): the bus starts afresh (version
    /// negotiation, D0 entry, resources) on the next open, as a real host's does.
    fn channel_closed(&mut self);
    /// A trapped MMIO read; `None` if `gpa` is not in the config window.
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Option<u64>;
    /// A trapped MMIO write; `false` if `gpa` is not in the config window.
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> bool;
    /// The config words of the GPU-PV function behind vGPU `index` as the guest left them
    /// (the services copy the guest's version and caps writes into the [`GpuHost`], which
    /// needs the written version to know whether commands carry the extension header).
    fn vgpu_config(&self, index: usize) -> Option<VgpuPciConfig>;
}

/// The device models behind the service channels, and which relid is which.
pub struct Devices<M: GuestMemory> {
    gpu: GpuHost<M>,
    global_relid: Option<u32>,
    /// Relid of vGPU `i`'s channel.
    vgpu_relids: Vec<u32>,
    vpci: Option<Box<dyn VirtualPciService>>,
    vpci_relid: Option<u32>,
    dropped_packets: u64,
}

impl<M: GuestMemory> Devices<M> {
    fn channel_of(&self, relid: u32) -> Option<vgpu::HostChannel> {
        if Some(relid) == self.global_relid {
            return Some(vgpu::HostChannel::Global);
        }
        self.vgpu_relids
            .iter()
            .position(|candidate| *candidate == relid)
            .map(vgpu::HostChannel::Vgpu)
    }

    fn relid_of(&self, channel: vgpu::HostChannel) -> Option<u32> {
        match channel {
            vgpu::HostChannel::Global => self.global_relid,
            vgpu::HostChannel::Vgpu(index) => self.vgpu_relids.get(index).copied(),
        }
    }

    /// Mirrors a change of the VMBus server's GPADL table into the GPU-PV host (global channel
    /// GPADLs of whole pages only, see the module documentation).
    fn gpadl_changed(&mut self, event: GpadlEvent) {
        match event {
            GpadlEvent::Created {
                relid,
                gpadl,
                ranges,
            } if Some(relid) == self.global_relid => {
                if ranges.iter().all(|range| range.is_page_aligned()) {
                    let frames = ranges.into_iter().flat_map(|range| range.pfns).collect();
                    self.gpu.register_gpadl(gpadl, frames);
                } else {
                    log::debug!(
                        "host services: GPADL {gpadl:#x} is not whole pages; not usable as a sysmem store"
                    );
                }
            }
            GpadlEvent::Removed { relid, gpadl } if Some(relid) == self.global_relid => {
                self.gpu.unregister_gpadl(gpadl);
            }
            _ => {}
        }
    }
}

impl<M: GuestMemory> ChannelService for Devices<M> {
    fn receive(&mut self, packet: ServicePacket<'_>) {
        if Some(packet.relid) == self.vpci_relid
            && let Some(vpci) = self.vpci.as_mut()
        {
            vpci.receive(packet);
            return;
        }
        let Some(channel) = self.channel_of(packet.relid) else {
            self.dropped_packets += 1;
            log::debug!(
                "host services: packet on channel {} nobody serves",
                packet.relid
            );
            return;
        };
        if packet.packet_type != PacketType::DATA_IN_BAND {
            // dxg guests send only in-band packets (they never complete host notifications).
            self.dropped_packets += 1;
            log::debug!(
                "host services: {:?} packet on dxg channel {} ignored",
                packet.packet_type,
                packet.relid
            );
            return;
        }
        self.gpu.receive(
            channel,
            packet.transaction_id,
            packet.completion_requested,
            packet.payload,
        );
    }

    fn poll_reply(&mut self) -> Option<ServiceReply> {
        while let Some(output) = self.gpu.poll_output() {
            let reply = match output {
                HostOutput::Completion {
                    channel,
                    transaction_id,
                    bytes,
                } => self
                    .relid_of(channel)
                    .map(|relid| ServiceReply::completion(relid, transaction_id, bytes)),
                HostOutput::Notification(bytes) => self
                    .global_relid
                    .map(|relid| ServiceReply::notification(relid, bytes)),
            };
            match reply {
                Some(reply) => return Some(reply),
                None => self.dropped_packets += 1,
            }
        }
        let relid = self.vpci_relid?;
        let (kind, transaction_id, bytes) = self.vpci.as_mut()?.poll_packet()?;
        Some(ServiceReply {
            relid,
            kind,
            transaction_id,
            bytes,
        })
    }
}

/// The emulated host's services over guest memory `M`.
pub struct HostServices<M: GuestMemory + Clone> {
    server: Server<M>,
    devices: Devices<M>,
    memory: M,
    device_count: u32,
    delivery_failures: u64,
}

impl<M: GuestMemory + Clone> HostServices<M> {
    /// Services over `memory` with the VMBus server configured by `config`. The GPU-PV host
    /// gets the global channel's `mmio_megabytes` and one vGPU per vGPU channel in `config`
    /// (PCI config: that channel's instance GUID, host vGPU LUID [`host_vgpu_luid`]`(i)`).
    pub fn new(memory: M, config: ServerConfig) -> Self {
        let device_count = config.devices.len() as u32;
        let mut global_relid = None;
        let mut mmio_megabytes = 0;
        let mut descriptions = Vec::new();
        let mut vgpu_relids = Vec::new();
        let mut vpci_relid = None;
        for (index, device) in config.devices.iter().enumerate() {
            let relid = index as u32 + 1;
            if device.class == class::DXG_GLOBAL && global_relid.is_none() {
                global_relid = Some(relid);
                mmio_megabytes = u32::from(device.mmio_megabytes);
            } else if device.class == class::DXG_VIRTUAL_GPU {
                let luid = host_vgpu_luid(descriptions.len());
                let mut description = VgpuDescription::new(0, luid);
                description.config.channel_instance = dxg::wire::Guid(device.instance.bytes);
                descriptions.push(description);
                vgpu_relids.push(relid);
            } else if device.class == class::VIRTUAL_PCI && vpci_relid.is_none() {
                vpci_relid = Some(relid);
            }
        }
        let mut gpu = GpuHost::new(memory.clone(), mmio_megabytes);
        for description in descriptions {
            gpu.add_vgpu(description);
        }
        let vpci_function = gpu
            .pci_config(0)
            .map(|config| crate::vpci::VpciFunction::gpu_pv(*config, 1));
        let mut server = Server::new(memory.clone(), config);
        server.report_gpadls();
        let mut services = HostServices {
            server,
            devices: Devices {
                gpu,
                global_relid,
                vgpu_relids,
                vpci: None,
                vpci_relid,
                dropped_packets: 0,
            },
            memory,
            device_count,
            delivery_failures: 0,
        };
        // The vPCI bus carries vGPU 0's GPU-PV function (its config words are vGPU 0's).
        if services.devices.vpci_relid.is_some()
            && let Some(function) = vpci_function
        {
            services.attach_virtual_pci(Box::new(crate::vpci::VpciHost::new(function)));
        }
        services
    }

    /// Registers the connection ids the guest may post to and signal on `host`. Call once,
    /// before the guest runs.
    /// The server's post-failure switches become the SynIC model's [`PostFaults`]; without
    /// connection id 4 (a host below 5.0, or the `no_connection_id_4` switch) only id 1 is
    /// registered.
    pub fn register(&self, host: &mut SynicHost) {
        host.register_message_connection(MESSAGE_CONNECTION_ID);
        if self.server.listens_on_connection_id_4() {
            host.register_message_connection(MESSAGE_CONNECTION_ID_MULTICLIENT);
        }
        let misbehaviour = self.server.misbehaviour();
        host.set_post_faults(PostFaults {
            transient: misbehaviour.transient_post_failures,
            permanent: misbehaviour.permanent_post_failure,
        });
        for relid in 1..=self.device_count {
            host.register_event_connection(CHANNEL_CONNECTION_ID_BASE + relid);
        }
    }

    /// The VMBus server (to rescind, inspect, or set misbehaviour).
    pub fn server(&mut self) -> &mut Server<M> {
        &mut self.server
    }

    /// The GPU-PV host (to inspect, or to feed a PCI probe from its config words).
    pub fn gpu(&mut self) -> &mut GpuHost<M> {
        &mut self.devices.gpu
    }

    /// Tells the device models where RAM and the VMBus MMIO gaps are, so they refuse device
    /// ranges Hyper-V would refuse (an IO space inside RAM or outside the gaps).
    pub fn set_platform_layout(&mut self, layout: crate::platform::PlatformLayout) {
        self.devices.gpu.set_platform_layout(layout);
    }

    /// The relid of vGPU `index`'s channel.
    pub fn vgpu_relid(&self, index: usize) -> Option<u32> {
        self.devices.vgpu_relids.get(index).copied()
    }

    /// The relid of the dxg global channel.
    pub fn global_relid(&self) -> Option<u32> {
        self.devices.global_relid
    }

    /// Installs the virtual PCI host: the vPCI channel (first offer of the vPCI class) becomes
    /// a service channel and trapped MMIO goes to it.
    pub fn attach_virtual_pci(&mut self, vpci: Box<dyn VirtualPciService>) {
        if let Some(relid) = self.devices.vpci_relid {
            self.server.set_device_kind(relid, DeviceKind::Service);
        }
        self.devices.vpci = Some(vpci);
    }

    /// Hot-removes vGPU `index`: rescinds its channel (the guest gets RESCIND_CHANNELOFFER at
    /// the next delivery) and makes the GPU-PV host fail its commands with DEVICE_REMOVED.
    pub fn rescind_vgpu(&mut self, index: usize) -> Result<(), ServerError> {
        let relid = self.vgpu_relid(index).ok_or(ServerError::UnknownRelid(0))?;
        self.devices.gpu.remove_vgpu(index);
        self.server.rescind(relid)
    }

    /// Messages or flags the SynIC refused to deliver (logged).
    pub fn delivery_failures(&self) -> u64 {
        self.delivery_failures
    }

    /// Guest packets no device model took (non-in-band on dxg channels, unserved channels) and
    /// model outputs for channels that do not exist.
    pub fn dropped_packets(&self) -> u64 {
        self.devices.dropped_packets
    }

    /// Runs the service channels, then delivers the server's outputs through `host`.
    pub fn run(&mut self, host: &mut SynicHost) {
        for relid in self.server.take_closed_channels() {
            if Some(relid) == self.devices.vpci_relid
                && let Some(vpci) = self.devices.vpci.as_mut()
            {
                vpci.channel_closed();
            }
        }
        for event in self.server.take_gpadl_events() {
            self.devices.gpadl_changed(event);
        }
        self.server.run_services(&mut self.devices);
        self.deliver(host);
    }

    fn deliver(&mut self, host: &mut SynicHost) {
        while let Some(output) = self.server.poll_output() {
            let result = match output {
                ServerOutput::Message { target_vp, payload } => host.deliver_message(
                    target_vp,
                    VMBUS_SINT,
                    MessageType::VMBUS,
                    &payload,
                    &self.memory,
                ),
                ServerOutput::SetEventFlag { target_vp, relid } => host
                    .signal_event_flag(target_vp, VMBUS_SINT, relid, &self.memory)
                    .map(|_| ()),
            };
            if let Err(error) = result {
                self.delivery_failures += 1;
                log::warn!("host services: delivery to the guest failed: {error:?}");
            }
        }
    }

    fn sync_vgpu_configs(&mut self) {
        let Some(vpci) = self.devices.vpci.as_ref() else {
            return;
        };
        for index in 0..self.devices.vgpu_relids.len() {
            if let Some(written) = vpci.vgpu_config(index)
                && let Some(config) = self.devices.gpu.pci_config(index)
            {
                config.guest_version = written.guest_version;
                config.guest_caps = written.guest_caps;
            }
        }
    }
}

impl<M: GuestMemory + Clone> HostEventHandler for HostServices<M> {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, _memory: &dyn GuestMemory) {
        let result = match event {
            HostEvent::Message {
                connection_id,
                message_type,
                payload,
                ..
            } => self
                .server
                .on_guest_message(connection_id, message_type.0, &payload),
            HostEvent::Signal { connection_id, .. } => self.server.on_guest_signal(connection_id),
        };
        if let Err(error) = result {
            log::debug!("host services: {error}");
        }
        self.run(host);
    }

    fn poll(&mut self, host: &mut SynicHost, _memory: &dyn GuestMemory) {
        self.run(host);
    }

    fn mmio_read(&mut self, gpa: u64, size: u8, _memory: &dyn GuestMemory) -> Option<u64> {
        self.devices.vpci.as_mut()?.mmio_read(gpa, size)
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64, _memory: &dyn GuestMemory) -> bool {
        let Some(vpci) = self.devices.vpci.as_mut() else {
            return false;
        };
        let handled = vpci.mmio_write(gpa, size, value);
        if handled {
            self.sync_vgpu_configs();
        }
        handled
    }
}

/// [`HostServices`] shared between the link (which owns a boxed handler) and a test or tool
/// that wants to inspect or steer the host meanwhile (rescind a vGPU, read counters).
///
/// Do not hold [`SharedHostServices::lock`]'s guard while the guest makes a hypercall: the
/// handler locks the same mutex.
pub struct SharedHostServices<M: GuestMemory + Clone>(Arc<Mutex<HostServices<M>>>);

impl<M: GuestMemory + Clone> Clone for SharedHostServices<M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<M: GuestMemory + Clone> SharedHostServices<M> {
    /// Shares `services`.
    pub fn new(services: HostServices<M>) -> Self {
        Self(Arc::new(Mutex::new(services)))
    }

    /// Locks the services.
    pub fn lock(&self) -> MutexGuard<'_, HostServices<M>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<M: GuestMemory + Clone> HostEventHandler for SharedHostServices<M> {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, memory: &dyn GuestMemory) {
        self.lock().handle(event, host, memory);
    }

    fn poll(&mut self, host: &mut SynicHost, memory: &dyn GuestMemory) {
        self.lock().poll(host, memory);
    }

    fn mmio_read(&mut self, gpa: u64, size: u8, memory: &dyn GuestMemory) -> Option<u64> {
        self.lock().mmio_read(gpa, size, memory)
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64, memory: &dyn GuestMemory) -> bool {
        self.lock().mmio_write(gpa, size, value, memory)
    }
}
