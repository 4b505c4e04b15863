//! Where a ring lives: its control page and its data area, possibly spread over many pages.

use super::{
    CONTROL_PAGE_SIZE, FEATURE_BITS_OFFSET, INTERRUPT_MASK_OFFSET, PENDING_SEND_SIZE_OFFSET,
    READ_INDEX_OFFSET, RingError, WRITE_INDEX_OFFSET,
};
use alloc::vec::Vec;
use hyperv::memory::{GuestMemory, PAGE_SIZE};

/// A contiguous piece of the data area.
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
        let data_size =
            u32::try_from(total_bytes - CONTROL_PAGE_SIZE).map_err(|_| RingError::BadGeometry)?;
        let data_gpa = gpa
            .checked_add(CONTROL_PAGE_SIZE)
            .ok_or(RingError::BadGeometry)?;
        Ok(RingPages {
            control_gpa: gpa,
            segments: alloc::vec![Segment {
                offset: 0,
                gpa: data_gpa,
                length: data_size
            }],
            data_size,
        })
    }

    /// A ring over the pages `pfns` (guest frame numbers): the first is the control page.
    pub fn from_pfns(pfns: &[u64]) -> Result<Self, RingError> {
        let (control, data) = pfns.split_first().ok_or(RingError::BadGeometry)?;
        if data.is_empty() || data.len() as u64 * PAGE_SIZE >= u64::from(u32::MAX) {
            return Err(RingError::BadGeometry);
        }
        let page_gpa = |pfn: u64| pfn.checked_mul(PAGE_SIZE).ok_or(RingError::BadGeometry);
        let mut segments: Vec<Segment> = Vec::new();
        for (index, pfn) in data.iter().enumerate() {
            let gpa = page_gpa(*pfn)?;
            let offset = (index as u64 * PAGE_SIZE) as u32;
            match segments.last_mut() {
                Some(last) if last.gpa.checked_add(u64::from(last.length)) == Some(gpa) => {
                    last.length += PAGE_SIZE as u32;
                }
                _ => segments.push(Segment {
                    offset,
                    gpa,
                    length: PAGE_SIZE as u32,
                }),
            }
        }
        Ok(RingPages {
            control_gpa: page_gpa(*control)?,
            segments,
            data_size: (data.len() as u64 * PAGE_SIZE) as u32,
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

    pub(super) fn field(&self, offset: u64) -> u64 {
        self.control_gpa + offset
    }

    /// Copies `buffer.len()` bytes starting at data offset `offset`, wrapping at the end.
    pub(super) fn read_data<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        buffer: &mut [u8],
    ) -> Result<(), RingError> {
        let first = buffer.len().min((self.data_size - offset) as usize);
        let (head, tail) = buffer.split_at_mut(first);
        self.copy(offset, head.len(), |gpa, start, length| {
            memory.read(gpa, &mut head[start..start + length])
        })?;
        self.copy(0, tail.len(), |gpa, start, length| {
            memory.read(gpa, &mut tail[start..start + length])
        })
    }

    /// Writes `data` starting at data offset `offset`, wrapping at the end. Returns the offset
    /// after the data.
    pub(super) fn write_data<M: GuestMemory>(
        &self,
        memory: &M,
        offset: u32,
        data: &[u8],
    ) -> Result<u32, RingError> {
        let first = data.len().min((self.data_size - offset) as usize);
        let (head, tail) = data.split_at(first);
        self.copy(offset, head.len(), |gpa, start, length| {
            memory.write(gpa, &head[start..start + length])
        })?;
        self.copy(0, tail.len(), |gpa, start, length| {
            memory.write(gpa, &tail[start..start + length])
        })?;
        Ok(((u64::from(offset) + data.len() as u64) % u64::from(self.data_size)) as u32)
    }

    /// Walks the segments covering `[offset, offset + length)` (no wrap).
    fn copy(
        &self,
        offset: u32,
        length: usize,
        mut access: impl FnMut(u64, usize, usize) -> Result<(), hyperv::memory::MemoryError>,
    ) -> Result<(), RingError> {
        if length == 0 {
            return Ok(());
        }
        let mut index = self
            .segments
            .partition_point(|segment| segment.offset <= offset)
            - 1;
        let mut position = offset;
        let mut done = 0usize;
        while done < length {
            let segment = self.segments.get(index).ok_or(RingError::BadGeometry)?;
            let inside = position - segment.offset;
            let take = ((segment.length - inside) as usize).min(length - done);
            access(segment.gpa + u64::from(inside), done, take)?;
            done += take;
            position += take as u32;
            index += 1;
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
    let split = downstream_page_offset as usize;
    if split < 2 || pfns.len() < split + 2 {
        return Err(RingError::BadGeometry);
    }
    Ok((
        RingPages::from_pfns(&pfns[..split])?,
        RingPages::from_pfns(&pfns[split..])?,
    ))
}
