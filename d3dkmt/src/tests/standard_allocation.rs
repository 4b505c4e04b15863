//! CreateAllocation2 with the StandardAllocation flag: the two DDIGETSTANDARDALLOCATIONDRIVERDATA
//! requests, the CREATEALLOCATION built from the host's blob, and the refusals Linux makes
//! (`dxgkio_create_allocation`, microsoft/WSL2-Linux-Kernel `drivers/hv/dxgkrnl/ioctl.c`).

use super::*;
use dxg::core::AllocationRequest;
use dxg::wire::{CreateAllocationCommand, GetStandardAllocationDriverDataCommand};
use userlib::abi::flags::{
    D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM as EXISTING_SYSMEM,
    D3DKMT_CREATEALLOCATIONFLAGS_STANDARD_ALLOCATION as STANDARD,
    D3DKMT_STANDARDALLOCATIONTYPE_CROSSADAPTER as CROSSADAPTER,
    D3DKMT_STANDARDALLOCATIONTYPE_EXISTINGHEAP as EXISTINGHEAP,
};
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

const INFO: u64 = USER_BASE;
const STANDARD_STRUCT: u64 = USER_BASE + 0x1000;
const HEAP: u64 = USER_BASE + 0x1_0000;
const HEAP_SIZE: u64 = 0x2000;

fn device() -> D3dkmtHandle {
    D3dkmtHandle(0x500)
}

/// Places the standard-allocation struct and one info; returns the CreateAllocation2 struct.
fn create(
    environment: &FakeEnvironment,
    kind: u32,
    heap_size: u64,
    system_memory: u64,
    flags: u32,
) -> D3DKMT_CREATEALLOCATION {
    let standard = D3DKMT_CREATESTANDARDALLOCATION {
        Type: kind,
        ExistingHeapSize: heap_size,
        ..Default::default()
    };
    put(environment, STANDARD_STRUCT, &standard);
    let info = D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: system_memory,
        ..Default::default()
    };
    put(environment, INFO, &info);
    D3DKMT_CREATEALLOCATION {
        hDevice: device().0,
        NumAllocations: 1,
        pAllocationInfo2: INFO,
        pPrivateDriverData: STANDARD_STRUCT,
        Flags: flags,
        ..Default::default()
    }
}

fn driver_data_request(sizes: (u32, u32)) -> Request {
    Request::GetStandardAllocationDriverData {
        device: device(),
        command: GetStandardAllocationDriverDataCommand {
            allocation_type: 4,
            private_driver_data_size: sizes.0,
            private_driver_resource_size: sizes.1,
            physical_adapter_index: 0,
            width: HEAP_SIZE as u32,
            height: 1,
            format: 0,
            surface_type: 7,
            flags: 0,
            pitch: 0,
            ..FromZeros::new_zeroed()
        },
    }
}

fn driver_data_reply(blob: &[u8], resource: u32) -> Result<Reply, NtStatus> {
    Ok(Reply::StandardAllocationDriverData {
        allocation_data_size: blob.len() as u32,
        resource_data_size: resource,
        allocation_data: blob.to_vec(),
        resource_data: vec![0; resource as usize],
    })
}

#[test]
fn an_existing_heap_gets_the_hosts_blob_and_is_backed_by_the_user_pages() {
    let (mut translator, mut environment) = started();
    let blob = HEAP_SIZE.to_le_bytes();
    environment
        .scripted
        .push_back(Ok(Reply::StandardAllocationDriverData {
            allocation_data_size: 8,
            resource_data_size: 8,
            allocation_data: vec![],
            resource_data: vec![],
        }));
    environment.scripted.push_back(driver_data_reply(&blob, 8));
    let flags = STANDARD | EXISTING_SYSMEM;
    let mut arguments = create(&environment, EXISTINGHEAP, HEAP_SIZE, HEAP, flags);
    let status = translator.run(&mut environment, N::CreateAllocation2, &mut arguments);
    assert_eq!(status, STATUS_SUCCESS);
    let written: D3DDDI_ALLOCATIONINFO2 = get(&environment, INFO);
    assert_ne!(written.hAllocation, 0);
    let standard_bytes = D3DKMT_CREATESTANDARDALLOCATION {
        Type: EXISTINGHEAP,
        ExistingHeapSize: HEAP_SIZE,
        ..Default::default()
    };
    let sent = environment.sent();
    assert_eq!(sent[0], driver_data_request((0, 0)));
    assert_eq!(sent[1], driver_data_request((8, 8)));
    assert_eq!(
        sent[2],
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device: device(),
                resource: D3dkmtHandle::NULL,
                flags,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: zerocopy::IntoBytes::as_bytes(&standard_bytes).to_vec(),
            allocations: vec![AllocationRequest {
                flags: 0,
                vidpn_source_id: 0,
                private_data: blob.to_vec(),
            }],
        }
    );
    assert!(matches!(
        sent[3],
        Request::SetExistingSysmemPages { ref page_frames, .. } if page_frames.len() == 2
    ));
    assert_eq!(sent.len(), 4);

    // Lock2 returns the heap itself.
    let mut lock = D3DKMT_LOCK2 {
        hDevice: device().0,
        hAllocation: written.hAllocation,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::Lock2, &mut lock),
        STATUS_SUCCESS
    );
    assert_eq!(lock.pData, HEAP);
}

#[test]
fn refused_standard_allocations_send_nothing() {
    let rows: [(&str, u32, u64, u64, u32); 8] = [
        (
            "unknown type",
            3,
            HEAP_SIZE,
            HEAP,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "heap without ExistingSysMem",
            EXISTINGHEAP,
            HEAP_SIZE,
            HEAP,
            STANDARD,
        ),
        (
            "heap without memory",
            EXISTINGHEAP,
            HEAP_SIZE,
            0,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "unaligned memory",
            EXISTINGHEAP,
            HEAP_SIZE,
            HEAP + 8,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "empty heap",
            EXISTINGHEAP,
            0,
            HEAP,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "unaligned heap",
            EXISTINGHEAP,
            0x1800,
            HEAP,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "heap over 4 GiB",
            EXISTINGHEAP,
            1 << 32,
            HEAP,
            STANDARD | EXISTING_SYSMEM,
        ),
        (
            "cross-adapter with memory",
            CROSSADAPTER,
            HEAP_SIZE,
            HEAP,
            STANDARD,
        ),
    ];
    for (name, kind, heap, memory, flags) in rows {
        let (mut translator, mut environment) = started();
        let mut arguments = create(&environment, kind, heap, memory, flags);
        let status = translator.run(&mut environment, N::CreateAllocation2, &mut arguments);
        assert_eq!(status, STATUS_INVALID_PARAMETER, "{name}");
        assert_eq!(environment.sent(), vec![], "{name}");
    }
    // Two allocations, private data beside the struct, or no struct at all.
    let (mut translator, mut environment) = started();
    for change in [
        |arguments: &mut D3DKMT_CREATEALLOCATION| arguments.NumAllocations = 2,
        |arguments: &mut D3DKMT_CREATEALLOCATION| arguments.PrivateDriverDataSize = 8,
        |arguments: &mut D3DKMT_CREATEALLOCATION| arguments.pPrivateDriverData = 0,
    ] {
        let mut arguments = create(
            &environment,
            EXISTINGHEAP,
            HEAP_SIZE,
            HEAP,
            STANDARD | EXISTING_SYSMEM,
        );
        change(&mut arguments);
        let status = translator.run(&mut environment, N::CreateAllocation2, &mut arguments);
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    assert_eq!(environment.sent(), vec![]);
}

#[test]
fn a_host_without_an_allocation_blob_fails_the_call_before_creating_anything() {
    let (mut translator, mut environment) = started();
    environment.scripted.push_back(driver_data_reply(&[], 0));
    let flags = STANDARD | EXISTING_SYSMEM;
    let mut arguments = create(&environment, EXISTINGHEAP, HEAP_SIZE, HEAP, flags);
    let status = translator.run(&mut environment, N::CreateAllocation2, &mut arguments);
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(environment.sent(), vec![driver_data_request((0, 0))]);
}
