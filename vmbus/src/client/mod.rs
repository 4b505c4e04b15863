//! The VMBus client state machine (sans-I/O).
//!
//! Inputs: [`Client::on_message`] with each SynIC message payload from the VMBus SINT,
//! [`Client::on_post_message_failed`] when HvPostMessage fails, [`Client::on_channel_signal`]
//! for each SIEF bit found set, and typed requests ([`Client::connect`],
//! [`Client::request_offers`], [`Client::create_gpadl`], [`Client::open_channel`],
//! [`Client::close_channel`], [`Client::teardown_gpadl`], [`Client::unload`]).
//! Output: a queue of [`Action`]s taken with [`Client::poll_action`].
//!
//! Connection: INITIATE_CONTACT for each version of [`SUPPORTED_VERSIONS`] at or below the
//! configured maximum, newest first, on connection id 4 (≥ 5.0) or 1; a refusal moves to the
//! next older version, as does a failed post of the request (INVALID_CONNECTION_ID: hosts
//! without 5.0 do not listen on id 4, so the walk reaches 4.1 on id 1). After acceptance every
//! message goes to the connection id the host returned (≥ 5.0) or to 1. A returned id of 0 or
//! with bits above the 24-bit id set fails the connection (stricter than Linux, which uses it
//! unchecked).
//!
//! Posting: the caller posts each [`Action::PostMessage`] in order, retrying transient
//! failures as [`crate::post_retry`] says, and reports a message it gave up on with
//! [`Client::on_post_message_failed`]; the request it carried then fails with a typed error.
//!
//! Channels: each offer becomes a channel keyed by relid. Drivers subscribe by class GUID and
//! receive that class's offers, rescinds and channel events. A rescind may come at any time:
//! an open in flight fails with [`OpenError::Rescinded`], GPADLs being created fail, and once
//! the driver has closed the channel and torn down its GPADLs the client sends RELID_RELEASED.
//! Host messages that make no sense are rejected with a [`ClientError`], logged and dropped.

mod action;
mod channel;
mod error;
#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests;

pub use action::{Action, ClientEvent, GpadlCreateError, OpenError, SubscriberId};
pub use channel::{ChannelOffer, ChannelState, GpadlState};
pub use error::ClientError;

use crate::guid::Guid;
use crate::messages::{
    ControlMessage, GpadlCreated, GpadlTorndown, MessageType, OfferChannel, OpenChannelResult,
    VersionResponse, encode, parse,
};
use crate::post_retry::PostFailure;
use crate::version::{
    MAX_RELID, MESSAGE_CONNECTION_ID, SUPPORTED_VERSIONS, VMBUS_SINT, VMBUS_SYNIC_MESSAGE_TYPE,
    Version, is_valid_message_connection_id,
};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use channel::{Channel, Gpadl};

/// What a fresh client must know of the connection an earlier client instance left behind
/// (e.g. one that died with its task) to end it with UNLOAD before connecting again: the
/// version and message connection id the host gave it ([`Client::previous_connection`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousConnection {
    /// The negotiated version.
    pub version: Version,
    /// The connection id control messages went to.
    pub message_connection_id: u32,
}

/// Fixed parameters of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// VP index that receives control messages.
    pub target_vp: u32,
    /// Highest version to propose.
    pub max_version: Version,
    /// GPA of the interrupt page, used for versions < 5.0 (0 if none).
    pub interrupt_page: u64,
    /// GPAs of the parent→child and child→parent monitor pages (0 if none).
    pub monitor_pages: (u64, u64),
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            target_vp: 0,
            max_version: SUPPORTED_VERSIONS[0],
            interrupt_page: 0,
            monitor_pages: (0, 0),
        }
    }
}

/// Parameters of [`Client::open_channel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The GPADL covering both rings (created for this channel).
    pub ring_gpadl: u32,
    /// Pages of the guest→host ring including its control page.
    pub downstream_page_offset: u32,
    /// VP index for host→guest interrupts.
    pub target_vp: u32,
    /// Data for the device.
    pub user_data: [u8; 120],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    Disconnected,
    Connecting {
        version_index: usize,
    },
    Connected {
        version: Version,
        message_connection_id: u32,
    },
    Unloading {
        version: Version,
        message_connection_id: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offers {
    NotRequested,
    Requested,
    Delivered,
}

/// First GPADL handle (Linux starts here too; any non-zero unique value works).
const FIRST_GPADL_HANDLE: u32 = 0xE1E10;

/// The client state machine. One per VMBus connection.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    connection: Connection,
    offers: Offers,
    channels: BTreeMap<u32, Channel>,
    gpadls: BTreeMap<u32, Gpadl>,
    /// GPADLs of rescinded channels dropped without waiting; a late GPADL_TORNDOWN is absorbed.
    abandoned_gpadls: BTreeSet<u32>,
    next_gpadl: u32,
    subscriptions: BTreeMap<Guid, SubscriberId>,
    actions: VecDeque<Action>,
    /// Connect again as soon as the unload in progress completes ([`Client::restart`]).
    reconnect_after_unload: bool,
    /// One above the highest relid ever offered to this client ([`Client::relid_limit`]).
    relid_limit: u32,
}

impl Client {
    /// A disconnected client.
    pub fn new(config: ClientConfig) -> Self {
        Client {
            config,
            connection: Connection::Disconnected,
            offers: Offers::NotRequested,
            channels: BTreeMap::new(),
            gpadls: BTreeMap::new(),
            abandoned_gpadls: BTreeSet::new(),
            next_gpadl: FIRST_GPADL_HANDLE,
            subscriptions: BTreeMap::new(),
            actions: VecDeque::new(),
            reconnect_after_unload: false,
            relid_limit: 0,
        }
    }

    /// The connection as [`Client::restart_after`] needs it in a later client instance, while
    /// connected.
    pub fn previous_connection(&self) -> Option<PreviousConnection> {
        match self.connection {
            Connection::Connected {
                version,
                message_connection_id,
            } => Some(PreviousConnection {
                version,
                message_connection_id,
            }),
            _ => None,
        }
    }

    /// Restarts the connection as Linux's kexec path does (torvalds/linux
    /// `drivers/hv/channel_mgmt.c` `vmbus_initiate_unload`, then `vmbus_connect` in the new
    /// kernel, `drivers/hv/connection.c`): UNLOAD; when UNLOAD_RESPONSE comes, every channel
    /// is reset ([`ClientEvent::ChannelReset`] to its subscriber, memory released), the
    /// client reports [`ClientEvent::Unloaded`] and starts again with INITIATE_CONTACT, fresh
    /// state and the same subscriptions: the offers come again ([`ClientEvent::Connected`],
    /// then REQUESTOFFERS as after [`Client::connect`]). Needs protocol 3.0
    /// ([`ClientError::RestartUnsupported`] below: the bus stays down).
    pub fn restart(&mut self) -> Result<(), ClientError> {
        let Some(previous) = self.previous_connection() else {
            return Err(ClientError::NotConnected);
        };
        if !previous.version.supports_unload() {
            return Err(ClientError::RestartUnsupported {
                version: previous.version,
            });
        }
        self.unload()?;
        self.reconnect_after_unload = true;
        Ok(())
    }

    /// [`Client::restart`] for a fresh, disconnected client whose host still holds the
    /// connection of an earlier instance (`previous`): UNLOAD on that connection's id, then,
    /// when UNLOAD_RESPONSE comes, INITIATE_CONTACT. The earlier instance's channels are not
    /// known here; the host releases them all at the UNLOAD.
    pub fn restart_after(&mut self, previous: PreviousConnection) -> Result<(), ClientError> {
        if self.connection != Connection::Disconnected {
            return Err(ClientError::AlreadyConnected);
        }
        if !previous.version.supports_unload() {
            return Err(ClientError::RestartUnsupported {
                version: previous.version,
            });
        }
        self.post(previous.message_connection_id, encode::unload());
        self.connection = Connection::Unloading {
            version: previous.version,
            message_connection_id: previous.message_connection_id,
        };
        self.reconnect_after_unload = true;
        Ok(())
    }

    /// Takes the next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Takes all pending actions.
    pub fn drain_actions(&mut self) -> impl Iterator<Item = Action> + '_ {
        self.actions.drain(..)
    }

    /// The negotiated version, once connected.
    pub fn version(&self) -> Option<Version> {
        match self.connection {
            Connection::Connected { version, .. } | Connection::Unloading { version, .. } => {
                Some(version)
            }
            _ => None,
        }
    }

    /// Whether the version handshake is in progress (INITIATE_CONTACT sent, no answer yet).
    pub fn is_connecting(&self) -> bool {
        matches!(self.connection, Connection::Connecting { .. })
    }

    /// Whether the version handshake has completed.
    pub fn is_connected(&self) -> bool {
        matches!(self.connection, Connection::Connected { .. })
    }

    /// The offer of a channel.
    pub fn offer(&self, relid: u32) -> Option<&ChannelOffer> {
        self.channels.get(&relid).map(|channel| &channel.offer)
    }

    /// The state of a channel.
    pub fn channel_state(&self, relid: u32) -> Option<ChannelState> {
        self.channels.get(&relid).map(|channel| channel.state)
    }

    /// The state of a GPADL.
    pub fn gpadl_state(&self, gpadl: u32) -> Option<GpadlState> {
        self.gpadls.get(&gpadl).map(|entry| entry.state)
    }

    /// All current (not rescinded) offers.
    pub fn offers(&self) -> impl Iterator<Item = &ChannelOffer> + '_ {
        self.channels
            .values()
            .filter(|channel| !channel.rescinded)
            .map(|channel| &channel.offer)
    }

    /// Routes offers of `class` and their channel events to `subscriber`; offers already known
    /// are delivered again at once.
    pub fn subscribe(&mut self, class: Guid, subscriber: SubscriberId) {
        self.subscriptions.insert(class, subscriber);
        let offers: Vec<ChannelOffer> = self
            .channels
            .values()
            .filter(|channel| channel.offer.class == class && !channel.rescinded)
            .map(|channel| channel.offer.clone())
            .collect();
        for offer in offers {
            self.event(Some(subscriber), ClientEvent::OfferArrived(offer));
        }
    }

    /// Starts the version handshake.
    pub fn connect(&mut self) -> Result<(), ClientError> {
        if self.connection != Connection::Disconnected {
            return Err(ClientError::AlreadyConnected);
        }
        let max = self.config.max_version;
        match SUPPORTED_VERSIONS
            .iter()
            .position(|version| *version <= max)
        {
            Some(index) => self.try_version(index),
            None => self.event(None, ClientEvent::ConnectFailed),
        }
        Ok(())
    }

    fn try_version(&mut self, version_index: usize) {
        let Some(version) = SUPPORTED_VERSIONS.get(version_index).copied() else {
            self.connection = Connection::Disconnected;
            log::warn!("vmbus: the host accepted no protocol version");
            self.event(None, ClientEvent::ConnectFailed);
            return;
        };
        self.connection = Connection::Connecting { version_index };
        let target_info = if version.has_message_connection_id() {
            encode::target_info(VMBUS_SINT, 0, 0)
        } else {
            self.config.interrupt_page
        };
        let payload = encode::initiate_contact(
            version.0,
            self.config.target_vp,
            target_info,
            self.config.monitor_pages.0,
            self.config.monitor_pages.1,
        );
        self.post(version.initiate_contact_connection_id(), payload);
    }

    /// Reports that the message `payload` (from one of this client's
    /// [`Action::PostMessage`]s) was not delivered, after the caller's retries (see
    /// [`crate::post_retry`]). The request it carried fails and whoever waits is told:
    /// - INITIATE_CONTACT: the handshake moves on to the next older version at once (as
    ///   Linux's `vmbus_connect` does for any failure to post it), ending in
    ///   [`ClientEvent::ConnectFailed`] after the oldest;
    /// - GPADL_HEADER/BODY: [`ClientEvent::GpadlCreated`] with
    ///   [`GpadlCreateError::PostFailed`]; the GPADL's remaining bodies are not sent;
    /// - OPENCHANNEL: [`ClientEvent::ChannelOpened`] with [`OpenError::PostFailed`];
    /// - UNLOAD: the unload completes locally ([`ClientEvent::Unloaded`]);
    /// - anything else: [`ClientEvent::PostFailed`] to the channel's subscriber (or the bus).
    ///
    /// A payload that is not a control message is refused with [`ClientError::Parse`].
    pub fn on_post_message_failed(
        &mut self,
        payload: &[u8],
        failure: PostFailure,
    ) -> Result<(), ClientError> {
        let message = parse(payload)?;
        let message_type = message.message_type();
        log::warn!("vmbus: {message_type:?} not delivered: {failure}");
        match message {
            ControlMessage::InitiateContact { message, .. } => {
                if let Connection::Connecting { version_index } = self.connection
                    && SUPPORTED_VERSIONS
                        .get(version_index)
                        .map(|version| version.0)
                        == Some(message.version_requested.get())
                {
                    // An index past the end makes `try_version` end the walk.
                    self.try_version(version_index.saturating_add(1));
                }
            }
            ControlMessage::GpadlHeader { message, .. } => {
                self.gpadl_post_failed(message.gpadl.get(), failure);
            }
            ControlMessage::GpadlBody { message, .. } => {
                self.gpadl_post_failed(message.gpadl.get(), failure);
            }
            ControlMessage::OpenChannel { message, .. } => {
                let relid = message.child_relid.get();
                if let Some(channel) = self.channels.get_mut(&relid)
                    && matches!(channel.state, ChannelState::Opening { .. })
                {
                    channel.state = ChannelState::Offered;
                    let result = Err(OpenError::PostFailed(failure));
                    self.channel_event(relid, ClientEvent::ChannelOpened { relid, result });
                    self.release_if_done(relid);
                }
            }
            ControlMessage::GpadlTeardown(message) => {
                let (relid, gpadl) = (message.child_relid.get(), message.gpadl.get());
                if let Some(entry) = self.gpadls.get_mut(&gpadl)
                    && entry.state == GpadlState::TearingDown
                {
                    entry.state = GpadlState::Created;
                }
                self.post_failed_event(Some(relid), message_type, failure);
            }
            ControlMessage::Unload => {
                if matches!(self.connection, Connection::Unloading { .. }) {
                    self.finish_unload(false);
                }
            }
            ControlMessage::CloseChannel(message) => {
                self.post_failed_event(Some(message.child_relid.get()), message_type, failure);
            }
            ControlMessage::RelidReleased(message) => {
                self.post_failed_event(Some(message.child_relid.get()), message_type, failure);
            }
            ControlMessage::ModifyChannel(message) => {
                self.post_failed_event(Some(message.child_relid.get()), message_type, failure);
            }
            _ => self.post_failed_event(None, message_type, failure),
        }
        Ok(())
    }

    /// A GPADL_HEADER or BODY of `gpadl` was not delivered: the GPADL fails and its bodies
    /// still queued are dropped (the host cannot complete it).
    fn gpadl_post_failed(&mut self, gpadl: u32, failure: PostFailure) {
        self.actions.retain(|action| match action {
            Action::PostMessage { payload, .. } => !is_gpadl_body_of(payload, gpadl),
            _ => true,
        });
        let Some(entry) = self.gpadls.get(&gpadl).copied() else {
            return;
        };
        if entry.state != GpadlState::Creating {
            return;
        }
        self.gpadls.remove(&gpadl);
        // The host may hold part of it; a late GPADL_TORNDOWN is absorbed.
        self.abandoned_gpadls.insert(gpadl);
        let relid = entry.relid;
        let result = Err(GpadlCreateError::PostFailed(failure));
        self.channel_event(
            relid,
            ClientEvent::GpadlCreated {
                relid,
                gpadl,
                result,
            },
        );
        self.release_if_done(relid);
    }

    fn post_failed_event(
        &mut self,
        relid: Option<u32>,
        message_type: MessageType,
        failure: PostFailure,
    ) {
        let event = ClientEvent::PostFailed {
            relid,
            message_type,
            failure,
        };
        match relid {
            Some(relid) => self.channel_event(relid, event),
            None => self.event(None, event),
        }
    }

    /// Sends REQUESTOFFERS (once per connection).
    pub fn request_offers(&mut self) -> Result<(), ClientError> {
        let connection_id = self.message_connection_id()?;
        if self.offers != Offers::NotRequested {
            return Err(ClientError::OffersAlreadyRequested);
        }
        self.offers = Offers::Requested;
        self.post(connection_id, encode::request_offers());
        Ok(())
    }

    /// Describes guest pages to the host for channel `relid`; returns the GPADL handle. The
    /// answer arrives as [`ClientEvent::GpadlCreated`]. Up to 8190 pages (the protocol limit).
    pub fn create_gpadl(
        &mut self,
        relid: u32,
        byte_offset: u32,
        byte_count: u32,
        pfns: &[u64],
    ) -> Result<u32, ClientError> {
        let connection_id = self.message_connection_id()?;
        self.live_channel(relid)?;
        let gpadl = self.next_gpadl;
        let next = gpadl.checked_add(1).ok_or(ClientError::OutOfGpadlHandles)?;
        let messages = crate::gpadl::split(relid, gpadl, byte_offset, byte_count, pfns)?;
        self.next_gpadl = next;
        self.gpadls.insert(
            gpadl,
            Gpadl {
                relid,
                state: GpadlState::Creating,
            },
        );
        for payload in messages {
            self.post(connection_id, payload);
        }
        Ok(gpadl)
    }

    /// Withdraws a GPADL. The answer arrives as [`ClientEvent::GpadlTornDown`] (at once for a
    /// rescinded channel, whose host may not answer). The ring GPADL of an OPENCHANNEL still
    /// waiting for its result is refused ([`ClientError::OpenInFlight`]): the host may be
    /// mapping the rings, so as in Linux (whose `vmbus_open` waits for the result or the
    /// rescind before `vmbus_teardown_gpadl`, torvalds/linux drivers/hv/channel.c) the teardown
    /// waits for [`ClientEvent::ChannelOpened`].
    pub fn teardown_gpadl(&mut self, gpadl: u32) -> Result<(), ClientError> {
        let connection_id = self.message_connection_id()?;
        let entry = *self
            .gpadls
            .get(&gpadl)
            .ok_or(ClientError::UnknownGpadl(gpadl))?;
        if entry.state != GpadlState::Created {
            return Err(ClientError::GpadlNotReady(gpadl));
        }
        if self.channels.get(&entry.relid).is_some_and(|channel| {
            matches!(channel.state, ChannelState::Opening { .. })
                && channel.ring_gpadl == Some(gpadl)
        }) {
            return Err(ClientError::OpenInFlight {
                relid: entry.relid,
                gpadl,
            });
        }
        self.post(connection_id, encode::gpadl_teardown(entry.relid, gpadl));
        let rescinded = self
            .channels
            .get(&entry.relid)
            .is_none_or(|channel| channel.rescinded);
        if rescinded {
            self.gpadls.remove(&gpadl);
            self.abandoned_gpadls.insert(gpadl);
            self.channel_event(
                entry.relid,
                ClientEvent::GpadlTornDown {
                    relid: entry.relid,
                    gpadl,
                },
            );
            self.release_if_done(entry.relid);
        } else if let Some(entry) = self.gpadls.get_mut(&gpadl) {
            entry.state = GpadlState::TearingDown;
        }
        Ok(())
    }

    /// Opens a channel over a created GPADL. The answer arrives as
    /// [`ClientEvent::ChannelOpened`].
    pub fn open_channel(&mut self, relid: u32, request: &OpenRequest) -> Result<(), ClientError> {
        let connection_id = self.message_connection_id()?;
        let channel = self.live_channel(relid)?;
        if channel.state != ChannelState::Offered {
            return Err(ClientError::ChannelBusy(relid));
        }
        match self.gpadls.get(&request.ring_gpadl) {
            Some(entry) if entry.relid == relid && entry.state == GpadlState::Created => {}
            Some(entry) if entry.relid == relid => {
                return Err(ClientError::GpadlNotReady(request.ring_gpadl));
            }
            _ => return Err(ClientError::UnknownGpadl(request.ring_gpadl)),
        }
        let open_id = relid;
        if let Some(channel) = self.channels.get_mut(&relid) {
            channel.state = ChannelState::Opening { open_id };
            channel.ring_gpadl = Some(request.ring_gpadl);
        }
        let payload = encode::open_channel(
            relid,
            open_id,
            request.ring_gpadl,
            request.target_vp,
            request.downstream_page_offset,
            &request.user_data,
        );
        self.post(connection_id, payload);
        Ok(())
    }

    /// Closes an open channel (CLOSECHANNEL has no reply). Tear down its GPADLs afterwards.
    pub fn close_channel(&mut self, relid: u32) -> Result<(), ClientError> {
        let connection_id = self.message_connection_id()?;
        let channel = self
            .channels
            .get_mut(&relid)
            .ok_or(ClientError::UnknownRelid(relid))?;
        if channel.state != ChannelState::Open {
            return Err(ClientError::ChannelBusy(relid));
        }
        channel.state = ChannelState::Offered;
        self.post(connection_id, encode::close_channel(relid));
        self.release_if_done(relid);
        Ok(())
    }

    /// Moves host→guest interrupts of a channel to `target_vp` (MODIFYCHANNEL, ≥ 4.1). Hosts
    /// from 5.3 answer with MODIFYCHANNEL_RESPONSE, which the client accepts and ignores.
    pub fn modify_channel(&mut self, relid: u32, target_vp: u32) -> Result<(), ClientError> {
        let connection_id = self.message_connection_id()?;
        self.live_channel(relid)?;
        self.post(connection_id, encode::modify_channel(relid, target_vp));
        Ok(())
    }

    /// Emits the HvSignalEvent that tells the host to look at the channel's outbound ring
    /// (call it when a ring operation returned "signal needed"). Only an open channel is
    /// signalled: before OPENCHANNEL_RESULT or after CLOSECHANNEL its connection id is not the
    /// guest's to signal, so the request gets [`ClientError::ChannelBusy`].
    pub fn signal_channel(&mut self, relid: u32) -> Result<(), ClientError> {
        let channel = self
            .channels
            .get(&relid)
            .ok_or(ClientError::UnknownRelid(relid))?;
        if channel.state != ChannelState::Open {
            return Err(ClientError::ChannelBusy(relid));
        }
        if !channel.offer.is_dedicated_interrupt {
            log::warn!(
                "vmbus: channel {relid} has no dedicated interrupt; signalling its connection id anyway"
            );
        }
        let connection_id = channel.offer.connection_id;
        self.actions
            .push_back(Action::SignalEvent { connection_id });
        Ok(())
    }

    /// One above the highest relid ever offered to this client (0 before any offer): a
    /// channel signal for a relid at or above it concerns no channel, so the SIEF scan can
    /// stop there. A high-water mark, as FreeBSD's vmbus keeps its event-flag word count
    /// (`vmbus_chan_update_evtflagcnt`, only ever raised): it does not shrink when the highest
    /// relid is released, so a flag the host left set for that relid is still taken (and
    /// found to concern no channel) on the next scan, not left until a re-offer.
    pub fn relid_limit(&self) -> u32 {
        self.relid_limit
    }

    /// Reports that the host set the SIEF bit of `relid`.
    pub fn on_channel_signal(&mut self, relid: u32) -> Result<(), ClientError> {
        match self.channels.get(&relid) {
            Some(channel) if channel.state == ChannelState::Open => {
                self.channel_event(relid, ClientEvent::ChannelSignalled { relid });
                Ok(())
            }
            Some(_) => Err(ClientError::ChannelBusy(relid)),
            None => Err(ClientError::UnknownRelid(relid)),
        }
    }

    /// Ends the connection. From 3.0 this sends UNLOAD and [`ClientEvent::Unloaded`] follows
    /// when the host confirms; below 3.0 nothing is sent and the connection ends at once (as
    /// Linux's `vmbus_initiate_unload` in torvalds/linux `drivers/hv/channel_mgmt.c`, which
    /// returns early below VERSION_WIN8_1).
    pub fn unload(&mut self) -> Result<(), ClientError> {
        let Connection::Connected {
            version,
            message_connection_id,
        } = self.connection
        else {
            return Err(ClientError::NotConnected);
        };
        if version.supports_unload() {
            self.post(message_connection_id, encode::unload());
            self.connection = Connection::Unloading {
                version,
                message_connection_id,
            };
        } else {
            self.finish_unload(false);
        }
        Ok(())
    }

    /// Handles one control message from the host. A rejected message changes nothing, except
    /// a VERSION_RESPONSE that accepts a version with an unusable message connection id
    /// ([`ClientError::InvalidMessageConnectionId`]): that ends the handshake with
    /// [`ClientEvent::ConnectFailed`].
    pub fn on_message(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        let result = parse(payload)
            .map_err(ClientError::from)
            .and_then(|message| self.handle(message));
        if let Err(error) = &result {
            log::warn!("vmbus: dropped control message: {error}");
        }
        result
    }

    fn handle(&mut self, message: ControlMessage) -> Result<(), ClientError> {
        let unexpected = ClientError::UnexpectedMessage(message.message_type());
        match message {
            ControlMessage::VersionResponse { message, .. } => {
                self.on_version_response(message, unexpected)
            }
            ControlMessage::OfferChannel(message) => self.on_offer(message, unexpected),
            ControlMessage::AllOffersDelivered => {
                self.require_connected(unexpected)?;
                if self.offers != Offers::Requested {
                    return Err(unexpected);
                }
                self.offers = Offers::Delivered;
                self.event(None, ClientEvent::AllOffersDelivered);
                Ok(())
            }
            ControlMessage::RescindChannelOffer(message) => {
                self.require_connected(unexpected)?;
                self.rescind(message.child_relid.get())
            }
            ControlMessage::GpadlCreated(message) => self.on_gpadl_created(message, unexpected),
            ControlMessage::GpadlTorndown(message) => self.on_gpadl_torndown(message, unexpected),
            ControlMessage::OpenChannelResult(message) => {
                self.on_open_channel_result(message, unexpected)
            }
            ControlMessage::UnloadResponse => {
                if matches!(self.connection, Connection::Unloading { .. }) {
                    self.finish_unload(true);
                } else {
                    // A late or unsolicited answer (some hosts answer below 3.0 too): harmless.
                    log::debug!("vmbus: ignored UNLOAD_RESPONSE outside an unload");
                }
                Ok(())
            }
            ControlMessage::ModifyChannelResponse(message) => {
                self.require_connected(unexpected)?;
                let relid = message.child_relid.get();
                if !self.channels.contains_key(&relid) {
                    return Err(ClientError::UnknownRelid(relid));
                }
                if message.status.get() != 0 {
                    log::warn!(
                        "vmbus: MODIFYCHANNEL of {relid} failed: {:#x}",
                        message.status.get()
                    );
                }
                Ok(())
            }
            // Replies to requests this client never sends, and guest→host messages.
            _ => Err(unexpected),
        }
    }

    /// VERSION_RESPONSE: the host accepted or refused the version proposed last.
    fn on_version_response(
        &mut self,
        message: VersionResponse,
        unexpected: ClientError,
    ) -> Result<(), ClientError> {
        let Connection::Connecting { version_index } = self.connection else {
            return Err(unexpected);
        };
        // `try_version` only enters `Connecting` with an index it looked up.
        let Some(version) = SUPPORTED_VERSIONS.get(version_index).copied() else {
            return Err(unexpected);
        };
        if message.version_supported == 0 {
            // An index past the end makes `try_version` end the walk.
            self.try_version(version_index.saturating_add(1));
        } else if message.connection_state != 0 {
            log::warn!(
                "vmbus: host accepted {version} but reports connection state {}",
                message.connection_state
            );
            self.connection = Connection::Disconnected;
            self.event(None, ClientEvent::ConnectFailed);
        } else {
            let message_connection_id = if version.has_message_connection_id() {
                message.message_connection_id.get()
            } else {
                MESSAGE_CONNECTION_ID
            };
            if !is_valid_message_connection_id(message_connection_id) {
                // Stricter than Linux (see `is_valid_message_connection_id`): the
                // host accepted a version but named nowhere to post; trying an older
                // version would re-contact a host that considers itself connected.
                log::warn!(
                    "vmbus: host accepted {version} with message connection id \
                     {message_connection_id:#x}; connection failed"
                );
                self.connection = Connection::Disconnected;
                self.event(None, ClientEvent::ConnectFailed);
                return Err(ClientError::InvalidMessageConnectionId(
                    message_connection_id,
                ));
            }
            self.connection = Connection::Connected {
                version,
                message_connection_id,
            };
            self.offers = Offers::NotRequested;
            self.event(None, ClientEvent::Connected { version });
        }
        Ok(())
    }

    /// OFFERCHANNEL: a new channel, keyed by its relid.
    fn on_offer(
        &mut self,
        message: OfferChannel,
        unexpected: ClientError,
    ) -> Result<(), ClientError> {
        self.require_connected(unexpected)?;
        let offer = ChannelOffer::from_message(&message);
        let relid = offer.relid;
        if relid == 0 || relid > MAX_RELID {
            return Err(ClientError::InvalidRelid(relid));
        }
        if self.channels.contains_key(&relid) {
            return Err(ClientError::DuplicateRelid(relid));
        }
        self.relid_limit = self.relid_limit.max(relid.saturating_add(1));
        self.channels.insert(
            relid,
            Channel {
                offer: offer.clone(),
                state: ChannelState::Offered,
                rescinded: false,
                ring_gpadl: None,
            },
        );
        self.channel_event(relid, ClientEvent::OfferArrived(offer));
        Ok(())
    }

    /// GPADL_CREATED: the host's answer to a GPADL this client is creating.
    fn on_gpadl_created(
        &mut self,
        message: GpadlCreated,
        unexpected: ClientError,
    ) -> Result<(), ClientError> {
        self.require_connected(unexpected)?;
        let (relid, gpadl, status) = (
            message.child_relid.get(),
            message.gpadl.get(),
            message.status.get(),
        );
        let entry = *self
            .gpadls
            .get(&gpadl)
            .ok_or(ClientError::UnknownGpadl(gpadl))?;
        if entry.state != GpadlState::Creating {
            return Err(unexpected);
        }
        if entry.relid != relid {
            return Err(ClientError::Mismatch {
                expected: entry.relid,
                found: relid,
            });
        }
        let result = if status == 0 {
            if let Some(entry) = self.gpadls.get_mut(&gpadl) {
                entry.state = GpadlState::Created;
            }
            Ok(())
        } else {
            self.gpadls.remove(&gpadl);
            Err(GpadlCreateError::Status(status))
        };
        self.channel_event(
            relid,
            ClientEvent::GpadlCreated {
                relid,
                gpadl,
                result,
            },
        );
        if result.is_err() {
            self.release_if_done(relid);
        }
        Ok(())
    }

    /// GPADL_TORNDOWN: the host released a GPADL this client is tearing down.
    fn on_gpadl_torndown(
        &mut self,
        message: GpadlTorndown,
        unexpected: ClientError,
    ) -> Result<(), ClientError> {
        self.require_connected(unexpected)?;
        let gpadl = message.gpadl.get();
        if self.abandoned_gpadls.remove(&gpadl) {
            return Ok(());
        }
        let entry = *self
            .gpadls
            .get(&gpadl)
            .ok_or(ClientError::UnknownGpadl(gpadl))?;
        if entry.state != GpadlState::TearingDown {
            return Err(unexpected);
        }
        self.gpadls.remove(&gpadl);
        self.channel_event(
            entry.relid,
            ClientEvent::GpadlTornDown {
                relid: entry.relid,
                gpadl,
            },
        );
        self.release_if_done(entry.relid);
        Ok(())
    }

    /// OPENCHANNEL_RESULT: the host's answer to an open in flight.
    fn on_open_channel_result(
        &mut self,
        message: OpenChannelResult,
        unexpected: ClientError,
    ) -> Result<(), ClientError> {
        self.require_connected(unexpected)?;
        let (relid, open_id, status) = (
            message.child_relid.get(),
            message.open_id.get(),
            message.status.get(),
        );
        let channel = self
            .channels
            .get_mut(&relid)
            .ok_or(ClientError::UnknownRelid(relid))?;
        match channel.state {
            ChannelState::Opening { open_id: expected } if expected == open_id => {}
            ChannelState::Opening { open_id: expected } => {
                return Err(ClientError::Mismatch {
                    expected,
                    found: open_id,
                });
            }
            _ => return Err(unexpected),
        }
        let result = if status == 0 {
            channel.state = ChannelState::Open;
            Ok(())
        } else {
            channel.state = ChannelState::Offered;
            Err(OpenError::Status(status))
        };
        self.channel_event(relid, ClientEvent::ChannelOpened { relid, result });
        Ok(())
    }

    fn rescind(&mut self, relid: u32) -> Result<(), ClientError> {
        let channel = self
            .channels
            .get_mut(&relid)
            .ok_or(ClientError::UnknownRelid(relid))?;
        if channel.rescinded {
            return Err(ClientError::Rescinded(relid));
        }
        channel.rescinded = true;
        let was_opening = matches!(channel.state, ChannelState::Opening { .. });
        if was_opening {
            // The host drops opens of rescinded channels: fail the open now.
            channel.state = ChannelState::Offered;
            self.channel_event(
                relid,
                ClientEvent::ChannelOpened {
                    relid,
                    result: Err(OpenError::Rescinded),
                },
            );
        }
        let creating: Vec<u32> = self
            .gpadls
            .iter()
            .filter(|(_, entry)| entry.relid == relid && entry.state == GpadlState::Creating)
            .map(|(gpadl, _)| *gpadl)
            .collect();
        for gpadl in creating {
            self.gpadls.remove(&gpadl);
            self.abandoned_gpadls.insert(gpadl);
            self.channel_event(
                relid,
                ClientEvent::GpadlCreated {
                    relid,
                    gpadl,
                    result: Err(GpadlCreateError::Rescinded),
                },
            );
        }
        self.channel_event(relid, ClientEvent::OfferRescinded { relid });
        self.release_if_done(relid);
        Ok(())
    }

    /// Sends RELID_RELEASED for a rescinded channel once it is closed and has no GPADLs.
    fn release_if_done(&mut self, relid: u32) {
        let Some(channel) = self.channels.get(&relid) else {
            return;
        };
        if !channel.rescinded || channel.state != ChannelState::Offered {
            return;
        }
        if self.gpadls.values().any(|entry| entry.relid == relid) {
            return;
        }
        let Ok(connection_id) = self.message_connection_id() else {
            return;
        };
        self.post(connection_id, encode::relid_released(relid));
        self.channel_event(relid, ClientEvent::RelidReleased { relid });
        self.channels.remove(&relid);
    }

    /// Ends the connection. `confirmed`: the host answered UNLOAD (it released every channel
    /// and GPADL).
    fn finish_unload(&mut self, confirmed: bool) {
        let relids: Vec<u32> = self.channels.keys().copied().collect();
        for relid in relids {
            self.channel_event(
                relid,
                ClientEvent::ChannelReset {
                    relid,
                    memory_released: confirmed,
                },
            );
        }
        self.connection = Connection::Disconnected;
        self.offers = Offers::NotRequested;
        self.channels.clear();
        self.gpadls.clear();
        self.abandoned_gpadls.clear();
        self.event(None, ClientEvent::Unloaded);
        if core::mem::take(&mut self.reconnect_after_unload) {
            if confirmed {
                log::info!("vmbus: unloaded; connecting again");
                // Disconnected just above, so `connect` cannot refuse.
                let _ = self.connect();
            } else {
                log::error!("vmbus: the unload did not reach the host; the bus stays down");
            }
        }
    }

    fn require_connected(&self, error: ClientError) -> Result<(), ClientError> {
        match self.connection {
            Connection::Connected { .. } | Connection::Unloading { .. } => Ok(()),
            _ => Err(error),
        }
    }

    /// The connection id control messages go to, as the host gave it in VERSION_RESPONSE
    /// (≥ 5.0; 1 below); an error unless connected.
    pub fn message_connection_id(&self) -> Result<u32, ClientError> {
        match self.connection {
            Connection::Connected {
                message_connection_id,
                ..
            } => Ok(message_connection_id),
            _ => Err(ClientError::NotConnected),
        }
    }

    fn live_channel(&self, relid: u32) -> Result<&Channel, ClientError> {
        let channel = self
            .channels
            .get(&relid)
            .ok_or(ClientError::UnknownRelid(relid))?;
        if channel.rescinded {
            return Err(ClientError::Rescinded(relid));
        }
        Ok(channel)
    }

    fn post(&mut self, connection_id: u32, payload: Vec<u8>) {
        self.actions.push_back(Action::PostMessage {
            connection_id,
            message_type: VMBUS_SYNIC_MESSAGE_TYPE,
            payload,
        });
    }

    fn event(&mut self, subscriber: Option<SubscriberId>, event: ClientEvent) {
        self.actions.push_back(Action::Event { subscriber, event });
    }

    fn channel_event(&mut self, relid: u32, event: ClientEvent) {
        let subscriber = self
            .channels
            .get(&relid)
            .and_then(|channel| self.subscriptions.get(&channel.offer.class))
            .copied();
        self.event(subscriber, event);
    }
}

/// Whether `payload` is a GPADL_BODY continuing `gpadl`.
fn is_gpadl_body_of(payload: &[u8], gpadl: u32) -> bool {
    let field = |range: core::ops::Range<usize>| {
        payload
            .get(range)
            .and_then(|bytes| bytes.try_into().ok())
            .map(u32::from_le_bytes)
    };
    field(0..4) == Some(MessageType::GPADL_BODY.0) && field(12..16) == Some(gpadl)
}
