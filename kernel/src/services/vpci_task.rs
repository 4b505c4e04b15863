//! The virtual PCI task: runs the sans-I/O vPCI client (`drivers::vpci::VpciClient`) on the
//! VMBus channel of class `VIRTUAL_PCI` and hands the GPU-PV functions it finds to the dxg task.
//!
//! Inputs: offers and channel events from the bus task, and a stop request from the kernel.
//! Outputs: ring packets on the vPCI channel, requests to the bus task (open, close, signal),
//! and [`PciFunction`]s on the channel to the dxg task. A function's configuration space is
//! reached through the bus's trapped config window; the accesses travel to the bus task as
//! [`BusMessage::Mmio`] requests, since the bus task owns the platform backend.
//!
//! The config window's GPA: under the emulator any unbacked GPA works (MMIO is carried by link
//! frames). On Hyper-V it must come from the VMBus ACPI device's MMIO ranges, which this
//! kernel does not parse yet; [`CONFIG_WINDOW_GPA`] is the high range Hyper-V Gen2 VMs
//! commonly get above 64 GiB, an assumption documented in `docs/vpci.md`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use drivers::vmbus_bus::{BusRequest, ChannelRings, DriverEvent, RingMemory};
use drivers::vpci::{Action, ConfigWindow, OutboundMessage, SlotNumber, VpciClient};
use dxg::core::{ConfigSpace, ConfigSpaceError};
use dxg::wire::PCI_VENDOR_MICROSOFT;
use hyperv::platform::{MmioAccess, PlatformError};
use vmbus::client::SubscriberId;
use vmbus::guid::class;
use vmbus::ring::RingError;

use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::ipc::{self, Receiver, Sender};
use crate::memory::ContiguousPages;
use crate::services::dxg_task::PciFunction;
use crate::services::vmbus_task::{BusEvent, BusMessage, EVENT_CAPACITY, MmioOperation};
use crate::task::{self, TaskHandle};

/// Where the config window is announced (8 KiB, see the module docs).
pub const CONFIG_WINDOW_GPA: u64 = 0x10_0000_0000;

/// Ring pages per direction, control page included (vPCI messages are small).
const RING_PAGES: u64 = 8;

/// How long shutdown waits for the host to complete the D0 exit and the close.
const SHUTDOWN_WAIT_MILLISECONDS: u64 = 1_000;

/// The kernel's handle on the running vPCI task.
pub struct VpciHandle {
    stop: Sender<()>,
    task: TaskHandle<()>,
}

impl VpciHandle {
    /// Powers the bus down, closes the channel and returns the task handle to join.
    pub fn stop(self) -> TaskHandle<()> {
        let _ = self.stop.try_send(());
        self.task
    }
}

/// MMIO through the bus task.
#[derive(Clone)]
struct BusMmio {
    bus: Sender<BusMessage>,
}

impl BusMmio {
    fn access(&self, access: MmioOperation) -> Result<u64, PlatformError> {
        let (reply, answer) = ipc::channel(1);
        self.bus
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

struct OpenChannel {
    relid: u32,
    rings: Option<ChannelRings<PhysicalMemory>>,
    _pages: ContiguousPages,
}

struct VpciTask {
    client: VpciClient,
    bus: Sender<BusMessage>,
    subscriber: SubscriberId,
    functions: Sender<PciFunction>,
    channel: Option<OpenChannel>,
    backlog: VecDeque<OutboundMessage>,
    receive_buffer: Vec<u8>,
    stopped: bool,
}

/// Spawns the vPCI task; it registers with the bus task as `subscriber` and sends the GPU-PV
/// functions it finds on the returned receiver.
pub fn spawn(
    bus: Sender<BusMessage>,
    subscriber: SubscriberId,
) -> Result<(Receiver<PciFunction>, VpciHandle), drivers::vpci::VpciError> {
    let client = VpciClient::new(CONFIG_WINDOW_GPA)?;
    let (functions, function_receiver) = ipc::channel(8);
    let (stop, stop_receiver) = ipc::channel::<()>(1);
    let task = task::spawn("vpci", move || {
        let (events_sender, events) = ipc::channel(EVENT_CAPACITY);
        let mut state = VpciTask {
            client,
            bus,
            subscriber,
            functions,
            channel: None,
            backlog: VecDeque::new(),
            receive_buffer: Vec::new(),
            stopped: false,
        };
        if state
            .bus
            .send(BusMessage::Register {
                subscriber,
                events: events_sender,
            })
            .is_err()
        {
            return;
        }
        state.request(BusRequest::Subscribe {
            class: class::VIRTUAL_PCI,
            subscriber,
        });
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
    Ok((function_receiver, VpciHandle { stop, task }))
}

impl VpciTask {
    fn request(&self, request: BusRequest) {
        let message = BusMessage::Request {
            subscriber: self.subscriber,
            request,
        };
        if self.bus.send(message).is_err() {
            log::warn!("vpci: the bus task has ended");
        }
    }

    fn on_bus_event(&mut self, event: BusEvent) {
        match event {
            DriverEvent::Offer(offer) => {
                if offer.class != class::VIRTUAL_PCI {
                    return;
                }
                if self.channel.is_some() {
                    log::info!("vpci: ignoring a second vPCI bus (relid {})", offer.relid);
                    return;
                }
                self.open(offer.relid);
            }
            DriverEvent::Opened { relid, result } => {
                let Some(channel) = self.channel.as_mut().filter(|c| c.relid == relid) else {
                    return;
                };
                match result {
                    Ok(rings) => {
                        channel.rings = Some(rings);
                        self.client.start();
                    }
                    Err(failure) => {
                        log::warn!("vpci: opening relid {relid} failed: {failure:?}");
                        self.channel = None;
                    }
                }
            }
            DriverEvent::Signalled { relid } => {
                if self.channel.as_ref().is_some_and(|c| c.relid == relid) {
                    self.drain();
                    self.flush();
                }
            }
            DriverEvent::Rescinded { relid } => {
                if let Some(channel) = self.channel.as_mut().filter(|c| c.relid == relid) {
                    channel.rings = None;
                    self.backlog.clear();
                    self.client.rescinded();
                    self.request(BusRequest::Close { relid });
                }
            }
            DriverEvent::Closed { relid } => {
                if self.channel.as_ref().is_some_and(|c| c.relid == relid) {
                    self.channel = None;
                }
            }
        }
    }

    fn open(&mut self, relid: u32) {
        let Ok(pages) = ContiguousPages::allocate_zeroed(2 * RING_PAGES as usize) else {
            log::warn!("vpci: no memory for the rings");
            return;
        };
        let rings = RingMemory {
            gpa: pages.physical_address().as_u64(),
            outbound_bytes: RING_PAGES * 4096,
            inbound_bytes: RING_PAGES * 4096,
        };
        self.channel = Some(OpenChannel {
            relid,
            rings: None,
            _pages: pages,
        });
        self.request(BusRequest::Open {
            relid,
            rings,
            user_data: [0; 120],
        });
    }

    /// Reads every waiting packet into the client.
    fn drain(&mut self) {
        let Some(channel) = self.channel.as_mut() else {
            return;
        };
        let relid = channel.relid;
        let Some(rings) = channel.rings.as_mut() else {
            return;
        };
        loop {
            match rings.inbound.read_packet(&mut self.receive_buffer) {
                Ok(Some(packet)) => {
                    // Errors are logged by the client; a fatal one becomes Action::Failed.
                    let _ = self.client.receive_packet(&packet, &self.receive_buffer);
                }
                Ok(None) => break,
                Err(error) => {
                    log::warn!("vpci: corrupt inbound ring: {error:?}");
                    break;
                }
            }
        }
        match rings.inbound.commit() {
            Ok(true) => self.request(BusRequest::Signal { relid }),
            Ok(false) => {}
            Err(error) => log::warn!("vpci: ring commit: {error:?}"),
        }
    }

    /// Writes queued messages while the ring has room.
    fn flush(&mut self) {
        let Some(channel) = self.channel.as_mut() else {
            return;
        };
        let relid = channel.relid;
        let Some(rings) = channel.rings.as_mut() else {
            return;
        };
        let mut signal = false;
        while let Some(message) = self.backlog.front() {
            match rings.outbound.send(&message.packet()) {
                Ok(needed) => {
                    signal |= needed;
                    self.backlog.pop_front();
                }
                Err(RingError::Full { needed }) => match rings.outbound.wait_for_space(needed) {
                    // The host read meanwhile: the room is there, write now.
                    Ok(true) => continue,
                    // The host signals once `needed` bytes are free (pending_send_sz).
                    Ok(false) => break,
                    Err(error) => {
                        // The message stays in the backlog for the next signal or flush.
                        log::warn!("vpci: ring wait: {error:?}");
                        break;
                    }
                },
                Err(error) => {
                    log::warn!("vpci: dropping a message: {error:?}");
                    self.backlog.pop_front();
                }
            }
        }
        if signal {
            self.request(BusRequest::Signal { relid });
        }
    }

    fn run_actions(&mut self) {
        let mut sent = false;
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::Send(message) => {
                    self.backlog.push_back(message);
                    sent = true;
                }
                Action::FunctionArrived(info) => {
                    log::info!(
                        "vpci: function {:#x}: {:04x}:{:04x} class {:02x}{:02x}",
                        info.slot.0,
                        info.vendor_id,
                        info.device_id,
                        info.base_class,
                        info.sub_class
                    );
                    if info.vendor_id != PCI_VENDOR_MICROSOFT {
                        continue;
                    }
                    let mmio = BusMmio {
                        bus: self.bus.clone(),
                    };
                    let Some(window) = ConfigWindow::new(mmio, self.client.window_gpa()) else {
                        continue;
                    };
                    let function = PciFunction {
                        slot: info.slot.0,
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
                Action::FunctionRemoved { slot } => {
                    // dxg removes the adapter when its vGPU channel is rescinded.
                    log::info!("vpci: function {:#x} removed", slot.0);
                }
                Action::Stopped => self.stopped = true,
                Action::Failed(error) => log::warn!("vpci: bus failed: {error}"),
            }
        }
        if sent {
            self.flush();
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

    /// Powers the bus down (D0 exit) and closes the channel, each with a bounded wait.
    fn shut_down(mut self, events: &Receiver<BusEvent>) {
        let Some(relid) = self.channel.as_ref().map(|channel| channel.relid) else {
            return;
        };
        if self.client.shutdown().is_ok()
            && !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| state.stopped)
        {
            log::warn!("vpci: the host did not complete the D0 exit");
        }
        self.request(BusRequest::Close { relid });
        if !self.wait_until(events, SHUTDOWN_WAIT_MILLISECONDS, |state| {
            state.channel.is_none()
        }) {
            log::warn!("vpci: the channel close was not confirmed");
        }
    }
}
