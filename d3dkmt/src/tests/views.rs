//! CPU views: read-only fence pages, read/write Lock2 views with reference counts, and their
//! removal on Unlock2, destroy and exit.

use super::*;
use dxg::wire::{CreatePagingQueueCommand, DestroyAllocationCommand};
use userlib::abi::flags::*;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

/// Creates one allocation of `size` bytes on `device`; returns its handle.
fn create_allocation(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    device: u32,
    size: u64,
) -> u32 {
    let info_address = USER_BASE + 0x4000;
    put(environment, USER_BASE + 0x5000, &size);
    put(
        environment,
        info_address,
        &D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: USER_BASE + 0x5000,
            PrivateDriverDataSize: 8,
            ..Default::default()
        },
    );
    let mut create = D3DKMT_CREATEALLOCATION {
        hDevice: device,
        NumAllocations: 1,
        pAllocationInfo2: info_address,
        ..Default::default()
    };
    assert_eq!(
        translator.run(environment, N::CreateAllocation2, &mut create),
        0
    );
    get::<D3DDDI_ALLOCATIONINFO2>(environment, info_address).hAllocation
}

fn monitored_fence(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    device: u32,
) -> (i32, D3DKMT_CREATESYNCHRONIZATIONOBJECT2) {
    let mut create = D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: device,
        ..Default::default()
    };
    create.Info.Type = D3DDDI_MONITORED_FENCE;
    create.Info.InitialFenceValue = 3;
    create.Info.EngineAffinity = 1;
    let status = translator.run(environment, N::CreateSynchronizationObject2, &mut create);
    (status, create)
}

fn lock(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    device: u32,
    allocation: u32,
) -> (i32, u64) {
    let mut lock = D3DKMT_LOCK2 {
        hDevice: device,
        hAllocation: allocation,
        ..Default::default()
    };
    let status = translator.run(environment, N::Lock2, &mut lock);
    (status, lock.pData)
}

fn unlock(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    device: u32,
    allocation: u32,
) -> i32 {
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: device,
        hAllocation: allocation,
    };
    translator.run(environment, N::Unlock2, &mut unlock)
}

#[test]
fn monitored_fences_are_mapped_read_only_and_unmapped_on_destroy() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    // The fence value sits at offset 0x18 of its page.
    environment.scripted.push_back(Ok(Reply::SyncObject {
        handle: D3dkmtHandle(0x4480),
        global: D3dkmtHandle::NULL,
        gpu_address: 0x1_2345_0018,
        fence_address: IO_BASE + 0x3018,
    }));
    let (status, created) = monitored_fence(&mut translator, &mut environment, device);
    assert_eq!(status, 0);
    assert_eq!(
        environment.last(),
        Request::CreateSyncObject {
            device: D3dkmtHandle(device),
            kind: dxg::core::SyncObjectKind::MonitoredFence {
                initial_value: 3,
                engine_affinity: 1
            },
            flags: 0,
        }
    );
    let [map] = environment.maps[..] else {
        panic!("{:?}", environment.maps)
    };
    assert_eq!(
        (map.physical, map.length, map.writable, map.cached),
        (IO_BASE + 0x3000, 4096, false, true),
        "one read-only page, cached (as Linux maps fence pages)"
    );
    assert_eq!(
        created.Info.FenceValueCPUVirtualAddress,
        map.user_address + 0x18
    );
    assert_eq!(created.Info.FenceValueGPUVirtualAddress, 0x1_2345_0018);
    assert_eq!(created.hSyncObject, 0x4480);
    assert_eq!(translator.mapped_views(), 1);

    let mut destroy = D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        hSyncObject: created.hSyncObject,
    };
    assert_eq!(
        translator.run(
            &mut environment,
            N::DestroySynchronizationObject,
            &mut destroy
        ),
        0
    );
    assert_eq!(environment.unmaps, vec![(map.user_address, 4096)]);
    assert_eq!(
        environment.last(),
        Request::DestroySyncObject {
            sync_object: D3dkmtHandle(0x4480)
        }
    );
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn a_fence_that_cannot_be_mapped_is_destroyed_again() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    environment.map_failure = Some(NtStatus::NO_MEMORY);
    let (status, created) = monitored_fence(&mut translator, &mut environment, device);
    assert_eq!(status, STATUS_NO_MEMORY);
    assert_eq!(created.hSyncObject, 0, "no handle handed out");
    let Request::CreateSyncObject { .. } = environment.sent()[1] else {
        panic!()
    };
    assert!(matches!(
        environment.last(),
        Request::DestroySyncObject { .. }
    ));

    let mut queue = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: device,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::CreatePagingQueue, &mut queue),
        STATUS_NO_MEMORY
    );
    assert!(matches!(
        environment.last(),
        Request::DestroyPagingQueue { .. }
    ));
    assert_eq!(queue.hPagingQueue, 0);
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn paging_queue_fences_are_mapped_read_only_until_the_queue_is_destroyed() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let mut queue = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: device,
        Priority: -1,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::CreatePagingQueue, &mut queue),
        0
    );
    assert_eq!(
        environment.last(),
        Request::CreatePagingQueue(CreatePagingQueueCommand {
            device: D3dkmtHandle(device),
            priority: -1,
            ..FromZeros::new_zeroed()
        })
    );
    let [map] = environment.maps[..] else {
        panic!()
    };
    assert_eq!((map.physical, map.writable), (IO_BASE + 0x1000, false));
    assert_eq!(queue.FenceValueCPUVirtualAddress, map.user_address);
    assert_ne!(queue.hSyncObject, 0);
    let mut destroy = D3DDDI_DESTROYPAGINGQUEUE {
        hPagingQueue: queue.hPagingQueue,
    };
    assert_eq!(
        translator.run(&mut environment, N::DestroyPagingQueue, &mut destroy),
        0
    );
    assert_eq!(environment.unmaps, vec![(map.user_address, 4096)]);
}

#[test]
fn lock2_maps_read_write_once_and_counts_further_locks() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let allocation = create_allocation(&mut translator, &mut environment, device, 5000);
    environment.requests.clear();
    let (status, first) = lock(&mut translator, &mut environment, device, allocation);
    assert_eq!(status, 0);
    let [map] = environment.maps[..] else {
        panic!()
    };
    assert_eq!(
        (map.length, map.writable),
        (8192, true),
        "5000 bytes → two writable pages"
    );
    assert!(map.cached, "the host said cached");
    assert_eq!(first, map.user_address);
    let (status, second) = lock(&mut translator, &mut environment, device, allocation);
    assert_eq!((status, second), (0, first), "the view is reused");
    assert_eq!(environment.maps.len(), 1);
    assert_eq!(
        environment.sent(),
        vec![Request::Lock {
            device: D3dkmtHandle(device),
            allocation: D3dkmtHandle(allocation)
        }],
        "one LOCK2 for both"
    );
    // A lock through another device is refused.
    assert_eq!(
        lock(&mut translator, &mut environment, device + 0x40, allocation).0,
        STATUS_INVALID_HANDLE
    );

    assert_eq!(
        unlock(&mut translator, &mut environment, device, allocation),
        0
    );
    assert!(environment.unmaps.is_empty(), "still locked once");
    assert_eq!(environment.sent().len(), 1, "no UNLOCK2 yet");
    assert_eq!(
        unlock(&mut translator, &mut environment, device, allocation),
        0
    );
    assert_eq!(environment.unmaps, vec![(first, 8192)]);
    assert_eq!(
        environment.last(),
        Request::Unlock {
            device: D3dkmtHandle(device),
            allocation: D3dkmtHandle(allocation)
        }
    );
    // Locking again maps a new view.
    assert_eq!(
        lock(&mut translator, &mut environment, device, allocation).0,
        0
    );
    assert_eq!(environment.maps.len(), 2);
}

#[test]
fn lock2_undoes_the_lock_when_the_view_cannot_be_mapped() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let allocation = create_allocation(&mut translator, &mut environment, device, 4096);
    environment.map_failure = Some(NtStatus::NO_MEMORY);
    let (status, address) = lock(&mut translator, &mut environment, device, allocation);
    assert_eq!((status, address), (STATUS_NO_MEMORY, 0));
    assert_eq!(
        environment.last(),
        Request::Unlock {
            device: D3dkmtHandle(device),
            allocation: D3dkmtHandle(allocation)
        }
    );
    // An address that is not page-aligned is not mapped either.
    environment.map_failure = None;
    environment.scripted.push_back(Ok(Reply::Locked {
        address: IO_BASE + 12,
        cached: false,
    }));
    assert_eq!(
        lock(&mut translator, &mut environment, device, allocation).0,
        STATUS_UNSUCCESSFUL
    );
    assert!(environment.maps.is_empty());
    // A handle this process never created: the core's answer wins.
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_HANDLE));
    assert_eq!(
        lock(&mut translator, &mut environment, device, 0x7777).0,
        STATUS_INVALID_HANDLE
    );
}

#[test]
fn destroying_allocations_and_devices_unmaps_their_views() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let other_device = create_device(&mut translator, &mut environment, 0x40);
    let first = create_allocation(&mut translator, &mut environment, device, 4096);
    let second = create_allocation(&mut translator, &mut environment, device, 4096);
    let elsewhere = create_allocation(&mut translator, &mut environment, other_device, 4096);
    let first_view = lock(&mut translator, &mut environment, device, first).1;
    let second_view = lock(&mut translator, &mut environment, device, second).1;
    let elsewhere_view = lock(&mut translator, &mut environment, other_device, elsewhere).1;
    let (_, fence) = monitored_fence(&mut translator, &mut environment, device);
    let fence_page = environment.maps.last().unwrap().user_address;
    assert_eq!(translator.mapped_views(), 4);

    put(&environment, USER_BASE, &first);
    let mut destroy = D3DKMT_DESTROYALLOCATION2 {
        hDevice: device,
        phAllocationList: USER_BASE,
        AllocationCount: 1,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::DestroyAllocation2, &mut destroy),
        0
    );
    assert_eq!(environment.unmaps, vec![(first_view, 4096)]);
    assert_eq!(
        environment.last(),
        Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device: D3dkmtHandle(device),
                resource: D3dkmtHandle::NULL,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![D3dkmtHandle(first)]
        }
    );

    let mut destroy_device = D3DKMT_DESTROYDEVICE { hDevice: device };
    assert_eq!(
        translator.run(&mut environment, N::DestroyDevice, &mut destroy_device),
        0
    );
    let mut unmapped: Vec<u64> = environment
        .unmaps
        .iter()
        .map(|(address, _)| *address)
        .collect();
    unmapped.sort();
    let mut expected = vec![first_view, second_view, fence_page];
    expected.sort();
    assert_eq!(
        unmapped, expected,
        "the device's views, not the other device's"
    );
    assert!(!unmapped.contains(&elsewhere_view));
    assert_eq!(translator.mapped_views(), 1);
    assert_eq!(
        environment.last(),
        Request::DestroyDevice {
            device: D3dkmtHandle(device)
        }
    );
    let _ = fence;
}

#[test]
fn exit_unmaps_everything_and_destroys_the_process_once() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let allocation = create_allocation(&mut translator, &mut environment, device, 4096);
    lock(&mut translator, &mut environment, device, allocation);
    lock(&mut translator, &mut environment, device, allocation);
    monitored_fence(&mut translator, &mut environment, device);
    assert_eq!(environment.live_mappings().len(), 2);
    environment.requests.clear();
    translator.exit(&mut environment);
    assert!(environment.live_mappings().is_empty());
    assert_eq!(
        environment.requests,
        vec![(Request::DestroyProcess, Timeout::Infinite)]
    );
    assert!(!translator.process_created());
    translator.exit(&mut environment);
    assert_eq!(environment.requests.len(), 1, "exit is idempotent");
    assert_eq!(environment.unmaps.len(), 2);
}

#[test]
fn exit_without_create_process_sends_nothing() {
    let (mut translator, mut environment) = fresh();
    translator.exit(&mut environment);
    assert!(environment.requests.is_empty());
    // CreateProcess failed: still nothing to destroy.
    environment
        .scripted
        .push_back(Err(NtStatus::DEVICE_REMOVED));
    let mut close = D3DKMT_CLOSEADAPTER { hAdapter: 1 };
    translator.run(&mut environment, N::CloseAdapter, &mut close);
    translator.exit(&mut environment);
    assert_eq!(environment.requests.len(), 1);
}

#[test]
fn a_handle_handed_out_twice_does_not_leak_its_first_view() {
    // Found by the d3dkmt_call fuzz target: a host answering two CreateSynchronizationObject2
    // with the same handle.
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    for _ in 0..2 {
        environment.scripted.push_back(Ok(Reply::SyncObject {
            handle: D3dkmtHandle(0x4480),
            global: D3dkmtHandle::NULL,
            gpu_address: 0,
            fence_address: IO_BASE + 0x3000,
        }));
        assert_eq!(
            monitored_fence(&mut translator, &mut environment, device).0,
            0
        );
    }
    assert_eq!(environment.live_mappings().len(), 1);
    translator.exit(&mut environment);
    assert!(environment.live_mappings().is_empty());
}

#[test]
fn lock2_maps_an_allocation_the_host_did_not_mark_cached_write_combined() {
    let (mut translator, mut environment) = started();
    let device = create_device(&mut translator, &mut environment, 0x40);
    let allocation = create_allocation(&mut translator, &mut environment, device, 4096);
    environment.scripted.push_back(Ok(Reply::Locked {
        address: IO_BASE + 0x4_0000,
        cached: false,
    }));
    assert_eq!(
        lock(&mut translator, &mut environment, device, allocation).0,
        0
    );
    let [map] = environment.maps[..] else {
        panic!("{:?}", environment.maps)
    };
    assert_eq!((map.writable, map.cached), (true, false));
}
