//! Kernel tasks: spawn, join, yield, sleep, park/unpark.
//!
//! Scheduling on one processor (docs/kernel.md, "Scheduling"): kernel code is cooperative
//! run-to-block, ring 3 is preempted.
//!
//! - A task running kernel code runs until it blocks (receiving from an empty channel, sending
//!   to a full one, joining, sleeping, waiting on an interrupt signal) or yields. Interrupt
//!   handlers never switch tasks away from kernel code; they only make tasks ready (the timer
//!   wakes sleepers, an [`crate::ipc::InterruptSignal`] wakes its waiter), and the woken task
//!   runs at the next scheduling point or, when the processor idles, at once. Why: the
//!   kernel's locks are plain `spin` locks that do not disable interrupts, so preempting a
//!   holder would deadlock the next locker; our drivers are sans-I/O state machines that block
//!   often anyway, and every interleaving of kernel code happens at a visible blocking call.
//! - A process task running in ring 3 is preempted: an interrupt that arrives in ring 3 when
//!   the task has used its time slice ([`TIME_SLICE_MILLISECONDS`]) while other tasks are
//!   ready, or when the task was [interrupted](TaskRef::interrupt), makes it leave ring 3
//!   (`arch::user_mode`), and it yields at an ordinary scheduling point. No kernel code was
//!   running, so no lock is held across that switch.
//! - A runaway kernel task (one that has not reached a scheduling point for
//!   [`RUNAWAY_MILLISECONDS`] while other tasks are ready) cannot be preempted; the timer's
//!   watchdog reports it by name on the console, once per episode, and the kernel goes on.
//!
//! A task can be [interrupted](TaskRef::interrupt) (a process being killed): the flag stays set,
//! the task is unparked, and the waits a system call may block in (channel receives with a
//! deadline, `Client::call_until`, the Sleep call) return early with a typed error, so the
//! process task gets back to its loop and ends.
//!
//! Blocking is built on one primitive, [`park`]/[`TaskRef::unpark`] with a permit (like
//! `std::thread::park`): a wake-up that arrives before the task parks is not lost. Everything
//! that touches the scheduler does so with interrupts disabled, so interrupt handlers may
//! unpark tasks; the run queue keeps capacity for every live task, so waking never allocates.
//!
//! A task spawned with fault containment that takes a CPU exception or panics is ended with a
//! [`TaskFault`] its joiner receives, unless the fault came while a kernel-global lock was held
//! (interrupts disabled, or inside the heap allocator: [`global_locks_held`]), which stops the
//! kernel like any fault in an uncontained task (see `arch::exceptions` and the panic handler).
//! What the task owns that must be released when it ends lives in a [`TaskSlot`], since an
//! abandoned stack is never unwound (ARCHITECTURE.md, "Containment").

// The context switch (`arch::context::switch`) is called here, under the scheduler's
// invariants; ARCHITECTURE.md lists this module.
#[allow(unsafe_code)]
mod scheduler;
// Forces open the lock an abandoned task's guard left held (see its module docs).
#[allow(unsafe_code)]
mod owned;
// Runs a task's body in place in its control block (see its module docs).
#[allow(unsafe_code)]
mod body;
mod notification;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use spin::Mutex;

pub use notification::{Notification, Watchers};
pub use owned::{SlotGuard, TaskSlot};
pub use scheduler::{
    check_runaway, current, current_notification, init, park, preemption_due, preemptions,
    runaway_reports, wake_sleepers, yield_now,
};

/// How long a process may run in ring 3 while other tasks are ready before it is preempted:
/// 10 ms, ten ticks of the 1 kHz timer (short enough that a spinning process delays a driver
/// task's reaction only by milliseconds, long enough that switching costs stay far below 1 %).
pub const TIME_SLICE_MILLISECONDS: u64 = 10;
/// How long a task may run kernel code without reaching a scheduling point, while other tasks
/// are ready, before the watchdog reports it: 2 s (no driver's work between two blocking
/// calls comes near it; a loaded machine's stalls are far shorter).
pub const RUNAWAY_MILLISECONDS: u64 = 2_000;

/// Size of each task's stack.
pub const STACK_SIZE: usize = 64 * 1024;

/// A CPU exception that ended a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskFault {
    /// The exception vector.
    pub vector: u8,
    /// The exception's name.
    pub name: &'static str,
    /// The CPU's error code (0 when the exception has none).
    pub error_code: u64,
    /// Address of the faulting instruction.
    pub instruction: u64,
    /// The faulting address (CR2) for page faults, else 0.
    pub address: u64,
}

/// The [`TaskFault::vector`] of a contained panic (not a CPU vector).
pub const PANIC_VECTOR: u8 = 0xfe;

impl TaskFault {
    /// A contained panic.
    pub fn panic() -> TaskFault {
        TaskFault {
            vector: PANIC_VECTOR,
            name: "panic",
            error_code: 0,
            instruction: 0,
            address: 0,
        }
    }

    /// A short reason for logs: `panic`, `stack overflow` (a page fault in a stack's guard
    /// page), `page fault`, or the exception's name.
    pub fn reason(&self) -> &'static str {
        match self.vector {
            PANIC_VECTOR => "panic",
            14 if crate::memory::stacks::guard_slot(self.address).is_some() => "stack overflow",
            14 => "page fault",
            _ => self.name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Ready = 0,
    Running = 1,
    Blocked = 2,
    Exited = 3,
}

/// How a task ended, and who waits for it.
struct Completion {
    done: bool,
    fault: Option<TaskFault>,
    joiners: Vec<TaskRef>,
}

/// A kernel task's control block.
pub struct Task {
    id: u64,
    name: String,
    state: AtomicU8,
    permit: AtomicBool,
    /// Set by [`TaskRef::interrupt`]; never cleared (the task is being ended).
    interrupted: AtomicBool,
    saved_stack_pointer: AtomicU64,
    /// Owned only to be freed with the task (the context switch uses raw stack pointers).
    _stack: Option<crate::memory::stacks::KernelStack>,
    /// What the task runs, and its result (`body`): kept here, not on the task's stack.
    entry: Mutex<Option<Box<dyn body::TaskBody>>>,
    completion: Mutex<Completion>,
    contain_faults: bool,
    expects_fault: bool,
    /// The task's wake-up point for `ipc::select` (the sources it waits on keep this, never
    /// the task).
    notification: Arc<Notification>,
}

/// A shared reference to a task.
#[derive(Clone)]
pub struct TaskRef(Arc<Task>);

impl TaskRef {
    /// The task's unique id.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether two references name the same task.
    pub fn same_task(&self, other: &TaskRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether the task has ended (returned, or was ended by a contained fault).
    pub fn is_finished(&self) -> bool {
        self.0.completion.lock().done
    }

    /// Makes the task runnable if it is parked, or lets its next [`park`] return at once.
    /// Callable from interrupt handlers: it never allocates.
    pub fn unpark(&self) {
        scheduler::unpark(self.clone());
    }

    /// [`Self::unpark`], handing this reference to the run queue instead of cloning it (a
    /// waker that owns a reference saves a reference-count round trip).
    pub fn wake(self) {
        scheduler::unpark(self);
    }

    /// Asks the task to stop waiting and give up the CPU (a process being killed): sets its
    /// interrupted flag for good and unparks it. Its interruptible waits then return early, and
    /// if it is running in ring 3 the next interrupt takes it out (see the module docs).
    pub fn interrupt(&self) {
        self.0.interrupted.store(true, Ordering::Release);
        scheduler::unpark(self.clone());
    }

    /// Whether [`Self::interrupt`] was called.
    pub fn is_interrupted(&self) -> bool {
        self.0.interrupted.load(Ordering::Acquire)
    }

    /// Unparks `waiter` once this task has ended (at once if it has): a task watching several
    /// others (a process's supervisor, one per user thread) parks until any of them ends.
    /// Registering the same waiter twice before the end wakes it once.
    pub fn wake_when_finished(&self, waiter: &TaskRef) {
        let done = {
            let mut completion = self.0.completion.lock();
            if !completion.done
                && !completion
                    .joiners
                    .iter()
                    .any(|joiner| joiner.same_task(waiter))
            {
                completion.joiners.push(waiter.clone());
            }
            completion.done
        };
        if done {
            waiter.unpark();
        }
    }

    /// Whether the task is parked (waiting), as opposed to ready, running or ended.
    pub fn is_blocked(&self) -> bool {
        self.state() == State::Blocked
    }

    fn state(&self) -> State {
        match self.0.state.load(Ordering::Acquire) {
            0 => State::Ready,
            1 => State::Running,
            2 => State::Blocked,
            _ => State::Exited,
        }
    }

    fn set_state(&self, state: State) {
        self.0.state.store(state as u8, Ordering::Release);
    }
}

impl core::fmt::Debug for TaskRef {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "task {} {:?}", self.0.id, self.0.name)
    }
}

/// Owner's handle of a spawned task: join it for the closure's return value (kept in the
/// task's control block until then).
pub struct TaskHandle<T> {
    task: TaskRef,
    result: core::marker::PhantomData<fn() -> T>,
}

impl<T: 'static> TaskHandle<T> {
    /// The task.
    pub fn task(&self) -> &TaskRef {
        &self.task
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.0.completion.lock().done
    }

    /// Waits for the task to end; returns its value, or the fault that ended it.
    pub fn join(self) -> Result<T, TaskFault> {
        let me = current();
        loop {
            {
                let mut completion = self.task.0.completion.lock();
                if completion.done {
                    if let Some(fault) = completion.fault {
                        return Err(fault);
                    }
                    break;
                }
                if !completion
                    .joiners
                    .iter()
                    .any(|joiner| joiner.same_task(&me))
                {
                    completion.joiners.push(me.clone());
                }
            }
            park();
        }
        let value = self
            .task
            .0
            .entry
            .lock()
            .take()
            .and_then(|mut body| body.take_result())
            .and_then(|result| result.downcast::<T>().ok())
            .map(|result| *result);
        // A task that ended without a fault stored its value before it ended.
        value.ok_or(TaskFault {
            vector: 0xff,
            name: "task ended without a result",
            error_code: 0,
            instruction: 0,
            address: 0,
        })
    }
}

/// Builds a task with options.
pub struct Builder {
    name: String,
    contain_faults: bool,
    expects_fault: bool,
}

impl Builder {
    /// A task called `name`.
    pub fn new(name: &str) -> Builder {
        Builder {
            name: String::from(name),
            contain_faults: false,
            expects_fault: false,
        }
    }

    /// A CPU exception in this task ends only the task (its joiner gets the [`TaskFault`])
    /// instead of stopping the kernel.
    pub fn contain_faults(mut self) -> Builder {
        self.contain_faults = true;
        self
    }

    /// Like [`Self::contain_faults`], and the report calls the exception expected (for tests
    /// that provoke one).
    pub fn expect_fault(mut self) -> Builder {
        self.contain_faults = true;
        self.expects_fault = true;
        self
    }

    /// Spawns the task running `body`; it becomes ready at once. What `body` captures is moved
    /// onto the task's stack when it runs, so a task that may be ended by a contained fault
    /// (which never unwinds its stack) should own its state through [`Self::spawn_in_slot`].
    pub fn spawn<T, F>(self, body: F) -> TaskHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn_body(Box::new(body::OnceBody::new(body)))
    }

    /// Spawns the task running `body` with `slot` entered (`None` if the slot was empty or
    /// already entered): the slot's reference, the body and its result stay in the task's
    /// control block, so a contained fault leaves nothing owned on the abandoned stack.
    pub fn spawn_in_slot<S, T, F>(self, slot: TaskSlot<S>, body: F) -> TaskHandle<T>
    where
        S: Send + 'static,
        T: Send + 'static,
        F: for<'a> FnOnce(Option<SlotGuard<'a, S>>) -> T + Send + 'static,
    {
        self.spawn_body(Box::new(body::SlotBody::new(slot, body)))
    }

    fn spawn_body<T>(self, body: Box<dyn body::TaskBody>) -> TaskHandle<T> {
        let task = scheduler::spawn_task(self.name, body, self.contain_faults, self.expects_fault);
        TaskHandle {
            task,
            result: core::marker::PhantomData,
        }
    }
}

/// Spawns a task called `name` running `body`.
pub fn spawn<T, F>(name: &str, body: F) -> TaskHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    Builder::new(name).spawn(body)
}

/// Blocks the current task for at least `milliseconds`.
pub fn sleep_milliseconds(milliseconds: u64) {
    let deadline = crate::clock::ticks()
        .saturating_add(crate::clock::milliseconds_to_ticks(milliseconds).max(1));
    while crate::clock::ticks() < deadline {
        scheduler::sleep_until(deadline);
    }
}

/// The current task was [interrupted](TaskRef::interrupt) during a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// Like [`sleep_milliseconds`], but returns `Err(Interrupted)` as soon as the current task is
/// interrupted (the Sleep system call: a process being killed must not sleep on).
pub fn sleep_milliseconds_interruptible(milliseconds: u64) -> Result<(), Interrupted> {
    let deadline = crate::clock::ticks()
        .saturating_add(crate::clock::milliseconds_to_ticks(milliseconds).max(1));
    let me = current();
    while crate::clock::ticks() < deadline {
        if me.is_interrupted() {
            scheduler::cancel_sleep();
            return Err(Interrupted);
        }
        scheduler::sleep_until(deadline);
    }
    Ok(())
}

/// Blocks the current task until the timer reaches `deadline` (in [`crate::clock::ticks`]) or
/// something unparks it, whichever comes first. Callers re-check their condition.
pub fn park_until(deadline: u64) {
    if crate::clock::ticks() < deadline {
        scheduler::park_until(deadline);
    }
}

/// What the exception handler needs to know about the running task (copied, so no lock is
/// held while reporting).
pub struct TaskDescription {
    name: [u8; 32],
    name_length: usize,
    /// Whether its faults are contained.
    pub contain_faults: bool,
    /// Whether it expects a fault.
    pub expects_fault: bool,
}

impl TaskDescription {
    fn new(name: &str, contain_faults: bool, expects_fault: bool) -> TaskDescription {
        let mut length = name.len().min(32);
        while !name.is_char_boundary(length) {
            length -= 1;
        }
        let mut buffer = [0; 32];
        buffer[..length].copy_from_slice(&name.as_bytes()[..length]);
        TaskDescription {
            name: buffer,
            name_length: length,
            contain_faults,
            expects_fault,
        }
    }

    /// The task's name (truncated to 32 bytes).
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_length]).unwrap_or("?")
    }
}

/// Describes the running task without locking (safe to call from exception handlers).
pub fn current_task_description() -> TaskDescription {
    scheduler::current_description()
}

/// Ends the running task with `fault` (called by the exception handler, interrupts disabled).
pub fn abandon_current(fault: TaskFault) -> ! {
    scheduler::exit_current(Some(fault))
}

/// Whether a kernel-global lock may be held by the code that faulted: the scheduler's, the
/// frame allocator's, the page tables', the stack pool's and the console's are taken only with
/// interrupts disabled (`interrupts_were_enabled` false), the heap's is counted by the
/// allocator. A fault then is never contained: the lock could not be released.
pub fn global_locks_held(interrupts_were_enabled: bool) -> bool {
    !interrupts_were_enabled || crate::memory::heap::is_busy()
}

/// Called by the panic handler: the fault that ends the running task, when the panic can be
/// contained — a task spawned with fault containment, not in interrupt context, no
/// kernel-global lock held ([`global_locks_held`]). `None`: the panic stops the kernel.
pub fn contain_panic(interrupts_were_enabled: bool) -> Option<(TaskFault, TaskDescription)> {
    if crate::arch::interrupt_entry::in_interrupt() || global_locks_held(interrupts_were_enabled) {
        return None;
    }
    let task = current_task_description();
    task.contain_faults.then(|| (TaskFault::panic(), task))
}
