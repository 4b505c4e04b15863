//! The legacy GPU signal and wait (`D3DKMTSignalSynchronizationObject2`,
//! `D3DKMTWaitForSynchronizationObject2`): inline handle arrays, one fence value.

use super::*;
use userlib::abi::flags::D3DDDICB_SIGNALFLAGS_ENQUEUE_CPU_EVENT;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;

#[test]
fn legacy_signal_carries_its_objects_broadcast_contexts_flags_and_value() {
    let (mut translator, mut environment) = started();
    let mut signal = D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
        hContext: 0x10,
        ObjectCount: 2,
        Flags: 1,
        BroadcastContextCount: 1,
        FenceValue: 0x1_0000_0007,
        ..Default::default()
    };
    signal.ObjectHandleArray[..3].copy_from_slice(&[0x21, 0x22, 0x99]);
    signal.BroadcastContext[..2].copy_from_slice(&[0x30, 0x98]);
    let number = N::SignalSynchronizationObject2 as u32;
    let status = translator.run(&mut environment, number, &mut signal);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        environment.sent(),
        vec![Request::SignalSynchronizationObject2 {
            context: D3dkmtHandle(0x10),
            objects: vec![D3dkmtHandle(0x21), D3dkmtHandle(0x22)],
            broadcast_contexts: vec![D3dkmtHandle(0x30)],
            flags: 1,
            fence_value: 0x1_0000_0007,
        }]
    );
}

#[test]
fn legacy_wait_carries_its_objects_and_value() {
    let (mut translator, mut environment) = started();
    let mut wait = D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
        hContext: 0x10,
        ObjectCount: 1,
        FenceValue: 5,
        ..Default::default()
    };
    wait.ObjectHandleArray[0] = 0x21;
    let number = N::WaitForSynchronizationObject2 as u32;
    let status = translator.run(&mut environment, number, &mut wait);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        environment.sent(),
        vec![Request::WaitForSynchronizationObject2 {
            context: D3dkmtHandle(0x10),
            objects: vec![D3dkmtHandle(0x21)],
            fence_value: 5,
        }]
    );
}

#[test]
fn legacy_calls_refuse_bad_counts_and_cpu_events_without_a_request() {
    let (mut translator, mut environment) = started();
    let signal_number = N::SignalSynchronizationObject2 as u32;
    for (objects, contexts, flags, expected) in [
        (0, 0, 0, STATUS_INVALID_PARAMETER),
        (33, 0, 0, STATUS_INVALID_PARAMETER),
        (1, 64, 0, STATUS_INVALID_PARAMETER),
        (
            1,
            0,
            D3DDDICB_SIGNALFLAGS_ENQUEUE_CPU_EVENT,
            STATUS_NOT_SUPPORTED,
        ),
    ] {
        let mut signal = D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
            hContext: 0x10,
            ObjectCount: objects,
            BroadcastContextCount: contexts,
            Flags: flags,
            ..Default::default()
        };
        let status = translator.run(&mut environment, signal_number, &mut signal);
        assert_eq!(
            status, expected,
            "{objects} objects, {contexts} contexts, flags {flags}"
        );
    }
    let wait_number = N::WaitForSynchronizationObject2 as u32;
    for objects in [0, 33, u32::MAX] {
        let mut wait = D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
            hContext: 0x10,
            ObjectCount: objects,
            ..Default::default()
        };
        let status = translator.run(&mut environment, wait_number, &mut wait);
        assert_eq!(status, STATUS_INVALID_PARAMETER, "{objects} objects");
    }
    assert!(environment.sent().is_empty());
}
