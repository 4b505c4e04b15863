//! The vPCI client state machine (vpci.md §3.3, recommended minimal sequence).
//!
//! `start` → QUERY_PROTOCOL_VERSION 1.4, 1.3, 1.2, 1.1 until one is accepted →
//! QUERY_BUS_RELATIONS → (host: BUS_RELATIONS / BUS_RELATIONS2) → QUERY_RESOURCE_REQUIREMENTS per
//! function → BUS_D0ENTRY with the config window → RESOURCES_ASSIGNED (1.1) or
//! RESOURCES_ASSIGNED2 (≥ 1.2) per function → [`Action::FunctionArrived`].
//!
//! Per-function requests are tied to the function instance, not just the slot: when a list
//! puts a different function at a slot, answers still outstanding for the old one are dropped
//! ([`VpciError::StaleCompletion`]) and cannot advance the new one.
//!
//! Later function lists are complete lists: functions missing from them are removed
//! ([`Action::FunctionRemoved`]), new ones go through the per-function steps; an identical list
//! (OpenVMM resends it after D0 entry) changes nothing. EJECT removes the function and answers
//! EJECTION_COMPLETE, in that order, so the glue tears the adapter down before the host hears
//! the function is free.
//!
//! The client never blocks: [`VpciClient::receive`] takes a packet and queues [`Action`]s,
//! which the glue drains with [`VpciClient::poll_action`]. Bad packets are dropped with a typed
//! error and change nothing.

// vPCI messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::error::VpciError;
use super::wire::*;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use vmbus::ring::{IncomingPacket, PacketType};
use zerocopy::IntoBytes;

/// The bus's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Created; `start` not called yet.
    Created,
    /// Offering protocol versions.
    Negotiating,
    /// Version agreed; waiting for the first function list.
    Discovering,
    /// Function list seen; functions are brought up as they appear.
    Running,
    /// `shutdown` sent BUS_D0EXIT; waiting for its completion.
    Stopping,
    /// Shut down.
    Stopped,
    /// The channel was rescinded; nothing more is sent.
    Rescinded,
    /// Negotiation or D0 entry failed.
    Failed,
}

/// A PCI function on the bus, as its description reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Slot number (device | function << 5).
    pub slot: SlotNumber,
    /// Vendor id.
    pub vendor_id: u16,
    /// Device id.
    pub device_id: u16,
    /// Revision id.
    pub revision: u8,
    /// Programming interface.
    pub programming_interface: u8,
    /// Sub-class.
    pub sub_class: u8,
    /// Base class.
    pub base_class: u8,
    /// Subsystem vendor id (low 16 bits) and subsystem id (high 16 bits).
    pub subsystem: u32,
    /// Serial number.
    pub serial_number: u32,
    /// Virtual NUMA node, when the host gave one (BUS_RELATIONS2 only).
    pub numa_node: Option<u16>,
}

impl FunctionInfo {
    fn from_description(description: &FunctionDescription, numa_node: Option<u16>) -> Self {
        FunctionInfo {
            slot: SlotNumber(description.slot.get()),
            vendor_id: description.vendor_id.get(),
            device_id: description.device_id.get(),
            revision: description.revision,
            programming_interface: description.programming_interface,
            sub_class: description.sub_class,
            base_class: description.base_class,
            subsystem: description.subsystem.get(),
            serial_number: description.serial_number.get(),
            numa_node,
        }
    }

    /// Whether `other` is the same function (slot, ids and serial; Linux's rule).
    fn same_function(&self, other: &FunctionInfo) -> bool {
        self.slot == other.slot
            && self.vendor_id == other.vendor_id
            && self.device_id == other.device_id
            && self.serial_number == other.serial_number
    }
}

/// An in-band packet for the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Transaction id (non-zero when a completion is requested, 0 otherwise).
    pub transaction_id: u64,
    /// Whether to set the completion-requested flag.
    pub completion_requested: bool,
    /// The message.
    pub payload: Vec<u8>,
}

impl OutboundMessage {
    /// The VMBus packet to write.
    pub fn packet(&self) -> vmbus::ring::OutgoingPacket<'_> {
        vmbus::ring::OutgoingPacket::in_band(
            self.transaction_id,
            self.completion_requested,
            &self.payload,
        )
    }
}

/// Something for the glue to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this in-band packet to the channel's outbound ring (and signal the host).
    Send(OutboundMessage),
    /// A function is ready: its config space is reachable through the window.
    FunctionArrived(FunctionInfo),
    /// A function that had arrived is gone (ejected, missing from a new list, rescinded or
    /// shut down); stop using its config space.
    FunctionRemoved {
        /// Its slot.
        slot: SlotNumber,
    },
    /// `shutdown` finished; the channel may be closed.
    Stopped,
    /// The bus failed (negotiation or D0 entry); the channel should be closed.
    Failed(VpciError),
}

/// Which function instance a per-function request was for. A slot can be reused by another
/// function (a later list names a different one there); the instance number tells the
/// answers for the old one apart, so they cannot advance the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FunctionInstance {
    slot: SlotNumber,
    instance: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    ProtocolVersion(usize),
    ResourceRequirements(FunctionInstance),
    D0Entry,
    ResourcesAssigned(FunctionInstance),
    D0Exit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FunctionState {
    /// QUERY_RESOURCE_REQUIREMENTS sent.
    Querying,
    /// Requirements known; waiting for D0 entry.
    Queried,
    /// RESOURCES_ASSIGNED sent.
    Assigning,
    /// Arrived.
    Ready,
    /// A request for it failed; left alone until it disappears from a list.
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Function {
    info: FunctionInfo,
    state: FunctionState,
    /// Unique per client: which function this is, whatever its slot.
    instance: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum D0State {
    NotSent,
    Pending,
    Done,
}

/// The vPCI client of one bus (one channel).
#[derive(Debug)]
pub struct VpciClient {
    window: u64,
    phase: Phase,
    version: Option<ProtocolVersion>,
    d0: D0State,
    d0_status: Option<u32>,
    functions: BTreeMap<SlotNumber, Function>,
    pending: BTreeMap<u64, Request>,
    next_transaction_id: u64,
    next_instance: u64,
    actions: VecDeque<Action>,
}

impl VpciClient {
    /// A client that will announce the config window at `window_gpa` (8 KiB, 4 KiB aligned,
    /// taken from the VMBus MMIO ranges clear of the framebuffer; vpci.md §5.4).
    pub fn new(window_gpa: u64) -> Result<Self, VpciError> {
        if !window_gpa.is_multiple_of(CONFIG_WINDOW_ALIGNMENT)
            || window_gpa.checked_add(CONFIG_WINDOW_SIZE).is_none()
        {
            return Err(VpciError::BadWindow { gpa: window_gpa });
        }
        Ok(VpciClient {
            window: window_gpa,
            phase: Phase::Created,
            version: None,
            d0: D0State::NotSent,
            d0_status: None,
            functions: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_transaction_id: 1,
            next_instance: 0,
            actions: VecDeque::new(),
        })
    }

    /// The config window's GPA.
    pub fn window_gpa(&self) -> u64 {
        self.window
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The status the host completed BUS_D0ENTRY with (0 on success), once it has; a failure
    /// also ends the bus with [`Action::Failed`]. What the boot report shows per bus.
    pub fn d0_status(&self) -> Option<u32> {
        self.d0_status
    }

    /// The functions that have arrived, by slot.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionInfo> {
        self.functions
            .values()
            .filter(|function| function.state == FunctionState::Ready)
            .map(|function| &function.info)
    }

    /// Starts bring-up on the freshly opened channel (sends the first version request).
    /// Does nothing unless the client is new.
    pub fn start(&mut self) {
        if self.phase != Phase::Created {
            return;
        }
        self.phase = Phase::Negotiating;
        if !self.offer_version(0) {
            self.fail(VpciError::NoCommonVersion);
        }
    }

    /// Takes the next action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Handles a packet read from the channel's inbound ring.
    pub fn receive_packet(
        &mut self,
        packet: &IncomingPacket,
        buffer: &[u8],
    ) -> Result<(), VpciError> {
        self.receive(
            packet.packet_type,
            packet.transaction_id,
            packet.payload(buffer),
        )
    }

    /// Handles one packet from the host: its type, transaction id and payload (after the
    /// descriptor, padding included).
    pub fn receive(
        &mut self,
        packet_type: PacketType,
        transaction_id: u64,
        payload: &[u8],
    ) -> Result<(), VpciError> {
        let result = match packet_type {
            PacketType::COMPLETION => self.completion(transaction_id, payload),
            PacketType::DATA_IN_BAND => self.message(payload),
            other => Err(VpciError::UnexpectedPacketType(other.0)),
        };
        if let Err(error) = &result {
            if error.is_fatal() {
                self.fail(*error);
            } else {
                log::warn!("vpci: dropped a packet: {error}");
            }
        }
        result
    }

    /// Powers the bus down: removes every function, sends RESOURCES_RELEASED for those that
    /// got resources (highest slot first) and BUS_D0EXIT. [`Action::Stopped`] follows when
    /// the host completes the D0 exit (at once if D0 entry was never sent).
    pub fn shutdown(&mut self) -> Result<(), VpciError> {
        match self.phase {
            Phase::Negotiating | Phase::Discovering | Phase::Running => {}
            phase => return Err(VpciError::NotRunning(phase)),
        }
        let functions = core::mem::take(&mut self.functions);
        for function in functions.values().rev() {
            if function.state == FunctionState::Ready {
                self.actions.push_back(Action::FunctionRemoved {
                    slot: function.info.slot,
                });
            }
        }
        if self.d0 != D0State::NotSent {
            for function in functions.values().rev() {
                if matches!(
                    function.state,
                    FunctionState::Ready | FunctionState::Assigning
                ) {
                    let message = slot_message(RESOURCES_RELEASED, function.info.slot);
                    self.send_unacknowledged(message.as_bytes());
                }
            }
        }
        self.pending.clear();
        if self.d0 == D0State::NotSent {
            self.phase = Phase::Stopped;
            self.actions.push_back(Action::Stopped);
        } else {
            self.phase = Phase::Stopping;
            self.send_request(Request::D0Exit, header(BUS_D0EXIT).as_bytes());
        }
        Ok(())
    }

    /// The host rescinded the channel: every function is gone and nothing more is sent
    /// (vpci.md §7.2: no RESOURCES_RELEASED or D0 exit after a rescind).
    pub fn rescinded(&mut self) {
        let functions = core::mem::take(&mut self.functions);
        for function in functions.values() {
            if function.state == FunctionState::Ready {
                self.actions.push_back(Action::FunctionRemoved {
                    slot: function.info.slot,
                });
            }
        }
        self.pending.clear();
        self.phase = Phase::Rescinded;
    }

    /// Starts over on a re-opened channel (issue 14: the vPCI driver restarts by closing its
    /// channel and opening it again; the host then starts its protocol over, vpci.md §7, and
    /// so does OpenVMM's `vpci` device on a new open). Every function is removed
    /// ([`Action::FunctionRemoved`] for those that had arrived), the version, D0 state and
    /// requests in flight are forgotten and the client is as new (same window): call
    /// [`VpciClient::start`] once the channel is open again. Transaction ids go on from where
    /// they were, so a completion the old channel instance still delivers names no request
    /// of the new one and is refused ([`VpciError::UnknownTransaction`]); a BUS_RELATIONS of
    /// the old instance before the new version is agreed is refused too
    /// ([`VpciError::UnexpectedMessage`]).
    pub fn restart(&mut self) {
        let functions = core::mem::take(&mut self.functions);
        for function in functions.values() {
            if function.state == FunctionState::Ready {
                self.actions.push_back(Action::FunctionRemoved {
                    slot: function.info.slot,
                });
            }
        }
        self.pending.clear();
        self.phase = Phase::Created;
        self.version = None;
        self.d0 = D0State::NotSent;
        self.d0_status = None;
        log::info!("vpci: starting over on a re-opened channel");
    }

    #[cfg(test)]
    pub(super) fn next_transaction_id_for_test(&mut self, id: u64) {
        self.next_transaction_id = id;
    }

    fn fail(&mut self, error: VpciError) {
        log::warn!("vpci: bus failed: {error}");
        self.pending.clear();
        let functions = core::mem::take(&mut self.functions);
        for function in functions.values() {
            if function.state == FunctionState::Ready {
                self.actions.push_back(Action::FunctionRemoved {
                    slot: function.info.slot,
                });
            }
        }
        self.phase = Phase::Failed;
        self.actions.push_back(Action::Failed(error));
    }

    fn transaction_id(&mut self) -> u64 {
        let id = self.next_transaction_id;
        self.next_transaction_id = self.next_transaction_id.checked_add(1).unwrap_or(1);
        id
    }

    fn send_request(&mut self, request: Request, payload: &[u8]) {
        let mut transaction_id = self.transaction_id();
        while self.pending.contains_key(&transaction_id) {
            transaction_id = self.transaction_id();
        }
        self.pending.insert(transaction_id, request);
        self.actions.push_back(Action::Send(OutboundMessage {
            transaction_id,
            completion_requested: true,
            payload: payload.to_vec(),
        }));
    }

    fn send_unacknowledged(&mut self, payload: &[u8]) {
        self.actions.push_back(Action::Send(OutboundMessage {
            transaction_id: 0,
            completion_requested: false,
            payload: payload.to_vec(),
        }));
    }

    /// Offers the version at `index` of [`ProtocolVersion::CLIENT_ORDER`]; `false` (nothing
    /// sent) when the list has no such entry.
    fn offer_version(&mut self, index: usize) -> bool {
        let Some(&version) = ProtocolVersion::CLIENT_ORDER.get(index) else {
            return false;
        };
        let message = query_protocol_version(version);
        self.send_request(Request::ProtocolVersion(index), message.as_bytes());
        true
    }

    fn completion(&mut self, transaction_id: u64, payload: &[u8]) -> Result<(), VpciError> {
        let Some(request) = self.pending.get(&transaction_id).copied() else {
            return Err(VpciError::UnknownTransaction(transaction_id));
        };
        let needed = match request {
            Request::ResourceRequirements(_) => size_of::<ResourceRequirementsCompletion>(),
            _ => size_of::<CompletionStatus>(),
        };
        let status = match read_prefix::<CompletionStatus>(payload) {
            Some(status) if payload.len() >= needed => status.status.get(),
            // A failed requirements query may carry only its status.
            Some(status)
                if matches!(request, Request::ResourceRequirements(_))
                    && !status_is_success(status.status.get()) =>
            {
                status.status.get()
            }
            _ => {
                return Err(VpciError::Truncated {
                    message_type: 0,
                    length: payload.len(),
                    needed,
                });
            }
        };
        self.pending.remove(&transaction_id);
        if let Request::ResourceRequirements(function) | Request::ResourcesAssigned(function) =
            request
            && !self.is_current(function)
        {
            log::warn!(
                "vpci: completion {transaction_id} for a function gone from slot {:#x} dropped",
                function.slot.0
            );
            return Err(VpciError::StaleCompletion {
                slot: function.slot.0,
                transaction_id,
            });
        }
        match request {
            Request::ProtocolVersion(index) => self.version_completed(index, status),
            Request::ResourceRequirements(function) => {
                self.function_step_completed(function.slot, QUERY_RESOURCE_REQUIREMENTS, status)
            }
            Request::D0Entry => {
                self.d0_status = Some(status);
                if !status_is_success(status) {
                    return Err(VpciError::D0EntryFailed { status });
                }
                self.d0 = D0State::Done;
                self.advance();
                Ok(())
            }
            Request::ResourcesAssigned(function) => {
                let message_type = if self.version == Some(ProtocolVersion::V1_1) {
                    RESOURCES_ASSIGNED
                } else {
                    RESOURCES_ASSIGNED2
                };
                self.function_step_completed(function.slot, message_type, status)
            }
            Request::D0Exit => {
                if self.phase == Phase::Stopping {
                    self.phase = Phase::Stopped;
                    self.actions.push_back(Action::Stopped);
                }
                Ok(())
            }
        }
    }

    /// Whether `function` is still the one at its slot (not removed, not replaced).
    fn is_current(&self, function: FunctionInstance) -> bool {
        self.functions
            .get(&function.slot)
            .is_some_and(|known| known.instance == function.instance)
    }

    /// The request key for the function now at `slot`.
    fn instance_at(&self, slot: SlotNumber) -> FunctionInstance {
        FunctionInstance {
            slot,
            instance: self
                .functions
                .get(&slot)
                .map_or(u64::MAX, |known| known.instance),
        }
    }

    fn version_completed(&mut self, index: usize, status: u32) -> Result<(), VpciError> {
        let Some(&version) = ProtocolVersion::CLIENT_ORDER.get(index) else {
            return Err(VpciError::NoCommonVersion);
        };
        if status_is_success(status) {
            self.version = Some(version);
            self.phase = Phase::Discovering;
            self.send_unacknowledged(header(QUERY_BUS_RELATIONS).as_bytes());
            return Ok(());
        }
        if status != STATUS_REVISION_MISMATCH {
            return Err(VpciError::VersionRejected { version, status });
        }
        // The next older version, if the list has one.
        let offered = index
            .checked_add(1)
            .is_some_and(|next| self.offer_version(next));
        if !offered {
            return Err(VpciError::NoCommonVersion);
        }
        Ok(())
    }

    fn function_step_completed(
        &mut self,
        slot: SlotNumber,
        message_type: u32,
        status: u32,
    ) -> Result<(), VpciError> {
        // `completion` has checked that this is still the function the request was for.
        let Some(function) = self.functions.get_mut(&slot) else {
            return Ok(());
        };
        if !status_is_success(status) {
            function.state = FunctionState::Failed;
            // The rest of the bus goes on without it.
            self.advance();
            return Err(VpciError::FunctionRequestFailed {
                slot: slot.0,
                message_type,
                status,
            });
        }
        match function.state {
            FunctionState::Querying => function.state = FunctionState::Queried,
            FunctionState::Assigning => {
                function.state = FunctionState::Ready;
                let info = function.info;
                self.actions.push_back(Action::FunctionArrived(info));
            }
            _ => {}
        }
        self.advance();
        Ok(())
    }

    fn message(&mut self, payload: &[u8]) -> Result<(), VpciError> {
        let Some(header) = read_prefix::<MessageHeader>(payload) else {
            return Err(VpciError::Truncated {
                message_type: 0,
                length: payload.len(),
                needed: size_of::<MessageHeader>(),
            });
        };
        let message_type = header.message_type.get();
        match message_type {
            BUS_RELATIONS | BUS_RELATIONS2 => {
                if !matches!(self.phase, Phase::Discovering | Phase::Running) {
                    return Err(VpciError::UnexpectedMessage {
                        message_type,
                        phase: self.phase,
                    });
                }
                let list = parse_relations(payload)?;
                self.relations(list);
                Ok(())
            }
            EJECT => {
                let Some(message) = read_prefix::<SlotMessage>(payload) else {
                    return Err(VpciError::Truncated {
                        message_type,
                        length: payload.len(),
                        needed: size_of::<SlotMessage>(),
                    });
                };
                self.eject(SlotNumber(message.slot.get()));
                Ok(())
            }
            INVALIDATE_BLOCK => Ok(()),
            other => Err(VpciError::UnknownMessage(other)),
        }
    }

    fn relations(&mut self, list: Vec<FunctionInfo>) {
        self.phase = Phase::Running;
        let gone: Vec<SlotNumber> = self
            .functions
            .values()
            .filter(|known| !list.iter().any(|new| new.same_function(&known.info)))
            .map(|known| known.info.slot)
            .collect();
        for slot in gone {
            if let Some(function) = self.functions.remove(&slot)
                && function.state == FunctionState::Ready
            {
                self.actions.push_back(Action::FunctionRemoved { slot });
            }
        }
        for info in list {
            if self.functions.contains_key(&info.slot) {
                continue;
            }
            let instance = self.next_instance;
            self.next_instance = self.next_instance.wrapping_add(1);
            self.functions.insert(
                info.slot,
                Function {
                    info,
                    state: FunctionState::Querying,
                    instance,
                },
            );
            let message = slot_message(QUERY_RESOURCE_REQUIREMENTS, info.slot);
            let function = FunctionInstance {
                slot: info.slot,
                instance,
            };
            self.send_request(Request::ResourceRequirements(function), message.as_bytes());
        }
        self.advance();
    }

    fn eject(&mut self, slot: SlotNumber) {
        let Some(function) = self.functions.remove(&slot) else {
            log::debug!("vpci: EJECT for unknown slot {:#x} ignored", slot.0);
            return;
        };
        if function.state == FunctionState::Ready {
            self.actions.push_back(Action::FunctionRemoved { slot });
        }
        if matches!(self.phase, Phase::Discovering | Phase::Running) {
            self.send_unacknowledged(ejection_complete(slot).as_bytes());
        }
    }

    /// Sends what the bus is ready for: D0 entry once every known function's requirements are
    /// in, then the resource assignments.
    fn advance(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        let querying = self
            .functions
            .values()
            .any(|function| function.state == FunctionState::Querying);
        if self.d0 == D0State::NotSent && !querying {
            self.d0 = D0State::Pending;
            let message = bus_d0_entry(self.window);
            self.send_request(Request::D0Entry, message.as_bytes());
        }
        if self.d0 != D0State::Done {
            return;
        }
        let ready: Vec<SlotNumber> = self
            .functions
            .values()
            .filter(|function| function.state == FunctionState::Queried)
            .map(|function| function.info.slot)
            .collect();
        for slot in ready {
            if let Some(function) = self.functions.get_mut(&slot) {
                function.state = FunctionState::Assigning;
            }
            let function = self.instance_at(slot);
            if self.version == Some(ProtocolVersion::V1_1) {
                let message = resources_assigned(slot);
                self.send_request(Request::ResourcesAssigned(function), message.as_bytes());
            } else {
                let message = resources_assigned2(slot);
                self.send_request(Request::ResourcesAssigned(function), message.as_bytes());
            }
        }
    }
}

/// Parses a BUS_RELATIONS or BUS_RELATIONS2 payload, validating it completely before anything
/// is used: the count, the length, each slot and slot uniqueness.
pub fn parse_relations(payload: &[u8]) -> Result<Vec<FunctionInfo>, VpciError> {
    let Some(header) = read_prefix::<BusRelationsHeader>(payload) else {
        return Err(VpciError::Truncated {
            message_type: read_prefix::<MessageHeader>(payload)
                .map_or(0, |header| header.message_type.get()),
            length: payload.len(),
            needed: size_of::<BusRelationsHeader>(),
        });
    };
    let message_type = header.message_type.get();
    let count = header.device_count.get();
    if count as usize > MAX_FUNCTIONS {
        return Err(VpciError::TooManyFunctions { count });
    }
    let element = match message_type {
        BUS_RELATIONS => size_of::<FunctionDescription>(),
        BUS_RELATIONS2 => size_of::<FunctionDescription2>(),
        other => return Err(VpciError::UnknownMessage(other)),
    };
    // `read_prefix` succeeded, so the payload holds the header and `get` finds the body.
    let body = payload
        .get(size_of::<BusRelationsHeader>()..)
        .unwrap_or_default();
    // `count` ≤ MAX_FUNCTIONS, so the product cannot overflow; checked all the same.
    let needed = (count as usize).checked_mul(element);
    if needed.is_none_or(|needed| body.len() < needed) {
        return Err(VpciError::RelationsTruncated {
            count,
            length: payload.len(),
        });
    }
    let mut list: Vec<FunctionInfo> = Vec::with_capacity(count as usize);
    for entry in body.chunks_exact(element).take(count as usize) {
        let info = if message_type == BUS_RELATIONS2 {
            let description = read_prefix::<FunctionDescription2>(entry).ok_or(
                VpciError::RelationsTruncated {
                    count,
                    length: payload.len(),
                },
            )?;
            let numa = (description.flags.get() & FLAG_NUMA_AFFINITY != 0)
                .then(|| description.numa_node.get());
            FunctionInfo::from_description(&description.base, numa)
        } else {
            let description =
                read_prefix::<FunctionDescription>(entry).ok_or(VpciError::RelationsTruncated {
                    count,
                    length: payload.len(),
                })?;
            FunctionInfo::from_description(&description, None)
        };
        if !info.slot.is_valid() {
            return Err(VpciError::BadSlot(info.slot.0));
        }
        if list.iter().any(|known| known.slot == info.slot) {
            return Err(VpciError::DuplicateSlot(info.slot.0));
        }
        list.push(info);
    }
    Ok(list)
}
