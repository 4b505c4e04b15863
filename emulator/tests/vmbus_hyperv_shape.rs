//! The guest's VMBus bus driver against a Hyper-V-shaped emulated host, in one process: the
//! `hyperv` SynIC client and `drivers::vmbus_bus::BusDriver` over `emulator::platform::Loopback`
//! with `HostServices`, steered by the misbehaviour switches (no connection id 4, transient and
//! permanent HvPostMessage failures) and checked on what a real host sees (monitor pages in
//! INITIATE_CONTACT, ring feature bits at OPENCHANNEL, no UNLOAD below 3.0).

mod support;

use drivers::vmbus_bus::{
    BusDriver, BusError, BusNotice, BusRequest, DriverEvent, InterruptOutcome, OpenFailure,
    RingMemory,
};
use emulator::platform::{HostConfig, Loopback, LoopbackBackend, PostFaults, SynicHost};
use emulator::services::{HostServices, SharedHostServices};
use emulator::vmbus_server::{AnswerFault, ServerConfig};
use hyperv::memory::{AtomicMemory, GuestMemory, PAGE_SIZE};
use hyperv::platform::BumpPageAllocator;
use hyperv::status::HvError;
use hyperv::synic::{MessageType, VMBUS_SINT};
use std::sync::Arc;
use support::guest_stack::SteppingClock;
use vmbus::client::{GpadlCreateError, SubscriberId};
use vmbus::guid::class;
use vmbus::messages::encode;
use vmbus::post_retry::PostFailure;
use vmbus::ring::FEATURE_PENDING_SEND_SIZE;
use vmbus::version::Version;

const MEMORY_BYTES: usize = 16 << 20;
const SYNIC_PAGES: (u64, u64) = (0x10_0000, 0x20_0000);
const RING_BASE: u64 = 0x20_0000;
const RING_BYTES: u64 = 8 * PAGE_SIZE;
const VECTOR: u8 = 0xF3;
const DRIVER: SubscriberId = SubscriberId(3);

type Bus = BusDriver<LoopbackBackend, Arc<AtomicMemory>>;

struct Machine {
    loopback: Loopback,
    services: SharedHostServices<Arc<AtomicMemory>>,
    events: Vec<DriverEvent<Arc<AtomicMemory>>>,
}

impl Machine {
    fn new(config: ServerConfig) -> Machine {
        let loopback = Loopback::new(SynicHost::new(HostConfig::default()), MEMORY_BYTES);
        let services = HostServices::new(loopback.memory(), config);
        loopback.with_host(|host, _| services.register(host));
        let services = SharedHostServices::new(services);
        loopback.set_handler(Box::new(services.clone()));
        Machine {
            loopback,
            services,
            events: Vec::new(),
        }
    }

    fn start(&self, max_version: Option<Version>) -> Result<Bus, BusError> {
        self.start_clocked(max_version, SteppingClock::default())
    }

    fn start_clocked(
        &self,
        max_version: Option<Version>,
        clock: SteppingClock,
    ) -> Result<Bus, BusError> {
        let mut pages = BumpPageAllocator::new(SYNIC_PAGES.0, SYNIC_PAGES.1);
        BusDriver::start(
            self.loopback.backend(0),
            self.loopback.memory(),
            &mut pages,
            VECTOR,
            max_version,
            Box::new(clock),
        )
    }

    /// Delivers interrupts and bus outputs until nothing moves.
    fn pump(&mut self, bus: &mut Bus) {
        loop {
            self.loopback.poll();
            if self.loopback.take_interrupts().is_empty() {
                break;
            }
            // A bounded poll: call again while it says more may be waiting.
            while bus.on_interrupt().expect("the bus survives") == InterruptOutcome::MorePending {}
        }
        while let Some(output) = bus.poll_output() {
            assert_eq!(output.subscriber, DRIVER);
            self.events.push(output.event);
        }
    }

    fn ready_bus(&mut self, max_version: Option<Version>) -> Bus {
        let mut bus = self.start(max_version).expect("the bus starts");
        self.pump(&mut bus);
        assert!(bus.is_ready(), "all offers delivered");
        bus
    }

    fn set_post_faults(&self, faults: PostFaults) {
        self.loopback
            .with_host(|host, _| host.set_post_faults(faults));
    }

    /// Subscribes to the echo device and asks to open it on fresh ring memory at `slot`.
    fn open_echo(&mut self, bus: &mut Bus, slot: u64) -> u32 {
        bus.handle(
            DRIVER,
            BusRequest::Subscribe {
                class: class::DXGOS_ECHO,
                subscriber: DRIVER,
            },
        )
        .expect("subscribe");
        self.pump(bus);
        let relid = self
            .events
            .iter()
            .find_map(|event| match event {
                DriverEvent::Offer(offer) => Some(offer.relid),
                _ => None,
            })
            .expect("the echo offer");
        self.events.clear();
        let rings = RingMemory {
            gpa: RING_BASE + slot * 2 * RING_BYTES,
            outbound_bytes: RING_BYTES,
            inbound_bytes: RING_BYTES,
        };
        bus.handle(
            DRIVER,
            BusRequest::Open {
                relid,
                rings,
                user_data: [0; 120],
            },
        )
        .expect("open request");
        self.pump(bus);
        relid
    }

    fn take_open_result(&mut self) -> Result<(), OpenFailure> {
        let index = self
            .events
            .iter()
            .position(|event| matches!(event, DriverEvent::Opened { .. }))
            .expect("an answer to the open");
        match self.events.remove(index) {
            DriverEvent::Opened { result, .. } => result.map(|_| ()),
            _ => unreachable!(),
        }
    }
}

#[test]
fn connects_at_4_1_on_connection_id_1_when_connection_id_4_is_refused() {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.no_connection_id_4 = true;
    let mut machine = Machine::new(config);
    let bus = machine.ready_bus(None);
    assert_eq!(bus.version(), Some(Version::WIN10_V4_1));
    assert_eq!(
        machine.services.lock().server().version(),
        Some(Version::WIN10_V4_1)
    );
    let statistics = bus.statistics();
    assert_eq!(statistics.failed_posts, 4, "5.3, 5.2, 5.1 and 5.0 on id 4");
    assert_eq!(
        statistics.post_retries, 0,
        "INVALID_CONNECTION_ID is not retried"
    );
}

#[test]
fn transient_post_failures_are_retried_until_they_clear() {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.transient_post_failures = 7;
    let mut machine = Machine::new(config);
    let mut bus = machine.ready_bus(None);
    assert_eq!(bus.version(), Some(Version::WIN10_V5_3));
    assert_eq!(bus.statistics().post_retries, 7);
    assert_eq!(bus.statistics().failed_posts, 0);
    assert_eq!(
        machine
            .loopback
            .with_host(|host, _| host.injected_post_failures()),
        7
    );
    // Failures in the middle of a GPADL's messages: still retried, and the open succeeds.
    machine.set_post_faults(PostFaults {
        transient: 3,
        permanent: None,
    });
    machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    assert_eq!(bus.statistics().post_retries, 10);
}

#[test]
fn a_permanent_post_failure_fails_the_request_and_the_bus_lives_on() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut bus = machine.ready_bus(None);
    machine.set_post_faults(PostFaults {
        transient: 0,
        permanent: Some(HvError::InsufficientBuffers),
    });
    machine.open_echo(&mut bus, 0);
    let failure = machine.take_open_result().unwrap_err();
    let OpenFailure::Gpadl(GpadlCreateError::PostFailed(PostFailure::RetriesExhausted {
        error: HvError::InsufficientBuffers,
        attempts,
    })) = failure
    else {
        panic!("expected a typed post failure, got {failure:?}");
    };
    assert!(attempts > 1, "retried before giving up");
    // A status that is never retried fails at once.
    machine.set_post_faults(PostFaults {
        transient: 0,
        permanent: Some(HvError::AccessDenied),
    });
    machine.open_echo(&mut bus, 1);
    assert_eq!(
        machine.take_open_result(),
        Err(OpenFailure::Gpadl(GpadlCreateError::PostFailed(
            PostFailure::Refused(HvError::AccessDenied)
        )))
    );
    // The host recovers: the same bus opens the channel.
    machine.set_post_faults(PostFaults::default());
    machine.open_echo(&mut bus, 2);
    assert_eq!(machine.take_open_result(), Ok(()));
}

#[test]
fn a_host_refusing_every_post_ends_the_connect_with_a_typed_error() {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.permanent_post_failure = Some(HvError::InsufficientMemory);
    let machine = Machine::new(config);
    assert_eq!(machine.start(None).err(), Some(BusError::ConnectFailed));
}

#[test]
fn initiate_contact_names_two_zeroed_page_aligned_monitor_pages() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let bus = machine.ready_bus(None);
    let (parent_to_child, child_to_parent) = machine
        .services
        .lock()
        .server()
        .monitor_pages()
        .expect("connected");
    assert_eq!((parent_to_child, child_to_parent), bus.monitor_pages());
    assert_ne!(parent_to_child, 0);
    assert_ne!(child_to_parent, 0);
    assert_ne!(parent_to_child, child_to_parent);
    let memory = machine.loopback.memory();
    for page in [parent_to_child, child_to_parent] {
        assert_eq!(page % PAGE_SIZE, 0);
        let mut bytes = vec![0xAAu8; PAGE_SIZE as usize];
        memory.read(page, &mut bytes).unwrap();
        assert!(bytes.iter().all(|byte| *byte == 0), "zeroed");
    }
}

#[test]
fn both_rings_have_the_pending_send_size_bit_before_openchannel() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut bus = machine.ready_bus(None);
    // Stale bytes in the ring memory must not leak into the control pages.
    let memory = machine.loopback.memory();
    memory
        .write(RING_BASE, &vec![0x5Au8; 2 * RING_BYTES as usize])
        .unwrap();
    let relid = machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    assert_eq!(
        machine
            .services
            .lock()
            .server()
            .ring_features_at_open(relid),
        Some((FEATURE_PENDING_SEND_SIZE, FEATURE_PENDING_SEND_SIZE))
    );
}

#[test]
fn below_3_0_no_unload_is_sent_and_a_late_unload_response_is_ignored() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut bus = machine.ready_bus(Some(Version::WIN8));
    assert_eq!(bus.version(), Some(Version::WIN8));
    bus.unload().expect("unload");
    assert!(bus.is_unloaded(), "done at once below 3.0");
    machine.pump(&mut bus);
    assert_eq!(
        machine.services.lock().server().version(),
        Some(Version::WIN8),
        "the host got no UNLOAD"
    );
    // A host that answers anyway (seen on a Microsoft VMBus host): ignored, not an error.
    let rejected = bus.statistics().rejected_messages;
    machine.loopback.with_host(|host, memory| {
        host.deliver_message(
            0,
            VMBUS_SINT,
            MessageType::VMBUS,
            &encode::unload_response(),
            memory,
        )
        .unwrap()
    });
    machine.pump(&mut bus);
    assert_eq!(bus.statistics().rejected_messages, rejected);
}

#[test]
fn a_lost_requestoffers_is_reported_by_the_bus_instead_of_a_hang() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    // INITIATE_CONTACT is through (its answer waits in the SynIC); then every post fails.
    let mut bus = machine.start(None).expect("the bus starts");
    machine.set_post_faults(PostFaults {
        transient: 0,
        permanent: Some(HvError::InvalidParameter),
    });
    machine.pump(&mut bus);
    assert_eq!(bus.version(), Some(Version::WIN10_V5_3));
    assert!(!bus.is_ready());
    assert_eq!(
        bus.failure(),
        Some(&BusError::PostFailed(PostFailure::Refused(
            HvError::InvalidParameter
        )))
    );
}

#[test]
fn time_ref_count_is_the_services_reference_clock() {
    use hyperv::platform::HypervisorBackend;
    let loopback = Loopback::new(SynicHost::new(HostConfig::default()), MEMORY_BYTES);
    // The SynIC model's own clock starts here; the services' later: without `register` tying
    // them together the MSR would read ahead of the time samples' reference time.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let services = HostServices::new(loopback.memory(), ServerConfig::standard(1));
    loopback.with_host(|host, _| services.register(host));
    let before = services.reference_time();
    // MSR TIME_REF_COUNT (Hyper-V TLFS: 0x40000020).
    let counter = loopback.backend(0).read_msr(0x4000_0020).unwrap();
    let after = services.reference_time();
    assert!(
        before <= counter && counter <= after,
        "TIME_REF_COUNT {counter} outside the services' clock [{before}, {after}]"
    );
}

#[test]
fn a_stale_time_sample_is_advanced_by_the_emulated_reference_counter() {
    use drivers::integration::{TimeSample, sample_time_with_counter};
    use hyperv::platform::read_reference_counter;
    let loopback = Loopback::new(SynicHost::new(HostConfig::default()), MEMORY_BYTES);
    loopback.with_host(|host, _| host.set_reference_clock(Box::new(|| 70_000_000)));
    // The emulator grants the counter, as Hyper-V does (CPUID 0x40000003 EAX bit 1).
    let privileges = HostConfig::default().privileges;
    let mut backend = loopback.backend(0);
    // Taken at reference time 4 s, read at 7 s: 3 s (30,000,000 × 100 ns) old.
    let sample = TimeSample {
        host_time: 133_000_000_000_000_000,
        reference_time: Some(40_000_000),
        flags: 1,
    };
    let now =
        sample_time_with_counter(&sample, || read_reference_counter(&mut backend, privileges));
    assert_eq!(now, 133_000_000_030_000_000);
}

// Issue 14: restarting the bus against the emulated host.

fn notices(bus: &mut Bus) -> Vec<BusNotice> {
    std::iter::from_fn(|| bus.poll_notice()).collect()
}

fn offered_again(machine: &Machine, relid: u32) -> bool {
    machine
        .events
        .iter()
        .any(|event| matches!(event, DriverEvent::Offer(offer) if offer.relid == relid))
}

#[test]
fn a_restart_unloads_resets_every_channel_and_the_offers_come_again() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut bus = machine.ready_bus(None);
    let relid = machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    machine.events.clear();
    bus.restart().expect("5.3 restarts");
    assert!(bus.is_restarting() && !bus.is_ready());
    machine.pump(&mut bus);
    assert_eq!(
        notices(&mut bus),
        vec![BusNotice::ChannelReset {
            subscriber: DRIVER,
            relid,
            memory_released: true
        }]
    );
    assert!(bus.is_ready(), "connected again, every offer delivered");
    assert!(!bus.is_restarting() && !bus.is_unloaded());
    assert_eq!(bus.failure(), None);
    assert!(offered_again(&machine, relid), "the subscription stays");
    {
        let mut services = machine.services.lock();
        let server = services.server();
        assert_eq!(server.version(), Some(Version::WIN10_V5_3));
        assert_eq!((server.open_channel_count(), server.gpadl_count()), (0, 0));
    }
    // The channel opens again on the same ring memory, as a restarted driver would.
    machine.events.clear();
    machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
}

#[test]
fn below_3_0_a_restart_is_refused_and_the_bus_is_left_as_it_was() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut bus = machine.ready_bus(Some(Version::WIN8));
    assert_eq!(
        bus.restart(),
        Err(BusError::RestartUnsupported {
            version: Version::WIN8
        })
    );
    machine.pump(&mut bus);
    assert!(bus.is_ready() && !bus.is_restarting());
    assert_eq!(
        machine.services.lock().server().version(),
        Some(Version::WIN8),
        "nothing was sent"
    );
    let previous = bus.previous_connection().expect("connected");
    let mut pages = BumpPageAllocator::new(SYNIC_PAGES.0, SYNIC_PAGES.1);
    let second = BusDriver::start_after(
        machine.loopback.backend(0),
        machine.loopback.memory(),
        &mut pages,
        VECTOR,
        None,
        Box::new(SteppingClock::default()),
        previous,
    );
    assert_eq!(
        second.err(),
        Some(BusError::RestartUnsupported {
            version: Version::WIN8
        })
    );
}

#[test]
fn a_new_bus_instance_ends_the_dead_ones_connection_before_it_connects() {
    let mut machine = Machine::new(ServerConfig::standard(1));
    let mut first = machine.ready_bus(None);
    machine.open_echo(&mut first, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    let previous = first.previous_connection().expect("connected");
    // The first instance dies with its task: nothing of it runs again.
    drop(first);
    let mut pages = BumpPageAllocator::new(SYNIC_PAGES.0, SYNIC_PAGES.1);
    let mut second = BusDriver::start_after(
        machine.loopback.backend(0),
        machine.loopback.memory(),
        &mut pages,
        VECTOR,
        None,
        Box::new(SteppingClock::default()),
        previous,
    )
    .expect("the second instance starts");
    machine.pump(&mut second);
    assert!(second.is_ready());
    {
        let mut services = machine.services.lock();
        let server = services.server();
        assert_eq!(
            (server.open_channel_count(), server.gpadl_count()),
            (0, 0),
            "the UNLOAD released the dead instance's channel"
        );
    }
    machine.events.clear();
    machine.open_echo(&mut second, 1);
    assert_eq!(machine.take_open_result(), Ok(()));
}

fn faulty(fault: &str) -> ServerConfig {
    let mut config = ServerConfig::standard(1);
    config.misbehaviour.answer_faults = vec![AnswerFault::parse(fault).unwrap()];
    config
}

#[test]
fn a_restart_whose_unload_is_never_answered_stays_down_at_its_bound() {
    let mut machine = Machine::new(faulty("unload-response:never"));
    let clock = SteppingClock::default();
    let mut bus = machine.start_clocked(None, clock.clone()).unwrap();
    machine.pump(&mut bus);
    assert!(bus.is_ready());
    bus.restart().unwrap();
    machine.pump(&mut bus);
    assert!(bus.is_restarting());
    let bound = bus.time_bounds().unload_microseconds;
    assert_eq!(bus.next_deadline_microseconds(), Some(clock.now() + bound));
    clock.advance(bound);
    bus.check_time_bounds();
    assert_eq!(
        bus.failure(),
        Some(&BusError::UnloadTimedOut {
            milliseconds: bound / 1000
        })
    );
    assert!(!bus.is_restarting() && !bus.is_ready());
    assert_eq!(bus.next_deadline_microseconds(), None);
}

#[test]
fn a_close_whose_gpadl_teardown_is_never_answered_ends_at_its_bound() {
    let mut machine = Machine::new(faulty("gpadl-torndown:never"));
    let clock = SteppingClock::default();
    let mut bus = machine.start_clocked(None, clock.clone()).unwrap();
    machine.pump(&mut bus);
    let relid = machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    bus.handle(DRIVER, BusRequest::Close { relid }).unwrap();
    machine.pump(&mut bus);
    assert!(
        !machine
            .events
            .iter()
            .any(|event| matches!(event, DriverEvent::Closed { .. })),
        "no GPADL_TORNDOWN, no Closed"
    );
    let bound = bus.time_bounds().teardown_microseconds;
    assert_eq!(bus.next_deadline_microseconds(), Some(clock.now() + bound));
    clock.advance(bound - 1);
    bus.check_time_bounds();
    assert!(notices(&mut bus).is_empty(), "not before the bound");
    clock.advance(1);
    bus.check_time_bounds();
    assert_eq!(
        notices(&mut bus),
        vec![BusNotice::CloseTimedOut {
            subscriber: DRIVER,
            relid,
            milliseconds: bound / 1000
        }]
    );
    assert_eq!(bus.next_deadline_microseconds(), None, "reported once");
    // A restart releases the pages the host kept.
    bus.restart().unwrap();
    machine.pump(&mut bus);
    assert!(matches!(
        &notices(&mut bus)[..],
        [BusNotice::ChannelReset { relid: reset, memory_released: true, .. }] if *reset == relid
    ));
    assert!(bus.is_ready());
}

#[test]
fn an_open_after_the_bus_went_quiet_still_ends_at_its_bound() {
    // The bus skips its openings' time bounds while none has a wait (an open channel has
    // none): a new open must end that, and its wait must end at its bound.
    let mut machine = Machine::new(faulty("gpadl-created:never@2"));
    let clock = SteppingClock::default();
    let mut bus = machine.start_clocked(None, clock.clone()).unwrap();
    machine.pump(&mut bus);
    let relid = machine.open_echo(&mut bus, 0);
    assert_eq!(machine.take_open_result(), Ok(()));
    assert_eq!(
        bus.next_deadline_microseconds(),
        None,
        "an open channel waits for nothing"
    );
    bus.handle(DRIVER, BusRequest::Close { relid }).unwrap();
    machine.pump(&mut bus);
    assert!(
        machine
            .events
            .iter()
            .any(|event| matches!(event, DriverEvent::Closed { .. }))
    );
    assert_eq!(
        bus.next_deadline_microseconds(),
        None,
        "closed: nothing waits"
    );
    machine.events.clear();
    assert_eq!(machine.open_echo(&mut bus, 1), relid);
    assert!(
        !machine
            .events
            .iter()
            .any(|event| matches!(event, DriverEvent::Opened { .. })),
        "the second GPADL_CREATED never comes"
    );
    let bound = bus.time_bounds().open_microseconds;
    assert_eq!(bus.next_deadline_microseconds(), Some(clock.now() + bound));
    clock.advance(bound);
    bus.check_time_bounds();
    let mut timed_out = false;
    while let Some(output) = bus.poll_output() {
        timed_out |= matches!(
            output.event,
            DriverEvent::Opened {
                result: Err(OpenFailure::TimedOut { .. }),
                ..
            }
        );
    }
    assert!(timed_out, "the open ended at its bound");
}
