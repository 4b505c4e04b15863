//! Request/reply calls over channels: a [`Client`] sends a [`Request`] carrying the question and
//! a one-shot [`ReplySender`]; the serving task answers with [`Request::reply`]. Replies are
//! typed per service, and a server that drops a request unanswered or stops serving gives the
//! caller [`CallError`] instead of a hang.

use super::channel::{Receiver, Sender, channel};

/// A question of type `Q` awaiting an answer of type `R`.
pub struct Request<Q, R> {
    /// The question.
    pub body: Q,
    reply: ReplySender<R>,
}

/// The one-shot answer path of a [`Request`].
pub struct ReplySender<R> {
    sender: Sender<R>,
}

impl<R> ReplySender<R> {
    /// Whether the caller has stopped waiting (its end is gone, e.g. after a timeout).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends the answer; gives it back if the caller has gone.
    pub fn send(self, reply: R) -> Result<(), R> {
        self.sender.try_send(reply).map_err(|error| match error {
            super::TrySendError::Full(reply) | super::TrySendError::Closed(reply) => reply,
        })
    }
}

impl<Q, R> Request<Q, R> {
    /// Answers the request; gives the answer back if the caller has gone.
    pub fn reply(self, reply: R) -> Result<(), R> {
        self.reply.send(reply)
    }

    /// Splits into the question and the reply path (to answer later).
    pub fn into_parts(self) -> (Q, ReplySender<R>) {
        (self.body, self.reply)
    }
}

/// Why a call got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// The server's request receiver is gone.
    ServerGone,
    /// The server dropped the request without answering.
    NoReply,
    /// The deadline passed before the answer (a late answer is dropped).
    TimedOut,
    /// The calling task was [interrupted](crate::task::TaskRef::interrupt) while it waited
    /// (its process is being killed); a late answer is dropped.
    Interrupted,
}

/// A caller's reply channel, kept from one answered call to the next
/// ([`Client::call_until_reusing`]); empty at first.
pub struct ReplySlot<R> {
    receiver: Option<Receiver<R>>,
}

impl<R> Default for ReplySlot<R> {
    fn default() -> Self {
        ReplySlot { receiver: None }
    }
}

impl<R> ReplySlot<R> {
    /// Whether a reply channel is kept for the next call.
    pub fn is_kept(&self) -> bool {
        self.receiver.is_some()
    }
}

/// The calling side of a service; clone it for more callers.
pub struct Client<Q, R> {
    requests: Sender<Request<Q, R>>,
}

impl<Q, R> Clone for Client<Q, R> {
    fn clone(&self) -> Self {
        Client {
            requests: self.requests.clone(),
        }
    }
}

impl<Q, R> Client<Q, R> {
    /// Sends `question` and waits for the answer.
    pub fn call(&self, question: Q) -> Result<R, CallError> {
        let (sender, receiver) = channel(1);
        let request = Request {
            body: question,
            reply: ReplySender { sender },
        };
        self.requests
            .send(request)
            .map_err(|_| CallError::ServerGone)?;
        receiver.recv().map_err(|_| CallError::NoReply)
    }

    /// Like [`Self::call`], but stops waiting when the timer reaches `deadline` (in
    /// [`crate::clock::ticks`]; `None`: no deadline) or when the calling task is
    /// [interrupted](crate::task::TaskRef::interrupt), so a process blocked in it can be
    /// killed: both while the request queue is full (the question is then not sent) and while
    /// it waits for the answer (the server still gets the question).
    pub fn call_until(&self, question: Q, deadline: Option<u64>) -> Result<R, CallError> {
        self.call_until_reusing(question, deadline, &mut ReplySlot::default())
    }

    /// Like [`Self::call_until`], but takes the reply channel from `slot` when the previous
    /// call left one there (its reply received, its reply sender gone: [`Receiver::reopen`])
    /// and puts it back after an answered call, so that a caller making one call after another
    /// allocates no channel per call. After a timeout, an interruption or a dropped request the
    /// channel is dropped with its late answer, and the next call makes a new one.
    pub fn call_until_reusing(
        &self,
        question: Q,
        deadline: Option<u64>,
        slot: &mut ReplySlot<R>,
    ) -> Result<R, CallError> {
        let deadline = deadline.unwrap_or(super::channel::NEVER);
        let reopened = slot
            .receiver
            .take()
            .and_then(|receiver| receiver.reopen().map(|sender| (sender, receiver)));
        let (sender, receiver) = reopened.unwrap_or_else(|| channel(1));
        let request = Request {
            body: question,
            reply: ReplySender { sender },
        };
        self.requests
            .send_until(request, deadline)
            .map_err(|error| match error {
                super::SendTimeoutError::Timeout(_) => CallError::TimedOut,
                super::SendTimeoutError::Closed(_) => CallError::ServerGone,
                super::SendTimeoutError::Interrupted(_) => CallError::Interrupted,
            })?;
        let answer = receiver.recv_until(deadline).map_err(|error| match error {
            super::RecvTimeoutError::Timeout => CallError::TimedOut,
            super::RecvTimeoutError::Closed => CallError::NoReply,
            super::RecvTimeoutError::Interrupted => CallError::Interrupted,
        })?;
        slot.receiver = Some(receiver);
        Ok(answer)
    }
}

/// A service with a request queue of `capacity`: callers use the [`Client`], the serving task
/// receives [`Request`]s.
pub fn service<Q, R>(capacity: usize) -> (Client<Q, R>, Receiver<Request<Q, R>>) {
    let (requests, receiver) = channel(capacity);
    (Client { requests }, receiver)
}
