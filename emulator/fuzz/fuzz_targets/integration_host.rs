//! Fuzzes the emulated host's integration services with guest packets: the host opens its
//! four IC channels and ticks its clock, and each input chunk becomes a guest packet on one of
//! them, answering an outstanding request (or none). Invariants: no panic; every host packet
//! is an in-band packet.
#![no_main]

use emulator::integration::{IcHost, IcService, IntegrationConfig};
use emulator::vmbus_server::{ReplyKind, ServicePacket};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

const RELIDS: [(u32, IcService); 4] = [
    (1, IcService::Heartbeat),
    (2, IcService::Shutdown),
    (3, IcService::TimeSync),
    (4, IcService::KeyValue),
];

fuzz_target!(|data: &[u8]| {
    let mut host = IcHost::new(IntegrationConfig::default(), &RELIDS);
    for (relid, _) in RELIDS {
        host.set_open(relid, true);
    }
    let mut sent = Vec::new();
    let mut rest = data;
    let mut second = 0;
    while rest.len() >= 3 {
        let (relid_byte, length) = (rest[0], usize::from(rest[1]) * 8 % 3000);
        let (payload, tail) = rest[3..].split_at(length.min(rest.len() - 3));
        rest = tail;
        while let Some(reply) = host.poll_reply() {
            assert!(matches!(reply.kind, ReplyKind::InBand { .. }));
            sent.push((reply.relid, reply.transaction_id));
        }
        let (relid, transaction_id) = match sent.get(usize::from(relid_byte)) {
            Some(known) => *known,
            None => (u32::from(relid_byte % 6), u64::from(relid_byte)),
        };
        host.receive(ServicePacket {
            relid,
            class: vmbus::guid::Guid::ZERO,
            instance: vmbus::guid::Guid::ZERO,
            packet_type: vmbus::ring::PacketType::DATA_IN_BAND,
            transaction_id,
            completion_requested: false,
            payload,
        });
        if rest.first().is_some_and(|byte| byte & 1 == 1) {
            host.set_open(u32::from(relid_byte % 5), relid_byte & 2 == 0);
        }
        second += 1;
        host.tick(Duration::from_secs(second));
    }
});
