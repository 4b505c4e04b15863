//! The real guest stack over the real host stack, in one process: the `hyperv` SynIC client
//! and `drivers::vmbus_bus::BusDriver` over `emulator::platform::Loopback`, the dxg `Driver`
//! fed by the channels' rings, against `emulator::services::HostServices` (VMBus server +
//! GPU-PV host). Shared by `tests/dxg_over_vmbus.rs` and `benches/dxg_over_vmbus.rs`.
//!
//! The glue here is what the kernel's dxg task does: route offers to the dxg core, open the
//! channels it asks for on ring memory from guest RAM, write its packets into the outbound
//! ring (signalling when the ring says so, waiting on pending_send_sz when full), read the
//! inbound ring on every signal (completions → `PacketKind::Completion`, in-band →
//! `PacketKind::InBand`), and allocate the IO space from guest RAM.
//!
//! [`Stack::new`] feeds the PCI probe from the emulated vGPU's config words directly;
//! [`Stack::over_virtual_pci`] finds the GPU-PV functions on the host's vPCI buses instead
//! (`super::vpci_guest`, what the kernel's vPCI task does) and probes them through their
//! buses' config windows.

#![allow(dead_code)]

use super::vpci_guest::{ServicesMmio, VPCI_SUBSCRIBER, VpciGuest};
use drivers::deadlines::Deadlines;
use drivers::vmbus_bus::{
    BusDriver, BusError, BusRequest, ChannelRings, DriverEvent, InterruptOutcome, RetryClock,
    RingMemory,
};
use drivers::vpci::ConfigWindow;
use dxg::core::{
    Action, ChannelId, Driver, DriverConfig, OutgoingPacket, PacketKind, ProcessId, ProtocolError,
    Reply, Request, Ticket,
};
use dxg::wire::{NtStatus, PCI_DEVICE_VIRTUAL_RENDER};
use emulator::platform::{HostConfig, Loopback, LoopbackBackend, SynicHost};
use emulator::services::{HostServices, SharedHostServices};
use emulator::vmbus_server::ServerConfig;
use hyperv::memory::AtomicMemory;
use hyperv::mmio::{MmioGaps, MmioRange};
use hyperv::platform::BumpPageAllocator;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use vmbus::client::SubscriberId;
use vmbus::guid::class;
use vmbus::ring::{OutgoingPacket as RingPacket, PacketType, RingError};

/// Guest memory.
pub type Memory = Arc<AtomicMemory>;

/// Guest RAM size.
pub const MEMORY_BYTES: usize = 48 << 20;
/// SynIC pages come from here.
const SYNIC_PAGES: (u64, u64) = (0x10_0000, 0x20_0000);
/// Ring memory starts here.
const RING_BASE: u64 = 0x20_0000;
/// The IO space (in guest RAM, as under QEMU) starts here (64 KiB aligned).
pub const IO_SPACE_BASE: u64 = 0x100_0000;
const VECTOR: u8 = 0xF3;
const SUBSCRIBER: SubscriberId = SubscriberId(7);

/// A clock for the bus's post retries and time bounds that advances exactly by the time
/// waited, or when the test moves it (no real sleeping; tests never depend on wall-clock
/// time). Clones share the time.
#[derive(Debug, Default, Clone)]
pub struct SteppingClock {
    now: Arc<AtomicU64>,
}

impl SteppingClock {
    /// Moves the time on by `microseconds`.
    pub fn advance(&self, microseconds: u64) {
        self.now.fetch_add(microseconds, Ordering::Relaxed);
    }

    /// The time now.
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

impl RetryClock for SteppingClock {
    fn now_microseconds(&mut self) -> u64 {
        self.now()
    }

    fn wait_microseconds(&mut self, microseconds: u64) {
        self.advance(microseconds);
    }
}

/// How long the vPCI glue lets a bus take to come up (the kernel's vPCI task uses the same
/// bound, `host_waits::VPCI_BRING_UP_MILLISECONDS`).
pub const VPCI_BRING_UP_MICROSECONDS: u64 = 30_000_000;

/// How long the glue lets the host take to answer a dxg request (the kernel's dxg task uses
/// the same bound, `REPLY_MILLISECONDS`).
pub const REPLY_MICROSECONDS: u64 = 30_000_000;

struct GuestChannel {
    id: ChannelId,
    rings: Option<ChannelRings<Memory>>,
    queued: VecDeque<OutgoingPacket>,
    closing: bool,
}

/// Guest + host.
pub struct Stack {
    /// The platform loopback (SynIC host, guest memory).
    pub loopback: Loopback,
    /// The host services (shared with the loopback's handler).
    pub services: SharedHostServices<Memory>,
    /// The guest bus driver.
    pub bus: BusDriver<LoopbackBackend, Memory>,
    /// The guest dxg core.
    pub driver: Driver,
    channels: BTreeMap<u32, GuestChannel>,
    next_ring_gpa: u64,
    buffer: Vec<u8>,
    /// Finished requests.
    pub completions: BTreeMap<Ticket, Result<Reply, NtStatus>>,
    /// Protocol errors the dxg core reported.
    pub protocol_errors: Vec<ProtocolError>,
    /// Other dxg actions (adapter state changes, …).
    pub events: Vec<Action>,
    /// While true, the guest writes packets but does not signal the host (to keep requests
    /// in flight).
    pub hold_signals: bool,
    /// The guest's vPCI driver ([`Stack::over_virtual_pci`]).
    pub vpci: Option<VpciGuest>,
    /// How many of the vPCI driver's GPU-PV functions were probed.
    probed: usize,
    /// Bus errors seen while polling ([`Stack::hostile`] records them; the other stacks
    /// treat any as a test failure).
    pub bus_errors: Vec<BusError>,
    tolerate_bus_errors: bool,
    /// The clock the bus times its waits with (and the glue its dxg requests).
    pub clock: SteppingClock,
    /// Deadlines of the dxg transactions waiting for the host.
    replies: Deadlines<(ChannelId, u64)>,
}

impl Stack {
    /// Boots the bus, probes vGPU `0..virtual_gpus` from their config words, and pumps until
    /// the adapters have started.
    pub fn new(virtual_gpus: u8) -> Self {
        let mut stack = Stack::boot(ServerConfig::standard(virtual_gpus));
        for index in 0..usize::from(virtual_gpus) {
            let mut services = stack.services.lock();
            let config = services.gpu().pci_config(index).expect("vGPU");
            stack
                .driver
                .probe_pci_function(index as u32, PCI_DEVICE_VIRTUAL_RENDER, config)
                .expect("probe");
        }
        stack.start_dxg();
        stack
    }

    /// Boots the bus against a host configured by `config`, finds the GPU-PV functions on its
    /// vPCI buses (config windows from `gaps`; the host knows guest RAM is `0..MEMORY_BYTES`),
    /// probes them through their windows, and pumps until the adapters have started.
    pub fn over_virtual_pci(config: ServerConfig, gaps: MmioGaps) -> Self {
        let mut stack = Stack::boot(config);
        stack
            .services
            .lock()
            .set_address_map(&[MmioRange::new(0, MEMORY_BYTES as u64)], None);
        let mut vpci = VpciGuest::new(&gaps, MEMORY_BYTES as u64);
        vpci.subscribe(&mut stack.bus);
        stack.vpci = Some(vpci);
        stack.start_dxg();
        stack
    }

    fn boot(config: ServerConfig) -> Self {
        Self::boot_with(config, |_| {})
    }

    /// Boots with `prepare` applied to the host services before the guest's bus starts.
    fn boot_with(config: ServerConfig, prepare: impl FnOnce(&mut HostServices<Memory>)) -> Self {
        let loopback = Loopback::new(SynicHost::new(HostConfig::default()), MEMORY_BYTES);
        let mut services = HostServices::new(loopback.memory(), config);
        prepare(&mut services);
        loopback.with_host(|host, _| services.register(host));
        let services = SharedHostServices::new(services);
        loopback.set_handler(Box::new(services.clone()));
        let mut pages = BumpPageAllocator::new(SYNIC_PAGES.0, SYNIC_PAGES.1);
        let clock = SteppingClock::default();
        let bus = BusDriver::start(
            loopback.backend(0),
            loopback.memory(),
            &mut pages,
            VECTOR,
            None,
            Box::new(clock.clone()),
        )
        .expect("bus starts");
        Stack {
            loopback,
            services,
            bus,
            driver: Driver::new(DriverConfig::default()),
            channels: BTreeMap::new(),
            next_ring_gpa: RING_BASE,
            buffer: Vec::new(),
            completions: BTreeMap::new(),
            protocol_errors: Vec::new(),
            events: Vec::new(),
            hold_signals: false,
            vpci: None,
            probed: 0,
            bus_errors: Vec::new(),
            tolerate_bus_errors: false,
            clock,
            replies: Deadlines::new(),
        }
    }

    /// Subscribes the dxg core to its channels and pumps until the bus has every offer.
    fn start_dxg(&mut self) {
        for class in [class::DXG_GLOBAL, class::DXG_VIRTUAL_GPU] {
            self.bus_request(BusRequest::Subscribe {
                class,
                subscriber: SUBSCRIBER,
            });
        }
        self.pump();
        assert!(self.bus.is_ready(), "all offers delivered");
    }

    /// Runs the vPCI driver's actions and probes the GPU-PV functions it found since the last
    /// call; returns whether anything happened.
    fn run_virtual_pci(&mut self) -> bool {
        let Some(vpci) = self.vpci.as_mut() else {
            return false;
        };
        let progressed = vpci.run(&mut self.bus);
        let found: Vec<_> = vpci.found[self.probed..].to_vec();
        self.probed += found.len();
        for function in found {
            let mmio = ServicesMmio {
                services: self.services.clone(),
                memory: self.loopback.memory(),
            };
            let mut window = ConfigWindow::new(mmio, function.window).expect("window");
            let result = self.driver.probe_pci_function(
                function.address.as_u32(),
                function.info.device_id,
                &mut window.function(function.info.slot),
            );
            log::debug!("probe of {:#x}: {result:?}", function.address.as_u32());
        }
        progressed
    }

    fn bus_request(&mut self, request: BusRequest) {
        self.bus.handle(SUBSCRIBER, request).expect("bus request");
    }

    fn relid_of(&self, id: ChannelId) -> Option<u32> {
        self.channels
            .iter()
            .find(|(_, channel)| channel.id == id)
            .map(|(relid, _)| *relid)
    }

    /// Moves everything until guest and host are idle.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            if !self.loopback.take_interrupts().is_empty() {
                self.poll_bus();
                progressed = true;
            }
            while let Some(output) = self.bus.poll_output() {
                progressed = true;
                if output.subscriber == VPCI_SUBSCRIBER {
                    if let Some(vpci) = self.vpci.as_mut() {
                        vpci.on_event(output.event, &mut self.bus);
                    }
                } else {
                    self.on_bus_event(output.event);
                }
            }
            if let Some(vpci) = self.vpci.as_mut() {
                vpci.set_now(self.clock.now());
            }
            progressed |= self.run_virtual_pci();
            while let Some(action) = self.driver.poll_action() {
                progressed = true;
                self.on_action(action);
            }
            if progressed {
                continue;
            }
            // The host's periodic poll (drains rings nobody signalled for).
            if self.hold_signals {
                break;
            }
            self.loopback.poll();
            let interrupts = self.loopback.take_interrupts();
            if interrupts.is_empty() {
                break;
            }
            self.poll_bus();
        }
    }

    /// Polls the bus as the kernel's bus task does: again while it says more may be waiting.
    fn poll_bus(&mut self) {
        loop {
            match self.bus.on_interrupt() {
                Ok(InterruptOutcome::MorePending) => {}
                Ok(_) => return,
                Err(error) if self.tolerate_bus_errors => {
                    self.bus_errors.push(error);
                    return;
                }
                Err(error) => panic!("bus interrupt: {error:?}"),
            }
        }
    }

    fn on_bus_event(&mut self, event: DriverEvent<Memory>) {
        match event {
            DriverEvent::Offer(offer) => {
                let id = if offer.class == class::DXG_GLOBAL {
                    ChannelId::Global
                } else {
                    ChannelId::Vgpu(offer.instance)
                };
                self.channels.insert(
                    offer.relid,
                    GuestChannel {
                        id,
                        rings: None,
                        queued: VecDeque::new(),
                        closing: false,
                    },
                );
                match id {
                    ChannelId::Global => self
                        .driver
                        .global_channel_offered(u32::from(offer.mmio_megabytes)),
                    ChannelId::Vgpu(instance) => self.driver.vgpu_channel_offered(instance),
                }
            }
            DriverEvent::Opened { relid, result } => match result {
                Ok(rings) => {
                    if let Some(channel) = self.channels.get_mut(&relid) {
                        channel.rings = Some(*rings);
                    }
                    self.flush(relid);
                }
                Err(failure) => {
                    log::warn!("open of {relid} failed: {failure:?}");
                    if let Some(channel) = self.channels.get(&relid) {
                        self.driver.channel_open_failed(channel.id);
                    }
                }
            },
            DriverEvent::Signalled { relid } => {
                self.drain(relid);
                self.flush(relid);
            }
            DriverEvent::Rescinded { relid } => {
                let Some(channel) = self.channels.get(&relid) else {
                    return;
                };
                let was_open = channel.rings.is_some();
                match channel.id {
                    ChannelId::Global => self.driver.global_channel_rescinded(),
                    ChannelId::Vgpu(instance) => self.driver.vgpu_channel_rescinded(instance),
                }
                // The dxg core stops using a rescinded vGPU channel without asking to close
                // it; the glue closes it (the bus then releases the relid).
                if was_open {
                    self.close(relid);
                } else {
                    self.channels.remove(&relid);
                }
            }
            DriverEvent::Closed { relid } => {
                self.channels.remove(&relid);
            }
        }
    }

    /// Carries out one dxg action (what the kernel task does with it).
    pub fn on_action(&mut self, action: Action) {
        match action {
            Action::OpenChannel {
                channel,
                ring_bytes,
                ..
            } => {
                let relid = self.relid_of(channel).expect("offered channel");
                let bytes = u64::from(ring_bytes) + 4096;
                let gpa = self.next_ring_gpa;
                self.next_ring_gpa += 2 * bytes;
                assert!(self.next_ring_gpa <= IO_SPACE_BASE, "ring memory exhausted");
                self.bus_request(BusRequest::Open {
                    relid,
                    rings: RingMemory {
                        gpa,
                        outbound_bytes: bytes,
                        inbound_bytes: bytes,
                    },
                    user_data: [0; 120],
                });
            }
            Action::CloseChannel(channel) => {
                if let Some(relid) = self.relid_of(channel) {
                    self.close(relid);
                }
            }
            Action::AllocateIoSpace { bytes, alignment } => {
                assert!(IO_SPACE_BASE.is_multiple_of(alignment));
                assert!(
                    IO_SPACE_BASE + bytes <= MEMORY_BYTES as u64,
                    "IO space in RAM"
                );
                self.driver.io_space_allocated(IO_SPACE_BASE, bytes);
            }
            Action::FreeIoSpace { .. } => {}
            Action::Send(packet) => {
                let Some(relid) = self.relid_of(packet.channel) else {
                    panic!("send on a channel never offered: {:?}", packet.channel);
                };
                if packet.completion_requested {
                    self.replies.start(
                        (packet.channel, packet.transaction_id),
                        self.clock.now(),
                        REPLY_MICROSECONDS,
                    );
                }
                if let Some(channel) = self.channels.get_mut(&relid) {
                    channel.queued.push_back(packet);
                }
                self.flush(relid);
            }
            Action::Complete { ticket, result } => {
                self.completions.insert(ticket, result);
            }
            Action::ProtocolError(error) => self.protocol_errors.push(error),
            other => self.events.push(other),
        }
    }

    fn close(&mut self, relid: u32) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        if channel.closing {
            return;
        }
        channel.closing = true;
        channel.queued.clear();
        channel.rings = None;
        self.bus_request(BusRequest::Close { relid });
    }

    /// Writes queued packets of `relid` into its outbound ring.
    fn flush(&mut self, relid: u32) {
        let mut signal = false;
        if let Some(GuestChannel {
            rings: Some(rings),
            queued,
            ..
        }) = self.channels.get_mut(&relid)
        {
            while let Some(packet) = queued.front() {
                let ring_packet = RingPacket::in_band(
                    packet.transaction_id,
                    packet.completion_requested,
                    &packet.bytes,
                );
                match rings.outbound.send(&ring_packet) {
                    Ok(needs_signal) => {
                        signal |= needs_signal;
                        queued.pop_front();
                    }
                    Err(RingError::Full { needed }) => {
                        if rings.outbound.wait_for_space(needed).expect("ring") {
                            continue;
                        }
                        break;
                    }
                    Err(error) => panic!("outbound ring: {error}"),
                }
            }
        }
        if signal && !self.hold_signals {
            self.bus_request(BusRequest::Signal { relid });
        }
    }

    /// Reads every packet of `relid`'s inbound ring into the dxg core.
    fn drain(&mut self, relid: u32) {
        let Some(GuestChannel {
            id,
            rings: Some(rings),
            ..
        }) = self.channels.get_mut(&relid)
        else {
            return;
        };
        let id = *id;
        let mut received = Vec::new();
        while let Some(packet) = rings.inbound.read_packet(&mut self.buffer).expect("ring") {
            let kind = if packet.packet_type == PacketType::COMPLETION {
                PacketKind::Completion
            } else {
                PacketKind::InBand
            };
            received.push((
                kind,
                packet.transaction_id,
                packet.payload(&self.buffer).to_vec(),
            ));
        }
        let signal = rings.inbound.commit().expect("ring");
        for (kind, transaction_id, payload) in received {
            if kind == PacketKind::Completion {
                self.replies.finish(&(id, transaction_id));
            }
            self.driver.receive(id, kind, transaction_id, &payload);
        }
        if signal {
            self.bus_request(BusRequest::Signal { relid });
        }
    }

    /// Submits a request and pumps; `None` if it has not completed.
    pub fn try_call(
        &mut self,
        process: ProcessId,
        request: Request,
    ) -> Option<Result<Reply, NtStatus>> {
        let ticket = self.driver.submit(process, request);
        self.pump();
        self.completions.remove(&ticket)
    }

    /// Lets every bounded wait for the host run out, as the kernel's tasks do when their
    /// deadlines pass: moves the clock past the longest bound, lets the bus end its late
    /// waits, fails the dxg requests the host has not answered (STATUS_IO_TIMEOUT), and pumps.
    pub fn expire_waits(&mut self) {
        let longest = self
            .bus
            .time_bounds()
            .longest_microseconds()
            .max(REPLY_MICROSECONDS);
        self.clock.advance(longest + 1);
        self.bus.check_time_bounds();
        for (channel, transaction_id) in self.replies.take_expired(self.clock.now()) {
            self.driver
                .abandon_transaction(channel, transaction_id, NtStatus::IO_TIMEOUT);
        }
        if let Some(vpci) = self.vpci.as_mut() {
            vpci.expire_waits(self.clock.now(), VPCI_BRING_UP_MICROSECONDS);
        }
        self.pump();
    }

    /// Submits a request and pumps; "not completed" is a test failure.
    pub fn call(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus> {
        self.try_call(process, request).expect("request completed")
    }

    /// Sends the guest's pending signals (after [`Stack::hold_signals`]).
    pub fn release_signals(&mut self) {
        self.hold_signals = false;
        let relids: Vec<u32> = self.channels.keys().copied().collect();
        for relid in relids {
            if self.channels[&relid].rings.is_some() {
                self.bus_request(BusRequest::Signal { relid });
            }
        }
        self.pump();
    }
}

/// For the hostile-host suite (`tests/hostile_host.rs`): a stack whose host rewrites its
/// traffic through `hook` from the first message on, and whose boot is not required to
/// succeed.
impl Stack {
    /// As [`Stack::over_virtual_pci`], with `hook` installed in the VMBus server before the
    /// guest connects; pumps until idle without requiring the bus to be ready (a hostile host
    /// may keep it from ever becoming so).
    pub fn hostile(
        config: ServerConfig,
        gaps: MmioGaps,
        hook: Box<dyn emulator::vmbus_server::OutgoingHook>,
    ) -> Self {
        let mut stack = Self::boot_with(config, |services| {
            services.server().set_outgoing_hook(Some(hook));
            services.set_address_map(&[MmioRange::new(0, MEMORY_BYTES as u64)], None);
        });
        stack.tolerate_bus_errors = true;
        let mut vpci = VpciGuest::new(&gaps, MEMORY_BYTES as u64);
        vpci.subscribe(&mut stack.bus);
        stack.vpci = Some(vpci);
        for class in [class::DXG_GLOBAL, class::DXG_VIRTUAL_GPU] {
            stack.bus_request(BusRequest::Subscribe {
                class,
                subscriber: SUBSCRIBER,
            });
        }
        stack.pump();
        stack
    }

    /// The dxg channels the glue holds open (rings attached).
    pub fn open_guest_channels(&self) -> usize {
        self.channels
            .values()
            .filter(|channel| channel.rings.is_some())
            .count()
    }
}
