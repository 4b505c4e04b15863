//! Fuzzes the ring receiver with arbitrary ring memory: the input becomes the control page
//! indices and the data area; the receiver must return packets or errors, never panic, and
//! never report more bytes than the ring holds. The same memory is read a second time through
//! the in-place API (`peek`, reads at the packet's own bounds and beyond, `release`), which
//! must agree with `read_packet`, and a third time through a receive batch (`batch`, `peek`);
//! one packet is written through `reserve` and two through a send batch.
#![no_main]

use hyperv::memory::{AtomicMemory, GuestMemory};
use libfuzzer_sys::fuzz_target;
use vmbus::ring::{
    OutgoingPacket, PacketHeader, RingPages, RingReceiver, RingSender, parse_gpa_direct_header,
};

const DATA_PAGES: u64 = 2;

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let memory = AtomicMemory::new(0, ((DATA_PAGES + 1) * 4096) as usize);
    let pages = RingPages::contiguous(0, (DATA_PAGES + 1) * 4096).unwrap();
    let word =
        |index: usize| u32::from_le_bytes(data[index * 4..index * 4 + 4].try_into().unwrap());
    let _ = memory.store_u32(0, word(0) % 0x4000); // write index, often in range
    let _ = memory.store_u32(4, word(1) % 0x4000); // read index
    let _ = memory.store_u32(12, word(2)); // pending send size
    let _ = memory.store_u32(64, word(3)); // feature bits
    let body = &data[16..];
    let length = body.len().min((DATA_PAGES * 4096) as usize);
    let _ = memory.write(4096, &body[..length]);
    if let Ok(mut receiver) = RingReceiver::new(&memory, pages.clone()) {
        let mut buffer = Vec::new();
        for _ in 0..64 {
            match receiver.read_packet(&mut buffer) {
                Ok(Some(packet)) => {
                    assert!(packet.length <= (DATA_PAGES * 4096) as usize);
                    assert!(packet.payload_offset <= packet.length);
                    let _ = packet.payload(&buffer);
                    let _ = parse_gpa_direct_header(packet.extra_header(&buffer));
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = receiver.commit();
    }
    if let Ok(mut receiver) = RingReceiver::new(&memory, pages.clone()) {
        let mut copy = Vec::new();
        for _ in 0..64 {
            let expected = receiver.read_packet(&mut copy);
            if matches!(expected, Ok(Some(_))) {
                // Put it back for `peek` (only a packet just read: after an error or an
                // empty ring `unread_last` would rewind to the one before).
                receiver.unread_last();
            }
            match receiver.peek() {
                Ok(Some(reader)) => {
                    let packet = reader.packet();
                    assert_eq!(expected, Ok(Some(packet)));
                    let mut payload = vec![0u8; reader.payload_len()];
                    reader.read_payload(0, &mut payload).unwrap();
                    assert_eq!(payload, packet.payload(&copy));
                    let mut extra = vec![0u8; reader.extra_header_len()];
                    reader.read_extra_header(0, &mut extra).unwrap();
                    assert_eq!(extra, packet.extra_header(&copy));
                    assert!(reader.read_payload(1, &mut payload).is_err());
                    reader.release().unwrap();
                }
                Ok(None) => {
                    assert_eq!(expected, Ok(None));
                    break;
                }
                Err(error) => {
                    assert_eq!(expected, Err(error));
                    break;
                }
            }
        }
    }
    // A third time through a receive batch (one window of the ring for every packet), which
    // must agree with `read_packet` on a receiver of its own.
    if let (Ok(mut copying), Ok(mut batched)) = (
        RingReceiver::new(&memory, pages.clone()),
        RingReceiver::new(&memory, pages.clone()),
    ) {
        let mut copy = Vec::new();
        let mut batch = batched.batch();
        for _ in 0..64 {
            let expected = copying.read_packet(&mut copy);
            match batch.peek() {
                Ok(Some(reader)) => {
                    let packet = reader.packet();
                    assert_eq!(expected, Ok(Some(packet)));
                    let mut payload = vec![0u8; reader.payload_len()];
                    reader.read_payload(0, &mut payload).unwrap();
                    assert_eq!(payload, packet.payload(&copy));
                    let mut extra = vec![0u8; reader.extra_header_len()];
                    reader.read_extra_header(0, &mut extra).unwrap();
                    assert_eq!(extra, packet.extra_header(&copy));
                    assert!(reader.read_payload(1, &mut payload).is_err());
                    reader.release().unwrap();
                }
                Ok(None) => {
                    assert_eq!(expected, Ok(None));
                    break;
                }
                Err(error) => {
                    assert_eq!(expected, Err(error));
                    break;
                }
            }
        }
    }
    if let Ok(mut sender) = RingSender::new(&memory, pages) {
        let payload = &body[..body.len().min(512)];
        let _ = sender.send(&OutgoingPacket::in_band(1, true, payload));
        if let Ok(mut writer) = sender.reserve(&PacketHeader::in_band(2, false), payload.len()) {
            writer.write(0, payload).unwrap();
            assert!(writer.write(1, payload).is_err());
            writer.finish().unwrap();
        }
        // Two more through a batch (one window of the ring for both).
        let mut batch = sender.batch();
        for id in [3, 4] {
            if let Ok(mut writer) = batch.reserve(&PacketHeader::in_band(id, false), payload.len())
            {
                writer.write(0, payload).unwrap();
                assert!(writer.write(1, payload).is_err());
                writer.finish().unwrap();
            }
        }
        let _ = sender.commit();
    }
});
