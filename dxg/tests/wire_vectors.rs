//! Byte-exact vectors, written by hand from shared/reference/dxg.md (§2.2, §2.3, §3), compared
//! with what the driver emits; plus state-machine and hostile-reply tests.

use dxg::core::*;
use dxg::wire::*;
use zerocopy::FromZeros;

/// Parses hand-written hex (whitespace ignored).
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

const IO_BASE: u64 = 0x1_0000_0000;
const GUID_BYTES: [u8; 16] = [
    0x67, 0x45, 0x23, 0x01, 0xAB, 0x89, 0xEF, 0xCD, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
];

/// Config space of vPCI reference §10 G: version 40, LUID 0xABCD, caps 0.
struct Config {
    version: u32,
    writes: Vec<(u16, u32)>,
    guid: [u8; 16],
}

impl Config {
    /// Config space of vector G reporting `version`.
    fn new(version: u32) -> Self {
        Self {
            version,
            writes: Vec::new(),
            guid: GUID_BYTES,
        }
    }
}

impl ConfigSpace for Config {
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError> {
        Ok(match offset {
            0xC0..=0xCC => u32::from_le_bytes(
                self.guid[(offset - 0xC0) as usize..][..4]
                    .try_into()
                    .unwrap(),
            ),
            0xD0 => self.version,
            0xD4 => 0xABCD,
            _ => 0,
        })
    }
    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), ConfigSpaceError> {
        self.writes.push((offset, value));
        Ok(())
    }
}

fn sends(driver: &mut Driver) -> Vec<OutgoingPacket> {
    let mut packets = Vec::new();
    while let Some(action) = driver.poll_action() {
        if let Action::Send(packet) = action {
            packets.push(packet);
        }
    }
    packets
}

fn completions(driver: &mut Driver) -> Vec<(Ticket, Result<Reply, NtStatus>)> {
    let mut done = Vec::new();
    while let Some(action) = driver.poll_action() {
        if let Action::Complete { ticket, result } = action {
            done.push((ticket, result));
        }
    }
    done
}

fn vgpu_channel() -> ChannelId {
    ChannelId::Vgpu(Guid::from_bytes(GUID_BYTES))
}

/// Brings one adapter up by hand, checking every bring-up packet byte for byte.
fn bring_up() -> Driver {
    let mut driver = Driver::new(DriverConfig::default());
    let mut config = Config::new(40);
    // PCI function first, then the vGPU offer, then the global offer (any order works).
    driver.probe_pci_function(7, 0x008E, &mut config).unwrap();
    assert_eq!(config.writes, vec![(0xD4, 1), (0xD0, 40)]);
    driver.vgpu_channel_offered(Guid::from_bytes(GUID_BYTES));
    assert!(
        driver.poll_action().is_none(),
        "nothing starts before the global channel"
    );
    driver.global_channel_offered(16);
    assert_eq!(
        driver.poll_action(),
        Some(Action::OpenChannel {
            channel: ChannelId::Global,
            ring_bytes: 262_144,
            max_packet_bytes: 131_072
        })
    );
    assert_eq!(
        driver.poll_action(),
        Some(Action::AllocateIoSpace {
            bytes: 16 << 20,
            alignment: 65_536
        })
    );
    driver.io_space_allocated(IO_BASE, 16 << 20);
    let packets = sends(&mut driver);
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].channel, ChannelId::Global);
    assert_eq!(packets[0].transaction_id, 1);
    assert!(packets[0].completion_requested);
    // SETIOSPACEREGION: ext hdr (LUID 0) | global hdr type 1010 | start | length | gpadl | pad
    let expected = hex("10000000 00000000 00000000 00000000
                        0000000000000000 00000000 01000000 f2030000 00000000
                        0000000001000000 0000000100000000 00000000 00000000");
    assert_eq!(packets[0].bytes, expected);
    driver.receive(ChannelId::Global, PacketKind::Completion, 1, &[0, 0, 0, 0]);
    let mut opened = false;
    let mut open_adapter = None;
    while let Some(action) = driver.poll_action() {
        match action {
            Action::OpenChannel { channel, .. } => opened = channel == vgpu_channel(),
            Action::Send(packet) => open_adapter = Some(packet),
            other => panic!("{other:?}"),
        }
    }
    assert!(opened);
    let open_adapter = open_adapter.unwrap();
    assert_eq!(
        (open_adapter.channel, open_adapter.transaction_id),
        (vgpu_channel(), 1)
    );
    // OPENADAPTER: ext hdr (vGPU LUID 0xABCD) | vgpu hdr type 14 | version 40 | 16 | guest LUID 0
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 00000000 00000000 0e000000 00000000
                        28000000 10000000 0000000000000000");
    assert_eq!(open_adapter.bytes, expected);
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        1,
        &hex("41000000 00000000 28000000 10000000"),
    );
    let info = sends(&mut driver);
    // GETINTERNALADAPTERINFO: header only.
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 00000000 00000000 24000000 00000000");
    assert_eq!(info[0].bytes, expected);
    // dxgkvmb_command_getinternaladapterinfo_return: host adapter LUID at +16, vGPU LUID at +704.
    let mut reply = vec![0u8; 712];
    reply[16..24].copy_from_slice(&hex("99887766 55000000"));
    reply[704..708].copy_from_slice(&0xABCDu32.to_le_bytes());
    driver.receive(vgpu_channel(), PacketKind::Completion, 2, &reply);
    let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert!(
        matches!(
            actions[..],
            [Action::AdapterStateChanged {
                state: AdapterState::Active,
                ..
            }]
        ),
        "{actions:?}"
    );
    driver
}

/// Creates process 1 (host handle 0x40) and checks CREATEPROCESS.
fn with_process() -> Driver {
    let mut driver = bring_up();
    let ticket = driver.submit(
        ProcessId(1),
        Request::CreateProcess {
            pid: 0x1234,
            name: "ab".into(),
        },
    );
    let packet = sends(&mut driver).remove(0);
    assert_eq!(packet.bytes.len(), 16 + 568);
    // ext (LUID 0) | global hdr type 1000 | cookie (opaque) | pid 0x1234 | "ab" UTF-16 ...
    assert_eq!(
        &packet.bytes[..40],
        &hex("10000000 00000000 00000000 00000000
                                          0000000000000000 00000000 01000000 e8030000 00000000")[..]
    );
    assert_eq!(&packet.bytes[48..60], &hex("3412000000000000 61006200")[..]);
    assert_eq!(packet.bytes[16 + 562], 0x08, "linux_process flag");
    driver.receive(
        ChannelId::Global,
        PacketKind::Completion,
        packet.transaction_id,
        &hex("40000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(
            ticket,
            Ok(Reply::ProcessCreated {
                host_process: D3dkmtHandle(0x40)
            })
        )]
    );
    driver
}

/// The CREATEPROCESS cookie is the caller's process id plus 0x1000_0000; an id whose cookie
/// does not fit in 64 bits is refused (it overflowed, a panic in debug builds) and leaves no
/// process behind.
#[test]
fn create_process_refuses_an_id_whose_cookie_overflows() {
    let mut driver = bring_up();
    let pid = ProcessId(u64::MAX - 0x0FFF_FFFF);
    let ticket = driver.submit(
        pid,
        Request::CreateProcess {
            pid: 7,
            name: "x".into(),
        },
    );
    let mut sent = Vec::new();
    let mut done = Vec::new();
    while let Some(action) = driver.poll_action() {
        match action {
            Action::Send(packet) => sent.push(packet),
            Action::Complete { ticket, result } => done.push((ticket, result)),
            _ => {}
        }
    }
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(done, vec![(ticket, Err(NtStatus::INVALID_PARAMETER))]);
    assert!(driver.process(pid).is_none());
}

fn adapter_handle(driver: &mut Driver) -> D3dkmtHandle {
    driver.submit(ProcessId(1), Request::EnumAdapters);
    match completions(driver).remove(0).1 {
        Ok(Reply::Adapters(list)) => {
            assert_eq!(
                list[0].luid,
                Luid {
                    low: 0x0123_4567,
                    high: 0xCDEF_89AB
                },
                "adapter LUID = first 8 GUID bytes"
            );
            list[0].handle
        }
        other => panic!("{other:?}"),
    }
}

/// Submits a request and returns its single packet.
fn one_packet(driver: &mut Driver, request: Request) -> (Ticket, OutgoingPacket) {
    let ticket = driver.submit(ProcessId(1), request);
    let mut packets = sends(driver);
    assert_eq!(packets.len(), 1);
    (ticket, packets.remove(0))
}

fn with_device() -> (Driver, D3dkmtHandle, D3dkmtHandle) {
    let mut driver = with_process();
    let adapter = adapter_handle(&mut driver);
    let (ticket, packet) = one_packet(&mut driver, Request::CreateDevice { adapter, flags: 2 });
    let mut expected = hex("10000000 00000000 cdab0000 00000000
                            0000000000000000 40000000 00000000 00000000 00000000
                            02000000 00 000000");
    expected.extend_from_slice(&DriverConfig::default().device_state_cookie.to_le_bytes());
    assert_eq!(packet.bytes, expected, "CREATEDEVICE");
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("80000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::Device(D3dkmtHandle(0x80))))]
    );
    (driver, adapter, D3dkmtHandle(0x80))
}

#[test]
fn bring_up_packets_are_byte_exact() {
    let driver = bring_up();
    assert_eq!(driver.interface_version(), 40);
    assert_eq!(driver.io_space(), Some((IO_BASE, 16 << 20)));
}

#[test]
fn query_adapter_info_vector_and_reply() {
    let mut driver = with_process();
    let adapter = adapter_handle(&mut driver);
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::QueryAdapterInfo {
            adapter,
            query_type: 57,
            data: vec![0xEE; 4],
        },
    );
    // hdr type 2 | query type 57 | size 4 | data | 7 bytes placeholder padding (39 + size)
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 02000000 00000000
                        39000000 04000000 eeeeeeee 00000000000000");
    assert_eq!(packet.bytes, expected);
    // [status][data]: display_supported (bit 1) set by the host is cleared, paravirtualized set.
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000 03000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::AdapterInfo(hex("81000000"))))]
    );
}

#[test]
fn device_context_allocation_lock_vectors() {
    let (mut driver, _, device) = with_device();
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::CreateContext {
            command: CreateContextVirtualCommand {
                device,
                node_ordinal: 1,
                engine_affinity: 2,
                flags: 4,
                client_hint: 7,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![0xAA, 0xBB],
        },
    );
    // CREATECONTEXTVIRTUAL: 55 + n bytes after the ext header.
    let expected = hex(
        "10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 06000000 00000000
                        00000000 80000000 01000000 02000000 04000000 07000000 02000000 aabb 000000",
    );
    assert_eq!(packet.bytes, expected, "CREATECONTEXTVIRTUAL");
    let mut echo = packet.bytes[16..].to_vec();
    echo[24..28].copy_from_slice(&0xC0u32.to_le_bytes());
    echo[52] = 0x11;
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &echo,
    );
    assert_eq!(
        completions(&mut driver),
        vec![(
            ticket,
            Ok(Reply::Context {
                context: D3dkmtHandle(0xC0),
                private_data: vec![0x11, 0xBB]
            })
        )]
    );

    let (ticket, packet) = one_packet(
        &mut driver,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: 0x200,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![0x01, 0x0A, 0x0B],
            driver_data: vec![0x02, 0x03],
            allocations: vec![AllocationRequest {
                flags: 1,
                vidpn_source_id: 5,
                private_data: vec![0x04, 0x05, 0x06, 0x07],
            }],
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_createallocation: +24 device | +28 resource |
    // +32 R=3 | +36 G=2 | +40 n=1 | +44 flags (create_cached) | +48 runtime resource handle |
    // +56 make_resident + pad, then dxgkvmb_command_createallocation_allocinfo
    // {flags 1, P0=4, vidpn 5}, then R, G, P0 bytes.
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 04000000 00000000
                        80000000 00000000 03000000 02000000 01000000 00020000 0000000000000000 00 00000000000000
                        01000000 04000000 05000000 010a0b 0203 04050607");
    assert_eq!(packet.bytes, expected, "CREATEALLOCATION");
    // Reply: 16-byte header + 72-byte info (allocation 0x100, size 0x2000, cached) + private byte.
    let mut reply = hex("00000000 00000000 00000000 00000000");
    let mut info = vec![0u8; 72];
    info[..4].copy_from_slice(&0x100u32.to_le_bytes());
    info[4..8].copy_from_slice(&1u32.to_le_bytes());
    info[8..12].copy_from_slice(&(1u32 << 19).to_le_bytes());
    info[16..24].copy_from_slice(&0x2000u64.to_le_bytes());
    reply.extend(info);
    reply.push(0x04);
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &reply,
    );
    let allocation = D3dkmtHandle(0x100);
    assert_eq!(
        completions(&mut driver),
        vec![(
            ticket,
            Ok(Reply::Allocations {
                resource: D3dkmtHandle::NULL,
                allocations: vec![CreatedAllocation {
                    handle: allocation,
                    size: 0x2000,
                    flags: 1 << 19
                }]
            })
        )]
    );

    let (ticket, packet) = one_packet(&mut driver, Request::Lock { device, allocation });
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 17000000 00000000
                        80000000 00010000 00000000 00000000 0000000000000000 00000000 00000000 00000000 00000000");
    assert_eq!(packet.bytes, expected, "LOCK2");
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000 00000000 0030000001000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(
            ticket,
            Ok(Reply::Locked {
                address: IO_BASE + 0x3000,
                cached: true
            })
        )]
    );

    // A lock address outside the IO space is refused.
    let (ticket, packet) = one_packet(&mut driver, Request::Lock { device, allocation });
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000 00000000 0000000000000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Err(NtStatus::INVALID_PARAMETER))]
    );

    let (_, packet) = one_packet(
        &mut driver,
        Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: 2,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![allocation],
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_destroyallocation: +24 device | +28 resource |
    // +32 count 1 | +36 flags 2 (synchronous_destroy) | +40 handles; 48 + 4n (one slot + 4 bytes
    // of slack)
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 05000000 00000000
                        80000000 00000000 01000000 02000000 00010000 0000000000000000");
    assert_eq!(packet.bytes, expected, "DESTROYALLOCATION");
}

#[test]
fn sync_object_wait_and_signal_vectors() {
    let (mut driver, _, device) = with_device();
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::CreateSyncObject {
            device,
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 9,
                engine_affinity: 3,
            },
            flags: 0x20,
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_createsyncobject = header +
    // d3dkmt_createsynchronizationobject2 (uapi d3dkmthk.h) + client_hint: +24 device |
    // +28 reserved | +32 type 5 (monitored fence) | +36 flags (no_wait) | +40 64-byte union
    // {initial value 9, CPU VA, GPU VA, engine affinity 3} | +104 shared handle | pad |
    // +112 sync object | +116 reserved1 | +120 client hint 1 | pad.
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 08000000 00000000
                        80000000 00000000 05000000 20000000
                        0900000000000000 0000000000000000 0000000000000000 0300000000000000
                        0000000000000000 0000000000000000 0000000000000000 0000000000000000
                        00000000 00000000 00000000 00000000 01000000 00000000");
    assert_eq!(packet.bytes, expected, "CREATESYNCOBJECT");
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("40010000 00000000 0000000000000000 0010000001000000 00000000 00000000"),
    );
    let fence = D3dkmtHandle(0x140);
    assert!(
        matches!(&completions(&mut driver)[..], [(t, Ok(Reply::SyncObject { handle, fence_address, .. }))]
        if *t == ticket && *handle == fence && *fence_address == IO_BASE + 0x1000)
    );

    let (ticket, packet) = one_packet(
        &mut driver,
        Request::WaitFromCpu {
            device,
            objects: vec![fence, fence],
            values: vec![9, 10],
            wait_any: true,
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_waitforsyncobjectfromcpu: +24 device | +28 n 2 |
    // +32 flags (wait_any) | pad | +40 event id 2 (first id handed out) | +48 dereference_event
    // + pad | +56 handles | values
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 16000000 00000000
                        80000000 02000000 01000000 00000000 0200000000000000 00 00000000000000
                        40010000 40010000 0900000000000000 0a00000000000000");
    assert_eq!(packet.bytes, expected, "WAITFORSYNCOBJECTFROMCPU");
    // The signal may arrive before the acknowledgement.
    let signal = hex(
        "0000000000000000 00000000 02000000 00000000 00000000 0200000000000000 0000000000000000 00 00000000000000",
    );
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, &signal);
    assert!(completions(&mut driver).is_empty());
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::WaitCompleted))]
    );
    assert_eq!(driver.registered_events(), 0);

    let (_, packet) = one_packet(
        &mut driver,
        Request::SignalFromCpu {
            device,
            objects: vec![fence],
            values: vec![0x1_0000_0002],
        },
    );
    // SIGNALSYNCOBJECT: n=1 | flags | contexts 0 | pad | fence_value | device | handle | value
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 00000000 1a000000 00000000
                        01000000 00000000 00000000 00000000 0000000000000000 8000000000000000
                        40010000 0200000001000000");
    assert_eq!(packet.bytes, expected, "SIGNALSYNCOBJECT");

    let (_, packet) = one_packet(
        &mut driver,
        Request::DestroySyncObject { sync_object: fence },
    );
    let expected = hex("10000000 00000000 cdab0000 00000000
                        0000000000000000 40000000 01000000 eb030000 00000000 40010000 00000000");
    assert_eq!(packet.channel, ChannelId::Global);
    assert_eq!(packet.bytes, expected, "DESTROYSYNCOBJECT (global)");
}

#[test]
fn process_teardown_flushes_destroys_then_destroys_process() {
    let (mut driver, _, _device) = with_device();
    let ticket = driver.submit(ProcessId(1), Request::DestroyProcess);
    let packets = sends(&mut driver);
    let types: Vec<u32> = packets
        .iter()
        .map(|packet| u32::from_le_bytes(packet.bytes[32..36].try_into().unwrap()))
        .collect();
    assert_eq!(types, vec![42, 1], "FLUSHDEVICE then DESTROYDEVICE");
    assert_eq!(
        &packets[0].bytes[40..48],
        &hex("80000000 04000000")[..],
        "FLUSHDEVICE reason 4"
    );
    for packet in &packets {
        driver.receive(
            vgpu_channel(),
            PacketKind::Completion,
            packet.transaction_id,
            &hex("00000000"),
        );
    }
    let last = sends(&mut driver);
    assert_eq!(
        last[0].bytes,
        hex(
            "10000000 00000000 00000000 00000000 0000000000000000 40000000 01000000 e9030000 00000000"
        )
    );
    driver.receive(
        ChannelId::Global,
        PacketKind::Completion,
        last[0].transaction_id,
        &hex("00000000"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::Status(NtStatus::SUCCESS)))]
    );
    assert!(driver.process(ProcessId(1)).is_none());
}

#[test]
fn hostile_replies_produce_typed_errors() {
    let (mut driver, adapter, device) = with_device();
    // Wrong transaction id: dropped, reported, request still pending.
    let (ticket, packet) = one_packet(&mut driver, Request::CreateDevice { adapter, flags: 0 });
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id + 100,
        &hex("84000000"),
    );
    let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert!(matches!(
        actions[..],
        [Action::ProtocolError(
            ProtocolError::UnknownTransaction { .. }
        )]
    ));
    // Short reply: BUFFER_TOO_SMALL plus a typed protocol error.
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &[0x84],
    );
    let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert!(
        actions.contains(&Action::ProtocolError(ProtocolError::ReplyTooShort {
            command: 0,
            expected: 4,
            received: 1
        }))
    );
    assert!(actions.contains(&Action::Complete {
        ticket,
        result: Err(NtStatus::BUFFER_TOO_SMALL)
    }));
    // Oversize reply: accepted and truncated.
    let (ticket, packet) = one_packet(&mut driver, Request::CreateDevice { adapter, flags: 0 });
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &[0xC4, 0, 0, 0, 9, 9, 9, 9, 9, 9],
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::Device(D3dkmtHandle(0xC4))))]
    );
    // Duplicate handle index: rejected.
    let (ticket, packet) = one_packet(&mut driver, Request::CreateDevice { adapter, flags: 0 });
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packet.transaction_id,
        &hex("80000000"),
    );
    let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert!(actions.contains(&Action::Complete {
        ticket,
        result: Err(NtStatus::INVALID_HANDLE)
    }));
    // Unknown notification, in-band on a vGPU channel, short notification, unknown event.
    driver.receive(
        ChannelId::Global,
        PacketKind::InBand,
        0,
        &hex("0000000000000000 00000000 02000000 09000000 00000000"),
    );
    driver.receive(vgpu_channel(), PacketKind::InBand, 0, &[0; 48]);
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, &[0; 30]);
    let signal = hex(
        "0000000000000000 00000000 02000000 00000000 00000000 6300000000000000 0000000000000000 00 00000000000000",
    );
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, &signal[..30]);
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, &signal);
    let errors: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert!(
        matches!(
            errors[..],
            [
                Action::ProtocolError(ProtocolError::BadNotification(WireError::UnknownCommand(9))),
                Action::ProtocolError(ProtocolError::InBandOnVgpuChannel(_)),
                Action::ProtocolError(ProtocolError::BadNotification(WireError::InvalidField(
                    "channel_type"
                ))),
                Action::ProtocolError(ProtocolError::BadNotification(WireError::TooShort { .. })),
                Action::ProtocolError(ProtocolError::UnknownGuestEvent(0x63)),
            ]
        ),
        "{errors:?}"
    );
    // A failure status is passed through typed (DESTROYDEVICE answered with INVALID_HANDLE).
    let ticket = driver.submit(ProcessId(1), Request::DestroyDevice { device });
    let packets = sends(&mut driver);
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packets[0].transaction_id,
        &hex("00000000"),
    );
    driver.receive(
        vgpu_channel(),
        PacketKind::Completion,
        packets[1].transaction_id,
        &hex("080000c0"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Err(NtStatus::INVALID_HANDLE))]
    );
}

#[test]
fn requests_are_validated_before_sending() {
    let (mut driver, adapter, device) = with_device();
    let bad = [
        Request::QueryAdapterInfo {
            adapter,
            query_type: 1,
            data: vec![],
        },
        Request::WaitFromCpu {
            device,
            objects: vec![],
            values: vec![],
            wait_any: false,
        },
        Request::SignalFromCpu {
            device,
            objects: vec![device; 33],
            values: vec![0; 33],
        },
        Request::SubmitCommand {
            contexts: vec![],
            command_buffer: 0,
            command_length: 0,
            private_data: vec![],
            history_buffers: vec![],
        },
        Request::Lock {
            device,
            allocation: device,
        },
        Request::CreateDevice {
            adapter: D3dkmtHandle(0x999),
            flags: 0,
        },
    ];
    let expected = [
        NtStatus::INVALID_PARAMETER,
        NtStatus::INVALID_PARAMETER,
        NtStatus::INVALID_PARAMETER,
        NtStatus::INVALID_PARAMETER,
        NtStatus::OBJECT_TYPE_MISMATCH,
        NtStatus::INVALID_HANDLE,
    ];
    for (request, status) in bad.into_iter().zip(expected) {
        let ticket = driver.submit(ProcessId(1), request);
        let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
        assert_eq!(
            actions,
            vec![Action::Complete {
                ticket,
                result: Err(status)
            }]
        );
    }
    // Unknown process.
    let ticket = driver.submit(ProcessId(77), Request::EnumAdapters);
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Err(NtStatus::INVALID_HANDLE))]
    );
}

#[test]
fn version_27_and_zero_mmio() {
    let mut driver = Driver::new(DriverConfig::default());
    let mut config = Config::new(0);
    driver.probe_pci_function(1, 0x008E, &mut config).unwrap();
    assert_eq!(
        config.writes,
        vec![(0xD4, 1)],
        "no version write for an old host"
    );
    assert_eq!(driver.interface_version(), 27);
    driver.global_channel_offered(0);
    driver.vgpu_channel_offered(Guid::from_bytes(GUID_BYTES));
    let actions: Vec<_> = std::iter::from_fn(|| driver.poll_action()).collect();
    assert_eq!(
        actions,
        vec![Action::ProtocolError(ProtocolError::NoIoSpace)]
    );
    driver.global_channel_offered(8);
    assert_eq!(
        driver.poll_action(),
        Some(Action::ProtocolError(ProtocolError::DuplicateGlobalChannel))
    );
}

#[test]
fn sixty_five_adapters_are_refused() {
    let mut driver = Driver::new(DriverConfig::default());
    let function = |index: u8| {
        let mut config = Config::new(40);
        config.guid[15] = index;
        config
    };
    for index in 0..64 {
        driver
            .probe_pci_function(u32::from(index), 0x008E, &mut function(index))
            .unwrap();
    }
    let result = driver.probe_pci_function(64, 0x008E, &mut function(64));
    assert_eq!(result, Err(ProbeError::TooManyAdapters));
}

#[test]
fn handle_bit_layout() {
    let handle = D3dkmtHandle::new(0x12_3456, 2, 5);
    assert_eq!(handle.0, (2 << 30) | (0x12_3456 << 6) | 5);
    assert_eq!(
        (handle.index(), handle.unique(), handle.instance()),
        (0x12_3456, 2, 5)
    );
    assert_eq!(NtStatus::DEVICE_REMOVED.to_errno(), 19);
    assert_eq!(NtStatus::PENDING.to_errno(), 0);
    assert_eq!(VgpuCommand::from_u32(63), None);
    assert_eq!(VgpuCommand::ALL.len(), 68);
    assert_eq!(
        GlobalCommand::from_u32(1022),
        Some(GlobalCommand::IsFeatureEnabledGlobal)
    );
}

// ---- Commands beyond the smoke path (dxg.md §3.12, §3.14, §3.23–§3.25). ----

const EXT: &str = "10000000 00000000 cdab0000 00000000";

/// Answers `packet` and returns the single completion.
fn answer(driver: &mut Driver, packet: &OutgoingPacket, reply: &[u8]) -> Result<Reply, NtStatus> {
    driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        reply,
    );
    let mut done = completions(driver);
    assert_eq!(done.len(), 1, "{done:?}");
    done.remove(0).1
}

/// A request, its expected bytes (hex), the host's reply and the decoded result.
type VectorCase = (Request, String, Vec<u8>, Result<Reply, NtStatus>);

/// Answers `packet` with status 0 and expects success.
fn answer_status_ok(driver: &mut Driver, packet: &OutgoingPacket) {
    assert_eq!(
        answer(driver, packet, &hex("00000000")),
        Ok(Reply::Status(NtStatus::SUCCESS))
    );
}

/// Creates a context of `device` without private data; the host's echo names it by `handle`
/// (hand-written hex, at +24 of the echo).
fn create_plain_context(driver: &mut Driver, device: D3dkmtHandle, handle: &str) {
    let (_, packet) = one_packet(
        driver,
        Request::CreateContext {
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
    );
    let mut echo = packet.bytes[16..].to_vec();
    echo[24..28].copy_from_slice(&hex(handle));
    assert!(answer(driver, &packet, &echo).is_ok());
}

/// Sends each request, compares its bytes with the hand-written hex and the decoded reply.
fn check_vectors(driver: &mut Driver, cases: Vec<VectorCase>) {
    for (request, expected, reply, result) in cases {
        let name = format!("{request:?}");
        let (_, packet) = one_packet(driver, request);
        assert_eq!(packet.bytes, hex(&expected), "{name}");
        assert_eq!(answer(driver, &packet, &reply), result, "{name}");
    }
}

/// Device 0x80 plus context 0xC0, allocation 0x100 (2 pages), paging queue 0x140 with fence 0x180.
fn with_objects() -> (Driver, D3dkmtHandle) {
    let (mut driver, adapter, device) = with_device();
    create_plain_context(&mut driver, device, "c0000000");
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default()],
        },
    );
    let mut reply = hex("00000000 00000000 00000000 00000000");
    reply.extend(hex("00010000 00000000 00000800 00000000 0020000000000000"));
    reply.extend(vec![0u8; 48]);
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
    );
    let reply = hex("40010000 80010000 0040000001000000 0000000000000000");
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    (driver, adapter)
}

#[test]
fn gpu_virtual_address_vectors() {
    let (mut driver, adapter) = with_objects();
    let (_, packet) = one_packet(
        &mut driver,
        Request::ReserveGpuVirtualAddress {
            paging_queue: D3dkmtHandle::NULL,
            command: ReserveGpuVirtualAddressCommand {
                adapter,
                base_address: 0x4000_0000,
                minimum_address: 0x1000,
                maximum_address: 0x7000_0000_0000,
                size: 0x2000,
                reservation_type: 1,
                driver_protection: 5,
                ..FromZeros::new_zeroed()
            },
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_reservegpuvirtualaddress = header +
    // d3dddi_reservegpuvirtualaddress (uapi d3dkmthk.h): +24 adapter (host handle 0x41) | pad |
    // +32 base | +40 minimum | +48 maximum | +56 size | +64 reservation type + pad |
    // +72 driver protection | +80 virtual address (out) | +88 paging fence (out) — 96 bytes.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 12000000 00000000
         41000000 00000000 0000004000000000 0010000000000000 0000000000700000
         0020000000000000 01000000 00000000 0500000000000000 0000000000000000 0000000000000000"
    ));
    assert_eq!(packet.bytes, expected, "RESERVEGPUVIRTUALADDRESS");
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("0000000000100000 0000000000000000")
        ),
        Ok(Reply::GpuVirtualAddress {
            status: NtStatus::SUCCESS,
            virtual_address: 0x1000_0000_0000,
            paging_fence_value: 0
        })
    );
    // No status in the reply: a null address is a failure.
    let (_, packet) = one_packet(
        &mut driver,
        Request::ReserveGpuVirtualAddress {
            paging_queue: D3dkmtHandle(0x140),
            command: ReserveGpuVirtualAddressCommand {
                adapter: D3dkmtHandle::NULL,
                base_address: 0,
                minimum_address: 0,
                maximum_address: 0,
                size: 0x1000,
                reservation_type: 0,
                driver_protection: 0,
                ..FromZeros::new_zeroed()
            },
        },
    );
    assert_eq!(
        &packet.bytes[40..44],
        &hex("40010000"),
        "paging queue passed through"
    );
    assert_eq!(
        answer(&mut driver, &packet, &[0; 16]),
        Err(NtStatus::UNSUCCESSFUL)
    );

    let (_, packet) = one_packet(
        &mut driver,
        Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue: D3dkmtHandle(0x140),
            allocation: D3dkmtHandle(0x100),
            base_address: 0x1000_0000_0000,
            minimum_address: 0x1000,
            maximum_address: 0x7000_0000_0000,
            offset_in_pages: 3,
            size_in_pages: 2,
            protection: 1,
            driver_protection: 9,
            ..FromZeros::new_zeroed()
        }),
    );
    // Linux dxgvmbus.h dxgkvmb_command_mapgpuvirtualaddress = header +
    // d3dddi_mapgpuvirtualaddress (uapi d3dkmthk.h) + device: +24 queue | pad | +32 base |
    // +40 minimum | +48 maximum | +56 allocation + pad | +64 offset in pages | +72 size in pages |
    // +80 protection | +88 driver protection | +96 reserved0 + pad | +104 reserved1 |
    // +112 virtual address | +120 paging fence | +128 device (0, as Linux) + pad — 136 bytes.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 11000000 00000000
         40010000 00000000 0000000000100000 0010000000000000 0000000000700000
         00010000 00000000 0300000000000000 0200000000000000 0100000000000000
         0900000000000000 00000000 00000000 0000000000000000 0000000000000000
         0000000000000000 00000000 00000000"
    ));
    assert_eq!(packet.bytes, expected, "MAPGPUVIRTUALADDRESS");
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("0000000000100000 0700000000000000 03010000 00000000")
        ),
        Ok(Reply::GpuVirtualAddress {
            status: NtStatus::PENDING,
            virtual_address: 0x1000_0000_0000,
            paging_fence_value: 7
        })
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue: D3dkmtHandle(0x140),
            allocation: D3dkmtHandle(0x100),
            base_address: 0,
            minimum_address: 0,
            maximum_address: 0,
            offset_in_pages: 0,
            size_in_pages: 1,
            protection: 0,
            driver_protection: 0,
            ..FromZeros::new_zeroed()
        }),
    );
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("0000000000000000 0000000000000000 0d0000c0 00000000")
        ),
        Err(NtStatus::INVALID_PARAMETER)
    );

    let (_, packet) = one_packet(
        &mut driver,
        Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
            adapter,
            base_address: 0x1000_0000_0000,
            size: 0x2000,
            ..FromZeros::new_zeroed()
        }),
    );
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 10000000 00000000
         41000000 00000000 0000000000100000 0020000000000000"
    ));
    assert_eq!(packet.bytes, expected, "FREEGPUVIRTUALADDRESS");

    let (_, packet) = one_packet(
        &mut driver,
        Request::UpdateGpuVirtualAddress {
            command: UpdateGpuVirtualAddressCommand {
                device: D3dkmtHandle(0x80),
                context: D3dkmtHandle(0xC0),
                fence_object: D3dkmtHandle(0x180),
                fence_value: 3,
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            operations: vec![
                GpuVirtualAddressOperation::Map {
                    base_address: 0x1000_0000_0000,
                    size: 0x1000,
                    allocation: D3dkmtHandle(0x100),
                    allocation_offset: 0x3000,
                    allocation_size: 0x5000,
                },
                GpuVirtualAddressOperation::Copy {
                    source_address: 0x1000_0000_0000,
                    size: 0x1000,
                    destination_address: 0x1000_0000_2000,
                },
            ],
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_updategpuvirtualaddress: +24 fence value | +32 device |
    // +36 context | +40 fence | +44 n 2 | +48 flags | pad, then 2 × 64-byte
    // d3dddi_updategpuvirtualaddress_operation (uapi d3dkmthk.h):
    // MAP {op 0, pad, base, size, allocation + pad, allocation offset, allocation size, 0, 0},
    // COPY {op 2, pad, source, size, destination, 0 …}.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 13000000 00000000
         0300000000000000 80000000 c0000000 80010000 02000000 01000000 00000000
         00000000 00000000 0000000000100000 0010000000000000 00010000 00000000
         0030000000000000 0050000000000000 0000000000000000 0000000000000000
         02000000 00000000 0000000000100000 0010000000000000 0020000000100000
         0000000000000000 0000000000000000 0000000000000000 0000000000000000"
    ));
    assert_eq!(packet.bytes, expected, "UPDATEGPUVIRTUALADDRESS");
    answer_status_ok(&mut driver, &packet);

    // Unknown handles are refused before anything is sent.
    for request in [
        Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue: D3dkmtHandle(0x140),
            allocation: D3dkmtHandle(0x7FC0),
            base_address: 0,
            minimum_address: 0,
            maximum_address: 0,
            offset_in_pages: 0,
            size_in_pages: 1,
            protection: 0,
            driver_protection: 0,
            ..FromZeros::new_zeroed()
        }),
        Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
            adapter: D3dkmtHandle(0x7FC0),
            base_address: 0,
            size: 0,
            ..FromZeros::new_zeroed()
        }),
    ] {
        let ticket = driver.submit(ProcessId(1), request);
        assert_eq!(
            completions(&mut driver),
            vec![(ticket, Err(NtStatus::INVALID_HANDLE))]
        );
    }
}

#[test]
fn hardware_queue_vectors() {
    let (mut driver, _) = with_objects();
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context: D3dkmtHandle(0xC0),
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![0xAA, 0xBB],
        },
    );
    // type 50 | status | queue | fence | pad | cpu va | gpu va | context | flags | n 2 | data
    // + 3 bytes: 72 + n − 1.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 32000000 00000000
         00000000 00000000 00000000 00000000 0000000000000000 0000000000000000
         c0000000 01000000 02000000 aabb 000000"
    ));
    assert_eq!(packet.bytes, expected, "CREATEHWQUEUE");
    let mut echo = packet.bytes[16..].to_vec();
    echo[28..32].copy_from_slice(&hex("c0010000"));
    echo[32..36].copy_from_slice(&hex("00020000"));
    echo[40..48].copy_from_slice(&hex("0020000001000000"));
    echo[48..56].copy_from_slice(&hex("0000400000000000"));
    echo[68] = 0x11;
    assert_eq!(
        answer(&mut driver, &packet, &echo),
        Ok(Reply::HwQueue {
            hwqueue: D3dkmtHandle(0x1C0),
            progress_fence: D3dkmtHandle(0x200),
            fence_address: IO_BASE + 0x2000,
            fence_gpu_address: 0x40_0000,
            private_data: vec![0x11, 0xBB]
        })
    );

    let (_, packet) = one_packet(
        &mut driver,
        Request::SubmitCommandToHwQueue {
            command: SubmitCommandToHwQueueCommand {
                hwqueue: D3dkmtHandle(0x1C0),
                progress_fence_id: 9,
                command_buffer: 0x7000_0000,
                command_length: 0x40,
                ..FromZeros::new_zeroed()
            },
            private_data: hex("00000000 08000000"),
            primaries: vec![D3dkmtHandle(0x100)],
        },
    );
    // Linux dxgvmbus.h dxgkvmb_command_submitcommandtohwqueue = header +
    // d3dkmt_submitcommandtohwqueue (uapi d3dkmthk.h): +24 queue | reserved | +32 progress fence
    // id | +40 buffer | +48 length | +52 private size | +56 private ptr | +64 num primaries |
    // reserved | +72 primaries ptr, then primaries, then private data.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 34000000 00000000
         c0010000 00000000 0900000000000000 0000007000000000 40000000 08000000
         0000000000000000 01000000 00000000 0000000000000000
         00010000 00000000 08000000"
    ));
    assert_eq!(packet.bytes, expected, "SUBMITCOMMANDTOHWQUEUE");
    assert!(answer(&mut driver, &packet, &hex("00000000")).is_ok());

    // The progress fence is a monitored fence of the process (a CPU wait may name it).
    let (_, packet) = one_packet(
        &mut driver,
        Request::WaitFromCpu {
            device: D3dkmtHandle(0x80),
            objects: vec![D3dkmtHandle(0x200)],
            values: vec![9],
            wait_any: false,
        },
    );
    assert_eq!(&packet.bytes[16 + 56..16 + 60], &hex("00020000"));

    let (_, packet) = one_packet(
        &mut driver,
        Request::DestroyHwQueue {
            hwqueue: D3dkmtHandle(0x1C0),
        },
    );
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 33000000 00000000 c0010000 00000000"
    ));
    assert_eq!(packet.bytes, expected, "DESTROYHWQUEUE");
    let ticket = driver.submit(
        ProcessId(1),
        Request::SignalFromCpu {
            device: D3dkmtHandle(0x80),
            objects: vec![D3dkmtHandle(0x200)],
            values: vec![1],
        },
    );
    assert!(
        completions(&mut driver).contains(&(ticket, Err(NtStatus::INVALID_HANDLE))),
        "the progress fence went away with its queue"
    );

    // A progress fence outside the IO space: refused, and the host queue is destroyed again.
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context: D3dkmtHandle(0xC0),
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![],
        },
    );
    assert_eq!(
        packet.bytes.len(),
        16 + 72,
        "no private data: the full 72-byte struct"
    );
    let mut echo = packet.bytes[16..].to_vec();
    echo[28..32].copy_from_slice(&hex("40020000"));
    echo[32..36].copy_from_slice(&hex("80020000"));
    driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        &echo,
    );
    let mut destroy = None;
    let mut result = None;
    while let Some(action) = driver.poll_action() {
        match action {
            Action::Send(packet) => destroy = Some(packet),
            Action::Complete {
                ticket: done,
                result: r,
            } if done == ticket => result = Some(r),
            _ => {}
        }
    }
    assert_eq!(result, Some(Err(NtStatus::INVALID_PARAMETER)));
    assert_eq!(
        destroy.unwrap().bytes,
        hex(&format!(
            "{EXT} 0000000000000000 40000000 00000000 33000000 00000000 40020000 00000000"
        ))
    );
    // Failure status in the echo.
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context: D3dkmtHandle(0xC0),
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![],
        },
    );
    let mut echo = packet.bytes[16..].to_vec();
    echo[24..28].copy_from_slice(&hex("170000c0"));
    assert_eq!(
        answer(&mut driver, &packet, &echo),
        Err(NtStatus::NO_MEMORY)
    );
}

#[test]
fn priority_residency_and_query_vectors() {
    let (mut driver, adapter) = with_objects();
    let device = D3dkmtHandle(0x80);
    let allocation = D3dkmtHandle(0x100);
    let header = |code: &str, process: &str| {
        format!("{EXT} 0000000000000000 {process} 00000000 {code} 00000000")
    };
    let cases: Vec<VectorCase> = vec![
        (
            // +24 context | +28 priority −2 | +32 in_process 1 | pad to 40
            Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
                context: D3dkmtHandle(0xC0),
                priority: -2,
                in_process: 1,
                ..FromZeros::new_zeroed()
            }),
            format!(
                "{} c0000000 feffffff 01000000 00000000",
                header("21000000", "40000000")
            ),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // +24 context | +28 in_process 0 + pad; reply status, priority
            Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
                context: D3dkmtHandle(0xC0),
                in_process: 0,
                ..FromZeros::new_zeroed()
            }),
            format!("{} c0000000 00000000", header("3d000000", "40000000")),
            hex("00000000 05000000"),
            Ok(Reply::SchedulingPriority(5)),
        ),
        (
            // Linux dxgvmbus.h dxgkvmb_command_setallocationpriority: +24 device | +28 resource |
            // +32 count | +36 tail padding (sizeof 40) | +40 handles | priorities
            // (dxgvmb_send_set_allocation_priority: cmd_size = 40 + 4n + 4n).
            Request::SetAllocationPriority {
                device,
                resource: D3dkmtHandle::NULL,
                allocations: vec![allocation],
                priorities: vec![0x7800_0000],
            },
            format!(
                "{} 80000000 00000000 01000000 00000000 00010000 00000078",
                header("3b000000", "40000000")
            ),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // same without priorities; dxgvmb_send_get_allocation_priority sends msg.size +
            // msg.res_size: the zeroed result buffer round8(4 + 4·1) = 8 bytes follows the handles.
            Request::GetAllocationPriority {
                device,
                resource: D3dkmtHandle::NULL,
                allocations: vec![allocation],
            },
            format!(
                "{} 80000000 00000000 01000000 00000000 00010000 0000000000000000",
                header("3c000000", "40000000")
            ),
            hex("00000000 00000050"),
            Ok(Reply::AllocationPriorities(vec![0x5000_0000])),
        ),
        (
            // Linux dxgvmbus.h dxgkvmb_command_queryallocationresidency = header +
            // d3dkmt_queryallocationresidency (uapi d3dkmthk.h): +24 device | +28 resource |
            // +32 allocations pointer (the guest sends 0) | +40 allocation count | +44 reserved |
            // +48 residency-status pointer (0) | +56 handles. Two allocations, so the count (2)
            // differs from every zero field it could be swapped with; the reply carries
            // round8(4 + 4·2) = 16 bytes.
            Request::QueryAllocationResidency {
                command: QueryAllocationResidencyCommand {
                    device,
                    resource: D3dkmtHandle::NULL,
                    ..FromZeros::new_zeroed()
                },
                allocations: vec![allocation, allocation],
            },
            format!(
                "{} 80000000 00000000 0000000000000000 02000000 00000000 0000000000000000 00010000 00010000",
                header("29000000", "40000000")
            ),
            hex("00000000 03000000 01000000 00000000"),
            Ok(Reply::Residency(vec![3, 1])),
        ),
        (
            // Linux dxgvmbus.h dxgkvmb_command_offerallocations: +24 device | +28 count 1 |
            // +32 priority 3 | +36 flags 2 | +40 resources + pad | +44 handles
            Request::OfferAllocations {
                command: OfferAllocationsCommand {
                    device,
                    resources: 0,
                    priority: 3,
                    flags: 2,
                    ..FromZeros::new_zeroed()
                },
                handles: vec![allocation],
            },
            format!(
                "{} 80000000 01000000 03000000 02000000 00000000 00010000",
                header("39000000", "40000000")
            ),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // +24 device | +28 queue | +32 count | +36 resources | +37 write_results | +40 handles;
            // reply u64 fence, status, results
            Request::ReclaimAllocations {
                command: ReclaimAllocationsCommand {
                    device,
                    paging_queue: D3dkmtHandle(0x140),
                    resources: 0,
                    write_results: 1,
                    ..FromZeros::new_zeroed()
                },
                handles: vec![allocation],
            },
            // (dxgvmb_send_reclaim_allocations: cmd_size = sizeof 48 − 4 + 4n = 44 + 4n, so 4
            // zero bytes follow the handle; the reply's results start at +12, `discarded[]` of
            // dxgkvmb_command_reclaimallocations_return.)
            format!(
                "{} 80000000 40010000 01000000 00 01 0000 00010000 00000000",
                header("3a000000", "40000000")
            ),
            hex("0400000000000000 03010000 01000000"),
            Ok(Reply::Reclaimed {
                status: NtStatus::PENDING,
                paging_fence_value: 4,
                results: vec![1],
            }),
        ),
        (
            Request::FlushHeapTransitions { adapter },
            header("25000000", "40000000"),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // +24 device | +28 allocation | +32 offset | +40 length | +48 reserved
            Request::InvalidateCache(InvalidateCacheCommand {
                device,
                allocation,
                offset: 0x10,
                length: 0x20,
                ..FromZeros::new_zeroed()
            }),
            format!(
                "{} 80000000 00010000 1000000000000000 2000000000000000 0000000000000000",
                header("43000000", "40000000")
            ),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
                device,
                reason: 0x8000_0006,
                ..FromZeros::new_zeroed()
            }),
            format!("{} 80000000 06000080", header("1d000000", "40000000")),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // +24 host adapter | +28 node | +32 physical index | +36 28 bytes of clock data;
            // reply: status then packed {u64 frequency, u64 gpu, u64 cpu, u32 flags}
            Request::QueryClockCalibration(QueryClockCalibrationCommand {
                adapter,
                node_ordinal: 1,
                physical_adapter_index: 2,
                ..FromZeros::new_zeroed()
            }),
            format!(
                "{} 41000000 01000000 02000000 {}",
                header("3e000000", "40000000"),
                "00".repeat(28)
            ),
            hex("00000000 8096980000000000 1111000000000000 2222000000000000 01000000"),
            Ok(Reply::ClockCalibration {
                gpu_frequency: 10_000_000,
                gpu_clock_counter: 0x1111,
                cpu_clock_counter: 0x2222,
                flags: 1,
            }),
        ),
        (
            // +24 u64 process 0 | +32 adapter 0 | +36 group | +40 reservation | +48 index + pad
            Request::ChangeVideoMemoryReservation(ChangeVideoMemoryReservationCommand {
                adapter,
                memory_segment_group: 1,
                reservation: 0x10_0000,
                physical_adapter_index: 3,
                ..FromZeros::new_zeroed()
            }),
            format!(
                "{} 0000000000000000 00000000 01000000 0000100000000000 03000000 00000000",
                header("31000000", "40000000")
            ),
            hex("00000000"),
            Ok(Reply::Status(NtStatus::SUCCESS)),
        ),
        (
            // +24 queue | +28 allocation | +32 segment set | +36 preferred | +40 flags | pad
            // | +48 fence | +56 mask + pad; reply u64 fence, status
            Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
                paging_queue: D3dkmtHandle(0x140),
                allocation,
                supported_segment_set: 3,
                preferred_segment: 2,
                flags: 1,
                property_mask: 5,
                ..FromZeros::new_zeroed()
            }),
            format!(
                "{} 40010000 00010000 03000000 02000000 01000000 00000000 0000000000000000 05000000 00000000",
                header("38000000", "40000000")
            ),
            hex("0500000000000000 03010000 00000000"),
            Ok(Reply::PagingFence {
                status: NtStatus::PENDING,
                paging_fence_value: 5,
            }),
        ),
        (
            // process 0 in the header | +24 feature id | pad; reply status, descriptor
            // {min, max, bits}, result {version, bits}, pad
            Request::IsFeatureEnabled {
                adapter,
                feature_id: 0,
            },
            format!("{} 00000000 00000000", header("44000000", "00000000")),
            hex("00000000 0100 0200 0100 0100 0f00 0000"),
            Ok(Reply::Feature {
                enabled: true,
                known: true,
                version: 1,
                result_bits: 0xF,
                descriptor_bits: 1,
                min_version: 1,
                max_version: 2,
            }),
        ),
    ];
    check_vectors(&mut driver, cases);

    // QUERYSTATISTICS (d3dkmt_querystatistics): 832 bytes; +24 type | +28 host adapter LUID
    // (this bring-up's GETINTERNALADAPTERINFO reply) | pad | +40 process (0) | 776-byte result |
    // query id at +824.
    let (_, packet) = one_packet(
        &mut driver,
        Request::QueryStatistics {
            adapter,
            statistics_type: 5,
            query_id: 2,
            process: None,
        },
    );
    assert_eq!(packet.bytes.len(), 16 + 832);
    assert_eq!(
        &packet.bytes[..16 + 48],
        &hex(&format!(
            "{} 05000000 9988776655000000 00000000 0000000000000000",
            header("30000000", "40000000")
        ))[..]
    );
    assert_eq!(&packet.bytes[16 + 824..16 + 828], &hex("02000000"));
    let mut reply = hex("00000000 00000000");
    reply.extend(vec![0x77; 776]);
    assert_eq!(
        answer(&mut driver, &packet, &reply),
        Ok(Reply::Statistics(vec![0x77; 776]))
    );
    // Short and failing replies.
    let (_, packet) = one_packet(
        &mut driver,
        Request::GetAllocationPriority {
            device,
            resource: D3dkmtHandle::NULL,
            allocations: vec![allocation, allocation],
        },
    );
    assert_eq!(
        answer(&mut driver, &packet, &hex("00000000 01000000")),
        Err(NtStatus::BUFFER_TOO_SMALL)
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::QueryAllocationResidency {
            command: QueryAllocationResidencyCommand {
                device,
                resource: D3dkmtHandle::NULL,
                ..FromZeros::new_zeroed()
            },
            allocations: vec![allocation],
        },
    );
    assert_eq!(
        answer(&mut driver, &packet, &hex("080000c0 00000000")),
        Err(NtStatus::INVALID_HANDLE)
    );
    // Validation before sending: resource and allocations together, another kind of handle.
    for (request, status) in [
        (
            Request::GetAllocationPriority {
                device,
                resource: D3dkmtHandle(0xC0),
                allocations: vec![allocation],
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::OfferAllocations {
                command: OfferAllocationsCommand {
                    device,
                    resources: 0,
                    priority: 1,
                    flags: 0,
                    ..FromZeros::new_zeroed()
                },
                handles: vec![D3dkmtHandle(0xC0)],
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
                context: D3dkmtHandle(0x7FC0),
                priority: 0,
                in_process: 0,
                ..FromZeros::new_zeroed()
            }),
            NtStatus::INVALID_HANDLE,
        ),
    ] {
        let ticket = driver.submit(ProcessId(1), request);
        assert_eq!(completions(&mut driver), vec![(ticket, Err(status))]);
    }
}

#[path = "wire_vectors/hostile_host.rs"]
mod hostile_host;
#[path = "wire_vectors/legacy_sync.rs"]
mod legacy_sync;
#[path = "wire_vectors/sharing.rs"]
mod sharing;

/// The command table pairs each struct with the number of the reference (dxg.md §2.5, from
/// Linux `dxgvmbus.h` `dxgkvmb_commandtype` / `dxgkvmb_commandtype_global`), and every
/// command built from it carries that number and its channel in the header.
#[test]
fn command_table_numbers_match_the_reference() {
    fn check<T: Command>(number: u32, global: bool) {
        assert_eq!(T::CODE.as_u32(), number, "{}", core::any::type_name::<T>());
        assert_eq!(matches!(T::CODE, CommandCode::Global(_)), global);
        assert_eq!(T::TIMEOUT_MILLISECONDS, None);
        let command = T::with_process(D3dkmtHandle(0x4000_0001));
        let bytes = command.as_bytes();
        assert_eq!(command_number(bytes), Some(number));
        let header: CommandHeader = zerocopy::FromBytes::read_from_prefix(bytes).unwrap().0;
        assert_eq!(header.process, D3dkmtHandle(0x4000_0001));
        assert_eq!(header.channel_type(), if global { 1 } else { 0 });
        assert!(!header.is_async());
    }
    check::<CreateProcessCommand>(1000, true);
    check::<OpenSyncObjectCommand>(1002, true);
    check::<SetIoSpaceRegionCommand>(1010, true);
    check::<ShareObjectWithHostCommand>(1021, true);
    check::<CreateDeviceCommand>(0, false);
    check::<QueryAdapterInfoCommand>(2, false);
    check::<CreateAllocationCommand>(4, false);
    check::<DestroyAllocationCommand>(5, false);
    check::<CreateContextVirtualCommand>(6, false);
    check::<CreateSyncObjectCommand>(8, false);
    check::<CreatePagingQueueCommand>(9, false);
    check::<MakeResidentCommand>(11, false);
    check::<EvictCommand>(12, false);
    check::<EscapeCommand>(13, false);
    check::<OpenAdapterCommand>(14, false);
    check::<FreeGpuVirtualAddressCommand>(16, false);
    check::<MapGpuVirtualAddressCommand>(17, false);
    check::<ReserveGpuVirtualAddressCommand>(18, false);
    check::<UpdateGpuVirtualAddressCommand>(19, false);
    check::<SubmitCommandCommand>(20, false);
    check::<QueryVideoMemoryInfoCommand>(21, false);
    check::<WaitForSyncObjectFromCpuCommand>(22, false);
    check::<Lock2Command>(23, false);
    check::<Unlock2Command>(24, false);
    check::<WaitForSyncObjectFromGpuCommand>(25, false);
    check::<SignalSyncObjectCommand>(26, false);
    check::<GetDeviceStateCommand>(28, false);
    check::<MarkDeviceAsErrorCommand>(29, false);
    check::<OpenResourceCommand>(32, false);
    check::<SetContextSchedulingPriorityCommand>(33, false);
    check::<GetStandardAllocationDriverDataCommand>(39, false);
    check::<QueryAllocationResidencyCommand>(41, false);
    check::<FlushDeviceCommand>(42, false);
    check::<SetExistingSysmemStoreCommand>(45, false);
    check::<QueryStatisticsCommand>(48, false);
    check::<ChangeVideoMemoryReservationCommand>(49, false);
    check::<CreateHwQueueCommand>(50, false);
    check::<SubmitCommandToHwQueueCommand>(52, false);
    check::<UpdateAllocationPropertyCommand>(56, false);
    check::<OfferAllocationsCommand>(57, false);
    check::<ReclaimAllocationsCommand>(58, false);
    check::<GetContextSchedulingPriorityCommand>(61, false);
    check::<QueryClockCalibrationCommand>(62, false);
    check::<SetExistingSysmemPagesCommand>(66, false);
    check::<InvalidateCacheCommand>(67, false);
}

/// The reply minimums of the command table, from the reply sizes of the reference (dxg.md §3:
/// "Reply (N bytes)", echoes up to their private data, "no result expected" as 0, variable
/// replies as their fixed part); a number the driver never sends has none.
#[test]
fn command_table_reply_minimums_match_the_reference() {
    let cases: &[(u32, usize)] = &[
        (1000, 4),  // CREATEPROCESS: host process handle
        (1010, 4),  // SETIOSPACEREGION: status
        (14, 16),   // OPENADAPTER
        (0, 4),     // CREATEDEVICE: bare device handle
        (6, 52),    // CREATECONTEXTVIRTUAL: echo, private data at +52
        (4, 16),    // CREATEALLOCATION: 16 + 72·n + private data
        (23, 16),   // LOCK2
        (11, 24),   // MAKERESIDENT
        (12, 8),    // EVICT
        (9, 24),    // CREATEPAGINGQUEUE
        (10, 0),    // DESTROYPAGINGQUEUE: no result expected
        (15, 0),    // CLOSEADAPTER: no result expected
        (18, 16),   // RESERVEGPUVIRTUALADDRESS
        (17, 24),   // MAPGPUVIRTUALADDRESS
        (50, 68),   // CREATEHWQUEUE: echo, private data at +68
        (8, 32),    // CREATESYNCOBJECT
        (1002, 24), // OPENSYNCOBJECT
        (1004, 4),  // CREATENTSHAREDOBJECT: bare shared handle
        (1021, 16), // SHAREOBJECTWITHHOST
        (13, 0),    // ESCAPE: exactly the caller's n bytes
        (21, 32),   // QUERYVIDEOMEMORYINFO
        (48, 784),  // QUERYSTATISTICS
        (1, 4),     // DESTROYDEVICE: status
        (1003, 4),  // DESTROYSYNCOBJECT: status
    ];
    for (command, minimum) in cases {
        assert_eq!(reply_minimum(*command), Some(*minimum), "command {command}");
    }
    assert_eq!(reply_minimum(3), None, "DDIQUERYADAPTERINFO is never sent");
    for (code, minimum) in REPLY_MINIMUMS {
        assert!(*minimum <= MAX_PACKET_SIZE, "{code:?}");
    }
    // What destroys a created object again (Linux ioctl.c error paths).
    let vgpu = |command| Some(CommandCode::Vgpu(command));
    let global = |command| Some(CommandCode::Global(command));
    assert_eq!(undo_command(9), vgpu(VgpuCommand::DestroyPagingQueue));
    assert_eq!(undo_command(50), vgpu(VgpuCommand::DestroyHwQueue));
    assert_eq!(undo_command(8), global(GlobalCommand::DestroySyncObject));
    assert_eq!(undo_command(1002), global(GlobalCommand::DestroySyncObject));
    assert_eq!(undo_command(21), None);
}
