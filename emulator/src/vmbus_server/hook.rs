//! A hook on everything the host sends the guest, for the hostile-host suite
//! ([`crate::hostile`]): it sees each control message and each device-model packet just before
//! the server queues it, and returns what to queue instead (nothing: the message is lost; two:
//! it is sent twice; a changed copy: it is malformed). Without a hook the server sends as is.

use super::service::ServiceReply;

/// Rewrites host→guest traffic (see the module documentation).
pub trait OutgoingHook: std::fmt::Debug + Send {
    /// A control message for the guest's VMBus SINT; returns the messages to send instead, in
    /// order.
    fn control_message(&mut self, payload: Vec<u8>) -> Vec<Vec<u8>>;

    /// A device model's packet for a service channel's host→guest ring; returns the packets to
    /// queue instead, in order.
    fn service_reply(&mut self, reply: ServiceReply) -> Vec<ServiceReply>;
}
