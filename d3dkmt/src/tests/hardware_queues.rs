//! Hardware queues (their progress-fence views, submissions, GPU signals and waits) and
//! context scheduling priorities.

use super::*;
use dxg::wire::{
    CreateHwQueueCommand, GetContextSchedulingPriorityCommand, SetContextSchedulingPriorityCommand,
    SubmitCommandToHwQueueCommand,
};
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

/// A device and a context on it, through the translator (so their owners are recorded).
fn device_and_context(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
) -> (u32, u32) {
    let device = create_device(translator, environment, 1);
    let mut context = D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: device,
        ..Default::default()
    };
    assert_eq!(
        translator.run(environment, N::CreateContextVirtual, &mut context),
        0
    );
    (device, context.hContext)
}

fn create_queue(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    context: u32,
) -> (i32, D3DKMT_CREATEHWQUEUE) {
    let mut queue = D3DKMT_CREATEHWQUEUE {
        hHwContext: context,
        ..Default::default()
    };
    let status = translator.run(environment, N::CreateHwQueue, &mut queue);
    (status, queue)
}

#[test]
fn create_hw_queue_maps_its_progress_fence_read_only_and_returns_the_private_data() {
    let (mut translator, mut environment) = started();
    let (_, context) = device_and_context(&mut translator, &mut environment);
    environment.requests.clear();
    put(&environment, USER_BASE, &[1u8, 2, 3, 4][..]);
    let mut queue = D3DKMT_CREATEHWQUEUE {
        hHwContext: context,
        Flags: 1,
        PrivateDriverDataSize: 4,
        pPrivateDriverData: USER_BASE,
        ..Default::default()
    };
    let number = N::CreateHwQueue as u32;
    assert_eq!(translator.run(&mut environment, number, &mut queue), 0);
    assert_eq!(
        environment.sent(),
        vec![Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context: handle(context),
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![1, 2, 3, 4]
        }]
    );
    assert_eq!(
        get::<[u8; 4]>(&environment, USER_BASE),
        [1 ^ 0x5A, 2 ^ 0x5A, 3 ^ 0x5A, 4 ^ 0x5A]
    );
    assert_ne!(queue.hHwQueue, 0);
    assert_ne!(queue.hHwQueueProgressFence, 0);
    assert_eq!(queue.HwQueueProgressFenceGPUVirtualAddress, 0xFACE_0000);
    let map = *environment.maps.last().unwrap();
    assert_eq!(
        (map.physical, map.length, map.writable),
        (IO_BASE + 0x3000, 4096, false)
    );
    assert_eq!(
        queue.HwQueueProgressFenceCPUVirtualAddress,
        map.user_address
    );
    assert_eq!(translator.mapped_views(), 1);

    // DestroyHwQueue unmaps the view before the request goes out.
    let mut destroy = D3DKMT_DESTROYHWQUEUE {
        hHwQueue: queue.hHwQueue,
    };
    environment.requests.clear();
    let number = N::DestroyHwQueue as u32;
    assert_eq!(translator.run(&mut environment, number, &mut destroy), 0);
    assert_eq!(
        environment.sent(),
        vec![Request::DestroyHwQueue {
            hwqueue: handle(queue.hHwQueue),
        }]
    );
    assert!(environment.live_mappings().is_empty());
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn a_hw_queue_view_goes_with_its_context_or_its_device() {
    let (mut translator, mut environment) = started();
    let (_, context) = device_and_context(&mut translator, &mut environment);
    let (status, _) = create_queue(&mut translator, &mut environment, context);
    assert_eq!(status, 0);
    let mut destroy = D3DKMT_DESTROYCONTEXT { hContext: context };
    let number = N::DestroyContext as u32;
    assert_eq!(translator.run(&mut environment, number, &mut destroy), 0);
    assert!(environment.live_mappings().is_empty());

    let (device, context) = device_and_context(&mut translator, &mut environment);
    let (status, _) = create_queue(&mut translator, &mut environment, context);
    assert_eq!(status, 0);
    assert_eq!(environment.live_mappings().len(), 1);
    let mut destroy = D3DKMT_DESTROYDEVICE { hDevice: device };
    let number = N::DestroyDevice as u32;
    assert_eq!(translator.run(&mut environment, number, &mut destroy), 0);
    assert!(environment.live_mappings().is_empty());
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn a_hw_queue_whose_view_or_private_data_fails_is_destroyed_again() {
    let (mut translator, mut environment) = started();
    let (_, context) = device_and_context(&mut translator, &mut environment);
    environment.requests.clear();
    environment.map_failure = Some(NtStatus::NO_MEMORY);
    let (status, queue) = create_queue(&mut translator, &mut environment, context);
    assert_eq!(status, NtStatus::NO_MEMORY.0);
    assert_eq!(queue.hHwQueue, 0);
    let sent = environment.sent();
    assert!(
        matches!(sent[1], Request::DestroyHwQueue { .. }),
        "{sent:?}"
    );
    environment.map_failure = None;

    // Private data that cannot be written back: the new view is removed too.
    let read_only = USER_BASE + 0x8_0000;
    environment.memory.map(read_only, 4096, false);
    environment.requests.clear();
    let mut queue = D3DKMT_CREATEHWQUEUE {
        hHwContext: context,
        PrivateDriverDataSize: 4,
        pPrivateDriverData: read_only,
        ..Default::default()
    };
    let number = N::CreateHwQueue as u32;
    assert_eq!(
        translator.run(&mut environment, number, &mut queue),
        STATUS_ACCESS_VIOLATION
    );
    assert_eq!(queue.hHwQueue, 0);
    assert!(matches!(environment.last(), Request::DestroyHwQueue { .. }));
    assert!(environment.live_mappings().is_empty());
    assert_eq!(translator.mapped_views(), 0);
}

#[test]
fn hw_queue_submissions_signals_and_waits_carry_their_arrays() {
    let (mut translator, mut environment) = started();
    put(&environment, USER_BASE, &[0x11u32, 0x22][..]);
    put(&environment, USER_BASE + 0x40, &[7u64, 9][..]);
    put(&environment, USER_BASE + 0x80, &[0x900u32, 0x901][..]);
    put(&environment, USER_BASE + 0xC0, &[0xAAu8; 6][..]);
    let mut submit = D3DKMT_SUBMITCOMMANDTOHWQUEUE {
        hHwQueue: 0x900,
        HwQueueProgressFenceId: 42,
        CommandBuffer: 0x1234_0000,
        CommandLength: 64,
        PrivateDriverDataSize: 6,
        pPrivateDriverData: USER_BASE + 0xC0,
        NumPrimaries: 2,
        WrittenPrimaries: USER_BASE,
        ..Default::default()
    };
    let number = N::SubmitCommandToHwQueue as u32;
    assert_eq!(translator.run(&mut environment, number, &mut submit), 0);
    assert_eq!(
        environment.last(),
        Request::SubmitCommandToHwQueue {
            command: SubmitCommandToHwQueueCommand {
                hwqueue: handle(0x900),
                progress_fence_id: 42,
                command_buffer: 0x1234_0000,
                command_length: 64,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![0xAA; 6],
            primaries: vec![handle(0x11), handle(0x22)]
        }
    );

    let mut signal = D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE {
        BroadcastHwQueueCount: 1,
        BroadcastHwQueueArray: USER_BASE + 0x80,
        ObjectCount: 2,
        ObjectHandleArray: USER_BASE,
        FenceValueArray: USER_BASE + 0x40,
        ..Default::default()
    };
    let number = N::SubmitSignalSyncObjectsToHwQueue as u32;
    assert_eq!(translator.run(&mut environment, number, &mut signal), 0);
    assert_eq!(
        environment.last(),
        Request::SignalFromGpu {
            context: handle(0x900),
            objects: vec![handle(0x11), handle(0x22)],
            values: vec![7, 9],
        }
    );
    let sent = environment.requests.len();
    signal.BroadcastHwQueueCount = 2;
    assert_eq!(
        translator.run(&mut environment, number, &mut signal),
        STATUS_NOT_SUPPORTED
    );
    signal.BroadcastHwQueueCount = 1;
    signal.Flags = 1;
    assert_eq!(
        translator.run(&mut environment, number, &mut signal),
        STATUS_NOT_SUPPORTED
    );
    assert_eq!(environment.requests.len(), sent);

    let mut wait = D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE {
        hHwQueue: 0x901,
        ObjectCount: 1,
        ObjectHandleArray: USER_BASE + 4,
        FenceValueArray: USER_BASE + 0x48,
    };
    let number = N::SubmitWaitForSyncObjectsToHwQueue as u32;
    assert_eq!(translator.run(&mut environment, number, &mut wait), 0);
    assert_eq!(
        environment.last(),
        Request::WaitFromGpu {
            context: handle(0x901),
            objects: vec![handle(0x22)],
            values: vec![9],
        }
    );
}

#[test]
fn context_priorities_are_set_and_read_in_both_flavours() {
    let (mut translator, mut environment) = started();
    let mut set = D3DKMT_SETCONTEXTSCHEDULINGPRIORITY {
        hContext: 0x700,
        Priority: 5,
    };
    let number = N::SetContextSchedulingPriority as u32;
    assert_eq!(translator.run(&mut environment, number, &mut set), 0);
    assert_eq!(
        environment.last(),
        Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
            context: handle(0x700),
            priority: 5,
            in_process: 0,
            ..FromZeros::new_zeroed()
        })
    );
    let mut set = D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        hContext: 0x700,
        Priority: -2,
    };
    let number = N::SetContextInProcessSchedulingPriority as u32;
    assert_eq!(translator.run(&mut environment, number, &mut set), 0);
    assert_eq!(
        environment.last(),
        Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
            context: handle(0x700),
            priority: -2,
            in_process: 1,
            ..FromZeros::new_zeroed()
        })
    );
    let mut get = D3DKMT_GETCONTEXTSCHEDULINGPRIORITY {
        hContext: 0x700,
        Priority: 0,
    };
    let number = N::GetContextSchedulingPriority as u32;
    assert_eq!(translator.run(&mut environment, number, &mut get), 0);
    assert_eq!(get.Priority, 7);
    assert_eq!(
        environment.last(),
        Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
            context: handle(0x700),
            in_process: 0,
            ..FromZeros::new_zeroed()
        })
    );
    let mut get = D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        hContext: 0x700,
        Priority: 0,
    };
    let number = N::GetContextInProcessSchedulingPriority as u32;
    assert_eq!(translator.run(&mut environment, number, &mut get), 0);
    assert_eq!(get.Priority, -3);
    assert_eq!(
        environment.last(),
        Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
            context: handle(0x700),
            in_process: 1,
            ..FromZeros::new_zeroed()
        })
    );
    // A failure leaves the output alone.
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_HANDLE));
    get.Priority = 99;
    assert_eq!(
        translator.run(&mut environment, number, &mut get),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(get.Priority, 99);
}
