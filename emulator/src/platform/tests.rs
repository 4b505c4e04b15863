//! Integration of the guest-side `SynicClient` (hyperv crate) with the emulated host through
//! the loopback and through the emulated link, plus malformed-input cases.

use super::*;
use hyperv::emulated_link::{EmulatedLinkBackend, Frame, FrameDecoder, SerialLink};
use hyperv::hypercall::{CALL_POST_MESSAGE, CALL_SIGNAL_EVENT, HypercallInput, PostMessageInput};
use hyperv::memory::{AtomicMemory, GuestMemory};
use hyperv::msr;
use hyperv::platform::{BumpPageAllocator, HypervisorBackend, PlatformError};
use hyperv::status::HvError;
use hyperv::synic::{MessageType, VMBUS_SINT};
use hyperv::synic_client::{SynicClient, SynicConfig, SynicError};
use std::collections::VecDeque;
use std::sync::Arc;
use zerocopy::IntoBytes;

const VECTOR: u8 = 0xF3;
const MESSAGE_CONNECTION: u32 = 4;
const EVENT_CONNECTION: u32 = 7;
const CHANNEL_RELID: u32 = 5;

/// Answers every message on connection 4 with the payload reversed, and every signal on
/// connection 7 with event flag 5.
struct EchoService;

impl HostEventHandler for EchoService {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, memory: &dyn GuestMemory) {
        match event {
            HostEvent::Message {
                vp_index, payload, ..
            } => {
                let reply: Vec<u8> = payload.iter().rev().copied().collect();
                host.deliver_message(vp_index, VMBUS_SINT, MessageType::VMBUS, &reply, memory)
                    .unwrap();
            }
            HostEvent::Signal { vp_index, .. } => {
                host.signal_event_flag(vp_index, VMBUS_SINT, CHANNEL_RELID, memory)
                    .unwrap();
            }
        }
    }
}

fn host() -> SynicHost {
    let mut host = SynicHost::new(HostConfig::default());
    host.register_message_connection(MESSAGE_CONNECTION);
    host.register_event_connection(EVENT_CONNECTION);
    host
}

type Client = SynicClient<LoopbackBackend, Arc<AtomicMemory>>;

fn bring_up() -> (Loopback, Client) {
    let loopback = Loopback::new(host(), 0x10_0000);
    let mut pages = BumpPageAllocator::new(0x1000, 0x10_0000);
    let client = SynicClient::initialize(
        loopback.backend(0),
        loopback.memory(),
        &mut pages,
        SynicConfig::vmbus(VECTOR),
    )
    .unwrap();
    (loopback, client)
}

#[test]
fn bring_up_programs_every_register() {
    let (loopback, mut client) = bring_up();
    let pages = client.pages();
    loopback.with_host(|host, _| {
        assert!(host.hypercalls_enabled());
        let vp = host.vp(0).unwrap();
        assert!(vp.scontrol.enabled());
        assert_eq!((vp.simp.enabled(), vp.simp.gpa()), (true, pages.messages));
        assert_eq!(
            (vp.siefp.enabled(), vp.siefp.gpa()),
            (true, pages.event_flags)
        );
        let sint = vp.sints[2];
        assert_eq!(
            (sint.vector(), sint.masked(), sint.auto_eoi()),
            (VECTOR, false, false)
        );
        assert!(vp.sints[3].masked());
        assert_eq!(
            host.read_msr(0, msr::GUEST_OS_ID),
            Ok(0x80D0_0000_0100_0000)
        );
    });
    // The hypervisor wrote its stub into the hypercall page.
    let mut stub = [0u8; 4];
    loopback.memory().read(pages.hypercall, &mut stub).unwrap();
    assert_eq!(stub, [0x0F, 0x01, 0xC1, 0xC3]);
    assert_eq!(client.vp_index(), 0);
    assert_eq!(client.backend().read_msr(msr::SVERSION), Ok(1));

    let mut pages_back = BumpPageAllocator::new(0, 0);
    client.shutdown(&mut pages_back).unwrap();
    loopback.with_host(|host, _| {
        let vp = host.vp(0).unwrap();
        assert!(!vp.scontrol.enabled() && !vp.simp.enabled() && !vp.siefp.enabled());
        assert!(vp.sints[2].masked());
        assert!(!host.hypercalls_enabled());
    });
}

#[test]
fn post_message_reply_arrives_through_an_interrupt() {
    let (loopback, mut client) = bring_up();
    loopback.set_handler(Box::new(EchoService));
    client
        .post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[1, 2, 3])
        .unwrap();
    let interrupts = loopback.take_interrupts();
    assert_eq!(
        interrupts,
        [Interrupt {
            vp_index: 0,
            sint: 2,
            vector: VECTOR
        }]
    );
    let message = client.poll_message(VMBUS_SINT).unwrap().unwrap();
    assert_eq!(message.message_type, MessageType::VMBUS);
    assert_eq!(message.payload().unwrap(), &[3, 2, 1]);
    assert_eq!(client.poll_message(VMBUS_SINT).unwrap(), None);
}

#[test]
fn a_burst_larger_than_one_slot_goes_through_pending_and_eom() {
    let (loopback, mut client) = bring_up();
    const COUNT: u32 = 50;
    loopback.with_host(|host, memory| {
        for index in 0..COUNT {
            host.deliver_message(
                0,
                VMBUS_SINT,
                MessageType::VMBUS,
                &index.to_le_bytes(),
                memory,
            )
            .unwrap();
        }
        assert_eq!(host.queued_messages(0, VMBUS_SINT), COUNT as usize - 1);
    });
    let mut received = Vec::new();
    let mut interrupts = 0;
    loop {
        let raised = loopback.take_interrupts();
        if raised.is_empty() {
            break;
        }
        interrupts += raised.len();
        // The interrupt handler: drain the slot.
        while let Some(message) = client.poll_message(VMBUS_SINT).unwrap() {
            let payload = message.payload().unwrap();
            received.push(u32::from_le_bytes(payload.try_into().unwrap()));
        }
    }
    assert_eq!(received, (0..COUNT).collect::<Vec<_>>());
    assert_eq!(interrupts, COUNT as usize, "one interrupt per delivery");
    loopback.with_host(|host, _| assert_eq!(host.queued_messages(0, VMBUS_SINT), 0));
}

#[test]
fn a_guest_that_ignores_pending_gets_nothing_more_until_eom() {
    let (loopback, client) = bring_up();
    let simp = client.pages().messages;
    let memory = loopback.memory();
    loopback.with_host(|host, memory| {
        for byte in 0..3u8 {
            host.deliver_message(0, 2, MessageType::VMBUS, &[byte], memory)
                .unwrap();
        }
    });
    // Slot 2 holds message 0 with MessagePending set.
    let slot = simp + 2 * 256;
    assert_eq!(memory.load_u32(slot).unwrap(), 1);
    let mut flags = [0u8];
    memory.read(slot + 5, &mut flags).unwrap();
    assert_eq!(flags[0], 1);
    // Release without EOM: nothing is redelivered.
    memory.store_u32(slot, 0).unwrap();
    loopback.take_interrupts();
    loopback
        .with_host(|host, memory| host.deliver_message(0, 2, MessageType::VMBUS, &[9], memory))
        .unwrap();
    // The new message went into the free slot in order: message 1 is next, not 9.
    let mut payload = [0u8];
    memory.read(slot + 16, &mut payload).unwrap();
    assert_eq!(payload[0], 1);
}

#[test]
fn event_flags_interrupt_only_on_a_rising_edge() {
    let (loopback, mut client) = bring_up();
    loopback.set_handler(Box::new(EchoService));
    client.signal_event(EVENT_CONNECTION, 0).unwrap();
    client.signal_event(EVENT_CONNECTION, 0).unwrap();
    assert_eq!(loopback.take_interrupts().len(), 1);
    let fired = client.fired_event_flags(VMBUS_SINT).unwrap();
    assert_eq!(fired.iter().collect::<Vec<_>>(), [CHANNEL_RELID]);
    client.signal_event(EVENT_CONNECTION, 0).unwrap();
    assert_eq!(
        loopback.take_interrupts().len(),
        1,
        "cleared flag rises again"
    );
    // Slow form of HvSignalEvent.
    let input_page = client.pages().hypercall_input;
    let block = hyperv::hypercall::SignalEventInput {
        connection_id: EVENT_CONNECTION,
        flag_number: 0,
        reserved: 0,
    };
    loopback
        .memory()
        .write(input_page, block.as_bytes())
        .unwrap();
    let output = client
        .backend()
        .hypercall(HypercallInput::slow(CALL_SIGNAL_EVENT), input_page, 0)
        .unwrap();
    assert_eq!(output.result(), Ok(()));
}

#[test]
fn masked_sint_holds_messages_and_interrupts_until_unmasked() {
    let (loopback, mut client) = bring_up();
    let sint2 = msr::sint(2).unwrap();
    let value = client.backend().read_msr(sint2).unwrap();
    client.backend().write_msr(sint2, value | 1 << 16).unwrap();
    loopback.with_host(|host, memory| {
        host.deliver_message(0, 2, MessageType::VMBUS, &[1], memory)
            .unwrap();
        host.signal_event_flag(0, 2, 3, memory).unwrap();
    });
    assert!(loopback.take_interrupts().is_empty());
    assert_eq!(client.poll_message(2).unwrap(), None);
    client.backend().write_msr(sint2, value).unwrap();
    assert_eq!(
        loopback.take_interrupts().len(),
        2,
        "message delivery and the held flag interrupt"
    );
    assert!(client.poll_message(2).unwrap().is_some());
    assert!(client.fired_event_flags(2).unwrap().contains(3));
}

/// Issues a raw hypercall on the loopback.
fn raw(client: &mut Client, input: u64, rdx: u64, r8: u64) -> Result<(), HvError> {
    let input = HypercallInput::from_bits(input)?;
    client.backend().hypercall(input, rdx, r8).unwrap().result()
}

fn write_block(loopback: &Loopback, gpa: u64, connection_id: u32, message_type: u32, size: u32) {
    let mut block = PostMessageInput::new(connection_id, message_type, &[]).unwrap();
    block.payload_size = size;
    loopback.memory().write(gpa, block.as_bytes()).unwrap();
}

#[test]
fn every_hypercall_error_the_host_produces() {
    let (loopback, mut client) = bring_up();
    let page = client.pages().hypercall_input;
    let post = u64::from(CALL_POST_MESSAGE);
    let signal_fast = HypercallInput::fast(CALL_SIGNAL_EVENT).to_bits();

    write_block(&loopback, page, 99, 1, 0);
    assert_eq!(
        raw(&mut client, post, page, 0),
        Err(HvError::InvalidConnectionId)
    );
    write_block(&loopback, page, MESSAGE_CONNECTION, 1, 241);
    assert_eq!(
        raw(&mut client, post, page, 0),
        Err(HvError::InvalidParameter)
    );
    write_block(&loopback, page, MESSAGE_CONNECTION, 0, 0);
    assert_eq!(
        raw(&mut client, post, page, 0),
        Err(HvError::InvalidParameter)
    );
    write_block(&loopback, page, MESSAGE_CONNECTION, 0x8000_0010, 0);
    assert_eq!(
        raw(&mut client, post, page, 0),
        Err(HvError::InvalidParameter)
    );
    assert_eq!(
        raw(&mut client, post, page + 4, 0),
        Err(HvError::InvalidAlignment)
    );
    assert_eq!(
        raw(&mut client, post, page + 4096 - 8, 0),
        Err(HvError::InvalidHypercallInput)
    );
    assert_eq!(
        raw(&mut client, post, 0x4000_0000, 0),
        Err(HvError::InvalidParameter)
    );
    assert_eq!(
        raw(&mut client, post | 1 << 16, page, 0),
        Err(HvError::InvalidHypercallCode)
    );
    assert_eq!(
        raw(&mut client, post | 1 << 32, page, 0),
        Err(HvError::InvalidHypercallInput)
    );
    assert_eq!(
        raw(&mut client, 0x99, 0, 0),
        Err(HvError::InvalidHypercallCode)
    );
    assert_eq!(
        client
            .backend()
            .hypercall(HypercallInput::default(), 0, 0)
            .unwrap()
            .0
            & 0xFFFF,
        2
    );
    assert_eq!(
        raw(&mut client, signal_fast, 8, 0),
        Err(HvError::InvalidConnectionId)
    );
    assert_eq!(
        raw(
            &mut client,
            signal_fast,
            u64::from(EVENT_CONNECTION) | 1 << 32,
            0
        ),
        Err(HvError::InvalidPortId)
    );
    assert_eq!(
        raw(
            &mut client,
            signal_fast,
            u64::from(EVENT_CONNECTION) | 1 << 48,
            0
        ),
        Err(HvError::InvalidHypercallInput)
    );
    assert_eq!(
        raw(&mut client, signal_fast, 0x0100_0007, 0),
        Err(HvError::InvalidHypercallInput)
    );
    assert_eq!(
        raw(&mut client, u64::from(CALL_SIGNAL_EVENT), page + 4, 0),
        Err(HvError::InvalidAlignment)
    );
    assert_eq!(
        raw(&mut client, u64::from(CALL_SIGNAL_EVENT), 0x4000_0000, 0),
        Err(HvError::InvalidParameter)
    );

    // Nobody takes the messages: after 16 outstanding, INSUFFICIENT_BUFFERS.
    for _ in 0..16 {
        client
            .post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[0])
            .unwrap();
    }
    assert_eq!(
        client.post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[0]),
        Err(SynicError::Hypervisor(HvError::InsufficientBuffers))
    );
    assert_eq!(loopback.take_host_events().len(), 16);
    client
        .post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[0])
        .unwrap();

    // A VP that does not exist.
    let mut stranger = loopback.backend(5);
    let output = stranger
        .hypercall(HypercallInput::slow(CALL_POST_MESSAGE), page, 0)
        .unwrap();
    assert_eq!(output.result(), Err(HvError::InvalidVpIndex));

    // Guest-side validation before any hypercall.
    assert_eq!(
        client.post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[0; 241]),
        Err(SynicError::PayloadTooLarge { length: 241 })
    );
    assert_eq!(
        client.post_message(MESSAGE_CONNECTION, MessageType::NONE, &[]),
        Err(SynicError::InvalidMessageType(MessageType::NONE))
    );
}

#[test]
fn every_status_code_reaches_the_guest_typed() {
    let (loopback, mut client) = bring_up();
    for error in HvError::ALL {
        loopback.with_host(|host, _| host.inject_hypercall_error(CALL_POST_MESSAGE, *error));
        assert_eq!(
            client.post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[1]),
            Err(SynicError::Hypervisor(*error))
        );
        loopback.with_host(|host, _| host.inject_hypercall_error(CALL_SIGNAL_EVENT, *error));
        assert_eq!(
            client.signal_event(EVENT_CONNECTION, 0),
            Err(SynicError::Hypervisor(*error))
        );
    }
    assert!(loopback.take_host_events().is_empty());
}

#[test]
fn hypercalls_before_the_hypercall_page_fail() {
    let loopback = Loopback::new(host(), 0x10000);
    let mut backend = loopback.backend(0);
    let output = backend
        .hypercall(HypercallInput::slow(CALL_POST_MESSAGE), 0x1000, 0)
        .unwrap();
    assert_eq!(output.result(), Err(HvError::InvalidHypercallCode));
    // Enabling the hypercall page before GUEST_OS_ID does not stick.
    backend.write_msr(msr::HYPERCALL, 0x2001).unwrap();
    assert_eq!(backend.read_msr(msr::HYPERCALL), Ok(0x2000));
    // And bring-up reports it.
    let mut pages = BumpPageAllocator::new(0x1000, 0x10000);
    let mut config = SynicConfig::vmbus(VECTOR);
    config.guest_os_id = hyperv::msr::GuestOsId(0);
    assert!(matches!(
        SynicClient::initialize(loopback.backend(0), loopback.memory(), &mut pages, config),
        Err(SynicError::InvalidConfig)
    ));
}

#[test]
fn bad_msr_accesses_are_general_protection() {
    let loopback = Loopback::new(host(), 0x10000);
    let mut backend = loopback.backend(0);
    fn gp<T>(msr: u32) -> Result<T, PlatformError> {
        Err(PlatformError::GeneralProtection { msr })
    }
    assert_eq!(backend.write_msr(msr::VP_INDEX, 1), gp(msr::VP_INDEX));
    assert_eq!(backend.write_msr(msr::SVERSION, 1), gp(msr::SVERSION));
    assert_eq!(backend.read_msr(msr::EOM), gp(msr::EOM));
    assert_eq!(backend.read_msr(0x4000_1234), gp(0x4000_1234));
    assert_eq!(backend.write_msr(0x4000_1234, 0), gp(0x4000_1234));
    // Unmasked SINT with a vector below 16.
    let sint0 = msr::sint(0).unwrap();
    assert_eq!(backend.write_msr(sint0, 0x0F), gp(sint0));
    assert_eq!(backend.write_msr(sint0, 0x1_000F), Ok(()));
    // Hypercall page outside guest memory.
    backend.write_msr(msr::GUEST_OS_ID, 1).unwrap();
    assert_eq!(
        backend.write_msr(msr::HYPERCALL, 0x10_0001),
        gp(msr::HYPERCALL)
    );
    assert_eq!(
        loopback.backend(9).read_msr(msr::VP_INDEX),
        gp(msr::VP_INDEX)
    );
    // TIME_REF_COUNT comes from the host clock.
    loopback.with_host(|host, _| host.set_reference_clock(Box::new(|| 1234)));
    assert_eq!(backend.read_msr(msr::TIME_REF_COUNT), Ok(1234));
}

#[test]
fn deliveries_to_bad_pages_and_bad_arguments_are_survived() {
    let (loopback, mut client) = bring_up();
    // The guest points SIMP and SIEFP outside its memory.
    client.backend().write_msr(msr::SIMP, 0x4000_0001).unwrap();
    client.backend().write_msr(msr::SIEFP, 0x4000_1001).unwrap();
    loopback.with_host(|host, memory| {
        host.deliver_message(0, 2, MessageType::VMBUS, &[1], memory)
            .unwrap();
        assert_eq!(
            host.queued_messages(0, 2),
            1,
            "kept for a later, valid SIMP"
        );
        assert!(matches!(
            host.signal_event_flag(0, 2, 1, memory),
            Err(DeliveryError::Memory(_))
        ));
        assert_eq!(
            host.deliver_message(0, 16, MessageType::VMBUS, &[], memory),
            Err(DeliveryError::InvalidSint(16))
        );
        assert_eq!(
            host.deliver_message(3, 2, MessageType::VMBUS, &[], memory),
            Err(DeliveryError::InvalidVp(3))
        );
        assert_eq!(
            host.deliver_message(0, 2, MessageType::NONE, &[], memory),
            Err(DeliveryError::InvalidMessageType)
        );
        assert_eq!(
            host.deliver_message(0, 2, MessageType::VMBUS, &[0; 241], memory),
            Err(DeliveryError::PayloadTooLarge(241))
        );
        assert_eq!(
            host.signal_event_flag(0, 2, 2048, memory),
            Err(DeliveryError::InvalidFlag(2048))
        );
    });
    assert!(loopback.take_interrupts().is_empty());
    // Moving SIMP back delivers the held message.
    let simp = client.pages().messages;
    client.backend().write_msr(msr::SIMP, simp | 1).unwrap();
    assert_eq!(loopback.take_interrupts().len(), 1);
    assert!(client.poll_message(2).unwrap().is_some());
    assert_eq!(client.poll_message(16), Err(SynicError::InvalidSint(16)));
}

#[test]
fn queue_limit_is_enforced() {
    let config = HostConfig {
        message_queue_limit: 2,
        ..Default::default()
    };
    let memory = AtomicMemory::new(0, 0x1000);
    let mut host = SynicHost::new(config);
    for _ in 0..2 {
        host.deliver_message(0, 2, MessageType::VMBUS, &[], &memory)
            .unwrap();
    }
    assert_eq!(
        host.deliver_message(0, 2, MessageType::VMBUS, &[], &memory),
        Err(DeliveryError::QueueFull)
    );
}

/// The guest's COM2 wired straight into a [`LinkSession`] in the same process.
struct SessionPipe {
    session: LinkSession,
    memory: Arc<AtomicMemory>,
    handler: EchoService,
    inbound: VecDeque<u8>,
}

impl SerialLink for SessionPipe {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError> {
        let mut out = Vec::new();
        self.session
            .receive(bytes, self.memory.as_ref(), &mut self.handler, &mut out);
        self.inbound.extend(out);
        Ok(())
    }

    fn receive(&mut self) -> Result<u8, PlatformError> {
        self.inbound.pop_front().ok_or(PlatformError::LinkFailure)
    }

    fn try_receive(&mut self) -> Option<u8> {
        self.inbound.pop_front()
    }
}

#[test]
fn synic_client_over_the_emulated_link() {
    let memory = Arc::new(AtomicMemory::new(0, 0x10_0000));
    let trace_lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let trace = trace::Trace::to_writer(Box::new(Sink(Arc::clone(&trace_lines))));
    let mut pipe = SessionPipe {
        session: LinkSession::new(host(), trace),
        memory: Arc::clone(&memory),
        handler: EchoService,
        inbound: VecDeque::new(),
    };
    // Firmware noise on the port before the kernel starts.
    pipe.send(b"BdsDxe: starting Boot0001\r\n").unwrap();
    let backend = EmulatedLinkBackend::connect(pipe).unwrap();
    assert_eq!(
        backend.host_version(),
        hyperv::emulated_link::PROTOCOL_VERSION
    );
    let mut pages = BumpPageAllocator::new(0x1000, 0x10_0000);
    let mut client = SynicClient::initialize(
        backend,
        Arc::clone(&memory),
        &mut pages,
        SynicConfig::vmbus(VECTOR),
    )
    .unwrap();
    client
        .post_message(MESSAGE_CONNECTION, MessageType::VMBUS, &[4, 5, 6])
        .unwrap();
    // The Interrupt frame follows the HypercallResult; the COM2 handler reads it.
    client.backend().service_receive_interrupt();
    assert_eq!(client.backend().take_pending_vector(), Some(VECTOR));
    let message = client.poll_message(VMBUS_SINT).unwrap().unwrap();
    assert_eq!(message.payload().unwrap(), &[6, 5, 4]);
    client.signal_event(EVENT_CONNECTION, 0).unwrap();
    client.backend().service_receive_interrupt();
    assert_eq!(client.backend().take_pending_vector(), Some(VECTOR));
    assert!(
        client
            .fired_event_flags(VMBUS_SINT)
            .unwrap()
            .contains(CHANNEL_RELID)
    );
    assert_eq!(
        client.post_message(99, MessageType::VMBUS, &[]),
        Err(SynicError::Hypervisor(HvError::InvalidConnectionId))
    );
    assert_eq!(
        client.backend().read_msr(0x4000_1234),
        Err(PlatformError::GeneralProtection { msr: 0x4000_1234 })
    );
    let text = String::from_utf8(trace_lines.lock().unwrap().clone()).unwrap();
    for expected in [
        "skipped 27 non-frame bytes",
        "rx Hello",
        "wrmsr 0x40000083",
        "hypercall vp 0 rcx 0x5c",
        "deliver message vp 0 sint 2",
        "tx Interrupt { vector: f3 }",
        "InvalidConnectionId",
    ] {
        assert!(text.contains(expected), "trace lacks {expected:?}:\n{text}");
    }
}

#[test]
fn second_hello_resets_the_partition_and_misdirected_frames_are_ignored() {
    let memory = AtomicMemory::new(0, 0x10000);
    let mut session = LinkSession::new(host(), trace::Trace::disabled());
    let mut out = Vec::new();
    let send = |session: &mut LinkSession, frame: Frame, out: &mut Vec<u8>| {
        session.receive(frame.encode().as_bytes(), &memory, &mut LoggingHandler, out);
    };
    send(&mut session, Frame::Hello { version: 1 }, &mut out);
    send(
        &mut session,
        Frame::WriteMsr {
            msr: msr::GUEST_OS_ID,
            value: 5,
        },
        &mut out,
    );
    send(&mut session, Frame::Interrupt { vector: 3 }, &mut out);
    send(&mut session, Frame::Hello { version: 2 }, &mut out);
    send(
        &mut session,
        Frame::ReadMsr {
            msr: msr::GUEST_OS_ID,
        },
        &mut out,
    );
    send(
        &mut session,
        Frame::MmioRead {
            gpa: 0xFE00_0000,
            size: 4,
        },
        &mut out,
    );
    let frames: Vec<Frame> = FrameDecoder::new().decode(&out).collect();
    assert_eq!(frames.len(), 5);
    assert!(matches!(
        frames[0],
        Frame::HelloReply {
            version: 1,
            vp_index: 0,
            ..
        }
    ));
    assert_eq!(
        frames[3],
        Frame::MsrResult {
            msr: msr::GUEST_OS_ID,
            status: 0,
            value: 0
        }
    );
    assert_eq!(
        frames[4],
        Frame::MmioResult {
            status: 1,
            value: u64::MAX
        }
    );
    assert_eq!(session.statistics().misdirected_frames, 1);
}

/// A trace sink shared with the test.
struct SharedTrace(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedTrace {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn firmware_output_is_traced_as_one_line_per_run_of_skipped_bytes() {
    let memory = AtomicMemory::new(0, 0x10000);
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let trace = trace::Trace::to_writer(Box::new(SharedTrace(Arc::clone(&lines))));
    let mut session = LinkSession::new(host(), trace);
    let mut out = Vec::new();
    let text = b"BdsDxe: loading Boot0001 \"UEFI QEMU HARDDISK\"\r\n";
    // OVMF's boot text arrives in many small reads, then the kernel's Hello; a frame split
    // across reads with text around it; a last run of text before the socket closes.
    for _ in 0..100 {
        session.receive(text, &memory, &mut LoggingHandler, &mut out);
    }
    let hello = Frame::Hello { version: 1 }.encode();
    session.receive(hello.as_bytes(), &memory, &mut LoggingHandler, &mut out);
    let read = Frame::ReadMsr { msr: msr::VP_INDEX }.encode();
    let (head, tail) = read.as_bytes().split_at(3);
    for chunk in [&b"early text"[..], b"more", head] {
        session.receive(chunk, &memory, &mut LoggingHandler, &mut out);
    }
    let mut last = tail.to_vec();
    last.extend_from_slice(b"trailing");
    session.receive(&last, &memory, &mut LoggingHandler, &mut out);
    session.receive(b" text", &memory, &mut LoggingHandler, &mut out);
    session.finish();
    drop(session); // nothing left to report

    let text_length = text.len() * 100;
    let trace = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    let skipped: Vec<&str> = trace
        .lines()
        .filter(|line| line.contains("non-frame bytes"))
        .collect();
    assert_eq!(skipped.len(), 3, "{trace}");
    assert!(
        skipped[0].ends_with(&format!(
            "skipped {text_length} non-frame bytes (firmware output) before frame 1"
        )),
        "{trace}"
    );
    assert!(
        skipped[1].ends_with("skipped 14 non-frame bytes (firmware output) before frame 2"),
        "{trace}"
    );
    assert!(
        skipped[2].ends_with("skipped 13 non-frame bytes (firmware output) at session end"),
        "{trace}"
    );
    let frames: Vec<Frame> = FrameDecoder::new().decode(&out).collect();
    assert_eq!(frames.len(), 2, "replies unchanged");
}

#[test]
fn qemu_link_over_a_real_socket() {
    use std::io::{Read, Write};
    let directory = std::env::temp_dir().join(format!("dxgos-link-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let mut config = QemuLinkConfig::new(directory.join("ram"), directory.join("com2.sock"));
    config.memory_size = Some(0x10_0000);
    config.trace = Some(directory.join("trace.txt"));
    config.transport = super::Transport::Com2;
    let link = QemuLink::bind(config).unwrap();
    let server = std::thread::spawn(move || link.serve(host(), &mut EchoService).unwrap());

    let mut stream = std::os::unix::net::UnixStream::connect(directory.join("com2.sock")).unwrap();
    stream.write_all(b"garbage").unwrap();
    stream
        .write_all(Frame::Hello { version: 1 }.encode().as_bytes())
        .unwrap();
    stream
        .write_all(Frame::ReadMsr { msr: msr::VP_INDEX }.encode().as_bytes())
        .unwrap();
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut buffer = [0u8; 64];
    while frames.len() < 2 {
        let count = stream.read(&mut buffer).unwrap();
        assert!(count > 0);
        frames.extend(decoder.decode(&buffer[..count]));
    }
    assert!(matches!(frames[0], Frame::HelloReply { .. }));
    assert_eq!(
        frames[1],
        Frame::MsrResult {
            msr: msr::VP_INDEX,
            status: 0,
            value: 0
        }
    );
    drop(stream);
    let summary = server.join().unwrap();
    assert_eq!(summary.decoder.discarded_bytes, 7);
    assert_eq!(summary.session.frames_sent, 2);
    let trace = std::fs::read_to_string(directory.join("trace.txt")).unwrap();
    assert!(trace.contains("rdmsr 0x40000002 -> Ok(0)"), "{trace}");
    std::fs::remove_dir_all(&directory).unwrap();
}
