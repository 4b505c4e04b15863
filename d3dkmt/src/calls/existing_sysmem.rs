//! Allocations over existing system memory (`D3DKMT_CREATEALLOCATIONFLAGS` ExistingSysMem): the
//! GPU reads and writes the application's own pages in place.
//!
//! As the Linux driver does (`dxgkio_create_allocation`, `create_existing_sysmem`):
//!
//! - `pSystemMem` is set on all allocations of the call or on none, and each one is page
//!   aligned; a `pSystemMem` on the first allocation sets ExistingSysMem in the request even if
//!   the caller left the flag clear;
//! - the host sizes the allocations (the CREATEALLOCATION reply's `allocation_size`), so the user
//!   pages are looked up only after the allocations exist: `size / 4 KiB` page frames per
//!   allocation from [`Environment::user_page_frames`](crate::Environment), then one
//!   SETEXISTINGSYSMEMPAGES per allocation; any failure destroys what the call created;
//! - Lock2 of such an allocation returns `pSystemMem` itself without a host message (Linux keeps
//!   it as the allocation's CPU address, not counted); Unlock2 goes to the host as for any
//!   allocation without a view.
//!
//! Where dxgos differs: ExistingSysMem without pointers is `STATUS_INVALID_PARAMETER` (Linux
//! would create allocations the host never gets pages for); the pages must be writable even for
//! a ReadOnly allocation; all allocations of a call together are capped at
//! [`MAX_EXISTING_SYSMEM_BYTES`], checked before any frame list is built; only
//! SETEXISTINGSYSMEMPAGES is sent (SETEXISTINGSYSMEMSTORE needs a GPADL the translator cannot
//! establish; a host without `map_guest_memory` refuses the pages and the call fails with its
//! status).

use super::prelude::*;

/// The user addresses of the allocations' system memory when the call is an existing-sysmem one
/// (`None` otherwise), checked as described in the module documentation.
pub fn user_memory(
    flags: u32,
    infos: &[D3DDDI_ALLOCATIONINFO2],
) -> Result<Option<Vec<u64>>, NtStatus> {
    let first = infos.first().map_or(0, |info| info.pSystemMem);
    if flags & D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM == 0 && first == 0 {
        return if infos.iter().all(|info| info.pSystemMem == 0) {
            Ok(None)
        } else {
            Err(NtStatus::INVALID_PARAMETER)
        };
    }
    infos
        .iter()
        .map(|info| match info.pSystemMem {
            0 => Err(NtStatus::INVALID_PARAMETER),
            address if !address.is_multiple_of(PAGE_SIZE) => Err(NtStatus::INVALID_PARAMETER),
            address => Ok(address),
        })
        .collect::<Result<Vec<u64>, NtStatus>>()
        .map(Some)
}

/// Backs each created allocation with the user pages at its address (`addresses[i]` for
/// `created[i]`): checks the host's sizes and the cap, gets every frame list, then sends one
/// SETEXISTINGSYSMEMPAGES per allocation. The caller destroys the allocations on failure.
pub fn back(
    call: &mut Call<'_>,
    device: D3dkmtHandle,
    created: &[CreatedAllocation],
    addresses: &[u64],
) -> Result<(), NtStatus> {
    let mut total: u64 = 0;
    for (allocation, address) in created.iter().zip(addresses) {
        let size = allocation.size;
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
            log::warn!("d3dkmt: existing-sysmem allocation of {size:#x} bytes from the host");
            return Err(NtStatus::UNSUCCESSFUL);
        }
        if address.checked_add(size).is_none() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        total = total.saturating_add(size);
    }
    if total > MAX_EXISTING_SYSMEM_BYTES {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut lists = Vec::with_capacity(created.len());
    for (allocation, &address) in created.iter().zip(addresses) {
        let frames = call
            .environment
            .user_page_frames(address, allocation.size)?;
        if frames.len() as u64 != allocation.size / PAGE_SIZE {
            log::warn!(
                "d3dkmt: {} page frames for {:#x} bytes",
                frames.len(),
                allocation.size
            );
            return Err(NtStatus::UNSUCCESSFUL);
        }
        lists.push(frames);
    }
    for (allocation, page_frames) in created.iter().zip(lists) {
        call.gpu_status(Request::SetExistingSysmemPages {
            device,
            allocation: allocation.handle,
            page_frames,
        })?;
    }
    Ok(())
}
