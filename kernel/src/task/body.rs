//! What a task runs, kept in its control block so that a task ended by a contained fault
//! leaves nothing owned on its abandoned stack.
//!
//! An abandoned stack is never unwound: whatever it owned is never dropped. So the spawn
//! machinery keeps nothing owned there. The body and its result live in a box in the task's
//! control block; the task runs the body in place, through a pointer into that box, and
//! stores its result there; whoever joins takes the result, and the box goes with the control
//! block (the joiner's handle and the scheduler's references are its owners), whether the task
//! returned or was abandoned.
//!
//! What a body closure captures by value is still moved onto the task's stack when it runs
//! (a `FnOnce` is consumed by its call), so a body that may be abandoned captures nothing it
//! owns: [`SlotBody`] keeps the task's [`TaskSlot`] in the box and hands the body a guard
//! that borrows it (`task::Builder::spawn_in_slot`), which is how the driver tasks are spawned.
//!
//! The one `unsafe`: the task dereferences the pointer to its own body in the box. The box is
//! not touched by anyone else while the task runs (the joiner takes it only once the task's
//! completion is done), and the control block outlives the task's run (the scheduler holds a
//! reference to it in its task list until the task has exited and switched away).

use alloc::boxed::Box;
use core::any::Any;

use super::TaskRef;
use super::owned::{SlotGuard, TaskSlot};

/// A task's body and, once it has run, its result.
pub(super) trait TaskBody: Send {
    /// Runs the body (once; later calls do nothing).
    fn run(&mut self);
    /// The body's result, once it has returned.
    fn take_result(&mut self) -> Option<Box<dyn Any + Send>>;
}

/// A body closure without a slot.
pub(super) struct OnceBody<F, T> {
    body: Option<F>,
    result: Option<T>,
}

impl<F, T> OnceBody<F, T> {
    /// A body running `body`.
    pub(super) fn new(body: F) -> OnceBody<F, T> {
        OnceBody {
            body: Some(body),
            result: None,
        }
    }
}

impl<F, T> TaskBody for OnceBody<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send + 'static,
{
    fn run(&mut self) {
        if let Some(body) = self.body.take() {
            self.result = Some(body());
        }
    }

    fn take_result(&mut self) -> Option<Box<dyn Any + Send>> {
        self.result
            .take()
            .map(|result| Box::new(result) as Box<dyn Any + Send>)
    }
}

/// A body that runs with its task's slot entered; the slot's reference stays here, not on
/// the task's stack.
pub(super) struct SlotBody<S, F, T> {
    slot: TaskSlot<S>,
    body: Option<F>,
    result: Option<T>,
}

impl<S, F, T> SlotBody<S, F, T> {
    /// A body running `body` with `slot` entered.
    pub(super) fn new(slot: TaskSlot<S>, body: F) -> SlotBody<S, F, T> {
        SlotBody {
            slot,
            body: Some(body),
            result: None,
        }
    }
}

impl<S, F, T> TaskBody for SlotBody<S, F, T>
where
    S: Send,
    F: for<'a> FnOnce(Option<SlotGuard<'a, S>>) -> T + Send,
    T: Send + 'static,
{
    fn run(&mut self) {
        if let Some(body) = self.body.take() {
            self.result = Some(body(self.slot.enter()));
        }
    }

    fn take_result(&mut self) -> Option<Box<dyn Any + Send>> {
        self.result
            .take()
            .map(|result| Box::new(result) as Box<dyn Any + Send>)
    }
}

/// Runs `task`'s body (`task` is the running task; the reference is dropped before the body
/// runs, so the abandoned stack holds none).
pub(super) fn run_in_place(task: TaskRef) {
    let body: Option<*mut dyn TaskBody> = task
        .0
        .entry
        .lock()
        .as_mut()
        .map(|body| &mut **body as *mut dyn TaskBody);
    drop(task);
    if let Some(body) = body {
        // SAFETY: `body` points into the box in the running task's control block, which the
        // scheduler's task list keeps alive until this task has exited; nobody else uses the
        // box until the task's completion is done (`TaskHandle::join` takes it only then), and
        // this is the only place that runs it, once, on the task itself.
        unsafe { (*body).run() };
    }
}
