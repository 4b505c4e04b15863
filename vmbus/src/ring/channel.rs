//! Both rings of a channel, from either side's point of view.

use super::{
    FEATURE_PENDING_SEND_SIZE, RingError, RingReceiver, RingSender, initialize_control_page,
    split_channel_rings,
};
use hyperv::memory::GuestMemory;

/// A channel's two ring ends as one side sees them.
#[derive(Debug)]
pub struct ChannelRings<M: GuestMemory> {
    /// This side's outgoing ring.
    pub sender: RingSender<M>,
    /// This side's incoming ring.
    pub receiver: RingReceiver<M>,
}

impl<M: GuestMemory + Clone> ChannelRings<M> {
    /// The guest's view of the ring GPADL pages `pfns`: initialises both control pages (the
    /// guest does this before OPENCHANNEL), sends on pages `[0, downstream_page_offset)` and
    /// receives on the rest.
    pub fn initialize_for_guest(
        memory: M,
        pfns: &[u64],
        downstream_page_offset: u32,
    ) -> Result<Self, RingError> {
        let (outbound, inbound) = split_channel_rings(pfns, downstream_page_offset)?;
        initialize_control_page(&memory, &outbound, FEATURE_PENDING_SEND_SIZE)?;
        initialize_control_page(&memory, &inbound, FEATURE_PENDING_SEND_SIZE)?;
        Ok(ChannelRings {
            sender: RingSender::new(memory.clone(), outbound)?,
            receiver: RingReceiver::new(memory, inbound)?,
        })
    }

    /// The host's view: receives on pages `[0, downstream_page_offset)`, sends on the rest;
    /// the indices found in the control pages are validated, not reset.
    pub fn attach_for_host(
        memory: M,
        pfns: &[u64],
        downstream_page_offset: u32,
    ) -> Result<Self, RingError> {
        let (inbound, outbound) = split_channel_rings(pfns, downstream_page_offset)?;
        Ok(ChannelRings {
            sender: RingSender::new(memory.clone(), outbound)?,
            receiver: RingReceiver::new(memory, inbound)?,
        })
    }
}
