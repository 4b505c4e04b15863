//! Legacy synchronization calls and the end of CPU waits without a host signal.
//!
//! Byte vectors hand-written from the Linux layouts: `dxgkvmb_command_signalsyncobject` (56
//! bytes; objects, then the call's context followed by its broadcast contexts, no fence array for
//! `D3DKMTSignalSynchronizationObject2`, legacy value at +40, event id at +48 with
//! enqueue_cpu_event) and `dxgkvmb_command_waitforsyncobjectfromgpu` (`legacy_fence_object` at
//! +32, `n` values then `n` handles), as `dxgkio_signal_sync_object` / `dxgkio_wait_sync_object`
//! / `dxgkio_wait_sync_object_gpu` (`ioctl.c`) fill them.

use super::*;

/// SIGNALGUESTEVENT for `event`.
fn signal_event(event: u64) -> Vec<u8> {
    let mut bytes = hex("0000000000000000 00000000 02000000 00000000 00000000");
    bytes.extend_from_slice(&event.to_le_bytes());
    bytes.extend(hex("0000000000000000 00 00000000000000"));
    bytes
}

/// Submits a request that validation must refuse before sending anything; returns the status.
fn refused(driver: &mut Driver, request: Request) -> NtStatus {
    let ticket = driver.submit(ProcessId(1), request);
    let actions: Vec<Action> = std::iter::from_fn(|| driver.poll_action()).collect();
    match &actions[..] {
        [
            Action::Complete {
                ticket: done,
                result: Err(status),
            },
        ] if *done == ticket => *status,
        other => panic!("{other:?}"),
    }
}

/// `with_objects` plus a legacy fence 0x1C0 (not monitored).
fn with_legacy_fence() -> Driver {
    let (mut driver, _) = with_objects();
    let (_, packet) = one_packet(
        &mut driver,
        Request::CreateSyncObject {
            device: D3dkmtHandle(0x80),
            kind: SyncObjectKind::Fence { initial_value: 0 },
            flags: 0,
        },
    );
    let reply = hex("c0010000 00000000 0000000000000000 0000000000000000 00000000 00000000");
    assert!(answer(&mut driver, &packet, &reply).is_ok());
    driver
}

/// A WaitFromCpu on fence 0x1C0 (value 9) that the host acknowledged; returns its ticket and
/// its event id.
/// A CPU wait of process 1 sent to the host and not acknowledged yet.
fn unacknowledged_wait(driver: &mut Driver) -> (Ticket, OutgoingPacket) {
    one_packet(
        driver,
        Request::WaitFromCpu {
            device: D3dkmtHandle(0x80),
            objects: vec![D3dkmtHandle(0x1C0)],
            values: vec![9],
            wait_any: false,
        },
    )
}

/// A ticket's completion, as the driver reports it.
type Completion = (Ticket, Result<Reply, NtStatus>);

/// Submits process 1's DESTROYPROCESS and returns the completions and the teardown packets it
/// produced at once.
fn start_destroying_process(driver: &mut Driver) -> (Vec<Completion>, Vec<OutgoingPacket>) {
    driver.submit(ProcessId(1), Request::DestroyProcess);
    let mut done = Vec::new();
    let mut packets = Vec::new();
    while let Some(action) = driver.poll_action() {
        match action {
            Action::Complete { ticket, result } => done.push((ticket, result)),
            Action::Send(packet) => packets.push(packet),
            other => panic!("{other:?}"),
        }
    }
    (done, packets)
}

/// Answers the teardown `packets` with success, then the DESTROYPROCESS they lead to.
fn finish_destroying_process(driver: &mut Driver, packets: &[OutgoingPacket]) {
    for packet in packets {
        driver.receive(
            packet.channel,
            PacketKind::Completion,
            packet.transaction_id,
            &hex("00000000"),
        );
    }
    let last = sends(driver);
    assert_eq!(last.len(), 1, "DESTROYPROCESS");
    assert!(answer(driver, &last[0], &hex("00000000")).is_ok());
    assert!(driver.process(ProcessId(1)).is_none());
}

fn pending_wait(driver: &mut Driver) -> (Ticket, u64) {
    let (ticket, packet) = unacknowledged_wait(driver);
    let event = u64::from_le_bytes(packet.bytes[56..64].try_into().unwrap());
    driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000"),
    );
    assert!(completions(driver).is_empty());
    (ticket, event)
}

#[test]
fn signal_synchronization_object2_vectors() {
    let mut driver = with_legacy_fence();
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::SignalSynchronizationObject2 {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x1C0), D3dkmtHandle(0x180)],
            broadcast_contexts: vec![],
            flags: 0,
            fence_value: 0x1122_3344_5566_7788,
        },
    );
    // type 26 | n 2 | flags 0 | contexts 1 (the call's) | pad | legacy value | device 0 |
    // objects | context; no fence array.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 1a000000 00000000
         02000000 00000000 01000000 00000000 8877665544332211 0000000000000000
         c0010000 80010000 c0000000"
    ));
    assert_eq!(packet.bytes, expected, "SIGNALSYNCOBJECT (legacy)");
    answer_status_ok(&mut driver, &packet);
    let _ = ticket;

    // A second context to broadcast to.
    create_plain_context(&mut driver, D3dkmtHandle(0x80), "00020000");

    // enqueue_cpu_event without objects: the event id (2, the first handed out) at +48.
    let (ticket, packet) = one_packet(
        &mut driver,
        Request::SignalSynchronizationObject2 {
            context: D3dkmtHandle(0xC0),
            objects: vec![],
            broadcast_contexts: vec![D3dkmtHandle(0x200)],
            flags: SIGNAL_FLAG_ENQUEUE_CPU_EVENT,
            fence_value: 3,
        },
    );
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 1a000000 00000000
         00000000 02000000 02000000 00000000 0300000000000000 0200000000000000
         c0000000 00020000"
    ));
    assert_eq!(
        packet.bytes, expected,
        "SIGNALSYNCOBJECT (legacy, enqueue_cpu_event)"
    );
    assert_eq!(driver.registered_events(), 1);
    // Completes only once acknowledged and signalled.
    driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        &hex("00000000"),
    );
    assert!(completions(&mut driver).is_empty());
    driver.receive(ChannelId::Global, PacketKind::InBand, 0, &signal_event(2));
    assert_eq!(
        completions(&mut driver),
        vec![(ticket, Ok(Reply::WaitCompleted))]
    );
    assert_eq!(driver.registered_events(), 0);

    // Validation happens before anything is sent.
    let refused_requests = [
        (
            Request::SignalSynchronizationObject2 {
                context: D3dkmtHandle(0xC0),
                objects: vec![D3dkmtHandle(0x1C0); 33],
                broadcast_contexts: vec![],
                flags: 0,
                fence_value: 1,
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::SignalSynchronizationObject2 {
                context: D3dkmtHandle(0xC0),
                objects: vec![],
                broadcast_contexts: vec![D3dkmtHandle(0x200); 64],
                flags: 0,
                fence_value: 1,
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::SignalSynchronizationObject2 {
                context: D3dkmtHandle(0x80),
                objects: vec![D3dkmtHandle(0x1C0)],
                broadcast_contexts: vec![],
                flags: 0,
                fence_value: 1,
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            Request::SignalSynchronizationObject2 {
                context: D3dkmtHandle(0xC0),
                objects: vec![D3dkmtHandle(0x100)],
                broadcast_contexts: vec![],
                flags: 0,
                fence_value: 1,
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ];
    for (request, status) in refused_requests {
        assert_eq!(refused(&mut driver, request), status);
    }
}

#[test]
fn wait_for_synchronization_object2_and_legacy_gpu_waits() {
    let mut driver = with_legacy_fence();
    let (_, packet) = one_packet(
        &mut driver,
        Request::WaitForSynchronizationObject2 {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x1C0), D3dkmtHandle(0x180)],
            fence_value: 7,
        },
    );
    // type 25 | context | n 2 | legacy 1 | pad | values (the call's value, then zero) | handles
    // | 8 bytes slack.
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 19000000 00000000
         c0000000 02000000 01 00000000000000
         0700000000000000 0000000000000000 c0010000 80010000 0000000000000000"
    ));
    assert_eq!(packet.bytes, expected, "WAITFORSYNCOBJECTFROMGPU (legacy)");
    answer_status_ok(&mut driver, &packet);

    // WaitFromGpu: legacy when the first object is not a monitored fence …
    let (_, packet) = one_packet(
        &mut driver,
        Request::WaitFromGpu {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x1C0)],
            values: vec![4],
        },
    );
    let expected = hex(&format!(
        "{EXT} 0000000000000000 40000000 00000000 19000000 00000000
         c0000000 01000000 01 00000000000000
         0400000000000000 c0010000 0000000000000000"
    ));
    assert_eq!(
        packet.bytes, expected,
        "WAITFORSYNCOBJECTFROMGPU (non-monitored)"
    );
    assert!(answer(&mut driver, &packet, &hex("00000000")).is_ok());
    // … and not for a monitored fence (the paging queue's).
    let (_, packet) = one_packet(
        &mut driver,
        Request::WaitFromGpu {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x180)],
            values: vec![4],
        },
    );
    assert_eq!(
        packet.bytes[16 + 32],
        0,
        "legacy_fence_object for a monitored fence"
    );

    for (request, status) in [
        (
            Request::WaitForSynchronizationObject2 {
                context: D3dkmtHandle(0xC0),
                objects: vec![],
                fence_value: 1,
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::WaitForSynchronizationObject2 {
                context: D3dkmtHandle(0xC0),
                objects: vec![D3dkmtHandle(0x1C0); 33],
                fence_value: 1,
            },
            NtStatus::INVALID_PARAMETER,
        ),
        (
            Request::WaitForSynchronizationObject2 {
                context: D3dkmtHandle(0x80),
                objects: vec![D3dkmtHandle(0x1C0)],
                fence_value: 1,
            },
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ] {
        assert_eq!(refused(&mut driver, request), status);
    }
}

#[test]
fn process_teardown_ends_pending_waits() {
    let mut driver = with_legacy_fence();
    let (wait, event) = pending_wait(&mut driver);
    assert_eq!(driver.registered_events(), 1);
    let (done, packets) = start_destroying_process(&mut driver);
    assert_eq!(done, vec![(wait, Err(NtStatus::DEVICE_REMOVED))]);
    assert_eq!(driver.registered_events(), 0);
    assert_eq!(driver.abandoned_events(), 1);
    // A signal that crossed the teardown is ignored quietly.
    driver.receive(
        ChannelId::Global,
        PacketKind::InBand,
        0,
        &signal_event(event),
    );
    assert!(driver.poll_action().is_none(), "no protocol error");
    finish_destroying_process(&mut driver, &packets);
    assert_eq!(driver.abandoned_events(), 0);
}

#[test]
fn teardown_before_the_acknowledgement_completes_the_wait_once() {
    let mut driver = with_legacy_fence();
    let (wait, packet) = unacknowledged_wait(&mut driver);
    driver.submit(ProcessId(1), Request::DestroyProcess);
    let done: Vec<_> = completions(&mut driver);
    assert_eq!(done, vec![(wait, Err(NtStatus::DEVICE_REMOVED))]);
    // The host refuses the wait after all: nothing completes twice, nothing stays abandoned.
    driver.receive(
        packet.channel,
        PacketKind::Completion,
        packet.transaction_id,
        &NtStatus::INVALID_HANDLE.0.to_le_bytes(),
    );
    assert!(completions(&mut driver).is_empty());
    assert_eq!(driver.abandoned_events(), 0);
}

#[test]
fn a_cpu_wait_answered_after_destroyprocess_is_dropped_quietly() {
    let mut driver = with_legacy_fence();
    let (wait, wait_packet) = unacknowledged_wait(&mut driver);
    let (done, packets) = start_destroying_process(&mut driver);
    assert_eq!(done, vec![(wait, Err(NtStatus::DEVICE_REMOVED))]);
    finish_destroying_process(&mut driver, &packets);
    // The host answers the wait only now, and too short: nobody waits for it and the host
    // forgot the process, so it is dropped, neither decoded nor a protocol error.
    driver.receive(
        wait_packet.channel,
        PacketKind::Completion,
        wait_packet.transaction_id,
        &hex("0000"),
    );
    assert_eq!(driver.poll_action(), None);
    assert_eq!(driver.abandoned_events(), 0);
}

#[test]
fn cancel_wait_gives_a_wait_up() {
    let mut driver = with_legacy_fence();
    let (first, event) = pending_wait(&mut driver);
    let (wait, event2) = pending_wait(&mut driver);
    assert_eq!(driver.registered_events(), 2);
    for waiting in [first, wait] {
        let cancel = driver.submit(ProcessId(1), Request::CancelWait { ticket: waiting });
        let actions: Vec<Action> = std::iter::from_fn(|| driver.poll_action()).collect();
        assert_eq!(
            actions,
            vec![
                Action::Complete {
                    ticket: waiting,
                    result: Err(NtStatus::CANCELLED)
                },
                Action::Complete {
                    ticket: cancel,
                    result: Ok(Reply::Status(NtStatus::SUCCESS))
                }
            ],
            "nothing is sent"
        );
    }
    assert_eq!(driver.registered_events(), 0);
    assert_eq!(driver.abandoned_events(), 2);
    // Cancelling again (or another process's wait, or a finished one) is refused.
    assert_eq!(
        refused(&mut driver, Request::CancelWait { ticket: wait }),
        NtStatus::INVALID_PARAMETER
    );
    let stranger = driver.submit(ProcessId(2), Request::CancelWait { ticket: wait });
    assert_eq!(
        completions(&mut driver),
        vec![(stranger, Err(NtStatus::INVALID_HANDLE))]
    );
    // Late signals are swallowed, once.
    driver.receive(
        ChannelId::Global,
        PacketKind::InBand,
        0,
        &signal_event(event),
    );
    driver.receive(
        ChannelId::Global,
        PacketKind::InBand,
        0,
        &signal_event(event2),
    );
    assert!(driver.poll_action().is_none());
    assert_eq!(driver.abandoned_events(), 0);
    driver.receive(
        ChannelId::Global,
        PacketKind::InBand,
        0,
        &signal_event(event2),
    );
    assert_eq!(
        driver.poll_action(),
        Some(Action::ProtocolError(ProtocolError::UnknownGuestEvent(
            event2
        )))
    );
}

/// The kernel's dxg task tells the core when a call's caller stopped waiting
/// ([`Driver::caller_gone`]). Only a CPU wait is given up then (a WaitFromCpu, or an
/// enqueue_cpu_event signal): any other call waits for nothing but its own answer, which no
/// command withdraws, so nothing is submitted for it (no refused CancelWait, no ticket).
#[test]
fn a_gone_caller_gives_up_only_a_cpu_wait() {
    let mut driver = with_legacy_fence();
    let (wait, _) = pending_wait(&mut driver);
    // A GPU wait the host has not answered: a call, not a CPU wait.
    let (gpu_wait, gpu_packet) = one_packet(
        &mut driver,
        Request::WaitForSynchronizationObject2 {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x1C0)],
            fence_value: 1,
        },
    );
    // An enqueued CPU event the host acknowledged but has not signalled.
    let (signal, signal_packet) = one_packet(
        &mut driver,
        Request::SignalSynchronizationObject2 {
            context: D3dkmtHandle(0xC0),
            objects: vec![D3dkmtHandle(0x1C0)],
            broadcast_contexts: vec![],
            flags: SIGNAL_FLAG_ENQUEUE_CPU_EVENT,
            fence_value: 2,
        },
    );
    let acknowledged = hex("00000000");
    let (channel, id) = (signal_packet.channel, signal_packet.transaction_id);
    driver.receive(channel, PacketKind::Completion, id, &acknowledged);
    assert!(completions(&mut driver).is_empty());
    let outstanding = driver.outstanding_transactions();

    assert!(!driver.caller_gone(ProcessId(1), gpu_wait));
    assert_eq!(driver.poll_action(), None, "something was submitted");
    assert_eq!(driver.outstanding_transactions(), outstanding);
    assert!(!driver.caller_gone(ProcessId(2), wait), "another process's");
    assert_eq!(driver.poll_action(), None);

    for waiting in [wait, signal] {
        assert!(driver.caller_gone(ProcessId(1), waiting));
        assert_eq!(
            completions(&mut driver),
            vec![(waiting, Err(NtStatus::CANCELLED))]
        );
        assert!(!driver.caller_gone(ProcessId(1), waiting), "given up twice");
        assert_eq!(driver.poll_action(), None);
    }
    assert_eq!(driver.registered_events(), 0);
    assert_eq!(driver.abandoned_events(), 2);
    // The GPU wait was left alone: its answer completes it.
    let (channel, id) = (gpu_packet.channel, gpu_packet.transaction_id);
    driver.receive(channel, PacketKind::Completion, id, &acknowledged);
    assert_eq!(
        completions(&mut driver),
        vec![(gpu_wait, Ok(Reply::Status(NtStatus::SUCCESS)))]
    );
}
