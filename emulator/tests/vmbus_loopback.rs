//! In-process integration: the `vmbus` client against the emulated VMBus server, connected
//! through their action queues over one `AtomicMemory`.

use emulator::vmbus_server::loopback::{GuestChannel, Loopback, OpenFailure};
use emulator::vmbus_server::{ServerConfig, ServerError, UNCLAIMED_CLASS};
use vmbus::client::{ClientConfig, ClientError, ClientEvent, OpenError, SubscriberId};
use vmbus::guid::class;
use vmbus::ring::{OutgoingPacket, PacketType, RingError};
use vmbus::version::Version;

const MEMORY: usize = 16 << 20;
const RING_PAGES: u64 = 65; // control page + 256 KiB

fn standard() -> Loopback {
    Loopback::new(ServerConfig::standard(2), ClientConfig::default(), MEMORY)
}

fn relid_of(events: &[(Option<SubscriberId>, ClientEvent)], wanted: vmbus::Guid) -> u32 {
    events
        .iter()
        .find_map(|(_, event)| match event {
            ClientEvent::OfferArrived(offer) if offer.class == wanted => Some(offer.relid),
            _ => None,
        })
        .expect("offer present")
}

/// Deterministic xorshift generator.
struct Random(u64);
impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

/// A packet body: length u32, checksum u32, then `length` pseudo-random bytes.
fn make_packet(random: &mut Random, max: usize) -> Vec<u8> {
    let length = (random.next() as usize) % max + 1;
    let data: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
    let mut packet = Vec::with_capacity(length + 8);
    packet.extend_from_slice(&(length as u32).to_le_bytes());
    packet.extend_from_slice(&checksum(&data).to_le_bytes());
    packet.extend_from_slice(&data);
    packet
}

fn verify_packet(payload: &[u8]) -> usize {
    let length = u32::from_le_bytes(payload[0..4].try_into().unwrap()) as usize;
    let sum = u32::from_le_bytes(payload[4..8].try_into().unwrap());
    assert!(payload.len() >= 8 + length, "echo shorter than the packet");
    assert_eq!(
        checksum(&payload[8..8 + length]),
        sum,
        "echoed data differs"
    );
    length
}

/// Sends `count` packets through the echo channel and checks every echo, with flow control.
fn echo_traffic(
    pair: &mut Loopback,
    channel: &mut GuestChannel,
    count: usize,
    max: usize,
    seed: u64,
) {
    let mut random = Random(seed);
    let mut sent = 0usize;
    let mut received = 0usize;
    let mut buffer = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut rounds = 0;
    while received < count {
        rounds += 1;
        assert!(rounds < 1_000_000, "no progress");
        // Send until the ring is full.
        while sent < count {
            let packet = pending
                .take()
                .unwrap_or_else(|| make_packet(&mut random, max));
            let completion = sent.is_multiple_of(2);
            match channel.rings.sender.send(&OutgoingPacket::in_band(
                sent as u64 + 1,
                completion,
                &packet,
            )) {
                Ok(signal) => {
                    if signal {
                        pair.client.signal_channel(channel.relid).unwrap();
                    }
                    sent += 1;
                }
                Err(RingError::Full { needed }) => {
                    pending = Some(packet);
                    if channel.rings.sender.wait_for_space(needed).unwrap() {
                        continue;
                    }
                    break;
                }
                Err(error) => panic!("send: {error}"),
            }
        }
        pair.pump();
        // Drain echoes.
        while let Some(packet) = channel.rings.receiver.read_packet(&mut buffer).unwrap() {
            let expected_type = if received.is_multiple_of(2) {
                PacketType::COMPLETION
            } else {
                PacketType::DATA_IN_BAND
            };
            assert_eq!(packet.packet_type, expected_type);
            assert_eq!(packet.transaction_id, received as u64 + 1);
            verify_packet(packet.payload(&buffer));
            received += 1;
        }
        if channel.rings.receiver.commit().unwrap() {
            pair.client.signal_channel(channel.relid).unwrap();
        }
        pair.pump();
    }
    assert_eq!(sent, count);
}

#[test]
fn connect_list_open_echo_close_unload() {
    let mut pair = standard();
    pair.client.subscribe(class::DXGOS_ECHO, SubscriberId(1));
    pair.client
        .subscribe(class::DXG_VIRTUAL_GPU, SubscriberId(2));
    let events = pair.connect();
    assert!(pair.client_errors.is_empty() && pair.server_errors.is_empty());
    assert_eq!(
        events[0],
        (
            None,
            ClientEvent::Connected {
                version: Version::WIN10_V5_3
            }
        )
    );
    let offers: Vec<_> = events
        .iter()
        .filter_map(|(subscriber, event)| match event {
            ClientEvent::OfferArrived(offer) => Some((*subscriber, offer.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(offers.len(), 6, "global, 2 vGPU, vPCI, unclaimed, echo");
    assert_eq!(offers[0].1.class, class::DXG_GLOBAL);
    assert_eq!(
        offers[0].1.mmio_megabytes,
        emulator::vmbus_server::DXG_IO_SPACE_MEGABYTES
    );
    assert_eq!(
        offers
            .iter()
            .filter(|(subscriber, _)| *subscriber == Some(SubscriberId(2)))
            .count(),
        2
    );
    assert!(
        offers
            .iter()
            .any(|(subscriber, offer)| offer.class == UNCLAIMED_CLASS && subscriber.is_none())
    );
    assert_eq!(
        events.last().unwrap(),
        &(None, ClientEvent::AllOffersDelivered)
    );
    // vGPU instance GUIDs differ in their first 8 bytes (the adapter LUID).
    let vgpus: Vec<_> = offers
        .iter()
        .filter(|(_, offer)| offer.class == class::DXG_VIRTUAL_GPU)
        .collect();
    assert_ne!(
        vgpus[0].1.instance.bytes[..8],
        vgpus[1].1.instance.bytes[..8]
    );

    let relid = relid_of(&events, class::DXGOS_ECHO);
    let mut channel = pair.open_channel(relid, RING_PAGES).unwrap();
    assert!(pair.server.is_open(relid));
    echo_traffic(&mut pair, &mut channel, 400, 64 * 1024, 0x1234_5678);
    // The largest dxg packet (128 KiB) through 256 KiB rings.
    let mut random = Random(99);
    let big: Vec<u8> = {
        let data: Vec<u8> = (0..128 * 1024 - 8).map(|_| random.next() as u8).collect();
        let mut packet = ((data.len()) as u32).to_le_bytes().to_vec();
        packet.extend_from_slice(&checksum(&data).to_le_bytes());
        packet.extend_from_slice(&data);
        packet
    };
    assert_eq!(big.len(), 128 * 1024);
    if channel
        .rings
        .sender
        .send(&OutgoingPacket::in_band(7, true, &big))
        .unwrap()
    {
        pair.client.signal_channel(relid).unwrap();
    }
    pair.pump();
    let mut buffer = Vec::new();
    let packet = channel
        .rings
        .receiver
        .read_packet(&mut buffer)
        .unwrap()
        .unwrap();
    assert_eq!(packet.packet_type, PacketType::COMPLETION);
    assert_eq!(verify_packet(packet.payload(&buffer)), 128 * 1024 - 8);
    channel.rings.receiver.commit().unwrap();
    let signalled = pair.take_events();
    assert!(
        signalled
            .iter()
            .any(|(subscriber, event)| *subscriber == Some(SubscriberId(1))
                && *event == ClientEvent::ChannelSignalled { relid })
    );

    pair.client.close_channel(relid).unwrap();
    pair.client.teardown_gpadl(channel.gpadl).unwrap();
    pair.pump();
    assert!(!pair.server.is_open(relid));
    assert_eq!(pair.server.gpadl_count(), 0);
    assert!(pair.take_events().contains(&(
        Some(SubscriberId(1)),
        ClientEvent::GpadlTornDown {
            relid,
            gpadl: channel.gpadl
        }
    )));
    pair.client.unload().unwrap();
    pair.pump();
    // Every channel is reset (to its subscriber; the host released its memory), then the
    // connection is gone.
    let mut events = pair.take_events();
    assert_eq!(events.pop(), Some((None, ClientEvent::Unloaded)));
    assert_eq!(events.len(), 6, "one reset per offer: {events:?}");
    assert!(events.iter().all(|(_, event)| matches!(
        event,
        ClientEvent::ChannelReset {
            memory_released: true,
            ..
        }
    )));
    assert!(events.contains(&(
        Some(SubscriberId(1)),
        ClientEvent::ChannelReset {
            relid,
            memory_released: true
        }
    )));
    assert_eq!(pair.server.version(), None);
    assert!(pair.client_errors.is_empty(), "{:?}", pair.client_errors);
    assert!(pair.server_errors.is_empty(), "{:?}", pair.server_errors);
    // And connect again after UNLOAD.
    let events = pair.connect();
    assert_eq!(
        events
            .iter()
            .filter(|(_, event)| matches!(event, ClientEvent::OfferArrived(_)))
            .count(),
        6
    );
}

#[test]
fn small_rings_exercise_flow_control() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::DXGOS_ECHO);
    // Two pages per ring: a 4 KiB data area; packets up to 3 KiB keep it full most of the time.
    let mut channel = pair.open_channel(relid, 2).unwrap();
    echo_traffic(&mut pair, &mut channel, 2000, 3000, 42);
    assert!(pair.server_errors.is_empty(), "{:?}", pair.server_errors);
}

#[test]
fn version_fallback_when_the_host_lacks_5_0() {
    let mut config = ServerConfig::standard(1);
    config.max_version = Version::WIN10_V4_1;
    let mut pair = Loopback::new(config, ClientConfig::default(), MEMORY);
    let events = pair.connect();
    assert_eq!(
        events[0],
        (
            None,
            ClientEvent::Connected {
                version: Version::WIN10_V4_1
            }
        )
    );
    assert_eq!(pair.server.version(), Some(Version::WIN10_V4_1));
    // Everything works on connection id 1.
    let relid = relid_of(&events, class::DXGOS_ECHO);
    let mut channel = pair.open_channel(relid, 4).unwrap();
    echo_traffic(&mut pair, &mut channel, 50, 5000, 7);
    assert!(pair.server_errors.is_empty(), "{:?}", pair.server_errors);
}

#[test]
fn version_fallback_through_refusals() {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.refuse_versions = vec![Version::WIN10_V5_3, Version::WIN10_V5_2];
    config.message_connection_id = 9;
    let mut pair = Loopback::new(config, ClientConfig::default(), MEMORY);
    let events = pair.connect();
    assert_eq!(
        events[0],
        (
            None,
            ClientEvent::Connected {
                version: Version::WIN10_V5_1
            }
        )
    );
    assert!(
        events.contains(&(None, ClientEvent::AllOffersDelivered)),
        "REQUESTOFFERS went to id 9"
    );
    // A client capped at 4.0 against a 5.3 host.
    let client = ClientConfig {
        max_version: Version::WIN10,
        ..ClientConfig::default()
    };
    let mut pair = Loopback::new(ServerConfig::standard(1), client, MEMORY);
    assert_eq!(
        pair.connect()[0],
        (
            None,
            ClientEvent::Connected {
                version: Version::WIN10
            }
        )
    );
    // A host that accepts nothing the client proposes.
    let mut config = ServerConfig::standard(1);
    config.min_version = Version::COPPER;
    let mut pair = Loopback::new(config, ClientConfig::default(), MEMORY);
    assert_eq!(pair.connect(), vec![(None, ClientEvent::ConnectFailed)]);
}

#[test]
fn rescind_during_open() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::DXG_GLOBAL);
    pair.server.misbehaviour_mut().rescind_on_open = vec![relid];
    let failure = match pair.open_channel(relid, 4) {
        Err(failure) => failure,
        Ok(_) => panic!("open succeeded"),
    };
    assert_eq!(
        failure,
        OpenFailure::Host(Box::new(ClientEvent::ChannelOpened {
            relid,
            result: Err(OpenError::Rescinded)
        }))
    );
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::OfferRescinded { relid }))
    );
    // Tearing down the ring GPADL releases the relid; the host forgets the offer.
    let gpadl = pair.client.gpadl_state(0xE1E10).map(|_| 0xE1E10).unwrap();
    pair.client.teardown_gpadl(gpadl).unwrap();
    pair.pump();
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::RelidReleased { relid }))
    );
    assert!(pair.server.relid_of(class::DXG_GLOBAL).is_none());
    assert!(pair.client_errors.is_empty(), "{:?}", pair.client_errors);
    assert!(pair.server_errors.is_empty(), "{:?}", pair.server_errors);
}

#[test]
fn rescind_of_an_open_channel() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::DXGOS_ECHO);
    let mut channel = pair.open_channel(relid, 4).unwrap();
    echo_traffic(&mut pair, &mut channel, 10, 100, 3);
    pair.server.rescind(relid).unwrap();
    pair.pump();
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::OfferRescinded { relid }))
    );
    pair.client.close_channel(relid).unwrap();
    pair.client.teardown_gpadl(channel.gpadl).unwrap();
    pair.pump();
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::RelidReleased { relid }))
    );
    assert!(pair.client_errors.is_empty(), "{:?}", pair.client_errors);
    assert!(pair.server_errors.is_empty(), "{:?}", pair.server_errors);
}

#[test]
fn host_failures_are_reported() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::VIRTUAL_PCI);
    pair.server.misbehaviour_mut().gpadl_status = Some(0xC000_0001);
    let failure = pair.open_channel(relid, 2).err();
    assert!(matches!(
        failure.as_ref(),
        Some(OpenFailure::Host(event)) if matches!(**event, ClientEvent::GpadlCreated { result: Err(_), .. })
    ));
    pair.server.misbehaviour_mut().gpadl_status = None;
    pair.server.misbehaviour_mut().open_status = Some(1);
    assert_eq!(
        pair.open_channel(relid, 2).err(),
        Some(OpenFailure::Host(Box::new(ClientEvent::ChannelOpened {
            relid,
            result: Err(OpenError::Status(1))
        })))
    );
}

#[test]
fn malformed_messages_from_the_host() {
    let mut pair = standard();
    pair.server.misbehaviour_mut().duplicate_first_offer = true;
    let events = pair.connect();
    assert!(pair.client_errors.contains(&ClientError::DuplicateRelid(1)));
    let relid = relid_of(&events, class::DXGOS_ECHO);
    // Corrupt the next three host messages: GPADL_CREATED truncated, unknown type, wrong relid.
    pair.server.misbehaviour_mut().corrupt_messages = 3;
    assert_eq!(
        pair.open_channel(relid, 2).err(),
        Some(OpenFailure::NoAnswer)
    );
    assert_eq!(pair.client_errors.len(), 2);
    assert!(matches!(pair.client_errors[1], ClientError::Parse(_)));
    // Two left: the next GPADL_CREATED has an unknown type, the one after names a relid
    // nobody has.
    let vgpu = relid_of(&events, class::DXG_VIRTUAL_GPU);
    assert_eq!(
        pair.open_channel(vgpu, 2).err(),
        Some(OpenFailure::NoAnswer)
    );
    assert!(matches!(pair.client_errors[2], ClientError::Parse(_)));
    let unclaimed = relid_of(&events, UNCLAIMED_CLASS);
    assert_eq!(
        pair.open_channel(unclaimed, 2).err(),
        Some(OpenFailure::NoAnswer)
    );
    assert!(matches!(
        pair.client_errors[3],
        ClientError::Mismatch { found: 0xFFF0, .. }
    ));
    // The client survived: an open works once the host behaves.
    let vpci = relid_of(&events, class::VIRTUAL_PCI);
    assert!(pair.open_channel(vpci, 2).is_ok());
    assert_eq!(pair.client_errors.len(), 4);
}

#[test]
fn corrupt_ring_indices_are_detected_by_the_guest() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::DXGOS_ECHO);
    pair.server.misbehaviour_mut().corrupt_ring_on_open = true;
    let mut channel = pair.open_channel(relid, 2).unwrap();
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::ChannelSignalled { relid }))
    );
    let mut buffer = Vec::new();
    assert!(matches!(
        channel.rings.receiver.read_packet(&mut buffer),
        Err(RingError::CorruptIndex { .. })
    ));
}

#[test]
fn malformed_messages_from_the_guest() {
    let mut pair = standard();
    pair.connect();
    let server = &mut pair.server;
    assert_eq!(
        server.on_guest_message(5, 1, &[3, 0, 0, 0, 0, 0, 0, 0]),
        Err(ServerError::InvalidConnectionId(5))
    );
    assert_eq!(
        server.on_guest_message(1, 2, &[3, 0, 0, 0, 0, 0, 0, 0]),
        Err(ServerError::BadSynicMessageType(2))
    );
    assert!(matches!(
        server.on_guest_message(1, 1, &[3, 0]),
        Err(ServerError::Parse(_))
    ));
    assert!(matches!(
        server.on_guest_message(1, 1, &[3, 0, 0, 0, 0, 0, 0, 0]),
        Err(ServerError::Unexpected(_))
    ));
    // GPADL body for a handle nobody started; a header with an inconsistent length.
    assert_eq!(
        server.on_guest_message(1, 1, &vmbus::messages::encode::gpadl_body(1, 77, &[0; 8])),
        Err(ServerError::UnknownGpadl(77))
    );
    server
        .on_guest_message(
            1,
            1,
            &vmbus::messages::encode::gpadl_header(1, 78, 12, 1, &[0; 12]),
        )
        .unwrap();
    let reply = server.poll_output().unwrap();
    assert!(
        matches!(reply, emulator::vmbus_server::ServerOutput::Message { payload, .. } if payload[16..20] == 0x8000_FFFFu32.to_le_bytes())
    );
    assert_eq!(
        server.on_guest_signal(0x1234),
        Err(ServerError::UnknownSignal(0x1234))
    );
    // A pseudo-random sweep never panics.
    let mut random = Random(5);
    for _ in 0..5000 {
        let length = (random.next() % 241) as usize;
        let mut bytes: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        if length >= 4 {
            bytes[0] = (random.next() % 31) as u8;
            bytes[1..4].fill(0);
        }
        let _ = server.on_guest_message(1, 1, &bytes);
    }
}

#[test]
fn large_gpadl_through_header_and_bodies() {
    let mut pair = standard();
    let events = pair.connect();
    let relid = relid_of(&events, class::DXGOS_ECHO);
    let pfns = pair.allocate_pages(2000);
    let gpadl = pair
        .client
        .create_gpadl(relid, 0, 2000 * 4096, &pfns)
        .unwrap();
    pair.pump();
    assert!(pair.take_events().contains(&(
        None,
        ClientEvent::GpadlCreated {
            relid,
            gpadl,
            result: Ok(())
        }
    )));
    assert_eq!(pair.server.gpadl_count(), 1);
}

#[test]
fn without_connection_id_4_the_client_connects_at_4_1() {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.no_connection_id_4 = true;
    let mut pair = Loopback::new(config, ClientConfig::default(), MEMORY);
    let events = pair.connect();
    assert!(events.contains(&(
        None,
        ClientEvent::Connected {
            version: Version::WIN10_V4_1
        }
    )));
    assert_eq!(pair.server.version(), Some(Version::WIN10_V4_1));
    assert!(pair.client_errors.is_empty());
}
