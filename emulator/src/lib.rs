//! The emulated Hyper-V host for dxgos.
//!
//! [`platform`] is the hypervisor itself (SynIC, synthetic MSRs, hypercalls) plus the two ways
//! a guest reaches it: the in-process [`platform::Loopback`] for host tests and the QEMU link
//! ([`platform::run_qemu_link`]) that the runner starts beside QEMU. The VMBus server, the
//! virtual PCI bus and the vGPU sit on top through [`platform::HostEventHandler`].
//!
//! `unsafe` is denied crate-wide and allowed only in [`platform::shared_memory`].
#![deny(unsafe_code)]

pub mod acpi_tables;
pub mod hostile;
pub mod integration;
pub mod platform;
pub mod services;
pub mod vgpu;
pub mod vmbus_server;
pub mod vpci;
