//! The run queue and the context-switch protocol (see the module docs of `task`).
//!
//! Invariants, all under the scheduler lock with interrupts disabled:
//! - `current` is the running task; a task is in `run_queue` at most once, and only when Ready;
//! - `run_queue` and `sleepers` have spare capacity for every live task, so interrupt
//!   handlers can wake tasks without allocating;
//! - [`PREVIOUS`] keeps the task that just switched away alive until the next task has left
//!   its stack (an exited task's stack is freed there); it is an atomic pointer rather than a
//!   field under the lock so that the task switched to releases it without a second lock
//!   round trip.
//!
//! Besides the queue, three atomics serve the timer (read there with the scheduler lock only
//! tried): when the running task got the CPU ([`SLICE_START`], for ring-3 preemption), when
//! the CPU last passed a scheduling point ([`LAST_SCHEDULING_POINT`], for the runaway-task
//! watchdog) and whether the current episode was already reported.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};

use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use super::{
    Completion, RUNAWAY_MILLISECONDS, State, TIME_SLICE_MILLISECONDS, Task, TaskDescription,
    TaskFault, TaskRef,
};
use crate::arch::context;
use crate::ipc::Fifo;
use crate::memory::stacks::KernelStack;

struct Scheduler {
    run_queue: Fifo<TaskRef>,
    current: Option<TaskRef>,
    idle: Option<TaskRef>,
    sleepers: Vec<(u64, TaskRef)>,
    tasks: Vec<TaskRef>,
}

static SCHEDULER: Mutex<Scheduler> = Mutex::new(Scheduler {
    run_queue: Fifo::new(),
    current: None,
    idle: None,
    sleepers: Vec::new(),
    tasks: Vec::new(),
});
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// The task that just switched away (a reference made by `Arc::into_raw`, null when none):
/// kept alive until the task switched to has left its stack ([`finish_switch`]).
static PREVIOUS: AtomicPtr<Task> = AtomicPtr::new(core::ptr::null_mut());
/// The run queue's, the sleepers' and the task list's capacity from the start.
const INITIAL_CAPACITY: usize = 128;

/// Timer tick at which the running task got the CPU.
static SLICE_START: AtomicU64 = AtomicU64::new(0);
/// Timer tick at which the CPU last passed a scheduling point (park, yield, exit).
static LAST_SCHEDULING_POINT: AtomicU64 = AtomicU64::new(0);
/// Whether the watchdog has reported the current episode (cleared at every scheduling point).
static RUNAWAY_REPORTED: AtomicBool = AtomicBool::new(false);
/// How many time slices ended in a preemption since boot.
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// How many runaway episodes the watchdog has reported since boot.
static RUNAWAY_REPORTS: AtomicU64 = AtomicU64::new(0);

/// Records that the current task reached a scheduling point at `now`.
fn note_scheduling_point(now: u64) {
    LAST_SCHEDULING_POINT.store(now, Ordering::Relaxed);
    RUNAWAY_REPORTED.store(false, Ordering::Relaxed);
}

fn new_task(
    name: String,
    entry: Option<Box<dyn super::body::TaskBody>>,
    with_stack: bool,
    contain_faults: bool,
    expects_fault: bool,
) -> TaskRef {
    // A stack above a guard page (`memory::stacks`); its top is 16-byte aligned. Running out
    // of memory for a stack is as fatal as running out of heap was before.
    let mut stack = with_stack.then(|| match KernelStack::new() {
        Ok(stack) => stack,
        Err(error) => panic!("no stack for task {name:?}: {error:?}"),
    });
    let saved_stack_pointer = match stack.as_mut() {
        Some(stack) => context::prepare_stack(stack.words(), task_entry),
        None => 0,
    };
    TaskRef(Arc::new_cyclic(|this| Task {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        name,
        state: AtomicU8::new(State::Ready as u8),
        permit: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
        saved_stack_pointer: AtomicU64::new(saved_stack_pointer),
        _stack: stack,
        entry: Mutex::new(entry),
        completion: Mutex::new(Completion {
            done: false,
            fault: None,
            joiners: Vec::new(),
        }),
        contain_faults,
        expects_fault,
        notification: Arc::new(super::Notification::new(this.clone())),
    }))
}

/// Turns the running boot context into the task "boot" and creates the idle task.
pub fn init() {
    let boot = new_task(String::from("boot"), None, false, false, false);
    boot.set_state(State::Running);
    let idle = new_task(
        String::from("idle"),
        Some(Box::new(super::body::OnceBody::new(idle_loop))),
        true,
        false,
        false,
    );
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        // Sized once for more tasks than the kernel runs at once, so that the queues do not
        // grow the heap as tasks come and go (the chaos run compares heap use).
        scheduler.run_queue.reserve(INITIAL_CAPACITY);
        scheduler.sleepers.reserve(INITIAL_CAPACITY);
        scheduler.tasks.reserve(INITIAL_CAPACITY);
        scheduler.tasks.push(boot.clone());
        scheduler.current = Some(boot);
        scheduler.idle = Some(idle);
    });
}

/// The idle task: halts until an interrupt makes a task ready. Its whole time (the halts and
/// the interrupt handlers that run meanwhile) is counted as not the guest's work
/// ([`crate::host_time`]).
fn idle_loop() {
    crate::host_time::idle_started();
    loop {
        x86_64::instructions::interrupts::disable();
        if SCHEDULER.lock().run_queue.is_empty() {
            crate::arch::cpu::enable_interrupts_and_halt();
        } else {
            crate::host_time::idle_ended();
            switch_away();
            crate::host_time::idle_started();
            x86_64::instructions::interrupts::enable();
        }
    }
}

pub(super) fn spawn_task(
    name: String,
    entry: Box<dyn super::body::TaskBody>,
    contain_faults: bool,
    expects_fault: bool,
) -> TaskRef {
    let task = new_task(name, Some(entry), true, contain_faults, expects_fault);
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        scheduler.tasks.push(task.clone());
        let needed = scheduler.tasks.len() + 2;
        let queued = scheduler.run_queue.len();
        scheduler.run_queue.reserve(needed.saturating_sub(queued));
        let sleeping = scheduler.sleepers.len();
        scheduler.sleepers.reserve(needed.saturating_sub(sleeping));
        scheduler.run_queue.push_back(task.clone());
    });
    task
}

/// The first code a new task runs (entered by `ret` from the context switch).
extern "C" fn task_entry() -> ! {
    finish_switch();
    x86_64::instructions::interrupts::enable();
    // The body runs in place in the control block: nothing owned stays on this stack.
    super::body::run_in_place(current());
    exit_current(None)
}

/// The running task.
pub fn current() -> TaskRef {
    without_interrupts(|| SCHEDULER.lock().current.clone())
        .expect("task::current called before task::init")
}

/// The running task's [`super::Notification`] (for `ipc::select`).
pub fn current_notification() -> Arc<super::Notification> {
    without_interrupts(|| {
        SCHEDULER
            .lock()
            .current
            .as_ref()
            .map(|task| task.0.notification.clone())
    })
    .expect("task::current_notification called before task::init")
}

pub(super) fn current_description() -> TaskDescription {
    match SCHEDULER.try_lock() {
        Some(scheduler) => match scheduler.current.as_ref() {
            Some(task) => {
                TaskDescription::new(&task.0.name, task.0.contain_faults, task.0.expects_fault)
            }
            None => TaskDescription::new("<before tasks>", false, false),
        },
        None => TaskDescription::new("<scheduler busy>", false, false),
    }
}

/// Switches to the next ready task (or idle). The caller has set the current task's state and
/// disabled interrupts. Returns when the current task runs again.
fn switch_away() {
    switch_away_locked(SCHEDULER.lock());
}

/// [`switch_away`] with the scheduler lock already held (released before the switch).
fn switch_away_locked(mut scheduler: spin::MutexGuard<'_, Scheduler>) {
    let now = crate::clock::ticks();
    note_scheduling_point(now);
    let (save, next_stack_pointer) = {
        let Some(current) = scheduler.current.take() else {
            return;
        };
        let next = match scheduler.run_queue.pop_front() {
            Some(next) => next,
            None if current.state() == State::Running => {
                scheduler.current = Some(current);
                return;
            }
            None => scheduler.idle.clone().expect("idle task exists after init"),
        };
        if next.same_task(&current) {
            current.set_state(State::Running);
            scheduler.current = Some(current);
            return;
        }
        next.set_state(State::Running);
        SLICE_START.store(now, Ordering::Relaxed);
        let save = current.0.saved_stack_pointer.as_ptr();
        let next_stack_pointer = next.0.saved_stack_pointer.load(Ordering::Acquire);
        // `finish_switch` on the next task takes this reference back (every switch is
        // followed by one, and interrupts stay disabled in between, so none is overwritten).
        let stale = PREVIOUS.swap(Arc::into_raw(current.0).cast_mut(), Ordering::AcqRel);
        debug_assert!(stale.is_null(), "a switch without finish_switch");
        scheduler.current = Some(next);
        (save, next_stack_pointer)
    };
    drop(scheduler);
    // SAFETY: interrupts are disabled (callers guarantee it); `save` points into the previous
    // task's control block, which `PREVIOUS` keeps alive until `finish_switch` runs on the
    // next task; `next_stack_pointer` was saved by `switch` or made by `prepare_stack` for a
    // task whose stack its control block (held in `current`) still owns.
    unsafe { context::switch(save, next_stack_pointer) };
    finish_switch();
}

/// Runs on the new task right after a switch: releases the previous task (freeing its stack if
/// it has exited).
fn finish_switch() {
    let previous = PREVIOUS.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !previous.is_null() {
        // SAFETY: a non-null `PREVIOUS` was made by `Arc::into_raw` in `switch_away_locked`
        // and is taken back exactly once (the swap clears it); the task's stack was left by
        // the switch that brought us here, so its control block and stack may be freed now.
        drop(unsafe { Arc::from_raw(previous) });
    }
}

/// Blocks the current task until [`unpark`] (returns at once if a permit is pending). One
/// scheduler lock round trip: the permit check, the state change and the switch.
pub fn park() {
    debug_assert!(
        !crate::arch::interrupt_entry::in_interrupt(),
        "park called in interrupt context"
    );
    without_interrupts(|| {
        let scheduler = SCHEDULER.lock();
        let me = scheduler
            .current
            .as_ref()
            .expect("task::park called before task::init");
        if me.0.permit.swap(false, Ordering::AcqRel) {
            return;
        }
        me.set_state(State::Blocked);
        switch_away_locked(scheduler);
    });
}

fn unpark_locked(scheduler: &mut Scheduler, task: TaskRef) {
    if task.state() == State::Blocked {
        task.set_state(State::Ready);
        scheduler.run_queue.push_back(task);
    } else {
        task.0.permit.store(true, Ordering::Release);
    }
}

/// Wakes `task` (see [`TaskRef::unpark`]).
pub(super) fn unpark(task: TaskRef) {
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        unpark_locked(&mut scheduler, task);
    });
}

/// Lets every other ready task run once before the current one continues.
pub fn yield_now() {
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        if scheduler.run_queue.is_empty() {
            note_scheduling_point(crate::clock::ticks());
            return;
        }
        let me = scheduler.current.clone().expect("a current task");
        me.set_state(State::Ready);
        scheduler.run_queue.push_back(me);
        switch_away_locked(scheduler);
    });
}

/// Parks the current task until the timer reaches `deadline` (or an earlier unpark).
pub(super) fn sleep_until(deadline: u64) {
    without_interrupts(|| {
        {
            let mut scheduler = SCHEDULER.lock();
            let me = scheduler.current.clone().expect("a current task");
            scheduler.sleepers.push((deadline, me));
        }
        park();
    });
}

/// Removes the current task's pending sleeps (after it was woken before its deadline), so it
/// holds at most one sleeper slot and no stale wake-up reaches a later wait.
pub(super) fn cancel_sleep() {
    without_interrupts(|| remove_current_sleeps(&mut SCHEDULER.lock()));
}

/// [`cancel_sleep`] with the lock held; compares control-block addresses, so no reference
/// to the current task is taken.
fn remove_current_sleeps(scheduler: &mut Scheduler) {
    let Some(me) = scheduler.current.as_ref().map(|task| Arc::as_ptr(&task.0)) else {
        return;
    };
    if scheduler.sleepers.is_empty() {
        return;
    }
    scheduler
        .sleepers
        .retain(|(_, task)| !core::ptr::eq(Arc::as_ptr(&task.0), me));
}

/// Parks the current task until the timer reaches `deadline` or something unparks it
/// (returns at once if a permit is pending), then drops its sleeper entry if the timer has
/// not: [`sleep_until`], [`park`] and [`cancel_sleep`] in two scheduler lock round trips
/// instead of four, without a second reference to the task.
pub(super) fn park_until(deadline: u64) {
    debug_assert!(
        !crate::arch::interrupt_entry::in_interrupt(),
        "park_until called in interrupt context"
    );
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        let me = scheduler
            .current
            .clone()
            .expect("task::park_until called before task::init");
        if me.0.permit.swap(false, Ordering::AcqRel) {
            return;
        }
        me.set_state(State::Blocked);
        scheduler.sleepers.push((deadline, me));
        switch_away_locked(scheduler);
        remove_current_sleeps(&mut SCHEDULER.lock());
    });
}

/// Called from the timer interrupt: wakes every sleeper whose deadline has passed.
pub fn wake_sleepers(now: u64) {
    let Some(mut scheduler) = SCHEDULER.try_lock() else {
        return;
    };
    let mut index = 0;
    while index < scheduler.sleepers.len() {
        if scheduler.sleepers[index].0 <= now {
            let (_, task) = scheduler.sleepers.swap_remove(index);
            unpark_locked(&mut scheduler, task);
        } else {
            index += 1;
        }
    }
}

/// Whether the task running in ring 3 should give the CPU back now: it was interrupted (a
/// kill), or it has run for a time slice while other tasks are ready. Called in interrupt
/// context for interrupts that arrived in ring 3 (so no task holds the scheduler lock; it is
/// only tried).
pub fn preemption_due() -> bool {
    let Some(scheduler) = SCHEDULER.try_lock() else {
        return false;
    };
    let Some(current) = scheduler.current.as_ref() else {
        return false;
    };
    if current.is_interrupted() {
        return true;
    }
    let running_for = crate::clock::ticks().saturating_sub(SLICE_START.load(Ordering::Relaxed));
    let due = !scheduler.run_queue.is_empty()
        && running_for >= crate::clock::milliseconds_to_ticks(TIME_SLICE_MILLISECONDS);
    if due {
        PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    }
    due
}

/// How many times a process was preempted at the end of its time slice since boot.
pub fn preemptions() -> u64 {
    PREEMPTIONS.load(Ordering::Relaxed)
}

/// The runaway-task watchdog, called on every timer tick (interrupt context): when the
/// running task (not idle) has not reached a scheduling point for [`RUNAWAY_MILLISECONDS`]
/// while other tasks are ready, prints its name on the console, once per episode. Kernel code
/// is not preempted, so this is a report, not a cure; the kernel goes on.
pub fn check_runaway(now: u64) {
    let since = now.saturating_sub(LAST_SCHEDULING_POINT.load(Ordering::Relaxed));
    if since < crate::clock::milliseconds_to_ticks(RUNAWAY_MILLISECONDS)
        || RUNAWAY_REPORTED.load(Ordering::Relaxed)
    {
        return;
    }
    let Some(scheduler) = SCHEDULER.try_lock() else {
        return;
    };
    let (Some(current), Some(idle)) = (scheduler.current.as_ref(), scheduler.idle.as_ref()) else {
        return;
    };
    if current.same_task(idle) || scheduler.run_queue.is_empty() {
        return;
    }
    RUNAWAY_REPORTED.store(true, Ordering::Relaxed);
    RUNAWAY_REPORTS.fetch_add(1, Ordering::Relaxed);
    // Tasks take the console lock only with interrupts disabled, so it is free here.
    crate::serial::write_fmt(format_args!(
        "watchdog: task {} ({:?}) has not reached a scheduling point for {} ms while {} \
         task(s) wait; kernel code is not preempted\n",
        current.0.id,
        current.0.name,
        since * 1000 / u64::from(crate::clock::TICK_HZ),
        scheduler.run_queue.len()
    ));
}

/// How many runaway episodes [`check_runaway`] has reported since boot.
pub fn runaway_reports() -> u64 {
    RUNAWAY_REPORTS.load(Ordering::Relaxed)
}

/// Ends the current task (with `fault` when an exception ended it) and never returns.
pub(super) fn exit_current(fault: Option<TaskFault>) -> ! {
    x86_64::instructions::interrupts::disable();
    let me = current();
    // No source may wake (and so briefly own) a task that is going away: see
    // `task::notification`'s module docs.
    me.0.notification.disarm();
    let joiners = {
        let mut completion = me.0.completion.lock();
        completion.done = true;
        completion.fault = fault;
        core::mem::take(&mut completion.joiners)
    };
    {
        let mut scheduler = SCHEDULER.lock();
        for joiner in joiners {
            unpark_locked(&mut scheduler, joiner);
        }
        me.set_state(State::Exited);
        scheduler.tasks.retain(|task| !task.same_task(&me));
    }
    drop(me);
    switch_away();
    unreachable!("an exited task was scheduled again");
}
