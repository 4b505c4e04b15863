//! The ACPI S5 (soft-off) sleep type from `\_S5`, found by a bounded byte search of the DSDT
//! and SSDTs rather than by running AML.
//!
//! `\_S5` is a named package whose first two elements are SLP_TYPa and SLP_TYPb (ACPI 6.5
//! §7.4.2, "\_Sx (System States)"); to power off, the OS writes SLP_TYPa with SLP_EN (bit 13)
//! to the FADT's PM1a control register (and SLP_TYPb to PM1b's, if there is one). On Hyper-V
//! Gen2 and QEMU the package holds plain integer constants (`/work/shared/reference/
//! hyperv-gen2.md`: the Gen2 DSDT has `\_S5` = {0, 0}; OpenVMM writes 0x2000 to PM1a_CNT), so
//! a search for `NameOp "_S5_" PackageOp` followed by integer constants is enough; a `\_S5`
//! built by a method or holding anything else is reported, not evaluated.
//!
//! Encodings (ACPI 6.5 §20.2): NameOp 0x08, PackageOp 0x12, PkgLength (1–4 bytes: the top two
//! bits of the first byte count the bytes that follow), NumElements (one byte), then each
//! element: ZeroOp 0x00, OneOp 0x01, OnesOp 0xFF, BytePrefix 0x0A, WordPrefix 0x0B,
//! DWordPrefix 0x0C, QWordPrefix 0x0E.

/// SLP_EN in PM1x_CNT.
pub const SLEEP_ENABLE: u16 = 1 << 13;
/// Where SLP_TYPx sits in PM1x_CNT (bits 10–12).
pub const SLEEP_TYPE_SHIFT: u16 = 10;

/// The S5 sleep types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepTypes {
    /// For PM1a_CNT.
    pub a: u8,
    /// For PM1b_CNT.
    pub b: u8,
}

impl SleepTypes {
    /// The PM1a control value that enters S5: SLP_TYPa and SLP_EN, the other bits of
    /// `current` (SCI_EN, ...) kept.
    pub fn pm1a_control_value(self, current: u16) -> u16 {
        (current & !(0x7 << SLEEP_TYPE_SHIFT) & !SLEEP_ENABLE)
            | (u16::from(self.a & 0x7) << SLEEP_TYPE_SHIFT)
            | SLEEP_ENABLE
    }
}

/// Why no S5 sleep type was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepTypeError {
    /// No `_S5_` package in the tables.
    NotFound,
    /// `_S5_` is there but not a package of two integer constants.
    Unsupported,
}

impl core::fmt::Display for SleepTypeError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SleepTypeError::NotFound => formatter.write_str("no \\_S5 package in ACPI"),
            SleepTypeError::Unsupported => {
                formatter.write_str("\\_S5 is not a package of integer constants")
            }
        }
    }
}

/// Finds `\_S5`'s sleep types in `tables` (DSDT first, then the SSDTs, headers included).
pub fn find_s5(tables: &[&[u8]]) -> Result<SleepTypes, SleepTypeError> {
    let mut found_unsupported = false;
    for table in tables {
        let mut start = 0;
        while let Some(position) = find(table, b"_S5_", start) {
            start = position + 4;
            let is_name = position > 0
                && (table.get(position - 1) == Some(&0x08)
                    || (position > 1
                        && table.get(position - 1) == Some(&b'\\')
                        && table.get(position - 2) == Some(&0x08)));
            if !is_name {
                continue;
            }
            match parse_package(table.get(position + 4..).unwrap_or(&[])) {
                Some(types) => return Ok(types),
                None => found_unsupported = true,
            }
        }
    }
    Err(if found_unsupported {
        SleepTypeError::Unsupported
    } else {
        SleepTypeError::NotFound
    })
}

fn find(haystack: &[u8], needle: &[u8], start: usize) -> Option<usize> {
    haystack
        .get(start..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|offset| offset + start)
}

/// `PackageOp PkgLength NumElements a b ...` → (a, b).
fn parse_package(bytes: &[u8]) -> Option<SleepTypes> {
    if *bytes.first()? != 0x12 {
        return None;
    }
    let lead = *bytes.get(1)?;
    let following = usize::from(lead >> 6);
    let count_at = 2 + following;
    let count = *bytes.get(count_at)?;
    if count < 2 {
        return None;
    }
    let mut rest = bytes.get(count_at + 1..)?;
    let (a, length) = integer(rest)?;
    rest = rest.get(length..)?;
    let (b, _) = integer(rest)?;
    Some(SleepTypes {
        a: u8::try_from(a & 0x7).ok()?,
        b: u8::try_from(b & 0x7).ok()?,
    })
}

/// An integer constant and its encoded length.
fn integer(bytes: &[u8]) -> Option<(u64, usize)> {
    let read = |count: usize| -> Option<u64> {
        let mut value = 0u64;
        for index in 0..count {
            value |= u64::from(*bytes.get(1 + index)?) << (8 * index);
        }
        Some(value)
    };
    match *bytes.first()? {
        0x00 => Some((0, 1)),
        0x01 => Some((1, 1)),
        0xFF => Some((u64::MAX, 1)),
        0x0A => Some((read(1)?, 2)),
        0x0B => Some((read(2)?, 3)),
        0x0C => Some((read(4)?, 5)),
        0x0E => Some((read(8)?, 9)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_s5_of_four_zeros() {
        // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })
        let aml = [
            0x10, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0, 0x5B,
        ];
        assert_eq!(find_s5(&[&aml]), Ok(SleepTypes { a: 0, b: 0 }));
    }

    #[test]
    fn byte_prefixed_types_and_a_root_prefix() {
        // Name (\_S5, Package (0x02) { 0x05, 0x05 })
        let aml = [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 0x02, 0x0A, 0x05, 0x0A, 0x05,
        ];
        assert_eq!(find_s5(&[&aml]), Ok(SleepTypes { a: 5, b: 5 }));
        assert_eq!(SleepTypes { a: 5, b: 5 }.pm1a_control_value(0x0001), 0x3401);
    }

    #[test]
    fn the_gen2_value_is_0x2000() {
        // OpenVMM: \_S5 = {0, 0} → 0x2000 written to PM1a_CNT.
        assert_eq!(SleepTypes { a: 0, b: 0 }.pm1a_control_value(0), 0x2000);
        // existing SLP_TYP and SLP_EN bits are replaced, SCI_EN kept
        assert_eq!(SleepTypes { a: 0, b: 0 }.pm1a_control_value(0x3C01), 0x2001);
    }

    #[test]
    fn a_reference_or_a_method_is_unsupported_and_absence_is_reported() {
        // _S5_ used as a name string elsewhere (no NameOp before it)
        let no_name = [0x70, b'_', b'S', b'5', b'_', 0x60];
        assert_eq!(find_s5(&[&no_name]), Err(SleepTypeError::NotFound));
        // Name (_S5, Package (0x02) { Local0, ... }) — not a constant
        let not_constant = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x60, 0x60];
        assert_eq!(find_s5(&[&not_constant]), Err(SleepTypeError::Unsupported));
        // truncated right after the name
        let truncated = [0x08, b'_', b'S', b'5', b'_', 0x12];
        assert_eq!(find_s5(&[&truncated]), Err(SleepTypeError::Unsupported));
        assert_eq!(find_s5(&[]), Err(SleepTypeError::NotFound));
    }
}
