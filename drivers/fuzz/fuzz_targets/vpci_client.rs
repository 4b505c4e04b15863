//! Fuzzes the vPCI client's handling of host packets: relations parsing, completions in any
//! order with any length and status, EJECT, unknown types, plus shutdown and rescind at
//! arbitrary points. Invariants: no panic, requests that want a completion never use id 0,
//! a function is never reported arrived twice without a removal in between.
#![no_main]

use drivers::vpci::{Action, VpciClient, parse_relations};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use vmbus::ring::PacketType;

fuzz_target!(|data: &[u8]| {
    let _ = parse_relations(data);
    let mut client = VpciClient::new(0x10_0000_0000).unwrap();
    client.start();
    let mut present = BTreeSet::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let (head, tail) = rest.split_at(4);
        let length = usize::from(u16::from_le_bytes([head[2], head[3]])) % 512;
        let (payload, tail) = tail.split_at(length.min(tail.len()));
        rest = tail;
        let packet_type = match head[0] % 4 {
            0 => PacketType::DATA_IN_BAND,
            1 | 2 => PacketType::COMPLETION,
            _ => PacketType(u16::from(head[0])),
        };
        match head[1] {
            0xFE => client.rescinded(),
            0xFD => {
                let _ = client.shutdown();
            }
            id => {
                let _ = client.receive(packet_type, u64::from(id % 16), payload);
            }
        }
        while let Some(action) = client.poll_action() {
            match action {
                Action::Send(message) => {
                    assert!(!message.completion_requested || message.transaction_id != 0);
                }
                Action::FunctionArrived(info) => assert!(present.insert(info.slot)),
                Action::FunctionRemoved { slot } => assert!(present.remove(&slot)),
                Action::Stopped | Action::Failed(_) => {}
            }
        }
    }
});
