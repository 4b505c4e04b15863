//! Host faults of issue 14: a host that stops answering a chosen message, or answers it late.
//!
//! An [`AnswerFault`] names a kind of host answer ([`AnswerKind`]: a VMBus control message by
//! type, or the completions of the dxg channels) and what happens to it: never sent
//! ([`AnswerTiming::Never`]) or held for a while ([`AnswerTiming::Late`]). It applies to every
//! such answer, only to the `n`-th (`occurrence`, counted from 1 since the host started), or
//! to the `n`-th and every later one (`onward`).
//!
//! The server is sans-I/O: it learns the time from [`super::Server::advance_clock`] (the host
//! services call it on every run with the time since they started) and releases a held answer
//! at the first call at or after its due time, in the order the answers were held. A held
//! control message keeps the VP it was addressed to.

use std::time::Duration;
use vmbus::messages::MessageType;

/// Which host answers a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// A VMBus control message of this type (VERSION_RESPONSE, ALLOFFERS_DELIVERED,
    /// OPENCHANNEL_RESULT, GPADL_CREATED, GPADL_TORNDOWN, UNLOAD_RESPONSE, …).
    Control(MessageType),
    /// A completion packet on a dxg channel (global or vGPU): the answer to a dxg request.
    DxgCompletion,
    /// The completion answering one dxg command: `command` is the request header's
    /// `command_type`, on the global channel (`global`) or a vGPU channel. Unlike counting
    /// every dxg answer, this does not depend on how many other requests came first.
    DxgCommand {
        /// The global channel (`dxgkvmb_commandtype_global`, 1000 and up) or a vGPU one.
        global: bool,
        /// The command number.
        command: u32,
    },
}

/// When a faulted answer goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerTiming {
    /// Never: the answer is dropped.
    Never,
    /// After this long (from the moment the host would have sent it).
    Late(Duration),
    /// Sent, and then the host writes a misaligned read index into the guest→host ring of the
    /// channel it went out on (dxg answers only): the guest's next packet on that channel
    /// finds the ring corrupt and cannot be sent.
    CorruptRing,
}

/// One "never answer" / "answer late" switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerFault {
    /// The answers it applies to.
    pub kind: AnswerKind,
    /// Never, or late.
    pub timing: AnswerTiming,
    /// Only the `n`-th answer of the kind (from 1); `None`: every one.
    pub occurrence: Option<u32>,
    /// With `occurrence`: the `n`-th answer and every later one (`@N+`).
    pub onward: bool,
}

/// The names [`AnswerFault::parse`] knows for control messages (the runner's spelling).
const CONTROL_NAMES: [(&str, MessageType); 8] = [
    ("version-response", MessageType::VERSION_RESPONSE),
    ("offer", MessageType::OFFER_CHANNEL),
    ("all-offers-delivered", MessageType::ALL_OFFERS_DELIVERED),
    ("open-channel-result", MessageType::OPEN_CHANNEL_RESULT),
    ("gpadl-created", MessageType::GPADL_CREATED),
    ("gpadl-torndown", MessageType::GPADL_TORNDOWN),
    ("unload-response", MessageType::UNLOAD_RESPONSE),
    (
        "modify-channel-response",
        MessageType::MODIFY_CHANNEL_RESPONSE,
    ),
];

impl AnswerFault {
    /// Parses `KIND:never`, `KIND:late=MS` or (dxg kinds) `KIND:corrupt-ring`, each optionally
    /// followed by `@N` (only the N-th answer) or `@N+` (the N-th and every later one). KIND
    /// is `dxg` (dxg completions),
    /// `dxg-vgpu=N` or `dxg-global=N` (the completions of dxg command N on that channel), or
    /// one of `version-response`, `offer`,
    /// `all-offers-delivered`, `open-channel-result`, `gpadl-created`, `gpadl-torndown`,
    /// `unload-response`, `modify-channel-response`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (body, occurrence, onward) = match text.split_once('@') {
            Some((body, count)) => {
                let (count, onward) = match count.strip_suffix('+') {
                    Some(count) => (count, true),
                    None => (count, false),
                };
                let count: u32 = count
                    .parse()
                    .ok()
                    .filter(|count| *count > 0)
                    .ok_or(format!("host fault {text:?}: @N needs a count from 1"))?;
                (body, Some(count), onward)
            }
            None => (text, None, false),
        };
        let (name, timing) = body.split_once(':').ok_or(format!(
            "host fault {text:?}: expected KIND:never or KIND:late=MS"
        ))?;
        let kind = if name == "dxg" {
            AnswerKind::DxgCompletion
        } else if let Some((channel, command)) = name.split_once('=') {
            let global = match channel {
                "dxg-vgpu" => false,
                "dxg-global" => true,
                _ => return Err(format!("host fault {text:?}: unknown message {channel:?}")),
            };
            let command = command
                .parse()
                .map_err(|_| format!("host fault {text:?}: not a command number: {command:?}"))?;
            AnswerKind::DxgCommand { global, command }
        } else {
            CONTROL_NAMES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, message_type)| AnswerKind::Control(*message_type))
                .ok_or(format!("host fault {text:?}: unknown message {name:?}"))?
        };
        let dxg = !matches!(kind, AnswerKind::Control(_));
        let timing = match timing.split_once('=') {
            None if timing == "never" => AnswerTiming::Never,
            None if timing == "corrupt-ring" && dxg => AnswerTiming::CorruptRing,
            Some(("late", milliseconds)) => {
                AnswerTiming::Late(Duration::from_millis(milliseconds.parse().map_err(
                    |_| format!("host fault {text:?}: not milliseconds: {milliseconds:?}"),
                )?))
            }
            _ => {
                return Err(format!(
                    "host fault {text:?}: expected never, late=MS or (dxg) corrupt-ring"
                ));
            }
        };
        Ok(AnswerFault {
            kind,
            timing,
            occurrence,
            onward,
        })
    }
}

/// A held answer: released at `due`.
#[derive(Debug)]
pub(super) struct Held<T> {
    pub due: Duration,
    pub answer: T,
}

/// The faults in force, the count of answers of each faulted kind seen so far, and the clock.
#[derive(Debug, Default)]
pub(super) struct AnswerFaults {
    faults: Vec<(AnswerFault, u32)>,
    now: Duration,
    /// Answers dropped so far (for tests and the log).
    pub dropped: u64,
    /// Answers delayed so far.
    pub delayed: u64,
}

impl AnswerFaults {
    pub fn new(faults: &[AnswerFault]) -> Self {
        AnswerFaults {
            faults: faults.iter().map(|fault| (*fault, 0)).collect(),
            ..AnswerFaults::default()
        }
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn set_now(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    /// What to do with one answer of `kind`: `None` sends it now, `Some(timing)` applies the
    /// first matching fault. Counts the answer for every fault of the kind.
    pub fn decide(&mut self, kind: AnswerKind) -> Option<AnswerTiming> {
        let mut decision = None;
        for (fault, seen) in &mut self.faults {
            if fault.kind != kind {
                continue;
            }
            *seen = seen.saturating_add(1);
            let applies = fault
                .occurrence
                .is_none_or(|wanted| wanted == *seen || (fault.onward && *seen > wanted));
            if applies && decision.is_none() {
                decision = Some(fault.timing);
            }
        }
        match decision {
            Some(AnswerTiming::Never) => {
                self.dropped += 1;
                log::info!("vmbus server: host fault: {kind:?} never sent");
            }
            Some(AnswerTiming::Late(delay)) => {
                self.delayed += 1;
                log::info!("vmbus server: host fault: {kind:?} held for {delay:?}");
            }
            Some(AnswerTiming::CorruptRing) => {
                log::info!(
                    "vmbus server: host fault: after {kind:?}, its channel's ring corrupted"
                );
            }
            None => {}
        }
        decision
    }
}
