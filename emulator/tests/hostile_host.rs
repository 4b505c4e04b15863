//! The standing hostile-host suite: every row of `emulator::hostile::HOSTILE_ROWS` against the
//! real guest stack in-process (`support/guest_stack.rs`: SynIC client, VMBus bus driver, vPCI
//! driver and dxg core over the emulated SynIC, VMBus server, vPCI host and vGPU).
//!
//! Each row gets a fresh VM whose host rewrites one message (`emulator::hostile::HostileHook`
//! in the VMBus server) or performs one injection, and then is checked for:
//! - no panic (each row runs under `catch_unwind`, so one failing row names itself and the
//!   others still run);
//! - the row's message really appeared (the hook fired), so a row cannot pass by missing;
//! - what the row expects of the guest: a typed error (the request's NTSTATUS, a rejected
//!   message counted by the bus, a dxg protocol error), or nothing in particular;
//! - the rest keeps working: the echo device (a channel nobody else uses) can still be opened
//!   and echoes a packet, and a new process can still be created and enumerate the adapter
//!   (none after the vGPU was rescinded). A row the guest must notice at boot may cost the
//!   device it hit (a vPCI bus that failed D0 entry has no GPU), but never the bus (unless it
//!   refused the host's VERSION_RESPONSE: then there is no connection). After UNLOAD: the bus
//!   reports itself unloaded;
//! - nothing leaks: no dxg transaction outstanding, no GPADL on the host without its open
//!   channel, no half-built GPADL, the guest holds no channel the host has closed, and for
//!   rows the guest may simply ignore, every count equals that of a VM without the row.
//!
//! Skipped rows (faults the guest cannot survive yet without a time bound) are printed with
//! their reason.

mod support;

use drivers::vmbus_bus::{BusRequest, DriverEvent, RingMemory};
use dxg::core::{AllocationRequest, ProcessId, Reply, Request, SyncObjectKind};
use dxg::wire::{CREATE_ALLOCATION_CREATE_RESOURCE, CreateAllocationReply, CreatedAllocationInfo};
use dxg::wire::{CreateAllocationCommand, CreateContextVirtualCommand, DestroyAllocationCommand};
use dxg::wire::{CreatePagingQueueCommand, QueryVideoMemoryInfoCommand};
use dxg::wire::{D3dkmtHandle, NtStatus, QUERY_ADAPTER_TYPE_RENDER};
use emulator::hostile::rows::{DXG_GLOBAL_RELID, DXG_VGPU_RELID, ECHO_RELID};
use emulator::hostile::{
    Expect, HOSTILE_ROWS, HookHandle, HostileHook, HostileRow, Injection, Mutation, RequestKind,
    Scenario, Target,
};
use emulator::vmbus_server::ServerConfig;
use hyperv::memory::{GuestMemory, PAGE_SIZE};
use hyperv::mmio::{MmioGaps, MmioRange};
use hyperv::synic::{MessageType, VMBUS_SINT};
use std::panic::{AssertUnwindSafe, catch_unwind};
use support::guest_stack::Stack;
use support::requests::{create_allocations, create_device, create_process, enum_adapters, sized};
use support::vm::ok;
use vmbus::client::SubscriberId;
use vmbus::guid::class;
use vmbus::messages::encode;
use vmbus::ring::OutgoingPacket;
use vmbus::version::MESSAGE_CONNECTION_ID;
use zerocopy::FromZeros;

/// The process each row's request runs in.
const PROCESS: ProcessId = ProcessId(1);
/// The process created afterwards to see that the rest still works.
const LATER: ProcessId = ProcessId(2);

fn gaps() -> MmioGaps {
    MmioGaps {
        low: Some(MmioRange::new(0xF800_0000, 0x0400_0000)),
        high: Some(MmioRange::new(0x10_0000_0000, 1 << 30)),
    }
}

/// What is counted before and after a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    /// dxg channels the guest glue holds open.
    guest_open_channels: usize,
    /// Offers the guest's bus knows.
    guest_offers: usize,
    /// dxg requests waiting for the host.
    outstanding_transactions: usize,
    /// Channels open on the host.
    host_open_channels: usize,
    /// GPADLs created on the host.
    host_gpadls: usize,
    /// GPADLs half-built on the host.
    host_incomplete_gpadls: usize,
    /// vGPU processes on the host.
    host_processes: usize,
}

fn counts(stack: &mut Stack) -> Counts {
    let mut services = stack.services.lock();
    let server = services.server();
    let (host_open_channels, host_gpadls, host_incomplete_gpadls) = (
        server.open_channel_count(),
        server.gpadl_count(),
        server.incomplete_gpadl_count(),
    );
    let host_processes = services.gpu().process_count();
    drop(services);
    Counts {
        guest_open_channels: stack.open_guest_channels(),
        guest_offers: stack.bus.offers().count(),
        outstanding_transactions: stack.driver.outstanding_transactions(),
        host_open_channels,
        host_gpadls,
        host_incomplete_gpadls,
        host_processes,
    }
}

/// How much the guest has noticed so far: messages its bus rejected, dxg protocol errors, and
/// whether its vPCI driver gave the bus up, never got it running or handed on no GPU function
/// (a failed open, version negotiation, D0 entry or resource assignment).
fn notices(stack: &Stack) -> (u64, usize, bool) {
    let vpci_failed = stack.vpci.as_ref().is_some_and(|vpci| {
        vpci.reports.iter().any(|report| report.status != 0)
            || vpci.found.is_empty()
            || vpci.buses.phase(emulator::hostile::rows::VPCI_RELID)
                != Some(drivers::vpci::Phase::Running)
    });
    (
        // A message the bus refused, a connection it gave up (a bad VERSION_RESPONSE), or a
        // wait for the host that passed its bound.
        stack.bus.statistics().rejected_messages
            + stack.bus_errors.len() as u64
            + stack.bus.statistics().timeouts,
        stack.protocol_errors.len(),
        vpci_failed,
    )
}

/// The echo test device's subscriber (nobody else in the stack claims its class).
const ECHO_SUBSCRIBER: SubscriberId = SubscriberId(42);
/// Ring memory for the echo channel: above the vPCI rings (40 MiB), below the end of RAM.
const ECHO_RING_GPA: u64 = 0x2C0_0000;
/// Most rounds of the echo exchange (each round runs every pending interrupt and event).
const ECHO_ROUNDS: usize = 64;

/// Opens the echo device through the guest's bus and sees one packet come back: the VMBus
/// connection still works beside whatever the row broke.
fn echo_works(stack: &mut Stack) -> bool {
    let subscribe = BusRequest::Subscribe {
        class: class::DXGOS_ECHO,
        subscriber: ECHO_SUBSCRIBER,
    };
    if stack.bus.handle(ECHO_SUBSCRIBER, subscribe).is_err() {
        return false;
    }
    let payload = *b"hostile echo 16b";
    let mut rings = None;
    let mut buffer = Vec::new();
    for _ in 0..ECHO_ROUNDS {
        stack.loopback.poll();
        if !stack.loopback.take_interrupts().is_empty() && stack.bus.on_interrupt().is_err() {
            return false;
        }
        while let Some(output) = stack.bus.poll_output() {
            if output.subscriber != ECHO_SUBSCRIBER {
                continue; // the other drivers are not run any more in this row
            }
            match output.event {
                DriverEvent::Offer(offer) if offer.relid == ECHO_RELID => {
                    let open = BusRequest::Open {
                        relid: offer.relid,
                        rings: RingMemory {
                            gpa: ECHO_RING_GPA,
                            outbound_bytes: 4 * 4096,
                            inbound_bytes: 4 * 4096,
                        },
                        user_data: [0; 120],
                    };
                    if stack.bus.handle(ECHO_SUBSCRIBER, open).is_err() {
                        return false;
                    }
                }
                DriverEvent::Opened {
                    relid,
                    result: Ok(mut opened),
                } => {
                    let packet = OutgoingPacket::in_band(7, false, &payload);
                    if opened.outbound.send(&packet).is_err()
                        || stack
                            .bus
                            .handle(ECHO_SUBSCRIBER, BusRequest::Signal { relid })
                            .is_err()
                    {
                        return false;
                    }
                    rings = Some(opened);
                }
                DriverEvent::Opened { result: Err(_), .. } => return false,
                DriverEvent::Signalled { .. } => {
                    if let Some(opened) = rings.as_mut()
                        && let Ok(Some(packet)) = opened.inbound.read_packet(&mut buffer)
                    {
                        return packet.payload(&buffer) == payload;
                    }
                }
                _ => {}
            }
        }
    }
    false
}

/// Creates what `kind` needs and returns the request itself.
fn prepare(stack: &mut Stack, kind: RequestKind) -> Request {
    if kind == RequestKind::CreateProcess {
        return Request::CreateProcess {
            pid: 100,
            name: "hostile".into(),
        };
    }
    create_process(stack, PROCESS, 100, "hostile");
    let adapter = enum_adapters(stack, PROCESS)
        .first()
        .expect("an adapter")
        .handle;
    // The first device also opens the adapter on the host (a request of its own); made here,
    // so that the row's reply is the first one after arming.
    let device = create_device(stack, PROCESS, adapter);
    let query = Request::QueryAdapterInfo {
        adapter,
        query_type: QUERY_ADAPTER_TYPE_RENDER,
        data: vec![0; 4],
    };
    if kind == RequestKind::QueryAdapterInfo {
        ok(stack.call(PROCESS, query.clone()));
        return query;
    }
    if kind == RequestKind::CreateDevice {
        return Request::CreateDevice { adapter, flags: 0 };
    }
    let allocation = |allocations: Vec<AllocationRequest>| Request::CreateAllocation {
        command: CreateAllocationCommand {
            device,
            resource: D3dkmtHandle::NULL,
            flags: 0,
            ..FromZeros::new_zeroed()
        },
        runtime_data: vec![],
        driver_data: vec![],
        allocations,
    };
    match kind {
        RequestKind::CreateContext => Request::CreateContext {
            command: CreateContextVirtualCommand {
                device,
                node_ordinal: 0,
                engine_affinity: 0,
                flags: 0,
                client_hint: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![],
        },
        RequestKind::CreateAllocation => allocation(vec![sized(4096)]),
        RequestKind::QueryVideoMemoryInfo => {
            Request::QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand {
                adapter,
                memory_segment_group: 0,
                ..FromZeros::new_zeroed()
            })
        }
        RequestKind::DestroyDevice => Request::DestroyDevice { device },
        RequestKind::DestroyProcess => Request::DestroyProcess,
        RequestKind::CreatePagingQueue => Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
        RequestKind::CreateMonitoredFence => Request::CreateSyncObject {
            device,
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 0,
            },
            flags: 0,
        },
        RequestKind::Lock => {
            let Ok(Reply::Allocations { allocations, .. }) =
                stack.call(PROCESS, allocation(vec![sized(4096)]))
            else {
                panic!("no allocation to lock")
            };
            Request::Lock {
                device,
                allocation: allocations[0].handle,
            }
        }
        RequestKind::CreateProcess | RequestKind::QueryAdapterInfo | RequestKind::CreateDevice => {
            unreachable!("handled above")
        }
    }
}

/// Delivers a control message to the guest's VMBus SINT as the host would.
fn deliver(stack: &Stack, payload: &[u8]) {
    stack.loopback.with_host(|host, memory| {
        host.deliver_message(0, VMBUS_SINT, MessageType::VMBUS, payload, memory)
            .expect("delivered")
    });
}

fn perform(stack: &mut Stack, injection: Injection) {
    match injection {
        Injection::EventFlag { relid } => {
            stack.loopback.with_host(|host, memory| {
                host.signal_event_flag(0, VMBUS_SINT, relid, memory)
                    .expect("flag set")
            });
        }
        Injection::MonitorPages { fill } => {
            let (first, second) = stack
                .services
                .lock()
                .server()
                .monitor_pages()
                .expect("connected");
            let memory = stack.loopback.memory();
            for page in [first, second] {
                memory
                    .write(page, &vec![fill; PAGE_SIZE as usize])
                    .expect("monitor page in RAM");
            }
        }
        Injection::OpenResult { relid } => {
            deliver(stack, &encode::open_channel_result(relid, 0, 0))
        }
        Injection::Torndown { gpadl } => deliver(stack, &encode::gpadl_torndown(gpadl)),
        Injection::Created { relid, gpadl } => {
            deliver(stack, &encode::gpadl_created(relid, gpadl, 0))
        }
        Injection::VersionResponse => deliver(
            stack,
            &encode::version_response(true, 0, MESSAGE_CONNECTION_ID),
        ),
        Injection::UnloadResponse => deliver(stack, &encode::unload_response()),
        Injection::ModifyChannelResponse { relid } => {
            deliver(stack, &encode::modify_channel_response(relid, 0))
        }
        Injection::AllOffersDelivered => deliver(stack, &encode::all_offers_delivered()),
        Injection::Rescind { relid } => deliver(stack, &encode::rescind_channel_offer(relid)),
    }
}

/// What happened in one row.
struct Outcome {
    /// The row's request, if it had one and it completed.
    result: Option<Result<Reply, NtStatus>>,
    counts: Counts,
    noticed: bool,
    /// Whether the row's message was sent while the row's request was being answered (a
    /// request the guest answers itself makes no host reply to bend).
    fired_by_request: bool,
    /// Whether a new process still finds the adapter.
    dxg_works: bool,
    /// Whether the echo channel still works (after UNLOAD: whether the bus unloaded).
    bus_works: bool,
    /// The connection id the guest posts control messages to.
    message_connection_id: Option<u32>,
    /// Objects of all processes on the host right before the row's request was sent and once
    /// it (and whatever the guest sent to undo it) was answered; `None` without a request.
    host_objects: Option<(usize, usize)>,
}

/// Runs `row` (with its hostile host, or with an honest one when `honest`).
fn run(row: &HostileRow, honest: bool) -> (Outcome, HookHandle) {
    let (hook, handle) = HostileHook::new(row);
    if row.scenario == Scenario::Boot && !honest {
        handle.arm();
    }
    let mut stack = Stack::hostile(ServerConfig::standard(1), gaps(), Box::new(hook));
    let mut result = None;
    let mut fired_by_request = true;
    let mut host_objects = None;
    let arm = |handle: &HookHandle| {
        if !honest {
            handle.arm();
        }
    };
    // Boot rows count from a clean start; the others from after boot.
    let before = if row.scenario == Scenario::Boot {
        (0, 0, false)
    } else {
        notices(&stack)
    };
    match row.scenario {
        Scenario::Boot => {}
        Scenario::Request(kind) => {
            let request = prepare(&mut stack, kind);
            let objects_before = stack.services.lock().gpu().object_count();
            arm(&handle);
            let ticket = stack.driver.submit(PROCESS, request);
            stack.pump();
            fired_by_request = handle.fired() > 0;
            // A request the host never answers ends at its time bound.
            if !stack.completions.contains_key(&ticket) {
                stack.expire_waits();
            }
            result = stack.completions.remove(&ticket);
            stack.pump();
            let objects_after = stack.services.lock().gpu().object_count();
            host_objects = Some((objects_before, objects_after));
        }
        Scenario::RescindVgpu => {
            arm(&handle);
            stack.services.lock().rescind_vgpu(0).expect("rescinded");
            stack.pump();
        }
        Scenario::Unload => {
            arm(&handle);
            stack.bus.unload().expect("unload sent");
            stack.pump();
        }
        Scenario::Inject => {
            if let (Mutation::Inject(injection), false) = (row.mutation, honest) {
                perform(&mut stack, injection);
            }
            stack.pump();
        }
    }
    // A delayed control message the guest was waiting for arrives late.
    if let Some(late) = handle.take_held_control() {
        deliver(&stack, &late);
        stack.pump();
    }
    // Whatever the host left unanswered ends at its time bound (issue 14), as the kernel's
    // tasks end it when their deadlines pass.
    stack.expire_waits();
    let after = notices(&stack);
    let noticed = after.0 > before.0 || after.1 > before.1 || (after.2 && !before.2);
    let (dxg_works, bus_works) = if row.scenario == Scenario::Unload {
        // Unloaded, or (UNLOAD_RESPONSE never sent) the wait for it ended at its bound.
        (
            true,
            stack.bus.is_unloaded() || stack.bus.unload_timed_out(),
        )
    } else {
        let create = stack.try_call(
            LATER,
            Request::CreateProcess {
                pid: 200,
                name: "later".into(),
            },
        );
        let adapters = stack.try_call(LATER, Request::EnumAdapters);
        // After the vGPU's rescind no adapter is left (one, if the row kept the rescind from
        // the guest).
        let expected = if row.scenario == Scenario::RescindVgpu {
            0..=1
        } else {
            1..=1
        };
        let dxg_works = matches!(create, Some(Ok(_)))
            && matches!(adapters, Some(Ok(Reply::Adapters(list))) if expected.contains(&list.len()));
        // The counts are taken before the echo channel is opened.
        (dxg_works, true)
    };
    let counts = counts(&mut stack);
    let message_connection_id = stack.bus.message_connection_id();
    let bus_works = bus_works && (row.scenario == Scenario::Unload || echo_works(&mut stack));
    (
        Outcome {
            result,
            counts,
            noticed,
            fired_by_request,
            dxg_works,
            bus_works,
            message_connection_id,
            host_objects,
        },
        handle,
    )
}

/// The checks of one row; `Err` says what went wrong.
fn check(row: &HostileRow) -> Result<(), String> {
    let (outcome, handle) = run(row, false);
    if row.target != Target::None && handle.fired() != 1 {
        return Err("the row's message never appeared".into());
    }
    if !outcome.fired_by_request {
        return Err("the row's request got no reply from the host to bend".into());
    }
    if handle.holding() {
        return Err("a delayed message was never released".into());
    }
    // A connection id the host made up must not be where the guest posts (the guest may
    // notice only later, when its posts fail).
    if let (
        Target::Control(vmbus::messages::MessageType::VERSION_RESPONSE),
        Mutation::PatchU32 { offset, value },
    ) = (row.target, row.mutation)
        && offset == emulator::hostile::offsets::VERSION_CONNECTION_ID
        && outcome.message_connection_id == Some(value)
    {
        return Err(format!("the guest posts to connection id {value:#x}"));
    }
    let counts = outcome.counts;
    if counts.outstanding_transactions != 0 {
        return Err(format!("leak: {counts:?}"));
    }
    // A host that lies in GPADL_CREATED keeps a GPADL the guest was told does not exist: the
    // host's own inconsistency, not the guest's leak.
    let lies_about_gpadls =
        row.target == Target::Control(vmbus::messages::MessageType::GPADL_CREATED);
    if (counts.host_gpadls != counts.host_open_channels && !lies_about_gpadls)
        || counts.host_incomplete_gpadls != 0
    {
        return Err(format!("GPADL leak: {counts:?}"));
    }
    // After UNLOAD the bus no longer tells the dxg glue anything (it is going away).
    if counts.guest_open_channels > counts.host_open_channels && row.scenario != Scenario::Unload {
        return Err(format!("guest holds channels the host closed: {counts:?}"));
    }
    // A guest that refuses the host's VERSION_RESPONSE has no connection to keep working.
    let may_lose_bus = row.target
        == Target::Control(vmbus::messages::MessageType::VERSION_RESPONSE)
        && row.expect == Expect::Noticed
        && outcome.noticed;
    if !outcome.bus_works && !may_lose_bus {
        return Err(format!("the VMBus connection stopped working ({counts:?})"));
    }
    let may_lose_device = row.scenario == Scenario::Boot && row.expect == Expect::Noticed;
    if !outcome.dxg_works && !may_lose_device {
        return Err(format!("dxg stopped working ({counts:?})"));
    }
    match row.expect {
        Expect::Survives => {
            let (honest, _) = run(row, true);
            if counts != honest.counts {
                return Err(format!(
                    "counts differ from an honest host: {counts:?} vs {:?}",
                    honest.counts
                ));
            }
        }
        Expect::Noticed => {
            if !outcome.noticed && !matches!(outcome.result, Some(Err(_))) {
                return Err("the guest did not notice".into());
            }
        }
        Expect::RequestFails => match outcome.result {
            Some(Err(_)) => {}
            Some(Ok(reply)) => return Err(format!("the request succeeded: {reply:?}")),
            None => return Err("the request never completed".into()),
        },
    }
    Ok(())
}

#[test]
fn every_hostile_row() {
    let mut failures = Vec::new();
    let mut defects_seen = Vec::new();
    let mut ran = 0;
    for row in HOSTILE_ROWS {
        if let Some(reason) = row.skipped {
            println!("SKIPPED {:<50} {reason}", row.name);
            continue;
        }
        ran += 1;
        let verdict = catch_unwind(AssertUnwindSafe(|| check(row))).unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {text}"))
        });
        match (verdict, row.known_defect) {
            (Ok(()), None) => println!("ok      {}", row.name),
            (Err(why), Some(defect)) => {
                println!("DEFECT  {:<50} {why} ({defect})", row.name);
                defects_seen.push(row.name);
            }
            (Ok(()), Some(defect)) => failures.push(format!(
                "{}: passes now; remove its known_defect marker ({defect})",
                row.name
            )),
            (Err(why), None) => failures.push(format!("{}: {why}", row.name)),
        }
    }
    println!(
        "{ran} rows run, {} skipped, {} known defects shown",
        HOSTILE_ROWS.len() - ran,
        defects_seen.len()
    );
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));
}

/// A CREATEPAGINGQUEUE or monitored-fence CREATESYNCOBJECT reply the guest refuses for its
/// fence address (outside the IO space, unaligned, in no memory) still created the objects on
/// the host: the guest destroys them again (as Linux's `ioctl.c` error paths do), so the host
/// holds as many objects afterwards as before the request. A truncated reply is not among these
/// rows: its handles cannot be read, so nothing can be destroyed (Linux cannot either).
#[test]
fn refused_fence_replies_leave_no_host_objects() {
    let rows: Vec<&HostileRow> = HOSTILE_ROWS
        .iter()
        .filter(|row| {
            matches!(
                row.scenario,
                Scenario::Request(
                    RequestKind::CreatePagingQueue | RequestKind::CreateMonitoredFence
                )
            ) && matches!(row.mutation, Mutation::PatchU64 { .. })
                && row.skipped.is_none()
        })
        .collect();
    assert!(rows.len() >= 4, "fence-address rows: {}", rows.len());
    for row in rows {
        let (outcome, handle) = run(row, false);
        assert_eq!(
            handle.fired(),
            1,
            "{}: the row's reply never appeared",
            row.name
        );
        assert!(
            matches!(outcome.result, Some(Err(_))),
            "{}: the request did not fail: {:?}",
            row.name,
            outcome.result
        );
        let (before, after) = outcome.host_objects.expect("a request row");
        assert_eq!(
            after, before,
            "{}: host objects before and after the refused reply",
            row.name
        );
        // The honest host did create objects for the same request (the count can move).
        let (honest, _) = run(row, true);
        let (honest_before, honest_after) = honest.host_objects.expect("a request row");
        assert!(
            honest_after > honest_before,
            "{}: honest host created nothing",
            row.name
        );
    }
}

/// What [`refused_allocation_reply`] saw.
struct RefusedAllocation {
    /// The request's completion.
    result: Option<Result<Reply, NtStatus>>,
    /// Host objects of all processes before and after the request.
    host_objects: (usize, usize),
    /// The VM afterwards.
    stack: Stack,
    /// The app's device.
    device: D3dkmtHandle,
    /// The app's allocation made before the request.
    live: D3dkmtHandle,
}

/// CREATEALLOCATION of `count` one-page allocations on a fresh device (with a new resource
/// when `creates_resource`), after one honest CREATEALLOCATION of one allocation (`live`, the
/// app's own), on a VM whose host answers the request with allocation `index`'s handle set
/// to `handle` (given the handle `live` got).
fn refused_allocation_reply(
    creates_resource: bool,
    count: usize,
    index: usize,
    handle: impl Fn(D3dkmtHandle) -> u32,
) -> RefusedAllocation {
    // The emulated host numbers its handles in order, so an honest VM tells the handle the
    // same sequence gets on the hostile one.
    let honest = HostileRow {
        name: "honest",
        target: Target::Completion { relids: &[] },
        occurrence: 0,
        mutation: Mutation::Drop,
        scenario: Scenario::Request(RequestKind::CreateAllocation),
        expect: Expect::Survives,
        skipped: None,
        known_defect: None,
    };
    let prepared = |hook: HostileHook| {
        let mut stack = Stack::hostile(ServerConfig::standard(1), gaps(), Box::new(hook));
        create_process(&mut stack, PROCESS, 100, "refused allocation");
        let adapter = enum_adapters(&mut stack, PROCESS)[0].handle;
        let device = create_device(&mut stack, PROCESS, adapter);
        let (_, live) = create_allocations(&mut stack, PROCESS, device, 0, vec![sized(4096)]);
        (stack, device, live[0].handle)
    };
    let (_, _, expected_live) = prepared(HostileHook::new(&honest).0);
    let row = HostileRow {
        name: "dxg create allocation reply handle refused",
        target: Target::Completion {
            relids: &[DXG_GLOBAL_RELID, DXG_VGPU_RELID],
        },
        mutation: Mutation::PatchU32 {
            offset: CreateAllocationReply::SIZE + index * CreatedAllocationInfo::SIZE,
            value: handle(expected_live),
        },
        expect: Expect::RequestFails,
        ..honest
    };
    let (hook, hook_handle) = HostileHook::new(&row);
    let (mut stack, device, live) = prepared(hook);
    assert_eq!(live, expected_live, "the host numbers its handles in order");
    let flags = if creates_resource {
        CREATE_ALLOCATION_CREATE_RESOURCE
    } else {
        0
    };
    let request = Request::CreateAllocation {
        command: CreateAllocationCommand {
            device,
            resource: D3dkmtHandle::NULL,
            flags,
            ..FromZeros::new_zeroed()
        },
        runtime_data: vec![],
        driver_data: vec![],
        allocations: (0..count).map(|_| sized(4096)).collect(),
    };
    let before = stack.services.lock().gpu().object_count();
    hook_handle.arm();
    let result = stack.try_call(PROCESS, request);
    assert_eq!(hook_handle.fired(), 1, "the reply was never bent");
    let after = stack.services.lock().gpu().object_count();
    RefusedAllocation {
        result,
        host_objects: (before, after),
        stack,
        device,
        live,
    }
}

/// One case of [`refused_create_allocation_replies_are_undone_on_the_host`].
struct Case {
    name: &'static str,
    /// The request creates a resource.
    creates_resource: bool,
    /// Allocations requested.
    count: usize,
    /// The allocation whose handle the host bends.
    index: usize,
    /// The handle it answers, given the app's live allocation.
    handle: fn(D3dkmtHandle) -> u32,
    /// Host objects the guest cannot name, which stay.
    left: usize,
}

/// A CREATEALLOCATION reply whose allocation handles the guest cannot register (null, or the
/// handle of an allocation the app already holds) fails the request with INVALID_HANDLE, and
/// what the host created is destroyed again as far as the guest can name it (Linux's
/// `create_local_allocations`: DESTROYALLOCATION of the returned allocations): a new
/// resource with all its allocations, else the allocations with usable handles; never the
/// app's live allocation. The guest reports the reply and nothing stays outstanding.
#[test]
fn refused_create_allocation_replies_are_undone_on_the_host() {
    let null = |_: D3dkmtHandle| 0;
    let live = |live: D3dkmtHandle| live.0;
    let cases = [
        // A new resource: destroyed whole, nothing remains.
        Case {
            name: "resource, second handle null",
            creates_resource: true,
            count: 2,
            index: 1,
            handle: null,
            left: 0,
        },
        // No resource: the allocation behind the null handle cannot be named (it stays); the
        // other is destroyed.
        Case {
            name: "no resource, first handle null",
            creates_resource: false,
            count: 2,
            index: 0,
            handle: null,
            left: 1,
        },
        // The handle of the app's live allocation: not destroyed (the new allocation behind
        // it cannot be named and stays).
        Case {
            name: "no resource, handle of a live allocation",
            creates_resource: false,
            count: 1,
            index: 0,
            handle: live,
            left: 1,
        },
    ];
    for case in cases {
        let (name, left) = (case.name, case.left);
        let mut outcome =
            refused_allocation_reply(case.creates_resource, case.count, case.index, case.handle);
        assert_eq!(
            outcome.result,
            Some(Err(NtStatus::INVALID_HANDLE)),
            "{name}: the app gets the error"
        );
        let (before, after) = outcome.host_objects;
        assert_eq!(
            after,
            before + left,
            "{name}: host objects before and after"
        );
        assert!(
            !outcome.stack.protocol_errors.is_empty(),
            "{name}: the reply was not reported"
        );
        assert_eq!(
            outcome.stack.driver.outstanding_transactions(),
            0,
            "{name}: a transaction is left outstanding"
        );
        // The app's live allocation is still there, on the host too: destroying it succeeds
        // and takes one host object.
        let destroy = Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device: outcome.device,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![outcome.live],
        };
        let destroyed = outcome.stack.call(PROCESS, destroy);
        assert!(
            destroyed.is_ok(),
            "{name}: the live allocation: {destroyed:?}"
        );
        let remaining = outcome.stack.services.lock().gpu().object_count();
        assert_eq!(
            remaining + 1,
            after,
            "{name}: the live allocation was destroyed"
        );
    }
}
