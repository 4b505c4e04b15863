//! Decoding of the replies to the requests of `encode_memory` and `encode_scheduling`
//! (dxg.md §3.12, §3.14, §3.23–§3.25). Every reply is length-checked before use (short →
//! BUFFER_TOO_SMALL and a protocol error); negative statuses fail the request with that status.

use super::encode_scheduling::CREATE_HWQUEUE_PRIVATE_OFFSET;
use super::replies::{Expect, Pending};
use super::{Driver, ObjectEntry, ObjectKind, Reply};
use crate::wire::*;
use alloc::vec::Vec;
use zerocopy::IntoBytes;

/// Status at `offset`, and the request's result if it is a failure.
fn failure_at(payload: &[u8], offset: usize) -> Result<NtStatus, NtStatus> {
    let status = NtStatus(read_at::<i32>(payload, offset).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?);
    if status.is_success() {
        Ok(status)
    } else {
        Err(status)
    }
}

impl Driver {
    /// Decodes the reply of a newer request (`pending.expect` is one of the extended kinds).
    pub(super) fn on_extended_reply(&mut self, pending: Pending, payload: &[u8]) {
        if Self::is_sharing_reply(&pending.expect) {
            return self.on_sharing_reply(pending, payload);
        }
        let result = self.decode_extended(&pending, payload);
        self.finish(&pending, result);
    }

    /// Checks the reply length, reporting a short reply as a protocol error.
    fn long_enough(&mut self, pending: &Pending, payload: &[u8], expected: usize) -> bool {
        self.need::<u8>(pending, payload, expected.max(1)).is_some() && payload.len() >= expected
    }

    fn decode_extended(&mut self, pending: &Pending, payload: &[u8]) -> Result<Reply, NtStatus> {
        let short = Err(NtStatus::BUFFER_TOO_SMALL);
        match pending.expect.clone() {
            Expect::GpuVirtualAddress { map: false } => {
                let Some(reply) = self.need::<ReserveGpuVirtualAddressReply>(
                    pending,
                    payload,
                    ReserveGpuVirtualAddressReply::SIZE,
                ) else {
                    return short;
                };
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
            Expect::GpuVirtualAddress { map: true } => {
                let Some(reply) = self.need::<MapGpuVirtualAddressReply>(
                    pending,
                    payload,
                    MapGpuVirtualAddressReply::SIZE,
                ) else {
                    return short;
                };
                let status = failure_at(reply.as_bytes(), 16)?;
                Ok(Reply::GpuVirtualAddress {
                    status,
                    virtual_address: reply.virtual_address,
                    paging_fence_value: reply.paging_fence_value,
                })
            }
            Expect::HwQueue {
                device,
                context,
                private_size,
            } => self.hwqueue_created(pending, payload, device, context, private_size),
            Expect::SchedulingPriority => {
                let Some(reply) = self.need::<GetContextSchedulingPriorityReply>(
                    pending,
                    payload,
                    GetContextSchedulingPriorityReply::SIZE,
                ) else {
                    return short;
                };
                failure_at(payload, 0)?;
                Ok(Reply::SchedulingPriority(reply.priority))
            }
            Expect::AllocationPriorities { count } | Expect::Residency { count } => {
                // `count` comes from the application: a length past usize::MAX is too long.
                let expected = count.saturating_mul(4).saturating_add(4);
                if !self.long_enough(pending, payload, expected) {
                    return short;
                }
                failure_at(payload, 0)?;
                let values =
                    read_u32_array(payload, 4, count).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                if matches!(pending.expect, Expect::Residency { .. }) {
                    Ok(Reply::Residency(values))
                } else {
                    Ok(Reply::AllocationPriorities(values))
                }
            }
            Expect::Reclaim { results } => {
                let expected = results
                    .saturating_mul(4)
                    .saturating_add(RECLAIM_RESULTS_OFFSET);
                if !self.long_enough(pending, payload, expected) {
                    return short;
                }
                let status = failure_at(payload, 8)?;
                let paging_fence_value = read_at::<u64>(payload, 0).unwrap_or(0);
                let results = read_u32_array(payload, RECLAIM_RESULTS_OFFSET, results)
                    .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                Ok(Reply::Reclaimed {
                    status,
                    paging_fence_value,
                    results,
                })
            }
            Expect::ClockCalibration => {
                if !self.long_enough(pending, payload, QueryClockCalibrationReply::SIZE) {
                    return short;
                }
                failure_at(payload, 0)?;
                let [gpu_frequency, gpu_clock_counter, cpu_clock_counter] =
                    read_at::<[u64; 3]>(payload, 4).map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                Ok(Reply::ClockCalibration {
                    gpu_frequency,
                    gpu_clock_counter,
                    cpu_clock_counter,
                    flags: read_at::<u32>(payload, 28).unwrap_or(0),
                })
            }
            Expect::PagingFence => {
                let Some(reply) = self.need::<FenceValueStatusReply>(
                    pending,
                    payload,
                    FenceValueStatusReply::SIZE,
                ) else {
                    return short;
                };
                let status = failure_at(payload, 8)?;
                Ok(Reply::PagingFence {
                    status,
                    paging_fence_value: reply.paging_fence_value,
                })
            }
            Expect::Statistics => {
                if !self.long_enough(pending, payload, QueryStatisticsReply::SIZE) {
                    return short;
                }
                failure_at(payload, 0)?;
                let statistics = read_bytes(payload, 8, STATISTICS_RESULT_SIZE)
                    .map_err(|_| NtStatus::BUFFER_TOO_SMALL)?;
                Ok(Reply::Statistics(statistics.to_vec()))
            }
            Expect::Feature => {
                let Some(reply) = self.need::<IsFeatureEnabledReply>(
                    pending,
                    payload,
                    IsFeatureEnabledReply::SIZE,
                ) else {
                    return short;
                };
                failure_at(payload, 0)?;
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
            other => {
                log::warn!("dxg: no decoder for {other:?}");
                Err(NtStatus::NOT_IMPLEMENTED)
            }
        }
    }

    /// CREATEHWQUEUE echo: status at +24, handles at +28/+32, fence addresses at +40/+48,
    /// private data at +68. Registers the queue and its progress fence (a monitored fence); if
    /// that fails after the host succeeded, DESTROYHWQUEUE undoes the host side.
    fn hwqueue_created(
        &mut self,
        pending: &Pending,
        payload: &[u8],
        device: D3dkmtHandle,
        context: D3dkmtHandle,
        private_size: usize,
    ) -> Result<Reply, NtStatus> {
        let expected = CREATE_HWQUEUE_PRIVATE_OFFSET.saturating_add(private_size);
        if !self.long_enough(pending, payload, expected) {
            return Err(NtStatus::BUFFER_TOO_SMALL);
        }
        failure_at(payload, 24)?;
        let hwqueue = D3dkmtHandle(read_at::<u32>(payload, 28).unwrap_or(0));
        let progress_fence = D3dkmtHandle(read_at::<u32>(payload, 32).unwrap_or(0));
        let fence_address = read_at::<u64>(payload, 40).unwrap_or(0);
        let fence_gpu_address = read_at::<u64>(payload, 48).unwrap_or(0);
        if hwqueue.is_null() {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        let (Some(adapter), Some(pid)) = (pending.adapter, pending.process) else {
            return Err(NtStatus::INVALID_HANDLE);
        };
        let registered = if !self.is_io_space_page(fence_address) {
            self.bad_reply(pending, "progress fence address outside the IO space");
            Err(NtStatus::INVALID_PARAMETER)
        } else if !self.insert_object(
            pending,
            ObjectEntry::simple(hwqueue, ObjectKind::HwQueue, adapter, device),
        ) {
            Err(NtStatus::INVALID_HANDLE)
        } else if !self.insert_object(
            pending,
            ObjectEntry::simple(progress_fence, ObjectKind::MonitoredFence, adapter, device),
        ) {
            self.remove_objects(pid, &[hwqueue]);
            Err(NtStatus::INVALID_HANDLE)
        } else {
            Ok(())
        };
        if let Err(status) = registered {
            let bytes = self.handle_command(VgpuCommand::DestroyHwQueue, pid, hwqueue);
            self.send_internal(pid, adapter, Expect::Ignore, bytes);
            return Err(status);
        }
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
