//! Fuzzes every parser of host data: host→guest notifications and the reply of each request
//! kind (all 40 kinds with a reply decoder, including GPU VA, hardware queues, priorities,
//! residency, offer/reclaim, queries, sharing, standard allocations and existing sysmem), fed to
//! a driver that has an adapter, a process, a device, a context, a resource with an allocation,
//! a paging queue, a shared monitored fence and two shared handles up. Must never panic.
#![no_main]

use dxg::core::*;
use dxg::wire::*;
use libfuzzer_sys::fuzz_target;
use zerocopy::FromZeros;

struct Config;
impl ConfigSpace for Config {
    fn read_u32(&mut self, offset: u16) -> Result<u32, ConfigSpaceError> {
        Ok(match offset {
            0xC0 => 0x1234,
            0xD0 => 40,
            0xD4 => 0xABCD,
            _ => 0,
        })
    }
    fn write_u32(&mut self, _: u16, _: u32) -> Result<(), ConfigSpaceError> {
        Ok(())
    }
}

fn drain(driver: &mut Driver) -> Vec<OutgoingPacket> {
    let mut sent = Vec::new();
    while let Some(action) = driver.poll_action() {
        if let Action::Send(packet) = action {
            sent.push(packet);
        }
    }
    sent
}

fn answer(driver: &mut Driver, reply: &[u8]) {
    for packet in drain(driver) {
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            reply,
        );
    }
}

fn ready_driver() -> (Driver, D3dkmtHandle, D3dkmtHandle) {
    let mut driver = Driver::new(DriverConfig::default());
    let _ = driver.probe_pci_function(0, 0x008E, &mut Config);
    let mut guid = [0u8; 16];
    guid[..4].copy_from_slice(&0x1234u32.to_le_bytes());
    driver.vgpu_channel_offered(Guid::from_bytes(guid));
    driver.global_channel_offered(16);
    drain(&mut driver);
    driver.io_space_allocated(0x1_0000_0000, 16 << 20);
    answer(&mut driver, &[0; 4]);
    answer(
        &mut driver,
        &[1, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 16, 0, 0, 0],
    );
    answer(&mut driver, &[0; 712]);
    driver.submit(
        ProcessId(1),
        Request::CreateProcess {
            pid: 1,
            name: "fuzz".into(),
        },
    );
    answer(&mut driver, &[0x40, 0, 0, 0]);
    driver.submit(ProcessId(1), Request::EnumAdapters);
    let mut adapter = D3dkmtHandle::NULL;
    while let Some(action) = driver.poll_action() {
        if let Action::Complete {
            result: Ok(Reply::Adapters(list)),
            ..
        } = action
        {
            adapter = list.first().map(|entry| entry.handle).unwrap_or_default();
        }
    }
    let device = D3dkmtHandle(0x80);
    driver.submit(ProcessId(1), Request::CreateDevice { adapter, flags: 0 });
    answer(&mut driver, &[0x80, 0, 0, 0]);
    // Context 0xC0 (echo with the handle at +24).
    driver.submit(
        ProcessId(1),
        Request::CreateContext {
            command: CreateContextVirtualCommand {
                device,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![],
        },
    );
    for packet in drain(&mut driver) {
        let mut echo = packet.bytes[16..].to_vec();
        echo[24..28].copy_from_slice(&0xC0u32.to_le_bytes());
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            &echo,
        );
    }
    // Resource 0x1C0 with allocation 0x100 (two pages).
    driver.submit(
        ProcessId(1),
        Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: CREATE_ALLOCATION_CREATE_RESOURCE,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default()],
        },
    );
    let mut reply = vec![0u8; 16 + 72];
    reply[4..8].copy_from_slice(&0x1C0u32.to_le_bytes());
    reply[16..20].copy_from_slice(&0x100u32.to_le_bytes());
    reply[32..40].copy_from_slice(&0x2000u64.to_le_bytes());
    answer(&mut driver, &reply);
    // Paging queue 0x140 with fence 0x180.
    driver.submit(
        ProcessId(1),
        Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
    );
    let mut reply = vec![0u8; 24];
    reply[0..4].copy_from_slice(&0x140u32.to_le_bytes());
    reply[4..8].copy_from_slice(&0x180u32.to_le_bytes());
    reply[8..16].copy_from_slice(&0x1_0000_4000u64.to_le_bytes());
    answer(&mut driver, &reply);
    // Shared monitored fence 0x2C0 (global 0x300), then shared handles 0x900 (resource) and
    // 0x940 (fence).
    driver.submit(
        ProcessId(1),
        Request::CreateSyncObject {
            device,
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 0,
            },
            flags: SYNC_FLAG_SHARED | SYNC_FLAG_NT_SECURITY_SHARING,
        },
    );
    let mut reply = vec![0u8; 32];
    reply[0..4].copy_from_slice(&0x2C0u32.to_le_bytes());
    reply[4..8].copy_from_slice(&0x300u32.to_le_bytes());
    reply[16..24].copy_from_slice(&0x1_0000_5000u64.to_le_bytes());
    answer(&mut driver, &reply);
    driver.submit(
        ProcessId(1),
        Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x1C0),
        },
    );
    answer(&mut driver, &0x900u32.to_le_bytes());
    driver.submit(
        ProcessId(1),
        Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x2C0),
        },
    );
    answer(&mut driver, &0x940u32.to_le_bytes());
    drain(&mut driver);
    while driver.poll_action().is_some() {}
    (driver, adapter, device)
}

/// The request kinds whose replies are fuzzed (every kind with a reply decoder).
fn request(selector: u8, adapter: D3dkmtHandle, device: D3dkmtHandle) -> Request {
    let fence = D3dkmtHandle(0x180);
    let context = D3dkmtHandle(0xC0);
    let allocation = D3dkmtHandle(0x100);
    let paging_queue = D3dkmtHandle(0x140);
    match selector % 40 {
        0 => Request::QueryAdapterInfo {
            adapter,
            query_type: 57,
            data: vec![0; 8],
        },
        1 => Request::CreateDevice { adapter, flags: 0 },
        2 => Request::CreatePagingQueue(CreatePagingQueueCommand {
            device,
            priority: 0,
            ..FromZeros::new_zeroed()
        }),
        3 => Request::CreateContext {
            command: CreateContextVirtualCommand {
                device,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![1, 2, 3],
        },
        4 => Request::CreateAllocation {
            command: CreateAllocationCommand {
                device,
                resource: D3dkmtHandle::NULL,
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            runtime_data: vec![],
            driver_data: vec![],
            allocations: vec![AllocationRequest::default(), AllocationRequest::default()],
        },
        5 => Request::CreateSyncObject {
            device,
            kind: SyncObjectKind::MonitoredFence {
                initial_value: 0,
                engine_affinity: 0,
            },
            flags: 0,
        },
        6 => Request::WaitFromCpu {
            device,
            objects: vec![fence],
            values: vec![1],
            wait_any: false,
        },
        7 => Request::GetDeviceState(GetDeviceStateCommand {
            device,
            state_type: 2,
            ..FromZeros::new_zeroed()
        }),
        8 => Request::QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand {
            adapter,
            memory_segment_group: 0,
            ..FromZeros::new_zeroed()
        }),
        9 => Request::Escape {
            command: EscapeCommand {
                adapter,
                device,
                context: D3dkmtHandle::NULL,
                escape_type: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            data: vec![0; 16],
        },
        10 => Request::DestroyProcess,
        11 => Request::DestroyDevice { device },
        12 => Request::ReserveGpuVirtualAddress {
            paging_queue: D3dkmtHandle::NULL,
            command: ReserveGpuVirtualAddressCommand {
                adapter,
                base_address: 0,
                minimum_address: 0,
                maximum_address: 0,
                size: 0x1000,
                reservation_type: 0,
                driver_protection: 0,
                ..FromZeros::new_zeroed()
            },
        },
        13 => Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue,
            allocation,
            base_address: 0,
            minimum_address: 0,
            maximum_address: 0,
            offset_in_pages: 0,
            size_in_pages: 1,
            protection: 0,
            driver_protection: 0,
            ..FromZeros::new_zeroed()
        }),
        14 => Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
            adapter,
            base_address: 0x1000,
            size: 0x1000,
            ..FromZeros::new_zeroed()
        }),
        15 => Request::UpdateGpuVirtualAddress {
            command: UpdateGpuVirtualAddressCommand {
                device,
                context,
                fence_object: D3dkmtHandle::NULL,
                fence_value: 0,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            operations: vec![GpuVirtualAddressOperation::Unmap {
                base_address: 0x1000,
                size: 0x1000,
                protection: 0,
            }],
        },
        16 => Request::CreateHwQueue {
            command: CreateHwQueueCommand {
                context,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            private_data: vec![7; 5],
        },
        17 => Request::SetContextSchedulingPriority(SetContextSchedulingPriorityCommand {
            context,
            priority: 1,
            in_process: 1,
            ..FromZeros::new_zeroed()
        }),
        18 => Request::GetContextSchedulingPriority(GetContextSchedulingPriorityCommand {
            context,
            in_process: 0,
            ..FromZeros::new_zeroed()
        }),
        19 => Request::SetAllocationPriority {
            device,
            resource: D3dkmtHandle::NULL,
            allocations: vec![allocation],
            priorities: vec![1],
        },
        20 => Request::GetAllocationPriority {
            device,
            resource: D3dkmtHandle::NULL,
            allocations: vec![allocation, allocation],
        },
        21 => Request::QueryAllocationResidency {
            command: QueryAllocationResidencyCommand {
                device,
                resource: D3dkmtHandle(0x1C0),
                ..FromZeros::new_zeroed()
            },
            allocations: vec![],
        },
        22 => Request::OfferAllocations {
            command: OfferAllocationsCommand {
                device,
                resources: 0,
                priority: 1,
                flags: 0,
                ..FromZeros::new_zeroed()
            },
            handles: vec![allocation],
        },
        23 => Request::ReclaimAllocations {
            command: ReclaimAllocationsCommand {
                device,
                paging_queue,
                resources: 0,
                write_results: 1,
                ..FromZeros::new_zeroed()
            },
            handles: vec![allocation],
        },
        24 => Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
            paging_queue,
            allocation,
            supported_segment_set: 1,
            preferred_segment: 0,
            flags: 0,
            property_mask: 1,
            ..FromZeros::new_zeroed()
        }),
        25 => Request::InvalidateCache(InvalidateCacheCommand {
            device,
            allocation,
            offset: 0,
            length: 16,
            ..FromZeros::new_zeroed()
        }),
        26 => Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
            device,
            reason: 0x8000_0000,
            ..FromZeros::new_zeroed()
        }),
        27 => Request::FlushHeapTransitions { adapter },
        28 => Request::QueryClockCalibration(QueryClockCalibrationCommand {
            adapter,
            node_ordinal: 0,
            physical_adapter_index: 0,
            ..FromZeros::new_zeroed()
        }),
        29 => Request::ChangeVideoMemoryReservation(ChangeVideoMemoryReservationCommand {
            adapter,
            memory_segment_group: 0,
            reservation: 0x1000,
            physical_adapter_index: 0,
            ..FromZeros::new_zeroed()
        }),
        30 => Request::QueryStatistics {
            adapter,
            statistics_type: 0,
            query_id: 0,
            process: None,
        },
        31 => Request::IsFeatureEnabled {
            adapter,
            feature_id: 0,
        },
        32 => Request::CreateNtSharedObject {
            object: D3dkmtHandle(0x1C0),
        },
        33 => Request::DestroyNtSharedObject {
            shared_handle: D3dkmtHandle(0x900),
        },
        34 => Request::OpenResource {
            device,
            shared_handle: D3dkmtHandle(0x900),
        },
        35 => Request::OpenSyncObject {
            device,
            shared_handle: D3dkmtHandle(0x940),
            flags: 3,
            engine_affinity: 0,
        },
        36 => Request::ShareObjectWithHost(ShareObjectWithHostCommand {
            device,
            object: allocation,
            ..FromZeros::new_zeroed()
        }),
        37 => Request::GetStandardAllocationDriverData {
            device,
            command: GetStandardAllocationDriverDataCommand {
                allocation_type: STANDARD_ALLOCATION_GDI_SURFACE,
                private_driver_data_size: u32::from(selector & 1) * 8,
                private_driver_resource_size: u32::from(selector & 2) * 4,
                width: 0x2000,
                height: 1,
                surface_type: 7,
                ..FromZeros::new_zeroed()
            },
        },
        38 => Request::SetExistingSysmemStore(SetExistingSysmemStoreCommand {
            device,
            allocation,
            gpadl: 3,
            ..FromZeros::new_zeroed()
        }),
        _ => Request::SetExistingSysmemPages {
            device,
            allocation,
            page_frames: vec![1, 2],
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_notification(data);
    let _ = split_message(data, true);
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let (mut driver, adapter, device) = ready_driver();
    let request = request(selector, adapter, device);
    driver.submit(ProcessId(1), request);
    let packets = drain(&mut driver);
    for packet in &packets {
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            payload,
        );
    }
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, payload);
    drain(&mut driver);
});
