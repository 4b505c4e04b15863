//! A host answering wrongly at bring-up and with fence pages: absent PCI functions (all-ones
//! config space), duplicate instance GUIDs, adapters disagreeing on the VM-wide async-message
//! flag, fence-page addresses that are unaligned or outside the IO space, and CREATEALLOCATION
//! replies whose handles cannot be registered.

use super::*;

/// Config space of a function that is gone (or a window that is not mapped): every read is
/// all-ones, as PCI answers for an absent function.
struct AbsentFunction {
    writes: usize,
}

impl ConfigSpace for AbsentFunction {
    fn read_u32(&mut self, _offset: u16) -> Result<u32, ConfigSpaceError> {
        Ok(u32::MAX)
    }
    fn write_u32(&mut self, _offset: u16, _value: u32) -> Result<(), ConfigSpaceError> {
        self.writes += 1;
        Ok(())
    }
}

/// Vector G's config space that vanishes after `reads_left` reads (all-ones from then on).
struct VanishingFunction {
    config: Config,
    reads_left: usize,
}

impl ConfigSpace for VanishingFunction {
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError> {
        if self.reads_left == 0 {
            return Ok(u32::MAX);
        }
        self.reads_left -= 1;
        self.config.read_u32(offset)
    }
    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), ConfigSpaceError> {
        self.config.write_u32(offset, value)
    }
}

#[test]
fn all_ones_config_space_is_an_absent_function_not_an_adapter() {
    let mut driver = Driver::new(DriverConfig::default());
    let mut absent = AbsentFunction { writes: 0 };
    assert_eq!(
        driver.probe_pci_function(3, 0x008E, &mut absent),
        Err(ProbeError::FunctionAbsent)
    );
    assert_eq!(absent.writes, 0, "nothing is written to an absent function");
    assert_eq!(driver.interface_version(), 0, "no version was negotiated");
    assert_eq!(driver.host_caps(), 0);
    assert!(driver.adapter(AdapterId(0)).is_none());
    // A present function afterwards negotiates normally.
    driver
        .probe_pci_function(4, 0x008E, &mut Config::new(40))
        .unwrap();
    assert_eq!(driver.interface_version(), 40);
}

#[test]
fn a_function_vanishing_mid_probe_is_refused_and_nothing_is_kept() {
    // Reads: vendor id, version, host caps, then the GUID — vanish at each point after the first.
    for reads_left in 1..=8 {
        let mut driver = Driver::new(DriverConfig::default());
        let mut function = VanishingFunction {
            config: Config::new(40),
            reads_left,
        };
        assert_eq!(
            driver.probe_pci_function(3, 0x008E, &mut function),
            Err(ProbeError::FunctionAbsent),
            "vanished after {reads_left} reads"
        );
        assert_eq!(driver.interface_version(), 0, "after {reads_left} reads");
        assert!(driver.adapter(AdapterId(0)).is_none());
    }
}

#[test]
fn a_second_function_with_the_same_instance_guid_is_refused() {
    let mut driver = Driver::new(DriverConfig::default());
    let first = driver
        .probe_pci_function(1, 0x008E, &mut Config::new(40))
        .unwrap();
    assert_eq!(
        driver.probe_pci_function(2, 0x008E, &mut Config::new(40)),
        Err(ProbeError::DuplicateInstance(Guid::from_bytes(GUID_BYTES)))
    );
    assert!(driver.adapter(AdapterId(first.0 + 1)).is_none());
    // Once the first function is gone, its GUID may come back on a new function.
    driver.remove_pci_function(1);
    let again = driver
        .probe_pci_function(2, 0x008E, &mut Config::new(40))
        .unwrap();
    assert_eq!(
        driver.adapter(again).map(|adapter| adapter.pci_function),
        Some(2)
    );
}

const SECOND_GUID: [u8; 16] = [
    0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE,
];

/// The vGPU command number of an outgoing packet (extension header, then the vGPU header's
/// `command_type` at +16).
fn command_type(packet: &OutgoingPacket) -> u32 {
    u32::from_le_bytes(packet.bytes[32..36].try_into().unwrap())
}

/// Brings up two adapters whose GETINTERNALADAPTERINFO replies carry `flags[0]` (answered first)
/// and `flags[1]`; returns the driver and the actions of the two replies.
fn two_adapters_with_flags(flags: [u32; 2]) -> (Driver, Vec<Action>) {
    let mut driver = Driver::new(DriverConfig::default());
    let mut second = Config::new(40);
    second.guid = SECOND_GUID;
    driver
        .probe_pci_function(0, 0x008E, &mut Config::new(40))
        .unwrap();
    driver.probe_pci_function(1, 0x008E, &mut second).unwrap();
    driver.vgpu_channel_offered(Guid::from_bytes(GUID_BYTES));
    driver.vgpu_channel_offered(Guid::from_bytes(SECOND_GUID));
    driver.global_channel_offered(16);
    while driver.poll_action().is_some() {}
    driver.io_space_allocated(IO_BASE, 16 << 20);
    let set_io_space = sends(&mut driver).remove(0);
    driver.receive(
        ChannelId::Global,
        PacketKind::Completion,
        set_io_space.transaction_id,
        &[0; 4],
    );
    let opens = sends(&mut driver);
    assert_eq!(opens.len(), 2);
    for (index, open) in opens.iter().enumerate() {
        assert_eq!(command_type(open), 14, "OPENADAPTER");
        let host_adapter = 0x41 + 0x40 * index as u32;
        let mut reply = host_adapter.to_le_bytes().to_vec();
        reply.extend(hex("00000000 28000000 10000000"));
        driver.receive(
            open.channel,
            PacketKind::Completion,
            open.transaction_id,
            &reply,
        );
    }
    let infos = sends(&mut driver);
    assert_eq!(infos.len(), 2);
    for (info, flags) in infos.iter().zip(flags) {
        assert_eq!(command_type(info), 36, "GETINTERNALADAPTERINFO");
        let mut reply = vec![0u8; 712];
        reply[12..16].copy_from_slice(&flags.to_le_bytes());
        driver.receive(
            info.channel,
            PacketKind::Completion,
            info.transaction_id,
            &reply,
        );
    }
    let actions = std::iter::from_fn(|| driver.poll_action()).collect();
    (driver, actions)
}

fn states(actions: &[Action]) -> Vec<(AdapterId, AdapterState)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::AdapterStateChanged { adapter, state, .. } => Some((*adapter, *state)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_adapter_fixes_the_async_flag_and_a_disagreeing_one_is_refused() {
    // First on, second off: the VM stays asynchronous, the second adapter is stopped.
    let (driver, actions) = two_adapters_with_flags([ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED, 0]);
    assert!(driver.async_messaging());
    assert_eq!(
        states(&actions),
        vec![
            (AdapterId(0), AdapterState::Active),
            (AdapterId(1), AdapterState::Stopped)
        ]
    );
    assert!(actions.contains(&Action::ProtocolError(
        ProtocolError::AsyncMessagingMismatch {
            adapter: AdapterId(1),
            reported: false
        }
    )));
    // First off, second on: the last answer does not switch the VM to asynchronous messages.
    let (driver, actions) = two_adapters_with_flags([0, ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED]);
    assert!(!driver.async_messaging());
    assert_eq!(
        states(&actions),
        vec![
            (AdapterId(0), AdapterState::Active),
            (AdapterId(1), AdapterState::Stopped)
        ]
    );
    assert!(actions.contains(&Action::ProtocolError(
        ProtocolError::AsyncMessagingMismatch {
            adapter: AdapterId(1),
            reported: true
        }
    )));
    // Agreeing adapters both start.
    let flag = ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED;
    let (driver, actions) = two_adapters_with_flags([flag, flag]);
    assert!(driver.async_messaging());
    assert_eq!(
        states(&actions),
        vec![
            (AdapterId(0), AdapterState::Active),
            (AdapterId(1), AdapterState::Active)
        ]
    );
}

/// Fence addresses the host must not get away with (IO space: 16 MiB at `IO_BASE`).
fn bad_fence_addresses() -> [u64; 6] {
    [
        0x1000,               // guest RAM, outside the IO space
        IO_BASE + 0x4008,     // inside, not page-aligned
        IO_BASE + 0x4800,     // inside, half a page in
        IO_BASE + (16 << 20), // the page just past the end
        IO_BASE - 0x1000,     // the page just before the start
        !(PAGE_SIZE - 1),     // the last page: aligned, its end overflows
    ]
}

fn is_bad_reply(action: &Action) -> bool {
    matches!(
        action,
        Action::ProtocolError(ProtocolError::BadReply { .. })
    )
}

#[test]
fn paging_queue_fence_address_must_be_a_whole_io_space_page() {
    let (mut driver, _, device) = with_device();
    for address in bad_fence_addresses() {
        let (ticket, packet) = one_packet(
            &mut driver,
            Request::CreatePagingQueue(CreatePagingQueueCommand {
                device,
                priority: 0,
                ..FromZeros::new_zeroed()
            }),
        );
        let mut reply = hex("40010000 80010000");
        reply.extend(address.to_le_bytes());
        reply.extend([0; 8]);
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            &reply,
        );
        let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
        assert!(
            actions.iter().any(is_bad_reply),
            "{address:#x}: {actions:?}"
        );
        assert!(
            actions.contains(&Action::Complete {
                ticket,
                result: Err(NtStatus::INVALID_PARAMETER)
            }),
            "{address:#x}: {actions:?}"
        );
    }
    // Nothing was registered: the same handles are accepted with a good page.
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
    );
    let reply = hex("40010000 80010000 00f0ff0001000000 0000000000000000");
    assert_eq!(
        answer(&mut driver, &packet, &reply),
        Ok(Reply::PagingQueue {
            paging_queue: D3dkmtHandle(0x140),
            sync_object: D3dkmtHandle(0x180),
            fence_address: IO_BASE + (16 << 20) - 0x1000,
        })
    );
}

#[test]
fn monitored_fence_address_must_be_a_whole_io_space_page() {
    let (mut driver, _, device) = with_device();
    let monitored = || Request::CreateSyncObject {
        device,
        kind: SyncObjectKind::MonitoredFence {
            initial_value: 0,
            engine_affinity: 0,
        },
        flags: 0,
    };
    for address in bad_fence_addresses() {
        let (ticket, packet) = one_packet(&mut driver, monitored());
        let mut reply = hex("40010000 00000000 0000000000000000");
        reply.extend(address.to_le_bytes());
        reply.extend([0; 8]);
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            &reply,
        );
        let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
        assert!(
            actions.iter().any(is_bad_reply),
            "{address:#x}: {actions:?}"
        );
        assert!(
            actions.contains(&Action::Complete {
                ticket,
                result: Err(NtStatus::INVALID_PARAMETER)
            }),
            "{address:#x}: {actions:?}"
        );
    }
}

/// One 72-byte CREATEALLOCATION reply info (dxg.md §3.7) naming `handle`: one page, no
/// private data, no flags.
fn allocation_info(handle: u32) -> Vec<u8> {
    let mut info = vec![0u8; 72];
    info[..4].copy_from_slice(&handle.to_le_bytes());
    info[16..24].copy_from_slice(&0x1000u64.to_le_bytes());
    info
}

/// CREATEALLOCATION of four allocations on `device` (with a new resource when `flags` has
/// create_resource), answered with a reply naming `resource` and `handles`: the request's
/// result and the packets the driver sent in answer.
fn refused_allocations(
    driver: &mut Driver,
    device: D3dkmtHandle,
    flags: u32,
    resource: u32,
    handles: [u32; 4],
) -> (Vec<Result<Reply, NtStatus>>, Vec<OutgoingPacket>) {
    let request = Request::CreateAllocation {
        command: CreateAllocationCommand {
            device,
            resource: D3dkmtHandle::NULL,
            flags,
            ..FromZeros::new_zeroed()
        },
        runtime_data: vec![],
        driver_data: vec![],
        allocations: vec![AllocationRequest::default(); 4],
    };
    let (ticket, packet) = one_packet(driver, request);
    let mut reply = hex("00000000");
    reply.extend(resource.to_le_bytes());
    reply.extend(hex("00000000 00000000"));
    for handle in handles {
        reply.extend(allocation_info(handle));
    }
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &reply,
    );
    let (mut results, mut sent) = (Vec::new(), Vec::new());
    while let Some(action) = driver.poll_action() {
        match action {
            Action::Complete {
                ticket: done,
                result,
            } if done == ticket => results.push(result),
            Action::Send(packet) => sent.push(packet),
            _ => {}
        }
    }
    (results, sent)
}

/// A CREATEALLOCATION reply whose handles cannot all be registered fails the request with
/// INVALID_HANDLE and destroys what the host created (dxg.md §3.7; Linux
/// `create_local_allocations` in drivers/hv/dxgkrnl/dxgvmbus.c): one DESTROYALLOCATION
/// (assume_not_in_use) listing the returned handles the guest can name — not the null one,
/// the duplicate once, not the device's (a live object of the app) — or, when the reply
/// created a resource, DESTROYALLOCATION of that resource (count 0).
#[test]
fn a_refused_create_allocation_reply_is_destroyed_on_the_host() {
    let (mut driver, _, device) = with_device();
    let (results, sent) = refused_allocations(&mut driver, device, 0, 0, [0x100, 0, 0x100, 0x80]);
    assert_eq!(results, vec![Err(NtStatus::INVALID_HANDLE)]);
    assert_eq!(sent.len(), 1, "one DESTROYALLOCATION: {sent:?}");
    // Linux dxgvmbus.h dxgkvmb_command_destroyallocation: +24 device | +28 resource 0 |
    // +32 count 1 | +36 flags 1 (assume_not_in_use) | +40 handles (0x100); 48 + 4n.
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 05000000 00000000
                        80000000 00000000 01000000 01000000 00010000 0000000000000000");
    assert_eq!(
        sent[0].bytes, expected,
        "DESTROYALLOCATION of the allocations"
    );
    // Nothing of the refused reply stays registered: the device (0x80) is still the app's.
    assert!(driver.process(ProcessId(1)).is_some_and(|process| {
        process.get(D3dkmtHandle(0x100)).is_none() && process.get(device).is_some()
    }));

    // A new resource (0x140) is destroyed whole (it takes its allocations along).
    let flags = CREATE_ALLOCATION_CREATE_RESOURCE;
    let (results, sent) = refused_allocations(&mut driver, device, flags, 0x140, [0x180, 0, 0, 0]);
    assert_eq!(results, vec![Err(NtStatus::INVALID_HANDLE)]);
    assert_eq!(sent.len(), 1, "one DESTROYALLOCATION: {sent:?}");
    // +28 resource 0x140 | +32 count 0 | +36 flags 1; 48 bytes.
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 05000000 00000000
                        80000000 40010000 00000000 01000000 0000000000000000");
    assert_eq!(sent[0].bytes, expected, "DESTROYALLOCATION of the resource");

    // All handles null: nothing can be named, nothing is sent.
    let (results, sent) = refused_allocations(&mut driver, device, 0, 0, [0; 4]);
    assert_eq!(results, vec![Err(NtStatus::INVALID_HANDLE)]);
    assert!(sent.is_empty(), "{sent:?}");
}
