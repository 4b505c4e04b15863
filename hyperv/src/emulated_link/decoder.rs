//! The incremental frame decoder: push bytes, pull frames, skip garbage.

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
            // Only reachable if frames were not pulled; keep the newest bytes.
            self.discard(1);
        }
        self.buffer[self.length] = byte;
        self.length += 1;
        self.pull()
    }

    /// Returns the next frame already complete in the buffer.
    pub fn pull(&mut self) -> Option<Frame> {
        loop {
            if self.length == 0 {
                return None;
            }
            if self.buffer[0] != MAGIC[0] {
                self.discard(1);
                continue;
            }
            if self.length < 2 {
                return None;
            }
            if self.buffer[1] != MAGIC[1] {
                self.discard(1);
                continue;
            }
            if self.length < 4 {
                return None;
            }
            let Some(kind) = FrameKind::from_byte(self.buffer[2]) else {
                self.discard(1);
                continue;
            };
            let payload_length = kind.payload_length();
            if usize::from(self.buffer[3]) != payload_length {
                self.discard(1);
                continue;
            }
            let total = FRAME_OVERHEAD + payload_length;
            if self.length < total {
                return None;
            }
            let expected = crc16(&self.buffer[2..4 + payload_length]);
            let received = u16::from_le_bytes([
                self.buffer[4 + payload_length],
                self.buffer[5 + payload_length],
            ]);
            if expected != received {
                self.statistics.checksum_failures += 1;
                self.discard(1);
                continue;
            }
            let frame = Frame::parse(kind, &self.buffer[4..4 + payload_length]);
            self.remove(total);
            match frame {
                Some(frame) => {
                    self.statistics.frames += 1;
                    return Some(frame);
                }
                None => self.statistics.discarded_bytes += total as u64,
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
        self.statistics.discarded_bytes += count as u64;
    }

    fn remove(&mut self, count: usize) {
        self.buffer.copy_within(count..self.length, 0);
        self.length -= count;
    }
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
            let (&byte, rest) = self.input.split_first()?;
            self.input = rest;
            if let Some(frame) = self.decoder.push(byte) {
                return Some(frame);
            }
        }
    }
}
