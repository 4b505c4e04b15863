//! When to retry a failed HvPostMessage (sans-I/O: time is an input, the caller waits).
//!
//! Linux's `vmbus_post_msg` (torvalds/linux `drivers/hv/connection.c`) is the model:
//! - INITIATE_CONTACT refused with HV_STATUS_INVALID_CONNECTION_ID is not retried: the host has
//!   no such message port (a host without protocol 5.0 does not listen on connection id 4), and
//!   the version walk moves on to the next older version at once;
//! - HV_STATUS_INSUFFICIENT_BUFFERS and HV_STATUS_INSUFFICIENT_MEMORY (the host's message queue
//!   is full), and INVALID_CONNECTION_ID for any other message (Linux: "we could get this if we
//!   send messages too frequently"), are retried with a delay that starts at 1 µs and doubles;
//! - any other status fails the message at once.
//!
//! Linux makes at most 100 attempts and stops doubling after 22 of them, which bounds the
//! total only at minutes. This policy bounds it in time: a retry is scheduled only if it would
//! start within [`TOTAL_BOUND_MICROSECONDS`] (5 s) of the first failure, each delay is at most
//! [`MAX_DELAY_MICROSECONDS`] (1 s), and at most [`MAX_ATTEMPTS`] (100, as Linux) posts are
//! made, so a clock that does not advance still ends the retries. Five seconds is far beyond
//! the time a host needs to drain its per-port queue (16 messages on Hyper-V) and short enough
//! that a dead host ends the bring-up with a clear error instead of a hang.
//!
//! [`PostRetry`] is the state of one message's attempts: feed it each failed status with the
//! current time, and either wait the delay it returns and post again, or give up with the
//! [`PostFailure`] it returns (hand that to [`crate::client::Client::on_post_message_failed`]).

use crate::messages::MessageType;
use core::fmt;
use hyperv::status::HvError;

/// The first retry delay (Linux: 1 µs).
pub const INITIAL_DELAY_MICROSECONDS: u64 = 1;
/// The largest single delay.
pub const MAX_DELAY_MICROSECONDS: u64 = 1_000_000;
/// No retry starts later than this after the first failure.
pub const TOTAL_BOUND_MICROSECONDS: u64 = 5_000_000;
/// Most posts of one message (the first one included), as Linux.
pub const MAX_ATTEMPTS: u32 = 100;

/// Why a message was not delivered to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostFailure {
    /// INITIATE_CONTACT refused with INVALID_CONNECTION_ID: the host does not listen on the
    /// connection id of this version (not retried).
    ConnectionIdRefused,
    /// A status that is never retried.
    Refused(HvError),
    /// A transient status persisted until the retry bound.
    RetriesExhausted {
        /// The last status.
        error: HvError,
        /// Posts made, the first one included.
        attempts: u32,
    },
}

impl PostFailure {
    /// The hypercall status of the (last) failed post.
    pub fn status(self) -> u16 {
        match self {
            PostFailure::ConnectionIdRefused => HvError::InvalidConnectionId.code(),
            PostFailure::Refused(error) | PostFailure::RetriesExhausted { error, .. } => {
                error.code()
            }
        }
    }
}

impl fmt::Display for PostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostFailure::ConnectionIdRefused => {
                f.write_str("HvPostMessage refused: INVALID_CONNECTION_ID (not retried)")
            }
            PostFailure::Refused(error) => write!(
                f,
                "HvPostMessage failed: {} ({:#x})",
                error.name(),
                error.code()
            ),
            PostFailure::RetriesExhausted { error, attempts } => write!(
                f,
                "HvPostMessage still failing after {attempts} attempts: {} ({:#x})",
                error.name(),
                error.code()
            ),
        }
    }
}

/// What to do after a failed post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this many microseconds, then post the same message again.
    RetryAfter(u64),
    /// Stop: the message is not delivered.
    GiveUp(PostFailure),
}

/// The retry state of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostRetry {
    message_type: MessageType,
    first_failure_at: Option<u64>,
    next_delay: u64,
    attempts: u32,
}

impl PostRetry {
    /// The state before the first post of a message of `message_type`.
    pub fn new(message_type: MessageType) -> Self {
        PostRetry {
            message_type,
            first_failure_at: None,
            next_delay: INITIAL_DELAY_MICROSECONDS,
            attempts: 0,
        }
    }

    /// The state for a control-message `payload` (its type is read from the header; a payload
    /// too short for one counts as type 0).
    pub fn for_payload(payload: &[u8]) -> Self {
        let message_type = payload
            .get(..4)
            .and_then(|bytes| bytes.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        PostRetry::new(MessageType(message_type))
    }

    /// Posts made so far (failed ones).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Reports that a post failed with `error` at `now_microseconds` (any monotonic clock).
    pub fn on_failure(&mut self, error: HvError, now_microseconds: u64) -> RetryDecision {
        self.attempts = self.attempts.saturating_add(1);
        let retryable = match error {
            HvError::InvalidConnectionId if self.message_type == MessageType::INITIATE_CONTACT => {
                return RetryDecision::GiveUp(PostFailure::ConnectionIdRefused);
            }
            HvError::InvalidConnectionId
            | HvError::InsufficientBuffers
            | HvError::InsufficientMemory => true,
            _ => false,
        };
        if !retryable {
            return RetryDecision::GiveUp(PostFailure::Refused(error));
        }
        let first = *self.first_failure_at.get_or_insert(now_microseconds);
        let elapsed = now_microseconds.saturating_sub(first);
        let delay = self.next_delay;
        let exhausted = RetryDecision::GiveUp(PostFailure::RetriesExhausted {
            error,
            attempts: self.attempts,
        });
        if self.attempts >= MAX_ATTEMPTS || elapsed.saturating_add(delay) > TOTAL_BOUND_MICROSECONDS
        {
            return exhausted;
        }
        self.next_delay = delay.saturating_mul(2).min(MAX_DELAY_MICROSECONDS);
        RetryDecision::RetryAfter(delay)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Runs the policy against a clock that advances exactly by the delays it asks for.
    fn run(message_type: MessageType, error: HvError) -> (Vec<u64>, PostFailure) {
        let mut retry = PostRetry::new(message_type);
        let mut now = 1_000;
        let mut delays = Vec::new();
        loop {
            match retry.on_failure(error, now) {
                RetryDecision::RetryAfter(delay) => {
                    delays.push(delay);
                    now += delay;
                }
                RetryDecision::GiveUp(failure) => return (delays, failure),
            }
        }
    }

    #[test]
    fn initiate_contact_on_a_refused_connection_id_is_not_retried() {
        let (delays, failure) = run(MessageType::INITIATE_CONTACT, HvError::InvalidConnectionId);
        assert!(delays.is_empty());
        assert_eq!(failure, PostFailure::ConnectionIdRefused);
        assert_eq!(failure.status(), 0x12);
    }

    #[test]
    fn transient_statuses_back_off_exponentially_within_the_bound() {
        for error in [
            HvError::InsufficientBuffers,
            HvError::InsufficientMemory,
            HvError::InvalidConnectionId,
        ] {
            let (delays, failure) = run(MessageType::GPADL_HEADER, error);
            assert_eq!(&delays[..4], &[1, 2, 4, 8]);
            assert!(delays.iter().all(|delay| *delay <= MAX_DELAY_MICROSECONDS));
            assert!(delays.iter().sum::<u64>() <= TOTAL_BOUND_MICROSECONDS);
            let attempts = delays.len() as u32 + 1;
            assert_eq!(failure, PostFailure::RetriesExhausted { error, attempts });
        }
    }

    #[test]
    fn other_statuses_fail_at_once() {
        let (delays, failure) = run(MessageType::REQUEST_OFFERS, HvError::InvalidParameter);
        assert!(delays.is_empty());
        assert_eq!(failure, PostFailure::Refused(HvError::InvalidParameter));
        let (_, failure) = run(MessageType::INITIATE_CONTACT, HvError::AccessDenied);
        assert_eq!(failure, PostFailure::Refused(HvError::AccessDenied));
    }

    #[test]
    fn a_stopped_clock_still_ends_after_the_attempt_limit() {
        let mut retry = PostRetry::for_payload(&8u32.to_le_bytes());
        let mut retries = 0;
        while let RetryDecision::RetryAfter(_) = retry.on_failure(HvError::InsufficientBuffers, 7) {
            retries += 1;
        }
        assert_eq!(retries, MAX_ATTEMPTS - 1);
        assert_eq!(retry.attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn a_transient_failure_that_clears_needs_only_short_waits() {
        let mut retry = PostRetry::for_payload(&crate::messages::encode::request_offers());
        assert_eq!(
            retry.on_failure(HvError::InsufficientBuffers, 50),
            RetryDecision::RetryAfter(1)
        );
        assert_eq!(
            retry.on_failure(HvError::InsufficientMemory, 51),
            RetryDecision::RetryAfter(2)
        );
        assert_eq!(retry.attempts(), 2);
    }
}
