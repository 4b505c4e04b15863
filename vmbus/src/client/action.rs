//! What the client asks its caller to do, and the events it reports to drivers.

use super::channel::ChannelOffer;
use crate::messages::MessageType;
use crate::post_retry::PostFailure;
use crate::version::Version;
use alloc::vec::Vec;

/// Identifies a driver that subscribed to a device class (chosen by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(pub u32);

/// Why an open failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The host answered with a non-zero status.
    Status(u32),
    /// The offer was rescinded before the host answered (the host drops such opens).
    Rescinded,
    /// OPENCHANNEL could not be posted.
    PostFailed(PostFailure),
}

/// Why a GPADL was not created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlCreateError {
    /// The host answered with a non-zero status.
    Status(u32),
    /// The offer was rescinded while the GPADL was being created.
    Rescinded,
    /// A GPADL_HEADER or GPADL_BODY could not be posted (the rest of the GPADL was not sent).
    PostFailed(PostFailure),
}

/// An event for the bus task or for the driver of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The host accepted `version`.
    Connected {
        /// The negotiated version.
        version: Version,
    },
    /// The host refused every version (or reported a failed connection state).
    ConnectFailed,
    /// A channel was offered.
    OfferArrived(ChannelOffer),
    /// The host has sent every offer it had when REQUESTOFFERS arrived.
    AllOffersDelivered,
    /// The host withdrew the channel. The driver must close it (if open) and tear down its
    /// GPADLs; the client then sends RELID_RELEASED by itself.
    OfferRescinded {
        /// The channel.
        relid: u32,
    },
    /// Answer to [`super::Client::create_gpadl`].
    GpadlCreated {
        /// Owning channel.
        relid: u32,
        /// The handle.
        gpadl: u32,
        /// Outcome.
        result: Result<(), GpadlCreateError>,
    },
    /// Answer to [`super::Client::teardown_gpadl`]; the pages may be reused.
    GpadlTornDown {
        /// Owning channel.
        relid: u32,
        /// The handle.
        gpadl: u32,
    },
    /// Answer to [`super::Client::open_channel`].
    ChannelOpened {
        /// The channel.
        relid: u32,
        /// Outcome.
        result: Result<(), OpenError>,
    },
    /// The host signalled the channel (its SIEF bit was set): read the inbound ring.
    ChannelSignalled {
        /// The channel.
        relid: u32,
    },
    /// A rescinded relid was released; it may be offered again.
    RelidReleased {
        /// The channel.
        relid: u32,
    },
    /// UNLOAD completed; the connection is gone and [`super::Client::connect`] may be called
    /// (after [`super::Client::restart`] the client has already started connecting again).
    Unloaded,
    /// The connection ended (UNLOAD) while the channel existed: it is gone with everything
    /// asked of it (an open, a close, GPADLs in flight). Sent to the channel's subscriber just
    /// before [`ClientEvent::Unloaded`]; the offer comes again on the next connection.
    ChannelReset {
        /// The channel.
        relid: u32,
        /// Whether the host confirmed the unload (UNLOAD_RESPONSE): it then holds none of the
        /// channel's memory (rings, GPADL pages) any more and the driver may free it. `false`
        /// when the unload ended without the host (below 3.0, or the UNLOAD could not be
        /// posted): the host may still use that memory, which must stay allocated.
        memory_released: bool,
    },
    /// A message with no other answer could not be posted (REQUESTOFFERS, CLOSECHANNEL,
    /// GPADL_TEARDOWN, RELID_RELEASED, MODIFYCHANNEL). The client's state is as before the
    /// request where that is possible (a GPADL being torn down is `Created` again).
    PostFailed {
        /// The channel the message was about, if any.
        relid: Option<u32>,
        /// The message that was not delivered.
        message_type: MessageType,
        /// Why.
        failure: PostFailure,
    },
}

/// Something for the caller to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// HvPostMessage(`connection_id`, `message_type`, `payload`).
    PostMessage {
        /// Target connection id.
        connection_id: u32,
        /// SynIC message type (always 1 for VMBus).
        message_type: u32,
        /// The control message.
        payload: Vec<u8>,
    },
    /// HvSignalEvent(`connection_id`, flag 0).
    SignalEvent {
        /// The channel's signalling connection id.
        connection_id: u32,
    },
    /// Deliver `event` to `subscriber` (`None`: the bus task itself, or an unclaimed channel).
    Event {
        /// Who should get it.
        subscriber: Option<SubscriberId>,
        /// The event.
        event: ClientEvent,
    },
}
