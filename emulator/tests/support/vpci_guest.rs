//! The guest's virtual PCI side for [`super::guest_stack::Stack`]: what the kernel's vPCI task
//! does, over the same bus driver: `drivers::vpci::VpciBuses` on every vPCI channel, each
//! bus's config window allocated from the VMBus MMIO gaps (`hyperv::mmio::MmioAllocator`,
//! high gap first), the channels' rings in guest RAM, and the config-space accesses trapped by
//! the host services as the link would deliver them.

use drivers::vmbus_bus::{BusDriver, BusRequest, ChannelRings, DriverEvent, RingMemory};
use drivers::vpci::wire::{CONFIG_WINDOW_ALIGNMENT, CONFIG_WINDOW_SIZE};
use drivers::vpci::{BusesAction, GpuFunction, OutboundMessage, VpciBuses};
use emulator::platform::{HostEventHandler, LoopbackBackend};
use emulator::services::SharedHostServices;
use hyperv::mmio::{MmioAllocator, MmioGaps, Placement};
use hyperv::platform::{MmioAccess, PlatformError};
use std::collections::{BTreeMap, VecDeque};
use vmbus::client::SubscriberId;
use vmbus::guid::{Guid, class};
use vmbus::ring::RingError;

use super::guest_stack::Memory;

/// The vPCI driver's id on the bus.
pub const VPCI_SUBSCRIBER: SubscriberId = SubscriberId(8);
/// vPCI rings live from here (clear of the dxg rings and the IO space).
const RING_BASE: u64 = 0x280_0000;
/// Pages per ring direction, control page included.
const RING_PAGES: u64 = 4;

/// A `hvdiag: config window` line's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowReport {
    /// The bus (channel instance).
    pub instance: Guid,
    /// The window announced.
    pub window: u64,
    /// BUS_D0ENTRY's completion status.
    pub status: u32,
}

/// Config-space MMIO delivered to the host services, as the emulated link does.
pub struct ServicesMmio {
    /// The host services.
    pub services: SharedHostServices<Memory>,
    /// Guest memory (the handler's signature wants it).
    pub memory: Memory,
}

impl MmioAccess for ServicesMmio {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        self.services
            .lock()
            .mmio_read(gpa, size, &self.memory)
            .ok_or(PlatformError::UnhandledMmio { gpa })
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        if self
            .services
            .lock()
            .mmio_write(gpa, size, value, &self.memory)
        {
            Ok(())
        } else {
            Err(PlatformError::UnhandledMmio { gpa })
        }
    }
}

struct Channel {
    rings: Option<ChannelRings<Memory>>,
    queued: VecDeque<OutboundMessage>,
}

/// The guest's vPCI driver.
pub struct VpciGuest {
    /// The buses.
    pub buses: VpciBuses,
    /// The MMIO pool the windows come from.
    pub mmio: MmioAllocator,
    /// The window each live bus got, by relid.
    pub windows: BTreeMap<u32, u64>,
    /// The `config window` report lines, in order.
    pub reports: Vec<WindowReport>,
    /// Every GPU-PV function handed on.
    pub found: Vec<GpuFunction>,
    channels: BTreeMap<u32, Channel>,
    next_ring_gpa: u64,
    ring_limit: u64,
    buffer: Vec<u8>,
    /// The stack's clock (microseconds), as last told ([`VpciGuest::set_now`]).
    now: u64,
}

impl VpciGuest {
    /// A driver taking windows from `gaps`, rings from guest RAM below `ring_limit`.
    pub fn new(gaps: &MmioGaps, ring_limit: u64) -> Self {
        VpciGuest {
            buses: VpciBuses::new(),
            mmio: MmioAllocator::new(gaps).expect("valid gaps"),
            windows: BTreeMap::new(),
            reports: Vec::new(),
            found: Vec::new(),
            channels: BTreeMap::new(),
            next_ring_gpa: RING_BASE,
            ring_limit,
            buffer: Vec::new(),
            now: 0,
        }
    }

    /// The stack's clock now (bring-ups are timed from it).
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Ends the bring-ups the host left unanswered for `bound` (as the kernel's vPCI task
    /// does at its deadline).
    pub fn expire_waits(&mut self, now: u64, bound: u64) {
        self.now = now;
        self.buses.end_late_bring_ups(now, bound);
    }

    /// Subscribes to vPCI offers.
    pub fn subscribe(&mut self, bus: &mut BusDriver<LoopbackBackend, Memory>) {
        request(
            bus,
            BusRequest::Subscribe {
                class: class::VIRTUAL_PCI,
                subscriber: VPCI_SUBSCRIBER,
            },
        );
    }

    /// One bus-driver event for the vPCI driver.
    pub fn on_event(
        &mut self,
        event: DriverEvent<Memory>,
        bus: &mut BusDriver<LoopbackBackend, Memory>,
    ) {
        match event {
            DriverEvent::Offer(offer) if offer.class == class::VIRTUAL_PCI => {
                let window = self
                    .mmio
                    .allocate(
                        CONFIG_WINDOW_SIZE,
                        CONFIG_WINDOW_ALIGNMENT,
                        Placement::HighFirst,
                    )
                    .expect("room for a config window");
                self.buses
                    .add_bus(offer.relid, offer.instance, window)
                    .expect("bus added");
                self.windows.insert(offer.relid, window);
            }
            DriverEvent::Offer(_) => {}
            DriverEvent::Opened { relid, result } => {
                let opened = result.is_ok();
                if let (Ok(rings), Some(channel)) = (result, self.channels.get_mut(&relid)) {
                    channel.rings = Some(*rings);
                }
                self.buses.opened(relid, opened);
                if opened {
                    self.buses.bring_up_started(relid, self.now);
                }
            }
            DriverEvent::Signalled { relid } => {
                self.drain(relid, bus);
                self.flush(relid, bus);
            }
            DriverEvent::Rescinded { relid } => self.buses.rescinded(relid),
            DriverEvent::Closed { relid } => {
                self.channels.remove(&relid);
                self.buses.closed(relid);
            }
        }
    }

    /// Carries out the buses' actions; returns whether anything happened.
    pub fn run(&mut self, bus: &mut BusDriver<LoopbackBackend, Memory>) -> bool {
        let mut progressed = false;
        while let Some(action) = self.buses.poll_action() {
            progressed = true;
            match action {
                BusesAction::Open { relid } => self.open(relid, bus),
                BusesAction::Send { relid, message } => {
                    if let Some(channel) = self.channels.get_mut(&relid) {
                        channel.queued.push_back(message);
                    }
                    self.flush(relid, bus);
                }
                BusesAction::D0EntryCompleted {
                    instance,
                    window,
                    status,
                    ..
                } => self.reports.push(WindowReport {
                    instance,
                    window,
                    status,
                }),
                BusesAction::GpuFunctionArrived(function) => self.found.push(function),
                BusesAction::GpuFunctionRemoved { .. } => {}
                BusesAction::Close { relid } => request(bus, BusRequest::Close { relid }),
                BusesAction::Removed { relid, window } => {
                    self.windows.remove(&relid);
                    self.mmio.free(window).expect("window was allocated");
                }
            }
        }
        progressed
    }

    fn open(&mut self, relid: u32, bus: &mut BusDriver<LoopbackBackend, Memory>) {
        let bytes = RING_PAGES * 4096;
        let gpa = self.next_ring_gpa;
        self.next_ring_gpa += 2 * bytes;
        assert!(self.next_ring_gpa <= self.ring_limit, "vPCI ring memory");
        self.channels.insert(
            relid,
            Channel {
                rings: None,
                queued: VecDeque::new(),
            },
        );
        request(
            bus,
            BusRequest::Open {
                relid,
                rings: RingMemory {
                    gpa,
                    outbound_bytes: bytes,
                    inbound_bytes: bytes,
                },
                user_data: [0; 120],
            },
        );
    }

    fn flush(&mut self, relid: u32, bus: &mut BusDriver<LoopbackBackend, Memory>) {
        let Some(Channel {
            rings: Some(rings),
            queued,
        }) = self.channels.get_mut(&relid)
        else {
            return;
        };
        let mut signal = false;
        while let Some(message) = queued.front() {
            match rings.outbound.send(&message.packet()) {
                Ok(needed) => {
                    signal |= needed;
                    queued.pop_front();
                }
                Err(RingError::Full { needed }) => {
                    if !rings.outbound.wait_for_space(needed).expect("ring") {
                        break;
                    }
                }
                Err(error) => panic!("vPCI outbound ring: {error}"),
            }
        }
        if signal {
            request(bus, BusRequest::Signal { relid });
        }
    }

    fn drain(&mut self, relid: u32, bus: &mut BusDriver<LoopbackBackend, Memory>) {
        let Some(Channel {
            rings: Some(rings), ..
        }) = self.channels.get_mut(&relid)
        else {
            return;
        };
        while let Some(packet) = rings.inbound.read_packet(&mut self.buffer).expect("ring") {
            let _ = self.buses.receive_packet(relid, &packet, &self.buffer);
        }
        if rings.inbound.commit().expect("ring") {
            request(bus, BusRequest::Signal { relid });
        }
    }
}

fn request(bus: &mut BusDriver<LoopbackBackend, Memory>, request: BusRequest) {
    bus.handle(VPCI_SUBSCRIBER, request)
        .expect("vPCI bus request");
}
