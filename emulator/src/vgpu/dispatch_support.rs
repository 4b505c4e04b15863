//! Object bookkeeping shared by the host's command handlers: lookups with kind checks, IO-space
//! storage and its holders, and destroying objects (with the CPU waits naming them).

use super::{GpuHost, HostObject, HostProcess, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;

impl<M: GuestMemory> GpuHost<M> {
    pub(super) fn process_mut(
        &mut self,
        handle: D3dkmtHandle,
    ) -> Result<&mut HostProcess, NtStatus> {
        self.processes
            .get_mut(&handle)
            .ok_or(NtStatus::INVALID_HANDLE)
    }

    /// Checks that `handle` is an object of this process on `adapter` matching `kind`.
    pub(super) fn expect(
        &self,
        process: D3dkmtHandle,
        handle: D3dkmtHandle,
        adapter: usize,
        kind: impl Fn(&HostObject) -> bool,
    ) -> Result<HostObject, NtStatus> {
        let owned = self
            .processes
            .get(&process)
            .and_then(|process| process.objects.get(&handle))
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if owned.adapter != adapter {
            return Err(NtStatus::INVALID_HANDLE);
        }
        if !kind(&owned.object) {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
        Ok(owned.object.clone())
    }

    /// [`GpuHost::expect`] a device.
    pub(super) fn expect_device(
        &self,
        process: D3dkmtHandle,
        handle: D3dkmtHandle,
        adapter: usize,
    ) -> Result<HostObject, NtStatus> {
        self.expect(process, handle, adapter, |object| {
            matches!(object, HostObject::Device { .. })
        })
    }

    /// [`GpuHost::expect`] an allocation.
    pub(super) fn expect_allocation(
        &self,
        process: D3dkmtHandle,
        handle: D3dkmtHandle,
        adapter: usize,
    ) -> Result<HostObject, NtStatus> {
        self.expect(process, handle, adapter, |object| {
            matches!(object, HostObject::Allocation { .. })
        })
    }

    /// [`GpuHost::expect`] a synchronization object.
    pub(super) fn expect_sync_object(
        &self,
        process: D3dkmtHandle,
        handle: D3dkmtHandle,
        adapter: usize,
    ) -> Result<HostObject, NtStatus> {
        self.expect(process, handle, adapter, |object| {
            matches!(object, HostObject::SyncObject { .. })
        })
    }

    pub(super) fn fence_page(
        &self,
        process: D3dkmtHandle,
        fence: D3dkmtHandle,
    ) -> Result<u64, NtStatus> {
        match self
            .processes
            .get(&process)
            .and_then(|process| process.objects.get(&fence))
        {
            Some(Owned {
                object:
                    HostObject::SyncObject {
                        fence_page: Some(page),
                        ..
                    },
                ..
            }) => Ok(*page),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    pub(super) fn allocate_io(&mut self, bytes: u64) -> Result<u64, NtStatus> {
        self.io_space
            .as_mut()
            .and_then(|space| space.allocate(bytes))
            .ok_or(NtStatus::NO_MEMORY)
    }

    /// Drops one holder of an object's storage; IO-space pages and sysmem windows go with the
    /// last holder (storage shared through OPENRESOURCE / OPENSYNCOBJECT has several).
    pub(super) fn release_storage(&mut self, object: &HostObject) {
        let (address, size) = match object {
            HostObject::Allocation { address, size, .. } => (*address, *size),
            HostObject::SyncObject {
                fence_page: Some(page),
                ..
            } => (*page, PAGE_SIZE),
            _ => return,
        };
        self.release_range(address, size);
    }

    /// Drops one holder of `[address, address + size)` (see [`Self::retain_range`]).
    pub(super) fn release_range(&mut self, address: u64, size: u64) {
        if super::sysmem::SysmemWindows::is_window(address) {
            self.sysmem.release(address);
            return;
        }
        if let Some(extra) = self.storage_holders.get_mut(&address) {
            *extra = extra.saturating_sub(1);
            if *extra == 0 {
                self.storage_holders.remove(&address);
            }
            return;
        }
        if let Some(space) = self.io_space.as_mut()
            && address
                .checked_sub(space.base())
                .is_some_and(|offset| offset < space.length())
        {
            space.free(address, size);
        }
    }

    /// One more holder of the storage at `address` (an IO-space range or a sysmem window).
    pub(super) fn retain_range(&mut self, address: u64) {
        if super::sysmem::SysmemWindows::is_window(address) {
            self.sysmem.retain(address);
        } else {
            let holders = self.storage_holders.entry(address).or_insert(0);
            *holders = holders.saturating_add(1);
        }
    }

    /// Guest memory as the GPU sees it: IO space and guest RAM directly, existing-sysmem
    /// windows translated to the guest's pages.
    pub(super) fn gpu_memory(&self) -> super::sysmem::ScatteredMemory<'_> {
        super::sysmem::ScatteredMemory {
            inner: &self.memory,
            windows: &self.sysmem,
        }
    }

    /// Destroys every object of `process` matching `filter`, freeing storage and handles.
    pub(super) fn destroy_where(
        &mut self,
        process: D3dkmtHandle,
        filter: impl Fn(D3dkmtHandle, &Owned) -> bool,
    ) {
        let Some(entry) = self.processes.get_mut(&process) else {
            return;
        };
        let doomed: Vec<D3dkmtHandle> = entry
            .objects
            .iter()
            .filter(|(handle, owned)| filter(**handle, owned))
            .map(|(h, _)| *h)
            .collect();
        let mut released = Vec::new();
        for handle in &doomed {
            if let Some(owned) = entry.objects.remove(handle) {
                entry.handles.free(*handle);
                entry.forget(*handle);
                released.push(owned.object);
            }
        }
        for object in released {
            self.release_storage(&object);
        }
        self.forget_dead_globals();
        self.waits.retain(|wait| {
            wait.process != process
                || wait
                    .objects
                    .iter()
                    .all(|(handle, _)| !doomed.contains(handle))
        });
    }
}
