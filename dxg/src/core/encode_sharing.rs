//! Encoding of sharing (dxg.md §3.9, §3.19): CREATENTSHAREDOBJECT (1004), DESTROYNTSHAREDOBJECT
//! (1005), OPENSYNCOBJECT (1002), OPENRESOURCE (32), and the chunks of SETEXISTINGSYSMEMPAGES (66).
//!
//! Sharing works like Linux's: the first share of an object sends CREATENTSHAREDOBJECT and the
//! driver keeps what it needs to open it later in its VM-wide registry ([`SharedObject`]): the
//! allocation sizes of a resource (Linux "seals" the resource), the creation-time global handle
//! of a sync object. OPENRESOURCE and OPENSYNCOBJECT in another process name the shared handle;
//! the driver checks it against the registry (unknown → INVALID_HANDLE, other kind →
//! OBJECT_TYPE_MISMATCH, other adapter → INVALID_HANDLE) and fills the command from it. Only the
//! creating process destroys a shared handle; its process teardown destroys the rest.
//!
//! Global commands are sent with a zero vGPU LUID in the extension header, as Linux does
//! (`init_message` with no adapter); DESTROYNTSHAREDOBJECT also carries process 0.

use super::prelude::*;

/// What a shared handle stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SharedKind {
    /// A resource: per allocation (size in bytes, allocation flags), and the total private
    /// driver data bytes (sent in OPENRESOURCE).
    Resource {
        allocations: Vec<(u64, u32)>,
        private_data_size: u32,
    },
    /// A sync object: its creation-time global handle and whether it is a monitored fence.
    SyncObject {
        global: D3dkmtHandle,
        monitored: bool,
    },
}

/// One entry of the VM-wide registry of shared handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SharedObject {
    /// The process that created the shared handle (the only one that may destroy it).
    pub owner: ProcessId,
    /// Adapter of the shared object.
    pub adapter: AdapterId,
    /// What was shared.
    pub kind: SharedKind,
}

/// Bytes of one full SETEXISTINGSYSMEMPAGES message after the extension header: Linux always
/// sends the 40-byte struct plus room for the maximum number of frames; `num_pages` says how
/// many are valid.
pub const SYSMEM_PAGES_MESSAGE_BYTES: usize =
    SetExistingSysmemPagesCommand::SIZE + 8 * MAX_PFNS_PER_MESSAGE;
const _: () = assert!(SYSMEM_PAGES_MESSAGE_BYTES + ExtensionHeader::SIZE <= MAX_PACKET_SIZE);

impl Driver {
    /// What shared handle `shared_handle` stands for, if it is usable on `adapter`
    /// (INVALID_HANDLE otherwise).
    fn shared_on(
        &self,
        shared_handle: D3dkmtHandle,
        adapter: AdapterId,
    ) -> Result<&SharedKind, NtStatus> {
        match self.shared.get(&shared_handle) {
            Some(entry) if entry.adapter == adapter => Ok(&entry.kind),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    /// A shared resource usable on `adapter`: its allocations (size, flags) and private driver
    /// data bytes (OBJECT_TYPE_MISMATCH for a shared sync object).
    fn shared_resource(
        &self,
        shared_handle: D3dkmtHandle,
        adapter: AdapterId,
    ) -> Result<(Vec<(u64, u32)>, u32), NtStatus> {
        match self.shared_on(shared_handle, adapter)? {
            SharedKind::Resource {
                allocations,
                private_data_size,
            } => Ok((allocations.clone(), *private_data_size)),
            SharedKind::SyncObject { .. } => Err(NtStatus::OBJECT_TYPE_MISMATCH),
        }
    }

    /// Starts a sharing request: NT shared objects, OPENRESOURCE, OPENSYNCOBJECT, queries.
    pub(super) fn start_sharing_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::CreateNtSharedObject { object } => {
                let entry = self.object(pid, object, &[Resource, SyncObject])?;
                let process = self.active_process(pid)?;
                let kind = if entry.kind == Resource {
                    let (members, private_data_size) = process.resource_allocations(object);
                    if members.is_empty() {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    SharedKind::Resource {
                        allocations: members
                            .iter()
                            .map(|member| (member.size, cached_flag(member.cached)))
                            .collect(),
                        private_data_size,
                    }
                } else {
                    // Linux shares only sync objects created shared (with a global handle).
                    let (global, monitored) = process
                        .sync_object_info(object)
                        .ok_or(NtStatus::INVALID_PARAMETER)?;
                    if global.is_null() {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    SharedKind::SyncObject { global, monitored }
                };
                let code = GlobalCommand::CreateNtSharedObject;
                let bytes = handle_message(code, process.host, object);
                self.send_request(pid, ticket, entry, Expect::NtShared { kind }, bytes);
            }
            Request::DestroyNtSharedObject { shared_handle } => {
                self.active_process(pid)?;
                let adapter = match self.shared.get(&shared_handle) {
                    Some(entry) if entry.owner == pid => entry.adapter,
                    _ => return Err(NtStatus::INVALID_HANDLE),
                };
                self.shared.remove(&shared_handle);
                let bytes = destroy_shared_command(shared_handle);
                self.send_request(pid, ticket, adapter, Expect::Status, bytes);
            }
            Request::OpenResource {
                device,
                shared_handle,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let (allocations, private_data_size) =
                    self.shared_resource(shared_handle, entry.adapter)?;
                let mut command: OpenResourceCommand = self.command(pid);
                command.device = device;
                command.nt_security_sharing = 1;
                command.global_share = shared_handle;
                command.allocation_count = allocations.len() as u32;
                command.total_private_driver_data_size = private_data_size;
                let expect = Expect::ResourceOpened { allocations };
                self.send_request(pid, ticket, entry, expect, command.as_bytes());
            }
            Request::OpenSyncObject {
                device,
                shared_handle,
                flags,
                engine_affinity,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let SharedKind::SyncObject { global, monitored } =
                    *self.shared_on(shared_handle, entry.adapter)?
                else {
                    return Err(NtStatus::OBJECT_TYPE_MISMATCH);
                };
                let mut command: OpenSyncObjectCommand = self.command(pid);
                command.device = device;
                command.global_sync_object = global;
                command.flags = flags;
                if monitored {
                    command.engine_affinity = engine_affinity;
                }
                let expect = Expect::SyncOpened { global, monitored };
                self.send_request(pid, ticket, entry, expect, command.as_bytes());
            }
            Request::QuerySharedResource {
                device,
                shared_handle,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let (allocations, private_data_size) =
                    self.shared_resource(shared_handle, entry.adapter)?;
                let allocation_count =
                    u32::try_from(allocations.len()).map_err(|_| NtStatus::INVALID_PARAMETER)?;
                self.complete(
                    ticket,
                    Ok(Reply::SharedResourceInfo {
                        allocation_count,
                        private_data_size,
                    }),
                );
            }
            other => return self.start_scheduling_request(pid, ticket, other),
        }
        Ok(())
    }

    /// Sends the SETEXISTINGSYSMEMPAGES message for the frames of `pages` from its `offset` on
    /// (at most [`MAX_PFNS_PER_MESSAGE`]); the reply sends the next one (Linux sends them one at
    /// a time and stops at the first failure).
    pub(super) fn send_sysmem_pages(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        adapter: AdapterId,
        pages: SysmemPages,
    ) {
        // `offset` (frames already sent) never exceeds the frame count: 0 at first, then the
        // `next` of the reply, which is at most the count.
        let remaining = pages.page_frames.get(pages.offset..).unwrap_or_default();
        let batch = remaining.get(..MAX_PFNS_PER_MESSAGE).unwrap_or(remaining);
        let count = batch.len();
        let mut command: SetExistingSysmemPagesCommand = self.command(pid);
        command.device = pages.device;
        command.allocation = pages.allocation;
        command.num_pages = count as u32;
        command.alloc_offset_in_pages = pages.offset as u32;
        let frames = u64_bytes(batch);
        // count ≤ MAX_PFNS_PER_MESSAGE, so the difference is exact and the product fits.
        let slack = MAX_PFNS_PER_MESSAGE.saturating_sub(count).saturating_mul(8);
        let bytes = build_message(None, command.as_bytes(), &[&frames], slack);
        self.send_request(pid, ticket, adapter, Expect::SysmemPages(pages), bytes);
    }

    /// Process exit: DESTROYNTSHAREDOBJECT for every shared handle the process created (Linux
    /// closes the file descriptors). Returns how many teardown steps were sent.
    pub(super) fn teardown_shared_objects(&mut self, pid: ProcessId, ticket: Ticket) -> usize {
        let owned: Vec<(D3dkmtHandle, AdapterId)> = self
            .shared
            .iter()
            .filter(|(_, entry)| entry.owner == pid)
            .map(|(handle, entry)| (*handle, entry.adapter))
            .collect();
        for (handle, adapter) in &owned {
            self.shared.remove(handle);
            let pending = Pending::internal(pid, Expect::TeardownStep { ticket }, *adapter);
            self.send_global(None, destroy_shared_command(*handle), pending);
        }
        owned.len()
    }

    /// Undoes an OPENRESOURCE the guest could not register (DESTROYALLOCATION of the resource;
    /// also a CREATEALLOCATION's new resource).
    pub(super) fn undo_open_resource(
        &mut self,
        pid: ProcessId,
        adapter: AdapterId,
        device: D3dkmtHandle,
        resource: D3dkmtHandle,
    ) {
        let bytes = self.destroy_not_in_use_command(pid, device, resource, true);
        self.send_internal(pid, adapter, Expect::Ignore, bytes);
    }
}

/// The allocation flags of an allocation mapped cached or not.
pub(super) fn cached_flag(cached: bool) -> u32 {
    if cached { ALLOCATION_FLAG_CACHED } else { 0 }
}

/// DESTROYNTSHAREDOBJECT: global header with process 0 (`command_vm_to_host_init1`), then the
/// shared handle.
fn destroy_shared_command(shared_handle: D3dkmtHandle) -> Vec<u8> {
    handle_message(
        GlobalCommand::DestroyNtSharedObject,
        D3dkmtHandle::NULL,
        shared_handle,
    )
}
