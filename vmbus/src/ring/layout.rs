//! Where a ring lives: its control page and its data area, possibly spread over many pages.

use super::{
    CONTROL_PAGE_SIZE, FEATURE_BITS_OFFSET, INTERRUPT_MASK_OFFSET, PENDING_SEND_SIZE_OFFSET,
    READ_INDEX_OFFSET, RingError, WRITE_INDEX_OFFSET,
};
use alloc::vec::Vec;
use core::ops::Range;
use hyperv::memory::{GuestMemory, PAGE_SIZE};

/// [`PAGE_SIZE`] as a data-area length.
const PAGE_BYTES: u32 = PAGE_SIZE as u32;
const _: () = assert!(PAGE_BYTES as u64 == PAGE_SIZE);

/// A contiguous piece of the data area. Its end, `gpa + length`, fits a `u64` (both
/// constructors of [`RingPages`] check it), so any address inside it plus any length that
/// stays inside it does not overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    /// Offset of the piece inside the data area.
    offset: u32,
    /// Its guest-physical address.
    gpa: u64,
    /// Its length.
    length: u32,
}

/// The guest-physical placement of one ring: a control page and a data area made of pages.
/// Physically adjacent pages are merged, so a contiguous ring costs one copy per access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingPages {
    control_gpa: u64,
    segments: Vec<Segment>,
    data_size: u32,
    /// The first segment (it starts at data offset 0; all of a contiguous ring), kept beside
    /// the list so the common one-piece access reaches it without a lookup.
    first: Segment,
}

impl RingPages {
    /// A ring in `total_bytes` of contiguous memory at `gpa`: control page then data.
    pub fn contiguous(gpa: u64, total_bytes: u64) -> Result<Self, RingError> {
        if !gpa.is_multiple_of(PAGE_SIZE)
            || !total_bytes.is_multiple_of(PAGE_SIZE)
            || total_bytes < 2 * PAGE_SIZE
        {
            return Err(RingError::BadGeometry);
        }
        let data_size = total_bytes
            .checked_sub(CONTROL_PAGE_SIZE)
            .and_then(|size| u32::try_from(size).ok())
            .ok_or(RingError::BadGeometry)?;
        let data_gpa = gpa
            .checked_add(CONTROL_PAGE_SIZE)
            .ok_or(RingError::BadGeometry)?;
        // Every segment ends below 2^64 (see `Segment`).
        gpa.checked_add(total_bytes).ok_or(RingError::BadGeometry)?;
        let first = Segment {
            offset: 0,
            gpa: data_gpa,
            length: data_size,
        };
        Ok(RingPages {
            control_gpa: gpa,
            segments: alloc::vec![first],
            data_size,
            first,
        })
    }

    /// A ring over the pages `pfns` (guest frame numbers): the first is the control page.
    pub fn from_pfns(pfns: &[u64]) -> Result<Self, RingError> {
        let (control, data) = pfns.split_first().ok_or(RingError::BadGeometry)?;
        // The data area must be addressable by u32 offsets: `pages · 4096` fits a u32 (it is a
        // multiple of 4096, so it is never u32::MAX itself).
        let data_size = u32::try_from(data.len())
            .ok()
            .and_then(|pages| pages.checked_mul(PAGE_BYTES))
            .filter(|size| *size != 0)
            .ok_or(RingError::BadGeometry)?;
        // Every page, hence every segment, ends below 2^64 (see `Segment`).
        let page_gpa = |pfn: u64| {
            pfn.checked_mul(PAGE_SIZE)
                .filter(|gpa| gpa.checked_add(PAGE_SIZE).is_some())
                .ok_or(RingError::BadGeometry)
        };
        let mut segments: Vec<Segment> = Vec::new();
        let offsets = (0..data_size).step_by(PAGE_BYTES as usize);
        for (offset, pfn) in offsets.zip(data) {
            let gpa = page_gpa(*pfn)?;
            match segments.last_mut() {
                Some(last) if last.gpa.checked_add(u64::from(last.length)) == Some(gpa) => {
                    // The lengths of all segments add up to at most `data_size`.
                    last.length = last
                        .length
                        .checked_add(PAGE_BYTES)
                        .ok_or(RingError::BadGeometry)?;
                }
                _ => segments.push(Segment {
                    offset,
                    gpa,
                    length: PAGE_BYTES,
                }),
            }
        }
        // `data` is not empty (`data_size` is not zero), so neither is `segments`.
        let first = *segments.first().ok_or(RingError::BadGeometry)?;
        Ok(RingPages {
            control_gpa: page_gpa(*control)?,
            segments,
            data_size,
            first,
        })
    }

    /// Size of the data area in bytes.
    pub fn data_size(&self) -> u32 {
        self.data_size
    }

    /// Guest-physical address of the control page.
    pub fn control_gpa(&self) -> u64 {
        self.control_gpa
    }

    /// Guest-physical address of the control-page field at `offset`.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "control_gpa is page-aligned (both constructors check it) and offset is one of \
                  the control-page constants (< CONTROL_PAGE_SIZE), so the sum stays inside \
                  that page and cannot overflow"
    )]
    pub(super) fn field(&self, offset: u64) -> u64 {
        self.control_gpa + offset
    }

    /// Copies `buffer.len()` bytes starting at data offset `offset`, wrapping at the end.
    #[inline]
    pub(super) fn read_data<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        buffer: &mut [u8],
    ) -> Result<(), RingError> {
        match self.unbroken(offset, buffer.len()) {
            Some(gpa) => Ok(memory.read(gpa, buffer)?),
            None => self.read_pieces(memory, offset, buffer),
        }
    }

    /// [`read_data`](Self::read_data) for a range that wraps or spans segments.
    #[inline(never)]
    fn read_pieces<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        buffer: &mut [u8],
    ) -> Result<(), RingError> {
        let first = buffer.len().min(self.bytes_to_end(offset)?);
        let (head, tail) = buffer.split_at_mut(first);
        self.copy(offset, head.len(), |gpa, range| {
            let piece = head.get_mut(range).ok_or(RingError::BadGeometry)?;
            Ok(memory.read(gpa, piece)?)
        })?;
        self.copy(0, tail.len(), |gpa, range| {
            let piece = tail.get_mut(range).ok_or(RingError::BadGeometry)?;
            Ok(memory.read(gpa, piece)?)
        })
    }

    /// Writes `data` starting at data offset `offset`, wrapping at the end. Returns the offset
    /// after the data.
    // Always inlined: its slow path is out of line already, and a call here cost the copying
    // API's 64-byte packet about 26 instructions (callgrind) once the copies grew inline.
    #[inline(always)]
    pub(super) fn write_data<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        data: &[u8],
    ) -> Result<u32, RingError> {
        if let Some(gpa) = self.unbroken(offset, data.len()) {
            memory.write(gpa, data)?;
        } else {
            self.write_pieces(memory, offset, data)?;
        }
        super::ring_advance(offset, data.len(), self.data_size).ok_or(RingError::BadGeometry)
    }

    /// [`write_data`](Self::write_data) for a range that wraps or spans segments.
    #[inline(never)]
    fn write_pieces<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        data: &[u8],
    ) -> Result<(), RingError> {
        let first = data.len().min(self.bytes_to_end(offset)?);
        let (head, tail) = data.split_at(first);
        self.copy(offset, head.len(), |gpa, range| {
            let piece = head.get(range).ok_or(RingError::BadGeometry)?;
            Ok(memory.write(gpa, piece)?)
        })?;
        self.copy(0, tail.len(), |gpa, range| {
            let piece = tail.get(range).ok_or(RingError::BadGeometry)?;
            Ok(memory.write(gpa, piece)?)
        })
    }

    /// The guest-physical address of data offset `offset` if `[offset, offset + length)`
    /// lies inside the first segment (all of a contiguous ring), so one copy covers it: the
    /// common case, costing two compares instead of a segment walk. Then `gpa + length` does
    /// not overflow (see `Segment`), nor does any address between.
    #[inline]
    pub(super) fn unbroken(&self, offset: u32, length: usize) -> Option<u64> {
        let segment = &self.first;
        // `length ≤ segment.length − offset`, without overflow for any input.
        let room = segment.length.checked_sub(offset)?;
        if length > room as usize {
            return None;
        }
        // The first segment starts at data offset 0, and its end fits a u64 (see `Segment`):
        // `offset ≤ segment.length`, so the sum does not wrap.
        Some(segment.gpa.wrapping_add(u64::from(offset)))
    }

    /// The guest-physical address of data offset `offset` and the bytes from there to the end
    /// of the first segment, if `offset` lies in it: every range `[offset, offset + n)` with
    /// `n ≤` those bytes is one piece of guest memory (as [`unbroken`](Self::unbroken) would
    /// find, for all `n` at once).
    #[inline]
    pub(super) fn unbroken_from(&self, offset: u32) -> Option<(u64, u32)> {
        let segment = &self.first;
        let room = segment.length.checked_sub(offset)?;
        // `offset ≤ segment.length` and the segment's end fits a u64 (see `Segment`).
        Some((segment.gpa.wrapping_add(u64::from(offset)), room))
    }

    /// Bytes from data offset `offset` to the end of the data area (`offset` is an index the
    /// caller validated, below `data_size`).
    fn bytes_to_end(&self, offset: u32) -> Result<usize, RingError> {
        let bytes = self
            .data_size
            .checked_sub(offset)
            .ok_or(RingError::BadGeometry)?;
        usize::try_from(bytes).map_err(|_| RingError::BadGeometry)
    }

    /// Walks the segments covering `[offset, offset + length)` (no wrap), calling `access`
    /// with each piece's guest-physical address and its range in the caller's buffer. Every
    /// step is checked: an offset or length beyond the data area is `BadGeometry`.
    fn copy(
        &self,
        offset: u32,
        length: usize,
        mut access: impl FnMut(u64, Range<usize>) -> Result<(), RingError>,
    ) -> Result<(), RingError> {
        if length == 0 {
            return Ok(());
        }
        // The first segment starts at offset 0, so at least one segment precedes `offset`.
        let mut index = self
            .segments
            .partition_point(|segment| segment.offset <= offset)
            .checked_sub(1)
            .ok_or(RingError::BadGeometry)?;
        let mut position = offset;
        let mut done = 0usize;
        while let Some(remaining) = length.checked_sub(done).filter(|remaining| *remaining > 0) {
            let segment = self.segments.get(index).ok_or(RingError::BadGeometry)?;
            let inside = position
                .checked_sub(segment.offset)
                .ok_or(RingError::BadGeometry)?;
            let left_in_segment = segment
                .length
                .checked_sub(inside)
                .ok_or(RingError::BadGeometry)?;
            let take = (left_in_segment as usize).min(remaining);
            let gpa = segment
                .gpa
                .checked_add(u64::from(inside))
                .ok_or(RingError::BadGeometry)?;
            let end = done.checked_add(take).ok_or(RingError::BadGeometry)?;
            access(gpa, done..end)?;
            done = end;
            // `take` ≤ the segment's length, a u32, so the cast is exact.
            position = position
                .checked_add(take as u32)
                .ok_or(RingError::BadGeometry)?;
            index = index.checked_add(1).ok_or(RingError::BadGeometry)?;
        }
        Ok(())
    }
}

/// Resets a ring's control page: indices, mask and pending size zero, and `feature_bits`.
/// The guest does this for both rings before OPENCHANNEL, with
/// [`super::FEATURE_PENDING_SEND_SIZE`] (Linux's `hv_ringbuffer_init` sets `feature_bits` to 1
/// in `struct hv_ring_buffer`, offset 64 of the control page, for both rings).
pub fn initialize_control_page<M: GuestMemory>(
    memory: &M,
    pages: &RingPages,
    feature_bits: u32,
) -> Result<(), RingError> {
    memory.store_u32(pages.field(WRITE_INDEX_OFFSET), 0)?;
    memory.store_u32(pages.field(READ_INDEX_OFFSET), 0)?;
    memory.store_u32(pages.field(INTERRUPT_MASK_OFFSET), 0)?;
    memory.store_u32(pages.field(PENDING_SEND_SIZE_OFFSET), 0)?;
    memory.store_u32(pages.field(FEATURE_BITS_OFFSET), feature_bits)?;
    Ok(())
}

/// Splits a channel's ring GPADL pages at `downstream_page_offset`: returns the guest→host
/// ring (pages before it) and the host→guest ring (pages from it). Each needs ≥ 2 pages.
pub fn split_channel_rings(
    pfns: &[u64],
    downstream_page_offset: u32,
) -> Result<(RingPages, RingPages), RingError> {
    let split = usize::try_from(downstream_page_offset).map_err(|_| RingError::BadGeometry)?;
    let (upstream, downstream) = pfns.split_at_checked(split).ok_or(RingError::BadGeometry)?;
    if upstream.len() < 2 || downstream.len() < 2 {
        return Err(RingError::BadGeometry);
    }
    Ok((
        RingPages::from_pfns(upstream)?,
        RingPages::from_pfns(downstream)?,
    ))
}
