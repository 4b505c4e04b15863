//! Hyper-V guest interface definitions shared by the guest and the emulated host.
//!
//! This crate holds facts of the Hyper-V Top-Level Functional Specification (TLFS) that both
//! sides must agree on, and the abstractions the VMBus client uses to reach the platform.
//! It performs no I/O itself.
//!
//! - [`cpuid`], [`msr`]: detection leaves, synthetic MSR numbers and typed register values.
//! - [`hypercall`], [`status`]: the hypercall ABI, the input blocks VMBus uses, status codes.
//! - [`synic`]: message and event-flag pages and the sans-I/O helpers that read them.
//! - [`reference_tsc`]: the reference TSC page and its formula.
//! - [`platform`]: the [`platform::HypervisorBackend`] trait every caller goes through.
//! - [`synic_client`]: SynIC bring-up, post/signal, polling and teardown over a backend.
//! - [`emulated_link`]: the frame codec between the kernel under QEMU and the emulator.
//! - [`memory`]: guest memory addressed by GPA.
//! - [`guid`]: GUIDs in the Windows wire layout and the VMBus device classes (one type for
//!   vmbus, vPCI and dxg).
//! - [`ntstatus`]: the Windows NTSTATUS (one type for dxg, vPCI and the D3DKMT translator).
//! - [`mmio`]: the VMBus MMIO gaps and the allocator for config windows and the dxg IO space.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("the Hyper-V guest interface is little-endian");

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cpuid;
pub mod emulated_link;
pub mod guid;
pub mod hypercall;
pub mod memory;
pub mod mmio;
pub mod msr;
pub mod ntstatus;
pub mod platform;
pub mod reference_tsc;
pub mod status;
pub mod synic;
pub mod synic_client;

pub use guid::Guid;
pub use ntstatus::NtStatus;

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
