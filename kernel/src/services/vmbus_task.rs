//! The VMBus bus task: runs `drivers::vmbus_bus::BusDriver` and connects it to the rest of the
//! kernel through typed channels.
//!
//! The task owns the hypervisor backend and the SynIC. It waits on its interrupt signal (the
//! SynIC vector on Hyper-V; the ivshmem device's MSI-X vector or COM2's IRQ 3 under the emulator) and on its request channel, feeds
//! both into the bus driver, and forwards the driver's events to the subscribed device tasks'
//! channels. Device tasks hold only a [`BusHandle`] (a sender) and their own event receiver.
//!
//! One pass handles a bounded number of SynIC messages
//! ([`drivers::vmbus_bus::MESSAGES_PER_POLL`]). When the bound is reached the host may have
//! refilled the slot, and it raises no new interrupt for a message the guest has not taken,
//! so the task does not wait: it yields (other tasks run) and polls again.
//!
//! Time bounds: the bus driver times its waits for the host (the connection through
//! ALLOFFERS_DELIVERED, each channel open, UNLOAD_RESPONSE; `drivers::vmbus_bus::TimeBounds`).
//! The task never sleeps past the driver's next deadline, and then lets the driver end the
//! late waits with their typed errors: the offer list answers `BusError::HostSilent`, a
//! driver's open gets `OpenFailure::TimedOut`, and a shutdown whose UNLOAD is never answered
//! ends with `BusError::UnloadTimedOut` (leaving the SynIC and connection pages to the host).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::boxed::Box;

use drivers::vmbus_bus::{
    BusDriver, BusError, BusRequest, DriverEvent, InterruptOutcome, RetryClock,
};
use hyperv::platform::{MmioAccess, PlatformError};
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::version::Version;

use super::channel_signal::{Revocations, SignalInbox};
use crate::clock;
use crate::hypervisor::Backend;
use crate::hypervisor::page_allocator::KernelPageAllocator;
use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::hypervisor::shared::SharedBackend;
use crate::interrupts;
use crate::ipc::{self, InterruptSignal, Receiver, RecvTimeoutError, Sender, TrySendError};
use crate::task::{self, TaskHandle, TaskSlot};

/// Events for a device task.
pub type BusEvent = DriverEvent<PhysicalMemory>;

/// The answer to [`BusMessage::ListOffers`].
pub type OfferList = Result<(Version, Vec<ChannelOffer>), BusError>;

/// Capacity of each device task's event channel.
pub const EVENT_CAPACITY: usize = 1024;

/// Sends `request` to the bus task as `subscriber`; a bus task that has ended is logged under
/// `driver`'s name (the request is then moot: the bus and every channel are gone). The one path
/// by which the device tasks ask the bus for something.
pub fn send_request(
    bus_task: &Sender<BusMessage>,
    subscriber: SubscriberId,
    request: BusRequest,
    driver: &str,
) {
    if bus_task
        .send(BusMessage::Request {
            subscriber,
            request,
        })
        .is_err()
    {
        log::warn!("{driver}: the bus task has ended");
    }
}

/// What device tasks (and the kernel) send to the bus task.
pub enum BusMessage {
    /// Register `subscriber`'s event channel (before sending it requests).
    Register {
        /// The driver.
        subscriber: SubscriberId,
        /// Where its events go.
        events: Sender<BusEvent>,
        /// Where the signals of its channels go when they open
        /// ([`super::channel_signal`]).
        signals: SignalInbox,
    },
    /// A request from a registered driver.
    Request {
        /// The driver.
        subscriber: SubscriberId,
        /// What it asks.
        request: BusRequest,
    },
    /// Report the negotiated version and the offers once all offers are in.
    ListOffers {
        /// Where the answer goes.
        reply: Sender<OfferList>,
    },
    /// A trapped MMIO access (virtual PCI configuration space), carried out by the bus task
    /// because it owns the platform backend.
    Mmio {
        /// The access.
        access: MmioOperation,
        /// The value read (0 for a write), or why the access failed.
        reply: Sender<Result<u64, PlatformError>>,
    },
    /// Read the partition reference counter (for time sync), carried out by the bus task
    /// because it owns the platform backend.
    ReferenceCounter {
        /// The counter in 100 ns units, or `None` where it cannot be read.
        reply: Sender<Option<u64>>,
    },
    /// Send UNLOAD, wait for the host, tear the SynIC down and end the task.
    Shutdown,
}

/// One MMIO access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioOperation {
    /// Read `size` bytes at `gpa`.
    Read {
        /// Guest-physical address.
        gpa: u64,
        /// 1, 2, 4 or 8.
        size: u8,
    },
    /// Write the low `size` bytes of `value` at `gpa`.
    Write {
        /// Guest-physical address.
        gpa: u64,
        /// 1, 2, 4 or 8.
        size: u8,
        /// The value.
        value: u64,
    },
}

/// A failure to start the bus task.
#[derive(Debug)]
pub enum StartError {
    /// No interrupt vector or route was available.
    Interrupts(interrupts::InterruptError),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Interrupts(error) => write!(f, "interrupt setup: {error:?}"),
        }
    }
}

/// How long [`BusHandle::connect_and_list`] waits for the bus task's answer: the bus driver's
/// own connection bound (`TimeBounds::connect_microseconds`, 60 s) ends the wait first with
/// [`BusError::HostSilent`]; this one is a backstop a little later, for a bus task that does
/// not answer at all.
pub const CONNECT_MILLISECONDS: u64 = 65_000;

/// The kernel's handle on the running bus task.
pub struct BusHandle {
    /// Requests to the bus task.
    pub requests: Sender<BusMessage>,
    task: TaskHandle<()>,
    /// The host's message connection id, stored when offers are listed (0: not yet).
    connection_id: Arc<AtomicU32>,
    /// How many times the task polled the SynIC (see [`BusHandle::synic_polls`]).
    synic_polls: Arc<AtomicU64>,
    slot: TaskSlot<BusRun>,
}

/// How long a restart waits for the host's UNLOAD_RESPONSE (the bus driver's own bound,
/// `TimeBounds::unload_microseconds`, ends the wait first).
const RESTART_UNLOAD_MILLISECONDS: u64 = 30_000;

/// Why the bus could not be restarted (it stays down).
#[derive(Debug)]
pub enum RestartError {
    /// The task's state was lost (it faulted before storing it).
    StateLost,
    /// The negotiated version has no UNLOAD (below VMBus 3.0): the host keeps the old
    /// connection, so there is no clean new one.
    NoUnload,
    /// UNLOAD failed or was not answered in time.
    Unload(BusError),
}

impl core::fmt::Display for RestartError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RestartError::StateLost => write!(formatter, "the bus state was lost"),
            RestartError::NoUnload => write!(
                formatter,
                "the negotiated VMBus version has no UNLOAD (below 3.0)"
            ),
            RestartError::Unload(error) => write!(formatter, "UNLOAD: {error}"),
        }
    }
}

impl BusHandle {
    /// Waits until the host delivered all offers; returns the version and the offers.
    /// Gives up after [`CONNECT_MILLISECONDS`] with [`BusError::HostSilent`], so a host that
    /// never answers (VERSION_RESPONSE, ALLOFFERS_DELIVERED) ends the boot report with a
    /// result instead of leaving it waiting.
    pub fn connect_and_list(&self) -> OfferList {
        let (reply, answer) = ipc::channel(1);
        if self
            .requests
            .send(BusMessage::ListOffers { reply })
            .is_err()
        {
            return Err(BusError::ConnectFailed);
        }
        let deadline = clock::ticks() + clock::milliseconds_to_ticks(CONNECT_MILLISECONDS);
        match answer.recv_until(deadline) {
            Ok(listed) => listed,
            Err(RecvTimeoutError::Timeout) => Err(BusError::HostSilent {
                milliseconds: CONNECT_MILLISECONDS,
            }),
            // Interrupted: only a process being killed is interrupted, and it never starts the bus.
            Err(RecvTimeoutError::Closed | RecvTimeoutError::Interrupted) => {
                Err(BusError::ConnectFailed)
            }
        }
    }

    /// The message connection id the host gave (for the boot report), once
    /// [`BusHandle::connect_and_list`] has answered.
    pub fn connection_id(&self) -> Option<u32> {
        Some(self.connection_id.load(Ordering::Acquire)).filter(|id| *id != 0)
    }

    /// How many times the bus task has polled the SynIC (`BusDriver::on_interrupt`) so far: once
    /// per interrupt, latched Interrupt frame or bounded poll, never for a request alone.
    pub fn synic_polls(&self) -> u64 {
        self.synic_polls.load(Ordering::Relaxed)
    }

    /// Asks the bus to unload and returns its task handle to join.
    pub fn shut_down(self) -> TaskHandle<()> {
        let _ = self.requests.send(BusMessage::Shutdown);
        self.task
    }

    /// Whether the task has ended (normally or by a contained fault).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Joins the ended bus task (`Err`: the fault that ended it) and takes its state back from
    /// its slot; [`StoppedBus::restart`] then starts a new connection the way Linux's kexec
    /// path does: UNLOAD
    /// (the host closes every channel and forgets every GPADL), UNLOAD_RESPONSE, the SynIC
    /// torn down and the connection pages freed, then a new bus task on the same backend and
    /// interrupt route that sends a fresh INITIATE_CONTACT and gets fresh offers. Every
    /// driver above must restart: its channels are gone (its event channel closes when the old
    /// state is dropped here).
    pub fn join_stopped(self) -> (Result<(), crate::task::TaskFault>, Option<StoppedBus>) {
        let BusHandle { task, slot, .. } = self;
        let owner = task.task().clone();
        let result = task.join();
        (result, slot.reclaim(&owner).map(StoppedBus))
    }
}

/// The state of a bus task that ended, as [`BusHandle::join_stopped`] took it back.
pub struct StoppedBus(BusRun);

impl StoppedBus {
    /// Starts a new connection on the old one's backend (see [`BusHandle::join_stopped`]).
    pub fn restart(self) -> Result<BusHandle, RestartError> {
        self.0.restart()
    }
}

/// The bus task's state, owned through its [`TaskSlot`] so that a contained fault leaves it
/// to the supervisor: the bus driver (SynIC, connection pages, the connection), the
/// interrupt route, the subscribers' event channels and the request channel.
struct BusRun {
    /// The backend until the driver is started.
    backend: Option<SharedBackend>,
    memory: Option<PhysicalMemory>,
    bus: Option<BusDriver<SharedBackend, PhysicalMemory>>,
    vector: u8,
    gsi: Option<u32>,
    max_version: Option<Version>,
    signal: InterruptSignal,
    requests: Receiver<BusMessage>,
    connection_id: Arc<AtomicU32>,
    synic_polls: Arc<AtomicU64>,
    subscribers: Subscribers,
    /// The channel signals handed to the subscribers, revoked when their channel closes or
    /// the bus unloads.
    revocations: Revocations,
    waiting_for_offers: Vec<Sender<OfferList>>,
    shutting_down: bool,
    /// Messages handled by this instance (for fault injection).
    handled: u64,
}

/// Routes the platform's interrupt to a fresh signal; returns the vector and what to undo.
fn route_interrupt(
    backend: &Backend,
    signal: &InterruptSignal,
) -> Result<(u8, Option<u32>), StartError> {
    let vector = interrupts::allocate_vector().map_err(StartError::Interrupts)?;
    interrupts::register_signal(vector, signal.clone()).map_err(StartError::Interrupts)?;
    let gsi = match backend {
        Backend::Real(_) => None,
        Backend::Emulated(link) => link
            .link()
            .route_interrupt(vector)
            .map_err(StartError::Interrupts)?,
    };
    Ok((vector, gsi))
}

/// Spawns the bus task on `backend`, with `memory` for rings and SynIC pages.
pub fn spawn(backend: Backend, memory: PhysicalMemory) -> Result<BusHandle, StartError> {
    spawn_with_version(backend, memory, None)
}

/// As [`spawn`], proposing at most `max_version`.
pub fn spawn_with_version(
    backend: Backend,
    memory: PhysicalMemory,
    max_version: Option<Version>,
) -> Result<BusHandle, StartError> {
    let signal = InterruptSignal::new();
    let (vector, gsi) = route_interrupt(&backend, &signal)?;
    Ok(spawn_run(
        SharedBackend::new(backend),
        memory,
        vector,
        gsi,
        max_version,
        signal,
        Shared {
            connection_id: Arc::new(AtomicU32::new(0)),
            synic_polls: Arc::new(AtomicU64::new(0)),
        },
    ))
}

/// What a bus task shares with its [`BusHandle`] (and a restarted task with the old one's).
struct Shared {
    /// See [`BusHandle::connection_id`].
    connection_id: Arc<AtomicU32>,
    /// See [`BusHandle::synic_polls`].
    synic_polls: Arc<AtomicU64>,
}

/// Spawns a bus task, with fault containment, on an interrupt route already made.
fn spawn_run(
    backend: SharedBackend,
    memory: PhysicalMemory,
    vector: u8,
    gsi: Option<u32>,
    max_version: Option<Version>,
    signal: InterruptSignal,
    shared: Shared,
) -> BusHandle {
    let Shared {
        connection_id,
        synic_polls,
    } = shared;
    let (requests, receiver) = ipc::channel(64);
    let revocations = Revocations::new(backend.clone(), signal.clone());
    let slot = TaskSlot::new(BusRun {
        backend: Some(backend),
        memory: Some(memory),
        bus: None,
        vector,
        gsi,
        max_version,
        signal,
        requests: receiver,
        connection_id: connection_id.clone(),
        synic_polls: synic_polls.clone(),
        subscribers: Subscribers {
            channels: BTreeMap::new(),
            dropped: 0,
        },
        revocations,
        waiting_for_offers: Vec::new(),
        shutting_down: false,
        handled: 0,
    });
    let task =
        task::Builder::new("vmbus")
            .contain_faults()
            .spawn_in_slot(slot.clone(), |entered| {
                let Some(mut run) = entered else {
                    return;
                };
                let result = run.run();
                if let Some(gsi) = run.gsi {
                    interrupts::mask_gsi(gsi);
                }
                interrupts::unregister(run.vector);
                if let Err(error) = result {
                    log::error!("vmbus: bus task ended: {error}");
                }
            });
    BusHandle {
        requests,
        task,
        connection_id,
        synic_polls,
        slot,
    }
}

/// The kernel's clock for the bus's post retries: the TSC for the time, the scheduler for
/// waits of a millisecond or more (other tasks run meanwhile) and a spin below that (Linux's
/// `vmbus_post_msg` likewise uses udelay for short and msleep for long delays).
struct KernelRetryClock;

impl RetryClock for KernelRetryClock {
    fn now_microseconds(&mut self) -> u64 {
        crate::clock::nanoseconds_since_boot() / 1000
    }

    fn wait_microseconds(&mut self, microseconds: u64) {
        if microseconds >= 1000 {
            task::sleep_milliseconds(microseconds.div_ceil(1000));
        } else {
            crate::clock::busy_wait_microseconds(microseconds);
        }
    }
}

struct Subscribers {
    channels: BTreeMap<SubscriberId, (Sender<BusEvent>, SignalInbox)>,
    dropped: u64,
}

impl Subscribers {
    /// Delivers `event`; a successful `Opened` first leaves the channel's signal in the
    /// subscriber's inbox, and `Closed` and `Rescinded` revoke it (before the subscriber can
    /// see them). `connection_id` gives a channel's connection id.
    fn deliver(
        &mut self,
        subscriber: SubscriberId,
        event: BusEvent,
        revocations: &mut Revocations,
        connection_id: impl FnOnce(u32) -> Option<u32>,
    ) {
        match &event {
            DriverEvent::Closed { relid } | DriverEvent::Rescinded { relid } => {
                revocations.revoke(*relid);
            }
            _ => {}
        }
        let Some((channel, inbox)) = self.channels.get(&subscriber) else {
            log::debug!("vmbus: event for unregistered driver {subscriber:?}");
            return;
        };
        if let DriverEvent::Opened {
            relid,
            result: Ok(_),
        } = &event
        {
            match connection_id(*relid) {
                Some(id) => revocations.hand_out(inbox, *relid, id),
                None => log::warn!("vmbus: relid {relid} opened without an offer"),
            }
        }
        match channel.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                log::warn!("vmbus: driver {subscriber:?} is not keeping up; event dropped");
            }
            Err(TrySendError::Closed(_)) => {
                self.channels.remove(&subscriber);
            }
        }
    }
}

impl BusRun {
    /// Starts the bus driver (SynIC, INITIATE_CONTACT) and serves until shut down.
    fn run(&mut self) -> Result<(), BusError> {
        let (Some(mut backend), Some(memory)) = (self.backend.take(), self.memory.take()) else {
            return Err(BusError::ConnectFailed);
        };
        // Bytes that arrived before the route existed would never raise a new edge.
        backend.acknowledge_interrupt(true);
        let mut bus = BusDriver::start(
            backend,
            memory,
            &mut KernelPageAllocator,
            self.vector,
            self.max_version,
            Box::new(KernelRetryClock),
        )?;
        bus.set_time_bounds(super::host_waits::bus_bounds());
        self.bus = Some(bus);
        self.serve()
    }

    fn serve(&mut self) -> Result<(), BusError> {
        // Whether the next pass must poll the SynIC without a new interrupt: the first pass
        // (interrupts may have come while the driver started), a poll that stopped at its
        // bound, or an interrupt the link latched during this task's own requests.
        let mut poll_synic = true;
        let latched_only = self
            .bus
            .as_mut()
            .is_some_and(|bus| bus.synic().backend().synic_interrupts_are_latched());
        loop {
            crate::faults::checkpoint(crate::faults::Driver::Vmbus, self.handled);
            let BusRun {
                bus: Some(bus),
                signal,
                requests,
                subscribers,
                revocations,
                waiting_for_offers,
                shutting_down,
                connection_id,
                synic_polls,
                handled,
                ..
            } = self
            else {
                return Err(BusError::ConnectFailed);
            };
            // The interrupt path first: a response may already be latched by a synchronous
            // call. The SynIC is polled only after an interrupt (or a latched Interrupt frame):
            // a wake by a request alone (a device task's Signal, the most common) has nothing
            // to take there, since every message and every rising event flag comes with an
            // interrupt (on the emulated platform an Interrupt frame, which the link latches).
            // Any interrupt of the link still polls, even one that latched nothing (COM2's for
            // a hypercall's reply): skipping those too is not yet shown safe
            // (docs/performance.md §3, "Branch s5/wakes").
            let raised = signal.take();
            let synic_interrupt = bus.synic().backend().acknowledge_interrupt(raised);
            // Over ivshmem an interrupt with nothing latched brings nothing: a channel signal
            // raised the signal early for a frame it latched (taken just now), and the link's
            // MSI-X for that frame came after.
            let raised_for_synic = raised && !latched_only;
            let more_pending = if raised_for_synic || synic_interrupt || poll_synic {
                synic_polls.fetch_add(1, Ordering::Relaxed);
                match bus.on_interrupt() {
                    Ok(outcome) => outcome == InterruptOutcome::MorePending,
                    Err(error) => {
                        // The connection is gone (every version refused, or the link broke):
                        // tell the waiters why before the task ends.
                        for reply in waiting_for_offers.drain(..) {
                            let _ = reply.send(Err(error.clone()));
                        }
                        return Err(error);
                    }
                }
            } else {
                false
            };
            loop {
                let message = match requests.try_recv() {
                    Ok(message) => message,
                    Err(ipc::TryRecvError::Empty) => break,
                    Err(ipc::TryRecvError::Closed) => BusMessage::Shutdown,
                };
                *handled += 1;
                match message {
                    BusMessage::Register {
                        subscriber,
                        events,
                        signals,
                    } => {
                        subscribers.channels.insert(subscriber, (events, signals));
                    }
                    BusMessage::Request {
                        subscriber,
                        request,
                    } => {
                        if let Err(error) = bus.handle(subscriber, request) {
                            log::warn!("vmbus: request from {subscriber:?} failed: {error}");
                        }
                    }
                    BusMessage::ListOffers { reply } => waiting_for_offers.push(reply),
                    BusMessage::Mmio { access, reply } => {
                        let backend = bus.synic().backend();
                        let result = match access {
                            MmioOperation::Read { gpa, size } => backend.mmio_read(gpa, size),
                            MmioOperation::Write { gpa, size, value } => {
                                backend.mmio_write(gpa, size, value).map(|()| 0)
                            }
                        };
                        let _ = reply.try_send(result);
                    }
                    BusMessage::ReferenceCounter { reply } => {
                        let _ = reply.try_send(bus.synic().backend().reference_counter());
                    }
                    BusMessage::Shutdown => {
                        if !*shutting_down {
                            *shutting_down = true;
                            revocations.revoke_all();
                            bus.unload()?;
                        }
                        break;
                    }
                }
            }
            bus.check_time_bounds();
            while let Some(output) = bus.poll_output() {
                let offers = &*bus;
                subscribers.deliver(output.subscriber, output.event, revocations, |relid| {
                    offers
                        .offers()
                        .find(|offer| offer.relid == relid)
                        .map(|offer| offer.connection_id)
                });
            }
            while let Some(notice) = bus.poll_notice() {
                report_notice(notice);
            }
            if let Some(failure) = bus.failure()
                && !waiting_for_offers.is_empty()
            {
                for reply in waiting_for_offers.drain(..) {
                    let _ = reply.send(Err(failure.clone()));
                }
            }
            if bus.is_ready() && !waiting_for_offers.is_empty() {
                let version = bus.version().unwrap_or(Version::WIN10_V5_3);
                let offers: Vec<ChannelOffer> = bus.offers().cloned().collect();
                connection_id.store(bus.message_connection_id().unwrap_or(0), Ordering::Release);
                for reply in waiting_for_offers.drain(..) {
                    let _ = reply.send(Ok((version, offers.clone())));
                }
            }
            if *shutting_down && bus.unload_timed_out() {
                let milliseconds = bus.time_bounds().unload_microseconds / 1000;
                // Not torn down: the host may still write the SynIC and monitor pages.
                return Err(BusError::UnloadTimedOut { milliseconds });
            }
            if *shutting_down && bus.is_unloaded() {
                let statistics = bus.statistics();
                log::debug!(
                    "vmbus: unloaded ({statistics:?}, {} events dropped)",
                    subscribers.dropped
                );
                if let Some(bus) = self.bus.take() {
                    bus.shutdown(&mut KernelPageAllocator)?;
                }
                return Ok(());
            }
            let deadline = bus.next_deadline_microseconds().map(deadline_in_ticks);
            // An Interrupt frame the link read while this pass's requests polled for their
            // replies: over COM2 no interrupt may follow it, so do not sleep on one.
            poll_synic = more_pending || bus.synic().backend().has_latched_interrupt();
            if poll_synic {
                // Messages may be waiting with no interrupt to come: come back by ourselves.
                task::yield_now();
            } else if *shutting_down {
                ipc::select_until(&[&*signal], deadline);
            } else {
                ipc::select_until(&[&*signal, &*requests], deadline);
            }
        }
    }

    /// The restart after a contained fault (see [`BusHandle::restart`]), run by the
    /// supervisor on the dead task's state.
    fn restart(mut self) -> Result<BusHandle, RestartError> {
        self.waiting_for_offers.clear();
        // No device task signals a channel of the old connection from here on.
        self.revocations.revoke_all();
        let (backend, memory) = match self.bus.take() {
            Some(bus) => self.unload_and_tear_down(bus)?,
            // It faulted before starting the driver: nothing was set up.
            None => (
                self.backend.take().ok_or(RestartError::StateLost)?,
                self.memory.take().ok_or(RestartError::StateLost)?,
            ),
        };
        // Only now (the host has forgotten every channel and GPADL) do the drivers' event
        // channels close: they end, free their rings, and are restarted above the new bus.
        let BusRun {
            vector,
            gsi,
            max_version,
            signal,
            connection_id,
            synic_polls,
            ..
        } = self;
        connection_id.store(0, Ordering::Release);
        Ok(spawn_run(
            backend,
            memory,
            vector,
            gsi,
            max_version,
            signal,
            Shared {
                connection_id,
                synic_polls,
            },
        ))
    }

    /// UNLOAD, the wait for UNLOAD_RESPONSE (bounded), then the SynIC and connection pages
    /// torn down; gives back the backend and the memory.
    fn unload_and_tear_down(
        &mut self,
        mut bus: BusDriver<SharedBackend, PhysicalMemory>,
    ) -> Result<(SharedBackend, PhysicalMemory), RestartError> {
        if !bus.version().is_some_and(Version::supports_unload) {
            return Err(RestartError::NoUnload);
        }
        bus.unload().map_err(RestartError::Unload)?;
        let deadline = clock::ticks() + clock::milliseconds_to_ticks(RESTART_UNLOAD_MILLISECONDS);
        while !bus.is_unloaded() {
            self.signal.take();
            bus.synic().backend().acknowledge_interrupt(true);
            let outcome = bus.on_interrupt().map_err(RestartError::Unload)?;
            bus.check_time_bounds();
            while bus.poll_output().is_some() {}
            if bus.is_unloaded() {
                break;
            }
            // Messages may be waiting with no interrupt to come, or the link latched an
            // Interrupt frame (or holds bytes) during this pass's requests: as in `serve`.
            if outcome == InterruptOutcome::MorePending
                || bus.synic().backend().has_latched_interrupt()
            {
                task::yield_now();
                continue;
            }
            if bus.unload_timed_out() || clock::ticks() >= deadline {
                // Not torn down: the host may still write the SynIC and monitor pages.
                let milliseconds = bus.time_bounds().unload_microseconds / 1000;
                core::mem::forget(bus);
                return Err(RestartError::Unload(BusError::UnloadTimedOut {
                    milliseconds,
                }));
            }
            let wake = bus
                .next_deadline_microseconds()
                .map_or(deadline, deadline_in_ticks)
                .min(deadline);
            ipc::select_until(&[&self.signal], Some(wake));
        }
        bus.shutdown(&mut KernelPageAllocator)
            .map_err(RestartError::Unload)
    }
}

/// Logs a notice of the bus for its drivers ([`drivers::vmbus_bus::BusNotice`]). They are not
/// forwarded: channel resets come only from an UNLOAD, after which the supervisor restarts every
/// driver above the bus; a close that timed out ends the driver's own bounded close wait, and
/// the driver keeps that channel's ring pages lent to the host (docs/kernel.md, "Fault model").
fn report_notice(notice: drivers::vmbus_bus::BusNotice) {
    use drivers::vmbus_bus::BusNotice;
    match notice {
        BusNotice::CloseTimedOut {
            relid,
            milliseconds,
            ..
        } => log::warn!(
            "vmbus: channel {relid}: no GPADL teardown answer within {milliseconds} ms; its ring pages stay with the host"
        ),
        BusNotice::ChannelReset {
            relid,
            memory_released,
            ..
        } => log::debug!("vmbus: channel {relid} reset (memory released: {memory_released})"),
    }
}

/// A deadline on the bus's clock ([`KernelRetryClock`], microseconds since boot) in timer
/// ticks, rounded up so that the task wakes at or after it.
fn deadline_in_ticks(deadline_microseconds: u64) -> u64 {
    let now = crate::clock::nanoseconds_since_boot() / 1000;
    let milliseconds = deadline_microseconds.saturating_sub(now).div_ceil(1000);
    clock::ticks() + clock::milliseconds_to_ticks(milliseconds).max(1)
}
