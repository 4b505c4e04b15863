//! GPU virtual addresses, allocation priorities, residency, offer/reclaim, allocation
//! properties, cache invalidation, reservations and the adapter-level queries.

use super::*;
use dxg::core::GpuVirtualAddressOperation as Operation;
use dxg::wire::{
    ChangeVideoMemoryReservationCommand, FreeGpuVirtualAddressCommand, InvalidateCacheCommand,
    MapGpuVirtualAddressCommand, MarkDeviceAsErrorCommand, OfferAllocationsCommand,
    QueryAllocationResidencyCommand, QueryClockCalibrationCommand, ReclaimAllocationsCommand,
    ReserveGpuVirtualAddressCommand, UpdateAllocationPropertyCommand,
    UpdateGpuVirtualAddressCommand,
};
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::FromZeros;

#[test]
fn reserve_tries_the_handle_as_an_adapter_then_as_a_paging_queue() {
    let (mut translator, mut environment) = started();
    let mut reserve = D3DDDI_RESERVEGPUVIRTUALADDRESS {
        hAdapter: 0x40,
        BaseAddress: 0x1000_0000,
        MinimumAddress: 0x100_0000,
        MaximumAddress: 0x2000_0000,
        Size: 0x10_0000,
        ReservationType: 1,
        DriverProtection: 3,
        ..Default::default()
    };
    let as_adapter = Request::ReserveGpuVirtualAddress {
        paging_queue: D3dkmtHandle::NULL,
        command: ReserveGpuVirtualAddressCommand {
            adapter: handle(0x40),
            base_address: 0x1000_0000,
            minimum_address: 0x100_0000,
            maximum_address: 0x2000_0000,
            size: 0x10_0000,
            reservation_type: 1,
            driver_protection: 3,
            ..FromZeros::new_zeroed()
        },
    };
    let number = N::ReserveGpuVirtualAddress as u32;
    assert_eq!(translator.run(&mut environment, number, &mut reserve), 0);
    assert_eq!(environment.sent(), vec![as_adapter.clone()]);
    assert_eq!(reserve.VirtualAddress, 0x1_0000_0000);
    // Only the address goes back, as in Linux.
    assert_eq!(reserve.PagingFenceValue, 0);

    environment.requests.clear();
    environment
        .scripted
        .push_back(Err(NtStatus::INVALID_HANDLE));
    reserve.VirtualAddress = 0;
    assert_eq!(translator.run(&mut environment, number, &mut reserve), 0);
    let Request::ReserveGpuVirtualAddress {
        command: ReserveGpuVirtualAddressCommand { size, .. },
        ..
    } = as_adapter
    else {
        unreachable!()
    };
    assert_eq!(environment.sent().len(), 2);
    assert_eq!(
        environment.last(),
        Request::ReserveGpuVirtualAddress {
            paging_queue: handle(0x40),
            command: ReserveGpuVirtualAddressCommand {
                adapter: D3dkmtHandle::NULL,
                base_address: 0x1000_0000,
                minimum_address: 0x100_0000,
                maximum_address: 0x2000_0000,
                size,
                reservation_type: 1,
                driver_protection: 3,
                ..FromZeros::new_zeroed()
            }
        }
    );
    assert_eq!(reserve.VirtualAddress, 0x1_0000_0000);

    // Neither: the status of the second attempt, outputs untouched.
    environment.requests.clear();
    environment
        .scripted
        .extend([Err(NtStatus::INVALID_HANDLE), Err(NtStatus::INVALID_HANDLE)]);
    reserve.VirtualAddress = 0;
    assert_eq!(
        translator.run(&mut environment, number, &mut reserve),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(reserve.VirtualAddress, 0);
    assert_eq!(environment.sent().len(), 2);
}

#[test]
fn map_free_and_update_carry_their_fields() {
    let (mut translator, mut environment) = started();
    let mut map = D3DDDI_MAPGPUVIRTUALADDRESS {
        hPagingQueue: 0x50,
        BaseAddress: 0x3000_0000,
        MinimumAddress: 1,
        MaximumAddress: 2,
        hAllocation: 0x60,
        OffsetInPages: 3,
        SizeInPages: 4,
        Protection: 5,
        DriverProtection: 6,
        ..Default::default()
    };
    let number = N::MapGpuVirtualAddress as u32;
    assert_eq!(
        translator.run(&mut environment, number, &mut map),
        STATUS_PENDING
    );
    assert_eq!(
        environment.last(),
        Request::MapGpuVirtualAddress(MapGpuVirtualAddressCommand {
            paging_queue: handle(0x50),
            allocation: handle(0x60),
            base_address: 0x3000_0000,
            minimum_address: 1,
            maximum_address: 2,
            offset_in_pages: 3,
            size_in_pages: 4,
            protection: 5,
            driver_protection: 6,
            ..FromZeros::new_zeroed()
        })
    );
    assert_eq!(
        (map.VirtualAddress, map.PagingFenceValue),
        (0x2_0000_0000, 12)
    );

    let mut free = D3DKMT_FREEGPUVIRTUALADDRESS {
        hAdapter: 0x40,
        BaseAddress: 0x3000_0000,
        Size: 0x4000,
        ..Default::default()
    };
    let number = N::FreeGpuVirtualAddress as u32;
    assert_eq!(translator.run(&mut environment, number, &mut free), 0);
    assert_eq!(
        environment.last(),
        Request::FreeGpuVirtualAddress(FreeGpuVirtualAddressCommand {
            adapter: handle(0x40),
            base_address: 0x3000_0000,
            size: 0x4000,
            ..FromZeros::new_zeroed()
        })
    );

    let map_op = D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
        OperationType: 0,
        BaseAddress: 0x1000,
        SizeInBytes: 0x2000,
        hAllocation: 0x60,
        AllocationOffsetInBytes: 0x10,
        AllocationSizeInBytes: 0x20,
        ..Default::default()
    };
    let unmap_op = D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
        OperationType: 1,
        BaseAddress: 0x5000,
        SizeInBytes: 0x1000,
        hAllocation: 2,
        _Padding1: 1,
        ..Default::default()
    };
    let copy_op = D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
        OperationType: 2,
        BaseAddress: 0x7000,
        SizeInBytes: 0x1000,
        hAllocation: 0x9000,
        ..Default::default()
    };
    let protect_op = D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
        OperationType: 3,
        Protection: 7,
        DriverProtection: 8,
        ..map_op
    };
    put(
        &environment,
        USER_BASE,
        &[map_op, unmap_op, copy_op, protect_op][..],
    );
    let mut update = D3DKMT_UPDATEGPUVIRTUALADDRESS {
        hDevice: 0x10,
        hContext: 0x20,
        hFenceObject: 0x30,
        NumOperations: 4,
        pOperations: USER_BASE,
        FenceValue: 9,
        Flags: 1,
        ..Default::default()
    };
    let number = N::UpdateGpuVirtualAddress as u32;
    assert_eq!(translator.run(&mut environment, number, &mut update), 0);
    let mapped = Operation::Map {
        base_address: 0x1000,
        size: 0x2000,
        allocation: handle(0x60),
        allocation_offset: 0x10,
        allocation_size: 0x20,
    };
    assert_eq!(
        environment.last(),
        Request::UpdateGpuVirtualAddress {
            command: UpdateGpuVirtualAddressCommand {
                device: handle(0x10),
                context: handle(0x20),
                fence_object: handle(0x30),
                fence_value: 9,
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            operations: vec![
                mapped,
                Operation::Unmap {
                    base_address: 0x5000,
                    size: 0x1000,
                    protection: 1 << 32 | 2,
                },
                Operation::Copy {
                    source_address: 0x7000,
                    size: 0x1000,
                    destination_address: 0x9000,
                },
                Operation::MapProtect {
                    base_address: 0x1000,
                    size: 0x2000,
                    allocation: handle(0x60),
                    allocation_offset: 0x10,
                    allocation_size: 0x20,
                    protection: 7,
                    driver_protection: 8,
                },
            ]
        }
    );
    // An unknown operation type never reaches the GPU.
    let sent = environment.requests.len();
    put(
        &environment,
        USER_BASE + 64,
        &D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
            OperationType: 4,
            ..Default::default()
        },
    );
    assert_eq!(
        translator.run(&mut environment, number, &mut update),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(environment.requests.len(), sent);
}

#[test]
fn allocation_priorities_and_residency_name_a_resource_or_allocations() {
    let (mut translator, mut environment) = started();
    put(&environment, USER_BASE, &[0x61u32, 0x62, 0x63][..]);
    put(&environment, USER_BASE + 0x40, &[5u32, 6, 7][..]);
    let mut set = D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: 0x10,
        phAllocationList: USER_BASE,
        AllocationCount: 3,
        pPriorities: USER_BASE + 0x40,
        ..Default::default()
    };
    let number = N::SetAllocationPriority as u32;
    assert_eq!(translator.run(&mut environment, number, &mut set), 0);
    assert_eq!(
        environment.last(),
        Request::SetAllocationPriority {
            device: handle(0x10),
            resource: D3dkmtHandle::NULL,
            allocations: vec![handle(0x61), handle(0x62), handle(0x63)],
            priorities: vec![5, 6, 7],
        }
    );
    let mut set = D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: 0x10,
        hResource: 0x70,
        pPriorities: USER_BASE + 0x44,
        ..Default::default()
    };
    assert_eq!(translator.run(&mut environment, number, &mut set), 0);
    assert_eq!(
        environment.last(),
        Request::SetAllocationPriority {
            device: handle(0x10),
            resource: handle(0x70),
            allocations: vec![],
            priorities: vec![6],
        }
    );

    let output = USER_BASE + 0x100;
    let mut get_priority = D3DKMT_GETALLOCATIONPRIORITY {
        hDevice: 0x10,
        phAllocationList: USER_BASE,
        AllocationCount: 2,
        pPriorities: output,
        ..Default::default()
    };
    let number = N::GetAllocationPriority as u32;
    assert_eq!(
        translator.run(&mut environment, number, &mut get_priority),
        0
    );
    assert_eq!(
        environment.last(),
        Request::GetAllocationPriority {
            device: handle(0x10),
            resource: D3dkmtHandle::NULL,
            allocations: vec![handle(0x61), handle(0x62)],
        }
    );
    assert_eq!(get::<[u32; 2]>(&environment, output), [100, 101]);
    // A reply with the wrong number of values writes nothing.
    put(&environment, output, &[0u32; 2][..]);
    environment
        .scripted
        .push_back(Ok(Reply::AllocationPriorities(vec![1])));
    assert_eq!(
        translator.run(&mut environment, number, &mut get_priority),
        STATUS_UNSUCCESSFUL
    );
    assert_eq!(get::<[u32; 2]>(&environment, output), [0, 0]);

    let mut residency = D3DKMT_QUERYALLOCATIONRESIDENCY {
        hDevice: 0x10,
        hResource: 0x70,
        pResidencyStatus: output,
        ..Default::default()
    };
    let number = N::QueryAllocationResidency as u32;
    assert_eq!(translator.run(&mut environment, number, &mut residency), 0);
    assert_eq!(
        environment.last(),
        Request::QueryAllocationResidency {
            command: QueryAllocationResidencyCommand {
                device: handle(0x10),
                resource: handle(0x70),
                ..FromZeros::new_zeroed()
            },
            allocations: vec![]
        }
    );
    assert_eq!(get::<u32>(&environment, output), 1);
    // Both a resource and allocations, or neither: refused before any request.
    let sent = environment.requests.len();
    residency.AllocationCount = 1;
    residency.phAllocationList = USER_BASE;
    assert_eq!(
        translator.run(&mut environment, number, &mut residency),
        STATUS_INVALID_PARAMETER
    );
    residency.AllocationCount = 0;
    residency.hResource = 0;
    assert_eq!(
        translator.run(&mut environment, number, &mut residency),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(environment.requests.len(), sent);
}

#[test]
fn offer_and_reclaim_use_resources_or_allocations_and_the_paging_queue_device() {
    let (mut translator, mut environment) = started();
    put(&environment, USER_BASE, &[0x61u32, 0x62][..]);
    let mut offer = D3DKMT_OFFERALLOCATIONS {
        hDevice: 0x10,
        HandleList: USER_BASE,
        NumAllocations: 2,
        Priority: 4,
        Flags: 1,
        ..Default::default()
    };
    let number = N::OfferAllocations as u32;
    assert_eq!(translator.run(&mut environment, number, &mut offer), 0);
    assert_eq!(
        environment.last(),
        Request::OfferAllocations {
            command: OfferAllocationsCommand {
                device: handle(0x10),
                resources: 0,
                priority: 4,
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            handles: vec![handle(0x61), handle(0x62)]
        }
    );
    offer.pResources = USER_BASE + 4;
    offer.HandleList = 0;
    offer.NumAllocations = 1;
    assert_eq!(translator.run(&mut environment, number, &mut offer), 0);
    assert_eq!(
        environment.last(),
        Request::OfferAllocations {
            command: OfferAllocationsCommand {
                device: handle(0x10),
                resources: 1,
                priority: 4,
                flags: 1,
                ..FromZeros::new_zeroed()
            },
            handles: vec![handle(0x62)]
        }
    );

    // ReclaimAllocations2 needs the paging queue's device: only known queues are served.
    let mut reclaim = D3DKMT_RECLAIMALLOCATIONS2 {
        hPagingQueue: 0x55,
        NumAllocations: 2,
        HandleList: USER_BASE,
        ..Default::default()
    };
    let number = N::ReclaimAllocations2 as u32;
    let sent = environment.requests.len();
    assert_eq!(
        translator.run(&mut environment, number, &mut reclaim),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(environment.requests.len(), sent);
    let mut queue = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: 0x10,
        ..Default::default()
    };
    let create = N::CreatePagingQueue as u32;
    assert_eq!(translator.run(&mut environment, create, &mut queue), 0);
    reclaim.hPagingQueue = queue.hPagingQueue;
    reclaim.pResults = USER_BASE + 0x100;
    assert_eq!(
        translator.run(&mut environment, number, &mut reclaim),
        STATUS_PENDING
    );
    assert_eq!(
        environment.last(),
        Request::ReclaimAllocations {
            command: ReclaimAllocationsCommand {
                device: handle(0x10),
                paging_queue: handle(queue.hPagingQueue),
                resources: 0,
                write_results: 1,
                ..FromZeros::new_zeroed()
            },
            handles: vec![handle(0x61), handle(0x62)]
        }
    );
    assert_eq!(reclaim.PagingFenceValue, 13);
    assert_eq!(get::<[u32; 2]>(&environment, USER_BASE + 0x100), [0, 1]);
    // Once the queue is destroyed it is unknown again.
    let mut destroy = D3DDDI_DESTROYPAGINGQUEUE {
        hPagingQueue: queue.hPagingQueue,
    };
    let number_destroy = N::DestroyPagingQueue as u32;
    assert_eq!(
        translator.run(&mut environment, number_destroy, &mut destroy),
        0
    );
    assert_eq!(
        translator.run(&mut environment, number, &mut reclaim),
        STATUS_INVALID_HANDLE
    );
}

#[test]
fn property_cache_reservation_and_device_error_calls_carry_their_fields() {
    let (mut translator, mut environment) = started();
    let mut property = D3DDDI_UPDATEALLOCPROPERTY {
        hPagingQueue: 0x50,
        hAllocation: 0x60,
        SupportedSegmentSet: 3,
        PreferredSegment: 4,
        Flags: 5,
        PropertyMaskValue: 6,
        ..Default::default()
    };
    let number = N::UpdateAllocationProperty as u32;
    assert_eq!(
        translator.run(&mut environment, number, &mut property),
        STATUS_PENDING
    );
    assert_eq!(
        environment.last(),
        Request::UpdateAllocationProperty(UpdateAllocationPropertyCommand {
            paging_queue: handle(0x50),
            allocation: handle(0x60),
            supported_segment_set: 3,
            preferred_segment: 4,
            flags: 5,
            property_mask: 6,
            ..FromZeros::new_zeroed()
        })
    );
    assert_eq!(property.PagingFenceValue, 14);

    let mut cache = D3DKMT_INVALIDATECACHE {
        hDevice: 0x10,
        hAllocation: 0x60,
        Offset: 64,
        Length: 128,
    };
    let number = N::InvalidateCache as u32;
    assert_eq!(translator.run(&mut environment, number, &mut cache), 0);
    assert_eq!(
        environment.last(),
        Request::InvalidateCache(InvalidateCacheCommand {
            device: handle(0x10),
            allocation: handle(0x60),
            offset: 64,
            length: 128,
            ..FromZeros::new_zeroed()
        })
    );

    let mut reservation = D3DKMT_CHANGEVIDEOMEMORYRESERVATION {
        hAdapter: 0x40,
        MemorySegmentGroup: 1,
        Reservation: 1 << 20,
        PhysicalAdapterIndex: 0,
        ..Default::default()
    };
    let number = N::ChangeVideoMemoryReservation as u32;
    assert_eq!(
        translator.run(&mut environment, number, &mut reservation),
        0
    );
    assert_eq!(
        environment.last(),
        Request::ChangeVideoMemoryReservation(ChangeVideoMemoryReservationCommand {
            adapter: handle(0x40),
            memory_segment_group: 1,
            reservation: 1 << 20,
            physical_adapter_index: 0,
            ..FromZeros::new_zeroed()
        })
    );
    reservation.hProcess = 1;
    assert_eq!(
        translator.run(&mut environment, number, &mut reservation),
        STATUS_INVALID_PARAMETER
    );

    let mut error = D3DKMT_MARKDEVICEASERROR {
        hDevice: 0x10,
        Reason: 0x8000_0006,
    };
    let number = N::MarkDeviceAsError as u32;
    assert_eq!(translator.run(&mut environment, number, &mut error), 0);
    assert_eq!(
        environment.last(),
        Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
            device: handle(0x10),
            reason: 0x8000_0006,
            ..FromZeros::new_zeroed()
        })
    );

    let mut flush = D3DKMT_FLUSHHEAPTRANSITIONS { hAdapter: 0x40 };
    let number = N::FlushHeapTransitions as u32;
    assert_eq!(translator.run(&mut environment, number, &mut flush), 0);
    assert_eq!(
        environment.last(),
        Request::FlushHeapTransitions {
            adapter: handle(0x40),
        }
    );
}

#[test]
fn clock_calibration_and_statistics_fill_their_outputs() {
    let (mut translator, mut environment) = started();
    let mut clock = D3DKMT_QUERYCLOCKCALIBRATION {
        hAdapter: 0x40,
        NodeOrdinal: 2,
        PhysicalAdapterIndex: 0,
        ..Default::default()
    };
    let number = N::QueryClockCalibration as u32;
    assert_eq!(translator.run(&mut environment, number, &mut clock), 0);
    assert_eq!(
        environment.last(),
        Request::QueryClockCalibration(QueryClockCalibrationCommand {
            adapter: handle(0x40),
            node_ordinal: 2,
            physical_adapter_index: 0,
            ..FromZeros::new_zeroed()
        })
    );
    let (frequency, gpu, cpu, flags) = (
        clock.GpuFrequency,
        clock.GpuClockCounter,
        clock.CpuClockCounter,
        clock.ClockDataFlags,
    );
    assert_eq!((frequency, gpu, cpu, flags), (10_000_000, 15, 16, 1));

    // Statistics name the adapter by LUID: opened for the query, closed after it.
    environment.requests.clear();
    let mut statistics = D3DKMT_QUERYSTATISTICS {
        Type: 5,
        AdapterLuid: LUID {
            LowPart: 0x2222,
            HighPart: 0,
        },
        Query: [3, 0],
        ..Default::default()
    };
    let number = N::QueryStatistics as u32;
    assert_eq!(translator.run(&mut environment, number, &mut statistics), 0);
    let adapter = D3dkmtHandle::new(3, 1, 0);
    assert_eq!(
        environment.sent(),
        vec![
            Request::OpenAdapterFromLuid {
                luid: Luid::from_u64(0x2222),
            },
            Request::QueryStatistics {
                adapter,
                statistics_type: 5,
                query_id: 3,
                process: None,
            },
            Request::CloseAdapter { adapter },
        ]
    );
    let expected: Vec<u8> = (0..776).map(|i| i as u8).collect();
    assert_eq!(statistics.QueryResult.as_bytes(), expected.as_slice());

    // A failed query still closes the adapter and leaves the result alone.
    environment.requests.clear();
    environment.scripted.extend([
        Ok(Reply::AdapterOpened(AdapterEntry {
            handle: adapter,
            luid: Luid::from_u64(0x2222),
        })),
        Err(NtStatus::INVALID_PARAMETER),
    ]);
    let mut fresh_statistics = D3DKMT_QUERYSTATISTICS {
        Type: 99,
        ..statistics
    };
    fresh_statistics.QueryResult = [0; 97];
    assert_eq!(
        translator.run(&mut environment, number, &mut fresh_statistics),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(environment.last(), Request::CloseAdapter { adapter });
    assert_eq!(fresh_statistics.QueryResult, [0; 97]);

    // Other processes' statistics are not offered.
    environment.requests.clear();
    statistics.hProcess = 7;
    assert_eq!(
        translator.run(&mut environment, number, &mut statistics),
        STATUS_NOT_SUPPORTED
    );
    assert!(environment.sent().is_empty());
}
