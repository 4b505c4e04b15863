//! Decoding of ACPI resource templates (the buffers `_CRS` returns), limited to what the gap
//! search needs: the DWord and QWord address-space descriptors of type memory.
//!
//! Layouts from the ACPI specification (6.4, "Resource Data Types for ACPI"): a small item is
//! one tag byte (bit 7 clear, type in bits 6–3, length in bits 2–0) and its data; a large item
//! is a tag byte (bit 7 set, type in bits 6–0), a 16-bit little-endian length and its data.
//! The end tag is small item type 0xF.

use alloc::vec::Vec;
use core::fmt;

/// Large item type of the DWord address space descriptor.
const ADDRESS_32: u8 = 0x07;
/// Large item type of the QWord address space descriptor.
const ADDRESS_64: u8 = 0x0A;
/// Small item type of the end tag.
const END_TAG: u8 = 0x0F;
/// Resource type "memory range" in an address space descriptor.
const MEMORY_RESOURCE: u8 = 0;

/// A memory window of an address space descriptor, as written (no checks beyond the layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryWindow {
    /// `_MIN`: first address.
    pub minimum: u64,
    /// `_MAX`: last address (inclusive).
    pub maximum: u64,
    /// `_LEN`: length in bytes.
    pub length: u64,
}

/// Why a resource template could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceError {
    /// A descriptor runs past the end of the buffer (offset of its tag).
    Truncated(usize),
    /// An address descriptor shorter than its fixed fields (offset of its tag).
    ShortDescriptor(usize),
    /// The buffer ends without an end tag.
    MissingEndTag,
}

impl fmt::Display for ResourceError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::Truncated(offset) => {
                write!(formatter, "resource descriptor at {offset:#x} is truncated")
            }
            ResourceError::ShortDescriptor(offset) => {
                write!(formatter, "address descriptor at {offset:#x} is too short")
            }
            ResourceError::MissingEndTag => formatter.write_str("resource template has no end tag"),
        }
    }
}

/// The memory windows of every DWord/QWord address-space descriptor in `template`, in order.
/// Other descriptors (IRQ, fixed memory, I/O, ...) are skipped, as Linux's
/// `vmbus_walk_resources` skips them.
pub fn memory_windows(template: &[u8]) -> Result<Vec<MemoryWindow>, ResourceError> {
    let mut windows = Vec::new();
    let mut offset = 0;
    while let Some(&tag) = template.get(offset) {
        if tag & 0x80 == 0 {
            if (tag >> 3) & 0x0F == END_TAG {
                return Ok(windows);
            }
            offset = skip(template, offset, 1 + usize::from(tag & 0x07))?;
            continue;
        }
        let length_bytes = template
            .get(offset + 1..offset + 3)
            .ok_or(ResourceError::Truncated(offset))?;
        let length = usize::from(u16::from_le_bytes([length_bytes[0], length_bytes[1]]));
        let data_start = offset + 3;
        let data = template
            .get(data_start..data_start + length)
            .ok_or(ResourceError::Truncated(offset))?;
        let window = match tag & 0x7F {
            ADDRESS_32 => address_window::<4>(data, offset)?,
            ADDRESS_64 => address_window::<8>(data, offset)?,
            _ => None,
        };
        windows.extend(window);
        offset = data_start + length;
    }
    Err(ResourceError::MissingEndTag)
}

fn skip(template: &[u8], offset: usize, length: usize) -> Result<usize, ResourceError> {
    let next = offset + length;
    if next > template.len() {
        return Err(ResourceError::Truncated(offset));
    }
    Ok(next)
}

/// Reads an address space descriptor whose numbers are `WIDTH` bytes wide: resource type,
/// general flags, type-specific flags, then granularity, minimum, maximum, translation offset
/// and length. Returns `None` for a non-memory descriptor.
fn address_window<const WIDTH: usize>(
    data: &[u8],
    offset: usize,
) -> Result<Option<MemoryWindow>, ResourceError> {
    if data.len() < 3 + 5 * WIDTH {
        return Err(ResourceError::ShortDescriptor(offset));
    }
    if data[0] != MEMORY_RESOURCE {
        return Ok(None);
    }
    let number = |index: usize| {
        let start = 3 + index * WIDTH;
        let mut bytes = [0u8; 8];
        bytes[..WIDTH].copy_from_slice(&data[start..start + WIDTH]);
        u64::from_le_bytes(bytes)
    };
    Ok(Some(MemoryWindow {
        minimum: number(1),
        maximum: number(2),
        length: number(4),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dword_memory(minimum: u32, maximum: u32, length: u32) -> Vec<u8> {
        let mut bytes = alloc::vec![0x87, 0x17, 0x00, 0x00, 0x0C, 0x03];
        for value in [0, minimum, maximum, 0, length] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn windows_are_read_and_other_descriptors_skipped() {
        let mut template = alloc::vec![0x22, 0x20, 0x00]; // IRQ {5}
        template.extend(dword_memory(0xF800_0000, 0xFFFF_FFFF, 0x800_0000));
        template.extend([0x79, 0x00]);
        assert_eq!(
            memory_windows(&template),
            Ok(alloc::vec![MemoryWindow {
                minimum: 0xF800_0000,
                maximum: 0xFFFF_FFFF,
                length: 0x800_0000
            }])
        );
    }

    #[test]
    fn truncated_and_unterminated_templates_are_refused() {
        let template = dword_memory(1, 2, 2);
        assert_eq!(memory_windows(&template), Err(ResourceError::MissingEndTag));
        assert_eq!(
            memory_windows(&template[..10]),
            Err(ResourceError::Truncated(0))
        );
        assert_eq!(
            memory_windows(&[0x87, 0x02, 0x00, 0, 0, 0x79, 0]),
            Err(ResourceError::ShortDescriptor(0))
        );
        assert_eq!(
            memory_windows(&[0x22, 0x20]),
            Err(ResourceError::Truncated(0))
        );
    }
}
