//! What the SynIC model hands to the services above it (the VMBus server), and the handler
//! trait those services implement.

use super::synic_host::SynicHost;
use hyperv::memory::GuestMemory;
use hyperv::synic::MessageType;

/// Something the guest asked of the host, produced by a hypercall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// HvPostMessage to a registered message connection.
    Message {
        /// VP that posted.
        vp_index: u32,
        /// Connection id (low 24 bits).
        connection_id: u32,
        /// Message type (VMBus: 1).
        message_type: MessageType,
        /// The payload (≤ 240 bytes).
        payload: Vec<u8>,
    },
    /// HvSignalEvent on a registered event connection.
    Signal {
        /// VP that signalled.
        vp_index: u32,
        /// Connection id.
        connection_id: u32,
        /// Flag number (always 0 today).
        flag_number: u16,
    },
}

/// A SINT interrupt the guest must receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt {
    /// Target VP.
    pub vp_index: u32,
    /// The SINT that fired.
    pub sint: u8,
    /// Its vector.
    pub vector: u8,
}

/// The services above the SynIC: the VMBus server (and later virtual PCI) implement this. The
/// link calls [`handle`](Self::handle) for every [`HostEvent`] right after the hypercall that
/// produced it, and [`poll`](Self::poll) periodically so asynchronous work (ring processing)
/// can deliver messages and set event flags on its own.
pub trait HostEventHandler {
    /// Handles one guest request; reply with [`SynicHost::deliver_message`] or
    /// [`SynicHost::signal_event_flag`].
    fn handle(&mut self, event: HostEvent, host: &mut SynicHost, memory: &dyn GuestMemory);

    /// The guest rebooted (a second Hello): devices return to their state at VM start.
    fn partition_reset(&mut self) {}

    /// Periodic work.
    fn poll(&mut self, host: &mut SynicHost, memory: &dyn GuestMemory) {
        let _ = (host, memory);
    }

    /// A trapped MMIO read (virtual PCI configuration space); `None` = nobody emulates `gpa`.
    fn mmio_read(&mut self, gpa: u64, size: u8, memory: &dyn GuestMemory) -> Option<u64> {
        let _ = (gpa, size, memory);
        None
    }

    /// A trapped MMIO write; `false` = nobody emulates `gpa`.
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64, memory: &dyn GuestMemory) -> bool {
        let _ = (gpa, size, value, memory);
        false
    }
}

/// A handler that logs every request and answers none (for running the link without a VMBus
/// server).
#[derive(Debug, Default)]
pub struct LoggingHandler;

impl HostEventHandler for LoggingHandler {
    fn handle(&mut self, event: HostEvent, _host: &mut SynicHost, _memory: &dyn GuestMemory) {
        log::info!("no service for {event:?}");
    }
}

/// Hands every pending [`HostEvent`] of `host` to `handler` until none is left.
pub fn dispatch_host_events(
    host: &mut SynicHost,
    memory: &dyn GuestMemory,
    handler: &mut dyn HostEventHandler,
) {
    while let Some(event) = host.next_event() {
        handler.handle(event, host, memory);
    }
}
