//! In-process integration of the commands beyond the smoke path: the dxg guest core against the
//! emulated vGPU (no VMBus). GPU virtual addresses, hardware queues, priorities, residency,
//! offer/reclaim, and the adapter queries — each with its error cases (bad handles, out-of-range
//! addresses, another process's handles).

mod support;

use dxg::core::{AllocationRequest, GpuVirtualAddressOperation, ProcessId, Reply, Request};
use dxg::wire::*;
use emulator::vgpu::gpu_va::VA_BASE;
use emulator::vgpu::loopback::Loopback;
use hyperv::memory::GuestMemory;
use support::images::words;
use support::requests::{
    create_allocation, create_allocations, create_context, create_device, create_paging_queue,
    create_process, destroy_allocations, enum_adapters, lock, read_allocation, sized,
    submit_request, wait_request,
};
use support::vm::{loopback as vm, ok};
use zerocopy::FromZeros;

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

fn setup(vm: &mut Loopback, process: ProcessId) -> Setup {
    create_process(vm, process, 500 + process.0, "extended");
    let adapter = enum_adapters(vm, process)[0].handle;
    let device = create_device(vm, process, adapter);
    let context = create_context(vm, process, device);
    let (paging_queue, fence_address) = create_paging_queue(vm, process, device);
    let allocation = sized(2 * PAGE);
    let (_, allocations) =
        create_allocations(vm, process, device, 0, vec![allocation.clone(), allocation]);
    let allocations = allocations.iter().map(|created| created.handle).collect();
    Setup {
        adapter,
        device,
        context,
        paging_queue,
        paging_fence_address: fence_address,
        allocations,
    }
}

/// One more one-page allocation in P1.
fn extra_allocation(vm: &mut Loopback, s: &Setup) -> D3dkmtHandle {
    create_allocation(vm, P1, s.device, 0, AllocationRequest::default()).handle
}

fn reserve(vm: &mut Loopback, s: &Setup, base: u64, size: u64) -> Result<Reply, NtStatus> {
    vm.call(
        P1,
        Request::ReserveGpuVirtualAddress {
            paging_queue: D3dkmtHandle::NULL,
            command: ReserveGpuVirtualAddressCommand {
                adapter: s.adapter,
                base_address: base,
                minimum_address: 0,
                maximum_address: 0,
                size,
                reservation_type: RESERVE_NO_ACCESS,
                driver_protection: 0,
                ..FromZeros::new_zeroed()
            },
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
        Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue: s.paging_queue,
            allocation,
            base_address: base,
            minimum_address: 0,
            maximum_address: 0,
            offset_in_pages: offset,
            size_in_pages: pages,
            protection: 1,
            driver_protection: 0,
            ..FromZeros::new_zeroed()
        }),
    )
}

/// A FILL packet: `length` bytes of `pattern` at `offset` of `allocation`.
fn fill(allocation: D3dkmtHandle, offset: u32, length: u32, pattern: u32) -> Vec<u8> {
    words(&[1, 24, allocation.0, offset, length, pattern])
}

/// Reads an allocation through LOCK2.
fn read(vm: &mut Loopback, s: &Setup, allocation: D3dkmtHandle, length: usize) -> Vec<u8> {
    read_allocation(vm, P1, s.device, allocation, length)
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
            paging_queue: s.paging_queue,
            command: ReserveGpuVirtualAddressCommand {
                adapter: D3dkmtHandle::NULL,
                base_address: 0,
                minimum_address: 0,
                maximum_address: 0,
                size: PAGE,
                reservation_type: RESERVE_ZERO,
                driver_protection: 0,
                ..FromZeros::new_zeroed()
            },
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
                paging_queue: s.paging_queue,
                command: ReserveGpuVirtualAddressCommand {
                    adapter: s.adapter,
                    base_address: 0,
                    minimum_address: 0,
                    maximum_address: 0,
                    size: PAGE,
                    reservation_type: 0,
                    driver_protection: 0,
                    ..FromZeros::new_zeroed()
                }
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
    let address = lock(&mut vm, P1, s.device, a);
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
            command: UpdateGpuVirtualAddressCommand {
                device: s.device,
                context: s.context,
                fence_object: D3dkmtHandle::NULL,
                fence_value: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
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
            command: UpdateGpuVirtualAddressCommand {
                device: s.device,
                context: s.context,
                fence_object: D3dkmtHandle::NULL,
                fence_value: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
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
            command: UpdateGpuVirtualAddressCommand {
                device: s.device,
                context: s.context,
                fence_object,
                fence_value: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
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
            Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
                adapter: s.adapter,
                base_address,
                size,
                ..FromZeros::new_zeroed()
            }),
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
            Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
                adapter: D3dkmtHandle(0x7FC0),
                base_address: base,
                size: PAGE,
                ..FromZeros::new_zeroed()
            })
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    // A destroyed allocation disappears from the address space.
    destroy_allocations(&mut vm, P1, s.device, D3dkmtHandle::NULL, vec![b]);
    assert_eq!(
        submit_at(&mut vm, implicit),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

fn create_hwqueue(
    vm: &mut Loopback,
    process: ProcessId,
    context: D3dkmtHandle,
) -> Result<Reply, NtStatus> {
    vm.call(
        process,
        Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![0xAB, 0xCD],
        },
    )
}

#[test]
fn hardware_queues_run_streams_and_advance_their_progress_fence() {
    let mut vm = vm();
    let s = setup(&mut vm, P1);
    let a = s.allocations[0];
    let Reply::HwQueue {
        hwqueue,
        progress_fence,
        fence_address,
        private_data,
        ..
    } = ok(create_hwqueue(&mut vm, P1, s.context))
    else {
        panic!()
    };
    assert_eq!(private_data, vec![0xAB, 0xCD], "private data echoed back");
    assert_eq!(vm.memory.read_u64(fence_address).unwrap(), 0);
    assert_eq!(
        create_hwqueue(&mut vm, P1, s.device),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );
    assert_eq!(
        create_hwqueue(&mut vm, P1, D3dkmtHandle(0x7FC0)),
        Err(NtStatus::INVALID_HANDLE)
    );

    let submit = |vm: &mut Loopback, hwqueue: D3dkmtHandle, value: u64, stream: Vec<u8>| {
        vm.call(
            P1,
            Request::SubmitCommandToHwQueue {
                command: SubmitCommandToHwQueueCommand {
                    hwqueue,
                    progress_fence_id: value,
                    command_buffer: 0,
                    command_length: 0,
                    ..FromZeros::new_zeroed()
                },
                private_data: stream,
                primaries: vec![],
            },
        )
    };
    ok(submit(&mut vm, hwqueue, 3, fill(a, 0, 8, 0x0102_0304)));
    assert_eq!(
        vm.memory.read_u64(fence_address).unwrap(),
        3,
        "progress fence signalled"
    );
    assert_eq!(read(&mut vm, &s, a, 8), vec![4, 3, 2, 1, 4, 3, 2, 1]);
    // A CPU wait on the progress fence (a monitored fence) completes.
    assert_eq!(
        vm.call(P1, wait_request(s.device, progress_fence, 3),),
        Ok(Reply::WaitCompleted)
    );
    // A failing stream leaves the fence alone.
    assert_eq!(
        submit(&mut vm, hwqueue, 4, fill(a, 0, 3 * PAGE as u32, 0)),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(vm.memory.read_u64(fence_address).unwrap(), 3);
    // The hardware queue also serves as a context for GPU signals.
    ok(vm.call(
        P1,
        Request::SignalFromGpu {
            context: hwqueue,
            objects: vec![progress_fence],
            values: vec![10],
        },
    ));
    assert_eq!(vm.memory.read_u64(fence_address).unwrap(), 10);
    // Guest-side limits and handles: Linux bounds the primaries only by the packet size
    // (dxgkio_submit_command_to_hwqueue), so 17 are fine and 40 000 are not.
    assert_eq!(
        vm.call(
            P1,
            Request::SubmitCommandToHwQueue {
                command: SubmitCommandToHwQueueCommand {
                    hwqueue,
                    progress_fence_id: 11,
                    command_buffer: 0,
                    command_length: 0,
                    ..FromZeros::new_zeroed()
                },
                private_data: vec![],
                primaries: vec![a; 17]
            },
        ),
        Ok(Reply::Status(NtStatus::SUCCESS))
    );
    assert_eq!(
        vm.call(
            P1,
            Request::SubmitCommandToHwQueue {
                command: SubmitCommandToHwQueueCommand {
                    hwqueue,
                    progress_fence_id: 12,
                    command_buffer: 0,
                    command_length: 0,
                    ..FromZeros::new_zeroed()
                },
                private_data: vec![],
                primaries: vec![a; 40_000]
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        submit(&mut vm, s.context, 1, vec![]),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );

    // Another process cannot submit to it.
    let extra = extra_allocation(&mut vm, &s);
    let _ = extra;
    let other = setup(&mut vm, P2);
    let Reply::HwQueue {
        hwqueue: other_queue,
        ..
    } = ok(create_hwqueue(&mut vm, P2, other.context))
    else {
        panic!()
    };
    let pages_before = vm.host.io_pages_in_use();
    ok(vm.call(
        P2,
        Request::DestroyHwQueue {
            hwqueue: other_queue,
        },
    ));
    assert_eq!(
        vm.host.io_pages_in_use(),
        pages_before - 1,
        "progress fence page released"
    );
    assert_eq!(
        vm.call(
            P2,
            Request::DestroyHwQueue {
                hwqueue: other_queue
            }
        ),
        Err(NtStatus::INVALID_HANDLE)
    );

    // Destroying the context takes the queue and its fence along (guest and host).
    let objects_before = vm.host.object_count();
    ok(vm.call(P1, Request::DestroyContext { context: s.context }));
    assert_eq!(vm.host.object_count(), objects_before - 3);
    assert_eq!(
        submit(&mut vm, hwqueue, 11, vec![]),
        Err(NtStatus::INVALID_HANDLE)
    );
    let count = vm.driver.process(P1).unwrap().object_count();

    // A fresh queue goes away with its device.
    let context = create_context(&mut vm, P1, s.device);
    ok(create_hwqueue(&mut vm, P1, context));
    assert_eq!(vm.driver.process(P1).unwrap().object_count(), count + 3);
    ok(vm.call(P1, Request::DestroyDevice { device: s.device }));
    assert_eq!(vm.driver.process(P1).unwrap().object_count(), 0);
    ok(vm.call(P1, Request::DestroyProcess));
    ok(vm.call(P2, Request::DestroyProcess));
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn priorities_residency_offer_and_reclaim() {
    let mut vm = vm();
    let s = setup(&mut vm, P1);
    let (a, b) = (s.allocations[0], s.allocations[1]);

    // Context priorities, absolute and in-process, stored and read back.
    let get = |vm: &mut Loopback, context: D3dkmtHandle, in_process: bool| {
        vm.call(
            P1,
            Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
                context,
                in_process: u8::from(in_process),
                ..FromZeros::new_zeroed()
            }),
        )
    };
    assert_eq!(
        get(&mut vm, s.context, false),
        Ok(Reply::SchedulingPriority(16))
    );
    ok(vm.call(
        P1,
        Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
            context: s.context,
            priority: 20,
            in_process: 0,
            ..FromZeros::new_zeroed()
        }),
    ));
    ok(vm.call(
        P1,
        Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
            context: s.context,
            priority: -3,
            in_process: 1,
            ..FromZeros::new_zeroed()
        }),
    ));
    assert_eq!(
        get(&mut vm, s.context, false),
        Ok(Reply::SchedulingPriority(20))
    );
    assert_eq!(
        get(&mut vm, s.context, true),
        Ok(Reply::SchedulingPriority(-3))
    );
    assert_eq!(
        vm.call(
            P1,
            Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
                context: s.context,
                priority: 99,
                in_process: 0,
                ..FromZeros::new_zeroed()
            }),
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        get(&mut vm, s.device, false),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );

    // Allocation priorities.
    ok(vm.call(
        P1,
        Request::SetAllocationPriority {
            device: s.device,
            resource: D3dkmtHandle::NULL,
            allocations: vec![a, b],
            priorities: vec![0x5000_0000, 0xA000_0000],
        },
    ));
    assert_eq!(
        vm.call(
            P1,
            Request::GetAllocationPriority {
                device: s.device,
                resource: D3dkmtHandle::NULL,
                allocations: vec![b, a]
            },
        ),
        Ok(Reply::AllocationPriorities(vec![0xA000_0000, 0x5000_0000]))
    );
    assert_eq!(
        vm.call(
            P1,
            Request::SetAllocationPriority {
                device: s.device,
                resource: D3dkmtHandle::NULL,
                allocations: vec![a],
                priorities: vec![1, 2],
            },
        ),
        Err(NtStatus::INVALID_PARAMETER),
        "one priority per allocation"
    );

    // Residency follows MAKERESIDENT / EVICT / OFFER / RECLAIM.
    let residency = |vm: &mut Loopback| {
        vm.call(
            P1,
            Request::QueryAllocationResidency {
                command: QueryAllocationResidencyCommand {
                    device: s.device,
                    resource: D3dkmtHandle::NULL,
                    ..FromZeros::new_zeroed()
                },
                allocations: vec![a, b],
            },
        )
    };
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![RESIDENCY_GPU_MEMORY; 2]))
    );
    // EVICT's reply has no status (`dxgkvmb_command_evict_return`), so a handle that is not an
    // allocation must be refused before anything is sent: the context, a made-up handle.
    for (handle, expected) in [
        (s.context, NtStatus::OBJECT_TYPE_MISMATCH),
        (D3dkmtHandle(0x4000_0bad), NtStatus::INVALID_HANDLE),
    ] {
        assert_eq!(
            vm.call(
                P1,
                Request::Evict {
                    command: EvictCommand {
                        device: s.device,
                        flags: 0,
                        ..FromZeros::new_zeroed()
                    },
                    allocations: vec![b, handle]
                },
            ),
            Err(expected),
            "Evict naming {handle:?}"
        );
    }
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![RESIDENCY_GPU_MEMORY; 2])),
        "a refused Evict changes nothing"
    );
    ok(vm.call(
        P1,
        Request::Evict {
            command: EvictCommand {
                device: s.device,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![b],
        },
    ));
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![
            RESIDENCY_GPU_MEMORY,
            RESIDENCY_NOT_RESIDENT
        ]))
    );
    ok(vm.call(
        P1,
        Request::MakeResident {
            command: MakeResidentCommand {
                paging_queue: s.paging_queue,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![b],
        },
    ));
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![RESIDENCY_GPU_MEMORY; 2]))
    );

    // Fill both, offer both, discard under "memory pressure", reclaim.
    ok(vm.call(
        P1,
        submit_request(
            s.context,
            [fill(a, 0, 8, 0x1111_1111), fill(b, 0, 8, 0x2222_2222)].concat(),
        ),
    ));
    let offer = |vm: &mut Loopback, handles: Vec<D3dkmtHandle>| {
        vm.call(
            P1,
            Request::OfferAllocations {
                command: OfferAllocationsCommand {
                    device: s.device,
                    resources: 0,
                    priority: 2,
                    flags: 0,
                    ..FromZeros::new_zeroed()
                },
                handles,
            },
        )
    };
    ok(offer(&mut vm, vec![a]));
    assert_eq!(
        offer(&mut vm, vec![a]),
        Err(NtStatus::INVALID_PARAMETER),
        "already offered"
    );
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![
            RESIDENCY_NOT_RESIDENT,
            RESIDENCY_GPU_MEMORY
        ]))
    );
    assert_eq!(vm.host.discard_offered(), 1);
    ok(offer(&mut vm, vec![b]));
    let Reply::Reclaimed {
        status,
        paging_fence_value,
        results,
    } = ok(vm.call(
        P1,
        Request::ReclaimAllocations {
            command: ReclaimAllocationsCommand {
                device: s.device,
                paging_queue: s.paging_queue,
                resources: 0,
                write_results: 1,
                ..FromZeros::new_zeroed()
            },
            handles: vec![a, b],
        },
    ))
    else {
        panic!()
    };
    assert_eq!(status, NtStatus::PENDING);
    assert_eq!(results, vec![RECLAIM_DISCARDED, RECLAIM_OK]);
    assert!(vm.memory.read_u64(s.paging_fence_address).unwrap() >= paging_fence_value);
    assert_eq!(
        read(&mut vm, &s, a, 8),
        vec![0; 8],
        "discarded contents are gone"
    );
    assert_eq!(
        read(&mut vm, &s, b, 8),
        vec![0x22; 8],
        "kept contents survive"
    );
    assert_eq!(
        residency(&mut vm),
        Ok(Reply::Residency(vec![RESIDENCY_GPU_MEMORY; 2]))
    );
    let Reply::Reclaimed { results, .. } = ok(vm.call(
        P1,
        Request::ReclaimAllocations {
            command: ReclaimAllocationsCommand {
                device: s.device,
                paging_queue: s.paging_queue,
                resources: 0,
                write_results: 0,
                ..FromZeros::new_zeroed()
            },
            handles: vec![a],
        },
    )) else {
        panic!()
    };
    assert!(results.is_empty());
    assert_eq!(offer(&mut vm, vec![]), Err(NtStatus::INVALID_PARAMETER));
    assert_eq!(
        offer(&mut vm, vec![s.device]),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );
    assert_eq!(
        vm.call(
            P1,
            Request::OfferAllocations {
                command: OfferAllocationsCommand {
                    device: s.device,
                    resources: 0,
                    priority: 9,
                    flags: 0,
                    ..FromZeros::new_zeroed()
                },
                handles: vec![a]
            }
        ),
        Err(NtStatus::INVALID_PARAMETER),
        "priority 1..4"
    );

    // Allocation properties go through the paging queue.
    let Reply::PagingFence {
        status,
        paging_fence_value,
    } = ok(vm.call(
        P1,
        Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
            paging_queue: s.paging_queue,
            allocation: a,
            supported_segment_set: 3,
            preferred_segment: 1,
            flags: 0,
            property_mask: 1,
            ..FromZeros::new_zeroed()
        }),
    ))
    else {
        panic!()
    };
    assert_eq!(status, NtStatus::PENDING);
    assert_eq!(
        vm.memory.read_u64(s.paging_fence_address).unwrap(),
        paging_fence_value
    );
    assert_eq!(
        vm.call(
            P1,
            Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
                paging_queue: s.paging_queue,
                allocation: a,
                supported_segment_set: 0,
                preferred_segment: 0,
                flags: 0,
                property_mask: 1,
                ..FromZeros::new_zeroed()
            }),
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );

    // Cache invalidation is range-checked.
    let invalidate = |vm: &mut Loopback, offset: u64, length: u64| {
        vm.call(
            P1,
            Request::InvalidateCache(InvalidateCacheCommand {
                device: s.device,
                allocation: a,
                offset,
                length,
                ..FromZeros::new_zeroed()
            }),
        )
    };
    ok(invalidate(&mut vm, 16, 64));
    assert_eq!(
        invalidate(&mut vm, 2 * PAGE - 8, 16),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        vm.call(
            P1,
            Request::InvalidateCache(InvalidateCacheCommand {
                device: s.device,
                allocation: D3dkmtHandle(0x7FC0),
                offset: 0,
                length: 1,
                ..FromZeros::new_zeroed()
            })
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn device_error_clock_reservation_statistics_and_features() {
    let mut vm = vm();
    let s = setup(&mut vm, P1);

    // MARKDEVICEASERROR: the host tells the guest its cached state is stale.
    ok(vm.call(P1, Request::FlushHeapTransitions { adapter: s.adapter }));
    let state = |vm: &mut Loopback| {
        vm.call(
            P1,
            Request::GetDeviceState(GetDeviceStateCommand {
                device: s.device,
                state_type: 1,
                ..FromZeros::new_zeroed()
            }),
        )
    };
    assert_eq!(
        state(&mut vm),
        Ok(Reply::DeviceState {
            state_type: 1,
            state: 1
        })
    );
    ok(vm.call(
        P1,
        Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
            device: s.device,
            reason: 0x8000_0006,
            ..FromZeros::new_zeroed()
        }),
    ));
    assert_eq!(
        state(&mut vm),
        Ok(Reply::DeviceState {
            state_type: 1,
            state: DEVICE_EXECUTION_ERROR_DMAFAULT
        })
    );
    assert_eq!(
        vm.call(
            P1,
            Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
                device: s.context,
                reason: 0,
                ..FromZeros::new_zeroed()
            })
        ),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );

    // Clock calibration from the host's monotonic clock.
    let clock = |vm: &mut Loopback, node_ordinal: u32| {
        vm.call(
            P1,
            Request::QueryClockCalibration(QueryClockCalibrationCommand {
                adapter: s.adapter,
                node_ordinal,
                physical_adapter_index: 0,
                ..FromZeros::new_zeroed()
            }),
        )
    };
    let Reply::ClockCalibration {
        gpu_frequency,
        gpu_clock_counter: first,
        ..
    } = ok(clock(&mut vm, 0))
    else {
        panic!()
    };
    std::thread::sleep(std::time::Duration::from_millis(2));
    let Reply::ClockCalibration {
        gpu_clock_counter: second,
        cpu_clock_counter,
        ..
    } = ok(clock(&mut vm, 0))
    else {
        panic!()
    };
    assert_eq!(gpu_frequency, 10_000_000);
    assert!(
        second >= first + 10_000,
        "2 ms at 10 MHz: {first} → {second}"
    );
    assert_eq!(cpu_clock_counter, second);
    assert_eq!(
        clock(&mut vm, 1),
        Err(NtStatus::INVALID_PARAMETER),
        "one engine node"
    );

    // Video memory reservations show up in QUERYVIDEOMEMORYINFO.
    let reserve = |vm: &mut Loopback, reservation: u64| {
        vm.call(
            P1,
            Request::ChangeVideoMemoryReservation(ChangeVideoMemoryReservationCommand {
                adapter: s.adapter,
                memory_segment_group: 1,
                reservation,
                physical_adapter_index: 0,
                ..FromZeros::new_zeroed()
            }),
        )
    };
    ok(reserve(&mut vm, 1 << 20));
    let Reply::VideoMemory(QueryVideoMemoryInfoReply {
        current_reservation,
        available_for_reservation,
        ..
    }) = ok(vm.call(
        P1,
        Request::QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand {
            adapter: s.adapter,
            memory_segment_group: 1,
            ..FromZeros::new_zeroed()
        }),
    ))
    else {
        panic!()
    };
    assert_eq!(current_reservation, 1 << 20);
    assert_eq!(
        reserve(&mut vm, available_for_reservation + 1),
        Err(NtStatus::NO_MEMORY)
    );

    // Statistics from real counters: submissions count on the node.
    ok(vm.call(P1, submit_request(s.context, words(&[0, 8]))));
    let statistics = |vm: &mut Loopback,
                      process: ProcessId,
                      statistics_type: u32,
                      query_id: u32,
                      target: Option<ProcessId>| {
        vm.call(
            process,
            Request::QueryStatistics {
                adapter: s.adapter,
                statistics_type,
                query_id,
                process: target,
            },
        )
    };
    let Reply::Statistics(node) = ok(statistics(&mut vm, P1, STATISTICS_PROCESS_NODE, 0, None))
    else {
        panic!()
    };
    assert_eq!(node.len(), STATISTICS_RESULT_SIZE);
    assert_eq!(
        u32::from_le_bytes(node[8..12].try_into().unwrap()),
        1,
        "one submission"
    );
    let Reply::Statistics(adapter) = ok(statistics(&mut vm, P1, STATISTICS_ADAPTER, 0, None))
    else {
        panic!()
    };
    assert_eq!(
        &adapter[..8],
        &[1, 0, 0, 0, 1, 0, 0, 0],
        "one segment, one node"
    );
    let Reply::Statistics(segment) = ok(statistics(&mut vm, P1, STATISTICS_SEGMENT, 0, None))
    else {
        panic!()
    };
    assert_eq!(
        u64::from_le_bytes(segment[8..16].try_into().unwrap()),
        vm.host.io_pages_in_use() as u64 * PAGE
    );
    assert_eq!(
        statistics(&mut vm, P1, STATISTICS_NODE, 3, None),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        statistics(&mut vm, P1, 99, 0, None),
        Err(NtStatus::NOT_SUPPORTED)
    );
    // Another process's counters (its host handle goes in the header).
    setup(&mut vm, P2);
    let Reply::Statistics(other) = ok(statistics(
        &mut vm,
        P1,
        STATISTICS_PROCESS_NODE,
        0,
        Some(P2),
    )) else {
        panic!()
    };
    assert_eq!(u32::from_le_bytes(other[8..12].try_into().unwrap()), 0);
    assert_eq!(
        statistics(&mut vm, P1, STATISTICS_PROCESS_NODE, 0, Some(ProcessId(77))),
        Err(NtStatus::INVALID_HANDLE)
    );

    // Feature queries.
    let feature = |vm: &mut Loopback, feature_id: u32| {
        vm.call(
            P1,
            Request::IsFeatureEnabled {
                adapter: s.adapter,
                feature_id,
            },
        )
    };
    assert!(matches!(
        ok(feature(&mut vm, FEATURE_HWSCH)),
        Reply::Feature {
            enabled: true,
            known: true,
            ..
        }
    ));
    assert!(matches!(
        ok(feature(&mut vm, FEATURE_PAGE_BASED_MEMORY_MANAGER)),
        Reply::Feature {
            enabled: false,
            known: true,
            ..
        }
    ));
    assert!(matches!(
        ok(feature(&mut vm, 1234)),
        Reply::Feature {
            enabled: false,
            known: false,
            ..
        }
    ));
    assert_eq!(
        vm.call(
            P1,
            Request::IsFeatureEnabled {
                adapter: D3dkmtHandle(0x7FC0),
                feature_id: 0
            }
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}
