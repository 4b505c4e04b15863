//! The virtual PCI task: runs one sans-I/O vPCI client (`drivers::vpci::VpciClient`) per
//! VMBus channel of class `VIRTUAL_PCI` and hands the GPU-PV functions they find to the dxg
//! task.
//!
//! Every vPCI channel is a PCI bus of its own (Linux: `hv_pci_probe` in
//! torvalds/linux `drivers/pci/controller/pci-hyperv.c` runs once per channel). A VM with a
//! NIC VF, an assigned device or several GPU partitions has several, in any order. This one
//! task manages them all, each as a [`Bus`] keyed by relid: one task keeps a single
//! registration with the bus task, and the buses share nothing but the MMIO allocator and the
//! domain numbers. A bus that fails (its channel does not open, version negotiation or
//! BUS_D0ENTRY is refused) is reported, closed and dropped; the others go on.
//!
//! Each bus gets its own 8 KiB, page-aligned config window from the VMBus MMIO gaps
//! ([`MmioSpace`], high gap first, as Linux's `hv_allocate_config_window`), announced in its
//! BUS_D0ENTRY and returned to the pool once its channel is closed. Each bus also gets a PCI
//! domain number (`drivers::vpci::PciDomains`, Linux's rule), so functions in the same slot
//! of two buses keep distinct ids ([`FunctionAddress`]) for the dxg core.
//!
//! Which functions go to dxg: those Linux's dxgkrnl PCI driver binds, vendor 0x1414 with
//! device 0x008E (virtual render) or 0x008A (compute accelerator), on any bus
//! (microsoft/WSL2-Linux-Kernel `drivers/hv/dxgkrnl/dxgmodule.c`, `dxg_pci_id_table`). Other
//! functions are left alone. The dxg core pairs a function with its vGPU channel through the
//! channel instance GUID the function's config space carries (offset 0xC0).
//!
//! Inputs: offers and channel events from the bus task, and a stop request from the kernel.
//! Outputs: ring packets on the vPCI channels, requests to the bus task (open, close,
//! signal), [`PciFunction`]s on the channel to the dxg task, and one `hvdiag: config window`
//! line per bus ([`report_config_window`]). A function's configuration space is reached
//! through its bus's trapped config window; the accesses travel to the bus task as
//! [`BusMessage::Mmio`] requests, since the bus task owns the platform backend.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use drivers::vmbus_bus::{BusRequest, ChannelRings, DriverEvent, RingMemory};
use drivers::vpci::wire::{CONFIG_WINDOW_ALIGNMENT, CONFIG_WINDOW_SIZE};
use drivers::vpci::{
    Action, ConfigWindow, FunctionAddress, FunctionInfo, OutboundMessage, PciDomains, SlotNumber,
    VpciClient,
};
use dxg::core::{ConfigSpace, ConfigSpaceError};
use dxg::wire::{PCI_DEVICE_COMPUTE_ACCELERATOR, PCI_DEVICE_VIRTUAL_RENDER, PCI_VENDOR_MICROSOFT};
use hyperv::mmio::Placement;
use hyperv::platform::{MmioAccess, PlatformError};
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::guid::{Guid, class};
use vmbus::ring::RingError;

use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::ipc::{self, Receiver, Sender};
use crate::memory::ContiguousPages;
use crate::services::dxg_task::PciFunction;
use crate::services::mmio_space::MmioSpace;
use crate::services::vmbus_task::{BusEvent, BusMessage, EVENT_CAPACITY, MmioOperation};
use crate::task::{self, TaskHandle};

/// Ring pages per direction, control page included (vPCI messages are small).
const RING_PAGES: u64 = 8;

/// How long shutdown waits for the host to complete the D0 exits and the closes.
const SHUTDOWN_WAIT_MILLISECONDS: u64 = 1_000;

/// Writes the boot report's line for one bus's config window: its base, the bus (channel
/// instance GUID) and the status the host completed BUS_D0ENTRY with. Logged for now; the
/// boot report collects it once it exists.
pub fn report_config_window(base: u64, instance: Guid, d0_status: u32) {
    log::info!("hvdiag: config window base={base:#x} bus={instance} d0={d0_status:#010x}");
}

/// Writes the boot report's line for a bus that got no config window.
fn report_config_window_failure(instance: Guid, reason: &dyn core::fmt::Display) {
    log::warn!("hvdiag: config window bus={instance} error={reason}");
}

/// Whether Linux's dxgkrnl would bind `function` (see the module docs).
pub fn is_gpu_pv(function: &FunctionInfo) -> bool {
    function.vendor_id == PCI_VENDOR_MICROSOFT
        && matches!(
            function.device_id,
            PCI_DEVICE_VIRTUAL_RENDER | PCI_DEVICE_COMPUTE_ACCELERATOR
        )
}

/// The kernel's handle on the running vPCI task.
pub struct VpciHandle {
    stop: Sender<()>,
    task: TaskHandle<()>,
}

impl VpciHandle {
    /// Powers every bus down, closes the channels and returns the task handle to join.
    pub fn stop(self) -> TaskHandle<()> {
        let _ = self.stop.try_send(());
        self.task
    }
}

/// MMIO through the bus task.
#[derive(Clone)]
struct BusMmio {
    bus_task: Sender<BusMessage>,
}

impl BusMmio {
    fn access(&self, access: MmioOperation) -> Result<u64, PlatformError> {
        let (reply, answer) = ipc::channel(1);
        self.bus_task
            .send(BusMessage::Mmio { access, reply })
            .map_err(|_| PlatformError::LinkFailure)?;
        answer.recv().unwrap_or(Err(PlatformError::LinkFailure))
    }
}

impl MmioAccess for BusMmio {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        self.access(MmioOperation::Read { gpa, size })
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        self.access(MmioOperation::Write { gpa, size, value })
            .map(|_| ())
    }
}

/// One function's configuration space, owned (what the dxg task probes).
struct FunctionWindow {
    window: ConfigWindow<BusMmio>,
    slot: SlotNumber,
}

impl ConfigSpace for FunctionWindow {
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError> {
        self.window.function(self.slot).read_u32(offset)
    }

    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), ConfigSpaceError> {
        self.window.function(self.slot).write_u32(offset, value)
    }
}

/// One vPCI bus: its channel, its client and its config window.
struct Bus {
    instance: Guid,
    domain: u16,
    window: u64,
    client: VpciClient,
    rings: Option<ChannelRings<PhysicalMemory>>,
    /// The ring pages; freed with the bus, after the channel is closed.
    pages: ContiguousPages,
    backlog: VecDeque<OutboundMessage>,
    d0_reported: bool,
    stopped: bool,
    closing: bool,
}

struct VpciTask {
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    functions: Sender<PciFunction>,
    mmio: MmioSpace,
    domains: PciDomains,
    /// The buses, by relid.
    buses: BTreeMap<u32, Bus>,
    receive_buffer: Vec<u8>,
}

/// Spawns the vPCI task; it registers with the bus task as `subscriber`, takes each bus's
/// config window from `mmio`, and sends the GPU-PV functions it finds on the returned
/// receiver.
pub fn spawn(
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    mmio: MmioSpace,
) -> (Receiver<PciFunction>, VpciHandle) {
    let (functions, function_receiver) = ipc::channel(8);
    let (stop, stop_receiver) = ipc::channel::<()>(1);
    let task = task::spawn("vpci", move || {
        log::debug!("vpci: config windows come from {:?}", mmio.gaps());
        let mut state = VpciTask {
            bus_task,
            subscriber,
            functions,
            mmio,
            domains: PciDomains::new(),
            buses: BTreeMap::new(),
            receive_buffer: Vec::new(),
        };
        let Some(events) = state.register() else {
            return;
        };
        loop {
            loop {
                match events.try_recv() {
                    Ok(event) => state.on_bus_event(event),
                    Err(ipc::TryRecvError::Empty) => break,
                    // The bus task has ended: nothing can be sent or received any more.
                    Err(ipc::TryRecvError::Closed) => return,
                }
            }
            state.run_actions();
            match stop_receiver.try_recv() {
                Ok(()) | Err(ipc::TryRecvError::Closed) => break,
                Err(ipc::TryRecvError::Empty) => {}
            }
            ipc::select(&[&events, &stop_receiver]);
        }
        state.shut_down(&events);
    });
    (function_receiver, VpciHandle { stop, task })
}

impl VpciTask {
    /// Registers with the bus task and subscribes to vPCI offers; `None` if the bus task is
    /// gone.
    fn register(&self) -> Option<Receiver<BusEvent>> {
        let (events_sender, events) = ipc::channel(EVENT_CAPACITY);
        self.bus_task
            .send(BusMessage::Register {
                subscriber: self.subscriber,
                events: events_sender,
            })
            .ok()?;
        self.request(BusRequest::Subscribe {
            class: class::VIRTUAL_PCI,
            subscriber: self.subscriber,
        });
        Some(events)
    }

    fn request(&self, request: BusRequest) {
        let message = BusMessage::Request {
            subscriber: self.subscriber,
            request,
        };
        if self.bus_task.send(message).is_err() {
            log::warn!("vpci: the bus task has ended");
        }
    }

    fn on_bus_event(&mut self, event: BusEvent) {
        match event {
            DriverEvent::Offer(offer) => self.on_offer(&offer),
            DriverEvent::Opened { relid, result } => {
                let Some(bus) = self.buses.get_mut(&relid) else {
                    return;
                };
                match result {
                    Ok(rings) => {
                        bus.rings = Some(rings);
                        bus.client.start();
                    }
                    Err(failure) => {
                        log::warn!("vpci: opening bus {} failed: {failure:?}", bus.instance);
                        self.remove_bus(relid);
                    }
                }
            }
            DriverEvent::Signalled { relid } => {
                self.drain(relid);
                self.flush(relid);
            }
            DriverEvent::Rescinded { relid } => {
                if let Some(bus) = self.buses.get_mut(&relid) {
                    bus.rings = None;
                    bus.backlog.clear();
                    bus.client.rescinded();
                    self.close_bus(relid);
                }
            }
            DriverEvent::Closed { relid } => self.remove_bus(relid),
        }
    }

    /// A vPCI offer: a new bus with its own config window, domain and channel.
    fn on_offer(&mut self, offer: &ChannelOffer) {
        if offer.class != class::VIRTUAL_PCI || self.buses.contains_key(&offer.relid) {
            return;
        }
        let window = match self.mmio.allocate(
            CONFIG_WINDOW_SIZE,
            CONFIG_WINDOW_ALIGNMENT,
            Placement::HighFirst,
        ) {
            Ok(window) => window,
            Err(error) => {
                report_config_window_failure(offer.instance, &error);
                return;
            }
        };
        match self.new_bus(offer.instance, window) {
            Some(bus) => {
                let rings = RingMemory {
                    gpa: bus.pages.physical_address().as_u64(),
                    outbound_bytes: RING_PAGES * 4096,
                    inbound_bytes: RING_PAGES * 4096,
                };
                self.buses.insert(offer.relid, bus);
                self.request(BusRequest::Open {
                    relid: offer.relid,
                    rings,
                    user_data: [0; 120],
                });
            }
            None => self.free_window(window),
        }
    }

    /// The bus state for channel `instance` with its window at `window`; `None` (logged) when
    /// a domain, the client or the ring memory cannot be had.
    fn new_bus(&mut self, instance: Guid, window: u64) -> Option<Bus> {
        let client = match VpciClient::new(window) {
            Ok(client) => client,
            Err(error) => {
                report_config_window_failure(instance, &error);
                return None;
            }
        };
        let Ok(pages) = ContiguousPages::allocate_zeroed(2 * RING_PAGES as usize) else {
            log::warn!("vpci: no memory for the rings of bus {instance}");
            return None;
        };
        let Some(domain) = self.domains.allocate(&instance.bytes) else {
            log::warn!("vpci: no PCI domain number left for bus {instance}");
            return None;
        };
        Some(Bus {
            instance,
            domain,
            window,
            client,
            rings: None,
            pages,
            backlog: VecDeque::new(),
            d0_reported: false,
            stopped: false,
            closing: false,
        })
    }

    fn free_window(&self, window: u64) {
        if let Err(error) = self.mmio.free(window) {
            log::warn!("vpci: returning config window {window:#x}: {error}");
        }
    }

    /// Asks the bus task to close `relid`'s channel (once); the bus goes on [`DriverEvent::Closed`].
    fn close_bus(&mut self, relid: u32) {
        let Some(bus) = self.buses.get_mut(&relid) else {
            return;
        };
        if !bus.closing {
            bus.closing = true;
            self.request(BusRequest::Close { relid });
        }
    }

    /// Forgets `relid`'s bus and returns its window and domain (its channel is closed or
    /// never opened, so the host no longer traps the window).
    fn remove_bus(&mut self, relid: u32) {
        if let Some(bus) = self.buses.remove(&relid) {
            self.free_window(bus.window);
            self.domains.release(bus.domain);
        }
    }

    /// Reads every waiting packet of `relid` into its client.
    fn drain(&mut self, relid: u32) {
        let Some(bus) = self.buses.get_mut(&relid) else {
            return;
        };
        let Some(rings) = bus.rings.as_mut() else {
            return;
        };
        loop {
            match rings.inbound.read_packet(&mut self.receive_buffer) {
                Ok(Some(packet)) => {
                    // Errors are logged by the client; a fatal one becomes Action::Failed.
                    let _ = bus.client.receive_packet(&packet, &self.receive_buffer);
                }
                Ok(None) => break,
                Err(error) => {
                    log::warn!(
                        "vpci: corrupt inbound ring of bus {}: {error:?}",
                        bus.instance
                    );
                    break;
                }
            }
        }
        match rings.inbound.commit() {
            Ok(true) => self.request(BusRequest::Signal { relid }),
            Ok(false) => {}
            Err(error) => log::warn!("vpci: ring commit of bus {}: {error:?}", bus.instance),
        }
    }

    /// Writes `relid`'s queued messages while its ring has room.
    fn flush(&mut self, relid: u32) {
        let Some(bus) = self.buses.get_mut(&relid) else {
            return;
        };
        let Some(rings) = bus.rings.as_mut() else {
            return;
        };
        let mut signal = false;
        while let Some(message) = bus.backlog.front() {
            match rings.outbound.send(&message.packet()) {
                Ok(needed) => {
                    signal |= needed;
                    bus.backlog.pop_front();
                }
                // The host signals once `needed` bytes are free; when they already are, retry.
                Err(RingError::Full { needed }) => match rings.outbound.wait_for_space(needed) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        log::warn!("vpci: ring wait of bus {}: {error:?}", bus.instance);
                        break;
                    }
                },
                Err(error) => {
                    log::warn!(
                        "vpci: dropping a message of bus {}: {error:?}",
                        bus.instance
                    );
                    bus.backlog.pop_front();
                }
            }
        }
        if signal {
            self.request(BusRequest::Signal { relid });
        }
    }

    /// Runs every bus's client actions.
    fn run_actions(&mut self) {
        let relids: Vec<u32> = self.buses.keys().copied().collect();
        for relid in relids {
            self.run_bus_actions(relid);
        }
    }

    fn run_bus_actions(&mut self, relid: u32) {
        let Some(bus) = self.buses.get_mut(&relid) else {
            return;
        };
        let actions: Vec<Action> = core::iter::from_fn(|| bus.client.poll_action()).collect();
        if !bus.d0_reported
            && let Some(status) = bus.client.d0_status()
        {
            bus.d0_reported = true;
            report_config_window(bus.window, bus.instance, status);
        }
        let mut sent = false;
        for action in actions {
            match action {
                Action::Send(message) => {
                    if let Some(bus) = self.buses.get_mut(&relid) {
                        bus.backlog.push_back(message);
                        sent = true;
                    }
                }
                Action::FunctionArrived(info) => self.function_arrived(relid, &info),
                Action::FunctionRemoved { slot } => {
                    // dxg removes the adapter when its vGPU channel is rescinded.
                    log::info!("vpci: function {:#x} removed", slot.0);
                }
                Action::Stopped => {
                    if let Some(bus) = self.buses.get_mut(&relid) {
                        bus.stopped = true;
                    }
                }
                Action::Failed(error) => {
                    log::warn!("vpci: bus failed: {error}; closing it");
                    self.close_bus(relid);
                }
            }
        }
        if sent {
            self.flush(relid);
        }
    }

    /// Hands a GPU-PV function of `relid`'s bus to the dxg task; ignores any other function.
    fn function_arrived(&mut self, relid: u32, info: &FunctionInfo) {
        let Some(bus) = self.buses.get(&relid) else {
            return;
        };
        if !is_gpu_pv(info) {
            log::debug!(
                "vpci: bus {}: function {:#x} ({:04x}:{:04x}, class {:02x}{:02x}) is not GPU-PV; ignored",
                bus.instance,
                info.slot.0,
                info.vendor_id,
                info.device_id,
                info.base_class,
                info.sub_class
            );
            return;
        }
        let address = FunctionAddress {
            domain: bus.domain,
            slot: info.slot,
        };
        log::debug!(
            "vpci: bus {}: GPU-PV function {:04x}:{:04x} at {:#x}",
            bus.instance,
            info.vendor_id,
            info.device_id,
            address.as_u32()
        );
        let mmio = BusMmio {
            bus_task: self.bus_task.clone(),
        };
        let Some(window) = ConfigWindow::new(mmio, bus.window) else {
            return;
        };
        let function = PciFunction {
            id: address.as_u32(),
            device_id: info.device_id,
            config: Box::new(FunctionWindow {
                window,
                slot: info.slot,
            }),
        };
        if self.functions.try_send(function).is_err() {
            log::warn!("vpci: the dxg task is not taking PCI functions");
        }
    }

    /// Polls `events` for `milliseconds` or until `done` holds.
    fn wait_until(
        &mut self,
        events: &Receiver<BusEvent>,
        milliseconds: u64,
        done: fn(&VpciTask) -> bool,
    ) -> bool {
        let mut waited = 0;
        loop {
            while let Ok(event) = events.try_recv() {
                self.on_bus_event(event);
            }
            self.run_actions();
            if done(self) {
                return true;
            }
            if waited >= milliseconds {
                return false;
            }
            task::sleep_milliseconds(5);
            waited += 5;
        }
    }

    /// Powers every bus down (D0 exit) and closes the channels, each step with a bounded wait.
    fn shut_down(mut self, events: &Receiver<BusEvent>) {
        for bus in self.buses.values_mut() {
            // A bus that is not running has nothing to power down.
            if bus.client.shutdown().is_err() {
                bus.stopped = true;
            }
        }
        if !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| {
            state.buses.values().all(|bus| bus.stopped)
        }) {
            log::warn!("vpci: the host did not complete every D0 exit");
        }
        let relids: Vec<u32> = self.buses.keys().copied().collect();
        for relid in relids {
            self.close_bus(relid);
        }
        if !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| {
            state.buses.is_empty()
        }) {
            log::warn!("vpci: not every channel close was confirmed");
        }
    }
}
