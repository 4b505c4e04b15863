//! Hyper-V guest interface definitions shared by the guest and the emulated host.
//!
//! This crate holds facts of the Hyper-V Top-Level Functional Specification (TLFS) that both
//! sides must agree on, and the abstractions the VMBus client uses to reach the platform.
//! It performs no I/O itself.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod memory;
