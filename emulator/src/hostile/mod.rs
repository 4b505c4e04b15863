//! The hostile host: a table-driven mode of the emulated host that makes host→guest messages
//! wrong on purpose, for the standing hostile-host suite (`emulator/tests/hostile_host.rs`).
//!
//! Design: a [`HostileRow`] names one message the guest parses ([`Target`]: a VMBus control
//! message by type, or a device model's packet on a service channel — vPCI or dxg — by
//! channel and kind), which occurrence of it to hit, and one [`Mutation`] (truncated,
//! oversized, a field patched to a wrong id or address, dropped, duplicated, delayed behind
//! the next message). The row goes into the VMBus server as an
//! [`OutgoingHook`] ([`HostileHook`]), which sees every
//! control message and every service-channel packet just before it is queued; everything not
//! targeted passes unchanged. Faults that are not a rewrite of one message (event flags set
//! for nobody, monitor pages scribbled on, stray control messages) are [`Injection`]s that
//! the test performs through the SynIC model directly.
//!
//! The rows themselves are in [`rows`]: one table, described once; each row also says what
//! the guest does to make the message appear ([`Scenario`]) and, for faults the guest cannot
//! handle yet without a time bound, why the row is skipped.
//!
//! Field offsets come from the VMBus channel-message layouts (`vmbus::messages::layouts`,
//! as Linux's `include/linux/hyperv.h`): every message starts with an 8-byte header
//! (message type, padding); [`offsets`] names the fields the rows patch, and the unit tests
//! check them against the `vmbus` encoder.

pub mod rows;

use crate::vmbus_server::{OutgoingHook, ReplyKind, ServiceReply};
use std::sync::{Arc, Mutex, MutexGuard};
use vmbus::messages::MessageType;

pub use rows::{HOSTILE_ROWS, RequestKind, Scenario};

/// Byte offsets of the control-message fields the rows patch (header of 8 bytes first).
pub mod offsets {
    /// Every message: the message type.
    pub const MESSAGE_TYPE: usize = 0;
    /// OFFERCHANNEL: the interface (class) GUID.
    pub const OFFER_CLASS: usize = 8;
    /// OFFERCHANNEL: the MMIO megabytes the device asks for.
    pub const OFFER_MMIO_MEGABYTES: usize = 58;
    /// OFFERCHANNEL: the child relid.
    pub const OFFER_RELID: usize = 184;
    /// OFFERCHANNEL: the signalling connection id.
    pub const OFFER_CONNECTION_ID: usize = 192;
    /// RESCIND_CHANNELOFFER, OPENCHANNEL_RESULT, GPADL_CREATED: the child relid.
    pub const CHILD_RELID: usize = 8;
    /// OPENCHANNEL_RESULT: the open id (the guest's transaction id for the open).
    pub const OPEN_ID: usize = 12;
    /// OPENCHANNEL_RESULT: the status.
    pub const OPEN_STATUS: usize = 16;
    /// GPADL_CREATED: the GPADL handle.
    pub const CREATED_GPADL: usize = 12;
    /// GPADL_CREATED: the creation status.
    pub const CREATED_STATUS: usize = 16;
    /// GPADL_TORNDOWN: the GPADL handle.
    pub const TORNDOWN_GPADL: usize = 8;
    /// VERSION_RESPONSE: the "version supported" byte.
    pub const VERSION_SUPPORTED: usize = 8;
    /// VERSION_RESPONSE: the message connection id (≥ 5.0).
    pub const VERSION_CONNECTION_ID: usize = 12;
}

/// The message a row makes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A VMBus control message of this type.
    Control(MessageType),
    /// A completion a device model writes into one of these channels' rings.
    Completion {
        /// The channels (relids in [`crate::vmbus_server::ServerConfig::standard`] order).
        relids: &'static [u32],
    },
    /// An in-band packet a device model writes into channel `relid`'s ring whose first
    /// 32-bit word (the vPCI message type) is `message_type`.
    InBand {
        /// The channel.
        relid: u32,
        /// The packet's message type.
        message_type: u32,
    },
    /// Nothing is rewritten: the row is an [`Injection`].
    None,
}

/// How the targeted message is made wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Cut to this many bytes (control message: the whole payload; packet: the payload, which
    /// the ring pads to a multiple of 8 bytes).
    Truncate(usize),
    /// This many zero bytes appended (a control message stays within the 240-byte SynIC
    /// payload).
    Oversize(usize),
    /// One byte at `offset` set to `value`.
    PatchU8 {
        /// Byte offset.
        offset: usize,
        /// New value.
        value: u8,
    },
    /// The little-endian 32-bit word at `offset` set to `value`.
    PatchU32 {
        /// Byte offset.
        offset: usize,
        /// New value.
        value: u32,
    },
    /// The little-endian 64-bit word at `offset` set to `value`.
    PatchU64 {
        /// Byte offset.
        offset: usize,
        /// New value.
        value: u64,
    },
    /// A packet's transaction id replaced (a completion for a request nobody made).
    TransactionId(u64),
    /// Never sent (never answered).
    Drop,
    /// Sent twice (answered twice).
    Duplicate,
    /// Held back and sent after the next message of the same stream (control messages, or
    /// packets of any service channel): out of order. If nothing follows (the guest waits for
    /// this very message), the test delivers it late with [`HookHandle::take_held_control`].
    Delay,
    /// Nothing rewritten; the test performs the injection.
    Inject(Injection),
}

/// A fault that is not a rewrite of one host message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// The channel event flag of `relid` set (and the SINT raised) although no channel with
    /// this relid is open.
    EventFlag {
        /// The flag (relid) set.
        relid: u32,
    },
    /// Both monitor pages the guest gave in INITIATE_CONTACT filled with this byte.
    MonitorPages {
        /// The fill byte.
        fill: u8,
    },
    /// A stray OPENCHANNEL_RESULT (success) for `relid`, which the guest is not opening.
    OpenResult {
        /// The relid named.
        relid: u32,
    },
    /// A stray GPADL_TORNDOWN for a handle the guest never asked to tear down.
    Torndown {
        /// The handle.
        gpadl: u32,
    },
    /// A stray GPADL_CREATED (success) for `relid` and a handle the guest never created.
    Created {
        /// The relid.
        relid: u32,
        /// The handle.
        gpadl: u32,
    },
    /// A VERSION_RESPONSE (accepted) arriving while connected.
    VersionResponse,
    /// An UNLOAD_RESPONSE the guest never asked for.
    UnloadResponse,
    /// A MODIFYCHANNEL_RESPONSE the guest never asked for.
    ModifyChannelResponse {
        /// The relid named.
        relid: u32,
    },
    /// ALLOFFERS_DELIVERED a second time.
    AllOffersDelivered,
    /// A RESCIND for a relid never offered.
    Rescind {
        /// The relid.
        relid: u32,
    },
}

/// One row of the hostile-host table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostileRow {
    /// A unique readable name (printed per row).
    pub name: &'static str,
    /// The message made wrong.
    pub target: Target,
    /// Which occurrence of the target (0: the first) after the hook is armed.
    pub occurrence: usize,
    /// How.
    pub mutation: Mutation,
    /// What the guest does to make the target appear.
    pub scenario: Scenario,
    /// What the guest must do about it.
    pub expect: Expect,
    /// Why the row cannot run yet (printed), if it cannot.
    pub skipped: Option<&'static str>,
    /// A defect already filed (issue 12) that this row shows, until it is fixed: the row runs,
    /// and prints the defect instead of failing while the guest still shows it; once the guest
    /// handles the row the test fails until this marker is removed.
    pub known_defect: Option<&'static str>,
}

/// What the guest must do with a row's message (beyond the checks of every row: no panic,
/// nothing leaks, a later request still works).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing specific: ignoring the message and handling it are both correct.
    Survives,
    /// The guest notices (a rejected message counted by the bus, a dxg protocol error, or a
    /// failed open reported to the driver).
    Noticed,
    /// The row's request ends in an error status.
    RequestFails,
}

/// What the hook has done so far (shared between the hook in the server and the test).
#[derive(Debug, Default)]
struct HookState {
    armed: bool,
    seen: usize,
    fired: usize,
    held_control: Option<Vec<u8>>,
    held_reply: Option<ServiceReply>,
}

/// The test's handle on a [`HostileHook`] inside the server.
#[derive(Clone, Debug, Default)]
pub struct HookHandle {
    state: Arc<Mutex<HookState>>,
}

impl HookHandle {
    fn lock(&self) -> MutexGuard<'_, HookState> {
        // A poisoned lock only means another test thread panicked; the counters stay valid.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts matching (occurrences are counted from here).
    pub fn arm(&self) {
        self.lock().armed = true;
    }

    /// How many messages the row rewrote.
    pub fn fired(&self) -> usize {
        self.lock().fired
    }

    /// The delayed control message, if nothing has released it yet (for the test to deliver
    /// late).
    pub fn take_held_control(&self) -> Option<Vec<u8>> {
        self.lock().held_control.take()
    }

    /// Whether a delayed message is still held back.
    pub fn holding(&self) -> bool {
        let state = self.lock();
        state.held_control.is_some() || state.held_reply.is_some()
    }
}

/// The [`OutgoingHook`] that applies one row.
#[derive(Debug)]
pub struct HostileHook {
    target: Target,
    occurrence: usize,
    mutation: Mutation,
    handle: HookHandle,
}

impl HostileHook {
    /// The hook for `row` (disarmed) and the test's handle on it.
    pub fn new(row: &HostileRow) -> (Self, HookHandle) {
        let handle = HookHandle::default();
        let hook = HostileHook {
            target: row.target,
            occurrence: row.occurrence,
            mutation: row.mutation,
            handle: handle.clone(),
        };
        (hook, handle)
    }

    /// Whether this message is the one to rewrite (counts matching messages while armed;
    /// fires once).
    fn hit(&self, matches: bool) -> bool {
        let mut state = self.handle.lock();
        if !state.armed || !matches || state.fired > 0 {
            return false;
        }
        state.seen += 1;
        if state.seen <= self.occurrence {
            return false;
        }
        state.fired += 1;
        true
    }
}

/// `bytes` with the little-endian `value` written at `offset` (grown with zeros if short).
fn patch(bytes: &mut Vec<u8>, offset: usize, value: &[u8]) {
    let end = offset.saturating_add(value.len());
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    if let Some(slot) = bytes.get_mut(offset..end) {
        slot.copy_from_slice(value);
    }
}

/// Applies a byte-level mutation; `None` for the mutations that are not byte rewrites.
fn mutate_bytes(mutation: Mutation, mut bytes: Vec<u8>, limit: usize) -> Option<Vec<u8>> {
    match mutation {
        Mutation::Truncate(length) => bytes.truncate(length),
        Mutation::Oversize(extra) => {
            let length = bytes.len().saturating_add(extra).min(limit);
            bytes.resize(length, 0);
        }
        Mutation::PatchU8 { offset, value } => patch(&mut bytes, offset, &[value]),
        Mutation::PatchU32 { offset, value } => patch(&mut bytes, offset, &value.to_le_bytes()),
        Mutation::PatchU64 { offset, value } => patch(&mut bytes, offset, &value.to_le_bytes()),
        _ => return None,
    }
    Some(bytes)
}

/// Largest SynIC message payload.
const SYNIC_PAYLOAD_LIMIT: usize = 240;

impl OutgoingHook for HostileHook {
    fn control_message(&mut self, payload: Vec<u8>) -> Vec<Vec<u8>> {
        let message_type = payload
            .get(..4)
            .and_then(|word| word.try_into().ok())
            .map(|word| MessageType(u32::from_le_bytes(word)));
        let matches =
            matches!(self.target, Target::Control(wanted) if Some(wanted) == message_type);
        let mut out = Vec::new();
        if self.hit(matches) {
            log::info!(
                "hostile host: {:?} of {:?}",
                self.mutation,
                message_type.unwrap_or(MessageType::INVALID)
            );
            match self.mutation {
                Mutation::Drop => {}
                Mutation::Duplicate => out.extend([payload.clone(), payload]),
                Mutation::Delay => self.handle.lock().held_control = Some(payload),
                other => out.extend(
                    mutate_bytes(other, payload.clone(), SYNIC_PAYLOAD_LIMIT).or(Some(payload)),
                ),
            }
            return out;
        }
        out.push(payload);
        if let Some(held) = self.handle.lock().held_control.take() {
            out.push(held);
        }
        out
    }

    fn service_reply(&mut self, reply: ServiceReply) -> Vec<ServiceReply> {
        let matches = match self.target {
            Target::Completion { relids } => {
                relids.contains(&reply.relid) && reply.kind == ReplyKind::Completion
            }
            Target::InBand {
                relid,
                message_type,
            } => {
                reply.relid == relid
                    && matches!(reply.kind, ReplyKind::InBand { .. })
                    && reply.bytes.get(..4) == Some(&message_type.to_le_bytes()[..])
            }
            _ => false,
        };
        let mut out = Vec::new();
        if self.hit(matches) {
            log::info!(
                "hostile host: {:?} of a {:?} on channel {}",
                self.mutation,
                reply.kind,
                reply.relid
            );
            match self.mutation {
                Mutation::Drop => {}
                Mutation::Duplicate => out.extend([reply.clone(), reply]),
                Mutation::Delay => self.handle.lock().held_reply = Some(reply),
                Mutation::TransactionId(id) => out.push(ServiceReply {
                    transaction_id: id,
                    ..reply
                }),
                other => {
                    let mut reply = reply;
                    if let Some(bytes) = mutate_bytes(other, reply.bytes.clone(), usize::MAX) {
                        reply.bytes = bytes;
                    }
                    out.push(reply);
                }
            }
            return out;
        }
        out.push(reply);
        if let Some(held) = self.handle.lock().held_reply.take() {
            out.push(held);
        }
        out
    }
}

#[cfg(test)]
mod tests;
