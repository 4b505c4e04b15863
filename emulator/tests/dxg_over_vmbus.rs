//! In-process integration of the whole stack: the guest's SynIC client, VMBus bus driver and
//! dxg core over the emulated SynIC, VMBus server and GPU-PV host (see
//! `support/guest_stack.rs`). The smoke sequence of dxg.md §8.3 through real rings, a vGPU
//! channel rescinded while in use, and an existing-sysmem allocation backed by a GPADL of the
//! global channel (SETEXISTINGSYSMEMSTORE).
//!
//! The PCI probe is fed from the emulated vGPU's config words directly (virtual PCI is not
//! wired into `HostServices` yet).

mod support;

use dxg::core::{AdapterState, ProcessId, Reply, Request};
use dxg::wire::{
    CREATE_ALLOCATION_EXISTING_SYSMEM, D3dkmtHandle, NtStatus, QUERY_ADAPTER_TYPE_RENDER,
};
use dxg::wire::{MakeResidentCommand, SetExistingSysmemStoreCommand};
use emulator::vmbus_server::DXG_IO_SPACE_MEGABYTES;
use hyperv::memory::GuestMemory;
use hyperv::synic::MessageType;
use support::guest_stack::{IO_SPACE_BASE, MEMORY_BYTES, Stack};
use support::images::{expected_mandelbrot, fnv1a};
use support::requests::{
    create_allocation, create_paging_queue, destroy_allocations, lock, query_adapter_info, sized,
    unlock, wait_request,
};
use support::session::{HEIGHT, PITCH, Session, WIDTH, render_into, tear_down};
use support::vm::ok;
use vmbus::messages::encode;
use vmbus::version::MESSAGE_CONNECTION_ID;
use zerocopy::FromZeros;

const PROCESS: ProcessId = ProcessId(1);

fn start_session(stack: &mut Stack, process: ProcessId) -> Session {
    support::session::start_session(
        stack,
        process,
        (100 + process.0, "over-vmbus"),
        0,
        |adapters| assert_eq!(adapters.len(), 1),
    )
}

fn render(stack: &mut Stack, session: &Session, value: u64) -> Result<Reply, NtStatus> {
    support::session::render(stack, PROCESS, session, value)
}

fn in_io_space(address: u64) -> bool {
    let length = u64::from(DXG_IO_SPACE_MEGABYTES) << 20;
    (IO_SPACE_BASE..IO_SPACE_BASE + length).contains(&address)
}

#[test]
fn smoke_sequence_over_vmbus_rings() {
    let mut stack = Stack::new(1);
    assert!(stack.events.iter().any(|event| matches!(
        event,
        dxg::core::Action::AdapterStateChanged {
            state: AdapterState::Active,
            ..
        }
    )));
    assert_eq!(stack.driver.interface_version(), 40);
    assert_eq!(
        stack.services.lock().gpu().io_space(),
        Some((IO_SPACE_BASE, u64::from(DXG_IO_SPACE_MEGABYTES) << 20)),
        "SETIOSPACEREGION reached the host with the guest-RAM range"
    );
    let session = start_session(&mut stack, PROCESS);

    // QUERYADAPTERINFO the way libdxgtest does: 57, 31, 70, 65.
    let data = query_adapter_info(
        &mut stack,
        PROCESS,
        session.adapter,
        QUERY_ADAPTER_TYPE_RENDER,
        4,
    );
    let adapter_type = u32::from_le_bytes(data[..4].try_into().unwrap());
    assert_eq!(adapter_type & (1 << 7), 1 << 7, "paravirtualized");
    for query_type in [31, 70, 65] {
        query_adapter_info(&mut stack, PROCESS, session.adapter, query_type, 64);
    }

    let (paging_queue, paging_fence) = create_paging_queue(&mut stack, PROCESS, session.device);
    assert!(in_io_space(paging_fence));
    let Reply::Resident {
        status,
        paging_fence_value,
        ..
    } = ok(stack.call(
        PROCESS,
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
    let memory = stack.loopback.memory();
    assert!(memory.read_u64(paging_fence).unwrap() >= paging_fence_value);

    // Render; the command stream signals the monitored fence; wait for it from the CPU.
    ok(render(&mut stack, &session, 7));
    assert!(in_io_space(session.fence_address));
    assert_eq!(memory.read_u64(session.fence_address).unwrap(), 7);
    let wait = stack.call(PROCESS, wait_request(session.device, session.fence, 7));
    assert_eq!(wait, Ok(Reply::WaitCompleted));

    // A wait that is not yet satisfied completes through SIGNALGUESTEVENT, an in-band
    // notification on the global channel, when the GPU signals later.
    let ticket = stack
        .driver
        .submit(PROCESS, wait_request(session.device, session.fence, 9));
    stack.pump();
    assert!(!stack.completions.contains_key(&ticket));
    assert_eq!(stack.services.lock().gpu().pending_waits(), 1);
    ok(stack.call(
        PROCESS,
        Request::SignalFromGpu {
            context: session.context,
            objects: vec![session.fence],
            values: vec![9],
        },
    ));
    assert_eq!(
        stack.completions.remove(&ticket),
        Some(Ok(Reply::WaitCompleted))
    );

    // Read the surface back from guest RAM.
    let address = lock(&mut stack, PROCESS, session.device, session.surface);
    assert!(
        in_io_space(address),
        "the surface lives in the IO space in guest RAM"
    );
    let mut pixels = vec![0u8; (PITCH * HEIGHT) as usize];
    memory.read(address, &mut pixels).unwrap();
    assert_eq!(
        fnv1a(&pixels),
        fnv1a(&expected_mandelbrot(WIDTH, HEIGHT, 32))
    );
    unlock(&mut stack, PROCESS, session.device, session.surface);

    // Teardown in the §8.3 order.
    tear_down(&mut stack, PROCESS, &session, paging_queue);
    // Adapter removal: CLOSEADAPTER goes out and the vGPU channel is closed.
    stack.driver.remove_pci_function(0);
    stack.pump();

    let mut services = stack.services.lock();
    assert_eq!(services.gpu().process_count(), 0);
    assert_eq!(services.gpu().io_pages_in_use(), 0);
    let relid = services.vgpu_relid(0).unwrap();
    assert!(!services.server().is_open(relid), "vGPU channel closed");
    let statistics = services.server().service_statistics();
    assert_eq!(statistics.replies_dropped, 0);
    assert_eq!(statistics.broken_channels, 0);
    // Every command was completed; notifications (SIGNALGUESTEVENT) come on top.
    let notifications = services.gpu().statistics().events_signalled;
    assert!(notifications >= 1);
    assert_eq!(
        statistics.replies_sent,
        statistics.packets_received + notifications
    );
    assert_eq!(services.dropped_packets(), 0);
    assert_eq!(services.delivery_failures(), 0);
    drop(services);
    assert_eq!(stack.driver.outstanding_transactions(), 0);
    assert!(
        stack.protocol_errors.is_empty(),
        "{:?}",
        stack.protocol_errors
    );
}

#[test]
fn vgpu_rescinded_while_in_use_fails_with_typed_errors() {
    let mut stack = Stack::new(1);
    let session = start_session(&mut stack, PROCESS);
    ok(render(&mut stack, &session, 1));

    // A CPU wait the host has acknowledged but not satisfied.
    let wait = stack
        .driver
        .submit(PROCESS, wait_request(session.device, session.fence, 50));
    stack.pump();
    assert!(!stack.completions.contains_key(&wait));

    // A request written into the vGPU ring that the host never gets to read.
    stack.hold_signals = true;
    let in_flight = stack.driver.submit(
        PROCESS,
        Request::QueryAdapterInfo {
            adapter: session.adapter,
            query_type: QUERY_ADAPTER_TYPE_RENDER,
            data: vec![0; 4],
        },
    );
    stack.pump();
    assert!(!stack.completions.contains_key(&in_flight));

    // The host hot-removes the vGPU.
    stack.services.lock().rescind_vgpu(0).unwrap();
    stack.release_signals();

    assert_eq!(
        stack.completions.remove(&wait),
        Some(Err(NtStatus::DEVICE_REMOVED))
    );
    assert_eq!(
        stack.completions.remove(&in_flight),
        Some(Err(NtStatus::DEVICE_REMOVED))
    );
    assert!(stack.events.iter().any(|event| matches!(
        event,
        dxg::core::Action::AdapterStateChanged {
            state: AdapterState::Removed,
            ..
        }
    )));
    // Later requests on the adapter fail at once; nothing waits on the host.
    let later = stack.try_call(
        PROCESS,
        Request::QueryAdapterInfo {
            adapter: session.adapter,
            query_type: QUERY_ADAPTER_TYPE_RENDER,
            data: vec![0; 4],
        },
    );
    assert!(matches!(later, Some(Err(_))), "{later:?}");
    let later = stack.try_call(
        PROCESS,
        Request::CreateDevice {
            adapter: session.adapter,
            flags: 0,
        },
    );
    assert!(matches!(later, Some(Err(_))), "{later:?}");
    assert_eq!(stack.driver.outstanding_transactions(), 0);

    // The global channel still works: the process can go away.
    ok(stack.call(PROCESS, Request::DestroyProcess));
    let mut services = stack.services.lock();
    assert_eq!(services.gpu().process_count(), 0);
    let relid = services.vgpu_relid(0).unwrap();
    assert!(
        !services.server().is_open(relid),
        "the guest closed the rescinded channel"
    );
    assert!(services.server().device(relid).is_none(), "relid released");
}

/// Posts a VMBus control message from the guest's SynIC straight to the host, past the bus
/// driver (whose client therefore rejects the host's answer as naming an unknown GPADL).
fn post_control(stack: &mut Stack, payload: &[u8]) {
    stack
        .bus
        .synic()
        .post_message(MESSAGE_CONNECTION_ID, MessageType::VMBUS, payload)
        .expect("post");
    stack.pump();
}

/// Creates GPADL `gpadl` of whole pages `frames` on channel `relid`, as the guest's VMBus
/// client would (GPADL_HEADER and, for long lists, GPADL_BODY messages).
fn create_gpadl(stack: &mut Stack, relid: u32, gpadl: u32, frames: &[u64]) {
    let bytes = (frames.len() * 4096) as u32;
    for message in vmbus::gpadl::split(relid, gpadl, 0, bytes, frames).expect("GPADL") {
        post_control(stack, &message);
    }
}

#[test]
fn sysmem_store_backed_by_a_global_channel_gpadl() {
    const PAGE: u64 = 4096;
    const GLOBAL_GPADL: u32 = 0x5157_0001;
    const VGPU_GPADL: u32 = 0x5157_0002;
    let mut stack = Stack::new(1);
    let session = start_session(&mut stack, PROCESS);
    let size = u64::from(PITCH * HEIGHT);
    let allocation = create_allocation(
        &mut stack,
        PROCESS,
        session.device,
        CREATE_ALLOCATION_EXISTING_SYSMEM,
        sized(size),
    )
    .handle;
    let store = |gpadl| {
        Request::SetExistingSysmemStore(SetExistingSysmemStoreCommand {
            device: session.device,
            allocation,
            gpadl,
            ..FromZeros::new_zeroed()
        })
    };
    // Guest pages above the rings and the IO space, out of order.
    let first = (MEMORY_BYTES as u64 - (8 << 20)) / PAGE;
    let frames = [first + 5, first + 1, first + 3];
    assert_eq!(frames.len() as u64 * PAGE, size);
    let (global, vgpu) = {
        let services = stack.services.lock();
        (
            services.global_relid().unwrap(),
            services.vgpu_relid(0).unwrap(),
        )
    };
    assert_eq!(
        stack.call(PROCESS, store(GLOBAL_GPADL)),
        Err(NtStatus::INVALID_HANDLE),
        "no such GPADL yet"
    );

    // A GPADL of the vGPU channel is the server's, but not a sysmem store (Linux establishes
    // the store's GPADL on the global channel).
    create_gpadl(&mut stack, vgpu, VGPU_GPADL, &frames);
    assert!(stack.services.lock().server().gpadl(VGPU_GPADL).is_some());
    assert_eq!(
        stack.call(PROCESS, store(VGPU_GPADL)),
        Err(NtStatus::INVALID_HANDLE)
    );

    // The global channel's GPADL reaches the vGPU with its pages.
    create_gpadl(&mut stack, global, GLOBAL_GPADL, &frames);
    let recorded = stack
        .services
        .lock()
        .server()
        .gpadl(GLOBAL_GPADL)
        .map(|(relid, ranges)| (relid, ranges[0].pfns.clone()));
    assert_eq!(recorded, Some((global, frames.to_vec())));
    ok(stack.call(PROCESS, store(GLOBAL_GPADL)));

    // The GPU renders into the allocation; the pixels land in the GPADL's pages, in order.
    ok(render_into(&mut stack, PROCESS, &session, allocation, 5));
    let memory = stack.loopback.memory();
    assert_eq!(memory.read_u64(session.fence_address).unwrap(), 5);
    let mut pixels = vec![0u8; size as usize];
    for (index, frame) in frames.iter().enumerate() {
        let page = &mut pixels[index * PAGE as usize..][..PAGE as usize];
        memory.read(frame * PAGE, page).unwrap();
    }
    assert_eq!(
        fnv1a(&pixels),
        fnv1a(&expected_mandelbrot(WIDTH, HEIGHT, 32))
    );
    let mut untouched = [0u8; PAGE as usize];
    memory.read((first + 2) * PAGE, &mut untouched).unwrap();
    assert!(
        untouched.iter().all(|byte| *byte == 0),
        "other pages untouched"
    );

    // GPADL_TEARDOWN: the vGPU forgets the GPADL with the server.
    post_control(&mut stack, &encode::gpadl_teardown(global, GLOBAL_GPADL));
    assert!(stack.services.lock().server().gpadl(GLOBAL_GPADL).is_none());
    assert_eq!(
        stack.call(PROCESS, store(GLOBAL_GPADL)),
        Err(NtStatus::INVALID_HANDLE),
        "torn down"
    );
    destroy_allocations(
        &mut stack,
        PROCESS,
        session.device,
        D3dkmtHandle::NULL,
        vec![allocation],
    );

    // The bus driver's client never knew these GPADLs: it rejected the host's two
    // GPADL_CREATED and one GPADL_TORNDOWN answers, and nothing else.
    assert_eq!(stack.bus.statistics().rejected_messages, 3);
    assert_eq!(stack.driver.outstanding_transactions(), 0);
    assert!(
        stack.protocol_errors.is_empty(),
        "{:?}",
        stack.protocol_errors
    );
}

/// Issue 14: when the guest's drivers restart, the host holds nothing of the old session. A
/// VMBus restart (UNLOAD, then INITIATE_CONTACT) closes the dxg channels host-side, and the
/// GPU-PV host drops every process and object it held for them: the counts the chaos run
/// compares are back to zero.
#[test]
fn a_vmbus_restart_releases_every_host_object_of_the_dxg_channels() {
    let mut stack = Stack::new(1);
    let session = start_session(&mut stack, PROCESS);
    ok(render(&mut stack, &session, 1));
    {
        let mut services = stack.services.lock();
        assert_eq!(services.gpu().process_count(), 1);
        assert!(services.gpu().object_count() > 0);
    }
    stack.bus.restart().expect("the bus restarts");
    stack.pump();
    let mut services = stack.services.lock();
    assert_eq!(services.gpu().process_count(), 0);
    assert_eq!(services.gpu().object_count(), 0);
    assert_eq!(services.gpu().io_pages_in_use(), 0);
    assert_eq!(
        services.server().version().map(|_| ()),
        Some(()),
        "connected again"
    );
    drop(services);
    assert!(stack.bus.is_ready());
}
