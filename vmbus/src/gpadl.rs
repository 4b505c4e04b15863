//! GPADLs (guest physical address descriptor lists): the header/body split and reassembly.
//!
//! A GPADL is a list of ranges, each `{byte_count u32, byte_offset u32, PFN[n]}`. The bytes of
//! all ranges form one stream of `range_buflen` bytes that the guest cuts into a GPADL_HEADER
//! (stream bytes from message offset 20, at most 220 of them — 26 PFNs of a single range) and
//! GPADL_BODY messages (stream bytes from offset 16, 28 PFNs each). The host accumulates the
//! stream until `range_buflen` bytes have arrived (reference vmbus.md §4.4).
//!
//! [`split`] is the guest half (single range, as every guest uses); [`GpadlAssembler`] is the
//! host half and accepts any number of ranges.

use crate::messages::{GPADL_MAX_PAGES, encode};
use crate::version::MAX_MESSAGE_SIZE;
use alloc::vec::Vec;
use core::fmt;

/// Page size of guest frame numbers.
pub const PAGE_SIZE: u64 = 4096;
/// Bytes of range stream a GPADL_HEADER carries at most (240 − 20, rounded down to 8).
const HEADER_STREAM_BYTES: usize = (MAX_MESSAGE_SIZE - 20) / 8 * 8;
/// Bytes of range stream a GPADL_BODY carries at most (240 − 16).
const BODY_STREAM_BYTES: usize = MAX_MESSAGE_SIZE - 16;

/// One range of a GPADL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpaRange {
    /// Offset into the first page.
    pub byte_offset: u32,
    /// Bytes described.
    pub byte_count: u32,
    /// Guest page frame numbers (GPA >> 12).
    pub pfns: Vec<u64>,
}

impl GpaRange {
    /// Number of pages `[byte_offset, byte_offset + byte_count)` spans.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "two u32 values summed in a u64 cannot overflow"
    )]
    pub fn pages_spanned(byte_offset: u32, byte_count: u32) -> u64 {
        (u64::from(byte_offset) + u64::from(byte_count)).div_ceil(PAGE_SIZE)
    }

    /// Whether the range is one whole number of pages starting at a page boundary (the shape
    /// ring GPADLs must have).
    pub fn is_page_aligned(&self) -> bool {
        self.byte_offset == 0
            && (self.pfns.len() as u64).checked_mul(PAGE_SIZE) == Some(u64::from(self.byte_count))
    }
}

/// A malformed GPADL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpadlError {
    /// A range describes no bytes, or starts beyond its first page.
    BadRange {
        /// Offset into the first page.
        byte_offset: u32,
        /// Byte count.
        byte_count: u32,
    },
    /// The PFN count does not match the pages the range spans.
    PageCountMismatch {
        /// Pages spanned.
        expected: u64,
        /// PFNs given.
        actual: u64,
    },
    /// More pages than a `range_buflen` of 16 bits can describe.
    TooLarge {
        /// Pages requested.
        pages: usize,
    },
    /// `range_buflen` is zero, not a multiple of 8, or too small for its ranges.
    BadLength {
        /// The declared length.
        range_buffer_length: u16,
    },
    /// More stream bytes arrived than `range_buflen` declared.
    Overrun,
    /// The range count is zero or disagrees with the stream.
    BadRangeCount {
        /// The declared count.
        range_count: u16,
    },
}

impl fmt::Display for GpadlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed GPADL: {self:?}")
    }
}

/// Builds the GPADL_HEADER and GPADL_BODY payloads for a single-range GPADL.
pub fn split(
    child_relid: u32,
    gpadl: u32,
    byte_offset: u32,
    byte_count: u32,
    pfns: &[u64],
) -> Result<Vec<Vec<u8>>, GpadlError> {
    if byte_count == 0 || u64::from(byte_offset) >= PAGE_SIZE {
        return Err(GpadlError::BadRange {
            byte_offset,
            byte_count,
        });
    }
    let expected = GpaRange::pages_spanned(byte_offset, byte_count);
    if expected != pfns.len() as u64 {
        return Err(GpadlError::PageCountMismatch {
            expected,
            actual: pfns.len() as u64,
        });
    }
    if pfns.len() > GPADL_MAX_PAGES {
        return Err(GpadlError::TooLarge { pages: pfns.len() });
    }
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "pfns.len() ≤ GPADL_MAX_PAGES (checked above), so 8 + 8 · pages ≤ u16::MAX"
    )]
    let stream_length = 8 + pfns.len() * 8;
    let mut stream = Vec::with_capacity(stream_length);
    stream.extend_from_slice(&byte_count.to_le_bytes());
    stream.extend_from_slice(&byte_offset.to_le_bytes());
    for pfn in pfns {
        stream.extend_from_slice(&pfn.to_le_bytes());
    }
    let range_buffer_length = stream.len() as u16; // ≤ 8 + 8·8190 by the check above
    // `split_at` cannot panic: the split point is at most the length (`min`).
    let (header_part, body_part) = stream.split_at(stream.len().min(HEADER_STREAM_BYTES));
    let body_count = body_part.len().div_ceil(BODY_STREAM_BYTES);
    let mut messages = Vec::with_capacity(body_count.saturating_add(1));
    messages.push(encode::gpadl_header(
        child_relid,
        gpadl,
        range_buffer_length,
        1,
        header_part,
    ));
    // Bodies are numbered from 1; there are at most GPADL_MAX_PAGES / 28 + 1 of them, far
    // below u32::MAX, so the sequence never reaches the end of `1u32..`.
    for (sequence, chunk) in (1u32..).zip(body_part.chunks(BODY_STREAM_BYTES)) {
        messages.push(encode::gpadl_body(sequence, gpadl, chunk));
    }
    Ok(messages)
}

/// Host-side reassembly of one GPADL from its header and bodies.
#[derive(Clone, Debug)]
pub struct GpadlAssembler {
    /// Owning channel.
    pub child_relid: u32,
    /// Handle.
    pub gpadl: u32,
    range_count: u16,
    range_buffer_length: u16,
    stream: Vec<u8>,
}

impl GpadlAssembler {
    /// Starts from a GPADL_HEADER's fixed fields and its stream bytes.
    pub fn new(
        child_relid: u32,
        gpadl: u32,
        range_buffer_length: u16,
        range_count: u16,
        data: &[u8],
    ) -> Result<Self, GpadlError> {
        if range_count == 0 {
            return Err(GpadlError::BadRangeCount { range_count });
        }
        #[allow(
            clippy::arithmetic_side_effects,
            reason = "range_count ≤ u16::MAX, so range_count · 16 < 2^20 fits any usize"
        )]
        let minimum_length = usize::from(range_count) * 16;
        if range_buffer_length == 0
            || !range_buffer_length.is_multiple_of(8)
            || usize::from(range_buffer_length) < minimum_length
        {
            return Err(GpadlError::BadLength {
                range_buffer_length,
            });
        }
        let mut assembler = GpadlAssembler {
            child_relid,
            gpadl,
            range_count,
            range_buffer_length,
            stream: Vec::with_capacity(usize::from(range_buffer_length)),
        };
        assembler.add(data)?;
        Ok(assembler)
    }

    /// Adds a GPADL_BODY's stream bytes.
    pub fn add(&mut self, data: &[u8]) -> Result<(), GpadlError> {
        let total = self.stream.len().checked_add(data.len());
        if total.is_none_or(|total| total > usize::from(self.range_buffer_length)) {
            return Err(GpadlError::Overrun);
        }
        self.stream.extend_from_slice(data);
        Ok(())
    }

    /// Whether the whole stream has arrived.
    pub fn is_complete(&self) -> bool {
        self.stream.len() == usize::from(self.range_buffer_length)
    }

    /// Decodes and validates the complete stream into ranges.
    pub fn finish(&self) -> Result<Vec<GpaRange>, GpadlError> {
        let bad_count = GpadlError::BadRangeCount {
            range_count: self.range_count,
        };
        let mut ranges = Vec::with_capacity(usize::from(self.range_count));
        let mut rest = self.stream.as_slice();
        for _ in 0..self.range_count {
            let (head, tail) = rest.split_first_chunk::<8>().ok_or(bad_count)?;
            let byte_count = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let byte_offset = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if byte_count == 0 || u64::from(byte_offset) >= PAGE_SIZE {
                return Err(GpadlError::BadRange {
                    byte_offset,
                    byte_count,
                });
            }
            let pages = GpaRange::pages_spanned(byte_offset, byte_count);
            let (pfn_bytes, tail) = usize::try_from(pages)
                .ok()
                .and_then(|pages| pages.checked_mul(8))
                .and_then(|length| tail.split_at_checked(length))
                .ok_or(GpadlError::PageCountMismatch {
                    expected: pages,
                    actual: tail.len() as u64 / 8,
                })?;
            let pfns = pfn_bytes
                .chunks_exact(8)
                .map(|chunk| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                })
                .collect();
            ranges.push(GpaRange {
                byte_offset,
                byte_count,
                pfns,
            });
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(bad_count);
        }
        Ok(ranges)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::messages::{ControlMessage, parse};

    fn reassemble(messages: &[Vec<u8>]) -> Vec<GpaRange> {
        let mut assembler = None;
        for message in messages {
            assert!(message.len() <= 240);
            match parse(message).unwrap() {
                ControlMessage::GpadlHeader { message, data } => {
                    assembler = Some(
                        GpadlAssembler::new(
                            message.child_relid.get(),
                            message.gpadl.get(),
                            message.range_buffer_length.get(),
                            message.range_count.get(),
                            &data,
                        )
                        .unwrap(),
                    );
                }
                ControlMessage::GpadlBody { data, .. } => {
                    assembler.as_mut().unwrap().add(&data).unwrap()
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let assembler = assembler.unwrap();
        assert!(assembler.is_complete());
        assembler.finish().unwrap()
    }

    #[test]
    fn split_sizes_match_the_reference() {
        // 26 PFNs fit in the header exactly (236 bytes); the 27th needs a body.
        let pfns: Vec<u64> = (100..126).collect();
        let messages = split(5, 9, 0, 26 * 4096, &pfns).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].len(), 236);
        let pfns: Vec<u64> = (100..127).collect();
        let messages = split(5, 9, 0, 27 * 4096, &pfns).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].len(), 16 + 8);
        // 26 + 28 = 54 pages: one full body of 240 bytes.
        let pfns: Vec<u64> = (0..54).collect();
        let messages = split(5, 9, 0, 54 * 4096, &pfns).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].len(), 240);
    }

    #[test]
    fn round_trip_up_to_the_protocol_limit() {
        for pages in [1usize, 2, 26, 27, 54, 55, 130, 8190] {
            let pfns: Vec<u64> = (0..pages as u64).map(|page| 0x1_0000 + page * 3).collect();
            let messages = split(7, 0x42, 0, (pages * 4096) as u32, &pfns).unwrap();
            let ranges = reassemble(&messages);
            assert_eq!(ranges.len(), 1);
            assert_eq!(ranges[0].pfns, pfns);
            assert!(ranges[0].is_page_aligned());
        }
        let pfns: Vec<u64> = (0..8191).collect();
        assert_eq!(
            split(7, 1, 0, 8191 * 4096, &pfns),
            Err(GpadlError::TooLarge { pages: 8191 })
        );
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert!(matches!(
            split(1, 1, 0, 0, &[]),
            Err(GpadlError::BadRange { .. })
        ));
        assert!(matches!(
            split(1, 1, 4096, 1, &[1]),
            Err(GpadlError::BadRange { .. })
        ));
        assert!(matches!(
            split(1, 1, 100, 4096, &[1]),
            Err(GpadlError::PageCountMismatch { .. })
        ));
        assert!(GpadlAssembler::new(1, 1, 0, 1, &[]).is_err());
        assert!(GpadlAssembler::new(1, 1, 12, 1, &[]).is_err());
        assert!(GpadlAssembler::new(1, 1, 16, 0, &[]).is_err());
        let mut assembler = GpadlAssembler::new(1, 1, 16, 1, &[0; 8]).unwrap();
        assert_eq!(assembler.add(&[0; 16]), Err(GpadlError::Overrun));
        // Complete stream but byte_count 0.
        assembler.add(&[0; 8]).unwrap();
        assert!(matches!(
            assembler.finish(),
            Err(GpadlError::BadRange { .. })
        ));
    }
}
