//! The emulated hypervisor's SynIC and MSR model (sans-I/O).
//!
//! [`SynicHost`] holds the partition MSRs (guest OS id, hypercall page, reference TSC) and per
//! VP the SynIC registers and one message queue per SINT. It never blocks and performs no I/O:
//! callers pass guest memory in, and take out the [`HostEvent`]s (guest requests for the VMBus
//! server) and [`Interrupt`]s (for the link) it produced.
//!
//! Message delivery follows reference §3.3: a message goes only into an empty slot, written
//! payload first and type last; if the slot is busy the host sets MessagePending in it and
//! keeps the message queued; the guest's EOM write retries delivery. Event flags raise an
//! interrupt only on a 0→1 transition. Interrupts for a masked SINT are held until unmasked.

use super::events::{HostEvent, Interrupt};
use hyperv::cpuid::PartitionPrivileges;
use hyperv::memory::{GuestMemory, MemoryError};
use hyperv::msr::{self, PageMsr, SControlMsr, SintMsr};
use hyperv::status::HvError;
use hyperv::synic::{
    self, EVENT_FLAGS_PER_SINT, MESSAGE_FLAGS_OFFSET, Message, MessageFlags, MessageType,
    SINT_COUNT,
};
use std::collections::{BTreeMap, VecDeque};
use zerocopy::IntoBytes;

/// The hypercall page stub: `vmcall; ret` (the emulated link never executes it).
const HYPERCALL_STUB: [u8; 4] = [0x0F, 0x01, 0xC1, 0xC3];

/// Static configuration of the emulated partition.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Number of virtual processors.
    pub vp_count: u32,
    /// Privileges advertised to the guest.
    pub privileges: PartitionPrivileges,
    /// Messages queued per SINT before `deliver_message` refuses more.
    pub message_queue_limit: usize,
    /// Guest messages per connection not yet taken by the server before HvPostMessage answers
    /// INSUFFICIENT_BUFFERS (Hyper-V keeps 16 per port).
    pub post_message_buffers: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            vp_count: 1,
            privileges: PartitionPrivileges::REQUIRED_FOR_VMBUS
                .union(PartitionPrivileges::ACCESS_PARTITION_REFERENCE_COUNTER),
            message_queue_limit: 1024,
            post_message_buffers: 16,
        }
    }
}

/// Injected HvPostMessage failures (the misbehaviour switches of the VMBus host, applied where
/// Hyper-V decides a post's status: in the hypercall, before the message reaches the server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostFaults {
    /// The next this-many posts to a registered connection fail with a transient status,
    /// alternately INSUFFICIENT_BUFFERS and INSUFFICIENT_MEMORY (a guest retries them).
    pub transient: u32,
    /// After the transient ones, every post fails with this status.
    pub permanent: Option<HvError>,
}

/// Why an MSR access raises #GP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrError {
    /// The VP index is out of range.
    InvalidVp(u32),
    /// The MSR is not emulated.
    Unknown(u32),
    /// Write to a read-only MSR.
    ReadOnly(u32),
    /// Read of a write-only MSR.
    WriteOnly(u32),
    /// The value is invalid for the MSR.
    InvalidValue {
        /// MSR number.
        msr: u32,
        /// Rejected value.
        value: u64,
    },
}

/// Why the host could not deliver to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// The VP index is out of range.
    InvalidVp(u32),
    /// SINT ≥ 16.
    InvalidSint(u8),
    /// Payload over 240 bytes.
    PayloadTooLarge(usize),
    /// Message type 0.
    InvalidMessageType,
    /// Flag number ≥ 2048.
    InvalidFlag(u32),
    /// The SynIC or the SIEF page is not enabled.
    NotEnabled,
    /// Too many messages queued for the SINT.
    QueueFull,
    /// Guest memory rejected the access (bad GPA programmed by the guest).
    Memory(MemoryError),
}

/// The SynIC registers and queues of one VP.
#[derive(Debug, Clone)]
pub struct VpState {
    /// SIMP.
    pub simp: PageMsr,
    /// SIEFP.
    pub siefp: PageMsr,
    /// SCONTROL.
    pub scontrol: SControlMsr,
    /// SINT0..15.
    pub sints: [SintMsr; SINT_COUNT as usize],
    queues: [VecDeque<Message>; SINT_COUNT as usize],
    held_interrupts: [bool; SINT_COUNT as usize],
}

impl VpState {
    fn new() -> Self {
        Self {
            simp: PageMsr::default(),
            siefp: PageMsr::default(),
            scontrol: SControlMsr::default(),
            sints: [SintMsr::RESET; SINT_COUNT as usize],
            queues: Default::default(),
            held_interrupts: [false; SINT_COUNT as usize],
        }
    }
}

/// The emulated SynIC of a partition.
pub struct SynicHost {
    pub(super) config: HostConfig,
    guest_os_id: u64,
    hypercall: PageMsr,
    reference_tsc: PageMsr,
    vps: Vec<VpState>,
    /// Registered message connections and how many guest messages each has outstanding.
    pub(super) message_connections: BTreeMap<u32, usize>,
    pub(super) event_connections: BTreeMap<u32, ()>,
    pub(super) events: VecDeque<HostEvent>,
    interrupts: Vec<Interrupt>,
    pub(super) injected_errors: VecDeque<(u16, HvError)>,
    pub(super) post_faults: PostFaults,
    /// Posts failed by [`PostFaults`] so far.
    pub(super) injected_post_failures: u64,
    clock: Box<dyn Fn() -> u64 + Send>,
    journal: Option<Vec<String>>,
}

impl SynicHost {
    /// A partition in its reset state.
    pub fn new(config: HostConfig) -> Self {
        let start = std::time::Instant::now();
        Self {
            vps: (0..config.vp_count).map(|_| VpState::new()).collect(),
            config,
            guest_os_id: 0,
            hypercall: PageMsr::default(),
            reference_tsc: PageMsr::default(),
            message_connections: BTreeMap::new(),
            event_connections: BTreeMap::new(),
            events: VecDeque::new(),
            interrupts: Vec::new(),
            injected_errors: VecDeque::new(),
            post_faults: PostFaults::default(),
            injected_post_failures: 0,
            clock: Box::new(move || (start.elapsed().as_nanos() / 100) as u64),
            journal: None,
        }
    }

    /// Replaces the source of TIME_REF_COUNT (100 ns ticks).
    pub fn set_reference_clock(&mut self, clock: Box<dyn Fn() -> u64 + Send>) {
        self.clock = clock;
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Starts recording a human-readable journal of deliveries (for protocol traces).
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// Takes the journal lines recorded since the last call.
    pub fn take_journal(&mut self) -> Vec<String> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(super) fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(journal) = &mut self.journal {
            journal.push(line());
        }
    }

    /// Returns every MSR, SynIC register and queue to its reset state (guest reboot); the
    /// registered connections stay.
    pub fn reset_partition(&mut self) {
        self.guest_os_id = 0;
        self.hypercall = PageMsr::default();
        self.reference_tsc = PageMsr::default();
        self.vps = (0..self.config.vp_count).map(|_| VpState::new()).collect();
        self.events.clear();
        self.interrupts.clear();
        for outstanding in self.message_connections.values_mut() {
            *outstanding = 0;
        }
    }

    /// Accepts HvPostMessage on `connection_id` (e.g. 1 and 4 for VMBus).
    pub fn register_message_connection(&mut self, connection_id: u32) {
        self.message_connections.entry(connection_id).or_insert(0);
    }

    /// Stops accepting HvPostMessage on `connection_id`.
    pub fn unregister_message_connection(&mut self, connection_id: u32) {
        self.message_connections.remove(&connection_id);
    }

    /// Accepts HvSignalEvent on `connection_id` (a channel's connection id).
    pub fn register_event_connection(&mut self, connection_id: u32) {
        self.event_connections.insert(connection_id, ());
    }

    /// Stops accepting HvSignalEvent on `connection_id`.
    pub fn unregister_event_connection(&mut self, connection_id: u32) {
        self.event_connections.remove(&connection_id);
    }

    /// Fault injection: the next hypercall with `call_code` fails with `error`.
    pub fn inject_hypercall_error(&mut self, call_code: u16, error: HvError) {
        self.injected_errors.push_back((call_code, error));
    }

    /// Fault injection: HvPostMessage fails as `faults` says (replaces earlier settings).
    pub fn set_post_faults(&mut self, faults: PostFaults) {
        self.post_faults = faults;
    }

    /// The post faults still to come.
    pub fn post_faults(&self) -> PostFaults {
        self.post_faults
    }

    /// How many posts [`PostFaults`] have failed so far.
    pub fn injected_post_failures(&self) -> u64 {
        self.injected_post_failures
    }

    /// The next guest request, in order.
    pub fn next_event(&mut self) -> Option<HostEvent> {
        let event = self.events.pop_front()?;
        if let HostEvent::Message { connection_id, .. } = &event
            && let Some(outstanding) = self.message_connections.get_mut(connection_id)
        {
            *outstanding = outstanding.saturating_sub(1);
        }
        Some(event)
    }

    /// Takes the interrupts raised since the last call, in order.
    pub fn take_interrupts(&mut self) -> Vec<Interrupt> {
        std::mem::take(&mut self.interrupts)
    }

    /// The SynIC state of `vp_index`.
    pub fn vp(&self, vp_index: u32) -> Option<&VpState> {
        self.vps.get(vp_index as usize)
    }

    /// Messages waiting for the slot of `sint` on `vp_index`.
    pub fn queued_messages(&self, vp_index: u32, sint: u8) -> usize {
        self.vp(vp_index)
            .and_then(|vp| vp.queues.get(usize::from(sint)))
            .map_or(0, VecDeque::len)
    }

    /// Whether the hypercall page is enabled (hypercalls are possible).
    pub fn hypercalls_enabled(&self) -> bool {
        self.hypercall.enabled()
    }

    /// Emulated `rdmsr` on `vp_index`.
    pub fn read_msr(&mut self, vp_index: u32, msr: u32) -> Result<u64, MsrError> {
        let vp = self
            .vps
            .get(vp_index as usize)
            .ok_or(MsrError::InvalidVp(vp_index))?;
        let value = match msr {
            msr::GUEST_OS_ID => self.guest_os_id,
            msr::HYPERCALL => self.hypercall.bits(),
            msr::VP_INDEX => u64::from(vp_index),
            msr::TIME_REF_COUNT => (self.clock)(),
            msr::REFERENCE_TSC => self.reference_tsc.bits(),
            msr::SCONTROL => vp.scontrol.bits(),
            msr::SVERSION => msr::SYNIC_VERSION,
            msr::SIEFP => vp.siefp.bits(),
            msr::SIMP => vp.simp.bits(),
            msr::EOM => return Err(MsrError::WriteOnly(msr)),
            _ => match msr::sint_index(msr) {
                Some(sint) => vp.sints[usize::from(sint)].bits(),
                None => return Err(MsrError::Unknown(msr)),
            },
        };
        Ok(value)
    }

    /// Emulated `wrmsr` on `vp_index`. Side effects (deliveries that become possible,
    /// interrupts) happen here.
    pub fn write_msr(
        &mut self,
        vp_index: u32,
        msr: u32,
        value: u64,
        memory: &dyn GuestMemory,
    ) -> Result<(), MsrError> {
        let index = vp_index as usize;
        if index >= self.vps.len() {
            return Err(MsrError::InvalidVp(vp_index));
        }
        match msr {
            msr::GUEST_OS_ID => {
                self.guest_os_id = value;
                if value == 0 {
                    self.hypercall = self.hypercall.with_enabled(false);
                }
            }
            msr::HYPERCALL => {
                if self.hypercall.locked() {
                    log::warn!("write {value:#x} to the locked HYPERCALL MSR ignored");
                    return Ok(());
                }
                let mut requested = PageMsr::from_bits(value);
                if requested.enabled() && self.guest_os_id == 0 {
                    log::warn!("hypercall page enable before GUEST_OS_ID: stays disabled");
                    requested = requested.with_enabled(false);
                }
                if requested.enabled()
                    && let Err(error) = memory.write(requested.gpa(), &HYPERCALL_STUB)
                {
                    log::warn!(
                        "hypercall page at {:#x} is not RAM: {error}",
                        requested.gpa()
                    );
                    return Err(MsrError::InvalidValue { msr, value });
                }
                self.hypercall = requested;
            }
            msr::REFERENCE_TSC => {
                let requested = PageMsr::from_bits(value);
                if requested.enabled() {
                    // Sequence 0 = invalid: the guest falls back to TIME_REF_COUNT, because
                    // the emulator cannot know the guest's TSC rate.
                    if let Err(error) = memory.write(requested.gpa(), &[0u8; 24]) {
                        log::warn!("reference TSC page at {:#x}: {error}", requested.gpa());
                        return Err(MsrError::InvalidValue { msr, value });
                    }
                }
                self.reference_tsc = requested;
            }
            msr::VP_INDEX | msr::TIME_REF_COUNT | msr::SVERSION => {
                return Err(MsrError::ReadOnly(msr));
            }
            msr::SCONTROL => {
                self.vps[index].scontrol = SControlMsr::from_bits(value);
                self.retry_all(vp_index, memory);
            }
            msr::SIEFP => self.vps[index].siefp = PageMsr::from_bits(value),
            msr::SIMP => {
                self.vps[index].simp = PageMsr::from_bits(value);
                self.retry_all(vp_index, memory);
            }
            msr::EOM => {
                self.note(|| format!("EOM vp {vp_index}"));
                self.retry_all(vp_index, memory);
            }
            _ => {
                let Some(sint) = msr::sint_index(msr) else {
                    return Err(MsrError::Unknown(msr));
                };
                let requested = SintMsr::from_bits(value);
                if !requested.masked() && requested.vector() < SintMsr::MINIMUM_VECTOR {
                    return Err(MsrError::InvalidValue { msr, value });
                }
                self.vps[index].sints[usize::from(sint)] = requested;
                self.retry(vp_index, sint, memory);
            }
        }
        Ok(())
    }

    fn retry_all(&mut self, vp_index: u32, memory: &dyn GuestMemory) {
        for sint in 0..SINT_COUNT {
            self.retry(vp_index, sint, memory);
        }
    }

    /// Attempts delivery of queued messages and releases held interrupts of one SINT.
    fn retry(&mut self, vp_index: u32, sint: u8, memory: &dyn GuestMemory) {
        self.try_deliver(vp_index, sint, memory);
        let held = self.vps[vp_index as usize].held_interrupts[usize::from(sint)];
        if held && self.interrupt_deliverable(vp_index, sint) {
            self.vps[vp_index as usize].held_interrupts[usize::from(sint)] = false;
            self.raise(vp_index, sint);
        }
    }

    fn interrupt_deliverable(&self, vp_index: u32, sint: u8) -> bool {
        let vp = &self.vps[vp_index as usize];
        let register = vp.sints[usize::from(sint)];
        vp.scontrol.enabled() && !register.masked()
    }

    fn raise(&mut self, vp_index: u32, sint: u8) {
        if !self.interrupt_deliverable(vp_index, sint) {
            self.vps[vp_index as usize].held_interrupts[usize::from(sint)] = true;
            return;
        }
        let register = self.vps[vp_index as usize].sints[usize::from(sint)];
        if register.polling() {
            return;
        }
        let interrupt = Interrupt {
            vp_index,
            sint,
            vector: register.vector(),
        };
        self.note(|| {
            format!(
                "interrupt vp {vp_index} sint {sint} vector {:#x}",
                interrupt.vector
            )
        });
        self.interrupts.push(interrupt);
    }

    /// Queues a message for the slot of `sint` on `vp_index` and delivers it if the slot is
    /// free (reference §3.3). Messages stay queued while the SynIC, the SIMP or the SINT is
    /// disabled or masked.
    pub fn deliver_message(
        &mut self,
        vp_index: u32,
        sint: u8,
        message_type: MessageType,
        payload: &[u8],
        memory: &dyn GuestMemory,
    ) -> Result<(), DeliveryError> {
        if vp_index as usize >= self.vps.len() {
            return Err(DeliveryError::InvalidVp(vp_index));
        }
        if sint >= SINT_COUNT {
            return Err(DeliveryError::InvalidSint(sint));
        }
        if message_type == MessageType::NONE {
            return Err(DeliveryError::InvalidMessageType);
        }
        let message = Message::new(message_type, payload)
            .ok_or(DeliveryError::PayloadTooLarge(payload.len()))?;
        let queue = &mut self.vps[vp_index as usize].queues[usize::from(sint)];
        if queue.len() >= self.config.message_queue_limit {
            return Err(DeliveryError::QueueFull);
        }
        queue.push_back(message);
        self.note(|| {
            format!(
                "queue message vp {vp_index} sint {sint} type {:#x} size {}",
                message_type.0,
                payload.len()
            )
        });
        self.try_deliver(vp_index, sint, memory);
        Ok(())
    }

    fn try_deliver(&mut self, vp_index: u32, sint: u8, memory: &dyn GuestMemory) {
        let vp = &self.vps[vp_index as usize];
        if vp.queues[usize::from(sint)].is_empty()
            || !vp.scontrol.enabled()
            || !vp.simp.enabled()
            || vp.sints[usize::from(sint)].masked()
        {
            return;
        }
        let slot = synic::message_slot_gpa(vp.simp.gpa(), sint);
        match self.slot_is_free(slot, memory) {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                log::warn!("SIMP slot {slot:#x} of vp {vp_index} is not RAM: {error}");
                return;
            }
        }
        let queue = &mut self.vps[vp_index as usize].queues[usize::from(sint)];
        let Some(mut message) = queue.pop_front() else {
            return;
        };
        if !queue.is_empty() {
            message.header.flags = MessageFlags::MESSAGE_PENDING.bits();
        }
        let bytes = message.as_bytes();
        let written = memory.write(slot + 4, &bytes[4..]).and_then(|()| {
            memory.fence();
            memory.store_u32(slot, message.header.message_type)
        });
        if let Err(error) = written {
            log::warn!("writing SIMP slot {slot:#x}: {error}; message dropped");
            return;
        }
        self.note(|| {
            format!(
                "deliver message vp {vp_index} sint {sint} type {:#x} size {} pending {}",
                message.header.message_type, message.header.payload_size, message.header.flags
            )
        });
        self.raise(vp_index, sint);
    }

    /// Whether the slot is empty; if not, sets MessagePending in it and checks again, so that
    /// a guest that released the slot meanwhile (and so saw no MessagePending) still gets the
    /// message.
    fn slot_is_free(&self, slot: u64, memory: &dyn GuestMemory) -> Result<bool, MemoryError> {
        if memory.load_u32(slot)? == MessageType::NONE.0 {
            return Ok(true);
        }
        let word = slot + MESSAGE_FLAGS_OFFSET - 1;
        memory.fetch_or_u32(word, u32::from(MessageFlags::MESSAGE_PENDING.bits()) << 8)?;
        memory.fence();
        Ok(memory.load_u32(slot)? == MessageType::NONE.0)
    }

    /// Sets event flag `flag` of `sint` on `vp_index` and raises the SINT if the flag went
    /// from 0 to 1. Returns whether it did.
    pub fn signal_event_flag(
        &mut self,
        vp_index: u32,
        sint: u8,
        flag: u32,
        memory: &dyn GuestMemory,
    ) -> Result<bool, DeliveryError> {
        let vp = self
            .vps
            .get(vp_index as usize)
            .ok_or(DeliveryError::InvalidVp(vp_index))?;
        if sint >= SINT_COUNT {
            return Err(DeliveryError::InvalidSint(sint));
        }
        if flag >= EVENT_FLAGS_PER_SINT {
            return Err(DeliveryError::InvalidFlag(flag));
        }
        if !vp.scontrol.enabled() || !vp.siefp.enabled() {
            return Err(DeliveryError::NotEnabled);
        }
        let word = synic::event_flags_slot_gpa(vp.siefp.gpa(), sint) + u64::from(flag / 32) * 4;
        let bit = 1u32 << (flag % 32);
        let old = memory
            .fetch_or_u32(word, bit)
            .map_err(DeliveryError::Memory)?;
        let rising = old & bit == 0;
        self.note(|| format!("event flag vp {vp_index} sint {sint} flag {flag} rising {rising}"));
        if rising {
            self.raise(vp_index, sint);
        }
        Ok(rising)
    }
}
