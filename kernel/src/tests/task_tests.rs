//! Tests of task spawn, exit, join, yield and sleep.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::testing::TestResult;
use crate::{ensure, kernel_test, task};

fn spawn_and_join_returns_value() -> TestResult {
    let handle = task::spawn("adder", || (1..=100u64).sum::<u64>());
    ensure!(
        handle.task().name() == "adder",
        "task name {:?}",
        handle.task().name()
    );
    ensure!(
        handle.task().id() != task::current().id(),
        "spawned task has the caller's id"
    );
    let value = handle.join().map_err(|fault| alloc::format!("{fault:?}"))?;
    ensure!(value == 5050, "joined value {value}");
    Ok(())
}
kernel_test!(spawn_and_join_returns_value, spawn_and_join_returns_value);

fn many_tasks_exit_and_free() -> TestResult {
    let free_before = crate::memory::free_frames();
    for round in 0..5u64 {
        let handles: Vec<_> = (0..20u64)
            .map(|index| task::spawn("worker", move || index * round))
            .collect();
        for (index, handle) in handles.into_iter().enumerate() {
            let value = handle.join().map_err(|fault| alloc::format!("{fault:?}"))?;
            ensure!(
                value == index as u64 * round,
                "worker {index} returned {value}"
            );
        }
    }
    ensure!(crate::memory::free_frames() == free_before, "frames leaked");
    Ok(())
}
kernel_test!(many_tasks_exit_and_free, many_tasks_exit_and_free);

fn yield_interleaves_tasks() -> TestResult {
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..3u32)
        .map(|id| {
            let log = log.clone();
            task::spawn("yielder", move || {
                for step in 0..3u32 {
                    log.lock().push((id, step));
                    task::yield_now();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|fault| alloc::format!("{fault:?}"))?;
    }
    let log = log.lock();
    let expected: Vec<(u32, u32)> = (0..3)
        .flat_map(|step| (0..3).map(move |id| (id, step)))
        .collect();
    ensure!(*log == expected, "order {:?}", *log);
    Ok(())
}
kernel_test!(yield_interleaves_tasks, yield_interleaves_tasks);

fn join_waits_for_sleeping_task() -> TestResult {
    let start = crate::clock::ticks();
    let sleeper = task::spawn("sleeper", || {
        task::sleep_milliseconds(30);
        crate::clock::ticks()
    });
    let woke = sleeper
        .join()
        .map_err(|fault| alloc::format!("{fault:?}"))?;
    ensure!(woke >= start + 30, "woke after {} ticks", woke - start);
    Ok(())
}
kernel_test!(join_waits_for_sleeping_task, join_waits_for_sleeping_task);

/// An application may ask for any sleep length (`Sleep` takes a 64-bit count): the deadline
/// saturates in the far future instead of overflowing, and the sleeper can still be killed.
fn longest_sleep_is_killable_not_an_overflow() -> TestResult {
    let sleeper = task::spawn("long-sleeper", || {
        task::sleep_milliseconds_interruptible(u64::MAX).is_err()
    });
    for _ in 0..3 {
        task::yield_now();
    }
    sleeper.task().interrupt();
    let interrupted = sleeper
        .join()
        .map_err(|fault| alloc::format!("{fault:?}"))?;
    ensure!(interrupted, "the sleep ended without being interrupted");
    ensure!(
        crate::clock::milliseconds_to_ticks(u64::MAX) > 0,
        "conversion of the longest sleep"
    );
    Ok(())
}
kernel_test!(
    longest_sleep_is_killable_not_an_overflow,
    longest_sleep_is_killable_not_an_overflow
);

fn breakpoint_in_contained_task_is_reported() -> TestResult {
    let handle = task::Builder::new("breakpoint").expect_fault().spawn(|| {
        x86_64::instructions::interrupts::int3();
        // #BP is a trap: without containment execution would continue here.
        1u32
    });
    match handle.join() {
        Err(fault) if fault.vector == 3 => Ok(()),
        other => Err(alloc::format!(
            "expected a contained breakpoint, got {other:?}"
        )),
    }
}
kernel_test!(
    breakpoint_in_contained_task_is_reported,
    breakpoint_in_contained_task_is_reported
);
