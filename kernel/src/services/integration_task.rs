//! The integration-services task: the I/O side of `drivers::integration`, one task for the
//! heartbeat, shutdown, time-sync and key-value channels (as the vPCI task serves every vPCI
//! bus): it subscribes to the four classes, opens each channel when offered, answers every host
//! message with the request's VMBus transaction id, and acts on what the messages mean:
//! - a negotiation writes `ic: <service> negotiated framework X.Y message X.Y` to COM1;
//! - a time sample sets the kernel's wall clock (`crate::clock::set_wall_clock`; the monotonic
//!   clock does not move), from the first sample and from every SYNC sample, as Linux's
//!   `adj_guesttime` does (SYNC is the host's "set the clock now"; SAMPLEs are hints); a 4.0
//!   sample is advanced by the partition reference time elapsed since the host took it (the
//!   counter, MSR TIME_REF_COUNT, is read by the bus task; where the platform does not grant
//!   it the sample is taken as current);
//! - an accepted shutdown or restart request is passed to the kernel's init task
//!   ([`ShutdownRequest`]) after the reply was written; the init task carries it out
//!   (`services::carry_out_shutdown`).
//!
//! A rescinded channel is closed and forgotten; a channel offered again is opened afresh and
//! negotiates anew (a user switching a service off and on in Hyper-V Manager). Every host field
//! is checked by `drivers::integration`; a malformed message is logged at debug level and
//! dropped. A reply that does not fit the ring is dropped (logged): the task never waits on a
//! host that does not read.
//!
//! Containment (issue 14): the task runs with fault containment, its state in a
//! [`TaskSlot`] that the supervisor takes back after a contained fault
//! ([`IntegrationHandle::join_and_release`]): the channels are closed (bounded wait) and the
//! ring pages of a close the host confirmed are freed; those of a close it never confirmed stay
//! lent to the host for good (it may still write them), counted by [`ring_pages_kept`]. After an
//! answered VMBus UNLOAD the host holds none of them, and they are freed without waiting.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use drivers::integration::{
    GuestIdentity, IcChannel, IcEvent, Service, ShutdownKind, TimeSample, UtcTime,
    host_time_to_unix_nanoseconds, sample_time_with_counter, wire::time_sync_flags,
};
use drivers::vmbus_bus::{BusRequest, ChannelRings, DriverEvent, RingMemory};
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::ring::OutgoingPacket;

use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::ipc::{self, Receiver, Sender};
use crate::memory::ContiguousPages;
use crate::services::channel_signal::{ChannelSignal, SignalInbox};
use crate::services::vmbus_task::{self, BusEvent, BusMessage, EVENT_CAPACITY};
use crate::task::{self, TaskFault, TaskHandle, TaskSlot};

/// Ring pages per direction, control page included (Linux's util drivers open with
/// 4 × 4 KiB; a KVP message is about 2.6 KiB).
const RING_PAGES: u64 = 4;

/// How long stopping waits for the host to confirm the closes.
const STOP_WAIT_MILLISECONDS: u64 = 1_000;

/// How long a time sample waits for the bus task to read the reference counter (one MSR read,
/// over COM2 under the emulator; generous for a loaded machine).
const REFERENCE_COUNTER_MILLISECONDS: u64 = 1_000;

/// A host request the kernel must carry out.
pub type ShutdownRequest = ShutdownKind;

/// Ring pages kept lent to the host because it never confirmed their channel's close.
static RING_PAGES_KEPT: AtomicU64 = AtomicU64::new(0);
/// Service negotiations completed since boot (every instance).
static NEGOTIATIONS: AtomicU64 = AtomicU64::new(0);

/// Ring pages the integration tasks kept lent to the host since boot, because the host never
/// confirmed their channel's close (they are never freed).
pub fn ring_pages_kept() -> u64 {
    RING_PAGES_KEPT.load(Ordering::Relaxed)
}

/// Service negotiations (`ic: <service> negotiated ...`) since boot, every instance.
pub fn negotiations() -> u64 {
    NEGOTIATIONS.load(Ordering::Relaxed)
}

/// The kernel's handle on the running task.
pub struct IntegrationHandle {
    /// `true`: the host answered a VMBus UNLOAD (nothing to close).
    stop: Sender<bool>,
    task: TaskHandle<()>,
    slot: TaskSlot<IntegrationRun>,
}

impl IntegrationHandle {
    /// Closes the IC channels, then joins the task and releases what it left (see
    /// [`IntegrationHandle::join_and_release`]).
    pub fn stop(self) -> Result<(), TaskFault> {
        let _ = self.stop.try_send(false);
        self.join_and_release()
    }

    /// After the host answered a VMBus UNLOAD: ends the task without closing anything (the
    /// host forgot every channel and GPADL), joins it, and frees the ring pages.
    pub fn stop_after_unload(self) -> Result<(), TaskFault> {
        let _ = self.stop.try_send(true);
        self.join_and_release_with(true)
    }

    /// Whether the task has ended (normally or by a contained fault).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Joins the ended task (`Err`: the fault that ended it) and releases its state, taken
    /// back from its slot: channels still open are closed with a bounded wait; ring pages whose
    /// close the host never confirmed stay lent to it.
    pub fn join_and_release(self) -> Result<(), TaskFault> {
        self.join_and_release_with(false)
    }

    fn join_and_release_with(self, unloaded: bool) -> Result<(), TaskFault> {
        let IntegrationHandle { task, slot, .. } = self;
        let owner = task.task().clone();
        let result = task.join();
        if let Some(mut run) = slot.reclaim(&owner) {
            if unloaded {
                run.state.channels.clear();
            } else {
                run.state.stop(&run.events);
            }
        }
        result
    }
}

/// The task's state, owned through its [`TaskSlot`] so that a contained fault releases it.
struct IntegrationRun {
    state: IntegrationTask,
    events: Receiver<BusEvent>,
    stop: Receiver<bool>,
}

struct Channel {
    service: Service,
    rings: Option<ChannelRings<PhysicalMemory>>,
    /// The ring pages; freed with the channel once its close is confirmed (kept lent to the
    /// host otherwise, see `IntegrationTask::stop`).
    pages: ContiguousPages,
    protocol: IcChannel,
    closing: bool,
    /// The signal to the host for this channel, once it is open.
    signal: Option<ChannelSignal>,
}

struct IntegrationTask {
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    /// Where the bus task leaves the signals of opened channels.
    signals: SignalInbox,
    requests: Sender<ShutdownRequest>,
    identity: GuestIdentity,
    channels: BTreeMap<u32, Channel>,
    receive_buffer: Vec<u8>,
    clock_set: bool,
    /// Bus events handled by this instance (for fault injection).
    handled: u64,
}

/// Spawns the task with fault containment; it registers with the bus task as `subscriber`.
/// Accepted shutdown and restart requests are sent to `requests` (the supervisor starts the
/// task again on the same channel after a fault or a VMBus restart). `None` when the bus task
/// is gone.
pub fn spawn_with_requests(
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    identity: GuestIdentity,
    requests: Sender<ShutdownRequest>,
) -> Option<IntegrationHandle> {
    let (stop, stop_receiver) = ipc::channel::<bool>(1);
    let state = IntegrationTask {
        bus_task,
        subscriber,
        signals: SignalInbox::default(),
        requests,
        identity,
        channels: BTreeMap::new(),
        receive_buffer: Vec::new(),
        clock_set: false,
        handled: 0,
    };
    let events = state.register()?;
    let slot = TaskSlot::new(IntegrationRun {
        state,
        events,
        stop: stop_receiver,
    });
    let task = task::Builder::new("integration")
        .contain_faults()
        .spawn_in_slot(slot.clone(), |entered| {
            if let Some(mut run) = entered {
                run.serve();
            }
        });
    Some(IntegrationHandle { stop, task, slot })
}

impl IntegrationRun {
    /// The task's loop: bus events until stopped (then the channels are closed) or until the
    /// bus task ends.
    fn serve(&mut self) {
        let IntegrationRun {
            state,
            events,
            stop,
        } = self;
        loop {
            crate::faults::checkpoint(crate::faults::Driver::Integration, state.handled);
            loop {
                match events.try_recv() {
                    Ok(event) => {
                        state.handled += 1;
                        state.on_bus_event(event);
                    }
                    Err(ipc::TryRecvError::Empty) => break,
                    // The bus task has ended; the joiner releases what is left.
                    Err(ipc::TryRecvError::Closed) => return,
                }
            }
            match stop.try_recv() {
                Ok(false) | Err(ipc::TryRecvError::Closed) => break,
                // The joiner frees the rings: the host forgot them.
                Ok(true) => return,
                Err(ipc::TryRecvError::Empty) => {}
            }
            let doorbell =
                crate::faults::Doorbell::new(crate::faults::Driver::Integration, state.handled);
            ipc::select(&[&*events, &*stop, &doorbell]);
        }
        state.stop(events);
    }
}

impl IntegrationTask {
    fn register(&self) -> Option<Receiver<BusEvent>> {
        let (events_sender, events) = ipc::channel(EVENT_CAPACITY);
        self.bus_task
            .send(BusMessage::Register {
                subscriber: self.subscriber,
                events: events_sender,
                signals: self.signals.clone(),
            })
            .ok()?;
        for service in [
            Service::Heartbeat,
            Service::Shutdown,
            Service::TimeSync,
            Service::KeyValue,
        ] {
            self.request(BusRequest::Subscribe {
                class: service.class(),
                subscriber: self.subscriber,
            });
        }
        Some(events)
    }

    fn request(&self, request: BusRequest) {
        vmbus_task::send_request(&self.bus_task, self.subscriber, request, "ic");
    }

    fn on_bus_event(&mut self, event: BusEvent) {
        match event {
            DriverEvent::Offer(offer) => self.on_offer(&offer),
            DriverEvent::Opened { relid, result } => match result {
                Ok(rings) => {
                    if let Some(channel) = self.channels.get_mut(&relid) {
                        channel.rings = Some(*rings);
                        channel.signal = self.signals.take(relid);
                    }
                    self.drain(relid);
                }
                Err(failure) => {
                    log::warn!("ic: opening relid {relid} failed: {failure:?}");
                    self.channels.remove(&relid);
                }
            },
            DriverEvent::Signalled { relid } => self.drain(relid),
            DriverEvent::Rescinded { relid } => {
                if let Some(channel) = self.channels.get_mut(&relid) {
                    log::info!("ic: {} channel rescinded", channel.service.name());
                    channel.rings = None;
                    channel.signal = None;
                    channel.closing = true;
                    self.request(BusRequest::Close { relid });
                }
            }
            DriverEvent::Closed { relid } => {
                self.channels.remove(&relid);
            }
        }
    }

    /// An IC offer: allocate rings and open.
    fn on_offer(&mut self, offer: &ChannelOffer) {
        let Some(service) = Service::of_class(offer.class) else {
            return;
        };
        if self.channels.contains_key(&offer.relid) {
            return;
        }
        let Ok(pages) = ContiguousPages::allocate_zeroed(2 * RING_PAGES as usize) else {
            log::warn!("ic: no memory for the {} rings", service.name());
            return;
        };
        let rings = RingMemory {
            gpa: pages.physical_address().as_u64(),
            outbound_bytes: RING_PAGES * 4096,
            inbound_bytes: RING_PAGES * 4096,
        };
        self.channels.insert(
            offer.relid,
            Channel {
                service,
                rings: None,
                pages,
                protocol: IcChannel::new(service, self.identity.clone()),
                closing: false,
                signal: None,
            },
        );
        self.request(BusRequest::Open {
            relid: offer.relid,
            rings,
            user_data: [0; 120],
        });
    }

    /// Signals the host for `relid` from this task (`services::channel_signal`).
    fn signal_host(&self, relid: u32) {
        let signal = self.channels.get(&relid);
        super::channel_signal::signal_host(
            "ic",
            relid,
            signal.and_then(|channel| channel.signal.as_ref()),
        );
    }

    /// Reads and answers every waiting packet of `relid`.
    fn drain(&mut self, relid: u32) {
        let mut events = Vec::new();
        let mut signal = false;
        {
            let Some(channel) = self.channels.get_mut(&relid) else {
                return;
            };
            let Some(rings) = channel.rings.as_mut() else {
                return;
            };
            let mut corrupt = false;
            for round in 1..=super::DRAIN_ROUNDS {
                loop {
                    let packet = match rings.inbound.read_packet(&mut self.receive_buffer) {
                        Ok(Some(packet)) => packet,
                        Ok(None) => break,
                        Err(error) => {
                            log::warn!("ic: corrupt inbound ring of relid {relid}: {error:?}");
                            corrupt = true;
                            break;
                        }
                    };
                    let payload = packet.payload(&self.receive_buffer);
                    match channel.protocol.handle(payload) {
                        Ok(handled) => {
                            if let Some(reply) = handled.reply {
                                let outgoing =
                                    OutgoingPacket::in_band(packet.transaction_id, false, &reply);
                                match rings.outbound.send(&outgoing) {
                                    Ok(needed) => signal |= needed,
                                    Err(error) => {
                                        log::warn!("ic: reply on relid {relid} dropped: {error:?}")
                                    }
                                }
                            }
                            events.extend(handled.event.map(|event| (channel.service, event)));
                        }
                        Err(error) => {
                            log::debug!("ic: {} message dropped: {error}", channel.service.name())
                        }
                    }
                }
                match rings.inbound.commit() {
                    Ok(true) => signal = true,
                    Ok(false) => {}
                    Err(error) => {
                        log::warn!("ic: ring commit of relid {relid}: {error:?}");
                        break;
                    }
                }
                if corrupt || super::drained(&mut rings.inbound, relid, round) {
                    break;
                }
            }
        }
        if signal {
            self.signal_host(relid);
        }
        // Acted on only after the replies went out (a shutdown is answered first).
        for (service, event) in events {
            self.on_event(service, event);
        }
    }

    fn on_event(&mut self, service: Service, event: IcEvent) {
        match event {
            IcEvent::Negotiated(agreed) => {
                NEGOTIATIONS.fetch_add(1, Ordering::Relaxed);
                crate::serial::write_fmt(format_args!(
                    "ic: {} negotiated framework {} message {}\n",
                    service.name(),
                    agreed.framework,
                    agreed.message
                ))
            }
            IcEvent::Heartbeat { sequence } => log::trace!("ic: heartbeat {sequence}"),
            IcEvent::ShutdownRequested(kind) => {
                log::info!("ic: the host asks for {kind:?}");
                if self.requests.try_send(kind).is_err() {
                    log::warn!("ic: a shutdown request is already pending");
                }
            }
            IcEvent::ShutdownRefused { flags } => {
                log::info!("ic: shutdown request with flags {flags:#x} refused (no hibernation)")
            }
            IcEvent::TimeSample(sample) => self.on_time_sample(&sample),
            IcEvent::KeyValueAnswered { status } => log::debug!("ic: kvp answered {status:#x}"),
        }
    }

    /// Sets the wall clock from the first sample and from every SYNC sample.
    fn on_time_sample(&mut self, sample: &TimeSample) {
        if self.clock_set && sample.flags & time_sync_flags::SYNC == 0 {
            return;
        }
        // A 4.0 sample is advanced by the reference time elapsed since the host took it.
        let host_time = sample_time_with_counter(sample, || self.read_reference_counter());
        let Some(unix) = host_time_to_unix_nanoseconds(host_time) else {
            log::warn!("ic: time sample {host_time} is before 1970; ignored");
            return;
        };
        if crate::clock::set_wall_clock(unix) {
            self.clock_set = true;
            crate::serial::write_fmt(format_args!(
                "timesync: wall clock set to {}\n",
                UtcTime::from_unix_nanoseconds(unix)
            ));
        }
    }

    /// The partition reference counter, read by the bus task (which owns the backend); `None`
    /// where the platform does not grant it, or when the bus task does not answer within
    /// [`REFERENCE_COUNTER_MILLISECONDS`] (the sample is then taken as current).
    fn read_reference_counter(&self) -> Option<u64> {
        let (reply, answer) = ipc::channel(1);
        self.bus_task
            .send(BusMessage::ReferenceCounter { reply })
            .ok()?;
        let deadline = crate::clock::ticks()
            + crate::clock::milliseconds_to_ticks(REFERENCE_COUNTER_MILLISECONDS);
        answer.recv_until(deadline).ok().flatten()
    }

    /// Closes every open channel, with a bounded wait for the host's confirmations; the ring
    /// pages of a close the host did not confirm stay lent to it (never freed: it may still
    /// write them).
    fn stop(&mut self, events: &Receiver<BusEvent>) {
        let relids: Vec<u32> = self.channels.keys().copied().collect();
        for relid in relids {
            if let Some(channel) = self.channels.get_mut(&relid)
                && !channel.closing
            {
                channel.closing = true;
                channel.rings = None;
                self.request(BusRequest::Close { relid });
            }
        }
        let mut waited = 0;
        while !self.channels.is_empty() && waited < STOP_WAIT_MILLISECONDS {
            while let Ok(event) = events.try_recv() {
                if let DriverEvent::Closed { relid } = event {
                    self.channels.remove(&relid);
                }
            }
            task::sleep_milliseconds(5);
            waited += 5;
        }
        for (relid, channel) in core::mem::take(&mut self.channels) {
            log::warn!("ic: the close of relid {relid} was not confirmed; its ring pages stay");
            RING_PAGES_KEPT.fetch_add(channel.pages.page_count() as u64, Ordering::Relaxed);
            core::mem::forget(channel.pages);
        }
    }
}
