//! Interrupt-to-task wake-ups without allocation.
//!
//! An [`InterruptSignal`] is created in task context (one allocation), registered for a vector
//! with `interrupts::register_signal`, and waited on by one task with [`InterruptSignal::wait`]
//! or [`crate::ipc::select`]. The handler's [`InterruptSignal::raise`] sets a flag, counts, and
//! unparks the waiting task: no allocation, no blocking. Raises that happen while nobody waits
//! are remembered (the flag), several raises before a wait coalesce into one wake-up; the count
//! says how many there were.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use super::select::Selectable;
use crate::task::{self, TaskRef};

struct Shared {
    pending: AtomicBool,
    raised: AtomicU64,
    waiter: Mutex<Option<TaskRef>>,
}

/// A flag an interrupt handler sets and one task waits on; clones share the flag.
#[derive(Clone)]
pub struct InterruptSignal {
    shared: Arc<Shared>,
}

impl Default for InterruptSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl InterruptSignal {
    /// A signal that is not raised.
    pub fn new() -> InterruptSignal {
        InterruptSignal {
            shared: Arc::new(Shared {
                pending: AtomicBool::new(false),
                raised: AtomicU64::new(0),
                waiter: Mutex::new(None),
            }),
        }
    }

    /// Raises the signal and wakes its waiter. Safe in interrupt context: never allocates.
    pub fn raise(&self) {
        self.shared.raised.fetch_add(1, Ordering::Relaxed);
        self.shared.pending.store(true, Ordering::Release);
        without_interrupts(|| {
            if let Some(waiter) = self.shared.waiter.lock().as_ref() {
                waiter.unpark();
            }
        });
    }

    /// Clears the signal; returns whether it was raised.
    pub fn take(&self) -> bool {
        self.shared.pending.swap(false, Ordering::AcqRel)
    }

    /// How many times the signal has been raised in total.
    pub fn raise_count(&self) -> u64 {
        self.shared.raised.load(Ordering::Relaxed)
    }

    /// Waits until the signal is raised, then clears it.
    pub fn wait(&self) {
        let me = task::current();
        loop {
            if self.take() {
                return;
            }
            self.add_waiter(&me);
            if !self.is_ready() {
                task::park();
            }
            self.remove_waiter(&me);
        }
    }
}

impl Selectable for InterruptSignal {
    fn is_ready(&self) -> bool {
        self.shared.pending.load(Ordering::Acquire)
    }

    fn add_waiter(&self, task: &TaskRef) {
        let old = without_interrupts(|| self.shared.waiter.lock().replace(task.clone()));
        drop(old);
    }

    fn remove_waiter(&self, task: &TaskRef) {
        let old = without_interrupts(|| {
            let mut waiter = self.shared.waiter.lock();
            if waiter.as_ref().is_some_and(|waiter| waiter.same_task(task)) {
                waiter.take()
            } else {
                None
            }
        });
        drop(old);
    }
}
