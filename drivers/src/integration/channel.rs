//! One IC channel's guest side: negotiation, then the service's requests.

use alloc::vec::Vec;
use zerocopy::FromBytes;

use super::error::IcError;
use super::kvp::{self, GuestIdentity};
use super::message::IcMessage;
use super::negotiate::{self, Negotiated};
use super::wire::{
    FRAMEWORK_VERSIONS, HEARTBEAT_VERSIONS, HeartbeatData, IcVersion, KVP_VERSIONS,
    SHUTDOWN_VERSIONS, ShutdownData, TIME_SYNC_VERSIONS, TimeSyncData, TimeSyncReferenceData,
    header_flags, message_type, shutdown_flags, status,
};

/// Which integration service a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Heartbeat (`57164F39-…`).
    Heartbeat,
    /// Shutdown (`0E0B6031-…`).
    Shutdown,
    /// Time sync (`9527E630-…`).
    TimeSync,
    /// Key-value exchange (`A9A0F4E7-…`).
    KeyValue,
}

impl Service {
    /// The service of a VMBus device class, if it is one.
    pub fn of_class(class: vmbus::guid::Guid) -> Option<Service> {
        use vmbus::guid::class;
        match class {
            c if c == class::HEARTBEAT => Some(Service::Heartbeat),
            c if c == class::SHUTDOWN => Some(Service::Shutdown),
            c if c == class::TIME_SYNC => Some(Service::TimeSync),
            c if c == class::KEY_VALUE_PAIR => Some(Service::KeyValue),
            _ => None,
        }
    }

    /// The VMBus device class.
    pub fn class(self) -> vmbus::guid::Guid {
        use vmbus::guid::class;
        match self {
            Service::Heartbeat => class::HEARTBEAT,
            Service::Shutdown => class::SHUTDOWN,
            Service::TimeSync => class::TIME_SYNC,
            Service::KeyValue => class::KEY_VALUE_PAIR,
        }
    }

    /// The name in log lines (`heartbeat`, `shutdown`, `timesync`, `kvp`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Heartbeat => "heartbeat",
            Service::Shutdown => "shutdown",
            Service::TimeSync => "timesync",
            Service::KeyValue => "kvp",
        }
    }

    /// The message versions the guest speaks, best first.
    pub fn message_versions(self) -> &'static [IcVersion] {
        match self {
            Service::Heartbeat => &HEARTBEAT_VERSIONS,
            Service::Shutdown => &SHUTDOWN_VERSIONS,
            Service::TimeSync => &TIME_SYNC_VERSIONS,
            Service::KeyValue => &KVP_VERSIONS,
        }
    }

    /// The service's own message type.
    pub fn message_type(self) -> u16 {
        match self {
            Service::Heartbeat => message_type::HEARTBEAT,
            Service::Shutdown => message_type::SHUTDOWN,
            Service::TimeSync => message_type::TIME_SYNC,
            Service::KeyValue => message_type::KVP_EXCHANGE,
        }
    }
}

/// What the host asked the guest to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownKind {
    /// Power off.
    PowerOff,
    /// Restart.
    Restart,
}

/// A host time sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSample {
    /// Host UTC time, 100 ns units since 1601-01-01.
    pub host_time: u64,
    /// The partition reference counter (100 ns) when the host took the sample (4.0 layout
    /// only).
    pub reference_time: Option<u64>,
    /// [`super::wire::time_sync_flags`].
    pub flags: u8,
}

/// What a handled message means for the rest of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcEvent {
    /// Versions were agreed.
    Negotiated(Negotiated),
    /// A heartbeat was answered.
    Heartbeat {
        /// The host's sequence number.
        sequence: u64,
    },
    /// The host asked for a shutdown or restart, and was told yes: carry it out after the reply
    /// is sent.
    ShutdownRequested(ShutdownKind),
    /// The host asked for something refused (hibernate, unknown flags).
    ShutdownRefused {
        /// The request's flags.
        flags: u32,
    },
    /// A time sample arrived.
    TimeSample(TimeSample),
    /// A key-value request was answered (`status` as sent).
    KeyValueAnswered {
        /// The status sent.
        status: u32,
    },
}

/// The outcome of one host message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    /// The reply to send (with the request's VMBus transaction id), when the host expects one.
    pub reply: Option<Vec<u8>>,
    /// What happened.
    pub event: Option<IcEvent>,
}

/// The guest side of one IC channel. Build one per open; drop it with the channel (a rescinded
/// and re-offered channel negotiates afresh).
#[derive(Clone, Debug)]
pub struct IcChannel {
    service: Service,
    negotiated: Option<Negotiated>,
    identity: GuestIdentity,
}

impl IcChannel {
    /// A channel carrying `service`; `identity` answers key-value requests.
    pub fn new(service: Service, identity: GuestIdentity) -> IcChannel {
        IcChannel {
            service,
            negotiated: None,
            identity,
        }
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The agreed versions, once negotiated.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    /// Handles one host packet payload (pipe header first).
    pub fn handle(&mut self, packet: &[u8]) -> Result<Handled, IcError> {
        let message = IcMessage::parse(packet)?;
        if message.header.flags & header_flags::RESPONSE != 0 {
            return Err(IcError::NotARequest(message.header.flags));
        }
        let kind = message.header.message_type.get();
        let (status, body, event) = if kind == message_type::NEGOTIATE {
            self.negotiate(&message)?
        } else if kind != self.service.message_type() {
            return Err(IcError::UnexpectedMessageType(kind));
        } else if self.negotiated.is_none() {
            return Err(IcError::NotNegotiated(kind));
        } else {
            self.service_message(&message)?
        };
        let reply = message
            .expects_response()
            .then(|| message.reply(status, &body));
        Ok(Handled { reply, event })
    }

    fn negotiate(
        &mut self,
        message: &IcMessage,
    ) -> Result<(u32, Vec<u8>, Option<IcEvent>), IcError> {
        let offer = negotiate::parse_offer(message.body())?;
        let (chosen, body) =
            negotiate::answer(&offer, &FRAMEWORK_VERSIONS, self.service.message_versions());
        self.negotiated = chosen;
        let event = chosen.map(IcEvent::Negotiated);
        Ok((status::OK, body, event))
    }

    fn service_message(
        &mut self,
        message: &IcMessage,
    ) -> Result<(u32, Vec<u8>, Option<IcEvent>), IcError> {
        let body = message.body();
        match self.service {
            Service::Heartbeat => heartbeat(body),
            Service::Shutdown => shutdown(body),
            Service::TimeSync => {
                let version = self.negotiated.map(|n| n.message);
                time_sync(body, version)
            }
            Service::KeyValue => {
                let (status, reply) = kvp::answer(body, &self.identity)?;
                Ok((status, reply, Some(IcEvent::KeyValueAnswered { status })))
            }
        }
    }
}

fn truncated(body: &[u8], needed: usize) -> IcError {
    IcError::Truncated {
        length: body.len(),
        needed,
    }
}

/// Heartbeat: the body comes back with the sequence number + 1 (Linux
/// `heartbeat_onchannelcallback`).
fn heartbeat(body: &[u8]) -> Result<(u32, Vec<u8>, Option<IcEvent>), IcError> {
    let (data, _) = HeartbeatData::read_from_prefix(body)
        .map_err(|_| truncated(body, core::mem::size_of::<HeartbeatData>()))?;
    let sequence = data.sequence.get();
    let mut reply = body.to_vec();
    let next = sequence.wrapping_add(1).to_le_bytes();
    if let Some(slot) = reply.get_mut(..8) {
        slot.copy_from_slice(&next);
    }
    Ok((status::OK, reply, Some(IcEvent::Heartbeat { sequence })))
}

/// Shutdown: 0/1 power off, 2/3 restart (yes); 4/5 hibernate and anything else (no: this guest
/// cannot hibernate), as Linux `shutdown_onchannelcallback` without S4.
fn shutdown(body: &[u8]) -> Result<(u32, Vec<u8>, Option<IcEvent>), IcError> {
    let (data, _) = ShutdownData::read_from_prefix(body)
        .map_err(|_| truncated(body, core::mem::size_of::<ShutdownData>()))?;
    let flags = data.flags.get();
    let event = match flags & !shutdown_flags::FORCE {
        0 => IcEvent::ShutdownRequested(ShutdownKind::PowerOff),
        shutdown_flags::RESTART => IcEvent::ShutdownRequested(ShutdownKind::Restart),
        _ => IcEvent::ShutdownRefused { flags },
    };
    let answer = match event {
        IcEvent::ShutdownRequested(_) => status::OK,
        _ => status::FAIL,
    };
    Ok((answer, body.to_vec(), Some(event)))
}

/// Time sync: the 4.0 layout (with the reference time) when 4.0 was negotiated, the older one
/// otherwise (Linux `timesync_onchannelcallback`: `ts_srv_version > TS_VERSION_3`).
fn time_sync(
    body: &[u8],
    version: Option<IcVersion>,
) -> Result<(u32, Vec<u8>, Option<IcEvent>), IcError> {
    let sample = if version.is_some_and(|version| version.major.get() >= 4) {
        let (data, _) = TimeSyncReferenceData::read_from_prefix(body)
            .map_err(|_| truncated(body, core::mem::size_of::<TimeSyncReferenceData>()))?;
        TimeSample {
            host_time: data.parent_time.get(),
            reference_time: Some(data.reference_time.get()),
            flags: data.flags,
        }
    } else {
        let (data, _) = TimeSyncData::read_from_prefix(body)
            .map_err(|_| truncated(body, core::mem::size_of::<TimeSyncData>()))?;
        TimeSample {
            host_time: data.parent_time.get(),
            reference_time: None,
            flags: data.flags,
        }
    };
    Ok((status::OK, body.to_vec(), Some(IcEvent::TimeSample(sample))))
}
