//! The `D3DKMT*` C entry points.
//!
//! Each D3DKMT entry point takes a pointer to its argument struct and forwards it to the kernel
//! with [`forward`] (call number, struct address, struct size). The symbols are exported
//! (`#[no_mangle]`, C ABI) only with the `c-abi` feature, so host test binaries export nothing;
//! the forwarding logic itself is plain Rust and tested on the host with a fake kernel.
//!
//! Entry points libdxg stubs out return `STATUS_NOT_SUPPORTED` here too;
//! `D3DKMTSetStablePowerState` succeeds without doing anything, as in libdxg.
//!
//! libdxg's v1 remapping wrappers ([`open_resource`], [`destroy_allocation`],
//! [`create_synchronization_object`], [`wait_for_synchronization_object`],
//! [`signal_synchronization_object`]) convert the v1 struct to the v2 one, make the v2 call and
//! copy the outputs back; [`close_dxcore_device`] does nothing (dxgos has no device file). They
//! take references (`None` = the C caller's null pointer); the exports turn pointers into them.

use crate::abi::{self, NTSTATUS, flags, status};
use crate::sys::{self, Syscall, SyscallNumber};

pub mod wide_strings;

/// Forwards one D3DKMT call: a null `argument` is `STATUS_INVALID_PARAMETER` without a syscall;
/// otherwise the struct's address and size go to the kernel and its NTSTATUS comes back.
pub fn forward<S: Syscall + ?Sized, T>(
    kernel: &S,
    number: SyscallNumber,
    argument: *mut T,
) -> NTSTATUS {
    if argument.is_null() {
        return status::STATUS_INVALID_PARAMETER;
    }
    sys::result_to_status(kernel.call(
        number,
        argument as u64,
        core::mem::size_of::<T>() as u64,
        default_arg2(number),
    ))
}

/// Argument 2 of a call made through the C API: the CPU wait blocks without a timeout (the
/// D3DKMT struct has no timeout field); every other call passes 0.
pub fn default_arg2(number: SyscallNumber) -> u64 {
    match number {
        SyscallNumber::WaitForSynchronizationObjectFromCpu => sys::TIMEOUT_INFINITE,
        _ => 0,
    }
}

/// `D3DKMTShareObjects(cObjects, hObjects, pObjectAttributes, dwDesiredAccess, phSharedNtHandle)`:
/// packs its arguments into `D3DKMT_SHAREOBJECTS` (as libdxg does) and forwards it.
pub fn share_objects<S: Syscall + ?Sized>(
    kernel: &S,
    object_count: u32,
    objects: *const abi::D3DKMT_HANDLE,
    object_attributes: *mut core::ffi::c_void,
    desired_access: u32,
    shared_nt_handle: *mut u64,
) -> NTSTATUS {
    let mut arguments = abi::D3DKMT_SHAREOBJECTS {
        ObjectCount: object_count,
        ObjectHandleArray: objects as u64,
        pObjectAttributes: object_attributes as u64,
        DesiredAccess: desired_access,
        phSharedNtHandle: shared_nt_handle as u64,
        ..Default::default()
    };
    forward(
        kernel,
        SyscallNumber::ShareObjectsInternal,
        &raw mut arguments,
    )
}

/// Allocations `D3DKMTOpenResource` converts in one call. libdxg converts up to 4 on the stack
/// and allocates for more; userlib has no allocator, so it converts up to this many on the stack
/// (80 bytes each) and refuses more with `STATUS_INVALID_PARAMETER`.
pub const OPEN_RESOURCE_MAX_ALLOCATIONS: usize = 64;

/// One of libdxg's v1 remapping wrappers: the v1 entry point and the v2 call it makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemappingWrapper {
    /// The exported C name.
    pub export: &'static str,
    /// Its (v1) argument struct.
    pub argument: &'static str,
    /// The C prototype takes a `const` pointer (the wrapper writes nothing back).
    pub constant: bool,
    /// The v2 call it forwards to.
    pub forwards_to: SyscallNumber,
}

/// libdxg's v1 remapping wrappers with an argument struct (for the C header and the tests).
pub static REMAPPING_WRAPPERS: &[RemappingWrapper] = &[
    RemappingWrapper {
        export: "D3DKMTOpenResource",
        argument: "D3DKMT_OPENRESOURCE",
        constant: false,
        forwards_to: SyscallNumber::OpenResource2,
    },
    RemappingWrapper {
        export: "D3DKMTDestroyAllocation",
        argument: "D3DKMT_DESTROYALLOCATION",
        constant: true,
        forwards_to: SyscallNumber::DestroyAllocation2,
    },
    RemappingWrapper {
        export: "D3DKMTCreateSynchronizationObject",
        argument: "D3DKMT_CREATESYNCHRONIZATIONOBJECT",
        constant: false,
        forwards_to: SyscallNumber::CreateSynchronizationObject2,
    },
    RemappingWrapper {
        export: "D3DKMTWaitForSynchronizationObject",
        argument: "D3DKMT_WAITFORSYNCHRONIZATIONOBJECT",
        constant: true,
        forwards_to: SyscallNumber::WaitForSynchronizationObject2,
    },
    RemappingWrapper {
        export: "D3DKMTSignalSynchronizationObject",
        argument: "D3DKMT_SIGNALSYNCHRONIZATIONOBJECT",
        constant: true,
        forwards_to: SyscallNumber::SignalSynchronizationObject2,
    },
];

/// `D3DKMTOpenResource`: `arguments.pOpenAllocationInfo2` holds a `D3DDDI_OPENALLOCATIONINFO`
/// array of `NumAllocations` entries, passed here as `allocations`. Each entry is widened to a
/// `D3DDDI_OPENALLOCATIONINFO2` (in a local array), `D3DKMTOpenResource2` is called with the
/// struct pointing at the local array, the kernel's outputs (`hResource`,
/// `TotalPrivateDriverDataBufferSize`) land in `arguments` with the caller's array pointer kept,
/// and on success each entry's `hAllocation` (and the rest of its v1 fields) is copied back, as
/// libdxg does.
///
/// `STATUS_INVALID_PARAMETER` without a syscall: no `arguments`; more than
/// [`OPEN_RESOURCE_MAX_ALLOCATIONS`] allocations; `allocations` missing while `NumAllocations`
/// is not 0, or not exactly `NumAllocations` long.
pub fn open_resource<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&mut abi::D3DKMT_OPENRESOURCE>,
    allocations: Option<&mut [abi::D3DDDI_OPENALLOCATIONINFO]>,
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    let count = arguments.NumAllocations as usize;
    if count > OPEN_RESOURCE_MAX_ALLOCATIONS {
        return status::STATUS_INVALID_PARAMETER;
    }
    let allocations = match allocations {
        Some(allocations) if allocations.len() == count => allocations,
        None if count == 0 => &mut [],
        _ => return status::STATUS_INVALID_PARAMETER,
    };
    let mut local = [abi::D3DDDI_OPENALLOCATIONINFO2::default(); OPEN_RESOURCE_MAX_ALLOCATIONS];
    for (wide, narrow) in local.iter_mut().zip(allocations.iter()) {
        wide.hAllocation = narrow.hAllocation;
        wide.pPrivateDriverData = narrow.pPrivateDriverData;
        wide.PrivateDriverDataSize = narrow.PrivateDriverDataSize;
    }
    let mut wide_arguments = abi::D3DKMT_OPENRESOURCE {
        pOpenAllocationInfo2: local.as_mut_ptr() as u64,
        ..*arguments
    };
    let result = forward(
        kernel,
        SyscallNumber::OpenResource2,
        &raw mut wide_arguments,
    );
    *arguments = abi::D3DKMT_OPENRESOURCE {
        pOpenAllocationInfo2: arguments.pOpenAllocationInfo2,
        ..wide_arguments
    };
    if status::nt_success(result) {
        for (narrow, wide) in allocations.iter_mut().zip(local.iter()) {
            narrow.hAllocation = wide.hAllocation;
            narrow.pPrivateDriverData = wide.pPrivateDriverData;
            narrow.PrivateDriverDataSize = wide.PrivateDriverDataSize;
        }
    }
    result
}

/// `D3DKMTDestroyAllocation`: `D3DKMTDestroyAllocation2` with the same device, resource and
/// allocation list, and no flags (the v1 struct has none; libdxg copies the v1 struct's tail
/// padding into `Flags`, which this does not imitate). `STATUS_INVALID_PARAMETER` without a
/// syscall for no `arguments` or more than `D3DKMT_CREATEALLOCATION_MAX` allocations.
pub fn destroy_allocation<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&abi::D3DKMT_DESTROYALLOCATION>,
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    if arguments.AllocationCount as usize > abi::D3DKMT_CREATEALLOCATION_MAX {
        return status::STATUS_INVALID_PARAMETER;
    }
    let mut wide = abi::D3DKMT_DESTROYALLOCATION2 {
        hDevice: arguments.hDevice,
        hResource: arguments.hResource,
        phAllocationList: arguments.phAllocationList,
        AllocationCount: arguments.AllocationCount,
        Flags: 0,
    };
    forward(kernel, SyscallNumber::DestroyAllocation2, &raw mut wide)
}

/// `D3DKMTCreateSynchronizationObject`: accepts only `D3DDDI_SYNCHRONIZATION_MUTEX` (initial
/// state) and `D3DDDI_SEMAPHORE` (maximum and initial count), as libdxg does; any other type is
/// `STATUS_INVALID_PARAMETER` without a syscall, as is no `arguments`. Calls
/// `D3DKMTCreateSynchronizationObject2` (no flags) and on success writes `hSyncObject` back.
pub fn create_synchronization_object<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&mut abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT>,
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    let info = &arguments.Info;
    // The v2 union starts at `InitialFenceValue`: the mutex's InitialState, or the semaphore's
    // MaxCount, is its low (first, little-endian) 32-bit word; InitialCount is the high word.
    let union_start = match info.Type {
        flags::D3DDDI_SYNCHRONIZATION_MUTEX => u64::from(info.MaxCount),
        flags::D3DDDI_SEMAPHORE => u64::from(info.MaxCount) | (u64::from(info.InitialCount) << 32),
        _ => return status::STATUS_INVALID_PARAMETER,
    };
    let mut wide = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: arguments.hDevice,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
            Type: info.Type,
            InitialFenceValue: union_start,
            ..Default::default()
        },
        ..Default::default()
    };
    let result = forward(
        kernel,
        SyscallNumber::CreateSynchronizationObject2,
        &raw mut wide,
    );
    if status::nt_success(result) {
        arguments.hSyncObject = wide.hSyncObject;
    }
    result
}

/// `D3DKMTWaitForSynchronizationObject`: `D3DKMTWaitForSynchronizationObject2` with the same
/// context, count and the first `ObjectCount` handles (fence value 0: v1 waits are for mutexes
/// and semaphores). `STATUS_INVALID_PARAMETER` without a syscall for no `arguments` or more than
/// `D3DDDI_MAX_OBJECT_WAITED_ON` objects (libdxg clamps the copy but passes the count on).
pub fn wait_for_synchronization_object<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT>,
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    let count = arguments.ObjectCount as usize;
    if count > abi::D3DDDI_MAX_OBJECT_WAITED_ON {
        return status::STATUS_INVALID_PARAMETER;
    }
    let mut wide = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
        hContext: arguments.hContext,
        ObjectCount: arguments.ObjectCount,
        ..Default::default()
    };
    wide.ObjectHandleArray[..count].copy_from_slice(&arguments.ObjectHandleArray[..count]);
    forward(
        kernel,
        SyscallNumber::WaitForSynchronizationObject2,
        &raw mut wide,
    )
}

/// `D3DKMTSignalSynchronizationObject`: `D3DKMTSignalSynchronizationObject2` with the same
/// context, count, first `ObjectCount` handles and flags (no broadcast contexts, fence value 0,
/// as libdxg). `STATUS_INVALID_PARAMETER` without a syscall for no `arguments` or more than
/// `D3DDDI_MAX_OBJECT_SIGNALED` objects.
pub fn signal_synchronization_object<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT>,
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    let count = arguments.ObjectCount as usize;
    if count > abi::D3DDDI_MAX_OBJECT_SIGNALED {
        return status::STATUS_INVALID_PARAMETER;
    }
    let mut wide = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
        hContext: arguments.hContext,
        ObjectCount: arguments.ObjectCount,
        Flags: arguments.Flags,
        ..Default::default()
    };
    wide.ObjectHandleArray[..count].copy_from_slice(&arguments.ObjectHandleArray[..count]);
    forward(
        kernel,
        SyscallNumber::SignalSynchronizationObject2,
        &raw mut wide,
    )
}

/// `D3DKMTCloseDxCoreDevice`: does nothing. libdxg closes its `/dev/dxg` file descriptor here;
/// a dxgos process reaches the GPU through system calls and has no device file, so there is
/// nothing to close (objects the process still holds go away when it exits, as in libdxg).
pub fn close_dxcore_device() {}

/// The exported symbols (`c-abi` feature). `#[no_mangle]` counts as unsafe code (it can clash
/// with other symbols); the names are the `d3dkmthk.h` ones and nothing else in a dxgos
/// application defines them.
#[cfg(feature = "c-abi")]
#[allow(unsafe_code, clippy::missing_safety_doc)]
pub mod exports {
    use super::forward;
    use crate::abi::{self, NTSTATUS, status};
    use crate::calls::{for_each_d3dkmt_call, for_each_not_supported};
    use crate::sys::{Native, SyscallNumber, process};

    /// One forwarding export; `D3DKMTQueryAdapterInfo` is written by hand below (it converts
    /// UTF-16 strings for `wchar_t` callers).
    macro_rules! define_export {
        (QueryAdapterInfo, $export:ident, $argument:ident) => {};
        ($variant:ident, $export:ident, $argument:ident) => {
            #[doc = concat!("`", stringify!($export), "`: forwards to the kernel.")]
            #[unsafe(no_mangle)]
            pub extern "C" fn $export(arguments: *mut abi::$argument) -> NTSTATUS {
                forward(&Native, SyscallNumber::$variant, arguments)
            }
        };
    }

    macro_rules! define_exports {
        ($( $variant:ident = $number:literal => $export:ident($argument:ident), )*) => {
            $( define_export!($variant, $export, $argument); )*
        };
    }
    for_each_d3dkmt_call!(define_exports);

    /// `D3DKMTQueryAdapterInfo`: see [`super::wide_strings::query_adapter_info`].
    ///
    /// # Safety
    /// `arguments` is null or a valid `D3DKMT_QUERYADAPTERINFO` whose `pPrivateDriverData` points
    /// at `PrivateDriverDataSize` writable bytes not overlapping it.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTQueryAdapterInfo(
        arguments: *const abi::D3DKMT_QUERYADAPTERINFO,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid D3DKMT_QUERYADAPTERINFO.
        let arguments = unsafe { arguments.as_ref() };
        let buffer = arguments.map_or(0, |arguments| arguments.pPrivateDriverData);
        super::wide_strings::query_adapter_info(&Native, arguments, |layout| {
            let buffer = buffer as *mut u8;
            if buffer.is_null() {
                return;
            }
            // SAFETY: the caller's result buffer of `PrivateDriverDataSize` bytes, which the
            // layout's `wide_size` equals (checked by `wide_layout`); the kernel's write to it
            // has completed, and no other reference to it is live.
            let buffer = unsafe { core::slice::from_raw_parts_mut(buffer, layout.wide_size()) };
            super::wide_strings::widen_in_place(layout, buffer);
        })
    }

    macro_rules! define_not_supported {
        ($( $export:ident, )*) => {
            $(
                #[doc = concat!("`", stringify!($export), "`: not supported (as in libdxg).")]
                #[unsafe(no_mangle)]
                pub extern "C" fn $export(_arguments: *mut core::ffi::c_void) -> NTSTATUS {
                    status::STATUS_NOT_SUPPORTED
                }
            )*
        };
    }
    for_each_not_supported!(define_not_supported);

    /// `D3DKMTSetStablePowerState`: succeeds and does nothing (as in libdxg).
    #[unsafe(no_mangle)]
    pub extern "C" fn D3DKMTSetStablePowerState(_arguments: *const core::ffi::c_void) -> NTSTATUS {
        status::STATUS_SUCCESS
    }

    /// `D3DKMTOpenResource`: see [`super::open_resource`].
    ///
    /// # Safety
    /// `arguments` is null or a valid, exclusive `D3DKMT_OPENRESOURCE` whose
    /// `pOpenAllocationInfo2` is null or points at `NumAllocations` writable
    /// `D3DDDI_OPENALLOCATIONINFO`s.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTOpenResource(
        arguments: *mut abi::D3DKMT_OPENRESOURCE,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid, exclusive D3DKMT_OPENRESOURCE.
        let Some(arguments) = (unsafe { arguments.as_mut() }) else {
            return status::STATUS_INVALID_PARAMETER;
        };
        let count = arguments.NumAllocations as usize;
        let array = arguments.pOpenAllocationInfo2 as *mut abi::D3DDDI_OPENALLOCATIONINFO;
        let allocations = if array.is_null()
            || !array.is_aligned()
            || count == 0
            || count > super::OPEN_RESOURCE_MAX_ALLOCATIONS
        {
            None
        } else {
            // SAFETY: the C caller's `pOpenAllocationInfo` array of `NumAllocations` entries
            // (non-null, aligned, bounded), not overlapping the argument struct.
            Some(unsafe { core::slice::from_raw_parts_mut(array, count) })
        };
        super::open_resource(&Native, Some(arguments), allocations)
    }

    /// `D3DKMTDestroyAllocation`: see [`super::destroy_allocation`].
    ///
    /// # Safety
    /// `arguments` is null or a valid `D3DKMT_DESTROYALLOCATION`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTDestroyAllocation(
        arguments: *const abi::D3DKMT_DESTROYALLOCATION,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid D3DKMT_DESTROYALLOCATION.
        super::destroy_allocation(&Native, unsafe { arguments.as_ref() })
    }

    /// `D3DKMTCreateSynchronizationObject`: see [`super::create_synchronization_object`].
    ///
    /// # Safety
    /// `arguments` is null or a valid, exclusive `D3DKMT_CREATESYNCHRONIZATIONOBJECT`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTCreateSynchronizationObject(
        arguments: *mut abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid, exclusive struct.
        super::create_synchronization_object(&Native, unsafe { arguments.as_mut() })
    }

    /// `D3DKMTWaitForSynchronizationObject`: see [`super::wait_for_synchronization_object`].
    ///
    /// # Safety
    /// `arguments` is null or a valid `D3DKMT_WAITFORSYNCHRONIZATIONOBJECT`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTWaitForSynchronizationObject(
        arguments: *const abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECT,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid struct.
        super::wait_for_synchronization_object(&Native, unsafe { arguments.as_ref() })
    }

    /// `D3DKMTSignalSynchronizationObject`: see [`super::signal_synchronization_object`].
    ///
    /// # Safety
    /// `arguments` is null or a valid `D3DKMT_SIGNALSYNCHRONIZATIONOBJECT`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn D3DKMTSignalSynchronizationObject(
        arguments: *const abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECT,
    ) -> NTSTATUS {
        // SAFETY: the C caller passes null or a valid struct.
        super::signal_synchronization_object(&Native, unsafe { arguments.as_ref() })
    }

    /// `D3DKMTCloseDxCoreDevice`: does nothing (see [`super::close_dxcore_device`]).
    #[unsafe(no_mangle)]
    pub extern "C" fn D3DKMTCloseDxCoreDevice() {
        super::close_dxcore_device();
    }

    /// `D3DKMTShareObjects`.
    #[unsafe(no_mangle)]
    pub extern "C" fn D3DKMTShareObjects(
        object_count: u32,
        objects: *const abi::D3DKMT_HANDLE,
        object_attributes: *mut core::ffi::c_void,
        desired_access: u32,
        shared_nt_handle: *mut u64,
    ) -> NTSTATUS {
        super::share_objects(
            &Native,
            object_count,
            objects,
            object_attributes,
            desired_access,
            shared_nt_handle,
        )
    }

    /// `dxgos_exit(code)`: ends the process.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_exit(code: i32) {
        process::exit(&Native, code);
    }

    /// `dxgos_write_console(text, length)`: bytes written or a negative NTSTATUS.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_write_console(text: *const u8, length: u64) -> i64 {
        use crate::sys::Syscall;
        Native.call(SyscallNumber::WriteConsole, text as u64, length, 0)
    }

    /// `dxgos_get_framebuffer_info(info)`.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_get_framebuffer_info(
        info: *mut abi::DXGOS_FRAMEBUFFER_INFO,
    ) -> NTSTATUS {
        forward(&Native, SyscallNumber::GetFramebufferInfo, info)
    }

    /// `dxgos_map_framebuffer(info)`.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_map_framebuffer(info: *mut abi::DXGOS_FRAMEBUFFER_INFO) -> NTSTATUS {
        forward(&Native, SyscallNumber::MapFramebuffer, info)
    }

    /// `dxgos_yield()`.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_yield() {
        process::yield_now(&Native);
    }

    /// `dxgos_sleep(microseconds)`.
    #[unsafe(no_mangle)]
    pub extern "C" fn dxgos_sleep(microseconds: u64) {
        process::sleep(&Native, microseconds);
    }
}

macro_rules! define_not_supported_list {
    ($( $export:ident, )*) => {
        /// The entry points answered with `STATUS_NOT_SUPPORTED` (libdxg's stubs).
        pub static NOT_SUPPORTED: &[&str] = &[ $( stringify!($export), )* ];
    };
}
crate::calls::for_each_not_supported!(define_not_supported_list);
