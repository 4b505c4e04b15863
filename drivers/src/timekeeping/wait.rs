//! Time-bounded polling before the timer interrupt runs.
//!
//! Once the TSC is calibrated a wait is bounded in time (TSC cycles); before, in spins, with a
//! count chosen so that the wait covers the expected event even at the fastest possible read
//! and stays short at the slowest (the caller's documentation says which event).

/// A wait that ends after a time (or, before calibration, a number of polls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitBudget {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spins { remaining: u64 },
    Cycles { start: u64, limit: u64 },
}

impl WaitBudget {
    /// A wait of `microseconds` by the TSC (`tsc_hz` ticks per second, read `tsc_now` at the
    /// start), or of `spins_before_calibration` polls while `tsc_hz` is 0.
    pub fn new(
        tsc_hz: u64,
        microseconds: u64,
        spins_before_calibration: u64,
        tsc_now: u64,
    ) -> Self {
        let kind = if tsc_hz == 0 {
            Kind::Spins {
                remaining: spins_before_calibration,
            }
        } else {
            let limit = u128::from(tsc_hz) * u128::from(microseconds) / 1_000_000;
            Kind::Cycles {
                start: tsc_now,
                limit: u64::try_from(limit).unwrap_or(u64::MAX),
            }
        };
        WaitBudget { kind }
    }

    /// Whether the wait is over; call once per poll with the TSC just read. A TSC that went
    /// backwards counts as expired.
    pub fn expired(&mut self, tsc_now: u64) -> bool {
        match &mut self.kind {
            Kind::Spins { remaining } => {
                if *remaining == 0 {
                    return true;
                }
                *remaining -= 1;
                false
            }
            Kind::Cycles { start, limit } => tsc_now.wrapping_sub(*start) >= *limit,
        }
    }

    /// Whether the bound is in time (false: in spins, before calibration).
    pub fn is_timed(&self) -> bool {
        matches!(self.kind, Kind::Cycles { .. })
    }
}
