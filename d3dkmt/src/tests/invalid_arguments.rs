//! Invalid arguments for every D3DKMT call: wrong sizes, bad nested pointers, counts beyond the
//! D3DKMT limits or zero where one is required. None of them may panic, and the ones caught
//! while reading the arguments must not reach the GPU.

use super::*;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::{D3DKMT_CALLS, SyscallNumber as N};

/// Not mapped at all.
pub(super) const BAD: u64 = 0xDEAD_0000_0000;
/// Mapped read-only (set up by [`environment`]).
pub(super) const READ_ONLY: u64 = USER_BASE + 0x8_0000;
/// One byte more than the private-data limit.
pub(super) const TOO_MUCH_DATA: u32 = 128 * 1024 + 1;

/// One invalid call.
pub(super) struct Case {
    what: &'static str,
    number: N,
    arguments: Vec<u8>,
    expected: i32,
    /// Whether the failure happens after a request (an output that cannot be written).
    after_request: bool,
}

pub(super) fn case<T: IntoBytes + Immutable>(
    what: &'static str,
    number: N,
    arguments: T,
    expected: i32,
) -> Case {
    Case {
        what,
        number,
        arguments: arguments.as_bytes().to_vec(),
        expected,
        after_request: false,
    }
}

pub(super) fn after_request(mut case: Case) -> Case {
    case.after_request = true;
    case
}

fn environment() -> FakeEnvironment {
    let environment = FakeEnvironment::new();
    environment.memory.map(READ_ONLY, 4096, false);
    // Valid arrays of valid-looking values at USER_BASE.
    put(&environment, USER_BASE, &[0x40u32; 64][..]);
    environment
}

fn cases() -> Vec<Case> {
    use userlib::abi::status::STATUS_ACCESS_VIOLATION as AV;
    use userlib::abi::status::STATUS_INVALID_PARAMETER as IP;
    let mut cases = Vec::new();

    // Adapters.
    let arguments = D3DKMT_ENUMADAPTERS2 {
        NumAdapters: 64,
        pAdapters: BAD,
        ..Default::default()
    };
    cases.push(after_request(case(
        "adapter array",
        N::EnumAdapters2,
        arguments,
        AV,
    )));
    let arguments = D3DKMT_ENUMADAPTERS3 {
        NumAdapters: 64,
        pAdapters: READ_ONLY,
        ..Default::default()
    };
    cases.push(after_request(case(
        "adapter array",
        N::EnumAdapters3,
        arguments,
        AV,
    )));
    let query = |pointer, size| D3DKMT_QUERYADAPTERINFO {
        hAdapter: 0x40,
        pPrivateDriverData: pointer,
        PrivateDriverDataSize: size,
        ..Default::default()
    };
    cases.push(case("buffer", N::QueryAdapterInfo, query(BAD, 4), AV));
    cases.push(after_request(case(
        "read-only buffer",
        N::QueryAdapterInfo,
        query(READ_ONLY, 4),
        AV,
    )));
    cases.push(case(
        "empty buffer",
        N::QueryAdapterInfo,
        query(USER_BASE, 0),
        IP,
    ));
    cases.push(case(
        "big buffer",
        N::QueryAdapterInfo,
        query(USER_BASE, TOO_MUCH_DATA),
        IP,
    ));
    cases.push(case(
        "huge buffer",
        N::QueryAdapterInfo,
        query(USER_BASE, u32::MAX),
        IP,
    ));
    let escape = |pointer, size| D3DKMT_ESCAPE {
        hAdapter: 0x40,
        pPrivateDriverData: pointer,
        PrivateDriverDataSize: size,
        ..Default::default()
    };
    cases.push(case("data", N::Escape, escape(BAD, 4), AV));
    cases.push(after_request(case(
        "read-only data",
        N::Escape,
        escape(READ_ONLY, 4),
        AV,
    )));
    cases.push(case(
        "big data",
        N::Escape,
        escape(USER_BASE, TOO_MUCH_DATA),
        IP,
    ));

    // Contexts and submissions.
    let context = |pointer, size| D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: 0x40,
        pPrivateDriverData: pointer,
        PrivateDriverDataSize: size,
        ..Default::default()
    };
    cases.push(case(
        "private data",
        N::CreateContextVirtual,
        context(BAD, 4),
        AV,
    ));
    cases.push(after_request(case(
        "read-only private data",
        N::CreateContextVirtual,
        context(READ_ONLY, 4),
        AV,
    )));
    cases.push(case(
        "big private data",
        N::CreateContextVirtual,
        context(USER_BASE, TOO_MUCH_DATA),
        IP,
    ));
    let submit = |contexts, data: u64, data_size, history: u64, history_count, primaries| {
        let mut submit = D3DKMT_SUBMITCOMMAND {
            BroadcastContextCount: contexts,
            pPrivateDriverData: data,
            PrivateDriverDataSize: data_size,
            HistoryBufferArray: history,
            NumHistoryBuffers: history_count,
            NumPrimaries: primaries,
            ..Default::default()
        };
        submit.BroadcastContext = [0x40; 64];
        submit
    };
    cases.push(case(
        "no context",
        N::SubmitCommand,
        submit(0, USER_BASE, 4, USER_BASE, 1, 0),
        IP,
    ));
    cases.push(case(
        "65 contexts",
        N::SubmitCommand,
        submit(65, USER_BASE, 4, USER_BASE, 1, 0),
        IP,
    ));
    cases.push(case(
        "huge context count",
        N::SubmitCommand,
        submit(u32::MAX, USER_BASE, 4, USER_BASE, 1, 0),
        IP,
    ));
    cases.push(case(
        "17 primaries",
        N::SubmitCommand,
        submit(1, USER_BASE, 4, USER_BASE, 1, 17),
        IP,
    ));
    cases.push(case(
        "1025 history buffers",
        N::SubmitCommand,
        submit(1, USER_BASE, 4, USER_BASE, 1025, 0),
        IP,
    ));
    cases.push(case(
        "huge history",
        N::SubmitCommand,
        submit(1, USER_BASE, 4, USER_BASE, u32::MAX, 0),
        IP,
    ));
    cases.push(case(
        "big private data",
        N::SubmitCommand,
        submit(1, USER_BASE, TOO_MUCH_DATA, USER_BASE, 1, 0),
        IP,
    ));
    cases.push(case(
        "private data",
        N::SubmitCommand,
        submit(1, BAD, 4, USER_BASE, 1, 0),
        AV,
    ));
    cases.push(case(
        "history buffers",
        N::SubmitCommand,
        submit(1, USER_BASE, 4, BAD, 1, 0),
        AV,
    ));

    // Allocations.
    let create = |count, infos| D3DKMT_CREATEALLOCATION {
        hDevice: 0x40,
        NumAllocations: count,
        pAllocationInfo2: infos,
        ..Default::default()
    };
    cases.push(case(
        "no allocation",
        N::CreateAllocation2,
        create(0, USER_BASE + 0x1000),
        IP,
    ));
    cases.push(case(
        "1025 allocations",
        N::CreateAllocation2,
        create(1025, USER_BASE + 0x1000),
        IP,
    ));
    cases.push(case(
        "huge allocation count",
        N::CreateAllocation2,
        create(u32::MAX, USER_BASE + 0x1000),
        IP,
    ));
    cases.push(case(
        "allocation infos",
        N::CreateAllocation2,
        create(1, BAD),
        AV,
    ));
    let mut runtime = create(1, USER_BASE + 0x1000);
    runtime.pPrivateRuntimeData = BAD;
    runtime.PrivateRuntimeDataSize = 8;
    cases.push(case("runtime data", N::CreateAllocation2, runtime, AV));
    let mut driver = create(1, USER_BASE + 0x1000);
    driver.pPrivateDriverData = BAD;
    driver.PrivateDriverDataSize = 8;
    cases.push(case("driver data", N::CreateAllocation2, driver, AV));
    let mut big = create(1, USER_BASE + 0x1000);
    big.PrivateDriverDataSize = TOO_MUCH_DATA;
    cases.push(case("big driver data", N::CreateAllocation2, big, IP));
    // Info at USER_BASE + 0x1000 points at BAD private data; at + 0x2000 at too much data in
    // total (see `environment_for`).
    cases.push(case(
        "allocation private data",
        N::CreateAllocation2,
        create(1, USER_BASE + 0x2000),
        AV,
    ));
    cases.push(case(
        "total private data",
        N::CreateAllocation2,
        create(2, USER_BASE + 0x3000),
        IP,
    ));
    cases.push(after_request(case(
        "read-only infos",
        N::CreateAllocation2,
        create(1, READ_ONLY),
        AV,
    )));
    // Existing system memory (infos at USER_BASE + 0x4000 … 0x8000, see
    // `environment_for_cases`).
    let mut no_pointer = create(1, USER_BASE + 0x1000);
    no_pointer.Flags = userlib::abi::flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM;
    cases.push(case(
        "existing sysmem without pSystemMem",
        N::CreateAllocation2,
        no_pointer,
        IP,
    ));
    cases.push(case(
        "unaligned pSystemMem",
        N::CreateAllocation2,
        create(1, USER_BASE + 0x4000),
        IP,
    ));
    cases.push(case(
        "pSystemMem on the first allocation only",
        N::CreateAllocation2,
        create(2, USER_BASE + 0x5000),
        IP,
    ));
    cases.push(case(
        "pSystemMem on the second allocation only",
        N::CreateAllocation2,
        create(2, USER_BASE + 0x6000),
        IP,
    ));
    cases.push(after_request(case(
        "read-only pSystemMem",
        N::CreateAllocation2,
        create(1, USER_BASE + 0x7000),
        AV,
    )));
    cases.push(after_request(case(
        "unmapped pSystemMem",
        N::CreateAllocation2,
        create(1, USER_BASE + 0x8000),
        AV,
    )));
    let destroy = |count, list| D3DKMT_DESTROYALLOCATION2 {
        hDevice: 0x40,
        AllocationCount: count,
        phAllocationList: list,
        ..Default::default()
    };
    cases.push(case(
        "1025 allocations",
        N::DestroyAllocation2,
        destroy(1025, USER_BASE),
        IP,
    ));
    cases.push(case(
        "allocation list",
        N::DestroyAllocation2,
        destroy(1, BAD),
        AV,
    ));
    let resident = |count, list| D3DDDI_MAKERESIDENT {
        hPagingQueue: 0x40,
        NumAllocations: count,
        AllocationList: list,
        ..Default::default()
    };
    cases.push(case(
        "no allocation",
        N::MakeResident,
        resident(0, USER_BASE),
        IP,
    ));
    cases.push(case(
        "10241 allocations",
        N::MakeResident,
        resident(10241, USER_BASE),
        IP,
    ));
    cases.push(case(
        "allocation list",
        N::MakeResident,
        resident(1, BAD),
        AV,
    ));
    let evict = |count, list| D3DKMT_EVICT {
        hDevice: 0x40,
        NumAllocations: count,
        AllocationList: list,
        ..Default::default()
    };
    cases.push(case("no allocation", N::Evict, evict(0, USER_BASE), IP));
    cases.push(case(
        "10241 allocations",
        N::Evict,
        evict(10241, USER_BASE),
        IP,
    ));
    cases.push(case("allocation list", N::Evict, evict(1, BAD), AV));

    // Synchronisation.
    let from_cpu = |count, handles, values| D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: 0x40,
        ObjectCount: count,
        ObjectHandleArray: handles,
        FenceValueArray: values,
        ..Default::default()
    };
    let number = N::SignalSynchronizationObjectFromCpu;
    cases.push(case(
        "no object",
        number,
        from_cpu(0, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        from_cpu(33, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "object handles",
        number,
        from_cpu(1, BAD, USER_BASE),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        from_cpu(1, USER_BASE, BAD),
        AV,
    ));
    let from_gpu = |count, handles, values| D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: 0x40,
        ObjectCount: count,
        ObjectHandleArray: handles,
        MonitoredFenceValueArray: values,
        ..Default::default()
    };
    let number = N::SignalSynchronizationObjectFromGpu;
    cases.push(case(
        "no object",
        number,
        from_gpu(0, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        from_gpu(33, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "object handles",
        number,
        from_gpu(1, BAD, USER_BASE),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        from_gpu(1, USER_BASE, BAD),
        AV,
    ));
    let from_gpu2 = |count, handles, contexts, context_array, values| {
        D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 {
            ObjectCount: count,
            ObjectHandleArray: handles,
            BroadcastContextCount: contexts,
            BroadcastContextArray: context_array,
            FenceValue: values,
            ..Default::default()
        }
    };
    let number = N::SignalSynchronizationObjectFromGpu2;
    cases.push(case(
        "no object",
        number,
        from_gpu2(0, USER_BASE, 1, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        from_gpu2(33, USER_BASE, 1, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "no context",
        number,
        from_gpu2(1, USER_BASE, 0, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "65 contexts",
        number,
        from_gpu2(1, USER_BASE, 65, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "contexts",
        number,
        from_gpu2(1, USER_BASE, 1, BAD, USER_BASE),
        AV,
    ));
    cases.push(case(
        "object handles",
        number,
        from_gpu2(1, BAD, 1, USER_BASE, USER_BASE),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        from_gpu2(1, USER_BASE, 1, USER_BASE, BAD),
        AV,
    ));
    let cpu_wait = |count, handles, values| D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: 0x40,
        ObjectCount: count,
        ObjectHandleArray: handles,
        FenceValueArray: values,
        ..Default::default()
    };
    let number = N::WaitForSynchronizationObjectFromCpu;
    cases.push(case(
        "no object",
        number,
        cpu_wait(0, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        cpu_wait(33, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "object handles",
        number,
        cpu_wait(1, BAD, USER_BASE),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        cpu_wait(1, USER_BASE, BAD),
        AV,
    ));
    let gpu_wait = |count, handles, values| D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: 0x40,
        ObjectCount: count,
        ObjectHandleArray: handles,
        MonitoredFenceValueArray: values,
        ..Default::default()
    };
    let number = N::WaitForSynchronizationObjectFromGpu;
    cases.push(case(
        "no object",
        number,
        gpu_wait(0, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        gpu_wait(33, USER_BASE, USER_BASE),
        IP,
    ));
    cases.push(case(
        "object handles",
        number,
        gpu_wait(1, BAD, USER_BASE),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        gpu_wait(1, USER_BASE, BAD),
        AV,
    ));
    cases.extend(super::invalid_extended::cases());
    cases.extend(super::invalid_sharing::cases());
    cases
}

/// The fake environment with the allocation infos the CreateAllocation2 cases point at.
fn environment_for_cases() -> FakeEnvironment {
    let environment = environment();
    put(
        &environment,
        USER_BASE + 0x1000,
        &D3DDDI_ALLOCATIONINFO2::default(),
    );
    put(
        &environment,
        USER_BASE + 0x2000,
        &D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: BAD,
            PrivateDriverDataSize: 8,
            ..Default::default()
        },
    );
    let half = D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: USER_BASE,
        PrivateDriverDataSize: 64 * 1024 + 1,
        ..Default::default()
    };
    put(&environment, USER_BASE + 0x3000, &[half, half][..]);
    let sysmem = |address| D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: address,
        ..Default::default()
    };
    put(&environment, USER_BASE + 0x4000, &sysmem(USER_BASE + 0x10));
    let page = USER_BASE + 0x9000;
    put(
        &environment,
        USER_BASE + 0x5000,
        &[sysmem(page), sysmem(0)][..],
    );
    put(
        &environment,
        USER_BASE + 0x6000,
        &[sysmem(0), sysmem(page)][..],
    );
    put(&environment, USER_BASE + 0x7000, &sysmem(READ_ONLY));
    put(&environment, USER_BASE + 0x8000, &sysmem(BAD));
    environment
        .memory
        .poke(READ_ONLY, D3DDDI_ALLOCATIONINFO2::default().as_bytes())
        .unwrap();
    environment
}

#[test]
fn wrong_sizes_are_refused_for_every_call_before_anything_else() {
    let (mut translator, _) = fresh();
    let mut environment = environment();
    for entry in D3DKMT_CALLS {
        for size in [0, entry.argument_size - 1, entry.argument_size + 1, 4096] {
            let mut bytes = vec![0u8; size];
            assert_eq!(
                translator.call(&mut environment, entry.number as u32, &mut bytes, 0),
                STATUS_INFO_LENGTH_MISMATCH,
                "{} with {size} bytes",
                entry.export
            );
        }
    }
    assert!(environment.requests.is_empty(), "not even CreateProcess");
}

#[test]
fn bad_pointers_and_counts_fail_with_their_status() {
    let mut covered = std::collections::BTreeSet::new();
    for mut case in cases() {
        let (mut translator, _) = fresh();
        let mut environment = environment_for_cases();
        let status = translator.call(&mut environment, case.number as u32, &mut case.arguments, 0);
        assert_eq!(
            status, case.expected,
            "{:?}: {} gives {status:#x}",
            case.number, case.what
        );
        let sent = environment.sent();
        if case.after_request {
            assert!(!sent.is_empty(), "{:?}: {}", case.number, case.what);
        } else {
            assert!(
                sent.is_empty(),
                "{:?}: {} reached the GPU: {sent:?}",
                case.number,
                case.what
            );
        }
        assert!(
            environment.live_mappings().is_empty(),
            "{:?}: {} left a mapping",
            case.number,
            case.what
        );
        covered.insert(case.number as u32);
    }
    // Every served call whose struct holds a nested pointer or a count has cases.
    let with_pointers = [
        N::EnumAdapters2,
        N::EnumAdapters3,
        N::QueryAdapterInfo,
        N::Escape,
        N::CreateContextVirtual,
        N::SubmitCommand,
        N::CreateAllocation2,
        N::DestroyAllocation2,
        N::MakeResident,
        N::Evict,
        N::SignalSynchronizationObjectFromCpu,
        N::SignalSynchronizationObjectFromGpu,
        N::SignalSynchronizationObjectFromGpu2,
        N::WaitForSynchronizationObjectFromCpu,
        N::WaitForSynchronizationObjectFromGpu,
        N::UpdateGpuVirtualAddress,
        N::CreateHwQueue,
        N::SubmitCommandToHwQueue,
        N::SubmitSignalSyncObjectsToHwQueue,
        N::SubmitWaitForSyncObjectsToHwQueue,
        N::SetAllocationPriority,
        N::GetAllocationPriority,
        N::QueryAllocationResidency,
        N::OfferAllocations,
        N::ReclaimAllocations2,
        N::ChangeVideoMemoryReservation,
        N::QueryStatistics,
        N::ShareObjectsInternal,
        N::OpenResourceFromNtHandle,
        N::OpenResource2,
    ];
    for number in with_pointers {
        assert!(covered.contains(&(number as u32)), "{number:?} has no case");
    }
}

/// A tiny deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn arbitrary_argument_bytes_never_panic() {
    let mut random = Random(0x1234_5678_9ABC_DEF1);
    let (mut translator, _) = fresh();
    let mut environment = environment_for_cases();
    for round in 0..40 {
        for entry in D3DKMT_CALLS {
            let mut bytes: Vec<u8> = (0..entry.argument_size)
                .map(|_| random.next() as u8)
                .collect();
            // Small counts and pointers into the fake's memory now and then.
            if round % 2 == 0 {
                for chunk in bytes.chunks_exact_mut(8) {
                    let value = match random.next() % 4 {
                        0 => USER_BASE + random.next() % 0x1000,
                        1 => random.next() % 4,
                        _ => continue,
                    };
                    chunk.copy_from_slice(&value.to_le_bytes());
                }
            }
            let status = translator.call(&mut environment, entry.number as u32, &mut bytes, 0);
            let _ = status;
            for filler in [0x00u8, 0xFF] {
                let mut bytes = vec![filler; entry.argument_size];
                translator.call(&mut environment, entry.number as u32, &mut bytes, u64::MAX);
            }
        }
    }
    translator.exit(&mut environment);
    assert!(environment.live_mappings().is_empty());
}
