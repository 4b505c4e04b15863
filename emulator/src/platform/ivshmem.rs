//! An ivshmem server: the emulated link's doorbell, interrupt and shared mailboxes through
//! QEMU's `ivshmem-doorbell` PCI device (vendor 1af4, device 1110).
//!
//! QEMU 7.2 ships the device but no `ivshmem-server` binary, so the emulator serves the
//! protocol itself. Facts from QEMU's `docs/specs/ivshmem-spec.rst` (qemu/qemu):
//!
//! - The server listens on a unix socket; QEMU's `-chardev socket` connects to it and the
//!   device reads its setup **synchronously while QEMU starts** (so the server must answer at
//!   once).
//! - Every message is one little-endian signed 8-byte number, optionally with one file
//!   descriptor (SCM_RIGHTS). On connect: (1) the protocol version, 0; (2) the client's ID;
//!   (3) -1 with the shared-memory fd; (4) for each other peer, its ID once per interrupt
//!   vector, each with the eventfd that interrupts that peer on that vector; (5) the client's
//!   own ID once per vector, each with the eventfd on which it is interrupted.
//! - Writing the device's Doorbell register (BAR0 offset 12; peer ID in bits 31:16, vector in
//!   15:0) makes QEMU write 1 to that peer's eventfd; writing 1 to the client's own eventfd
//!   makes QEMU raise the device's interrupt (MSI-X vector N for `ivshmem-doorbell`).
//!
//! Here the emulator is peer [`HOST_PEER_ID`] (0) without a socket of its own: it keeps
//! peer 0's eventfd (the guest's doorbell; [`IvshmemServer::wait`]) and the client's (the
//! guest's interrupt; [`IvshmemServer::interrupt_guest`]). QEMU is client
//! [`GUEST_PEER_ID`] (1). One vector each way. The shared memory is a memfd of
//! [`SHARED_MEMORY_SIZE`] bytes laid out as `hyperv::emulated_link::mailbox` says.

use super::shared_memory::SharedFileMemory;
use hyperv::emulated_link::mailbox::{self, SHARED_MEMORY_SIZE};
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
use std::fs::File;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The server protocol version this server speaks (message 1).
pub const PROTOCOL_VERSION: i64 = 0;
/// The emulator's own peer ID: the guest rings Doorbell `HOST_PEER_ID << 16 | 0`.
pub const HOST_PEER_ID: u16 = 0;
/// The ID given to QEMU (the guest's device reads it in IVPosition).
pub const GUEST_PEER_ID: u16 = 1;

/// A bound ivshmem server with its shared memory and eventfds.
pub struct IvshmemServer {
    listener: UnixListener,
    memory: File,
    doorbell: File,
    guest_interrupt: File,
}

/// QEMU's connection, after the greeting. QEMU never writes to it; it closes when QEMU ends.
pub struct IvshmemClient {
    stream: UnixStream,
}

impl IvshmemServer {
    /// Creates the shared memory (zeroed, mailboxes laid out) and the two eventfds, and binds
    /// `socket` (removing a stale socket file first).
    pub fn bind(socket: &Path) -> std::io::Result<Self> {
        let memory = File::from(memfd_create("dxgos-ivshmem", MemfdFlags::CLOEXEC)?);
        ftruncate(&memory, SHARED_MEMORY_SIZE)?;
        let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        let doorbell = File::from(eventfd(0, flags)?);
        let guest_interrupt = File::from(eventfd(0, flags)?);
        if socket.exists() {
            std::fs::remove_file(socket)?;
        }
        let listener = UnixListener::bind(socket)?;
        let server = Self {
            listener,
            memory,
            doorbell,
            guest_interrupt,
        };
        mailbox::initialise(&server.shared_memory()?)
            .map_err(|error| std::io::Error::other(format!("{error}")))?;
        Ok(server)
    }

    /// The shared memory, mapped (offset 0 = the first byte of the guest's BAR2).
    pub fn shared_memory(&self) -> std::io::Result<SharedFileMemory> {
        SharedFileMemory::from_file(&self.memory, 0)
    }

    /// Waits up to `timeout` for QEMU to connect, then sends it the greeting.
    pub fn accept(&self, timeout: Duration) -> std::io::Result<IvshmemClient> {
        self.listener.set_nonblocking(true)?;
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(std::io::Error::new(
                            ErrorKind::TimedOut,
                            "QEMU's ivshmem device did not connect",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => return Err(error),
            }
        };
        stream.set_nonblocking(false)?;
        self.greet(&stream)?;
        Ok(IvshmemClient { stream })
    }

    /// Messages 1–5 of the spec's connect sequence.
    fn greet(&self, stream: &UnixStream) -> std::io::Result<()> {
        send_message(stream, PROTOCOL_VERSION, None)?;
        send_message(stream, i64::from(GUEST_PEER_ID), None)?;
        send_message(stream, -1, Some(self.memory.as_fd()))?;
        send_message(stream, i64::from(HOST_PEER_ID), Some(self.doorbell.as_fd()))?;
        send_message(
            stream,
            i64::from(GUEST_PEER_ID),
            Some(self.guest_interrupt.as_fd()),
        )
    }

    /// Waits up to `timeout` for the guest's doorbell or for QEMU to go away.
    pub fn wait(&self, client: &IvshmemClient, timeout: Duration) -> std::io::Result<Wake> {
        let timeout = rustix::event::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [
            PollFd::new(&self.doorbell, PollFlags::IN),
            PollFd::new(&client.stream, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Wake::Timeout),
            Err(error) => return Err(error.into()),
        }
        let closed = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
        if fds[1].revents().intersects(closed) && client.is_closed()? {
            return Ok(Wake::Closed);
        }
        if fds[0].revents().contains(PollFlags::IN) {
            // Reading an eventfd returns its count and resets it to zero.
            let mut count = [0u8; 8];
            match (&self.doorbell).read(&mut count) {
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
            return Ok(Wake::Doorbell);
        }
        Ok(Wake::Timeout)
    }

    /// Raises the guest's interrupt (vector 0 of its ivshmem device).
    pub fn interrupt_guest(&self) -> std::io::Result<()> {
        match (&self.guest_interrupt).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is saturated: an interrupt is pending anyway.
            Err(error) if error.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Why [`IvshmemServer::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The guest rang the doorbell.
    Doorbell,
    /// The timeout passed.
    Timeout,
    /// QEMU closed its connection (it ended).
    Closed,
}

impl IvshmemClient {
    /// Whether QEMU closed the connection (end of file). QEMU sends nothing, so any bytes are
    /// read and dropped.
    fn is_closed(&self) -> std::io::Result<bool> {
        self.stream.set_nonblocking(true)?;
        let mut scratch = [0u8; 64];
        let result = match (&self.stream).read(&mut scratch) {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(error) if error.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => Ok(true),
            Err(error) => Err(error),
        };
        self.stream.set_nonblocking(false)?;
        result
    }
}

/// Sends one protocol message: `value` as 8 little-endian bytes, with `fd` as SCM_RIGHTS.
fn send_message(
    stream: &UnixStream,
    value: i64,
    fd: Option<BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let bytes = value.to_le_bytes();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(std::io::Error::other("no room for SCM_RIGHTS"));
        }
    }
    let sent = sendmsg(
        stream,
        &[IoSlice::new(&bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != bytes.len() {
        return Err(std::io::Error::new(
            ErrorKind::WriteZero,
            "short ivshmem message",
        ));
    }
    Ok(())
}
