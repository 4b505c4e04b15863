//! Bounded typed channels.
//!
//! One mutex-protected queue per channel with room for `capacity` messages allocated up front,
//! plus two wait lists (receivers waiting for a message, senders waiting for room) and the
//! notifications of the tasks that select on the receiver (`task::Watchers`, kept from their
//! first wait on; see [`super::select`]). Only tasks
//! touch a channel, never interrupt handlers, so the plain spin lock is never contended
//! across a context switch (scheduling is cooperative and nobody parks while holding it).

use alloc::sync::Arc;

use spin::Mutex;

use super::fifo::Fifo;
use super::select::Selectable;
use super::wait_list::{WaitList, wake_all};
use crate::task::{self, Notification, Watchers};

struct State<T> {
    queue: Fifo<T>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    waiting_receivers: WaitList,
    waiting_senders: WaitList,
    /// Tasks that select on the receiver; notified with `waiting_receivers`.
    watchers: Watchers,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

/// The sending side; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side (one per channel).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver is gone; the message comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] did not send; the message comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Every sender is gone and the channel is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Receiver::recv_until`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The deadline passed with no message.
    Timeout,
    /// Every sender is gone and the queue is drained.
    Closed,
    /// The receiving task was [interrupted](crate::task::TaskRef::interrupt) (its process is
    /// being killed).
    Interrupted,
}

/// Why [`Sender::send_until`] did not send; the message comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The deadline passed with the queue still full.
    Timeout(T),
    /// The receiver is gone.
    Closed(T),
    /// The sending task was [interrupted](crate::task::TaskRef::interrupt) (its process is
    /// being killed).
    Interrupted(T),
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No message right now.
    Empty,
    /// Every sender is gone and the channel is empty.
    Closed,
}

/// The deadline of [`Receiver::recv_until`] that never passes: the wait ends only with a
/// message, the channel's close or an interruption.
pub const NEVER: u64 = u64::MAX;

/// A channel holding at most `capacity` messages (a capacity of 0 is treated as 1).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: Fifo::with_capacity(capacity),
            capacity,
            senders: 1,
            receiver_alive: true,
            waiting_receivers: WaitList::new(),
            waiting_senders: WaitList::new(),
            watchers: Watchers::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Sends `message`, waiting while the channel is full.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        // The running task's id, once it had to wait (then also in `waiting_senders` until
        // woken; the list holds the reference).
        let mut waiting_as: Option<u64> = None;
        loop {
            let waiters = {
                let mut state = self.shared.state.lock();
                if let Some(id) = waiting_as {
                    state.waiting_senders.remove_id(id);
                }
                if !state.receiver_alive {
                    return Err(SendError(message));
                }
                if state.queue.len() < state.capacity {
                    state.queue.push_back(message);
                    state.watchers.notify_all();
                    state.waiting_receivers.take()
                } else {
                    let me = task::current();
                    waiting_as = Some(me.id());
                    state.waiting_senders.add_owned(me);
                    drop(state);
                    task::park();
                    continue;
                }
            };
            wake_all(waiters);
            return Ok(());
        }
    }

    /// Like [`Self::send`], but gives up (returning the message) when the timer reaches
    /// `deadline` (in [`crate::clock::ticks`]; [`NEVER`] waits without a bound) with the queue
    /// still full, or when the sending task is [interrupted](crate::task::TaskRef::interrupt).
    pub fn send_until(&self, message: T, deadline: u64) -> Result<(), SendTimeoutError<T>> {
        let mut message = message;
        loop {
            match self.try_send(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(message)) => {
                    return Err(SendTimeoutError::Closed(message));
                }
                Err(TrySendError::Full(returned)) => message = returned,
            }
            if crate::clock::ticks() >= deadline {
                return Err(SendTimeoutError::Timeout(message));
            }
            let me = task::current();
            if me.is_interrupted() {
                return Err(SendTimeoutError::Interrupted(message));
            }
            {
                let mut state = self.shared.state.lock();
                if state.queue.len() < state.capacity || !state.receiver_alive {
                    continue;
                }
                state.waiting_senders.add(&me);
            }
            if deadline == NEVER {
                task::park();
            } else {
                task::park_until(deadline);
            }
            self.shared.state.lock().waiting_senders.remove(&me);
        }
    }

    /// Sends `message` if there is room right now.
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        let waiters = {
            let mut state = self.shared.state.lock();
            if !state.receiver_alive {
                return Err(TrySendError::Closed(message));
            }
            if state.queue.len() >= state.capacity {
                return Err(TrySendError::Full(message));
            }
            state.queue.push_back(message);
            state.watchers.notify_all();
            state.waiting_receivers.take()
        };
        wake_all(waiters);
        Ok(())
    }

    /// Whether the receiver has been dropped.
    pub fn is_closed(&self) -> bool {
        !self.shared.state.lock().receiver_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.shared.state.lock();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.watchers.notify_all();
            state.waiting_receivers.take()
        };
        wake_all(waiters);
    }
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting while the channel is empty; fails once every sender
    /// is gone and the queue is drained.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.receive(NEVER, false).map_err(|_| RecvError)
    }

    /// Like [`Self::recv`], but gives up when the timer reaches `deadline` (in
    /// [`crate::clock::ticks`]; [`NEVER`] waits without a bound), or when the receiving task is
    /// [interrupted](crate::task::TaskRef::interrupt).
    pub fn recv_until(&self, deadline: u64) -> Result<T, RecvTimeoutError> {
        self.receive(deadline, true)
    }

    /// The blocking receive: one lock round trip per attempt (leave the wait list, take a
    /// message or join the wait list), then park. `interruptible`: an interrupted task gives
    /// up (only [`Self::recv_until`]; a plain `recv` waits on).
    fn receive(&self, deadline: u64, interruptible: bool) -> Result<T, RecvTimeoutError> {
        // The running task's id, once it had to wait (then also in `waiting_receivers` until
        // woken; the list holds the reference).
        let mut waiting_as: Option<u64> = None;
        loop {
            let (message, waiters) = {
                let mut state = self.shared.state.lock();
                if let Some(id) = waiting_as {
                    state.waiting_receivers.remove_id(id);
                }
                match state.queue.pop_front() {
                    Some(message) => (message, state.waiting_senders.take()),
                    None if state.senders == 0 => return Err(RecvTimeoutError::Closed),
                    None => {
                        if deadline != NEVER && crate::clock::ticks() >= deadline {
                            return Err(RecvTimeoutError::Timeout);
                        }
                        let me = task::current();
                        if interruptible && me.is_interrupted() {
                            return Err(RecvTimeoutError::Interrupted);
                        }
                        waiting_as = Some(me.id());
                        state.waiting_receivers.add_owned(me);
                        drop(state);
                        if deadline == NEVER {
                            task::park();
                        } else {
                            task::park_until(deadline);
                        }
                        continue;
                    }
                }
            };
            wake_all(waiters);
            return Ok(message);
        }
    }

    /// Receives a message if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (message, waiters) = {
            let mut state = self.shared.state.lock();
            match state.queue.pop_front() {
                Some(message) => (message, state.waiting_senders.take()),
                None if state.senders == 0 => return Err(TryRecvError::Closed),
                None => return Err(TryRecvError::Empty),
            }
        };
        wake_all(waiters);
        Ok(message)
    }

    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many tasks' notifications the receiver keeps for [`super::select`] (one per live
    /// task that has selected on it; for tests and diagnostics).
    pub fn watcher_count(&self) -> usize {
        self.shared.state.lock().watchers.len()
    }
}

impl<T> Receiver<T> {
    /// A new sender for a channel whose senders are all gone and whose queue is empty, so
    /// that one channel can carry many one-shot replies in turn (`ipc::ReplySlot`); `None`
    /// while a sender lives or a message waits. No message sent before can arrive after
    /// this: there is no older sender left to send it.
    pub fn reopen(&self) -> Option<Sender<T>> {
        let mut state = self.shared.state.lock();
        if state.senders != 0 || !state.queue.is_empty() {
            return None;
        }
        state.senders = 1;
        drop(state);
        Some(Sender {
            shared: self.shared.clone(),
        })
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (dropped, waiters) = {
            let mut state = self.shared.state.lock();
            state.receiver_alive = false;
            (
                core::mem::take(&mut state.queue),
                state.waiting_senders.take(),
            )
        };
        drop(dropped);
        wake_all(waiters);
    }
}

impl<T> Selectable for Receiver<T> {
    fn is_ready(&self) -> bool {
        let state = self.shared.state.lock();
        !state.queue.is_empty() || state.senders == 0
    }

    fn watch_and_check(&self, notification: &Arc<Notification>) -> bool {
        let mut state = self.shared.state.lock();
        state.watchers.watch(notification);
        !state.queue.is_empty() || state.senders == 0
    }
}
