//! User-mode processes.
//!
//! A process is an executable (one of [`images`]) loaded into its own [`AddressSpace`] (kernel
//! half shared, user half private), with a 64 KiB user stack, running as one or more threads,
//! each a kernel task that enters ring 3 ([`crate::arch::user_mode`]). A thread loops: enter
//! ring 3 → `syscall` brings it back → [`crate::syscall::dispatch`] serves a dxgos call, or
//! `linux` a Linux one (the static musl runtime's: memory, clocks, futexes, `clone` for new
//! threads; docs/d3dkmt.md, "Process runtime") (possibly blocking, like any task) → enter ring
//! 3 again. Each thread keeps its own x87/SSE area (`arch::fpu`) and FS base. A process gives up the CPU in system calls (yield, sleep, a D3DKMT call
//! that waits, exit) and is preempted in ring 3: when it has used its time slice while other
//! tasks are ready, an interrupt takes it out of ring 3 ([`user_mode::Exit::Interrupted`]) and
//! the task yields before entering ring 3 again (docs/kernel.md, "Scheduling").
//!
//! [`ProcessHandle::kill`] is bounded: it sets the kill flag and interrupts every thread.
//! In ring 3 the next interrupt takes it out; blocked in a system call, its wait (Sleep, a GPU
//! call waiting for the dxg task, however long the host's bound) ends at once; either way the
//! task sees the flag before it enters ring 3 again and ends.
//!
//! Each process gets a kernel-only task, its supervisor, which waits for all its threads (a
//! thread that faults or ends for another reason than `exit` makes it end the others) and then
//! cleans up whatever ended the process: exit (`exit_group`, or the last thread's `exit`), a
//! CPU exception in ring 3 (reported by the fault policy, then handed back to the thread's
//! task, which ends through its ordinary path: `user_mode::Exit::Faulted`), or a kill by the
//! kernel. It prints a report for faults and kills, calls the gateway's
//! [`GpuGateway::on_exit`], and frees the address space (every user page and page table).
//! [`ProcessHandle::join`] returns its verdict.
//!
//! The process's capabilities, its address space and its [`GpuGateway`], live in a shared
//! [`ProcessState`] so that the supervisor can take them even when a thread's task was
//! abandoned by a contained fault of its kernel side (a kernel bug: the kernel does not
//! unwind, so the few bytes that task held on its stack, such as its reference to the state,
//! are leaked; the pages and the gateway are not). A fault of ring-3 code leaks nothing (test
//! `faulting_thread_leaves_no_heap_behind`).

pub mod elf;
mod futex;
pub mod images;
mod linux;
pub mod memory;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};

use crate::arch::address_space::{self, AddressSpace, USER_END, UserPageAccess};
use crate::arch::fpu::{FpuState, Residency};
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
    /// Its address space, GPU gateway and framebuffer view, under one lock: a dxgos call
    /// holds all three for its whole duration (calls of one process are served one at a
    /// time) except a D3DKMT call's detached host wait (`Outcome::ReturnAfter`), a Linux call
    /// the address space only.
    capabilities: Mutex<Capabilities>,
    /// Its address space's level-4 table, which a thread loads on its way to ring 3 without
    /// the lock above (so a thread in a host call holds up only the others' system calls).
    root: address_space::Root,
    console: Option<ConsoleCapture>,
    /// Set by [`ProcessHandle::kill`]; the process ends before it enters ring 3 again.
    kill_requested: Arc<AtomicBool>,
    /// Set when the process is ending (kill, `exit_group`, a thread's fault): every thread
    /// ends before it enters ring 3 again.
    ending: AtomicBool,
    /// The exit code: from `exit_group` (the first wins) or the last thread's `exit`.
    exit_code: Mutex<Option<i32>>,
    /// Its threads that have not been reaped by the supervisor.
    threads: Mutex<Vec<ThreadRecord>>,
    /// Threads that have not ended (a thread whose kernel side faults never counts down; the
    /// supervisor ends the others then).
    live_threads: AtomicUsize,
    /// Reservations of its anonymous memory (`mmap`).
    memory: Mutex<memory::AnonymousMemory>,
    /// Its futex waiters.
    futexes: Mutex<futex::FutexTable>,
    /// Its threads report a CPU exception as expected (tests).
    expect_fault: bool,
}

/// What a process may use, taken (`None`) by its supervisor when it ends.
struct Capabilities {
    space: Option<AddressSpace>,
    gateway: Option<Box<dyn GpuGateway>>,
    framebuffer: Option<FramebufferMapping>,
    /// The D3DKMT argument struct of the call being served, kept from call to call so that a
    /// call allocates none (`syscall::Context::arguments`).
    arguments: Vec<u8>,
}

/// One thread of a process, as its supervisor sees it.
struct ThreadRecord {
    /// The Linux thread id (`gettid`).
    id: u64,
    handle: TaskHandle<ThreadEnd>,
}

/// How a thread's task ended: `Ok` with its exit code, `Err` with why the process ends.
type ThreadEnd = Result<i32, ThreadStop>;

/// Why a thread ended other than by `exit`: the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadStop {
    /// The kernel ended it, for this reason.
    Reason(&'static str),
    /// Its ring-3 code raised this CPU exception.
    Fault(TaskFault),
}

impl From<&'static str> for ThreadStop {
    fn from(reason: &'static str) -> ThreadStop {
        ThreadStop::Reason(reason)
    }
}

/// A user thread's own state: its registers, x87/SSE area, thread pointer and the word the
/// kernel clears at its end.
pub(crate) struct Thread {
    /// The Linux thread id (the main thread's is the process id, as on Linux).
    id: u64,
    registers: UserRegisters,
    fpu: Box<FpuState>,
    /// The FS base (`arch_prctl(ARCH_SET_FS)`).
    fs_base: u64,
    /// The FS base this thread last wrote to the CPU (`None`: not written yet). While no
    /// other thread enters ring 3 the CPU keeps it, so the next entry skips the MSR write
    /// unless `fs_base` changed. (A selector load in ring 3 can change the CPU's base too:
    /// the kernel never uses FS, so that base stays the thread's own until another thread
    /// enters ring 3.)
    loaded_fs_base: Option<u64>,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: zeroed and futex-woken when the thread ends.
    clear_child_tid: u64,
    /// How ring 3 was last left (see `user_mode::run`).
    previous: user_mode::Exit,
}

/// Thread ids after the main threads' (which are process ids).
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1 << 20);

/// Locks `mutex`, yielding to other tasks while another thread holds it (it may hold it across
/// a blocking call, such as a D3DKMT wait; spinning would never let it run on one CPU).
/// `Err` when the current task is interrupted meanwhile.
///
/// The uncontended case (every system call takes one or two of these) is inlined into the
/// caller: one compare-exchange; the contended loop is out of line.
#[inline(always)]
fn lock_or_yield<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, task::Interrupted> {
    match mutex.try_lock() {
        Some(guard) => Ok(guard),
        None => lock_contended(mutex),
    }
}

/// [`lock_or_yield`] when the first try failed.
#[cold]
#[inline(never)]
fn lock_contended<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, task::Interrupted> {
    loop {
        if let Some(guard) = mutex.try_lock() {
            return Ok(guard);
        }
        if task::current().is_interrupted() {
            return Err(task::Interrupted);
        }
        task::yield_now();
    }
}

/// Whether `state` has a live thread with Linux id `id`.
fn thread_exists(state: &ProcessState, id: u64) -> bool {
    state
        .threads
        .lock()
        .iter()
        .any(|thread| thread.id == id && !thread.handle.is_finished())
}

/// Builds a process.
pub struct Builder<'a> {
    name: &'a str,
    image: &'a [u8],
    argument: u64,
    console: Option<ConsoleCapture>,
    expect_fault: bool,
    framebuffer: Option<FramebufferGrant>,
    linux_start: bool,
}

/// The process entry of a Linux-ABI executable (a static musl program): `rsp` points at
/// `argc` (2, 16-byte aligned), followed by `argv` (the process name and `argument` in
/// decimal), a null, an empty environment's null and the auxiliary vector (AT_PHDR, AT_PHENT,
/// AT_PHNUM, AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_NULL), as the x86-64 psABI lays it out; the
/// other registers are 0 (`rdx`, a dynamic loader's atexit hook, included).
fn linux_start_stack(
    space: &mut AddressSpace,
    name: &str,
    argument: u64,
    image: &elf::LoadedImage,
) -> Result<u64, SpawnError> {
    const AT_NULL: u64 = 0;
    const AT_PHDR: u64 = 3;
    const AT_PHENT: u64 = 4;
    const AT_PHNUM: u64 = 5;
    const AT_PAGESZ: u64 = 6;
    const AT_ENTRY: u64 = 9;
    const AT_RANDOM: u64 = 25;
    // Strings and the random bytes at the top, then the vectors below them.
    let mut top = USER_STACK_TOP - 64;
    let mut push_string = |text: &[u8], space: &mut AddressSpace| {
        let bytes: Vec<u8> = text.iter().copied().take(64).chain([0]).collect();
        top -= bytes.len() as u64;
        space.write(top, &bytes).map(|()| top)
    };
    let name_address = push_string(name.as_bytes(), space);
    let argument_address = push_string(format!("{argument}").as_bytes(), space);
    let (Ok(name_address), Ok(argument_address)) = (name_address, argument_address) else {
        return Err(SpawnError::OutOfMemory);
    };
    let random_address = (top & !15) - 16;
    // AT_RANDOM seeds musl's stack protector and pointer mangling: not secret here, only
    // different per process.
    let seed =
        crate::arch::cpu::read_tsc() ^ crate::clock::nanoseconds_since_boot().rotate_left(32);
    let mut random_bytes = [0u8; 16];
    random_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    random_bytes[8..].copy_from_slice(&seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let words: [u64; 19] = [
        2,
        name_address,
        argument_address,
        0,
        0,
        AT_PHDR,
        image.program_headers,
        AT_PHENT,
        56,
        AT_PHNUM,
        image.program_header_count,
        AT_PAGESZ,
        4096,
        AT_ENTRY,
        image.entry,
        AT_RANDOM,
        random_address,
        AT_NULL,
        0,
    ];
    let vector_bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    let start = (random_address - vector_bytes.len() as u64) & !15;
    space
        .write(random_address, &random_bytes)
        .and_then(|()| space.write(start, &vector_bytes))
        .map_err(|_| SpawnError::OutOfMemory)?;
    Ok(start)
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
            linux_start: false,
        }
    }

    /// Starts the executable as a Linux-ABI program (a static musl C/C++ program): the
    /// initial stack holds `argc`, `argv`, `envp` and the auxiliary vector instead of the
    /// dxgos entry's `rdi` argument (see `linux_start_stack`).
    pub fn linux_start(mut self) -> Self {
        self.linux_start = true;
        self
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
        let image = elf::load(self.image, &mut space)?;
        let entry = image.entry;
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
        let registers = if self.linux_start {
            UserRegisters {
                rip: entry,
                rsp: linux_start_stack(&mut space, self.name, self.argument, &image)?,
                rflags: 0x202,
                ..UserRegisters::default()
            }
        } else {
            UserRegisters {
                rip: entry,
                // As after a call: the entry function sees rsp ≡ 8 (mod 16).
                rsp: USER_STACK_TOP - 8,
                rdi: self.argument,
                rflags: 0x202,
                ..UserRegisters::default()
            }
        };
        let id = ProcessId(NEXT_PROCESS_ID.fetch_add(1, Ordering::Relaxed));
        let kill_requested = Arc::new(AtomicBool::new(false));
        let root = space.root();
        let state = Arc::new(ProcessState {
            id,
            name: String::from(self.name),
            root,
            capabilities: Mutex::new(Capabilities {
                space: Some(space),
                gateway: Some(gateway),
                framebuffer: self.framebuffer.map(|grant| FramebufferMapping {
                    grant,
                    address: None,
                }),
                arguments: Vec::new(),
            }),
            console: self.console,
            kill_requested: kill_requested.clone(),
            ending: AtomicBool::new(false),
            exit_code: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
            live_threads: AtomicUsize::new(1),
            memory: Mutex::new(memory::AnonymousMemory::default()),
            futexes: Mutex::new(futex::FutexTable::default()),
            expect_fault: self.expect_fault,
        });
        let thread = Thread {
            id: id.0,
            registers,
            fpu: FpuState::new(),
            fs_base: 0,
            loaded_fs_base: None,
            clear_child_tid: 0,
            previous: user_mode::Exit::SystemCall,
        };
        let task = spawn_thread(&state, thread);
        let supervisor_state = state.clone();
        let supervisor = task::Builder::new(&format!("supervisor {id} {}", self.name))
            .spawn(move || supervise(supervisor_state));
        Ok(ProcessHandle {
            id,
            supervisor,
            task,
            state,
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
    /// The main thread's task.
    task: TaskRef,
    state: Arc<ProcessState>,
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
        self.state.kill_requested.store(true, Ordering::Release);
        end_all_threads(&self.state);
    }

    /// How many threads of the process have not ended yet.
    pub fn live_threads(&self) -> usize {
        self.state.live_threads.load(Ordering::Acquire)
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

/// Starts `thread` of `state` as a task and records it. A CPU exception of its ring-3 code ends
/// it through its ordinary path; fault containment is on for its kernel side, so a contained
/// fault there ends only this task. Either way the supervisor then ends the others.
fn spawn_thread(state: &Arc<ProcessState>, thread: Thread) -> TaskRef {
    let builder = task::Builder::new(&format!(
        "process {} {} thread {}",
        state.id, state.name, thread.id
    ));
    let builder = if state.expect_fault {
        builder.expect_fault()
    } else {
        builder.contain_faults()
    };
    let thread_id = thread.id;
    let thread_state = state.clone();
    let handle = builder.spawn(move || run_thread(thread_state, thread));
    let task = handle.task().clone();
    state.threads.lock().push(ThreadRecord {
        id: thread_id,
        handle,
    });
    task
}

/// Marks the process as ending and interrupts every thread (each ends before ring 3).
fn end_all_threads(state: &ProcessState) {
    state.ending.store(true, Ordering::Release);
    let tasks: Vec<TaskRef> = state
        .threads
        .lock()
        .iter()
        .map(|thread| thread.handle.task().clone())
        .collect();
    for task in tasks {
        task.interrupt();
    }
}

/// The reason threads give when they end because their process ends.
const PROCESS_ENDING: &str = "the process is ending";

/// A thread's task: its ring 3 ↔ system calls loop, then its end (clear-child-tid word, live
/// count, the exit code of the last thread).
fn run_thread(state: Arc<ProcessState>, mut thread: Thread) -> ThreadEnd {
    let end = run(&state, &mut thread);
    address_space::activate_kernel();
    if let Err(ThreadStop::Fault(_)) = end {
        end_all_threads(&state);
    }
    // Only a thread that ends alone clears its word: once the process ends nobody reads it,
    // and another thread may hold the process's lock for as long as the host takes.
    if thread.clear_child_tid != 0 && !state.ending.load(Ordering::Acquire) {
        // As Linux's CLONE_CHILD_CLEARTID: zero the word, wake one waiter (a joiner).
        if linux::write_u32(&state, thread.clear_child_tid, 0).is_ok() {
            futex::wake_address(&state, thread.clear_child_tid, 1);
        }
    }
    let last = state.live_threads.fetch_sub(1, Ordering::AcqRel) == 1;
    if let Ok(code) = end
        && last
    {
        state.exit_code.lock().get_or_insert(code);
    }
    end
}

/// `exit_group`: records the code (the first wins) and ends every thread.
fn exit_group(state: &ProcessState, code: i32) {
    state.exit_code.lock().get_or_insert(code);
    end_all_threads(state);
}

/// `clone` for a new thread of the same process (Linux's CLONE_VM | CLONE_THREAD family, as
/// musl's `pthread_create` asks): the child starts at the same instruction with `rax` = 0, the
/// given stack, the parent's other registers and x87/SSE state; CLONE_SETTLS sets its FS base,
/// CLONE_PARENT_SETTID / CLONE_CHILD_SETTID store its id, CLONE_CHILD_CLEARTID makes the
/// kernel zero and futex-wake that word at its end. No fork: every other combination is
/// refused.
fn clone_thread(
    state: &Arc<ProcessState>,
    thread: &mut Thread,
    arguments: [u64; 6],
) -> linux::LinuxOutcome {
    const CLONE_VM: u64 = 0x100;
    const CLONE_FS: u64 = 0x200;
    const CLONE_FILES: u64 = 0x400;
    const CLONE_SIGHAND: u64 = 0x800;
    const CLONE_THREAD: u64 = 0x10000;
    const CLONE_SYSVSEM: u64 = 0x40000;
    const CLONE_SETTLS: u64 = 0x80000;
    const CLONE_PARENT_SETTID: u64 = 0x100000;
    const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    const CLONE_DETACHED: u64 = 0x400000;
    const CLONE_CHILD_SETTID: u64 = 0x1000000;
    const REQUIRED: u64 = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
    const ALLOWED: u64 = REQUIRED
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_DETACHED
        | CLONE_CHILD_SETTID;
    use linux::LinuxOutcome::Return;
    use linux::errors::{EAGAIN, EFAULT, EINVAL};
    let [flags, stack, parent_tid, child_tid, tls, _] = arguments;
    // The low byte is the exit signal (none for threads).
    if flags & REQUIRED != REQUIRED || flags & !(ALLOWED | 0xff) != 0 {
        return Return(-EINVAL);
    }
    if stack == 0 || stack >= USER_END || (flags & CLONE_SETTLS != 0 && tls >= USER_END) {
        return Return(-EINVAL);
    }
    if state.ending.load(Ordering::Acquire) {
        return Return(-EAGAIN);
    }
    // Threads that have ended but are not reaped yet count until the supervisor reaps them.
    if state.threads.lock().len() >= linux::MAX_THREADS {
        return Return(-EAGAIN);
    }
    let id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
    for (flag, address) in [
        (CLONE_PARENT_SETTID, parent_tid),
        (CLONE_CHILD_SETTID, child_tid),
    ] {
        if flags & flag != 0 && linux::write_u32(state, address, id as u32).is_err() {
            return Return(-EFAULT);
        }
    }
    let mut registers = thread.registers;
    registers.rax = 0;
    registers.rsp = stack;
    // The new thread starts with this one's x87/SSE state, which may be live only.
    thread.fpu.save_now();
    let child = Thread {
        id,
        registers,
        fpu: thread.fpu.duplicate(),
        fs_base: if flags & CLONE_SETTLS != 0 {
            tls
        } else {
            thread.fs_base
        },
        loaded_fs_base: None,
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            child_tid
        } else {
            0
        },
        previous: user_mode::Exit::SystemCall,
    };
    state.live_threads.fetch_add(1, Ordering::AcqRel);
    spawn_thread(state, child);
    Return(id as i64)
}

/// The process task: ring 3 ↔ system calls until exit. `Err` is a kill reason.
fn run(state: &Arc<ProcessState>, thread: &mut Thread) -> ThreadEnd {
    // This thread's x87/SSE registers (arch::fpu): loaded before ring 3 (a no-op when they
    // are still its own), left live after it and saved only when another thread loads.
    loop {
        // Every way a process ends sets `ending`, a kill too (`ProcessHandle::kill` sets
        // `kill_requested` first): one flag on the way to ring 3, the reason once it is set.
        if state.ending.load(Ordering::Acquire) {
            return Err(ThreadStop::Reason(
                if state.kill_requested.load(Ordering::Acquire) {
                    KILLED_BY_OWNER
                } else {
                    PROCESS_ENDING
                },
            ));
        }
        // Without the process's lock: another thread may hold it through a host call.
        if !state.root.activate() {
            return Err("address space gone".into());
        }
        // The FS base is written when another thread may have run in ring 3 since this one
        // (its x87/SSE registers were not kept either) or when `arch_prctl` changed it.
        let residency = thread.fpu.load();
        if residency == Residency::Reloaded || thread.loaded_fs_base != Some(thread.fs_base) {
            thread.loaded_fs_base =
                user_mode::set_thread_pointer(thread.fs_base).then_some(thread.fs_base);
        }
        thread.previous = match user_mode::run(&mut thread.registers, USER_END, thread.previous) {
            Ok(exit) => exit,
            Err(_) => return Err("resumed at an address outside the user range".into()),
        };
        thread.fpu.left_ring3();
        if thread.previous == user_mode::Exit::Faulted {
            return Err(match user_mode::take_fault() {
                Some(fault) => ThreadStop::Fault(fault),
                None => ThreadStop::Reason("left ring 3 with a fault that was not recorded"),
            });
        }
        if thread.previous == user_mode::Exit::Interrupted {
            // Preempted (or being killed): a scheduling point in task context, no lock held.
            task::yield_now();
            continue;
        }
        let Some(number) = syscall::numbers::dxgos_call(thread.registers.rax) else {
            match linux::dispatch(state, thread) {
                linux::LinuxOutcome::Return(value) => thread.registers.rax = value as u64,
                linux::LinuxOutcome::ExitThread(code) => return Ok(code),
                linux::LinuxOutcome::ExitGroup(code) => {
                    exit_group(state, code);
                    return Ok(code);
                }
            }
            continue;
        };
        match dxgos_call(state, number, &thread.registers)? {
            Outcome::Return(value) => thread.registers.rax = value,
            Outcome::Exit(code) => {
                exit_group(state, code);
                return Ok(code);
            }
            // `dxgos_call` has released the capabilities: the process's other threads call on
            // while this one waits (one of them may signal what it waits for).
            Outcome::ReturnAfter(wait) => {
                // A process already ending sends no wait (the loop's top ends the thread).
                if state.ending.load(Ordering::Acquire) {
                    continue;
                }
                thread.registers.rax = syscall::status_register(wait.run())
            }
        }
    }
}

/// Serves dxgos call `number` (the process's capabilities locked for the call: calls of one
/// process are served one at a time; a D3DKMT call's last wait for the host is returned as
/// [`Outcome::ReturnAfter`], made by the caller once the lock is released).
fn dxgos_call(
    state: &ProcessState,
    number: u64,
    registers: &UserRegisters,
) -> Result<Outcome, &'static str> {
    let Ok(mut capabilities) = lock_or_yield(&state.capabilities) else {
        return Err(PROCESS_ENDING);
    };
    let Capabilities {
        space: Some(space),
        gateway: Some(gateway),
        framebuffer,
        arguments,
    } = &mut *capabilities
    else {
        return Err("capabilities gone");
    };
    let mut context = syscall::Context {
        process: state.id,
        space,
        gateway: gateway.as_mut(),
        console: state.console.as_ref(),
        framebuffer: framebuffer.as_mut(),
        arguments,
    };
    Ok(syscall::dispatch(&mut context, number, registers))
}

/// Waits until every thread of the process has ended; ends the others when one faults (or
/// ends for another reason than `exit`); returns the first fault and the first such reason.
fn reap_threads(state: &ProcessState) -> (Option<TaskFault>, Option<&'static str>) {
    let me = task::current();
    let mut fault = None;
    let mut reason = None;
    loop {
        let finished: Vec<ThreadRecord> = {
            let mut threads = state.threads.lock();
            let (finished, running) = core::mem::take(&mut *threads)
                .into_iter()
                .partition(|thread| thread.handle.is_finished());
            *threads = running;
            finished
        };
        for thread in finished {
            match thread.handle.join() {
                Ok(Ok(_)) => {}
                Ok(Err(ThreadStop::Reason(PROCESS_ENDING))) => {}
                Ok(Err(ThreadStop::Reason(why))) => {
                    reason.get_or_insert(why);
                    end_all_threads(state);
                }
                // A fault of ring-3 code, or a contained one of the thread's kernel side.
                Ok(Err(ThreadStop::Fault(error))) | Err(error) => {
                    fault.get_or_insert(error);
                    end_all_threads(state);
                }
            }
        }
        let empty = {
            let threads = state.threads.lock();
            for thread in threads.iter() {
                thread.handle.task().wake_when_finished(&me);
            }
            threads.is_empty()
        };
        if empty {
            return (fault, reason);
        }
        task::park();
    }
}

/// The supervisor: waits for every thread, reports, calls `on_exit`, frees everything.
fn supervise(state: Arc<ProcessState>) -> ProcessExit {
    let (fault, reason) = reap_threads(&state);
    let code = *state.exit_code.lock();
    let exit = if state.kill_requested.load(Ordering::Acquire) {
        ProcessExit::Killed(KILLED_BY_OWNER)
    } else if let Some(fault) = fault {
        ProcessExit::Faulted(fault)
    } else if let Some(reason) = reason {
        ProcessExit::Killed(reason)
    } else {
        match code {
            Some(code) => ProcessExit::Exited(code),
            None => ProcessExit::Killed(PROCESS_ENDING),
        }
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
    let (gateway, space) = match state.capabilities.try_lock() {
        Some(mut capabilities) => (capabilities.gateway.take(), capabilities.space.take()),
        None => (None, None),
    };
    if let Some(mut gateway) = gateway {
        gateway.on_exit(id, &exit);
    }
    address_space::activate_kernel();
    if space.is_none() {
        log::warn!("process {id} ({name}): address space still locked; its pages are leaked");
    }
    drop(space);
    exit
}
