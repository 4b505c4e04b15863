//! dxg: the guest side of the Hyper-V GPU-PV (dxgkrnl) protocol, sans-I/O.
//!
//! * [`wire`] — the byte layouts of every message (shared with the emulated host).
//! * [`core`] — the protocol state machine: adapter bring-up, processes, handle tables,
//!   transaction matching and host notifications. It consumes received packets and emits
//!   packets to send; it never touches a ring buffer itself, so it runs unchanged in the
//!   kernel's dxg driver task, in host tests and against the in-process emulated vGPU.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod core;
pub mod wire;
