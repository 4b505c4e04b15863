//! Per-process state: the host process handle, guest-local adapter handles and the table of
//! host-assigned object handles.

use crate::wire::D3dkmtHandle;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::AdapterId;

/// What kind of object a host handle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A device.
    Device,
    /// A virtual context.
    Context,
    /// A paging queue.
    PagingQueue,
    /// An allocation.
    Allocation,
    /// A resource.
    Resource,
    /// A sync object.
    SyncObject,
    /// A monitored fence created implicitly (paging queue fence, hardware queue progress fence).
    MonitoredFence,
    /// A hardware queue (its context and progress fence are recorded by [`Process::add_hwqueue`]).
    HwQueue,
}

/// One entry of the per-process object table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    /// The full handle (index and unique bits as the host assigned them).
    pub handle: D3dkmtHandle,
    /// Kind of object.
    pub kind: ObjectKind,
    /// Adapter it lives on.
    pub adapter: AdapterId,
    /// Owning device (the device itself for devices).
    pub device: D3dkmtHandle,
    /// Allocations: size in bytes; others 0.
    pub size: u64,
    /// Allocations: cached CPU mapping.
    pub cached: bool,
    /// Devices: cached execution state and the device-state counter it was read at.
    pub cached_execution_state: Option<(u64, u32)>,
}

/// A host handle the table refused (null, index out of range, or index already live).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleRejected(pub D3dkmtHandle);

/// Lifecycle of a guest process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// CREATEPROCESS sent.
    Creating,
    /// Host handle known.
    Active,
    /// DestroyProcess in progress.
    Destroying,
}

/// A guest process known to the driver.
#[derive(Debug)]
pub struct Process {
    /// Host process handle (null until CREATEPROCESS completed).
    pub host: D3dkmtHandle,
    /// State.
    pub state: ProcessState,
    /// Guest-local adapter handles: handle → (adapter, reference count).
    pub adapters: BTreeMap<D3dkmtHandle, (AdapterId, u32)>,
    /// Index the next adapter handle tries; adapter handles count down from
    /// [`D3dkmtHandle::MAX_INDEX`], away from the host's indices, which start low.
    next_adapter_index: u32,
    /// Host object handles keyed by the index encoded in the handle.
    objects: BTreeMap<u32, ObjectEntry>,
    /// Outstanding teardown commands during DestroyProcess.
    pub teardown_outstanding: usize,
    /// Hardware queues: queue handle → (context, progress fence).
    hwqueues: BTreeMap<D3dkmtHandle, (D3dkmtHandle, D3dkmtHandle)>,
    /// Resources: resource → (its allocations, total private driver data bytes), for sharing.
    resources: BTreeMap<D3dkmtHandle, (Vec<D3dkmtHandle>, u32)>,
    /// Sync objects: handle → (global handle, monitored fence), for sharing.
    sync_objects: BTreeMap<D3dkmtHandle, (D3dkmtHandle, bool)>,
}

impl Process {
    /// A new process awaiting its host handle.
    pub fn new() -> Self {
        Self {
            host: D3dkmtHandle::NULL,
            state: ProcessState::Creating,
            adapters: BTreeMap::new(),
            next_adapter_index: D3dkmtHandle::MAX_INDEX,
            objects: BTreeMap::new(),
            teardown_outstanding: 0,
            hwqueues: BTreeMap::new(),
            resources: BTreeMap::new(),
            sync_objects: BTreeMap::new(),
        }
    }

    /// Returns the guest-local handle for `adapter`, creating it (and counting a reference).
    ///
    /// Adapter handles and host object handles are one namespace for the application (an
    /// adapter handle passed where a device handle belongs must not name a device), so a new
    /// adapter handle never takes the index of a live object, and [`Process::insert`] refuses
    /// a host handle at the index of a live adapter handle. Linux keeps adapter handles in a
    /// separate table (`local_handle_table` in drivers/hv/dxgkrnl/dxgprocess.c), where the
    /// two can coincide.
    pub fn open_adapter(&mut self, adapter: AdapterId) -> D3dkmtHandle {
        if let Some((handle, entry)) = self.adapters.iter_mut().find(|(_, (id, _))| *id == adapter)
        {
            entry.1 = entry.1.saturating_add(1);
            return *handle;
        }
        // Among used + 1 consecutive indices one is free (used < MAX_INDEX: each entry is a
        // heap allocation), so the search is bounded.
        let mut index = self.next_adapter_index;
        let used = self.objects.len().saturating_add(self.adapters.len());
        for _ in 0..used {
            if !self.objects.contains_key(&index) && !self.adapter_index_live(index) {
                break;
            }
            index = Self::previous_adapter_index(index);
        }
        self.next_adapter_index = Self::previous_adapter_index(index);
        let handle = D3dkmtHandle::new(index, 1, 0);
        self.adapters.insert(handle, (adapter, 1));
        handle
    }

    /// The index below `index`, wrapping from 1 back to [`D3dkmtHandle::MAX_INDEX`] (index 0
    /// is never used: with unique bits it could still be mistaken for null by a careless peer).
    fn previous_adapter_index(index: u32) -> u32 {
        match index {
            0 | 1 => D3dkmtHandle::MAX_INDEX,
            _ => index.saturating_sub(1),
        }
    }

    /// Whether a live adapter handle uses `index`.
    fn adapter_index_live(&self, index: u32) -> bool {
        self.adapters.keys().any(|handle| handle.index() == index)
    }

    /// Drops one reference on a guest-local adapter handle.
    pub fn close_adapter(&mut self, handle: D3dkmtHandle) -> bool {
        match self.adapters.get_mut(&handle) {
            Some(entry) if entry.1 > 1 => {
                entry.1 = entry.1.saturating_sub(1);
                true
            }
            Some(_) => {
                self.adapters.remove(&handle);
                true
            }
            None => false,
        }
    }

    /// The adapter behind a guest-local adapter handle.
    pub fn adapter(&self, handle: D3dkmtHandle) -> Option<AdapterId> {
        self.adapters.get(&handle).map(|entry| entry.0)
    }

    /// Inserts a host-assigned handle. Fails when the handle is null, its index is out of range,
    /// its index is already live (the host broke the uniqueness rule), or a live adapter handle
    /// uses its index (see [`Process::open_adapter`]).
    pub fn insert(&mut self, entry: ObjectEntry) -> Result<(), HandleRejected> {
        let handle = entry.handle;
        if handle.is_null()
            || handle.index() > D3dkmtHandle::MAX_INDEX
            || self.objects.contains_key(&handle.index())
            || self.adapter_index_live(handle.index())
        {
            return Err(HandleRejected(handle));
        }
        self.objects.insert(handle.index(), entry);
        Ok(())
    }

    /// Looks up a live handle (index and unique bits must both match).
    pub fn get(&self, handle: D3dkmtHandle) -> Option<&ObjectEntry> {
        self.objects
            .get(&handle.index())
            .filter(|entry| entry.handle == handle)
    }

    /// Mutable lookup.
    pub fn get_mut(&mut self, handle: D3dkmtHandle) -> Option<&mut ObjectEntry> {
        self.objects
            .get_mut(&handle.index())
            .filter(|entry| entry.handle == handle)
    }

    /// Removes a handle.
    pub fn remove(&mut self, handle: D3dkmtHandle) -> Option<ObjectEntry> {
        if self.get(handle).is_some() {
            self.resources.remove(&handle);
            self.sync_objects.remove(&handle);
            self.objects.remove(&handle.index())
        } else {
            None
        }
    }

    /// Removes a device and everything created on it.
    pub fn remove_device_tree(&mut self, device: D3dkmtHandle) {
        self.remove_where(|entry| entry.device == device);
    }

    /// Removes everything that lives on `adapter`.
    pub fn remove_adapter_objects(&mut self, adapter: AdapterId) {
        self.remove_where(|entry| entry.adapter == adapter);
    }

    /// Records a hardware queue's context and progress fence (both already inserted).
    pub fn add_hwqueue(
        &mut self,
        hwqueue: D3dkmtHandle,
        context: D3dkmtHandle,
        progress_fence: D3dkmtHandle,
    ) {
        self.hwqueues.insert(hwqueue, (context, progress_fence));
    }

    /// Removes a hardware queue and its progress fence.
    pub fn remove_hwqueue(&mut self, hwqueue: D3dkmtHandle) {
        if let Some((_, fence)) = self.hwqueues.remove(&hwqueue) {
            self.remove(fence);
        }
        self.remove(hwqueue);
    }

    /// Removes a context with its hardware queues (and their progress fences).
    pub fn remove_context(&mut self, context: D3dkmtHandle) {
        let queues: Vec<D3dkmtHandle> = self
            .hwqueues
            .iter()
            .filter(|(_, (owner, _))| *owner == context)
            .map(|(queue, _)| *queue)
            .collect();
        for queue in queues {
            self.remove_hwqueue(queue);
        }
        self.remove(context);
    }

    /// Removes the objects `selected` picks, and what the side tables hold about them.
    fn remove_where(&mut self, selected: impl Fn(&ObjectEntry) -> bool) {
        self.objects.retain(|_, entry| !selected(entry));
        let objects = &self.objects;
        let live = |handle: &D3dkmtHandle| {
            objects
                .get(&handle.index())
                .is_some_and(|entry| entry.handle == *handle)
        };
        self.hwqueues.retain(|queue, _| live(queue));
        self.resources.retain(|resource, _| live(resource));
        self.sync_objects.retain(|object, _| live(object));
    }

    /// Records allocations (and their private driver data bytes) as members of `resource`.
    pub fn add_resource_allocations(
        &mut self,
        resource: D3dkmtHandle,
        allocations: &[D3dkmtHandle],
        private_data_size: u32,
    ) {
        let entry = self.resources.entry(resource).or_default();
        entry.0.extend_from_slice(allocations);
        entry.1 = entry.1.saturating_add(private_data_size);
    }

    /// The live allocations of a resource and their total private driver data bytes.
    pub fn resource_allocations(&self, resource: D3dkmtHandle) -> (Vec<ObjectEntry>, u32) {
        match self.resources.get(&resource) {
            Some((members, private)) => (
                members
                    .iter()
                    .filter_map(|handle| self.get(*handle))
                    .copied()
                    .collect(),
                *private,
            ),
            None => (Vec::new(), 0),
        }
    }

    /// Records a sync object's global handle (null unless created shared) and kind.
    pub fn set_sync_object_info(
        &mut self,
        sync_object: D3dkmtHandle,
        global: D3dkmtHandle,
        monitored: bool,
    ) {
        self.sync_objects.insert(sync_object, (global, monitored));
    }

    /// A sync object's (global handle, monitored fence).
    pub fn sync_object_info(&self, sync_object: D3dkmtHandle) -> Option<(D3dkmtHandle, bool)> {
        self.sync_objects.get(&sync_object).copied()
    }

    /// All live entries of a kind.
    pub fn entries_of(&self, kind: ObjectKind) -> Vec<ObjectEntry> {
        self.objects
            .values()
            .filter(|entry| entry.kind == kind)
            .copied()
            .collect()
    }

    /// Number of live objects.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }
}

impl Default for Process {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(handle: D3dkmtHandle) -> ObjectEntry {
        ObjectEntry {
            handle,
            kind: ObjectKind::Device,
            adapter: AdapterId(0),
            device: handle,
            size: 0,
            cached: false,
            cached_execution_state: None,
        }
    }

    #[test]
    fn adapter_handles_never_take_a_live_object_index() {
        let mut process = Process::new();
        // A host handle at the very index the next adapter handle would take.
        let top = D3dkmtHandle::new(process.next_adapter_index, 1, 0);
        assert_eq!(process.insert(device(top)), Ok(()));
        let adapter = process.open_adapter(AdapterId(0));
        assert_ne!(adapter.index(), top.index());
        assert!(process.get(adapter).is_none());
        assert_eq!(process.adapter(adapter), Some(AdapterId(0)));
    }

    #[test]
    fn a_host_handle_at_a_live_adapter_index_is_refused() {
        let mut process = Process::new();
        let adapter = process.open_adapter(AdapterId(0));
        let same_index = D3dkmtHandle::new(adapter.index(), 2, 0);
        assert_eq!(
            process.insert(device(adapter)),
            Err(HandleRejected(adapter))
        );
        assert_eq!(
            process.insert(device(same_index)),
            Err(HandleRejected(same_index))
        );
        // Once the adapter handle is closed, its index is the host's again.
        assert!(process.close_adapter(adapter));
        assert_eq!(process.insert(device(same_index)), Ok(()));
    }

    #[test]
    fn adapter_handles_stay_distinct_and_wrap_below_index_one() {
        let mut process = Process::new();
        process.next_adapter_index = 2;
        let first = process.open_adapter(AdapterId(0));
        let second = process.open_adapter(AdapterId(1));
        let third = process.open_adapter(AdapterId(2));
        assert_eq!(first.index(), 2);
        assert_eq!(second.index(), 1);
        assert_eq!(third.index(), D3dkmtHandle::MAX_INDEX);
        assert!(!first.is_null() && !second.is_null() && !third.is_null());
    }
}
