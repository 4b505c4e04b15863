//! The dxg requests the tests repeat to create objects and reach their memory, each checked to
//! succeed and unpacked to what the caller uses. A reply of another kind fails the test.

use super::vm::{Vm, ok};
use dxg::core::{
    AdapterEntry, AllocationRequest, CreatedAllocation, ProcessId, Reply, Request, SyncObjectKind,
};
use dxg::wire::{CreateAllocationCommand, CreateContextVirtualCommand, D3dkmtHandle};
use dxg::wire::{CreatePagingQueueCommand, DestroyAllocationCommand};
use hyperv::memory::GuestMemory;
use zerocopy::FromZeros;

/// CREATEPROCESS for `process` with the guest process id `pid`.
pub fn create_process<V: Vm>(vm: &mut V, process: ProcessId, pid: u64, name: &str) {
    ok(vm.call(
        process,
        Request::CreateProcess {
            pid,
            name: name.into(),
        },
    ));
}

/// The adapters `process` sees.
pub fn enum_adapters<V: Vm>(vm: &mut V, process: ProcessId) -> Vec<AdapterEntry> {
    let Reply::Adapters(adapters) = ok(vm.call(process, Request::EnumAdapters)) else {
        panic!("no adapter list")
    };
    adapters
}

/// A device on `adapter`.
pub fn create_device<V: Vm>(vm: &mut V, process: ProcessId, adapter: D3dkmtHandle) -> D3dkmtHandle {
    let Reply::Device(device) = ok(vm.call(process, Request::CreateDevice { adapter, flags: 0 }))
    else {
        panic!("no device")
    };
    device
}

/// A context on node 0 of `device`.
pub fn create_context<V: Vm>(vm: &mut V, process: ProcessId, device: D3dkmtHandle) -> D3dkmtHandle {
    let Reply::Context { context, .. } = ok(vm.call(
        process,
        Request::CreateContext {
            command: CreateContextVirtualCommand {
                device,
                node_ordinal: 0,
                engine_affinity: 0,
                flags: 0,
                client_hint: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![],
        },
    )) else {
        panic!("no context")
    };
    context
}

/// An allocation request whose private data is its size in bytes (as the vGPU reads it).
pub fn sized(bytes: u64) -> AllocationRequest {
    AllocationRequest {
        private_data: bytes.to_le_bytes().to_vec(),
        ..Default::default()
    }
}

/// CREATEALLOCATION of `allocations` on `device` with `flags`, without a resource handle:
/// the resource (NULL unless created) and the allocations.
pub fn create_allocations<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    flags: u32,
    allocations: Vec<AllocationRequest>,
) -> (D3dkmtHandle, Vec<CreatedAllocation>) {
    let Reply::Allocations {
        resource,
        allocations,
    } = ok(vm.call(
        process,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations,
        },
    ))
    else {
        panic!("no allocations")
    };
    (resource, allocations)
}

/// One allocation of `allocation` on `device` with `flags`.
pub fn create_allocation<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    flags: u32,
    allocation: AllocationRequest,
) -> CreatedAllocation {
    create_allocations(vm, process, device, flags, vec![allocation]).1[0]
}

/// DESTROYALLOCATION2 of `resource` (or NULL) and `allocations` on `device`.
pub fn destroy_allocations<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    resource: D3dkmtHandle,
    allocations: Vec<D3dkmtHandle>,
) {
    ok(vm.call(
        process,
        Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device,
                resource,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations,
        },
    ));
}

/// A monitored fence starting at 0 on `device`: its handle and the CPU address of its value.
pub fn create_monitored_fence<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
) -> (D3dkmtHandle, u64) {
    let Reply::SyncObject {
        handle,
        fence_address,
        ..
    } = ok(vm.call(
        process,
        Request::CreateSyncObject {
            device,
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 0,
            },
            flags: 0,
        },
    ))
    else {
        panic!("no sync object")
    };
    (handle, fence_address)
}

/// A paging queue of priority 0 on `device`: its handle and the address of its fence value.
pub fn create_paging_queue<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
) -> (D3dkmtHandle, u64) {
    let Reply::PagingQueue {
        paging_queue,
        fence_address,
        ..
    } = ok(vm.call(
        process,
        Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
    ))
    else {
        panic!("no paging queue")
    };
    (paging_queue, fence_address)
}

/// QUERYADAPTERINFO of `query_type` with a `length`-byte buffer: the data the host returned.
pub fn query_adapter_info<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    adapter: D3dkmtHandle,
    query_type: u32,
    length: usize,
) -> Vec<u8> {
    let Reply::AdapterInfo(data) = ok(vm.call(
        process,
        Request::QueryAdapterInfo {
            adapter,
            query_type,
            data: vec![0; length],
        },
    )) else {
        panic!("no adapter info")
    };
    data
}

/// A SUBMITCOMMAND request of the command stream `stream` (passed as private data) to `context`.
pub fn submit_request(context: D3dkmtHandle, stream: Vec<u8>) -> Request {
    Request::SubmitCommand {
        contexts: vec![context],
        command_buffer: 0,
        command_length: 0,
        private_data: stream,
        history_buffers: vec![],
    }
}

/// A WAITFORSYNCHRONIZATIONOBJECTFROMCPU request for `fence` to reach `value`.
pub fn wait_request(device: D3dkmtHandle, fence: D3dkmtHandle, value: u64) -> Request {
    Request::WaitFromCpu {
        device,
        objects: vec![fence],
        values: vec![value],
        wait_any: false,
    }
}

/// LOCK2 of `allocation`: its CPU address.
pub fn lock<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    allocation: D3dkmtHandle,
) -> u64 {
    let Reply::Locked { address, .. } = ok(vm.call(process, Request::Lock { device, allocation }))
    else {
        panic!("not locked")
    };
    address
}

/// UNLOCK2 of `allocation`.
pub fn unlock<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    allocation: D3dkmtHandle,
) {
    ok(vm.call(process, Request::Unlock { device, allocation }));
}

/// The first `length` bytes of `allocation`, read through LOCK2 / UNLOCK2.
pub fn read_allocation<V: Vm>(
    vm: &mut V,
    process: ProcessId,
    device: D3dkmtHandle,
    allocation: D3dkmtHandle,
    length: usize,
) -> Vec<u8> {
    let address = lock(vm, process, device, allocation);
    let mut bytes = vec![0u8; length];
    vm.guest_memory().read(address, &mut bytes).unwrap();
    unlock(vm, process, device, allocation);
    bytes
}
