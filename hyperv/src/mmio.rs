//! The VMBus MMIO gaps and the allocator that hands out addresses from them.
//!
//! On a Hyper-V Generation 2 VM every address a VMBus device needs as MMIO (a virtual PCI bus's
//! config window, the dxg IO space) comes from two ranges the firmware describes in ACPI: the
//! `_CRS` of the VMBus device's parent module device (`\_SB.VMOD`): the **low gap** below 4 GiB
//! and the **high gap** above it (mu_msvm `MsvmPkg/AcpiTables/Dsdt.asl`). Guest RAM is never
//! used for these. Linux keeps the same pool (`hyperv_mmio` in `drivers/hv/vmbus_drv.c`),
//! removes the firmware framebuffer from it (`vmbus_reserve_fb`: on Gen2 the synthetic video
//! framebuffer lies inside the low gap) and hands out aligned, first-fit ranges
//! (`vmbus_allocate_mmio`).
//!
//! [`MmioAllocator`] is that pool, sans-I/O: it knows only numbers. The kernel fills it from
//! ACPI, reserves the framebuffer and asks it for the config windows and the IO space.
//! [`Placement`] says which gap is tried first: the dxgos choice, written in `docs/hyperv.md`,
//! is to take both the config window and the IO space from the high gap when they fit there
//! (current Linux prefers the high gap for the config window), keeping the small low gap for
//! the framebuffer and for devices that need 32-bit addresses.

use alloc::vec::Vec;
use core::fmt;

/// 4 GiB: the boundary between the low and the high gap.
pub const FOUR_GIB: u64 = 1 << 32;

/// A range of guest-physical addresses `[base, base + length)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MmioRange {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
}

impl MmioRange {
    /// The range `[base, base + length)`.
    pub const fn new(base: u64, length: u64) -> Self {
        MmioRange { base, length }
    }

    /// One past the last address, or `None` when the range wraps past 2^64.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.length)
    }

    /// Whether the whole of `other` lies inside this range.
    pub fn contains(&self, other: &MmioRange) -> bool {
        match (self.end(), other.end()) {
            (Some(end), Some(other_end)) => other.base >= self.base && other_end <= end,
            _ => false,
        }
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &MmioRange) -> bool {
        let end = self.end().unwrap_or(u64::MAX);
        let other_end = other.end().unwrap_or(u64::MAX);
        self.length != 0 && other.length != 0 && self.base < other_end && other.base < end
    }
}

impl fmt::Display for MmioRange {
    /// `0x<base>+0x<length>`, the shape the boot report and the runner's `--mmio-gaps` use.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:#x}+{:#x}", self.base, self.length)
    }
}

/// The two VMBus MMIO gaps as the firmware describes them (either may be absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmioGaps {
    /// The gap below 4 GiB (a DWordMemory descriptor in `VMOD._CRS`).
    pub low: Option<MmioRange>,
    /// The gap above 4 GiB (a QWordMemory descriptor in `VMOD._CRS`).
    pub high: Option<MmioRange>,
}

impl MmioGaps {
    /// The gaps that exist, low first.
    pub fn ranges(&self) -> impl Iterator<Item = MmioRange> + '_ {
        self.low.iter().chain(self.high.iter()).copied()
    }

    /// Whether the whole of `range` lies inside one gap.
    pub fn contain(&self, range: &MmioRange) -> bool {
        self.ranges().any(|gap| gap.contains(range))
    }
}

/// Which gap an allocation tries first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Ascending addresses, as Linux's `vmbus_allocate_mmio` walks its sorted pool.
    LowestFirst,
    /// Addresses above 4 GiB first, then the rest in ascending order.
    HighFirst,
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioError {
    /// No gap (after reservations and earlier allocations) has room for the request.
    NoSpace {
        /// Bytes asked for.
        length: u64,
        /// Alignment asked for.
        alignment: u64,
        /// The largest free run of any gap, unaligned.
        largest_free: u64,
    },
    /// Length zero, or an alignment that is not a power of two.
    InvalidRequest,
    /// A gap given to [`MmioAllocator::new`] wraps past 2^64 or is empty.
    InvalidGap(MmioRange),
    /// The address given to [`MmioAllocator::free`] was not allocated.
    NotAllocated(u64),
}

impl fmt::Display for MmioError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmioError::NoSpace {
                length,
                alignment,
                largest_free,
            } => write!(
                formatter,
                "no room in the VMBus MMIO gaps for {length:#x} bytes aligned to {alignment:#x} \
                 (largest free run {largest_free:#x})"
            ),
            MmioError::InvalidRequest => formatter.write_str("zero length or bad alignment"),
            MmioError::InvalidGap(range) => write!(formatter, "invalid MMIO gap {range}"),
            MmioError::NotAllocated(base) => write!(formatter, "{base:#x} was not allocated"),
        }
    }
}

/// First-fit allocator over the VMBus MMIO gaps.
///
/// `free` holds the free runs, sorted by address and never overlapping; a reservation or an
/// allocation splits a run, a release merges it back with its neighbours.
#[derive(Clone, Debug)]
pub struct MmioAllocator {
    free: Vec<MmioRange>,
    allocated: Vec<MmioRange>,
}

impl MmioAllocator {
    /// A pool holding the gaps that exist. Rejects a gap that is empty or wraps.
    pub fn new(gaps: &MmioGaps) -> Result<Self, MmioError> {
        let mut free = Vec::new();
        for gap in gaps.ranges() {
            if gap.length == 0 || gap.end().is_none() {
                return Err(MmioError::InvalidGap(gap));
            }
            free.push(gap);
        }
        free.sort();
        if free.windows(2).any(|pair| pair[0].overlaps(&pair[1])) {
            return Err(MmioError::InvalidGap(free[1]));
        }
        Ok(MmioAllocator {
            free,
            allocated: Vec::new(),
        })
    }

    /// Takes `range` out of the pool where it overlaps it (the firmware framebuffer, say).
    /// Parts of `range` outside the gaps are ignored.
    pub fn reserve(&mut self, range: MmioRange) {
        let Some(end) = range.end() else { return };
        let mut remaining = Vec::with_capacity(self.free.len() + 1);
        for run in self.free.drain(..) {
            let run_end = run.base + run.length;
            if !run.overlaps(&range) {
                remaining.push(run);
                continue;
            }
            if run.base < range.base {
                remaining.push(MmioRange::new(run.base, range.base - run.base));
            }
            if end < run_end {
                remaining.push(MmioRange::new(end, run_end - end));
            }
        }
        self.free = remaining;
    }

    /// Allocates `length` bytes aligned to `alignment` (a power of two), trying gaps in the
    /// order `placement` says. Returns the base address.
    pub fn allocate(
        &mut self,
        length: u64,
        alignment: u64,
        placement: Placement,
    ) -> Result<u64, MmioError> {
        if length == 0 || !alignment.is_power_of_two() {
            return Err(MmioError::InvalidRequest);
        }
        let candidates = self.free.iter().enumerate().filter_map(|(index, run)| {
            let base = run.base.checked_next_multiple_of(alignment)?;
            let end = base.checked_add(length)?;
            (end <= run.base + run.length).then_some((index, base))
        });
        let chosen = match placement {
            Placement::LowestFirst => candidates.min_by_key(|(_, base)| *base),
            Placement::HighFirst => candidates.min_by_key(|(_, base)| (*base < FOUR_GIB, *base)),
        };
        let Some((_, base)) = chosen else {
            return Err(MmioError::NoSpace {
                length,
                alignment,
                largest_free: self.free.iter().map(|run| run.length).max().unwrap_or(0),
            });
        };
        let taken = MmioRange::new(base, length);
        self.reserve(taken);
        self.allocated.push(taken);
        Ok(base)
    }

    /// Returns an allocation to the pool.
    pub fn free(&mut self, base: u64) -> Result<(), MmioError> {
        let index = self
            .allocated
            .iter()
            .position(|range| range.base == base)
            .ok_or(MmioError::NotAllocated(base))?;
        let range = self.allocated.swap_remove(index);
        self.free.push(range);
        self.free.sort();
        let mut merged: Vec<MmioRange> = Vec::with_capacity(self.free.len());
        for run in self.free.drain(..) {
            match merged.last_mut() {
                Some(last) if last.base + last.length == run.base => last.length += run.length,
                _ => merged.push(run),
            }
        }
        self.free = merged;
        Ok(())
    }

    /// The free runs, sorted by address.
    pub fn free_ranges(&self) -> &[MmioRange] {
        &self.free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn gaps() -> MmioGaps {
        MmioGaps {
            low: Some(MmioRange::new(0xF800_0000, 128 * MIB)),
            high: Some(MmioRange::new(0x10_0000_0000, 512 * MIB)),
        }
    }

    #[test]
    fn high_first_takes_the_high_gap_and_lowest_first_the_low_one() {
        let mut pool = MmioAllocator::new(&gaps()).unwrap();
        assert_eq!(
            pool.allocate(0x2000, 0x1000, Placement::HighFirst),
            Ok(0x10_0000_0000)
        );
        assert_eq!(
            pool.allocate(0x2000, 0x1000, Placement::LowestFirst),
            Ok(0xF800_0000)
        );
        assert_eq!(
            pool.allocate(64 * MIB, 0x10000, Placement::HighFirst),
            Ok(0x10_0001_0000)
        );
    }

    #[test]
    fn high_first_falls_back_to_the_low_gap_when_the_high_one_is_full() {
        let mut pool = MmioAllocator::new(&gaps()).unwrap();
        pool.allocate(512 * MIB, 0x1000, Placement::HighFirst)
            .unwrap();
        assert_eq!(
            pool.allocate(MIB, 0x1000, Placement::HighFirst),
            Ok(0xF800_0000)
        );
    }

    #[test]
    fn the_framebuffer_is_kept_out() {
        let mut pool = MmioAllocator::new(&MmioGaps {
            low: Some(MmioRange::new(0xF800_0000, 16 * MIB)),
            high: None,
        })
        .unwrap();
        pool.reserve(MmioRange::new(0xF800_0000, 8 * MIB));
        let base = pool.allocate(MIB, 0x1000, Placement::HighFirst).unwrap();
        assert_eq!(base, 0xF800_0000 + 8 * MIB);
        assert_eq!(
            pool.allocate(8 * MIB, 0x1000, Placement::LowestFirst),
            Err(MmioError::NoSpace {
                length: 8 * MIB,
                alignment: 0x1000,
                largest_free: 7 * MIB
            })
        );
    }

    #[test]
    fn a_reservation_in_the_middle_splits_the_run() {
        let mut pool = MmioAllocator::new(&MmioGaps {
            low: Some(MmioRange::new(0x1000_0000, 0x10_0000)),
            high: None,
        })
        .unwrap();
        pool.reserve(MmioRange::new(0x1004_0000, 0x1_0000));
        assert_eq!(
            pool.free_ranges(),
            &[
                MmioRange::new(0x1000_0000, 0x4_0000),
                MmioRange::new(0x1005_0000, 0xB_0000)
            ]
        );
    }

    #[test]
    fn alignment_is_honoured_and_bad_requests_are_refused() {
        let mut pool = MmioAllocator::new(&MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x1_0000_1000, 0x100_0000)),
        })
        .unwrap();
        assert_eq!(
            pool.allocate(0x1000, 0x1_0000, Placement::LowestFirst),
            Ok(0x1_0001_0000)
        );
        assert_eq!(
            pool.allocate(0, 0x1000, Placement::LowestFirst),
            Err(MmioError::InvalidRequest)
        );
        assert_eq!(
            pool.allocate(0x1000, 0x3000, Placement::LowestFirst),
            Err(MmioError::InvalidRequest)
        );
    }

    #[test]
    fn freed_ranges_merge_and_can_be_reused() {
        let mut pool = MmioAllocator::new(&gaps()).unwrap();
        let first = pool.allocate(MIB, 0x1000, Placement::HighFirst).unwrap();
        let second = pool.allocate(MIB, 0x1000, Placement::HighFirst).unwrap();
        pool.free(first).unwrap();
        pool.free(second).unwrap();
        assert_eq!(pool.free_ranges(), gaps().ranges().collect::<Vec<_>>());
        assert_eq!(pool.free(first), Err(MmioError::NotAllocated(first)));
    }

    #[test]
    fn no_gaps_means_no_space_and_bad_gaps_are_refused() {
        let mut pool = MmioAllocator::new(&MmioGaps::default()).unwrap();
        assert!(matches!(
            pool.allocate(0x2000, 0x1000, Placement::HighFirst),
            Err(MmioError::NoSpace { .. })
        ));
        let wrapping = MmioRange::new(u64::MAX - 0xFFF, 0x2000);
        assert_eq!(
            MmioAllocator::new(&MmioGaps {
                low: None,
                high: Some(wrapping)
            })
            .unwrap_err(),
            MmioError::InvalidGap(wrapping)
        );
        let empty = MmioRange::new(0x1000, 0);
        assert!(
            MmioAllocator::new(&MmioGaps {
                low: Some(empty),
                high: None
            })
            .is_err()
        );
    }

    #[test]
    fn requests_near_the_top_of_the_address_space_do_not_overflow() {
        let mut pool = MmioAllocator::new(&MmioGaps {
            low: None,
            high: Some(MmioRange::new(u64::MAX - 0x1_FFFF, 0x1_0000)),
        })
        .unwrap();
        assert!(matches!(
            pool.allocate(u64::MAX, 0x1000, Placement::HighFirst),
            Err(MmioError::NoSpace { .. })
        ));
        assert!(matches!(
            pool.allocate(0x1000, 1 << 63, Placement::HighFirst),
            Err(MmioError::NoSpace { .. })
        ));
    }

    #[test]
    fn ranges_answer_containment_and_overlap() {
        let gap = MmioRange::new(0x1000, 0x1000);
        assert!(gap.contains(&MmioRange::new(0x1800, 0x800)));
        assert!(!gap.contains(&MmioRange::new(0x1800, 0x801)));
        assert!(gap.overlaps(&MmioRange::new(0x1FFF, 1)));
        assert!(!gap.overlaps(&MmioRange::new(0x2000, 1)));
        assert!(gaps().contain(&MmioRange::new(0x10_0000_0000, 0x1000)));
        assert!(!gaps().contain(&MmioRange::new(0x1000, 0x1000)));
        assert_eq!(alloc::format!("{gap}"), "0x1000+0x1000");
    }
}
