//! The emulated link's I/O for QEMU: a unix-socket server for the guest's COM2 chardev and the
//! shared RAM file, around a [`LinkSession`].
//!
//! QEMU side (see `docs/emulated-platform.md`):
//! `-object memory-backend-file,id=ram,size=512M,mem-path=RAM,share=on -machine
//! q35,memory-backend=ram -chardev socket,id=link,path=SOCK -serial <COM1> -serial
//! chardev:link`. Bind first ([`QemuLink::bind`]: the socket exists when it returns), start
//! QEMU, then [`QemuLink::serve`] (in a thread, or via [`run_qemu_link`]).

use super::events::{HostEventHandler, LoggingHandler};
use super::session::{LinkSession, SessionStatistics};
use super::shared_memory::SharedFileMemory;
use super::synic_host::{HostConfig, SynicHost};
use super::trace::Trace;
use hyperv::emulated_link::DecoderStatistics;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the link's files are.
#[derive(Debug, Clone)]
pub struct QemuLinkConfig {
    /// QEMU's `mem-path` file (guest RAM, GPA = offset).
    pub memory_file: PathBuf,
    /// The unix socket QEMU's COM2 chardev connects to.
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
    /// A configuration with default timeouts (60 s connect, 10 ms poll).
    pub fn new(memory_file: PathBuf, socket: PathBuf) -> Self {
        Self {
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
}

/// A bound, not yet connected link.
pub struct QemuLink {
    config: QemuLinkConfig,
    listener: UnixListener,
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
        if config.socket.exists() {
            std::fs::remove_file(&config.socket)
                .map_err(io(format!("removing stale {}", config.socket.display())))?;
        }
        let listener = UnixListener::bind(&config.socket)
            .map_err(io(format!("binding {}", config.socket.display())))?;
        Ok(Self { config, listener })
    }

    /// Accepts QEMU's connection and serves it until the socket closes.
    pub fn serve(
        self,
        host: SynicHost,
        handler: &mut dyn HostEventHandler,
    ) -> Result<LinkSummary, LinkError> {
        let stream = self.accept()?;
        let memory = self.map_memory()?;
        log::info!(
            "emulated link up: {} bytes of guest RAM from {}",
            memory.size(),
            self.config.memory_file.display()
        );
        let trace = match &self.config.trace {
            Some(path) => {
                Trace::to_file(path).map_err(io(format!("creating {}", path.display())))?
            }
            None => Trace::disabled(),
        };
        let mut session = LinkSession::new(host, trace);
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

    fn accept(&self) -> Result<UnixStream, LinkError> {
        self.listener
            .set_nonblocking(true)
            .map_err(io("listener"))?;
        let deadline = Instant::now() + self.config.connect_timeout;
        loop {
            match self.listener.accept() {
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
