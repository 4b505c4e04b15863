//! Decoding of the replies to allocation and memory requests: CREATEALLOCATION,
//! MAKERESIDENT, EVICT, LOCK2 and QUERYVIDEOMEMORYINFO. Every reply is length-checked before
//! use (short → BUFFER_TOO_SMALL and a protocol error); host handles go through the per-process
//! table (null or duplicate → INVALID_HANDLE and a protocol error).

use super::replies::{Expect, Pending};
use super::{CreatedAllocation, Driver, ObjectEntry, ObjectKind, Reply};
use crate::wire::*;
use alloc::vec::Vec;

impl Driver {
    /// Decodes the reply of an allocation or memory request; any other reply goes on to
    /// [`Driver::on_sync_reply`].
    pub(super) fn on_memory_reply(&mut self, pending: Pending, payload: &[u8]) {
        let short = Err(NtStatus::BUFFER_TOO_SMALL);
        match pending.expect.clone() {
            Expect::Allocations {
                adapter,
                device,
                count,
                creates_resource,
                resource: existing_resource,
            } => {
                // A saturated length is longer than any payload, so `need` refuses it.
                let expected = count
                    .saturating_mul(CreatedAllocationInfo::SIZE)
                    .saturating_add(CreateAllocationReply::SIZE);
                let Some(reply) = self.need::<CreateAllocationReply>(&pending, payload, expected)
                else {
                    return self.finish(&pending, short);
                };
                let mut created = Vec::with_capacity(count);
                for index in 0..count {
                    let info = index
                        .checked_mul(CreatedAllocationInfo::SIZE)
                        .and_then(|offset| offset.checked_add(CreateAllocationReply::SIZE))
                        .map(|offset| read_at::<CreatedAllocationInfo>(payload, offset));
                    let Some(Ok(info)) = info else {
                        return self.finish(&pending, short);
                    };
                    created.push(info);
                }
                let mut inserted = Vec::new();
                let mut ok = true;
                if creates_resource {
                    if self.insert_object(
                        &pending,
                        ObjectEntry::simple(reply.resource, ObjectKind::Resource, adapter, device),
                    ) {
                        inserted.push(reply.resource);
                    } else {
                        ok = false;
                    }
                }
                for info in &created {
                    if !ok {
                        break;
                    }
                    let mut entry = ObjectEntry::simple(
                        info.allocation,
                        ObjectKind::Allocation,
                        adapter,
                        device,
                    );
                    entry.size = info.allocation_size;
                    entry.cached = info.allocation_flags & ALLOCATION_FLAG_CACHED != 0;
                    if self.insert_object(&pending, entry) {
                        inserted.push(info.allocation);
                    } else {
                        ok = false;
                    }
                }
                if !ok {
                    if let Some(pid) = pending.process {
                        self.remove_objects(pid, &inserted);
                    }
                    return self.finish(&pending, Err(NtStatus::INVALID_HANDLE));
                }
                let allocations = created
                    .iter()
                    .map(|info| CreatedAllocation {
                        handle: info.allocation,
                        size: info.allocation_size,
                        flags: info.allocation_flags,
                    })
                    .collect();
                let member_of = if creates_resource {
                    reply.resource
                } else {
                    existing_resource
                };
                if !member_of.is_null()
                    && let Some(process) =
                        pending.process.and_then(|pid| self.processes.get_mut(&pid))
                {
                    let handles: Vec<D3dkmtHandle> =
                        created.iter().map(|info| info.allocation).collect();
                    let private = created
                        .iter()
                        .map(|info| info.private_driver_data_size)
                        .fold(0u32, u32::saturating_add);
                    process.add_resource_allocations(member_of, &handles, private);
                }
                let resource = if creates_resource {
                    reply.resource
                } else {
                    D3dkmtHandle::NULL
                };
                self.finish(
                    &pending,
                    Ok(Reply::Allocations {
                        resource,
                        allocations,
                    }),
                );
            }
            Expect::MakeResident => {
                let Some(reply) = self.decode::<MakeResidentReply>(&pending, payload) else {
                    return;
                };
                let status = NtStatus(reply.status);
                let result = if status.is_success() {
                    Ok(Reply::Resident {
                        status,
                        paging_fence_value: reply.paging_fence_value,
                        bytes_to_trim: reply.num_bytes_to_trim,
                    })
                } else {
                    Err(status)
                };
                self.finish(&pending, result);
            }
            Expect::Evict => {
                let Some(reply) = self.decode::<EvictReply>(&pending, payload) else {
                    return;
                };
                self.finish(
                    &pending,
                    Ok(Reply::Evicted {
                        bytes_to_trim: reply.num_bytes_to_trim,
                    }),
                );
            }
            Expect::Lock { cached } => {
                let Some(reply) = self.decode::<Lock2Reply>(&pending, payload) else {
                    return;
                };
                if reply.status < 0 {
                    return self.finish(&pending, Err(NtStatus(reply.status)));
                }
                let address = reply.cpu_visible_buffer_offset;
                if !self.is_io_space_page(address) {
                    self.bad_reply(&pending, "lock address outside the IO space");
                    return self.finish(&pending, Err(NtStatus::INVALID_PARAMETER));
                }
                self.finish(&pending, Ok(Reply::Locked { address, cached }));
            }
            Expect::VideoMemory => {
                let Some(reply) = self.decode::<QueryVideoMemoryInfoReply>(&pending, payload)
                else {
                    return;
                };
                self.finish(
                    &pending,
                    Ok(Reply::VideoMemory {
                        budget: reply.budget,
                        current_usage: reply.current_usage,
                        current_reservation: reply.current_reservation,
                        available_for_reservation: reply.available_for_reservation,
                    }),
                );
            }
            _ => self.on_sync_reply(pending, payload),
        }
    }
}
