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
    let tail_length: usize = tail.iter().map(|part| part.len()).sum();
    let mut message = Vec::with_capacity(ExtensionHeader::SIZE + fixed.len() + tail_length + slack);
    if let Some(luid) = extension {
        message.extend_from_slice(ExtensionHeader::new(luid).as_bytes());
    }
    message.extend_from_slice(fixed);
    for part in tail {
        message.extend_from_slice(part);
    }
    message.resize(message.len() + slack, 0);
    message
}

/// Serialises u32 values little-endian.
pub fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Serialises u64 values little-endian.
pub fn u64_bytes(values: &[u64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}
