//! A list of tasks waiting for something, woken all at once.
//!
//! The first waiter is kept inline and only further ones go to a vector, so the common case
//! (one task waiting on a channel) neither allocates when it registers nor frees when it is
//! woken: the channel round trip used to pay a heap allocation and a free per message here.

use alloc::vec::Vec;

use crate::task::TaskRef;

/// Tasks to unpark when the awaited thing happens.
#[derive(Default)]
pub struct WaitList {
    first: Option<TaskRef>,
    others: Vec<TaskRef>,
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            first: None,
            others: Vec::new(),
        }
    }

    /// Adds `task` unless it is already waiting.
    pub fn add(&mut self, task: &TaskRef) {
        if self.contains(task) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(task.clone());
        } else {
            self.others.push(task.clone());
        }
    }

    /// Adds `task` (handing over this reference) unless it is already waiting.
    pub fn add_owned(&mut self, task: TaskRef) {
        if self.contains(&task) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(task);
        } else {
            self.others.push(task);
        }
    }

    /// Removes the task whose [`TaskRef::id`] is `id`.
    pub fn remove_id(&mut self, id: u64) {
        if self.first.as_ref().is_some_and(|first| first.id() == id) {
            self.first = None;
        }
        if !self.others.is_empty() {
            self.others.retain(|waiter| waiter.id() != id);
        }
    }

    /// Whether `task` is waiting.
    fn contains(&self, task: &TaskRef) -> bool {
        self.first
            .as_ref()
            .is_some_and(|first| first.same_task(task))
            || (!self.others.is_empty() && self.others.iter().any(|waiter| waiter.same_task(task)))
    }

    /// Removes `task`.
    pub fn remove(&mut self, task: &TaskRef) {
        if self
            .first
            .as_ref()
            .is_some_and(|first| first.same_task(task))
        {
            self.first = None;
        }
        if !self.others.is_empty() {
            self.others.retain(|waiter| !waiter.same_task(task));
        }
    }

    /// Takes every waiter out; the caller wakes them ([`wake_all`]) after releasing its lock.
    /// Leaves the vector of further waiters in place when it is empty, so that taking and
    /// dropping an empty or one-waiter list touches no allocation. Inlined (every send and
    /// receive takes a list).
    #[inline(always)]
    pub fn take(&mut self) -> Waiters {
        Waiters {
            first: self.first.take(),
            others: if self.others.is_empty() {
                None
            } else {
                Some(core::mem::take(&mut self.others))
            },
        }
    }
}

/// The waiters taken out of a [`WaitList`], to wake.
pub struct Waiters {
    first: Option<TaskRef>,
    others: Option<Vec<TaskRef>>,
}

/// Unparks every task in `waiters` (handing each reference to the run queue). Inlined: most
/// lists taken are empty.
#[inline(always)]
pub fn wake_all(waiters: Waiters) {
    if let Some(first) = waiters.first {
        first.wake();
    }
    if let Some(others) = waiters.others {
        wake_others(others);
    }
}

/// The rest of [`wake_all`].
fn wake_others(others: Vec<TaskRef>) {
    others.into_iter().for_each(TaskRef::wake);
}
