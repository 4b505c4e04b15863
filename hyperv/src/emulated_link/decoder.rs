//! The incremental frame decoder: push bytes, pull frames, skip garbage.

// Frames come from the other side of the link (the host, or the guest for the emulator): nothing
// here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::frame::{Frame, FrameKind};
use super::{FRAME_OVERHEAD, MAGIC, MAX_FRAME_LENGTH, crc16};

/// Counters of what the decoder saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderStatistics {
    /// Frames decoded.
    pub frames: u64,
    /// Bytes skipped because they were not part of a valid frame.
    pub discarded_bytes: u64,
    /// Candidate frames rejected for a bad CRC.
    pub checksum_failures: u64,
}

/// An incremental decoder.
///
/// A candidate frame starts at the magic; its kind byte must be known and its length byte
/// must equal that kind's fixed payload length, and its CRC must match. Whenever a check
/// fails, exactly one byte is discarded and the search restarts at the next byte, so a real
/// frame hidden inside garbage (or right after a truncated frame) is still found.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buffer: [u8; MAX_FRAME_LENGTH],
    length: usize,
    statistics: DecoderStatistics,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self {
            buffer: [0; MAX_FRAME_LENGTH],
            length: 0,
            statistics: DecoderStatistics {
                frames: 0,
                discarded_bytes: 0,
                checksum_failures: 0,
            },
        }
    }

    /// The counters so far.
    pub fn statistics(&self) -> DecoderStatistics {
        self.statistics
    }

    /// Bytes held for an incomplete candidate frame.
    pub fn buffered(&self) -> usize {
        self.length
    }

    /// Appends one byte and returns a frame if one completed. After a `Some`, call
    /// [`pull`](Self::pull) until `None` before pushing more: one byte can complete more than
    /// one frame after a false start.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        if self.length == MAX_FRAME_LENGTH {
            // A full buffer holds no frame (a frame is at most MAX_FRAME_LENGTH bytes and would
            // have been taken): drop the oldest byte.
            self.discard(1);
        }
        if let Some(slot) = self.buffer.get_mut(self.length) {
            *slot = byte;
            self.length = self.length.saturating_add(1);
        }
        self.pull()
    }

    /// Bytes the buffer can take before [`extend`](Self::extend) or [`push`](Self::push) has to
    /// drop one (never 0 after [`pull`](Self::pull) returned `None`: a full buffer always starts
    /// with a complete frame or with garbage).
    pub fn room(&self) -> usize {
        MAX_FRAME_LENGTH.saturating_sub(self.length)
    }

    /// How many more bytes the candidate frame at the start of the buffer needs before it can
    /// be judged (at least 1): the rest of its 4-byte header, then the rest of the length its
    /// kind gives. Reading no more than this never reads past the end of a frame that starts
    /// at the buffer's start, so a caller waiting for one reply leaves what follows it unread.
    pub fn wanted(&self) -> usize {
        let buffered = self.buffer.get(..self.length).unwrap_or_default();
        match examine(buffered) {
            Examined::NeedMore { total } => total.saturating_sub(self.length).max(1),
            // Only before `pull` took what can be judged already.
            _ => 1,
        }
    }

    /// Appends as many of `bytes` as there is [`room`](Self::room) for (one at least: a full
    /// buffer first drops its oldest byte, as [`push`](Self::push) does) and returns how many
    /// it took. Take the frames they complete with [`pull`](Self::pull) until `None`, then offer
    /// the rest. This decodes exactly as pushing the same bytes one at a time: whether the
    /// buffer starts with a frame, garbage or a bad CRC depends only on the bytes from its
    /// start up to the frame's length, so examining them later, with more bytes behind them,
    /// reaches the same verdicts in the same order (`bulk_and_bytewise_decoding_agree`).
    pub fn extend(&mut self, bytes: &[u8]) -> usize {
        if bytes.is_empty() {
            return 0;
        }
        if self.length == MAX_FRAME_LENGTH {
            self.discard(1);
        }
        let count = self.room().min(bytes.len());
        let end = self.length.saturating_add(count);
        if let (Some(target), Some(source)) =
            (self.buffer.get_mut(self.length..end), bytes.get(..count))
        {
            target.copy_from_slice(source);
            self.length = end;
            count
        } else {
            0
        }
    }

    /// Returns the next frame already complete in the buffer.
    pub fn pull(&mut self) -> Option<Frame> {
        loop {
            let buffered = self.buffer.get(..self.length).unwrap_or_default();
            match examine(buffered) {
                Examined::NeedMore { .. } => return None,
                Examined::Garbage => self.discard(1),
                Examined::ChecksumFailure => {
                    self.statistics.checksum_failures =
                        self.statistics.checksum_failures.saturating_add(1);
                    self.discard(1);
                }
                Examined::Complete { kind, total } => {
                    let frame = buffered
                        .get(4..total.saturating_sub(2))
                        .and_then(|payload| Frame::parse(kind, payload));
                    self.remove(total);
                    match frame {
                        Some(frame) => {
                            self.statistics.frames = self.statistics.frames.saturating_add(1);
                            return Some(frame);
                        }
                        None => {
                            self.statistics.discarded_bytes =
                                self.statistics.discarded_bytes.saturating_add(total as u64)
                        }
                    }
                }
            }
        }
    }

    /// Decodes `bytes`, yielding every frame they complete. Iterate to the end: bytes not yet
    /// consumed when the iterator is dropped are lost.
    pub fn decode<'a>(&'a mut self, bytes: &'a [u8]) -> Frames<'a> {
        Frames {
            decoder: self,
            input: bytes,
        }
    }

    fn discard(&mut self, count: usize) {
        self.remove(count);
        self.statistics.discarded_bytes =
            self.statistics.discarded_bytes.saturating_add(count as u64);
    }

    fn remove(&mut self, count: usize) {
        let count = count.min(self.length);
        self.buffer.copy_within(count..self.length, 0);
        self.length = self.length.saturating_sub(count);
    }
}

/// What the buffered bytes start with.
enum Examined {
    /// A frame may start here but is not complete yet: `total` bytes are needed to judge it
    /// (its header, or once the header is known, the whole frame).
    NeedMore { total: usize },
    /// The first byte cannot start a frame (wrong magic, kind or length).
    Garbage,
    /// A whole frame whose CRC does not match.
    ChecksumFailure,
    /// A whole frame with a good CRC: its kind and total length.
    Complete { kind: FrameKind, total: usize },
}

/// Looks at the start of `bytes` as a frame: magic, kind, the kind's length, CRC.
fn examine(bytes: &[u8]) -> Examined {
    const HEADER: Examined = Examined::NeedMore { total: 4 };
    let byte = |index: usize| bytes.get(index).copied();
    match (byte(0), byte(1)) {
        (None, _) => return HEADER,
        (Some(first), _) if first != MAGIC[0] => return Examined::Garbage,
        (_, None) => return HEADER,
        (_, Some(second)) if second != MAGIC[1] => return Examined::Garbage,
        _ => {}
    }
    let (Some(kind_byte), Some(length_byte)) = (byte(2), byte(3)) else {
        return HEADER;
    };
    let Some(kind) = FrameKind::from_byte(kind_byte) else {
        return Examined::Garbage;
    };
    let payload_length = kind.payload_length();
    if usize::from(length_byte) != payload_length {
        return Examined::Garbage;
    }
    // Payload lengths are at most MAX_FRAME_LENGTH − FRAME_OVERHEAD: no overflow.
    let total = FRAME_OVERHEAD.saturating_add(payload_length);
    let crc_at = total.saturating_sub(2);
    let (Some(covered), Some(&low), Some(&high)) = (
        bytes.get(2..crc_at),
        bytes.get(crc_at),
        bytes.get(crc_at.saturating_add(1)),
    ) else {
        return Examined::NeedMore { total };
    };
    if crc16(covered) != u16::from_le_bytes([low, high]) {
        return Examined::ChecksumFailure;
    }
    Examined::Complete { kind, total }
}

/// Iterator of [`FrameDecoder::decode`].
pub struct Frames<'a> {
    decoder: &'a mut FrameDecoder,
    input: &'a [u8],
}

impl Iterator for Frames<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.pull() {
                return Some(frame);
            }
            if self.input.is_empty() {
                return None;
            }
            let taken = self.decoder.extend(self.input);
            self.input = self.input.get(taken..).unwrap_or_default();
        }
    }
}
