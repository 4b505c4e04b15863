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
use crate::task::{self, Notification, Watchers};

struct Shared {
    pending: AtomicBool,
    raised: AtomicU64,
    /// The tasks that wait on the signal (kept from their first wait on; locked only with
    /// interrupts disabled, since [`InterruptSignal::raise`] takes it in interrupt context).
    watchers: Mutex<Watchers>,
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
                watchers: Mutex::new(Watchers::new()),
            }),
        }
    }

    /// Raises the signal and wakes its waiter. Safe in interrupt context: never allocates.
    pub fn raise(&self) {
        self.shared.raised.fetch_add(1, Ordering::Relaxed);
        self.shared.pending.store(true, Ordering::Release);
        without_interrupts(|| self.shared.watchers.lock().notify_all());
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
        let notification = task::current_notification();
        loop {
            if self.take() {
                return;
            }
            notification.arm();
            if !self.watch_and_check(&notification) {
                task::park();
            }
            notification.disarm();
        }
    }
}

impl Selectable for InterruptSignal {
    fn is_ready(&self) -> bool {
        self.shared.pending.load(Ordering::Acquire)
    }

    fn watch_and_check(&self, notification: &Arc<Notification>) -> bool {
        without_interrupts(|| self.shared.watchers.lock().watch(notification));
        self.is_ready()
    }
}
