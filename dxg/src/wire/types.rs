//! Basic wire types: D3DKMT handles and LUIDs (GUIDs are `hyperv`'s [`Guid`], shared with vmbus).

use super::{Guid, assert_offset, assert_size};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A `D3DKMTHANDLE`: bits 0..5 instance, bits 6..29 index, bits 30..31 unique; 0 is null.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
#[repr(transparent)]
pub struct D3dkmtHandle(pub u32);

impl D3dkmtHandle {
    /// The null handle.
    pub const NULL: Self = Self(0);
    /// Largest index a handle may carry (index < 2^24 − 1).
    pub const MAX_INDEX: u32 = 0x00FF_FFFE;

    /// Builds a handle from its parts (`index` is truncated to 24 bits, `unique` to 2 bits).
    pub const fn new(index: u32, unique: u32, instance: u32) -> Self {
        Self((instance & 0x3F) | ((index & 0x00FF_FFFF) << 6) | ((unique & 3) << 30))
    }
    /// The 24-bit table index.
    pub const fn index(self) -> u32 {
        (self.0 >> 6) & 0x00FF_FFFF
    }
    /// The 2-bit unique (generation) field.
    pub const fn unique(self) -> u32 {
        self.0 >> 30
    }
    /// The 6-bit instance field.
    pub const fn instance(self) -> u32 {
        self.0 & 0x3F
    }
    /// Whether this is the null handle.
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }
}

/// A locally unique identifier: `low` at offset 0, `high` at offset 4.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
#[repr(C)]
pub struct Luid {
    /// Low part (`a`, LowPart).
    pub low: u32,
    /// High part (`b`, HighPart).
    pub high: u32,
}
assert_size!(Luid, 8);
assert_offset!(Luid, high, 4);

impl Luid {
    /// Builds a LUID from a 64-bit value (low half = `low`).
    pub const fn from_u64(value: u64) -> Self {
        Self {
            low: value as u32,
            high: (value >> 32) as u32,
        }
    }
    /// The LUID as one 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.low as u64 | ((self.high as u64) << 32)
    }
    /// Whether both halves are zero.
    pub const fn is_zero(self) -> bool {
        self.low == 0 && self.high == 0
    }
    /// The adapter LUID a vGPU channel instance GUID stands for: its first 8 bytes.
    pub const fn of_channel_instance(instance: &Guid) -> Self {
        let b = &instance.bytes;
        Luid {
            low: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            high: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// PCI vendor id of the GPU-PV function (Microsoft).
pub const PCI_VENDOR_MICROSOFT: u16 = 0x1414;
/// PCI device id of a "virtual render" vGPU.
pub const PCI_DEVICE_VIRTUAL_RENDER: u16 = 0x008E;
/// PCI device id of a "compute accelerator" vGPU (compute-only adapter).
pub const PCI_DEVICE_COMPUTE_ACCELERATOR: u16 = 0x008A;

/// PCI config offset of the vGPU channel instance GUID (16 bytes).
pub const PCI_CONFIG_GUID: u16 = 0xC0;
/// PCI config offset of the interface version (read host, write guest).
pub const PCI_CONFIG_VERSION: u16 = 0xD0;
/// PCI config offset of the vGPU LUID (read, 8 bytes) / guest caps (write, 4 bytes).
pub const PCI_CONFIG_LUID_OR_GUEST_CAPS: u16 = 0xD4;
/// PCI config offset of the host capabilities dword.
pub const PCI_CONFIG_HOST_CAPS: u16 = 0xDC;
/// Guest capability bit 0: `wsl2`.
pub const GUEST_CAPS_WSL2: u32 = 1;
/// Host capability bit 0: `map_guest_memory`.
pub const HOST_CAPS_MAP_GUEST_MEMORY: u32 = 1;

/// `DXGK_VMBUS_INTERFACE_VERSION_OLD`.
pub const INTERFACE_VERSION_OLD: u32 = 27;
/// `DXGK_VMBUS_INTERFACE_VERSION`, the guest's version.
pub const INTERFACE_VERSION: u32 = 40;
/// `DXGK_VMBUS_LAST_COMPATIBLE_INTERFACE_VERSION`, sent in OPENADAPTER.
pub const LAST_COMPATIBLE_INTERFACE_VERSION: u32 = 16;
