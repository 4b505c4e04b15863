//! One wake-up point per task for waits on several sources ([`crate::ipc::select`]).
//!
//! A task's [`Notification`] is made with the task and lives as long as any source remembers
//! it. A source a task selects on keeps that task's notification for good (registered on the
//! first wait, a pointer compare on every later one), instead of adding and removing the task
//! on every wait. The notification is *armed* only while its task is inside a select: a source
//! that becomes ready [notifies](Notification::notify) every notification it keeps, and only
//! an armed one wakes its task, once (the first notify disarms it). Sources hold the
//! notification, never the task: a task that has ended leaves no stack alive in a channel, and
//! its notification is dropped from a source's list the next time a new waiter registers there
//! ([`Watchers`]).
//!
//! Why this is safe in interrupt context: [`Notification::notify`] never allocates, and it
//! reaches the task (upgrading the weak reference) only while the task is armed, that is
//! inside a select, so alive and held by the scheduler: the reference it hands to the run
//! queue is never the last one (an ending task is disarmed in `exit_current`, with interrupts
//! disabled, before the scheduler lets go of it).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::{Task, TaskRef};

/// A task's wake-up point for [`crate::ipc::select`] (see the module docs).
pub struct Notification {
    armed: AtomicBool,
    task: Weak<Task>,
}

impl Notification {
    pub(super) fn new(task: Weak<Task>) -> Notification {
        Notification {
            armed: AtomicBool::new(false),
            task,
        }
    }

    /// Lets the next [`Self::notify`] wake the task. Called by the task itself, before it
    /// checks its sources (a source that becomes ready after its check then wakes the park).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Ends the arming: later notifies do nothing.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Wakes the task if it is armed, and disarms it (one wake per arming). Callable from
    /// interrupt handlers: it never allocates.
    pub fn notify(&self) {
        if self.armed.swap(false, Ordering::AcqRel)
            && let Some(task) = self.task.upgrade()
        {
            TaskRef(task).wake();
        }
    }

    /// Whether the task has ended and been released (nothing can arm this any more).
    pub fn is_orphaned(&self) -> bool {
        self.task.strong_count() == 0
    }
}

/// The notifications a source keeps (see the module docs): the first inline, so a source
/// with one waiting task (nearly all) never allocates.
#[derive(Default)]
pub struct Watchers {
    first: Option<Arc<Notification>>,
    others: Vec<Arc<Notification>>,
}

impl Watchers {
    /// An empty list.
    pub const fn new() -> Watchers {
        Watchers {
            first: None,
            others: Vec::new(),
        }
    }

    /// Keeps `notification` unless it is kept already. Adding a new one first drops the
    /// notifications of tasks that have ended, so the list holds at most the live tasks
    /// that ever waited on the source (plus the one being added). Inlined: every wait of
    /// every select passes here, nearly always kept already as the first.
    #[inline(always)]
    pub fn watch(&mut self, notification: &Arc<Notification>) {
        if self
            .first
            .as_ref()
            .is_some_and(|first| Arc::ptr_eq(first, notification))
        {
            return;
        }
        self.watch_slowly(notification);
    }

    /// [`Self::watch`] for a notification that is not the first.
    #[cold]
    #[inline(never)]
    fn watch_slowly(&mut self, notification: &Arc<Notification>) {
        if self
            .others
            .iter()
            .any(|other| Arc::ptr_eq(other, notification))
        {
            return;
        }
        if self.first.as_ref().is_some_and(|first| first.is_orphaned()) {
            self.first = None;
        }
        self.others.retain(|other| !other.is_orphaned());
        if self.first.is_none() {
            self.first = Some(notification.clone());
        } else {
            self.others.push(notification.clone());
        }
    }

    /// How many notifications are kept.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.others.len()
    }

    /// [Notifies](Notification::notify) every kept notification. Inlined: on a channel
    /// nobody selects on (most sends), this is one test.
    #[inline(always)]
    pub fn notify_all(&self) {
        // `others` is empty while `first` is (`watch_slowly` fills `first` first).
        if let Some(first) = &self.first {
            first.notify();
            if !self.others.is_empty() {
                self.notify_others();
            }
        }
    }

    /// The rest of [`Self::notify_all`].
    fn notify_others(&self) {
        self.others.iter().for_each(|other| other.notify());
    }
}
