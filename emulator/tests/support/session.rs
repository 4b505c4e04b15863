//! The smoke session of dxg.md §8.3: a process with a device, a context, one 64 × 48 surface
//! and a monitored fence; rendering the Mandelbrot image into it, reading it back, and the
//! teardown in the §8.3 order.

use super::images::words;
use super::requests::{
    create_allocation, create_context, create_device, create_monitored_fence, create_process,
    enum_adapters, read_allocation, sized, submit_request,
};
use super::vm::{Vm, ok};
use dxg::core::{AdapterEntry, ProcessId, Reply, Request};
use dxg::wire::DestroyAllocationCommand;
use dxg::wire::{D3dkmtHandle, NtStatus};
use zerocopy::FromZeros;

/// Surface width in pixels.
pub const WIDTH: u32 = 64;
/// Surface height in pixels.
pub const HEIGHT: u32 = 48;
/// Surface pitch in bytes.
pub const PITCH: u32 = WIDTH * 4;

/// What [`start_session`] created.
pub struct Session {
    pub adapter: D3dkmtHandle,
    pub device: D3dkmtHandle,
    pub context: D3dkmtHandle,
    pub surface: D3dkmtHandle,
    pub fence: D3dkmtHandle,
    pub fence_address: u64,
}

/// Creates process `process` (guest pid `pid`, `name`) and checks its adapter list with
/// `check_adapters`, then a device on adapter `adapter_index`, a context, a
/// `PITCH × HEIGHT`-byte surface and a monitored fence.
pub fn start_session<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    (pid, name): (u64, &str),
    adapter_index: usize,
    check_adapters: impl FnOnce(&[AdapterEntry]),
) -> Session {
    create_process(vm, process, pid, name);
    let adapters = enum_adapters(vm, process);
    check_adapters(&adapters);
    let adapter = adapters[adapter_index].handle;
    let device = create_device(vm, process, adapter);
    let context = create_context(vm, process, device);
    let surface =
        create_allocation(vm, process, device, 0, sized(u64::from(PITCH * HEIGHT))).handle;
    let (fence, fence_address) = create_monitored_fence(vm, process, device);
    Session {
        adapter,
        device,
        context,
        surface,
        fence,
        fence_address,
    }
}

/// Renders the Mandelbrot image (32 iterations) into `surface`, then signals the session's
/// fence with `value`, in one command stream.
pub fn render_into<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    session: &Session,
    surface: D3dkmtHandle,
    value: u64,
) -> Result<Reply, NtStatus> {
    let mut stream = words(&[4, 32, surface.0, 0, WIDTH, HEIGHT, PITCH, 32]);
    stream.extend(words(&[
        5,
        24,
        session.fence.0,
        0,
        value as u32,
        (value >> 32) as u32,
    ]));
    vm.call(process, submit_request(session.context, stream))
}

/// [`render_into`] the session's surface.
pub fn render<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    session: &Session,
    value: u64,
) -> Result<Reply, NtStatus> {
    render_into(vm, process, session, session.surface, value)
}

/// The session's surface, read through LOCK2 / UNLOCK2.
pub fn read_surface<V: Vm>(vm: &mut V, process: ProcessId, session: &Session) -> Vec<u8> {
    read_allocation(
        vm,
        process,
        session.device,
        session.surface,
        (PITCH * HEIGHT) as usize,
    )
}

/// Destroys the session's objects and `paging_queue`, then the process, in the §8.3 order.
pub fn tear_down<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    session: &Session,
    paging_queue: D3dkmtHandle,
) {
    for request in [
        Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device: session.device,
                resource: D3dkmtHandle::NULL,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![session.surface],
        },
        Request::DestroySyncObject {
            sync_object: session.fence,
        },
        Request::DestroyContext {
            context: session.context,
        },
        Request::DestroyPagingQueue { paging_queue },
        Request::DestroyDevice {
            device: session.device,
        },
        Request::DestroyProcess,
    ] {
        ok(vm.call(process, request));
    }
}
