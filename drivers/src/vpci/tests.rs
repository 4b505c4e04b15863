//! vPCI client tests. Byte vectors are written by hand from vpci.md §10.3 and the tables of
//! §2, never derived from the structs in `wire`.

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use hyperv::platform::{MmioAccess, PlatformError};
use std::collections::BTreeMap;
use vmbus::ring::PacketType;

const WINDOW: u64 = 0x0000_0010_0000_0000;

/// The full packet (descriptor + padded payload) a message becomes, built by hand: type 6,
/// offset8 2, len8, flags bit 0 = completion requested, transaction id.
fn packet_bytes(message: &OutboundMessage) -> Vec<u8> {
    let padded = message.payload.len().next_multiple_of(8);
    let len8 = ((16 + padded) / 8) as u16;
    let mut bytes = vec![0x06, 0x00, 0x02, 0x00];
    bytes.extend_from_slice(&len8.to_le_bytes());
    bytes.extend_from_slice(&[u8::from(message.completion_requested), 0x00]);
    bytes.extend_from_slice(&message.transaction_id.to_le_bytes());
    bytes.extend_from_slice(&message.payload);
    bytes.resize(16 + padded, 0);
    bytes
}

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

/// Splits a whole host packet (as in §10.3) into what `receive` takes.
fn host_packet(bytes: &[u8]) -> (PacketType, u64, Vec<u8>) {
    let packet_type = PacketType(u16::from_le_bytes([bytes[0], bytes[1]]));
    let offset = usize::from(u16::from_le_bytes([bytes[2], bytes[3]])) * 8;
    let length = usize::from(u16::from_le_bytes([bytes[4], bytes[5]])) * 8;
    let id = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
    (packet_type, id, bytes[offset..length].to_vec())
}

fn feed(client: &mut VpciClient, bytes: &[u8]) -> Result<(), VpciError> {
    let (packet_type, id, payload) = host_packet(bytes);
    client.receive(packet_type, id, &payload)
}

fn drain(client: &mut VpciClient) -> Vec<Action> {
    core::iter::from_fn(|| client.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<OutboundMessage> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send(message) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn only_send(client: &mut VpciClient) -> OutboundMessage {
    let actions = drain(client);
    assert_eq!(actions.len(), 1, "{actions:?}");
    match &actions[0] {
        Action::Send(message) => message.clone(),
        other => panic!("expected a send, got {other:?}"),
    }
}

fn completion(id: u64, payload: &[u8]) -> Vec<u8> {
    let padded = payload.len().next_multiple_of(8);
    let len8 = ((16 + padded) / 8) as u16;
    let mut bytes = vec![0x0B, 0x00, 0x02, 0x00];
    bytes.extend_from_slice(&len8.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes.resize(16 + padded, 0);
    bytes
}

fn in_band(payload: &[u8]) -> Vec<u8> {
    let padded = payload.len().next_multiple_of(8);
    let len8 = ((16 + padded) / 8) as u16;
    let mut bytes = vec![0x06, 0x00, 0x02, 0x00];
    bytes.extend_from_slice(&len8.to_le_bytes());
    bytes.extend_from_slice(&[0; 10]);
    bytes.extend_from_slice(payload);
    bytes.resize(16 + padded, 0);
    bytes
}

/// §10.3 C: BUS_RELATIONS2, 1414:008E at slot 0, class 03/02/00, serial 0x12345678.
const VECTOR_C: &str = "06 00 02 00 07 00 00 00  00 00 00 00 00 00 00 00
    19 00 49 42  01 00 00 00
    14 14 8E 00  00 00 02 03
    00 00 00 00  00 00 00 00
    78 56 34 12  00 00 00 00
    00 00 00 00  00 00 00 00";

/// A v1 BUS_RELATIONS (§2.5, §2.3) with one function 1414:008E at slot 0, serial 0x12345678.
const RELATIONS_V1: &str = "00 00 49 42  01 00 00 00
    14 14 8E 00  00 00 02 03  00 00 00 00  00 00 00 00  78 56 34 12";

/// Runs the §10.3 sequence A..F' and returns the client with slot 0 arrived.
fn brought_up() -> VpciClient {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    only_send(&mut client);
    feed(&mut client, &completion(1, &[0; 8])).unwrap();
    only_send(&mut client);
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    only_send(&mut client);
    feed(&mut client, &completion(2, &[0; 28])).unwrap();
    only_send(&mut client);
    feed(&mut client, &completion(3, &[0; 4])).unwrap();
    only_send(&mut client);
    feed(&mut client, &completion(4, &[0; 4])).unwrap();
    let actions = drain(&mut client);
    assert!(matches!(actions[..], [Action::FunctionArrived(_)]));
    client
}

#[test]
fn bring_up_matches_the_reference_vectors() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    assert_eq!(client.window_gpa(), WINDOW);
    client.start();

    // A: QUERY_PROTOCOL_VERSION 1.4, id 1.
    let a = only_send(&mut client);
    assert_eq!(
        packet_bytes(&a),
        hex("06 00 02 00 03 00 01 00  01 00 00 00 00 00 00 00  13 00 49 42 04 00 01 00")
    );
    // A': accepted (OpenVMM's form, with its version word).
    feed(
        &mut client,
        &hex("0B 00 02 00 03 00 00 00  01 00 00 00 00 00 00 00  00 00 00 00 03 00 01 00"),
    )
    .unwrap();
    assert_eq!(client.version(), Some(ProtocolVersion::V1_4));

    // B: QUERY_BUS_RELATIONS, id 0, no completion.
    let b = only_send(&mut client);
    assert_eq!(
        packet_bytes(&b),
        hex("06 00 02 00 03 00 00 00  00 00 00 00 00 00 00 00  01 00 49 42 00 00 00 00")
    );

    // C → D: QUERY_RESOURCE_REQUIREMENTS slot 0, id 2.
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    assert_eq!(client.phase(), Phase::Running);
    let d = only_send(&mut client);
    assert_eq!(
        packet_bytes(&d),
        hex("06 00 02 00 03 00 01 00  02 00 00 00 00 00 00 00  05 00 49 42 00 00 00 00")
    );

    // D': no BARs (48 bytes) → E: BUS_D0ENTRY with the window, id 3.
    let mut d_prime = hex("0B 00 02 00 06 00 00 00  02 00 00 00 00 00 00 00  00 00 00 00");
    d_prime.extend_from_slice(&[0; 28]);
    feed(&mut client, &d_prime).unwrap();
    let e = only_send(&mut client);
    assert_eq!(
        packet_bytes(&e),
        hex("06 00 02 00 04 00 01 00  03 00 00 00 00 00 00 00
             07 00 49 42 00 00 00 00 00 00 00 00 10 00 00 00")
    );

    // OpenVMM resends the list before the D0 completion: nothing changes.
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(client.d0_status(), None);

    // E' → F: RESOURCES_ASSIGNED2 slot 0, id 4, 202 bytes padded to 208.
    feed(
        &mut client,
        &hex("0B 00 02 00 03 00 00 00  03 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"),
    )
    .unwrap();
    let f = only_send(&mut client);
    assert_eq!(client.d0_status(), Some(0));
    let mut expected =
        hex("06 00 02 00 1C 00 01 00  04 00 00 00 00 00 00 00  16 00 49 42 00 00 00 00");
    expected.extend_from_slice(&[0; 200]);
    assert_eq!(f.payload.len(), 202);
    assert_eq!(packet_bytes(&f), expected);

    // F': the minimal completion → the function arrives.
    feed(
        &mut client,
        &hex("0B 00 02 00 03 00 00 00  04 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"),
    )
    .unwrap();
    let expected = FunctionInfo {
        slot: SlotNumber(0),
        vendor_id: 0x1414,
        device_id: 0x008E,
        revision: 0,
        programming_interface: 0,
        sub_class: 0x02,
        base_class: 0x03,
        subsystem: 0,
        serial_number: 0x1234_5678,
        numa_node: None,
    };
    assert_eq!(drain(&mut client), vec![Action::FunctionArrived(expected)]);
    assert_eq!(
        client.functions().copied().collect::<Vec<_>>(),
        vec![expected]
    );
}

#[test]
fn openvmm_full_resources_assigned_reply_is_accepted() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    feed(&mut client, &completion(1, &[0; 4])).unwrap();
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    feed(&mut client, &completion(2, &[0; 28])).unwrap();
    feed(&mut client, &completion(3, &[0; 4])).unwrap();
    drain(&mut client);
    // 136 bytes: status 0, slot 0, 120 zero bytes, count 0, reserved 0 (len8 = 19).
    let reply = completion(4, &[0; 136]);
    assert_eq!(reply.len(), 19 * 8);
    feed(&mut client, &reply).unwrap();
    assert!(matches!(
        drain(&mut client)[..],
        [Action::FunctionArrived(_)]
    ));
}

#[test]
fn version_walk_down_to_1_1_uses_v1_messages() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    let mismatch = hex("59 00 00 C0");
    let mut expected_versions = vec![];
    for id in 1..=3u64 {
        let request = only_send(&mut client);
        assert_eq!(request.transaction_id, id);
        expected_versions.push(request.payload[4..8].to_vec());
        feed(&mut client, &completion(id, &mismatch)).unwrap();
    }
    let last = only_send(&mut client);
    expected_versions.push(last.payload[4..8].to_vec());
    assert_eq!(
        expected_versions,
        vec![
            hex("04 00 01 00"),
            hex("03 00 01 00"),
            hex("02 00 01 00"),
            hex("01 00 01 00")
        ]
    );
    feed(&mut client, &completion(4, &[0; 4])).unwrap();
    assert_eq!(client.version(), Some(ProtocolVersion::V1_1));
    drain(&mut client);
    feed(&mut client, &in_band(&hex(RELATIONS_V1))).unwrap();
    let qrr = only_send(&mut client);
    feed(&mut client, &completion(qrr.transaction_id, &[0; 28])).unwrap();
    let d0 = only_send(&mut client);
    feed(&mut client, &completion(d0.transaction_id, &[0; 4])).unwrap();
    // RESOURCES_ASSIGNED v1: 148 bytes, type 0x42490010.
    let assigned = only_send(&mut client);
    let mut expected = hex("10 00 49 42 00 00 00 00");
    expected.extend_from_slice(&[0; 140]);
    assert_eq!(assigned.payload, expected);
    assert!(assigned.completion_requested);
    feed(&mut client, &completion(assigned.transaction_id, &[0; 4])).unwrap();
    let actions = drain(&mut client);
    let [Action::FunctionArrived(info)] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!((info.vendor_id, info.device_id), (0x1414, 0x008E));
    assert_eq!(info.numa_node, None);
}

#[test]
fn no_common_version_fails_the_bus() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    for id in 1..=3u64 {
        drain(&mut client);
        feed(&mut client, &completion(id, &hex("59 00 00 C0"))).unwrap();
    }
    drain(&mut client);
    assert_eq!(
        feed(&mut client, &completion(4, &hex("59 00 00 C0"))),
        Err(VpciError::NoCommonVersion)
    );
    assert_eq!(client.phase(), Phase::Failed);
    assert_eq!(
        drain(&mut client),
        vec![Action::Failed(VpciError::NoCommonVersion)]
    );
    // Nothing is accepted afterwards.
    assert!(feed(&mut client, &hex(VECTOR_C)).is_err());
    assert_eq!(drain(&mut client), vec![]);
}

#[test]
fn other_version_failure_is_fatal() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    let error = feed(&mut client, &completion(1, &hex("0B 09 00 C0"))).unwrap_err();
    assert_eq!(
        error,
        VpciError::VersionRejected {
            version: ProtocolVersion::V1_4,
            status: 0xC000_090B
        }
    );
    assert!(error.is_fatal());
    assert_eq!(client.phase(), Phase::Failed);
}

#[test]
fn d0_entry_failure_fails_the_bus() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    feed(&mut client, &completion(1, &[0; 4])).unwrap();
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    feed(&mut client, &completion(2, &[0; 28])).unwrap();
    drain(&mut client);
    assert_eq!(
        feed(&mut client, &completion(3, &hex("01 00 00 C0"))),
        Err(VpciError::D0EntryFailed {
            status: 0xC000_0001
        })
    );
    assert_eq!(client.d0_status(), Some(0xC000_0001));
    assert_eq!(client.phase(), Phase::Failed);
}

#[test]
fn hostile_packets_are_rejected_and_change_nothing() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    // A 2-byte completion for the pending version request.
    assert_eq!(
        client.receive(PacketType::COMPLETION, 1, &[0, 0]),
        Err(VpciError::Truncated {
            message_type: 0,
            length: 2,
            needed: 4
        })
    );
    // Unknown transaction, packet types the channel does not carry, empty in-band.
    assert_eq!(
        client.receive(PacketType::COMPLETION, 99, &[0; 8]),
        Err(VpciError::UnknownTransaction(99))
    );
    assert_eq!(
        client.receive(PacketType::DATA_USING_GPA_DIRECT, 1, &[0; 8]),
        Err(VpciError::UnexpectedPacketType(9))
    );
    assert!(matches!(
        client.receive(PacketType::DATA_IN_BAND, 0, &[]),
        Err(VpciError::Truncated { .. })
    ));
    // Relations before the version is agreed.
    assert_eq!(
        feed(&mut client, &hex(VECTOR_C)),
        Err(VpciError::UnexpectedMessage {
            message_type: 0x4249_0019,
            phase: Phase::Negotiating
        })
    );
    assert_eq!(drain(&mut client), vec![]);
    // The pending request is intact: a good completion still works.
    feed(&mut client, &completion(1, &[0; 4])).unwrap();
    assert_eq!(client.version(), Some(ProtocolVersion::V1_4));
    drain(&mut client);
    // A completion for an already completed request.
    assert_eq!(
        feed(&mut client, &completion(1, &[0; 4])),
        Err(VpciError::UnknownTransaction(1))
    );
    // Unknown message type.
    assert_eq!(
        feed(&mut client, &in_band(&hex("77 00 49 42 00 00 00 00"))),
        Err(VpciError::UnknownMessage(0x4249_0077))
    );
    // Absurd count.
    assert_eq!(
        feed(&mut client, &in_band(&hex("19 00 49 42 FF FF FF FF"))),
        Err(VpciError::TooManyFunctions { count: u32::MAX })
    );
    // Count 2, one description.
    let mut short = hex("00 00 49 42 02 00 00 00");
    short.extend_from_slice(&hex(RELATIONS_V1)[8..]);
    assert!(matches!(
        feed(&mut client, &in_band(&short)),
        Err(VpciError::RelationsTruncated { count: 2, .. })
    ));
    // Same slot twice.
    let mut twice = hex("00 00 49 42 02 00 00 00");
    twice.extend_from_slice(&hex(RELATIONS_V1)[8..]);
    twice.extend_from_slice(&hex(RELATIONS_V1)[8..]);
    assert_eq!(
        feed(&mut client, &in_band(&twice)),
        Err(VpciError::DuplicateSlot(0))
    );
    // Reserved slot bits.
    let mut bad_slot = hex(RELATIONS_V1);
    bad_slot[20..24].copy_from_slice(&hex("00 01 00 00"));
    assert_eq!(
        feed(&mut client, &in_band(&bad_slot)),
        Err(VpciError::BadSlot(0x100))
    );
    // Short EJECT.
    assert!(matches!(
        client.receive(PacketType::DATA_IN_BAND, 0, &hex("0B 00 49 42")),
        Err(VpciError::Truncated { .. })
    ));
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(client.phase(), Phase::Discovering);
    // The good list still brings the function up.
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    assert_eq!(sends(&drain(&mut client)).len(), 1);
}

#[test]
fn short_or_failed_requirements_completion() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    feed(&mut client, &completion(1, &[0; 4])).unwrap();
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    drain(&mut client);
    // Success status without the BAR masks: truncated, still pending.
    assert!(matches!(
        client.receive(PacketType::COMPLETION, 2, &[0; 8]),
        Err(VpciError::Truncated { needed: 28, .. })
    ));
    // Failure status: the function is abandoned, D0 entry goes ahead.
    assert_eq!(
        client.receive(PacketType::COMPLETION, 2, &hex("0B 09 00 C0 00 00 00 00")),
        Err(VpciError::FunctionRequestFailed {
            slot: 0,
            message_type: 0x4249_0005,
            status: 0xC000_090B
        })
    );
    let d0 = only_send(&mut client);
    assert_eq!(d0.payload[..4], hex("07 00 49 42"));
    feed(&mut client, &completion(d0.transaction_id, &[0; 4])).unwrap();
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(client.functions().count(), 0);
}

#[test]
fn failed_resources_assigned_leaves_the_function_out() {
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.start();
    drain(&mut client);
    feed(&mut client, &completion(1, &[0; 4])).unwrap();
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    feed(&mut client, &completion(2, &[0; 28])).unwrap();
    feed(&mut client, &completion(3, &[0; 4])).unwrap();
    drain(&mut client);
    assert!(matches!(
        feed(&mut client, &completion(4, &hex("0B 09 00 C0"))),
        Err(VpciError::FunctionRequestFailed {
            message_type: 0x4249_0016,
            ..
        })
    ));
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(client.phase(), Phase::Running);
}

#[test]
fn eject_removes_then_completes() {
    let mut client = brought_up();
    // EJECT for an unknown slot is ignored.
    feed(&mut client, &in_band(&hex("0B 00 49 42 01 00 00 00"))).unwrap();
    assert_eq!(drain(&mut client), vec![]);
    feed(&mut client, &in_band(&hex("0B 00 49 42 00 00 00 00"))).unwrap();
    let actions = drain(&mut client);
    assert_eq!(
        actions[0],
        Action::FunctionRemoved {
            slot: SlotNumber(0)
        }
    );
    let [Action::Send(complete)] = &actions[1..] else {
        panic!("{actions:?}")
    };
    // EJECTION_COMPLETE {slot 0, status 0}, no completion requested.
    assert_eq!(
        packet_bytes(complete),
        hex(
            "06 00 02 00 04 00 00 00  00 00 00 00 00 00 00 00  0F 00 49 42 00 00 00 00 00 00 00 00 00 00 00 00"
        )
    );
    assert_eq!(client.functions().count(), 0);
}

#[test]
fn a_list_without_the_function_removes_it_and_a_new_list_brings_it_back() {
    let mut client = brought_up();
    feed(&mut client, &in_band(&hex("19 00 49 42 00 00 00 00"))).unwrap();
    assert_eq!(
        drain(&mut client),
        vec![Action::FunctionRemoved {
            slot: SlotNumber(0)
        }]
    );
    // A different serial at the same slot is a new function: full per-function sequence
    // (D0 entry already done, so QRR then RESOURCES_ASSIGNED2).
    let mut again = hex(VECTOR_C);
    again[40..44].copy_from_slice(&hex("01 00 00 00"));
    feed(&mut client, &again).unwrap();
    let qrr = only_send(&mut client);
    assert_eq!(qrr.payload, hex("05 00 49 42 00 00 00 00"));
    feed(&mut client, &completion(qrr.transaction_id, &[0; 28])).unwrap();
    let assigned = only_send(&mut client);
    assert_eq!(assigned.payload[..4], hex("16 00 49 42"));
    feed(&mut client, &completion(assigned.transaction_id, &[0; 4])).unwrap();
    let actions = drain(&mut client);
    let [Action::FunctionArrived(info)] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(info.serial_number, 1);
}

/// VECTOR_C with another serial number: the same slot, a different function.
fn replacement(serial: u8) -> Vec<u8> {
    let mut list = hex(VECTOR_C);
    list[40..44].copy_from_slice(&[serial, 0, 0, 0]);
    list
}

#[test]
fn a_stale_requirements_completion_does_not_advance_the_replacement() {
    let mut client = brought_up();
    // The host replaces slot 0 (serial 1) and, before answering its requirements query,
    // replaces it again (serial 2).
    feed(&mut client, &replacement(1)).unwrap();
    let actions = drain(&mut client);
    assert_eq!(
        actions[0],
        Action::FunctionRemoved {
            slot: SlotNumber(0)
        }
    );
    let [Action::Send(first_query)] = &actions[1..] else {
        panic!("{actions:?}")
    };
    feed(&mut client, &replacement(2)).unwrap();
    let second_query = only_send(&mut client);
    assert_eq!(second_query.payload, hex("05 00 49 42 00 00 00 00"));
    // The answer to the first query is for a function that is gone.
    assert_eq!(
        feed(
            &mut client,
            &completion(first_query.transaction_id, &[0; 28])
        ),
        Err(VpciError::StaleCompletion {
            slot: 0,
            transaction_id: first_query.transaction_id
        })
    );
    assert_eq!(
        drain(&mut client),
        vec![],
        "no RESOURCES_ASSIGNED2 before the answer"
    );
    // The real answer brings the new function up.
    feed(
        &mut client,
        &completion(second_query.transaction_id, &[0; 28]),
    )
    .unwrap();
    let assigned = only_send(&mut client);
    assert_eq!(assigned.payload[..4], hex("16 00 49 42"));
    feed(&mut client, &completion(assigned.transaction_id, &[0; 4])).unwrap();
    let actions = drain(&mut client);
    let [Action::FunctionArrived(info)] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(info.serial_number, 2);
}

#[test]
fn a_stale_assignment_completion_does_not_advance_the_replacement() {
    let mut client = brought_up();
    feed(&mut client, &replacement(1)).unwrap();
    let query = match &drain(&mut client)[..] {
        [Action::FunctionRemoved { .. }, Action::Send(query)] => query.clone(),
        other => panic!("{other:?}"),
    };
    feed(&mut client, &completion(query.transaction_id, &[0; 28])).unwrap();
    let assigned = only_send(&mut client);
    // Replaced while RESOURCES_ASSIGNED2 is outstanding.
    feed(&mut client, &replacement(2)).unwrap();
    let second_query = only_send(&mut client);
    assert!(
        feed(&mut client, &completion(assigned.transaction_id, &[0; 4])).is_err(),
        "the old function's assignment answer is stale"
    );
    assert_eq!(drain(&mut client), vec![]);
    assert_eq!(client.functions().count(), 0);
    feed(
        &mut client,
        &completion(second_query.transaction_id, &[0; 28]),
    )
    .unwrap();
    let assigned = only_send(&mut client);
    assert_eq!(assigned.payload[..4], hex("16 00 49 42"));
}

#[test]
fn numa_node_is_reported_only_when_flagged() {
    let mut payload = hex(VECTOR_C)[16..].to_vec();
    let list = parse_relations(&payload).unwrap();
    assert_eq!(list[0].numa_node, None);
    payload[28..32].copy_from_slice(&hex("01 00 00 00"));
    payload[32..34].copy_from_slice(&hex("02 00"));
    let list = parse_relations(&payload).unwrap();
    assert_eq!(list[0].numa_node, Some(2));
}

#[test]
fn shutdown_releases_and_exits_d0() {
    let mut client = brought_up();
    client.shutdown().unwrap();
    let actions = drain(&mut client);
    assert_eq!(
        actions[0],
        Action::FunctionRemoved {
            slot: SlotNumber(0)
        }
    );
    let messages = sends(&actions[1..]);
    assert_eq!(messages.len(), 2);
    // RESOURCES_RELEASED {slot 0}, no completion; BUS_D0EXIT with completion.
    assert_eq!(
        packet_bytes(&messages[0]),
        hex("06 00 02 00 03 00 00 00  00 00 00 00 00 00 00 00  11 00 49 42 00 00 00 00")
    );
    assert_eq!(messages[1].payload, hex("08 00 49 42"));
    assert!(messages[1].completion_requested);
    assert_ne!(messages[1].transaction_id, 0);
    feed(
        &mut client,
        &completion(messages[1].transaction_id, &[0; 4]),
    )
    .unwrap();
    assert_eq!(drain(&mut client), vec![Action::Stopped]);
    assert_eq!(client.phase(), Phase::Stopped);
    assert!(client.shutdown().is_err());
}

#[test]
fn rescind_removes_everything_and_sends_nothing() {
    let mut client = brought_up();
    client.rescinded();
    assert_eq!(
        drain(&mut client),
        vec![Action::FunctionRemoved {
            slot: SlotNumber(0)
        }]
    );
    assert_eq!(client.phase(), Phase::Rescinded);
    assert!(feed(&mut client, &in_band(&hex("0B 00 49 42 00 00 00 00"))).is_ok());
    assert_eq!(drain(&mut client), vec![]);
}

#[test]
fn window_must_be_aligned() {
    assert_eq!(
        VpciClient::new(0x1234).unwrap_err(),
        VpciError::BadWindow { gpa: 0x1234 }
    );
    assert!(VpciClient::new(!0xFFF).is_err());
    assert!(ConfigWindow::new(Recorder::default(), 0x10).is_none());
}

#[test]
fn slot_numbers_are_device_or_function_shifted_by_five() {
    assert_eq!(SlotNumber::new(1, 2), Some(SlotNumber(0x41)));
    assert_eq!(SlotNumber(0x41).device(), 1);
    assert_eq!(SlotNumber(0x41).function(), 2);
    assert_eq!(SlotNumber::new(32, 0), None);
    assert!(!SlotNumber(0x100).is_valid());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read(u64),
    Write(u64, u64),
}

/// An MMIO double: records accesses, answers reads from a map of dwords.
#[derive(Debug, Default)]
struct Recorder {
    trace: Vec<Access>,
    values: BTreeMap<u64, u64>,
    fail_at: Option<u64>,
}

impl MmioAccess for Recorder {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        assert_eq!(size, 4);
        if self.fail_at == Some(gpa) {
            return Err(PlatformError::UnhandledMmio { gpa });
        }
        self.trace.push(Access::Read(gpa));
        Ok(self.values.get(&gpa).copied().unwrap_or(0))
    }
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        assert_eq!(size, 4);
        if self.fail_at == Some(gpa) {
            return Err(PlatformError::UnhandledMmio { gpa });
        }
        self.trace.push(Access::Write(gpa, value));
        Ok(())
    }
}

#[test]
fn dxg_probe_through_the_window_matches_vector_g() {
    // §10.3 G: GUID {01234567-89AB-CDEF-0123-456789ABCDEF}, version 40, LUID 0xABCD, caps 0.
    const W: u64 = WINDOW;
    let mut mmio = Recorder::default();
    for (offset, value) in [
        (0x10D0, 0x0000_0028),
        (0x10DC, 0x0000_0000),
        (0x10C0, 0x0123_4567),
        (0x10C4, 0xCDEF_89AB),
        (0x10C8, 0x6745_2301),
        (0x10CC, 0xEFCD_AB89),
        (0x10D4, 0x0000_ABCD),
        (0x10D8, 0x0000_0000),
    ] {
        mmio.values.insert(W + offset, value);
    }
    let mut window = ConfigWindow::new(mmio, W).unwrap();
    let mut driver = dxg::core::Driver::new(dxg::core::DriverConfig::default());
    driver
        .probe_pci_function(0, 0x008E, &mut window.function(SlotNumber(0)))
        .unwrap();
    let select = Access::Write(W, 0);
    let expected = vec![
        // Presence first: the vendor id (0 here) is not 0xFFFF.
        select,
        Access::Read(W + 0x1000),
        select,
        Access::Write(W + 0x10D4, 1),
        select,
        Access::Read(W + 0x10D0),
        select,
        Access::Write(W + 0x10D0, 0x28),
        select,
        Access::Read(W + 0x10DC),
        select,
        Access::Read(W + 0x10C0),
        select,
        Access::Read(W + 0x10C4),
        select,
        Access::Read(W + 0x10C8),
        select,
        Access::Read(W + 0x10CC),
        select,
        Access::Read(W + 0x10D4),
        select,
        Access::Read(W + 0x10D8),
    ];
    assert_eq!(window.access().trace, expected);
}

#[test]
fn an_absent_function_reads_as_an_error_not_as_all_ones() {
    // Nothing behind the window: every dword reads all-ones, as PCI answers for an absent
    // function or an unmapped window.
    let mut mmio = Recorder::default();
    for offset in (0..0x1000).step_by(4) {
        mmio.values.insert(WINDOW + 0x1000 + offset, 0xFFFF_FFFF);
    }
    let mut window = ConfigWindow::new(mmio, WINDOW).unwrap();
    let slot = SlotNumber(0x41);
    assert_eq!(
        window.read_u32(slot, 0),
        Err(ConfigError::FunctionAbsent(0x41))
    );
    // Later reads are errors too, each confirmed by the vendor id.
    window.access().trace.clear();
    assert_eq!(
        window.read_u32(slot, 0xD0),
        Err(ConfigError::FunctionAbsent(0x41))
    );
    assert_eq!(
        window.access().trace,
        vec![
            Access::Write(WINDOW, 0x41),
            Access::Read(WINDOW + 0x10D0),
            Access::Write(WINDOW, 0x41),
            Access::Read(WINDOW + 0x1000),
        ]
    );
    // The dxg probe sees a typed failure and creates no adapter.
    let mut driver = dxg::core::Driver::new(dxg::core::DriverConfig::default());
    assert_eq!(
        driver.probe_pci_function(0, 0x008E, &mut window.function(slot)),
        Err(dxg::core::ProbeError::ConfigSpace)
    );
    assert!(driver.adapter(dxg::core::AdapterId(0)).is_none());
    assert_eq!(driver.interface_version(), 0);
}

#[test]
fn an_all_ones_register_of_a_present_function_is_data() {
    let mut mmio = Recorder::default();
    mmio.values.insert(WINDOW + 0x1000, 0x008E_1414);
    mmio.values.insert(WINDOW + 0x10D4, 0xFFFF_FFFF);
    let mut window = ConfigWindow::new(mmio, WINDOW).unwrap();
    assert_eq!(window.read_u32(SlotNumber(0), 0xD4), Ok(0xFFFF_FFFF));
    assert_eq!(window.read_u32(SlotNumber(0), 0), Ok(0x008E_1414));
}

#[test]
fn config_window_rejects_bad_offsets_and_propagates_mmio_errors() {
    let mut window = ConfigWindow::new(Recorder::default(), WINDOW).unwrap();
    let slot = SlotNumber(0x41);
    assert_eq!(
        window.read_u32(slot, 0x1000),
        Err(ConfigError::BadOffset(0x1000))
    );
    assert_eq!(
        window.read_u32(slot, 0xC2),
        Err(ConfigError::BadOffset(0xC2))
    );
    assert_eq!(
        window.write_u32(SlotNumber(0x100), 0, 0),
        Err(ConfigError::BadSlot(0x100))
    );
    assert!(window.access().trace.is_empty());
    window.read_u32(slot, 0xFFC).unwrap();
    assert_eq!(
        window.access().trace,
        vec![Access::Write(WINDOW, 0x41), Access::Read(WINDOW + 0x1FFC)]
    );
    window.access().fail_at = Some(WINDOW + 0x1000);
    assert_eq!(
        window.read_u32(slot, 0),
        Err(ConfigError::Mmio(PlatformError::UnhandledMmio {
            gpa: WINDOW + 0x1000
        }))
    );
    use dxg::core::ConfigSpace;
    assert_eq!(
        window.function(slot).read_u32(0),
        Err(dxg::core::ConfigSpaceError)
    );
}

#[test]
fn transaction_ids_are_never_zero_for_requests() {
    let client = brought_up();
    let _ = client;
    let mut client = VpciClient::new(WINDOW).unwrap();
    client.next_transaction_id_for_test(u64::MAX);
    client.start();
    let first = only_send(&mut client);
    assert_eq!(first.transaction_id, u64::MAX);
    feed(&mut client, &completion(u64::MAX, &hex("59 00 00 C0"))).unwrap();
    let second = only_send(&mut client);
    assert_eq!(second.transaction_id, 1);
}

#[test]
fn wire_sizes_match_the_reference_tables() {
    use core::mem::size_of;
    use wire::*;
    assert_eq!(size_of::<QueryProtocolVersion>(), 8);
    assert_eq!(size_of::<BusD0Entry>(), 16);
    assert_eq!(size_of::<EjectionComplete>(), 12);
    assert_eq!(size_of::<ResourcesAssigned>(), 148);
    assert_eq!(size_of::<ResourcesAssigned2>(), 202);
    assert_eq!(size_of::<FunctionDescription>(), 20);
    assert_eq!(size_of::<FunctionDescription2>(), 28);
    assert_eq!(size_of::<ResourceRequirementsCompletion>(), 28);
    assert_eq!(
        CLASS.bytes,
        hex("1D F6 C4 44 44 44 00 44 9D 52 80 2E 27 ED E1 9F")[..]
    );
}

/// An instance GUID (wire bytes) whose bytes 4 and 5 are `low` and `high`.
fn instance_with_domain_bytes(low: u8, high: u8, tag: u8) -> [u8; 16] {
    [tag, 0, 0, 0, low, high, 0, 0, 0, 0, 0, 0, 0, 0, 0, tag]
}

#[test]
fn each_bus_gets_the_domain_its_instance_asks_for() {
    let mut domains = PciDomains::new();
    let first = instance_with_domain_bytes(0x34, 0x12, 1);
    let second = instance_with_domain_bytes(0x78, 0x56, 2);
    assert_eq!(requested_domain(&first), 0x1234);
    assert_eq!(domains.allocate(&first), Some(0x1234));
    assert_eq!(domains.allocate(&second), Some(0x5678));
}

#[test]
fn colliding_or_zero_domains_get_the_lowest_free_number() {
    let mut domains = PciDomains::new();
    let zero = instance_with_domain_bytes(0, 0, 1);
    assert_eq!(domains.allocate(&zero), Some(1));
    let one = instance_with_domain_bytes(1, 0, 2);
    assert_eq!(domains.allocate(&one), Some(2));
    let same = instance_with_domain_bytes(1, 0, 3);
    assert_eq!(domains.allocate(&same), Some(3));
    domains.release(2);
    assert_eq!(domains.allocate(&same), Some(2));
}

#[test]
fn the_same_slot_on_two_buses_has_two_names() {
    let first = FunctionAddress {
        domain: 0x1234,
        slot: SlotNumber(0),
    };
    let second = FunctionAddress {
        domain: 0x5678,
        slot: SlotNumber(0),
    };
    assert_ne!(first.as_u32(), second.as_u32());
    assert_eq!(first.as_u32(), 0x1234_0000);
    let function = FunctionAddress {
        domain: 1,
        slot: SlotNumber(0xFF),
    };
    assert_eq!(function.as_u32(), 0x0001_00FF);
}

fn bus_instance(tag: u8) -> vmbus::guid::Guid {
    vmbus::guid::Guid {
        bytes: instance_with_domain_bytes(tag, 0, tag),
    }
}

fn drain_buses(buses: &mut VpciBuses) -> Vec<BusesAction> {
    core::iter::from_fn(|| buses.poll_action()).collect()
}

#[test]
fn buses_open_each_channel_and_drop_one_that_does_not_open() {
    let mut buses = VpciBuses::new();
    buses.add_bus(4, bus_instance(1), WINDOW).unwrap();
    buses.add_bus(7, bus_instance(2), WINDOW + 0x2000).unwrap();
    assert_eq!(
        buses.add_bus(7, bus_instance(3), WINDOW + 0x4000),
        Err(AddBusError::Duplicate(7))
    );
    assert_eq!(
        buses.add_bus(9, bus_instance(3), WINDOW + 1),
        Err(AddBusError::Client(VpciError::BadWindow {
            gpa: WINDOW + 1
        }))
    );
    assert_eq!(
        drain_buses(&mut buses),
        vec![
            BusesAction::Open { relid: 4 },
            BusesAction::Open { relid: 7 }
        ]
    );
    buses.opened(4, false);
    buses.opened(7, true);
    let actions = drain_buses(&mut buses);
    assert_eq!(
        actions[0],
        BusesAction::Removed {
            relid: 4,
            window: WINDOW
        }
    );
    // Bus 7 goes on: its first version request.
    assert!(matches!(actions[1], BusesAction::Send { relid: 7, .. }));
    assert_eq!(buses.phase(7), Some(Phase::Negotiating));
    assert!(!buses.contains(4));
}

#[test]
fn a_failed_bus_is_closed_and_its_window_returned_while_the_other_runs() {
    let mut buses = VpciBuses::new();
    buses.add_bus(4, bus_instance(1), WINDOW).unwrap();
    buses.add_bus(7, bus_instance(2), WINDOW + 0x2000).unwrap();
    buses.opened(4, true);
    buses.opened(7, true);
    drain_buses(&mut buses);
    // Bus 4's host refuses version 1.4 with a status other than REVISION_MISMATCH: fatal.
    let refusal = 0xC000_0001u32.to_le_bytes();
    let mut padded_refusal = refusal.to_vec();
    padded_refusal.resize(8, 0);
    let _ = buses
        .buses_client_for_test(4)
        .receive(PacketType::COMPLETION, 1, &padded_refusal);
    let actions = drain_buses(&mut buses);
    assert_eq!(actions, vec![BusesAction::Close { relid: 4 }]);
    assert_eq!(buses.phase(7), Some(Phase::Negotiating));
    buses.closed(4);
    assert_eq!(
        drain_buses(&mut buses),
        vec![BusesAction::Removed {
            relid: 4,
            window: WINDOW
        }]
    );
    assert!(buses.contains(7));
}

#[test]
fn a_bus_whose_host_never_answers_the_bring_up_is_closed_at_its_bound() {
    let mut buses = VpciBuses::new();
    buses.add_bus(4, bus_instance(1), WINDOW).unwrap();
    buses.opened(4, true);
    buses.bring_up_started(4, 100);
    drain_buses(&mut buses); // the version request, never answered
    assert_eq!(buses.next_bring_up_deadline(50), Some(150));
    assert!(buses.end_late_bring_ups(149, 50).is_empty());
    assert_eq!(buses.phase(4), Some(Phase::Negotiating));
    assert_eq!(buses.end_late_bring_ups(150, 50), [4]);
    assert_eq!(drain_buses(&mut buses), [BusesAction::Close { relid: 4 }]);
    assert_eq!(buses.next_bring_up_deadline(50), None, "ended once");
    assert!(buses.end_late_bring_ups(u64::MAX, 50).is_empty());
}

/// Issue 14: the vPCI driver restarts by re-opening its channel; the client starts over and
/// refuses what the old channel instance still delivers.
#[test]
fn a_restarted_client_starts_over_and_refuses_the_old_instance() {
    let mut client = brought_up();
    assert_eq!(client.phase(), Phase::Running);
    client.restart();
    assert_eq!(
        drain(&mut client),
        vec![Action::FunctionRemoved {
            slot: SlotNumber(0)
        }]
    );
    assert_eq!(
        (client.phase(), client.version(), client.d0_status()),
        (Phase::Created, None, None)
    );
    assert_eq!(client.functions().count(), 0);
    // The old instance's function list, before the new version is agreed: refused.
    assert!(matches!(
        feed(&mut client, &hex(VECTOR_C)),
        Err(VpciError::UnexpectedMessage { .. })
    ));
    // The re-opened channel: negotiation again, with a fresh transaction id.
    client.start();
    let version = only_send(&mut client);
    assert_eq!(
        version.transaction_id, 5,
        "ids go on from the old instance's"
    );
    // A late completion of the old instance's last request (id 4): refused, changes nothing.
    assert_eq!(
        feed(&mut client, &completion(4, &[0; 4])),
        Err(VpciError::UnknownTransaction(4))
    );
    assert_eq!(client.phase(), Phase::Negotiating);
    assert!(drain(&mut client).is_empty());
    // The new instance comes up as the first did.
    feed(&mut client, &completion(5, &[0; 8])).unwrap();
    assert_eq!(client.phase(), Phase::Discovering);
    only_send(&mut client);
    feed(&mut client, &hex(VECTOR_C)).unwrap();
    assert_eq!(client.phase(), Phase::Running);
}
