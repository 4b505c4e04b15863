//! Byte-exact vectors (CRCs computed independently of this crate), round trips, garbage and
//! resynchronisation, and the guest backend against a scripted host.

use super::*;
use crate::hypercall::{CALL_POST_MESSAGE, CALL_SIGNAL_EVENT, HypercallInput, HypercallOutput};
use crate::platform::{HypervisorBackend, MmioAccess, PlatformError};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

const HELLO: [u8; 10] = [0xA5, 0xC3, 0x01, 0x04, 0x01, 0x00, 0x00, 0x00, 0x02, 0xB4];
const WRITE_SIMP: [u8; 18] = [
    0xA5, 0xC3, 0x02, 0x0C, 0x83, 0x00, 0x00, 0x40, 0x01, 0x50, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x65,
];
const POST_MESSAGE: [u8; 30] = [
    0xA5, 0xC3, 0x04, 0x18, 0x5C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x32, 0x6B,
];
const INTERRUPT_F3: [u8; 10] = [0xA5, 0xC3, 0x84, 0x04, 0xF3, 0x00, 0x00, 0x00, 0x06, 0x51];
const VP_INDEX_0: [u8; 22] = [
    0xA5, 0xC3, 0x82, 0x10, 0x02, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x4F, 0x56,
];

fn decode_all(decoder: &mut FrameDecoder, bytes: &[u8]) -> Vec<Frame> {
    decoder.decode(bytes).collect()
}

#[test]
fn encoder_matches_the_vectors() {
    assert_eq!(Frame::Hello { version: 1 }.encode().as_bytes(), HELLO);
    assert_eq!(
        Frame::WriteMsr {
            msr: 0x4000_0083,
            value: 0x1234_5001
        }
        .encode()
        .as_bytes(),
        WRITE_SIMP
    );
    assert_eq!(
        Frame::Hypercall {
            input: 0x5C,
            input_parameter: 0x7000,
            output_parameter: 0
        }
        .encode()
        .as_bytes(),
        POST_MESSAGE
    );
    assert_eq!(
        Frame::Interrupt { vector: 0xF3 }.encode().as_bytes(),
        INTERRUPT_F3
    );
    assert_eq!(
        Frame::MsrResult {
            msr: 0x4000_0002,
            status: 0,
            value: 0
        }
        .encode()
        .as_bytes(),
        VP_INDEX_0
    );
}

#[test]
fn every_kind_round_trips() {
    let frames = [
        Frame::Hello { version: 7 },
        Frame::WriteMsr {
            msr: 1,
            value: u64::MAX,
        },
        Frame::ReadMsr { msr: 0x4000_0020 },
        Frame::Hypercall {
            input: 1,
            input_parameter: 2,
            output_parameter: 3,
        },
        Frame::MmioRead {
            gpa: 0xFE00_0000,
            size: 4,
        },
        Frame::MmioWrite {
            gpa: 0xFE00_0004,
            size: 2,
            value: 0xBEEF,
        },
        Frame::HelloReply {
            version: 1,
            vp_index: 3,
            privileges: 0x30_0000_0064,
        },
        Frame::MsrResult {
            msr: 9,
            status: 1,
            value: 0,
        },
        Frame::HypercallResult { output: 0x12 },
        Frame::Interrupt { vector: 0x20 },
        Frame::MmioResult {
            status: 0,
            value: 0xFFFF_FFFF,
        },
    ];
    let mut stream = Vec::new();
    for frame in &frames {
        let encoded = frame.encode();
        assert_eq!(
            encoded.as_bytes().len(),
            FRAME_OVERHEAD + frame.kind().payload_length()
        );
        stream.extend_from_slice(encoded.as_bytes());
    }
    let mut decoder = FrameDecoder::new();
    assert_eq!(decode_all(&mut decoder, &stream), frames);
    assert_eq!(decoder.statistics().discarded_bytes, 0);
    assert_eq!(decoder.statistics().frames, frames.len() as u64);
}

#[test]
fn byte_by_byte_decoding() {
    let mut decoder = FrameDecoder::new();
    for byte in &HELLO[..9] {
        assert_eq!(decoder.push(*byte), None);
    }
    assert_eq!(decoder.push(HELLO[9]), Some(Frame::Hello { version: 1 }));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn firmware_text_before_a_frame_is_skipped() {
    let mut stream = Vec::from(&b"BdsDxe: loading Boot0001 \"UEFI Misc Device\"\r\n\x1b[0m"[..]);
    let garbage = stream.len() as u64;
    stream.extend_from_slice(&HELLO);
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decode_all(&mut decoder, &stream),
        [Frame::Hello { version: 1 }]
    );
    assert_eq!(decoder.statistics().discarded_bytes, garbage);
}

#[test]
fn corrupted_frame_is_dropped_and_the_next_one_found() {
    let mut corrupted = WRITE_SIMP;
    corrupted[8] ^= 0x40;
    let mut stream = Vec::from(&corrupted[..]);
    stream.extend_from_slice(&INTERRUPT_F3);
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decode_all(&mut decoder, &stream),
        [Frame::Interrupt { vector: 0xF3 }]
    );
    assert_eq!(decoder.statistics().checksum_failures, 1);
    assert_eq!(
        decoder.statistics().discarded_bytes,
        WRITE_SIMP.len() as u64
    );
}

#[test]
fn frame_inside_a_truncated_frame_is_found() {
    // A Hypercall header whose 24-byte payload never comes: the Interrupt frame inside the
    // claimed payload must still be decoded once the CRC of the false start fails.
    let mut stream = Vec::from(&POST_MESSAGE[..6]);
    stream.extend_from_slice(&INTERRUPT_F3);
    stream.extend_from_slice(&HELLO);
    stream.extend_from_slice(&[0; 30]);
    let mut decoder = FrameDecoder::new();
    let frames = decode_all(&mut decoder, &stream);
    assert_eq!(
        frames,
        [
            Frame::Interrupt { vector: 0xF3 },
            Frame::Hello { version: 1 }
        ]
    );
}

#[test]
fn magic_lookalikes_unknown_kinds_and_wrong_lengths_are_garbage() {
    let mut decoder = FrameDecoder::new();
    let stream = [
        0xA5, 0xA5, 0xC3, 0x7F, 0x04, // unknown kind
        0xA5, 0xC3, 0x01, 0x05, // Hello with a wrong length
        0xA5, // a lone first magic byte
    ];
    assert!(decode_all(&mut decoder, &stream).is_empty());
    assert_eq!(
        decode_all(&mut decoder, &HELLO),
        [Frame::Hello { version: 1 }]
    );
    assert_eq!(decoder.statistics().discarded_bytes, stream.len() as u64);
}

#[test]
fn every_single_byte_corruption_is_rejected() {
    for index in 0..WRITE_SIMP.len() {
        for bit in 0..8 {
            let mut corrupted = WRITE_SIMP;
            corrupted[index] ^= 1 << bit;
            let mut decoder = FrameDecoder::new();
            let frames = decode_all(&mut decoder, &corrupted);
            assert!(
                frames.is_empty(),
                "byte {index} bit {bit} decoded {frames:?}"
            );
        }
    }
}

/// A host that answers requests from a script and can inject bytes before each answer.
struct ScriptedHost {
    sent: Vec<Frame>,
    decoder: FrameDecoder,
    inbound: VecDeque<u8>,
    answers: VecDeque<Vec<u8>>,
    /// Whether the host reports bytes waiting, as the ivshmem mailbox does (else as COM2).
    mailbox: bool,
}

impl SerialLink for ScriptedHost {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError> {
        let frames: Vec<Frame> = self.decoder.decode(bytes).collect();
        for frame in frames {
            self.sent.push(frame);
            if let Some(answer) = self.answers.pop_front() {
                self.inbound.extend(answer);
            }
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<u8, PlatformError> {
        self.inbound.pop_front().ok_or(PlatformError::LinkFailure)
    }

    fn try_receive(&mut self) -> Option<u8> {
        self.inbound.pop_front()
    }

    fn has_waiting_input(&self) -> bool {
        self.mailbox && !self.inbound.is_empty()
    }
}

fn bytes(frames: &[Frame]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|frame| frame.encode().as_bytes().to_vec())
        .collect()
}

#[test]
fn backend_requests_and_latches_interrupts() {
    let mut hello = Vec::from(&b"garbage"[..]);
    hello.extend(bytes(&[Frame::HelloReply {
        version: 1,
        vp_index: 2,
        privileges: 0x64,
    }]));
    let host = ScriptedHost {
        sent: Vec::new(),
        decoder: FrameDecoder::new(),
        inbound: VecDeque::new(),
        answers: VecDeque::from([
            hello,
            bytes(&[
                Frame::Interrupt { vector: 0xF3 },
                Frame::MsrResult {
                    msr: 0x4000_0002,
                    status: MSR_STATUS_OK,
                    value: 2,
                },
            ]),
            bytes(&[Frame::MsrResult {
                msr: 0x4000_0084,
                status: MSR_STATUS_OK,
                value: 0,
            }]),
            bytes(&[
                Frame::Interrupt { vector: 0x30 },
                Frame::HypercallResult { output: 0x12 },
            ]),
            bytes(&[Frame::MsrResult {
                msr: 0x1234,
                status: MSR_STATUS_GENERAL_PROTECTION,
                value: 0,
            }]),
            bytes(&[Frame::MmioResult {
                status: MMIO_STATUS_UNHANDLED,
                value: u64::MAX,
            }]),
            bytes(&[
                Frame::MsrResult {
                    msr: 0x4000_0084,
                    status: MSR_STATUS_OK,
                    value: 0,
                },
                Frame::Interrupt { vector: 0x31 },
            ]),
        ]),
        mailbox: false,
    };
    let mut backend = EmulatedLinkBackend::connect(host).unwrap();
    assert_eq!((backend.vp_index(), backend.host_version()), (2, 1));
    assert_eq!(backend.read_msr(0x4000_0002), Ok(2));
    assert_eq!(backend.write_msr(0x4000_0084, 0), Ok(()));
    let output = backend
        .hypercall(HypercallInput::slow(CALL_POST_MESSAGE), 0x7000, 0)
        .unwrap();
    assert_eq!(output.0, 0x12);
    assert_eq!(
        backend.read_msr(0x1234),
        Err(PlatformError::GeneralProtection { msr: 0x1234 })
    );
    assert_eq!(
        backend.mmio_read(0xFE00_0000, 4),
        Err(PlatformError::UnhandledMmio { gpa: 0xFE00_0000 })
    );
    assert_eq!(
        backend.mmio_read(0xFE00_0000, 3),
        Err(PlatformError::InvalidAccessSize)
    );
    // Interrupts that came during requests are latched, lowest vector first.
    assert!(backend.has_pending_vector());
    assert_eq!(backend.take_pending_vector(), Some(0x30));
    assert_eq!(backend.take_pending_vector(), Some(0xF3));
    assert_eq!(backend.take_pending_vector(), None);
    assert!(!backend.has_pending_vector());
    // Bytes fed by the COM2 interrupt handler.
    for byte in INTERRUPT_F3 {
        backend.receive_byte(byte);
    }
    assert_eq!(backend.take_pending_vector(), Some(0xF3));
    // An Interrupt frame left in the UART after a reply is read by the COM2 handler: a
    // request reads no further than its reply.
    assert_eq!(backend.write_msr(0x4000_0084, 0), Ok(()));
    assert_eq!(backend.take_pending_vector(), None);
    assert_eq!(backend.service_receive_interrupt(), INTERRUPT_F3.len());
    assert_eq!(backend.take_pending_vector(), Some(0x31));
    // No answer: the transport's timeout surfaces as a link failure.
    assert_eq!(
        backend.read_msr(0x4000_0002),
        Err(PlatformError::LinkFailure)
    );
}

/// Over a mailbox, frames the host sent behind a request's reply stay unread, and the backend
/// says so (no interrupt need come for them: docs/emulated-platform.md, "A reply carries its
/// interrupt"); over COM2 the same bytes are left to the UART's interrupt.
#[test]
fn frames_behind_a_reply_are_reported_waiting_over_a_mailbox() {
    for mailbox in [true, false] {
        let hello = bytes(&[Frame::HelloReply {
            version: 1,
            vp_index: 0,
            privileges: 0,
        }]);
        let answer = bytes(&[
            Frame::HypercallResult { output: 0 },
            Frame::Interrupt { vector: 0x31 },
        ]);
        let host = ScriptedHost {
            sent: Vec::new(),
            decoder: FrameDecoder::new(),
            inbound: VecDeque::new(),
            answers: VecDeque::from([hello, answer]),
            mailbox,
        };
        let mut backend = EmulatedLinkBackend::connect(host).unwrap();
        assert!(!backend.has_unread_input());
        let input = HypercallInput::fast(CALL_SIGNAL_EVENT);
        assert_eq!(backend.hypercall(input, 0, 0), Ok(HypercallOutput(0)));
        // The request read no further than its reply.
        assert!(!backend.has_pending_vector());
        assert_eq!(backend.has_unread_input(), mailbox);
        backend.service_receive_interrupt();
        assert_eq!(backend.take_pending_vector(), Some(0x31));
        assert!(!backend.has_unread_input());
    }
}

/// A hostile host: after HelloReply it keeps sending Interrupt frames (and never answers a
/// request), however fast the guest reads; it gives up after [`ENDLESS_HOST_LIMIT`] bytes,
/// far past both budgets, so that a guest without budgets fails these tests instead of
/// hanging them.
struct EndlessHost {
    hello: VecDeque<u8>,
    interrupt: Vec<u8>,
    position: usize,
    read: usize,
}

/// How many bytes [`EndlessHost`] sends before it stops.
const ENDLESS_HOST_LIMIT: usize = 4 * REQUEST_BUDGET_BYTES;

impl EndlessHost {
    fn new() -> Self {
        EndlessHost {
            hello: VecDeque::new(),
            interrupt: bytes(&[Frame::Interrupt { vector: 0x40 }]),
            position: 0,
            read: 0,
        }
    }

    fn next(&mut self) -> Option<u8> {
        if let Some(byte) = self.hello.pop_front() {
            return Some(byte);
        }
        if self.read == ENDLESS_HOST_LIMIT {
            return None;
        }
        let byte = self.interrupt[self.position % self.interrupt.len()];
        self.position += 1;
        self.read += 1;
        Some(byte)
    }
}

impl SerialLink for EndlessHost {
    fn send(&mut self, bytes_sent: &[u8]) -> Result<(), PlatformError> {
        let hello = FrameDecoder::new()
            .decode(bytes_sent)
            .any(|frame| matches!(frame, Frame::Hello { .. }));
        if hello {
            self.hello.extend(bytes(&[Frame::HelloReply {
                version: 1,
                vp_index: 0,
                privileges: 0,
            }]));
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<u8, PlatformError> {
        self.next().ok_or(PlatformError::LinkFailure)
    }

    fn try_receive(&mut self) -> Option<u8> {
        self.next()
    }
}

#[test]
fn a_host_that_keeps_refilling_the_mailbox_cannot_hold_the_interrupt_handler() {
    let mut backend = EmulatedLinkBackend::connect(EndlessHost::new()).unwrap();
    assert!(!backend.has_unread_input());
    assert_eq!(backend.service_receive_interrupt(), RECEIVE_BUDGET_BYTES);
    assert_eq!(backend.link().read, RECEIVE_BUDGET_BYTES);
    // The caller is told to come back without waiting for an interrupt.
    assert!(backend.has_unread_input());
    // What was read was decoded: the vector is latched.
    assert_eq!(backend.take_pending_vector(), Some(0x40));
    // The next call reads the next budget, not everything at once.
    assert_eq!(backend.service_receive_interrupt(), RECEIVE_BUDGET_BYTES);
    // Once the host stops, a call that drains the rest clears the flag.
    while backend.service_receive_interrupt() == RECEIVE_BUDGET_BYTES {}
    assert!(!backend.has_unread_input());
    assert_eq!(backend.link().read, ENDLESS_HOST_LIMIT);
}

#[test]
fn a_request_whose_reply_never_comes_among_endless_frames_fails_after_its_budget() {
    let mut backend = EmulatedLinkBackend::connect(EndlessHost::new()).unwrap();
    assert_eq!(
        backend.read_msr(0x4000_0002),
        Err(PlatformError::LinkFailure)
    );
    assert_eq!(backend.link().read, REQUEST_BUDGET_BYTES);
    // The interrupts read meanwhile are latched, not lost.
    assert_eq!(backend.take_pending_vector(), Some(0x40));
}

/// A stream of valid frames, garbage, frames with one corrupted byte and truncated frames,
/// from a small deterministic generator.
fn mixed_stream(seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let frames = [
        Frame::Interrupt { vector: 0x31 },
        Frame::HypercallResult { output: 0x12 },
        Frame::MsrResult {
            msr: 9,
            status: 1,
            value: 7,
        },
        Frame::MmioResult {
            status: 0,
            value: 3,
        },
    ];
    let mut stream = Vec::new();
    for _ in 0..200 {
        let frame = frames[(next() % frames.len() as u64) as usize];
        let encoded = frame.encode();
        let mut bytes = Vec::from(encoded.as_bytes());
        match next() % 6 {
            0 => {
                let index = (next() % bytes.len() as u64) as usize;
                bytes[index] ^= 1 << (next() % 8);
            }
            1 => bytes.truncate((next() % bytes.len() as u64) as usize),
            2 => stream.extend((0..next() % 8).map(|_| next() as u8)),
            3 => stream.extend_from_slice(&MAGIC),
            _ => {}
        }
        stream.extend_from_slice(&bytes);
    }
    stream
}

#[test]
fn bulk_and_bytewise_decoding_agree() {
    for seed in 1..=64u64 {
        let stream = mixed_stream(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut bytewise = FrameDecoder::new();
        let mut expected = Vec::new();
        for &byte in &stream {
            let mut next = bytewise.push(byte);
            while let Some(frame) = next {
                expected.push(frame);
                next = bytewise.pull();
            }
        }
        for chunk_length in [1, 2, 3, 7, 16, 61, MAX_FRAME_LENGTH, 1000, stream.len()] {
            let mut bulk = FrameDecoder::new();
            let mut frames = Vec::new();
            for chunk in stream.chunks(chunk_length) {
                frames.extend(bulk.decode(chunk));
            }
            assert_eq!(frames, expected, "seed {seed}, chunks of {chunk_length}");
            assert_eq!(bulk.statistics(), bytewise.statistics(), "seed {seed}");
            assert_eq!(bulk.buffered(), bytewise.buffered(), "seed {seed}");
        }
        assert!(expected.len() > 50, "the stream holds frames");
    }
}

#[test]
fn wanted_never_reaches_past_the_frame_in_progress() {
    let stream = bytes(&[
        Frame::MsrResult {
            msr: 9,
            status: 1,
            value: 7,
        },
        Frame::Interrupt { vector: 0x31 },
    ]);
    let first_length = FRAME_OVERHEAD + FrameKind::MsrResult.payload_length();
    let mut decoder = FrameDecoder::new();
    let mut read = 0;
    let mut frames = Vec::new();
    while frames.is_empty() {
        let wanted = decoder.wanted();
        assert!(wanted >= 1);
        let end = read + wanted;
        assert!(end <= first_length, "asked for bytes past the first frame");
        frames.extend(decoder.decode(&stream[read..end]));
        read = end;
    }
    assert_eq!(read, first_length);
    // Garbage is dropped; then the header is wanted, then the rest of the frame.
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.decode(b"xy").count(), 0);
    assert_eq!(decoder.wanted(), 4);
    assert_eq!(decoder.decode(&MAGIC[..1]).count(), 0);
    assert_eq!(decoder.wanted(), 3);
    assert_eq!(decoder.decode(&stream[1..4]).count(), 0);
    assert_eq!(decoder.wanted(), first_length - 4);
}
