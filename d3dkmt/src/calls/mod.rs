//! The handlers of the served D3DKMT calls, one file per object family.
//!
//! A handler decodes its argument struct, reads and bounds the user arrays it points to, sends
//! one [`Request`] (several only to undo a half-done call) and stores the reply. Outputs are
//! written only on success.

/// Takes apart the one reply variant a request is answered with:
/// `let device = reply!(call.gpu(request)?, Reply::Device(device) => device);`. Any other variant
/// (the dxg core never sends one) ends the handler with [`unexpected`].
macro_rules! reply {
    ($reply:expr, $pattern:pat => $value:expr) => {
        match $reply {
            $pattern => $value,
            other => return Err($crate::calls::unexpected(&other)),
        }
    };
}

pub mod adapter;
pub mod allocation;
pub mod device;
pub mod existing_sysmem;
pub mod hardware_queue;
pub mod legacy_sync;
pub mod priority;
pub mod query;
pub mod residency;
pub mod sharing;
pub mod standard_allocation;
pub mod sync;
pub mod virtual_address;

/// The names the handler files share (each starts with `use super::prelude::*`): the call and
/// its helpers, the argument readers, the D3DKMT argument structs and flags (`userlib::abi`),
/// and the dxg requests, replies and wire structs, as the dxg core's encoders take
/// `crate::wire::*`.
mod prelude {
    pub(super) use super::{Call, success_or_failure, unexpected};
    pub(super) use crate::arguments::{
        ACCESS_VIOLATION, MAX_EXISTING_SYSMEM_BYTES, MAX_HISTORY_BUFFERS, MAX_PRIVATE_DATA,
        PrivateDataBudget, checked_count, decode, encode, handles_of, read_array, read_bytes,
        read_handle, read_handles, read_private_data, read_residency_list, write_bytes,
        write_reply,
    };
    pub(super) use crate::views::{AllocationRecord, Mapping, PAGE_SIZE, Release, ViewAccess};
    pub(super) use crate::{CallResult, Environment, NtStatus, Reply, Request, Timeout};
    pub(super) use alloc::vec::Vec;
    pub(super) use dxg::core::{AdapterEntry, AllocationRequest, CreatedAllocation};
    pub(super) use dxg::core::{GpuVirtualAddressOperation, SyncObjectKind};
    pub(super) use dxg::wire::*;
    pub(super) use userlib::abi::flags::*;
    pub(super) use userlib::abi::*;
    pub(super) use zerocopy::{FromBytes, FromZeros, IntoBytes};
}

use super::arguments::encode;
use super::owners::Owners;
use super::shared::SharedHandles;
use super::views::{Mapping, Views};
use super::{CallResult, Environment, HostWait, NtStatus, Reply, Request, Timeout, WaitReply};
use alloc::boxed::Box;
use dxg::wire::D3dkmtHandle;
use zerocopy::{Immutable, IntoBytes};

/// One call being served: the process's environment and views, and the argument struct.
pub struct Call<'a> {
    /// The kernel side of the process.
    pub environment: &'a mut dyn Environment,
    /// The process's CPU views.
    pub views: &'a mut Views,
    /// The devices of the process's contexts and paging queues.
    pub owners: &'a mut Owners,
    /// The shared handles the process created.
    pub shared: &'a mut SharedHandles,
    /// The copied-in argument struct (copied back afterwards).
    pub arguments: &'a mut [u8],
    /// The syscall's third argument (the CPU-wait timeout).
    pub arg2: u64,
    /// The host wait the handler left to the caller ([`Call::wait_outside`]).
    pub wait: Option<Box<HostWait>>,
}

impl Call<'_> {
    /// Sends a request that waits as long as it takes.
    pub fn gpu(&mut self, request: Request) -> Result<Reply, NtStatus> {
        self.environment.gpu(request, Timeout::Infinite)
    }

    /// Stores the updated argument struct (copied back to the user) and succeeds: the last step
    /// of a call that writes its results into its struct.
    pub fn store<A: IntoBytes + Immutable>(&mut self, arguments: &A) -> CallResult {
        encode(self.arguments, arguments);
        Ok(NtStatus::SUCCESS)
    }

    /// Leaves the CPU wait `request` to the caller to make ([`HostWait::wait`], after the
    /// handler returns, without holding the process): the last step of
    /// `WaitForSynchronizationObjectFromCpu`. The handler then returns `Ok` (its status is
    /// replaced by the wait's).
    pub fn wait_outside(&mut self, request: Request, timeout: Timeout) -> CallResult {
        self.leave(request, timeout, WaitReply::CpuWait)
    }

    /// Leaves `request`, whose reply is a bare status the host may hold back until GPU work is
    /// done, to the caller to send ([`HostWait::wait`], without holding the process): the last
    /// step of the calls [`HostWait`] lists. The handler then returns `Ok`.
    pub fn status_outside(&mut self, request: Request) -> CallResult {
        self.leave(request, Timeout::Infinite, WaitReply::Status)
    }

    fn leave(&mut self, request: Request, timeout: Timeout, reply: WaitReply) -> CallResult {
        self.wait = Some(Box::new(HostWait {
            request,
            timeout,
            reply,
        }));
        Ok(NtStatus::PENDING)
    }

    /// Sends a request whose reply is a bare status.
    pub fn gpu_status(&mut self, request: Request) -> CallResult {
        status_of(self.gpu(request)?)
    }

    /// Sends an undo request for a half-done call; its outcome only gets logged.
    pub fn undo(&mut self, request: Request) {
        if let Err(failure) = self.gpu(request) {
            log::warn!("d3dkmt: undo request failed: {failure:?}");
        }
    }

    /// Passes on `result` of a step after a create; a failure first sends `undo` (which
    /// destroys the created object again).
    pub fn or_undo<T>(
        &mut self,
        result: Result<T, NtStatus>,
        undo: Request,
    ) -> Result<T, NtStatus> {
        if result.is_err() {
            self.undo(undo);
        }
        result
    }

    /// Maps the value page of a fence the host just created (at IO-space `fence_address`, 0
    /// for none) read-only and records the view under `owner` (on `device`; `context` for a
    /// hardware queue's progress fence, null otherwise). Returns the user address of the value
    /// (0 when the host reported no page). When the page cannot be mapped, `undo` destroys the
    /// new object again and the mapping failure is returned.
    pub fn map_fence_view(
        &mut self,
        fence_address: u64,
        owner: D3dkmtHandle,
        device: D3dkmtHandle,
        context: D3dkmtHandle,
        undo: Request,
    ) -> Result<u64, NtStatus> {
        if fence_address == 0 {
            return Ok(0);
        }
        let mapped = Mapping::map_fence(self.environment, fence_address);
        let (mapping, value_address) = self.or_undo(mapped, undo)?;
        self.views
            .add_fence(self.environment, owner, device, context, mapping);
        Ok(value_address)
    }
}

/// `Ok` for a success status, `Err` for a failure status.
pub fn success_or_failure(status: NtStatus) -> CallResult {
    if status.is_success() {
        Ok(status)
    } else {
        Err(status)
    }
}

/// The status of a reply that is a bare status.
pub fn status_of(reply: Reply) -> CallResult {
    match reply {
        Reply::Status(status) => success_or_failure(status),
        other => Err(unexpected(&other)),
    }
}

/// The status for a reply of the wrong kind (the dxg core never sends one).
pub fn unexpected(reply: &Reply) -> NtStatus {
    log::warn!("d3dkmt: unexpected reply {reply:?}");
    NtStatus::UNSUCCESSFUL
}
