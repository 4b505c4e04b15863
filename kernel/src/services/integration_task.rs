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

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

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
use crate::services::vmbus_task::{self, BusEvent, BusMessage, EVENT_CAPACITY};
use crate::task::{self, TaskHandle};

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

/// The kernel's handle on the running task.
pub struct IntegrationHandle {
    stop: Sender<()>,
    task: TaskHandle<()>,
}

impl IntegrationHandle {
    /// Closes the IC channels and returns the task handle to join.
    pub fn stop(self) -> TaskHandle<()> {
        let _ = self.stop.try_send(());
        self.task
    }
}

struct Channel {
    service: Service,
    rings: Option<ChannelRings<PhysicalMemory>>,
    /// The ring pages; freed with the channel, after it is closed.
    _pages: ContiguousPages,
    protocol: IcChannel,
    closing: bool,
}

struct IntegrationTask {
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    requests: Sender<ShutdownRequest>,
    identity: GuestIdentity,
    channels: BTreeMap<u32, Channel>,
    receive_buffer: Vec<u8>,
    clock_set: bool,
}

/// Spawns the task; it registers with the bus task as `subscriber`. Accepted shutdown and
/// restart requests are sent to `requests` (the supervisor starts the task again on the same
/// channel after a VMBus restart).
pub fn spawn_with_requests(
    bus_task: Sender<BusMessage>,
    subscriber: SubscriberId,
    identity: GuestIdentity,
    requests: Sender<ShutdownRequest>,
) -> IntegrationHandle {
    let (stop, stop_receiver) = ipc::channel::<()>(1);
    let task = task::spawn("integration", move || {
        let mut state = IntegrationTask {
            bus_task,
            subscriber,
            requests,
            identity,
            channels: BTreeMap::new(),
            receive_buffer: Vec::new(),
            clock_set: false,
        };
        let Some(events) = state.register() else {
            return;
        };
        loop {
            loop {
                match events.try_recv() {
                    Ok(event) => state.on_bus_event(event),
                    Err(ipc::TryRecvError::Empty) => break,
                    Err(ipc::TryRecvError::Closed) => return,
                }
            }
            match stop_receiver.try_recv() {
                Ok(()) | Err(ipc::TryRecvError::Closed) => break,
                Err(ipc::TryRecvError::Empty) => {}
            }
            ipc::select(&[&events, &stop_receiver]);
        }
        state.stop(&events);
    });
    IntegrationHandle { stop, task }
}

impl IntegrationTask {
    fn register(&self) -> Option<Receiver<BusEvent>> {
        let (events_sender, events) = ipc::channel(EVENT_CAPACITY);
        self.bus_task
            .send(BusMessage::Register {
                subscriber: self.subscriber,
                events: events_sender,
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
                        channel.rings = Some(rings);
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
                _pages: pages,
                protocol: IcChannel::new(service, self.identity.clone()),
                closing: false,
            },
        );
        self.request(BusRequest::Open {
            relid: offer.relid,
            rings,
            user_data: [0; 120],
        });
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
            self.request(BusRequest::Signal { relid });
        }
        // Acted on only after the replies went out (a shutdown is answered first).
        for (service, event) in events {
            self.on_event(service, event);
        }
    }

    fn on_event(&mut self, service: Service, event: IcEvent) {
        match event {
            IcEvent::Negotiated(agreed) => crate::serial::write_fmt(format_args!(
                "ic: {} negotiated framework {} message {}\n",
                service.name(),
                agreed.framework,
                agreed.message
            )),
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

    /// Closes every open channel, with a bounded wait for the host's confirmations.
    fn stop(mut self, events: &Receiver<BusEvent>) {
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
        if !self.channels.is_empty() {
            log::warn!("ic: not every channel close was confirmed");
        }
    }
}
