//! Byte-exact vectors for every control message, written by hand from the reference tables
//! (vmbus.md §4.3/§4.4), never derived from the crate's structs. Each vector is parsed and,
//! where the crate has an encoder, also compared with the encoder's output.

use vmbus::guid::class;
use vmbus::messages::{ControlMessage, MessageType, ParseError, encode, parse};

/// Joins literal pieces (each piece is one field or a run of fields of the table).
fn join(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

const NETWORK_WIRE: [u8; 16] = [
    0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46, 0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e,
];
const INSTANCE_WIRE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

fn offer_vector() -> Vec<u8> {
    join(&[
        &[0x01, 0, 0, 0, 0, 0, 0, 0], // type 1, padding
        &NETWORK_WIRE,                // @8 interface type
        &INSTANCE_WIRE,               // @24 instance
        &[0; 16],                     // @40 reserved
        &[0x01, 0x00],                // @56 flags: enumerate device interface
        &[0x20, 0x00],                // @58 mmio_megabytes 32
        &[0xEE; 120],                 // @60 user-defined
        &[0x03, 0x00],                // @180 sub_channel_index 3
        &[0x00, 0x00],                // @182 reserved
        &[0x0E, 0x00, 0x00, 0x00],    // @184 child_relid 14
        &[0xFF],                      // @188 monitor id
        &[0x00],                      // @189 monitor allocated
        &[0x01, 0x00],                // @190 dedicated interrupt
        &[0x0E, 0x20, 0x00, 0x00],    // @192 connection id 0x200E
    ])
}

#[test]
fn offer_channel_1() {
    let bytes = offer_vector();
    assert_eq!(bytes.len(), 196);
    let ControlMessage::OfferChannel(offer) = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(offer.interface_type, class::NETWORK);
    assert_eq!(offer.interface_instance.bytes, INSTANCE_WIRE);
    assert_eq!(offer.flags.get(), 1);
    assert_eq!(offer.mmio_megabytes.get(), 32);
    assert_eq!(offer.user_defined, [0xEE; 120]);
    assert_eq!(offer.sub_channel_index.get(), 3);
    assert_eq!(offer.child_relid.get(), 14);
    assert_eq!(offer.monitor_id, 0xFF);
    assert_eq!(offer.monitor_allocated, 0);
    assert_eq!(offer.is_dedicated_interrupt.get(), 1);
    assert_eq!(offer.connection_id.get(), 0x200E);
    let encoded = encode::offer_channel(&encode::OfferFields {
        interface_type: class::NETWORK,
        interface_instance: vmbus::Guid {
            bytes: INSTANCE_WIRE,
        },
        flags: 1,
        mmio_megabytes: 32,
        user_defined: [0xEE; 120],
        sub_channel_index: 3,
        child_relid: 14,
        monitor_id: 0xFF,
        monitor_allocated: false,
        is_dedicated_interrupt: true,
        connection_id: 0x200E,
    });
    assert_eq!(encoded, bytes);
    assert!(matches!(
        parse(&bytes[..195]),
        Err(ParseError::TooShort { minimum: 196, .. })
    ));
}

#[test]
fn rescind_channel_offer_2() {
    let bytes = [0x02, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0];
    assert_eq!(encode::rescind_channel_offer(7), bytes);
    let ControlMessage::RescindChannelOffer(message) = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(message.child_relid.get(), 7);
}

#[test]
fn header_only_messages_3_4_16_17_27_28_29() {
    let cases: [(u8, ControlMessage); 7] = [
        (3, ControlMessage::RequestOffers),
        (4, ControlMessage::AllOffersDelivered),
        (16, ControlMessage::Unload),
        (17, ControlMessage::UnloadResponse),
        (27, ControlMessage::Pause),
        (28, ControlMessage::PauseResponse),
        (29, ControlMessage::Resume),
    ];
    for (number, expected) in cases {
        let bytes = [number, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&bytes).unwrap(), expected);
        // Linux accepts ALLOFFERS_DELIVERED / UNLOAD_RESPONSE with any payload length.
        assert_eq!(
            parse(&[number, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9]).unwrap(),
            expected
        );
    }
    assert_eq!(encode::request_offers(), [0x03, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode::all_offers_delivered(), [0x04, 0, 0, 0, 0, 0, 0, 0]);
    // OpenVMM's vector for UNLOAD.
    assert_eq!(
        encode::unload(),
        [0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
    assert_eq!(encode::unload_response(), [0x11, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn open_channel_5() {
    let bytes = join(&[
        &[0x05, 0, 0, 0, 0, 0, 0, 0],
        &[0x0E, 0, 0, 0],       // @8 relid 14
        &[0x0E, 0, 0, 0],       // @12 open id 14
        &[0x10, 0x1E, 0x0E, 0], // @16 gpadl 0xE1E10
        &[0x01, 0, 0, 0],       // @20 target vp 1
        &[0x41, 0, 0, 0],       // @24 downstream offset 65 pages
        &[0xAB; 120],           // @28 user data
    ]);
    assert_eq!(bytes.len(), 148);
    assert_eq!(
        encode::open_channel(14, 14, 0xE1E10, 1, 65, &[0xAB; 120]),
        bytes
    );
    let ControlMessage::OpenChannel { message, extended } = parse(&bytes).unwrap() else {
        panic!()
    };
    assert!(!extended);
    assert_eq!(message.ring_buffer_gpadl.get(), 0xE1E10);
    assert_eq!(message.downstream_ring_buffer_page_offset.get(), 65);
    assert_eq!(message.guest_connection_id.get(), 0, "zero-extended");
    // The 156-byte 6.0 form.
    let long = join(&[&bytes, &[0x99, 0, 0, 0], &[0x05, 0], &[0x01, 0]]);
    let ControlMessage::OpenChannel { message, extended } = parse(&long).unwrap() else {
        panic!()
    };
    assert!(extended);
    assert_eq!(message.guest_connection_id.get(), 0x99);
    assert_eq!(message.event_flag.get(), 5);
    assert_eq!(message.open_flags.get(), 1);
}

#[test]
fn open_channel_result_6() {
    let bytes = [
        0x06, 0, 0, 0, 0, 0, 0, 0, 0x0E, 0, 0, 0, 0x22, 0, 0, 0, 0x01, 0, 0, 0,
    ];
    assert_eq!(encode::open_channel_result(14, 0x22, 1), bytes);
    let ControlMessage::OpenChannelResult(message) = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            message.child_relid.get(),
            message.open_id.get(),
            message.status.get()
        ),
        (14, 0x22, 1)
    );
}

#[test]
fn close_channel_7() {
    // OpenVMM's vector.
    let bytes = [
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    ];
    assert_eq!(encode::close_channel(5), bytes);
    let ControlMessage::CloseChannel(message) = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(message.child_relid.get(), 5);
}

#[test]
fn gpadl_header_8() {
    // OpenVMM's vector: relid 5, gpadl 1, len 7, count 6, then 4 data bytes.
    let bytes = [
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x07, 0x00, 0x06, 0x00, 0x0a, 0x0b, 0x0c, 0x0d,
    ];
    assert_eq!(
        encode::gpadl_header(5, 1, 7, 6, &[0x0a, 0x0b, 0x0c, 0x0d]),
        bytes
    );
    let ControlMessage::GpadlHeader { message, data } = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(message.range_buffer_length.get(), 7);
    assert_eq!(message.range_count.get(), 6);
    assert_eq!(data, [0x0a, 0x0b, 0x0c, 0x0d]);
    // A one-page ring range from the split helper: PFN array at offset 28.
    let split = vmbus::gpadl::split(5, 0x10, 0, 4096, &[0x1234]).unwrap();
    let expected = [
        0x08, 0, 0, 0, 0, 0, 0, 0, // header
        0x05, 0, 0, 0, // relid
        0x10, 0, 0, 0, // gpadl
        0x10, 0x00, // range_buflen 16
        0x01, 0x00, // rangecount 1
        0x00, 0x10, 0, 0, // byte_count 4096
        0x00, 0, 0, 0, // byte_offset 0
        0x34, 0x12, 0, 0, 0, 0, 0, 0, // PFN @28
    ];
    assert_eq!(split, vec![expected.to_vec()]);
}

#[test]
fn gpadl_body_9() {
    let bytes = [
        0x09, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0x10, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0,
    ];
    assert_eq!(
        encode::gpadl_body(1, 0x10, &0x1234_5678u64.to_le_bytes()),
        bytes
    );
    let ControlMessage::GpadlBody { message, data } = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(message.gpadl.get(), 0x10);
    assert_eq!(data, 0x1234_5678u64.to_le_bytes());
}

#[test]
fn gpadl_created_10() {
    let bytes = [
        0x0A, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x10, 0, 0, 0, 0xFF, 0xFF, 0x00, 0x80,
    ];
    assert_eq!(encode::gpadl_created(5, 0x10, 0x8000_FFFF), bytes);
    let ControlMessage::GpadlCreated(message) = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(message.status.get(), 0x8000_FFFF);
}

#[test]
fn gpadl_teardown_11_and_torndown_12() {
    let teardown = [0x0B, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x10, 0, 0, 0];
    assert_eq!(encode::gpadl_teardown(5, 0x10), teardown);
    assert!(
        matches!(parse(&teardown).unwrap(), ControlMessage::GpadlTeardown(m) if m.gpadl.get() == 0x10)
    );
    let torndown = [0x0C, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
    assert_eq!(encode::gpadl_torndown(0x10), torndown);
    assert!(
        matches!(parse(&torndown).unwrap(), ControlMessage::GpadlTorndown(m) if m.gpadl.get() == 0x10)
    );
}

#[test]
fn relid_released_13() {
    let bytes = [0x0D, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0, 0, 0];
    assert_eq!(encode::relid_released(42), bytes);
    assert!(
        matches!(parse(&bytes).unwrap(), ControlMessage::RelidReleased(m) if m.child_relid.get() == 42)
    );
}

#[test]
fn initiate_contact_14() {
    // Version 5.3 (0x00050003), VP 0, SINT 2 / VTL 0, no monitor pages.
    let bytes = [
        0x0E, 0, 0, 0, 0, 0, 0, 0, // header
        0x03, 0x00, 0x05, 0x00, // @8 version
        0x00, 0, 0, 0, // @12 target vcpu
        0x02, 0x00, 0, 0, 0, 0, 0, 0, // @16 msg_sint 2, msg_vtl 0, features 0
        0, 0, 0, 0, 0, 0, 0, 0, // @24 monitor page 1
        0, 0, 0, 0, 0, 0, 0, 0, // @32 monitor page 2
    ];
    assert_eq!(
        encode::initiate_contact(0x0005_0003, 0, encode::target_info(2, 0, 0), 0, 0),
        bytes
    );
    let ControlMessage::InitiateContact { message, extended } = parse(&bytes).unwrap() else {
        panic!()
    };
    assert!(!extended);
    assert_eq!(message.version_requested.get(), 0x0005_0003);
    // Version 4.1 with an interrupt page and monitor pages.
    let old = [
        0x0E, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x04, 0x00, 0x01, 0, 0, 0, 0x00, 0x30, 0, 0, 0, 0,
        0, 0, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0x00, 0x50, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(
        encode::initiate_contact(0x0004_0001, 1, 0x3000, 0x4000, 0x5000),
        old
    );
    let mut long = old.to_vec();
    long.extend_from_slice(&INSTANCE_WIRE);
    let ControlMessage::InitiateContact { message, extended } = parse(&long).unwrap() else {
        panic!()
    };
    assert!(extended);
    assert_eq!(message.client_id.bytes, INSTANCE_WIRE);
}

#[test]
fn version_response_15() {
    let bytes = [0x0F, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0x01, 0, 0, 0];
    assert_eq!(encode::version_response(true, 0, 1), bytes);
    let ControlMessage::VersionResponse { message, length } = parse(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(
        (message.version_supported, message.connection_state, length),
        (1, 0, 16)
    );
    assert_eq!(message.message_connection_id.get(), 1);
    // QEMU's short struct ends at 10, zero-padded to 16; a 40-byte 6.0 form.
    let long = join(&[
        &[0x0F, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0x04, 0, 0, 0],
        &[0x21, 0, 0, 0], // @16 features
        &[0, 0, 0, 0],
        &[0x00, 0x60, 0, 0, 0, 0, 0, 0],
        &[0x00, 0x70, 0, 0, 0, 0, 0, 0],
    ]);
    let ControlMessage::VersionResponse { message, length } = parse(&long).unwrap() else {
        panic!()
    };
    assert_eq!(length, 40);
    assert_eq!(message.supported_features.get(), 0x21);
    assert_eq!(message.monitor_page2.get(), 0x7000);
    assert!(matches!(
        parse(&bytes[..15]),
        Err(ParseError::TooShort { .. })
    ));
}

#[test]
fn reserved_channel_messages_18_19_20() {
    let open = [
        0x12, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0,
    ];
    let ControlMessage::OpenReservedChannel(m) = parse(&open).unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            m.channel_id.get(),
            m.target_vp.get(),
            m.target_sint.get(),
            m.ring_buffer_gpadl.get(),
            m.downstream_page_offset.get()
        ),
        (1, 2, 3, 4, 5)
    );
    let close = [
        0x13, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
    ];
    let ControlMessage::CloseReservedChannel(m) = parse(&close).unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.channel_id.get(), m.target_vp.get(), m.target_sint.get()),
        (1, 2, 3)
    );
    let response = [0x14, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0];
    let ControlMessage::CloseReservedResponse(m) = parse(&response).unwrap() else {
        panic!()
    };
    assert_eq!(m.channel_id.get(), 9);
}

#[test]
fn tl_connect_request_21_and_result_23() {
    let request = join(&[&[0x15, 0, 0, 0, 0, 0, 0, 0], &INSTANCE_WIRE, &NETWORK_WIRE]);
    assert_eq!(request.len(), 40);
    assert_eq!(
        encode::tl_connect_request(
            vmbus::Guid {
                bytes: INSTANCE_WIRE
            },
            class::NETWORK,
            None
        ),
        request
    );
    let ControlMessage::TlConnectRequest { message, extended } = parse(&request).unwrap() else {
        panic!()
    };
    assert!(!extended);
    assert_eq!(message.host_service_id, class::NETWORK);
    let with_silo = join(&[&request, &[0x55; 16]]);
    assert_eq!(
        encode::tl_connect_request(
            vmbus::Guid {
                bytes: INSTANCE_WIRE
            },
            class::NETWORK,
            Some(vmbus::Guid { bytes: [0x55; 16] })
        ),
        with_silo
    );
    let result = join(&[
        &[0x17, 0, 0, 0, 0, 0, 0, 0],
        &INSTANCE_WIRE,
        &NETWORK_WIRE,
        &[0x01, 0, 0, 0xC0],
    ]);
    assert_eq!(result.len(), 44);
    let ControlMessage::TlConnectResult(m) = parse(&result).unwrap() else {
        panic!()
    };
    assert_eq!(m.status.get(), 0xC000_0001);
    assert_eq!(m.service_id, class::NETWORK);
}

#[test]
fn modify_channel_22_and_response_24() {
    let modify = [0x16, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0];
    assert_eq!(encode::modify_channel(5, 3), modify);
    let ControlMessage::ModifyChannel(m) = parse(&modify).unwrap() else {
        panic!()
    };
    assert_eq!(m.target_vp.get(), 3);
    let response = [0x18, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(encode::modify_channel_response(5, 0), response);
    assert!(
        matches!(parse(&response).unwrap(), ControlMessage::ModifyChannelResponse(m) if m.child_relid.get() == 5)
    );
}

#[test]
fn modify_connection_25_and_response_26() {
    let modify = [
        0x19, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x00, 0x20, 0, 0, 0, 0, 0, 0,
    ];
    let ControlMessage::ModifyConnection(m) = parse(&modify).unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            m.parent_to_child_monitor_page.get(),
            m.child_to_parent_monitor_page.get()
        ),
        (0x1000, 0x2000)
    );
    let response = [0x1A, 0, 0, 0, 0, 0, 0, 0, 0x02];
    let ControlMessage::ModifyConnectionResponse(m) = parse(&response).unwrap() else {
        panic!()
    };
    assert_eq!(m.connection_state, 2);
}

#[test]
fn malformed_payloads_are_typed_errors() {
    assert_eq!(parse(&[]), Err(ParseError::NoHeader { length: 0 }));
    assert_eq!(parse(&[1, 0, 0]), Err(ParseError::NoHeader { length: 3 }));
    assert_eq!(parse(&[0; 241]), Err(ParseError::TooLong { length: 241 }));
    assert_eq!(parse(&[0; 8]), Err(ParseError::UnknownType(MessageType(0))));
    assert_eq!(
        parse(&[30, 0, 0, 0, 0, 0, 0, 0]),
        Err(ParseError::UnknownType(MessageType(30)))
    );
    assert_eq!(
        parse(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]),
        Err(ParseError::UnknownType(MessageType(u32::MAX)))
    );
    // Every defined type, truncated by one byte below its minimum, is TooShort.
    let minimums = [
        (1u8, 196usize),
        (2, 12),
        (5, 148),
        (6, 20),
        (7, 12),
        (8, 20),
        (9, 16),
        (10, 20),
        (11, 16),
        (12, 12),
        (13, 12),
        (14, 40),
        (15, 16),
        (18, 28),
        (19, 20),
        (20, 12),
        (21, 40),
        (22, 16),
        (23, 44),
        (24, 16),
        (25, 24),
        (26, 9),
    ];
    for (number, minimum) in minimums {
        let mut bytes = vec![0u8; minimum];
        bytes[0] = number;
        assert!(
            parse(&bytes).is_ok(),
            "type {number} at its minimum {minimum}"
        );
        assert_eq!(
            parse(&bytes[..minimum - 1]),
            Err(ParseError::TooShort {
                message_type: MessageType(u32::from(number)),
                length: minimum - 1,
                minimum
            }),
            "type {number}"
        );
    }
}
