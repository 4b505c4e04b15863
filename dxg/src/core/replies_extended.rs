//! Decoding of every reply whose shape follows from its command alone (`Expect::ByCommand`:
//! the decoder is picked by the command number recorded for the transaction), and of
//! CREATEHWQUEUE. The generic path (`replies`) checked each reply against the command table's
//! minimum; variable tails are checked here. Negative statuses fail the request with that
//! status.

use super::prelude::*;

impl Driver {
    /// Decodes a reply whose shape follows from its command alone (`Expect::ByCommand`),
    /// picked by the command number recorded for the transaction.
    pub(super) fn decode_by_command(
        &mut self,
        pending: &Pending,
        payload: &[u8],
    ) -> Result<Reply, NtStatus> {
        use CommandCode::{Global, Vgpu};
        match CommandCode::from_u32(pending.command) {
            Some(Vgpu(VgpuCommand::CreateDevice)) => {
                let device = fixed::<D3dkmtHandle>(payload)?;
                if device.is_null() {
                    return Err(NtStatus::UNSUCCESSFUL);
                }
                let mut entry = pending.on()?.entry(device, ObjectKind::Device);
                entry.device = device;
                entry.cached_execution_state =
                    Some((self.device_state_counter, DEVICE_EXECUTION_ACTIVE));
                self.insert_object(pending, entry)?;
                Ok(Reply::Device(device))
            }
            // Registers the queue and its fence (a monitored fence); a fence page outside the IO
            // space or a handle that cannot be registered destroys the queue (and with it the
            // fence) on the host again.
            Some(Vgpu(VgpuCommand::CreatePagingQueue)) => {
                let reply = fixed::<CreatePagingQueueReply>(payload)?;
                let on = pending.on()?;
                let queue = on.entry(reply.paging_queue, ObjectKind::PagingQueue);
                let fence = on.entry(reply.sync_object, ObjectKind::MonitoredFence);
                let fence_address = reply.fence_storage_physical_address;
                let page = (
                    fence_address,
                    "paging queue fence address outside the IO space",
                );
                self.register_created(pending, queue.handle, Some(page), &[queue, fence])?;
                Ok(Reply::PagingQueue {
                    paging_queue: reply.paging_queue,
                    sync_object: reply.sync_object,
                    fence_address,
                })
            }
            Some(Vgpu(VgpuCommand::GetDeviceState)) => {
                let reply = fixed::<GetDeviceStateReply>(payload)?;
                success(reply.status)?;
                let (state_type, state) = (reply.state_type, reply.state[0] as u32);
                let counter = self.device_state_counter;
                if state_type == DEVICE_STATE_EXECUTION
                    && let Some(entry) = pending
                        .process
                        .and_then(|pid| self.processes.get_mut(&pid))
                        .and_then(|process| process.get_mut(pending.device))
                {
                    entry.cached_execution_state = Some((counter, state));
                }
                Ok(Reply::DeviceState { state_type, state })
            }
            Some(Vgpu(VgpuCommand::ReserveGpuVirtualAddress)) => {
                let reply = fixed::<ReserveGpuVirtualAddressReply>(payload)?;
                // The reply has no status: a null address is the host's failure.
                if reply.virtual_address == 0 {
                    return Err(NtStatus::UNSUCCESSFUL);
                }
                Ok(Reply::GpuVirtualAddress {
                    status: NtStatus::SUCCESS,
                    virtual_address: reply.virtual_address,
                    paging_fence_value: reply.paging_fence_value,
                })
            }
            Some(Vgpu(VgpuCommand::MapGpuVirtualAddress)) => {
                let reply = fixed::<MapGpuVirtualAddressReply>(payload)?;
                Ok(Reply::GpuVirtualAddress {
                    status: success_at(payload, 16)?,
                    virtual_address: reply.virtual_address,
                    paging_fence_value: reply.paging_fence_value,
                })
            }
            Some(Vgpu(VgpuCommand::MakeResident)) => {
                let reply = fixed::<MakeResidentReply>(payload)?;
                Ok(Reply::Resident {
                    status: success(reply.status)?,
                    paging_fence_value: reply.paging_fence_value,
                    bytes_to_trim: reply.num_bytes_to_trim,
                })
            }
            Some(Vgpu(VgpuCommand::Evict)) => Ok(Reply::Evicted {
                bytes_to_trim: fixed::<EvictReply>(payload)?.num_bytes_to_trim,
            }),
            Some(Vgpu(VgpuCommand::QueryVideoMemoryInfo)) => {
                Ok(Reply::VideoMemory(fixed(payload)?))
            }
            Some(Vgpu(VgpuCommand::GetContextSchedulingPriority)) => {
                let reply = fixed::<GetContextSchedulingPriorityReply>(payload)?;
                success_at(payload, 0)?;
                Ok(Reply::SchedulingPriority(reply.priority))
            }
            Some(Vgpu(VgpuCommand::QueryClockCalibration)) => {
                success_at(payload, 0)?;
                let [gpu_frequency, gpu_clock_counter, cpu_clock_counter] =
                    read_at::<[u64; 3]>(payload, 4).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                Ok(Reply::ClockCalibration {
                    gpu_frequency,
                    gpu_clock_counter,
                    cpu_clock_counter,
                    flags: read_at::<u32>(payload, 28).unwrap_or(0),
                })
            }
            Some(Vgpu(VgpuCommand::UpdateAllocationProperty)) => Ok(Reply::PagingFence {
                status: success_at(payload, 8)?,
                paging_fence_value: fixed::<FenceValueStatusReply>(payload)?.paging_fence_value,
            }),
            Some(Vgpu(VgpuCommand::QueryStatistics)) => {
                success_at(payload, 0)?;
                let statistics = read_bytes(payload, 8, STATISTICS_RESULT_SIZE)
                    .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                Ok(Reply::Statistics(statistics.to_vec()))
            }
            Some(Vgpu(VgpuCommand::IsFeatureEnabled)) => {
                let reply = fixed::<IsFeatureEnabledReply>(payload)?;
                success_at(payload, 0)?;
                Ok(Reply::Feature {
                    enabled: reply.result_bits & FEATURE_RESULT_ENABLED != 0,
                    known: reply.result_bits & FEATURE_RESULT_KNOWN != 0,
                    version: reply.version,
                    result_bits: reply.result_bits,
                    descriptor_bits: reply.descriptor_bits,
                    min_version: reply.min_version,
                    max_version: reply.max_version,
                })
            }
            Some(Global(GlobalCommand::ShareObjectWithHost)) => {
                let reply = fixed::<ShareObjectWithHostReply>(payload)?;
                success(reply.status)?;
                Ok(Reply::VailNtHandle(reply.vail_nt_handle))
            }
            other => {
                log::warn!("dxg: no reply decoder for command {other:?}");
                Err(NtStatus::NOT_IMPLEMENTED)
            }
        }
    }

    /// CREATEHWQUEUE echo: status at +24, handles at +28/+32, fence addresses at +40/+48,
    /// private data at +68. Registers the queue and its progress fence (a monitored fence); if
    /// that fails after the host succeeded, DESTROYHWQUEUE undoes the host side.
    pub(super) fn hwqueue_created(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        context: D3dkmtHandle,
        private_size: usize,
    ) -> Result<Reply, NtStatus> {
        let expected = CREATE_HWQUEUE_PRIVATE_OFFSET.saturating_add(private_size);
        self.tail(pending, payload, expected)?;
        success_at(payload, 24)?;
        let hwqueue = D3dkmtHandle(read_at::<u32>(payload, 28).unwrap_or(0));
        let progress_fence = D3dkmtHandle(read_at::<u32>(payload, 32).unwrap_or(0));
        let fence_address = read_at::<u64>(payload, 40).unwrap_or(0);
        let fence_gpu_address = read_at::<u64>(payload, 48).unwrap_or(0);
        if hwqueue.is_null() {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        let (on, pid) = (
            pending.on()?,
            pending.process.ok_or(NtStatus::INVALID_HANDLE)?,
        );
        let queue = on.entry(hwqueue, ObjectKind::HwQueue);
        let fence = on.entry(progress_fence, ObjectKind::MonitoredFence);
        let page = Some((fence_address, "progress fence address outside the IO space"));
        self.register_created(pending, hwqueue, page, &[queue, fence])?;
        if let Some(process) = self.processes.get_mut(&pid) {
            process.add_hwqueue(hwqueue, context, progress_fence);
        }
        let private_data: Vec<u8> =
            read_bytes(payload, CREATE_HWQUEUE_PRIVATE_OFFSET, private_size)
                .unwrap_or(&[])
                .to_vec();
        Ok(Reply::HwQueue {
            hwqueue,
            progress_fence,
            fence_address,
            fence_gpu_address,
            private_data,
        })
    }
}
