//! SUBMITCOMMAND on the emulated host: reading the command buffer and running the stream
//! through the command processor (`docs/vgpu-command-processor.md`).

use super::command_processor::{self, CommandTarget, Surface};
use super::dispatch::{Handled, element_offset, parse, status_bytes};
use super::{GpuHost, HostObject, HostProcess, Owned};
use dxg::wire::*;
use hyperv::memory::GuestMemory;

struct Target<'a> {
    memory: &'a super::sysmem::ScatteredMemory<'a>,
    process: &'a HostProcess,
    adapter: usize,
}

impl CommandTarget for Target<'_> {
    fn allocation(&self, handle: D3dkmtHandle) -> Option<Surface> {
        match self.process.objects.get(&handle) {
            Some(Owned {
                adapter,
                object: HostObject::Allocation { address, size, .. },
                ..
            }) if *adapter == self.adapter => Some(Surface {
                address: *address,
                size: *size,
            }),
            _ => None,
        }
    }
    fn fence(&self, handle: D3dkmtHandle) -> Option<u64> {
        match self.process.objects.get(&handle) {
            Some(Owned {
                object:
                    HostObject::SyncObject {
                        fence_page: Some(page),
                        ..
                    },
                ..
            }) => Some(*page),
            _ => None,
        }
    }
    fn memory(&self) -> &dyn GuestMemory {
        self.memory
    }
}

impl<M: GuestMemory> GpuHost<M> {
    pub(super) fn submit(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        command: &[u8],
    ) -> Handled {
        let request: SubmitCommandCommand = parse(command)?;
        let contexts = request.broadcast_context_count as usize;
        if contexts == 0
            || contexts > MAX_BROADCAST_CONTEXTS
            || request.num_history_buffers as usize > MAX_HISTORY_BUFFERS
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.expect(
            process_handle,
            request.broadcast_context[0],
            adapter,
            |object| matches!(object, HostObject::Context),
        )?;
        let private_offset = element_offset(
            SubmitCommandCommand::SIZE,
            request.num_history_buffers as usize,
            4,
        )
        .ok_or(NtStatus::INVALID_PARAMETER)?;
        let stream = if request.private_data_size > 0 {
            read_bytes(command, private_offset, request.private_data_size as usize)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?
                .to_vec()
        } else {
            self.read_command_buffer(
                process_handle,
                adapter,
                request.command_buffer,
                request.command_length,
            )?
        };
        self.execute_stream(process_handle, adapter, &stream)?;
        Ok(status_bytes(NtStatus::SUCCESS))
    }

    /// Reads a command buffer of `length` bytes at `address`: a GPU virtual address mapped in
    /// the process's address space on `adapter` (contiguous in one allocation), or an IO-space
    /// guest-physical address (e.g. an allocation the guest filled through LOCK2).
    pub(super) fn read_command_buffer(
        &self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        address: u64,
        length: u32,
    ) -> Result<Vec<u8>, NtStatus> {
        if length == 0 {
            return Ok(Vec::new());
        }
        let length = (length as usize).min(MAX_PACKET_SIZE);
        let mut buffer = vec![0u8; length];
        let physical = match self.translate_gpu_va(process_handle, adapter, address, length as u64)
        {
            Some(physical) => physical,
            None => {
                let inside = self.io_space.as_ref().is_some_and(|space| {
                    let end = space.base().saturating_add(space.length());
                    address >= space.base() && address.saturating_add(length as u64) <= end
                });
                if !inside {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                address
            }
        };
        self.gpu_memory()
            .read(physical, &mut buffer)
            .map_err(|_| NtStatus::INVALID_PARAMETER)?;
        Ok(buffer)
    }

    /// Runs a command stream for a process (counting the work), see
    /// `docs/vgpu-command-processor.md`.
    pub(super) fn execute_stream(
        &mut self,
        process_handle: D3dkmtHandle,
        adapter: usize,
        stream: &[u8],
    ) -> Result<(), NtStatus> {
        let started = std::time::Instant::now();
        let process = self
            .processes
            .get(&process_handle)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let memory = self.gpu_memory();
        let target = Target {
            memory: &memory,
            process,
            adapter,
        };
        let mut signals = 0u64;
        let result = command_processor::execute(stream, &target, &mut |_, _| {
            signals = signals.saturating_add(1);
        });
        let elapsed = (started.elapsed().as_nanos() / 100) as u64;
        let packets = result.map(|executed| executed.packets).unwrap_or(0);
        let statistics = &mut self.statistics;
        statistics.submissions = statistics.submissions.saturating_add(1);
        statistics.running_time = statistics.running_time.saturating_add(elapsed);
        if let Some(process) = self.processes.get_mut(&process_handle) {
            let counters = &mut process.counters;
            counters.submissions = counters.submissions.saturating_add(1);
            counters.running_time = counters.running_time.saturating_add(elapsed);
        }
        match result {
            Ok(executed) => {
                self.statistics.packets_executed = self
                    .statistics
                    .packets_executed
                    .saturating_add(u64::from(executed.packets));
                if let Some(process) = self.processes.get_mut(&process_handle) {
                    process.counters.packets =
                        process.counters.packets.saturating_add(u64::from(packets));
                }
                Ok(())
            }
            Err(error) => {
                log::debug!("vgpu: command stream failed: {error:?}");
                Err(NtStatus::INVALID_PARAMETER)
            }
        }
    }
}
