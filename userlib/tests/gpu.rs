//! The safe API and the C-entry forwarding against a fake kernel that implements `Syscall`,
//! reads and writes the argument structs like the real kernel would, and records every call.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;
use userlib::abi::{self, status::*};
use userlib::d3dkmt;
use userlib::gpu::{Adapter, D3dkmtError};
use userlib::sys::{Syscall, SyscallNumber};
use zerocopy::{FromBytes, IntoBytes};

/// Copies `length` bytes from a user address.
fn read_user(address: u64, length: usize) -> Vec<u8> {
    // SAFETY: test-only; every address comes from userlib passing a live struct or array of at
    // least `length` bytes (the size it passes alongside, or the count it wrote).
    unsafe { std::slice::from_raw_parts(address as *const u8, length).to_vec() }
}

/// Copies bytes to a user address.
fn write_user(address: u64, bytes: &[u8]) {
    // SAFETY: as `read_user`: a live, writable user buffer of at least `bytes.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) }
}

fn read_struct<T: FromBytes>(address: u64) -> T {
    T::read_from_bytes(&read_user(address, size_of::<T>())).unwrap()
}

#[derive(Default)]
struct FakeKernel {
    calls: RefCell<Vec<(SyscallNumber, Vec<u8>, u64)>>,
    next_handle: Cell<u32>,
    fail: RefCell<HashMap<SyscallNumber, i32>>,
    adapters: u32,
    mapping: RefCell<Vec<u8>>,
    lock_returns_null: Cell<bool>,
}

impl FakeKernel {
    fn new(adapters: u32) -> Self {
        Self {
            next_handle: Cell::new(0x4000_0000),
            adapters,
            ..Default::default()
        }
    }

    fn handle(&self) -> u32 {
        let handle = self.next_handle.get() + 0x40;
        self.next_handle.set(handle);
        handle
    }

    fn numbers(&self) -> Vec<SyscallNumber> {
        self.calls.borrow().iter().map(|call| call.0).collect()
    }

    fn last<T: FromBytes>(&self, number: SyscallNumber) -> T {
        let calls = self.calls.borrow();
        let (_, bytes, _) = calls.iter().rev().find(|call| call.0 == number).unwrap();
        T::read_from_bytes(bytes).unwrap()
    }

    fn serve(&self, number: SyscallNumber, address: u64) -> i32 {
        use SyscallNumber as N;
        match number {
            N::EnumAdapters2 => {
                let mut arguments: abi::D3DKMT_ENUMADAPTERS2 = read_struct(address);
                assert!(arguments.NumAdapters >= self.adapters);
                for index in 0..self.adapters {
                    let info = abi::D3DKMT_ADAPTERINFO {
                        hAdapter: self.handle(),
                        AdapterLuid: abi::LUID {
                            LowPart: 0x100 + index,
                            HighPart: 0,
                        },
                        NumOfSources: 1,
                        bPrecisePresentRegionsPreferred: 0,
                    };
                    write_user(arguments.pAdapters + u64::from(index) * 20, info.as_bytes());
                }
                arguments.NumAdapters = self.adapters;
                write_user(address, arguments.as_bytes());
            }
            N::QueryAdapterInfo => {
                let arguments: abi::D3DKMT_QUERYADAPTERINFO = read_struct(address);
                assert_eq!(arguments.Type, abi::flags::KMTQAITYPE_ADAPTERTYPE);
                assert_eq!(arguments.PrivateDriverDataSize, 4);
                let bits = abi::flags::D3DKMT_ADAPTERTYPE_RENDER_SUPPORTED
                    | abi::flags::D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED;
                write_user(arguments.pPrivateDriverData, &bits.to_le_bytes());
            }
            N::CreateDevice => {
                let mut arguments: abi::D3DKMT_CREATEDEVICE = read_struct(address);
                arguments.hDevice = self.handle();
                write_user(address, arguments.as_bytes());
            }
            N::CreateContextVirtual => {
                let mut arguments: abi::D3DKMT_CREATECONTEXTVIRTUAL = read_struct(address);
                arguments.hContext = self.handle();
                write_user(address, arguments.as_bytes());
            }
            N::CreateAllocation2 => {
                let arguments: abi::D3DKMT_CREATEALLOCATION = read_struct(address);
                assert_eq!(arguments.NumAllocations, 1);
                let mut info: abi::D3DDDI_ALLOCATIONINFO2 = read_struct(arguments.pAllocationInfo2);
                assert_eq!(info.PrivateDriverDataSize, 8);
                let size =
                    u64::from_le_bytes(read_user(info.pPrivateDriverData, 8).try_into().unwrap());
                *self.mapping.borrow_mut() = vec![0; size as usize];
                info.hAllocation = self.handle();
                info.GpuVirtualAddress = 0x1_0000_0000;
                write_user(arguments.pAllocationInfo2, info.as_bytes());
            }
            N::Lock2 => {
                let mut arguments: abi::D3DKMT_LOCK2 = read_struct(address);
                arguments.pData = if self.lock_returns_null.get() {
                    0
                } else {
                    self.mapping.borrow_mut().as_mut_ptr() as u64
                };
                write_user(address, arguments.as_bytes());
            }
            N::CreateSynchronizationObject2 => {
                let mut arguments: abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 = read_struct(address);
                assert_eq!(arguments.Info.Type, abi::flags::D3DDDI_MONITORED_FENCE);
                arguments.hSyncObject = self.handle();
                arguments.Info.FenceValueGPUVirtualAddress = 0x2_0000_0000;
                write_user(address, arguments.as_bytes());
            }
            N::SubmitCommand => {
                let arguments: abi::D3DKMT_SUBMITCOMMAND = read_struct(address);
                let commands = read_user(
                    arguments.pPrivateDriverData,
                    arguments.PrivateDriverDataSize as usize,
                );
                assert_eq!(commands, b"DRAW");
            }
            N::SignalSynchronizationObjectFromGpu => {
                let arguments: abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU =
                    read_struct(address);
                let value = read_user(arguments.MonitoredFenceValueArray, 8);
                assert_eq!(u64::from_le_bytes(value.try_into().unwrap()), 7);
            }
            N::WaitForSynchronizationObjectFromCpu => {
                let arguments: abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU =
                    read_struct(address);
                let value =
                    u64::from_le_bytes(read_user(arguments.FenceValueArray, 8).try_into().unwrap());
                if value > 100 {
                    return STATUS_TIMEOUT;
                }
            }
            _ => {}
        }
        STATUS_SUCCESS
    }
}

// SAFETY: the fake reads and writes only the structs and arrays userlib passes; Lock2 returns
// null or the address of `mapping`, a buffer of the allocation's size that the fake owns, does
// not touch while locked and keeps until the next CreateAllocation2 (after the test's mapping
// is gone); it never returns a CPU fence address.
unsafe impl Syscall for FakeKernel {
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, arg2: u64) -> i64 {
        let expected = number.argument_size().expect("a D3DKMT call");
        assert_eq!(
            arg1 as usize, expected,
            "{number:?}: rsi must be the struct size"
        );
        self.calls
            .borrow_mut()
            .push((number, read_user(arg0, expected), arg2));
        if let Some(&status) = self.fail.borrow().get(&number) {
            return i64::from(status);
        }
        let status = self.serve(number, arg0);
        // Record the struct as the kernel left it.
        self.calls.borrow_mut().last_mut().unwrap().1 = read_user(arg0, expected);
        i64::from(status)
    }
}

#[test]
fn whole_flow_and_drop_order() {
    use SyscallNumber as N;
    let kernel = FakeKernel::new(2);
    {
        let mut adapters = Adapter::enumerate(&kernel).unwrap();
        assert_eq!(adapters.len(), 2);
        let luids: Vec<u32> = adapters.iter().map(|a| a.luid().LowPart).collect();
        assert_eq!(luids, [0x100, 0x101]);
        let adapter = adapters.take(0).unwrap();
        drop(adapters); // closes the second adapter only
        assert_eq!(kernel.numbers(), [N::EnumAdapters2, N::CloseAdapter]);

        let bits = adapter.adapter_type().unwrap();
        assert_ne!(bits & abi::flags::D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED, 0);

        let device = adapter.create_device().unwrap();
        let created: abi::D3DKMT_CREATEDEVICE = kernel.last(N::CreateDevice);
        assert_eq!(created.hAdapter, adapter.handle());

        let context = device.create_context().unwrap();
        let mut allocation = device.create_allocation(4096).unwrap();
        assert_eq!(allocation.gpu_virtual_address(), 0x1_0000_0000);
        {
            let mut mapping = allocation.lock().unwrap();
            assert_eq!(mapping.len(), 4096);
            mapping[0] = 0xAB;
            mapping[4095] = 0xCD;
        }
        assert_eq!(kernel.mapping.borrow()[0], 0xAB);
        assert_eq!(kernel.mapping.borrow()[4095], 0xCD);
        let unlocked: abi::D3DKMT_UNLOCK2 = kernel.last(N::Unlock2);
        assert_eq!(unlocked.hAllocation, allocation.handle());

        let fence = device.create_sync_object().unwrap();
        context.submit(b"DRAW", (&fence, 7)).unwrap();
        let submitted: abi::D3DKMT_SUBMITCOMMAND = kernel.last(N::SubmitCommand);
        assert_eq!(submitted.BroadcastContextCount, 1);
        assert_eq!(submitted.BroadcastContext[0], context.handle());
        let signalled: abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU =
            kernel.last(N::SignalSynchronizationObjectFromGpu);
        assert_eq!(signalled.hContext, context.handle());
        assert_eq!(signalled.ObjectCount, 1);

        fence.wait_cpu(7, None).unwrap();
        let waits: Vec<u64> = kernel
            .calls
            .borrow()
            .iter()
            .filter(|call| call.0 == N::WaitForSynchronizationObjectFromCpu)
            .map(|call| call.2)
            .collect();
        assert_eq!(waits, [u64::MAX]);
        assert_eq!(
            fence.wait_cpu(1000, Some(Duration::from_millis(5))),
            Err(D3dkmtError::Timeout)
        );
        assert_eq!(
            kernel.calls.borrow().last().unwrap().2,
            5000,
            "timeout in microseconds"
        );
        kernel.calls.borrow_mut().clear();
        // Scope end: drops in reverse declaration order.
    }
    assert_eq!(
        kernel.numbers(),
        [
            N::DestroySynchronizationObject,
            N::DestroyAllocation2,
            N::DestroyContext,
            N::DestroyDevice,
            N::CloseAdapter
        ]
    );
}

#[test]
fn errors_map_from_ntstatus_and_nothing_leaks() {
    use SyscallNumber as N;
    let kernel = FakeKernel::new(1);
    let mut adapters = Adapter::enumerate(&kernel).unwrap();
    let adapter = adapters.take(0).unwrap();
    kernel
        .fail
        .borrow_mut()
        .insert(N::CreateDevice, STATUS_NO_MEMORY);
    assert_eq!(adapter.create_device().err(), Some(D3dkmtError::NoMemory));
    kernel
        .fail
        .borrow_mut()
        .insert(N::CreateDevice, STATUS_DEVICE_REMOVED);
    assert_eq!(
        adapter.create_device().err(),
        Some(D3dkmtError::DeviceRemoved)
    );
    kernel
        .fail
        .borrow_mut()
        .insert(N::CreateDevice, 0xC0001234_u32 as i32);
    assert_eq!(
        adapter.create_device().err(),
        Some(D3dkmtError::Other(0xC0001234_u32 as i32))
    );
    kernel.fail.borrow_mut().clear();
    let device = adapter.create_device().unwrap();
    assert_eq!(
        device.create_allocation(0).err(),
        Some(D3dkmtError::InvalidParameter)
    );

    // A failed create leaves nothing to destroy.
    kernel
        .fail
        .borrow_mut()
        .insert(N::CreateContextVirtual, STATUS_INVALID_HANDLE);
    assert_eq!(
        device.create_context().err(),
        Some(D3dkmtError::InvalidHandle)
    );
    assert!(!kernel.numbers().contains(&N::DestroyContext));

    // A null mapping is refused and the lock is balanced by an unlock.
    let mut allocation = device.create_allocation(64).unwrap();
    kernel.lock_returns_null.set(true);
    assert_eq!(allocation.lock().err(), Some(D3dkmtError::InvalidReply));
    assert_eq!(kernel.numbers().last(), Some(&N::Unlock2));
}

#[test]
fn error_round_trip() {
    for status in [
        STATUS_INVALID_PARAMETER,
        STATUS_INVALID_HANDLE,
        STATUS_NO_MEMORY,
        STATUS_ACCESS_DENIED,
        STATUS_BUFFER_TOO_SMALL,
        STATUS_NOT_SUPPORTED,
        STATUS_DEVICE_REMOVED,
        STATUS_GRAPHICS_ALLOCATION_BUSY,
        STATUS_OBJECT_NAME_NOT_FOUND,
        STATUS_INFO_LENGTH_MISMATCH,
        STATUS_INVALID_SYSTEM_SERVICE,
    ] {
        assert_eq!(D3dkmtError::from_status(status).unwrap().status(), status);
    }
    assert_eq!(D3dkmtError::from_status(STATUS_SUCCESS), None);
    assert_eq!(D3dkmtError::from_status(STATUS_PENDING), None);
    assert_eq!(
        D3dkmtError::from_status(STATUS_NOT_IMPLEMENTED),
        Some(D3dkmtError::NotSupported)
    );
}

#[test]
fn c_entry_forwarding() {
    let kernel = FakeKernel::new(0);
    let mut arguments = abi::D3DKMT_CREATEDEVICE {
        hAdapter: 5,
        ..Default::default()
    };
    let status = d3dkmt::forward(&kernel, SyscallNumber::CreateDevice, &raw mut arguments);
    assert_eq!(status, STATUS_SUCCESS);
    assert_ne!(
        arguments.hDevice, 0,
        "the kernel's output lands in the caller's struct"
    );

    let null: *mut abi::D3DKMT_CREATEDEVICE = std::ptr::null_mut();
    assert_eq!(
        d3dkmt::forward(&kernel, SyscallNumber::CreateDevice, null),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        kernel.calls.borrow().len(),
        1,
        "a null argument never reaches the kernel"
    );

    assert_eq!(
        d3dkmt::default_arg2(SyscallNumber::WaitForSynchronizationObjectFromCpu),
        u64::MAX
    );
    assert_eq!(d3dkmt::default_arg2(SyscallNumber::Lock2), 0);
    assert_eq!(d3dkmt::NOT_SUPPORTED.len(), 27);

    let handles = [1u32, 2];
    let mut shared = 0u64;
    let status = d3dkmt::share_objects(
        &kernel,
        2,
        handles.as_ptr(),
        std::ptr::null_mut(),
        7,
        &raw mut shared,
    );
    assert_eq!(status, STATUS_SUCCESS);
    let packed: abi::D3DKMT_SHAREOBJECTS = kernel.last(SyscallNumber::ShareObjectsInternal);
    assert_eq!(packed.ObjectCount, 2);
    assert_eq!(packed.DesiredAccess, 7);
    assert_eq!(packed.ObjectHandleArray, handles.as_ptr() as u64);
}

#[test]
fn syscall_numbers_are_stable() {
    // The kernel implements exactly these numbers (docs/d3dkmt.md).
    assert_eq!(SyscallNumber::EnumAdapters2 as u32, 0x14);
    assert_eq!(SyscallNumber::CreateDevice as u32, 0x02);
    assert_eq!(SyscallNumber::QueryAdapterInfo as u32, 0x09);
    assert_eq!(
        SyscallNumber::WaitForSynchronizationObjectFromCpu as u32,
        0x3a
    );
    assert_eq!(SyscallNumber::Exit as u32, 0x100);
    assert_eq!(SyscallNumber::WriteConsole as u32, 0x101);
    assert_eq!(SyscallNumber::GetFramebufferInfo as u32, 0x102);
    assert_eq!(SyscallNumber::MapFramebuffer as u32, 0x103);
    assert_eq!(SyscallNumber::Yield as u32, 0x104);
    assert_eq!(SyscallNumber::Sleep as u32, 0x105);
    assert_eq!(SyscallNumber::from_raw(0x46), None);
    assert_eq!(
        SyscallNumber::from_raw(0x45),
        Some(SyscallNumber::CreateSyncFile)
    );
    assert_eq!(SyscallNumber::Exit.argument_size(), None);
}

#[test]
fn native_off_target_says_not_supported() {
    let status = userlib::sys::call_d3dkmt(
        &userlib::sys::Native,
        SyscallNumber::CloseAdapter,
        &mut abi::D3DKMT_CLOSEADAPTER::default(),
        0,
    );
    assert_eq!(status, STATUS_NOT_SUPPORTED);
}

/// Issue 14: a GPU call whose adapter died answers STATUS_DEVICE_REMOVED (0xC00002B6); every
/// call of the safe API surfaces it as `D3dkmtError::DeviceRemoved` (the error an app
/// re-opens on), and the adapter opens again by LUID.
#[test]
fn a_removed_adapter_is_a_typed_error_on_every_call_and_opens_again_by_luid() {
    use SyscallNumber as N;
    assert_eq!(STATUS_DEVICE_REMOVED as u32, 0xC000_02B6);
    let kernel = FakeKernel::new(1);
    let mut adapters = Adapter::enumerate(&kernel).unwrap();
    let adapter = adapters.take(0).unwrap();
    drop(adapters);
    let luid = adapter.luid();
    {
        let device = adapter.create_device().unwrap();
        let context = device.create_context().unwrap();
        let fence = device.create_sync_object().unwrap();
        for number in [
            N::SubmitCommand,
            N::WaitForSynchronizationObjectFromCpu,
            N::QueryAdapterInfo,
            N::CreateAllocation2,
        ] {
            kernel
                .fail
                .borrow_mut()
                .insert(number, STATUS_DEVICE_REMOVED);
        }
        assert_eq!(
            context.submit(b"DRAW", (&fence, 7)).err(),
            Some(D3dkmtError::DeviceRemoved)
        );
        assert_eq!(
            fence.wait_cpu(1, Some(Duration::from_millis(10))).err(),
            Some(D3dkmtError::DeviceRemoved)
        );
        assert_eq!(
            adapter.adapter_type().err(),
            Some(D3dkmtError::DeviceRemoved)
        );
        assert_eq!(
            device.create_allocation(64).err(),
            Some(D3dkmtError::DeviceRemoved)
        );
    }
    drop(adapter);
    kernel.fail.borrow_mut().clear();
    // Re-open: enumerate, then OpenAdapterFromLuid with the same LUID.
    let again = Adapter::enumerate(&kernel).unwrap();
    assert_eq!(again.len(), 1);
    let reopened = Adapter::open(&kernel, luid).unwrap();
    let opened: abi::D3DKMT_OPENADAPTERFROMLUID = kernel.last(N::OpenAdapterFromLuid);
    assert_eq!(
        (opened.AdapterLuid.LowPart, opened.AdapterLuid.HighPart),
        (luid.LowPart, luid.HighPart)
    );
    assert_eq!(reopened.luid().LowPart, luid.LowPart);
}
