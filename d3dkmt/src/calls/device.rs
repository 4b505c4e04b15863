//! Devices and what runs on them: CreateDevice, DestroyDevice, GetDeviceState,
//! MarkDeviceAsError, CreatePagingQueue, DestroyPagingQueue, CreateContextVirtual,
//! DestroyContext and SubmitCommand.

use super::prelude::*;

/// `D3DKMTCreateDevice`.
pub fn create_device(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATEDEVICE = decode(call.arguments)?;
    let request = Request::CreateDevice {
        adapter: D3dkmtHandle(arguments.hAdapter),
        flags: arguments.Flags,
    };
    arguments.hDevice = reply!(call.gpu(request)?, Reply::Device(device) => device.0);
    call.store(&arguments)
}

/// `D3DKMTDestroyDevice`: the device's views go first (its allocations and fences die with it).
pub fn destroy_device(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_DESTROYDEVICE = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    call.views.remove_device(call.environment, device);
    call.owners.remove_device(device);
    call.status_outside(Request::DestroyDevice { device })
}

/// `D3DKMTGetDeviceState`: the execution state (or the first word of the other states).
pub fn get_device_state(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_GETDEVICESTATE = decode(call.arguments)?;
    let request = Request::GetDeviceState(GetDeviceStateCommand {
        device: D3dkmtHandle(arguments.hDevice),
        state_type: arguments.StateType,
        ..FromZeros::new_zeroed()
    });
    arguments.ExecutionState =
        reply!(call.gpu(request)?, Reply::DeviceState { state, .. } => state);
    call.store(&arguments)
}

/// `D3DKMTCreatePagingQueue`: the paging fence's page is mapped read-only for the CPU.
pub fn create_paging_queue(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATEPAGINGQUEUE = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let request = Request::CreatePagingQueue(CreatePagingQueueCommand {
        device,
        priority: arguments.Priority,
        ..FromZeros::new_zeroed()
    });
    let (paging_queue, sync_object, fence_address) = reply!(call.gpu(request)?,
        Reply::PagingQueue { paging_queue, sync_object, fence_address } =>
            (paging_queue, sync_object, fence_address));
    let cpu_address = call.map_fence_view(
        fence_address,
        paging_queue,
        device,
        D3dkmtHandle::NULL,
        Request::DestroyPagingQueue { paging_queue },
    )?;
    call.owners.add_paging_queue(paging_queue, device);
    arguments.hPagingQueue = paging_queue.0;
    arguments.hSyncObject = sync_object.0;
    arguments.FenceValueCPUVirtualAddress = cpu_address;
    call.store(&arguments)
}

/// `D3DKMTDestroyPagingQueue`: unmaps its fence page first.
pub fn destroy_paging_queue(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DDDI_DESTROYPAGINGQUEUE = decode(call.arguments)?;
    let paging_queue = D3dkmtHandle(arguments.hPagingQueue);
    call.views.remove_fence(call.environment, paging_queue);
    call.owners.remove_paging_queue(paging_queue);
    call.gpu_status(Request::DestroyPagingQueue { paging_queue })
}

/// `D3DKMTCreateContextVirtual`: private data (≤ 128 KiB) goes to the host and the host's
/// version of it comes back.
pub fn create_context_virtual(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATECONTEXTVIRTUAL = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let private_data = read_private_data(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let size = private_data.len();
    let command = CreateContextVirtualCommand {
        device,
        node_ordinal: arguments.NodeOrdinal,
        engine_affinity: arguments.EngineAffinity,
        flags: arguments.Flags,
        client_hint: arguments.ClientHint,
        ..FromZeros::new_zeroed()
    };
    let request = Request::CreateContext {
        command,
        private_data,
    };
    let (context, reply_data) = reply!(call.gpu(request)?,
        Reply::Context { context, private_data } => (context, private_data));
    let written = write_reply(
        call.environment,
        arguments.pPrivateDriverData,
        &reply_data,
        size,
    );
    call.or_undo(written, Request::DestroyContext { context })?;
    call.owners.add_context(context, device);
    arguments.hContext = context.0;
    call.store(&arguments)
}

/// `D3DKMTDestroyContext`: its hardware queues die with it, so their progress-fence views go
/// first.
pub fn destroy_context(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_DESTROYCONTEXT = decode(call.arguments)?;
    let context = D3dkmtHandle(arguments.hContext);
    call.views.remove_context(call.environment, context);
    call.owners.remove_context(context);
    call.status_outside(Request::DestroyContext { context })
}

/// `D3DKMTMarkDeviceAsError`.
pub fn mark_device_as_error(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_MARKDEVICEASERROR = decode(call.arguments)?;
    call.gpu_status(Request::MarkDeviceAsError(MarkDeviceAsErrorCommand {
        device: D3dkmtHandle(arguments.hDevice),
        reason: arguments.Reason,
        ..FromZeros::new_zeroed()
    }))
}

/// `D3DKMTSubmitCommand`: 1 … 64 broadcast contexts, ≤ 16 written primaries (not sent: the
/// protocol has no field for them), ≤ 1024 history buffers, ≤ 128 KiB private data (the
/// emulated vGPU's command stream).
pub fn submit_command(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SUBMITCOMMAND = decode(call.arguments)?;
    let context_count = checked_count(
        arguments.BroadcastContextCount,
        1,
        D3DDDI_MAX_BROADCAST_CONTEXT,
    )?;
    checked_count(arguments.NumPrimaries, 0, D3DDDI_MAX_WRITTEN_PRIMARIES)?;
    let history_count = checked_count(arguments.NumHistoryBuffers, 0, MAX_HISTORY_BUFFERS)?;
    let private_data = read_private_data(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let history_buffers = read_handles(
        call.environment,
        arguments.HistoryBufferArray,
        history_count,
    )?;
    call.status_outside(Request::SubmitCommand {
        contexts: handles_of(&arguments.BroadcastContext, context_count),
        command_buffer: arguments.Commands,
        command_length: arguments.CommandLength,
        private_data,
        history_buffers,
    })
}
