//! A list of tasks waiting for something, woken all at once.

use alloc::vec::Vec;

use crate::task::TaskRef;

/// Tasks to unpark when the awaited thing happens.
#[derive(Default)]
pub struct WaitList {
    waiters: Vec<TaskRef>,
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            waiters: Vec::new(),
        }
    }

    /// Adds `task` unless it is already waiting.
    pub fn add(&mut self, task: &TaskRef) {
        if !self.waiters.iter().any(|waiter| waiter.same_task(task)) {
            self.waiters.push(task.clone());
        }
    }

    /// Removes `task`.
    pub fn remove(&mut self, task: &TaskRef) {
        self.waiters.retain(|waiter| !waiter.same_task(task));
    }

    /// Takes every waiter out; the caller unparks them after releasing its lock.
    pub fn take(&mut self) -> Vec<TaskRef> {
        core::mem::take(&mut self.waiters)
    }
}

/// Unparks every task in `waiters`.
pub fn wake_all(waiters: Vec<TaskRef>) {
    for waiter in waiters {
        waiter.unpark();
    }
}
