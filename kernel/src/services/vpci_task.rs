//! The virtual PCI task: the I/O side of `drivers::vpci::VpciBuses`, which runs one vPCI
//! client per VMBus channel of class `VIRTUAL_PCI` (every vPCI channel is a PCI bus of its
//! own; a VM with a NIC VF, an assigned device or several GPU partitions has several, in any
//! order). The task hands the GPU-PV functions the buses find to the dxg task; which functions
//! those are, and how buses fail independently, is documented on `VpciBuses`.
//!
//! One task serves every bus (rather than one task per bus): it keeps a single registration
//! with the bus task, the buses share the MMIO pool and the PCI domain numbers, and the
//! per-bus protocol state lives in `VpciBuses`, where host tests reach it.
//!
//! Each bus gets its own 8 KiB, page-aligned config window from the VMBus MMIO gaps
//! ([`MmioSpace`], high gap first, as Linux's `hv_allocate_config_window` in torvalds/linux
//! `drivers/pci/controller/pci-hyperv.c`), announced in its BUS_D0ENTRY and returned to the
//! pool once its channel is closed.
//!
//! Inputs: offers and channel events from the bus task, and a stop request from the kernel.
//! Outputs: ring packets on the vPCI channels, requests to the bus task (open, close,
//! signal), [`PciFunction`]s on the channel to the dxg task (id: the bus-qualified
//! `drivers::vpci::FunctionAddress`), and one `hvdiag: config window` line per bus
//! ([`report_config_window`]). A function's configuration space is reached through its bus's
//! trapped config window; the accesses travel to the bus task as [`BusMessage::Mmio`]
//! requests, since the bus task owns the platform backend.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use drivers::vmbus_bus::{BusRequest, ChannelRings, DriverEvent, OpenFailure, RingMemory};
use drivers::vpci::wire::{CONFIG_WINDOW_ALIGNMENT, CONFIG_WINDOW_SIZE};
use drivers::vpci::{
    BusesAction, ConfigWindow, GpuFunction, OutboundMessage, SlotNumber, VpciBuses,
};
use dxg::core::{ConfigSpace, ConfigSpaceError};
use hyperv::mmio::Placement;
use hyperv::platform::{MmioAccess, PlatformError};
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::guid::{Guid, class};
use vmbus::ring::RingError;

use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::ipc::{self, Receiver, Sender};
use crate::memory::ContiguousPages;
use crate::services::channel_signal::{ChannelSignal, SignalInbox};
use crate::services::dxg_task::PciFunction;
use crate::services::mmio_space::MmioSpace;
use crate::services::vmbus_task::{self, BusEvent, BusMessage, EVENT_CAPACITY, MmioOperation};
use crate::task::{self, TaskHandle, TaskSlot};

/// Ring pages per direction, control page included (vPCI messages are small).
const RING_PAGES: u64 = 8;

/// How long shutdown waits for the host to complete the D0 exits and the closes.
const SHUTDOWN_WAIT_MILLISECONDS: u64 = 1_000;

/// Writes the boot report's line for one bus's config window: its base, the bus (channel
/// instance GUID) and the status the host completed BUS_D0ENTRY with. Logged for now; the
/// boot report collects it once it exists.
pub fn report_config_window(base: u64, instance: Guid, d0_status: u32) {
    log::debug!("vpci: bus {instance}: config window at {base:#x}, D0 status {d0_status:#010x}");
    crate::hvdiag!("config window base={base:#x} bus={instance} d0={d0_status:#010x}");
}

/// Writes the boot report's line for a bus that got no config window.
fn report_config_window_failure(instance: Guid, reason: &dyn core::fmt::Display) {
    log::debug!("vpci: bus {instance}: no config window: {reason}");
    crate::hvdiag!("config window bus={instance} error={reason}");
}

/// What the kernel (the supervisor) asks of the vPCI task.
pub enum VpciControl {
    /// Power every bus down, close the channels and end.
    Stop,
    /// Send every GPU-PV function found so far, and the later ones, to this channel (a
    /// restarted dxg task's).
    HandFunctionsTo(Sender<PciFunction>),
}

/// Ring pages kept lent to the host because it never confirmed their channel's close.
static RING_PAGES_KEPT: AtomicU64 = AtomicU64::new(0);

/// Ring pages the vPCI tasks kept lent to the host since boot, because the host never
/// confirmed their channel's close (they are never freed).
pub fn ring_pages_kept() -> u64 {
    RING_PAGES_KEPT.load(Ordering::Relaxed)
}

/// The kernel's handle on the running vPCI task.
pub struct VpciHandle {
    control: Sender<VpciControl>,
    task: TaskHandle<()>,
    slot: TaskSlot<VpciRun>,
}

impl VpciHandle {
    /// Powers every bus down, closes the channels and returns the task handle to join.
    pub fn stop(self) -> TaskHandle<()> {
        let _ = self.control.try_send(VpciControl::Stop);
        self.task
    }

    /// Asks the task to hand its GPU-PV functions to `functions` (a restarted dxg task).
    pub fn hand_functions_to(&self, functions: Sender<PciFunction>) {
        if self
            .control
            .try_send(VpciControl::HandFunctionsTo(functions))
            .is_err()
        {
            log::warn!("vpci: the task does not take control requests");
        }
    }

    /// Whether the task has ended (normally or by a contained fault).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Joins the ended task: `Err` with the fault that ended it. Its state, taken back from
    /// its slot, is released in order: the buses powered down and their channels closed
    /// (each with a bounded wait), then the ring pages and config windows freed.
    pub fn join_and_release(self) -> Result<(), crate::task::TaskFault> {
        self.join_and_release_with(false)
    }

    /// [`VpciHandle::join_and_release`] after the host answered a VMBus UNLOAD: it forgot every
    /// channel and GPADL, so nothing is closed or waited for (no close would ever be
    /// confirmed); the ring pages go back to the frame allocator and the config windows to the
    /// MMIO pool (else each VMBus restart would keep them for good).
    pub fn join_and_release_after_unload(self) -> Result<(), crate::task::TaskFault> {
        self.join_and_release_with(true)
    }

    fn join_and_release_with(self, unloaded: bool) -> Result<(), crate::task::TaskFault> {
        let VpciHandle { task, slot, .. } = self;
        let owner = task.task().clone();
        let result = task.join();
        if let Some(mut run) = slot.reclaim(&owner) {
            if unloaded {
                run.state.release_after_unload();
            } else {
                run.state.shut_down(&run.events);
            }
        }
        result
    }
}

/// The vPCI task's state, owned through its [`TaskSlot`] so that a contained fault releases
/// it: the protocol state, the channels' rings, and the task's channel ends.
struct VpciRun {
    state: VpciTask,
    events: Receiver<BusEvent>,
    control: Receiver<VpciControl>,
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

/// An open (or opening) vPCI channel's rings and queued messages.
struct Channel {
    rings: Option<ChannelRings<PhysicalMemory>>,
    /// The ring pages; freed with the channel once its close is confirmed (kept lent to the
    /// host otherwise, see `VpciTask::shut_down`).
    pages: ContiguousPages,
    backlog: VecDeque<OutboundMessage>,
    /// The signal to the host for this channel, once it is open.
    signal: Option<ChannelSignal>,
}

struct VpciTask {
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    /// Where the bus task leaves the signals of opened channels.
    signals: SignalInbox,
    functions: Sender<PciFunction>,
    mmio: MmioSpace,
    buses: VpciBuses,
    /// The channels of the buses, by relid.
    channels: BTreeMap<u32, Channel>,
    receive_buffer: Vec<u8>,
    /// The GPU-PV functions handed to dxg and not removed, by address (handed again to a
    /// restarted dxg task).
    handed: BTreeMap<u32, GpuFunction>,
    /// Messages handled by this instance (for fault injection).
    handled: u64,
}

/// Spawns the vPCI task with fault containment; it registers with the bus task as
/// `subscriber`, takes each bus's config window from `mmio`, and sends the GPU-PV functions it
/// finds to `functions`. `None` when the bus task is gone.
pub fn spawn(
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    mmio: MmioSpace,
    functions: Sender<PciFunction>,
) -> Option<VpciHandle> {
    let (control, control_receiver) = ipc::channel(4);
    let state = VpciTask {
        bus_task,
        subscriber,
        signals: SignalInbox::default(),
        functions,
        mmio,
        buses: VpciBuses::new(),
        channels: BTreeMap::new(),
        receive_buffer: Vec::new(),
        handed: BTreeMap::new(),
        handled: 0,
    };
    let events = state.register()?;
    let slot = TaskSlot::new(VpciRun {
        state,
        events,
        control: control_receiver,
    });
    let task = task::Builder::new("vpci")
        .contain_faults()
        .spawn_in_slot(slot.clone(), |entered| {
            if let Some(mut run) = entered {
                run.serve();
            }
        });
    Some(VpciHandle {
        control,
        task,
        slot,
    })
}

impl VpciRun {
    /// The task's loop: bus events and control requests until stopped, then the shutdown.
    fn serve(&mut self) {
        let VpciRun {
            state,
            events,
            control,
        } = self;
        loop {
            crate::faults::checkpoint(crate::faults::Driver::Vpci, state.handled);
            loop {
                match events.try_recv() {
                    Ok(event) => {
                        state.handled += 1;
                        state.on_bus_event(event);
                    }
                    Err(ipc::TryRecvError::Empty) => break,
                    // The bus task has ended: nothing can be sent or received any more.
                    Err(ipc::TryRecvError::Closed) => return,
                }
            }
            state.run_actions();
            let bound = crate::clock::milliseconds_to_ticks(
                super::host_waits::vpci_bring_up_milliseconds(),
            );
            if !state
                .buses
                .end_late_bring_ups(crate::clock::ticks(), bound)
                .is_empty()
            {
                crate::diagnostics::fail(
                    "vpci: a bus did not come up in time (the host did not answer its bring-up)",
                );
                state.run_actions();
            }
            match control.try_recv() {
                Ok(VpciControl::Stop) | Err(ipc::TryRecvError::Closed) => break,
                Ok(VpciControl::HandFunctionsTo(functions)) => {
                    state.handled += 1;
                    state.functions = functions;
                    let handed: Vec<GpuFunction> = state.handed.values().copied().collect();
                    for function in handed {
                        state.hand_to_dxg(&function);
                    }
                    continue;
                }
                Err(ipc::TryRecvError::Empty) => {}
            }
            let deadline = state.buses.next_bring_up_deadline(bound);
            let doorbell = crate::faults::Doorbell::new(crate::faults::Driver::Vpci, state.handled);
            ipc::select_until(&[&*events, &*control, &doorbell], deadline);
        }
        state.shut_down(events);
    }
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
                signals: self.signals.clone(),
            })
            .ok()?;
        self.request(BusRequest::Subscribe {
            class: class::VIRTUAL_PCI,
            subscriber: self.subscriber,
        });
        Some(events)
    }

    fn request(&self, request: BusRequest) {
        vmbus_task::send_request(&self.bus_task, self.subscriber, request, "vpci");
    }

    fn on_bus_event(&mut self, event: BusEvent) {
        match event {
            DriverEvent::Offer(offer) => self.on_offer(&offer),
            DriverEvent::Opened { relid, result } => {
                let success = match result {
                    Ok(rings) => match self.channels.get_mut(&relid) {
                        Some(channel) => {
                            channel.rings = Some(*rings);
                            channel.signal = self.signals.take(relid);
                            true
                        }
                        None => false,
                    },
                    Err(failure) => {
                        log::warn!("vpci: opening relid {relid} failed: {failure:?}");
                        crate::diagnostics::fail(format_args!(
                            "vpci: opening relid {relid} failed: {failure:?}"
                        ));
                        // After a time-out the host may still map the rings: the pages stay
                        // until the bus reports the channel closed.
                        if !matches!(failure, OpenFailure::TimedOut { .. }) {
                            self.channels.remove(&relid);
                        }
                        false
                    }
                };
                self.buses.opened(relid, success);
                if success {
                    self.buses.bring_up_started(relid, crate::clock::ticks());
                }
            }
            DriverEvent::Signalled { relid } => {
                self.drain(relid);
                self.flush(relid);
            }
            DriverEvent::Rescinded { relid } => {
                if let Some(channel) = self.channels.get_mut(&relid) {
                    channel.rings = None;
                    channel.signal = None;
                    channel.backlog.clear();
                }
                self.buses.rescinded(relid);
            }
            DriverEvent::Closed { relid } => {
                self.channels.remove(&relid);
                self.buses.closed(relid);
            }
        }
    }

    /// A vPCI offer: a new bus, with a config window of its own from the MMIO gaps.
    fn on_offer(&mut self, offer: &ChannelOffer) {
        if offer.class != class::VIRTUAL_PCI || self.buses.contains(offer.relid) {
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
        if let Err(error) = self.buses.add_bus(offer.relid, offer.instance, window) {
            report_config_window_failure(offer.instance, &error);
            self.free_window(window);
        }
    }

    fn free_window(&self, window: u64) {
        if let Err(error) = self.mmio.free(window) {
            log::warn!("vpci: returning config window {window:#x}: {error}");
        }
    }

    /// Allocates `relid`'s rings and asks the bus task to open its channel.
    fn open(&mut self, relid: u32) {
        let Ok(pages) = ContiguousPages::allocate_zeroed(2 * RING_PAGES as usize) else {
            log::warn!("vpci: no memory for the rings of relid {relid}");
            self.buses.opened(relid, false);
            return;
        };
        let rings = RingMemory {
            gpa: pages.physical_address().as_u64(),
            outbound_bytes: RING_PAGES * 4096,
            inbound_bytes: RING_PAGES * 4096,
        };
        self.channels.insert(
            relid,
            Channel {
                rings: None,
                pages,
                backlog: VecDeque::new(),
                signal: None,
            },
        );
        self.request(BusRequest::Open {
            relid,
            rings,
            user_data: [0; 120],
        });
    }

    /// Reads every waiting packet of `relid` into its bus.
    fn drain(&mut self, relid: u32) {
        let Some(rings) = self
            .channels
            .get_mut(&relid)
            .and_then(|channel| channel.rings.as_mut())
        else {
            return;
        };
        let mut signal = false;
        let mut corrupt = false;
        for round in 1..=super::DRAIN_ROUNDS {
            loop {
                match rings.inbound.read_packet(&mut self.receive_buffer) {
                    Ok(Some(packet)) => {
                        // Errors are logged by the client; a fatal one closes the bus.
                        let _ = self
                            .buses
                            .receive_packet(relid, &packet, &self.receive_buffer);
                    }
                    Ok(None) => break,
                    Err(error) => {
                        log::warn!("vpci: corrupt inbound ring of relid {relid}: {error:?}");
                        corrupt = true;
                        break;
                    }
                }
            }
            match rings.inbound.commit() {
                Ok(true) => signal = true,
                Ok(false) => {}
                Err(error) => {
                    log::warn!("vpci: ring commit of relid {relid}: {error:?}");
                    break;
                }
            }
            if corrupt || super::drained(&mut rings.inbound, relid, round) {
                break;
            }
        }
        if signal {
            self.signal_host(relid);
        }
    }

    /// Signals the host for `relid` from this task (`services::channel_signal`).
    fn signal_host(&self, relid: u32) {
        let signal = self.channels.get(&relid);
        super::channel_signal::signal_host(
            "vpci",
            relid,
            signal.and_then(|channel| channel.signal.as_ref()),
        );
    }

    /// Writes `relid`'s queued messages while its ring has room.
    fn flush(&mut self, relid: u32) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        let Some(rings) = channel.rings.as_mut() else {
            return;
        };
        let mut signal = false;
        while let Some(message) = channel.backlog.front() {
            match rings.outbound.send(&message.packet()) {
                Ok(needed) => {
                    signal |= needed;
                    channel.backlog.pop_front();
                }
                // The host signals once `needed` bytes are free; when they already are, retry.
                Err(RingError::Full { needed }) => match rings.outbound.wait_for_space(needed) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        log::warn!("vpci: ring wait of relid {relid}: {error:?}");
                        break;
                    }
                },
                Err(error) => {
                    log::warn!("vpci: dropping a message of relid {relid}: {error:?}");
                    channel.backlog.pop_front();
                }
            }
        }
        if signal {
            self.signal_host(relid);
        }
    }

    /// Carries out what the buses ask for.
    fn run_actions(&mut self) {
        let mut sent = BTreeSet::new();
        while let Some(action) = self.buses.poll_action() {
            match action {
                BusesAction::Open { relid } => self.open(relid),
                BusesAction::Send { relid, message } => {
                    if let Some(channel) = self.channels.get_mut(&relid) {
                        channel.backlog.push_back(message);
                        sent.insert(relid);
                    }
                }
                BusesAction::D0EntryCompleted {
                    instance,
                    window,
                    status,
                    ..
                } => report_config_window(window, instance, status),
                BusesAction::GpuFunctionArrived(function) => {
                    self.handed.insert(function.address.as_u32(), function);
                    self.hand_to_dxg(&function);
                }
                BusesAction::GpuFunctionRemoved { address, .. } => {
                    self.handed.remove(&address.as_u32());
                    // dxg removes the adapter when its vGPU channel is rescinded.
                    log::debug!("vpci: GPU-PV function {:#x} removed", address.as_u32());
                }
                BusesAction::Close { relid } => self.request(BusRequest::Close { relid }),
                BusesAction::Removed { window, .. } => self.free_window(window),
            }
        }
        for relid in sent {
            self.flush(relid);
        }
    }

    /// Sends a GPU-PV function, with access to its config space, to the dxg task.
    fn hand_to_dxg(&self, function: &GpuFunction) {
        let id = function.address.as_u32();
        log::debug!(
            "vpci: GPU-PV function {:04x}:{:04x} at {id:#x}",
            function.info.vendor_id,
            function.info.device_id
        );
        let mmio = BusMmio {
            bus_task: self.bus_task.clone(),
        };
        let Some(window) = ConfigWindow::new(mmio, function.window) else {
            return;
        };
        let pci_function = PciFunction {
            id,
            device_id: function.info.device_id,
            config: Box::new(FunctionWindow {
                window,
                slot: function.info.slot,
            }),
        };
        if self.functions.try_send(pci_function).is_err() {
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
    /// Releases everything without the host: after an answered UNLOAD it holds none of the
    /// channels' memory.
    fn release_after_unload(&mut self) {
        self.channels.clear();
        self.buses.forget_all();
        while let Some(action) = self.buses.poll_action() {
            if let BusesAction::Removed { window, .. } = action {
                self.free_window(window);
            }
        }
    }

    fn shut_down(&mut self, events: &Receiver<BusEvent>) {
        self.buses.shutdown();
        if !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| {
            state.buses.all_stopped()
        }) {
            log::warn!("vpci: the host did not complete every D0 exit");
        }
        self.buses.close_all();
        if !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| {
            state.buses.is_empty()
        }) {
            log::warn!("vpci: not every channel close was confirmed");
        }
        // The host may still hold the GPADL of a close it never confirmed and write its rings:
        // those pages stay lent (as the dxg task does), never back in the frame allocator.
        for (relid, channel) in core::mem::take(&mut self.channels) {
            log::warn!("vpci: the close of relid {relid} was not confirmed; its ring pages stay");
            RING_PAGES_KEPT.fetch_add(channel.pages.page_count() as u64, Ordering::Relaxed);
            core::mem::forget(channel.pages);
        }
    }
}
