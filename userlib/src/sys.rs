//! The syscall ABI between applications and the dxgos kernel.
//!
//! Convention (x86-64 `syscall` instruction; see `docs/d3dkmt.md`):
//!
//! | register | in | out |
//! |---|---|---|
//! | `rax` | [`DXGOS_SYSCALL_BASE`] + call number ([`SyscallNumber`]) | result: NTSTATUS sign-extended to 64 bits (or a count, see the call) |
//! | `rdi` | argument 0: for D3DKMT calls the user address of the argument struct | — |
//! | `rsi` | argument 1: for D3DKMT calls `sizeof` that struct | — |
//! | `rdx` | argument 2: call-specific (the CPU-wait timeout; otherwise 0) | — |
//! | `rcx`, `r11` | — | clobbered by `syscall`/`sysret` |
//!
//! All other registers are preserved. The kernel copies the struct in, checks the size against
//! the table (`STATUS_INFO_LENGTH_MISMATCH` otherwise), serves the call and copies the struct
//! back out; nested pointers are user addresses the kernel validates before use.
//!
//! The [`Syscall`] trait is the only way the layers above reach the kernel, so host tests run them
//! against a fake kernel; [`Native`] is the real instruction.

use crate::abi::{self, NTSTATUS};
use crate::calls::for_each_d3dkmt_call;

/// The kernel entry: one system call with up to three arguments.
///
/// The safe API ([`crate::gpu`]) trusts what an implementation writes back: it builds a slice
/// over the `pData` of a successful `Lock2` and reads the fence value at the
/// `FenceValueCPUVirtualAddress` of a successful `CreateSynchronizationObject2`. So the trait is
/// `unsafe` to implement.
///
/// # Safety
///
/// An implementation must behave like the dxgos kernel (`docs/d3dkmt.md`) in everything that
/// touches this process's memory:
/// - it reads and writes user memory only through the addresses it is given, within the sizes
///   the call defines (the argument struct at `arg0` of `arg1` bytes, and the arrays and buffers
///   that struct names with their counts);
/// - when `Lock2` returns success with a non-zero `pData`, `pData` is the start of a mapping of
///   the allocation's whole size (as created), readable and writable, aligned for bytes, that
///   nothing else in the process aliases and that stays valid until the matching `Unlock2`
///   (or the allocation's destruction) is issued through this implementation;
/// - when `CreateSynchronizationObject2` returns success with a non-zero, 8-byte aligned
///   `FenceValueCPUVirtualAddress`, that address is readable as a `u64` (volatile reads) until
///   `DestroySynchronizationObject` for the object is issued through this implementation;
///
/// A fake kernel for tests meets this by returning addresses of buffers it owns and keeps
/// alive (or null). A safe `impl` does not compile:
///
/// ```compile_fail,E0200
/// use userlib::sys::{Syscall, SyscallNumber};
/// struct AnyAddress;
/// impl Syscall for AnyAddress {
///     fn call(&self, _: SyscallNumber, _: u64, _: u64, _: u64) -> i64 {
///         0
///     }
/// }
/// ```
#[allow(unsafe_code)]
pub unsafe trait Syscall {
    /// Performs call `number` with `arg0`…`arg2` (`rdi`, `rsi`, `rdx`) and returns `rax`.
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, arg2: u64) -> i64;
}

// SAFETY: forwards every call unchanged to `S`, which meets the contract.
#[allow(unsafe_code)]
unsafe impl<S: Syscall + ?Sized> Syscall for &S {
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, arg2: u64) -> i64 {
        (**self).call(number, arg0, arg1, arg2)
    }
}

/// Added to every [`SyscallNumber`] in `rax`: dxgos calls live above every Linux x86-64
/// syscall number (all below 0x200, plus the x32 bit 0x4000_0000, which this value lacks), so
/// the kernel also serves the Linux numbers a static C library (musl) uses for the same
/// process (docs/d3dkmt.md, "Process runtime"). [`Native`] and [`raw_syscall`] add it.
pub const DXGOS_SYSCALL_BASE: u64 = 0x1000_0000;

/// The timeout value meaning "wait forever" (argument 2 of the CPU wait).
pub const TIMEOUT_INFINITE: u64 = u64::MAX;

/// One D3DKMT call of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct D3dkmtCall {
    /// Its syscall number.
    pub number: SyscallNumber,
    /// The exported C function name.
    pub export: &'static str,
    /// The argument struct's name.
    pub argument: &'static str,
    /// The argument struct's size (the value the kernel expects in `rsi`).
    pub argument_size: usize,
}

/// [`SyscallNumber::GetTime`]: nanoseconds since boot; never jumps.
pub const CLOCK_MONOTONIC: u64 = 0;
/// [`SyscallNumber::GetTime`]: nanoseconds since 1970-01-01 UTC (from the host's time sync).
pub const CLOCK_WALL: u64 = 1;
/// [`SyscallNumber::GetTime`]: TSC cycles this processor has spent since boot halted or inside
/// the hypervisor interface (the host's time, not the guest's; the kernel's `host_time`
/// module). Benchmarks subtract it to report a host round trip's guest-side cost.
pub const CLOCK_HOST_CYCLES: u64 = 2;

macro_rules! define_numbers {
    ($( $variant:ident = $number:literal => $export:ident($argument:ident), )*) => {
        /// Syscall numbers. D3DKMT calls use the Linux dxgkrnl ioctl number of the same operation
        /// (0x01…0x45); dxgos process calls start at 0x100.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum SyscallNumber {
            $(
                #[doc = concat!("`", stringify!($export), "(", stringify!($argument), "*)`.")]
                $variant = $number,
            )*
            /// End the process: `rdi` = exit code. Does not return.
            Exit = 0x100,
            /// Write UTF-8 text to the console: `rdi` = address, `rsi` = length.
            /// Returns the number of bytes written, or a negative NTSTATUS.
            WriteConsole = 0x101,
            /// Describe the demo framebuffer: `rdi` = `DXGOS_FRAMEBUFFER_INFO*`, `rsi` = its size.
            /// `Address` comes back 0. Returns NTSTATUS (`STATUS_NOT_SUPPORTED` without one).
            GetFramebufferInfo = 0x102,
            /// Map the demo framebuffer into the process (idempotent): as `GetFramebufferInfo`,
            /// with `Address` the user address of the mapping.
            MapFramebuffer = 0x103,
            /// Unmap the framebuffer view `MapFramebuffer` made (a no-op when it is not
            /// mapped): later accesses through the old address fault, and the kernel refuses it
            /// as memory. Returns NTSTATUS (`STATUS_NOT_SUPPORTED` without a framebuffer grant).
            UnmapFramebuffer = 0x107,
            /// Give up the rest of the time slice. Returns `STATUS_SUCCESS`.
            Yield = 0x104,
            /// Sleep for at least `rdi` microseconds. Returns `STATUS_SUCCESS`.
            Sleep = 0x105,
            /// Read a clock: `rdi` = [`CLOCK_MONOTONIC`] (nanoseconds since boot, never jumps)
            /// or [`CLOCK_WALL`] (nanoseconds since 1970-01-01 UTC, set from the host's time
            /// sync) or [`CLOCK_HOST_CYCLES`] (TSC cycles of host time, for benchmarks).
            /// Returns the value, `STATUS_NOT_SUPPORTED` while the wall clock is unset,
            /// `STATUS_INVALID_PARAMETER` for another clock.
            GetTime = 0x106,
            /// How many dxg objects the calling process holds (devices, contexts, allocations,
            /// resources, sync objects, paging and hardware queues, and one per open adapter
            /// reference): the count in `rax`, or a negative NTSTATUS. A debug query: leak checks.
            DxgObjectCount = 0x110,
            /// How many physical page frames the kernel has free: the count in `rax`. A debug
            /// query (other tasks allocate too: compare only across quiet points).
            FreeFrames = 0x111,
        }

        /// Every D3DKMT call, in number order.
        pub static D3DKMT_CALLS: &[D3dkmtCall] = &[
            $(
                D3dkmtCall {
                    number: SyscallNumber::$variant,
                    export: stringify!($export),
                    argument: stringify!($argument),
                    argument_size: core::mem::size_of::<abi::$argument>(),
                },
            )*
        ];

        impl SyscallNumber {
            /// The process (non-D3DKMT) calls.
            pub const PROCESS_CALLS: [SyscallNumber; 10] = [
                Self::Exit,
                Self::WriteConsole,
                Self::GetFramebufferInfo,
                Self::MapFramebuffer,
                Self::Yield,
                Self::Sleep,
                Self::GetTime,
                Self::UnmapFramebuffer,
                Self::DxgObjectCount,
                Self::FreeFrames,
            ];

            /// Decodes a raw number (what the kernel sees in `rax`).
            pub fn from_raw(raw: u64) -> Option<Self> {
                match raw {
                    $( $number => Some(Self::$variant), )*
                    0x100 => Some(Self::Exit),
                    0x101 => Some(Self::WriteConsole),
                    0x102 => Some(Self::GetFramebufferInfo),
                    0x103 => Some(Self::MapFramebuffer),
                    0x107 => Some(Self::UnmapFramebuffer),
                    0x104 => Some(Self::Yield),
                    0x105 => Some(Self::Sleep),
                    0x106 => Some(Self::GetTime),
                    0x110 => Some(Self::DxgObjectCount),
                    0x111 => Some(Self::FreeFrames),
                    _ => None,
                }
            }

            /// The size of the argument struct a D3DKMT call expects in `rsi`; `None` for
            /// process calls.
            pub fn argument_size(self) -> Option<usize> {
                match self {
                    $( Self::$variant => Some(core::mem::size_of::<abi::$argument>()), )*
                    _ => None,
                }
            }
        }
    };
}
for_each_d3dkmt_call!(define_numbers);

/// Calls a D3DKMT entry point with its argument struct; returns the NTSTATUS.
///
/// The struct is passed by address (`rdi`) with its size (`rsi`); the kernel writes the outputs
/// back into it.
pub fn call_d3dkmt<S: Syscall + ?Sized, T>(
    kernel: &S,
    number: SyscallNumber,
    argument: &mut T,
    arg2: u64,
) -> NTSTATUS {
    let address = core::ptr::from_mut(argument) as u64;
    result_to_status(kernel.call(number, address, core::mem::size_of::<T>() as u64, arg2))
}

/// Narrows a raw `rax` result to an NTSTATUS (the kernel sign-extends a 32-bit status).
pub fn result_to_status(result: i64) -> NTSTATUS {
    match i32::try_from(result) {
        Ok(status) => status,
        // Not a sign-extended 32-bit value: the kernel broke the convention.
        Err(_) => abi::status::STATUS_UNSUCCESSFUL,
    }
}

/// The real kernel: the `syscall` instruction on dxgos (`target_os = "none"`, x86-64). On any
/// other target there is no dxgos kernel and every call returns `STATUS_NOT_SUPPORTED`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

// SAFETY: `Native` is the dxgos kernel itself (the `syscall` instruction), whose Lock2 and
// CreateSynchronizationObject2 give exactly the mappings the contract describes (see the
// kernel's D3DKMT translator and `docs/d3dkmt.md`); off dxgos every call fails.
#[allow(unsafe_code)]
unsafe impl Syscall for Native {
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, arg2: u64) -> i64 {
        native::syscall(number as u32 as u64, arg0, arg1, arg2)
    }
}

/// One `syscall` with any dxgos call number (the kernel sees [`DXGOS_SYSCALL_BASE`] + `number`;
/// numbers at or above the base are passed unchanged) and arguments, untyped: for programs that test the kernel
/// with calls the typed layer would not produce (`apps/selftest`: bad pointers, wrong sizes,
/// unknown numbers). Off dxgos it returns `STATUS_NOT_SUPPORTED`.
///
/// # Safety
/// The kernel writes through the addresses passed as the call's contract says (an argument
/// struct, an output buffer, a new mapping); the caller must make sure no such write lands in
/// memory Rust code relies on: pass addresses the kernel must refuse, or buffers of the
/// caller's own at least as large as the size passed with them.
#[allow(unsafe_code)]
pub unsafe fn raw_syscall(number: u64, arg0: u64, arg1: u64, arg2: u64) -> i64 {
    native::syscall(number, arg0, arg1, arg2)
}

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod native {
    #![allow(unsafe_code)]

    /// One `syscall` with the register convention of the module docs.
    pub(super) fn syscall(number: u64, arg0: u64, arg1: u64, arg2: u64) -> i64 {
        let number = number | super::DXGOS_SYSCALL_BASE;
        let result: i64;
        // SAFETY: `syscall` transfers to the dxgos kernel, which follows the convention in the
        // module docs: it reads rax/rdi/rsi/rdx, returns in rax, clobbers only rcx and r11 and
        // touches user memory only through the addresses passed (which it validates). No stack
        // is used across the instruction. Memory may be read and written (no `nomem`).
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") number => result,
                in("rdi") arg0,
                in("rsi") arg1,
                in("rdx") arg2,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result
    }
}

#[cfg(not(all(target_os = "none", target_arch = "x86_64")))]
mod native {
    /// No dxgos kernel on this target.
    pub(super) fn syscall(_number: u64, _arg0: u64, _arg1: u64, _arg2: u64) -> i64 {
        i64::from(crate::abi::status::STATUS_NOT_SUPPORTED)
    }
}

/// Process calls over any [`Syscall`].
pub mod process {
    use super::{Syscall, SyscallNumber, result_to_status};
    use crate::abi::{DXGOS_FRAMEBUFFER_INFO, NTSTATUS};

    /// Ends the process. The real kernel never returns; a fake kernel may, so this returns.
    pub fn exit<S: Syscall + ?Sized>(kernel: &S, code: i32) {
        kernel.call(SyscallNumber::Exit, code as u32 as u64, 0, 0);
    }

    /// Ends this process through the real kernel ([`super::Native`]); never returns (the call
    /// is repeated should a kernel ever return from Exit).
    pub fn exit_now(code: i32) -> ! {
        loop {
            exit(&super::Native, code);
        }
    }

    /// Writes text to the console; returns the bytes written or a negative NTSTATUS.
    pub fn write_console<S: Syscall + ?Sized>(kernel: &S, text: &[u8]) -> i64 {
        kernel.call(
            SyscallNumber::WriteConsole,
            text.as_ptr() as u64,
            text.len() as u64,
            0,
        )
    }

    /// Describes (`map == false`) or maps (`map == true`) the demo framebuffer.
    pub fn framebuffer<S: Syscall + ?Sized>(
        kernel: &S,
        map: bool,
        info: &mut DXGOS_FRAMEBUFFER_INFO,
    ) -> NTSTATUS {
        let number = if map {
            SyscallNumber::MapFramebuffer
        } else {
            SyscallNumber::GetFramebufferInfo
        };
        let address = core::ptr::from_mut(info) as u64;
        result_to_status(kernel.call(
            number,
            address,
            size_of::<DXGOS_FRAMEBUFFER_INFO>() as u64,
            0,
        ))
    }

    /// Unmaps the framebuffer view (`UnmapFramebuffer`).
    pub fn unmap_framebuffer<S: Syscall + ?Sized>(kernel: &S) -> NTSTATUS {
        result_to_status(kernel.call(SyscallNumber::UnmapFramebuffer, 0, 0, 0))
    }

    /// Yields the CPU.
    pub fn yield_now<S: Syscall + ?Sized>(kernel: &S) {
        kernel.call(SyscallNumber::Yield, 0, 0, 0);
    }

    /// Sleeps for at least `microseconds`.
    pub fn sleep<S: Syscall + ?Sized>(kernel: &S, microseconds: u64) {
        kernel.call(SyscallNumber::Sleep, microseconds, 0, 0);
    }

    /// Reads clock `clock` ([`super::CLOCK_MONOTONIC`] or [`super::CLOCK_WALL`]): nanoseconds,
    /// or the NTSTATUS the kernel answered (the wall clock is unset until the host's time
    /// sync set it).
    pub fn time<S: Syscall + ?Sized>(kernel: &S, clock: u64) -> Result<u64, NTSTATUS> {
        let value = kernel.call(SyscallNumber::GetTime, clock, 0, 0);
        u64::try_from(value).map_err(|_| value as NTSTATUS)
    }

    /// The number of dxg objects this process holds (`DxgObjectCount`), or the NTSTATUS the
    /// kernel refused the query with.
    pub fn dxg_object_count<S: Syscall + ?Sized>(kernel: &S) -> Result<u64, NTSTATUS> {
        count(kernel.call(SyscallNumber::DxgObjectCount, 0, 0, 0))
    }

    /// The number of free physical page frames (`FreeFrames`), or the NTSTATUS the kernel
    /// refused the query with.
    pub fn free_frames<S: Syscall + ?Sized>(kernel: &S) -> Result<u64, NTSTATUS> {
        count(kernel.call(SyscallNumber::FreeFrames, 0, 0, 0))
    }

    /// A count in `rax`, or a negative NTSTATUS.
    fn count(result: i64) -> Result<u64, NTSTATUS> {
        u64::try_from(result).map_err(|_| result_to_status(result))
    }
}
