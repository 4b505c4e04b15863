//! Restarting the bus (issue 14), and the notices the bus has for drivers besides their
//! [`DriverEvent`](super::DriverEvent)s.
//!
//! A VMBus restart is Linux's kexec sequence (torvalds/linux `drivers/hv/channel_mgmt.c`
//! `vmbus_initiate_unload`; the next kernel's `vmbus_connect` in `drivers/hv/connection.c`):
//! UNLOAD, wait for UNLOAD_RESPONSE (bounded by [`TimeBounds::unload_microseconds`], 100 s as
//! Linux's `vmbus_wait_for_unload`), then INITIATE_CONTACT with fresh state. The host releases
//! every channel and GPADL at the UNLOAD (microsoft/openvmm
//! `vm/devices/vmbus/vmbus_server/src/channels.rs`, `handle_unload` → `request_disconnect`),
//! so every channel is invalidated: each driver gets a [`BusNotice::ChannelReset`] per
//! channel it had (its ring memory is its own again), and the offers come again as
//! [`DriverEvent::Offer`](super::DriverEvent::Offer)s on the new connection (subscriptions
//! stay). Below protocol 3.0 there is no UNLOAD: the restart is refused with
//! [`BusError::RestartUnsupported`] and the bus stays down.
//!
//! Two ways in: [`BusDriver::restart`] on a live bus, and [`BusDriver::start_after`] for a
//! new bus instance over a host that still holds an earlier instance's connection (the earlier
//! one died with its task; [`BusDriver::previous_connection`] is what the supervisor keeps).

use hyperv::memory::GuestMemory;
use hyperv::platform::HypervisorBackend;
use vmbus::client::{PreviousConnection, SubscriberId};

use super::{BusDriver, BusError, Opening, TimeBounds};

/// Something the bus tells a driver outside the request/answer flow of
/// [`DriverEvent`](super::DriverEvent)s ([`BusDriver::poll_notice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusNotice {
    /// The connection ended (a restart's or a shutdown's UNLOAD) while the driver had channel
    /// `relid` (offered, opening, open or closing): the channel is gone, with every request
    /// about it; the driver drops it. The offer comes again after a restart.
    ChannelReset {
        /// The driver.
        subscriber: SubscriberId,
        /// The channel.
        relid: u32,
        /// The host answered the UNLOAD, so it holds none of the channel's memory: the ring
        /// pages may be freed. `false`: the unload ended without the host's answer; the
        /// pages must stay allocated (the host may still write them).
        memory_released: bool,
    },
    /// The host did not answer the GPADL teardown of a close within
    /// [`TimeBounds::teardown_microseconds`]: the ring pages stay lent to the host (a late
    /// answer still ends in [`DriverEvent::Closed`](super::DriverEvent::Closed); a VMBus
    /// restart releases them too). The driver stops waiting for the close.
    CloseTimedOut {
        /// The driver.
        subscriber: SubscriberId,
        /// The channel.
        relid: u32,
        /// The bound that passed.
        milliseconds: u64,
    },
}

impl<B: HypervisorBackend, M: GuestMemory + Clone> BusDriver<B, M> {
    /// Restarts the connection (see the module docs): UNLOAD now; when the host answers,
    /// every channel is reset ([`BusNotice::ChannelReset`]), INITIATE_CONTACT follows and
    /// [`BusDriver::is_ready`] turns true again once the offers are in. While it runs,
    /// [`BusDriver::is_ready`] is false and [`BusDriver::is_restarting`] true. Fails with
    /// [`BusError::RestartUnsupported`] below 3.0 (the connection is left as it is: the bus
    /// stays as it was, and cannot restart).
    pub fn restart(&mut self) -> Result<(), BusError> {
        if let Some(version) = self.client.version()
            && !version.supports_unload()
        {
            log::error!(
                "vmbus: the bus stays down: VMBus {version:?} has no UNLOAD to restart with"
            );
            return Err(BusError::RestartUnsupported { version });
        }
        self.client.restart()?;
        self.restarting = true;
        self.offers_complete = false;
        self.starts.unload = Some(self.clock.now_microseconds());
        log::info!("vmbus: restarting: UNLOAD sent");
        self.run_actions()
    }

    /// Whether a restart is waiting for UNLOAD_RESPONSE.
    pub fn is_restarting(&self) -> bool {
        self.restarting
    }

    /// What a later bus instance needs to end this connection ([`BusDriver::start_after`]),
    /// once connected.
    pub fn previous_connection(&self) -> Option<PreviousConnection> {
        self.client.previous_connection()
    }

    /// Takes the next notice for a driver.
    pub fn poll_notice(&mut self) -> Option<BusNotice> {
        self.notices.pop_front()
    }

    /// The client finished an unload (its own, a restart's, or one that could not be posted).
    pub(super) fn on_unloaded(&mut self) {
        self.starts.unload = None;
        // Opens the client no longer knew of (none normally: their channels were reset).
        let left = core::mem::take(&mut self.openings);
        self.openings_quiet = false;
        for (relid, opening) in left {
            self.notices.push_back(BusNotice::ChannelReset {
                subscriber: opening.subscriber(),
                relid,
                memory_released: self.client.is_connecting(),
            });
        }
        if !core::mem::take(&mut self.restarting) {
            self.unloaded = true;
            return;
        }
        if self.client.is_connecting() {
            log::info!("vmbus: unloaded; connecting again");
            self.offers_complete = false;
            self.failure = None;
            self.starts.connect = Some(self.clock.now_microseconds());
        } else {
            log::error!("vmbus: the bus stays down: the restart's UNLOAD did not reach the host");
            self.unloaded = true;
            self.failure = Some(BusError::RestartNotDelivered);
        }
    }

    /// The client reset channel `relid` at the end of the connection.
    pub(super) fn on_channel_reset(
        &mut self,
        subscriber: Option<SubscriberId>,
        relid: u32,
        memory_released: bool,
    ) {
        let opening = self.openings.remove(&relid);
        self.openings_quiet = false;
        let subscriber = subscriber.or(opening.as_ref().map(|opening| opening.subscriber()));
        if let Some(subscriber) = subscriber {
            self.notices.push_back(BusNotice::ChannelReset {
                subscriber,
                relid,
                memory_released,
            });
        }
    }

    /// A restart whose UNLOAD_RESPONSE did not come in time: the bus stays down.
    pub(super) fn restart_timed_out(&mut self, bounds: TimeBounds) {
        if core::mem::take(&mut self.restarting) {
            let milliseconds = bounds.unload_microseconds / 1000;
            log::error!("vmbus: the bus stays down: no UNLOAD_RESPONSE within {milliseconds} ms");
            self.failure = Some(BusError::UnloadTimedOut { milliseconds });
        }
    }

    /// Stamps the start of every GPADL teardown that began since the last call, and notes
    /// whether any opening is left with a wait (`openings_quiet`).
    ///
    /// Runs after every batch of actions, so it reads the clock (a TSC conversion) only when a
    /// teardown is there to stamp, and walks the openings only when one changed since the last
    /// walk: the open channels of a running system cost nothing here.
    pub(super) fn stamp_teardowns(&mut self) {
        if self.openings_quiet {
            return;
        }
        if self.openings.values().any(Opening::needs_teardown_stamp) {
            let now = self.clock.now_microseconds();
            for opening in self.openings.values_mut() {
                opening.stamp_teardown(now);
            }
        }
        self.openings_quiet = !self.openings.values().any(Opening::has_wait);
    }
}
