//! Byte-vector tests. Every packet below is written by hand from the reference layouts
//! (torvalds/linux `include/linux/hyperv.h`: `vmbuspipe_hdr` {flags u32, msgsize u32},
//! `icmsg_hdr` {icverframe u16+u16, icmsgtype u16, icvermsg u16+u16, icmsgsize u16, status u32,
//! ictransaction_id u8, icflags u8, reserved u8×2}, `icmsg_negotiate`, the payloads; OpenVMM's
//! host messages in `vm/devices/hyperv_ic/src/`), never produced with this module's structs.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::*;

/// Pipe header: data (1), `size` bytes follow.
fn pipe(size: u32) -> Vec<u8> {
    let mut bytes = vec![0x01, 0x00, 0x00, 0x00];
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes
}

/// IC header bytes, field by field.
#[allow(clippy::too_many_arguments)]
fn ic_header(
    framework: (u16, u16),
    message_type: u16,
    message: (u16, u16),
    size: u16,
    status: u32,
    transaction: u8,
    flags: u8,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&framework.0.to_le_bytes());
    bytes.extend_from_slice(&framework.1.to_le_bytes());
    bytes.extend_from_slice(&message_type.to_le_bytes());
    bytes.extend_from_slice(&message.0.to_le_bytes());
    bytes.extend_from_slice(&message.1.to_le_bytes());
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&status.to_le_bytes());
    bytes.push(transaction);
    bytes.push(flags);
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

/// A negotiation as OpenVMM's host sends it: framework 1.0 and 3.0, then `messages`.
fn negotiate_request(messages: &[(u16, u16)]) -> Vec<u8> {
    let mut body = vec![0x02, 0x00];
    body.extend_from_slice(&(messages.len() as u16).to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00]);
    for (major, minor) in messages {
        body.extend_from_slice(&major.to_le_bytes());
        body.extend_from_slice(&minor.to_le_bytes());
    }
    let mut packet = pipe(20 + body.len() as u32);
    packet.extend(ic_header((0, 0), 0, (0, 0), body.len() as u16, 0, 0, 0x03));
    packet.extend(body);
    packet
}

fn negotiated(service: Service, messages: &[(u16, u16)]) -> IcChannel {
    let mut channel = IcChannel::new(service, GuestIdentity::default());
    channel.handle(&negotiate_request(messages)).unwrap();
    assert!(channel.negotiated().is_some());
    channel
}

#[test]
fn heartbeat_negotiation_reply_is_byte_exact() {
    let mut channel = IcChannel::new(Service::Heartbeat, GuestIdentity::default());
    let handled = channel
        .handle(&negotiate_request(&[(1, 0), (3, 0)]))
        .unwrap();
    let expected: Vec<u8> = [
        // pipe: data, 36 bytes
        &[0x01, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00][..],
        // IC header: versions 0.0, type 0, size 0x10, status 0, transaction 0, flags 5
        &[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 0, 0x00, 0x05, 0, 0,
        ],
        // one framework, one message version; 3.0 and 3.0
        &[
            0x01, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
        ],
    ]
    .concat();
    assert_eq!(handled.reply.unwrap(), expected);
    let agreed = channel.negotiated().unwrap();
    assert_eq!(
        (agreed.framework.major.get(), agreed.message.major.get()),
        (3, 3)
    );
}

#[test]
fn shutdown_negotiates_the_highest_common_version() {
    let mut channel = IcChannel::new(Service::Shutdown, GuestIdentity::default());
    let handled = channel
        .handle(&negotiate_request(&[(1, 0), (3, 0), (3, 1), (3, 2)]))
        .unwrap();
    let reply = handled.reply.unwrap();
    // message version 3.2 at the end
    assert_eq!(&reply[reply.len() - 4..], &[0x03, 0x00, 0x02, 0x00]);
    // framework 3.0 before it
    assert_eq!(
        &reply[reply.len() - 8..reply.len() - 4],
        &[0x03, 0x00, 0x00, 0x00]
    );
}

#[test]
fn timesync_with_only_old_host_versions_picks_1_0() {
    let mut channel = IcChannel::new(Service::TimeSync, GuestIdentity::default());
    let reply = channel
        .handle(&negotiate_request(&[(1, 0)]))
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(&reply[reply.len() - 4..], &[0x01, 0x00, 0x00, 0x00]);
}

#[test]
fn unknown_versions_are_answered_with_empty_lists() {
    let mut channel = IcChannel::new(Service::Heartbeat, GuestIdentity::default());
    let handled = channel.handle(&negotiate_request(&[(9, 9)])).unwrap();
    let reply = handled.reply.unwrap();
    // counts 0, 0
    assert_eq!(&reply[28..32], &[0, 0, 0, 0]);
    assert_eq!(handled.event, None);
    assert_eq!(channel.negotiated(), None);
    // and heartbeats are then refused
    let heartbeat = heartbeat_request(7);
    assert_eq!(channel.handle(&heartbeat), Err(IcError::NotNegotiated(1)));
}

fn heartbeat_request(sequence: u64) -> Vec<u8> {
    // Linux's heartbeat_msg_data: seq_num u64 + 8 reserved u32.
    let mut body = sequence.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 32]);
    let mut packet = pipe(60);
    packet.extend(ic_header((3, 0), 1, (3, 0), 40, 0, 0x11, 0x03));
    packet.extend(body);
    packet
}

#[test]
fn heartbeat_reply_carries_sequence_plus_one_and_echoes_the_transaction() {
    let mut channel = negotiated(Service::Heartbeat, &[(1, 0), (3, 0)]);
    let handled = channel.handle(&heartbeat_request(0x41)).unwrap();
    let mut expected = pipe(60);
    expected.extend(ic_header((3, 0), 1, (3, 0), 40, 0, 0x11, 0x05));
    expected.extend_from_slice(&[0x42, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[0; 32]);
    assert_eq!(handled.reply.unwrap(), expected);
    assert_eq!(handled.event, Some(IcEvent::Heartbeat { sequence: 0x41 }));
}

#[test]
fn openvmm_sized_heartbeat_is_answered_at_its_own_size() {
    // OpenVMM's HeartbeatMessage: sequence u64, application state u32, 4 reserved bytes.
    let mut channel = negotiated(Service::Heartbeat, &[(3, 0)]);
    let mut packet = pipe(36);
    packet.extend(ic_header((3, 0), 1, (3, 0), 16, 0, 0, 0x03));
    packet.extend_from_slice(&[0xFF; 8]);
    packet.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let reply = channel.handle(&packet).unwrap().reply.unwrap();
    assert_eq!(reply.len(), 44);
    // u64::MAX + 1 wraps
    assert_eq!(&reply[28..36], &[0; 8]);
}

fn shutdown_request(flags: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x8000_0000u32.to_le_bytes()); // SHTDN_REASON_FLAG_PLANNED
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&flags.to_le_bytes());
    body.extend_from_slice(&[0; 2048]);
    let mut packet = pipe(20 + 2060);
    packet.extend(ic_header((3, 0), 3, (3, 2), 2060, 0, 0, 0x03));
    packet.extend(body);
    packet
}

#[test]
fn shutdown_power_off_is_accepted() {
    let mut channel = negotiated(Service::Shutdown, &[(3, 2)]);
    for flags in [0, 1] {
        let handled = channel.handle(&shutdown_request(flags)).unwrap();
        let reply = handled.reply.unwrap();
        assert_eq!(&reply[20..24], &[0, 0, 0, 0], "status HV_S_OK");
        assert_eq!(reply[25], 0x05);
        assert_eq!(
            handled.event,
            Some(IcEvent::ShutdownRequested(ShutdownKind::PowerOff))
        );
    }
}

#[test]
fn shutdown_restart_is_accepted() {
    let mut channel = negotiated(Service::Shutdown, &[(3, 2)]);
    for flags in [2, 3] {
        let handled = channel.handle(&shutdown_request(flags)).unwrap();
        assert_eq!(&handled.reply.unwrap()[20..24], &[0, 0, 0, 0]);
        assert_eq!(
            handled.event,
            Some(IcEvent::ShutdownRequested(ShutdownKind::Restart))
        );
    }
}

#[test]
fn hibernate_is_refused_with_hv_e_fail() {
    let mut channel = negotiated(Service::Shutdown, &[(3, 2)]);
    for flags in [4, 5, 8] {
        let handled = channel.handle(&shutdown_request(flags)).unwrap();
        // HV_E_FAIL 0x80004005
        assert_eq!(&handled.reply.unwrap()[20..24], &[0x05, 0x40, 0x00, 0x80]);
        assert_eq!(handled.event, Some(IcEvent::ShutdownRefused { flags }));
    }
}

#[test]
fn timesync_4_0_sample_carries_the_reference_time() {
    let mut channel = negotiated(Service::TimeSync, &[(4, 0)]);
    let mut body = Vec::new();
    body.extend_from_slice(&0x01DC_1234_5678_9ABCu64.to_le_bytes()); // parenttime
    body.extend_from_slice(&0x0000_0000_0012_3456u64.to_le_bytes()); // vmreferencetime
    body.extend_from_slice(&[0x01, 0x00, 0x00, 0, 0, 0]); // flags SYNC, leap, stratum, reserved
    let mut packet = pipe(20 + 22);
    packet.extend(ic_header((3, 0), 4, (4, 0), 22, 0, 0, 0x03));
    packet.extend(body);
    let handled = channel.handle(&packet).unwrap();
    assert_eq!(
        handled.event,
        Some(IcEvent::TimeSample(TimeSample {
            host_time: 0x01DC_1234_5678_9ABC,
            reference_time: Some(0x12_3456),
            flags: 1,
        }))
    );
    assert_eq!(handled.reply.unwrap()[25], 0x05);
}

#[test]
fn timesync_3_0_sample_uses_the_old_layout() {
    let mut channel = negotiated(Service::TimeSync, &[(1, 0), (3, 0)]);
    let mut body = Vec::new();
    body.extend_from_slice(&0x01DC_0000_0000_0001u64.to_le_bytes()); // parenttime
    body.extend_from_slice(&[0xAA; 8]); // childtime
    body.extend_from_slice(&[0xBB; 8]); // roundtriptime
    body.push(0x02); // SAMPLE
    let mut packet = pipe(20 + 25);
    packet.extend(ic_header((3, 0), 4, (3, 0), 25, 0, 0, 0x03));
    packet.extend(body);
    let handled = channel.handle(&packet).unwrap();
    assert_eq!(
        handled.event,
        Some(IcEvent::TimeSample(TimeSample {
            host_time: 0x01DC_0000_0000_0001,
            reference_time: None,
            flags: 2,
        }))
    );
}

#[test]
fn a_sample_without_the_transaction_flag_gets_no_reply() {
    // OpenVMM's time sync host sends samples with flags 0.
    let mut channel = negotiated(Service::TimeSync, &[(4, 0)]);
    let mut packet = pipe(42);
    packet.extend(ic_header((3, 0), 4, (4, 0), 22, 0, 0, 0x00));
    packet.extend_from_slice(&[0; 22]);
    let handled = channel.handle(&packet).unwrap();
    assert_eq!(handled.reply, None);
    assert!(matches!(handled.event, Some(IcEvent::TimeSample(_))));
}

#[test]
fn malformed_packets_are_rejected() {
    let mut channel = negotiated(Service::Heartbeat, &[(3, 0)]);
    // shorter than the pipe header
    assert!(matches!(
        channel.handle(&[1, 0, 0]),
        Err(IcError::Truncated { .. })
    ));
    // pipe type 2 (partial)
    let mut packet = heartbeat_request(1);
    packet[0] = 2;
    assert_eq!(channel.handle(&packet), Err(IcError::BadPipeType(2)));
    // pipe size beyond the packet
    let mut packet = heartbeat_request(1);
    packet[4] = 0xFF;
    assert!(matches!(
        channel.handle(&packet),
        Err(IcError::BadPipeSize { .. })
    ));
    // icmsgsize beyond the packet
    let mut packet = heartbeat_request(1);
    packet[18] = 0xFF;
    assert!(matches!(
        channel.handle(&packet),
        Err(IcError::Truncated { .. })
    ));
    // heartbeat body shorter than the sequence number
    let mut packet = pipe(24);
    packet.extend(ic_header((3, 0), 1, (3, 0), 4, 0, 0, 0x03));
    packet.extend_from_slice(&[1, 2, 3, 4]);
    assert!(matches!(
        channel.handle(&packet),
        Err(IcError::Truncated { .. })
    ));
    // a response instead of a request
    let mut packet = heartbeat_request(1);
    packet[25] = 0x05;
    assert_eq!(channel.handle(&packet), Err(IcError::NotARequest(0x05)));
    // another service's message type
    let packet = shutdown_request(0);
    assert_eq!(
        channel.handle(&packet),
        Err(IcError::UnexpectedMessageType(3))
    );
}

#[test]
fn version_counts_beyond_the_body_or_the_limit_are_rejected() {
    let mut channel = IcChannel::new(Service::Heartbeat, GuestIdentity::default());
    let mut packet = negotiate_request(&[(3, 0)]);
    // message count 5 with one version present
    packet[30] = 5;
    assert!(matches!(
        channel.handle(&packet),
        Err(IcError::BadVersionCounts { .. })
    ));
    let mut packet = negotiate_request(&[(3, 0)]);
    // framework count 101
    packet[28] = 101;
    assert!(matches!(
        channel.handle(&packet),
        Err(IcError::BadVersionCounts { .. })
    ));
}

/// A KVP request: header (operation, pool, pad), then for ENUMERATE the index, then a
/// 2572-byte record.
fn kvp_request(operation: u8, pool: u8, index: Option<u32>, key: &str) -> Vec<u8> {
    let mut body = vec![operation, pool, 0, 0];
    if let Some(index) = index {
        body.extend_from_slice(&index.to_le_bytes());
    }
    let key_units: Vec<u8> = key.encode_utf16().flat_map(u16::to_le_bytes).collect();
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&((key_units.len() + 2) as u32).to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    let mut key_array = [0u8; 512];
    key_array[..key_units.len()].copy_from_slice(&key_units);
    body.extend_from_slice(&key_array);
    body.extend_from_slice(&[0; 2048]);
    let mut packet = pipe(20 + body.len() as u32);
    packet.extend(ic_header((3, 0), 2, (4, 0), body.len() as u16, 0, 0, 0x03));
    packet.extend(body);
    packet
}

fn utf16_at(bytes: &[u8], size: usize) -> alloc::string::String {
    let units: Vec<u16> = bytes[..size - 2]
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    alloc::string::String::from_utf16(&units).unwrap()
}

#[test]
fn kvp_enumerates_the_intrinsic_items_then_continues() {
    let mut channel = negotiated(Service::KeyValue, &[(4, 0)]);
    let reply = channel
        .handle(&kvp_request(3, 2, Some(2), ""))
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(&reply[20..24], &[0, 0, 0, 0]);
    // record at 28 + 4 (header) + 4 (index)
    let record = &reply[36..];
    let key_size = u32::from_le_bytes(record[4..8].try_into().unwrap()) as usize;
    let value_size = u32::from_le_bytes(record[8..12].try_into().unwrap()) as usize;
    assert_eq!(utf16_at(&record[12..], key_size), "OSName");
    assert_eq!(utf16_at(&record[12 + 512..], value_size), "dxgos");
    let past = channel
        .handle(&kvp_request(3, 2, Some(5), ""))
        .unwrap()
        .reply
        .unwrap();
    // HV_S_CONT 0x80070103
    assert_eq!(&past[20..24], &[0x03, 0x01, 0x07, 0x80]);
}

#[test]
fn kvp_get_by_key_and_other_pools_are_answered() {
    let mut channel = negotiated(Service::KeyValue, &[(4, 0)]);
    let reply = channel
        .handle(&kvp_request(0, 2, None, "ProcessorArchitecture"))
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(&reply[20..24], &[0, 0, 0, 0]);
    let record = &reply[32..];
    let value_size = u32::from_le_bytes(record[8..12].try_into().unwrap()) as usize;
    assert_eq!(utf16_at(&record[12 + 512..], value_size), "x86_64");
    // an unknown key, a SET and the external pool fail cleanly with HV_E_FAIL
    for packet in [
        kvp_request(0, 2, None, "Nope"),
        kvp_request(1, 2, None, "OSName"),
        kvp_request(3, 0, Some(0), ""),
    ] {
        let reply = channel.handle(&packet).unwrap().reply.unwrap();
        assert_eq!(&reply[20..24], &[0x05, 0x40, 0x00, 0x80]);
    }
}

#[test]
fn host_time_converts_to_the_unix_epoch() {
    // 1970-01-01 is 116444736000000000 × 100 ns after 1601-01-01.
    assert_eq!(
        host_time_to_unix_nanoseconds(116_444_736_000_000_000),
        Some(0)
    );
    assert_eq!(
        host_time_to_unix_nanoseconds(116_444_736_000_000_001),
        Some(100)
    );
    assert_eq!(host_time_to_unix_nanoseconds(5), None);
}

#[test]
fn utc_time_of_known_instants() {
    assert_eq!(
        UtcTime::from_unix_nanoseconds(0).to_string(),
        "1970-01-01T00:00:00Z"
    );
    // 2000-02-29T12:34:56Z = 951827696 s
    assert_eq!(
        UtcTime::from_unix_nanoseconds(951_827_696_000_000_000).to_string(),
        "2000-02-29T12:34:56Z"
    );
    // 2031-01-01T00:00:00Z = 1924992000 s
    assert_eq!(
        UtcTime::from_unix_nanoseconds(1_924_992_000_000_000_000).to_string(),
        "2031-01-01T00:00:00Z"
    );
}

#[test]
fn a_sample_is_advanced_by_the_reference_time_since_it_was_taken() {
    let sample = TimeSample {
        host_time: 1_000,
        reference_time: Some(500),
        flags: 1,
    };
    assert_eq!(sample_time_now(&sample, Some(800)), 1_300);
    // no counter, a counter behind the sample, or a sample over a minute old: as sent
    assert_eq!(sample_time_now(&sample, None), 1_000);
    assert_eq!(sample_time_now(&sample, Some(100)), 1_000);
    assert_eq!(sample_time_now(&sample, Some(500 + 600_000_001)), 1_000);
}

#[test]
fn only_a_sample_with_a_reference_time_reads_the_counter() {
    let mut reads = 0;
    let old = TimeSample {
        host_time: 133_000_000_000_000_000,
        reference_time: Some(20_000_000),
        flags: 1,
    };
    // Taken 3 s (30,000,000 × 100 ns) before the counter read: advanced by exactly that.
    let now = sample_time_with_counter(&old, || {
        reads += 1;
        Some(50_000_000)
    });
    assert_eq!(now, 133_000_000_030_000_000);
    assert_eq!(reads, 1);
    // The counter cannot be read: as sent.
    assert_eq!(sample_time_with_counter(&old, || None), old.host_time);
    // A 1.0/3.0 sample has no reference time: as sent, and the counter is not read.
    let older_layout = TimeSample {
        reference_time: None,
        ..old
    };
    let now = sample_time_with_counter(&older_layout, || {
        reads += 1;
        Some(50_000_000)
    });
    assert_eq!(now, older_layout.host_time);
    assert_eq!(reads, 1);
}
