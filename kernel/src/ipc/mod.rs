//! Typed message passing between tasks: the only way driver tasks talk.
//!
//! - [`channel`]: bounded, typed, many-to-one (`Sender` clones, one `Receiver`), blocking and
//!   non-blocking operations, errors when the other side has gone.
//! - [`select`]: waits until one of several sources (receivers, interrupt signals) is ready.
//! - [`InterruptSignal`]: set by an interrupt handler without allocating, waited on by a task.
//! - [`service`]: request/reply calls with typed replies over a channel of [`Request`]s.
//! - [`Fifo`]: the queue behind channels and the scheduler's run queue.
//!
//! A driver task receives the endpoints it needs when it is spawned; nothing here is global.
//! Blocking uses `task::park`; see `docs/kernel.md` for the design.

mod channel;
mod fifo;
mod request;
mod select;
mod signal;
mod wait_list;

pub use channel::{
    Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError, channel,
};
pub use fifo::Fifo;
pub use request::{CallError, Client, ReplySender, ReplySlot, Request, service};
pub use select::{Selectable, select, select_until};
pub use signal::InterruptSignal;
