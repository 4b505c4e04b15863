//! Encoding of the scheduling, adapter-query and system-memory requests (dxg.md §3.14, §3.23–
//! §3.26): hardware queues (50–52), FLUSHHEAPTRANSITIONS (37), QUERYSTATISTICS (48),
//! ISFEATUREENABLED (68), DDIGETSTANDARDALLOCATIONDRIVERDATA (39) and SETEXISTINGSYSMEMPAGES (66,
//! its chunks sent by `encode_sharing`). This is the last encoder of the chain (see `encode`).

use super::prelude::*;

/// Bytes Linux sends beyond `68 + n` when CREATEHWQUEUE carries private data (`72 + n − 1`).
const CREATE_HWQUEUE_SLACK: usize = 3;

impl Driver {
    /// Starts a scheduling, adapter-query or system-memory request (the last encoder).
    pub(super) fn start_scheduling_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        match request {
            Request::CreateHwQueue {
                mut command,
                private_data,
            } => {
                let context = command.context;
                let entry = self.object(pid, context, &[Context])?;
                command.private_data_size = private_data.len() as u32;
                let (fixed, slack) = match private_data.is_empty() {
                    true => (WHOLE, 0),
                    false => (CREATE_HWQUEUE_PRIVATE_OFFSET, CREATE_HWQUEUE_SLACK),
                };
                let bytes = self.message(pid, command, fixed, &[&private_data], slack)?;
                let expect = Expect::HwQueue {
                    context,
                    private_size: private_data.len(),
                };
                self.send_request(pid, ticket, entry, expect, bytes);
            }
            Request::SubmitCommandToHwQueue {
                mut command,
                private_data,
                primaries,
            } => {
                let entry = self.object(pid, command.hwqueue, &[HwQueue])?;
                // Linux bounds `num_primaries` only by the packet size
                // (`dxgkio_submit_command_to_hwqueue`); so does `check_packet` below.
                self.objects_on(pid, &primaries, &[Allocation], entry.adapter)?;
                command.private_data_size = private_data.len() as u32;
                command.num_primaries = primaries.len() as u32;
                let tail = [&super::encode::handle_bytes(&primaries)[..], &private_data];
                let bytes = self.message(pid, command, WHOLE, &tail, 0)?;
                self.send_request(pid, ticket, entry.adapter, Expect::Status, bytes);
            }
            Request::FlushHeapTransitions { adapter } => {
                let id = self.adapter_of(pid, adapter)?;
                let header: CommandHeader = self.command_as(VgpuCommand::FlushHeapTransitions, pid);
                self.send_request(pid, ticket, id, Expect::Status, header.as_bytes());
            }
            Request::QueryStatistics {
                adapter,
                statistics_type,
                query_id,
                process,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                let host = self.active_process(process.unwrap_or(pid))?.host;
                let mut command = QueryStatisticsCommand::with_process(host);
                command.statistics_type = statistics_type;
                let adapter = self.adapters.get(id.0).ok_or(NtStatus::DEVICE_REMOVED)?;
                command.adapter_luid = adapter
                    .info
                    .map(|info| info.host_adapter_luid)
                    .unwrap_or(adapter.luid);
                command.query[STATISTICS_RESULT_SIZE..STATISTICS_RESULT_SIZE + 4]
                    .copy_from_slice(&query_id.to_le_bytes());
                self.send_request(pid, ticket, id, Expect::ByCommand, command.as_bytes());
            }
            Request::IsFeatureEnabled {
                adapter,
                feature_id,
            } => {
                let id = self.adapter_of(pid, adapter)?;
                let mut command: IsFeatureEnabledCommand =
                    new_command(VgpuCommand::IsFeatureEnabled, D3dkmtHandle::NULL);
                command.feature_id = feature_id;
                self.send_request(pid, ticket, id, Expect::ByCommand, command.as_bytes());
            }
            Request::GetStandardAllocationDriverData { device, command } => {
                let entry = self.object(pid, device, &[Device])?;
                if command.allocation_type != STANDARD_ALLOCATION_GDI_SURFACE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let limit = (MAX_PACKET_SIZE - GetStandardAllocationDriverDataReply::SIZE) as u64;
                let (allocation_size, resource_size) = (
                    command.private_driver_data_size,
                    command.private_driver_resource_size,
                );
                // Two u32 values: their u64 sum cannot saturate.
                let total = u64::from(allocation_size).saturating_add(u64::from(resource_size));
                if total > limit {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let expect = Expect::StandardAllocationData {
                    allocation_size,
                    resource_size,
                };
                self.send_carried(pid, ticket, entry.adapter, expect, command);
            }
            Request::SetExistingSysmemPages {
                device,
                allocation,
                page_frames,
            } => {
                let entry = self.object(pid, device, &[Device])?;
                let target = self.object_on(pid, allocation, &[Allocation], entry.adapter)?;
                let pages = target.size / PAGE_SIZE;
                if page_frames.is_empty() || page_frames.len() as u64 != pages {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let pages = SysmemPages {
                    device,
                    allocation,
                    page_frames,
                    offset: 0,
                };
                self.send_sysmem_pages(pid, ticket, entry.adapter, pages);
            }
            _ => return Err(NtStatus::NOT_IMPLEMENTED),
        }
        Ok(())
    }
}
