//! Sharing calls: the exact Requests, the outputs, the views of opened objects, and the undo of
//! half-done calls.

use super::*;
use dxg::wire::{DestroyAllocationCommand, ShareObjectWithHostCommand};
use userlib::abi::flags::D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

/// The automatic reply's shared handle.
const SHARED: u32 = 0x4000_0040;

fn share(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    object: u32,
    output: u64,
) -> i32 {
    put(environment, USER_BASE, &object);
    let mut arguments = D3DKMT_SHAREOBJECTS {
        ObjectCount: 1,
        ObjectHandleArray: USER_BASE,
        pObjectAttributes: 0,
        DesiredAccess: 0x1F_0001,
        phSharedNtHandle: output,
        ..Default::default()
    };
    translator.run(environment, N::ShareObjectsInternal, &mut arguments)
}

#[test]
fn share_objects_writes_the_shared_handle_as_the_nt_handle() {
    let (mut translator, mut environment) = started();
    let output = USER_BASE + 0x100;
    put(&environment, output, &u64::MAX);
    assert_eq!(
        share(&mut translator, &mut environment, 0x700, output),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.sent(),
        vec![Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x700)
        }]
    );
    assert_eq!(get::<u64>(&environment, output), u64::from(SHARED));
    assert_eq!(translator.shared_handles(), 1);

    // Exit: the core's DestroyProcess destroys the shared handles; none is destroyed twice.
    translator.exit(&mut environment);
    assert_eq!(environment.last(), Request::DestroyProcess);
    assert!(
        !environment
            .sent()
            .iter()
            .any(|request| matches!(request, Request::DestroyNtSharedObject { .. }))
    );
    assert_eq!(translator.shared_handles(), 0);
}

#[test]
fn share_objects_destroys_the_shared_handle_when_the_output_is_read_only() {
    let (mut translator, mut environment) = started();
    let read_only = USER_BASE + 0x4_0000;
    environment.memory.map(read_only, 4096, false);
    assert_eq!(
        share(&mut translator, &mut environment, 0x700, read_only),
        STATUS_ACCESS_VIOLATION
    );
    assert_eq!(
        environment.sent(),
        vec![
            Request::CreateNtSharedObject {
                object: D3dkmtHandle(0x700)
            },
            Request::DestroyNtSharedObject {
                shared_handle: D3dkmtHandle(SHARED)
            },
        ]
    );
    assert_eq!(translator.shared_handles(), 0);
}

#[test]
fn share_objects_passes_the_core_status_through() {
    let (mut translator, mut environment) = started();
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_PARAMETER));
    let output = USER_BASE + 0x100;
    put(&environment, output, &7u64);
    assert_eq!(
        share(&mut translator, &mut environment, 0x700, output),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(get::<u64>(&environment, output), 7, "output untouched");
    assert_eq!(translator.shared_handles(), 0);
}

fn open_from_nt_handle(count: u32, infos: u64) -> D3DKMT_OPENRESOURCEFROMNTHANDLE {
    D3DKMT_OPENRESOURCEFROMNTHANDLE {
        hDevice: 0x500,
        hNtHandle: u64::from(SHARED),
        NumAllocations: count,
        pOpenAllocationInfo2: infos,
        pTotalPrivateDriverDataBuffer: USER_BASE + 0x800,
        TotalPrivateDriverDataBufferSize: 64,
        hKeyedMutex: 0x77,
        hSyncObject: 0x78,
        ..Default::default()
    }
}

/// The OpenResource of the shared resource on device 0x500.
fn open_request() -> Request {
    Request::OpenResource {
        device: D3dkmtHandle(0x500),
        shared_handle: D3dkmtHandle(SHARED),
    }
}

#[test]
fn open_resource_from_nt_handle_writes_the_handles_and_lock2_maps_the_opened_allocations() {
    let (mut translator, mut environment) = started();
    let infos = USER_BASE + 0x1000;
    put(
        &environment,
        infos,
        &[D3DDDI_OPENALLOCATIONINFO2 {
            hAllocation: 0xBAD,
            GpuVirtualAddress: 0xBAD,
            ..Default::default()
        }; 2][..],
    );
    let mut open = open_from_nt_handle(2, infos);
    assert_eq!(
        translator.run(&mut environment, N::OpenResourceFromNtHandle, &mut open),
        STATUS_SUCCESS
    );
    assert_eq!(environment.sent(), vec![open_request()]);
    let written: [D3DDDI_OPENALLOCATIONINFO2; 2] = get(&environment, infos);
    let Reply::ResourceOpened {
        resource,
        allocations,
    } = FakeEnvironment::new().automatic(&open_request()).unwrap()
    else {
        panic!()
    };
    assert_eq!(open.hResource, resource.0);
    assert_eq!(written[0].hAllocation, allocations[0].handle.0);
    assert_eq!(written[1].hAllocation, allocations[1].handle.0);
    for entry in &written {
        assert_eq!(entry.PrivateDriverDataSize, 0, "no private data returned");
        assert_eq!(entry.pPrivateDriverData, USER_BASE + 0x800);
        assert_eq!(entry.GpuVirtualAddress, 0);
    }
    assert_eq!(open.TotalPrivateDriverDataBufferSize, 0);
    assert_eq!(
        (open.hKeyedMutex, open.hSyncObject),
        (0x77, 0x78),
        "untouched"
    );

    // Lock2 of an opened allocation maps its size (8 KiB) read/write.
    let mut lock = D3DKMT_LOCK2 {
        hDevice: 0x500,
        hAllocation: written[0].hAllocation,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::Lock2, &mut lock),
        STATUS_SUCCESS
    );
    let map = environment.maps.last().copied().unwrap();
    assert_eq!((map.length, map.writable), (0x2000, true));
    assert_eq!(lock.pData, map.user_address);

    // Destroying the opened resource unmaps its allocations' views.
    let mut destroy = D3DKMT_DESTROYALLOCATION2 {
        hDevice: 0x500,
        hResource: open.hResource,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::DestroyAllocation2, &mut destroy),
        STATUS_SUCCESS
    );
    assert!(environment.live_mappings().is_empty());
}

#[test]
fn open_resource_with_the_wrong_count_or_a_read_only_array_is_closed_again() {
    for (count, read_only) in [(1, false), (3, false), (2, true)] {
        let (mut translator, mut environment) = started();
        let infos = USER_BASE + 0x4_0000;
        environment.memory.map(infos, 4096, !read_only);
        let mut open = open_from_nt_handle(count, infos);
        let expected = if read_only {
            STATUS_ACCESS_VIOLATION
        } else {
            STATUS_INVALID_PARAMETER
        };
        assert_eq!(
            translator.run(&mut environment, N::OpenResourceFromNtHandle, &mut open),
            expected,
            "{count} allocations, read-only {read_only}"
        );
        let sent = environment.sent();
        assert_eq!(sent.len(), 2, "{sent:?}");
        let Request::DestroyAllocation {
            command:
                DestroyAllocationCommand {
                    device,
                    resource,
                    flags,
                    ..
                },
            ref allocations,
        } = sent[1]
        else {
            panic!("{sent:?}")
        };
        assert_eq!(device, D3dkmtHandle(0x500));
        assert!(!resource.is_null());
        assert!(allocations.is_empty());
        assert_eq!(flags, D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE);
        assert_eq!(open.hResource, 0, "no output");
        // Nothing was recorded: a Lock2 of the would-be allocation has no size to map.
        assert!(environment.maps.is_empty());
    }
}

#[test]
fn open_resource2_opens_by_the_global_share_handle() {
    let (mut translator, mut environment) = started();
    let infos = USER_BASE + 0x1000;
    let mut open = D3DKMT_OPENRESOURCE {
        hDevice: 0x500,
        hGlobalShare: SHARED,
        NumAllocations: 2,
        pOpenAllocationInfo2: infos,
        pTotalPrivateDriverDataBuffer: USER_BASE + 0x800,
        TotalPrivateDriverDataBufferSize: 64,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::OpenResource2, &mut open),
        STATUS_SUCCESS
    );
    assert_eq!(environment.sent(), vec![open_request()]);
    let written: [D3DDDI_OPENALLOCATIONINFO2; 2] = get(&environment, infos);
    assert_ne!(written[0].hAllocation, 0);
    assert_ne!(written[1].hAllocation, written[0].hAllocation);
    assert_ne!(open.hResource, 0);
    assert_eq!(open.TotalPrivateDriverDataBufferSize, 0);
}

#[test]
fn an_nt_handle_beyond_32_bits_names_nothing() {
    let (mut translator, mut environment) = started();
    let mut open = open_from_nt_handle(2, USER_BASE);
    open.hNtHandle = 1 << 32 | u64::from(SHARED);
    assert_eq!(
        translator.run(&mut environment, N::OpenResourceFromNtHandle, &mut open),
        STATUS_INVALID_HANDLE
    );
    let mut sync = D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
        hNtHandle: u64::MAX,
        hDevice: 0x500,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::OpenSyncObjectFromNtHandle2, &mut sync),
        STATUS_INVALID_HANDLE
    );
    assert!(environment.sent().is_empty());
}

fn open_sync(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
) -> (i32, D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2) {
    let mut open = D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
        hNtHandle: u64::from(SHARED),
        hDevice: 0x500,
        Flags: 3,
        EngineAffinity: 1,
        ..Default::default()
    };
    let status = translator.run(environment, N::OpenSyncObjectFromNtHandle2, &mut open);
    (status, open)
}

#[test]
fn open_sync_object_maps_a_monitored_fence_read_only_until_it_is_destroyed() {
    let (mut translator, mut environment) = started();
    let (status, open) = open_sync(&mut translator, &mut environment);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        environment.sent(),
        vec![Request::OpenSyncObject {
            device: D3dkmtHandle(0x500),
            shared_handle: D3dkmtHandle(SHARED),
            flags: 3,
            engine_affinity: 1,
        }]
    );
    assert_ne!(open.hSyncObject, 0);
    let map = environment.maps.last().copied().unwrap();
    assert_eq!(
        (map.physical, map.length, map.writable),
        (IO_BASE + 0x4000, 4096, false)
    );
    assert_eq!(open.FenceValueCPUVirtualAddress, map.user_address + 8);
    assert_eq!(open.FenceValueGPUVirtualAddress, 0xFEED_1000);
    assert_eq!(translator.mapped_views(), 1);

    let mut destroy = D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        hSyncObject: open.hSyncObject,
    };
    assert_eq!(
        translator.run(
            &mut environment,
            N::DestroySynchronizationObject,
            &mut destroy
        ),
        STATUS_SUCCESS
    );
    assert!(environment.live_mappings().is_empty());
}

#[test]
fn open_sync_object_without_a_fence_page_maps_nothing() {
    let (mut translator, mut environment) = started();
    environment.scripted.push_back(Ok(Reply::SyncObject {
        handle: D3dkmtHandle(0x900),
        global: D3dkmtHandle(0x901),
        gpu_address: 0,
        fence_address: 0,
    }));
    let (status, open) = open_sync(&mut translator, &mut environment);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(open.hSyncObject, 0x900);
    assert_eq!(open.FenceValueCPUVirtualAddress, 0);
    assert!(environment.maps.is_empty());
}

#[test]
fn an_opened_fence_that_cannot_be_mapped_is_destroyed_again() {
    let (mut translator, mut environment) = started();
    environment.map_failure = Some(NtStatus::NO_MEMORY);
    let (status, open) = open_sync(&mut translator, &mut environment);
    assert_eq!(status, NtStatus::NO_MEMORY.0);
    assert_eq!(open.hSyncObject, 0, "no output");
    let sent = environment.sent();
    assert_eq!(sent.len(), 2);
    assert!(
        matches!(sent[1], Request::DestroySyncObject { .. }),
        "{sent:?}"
    );
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn share_object_with_host_writes_the_token() {
    let (mut translator, mut environment) = started();
    let mut share = D3DKMT_SHAREOBJECTWITHHOST {
        hDevice: 0x500,
        hObject: 0x600,
        Reserved: 0,
        hVailNtHandle: 0,
    };
    assert_eq!(
        translator.run(&mut environment, N::ShareObjectWithHost, &mut share),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.sent(),
        vec![Request::ShareObjectWithHost(ShareObjectWithHostCommand {
            device: D3dkmtHandle(0x500),
            object: D3dkmtHandle(0x600),
            ..FromZeros::new_zeroed()
        })]
    );
    assert_eq!(share.hVailNtHandle, 0x1234_5678_9ABC);
    // A failure leaves the output alone.
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_HANDLE));
    share.hVailNtHandle = 5;
    assert_eq!(
        translator.run(&mut environment, N::ShareObjectWithHost, &mut share),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(share.hVailNtHandle, 5);
}

#[test]
fn query_resource_info_asks_the_registry_and_fills_the_sizes() {
    let (mut translator, mut environment) = started();
    environment
        .scripted
        .push_back(Ok(Reply::SharedResourceInfo {
            allocation_count: 3,
            private_data_size: 24,
        }));
    let mut query = D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
        hDevice: 0x500,
        hNtHandle: u64::from(SHARED),
        PrivateRuntimeDataSize: 99,
        ResourcePrivateDriverDataSize: 99,
        ..Default::default()
    };
    let number = N::QueryResourceInfoFromNtHandle;
    assert_eq!(
        translator.run(&mut environment, number, &mut query),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.sent(),
        vec![Request::QuerySharedResource {
            device: D3dkmtHandle(0x500),
            shared_handle: D3dkmtHandle(SHARED),
        }]
    );
    assert_eq!(query.NumAllocations, 3);
    assert_eq!(query.TotalPrivateDriverDataSize, 24);
    assert_eq!(query.PrivateRuntimeDataSize, 0);
    assert_eq!(query.ResourcePrivateDriverDataSize, 0);

    // A handle beyond 32 bits names nothing; a failure leaves the outputs alone.
    environment.requests.clear();
    let mut wide = D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
        hDevice: 0x500,
        hNtHandle: 1 << 40,
        NumAllocations: 7,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, number, &mut wide),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(wide.NumAllocations, 7);
    assert!(environment.sent().is_empty());
    environment
        .scripted
        .push_back(Err(NtStatus::OBJECT_TYPE_MISMATCH));
    let mut mismatch = D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
        hDevice: 0x500,
        hNtHandle: u64::from(SHARED),
        NumAllocations: 7,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, number, &mut mismatch),
        NtStatus::OBJECT_TYPE_MISMATCH.0
    );
    assert_eq!(mismatch.NumAllocations, 7);
}
