//! The Requests built from argument structs, the outputs written back, and the lazy process.

use super::*;
use crate::{Served, UNSERVED_CALLS};
use alloc::string::String;
use dxg::core::{AllocationRequest, SyncObjectKind};
use dxg::wire::{CreateAllocationCommand, CreateContextVirtualCommand, DestroyAllocationCommand};
use dxg::wire::{EscapeCommand, EvictCommand, MakeResidentCommand};
use userlib::abi::flags::*;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::{D3DKMT_CALLS, SyscallNumber as N};
use zerocopy::FromZeros;

#[test]
fn create_process_is_sent_lazily_once_and_retried_after_a_failure() {
    let (mut translator, mut environment) = fresh();
    assert!(!translator.process_created());
    environment
        .scripted
        .push_back(Err(NtStatus::DEVICE_REMOVED));
    let mut close = D3DKMT_CLOSEADAPTER { hAdapter: 5 };
    assert_eq!(
        translator.run(&mut environment, N::CloseAdapter, &mut close),
        STATUS_DEVICE_REMOVED
    );
    assert_eq!(
        environment.requests,
        vec![(
            Request::CreateProcess {
                pid: 42,
                name: String::from("test")
            },
            Timeout::Infinite
        )],
        "the failed CreateProcess is the only request"
    );
    for _ in 0..2 {
        assert_eq!(
            translator.run(&mut environment, N::CloseAdapter, &mut close),
            STATUS_SUCCESS
        );
    }
    let creates = environment
        .requests
        .iter()
        .filter(|(request, _)| matches!(request, Request::CreateProcess { .. }))
        .count();
    assert_eq!(creates, 2, "retried once, then never again");
    assert!(translator.process_created());
    assert_eq!(
        environment.sent(),
        vec![
            Request::CloseAdapter { adapter: handle(5) },
            Request::CloseAdapter { adapter: handle(5) }
        ]
    );
}

#[test]
fn unknown_numbers_and_process_calls_are_invalid_system_services() {
    let (mut translator, mut environment) = fresh();
    for number in [0, 0x46, 0x49, 0x100, 0x105, 0x106, 0xFFFF_FFFF] {
        let mut bytes = [0u8; 8];
        assert_eq!(
            translator.call(&mut environment, number, &mut bytes, 0),
            STATUS_INVALID_SYSTEM_SERVICE,
            "{number:#x}"
        );
    }
    assert!(environment.requests.is_empty());
}

#[test]
fn every_call_is_either_served_or_listed_as_unserved() {
    for entry in D3DKMT_CALLS {
        let number = entry.number as u32;
        let unserved = UNSERVED_CALLS.iter().filter(|(n, _)| *n == number).count();
        let served = crate::served_calls().filter(|n| *n == number).count();
        assert_eq!(served + unserved, 1, "{} ({number:#x})", entry.export);
    }
    assert_eq!(
        UNSERVED_CALLS.len() + crate::served_calls().count(),
        D3DKMT_CALLS.len()
    );
    for (number, reason) in UNSERVED_CALLS {
        let entry = D3DKMT_CALLS
            .iter()
            .find(|entry| entry.number as u32 == *number)
            .expect("an unserved number is a D3DKMT call");
        // The reason starts with the call's name (the export without "D3DKMT").
        assert!(
            reason.starts_with(&entry.export["D3DKMT".len()..]),
            "{reason} for {}",
            entry.export
        );
    }
}

#[test]
fn unserved_calls_answer_not_supported_without_any_request() {
    let (mut translator, mut environment) = fresh();
    for (number, _) in UNSERVED_CALLS {
        let size = N::from_raw(u64::from(*number))
            .unwrap()
            .argument_size()
            .unwrap();
        let mut bytes = vec![0u8; size];
        assert_eq!(
            translator.call(&mut environment, *number, &mut bytes, 0),
            STATUS_NOT_SUPPORTED
        );
        assert!(bytes.iter().all(|byte| *byte == 0), "arguments untouched");
    }
    assert!(environment.requests.is_empty(), "not even CreateProcess");
}

#[test]
fn submit_command_carries_contexts_private_data_and_history_buffers() {
    let (mut translator, mut environment) = started();
    let stream: Vec<u8> = (0..40u8).collect();
    put(&environment, USER_BASE, stream.as_slice());
    put(&environment, USER_BASE + 0x100, &[0x40u32, 0x80][..]);
    let mut submit = D3DKMT_SUBMITCOMMAND {
        Commands: 0xABC0_0000,
        CommandLength: 64,
        BroadcastContextCount: 2,
        pPrivateDriverData: USER_BASE,
        PrivateDriverDataSize: 40,
        NumHistoryBuffers: 2,
        HistoryBufferArray: USER_BASE + 0x100,
        ..Default::default()
    };
    submit.BroadcastContext[0] = 0x1000;
    submit.BroadcastContext[1] = 0x2000;
    submit.BroadcastContext[2] = 0x3000; // beyond the count: not sent
    assert_eq!(
        translator.run(&mut environment, N::SubmitCommand, &mut submit),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.last(),
        Request::SubmitCommand {
            contexts: vec![handle(0x1000), handle(0x2000)],
            command_buffer: 0xABC0_0000,
            command_length: 64,
            private_data: stream,
            history_buffers: vec![handle(0x40), handle(0x80)],
        }
    );
    assert_eq!(environment.requests.last().unwrap().1, Timeout::Infinite);
}

fn wait_arguments(
    environment: &FakeEnvironment,
    flags: u32,
) -> D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
    put(environment, USER_BASE, &[0x11u32, 0x22][..]);
    put(environment, USER_BASE + 0x40, &[7u64, 9][..]);
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: 0x500,
        ObjectCount: 2,
        ObjectHandleArray: USER_BASE,
        FenceValueArray: USER_BASE + 0x40,
        Flags: flags,
        ..Default::default()
    }
}

#[test]
fn cpu_waits_convert_the_timeout_and_report_status_timeout() {
    let (mut translator, mut environment) = started();
    let number = N::WaitForSynchronizationObjectFromCpu as u32;
    let mut wait = wait_arguments(
        &environment,
        D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_WAIT_ANY,
    );
    assert_eq!(
        call(&mut translator, &mut environment, number, &mut wait, 1500),
        STATUS_SUCCESS
    );
    assert_eq!(
        environment.requests.last().unwrap().clone(),
        (
            Request::WaitFromCpu {
                device: handle(0x500),
                objects: vec![handle(0x11), handle(0x22)],
                values: vec![7, 9],
                wait_any: true,
            },
            Timeout::Microseconds(1500)
        )
    );
    let mut wait = wait_arguments(&environment, 0);
    assert_eq!(
        call(
            &mut translator,
            &mut environment,
            number,
            &mut wait,
            u64::MAX
        ),
        STATUS_SUCCESS
    );
    let (request, timeout) = environment.requests.last().unwrap().clone();
    assert_eq!(timeout, Timeout::Infinite);
    assert!(matches!(
        request,
        Request::WaitFromCpu {
            wait_any: false,
            ..
        }
    ));
    // A poll that times out.
    environment.scripted.push_back(Err(NtStatus::TIMEOUT));
    assert_eq!(
        translator.run(&mut environment, number, &mut wait),
        STATUS_TIMEOUT
    );
    assert_eq!(
        environment.requests.last().unwrap().1,
        Timeout::Microseconds(0)
    );
    // Waits that would signal an event are not supported.
    wait.hAsyncEvent = 3;
    let before = environment.requests.len();
    assert_eq!(
        translator.run(&mut environment, number, &mut wait),
        STATUS_NOT_SUPPORTED
    );
    assert_eq!(environment.requests.len(), before);
}

/// `serve` leaves a CPU wait's request to the caller (the kernel waits without holding the
/// process) and sends nothing itself; its finishing step maps the reply as `call` does. A wait
/// refused by its checks is done at once.
#[test]
fn serve_leaves_the_cpu_wait_to_the_caller() {
    let (mut translator, mut environment) = started();
    let number = N::WaitForSynchronizationObjectFromCpu as u32;
    let wait = wait_arguments(&environment, 0);
    let mut bytes = wait.as_bytes().to_vec();
    let Served::Wait(host_wait) = translator.serve(&mut environment, number, &mut bytes, 2500)
    else {
        panic!("a valid CPU wait must be left to the caller");
    };
    assert!(
        environment.requests.is_empty(),
        "serve sent the wait itself"
    );
    assert_eq!(bytes, wait.as_bytes(), "the wait's struct is not changed");
    assert_eq!(host_wait.timeout, Timeout::Microseconds(2500));
    assert_eq!(
        host_wait.request,
        Request::WaitFromCpu {
            device: handle(0x500),
            objects: vec![handle(0x11), handle(0x22)],
            values: vec![7, 9],
            wait_any: false,
        }
    );
    // Made, it maps the reply as `call` does.
    assert_eq!(host_wait.wait(&mut environment), STATUS_SUCCESS);
    let replies = [
        (Err(NtStatus::TIMEOUT), STATUS_TIMEOUT),
        (
            Ok(Reply::Status(NtStatus::INVALID_HANDLE)),
            NtStatus::INVALID_HANDLE.0,
        ),
        (Err(NtStatus::DEVICE_REMOVED), NtStatus::DEVICE_REMOVED.0),
        (
            Ok(Reply::Evicted { bytes_to_trim: 7 }),
            NtStatus::UNSUCCESSFUL.0,
        ),
    ];
    for (reply, expected) in replies {
        let mut bytes = wait.as_bytes().to_vec();
        let Served::Wait(host_wait) = translator.serve(&mut environment, number, &mut bytes, 2500)
        else {
            panic!("a valid CPU wait must be left to the caller");
        };
        environment.scripted.push_back(reply);
        assert_eq!(host_wait.wait(&mut environment), expected);
    }
    // Refused by its checks: done, nothing to wait for.
    let mut refused = wait_arguments(&environment, 0);
    refused.ObjectCount = 0;
    let mut bytes = refused.as_bytes().to_vec();
    assert!(matches!(
        translator.serve(&mut environment, number, &mut bytes, 2500),
        Served::Done(status) if status == STATUS_INVALID_PARAMETER
    ));
    // Other calls are done by `serve` as by `call`.
    let close = D3DKMT_CLOSEADAPTER { hAdapter: 1 };
    let mut bytes = close.as_bytes().to_vec();
    let served = translator.serve(&mut environment, N::CloseAdapter as u32, &mut bytes, 0);
    assert!(matches!(served, Served::Done(0)));
    assert!(matches!(
        environment.requests.last().map(|(request, _)| request),
        Some(Request::CloseAdapter { .. })
    ));
}

/// The calls whose reply the host may hold back until GPU work is done (which may wait for a
/// fence another thread of the process signals from the CPU) leave their last request to the
/// caller, as the CPU wait does: `serve` sends nothing for it, and the wait maps the reply as
/// `gpu_status` would.
#[test]
fn serve_leaves_a_status_the_gpu_may_hold_to_the_caller() {
    let (mut translator, mut environment) = started();
    let mut submit_command: D3DKMT_SUBMITCOMMAND = FromZeros::new_zeroed();
    submit_command.BroadcastContextCount = 1;
    submit_command.BroadcastContext[0] = 0x700;
    let mut to_queue: D3DKMT_SUBMITCOMMANDTOHWQUEUE = FromZeros::new_zeroed();
    to_queue.hHwQueue = 0x900;
    to_queue.HwQueueProgressFenceId = 3;
    type Expected = fn(&Request) -> bool;
    let calls: [(N, Vec<u8>, Expected); 5] = [
        (
            N::DestroyDevice,
            D3DKMT_DESTROYDEVICE { hDevice: 0x500 }.as_bytes().to_vec(),
            |request| matches!(request, Request::DestroyDevice { device } if device.0 == 0x500),
        ),
        (
            N::DestroyContext,
            D3DKMT_DESTROYCONTEXT { hContext: 0x700 }
                .as_bytes()
                .to_vec(),
            |request| matches!(request, Request::DestroyContext { context } if context.0 == 0x700),
        ),
        (
            N::DestroyHwQueue,
            D3DKMT_DESTROYHWQUEUE { hHwQueue: 0x900 }
                .as_bytes()
                .to_vec(),
            |request| matches!(request, Request::DestroyHwQueue { hwqueue } if hwqueue.0 == 0x900),
        ),
        (
            N::SubmitCommand,
            submit_command.as_bytes().to_vec(),
            |request| {
                matches!(request, Request::SubmitCommand { contexts, .. }
                    if contexts.len() == 1 && contexts[0].0 == 0x700)
            },
        ),
        (
            N::SubmitCommandToHwQueue,
            to_queue.as_bytes().to_vec(),
            |request| {
                matches!(request, Request::SubmitCommandToHwQueue { command, .. }
                    if command.hwqueue.0 == 0x900 && command.progress_fence_id == 3)
            },
        ),
    ];
    let replies = [
        (Ok(Reply::Status(NtStatus::SUCCESS)), STATUS_SUCCESS),
        (
            Ok(Reply::Status(NtStatus::INVALID_HANDLE)),
            NtStatus::INVALID_HANDLE.0,
        ),
        (Err(NtStatus::DEVICE_REMOVED), NtStatus::DEVICE_REMOVED.0),
        (Ok(Reply::WaitCompleted), NtStatus::UNSUCCESSFUL.0),
    ];
    for (number, arguments, expected) in calls {
        for (reply, status) in replies.clone() {
            let mut bytes = arguments.clone();
            let sent = environment.requests.len();
            let Served::Wait(host_wait) =
                translator.serve(&mut environment, number as u32, &mut bytes, 0)
            else {
                panic!("{number:?} must leave its request to the caller");
            };
            assert_eq!(
                environment.requests.len(),
                sent,
                "{number:?} sent it itself"
            );
            assert_eq!(bytes, arguments, "{number:?} changed its struct");
            assert!(
                expected(&host_wait.request),
                "{number:?}: {:?}",
                host_wait.request
            );
            assert_eq!(host_wait.timeout, Timeout::Infinite);
            environment.scripted.push_back(reply);
            assert_eq!(host_wait.wait(&mut environment), status, "{number:?}");
        }
    }
}

#[test]
fn signals_and_gpu_waits_carry_objects_and_values() {
    let (mut translator, mut environment) = started();
    put(&environment, USER_BASE, &[0x11u32, 0x22][..]);
    put(&environment, USER_BASE + 0x40, &[7u64, 9][..]);
    put(&environment, USER_BASE + 0x80, &[0x700u32][..]);
    let mut from_gpu = D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: 0x700,
        ObjectCount: 2,
        ObjectHandleArray: USER_BASE,
        MonitoredFenceValueArray: USER_BASE + 0x40,
        ..Default::default()
    };
    let expected = Request::SignalFromGpu {
        context: handle(0x700),
        objects: vec![handle(0x11), handle(0x22)],
        values: vec![7, 9],
    };
    let number = N::SignalSynchronizationObjectFromGpu as u32;
    assert_eq!(translator.run(&mut environment, number, &mut from_gpu), 0);
    assert_eq!(environment.last(), expected);

    let mut from_gpu2 = D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 {
        ObjectCount: 2,
        ObjectHandleArray: USER_BASE,
        BroadcastContextCount: 1,
        BroadcastContextArray: USER_BASE + 0x80,
        FenceValue: USER_BASE + 0x40,
        ..Default::default()
    };
    let number = N::SignalSynchronizationObjectFromGpu2 as u32;
    assert_eq!(translator.run(&mut environment, number, &mut from_gpu2), 0);
    assert_eq!(environment.last(), expected);
    from_gpu2.BroadcastContextCount = 2;
    assert_eq!(
        translator.run(&mut environment, number, &mut from_gpu2),
        STATUS_NOT_SUPPORTED
    );

    let mut from_cpu = D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: 0x500,
        ObjectCount: 1,
        ObjectHandleArray: USER_BASE + 4,
        FenceValueArray: USER_BASE + 0x48,
        ..Default::default()
    };
    let number = N::SignalSynchronizationObjectFromCpu as u32;
    assert_eq!(translator.run(&mut environment, number, &mut from_cpu), 0);
    assert_eq!(
        environment.last(),
        Request::SignalFromCpu {
            device: handle(0x500),
            objects: vec![handle(0x22)],
            values: vec![9],
        }
    );

    let mut wait = D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: 0x700,
        ObjectCount: 2,
        ObjectHandleArray: USER_BASE,
        MonitoredFenceValueArray: USER_BASE + 0x40,
        ..Default::default()
    };
    let number = N::WaitForSynchronizationObjectFromGpu as u32;
    assert_eq!(translator.run(&mut environment, number, &mut wait), 0);
    assert_eq!(
        environment.last(),
        Request::WaitFromGpu {
            context: handle(0x700),
            objects: vec![handle(0x11), handle(0x22)],
            values: vec![7, 9],
        }
    );
}

#[test]
fn enum_adapters2_counts_fills_and_refuses_small_buffers() {
    let (mut translator, mut environment) = started();
    let number = N::EnumAdapters2 as u32;
    // Count query: the handles the core opened are closed again.
    let mut query = D3DKMT_ENUMADAPTERS2::default();
    assert_eq!(translator.run(&mut environment, number, &mut query), 0);
    assert_eq!(query.NumAdapters, 2);
    assert_eq!(
        environment.sent(),
        vec![
            Request::EnumAdapters,
            Request::CloseAdapter {
                adapter: D3dkmtHandle::new(1, 1, 0)
            },
            Request::CloseAdapter {
                adapter: D3dkmtHandle::new(2, 1, 0)
            },
        ]
    );
    // Too small.
    let mut small = D3DKMT_ENUMADAPTERS2 {
        NumAdapters: 1,
        pAdapters: USER_BASE,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, number, &mut small),
        STATUS_BUFFER_TOO_SMALL
    );
    assert_eq!(small.NumAdapters, 2);
    assert_eq!(get::<u32>(&environment, USER_BASE), 0, "nothing written");
    // Enough room.
    let mut full = D3DKMT_ENUMADAPTERS2 {
        NumAdapters: 8,
        pAdapters: USER_BASE,
        ..Default::default()
    };
    environment.requests.clear();
    assert_eq!(translator.run(&mut environment, number, &mut full), 0);
    assert_eq!(full.NumAdapters, 2);
    assert_eq!(environment.sent(), vec![Request::EnumAdapters]);
    let second: D3DKMT_ADAPTERINFO = get(&environment, USER_BASE + 20);
    assert_eq!(second.hAdapter, D3dkmtHandle::new(2, 1, 0).0);
    assert_eq!(
        (second.AdapterLuid.LowPart, second.AdapterLuid.HighPart),
        (0x2222, 0)
    );
    // EnumAdapters3 with a zero count is a count query.
    let mut three = D3DKMT_ENUMADAPTERS3 {
        pAdapters: USER_BASE,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::EnumAdapters3, &mut three),
        0
    );
    assert_eq!(three.NumAdapters, 2);
}

#[test]
fn query_adapter_info_and_escape_copy_the_buffer_in_and_the_reply_out() {
    let (mut translator, mut environment) = started();
    put(&environment, USER_BASE, &[1u8, 2, 3, 4][..]);
    let mut query = D3DKMT_QUERYADAPTERINFO {
        hAdapter: 0x40,
        Type: KMTQAITYPE_ADAPTERTYPE_RENDER,
        pPrivateDriverData: USER_BASE,
        PrivateDriverDataSize: 4,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::QueryAdapterInfo, &mut query),
        0
    );
    assert_eq!(
        environment.last(),
        Request::QueryAdapterInfo {
            adapter: handle(0x40),
            query_type: 57,
            data: vec![1, 2, 3, 4]
        }
    );
    assert_eq!(
        get::<[u8; 4]>(&environment, USER_BASE),
        [0xFE, 0xFD, 0xFC, 0xFB]
    );

    let mut escape = D3DKMT_ESCAPE {
        hAdapter: 0x40,
        hDevice: 0x80,
        Type: 0,
        Flags: 0x40,
        pPrivateDriverData: USER_BASE,
        PrivateDriverDataSize: 3,
        hContext: 0xC0,
    };
    assert_eq!(translator.run(&mut environment, N::Escape, &mut escape), 0);
    assert_eq!(
        environment.last(),
        Request::Escape {
            command: EscapeCommand {
                adapter: handle(0x40),
                device: handle(0x80),
                context: handle(0xC0),
                escape_type: 0,
                flags: 0x40,
                ..FromZeros::new_zeroed()
            },
            data: vec![0xFE, 0xFD, 0xFC]
        }
    );
    assert_eq!(
        get::<[u8; 4]>(&environment, USER_BASE),
        [0xFC, 0xFD, 0xFE, 0xFB]
    );
}

#[test]
fn devices_contexts_and_queries_fill_their_outputs() {
    let (mut translator, mut environment) = started();
    let mut open = D3DKMT_OPENADAPTERFROMLUID {
        AdapterLuid: LUID {
            LowPart: 0x1234,
            HighPart: -1,
        },
        hAdapter: 0,
    };
    assert_eq!(
        translator.run(&mut environment, N::OpenAdapterFromLuid, &mut open),
        0
    );
    assert_eq!(
        environment.last(),
        Request::OpenAdapterFromLuid {
            luid: Luid {
                low: 0x1234,
                high: 0xFFFF_FFFF
            }
        }
    );
    assert_eq!(open.hAdapter, D3dkmtHandle::new(3, 1, 0).0);

    let mut device = D3DKMT_CREATEDEVICE {
        hAdapter: open.hAdapter,
        Flags: 2,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::CreateDevice, &mut device),
        0
    );
    assert_eq!(
        environment.last(),
        Request::CreateDevice {
            adapter: handle(open.hAdapter),
            flags: 2
        }
    );
    assert_ne!(device.hDevice, 0);

    put(&environment, USER_BASE, &[9u8, 8, 7][..]);
    let mut context = D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: device.hDevice,
        NodeOrdinal: 1,
        EngineAffinity: 2,
        Flags: 4,
        pPrivateDriverData: USER_BASE,
        PrivateDriverDataSize: 3,
        ClientHint: D3DKMT_CLIENTHINT_DX12,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::CreateContextVirtual, &mut context),
        0
    );
    assert_eq!(
        environment.last(),
        Request::CreateContext {
            command: CreateContextVirtualCommand {
                device: handle(device.hDevice),
                node_ordinal: 1,
                engine_affinity: 2,
                flags: 4,
                client_hint: 12,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![9, 8, 7]
        }
    );
    assert_ne!(context.hContext, 0);
    assert_eq!(
        get::<[u8; 3]>(&environment, USER_BASE),
        [10, 9, 8],
        "host data copied back"
    );

    let mut state = D3DKMT_GETDEVICESTATE {
        hDevice: device.hDevice,
        StateType: D3DKMT_DEVICESTATE_EXECUTION,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::GetDeviceState, &mut state),
        0
    );
    assert_eq!(state.ExecutionState, D3DKMT_DEVICEEXECUTION_ACTIVE);

    let mut memory = D3DKMT_QUERYVIDEOMEMORYINFO {
        hAdapter: open.hAdapter,
        MemorySegmentGroup: 1,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::QueryVideoMemoryInfo, &mut memory),
        0
    );
    assert_eq!(
        (
            memory.Budget,
            memory.CurrentUsage,
            memory.CurrentReservation,
            memory.AvailableForReservation
        ),
        (1, 2, 3, 4)
    );
    memory.hProcess = 77;
    assert_eq!(
        translator.run(&mut environment, N::QueryVideoMemoryInfo, &mut memory),
        STATUS_INVALID_PARAMETER,
        "another process's budget"
    );

    put(&environment, USER_BASE, &[0x40u32, 0x80][..]);
    let mut resident = D3DDDI_MAKERESIDENT {
        hPagingQueue: 0x300,
        NumAllocations: 2,
        AllocationList: USER_BASE,
        Flags: 1,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::MakeResident, &mut resident),
        STATUS_PENDING
    );
    assert_eq!(
        environment.last(),
        Request::MakeResident {
            command: MakeResidentCommand {
                paging_queue: handle(0x300),
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![handle(0x40), handle(0x80)]
        }
    );
    assert_eq!((resident.PagingFenceValue, resident.NumBytesToTrim), (5, 6));
    let mut evict = D3DKMT_EVICT {
        hDevice: device.hDevice,
        NumAllocations: 1,
        AllocationList: USER_BASE + 4,
        Flags: 2,
        ..Default::default()
    };
    assert_eq!(translator.run(&mut environment, N::Evict, &mut evict), 0);
    assert_eq!(
        environment.last(),
        Request::Evict {
            command: EvictCommand {
                device: handle(device.hDevice),
                flags: 2,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![handle(0x80)]
        }
    );
    assert_eq!(evict.NumBytesToTrim, 7);
}

#[test]
fn a_failed_request_leaves_the_outputs_alone_and_passes_its_status_through() {
    let (mut translator, mut environment) = started();
    let mut device = D3DKMT_CREATEDEVICE {
        hAdapter: 0x40,
        ..Default::default()
    };
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_HANDLE));
    assert_eq!(
        translator.run(&mut environment, N::CreateDevice, &mut device),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(device.hDevice, 0);
    // A reply of the wrong kind is a failure, not a panic.
    environment.scripted.push_back(Ok(Reply::WaitCompleted));
    assert_eq!(
        translator.run(&mut environment, N::CreateDevice, &mut device),
        STATUS_UNSUCCESSFUL
    );
}

#[test]
fn create_allocation2_sends_each_allocation_and_writes_the_handles_back() {
    let (mut translator, mut environment) = started();
    let infos = USER_BASE;
    let private = USER_BASE + 0x1000;
    put(&environment, private, &[20_000u64, 100][..]);
    put(&environment, USER_BASE + 0x2000, &[0xAAu8; 5][..]);
    let allocation_infos = [
        D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: private,
            PrivateDriverDataSize: 8,
            VidPnSourceId: 1,
            Flags: 1,
            GpuVirtualAddress: 0xDEAD,
            ..Default::default()
        },
        D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: private + 8,
            PrivateDriverDataSize: 8,
            ..Default::default()
        },
    ];
    put(&environment, infos, &allocation_infos[..]);
    let mut create = D3DKMT_CREATEALLOCATION {
        hDevice: 0x500,
        pPrivateDriverData: USER_BASE + 0x2000,
        PrivateDriverDataSize: 5,
        NumAllocations: 2,
        pAllocationInfo2: infos,
        ..Default::default()
    };
    assert_eq!(
        translator.run(&mut environment, N::CreateAllocation2, &mut create),
        0
    );
    assert_eq!(
        environment.last(),
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device: handle(0x500),
                resource: D3dkmtHandle::NULL,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![0xAA; 5],
            allocations: vec![
                AllocationRequest {
                    flags: 1,
                    vidpn_source_id: 1,
                    private_data: 20_000u64.to_le_bytes().to_vec()
                },
                AllocationRequest {
                    flags: 0,
                    vidpn_source_id: 0,
                    private_data: 100u64.to_le_bytes().to_vec()
                },
            ],
        }
    );
    let written: [D3DDDI_ALLOCATIONINFO2; 2] = get(&environment, infos);
    assert_ne!(written[0].hAllocation, 0);
    assert_ne!(written[1].hAllocation, 0);
    assert_ne!(written[0].hAllocation, written[1].hAllocation);
    assert_eq!(written[0].GpuVirtualAddress, 0, "no GPU VA known");
    assert_eq!(written[0].pPrivateDriverData, private, "inputs kept");
    assert_eq!(create.hResource, 0);

    // The info array is read-only: the allocations are destroyed again.
    environment.memory.map(infos, 4096, false);
    environment.requests.clear();
    assert_eq!(
        translator.run(&mut environment, N::CreateAllocation2, &mut create),
        STATUS_ACCESS_VIOLATION
    );
    let sent = environment.sent();
    assert_eq!(sent.len(), 2);
    let Request::CreateAllocation { .. } = sent[0] else {
        panic!("{sent:?}")
    };
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
    assert_eq!(
        (device, resource, allocations.len()),
        (handle(0x500), D3dkmtHandle::NULL, 2)
    );
    assert_eq!(flags, D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE);

    // System memory on some allocations only is refused before anything is sent (Linux: all
    // or none; served calls are in tests/existing_sysmem.rs).
    environment.memory.map(infos, 4096, true);
    let mut sysmem = allocation_infos;
    sysmem[1].pSystemMem = USER_BASE + 0x8000;
    put(&environment, infos, &sysmem[..]);
    environment.requests.clear();
    assert_eq!(
        translator.run(&mut environment, N::CreateAllocation2, &mut create),
        STATUS_INVALID_PARAMETER
    );
    assert!(environment.sent().is_empty());
}

#[test]
fn create_allocation2_treats_a_short_reply_as_a_failure_and_cleans_up() {
    let (mut translator, mut environment) = started();
    put(
        &environment,
        USER_BASE,
        &[D3DDDI_ALLOCATIONINFO2::default(); 2][..],
    );
    let mut create = D3DKMT_CREATEALLOCATION {
        hDevice: 0x500,
        NumAllocations: 2,
        pAllocationInfo2: USER_BASE,
        ..Default::default()
    };
    environment.scripted.push_back(Ok(Reply::Allocations {
        resource: D3dkmtHandle::NULL,
        allocations: vec![CreatedAllocation {
            handle: handle(0x4440),
            size: 4096,
            flags: 0,
        }],
    }));
    assert_eq!(
        translator.run(&mut environment, N::CreateAllocation2, &mut create),
        STATUS_UNSUCCESSFUL
    );
    assert_eq!(
        environment.last(),
        Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device: handle(0x500),
                resource: D3dkmtHandle::NULL,
                flags: D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![handle(0x4440)]
        }
    );
}

#[test]
fn sync_object_kinds_come_from_the_union() {
    let (mut translator, mut environment) = started();
    let number = N::CreateSynchronizationObject2 as u32;
    let cases = [
        (
            D3DDDI_SYNCHRONIZATION_MUTEX,
            1u64,
            SyncObjectKind::Mutex {
                initial_state: true,
            },
        ),
        (
            D3DDDI_SEMAPHORE,
            5 | 2 << 32,
            SyncObjectKind::Semaphore {
                max_count: 5,
                initial_count: 2,
            },
        ),
        (
            D3DDDI_FENCE,
            77,
            SyncObjectKind::Fence { initial_value: 77 },
        ),
        (D3DDDI_CPU_NOTIFICATION, 0, SyncObjectKind::CpuNotification),
    ];
    for (object_type, union_start, kind) in cases {
        let mut create = D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
            hDevice: 0x500,
            ..Default::default()
        };
        create.Info.Type = object_type;
        create.Info.Flags = 0x20;
        create.Info.InitialFenceValue = union_start;
        assert_eq!(translator.run(&mut environment, number, &mut create), 0);
        assert_eq!(
            environment.last(),
            Request::CreateSyncObject {
                device: handle(0x500),
                kind,
                flags: 0x20
            }
        );
        assert_ne!(create.hSyncObject, 0);
        assert_eq!(
            create.Info.FenceValueCPUVirtualAddress, 0,
            "no page for {kind:?}"
        );
    }
    assert!(environment.maps.is_empty());
    let mut periodic = D3DKMT_CREATESYNCHRONIZATIONOBJECT2::default();
    periodic.Info.Type = D3DDDI_PERIODIC_MONITORED_FENCE;
    assert_eq!(
        translator.run(&mut environment, number, &mut periodic),
        STATUS_NOT_SUPPORTED
    );
    periodic.Info.Type = 99;
    assert_eq!(
        translator.run(&mut environment, number, &mut periodic),
        STATUS_INVALID_PARAMETER
    );
}
