//! Mode 7: the invalid-argument table. Every D3DKMT entry point gets bad arguments through the
//! real system call (userlib's call table drives it, so a new entry point is covered without
//! editing this file), and each answer must be the documented NTSTATUS:
//!
//! | row | input | expected |
//! |---|---|---|
//! | size | `rsi` one byte short | `STATUS_INFO_LENGTH_MISMATCH` |
//! | unmapped | the struct at 0x10 | `STATUS_ACCESS_VIOLATION` |
//! | read-only | the struct in this program's read-only data | `STATUS_ACCESS_VIOLATION` |
//! | zeroed | an all-zero struct (null handles) | per call ([`zeroed_status`]): `STATUS_INVALID_HANDLE` where the first thing checked is a handle, `STATUS_INVALID_PARAMETER` where it is a count, pointer or LUID, `STATUS_NOT_SUPPORTED` for the calls dxgos does not serve, `STATUS_SUCCESS` for the `EnumAdapters2/3` count query |
//! | bad handle | a made-up handle where the call takes one | `STATUS_INVALID_HANDLE` |
//! | oversize count | an object/allocation count above the D3DKMT limit | `STATUS_INVALID_PARAMETER` |
//! | bad nested pointer | an array or buffer pointer to unmapped or kernel memory | `STATUS_ACCESS_VIOLATION` |
//! | foreign handle | a device handle of another process (argument bits 32–63), a value this process has no object for | `STATUS_INVALID_HANDLE` |
//! | swapped handle | a live handle of this process, but of another kind (a context where a device goes, a device where an allocation goes, a sync object where a context goes) | `STATUS_OBJECT_TYPE_MISMATCH` (the translator knows each handle's kind) |
//! | adapter as object, object as adapter | the adapter's handle where a device goes, or a device, context or fence where an adapter goes | `STATUS_INVALID_HANDLE` (adapter handles are the guest's own, a namespace apart from the host's object handles) |
//! | kernel struct, non-canonical struct | the argument struct at a kernel or non-canonical address | `STATUS_ACCESS_VIOLATION` |
//!
//! [`crate::hostile_rows`] adds huge counts, kernel-space nested pointers, views already
//! released (by Unlock2 or by destroying the allocation), the framebuffer view (the process
//! needs a framebuffer grant), more swapped handles and more of another process's handles;
//! [`crate::call_rows`] (rows as data) reaches the remaining calls. Every row also checks that
//! the process's dxg object count (`DxgObjectCount`) is the same after the call as before it
//! (nothing created, nothing leaked), and the free page frames must be the same after the whole
//! table as before it (the baseline taken after [`warm_up`] made the view region's page
//! tables).
//!
//! Each failed row prints one line; the result is the number of rows that failed.

use userlib::abi::status::{
    STATUS_ACCESS_VIOLATION, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS,
};
use userlib::abi::{self, NTSTATUS};
use userlib::gpu::Device;
use userlib::println;
use userlib::sys::{D3DKMT_CALLS, Native, SyscallNumber, call_d3dkmt, process, result_to_status};

use crate::raw_syscall;

/// A handle no process was given.
pub(crate) const MADE_UP_HANDLE: u32 = 0x4000_0bad;
/// An address in the kernel half.
pub(crate) const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;
/// A non-canonical address.
const NON_CANONICAL: u64 = 0x0000_8000_0000_0000;
/// An unmapped user address.
pub(crate) const UNMAPPED: u64 = 0x10;

/// Read-only bytes big enough for any argument struct (lives in .rodata).
static READ_ONLY: [u8; 1024] = [0; 1024];

pub(crate) struct Table {
    rows: u32,
    failed: u32,
    /// Rows whose dxg object count was compared before and after.
    counted: u32,
    /// The D3DKMT calls rows beyond the four generic ones reached.
    reached: [bool; 0x46],
}

impl Table {
    /// Runs one row's call and checks that the process's dxg object count is the same after
    /// it as before (`DxgObjectCount`); returns the call's status.
    pub(crate) fn counted(
        &mut self,
        what: &str,
        number: SyscallNumber,
        run: impl FnOnce() -> NTSTATUS,
    ) -> NTSTATUS {
        let before = process::dxg_object_count(&Native);
        let status = run();
        let after = process::dxg_object_count(&Native);
        self.counted += 1;
        if before.is_err() || before != after {
            self.rows += 1;
            self.failed += 1;
            let call = export_name(number);
            println!(
                "selftest: {what} {call}: dxg objects {before:?} before, {after:?} after: FAILED"
            );
        }
        status
    }

    /// Notes that a specific row reached call `number`.
    pub(crate) fn reach(&mut self, number: SyscallNumber) {
        if let Some(slot) = self.reached.get_mut(number as usize) {
            *slot = true;
        }
    }

    pub(crate) fn check(&mut self, what: &str, call: &str, status: NTSTATUS, expected: NTSTATUS) {
        self.check_with(what, call, status, status == expected, expected);
    }

    pub(crate) fn check_with(
        &mut self,
        what: &str,
        call: &str,
        status: NTSTATUS,
        good: bool,
        want: NTSTATUS,
    ) {
        self.rows += 1;
        if !good {
            self.failed += 1;
            println!("selftest: {what} {call}: got {status:#010x}, expected {want:#010x}: FAILED");
        }
    }
}

fn raw(number: SyscallNumber, address: u64, size: u64) -> NTSTATUS {
    result_to_status(raw_syscall(number as u64, address, size, 0))
}

/// Runs the table; `foreign_device` is another process's device handle (0: skip that row).
pub fn run(foreign_device: u32) -> i32 {
    let mut table = Table {
        rows: 0,
        failed: 0,
        counted: 0,
        reached: [false; 0x46],
    };
    let framebuffer_view = warm_up();
    let frames_before = process::free_frames(&Native);
    let mut buffer = [0u8; 1024]; // writable, bigger than any argument struct
    let buffer_address = buffer.as_mut_ptr() as u64;
    for call in D3DKMT_CALLS {
        let size = call.argument_size as u64;
        let name = call.export;
        let number = call.number;
        let rows: [(&str, u64, u64); 5] = [
            ("size", buffer_address, size - 1),
            ("unmapped", UNMAPPED, size),
            ("read-only", READ_ONLY.as_ptr() as u64, size),
            ("kernel struct", KERNEL_ADDRESS, size),
            ("non-canonical struct", NON_CANONICAL, size),
        ];
        for (what, address, length) in rows {
            let status = table.counted(what, number, || raw(number, address, length));
            let expected = if what == "size" {
                STATUS_INFO_LENGTH_MISMATCH
            } else {
                STATUS_ACCESS_VIOLATION
            };
            table.check(what, name, status, expected);
        }
        buffer.fill(0);
        let status = table.counted("zeroed", number, || raw(number, buffer_address, size));
        match zeroed_status(number) {
            Some(expected) => table.check("zeroed", name, status, expected),
            None => table.check_with("zeroed", name, status, false, -1),
        }
    }
    bad_handles(&mut table);
    with_a_device(&mut table, foreign_device, framebuffer_view);
    let frames_after = process::free_frames(&Native);
    // Every frame the table's calls took must be back: the baseline was taken after the
    // warm-up, so the view region's page tables (created with the first view, kept until the
    // process ends) are already counted.
    let frames_good = frames_before.is_ok() && frames_before == frames_after;
    table.rows += 1;
    if !frames_good {
        table.failed += 1;
        println!(
            "selftest: free frames {frames_before:?} before the table, {frames_after:?} after: FAILED"
        );
    }
    let reached = table.reached.iter().filter(|reached| **reached).count();
    println!(
        "selftest: invalid-argument table: {} rows over {} entry points ({reached} with rows beyond the generic ones), {} with the object count compared, {} failed; free frames {frames_before:?} before, {frames_after:?} after",
        table.rows,
        D3DKMT_CALLS.len(),
        table.counted,
        table.failed
    );
    table.failed as i32
}

/// Maps this process's first views before the frame baseline is taken: the framebuffer (when
/// granted; its user address is returned, 0 otherwise) and a monitored fence's page. The first
/// view of a process makes the page tables of its view region (3 frames: a page-directory
/// pointer table, a directory and a table), which stay until the process ends; they were the
/// 3 frames the table used to "lose" (123895 before, 123892 after).
fn warm_up() -> u64 {
    let mut info = abi::DXGOS_FRAMEBUFFER_INFO::default();
    let framebuffer = if process::framebuffer(&Native, true, &mut info) == STATUS_SUCCESS {
        info.Address
    } else {
        0
    };
    crate::sharing::with_device(|device| match device.create_sync_object() {
        Ok(_) => 0,
        Err(_) => 1,
    });
    framebuffer
}

/// The answer to an all-zero argument struct, for every D3DKMT call (`None`: not one). The
/// match is exhaustive, so a new entry point does not build until its answer is stated here.
fn zeroed_status(number: SyscallNumber) -> Option<NTSTATUS> {
    use SyscallNumber as N;
    let status = match number {
        // The count query: zero adapters asked for, the count comes back.
        N::EnumAdapters2 | N::EnumAdapters3 => STATUS_SUCCESS,
        // The first field checked is a handle, and 0 names no object.
        N::CreateDevice
        | N::CreateContextVirtual
        | N::DestroyContext
        | N::CreatePagingQueue
        | N::QueryVideoMemoryInfo
        | N::MapGpuVirtualAddress
        | N::Escape
        | N::GetDeviceState
        | N::DestroyAllocation2
        | N::CloseAdapter
        | N::ChangeVideoMemoryReservation
        | N::CreateHwQueue
        | N::DestroyDevice
        | N::DestroyHwQueue
        | N::DestroyPagingQueue
        | N::DestroySynchronizationObject
        | N::FlushHeapTransitions
        | N::FreeGpuVirtualAddress
        | N::GetContextInProcessSchedulingPriority
        | N::GetContextSchedulingPriority
        | N::InvalidateCache
        | N::Lock2
        | N::MarkDeviceAsError
        | N::SetContextInProcessSchedulingPriority
        | N::SetContextSchedulingPriority
        | N::SubmitCommandToHwQueue
        | N::Unlock2
        | N::UpdateAllocationProperty
        | N::QueryClockCalibration
        | N::OpenSyncObjectFromNtHandle2
        | N::QueryResourceInfoFromNtHandle
        | N::ShareObjectWithHost => STATUS_INVALID_HANDLE,
        // The first field checked is a count, a pointer, a type or a LUID, and 0 is refused.
        N::OpenAdapterFromLuid
        | N::CreateAllocation2
        | N::ReserveGpuVirtualAddress
        | N::QueryAdapterInfo
        | N::MakeResident
        | N::SubmitCommand
        | N::CreateSynchronizationObject2
        | N::SignalSynchronizationObject2
        | N::WaitForSynchronizationObject2
        | N::Evict
        | N::OfferAllocations
        | N::OpenResource2
        | N::QueryAllocationResidency
        | N::ReclaimAllocations2
        | N::SetAllocationPriority
        | N::SignalSynchronizationObjectFromCpu
        | N::SignalSynchronizationObjectFromGpu
        | N::SignalSynchronizationObjectFromGpu2
        | N::SubmitSignalSyncObjectsToHwQueue
        | N::SubmitWaitForSyncObjectsToHwQueue
        | N::UpdateGpuVirtualAddress
        | N::WaitForSynchronizationObjectFromCpu
        | N::WaitForSynchronizationObjectFromGpu
        | N::GetAllocationPriority
        | N::ShareObjectsInternal
        | N::OpenResourceFromNtHandle
        | N::QueryStatistics => STATUS_INVALID_PARAMETER,
        // Not served by dxgos (docs/d3dkmt.md), whatever the arguments.
        N::CreateContext
        | N::CreateHwContext
        | N::DestroyHwContext
        | N::GetSharedResourceAdapterLuid
        | N::OpenSynchronizationObject
        | N::QueryResourceInfo
        | N::Render
        | N::CreateSyncFile => STATUS_NOT_SUPPORTED,
        N::Exit
        | N::WriteConsole
        | N::GetFramebufferInfo
        | N::MapFramebuffer
        | N::UnmapFramebuffer
        | N::Yield
        | N::Sleep
        | N::GetTime
        | N::DxgObjectCount
        | N::FreeFrames => return None,
    };
    Some(status)
}

/// Calls whose first handle is at offset 0 (or 8), given a made-up handle.
fn bad_handles(table: &mut Table) {
    let calls: [(SyscallNumber, usize); 13] = [
        (SyscallNumber::CloseAdapter, 0),
        (SyscallNumber::CreateDevice, 0),
        (SyscallNumber::DestroyDevice, 0),
        (SyscallNumber::CreateContextVirtual, 0),
        (SyscallNumber::DestroyContext, 0),
        (SyscallNumber::DestroySynchronizationObject, 0),
        (SyscallNumber::GetDeviceState, 0),
        (SyscallNumber::CreatePagingQueue, 0),
        (SyscallNumber::DestroyPagingQueue, 0),
        (SyscallNumber::Lock2, 0),
        (SyscallNumber::Unlock2, 0),
        (SyscallNumber::QueryVideoMemoryInfo, 8),
        (SyscallNumber::QueryAdapterInfo, 0),
    ];
    let mut info = [0u8; 64];
    for (number, offset) in calls {
        let mut bytes = [0u8; 1024];
        let size = number.argument_size().unwrap_or(0);
        {
            bytes[offset..offset + 4].copy_from_slice(&MADE_UP_HANDLE.to_le_bytes());
            match number {
                // A readable buffer and a known query type, so only the handle is wrong.
                SyscallNumber::QueryAdapterInfo => {
                    bytes[4..8].copy_from_slice(&15u32.to_le_bytes());
                    bytes[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_le_bytes());
                    bytes[16..20].copy_from_slice(&(info.len() as u32).to_le_bytes());
                }
                // The execution state type.
                SyscallNumber::GetDeviceState => {
                    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
                }
                _ => {}
            }
        }
        let address = bytes.as_mut_ptr() as u64;
        let status = table.counted("bad handle", number, || raw(number, address, size as u64));
        table.reach(number);
        table.check(
            "bad handle",
            export_name(number),
            status,
            STATUS_INVALID_HANDLE,
        );
    }
}

/// A kind of row: its label and the status every row of the kind expects.
pub(crate) type Expectation = (&'static str, NTSTATUS);
pub(crate) const OVERSIZE: Expectation = ("oversize count", STATUS_INVALID_PARAMETER);
pub(crate) const BAD_POINTER: Expectation = ("bad nested pointer", STATUS_ACCESS_VIOLATION);
pub(crate) const FOREIGN: Expectation = ("foreign handle", STATUS_INVALID_HANDLE);
pub(crate) const SWAPPED: Expectation = ("swapped handle", STATUS_OBJECT_TYPE_MISMATCH);
/// The adapter's handle where an object goes, or an object's where the adapter goes: adapter
/// handles are a namespace of their own, so the other kind's lookup finds nothing.
pub(crate) const ADAPTER_SWAPPED: Expectation =
    ("adapter and object handles swapped", STATUS_INVALID_HANDLE);

/// One row: calls `number` with `arguments` and checks the status and the object count.
pub(crate) fn row<T>(
    table: &mut Table,
    kind: Expectation,
    number: SyscallNumber,
    arguments: &mut T,
) {
    let (what, expected) = kind;
    let status = table.counted(what, number, || call_d3dkmt(&Native, number, arguments, 0));
    table.reach(number);
    table.check(what, export_name(number), status, expected);
}

pub(crate) fn export_name(number: SyscallNumber) -> &'static str {
    D3DKMT_CALLS
        .iter()
        .find(|call| call.number == number)
        .map_or("?", |call| call.export)
}

/// Oversize counts, bad nested pointers and a foreign handle, on a real device.
fn with_a_device(table: &mut Table, foreign_device: u32, framebuffer_view: u64) {
    let status = crate::sharing::with_device(|device| {
        rows_on_a_device(table, device, foreign_device);
        if framebuffer_view == 0 {
            table.check_with(
                "setup",
                "MapFramebuffer (no framebuffer grant)",
                -1,
                false,
                0,
            );
        } else {
            crate::hostile_rows::framebuffer_view_rows(table, device, framebuffer_view);
        }
        0
    });
    if status != 0 {
        table.check_with("setup", "adapter and device", -1, false, 0);
    }
}

fn rows_on_a_device(table: &mut Table, device: &Device<'_, Native>, foreign_device: u32) {
    let adapter = device.adapter();
    let Ok(context) = device.create_context() else {
        table.check_with("setup", "CreateContextVirtual", -1, false, 0);
        return;
    };
    let Ok(fence) = device.create_sync_object() else {
        table.check_with("setup", "CreateSynchronizationObject2", -1, false, 0);
        return;
    };
    crate::hostile_rows::released_views(table, device);
    match device.create_allocation(4096) {
        Ok(allocation) => {
            let live = crate::call_rows::Live {
                adapter: adapter.handle(),
                device: device.handle(),
                context: context.handle(),
                fence: fence.handle(),
                allocation: allocation.handle(),
                foreign: foreign_device,
            };
            crate::call_rows::run(table, &live);
        }
        Err(_) => table.check_with("setup", "CreateAllocation2", -1, false, 0),
    }

    // Still working after all that.
    let status = match device.execution_state() {
        Ok(_) => STATUS_SUCCESS,
        Err(_) => -1,
    };
    table.check("afterwards", "D3DKMTGetDeviceState", status, STATUS_SUCCESS);
}

/// Mode 8: creates eight devices and reports the last one's handle, then waits to be killed.
/// Handles are per process, so the table's process (with three objects of its own) does not
/// hold that handle value itself: it is another process's handle and nothing of its own.
pub fn hold_a_device() -> i32 {
    crate::sharing::with_device(|first| {
        let more: [_; 7] = core::array::from_fn(|_| first.adapter().create_device().ok());
        let Some(Some(device)) = more.last() else {
            return 4;
        };
        println!("selftest: holding device {:#x}", device.handle());
        loop {
            userlib::sys::process::sleep(&Native, 1_000);
        }
    })
}
