//! Process teardown (dxg.md §4.3 step 6): the commands a dying process's objects need, then
//! DESTROYPROCESS.

use super::prelude::*;

impl Driver {
    /// Process exit (dxg.md §4.3 step 6): FLUSHDEVICE, DESTROYALLOCATION per allocation and
    /// resource, DESTROYDEVICE for every live device, then DESTROYPROCESS once all answered.
    pub(super) fn start_process_teardown(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
    ) -> Result<(), NtStatus> {
        let process = self
            .processes
            .get_mut(&pid)
            .ok_or(NtStatus::INVALID_HANDLE)?;
        if process.state != ProcessState::Active {
            return Err(NtStatus::INVALID_HANDLE);
        }
        process.state = ProcessState::Destroying;
        let devices = process.entries_of(Device);
        let allocations = process.entries_of(Allocation);
        let resources = process.entries_of(Resource);
        let mut commands: Vec<(AdapterId, Vec<u8>)> = Vec::new();
        for device in devices
            .iter()
            .filter(|device| self.require_active(device.adapter).is_ok())
        {
            let flush = self.flush_device_command(pid, device.handle);
            commands.push((device.adapter, flush));
            let owned = allocations
                .iter()
                .chain(resources.iter())
                .filter(|entry| entry.device == device.handle);
            for entry in owned {
                let bytes = self.destroy_not_in_use_command(
                    pid,
                    device.handle,
                    entry.handle,
                    entry.kind == Resource,
                );
                commands.push((device.adapter, bytes));
            }
            let destroy = self.handle_command(VgpuCommand::DestroyDevice, pid, device.handle);
            commands.push((device.adapter, destroy));
        }
        let shared = self.teardown_shared_objects(pid, ticket);
        if let Some(process) = self.processes.get_mut(&pid) {
            process.teardown_outstanding = commands.len().saturating_add(shared);
        }
        // Waits still pending end now; their late signals are ignored (see `waits`).
        self.abandon_process_events(pid, NtStatus::DEVICE_REMOVED);
        if commands.is_empty() && shared == 0 {
            self.send_destroy_process(pid, ticket);
        }
        for (adapter, bytes) in commands {
            self.send_internal(pid, adapter, Expect::TeardownStep { ticket }, bytes);
        }
        Ok(())
    }

    pub(super) fn send_destroy_process(&mut self, pid: ProcessId, ticket: Ticket) {
        let host = self.host_process(pid);
        let header: CommandHeader = new_command(GlobalCommand::DestroyProcess, host);
        let pending = Pending::unbound(pid, ticket, Expect::DestroyProcess);
        if self.global_ready() {
            self.send_global(None, header.as_bytes().to_vec(), pending);
        } else {
            self.processes.remove(&pid);
            self.forget_abandoned_events(pid);
            self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
        }
    }
}
