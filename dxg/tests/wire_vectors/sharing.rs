//! Byte vectors for sharing, standard allocations and existing system memory, hand-written from
//! the Linux layouts (`drivers/hv/dxgkrnl/dxgvmbus.h`: `dxgkvmb_command_createntsharedobject`,
//! `_destroyntsharedobject`, `_opensyncobject(_return)`, `_shareobjectwithhost(_return)`,
//! `_openresource(_return)`, `_getstandardallocprivdata(_return)`, `_setexistingsysmemstore`,
//! `_setexistingsysmempages`) and the message sizes of `dxgvmbus.c` (`init_message` without an
//! adapter → zero LUID in the extension header for the global commands).

use super::*;

/// Global-channel extension header (no adapter: LUID 0).
const GLOBAL_EXT: &str = "10000000 00000000 00000000 00000000";

/// `with_objects` plus resource 0x1C0 holding allocations 0x200 (2 pages, cached, 3 bytes of
/// private data) and 0x400 (1 page, 2 bytes), and a shared monitored fence 0x2C0 with global
/// handle 0x300.
fn with_shareable() -> (Driver, D3dkmtHandle) {
    let (mut driver, adapter) = with_objects();
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device: D3dkmtHandle(0x80),
                resource: D3dkmtHandle::NULL,
                flags: CREATE_ALLOCATION_CREATE_RESOURCE,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default(), AllocationRequest::default()],
        },
    );
    let mut reply = hex("00000000 c0010000 00000000 00000000");
    reply.extend(hex("00020000 03000000 00000800 00000000 0020000000000000"));
    reply.extend(vec![0u8; 48]);
    reply.extend(hex("00040000 02000000 00000000 00000000 0010000000000000"));
    reply.extend(vec![0u8; 48]);
    reply.extend(hex("aabbcc ddee"));
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateSyncObject {
            device: D3dkmtHandle(0x80),
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 1,
            },
            flags: SYNC_FLAG_SHARED | SYNC_FLAG_NT_SECURITY_SHARING,
        },
    );
    // dxgkvmb_command_createsyncobject_return: handle | global | GPU VA | fence page | offset.
    let reply = hex("c0020000 00030000 0000500000000000 0050000001000000 00000000 00000000");
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    (driver, adapter)
}

#[test]
fn sharing_vectors() {
    let (mut driver, _) = with_shareable();
    let device = D3dkmtHandle(0x80);
    // CREATENTSHAREDOBJECT (1004 = 0x3EC): global hdr with the host process | +24 object | pad.
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x1C0),
        },
    );
    assert_eq!(packet.channel, ChannelId::Global);
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{GLOBAL_EXT} 0000000000000000 40000000 01000000 ec030000 00000000 c0010000 00000000"
        ))
    );
    // Reply: a bare handle.
    assert_eq!(
        answer(&mut driver, &packet, &hex("00090000")),
        Ok(Reply::NtSharedObject(D3dkmtHandle(0x900)))
    );
    // OPENRESOURCE (vGPU 32, Linux dxgvmbus.h dxgkvmb_command_openresource): +24 device |
    // +28 nt_security_sharing 1 | +32 global share | +36 allocation count 2 | +40 total private
    // data 5 (3 + 2) | pad to 48.
    let (_, packet) = one_packet(
        &mut driver,
        Request::OpenResource {
            device,
            shared_handle: D3dkmtHandle(0x900),
        },
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{EXT} 0000000000000000 40000000 00000000 20000000 00000000
             80000000 01000000 00090000 02000000 05000000 00000000"
        ))
    );
    // Reply: resource | status | handles, round8(8 + 4 · 2) = 16 bytes.
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("40020000 00000000 80020000 40040000")
        ),
        Ok(Reply::ResourceOpened {
            resource: D3dkmtHandle(0x240),
            allocations: vec![
                CreatedAllocation {
                    handle: D3dkmtHandle(0x280),
                    size: 0x2000,
                    flags: ALLOCATION_FLAG_CACHED,
                },
                CreatedAllocation {
                    handle: D3dkmtHandle(0x440),
                    size: 0x1000,
                    flags: 0,
                }
            ],
        })
    );
    // The fence: CREATENTSHAREDOBJECT, then OPENSYNCOBJECT (1002 = 0x3EA) with the global handle:
    // +24 device | +28 global 0x300 | +32 engine affinity | +36 flags.
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x2C0),
        },
    );
    assert_eq!(
        answer(&mut driver, &packet, &hex("40030000")),
        Ok(Reply::NtSharedObject(D3dkmtHandle(0x340)))
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::OpenSyncObject {
            device,
            shared_handle: D3dkmtHandle(0x340),
            flags: 3,
            engine_affinity: 1,
        },
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{GLOBAL_EXT} 0000000000000000 40000000 01000000 ea030000 00000000
             80000000 00030000 01000000 03000000"
        ))
    );
    // Reply (dxgkvmb_command_opensyncobject_return): handle | status | u64 GPU VA |
    // u64 fence page (guest_cpu_physical_address); a GPU VA unlike the page, so a swap shows.
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("80030000 00000000 0000500000000000 0050000001000000")
        ),
        Ok(Reply::SyncObject {
            handle: D3dkmtHandle(0x380),
            global: D3dkmtHandle(0x300),
            gpu_address: 0x50_0000,
            fence_address: IO_BASE + 0x5000,
        })
    );
    // SHAREOBJECTWITHHOST (1021 = 0x3FD): +24 device | +28 object | +32 reserved u64.
    let (_, packet) = one_packet(
        &mut driver,
        Request::ShareObjectWithHost(ShareObjectWithHostCommand {
            device,
            object: D3dkmtHandle(0x1C0),
            ..FromZeros::new_zeroed()
        }),
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{GLOBAL_EXT} 0000000000000000 40000000 01000000 fd030000 00000000
             80000000 c0010000 0000000000000000"
        ))
    );
    // Reply: status | alignment | u64 VAIL handle.
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("00000000 00000000 0100000000004c41")
        ),
        Ok(Reply::VailNtHandle(0x414C_0000_0000_0001))
    );
    // DESTROYNTSHAREDOBJECT (1005 = 0x3ED): process 0 (command_vm_to_host_init1) | handle.
    let (_, packet) = one_packet(
        &mut driver,
        Request::DestroyNtSharedObject {
            shared_handle: D3dkmtHandle(0x900),
        },
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{GLOBAL_EXT} 0000000000000000 00000000 01000000 ed030000 00000000 00090000 00000000"
        ))
    );
    answer_status_ok(&mut driver, &packet);
    // Hostile and failing replies.
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x1C0),
        },
    );
    assert_eq!(
        answer(&mut driver, &packet, &hex("00000000")),
        Err(NtStatus::UNSUCCESSFUL),
        "a null shared handle is the host's failure"
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::OpenSyncObject {
            device,
            shared_handle: D3dkmtHandle(0x340),
            flags: 3,
            engine_affinity: 1,
        },
    );
    assert_eq!(
        answer(
            &mut driver,
            &packet,
            &hex("80030000 00000000 0000000000000000 0000000000000000")
        ),
        Err(NtStatus::INVALID_PARAMETER),
        "fence page outside the IO space"
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::ShareObjectWithHost(ShareObjectWithHostCommand {
            device,
            object: D3dkmtHandle(0x1C0),
            ..FromZeros::new_zeroed()
        }),
    );
    assert_eq!(
        answer(&mut driver, &packet, &hex("080000c0 00000000")),
        Err(NtStatus::BUFFER_TOO_SMALL)
    );
    // Validation before sending.
    for (request, status) in [
        (
            Request::OpenResource {
                device,
                shared_handle: D3dkmtHandle(0x900),
            },
            NtStatus::INVALID_HANDLE,
        ),
        (
            Request::OpenResource {
                device,
                shared_handle: D3dkmtHandle(0x340),
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            Request::CreateNtSharedObject {
                object: D3dkmtHandle(0x100),
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            Request::DestroyNtSharedObject {
                shared_handle: D3dkmtHandle(0x777),
            },
            NtStatus::INVALID_HANDLE,
        ),
    ] {
        let ticket = driver.submit(ProcessId(1), request);
        assert_eq!(completions(&mut driver), vec![(ticket, Err(status))]);
    }
}

#[test]
fn standard_allocation_and_sysmem_vectors() {
    let (mut driver, _) = with_objects();
    let device = D3dkmtHandle(0x80);
    let surface = GetStandardAllocationDriverDataCommand {
        allocation_type: STANDARD_ALLOCATION_GDI_SURFACE,
        width: 0x2000,
        height: 1,
        format: 21,
        surface_type: GDI_SURFACE_TEXTURE_CROSSADAPTER,
        flags: 0x10,
        pitch: 0x8000,
        ..FromZeros::new_zeroed()
    };
    // Linux dxgvmbus.h dxgkvmb_command_getstandardallocprivdata (39): +24 type 4 |
    // +28 alloc size | +32 resource size | +36 physical adapter | +40 d3dkmdt_gdisurfacedata
    // {width, height, format, type, flags, pitch} (uapi d3dkmthk.h).
    let (_, packet) = one_packet(
        &mut driver,
        Request::GetStandardAllocationDriverData {
            device,
            command: GetStandardAllocationDriverDataCommand {
                physical_adapter_index: 1,
                ..surface
            },
        },
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{EXT} 0000000000000000 40000000 00000000 27000000 00000000
             04000000 00000000 00000000 01000000
             00200000 01000000 15000000 07000000 10000000 00800000"
        ))
    );
    // Reply (dxgkvmb_command_getstandardallocprivdata_return): status | allocation size 8 |
    // resource size 16 | 24-byte union, padded to round8(36) = 40.
    let sizing = hex(
        "00000000 08000000 10000000 00200000 01000000 15000000 07000000 10000000 00800000 00000000",
    );
    assert_eq!(
        answer(&mut driver, &packet, &sizing),
        Ok(Reply::StandardAllocationDriverData {
            allocation_data_size: 8,
            resource_data_size: 16,
            allocation_data: vec![],
            resource_data: vec![],
        })
    );
    let (_, packet) = one_packet(
        &mut driver,
        Request::GetStandardAllocationDriverData {
            device,
            command: GetStandardAllocationDriverDataCommand {
                physical_adapter_index: 1,
                private_driver_data_size: 8,
                private_driver_resource_size: 16,
                ..surface
            },
        },
    );
    assert_eq!(
        &packet.bytes[16 + 28..16 + 36],
        &hex("08000000 10000000")[..]
    );
    let mut data = sizing.clone();
    data.truncate(36);
    data.extend(hex(
        "0020000000000000 0400000007000000 0800000009000000 00000000",
    ));
    assert_eq!(
        answer(&mut driver, &packet, &data),
        Ok(Reply::StandardAllocationDriverData {
            allocation_data_size: 8,
            resource_data_size: 16,
            allocation_data: hex("0020000000000000"),
            resource_data: hex("0400000007000000 0800000009000000"),
        })
    );
    // A data call answered with other sizes is refused.
    let (_, packet) = one_packet(
        &mut driver,
        Request::GetStandardAllocationDriverData {
            device,
            command: GetStandardAllocationDriverDataCommand {
                private_driver_data_size: 4,
                ..surface
            },
        },
    );
    assert_eq!(
        answer(&mut driver, &packet, &data),
        Err(NtStatus::INVALID_PARAMETER)
    );
    // SETEXISTINGSYSMEMSTORE (45): +24 device | +28 allocation | +32 GPADL | pad to 40.
    let (_, packet) = one_packet(
        &mut driver,
        Request::SetExistingSysmemStore(SetExistingSysmemStoreCommand {
            device,
            allocation: D3dkmtHandle(0x100),
            gpadl: 7,
            ..FromZeros::new_zeroed()
        }),
    );
    assert_eq!(
        packet.bytes,
        hex(&format!(
            "{EXT} 0000000000000000 40000000 00000000 2d000000 00000000 80000000 00010000 07000000 00000000"
        ))
    );
    answer_status_ok(&mut driver, &packet);
    // SETEXISTINGSYSMEMPAGES (66): +24 device | +28 allocation | +32 num_pages | +36 offset |
    // frames; always sent at the maximum length 40 + 8 · 15867.
    let (_, packet) = one_packet(
        &mut driver,
        Request::SetExistingSysmemPages {
            device,
            allocation: D3dkmtHandle(0x100),
            page_frames: vec![0x12345, 0x20],
        },
    );
    assert_eq!(packet.bytes.len(), 16 + 40 + 8 * 15_867);
    assert_eq!(packet.bytes.len(), 16 + SYSMEM_PAGES_MESSAGE_BYTES);
    assert_eq!(
        &packet.bytes[..72],
        &hex(&format!(
            "{EXT} 0000000000000000 40000000 00000000 42000000 00000000
             80000000 00010000 02000000 00000000 4523010000000000 2000000000000000"
        ))[..]
    );
    assert!(packet.bytes[72..].iter().all(|byte| *byte == 0));
    answer_status_ok(&mut driver, &packet);
    // Validation: frame count must match the allocation, type 4 only.
    for (request, status) in [
        (
            Request::SetExistingSysmemPages {
                device,
                allocation: D3dkmtHandle(0x100),
                page_frames: vec![1],
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::SetExistingSysmemPages {
                device,
                allocation: D3dkmtHandle(0xC0),
                page_frames: vec![1, 2],
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            Request::GetStandardAllocationDriverData {
                device,
                command: GetStandardAllocationDriverDataCommand {
                    allocation_type: 1,
                    ..surface
                },
            },
            NtStatus::INVALID_PARAMETER,
        ),
    ] {
        let ticket = driver.submit(ProcessId(1), request);
        assert_eq!(completions(&mut driver), vec![(ticket, Err(status))]);
    }
}

#[test]
fn sysmem_pages_are_sent_in_chunks_one_at_a_time() {
    let (mut driver, _) = with_objects();
    let device = D3dkmtHandle(0x80);
    // An allocation of 15 868 pages: two messages (15 867 + 1 frames).
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: CREATE_ALLOCATION_EXISTING_SYSMEM,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default()],
        },
    );
    let mut reply = hex("00000000 00000000 00000000 00000000");
    reply.extend(hex("00040000 00000000 00080800 00000000"));
    reply.extend((15_868u64 * 4096).to_le_bytes());
    reply.extend(vec![0u8; 48]);
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    let frames: Vec<u64> = (0..15_868).collect();
    let ticket = driver.submit(
        ProcessId(1),
        Request::SetExistingSysmemPages {
            device,
            allocation: D3dkmtHandle(0x400),
            page_frames: frames,
        },
    );
    let first = sends(&mut driver);
    assert_eq!(first.len(), 1, "the second chunk waits for the first reply");
    assert_eq!(
        &first[0].bytes[16 + 32..16 + 40],
        &hex("fb3d0000 00000000")[..]
    );
    driver.receive(
        first[0].channel,
        PacketKind::Completion,
        first[0].transaction_id,
        &hex("00000000"),
    );
    let second = sends(&mut driver);
    assert_eq!(second.len(), 1);
    // num_pages 1 at offset 15867, frame 15867.
    assert_eq!(
        &second[0].bytes[16 + 32..16 + 48],
        &hex("01000000 fb3d0000 fb3d000000000000")[..]
    );
    assert_eq!(second[0].bytes.len(), 16 + SYSMEM_PAGES_MESSAGE_BYTES);
    // A failed chunk fails the request.
    driver.receive(
        second[0].channel,
        PacketKind::Completion,
        second[0].transaction_id,
        &hex("0d0000c0"),
    );
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Err(NtStatus::INVALID_PARAMETER))]
    );
}
