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
        for source in sources {
            source.add_waiter(&me);
        }
        let ready = sources.iter().position(|source| source.is_ready());
        let timed_out = deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline);
        if ready.is_none() && !timed_out {
            match deadline {
                Some(deadline) => task::park_until(deadline),
                None => task::park(),
            }
        }
        for source in sources {
            source.remove_waiter(&me);
        }
        if let Some(index) = ready.or_else(|| sources.iter().position(|source| source.is_ready())) {
            return Some(index);
        }
        if deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline) {
            return None;
        }
    }
}
