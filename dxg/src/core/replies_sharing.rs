//! Decoding of the replies to the requests of `encode_sharing` (dxg.md §3.9, §3.19, §3.26).
//! Every reply is length-checked (short → BUFFER_TOO_SMALL and a protocol error); negative
//! statuses fail the request with that status; host handles go through the per-process table
//! (null or duplicate → INVALID_HANDLE and a protocol error).

use super::encode_sharing::SharedObject;
use super::replies::{Expect, Pending};
use super::{CreatedAllocation, Driver, ObjectEntry, ObjectKind, Reply};
use crate::wire::*;
use alloc::vec::Vec;

fn failure(status: i32) -> Result<NtStatus, NtStatus> {
    let status = NtStatus(status);
    if status.is_success() {
        Ok(status)
    } else {
        Err(status)
    }
}

impl Driver {
    /// Whether `expect` is decoded here.
    pub(super) fn is_sharing_reply(expect: &Expect) -> bool {
        matches!(
            expect,
            Expect::NtShared { .. }
                | Expect::ResourceOpened { .. }
                | Expect::SyncOpened { .. }
                | Expect::VailHandle
                | Expect::StandardAllocationData { .. }
                | Expect::SysmemPages { .. }
        )
    }

    /// Decodes a sharing reply and completes its request (or sends the next sysmem chunk).
    pub(super) fn on_sharing_reply(&mut self, pending: Pending, payload: &[u8]) {
        if let Expect::SysmemPages {
            device,
            allocation,
            page_frames,
            offset,
        } = pending.expect.clone()
        {
            let status = match self.need::<i32>(&pending, payload, 4) {
                Some(status) => failure(status),
                None => Err(NtStatus::BUFFER_TOO_SMALL),
            };
            // `offset` is how many frames were already sent (≤ the frame count), so neither
            // operation saturates and `next` ≤ the frame count.
            let next = page_frames
                .len()
                .saturating_sub(offset)
                .min(MAX_PFNS_PER_MESSAGE)
                .saturating_add(offset);
            match (status, pending.ticket, pending.process, pending.adapter) {
                (Ok(_), Some(ticket), Some(pid), Some(adapter)) if next < page_frames.len() => {
                    self.send_sysmem_pages(
                        pid,
                        ticket,
                        adapter,
                        device,
                        allocation,
                        page_frames,
                        next,
                    );
                }
                (result, ..) => self.finish(&pending, result.map(Reply::Status)),
            }
            return;
        }
        let result = self.decode_sharing(&pending, payload);
        self.finish(&pending, result);
    }

    fn decode_sharing(&mut self, pending: &Pending, payload: &[u8]) -> Result<Reply, NtStatus> {
        let short = Err(NtStatus::BUFFER_TOO_SMALL);
        match pending.expect.clone() {
            Expect::NtShared { adapter, kind } => {
                let Some(handle) = self.need::<u32>(pending, payload, 4) else {
                    return short;
                };
                let handle = D3dkmtHandle(handle);
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
                self.shared.insert(
                    handle,
                    SharedObject {
                        owner,
                        adapter,
                        kind,
                    },
                );
                Ok(Reply::NtSharedObject(handle))
            }
            Expect::ResourceOpened {
                adapter,
                device,
                allocations,
            } => {
                let expected = allocations
                    .len()
                    .saturating_mul(4)
                    .saturating_add(OpenResourceReply::SIZE);
                let Some(reply) = self.need::<OpenResourceReply>(pending, payload, expected) else {
                    return short;
                };
                failure(reply.status)?;
                let handles = read_u32_array(payload, OpenResourceReply::SIZE, allocations.len())
                    .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                let (Some(pid), resource) = (pending.process, reply.resource) else {
                    return Err(NtStatus::INVALID_HANDLE);
                };
                let mut inserted = Vec::new();
                let mut ok = self.insert_object(
                    pending,
                    ObjectEntry::simple(resource, ObjectKind::Resource, adapter, device),
                );
                if ok {
                    inserted.push(resource);
                }
                let mut opened = Vec::with_capacity(handles.len());
                for (handle, (size, flags)) in handles.iter().zip(&allocations) {
                    if !ok {
                        break;
                    }
                    let handle = D3dkmtHandle(*handle);
                    let mut entry =
                        ObjectEntry::simple(handle, ObjectKind::Allocation, adapter, device);
                    entry.size = *size;
                    entry.cached = flags & ALLOCATION_FLAG_CACHED != 0;
                    ok = self.insert_object(pending, entry);
                    if ok {
                        inserted.push(handle);
                        opened.push(CreatedAllocation {
                            handle,
                            size: *size,
                            flags: *flags,
                        });
                    }
                }
                if !ok {
                    self.remove_objects(pid, &inserted);
                    if !resource.is_null() {
                        self.undo_open_resource(pid, adapter, device, resource);
                    }
                    return Err(NtStatus::INVALID_HANDLE);
                }
                if let Some(process) = self.processes.get_mut(&pid) {
                    let members: Vec<D3dkmtHandle> =
                        opened.iter().map(|allocation| allocation.handle).collect();
                    process.add_resource_allocations(resource, &members, 0);
                }
                Ok(Reply::ResourceOpened {
                    resource,
                    allocations: opened,
                })
            }
            Expect::SyncOpened {
                adapter,
                device,
                global,
                monitored,
            } => {
                let Some(reply) =
                    self.need::<OpenSyncObjectReply>(pending, payload, OpenSyncObjectReply::SIZE)
                else {
                    return short;
                };
                failure(reply.status)?;
                let address = reply.guest_cpu_physical_address;
                if monitored && !self.is_io_space_page(address) {
                    self.bad_reply(pending, "fence address outside the IO space");
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let handle = reply.sync_object;
                if !self.insert_object(
                    pending,
                    ObjectEntry::simple(handle, ObjectKind::SyncObject, adapter, device),
                ) {
                    return Err(NtStatus::INVALID_HANDLE);
                }
                if let Some(process) = pending.process.and_then(|pid| self.processes.get_mut(&pid))
                {
                    process.set_sync_object_info(handle, global, monitored);
                }
                Ok(Reply::SyncObject {
                    handle,
                    global,
                    gpu_address: reply.gpu_virtual_address,
                    fence_address: if monitored { address } else { 0 },
                })
            }
            Expect::VailHandle => {
                let Some(reply) = self.need::<ShareObjectWithHostReply>(
                    pending,
                    payload,
                    ShareObjectWithHostReply::SIZE,
                ) else {
                    return short;
                };
                failure(reply.status)?;
                Ok(Reply::VailNtHandle(reply.vail_nt_handle))
            }
            Expect::StandardAllocationData {
                allocation_size,
                resource_size,
            } => {
                let Some(reply) = self.need::<GetStandardAllocationDriverDataReply>(
                    pending,
                    payload,
                    GetStandardAllocationDriverDataReply::SIZE,
                ) else {
                    return short;
                };
                failure(reply.status)?;
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
                if self.need::<u8>(pending, payload, total).is_none() {
                    return short;
                }
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
            other => {
                log::warn!("dxg: no sharing decoder for {other:?}");
                Err(NtStatus::NOT_IMPLEMENTED)
            }
        }
    }
}
