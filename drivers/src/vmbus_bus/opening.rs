//! The open and close sequences of one channel: both ring control pages initialised with the
//! pending-send-size feature bit (as Linux's `hv_ringbuffer_init`, before the GPADL and
//! OPENCHANNEL), GPADL for the ring pages, OPENCHANNEL, and back (CLOSECHANNEL, GPADL
//! teardown).

use hyperv::memory::{GuestMemory, PAGE_SIZE};
use vmbus::client::{
    Client, ClientError, ClientEvent, GpadlCreateError, OpenError, OpenRequest, SubscriberId,
};
use vmbus::messages::MessageType;
use vmbus::ring::{
    FEATURE_PENDING_SEND_SIZE, RingPages, RingReceiver, RingSender, initialize_control_page,
};

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
        })
    }

    /// The host rescinded the channel: an open in progress fails.
    pub(super) fn rescinded(&mut self) {
        if matches!(self.stage, Stage::CreatingGpadl | Stage::Opening) {
            self.failure = Some(OpenFailure::Rescinded);
        }
    }

    /// The driver closed the channel: tear the GPADL down.
    pub(super) fn close(&mut self, client: &mut Client) {
        self.teardown(client);
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
                    self.failure = Some(OpenFailure::Gpadl(*error));
                    return self.output(DriverEvent::Opened {
                        relid,
                        result: Err(OpenFailure::Gpadl(*error)),
                    });
                }
                if let Some(failure) = self.failure.clone() {
                    return self.fail(client, failure);
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
                    return self.fail(client, OpenFailure::Open(*error));
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
                            result: Ok(ChannelRings { outbound, inbound }),
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
