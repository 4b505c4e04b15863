//! The dxgos VMBus client: control messages, the client state machine and ring buffers.
//!
//! Everything here is sans-I/O. The caller (the kernel's VMBus driver task, or a test harness)
//! feeds SynIC message payloads and channel signals into [`client::Client`] and carries out the
//! [`client::Action`]s it returns: posting messages, signalling events and forwarding typed
//! events to device drivers. Ring buffers ([`ring`]) read and write guest memory only through
//! [`hyperv::memory::GuestMemory`] by guest-physical address, so the same code runs in the
//! kernel, in the emulated host and in host tests.
//!
//! Modules:
//! - [`guid`]: GUIDs in wire layout and the well-known device classes.
//! - [`version`]: protocol versions and connection-id rules.
//! - [`messages`]: wire layouts, the parser and encoders of control messages.
//! - [`gpadl`]: splitting a GPADL into GPADL_HEADER/GPADL_BODY messages and reassembling it.
//! - [`ring`]: the ring-buffer sender and receiver.
//! - [`post_retry`]: when a failed HvPostMessage is retried, and for how long.
//! - [`client`]: the client state machine.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Everything here handles what the host writes (messages, rings, GPADL answers) or drives the
// client's state from it: nothing may panic on what it holds (issue 12). Ring indices are
// modulo the ring size through the helpers in `ring`.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod client;
pub mod gpadl;
pub mod guid;
pub mod messages;
pub mod post_retry;
pub mod ring;
pub mod version;

pub use guid::Guid;
pub use version::Version;

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
