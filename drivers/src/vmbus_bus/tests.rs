//! Bus driver tests over a scripted SynIC: a backend that keeps MSRs in a map, accepts every
//! hypercall, and (as a flooding host) puts the next message into the VMBus slot each time
//! the guest writes EOM.

use super::*;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::memory::AtomicMemory;
use hyperv::msr;
use hyperv::platform::{BumpPageAllocator, PlatformError};
use hyperv::synic::{MESSAGE_FLAGS_OFFSET, Message, MessageFlags, message_slot_gpa};
use std::collections::BTreeMap;
use zerocopy::IntoBytes;

type Memory = Arc<AtomicMemory>;

const MEMORY_BYTES: usize = 1 << 20;

/// A host that answers MSR accesses from a map and refills the VMBus message slot on EOM
/// while it has messages left.
struct FloodingHost {
    memory: Memory,
    registers: BTreeMap<u32, u64>,
    /// Messages still to deliver after the one in the slot.
    remaining: usize,
    payload: Vec<u8>,
}

impl FloodingHost {
    fn message_slot(&self) -> u64 {
        let simp = self.registers.get(&msr::SIMP).copied().unwrap_or(0);
        message_slot_gpa(simp & !0xFFF, VMBUS_SINT)
    }

    /// Puts the next message into the slot, flagged pending when more follow.
    fn deliver(&mut self) {
        if self.remaining == 0 {
            return;
        }
        self.remaining -= 1;
        let mut message = Message::new(MessageType::VMBUS, &self.payload).unwrap();
        if self.remaining > 0 {
            message.header.flags = MessageFlags::MESSAGE_PENDING.bits();
        }
        let slot = self.message_slot();
        self.memory.write(slot, message.as_bytes()).unwrap();
    }

    fn pending_flag(&self) -> u8 {
        let mut flags = [0u8; 1];
        self.memory
            .read(self.message_slot() + MESSAGE_FLAGS_OFFSET, &mut flags)
            .unwrap();
        flags[0]
    }
}

impl HypervisorBackend for FloodingHost {
    fn write_msr(&mut self, register: u32, value: u64) -> Result<(), PlatformError> {
        if register == msr::EOM {
            self.deliver();
        } else {
            self.registers.insert(register, value);
        }
        Ok(())
    }

    fn read_msr(&mut self, register: u32) -> Result<u64, PlatformError> {
        Ok(self.registers.get(&register).copied().unwrap_or(0))
    }

    fn hypercall(
        &mut self,
        _input: HypercallInput,
        _input_parameter: u64,
        _output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        Ok(HypercallOutput::SUCCESS)
    }

    fn vp_index(&self) -> u32 {
        0
    }
}

/// A clock that advances by the time waited.
struct SteppingClock(u64);

impl RetryClock for SteppingClock {
    fn now_microseconds(&mut self) -> u64 {
        self.0
    }
    fn wait_microseconds(&mut self, microseconds: u64) {
        self.0 += microseconds;
    }
}

fn flooded_bus(messages: usize) -> BusDriver<FloodingHost, Memory> {
    let memory: Memory = Arc::new(AtomicMemory::new(0, MEMORY_BYTES));
    let host = FloodingHost {
        memory: memory.clone(),
        registers: BTreeMap::new(),
        remaining: messages,
        // An unsolicited UNLOAD_RESPONSE: harmless, ignored by the client.
        payload: vmbus::messages::encode::unload_response(),
    };
    let mut allocator = BumpPageAllocator::new(0x1000, MEMORY_BYTES as u64);
    let mut bus = BusDriver::start(
        host,
        memory,
        &mut allocator,
        0xF3,
        None,
        Box::new(SteppingClock(0)),
    )
    .unwrap();
    // The first message arrives with the interrupt; the rest follow on each EOM.
    bus.synic().backend().deliver();
    bus
}

#[test]
fn one_poll_handles_at_most_the_bound_and_says_more_is_pending() {
    // A host that keeps the slot full for 1000 messages (one was seen sending 200,000).
    let total = 1000;
    let mut bus = flooded_bus(total);
    assert_eq!(bus.on_interrupt(), Ok(InterruptOutcome::MorePending));
    let first = bus.statistics().messages;
    assert!(first < total as u64, "one poll took all {first} messages");
    assert_eq!(first, MESSAGES_PER_POLL as u64);
    // The host refilled the slot and is waiting for the guest: no interrupt will come.
    assert_eq!(bus.synic().backend().pending_flag(), 1);
    // As the kernel's bus task: poll again by itself while more is pending.
    let expected_polls = total.div_ceil(MESSAGES_PER_POLL);
    let mut polls = 1;
    while bus.on_interrupt() == Ok(InterruptOutcome::MorePending) {
        polls += 1;
        assert!(
            polls < expected_polls,
            "the flood ends after {expected_polls} polls"
        );
    }
    assert_eq!(polls + 1, expected_polls);
    assert_eq!(bus.statistics().messages, total as u64);
    assert_eq!(
        bus.statistics().message_bound_reached,
        (expected_polls - 1) as u64
    );
    assert_eq!(bus.on_interrupt(), Ok(InterruptOutcome::Drained));
}

#[test]
fn fewer_messages_than_the_bound_drain_in_one_poll() {
    let mut bus = flooded_bus(MESSAGES_PER_POLL - 1);
    assert_eq!(bus.on_interrupt(), Ok(InterruptOutcome::Drained));
    assert_eq!(bus.statistics().messages, (MESSAGES_PER_POLL - 1) as u64);
}

/// A clock the test moves (shared with the bus), counting how often the bus reads it.
#[derive(Clone, Default)]
struct TestClock {
    now: Arc<core::sync::atomic::AtomicU64>,
    reads: Arc<core::sync::atomic::AtomicU64>,
}

impl TestClock {
    fn advance(&self, microseconds: u64) {
        self.now
            .fetch_add(microseconds, core::sync::atomic::Ordering::Relaxed);
    }

    fn reads(&self) -> u64 {
        self.reads.load(core::sync::atomic::Ordering::Relaxed)
    }
}

impl RetryClock for TestClock {
    fn now_microseconds(&mut self) -> u64 {
        self.reads
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        self.now.load(core::sync::atomic::Ordering::Relaxed)
    }
    fn wait_microseconds(&mut self, microseconds: u64) {
        self.advance(microseconds);
    }
}

/// A bus whose host never answers anything (INITIATE_CONTACT is posted, nothing comes back).
fn silent_bus(clock: &TestClock) -> BusDriver<FloodingHost, Memory> {
    let memory: Memory = Arc::new(AtomicMemory::new(0, MEMORY_BYTES));
    let host = FloodingHost {
        memory: memory.clone(),
        registers: BTreeMap::new(),
        remaining: 0,
        payload: Vec::new(),
    };
    let mut allocator = BumpPageAllocator::new(0x1000, MEMORY_BYTES as u64);
    BusDriver::start(
        host,
        memory,
        &mut allocator,
        0xF3,
        None,
        Box::new(clock.clone()),
    )
    .unwrap()
}

#[test]
fn a_connection_the_host_never_answers_fails_with_host_silent_at_its_bound() {
    let clock = TestClock::default();
    let mut bus = silent_bus(&clock);
    let bound = bus.time_bounds().connect_microseconds;
    assert_eq!(bus.next_deadline_microseconds(), Some(bound));
    clock.advance(bound - 1);
    bus.check_time_bounds();
    assert_eq!(bus.failure(), None, "not before the bound");
    clock.advance(1);
    bus.check_time_bounds();
    assert_eq!(
        bus.failure(),
        Some(&BusError::HostSilent {
            milliseconds: bound / 1000
        })
    );
    assert_eq!(bus.statistics().timeouts, 1);
    assert_eq!(bus.next_deadline_microseconds(), None, "reported once");
    bus.check_time_bounds();
    assert_eq!(bus.statistics().timeouts, 1);
}

#[test]
fn the_bounds_are_configurable() {
    let clock = TestClock::default();
    let mut bus = silent_bus(&clock);
    bus.set_time_bounds(TimeBounds {
        connect_microseconds: 10,
        ..TimeBounds::default()
    });
    assert_eq!(bus.next_deadline_microseconds(), Some(10));
    clock.advance(10);
    bus.check_time_bounds();
    assert!(matches!(bus.failure(), Some(BusError::HostSilent { .. })));
}

#[test]
fn with_no_wait_running_interrupts_and_bound_checks_read_no_clock() {
    // The kernel's clock is a TSC conversion with a 128-bit division: the interrupt path
    // (on_interrupt, then check_time_bounds, once per host interrupt) must not read it
    // while nothing it bounds is waiting.
    let clock = TestClock::default();
    let mut bus = silent_bus(&clock);
    let bound = bus.time_bounds().connect_microseconds;
    let before = clock.reads();
    bus.check_time_bounds();
    assert_eq!(clock.reads(), before + 1, "the connection wait is running");
    clock.advance(bound);
    bus.check_time_bounds();
    assert!(matches!(bus.failure(), Some(BusError::HostSilent { .. })));
    let after_failure = clock.reads();
    for _ in 0..3 {
        assert_eq!(bus.on_interrupt(), Ok(InterruptOutcome::Drained));
        bus.check_time_bounds();
    }
    assert_eq!(clock.reads(), after_failure);
}
