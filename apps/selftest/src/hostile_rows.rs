//! The mode-7 rows ([`crate::invalid_arguments`]) whose arguments are only known at run time:
//! views already released (by Unlock2, by destroying the allocation) and the framebuffer view,
//! given back to the kernel as a nested buffer, as existing system memory and as the argument
//! struct. The rows whose arguments are constants or live handles are data
//! ([`crate::call_rows`]). Each row expects one exact NTSTATUS and, like every row of the
//! table, leaves the dxg object count unchanged.

use userlib::abi::status::{STATUS_ACCESS_VIOLATION, STATUS_SUCCESS};
use userlib::abi::{self, flags};
use userlib::gpu::Device;
use userlib::sys::{Native, SyscallNumber as N};

use crate::invalid_arguments::{Expectation, Table, row};

/// A released view: a user address that was a view and is no longer mapped.
const RELEASED_BY_UNLOCK: Expectation = ("view released by Unlock2", STATUS_ACCESS_VIOLATION);
const RELEASED_BY_DESTROY: Expectation = (
    "view released by DestroyAllocation2",
    STATUS_ACCESS_VIOLATION,
);
/// The framebuffer view (a borrowed device mapping, never the process's own memory): the
/// kernel's user copies refuse device pages, and it cannot back an allocation.
const FRAMEBUFFER_VIEW: Expectation = ("the framebuffer view", STATUS_ACCESS_VIOLATION);

/// The framebuffer view after `UnmapFramebuffer`: no longer mapped.
const RELEASED_BY_UNMAP: Expectation =
    ("view released by UnmapFramebuffer", STATUS_ACCESS_VIOLATION);

/// The framebuffer view given back to the kernel, as for a released view ([`view_rows`]);
/// then the view is unmapped (`UnmapFramebuffer`) and its old address given back again.
pub(crate) fn framebuffer_view_rows(table: &mut Table, device: &Device<'_, Native>, view: u64) {
    view_rows(table, device, FRAMEBUFFER_VIEW, view);
    let unmapped = userlib::sys::process::unmap_framebuffer(&Native);
    table.check("setup", "UnmapFramebuffer", unmapped, STATUS_SUCCESS);
    view_rows(table, device, RELEASED_BY_UNMAP, view);
}

/// A view's address after Unlock2, and after the allocation was destroyed while locked, given
/// back to the kernel: as a nested buffer, as the argument struct, and as existing system
/// memory. The kernel unmapped the view, so each is `STATUS_ACCESS_VIOLATION`.
pub(crate) fn released_views(table: &mut Table, device: &Device<'_, Native>) {
    let Ok(mut unlocked) = device.create_allocation(4096) else {
        table.check_with("setup", "CreateAllocation2", -1, false, 0);
        return;
    };
    let unlocked_view = match unlocked.lock() {
        Ok(view) => view.as_ptr() as u64,
        Err(_) => {
            table.check_with("setup", "Lock2", -1, false, 0);
            return;
        }
    };
    view_rows(table, device, RELEASED_BY_UNLOCK, unlocked_view);
    drop(unlocked);
    let Ok(mut destroyed) = device.create_allocation(4096) else {
        table.check_with("setup", "CreateAllocation2", -1, false, 0);
        return;
    };
    let destroyed_view = match destroyed.lock() {
        Ok(view) => {
            let address = view.as_ptr() as u64;
            // Keep it locked: the allocation is destroyed with its view still mapped.
            core::mem::forget(view);
            address
        }
        Err(_) => {
            table.check_with("setup", "Lock2", -1, false, 0);
            return;
        }
    };
    drop(destroyed);
    view_rows(table, device, RELEASED_BY_DESTROY, destroyed_view);
}

fn view_rows(table: &mut Table, device: &Device<'_, Native>, kind: Expectation, view: u64) {
    let mut query = abi::D3DKMT_QUERYADAPTERINFO {
        hAdapter: device.adapter().handle(),
        Type: flags::KMTQAITYPE_ADAPTERTYPE,
        pPrivateDriverData: view,
        PrivateDriverDataSize: 4,
        ..Default::default()
    };
    row(table, kind, N::QueryAdapterInfo, &mut query);
    let handles = [device.handle()];
    let mut escape = abi::D3DKMT_ESCAPE {
        hAdapter: device.adapter().handle(),
        hDevice: handles[0],
        pPrivateDriverData: view,
        PrivateDriverDataSize: 16,
        ..Default::default()
    };
    row(table, kind, N::Escape, &mut escape);
    let size = 4096u64.to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: view,
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: device.handle(),
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        Flags: flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM,
        ..Default::default()
    };
    row(table, kind, N::CreateAllocation2, &mut create);
    // The view as the argument struct itself.
    let number = N::GetDeviceState;
    let size = number.argument_size().unwrap_or(0) as u64;
    let status = table.counted(kind.0, number, || {
        userlib::sys::result_to_status(crate::raw_syscall(number as u64, view, size, 0))
    });
    table.reach(number);
    table.check(kind.0, "D3DKMTGetDeviceState (struct)", status, kind.1);
}
