//! CreateAllocation2 over existing system memory: the requests sent, Lock2 / Unlock2 of such an
//! allocation, and the undo of every failure after the allocations exist.

use super::*;
use crate::ViewAccess;
use dxg::core::AllocationRequest;
use dxg::wire::{CreateAllocationCommand, DestroyAllocationCommand};
use userlib::abi::flags::{
    D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE,
    D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM as EXISTING_SYSMEM,
};
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

/// Where the allocation infos are placed.
const INFOS: u64 = USER_BASE;
/// Where the private data (the sizes) are placed.
const SIZES: u64 = USER_BASE + 0x1000;
/// The application's memory for the allocations (page aligned).
const FIRST: u64 = USER_BASE + 0x1_0000;
const SECOND: u64 = USER_BASE + 0x2_0000;

fn device() -> D3dkmtHandle {
    D3dkmtHandle(0x500)
}

/// Places one info per `(pSystemMem, size)`; returns the CreateAllocation2 struct.
fn create(
    environment: &FakeEnvironment,
    flags: u32,
    allocations: &[(u64, u64)],
) -> D3DKMT_CREATEALLOCATION {
    let sizes: Vec<u64> = allocations.iter().map(|(_, size)| *size).collect();
    put(environment, SIZES, sizes.as_slice());
    let infos: Vec<D3DDDI_ALLOCATIONINFO2> = allocations
        .iter()
        .enumerate()
        .map(|(index, (address, _))| D3DDDI_ALLOCATIONINFO2 {
            pSystemMem: *address,
            pPrivateDriverData: SIZES + 8 * index as u64,
            PrivateDriverDataSize: 8,
            ..Default::default()
        })
        .collect();
    put(environment, INFOS, infos.as_slice());
    D3DKMT_CREATEALLOCATION {
        hDevice: device().0,
        NumAllocations: allocations.len() as u32,
        pAllocationInfo2: INFOS,
        Flags: flags,
        ..Default::default()
    }
}

fn create_allocation2(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    arguments: &mut D3DKMT_CREATEALLOCATION,
) -> i32 {
    translator.run(environment, N::CreateAllocation2, arguments)
}

/// The frames the fake gives for `pages` pages at `address`.
fn frames(address: u64, pages: u64) -> Vec<u64> {
    (0..pages)
        .map(|page| FRAME_BASE + address / 4096 + page)
        .collect()
}

fn lock(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    allocation: u32,
) -> (i32, u64) {
    let mut lock = D3DKMT_LOCK2 {
        hDevice: device().0,
        hAllocation: allocation,
        ..Default::default()
    };
    let status = translator.run(environment, N::Lock2, &mut lock);
    (status, lock.pData)
}

#[test]
fn allocations_are_created_then_backed_by_the_frames_of_the_user_pages() {
    let (mut translator, mut environment) = started();
    let mut arguments = create(
        &environment,
        EXISTING_SYSMEM,
        &[(FIRST, 0x2000), (SECOND, 0x1000)],
    );
    assert_eq!(
        create_allocation2(&mut translator, &mut environment, &mut arguments),
        STATUS_SUCCESS
    );
    let written: [D3DDDI_ALLOCATIONINFO2; 2] = get(&environment, INFOS);
    let (first, second) = (written[0].hAllocation, written[1].hAllocation);
    assert!(first != 0 && second != 0 && first != second);
    assert_eq!(written[0].pSystemMem, FIRST, "inputs kept");
    let request = |size: u64| AllocationRequest {
        flags: 0,
        vidpn_source_id: 0,
        private_data: size.to_le_bytes().to_vec(),
    };
    assert_eq!(
        environment.sent(),
        vec![
            Request::CreateAllocation {
                command: CreateAllocationCommand {
                    device: device(),
                    resource: D3dkmtHandle::NULL,
                    flags: EXISTING_SYSMEM,
                    ..FromZeros::new_zeroed()
                },
                runtime_data: vec![],
                driver_data: vec![],
                allocations: vec![request(0x2000), request(0x1000)],
            },
            Request::SetExistingSysmemPages {
                device: device(),
                allocation: D3dkmtHandle(first),
                page_frames: frames(FIRST, 2),
            },
            Request::SetExistingSysmemPages {
                device: device(),
                allocation: D3dkmtHandle(second),
                page_frames: frames(SECOND, 1),
            },
        ]
    );

    // Lock2 returns the application's own memory, without a host message or a view, however
    // often; Unlock2 tells the host each time (as Linux).
    environment.requests.clear();
    assert_eq!(
        lock(&mut translator, &mut environment, first),
        (STATUS_SUCCESS, FIRST)
    );
    assert_eq!(
        lock(&mut translator, &mut environment, first),
        (STATUS_SUCCESS, FIRST)
    );
    assert!(environment.requests.is_empty());
    assert!(environment.maps.is_empty());
    assert_eq!(translator.mapped_views(), 0);
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: device().0,
        hAllocation: first,
    };
    assert_eq!(
        translator.run(&mut environment, N::Unlock2, &mut unlock),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.sent(),
        vec![Request::Unlock {
            device: device(),
            allocation: D3dkmtHandle(first),
        }]
    );
    // Another device's Lock2 of it is refused.
    let mut foreign = D3DKMT_LOCK2 {
        hDevice: 0x501,
        hAllocation: second,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::Lock2, &mut foreign),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(foreign.pData, 0);

    // Destroyed like any allocation; afterwards Lock2 no longer knows it locally.
    let list = USER_BASE + 0x3000;
    put(&environment, list, &[first, second][..]);
    let mut destroy = D3DKMT_DESTROYALLOCATION2 {
        hDevice: device().0,
        phAllocationList: list,
        AllocationCount: 2,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::DestroyAllocation2, &mut destroy),
        STATUS_SUCCESS
    );
    environment.requests.clear();
    let (_, address) = lock(&mut translator, &mut environment, first);
    assert_ne!(address, FIRST);
    assert!(
        matches!(environment.sent()[0], Request::Lock { .. }),
        "Lock2 went to the host"
    );
    assert!(environment.unmaps.is_empty());
}

#[test]
fn a_system_memory_pointer_sets_the_flag_as_linux_does() {
    let (mut translator, mut environment) = started();
    let mut arguments = create(&environment, 0, &[(FIRST, 0x1000)]);
    assert_eq!(
        create_allocation2(&mut translator, &mut environment, &mut arguments),
        STATUS_SUCCESS
    );
    let sent = environment.sent();
    let Request::CreateAllocation { command, .. } = sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(command.flags, EXISTING_SYSMEM);
    assert!(matches!(sent[1], Request::SetExistingSysmemPages { .. }));
    // Other flags are kept.
    environment.requests.clear();
    let mut arguments = create(&environment, 1, &[(FIRST, 0x1000)]);
    assert_eq!(
        create_allocation2(&mut translator, &mut environment, &mut arguments),
        STATUS_SUCCESS
    );
    let Request::CreateAllocation { command, .. } = environment.sent()[0] else {
        panic!()
    };
    assert_eq!(command.flags, EXISTING_SYSMEM | 1);
}

#[test]
fn bad_pointers_are_refused_before_anything_is_sent() {
    for (what, flags, allocations) in [
        ("flag without pointer", EXISTING_SYSMEM, vec![(0, 0x1000)]),
        ("unaligned", EXISTING_SYSMEM, vec![(FIRST + 8, 0x1000)]),
        (
            "unaligned second",
            0,
            vec![(FIRST, 0x1000), (SECOND + 1, 0x1000)],
        ),
        ("first only", 0, vec![(FIRST, 0x1000), (0, 0x1000)]),
        ("second only", 0, vec![(0, 0x1000), (SECOND, 0x1000)]),
    ] {
        let (mut translator, mut environment) = started();
        let mut arguments = create(&environment, flags, &allocations);
        assert_eq!(
            create_allocation2(&mut translator, &mut environment, &mut arguments),
            STATUS_INVALID_PARAMETER,
            "{what}"
        );
        assert!(environment.sent().is_empty(), "{what}");
    }
}

/// The requests after CreateAllocation must be exactly `expected_middle` followed by the
/// DestroyAllocation of `handles`.
fn assert_undone(environment: &FakeEnvironment, expected_middle: usize, handles: &[D3dkmtHandle]) {
    let sent = environment.sent();
    assert!(
        matches!(sent[0], Request::CreateAllocation { .. }),
        "{sent:?}"
    );
    assert_eq!(sent.len(), expected_middle + 2, "{sent:?}");
    assert_eq!(
        sent.last().unwrap(),
        &Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device: device(),
                resource: D3dkmtHandle::NULL,
                flags: D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE,
                ..FromZeros::new_zeroed()
            },
            allocations: handles.to_vec()
        }
    );
    let written: D3DDDI_ALLOCATIONINFO2 = get(environment, INFOS);
    assert_eq!(written.hAllocation, 0, "nothing written back");
}

/// A scripted CreateAllocation reply of allocations 0x4440, 0x4441, … of these sizes.
fn created(environment: &mut FakeEnvironment, sizes: &[u64]) -> Vec<D3dkmtHandle> {
    let handles: Vec<D3dkmtHandle> = (0..sizes.len() as u32)
        .map(|index| D3dkmtHandle(0x4440 + index))
        .collect();
    environment.scripted.push_back(Ok(Reply::Allocations {
        resource: D3dkmtHandle::NULL,
        allocations: handles
            .iter()
            .zip(sizes)
            .map(|(handle, size)| CreatedAllocation {
                handle: *handle,
                size: *size,
                flags: 0,
            })
            .collect(),
    }));
    handles
}

#[test]
fn user_pages_that_cannot_back_the_allocation_undo_it() {
    // Not mapped, read-only, or mapped only in part (the host's size is what counts).
    let read_only = USER_BASE + 0x4_0000;
    let partial = USER_BASE + 0x10_0000 - 0x1000;
    for (address, size) in [
        (0xDEAD_0000_0000, 0x1000),
        (read_only, 0x1000),
        (partial, 0x2000),
    ] {
        let (mut translator, mut environment) = started();
        environment.memory.map(read_only, 0x1000, false);
        let mut arguments = create(&environment, EXISTING_SYSMEM, &[(address, size)]);
        let handles = created(&mut environment, &[size]);
        assert_eq!(
            create_allocation2(&mut translator, &mut environment, &mut arguments),
            STATUS_ACCESS_VIOLATION,
            "{address:#x}"
        );
        assert_undone(&environment, 0, &handles);
    }
}

#[test]
fn a_refused_page_list_undoes_every_allocation() {
    let (mut translator, mut environment) = started();
    let mut arguments = create(
        &environment,
        EXISTING_SYSMEM,
        &[(FIRST, 0x1000), (SECOND, 0x1000)],
    );
    let handles = created(&mut environment, &[0x1000, 0x1000]);
    environment
        .scripted
        .push_back(Ok(Reply::Status(NtStatus::SUCCESS)));
    environment
        .scripted
        .push_back(Ok(Reply::Status(NtStatus::NO_MEMORY)));
    assert_eq!(
        create_allocation2(&mut translator, &mut environment, &mut arguments),
        NtStatus::NO_MEMORY.0
    );
    assert_undone(&environment, 2, &handles);
    // Nothing is remembered: a Lock2 of the handle goes to the host.
    environment.requests.clear();
    lock(&mut translator, &mut environment, handles[0].0);
    assert!(matches!(environment.sent()[0], Request::Lock { .. }));
}

#[test]
fn sizes_beyond_the_cap_or_not_whole_pages_undo_the_allocations() {
    // 256 MiB in total is allowed, one page more is not; checked before any frame is asked for.
    for (sizes, expected) in [
        (
            vec![128 << 20, (128 << 20) + 0x1000],
            STATUS_INVALID_PARAMETER,
        ),
        (vec![0x1800], STATUS_UNSUCCESSFUL),
        (vec![0], STATUS_UNSUCCESSFUL),
    ] {
        let (mut translator, mut environment) = started();
        let allocations: Vec<(u64, u64)> = sizes.iter().map(|size| (FIRST, *size)).collect();
        let mut arguments = create(&environment, EXISTING_SYSMEM, &allocations);
        let handles = created(&mut environment, &sizes);
        assert_eq!(
            create_allocation2(&mut translator, &mut environment, &mut arguments),
            expected,
            "{sizes:x?}"
        );
        assert_undone(&environment, 0, &handles);
    }
    // Exactly 256 MiB: the frames of 65 536 pages are asked for (FIRST is mapped for 1 MiB
    // less, so the lookup fails, after the cap check).
    let (mut translator, mut environment) = started();
    let mut arguments = create(&environment, EXISTING_SYSMEM, &[(FIRST, 256 << 20)]);
    let handles = created(&mut environment, &[256 << 20]);
    assert_eq!(
        create_allocation2(&mut translator, &mut environment, &mut arguments),
        STATUS_ACCESS_VIOLATION
    );
    assert_undone(&environment, 0, &handles);
}

/// A kernel side without `user_page_frames` (the trait's default).
struct WithoutFrames(FakeEnvironment);

impl Environment for WithoutFrames {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        self.0.read_user(address, buffer)
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        self.0.write_user(address, data)
    }

    fn gpu(&mut self, request: Request, timeout: Timeout) -> Result<Reply, NtStatus> {
        self.0.gpu(request, timeout)
    }

    fn map_io(&mut self, physical: u64, length: u64, access: ViewAccess) -> Result<u64, NtStatus> {
        self.0.map_io(physical, length, access)
    }

    fn unmap_io(&mut self, user_address: u64, length: u64) {
        self.0.unmap_io(user_address, length);
    }
}

#[test]
fn a_kernel_without_user_page_frames_answers_not_supported_and_leaves_nothing() {
    let (mut translator, environment) = started();
    let arguments = create(&environment, EXISTING_SYSMEM, &[(FIRST, 0x1000)]);
    let mut environment = WithoutFrames(environment);
    let handles = created(&mut environment.0, &[0x1000]);
    let mut bytes = arguments.as_bytes().to_vec();
    assert_eq!(
        translator.call(&mut environment, N::CreateAllocation2 as u32, &mut bytes, 0),
        STATUS_NOT_SUPPORTED
    );
    assert_undone(&environment.0, 0, &handles);
}
