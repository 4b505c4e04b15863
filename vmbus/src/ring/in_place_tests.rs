//! Tests of the in-place API (`RingSender::reserve` / `PacketWriter`, `RingReceiver::peek` /
//! `PacketReader`): the same wire bytes as the copying API, the same batching and signals,
//! every access bounded by the packet, and a peer that rewrites the ring meanwhile.

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use hyperv::memory::{AtomicMemory, GuestMemory};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const BASE: u64 = 0x10_0000;

/// A ring of one control page and `data_pages` data pages at `BASE`, its data area filled
/// with 0xFF (so padding the sender leaves unwritten would show).
fn ring(
    data_pages: u64,
) -> (
    Arc<AtomicMemory>,
    RingSender<Arc<AtomicMemory>>,
    RingReceiver<Arc<AtomicMemory>>,
) {
    let (memory, sender, receiver) = super::tests::ring(data_pages);
    memory
        .write(BASE + 4096, &vec![0xFF; (data_pages * 4096) as usize])
        .unwrap();
    (memory, sender, receiver)
}

/// Sends `payload` through `reserve`, written in two pieces (split at `split`).
fn send_in_place<M: hyperv::memory::GuestMemory>(
    sender: &mut RingSender<M>,
    header: &PacketHeader<'_>,
    payload: &[u8],
    split: usize,
) -> Result<(), RingError> {
    let mut packet = sender.reserve(header, payload.len())?;
    assert_eq!(packet.payload_len(), payload.len());
    let split = split.min(payload.len());
    packet.write(split, &payload[split..])?;
    packet.write(0, &payload[..split])?;
    packet.finish()
}

/// The ring's data area and write index.
fn ring_state(memory: &AtomicMemory, data_pages: u64) -> (Vec<u8>, u32) {
    let mut bytes = vec![0u8; (data_pages * 4096) as usize];
    memory.read(BASE + 4096, &mut bytes).unwrap();
    (bytes, memory.load_u32(BASE).unwrap())
}

#[test]
fn in_place_packets_have_the_bytes_write_packet_writes() {
    let extra = [
        0xA1u8, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC,
    ];
    for extra_header in [&[][..], &extra[..]] {
        let (copying_memory, mut copying, _) = ring(1);
        let (in_place_memory, mut in_place, _) = ring(1);
        for length in 0..=41usize {
            let payload: Vec<u8> = (0..length).map(|index| (index * 3 + 1) as u8).collect();
            let packet = OutgoingPacket {
                packet_type: PacketType::DATA_USING_GPA_DIRECT,
                transaction_id: 0x1122_3344_0000_0000 | length as u64,
                completion_requested: length % 2 == 0,
                extra_header,
                payload: &payload,
            };
            copying.write_packet(&packet).unwrap();
            send_in_place(&mut in_place, &packet.header(), &payload, length / 3).unwrap();
            assert_eq!(copying.commit(), in_place.commit());
        }
        assert_eq!(
            ring_state(&copying_memory, 1),
            ring_state(&in_place_memory, 1),
            "extra header of {} bytes",
            extra_header.len()
        );
    }
}

#[test]
fn the_reader_sees_what_read_packet_sees() {
    let (_memory, mut sender, mut receiver) = ring(2);
    let ranges = [GpaDirectRange {
        byte_count: 5000,
        byte_offset: 16,
        pfns: vec![0x1234, 0x1235],
    }];
    let extra = gpa_direct_header(&ranges);
    let payloads: [&[u8]; 3] = [&[], &[1, 2, 3], &[9; 40]];
    let packets = [
        OutgoingPacket::in_band(1, true, payloads[0]),
        OutgoingPacket::completion(2, payloads[1]),
        OutgoingPacket::gpa_direct(3, &extra, payloads[2]),
    ];
    for packet in &packets {
        sender.write_packet(packet).unwrap();
    }
    sender.commit().unwrap();
    for packet in &packets {
        let mut buffer = Vec::new();
        let expected = receiver.read_packet(&mut buffer).unwrap().unwrap();
        receiver.unread_last();
        let reader = receiver.peek().unwrap().unwrap();
        assert_eq!(reader.packet(), expected);
        assert_eq!(reader.payload_len(), expected.payload(&buffer).len());
        assert_eq!(
            reader.extra_header_len(),
            expected.extra_header(&buffer).len()
        );
        let mut payload = vec![0u8; reader.payload_len()];
        reader.read_payload(0, &mut payload).unwrap();
        assert_eq!(payload, expected.payload(&buffer));
        assert_eq!(&payload[..packet.payload.len()], packet.payload);
        let mut extra_header = vec![0u8; reader.extra_header_len()];
        reader.read_extra_header(0, &mut extra_header).unwrap();
        assert_eq!(
            &extra_header[..packet.extra_header.len()],
            packet.extra_header
        );
        // A piece from the middle.
        if reader.payload_len() >= 8 {
            let mut piece = [0u8; 5];
            reader.read_payload(3, &mut piece).unwrap();
            assert_eq!(&piece[..], &payload[3..8]);
        }
        reader.release().unwrap();
    }
    assert!(receiver.peek().unwrap().is_none());
    assert!(!receiver.commit().unwrap());
}

#[test]
fn accesses_outside_the_packet_are_errors() {
    let (_memory, mut sender, mut receiver) = ring(1);
    let mut writer = sender
        .reserve(&PacketHeader::in_band(7, false), 10)
        .unwrap();
    let outside = |offset, length| RingError::OutsidePacket {
        offset,
        length,
        packet_length: 10,
    };
    assert_eq!(writer.write(8, &[0; 3]), Err(outside(8, 3)));
    assert_eq!(writer.write(11, &[]), Err(outside(11, 0)));
    assert_eq!(writer.write(usize::MAX, &[0]), Err(outside(usize::MAX, 1)));
    writer.write(0, &[5; 10]).unwrap();
    writer.write(10, &[]).unwrap();
    writer.finish().unwrap();
    sender.commit().unwrap();
    let reader = receiver.peek().unwrap().unwrap();
    // The payload is 16 bytes on the wire (10 padded to 8); there is no extra header.
    assert_eq!(reader.payload_len(), 16);
    assert_eq!(
        reader.read_payload(1, &mut [0; 16]),
        Err(RingError::OutsidePacket {
            offset: 1,
            length: 16,
            packet_length: 16
        })
    );
    assert_eq!(
        reader.read_payload(usize::MAX, &mut [0; 2]),
        Err(RingError::OutsidePacket {
            offset: usize::MAX,
            length: 2,
            packet_length: 16
        })
    );
    assert_eq!(
        reader.read_extra_header(0, &mut [0; 1]),
        Err(RingError::OutsidePacket {
            offset: 0,
            length: 1,
            packet_length: 0
        })
    );
    let mut payload = [0u8; 16];
    reader.read_payload(0, &mut payload).unwrap();
    assert_eq!(payload, [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0]);
    reader.release().unwrap();
}

#[test]
fn an_abandoned_reservation_sends_nothing() {
    let (memory, mut sender, mut receiver) = ring(1);
    let mut writer = sender
        .reserve(&PacketHeader::in_band(1, false), 100)
        .unwrap();
    writer.write(0, &[1; 100]).unwrap();
    drop(writer);
    assert!(!sender.commit().unwrap(), "nothing to publish");
    assert_eq!(memory.load_u32(BASE).unwrap(), 0);
    assert!(receiver.peek().unwrap().is_none());
    // The next packet takes the abandoned one's place.
    send_in_place(&mut sender, &PacketHeader::in_band(2, false), &[2; 8], 0).unwrap();
    assert!(sender.commit().unwrap());
    assert_eq!(memory.load_u32(BASE).unwrap(), 16 + 8 + 8);
    let reader = receiver.peek().unwrap().unwrap();
    assert_eq!(reader.packet().transaction_id, 2);
    reader.release().unwrap();
}

#[test]
fn a_peeked_packet_stays_until_released_and_committed() {
    let (memory, mut sender, mut receiver) = ring(1);
    for id in 1..=2 {
        send_in_place(
            &mut sender,
            &PacketHeader::in_band(id, false),
            &[id as u8; 24],
            5,
        )
        .unwrap();
    }
    sender.commit().unwrap();
    let first = receiver.peek().unwrap().unwrap().packet();
    assert_eq!(first.transaction_id, 1);
    // Dropped without release: the same packet again.
    let again = receiver.peek().unwrap().unwrap();
    assert_eq!(again.packet(), first);
    again.release().unwrap();
    assert_eq!(memory.load_u32(BASE + 4).unwrap(), 0, "not published yet");
    // `unread_last` puts a released, uncommitted packet back, as after `read_packet`.
    receiver.unread_last();
    receiver.peek().unwrap().unwrap().release().unwrap();
    let second = receiver.peek().unwrap().unwrap();
    assert_eq!(second.packet().transaction_id, 2);
    second.release().unwrap();
    receiver.commit().unwrap();
    assert_eq!(memory.load_u32(BASE + 4).unwrap(), 2 * (16 + 24 + 8));
    // `revert` brings back everything since the last commit: nothing now.
    receiver.revert();
    assert!(receiver.peek().unwrap().is_none());
}

#[test]
fn in_place_packets_wrap_and_span_scattered_pages() {
    // A one-page ring wraps every few packets; a ring on scattered pages splits most of
    // them. Both go through the ring path, in pieces written and read at offsets.
    let scattered = Arc::new(AtomicMemory::new(0, 16 * 4096));
    let pages = RingPages::from_pfns(&[9, 3, 7, 4]).unwrap();
    initialize_control_page(&scattered, &pages, 0).unwrap();
    let rings = [
        {
            let (memory, sender, receiver) = ring(1);
            drop(memory);
            (sender, receiver)
        },
        (
            RingSender::new(scattered.clone(), pages.clone()).unwrap(),
            RingReceiver::new(scattered.clone(), pages).unwrap(),
        ),
    ];
    for (mut sender, mut receiver) in rings {
        let most = sender.max_payload().min(5000);
        for round in 0..300u32 {
            let length = (round as usize * 997) % most;
            let payload: Vec<u8> = (0..length)
                .map(|index| ((index as u32 * 7) ^ round) as u8)
                .collect();
            let header = PacketHeader::in_band(u64::from(round), false);
            send_in_place(&mut sender, &header, &payload, length / 2).unwrap();
            sender.commit().unwrap();
            let reader = receiver.peek().unwrap().unwrap();
            assert_eq!(reader.packet().transaction_id, u64::from(round));
            let mut back = vec![0u8; length];
            let half = length / 3;
            reader.read_payload(half, &mut back[half..]).unwrap();
            reader.read_payload(0, &mut back[..half]).unwrap();
            assert_eq!(back, payload, "round {round}");
            reader.release().unwrap();
            receiver.commit().unwrap();
        }
    }
}

#[test]
fn reserve_reports_full_and_signals_like_send() {
    let (_memory, mut sender, mut receiver) = ring(1);
    // 1024-byte payloads take 1048 ring bytes: three fit in 4096, a fourth does not.
    for id in 0..3 {
        send_in_place(
            &mut sender,
            &PacketHeader::in_band(id, false),
            &[0; 1024],
            0,
        )
        .unwrap();
    }
    assert!(sender.commit().unwrap(), "empty → non-empty signals");
    assert!(matches!(
        sender.reserve(&PacketHeader::in_band(3, false), 1024),
        Err(RingError::Full { needed: 1048 })
    ));
    assert!(matches!(
        sender.reserve(&PacketHeader::in_band(3, false), 1 << 20),
        Err(RingError::TooLarge { .. })
    ));
    receiver.peek().unwrap().unwrap().release().unwrap();
    receiver.commit().unwrap();
    send_in_place(&mut sender, &PacketHeader::in_band(3, false), &[0; 1024], 0).unwrap();
    assert!(
        !sender.commit().unwrap(),
        "the ring was not empty: no signal"
    );
}

#[test]
fn a_packet_rewritten_after_peek_is_read_by_its_validated_descriptor() {
    let (memory, mut sender, mut receiver) = ring(1);
    send_in_place(
        &mut sender,
        &PacketHeader::in_band(1, false),
        &[0x11; 32],
        0,
    )
    .unwrap();
    sender.commit().unwrap();
    let reader = receiver.peek().unwrap().unwrap();
    // The peer now rewrites the descriptor (a huge length), the payload and its index.
    memory
        .write(BASE + 4096, &[0x06, 0, 2, 0, 0xFF, 0x7F, 0, 0])
        .unwrap();
    memory.write(BASE + 4096 + 16, &[0x22; 32]).unwrap();
    memory.store_u32(BASE, 4000).unwrap();
    // The reader keeps the copy it validated: 32 payload bytes, whatever the ring holds now
    // (here the new bytes: the payload is read in place), and consuming skips exactly the
    // packet that was validated.
    assert_eq!(reader.payload_len(), 32);
    let mut payload = [0u8; 32];
    reader.read_payload(0, &mut payload).unwrap();
    assert_eq!(payload, [0x22; 32]);
    assert!(matches!(
        reader.read_payload(0, &mut [0u8; 33]),
        Err(RingError::OutsidePacket { .. })
    ));
    reader.release().unwrap();
    receiver.commit().unwrap();
    assert_eq!(memory.load_u32(BASE + 4).unwrap(), 16 + 32 + 8);
}

/// The three ways to read the next packet, for tests that must hold for each.
#[derive(Clone, Copy, Debug)]
enum ReadPath {
    /// `RingReceiver::peek`.
    Peek,
    /// `ReceiveBatch::peek`.
    Batch,
    /// `RingReceiver::read_packet`.
    Copy,
}

impl ReadPath {
    const ALL: [ReadPath; 3] = [ReadPath::Peek, ReadPath::Batch, ReadPath::Copy];

    /// Reads the next packet's payload (consumed and committed), `None` if the ring is empty.
    fn read(
        self,
        receiver: &mut RingReceiver<Arc<AtomicMemory>>,
    ) -> Result<Option<Vec<u8>>, RingError> {
        let payload = match self {
            ReadPath::Peek => receiver.peek()?.map(|reader| release_payload(reader)),
            ReadPath::Batch => receiver
                .batch()
                .peek()?
                .map(|reader| release_payload(reader)),
            ReadPath::Copy => {
                let mut buffer = Vec::new();
                receiver
                    .read_packet(&mut buffer)?
                    .map(|packet| packet.payload(&buffer).to_vec())
            }
        };
        receiver.commit()?;
        Ok(payload)
    }
}

/// The payload of a peeked packet, which is then released.
fn release_payload(reader: PacketReader<'_, Arc<AtomicMemory>>) -> Vec<u8> {
    let mut payload = vec![0; reader.payload_len()];
    reader.read_payload(0, &mut payload).unwrap();
    reader.release().unwrap();
    payload
}

#[test]
fn a_reader_that_found_the_ring_corrupt_reads_what_the_producer_publishes_next() {
    // The racing-peer test's stuck reader, set by hand: a peer publishes a write index 16
    // bytes past the read position (less than a descriptor and trailer), the reader reports
    // `Truncated`; then the producer writes a packet at that position and publishes the index
    // after it. The reader must read that packet, not report `Truncated` again from the index
    // it cached (which it did on every read, for ever, before `forget_write`).
    for path in ReadPath::ALL {
        let (memory, mut sender, mut receiver) = ring(1);
        memory.store_u32(BASE, 16).unwrap();
        for _ in 0..2 {
            assert_eq!(
                path.read(&mut receiver),
                Err(RingError::CorruptDescriptor(DescriptorError::Truncated {
                    available: 16
                })),
                "{path:?}"
            );
        }
        let payload: Vec<u8> = (1..=24).collect();
        send_in_place(&mut sender, &PacketHeader::in_band(7, false), &payload, 5).unwrap();
        sender.commit().unwrap();
        assert_eq!(path.read(&mut receiver), Ok(Some(payload)), "{path:?}");
        assert_eq!(path.read(&mut receiver), Ok(None), "{path:?}");
    }
}

#[test]
fn a_reader_that_found_garbage_sees_the_ring_emptied_and_refilled() {
    // A peer publishes a write index far ahead of garbage at the read position (the data area
    // is all 0xFF: type 0xFFFF); the reader reports it. Then the peer publishes an empty ring
    // (write index back at the read position): the reader must see the ring empty, not the
    // garbage it cached an index for. Then a packet of one 8-byte word, written by hand with
    // a descriptor the reference gives (type 6, offset8 2, len8 3: vmbus.md §5) and the write
    // index after its trailer: the reader must read it.
    for path in ReadPath::ALL {
        let (memory, _, mut receiver) = ring(1);
        memory.store_u32(BASE, 512).unwrap();
        assert_eq!(
            path.read(&mut receiver),
            Err(RingError::CorruptDescriptor(DescriptorError::BadType(
                0xFFFF
            ))),
            "{path:?}"
        );
        memory.store_u32(BASE, 0).unwrap();
        assert_eq!(path.read(&mut receiver), Ok(None), "{path:?}");
        let data = BASE + 4096;
        memory.write_u64(data, 0x0000_0003_0002_0006).unwrap();
        memory.write_u64(data + 8, 41).unwrap();
        memory.write_u64(data + 16, 0x0807_0605_0403_0201).unwrap();
        memory.write_u64(data + 24, 0).unwrap();
        memory.store_u32(BASE, 32).unwrap();
        assert_eq!(
            path.read(&mut receiver),
            Ok(Some(vec![1, 2, 3, 4, 5, 6, 7, 8])),
            "{path:?}"
        );
    }
}

/// What the racing peer does to a ring, chosen by a counter.
fn scribble(memory: &AtomicMemory, step: u32, data_size: u32) {
    let value = step.wrapping_mul(2_654_435_761);
    let data = BASE + 4096;
    match step % 6 {
        // A plausible packet at a plausible place, and a write index past it.
        0 => {
            let at = (value % data_size) & !7;
            let length8 = 3 + (value >> 20) % 64;
            let descriptor = 0x0006 | 2 << 16 | u64::from(length8) << 32;
            let _ = memory.write_u64(data + u64::from(at), descriptor);
            let _ = memory.store_u32(BASE, (at + length8 * 8 + 8) % data_size);
        }
        // Any write index, aligned or not, in range or not.
        1 => {
            let _ = memory.store_u32(BASE, value);
        }
        // Any read index (the sender's side).
        2 => {
            let _ = memory.store_u32(BASE + 4, value % (data_size + 64));
        }
        // Garbage over a stretch of the data area.
        3 => {
            let at = u64::from(value % data_size);
            let length = (data_size as u64 - at).min(200) as usize;
            let _ = memory.write(data + at, &vec![value as u8; length]);
        }
        // A descriptor with garbage fields at the read position's neighbourhood.
        4 => {
            let at = (value % data_size) & !7;
            let _ = memory.write_u64(data + u64::from(at), u64::from(value) * 0x1_0001);
        }
        // Pending send size and the interrupt mask.
        _ => {
            let _ = memory.store_u32(BASE + 12, value);
            let _ = memory.store_u32(BASE + 8, value & 1);
        }
    }
}

#[test]
fn a_racing_peer_that_rewrites_indices_and_data_gets_typed_errors_not_panics() {
    // Both ends of one ring are ours; a third thread plays a hostile peer, rewriting the
    // indices, descriptors and payloads while they reserve, write, peek and read in place.
    // Every outcome must be a value or a typed `RingError` (checked inside the attempt), and
    // the ends must keep making progress: 100 reads of (plausible) packets, 100 errors and
    // 100 sends. The peer may make every read an error for as long as it leaves garbage at
    // the read position or a corrupt write index, but the producer keeps publishing packets
    // over it, so a reader that judges the ring by the shared indices reads again. Until the
    // reader forgot its cached write index on errors (`forget_write`), one run in about
    // twelve failed here: the reader kept reporting `Truncated { available: 8 }` from a
    // cached index 8 bytes past its position, however the shared one moved (traced: 8 of 10
    // long runs ended stuck so, e.g. 2,508 packets in 5 M rounds; now every long run reads
    // on, 300 k to 1 M packets in 5 M rounds).
    let (packets, errors, sent, rounds) = racing_peer_attempt();
    assert!(
        packets >= 100 && errors >= 100 && sent >= 100,
        "packets {packets}, errors {errors}, sent {sent} in {rounds} rounds"
    );
}

/// One run of the racing-peer test on a fresh ring: (packets read, errors, packets sent,
/// rounds).
fn racing_peer_attempt() -> (u64, u64, u64, u64) {
    let (memory, mut sender, mut receiver) = ring(2);
    let data_size = sender.pages().data_size();
    let stop = Arc::new(AtomicBool::new(false));
    // The rounds the two ends have finished: after each scribble the peer lets them finish
    // two more, so that, whether or not the peer has a core to itself, the ends see what it
    // wrote (a plausible packet, too, not only the garbage the next scribble leaves); each
    // scribble still lands at any point of a round.
    let rounds_done = Arc::new(AtomicU64::new(0));
    let peer = {
        let (memory, stop, rounds_done) = (memory.clone(), stop.clone(), rounds_done.clone());
        std::thread::spawn(move || {
            let mut step = 0u32;
            while !stop.load(Ordering::Relaxed) {
                scribble(&memory, step, data_size);
                step = step.wrapping_add(1);
                let seen = rounds_done.load(Ordering::Relaxed);
                while rounds_done.load(Ordering::Relaxed) < seen + 2
                    && !stop.load(Ordering::Relaxed)
                {
                    std::thread::yield_now();
                }
            }
        })
    };
    let (mut packets, mut errors, mut sent) = (0u64, 0u64, 0u64);
    let mut payload = vec![0u8; 8192];
    let mut round = 0u64;
    while (packets < 100 || errors < 100 || sent < 100) && round < 50_000_000 {
        round += 1;
        let length = (round as usize * 131) % 600;
        // Every other round through a batch (one window of the ring for its packets).
        let header = PacketHeader::in_band(round, false);
        let written = if round.is_multiple_of(2) {
            sender.reserve(&header, length).map(|mut writer| {
                writer.write(0, &payload[..length]).unwrap();
                writer.finish().unwrap();
            })
        } else {
            let mut batch = sender.batch();
            batch.reserve(&header, length).map(|mut writer| {
                writer.write(0, &payload[..length]).unwrap();
                writer.finish().unwrap();
            })
        };
        match written {
            Ok(()) => match sender.commit() {
                Ok(_) => sent += 1,
                Err(error) => check_typed(error, &mut errors),
            },
            Err(error) => check_typed(error, &mut errors),
        }
        // Every third round through a receive batch.
        let mut batch;
        let peeked = if round.is_multiple_of(3) {
            batch = receiver.batch();
            batch.peek()
        } else {
            receiver.peek()
        };
        match peeked {
            Ok(Some(reader)) => {
                let length = reader.payload_len();
                // The length comes from the validated copy: it fits the ring.
                assert!(length < data_size as usize);
                reader.read_payload(0, &mut payload[..length]).unwrap();
                let header = reader.extra_header_len();
                reader.read_extra_header(0, &mut vec![0; header]).unwrap();
                reader.release().unwrap();
                packets += 1;
            }
            Ok(None) => {}
            Err(error) => check_typed(error, &mut errors),
        }
        if let Err(error) = receiver.commit() {
            check_typed(error, &mut errors);
        }
        rounds_done.store(round, Ordering::Relaxed);
        if round.is_multiple_of(1024) {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    peer.join().unwrap();
    (packets, errors, sent, round)
}

/// Counts `error`, which must be one a hostile peer can cause (not a memory or geometry
/// failure of a valid ring).
fn check_typed(error: RingError, errors: &mut u64) {
    assert!(
        matches!(
            error,
            RingError::CorruptIndex { .. }
                | RingError::CorruptDescriptor(_)
                | RingError::Full { .. }
        ),
        "unexpected {error:?}"
    );
    *errors += 1;
}

/// An `AtomicMemory` that hands out no windows (`GuestMemory::window`'s provided `None`),
/// as the kernel's and the emulator's memories do: the ring reaches it by address.
struct WindowlessMemory(Arc<AtomicMemory>);

impl GuestMemory for WindowlessMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), hyperv::memory::MemoryError> {
        self.0.read(gpa, buffer)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), hyperv::memory::MemoryError> {
        self.0.write(gpa, data)
    }
    fn load_u32(&self, gpa: u64) -> Result<u32, hyperv::memory::MemoryError> {
        self.0.load_u32(gpa)
    }
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), hyperv::memory::MemoryError> {
        self.0.store_u32(gpa, value)
    }
}

#[test]
fn memories_without_windows_get_the_same_packets() {
    // Every payload length 0–41 through `reserve` and `peek`, once over windows and once by
    // address: the same ring bytes, the same payloads read back, the same bounds.
    let (windowed_memory, mut windowed, mut windowed_receiver) = ring(1);
    let (plain_memory, _, _) = ring(1);
    let pages = RingPages::contiguous(BASE, 2 * 4096).unwrap();
    assert!(windowed_memory.window(BASE + 4096, 4096).is_some());
    let plain = WindowlessMemory(plain_memory.clone());
    assert!(plain.window(BASE + 4096, 4096).is_none());
    let mut sender = RingSender::new(&plain, pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(&plain, pages).unwrap();
    for length in 0..=41usize {
        let payload: Vec<u8> = (0..length).map(|index| (index * 7 + 3) as u8).collect();
        let header = PacketHeader::in_band(length as u64 + 1, length % 2 == 1);
        send_in_place(&mut windowed, &header, &payload, length / 2).unwrap();
        send_in_place(&mut sender, &header, &payload, length / 2).unwrap();
        assert_eq!(windowed.commit(), sender.commit());
        assert_eq!(
            ring_state(&windowed_memory, 1),
            ring_state(&plain_memory, 1),
            "payload of {length} bytes"
        );
        for receiver in [
            &mut windowed_receiver as &mut dyn PeekPayload,
            &mut receiver,
        ] {
            let read = receiver.peek_payload(length);
            assert_eq!(&read[..length], &payload[..]);
        }
        windowed_receiver.commit().unwrap();
        receiver.commit().unwrap();
    }
    // The copying API too: small packets, packets with an extra header, and packets too
    // large to be laid out whole, written and read back over windows and by address.
    let extra = [0xE1u8, 0xE2, 0xE3, 0xE4, 0xE5];
    for (length, extra_header) in [
        (5usize, &[][..]),
        (37, &extra[..]),
        (300, &[]),
        (301, &extra),
    ] {
        let payload: Vec<u8> = (0..length).map(|index| (index * 5 + 1) as u8).collect();
        let packet = OutgoingPacket {
            packet_type: PacketType::DATA_USING_GPA_DIRECT,
            transaction_id: length as u64,
            completion_requested: true,
            extra_header,
            payload: &payload,
        };
        assert_eq!(windowed.send(&packet), sender.send(&packet));
        assert_eq!(
            ring_state(&windowed_memory, 1),
            ring_state(&plain_memory, 1),
            "copying API, payload of {length} bytes"
        );
        let (mut windowed_buffer, mut buffer) = (Vec::new(), Vec::new());
        let windowed_packet = windowed_receiver
            .read_packet(&mut windowed_buffer)
            .unwrap()
            .unwrap();
        let plain_packet = receiver.read_packet(&mut buffer).unwrap().unwrap();
        assert_eq!(windowed_packet, plain_packet);
        assert_eq!(windowed_buffer, buffer);
        assert_eq!(&plain_packet.payload(&buffer)[..length], &payload[..]);
        assert_eq!(
            &plain_packet.extra_header(&buffer)[..extra_header.len()],
            extra_header
        );
        windowed_receiver.commit().unwrap();
        receiver.commit().unwrap();
    }
}

/// Peeks the next packet, checks that reads past its payload fail, reads the payload whole
/// and releases the packet.
trait PeekPayload {
    fn peek_payload(&mut self, length: usize) -> Vec<u8>;
}

impl<M: GuestMemory> PeekPayload for RingReceiver<M> {
    fn peek_payload(&mut self, length: usize) -> Vec<u8> {
        let reader = self.peek().unwrap().unwrap();
        assert_eq!(reader.payload_len(), length.div_ceil(8) * 8);
        let mut payload = vec![0u8; reader.payload_len()];
        reader.read_payload(0, &mut payload).unwrap();
        assert!(matches!(
            reader.read_payload(1, &mut payload),
            Err(RingError::OutsidePacket { .. })
        ));
        reader.release().unwrap();
        payload
    }
}

#[test]
fn batched_reservations_write_what_reserve_writes_and_wrap() {
    // (Read back alternately through `RingReceiver::batch` and `peek`.)
    // The same packets through `reserve` and through `batch().reserve` (three per batch) on
    // two rings: a one-page contiguous ring, where packets wrap every few batches (the
    // wrapping packet falls outside the batch's window and takes the ring path), and a ring
    // on scattered pages, whose batch window covers only its first page. After every batch
    // both rings hold the same bytes and indices, and the receiver reads the payloads back.
    let extra = [0xC1u8, 0xC2, 0xC3];
    for scattered in [false, true] {
        let make = || {
            if scattered {
                let memory = Arc::new(AtomicMemory::new(0, 16 * 4096));
                let pages = RingPages::from_pfns(&[9, 3, 7, 4]).unwrap();
                initialize_control_page(&memory, &pages, 0).unwrap();
                (
                    memory.clone(),
                    RingSender::new(memory.clone(), pages.clone()).unwrap(),
                    RingReceiver::new(memory, pages).unwrap(),
                )
            } else {
                ring(1)
            }
        };
        let (plain_memory, mut plain, _) = make();
        let (batched_memory, mut batched, mut receiver) = make();
        let data_size = plain.pages().data_size() as usize;
        // The data area read through the ring (any placement), and the write index.
        let state = |memory: &AtomicMemory, pages: &RingPages| {
            let mut bytes = vec![0u8; data_size];
            pages.read_data(memory, 0, &mut bytes).unwrap();
            (bytes, memory.load_u32(pages.control_gpa()).unwrap())
        };
        for round in 0..200usize {
            let mut sent = Vec::new();
            {
                let mut batch = batched.batch();
                for index in 0..3 {
                    let length = (round * 37 + index * 11) % 700;
                    let payload: Vec<u8> = (0..length).map(|byte| (byte ^ round) as u8).collect();
                    let extra_header = if index == 2 { &extra[..] } else { &[][..] };
                    let header = PacketHeader {
                        packet_type: PacketType::DATA_IN_BAND,
                        transaction_id: (round * 3 + index) as u64,
                        completion_requested: false,
                        extra_header,
                    };
                    let mut writer = batch.reserve(&header, length).unwrap();
                    writer.write(0, &payload).unwrap();
                    writer.finish().unwrap();
                    send_in_place(&mut plain, &header, &payload, length / 2).unwrap();
                    sent.push(payload);
                }
            }
            assert_eq!(plain.commit(), batched.commit());
            assert_eq!(
                state(&plain_memory, plain.pages()),
                state(&batched_memory, batched.pages()),
                "round {round}"
            );
            // Read back through a receive batch every other round, else packet by packet.
            if round % 2 == 0 {
                let mut reads = receiver.batch();
                for payload in &sent {
                    let reader = reads.peek().unwrap().unwrap();
                    let mut back = vec![0u8; payload.len()];
                    reader.read_payload(0, &mut back).unwrap();
                    assert_eq!(&back, payload, "round {round}");
                    // The payload is padded to 8 on the wire; a byte past that is outside.
                    assert_eq!(reader.payload_len(), payload.len().div_ceil(8) * 8);
                    let past = reader.payload_len();
                    assert!(reader.read_payload(past, &mut [0u8; 1]).is_err());
                    reader.release().unwrap();
                }
                assert!(reads.peek().unwrap().is_none());
            } else {
                for payload in &sent {
                    let reader = receiver.peek().unwrap().unwrap();
                    let mut back = vec![0u8; payload.len()];
                    reader.read_payload(0, &mut back).unwrap();
                    assert_eq!(&back, payload, "round {round}");
                    reader.release().unwrap();
                }
            }
            receiver.commit().unwrap();
            // The plain ring's consumer keeps pace (its read index as the batched one's).
            let read = batched_memory
                .load_u32(batched.pages().control_gpa() + READ_INDEX_OFFSET)
                .unwrap();
            plain_memory
                .store_u32(plain.pages().control_gpa() + READ_INDEX_OFFSET, read)
                .unwrap();
        }
    }
}
