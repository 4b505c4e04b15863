//! The emulated host's integration services: heartbeat, shutdown, time sync and key-value
//! exchange, driven as Hyper-V and OpenVMM drive them (microsoft/openvmm
//! `vm/devices/hyperv_ic/src/`).
//!
//! When the guest opens an IC channel the host speaks first: a version negotiation listing
//! framework 1.0 and 3.0 and the service's message versions (heartbeat 1.0/3.0, shutdown
//! 1.0/3.0/3.1/3.2, time sync 1.0/3.0/4.0, KVP 1.0/3.0/4.0, lowest first as OpenVMM lists
//! them). Once the guest answered with one of each, the channel is ready and the host:
//! - heartbeat: sends a request every [`IntegrationConfig::heartbeat_period`] (Linux's
//!   `hv_util.c`: "every two seconds") and checks that the answer carries sequence + 1;
//! - time sync: sends a SYNC sample at once, then a SAMPLE every
//!   [`IntegrationConfig::time_sample_period`] (OpenVMM: 5 s), in the 4.0 layout with the
//!   reference time when 4.0 was agreed;
//! - shutdown: sends the configured shutdown/restart/hibernate request once, after
//!   [`IntegrationConfig::shutdown`]'s delay, and records the guest's status;
//! - KVP: enumerates the guest's auto pool from index 0 until the guest answers anything
//!   but success (`HV_S_CONT` at the end), and records the items.
//!
//! Every host message is an in-band packet without a completion request, with a transaction id
//! of its own; the guest's answer must reuse that id, be flagged transaction | response and be
//! of the request's type, or it is counted as rejected (never a panic). A channel that closes
//! (or is rescinded) forgets its state; the next open negotiates afresh.
//!
//! Misbehaviour switches ([`IcMisbehaviour`]) offer only unknown versions, send malformed or
//! truncated messages, flood the guest with heartbeats, or ask
//! [`crate::services::HostServices`] to rescind a channel while a request is outstanding.

pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use vmbus::guid::{Guid, class};

use crate::vmbus_server::{ReplyKind, ServicePacket, ServiceReply};
pub use wire::Version;

/// Which integration service a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IcService {
    /// Heartbeat.
    Heartbeat,
    /// Shutdown.
    Shutdown,
    /// Time sync.
    TimeSync,
    /// Key-value exchange.
    KeyValue,
}

impl IcService {
    /// All four, in offer order.
    pub const ALL: [IcService; 4] = [
        IcService::Heartbeat,
        IcService::Shutdown,
        IcService::TimeSync,
        IcService::KeyValue,
    ];

    /// The VMBus device class (Hyper-V's interface GUIDs).
    pub fn class(self) -> Guid {
        match self {
            IcService::Heartbeat => class::HEARTBEAT,
            IcService::Shutdown => class::SHUTDOWN,
            IcService::TimeSync => class::TIME_SYNC,
            IcService::KeyValue => class::KEY_VALUE_PAIR,
        }
    }

    /// The service of `class`, if any.
    pub fn of_class(class: Guid) -> Option<IcService> {
        IcService::ALL
            .into_iter()
            .find(|service| service.class() == class)
    }

    fn message_type(self) -> u16 {
        match self {
            IcService::Heartbeat => wire::HEARTBEAT,
            IcService::Shutdown => wire::SHUTDOWN,
            IcService::TimeSync => wire::TIME_SYNC,
            IcService::KeyValue => wire::KVP_EXCHANGE,
        }
    }

    /// Message versions the host offers, lowest first.
    fn message_versions(self) -> &'static [Version] {
        match self {
            IcService::Heartbeat => &[(1, 0), (3, 0)],
            IcService::Shutdown => &[(1, 0), (3, 0), (3, 1), (3, 2)],
            IcService::TimeSync | IcService::KeyValue => &[(1, 0), (3, 0), (4, 0)],
        }
    }
}

/// Framework versions the host offers (OpenVMM `FRAMEWORK_VERSIONS`).
const FRAMEWORK_VERSIONS: [Version; 2] = [(1, 0), (3, 0)];

/// What the host asks of the guest's shutdown service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostShutdown {
    /// Shut down (flags 0).
    PowerOff,
    /// Restart (flags 2).
    Restart,
    /// Hibernate (flags 4): a guest without S4 refuses.
    Hibernate,
}

impl HostShutdown {
    fn flags(self) -> u32 {
        match self {
            HostShutdown::PowerOff => 0,
            HostShutdown::Restart => 2,
            HostShutdown::Hibernate => 4,
        }
    }
}

/// Deliberate faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IcMisbehaviour {
    /// Offer only version 9.9 (framework and message): the guest must answer with no versions.
    pub unknown_versions: bool,
    /// Before each negotiation, send this many malformed messages (alternately: truncated to
    /// 5 bytes, a pipe size beyond the packet, an IC size beyond the packet, a service message
    /// before negotiation).
    pub malformed_messages: u32,
    /// Send this many heartbeats at once instead of one per period.
    pub heartbeat_flood: u32,
}

/// The host's integration-service settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationConfig {
    /// Time between heartbeat requests.
    pub heartbeat_period: Duration,
    /// Time between time samples.
    pub time_sample_period: Duration,
    /// A shutdown request to send this long after the shutdown channel is ready.
    pub shutdown: Option<(Duration, HostShutdown)>,
    /// The host's time at [`IcHost::tick`] time zero, in 100 ns units since 1601-01-01; samples
    /// advance it by the elapsed time. `None`: the host's system clock.
    pub host_time_at_start: Option<u64>,
    /// Rescind this service's channel this long after it was negotiated (once a request is
    /// outstanding, or 2 s later at the latest) and offer it again once the guest released it
    /// (carried out by `HostServices`).
    pub rescind: Option<(IcService, Duration)>,
    /// Faults.
    pub misbehaviour: IcMisbehaviour,
}

impl Default for IntegrationConfig {
    fn default() -> Self {
        IntegrationConfig {
            heartbeat_period: Duration::from_secs(2),
            time_sample_period: Duration::from_secs(5),
            shutdown: None,
            host_time_at_start: None,
            rescind: None,
            misbehaviour: IcMisbehaviour::default(),
        }
    }
}

/// What the host has seen of the guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IcObservations {
    /// The versions each service agreed on (the last negotiation).
    pub negotiated: BTreeMap<IcService, (Version, Version)>,
    /// Negotiations the guest answered with no versions.
    pub negotiations_refused: u32,
    /// Heartbeats answered with sequence + 1.
    pub heartbeats_answered: u64,
    /// Heartbeats answered with another sequence.
    pub heartbeats_wrong: u64,
    /// The guest's status for each shutdown request sent.
    pub shutdown_statuses: Vec<u32>,
    /// Time samples the guest acknowledged.
    pub time_samples_acknowledged: u64,
    /// KVP items the guest listed.
    pub kvp_items: Vec<(String, String)>,
    /// The status that ended the last KVP enumeration.
    pub kvp_end_status: Option<u32>,
    /// Guest packets that were not a valid answer to an outstanding request.
    pub rejected_packets: u64,
    /// Negotiations started (channel opens).
    pub negotiations_started: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    Negotiating,
    Ready {
        framework: Version,
        message: Version,
        since: Duration,
    },
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Negotiate,
    Heartbeat(u64),
    Shutdown,
    TimeSample,
    KvpEnumerate(u32),
}

struct IcChannelState {
    service: IcService,
    phase: Phase,
    outstanding: BTreeMap<u64, Request>,
    next_heartbeat: Duration,
    next_sample: Duration,
    shutdown_sent: bool,
}

/// The emulated host's IC channels (sans I/O: the services feed it guest packets, open/close
/// changes and the time, and send what it queues).
pub struct IcHost {
    config: IntegrationConfig,
    channels: BTreeMap<u32, IcChannelState>,
    outbox: Vec<ServiceReply>,
    next_transaction: u64,
    heartbeat_sequence: u64,
    now: Duration,
    observations: IcObservations,
}

impl IcHost {
    /// A host for the IC channels `relids` (relid, service).
    pub fn new(config: IntegrationConfig, relids: &[(u32, IcService)]) -> IcHost {
        let channels = relids
            .iter()
            .map(|(relid, service)| {
                (
                    *relid,
                    IcChannelState {
                        service: *service,
                        phase: Phase::Closed,
                        outstanding: BTreeMap::new(),
                        next_heartbeat: Duration::ZERO,
                        next_sample: Duration::ZERO,
                        shutdown_sent: false,
                    },
                )
            })
            .collect();
        IcHost {
            config,
            channels,
            outbox: Vec::new(),
            next_transaction: 0x1C00,
            heartbeat_sequence: 0x100,
            now: Duration::ZERO,
            observations: IcObservations::default(),
        }
    }

    /// The relids of the IC channels.
    pub fn relids(&self) -> impl Iterator<Item = u32> + '_ {
        self.channels.keys().copied()
    }

    /// The relids this host serves.
    pub fn serves(&self, relid: u32) -> bool {
        self.channels.contains_key(&relid)
    }

    /// The relid of `service`'s channel.
    pub fn relid_of(&self, service: IcService) -> Option<u32> {
        self.channels
            .iter()
            .find(|(_, channel)| channel.service == service)
            .map(|(relid, _)| *relid)
    }

    /// What the host has seen.
    pub fn observations(&self) -> &IcObservations {
        &self.observations
    }

    /// When `service`'s channel finished negotiating (host clock), if it is ready.
    pub fn ready_since(&self, service: IcService) -> Option<Duration> {
        self.channels
            .values()
            .find_map(|channel| match channel.phase {
                Phase::Ready { since, .. } if channel.service == service => Some(since),
                _ => None,
            })
    }

    /// The settings.
    pub fn config(&self) -> &IntegrationConfig {
        &self.config
    }

    /// The settings (to change a switch between runs of a test).
    pub fn config_mut(&mut self) -> &mut IntegrationConfig {
        &mut self.config
    }

    /// Whether `relid` has a request outstanding.
    pub fn has_outstanding(&self, relid: u32) -> bool {
        self.channels
            .get(&relid)
            .is_some_and(|channel| !channel.outstanding.is_empty())
    }

    /// The channel `relid` is open (`true`) or closed/rescinded (`false`) now. An open starts
    /// a negotiation; a close forgets the channel's state.
    pub fn set_open(&mut self, relid: u32, open: bool) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        match (open, channel.phase) {
            (true, Phase::Closed) => {
                channel.phase = Phase::Negotiating;
                channel.outstanding.clear();
                self.observations.negotiations_started += 1;
                self.send_malformed(relid);
                let (frameworks, messages): (&[Version], &[Version]) =
                    if self.config.misbehaviour.unknown_versions {
                        (&[(9, 9)], &[(9, 9)])
                    } else {
                        (&FRAMEWORK_VERSIONS, channel_versions(&self.channels, relid))
                    };
                let packet = wire::negotiate(frameworks, messages);
                self.send(relid, Request::Negotiate, packet);
            }
            (false, phase) if phase != Phase::Closed => {
                channel.phase = Phase::Closed;
                channel.outstanding.clear();
                channel.shutdown_sent = false;
            }
            _ => {}
        }
    }

    /// Advances the host's clock to `now` (since the host started) and sends what is due.
    pub fn tick(&mut self, now: Duration) {
        self.now = now;
        let relids: Vec<u32> = self.channels.keys().copied().collect();
        for relid in relids {
            let Some(channel) = self.channels.get(&relid) else {
                continue;
            };
            if let Phase::Ready { message, since, .. } = channel.phase {
                match channel.service {
                    IcService::Heartbeat => self.heartbeat_due(relid),
                    IcService::TimeSync => self.sample_due(relid, message),
                    IcService::Shutdown => self.shutdown_due(relid, since),
                    IcService::KeyValue => {}
                }
            }
        }
    }

    /// A guest packet on an IC channel.
    pub fn receive(&mut self, packet: ServicePacket<'_>) {
        let Some(channel) = self.channels.get_mut(&packet.relid) else {
            return;
        };
        let Some(request) = channel.outstanding.remove(&packet.transaction_id) else {
            log::debug!(
                "ic host: packet on channel {} answers no request (id {:#x})",
                packet.relid,
                packet.transaction_id
            );
            self.observations.rejected_packets += 1;
            return;
        };
        let response = match wire::parse_response(packet.payload) {
            Ok(response) => response,
            Err(error) => {
                log::debug!("ic host: bad answer on channel {}: {error:?}", packet.relid);
                self.observations.rejected_packets += 1;
                return;
            }
        };
        self.on_response(packet.relid, request, response);
    }

    /// The next packet for the guest.
    pub fn poll_reply(&mut self) -> Option<ServiceReply> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }

    fn on_response(&mut self, relid: u32, request: Request, response: wire::Response) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        let expected_type = match request {
            Request::Negotiate => wire::NEGOTIATE,
            _ => channel.service.message_type(),
        };
        if response.message_type != expected_type {
            self.observations.rejected_packets += 1;
            return;
        }
        let service = channel.service;
        match request {
            Request::Negotiate => match wire::chosen_versions(&response.body) {
                Some((framework, message)) if offered(service, framework, message) => {
                    channel.phase = Phase::Ready {
                        framework,
                        message,
                        since: self.now,
                    };
                    channel.next_heartbeat = self.now;
                    channel.next_sample = self.now;
                    self.observations
                        .negotiated
                        .insert(service, (framework, message));
                    self.after_negotiation(relid, service, message);
                }
                Some(_) => {
                    self.observations.rejected_packets += 1;
                    channel.phase = Phase::Failed;
                }
                None => {
                    self.observations.negotiations_refused += 1;
                    channel.phase = Phase::Failed;
                }
            },
            Request::Heartbeat(sequence) => {
                let answered = response
                    .body
                    .get(..8)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map(u64::from_le_bytes);
                if answered == Some(sequence.wrapping_add(1)) {
                    self.observations.heartbeats_answered += 1;
                } else {
                    self.observations.heartbeats_wrong += 1;
                }
            }
            Request::Shutdown => self.observations.shutdown_statuses.push(response.status),
            Request::TimeSample => self.observations.time_samples_acknowledged += 1,
            Request::KvpEnumerate(index) => self.on_kvp_answer(relid, index, &response),
        }
    }

    fn after_negotiation(&mut self, relid: u32, service: IcService, message: Version) {
        match service {
            IcService::TimeSync => self.send_sample(relid, message, true),
            IcService::KeyValue => {
                self.observations.kvp_items.clear();
                self.observations.kvp_end_status = None;
                self.send_kvp_enumerate(relid, 0);
            }
            IcService::Heartbeat => self.heartbeat_due(relid),
            IcService::Shutdown => self.shutdown_due(relid, self.now),
        }
    }

    fn on_kvp_answer(&mut self, relid: u32, index: u32, response: &wire::Response) {
        if response.status != 0 {
            self.observations.kvp_end_status = Some(response.status);
            return;
        }
        match wire::kvp_item(&response.body) {
            Some(item) => self.observations.kvp_items.push(item),
            None => self.observations.rejected_packets += 1,
        }
        // A guest that never says "no more" is cut off after 64 items.
        if index < 64 {
            self.send_kvp_enumerate(relid, index + 1);
        }
    }

    fn heartbeat_due(&mut self, relid: u32) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        if self.now < channel.next_heartbeat {
            return;
        }
        channel.next_heartbeat = self.now + self.config.heartbeat_period;
        let count = self.config.misbehaviour.heartbeat_flood.max(1);
        for _ in 0..count {
            self.heartbeat_sequence = self.heartbeat_sequence.wrapping_add(1);
            let sequence = self.heartbeat_sequence;
            let packet = self.service_message(relid, wire::heartbeat_body(sequence));
            self.send(relid, Request::Heartbeat(sequence), packet);
        }
    }

    fn sample_due(&mut self, relid: u32, message: Version) {
        let due = self
            .channels
            .get(&relid)
            .is_some_and(|channel| self.now >= channel.next_sample);
        if due {
            self.send_sample(relid, message, false);
        }
    }

    fn send_sample(&mut self, relid: u32, message: Version, sync: bool) {
        if let Some(channel) = self.channels.get_mut(&relid) {
            channel.next_sample = self.now + self.config.time_sample_period;
        }
        let host_time = self.host_time();
        // The reference time: the partition reference counter, 100 ns since the host started
        // (this host's stand-in for the guest's reference counter).
        let reference = (message.0 >= 4).then_some((self.now.as_nanos() / 100) as u64);
        let flags = if sync { 1 } else { 2 };
        let packet = self.service_message(relid, wire::time_body(host_time, reference, flags));
        self.send(relid, Request::TimeSample, packet);
    }

    fn host_time(&self) -> u64 {
        let elapsed = (self.now.as_nanos() / 100) as u64;
        match self.config.host_time_at_start {
            Some(start) => start.saturating_add(elapsed),
            None => {
                let since_unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                (since_unix.as_nanos() / 100) as u64 + 116_444_736_000_000_000
            }
        }
    }

    fn shutdown_due(&mut self, relid: u32, since: Duration) {
        let Some((delay, kind)) = self.config.shutdown else {
            return;
        };
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        if channel.shutdown_sent || self.now < since + delay {
            return;
        }
        channel.shutdown_sent = true;
        log::info!("ic host: asking the guest to {kind:?}");
        let packet = self.service_message(relid, wire::shutdown_body(kind.flags()));
        self.send(relid, Request::Shutdown, packet);
    }

    fn send_kvp_enumerate(&mut self, relid: u32, index: u32) {
        let packet = self.service_message(relid, wire::kvp_enumerate_body(index));
        self.send(relid, Request::KvpEnumerate(index), packet);
    }

    /// A service request with the channel's agreed versions.
    fn service_message(&self, relid: u32, body: Vec<u8>) -> Vec<u8> {
        let Some(channel) = self.channels.get(&relid) else {
            return Vec::new();
        };
        let versions = match channel.phase {
            Phase::Ready {
                framework, message, ..
            } => (framework, message),
            _ => ((0, 0), (0, 0)),
        };
        wire::message(
            channel.service.message_type(),
            versions,
            wire::FLAG_TRANSACTION | wire::FLAG_REQUEST,
            &body,
        )
    }

    fn send(&mut self, relid: u32, request: Request, bytes: Vec<u8>) {
        self.next_transaction = self.next_transaction.wrapping_add(1);
        let transaction_id = self.next_transaction;
        if let Some(channel) = self.channels.get_mut(&relid) {
            channel.outstanding.insert(transaction_id, request);
        }
        self.outbox.push(ServiceReply {
            relid,
            kind: ReplyKind::InBand {
                completion_requested: false,
            },
            transaction_id,
            bytes,
        });
    }

    /// The malformed messages of [`IcMisbehaviour::malformed_messages`]; none is answered.
    fn send_malformed(&mut self, relid: u32) {
        let Some(channel) = self.channels.get(&relid) else {
            return;
        };
        let service = channel.service;
        for index in 0..self.config.misbehaviour.malformed_messages {
            let valid = wire::negotiate(&FRAMEWORK_VERSIONS, service.message_versions());
            let bytes = match index % 4 {
                0 => valid[..5].to_vec(),
                1 => {
                    let mut bytes = valid;
                    bytes[4..8].copy_from_slice(&0xFFFF_u32.to_le_bytes());
                    bytes
                }
                2 => {
                    let mut bytes = valid;
                    bytes[18..20].copy_from_slice(&0xFFFF_u16.to_le_bytes());
                    bytes
                }
                _ => wire::message(
                    service.message_type(),
                    ((3, 0), (3, 0)),
                    wire::FLAG_TRANSACTION | wire::FLAG_REQUEST,
                    &wire::heartbeat_body(1),
                ),
            };
            self.next_transaction = self.next_transaction.wrapping_add(1);
            self.outbox.push(ServiceReply {
                relid,
                kind: ReplyKind::InBand {
                    completion_requested: false,
                },
                transaction_id: self.next_transaction,
                bytes,
            });
        }
    }
}

fn channel_versions(channels: &BTreeMap<u32, IcChannelState>, relid: u32) -> &'static [Version] {
    channels
        .get(&relid)
        .map_or(&[], |channel| channel.service.message_versions())
}

/// Whether the guest chose versions the host offered.
fn offered(service: IcService, framework: Version, message: Version) -> bool {
    FRAMEWORK_VERSIONS.contains(&framework) && service.message_versions().contains(&message)
}
