//! A minimal Hyper-V virtual PCI (vPCI) client: enough to find the BAR-less GPU-PV function
//! on a vPCI bus and read its configuration space (reference vpci.md).
//!
//! - [`wire`]: message types, versions, statuses and the packed layouts.
//! - [`VpciClient`]: the sans-I/O bus state machine. The glue feeds it the packets of the
//!   channel's inbound ring and writes the [`Action::Send`] packets it produces to the
//!   outbound ring; it reports [`Action::FunctionArrived`] / [`Action::FunctionRemoved`].
//! - [`VpciBuses`]: every vPCI bus of the VM (one client, config window and PCI domain per
//!   vPCI channel), handing on only the GPU-PV functions ([`is_gpu_pv`]).
//! - [`PciDomains`] / [`FunctionAddress`]: one PCI domain per bus (per vPCI channel), so the
//!   functions of several buses keep distinct names, as Linux numbers them.
//! - [`ConfigWindow`]: config-space access through the trapped 8 KiB window announced in
//!   BUS_D0ENTRY, over [`hyperv::platform::MmioAccess`]; [`ConfigWindow::function`] adapts one
//!   function to [`dxg::core::ConfigSpace`] for `Driver::probe_pci_function`.
//!
//! Not implemented (not needed by a BAR-less, MSI-less function): BAR assignment, interrupts
//! (CREATE/DELETE_INTERRUPT_MESSAGE), READ/WRITE_BLOCK, power-state changes, the D0-entry
//! retry Linux does after a kdump, and the MMIO hypercalls of confidential VMs.

// vPCI messages come from the host: nothing in the client may panic on what they hold (the
// modules that parse them deny `arithmetic_side_effects` as well).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod buses;
mod client;
mod config_window;
mod domain;
mod error;
pub mod wire;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]
mod tests;

pub use buses::{AddBusError, BusesAction, GpuFunction, VpciBuses, is_gpu_pv};
pub use client::{Action, FunctionInfo, OutboundMessage, Phase, VpciClient, parse_relations};
pub use config_window::{ConfigError, ConfigWindow, FunctionConfig};
pub use domain::{FunctionAddress, PciDomains, requested_domain};
pub use error::VpciError;
pub use wire::{ProtocolVersion, SlotNumber};
