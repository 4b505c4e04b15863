//! The VMBus bus driver: owns the SynIC and the VMBus client of one VMBus connection.
//!
//! Device drivers (dxg, virtual PCI, the echo test device) talk to it only through
//! [`BusRequest`]s and the [`DriverEvent`]s it addresses to them ([`BusOutput`]): they subscribe
//! to a device class, receive offers as they come and go, ask for a channel to be opened on
//! ring memory they allocated, and get back the channel's two rings. Signalling the host for a
//! channel is a request too, because only the bus owns the hypercall path.
//!
//! Opening a channel is a sequence (ring control pages initialised with the pending-send-size
//! feature, GPADL for the ring pages, then OPENCHANNEL); the bus runs it for the driver and
//! answers once with [`DriverEvent::Opened`].
//!
//! Posting: every control message is posted in order. A failed HvPostMessage is retried as
//! [`vmbus::post_retry`] decides (Linux `vmbus_post_msg` semantics, bounded at 5 s in total),
//! waiting through the [`RetryClock`] the kernel supplies; a message given up on is reported to
//! the client, which fails the request that carried it (the driver gets a typed
//! [`OpenFailure`], the bus a [`BusError::PostFailed`] for REQUESTOFFERS). A post failure
//! never ends the bus: only a broken platform link (not a hypercall status) does.
//!
//! Bounded polling: one [`BusDriver::on_interrupt`] takes at most [`MESSAGES_PER_POLL`]
//! messages and says whether it stopped early ([`InterruptOutcome`]); the caller then polls
//! again by itself, as Linux's `vmbus_on_event` reschedules its tasklet after a time limit
//! (torvalds/linux drivers/hv/connection.c) instead of looping on.
//!
//! Connection pages: as Linux's `vmbus_connect` (torvalds/linux drivers/hv/connection.c), the
//! bus allocates zeroed pages for the interrupt page (sent below 5.0) and the two monitor pages
//! (parent→child, child→parent; sent with every INITIATE_CONTACT).

mod opening;
mod restart;
#[cfg(test)]
mod tests;
mod time_bounds;

use alloc::collections::{BTreeMap, VecDeque};

use alloc::boxed::Box;

use hyperv::memory::{GuestMemory, PAGE_SIZE};
use hyperv::platform::{HypervisorBackend, PageAllocator, PagePurpose};
use hyperv::synic::{MessageType, VMBUS_SINT};
use hyperv::synic_client::{SynicClient, SynicConfig, SynicError};
use vmbus::client::{
    Action, ChannelOffer, Client, ClientConfig, ClientError, ClientEvent, SubscriberId,
};
use vmbus::guid::Guid;
use vmbus::post_retry::{PostFailure, PostRetry, RetryDecision};
use vmbus::ring::{RingReceiver, RingSender};

use opening::Opening;
pub use opening::{OpenFailure, RingMemory};
pub use restart::BusNotice;
pub use time_bounds::TimeBounds;
use time_bounds::WaitStarts;
pub use vmbus::client::PreviousConnection;

/// Something a device driver asks of the bus.
#[derive(Debug, Clone)]
pub enum BusRequest {
    /// Deliver offers of `class` (present and future) to `subscriber`.
    Subscribe {
        /// Device class GUID.
        class: Guid,
        /// Who receives the offers.
        subscriber: SubscriberId,
    },
    /// Open channel `relid` on `rings` (allocated by the driver). Answered by
    /// [`DriverEvent::Opened`].
    Open {
        /// The channel.
        relid: u32,
        /// Where the rings live.
        rings: RingMemory,
        /// The 120 bytes of user data for OPENCHANNEL.
        user_data: [u8; 120],
    },
    /// Close channel `relid` and tear down its ring GPADL. Answered by [`DriverEvent::Closed`].
    Close {
        /// The channel.
        relid: u32,
    },
    /// Tell the host that channel `relid` has new data (HvSignalEvent).
    Signal {
        /// The channel.
        relid: u32,
    },
}

/// The two rings of an open channel.
pub struct ChannelRings<M: GuestMemory> {
    /// Guest → host.
    pub outbound: RingSender<M>,
    /// Host → guest.
    pub inbound: RingReceiver<M>,
}

impl<M: GuestMemory> core::fmt::Debug for ChannelRings<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChannelRings")
    }
}

/// An event for one device driver.
///
/// The offer and the rings are boxed: they come once per channel, while `Signalled` comes with
/// every packet the host sends, and each event is moved several times on its way (the bus
/// driver's output queue, the bus task, the driver's event channel). Boxed, an event is two
/// words, not the ≈ 200 bytes of the largest variant copied at every move.
#[derive(Debug)]
pub enum DriverEvent<M: GuestMemory> {
    /// A channel of a class the driver subscribed to was offered.
    Offer(Box<ChannelOffer>),
    /// The host withdrew channel `relid`; the driver must stop using it and ask to close it.
    Rescinded {
        /// The channel.
        relid: u32,
    },
    /// Answer to [`BusRequest::Open`].
    Opened {
        /// The channel.
        relid: u32,
        /// The rings, or why the open failed (the ring memory is the driver's again).
        result: Result<Box<ChannelRings<M>>, OpenFailure>,
    },
    /// The host signalled channel `relid`: read its inbound ring.
    Signalled {
        /// The channel.
        relid: u32,
    },
    /// Answer to [`BusRequest::Close`]: the ring memory may be freed.
    Closed {
        /// The channel.
        relid: u32,
    },
}

/// What the bus task must deliver.
#[derive(Debug)]
pub struct BusOutput<M: GuestMemory> {
    /// The driver it is for.
    pub subscriber: SubscriberId,
    /// The event.
    pub event: DriverEvent<M>,
}

/// A failure of the bus itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    /// The SynIC could not be brought up or used.
    Synic(SynicError),
    /// The VMBus client refused a request or a host message.
    Client(ClientError),
    /// The host refused every protocol version (or none could be posted).
    ConnectFailed,
    /// REQUESTOFFERS could not be posted: no offers will come on this connection.
    PostFailed(PostFailure),
    /// The host did not finish the connection (VERSION_RESPONSE … ALLOFFERS_DELIVERED) within
    /// the caller's bound.
    HostSilent {
        /// How long the caller waited.
        milliseconds: u64,
    },
    /// The host did not answer UNLOAD within [`TimeBounds::unload_microseconds`]: the
    /// connection pages stay with the host (it may still write them).
    UnloadTimedOut {
        /// The bound that passed.
        milliseconds: u64,
    },
    /// A restart needs protocol 3.0 (UNLOAD): below it the bus stays down.
    RestartUnsupported {
        /// The connection's version.
        version: vmbus::version::Version,
    },
    /// A restart's UNLOAD could not be delivered to the host: the bus stays down.
    RestartNotDelivered,
}

/// Time for the post-retry policy: the kernel reads its clock and sleeps; tests pass a clock
/// that advances by the time waited.
pub trait RetryClock {
    /// A monotonic time in microseconds.
    fn now_microseconds(&mut self) -> u64;
    /// Waits at least `microseconds` (sleeping or spinning).
    fn wait_microseconds(&mut self, microseconds: u64);
}

impl From<SynicError> for BusError {
    fn from(error: SynicError) -> Self {
        BusError::Synic(error)
    }
}

impl From<ClientError> for BusError {
    fn from(error: ClientError) -> Self {
        BusError::Client(error)
    }
}

impl core::fmt::Display for BusError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BusError::Synic(error) => write!(f, "SynIC: {error:?}"),
            BusError::Client(error) => write!(f, "VMBus client: {error:?}"),
            BusError::ConnectFailed => f.write_str("the host refused every VMBus version"),
            BusError::PostFailed(failure) => write!(f, "REQUESTOFFERS not delivered: {failure}"),
            BusError::HostSilent { milliseconds } => write!(
                f,
                "the host did not complete the VMBus connection within {milliseconds} ms"
            ),
            BusError::UnloadTimedOut { milliseconds } => {
                write!(f, "the host did not answer UNLOAD within {milliseconds} ms")
            }
            BusError::RestartUnsupported { version } => write!(
                f,
                "VMBus {version:?} has no UNLOAD (3.0 and later): the bus cannot restart"
            ),
            BusError::RestartNotDelivered => {
                f.write_str("the restart's UNLOAD did not reach the host")
            }
        }
    }
}

/// The most SynIC messages one [`BusDriver::on_interrupt`] handles. A host that refills the
/// message slot as fast as the guest empties it would otherwise keep the bus task (and
/// everything waiting behind it on its CPU) inside one call indefinitely. 64 is above a
/// boot's burst of offers (a Gen2 VM offers a few dozen channels at most), so a normal boot
/// still finishes in one call, and small enough that one call stays short (each message is
/// at most 240 bytes to parse plus the posts it causes).
pub const MESSAGES_PER_POLL: usize = 64;

/// What [`BusDriver::on_interrupt`] left behind.
#[must_use = "MorePending means the bus must be polled again without waiting for an interrupt"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptOutcome {
    /// Fewer than [`MESSAGES_PER_POLL`] messages were waiting: wait for the next interrupt.
    Drained,
    /// [`MESSAGES_PER_POLL`] messages were handled and more may be waiting in the slot. The
    /// host raises no new interrupt for them: poll again soon (after yielding).
    MorePending,
}

/// Counters a person can read to see what the bus did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusStatistics {
    /// SynIC messages received.
    pub messages: u64,
    /// Host messages the client rejected (logged and dropped).
    pub rejected_messages: u64,
    /// Channel signals received.
    pub signals_received: u64,
    /// Channel signals sent.
    pub signals_sent: u64,
    /// Control-message posts retried after a transient failure.
    pub post_retries: u64,
    /// Control messages given up on (the request failed).
    pub failed_posts: u64,
    /// HvSignalEvent calls that failed (logged; the host may miss that signal).
    pub failed_signals: u64,
    /// Polls that stopped at [`MESSAGES_PER_POLL`] messages with more possibly waiting.
    pub message_bound_reached: u64,
    /// Waits for the host that passed their bound ([`TimeBounds`]).
    pub timeouts: u64,
}

/// What the connection pages are allocated as: plain shared data pages, mapped like the
/// hypercall input page (the host reads and writes them; nothing executes there).
const CONNECTION_PAGE: PagePurpose = PagePurpose::HypercallInput;

/// The zeroed pages INITIATE_CONTACT names, owned by the bus until shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnectionPages {
    interrupt: u64,
    monitor_parent_to_child: u64,
    monitor_child_to_parent: u64,
}

/// The bus driver of one VMBus connection.
pub struct BusDriver<B: HypervisorBackend, M: GuestMemory + Clone> {
    synic: SynicClient<B, M>,
    client: Client,
    memory: M,
    clock: Box<dyn RetryClock + Send>,
    pages: ConnectionPages,
    openings: BTreeMap<u32, Opening>,
    /// No opening waits for the host or needs a teardown stamp, as of the last walk: the
    /// time-bound walks of `openings`, made on every pass, are skipped while this holds. Every
    /// change to an opening clears it; `stamp_teardowns` (at the end of every
    /// `run_actions`) walks again and sets it.
    openings_quiet: bool,
    outputs: VecDeque<BusOutput<M>>,
    offers_complete: bool,
    unloaded: bool,
    failure: Option<BusError>,
    statistics: BusStatistics,
    bounds: TimeBounds,
    starts: WaitStarts,
    unload_timed_out: bool,
    /// A restart is in progress (UNLOAD sent; INITIATE_CONTACT follows its answer).
    restarting: bool,
    /// Channel resets and close time-outs for the drivers ([`BusDriver::poll_notice`]).
    notices: VecDeque<BusNotice>,
}

impl<B: HypervisorBackend, M: GuestMemory + Clone> BusDriver<B, M> {
    /// Brings up the SynIC (SINT 2 on `vector`), allocates the connection pages and starts
    /// version negotiation. Install the interrupt handler for `vector` first; then call
    /// [`BusDriver::on_interrupt`] whenever it fires until [`BusDriver::is_ready`]. `clock`
    /// times the retries of failed posts.
    pub fn start<A: PageAllocator>(
        backend: B,
        memory: M,
        allocator: &mut A,
        vector: u8,
        max_version: Option<vmbus::version::Version>,
        clock: Box<dyn RetryClock + Send>,
    ) -> Result<Self, BusError> {
        Self::start_with(backend, memory, allocator, vector, max_version, clock, None)
    }

    /// [`BusDriver::start`] over a host that may still hold the connection of an earlier bus
    /// instance (one that died with its task): UNLOAD on `previous`'s connection id first,
    /// INITIATE_CONTACT once the host answers (bounded by [`TimeBounds::unload_microseconds`];
    /// past it the bus stays down with [`BusError::UnloadTimedOut`] as its
    /// [`BusDriver::failure`]). Below 3.0 it fails at once with
    /// [`BusError::RestartUnsupported`]: the bus stays down. `previous` is what
    /// [`BusDriver::previous_connection`] said of the earlier instance once it was connected.
    pub fn start_after<A: PageAllocator>(
        backend: B,
        memory: M,
        allocator: &mut A,
        vector: u8,
        max_version: Option<vmbus::version::Version>,
        clock: Box<dyn RetryClock + Send>,
        previous: PreviousConnection,
    ) -> Result<Self, BusError> {
        if !previous.version.supports_unload() {
            log::error!(
                "vmbus: the bus stays down: VMBus {:?} has no UNLOAD to restart with",
                previous.version
            );
            return Err(BusError::RestartUnsupported {
                version: previous.version,
            });
        }
        Self::start_with(
            backend,
            memory,
            allocator,
            vector,
            max_version,
            clock,
            Some(previous),
        )
    }

    fn start_with<A: PageAllocator>(
        backend: B,
        memory: M,
        allocator: &mut A,
        vector: u8,
        max_version: Option<vmbus::version::Version>,
        clock: Box<dyn RetryClock + Send>,
        previous: Option<PreviousConnection>,
    ) -> Result<Self, BusError> {
        let pages = Self::allocate_connection_pages(&memory, allocator)?;
        let synic = match SynicClient::initialize(
            backend,
            memory.clone(),
            allocator,
            SynicConfig::vmbus(vector),
        ) {
            Ok(synic) => synic,
            Err(error) => {
                Self::free_connection_pages(pages, allocator);
                return Err(error.into());
            }
        };
        let mut config = ClientConfig {
            target_vp: synic.vp_index(),
            interrupt_page: pages.interrupt,
            monitor_pages: (pages.monitor_parent_to_child, pages.monitor_child_to_parent),
            ..ClientConfig::default()
        };
        if let Some(version) = max_version {
            config.max_version = version;
        }
        let mut bus = BusDriver {
            synic,
            client: Client::new(config),
            memory,
            clock,
            pages,
            openings: BTreeMap::new(),
            openings_quiet: true,
            outputs: VecDeque::new(),
            offers_complete: false,
            unloaded: false,
            failure: None,
            statistics: BusStatistics::default(),
            bounds: TimeBounds::default(),
            starts: WaitStarts::default(),
            unload_timed_out: false,
            restarting: false,
            notices: VecDeque::new(),
        };
        let now = bus.clock.now_microseconds();
        let begun = match previous {
            None => {
                bus.starts.connect = Some(now);
                bus.client.connect()
            }
            Some(previous) => {
                bus.starts.unload = Some(now);
                bus.restarting = true;
                bus.client.restart_after(previous)
            }
        };
        let started = begun
            .map_err(BusError::from)
            .and_then(|()| bus.run_actions());
        match started {
            Ok(()) => Ok(bus),
            Err(error) => {
                // Nothing was connected: give the SynIC and the pages back.
                if let Err(shutdown) = bus.shutdown(allocator) {
                    log::warn!("vmbus: SynIC teardown after a failed start: {shutdown}");
                }
                Err(error)
            }
        }
    }

    /// Three zeroed pages (zeroed again here: the host reads them as soon as it knows them).
    fn allocate_connection_pages<A: PageAllocator>(
        memory: &M,
        allocator: &mut A,
    ) -> Result<ConnectionPages, BusError> {
        let mut taken = [0u64; 3];
        for index in 0..taken.len() {
            let page = allocator
                .allocate_page(CONNECTION_PAGE)
                .map_err(|_| SynicError::OutOfPages);
            let zeroed = page.and_then(|gpa| {
                memory
                    .write(gpa, &[0u8; PAGE_SIZE as usize])
                    .map(|()| gpa)
                    .map_err(|error| {
                        allocator.free_page(gpa, CONNECTION_PAGE);
                        SynicError::Memory(error)
                    })
            });
            match zeroed {
                Ok(gpa) => taken[index] = gpa,
                Err(error) => {
                    for gpa in &taken[..index] {
                        allocator.free_page(*gpa, CONNECTION_PAGE);
                    }
                    return Err(error.into());
                }
            }
        }
        Ok(ConnectionPages {
            interrupt: taken[0],
            monitor_parent_to_child: taken[1],
            monitor_child_to_parent: taken[2],
        })
    }

    fn free_connection_pages<A: PageAllocator>(pages: ConnectionPages, allocator: &mut A) {
        for gpa in [
            pages.interrupt,
            pages.monitor_parent_to_child,
            pages.monitor_child_to_parent,
        ] {
            allocator.free_page(gpa, CONNECTION_PAGE);
        }
    }

    /// The GPAs of the parent→child and child→parent monitor pages sent in INITIATE_CONTACT.
    pub fn monitor_pages(&self) -> (u64, u64) {
        (
            self.pages.monitor_parent_to_child,
            self.pages.monitor_child_to_parent,
        )
    }

    /// Why the bus cannot serve offers on this connection, if it cannot (REQUESTOFFERS not
    /// delivered). The bus still answers requests; callers waiting for offers should stop.
    pub fn failure(&self) -> Option<&BusError> {
        self.failure.as_ref()
    }

    /// The negotiated version, once connected.
    pub fn version(&self) -> Option<vmbus::version::Version> {
        self.client.version()
    }

    /// The connection id for control messages the host gave at connect time, once connected.
    pub fn message_connection_id(&self) -> Option<u32> {
        self.client.message_connection_id().ok()
    }

    /// Whether the host has delivered all its offers.
    pub fn is_ready(&self) -> bool {
        self.offers_complete
    }

    /// The offers known now.
    pub fn offers(&self) -> impl Iterator<Item = &ChannelOffer> + '_ {
        self.client.offers()
    }

    /// The counters.
    pub fn statistics(&self) -> BusStatistics {
        self.statistics
    }

    /// The SynIC (for its backend, e.g. to acknowledge an emulated interrupt).
    pub fn synic(&mut self) -> &mut SynicClient<B, M> {
        &mut self.synic
    }

    /// Sends UNLOAD; [`BusDriver::is_unloaded`] turns true when the host has answered.
    pub fn unload(&mut self) -> Result<(), BusError> {
        self.client.unload()?;
        if !self.unloaded {
            self.starts.unload = Some(self.clock.now_microseconds());
        }
        self.run_actions()
    }

    /// Whether the host has answered UNLOAD.
    pub fn is_unloaded(&self) -> bool {
        self.unloaded
    }

    /// Tears the SynIC down, frees the connection pages and returns the backend and the
    /// memory. Call it only after the host has answered UNLOAD (or never connected): until
    /// then it may still write the monitor pages.
    pub fn shutdown<A: PageAllocator>(self, allocator: &mut A) -> Result<(B, M), BusError> {
        let pages = self.pages;
        let result = self.synic.shutdown(allocator)?;
        Self::free_connection_pages(pages, allocator);
        Ok(result)
    }

    /// Takes the next event for a device driver.
    pub fn poll_output(&mut self) -> Option<BusOutput<M>> {
        self.outputs.pop_front()
    }

    /// Handles the SynIC interrupt: up to [`MESSAGES_PER_POLL`] waiting messages, then every
    /// fired channel flag. [`InterruptOutcome::MorePending`] means the bound was reached: the
    /// host may have refilled the slot, and since it raises no new interrupt for a message
    /// the guest has not taken, the caller must call again by itself (after letting other
    /// work run) until [`InterruptOutcome::Drained`].
    pub fn on_interrupt(&mut self) -> Result<InterruptOutcome, BusError> {
        let mut taken = 0;
        while taken < MESSAGES_PER_POLL {
            let Some(message) = self.synic.poll_message(VMBUS_SINT)? else {
                break;
            };
            taken += 1;
            self.statistics.messages += 1;
            if message.message_type != MessageType::VMBUS {
                log::warn!(
                    "vmbus: ignored SynIC message of type {:?}",
                    message.message_type
                );
                continue;
            }
            let result = match message.payload() {
                Ok(payload) => self.client.on_message(payload),
                Err(error) => {
                    log::warn!("vmbus: malformed SynIC message: {error:?}");
                    self.statistics.rejected_messages += 1;
                    continue;
                }
            };
            if let Err(error) = result {
                log::warn!("vmbus: host message rejected: {error:?}");
                self.statistics.rejected_messages += 1;
            }
            self.run_actions()?;
        }
        // The channel flags are served on every poll, so a message flood cannot starve them.
        // Only the words that can hold an offered relid are scanned: a flag above every
        // offered relid belongs to no channel (Linux's `vmbus_chan_sched`, torvalds/linux
        // `drivers/hv/vmbus_drv.c`, clears it and finds no channel for it; here it stays set
        // and is taken once an offer raises the limit).
        let flags = self
            .synic
            .fired_event_flags_below(VMBUS_SINT, self.client.relid_limit())?;
        for relid in flags.iter() {
            self.statistics.signals_received += 1;
            if let Err(error) = self.client.on_channel_signal(relid) {
                log::debug!("vmbus: signal for relid {relid} nobody owns: {error:?}");
            }
        }
        self.run_actions()?;
        if taken == MESSAGES_PER_POLL {
            self.statistics.message_bound_reached += 1;
            log::debug!("vmbus: {MESSAGES_PER_POLL} messages in one poll; polling again later");
            Ok(InterruptOutcome::MorePending)
        } else {
            Ok(InterruptOutcome::Drained)
        }
    }

    /// Handles a device driver's request. `subscriber` is the requesting driver.
    pub fn handle(
        &mut self,
        subscriber: SubscriberId,
        request: BusRequest,
    ) -> Result<(), BusError> {
        match request {
            BusRequest::Subscribe { class, subscriber } => {
                // The client re-announces the offers it already knows.
                self.client.subscribe(class, subscriber);
            }
            BusRequest::Open {
                relid,
                rings,
                user_data,
            } => {
                let target_vp = self.synic.vp_index();
                let now = self.clock.now_microseconds();
                match Opening::start(
                    &mut self.client,
                    &self.memory,
                    relid,
                    subscriber,
                    target_vp,
                    rings,
                    user_data,
                ) {
                    Ok(mut opening) => {
                        opening.started = now;
                        self.openings_quiet = false;
                        self.openings.insert(relid, opening);
                    }
                    Err(failure) => self.outputs.push_back(BusOutput {
                        subscriber,
                        event: DriverEvent::Opened {
                            relid,
                            result: Err(failure),
                        },
                    }),
                }
            }
            BusRequest::Close { relid } => {
                if let Err(error) = self.client.close_channel(relid) {
                    log::debug!("vmbus: close of relid {relid}: {error:?}");
                }
                self.openings_quiet = false;
                match self.openings.get_mut(&relid) {
                    Some(opening) => opening.close(&mut self.client),
                    None => self.outputs.push_back(BusOutput {
                        subscriber,
                        event: DriverEvent::Closed { relid },
                    }),
                }
            }
            BusRequest::Signal { relid } => {
                self.client.signal_channel(relid)?;
            }
        }
        self.run_actions()
    }

    /// Carries out the client's actions until there are none. Only a broken platform link
    /// (not a hypercall status) is an error.
    fn run_actions(&mut self) -> Result<(), BusError> {
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::PostMessage {
                    connection_id,
                    message_type,
                    payload,
                } => {
                    if let Err(failure) =
                        self.post_with_retries(connection_id, MessageType(message_type), &payload)?
                    {
                        self.statistics.failed_posts += 1;
                        self.client.on_post_message_failed(&payload, failure)?;
                    }
                }
                Action::SignalEvent { connection_id } => {
                    self.statistics.signals_sent += 1;
                    match self.synic.signal_event(connection_id, 0) {
                        Ok(()) => {}
                        Err(SynicError::Hypervisor(error)) => {
                            // As Linux's vmbus_set_event, which ignores the status.
                            self.statistics.failed_signals += 1;
                            log::warn!(
                                "vmbus: HvSignalEvent({connection_id:#x}) failed: {}",
                                error.name()
                            );
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                Action::Event { subscriber, event } => self.route(subscriber, event)?,
            }
        }
        self.stamp_teardowns();
        Ok(())
    }

    /// Posts one message, retrying transient failures within the policy's bound. The outer
    /// error is a broken link; the inner one the failure to report to the client.
    fn post_with_retries(
        &mut self,
        connection_id: u32,
        message_type: MessageType,
        payload: &[u8],
    ) -> Result<Result<(), PostFailure>, BusError> {
        let mut retry = PostRetry::for_payload(payload);
        loop {
            let error = match self
                .synic
                .post_message(connection_id, message_type, payload)
            {
                Ok(()) => return Ok(Ok(())),
                Err(SynicError::Hypervisor(error)) => error,
                Err(error) => return Err(error.into()),
            };
            match retry.on_failure(error, self.clock.now_microseconds()) {
                RetryDecision::RetryAfter(microseconds) => {
                    self.statistics.post_retries += 1;
                    log::debug!(
                        "vmbus: HvPostMessage({connection_id}) {}: retry in {microseconds} µs",
                        error.name()
                    );
                    self.clock.wait_microseconds(microseconds);
                }
                RetryDecision::GiveUp(failure) => return Ok(Err(failure)),
            }
        }
    }

    fn route(
        &mut self,
        subscriber: Option<SubscriberId>,
        event: ClientEvent,
    ) -> Result<(), BusError> {
        let relid_of_opening = match &event {
            ClientEvent::GpadlCreated { relid, .. }
            | ClientEvent::ChannelOpened { relid, .. }
            | ClientEvent::GpadlTornDown { relid, .. }
            | ClientEvent::PostFailed {
                relid: Some(relid), ..
            } => Some(*relid),
            _ => None,
        };
        if let Some(relid) = relid_of_opening
            && let Some(opening) = self.openings.get_mut(&relid)
        {
            self.openings_quiet = false;
            if let Some(output) = opening.on_event(&mut self.client, &self.memory, &event) {
                if matches!(output.event, DriverEvent::Closed { .. })
                    || matches!(output.event, DriverEvent::Opened { result: Err(_), .. })
                {
                    self.openings.remove(&relid);
                }
                self.outputs.push_back(output);
            }
            return Ok(());
        }
        match event {
            ClientEvent::ConnectFailed => {
                self.connection_wait_over();
                return Err(BusError::ConnectFailed);
            }
            ClientEvent::Connected { version } => {
                log::info!("vmbus: connected, version {version:?}");
                self.client.request_offers()?;
            }
            ClientEvent::AllOffersDelivered => {
                self.connection_wait_over();
                self.offers_complete = true;
            }
            ClientEvent::Unloaded => self.on_unloaded(),
            ClientEvent::ChannelReset {
                relid,
                memory_released,
            } => self.on_channel_reset(subscriber, relid, memory_released),
            // The client has logged it; only a lost REQUESTOFFERS concerns the bus itself.
            ClientEvent::PostFailed {
                message_type: vmbus::messages::MessageType::REQUEST_OFFERS,
                failure,
                ..
            } => {
                self.connection_wait_over();
                self.failure = Some(BusError::PostFailed(failure));
            }
            ClientEvent::OfferArrived(offer) => {
                if let Some(subscriber) = subscriber {
                    self.outputs.push_back(BusOutput {
                        subscriber,
                        event: DriverEvent::Offer(Box::new(offer)),
                    });
                }
            }
            ClientEvent::OfferRescinded { relid } => {
                if let Some(opening) = self.openings.get_mut(&relid) {
                    self.openings_quiet = false;
                    opening.rescinded();
                }
                if let Some(subscriber) = subscriber {
                    self.outputs.push_back(BusOutput {
                        subscriber,
                        event: DriverEvent::Rescinded { relid },
                    });
                }
            }
            ClientEvent::ChannelSignalled { relid } => {
                if let Some(subscriber) = subscriber {
                    self.outputs.push_back(BusOutput {
                        subscriber,
                        event: DriverEvent::Signalled { relid },
                    });
                }
            }
            other => log::debug!("vmbus: event for nobody: {other:?}"),
        }
        Ok(())
    }
}
