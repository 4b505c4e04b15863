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
use userlib::gpu::Adapter;
use userlib::println;
use userlib::sys::{Native, SyscallNumber, call_d3dkmt, process};

const WIDTH: u32 = 64;
const HEIGHT: u32 = 48;
const PITCH: u32 = WIDTH * 4;

/// The GRADIENT pixel at (x, y).
fn gradient(x: u32, y: u32) -> u32 {
    let red = x * 255 / (WIDTH - 1).max(1);
    let green = y * 255 / (HEIGHT - 1).max(1);
    let blue = (x + y) * 255 / (WIDTH + HEIGHT - 2).max(1);
    0xff00_0000 | red << 16 | green << 8 | blue
}

/// Mode 11.
pub fn produce() -> i32 {
    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
    let Ok(context) = device.create_context() else {
        return 4;
    };
    let Ok(fence) = device.create_sync_object() else {
        return 5;
    };
    let size = u64::from(PITCH * HEIGHT).to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: size.as_ptr() as u64,
        PrivateDriverDataSize: size.len() as u32,
        ..Default::default()
    };
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: device.handle(),
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        Flags: flags::D3DKMT_CREATEALLOCATIONFLAGS_CREATE_RESOURCE
            | flags::D3DKMT_CREATEALLOCATIONFLAGS_CREATE_SHARED,
        ..Default::default()
    };
    let status = call_d3dkmt(&Native, SyscallNumber::CreateAllocation2, &mut create, 0);
    if status != STATUS_SUCCESS || create.hResource == 0 {
        println!("selftest: shared CreateAllocation2 failed: {status:#x}");
        return 6;
    }
    let mut stream = [0u8; 28];
    for (chunk, word) in
        stream
            .chunks_exact_mut(4)
            .zip([3, 28, info.hAllocation, 0, WIDTH, HEIGHT, PITCH])
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    if context.submit(&stream, (&fence, 1)).is_err() || fence.wait_cpu(1, None).is_err() {
        return 7;
    }
    let objects = [create.hResource];
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
}

/// Mode 12: opens `shared` and verifies the gradient.
pub fn consume(shared: u64) -> i32 {
    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
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
    let mut wrong = 0;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let address = lock.pData + u64::from(y * PITCH + x * 4);
            // SAFETY: Lock2 mapped the whole allocation (PITCH × HEIGHT bytes) readable at
            // `pData` until Unlock2 below; `address` is inside it and 4-byte aligned.
            let pixel = unsafe { core::ptr::read_volatile(address as *const u32) };
            if pixel != gradient(x, y) {
                wrong += 1;
            }
        }
    }
    let mut unlock = abi::D3DKMT_UNLOCK2 {
        hDevice: device.handle(),
        hAllocation: allocation,
    };
    let status = call_d3dkmt(&Native, SyscallNumber::Unlock2, &mut unlock, 0);
    if status != STATUS_SUCCESS {
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
}

/// Page-aligned memory of this process that the GPU renders into (mode 13).
#[repr(C, align(4096))]
struct PageAligned([u8; (PITCH * HEIGHT) as usize]);

static mut SYSTEM_MEMORY: PageAligned = PageAligned([0; (PITCH * HEIGHT) as usize]);

/// Mode 13: an allocation over this process's own memory (`pSystemMem`, ExistingSysMem): the
/// GPU renders the gradient into it and the pixels are read from the process's memory directly.
/// A Lock2 view of IO space offered as system memory is refused.
pub fn existing_system_memory() -> i32 {
    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        return 2;
    };
    let Ok(device) = adapter.create_device() else {
        return 3;
    };
    let Ok(context) = device.create_context() else {
        return 4;
    };
    let Ok(fence) = device.create_sync_object() else {
        return 5;
    };
    let memory = (&raw mut SYSTEM_MEMORY) as u64;
    let size = u64::from(PITCH * HEIGHT).to_le_bytes();
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: memory,
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
    let status = call_d3dkmt(&Native, SyscallNumber::CreateAllocation2, &mut create, 0);
    if status != STATUS_SUCCESS || info.hAllocation == 0 {
        println!("selftest: existing-sysmem CreateAllocation2 failed: {status:#x}");
        return 6;
    }
    let mut stream = [0u8; 28];
    for (chunk, word) in
        stream
            .chunks_exact_mut(4)
            .zip([3, 28, info.hAllocation, 0, WIDTH, HEIGHT, PITCH])
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    if context.submit(&stream, (&fence, 1)).is_err() || fence.wait_cpu(1, None).is_err() {
        return 7;
    }
    let mut wrong = 0;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let address = memory + u64::from(y * PITCH + x * 4);
            // SAFETY: `address` lies in SYSTEM_MEMORY (this process's own static, 4-byte
            // aligned); the GPU wrote it before the fence was signalled; a volatile read.
            let pixel = unsafe { core::ptr::read_volatile(address as *const u32) };
            if pixel != gradient(x, y) {
                wrong += 1;
            }
        }
    }
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
    let mut create = abi::D3DKMT_CREATEALLOCATION {
        hDevice: device.handle(),
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut view_info) as u64,
        Flags: flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM,
        ..Default::default()
    };
    let status = call_d3dkmt(&Native, SyscallNumber::CreateAllocation2, &mut create, 0);
    if status != STATUS_ACCESS_VIOLATION {
        println!("selftest: an IO-space view as system memory gave {status:#x}");
        return 11;
    }
    println!(
        "selftest: the GPU rendered into the process's own memory: all {} pixels verified; an IO-space view as system memory was refused",
        WIDTH * HEIGHT
    );
    0
}
