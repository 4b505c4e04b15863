//! The open and close sequences of one channel: both ring control pages initialised with the
//! pending-send-size feature bit (as Linux's `hv_ringbuffer_init`, before the GPADL and
//! OPENCHANNEL), GPADL for the ring pages, OPENCHANNEL, and back (CLOSECHANNEL, GPADL
//! teardown).
//!
//! A close that comes while the GPADL or the open is still in flight is deferred: the ring
//! GPADL is torn down only once the host has answered GPADL_CREATED and OPENCHANNEL (or
//! rescinded the channel, which ends the open), as Linux's `__vmbus_open` waits for the open
//! result or the rescind before `vmbus_teardown_gpadl` (torvalds/linux drivers/hv/channel.c).
//! Until then the host may be mapping the rings. Such a close is answered by
//! [`DriverEvent::Closed`] alone (no `Opened`).

use hyperv::memory::{GuestMemory, PAGE_SIZE};
use vmbus::client::{
    Client, ClientError, ClientEvent, GpadlCreateError, OpenError, OpenRequest, SubscriberId,
};
use vmbus::messages::MessageType;
use vmbus::ring::{
    FEATURE_PENDING_SEND_SIZE, RingPages, RingReceiver, RingSender, initialize_control_page,
};

use alloc::boxed::Box;

use super::{BusOutput, ChannelRings, DriverEvent};

/// Ring memory a driver allocated for a channel: `outbound_bytes` for the guest→host ring
/// (control page included) followed by `inbound_bytes` for the host→guest ring, physically
/// contiguous from `gpa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingMemory {
    /// Guest-physical address of the first (outbound control) page.
    pub gpa: u64,
    /// Bytes of the outbound ring, its control page included (page multiple, ≥ 2 pages).
    pub outbound_bytes: u64,
    /// Bytes of the inbound ring, its control page included (page multiple, ≥ 2 pages).
    pub inbound_bytes: u64,
}

impl RingMemory {
    fn is_valid(&self) -> bool {
        let page_multiple = |bytes: u64| bytes.is_multiple_of(PAGE_SIZE) && bytes >= 2 * PAGE_SIZE;
        self.gpa.is_multiple_of(PAGE_SIZE)
            && page_multiple(self.outbound_bytes)
            && page_multiple(self.inbound_bytes)
            && self
                .gpa
                .checked_add(self.outbound_bytes + self.inbound_bytes)
                .is_some()
    }
}

/// Why a channel did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenFailure {
    /// The ring memory is not page aligned or too small.
    BadRingMemory,
    /// The client refused (unknown relid, not connected, already open...).
    Client(ClientError),
    /// The host refused the GPADL.
    Gpadl(GpadlCreateError),
    /// The host refused the open.
    Open(OpenError),
    /// The ring control pages were unusable.
    Ring,
    /// The channel was rescinded meanwhile.
    Rescinded,
    /// The host did not answer (GPADL_CREATED or OPENCHANNEL_RESULT) within the bound. The
    /// ring memory stays lent to the host: free it only after the [`DriverEvent::Closed`]
    /// that follows if the host answers later.
    TimedOut {
        /// The bound that passed.
        milliseconds: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    CreatingGpadl,
    Opening,
    Open,
    /// Tearing the GPADL down; then report `Closed` or, after a failed open, the failure.
    TearingDown,
}

/// One channel between the driver's open request and its close.
pub(super) struct Opening {
    relid: u32,
    subscriber: SubscriberId,
    target_vp: u32,
    rings: RingMemory,
    user_data: [u8; 120],
    gpadl: u32,
    stage: Stage,
    failure: Option<OpenFailure>,
    /// The driver asked to close while the GPADL or the open was in flight (or the open
    /// timed out: a late answer then ends in a close).
    close_requested: bool,
    /// When the open started (the bus's clock, microseconds; set by the bus).
    pub(super) started: u64,
    /// The open passed its bound and the driver was told so.
    timed_out: bool,
    /// When the GPADL teardown started (the bus's clock; stamped by the bus).
    teardown_started: Option<u64>,
    /// The teardown passed its bound and the driver was told so.
    teardown_timed_out: bool,
}

impl Opening {
    /// Starts the sequence: initialises both rings' control pages (indices zero, feature bit
    /// pending-send-size) and creates the GPADL.
    pub(super) fn start<M: GuestMemory>(
        client: &mut Client,
        memory: &M,
        relid: u32,
        subscriber: SubscriberId,
        target_vp: u32,
        rings: RingMemory,
        user_data: [u8; 120],
    ) -> Result<Opening, OpenFailure> {
        if !rings.is_valid() {
            return Err(OpenFailure::BadRingMemory);
        }
        for (gpa, bytes) in [
            (rings.gpa, rings.outbound_bytes),
            (rings.gpa + rings.outbound_bytes, rings.inbound_bytes),
        ] {
            RingPages::contiguous(gpa, bytes)
                .and_then(|pages| {
                    initialize_control_page(memory, &pages, FEATURE_PENDING_SEND_SIZE)
                })
                .map_err(|_| OpenFailure::Ring)?;
        }
        let total = rings.outbound_bytes + rings.inbound_bytes;
        let first = rings.gpa / PAGE_SIZE;
        let pfns: alloc::vec::Vec<u64> = (first..first + total / PAGE_SIZE).collect();
        let byte_count = u32::try_from(total).map_err(|_| OpenFailure::BadRingMemory)?;
        let gpadl = client
            .create_gpadl(relid, 0, byte_count, &pfns)
            .map_err(OpenFailure::Client)?;
        Ok(Opening {
            relid,
            subscriber,
            target_vp,
            rings,
            user_data,
            gpadl,
            stage: Stage::CreatingGpadl,
            failure: None,
            close_requested: false,
            started: 0,
            timed_out: false,
            teardown_started: None,
            teardown_timed_out: false,
        })
    }

    /// The driver that asked for the open.
    pub(super) fn subscriber(&self) -> SubscriberId {
        self.subscriber
    }

    /// Notes `now` as the start of the GPADL teardown's wait, if one began since the last
    /// call.
    pub(super) fn stamp_teardown(&mut self, now: u64) {
        if self.needs_teardown_stamp() {
            self.teardown_started = Some(now);
        }
    }

    /// Whether a GPADL teardown began that [`Opening::stamp_teardown`] has not stamped yet.
    pub(super) fn needs_teardown_stamp(&self) -> bool {
        self.stage == Stage::TearingDown && self.teardown_started.is_none()
    }

    /// When the wait for GPADL_TORNDOWN started, while it waits (not yet timed out).
    pub(super) fn teardown_waiting_since(&self) -> Option<u64> {
        if self.stage == Stage::TearingDown && !self.teardown_timed_out {
            self.teardown_started
        } else {
            None
        }
    }

    /// The teardown passed its bound: the ring memory stays lent to the host (a late
    /// GPADL_TORNDOWN still ends in [`DriverEvent::Closed`]).
    pub(super) fn teardown_time_out(&mut self, milliseconds: u64) {
        self.teardown_timed_out = true;
        log::warn!(
            "vmbus: relid {}: no GPADL_TORNDOWN for {:#x} within {milliseconds} ms; its pages stay with the host",
            self.relid,
            self.gpadl
        );
    }

    /// Whether a time bound applies to this opening: its open or its GPADL teardown waits for
    /// the host, or a teardown began that is not stamped yet.
    pub(super) fn has_wait(&self) -> bool {
        self.waiting_since().is_some()
            || self.teardown_waiting_since().is_some()
            || self.needs_teardown_stamp()
    }

    /// When the open's wait for the host started, while it waits (GPADL_CREATED or
    /// OPENCHANNEL_RESULT outstanding, not yet timed out, not closed meanwhile).
    pub(super) fn waiting_since(&self) -> Option<u64> {
        let waiting = matches!(self.stage, Stage::CreatingGpadl | Stage::Opening)
            && !self.timed_out
            && !self.close_requested;
        waiting.then_some(self.started)
    }

    /// The open passed its bound: tell the driver, and treat a late answer as a close (undo
    /// the open, then report [`DriverEvent::Closed`], when the ring memory is free again).
    pub(super) fn time_out<M: GuestMemory>(&mut self, milliseconds: u64) -> Option<BusOutput<M>> {
        self.timed_out = true;
        self.close_requested = true;
        log::warn!(
            "vmbus: relid {}: no answer to the open within {milliseconds} ms ({:?})",
            self.relid,
            self.stage
        );
        self.output(DriverEvent::Opened {
            relid: self.relid,
            result: Err(OpenFailure::TimedOut { milliseconds }),
        })
    }

    /// The host rescinded the channel: an open in progress fails.
    pub(super) fn rescinded(&mut self) {
        if matches!(self.stage, Stage::CreatingGpadl | Stage::Opening) {
            self.failure = Some(OpenFailure::Rescinded);
        }
    }

    /// The driver closed the channel: tear the GPADL down, at once if the channel is open,
    /// or once the GPADL and the open in flight are answered.
    pub(super) fn close(&mut self, client: &mut Client) {
        match self.stage {
            Stage::CreatingGpadl | Stage::Opening => {
                log::debug!(
                    "vmbus: close of relid {} waits for the host's answer ({:?})",
                    self.relid,
                    self.stage
                );
                self.close_requested = true;
            }
            Stage::Open => self.teardown(client),
            Stage::TearingDown => self.close_requested = true,
        }
    }

    /// Tears the GPADL down after a failure: the failure is reported when the teardown is
    /// answered, unless the driver asked to close (then it gets `Closed`).
    fn close_after_failure<M: GuestMemory>(
        &mut self,
        client: &mut Client,
        failure: OpenFailure,
    ) -> Option<BusOutput<M>> {
        if self.close_requested {
            log::debug!(
                "vmbus: relid {} closed before it opened: {failure:?}",
                self.relid
            );
            self.teardown(client);
            return None;
        }
        self.fail(client, failure)
    }

    fn teardown(&mut self, client: &mut Client) {
        self.stage = Stage::TearingDown;
        if let Err(error) = client.teardown_gpadl(self.gpadl) {
            log::debug!("vmbus: GPADL {:#x} teardown: {error:?}", self.gpadl);
        }
    }

    fn output<M: GuestMemory>(&self, event: DriverEvent<M>) -> Option<BusOutput<M>> {
        Some(BusOutput {
            subscriber: self.subscriber,
            event,
        })
    }

    fn fail<M: GuestMemory>(
        &mut self,
        client: &mut Client,
        failure: OpenFailure,
    ) -> Option<BusOutput<M>> {
        self.failure = Some(failure);
        self.teardown(client);
        None
    }

    /// Advances on a client event about this channel; returns the answer for the driver.
    pub(super) fn on_event<M: GuestMemory + Clone>(
        &mut self,
        client: &mut Client,
        memory: &M,
        event: &ClientEvent,
    ) -> Option<BusOutput<M>> {
        let relid = self.relid;
        match (self.stage, event) {
            (Stage::CreatingGpadl, ClientEvent::GpadlCreated { gpadl, result, .. })
                if *gpadl == self.gpadl =>
            {
                if let Err(error) = result {
                    if self.close_requested {
                        return self.output(DriverEvent::Closed { relid });
                    }
                    self.failure = Some(OpenFailure::Gpadl(*error));
                    return self.output(DriverEvent::Opened {
                        relid,
                        result: Err(OpenFailure::Gpadl(*error)),
                    });
                }
                if let Some(failure) = self.failure.clone() {
                    return self.close_after_failure(client, failure);
                }
                if self.close_requested {
                    // Never opened: only the GPADL to undo.
                    self.teardown(client);
                    return None;
                }
                let request = OpenRequest {
                    ring_gpadl: self.gpadl,
                    downstream_page_offset: (self.rings.outbound_bytes / PAGE_SIZE) as u32,
                    target_vp: self.target_vp,
                    user_data: self.user_data,
                };
                if let Err(error) = client.open_channel(relid, &request) {
                    return self.fail(client, OpenFailure::Client(error));
                }
                self.stage = Stage::Opening;
                None
            }
            (Stage::Opening, ClientEvent::ChannelOpened { result, .. }) => {
                if let Err(error) = result {
                    return self.close_after_failure(client, OpenFailure::Open(*error));
                }
                if self.close_requested {
                    if let Err(error) = client.close_channel(relid) {
                        log::debug!("vmbus: deferred close of relid {relid}: {error:?}");
                    }
                    self.teardown(client);
                    return None;
                }
                let outbound = RingPages::contiguous(self.rings.gpa, self.rings.outbound_bytes)
                    .and_then(|pages| RingSender::new(memory.clone(), pages));
                let inbound = RingPages::contiguous(
                    self.rings.gpa + self.rings.outbound_bytes,
                    self.rings.inbound_bytes,
                )
                .and_then(|pages| RingReceiver::new(memory.clone(), pages));
                match (outbound, inbound) {
                    (Ok(outbound), Ok(inbound)) => {
                        self.stage = Stage::Open;
                        self.output(DriverEvent::Opened {
                            relid,
                            result: Ok(Box::new(ChannelRings { outbound, inbound })),
                        })
                    }
                    _ => {
                        let _ = client.close_channel(relid);
                        self.fail(client, OpenFailure::Ring)
                    }
                }
            }
            (
                Stage::TearingDown,
                ClientEvent::PostFailed {
                    message_type: MessageType::GPADL_TEARDOWN,
                    failure,
                    ..
                },
            ) => {
                // The host still maps the ring pages: they must not be handed back as free.
                log::error!(
                    "vmbus: GPADL {:#x} of relid {relid} could not be torn down ({failure}); \
                     its ring memory stays with the host",
                    self.gpadl
                );
                None
            }
            (Stage::TearingDown, ClientEvent::GpadlTornDown { gpadl, .. })
                if *gpadl == self.gpadl =>
            {
                if self.close_requested {
                    return self.output(DriverEvent::Closed { relid });
                }
                match self.failure.take() {
                    Some(failure) => self.output(DriverEvent::Opened {
                        relid,
                        result: Err(failure),
                    }),
                    None => self.output(DriverEvent::Closed { relid }),
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use hyperv::memory::AtomicMemory;
    use vmbus::client::{Action, ClientConfig};
    use vmbus::guid::{Guid, class};
    use vmbus::messages::encode::{self, OfferFields};

    type Memory = Arc<AtomicMemory>;

    const RELID: u32 = 5;
    const DRIVER: SubscriberId = SubscriberId(1);
    const RINGS: RingMemory = RingMemory {
        gpa: 0x1000,
        outbound_bytes: 2 * PAGE_SIZE,
        inbound_bytes: 2 * PAGE_SIZE,
    };

    /// A channel being opened, and what the host sees of it.
    struct Harness {
        client: Client,
        memory: Memory,
        opening: Opening,
        posted: Vec<MessageType>,
        outputs: Vec<DriverEvent<Memory>>,
    }

    impl Harness {
        fn new() -> Harness {
            let mut client = Client::new(ClientConfig::default());
            client.connect().unwrap();
            client
                .on_message(&encode::version_response(true, 0, 1))
                .unwrap();
            client.request_offers().unwrap();
            client
                .on_message(&encode::offer_channel(&OfferFields {
                    interface_type: class::DXG_VIRTUAL_GPU,
                    interface_instance: Guid { bytes: [7; 16] },
                    flags: 0,
                    mmio_megabytes: 0,
                    user_defined: [0; 120],
                    sub_channel_index: 0,
                    child_relid: RELID,
                    monitor_id: 0xFF,
                    monitor_allocated: false,
                    is_dedicated_interrupt: true,
                    connection_id: 0x100,
                }))
                .unwrap();
            client.subscribe(class::DXG_VIRTUAL_GPU, DRIVER);
            let _ = client.drain_actions().count();
            let memory = Arc::new(AtomicMemory::new(0, 0x10000));
            let opening =
                Opening::start(&mut client, &memory, RELID, DRIVER, 0, RINGS, [0; 120]).unwrap();
            let mut harness = Harness {
                client,
                memory,
                opening,
                posted: Vec::new(),
                outputs: Vec::new(),
            };
            harness.pump();
            assert_eq!(harness.take_posted(), [MessageType::GPADL_HEADER]);
            harness
        }

        /// Carries out the client's actions as the bus does: posts are recorded, events go
        /// to the opening.
        fn pump(&mut self) {
            while let Some(action) = self.client.poll_action() {
                match action {
                    Action::PostMessage { payload, .. } => {
                        let kind = u32::from_le_bytes(payload[..4].try_into().unwrap());
                        self.posted.push(MessageType(kind));
                    }
                    Action::Event { event, .. } => {
                        if let Some(output) =
                            self.opening
                                .on_event(&mut self.client, &self.memory, &event)
                        {
                            assert_eq!(output.subscriber, DRIVER);
                            self.outputs.push(output.event);
                        }
                    }
                    Action::SignalEvent { .. } => {}
                }
            }
        }

        fn host(&mut self, message: &[u8]) {
            self.client.on_message(message).unwrap();
            self.pump();
        }

        fn close(&mut self) {
            self.opening.close(&mut self.client);
            self.pump();
        }

        fn take_posted(&mut self) -> Vec<MessageType> {
            core::mem::take(&mut self.posted)
        }

        fn gpadl(&self) -> u32 {
            self.opening.gpadl
        }

        fn closed(&self) -> bool {
            matches!(self.outputs[..], [DriverEvent::Closed { relid: RELID }])
        }
    }

    fn open_in_flight() -> Harness {
        let mut harness = Harness::new();
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_created(RELID, gpadl, 0));
        assert_eq!(harness.take_posted(), [MessageType::OPEN_CHANNEL]);
        harness
    }

    #[test]
    fn an_open_that_times_out_reports_it_and_a_late_answer_ends_in_closed() {
        let mut harness = open_in_flight();
        assert_eq!(harness.opening.waiting_since(), Some(0));
        let output = harness.opening.time_out::<Memory>(30);
        assert!(matches!(
            output.map(|output| output.event),
            Some(DriverEvent::Opened {
                relid: RELID,
                result: Err(OpenFailure::TimedOut { milliseconds: 30 })
            })
        ));
        assert_eq!(harness.opening.waiting_since(), None, "reported once");
        // The host answers late: the open is undone, and only then is the memory free.
        harness.host(&encode::open_channel_result(RELID, RELID, 0));
        assert_eq!(
            harness.take_posted(),
            [MessageType::CLOSE_CHANNEL, MessageType::GPADL_TEARDOWN]
        );
        assert!(harness.outputs.is_empty(), "ring memory still mapped");
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_gpadl_that_times_out_is_torn_down_when_created_late() {
        let mut harness = Harness::new();
        assert!(harness.opening.time_out::<Memory>(30).is_some());
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_created(RELID, gpadl, 0));
        assert_eq!(harness.take_posted(), [MessageType::GPADL_TEARDOWN]);
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_close_during_the_open_waits_for_the_result_then_closes_and_tears_down() {
        let mut harness = open_in_flight();
        harness.close();
        assert_eq!(
            harness.take_posted(),
            [],
            "no GPADL_TEARDOWN while the open is in flight"
        );
        assert!(harness.outputs.is_empty());
        harness.host(&encode::open_channel_result(RELID, RELID, 0));
        assert_eq!(
            harness.take_posted(),
            [MessageType::CLOSE_CHANNEL, MessageType::GPADL_TEARDOWN]
        );
        assert!(harness.outputs.is_empty(), "ring memory still mapped");
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_close_during_a_refused_open_tears_down_after_the_refusal() {
        let mut harness = open_in_flight();
        harness.close();
        assert_eq!(harness.take_posted(), []);
        harness.host(&encode::open_channel_result(RELID, RELID, 0xC000_0001));
        assert_eq!(harness.take_posted(), [MessageType::GPADL_TEARDOWN]);
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_close_during_the_open_ends_at_the_rescind() {
        let mut harness = open_in_flight();
        harness.close();
        assert_eq!(harness.take_posted(), []);
        harness.host(&encode::rescind_channel_offer(RELID));
        // The teardown of a rescinded channel's GPADL completes locally.
        assert_eq!(
            harness.take_posted(),
            [MessageType::GPADL_TEARDOWN, MessageType::RELID_RELEASED]
        );
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_close_during_gpadl_creation_tears_the_gpadl_down_once_created() {
        let mut harness = Harness::new();
        harness.close();
        assert_eq!(harness.take_posted(), []);
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_created(RELID, gpadl, 0));
        assert_eq!(
            harness.take_posted(),
            [MessageType::GPADL_TEARDOWN],
            "never opened: no OPENCHANNEL"
        );
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }

    #[test]
    fn a_close_of_an_open_channel_closes_and_tears_down_at_once() {
        let mut harness = open_in_flight();
        harness.host(&encode::open_channel_result(RELID, RELID, 0));
        assert!(matches!(
            harness.outputs.pop(),
            Some(DriverEvent::Opened { result: Ok(_), .. })
        ));
        harness.client.close_channel(RELID).unwrap();
        harness.close();
        assert_eq!(
            harness.take_posted(),
            [MessageType::CLOSE_CHANNEL, MessageType::GPADL_TEARDOWN]
        );
        let gpadl = harness.gpadl();
        harness.host(&encode::gpadl_torndown(gpadl));
        assert!(harness.closed(), "{:?}", harness.outputs);
    }
}
