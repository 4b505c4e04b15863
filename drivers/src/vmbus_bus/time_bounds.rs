//! Time bounds on the bus's waits for the host: the connection (INITIATE_CONTACT's
//! VERSION_RESPONSE through ALLOFFERS_DELIVERED), each channel open (GPADL_CREATED and
//! OPENCHANNEL_RESULT), each close's GPADL_TORNDOWN and UNLOAD_RESPONSE.
//!
//! The bus is sans-I/O, so nothing here sleeps: the bus reads its [`super::RetryClock`] when a
//! wait starts, and [`BusDriver::check_time_bounds`] (called by whoever runs the bus, at the
//! latest at [`BusDriver::next_deadline_microseconds`]) ends every wait whose bound has passed
//! with a typed error:
//! - the connection: [`BusDriver::failure`] becomes [`BusError::HostSilent`] (the bus task
//!   answers the offer list with it);
//! - an open: the driver gets [`DriverEvent::Opened`] with [`OpenFailure::TimedOut`]. The host
//!   may still be mapping the ring pages (there is no VMBus message to cancel a GPADL or an
//!   open in flight), so the ring memory stays lent to the host: if the host answers later,
//!   the bus undoes the open (CLOSECHANNEL, GPADL_TEARDOWN) and then sends
//!   [`DriverEvent::Closed`], and only then may the driver free it;
//! - UNLOAD: [`BusDriver::unload_timed_out`] turns true; the connection pages stay with the
//!   host (it may still write the monitor pages); during a restart the bus stays down
//!   ([`BusDriver::failure`] is [`BusError::UnloadTimedOut`]);
//! - a close's GPADL teardown: the driver gets [`super::BusNotice::CloseTimedOut`]; the ring
//!   pages stay lent to the host.
//!
//! Linux bounds only some of these waits (`vmbus_connect` waits for VERSION_RESPONSE with a
//! timeout, `vmbus_wait_for_unload` up to 100 s; `__vmbus_open` and `vmbus_establish_gpadl`
//! wait without a bound: torvalds/linux drivers/hv/connection.c, channel_mgmt.c, channel.c);
//! here every one has a bound, taken from [`TimeBounds`] so that tests can shorten them.

use hyperv::memory::GuestMemory;
use hyperv::platform::HypervisorBackend;

use super::{BusDriver, BusError, BusOutput};

/// How long the bus waits for each kind of host answer (microseconds of its clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// From INITIATE_CONTACT to ALLOFFERS_DELIVERED: every version walked with its post
    /// retries (8 versions × the 5 s post-retry bound) fits, with room for the offers.
    pub connect_microseconds: u64,
    /// From the open request to OPENCHANNEL_RESULT (GPADL_CREATED included). A Hyper-V host
    /// answers in milliseconds; the bound is generous for a loaded host.
    pub open_microseconds: u64,
    /// From UNLOAD to UNLOAD_RESPONSE: Linux's `vmbus_wait_for_unload` allows 100 s, because
    /// Azure hosts may flush disk caches first (shared/reference/vmbus.md).
    pub unload_microseconds: u64,
    /// From a close's GPADL_TEARDOWN to GPADL_TORNDOWN (Linux's `vmbus_teardown_gpadl` waits
    /// without a bound); past it the driver gets [`super::BusNotice::CloseTimedOut`] and the
    /// ring pages stay lent to the host.
    pub teardown_microseconds: u64,
}

impl Default for TimeBounds {
    fn default() -> Self {
        TimeBounds {
            connect_microseconds: 60_000_000,
            open_microseconds: 30_000_000,
            unload_microseconds: 100_000_000,
            teardown_microseconds: 30_000_000,
        }
    }
}

impl TimeBounds {
    /// The longest of the bounds (a test that wants every wait over advances its clock by
    /// more than this).
    pub fn longest_microseconds(&self) -> u64 {
        self.connect_microseconds
            .max(self.open_microseconds)
            .max(self.unload_microseconds)
            .max(self.teardown_microseconds)
    }
}

/// When each bounded wait started (microseconds of the bus's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WaitStarts {
    /// The connection (`None` once all offers are in, or the connection failed).
    pub connect: Option<u64>,
    /// UNLOAD (`None` unless waiting for UNLOAD_RESPONSE).
    pub unload: Option<u64>,
}

impl<B: HypervisorBackend, M: GuestMemory + Clone> BusDriver<B, M> {
    /// The bounds in force.
    pub fn time_bounds(&self) -> TimeBounds {
        self.bounds
    }

    /// Replaces the bounds (waits already running keep their start, and take the new bound).
    pub fn set_time_bounds(&mut self, bounds: TimeBounds) {
        self.bounds = bounds;
    }

    /// Whether UNLOAD_RESPONSE did not come within its bound.
    pub fn unload_timed_out(&self) -> bool {
        self.unload_timed_out
    }

    /// The earliest time (on the bus's clock) at which a running wait passes its bound, if
    /// any wait is running: call [`BusDriver::check_time_bounds`] then.
    pub fn next_deadline_microseconds(&self) -> Option<u64> {
        let connect = self
            .starts
            .connect
            .map(|start| start.saturating_add(self.bounds.connect_microseconds));
        let unload = self
            .starts
            .unload
            .map(|start| start.saturating_add(self.bounds.unload_microseconds));
        // One walk of the openings for both of their waits (called after every interrupt),
        // none while no opening has a wait.
        let openings = self.openings_with_waits().filter_map(|opening| {
            let open = opening
                .waiting_since()
                .map(|start| start.saturating_add(self.bounds.open_microseconds));
            let teardown = opening
                .teardown_waiting_since()
                .map(|start| start.saturating_add(self.bounds.teardown_microseconds));
            match (open, teardown) {
                (Some(open), Some(teardown)) => Some(open.min(teardown)),
                (open, teardown) => open.or(teardown),
            }
        });
        connect.into_iter().chain(unload).chain(openings).min()
    }

    /// Ends every wait whose bound has passed, with its typed error (see the module docs).
    ///
    /// Called after every interrupt: when no wait is running it returns before reading the
    /// clock (a TSC conversion with a 128-bit division in the kernel).
    pub fn check_time_bounds(&mut self) {
        if !self.any_wait_running() {
            return;
        }
        let now = self.clock.now_microseconds();
        let passed = |start: Option<u64>, bound: u64| {
            start.is_some_and(|start| now.saturating_sub(start) >= bound)
        };
        if passed(self.starts.connect, self.bounds.connect_microseconds) {
            self.starts.connect = None;
            self.statistics.timeouts += 1;
            let milliseconds = self.bounds.connect_microseconds / 1000;
            log::warn!("vmbus: the host did not complete the connection within {milliseconds} ms");
            self.failure
                .get_or_insert(BusError::HostSilent { milliseconds });
        }
        if passed(self.starts.unload, self.bounds.unload_microseconds) {
            self.starts.unload = None;
            self.statistics.timeouts += 1;
            self.unload_timed_out = true;
            log::error!(
                "vmbus: no UNLOAD_RESPONSE within {} ms; the connection pages stay with the host",
                self.bounds.unload_microseconds / 1000
            );
            self.restart_timed_out(self.bounds);
        }
        let teardown_bound = self.bounds.teardown_microseconds;
        for (relid, opening) in self.openings.iter_mut() {
            if passed(opening.teardown_waiting_since(), teardown_bound) {
                self.statistics.timeouts += 1;
                let milliseconds = teardown_bound / 1000;
                opening.teardown_time_out(milliseconds);
                self.notices.push_back(super::BusNotice::CloseTimedOut {
                    subscriber: opening.subscriber(),
                    relid: *relid,
                    milliseconds,
                });
            }
        }
        let bound = self.bounds.open_microseconds;
        let mut timed_out: alloc::vec::Vec<BusOutput<M>> = alloc::vec::Vec::new();
        for opening in self.openings.values_mut() {
            if passed(opening.waiting_since(), bound) {
                self.statistics.timeouts += 1;
                if let Some(output) = opening.time_out(bound / 1000) {
                    timed_out.push(output);
                }
            }
        }
        self.outputs.extend(timed_out);
    }

    /// Whether any wait with a time bound is running (what [`BusDriver::check_time_bounds`]
    /// would look at).
    fn any_wait_running(&self) -> bool {
        self.starts.connect.is_some()
            || self.starts.unload.is_some()
            || self.openings_with_waits().any(|opening| {
                opening.waiting_since().is_some() || opening.teardown_waiting_since().is_some()
            })
    }

    /// The openings to look at for time bounds: none while `openings_quiet` says none has a
    /// wait (see `Opening::has_wait`), else all of them.
    fn openings_with_waits(&self) -> impl Iterator<Item = &super::opening::Opening> {
        // `take(0)` ends before its first step: a quiet bus does not walk the map.
        let count = if self.openings_quiet { 0 } else { usize::MAX };
        self.openings.values().take(count)
    }

    /// Notes that the connection finished (all offers in) or failed: its wait is over.
    pub(super) fn connection_wait_over(&mut self) {
        self.starts.connect = None;
    }
}
