//! The legacy GPU signal and wait of D3DKMT (`D3DKMTSignalSynchronizationObject2`,
//! `D3DKMTWaitForSynchronizationObject2`): one fence value for every object, the handle arrays
//! inline in the struct. The dxg core sends them as Linux does (SIGNALSYNCOBJECT with the value
//! in the header; WAITFORSYNCOBJECTFROMGPU with `legacy_fence_object`).

use super::prelude::*;

/// `D3DKMTSignalSynchronizationObject2`: 1…32 objects signalled to `FenceValue` from
/// `hContext` and up to 63 more broadcast contexts (Linux refuses 64). Enqueueing a CPU event
/// (the only use of zero objects) is not supported: dxgos processes have no event objects.
pub fn signal_synchronization_object2(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 = decode(call.arguments)?;
    let objects = checked_count(arguments.ObjectCount, 1, D3DDDI_MAX_OBJECT_SIGNALED)?;
    let contexts = checked_count(
        arguments.BroadcastContextCount,
        0,
        D3DDDI_MAX_BROADCAST_CONTEXT - 1,
    )?;
    if arguments.Flags & D3DDDICB_SIGNALFLAGS_ENQUEUE_CPU_EVENT != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    call.gpu_status(Request::SignalSynchronizationObject2 {
        context: D3dkmtHandle(arguments.hContext),
        objects: handles_of(&arguments.ObjectHandleArray, objects),
        broadcast_contexts: handles_of(&arguments.BroadcastContext, contexts),
        flags: arguments.Flags,
        fence_value: arguments.FenceValue,
    })
}

/// `D3DKMTWaitForSynchronizationObject2`: the GPU context `hContext` waits until 1…32 objects
/// reach `FenceValue`.
pub fn wait_for_synchronization_object2(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 = decode(call.arguments)?;
    let objects = checked_count(arguments.ObjectCount, 1, D3DDDI_MAX_OBJECT_WAITED_ON)?;
    call.gpu_status(Request::WaitForSynchronizationObject2 {
        context: D3dkmtHandle(arguments.hContext),
        objects: handles_of(&arguments.ObjectHandleArray, objects),
        fence_value: arguments.FenceValue,
    })
}
