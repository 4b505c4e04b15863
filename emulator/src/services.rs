//! The host services behind the emulated SynIC: the VMBus server (with its devices), wired to
//! `SynicHost` as a [`HostEventHandler`].
//!
//! The link (QEMU's COM2 socket, or the in-process loopback) turns the guest's hypercalls into
//! [`HostEvent`]s; [`HostServices`] feeds them to the VMBus server and delivers what the server
//! answers: control messages into the guest's SynIC message slot (SINT 2), channel signals as
//! event flags.

use crate::platform::{HostEvent, HostEventHandler, SynicHost};
use crate::vmbus_server::{CHANNEL_CONNECTION_ID_BASE, Server, ServerConfig, ServerOutput};
use hyperv::memory::GuestMemory;
use hyperv::synic::{MessageType, VMBUS_SINT};
use vmbus::version::{MESSAGE_CONNECTION_ID, MESSAGE_CONNECTION_ID_MULTICLIENT};

/// The emulated host's services over guest memory `M`.
pub struct HostServices<M: GuestMemory + Clone> {
    server: Server<M>,
    memory: M,
    device_count: u32,
    delivery_failures: u64,
}

impl<M: GuestMemory + Clone> HostServices<M> {
    /// Services over `memory` with the VMBus server configured by `config`.
    pub fn new(memory: M, config: ServerConfig) -> Self {
        let device_count = config.devices.len() as u32;
        HostServices {
            server: Server::new(memory.clone(), config),
            memory,
            device_count,
            delivery_failures: 0,
        }
    }

    /// Registers the connection ids the guest may post to and signal on `host`. Call once,
    /// before the guest runs.
    pub fn register(&self, host: &mut SynicHost) {
        host.register_message_connection(MESSAGE_CONNECTION_ID);
        host.register_message_connection(MESSAGE_CONNECTION_ID_MULTICLIENT);
        for relid in 1..=self.device_count {
            host.register_event_connection(CHANNEL_CONNECTION_ID_BASE + relid);
        }
    }

    /// The VMBus server (to rescind, inspect, or set misbehaviour).
    pub fn server(&mut self) -> &mut Server<M> {
        &mut self.server
    }

    /// Messages or flags the SynIC refused to deliver (logged).
    pub fn delivery_failures(&self) -> u64 {
        self.delivery_failures
    }

    fn deliver(&mut self, host: &mut SynicHost) {
        while let Some(output) = self.server.poll_output() {
            let result = match output {
                ServerOutput::Message { target_vp, payload } => host.deliver_message(
                    target_vp,
                    VMBUS_SINT,
                    MessageType::VMBUS,
                    &payload,
                    &self.memory,
                ),
                ServerOutput::SetEventFlag { target_vp, relid } => host
                    .signal_event_flag(target_vp, VMBUS_SINT, relid, &self.memory)
                    .map(|_| ()),
            };
            if let Err(error) = result {
                self.delivery_failures += 1;
                log::warn!("host services: delivery to the guest failed: {error:?}");
            }
        }
    }
}

impl<M: GuestMemory + Clone> HostEventHandler for HostServices<M> {
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, _memory: &dyn GuestMemory) {
        let result = match event {
            HostEvent::Message {
                connection_id,
                message_type,
                payload,
                ..
            } => self
                .server
                .on_guest_message(connection_id, message_type.0, &payload),
            HostEvent::Signal { connection_id, .. } => self.server.on_guest_signal(connection_id),
        };
        if let Err(error) = result {
            log::debug!("host services: {error}");
        }
        self.deliver(host);
    }

    fn poll(&mut self, host: &mut SynicHost, _memory: &dyn GuestMemory) {
        self.deliver(host);
    }
}
