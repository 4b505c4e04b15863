//! Synchronisation objects: CreateSynchronizationObject2, DestroySynchronizationObject, the
//! FromCpu/FromGpu signals and waits.

use super::prelude::*;

/// `D3DKMTCreateSynchronizationObject2`. A monitored fence's value page is mapped read-only;
/// its user address goes to `FenceValueCPUVirtualAddress`, its GPU address to
/// `FenceValueGPUVirtualAddress`. Periodic monitored fences are not supported.
pub fn create_synchronization_object2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATESYNCHRONIZATIONOBJECT2 = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let info = &arguments.Info;
    // The 64-byte union starts with `InitialFenceValue`: mutex {BOOL InitialState}, semaphore
    // {UINT MaxCount, UINT InitialCount}, fence {UINT64 FenceValue}, monitored fence {UINT64
    // InitialFenceValue, …, UINT EngineAffinity}.
    let union_start = info.InitialFenceValue;
    let kind = match info.Type {
        D3DDDI_SYNCHRONIZATION_MUTEX => SyncObjectKind::Mutex {
            initial_state: union_start as u32 != 0,
        },
        D3DDDI_SEMAPHORE => SyncObjectKind::Semaphore {
            max_count: union_start as u32,
            initial_count: (union_start >> 32) as u32,
        },
        D3DDDI_FENCE => SyncObjectKind::Fence {
            initial_value: union_start,
        },
        D3DDDI_CPU_NOTIFICATION => SyncObjectKind::CpuNotification,
        D3DDDI_MONITORED_FENCE => SyncObjectKind::MonitoredFence {
            initial_value: union_start,
            engine_affinity: info.EngineAffinity,
        },
        D3DDDI_PERIODIC_MONITORED_FENCE => return Err(NtStatus::NOT_SUPPORTED),
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    let request = Request::CreateSyncObject {
        device,
        kind,
        flags: info.Flags,
    };
    let (handle, global, gpu_address, fence_address) = reply!(call.gpu(request)?,
        Reply::SyncObject { handle, global, gpu_address, fence_address } =>
            (handle, global, gpu_address, fence_address));
    if matches!(kind, SyncObjectKind::MonitoredFence { .. }) {
        let cpu_address = map_fence_view(call, handle, device, fence_address)?;
        arguments.Info.FenceValueCPUVirtualAddress = cpu_address;
        arguments.Info.FenceValueGPUVirtualAddress = gpu_address;
    }
    arguments.Info.SharedHandle = global.0;
    arguments.hSyncObject = handle.0;
    call.store(&arguments)
}

/// Maps the value page of monitored fence `sync_object` (on `device`) read-only and records
/// the view; returns the user address of the value (0 when the host reported no page). When
/// the page cannot be mapped the sync object is destroyed again (DestroySyncObject) and the
/// mapping failure returned. Used by CreateSynchronizationObject2 and by the opens of shared
/// fences.
pub(super) fn map_fence_view(
    call: &mut Call<'_>,
    sync_object: D3dkmtHandle,
    device: D3dkmtHandle,
    fence_address: u64,
) -> Result<u64, NtStatus> {
    call.map_fence_view(
        fence_address,
        sync_object,
        device,
        D3dkmtHandle::NULL,
        Request::DestroySyncObject { sync_object },
    )
}

/// `D3DKMTDestroySynchronizationObject`: unmaps a monitored fence's page first.
pub fn destroy_synchronization_object(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_DESTROYSYNCHRONIZATIONOBJECT = decode(call.arguments)?;
    let sync_object = D3dkmtHandle(arguments.hSyncObject);
    call.views.remove_fence(call.environment, sync_object);
    call.gpu_status(Request::DestroySyncObject { sync_object })
}

/// Reads `count` (1 … `maximum`) object handles and as many fence values.
pub(super) fn objects_and_values(
    environment: &dyn Environment,
    count: u32,
    maximum: usize,
    handles: u64,
    values: u64,
) -> Result<(Vec<D3dkmtHandle>, Vec<u64>), NtStatus> {
    let count = checked_count(count, 1, maximum)?;
    let objects = read_handles(environment, handles, count)?;
    let values = read_array(environment, values, count)?;
    Ok((objects, values))
}

/// The objects and values of a FromCpu signal or wait: the count (1 … `maximum`) is checked
/// before `unsupported` (a request for what is not served yet) refuses the call.
fn cpu_objects_and_values(
    environment: &dyn Environment,
    count: u32,
    maximum: usize,
    unsupported: bool,
    handles: u64,
    values: u64,
) -> Result<(Vec<D3dkmtHandle>, Vec<u64>), NtStatus> {
    checked_count(count, 1, maximum)?;
    if unsupported {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    objects_and_values(environment, count, maximum, handles, values)
}

/// `D3DKMTSignalSynchronizationObjectFromCpu`: 1 … 32 objects with one value each. Signal
/// flags have no `Request` field yet: non-zero flags are not supported.
pub fn signal_from_cpu(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU = decode(call.arguments)?;
    let (objects, values) = cpu_objects_and_values(
        call.environment,
        arguments.ObjectCount,
        D3DDDI_MAX_OBJECT_SIGNALED,
        arguments.Flags != 0,
        arguments.ObjectHandleArray,
        arguments.FenceValueArray,
    )?;
    call.gpu_status(Request::SignalFromCpu {
        device: D3dkmtHandle(arguments.hDevice),
        objects,
        values,
    })
}

/// `D3DKMTSignalSynchronizationObjectFromGpu`: 1 … 32 monitored fences with one value each,
/// signalled by one context.
pub fn signal_from_gpu(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU = decode(call.arguments)?;
    signal_from_context(
        call,
        D3dkmtHandle(arguments.hContext),
        arguments.ObjectCount,
        arguments.ObjectHandleArray,
        arguments.MonitoredFenceValueArray,
    )
}

/// The SignalFromGpu of 1 … 32 monitored fences (`count` handles at `handles`, as many values
/// at `values`) by `context`: FromGpu, FromGpu2 and SubmitSignalSyncObjectsToHwQueue (the queue
/// as the context).
pub(super) fn signal_from_context(
    call: &mut Call<'_>,
    context: D3dkmtHandle,
    count: u32,
    handles: u64,
    values: u64,
) -> CallResult {
    let (objects, values) = objects_and_values(
        call.environment,
        count,
        D3DDDI_MAX_OBJECT_SIGNALED,
        handles,
        values,
    )?;
    call.gpu_status(Request::SignalFromGpu {
        context,
        objects,
        values,
    })
}

/// The one broadcast context (or hardware queue) of a signal that is served only when it means
/// what FromGpu means: the object count (1 … 32) is checked first, then the broadcast count
/// (1 … 64); several contexts and any signal flags are not supported yet.
pub(super) fn single_broadcast_context(
    environment: &dyn Environment,
    object_count: u32,
    broadcast_count: u32,
    broadcast_array: u64,
    flags: u32,
) -> Result<D3dkmtHandle, NtStatus> {
    checked_count(object_count, 1, D3DDDI_MAX_OBJECT_SIGNALED)?;
    let count = checked_count(broadcast_count, 1, D3DDDI_MAX_BROADCAST_CONTEXT)?;
    if count != 1 || flags != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    read_handle(environment, broadcast_array)
}

/// `D3DKMTSignalSynchronizationObjectFromGpu2`, served when it means what FromGpu means: one
/// broadcast context, no flags, the union holding the monitored-fence value array. Several
/// contexts and signal flags (CPU events, fence rewind) are not supported yet.
pub fn signal_from_gpu2(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 = decode(call.arguments)?;
    let context = single_broadcast_context(
        call.environment,
        arguments.ObjectCount,
        arguments.BroadcastContextCount,
        arguments.BroadcastContextArray,
        arguments.Flags,
    )?;
    signal_from_context(
        call,
        context,
        arguments.ObjectCount,
        arguments.ObjectHandleArray,
        // The union's MonitoredFenceValueArray member.
        arguments.FenceValue,
    )
}

/// `D3DKMTWaitForSynchronizationObjectFromCpu`: 1 … 32 objects with one value each; blocks for
/// at most `arg2` microseconds (`u64::MAX` = forever) and returns `STATUS_TIMEOUT` when the
/// time runs out. Waits that signal an event (`hAsyncEvent`) are not supported (dxgos
/// processes have no event objects). The wait itself is left to the caller
/// ([`Call::wait_outside`]): the kernel makes it without holding the process, whose other
/// threads may be the ones to signal.
pub fn wait_from_cpu(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU = decode(call.arguments)?;
    let (objects, values) = cpu_objects_and_values(
        call.environment,
        arguments.ObjectCount,
        D3DDDI_MAX_OBJECT_WAITED_ON,
        arguments.hAsyncEvent != 0,
        arguments.ObjectHandleArray,
        arguments.FenceValueArray,
    )?;
    let request = Request::WaitFromCpu {
        device: D3dkmtHandle(arguments.hDevice),
        objects,
        values,
        wait_any: arguments.Flags & D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_WAIT_ANY != 0,
    };
    call.wait_outside(request, cpu_wait_timeout(call.arg2))
}

/// A CPU wait's status from its reply: success once the fences reached their values,
/// `STATUS_TIMEOUT` (a success code) when the timeout ran out first.
pub(crate) fn cpu_wait_status(result: Result<Reply, NtStatus>) -> CallResult {
    match result {
        Ok(Reply::WaitCompleted) => Ok(NtStatus::SUCCESS),
        Ok(Reply::Status(status)) => success_or_failure(status),
        Ok(other) => Err(unexpected(&other)),
        Err(NtStatus::TIMEOUT) => Ok(NtStatus::TIMEOUT),
        Err(failure) => Err(failure),
    }
}

/// The timeout of a CPU wait: `arg2` microseconds, `u64::MAX` meaning forever.
pub fn cpu_wait_timeout(arg2: u64) -> Timeout {
    if arg2 == userlib::sys::TIMEOUT_INFINITE {
        Timeout::Infinite
    } else {
        Timeout::Microseconds(arg2)
    }
}

/// `D3DKMTWaitForSynchronizationObjectFromGpu`: a context waits for 1 … 32 monitored fences.
pub fn wait_from_gpu(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU = decode(call.arguments)?;
    wait_from_context(
        call,
        D3dkmtHandle(arguments.hContext),
        arguments.ObjectCount,
        arguments.ObjectHandleArray,
        arguments.MonitoredFenceValueArray,
    )
}

/// The WaitFromGpu of `context` for 1 … 32 monitored fences (`count` handles at `handles`, as
/// many values at `values`): FromGpu and SubmitWaitForSyncObjectsToHwQueue (the queue as the
/// context).
pub(super) fn wait_from_context(
    call: &mut Call<'_>,
    context: D3dkmtHandle,
    count: u32,
    handles: u64,
    values: u64,
) -> CallResult {
    let (objects, values) = objects_and_values(
        call.environment,
        count,
        D3DDDI_MAX_OBJECT_WAITED_ON,
        handles,
        values,
    )?;
    call.gpu_status(Request::WaitFromGpu {
        context,
        objects,
        values,
    })
}
