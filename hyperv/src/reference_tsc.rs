//! The reference TSC page (reference §1.9) and its time formula.
//!
//! `reference time (100 ns) = high64(TSC × scale) + offset`, read seqlock-style: sequence, scale
//! and offset, RDTSC, sequence again; a sequence of 0 means "use MSR TIME_REF_COUNT instead".

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The first 24 bytes of the reference TSC page (the rest is reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ReferenceTscPage {
    /// Offset 0: sequence; 0 = invalid, fall back to TIME_REF_COUNT.
    pub sequence: u32,
    /// Offset 4: reserved.
    pub reserved: u32,
    /// Offset 8: unsigned 64.64 fixed-point multiplier.
    pub scale: u64,
    /// Offset 16: signed offset in 100 ns units.
    pub offset: i64,
}

const _: () = assert!(size_of::<ReferenceTscPage>() == 24);
const _: () = assert!(core::mem::offset_of!(ReferenceTscPage, scale) == 8);
const _: () = assert!(core::mem::offset_of!(ReferenceTscPage, offset) == 16);

/// Sequence value meaning "the page is not valid".
pub const SEQUENCE_INVALID: u32 = 0;
/// Reference time ticks per second (100 ns units).
pub const TICKS_PER_SECOND: u64 = 10_000_000;

/// Reference time in 100 ns units from a TSC reading: the upper 64 bits of the 128-bit
/// product `tsc × scale`, plus `offset` (wrapping).
pub const fn reference_time(tsc: u64, scale: u64, offset: i64) -> u64 {
    let product = ((tsc as u128 * scale as u128) >> 64) as u64;
    product.wrapping_add(offset as u64)
}

/// The scale a host publishes for a TSC of `tsc_hz` (`10^7 × 2^64 / tsc_hz`), or `None` for a
/// frequency at or below 10 MHz, where the scale would not fit in 64 bits.
pub const fn scale_for_frequency(tsc_hz: u64) -> Option<u64> {
    if tsc_hz <= TICKS_PER_SECOND {
        return None;
    }
    Some((((TICKS_PER_SECOND as u128) << 64) / tsc_hz as u128) as u64)
}

impl ReferenceTscPage {
    /// The reference time at `tsc`, or `None` when the page is invalid (sequence 0).
    pub const fn time_at(&self, tsc: u64) -> Option<u64> {
        if self.sequence == SEQUENCE_INVALID {
            None
        } else {
            Some(reference_time(tsc, self.scale, self.offset))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_keeps_the_upper_half_of_the_product() {
        // scale = 2^63 (0.5): time = tsc / 2.
        assert_eq!(reference_time(1000, 1 << 63, 0), 500);
        // 2^64 - 1 ≈ 1.0 loses one tick on exact values.
        assert_eq!(reference_time(1_000_000, u64::MAX, 0), 999_999);
        // Negative offset.
        assert_eq!(reference_time(1000, 1 << 63, -100), 400);
        // The product does not overflow 64 bits.
        assert_eq!(reference_time(u64::MAX, 1 << 62, 0), (u64::MAX >> 2));
    }

    #[test]
    fn scale_for_a_one_gigahertz_tsc() {
        // 10^7 / 10^9 = 1/100 → 2^64 / 100 = 184467440737095516.
        let scale = scale_for_frequency(1_000_000_000).unwrap();
        assert_eq!(scale, 184_467_440_737_095_516);
        // One second of TSC ticks is 10^7 reference ticks (minus rounding of the scale).
        let time = reference_time(1_000_000_000, scale, 0);
        assert!((9_999_999..=10_000_000).contains(&time));
        assert_eq!(scale_for_frequency(10_000_000), None);
    }

    #[test]
    fn page_layout_and_invalid_sequence() {
        let page = ReferenceTscPage {
            sequence: 3,
            reserved: 0,
            scale: 1 << 63,
            offset: 7,
        };
        assert_eq!(
            page.as_bytes(),
            &[
                3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 7, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(page.time_at(10), Some(12));
        assert_eq!(
            ReferenceTscPage {
                sequence: 0,
                ..page
            }
            .time_at(10),
            None
        );
    }
}
