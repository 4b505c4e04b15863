//! GUIDs in the Windows wire layout, and the device classes dxgos knows about.
//!
//! VMBus sends GUIDs in the mixed-endian Windows layout: `data1` (u32), `data2` (u16) and
//! `data3` (u16) little-endian, then `data4` as eight bytes in order. [`Guid`] stores exactly
//! those 16 wire bytes, so it can sit inside `#[repr(C)]` wire structs and compare by bytes.
//!
//! One type for every layer: VMBus offers (`vmbus` re-exports it as `vmbus::Guid`), the vPCI
//! bus instances and dxg's vGPU channel instances all carry this [`Guid`].

use core::fmt;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A GUID stored as its 16 wire bytes (Windows layout).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
#[repr(C)]
pub struct Guid {
    /// The wire bytes.
    pub bytes: [u8; 16],
}

/// Ordered as the 16 wire bytes are, lexicographically (what a derived `Ord` would give),
/// computed as one comparison of two big-endian `u128`s instead of a byte-slice `memcmp`: the
/// maps keyed by a GUID (dxg's vGPU channels, VMBus offers) compare on every lookup.
impl Ord for Guid {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        u128::from_be_bytes(self.bytes).cmp(&u128::from_be_bytes(other.bytes))
    }
}

impl PartialOrd for Guid {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Guid {
    /// The all-zero GUID.
    pub const ZERO: Guid = Guid { bytes: [0; 16] };

    /// A GUID from its 16 wire bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid { bytes }
    }

    /// Builds a GUID from its textual fields `data1-data2-data3-data4`.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Guid {
        let a = data1.to_le_bytes();
        let b = data2.to_le_bytes();
        let c = data3.to_le_bytes();
        Guid {
            bytes: [
                a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2],
                data4[3], data4[4], data4[5], data4[6], data4[7],
            ],
        }
    }

    /// The `data1` field.
    pub const fn data1(&self) -> u32 {
        u32::from_le_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }

    /// The `data2` field.
    pub const fn data2(&self) -> u16 {
        u16::from_le_bytes([self.bytes[4], self.bytes[5]])
    }

    /// The `data3` field.
    pub const fn data3(&self) -> u16 {
        u16::from_le_bytes([self.bytes[6], self.bytes[7]])
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [_, _, _, _, _, _, _, _, d0, d1, d2, d3, d4, d5, d6, d7] = self.bytes;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1(),
            self.data2(),
            self.data3(),
            d0,
            d1,
            d2,
            d3,
            d4,
            d5,
            d6,
            d7
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{self}}}")
    }
}

/// Well-known VMBus device class (interface type) GUIDs (reference vmbus.md §4.6, dxg.md §1.1,
/// vpci.md).
pub mod class {
    use super::Guid;

    /// Synthetic network adapter (netvsc).
    pub const NETWORK: Guid = Guid::from_fields(
        0xf8615163,
        0xdf3e,
        0x46c5,
        [0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e],
    );
    /// Synthetic SCSI controller (storvsc).
    pub const SCSI: Guid = Guid::from_fields(
        0xba6163d9,
        0x04a1,
        0x4d29,
        [0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f],
    );
    /// IDE accelerator (Generation 1 only).
    pub const IDE: Guid = Guid::from_fields(
        0x32412632,
        0x86cb,
        0x44a2,
        [0x9b, 0x5c, 0x50, 0xd1, 0x41, 0x73, 0x54, 0xf5],
    );
    /// Shutdown integration component.
    pub const SHUTDOWN: Guid = Guid::from_fields(
        0x0e0b6031,
        0x5213,
        0x4934,
        [0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb],
    );
    /// Time synchronisation integration component.
    pub const TIME_SYNC: Guid = Guid::from_fields(
        0x9527e630,
        0xd0ae,
        0x497b,
        [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
    );
    /// Heartbeat integration component.
    pub const HEARTBEAT: Guid = Guid::from_fields(
        0x57164f39,
        0x9115,
        0x4e78,
        [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
    );
    /// Key-value pair exchange integration component.
    pub const KEY_VALUE_PAIR: Guid = Guid::from_fields(
        0xa9a0f4e7,
        0x5a45,
        0x4d96,
        [0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6],
    );
    /// Volume shadow copy integration component.
    pub const VOLUME_SHADOW_COPY: Guid = Guid::from_fields(
        0x35fa2e29,
        0xea23,
        0x4236,
        [0x96, 0xae, 0x3a, 0x6e, 0xba, 0xcb, 0xa4, 0x40],
    );
    /// Dynamic memory (balloon).
    pub const DYNAMIC_MEMORY: Guid = Guid::from_fields(
        0x525074dc,
        0x8985,
        0x46e2,
        [0x80, 0x57, 0xa3, 0x07, 0xdc, 0x18, 0xa5, 0x02],
    );
    /// Synthetic mouse (HID).
    pub const MOUSE: Guid = Guid::from_fields(
        0xcfa8b69e,
        0x5b4a,
        0x4cc0,
        [0xb9, 0x8b, 0x8b, 0xa1, 0xa1, 0xf3, 0xf9, 0x5a],
    );
    /// Synthetic keyboard.
    pub const KEYBOARD: Guid = Guid::from_fields(
        0xf912ad6d,
        0x2b17,
        0x48ea,
        [0xbd, 0x65, 0xf9, 0x27, 0xa6, 0x1c, 0x76, 0x84],
    );
    /// Synthetic video.
    pub const VIDEO: Guid = Guid::from_fields(
        0xda0a7802,
        0xe377,
        0x4aac,
        [0x8e, 0x77, 0x05, 0x58, 0xeb, 0x10, 0x73, 0xf8],
    );
    /// Fibre channel.
    pub const FIBRE_CHANNEL: Guid = Guid::from_fields(
        0x2f9bcc4a,
        0x0069,
        0x4af3,
        [0xb7, 0x6b, 0x6f, 0xd0, 0xbe, 0x52, 0x8c, 0xda],
    );
    /// File copy integration component.
    pub const FILE_COPY: Guid = Guid::from_fields(
        0x34d14be3,
        0xdee4,
        0x41c8,
        [0x9a, 0xe7, 0x6b, 0x17, 0x49, 0x77, 0xc1, 0x92],
    );
    /// Network Direct (RDMA).
    pub const NETWORK_DIRECT: Guid = Guid::from_fields(
        0x8c2eaf3d,
        0x32a7,
        0x4b09,
        [0xab, 0x99, 0xbd, 0x1f, 0x1c, 0x86, 0xb5, 0x01],
    );
    /// PCI Express pass-through (vPCI).
    pub const VIRTUAL_PCI: Guid = Guid::from_fields(
        0x44c4f61d,
        0x4444,
        0x4400,
        [0x9d, 0x52, 0x80, 0x2e, 0x27, 0xed, 0xe1, 0x9f],
    );
    /// GPU-PV global DXGK channel (one per VM).
    pub const DXG_GLOBAL: Guid = Guid::from_fields(
        0xdde9cbc0,
        0x5060,
        0x4436,
        [0x94, 0x48, 0xea, 0x12, 0x54, 0xa5, 0xd1, 0x77],
    );
    /// GPU-PV per-vGPU DXGK channel.
    pub const DXG_VIRTUAL_GPU: Guid = Guid::from_fields(
        0x6e382d18,
        0x3336,
        0x4f4b,
        [0xac, 0xc4, 0x2b, 0x77, 0x03, 0xd4, 0xdf, 0x4a],
    );
    /// Remote desktop virtualization.
    pub const REMOTE_DESKTOP: Guid = Guid::from_fields(
        0x276aacf4,
        0xac15,
        0x426c,
        [0x98, 0xdd, 0x75, 0x21, 0xad, 0x3f, 0x01, 0xfe],
    );
    /// Hyper-V IMC (Windows guests only).
    pub const IMC: Guid = Guid::from_fields(
        0xc376c1c3,
        0xd276,
        0x48d2,
        [0x90, 0xa9, 0xc0, 0x47, 0x48, 0x07, 0x2c, 0x60],
    );
    /// Automatic VM activation 1 ("inherited activation").
    pub const AVMA1: Guid = Guid::from_fields(
        0xf8e65716,
        0x3cb3,
        0x4a06,
        [0x9a, 0x60, 0x18, 0x89, 0xc5, 0xcc, 0xca, 0xb5],
    );
    /// Automatic VM activation 2.
    pub const AVMA2: Guid = Guid::from_fields(
        0x3375baf4,
        0x9e15,
        0x4b30,
        [0xb7, 0x65, 0x67, 0xac, 0xb1, 0x0d, 0x60, 0x7b],
    );
    /// dxgos test device: a channel that echoes every in-band packet back. Not a Hyper-V class;
    /// offered only by the emulated host.
    pub const DXGOS_ECHO: Guid = Guid::from_fields(
        0x6478676f,
        0x7365,
        0x6863,
        [0x6f, 0x00, 0xd5, 0x0e, 0x1f, 0x2a, 0x3b, 0x4c],
    );
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
    use alloc::format;

    #[test]
    fn guids_order_as_their_wire_bytes() {
        // The order must be the bytes' lexicographic order (the derived order it replaced):
        // pairs that differ in the first byte, the last byte, and bytes in between.
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..2_000 {
            let mut left = [0u8; 16];
            let mut right = [0u8; 16];
            for index in 0..16 {
                left[index] = next() as u8;
                // Often equal bytes, so the first difference falls anywhere.
                right[index] = if next() % 4 == 0 {
                    next() as u8
                } else {
                    left[index]
                };
            }
            let (a, b) = (Guid::from_bytes(left), Guid::from_bytes(right));
            assert_eq!(a.cmp(&b), left.cmp(&right), "{a} vs {b}");
            assert_eq!(a.partial_cmp(&b), Some(left.cmp(&right)));
        }
        assert!(
            Guid::from_bytes([0; 16])
                < Guid::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert!(
            Guid::from_bytes([1; 16])
                > Guid::from_bytes([
                    0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0xff, 0xff
                ])
        );
    }

    #[test]
    fn wire_bytes_follow_the_windows_layout() {
        // Reference vmbus.md §4.4 (network), dxg.md §1.1, vpci.md: hand-written wire bytes.
        assert_eq!(
            class::NETWORK.bytes,
            [
                0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46, 0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65,
                0xed, 0x0e
            ]
        );
        assert_eq!(
            class::DXG_GLOBAL.bytes,
            [
                0xC0, 0xCB, 0xE9, 0xDD, 0x60, 0x50, 0x36, 0x44, 0x94, 0x48, 0xEA, 0x12, 0x54, 0xA5,
                0xD1, 0x77
            ]
        );
        assert_eq!(
            class::DXG_VIRTUAL_GPU.bytes,
            [
                0x18, 0x2D, 0x38, 0x6E, 0x36, 0x33, 0x4B, 0x4F, 0xAC, 0xC4, 0x2B, 0x77, 0x03, 0xD4,
                0xDF, 0x4A
            ]
        );
        assert_eq!(
            class::VIRTUAL_PCI.bytes,
            [
                0x1D, 0xF6, 0xC4, 0x44, 0x44, 0x44, 0x00, 0x44, 0x9D, 0x52, 0x80, 0x2E, 0x27, 0xED,
                0xE1, 0x9F
            ]
        );
    }

    #[test]
    fn display_is_the_textual_form() {
        assert_eq!(
            format!("{}", class::VIRTUAL_PCI),
            "44c4f61d-4444-4400-9d52-802e27ede19f"
        );
    }
}
