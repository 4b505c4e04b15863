//! Fuzzes the emulator's end of the emulated link, [`LinkSession`], with what a guest (and
//! the firmware before it) writes to COM2: a script of garbage, valid guest frames (MSR
//! accesses biased to the synthetic MSRs and to page addresses inside guest memory,
//! HvPostMessage/HvSignalEvent calls, MMIO), host-to-guest frames, corrupted and torn
//! frames, cut into arbitrary reads, over guest memory with arbitrary contents.
//!
//! Checks: no panic; every byte sent back decodes cleanly as host-to-guest frames; each
//! guest request gets exactly one reply and misdirected frames none; the trace reports the
//! skipped bytes in at most one line per decoded frame plus one at the end, and those lines
//! add up to the decoder's count.
#![no_main]

use emulator::platform::{HostEvent, HostEventHandler, LinkSession, SynicHost, trace::Trace};
use hyperv::emulated_link::{Frame, FrameDecoder};
use hyperv::hypercall::{CALL_POST_MESSAGE, CALL_SIGNAL_EVENT, HypercallInput};
use hyperv::memory::{AtomicMemory, GuestMemory};
use hyperv::synic::{MessageType, VMBUS_SINT};
use hyperv_fuzz::{append_traffic, arbitrary_frame, msr_number};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex};

const MEMORY_SIZE: u64 = 0x10000;
const MESSAGE_CONNECTION: u32 = 4;
const EVENT_CONNECTION: u32 = 7;

/// Echoes messages back reversed, answers signals with event flag 5, emulates MMIO below
/// 0x1000 (all errors ignored: the guest may have broken its SynIC on purpose).
struct Echo;

impl HostEventHandler for Echo {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, memory: &dyn GuestMemory) {
        match event {
            HostEvent::Message {
                vp_index, payload, ..
            } => {
                let reply: Vec<u8> = payload.iter().rev().copied().collect();
                let _ =
                    host.deliver_message(vp_index, VMBUS_SINT, MessageType::VMBUS, &reply, memory);
            }
            HostEvent::Signal { vp_index, .. } => {
                let _ = host.signal_event_flag(vp_index, VMBUS_SINT, 5, memory);
            }
        }
    }

    fn mmio_read(&mut self, gpa: u64, size: u8, _memory: &dyn GuestMemory) -> Option<u64> {
        (gpa < 0x1000).then_some(u64::from(size))
    }

    fn mmio_write(&mut self, gpa: u64, _size: u8, _value: u64, _memory: &dyn GuestMemory) -> bool {
        gpa < 0x1000
    }
}

/// A page-control value: usually a page inside memory, enabled or not.
fn page_value(input: &mut Unstructured) -> Result<u64> {
    Ok(if input.ratio(3, 4)? {
        u64::from(input.int_in_range(0..=15u8)?) << 12 | u64::from(input.arbitrary::<bool>()?)
    } else {
        input.arbitrary()?
    })
}

/// A guest request (or, rarely, anything).
fn guest_frame(input: &mut Unstructured) -> Result<Frame> {
    Ok(match input.int_in_range(0..=9u8)? {
        0 => Frame::Hello {
            version: if input.ratio(7, 8)? {
                1
            } else {
                input.arbitrary()?
            },
        },
        1 | 2 => Frame::WriteMsr {
            msr: msr_number(input)?,
            value: page_value(input)?,
        },
        3 => Frame::ReadMsr {
            msr: msr_number(input)?,
        },
        4..=6 => {
            let code = if input.arbitrary()? {
                CALL_POST_MESSAGE
            } else {
                CALL_SIGNAL_EVENT
            };
            let call = if input.ratio(3, 4)? {
                let mut call = HypercallInput::slow(code);
                call.fast = input.arbitrary()?;
                call.to_bits()
            } else {
                input.arbitrary()?
            };
            let connection = if input.arbitrary()? {
                MESSAGE_CONNECTION
            } else {
                EVENT_CONNECTION
            };
            let parameter = if input.ratio(1, 2)? {
                // A slow call's input block inside memory, or a fast call's register.
                u64::from(input.int_in_range(0..=0xFFFu16)?) << 4 | u64::from(connection)
            } else {
                input.arbitrary()?
            };
            Frame::Hypercall {
                input: call,
                input_parameter: parameter,
                output_parameter: input.arbitrary()?,
            }
        }
        7 => Frame::MmioRead {
            gpa: input.int_in_range(0..=0x1FFFu64)?,
            size: input.int_in_range(0..=9)?,
        },
        8 => Frame::MmioWrite {
            gpa: input.int_in_range(0..=0x1FFFu64)?,
            size: input.int_in_range(0..=9)?,
            value: input.arbitrary()?,
        },
        _ => arbitrary_frame(input)?,
    })
}

struct SharedTrace(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedTrace {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(input: &mut Unstructured) -> Result<()> {
    let memory = AtomicMemory::new(0, MEMORY_SIZE as usize);
    let length = usize::from(input.arbitrary::<u8>()?) * 64;
    let contents = input.bytes(input.len().min(length))?;
    memory.write(0x1000, contents).unwrap();

    let mut host = SynicHost::new(Default::default());
    host.register_message_connection(MESSAGE_CONNECTION);
    host.register_event_connection(EVENT_CONNECTION);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let trace = Trace::to_writer(Box::new(SharedTrace(Arc::clone(&lines))));
    let mut session = LinkSession::new(host, trace);
    let mut handler = Echo;

    let mut stream = Vec::new();
    let mut reads = Vec::new();
    while !input.is_empty() {
        let result = append_traffic(input, &mut stream, guest_frame);
        reads.push(stream.len());
        if result.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    for end in reads {
        session.receive(&stream[start..end], &memory, &mut handler, &mut out);
        if end % 3 == 0 {
            session.poll(&memory, &mut handler, &mut out);
        }
        start = end;
    }
    session.finish();

    let decoded = session.decoder_statistics();
    let statistics = session.statistics();
    let mut decoder = FrameDecoder::new();
    let sent: Vec<Frame> = decoder.decode(&out).collect();
    assert_eq!(decoder.statistics().discarded_bytes, 0);
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(sent.len() as u64, statistics.frames_sent);
    assert!(sent.iter().all(|frame| !frame.kind().is_guest_to_host()));
    let interrupts = sent
        .iter()
        .filter(|frame| matches!(frame, Frame::Interrupt { .. }))
        .count() as u64;
    assert_eq!(interrupts, statistics.interrupts);
    assert_eq!(
        statistics.frames_sent - statistics.interrupts,
        decoded.frames - statistics.misdirected_frames,
        "one reply per request"
    );
    drop(session);

    let trace = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    let mut skipped_lines = 0u64;
    let mut skipped_bytes = 0u64;
    for line in trace.lines() {
        if let Some((_, rest)) = line.split_once("] skipped ") {
            let (count, _) = rest.split_once(' ').unwrap();
            skipped_bytes += count.parse::<u64>().unwrap();
            skipped_lines += 1;
        }
    }
    assert_eq!(skipped_bytes, decoded.discarded_bytes);
    assert!(skipped_lines <= decoded.frames + 1);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
