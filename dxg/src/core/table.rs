//! The request table: the requests that need nothing but their handles checked, described by
//! one row each, and the one generic path that serves them. The requests with more to do
//! (counts, variable tails, guest events, local answers) go on to the encoders by area
//! (`encode`, …).
//!
//! * `by_adapter`: a request carrying its wire struct whole whose `adapter` field is a
//!   guest-local adapter handle: the generic path checks it, replaces it by the host's handle
//!   and sends the struct.
//! * `by_object`: a request carrying its wire struct whole: the first handle field named (an
//!   object of the listed kinds) picks the adapter, every other must name an object of its kinds
//!   on that adapter, an optional predicate checks the rest (else INVALID_PARAMETER).
//! * `destroys`: a request freeing one object of a kind with the 32-byte handle command: the
//!   object and what hangs on it are forgotten ([`Driver::forget`]) before the command goes.
//!
//! The rest of a row's description lives in the command table (`wire::commands`): the command
//! number and channel (from the struct or the code), the reply's minimum size. The reply is read
//! as the row's [`Expect`].

use super::prelude::*;

/// Expands the rows below into the `match` of [`Driver::start_request`].
macro_rules! request_table {
    (
        $driver:ident, $pid:ident, $ticket:ident, $request:ident, $rest:ident;
        by_adapter { $($adapter_variant:ident => $adapter_expect:ident,)* }
        by_object { $(
            $variant:ident: $first:ident [$($first_kind:ident),+]
            $(, $field:ident [$($kind:ident),+])* $(if $valid:ident)? => $expect:ident,
        )* }
        destroys { $(
            $destroy_variant:ident { $handle:ident }: $destroy_kind:ident
            by $channel:ident $code:ident => $destroy_expect:ident,
        )* }
    ) => {
        match $request {
            $(Request::$adapter_variant(mut command) => {
                let id = $driver.adapter_of($pid, command.adapter)?;
                command.adapter = $driver.host_adapter(id)?;
                $driver.send_carried($pid, $ticket, id, Expect::$adapter_expect, command);
            })*
            $(Request::$variant(command) => {
                let entry = $driver.object($pid, command.$first, &[$($first_kind),+])?;
                $($driver.object_on($pid, command.$field, &[$($kind),+], entry.adapter)?;)*
                $(if !$valid(&command) {
                    return Err(NtStatus::INVALID_PARAMETER);
                })?
                $driver.send_carried($pid, $ticket, entry, Expect::$expect, command);
            })*
            $(Request::$destroy_variant { $handle } => {
                let code = CommandCode::from($channel::$code);
                let expect = Expect::$destroy_expect;
                $driver.destroy_object($pid, $ticket, $handle, $destroy_kind, code, expect)?;
            })*
            other => $driver.$rest($pid, $ticket, other)?,
        }
    };
}

/// SETEXISTINGSYSMEMSTORE names a GPADL (0 is none).
fn has_gpadl(command: &SetExistingSysmemStoreCommand) -> bool {
    command.gpadl != 0
}

impl Driver {
    /// Starts a request: a row of the table, or the encoders by area.
    pub(super) fn start_request(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        request: Request,
    ) -> Result<(), NtStatus> {
        request_table! { self, pid, ticket, request, start_adapter_request;
            by_adapter {
                QueryVideoMemoryInfo => ByCommand,
                FreeGpuVirtualAddress => Status,
                QueryClockCalibration => ByCommand,
            }
            by_object {
                MapGpuVirtualAddress: paging_queue [PagingQueue], allocation [Allocation] => ByCommand,
                UpdateAllocationProperty: paging_queue [PagingQueue], allocation [Allocation] => ByCommand,
                InvalidateCache: device [Device], allocation [Allocation] => Status,
                SetContextSchedulingPriority: context [Context] => Status,
                GetContextSchedulingPriority: context [Context] => ByCommand,
                MarkDeviceAsError: device [Device] => Status,
                CreatePagingQueue: device [Device] => ByCommand,
                ShareObjectWithHost: device [Device],
                    object [Resource, Allocation, SyncObject, MonitoredFence] => ByCommand,
                SetExistingSysmemStore: device [Device], allocation [Allocation] if has_gpadl => Status,
            }
            destroys {
                DestroyDevice { device }: Device by VgpuCommand DestroyDevice => Status,
                DestroyPagingQueue { paging_queue }: PagingQueue
                    by VgpuCommand DestroyPagingQueue => NoResult,
                DestroyContext { context }: Context by VgpuCommand DestroyContext => Status,
                DestroyHwQueue { hwqueue }: HwQueue by VgpuCommand DestroyHwQueue => Status,
                DestroySyncObject { sync_object }: SyncObject
                    by GlobalCommand DestroySyncObject => Status,
            }
        }
        Ok(())
    }

    /// The generic path of a `destroys` row: checks that `handle` is a `kind` of `pid`, forgets
    /// it, then sends `code` naming it (a device gets FLUSHDEVICE first, as Linux sends it).
    fn destroy_object(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        handle: D3dkmtHandle,
        kind: ObjectKind,
        code: CommandCode,
        expect: Expect,
    ) -> Result<(), NtStatus> {
        let entry = self.object(pid, handle, &[kind])?;
        let adapter = entry.adapter;
        self.forget(pid, handle, kind);
        if kind == Device {
            let flush = self.flush_device_command(pid, handle);
            self.send_internal(pid, adapter, Expect::Ignore, flush);
        }
        let pending = Pending::request(pid, ticket, expect, entry.into());
        self.send_handle_command(pid, adapter, code, handle, pending);
        Ok(())
    }

    /// Forgets an object of `pid` the guest destroys, with what hangs on it: a device's tree,
    /// a context's hardware queues, a hardware queue's progress fence, a sync object's
    /// CPU_NOTIFICATION event.
    fn forget(&mut self, pid: ProcessId, handle: D3dkmtHandle, kind: ObjectKind) {
        if kind == SyncObject {
            self.events.retain(|_, event| {
                !matches!(event, GuestEvent::Notification { process, sync_object }
                    if *process == pid && *sync_object == handle)
            });
        }
        let Some(process) = self.processes.get_mut(&pid) else {
            return;
        };
        match kind {
            Device => process.remove_device_tree(handle),
            Context => process.remove_context(handle),
            HwQueue => process.remove_hwqueue(handle),
            _ => {
                process.remove(handle);
            }
        }
    }

    /// Sends the 32-byte handle command `code` naming `handle` of `pid`: a vGPU command per the
    /// async-messaging rule (never asynchronously), a global one with `adapter`'s vGPU LUID.
    pub(super) fn send_handle_command(
        &mut self,
        pid: ProcessId,
        adapter: AdapterId,
        code: CommandCode,
        handle: D3dkmtHandle,
        pending: Pending,
    ) {
        let bytes = handle_message(code, self.host_process(pid), handle);
        match code {
            CommandCode::Global(_) => self.send_global(Some(adapter), bytes, pending),
            CommandCode::Vgpu(_) => self.send_vgpu(adapter, bytes, pending),
        }
    }
}
