//! Waiting on several sources at once.
//!
//! [`select`] registers the current task with every source, checks them, parks, and repeats
//! until one is ready; it returns the index of a ready source, and the caller then takes the
//! message with `try_recv` (or the signal with `take`). Sources are checked in order, so an
//! earlier source has priority when several are ready.

use crate::task::{self, TaskRef};

/// Something a task can wait on with [`select`].
pub trait Selectable {
    /// Whether a wait would return at once (a message, a closed channel, a raised signal).
    fn is_ready(&self) -> bool;
    /// Wakes `task` when the source becomes ready.
    fn add_waiter(&self, task: &TaskRef);
    /// Stops waking `task`.
    fn remove_waiter(&self, task: &TaskRef);
    /// [`Self::add_waiter`], then [`Self::is_ready`]: one step (one lock, for a channel).
    fn add_waiter_and_check(&self, task: &TaskRef) -> bool {
        self.add_waiter(task);
        self.is_ready()
    }
    /// [`Self::remove_waiter`], then [`Self::is_ready`]: one step (one lock, for a channel).
    fn remove_waiter_and_check(&self, task: &TaskRef) -> bool {
        self.remove_waiter(task);
        self.is_ready()
    }
}

/// Waits until one of `sources` is ready and returns its index (`None` for an empty list).
pub fn select(sources: &[&dyn Selectable]) -> Option<usize> {
    select_until(sources, None)
}

/// As [`select`], but gives up (`None`) when the timer reaches `deadline` (in
/// [`crate::clock::ticks`]; `None`: no deadline). Tasks that wait for the host pass the
/// earliest deadline of their waits, so that they come back to end the late ones.
pub fn select_until(sources: &[&dyn Selectable], deadline: Option<u64>) -> Option<usize> {
    if sources.is_empty() {
        return None;
    }
    if let Some(index) = sources.iter().position(|source| source.is_ready()) {
        return Some(index);
    }
    let me = task::current();
    loop {
        // Registered with every source before the check, so a source that becomes ready
        // after its check wakes the park below; each source registers and answers in one step.
        let mut ready = None;
        for (index, source) in sources.iter().enumerate() {
            if source.add_waiter_and_check(&me) && ready.is_none() {
                ready = Some(index);
            }
        }
        let timed_out = deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline);
        if ready.is_none() && !timed_out {
            match deadline {
                Some(deadline) => task::park_until(deadline),
                None => task::park(),
            }
        }
        let mut ready_after = None;
        for (index, source) in sources.iter().enumerate() {
            if source.remove_waiter_and_check(&me) && ready_after.is_none() {
                ready_after = Some(index);
            }
        }
        if let Some(index) = ready.or(ready_after) {
            return Some(index);
        }
        if deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline) {
            return None;
        }
    }
}
