//! Ring tests: layout bytes, wraparound, exact fit, full, signalling, corruption, threads.

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use hyperv::memory::{AtomicMemory, GuestMemory};
use std::sync::Arc;

const BASE: u64 = 0x10_0000;

/// A ring of one control page and `data_pages` data pages at `BASE`.
pub(super) fn ring(
    data_pages: u64,
) -> (
    Arc<AtomicMemory>,
    RingSender<Arc<AtomicMemory>>,
    RingReceiver<Arc<AtomicMemory>>,
) {
    let memory = Arc::new(AtomicMemory::new(BASE, ((data_pages + 1) * 4096) as usize));
    let pages = RingPages::contiguous(BASE, (data_pages + 1) * 4096).unwrap();
    initialize_control_page(&memory, &pages, FEATURE_PENDING_SEND_SIZE).unwrap();
    let sender = RingSender::new(memory.clone(), pages.clone()).unwrap();
    let receiver = RingReceiver::new(memory.clone(), pages).unwrap();
    (memory, sender, receiver)
}

fn receive(receiver: &mut RingReceiver<Arc<AtomicMemory>>) -> Option<(IncomingPacket, Vec<u8>)> {
    let mut buffer = Vec::new();
    let packet = receiver.read_packet(&mut buffer).unwrap()?;
    Some((packet, buffer))
}

#[test]
fn packet_bytes_match_the_reference_layout() {
    let (memory, mut sender, _) = ring(1);
    assert!(
        sender
            .send(&OutgoingPacket::in_band(
                0x1122_3344_5566_7788,
                true,
                &[0xAA, 0xBB, 0xCC]
            ))
            .unwrap()
    );
    let mut bytes = [0u8; 32];
    memory.read(BASE + 4096, &mut bytes).unwrap();
    // type 6, offset8 2, len8 3 (16 + 8), flags 1, trans id, payload padded, trailer (start 0).
    assert_eq!(
        bytes,
        [
            0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
            0x22, 0x11, 0xAA, 0xBB, 0xCC, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00
        ]
    );
    assert_eq!(
        memory.load_u32(BASE).unwrap(),
        32,
        "write index after 24 + 8 bytes"
    );
    assert_eq!(
        memory.load_u32(BASE + 64).unwrap(),
        1,
        "feature bit set by the producer"
    );
    // The second packet's trailer holds its start offset (32) in the high half.
    sender.send(&OutgoingPacket::completion(5, &[])).unwrap();
    assert_eq!(memory.read_u64(BASE + 4096 + 32 + 16).unwrap(), 32u64 << 32);
}

#[test]
fn descriptor_words_are_its_wire_bytes() {
    // Type 0xB, offset8 2, len8 0x1234, flags 1, transaction id: the 16 wire bytes, read as
    // two little-endian words and back.
    let bytes: [u8; 16] = [
        0x0B, 0x00, 0x02, 0x00, 0x34, 0x12, 0x01, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
        0x11,
    ];
    let first = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let second = u64::from_le_bytes(bytes[8..].try_into().unwrap());
    let descriptor = PacketDescriptor::from_words(first, second);
    assert_eq!(zerocopy::IntoBytes::as_bytes(&descriptor), &bytes);
    assert_eq!(descriptor.length8.get(), 0x1234);
    assert_eq!(descriptor.transaction_id.get(), 0x1122_3344_5566_7788);
    assert_eq!(descriptor.words(), (first, second));
}

#[test]
fn padding_is_zero_after_a_longer_packet() {
    // Small packets are laid out in a buffer the sender keeps: the padding of a short packet
    // must be zeros, not the bytes of the longer packet laid out there before it.
    let (memory, mut sender, _) = ring(1);
    let long = OutgoingPacket::in_band(1, false, &[0xee; 200]);
    let long_size = long.ring_size() as u64;
    sender.send(&long).unwrap();
    let short = OutgoingPacket {
        packet_type: PacketType::DATA_USING_GPA_DIRECT,
        transaction_id: 2,
        completion_requested: true,
        extra_header: &[0x11; 3],
        payload: &[0x22; 5],
    };
    sender.send(&short).unwrap();
    let mut bytes = [0u8; 48];
    memory.read(BASE + 4096 + long_size, &mut bytes).unwrap();
    // Descriptor (16), extra header 3 + 5 zeros, payload 5 + 3 zeros, trailer.
    assert_eq!(&bytes[16..24], &[0x11, 0x11, 0x11, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[24..32], &[0x22, 0x22, 0x22, 0x22, 0x22, 0, 0, 0]);
    assert_eq!(
        u64::from_le_bytes(bytes[32..40].try_into().unwrap()),
        long_size << 32
    );
    // The same for a small in-band packet (laid out in the reused words).
    let short_size = short.ring_size() as u64;
    sender
        .send(&OutgoingPacket::in_band(3, false, &[0x33; 5]))
        .unwrap();
    let mut bytes = [0u8; 32];
    memory
        .read(BASE + 4096 + long_size + short_size, &mut bytes)
        .unwrap();
    assert_eq!(&bytes[16..24], &[0x33, 0x33, 0x33, 0x33, 0x33, 0, 0, 0]);
    assert_eq!(
        u64::from_le_bytes(bytes[24..32].try_into().unwrap()),
        (long_size + short_size) << 32
    );
}

#[test]
fn round_trip_and_signal_only_on_empty_to_non_empty() {
    let (_memory, mut sender, mut receiver) = ring(2);
    assert!(
        sender
            .send(&OutgoingPacket::in_band(1, false, b"first"))
            .unwrap()
    );
    assert!(
        !sender
            .send(&OutgoingPacket::in_band(2, false, b"second"))
            .unwrap()
    );
    let (packet, buffer) = receive(&mut receiver).unwrap();
    assert_eq!(packet.packet_type, PacketType::DATA_IN_BAND);
    assert_eq!(packet.transaction_id, 1);
    assert_eq!(&packet.payload(&buffer)[..5], b"first");
    let (packet, buffer) = receive(&mut receiver).unwrap();
    assert_eq!(&packet.payload(&buffer)[..6], b"second");
    assert!(receive(&mut receiver).is_none());
    assert!(
        !receiver.commit().unwrap(),
        "no pending send size: no signal"
    );
    assert!(
        sender
            .send(&OutgoingPacket::in_band(3, false, b"third"))
            .unwrap(),
        "empty again"
    );
}

#[test]
fn interrupt_mask_suppresses_the_signal() {
    let (_memory, mut sender, mut receiver) = ring(1);
    receiver.set_interrupt_mask(true).unwrap();
    assert!(
        !sender
            .send(&OutgoingPacket::in_band(1, false, &[1; 8]))
            .unwrap()
    );
    assert!(
        !receiver.unmask_and_check_empty().unwrap(),
        "packet is waiting"
    );
    receive(&mut receiver).unwrap();
    receiver.commit().unwrap();
    assert!(receiver.unmask_and_check_empty().unwrap());
    assert!(
        sender
            .send(&OutgoingPacket::in_band(2, false, &[1; 8]))
            .unwrap()
    );
}

#[test]
fn exact_fit_is_full_and_one_less_fits() {
    // Data area 4096. A packet of T bytes needs T < free: the largest fitting is 4088.
    let (_memory, mut sender, mut receiver) = ring(1);
    let payload = vec![7u8; 4088 - 24];
    sender
        .send(&OutgoingPacket::in_band(1, false, &payload))
        .unwrap();
    assert_eq!(
        sender.send(&OutgoingPacket::in_band(1, false, &[])),
        Err(RingError::Full { needed: 24 })
    );
    receive(&mut receiver).unwrap();
    receiver.commit().unwrap();
    let too_big = vec![7u8; 4096 - 24];
    assert_eq!(
        sender.send(&OutgoingPacket::in_band(1, false, &too_big)),
        Err(RingError::TooLarge { needed: 4096 })
    );
    assert_eq!(sender.max_payload(), 4088 - 24);
}

#[test]
fn wraparound_copies_in_two_pieces() {
    let (_memory, mut sender, mut receiver) = ring(1);
    for round in 0..200u32 {
        let length = 1 + (round as usize * 37) % 1500;
        let payload: Vec<u8> = (0..length)
            .map(|index| (index as u32 ^ round) as u8)
            .collect();
        assert!(
            sender
                .send(&OutgoingPacket::in_band(u64::from(round), false, &payload))
                .is_ok()
        );
        let (packet, buffer) = receive(&mut receiver).unwrap();
        assert_eq!(packet.transaction_id, u64::from(round));
        assert_eq!(&packet.payload(&buffer)[..length], payload.as_slice());
        receiver.commit().unwrap();
    }
}

#[test]
fn discontiguous_pages_work_like_contiguous_ones() {
    let memory = Arc::new(AtomicMemory::new(0, 16 * 4096));
    // Control page 9, data pages 3, 7, 4 (none adjacent except 3→4 is not in order).
    let pages = RingPages::from_pfns(&[9, 3, 7, 4]).unwrap();
    assert_eq!(pages.data_size(), 3 * 4096);
    initialize_control_page(&memory, &pages, 0).unwrap();
    let mut sender = RingSender::new(memory.clone(), pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(memory.clone(), pages).unwrap();
    for round in 0..50u32 {
        let payload: Vec<u8> = (0..5000u32)
            .map(|index| (index * 7 + round) as u8)
            .collect();
        sender
            .send(&OutgoingPacket::in_band(1, false, &payload))
            .unwrap();
        let (packet, buffer) = receive(&mut receiver).unwrap();
        assert_eq!(&packet.payload(&buffer)[..5000], payload.as_slice());
        receiver.commit().unwrap();
    }
}

#[test]
fn pending_send_size_signals_when_crossed() {
    let (_memory, mut sender, mut receiver) = ring(1);
    // Fill with three 1024-byte packets (1048 bytes each in the ring) → 3144 used, 952 free.
    for id in 0..3 {
        sender
            .send(&OutgoingPacket::in_band(id, false, &[0; 1024]))
            .unwrap();
    }
    let needed = match sender.send(&OutgoingPacket::in_band(9, false, &[0; 1024])) {
        Err(RingError::Full { needed }) => needed,
        other => panic!("expected full, got {other:?}"),
    };
    assert_eq!(needed, 1048);
    assert!(!sender.wait_for_space(needed).unwrap());
    // Reading one packet frees 1048 → 2000 free > 1048: crossing, signal.
    receive(&mut receiver).unwrap();
    assert!(receiver.commit().unwrap());
    // Reading another does not cross again.
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap());
    // The successful write clears pending_send_sz.
    sender
        .send(&OutgoingPacket::in_band(9, false, &[0; 1024]))
        .unwrap();
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap());
}

#[test]
fn without_the_feature_bit_the_reader_never_signals() {
    let (memory, mut sender, mut receiver) = ring(1);
    memory.store_u32(BASE + FEATURE_BITS_OFFSET, 0).unwrap();
    for id in 0..3 {
        sender
            .send(&OutgoingPacket::in_band(id, false, &[0; 1024]))
            .unwrap();
    }
    assert!(!sender.wait_for_space(1048).unwrap());
    assert_eq!(
        memory.load_u32(BASE + PENDING_SEND_SIZE_OFFSET).unwrap(),
        1048
    );
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap());
}

#[test]
fn the_reader_signals_only_on_the_crossing_of_pending_send_size() {
    // 4 data pages; the writer waits for 3000 bytes while 2000 are free.
    let (memory, mut sender, mut receiver) = ring(4);
    let packet = [0u8; 1000]; // 1024 bytes in the ring
    for id in 0..14 {
        sender
            .send(&OutgoingPacket::in_band(id, false, &packet))
            .unwrap();
    }
    let free = 16384 - 14 * 1024;
    assert_eq!(free, 2048);
    assert!(!sender.wait_for_space(3000).unwrap());
    // Reading one packet: 3072 free > 3000, and 2048 ≤ 3000 before: crossing → signal.
    receive(&mut receiver).unwrap();
    assert!(receiver.commit().unwrap());
    // Already above: no second signal.
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap());
    // Exactly reaching pending_send_sz is not enough (a write needs strictly more).
    memory
        .store_u32(BASE + PENDING_SEND_SIZE_OFFSET, 5120)
        .unwrap();
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap(), "5120 free is not > 5120");
    receive(&mut receiver).unwrap();
    assert!(receiver.commit().unwrap(), "6144 free crosses 5120");
    // pending_send_sz 0: the writer is not waiting.
    memory
        .store_u32(BASE + PENDING_SEND_SIZE_OFFSET, 0)
        .unwrap();
    receive(&mut receiver).unwrap();
    assert!(!receiver.commit().unwrap());
}

#[test]
fn attaching_leaves_the_feature_bits_alone_and_the_guest_sets_both() {
    let memory = Arc::new(AtomicMemory::new(BASE, 8 * 4096));
    let pfns: Vec<u64> = (0..8).map(|page| BASE / 4096 + page).collect();
    // The host attaching to uninitialised rings does not set the guest's feature bits.
    let _host = ChannelRings::attach_for_host(memory.clone(), &pfns, 4).unwrap();
    for control in [BASE, BASE + 4 * 4096] {
        assert_eq!(memory.load_u32(control + FEATURE_BITS_OFFSET).unwrap(), 0);
    }
    let _guest = ChannelRings::initialize_for_guest(memory.clone(), &pfns, 4).unwrap();
    for control in [BASE, BASE + 4 * 4096] {
        assert_eq!(
            memory.load_u32(control + FEATURE_BITS_OFFSET).unwrap(),
            FEATURE_PENDING_SEND_SIZE
        );
    }
}

#[test]
fn wait_for_space_reports_space_that_is_already_there() {
    let (_memory, mut sender, _receiver) = ring(1);
    assert!(sender.wait_for_space(100).unwrap());
}

#[test]
fn corrupt_indices_and_descriptors_are_errors() {
    let (memory, mut sender, mut receiver) = ring(1);
    memory.store_u32(BASE + 4, 4097).unwrap();
    assert!(matches!(
        sender.send(&OutgoingPacket::in_band(1, false, &[])),
        Err(RingError::CorruptIndex {
            kind: IndexKind::Read,
            value: 4097
        })
    ));
    memory.store_u32(BASE + 4, 0).unwrap();
    memory.store_u32(BASE, 12).unwrap();
    let mut buffer = Vec::new();
    assert!(matches!(
        receiver.read_packet(&mut buffer),
        Err(RingError::CorruptIndex {
            kind: IndexKind::Write,
            ..
        })
    ));
    // A descriptor with a bad type, then bad flags, then an overlong length.
    let cases: [([u8; 8], DescriptorError); 4] = [
        ([0x01, 0, 2, 0, 3, 0, 0, 0], DescriptorError::BadType(1)),
        ([0x06, 0, 2, 0, 3, 0, 2, 0], DescriptorError::BadFlags(2)),
        (
            [0x06, 0, 1, 0, 3, 0, 0, 0],
            DescriptorError::BadOffset {
                offset8: 1,
                length8: 3,
            },
        ),
        (
            [0x06, 0, 2, 0, 9, 0, 0, 0],
            DescriptorError::Overlong {
                claimed: 80,
                available: 32,
            },
        ),
    ];
    for (descriptor, error) in cases {
        memory.write(BASE + 4096, &descriptor).unwrap();
        memory.store_u32(BASE, 32).unwrap();
        assert_eq!(
            receiver.read_packet(&mut buffer),
            Err(RingError::CorruptDescriptor(error))
        );
    }
}

#[test]
fn geometry_is_validated() {
    assert_eq!(
        RingPages::contiguous(BASE, 4096),
        Err(RingError::BadGeometry)
    );
    assert_eq!(
        RingPages::contiguous(BASE + 1, 8192),
        Err(RingError::BadGeometry)
    );
    assert_eq!(RingPages::from_pfns(&[1]), Err(RingError::BadGeometry));
    assert!(split_channel_rings(&[1, 2, 3, 4], 2).is_ok());
    assert_eq!(
        split_channel_rings(&[1, 2, 3], 2),
        Err(RingError::BadGeometry)
    );
    assert_eq!(
        split_channel_rings(&[1, 2, 3, 4], 1),
        Err(RingError::BadGeometry)
    );
}

#[test]
fn largest_dxg_packet_fits_a_default_ring() {
    let pages = (DEFAULT_RING_DATA_SIZE as u64) / 4096;
    let (_memory, mut sender, mut receiver) = ring(pages);
    let payload: Vec<u8> = (0..MAX_DXG_PACKET_PAYLOAD)
        .map(|index| (index % 251) as u8)
        .collect();
    for _ in 0..5 {
        sender
            .send(&OutgoingPacket::in_band(1, true, &payload))
            .unwrap();
        let (packet, buffer) = receive(&mut receiver).unwrap();
        assert!(packet.completion_requested);
        assert_eq!(packet.payload(&buffer), payload.as_slice());
        receiver.commit().unwrap();
    }
}

#[test]
fn gpa_direct_packets_carry_their_ranges() {
    let (_memory, mut sender, mut receiver) = ring(1);
    let ranges = [GpaDirectRange {
        byte_count: 5000,
        byte_offset: 100,
        pfns: vec![0x10, 0x11],
    }];
    let header = gpa_direct_header(&ranges);
    assert_eq!(header.len(), 8 + 8 + 16);
    sender
        .send(&OutgoingPacket::gpa_direct(77, &header, b"hello"))
        .unwrap();
    let (packet, buffer) = receive(&mut receiver).unwrap();
    assert_eq!(packet.packet_type, PacketType::DATA_USING_GPA_DIRECT);
    assert_eq!(packet.payload_offset, 16 + 32);
    assert_eq!(packet.extra_header(&buffer), header.as_slice());
    assert_eq!(&packet.payload(&buffer)[..5], b"hello");
    let extra = packet.extra_header(&buffer);
    assert_eq!(
        parse_gpa_direct_header(&extra[..header.len()]).unwrap(),
        ranges
    );
    assert_eq!(
        parse_gpa_direct_header(&[0; 8]),
        Err(GpaDirectError::NoRanges)
    );
    assert_eq!(
        parse_gpa_direct_header(&header[..20]),
        Err(GpaDirectError::Truncated)
    );
    assert_eq!(
        parse_gpa_direct_header(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
        Err(GpaDirectError::Truncated)
    );
}

#[test]
fn two_threads_move_every_byte_in_order() {
    let (memory, mut sender, mut receiver) = ring(16);
    let count = 3000u64;
    let producer = std::thread::spawn(move || {
        let mut payload = Vec::new();
        for id in 1..=count {
            payload.clear();
            payload.extend((0..(id * 13 % 3000) as usize).map(|index| (index as u64 ^ id) as u8));
            loop {
                match sender.send(&OutgoingPacket::in_band(id, false, &payload)) {
                    Ok(_) => break,
                    Err(RingError::Full { needed }) => {
                        let _ = sender.wait_for_space(needed).unwrap();
                        std::thread::yield_now();
                    }
                    Err(error) => panic!("{error}"),
                }
            }
        }
    });
    let mut buffer = Vec::new();
    let mut expected = 1u64;
    while expected <= count {
        match receiver.read_packet(&mut buffer).unwrap() {
            Some(packet) => {
                assert_eq!(packet.transaction_id, expected);
                let length = (expected * 13 % 3000) as usize;
                let payload = packet.payload(&buffer);
                assert!(
                    payload[..length]
                        .iter()
                        .enumerate()
                        .all(|(index, byte)| *byte == (index as u64 ^ expected) as u8)
                );
                expected += 1;
                receiver.commit().unwrap();
            }
            None => std::thread::yield_now(),
        }
    }
    producer.join().unwrap();
    drop(memory);
}

/// A ring whose data area is larger than 2 GiB (the u32 index space allows it): index
/// arithmetic is modulo the ring size and must not overflow u32 on the way (it did:
/// `write + size − read` overflowed for indices near the end). Every data page maps the same
/// guest page, so the test needs only two pages of memory.
#[test]
fn ring_index_arithmetic_does_not_overflow_in_rings_above_two_gigabytes() {
    let memory = Arc::new(AtomicMemory::new(BASE, 2 * 4096));
    let control_pfn = BASE / 4096;
    let data_pages = (1usize << 31) / 4096 + 1;
    let mut pfns = vec![control_pfn];
    pfns.extend(core::iter::repeat_n(control_pfn + 1, data_pages));
    let pages = RingPages::from_pfns(&pfns).unwrap();
    let size = pages.data_size();
    assert!(size > 1 << 31);
    initialize_control_page(&memory, &pages, FEATURE_PENDING_SEND_SIZE).unwrap();
    // The producer is 8 bytes short of the end, the consumer at 0.
    memory
        .store_u32(BASE + WRITE_INDEX_OFFSET, size - 8)
        .unwrap();
    let receiver = RingReceiver::new(memory.clone(), pages.clone()).unwrap();
    assert_eq!(receiver.is_empty(), Ok(false));
    let mut sender = RingSender::new(memory.clone(), pages).unwrap();
    // 8 bytes free (the distance from the write index forward to the read index).
    assert_eq!(
        sender.send(&OutgoingPacket::in_band(1, false, &[0; 8])),
        Err(RingError::Full { needed: 32 })
    );
}

/// Guest memory that counts the loads of each control-page index.
struct CountingMemory {
    inner: Arc<AtomicMemory>,
    read_index_loads: core::cell::Cell<usize>,
    write_index_loads: core::cell::Cell<usize>,
}

impl GuestMemory for &CountingMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), hyperv::memory::MemoryError> {
        self.inner.read(gpa, buffer)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), hyperv::memory::MemoryError> {
        self.inner.write(gpa, data)
    }
    fn load_u32(&self, gpa: u64) -> Result<u32, hyperv::memory::MemoryError> {
        let counter = match gpa - BASE {
            READ_INDEX_OFFSET => Some(&self.read_index_loads),
            WRITE_INDEX_OFFSET => Some(&self.write_index_loads),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.set(counter.get() + 1);
        }
        self.inner.load_u32(gpa)
    }
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), hyperv::memory::MemoryError> {
        self.inner.store_u32(gpa, value)
    }
}

#[test]
fn the_peer_index_is_loaded_only_when_the_cached_one_runs_out() {
    let (memory, _, _) = ring(4);
    let counting = CountingMemory {
        inner: memory,
        read_index_loads: core::cell::Cell::new(0),
        write_index_loads: core::cell::Cell::new(0),
    };
    let pages = RingPages::contiguous(BASE, 5 * 4096).unwrap();
    let mut sender = RingSender::new(&counting, pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(&counting, pages).unwrap();
    let loads_at_start = (
        counting.read_index_loads.get(),
        counting.write_index_loads.get(),
    );
    // 100 packets of 64 + 24 bytes fit the 16 KiB ring: no read-index load while writing.
    for id in 0..100 {
        sender
            .write_packet(&OutgoingPacket::in_band(id, false, &[7; 64]))
            .unwrap();
    }
    assert_eq!(counting.read_index_loads.get(), loads_at_start.0);
    sender.commit().unwrap();
    // One load of the write index serves all 100 packets, one more finds the ring drained.
    let mut buffer = Vec::new();
    let mut received = 0;
    while let Some(packet) = receiver.read_packet(&mut buffer).unwrap() {
        assert_eq!(packet.payload(&buffer), &[7; 64]);
        received += 1;
    }
    assert_eq!(received, 100);
    assert_eq!(counting.write_index_loads.get(), loads_at_start.1 + 2);
}
