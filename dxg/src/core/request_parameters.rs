//! Parameter types of [`super::Request`]: allocations to create, sync object kinds, GPU
//! virtual address operations.

use crate::wire::D3dkmtHandle;
use alloc::vec::Vec;

/// One allocation to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocationRequest {
    /// `D3DDDI_ALLOCATIONINFO2` flags (primary, stereo, override_priority).
    pub flags: u32,
    /// VidPN source id.
    pub vidpn_source_id: u32,
    /// Per-allocation private driver data (the vGPU reads the surface size from it, see
    /// `docs/vgpu-command-processor.md`).
    pub private_data: Vec<u8>,
}

/// The kind of synchronisation object to create, with its type-specific parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncObjectKind {
    /// SYNCHRONIZATION_MUTEX.
    Mutex {
        /// Initially owned.
        initial_state: bool,
    },
    /// SEMAPHORE.
    Semaphore {
        /// Maximum count.
        max_count: u32,
        /// Initial count.
        initial_count: u32,
    },
    /// FENCE.
    Fence {
        /// Initial value.
        initial_value: u64,
    },
    /// CPU_NOTIFICATION: the driver assigns a guest event; each signal is reported as
    /// [`super::Action::SyncObjectNotified`].
    CpuNotification,
    /// MONITORED_FENCE.
    MonitoredFence {
        /// Initial value.
        initial_value: u64,
        /// Engine affinity.
        engine_affinity: u32,
    },
}

/// One operation of UPDATEGPUVIRTUALADDRESS (dxg.md §3.12); addresses and sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuVirtualAddressOperation {
    /// MAP (0): map `allocation_size` bytes of `allocation` from `allocation_offset` at `base_address`.
    Map {
        /// GPU VA of the range.
        base_address: u64,
        /// Range size.
        size: u64,
        /// Allocation handle.
        allocation: D3dkmtHandle,
        /// Offset inside the allocation.
        allocation_offset: u64,
        /// Bytes of the allocation to map.
        allocation_size: u64,
    },
    /// UNMAP (1): unmap a range (it stays reserved).
    Unmap {
        /// GPU VA of the range.
        base_address: u64,
        /// Range size.
        size: u64,
        /// `D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE` left on the range.
        protection: u64,
    },
    /// COPY (2): copy the mappings of one range to another.
    Copy {
        /// Source GPU VA.
        source_address: u64,
        /// Range size.
        size: u64,
        /// Destination GPU VA.
        destination_address: u64,
    },
    /// MAP_PROTECT (3): MAP with protection.
    MapProtect {
        /// GPU VA of the range.
        base_address: u64,
        /// Range size.
        size: u64,
        /// Allocation handle.
        allocation: D3dkmtHandle,
        /// Offset inside the allocation.
        allocation_offset: u64,
        /// Bytes of the allocation to map.
        allocation_size: u64,
        /// `D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE`.
        protection: u64,
        /// Driver protection.
        driver_protection: u64,
    },
}
