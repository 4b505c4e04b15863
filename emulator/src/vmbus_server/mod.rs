//! The emulated VMBus host (server), sans-I/O.
//!
//! It speaks the real control protocol with the `vmbus` crate's message and ring types.
//! Input: guest messages ([`Server::on_guest_message`], as HvPostMessage would deliver them)
//! and guest signals ([`Server::on_guest_signal`], as HvSignalEvent would). Output: a queue of
//! [`ServerOutput`]s — control messages for the guest's VMBus SINT and event flags to set —
//! taken with [`Server::poll_output`]. The caller (the emulated SynIC, or a test harness) does
//! the delivery.
//!
//! State: the connection (version, message connection id), the offered channels (relids from
//! 1, signalling connection id `0x2000 + relid`), the GPADL table (incomplete GPADLs keyed by
//! handle while their bodies arrive; its changes reported to device models on request, see
//! [`GpadlEvent`]), and the rings of open channels. A configurable
//! [`Misbehaviour`] injects faults; [`Server::rescind`] withdraws an offer on demand.
//!
//! What runs behind an open channel depends on its [`DeviceKind`]: the echo device is built
//! in; [`DeviceKind::Service`] channels are served by a host device model through
//! [`ChannelService`] and [`Server::run_services`] (see [`service`]); `Passive` channels are
//! left to whoever takes their rings with [`Server::host_channel`].

mod answer_faults;
mod channel;
mod config;
mod error;
mod gpadl_events;
mod hook;
pub mod loopback;
pub mod service;
#[cfg(test)]
mod tests;

pub use answer_faults::{AnswerFault, AnswerKind, AnswerTiming};
pub use channel::HostChannel;
pub use config::{
    DXG_IO_SPACE_MEGABYTES, DeviceConfig, DeviceKind, Misbehaviour, ServerConfig, UNCLAIMED_CLASS,
    VpciBus, instance_guid,
};
pub use error::ServerError;
pub use gpadl_events::GpadlEvent;
pub use hook::OutgoingHook;
pub use service::{ChannelService, ReplyKind, ServicePacket, ServiceReply, ServiceStatistics};

use answer_faults::{AnswerFaults, Held};
use hyperv::memory::GuestMemory;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use vmbus::gpadl::{GpaRange, GpadlAssembler};
use vmbus::messages::{ControlMessage, MessageType, STATUS_UNSUCCESSFUL, encode, parse};
use vmbus::ring::{ChannelRings, FEATURE_BITS_OFFSET, IndexKind};
use vmbus::version::{
    MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_MULTICLIENT, VMBUS_SYNIC_MESSAGE_TYPE, Version,
};

/// Something for the caller to deliver to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerOutput {
    /// A control message for the guest's VMBus SINT (SynIC message type 1), on `target_vp`.
    Message {
        /// VP whose SIM slot gets it.
        target_vp: u32,
        /// The payload.
        payload: Vec<u8>,
    },
    /// Set SIEF bit `relid` on `target_vp` (interrupt on a 0→1 change).
    SetEventFlag {
        /// VP.
        target_vp: u32,
        /// The channel (bit index).
        relid: u32,
    },
}

/// Base of the signalling connection ids given to channels.
pub const CHANNEL_CONNECTION_ID_BASE: u32 = 0x2000;

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per offered channel (a handful); an open channel's rings live inline"
)]
enum ChannelState<M: GuestMemory> {
    Offered,
    Open { gpadl: u32, channel: HostChannel<M> },
}

#[derive(Debug)]
struct Offer<M: GuestMemory> {
    device: DeviceConfig,
    state: ChannelState<M>,
    rescinded: bool,
    /// GPADL teardowns requested while the channel was open; answered on close.
    deferred_teardowns: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    Disconnected,
    Connected {
        version: Version,
        target_vp: u32,
        message_connection_id: u32,
        offers_sent: bool,
    },
}

/// The emulated VMBus host.
#[derive(Debug)]
pub struct Server<M: GuestMemory + Clone> {
    memory: M,
    config: ServerConfig,
    connection: Connection,
    offers: BTreeMap<u32, Offer<M>>,
    gpadls: BTreeMap<u32, (u32, Vec<GpaRange>)>,
    incomplete_gpadls: BTreeMap<u32, GpadlAssembler>,
    outputs: VecDeque<ServerOutput>,
    misbehaviour: Misbehaviour,
    corrupted: u32,
    service_statistics: ServiceStatistics,
    /// Packet copy buffer for service channels.
    scratch: Vec<u8>,
    /// Channels closed since the last [`Server::take_closed_channels`] (CLOSECHANNEL, a new
    /// connection or UNLOAD), so device models can reset their per-open state.
    closed_channels: Vec<u32>,
    /// GPADL table changes since the last [`Server::take_gpadl_events`] (`None` until
    /// [`Server::report_gpadls`]).
    gpadl_events: Option<Vec<GpadlEvent>>,
    /// The monitor pages of the last accepted INITIATE_CONTACT (parent→child, child→parent).
    monitor_pages: Option<(u64, u64)>,
    /// The feature bits of each channel's two rings (guest→host, host→guest) as the guest had
    /// set them when its OPENCHANNEL arrived.
    ring_features_at_open: BTreeMap<u32, (u32, u32)>,
    /// Rewrites outgoing traffic (the hostile-host suite), if set.
    hook: Option<Box<dyn OutgoingHook>>,
    /// The "never answer" / "answer late" switches and the host's clock.
    answer_faults: AnswerFaults,
    /// The command of each dxg request awaiting its completion, by (channel, transaction id),
    /// for [`AnswerKind::DxgCommand`] faults; at most [`MAX_TRACKED_DXG_REQUESTS`].
    dxg_requests: BTreeMap<(u32, u64), (bool, u32)>,
    /// Control messages held by a late-answer fault: (VP, payload) released when due.
    held_messages: VecDeque<Held<(u32, Vec<u8>)>>,
    /// Device-model packets held by a late-answer fault.
    held_replies: VecDeque<Held<ServiceReply>>,
    /// Whether a connection was ever accepted (a host below 3.0 accepts no second one).
    ever_connected: bool,
}

/// Most guest packets one [`Server::run_services`] call hands to the device model; the rest
/// wait for the next call (the next signal or poll), so a guest that writes without pause
/// cannot keep the host in one call forever.
const SERVICE_BUDGET: usize = 4096;

impl<M: GuestMemory + Clone> Server<M> {
    /// A host over guest `memory` with `config`.
    pub fn new(memory: M, config: ServerConfig) -> Self {
        let offers = config
            .devices
            .iter()
            .enumerate()
            .map(|(index, device)| {
                let offer = Offer {
                    device: device.clone(),
                    state: ChannelState::Offered,
                    rescinded: false,
                    deferred_teardowns: Vec::new(),
                };
                (index as u32 + 1, offer)
            })
            .collect();
        let misbehaviour = config.misbehaviour.clone();
        let answer_faults = AnswerFaults::new(&misbehaviour.answer_faults);
        Server {
            memory,
            config,
            connection: Connection::Disconnected,
            offers,
            gpadls: BTreeMap::new(),
            incomplete_gpadls: BTreeMap::new(),
            outputs: VecDeque::new(),
            misbehaviour,
            corrupted: 0,
            service_statistics: ServiceStatistics::default(),
            scratch: Vec::new(),
            closed_channels: Vec::new(),
            gpadl_events: None,
            monitor_pages: None,
            ring_features_at_open: BTreeMap::new(),
            hook: None,
            answer_faults,
            dxg_requests: BTreeMap::new(),
            held_messages: VecDeque::new(),
            held_replies: VecDeque::new(),
            ever_connected: false,
        }
    }

    /// Tells the host the time (since it started; never goes back) and sends the answers held
    /// by a late-answer fault whose time has come, in the order they were held.
    pub fn advance_clock(&mut self, now: Duration) {
        self.answer_faults.set_now(now);
        let now = self.answer_faults.now();
        while self
            .held_messages
            .front()
            .is_some_and(|held| held.due <= now)
        {
            if let Some(held) = self.held_messages.pop_front() {
                let (target_vp, payload) = held.answer;
                self.outputs
                    .push_back(ServerOutput::Message { target_vp, payload });
            }
        }
        while self
            .held_replies
            .front()
            .is_some_and(|held| held.due <= now)
        {
            if let Some(held) = self.held_replies.pop_front() {
                self.queue_reply_now(held.answer);
            }
        }
    }

    /// The VM was reset (the guest rebooted): the connection ends as at UNLOAD, without an
    /// answer, and the host is as at VM start (a host below 3.0 accepts a first connection
    /// again). OpenVMM resets its server the same way on a VM reset (`ConnectionAction::Reset`
    /// in microsoft/openvmm `vm/devices/vmbus/vmbus_server/src/channels.rs`).
    pub fn vm_reset(&mut self) {
        self.reset();
        self.connection = Connection::Disconnected;
        self.ever_connected = false;
        self.held_messages.clear();
        self.held_replies.clear();
    }

    /// Answers the late-answer faults still hold (control messages and device packets).
    pub fn held_answer_count(&self) -> usize {
        self.held_messages.len() + self.held_replies.len()
    }

    /// Answers the never-answer faults dropped, and answers the late-answer faults delayed.
    pub fn answer_fault_counts(&self) -> (u64, u64) {
        (self.answer_faults.dropped, self.answer_faults.delayed)
    }

    /// Whether the host listens on connection id 4 (the INITIATE_CONTACT connection of
    /// protocol ≥ 5.0): a host that accepts 5.0 and was not told to refuse it.
    pub fn listens_on_connection_id_4(&self) -> bool {
        self.config.max_version >= Version::WIN10_V5 && !self.misbehaviour.no_connection_id_4
    }

    /// The faults configured for this host.
    pub fn misbehaviour(&self) -> &Misbehaviour {
        &self.misbehaviour
    }

    /// The monitor pages (parent→child, child→parent) the guest named in the INITIATE_CONTACT
    /// that was accepted, once connected.
    pub fn monitor_pages(&self) -> Option<(u64, u64)> {
        self.monitor_pages
    }

    /// The feature bits of channel `relid`'s guest→host and host→guest rings as they were when
    /// the guest's OPENCHANNEL arrived (bit 0: pending send size).
    pub fn ring_features_at_open(&self, relid: u32) -> Option<(u32, u32)> {
        self.ring_features_at_open.get(&relid).copied()
    }

    /// The relid of the offer with this instance GUID.
    pub fn relid_of_instance(&self, instance: vmbus::Guid) -> Option<u32> {
        self.offers
            .iter()
            .find(|(_, offer)| offer.device.instance == instance)
            .map(|(relid, _)| *relid)
    }

    /// The device behind `relid` (while its offer exists).
    pub fn device(&self, relid: u32) -> Option<&DeviceConfig> {
        self.offers.get(&relid).map(|offer| &offer.device)
    }

    /// Changes how the host drives channel `relid` (e.g. to [`DeviceKind::Service`] once a
    /// device model is attached). Takes effect at the next signal or poll.
    pub fn set_device_kind(&mut self, relid: u32, kind: DeviceKind) {
        if let Some(offer) = self.offers.get_mut(&relid) {
            offer.device.kind = kind;
        }
    }

    /// Counters of the service channels.
    pub fn service_statistics(&self) -> ServiceStatistics {
        self.service_statistics
    }

    /// Serves every open, not rescinded [`DeviceKind::Service`] channel with `service`:
    /// writes queued replies, reads the guest's packets (while the channel's outbox is empty),
    /// hands them to the model, routes the model's replies to their channels' outboxes, and
    /// repeats until nothing moves. Sets the channels' event flags as `vmbus::ring` says
    /// (host→guest empty→non-empty unless masked; guest→host pending_send_sz crossed).
    ///
    /// Call it after every guest signal on such a channel and periodically (the QEMU link's
    /// poll), so that replies held back by a full ring go out once the guest made room.
    /// A rescinded channel is no longer read and replies for it are dropped (the device is
    /// gone); a channel whose ring the guest corrupted stops (logged, counted).
    pub fn run_services(&mut self, service: &mut dyn ChannelService) {
        let mut budget = SERVICE_BUDGET;
        loop {
            let mut progressed = self.collect_replies(service);
            let relids: Vec<u32> = self
                .offers
                .iter()
                .filter(|(_, offer)| {
                    offer.device.kind == DeviceKind::Service
                        && !offer.rescinded
                        && matches!(&offer.state, ChannelState::Open { channel, .. } if !channel.broken)
                })
                .map(|(relid, _)| *relid)
                .collect();
            for relid in relids {
                progressed |= self.service_channel(relid, service, &mut budget);
            }
            if !progressed || budget == 0 {
                break;
            }
        }
    }

    /// Moves the model's replies into their channels' outboxes. Returns whether there were any.
    fn collect_replies(&mut self, service: &mut dyn ChannelService) -> bool {
        let mut any = false;
        while let Some(reply) = service.poll_reply() {
            any = true;
            let replies = match self.hook.as_mut() {
                Some(hook) => hook.service_reply(reply),
                None => vec![reply],
            };
            for reply in replies {
                self.queue_reply(reply);
            }
        }
        any
    }

    /// Puts a device model's packet into its channel's outbox, unless an answer fault drops or
    /// holds it (dxg completions).
    fn queue_reply(&mut self, reply: ServiceReply) {
        let dxg = self.offers.get(&reply.relid).is_some_and(|offer| {
            offer.device.class == vmbus::guid::class::DXG_GLOBAL
                || offer.device.class == vmbus::guid::class::DXG_VIRTUAL_GPU
        });
        if dxg && reply.kind == ReplyKind::Completion {
            let command = self
                .dxg_requests
                .remove(&(reply.relid, reply.transaction_id));
            let mut decision = self.answer_faults.decide(AnswerKind::DxgCompletion);
            if decision.is_none()
                && let Some((global, command)) = command
            {
                decision = self
                    .answer_faults
                    .decide(AnswerKind::DxgCommand { global, command });
            }
            match decision {
                None => {}
                Some(AnswerTiming::Never) => return,
                Some(AnswerTiming::Late(delay)) => {
                    let due = self.answer_faults.now().saturating_add(delay);
                    self.held_replies.push_back(Held { due, answer: reply });
                    return;
                }
                Some(AnswerTiming::CorruptRing) => {
                    let relid = reply.relid;
                    self.queue_reply_now(reply);
                    self.corrupt_inbound_read_index(relid);
                    return;
                }
            }
        }
        self.queue_reply_now(reply);
    }

    /// Puts a device model's packet into its channel's outbox (dropped if the channel is not
    /// open).
    fn queue_reply_now(&mut self, reply: ServiceReply) {
        match self.offers.get_mut(&reply.relid) {
            Some(Offer {
                state: ChannelState::Open { channel, .. },
                rescinded: false,
                ..
            }) if !channel.broken => channel.outbox.push_back(reply),
            _ => {
                log::debug!(
                    "vmbus server: reply for channel {} dropped (not open)",
                    reply.relid
                );
                self.service_statistics.replies_dropped += 1;
            }
        }
    }

    /// One channel: flush, then read and dispatch packets while the outbox stays empty.
    /// Returns whether a packet was read.
    fn service_channel(
        &mut self,
        relid: u32,
        service: &mut dyn ChannelService,
        budget: &mut usize,
    ) -> bool {
        let mut buffer = std::mem::take(&mut self.scratch);
        let mut progressed = false;
        let mut signal = false;
        let mut failure = None;
        while let Some(offer) = self.offers.get_mut(&relid) {
            let (class, instance) = (offer.device.class, offer.device.instance);
            let ChannelState::Open { channel, .. } = &mut offer.state else {
                break;
            };
            let packet = match channel.flush(&mut self.service_statistics) {
                Ok((flush_signal, empty)) => {
                    signal |= flush_signal;
                    if !empty || *budget == 0 {
                        break;
                    }
                    match channel.receiver.read_packet(&mut buffer) {
                        Ok(Some(packet)) => packet,
                        Ok(None) => break,
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            };
            *budget -= 1;
            progressed = true;
            self.service_statistics.packets_received += 1;
            if packet.completion_requested {
                track_dxg_request(
                    &mut self.dxg_requests,
                    (relid, packet.transaction_id),
                    class,
                    packet.payload(&buffer),
                );
            }
            service.receive(ServicePacket {
                relid,
                class,
                instance,
                packet_type: packet.packet_type,
                transaction_id: packet.transaction_id,
                completion_requested: packet.completion_requested,
                payload: packet.payload(&buffer),
            });
            self.collect_replies(service);
        }
        self.scratch = buffer;
        let Some(Offer {
            state: ChannelState::Open { channel, .. },
            ..
        }) = self.offers.get_mut(&relid)
        else {
            return progressed;
        };
        if failure.is_none() {
            match channel.receiver.commit() {
                Ok(commit_signal) => signal |= commit_signal,
                Err(error) => failure = Some(error),
            }
            if channel.corrupt_read_index {
                channel.corrupt_index(IndexKind::Read);
            }
        }
        if let Some(error) = failure {
            log::warn!("vmbus server: service channel {relid} stopped: {error}");
            channel.broken = true;
            channel.outbox.clear();
            self.service_statistics.broken_channels += 1;
            return progressed;
        }
        if signal {
            let target_vp = channel.target_vp;
            self.service_statistics.signals += 1;
            self.outputs
                .push_back(ServerOutput::SetEventFlag { target_vp, relid });
        }
        progressed
    }

    /// Installs (or with `None` removes) a hook that rewrites every control message and
    /// device-model packet before it is queued for the guest (see [`OutgoingHook`]).
    pub fn set_outgoing_hook(&mut self, hook: Option<Box<dyn OutgoingHook>>) {
        self.hook = hook;
    }

    /// Number of open channels.
    pub fn open_channel_count(&self) -> usize {
        self.offers
            .values()
            .filter(|offer| matches!(offer.state, ChannelState::Open { .. }))
            .count()
    }

    /// Number of GPADLs whose header arrived but not yet all their bodies.
    pub fn incomplete_gpadl_count(&self) -> usize {
        self.incomplete_gpadls.len()
    }

    /// Changes the injected faults.
    pub fn misbehaviour_mut(&mut self) -> &mut Misbehaviour {
        &mut self.misbehaviour
    }

    /// Takes the next output.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.outputs.pop_front()
    }

    /// The negotiated version.
    pub fn version(&self) -> Option<Version> {
        match self.connection {
            Connection::Connected { version, .. } => Some(version),
            Connection::Disconnected => None,
        }
    }

    /// The relid of the first offer of `class`.
    pub fn relid_of(&self, class: vmbus::Guid) -> Option<u32> {
        self.offers
            .iter()
            .find(|(_, offer)| offer.device.class == class)
            .map(|(relid, _)| *relid)
    }

    /// Whether channel `relid` is open.
    pub fn is_open(&self, relid: u32) -> bool {
        matches!(
            self.offers.get(&relid),
            Some(Offer {
                state: ChannelState::Open { .. },
                ..
            })
        )
    }

    /// Number of GPADLs currently created.
    pub fn gpadl_count(&self) -> usize {
        self.gpadls.len()
    }

    /// The rings of an open channel, for a device emulated outside this module.
    pub fn host_channel(&mut self, relid: u32) -> Option<&mut HostChannel<M>> {
        match self.offers.get_mut(&relid) {
            Some(Offer {
                state: ChannelState::Open { channel, .. },
                ..
            }) => Some(channel),
            _ => None,
        }
    }

    /// Signals the guest on channel `relid` (after writing its ring through
    /// [`host_channel`](Self::host_channel)).
    pub fn signal_guest(&mut self, relid: u32) {
        if let Some(channel) = self.host_channel(relid) {
            let target_vp = channel.target_vp;
            self.outputs
                .push_back(ServerOutput::SetEventFlag { target_vp, relid });
        }
    }

    /// Whether offer `relid` is rescinded (and not yet released by the guest).
    pub fn is_rescinded(&self, relid: u32) -> bool {
        self.offers.get(&relid).is_some_and(|offer| offer.rescinded)
    }

    /// Offers device `relid` of the configuration again after it was rescinded and the guest
    /// released the relid (RELID_RELEASED), with the same relid and instance, as a user
    /// re-enabling an integration service in Hyper-V Manager. Fails while the guest still
    /// holds the old channel (the relid is not released yet).
    pub fn reoffer(&mut self, relid: u32) -> Result<(), ServerError> {
        if self.offers.contains_key(&relid) {
            return Err(ServerError::RelidInUse(relid));
        }
        let index = usize::try_from(
            relid
                .checked_sub(1)
                .ok_or(ServerError::UnknownRelid(relid))?,
        )
        .map_err(|_| ServerError::UnknownRelid(relid))?;
        let device = self
            .config
            .devices
            .get(index)
            .cloned()
            .ok_or(ServerError::UnknownRelid(relid))?;
        self.offers.insert(
            relid,
            Offer {
                device,
                state: ChannelState::Offered,
                rescinded: false,
                deferred_teardowns: Vec::new(),
            },
        );
        if let Connection::Connected {
            offers_sent: true, ..
        } = self.connection
        {
            self.send_offer(relid);
        }
        Ok(())
    }

    /// Withdraws the offer `relid` (if the guest is connected it gets RESCIND_CHANNELOFFER).
    /// The relid stays reserved until the guest sends RELID_RELEASED.
    pub fn rescind(&mut self, relid: u32) -> Result<(), ServerError> {
        let offer = self
            .offers
            .get_mut(&relid)
            .ok_or(ServerError::UnknownRelid(relid))?;
        if offer.rescinded {
            return Ok(());
        }
        offer.rescinded = true;
        if let Connection::Connected {
            offers_sent: true, ..
        } = self.connection
        {
            self.send(encode::rescind_channel_offer(relid));
        }
        Ok(())
    }

    /// Handles a guest HvPostMessage. `Err(e)` with `e.hypercall_status()` set means the post
    /// itself fails; any other error means the message was dropped (and logged).
    pub fn on_guest_message(
        &mut self,
        connection_id: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<(), ServerError> {
        let result = self.handle_post(connection_id, message_type, payload);
        if let Err(error) = &result {
            log::warn!("vmbus server: rejected guest message: {error}");
        }
        result
    }

    /// Handles a guest HvSignalEvent on `connection_id`.
    pub fn on_guest_signal(&mut self, connection_id: u32) -> Result<(), ServerError> {
        let relid = connection_id.wrapping_sub(CHANNEL_CONNECTION_ID_BASE);
        let Some(offer) = self.offers.get_mut(&relid) else {
            return Err(ServerError::UnknownSignal(connection_id));
        };
        let ChannelState::Open { channel, .. } = &mut offer.state else {
            return Ok(()); // a late doorbell after close is harmless
        };
        if offer.device.kind != DeviceKind::Echo {
            return Ok(());
        }
        let target_vp = channel.target_vp;
        match channel.echo() {
            Ok(true) => self
                .outputs
                .push_back(ServerOutput::SetEventFlag { target_vp, relid }),
            Ok(false) => {}
            Err(error) => {
                log::warn!("vmbus server: echo channel {relid} stopped: {error}");
                return Err(error);
            }
        }
        Ok(())
    }

    fn handle_post(
        &mut self,
        connection_id: u32,
        message_type: u32,
        payload: &[u8],
    ) -> Result<(), ServerError> {
        let multiclient = self.listens_on_connection_id_4();
        let registered = connection_id == MESSAGE_CONNECTION_ID
            || (multiclient && connection_id == MESSAGE_CONNECTION_ID_MULTICLIENT)
            || (multiclient && connection_id == self.config.message_connection_id);
        if !registered {
            return Err(ServerError::InvalidConnectionId(connection_id));
        }
        if message_type != VMBUS_SYNIC_MESSAGE_TYPE {
            return Err(ServerError::BadSynicMessageType(message_type));
        }
        let message = parse(payload)?;
        if let ControlMessage::InitiateContact { message, .. } = &message {
            let version = Version(message.version_requested.get());
            let expected = version.initiate_contact_connection_id();
            if connection_id != expected {
                return Err(ServerError::WrongConnectionId {
                    expected,
                    found: connection_id,
                });
            }
            let monitor_pages = (message.monitor_page1.get(), message.monitor_page2.get());
            return self.initiate_contact(version, message.target_vcpu.get(), monitor_pages);
        }
        let Connection::Connected {
            message_connection_id,
            ..
        } = self.connection
        else {
            return Err(ServerError::Unexpected(message.message_type()));
        };
        if connection_id != message_connection_id {
            return Err(ServerError::WrongConnectionId {
                expected: message_connection_id,
                found: connection_id,
            });
        }
        self.handle(message)
    }

    fn initiate_contact(
        &mut self,
        version: Version,
        target_vp: u32,
        monitor_pages: (u64, u64),
    ) -> Result<(), ServerError> {
        if self.misbehaviour.silent {
            log::debug!("vmbus server: INITIATE_CONTACT for {version} left unanswered (silent)");
            return Ok(());
        }
        // A new INITIATE_CONTACT ends the connection there is, whatever version it asks for:
        // OpenVMM's server releases every channel and GPADL (`request_disconnect` with a
        // `Reconnect` action) before it checks the version (microsoft/openvmm
        // `vm/devices/vmbus/vmbus_server/src/channels.rs`, `initiate_contact`).
        self.reset();
        self.connection = Connection::Disconnected;
        let known = vmbus::version::SUPPORTED_VERSIONS.contains(&version)
            || [Version::WS2008, Version::WIN7].contains(&version);
        // Hosts older than Windows Server 2012 R2 (protocol 3.0) do not support a reconnect
        // (torvalds/linux `drivers/hv/channel_mgmt.c`, `vmbus_initiate_unload`: "Pre-Win2012R2
        // hosts don't support reconnect"): such a host refuses every later INITIATE_CONTACT.
        let reconnect_refused = self.ever_connected && self.config.max_version < Version::WIN8_1;
        if reconnect_refused {
            log::warn!(
                "vmbus server: INITIATE_CONTACT refused: this host (< 3.0) has no reconnect"
            );
        }
        let supported = known
            && !reconnect_refused
            && version <= self.config.max_version
            && version >= self.config.min_version
            && !self.misbehaviour.refuse_versions.contains(&version);
        let message_connection_id = if version.has_message_connection_id() {
            self.config.message_connection_id
        } else {
            MESSAGE_CONNECTION_ID
        };
        if supported {
            self.ever_connected = true;
            self.monitor_pages = Some(monitor_pages);
            self.connection = Connection::Connected {
                version,
                target_vp,
                message_connection_id,
                offers_sent: false,
            };
        }
        let reported_id = if version.has_message_connection_id() {
            message_connection_id
        } else {
            0
        };
        self.send_to(
            target_vp,
            encode::version_response(supported, 0, reported_id),
        );
        Ok(())
    }

    fn handle(&mut self, message: ControlMessage) -> Result<(), ServerError> {
        let unexpected = ServerError::Unexpected(message.message_type());
        match message {
            ControlMessage::RequestOffers => {
                let Connection::Connected { offers_sent, .. } = &mut self.connection else {
                    return Err(unexpected);
                };
                if *offers_sent {
                    return Err(unexpected);
                }
                *offers_sent = true;
                let relids: Vec<u32> = self
                    .offers
                    .iter()
                    .filter(|(_, offer)| !offer.rescinded)
                    .map(|(relid, _)| *relid)
                    .collect();
                for (index, relid) in relids.iter().enumerate() {
                    self.send_offer(*relid);
                    if index == 0 && self.misbehaviour.duplicate_first_offer {
                        self.send_offer(*relid);
                    }
                }
                self.send(encode::all_offers_delivered());
                Ok(())
            }
            ControlMessage::GpadlHeader { message, data } => {
                let (relid, gpadl) = (message.child_relid.get(), message.gpadl.get());
                if !self.offers.contains_key(&relid) {
                    return Err(ServerError::UnknownRelid(relid));
                }
                if self.gpadls.contains_key(&gpadl) || self.incomplete_gpadls.contains_key(&gpadl) {
                    self.send(encode::gpadl_created(relid, gpadl, STATUS_UNSUCCESSFUL));
                    return Ok(());
                }
                match GpadlAssembler::new(
                    relid,
                    gpadl,
                    message.range_buffer_length.get(),
                    message.range_count.get(),
                    &data,
                ) {
                    Ok(assembler) => {
                        self.incomplete_gpadls.insert(gpadl, assembler);
                        self.try_complete_gpadl(gpadl);
                    }
                    Err(error) => {
                        log::warn!("vmbus server: GPADL {gpadl:#x}: {error}");
                        self.send(encode::gpadl_created(relid, gpadl, STATUS_UNSUCCESSFUL));
                    }
                }
                Ok(())
            }
            ControlMessage::GpadlBody { message, data } => {
                let gpadl = message.gpadl.get();
                let assembler = self
                    .incomplete_gpadls
                    .get_mut(&gpadl)
                    .ok_or(ServerError::UnknownGpadl(gpadl))?;
                if let Err(error) = assembler.add(&data) {
                    let relid = assembler.child_relid;
                    self.incomplete_gpadls.remove(&gpadl);
                    log::warn!("vmbus server: GPADL {gpadl:#x}: {error}");
                    self.send(encode::gpadl_created(relid, gpadl, STATUS_UNSUCCESSFUL));
                    return Ok(());
                }
                self.try_complete_gpadl(gpadl);
                Ok(())
            }
            ControlMessage::GpadlTeardown(message) => {
                let (relid, gpadl) = (message.child_relid.get(), message.gpadl.get());
                match self.gpadls.get(&gpadl) {
                    Some((owner, _)) if *owner == relid => {}
                    _ => return Err(ServerError::UnknownGpadl(gpadl)),
                }
                if let Some(offer) = self.offers.get_mut(&relid)
                    && matches!(offer.state, ChannelState::Open { gpadl: used, .. } if used == gpadl)
                {
                    offer.deferred_teardowns.push(gpadl);
                    return Ok(());
                }
                self.remove_gpadl(gpadl);
                self.send(encode::gpadl_torndown(gpadl));
                Ok(())
            }
            ControlMessage::OpenChannel { message, .. } => {
                let relid = message.child_relid.get();
                let open_id = message.open_id.get();
                let offer = self
                    .offers
                    .get(&relid)
                    .ok_or(ServerError::UnknownRelid(relid))?;
                if offer.rescinded {
                    return Ok(()); // real hosts silently drop opens of rescinded channels
                }
                if self.misbehaviour.rescind_on_open.contains(&relid) {
                    return self.rescind(relid);
                }
                if !matches!(offer.state, ChannelState::Offered) {
                    self.send(encode::open_channel_result(
                        relid,
                        open_id,
                        STATUS_UNSUCCESSFUL,
                    ));
                    return Ok(());
                }
                if let Some(status) = self.misbehaviour.open_status {
                    self.send(encode::open_channel_result(relid, open_id, status));
                    return Ok(());
                }
                let gpadl = message.ring_buffer_gpadl.get();
                let target_vp = message.target_vp.get();
                if let Some(features) =
                    self.ring_features(gpadl, message.downstream_ring_buffer_page_offset.get())
                {
                    self.ring_features_at_open.insert(relid, features);
                }
                match self.open_rings(
                    relid,
                    gpadl,
                    message.downstream_ring_buffer_page_offset.get(),
                    target_vp,
                ) {
                    Ok(channel) => {
                        if let Some(offer) = self.offers.get_mut(&relid) {
                            offer.state = ChannelState::Open { gpadl, channel };
                        }
                        self.send(encode::open_channel_result(relid, open_id, 0));
                        if self.misbehaviour.corrupt_ring_on_open {
                            self.corrupt_ring(relid);
                        }
                    }
                    Err(error) => {
                        log::warn!("vmbus server: open of channel {relid} failed: {error}");
                        self.send(encode::open_channel_result(
                            relid,
                            open_id,
                            STATUS_UNSUCCESSFUL,
                        ));
                    }
                }
                Ok(())
            }
            ControlMessage::CloseChannel(message) => {
                let relid = message.child_relid.get();
                let offer = self
                    .offers
                    .get_mut(&relid)
                    .ok_or(ServerError::UnknownRelid(relid))?;
                if !matches!(offer.state, ChannelState::Open { .. }) {
                    return Err(unexpected);
                }
                offer.state = ChannelState::Offered;
                self.closed_channels.push(relid);
                let deferred = std::mem::take(&mut offer.deferred_teardowns);
                for gpadl in deferred {
                    self.remove_gpadl(gpadl);
                    self.send(encode::gpadl_torndown(gpadl));
                }
                Ok(())
            }
            ControlMessage::RelidReleased(message) => {
                let relid = message.child_relid.get();
                match self.offers.get(&relid) {
                    Some(offer)
                        if offer.rescinded && matches!(offer.state, ChannelState::Offered) =>
                    {
                        self.offers.remove(&relid);
                        Ok(())
                    }
                    Some(_) => Err(unexpected),
                    None => Err(ServerError::UnknownRelid(relid)),
                }
            }
            ControlMessage::ModifyChannel(message) => {
                let relid = message.child_relid.get();
                let offer = self
                    .offers
                    .get_mut(&relid)
                    .ok_or(ServerError::UnknownRelid(relid))?;
                if let ChannelState::Open { channel, .. } = &mut offer.state {
                    channel.target_vp = message.target_vp.get();
                }
                if self
                    .version()
                    .is_some_and(Version::has_modify_channel_response)
                {
                    self.send(encode::modify_channel_response(relid, 0));
                }
                Ok(())
            }
            ControlMessage::Unload => {
                // As OpenVMM's `handle_unload` (microsoft/openvmm
                // `vm/devices/vmbus/vmbus_server/src/channels.rs`): every channel is released
                // (open ones closed for their device), every GPADL forgotten, rescinded offers
                // dropped, then UNLOAD_COMPLETE (our UNLOAD_RESPONSE, 17). UNLOAD is a V1
                // message there (`vmbus_core/src/protocol.rs`), accepted at every version once
                // connected; the guest is the one that sends it only from 3.0 (Linux).
                self.reset();
                let target_vp = match self.connection {
                    Connection::Connected { target_vp, .. } => target_vp,
                    Connection::Disconnected => 0,
                };
                self.connection = Connection::Disconnected;
                self.send_to(target_vp, encode::unload_response());
                Ok(())
            }
            _ => Err(unexpected),
        }
    }

    fn open_rings(
        &self,
        relid: u32,
        gpadl: u32,
        downstream_page_offset: u32,
        target_vp: u32,
    ) -> Result<HostChannel<M>, ServerError> {
        let (owner, ranges) = self
            .gpadls
            .get(&gpadl)
            .ok_or(ServerError::UnknownGpadl(gpadl))?;
        if *owner != relid || ranges.len() != 1 || !ranges[0].is_page_aligned() {
            return Err(ServerError::UnknownGpadl(gpadl));
        }
        let rings = ChannelRings::attach_for_host(
            self.memory.clone(),
            &ranges[0].pfns,
            downstream_page_offset,
        )?;
        Ok(HostChannel::new(rings.receiver, rings.sender, target_vp))
    }

    /// The feature bits of both rings of a ring GPADL (first page of each ring), if readable.
    fn ring_features(&self, gpadl: u32, downstream_page_offset: u32) -> Option<(u32, u32)> {
        let (_, ranges) = self.gpadls.get(&gpadl)?;
        let pfns = &ranges.first()?.pfns;
        let read = |pfn: &u64| {
            let gpa = pfn.checked_mul(hyperv::memory::PAGE_SIZE)?;
            self.memory.load_u32(gpa + FEATURE_BITS_OFFSET).ok()
        };
        let outbound = read(pfns.first()?)?;
        let inbound = read(pfns.get(downstream_page_offset as usize)?)?;
        Some((outbound, inbound))
    }

    fn try_complete_gpadl(&mut self, gpadl: u32) {
        let Some(assembler) = self.incomplete_gpadls.get(&gpadl) else {
            return;
        };
        if !assembler.is_complete() {
            return;
        }
        let relid = assembler.child_relid;
        let result = assembler.finish();
        self.incomplete_gpadls.remove(&gpadl);
        let status = match (result, self.misbehaviour.gpadl_status) {
            (Ok(_), Some(status)) => status,
            (Ok(ranges), None) => {
                self.insert_gpadl(gpadl, relid, ranges);
                0
            }
            (Err(error), _) => {
                log::warn!("vmbus server: GPADL {gpadl:#x}: {error}");
                STATUS_UNSUCCESSFUL
            }
        };
        self.send(encode::gpadl_created(relid, gpadl, status));
    }

    fn corrupt_ring(&mut self, relid: u32) {
        if let Some(channel) = self.host_channel(relid) {
            channel.corrupt_index(IndexKind::Write);
            log::info!(
                "vmbus server: corrupted {:?} index of channel {relid}",
                IndexKind::Write
            );
            self.signal_guest(relid);
        }
    }

    /// From now on keeps a misaligned read index in the guest→host ring of channel `relid`
    /// (the index the host owns there), written again after each of the host's reads: the
    /// guest's sender must refuse the ring (CorruptIndex) when it next loads the index. The
    /// host's own receiver goes on from its cached index.
    fn corrupt_inbound_read_index(&mut self, relid: u32) {
        if let Some(channel) = self.host_channel(relid) {
            channel.corrupt_read_index = true;
            channel.corrupt_index(IndexKind::Read);
            log::info!(
                "vmbus server: corrupted {:?} index of channel {relid}",
                IndexKind::Read
            );
        }
    }

    fn send_offer(&mut self, relid: u32) {
        let Some(offer) = self.offers.get(&relid) else {
            return;
        };
        let fields = encode::OfferFields {
            interface_type: offer.device.class,
            interface_instance: offer.device.instance,
            flags: 0,
            mmio_megabytes: offer.device.mmio_megabytes,
            user_defined: [0; 120],
            sub_channel_index: 0,
            child_relid: relid,
            monitor_id: 0xFF,
            monitor_allocated: false,
            is_dedicated_interrupt: true,
            connection_id: CHANNEL_CONNECTION_ID_BASE + relid,
        };
        self.send(encode::offer_channel(&fields));
    }

    /// The channels closed since the last call (by CLOSECHANNEL, a new connection or UNLOAD),
    /// oldest first: a device model behind one of them starts afresh on the next open.
    pub fn take_closed_channels(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.closed_channels)
    }

    /// Closes every channel and forgets every GPADL (new connection or UNLOAD).
    fn reset(&mut self) {
        for (relid, offer) in self.offers.iter_mut() {
            if matches!(offer.state, ChannelState::Open { .. }) {
                self.closed_channels.push(*relid);
            }
            offer.state = ChannelState::Offered;
            offer.deferred_teardowns.clear();
        }
        self.offers.retain(|_, offer| !offer.rescinded);
        self.remove_all_gpadls();
        self.incomplete_gpadls.clear();
    }

    fn send(&mut self, payload: Vec<u8>) {
        let target_vp = match self.connection {
            Connection::Connected { target_vp, .. } => target_vp,
            Connection::Disconnected => 0,
        };
        self.send_to(target_vp, payload);
    }

    fn send_to(&mut self, target_vp: u32, mut payload: Vec<u8>) {
        if self.misbehaviour.corrupt_messages > 0 {
            self.misbehaviour.corrupt_messages -= 1;
            self.corrupted += 1;
            match self.corrupted % 3 {
                1 => payload.truncate(3),
                2 => payload[0] = 0x7F,
                _ => {
                    // Same type, but naming a relid/handle nobody has.
                    if payload.len() >= 12 {
                        payload[8..12].copy_from_slice(&0xFFF0u32.to_le_bytes());
                    }
                }
            }
            log::info!(
                "vmbus server: corrupted an outgoing {:?}",
                MessageType(u32::from(payload.first().copied().unwrap_or(0)))
            );
        }
        let payloads = match self.hook.as_mut() {
            Some(hook) => hook.control_message(payload),
            None => vec![payload],
        };
        for payload in payloads {
            let message_type = payload
                .get(..4)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u32::from_le_bytes)
                .map(MessageType);
            let decision = message_type.and_then(|message_type| {
                self.answer_faults.decide(AnswerKind::Control(message_type))
            });
            match decision {
                // A control message has no ring of its own to corrupt (the parser refuses the
                // fault for one): it goes out.
                None | Some(AnswerTiming::CorruptRing) => self
                    .outputs
                    .push_back(ServerOutput::Message { target_vp, payload }),
                Some(AnswerTiming::Never) => {}
                Some(AnswerTiming::Late(delay)) => {
                    let due = self.answer_faults.now().saturating_add(delay);
                    self.held_messages.push_back(Held {
                        due,
                        answer: (target_vp, payload),
                    });
                }
            }
        }
    }
}

/// How many dxg requests awaiting a completion [`Server`] remembers the command of (a guest
/// that never reads its completions cannot grow the map without bound; past it, command faults
/// do not apply to further requests).
const MAX_TRACKED_DXG_REQUESTS: usize = 4096;

/// Remembers the command of a dxg request (global or vGPU channel) for
/// [`AnswerKind::DxgCommand`] faults. A message that does not parse is not tracked.
fn track_dxg_request(
    requests: &mut BTreeMap<(u32, u64), (bool, u32)>,
    key: (u32, u64),
    class: vmbus::Guid,
    payload: &[u8],
) {
    let global = class == vmbus::guid::class::DXG_GLOBAL;
    if !global && class != vmbus::guid::class::DXG_VIRTUAL_GPU {
        return;
    }
    if requests.len() >= MAX_TRACKED_DXG_REQUESTS && !requests.contains_key(&key) {
        return;
    }
    // With the extension header (version 40 and later) its command_offset is 16; without it
    // the same bytes are the command id's low half, always 0, so one try with and one without.
    let message = dxg::wire::split_message(payload, true)
        .or_else(|_| dxg::wire::split_message(payload, false));
    if let Ok(message) = message {
        requests.insert(key, (global, message.header.command_type));
    }
}
