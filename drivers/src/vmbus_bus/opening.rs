//! The open and close sequences of one channel: GPADL for the ring pages, OPENCHANNEL, and
//! back (CLOSECHANNEL, GPADL teardown).

use hyperv::memory::{GuestMemory, PAGE_SIZE};
use vmbus::client::{
    Client, ClientError, ClientEvent, GpadlCreateError, OpenError, OpenRequest, SubscriberId,
};
use vmbus::ring::{RingPages, RingReceiver, RingSender};

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
    /// Starts the sequence by creating the GPADL.
    pub(super) fn start(
        client: &mut Client,
        relid: u32,
        subscriber: SubscriberId,
        target_vp: u32,
        rings: RingMemory,
        user_data: [u8; 120],
    ) -> Result<Opening, OpenFailure> {
        if !rings.is_valid() {
            return Err(OpenFailure::BadRingMemory);
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
