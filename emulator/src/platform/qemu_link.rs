//! The emulated link's I/O for QEMU: the shared RAM file and one of two transports for the
//! frames, around a [`LinkSession`]:
//!
//! - [`Transport::Ivshmem`] (the default): an ivshmem server ([`super::ivshmem`]) for QEMU's
//!   `-chardev socket,id=hvlink,path=SOCK -device ivshmem-doorbell,chardev=hvlink,vectors=1`;
//!   frames cross the shared-memory mailboxes, the guest's doorbell wakes this thread, and the
//!   device's interrupt wakes the guest.
//! - [`Transport::Com2`]: a unix-socket server for the guest's COM2 chardev (`-chardev
//!   socket,id=link,path=SOCK -serial <COM1> -serial chardev:link`); frames are the UART's
//!   bytes.
//!
//! Both need `-object memory-backend-file,id=ram,size=512M,mem-path=RAM,share=on -machine
//! q35,memory-backend=ram` (see `docs/emulated-platform.md`). Bind first ([`QemuLink::bind`]:
//! the socket exists when it returns), start QEMU, then [`QemuLink::serve`] (in a thread, or
//! via [`run_qemu_link`]).

use super::events::{HostEventHandler, LoggingHandler};
use super::guest_interrupt::{Batch, GuestInterrupt, InterruptStatistics, OWED_RECHECK};
use super::ivshmem::{IvshmemClient, IvshmemServer, Wake};
use super::session::{LinkSession, SessionStatistics};
use super::shared_memory::SharedFileMemory;
use super::synic_host::{HostConfig, SynicHost};
use super::trace::Trace;
use hyperv::emulated_link::DecoderStatistics;
use hyperv::emulated_link::mailbox::{RingConsumer, RingProducer, TO_GUEST, TO_HOST};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the frames travel between the guest and the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Shared-memory mailboxes, a doorbell and an interrupt (QEMU's `ivshmem-doorbell`).
    #[default]
    Ivshmem,
    /// The guest's COM2 UART.
    Com2,
}

/// Where the link's files are.
#[derive(Debug, Clone)]
pub struct QemuLinkConfig {
    /// The transport; `socket` is its server socket.
    pub transport: Transport,
    /// QEMU's `mem-path` file (guest RAM, GPA = offset).
    pub memory_file: PathBuf,
    /// The unix socket QEMU's chardev (ivshmem server or COM2) connects to.
    pub socket: PathBuf,
    /// Protocol trace file, if wanted.
    pub trace: Option<PathBuf>,
    /// Create the memory file with this size (bytes) before QEMU starts, if set.
    pub memory_size: Option<u64>,
    /// How long to wait for QEMU to connect and for the memory file to be sized.
    pub connect_timeout: Duration,
    /// How often the handler's `poll` runs while the guest is quiet.
    pub poll_interval: Duration,
}

impl QemuLinkConfig {
    /// A configuration with default timeouts (60 s connect, 10 ms poll) over ivshmem.
    pub fn new(memory_file: PathBuf, socket: PathBuf) -> Self {
        Self {
            transport: Transport::default(),
            memory_file,
            socket,
            trace: None,
            memory_size: None,
            connect_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(10),
        }
    }
}

/// Why the link stopped with an error.
#[derive(Debug)]
pub enum LinkError {
    /// Socket, memory file or trace file I/O failed.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        error: std::io::Error,
    },
    /// QEMU did not connect, or the memory file stayed empty, within the timeout.
    Timeout(&'static str),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Io { context, error } => write!(f, "{context}: {error}"),
            LinkError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for LinkError {}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LinkError {
    let context = context.into();
    move |error| LinkError::Io { context, error }
}

/// What happened during a link session.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkSummary {
    /// Bytes received from the guest.
    pub bytes_received: u64,
    /// Session counters.
    pub session: SessionStatistics,
    /// Decoder counters.
    pub decoder: DecoderStatistics,
    /// The guest's interrupts over ivshmem: raised, and spared because the guest took the
    /// frames with a reply (zero over COM2).
    pub interrupts: InterruptStatistics,
}

/// A bound, not yet connected link.
pub struct QemuLink {
    config: QemuLinkConfig,
    endpoint: Endpoint,
}

/// The bound server socket of the transport.
enum Endpoint {
    Com2(UnixListener),
    Ivshmem(IvshmemServer),
}

impl QemuLink {
    /// Creates the memory file if `memory_size` is set and binds the socket (removing a stale
    /// socket file first).
    pub fn bind(config: QemuLinkConfig) -> Result<Self, LinkError> {
        if let Some(size) = config.memory_size {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&config.memory_file)
                .map_err(io(format!("creating {}", config.memory_file.display())))?;
            file.set_len(size).map_err(io("sizing the memory file"))?;
        }
        let endpoint = match config.transport {
            Transport::Ivshmem => Endpoint::Ivshmem(
                IvshmemServer::bind(&config.socket)
                    .map_err(io(format!("binding {}", config.socket.display())))?,
            ),
            Transport::Com2 => {
                if config.socket.exists() {
                    std::fs::remove_file(&config.socket)
                        .map_err(io(format!("removing stale {}", config.socket.display())))?;
                }
                Endpoint::Com2(
                    UnixListener::bind(&config.socket)
                        .map_err(io(format!("binding {}", config.socket.display())))?,
                )
            }
        };
        Ok(Self { config, endpoint })
    }

    /// Accepts QEMU's connection and serves it until the socket closes.
    pub fn serve(
        self,
        host: SynicHost,
        handler: &mut dyn HostEventHandler,
    ) -> Result<LinkSummary, LinkError> {
        match &self.endpoint {
            Endpoint::Com2(listener) => {
                let stream = self.accept(listener)?;
                let session = self.start_session(host)?;
                self.serve_com2(stream, session, handler)
            }
            Endpoint::Ivshmem(server) => {
                // QEMU reads the greeting while it starts, before it sizes the RAM file.
                let client = server
                    .accept(self.config.connect_timeout)
                    .map_err(io("greeting QEMU's ivshmem device"))?;
                let session = self.start_session(host)?;
                self.serve_ivshmem(server, &client, session, handler)
            }
        }
    }

    /// Maps guest RAM and opens the trace.
    fn start_session(&self, host: SynicHost) -> Result<(LinkSession, SharedFileMemory), LinkError> {
        let memory = self.map_memory()?;
        log::info!(
            "emulated link up ({:?}): {} bytes of guest RAM from {}",
            self.config.transport,
            memory.size(),
            self.config.memory_file.display()
        );
        let trace = match &self.config.trace {
            Some(path) => {
                Trace::to_file(path).map_err(io(format!("creating {}", path.display())))?
            }
            None => Trace::disabled(),
        };
        Ok((LinkSession::new(host, trace), memory))
    }

    /// Serves frames over the mailboxes until QEMU closes its ivshmem connection: on each
    /// doorbell (or every poll interval) the guest's bytes are taken from the guest → host
    /// ring, the replies go into the host → guest ring, and the guest's interrupt is raised
    /// when `Interrupt` frames were among them, unless they went out behind a reply the guest
    /// polls for (then it is owed: `guest_interrupt`). Bytes that do not fit wait in a backlog
    /// for the guest to make room (it drains the ring on each interrupt and each request).
    fn serve_ivshmem(
        &self,
        server: &IvshmemServer,
        client: &IvshmemClient,
        (mut session, memory): (LinkSession, SharedFileMemory),
        handler: &mut dyn HostEventHandler,
    ) -> Result<LinkSummary, LinkError> {
        let mailboxes = server
            .shared_memory()
            .map_err(io("mapping the ivshmem memory"))?;
        let ring = |error| LinkError::Io {
            context: "mailbox".into(),
            error: std::io::Error::other(format!("{error}")),
        };
        let mut from_guest = RingConsumer::attach(TO_HOST, &mailboxes).map_err(ring)?;
        let mut to_guest = RingProducer::attach(TO_GUEST, &mailboxes).map_err(ring)?;
        let mut summary = LinkSummary::default();
        let mut buffer = [0u8; 4096];
        let mut out = Vec::new();
        let mut backlog = std::collections::VecDeque::<u8>::new();
        let mut interrupt = GuestInterrupt::new();
        let mut last_poll = Instant::now();
        let raise = || {
            server
                .interrupt_guest()
                .map_err(io("raising the guest's interrupt"))
        };
        loop {
            let timeout = if !backlog.is_empty() {
                Duration::from_millis(1)
            } else if interrupt.is_owed() {
                OWED_RECHECK.min(self.config.poll_interval)
            } else {
                self.config.poll_interval
            };
            let wake = server
                .wait(client, timeout)
                .map_err(io("waiting for the doorbell"))?;
            if wake == Wake::Closed {
                break;
            }
            // An unreadable mailbox counts as not drained: the guest is interrupted.
            if interrupt.at_wake(to_guest.is_drained(&mailboxes).unwrap_or(false)) {
                raise()?;
            }
            let replies_before = replies_sent(&session);
            // Drained on every wake, doorbell or not: a doorbell rung before the device's
            // setup completed is lost (ivshmem-spec.rst), the bytes are not.
            loop {
                match from_guest.pop(&mailboxes, &mut buffer) {
                    Ok(0) => break,
                    Ok(count) => {
                        summary.bytes_received += count as u64;
                        session.receive(&buffer[..count], &memory, handler, &mut out);
                    }
                    Err(error) => log::warn!("guest to host mailbox: {error}; resynchronised"),
                }
            }
            if last_poll.elapsed() >= self.config.poll_interval {
                last_poll = Instant::now();
                session.poll(&memory, handler, &mut out);
            }
            let carried = backlog.len();
            backlog.extend(out.drain(..));
            let mut pushed = 0;
            if !backlog.is_empty() {
                let (first, _) = backlog.as_slices();
                match to_guest.push(&mailboxes, first) {
                    Ok(count) => {
                        pushed = count;
                        drop(backlog.drain(..count));
                    }
                    Err(error) => {
                        log::warn!("host to guest mailbox: {error}; bytes dropped");
                        backlog.clear();
                    }
                }
            }
            let batch = Batch {
                interrupts: session.statistics().interrupts,
                answered: replies_sent(&session) != replies_before,
                backlog: !backlog.is_empty(),
                carried_delivered: pushed > 0 && carried > 0,
            };
            if interrupt.after_batch(batch) {
                raise()?;
            }
        }
        session.finish();
        summary.session = session.statistics();
        summary.decoder = session.decoder_statistics();
        summary.interrupts = interrupt.statistics();
        log::info!("emulated link closed: {summary:?}");
        Ok(summary)
    }

    /// Serves frames over COM2 until QEMU closes the socket.
    fn serve_com2(
        &self,
        stream: UnixStream,
        (mut session, memory): (LinkSession, SharedFileMemory),
        handler: &mut dyn HostEventHandler,
    ) -> Result<LinkSummary, LinkError> {
        let mut summary = LinkSummary::default();
        let mut stream = stream;
        stream
            .set_read_timeout(Some(self.config.poll_interval))
            .map_err(io("setting the socket timeout"))?;
        let mut buffer = [0u8; 4096];
        let mut out = Vec::new();
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    summary.bytes_received += count as u64;
                    session.receive(&buffer[..count], &memory, handler, &mut out);
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    session.poll(&memory, handler, &mut out);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
                Err(error) => {
                    return Err(LinkError::Io {
                        context: "reading COM2".into(),
                        error,
                    });
                }
            }
            if !out.is_empty() {
                match stream.write_all(&out) {
                    Ok(()) => out.clear(),
                    Err(error) if error.kind() == ErrorKind::BrokenPipe => break,
                    Err(error) => {
                        return Err(LinkError::Io {
                            context: "writing COM2".into(),
                            error,
                        });
                    }
                }
            }
        }
        session.finish();
        summary.session = session.statistics();
        summary.decoder = session.decoder_statistics();
        log::info!("emulated link closed: {summary:?}");
        Ok(summary)
    }

    fn accept(&self, listener: &UnixListener) -> Result<UnixStream, LinkError> {
        listener.set_nonblocking(true).map_err(io("listener"))?;
        let deadline = Instant::now() + self.config.connect_timeout;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(io("socket"))?;
                    return Ok(stream);
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(LinkError::Timeout("QEMU to connect"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => {
                    return Err(LinkError::Io {
                        context: "accepting".into(),
                        error,
                    });
                }
            }
        }
    }

    /// QEMU may size the file after connecting the chardev: wait until it is non-empty.
    fn map_memory(&self) -> Result<SharedFileMemory, LinkError> {
        let deadline = Instant::now() + self.config.connect_timeout;
        loop {
            let length = std::fs::metadata(&self.config.memory_file)
                .map(|m| m.len())
                .unwrap_or(0);
            if length > 0 {
                return SharedFileMemory::open(&self.config.memory_file)
                    .map_err(io(format!("mapping {}", self.config.memory_file.display())));
            }
            if Instant::now() > deadline {
                return Err(LinkError::Timeout("the guest memory file"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Binds, serves one QEMU connection until it closes, and returns the summary; `handler`
/// defaults to [`LoggingHandler`] when `None` (no VMBus server).
pub fn run_qemu_link(
    config: QemuLinkConfig,
    host_config: HostConfig,
    handler: Option<&mut dyn HostEventHandler>,
) -> Result<LinkSummary, LinkError> {
    let link = QemuLink::bind(config)?;
    let mut fallback = LoggingHandler;
    let handler = handler.unwrap_or(&mut fallback);
    link.serve(SynicHost::new(host_config), handler)
}

/// Replies (every frame that is not an Interrupt frame) a session has sent so far.
fn replies_sent(session: &LinkSession) -> u64 {
    let statistics = session.statistics();
    statistics.frames_sent - statistics.interrupts
}
