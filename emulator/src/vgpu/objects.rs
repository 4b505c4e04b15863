//! Host-side objects of one host process.

use super::handles::HandleAllocator;
use dxg::wire::D3dkmtHandle;
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
}
