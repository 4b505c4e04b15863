//! System calls: decoding, user-pointer validation and the dispatch to the kernel's services.
//!
//! Convention (`docs/d3dkmt.md`, userlib's `sys`): `syscall` with `rax` = number, `rdi`, `rsi`,
//! `rdx` = arguments; the result comes back in `rax` (an NTSTATUS sign-extended to 64 bits, or
//! the call's count); every register but `rax`, `rcx` and `r11` is preserved.
//!
//! Process calls (0x100…) are served here. D3DKMT calls (0x01…0x45) have their argument struct
//! size checked (`STATUS_INFO_LENGTH_MISMATCH`), are copied in from user memory
//! (`STATUS_ACCESS_VIOLATION` if the struct is not mapped, user-accessible and writable for
//! its whole length) and are handed to the process's [`GpuGateway`]; the struct is copied back
//! out afterwards. Unknown numbers get `STATUS_INVALID_SYSTEM_SERVICE`.
//!
//! Every user pointer is checked by walking the process's page tables and copied through the
//! physical-memory window ([`UserMemory`]), so a bad pointer is a status, never a kernel fault.

pub mod numbers;
pub mod status;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;

use spin::Mutex;

use crate::arch::address_space::{AccessViolation, AddressSpace};
use crate::arch::user_mode::UserRegisters;
use crate::process::{ProcessExit, ProcessId};
use status::{
    STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_SYSTEM_SERVICE,
    STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
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
    /// in it is copied back to the user. Returns the NTSTATUS for `rax`.
    fn call(&mut self, process: ProcessId, number: u32, arguments: &mut [u8]) -> i32;

    /// Like [`Self::call`], with access to the process's memory for the nested arrays some
    /// structs point to (validated copies through [`UserMemory`]). The syscall layer calls this
    /// one; the default forwards to [`Self::call`].
    fn call_with_memory(
        &mut self,
        process: ProcessId,
        number: u32,
        arguments: &mut [u8],
        memory: &UserMemory<'_>,
    ) -> i32 {
        let _ = memory;
        self.call(process, number, arguments)
    }

    /// The process has ended (exit, fault or kill): release what the GPU side holds for it
    /// (e.g. send DESTROYPROCESS). Called once, on the process's supervisor task, before the
    /// process's memory is freed.
    fn on_exit(&mut self, process: ProcessId, exit: &ProcessExit) {
        let _ = (process, exit);
    }
}

/// A gateway that has no GPU: every D3DKMT call returns `STATUS_NOT_SUPPORTED`.
pub struct NoGpu;

impl GpuGateway for NoGpu {
    fn call(&mut self, _process: ProcessId, _number: u32, _arguments: &mut [u8]) -> i32 {
        STATUS_NOT_SUPPORTED
    }
}

/// Validated, copying access to one process's user memory.
pub struct UserMemory<'a> {
    space: &'a AddressSpace,
}

impl UserMemory<'_> {
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
}

/// Where a process's console text goes besides the serial port (tests read it back).
pub type ConsoleCapture = Arc<Mutex<String>>;

/// What the process needs next after a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Resume ring 3 with this `rax`.
    Return(u64),
    /// The process asked to end with this code.
    Exit(i32),
}

/// Everything a system call may touch: the calling process's identity, memory, gateway and
/// console.
pub struct Context<'a> {
    /// The caller.
    pub process: ProcessId,
    /// Its address space.
    pub space: &'a AddressSpace,
    /// Its GPU capability.
    pub gateway: &'a mut dyn GpuGateway,
    /// Optional copy of its console output.
    pub console: Option<&'a ConsoleCapture>,
}

fn status(value: i32) -> Outcome {
    Outcome::Return(value as i64 as u64)
}

/// Serves the system call described by `registers` (`rax` = number, `rdi`/`rsi`/`rdx`).
pub fn dispatch(context: &mut Context<'_>, registers: &UserRegisters) -> Outcome {
    let (number, arg0, arg1) = (registers.rax, registers.rdi, registers.rsi);
    match number {
        numbers::EXIT => Outcome::Exit(arg0 as u32 as i32),
        numbers::WRITE_CONSOLE => write_console(context, arg0, arg1),
        numbers::YIELD => {
            crate::task::yield_now();
            status(STATUS_SUCCESS)
        }
        numbers::SLEEP => {
            crate::task::sleep_milliseconds(arg0.div_ceil(1000));
            status(STATUS_SUCCESS)
        }
        numbers::GET_FRAMEBUFFER_INFO | numbers::MAP_FRAMEBUFFER => status(STATUS_NOT_SUPPORTED),
        _ => match numbers::d3dkmt_argument_size(number) {
            Some(size) => d3dkmt(context, number as u32, arg0, arg1, size),
            None => status(STATUS_INVALID_SYSTEM_SERVICE),
        },
    }
}

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

fn d3dkmt(
    context: &mut Context<'_>,
    number: u32,
    address: u64,
    size: u64,
    expected: usize,
) -> Outcome {
    if size != expected as u64 {
        return status(STATUS_INFO_LENGTH_MISMATCH);
    }
    // The struct is in/out: it must be user-writable before the call has any effect.
    if context.space.check(address, size, true).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    let mut arguments = vec![0u8; expected];
    if context.space.read(address, &mut arguments).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    let memory = UserMemory {
        space: context.space,
    };
    let result = context
        .gateway
        .call_with_memory(context.process, number, &mut arguments, &memory);
    if context.space.write(address, &arguments).is_err() {
        return status(STATUS_ACCESS_VIOLATION);
    }
    status(result)
}
