//! The host's IC side against the guest's protocol core (`drivers::integration`) and against
//! garbage.

use super::*;
use drivers::integration::{GuestIdentity, IcChannel, IcEvent, Service};
use vmbus::ring::PacketType;

const RELIDS: [(u32, IcService); 4] = [
    (11, IcService::Heartbeat),
    (12, IcService::Shutdown),
    (13, IcService::TimeSync),
    (14, IcService::KeyValue),
];

fn guest_service(service: IcService) -> Service {
    match service {
        IcService::Heartbeat => Service::Heartbeat,
        IcService::Shutdown => Service::Shutdown,
        IcService::TimeSync => Service::TimeSync,
        IcService::KeyValue => Service::KeyValue,
    }
}

struct Guest {
    channels: BTreeMap<u32, IcChannel>,
    events: Vec<IcEvent>,
    errors: usize,
}

impl Guest {
    fn new() -> Guest {
        Guest {
            channels: RELIDS
                .iter()
                .map(|(relid, service)| {
                    (
                        *relid,
                        IcChannel::new(guest_service(*service), GuestIdentity::default()),
                    )
                })
                .collect(),
            events: Vec::new(),
            errors: 0,
        }
    }

    /// Delivers everything the host queued and hands the answers back.
    fn pump(&mut self, host: &mut IcHost) {
        while let Some(packet) = host.poll_reply() {
            let channel = self.channels.get_mut(&packet.relid).unwrap();
            match channel.handle(&packet.bytes) {
                Ok(handled) => {
                    self.events.extend(handled.event);
                    if let Some(reply) = handled.reply {
                        host.receive(ServicePacket {
                            relid: packet.relid,
                            class: Guid::ZERO,
                            instance: Guid::ZERO,
                            packet_type: PacketType::DATA_IN_BAND,
                            transaction_id: packet.transaction_id,
                            completion_requested: false,
                            payload: &reply,
                        });
                    }
                }
                Err(_) => self.errors += 1,
            }
        }
    }
}

fn open_all(host: &mut IcHost) {
    for (relid, _) in RELIDS {
        host.set_open(relid, true);
    }
}

#[test]
fn all_four_services_negotiate_and_run() {
    let config = IntegrationConfig {
        shutdown: Some((Duration::from_secs(3), HostShutdown::PowerOff)),
        host_time_at_start: Some(133_000_000_000_000_000),
        ..IntegrationConfig::default()
    };
    let mut host = IcHost::new(config, &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    let observed = host.observations().clone();
    assert_eq!(observed.negotiated[&IcService::Heartbeat], ((3, 0), (3, 0)));
    assert_eq!(observed.negotiated[&IcService::Shutdown], ((3, 0), (3, 2)));
    assert_eq!(observed.negotiated[&IcService::TimeSync], ((3, 0), (4, 0)));
    assert_eq!(observed.negotiated[&IcService::KeyValue], ((3, 0), (4, 0)));
    assert_eq!(observed.heartbeats_answered, 1);
    assert_eq!(observed.time_samples_acknowledged, 1);
    let keys: Vec<&str> = observed
        .kvp_items
        .iter()
        .map(|(key, _)| key.as_str())
        .collect();
    assert!(keys.contains(&"OSName") && keys.contains(&"FullyQualifiedDomainName"));
    assert_eq!(observed.kvp_end_status, Some(wire::STATUS_CONTINUE));
    assert!(observed.shutdown_statuses.is_empty());
    // The first sample is a SYNC with the configured time and the reference time.
    assert!(guest.events.iter().any(|event| matches!(
        event,
        IcEvent::TimeSample(sample)
            if sample.host_time == 133_000_000_000_000_000 && sample.flags == 1
                && sample.reference_time == Some(0)
    )));
    // Time passes: heartbeats every 2 s, samples every 5 s, the shutdown after 3 s.
    for second in 1..=6 {
        host.tick(Duration::from_secs(second));
        guest.pump(&mut host);
    }
    let observed = host.observations();
    assert_eq!(observed.heartbeats_answered, 4);
    assert_eq!(observed.heartbeats_wrong, 0);
    assert_eq!(observed.time_samples_acknowledged, 2);
    assert_eq!(observed.shutdown_statuses, vec![0]);
    assert_eq!(observed.rejected_packets, 0);
    assert_eq!(guest.errors, 0);
}

#[test]
fn hibernate_is_refused_by_the_guest_and_recorded() {
    let config = IntegrationConfig {
        shutdown: Some((Duration::ZERO, HostShutdown::Hibernate)),
        ..IntegrationConfig::default()
    };
    let mut host = IcHost::new(config, &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    assert_eq!(host.observations().shutdown_statuses, vec![0x8000_4005]);
}

#[test]
fn unknown_versions_leave_every_channel_unnegotiated() {
    let config = IntegrationConfig {
        misbehaviour: IcMisbehaviour {
            unknown_versions: true,
            ..IcMisbehaviour::default()
        },
        ..IntegrationConfig::default()
    };
    let mut host = IcHost::new(config, &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    host.tick(Duration::from_secs(10));
    guest.pump(&mut host);
    assert_eq!(host.observations().negotiations_refused, 4);
    assert!(host.observations().negotiated.is_empty());
    assert_eq!(host.observations().heartbeats_answered, 0);
}

#[test]
fn malformed_messages_are_dropped_by_the_guest_and_negotiation_still_succeeds() {
    let config = IntegrationConfig {
        misbehaviour: IcMisbehaviour {
            malformed_messages: 4,
            ..IcMisbehaviour::default()
        },
        ..IntegrationConfig::default()
    };
    let mut host = IcHost::new(config, &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    assert_eq!(guest.errors, 16);
    assert_eq!(host.observations().negotiated.len(), 4);
}

#[test]
fn a_heartbeat_flood_is_answered_in_full() {
    let config = IntegrationConfig {
        misbehaviour: IcMisbehaviour {
            heartbeat_flood: 500,
            ..IcMisbehaviour::default()
        },
        ..IntegrationConfig::default()
    };
    let mut host = IcHost::new(config, &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    assert_eq!(host.observations().heartbeats_answered, 500);
}

#[test]
fn garbage_from_the_guest_is_counted_never_fatal() {
    let mut host = IcHost::new(IntegrationConfig::default(), &RELIDS);
    open_all(&mut host);
    let negotiations: Vec<ServiceReply> = std::iter::from_fn(|| host.poll_reply()).collect();
    let payloads: [&[u8]; 5] = [
        &[],
        &[1, 0, 0, 0],
        &[1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0],
        &[2; 40],
        &[
            1, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 5, 0,
            0,
        ],
    ];
    for (packet, payload) in negotiations.iter().zip(payloads.iter().cycle()) {
        host.receive(ServicePacket {
            relid: packet.relid,
            class: Guid::ZERO,
            instance: Guid::ZERO,
            packet_type: PacketType::DATA_IN_BAND,
            transaction_id: packet.transaction_id,
            completion_requested: false,
            payload,
        });
    }
    // An answer to no request at all.
    host.receive(ServicePacket {
        relid: 11,
        class: Guid::ZERO,
        instance: Guid::ZERO,
        packet_type: PacketType::DATA_IN_BAND,
        transaction_id: 0xDEAD,
        completion_requested: false,
        payload: &[0; 64],
    });
    assert_eq!(host.observations().rejected_packets, 5);
    assert!(host.observations().negotiated.is_empty());
}

#[test]
fn a_reopened_channel_negotiates_again() {
    let mut host = IcHost::new(IntegrationConfig::default(), &RELIDS);
    let mut guest = Guest::new();
    open_all(&mut host);
    guest.pump(&mut host);
    host.set_open(11, false);
    // The guest builds a fresh channel for the new open.
    guest.channels.insert(
        11,
        IcChannel::new(Service::Heartbeat, GuestIdentity::default()),
    );
    host.set_open(11, true);
    guest.pump(&mut host);
    assert_eq!(host.observations().negotiations_started, 5);
    assert_eq!(host.observations().heartbeats_answered, 2);
}
