//! Linux's `futex` for one process's threads: FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE and
//! FUTEX_CMP_REQUEUE, private or not (a process's threads share one address space, so both
//! are keyed by user address alone).
//!
//! A waiter reads the word and enqueues itself without giving up the CPU in between: on one
//! CPU, with kernel code not preempted, no other thread can change the word or wake between
//! the check and the enqueue, which is the atomicity FUTEX_WAIT promises. It then parks until
//! woken, its timeout (relative, as FUTEX_WAIT's) or an interruption (kill, process end:
//! `-EINTR`); a wake-up without a matching FUTEX_WAKE returns 0, which callers treat as
//! spurious, as Linux allows.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::ProcessState;
use super::linux::errors::{EAGAIN, EFAULT, EINTR, EINVAL, ENOSYS, ETIMEDOUT};
use super::linux::{LinuxOutcome, read_u32};
use crate::task::{self, TaskRef};

/// One parked waiter.
struct Waiter {
    address: u64,
    task: TaskRef,
    woken: Arc<AtomicBool>,
}

/// The waiters of one process, in arrival order.
#[derive(Default)]
pub struct FutexTable {
    waiters: Vec<Waiter>,
}

impl FutexTable {
    /// Wakes up to `count` waiters on `address`; returns how many.
    fn wake(&mut self, address: u64, count: usize) -> usize {
        let mut woken = 0;
        self.waiters.retain(|waiter| {
            if woken < count && waiter.address == address {
                woken += 1;
                waiter.woken.store(true, Ordering::Release);
                waiter.task.unpark();
                false
            } else {
                true
            }
        });
        woken
    }

    /// Moves up to `count` waiters from `from` to `to`; returns how many.
    fn requeue(&mut self, from: u64, to: u64, count: usize) -> usize {
        let mut moved = 0;
        for waiter in self.waiters.iter_mut() {
            if moved < count && waiter.address == from {
                waiter.address = to;
                moved += 1;
            }
        }
        moved
    }

    /// Removes `task`'s entry, if it is still queued.
    fn remove(&mut self, task: &TaskRef) {
        self.waiters.retain(|waiter| !waiter.task.same_task(task));
    }
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_PRIVATE_FLAG: u64 = 128;

/// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)`.
pub(super) fn call(state: &ProcessState, arguments: [u64; 6]) -> LinuxOutcome {
    let [address, operation, value, timeout, address2, value3] = arguments;
    let result = if !address.is_multiple_of(4) {
        Err(EINVAL)
    } else {
        let count = (value as u32 as i32).max(0) as usize;
        let count2 = (timeout as u32 as i32).max(0) as usize;
        match operation & !FUTEX_PRIVATE_FLAG {
            FUTEX_WAIT => wait(state, address, value as u32, timeout),
            FUTEX_WAKE => wake(state, address, count),
            FUTEX_REQUEUE => requeue(state, address, address2, count, count2, None),
            FUTEX_CMP_REQUEUE => {
                requeue(state, address, address2, count, count2, Some(value3 as u32))
            }
            _ => Err(ENOSYS),
        }
    };
    LinuxOutcome::Return(result.unwrap_or_else(|errno| -errno))
}

fn wait(state: &ProcessState, address: u64, expected: u32, timeout: u64) -> Result<i64, i64> {
    let deadline = match timeout {
        0 => None,
        address => {
            let nanoseconds = super::linux::read_timespec_at(state, address)?;
            let milliseconds = nanoseconds.div_ceil(1_000_000);
            // One tick more: the current tick may be nearly over, and the timeout is a minimum.
            Some(
                crate::clock::ticks()
                    .saturating_add(crate::clock::milliseconds_to_ticks(milliseconds))
                    .saturating_add(1),
            )
        }
    };
    let me = task::current();
    let woken = Arc::new(AtomicBool::new(false));
    {
        // The check and the enqueue happen without a scheduling point between them.
        let mut table = super::lock_or_yield(&state.futexes).map_err(|_| EINTR)?;
        if read_u32(state, address)? != expected {
            return Err(EAGAIN);
        }
        table.waiters.push(Waiter {
            address,
            task: me.clone(),
            woken: woken.clone(),
        });
    }
    match deadline {
        Some(deadline) => task::park_until(deadline),
        None => task::park(),
    }
    if let Ok(mut table) = super::lock_or_yield(&state.futexes) {
        table.remove(&me);
    }
    if woken.load(Ordering::Acquire) {
        return Ok(0);
    }
    if me.is_interrupted() {
        return Err(EINTR);
    }
    if deadline.is_some_and(|deadline| crate::clock::ticks() >= deadline) {
        return Err(ETIMEDOUT);
    }
    Ok(0)
}

fn wake(state: &ProcessState, address: u64, count: usize) -> Result<i64, i64> {
    let mut table = super::lock_or_yield(&state.futexes).map_err(|_| EINTR)?;
    Ok(table.wake(address, count) as i64)
}

fn requeue(
    state: &ProcessState,
    from: u64,
    to: u64,
    wake_count: usize,
    move_count: usize,
    compare: Option<u32>,
) -> Result<i64, i64> {
    if !to.is_multiple_of(4) {
        return Err(EINVAL);
    }
    let mut table = super::lock_or_yield(&state.futexes).map_err(|_| EINTR)?;
    if let Some(expected) = compare
        && read_u32(state, from).map_err(|_| EFAULT)? != expected
    {
        return Err(EAGAIN);
    }
    let woken = table.wake(from, wake_count);
    let moved = table.requeue(from, to, move_count);
    Ok((woken + moved) as i64)
}

/// Wakes up to `count` waiters on `address` (a thread's clear-child-tid word at its end).
pub(super) fn wake_address(state: &ProcessState, address: u64, count: usize) {
    if let Ok(mut table) = super::lock_or_yield(&state.futexes) {
        table.wake(address, count);
    }
}
