//! User-mode processes.
//!
//! A process is an executable (one of [`images`]) loaded into its own [`AddressSpace`] (kernel
//! half shared, user half private), with a 64 KiB user stack, running as a kernel task that
//! enters ring 3 ([`crate::arch::user_mode`]). The task loops: enter ring 3 → `syscall` brings
//! it back → [`crate::syscall::dispatch`] serves the call (possibly blocking, like any task) →
//! enter ring 3 again. A process gives up the CPU in system calls (yield, sleep, a D3DKMT call
//! that waits, exit) and is preempted in ring 3: when it has used its time slice while other
//! tasks are ready, an interrupt takes it out of ring 3 ([`user_mode::Exit::Interrupted`]) and
//! the task yields before entering ring 3 again (docs/kernel.md, "Scheduling").
//!
//! [`ProcessHandle::kill`] is bounded: it sets the kill flag and interrupts the process task.
//! In ring 3 the next interrupt takes it out; blocked in a system call, its wait (Sleep, a GPU
//! call waiting for the dxg task, however long the host's bound) ends at once; either way the
//! task sees the flag before it enters ring 3 again and ends.
//!
//! Each process gets a second, kernel-only task, its supervisor, which joins the process task
//! and then cleans up whatever ended it: exit, a CPU exception in ring 3 (contained by the
//! fault policy: the task is ended, nothing else), or a kill by the kernel. It prints a report
//! for faults and kills, calls the gateway's [`GpuGateway::on_exit`], and frees the address
//! space (every user page and page table). [`ProcessHandle::join`] returns its verdict.
//!
//! The process's capabilities, its address space and its [`GpuGateway`], live in a shared
//! [`ProcessState`] so that the supervisor can take them even when the process task was
//! abandoned by an exception (the kernel does not unwind: the few bytes the abandoned task held
//! on its stack, such as its reference to the state, are leaked; the pages and the gateway
//! are not).

pub mod elf;
pub mod images;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;

use crate::arch::address_space::{self, AddressSpace, USER_END, UserPageAccess};
use crate::arch::user_mode::{self, UserRegisters};
use crate::syscall::{
    self, ConsoleCapture, FramebufferGrant, FramebufferMapping, GpuGateway, Outcome,
};
use crate::task::{self, TaskFault, TaskHandle, TaskRef};
pub use elf::ElfError;

/// Top of the user stack (exclusive).
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ff00_0000;
/// Size of the user stack; the page below it stays unmapped (a guard).
pub const USER_STACK_SIZE: u64 = 64 * 1024;

/// A process's identity (unique for the kernel's lifetime; never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u64);

impl core::fmt::Display for ProcessId {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

static NEXT_PROCESS_ID: AtomicU64 = AtomicU64::new(1);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessExit {
    /// It called Exit with this code.
    Exited(i32),
    /// A CPU exception in ring 3 (page fault, #GP, #UD, ...) ended it.
    Faulted(TaskFault),
    /// The kernel ended it for this reason.
    Killed(&'static str),
}

/// Why a process could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The executable was refused.
    Executable(ElfError),
    /// No memory for its page tables or stack.
    OutOfMemory,
}

impl From<ElfError> for SpawnError {
    fn from(error: ElfError) -> Self {
        match error {
            ElfError::OutOfMemory => SpawnError::OutOfMemory,
            other => SpawnError::Executable(other),
        }
    }
}

/// The capabilities of one process, shared between its task and its supervisor.
pub struct ProcessState {
    id: ProcessId,
    name: String,
    space: Mutex<Option<AddressSpace>>,
    gateway: Mutex<Option<Box<dyn GpuGateway>>>,
    console: Option<ConsoleCapture>,
    framebuffer: Mutex<Option<FramebufferMapping>>,
    /// Set by [`ProcessHandle::kill`]; the process ends before it enters ring 3 again.
    kill_requested: Arc<AtomicBool>,
}

/// Builds a process.
pub struct Builder<'a> {
    name: &'a str,
    image: &'a [u8],
    argument: u64,
    console: Option<ConsoleCapture>,
    expect_fault: bool,
    framebuffer: Option<FramebufferGrant>,
}

impl<'a> Builder<'a> {
    /// A process called `name` running the executable `image` (see [`images`]).
    pub fn new(name: &'a str, image: &'a [u8]) -> Builder<'a> {
        Builder {
            name,
            image,
            argument: 0,
            console: None,
            expect_fault: false,
            framebuffer: None,
        }
    }

    /// The value the process finds in `rdi` at its entry point (default 0).
    pub fn argument(mut self, argument: u64) -> Self {
        self.argument = argument;
        self
    }

    /// Also appends the process's console output to `console`.
    pub fn capture_console(mut self, console: ConsoleCapture) -> Self {
        self.console = Some(console);
        self
    }

    /// Lets the process map the framebuffer (`MapFramebuffer`).
    pub fn framebuffer(mut self, grant: FramebufferGrant) -> Self {
        self.framebuffer = Some(grant);
        self
    }

    /// Labels the report of a CPU exception in this process "expected exception" (tests).
    pub fn expect_fault(mut self) -> Self {
        self.expect_fault = true;
        self
    }

    /// Loads the executable and starts the process with `gateway` as its GPU capability.
    /// The process becomes ready at once; errors in the executable are reported here.
    pub fn spawn(self, gateway: Box<dyn GpuGateway>) -> Result<ProcessHandle, SpawnError> {
        let mut space = AddressSpace::new().map_err(|_| SpawnError::OutOfMemory)?;
        let entry = elf::load(self.image, &mut space)?;
        let stack_access = UserPageAccess {
            writable: true,
            executable: false,
        };
        let mut page = USER_STACK_TOP - USER_STACK_SIZE;
        while page < USER_STACK_TOP {
            space
                .map_zeroed(page, stack_access)
                .map_err(|_| SpawnError::OutOfMemory)?;
            page += 4096;
        }
        let registers = UserRegisters {
            rip: entry,
            // As after a call: the entry function sees rsp ≡ 8 (mod 16).
            rsp: USER_STACK_TOP - 8,
            rdi: self.argument,
            rflags: 0x202,
            ..UserRegisters::default()
        };
        let id = ProcessId(NEXT_PROCESS_ID.fetch_add(1, Ordering::Relaxed));
        let kill_requested = Arc::new(AtomicBool::new(false));
        let state = Arc::new(ProcessState {
            id,
            name: String::from(self.name),
            space: Mutex::new(Some(space)),
            gateway: Mutex::new(Some(gateway)),
            console: self.console,
            framebuffer: Mutex::new(self.framebuffer.map(|grant| FramebufferMapping {
                grant,
                address: None,
            })),
            kill_requested: kill_requested.clone(),
        });
        let builder = task::Builder::new(&format!("process {id} {}", self.name));
        let builder = if self.expect_fault {
            builder.expect_fault()
        } else {
            builder.contain_faults()
        };
        let process_state = state.clone();
        let process_task = builder.spawn(move || run(process_state, registers));
        let task = process_task.task().clone();
        let supervisor = task::Builder::new(&format!("supervisor {id} {}", self.name))
            .spawn(move || supervise(state, process_task));
        Ok(ProcessHandle {
            id,
            supervisor,
            task,
            kill_requested,
        })
    }
}

/// Starts `image` as process `name` with `gateway` (see [`Builder`] for options).
pub fn spawn(
    name: &str,
    image: &[u8],
    gateway: Box<dyn GpuGateway>,
) -> Result<ProcessHandle, SpawnError> {
    Builder::new(name, image).spawn(gateway)
}

/// The owner's handle of a process.
pub struct ProcessHandle {
    id: ProcessId,
    supervisor: TaskHandle<ProcessExit>,
    task: TaskRef,
    kill_requested: Arc<AtomicBool>,
}

impl ProcessHandle {
    /// The process's id.
    pub fn id(&self) -> ProcessId {
        self.id
    }

    /// Whether the process has ended and been cleaned up.
    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }

    /// Whether the process has stopped running: its task ended (exited, killed or faulted),
    /// though its resources may still be being released ([`Self::is_finished`]).
    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the kernel to end the process, without waiting: a process in ring 3 is taken out
    /// by the next interrupt (within a timer tick); one blocked in a system call has its wait
    /// interrupted (it does not wait for the host's bound). [`Self::join`] then returns
    /// [`ProcessExit::Killed`] with [`KILLED_BY_OWNER`].
    pub fn kill(&self) {
        self.kill_requested.store(true, Ordering::Release);
        self.task.interrupt();
    }

    /// Whether the process's task is blocked in a system call right now (tests use it to kill
    /// a process while it waits).
    pub fn is_blocked(&self) -> bool {
        self.task.is_blocked()
    }

    /// Waits until the process has ended and its resources are freed; returns how it ended.
    pub fn join(self) -> ProcessExit {
        self.supervisor
            .join()
            .unwrap_or(ProcessExit::Killed("the process supervisor faulted"))
    }
}

/// The kill reason of [`ProcessHandle::kill`].
pub const KILLED_BY_OWNER: &str = "killed by its owner";

/// The process task: ring 3 ↔ system calls until exit. `Err` is a kill reason.
fn run(state: Arc<ProcessState>, mut registers: UserRegisters) -> Result<i32, &'static str> {
    let mut exit = user_mode::Exit::SystemCall;
    loop {
        if state.kill_requested.load(Ordering::Acquire) {
            address_space::activate_kernel();
            return Err(KILLED_BY_OWNER);
        }
        match state.space.lock().as_ref() {
            Some(space) => space.activate(),
            None => return Err("address space gone"),
        }
        exit = match user_mode::run(&mut registers, USER_END, exit) {
            Ok(exit) => exit,
            Err(_) => return Err("resumed at an address outside the user range"),
        };
        if exit == user_mode::Exit::Interrupted {
            // Preempted (or being killed): a scheduling point in task context, no lock held.
            task::yield_now();
            continue;
        }
        let outcome = {
            let mut space = state.space.lock();
            let mut gateway = state.gateway.lock();
            let mut framebuffer = state.framebuffer.lock();
            let (Some(space), Some(gateway)) = (space.as_mut(), gateway.as_mut()) else {
                return Err("capabilities gone");
            };
            let mut context = syscall::Context {
                process: state.id,
                space,
                gateway: gateway.as_mut(),
                console: state.console.as_ref(),
                framebuffer: framebuffer.as_mut(),
            };
            syscall::dispatch(&mut context, &registers)
        };
        match outcome {
            Outcome::Return(value) => registers.rax = value,
            Outcome::Exit(code) => {
                address_space::activate_kernel();
                return Ok(code);
            }
        }
    }
}

/// The supervisor: waits for the process task, reports, calls `on_exit`, frees everything.
fn supervise(
    state: Arc<ProcessState>,
    process_task: TaskHandle<Result<i32, &'static str>>,
) -> ProcessExit {
    let exit = match process_task.join() {
        Ok(Ok(code)) => ProcessExit::Exited(code),
        Ok(Err(reason)) => ProcessExit::Killed(reason),
        Err(fault) => ProcessExit::Faulted(fault),
    };
    let (id, name) = (state.id, &state.name);
    match exit {
        ProcessExit::Exited(code) => log::debug!("process {id} ({name}) exited with {code}"),
        ProcessExit::Faulted(fault) => crate::serial::write_fmt(format_args!(
            "process {id} ({name}) killed: {} at rip {:#x}, error code {:#x}, address {:#x}; \
             its resources are freed\n",
            fault.name, fault.instruction, fault.error_code, fault.address
        )),
        ProcessExit::Killed(reason) => crate::serial::write_fmt(format_args!(
            "process {id} ({name}) killed: {reason}; its resources are freed\n"
        )),
    }
    // Take the capabilities even if the task died holding a lock (a kernel bug): leaking is
    // better than waiting forever.
    let gateway = state
        .gateway
        .try_lock()
        .and_then(|mut gateway| gateway.take());
    if let Some(mut gateway) = gateway {
        gateway.on_exit(id, &exit);
    }
    address_space::activate_kernel();
    let space = state.space.try_lock().and_then(|mut space| space.take());
    if space.is_none() {
        log::warn!("process {id} ({name}): address space still locked; its pages are leaked");
    }
    drop(space);
    exit
}
