//! Decoding of the CREATEALLOCATION reply (MAKERESIDENT, EVICT and QUERYVIDEOMEMORYINFO decode
//! by their command number in `replies_extended`). The generic path (`replies`) checked
//! each reply against the command table's minimum; the variable tail of CREATEALLOCATION is
//! checked here. Host handles go through the per-process table (null or duplicate →
//! INVALID_HANDLE and a protocol error).

use super::replies::{Pending, fixed};
use super::{CreatedAllocation, Driver, ObjectKind, Reply};
use crate::wire::*;
use alloc::vec::Vec;

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
        let on = pending.on()?;
        let mut entries = Vec::with_capacity(count.saturating_add(1));
        if creates_resource {
            entries.push(on.entry(reply.resource, ObjectKind::Resource));
        }
        for info in &created {
            let mut entry = on.entry(info.allocation, ObjectKind::Allocation);
            entry.size = info.allocation_size;
            entry.cached = info.allocation_flags & ALLOCATION_FLAG_CACHED != 0;
            entries.push(entry);
        }
        self.insert_objects(pending, &entries)?;
        let resource = if creates_resource {
            reply.resource
        } else {
            D3dkmtHandle::NULL
        };
        let member_of = if creates_resource {
            reply.resource
        } else {
            existing_resource
        };
        if !member_of.is_null()
            && let Some(process) = pending.process.and_then(|pid| self.processes.get_mut(&pid))
        {
            let handles: Vec<D3dkmtHandle> = created.iter().map(|info| info.allocation).collect();
            let private = created
                .iter()
                .map(|info| info.private_driver_data_size)
                .fold(0u32, u32::saturating_add);
            process.add_resource_allocations(member_of, &handles, private);
        }
        let allocations = created
            .iter()
            .map(|info| CreatedAllocation {
                handle: info.allocation,
                size: info.allocation_size,
                flags: info.allocation_flags,
            })
            .collect();
        Ok(Reply::Allocations {
            resource,
            allocations,
        })
    }
}
