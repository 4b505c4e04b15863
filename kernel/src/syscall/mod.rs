//! System calls: decoding, user-pointer validation and the dispatch to the kernel's services.
//!
//! Convention (`docs/d3dkmt.md`, userlib's `sys`): `syscall` with `rax` = number, `rdi`, `rsi`,
//! `rdx` = arguments; the result comes back in `rax` (an NTSTATUS sign-extended to 64 bits, or
//! the call's count); every register but `rax`, `rcx` and `r11` is preserved.
//!
//! dxgos calls arrive with `userlib::sys::DXGOS_SYSCALL_BASE` added (other numbers are Linux
//! calls, `process::linux`). Process calls (0x100…) are served here. D3DKMT calls (0x01…0x45) have their argument struct
//! size checked (`STATUS_INFO_LENGTH_MISMATCH`), are copied in from user memory
//! (`STATUS_ACCESS_VIOLATION` if the struct is not mapped, user-accessible and writable for
//! its whole length) and are handed to the process's [`GpuGateway`]; the struct is copied back
//! out afterwards. Unknown numbers get `STATUS_INVALID_SYSTEM_SERVICE`.
//!
//! Blocking calls are killable: the waits they block in (Sleep, a GPU call's wait for the dxg
//! task) end early when the process task is interrupted by [`crate::process::ProcessHandle::kill`],
//! and the process ends when the call returns (`process`).
//!
//! Every user pointer is checked by walking the process's page tables and copied through the
//! physical-memory window ([`UserSpace`]), so a bad pointer is a status, never a kernel fault.
//!
//! The debug queries DxgObjectCount (0x110, through the gateway) and FreeFrames (0x111) return
//! counts for leak checks.
//!
//! The framebuffer calls (0x102, 0x103) serve the process's [`FramebufferGrant`], if it was
//! spawned with one: the info struct, and a writable, non-executable mapping in its view region.

pub mod numbers;
pub mod status;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;

use boot_info::{Framebuffer, PixelFormat};
use userlib::abi::DXGOS_FRAMEBUFFER_INFO;
use zerocopy::IntoBytes;

use crate::arch::address_space::{AccessViolation, AddressSpace, MapUserError, MemoryType};
use crate::arch::user_mode::UserRegisters;
use crate::process::{ProcessExit, ProcessId};
use drivers::d3dkmt::ViewAccess;
use status::{
    STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_PARAMETER,
    STATUS_INVALID_SYSTEM_SERVICE, STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
    STATUS_TIMEOUT,
};

/// The most a single WriteConsole copies (longer writes are cut; the count says how much).
pub const MAX_CONSOLE_WRITE: usize = 64 * 1024;

/// A process's access to the GPU: the D3DKMT calls of one process go through its gateway.
///
/// A process is spawned with a boxed gateway (its capability; nothing global). The
/// implementation normally forwards each call to the dxg driver task over a channel and waits
/// for the answer; it runs on the process's task, so it may block.
pub trait GpuGateway: Send {
    /// Serves D3DKMT call `number` for `process`. `arguments` holds a copy of the user's
    /// argument struct (its size already checked against the call); whatever the gateway leaves
    /// in it is copied back to the user. `user` reaches the process's memory for the nested
    /// arrays some structs point to (validated copies) and maps views into it; `arg2` is the
    /// caller's `rdx` (the CPU-wait timeout). Returns the NTSTATUS for `rax`, or the wait for
    /// the host the call still has to make ([`GatewayAnswer::Wait`]).
    fn call(
        &mut self,
        process: ProcessId,
        number: u32,
        arguments: &mut [u8],
        user: &mut UserSpace<'_>,
        arg2: u64,
    ) -> GatewayAnswer;

    /// The process has ended (exit, fault or kill): release what the GPU side holds for it
    /// (e.g. send DESTROYPROCESS). Called once, on the process's supervisor task, before the
    /// process's memory is freed (its views go with it).
    fn on_exit(&mut self, process: ProcessId, exit: &ProcessExit) {
        let _ = (process, exit);
    }

    /// How many dxg objects `process` holds (the `DxgObjectCount` debug query), or the
    /// NTSTATUS for `rax` when the gateway cannot tell.
    fn object_count(&mut self, process: ProcessId) -> Result<u64, i32> {
        let _ = process;
        Err(STATUS_NOT_SUPPORTED)
    }
}

/// What a gateway's [`GpuGateway::call`] answers.
#[derive(Debug)]
pub enum GatewayAnswer {
    /// The call is done: the NTSTATUS for `rax`.
    Status(i32),
    /// The call's checks are done and its struct is final; what is left is a wait for the
    /// host, which the process's thread makes after the syscall layer released the process
    /// ([`Outcome::ReturnAfter`]), so that the process's other threads' calls go on meanwhile:
    /// a thread waiting from the CPU for a fence another thread signals must not hold up the
    /// signal.
    Wait(DetachedWait),
}

/// A wait for the host that no longer needs the process (see [`GatewayAnswer::Wait`]);
/// running it gives the call's NTSTATUS.
///
/// One word (a box of the boxed closure), so that [`GatewayAnswer`] and [`Outcome`] stay two
/// words and come back in registers on the path every system call takes.
pub struct DetachedWait(Box<Box<dyn FnOnce() -> i32 + Send>>);

impl DetachedWait {
    /// A wait that `wait` makes; it returns the call's NTSTATUS.
    pub fn new(wait: impl FnOnce() -> i32 + Send + 'static) -> DetachedWait {
        DetachedWait(Box::new(Box::new(wait)))
    }

    /// Waits; returns the call's NTSTATUS.
    pub fn run(self) -> i32 {
        (*self.0)()
    }
}

// Two words each: returned in registers (see `DetachedWait`).
const _: () = assert!(core::mem::size_of::<GatewayAnswer>() == 16);
const _: () = assert!(core::mem::size_of::<Outcome>() == 16);

impl core::fmt::Debug for DetachedWait {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str("DetachedWait")
    }
}

/// A gateway that has no GPU: every D3DKMT call returns `STATUS_NOT_SUPPORTED`.
pub struct NoGpu;

impl GpuGateway for NoGpu {
    fn call(
        &mut self,
        _process: ProcessId,
        _number: u32,
        _arguments: &mut [u8],
        _user: &mut UserSpace<'_>,
        _arg2: u64,
    ) -> GatewayAnswer {
        GatewayAnswer::Status(STATUS_NOT_SUPPORTED)
    }

    fn object_count(&mut self, _process: ProcessId) -> Result<u64, i32> {
        Ok(0)
    }
}

/// Validated, copying access to one process's user memory, and its view region.
pub struct UserSpace<'a> {
    space: &'a mut AddressSpace,
}

impl<'a> UserSpace<'a> {
    /// Access to `space`.
    pub fn new(space: &'a mut AddressSpace) -> UserSpace<'a> {
        UserSpace { space }
    }

    /// Copies `buffer.len()` bytes from user address `address`; `Err` unless the whole range is
    /// canonical, below the user limit, present and user-accessible.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), AccessViolation> {
        self.space.read(address, buffer)
    }

    /// Copies `data` to user address `address`; `Err` unless the whole range is user-writable.
    pub fn write(&self, address: u64, data: &[u8]) -> Result<(), AccessViolation> {
        self.space.write(address, data)
    }

    /// Checks a range without copying (`write`: it must be user-writable too).
    pub fn check(&self, address: u64, length: u64, write: bool) -> Result<(), AccessViolation> {
        self.space.check(address, length, write)
    }

    /// Maps `length` bytes of IO space at page-aligned `physical` (a view the GPU side owns)
    /// into the process; returns the user address. Read-only unless `access.writable`;
    /// write-back if `access.cached`, else write-combining (as Linux's `dxg_map_iospace`).
    /// The IO space lies in a VMBus MMIO gap, which the kernel maps into its window, so the
    /// kernel's user copies may still reach it (not a `device` page).
    pub fn map_view(
        &mut self,
        physical: u64,
        length: u64,
        access: ViewAccess,
    ) -> Result<u64, MapUserError> {
        let memory_type = if access.cached {
            MemoryType::WriteBack
        } else {
            MemoryType::WriteCombining
        };
        self.space
            .map_view(physical, length, access.writable, false, memory_type)
    }

    /// The frame numbers behind page-aligned user memory the process owns (see
    /// [`AddressSpace::owned_frames`]).
    pub fn owned_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, AccessViolation> {
        self.space.owned_frames(address, length)
    }

    /// Unmaps a view made by [`Self::map_view`]; returns its length (`None`: no such view).
    pub fn unmap_view(&mut self, address: u64) -> Option<u64> {
        self.space.unmap_view(address)
    }
}

/// The framebuffer a process may draw on (a capability given at spawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramebufferGrant {
    /// The firmware's framebuffer.
    pub framebuffer: Framebuffer,
}

/// Where a process's console text goes besides the serial port (tests read it back).
pub type ConsoleCapture = Arc<Mutex<String>>;

/// What the process needs next after a system call.
#[derive(Debug)]
pub enum Outcome {
    /// Resume ring 3 with this `rax`.
    Return(u64),
    /// Release the process, make this wait for the host, then resume ring 3 with its
    /// NTSTATUS in `rax` (see [`GatewayAnswer::Wait`]).
    ReturnAfter(DetachedWait),
    /// The process asked to end with this code.
    Exit(i32),
}

/// Everything a system call may touch: the calling process's identity, memory, gateway,
/// console and framebuffer.
pub struct Context<'a> {
    /// The caller.
    pub process: ProcessId,
    /// Its address space.
    pub space: &'a mut AddressSpace,
    /// Its GPU capability.
    pub gateway: &'a mut dyn GpuGateway,
    /// Optional copy of its console output.
    pub console: Option<&'a ConsoleCapture>,
    /// The framebuffer it may map, and where it is mapped once it is.
    pub framebuffer: Option<&'a mut FramebufferMapping>,
    /// Room for a D3DKMT call's argument struct, reused from call to call.
    pub arguments: &'a mut Vec<u8>,
}

/// A process's framebuffer capability and its mapping.
#[derive(Debug)]
pub struct FramebufferMapping {
    /// The grant.
    pub grant: FramebufferGrant,
    /// User address of the mapping, once mapped.
    pub address: Option<u64>,
}

fn status(value: i32) -> Outcome {
    Outcome::Return(status_register(value))
}

/// Serves dxgos call `number` (`rax` less `userlib::sys::DXGOS_SYSCALL_BASE`, see
/// [`numbers::dxgos_call`]) with the arguments in `registers` (`rdi`/`rsi`/`rdx`).
pub fn dispatch(context: &mut Context<'_>, number: u64, registers: &UserRegisters) -> Outcome {
    let (arg0, arg1, arg2) = (registers.rdi, registers.rsi, registers.rdx);
    match number {
        numbers::EXIT => Outcome::Exit(arg0 as u32 as i32),
        numbers::WRITE_CONSOLE => write_console(context, arg0, arg1),
        numbers::YIELD => {
            crate::task::yield_now();
            status(STATUS_SUCCESS)
        }
        // A process being killed stops sleeping at once (the status never reaches it).
        numbers::SLEEP => {
            match crate::task::sleep_milliseconds_interruptible(arg0.div_ceil(1000)) {
                Ok(()) => status(STATUS_SUCCESS),
                Err(crate::task::Interrupted) => status(STATUS_TIMEOUT),
            }
        }
        numbers::GET_TIME => time(arg0),
        numbers::GET_FRAMEBUFFER_INFO => framebuffer(context, arg0, arg1, false),
        numbers::MAP_FRAMEBUFFER => framebuffer(context, arg0, arg1, true),
        numbers::UNMAP_FRAMEBUFFER => unmap_framebuffer(context),
        numbers::DXG_OBJECT_COUNT => match context.gateway.object_count(context.process) {
            Ok(count) => Outcome::Return(count),
            Err(failure) => status(failure),
        },
        numbers::FREE_FRAMES => Outcome::Return(crate::memory::free_frames() as u64),
        _ => match numbers::d3dkmt_argument_size(number) {
            Some(size) => d3dkmt(context, number as u32, [arg0, arg1, arg2], size),
            None => status(STATUS_INVALID_SYSTEM_SERVICE),
        },
    }
}

/// GetTime: the monotonic clock never jumps; the wall clock is the monotonic clock plus the
/// offset the host's time sync set (`crate::clock::set_wall_clock`); the host-cycles clock
/// counts the host's time in TSC cycles (`crate::host_time`).
fn time(clock: u64) -> Outcome {
    match clock {
        userlib::sys::CLOCK_MONOTONIC => Outcome::Return(crate::clock::nanoseconds_since_boot()),
        userlib::sys::CLOCK_WALL => match crate::clock::wall_clock_nanoseconds() {
            Some(nanoseconds) => Outcome::Return(nanoseconds),
            None => status(STATUS_NOT_SUPPORTED),
        },
        userlib::sys::CLOCK_HOST_CYCLES => Outcome::Return(crate::host_time::cycles()),
        _ => status(STATUS_INVALID_PARAMETER),
    }
}

// Out of line: inlined, its frame would be set up for every call `dispatch` serves.
#[inline(never)]
fn write_console(context: &mut Context<'_>, address: u64, length: u64) -> Outcome {
    let length = (length as usize).min(MAX_CONSOLE_WRITE);
    let mut text = vec![0u8; length];
    if context.space.read(address, &mut text).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    let text = String::from_utf8_lossy(&text);
    crate::serial::write_str(&text);
    if let Some(console) = context.console {
        console.lock().push_str(&text);
    }
    Outcome::Return(length as u64)
}

// Out of line: inlined, its frame would be set up for every call `dispatch` serves.
#[inline(never)]
fn d3dkmt(context: &mut Context<'_>, number: u32, registers: [u64; 3], expected: usize) -> Outcome {
    let [address, size, arg2] = registers;
    if size != expected as u64 {
        return status(STATUS_INFO_LENGTH_MISMATCH);
    }
    let arguments = &mut *context.arguments;
    arguments.clear();
    arguments.resize(expected, 0);
    // The struct is in/out: it must be user-writable before the call has any effect (the
    // copy checks that, translating each page once).
    if context.space.read_with(address, arguments, true).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    let mut user = UserSpace::new(context.space);
    let answer = context
        .gateway
        .call(context.process, number, arguments, &mut user, arg2);
    if context.space.write(address, arguments).is_err() {
        return copy_back_failed(answer);
    }
    match answer {
        GatewayAnswer::Status(result) => status(result),
        GatewayAnswer::Wait(wait) => Outcome::ReturnAfter(wait),
    }
}

/// A D3DKMT call whose struct could not be copied back: STATUS_ACCESS_VIOLATION. A last host
/// request the call left to be made (DestroyDevice, say, whose struct lay in a view the call
/// unmapped) is made all the same, since the translator has already forgotten what it ends;
/// the caller gets the status after it. (Out of line: `d3dkmt` keeps its frame small.)
#[cold]
#[inline(never)]
fn copy_back_failed(answer: GatewayAnswer) -> Outcome {
    match answer {
        GatewayAnswer::Status(_) => status(STATUS_ACCESS_VIOLATION),
        GatewayAnswer::Wait(wait) => Outcome::ReturnAfter(DetachedWait::new(move || {
            wait.run();
            STATUS_ACCESS_VIOLATION
        })),
    }
}

/// The `rax` of an NTSTATUS (sign-extended).
pub fn status_register(value: i32) -> u64 {
    value as i64 as u64
}

/// `GetFramebufferInfo` / `MapFramebuffer`: fills userlib's `DXGOS_FRAMEBUFFER_INFO` at
/// `address`.
fn framebuffer(context: &mut Context<'_>, address: u64, size: u64, map: bool) -> Outcome {
    if size != FRAMEBUFFER_INFO_SIZE as u64 {
        return status(STATUS_INFO_LENGTH_MISMATCH);
    }
    if context.space.check(address, size, true).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    let Some(mapping) = context.framebuffer.as_deref_mut() else {
        return status(STATUS_NOT_SUPPORTED);
    };
    let framebuffer = mapping.grant.framebuffer;
    if map && mapping.address.is_none() {
        match context.space.map_view(
            framebuffer.physical_address,
            framebuffer.size,
            true,
            true,
            MemoryType::WriteCombining,
        ) {
            Ok(user_address) => mapping.address = Some(user_address),
            Err(_) => return status(STATUS_NO_MEMORY),
        }
    }
    let info = DXGOS_FRAMEBUFFER_INFO {
        Address: if map { mapping.address.unwrap_or(0) } else { 0 },
        Size: framebuffer.size,
        Width: framebuffer.width,
        Height: framebuffer.height,
        Pitch: framebuffer.stride * 4,
        Format: if framebuffer.pixel_format == PixelFormat::Bgr as u32 {
            FRAMEBUFFER_FORMAT_B8G8R8X8
        } else {
            FRAMEBUFFER_FORMAT_R8G8B8X8
        },
    };
    if context.space.write(address, info.as_bytes()).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    status(STATUS_SUCCESS)
}

/// `UnmapFramebuffer`: removes the framebuffer view, if there is one (the next
/// `MapFramebuffer` makes a new one).
fn unmap_framebuffer(context: &mut Context<'_>) -> Outcome {
    let Some(mapping) = context.framebuffer.as_deref_mut() else {
        return status(STATUS_NOT_SUPPORTED);
    };
    if let Some(address) = mapping.address.take() {
        context.space.unmap_view(address);
    }
    status(STATUS_SUCCESS)
}

/// `sizeof(DXGOS_FRAMEBUFFER_INFO)`.
const FRAMEBUFFER_INFO_SIZE: usize = size_of::<DXGOS_FRAMEBUFFER_INFO>();
/// `DXGOS_FRAMEBUFFER_INFO.Format`: blue in the low byte.
const FRAMEBUFFER_FORMAT_B8G8R8X8: u32 = 1;
/// `DXGOS_FRAMEBUFFER_INFO.Format`: red in the low byte.
const FRAMEBUFFER_FORMAT_R8G8B8X8: u32 = 2;
