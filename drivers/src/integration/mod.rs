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

/// A UTC date and time, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
}

impl UtcTime {
    /// The UTC time `unix_nanoseconds` after 1970-01-01 (proleptic Gregorian calendar).
    pub fn from_unix_nanoseconds(unix_nanoseconds: u64) -> UtcTime {
        let seconds = unix_nanoseconds / 1_000_000_000;
        let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
        let of_day = seconds % 86_400;
        // Days to civil date (Howard Hinnant's algorithm, public domain).
        let shifted = days.saturating_add(719_468);
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month: u8::try_from(month).unwrap_or(0),
            day: u8::try_from(day).unwrap_or(0),
            hour: u8::try_from(of_day / 3600).unwrap_or(0),
            minute: u8::try_from(of_day % 3600 / 60).unwrap_or(0),
            second: u8::try_from(of_day % 60).unwrap_or(0),
        }
    }
}

impl core::fmt::Display for UtcTime {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The host time a sample stands for now: `sample.host_time`, plus the partition reference
/// time elapsed since the host took it when the sample has a reference time (4.0) and the
/// guest can read the reference counter (`reference_now`), as Linux's `adj_guesttime` does.
/// A reference time in the future, or more than a minute old, is not trusted.
pub fn sample_time_now(sample: &TimeSample, reference_now: Option<u64>) -> u64 {
    match (sample.reference_time, reference_now) {
        (Some(then), Some(now)) if now >= then && now - then <= 600_000_000 => {
            sample.host_time.saturating_add(now - then)
        }
        _ => sample.host_time,
    }
}

/// [`sample_time_now`] with the reference counter read by `read_reference_counter` (the
/// partition reference counter, MSR TIME_REF_COUNT, or `None` where it cannot be read), only
/// for a sample that carries a reference time (4.0): an older sample is taken as current and
/// the counter is not read.
pub fn sample_time_with_counter(
    sample: &TimeSample,
    read_reference_counter: impl FnOnce() -> Option<u64>,
) -> u64 {
    let reference_now = sample.reference_time.and_then(|_| read_reference_counter());
    sample_time_now(sample, reference_now)
}
