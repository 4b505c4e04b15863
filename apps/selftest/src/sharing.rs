//! Modes 11 and 12: a resource shared between two processes through the real kernel path;
//! mode 13: an allocation over the process's own memory.
//!
//! - Mode 11 (the producer) creates a shared resource with one 64×48 allocation, has the GPU
//!   render the GRADIENT of `docs/vgpu-command-processor.md` into it, waits for the fence,
//!   shares it with `D3DKMTShareObjects`, prints `selftest: shared resource 0x…` and sleeps until
//!   it is killed.
//! - Mode 12 (the consumer) opens that handle (argument bits 32–63) with
//!   `D3DKMTOpenResourceFromNtHandle` on its own device, locks the allocation it got and checks
//!   every pixel against the gradient formula. Exit 0 when all match, otherwise a step number.

use userlib::abi::status::{STATUS_ACCESS_VIOLATION, STATUS_SUCCESS};
use userlib::abi::{self, flags};
use userlib::gpu::{Adapter, Device};
use userlib::println;
use userlib::sys::{Native, SyscallNumber, call_d3dkmt, process};
use userlib::vgpu::{Surface, gradient_packet, gradient_pixel};

const WIDTH: u32 = 64;
const HEIGHT: u32 = 48;
const PITCH: u32 = WIDTH * 4;

/// The GRADIENT pixel at (x, y) of this test's image.
fn gradient(x: u32, y: u32) -> u32 {
    gradient_pixel(x, y, WIDTH, HEIGHT)
}

/// Runs `body` with a device on the first adapter; 1–3 when enumeration, the adapter or the
/// device fails.
pub fn with_device(body: impl FnOnce(&Device<'_, Native>) -> i32) -> i32 {
    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
    body(&device)
}

/// Has the GPU render the gradient into `allocation` and waits for it (an exit code on failure).
fn render_gradient(device: &Device<'_, Native>, allocation: u32) -> Result<(), i32> {
    let context = device.create_context().map_err(|_| 4)?;
    let fence = device.create_sync_object().map_err(|_| 5)?;
    let stream = gradient_packet(Surface {
        allocation,
        offset: 0,
        width: WIDTH,
        height: HEIGHT,
        pitch: PITCH,
    });
    if context.submit(&stream, (&fence, 1)).is_err() || fence.wait_cpu(1, None).is_err() {
        return Err(7);
    }
    Ok(())
}

/// Counts the pixels of the `WIDTH` × `HEIGHT` image at `address` that differ from the gradient.
///
/// # Safety
/// `address` must be 4-byte aligned and `PITCH * HEIGHT` bytes there readable.
unsafe fn wrong_pixels(address: u64) -> u32 {
    let mut wrong = 0;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let pixel_address = address + u64::from(y * PITCH + x * 4);
            // SAFETY: inside the readable image (the caller's contract); a volatile read, since
            // the GPU writes this memory.
            let pixel = unsafe { core::ptr::read_volatile(pixel_address as *const u32) };
            if pixel != gradient(x, y) {
                wrong += 1;
            }
        }
    }
    wrong
}

/// Mode 11.
pub fn produce() -> i32 {
    with_device(|device| {
        let size = u64::from(PITCH * HEIGHT).to_le_bytes();
        let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: size.as_ptr() as u64,
            PrivateDriverDataSize: size.len() as u32,
            ..Default::default()
        };
        let flags = flags::D3DKMT_CREATEALLOCATIONFLAGS_CREATE_RESOURCE
            | flags::D3DKMT_CREATEALLOCATIONFLAGS_CREATE_SHARED;
        let (status, resource) = create_allocation(device, &mut info, flags);
        if status != STATUS_SUCCESS || resource == 0 {
            println!("selftest: shared CreateAllocation2 failed: {status:#x}");
            return 6;
        }
        if let Err(code) = render_gradient(device, info.hAllocation) {
            return code;
        }
        let objects = [resource];
        let mut shared = 0u64;
        let status = userlib::d3dkmt::share_objects(
            &Native,
            1,
            objects.as_ptr(),
            core::ptr::null_mut(),
            0,
            &raw mut shared,
        );
        if status != STATUS_SUCCESS || shared == 0 {
            println!("selftest: D3DKMTShareObjects failed: {status:#x}");
            return 8;
        }
        println!("selftest: shared resource {shared:#x}");
        loop {
            process::sleep(&Native, 1_000);
        }
    })
}

/// `D3DKMTCreateAllocation2` of the one allocation `info` with `flags`: (status, hResource).
fn create_allocation(
    device: &Device<'_, Native>,
    info: &mut abi::D3DDDI_ALLOCATIONINFO2,
    flags: u32,
) -> (i32, u32) {
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: device.handle(),
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(info) as u64,
        Flags: flags,
        ..Default::default()
    };
    let status = call_d3dkmt(&Native, SyscallNumber::CreateAllocation2, &mut create, 0);
    (status, create.hResource)
}

/// Mode 12: opens `shared` and verifies the gradient.
pub fn consume(shared: u64) -> i32 {
    with_device(|device| {
        let mut allocations = [abi::D3DDDI_OPENALLOCATIONINFO2::default()];
        let mut open = abi::D3DKMT_OPENRESOURCEFROMNTHANDLE {
            hDevice: device.handle(),
            hNtHandle: shared,
            NumAllocations: 1,
            pOpenAllocationInfo2: allocations.as_mut_ptr() as u64,
            ..Default::default()
        };
        let status = call_d3dkmt(
            &Native,
            SyscallNumber::OpenResourceFromNtHandle,
            &mut open,
            0,
        );
        let allocation = allocations[0].hAllocation;
        if status != STATUS_SUCCESS || open.hResource == 0 || allocation == 0 {
            println!("selftest: D3DKMTOpenResourceFromNtHandle failed: {status:#x}");
            return 4;
        }
        let mut lock = abi::D3DKMT_LOCK2 {
            hDevice: device.handle(),
            hAllocation: allocation,
            ..Default::default()
        };
        let status = call_d3dkmt(&Native, SyscallNumber::Lock2, &mut lock, 0);
        if status != STATUS_SUCCESS || lock.pData == 0 {
            println!("selftest: Lock2 of the opened allocation failed: {status:#x}");
            return 5;
        }
        // SAFETY: Lock2 mapped the whole allocation (PITCH × HEIGHT bytes) readable at the
        // page-aligned `pData` until Unlock2 below.
        let wrong = unsafe { wrong_pixels(lock.pData) };
        let mut unlock = abi::D3DKMT_UNLOCK2 {
            hDevice: device.handle(),
            hAllocation: allocation,
        };
        if call_d3dkmt(&Native, SyscallNumber::Unlock2, &mut unlock, 0) != STATUS_SUCCESS {
            return 6;
        }
        if wrong != 0 {
            println!("selftest: {wrong} of the shared resource's pixels are wrong");
            return 7;
        }
        println!(
            "selftest: opened the shared resource {shared:#x}: all {} pixels rendered by the other process verified",
            WIDTH * HEIGHT
        );
        0
    })
}

/// Page-aligned memory of this process that the GPU renders into (mode 13).
#[repr(C, align(4096))]
struct PageAligned([u8; (PITCH * HEIGHT) as usize]);

static mut SYSTEM_MEMORY: PageAligned = PageAligned([0; (PITCH * HEIGHT) as usize]);

/// Mode 13: an allocation over this process's own memory (`pSystemMem`, ExistingSysMem): the
/// GPU renders the gradient into it and the pixels are read from the process's memory directly.
/// A Lock2 view of IO space offered as system memory is refused.
pub fn existing_system_memory() -> i32 {
    with_device(|device| {
        let memory = (&raw mut SYSTEM_MEMORY) as u64;
        let size = u64::from(PITCH * HEIGHT).to_le_bytes();
        let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
            pSystemMem: memory,
            pPrivateDriverData: size.as_ptr() as u64,
            PrivateDriverDataSize: size.len() as u32,
            ..Default::default()
        };
        let existing = flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM;
        let (status, _) = create_allocation(device, &mut info, existing);
        if status != STATUS_SUCCESS || info.hAllocation == 0 {
            println!("selftest: existing-sysmem CreateAllocation2 failed: {status:#x}");
            return 6;
        }
        if let Err(code) = render_gradient(device, info.hAllocation) {
            return code;
        }
        // SAFETY: SYSTEM_MEMORY is this process's own page-aligned static of PITCH × HEIGHT
        // bytes; the GPU finished writing it before the fence was signalled.
        let wrong = unsafe { wrong_pixels(memory) };
        if wrong != 0 {
            println!("selftest: {wrong} pixels in the process's own memory are wrong");
            return 8;
        }
        // A view of IO space is not the process's memory: refused.
        let Ok(mut surface) = device.create_allocation(4096) else {
            return 9;
        };
        let Ok(view) = surface.lock() else {
            return 10;
        };
        let private = 4096u64.to_le_bytes();
        let mut view_info = abi::D3DDDI_ALLOCATIONINFO2 {
            pSystemMem: view.as_ptr() as u64,
            pPrivateDriverData: private.as_ptr() as u64,
            PrivateDriverDataSize: private.len() as u32,
            ..Default::default()
        };
        let (status, _) = create_allocation(device, &mut view_info, existing);
        if status != STATUS_ACCESS_VIOLATION {
            println!("selftest: an IO-space view as system memory gave {status:#x}");
            return 11;
        }
        println!(
            "selftest: the GPU rendered into the process's own memory: all {} pixels verified; an IO-space view as system memory was refused",
            WIDTH * HEIGHT
        );
        0
    })
}
