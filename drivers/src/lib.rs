//! Driver logic of dxgos, free of I/O and of the kernel.
//!
//! Each driver here is a state machine that a kernel task drives: the task waits on its
//! interrupt signal and its request channel, feeds what arrived into the driver, and sends the
//! driver's outputs to the other tasks' channels. The drivers never block, never touch
//! hardware, and hold all state in their own values (no globals), so the same code runs in the
//! kernel and in host tests against the emulator.
//!
//! - [`vmbus_bus`]: the VMBus bus driver: the SynIC, the VMBus client, and opening channels
//!   for device drivers.
//! - [`apic`]: the local APIC's mode choice, register map and its xAPIC (MMIO) and x2APIC
//!   (MSR) backends, over raw accessors the kernel supplies.
//! - [`timekeeping`]: the choice of calibration reference (Hyper-V's frequency MSRs and
//!   reference counter, the ACPI PM timer, the HPET), the bounded measurement loop and
//!   time-bounded early waits.
//! - [`deadlines`]: deadlines of waits for the host by key (dxg transactions, PCI functions
//!   waiting for their vGPU channel), so that every such wait ends.
//! - [`acpi_sleep`]: the ACPI S5 sleep type (`\_S5`) by a bounded search of the AML.
//! - [`integration`]: the Hyper-V integration services (heartbeat, shutdown, time sync,
//!   key-value exchange), sans I/O.
//! - [`d3dkmt`]: the per-process D3DKMT gateway: turns applications' D3DKMT argument structs
//!   into dxg requests, maps CPU views of allocations and fences, and cleans up on exit. It is
//!   its own package (`dxgos-d3dkmt`, issue 18), re-exported here so `drivers::d3dkmt` paths
//!   keep working.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod acpi_mmio;
pub mod acpi_sleep;
pub mod apic;
pub mod deadlines;
pub mod host_time;
pub mod integration;
pub mod timekeeping;
pub mod vmbus_bus;
pub mod vpci;

pub use d3dkmt;
