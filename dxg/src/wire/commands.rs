//! The command table: which guest→host command each wire struct carries.
//!
//! Each row binds one command struct to its command number (§2.5) and is the only place that
//! pairs them: an encoder asks the driver for a `T` ([`new_command`] / `Driver::command`), gets
//! the header filled from `T::CODE`, and the send path reads the number back from the header for
//! its transaction record. The layout, the variable tail and the reply of each command are
//! documented on its struct (and pinned by `dxg/tests/wire_vectors.rs`); what a reply means to
//! the driver (objects created or freed) is its `Expect` decoder. A struct several commands
//! share (the 32-byte handle command, the bare header, the priority command, ISFEATUREENABLED
//! in its two channels) is not in the table: its users name the code with [`new_command`].

use super::*;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A guest→host command struct with a fixed command number.
pub trait Command: FromBytes + IntoBytes + Immutable {
    /// The command number.
    const CODE: CommandCode;
    /// How long the driver waits for the reply before giving up on it, in milliseconds; `None`
    /// is "as long as the channel lives". No command has a bound yet (the supervision issue
    /// sets them here, per command).
    const TIMEOUT_MILLISECONDS: Option<u32> = None;

    /// A zeroed command whose header carries [`Self::CODE`] for host process `process`.
    fn with_process(process: D3dkmtHandle) -> Self
    where
        Self: Sized,
    {
        new_command(Self::CODE, process)
    }
}

macro_rules! command_table {
    ($($type:ident => $channel:ident $code:ident,)*) => {
        $(command_table!(@row $type, $channel, $code);)*
    };
    (@row $type:ident, Vgpu, $code:ident) => {
        impl Command for $type {
            const CODE: CommandCode = CommandCode::Vgpu(VgpuCommand::$code);
        }
    };
    (@row $type:ident, Global, $code:ident) => {
        impl Command for $type {
            const CODE: CommandCode = CommandCode::Global(GlobalCommand::$code);
        }
    };
}

command_table! {
    // Process and adapter (§3.1–§3.4).
    CreateProcessCommand => Global CreateProcess,
    SetIoSpaceRegionCommand => Global SetIoSpaceRegion,
    OpenAdapterCommand => Vgpu OpenAdapter,
    QueryAdapterInfoCommand => Vgpu QueryAdapterInfo,
    QueryVideoMemoryInfoCommand => Vgpu QueryVideoMemoryInfo,
    EscapeCommand => Vgpu Escape,
    QueryClockCalibrationCommand => Vgpu QueryClockCalibration,
    QueryStatisticsCommand => Vgpu QueryStatistics,
    // Devices, contexts, paging queues, hardware queues (§3.5–§3.6, §3.11, §3.13–§3.14).
    CreateDeviceCommand => Vgpu CreateDevice,
    FlushDeviceCommand => Vgpu FlushDevice,
    CreateContextVirtualCommand => Vgpu CreateContextVirtual,
    CreatePagingQueueCommand => Vgpu CreatePagingQueue,
    SubmitCommandCommand => Vgpu SubmitCommand,
    CreateHwQueueCommand => Vgpu CreateHwQueue,
    SubmitCommandToHwQueueCommand => Vgpu SubmitCommandToHwQueue,
    GetDeviceStateCommand => Vgpu GetDeviceState,
    MarkDeviceAsErrorCommand => Vgpu MarkDeviceAsError,
    SetContextSchedulingPriorityCommand => Vgpu SetContextSchedulingPriority,
    GetContextSchedulingPriorityCommand => Vgpu GetContextSchedulingPriority,
    // Allocations, residency, GPU virtual addresses (§3.7–§3.12, §3.25).
    CreateAllocationCommand => Vgpu CreateAllocation,
    DestroyAllocationCommand => Vgpu DestroyAllocation,
    Lock2Command => Vgpu Lock2,
    Unlock2Command => Vgpu Unlock2,
    MakeResidentCommand => Vgpu MakeResident,
    EvictCommand => Vgpu Evict,
    ReserveGpuVirtualAddressCommand => Vgpu ReserveGpuVirtualAddress,
    MapGpuVirtualAddressCommand => Vgpu MapGpuVirtualAddress,
    FreeGpuVirtualAddressCommand => Vgpu FreeGpuVirtualAddress,
    UpdateGpuVirtualAddressCommand => Vgpu UpdateGpuVirtualAddress,
    SetExistingSysmemStoreCommand => Vgpu SetExistingSysmemStore,
    SetExistingSysmemPagesCommand => Vgpu SetExistingSysmemPages,
    QueryAllocationResidencyCommand => Vgpu QueryAllocationResidency,
    OfferAllocationsCommand => Vgpu OfferAllocations,
    ReclaimAllocationsCommand => Vgpu ReclaimAllocations,
    ChangeVideoMemoryReservationCommand => Vgpu ChangeVideoMemoryReservation,
    UpdateAllocationPropertyCommand => Vgpu UpdateAllocationProperty,
    InvalidateCacheCommand => Vgpu InvalidateCache,
    OpenResourceCommand => Vgpu OpenResource,
    GetStandardAllocationDriverDataCommand => Vgpu DdiGetStandardAllocationDriverData,
    // Synchronization and sharing (§3.15–§3.19, §3.21).
    CreateSyncObjectCommand => Vgpu CreateSyncObject,
    SignalSyncObjectCommand => Vgpu SignalSyncObject,
    WaitForSyncObjectFromCpuCommand => Vgpu WaitForSyncObjectFromCpu,
    WaitForSyncObjectFromGpuCommand => Vgpu WaitForSyncObjectFromGpu,
    OpenSyncObjectCommand => Global OpenSyncObject,
    ShareObjectWithHostCommand => Global ShareObjectWithHost,
}
