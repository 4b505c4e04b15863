//! Channel signals: the capability a device task holds to signal the host for one open VMBus
//! channel (HvSignalEvent with the channel's connection id), without asking the bus task.
//!
//! Linux signals from the channel's own context: `vmbus_set_event` (torvalds/linux
//! `drivers/hv/connection.c`) makes one fast HvSignalEvent hypercall with the channel's
//! `sig_event` (its connection id, flag 0) and ignores the status (it returns nothing since
//! "Drivers: hv: vmbus: Cleanup vmbus_set_event()", torvalds/linux 1b807e1011af). Here a device
//! task used to send `BusRequest::Signal` to the bus task, which made the hypercall: a channel
//! send, two context switches and a pass of the bus loop per signal (docs/performance.md §3).
//!
//! How a capability is handed out and taken back:
//! - a device task registers with the bus task with a [`SignalInbox`]; when the bus task
//!   delivers a successful `Opened` for one of its channels, it first puts a [`ChannelSignal`]
//!   for that channel (its offer's connection id, the shared backend, a fresh liveness flag)
//!   into that subscriber's inbox, and the device task takes it with [`SignalInbox::take`]
//!   when it handles `Opened`. Only the subscriber that opened the channel gets it;
//! - the bus task revokes it ([`Revocations`]) when it delivers that channel's `Closed` or
//!   `Rescinded`, and revokes every capability when it unloads (shutdown or a restart) or its
//!   state is dropped: a revoked capability refuses ([`SignalError::Revoked`]) without a
//!   hypercall, so no connection id of an old channel or an old connection is signalled after
//!   the bus let it go (a restarted bus may hand the same ids to new channels).
//!
//! The hypercall's status is not acted on, as in Linux; a failure is logged at debug level. The emulated host refuses an unknown connection id with
//! HV_STATUS_INVALID_CONNECTION_ID, as OpenVMM's port map does
//! (microsoft/openvmm `vmm_core/src/synic.rs`, `handle_signal_event`).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use hyperv::hypercall::{CALL_SIGNAL_EVENT, HypercallInput, SignalEventInput};
use hyperv::platform::{HypervisorBackend, PlatformError};
use hyperv::status::HvError;
use spin::Mutex;

use crate::hypervisor::shared::SharedBackend;
use crate::ipc::InterruptSignal;

/// Why a channel signal was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalError {
    /// The bus revoked the capability: the channel was closed or rescinded, or the bus
    /// unloaded. Nothing was sent.
    Revoked,
    /// The platform link failed (the emulated link's transport, or a backend left held).
    Link(PlatformError),
    /// The hypervisor refused the hypercall.
    Hypervisor(HvError),
}

/// The capability to signal the host for one open channel (see the module docs).
pub struct ChannelSignal {
    relid: u32,
    connection_id: u32,
    backend: SharedBackend,
    live: Arc<AtomicBool>,
    /// The bus task's interrupt signal, raised when this signal's hypercall read the host's
    /// interrupt on the emulated link (see [`ChannelSignal::signal`]).
    bus_wake: InterruptSignal,
}

impl core::fmt::Debug for ChannelSignal {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("ChannelSignal")
            .field("relid", &self.relid)
            .field("connection_id", &self.connection_id)
            .field("live", &self.is_live())
            .finish()
    }
}

impl ChannelSignal {
    /// Whether the bus has not revoked it.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Signals the host that the channel has new data or room (fast HvSignalEvent, flag 0).
    ///
    /// On the emulated link the host answers the channel before it answers the hypercall
    /// (`emulator::platform::session`: the signal's host events are dispatched before the
    /// batch goes out), so the poll for the hypercall's result may read the answer's
    /// Interrupt frame too and latch it: then the bus task is woken at once (its interrupt
    /// signal raised) instead of when the link's MSI-X arrives. Never on Hyper-V (nothing is
    /// latched there). Decoding the rest of the batch here as well, to latch the frame every
    /// time, cost more than it saved (docs/performance.md §3, "Branch s6/signal").
    pub fn signal(&self) -> Result<(), SignalError> {
        if !self.is_live() {
            return Err(SignalError::Revoked);
        }
        let input = SignalEventInput {
            connection_id: self.connection_id,
            flag_number: 0,
            reserved: 0,
        };
        let output = self.backend.clone().hypercall(
            HypercallInput::fast(CALL_SIGNAL_EVENT),
            input.to_fast_register(),
            0,
        );
        if self.backend.has_latched_interrupt() {
            self.bus_wake.raise();
        }
        output
            .map_err(SignalError::Link)?
            .result()
            .map_err(SignalError::Hypervisor)
    }

    /// Signals and logs a failure under `driver`'s name (the caller has nothing else to do
    /// about it: Linux ignores the status too).
    pub fn signal_or_log(&self, driver: &str) {
        match self.signal() {
            Ok(()) => {}
            Err(SignalError::Revoked) => {
                log::debug!(
                    "{driver}: relid {}: signal after the bus let the channel go",
                    self.relid
                );
            }
            Err(error) => log::debug!("{driver}: relid {}: HvSignalEvent: {error:?}", self.relid),
        }
    }
}

/// Signals the host for `relid` through the channel's signal, if the task holds one (logs
/// under `driver`'s name when it does not): what every device task's `signal_host` does.
pub fn signal_host(driver: &str, relid: u32, signal: Option<&ChannelSignal>) {
    match signal {
        Some(signal) => signal.signal_or_log(driver),
        None => log::warn!("{driver}: relid {relid} has no signal to the host"),
    }
}

/// Where the bus task leaves a subscriber's channel signals for it (see the module docs).
#[derive(Clone, Default)]
pub struct SignalInbox(Arc<Mutex<BTreeMap<u32, ChannelSignal>>>);

impl SignalInbox {
    /// Takes the signal the bus left for `relid` (after its successful `Opened`).
    pub fn take(&self, relid: u32) -> Option<ChannelSignal> {
        self.0.lock().remove(&relid)
    }

    fn put(&self, signal: ChannelSignal) {
        self.0.lock().insert(signal.relid, signal);
    }
}

/// The bus task's side: the liveness flags of the signals it handed out, by channel.
pub struct Revocations {
    backend: SharedBackend,
    bus_wake: InterruptSignal,
    live: BTreeMap<u32, Arc<AtomicBool>>,
}

impl Revocations {
    /// None handed out yet; signals will use `backend` and raise `bus_wake` (the bus task's
    /// interrupt signal) when their hypercall latched the host's interrupt.
    pub fn new(backend: SharedBackend, bus_wake: InterruptSignal) -> Revocations {
        Revocations {
            backend,
            bus_wake,
            live: BTreeMap::new(),
        }
    }

    /// Hands `inbox` a fresh signal for channel `relid` on `connection_id` (revoking one handed
    /// out before for the same relid).
    pub fn hand_out(&mut self, inbox: &SignalInbox, relid: u32, connection_id: u32) {
        let live = Arc::new(AtomicBool::new(true));
        if let Some(old) = self.live.insert(relid, live.clone()) {
            old.store(false, Ordering::Release);
        }
        inbox.put(ChannelSignal {
            relid,
            connection_id,
            backend: self.backend.clone(),
            live,
            bus_wake: self.bus_wake.clone(),
        });
    }

    /// Revokes the signal of channel `relid`, if one was handed out.
    pub fn revoke(&mut self, relid: u32) {
        if let Some(live) = self.live.remove(&relid) {
            live.store(false, Ordering::Release);
        }
    }

    /// Revokes every signal handed out.
    pub fn revoke_all(&mut self) {
        for (_, live) in core::mem::take(&mut self.live) {
            live.store(false, Ordering::Release);
        }
    }
}

impl Drop for Revocations {
    fn drop(&mut self) {
        self.revoke_all();
    }
}
