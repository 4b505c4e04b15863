//! Hyper-V integration services (ICs): heartbeat, shutdown, time sync and key-value exchange,
//! the guest side, sans I/O.
//!
//! Every IC message is a VMBus in-band packet whose payload is the 8-byte pipe header, the
//! 20-byte IC header and a body ([`wire`]). The host speaks first: a version negotiation
//! ([`negotiate`]), then the service's requests. [`IcChannel`] handles one packet at a time
//! and returns the reply (the request with the transaction and response flags, to be sent with
//! the request's VMBus transaction id) and an [`IcEvent`] for the kernel: versions agreed, a
//! shutdown or restart to carry out, a time sample to set the clock from.
//!
//! The kernel's `services::integration_task` drives one [`IcChannel`] per IC channel; the
//! emulated host (`emulator::integration`) is written separately from OpenVMM's host side.
//! Facts: torvalds/linux `drivers/hv/hv_util.c`, `hv_kvp.c`, `include/linux/hyperv.h`,
//! `include/uapi/linux/hyperv.h`; microsoft/openvmm `vm/devices/hyperv_ic/` and
//! `vm/devices/hyperv_ic_protocol/`.

// IC messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod channel;
mod error;
pub mod kvp;
pub mod message;
pub mod negotiate;
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

pub use channel::{Handled, IcChannel, IcEvent, Service, ShutdownKind, TimeSample};
pub use error::IcError;
pub use kvp::GuestIdentity;
pub use negotiate::Negotiated;

/// Host time (100 ns units since 1601-01-01) as nanoseconds since the Unix epoch; `None`
/// before 1970 or beyond `u64` nanoseconds.
pub fn host_time_to_unix_nanoseconds(host_time: u64) -> Option<u64> {
    host_time
        .checked_sub(wire::WINDOWS_TO_UNIX_EPOCH_100NS)?
        .checked_mul(100)
}
