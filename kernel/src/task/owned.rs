//! State a task owns on the heap, taken back after the task ended however it ended.
//!
//! A contained fault ends a task where it stands (`task::abandon_current`): nothing on its
//! stack is dropped, because nothing unwinds it. Whatever must be released when the task ends
//! — channel ends (so peers see the channel closed), ring pages, config windows, the driver's
//! protocol state — therefore lives in a [`TaskSlot`] on the heap, not in the task's locals.
//! The task holds the slot's lock for its whole run ([`TaskSlot::enter`]); whoever joins it
//! (the supervisor) takes the state back with [`TaskSlot::reclaim`] once the task has ended,
//! and releases it (or hands it to the next instance of the driver).
//!
//! The one `unsafe` here: a task that was abandoned still "holds" the slot's lock, since its
//! guard sat on the stack that was given up. After the task has ended, that guard can never be
//! used or dropped again, so [`TaskSlot::reclaim`] forces the lock open.
//!
//! A task spawned with `task::Builder::spawn_in_slot` gets a guard borrowing the slot, whose
//! reference stays in the task's control block (`task/body.rs`): the abandoned stack then owns
//! nothing, and leaks nothing but what the faulting code had allocated and not yet stored in
//! the slot. The kernel test `contained_panic_releases_the_slot` measures it: 0 heap bytes.

use alloc::boxed::Box;
use alloc::sync::Arc;

use spin::{Mutex, MutexGuard};

use super::TaskRef;

/// State of type `T` that a task owns for its run and its joiner takes back afterwards.
pub struct TaskSlot<T> {
    inner: Arc<Mutex<Option<Box<T>>>>,
}

impl<T> Clone for TaskSlot<T> {
    fn clone(&self) -> Self {
        TaskSlot {
            inner: self.inner.clone(),
        }
    }
}

/// The owning task's access to its slot, held for its whole run.
pub struct SlotGuard<'a, T> {
    guard: MutexGuard<'a, Option<Box<T>>>,
}

impl<T> core::ops::Deref for SlotGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // `enter` only makes a guard over a slot that holds a value.
        self.guard.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> core::ops::DerefMut for SlotGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> TaskSlot<T> {
    /// A slot holding `value` (boxed, so that what an abandoned task leaks of the slot itself
    /// is a few words, not the state).
    pub fn new(value: T) -> TaskSlot<T> {
        TaskSlot {
            inner: Arc::new(Mutex::new(Some(Box::new(value)))),
        }
    }

    /// For the owning task: the state, locked until the guard is dropped (at the task's normal
    /// end) or the task is abandoned. `None` if the slot is empty or already entered.
    pub fn enter(&self) -> Option<SlotGuard<'_, T>> {
        let guard = self.inner.try_lock()?;
        guard.is_some().then_some(SlotGuard { guard })
    }

    /// For the joiner, once `owner` (the task that entered the slot) has ended: takes the
    /// state out. `None` while the task still runs, or when the slot was emptied before.
    pub fn reclaim(&self, owner: &TaskRef) -> Option<T> {
        if !owner.is_finished() {
            return None;
        }
        if let Some(mut guard) = self.inner.try_lock() {
            return guard.take().map(|value| *value);
        }
        // SAFETY: the lock is held only by the guard of `owner`, which has ended (its
        // completion is done: it never runs again); the guard sat on its abandoned stack and
        // can be neither used nor dropped any more, so no other guard exists.
        unsafe { self.inner.force_unlock() };
        let mut guard = self.inner.try_lock()?;
        guard.take().map(|value| *value)
    }
}
