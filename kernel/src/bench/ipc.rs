//! The kernel's own IPC paths: the channel round trip, the pieces it is made of (for an
//! instruction breakdown: docs/performance.md, "Where the channel round trip goes"), and the
//! wake of a task by an interrupt.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{Unit, report, sample};
use crate::arch::cpu::read_tsc;
use crate::ipc::{InterruptSignal, channel};
use crate::{clock, interrupts, serial, task};

/// Round trips measured by [`channel_round_trip`].
pub const ROUND_TRIPS: usize = 10_000;
/// Samples of each piece in [`pieces`].
const PIECE_SAMPLES: usize = 5_000;
/// Unmeasured runs before the samples (caches, the allocator's free list).
const WARM_UP: usize = 100;

/// Ping-pong of a `u64` between two kernel tasks over two capacity-1 channels; each sample is
/// one send plus the matching reply, including two context switches.
pub fn channel_round_trip(unit: Unit) {
    let (ping_sender, ping_receiver) = channel::<u64>(1);
    let (pong_sender, pong_receiver) = channel::<u64>(1);
    let echo = task::spawn("bench echo", move || {
        while let Ok(value) = ping_receiver.recv() {
            if pong_sender.send(value).is_err() {
                break;
            }
        }
    });
    let measure = task::spawn("bench ping", move || {
        let mut iteration = 0u64;
        sample(ROUND_TRIPS, WARM_UP, || {
            iteration += 1;
            ping_sender.send(iteration).is_ok() && pong_receiver.recv() == Ok(iteration)
        })
    });
    let samples = measure.join().ok().flatten();
    let _ = echo.join();
    let Some(mut samples) = samples else {
        serial::write_str("bench channel_round_trip: FAILED (channel error)\n");
        return;
    };
    report("channel_round_trip", unit, &mut samples);
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    serial::write_fmt(format_args!(
        "bench channel_round_trip detail: median {} ns, TSC {} Hz\n",
        clock::cycles_to_nanoseconds(median),
        clock::tsc_frequency()
    ));
}

/// The pieces of a channel round trip, each measured alone:
/// - `channel_send_receive_same_task`: `try_send` then `try_recv` of one message with nobody
///   waiting (the queue work and the two lock round trips, no scheduling);
/// - `task_yield_round_trip`: two tasks yielding to each other; one sample is two context
///   switches through the run queue;
/// - `task_park_unpark_round_trip`: two tasks unparking each other and parking (the
///   primitive under a blocking channel operation): two unparks, two parks, two switches;
/// - `task_current`: `task::current()` (a reference to the running task) taken and dropped;
/// - `heap_box_small`: a `Box<u64>` allocated and freed.
pub fn pieces(unit: Unit) {
    let (sender, receiver) = channel::<u64>(1);
    let mut samples = sample(PIECE_SAMPLES, WARM_UP, || {
        sender.try_send(1).is_ok() && receiver.try_recv() == Ok(1)
    });
    report_or_fail(
        "channel_send_receive_same_task",
        unit,
        samples.as_deref_mut(),
    );

    let partner = task::spawn("bench yield partner", || {
        for _ in 0..PIECE_SAMPLES + WARM_UP + 1 {
            task::yield_now();
        }
    });
    task::yield_now();
    samples = sample(PIECE_SAMPLES, WARM_UP, || {
        task::yield_now();
        true
    });
    let _ = partner.join();
    report_or_fail("task_yield_round_trip", unit, samples.as_deref_mut());

    park_unpark_round_trip(unit);

    samples = sample(PIECE_SAMPLES, WARM_UP, || {
        drop(task::current());
        true
    });
    report_or_fail("task_current", unit, samples.as_deref_mut());

    samples = sample(PIECE_SAMPLES, WARM_UP, || {
        drop(core::hint::black_box(Box::new(7u64)));
        true
    });
    report_or_fail("heap_box_small", unit, samples.as_deref_mut());
}

fn report_or_fail(name: &str, unit: Unit, samples: Option<&mut [u64]>) {
    match samples {
        Some(samples) => report(name, unit, samples),
        None => serial::write_fmt(format_args!("bench {name}: FAILED\n")),
    }
}

/// Two tasks that unpark each other and park: the measuring task unparks the partner and
/// parks; the partner, running, unparks it back and parks.
fn park_unpark_round_trip(unit: Unit) {
    let me = task::current();
    let (partner_sender, partner_receiver) = channel::<task::TaskRef>(1);
    let partner = task::spawn("bench park partner", move || {
        let Ok(measurer) = partner_receiver.recv() else {
            return;
        };
        for _ in 0..PIECE_SAMPLES + WARM_UP {
            measurer.unpark();
            task::park();
        }
        measurer.unpark();
    });
    if partner_sender.send(me).is_err() {
        serial::write_str("bench task_park_unpark_round_trip: FAILED\n");
        return;
    }
    // The partner runs when this task first parks; it then waits in `park` for our unpark.
    task::park();
    let partner_task = partner.task().clone();
    let mut samples = sample(PIECE_SAMPLES, WARM_UP, || {
        partner_task.unpark();
        task::park();
        true
    });
    let _ = partner.join();
    report_or_fail("task_park_unpark_round_trip", unit, samples.as_deref_mut());
}

/// The TSC at which [`interrupt_wake`] sent its self-interrupt.
static SENT_AT: AtomicU64 = AtomicU64::new(0);

/// `interrupt_wake_task`: a task waits on an [`InterruptSignal`]; the measuring task sends a
/// self-IPI to the signal's vector and blocks on a channel; the sample ends when the woken
/// task runs (it takes the TSC first thing). Covers the interrupt entry, the dispatcher, the
/// signal's unpark, the return, the measuring task's block and the switch to the woken task.
pub fn interrupt_wake(unit: Unit) {
    let Ok(vector) = interrupts::allocate_vector() else {
        serial::write_str("bench interrupt_wake_task: skipped (no free vector)\n");
        return;
    };
    let signal = InterruptSignal::new();
    if interrupts::register_signal(vector, signal.clone()).is_err() {
        serial::write_str("bench interrupt_wake_task: skipped (vector in use)\n");
        return;
    }
    let (woken_sender, woken_receiver) = channel::<u64>(1);
    let waiter = task::spawn("bench interrupt waiter", move || {
        for _ in 0..PIECE_SAMPLES + WARM_UP {
            signal.wait();
            let woken_at = read_tsc();
            if woken_sender.send(woken_at).is_err() {
                return;
            }
        }
    });
    let mut samples = Vec::with_capacity(PIECE_SAMPLES);
    for index in 0..PIECE_SAMPLES + WARM_UP {
        // Let the waiter reach its wait first.
        task::yield_now();
        SENT_AT.store(read_tsc(), Ordering::Relaxed);
        interrupts::send_self_interrupt(vector);
        let Ok(woken_at) = woken_receiver.recv() else {
            break;
        };
        if index >= WARM_UP {
            samples.push(woken_at.saturating_sub(SENT_AT.load(Ordering::Relaxed)));
        }
    }
    let _ = waiter.join();
    interrupts::unregister(vector);
    report("interrupt_wake_task", unit, &mut samples);
}
