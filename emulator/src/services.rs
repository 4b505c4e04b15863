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
//! Virtual PCI: every offer of the vPCI class is a bus of its own (its own channel, instance
//! GUID and config-window trap). [`ServerConfig::vpci_buses`] says what each carries, in offer
//! order: vGPU `i`'s GPU-PV function ([`VpciBus::GpuPv`]) or a NIC VF ([`VpciBus::NetworkVf`]);
//! [`HostServices::new`] attaches a `vpci::VpciHost` with that function to each
//! ([`VirtualPciService`]): the channel becomes a service channel, trapped MMIO goes to the bus
//! whose window it hits, and the guest's writes of the interface version and caps to a GPU-PV
//! function are copied into the GPU-PV host. A vPCI offer with nothing listed, or listing a
//! vGPU that does not exist, stays passive. [`HostServices::set_address_map`] tells the buses
//! where guest RAM (and the MMIO gaps) are, so D0 entry refuses a window Hyper-V could not
//! trap.

use crate::integration::{IcHost, IcService, IntegrationConfig};
use crate::platform::{HostEvent, HostEventHandler, PostFaults, SynicHost};
use crate::vgpu::{self, GpuHost, HostOutput, VgpuDescription, VgpuPciConfig};
use crate::vmbus_server::{
    CHANNEL_CONNECTION_ID_BASE, ChannelService, DeviceConfig, DeviceKind, GpadlEvent, ReplyKind,
    Server, ServerConfig, ServerError, ServerOutput, ServicePacket, ServiceReply, VpciBus,
};
use hyperv::memory::GuestMemory;
/// The address ranges [`HostServices::set_address_map`] takes.
pub use hyperv::mmio::{MmioGaps, MmioRange};
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
    /// Where guest RAM and (when known) the VMBus MMIO gaps are: D0 entry refuses a config
    /// window in RAM or outside the gaps.
    fn set_address_map(&mut self, guest_ram: &[MmioRange], gaps: Option<MmioGaps>);
    /// The config words of the bus's GPU-PV function as the guest left them, `None` when the
    /// bus carries no GPU-PV function (the services copy the guest's version and caps writes
    /// into the [`GpuHost`], which needs the written version to know whether commands carry
    /// the extension header).
    fn gpu_pv_config(&self) -> Option<VgpuPciConfig>;
}

/// One vPCI bus of the host: its channel and its model.
struct VirtualPciBus {
    relid: u32,
    /// The vGPU whose function the bus carries, if any.
    vgpu: Option<usize>,
    model: Box<dyn VirtualPciService>,
}

/// The device models behind the service channels, and which relid is which.
pub struct Devices<M: GuestMemory> {
    gpu: GpuHost<M>,
    global_relid: Option<u32>,
    /// Relid of vGPU `i`'s channel.
    vgpu_relids: Vec<u32>,
    /// Relids of the vPCI offers, in offer order.
    vpci_relids: Vec<u32>,
    vpci: Vec<VirtualPciBus>,
    /// The integration services (heartbeat, shutdown, time sync, KVP), when offered.
    integration: IcHost,
    dropped_packets: u64,
}

impl<M: GuestMemory> Devices<M> {
    fn vpci_bus(&mut self, relid: u32) -> Option<&mut VirtualPciBus> {
        self.vpci.iter_mut().find(|bus| bus.relid == relid)
    }

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
        if self.integration.serves(packet.relid) {
            self.integration.receive(packet);
            return;
        }
        if let Some(bus) = self.vpci_bus(packet.relid) {
            bus.model.receive(packet);
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
        if let Some(reply) = self.integration.poll_reply() {
            return Some(reply);
        }
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
        self.vpci.iter_mut().find_map(|bus| {
            let (kind, transaction_id, bytes) = bus.model.poll_packet()?;
            Some(ServiceReply {
                relid: bus.relid,
                kind,
                transaction_id,
                bytes,
            })
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
    /// When the services started: the integration services' clock, and the origin of the
    /// partition reference counter (TIME_REF_COUNT and the 4.0 time samples' reference time).
    started: std::time::Instant,
    /// Progress of [`IntegrationConfig::rescind`].
    rescind_script: RescindScript,
}

/// Where [`IntegrationConfig::rescind`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RescindScript {
    Waiting,
    Rescinded,
    Reoffered,
}

impl<M: GuestMemory + Clone> HostServices<M> {
    /// Services over `memory` with the VMBus server configured by `config`. The GPU-PV host
    /// gets the global channel's `mmio_megabytes` and one vGPU per vGPU channel in `config`
    /// (PCI config: that channel's instance GUID, host vGPU LUID [`host_vgpu_luid`]`(i)`);
    /// each vPCI offer gets the bus [`ServerConfig::vpci_buses`] lists for it.
    pub fn new(memory: M, config: ServerConfig) -> Self {
        let device_count = config.devices.len() as u32;
        let roles = ChannelRoles::of(&config.devices);
        let mut gpu = GpuHost::new(memory.clone(), roles.mmio_megabytes);
        for description in roles.vgpus {
            gpu.add_vgpu(description);
        }
        let vpci_buses = config.vpci_buses.clone();
        let mut server = Server::new(memory.clone(), config);
        server.report_gpadls();
        let mut services = HostServices {
            server,
            devices: Devices {
                gpu,
                global_relid: roles.global_relid,
                vgpu_relids: roles.vgpu_relids,
                vpci_relids: roles.vpci_relids,
                vpci: Vec::new(),
                integration: IcHost::new(IntegrationConfig::default(), &roles.integration),
                dropped_packets: 0,
            },
            memory,
            device_count,
            delivery_failures: 0,
            started: std::time::Instant::now(),
            rescind_script: RescindScript::Waiting,
        };
        services.attach_configured_buses(&vpci_buses);
        services
    }

    /// Attaches a `vpci::VpciHost` to each vPCI offer that `buses` (in offer order) gives a
    /// function whose model exists.
    fn attach_configured_buses(&mut self, buses: &[VpciBus]) {
        let relids = self.devices.vpci_relids.clone();
        for (index, (relid, bus)) in relids.iter().zip(buses).enumerate() {
            let serial_number = index as u32 + 1;
            let (function, vgpu) = match *bus {
                VpciBus::GpuPv(vgpu) => match self.devices.gpu.pci_config(vgpu) {
                    Some(config) => (
                        crate::vpci::VpciFunction::gpu_pv(*config, serial_number),
                        Some(vgpu),
                    ),
                    None => continue,
                },
                VpciBus::NetworkVf => (crate::vpci::VpciFunction::network_vf(serial_number), None),
            };
            let model = Box::new(crate::vpci::VpciHost::new(function));
            self.attach_bus(*relid, vgpu, model);
        }
    }

    fn attach_bus(&mut self, relid: u32, vgpu: Option<usize>, model: Box<dyn VirtualPciService>) {
        self.server.set_device_kind(relid, DeviceKind::Service);
        self.devices.vpci.retain(|bus| bus.relid != relid);
        self.devices.vpci.push(VirtualPciBus { relid, vgpu, model });
    }

    /// Registers the connection ids the guest may post to and signal on `host`. Call once,
    /// before the guest runs.
    /// The server's post-failure switches become the SynIC model's [`PostFaults`]; without
    /// connection id 4 (a host below 5.0, or the `no_connection_id_4` switch) only id 1 is
    /// registered. The host's partition reference counter (MSR TIME_REF_COUNT) becomes the
    /// services' clock, so the reference time in the time-sync samples is read from the same
    /// counter the guest reads, as on Hyper-V (OpenVMM's timesync IC takes both from one
    /// `ReferenceTimeSource`: microsoft/openvmm `vm/devices/hyperv_ic/src/timesync.rs`).
    pub fn register(&self, host: &mut SynicHost) {
        let started = self.started;
        host.set_reference_clock(Box::new(move || reference_time_since(started)));
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

    /// The partition reference counter now: 100 ns units since the services started.
    pub fn reference_time(&self) -> u64 {
        reference_time_since(self.started)
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
        self.set_address_map(&layout.ram, Some(layout.gaps));
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

    /// Installs `vpci` as the bus of the first vPCI offer (replacing the configured one): its
    /// channel becomes a service channel and trapped MMIO in its window goes to it. It stands
    /// for vGPU 0.
    pub fn attach_virtual_pci(&mut self, vpci: Box<dyn VirtualPciService>) {
        if let Some(&relid) = self.devices.vpci_relids.first() {
            self.attach_bus(relid, Some(0), vpci);
        }
    }

    /// Tells every vPCI bus where guest RAM is and, when known, the VMBus MMIO gaps; D0 entry
    /// then refuses a config window in RAM or outside the gaps, as Hyper-V would.
    pub fn set_address_map(&mut self, guest_ram: &[MmioRange], gaps: Option<MmioGaps>) {
        for bus in &mut self.devices.vpci {
            bus.model.set_address_map(guest_ram, gaps);
        }
    }

    /// The relids of the vPCI offers, in offer order.
    pub fn vpci_relids(&self) -> &[u32] {
        &self.devices.vpci_relids
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

    /// The integration services' host side (to inspect, or to change its settings before the
    /// guest opens the channels).
    pub fn integration(&mut self) -> &mut IcHost {
        &mut self.devices.integration
    }

    /// Replaces the integration services' settings (shutdown request, time, faults); call
    /// before the guest runs.
    pub fn set_integration_config(&mut self, config: IntegrationConfig) {
        *self.devices.integration.config_mut() = config;
    }

    /// Rescinds the channel of integration service `service` (a user turning the service off
    /// in Hyper-V Manager).
    pub fn rescind_integration_service(&mut self, service: IcService) -> Result<(), ServerError> {
        let relid = self
            .devices
            .integration
            .relid_of(service)
            .ok_or(ServerError::UnknownRelid(0))?;
        self.devices.integration.set_open(relid, false);
        self.server.rescind(relid)
    }

    /// Offers integration service `service` again after the guest released its rescinded
    /// channel (a user turning the service back on), at the same relid.
    pub fn reoffer_integration_service(&mut self, service: IcService) -> Result<(), ServerError> {
        let relid = self
            .devices
            .integration
            .relid_of(service)
            .ok_or(ServerError::UnknownRelid(0))?;
        self.server.reoffer(relid)
    }

    /// Tells the integration services which of their channels are open and what time it is.
    fn run_integration(&mut self) {
        let relids: Vec<u32> = self.devices.integration.relids().collect();
        for relid in relids {
            let open = self.server.is_open(relid) && !self.server.is_rescinded(relid);
            self.devices.integration.set_open(relid, open);
        }
        // The integration host's reference time is `now` in 100 ns units: the counter
        // `register` gives TIME_REF_COUNT.
        let now = self.started.elapsed();
        self.devices.integration.tick(now);
        self.run_rescind_script(now);
    }

    /// Carries out [`IntegrationConfig::rescind`]: rescind once due, re-offer once released.
    fn run_rescind_script(&mut self, now: std::time::Duration) {
        let Some((service, delay)) = self.devices.integration.config().rescind else {
            return;
        };
        let Some(relid) = self.devices.integration.relid_of(service) else {
            return;
        };
        match self.rescind_script {
            RescindScript::Waiting => {
                let Some(since) = self.devices.integration.ready_since(service) else {
                    return;
                };
                let due = since + delay;
                let outstanding = self.devices.integration.has_outstanding(relid);
                if now >= due && (outstanding || now >= due + std::time::Duration::from_secs(2)) {
                    log::info!("host services: rescinding the {service:?} channel");
                    if self.rescind_integration_service(service).is_ok() {
                        self.rescind_script = RescindScript::Rescinded;
                    }
                }
            }
            RescindScript::Rescinded => {
                if self.reoffer_integration_service(service).is_ok() {
                    log::info!("host services: offered the {service:?} channel again");
                    self.rescind_script = RescindScript::Reoffered;
                }
            }
            RescindScript::Reoffered => {}
        }
    }

    /// Runs the service channels, then delivers the server's outputs through `host`.
    pub fn run(&mut self, host: &mut SynicHost) {
        self.server.advance_clock(self.started.elapsed());
        for relid in self.server.take_closed_channels() {
            if let Some(bus) = self.devices.vpci_bus(relid) {
                bus.model.channel_closed();
            }
            if let Some(channel) = self.devices.channel_of(relid) {
                self.devices.gpu.channel_closed(channel);
            }
            self.devices.integration.set_open(relid, false);
        }
        self.run_integration();
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

    /// Copies the guest's version and caps writes to GPU-PV functions into the GPU-PV host.
    fn sync_vgpu_configs(&mut self) {
        for bus in &self.devices.vpci {
            if let Some(vgpu) = bus.vgpu
                && let Some(written) = bus.model.gpu_pv_config()
                && let Some(config) = self.devices.gpu.pci_config(vgpu)
            {
                config.guest_version = written.guest_version;
                config.guest_caps = written.guest_caps;
            }
        }
    }
}

/// Which configured device is which channel (relids follow the device order from 1).
struct ChannelRoles {
    global_relid: Option<u32>,
    mmio_megabytes: u32,
    vgpus: Vec<VgpuDescription>,
    vgpu_relids: Vec<u32>,
    vpci_relids: Vec<u32>,
    integration: Vec<(u32, IcService)>,
}

impl ChannelRoles {
    fn of(devices: &[DeviceConfig]) -> Self {
        let mut roles = ChannelRoles {
            global_relid: None,
            mmio_megabytes: 0,
            vgpus: Vec::new(),
            vgpu_relids: Vec::new(),
            vpci_relids: Vec::new(),
            integration: Vec::new(),
        };
        for (index, device) in devices.iter().enumerate() {
            let relid = index as u32 + 1;
            if device.class == class::DXG_GLOBAL && roles.global_relid.is_none() {
                roles.global_relid = Some(relid);
                roles.mmio_megabytes = u32::from(device.mmio_megabytes);
            } else if device.class == class::DXG_VIRTUAL_GPU {
                let luid = host_vgpu_luid(roles.vgpus.len());
                let mut description = VgpuDescription::new(0, luid);
                description.config.channel_instance = device.instance;
                roles.vgpus.push(description);
                roles.vgpu_relids.push(relid);
            } else if device.class == class::VIRTUAL_PCI {
                roles.vpci_relids.push(relid);
            } else if let Some(service) = IcService::of_class(device.class)
                && device.kind == DeviceKind::Service
            {
                roles.integration.push((relid, service));
            }
        }
        roles
    }
}

impl<M: GuestMemory + Clone> HostEventHandler for HostServices<M> {
    fn partition_reset(&mut self) {
        self.server.vm_reset();
    }

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

    /// A trapped read goes to the bus whose config window holds `gpa`.
    fn mmio_read(&mut self, gpa: u64, size: u8, _memory: &dyn GuestMemory) -> Option<u64> {
        self.devices
            .vpci
            .iter_mut()
            .find_map(|bus| bus.model.mmio_read(gpa, size))
    }

    /// A trapped write goes to the bus whose config window holds `gpa`.
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64, _memory: &dyn GuestMemory) -> bool {
        let handled = self
            .devices
            .vpci
            .iter_mut()
            .any(|bus| bus.model.mmio_write(gpa, size, value));
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
    fn partition_reset(&mut self) {
        self.lock().partition_reset();
    }

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

/// 100 ns units since `started` (the partition reference counter's unit).
fn reference_time_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos() / 100).unwrap_or(u64::MAX)
}
