//! An in-process guest↔host pair: the `vmbus` client and this server connected through their
//! action queues, sharing one [`AtomicMemory`]. Used by integration tests and benchmarks; it
//! stands in for the SynIC (messages and event flags are handed over directly).

use super::{Server, ServerConfig, ServerError, ServerOutput};
use hyperv::memory::AtomicMemory;
use hyperv::status::HvError;
use std::sync::Arc;
use vmbus::client::{
    Action, Client, ClientConfig, ClientError, ClientEvent, OpenRequest, SubscriberId,
};
use vmbus::post_retry::{PostRetry, RetryDecision};
use vmbus::ring::ChannelRings;

/// Guest memory shared by both sides.
pub type SharedMemory = Arc<AtomicMemory>;

/// A guest-side open channel.
pub struct GuestChannel {
    /// The relid.
    pub relid: u32,
    /// The ring GPADL.
    pub gpadl: u32,
    /// The guest's ring ends.
    pub rings: ChannelRings<SharedMemory>,
}

/// Why [`Loopback::open_channel`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenFailure {
    /// The client refused the request.
    Client(ClientError),
    /// The host answered GPADL_CREATED or OPENCHANNEL_RESULT with a failure, or rescinded.
    Host(Box<ClientEvent>),
    /// No answer came.
    NoAnswer,
}

/// Client and server wired together.
pub struct Loopback {
    /// Guest memory.
    pub memory: SharedMemory,
    /// The guest's client.
    pub client: Client,
    /// The emulated host.
    pub server: Server<SharedMemory>,
    /// Client events not yet taken.
    pub events: Vec<(Option<SubscriberId>, ClientEvent)>,
    /// Host messages the client rejected.
    pub client_errors: Vec<ClientError>,
    /// Guest messages/signals the host rejected.
    pub server_errors: Vec<ServerError>,
    next_pfn: u64,
}

impl Loopback {
    /// A pair over `memory_bytes` of guest memory at GPA 0.
    pub fn new(
        server_config: ServerConfig,
        client_config: ClientConfig,
        memory_bytes: usize,
    ) -> Self {
        let memory = Arc::new(AtomicMemory::new(0, memory_bytes));
        Loopback {
            server: Server::new(memory.clone(), server_config),
            client: Client::new(client_config),
            memory,
            events: Vec::new(),
            client_errors: Vec::new(),
            server_errors: Vec::new(),
            next_pfn: 1,
        }
    }

    /// Hands actions and outputs across until both sides are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(action) = self.client.poll_action() {
                progressed = true;
                match action {
                    Action::PostMessage {
                        connection_id,
                        message_type,
                        payload,
                    } => {
                        self.post(connection_id, message_type, &payload);
                    }
                    Action::SignalEvent { connection_id } => {
                        if let Err(error) = self.server.on_guest_signal(connection_id) {
                            self.server_errors.push(error);
                        }
                    }
                    Action::Event { subscriber, event } => self.events.push((subscriber, event)),
                }
            }
            while let Some(output) = self.server.poll_output() {
                progressed = true;
                let result = match output {
                    ServerOutput::Message { payload, .. } => self.client.on_message(&payload),
                    ServerOutput::SetEventFlag { relid, .. } => {
                        self.client.on_channel_signal(relid)
                    }
                };
                if let Err(error) = result {
                    self.client_errors.push(error);
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Delivers one guest post, retrying as [`vmbus::post_retry`] says (without waiting: the
    /// host here changes only when posted to) and reporting a message given up on to the
    /// client.
    fn post(&mut self, connection_id: u32, message_type: u32, payload: &[u8]) {
        let mut retry = PostRetry::for_payload(payload);
        loop {
            let error = match self
                .server
                .on_guest_message(connection_id, message_type, payload)
            {
                Ok(()) => return,
                Err(error) => error,
            };
            let Some(status) = error.hypercall_status().and_then(HvError::from_code) else {
                self.server_errors.push(error);
                return;
            };
            if let RetryDecision::GiveUp(failure) = retry.on_failure(status, 0) {
                if let Err(error) = self.client.on_post_message_failed(payload, failure) {
                    self.client_errors.push(error);
                }
                return;
            }
        }
    }

    /// Splits the pair, e.g. to run the host on another thread.
    pub fn into_parts(self) -> (Client, Server<SharedMemory>, SharedMemory) {
        (self.client, self.server, self.memory)
    }

    /// Takes the events collected so far.
    pub fn take_events(&mut self) -> Vec<(Option<SubscriberId>, ClientEvent)> {
        std::mem::take(&mut self.events)
    }

    /// Hands out `count` fresh zeroed pages (as PFNs, contiguous).
    pub fn allocate_pages(&mut self, count: u64) -> Vec<u64> {
        let first = self.next_pfn;
        self.next_pfn += count;
        (first..first + count).collect()
    }

    /// Connects and requests offers; returns the events of the handshake.
    pub fn connect(&mut self) -> Vec<(Option<SubscriberId>, ClientEvent)> {
        if let Err(error) = self.client.connect() {
            self.client_errors.push(error);
        }
        self.pump();
        if self.client.is_connected() {
            if let Err(error) = self.client.request_offers() {
                self.client_errors.push(error);
            }
            self.pump();
        }
        self.take_events()
    }

    /// Creates the ring GPADL (`ring_pages` pages each way, control page included), opens the
    /// channel and returns the guest's ring ends.
    pub fn open_channel(
        &mut self,
        relid: u32,
        ring_pages: u64,
    ) -> Result<GuestChannel, OpenFailure> {
        let pfns = self.allocate_pages(2 * ring_pages);
        let rings =
            ChannelRings::initialize_for_guest(self.memory.clone(), &pfns, ring_pages as u32)
                .map_err(|_| OpenFailure::NoAnswer)?;
        let gpadl = self
            .client
            .create_gpadl(relid, 0, (pfns.len() as u64 * 4096) as u32, &pfns)
            .map_err(OpenFailure::Client)?;
        self.pump();
        let created = self.events.iter().position(|(_, event)| {
            matches!(event, ClientEvent::GpadlCreated { gpadl: handle, .. } if *handle == gpadl)
        });
        match created.map(|index| self.events.remove(index).1) {
            Some(ClientEvent::GpadlCreated { result: Ok(()), .. }) => {}
            Some(other) => return Err(OpenFailure::Host(Box::new(other))),
            None => return Err(OpenFailure::NoAnswer),
        }
        let request = OpenRequest {
            ring_gpadl: gpadl,
            downstream_page_offset: ring_pages as u32,
            target_vp: 0,
            user_data: [0; 120],
        };
        self.client
            .open_channel(relid, &request)
            .map_err(OpenFailure::Client)?;
        self.pump();
        let opened = self.events.iter().position(|(_, event)| {
            matches!(event, ClientEvent::ChannelOpened { relid: channel, .. } if *channel == relid)
        });
        match opened.map(|index| self.events.remove(index).1) {
            Some(ClientEvent::ChannelOpened { result: Ok(()), .. }) => Ok(GuestChannel {
                relid,
                gpadl,
                rings,
            }),
            Some(other) => Err(OpenFailure::Host(Box::new(other))),
            None => Err(OpenFailure::NoAnswer),
        }
    }
}
