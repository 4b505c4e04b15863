//! Host-side objects of one host process.

use super::gpu_va::GpuVaSpace;
use super::handles::HandleAllocator;
use dxg::wire::{D3dkmtHandle, RESIDENCY_GPU_MEMORY};
use std::collections::BTreeMap;

/// A host object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostObject {
    /// A device on adapter `adapter`.
    Device {
        /// vGPU index.
        adapter: usize,
    },
    /// A context.
    Context,
    /// A paging queue with its paging fence.
    PagingQueue {
        /// The fence sync object.
        fence: D3dkmtHandle,
    },
    /// An allocation backed by IO-space pages.
    Allocation {
        /// GPA of byte 0.
        address: u64,
        /// Size in bytes (page multiple).
        size: u64,
        /// Resource it belongs to, if any.
        resource: D3dkmtHandle,
    },
    /// A resource.
    Resource,
    /// A sync object.
    SyncObject {
        /// Type (§3.15).
        object_type: u32,
        /// Fence page GPA for monitored fences (value at offset 0).
        fence_page: Option<u64>,
        /// Current value for non-monitored types.
        value: u64,
        /// CPU_NOTIFICATION guest event id.
        event: u64,
    },
    /// A hardware queue on a context, with its progress fence (a monitored-fence sync object).
    HwQueue {
        /// The context it was created on.
        context: D3dkmtHandle,
        /// The progress fence.
        fence: D3dkmtHandle,
    },
}

/// `D3DDDI_ALLOCATIONPRIORITY_NORMAL`, the priority of a fresh allocation.
pub const PRIORITY_NORMAL: u32 = 0x7800_0000;

/// Memory-manager state of an allocation or resource (priorities, residency, offers, segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResidencyState {
    /// Eviction priority.
    pub priority: u32,
    /// 1 in GPU memory, 2 in shared memory, 3 not resident.
    pub residency: u32,
    /// Offered with this priority (contents may be discarded).
    pub offered: Option<u32>,
    /// The host discarded the contents while offered.
    pub discarded: bool,
    /// Supported segment set (UPDATEALLOCATIONPROPERTY).
    pub supported_segment_set: u32,
    /// Preferred segment (UPDATEALLOCATIONPROPERTY).
    pub preferred_segment: u32,
    /// INVALIDATECACHE calls.
    pub cache_invalidations: u64,
}

impl Default for ResidencyState {
    fn default() -> Self {
        Self {
            priority: PRIORITY_NORMAL,
            residency: RESIDENCY_GPU_MEMORY,
            offered: None,
            discarded: false,
            supported_segment_set: 1,
            preferred_segment: 0,
            cache_invalidations: 0,
        }
    }
}

/// Per-process execution counters (QUERYSTATISTICS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutionCounters {
    /// Submissions executed (SUBMITCOMMAND and SUBMITCOMMANDTOHWQUEUE).
    pub submissions: u64,
    /// Command packets executed.
    pub packets: u64,
    /// Host time spent executing, in 100 ns units.
    pub running_time: u64,
}

/// An object with its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    /// Device it belongs to (itself for devices).
    pub device: D3dkmtHandle,
    /// vGPU index.
    pub adapter: usize,
    /// The object.
    pub object: HostObject,
}

/// One host process.
#[derive(Debug, Default)]
pub struct HostProcess {
    /// Guest process id from CREATEPROCESS.
    pub guest_pid: u64,
    /// Handle allocator (shared by all object types).
    pub handles: HandleAllocator,
    /// Live objects.
    pub objects: BTreeMap<D3dkmtHandle, Owned>,
    /// GPU virtual address space per vGPU index.
    pub gpu_va: BTreeMap<usize, GpuVaSpace>,
    /// Memory-manager state of allocations and resources (absent = default).
    pub residency: BTreeMap<D3dkmtHandle, ResidencyState>,
    /// Context scheduling priorities: context → (absolute, in-process).
    pub context_priorities: BTreeMap<D3dkmtHandle, (i32, i32)>,
    /// Devices marked as error (MARKDEVICEASERROR) → reason.
    pub device_errors: BTreeMap<D3dkmtHandle, u32>,
    /// Video memory reservations: (vGPU index, segment group) → bytes.
    pub reservations: BTreeMap<(usize, u32), u64>,
    /// Execution counters.
    pub counters: ExecutionCounters,
}

impl HostProcess {
    /// Forgets the side state of destroyed objects (mappings, priorities, residency, errors).
    pub fn forget(&mut self, handle: D3dkmtHandle) {
        for space in self.gpu_va.values_mut() {
            space.forget_allocation(handle);
        }
        self.residency.remove(&handle);
        self.context_priorities.remove(&handle);
        self.device_errors.remove(&handle);
    }
}
