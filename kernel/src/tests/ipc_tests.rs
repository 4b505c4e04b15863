//! Tests of channels, select, interrupt signals and request/reply.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::ipc::{
    CallError, Client, Fifo, InterruptSignal, Receiver, RecvError, ReplySender, ReplySlot, Request,
    Selectable, SendError, SendTimeoutError, Sender, TryRecvError, TrySendError, channel, select,
    service,
};
use crate::testing::TestResult;
use crate::{ensure, interrupts, kernel_test, task};

fn channel_preserves_order() -> TestResult {
    let (sender, receiver): (Sender<u32>, Receiver<u32>) = channel(8);
    ensure!(receiver.is_empty(), "new channel not empty");
    let producer = task::spawn("producer", move || {
        for value in 0..1000 {
            if sender.send(value).is_err() {
                return false;
            }
        }
        true
    });
    for expected in 0..1000 {
        let value = receiver.recv().map_err(|_| "channel closed early")?;
        ensure!(value == expected, "got {value}, expected {expected}");
    }
    ensure!(
        receiver.recv() == Err(RecvError),
        "no close after the last sender ended"
    );
    ensure!(producer.join() == Ok(true), "producer saw an error");
    Ok(())
}
kernel_test!(channel_preserves_order, channel_preserves_order);

/// The queue behind channels and the run queue keeps order across wrap-arounds and growth
/// (by `reserve` and by a push into a full ring), against a model.
fn fifo_keeps_order_across_wraps_and_growth() -> TestResult {
    let mut queue = Fifo::with_capacity(3);
    let mut model = alloc::collections::VecDeque::new();
    let mut next = 0u32;
    for round in 0..200u32 {
        // Pushes and pops in changing proportions, so that the head wraps at every size.
        for _ in 0..(round % 5) {
            queue.push_back(next);
            model.push_back(next);
            next += 1;
        }
        if round % 17 == 0 {
            queue.reserve(round as usize % 7);
        }
        for _ in 0..(round % 4) {
            ensure!(
                queue.pop_front() == model.pop_front(),
                "order lost at round {round}"
            );
        }
        ensure!(
            queue.len() == model.len(),
            "length {} vs {}",
            queue.len(),
            model.len()
        );
    }
    while let Some(expected) = model.pop_front() {
        ensure!(
            queue.pop_front() == Some(expected),
            "order lost while draining"
        );
    }
    ensure!(
        queue.is_empty() && queue.pop_front().is_none(),
        "not empty at the end"
    );
    Ok(())
}
kernel_test!(
    fifo_keeps_order_across_wraps_and_growth,
    fifo_keeps_order_across_wraps_and_growth
);

fn channel_capacity_and_backpressure() -> TestResult {
    let (sender, receiver) = channel::<u32>(2);
    ensure!(sender.try_send(1).is_ok(), "first try_send failed");
    ensure!(sender.try_send(2).is_ok(), "second try_send failed");
    ensure!(
        sender.try_send(3) == Err(TrySendError::Full(3)),
        "third try_send not Full"
    );
    // A blocking send waits until the receiver makes room.
    let blocked = task::spawn("blocked sender", move || {
        let started = crate::clock::ticks();
        let result = sender.send(3).is_ok();
        (result, started)
    });
    task::yield_now();
    ensure!(
        !blocked.is_finished(),
        "send on a full channel did not block"
    );
    ensure!(receiver.len() == 2, "queue length {}", receiver.len());
    ensure!(receiver.recv() == Ok(1), "first message");
    let (sent, _) = blocked.join().map_err(|fault| format!("{fault:?}"))?;
    ensure!(sent, "blocked send failed");
    ensure!(receiver.try_recv() == Ok(2), "second message");
    ensure!(receiver.try_recv() == Ok(3), "third message");
    ensure!(
        receiver.try_recv() == Err(TryRecvError::Closed),
        "not closed after sender ended"
    );
    Ok(())
}
kernel_test!(
    channel_capacity_and_backpressure,
    channel_capacity_and_backpressure
);

fn send_fails_when_receiver_dropped() -> TestResult {
    let (sender, receiver) = channel::<u32>(1);
    sender.send(1).map_err(|_| "first send")?;
    // A sender blocked on the full channel is woken with an error when the receiver goes.
    let blocked_sender = sender.clone();
    let blocked = task::spawn("blocked sender", move || blocked_sender.send(2));
    task::yield_now();
    drop(receiver);
    ensure!(
        blocked.join() == Ok(Err(SendError(2))),
        "blocked send not failed on close"
    );
    ensure!(sender.is_closed(), "sender does not see the close");
    ensure!(
        sender.send(5) == Err(SendError(5)),
        "send after close did not fail"
    );
    ensure!(
        sender.try_send(6) == Err(TrySendError::Closed(6)),
        "try_send after close"
    );
    Ok(())
}
kernel_test!(
    send_fails_when_receiver_dropped,
    send_fails_when_receiver_dropped
);

fn recv_fails_when_senders_dropped() -> TestResult {
    let (sender, receiver) = channel::<u32>(4);
    let second = sender.clone();
    sender.send(7).map_err(|_| "send")?;
    drop(sender);
    ensure!(receiver.try_recv() == Ok(7), "queued message lost");
    ensure!(
        receiver.try_recv() == Err(TryRecvError::Empty),
        "closed while a sender lives"
    );
    // A receiver blocked on the empty channel wakes with an error when the last sender goes.
    let waiter = task::spawn("blocked receiver", move || receiver.recv());
    task::yield_now();
    ensure!(!waiter.is_finished(), "recv did not block");
    drop(second);
    ensure!(
        waiter.join() == Ok(Err(RecvError)),
        "blocked recv not failed on close"
    );
    Ok(())
}
kernel_test!(
    recv_fails_when_senders_dropped,
    recv_fails_when_senders_dropped
);

fn many_senders_one_receiver() -> TestResult {
    const PRODUCERS: u32 = 4;
    const MESSAGES: u32 = 200;
    let (sender, receiver) = channel::<(u32, u32)>(3);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let sender = sender.clone();
            task::spawn("producer", move || {
                for sequence in 0..MESSAGES {
                    sender.send((producer, sequence)).map_err(|_| ())?;
                    if sequence % 7 == 0 {
                        task::yield_now();
                    }
                }
                Ok::<(), ()>(())
            })
        })
        .collect();
    drop(sender);
    let mut next = [0u32; PRODUCERS as usize];
    while let Ok((producer, sequence)) = receiver.recv() {
        let expected = &mut next[producer as usize];
        ensure!(
            sequence == *expected,
            "producer {producer}: {sequence} after {expected}"
        );
        *expected += 1;
    }
    ensure!(
        next.iter().all(|count| *count == MESSAGES),
        "counts {next:?}"
    );
    for producer in producers {
        ensure!(producer.join() == Ok(Ok(())), "a producer failed");
    }
    Ok(())
}
kernel_test!(many_senders_one_receiver, many_senders_one_receiver);

fn interrupt_signal_wakes_task() -> TestResult {
    let vector = interrupts::allocate_vector().map_err(|error| format!("{error:?}"))?;
    let signal = InterruptSignal::new();
    interrupts::register_signal(vector, signal.clone()).map_err(|error| format!("{error:?}"))?;
    let waiting_signal = signal.clone();
    let waiter = task::spawn("signal waiter", move || {
        waiting_signal.wait();
        waiting_signal.raise_count()
    });
    task::yield_now();
    ensure!(!waiter.is_finished(), "waiter did not block");
    interrupts::send_self_interrupt(vector);
    let count = waiter.join().map_err(|fault| format!("{fault:?}"))?;
    ensure!(count == 1, "raise count {count}");
    // A raise with nobody waiting is remembered.
    interrupts::send_self_interrupt(vector);
    signal.wait();
    interrupts::unregister(vector);
    ensure!(
        signal.raise_count() == 2,
        "raise count {}",
        signal.raise_count()
    );
    Ok(())
}
kernel_test!(interrupt_signal_wakes_task, interrupt_signal_wakes_task);

fn select_over_receivers_and_signal() -> TestResult {
    let (first_sender, first) = channel::<u32>(1);
    let (second_sender, second) = channel::<u32>(1);
    let vector = interrupts::allocate_vector().map_err(|error| format!("{error:?}"))?;
    let signal = InterruptSignal::new();
    interrupts::register_signal(vector, signal.clone()).map_err(|error| format!("{error:?}"))?;
    let events = task::spawn("selector", move || {
        let mut events = Vec::new();
        while events.len() < 4 {
            let sources: [&dyn Selectable; 3] = [&first, &second, &signal];
            match select(&sources) {
                Some(0) => match first.try_recv() {
                    Ok(value) => events.push(("first", value)),
                    Err(_) => events.push(("first closed", 0)),
                },
                Some(1) => match second.try_recv() {
                    Ok(value) => events.push(("second", value)),
                    Err(_) => events.push(("second closed", 0)),
                },
                Some(2) => {
                    signal.take();
                    events.push(("signal", 0));
                }
                _ => break,
            }
        }
        events
    });
    task::yield_now();
    second_sender.send(2).map_err(|_| "send second")?;
    task::yield_now();
    interrupts::send_self_interrupt(vector);
    task::yield_now();
    first_sender.send(1).map_err(|_| "send first")?;
    task::yield_now();
    drop(second_sender);
    let events = events.join().map_err(|fault| format!("{fault:?}"))?;
    interrupts::unregister(vector);
    let expected = [
        ("second", 2),
        ("signal", 0),
        ("first", 1),
        ("second closed", 0),
    ];
    ensure!(events == expected, "events {events:?}");
    Ok(())
}
kernel_test!(
    select_over_receivers_and_signal,
    select_over_receivers_and_signal
);

/// A receiver keeps one notification per task that selects on it, from its first wait on,
/// and forgets the notifications of ended tasks when a new task registers: three tasks in turn
/// each select twice and are woken by each send; the receiver never keeps more than the one
/// live waiter.
fn select_keeps_one_registration_per_task_and_forgets_ended_tasks() -> TestResult {
    let (sender, receiver) = channel::<u32>(4);
    let receiver = Arc::new(receiver);
    for round in 0..3u32 {
        let source = receiver.clone();
        let waiter = task::spawn("select waiter", move || {
            let mut received = Vec::new();
            while received.len() < 2 {
                let sources: [&dyn Selectable; 1] = [&*source];
                match select(&sources).map(|_| source.try_recv()) {
                    Some(Ok(value)) => received.push(value),
                    Some(Err(TryRecvError::Empty)) => {}
                    // Closed: the test gave up on this round.
                    Some(Err(TryRecvError::Closed)) | None => break,
                }
            }
            received
        });
        // The waiter selects (registering with the receiver) and parks.
        task::yield_now();
        let kept = receiver.watcher_count();
        ensure!(
            kept == 1,
            "round {round}: {kept} notifications kept after one wait"
        );
        sender.send(round).map_err(|_| "send")?;
        task::yield_now();
        let kept = receiver.watcher_count();
        ensure!(
            kept == 1,
            "round {round}: {kept} notifications kept after two waits"
        );
        sender.send(round + 10).map_err(|_| "send")?;
        let received = waiter.join().map_err(|fault| format!("{fault:?}"))?;
        ensure!(
            received == [round, round + 10],
            "round {round}: received {received:?}"
        );
    }
    Ok(())
}
kernel_test!(
    select_keeps_one_registration_per_task_and_forgets_ended_tasks,
    select_keeps_one_registration_per_task_and_forgets_ended_tasks
);

/// The adder service's question.
type Sum = (u32, u32);

fn request_reply_round_trip() -> TestResult {
    let (client, requests): (Client<Sum, u64>, Receiver<Request<Sum, u64>>) = service(2);
    let server = task::spawn("adder service", move || {
        let mut served = 0u32;
        while let Ok(request) = requests.recv() {
            let (left, right) = request.body;
            if left == 0 {
                drop(request); // unanswered on purpose
                continue;
            }
            if left == 1 {
                // Answer later through the split-off reply path.
                let (_, reply): (_, ReplySender<u64>) = request.into_parts();
                let _ = reply.send(u64::from(left) + u64::from(right));
            } else {
                let _ = request.reply(u64::from(left) + u64::from(right));
            }
            served += 1;
        }
        served
    });
    let second_client = client.clone();
    let helper = task::spawn("second caller", move || second_client.call((40, 2)));
    ensure!(client.call((1, 2)) == Ok(3), "1 + 2");
    ensure!(helper.join() == Ok(Ok(42)), "second caller");
    ensure!(
        client.call((0, 1)) == Err(CallError::NoReply),
        "dropped request not reported"
    );
    drop(client);
    ensure!(server.join() == Ok(2), "server served a wrong count");
    let (gone_client, gone_requests) = service::<u32, u32>(1);
    drop(gone_requests);
    ensure!(
        gone_client.call(1) == Err(CallError::ServerGone),
        "call to a gone server"
    );
    Ok(())
}
kernel_test!(request_reply_round_trip, request_reply_round_trip);

fn call_until_times_out_and_recovers() -> TestResult {
    // A server that answers each question after sleeping the asked number of milliseconds.
    let (client, requests) = service::<u64, u64>(4);
    let server = task::spawn("slow service", move || {
        while let Ok(request) = requests.recv() {
            task::sleep_milliseconds(request.body);
            let answer = request.body;
            let _ = request.reply(answer);
        }
    });
    let now = crate::clock::ticks();
    let deadline = now + crate::clock::milliseconds_to_ticks(10);
    ensure!(
        client.call_until(200, Some(deadline)) == Err(CallError::TimedOut),
        "a 200 ms answer did not time out at 10 ms"
    );
    ensure!(
        crate::clock::ticks() >= deadline,
        "call_until returned before its deadline"
    );
    let later = crate::clock::ticks() + crate::clock::milliseconds_to_ticks(2_000);
    ensure!(
        client.call_until(1, Some(later)) == Ok(1),
        "a fast answer after a timed-out one"
    );
    ensure!(client.call_until(2, None) == Ok(2), "no deadline");
    // The task's timer slot was given back: a plain sleep still works.
    task::sleep_milliseconds(1);
    drop(client);
    ensure!(server.join().is_ok(), "server ended badly");
    Ok(())
}
kernel_test!(
    call_until_times_out_and_recovers,
    call_until_times_out_and_recovers
);

/// A reply channel is reused (`ReplySlot`, `Receiver::reopen`) only once its sender is gone
/// and it is empty: after an answered call, never after a timed-out or unanswered one, so a
/// late answer never reaches a later call.
fn reply_channel_is_reused_only_when_empty_and_unshared() -> TestResult {
    let (sender, receiver) = channel::<u32>(1);
    ensure!(receiver.reopen().is_none(), "reopened with a live sender");
    ensure!(sender.try_send(5).is_ok(), "send");
    drop(sender);
    ensure!(
        receiver.reopen().is_none(),
        "reopened with a message waiting"
    );
    ensure!(receiver.try_recv() == Ok(5), "the waiting message");
    let again = receiver
        .reopen()
        .ok_or("not reopened once empty and unshared")?;
    ensure!(
        again.try_send(6).is_ok() && receiver.try_recv() == Ok(6),
        "the reopened channel"
    );
    drop(again);
    ensure!(
        receiver.try_recv() == Err(TryRecvError::Closed),
        "closed again once the new sender is gone"
    );
    // A server answering each question after its value in milliseconds; 0 goes unanswered.
    let (client, requests) = service::<u64, u64>(4);
    let server = task::spawn("slow service", move || {
        while let Ok(request) = requests.recv() {
            task::sleep_milliseconds(request.body);
            let answer = request.body;
            if answer != 0 {
                let _ = request.reply(answer);
            }
        }
    });
    let mut slot = ReplySlot::default();
    ensure!(!slot.is_kept(), "a new slot keeps a channel");
    ensure!(
        client.call_until_reusing(1, None, &mut slot) == Ok(1),
        "call 1"
    );
    ensure!(slot.is_kept(), "an answered call's channel was not kept");
    ensure!(
        client.call_until_reusing(2, None, &mut slot) == Ok(2),
        "call 2"
    );
    let deadline = crate::clock::ticks() + crate::clock::milliseconds_to_ticks(10);
    ensure!(
        client.call_until_reusing(100, Some(deadline), &mut slot) == Err(CallError::TimedOut),
        "a 100 ms answer did not time out at 10 ms"
    );
    ensure!(!slot.is_kept(), "a timed-out call's channel was kept");
    // The server answers 100 (late, to the dropped channel) before it sees 3.
    ensure!(
        client.call_until_reusing(3, None, &mut slot) == Ok(3),
        "the call after a timed-out one got another answer"
    );
    ensure!(
        client.call_until_reusing(0, None, &mut slot) == Err(CallError::NoReply),
        "an unanswered request over a reused channel"
    );
    ensure!(!slot.is_kept(), "an unanswered call's channel was kept");
    drop(client);
    ensure!(server.join().is_ok(), "server ended badly");
    Ok(())
}
kernel_test!(
    reply_channel_is_reused_only_when_empty_and_unshared,
    reply_channel_is_reused_only_when_empty_and_unshared
);

/// A send to a full queue with `send_until` ends at its deadline, and a task blocked in one
/// without a deadline ends when it is interrupted (as a killed process's GPU call does when the
/// dxg task's request queue is full); the message comes back and the queue is unchanged.
fn send_until_ends_at_the_deadline_or_an_interrupt() -> TestResult {
    let (sender, receiver) = channel::<u32>(1);
    sender
        .try_send(0)
        .map_err(|error| format!("first send: {error:?}"))?;
    let deadline = crate::clock::ticks() + crate::clock::milliseconds_to_ticks(10);
    let timed = sender.send_until(1, deadline);
    ensure!(
        timed == Err(SendTimeoutError::Timeout(1)),
        "send_until with a deadline: {timed:?}"
    );
    let blocked_sender = sender.clone();
    let blocked = task::spawn("blocked sender", move || {
        // No deadline (the channel's `NEVER`): only the interrupt ends it.
        blocked_sender.send_until(2, u64::MAX)
    });
    let mut waited = 0;
    while !blocked.task().is_blocked() && waited < 10_000 {
        task::sleep_milliseconds(1);
        waited += 1;
    }
    ensure!(blocked.task().is_blocked(), "the sender never blocked");
    blocked.task().interrupt();
    let result = blocked
        .join()
        .map_err(|fault| format!("blocked sender: {fault:?}"))?;
    ensure!(
        result == Err(SendTimeoutError::Interrupted(2)),
        "the interrupted send_until: {result:?}"
    );
    ensure!(receiver.try_recv() == Ok(0), "the queued message changed");
    ensure!(
        receiver.try_recv() == Err(TryRecvError::Empty),
        "a message the sender gave up was queued"
    );
    Ok(())
}
kernel_test!(
    send_until_ends_at_the_deadline_or_an_interrupt,
    send_until_ends_at_the_deadline_or_an_interrupt
);
