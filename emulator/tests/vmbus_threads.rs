//! The echo channel with guest and host on two threads sharing one `AtomicMemory`, signalling
//! each other only through the ring rules (empty→non-empty with the interrupt mask,
//! pending_send_sz crossings). Each side sleeps whenever it has nothing to do, so a lost
//! wake-up shows up as a stall (reported after a generous timeout, not a speed target).

use emulator::vmbus_server::loopback::Loopback;
use emulator::vmbus_server::{ServerConfig, ServerOutput};
use std::sync::mpsc;
use std::time::Duration;
use vmbus::client::{Action, ClientConfig};
use vmbus::guid::class;
use vmbus::ring::{OutgoingPacket, RingError};

const STALL: Duration = Duration::from_secs(30);

enum ToHost {
    Signal(u32),
    Stop,
}

fn run(ring_pages: u64, count: u64, max_payload: usize) {
    let mut pair = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 8 << 20);
    pair.connect();
    let relid = pair.server.relid_of(class::DXGOS_ECHO).unwrap();
    let mut channel = pair.open_channel(relid, ring_pages).unwrap();
    let (mut client, mut server, _memory) = pair.into_parts();
    let (to_host, host_inbox) = mpsc::channel::<ToHost>();
    let (to_guest, guest_inbox) = mpsc::channel::<u32>();
    let host = std::thread::spawn(move || {
        while let Ok(ToHost::Signal(connection_id)) = host_inbox.recv() {
            server.on_guest_signal(connection_id).unwrap();
            while let Some(output) = server.poll_output() {
                if let ServerOutput::SetEventFlag { relid, .. } = output {
                    let _ = to_guest.send(relid);
                }
            }
        }
    });
    let signal_host = |client: &mut vmbus::client::Client| {
        client.signal_channel(relid).unwrap();
        while let Some(action) = client.poll_action() {
            if let Action::SignalEvent { connection_id } = action {
                to_host.send(ToHost::Signal(connection_id)).unwrap();
            }
        }
    };
    let mut next_id = 1u64;
    let mut expected = 1u64;
    let mut pending: Option<Vec<u8>> = None;
    let mut buffer = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    while expected <= count {
        let mut progressed = false;
        // Send while there is room.
        let mut blocked = false;
        while next_id <= count {
            let payload = pending.take().unwrap_or_else(|| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let length = 8 + (seed as usize) % max_payload;
                let mut bytes = vec![(next_id % 251) as u8; length];
                bytes[..8].copy_from_slice(&next_id.to_le_bytes());
                bytes
            });
            match channel
                .rings
                .sender
                .send(&OutgoingPacket::in_band(next_id, false, &payload))
            {
                Ok(signal) => {
                    progressed = true;
                    next_id += 1;
                    if signal {
                        signal_host(&mut client);
                    }
                }
                Err(RingError::Full { needed }) => {
                    pending = Some(payload);
                    if channel.rings.sender.wait_for_space(needed).unwrap() {
                        continue;
                    }
                    blocked = true;
                    break;
                }
                Err(error) => panic!("{error}"),
            }
        }
        // Receive everything, then unmask and re-check before sleeping.
        loop {
            while let Some(packet) = channel.rings.receiver.read_packet(&mut buffer).unwrap() {
                let payload = packet.payload(&buffer);
                assert_eq!(packet.transaction_id, expected);
                assert_eq!(
                    u64::from_le_bytes(payload[..8].try_into().unwrap()),
                    expected
                );
                assert!(
                    payload[8..]
                        .iter()
                        .all(|byte| *byte == (expected % 251) as u8 || *byte == 0)
                );
                expected += 1;
                progressed = true;
            }
            if channel.rings.receiver.commit().unwrap() {
                signal_host(&mut client);
            }
            if channel.rings.receiver.unmask_and_check_empty().unwrap() {
                break;
            }
        }
        let sender_idle = blocked || next_id > count;
        if !progressed && sender_idle && expected <= count {
            // Nothing to do until the host signals.
            match guest_inbox.recv_timeout(STALL) {
                Ok(relid_signalled) => assert_eq!(relid_signalled, relid),
                Err(_) => panic!(
                    "stalled: sent {} received {} (lost wake-up?)",
                    next_id - 1,
                    expected - 1
                ),
            }
            while guest_inbox.try_recv().is_ok() {}
        }
    }
    to_host.send(ToHost::Stop).unwrap();
    host.join().unwrap();
}

#[test]
fn echo_across_threads_with_small_rings() {
    run(2, 20_000, 1500);
}

#[test]
fn echo_across_threads_with_default_rings() {
    run(65, 3_000, 60_000);
}
