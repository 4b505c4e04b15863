//! In-process integration of sharing, standard allocations and existing system memory: the dxg
//! guest core against the emulated vGPU. Process A renders into a shared resource and signals a
//! shared monitored fence; process B opens both by their shared handles and sees A's pixels and
//! fence values in the same memory. Existing-sysmem allocations are backed by guest RAM pages the
//! guest names; the GPU's writes land in those pages. Each with its error cases.

mod support;

use dxg::core::{AllocationRequest, ProcessId, Reply, Request};
use dxg::wire::*;
use emulator::vgpu::loopback::Loopback;
use hyperv::memory::GuestMemory;
use support::images::words;
use support::requests::{
    create_allocation, create_allocations, create_context, create_device, create_monitored_fence,
    create_process, destroy_allocations, enum_adapters, lock, sized, submit_request, wait_request,
};
use support::vm::{loopback as vm, ok};
use zerocopy::FromZeros;
// The guest's gradient formula, not the emulator's renderer: pixels are checked independently.
use userlib::vgpu::gradient_pixel;

const A: ProcessId = ProcessId(1);
const B: ProcessId = ProcessId(2);
const PAGE: u64 = 4096;

struct Process {
    device: D3dkmtHandle,
    context: D3dkmtHandle,
}

fn process(vm: &mut Loopback, pid: ProcessId) -> Process {
    create_process(vm, pid, 700 + pid.0, "sharing");
    let adapter = enum_adapters(vm, pid)[0].handle;
    let device = create_device(vm, pid, adapter);
    let context = create_context(vm, pid, device);
    Process { device, context }
}

fn submit(vm: &mut Loopback, pid: ProcessId, context: D3dkmtHandle, stream: Vec<u8>) {
    ok(vm.call(pid, submit_request(context, stream)));
}

#[test]
fn process_b_sees_the_pixels_process_a_rendered() {
    let mut vm = vm();
    let a = process(&mut vm, A);
    let b = process(&mut vm, B);
    let pages_before = vm.host.io_pages_in_use();
    // A: a shared resource with one 16 × 8 surface, rendered.
    let Reply::Allocations {
        resource,
        allocations,
    } = ok(vm.call(
        A,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device: a.device,
                resource: D3dkmtHandle::NULL,
                flags: CREATE_ALLOCATION_CREATE_RESOURCE
                    | CREATE_ALLOCATION_CREATE_SHARED
                    | CREATE_ALLOCATION_NT_SECURITY_SHARING,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest {
                private_data: PAGE.to_le_bytes().to_vec(),
                ..Default::default()
            }],
        },
    ))
    else {
        panic!()
    };
    let surface = allocations[0].handle;
    // A few more objects in A, so A has handles B's table has never seen (foreign handles).
    let (_, padding) = create_allocations(
        &mut vm,
        A,
        a.device,
        0,
        vec![AllocationRequest::default(); 8],
    );
    let foreign = padding[7].handle;
    submit(
        &mut vm,
        A,
        a.context,
        words(&[3, 28, surface.0, 0, 16, 8, 64]),
    );
    let Reply::NtSharedObject(shared) =
        ok(vm.call(A, Request::CreateNtSharedObject { object: resource }))
    else {
        panic!()
    };
    assert_eq!(vm.host.shared_object_count(), 1);

    // B: asks what the handle holds (answered by the guest driver's registry, no host message).
    let before = vm.host.statistics().commands;
    assert_eq!(
        vm.call(
            B,
            Request::QuerySharedResource {
                device: b.device,
                shared_handle: shared,
            },
        ),
        // One allocation whose private driver data is its size (8 bytes).
        Ok(Reply::SharedResourceInfo {
            allocation_count: 1,
            private_data_size: 8,
        })
    );
    assert_eq!(
        vm.host.statistics().commands,
        before,
        "the query went to the host"
    );

    // B: opens it by the shared handle and gets its own handles.
    let Reply::ResourceOpened {
        resource: b_resource,
        allocations: b_allocations,
    } = ok(vm.call(
        B,
        Request::OpenResource {
            device: b.device,
            shared_handle: shared,
        },
    ))
    else {
        panic!()
    };
    assert_eq!(b_allocations.len(), 1);
    assert_eq!(b_allocations[0].size, PAGE);
    let b_surface = b_allocations[0].handle;
    // B's CPU view is the same memory: A's gradient.
    let address = lock(&mut vm, B, b.device, b_surface);
    for (x, y) in [(0u32, 0u32), (15, 0), (7, 3), (15, 7)] {
        let pixel = vm
            .memory
            .read_u64(address + u64::from(y) * 64 + u64::from(x) * 4)
            .unwrap() as u32;
        assert_eq!(pixel, gradient_pixel(x, y, 16, 8), "pixel ({x}, {y})");
    }
    // B's GPU reads it too: copy into B's own allocation.
    let copy = create_allocation(&mut vm, B, b.device, 0, AllocationRequest::default()).handle;
    submit(
        &mut vm,
        B,
        b.context,
        words(&[2, 28, b_surface.0, 0, copy.0, 0, 512]),
    );
    let copy_address = lock(&mut vm, B, b.device, copy);
    assert_eq!(
        vm.memory.read_u64(copy_address + 4 * 5).unwrap() as u32,
        gradient_pixel(5, 0, 16, 8)
    );

    // Error cases: unknown handle, foreign objects, not the owner, another kind.
    let cases = [
        (
            B,
            Request::OpenResource {
                device: b.device,
                shared_handle: D3dkmtHandle(0x7777),
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            B,
            Request::OpenResource {
                device: foreign,
                shared_handle: shared,
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            B,
            Request::CreateNtSharedObject { object: foreign },
            NtStatus::INVALID_HANDLE,
        ),
        (
            B,
            Request::DestroyNtSharedObject {
                shared_handle: shared,
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            A,
            Request::OpenSyncObject {
                device: a.device,
                shared_handle: shared,
                flags: 0,
                engine_affinity: 0,
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            B,
            Request::QuerySharedResource {
                device: b.device,
                shared_handle: D3dkmtHandle(0x7777),
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            B,
            Request::QuerySharedResource {
                device: foreign,
                shared_handle: shared,
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            A,
            Request::CreateNtSharedObject { object: surface },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ];
    for (pid, request, status) in cases {
        assert_eq!(vm.call(pid, request.clone()), Err(status), "{request:?}");
    }

    // A destroys its resource: B's copy keeps the memory; then A drops the shared handle.
    destroy_allocations(&mut vm, A, a.device, resource, vec![]);
    assert_eq!(
        vm.memory.read_u64(address).unwrap() as u32,
        gradient_pixel(0, 0, 16, 8)
    );
    ok(vm.call(
        A,
        Request::DestroyNtSharedObject {
            shared_handle: shared,
        },
    ));
    assert_eq!(vm.host.shared_object_count(), 0);
    assert_eq!(
        vm.call(
            B,
            Request::OpenResource {
                device: b.device,
                shared_handle: shared,
            },
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    // The last holder frees the pages.
    destroy_allocations(&mut vm, B, b.device, b_resource, vec![]);
    destroy_allocations(&mut vm, B, b.device, D3dkmtHandle::NULL, vec![copy]);
    destroy_allocations(
        &mut vm,
        A,
        a.device,
        D3dkmtHandle::NULL,
        padding.iter().map(|created| created.handle).collect(),
    );
    assert_eq!(vm.host.io_pages_in_use(), pages_before);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn shared_monitored_fence_is_one_value_in_both_processes() {
    let mut vm = vm();
    let a = process(&mut vm, A);
    let b = process(&mut vm, B);
    let Reply::SyncObject { handle, global, .. } = ok(vm.call(
        A,
        Request::CreateSyncObject {
            device: a.device,
            kind: dxg::core::SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 0,
            },
            flags: SYNC_FLAG_SHARED | SYNC_FLAG_NT_SECURITY_SHARING,
        },
    )) else {
        panic!()
    };
    assert!(!global.is_null(), "created shared → a global handle");
    let Reply::NtSharedObject(shared) =
        ok(vm.call(A, Request::CreateNtSharedObject { object: handle }))
    else {
        panic!()
    };
    let Reply::SyncObject {
        handle: b_fence,
        global: b_global,
        fence_address,
        ..
    } = ok(vm.call(
        B,
        Request::OpenSyncObject {
            device: b.device,
            shared_handle: shared,
            flags: SYNC_FLAG_SHARED | SYNC_FLAG_NT_SECURITY_SHARING,
            engine_affinity: 0,
        },
    ))
    else {
        panic!()
    };
    assert_eq!(b_global, global);
    // A signals from its GPU; B reads the value through its own fence page, and waits on it.
    submit(&mut vm, A, a.context, words(&[5, 24, handle.0, 0, 9, 0]));
    assert_eq!(vm.memory.read_u64(fence_address).unwrap(), 9);
    assert_eq!(
        vm.call(B, wait_request(b.device, b_fence, 9),),
        Ok(Reply::WaitCompleted)
    );
    // B signals from the CPU; A's wait completes.
    ok(vm.call(
        B,
        Request::SignalFromCpu {
            device: b.device,
            objects: vec![b_fence],
            values: vec![12],
        },
    ));
    assert_eq!(
        vm.call(A, wait_request(a.device, handle, 12),),
        Ok(Reply::WaitCompleted)
    );
    // A sync object not created shared cannot be shared.
    let (private, _) = create_monitored_fence(&mut vm, A, a.device);
    assert_eq!(
        vm.call(A, Request::CreateNtSharedObject { object: private }),
        Err(NtStatus::INVALID_PARAMETER)
    );
    // A exits: its shared handle goes (teardown sends DESTROYNTSHAREDOBJECT); B's fence stays.
    ok(vm.call(A, Request::DestroyProcess));
    assert_eq!(vm.host.shared_object_count(), 0);
    assert_eq!(vm.driver.shared_handles(), 0);
    ok(vm.call(
        B,
        Request::SignalFromCpu {
            device: b.device,
            objects: vec![b_fence],
            values: vec![13],
        },
    ));
    assert_eq!(vm.memory.read_u64(fence_address).unwrap(), 13);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn share_object_with_host_returns_a_token() {
    let mut vm = vm();
    let a = process(&mut vm, A);
    let b = process(&mut vm, B);
    let allocation =
        create_allocation(&mut vm, A, a.device, 0, AllocationRequest::default()).handle;
    let share = |device, object| {
        Request::ShareObjectWithHost(ShareObjectWithHostCommand {
            device,
            object,
            ..FromZeros::new_zeroed()
        })
    };
    let Reply::VailNtHandle(first) = ok(vm.call(A, share(a.device, allocation))) else {
        panic!()
    };
    let Reply::VailNtHandle(second) = ok(vm.call(A, share(a.device, allocation))) else {
        panic!()
    };
    assert_ne!(first, 0);
    assert_ne!(first, second, "one token per share");
    assert_eq!(
        vm.call(A, share(a.device, a.context)),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );
    assert_eq!(
        vm.call(B, share(b.device, allocation)),
        Err(NtStatus::INVALID_HANDLE)
    );
}

#[test]
fn existing_sysmem_allocation_is_backed_by_guest_pages() {
    let mut vm = vm();
    let a = process(&mut vm, A);
    let ram = vm.guest_ram_base();
    let io_before = vm.host.io_pages_in_use();
    let created = create_allocation(
        &mut vm,
        A,
        a.device,
        CREATE_ALLOCATION_EXISTING_SYSMEM,
        sized(2 * PAGE),
    );
    let allocation = created.handle;
    assert_ne!(created.flags & ALLOCATION_FLAG_EXISTING_SYSMEM, 0);
    assert_eq!(
        vm.host.io_pages_in_use(),
        io_before,
        "no IO space for sysmem"
    );
    // The guest's pages, out of order: allocation page 0 = RAM page 5, page 1 = RAM page 2.
    let frames = vec![ram / PAGE + 5, ram / PAGE + 2];
    // Guest-side validation: one frame per page.
    assert_eq!(
        vm.call(
            A,
            Request::SetExistingSysmemPages {
                device: a.device,
                allocation,
                page_frames: vec![frames[0]],
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    // Host-side validation: frames outside guest memory.
    assert_eq!(
        vm.call(
            A,
            Request::SetExistingSysmemPages {
                device: a.device,
                allocation,
                page_frames: vec![1, 2],
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    ok(vm.call(
        A,
        Request::SetExistingSysmemPages {
            device: a.device,
            allocation,
            page_frames: frames.clone(),
        },
    ));
    // The GPU fills the whole allocation; the bytes land in the named RAM pages.
    submit(
        &mut vm,
        A,
        a.context,
        words(&[1, 24, allocation.0, 0, 2 * PAGE as u32, 0xA5A5_5A5A]),
    );
    assert_eq!(
        vm.memory.read_u64(ram + 5 * PAGE).unwrap(),
        0xA5A5_5A5A_A5A5_5A5A
    );
    assert_eq!(
        vm.memory.read_u64(ram + 2 * PAGE + PAGE - 8).unwrap(),
        0xA5A5_5A5A_A5A5_5A5A
    );
    assert_eq!(
        vm.memory.read_u64(ram + 3 * PAGE).unwrap(),
        0,
        "other pages untouched"
    );
    // The GPU reads them: the guest writes its page, the GPU copies it into a normal allocation.
    vm.memory
        .write(ram + 2 * PAGE, &0x1122_3344u32.to_le_bytes())
        .unwrap();
    let normal = create_allocation(&mut vm, A, a.device, 0, AllocationRequest::default()).handle;
    submit(
        &mut vm,
        A,
        a.context,
        words(&[2, 28, allocation.0, PAGE as u32, normal.0, 0, 8]),
    );
    let address = lock(&mut vm, A, a.device, normal);
    assert_eq!(vm.memory.read_u64(address).unwrap(), 0xA5A5_5A5A_1122_3344);
    // No LOCK2 for sysmem allocations (the guest already maps its pages), no pages for a normal
    // allocation, and SETEXISTINGSYSMEMSTORE needs a GPADL the host knows.
    assert_eq!(
        vm.call(
            A,
            Request::Lock {
                device: a.device,
                allocation
            }
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        vm.call(
            A,
            Request::SetExistingSysmemPages {
                device: a.device,
                allocation: normal,
                page_frames: vec![frames[0]],
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        vm.call(
            A,
            Request::SetExistingSysmemStore(SetExistingSysmemStoreCommand {
                device: a.device,
                allocation,
                gpadl: 9,
                ..FromZeros::new_zeroed()
            }),
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    // With the GPADL known (as the VMBus server would report it), the store moves the backing.
    vm.host
        .register_gpadl(9, vec![ram / PAGE + 7, ram / PAGE + 8]);
    ok(vm.call(
        A,
        Request::SetExistingSysmemStore(SetExistingSysmemStoreCommand {
            device: a.device,
            allocation,
            gpadl: 9,
            ..FromZeros::new_zeroed()
        }),
    ));
    submit(
        &mut vm,
        A,
        a.context,
        words(&[1, 24, allocation.0, PAGE as u32, 8, 0x0BAD_F00D]),
    );
    assert_eq!(
        vm.memory.read_u64(ram + 8 * PAGE).unwrap(),
        0x0BAD_F00D_0BAD_F00D
    );
    assert_eq!(vm.host.sysmem_window_count(), 1);
    destroy_allocations(&mut vm, A, a.device, D3dkmtHandle::NULL, vec![allocation]);
    assert_eq!(vm.host.sysmem_window_count(), 0);
}

#[test]
fn standard_allocation_driver_data_round_trip() {
    let mut vm = vm();
    let a = process(&mut vm, A);
    let surface = GetStandardAllocationDriverDataCommand {
        allocation_type: STANDARD_ALLOCATION_GDI_SURFACE,
        width: 3 * PAGE as u32,
        height: 1,
        format: 0,
        surface_type: GDI_SURFACE_TEXTURE_CROSSADAPTER,
        flags: 0,
        pitch: 0,
        ..FromZeros::new_zeroed()
    };
    let request =
        |allocation_data_size, resource_data_size| Request::GetStandardAllocationDriverData {
            device: a.device,
            command: GetStandardAllocationDriverDataCommand {
                private_driver_data_size: allocation_data_size,
                private_driver_resource_size: resource_data_size,
                ..surface
            },
        };
    // Sizing call, then the data call with those sizes (as Linux does).
    let Reply::StandardAllocationDriverData {
        allocation_data_size,
        resource_data_size,
        allocation_data,
        ..
    } = ok(vm.call(A, request(0, 0)))
    else {
        panic!()
    };
    assert_eq!((allocation_data_size, resource_data_size), (8, 8));
    assert!(allocation_data.is_empty());
    let Reply::StandardAllocationDriverData {
        allocation_data,
        resource_data,
        ..
    } = ok(vm.call(A, request(allocation_data_size, resource_data_size)))
    else {
        panic!()
    };
    assert_eq!(allocation_data, (3 * PAGE).to_le_bytes().to_vec());
    assert_eq!(resource_data, words(&[4, 7]));
    // The allocation blob creates an allocation of the heap size.
    let created = create_allocation(
        &mut vm,
        A,
        a.device,
        CREATE_ALLOCATION_STANDARD,
        AllocationRequest {
            private_data: allocation_data,
            ..Default::default()
        },
    );
    assert_eq!(created.size, 3 * PAGE);
    // Errors: a size the host does not have, another standard type, a zero-width surface.
    assert_eq!(vm.call(A, request(4, 8)), Err(NtStatus::INVALID_PARAMETER));
    assert_eq!(
        vm.call(
            A,
            Request::GetStandardAllocationDriverData {
                device: a.device,
                command: GetStandardAllocationDriverDataCommand {
                    allocation_type: 2,
                    ..surface
                },
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        vm.call(
            A,
            Request::GetStandardAllocationDriverData {
                device: a.device,
                command: GetStandardAllocationDriverDataCommand {
                    width: 0,
                    ..surface
                },
            },
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );
}
