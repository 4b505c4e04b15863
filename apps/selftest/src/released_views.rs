//! Modes 14, 15 and 16: a view the kernel released must be gone from the process. The program
//! locks an allocation (`D3DKMTLock2`), writes through the view, releases the view (by
//! `D3DKMTUnlock2`, or by destroying the allocation while it is locked), then writes through
//! the old address again: the kernel must have unmapped it, so the write ends the process with
//! a page fault, and the IO-space page (which the host may already have handed to another
//! allocation) is never reached.

use userlib::abi::status::STATUS_SUCCESS;
use userlib::abi::{D3DKMT_LOCK2, D3DKMT_UNLOCK2, DXGOS_FRAMEBUFFER_INFO};
use userlib::println;
use userlib::sys::{Native, SyscallNumber, call_d3dkmt, process};

/// How the view is released.
pub enum Release {
    /// `D3DKMTUnlock2`.
    Unlock,
    /// `D3DKMTDestroyAllocation2` while the allocation is still locked.
    Destroy,
}

/// Returns a non-zero code if any step before the final write fails; the final write does not
/// return when the kernel did its job.
pub fn write_after(release: Release) -> i32 {
    crate::sharing::with_device(|device| {
        let Ok(allocation) = device.create_allocation(4096) else {
            return 10;
        };
        let mut lock = D3DKMT_LOCK2 {
            hDevice: device.handle(),
            hAllocation: allocation.handle(),
            ..Default::default()
        };
        if call_d3dkmt(&Native, SyscallNumber::Lock2, &mut lock, 0) != 0 || lock.pData == 0 {
            return 11;
        }
        let view = lock.pData as *mut u64;
        // SAFETY: `pData` is the kernel's mapping of the whole (4096-byte) allocation, valid
        // until it is released below.
        unsafe { view.write_volatile(0x5afe) };
        match release {
            Release::Unlock => {
                let mut unlock = D3DKMT_UNLOCK2 {
                    hDevice: device.handle(),
                    hAllocation: allocation.handle(),
                };
                if call_d3dkmt(&Native, SyscallNumber::Unlock2, &mut unlock, 0) != 0 {
                    return 12;
                }
            }
            Release::Destroy => drop(allocation),
        }
        println!("selftest: view released, writing through it");
        // SAFETY: deliberately not safe: the view was released; the kernel must kill us.
        unsafe { view.write_volatile(0xdead) };
        13
    })
}

/// Mode 16: maps the framebuffer, writes through the view, unmaps it (`UnmapFramebuffer`) and
/// writes through the old address again: the kernel must have removed the mapping, so the
/// write ends the process with a page fault.
pub fn write_after_framebuffer_unmap() -> i32 {
    let mut info = DXGOS_FRAMEBUFFER_INFO::default();
    if process::framebuffer(&Native, true, &mut info) != STATUS_SUCCESS || info.Address == 0 {
        return 20;
    }
    let view = info.Address as *mut u32;
    // SAFETY: MapFramebuffer mapped `Size` (at least 4) writable bytes at `Address`, valid until
    // the unmap below.
    unsafe { view.write_volatile(0x00ff_00ff) };
    if process::unmap_framebuffer(&Native) != STATUS_SUCCESS {
        return 21;
    }
    println!("selftest: view released, writing through it");
    // SAFETY: deliberately not safe: the view was unmapped; the kernel must kill us.
    unsafe { view.write_volatile(0xdead) };
    22
}
