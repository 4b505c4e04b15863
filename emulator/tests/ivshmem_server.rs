//! The emulator's ivshmem server, with this test acting as QEMU's `ivshmem-doorbell` device:
//! the greeting is checked against QEMU's `docs/specs/ivshmem-spec.rst` (version 0, the
//! client's ID, -1 with the shared memory, the peers' IDs with their eventfds, the client's
//! own ID with its interrupt eventfd), then a Hello frame makes a doorbell round trip through
//! the mailboxes, a SynIC message makes the server raise the guest's interrupt, and the answer
//! to an HvSignalEvent, sent behind its result, is owed and raised when left in the mailbox.

use emulator::platform::ivshmem::{GUEST_PEER_ID, HOST_PEER_ID};
use emulator::platform::{
    HostConfig, HostEvent, HostEventHandler, LoggingHandler, QemuLink, QemuLinkConfig,
    SharedFileMemory, SynicHost,
};
use hyperv::emulated_link::mailbox::{
    self, RingConsumer, RingProducer, SHARED_MEMORY_SIZE, TO_GUEST, TO_HOST,
};
use hyperv::emulated_link::{Frame, FrameDecoder, PROTOCOL_VERSION};
use hyperv::memory::GuestMemory;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::OwnedFd;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Generous: the machine running the tests may be loaded.
const BOUND: Duration = Duration::from_secs(30);

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dxgos-ivshmem-{}-{name}", std::process::id()))
}

/// One server message: the 8-byte little-endian number and the fd that came with it.
fn receive(stream: &UnixStream) -> (i64, Option<OwnedFd>) {
    let mut bytes = [0u8; 8];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    assert_eq!(received.bytes, 8, "every message is 8 bytes");
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            fd = fds.next();
        }
    }
    (i64::from_le_bytes(bytes), fd)
}

/// Waits (bounded) until `fd` is readable.
fn readable(fd: &File, within: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: within.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    poll(&mut fds, Some(&timeout)).expect("poll") == 1
}

/// Reads frames from the host → guest ring until one matches, within [`BOUND`].
fn wait_for_frame(
    memory: &SharedFileMemory,
    consumer: &mut RingConsumer,
    decoder: &mut FrameDecoder,
    wanted: impl Fn(&Frame) -> bool,
) -> Frame {
    let deadline = Instant::now() + BOUND;
    let mut buffer = [0u8; 256];
    loop {
        let count = consumer.pop(memory, &mut buffer).expect("ring");
        for &byte in &buffer[..count] {
            if let Some(frame) = decoder.push(byte)
                && wanted(&frame)
            {
                return frame;
            }
        }
        assert!(Instant::now() < deadline, "no reply in the mailbox");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Acts as the guest: sends `frame` through the guest → host ring and rings the doorbell.
fn send(memory: &SharedFileMemory, producer: &mut RingProducer, doorbell: &File, frame: Frame) {
    let encoded = frame.encode();
    assert_eq!(
        producer.push(memory, encoded.as_bytes()).unwrap(),
        encoded.as_bytes().len()
    );
    (&*doorbell).write_all(&1u64.to_ne_bytes()).unwrap();
}

/// Sets event flag 0 of SINT 2 on every poll once armed, and in answer to every
/// HvSignalEvent (as a channel's host answers the guest's signal).
struct FlagRaiser(Arc<AtomicBool>);

/// The event connection the test's HvSignalEvent names.
const SIGNAL_CONNECTION: u32 = 0x2A;

impl HostEventHandler for FlagRaiser {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, memory: &dyn GuestMemory) {
        if matches!(event, HostEvent::Signal { .. }) {
            host.signal_event_flag(0, 2, 0, memory).expect("flag");
            return;
        }
        LoggingHandler.handle(event, host, memory);
    }

    fn poll(&mut self, host: &mut SynicHost, memory: &dyn GuestMemory) {
        if self.0.load(Ordering::SeqCst) {
            host.signal_event_flag(0, 2, 0, memory).expect("flag");
        }
    }
}

#[test]
fn greeting_doorbell_and_interrupt_follow_the_ivshmem_protocol() {
    let ram_file = scratch("ram");
    let socket = scratch("sock");
    let mut config = QemuLinkConfig::new(ram_file.clone(), socket.clone());
    config.memory_size = Some(1 << 20);
    config.connect_timeout = BOUND;
    let link = QemuLink::bind(config).expect("bind");
    let armed = Arc::new(AtomicBool::new(false));
    let mut handler = FlagRaiser(armed.clone());
    let mut host = SynicHost::new(HostConfig::default());
    host.register_event_connection(SIGNAL_CONNECTION);
    let server = std::thread::spawn(move || link.serve(host, &mut handler));

    let stream = UnixStream::connect(&socket).expect("connect");
    let (version, fd) = receive(&stream);
    assert_eq!((version, fd.is_none()), (0, true), "protocol version 0");
    let (id, fd) = receive(&stream);
    assert_eq!((id, fd.is_none()), (i64::from(GUEST_PEER_ID), true));
    let (minus_one, shared) = receive(&stream);
    assert_eq!(minus_one, -1);
    let shared = File::from(shared.expect("the shared memory fd"));
    assert_eq!(shared.metadata().unwrap().len(), SHARED_MEMORY_SIZE);
    let (peer, doorbell) = receive(&stream);
    assert_eq!(peer, i64::from(HOST_PEER_ID), "the emulator is peer 0");
    let doorbell = File::from(doorbell.expect("peer 0's eventfd"));
    let (own, interrupt) = receive(&stream);
    assert_eq!(own, i64::from(GUEST_PEER_ID), "interrupt setup: own ID");
    let interrupt = File::from(interrupt.expect("the client's interrupt eventfd"));

    let memory = SharedFileMemory::from_file(&shared, 0).unwrap();
    assert!(mailbox::is_initialised(&memory).unwrap());
    let mut producer = RingProducer::attach(TO_HOST, &memory).unwrap();
    let mut consumer = RingConsumer::attach_skipping(TO_GUEST, &memory).unwrap();
    let mut decoder = FrameDecoder::new();

    // Doorbell round trip: Hello in, HelloReply out.
    send(
        &memory,
        &mut producer,
        &doorbell,
        Frame::Hello {
            version: PROTOCOL_VERSION,
        },
    );
    let reply = wait_for_frame(&memory, &mut consumer, &mut decoder, |frame| {
        matches!(frame, Frame::HelloReply { .. })
    });
    assert!(
        matches!(reply, Frame::HelloReply { version, vp_index: 0, .. } if version == PROTOCOL_VERSION)
    );

    // Interrupt: the guest enables its hypercall page, the SynIC, its event-flag page and
    // SINT 2 (vector 0x50, unmasked); then the host sets a flag, sends Interrupt{0x50} and raises the interrupt.
    for (msr, value) in [
        // The hypercall page (for the HvSignalEvent below): no hypercall before it.
        (hyperv::msr::GUEST_OS_ID, 0x8100_0000_0000_0000),
        (hyperv::msr::HYPERCALL, 0x9_0000 | 1),
        (hyperv::msr::SIEFP, 0x8_0000 | 1),
        (hyperv::msr::SCONTROL, 1),
        (hyperv::msr::SINT0 + 2, 0x50),
    ] {
        send(
            &memory,
            &mut producer,
            &doorbell,
            Frame::WriteMsr { msr, value },
        );
        let result = wait_for_frame(&memory, &mut consumer, &mut decoder, |frame| {
            matches!(frame, Frame::MsrResult { .. })
        });
        assert!(
            matches!(result, Frame::MsrResult { msr: answered, status: 0, .. } if answered == msr),
            "{result:?}"
        );
    }
    assert!(!readable(&interrupt, Duration::ZERO), "no interrupt yet");
    armed.store(true, Ordering::SeqCst);
    assert!(
        readable(&interrupt, BOUND),
        "the guest's interrupt was raised"
    );
    let frame = wait_for_frame(&memory, &mut consumer, &mut decoder, |frame| {
        matches!(frame, Frame::Interrupt { .. })
    });
    assert_eq!(frame, Frame::Interrupt { vector: 0x50 });
    let mut count = [0u8; 8];
    (&interrupt).read_exact(&mut count).unwrap();
    assert!(u64::from_ne_bytes(count) >= 1);

    // A reply carries its interrupt: the answer to an HvSignalEvent goes out behind the
    // hypercall's result with no interrupt (owed); a guest that leaves it in the mailbox is
    // interrupted anyway, within the emulator's recheck (docs/emulated-platform.md).
    armed.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    while consumer.pop(&memory, &mut [0u8; 256]).unwrap() > 0 {}
    if readable(&interrupt, Duration::ZERO) {
        (&interrupt).read_exact(&mut count).unwrap();
    }
    // The guest takes the flag (a set flag raises nothing more).
    let ram = File::options()
        .read(true)
        .write(true)
        .open(&ram_file)
        .unwrap();
    let ram = SharedFileMemory::from_file(&ram, 0).unwrap();
    ram.store_u32(hyperv::synic::event_flags_slot_gpa(0x8_0000, 2), 0)
        .unwrap();
    let signal = hyperv::hypercall::SignalEventInput {
        connection_id: SIGNAL_CONNECTION,
        flag_number: 0,
        reserved: 0,
    };
    send(
        &memory,
        &mut producer,
        &doorbell,
        Frame::Hypercall {
            input: hyperv::hypercall::HypercallInput::fast(hyperv::hypercall::CALL_SIGNAL_EVENT)
                .to_bits(),
            input_parameter: signal.to_fast_register(),
            output_parameter: 0,
        },
    );
    assert!(
        readable(&interrupt, BOUND),
        "the owed interrupt came although the guest left the frames"
    );
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut buffer = [0u8; 256];
    while let Ok(count @ 1..) = consumer.pop(&memory, &mut buffer) {
        frames.extend(decoder.decode(&buffer[..count]));
    }
    assert_eq!(
        frames,
        [
            Frame::HypercallResult { output: 0 },
            Frame::Interrupt { vector: 0x50 }
        ]
    );

    drop(stream);
    let summary = server
        .join()
        .unwrap()
        .expect("the server ends cleanly when QEMU goes");
    assert_eq!(summary.session.hellos, 1);
    assert_eq!(summary.session.hypercalls, 1);
    assert_eq!(
        summary.interrupts.raised_late, 1,
        "{:?}",
        summary.interrupts
    );
    let _ = std::fs::remove_file(ram_file);
}
