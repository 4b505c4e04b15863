//! Host handlers of the scheduling and adapter-query commands (dxg.md §3.14, §3.23–§3.25):
//! hardware queues (50–52), context priorities (33, 61), MARKDEVICEASERROR (29),
//! FLUSHHEAPTRANSITIONS (37), QUERYCLOCKCALIBRATION (62), QUERYSTATISTICS (48) and
//! ISFEATUREENABLED (68).
//!
//! A hardware queue owns a monitored fence whose value lives at offset 0 of an IO-space page;
//! SUBMITCOMMANDTOHWQUEUE runs the command stream (docs/vgpu-command-processor.md) and then
//! writes the submission's progress fence value there.

use super::dispatch::{Handled, element_offset, parse, put_bytes, status_bytes};
use super::{GpuHost, HostObject, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;
use zerocopy::IntoBytes;

/// GPU timestamp frequency reported by QUERYCLOCKCALIBRATION (100 ns ticks).
pub const GPU_CLOCK_FREQUENCY: u64 = 10_000_000;
/// Offset of the private data in CREATEHWQUEUE.
const CREATE_HWQUEUE_PRIVATE_OFFSET: usize = 68;
/// Most written primaries one hardware-queue submission names.
/// Context scheduling priority bounds (`D3DKMT_SETCONTEXTSCHEDULINGPRIORITY`: −7 … 7 relative,
/// 0 … 31 absolute).
const IN_PROCESS_PRIORITY: core::ops::RangeInclusive<i32> = -7..=7;
const ABSOLUTE_PRIORITY: core::ops::RangeInclusive<i32> = 0..=31;
/// Default absolute context priority.
const DEFAULT_PRIORITY: i32 = 16;

impl<M: GuestMemory> GpuHost<M> {
    /// Handles the scheduling and query commands (process already checked).
    pub(super) fn scheduling_command(
        &mut self,
        process: D3dkmtHandle,
        kind: VgpuCommand,
        command: &[u8],
        adapter: usize,
    ) -> Handled {
        match kind {
            VgpuCommand::CreateHwQueue => self.create_hwqueue(process, adapter, command),
            VgpuCommand::DestroyHwQueue => {
                let request: HandleCommand = parse(command)?;
                let fence = match self.expect(process, request.handle, adapter, |object| {
                    matches!(object, HostObject::HwQueue { .. })
                })? {
                    HostObject::HwQueue { fence, .. } => fence,
                    _ => D3dkmtHandle::NULL,
                };
                self.destroy_where(process, |handle, _| {
                    handle == request.handle || handle == fence
                });
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::SubmitCommandToHwQueue => {
                self.submit_to_hwqueue(process, adapter, command)
            }
            VgpuCommand::SetContextSchedulingPriority => {
                let request: SetContextSchedulingPriorityCommand = parse(command)?;
                self.expect_context(process, adapter, request.context)?;
                let in_process = request.in_process != 0;
                let range = if in_process {
                    IN_PROCESS_PRIORITY
                } else {
                    ABSOLUTE_PRIORITY
                };
                if !range.contains(&request.priority) {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let entry = self.process_mut(process)?;
                let slot = entry
                    .context_priorities
                    .entry(request.context)
                    .or_insert((DEFAULT_PRIORITY, 0));
                if in_process {
                    slot.1 = request.priority;
                } else {
                    slot.0 = request.priority;
                }
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            VgpuCommand::GetContextSchedulingPriority => {
                let request: GetContextSchedulingPriorityCommand = parse(command)?;
                self.expect_context(process, adapter, request.context)?;
                let (absolute, relative) = self
                    .processes
                    .get(&process)
                    .and_then(|entry| entry.context_priorities.get(&request.context))
                    .copied()
                    .unwrap_or((DEFAULT_PRIORITY, 0));
                let priority = if request.in_process != 0 {
                    relative
                } else {
                    absolute
                };
                Ok(GetContextSchedulingPriorityReply {
                    status: 0,
                    priority,
                }
                .as_bytes()
                .to_vec())
            }
            VgpuCommand::MarkDeviceAsError => {
                let request: MarkDeviceAsErrorCommand = parse(command)?;
                self.expect_device(process, request.device, adapter)?;
                self.process_mut(process)?
                    .device_errors
                    .insert(request.device, request.reason);
                // The guest caches the execution state; tell it that it changed.
                self.notify_device_state_changed();
                Ok(status_bytes(NtStatus::SUCCESS))
            }
            // The synchronous GPU has no heap transitions in flight.
            VgpuCommand::FlushHeapTransitions => Ok(status_bytes(NtStatus::SUCCESS)),
            VgpuCommand::QueryClockCalibration => {
                let request: QueryClockCalibrationCommand = parse(command)?;
                let host_adapter = self.vgpus.get(adapter).map(|vgpu| vgpu.host_adapter);
                if host_adapter != Some(request.adapter) {
                    return Err(NtStatus::INVALID_HANDLE);
                }
                if request.node_ordinal != 0 || request.physical_adapter_index != 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let ticks = (self.clock_origin.elapsed().as_nanos() / 100) as u64;
                let mut reply = QueryClockCalibrationReply::zeroed();
                reply.clock_data[..8].copy_from_slice(&GPU_CLOCK_FREQUENCY.to_le_bytes());
                reply.clock_data[8..16].copy_from_slice(&ticks.to_le_bytes());
                reply.clock_data[16..24].copy_from_slice(&ticks.to_le_bytes());
                Ok(reply.as_bytes().to_vec())
            }
            VgpuCommand::QueryStatistics => self.query_statistics(process, adapter, command),
            _ => self.sharing_vgpu_command(process, kind, command, adapter),
        }
    }

    fn expect_context(
        &self,
        process: D3dkmtHandle,
        adapter: usize,
        context: D3dkmtHandle,
    ) -> Result<(), NtStatus> {
        self.expect(process, context, adapter, |object| {
            matches!(object, HostObject::Context)
        })
        .map(|_| ())
    }

    fn create_hwqueue(&mut self, process: D3dkmtHandle, adapter: usize, command: &[u8]) -> Handled {
        // The fixed part is 68 bytes; the 4-byte placeholder is absent when private data follows.
        let mut fixed = [0u8; CreateHwQueueCommand::SIZE];
        let available = command.len().min(fixed.len());
        if available < CREATE_HWQUEUE_PRIVATE_OFFSET {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        put_bytes(
            &mut fixed,
            0,
            command
                .get(..available)
                .ok_or(NtStatus::INVALID_PARAMETER)?,
        );
        let request: CreateHwQueueCommand = parse(&fixed)?;
        let device = match self
            .processes
            .get(&process)
            .and_then(|entry| entry.objects.get(&request.context))
        {
            Some(Owned {
                device,
                adapter: owner,
                object: HostObject::Context,
            }) if *owner == adapter => *device,
            Some(Owned { adapter: owner, .. }) if *owner == adapter => {
                return Err(NtStatus::OBJECT_TYPE_MISMATCH);
            }
            _ => return Err(NtStatus::INVALID_HANDLE),
        };
        read_bytes(
            command,
            CREATE_HWQUEUE_PRIVATE_OFFSET,
            request.private_data_size as usize,
        )
        .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        let page = self.allocate_io(PAGE_SIZE)?;
        let entry = self.process_mut(process)?;
        let (Some(queue), Some(fence)) = (entry.handles.allocate(), entry.handles.allocate())
        else {
            if let Some(space) = self.io_space.as_mut() {
                space.free(page, PAGE_SIZE);
            }
            return Err(NtStatus::NO_MEMORY);
        };
        entry.objects.insert(
            fence,
            Owned {
                device,
                adapter,
                object: HostObject::SyncObject {
                    object_type: SYNC_OBJECT_MONITORED_FENCE,
                    fence_page: Some(page),
                    value: 0,
                    event: 0,
                },
            },
        );
        entry.objects.insert(
            queue,
            Owned {
                device,
                adapter,
                object: HostObject::HwQueue {
                    context: request.context,
                    fence,
                },
            },
        );
        let _ = self.memory.write_u64(page, 0);
        let mut echo = command.to_vec();
        put_bytes(&mut echo, 24, &0i32.to_le_bytes());
        put_bytes(&mut echo, 28, &queue.0.to_le_bytes());
        put_bytes(&mut echo, 32, &fence.0.to_le_bytes());
        put_bytes(&mut echo, 40, &page.to_le_bytes());
        put_bytes(&mut echo, 48, &page.to_le_bytes());
        Ok(echo)
    }

    /// Runs the submission's stream (private data after the primaries, else the command buffer
    /// by GPU VA or IO-space address), then writes the progress fence value. A failed stream
    /// leaves the fence where it was.
    fn submit_to_hwqueue(
        &mut self,
        process: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: SubmitCommandToHwQueueCommand = parse(command)?;
        let fence = match self.expect(process, request.hwqueue, adapter, |object| {
            matches!(object, HostObject::HwQueue { .. })
        })? {
            HostObject::HwQueue { fence, .. } => fence,
            _ => return Err(NtStatus::INVALID_HANDLE),
        };
        // Linux bounds the primaries only by the packet size; `read_u32_array` checks they are
        // all inside the message.
        let primaries = (request.num_primaries as usize).min(MAX_PACKET_SIZE);
        let handles = read_u32_array(command, SubmitCommandToHwQueueCommand::SIZE, primaries)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        for handle in handles {
            self.expect_allocation(process, D3dkmtHandle(handle), adapter)?;
        }
        let stream = if request.private_data_size > 0 {
            let private_offset = element_offset(SubmitCommandToHwQueueCommand::SIZE, primaries, 4)
                .ok_or(NtStatus::INVALID_PARAMETER)?;
            read_bytes(command, private_offset, request.private_data_size as usize)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?
                .to_vec()
        } else {
            self.read_command_buffer(
                process,
                adapter,
                request.command_buffer,
                request.command_length,
            )?
        };
        self.execute_stream(process, adapter, &stream)?;
        let page = self.fence_page(process, fence)?;
        self.memory
            .write_u64(page, request.progress_fence_id)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// QUERYSTATISTICS from the host's counters. `hdr.process` names the queried process. The
    /// filled fields (the first words of each result; other types → NOT_SUPPORTED) are listed in
    /// docs/vgpu-command-processor.md.
    fn query_statistics(
        &mut self,
        process: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: QueryStatisticsCommand = parse(command)?;
        let luid = Luid::of_channel_instance(
            &self
                .vgpus
                .get(adapter)
                .ok_or(NtStatus::INVALID_PARAMETER)?
                .description
                .config
                .channel_instance,
        );
        if request.adapter_luid != luid {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let query_id = read_at::<u32>(&request.query, STATISTICS_RESULT_SIZE).unwrap_or(0);
        let counters = self
            .processes
            .get(&process)
            .map(|entry| entry.counters)
            .unwrap_or_default();
        let (base, length) = self.io_space().unwrap_or((0, 0));
        let _ = base;
        let used = (self.io_pages_in_use() as u64).saturating_mul(PAGE_SIZE);
        let mut result = vec![0u8; STATISTICS_RESULT_SIZE];
        let mut put = |offset: usize, bytes: &[u8]| put_bytes(&mut result, offset, bytes);
        match request.statistics_type {
            STATISTICS_ADAPTER => {
                put(0, &1u32.to_le_bytes()); // segments
                put(4, &1u32.to_le_bytes()); // nodes
                put(8, &0u32.to_le_bytes()); // VidPN sources
            }
            STATISTICS_SEGMENT => {
                if query_id != 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                put(0, &length.to_le_bytes()); // commit limit
                put(8, &used.to_le_bytes()); // bytes committed
                put(16, &used.to_le_bytes()); // bytes resident
            }
            STATISTICS_NODE => {
                if query_id != 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                put(0, &self.statistics.running_time.to_le_bytes());
                put(8, &(self.statistics.submissions as u32).to_le_bytes());
            }
            STATISTICS_PROCESS_NODE => {
                if query_id != 0 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                put(0, &counters.running_time.to_le_bytes());
                put(8, &(counters.submissions as u32).to_le_bytes());
            }
            _ => return Err(NtStatus::NOT_SUPPORTED),
        }
        let mut reply = QueryStatisticsReply::zeroed();
        reply.result.copy_from_slice(&result);
        Ok(reply.as_bytes().to_vec())
    }

    /// ISFEATUREENABLED (process 0): hardware scheduling is known, supported and enabled (the
    /// vGPU has hardware queues); PAGE_BASED_MEMORY_MANAGER and KERNEL_MODE_TESTING are known
    /// and disabled; anything else is unknown.
    pub(super) fn is_feature_enabled(&self, command: &[u8]) -> Handled {
        let request: IsFeatureEnabledCommand = parse(command)?;
        let mut reply = IsFeatureEnabledReply::zeroed();
        match request.feature_id {
            FEATURE_HWSCH => {
                reply.descriptor_bits = FEATURE_DESCRIPTOR_SUPPORTED;
                reply.min_version = 1;
                reply.max_version = 1;
                reply.version = 1;
                reply.result_bits = FEATURE_RESULT_ENABLED
                    | FEATURE_RESULT_KNOWN
                    | FEATURE_RESULT_SUPPORTED_BY_DRIVER
                    | FEATURE_RESULT_SUPPORTED_ON_CONFIG;
            }
            FEATURE_PAGE_BASED_MEMORY_MANAGER | FEATURE_KERNEL_MODE_TESTING => {
                reply.result_bits = FEATURE_RESULT_KNOWN;
            }
            _ => {}
        }
        Ok(reply.as_bytes().to_vec())
    }
}
