//! Fuzzes the D3DKMT translator: the input chooses a sequence of calls (number, argument
//! bytes, the CPU-wait timeout), the contents of user memory (which addresses are mapped,
//! read-only or absent) and every reply of the fake GPU (plausible ones that match the request,
//! and arbitrary ones, including the GPU-VA, hardware-queue, priority, residency, query and
//! sharing replies), plus process exits at arbitrary points. Invariants: no panic;
//! `map_io` only of whole, page-aligned pages; `unmap_io` only of live mappings, once; no
//! mapping survives `exit`.
#![no_main]

use drivers::d3dkmt::{
    Environment, NtStatus, Reply, Request, Timeout, Translator, UserMemoryError, ViewAccess,
};
use dxg::core::{AdapterEntry, CreatedAllocation};
use dxg::wire::{CreateContextVirtualCommand, CreatePagingQueueCommand};
use dxg::wire::{D3dkmtHandle, Luid, QueryVideoMemoryInfoReply};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use userlib::sys::D3DKMT_CALLS;
use zerocopy::FromZeros;

/// Size of the fake user memory; every address is reduced modulo this size.
const MEMORY_SIZE: usize = 256 * 1024;
/// Address bit 63: not mapped. Bit 62: read-only.
const ABSENT_BIT: u64 = 1 << 63;
const READ_ONLY_BIT: u64 = 1 << 62;

/// Reads the fuzz input front to back; zeros once it is exhausted.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.byte()).collect()
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The fake kernel side: memory, GPU and mappings driven by the input.
struct FuzzEnvironment<'a> {
    input: RefCell<Input<'a>>,
    memory: RefCell<Vec<u8>>,
    mappings: Vec<(u64, u64)>,
    next_mapping: u64,
    next_handle: u32,
}

impl FuzzEnvironment<'_> {
    fn range(&self, address: u64, length: usize) -> Result<usize, UserMemoryError> {
        let offset = (address % MEMORY_SIZE as u64) as usize;
        if address & ABSENT_BIT != 0 || offset + length > MEMORY_SIZE {
            return Err(UserMemoryError { address });
        }
        Ok(offset)
    }

    fn handle(&mut self) -> D3dkmtHandle {
        let input = self.input.get_mut();
        if input.byte().is_multiple_of(8) {
            return D3dkmtHandle(input.u32());
        }
        self.next_handle += 1;
        D3dkmtHandle::new(self.next_handle, 1, 0)
    }

    /// A reply of the right kind for `request`, with fields from the input.
    fn plausible(&mut self, request: &Request) -> Reply {
        match request {
            Request::CreateProcess { .. } => Reply::ProcessCreated {
                host_process: self.handle(),
            },
            Request::EnumAdapters => {
                let count = self.input.get_mut().byte() % 4;
                Reply::Adapters(
                    (0..count)
                        .map(|_| AdapterEntry {
                            handle: self.handle(),
                            luid: Luid::from_u64(self.input.get_mut().u64()),
                        })
                        .collect(),
                )
            }
            Request::OpenAdapterFromLuid { luid } => Reply::AdapterOpened(AdapterEntry {
                handle: self.handle(),
                luid: *luid,
            }),
            Request::QueryAdapterInfo { data, .. } => {
                Reply::AdapterInfo(self.input.get_mut().bytes(data.len().min(64)))
            }
            Request::CreateDevice { .. } => Reply::Device(self.handle()),
            Request::CreatePagingQueue(..) => Reply::PagingQueue {
                paging_queue: self.handle(),
                sync_object: self.handle(),
                fence_address: self.input.get_mut().u64() & !0xF,
            },
            Request::CreateContext { .. } => Reply::Context {
                context: self.handle(),
                private_data: {
                    let length = usize::from(self.input.get_mut().byte());
                    self.input.get_mut().bytes(length)
                },
            },
            Request::CreateAllocation { allocations, .. } => Reply::Allocations {
                resource: if self.input.get_mut().byte().is_multiple_of(4) {
                    self.handle()
                } else {
                    D3dkmtHandle::NULL
                },
                allocations: allocations
                    .iter()
                    .map(|_| CreatedAllocation {
                        handle: self.handle(),
                        size: match self.input.get_mut().byte() % 4 {
                            0 => self.input.get_mut().u64(),
                            _ => u64::from(self.input.get_mut().u32() % (1 << 24)),
                        },
                        flags: 1 << 19,
                    })
                    .collect(),
            },
            Request::MakeResident { .. } => Reply::Resident {
                status: NtStatus(self.input.get_mut().u32() as i32),
                paging_fence_value: self.input.get_mut().u64(),
                bytes_to_trim: self.input.get_mut().u64(),
            },
            Request::Evict { .. } => Reply::Evicted {
                bytes_to_trim: self.input.get_mut().u64(),
            },
            Request::Lock { .. } => Reply::Locked {
                address: match self.input.get_mut().byte() % 4 {
                    0 => self.input.get_mut().u64(),
                    _ => self.input.get_mut().u64() & !0xFFF,
                },
                cached: true,
            },
            Request::CreateSyncObject { .. } => Reply::SyncObject {
                handle: self.handle(),
                global: self.handle(),
                gpu_address: self.input.get_mut().u64(),
                fence_address: self.input.get_mut().u64(),
            },
            Request::OpenSyncObject { .. } => Reply::SyncObject {
                handle: self.handle(),
                global: self.handle(),
                gpu_address: self.input.get_mut().u64(),
                fence_address: match self.input.get_mut().byte() % 4 {
                    0 => 0,
                    _ => self.input.get_mut().u64(),
                },
            },
            Request::CreateNtSharedObject { .. } => Reply::NtSharedObject(self.handle()),
            Request::OpenResource { .. } => {
                // Usually one to three allocations: sometimes the caller's count, sometimes not.
                let count = usize::from(self.input.get_mut().byte() % 4);
                Reply::ResourceOpened {
                    resource: self.handle(),
                    allocations: (0..count)
                        .map(|_| CreatedAllocation {
                            handle: self.handle(),
                            size: u64::from(self.input.get_mut().u32() % (1 << 24)),
                            flags: 0,
                        })
                        .collect(),
                }
            }
            Request::ShareObjectWithHost(..) => Reply::VailNtHandle(self.input.get_mut().u64()),
            Request::WaitFromCpu { .. } => Reply::WaitCompleted,
            Request::QueryVideoMemoryInfo(..) => Reply::VideoMemory(QueryVideoMemoryInfoReply {
                budget: 1,
                current_usage: 2,
                current_reservation: 3,
                available_for_reservation: 4,
            }),
            Request::GetDeviceState(command) => Reply::DeviceState {
                state_type: command.state_type,
                state: self.input.get_mut().u32(),
            },
            Request::Escape { data, .. } => {
                let length = data.len() + usize::from(self.input.get_mut().byte() % 3);
                Reply::Escape(self.input.get_mut().bytes(length.saturating_sub(1)))
            }
            Request::ReserveGpuVirtualAddress { .. } | Request::MapGpuVirtualAddress(..) => {
                Reply::GpuVirtualAddress {
                    status: NtStatus(self.input.get_mut().u32() as i32 & 0x103),
                    virtual_address: self.input.get_mut().u64(),
                    paging_fence_value: self.input.get_mut().u64(),
                }
            }
            Request::CreateHwQueue { private_data, .. } => Reply::HwQueue {
                hwqueue: self.handle(),
                progress_fence: self.handle(),
                fence_address: self.input.get_mut().u64() & !0xF,
                fence_gpu_address: self.input.get_mut().u64(),
                private_data: {
                    let length = private_data.len() + usize::from(self.input.get_mut().byte() % 3);
                    self.input.get_mut().bytes(length.saturating_sub(1))
                },
            },
            Request::GetContextSchedulingPriority(..) => {
                Reply::SchedulingPriority(self.input.get_mut().u32() as i32)
            }
            Request::GetAllocationPriority { allocations, .. } => {
                Reply::AllocationPriorities(self.values(allocations.len().max(1)))
            }
            Request::QueryAllocationResidency { allocations, .. } => {
                Reply::Residency(self.values(allocations.len().max(1)))
            }
            Request::ReclaimAllocations { handles, .. } => Reply::Reclaimed {
                status: NtStatus(self.input.get_mut().u32() as i32 & 0x103),
                paging_fence_value: self.input.get_mut().u64(),
                results: self.values(handles.len()),
            },
            Request::UpdateAllocationProperty(..) => Reply::PagingFence {
                status: NtStatus(self.input.get_mut().u32() as i32 & 0x103),
                paging_fence_value: self.input.get_mut().u64(),
            },
            Request::QueryClockCalibration(..) => Reply::ClockCalibration {
                gpu_frequency: self.input.get_mut().u64(),
                gpu_clock_counter: self.input.get_mut().u64(),
                cpu_clock_counter: self.input.get_mut().u64(),
                flags: self.input.get_mut().u32(),
            },
            Request::QueryStatistics { .. } => {
                let length = 775 + usize::from(self.input.get_mut().byte() % 3);
                Reply::Statistics(self.input.get_mut().bytes(length))
            }
            _ => Reply::Status(NtStatus(self.input.get_mut().u32() as i32 & 0x103)),
        }
    }

    /// `count` u32 values, now and then one too few or too many.
    fn values(&mut self, count: usize) -> Vec<u32> {
        let length = (count + usize::from(self.input.get_mut().byte() % 3)).saturating_sub(1);
        (0..length.min(64))
            .map(|_| self.input.get_mut().u32())
            .chain(core::iter::repeat(0))
            .take(length)
            .collect()
    }

    /// Any reply at all.
    fn arbitrary(&mut self) -> Reply {
        let request = match self.input.get_mut().byte() % 7 {
            0 => Request::EnumAdapters,
            1 => Request::DestroyProcess,
            2 => Request::Lock {
                device: D3dkmtHandle::NULL,
                allocation: D3dkmtHandle::NULL,
            },
            3 => Request::CreatePagingQueue(CreatePagingQueueCommand {
                device: D3dkmtHandle::NULL,
                priority: 0,
                ..FromZeros::new_zeroed()
            }),
            4 => Request::CreateContext {
                command: CreateContextVirtualCommand {
                    device: D3dkmtHandle::NULL,
                    node_ordinal: 0,
                    engine_affinity: 0,
                    flags: 0,
                    client_hint: 0,
                    ..FromZeros::new_zeroed()
                },
                private_data: Vec::new(),
            },
            5 => Request::OpenResource {
                device: D3dkmtHandle::NULL,
                shared_handle: D3dkmtHandle::NULL,
            },
            _ => Request::WaitFromCpu {
                device: D3dkmtHandle::NULL,
                objects: Vec::new(),
                values: Vec::new(),
                wait_any: false,
            },
        };
        self.plausible(&request)
    }
}

impl Environment for FuzzEnvironment<'_> {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        let offset = self.range(address, buffer.len())?;
        buffer.copy_from_slice(&self.memory.borrow()[offset..offset + buffer.len()]);
        Ok(())
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        let offset = self.range(address, data.len())?;
        if address & READ_ONLY_BIT != 0 {
            return Err(UserMemoryError { address });
        }
        self.memory.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn gpu(&mut self, request: Request, _timeout: Timeout) -> Result<Reply, NtStatus> {
        match self.input.get_mut().byte() % 8 {
            0 => Err(NtStatus(self.input.get_mut().u32() as i32)),
            1 => Ok(self.arbitrary()),
            _ => Ok(self.plausible(&request)),
        }
    }

    fn map_io(&mut self, physical: u64, length: u64, _access: ViewAccess) -> Result<u64, NtStatus> {
        assert_eq!(physical % 4096, 0, "unaligned map_io");
        assert!(
            length > 0 && length.is_multiple_of(4096),
            "map_io of {length:#x} bytes"
        );
        if self.input.get_mut().byte().is_multiple_of(8) {
            return Err(NtStatus::NO_MEMORY);
        }
        let address = self.next_mapping;
        self.next_mapping = self.next_mapping.wrapping_add(length).wrapping_add(4096);
        self.mappings.push((address, length));
        Ok(address)
    }

    fn unmap_io(&mut self, user_address: u64, length: u64) {
        let position = self
            .mappings
            .iter()
            .position(|mapping| *mapping == (user_address, length))
            .expect("unmap_io of a range that is not mapped");
        self.mappings.swap_remove(position);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let memory_length = usize::from(input.byte()) * 64;
    let memory = input.bytes(memory_length);
    let mut user_memory = vec![0u8; MEMORY_SIZE];
    user_memory[..memory.len()].copy_from_slice(&memory);
    let mut environment = FuzzEnvironment {
        input: RefCell::new(input),
        memory: RefCell::new(user_memory),
        mappings: Vec::new(),
        next_mapping: 0x7F00_0000_0000,
        next_handle: 0,
    };
    let mut translator = Translator::new(1, "fuzz");
    for _ in 0..64 {
        let input = environment.input.get_mut();
        if input.is_empty() {
            break;
        }
        let selector = input.byte();
        if selector == 0xFF {
            translator.exit(&mut environment);
            assert!(environment.mappings.is_empty(), "a view survived exit");
            continue;
        }
        let entry = &D3DKMT_CALLS[usize::from(selector) % D3DKMT_CALLS.len()];
        let number = if selector >= 0xF8 {
            input.u32()
        } else {
            entry.number as u32
        };
        let size = if selector % 16 == 15 {
            usize::from(input.byte())
        } else {
            entry.argument_size
        };
        let mut arguments = input.bytes(size);
        let arg2 = input.u64();
        translator.call(&mut environment, number, &mut arguments, arg2);
    }
    translator.exit(&mut environment);
    assert!(environment.mappings.is_empty(), "a view survived exit");
});
