//! The `D3DKMT*` C entry points.
//!
//! Each D3DKMT entry point takes a pointer to its argument struct and forwards it to the kernel
//! with [`forward`] (call number, struct address, struct size). The symbols are exported
//! (`#[no_mangle]`, C ABI) only with the `c-abi` feature, so host test binaries export nothing;
//! the forwarding logic itself is plain Rust and tested on the host with a fake kernel.
//!
//! Entry points libdxg stubs out return `STATUS_NOT_SUPPORTED` here too;
//! `D3DKMTSetStablePowerState` succeeds without doing anything, as in libdxg.

use crate::abi::{self, NTSTATUS, status};
use crate::sys::{self, Syscall, SyscallNumber};

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

    macro_rules! define_exports {
        ($( $variant:ident = $number:literal => $export:ident($argument:ident), )*) => {
            $(
                #[doc = concat!("`", stringify!($export), "`: forwards to the kernel.")]
                #[unsafe(no_mangle)]
                pub extern "C" fn $export(arguments: *mut abi::$argument) -> NTSTATUS {
                    forward(&Native, SyscallNumber::$variant, arguments)
                }
            )*
        };
    }
    for_each_d3dkmt_call!(define_exports);

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
