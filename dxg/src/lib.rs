//! dxg: the guest side of the Hyper-V GPU-PV (dxgkrnl) protocol, sans-I/O.
//!
//! * [`wire`] — the byte layouts of every message (shared with the emulated host).
//! * [`core`] — the protocol state machine: adapter bring-up, processes, handle tables,
//!   transaction matching and host notifications. It consumes received packets and emits
//!   packets to send; it never touches a ring buffer itself, so it runs unchanged in the
//!   kernel's dxg driver task, in host tests and against the in-process emulated vGPU.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Everything here handles bytes from the host (wire, replies, notifications, config space) or
// requests built from applications' arguments: nothing may panic on what they hold (issue 12).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

extern crate alloc;

pub mod core;
pub mod wire;

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
