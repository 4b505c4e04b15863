//! Test support shared by the emulator's integration tests. Each test crate declares
//! `mod support;` and uses the parts it needs (hence `dead_code` is allowed here).
//!
//! - [`guest_stack`]: the real guest stack over the real host stack (also used by the bench).
//! - [`vpci_guest`]: the guest's vPCI driver for [`guest_stack`] (every vPCI bus, windows
//!   from the MMIO gaps).
//! - [`vm`]: one way to send dxg requests to either loopback, and the standard loopback VM.
//! - [`requests`]: the object-creation and access requests the tests repeat.
//! - [`session`]: a process with a device, context, surface and monitored fence; rendering.
//! - [`images`]: command-stream words, FNV-1a and the reference Mandelbrot image.

#![allow(dead_code)]

pub mod guest_stack;
pub mod images;
pub mod requests;
pub mod session;
pub mod vm;
pub mod vpci_guest;
