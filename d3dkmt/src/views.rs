//! The CPU views of one process: allocations mapped by Lock2 and monitored-fence pages.
//!
//! Lock2 maps an allocation's IO-space pages read/write with the allocation's size (remembered
//! from its CreateAllocation2 reply) rounded up to whole pages; further Lock2 calls of the same
//! allocation reuse the view and count it, Unlock2 unmaps it when the count reaches 0. An
//! allocation over existing system memory needs no view (Lock2 returns the application's own
//! address, [`AllocationRecord::system_memory`]). A monitored fence (sync object, paging-queue
//! fence or hardware-queue progress fence) has its value page mapped read-only until the object
//! is destroyed. Destroying an allocation, a resource, a context (its hardware queues) or a
//! device drops every view that depends on it; [`Views::unmap_all`] drops them all when the
//! process ends.
//!
//! Views are removed *before* the destroy request goes to the host: once the host has freed
//! an object, its IO-space pages may be handed to another allocation, possibly another
//! process's, and must no longer be reachable from this process.

use super::{Environment, NtStatus};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use dxg::wire::D3dkmtHandle;

/// How a view of IO space is mapped into a process (Linux `dxg_map_iospace` maps an
/// allocation write-combined unless the host marked it cached, and fence pages read-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewAccess {
    /// The process may write through the view.
    pub writable: bool,
    /// Cached (write-back); otherwise write-combined.
    pub cached: bool,
}

impl ViewAccess {
    /// A fence-value page: read-only, cached (the host writes, the CPU polls).
    pub const FENCE_PAGE: ViewAccess = ViewAccess {
        writable: false,
        cached: true,
    };
}

/// The page size of IO-space mappings.
pub use dxg::wire::PAGE_SIZE;

/// What the translator remembers about an allocation it created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocationRecord {
    /// The device it was created on.
    pub device: D3dkmtHandle,
    /// Its resource, or null.
    pub resource: D3dkmtHandle,
    /// Its size in bytes (from the host's reply).
    pub size: u64,
    /// The user address of the application's own pages behind an existing-system-memory
    /// allocation (what Lock2 returns), 0 for an allocation in IO space.
    pub system_memory: u64,
}

/// One `map_io` mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// User address of the first mapped page.
    pub user_address: u64,
    /// Mapped length (whole pages).
    pub length: u64,
}

impl Mapping {
    /// Maps the pages covering `length` bytes at guest-physical `physical` (page-aligned).
    pub fn map(
        environment: &mut dyn Environment,
        physical: u64,
        length: u64,
        access: ViewAccess,
    ) -> Result<Mapping, NtStatus> {
        if !physical.is_multiple_of(PAGE_SIZE) {
            log::warn!("d3dkmt: IO-space address {physical:#x} is not page-aligned");
            return Err(NtStatus::UNSUCCESSFUL);
        }
        let length = round_up_to_pages(length.max(1)).ok_or(NtStatus::UNSUCCESSFUL)?;
        let user_address = environment.map_io(physical, length, access)?;
        Ok(Mapping {
            user_address,
            length,
        })
    }

    /// Maps the page holding a monitored fence value at IO-space `address`, read-only; returns
    /// the mapping and the user address of the value.
    pub fn map_fence(
        environment: &mut dyn Environment,
        address: u64,
    ) -> Result<(Mapping, u64), NtStatus> {
        let offset = address % PAGE_SIZE;
        let page = address & !(PAGE_SIZE - 1);
        let mapping = Mapping::map(environment, page, PAGE_SIZE, ViewAccess::FENCE_PAGE)?;
        // A page-aligned user address plus an in-page offset cannot overflow; the address comes
        // from the kernel, so it is checked rather than assumed.
        let Some(value_address) = mapping.user_address.checked_add(offset) else {
            mapping.unmap(environment);
            return Err(NtStatus::UNSUCCESSFUL);
        };
        Ok((mapping, value_address))
    }

    /// Removes the mapping.
    pub fn unmap(self, environment: &mut dyn Environment) {
        environment.unmap_io(self.user_address, self.length);
    }
}

/// `length` rounded up to whole pages, `None` on overflow.
pub fn round_up_to_pages(length: u64) -> Option<u64> {
    Some(length.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// A Lock2 view of an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockedView {
    /// The device the allocation lives on.
    pub device: D3dkmtHandle,
    /// The mapping.
    pub mapping: Mapping,
    /// Lock2 calls not yet matched by Unlock2 (≥ 1).
    pub count: u32,
}

/// The mapped value page of a monitored fence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FenceView {
    device: D3dkmtHandle,
    /// The context of a hardware queue's progress fence (null for other fences).
    context: D3dkmtHandle,
    mapping: Mapping,
}

/// What Unlock2 did to a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The allocation has no view.
    NotLocked,
    /// Other Lock2 calls still hold the view.
    StillLocked,
    /// The last Lock2 was released and the view unmapped.
    Unmapped,
}

/// All views of one process, and the allocation sizes Lock2 needs.
#[derive(Debug, Default)]
pub struct Views {
    allocations: BTreeMap<D3dkmtHandle, AllocationRecord>,
    locks: BTreeMap<D3dkmtHandle, LockedView>,
    /// Keyed by the object that owns the fence: the sync object, the paging queue or the
    /// hardware queue.
    fences: BTreeMap<D3dkmtHandle, FenceView>,
}

impl Views {
    /// Remembers an allocation created by this process.
    pub fn add_allocation(&mut self, handle: D3dkmtHandle, record: AllocationRecord) {
        self.allocations.insert(handle, record);
    }

    /// An allocation created by this process.
    pub fn allocation(&self, handle: D3dkmtHandle) -> Option<AllocationRecord> {
        self.allocations.get(&handle).copied()
    }

    /// The Lock2 view of an allocation.
    pub fn lock_mut(&mut self, allocation: D3dkmtHandle) -> Option<&mut LockedView> {
        self.locks.get_mut(&allocation)
    }

    /// Records a new Lock2 view (count 1).
    pub fn add_lock(
        &mut self,
        environment: &mut dyn Environment,
        allocation: D3dkmtHandle,
        device: D3dkmtHandle,
        mapping: Mapping,
    ) {
        let view = LockedView {
            device,
            mapping,
            count: 1,
        };
        if let Some(replaced) = self.locks.insert(allocation, view) {
            replaced.mapping.unmap(environment);
        }
    }

    /// Releases one Lock2 of an allocation, unmapping the view with the last one.
    pub fn release_lock(
        &mut self,
        environment: &mut dyn Environment,
        allocation: D3dkmtHandle,
    ) -> Release {
        let Some(view) = self.locks.get_mut(&allocation) else {
            return Release::NotLocked;
        };
        if view.count > 1 {
            view.count = view.count.saturating_sub(1);
            return Release::StillLocked;
        }
        if let Some(view) = self.locks.remove(&allocation) {
            view.mapping.unmap(environment);
        }
        Release::Unmapped
    }

    /// Records the fence page of a sync object, paging queue or hardware queue (`owner`, on
    /// `device`, null if unknown). A hardware queue's progress fence names its `context` (null
    /// for the others): it goes with the queue, its context or its device. A host that hands out
    /// a live handle again replaces the old object: its page is unmapped rather than leaked.
    pub fn add_fence(
        &mut self,
        environment: &mut dyn Environment,
        owner: D3dkmtHandle,
        device: D3dkmtHandle,
        context: D3dkmtHandle,
        mapping: Mapping,
    ) {
        let view = FenceView {
            device,
            context,
            mapping,
        };
        if let Some(replaced) = self.fences.insert(owner, view) {
            replaced.mapping.unmap(environment);
        }
    }

    /// Unmaps the progress-fence pages of a context's hardware queues (the context is being
    /// destroyed, and its queues with it).
    pub fn remove_context(&mut self, environment: &mut dyn Environment, context: D3dkmtHandle) {
        if context.is_null() {
            return;
        }
        for queue in keys_where(&self.fences, |view| view.context == context) {
            self.remove_fence(environment, queue);
        }
    }

    /// Unmaps the fence page of a sync object, paging queue or hardware queue, if it has one.
    pub fn remove_fence(&mut self, environment: &mut dyn Environment, owner: D3dkmtHandle) {
        if let Some(view) = self.fences.remove(&owner) {
            view.mapping.unmap(environment);
        }
    }

    /// Unmaps the views of these allocations and forgets them.
    pub fn remove_allocations(
        &mut self,
        environment: &mut dyn Environment,
        allocations: &[D3dkmtHandle],
    ) {
        for allocation in allocations {
            if let Some(view) = self.locks.remove(allocation) {
                view.mapping.unmap(environment);
            }
            self.allocations.remove(allocation);
        }
    }

    /// Unmaps the views of a resource's allocations and forgets them.
    pub fn remove_resource(&mut self, environment: &mut dyn Environment, resource: D3dkmtHandle) {
        if resource.is_null() {
            return;
        }
        let members = keys_where(&self.allocations, |record| record.resource == resource);
        self.remove_allocations(environment, &members);
    }

    /// Unmaps every view that depends on a device and forgets its allocations.
    pub fn remove_device(&mut self, environment: &mut dyn Environment, device: D3dkmtHandle) {
        let allocations = keys_where(&self.allocations, |record| record.device == device);
        self.remove_allocations(environment, &allocations);
        let locks = keys_where(&self.locks, |view| view.device == device);
        self.remove_allocations(environment, &locks);
        for owner in keys_where(&self.fences, |view| view.device == device) {
            self.remove_fence(environment, owner);
        }
    }

    /// Unmaps every view and forgets everything (the process ended).
    pub fn unmap_all(&mut self, environment: &mut dyn Environment) {
        for (_, view) in core::mem::take(&mut self.locks) {
            view.mapping.unmap(environment);
        }
        for (_, view) in core::mem::take(&mut self.fences) {
            view.mapping.unmap(environment);
        }
        self.allocations.clear();
    }

    /// Number of mapped views.
    pub fn mapped_count(&self) -> usize {
        self.locks.len().saturating_add(self.fences.len())
    }
}

/// The keys of the entries of `map` whose value passes `keep` (collected, so the map can change).
fn keys_where<V>(map: &BTreeMap<D3dkmtHandle, V>, keep: impl Fn(&V) -> bool) -> Vec<D3dkmtHandle> {
    map.iter()
        .filter(|(_, value)| keep(value))
        .map(|(handle, _)| *handle)
        .collect()
}
