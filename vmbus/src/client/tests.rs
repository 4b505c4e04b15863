//! Client tests against a scripted host (raw messages in, actions out).

use super::*;
use crate::guid::class;
use crate::messages::{MessageType, encode::OfferFields};
use alloc::vec;

fn connected_client(max: Version) -> Client {
    let mut client = Client::new(ClientConfig {
        max_version: max,
        ..ClientConfig::default()
    });
    client.connect().unwrap();
    let _ = client.drain_actions().count();
    client
        .on_message(&encode::version_response(true, 0, 1))
        .unwrap();
    let _ = client.drain_actions().count();
    client
}

fn posts(client: &mut Client) -> Vec<(u32, MessageType, Vec<u8>)> {
    client
        .drain_actions()
        .filter_map(|action| match action {
            Action::PostMessage {
                connection_id,
                message_type,
                payload,
            } => {
                assert_eq!(message_type, 1);
                let kind = MessageType(u32::from_le_bytes([
                    payload[0], payload[1], payload[2], payload[3],
                ]));
                Some((connection_id, kind, payload))
            }
            _ => None,
        })
        .collect()
}

fn events(client: &mut Client) -> Vec<(Option<SubscriberId>, ClientEvent)> {
    client
        .drain_actions()
        .filter_map(|action| match action {
            Action::Event { subscriber, event } => Some((subscriber, event)),
            _ => None,
        })
        .collect()
}

fn offer(relid: u32, class: Guid) -> Vec<u8> {
    encode::offer_channel(&OfferFields {
        interface_type: class,
        interface_instance: Guid {
            bytes: [relid as u8; 16],
        },
        flags: 0,
        mmio_megabytes: 0,
        user_defined: [0; 120],
        sub_channel_index: 0,
        child_relid: relid,
        monitor_id: 0xFF,
        monitor_allocated: false,
        is_dedicated_interrupt: true,
        connection_id: 0x100 + relid,
    })
}

#[test]
fn version_walk_uses_the_connection_id_rules() {
    let mut client = Client::new(ClientConfig::default());
    client.connect().unwrap();
    let sent = posts(&mut client);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, sent[0].1), (4, MessageType::INITIATE_CONTACT));
    assert_eq!(&sent[0].2[8..12], &0x0005_0003u32.to_le_bytes());
    assert_eq!(sent[0].2[16], 2, "message SINT 2 for >= 5.0");
    // Refusals walk down: 5.2, 5.1, 5.0 on id 4, then 4.1 on id 1.
    for (version, connection_id) in [
        (0x0005_0002u32, 4),
        (0x0005_0001, 4),
        (0x0005_0000, 4),
        (0x0004_0001, 1),
    ] {
        client
            .on_message(&encode::version_response(false, 0, 0))
            .unwrap();
        let sent = posts(&mut client);
        assert_eq!(sent[0].0, connection_id);
        assert_eq!(&sent[0].2[8..12], &version.to_le_bytes());
    }
    // Accepted at 4.1: later messages go to id 1 whatever the response says.
    client
        .on_message(&encode::version_response(true, 0, 77))
        .unwrap();
    assert_eq!(
        events(&mut client),
        vec![(
            None,
            ClientEvent::Connected {
                version: Version::WIN10_V4_1
            }
        )]
    );
    client.request_offers().unwrap();
    assert_eq!(posts(&mut client)[0].0, 1);
}

/// INITIATE_CONTACT as the client sends it, byte for byte, written from Linux's
/// `struct vmbus_channel_initiate_contact` (torvalds/linux include/linux/hyperv.h): header
/// (type u32, padding u32), `vmbus_version_requested` u32, `target_vcpu` u32, then a u64 union
/// (below 5.0 `interrupt_page`; from 5.0 `msg_sint` u8, `msg_vtl` u8, `reserved[2]`,
/// `feature_flags` u32), `monitor_page1` u64, `monitor_page2` u64: 40 bytes. Linux, Windows and
/// FreeBSD always fill both monitor pages.
#[test]
fn initiate_contact_carries_both_monitor_pages() {
    let mut client = Client::new(ClientConfig {
        target_vp: 3,
        monitor_pages: (0x0012_3000, 0x0045_6000),
        interrupt_page: 0x0007_8000,
        ..ClientConfig::default()
    });
    client.connect().unwrap();
    let sent = posts(&mut client);
    let expected: [u8; 40] = [
        0x0E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // CHANNELMSG_INITIATE_CONTACT, padding
        0x03, 0x00, 0x05, 0x00, // version 5.3
        0x03, 0x00, 0x00, 0x00, // target_vcpu 3
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // msg_sint 2, msg_vtl 0, features 0
        0x00, 0x30, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, // monitor_page1
        0x00, 0x60, 0x45, 0x00, 0x00, 0x00, 0x00, 0x00, // monitor_page2
    ];
    assert_eq!(sent[0].2, expected);
    // Below 5.0 the union is the interrupt page; the monitor pages are the same.
    client
        .on_post_message_failed(&sent[0].2, PostFailure::ConnectionIdRefused)
        .unwrap();
    let _ = posts(&mut client);
    for _ in 0..3 {
        client
            .on_message(&encode::version_response(false, 0, 0))
            .unwrap();
        let _ = posts(&mut client);
    }
    client
        .on_message(&encode::version_response(false, 0, 0))
        .unwrap();
    let sent = posts(&mut client);
    let expected_4_0: [u8; 40] = [
        0x0E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header
        0x00, 0x00, 0x04, 0x00, // version 4.0
        0x03, 0x00, 0x00, 0x00, // target_vcpu 3
        0x00, 0x80, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, // interrupt_page
        0x00, 0x30, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, // monitor_page1
        0x00, 0x60, 0x45, 0x00, 0x00, 0x00, 0x00, 0x00, // monitor_page2
    ];
    assert_eq!(sent[0].2, expected_4_0);
}

#[test]
fn message_connection_id_comes_from_the_response_at_5_0_and_above() {
    let mut client = Client::new(ClientConfig::default());
    client.connect().unwrap();
    client
        .on_message(&encode::version_response(true, 0, 9))
        .unwrap();
    let _ = client.drain_actions().count();
    client.request_offers().unwrap();
    assert_eq!(posts(&mut client)[0].0, 9);
    assert_eq!(
        client.request_offers(),
        Err(ClientError::OffersAlreadyRequested)
    );
}

#[test]
fn a_refused_connection_id_moves_to_the_next_older_version_down_to_4_1_on_id_1() {
    let mut client = Client::new(ClientConfig {
        interrupt_page: 0x5000,
        monitor_pages: (0x6000, 0x7000),
        ..ClientConfig::default()
    });
    client.connect().unwrap();
    let mut sent = posts(&mut client);
    // A host without connection id 4 refuses every >= 5.0 proposal's post.
    for version in [0x0005_0002u32, 0x0005_0001, 0x0005_0000, 0x0004_0001] {
        assert_eq!(sent.len(), 1);
        client
            .on_post_message_failed(&sent[0].2, PostFailure::ConnectionIdRefused)
            .unwrap();
        sent = posts(&mut client);
        assert_eq!(&sent[0].2[8..12], &version.to_le_bytes());
    }
    assert_eq!(sent[0].0, 1, "4.1 goes to connection id 1");
    assert_eq!(
        &sent[0].2[16..24],
        &0x5000u64.to_le_bytes(),
        "interrupt page below 5.0"
    );
    assert_eq!(
        &sent[0].2[24..40],
        &[0x00, 0x60, 0, 0, 0, 0, 0, 0, 0x00, 0x70, 0, 0, 0, 0, 0, 0]
    );
    client
        .on_message(&encode::version_response(true, 0, 0))
        .unwrap();
    assert_eq!(client.version(), Some(Version::WIN10_V4_1));
    // A stale failure report for an earlier proposal changes nothing.
    let stale = encode::initiate_contact(0x0005_0003, 0, 0, 0, 0);
    client
        .on_post_message_failed(&stale, PostFailure::ConnectionIdRefused)
        .unwrap();
    assert!(client.is_connected());
}

#[test]
fn failed_posts_fail_the_request_that_waits() {
    use hyperv::status::HvError;
    let failure = PostFailure::RetriesExhausted {
        error: HvError::InsufficientBuffers,
        attempts: 20,
    };
    let mut client = connected_client(Version::WIN10_V5_3);
    client.subscribe(class::SCSI, SubscriberId(3));
    client.on_message(&offer(6, class::SCSI)).unwrap();
    let _ = client.drain_actions().count();
    // A GPADL of 40 pages: header + one body. The header fails: the body is not sent.
    let pfns: Vec<u64> = (100..140).collect();
    let gpadl = client.create_gpadl(6, 0, 40 * 4096, &pfns).unwrap();
    let header = client.poll_action().unwrap();
    let Action::PostMessage { payload, .. } = header else {
        panic!("expected the header post, got {header:?}");
    };
    client.on_post_message_failed(&payload, failure).unwrap();
    assert_eq!(
        events(&mut client),
        vec![(
            Some(SubscriberId(3)),
            ClientEvent::GpadlCreated {
                relid: 6,
                gpadl,
                result: Err(GpadlCreateError::PostFailed(failure)),
            }
        )]
    );
    assert!(posts(&mut client).is_empty(), "the body was dropped");
    assert_eq!(client.gpadl_state(gpadl), None);
    // OPENCHANNEL fails: the channel is closed again and the opener is told.
    let ring = open(&mut client, 6);
    let open_payload = encode::open_channel(6, 6, ring, 0, 2, &[0; 120]);
    client
        .on_post_message_failed(&open_payload, PostFailure::Refused(HvError::AccessDenied))
        .unwrap();
    assert_eq!(
        events(&mut client),
        vec![(
            Some(SubscriberId(3)),
            ClientEvent::ChannelOpened {
                relid: 6,
                result: Err(OpenError::PostFailed(PostFailure::Refused(
                    HvError::AccessDenied
                ))),
            }
        )]
    );
    assert_eq!(client.channel_state(6), Some(ChannelState::Offered));
    // GPADL_TEARDOWN fails: the GPADL is usable (and can be torn down) again.
    client.teardown_gpadl(ring).unwrap();
    let teardown = posts(&mut client).pop().unwrap().2;
    client.on_post_message_failed(&teardown, failure).unwrap();
    assert_eq!(client.gpadl_state(ring), Some(GpadlState::Created));
    assert_eq!(
        events(&mut client),
        vec![(
            Some(SubscriberId(3)),
            ClientEvent::PostFailed {
                relid: Some(6),
                message_type: MessageType::GPADL_TEARDOWN,
                failure,
            }
        )]
    );
    // REQUESTOFFERS goes to the bus; garbage is refused.
    client
        .on_post_message_failed(&encode::request_offers(), failure)
        .unwrap();
    assert!(matches!(
        events(&mut client)[..],
        [(None, ClientEvent::PostFailed { relid: None, .. })]
    ));
    assert!(matches!(
        client.on_post_message_failed(&[1], failure),
        Err(ClientError::Parse(_))
    ));
}

#[test]
fn a_failed_unload_post_still_ends_the_connection() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.unload().unwrap();
    let unload = posts(&mut client).pop().unwrap().2;
    client
        .on_post_message_failed(&unload, PostFailure::ConnectionIdRefused)
        .unwrap();
    assert_eq!(events(&mut client), vec![(None, ClientEvent::Unloaded)]);
}

#[test]
fn every_refusal_ends_in_connect_failed() {
    let mut client = Client::new(ClientConfig::default());
    client.connect().unwrap();
    for _ in 0..SUPPORTED_VERSIONS.len() {
        let _ = client.drain_actions().count();
        client
            .on_message(&encode::version_response(false, 0, 0))
            .unwrap();
    }
    assert_eq!(
        events(&mut client),
        vec![(None, ClientEvent::ConnectFailed)]
    );
    assert!(!client.is_connected());
    assert_eq!(client.request_offers(), Err(ClientError::NotConnected));
}

#[test]
fn offers_are_routed_to_subscribers() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.subscribe(class::DXG_GLOBAL, SubscriberId(1));
    client.request_offers().unwrap();
    let _ = client.drain_actions().count();
    client.on_message(&offer(1, class::DXG_GLOBAL)).unwrap();
    client.on_message(&offer(2, class::VIRTUAL_PCI)).unwrap();
    client.on_message(&encode::all_offers_delivered()).unwrap();
    let got = events(&mut client);
    assert!(
        matches!(&got[0], (Some(SubscriberId(1)), ClientEvent::OfferArrived(o)) if o.relid == 1 && o.connection_id == 0x101)
    );
    assert!(
        matches!(&got[1], (None, ClientEvent::OfferArrived(o)) if o.class == class::VIRTUAL_PCI)
    );
    assert_eq!(got[2], (None, ClientEvent::AllOffersDelivered));
    // A late subscriber gets the existing offer at once.
    client.subscribe(class::VIRTUAL_PCI, SubscriberId(2));
    assert!(
        matches!(&events(&mut client)[0], (Some(SubscriberId(2)), ClientEvent::OfferArrived(o)) if o.relid == 2)
    );
    // Hostile offers: duplicate and out-of-range relids.
    assert_eq!(
        client.on_message(&offer(1, class::SCSI)),
        Err(ClientError::DuplicateRelid(1))
    );
    assert_eq!(
        client.on_message(&offer(0, class::SCSI)),
        Err(ClientError::InvalidRelid(0))
    );
    assert_eq!(
        client.on_message(&offer(2048, class::SCSI)),
        Err(ClientError::InvalidRelid(2048))
    );
    assert_eq!(client.offers().count(), 2);
}

fn open(client: &mut Client, relid: u32) -> u32 {
    let gpadl = client
        .create_gpadl(relid, 0, 4 * 4096, &[10, 11, 12, 13])
        .unwrap();
    let sent = posts(client);
    assert_eq!(sent[0].1, MessageType::GPADL_HEADER);
    client
        .on_message(&encode::gpadl_created(relid, gpadl, 0))
        .unwrap();
    let request = OpenRequest {
        ring_gpadl: gpadl,
        downstream_page_offset: 2,
        target_vp: 0,
        user_data: [0; 120],
    };
    client.open_channel(relid, &request).unwrap();
    let sent = posts(client);
    assert_eq!(sent[0].1, MessageType::OPEN_CHANNEL);
    gpadl
}

#[test]
fn gpadl_open_close_teardown() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client
        .on_message(&offer(3, class::DXG_VIRTUAL_GPU))
        .unwrap();
    let _ = client.drain_actions().count();
    let gpadl = open(&mut client, 3);
    assert_eq!(
        client.channel_state(3),
        Some(ChannelState::Opening { open_id: 3 })
    );
    // Not open yet: not signalled.
    assert_eq!(client.signal_channel(3), Err(ClientError::ChannelBusy(3)));
    assert_eq!(client.poll_action(), None);
    // Wrong open id, then the right one.
    assert_eq!(
        client.on_message(&encode::open_channel_result(3, 99, 0)),
        Err(ClientError::Mismatch {
            expected: 3,
            found: 99
        })
    );
    client
        .on_message(&encode::open_channel_result(3, 3, 0))
        .unwrap();
    let got = events(&mut client);
    assert!(got.iter().any(|(_, event)| *event
        == ClientEvent::ChannelOpened {
            relid: 3,
            result: Ok(())
        }));
    client.on_channel_signal(3).unwrap();
    assert_eq!(
        events(&mut client),
        vec![(None, ClientEvent::ChannelSignalled { relid: 3 })]
    );
    client.signal_channel(3).unwrap();
    assert_eq!(
        client.poll_action(),
        Some(Action::SignalEvent {
            connection_id: 0x103
        })
    );
    assert_eq!(client.teardown_gpadl(gpadl).map(|_| ()), Ok(()));
    let _ = client.drain_actions().count();
    client.close_channel(3).unwrap();
    assert_eq!(posts(&mut client)[0].1, MessageType::CLOSE_CHANNEL);
    // A closed channel is not signalled: an error, and no HvSignalEvent.
    assert_eq!(client.signal_channel(3), Err(ClientError::ChannelBusy(3)));
    assert_eq!(client.poll_action(), None);
    client.on_message(&encode::gpadl_torndown(gpadl)).unwrap();
    assert_eq!(
        events(&mut client),
        vec![(None, ClientEvent::GpadlTornDown { relid: 3, gpadl })]
    );
    assert_eq!(
        client.on_message(&encode::gpadl_torndown(gpadl)),
        Err(ClientError::UnknownGpadl(gpadl))
    );
}

#[test]
fn failed_gpadl_and_failed_open_are_reported() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.on_message(&offer(4, class::SCSI)).unwrap();
    let gpadl = client.create_gpadl(4, 0, 4096, &[1]).unwrap();
    let _ = client.drain_actions().count();
    assert_eq!(
        client.on_message(&encode::gpadl_created(5, gpadl, 0)),
        Err(ClientError::Mismatch {
            expected: 4,
            found: 5
        })
    );
    client
        .on_message(&encode::gpadl_created(4, gpadl, 0x8000_FFFF))
        .unwrap();
    assert!(events(&mut client).iter().any(|(_, event)| matches!(
        event,
        ClientEvent::GpadlCreated {
            result: Err(GpadlCreateError::Status(0x8000_FFFF)),
            ..
        }
    )));
    let request = OpenRequest {
        ring_gpadl: gpadl,
        downstream_page_offset: 2,
        target_vp: 0,
        user_data: [0; 120],
    };
    assert_eq!(
        client.open_channel(4, &request),
        Err(ClientError::UnknownGpadl(gpadl))
    );
    let gpadl = open(&mut client, 4);
    client
        .on_message(&encode::open_channel_result(4, 4, 1))
        .unwrap();
    assert!(events(&mut client).iter().any(|(_, event)| *event
        == ClientEvent::ChannelOpened {
            relid: 4,
            result: Err(OpenError::Status(1))
        }));
    assert_eq!(client.channel_state(4), Some(ChannelState::Offered));
    assert_eq!(client.gpadl_state(gpadl), Some(GpadlState::Created));
}

#[test]
fn rescind_during_open_fails_the_open_and_releases_the_relid() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.subscribe(class::DXG_GLOBAL, SubscriberId(7));
    client.on_message(&offer(5, class::DXG_GLOBAL)).unwrap();
    let _ = client.drain_actions().count();
    let gpadl = open(&mut client, 5);
    client
        .on_message(&encode::rescind_channel_offer(5))
        .unwrap();
    let got = events(&mut client);
    assert_eq!(
        got[0],
        (
            Some(SubscriberId(7)),
            ClientEvent::ChannelOpened {
                relid: 5,
                result: Err(OpenError::Rescinded)
            }
        )
    );
    assert_eq!(
        got[1],
        (
            Some(SubscriberId(7)),
            ClientEvent::OfferRescinded { relid: 5 }
        )
    );
    // A late result is rejected; requests on the rescinded channel too.
    assert!(
        client
            .on_message(&encode::open_channel_result(5, 5, 0))
            .is_err()
    );
    assert_eq!(
        client.create_gpadl(5, 0, 4096, &[1]),
        Err(ClientError::Rescinded(5))
    );
    // Teardown completes at once and RELID_RELEASED follows; a late TORNDOWN is absorbed.
    client.teardown_gpadl(gpadl).unwrap();
    let actions: Vec<Action> = client.drain_actions().collect();
    let kinds: Vec<u32> = actions
        .iter()
        .filter_map(|action| match action {
            Action::PostMessage { payload, .. } => Some(u32::from(payload[0])),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![11, 13]);
    client.on_message(&encode::gpadl_torndown(gpadl)).unwrap();
    assert!(client.offer(5).is_none());
    // The relid may be offered again.
    client.on_message(&offer(5, class::DXG_GLOBAL)).unwrap();
}

#[test]
fn the_relid_limit_is_a_high_water_mark_of_the_offers() {
    let mut client = connected_client(Version::WIN10_V5_3);
    assert_eq!(client.relid_limit(), 0);
    client.on_message(&offer(70, class::SCSI)).unwrap();
    client.on_message(&offer(5, class::DXG_GLOBAL)).unwrap();
    assert_eq!(client.relid_limit(), 71);
    // Releasing the highest relid keeps the limit: a flag the host left set for relid 70 is
    // still scanned (and found to concern no channel).
    client
        .on_message(&encode::rescind_channel_offer(70))
        .unwrap();
    let _ = posts(&mut client);
    assert!(client.offer(70).is_none());
    assert_eq!(client.relid_limit(), 71);
    assert_eq!(
        client.on_channel_signal(70),
        Err(ClientError::UnknownRelid(70))
    );
}

#[test]
fn rescind_of_an_idle_offer_releases_at_once() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.on_message(&offer(6, class::SCSI)).unwrap();
    let _ = client.drain_actions().count();
    client
        .on_message(&encode::rescind_channel_offer(6))
        .unwrap();
    let sent = posts(&mut client);
    assert_eq!(sent[0].2, encode::relid_released(6));
    assert_eq!(
        client.on_message(&encode::rescind_channel_offer(6)),
        Err(ClientError::UnknownRelid(6))
    );
}

#[test]
fn rescind_of_an_open_channel_waits_for_close_and_teardown() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.on_message(&offer(8, class::SCSI)).unwrap();
    let _ = client.drain_actions().count();
    let gpadl = open(&mut client, 8);
    client
        .on_message(&encode::open_channel_result(8, 8, 0))
        .unwrap();
    client
        .on_message(&encode::rescind_channel_offer(8))
        .unwrap();
    assert!(posts(&mut client).is_empty(), "nothing released while open");
    client.close_channel(8).unwrap();
    assert_eq!(posts(&mut client).len(), 1);
    client.teardown_gpadl(gpadl).unwrap();
    let sent = posts(&mut client);
    assert_eq!(sent.last().unwrap().2, encode::relid_released(8));
}

#[test]
fn unload_resets_the_connection() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.on_message(&offer(1, class::SCSI)).unwrap();
    client.unload().unwrap();
    assert_eq!(posts(&mut client).last().unwrap().2, encode::unload());
    client.on_message(&encode::unload_response()).unwrap();
    assert_eq!(
        events(&mut client),
        vec![
            (
                None,
                ClientEvent::ChannelReset {
                    relid: 1,
                    memory_released: true
                }
            ),
            (None, ClientEvent::Unloaded)
        ]
    );
    assert_eq!(client.offers().count(), 0);
    client.connect().unwrap();
}

#[test]
fn restart_unloads_then_connects_again_with_fresh_state() {
    let mut client = connected_client(Version::WIN10_V5_3);
    let subscriber = SubscriberId(7);
    client.subscribe(class::SCSI, subscriber);
    client.request_offers().unwrap();
    client.on_message(&offer(1, class::SCSI)).unwrap();
    client.on_message(&encode::all_offers_delivered()).unwrap();
    let _ = client.drain_actions().count();
    client.restart().unwrap();
    assert_eq!(
        posts(&mut client),
        vec![(1, MessageType::UNLOAD, encode::unload())]
    );
    assert!(!client.is_connected(), "no requests while unloading");
    client.on_message(&encode::unload_response()).unwrap();
    let actions: Vec<Action> = client.drain_actions().collect();
    assert_eq!(
        actions[..2],
        [
            Action::Event {
                subscriber: Some(subscriber),
                event: ClientEvent::ChannelReset {
                    relid: 1,
                    memory_released: true
                }
            },
            Action::Event {
                subscriber: None,
                event: ClientEvent::Unloaded
            },
        ]
    );
    let Action::PostMessage {
        connection_id,
        payload,
        ..
    } = &actions[2]
    else {
        panic!("expected INITIATE_CONTACT, got {:?}", actions[2]);
    };
    assert_eq!(*connection_id, 4);
    assert_eq!(
        &payload[..4],
        &MessageType::INITIATE_CONTACT.0.to_le_bytes()
    );
    assert_eq!(actions.len(), 3);
    assert_eq!(client.channel_state(1), None, "every channel invalidated");
    // The new connection: offers come again to the same subscriber.
    client
        .on_message(&encode::version_response(true, 0, 1))
        .unwrap();
    client.request_offers().unwrap();
    client.on_message(&offer(1, class::SCSI)).unwrap();
    assert!(
        events(&mut client)
            .iter()
            .any(|(to, event)| *to == Some(subscriber)
                && matches!(event, ClientEvent::OfferArrived(offer) if offer.relid == 1))
    );
}

#[test]
fn below_3_0_a_restart_is_refused_and_the_connection_stays() {
    let mut old = connected_client(Version::WIN8);
    assert_eq!(
        old.restart(),
        Err(ClientError::RestartUnsupported {
            version: Version::WIN8
        })
    );
    assert!(old.is_connected());
    assert_eq!(old.drain_actions().count(), 0);
    let mut fresh = Client::new(ClientConfig::default());
    assert_eq!(
        fresh.restart_after(PreviousConnection {
            version: Version::WIN7,
            message_connection_id: 1
        }),
        Err(ClientError::RestartUnsupported {
            version: Version::WIN7
        })
    );
    assert_eq!(
        Client::new(ClientConfig::default()).restart(),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn a_fresh_client_ends_the_previous_connection_before_it_connects() {
    let previous = connected_client(Version::WIN10_V5_3)
        .previous_connection()
        .unwrap();
    assert_eq!(previous.version, Version::WIN10_V5_3);
    let mut client = Client::new(ClientConfig::default());
    client.restart_after(previous).unwrap();
    assert_eq!(
        posts(&mut client),
        vec![(1, MessageType::UNLOAD, encode::unload())]
    );
    client.on_message(&encode::unload_response()).unwrap();
    let sent = posts(&mut client);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, sent[0].1), (4, MessageType::INITIATE_CONTACT));
}

#[test]
fn a_restart_whose_unload_cannot_be_posted_stays_down() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client.restart().unwrap();
    let unload = posts(&mut client).pop().unwrap().2;
    client
        .on_post_message_failed(&unload, PostFailure::ConnectionIdRefused)
        .unwrap();
    assert_eq!(events(&mut client), vec![(None, ClientEvent::Unloaded)]);
    assert!(posts(&mut client).is_empty(), "no INITIATE_CONTACT");
    assert_eq!(client.version(), None);
}

#[test]
fn below_3_0_no_unload_is_sent_and_a_late_answer_is_ignored() {
    let mut old = connected_client(Version::WIN8);
    old.unload().unwrap();
    let actions: Vec<Action> = old.drain_actions().collect();
    assert_eq!(
        actions,
        vec![Action::Event {
            subscriber: None,
            event: ClientEvent::Unloaded
        }],
        "no UNLOAD is sent below 3.0 (Linux vmbus_initiate_unload)"
    );
    // A host that answers anyway: ignored, not an error, nothing happens.
    assert_eq!(old.on_message(&encode::unload_response()), Ok(()));
    assert_eq!(old.drain_actions().count(), 0);
    // The same for an unsolicited answer on a live connection.
    let mut client = connected_client(Version::WIN10_V5_3);
    assert_eq!(client.on_message(&encode::unload_response()), Ok(()));
    assert!(client.is_connected());
}

#[test]
fn hostile_and_out_of_state_messages_are_rejected() {
    let mut client = Client::new(ClientConfig::default());
    assert!(matches!(
        client.on_message(&[1, 2, 3]),
        Err(ClientError::Parse(_))
    ));
    assert_eq!(
        client.on_message(&offer(1, class::SCSI)),
        Err(ClientError::UnexpectedMessage(MessageType::OFFER_CHANNEL))
    );
    assert_eq!(
        client.on_message(&encode::version_response(true, 0, 1)),
        Err(ClientError::UnexpectedMessage(
            MessageType::VERSION_RESPONSE
        ))
    );
    let mut client = connected_client(Version::WIN10_V5_3);
    for message in [
        encode::request_offers(),
        encode::unload(),
        encode::close_channel(1),
        encode::all_offers_delivered(),
    ] {
        assert!(matches!(
            client.on_message(&message),
            Err(ClientError::UnexpectedMessage(_))
        ));
    }
    assert_eq!(
        client.on_message(&encode::gpadl_created(1, 1, 0)),
        Err(ClientError::UnknownGpadl(1))
    );
    assert_eq!(
        client.on_message(&encode::open_channel_result(1, 1, 0)),
        Err(ClientError::UnknownRelid(1))
    );
    assert_eq!(
        client.on_channel_signal(9),
        Err(ClientError::UnknownRelid(9))
    );
    // Every byte pattern of a short fuzz sweep is handled without a panic.
    for seed in 0..2000u32 {
        let length = (seed % 241) as usize;
        let bytes: Vec<u8> = (0..length)
            .map(|index| (seed.wrapping_mul(2654435761) >> (index % 24)) as u8)
            .collect();
        let mut bytes = bytes;
        if length >= 4 {
            bytes[0] = (seed % 31) as u8;
            bytes[1..4].fill(0);
        }
        let _ = client.on_message(&bytes);
    }
}

#[test]
fn a_reserved_message_connection_id_fails_the_connection() {
    for bad in [0u32, 0xFFFF_FFFF, 0x0100_0001] {
        let mut client = Client::new(ClientConfig::default());
        client.connect().unwrap();
        let _ = client.drain_actions().count();
        assert_eq!(
            client.on_message(&encode::version_response(true, 0, bad)),
            Err(ClientError::InvalidMessageConnectionId(bad))
        );
        assert!(!client.is_connected(), "id {bad:#x} accepted");
        assert_eq!(
            client.message_connection_id(),
            Err(ClientError::NotConnected)
        );
        let events = events(&mut client);
        assert!(
            events
                .iter()
                .any(|(_, event)| *event == ClientEvent::ConnectFailed),
            "id {bad:#x}: {events:?}"
        );
        // Nothing can be posted to it afterwards.
        assert_eq!(client.request_offers(), Err(ClientError::NotConnected));
        assert!(posts(&mut client).is_empty());
    }
    // The highest 24-bit id is a real one.
    let mut client = Client::new(ClientConfig::default());
    client.connect().unwrap();
    let _ = client.drain_actions().count();
    client
        .on_message(&encode::version_response(true, 0, 0x00FF_FFFF))
        .unwrap();
    assert_eq!(client.message_connection_id(), Ok(0x00FF_FFFF));
}

#[test]
fn the_ring_gpadl_is_not_torn_down_while_its_open_is_in_flight() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client
        .on_message(&offer(3, class::DXG_VIRTUAL_GPU))
        .unwrap();
    let _ = client.drain_actions().count();
    let gpadl = open(&mut client, 3);
    assert_eq!(
        client.teardown_gpadl(gpadl),
        Err(ClientError::OpenInFlight { relid: 3, gpadl })
    );
    assert!(posts(&mut client).is_empty(), "no GPADL_TEARDOWN");
    assert_eq!(client.gpadl_state(gpadl), Some(GpadlState::Created));
    // Once the host answered (here: refused) the open, the teardown goes out.
    client
        .on_message(&encode::open_channel_result(3, 3, 0xC000_0001))
        .unwrap();
    let _ = client.drain_actions().count();
    client.teardown_gpadl(gpadl).unwrap();
    let sent = posts(&mut client);
    assert_eq!(sent[0].1, MessageType::GPADL_TEARDOWN);
}

#[test]
fn a_rescind_ends_the_open_in_flight_and_frees_the_ring_gpadl_for_teardown() {
    let mut client = connected_client(Version::WIN10_V5_3);
    client
        .on_message(&offer(3, class::DXG_VIRTUAL_GPU))
        .unwrap();
    let _ = client.drain_actions().count();
    let gpadl = open(&mut client, 3);
    client
        .on_message(&encode::rescind_channel_offer(3))
        .unwrap();
    let _ = client.drain_actions().count();
    assert_eq!(client.teardown_gpadl(gpadl), Ok(()));
}
