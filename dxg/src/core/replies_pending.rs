//! Outstanding transactions: what each reply means to the driver ([`Expect`]) and the record
//! kept per transaction until its completion arrives ([`Pending`]).

use super::encode::On;
use super::{AdapterId, ProcessId, Ticket};
use crate::wire::{D3dkmtHandle, NtStatus};
use alloc::vec::Vec;

/// What a reply means to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    SetIoSpace,
    OpenAdapter(AdapterId),
    InternalInfo(AdapterId),
    CloseAdapter(AdapterId),
    CreateProcess,
    DestroyProcess,
    TeardownStep {
        ticket: Ticket,
    },
    /// A reply nobody waits for (FLUSHDEVICE before DESTROYDEVICE).
    Ignore,
    /// 4-byte status.
    Status,
    /// No result expected (any payload).
    NoResult,
    /// A reply whose shape follows from the command alone (the number `send_raw` recorded in
    /// [`Pending::command`]); decoded by `Driver::decode_by_command`.
    ByCommand,
    /// QUERYADAPTERINFO: the reply's `buffer.len()` bytes are read into `buffer` (the
    /// caller's buffer the request carried, reused instead of a second allocation).
    QueryAdapterInfo {
        buffer: Vec<u8>,
        query_type: u32,
    },
    /// CREATECONTEXTVIRTUAL echo with `private_size` bytes of private data.
    Context {
        private_size: usize,
    },
    Allocations {
        count: usize,
        creates_resource: bool,
        /// The existing resource the allocations join (null if none).
        resource: D3dkmtHandle,
    },
    DestroyObjects {
        handles: Vec<D3dkmtHandle>,
    },
    Lock {
        cached: bool,
    },
    SyncObject {
        monitored: bool,
        event: Option<u64>,
    },
    WaitFromCpu {
        event: u64,
    },
    Escape {
        size: usize,
    },
    /// CREATEHWQUEUE echo.
    HwQueue {
        context: D3dkmtHandle,
        private_size: usize,
    },
    /// GETALLOCATIONPRIORITY or QUERYALLOCATIONRESIDENCY: status + `count` values.
    Values {
        count: usize,
    },
    /// RECLAIMALLOCATIONS: fence, status, `results` results.
    Reclaim {
        results: usize,
    },
    /// CREATENTSHAREDOBJECT: the shared handle; registers `kind` under it.
    NtShared {
        kind: super::encode_sharing::SharedKind,
    },
    /// OPENRESOURCE: resource, status, handles; (size, flags) per allocation from the registry.
    ResourceOpened {
        allocations: Vec<(u64, u32)>,
    },
    /// OPENSYNCOBJECT: handle, status, GPU VA, fence page.
    SyncOpened {
        global: D3dkmtHandle,
        monitored: bool,
    },
    /// DDIGETSTANDARDALLOCATIONDRIVERDATA with the requested blob sizes (0, 0 = sizing call).
    StandardAllocationData {
        allocation_size: u32,
        resource_size: u32,
    },
    /// One SETEXISTINGSYSMEMPAGES chunk starting at `offset`.
    SysmemPages(SysmemPages),
}

/// A SETEXISTINGSYSMEMPAGES request in flight: the allocation of `device` its frames back and
/// how many were sent before the current chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SysmemPages {
    pub device: D3dkmtHandle,
    pub allocation: D3dkmtHandle,
    pub page_frames: Vec<u64>,
    pub offset: usize,
}

/// An outstanding transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub expect: Expect,
    pub adapter: Option<AdapterId>,
    pub ticket: Option<Ticket>,
    pub process: Option<ProcessId>,
    /// The device the request's objects live on (null if none): created objects join it.
    pub device: D3dkmtHandle,
    /// The command number, recorded by `send_raw` from the command's header (for error reports).
    pub command: u32,
}

impl Pending {
    /// The adapter and device of a request's transaction (INVALID_HANDLE for one the driver
    /// sent for no adapter: it creates nothing).
    pub fn on(&self) -> Result<On, NtStatus> {
        let adapter = self.adapter.ok_or(NtStatus::INVALID_HANDLE)?;
        Ok(On {
            adapter,
            device: self.device,
        })
    }

    pub fn new(expect: Expect, adapter: Option<AdapterId>) -> Self {
        Self {
            expect,
            adapter,
            ticket: None,
            process: None,
            device: D3dkmtHandle::NULL,
            command: u32::MAX,
        }
    }

    /// The transaction of a request of `process`, answered on `ticket`.
    pub fn request(process: ProcessId, ticket: Ticket, expect: Expect, on: On) -> Self {
        let device = on.device;
        let ticket = Some(ticket);
        Self {
            ticket,
            device,
            ..Self::internal(process, expect, on.adapter)
        }
    }

    /// The transaction of a request of `process` that concerns no adapter (CREATEPROCESS,
    /// DESTROYPROCESS).
    pub fn unbound(process: ProcessId, ticket: Ticket, expect: Expect) -> Self {
        Self {
            ticket: Some(ticket),
            process: Some(process),
            ..Self::new(expect, None)
        }
    }

    /// A transaction of `process` the driver sends on its own (no ticket waits for it).
    pub fn internal(process: ProcessId, expect: Expect, adapter: AdapterId) -> Self {
        let process = Some(process);
        Self {
            process,
            ..Self::new(expect, Some(adapter))
        }
    }
}
