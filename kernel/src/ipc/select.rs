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
        if ready.is_none() {
            task::park();
        }
        for source in sources {
            source.remove_waiter(&me);
        }
        if let Some(index) = ready.or_else(|| sources.iter().position(|source| source.is_ready())) {
            return Some(index);
        }
    }
}
