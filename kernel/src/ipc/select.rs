//! Waiting on several sources at once.
//!
//! [`select`] arms the current task's [`Notification`], checks every source (a source keeps
//! the notification from the first wait on, so later waits only compare a pointer), parks,
//! and repeats until one is ready; it returns the index of a ready source, and the caller then
//! takes the message with `try_recv` (or the signal with `take`). Sources are checked in
//! order, so an earlier source has priority when several are ready.
//!
//! One registration per task and source, instead of a wait-list add and remove per source on
//! every wait: a source that becomes ready notifies the notifications it keeps, and only the
//! armed ones (tasks inside a select) are woken, once per arming (`task::Notification`).

use alloc::sync::Arc;

use crate::task::{self, Notification};

/// Something a task can wait on with [`select`].
pub trait Selectable {
    /// Whether a wait would return at once (a message, a closed channel, a raised signal).
    fn is_ready(&self) -> bool;
    /// Keeps `notification` (if not kept already) and notifies it whenever the source becomes
    /// ready from now on; then answers [`Self::is_ready`], in one step (one lock, for a
    /// channel), so that a source that becomes ready after the answer notifies.
    fn watch_and_check(&self, notification: &Arc<Notification>) -> bool;
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
    let notification = task::current_notification();
    loop {
        // Armed before the checks, so a source that becomes ready after its check wakes the
        // park below; the first ready source (in order) ends the checks.
        notification.arm();
        let ready = sources
            .iter()
            .position(|source| source.watch_and_check(&notification));
        let timed_out = deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline);
        if ready.is_none() && !timed_out {
            match deadline {
                Some(deadline) => task::park_until(deadline),
                None => task::park(),
            }
        }
        notification.disarm();
        if let Some(index) = ready.or_else(|| sources.iter().position(|source| source.is_ready())) {
            return Some(index);
        }
        if deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline) {
            return None;
        }
    }
}
