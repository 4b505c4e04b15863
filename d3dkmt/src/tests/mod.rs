//! Unit tests of the translator against a fake environment: user memory as permissioned pages,
//! a recording GPU with scripted or automatic replies, and recording IO mappings.

mod existing_sysmem;
mod flows;
mod hardware_queues;
mod invalid_arguments;
mod invalid_extended;
mod invalid_sharing;
mod legacy_sync;
mod memory;
mod sharing;
mod standard_allocation;
mod views;

use super::test_memory::SparseUserMemory;
use super::{Environment, NtStatus, Reply, Request, Timeout, Translator, UserMemoryError};
use crate::ViewAccess;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use dxg::core::{AdapterEntry, CreatedAllocation};
use dxg::wire::{D3dkmtHandle, Luid, QueryVideoMemoryInfoReply};
use userlib::sys::SyscallNumber;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Where the fake's ordinary user memory starts.
pub const USER_BASE: u64 = 0x10_0000;
/// Where `map_io` places mappings.
pub const MAPPING_BASE: u64 = 0x7F00_0000_0000;
/// IO-space base of the automatic replies.
pub const IO_BASE: u64 = 0x8_0000_0000;
/// The made-up page frame number of user page 0 (`user_page_frames` of the fake).
pub const FRAME_BASE: u64 = 0x50_0000;

/// One `map_io` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapCall {
    pub physical: u64,
    pub length: u64,
    pub writable: bool,
    pub cached: bool,
    pub user_address: u64,
}

/// The fake kernel side of one process.
pub struct FakeEnvironment {
    pub memory: SparseUserMemory,
    /// Every request sent, with its timeout.
    pub requests: Vec<(Request, Timeout)>,
    /// Replies to use before the automatic ones.
    pub scripted: VecDeque<Result<Reply, NtStatus>>,
    /// Every `map_io` that succeeded.
    pub maps: Vec<MapCall>,
    /// Every `unmap_io`.
    pub unmaps: Vec<(u64, u64)>,
    /// When set, `map_io` fails with this status.
    pub map_failure: Option<NtStatus>,
    next_handle: u32,
    next_mapping: u64,
}

impl FakeEnvironment {
    pub fn new() -> Self {
        let memory = SparseUserMemory::new();
        memory.map(USER_BASE, 0x10_0000, true);
        Self {
            memory,
            requests: Vec::new(),
            scripted: VecDeque::new(),
            maps: Vec::new(),
            unmaps: Vec::new(),
            map_failure: None,
            next_handle: 1,
            next_mapping: MAPPING_BASE,
        }
    }

    /// The requests sent, without CreateProcess.
    pub fn sent(&self) -> Vec<Request> {
        self.requests
            .iter()
            .map(|(request, _)| request.clone())
            .filter(|request| !matches!(request, Request::CreateProcess { .. }))
            .collect()
    }

    /// The last request sent.
    pub fn last(&self) -> Request {
        self.requests.last().expect("no request").0.clone()
    }

    /// Mappings still live (mapped, not unmapped).
    pub fn live_mappings(&self) -> Vec<MapCall> {
        self.maps
            .iter()
            .filter(|map| !self.unmaps.contains(&(map.user_address, map.length)))
            .copied()
            .collect()
    }

    fn handle(&mut self) -> D3dkmtHandle {
        self.next_handle += 1;
        D3dkmtHandle::new(self.next_handle, 1, 0)
    }

    /// A plausible reply for each request.
    fn automatic(&mut self, request: &Request) -> Result<Reply, NtStatus> {
        Ok(match request {
            Request::CreateProcess { .. } => Reply::ProcessCreated {
                host_process: D3dkmtHandle(0x99),
            },
            Request::EnumAdapters => Reply::Adapters(vec![
                AdapterEntry {
                    handle: D3dkmtHandle::new(1, 1, 0),
                    luid: Luid::from_u64(0x1111),
                },
                AdapterEntry {
                    handle: D3dkmtHandle::new(2, 1, 0),
                    luid: Luid::from_u64(0x2222),
                },
            ]),
            Request::OpenAdapterFromLuid { luid } => Reply::AdapterOpened(AdapterEntry {
                handle: D3dkmtHandle::new(3, 1, 0),
                luid: *luid,
            }),
            Request::QueryAdapterInfo { data, .. } => {
                Reply::AdapterInfo(data.iter().map(|byte| byte ^ 0xFF).collect())
            }
            Request::CreateDevice { .. } => Reply::Device(self.handle()),
            Request::CreatePagingQueue(..) => Reply::PagingQueue {
                paging_queue: self.handle(),
                sync_object: self.handle(),
                fence_address: IO_BASE + 0x1000,
            },
            Request::CreateContext { private_data, .. } => Reply::Context {
                context: self.handle(),
                private_data: private_data
                    .iter()
                    .map(|byte| byte.wrapping_add(1))
                    .collect(),
            },
            Request::CreateAllocation { allocations, .. } => Reply::Allocations {
                resource: D3dkmtHandle::NULL,
                allocations: allocations
                    .iter()
                    .map(|allocation| CreatedAllocation {
                        handle: self.handle(),
                        size: allocation
                            .private_data
                            .get(..8)
                            .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
                            .unwrap_or(4096),
                        flags: 1 << 19,
                    })
                    .collect(),
            },
            Request::MakeResident { .. } => Reply::Resident {
                status: NtStatus::PENDING,
                paging_fence_value: 5,
                bytes_to_trim: 6,
            },
            Request::Evict { .. } => Reply::Evicted { bytes_to_trim: 7 },
            Request::Lock { allocation, .. } => Reply::Locked {
                address: IO_BASE + 0x10_0000 + u64::from(allocation.index()) * 0x10_0000,
                cached: true,
            },
            Request::CreateSyncObject { .. } => Reply::SyncObject {
                handle: self.handle(),
                global: D3dkmtHandle::NULL,
                gpu_address: 0xFEED_0000,
                fence_address: IO_BASE + 0x2000,
            },
            Request::WaitFromCpu { .. } => Reply::WaitCompleted,
            Request::QueryVideoMemoryInfo(..) => Reply::VideoMemory(QueryVideoMemoryInfoReply {
                budget: 1,
                current_usage: 2,
                current_reservation: 3,
                available_for_reservation: 4,
            }),
            Request::GetDeviceState(command) => Reply::DeviceState {
                state_type: command.state_type,
                state: 1,
            },
            Request::Escape { data, .. } => Reply::Escape(data.iter().rev().copied().collect()),
            Request::ReserveGpuVirtualAddress { .. } => Reply::GpuVirtualAddress {
                status: NtStatus::SUCCESS,
                virtual_address: 0x1_0000_0000,
                paging_fence_value: 11,
            },
            Request::MapGpuVirtualAddress(..) => Reply::GpuVirtualAddress {
                status: NtStatus::PENDING,
                virtual_address: 0x2_0000_0000,
                paging_fence_value: 12,
            },
            Request::CreateHwQueue { private_data, .. } => Reply::HwQueue {
                hwqueue: self.handle(),
                progress_fence: self.handle(),
                fence_address: IO_BASE + 0x3000,
                fence_gpu_address: 0xFACE_0000,
                private_data: private_data.iter().map(|byte| byte ^ 0x5A).collect(),
            },
            Request::GetContextSchedulingPriority(command) => {
                Reply::SchedulingPriority(if command.in_process != 0 { -3 } else { 7 })
            }
            Request::GetAllocationPriority { allocations, .. } => Reply::AllocationPriorities(
                (0..allocations.len().max(1) as u32)
                    .map(|index| 100 + index)
                    .collect(),
            ),
            Request::QueryAllocationResidency { allocations, .. } => Reply::Residency(
                (0..allocations.len().max(1) as u32)
                    .map(|i| 1 + i % 3)
                    .collect(),
            ),
            Request::ReclaimAllocations { command, handles } => Reply::Reclaimed {
                status: NtStatus::PENDING,
                paging_fence_value: 13,
                results: if command.write_results != 0 {
                    (0..handles.len() as u32).map(|i| i % 3).collect()
                } else {
                    Vec::new()
                },
            },
            Request::UpdateAllocationProperty(..) => Reply::PagingFence {
                status: NtStatus::PENDING,
                paging_fence_value: 14,
            },
            Request::QueryClockCalibration(..) => Reply::ClockCalibration {
                gpu_frequency: 10_000_000,
                gpu_clock_counter: 15,
                cpu_clock_counter: 16,
                flags: 1,
            },
            Request::QueryStatistics { .. } => {
                Reply::Statistics((0..776).map(|i| i as u8).collect())
            }
            Request::CreateNtSharedObject { .. } => {
                Reply::NtSharedObject(D3dkmtHandle(0x4000_0040))
            }
            // Two allocations of 8 KiB and 4 KiB.
            Request::OpenResource { .. } => Reply::ResourceOpened {
                resource: self.handle(),
                allocations: vec![
                    CreatedAllocation {
                        handle: self.handle(),
                        size: 0x2000,
                        flags: 0,
                    },
                    CreatedAllocation {
                        handle: self.handle(),
                        size: 0x1000,
                        flags: 0,
                    },
                ],
            },
            Request::OpenSyncObject { .. } => Reply::SyncObject {
                handle: self.handle(),
                global: D3dkmtHandle(0x4000_0080),
                gpu_address: 0xFEED_1000,
                fence_address: IO_BASE + 0x4008,
            },
            Request::ShareObjectWithHost(..) => Reply::VailNtHandle(0x1234_5678_9ABC),
            _ => Reply::Status(NtStatus::SUCCESS),
        })
    }
}

impl Environment for FakeEnvironment {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        self.memory.read(address, buffer)
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        self.memory.write(address, data)
    }

    fn gpu(&mut self, request: Request, timeout: Timeout) -> Result<Reply, NtStatus> {
        self.requests.push((request.clone(), timeout));
        match self.scripted.pop_front() {
            Some(reply) => reply,
            None => self.automatic(&request),
        }
    }

    fn map_io(&mut self, physical: u64, length: u64, access: ViewAccess) -> Result<u64, NtStatus> {
        let writable = access.writable;
        assert_eq!(physical % 4096, 0, "map_io of an unaligned address");
        assert!(
            length > 0 && length.is_multiple_of(4096),
            "map_io of {length:#x} bytes"
        );
        if let Some(failure) = self.map_failure {
            return Err(failure);
        }
        let user_address = self.next_mapping;
        self.next_mapping += length + 0x10_0000;
        self.maps.push(MapCall {
            physical,
            length,
            writable,
            cached: access.cached,
            user_address,
        });
        Ok(user_address)
    }

    fn user_page_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, NtStatus> {
        assert_eq!(
            address % 4096,
            0,
            "user_page_frames of an unaligned address"
        );
        assert!(
            length > 0 && length.is_multiple_of(4096),
            "user_page_frames of {length:#x} bytes"
        );
        let bytes = usize::try_from(length).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        self.memory
            .check_writable(address, bytes)
            .map_err(|_| NtStatus(userlib::abi::status::STATUS_ACCESS_VIOLATION))?;
        Ok((address / 4096..(address + length) / 4096)
            .map(|page| FRAME_BASE + page)
            .collect())
    }

    fn unmap_io(&mut self, user_address: u64, length: u64) {
        assert!(
            self.maps
                .iter()
                .any(|map| map.user_address == user_address && map.length == length),
            "unmap_io of something never mapped"
        );
        assert!(
            !self.unmaps.contains(&(user_address, length)),
            "unmap_io twice"
        );
        self.unmaps.push((user_address, length));
    }
}

/// Calls `number` with `arguments` (copied in and back out); returns the status.
pub fn call<T: IntoBytes + FromBytes + Immutable>(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    number: u32,
    arguments: &mut T,
    arg2: u64,
) -> i32 {
    let mut bytes = arguments.as_bytes().to_vec();
    let status = translator.call(environment, number, &mut bytes, arg2);
    *arguments = T::read_from_bytes(&bytes).unwrap();
    status
}

/// A syscall number: a [`SyscallNumber`] or its `u32`.
pub trait Number {
    fn number(self) -> u32;
}

impl Number for u32 {
    fn number(self) -> u32 {
        self
    }
}

impl Number for SyscallNumber {
    fn number(self) -> u32 {
        self as u32
    }
}

/// [`call`] as a method, without a third syscall argument (`arg2` 0).
pub trait Run {
    /// Calls `number` with `arguments` (copied in and back out); returns the status.
    fn run<T: IntoBytes + FromBytes + Immutable>(
        &mut self,
        environment: &mut FakeEnvironment,
        number: impl Number,
        arguments: &mut T,
    ) -> i32;
}

impl Run for Translator {
    fn run<T: IntoBytes + FromBytes + Immutable>(
        &mut self,
        environment: &mut FakeEnvironment,
        number: impl Number,
        arguments: &mut T,
    ) -> i32 {
        call(self, environment, number.number(), arguments, 0)
    }
}

/// A translator that has not talked to the GPU yet.
pub fn fresh() -> (Translator, FakeEnvironment) {
    (Translator::new(42, "test"), FakeEnvironment::new())
}

/// A translator whose process is already created (the requests record is empty).
pub fn started() -> (Translator, FakeEnvironment) {
    let (mut translator, mut environment) = fresh();
    let mut close = userlib::abi::D3DKMT_CLOSEADAPTER { hAdapter: 1 };
    let number = userlib::sys::SyscallNumber::CloseAdapter as u32;
    assert_eq!(
        call(&mut translator, &mut environment, number, &mut close, 0),
        0
    );
    assert!(translator.process_created());
    environment.requests.clear();
    (translator, environment)
}

/// A raw handle as a [`D3dkmtHandle`].
pub fn handle(raw: u32) -> D3dkmtHandle {
    D3dkmtHandle(raw)
}

/// Creates a device on `adapter` through the translator; returns its handle.
pub fn create_device(
    translator: &mut Translator,
    environment: &mut FakeEnvironment,
    adapter: u32,
) -> u32 {
    let mut device = userlib::abi::D3DKMT_CREATEDEVICE {
        hAdapter: adapter,
        ..Default::default()
    };
    assert_eq!(
        translator.run(environment, SyscallNumber::CreateDevice, &mut device),
        0
    );
    device.hDevice
}

/// Writes `values` into the fake's user memory at `address`.
pub fn put<T: IntoBytes + Immutable + ?Sized>(
    environment: &FakeEnvironment,
    address: u64,
    values: &T,
) {
    environment
        .memory
        .write(address, values.as_bytes())
        .unwrap();
}

/// Reads a `T` from the fake's user memory.
pub fn get<T: FromBytes>(environment: &FakeEnvironment, address: u64) -> T {
    let mut bytes = vec![0u8; core::mem::size_of::<T>()];
    environment.memory.read(address, &mut bytes).unwrap();
    T::read_from_bytes(&bytes).unwrap()
}

/// userlib's `abi::status` constants (the C ABI's raw values, in a crate that links into
/// applications without an allocator, so it cannot use `hyperv`) are the values of the one
/// NTSTATUS type, `hyperv::NtStatus` (re-exported as [`NtStatus`]), name by name.
#[test]
fn userlib_status_values_are_the_ntstatus_type_values() {
    use userlib::abi::status::*;
    let pairs = [
        (STATUS_SUCCESS, NtStatus::SUCCESS),
        (STATUS_TIMEOUT, NtStatus::TIMEOUT),
        (STATUS_PENDING, NtStatus::PENDING),
        (STATUS_UNSUCCESSFUL, NtStatus::UNSUCCESSFUL),
        (STATUS_NOT_IMPLEMENTED, NtStatus::NOT_IMPLEMENTED),
        (STATUS_INFO_LENGTH_MISMATCH, NtStatus::INFO_LENGTH_MISMATCH),
        (STATUS_ACCESS_VIOLATION, NtStatus::ACCESS_VIOLATION),
        (STATUS_INVALID_HANDLE, NtStatus::INVALID_HANDLE),
        (STATUS_INVALID_PARAMETER, NtStatus::INVALID_PARAMETER),
        (STATUS_NO_MEMORY, NtStatus::NO_MEMORY),
        (STATUS_ILLEGAL_INSTRUCTION, NtStatus::ILLEGAL_INSTRUCTION),
        (STATUS_ACCESS_DENIED, NtStatus::ACCESS_DENIED),
        (STATUS_BUFFER_TOO_SMALL, NtStatus::BUFFER_TOO_SMALL),
        (STATUS_OBJECT_TYPE_MISMATCH, NtStatus::OBJECT_TYPE_MISMATCH),
        (STATUS_OBJECT_NAME_INVALID, NtStatus::OBJECT_NAME_INVALID),
        (
            STATUS_OBJECT_NAME_NOT_FOUND,
            NtStatus::OBJECT_NAME_NOT_FOUND,
        ),
        (
            STATUS_OBJECT_NAME_COLLISION,
            NtStatus::OBJECT_NAME_COLLISION,
        ),
        (
            STATUS_INVALID_SYSTEM_SERVICE,
            NtStatus::INVALID_SYSTEM_SERVICE,
        ),
        (STATUS_NOT_SUPPORTED, NtStatus::NOT_SUPPORTED),
        (STATUS_DEVICE_REMOVED, NtStatus::DEVICE_REMOVED),
        (
            STATUS_GRAPHICS_ALLOCATION_BUSY,
            NtStatus::GRAPHICS_ALLOCATION_BUSY,
        ),
    ];
    for (raw, status) in pairs {
        assert_eq!(raw, status.0, "{status:?}");
        assert_eq!(nt_success(raw), status.is_success(), "{status:?}");
    }
}
