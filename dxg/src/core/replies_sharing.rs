//! Decoding of the replies to the requests of `encode_sharing` (dxg.md §3.9, §3.19, §3.26).
//! The generic path (`replies`) checked each reply against the command table's minimum (short →
//! BUFFER_TOO_SMALL and a protocol error); variable tails are checked here; negative
//! statuses fail the request with that status; host handles go through the per-process table
//! (null or duplicate → INVALID_HANDLE and a protocol error).

use super::encode_sharing::{SharedKind, SharedObject};
use super::prelude::*;

impl Driver {
    /// The status of one SETEXISTINGSYSMEMPAGES chunk: the next chunk goes out, or the request
    /// completes (after the last chunk or a failure).
    pub(super) fn on_sysmem_pages_reply(&mut self, pending: Pending, payload: &[u8]) {
        let Expect::SysmemPages(mut pages) = pending.expect.clone() else {
            return;
        };
        let status = self.status_reply(&pending, payload);
        // `offset` is how many frames were already sent (≤ the frame count), so neither
        // operation saturates and `next` ≤ the frame count.
        let total = pages.page_frames.len();
        let next = total
            .saturating_sub(pages.offset)
            .min(MAX_PFNS_PER_MESSAGE)
            .saturating_add(pages.offset);
        match (status, pending.ticket, pending.process, pending.adapter) {
            (Ok(_), Some(ticket), Some(pid), Some(adapter)) if next < total => {
                pages.offset = next;
                self.send_sysmem_pages(pid, ticket, adapter, pages);
            }
            (result, ..) => self.finish(&pending, result),
        }
    }

    /// CREATENTSHAREDOBJECT: registers `kind` under the new shared handle.
    pub(super) fn nt_shared_created(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        kind: SharedKind,
    ) -> Result<Reply, NtStatus> {
        let handle = fixed::<D3dkmtHandle>(payload)?;
        // A null handle is the host's failure (Linux: -ENOTRECOVERABLE).
        if handle.is_null() {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        let Some(owner) = pending.process else {
            return Err(NtStatus::INVALID_HANDLE);
        };
        if self.shared.contains_key(&handle) {
            self.bad_reply(pending, "shared handle already live");
            return Err(NtStatus::INVALID_HANDLE);
        }
        let adapter = pending.on()?.adapter;
        let object = SharedObject {
            owner,
            adapter,
            kind,
        };
        self.shared.insert(handle, object);
        Ok(Reply::NtSharedObject(handle))
    }

    /// OPENSYNCOBJECT: registers the opened object (see [`Self::sync_object_registered`]).
    pub(super) fn sync_object_opened(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        global: D3dkmtHandle,
        monitored: bool,
    ) -> Result<Reply, NtStatus> {
        let reply = fixed::<OpenSyncObjectReply>(payload)?;
        success(reply.status)?;
        let addresses = (reply.guest_cpu_physical_address, reply.gpu_virtual_address);
        self.sync_object_registered(pending, reply.sync_object, global, monitored, addresses)
    }

    /// DDIGETSTANDARDALLOCATIONDRIVERDATA with the requested blob sizes (0, 0: the sizing call).
    pub(super) fn standard_allocation_data(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        allocation_size: u32,
        resource_size: u32,
    ) -> Result<Reply, NtStatus> {
        let reply = fixed::<GetStandardAllocationDriverDataReply>(payload)?;
        success(reply.status)?;
        let sizing = allocation_size == 0 && resource_size == 0;
        if sizing {
            return Ok(Reply::StandardAllocationDriverData {
                allocation_data_size: reply.private_driver_data_size,
                resource_data_size: reply.private_driver_resource_size,
                allocation_data: Vec::new(),
                resource_data: Vec::new(),
            });
        }
        // The data call must get back the sizes it asked for (Linux checks both).
        if (allocation_size != 0 && reply.private_driver_data_size != allocation_size)
            || (resource_size != 0 && reply.private_driver_resource_size != resource_size)
        {
            self.bad_reply(pending, "standard allocation data size mismatch");
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let start = GetStandardAllocationDriverDataReply::SIZE;
        // Saturated sums exceed any payload length and are refused below.
        let resource_start = start.saturating_add(allocation_size as usize);
        let total = resource_start.saturating_add(resource_size as usize);
        self.tail(pending, payload, total)?;
        let allocation_data = read_bytes(payload, start, allocation_size as usize)
            .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?
            .to_vec();
        let resource_data = read_bytes(payload, resource_start, resource_size as usize)
            .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?
            .to_vec();
        Ok(Reply::StandardAllocationDriverData {
            allocation_data_size: allocation_size,
            resource_data_size: resource_size,
            allocation_data,
            resource_data,
        })
    }

    /// OPENRESOURCE: resource, status, one handle per allocation. Registers the resource and
    /// its allocations (all or none; on a failure OPENRESOURCE is undone on the host).
    pub(super) fn resource_opened(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        allocations: &[(u64, u32)],
    ) -> Result<Reply, NtStatus> {
        let expected = allocations
            .len()
            .saturating_mul(4)
            .saturating_add(OpenResourceReply::SIZE);
        self.tail(pending, payload, expected)?;
        let reply = fixed::<OpenResourceReply>(payload)?;
        success(reply.status)?;
        let handles = read_u32_array(payload, OpenResourceReply::SIZE, allocations.len())
            .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
        let (Some(pid), resource, on) = (pending.process, reply.resource, pending.on()?) else {
            return Err(NtStatus::INVALID_HANDLE);
        };
        let opened = handles
            .iter()
            .zip(allocations)
            .map(|(handle, &(size, flags))| CreatedAllocation {
                handle: D3dkmtHandle(*handle),
                size,
                flags,
            })
            .collect();
        let registered = self.register_allocations(pending, Some(resource), resource, opened, 0);
        if registered.is_err() && !resource.is_null() {
            self.undo_open_resource(pid, on.adapter, on.device, resource);
        }
        let opened = registered?;
        Ok(Reply::ResourceOpened {
            resource,
            allocations: opened,
        })
    }
}
