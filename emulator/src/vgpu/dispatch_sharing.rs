//! Host handlers of sharing, standard allocations and existing system memory (dxg.md §3.9,
//! §3.19, §3.26): CREATENTSHAREDOBJECT (1004), DESTROYNTSHAREDOBJECT (1005), OPENSYNCOBJECT
//! (1002), SHAREOBJECTWITHHOST (1021), OPENRESOURCE (32), DDIGETSTANDARDALLOCATIONDRIVERDATA
//! (39), SETEXISTINGSYSMEMSTORE (45) and SETEXISTINGSYSMEMPAGES (66).
//!
//! Sharing: CREATENTSHAREDOBJECT records what a process shares under a host-global handle —
//! the storage of a resource's allocations, or a monitored fence's page together with the
//! fence's global handle (given out by CREATESYNCOBJECT for sync objects created shared). The
//! shared object holds a reference on that storage, so it outlives the creator's objects.
//! OPENRESOURCE (by shared handle) and OPENSYNCOBJECT (by global handle) in any process create
//! that process's own handles to the *same* memory, each holding a reference;
//! DESTROYNTSHAREDOBJECT drops the shared object (opened copies stay).
//!
//! Existing system memory: an allocation created with `existing_sysmem` has a window
//! ([`super::sysmem`]); SETEXISTINGSYSMEMPAGES names its guest pages by frame number,
//! SETEXISTINGSYSMEMSTORE by a GPADL made known with [`GpuHost::register_gpadl`].

use super::dispatch::{Handled, parse, put_bytes, status_bytes, u32_result_area};
use super::sysmem::{PagesError, SysmemWindows};
use super::{GpuHost, HostObject, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

/// What a shared handle stands for, on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SharedKind {
    /// A resource: the storage (address, size) of each allocation, in creation order.
    Resource { allocations: Vec<(u64, u64)> },
    /// A monitored fence: its page and its global handle.
    MonitoredFence { page: u64, global: D3dkmtHandle },
}

/// One NT shared object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SharedObject {
    /// Creating host process.
    pub owner: D3dkmtHandle,
    /// vGPU index.
    pub adapter: usize,
    /// What is shared.
    pub kind: SharedKind,
}

/// Size of the allocation blob of a GDISURFACE standard allocation: the u64 allocation size the
/// emulator reads from per-allocation private data (`docs/vgpu-command-processor.md`).
pub const STANDARD_ALLOCATION_BLOB_SIZE: u32 = 8;
/// Size of the resource blob of a GDISURFACE standard allocation: u32 allocation type, u32
/// surface type.
pub const STANDARD_RESOURCE_BLOB_SIZE: u32 = 8;
/// High bits of the tokens SHAREOBJECTWITHHOST returns ("VAIL").
pub const VAIL_HANDLE_TAG: u64 = 0x5641_494C << 32;

/// The reply a failed global sharing command gets, shaped like its success reply.
pub(super) fn global_failure_reply(kind: GlobalCommand, status: NtStatus) -> Vec<u8> {
    let code = status.0.to_le_bytes();
    match kind {
        // A bare handle; null is the failure.
        GlobalCommand::CreateNtSharedObject => vec![0; 4],
        GlobalCommand::OpenSyncObject => {
            let mut reply = vec![0; OpenSyncObjectReply::SIZE];
            put_bytes(&mut reply, 4, &code);
            reply
        }
        GlobalCommand::ShareObjectWithHost => {
            let mut reply = vec![0; ShareObjectWithHostReply::SIZE];
            put_bytes(&mut reply, 0, &code);
            reply
        }
        _ => status_bytes(status),
    }
}

/// The failure shape of the vGPU sharing commands with a non-status reply.
pub(super) fn failure_reply(
    kind: VgpuCommand,
    status: NtStatus,
    command: &[u8],
) -> Option<Vec<u8>> {
    let code = status.0.to_le_bytes();
    let (size, offset) = match kind {
        VgpuCommand::OpenResource => {
            let count = read_at::<u32>(command, 36).unwrap_or(0) as usize;
            let count = count.min(MAX_ALLOCATIONS_PER_CREATE);
            (u32_result_area(OpenResourceReply::SIZE, count), 4)
        }
        VgpuCommand::DdiGetStandardAllocationDriverData => {
            (result_area(GetStandardAllocationDriverDataReply::SIZE), 0)
        }
        _ => return None,
    };
    let mut reply = vec![0; size];
    put_bytes(&mut reply, offset, &code);
    Some(reply)
}

impl<M: GuestMemory> GpuHost<M> {
    /// Makes a GPADL's pages (frame numbers) known to the vGPU, as the VMBus server would for
    /// SETEXISTINGSYSMEMSTORE.
    pub fn register_gpadl(&mut self, gpadl: u32, page_frames: Vec<u64>) {
        self.gpadls.insert(gpadl, page_frames);
    }

    /// Forgets a GPADL (torn down).
    pub fn unregister_gpadl(&mut self, gpadl: u32) {
        self.gpadls.remove(&gpadl);
    }

    /// Live NT shared objects.
    pub fn shared_object_count(&self) -> usize {
        self.shared.len()
    }

    /// Live existing-sysmem windows.
    pub fn sysmem_window_count(&self) -> usize {
        self.sysmem.len()
    }

    /// The global sharing commands.
    pub(super) fn sharing_command(
        &mut self,
        process: D3dkmtHandle,
        kind: GlobalCommand,
        command: &[u8],
    ) -> Handled {
        match kind {
            GlobalCommand::CreateNtSharedObject => self.create_shared(process, command),
            GlobalCommand::DestroyNtSharedObject => {
                let request: HandleCommand = parse(command)?;
                let shared = self
                    .shared
                    .remove(&request.handle)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                self.shared_handles.free(request.handle);
                self.release_shared(&shared);
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            GlobalCommand::OpenSyncObject => self.open_sync_object(process, command),
            GlobalCommand::ShareObjectWithHost => {
                let request: ShareObjectWithHostCommand = parse(command)?;
                let entry = self
                    .processes
                    .get(&process)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                let device = entry
                    .objects
                    .get(&request.device)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                if !matches!(device.object, HostObject::Device { .. }) {
                    return Err(NtStatus::OBJECT_TYPE_MISMATCH);
                }
                let object = entry
                    .objects
                    .get(&request.object)
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                if object.adapter != device.adapter {
                    return Err(NtStatus::INVALID_HANDLE);
                }
                let token = VAIL_HANDLE_TAG | self.next_vail_handle;
                self.next_vail_handle = self.next_vail_handle.saturating_add(1);
                let reply = ShareObjectWithHostReply {
                    status: 0,
                    padding: 0,
                    vail_nt_handle: token,
                };
                Ok(reply.as_bytes().to_vec())
            }
            _ => Err(NtStatus::NOT_IMPLEMENTED),
        }
    }

    /// The vGPU sharing / standard-allocation / existing-sysmem commands.
    pub(super) fn sharing_vgpu_command(
        &mut self,
        process: D3dkmtHandle,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        match kind {
            VgpuCommand::OpenResource => self.open_resource(process, adapter, command),
            VgpuCommand::DdiGetStandardAllocationDriverData => {
                self.standard_allocation_data(process, adapter, command)
            }
            VgpuCommand::SetExistingSysmemPages => {
                let request: SetExistingSysmemPagesCommand = parse(command)?;
                let address =
                    self.sysmem_allocation(process, adapter, request.device, request.allocation)?;
                let count = request.num_pages as usize;
                if count == 0 || count > MAX_PFNS_PER_MESSAGE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let frames = read_u64_array(command, SetExistingSysmemPagesCommand::SIZE, count)
                    .map_err(|_| NtStatus::INVALID_PARAMETER)?;
                self.back_with_frames(address, request.alloc_offset_in_pages as usize, &frames)
            }
            VgpuCommand::SetExistingSysmemStore => {
                let request: SetExistingSysmemStoreCommand = parse(command)?;
                let address =
                    self.sysmem_allocation(process, adapter, request.device, request.allocation)?;
                let frames = self
                    .gpadls
                    .get(&request.gpadl)
                    .cloned()
                    .ok_or(NtStatus::INVALID_HANDLE)?;
                self.back_with_frames(address, 0, &frames)
            }
            _ => Err(NtStatus::NOT_IMPLEMENTED),
        }
    }

    /// The window of an existing-sysmem allocation of the process on `adapter`.
    fn sysmem_allocation(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        device: D3dkmtHandle,
        allocation: D3dkmtHandle,
    ) -> Result<u64, NtStatus> {
        self.expect_device(process, device, adapter)?;
        match self.expect_allocation(process, allocation, adapter)? {
            HostObject::Allocation { address, .. } if SysmemWindows::is_window(address) => {
                Ok(address)
            }
            // Not created with existing_sysmem.
            _ => Err(NtStatus::INVALID_PARAMETER),
        }
    }

    fn back_with_frames(&mut self, address: u64, offset: usize, frames: &[u64]) -> Handled {
        // Every frame must be real guest memory.
        let memory = self.memory();
        for frame in frames {
            let gpa = frame
                .checked_mul(PAGE_SIZE)
                .ok_or(NtStatus::INVALID_PARAMETER)?;
            let mut probe = [0u8; 1];
            memory
                .read(gpa, &mut probe)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        }
        match self.sysmem.set_pages(address, offset, frames) {
            Ok(()) => Ok(status_bytes(NtStatus::SUCCESS)),
            Err(PagesError::OutOfRange) | Err(PagesError::NotSysmem) => {
                Err(NtStatus::INVALID_PARAMETER)
            }
        }
    }

    fn create_shared(&mut self, process: D3dkmtHandle, command: &[u8]) -> Handled {
        let request: HandleCommand = parse(command)?;
        let entry = self
            .processes
            .get(&process)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let owned = entry
            .objects
            .get(&request.handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let adapter = owned.adapter;
        let kind = match &owned.object {
            HostObject::Resource => {
                let allocations: Vec<(u64, u64)> = entry
                    .objects
                    .values()
                    .filter_map(|member| match member.object {
                        HostObject::Allocation {
                            address,
                            size,
                            resource,
                        } if resource == request.handle => Some((address, size)),
                        _ => None,
                    })
                    .collect();
                if allocations.is_empty() {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                SharedKind::Resource { allocations }
            }
            HostObject::SyncObject {
                fence_page: Some(page),
                ..
            } => {
                let global = self
                    .global_sync
                    .iter()
                    .find(|(_, (owner, object))| *owner == process && *object == request.handle)
                    .map(|(global, _)| *global)
                    // Only sync objects created shared can be shared.
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
                SharedKind::MonitoredFence {
                    page: *page,
                    global,
                }
            }
            HostObject::SyncObject { .. } => return Err(NtStatus::NOT_SUPPORTED),
            _ => return Err(NtStatus::OBJECT_TYPE_MISMATCH),
        };
        let handle = self.shared_handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
        match &kind {
            SharedKind::Resource { allocations } => {
                for (address, _) in allocations {
                    self.retain_range(*address);
                }
            }
            SharedKind::MonitoredFence { page, .. } => self.retain_range(*page),
        }
        self.shared.insert(
            handle,
            SharedObject {
                owner: process,
                adapter,
                kind,
            },
        );
        Ok(handle.0.to_le_bytes().to_vec())
    }

    /// Drops the storage references of a shared object.
    pub(super) fn release_shared(&mut self, shared: &SharedObject) {
        match &shared.kind {
            SharedKind::Resource { allocations } => {
                for (address, size) in allocations {
                    self.release_range(*address, *size);
                }
            }
            SharedKind::MonitoredFence { page, .. } => self.release_range(*page, PAGE_SIZE),
        }
    }

    /// Allocates a global handle for a sync object created shared.
    pub(super) fn new_global_sync(
        &mut self,
        process: D3dkmtHandle,
        sync_object: D3dkmtHandle,
    ) -> Result<D3dkmtHandle, NtStatus> {
        let global = self.shared_handles.allocate().ok_or(NtStatus::NO_MEMORY)?;
        self.global_sync.insert(global, (process, sync_object));
        Ok(global)
    }

    /// Forgets the global handles of sync objects that no longer exist (the handle value stays
    /// reserved while a shared object still names it).
    pub(super) fn forget_dead_globals(&mut self) {
        let processes = &self.processes;
        let dead: Vec<D3dkmtHandle> = self
            .global_sync
            .iter()
            .filter(|(_, (owner, object))| {
                !processes
                    .get(owner)
                    .is_some_and(|process| process.objects.contains_key(object))
            })
            .map(|(global, _)| *global)
            .collect();
        for global in dead {
            self.global_sync.remove(&global);
            if !self.shared.values().any(|shared| {
                matches!(shared.kind, SharedKind::MonitoredFence { global: named, .. } if named == global)
            }) {
                self.shared_handles.free(global);
            }
        }
    }

    /// Drops every shared object a destroyed process created.
    pub(super) fn destroy_shared_of(&mut self, process: D3dkmtHandle) {
        let owned: Vec<D3dkmtHandle> = self
            .shared
            .iter()
            .filter(|(_, shared)| shared.owner == process)
            .map(|(handle, _)| *handle)
            .collect();
        for handle in owned {
            if let Some(shared) = self.shared.remove(&handle) {
                self.shared_handles.free(handle);
                self.release_shared(&shared);
            }
        }
        self.forget_dead_globals();
    }

    fn open_sync_object(&mut self, process: D3dkmtHandle, command: &[u8]) -> Handled {
        let request: OpenSyncObjectCommand = parse(command)?;
        let entry = self
            .processes
            .get(&process)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let adapter = match entry.objects.get(&request.device) {
            Some(Owned {
                object: HostObject::Device { adapter },
                ..
            }) => *adapter,
            Some(_) => return Err(NtStatus::OBJECT_TYPE_MISMATCH),
            None => return Err(NtStatus::INVALID_HANDLE),
        };
        if self.vgpus.get(adapter).is_none_or(|vgpu| vgpu.removed) {
            return Err(NtStatus::DEVICE_REMOVED);
        }
        // Opened by its global handle, while an NT shared object of it lives.
        let page = self
            .shared
            .values()
            .find_map(|shared| match shared.kind {
                SharedKind::MonitoredFence { page, global }
                    if global == request.global_sync_object && shared.adapter == adapter =>
                {
                    Some(page)
                }
                _ => None,
            })
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let handle = self
            .process_mut(process)?
            .handles
            .allocate()
            .ok_or(NtStatus::NO_MEMORY)?;
        self.retain_range(page);
        self.process_mut(process)?.objects.insert(
            handle,
            Owned {
                device: request.device,
                adapter,
                object: HostObject::SyncObject {
                    object_type: SYNC_OBJECT_MONITORED_FENCE,
                    fence_page: Some(page),
                    value: 0,
                    event: 0,
                },
            },
        );
        let reply = OpenSyncObjectReply {
            sync_object: handle,
            status: 0,
            gpu_virtual_address: page,
            guest_cpu_physical_address: page,
        };
        Ok(reply.as_bytes().to_vec())
    }

    fn open_resource(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        let request: OpenResourceCommand = parse(command)?;
        self.expect_device(process, request.device, adapter)?;
        let allocations = match self.shared.get(&request.global_share) {
            Some(SharedObject {
                adapter: shared_adapter,
                kind: SharedKind::Resource { allocations },
                ..
            }) if *shared_adapter == adapter => allocations.clone(),
            Some(SharedObject {
                kind: SharedKind::MonitoredFence { .. },
                ..
            }) => return Err(NtStatus::OBJECT_TYPE_MISMATCH),
            _ => return Err(NtStatus::INVALID_HANDLE),
        };
        if request.allocation_count as usize != allocations.len() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let entry = self.process_mut(process)?;
        let mut handles = Vec::with_capacity(allocations.len().saturating_add(1));
        for _ in 0..=allocations.len() {
            match entry.handles.allocate() {
                Some(handle) => handles.push(handle),
                None => {
                    for handle in handles {
                        entry.handles.free(handle);
                    }
                    return Err(NtStatus::NO_MEMORY);
                }
            }
        }
        // One handle for the resource, then one per allocation (the loop above made them all).
        let Some((&resource, allocation_handles)) = handles.split_first() else {
            return Err(NtStatus::NO_MEMORY);
        };
        entry.objects.insert(
            resource,
            Owned {
                device: request.device,
                adapter,
                object: HostObject::Resource,
            },
        );
        for (handle, (address, size)) in allocation_handles.iter().zip(&allocations) {
            entry.objects.insert(
                *handle,
                Owned {
                    device: request.device,
                    adapter,
                    object: HostObject::Allocation {
                        address: *address,
                        size: *size,
                        resource,
                    },
                },
            );
        }
        for (address, _) in &allocations {
            self.retain_range(*address);
        }
        let mut reply = OpenResourceReply {
            resource,
            status: 0,
        }
        .as_bytes()
        .to_vec();
        for handle in allocation_handles {
            reply.extend_from_slice(&handle.0.to_le_bytes());
        }
        reply.resize(result_area(reply.len()), 0);
        Ok(reply)
    }

    /// GDISURFACE (the only type Linux sends): a fixed, documented pair of blobs — the
    /// allocation blob is the u64 allocation size (the surface width, which Linux sets to the
    /// heap size in bytes), the resource blob u32 allocation type then u32 surface type. Blobs
    /// are appended only when their requested size is non-zero (the data call).
    fn standard_allocation_data(
        &mut self,
        process: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: GetStandardAllocationDriverDataCommand = parse(command)?;
        let device = self.processes.get(&process).and_then(|entry| {
            // The header names the process; the device is implied by the surface, so any device
            // of the process on this vGPU will do.
            entry.objects.values().find(|owned| {
                owned.adapter == adapter && matches!(owned.object, HostObject::Device { .. })
            })
        });
        if device.is_none() {
            return Err(NtStatus::INVALID_HANDLE);
        }
        if request.allocation_type != STANDARD_ALLOCATION_GDI_SURFACE {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        if request.width == 0 || request.physical_adapter_index != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let wanted = (
            request.private_driver_data_size,
            request.private_driver_resource_size,
        );
        if (wanted.0 != 0 && wanted.0 != STANDARD_ALLOCATION_BLOB_SIZE)
            || (wanted.1 != 0 && wanted.1 != STANDARD_RESOURCE_BLOB_SIZE)
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let reply = GetStandardAllocationDriverDataReply {
            status: 0,
            private_driver_data_size: STANDARD_ALLOCATION_BLOB_SIZE,
            private_driver_resource_size: STANDARD_RESOURCE_BLOB_SIZE,
            width: request.width,
            height: request.height,
            format: request.format,
            surface_type: request.surface_type,
            flags: request.flags,
            pitch: request.pitch,
        };
        let mut bytes = reply.as_bytes().to_vec();
        if wanted.0 != 0 {
            bytes.extend_from_slice(&u64::from(request.width).to_le_bytes());
        }
        if wanted.1 != 0 {
            bytes.extend_from_slice(&request.allocation_type.to_le_bytes());
            bytes.extend_from_slice(&request.surface_type.to_le_bytes());
        }
        bytes.resize(result_area(bytes.len()), 0);
        Ok(bytes)
    }
}
