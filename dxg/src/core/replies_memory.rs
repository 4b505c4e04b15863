//! Decoding of the CREATEALLOCATION reply and the registration of allocations (also those
//! OPENRESOURCE opens; MAKERESIDENT, EVICT and QUERYVIDEOMEMORYINFO decode
//! by their command number in `replies_extended`). The generic path (`replies`) checked
//! each reply against the command table's minimum; the variable tail of CREATEALLOCATION is
//! checked here. Host handles go through the per-process table (null or duplicate →
//! INVALID_HANDLE and a protocol error; a refused CREATEALLOCATION is undone on the host).

use super::prelude::*;

impl Driver {
    /// CREATEALLOCATION: the fixed reply, then one info per allocation. Registers the new
    /// resource (if one was created) and the allocations, all or none.
    pub(super) fn allocations_reply(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        count: usize,
        creates_resource: bool,
        existing_resource: D3dkmtHandle,
    ) -> Result<Reply, NtStatus> {
        // A saturated length is longer than any payload, so `tail` refuses it.
        let expected = count
            .saturating_mul(CreatedAllocationInfo::SIZE)
            .saturating_add(CreateAllocationReply::SIZE);
        self.tail(pending, payload, expected)?;
        let reply = fixed::<CreateAllocationReply>(payload)?;
        let infos = payload
            .get(CreateAllocationReply::SIZE..expected)
            .ok_or(NtStatus::BUFFER_TOO_SMALL)?;
        let created: Vec<CreatedAllocationInfo> = infos
            .chunks_exact(CreatedAllocationInfo::SIZE)
            .filter_map(|chunk| read_prefix::<CreatedAllocationInfo>(chunk).ok())
            .collect();
        let (resource, member_of) = match creates_resource {
            true => (Some(reply.resource), reply.resource),
            false => (None, existing_resource),
        };
        let private = created
            .iter()
            .map(|info| info.private_driver_data_size)
            .fold(0u32, u32::saturating_add);
        let allocations = created
            .iter()
            .map(|info| CreatedAllocation {
                handle: info.allocation,
                size: info.allocation_size,
                flags: info.allocation_flags,
            })
            .collect();
        let registered =
            self.register_allocations(pending, resource, member_of, allocations, private);
        if registered.is_err() {
            let handles: Vec<D3dkmtHandle> = created.iter().map(|info| info.allocation).collect();
            self.undo_create_allocation(pending, resource, &handles);
        }
        let allocations = registered?;
        Ok(Reply::Allocations {
            resource: resource.unwrap_or_default(),
            allocations,
        })
    }

    /// Undoes a CREATEALLOCATION the guest could not register, so that nothing it created stays
    /// on the host: as Linux's `create_local_allocations` (microsoft/WSL2-Linux-Kernel
    /// `drivers/hv/dxgkrnl/dxgvmbus.c`) sends DESTROYALLOCATION (assume_not_in_use) for the
    /// returned allocations when anything fails after the reply (dxg.md §3.7). A new resource
    /// is destroyed whole (DESTROYALLOCATION of the resource, count 0: it takes its
    /// allocations along, as at process teardown); otherwise one DESTROYALLOCATION lists the
    /// returned allocation handles that are valid to name: not null, each once, and none the
    /// process already holds (that object is the app's, not this call's; the table was rolled
    /// back before this). A handle the host answered null or live names nothing the guest
    /// knows: what it stands for cannot be destroyed (Linux cannot either).
    fn undo_create_allocation(
        &mut self,
        pending: &Pending,
        resource: Option<D3dkmtHandle>,
        allocations: &[D3dkmtHandle],
    ) {
        let (Some(pid), Ok(on)) = (pending.process, pending.on()) else {
            return;
        };
        let Some(process) = self.processes.get(&pid) else {
            return;
        };
        let nameable = |handle: &D3dkmtHandle| !handle.is_null() && process.get(*handle).is_none();
        let resource = resource.filter(nameable);
        let mut named: Vec<D3dkmtHandle> = Vec::new();
        for handle in allocations.iter().filter(|handle| nameable(handle)) {
            if !named.contains(handle) {
                named.push(*handle);
            }
        }
        if let Some(resource) = resource {
            self.undo_open_resource(pid, on.adapter, on.device, resource);
            return;
        }
        if named.is_empty() {
            return;
        }
        let bytes =
            self.destroy_allocations_not_in_use_command(pid, on.device, D3dkmtHandle::NULL, &named);
        self.send_internal(pid, on.adapter, Expect::Ignore, bytes);
    }

    /// Registers allocations the host created or opened (and first `resource`, if given), all
    /// or none, and records them as members of `member_of` (unless null) with `private` bytes
    /// of private driver data, for sharing.
    pub(super) fn register_allocations(
        &mut self,
        pending: &Pending,
        resource: Option<D3dkmtHandle>,
        member_of: D3dkmtHandle,
        allocations: Vec<CreatedAllocation>,
        private: u32,
    ) -> Result<Vec<CreatedAllocation>, NtStatus> {
        let on = pending.on()?;
        let resource = resource.map(|handle| on.entry(handle, ObjectKind::Resource));
        let members = allocations.iter().map(|allocation| {
            let mut entry = on.entry(allocation.handle, ObjectKind::Allocation);
            entry.size = allocation.size;
            entry.cached = allocation.flags & ALLOCATION_FLAG_CACHED != 0;
            entry
        });
        let entries: Vec<ObjectEntry> = resource.into_iter().chain(members).collect();
        self.insert_objects(pending, &entries)?;
        if !member_of.is_null()
            && let Some(process) = pending.process.and_then(|pid| self.processes.get_mut(&pid))
        {
            let handles: Vec<D3dkmtHandle> = allocations
                .iter()
                .map(|allocation| allocation.handle)
                .collect();
            process.add_resource_allocations(member_of, &handles, private);
        }
        Ok(allocations)
    }
}
