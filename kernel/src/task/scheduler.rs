//! The run queue and the context-switch protocol (see the module docs of `task`).
//!
//! Invariants, all under the scheduler lock with interrupts disabled:
//! - `current` is the running task; a task is in `run_queue` at most once, and only when Ready;
//! - `run_queue` and `sleepers` have spare capacity for every live task, so interrupt
//!   handlers can wake tasks without allocating;
//! - `previous` keeps the task that just switched away alive until the next task has left its
//!   stack (an exited task's stack is freed there).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use super::{Completion, State, Task, TaskDescription, TaskFault, TaskRef};
use crate::arch::context;
use crate::memory::stacks::KernelStack;

struct Scheduler {
    run_queue: VecDeque<TaskRef>,
    current: Option<TaskRef>,
    previous: Option<TaskRef>,
    idle: Option<TaskRef>,
    sleepers: Vec<(u64, TaskRef)>,
    tasks: Vec<TaskRef>,
}

static SCHEDULER: Mutex<Scheduler> = Mutex::new(Scheduler {
    run_queue: VecDeque::new(),
    current: None,
    previous: None,
    idle: None,
    sleepers: Vec::new(),
    tasks: Vec::new(),
});
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// The run queue's, the sleepers' and the task list's capacity from the start.
const INITIAL_CAPACITY: usize = 128;

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
    TaskRef(Arc::new(Task {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        name,
        state: AtomicU8::new(State::Ready as u8),
        permit: AtomicBool::new(false),
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

fn idle_loop() {
    loop {
        x86_64::instructions::interrupts::disable();
        if SCHEDULER.lock().run_queue.is_empty() {
            crate::arch::cpu::enable_interrupts_and_halt();
        } else {
            switch_away();
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
    let (save, next_stack_pointer) = {
        let mut scheduler = SCHEDULER.lock();
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
        let save = current.0.saved_stack_pointer.as_ptr();
        let next_stack_pointer = next.0.saved_stack_pointer.load(Ordering::Acquire);
        scheduler.previous = Some(current);
        scheduler.current = Some(next);
        (save, next_stack_pointer)
    };
    // SAFETY: interrupts are disabled (callers guarantee it); `save` points into the previous
    // task's control block, which `previous` keeps alive until `finish_switch` runs on the
    // next task; `next_stack_pointer` was saved by `switch` or made by `prepare_stack` for a
    // task whose stack its control block (held in `current`) still owns.
    unsafe { context::switch(save, next_stack_pointer) };
    finish_switch();
}

/// Runs on the new task right after a switch: releases the previous task (freeing its stack if
/// it has exited).
fn finish_switch() {
    let previous = SCHEDULER.lock().previous.take();
    drop(previous);
}

/// Blocks the current task until [`unpark`] (returns at once if a permit is pending).
pub fn park() {
    debug_assert!(
        !crate::arch::interrupt_entry::in_interrupt(),
        "park called in interrupt context"
    );
    without_interrupts(|| {
        let me = current();
        if me.0.permit.swap(false, Ordering::AcqRel) {
            return;
        }
        me.set_state(State::Blocked);
        drop(me);
        switch_away();
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
pub(super) fn unpark(task: &TaskRef) {
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        unpark_locked(&mut scheduler, task.clone());
    });
}

/// Lets every other ready task run once before the current one continues.
pub fn yield_now() {
    without_interrupts(|| {
        {
            let mut scheduler = SCHEDULER.lock();
            if scheduler.run_queue.is_empty() {
                return;
            }
            let me = scheduler.current.clone().expect("a current task");
            me.set_state(State::Ready);
            scheduler.run_queue.push_back(me);
        }
        switch_away();
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
    without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        let Some(me) = scheduler.current.clone() else {
            return;
        };
        scheduler.sleepers.retain(|(_, task)| !task.same_task(&me));
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

/// Ends the current task (with `fault` when an exception ended it) and never returns.
pub(super) fn exit_current(fault: Option<TaskFault>) -> ! {
    x86_64::instructions::interrupts::disable();
    let me = current();
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
