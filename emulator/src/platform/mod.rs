//! The emulated Hyper-V platform: the SynIC/MSR/hypercall model and the two ways a guest
//! reaches it.
//!
//! - [`synic_host`] + [`hypercalls`]: [`SynicHost`], the sans-I/O model of the partition's
//!   synthetic MSRs, message slots, event flags and hypercalls.
//! - [`events`]: [`HostEvent`]s (guest requests) and the [`HostEventHandler`] trait the VMBus
//!   server implements.
//! - [`loopback`]: in-process guest ↔ host for host tests.
//! - [`memory_map`]: the host's view of guest-physical memory (RAM and the high-gap dimm) and
//!   the platform layout it checks device ranges against.
//! - [`session`]: the emulated-link protocol engine (frames in, frames out), sans-I/O.
//! - [`qemu_link`]: the I/O around it for QEMU: shared RAM file ([`shared_memory`]), the
//!   ivshmem server ([`ivshmem`]: mailboxes, doorbell, interrupt) or a unix socket on COM2,
//!   protocol trace ([`trace`]).

pub mod events;
pub mod guest_interrupt;
pub mod hypercalls;
pub mod ivshmem;
pub mod loopback;
pub mod memory_map;
pub mod qemu_link;
pub mod session;
pub mod shared_memory;
pub mod synic_host;
pub mod trace;

pub use events::{HostEvent, HostEventHandler, Interrupt, LoggingHandler, dispatch_host_events};
pub use guest_interrupt::InterruptStatistics;
pub use loopback::{Loopback, LoopbackBackend};
pub use memory_map::{GuestMemoryMap, LayoutError, PlatformLayout};
pub use qemu_link::{LinkError, LinkSummary, QemuLink, QemuLinkConfig, Transport, run_qemu_link};
pub use session::LinkSession;
pub use shared_memory::SharedFileMemory;
pub use synic_host::{DeliveryError, HostConfig, MsrError, PostFaults, SynicHost, VpState};

#[cfg(test)]
mod tests;
