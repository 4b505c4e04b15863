//! libdxg's v1 remapping wrappers against a fake kernel: each one makes the right v2 call with
//! the converted fields, copies the outputs back, and refuses bad arguments without a syscall.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use userlib::abi::{self, flags, status::*};
use userlib::d3dkmt;
use userlib::sys::{Syscall, SyscallNumber};
use zerocopy::{FromBytes, IntoBytes};

/// Copies `length` bytes from a user address.
fn read_user(address: u64, length: usize) -> Vec<u8> {
    // SAFETY: test-only; every address is a live struct or array userlib passed with its size.
    unsafe { std::slice::from_raw_parts(address as *const u8, length).to_vec() }
}

/// Copies bytes to a user address.
fn write_user(address: u64, bytes: &[u8]) {
    // SAFETY: as `read_user`: a live, writable buffer of at least `bytes.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) }
}

/// One system call as the kernel saw it.
struct Seen {
    number: SyscallNumber,
    arguments: Vec<u8>,
    /// The `D3DDDI_OPENALLOCATIONINFO2` array of an OpenResource2 call.
    open_allocations: Vec<abi::D3DDDI_OPENALLOCATIONINFO2>,
}

/// Answers every call with `status`; on success fills in the outputs like the real kernel.
struct FakeKernel {
    seen: RefCell<Vec<Seen>>,
    status: Cell<i32>,
}

impl FakeKernel {
    fn new() -> Self {
        Self {
            seen: RefCell::new(Vec::new()),
            status: Cell::new(STATUS_SUCCESS),
        }
    }

    fn count(&self) -> usize {
        self.seen.borrow().len()
    }

    /// The only call made so far, as (number, argument struct).
    fn only<T: FromBytes>(&self) -> (SyscallNumber, T) {
        let seen = self.seen.borrow();
        assert_eq!(seen.len(), 1, "exactly one system call");
        (
            seen[0].number,
            T::read_from_bytes(&seen[0].arguments).unwrap(),
        )
    }
}

// SAFETY: the fake reads and writes only the structs and arrays userlib passes; it never serves
// Lock2 and leaves CreateSynchronizationObject2's CPU fence address as the caller passed it, so
// it hands out no mapping.
unsafe impl Syscall for FakeKernel {
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, arg2: u64) -> i64 {
        let size = number.argument_size().expect("a D3DKMT call");
        assert_eq!(arg1 as usize, size, "{number:?}: rsi is the v2 struct size");
        assert_eq!(arg2, 0);
        let arguments = read_user(arg0, size);
        let mut open_allocations = Vec::new();
        let status = self.status.get();
        match number {
            SyscallNumber::OpenResource2 => {
                let mut open = abi::D3DKMT_OPENRESOURCE::read_from_bytes(&arguments).unwrap();
                for index in 0..open.NumAllocations as usize {
                    let address = open.pOpenAllocationInfo2 + index as u64 * 80;
                    let mut info =
                        abi::D3DDDI_OPENALLOCATIONINFO2::read_from_bytes(&read_user(address, 80))
                            .unwrap();
                    open_allocations.push(info);
                    if nt_success(status) {
                        info.hAllocation = 0x1000 + index as u32;
                        info.GpuVirtualAddress = 0x8000_0000 + index as u64;
                        write_user(address, info.as_bytes());
                    }
                }
                if nt_success(status) {
                    open.hResource = 0x77;
                    open.TotalPrivateDriverDataBufferSize = 48;
                    write_user(arg0, open.as_bytes());
                }
            }
            SyscallNumber::CreateSynchronizationObject2 if nt_success(status) => {
                let mut create =
                    abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2::read_from_bytes(&arguments).unwrap();
                create.hSyncObject = 0x55;
                write_user(arg0, create.as_bytes());
            }
            _ => {}
        }
        self.seen.borrow_mut().push(Seen {
            number,
            arguments,
            open_allocations,
        });
        i64::from(status)
    }
}

#[test]
fn the_table_names_the_v2_calls() {
    let table: Vec<_> = d3dkmt::REMAPPING_WRAPPERS
        .iter()
        .map(|wrapper| (wrapper.export, wrapper.forwards_to as u32))
        .collect();
    assert_eq!(
        table,
        [
            ("D3DKMTOpenResource", 0x28),
            ("D3DKMTDestroyAllocation", 0x13),
            ("D3DKMTCreateSynchronizationObject", 0x10),
            ("D3DKMTWaitForSynchronizationObject", 0x12),
            ("D3DKMTSignalSynchronizationObject", 0x11),
        ]
    );
    for wrapper in d3dkmt::REMAPPING_WRAPPERS {
        assert!(
            abi::layout(wrapper.argument).is_some(),
            "{}",
            wrapper.argument
        );
    }
}

#[test]
fn open_resource_widens_the_allocations_and_copies_the_handles_back() {
    let kernel = FakeKernel::new();
    let private = [0u8; 16];
    let mut allocations = [
        abi::D3DDDI_OPENALLOCATIONINFO {
            pPrivateDriverData: private.as_ptr() as u64,
            PrivateDriverDataSize: 16,
            ..Default::default()
        },
        abi::D3DDDI_OPENALLOCATIONINFO {
            pPrivateDriverData: private.as_ptr() as u64 + 8,
            PrivateDriverDataSize: 8,
            ..Default::default()
        },
    ];
    let caller_array = allocations.as_mut_ptr() as u64;
    let mut arguments = abi::D3DKMT_OPENRESOURCE {
        hDevice: 3,
        hGlobalShare: 9,
        NumAllocations: 2,
        pOpenAllocationInfo2: caller_array,
        PrivateRuntimeDataSize: 4,
        ..Default::default()
    };
    let status = d3dkmt::open_resource(&kernel, Some(&mut arguments), Some(&mut allocations));
    assert_eq!(status, STATUS_SUCCESS);

    let (number, sent): (_, abi::D3DKMT_OPENRESOURCE) = kernel.only();
    assert_eq!(number, SyscallNumber::OpenResource2);
    assert_eq!(
        (
            sent.hDevice,
            sent.hGlobalShare,
            sent.NumAllocations,
            sent.PrivateRuntimeDataSize
        ),
        (3, 9, 2, 4)
    );
    assert_ne!(
        sent.pOpenAllocationInfo2, caller_array,
        "the kernel gets the widened copy"
    );
    let widened = &kernel.seen.borrow()[0].open_allocations;
    assert_eq!(widened.len(), 2);
    assert_eq!(widened[0].pPrivateDriverData, private.as_ptr() as u64);
    assert_eq!(widened[0].PrivateDriverDataSize, 16);
    assert_eq!(widened[1].pPrivateDriverData, private.as_ptr() as u64 + 8);
    assert_eq!(widened[1].PrivateDriverDataSize, 8);

    // Outputs: the struct's from the kernel, the caller's array pointer kept, the handles copied.
    assert_eq!(arguments.hResource, 0x77);
    assert_eq!(arguments.TotalPrivateDriverDataBufferSize, 48);
    assert_eq!(arguments.pOpenAllocationInfo2, caller_array);
    assert_eq!(allocations[0].hAllocation, 0x1000);
    assert_eq!(allocations[1].hAllocation, 0x1001);
    assert_eq!(
        allocations[1].pPrivateDriverData,
        private.as_ptr() as u64 + 8
    );
}

#[test]
fn open_resource_failure_leaves_the_allocations_alone() {
    let kernel = FakeKernel::new();
    kernel.status.set(STATUS_NOT_SUPPORTED);
    let mut allocations = [abi::D3DDDI_OPENALLOCATIONINFO {
        hAllocation: 0xAAAA,
        ..Default::default()
    }];
    let mut arguments = abi::D3DKMT_OPENRESOURCE {
        NumAllocations: 1,
        pOpenAllocationInfo2: allocations.as_mut_ptr() as u64,
        ..Default::default()
    };
    let status = d3dkmt::open_resource(&kernel, Some(&mut arguments), Some(&mut allocations));
    assert_eq!(status, STATUS_NOT_SUPPORTED);
    assert_eq!(kernel.count(), 1);
    assert_eq!(allocations[0].hAllocation, 0xAAAA);
    assert_eq!(arguments.pOpenAllocationInfo2, allocations.as_ptr() as u64);
}

#[test]
fn open_resource_refuses_bad_arguments_without_a_syscall() {
    let kernel = FakeKernel::new();
    assert_eq!(
        d3dkmt::open_resource(&kernel, None, None),
        STATUS_INVALID_PARAMETER
    );

    let mut allocations = vec![abi::D3DDDI_OPENALLOCATIONINFO::default(); 65];
    let mut too_many = abi::D3DKMT_OPENRESOURCE {
        NumAllocations: 65,
        ..Default::default()
    };
    assert_eq!(d3dkmt::OPEN_RESOURCE_MAX_ALLOCATIONS, 64);
    assert_eq!(
        d3dkmt::open_resource(&kernel, Some(&mut too_many), Some(&mut allocations)),
        STATUS_INVALID_PARAMETER
    );

    // A count without an array (the C caller's null pointer), or an array of another length.
    let mut two = abi::D3DKMT_OPENRESOURCE {
        NumAllocations: 2,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::open_resource(&kernel, Some(&mut two), None),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        d3dkmt::open_resource(&kernel, Some(&mut two), Some(&mut allocations[..1])),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(kernel.count(), 0);

    // No allocations at all goes to the kernel (which decides), as in libdxg.
    let mut none = abi::D3DKMT_OPENRESOURCE::default();
    assert_eq!(
        d3dkmt::open_resource(&kernel, Some(&mut none), None),
        STATUS_SUCCESS
    );
    assert_eq!(kernel.count(), 1);
}

#[test]
fn destroy_allocation_becomes_destroy_allocation2_without_flags() {
    let kernel = FakeKernel::new();
    let handles = [0x40u32, 0x41, 0x42];
    let arguments = abi::D3DKMT_DESTROYALLOCATION {
        hDevice: 7,
        hResource: 8,
        phAllocationList: handles.as_ptr() as u64,
        AllocationCount: 3,
        _Padding0: 0xFFFF_FFFF,
    };
    assert_eq!(
        d3dkmt::destroy_allocation(&kernel, Some(&arguments)),
        STATUS_SUCCESS
    );
    let (number, sent): (_, abi::D3DKMT_DESTROYALLOCATION2) = kernel.only();
    assert_eq!(number, SyscallNumber::DestroyAllocation2);
    assert_eq!(
        sent,
        abi::D3DKMT_DESTROYALLOCATION2 {
            hDevice: 7,
            hResource: 8,
            phAllocationList: handles.as_ptr() as u64,
            AllocationCount: 3,
            Flags: 0,
        }
    );
}

#[test]
fn destroy_allocation_refuses_bad_arguments_without_a_syscall() {
    let kernel = FakeKernel::new();
    assert_eq!(
        d3dkmt::destroy_allocation(&kernel, None),
        STATUS_INVALID_PARAMETER
    );
    let too_many = abi::D3DKMT_DESTROYALLOCATION {
        AllocationCount: 1025,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::destroy_allocation(&kernel, Some(&too_many)),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(kernel.count(), 0);
}

#[test]
fn create_synchronization_object_converts_mutexes_and_semaphores() {
    let kernel = FakeKernel::new();
    let mut semaphore = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT {
        hDevice: 4,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO {
            Type: flags::D3DDDI_SEMAPHORE,
            MaxCount: 10,
            InitialCount: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::create_synchronization_object(&kernel, Some(&mut semaphore)),
        STATUS_SUCCESS
    );
    let (number, sent): (_, abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2) = kernel.only();
    assert_eq!(number, SyscallNumber::CreateSynchronizationObject2);
    assert_eq!(sent.hDevice, 4);
    assert_eq!(sent.Info.Type, flags::D3DDDI_SEMAPHORE);
    assert_eq!(sent.Info.Flags, 0);
    // The v2 union at offset 8 of the info: Semaphore.MaxCount, then Semaphore.InitialCount.
    let info = sent.Info.as_bytes();
    assert_eq!(&info[8..12], &10u32.to_le_bytes());
    assert_eq!(&info[12..16], &3u32.to_le_bytes());
    assert!(info[16..].iter().all(|&byte| byte == 0));
    assert_eq!(semaphore.hSyncObject, 0x55, "the handle is written back");

    let kernel = FakeKernel::new();
    let mut mutex = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT {
        hDevice: 4,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO {
            Type: flags::D3DDDI_SYNCHRONIZATION_MUTEX,
            MaxCount: 1, // SynchronizationMutex.InitialState = TRUE
            InitialCount: 99,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::create_synchronization_object(&kernel, Some(&mut mutex)),
        STATUS_SUCCESS
    );
    let (_, sent): (_, abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2) = kernel.only();
    assert_eq!(sent.Info.Type, flags::D3DDDI_SYNCHRONIZATION_MUTEX);
    assert_eq!(
        sent.Info.InitialFenceValue, 1,
        "only InitialState crosses for a mutex"
    );
    assert_eq!(mutex.hSyncObject, 0x55);
}

#[test]
fn create_synchronization_object_failure_writes_no_handle() {
    let kernel = FakeKernel::new();
    kernel.status.set(STATUS_INVALID_HANDLE);
    let mut semaphore = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT {
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO {
            Type: flags::D3DDDI_SEMAPHORE,
            MaxCount: 1,
            ..Default::default()
        },
        hSyncObject: 0xDEAD,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::create_synchronization_object(&kernel, Some(&mut semaphore)),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(semaphore.hSyncObject, 0xDEAD);
}

#[test]
fn create_synchronization_object_refuses_other_types_without_a_syscall() {
    let kernel = FakeKernel::new();
    assert_eq!(
        d3dkmt::create_synchronization_object(&kernel, None),
        STATUS_INVALID_PARAMETER
    );
    for kind in [
        0,
        flags::D3DDDI_FENCE,
        flags::D3DDDI_CPU_NOTIFICATION,
        flags::D3DDDI_MONITORED_FENCE,
        flags::D3DDDI_PERIODIC_MONITORED_FENCE,
        7,
    ] {
        let mut arguments = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT {
            Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO {
                Type: kind,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            d3dkmt::create_synchronization_object(&kernel, Some(&mut arguments)),
            STATUS_INVALID_PARAMETER,
            "type {kind}"
        );
    }
    assert_eq!(kernel.count(), 0);
}

#[test]
fn wait_for_synchronization_object_becomes_the_v2_wait() {
    let kernel = FakeKernel::new();
    let mut arguments = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT {
        hContext: 0x21,
        ObjectCount: 2,
        ..Default::default()
    };
    arguments.ObjectHandleArray[..3].copy_from_slice(&[0x31, 0x32, 0x99]);
    assert_eq!(
        d3dkmt::wait_for_synchronization_object(&kernel, Some(&arguments)),
        STATUS_SUCCESS
    );
    let (number, sent): (_, abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2) = kernel.only();
    assert_eq!(number, SyscallNumber::WaitForSynchronizationObject2);
    assert_eq!((sent.hContext, sent.ObjectCount), (0x21, 2));
    assert_eq!(
        &sent.ObjectHandleArray[..3],
        &[0x31, 0x32, 0],
        "only ObjectCount handles"
    );
    assert_eq!(sent.FenceValue, 0);
    assert_eq!(sent.Reserved, [0; 7]);
}

#[test]
fn signal_synchronization_object_becomes_the_v2_signal() {
    let kernel = FakeKernel::new();
    let mut arguments = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT {
        hContext: 0x22,
        ObjectCount: 32,
        Flags: flags::D3DDDICB_SIGNALFLAGS_SIGNAL_AT_SUBMISSION,
        ..Default::default()
    };
    for (index, handle) in arguments.ObjectHandleArray.iter_mut().enumerate() {
        *handle = 0x100 + index as u32;
    }
    assert_eq!(
        d3dkmt::signal_synchronization_object(&kernel, Some(&arguments)),
        STATUS_SUCCESS
    );
    let (number, sent): (_, abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2) = kernel.only();
    assert_eq!(number, SyscallNumber::SignalSynchronizationObject2);
    assert_eq!((sent.hContext, sent.ObjectCount), (0x22, 32));
    assert_eq!(sent.ObjectHandleArray, arguments.ObjectHandleArray);
    assert_eq!(sent.Flags, flags::D3DDDICB_SIGNALFLAGS_SIGNAL_AT_SUBMISSION);
    assert_eq!(sent.BroadcastContextCount, 0);
    assert_eq!(sent.BroadcastContext, [0; 64]);
    assert_eq!(sent.FenceValue, 0);
}

#[test]
fn waits_and_signals_refuse_bad_arguments_without_a_syscall() {
    let kernel = FakeKernel::new();
    assert_eq!(
        d3dkmt::wait_for_synchronization_object(&kernel, None),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(
        d3dkmt::signal_synchronization_object(&kernel, None),
        STATUS_INVALID_PARAMETER
    );
    let wait = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT {
        ObjectCount: 33,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::wait_for_synchronization_object(&kernel, Some(&wait)),
        STATUS_INVALID_PARAMETER
    );
    let signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT {
        ObjectCount: u32::MAX,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::signal_synchronization_object(&kernel, Some(&signal)),
        STATUS_INVALID_PARAMETER
    );
    assert_eq!(kernel.count(), 0);
}

#[test]
fn kernel_status_comes_back_unchanged() {
    let kernel = FakeKernel::new();
    kernel.status.set(STATUS_TIMEOUT);
    let wait = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT {
        ObjectCount: 1,
        ..Default::default()
    };
    assert_eq!(
        d3dkmt::wait_for_synchronization_object(&kernel, Some(&wait)),
        STATUS_TIMEOUT
    );
    kernel.status.set(STATUS_INVALID_HANDLE);
    let destroy = abi::D3DKMT_DESTROYALLOCATION::default();
    assert_eq!(
        d3dkmt::destroy_allocation(&kernel, Some(&destroy)),
        STATUS_INVALID_HANDLE
    );
}

#[test]
fn close_dxcore_device_does_nothing() {
    // No kernel to talk to: it cannot make a call, and calling it twice is fine.
    d3dkmt::close_dxcore_device();
    d3dkmt::close_dxcore_device();
}
