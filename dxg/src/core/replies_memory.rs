//! Decoding of the replies to the allocation requests that keep state per request:
//! CREATEALLOCATION and LOCK2 (MAKERESIDENT, EVICT and QUERYVIDEOMEMORYINFO decode by their
//! command number in `replies_extended`). The generic path (`replies`) checked
//! each reply against the command table's minimum; the variable tail of CREATEALLOCATION is
//! checked here. Host handles go through the per-process table (null or duplicate →
//! INVALID_HANDLE and a protocol error).

use super::replies::{Expect, Pending, fixed, success};
use super::{CreatedAllocation, Driver, ObjectKind, Reply};
use crate::wire::*;
use alloc::vec::Vec;

impl Driver {
    /// Decodes the reply of an allocation or memory request; any other reply goes on to
    /// [`Driver::decode_sync_reply`].
    pub(super) fn decode_memory_reply(
        &mut self,
        pending: &Pending,
        payload: &[u8],
    ) -> Result<Reply, NtStatus> {
        match pending.expect.clone() {
            Expect::Allocations { .. } => self.allocations_reply(pending, payload),
            Expect::Lock { cached } => {
                let reply = fixed::<Lock2Reply>(payload)?;
                success(reply.status)?;
                let address = reply.cpu_visible_buffer_offset;
                if !self.is_io_space_page(address) {
                    self.bad_reply(pending, "lock address outside the IO space");
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                Ok(Reply::Locked { address, cached })
            }
            _ => self.decode_sync_reply(pending, payload),
        }
    }

    /// CREATEALLOCATION: the fixed reply, then one info per allocation. Registers the new
    /// resource (if one was created) and the allocations, all or none.
    fn allocations_reply(&mut self, pending: &Pending, payload: &[u8]) -> Result<Reply, NtStatus> {
        let Expect::Allocations {
            count,
            creates_resource,
            resource: existing_resource,
        } = pending.expect
        else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
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
