//! In-process integration of the commands beyond the smoke path: the dxg guest core against the
//! emulated vGPU (no VMBus). GPU virtual addresses, hardware queues, priorities, residency,
//! offer/reclaim, and the adapter queries — each with its error cases (bad handles, out-of-range
//! addresses, another process's handles).

use dxg::core::{AllocationRequest, GpuVirtualAddressOperation, ProcessId, Reply, Request};
use dxg::wire::*;
use emulator::vgpu::VgpuDescription;
use emulator::vgpu::gpu_va::VA_BASE;
use emulator::vgpu::loopback::Loopback;
use hyperv::memory::GuestMemory;

const P1: ProcessId = ProcessId(1);
const P2: ProcessId = ProcessId(2);
const PAGE: u64 = 4096;

/// A process with one device, context, paging queue and two 2-page allocations.
struct Setup {
    adapter: D3dkmtHandle,
    device: D3dkmtHandle,
    context: D3dkmtHandle,
    paging_queue: D3dkmtHandle,
    paging_fence_address: u64,
    allocations: Vec<D3dkmtHandle>,
}

fn ok(result: Result<Reply, NtStatus>) -> Reply {
    result.unwrap_or_else(|status| panic!("request failed: {status:?}"))
}

fn words(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

fn vm() -> Loopback {
    Loopback::new(vec![VgpuDescription::new(0x1_0000, 0xABCD)], 16)
}

fn setup(vm: &mut Loopback, process: ProcessId) -> Setup {
    ok(vm.call(
        process,
        Request::CreateProcess {
            pid: 500 + process.0,
            name: "extended".into(),
        },
    ));
    let Reply::Adapters(adapters) = ok(vm.call(process, Request::EnumAdapters)) else {
        panic!()
    };
    let adapter = adapters[0].handle;
    let Reply::Device(device) = ok(vm.call(process, Request::CreateDevice { adapter, flags: 0 }))
    else {
        panic!()
    };
    let Reply::Context { context, .. } = ok(vm.call(
        process,
        Request::CreateContext {
            device,
            node_ordinal: 0,
            engine_affinity: 0,
            flags: 0,
            client_hint: 0,
            private_data: vec![],
        },
    )) else {
        panic!()
    };
    let Reply::PagingQueue {
        paging_queue,
        fence_address,
        ..
    } = ok(vm.call(
        process,
        Request::CreatePagingQueue {
            device,
            priority: 0,
        },
    ))
    else {
        panic!()
    };
    let allocation = AllocationRequest {
        private_data: (2 * PAGE).to_le_bytes().to_vec(),
        ..Default::default()
    };
    let Reply::Allocations { allocations, .. } = ok(vm.call(
        process,
        Request::CreateAllocation {
            device,
            resource: D3dkmtHandle::NULL,
            flags: 0,
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![allocation.clone(), allocation],
        },
    )) else {
        panic!()
    };
    Setup {
        adapter,
        device,
        context,
        paging_queue,
        paging_fence_address: fence_address,
        allocations: allocations.iter().map(|created| created.handle).collect(),
    }
}

/// One more one-page allocation in P1.
fn extra_allocation(vm: &mut Loopback, s: &Setup) -> D3dkmtHandle {
    let Reply::Allocations { allocations, .. } = ok(vm.call(
        P1,
        Request::CreateAllocation {
            device: s.device,
            resource: D3dkmtHandle::NULL,
            flags: 0,
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default()],
        },
    )) else {
        panic!()
    };
    allocations[0].handle
}

fn reserve(vm: &mut Loopback, s: &Setup, base: u64, size: u64) -> Result<Reply, NtStatus> {
    vm.call(
        P1,
        Request::ReserveGpuVirtualAddress {
            adapter: s.adapter,
            paging_queue: D3dkmtHandle::NULL,
            base_address: base,
            minimum_address: 0,
            maximum_address: 0,
            size,
            reservation_type: RESERVE_NO_ACCESS,
            driver_protection: 0,
        },
    )
}

fn map(
    vm: &mut Loopback,
    process: ProcessId,
    s: &Setup,
    base: u64,
    allocation: D3dkmtHandle,
    offset: u64,
    pages: u64,
) -> Result<Reply, NtStatus> {
    vm.call(
        process,
        Request::MapGpuVirtualAddress {
            paging_queue: s.paging_queue,
            allocation,
            base_address: base,
            minimum_address: 0,
            maximum_address: 0,
            offset_in_pages: offset,
            size_in_pages: pages,
            protection: 1,
            driver_protection: 0,
        },
    )
}

/// A FILL packet: `length` bytes of `pattern` at `offset` of `allocation`.
fn fill(allocation: D3dkmtHandle, offset: u32, length: u32, pattern: u32) -> Vec<u8> {
    words(&[1, 24, allocation.0, offset, length, pattern])
}

/// Reads an allocation through LOCK2.
fn read(vm: &mut Loopback, s: &Setup, allocation: D3dkmtHandle, length: usize) -> Vec<u8> {
    let Reply::Locked { address, .. } = ok(vm.call(
        P1,
        Request::Lock {
            device: s.device,
            allocation,
        },
    )) else {
        panic!()
    };
    let mut bytes = vec![0u8; length];
    vm.memory.read(address, &mut bytes).unwrap();
    ok(vm.call(
        P1,
        Request::Unlock {
            device: s.device,
            allocation,
        },
    ));
    bytes
}

#[test]
fn gpu_virtual_addresses_reserve_map_update_free() {
    let mut vm = vm();
    let s = setup(&mut vm, P1);
    let (a, b) = (s.allocations[0], s.allocations[1]);

    // Reserve by adapter, then by paging queue (first fit after the first range).
    let Reply::GpuVirtualAddress {
        virtual_address: base,
        status,
        ..
    } = ok(reserve(&mut vm, &s, 0, 4 * PAGE))
    else {
        panic!()
    };
    assert_eq!((base, status), (VA_BASE, NtStatus::SUCCESS));
    let by_queue = ok(vm.call(
        P1,
        Request::ReserveGpuVirtualAddress {
            adapter: D3dkmtHandle::NULL,
            paging_queue: s.paging_queue,
            base_address: 0,
            minimum_address: 0,
            maximum_address: 0,
            size: PAGE,
            reservation_type: RESERVE_ZERO,
            driver_protection: 0,
        },
    ));
    assert!(
        matches!(by_queue, Reply::GpuVirtualAddress { virtual_address, .. } if virtual_address == base + 4 * PAGE)
    );

    // Out-of-range and malformed reservations fail on the host.
    assert_eq!(
        reserve(&mut vm, &s, base + PAGE, PAGE),
        Err(NtStatus::UNSUCCESSFUL),
        "overlap"
    );
    assert_eq!(
        reserve(&mut vm, &s, 0, 0),
        Err(NtStatus::UNSUCCESSFUL),
        "size 0"
    );
    assert_eq!(
        reserve(&mut vm, &s, 0x1000, PAGE),
        Err(NtStatus::UNSUCCESSFUL),
        "below the VA space"
    );
    // Both or neither of adapter / paging queue: refused by the guest.
    assert_eq!(
        vm.call(
            P1,
            Request::ReserveGpuVirtualAddress {
                adapter: s.adapter,
                paging_queue: s.paging_queue,
                base_address: 0,
                minimum_address: 0,
                maximum_address: 0,
                size: PAGE,
                reservation_type: 0,
                driver_protection: 0,
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );

    // MAP inside the reservation: PENDING with a paging fence value the fence already reached.
    let Reply::GpuVirtualAddress {
        virtual_address,
        status,
        paging_fence_value,
    } = ok(map(&mut vm, P1, &s, base + PAGE, a, 0, 2))
    else {
        panic!()
    };
    assert_eq!((virtual_address, status), (base + PAGE, NtStatus::PENDING));
    assert!(vm.memory.read_u64(s.paging_fence_address).unwrap() >= paging_fence_value);
    // MAP at 0 makes its own reservation.
    let Reply::GpuVirtualAddress {
        virtual_address: implicit,
        ..
    } = ok(map(&mut vm, P1, &s, 0, b, 0, 1))
    else {
        panic!()
    };
    assert_eq!(implicit, base + 5 * PAGE);
    // Errors: past the reservation, past the allocation, not reserved, bad handles.
    assert_eq!(
        map(&mut vm, P1, &s, base + 3 * PAGE, a, 0, 2),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        map(&mut vm, P1, &s, base, a, 1, 2),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        map(&mut vm, P1, &s, VA_BASE + (1 << 30), a, 0, 1),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        map(&mut vm, P1, &s, base, D3dkmtHandle(0x7FC0), 0, 1),
        Err(NtStatus::INVALID_HANDLE)
    );
    assert_eq!(
        map(&mut vm, P1, &s, base, s.device, 0, 1),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );

    // A command buffer at a GPU VA: the stream lives in allocation `a` (mapped at base + PAGE)
    // and fills allocation `b`.
    let stream = fill(b, 0, 16, 0x5A5A_5A5A);
    let Reply::Locked { address, .. } = ok(vm.call(
        P1,
        Request::Lock {
            device: s.device,
            allocation: a,
        },
    )) else {
        panic!()
    };
    vm.memory.write(address + 8, &stream).unwrap();
    ok(vm.call(
        P1,
        Request::SubmitCommand {
            contexts: vec![s.context],
            command_buffer: base + PAGE + 8,
            command_length: stream.len() as u32,
            private_data: vec![],
            history_buffers: vec![],
        },
    ));
    assert_eq!(read(&mut vm, &s, b, 16), vec![0x5A; 16]);

    // UPDATEGPUVIRTUALADDRESS: copy the mapping down one page, then unmap the original.
    ok(vm.call(
        P1,
        Request::UpdateGpuVirtualAddress {
            device: s.device,
            context: s.context,
            fence_object: D3dkmtHandle::NULL,
            fence_value: 0,
            flags: 0,
            operations: vec![
                GpuVirtualAddressOperation::Copy {
                    source_address: base + PAGE,
                    size: PAGE,
                    destination_address: base,
                },
                GpuVirtualAddressOperation::Unmap {
                    base_address: base + PAGE,
                    size: 2 * PAGE,
                    protection: 0,
                },
            ],
        },
    ));
    let submit_at = |vm: &mut Loopback, address: u64| {
        vm.call(
            P1,
            Request::SubmitCommand {
                contexts: vec![s.context],
                command_buffer: address,
                command_length: stream.len() as u32,
                private_data: vec![],
                history_buffers: vec![],
            },
        )
    };
    assert!(
        submit_at(&mut vm, base + 8).is_ok(),
        "the copied mapping executes"
    );
    assert_eq!(
        submit_at(&mut vm, base + PAGE + 8),
        Err(NtStatus::INVALID_PARAMETER),
        "unmapped"
    );
    // An update with one bad operation changes nothing (all or none).
    let failed = vm.call(
        P1,
        Request::UpdateGpuVirtualAddress {
            device: s.device,
            context: s.context,
            fence_object: D3dkmtHandle::NULL,
            fence_value: 0,
            flags: 0,
            operations: vec![
                GpuVirtualAddressOperation::Unmap {
                    base_address: base,
                    size: PAGE,
                    protection: 0,
                },
                GpuVirtualAddressOperation::Map {
                    base_address: VA_BASE + (1 << 30),
                    size: PAGE,
                    allocation: a,
                    allocation_offset: 0,
                    allocation_size: PAGE,
                },
            ],
        },
    );
    assert_eq!(failed, Err(NtStatus::INVALID_PARAMETER));
    assert!(
        submit_at(&mut vm, base + 8).is_ok(),
        "first operation rolled back"
    );
    // Guest-side validation: no operations, a fence that is not a sync object.
    let update = |operations: Vec<GpuVirtualAddressOperation>, fence_object: D3dkmtHandle| {
        Request::UpdateGpuVirtualAddress {
            device: s.device,
            context: s.context,
            fence_object,
            fence_value: 0,
            flags: 0,
            operations,
        }
    };
    assert_eq!(
        vm.call(P1, update(vec![], D3dkmtHandle::NULL)),
        Err(NtStatus::INVALID_PARAMETER)
    );
    let unmap = GpuVirtualAddressOperation::Unmap {
        base_address: base,
        size: PAGE,
        protection: 0,
    };
    assert_eq!(
        vm.call(P1, update(vec![unmap], a)),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );
    // MAP_PROTECT puts allocation `a` back at base + PAGE.
    ok(vm.call(
        P1,
        update(
            vec![GpuVirtualAddressOperation::MapProtect {
                base_address: base + PAGE,
                size: PAGE,
                allocation: a,
                allocation_offset: 0,
                allocation_size: PAGE,
                protection: 1,
                driver_protection: 0,
            }],
            D3dkmtHandle::NULL,
        ),
    ));
    assert!(submit_at(&mut vm, base + PAGE + 8).is_ok());

    // Another process cannot use P1's handles (P1 has one more allocation than P2 has objects),
    // and has its own (empty) address space.
    let extra = extra_allocation(&mut vm, &s);
    let other = setup(&mut vm, P2);
    assert_eq!(
        map(&mut vm, P2, &other, 0, extra, 0, 1),
        Err(NtStatus::INVALID_HANDLE),
        "P1's allocation"
    );
    let Reply::GpuVirtualAddress {
        virtual_address, ..
    } = ok(map(&mut vm, P2, &other, 0, other.allocations[0], 0, 1))
    else {
        panic!()
    };
    assert_eq!(virtual_address, VA_BASE, "address spaces are per process");

    // FREE must name a whole reservation.
    let free = |vm: &mut Loopback, base_address: u64, size: u64| {
        vm.call(
            P1,
            Request::FreeGpuVirtualAddress {
                adapter: s.adapter,
                base_address,
                size,
            },
        )
    };
    assert_eq!(free(&mut vm, base, PAGE), Err(NtStatus::INVALID_PARAMETER));
    assert_eq!(
        free(&mut vm, base + PAGE, 4 * PAGE),
        Err(NtStatus::INVALID_PARAMETER)
    );
    ok(free(&mut vm, base, 4 * PAGE));
    assert_eq!(
        submit_at(&mut vm, base + PAGE + 8),
        Err(NtStatus::INVALID_PARAMETER),
        "freed"
    );
    assert_eq!(
        vm.call(
            P1,
            Request::FreeGpuVirtualAddress {
                adapter: D3dkmtHandle(0x7FC0),
                base_address: base,
                size: PAGE
            }
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    // A destroyed allocation disappears from the address space.
    ok(vm.call(
        P1,
        Request::DestroyAllocation {
            device: s.device,
            resource: D3dkmtHandle::NULL,
            allocations: vec![b],
            flags: 0,
        },
    ));
    assert_eq!(
        submit_at(&mut vm, implicit),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}
