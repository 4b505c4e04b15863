//! Channel offers and the client's per-channel and per-GPADL state.

use crate::guid::Guid;
use crate::messages::OfferChannel;

/// A channel as the host offered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOffer {
    /// Device class.
    pub class: Guid,
    /// Device instance.
    pub instance: Guid,
    /// The relid (channel id); also the SIEF bit the host sets to signal the guest.
    pub relid: u32,
    /// Connection id for guest→host signals (HvSignalEvent).
    pub connection_id: u32,
    /// Whether the channel has its own connection id (all modern hosts).
    pub is_dedicated_interrupt: bool,
    /// MMIO space the device wants, in MiB.
    pub mmio_megabytes: u16,
    /// Offer flags.
    pub flags: u16,
    /// The user-defined area.
    pub user_defined: [u8; 120],
    /// Sub-channel index (0: primary).
    pub sub_channel_index: u16,
    /// Monitor id, if the host allocated one.
    pub monitor_id: Option<u8>,
}

impl ChannelOffer {
    /// Extracts the offer from a parsed OFFERCHANNEL.
    pub fn from_message(message: &OfferChannel) -> Self {
        ChannelOffer {
            class: message.interface_type,
            instance: message.interface_instance,
            relid: message.child_relid.get(),
            connection_id: message.connection_id.get(),
            is_dedicated_interrupt: message.is_dedicated_interrupt.get() & 1 != 0,
            mmio_megabytes: message.mmio_megabytes.get(),
            flags: message.flags.get(),
            user_defined: message.user_defined,
            sub_channel_index: message.sub_channel_index.get(),
            monitor_id: (message.monitor_allocated & 1 != 0).then_some(message.monitor_id),
        }
    }
}

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Offered, not open.
    Offered,
    /// OPENCHANNEL sent, waiting for the result.
    Opening {
        /// The open id sent.
        open_id: u32,
    },
    /// Open.
    Open,
}

/// The client's record of one channel.
#[derive(Clone, Debug)]
pub(super) struct Channel {
    pub offer: ChannelOffer,
    pub state: ChannelState,
    pub rescinded: bool,
    /// The ring GPADL of the last OPENCHANNEL sent (meaningful while `Opening`).
    pub ring_gpadl: Option<u32>,
}

/// Where a GPADL is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlState {
    /// GPADL_HEADER/BODY sent, waiting for GPADL_CREATED.
    Creating,
    /// Created.
    Created,
    /// GPADL_TEARDOWN sent, waiting for GPADL_TORNDOWN.
    TearingDown,
}

/// The client's record of one GPADL.
#[derive(Clone, Copy, Debug)]
pub(super) struct Gpadl {
    pub relid: u32,
    pub state: GpadlState,
}
