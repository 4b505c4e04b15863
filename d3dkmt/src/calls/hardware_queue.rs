//! Hardware queues: CreateHwQueue, DestroyHwQueue, SubmitCommandToHwQueue,
//! SubmitSignalSyncObjectsToHwQueue and SubmitWaitForSyncObjectsToHwQueue (dxg.md §3.14,
//! §3.16, §3.18).

use super::prelude::*;
use super::sync::{signal_from_context, single_broadcast_context, wait_from_context};

/// `D3DKMTCreateHwQueue`: private data (≤ 128 KiB) goes to the host and the host's version of
/// it comes back; the progress fence's value page is mapped read-only (like every monitored
/// fence) and its user address goes to `HwQueueProgressFenceCPUVirtualAddress`. If the page
/// cannot be mapped or the private data cannot be written back, the view is removed and the
/// queue destroyed again.
pub fn create_hw_queue(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_CREATEHWQUEUE = decode(call.arguments)?;
    let context = D3dkmtHandle(arguments.hHwContext);
    let private_data = read_private_data(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let size = private_data.len();
    let request = Request::CreateHwQueue {
        command: CreateHwQueueCommand {
            context,
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        private_data,
    };
    let (hwqueue, progress_fence, fence_address, fence_gpu_address, reply_data) = reply!(
        call.gpu(request)?,
        Reply::HwQueue {
            hwqueue, progress_fence, fence_address, fence_gpu_address, private_data,
        } => (hwqueue, progress_fence, fence_address, fence_gpu_address, private_data)
    );
    let device = call
        .owners
        .context_device(context)
        .unwrap_or(D3dkmtHandle::NULL);
    let undo = Request::DestroyHwQueue { hwqueue };
    let cpu_address = call.map_fence_view(fence_address, hwqueue, device, context, undo.clone())?;
    let written = write_reply(
        call.environment,
        arguments.pPrivateDriverData,
        &reply_data,
        size,
    );
    if written.is_err() {
        call.views.remove_fence(call.environment, hwqueue);
    }
    call.or_undo(written, undo)?;
    arguments.hHwQueue = hwqueue.0;
    arguments.hHwQueueProgressFence = progress_fence.0;
    arguments.HwQueueProgressFenceCPUVirtualAddress = cpu_address;
    arguments.HwQueueProgressFenceGPUVirtualAddress = fence_gpu_address;
    call.store(&arguments)
}

/// `D3DKMTDestroyHwQueue`: unmaps its progress-fence page first.
pub fn destroy_hw_queue(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_DESTROYHWQUEUE = decode(call.arguments)?;
    let hwqueue = D3dkmtHandle(arguments.hHwQueue);
    call.views.remove_fence(call.environment, hwqueue);
    call.status_outside(Request::DestroyHwQueue { hwqueue })
}

/// `D3DKMTSubmitCommandToHwQueue`: ≤ 16 written primaries, ≤ 128 KiB private data (the emulated
/// vGPU's command stream); the host sets the progress fence to `HwQueueProgressFenceId` when
/// the work is done.
pub fn submit_command_to_hw_queue(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SUBMITCOMMANDTOHWQUEUE = decode(call.arguments)?;
    let primary_count = checked_count(arguments.NumPrimaries, 0, D3DDDI_MAX_WRITTEN_PRIMARIES)?;
    let private_data = read_private_data(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let primaries = read_handles(call.environment, arguments.WrittenPrimaries, primary_count)?;
    call.status_outside(Request::SubmitCommandToHwQueue {
        command: SubmitCommandToHwQueueCommand {
            hwqueue: D3dkmtHandle(arguments.hHwQueue),
            progress_fence_id: arguments.HwQueueProgressFenceId,
            command_buffer: arguments.CommandBuffer,
            command_length: arguments.CommandLength,
            ..FromZeros::new_zeroed()
        },
        private_data,
        primaries,
    })
}

/// `D3DKMTSubmitSignalSyncObjectsToHwQueue`: the queue signals 1 … 32 monitored fences, one
/// value each (the SIGNALSYNCOBJECT Linux sends with the queue as the context). Served for one
/// queue and no flags, like SignalSynchronizationObjectFromGpu2; several queues (1 … 64) and
/// signal flags are not supported yet.
pub fn submit_signal_to_hw_queue(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE = decode(call.arguments)?;
    let queue = single_broadcast_context(
        call.environment,
        arguments.ObjectCount,
        arguments.BroadcastHwQueueCount,
        arguments.BroadcastHwQueueArray,
        arguments.Flags,
    )?;
    signal_from_context(
        call,
        queue,
        arguments.ObjectCount,
        arguments.ObjectHandleArray,
        arguments.FenceValueArray,
    )
}

/// `D3DKMTSubmitWaitForSyncObjectsToHwQueue`: the queue waits for 1 … 32 monitored fences (the
/// WAITFORSYNCOBJECTFROMGPU Linux sends with the queue as the context, not legacy).
pub fn submit_wait_to_hw_queue(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE = decode(call.arguments)?;
    wait_from_context(
        call,
        D3dkmtHandle(arguments.hHwQueue),
        arguments.ObjectCount,
        arguments.ObjectHandleArray,
        arguments.FenceValueArray,
    )
}
