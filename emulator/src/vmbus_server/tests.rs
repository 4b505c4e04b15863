//! Server tests driven with raw guest messages.

use super::loopback::Loopback;
use super::*;
use hyperv::memory::AtomicMemory;
use std::sync::Arc;
use vmbus::client::{ClientConfig, ClientEvent};
use vmbus::guid::class;

fn server(max: Version) -> Server<Arc<AtomicMemory>> {
    let mut config = ServerConfig::standard(1);
    config.max_version = max;
    Server::new(Arc::new(AtomicMemory::new(0, 1 << 20)), config)
}

fn messages(server: &mut Server<Arc<AtomicMemory>>) -> Vec<ControlMessage> {
    let mut out = Vec::new();
    while let Some(output) = server.poll_output() {
        if let ServerOutput::Message { payload, .. } = output {
            out.push(parse(&payload).unwrap());
        }
    }
    out
}

fn connect(server: &mut Server<Arc<AtomicMemory>>) {
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    server.on_guest_message(4, 1, &contact).unwrap();
    server
        .on_guest_message(1, 1, &encode::request_offers())
        .unwrap();
    let _ = messages(server);
}

#[test]
fn connection_id_4_exists_only_from_5_0() {
    let mut old = server(Version::WIN10_V4_1);
    let contact = encode::initiate_contact(0x0005_0003, 0, 0, 0, 0);
    let error = old.on_guest_message(4, 1, &contact).unwrap_err();
    assert_eq!(error.hypercall_status(), Some(0x12));
    let contact = encode::initiate_contact(0x0004_0001, 0, 0, 0, 0);
    assert_eq!(
        old.on_guest_message(4, 1, &contact),
        Err(ServerError::InvalidConnectionId(4))
    );
    old.on_guest_message(1, 1, &contact).unwrap();
    let reply = messages(&mut old);
    assert!(
        matches!(&reply[0], ControlMessage::VersionResponse { message, .. } if message.version_supported == 1)
    );
    // A ≥ 5.0 request on id 1 is the wrong port.
    let mut new = server(Version::WIN10_V5_3);
    let contact = encode::initiate_contact(0x0005_0003, 0, 0, 0, 0);
    assert_eq!(
        new.on_guest_message(1, 1, &contact),
        Err(ServerError::WrongConnectionId {
            expected: 4,
            found: 1
        })
    );
}

#[test]
fn offers_carry_the_configured_devices() {
    let mut server = server(Version::WIN10_V5_3);
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    server.on_guest_message(4, 1, &contact).unwrap();
    let reply = messages(&mut server);
    assert!(
        matches!(&reply[0], ControlMessage::VersionResponse { message, .. }
        if message.version_supported == 1 && message.message_connection_id.get() == 1)
    );
    server
        .on_guest_message(1, 1, &encode::request_offers())
        .unwrap();
    let offers = messages(&mut server);
    assert_eq!(offers.len(), 6);
    let ControlMessage::OfferChannel(first) = &offers[0] else {
        panic!()
    };
    assert_eq!(first.interface_type, class::DXG_GLOBAL);
    assert_eq!(first.mmio_megabytes.get(), DXG_IO_SPACE_MEGABYTES);
    assert_eq!(first.child_relid.get(), 1);
    assert_eq!(first.connection_id.get(), CHANNEL_CONNECTION_ID_BASE + 1);
    assert_eq!(first.is_dedicated_interrupt.get(), 1);
    assert_eq!(offers[5], ControlMessage::AllOffersDelivered);
    // A second REQUESTOFFERS is refused (as OpenVMM does).
    assert!(
        server
            .on_guest_message(1, 1, &encode::request_offers())
            .is_err()
    );
}

#[test]
fn relid_released_only_after_rescind_and_modify_channel_answers() {
    let mut server = server(Version::WIN10_V5_3);
    connect(&mut server);
    assert!(
        server
            .on_guest_message(1, 1, &encode::relid_released(2))
            .is_err()
    );
    server.rescind(2).unwrap();
    assert_eq!(
        messages(&mut server),
        vec![ControlMessage::RescindChannelOffer(parse_rescind(2))]
    );
    // A rescinded channel's open is dropped silently.
    let open = encode::open_channel(2, 2, 5, 0, 2, &[0; 120]);
    server.on_guest_message(1, 1, &open).unwrap();
    assert!(messages(&mut server).is_empty());
    server
        .on_guest_message(1, 1, &encode::relid_released(2))
        .unwrap();
    assert!(server.relid_of(class::DXG_VIRTUAL_GPU).is_none());
    server
        .on_guest_message(1, 1, &encode::modify_channel(1, 3))
        .unwrap();
    assert!(
        matches!(&messages(&mut server)[0], ControlMessage::ModifyChannelResponse(m) if m.child_relid.get() == 1)
    );
}

fn parse_rescind(relid: u32) -> vmbus::messages::RescindChannelOffer {
    match parse(&encode::rescind_channel_offer(relid)).unwrap() {
        ControlMessage::RescindChannelOffer(message) => message,
        _ => unreachable!(),
    }
}

#[test]
fn teardown_of_a_ring_in_use_waits_for_close() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let channel = pair.open_channel(relid, 2).unwrap();
    // Bypass the client's ordering: GPADL_TEARDOWN before CLOSECHANNEL.
    let teardown = encode::gpadl_teardown(relid, channel.gpadl);
    pair.server.on_guest_message(1, 1, &teardown).unwrap();
    assert!(pair.server.poll_output().is_none(), "deferred while open");
    pair.server
        .on_guest_message(1, 1, &encode::close_channel(relid))
        .unwrap();
    let reply = pair.server.poll_output().unwrap();
    assert_eq!(
        reply,
        ServerOutput::Message {
            target_vp: 0,
            payload: encode::gpadl_torndown(channel.gpadl)
        }
    );
}

#[test]
fn loopback_echo_smoke() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let mut channel = pair.open_channel(relid, 2).unwrap();
    let packet = vmbus::ring::OutgoingPacket::in_band(5, true, b"ping");
    assert!(channel.rings.sender.send(&packet).unwrap());
    pair.client.signal_channel(relid).unwrap();
    pair.pump();
    assert!(
        pair.take_events()
            .contains(&(None, ClientEvent::ChannelSignalled { relid }))
    );
    let mut buffer = Vec::new();
    let reply = channel
        .rings
        .receiver
        .read_packet(&mut buffer)
        .unwrap()
        .unwrap();
    assert_eq!(reply.transaction_id, 5);
    assert_eq!(&reply.payload(&buffer)[..4], b"ping");
}

/// Answers every packet with a 1000-byte completion and a 16-byte notification.
#[derive(Default)]
struct Chatty {
    received: Vec<u64>,
    replies: std::collections::VecDeque<ServiceReply>,
}

impl ChannelService for Chatty {
    fn receive(&mut self, packet: ServicePacket<'_>) {
        self.received.push(packet.transaction_id);
        let fill = packet.transaction_id as u8;
        self.replies.push_back(ServiceReply::completion(
            packet.relid,
            packet.transaction_id,
            vec![fill; 1000],
        ));
        self.replies
            .push_back(ServiceReply::notification(packet.relid, vec![fill; 16]));
    }

    fn poll_reply(&mut self) -> Option<ServiceReply> {
        self.replies.pop_front()
    }
}

#[test]
fn service_channel_back_pressure_loses_nothing() {
    use vmbus::ring::{OutgoingPacket, PacketType, RingError};
    const COUNT: u64 = 300;
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXG_VIRTUAL_GPU).unwrap();
    assert_eq!(pair.server.device(relid).unwrap().kind, DeviceKind::Service);
    // Two pages per ring: 4 KiB of data, so replies (1 KiB each) fill it after three packets.
    let mut channel = pair.open_channel(relid, 2).unwrap();
    let mut service = Chatty::default();
    let (mut sent, mut completions, mut notifications) = (0u64, 0u64, 0u64);
    let mut buffer = Vec::new();
    let mut checked_stall = false;
    for _ in 0..100_000 {
        while sent < COUNT {
            let payload = [sent as u8; 200];
            match channel
                .rings
                .sender
                .send(&OutgoingPacket::in_band(sent + 1, true, &payload))
            {
                Ok(_) => sent += 1,
                Err(RingError::Full { needed }) => {
                    if channel.rings.sender.wait_for_space(needed).unwrap() {
                        continue;
                    }
                    break;
                }
                Err(error) => panic!("{error}"),
            }
        }
        pair.server.run_services(&mut service);
        pair.pump();
        if !checked_stall {
            // The guest has not read anything: the host stopped taking requests.
            checked_stall = true;
            assert!(pair.server.host_channel(relid).unwrap().queued_replies() > 0);
            assert!((service.received.len() as u64) < sent);
        }
        while let Some(packet) = channel.rings.receiver.read_packet(&mut buffer).unwrap() {
            let payload = packet.payload(&buffer);
            if packet.packet_type == PacketType::COMPLETION {
                completions += 1;
                assert_eq!(packet.transaction_id, completions, "completions in order");
                assert_eq!(payload.len(), 1000);
                assert!(payload.iter().all(|byte| *byte == completions as u8));
            } else {
                assert_eq!(packet.packet_type, PacketType::DATA_IN_BAND);
                notifications += 1;
                assert_eq!(
                    notifications, completions,
                    "notification after its completion"
                );
                assert_eq!(packet.transaction_id, 0);
            }
        }
        channel.rings.receiver.commit().unwrap();
        pair.server.run_services(&mut service);
        pair.pump();
        if completions == COUNT && notifications == COUNT {
            break;
        }
    }
    assert_eq!((completions, notifications), (COUNT, COUNT));
    assert_eq!(service.received, (1..=COUNT).collect::<Vec<_>>());
    let statistics = pair.server.service_statistics();
    assert!(statistics.ring_full_waits > 0);
    assert_eq!(statistics.replies_sent, 2 * COUNT);
    assert_eq!(statistics.replies_dropped, 0);
    assert!(statistics.signals > 0);
    assert!(pair.server_errors.is_empty());
}

#[test]
fn service_replies_for_closed_or_rescinded_channels_are_dropped() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXG_VIRTUAL_GPU).unwrap();
    let mut service = Chatty::default();
    service
        .replies
        .push_back(ServiceReply::notification(relid, vec![1; 8]));
    pair.server.run_services(&mut service);
    assert_eq!(
        pair.server.service_statistics().replies_dropped,
        1,
        "not open"
    );
    let mut channel = pair.open_channel(relid, 2).unwrap();
    pair.server.rescind(relid).unwrap();
    channel
        .rings
        .sender
        .send(&vmbus::ring::OutgoingPacket::in_band(1, true, &[0; 8]))
        .unwrap();
    service
        .replies
        .push_back(ServiceReply::notification(relid, vec![1; 8]));
    pair.server.run_services(&mut service);
    assert!(
        service.received.is_empty(),
        "a rescinded channel is not read"
    );
    assert_eq!(pair.server.service_statistics().replies_dropped, 2);
}

#[test]
fn gpadl_changes_are_reported_in_order_once_asked_for() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    // Not recording by default.
    let early = pair.allocate_pages(1);
    let early = pair.client.create_gpadl(relid, 0, 4096, &early).unwrap();
    pair.pump();
    assert!(pair.server.take_gpadl_events().is_empty());
    // Asking reports what exists.
    pair.server.report_gpadls();
    let events = pair.server.take_gpadl_events();
    assert!(
        matches!(&events[..], [GpadlEvent::Created { relid: r, gpadl, ranges }]
            if *r == relid && *gpadl == early && ranges[0].pfns.len() == 1)
    );
    assert!(pair.server.take_gpadl_events().is_empty(), "taken once");

    // A data GPADL: created, then torn down at once.
    let pfns = pair.allocate_pages(3);
    let data = pair.client.create_gpadl(relid, 0, 3 * 4096, &pfns).unwrap();
    pair.pump();
    assert_eq!(pair.server.gpadl(data).unwrap().0, relid);
    assert_eq!(pair.server.gpadl(data).unwrap().1[0].pfns, pfns);
    pair.client.teardown_gpadl(data).unwrap();
    pair.pump();
    assert!(pair.server.gpadl(data).is_none());
    let events = pair.server.take_gpadl_events();
    assert_eq!(events.len(), 2);
    assert!(
        matches!(&events[0], GpadlEvent::Created { gpadl, ranges, .. } if *gpadl == data && ranges[0].pfns == pfns)
    );
    assert_eq!(events[1], GpadlEvent::Removed { relid, gpadl: data });

    // A ring GPADL torn down while in use goes at CLOSECHANNEL.
    let channel = pair.open_channel(relid, 2).unwrap();
    let events = pair.server.take_gpadl_events();
    assert!(matches!(&events[..], [GpadlEvent::Created { gpadl, .. }] if *gpadl == channel.gpadl));
    let teardown = encode::gpadl_teardown(relid, channel.gpadl);
    pair.server.on_guest_message(1, 1, &teardown).unwrap();
    assert!(pair.server.take_gpadl_events().is_empty(), "deferred");
    pair.server
        .on_guest_message(1, 1, &encode::close_channel(relid))
        .unwrap();
    assert_eq!(
        pair.server.take_gpadl_events(),
        vec![GpadlEvent::Removed {
            relid,
            gpadl: channel.gpadl
        }]
    );

    // UNLOAD forgets the rest.
    pair.server
        .on_guest_message(1, 1, &encode::unload())
        .unwrap();
    assert_eq!(
        pair.server.take_gpadl_events(),
        vec![GpadlEvent::Removed {
            relid,
            gpadl: early
        }]
    );
    assert_eq!(pair.server.gpadl_count(), 0);
}

#[test]
fn a_released_relid_is_offered_again_with_the_same_device() {
    let mut server = server(Version::WIN10_V5_3);
    connect(&mut server);
    // Not before it was rescinded and released.
    assert_eq!(server.reoffer(2), Err(ServerError::RelidInUse(2)));
    server.rescind(2).unwrap();
    let _ = messages(&mut server);
    assert_eq!(server.reoffer(2), Err(ServerError::RelidInUse(2)));
    server
        .on_guest_message(1, 1, &encode::relid_released(2))
        .unwrap();
    server.reoffer(2).unwrap();
    match &messages(&mut server)[..] {
        [ControlMessage::OfferChannel(offer)] => {
            assert_eq!(offer.child_relid.get(), 2);
            assert_eq!(offer.interface_type, class::DXG_VIRTUAL_GPU);
        }
        other => panic!("expected one offer, got {other:?}"),
    }
    assert!(!server.is_rescinded(2));
    // A relid the configuration never had cannot be offered.
    assert_eq!(server.reoffer(99), Err(ServerError::UnknownRelid(99)));
}

// Issue 14: what the host does when the guest restarts its drivers.

#[test]
fn unload_releases_every_channel_and_gpadl_and_a_new_contact_gets_every_offer_again() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let _channel = pair.open_channel(relid, 2).unwrap();
    let _ = pair.server.take_closed_channels();
    assert_eq!(
        (pair.server.open_channel_count(), pair.server.gpadl_count()),
        (1, 1)
    );
    pair.server
        .on_guest_message(1, 1, &encode::unload())
        .unwrap();
    assert_eq!(
        messages(&mut pair.server),
        vec![ControlMessage::UnloadResponse]
    );
    assert_eq!(pair.server.version(), None);
    assert_eq!(
        (pair.server.open_channel_count(), pair.server.gpadl_count()),
        (0, 0)
    );
    assert_eq!(pair.server.take_closed_channels(), vec![relid]);
    // Nothing but INITIATE_CONTACT is accepted now.
    assert_eq!(
        pair.server
            .on_guest_message(1, 1, &encode::request_offers()),
        Err(ServerError::Unexpected(MessageType::REQUEST_OFFERS))
    );
    connect_again_and_count_offers(&mut pair.server);
}

fn connect_again_and_count_offers<M: GuestMemory + Clone>(server: &mut Server<M>) {
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    server.on_guest_message(4, 1, &contact).unwrap();
    assert!(matches!(
        &messages_of(server)[..],
        [ControlMessage::VersionResponse { message, .. }] if message.version_supported == 1
    ));
    server
        .on_guest_message(1, 1, &encode::request_offers())
        .unwrap();
    let offers = messages_of(server);
    assert_eq!(offers.len(), 6, "five offers and ALLOFFERS_DELIVERED");
    assert_eq!(offers.last(), Some(&ControlMessage::AllOffersDelivered));
}

fn messages_of<M: GuestMemory + Clone>(server: &mut Server<M>) -> Vec<ControlMessage> {
    let mut out = Vec::new();
    while let Some(output) = server.poll_output() {
        if let ServerOutput::Message { payload, .. } = output {
            out.push(parse(&payload).unwrap());
        }
    }
    out
}

#[test]
fn initiate_contact_while_connected_ends_the_connection_even_when_its_version_is_refused() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let _channel = pair.open_channel(relid, 2).unwrap();
    let _ = pair.server.take_closed_channels();
    // 6.0 is beyond this host's 5.3: refused, but the old connection is gone all the same
    // (OpenVMM releases everything before it checks the version).
    let contact = encode::initiate_contact(0x0006_0000, 0, encode::target_info(2, 0, 0), 0, 0);
    pair.server.on_guest_message(4, 1, &contact).unwrap();
    assert!(matches!(
        &messages_of(&mut pair.server)[..],
        [ControlMessage::VersionResponse { message, .. }] if message.version_supported == 0
    ));
    assert_eq!(pair.server.version(), None);
    assert_eq!(
        (pair.server.open_channel_count(), pair.server.gpadl_count()),
        (0, 0)
    );
    assert_eq!(pair.server.take_closed_channels(), vec![relid]);
    connect_again_and_count_offers(&mut pair.server);
}

#[test]
fn a_host_below_3_0_answers_unload_but_refuses_a_reconnect() {
    let mut old = server(Version::WIN8);
    let contact = encode::initiate_contact(0x0002_0004, 0, 0, 0, 0);
    old.on_guest_message(1, 1, &contact).unwrap();
    assert!(matches!(
        &messages(&mut old)[..],
        [ControlMessage::VersionResponse { message, .. }] if message.version_supported == 1
    ));
    old.on_guest_message(1, 1, &encode::unload()).unwrap();
    assert_eq!(messages(&mut old), vec![ControlMessage::UnloadResponse]);
    old.on_guest_message(1, 1, &contact).unwrap();
    assert!(matches!(
        &messages(&mut old)[..],
        [ControlMessage::VersionResponse { message, .. }] if message.version_supported == 0
    ));
    assert_eq!(old.version(), None);
}

#[test]
fn a_closed_channel_opens_again_on_the_same_offer() {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 4 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let first = pair.open_channel(relid, 2).unwrap();
    pair.client.close_channel(relid).unwrap();
    pair.client.teardown_gpadl(first.gpadl).unwrap();
    pair.pump();
    assert!(!pair.server.is_open(relid));
    assert_eq!(pair.server.gpadl_count(), 0);
    assert_eq!(pair.server.take_closed_channels(), vec![relid]);
    let mut second = pair.open_channel(relid, 2).unwrap();
    assert!(pair.server.is_open(relid));
    let packet = vmbus::ring::OutgoingPacket::in_band(9, true, b"again");
    assert!(second.rings.sender.send(&packet).unwrap());
    pair.client.signal_channel(relid).unwrap();
    pair.pump();
    let mut buffer = Vec::new();
    let reply = second
        .rings
        .receiver
        .read_packet(&mut buffer)
        .unwrap()
        .unwrap();
    assert_eq!(reply.transaction_id, 9);
}

fn faulty_server(faults: &[&str]) -> Server<Arc<AtomicMemory>> {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.answer_faults = faults
        .iter()
        .map(|text| AnswerFault::parse(text).unwrap())
        .collect();
    Server::new(Arc::new(AtomicMemory::new(0, 1 << 20)), config)
}

#[test]
fn a_never_answered_message_is_never_sent() {
    let mut server = faulty_server(&["all-offers-delivered:never"]);
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    server.on_guest_message(4, 1, &contact).unwrap();
    server
        .on_guest_message(1, 1, &encode::request_offers())
        .unwrap();
    let sent = messages(&mut server);
    assert_eq!(sent.len(), 6, "the VERSION_RESPONSE and five offers");
    assert!(!sent.contains(&ControlMessage::AllOffersDelivered));
    server.advance_clock(Duration::from_secs(3600));
    assert!(messages(&mut server).is_empty());
    assert_eq!(server.answer_fault_counts(), (1, 0));
}

#[test]
fn a_late_answer_goes_out_once_its_time_has_come() {
    let mut server = faulty_server(&["unload-response:late=1500"]);
    connect(&mut server);
    server.advance_clock(Duration::from_secs(10));
    server.on_guest_message(1, 1, &encode::unload()).unwrap();
    assert!(messages(&mut server).is_empty(), "held");
    assert_eq!(server.held_answer_count(), 1);
    server.advance_clock(Duration::from_millis(11_499));
    assert!(messages(&mut server).is_empty(), "not yet due");
    server.advance_clock(Duration::from_millis(11_500));
    assert_eq!(messages(&mut server), vec![ControlMessage::UnloadResponse]);
    assert_eq!(server.held_answer_count(), 0);
}

#[test]
fn an_occurrence_picks_one_answer_of_the_kind() {
    // Only the second VERSION_RESPONSE is dropped: the first connection works, the second
    // contact is never answered.
    let mut server = faulty_server(&["version-response:never@2"]);
    connect(&mut server);
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    server.on_guest_message(4, 1, &contact).unwrap();
    assert!(messages(&mut server).is_empty());
    server.on_guest_message(4, 1, &contact).unwrap();
    assert_eq!(messages(&mut server).len(), 1, "the third is answered");
}

#[test]
fn an_onward_occurrence_drops_that_answer_and_every_later_one() {
    // The first connection is answered; the second contact and every later one are not.
    let mut server = faulty_server(&["version-response:never@2+"]);
    connect(&mut server);
    let contact = encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0);
    for _ in 0..3 {
        server.on_guest_message(4, 1, &contact).unwrap();
        assert!(messages(&mut server).is_empty());
    }
    assert_eq!(server.answer_fault_counts(), (3, 0));
}

#[test]
fn answer_faults_parse_the_runner_spelling() {
    assert_eq!(
        AnswerFault::parse("open-channel-result:never").unwrap(),
        AnswerFault {
            kind: AnswerKind::Control(MessageType::OPEN_CHANNEL_RESULT),
            timing: AnswerTiming::Never,
            occurrence: None,
            onward: false,
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg:late=250@3").unwrap(),
        AnswerFault {
            kind: AnswerKind::DxgCompletion,
            timing: AnswerTiming::Late(Duration::from_millis(250)),
            occurrence: Some(3),
            onward: false,
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg:never@7+").unwrap(),
        AnswerFault {
            kind: AnswerKind::DxgCompletion,
            timing: AnswerTiming::Never,
            occurrence: Some(7),
            onward: true,
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg-vgpu=0:never").unwrap().kind,
        AnswerKind::DxgCommand {
            global: false,
            command: 0
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg-global=1002:late=10@2").unwrap(),
        AnswerFault {
            kind: AnswerKind::DxgCommand {
                global: true,
                command: 1002
            },
            timing: AnswerTiming::Late(Duration::from_millis(10)),
            occurrence: Some(2),
            onward: false,
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg-vgpu=0:corrupt-ring@1").unwrap(),
        AnswerFault {
            kind: AnswerKind::DxgCommand {
                global: false,
                command: 0
            },
            timing: AnswerTiming::CorruptRing,
            occurrence: Some(1),
            onward: false,
        }
    );
    assert_eq!(
        AnswerFault::parse("dxg:corrupt-ring").unwrap().timing,
        AnswerTiming::CorruptRing
    );
    for bad in [
        // A control message has no ring of its own to corrupt.
        "offer:corrupt-ring",
        "dxg:corrupt-ring=1",
        "dxg-vgpu=:never",
        "dxg-vgpu=x:never",
        "dxg-other=1:never",
        "dxg",
        "dxg:soon",
        "nothing:never",
        "dxg:late=x",
        "dxg:never@0",
        "dxg:never@0+",
        "dxg:never@+",
    ] {
        assert!(AnswerFault::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_vm_reset_lets_a_host_below_3_0_accept_a_first_connection_again() {
    let mut old = server(Version::WIN8);
    let contact = encode::initiate_contact(0x0002_0004, 0, 0, 0, 0);
    old.on_guest_message(1, 1, &contact).unwrap();
    let _ = messages(&mut old);
    old.vm_reset();
    assert_eq!(old.version(), None);
    assert!(messages(&mut old).is_empty(), "a reset is not answered");
    old.on_guest_message(1, 1, &contact).unwrap();
    assert!(matches!(
        &messages(&mut old)[..],
        [ControlMessage::VersionResponse { message, .. }] if message.version_supported == 1
    ));
}

#[test]
fn a_command_fault_applies_to_that_command_only() {
    let fault = AnswerFault::parse("dxg-vgpu=0:never").unwrap();
    let mut faults = AnswerFaults::new(&[fault]);
    let create_device = AnswerKind::DxgCommand {
        global: false,
        command: 0,
    };
    let other_vgpu = AnswerKind::DxgCommand {
        global: false,
        command: 2,
    };
    let same_number_global = AnswerKind::DxgCommand {
        global: true,
        command: 0,
    };
    assert_eq!(faults.decide(other_vgpu), None);
    assert_eq!(faults.decide(same_number_global), None);
    assert_eq!(faults.decide(AnswerKind::DxgCompletion), None);
    assert_eq!(faults.decide(create_device), Some(AnswerTiming::Never));
    assert_eq!(faults.decide(create_device), Some(AnswerTiming::Never));
    assert_eq!(faults.dropped, 2);
}

#[test]
fn dxg_requests_are_tracked_by_command_with_and_without_the_extension_header() {
    use dxg::wire::{CommandHeader, D3dkmtHandle};
    use zerocopy::IntoBytes;
    let mut requests = BTreeMap::new();
    let header = CommandHeader::vgpu(0, D3dkmtHandle::NULL, false);
    track_dxg_request(
        &mut requests,
        (5, 1),
        vmbus::guid::class::DXG_VIRTUAL_GPU,
        header.as_bytes(),
    );
    let mut extended = vec![16u8, 0, 0, 0];
    extended.resize(16, 0);
    extended.extend_from_slice(CommandHeader::global(1002, D3dkmtHandle::NULL).as_bytes());
    track_dxg_request(
        &mut requests,
        (6, 2),
        vmbus::guid::class::DXG_GLOBAL,
        &extended,
    );
    // Not a dxg channel, and a message too short to carry a header: not tracked.
    track_dxg_request(
        &mut requests,
        (7, 3),
        vmbus::Guid::default(),
        header.as_bytes(),
    );
    track_dxg_request(
        &mut requests,
        (5, 4),
        vmbus::guid::class::DXG_VIRTUAL_GPU,
        &[0; 8],
    );
    assert_eq!(
        requests.into_iter().collect::<Vec<_>>(),
        vec![((5, 1), (false, 0)), ((6, 2), (true, 1002))]
    );
}
