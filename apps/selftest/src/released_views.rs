//! Modes 14, 15 and 16: a view the kernel released must be gone from the process. The program
//! locks an allocation (`D3DKMTLock2`), writes through the view, releases the view (by
//! `D3DKMTUnlock2`, or by destroying the allocation while it is locked), then writes through
//! the old address again: the kernel must have unmapped it, so the write ends the process with
//! a page fault, and the IO-space page (which the host may already have handed to another
//! allocation) is never reached.

use userlib::abi::status::{STATUS_ACCESS_VIOLATION, STATUS_SUCCESS};
use userlib::abi::{D3DKMT_DESTROYDEVICE, D3DKMT_LOCK2, D3DKMT_UNLOCK2, DXGOS_FRAMEBUFFER_INFO};
use userlib::gpu::{Adapter, Allocation, Device};
use userlib::println;
use userlib::sys::{Native, Syscall, SyscallNumber, call_d3dkmt, process, result_to_status};

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
        let (allocation, view) = match locked_allocation(device, 10) {
            Ok(locked) => locked,
            Err(code) => return code,
        };
        let view = view as *mut u64;
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

/// Mode 23: a DestroyDevice whose argument struct lies in a Lock2 view of that very device.
/// The call unmaps the device's views before the kernel copies the struct back, so the copy
/// fails and the call answers STATUS_ACCESS_VIOLATION; the device must be destroyed all the
/// same (its host request is made after the copy, outside the process's lock): the process's
/// dxg object count is back at what it was before the device. Exit 0 when it is.
pub fn destroy_device_from_its_own_view() -> i32 {
    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        return 30;
    };
    let Some(adapter) = adapters.take(0) else {
        return 31;
    };
    let Ok(before) = process::dxg_object_count(&Native) else {
        return 32;
    };
    let Ok(device) = adapter.create_device() else {
        return 33;
    };
    let (allocation, view) = match locked_allocation(&device, 34) {
        Ok(locked) => locked,
        Err(code) => return code,
    };
    let view = view as *mut D3DKMT_DESTROYDEVICE;
    // SAFETY: `pData` is the kernel's writable mapping of the whole (4096-byte) allocation,
    // valid until the DestroyDevice below releases it.
    unsafe {
        view.write_volatile(D3DKMT_DESTROYDEVICE {
            hDevice: device.handle(),
        })
    };
    // By address, not by reference: the memory goes away during the call.
    let size = core::mem::size_of::<D3DKMT_DESTROYDEVICE>() as u64;
    let status = result_to_status(Native.call(SyscallNumber::DestroyDevice, view as u64, size, 0));
    // Destroyed already (or it would be counted below): their own destroys would only fail.
    core::mem::forget(allocation);
    core::mem::forget(device);
    if status != STATUS_ACCESS_VIOLATION {
        println!("selftest: DestroyDevice from its own view answered {status:#x}");
        return 36;
    }
    match process::dxg_object_count(&Native) {
        Ok(after) if after == before => {
            println!("selftest: device destroyed from its own view, {after} dxg objects");
            0
        }
        Ok(after) => {
            println!("selftest: {after} dxg objects after the DestroyDevice, {before} before it");
            37
        }
        Err(_) => 38,
    }
}

/// Creates a 4096-byte allocation on `device` and locks it (`D3DKMTLock2`): the allocation and
/// the address of its view. `Err(code)` when the creation failed, `Err(code + 1)` when the
/// lock did.
fn locked_allocation<'a>(
    device: &'a Device<'a, Native>,
    code: i32,
) -> Result<(Allocation<'a, Native>, u64), i32> {
    let allocation = device.create_allocation(4096).map_err(|_| code)?;
    let mut lock = D3DKMT_LOCK2 {
        hDevice: device.handle(),
        hAllocation: allocation.handle(),
        ..Default::default()
    };
    if call_d3dkmt(&Native, SyscallNumber::Lock2, &mut lock, 0) != 0 || lock.pData == 0 {
        return Err(code + 1);
    }
    Ok((allocation, lock.pData))
}
