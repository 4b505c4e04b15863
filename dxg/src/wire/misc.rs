//! Helpers to build whole messages: `[extension header][fixed struct][tail][slack]`.

use super::{ExtensionHeader, Luid};
use alloc::vec::Vec;
use zerocopy::IntoBytes;

/// Builds a guest→host message. `extension` is `Some(vgpu_luid)` when the interface version is
/// ≥ 40. `fixed` is the command's fixed part from its header onwards, `tail` the variable part, `slack` the
/// number of zero bytes Linux appends (placeholder padding).
pub fn build_message(
    extension: Option<Luid>,
    fixed: &[u8],
    tail: &[&[u8]],
    slack: usize,
) -> Vec<u8> {
    // The capacity is only a hint: if the sum overflows, start empty and let the pushes grow it.
    let capacity = tail
        .iter()
        .try_fold(ExtensionHeader::SIZE, |total, part| {
            total.checked_add(part.len())
        })
        .and_then(|total| total.checked_add(fixed.len()))
        .and_then(|total| total.checked_add(slack))
        .unwrap_or(0);
    let mut message = Vec::with_capacity(capacity);
    if let Some(luid) = extension {
        message.extend_from_slice(ExtensionHeader::new(luid).as_bytes());
    }
    message.extend_from_slice(fixed);
    for part in tail {
        message.extend_from_slice(part);
    }
    // A saturated length cannot be allocated: `resize` then fails as the overflow would have.
    message.resize(message.len().saturating_add(slack), 0);
    message
}

/// Serialises u32 values little-endian (the target is little-endian: see the module `wire`).
pub fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.as_bytes().to_vec()
}

/// Serialises u64 values little-endian.
pub fn u64_bytes(values: &[u64]) -> Vec<u8> {
    values.as_bytes().to_vec()
}
