//! The guest side of the link as a [`HypervisorBackend`]: each MSR access, hypercall and
//! trapped MMIO access is one request frame and one synchronous reply. `Interrupt` frames that
//! arrive meanwhile (or in the COM2 interrupt handler, through [`EmulatedLinkBackend::receive_byte`])
//! are latched per vector like an APIC IRR and taken with
//! [`EmulatedLinkBackend::take_pending_vector`].

use super::{
    Frame, FrameDecoder, MMIO_STATUS_OK, MSR_STATUS_GENERAL_PROTECTION, MSR_STATUS_OK,
    PROTOCOL_VERSION,
};
use crate::cpuid::PartitionPrivileges;
use crate::hypercall::{HypercallInput, HypercallOutput};
use crate::platform::{HypervisorBackend, MmioAccess, PlatformError};

/// The most bytes one [`EmulatedLinkBackend::service_receive_interrupt`] reads: twice the
/// host → guest mailbox ring ([`super::mailbox::TO_GUEST`]), more than an honest host can have
/// written before the interrupt. A host that keeps refilling the mailbox cannot keep the
/// interrupt handler in its loop; what is left is read on the next call, which the caller
/// must make without waiting for another interrupt
/// ([`EmulatedLinkBackend::has_unread_input`]): none may come for bytes already there.
pub const RECEIVE_BUDGET_BYTES: usize = 2 * super::mailbox::TO_GUEST.size as usize;

/// The most bytes a request reads while it waits for its reply (interrupt frames, garbage,
/// other replies): then it fails with [`PlatformError::LinkFailure`]. Each byte's wait is
/// bounded by the transport's timeout; this bounds the number of bytes, so a host that keeps
/// sending anything but the reply cannot hold a request forever.
pub const REQUEST_BUDGET_BYTES: usize = 8 * RECEIVE_BUDGET_BYTES;

/// The byte transport (the kernel's COM2 driver, or a pipe in tests).
pub trait SerialLink {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError>;
    /// Waits for the next received byte; `Err(LinkFailure)` after the transport's timeout.
    fn receive(&mut self) -> Result<u8, PlatformError>;
    /// Returns a received byte if one is already there, without waiting.
    fn try_receive(&mut self) -> Option<u8>;

    /// Fills the start of `buffer` with bytes already received, without waiting, and returns
    /// how many (0: none there). The default takes them one [`try_receive`](Self::try_receive)
    /// at a time; a transport that holds received bytes in memory copies them at once.
    fn try_receive_into(&mut self, buffer: &mut [u8]) -> usize {
        let mut count = 0;
        for slot in buffer.iter_mut() {
            let Some(byte) = self.try_receive() else {
                break;
            };
            *slot = byte;
            count += 1;
        }
        count
    }

    /// Whether received bytes wait to be read, for a transport whose host may raise no
    /// interrupt for them: the ivshmem link, whose emulator raises none for what it sends
    /// behind a reply the guest is polling for (docs/emulated-platform.md, "The ivshmem
    /// link"). The default, for transports that interrupt for every byte (COM2), is `false`.
    fn has_waiting_input(&self) -> bool {
        false
    }

    /// Waits for at least one byte as [`receive`](Self::receive) does, then fills the start of
    /// `buffer` with it and whatever else is already there; returns how many (0 only for an
    /// empty `buffer`).
    fn receive_into(&mut self, buffer: &mut [u8]) -> Result<usize, PlatformError> {
        let Some((first, rest)) = buffer.split_first_mut() else {
            return Ok(0);
        };
        *first = self.receive()?;
        Ok(1 + self.try_receive_into(rest))
    }
}

/// The most bytes taken from the transport at once, into a buffer on the stack: a few frames'
/// worth (frames are 10 to 30 bytes), small enough that clearing it costs little per read.
const RECEIVE_CHUNK_BYTES: usize = 64;

/// A [`HypervisorBackend`] speaking the emulated link over a [`SerialLink`].
pub struct EmulatedLinkBackend<S> {
    link: S,
    decoder: FrameDecoder,
    pending_vectors: [u64; 4],
    vp_index: u32,
    host_version: u32,
    privileges: PartitionPrivileges,
    unexpected_frames: u64,
    unread_input: bool,
}

impl<S: SerialLink> EmulatedLinkBackend<S> {
    /// Sends Hello and waits for HelloReply.
    pub fn connect(link: S) -> Result<Self, PlatformError> {
        let mut backend = Self {
            link,
            decoder: FrameDecoder::new(),
            pending_vectors: [0; 4],
            vp_index: 0,
            host_version: 0,
            privileges: PartitionPrivileges::empty(),
            unexpected_frames: 0,
            unread_input: false,
        };
        let reply = backend.request(
            Frame::Hello {
                version: PROTOCOL_VERSION,
            },
            |frame| matches!(frame, Frame::HelloReply { .. }),
        )?;
        if let Frame::HelloReply {
            version,
            vp_index,
            privileges,
        } = reply
        {
            backend.host_version = version;
            backend.vp_index = vp_index;
            backend.privileges = PartitionPrivileges::from_bits_retain(privileges);
        }
        Ok(backend)
    }

    /// The byte transport.
    pub fn link(&self) -> &S {
        &self.link
    }

    /// The host's protocol version from HelloReply.
    pub fn host_version(&self) -> u32 {
        self.host_version
    }

    /// The privileges the host emulates.
    pub fn privileges(&self) -> PartitionPrivileges {
        self.privileges
    }

    /// Frames that arrived while waiting for a different reply (and were dropped).
    pub fn unexpected_frames(&self) -> u64 {
        self.unexpected_frames
    }

    /// The decoder's counters (garbage skipped, CRC failures).
    pub fn decoder(&self) -> &FrameDecoder {
        &self.decoder
    }

    /// Feeds one byte received outside a request (from the COM2 interrupt handler). Interrupt
    /// frames are latched; anything else is counted as unexpected.
    pub fn receive_byte(&mut self, byte: u8) {
        let mut next = self.decoder.push(byte);
        while let Some(frame) = next {
            self.accept_unsolicited(frame);
            next = self.decoder.pull();
        }
    }

    /// Reads the bytes already received, at most [`RECEIVE_BUDGET_BYTES`] (the interrupt
    /// handler calls this), and latches the Interrupt frames among them. Returns how many
    /// bytes were read.
    pub fn service_receive_interrupt(&mut self) -> usize {
        let mut count = 0;
        self.unread_input = false;
        // Frames a request read past its reply are taken first.
        self.accept_received(&[]);
        let mut chunk = [0u8; RECEIVE_CHUNK_BYTES];
        while count < RECEIVE_BUDGET_BYTES {
            let wanted = (RECEIVE_BUDGET_BYTES - count).min(RECEIVE_CHUNK_BYTES);
            let received = self.link.try_receive_into(&mut chunk[..wanted]);
            if received == 0 {
                return count;
            }
            self.accept_received(&chunk[..received]);
            count += received;
        }
        self.unread_input = true;
        count
    }

    /// Decodes `bytes` after what the decoder holds and latches every frame that completes
    /// (none of them is a reply anyone waits for).
    fn accept_received(&mut self, mut bytes: &[u8]) {
        loop {
            while let Some(frame) = self.decoder.pull() {
                self.accept_unsolicited(frame);
            }
            if bytes.is_empty() {
                return;
            }
            let taken = self.decoder.extend(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
        }
    }

    /// Whether bytes may be waiting for which no interrupt will come, so that the caller
    /// calls [`EmulatedLinkBackend::service_receive_interrupt`] (after letting others run)
    /// rather than sleeping on the interrupt: the last call stopped at its budget, or the
    /// transport holds bytes sent behind a request's reply
    /// ([`SerialLink::has_waiting_input`]).
    pub fn has_unread_input(&self) -> bool {
        self.unread_input || self.link.has_waiting_input()
    }

    /// Whether an interrupt vector is latched and not yet taken (an Interrupt frame read
    /// while a request waited for its reply: over COM2 the link's own interrupt may then
    /// never fire for it, so whoever sleeps on that interrupt checks this first).
    pub fn has_pending_vector(&self) -> bool {
        self.pending_vectors.iter().any(|word| *word != 0)
    }

    /// Takes the lowest latched interrupt vector.
    pub fn take_pending_vector(&mut self) -> Option<u8> {
        for (index, word) in self.pending_vectors.iter_mut().enumerate() {
            if *word != 0 {
                let bit = word.trailing_zeros();
                *word &= !(1 << bit);
                return Some((index as u32 * 64 + bit) as u8);
            }
        }
        None
    }

    fn accept_unsolicited(&mut self, frame: Frame) {
        match frame {
            Frame::Interrupt { vector } if vector < 256 => {
                self.pending_vectors[(vector / 64) as usize] |= 1 << (vector % 64);
            }
            _ => self.unexpected_frames += 1,
        }
    }

    fn request(
        &mut self,
        frame: Frame,
        is_reply: impl Fn(&Frame) -> bool,
    ) -> Result<Frame, PlatformError> {
        self.link.send(frame.encode().as_bytes())?;
        let mut received = 0;
        let mut chunk = [0u8; RECEIVE_CHUNK_BYTES];
        // `chunk[start..end]`: bytes read from the transport, not yet given to the decoder.
        let (mut start, mut end) = (0, 0);
        loop {
            if let Some(frame) = self.decoder.pull() {
                if is_reply(&frame) {
                    // Anything read past the reply (only after garbage that looked like a
                    // longer frame) is decoded and latched now: no interrupt may come for
                    // bytes already read.
                    self.accept_received(&chunk[start..end]);
                    return Ok(frame);
                }
                self.accept_unsolicited(frame);
                continue;
            }
            if start < end {
                start += self.decoder.extend(&chunk[start..end]);
                continue;
            }
            if received >= REQUEST_BUDGET_BYTES {
                return Err(PlatformError::LinkFailure);
            }
            // No more than the frame in progress needs: what follows the reply stays in the
            // transport for the interrupt handler, whose interrupt is still to come for it.
            let wanted = self
                .decoder
                .wanted()
                .min(REQUEST_BUDGET_BYTES - received)
                .min(RECEIVE_CHUNK_BYTES);
            (start, end) = (0, self.link.receive_into(&mut chunk[..wanted])?);
            received += end;
        }
    }
}

impl<S: SerialLink> HypervisorBackend for EmulatedLinkBackend<S> {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        let reply = self.request(
            Frame::WriteMsr { msr, value },
            |frame| matches!(frame, Frame::MsrResult { msr: answered, .. } if *answered == msr),
        )?;
        match reply {
            Frame::MsrResult {
                status: MSR_STATUS_OK,
                ..
            } => Ok(()),
            _ => Err(PlatformError::GeneralProtection { msr }),
        }
    }

    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        let reply = self.request(
            Frame::ReadMsr { msr },
            |frame| matches!(frame, Frame::MsrResult { msr: answered, .. } if *answered == msr),
        )?;
        match reply {
            Frame::MsrResult {
                status: MSR_STATUS_OK,
                value,
                ..
            } => Ok(value),
            Frame::MsrResult {
                status: MSR_STATUS_GENERAL_PROTECTION,
                ..
            } => Err(PlatformError::GeneralProtection { msr }),
            _ => Err(PlatformError::LinkFailure),
        }
    }

    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        let reply = self.request(
            Frame::Hypercall {
                input: input.to_bits(),
                input_parameter,
                output_parameter,
            },
            |frame| matches!(frame, Frame::HypercallResult { .. }),
        )?;
        match reply {
            Frame::HypercallResult { output } => Ok(HypercallOutput(output)),
            _ => Err(PlatformError::LinkFailure),
        }
    }

    fn vp_index(&self) -> u32 {
        self.vp_index
    }
}

impl<S: SerialLink> MmioAccess for EmulatedLinkBackend<S> {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(PlatformError::InvalidAccessSize);
        }
        let reply = self.request(
            Frame::MmioRead {
                gpa,
                size: u32::from(size),
            },
            |frame| matches!(frame, Frame::MmioResult { .. }),
        )?;
        match reply {
            Frame::MmioResult {
                status: MMIO_STATUS_OK,
                value,
            } => Ok(value),
            _ => Err(PlatformError::UnhandledMmio { gpa }),
        }
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(PlatformError::InvalidAccessSize);
        }
        let reply = self.request(
            Frame::MmioWrite {
                gpa,
                size: u32::from(size),
                value,
            },
            |frame| matches!(frame, Frame::MmioResult { .. }),
        )?;
        match reply {
            Frame::MmioResult {
                status: MMIO_STATUS_OK,
                ..
            } => Ok(()),
            _ => Err(PlatformError::UnhandledMmio { gpa }),
        }
    }
}
