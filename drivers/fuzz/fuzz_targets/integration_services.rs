//! Fuzzes the integration-services core with host packets: each input is split into packets
//! fed to one channel of each service (negotiation first, with an arbitrary or a valid offer).
//! Invariants: no panic; a reply keeps the request's framing (pipe type data, pipe size =
//! bytes after it, response flags set); a reply's length never exceeds the message limit plus
//! the negotiate answer.
#![no_main]

use drivers::integration::message::MAXIMUM_PACKET_BYTES;
use drivers::integration::{GuestIdentity, IcChannel, Service};
use libfuzzer_sys::fuzz_target;

fn check_reply(reply: &[u8]) {
    assert!(reply.len() >= 28);
    assert_eq!(&reply[..4], &[1, 0, 0, 0]);
    let size = u32::from_le_bytes([reply[4], reply[5], reply[6], reply[7]]) as usize;
    assert_eq!(size, reply.len() - 8);
    assert_eq!(reply[25], 0x05);
    assert!(reply.len() <= MAXIMUM_PACKET_BYTES + 16);
}

fuzz_target!(|data: &[u8]| {
    for service in [
        Service::Heartbeat,
        Service::Shutdown,
        Service::TimeSync,
        Service::KeyValue,
    ] {
        let mut channel = IcChannel::new(service, GuestIdentity::default());
        let mut rest = data;
        while rest.len() >= 2 {
            let length = usize::from(u16::from_le_bytes([rest[0], rest[1]])) % 4096;
            let (packet, tail) = rest[2..].split_at(length.min(rest.len() - 2));
            rest = tail;
            if let Ok(handled) = channel.handle(packet)
                && let Some(reply) = handled.reply
            {
                check_reply(&reply);
            }
        }
    }
});
