//! In-process integration: the dxg guest core against the emulated vGPU (no VMBus).
//! The smoke sequence of dxg.md §8.3 and beyond.

mod support;

use dxg::core::{Action, AdapterState, PacketKind, ProcessId, Reply, Request, SyncObjectKind};
use dxg::wire::{
    CreateContextVirtualCommand, EscapeCommand, EvictCommand, GetDeviceStateCommand,
    MakeResidentCommand, QueryVideoMemoryInfoCommand, QueryVideoMemoryInfoReply,
};
use dxg::wire::{D3dkmtHandle, Luid, NtStatus, QUERY_ADAPTER_TYPE_RENDER};
use emulator::vgpu::loopback::Loopback;
use emulator::vgpu::{HostChannel, HostOutput, VgpuDescription};
use hyperv::memory::GuestMemory;
use support::images::{expected_mandelbrot, fnv1a, words};
use support::requests::{
    create_context, create_device, create_paging_queue, create_process, enum_adapters, lock,
    query_adapter_info, submit_request, wait_request,
};
use support::session::{
    HEIGHT, PITCH, Session, WIDTH, read_surface, render, start_session, tear_down,
};
use support::vm::ok;
use zerocopy::FromZeros;

fn start_process(vm: &mut Loopback, process: ProcessId, adapter_index: usize) -> Session {
    start_session(
        vm,
        process,
        (100 + process.0, "smoke"),
        adapter_index,
        |_| {},
    )
}

#[test]
fn smoke_sequence_renders_and_waits() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x1234_5678, 0xABCD)], 16);
    assert!(vm.events.iter().any(|event| matches!(
        event,
        dxg::core::Action::AdapterStateChanged {
            state: AdapterState::Active,
            ..
        }
    )));
    assert_eq!(vm.driver.interface_version(), 40);
    let process = ProcessId(1);
    let session = start_process(&mut vm, process, 0);

    // QUERYADAPTERINFO the way libdxgtest does: 57, 31, 70, 65.
    let data = query_adapter_info(
        &mut vm,
        process,
        session.adapter,
        QUERY_ADAPTER_TYPE_RENDER,
        4,
    );
    let adapter_type = u32::from_le_bytes(data[..4].try_into().unwrap());
    assert_eq!(
        adapter_type & (1 << 7),
        1 << 7,
        "paravirtualized forced by the guest"
    );
    assert_eq!(
        adapter_type & (1 << 1),
        0,
        "display_supported cleared by the guest"
    );
    for query_type in [31, 70, 65] {
        query_adapter_info(&mut vm, process, session.adapter, query_type, 64);
    }

    let (paging_queue, paging_fence) = create_paging_queue(&mut vm, process, session.device);
    let Reply::Resident {
        status,
        paging_fence_value,
        ..
    } = ok(vm.call(
        process,
        Request::MakeResident {
            command: MakeResidentCommand {
                paging_queue,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![session.surface],
        },
    ))
    else {
        panic!()
    };
    assert_eq!(status, NtStatus::PENDING);
    assert!(vm.memory.read_u64(paging_fence).unwrap() >= paging_fence_value);

    // Render, signal the fence from the command stream, wait for it from the CPU.
    ok(render(&mut vm, process, &session, 7));
    assert_eq!(
        vm.memory.read_u64(session.fence_address).unwrap(),
        7,
        "monitored fence value lives in IO space"
    );
    let wait = vm.call(process, wait_request(session.device, session.fence, 7));
    assert_eq!(wait, Ok(Reply::WaitCompleted));
    let pixels = read_surface(&mut vm, process, &session);
    assert_eq!(
        fnv1a(&pixels),
        fnv1a(&expected_mandelbrot(WIDTH, HEIGHT, 32))
    );

    // A CPU wait that is not yet satisfied completes when a later SIGNALSYNCOBJECT arrives.
    let ticket = vm
        .driver
        .submit(process, wait_request(session.device, session.fence, 9));
    vm.pump();
    assert!(!vm.completions.contains_key(&ticket));
    assert_eq!(vm.host.pending_waits(), 1);
    ok(vm.call(
        process,
        Request::SignalFromGpu {
            context: session.context,
            objects: vec![session.fence],
            values: vec![9],
        },
    ));
    assert_eq!(
        vm.completions.remove(&ticket),
        Some(Ok(Reply::WaitCompleted))
    );

    // Teardown in the §8.3 order.
    tear_down(&mut vm, process, &session, paging_queue);
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0, "all IO-space pages returned");
    assert_eq!(vm.driver.outstanding_transactions(), 0);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn fill_copy_and_gradient_do_real_work() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x42, 0x43)], 8);
    let process = ProcessId(3);
    let session = start_process(&mut vm, process, 0);
    let mut stream = words(&[3, 28, session.surface.0, 0, WIDTH, HEIGHT, PITCH]);
    stream.extend(words(&[1, 24, session.surface.0, 0, 16, 0xDDCC_BBAA]));
    stream.extend(words(&[
        2,
        28,
        session.surface.0,
        0,
        session.surface.0,
        PITCH * 2,
        16,
    ]));
    ok(vm.call(process, submit_request(session.context, stream)));
    let pixels = read_surface(&mut vm, process, &session);
    assert_eq!(&pixels[..4], &[0xAA, 0xBB, 0xCC, 0xDD]);
    assert_eq!(
        &pixels[(PITCH * 2) as usize..(PITCH * 2 + 4) as usize],
        &[0xAA, 0xBB, 0xCC, 0xDD]
    );
    // Gradient pixel (x = 10, y = 1): red = 10*255/63, green = 255/47, blue = 11*255/110.
    let offset = (PITCH + 40) as usize;
    let pixel = u32::from_le_bytes(pixels[offset..offset + 4].try_into().unwrap());
    assert_eq!(
        pixel,
        0xFF00_0000 | (10 * 255 / 63) << 16 | (255 / 47) << 8 | (11 * 255 / 110)
    );
    // A bad stream fails cleanly with a status.
    let bad = submit_request(
        session.context,
        words(&[1, 24, session.surface.0, PITCH * HEIGHT, 16, 0]),
    );
    assert_eq!(vm.call(process, bad), Err(NtStatus::INVALID_PARAMETER));
}

#[test]
fn two_processes_two_adapters_are_isolated() {
    let mut vm = Loopback::new(
        vec![
            VgpuDescription::new(0x1000, 0x2000),
            VgpuDescription::new(0x3000, 0x4000),
        ],
        16,
    );
    create_process(&mut vm, ProcessId(1), 1, "a");
    let list = enum_adapters(&mut vm, ProcessId(1));
    assert_eq!(
        list.iter().map(|entry| entry.luid).collect::<Vec<_>>(),
        vec![Luid::from_u64(0x1000), Luid::from_u64(0x3000)]
    );
    let first = start_process(&mut vm, ProcessId(2), 0);
    let second = start_process(&mut vm, ProcessId(3), 1);
    ok(render(&mut vm, ProcessId(2), &first, 1));
    ok(render(&mut vm, ProcessId(3), &second, 1));
    // Handles are per host process: the same values name different objects in each process.
    assert_eq!(first.surface, second.surface);
    assert_ne!(
        lock(&mut vm, ProcessId(2), first.device, first.surface),
        lock(&mut vm, ProcessId(3), second.device, second.surface)
    );
    // A handle the process never received is refused.
    let bogus = D3dkmtHandle::new(0x1234, 1, 0);
    assert_eq!(
        vm.call(
            ProcessId(3),
            Request::Lock {
                device: second.device,
                allocation: bogus
            }
        ),
        Err(NtStatus::INVALID_HANDLE)
    );
    assert_eq!(
        fnv1a(&read_surface(&mut vm, ProcessId(2), &first)),
        fnv1a(&read_surface(&mut vm, ProcessId(3), &second))
    );
}

#[test]
fn adapter_removed_while_in_use() {
    let mut vm = Loopback::new(
        vec![
            VgpuDescription::new(0x1000, 0x2000),
            VgpuDescription::new(0x3000, 0x4000),
        ],
        16,
    );
    let first = start_process(&mut vm, ProcessId(1), 0);
    let second = start_process(&mut vm, ProcessId(2), 1);
    let instance = vm.host.vgpu(0).unwrap().description.config.channel_instance;
    // A CPU wait is outstanding when the adapter goes away.
    let ticket = vm
        .driver
        .submit(ProcessId(1), wait_request(first.device, first.fence, 50));
    vm.pump();
    vm.host.remove_vgpu(0);
    vm.driver.vgpu_channel_rescinded(instance);
    vm.pump();
    assert_eq!(
        vm.completions.remove(&ticket),
        Some(Err(NtStatus::DEVICE_REMOVED))
    );
    assert_eq!(
        render(&mut vm, ProcessId(1), &first, 2),
        Err(NtStatus::INVALID_HANDLE),
        "objects of a removed adapter are gone"
    );
    assert_eq!(
        vm.call(
            ProcessId(1),
            Request::CreateDevice {
                adapter: first.adapter,
                flags: 0
            }
        ),
        Err(NtStatus::DEVICE_REMOVED)
    );
    ok(render(&mut vm, ProcessId(2), &second, 2));
    let Reply::Adapters(list) = vm.call(ProcessId(2), Request::EnumAdapters).unwrap() else {
        panic!()
    };
    assert_eq!(list.len(), 1);
    ok(vm.call(ProcessId(1), Request::DestroyProcess));
    assert_eq!(vm.driver.registered_events(), 0);
}

#[test]
fn process_exit_without_cleanup_releases_everything() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x77, 0x78)], 8);
    let process = ProcessId(9);
    let session = start_process(&mut vm, process, 0);
    create_paging_queue(&mut vm, process, session.device);
    assert!(vm.host.object_count() >= 5);
    ok(vm.call(process, Request::DestroyProcess));
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0);
    assert!(vm.driver.process(process).is_none());
    assert_eq!(
        vm.call(process, Request::EnumAdapters),
        Err(NtStatus::INVALID_HANDLE)
    );
}

#[test]
fn version_27_host_has_no_extension_header() {
    let mut description = VgpuDescription::new(0x55, 0x56);
    description.config.host_version = 0;
    let mut vm = Loopback::new(vec![description], 8);
    assert_eq!(vm.driver.interface_version(), 27);
    let session = start_process(&mut vm, ProcessId(1), 0);
    let reply = vm.call(
        ProcessId(1),
        Request::QueryAdapterInfo {
            adapter: session.adapter,
            query_type: QUERY_ADAPTER_TYPE_RENDER,
            data: vec![0; 4],
        },
    );
    assert!(
        matches!(reply, Ok(Reply::AdapterInfo(ref data)) if data.len() == 4),
        "{reply:?}"
    );
    ok(render(&mut vm, ProcessId(1), &session, 1));
}

#[test]
fn async_messaging_moves_traffic_to_the_global_channel() {
    let mut description = VgpuDescription::new(0x99, 0x9A);
    description.async_messaging = true;
    let mut vm = Loopback::new(vec![description], 8);
    assert!(vm.driver.async_messaging());
    let session = start_process(&mut vm, ProcessId(1), 0);
    ok(render(&mut vm, ProcessId(1), &session, 3));
    let wait = vm.call(ProcessId(1), wait_request(session.device, session.fence, 3));
    assert_eq!(wait, Ok(Reply::WaitCompleted));
}

#[test]
fn execution_state_is_cached_until_set_guest_data() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x11, 0x12)], 8);
    let session = start_process(&mut vm, ProcessId(1), 0);
    let before = vm.host.statistics().commands;
    let state = vm.call(
        ProcessId(1),
        Request::GetDeviceState(GetDeviceStateCommand {
            device: session.device,
            state_type: 1,
            ..FromZeros::new_zeroed()
        }),
    );
    assert_eq!(
        state,
        Ok(Reply::DeviceState {
            state_type: 1,
            state: 1
        })
    );
    assert_eq!(
        vm.host.statistics().commands,
        before,
        "served from the guest cache"
    );
    vm.host.notify_device_state_changed();
    vm.pump();
    assert_eq!(vm.driver.device_state_counter(), 1);
    vm.call(
        ProcessId(1),
        Request::GetDeviceState(GetDeviceStateCommand {
            device: session.device,
            state_type: 1,
            ..FromZeros::new_zeroed()
        }),
    )
    .unwrap();
    assert_eq!(vm.host.statistics().commands, before + 1);
}

#[test]
fn evict_escape_video_memory_gpu_wait_and_pci_removal() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x21, 0x22)], 8);
    let process = ProcessId(4);
    let session = start_process(&mut vm, process, 0);
    let evicted = vm.call(
        process,
        Request::Evict {
            command: EvictCommand {
                device: session.device,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![session.surface],
        },
    );
    assert_eq!(evicted, Ok(Reply::Evicted { bytes_to_trim: 0 }));
    let escape = vm.call(
        process,
        Request::Escape {
            command: EscapeCommand {
                adapter: session.adapter,
                device: session.device,
                context: D3dkmtHandle::NULL,
                escape_type: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            data: vec![1, 2, 3],
        },
    );
    assert_eq!(escape, Ok(Reply::Escape(vec![1, 2, 3])));
    let Ok(Reply::VideoMemory(QueryVideoMemoryInfoReply {
        budget,
        current_usage,
        ..
    })) = vm.call(
        process,
        Request::QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand {
            adapter: session.adapter,
            memory_segment_group: 0,
            ..FromZeros::new_zeroed()
        }),
    )
    else {
        panic!()
    };
    assert_eq!(budget, 8 << 20);
    assert!(current_usage >= u64::from(PITCH * HEIGHT));
    let gpu_wait = vm.call(
        process,
        Request::WaitFromGpu {
            context: session.context,
            objects: vec![session.fence],
            values: vec![1],
        },
    );
    assert_eq!(gpu_wait, Ok(Reply::Status(NtStatus::SUCCESS)));
    // PCI remove: CLOSEADAPTER goes to the host and the channel is closed after its completion.
    let commands = vm.host.statistics().commands;
    vm.driver.remove_pci_function(0);
    vm.pump();
    assert_eq!(
        vm.host.statistics().commands,
        commands + 1,
        "CLOSEADAPTER sent"
    );
    assert!(vm.events.iter().any(|event| matches!(
        event,
        dxg::core::Action::CloseChannel(dxg::core::ChannelId::Vgpu(_))
    )));
    assert_eq!(
        vm.call(process, Request::EnumAdapters),
        Ok(Reply::Adapters(vec![]))
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

/// A legacy (non-monitored) fence on the session's device.
fn legacy_fence(vm: &mut Loopback, process: ProcessId, session: &Session) -> D3dkmtHandle {
    let Reply::SyncObject { handle, .. } = ok(vm.call(
        process,
        Request::CreateSyncObject {
            device: session.device,
            kind: SyncObjectKind::Fence { initial_value: 0 },
            flags: 0,
        },
    )) else {
        panic!()
    };
    handle
}

#[test]
fn a_dying_process_takes_its_unsignalled_waits_along() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x91, 0x92)], 8);
    let process = ProcessId(3);
    let session = start_process(&mut vm, process, 0);
    let wait = vm
        .driver
        .submit(process, wait_request(session.device, session.fence, 1000));
    vm.pump();
    assert!(!vm.completions.contains_key(&wait), "never signalled");
    assert_eq!(vm.driver.registered_events(), 1);
    assert_eq!(vm.host.pending_waits(), 1);
    ok(vm.call(process, Request::DestroyProcess));
    assert_eq!(
        vm.completions.remove(&wait),
        Some(Err(NtStatus::DEVICE_REMOVED))
    );
    assert_eq!(vm.driver.registered_events(), 0);
    assert_eq!(vm.driver.abandoned_events(), 0);
    assert_eq!(vm.host.pending_waits(), 0);
    assert_eq!(vm.host.process_count(), 0);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

#[test]
fn a_cancelled_wait_is_forgotten_when_the_host_signals_it() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x93, 0x94)], 8);
    let process = ProcessId(4);
    let session = start_process(&mut vm, process, 0);
    let wait = vm
        .driver
        .submit(process, wait_request(session.device, session.fence, 5));
    vm.pump();
    ok(vm.call(process, Request::CancelWait { ticket: wait }));
    assert_eq!(vm.completions.remove(&wait), Some(Err(NtStatus::CANCELLED)));
    assert_eq!(vm.driver.registered_events(), 0);
    assert_eq!(vm.driver.abandoned_events(), 1);
    // The host still holds the wait; its signal is swallowed.
    assert_eq!(vm.host.pending_waits(), 1);
    ok(vm.call(
        process,
        Request::SignalFromCpu {
            device: session.device,
            objects: vec![session.fence],
            values: vec![5],
        },
    ));
    assert_eq!(vm.host.pending_waits(), 0);
    assert_eq!(vm.driver.abandoned_events(), 0);
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
    ok(vm.call(process, Request::DestroyProcess));
}

#[test]
fn legacy_signal_and_wait_calls() {
    let mut vm = Loopback::new(vec![VgpuDescription::new(0x95, 0x96)], 8);
    let process = ProcessId(5);
    let session = start_process(&mut vm, process, 0);
    let fence = legacy_fence(&mut vm, process, &session);
    let second = create_context(&mut vm, process, session.device);
    // A CPU wait for value 5 of the legacy fence, satisfied by a legacy signal (value in the
    // header, broadcast to two contexts).
    let wait = vm
        .driver
        .submit(process, wait_request(session.device, fence, 5));
    vm.pump();
    assert!(!vm.completions.contains_key(&wait));
    assert_eq!(
        vm.call(
            process,
            Request::SignalSynchronizationObject2 {
                context: session.context,
                objects: vec![fence, session.fence],
                broadcast_contexts: vec![second],
                flags: 0,
                fence_value: 5,
            },
        ),
        Ok(Reply::Status(NtStatus::SUCCESS))
    );
    assert_eq!(vm.completions.remove(&wait), Some(Ok(Reply::WaitCompleted)));
    // The monitored fence got the legacy value too.
    assert_eq!(vm.memory.read_u64(session.fence_address).unwrap(), 5);
    // enqueue_cpu_event: completes once the (synchronous) GPU passed the signal.
    assert_eq!(
        vm.call(
            process,
            Request::SignalSynchronizationObject2 {
                context: session.context,
                objects: vec![],
                broadcast_contexts: vec![],
                flags: dxg::wire::SIGNAL_FLAG_ENQUEUE_CPU_EVENT,
                fence_value: 0,
            },
        ),
        Ok(Reply::WaitCompleted)
    );
    assert_eq!(vm.driver.registered_events(), 0);
    // GPU-side legacy waits and WaitFromGpu on a non-monitored object (legacy flag).
    assert_eq!(
        vm.call(
            process,
            Request::WaitForSynchronizationObject2 {
                context: session.context,
                objects: vec![fence, session.fence],
                fence_value: 5,
            },
        ),
        Ok(Reply::Status(NtStatus::SUCCESS))
    );
    assert_eq!(
        vm.call(
            process,
            Request::WaitFromGpu {
                context: second,
                objects: vec![fence],
                values: vec![5],
            },
        ),
        Ok(Reply::Status(NtStatus::SUCCESS))
    );
    // The host checks the contexts itself: a sync object named as a context is refused.
    let ticket = vm.driver.submit(
        process,
        Request::SignalSynchronizationObject2 {
            context: session.context,
            objects: vec![fence],
            broadcast_contexts: vec![],
            flags: 0,
            fence_value: 9,
        },
    );
    let packet = std::iter::from_fn(|| vm.driver.poll_action())
        .find_map(|action| match action {
            Action::Send(packet) => Some(packet),
            _ => None,
        })
        .unwrap();
    let mut bytes = packet.bytes.clone();
    let context_offset = 16 + 56 + 4; // extension header, fixed part, one object
    bytes[context_offset..context_offset + 4].copy_from_slice(&fence.0.to_le_bytes());
    vm.host
        .receive(HostChannel::Vgpu(0), packet.transaction_id, true, &bytes);
    let Some(HostOutput::Completion { bytes: reply, .. }) = vm.host.poll_output() else {
        panic!()
    };
    assert_eq!(reply, NtStatus::OBJECT_TYPE_MISMATCH.0.to_le_bytes());
    vm.driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        &reply,
    );
    vm.pump();
    assert_eq!(
        vm.completions.remove(&ticket),
        Some(Err(NtStatus::OBJECT_TYPE_MISMATCH))
    );
    // The core refuses a device as the signalling context before sending.
    assert_eq!(
        vm.call(
            process,
            Request::SignalSynchronizationObject2 {
                context: session.device,
                objects: vec![fence],
                broadcast_contexts: vec![],
                flags: 0,
                fence_value: 6,
            },
        ),
        Err(NtStatus::OBJECT_TYPE_MISMATCH)
    );
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
    ok(vm.call(process, Request::DestroyProcess));
    assert_eq!(vm.host.object_count(), 0);
}

/// CREATECONTEXTVIRTUAL whose private data would not fit in one packet with the command is
/// refused before anything is sent (it used to go out as an oversized packet).
#[test]
fn a_context_too_big_for_one_packet_is_refused_before_sending() {
    let mut vm = support::vm::loopback();
    let process = ProcessId(1);
    create_process(&mut vm, process, 1, "big context");
    let adapter = enum_adapters(&mut vm, process)[0].handle;
    let device = create_device(&mut vm, process, adapter);
    let command = CreateContextVirtualCommand {
        device,
        ..FromZeros::new_zeroed()
    };
    let private_data = vec![0; dxg::wire::MAX_PACKET_SIZE];
    let request = Request::CreateContext {
        command,
        private_data,
    };
    let ticket = vm.driver.submit(process, request);
    let actions: Vec<Action> = std::iter::from_fn(|| vm.driver.poll_action()).collect();
    let result = Err(NtStatus::INVALID_PARAMETER);
    assert_eq!(actions, vec![Action::Complete { ticket, result }]);
}
