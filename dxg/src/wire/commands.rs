//! The command table: every guest→host command the driver sends, described once.
//!
//! Each row names the command struct (or, for a struct several commands share — the 32-byte
//! handle command, the bare header, the priority command, ISFEATUREENABLED — just the code),
//! its command number and channel (§2.5), and the fixed part of its reply: a wire struct whose
//! size is the reply's minimum, `NtStatus` for a bare status, `D3dkmtHandle` for a bare handle,
//! `()` for a command answered without data or with only a variable part (the decoder checks
//! it), with `{ minimum: N }` where the reply is shorter than its struct (an echo whose private
//! data starts before the struct's end). A command that creates a host object the guest may have
//! to destroy again (a reply it refuses) names the command that does so (`[undo …]`, sent with
//! the created handle in the 32-byte handle command: [`undo_command`]); the other objects a
//! command creates or frees are noted on its row, and the decoders (`core::replies*`) register
//! and remove them.
//!
//! One generic path uses the table: an encoder asks the driver for a `T` ([`new_command`] /
//! `Driver::command`) and gets the header filled from `T::CODE`; the send path records the
//! number read back from the header; when the completion arrives, the reply is checked against
//! [`reply_minimum`] of that number before any decoder looks at it (a short reply is a
//! `ReplyTooShort` protocol error and fails the request with BUFFER_TOO_SMALL), so a decoder
//! reads the fixed part without a check of its own and checks only a variable tail. The
//! layouts are documented on the structs and pinned by `dxg/tests/wire_vectors.rs`, which also
//! pins this table against dxg.md §2.5.

use super::*;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A guest→host command struct with a fixed command number.
pub trait Command: FromBytes + IntoBytes + Immutable {
    /// The command number.
    const CODE: CommandCode;
    /// The fixed part of the reply (see the module documentation).
    type Reply: FromBytes;
    /// The shortest reply accepted, in bytes.
    const REPLY_MINIMUM: usize;
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

    /// This command with its header replaced by one carrying [`Self::CODE`] for host process
    /// `process` (a command a request carries whole: the caller's header is not sent).
    fn stamped(mut self, process: D3dkmtHandle) -> Self
    where
        Self: Sized,
    {
        let _ = CommandHeader::of(Self::CODE, process).write_to_prefix(self.as_mut_bytes());
        self
    }
}

/// The shortest reply the host may send to command number `command` (a vGPU or global number),
/// from the command table; `None` for a number the driver never sends.
pub fn reply_minimum(command: u32) -> Option<usize> {
    REPLY_MINIMUMS
        .iter()
        .find(|(code, _)| code.as_u32() == command)
        .map(|(_, minimum)| *minimum)
}

/// The command that destroys the object command number `command` created (the handle command
/// naming the new handle), from the command table's `[undo …]` column.
pub fn undo_command(command: u32) -> Option<CommandCode> {
    UNDO_COMMANDS
        .iter()
        .find(|(code, _)| code.as_u32() == command)
        .map(|(_, undo)| *undo)
}

/// Builds the [`Command`] impls, [`REPLY_MINIMUMS`] and [`UNDO_COMMANDS`] from the rows below.
macro_rules! command_table {
    (
        typed { $(
            $type:ident => $channel:ident $code:ident
            $([undo $undo_channel:ident $undo_code:ident])?
            -> $reply:ty $({ minimum: $minimum:expr })?,
        )* }
        shared { $($shared_channel:ident $shared_code:ident -> $shared_reply:ty $({ minimum: $shared_minimum:expr })?,)* }
    ) => {
        $(
            impl Command for $type {
                const CODE: CommandCode = command_table!(@code $channel $code);
                type Reply = $reply;
                const REPLY_MINIMUM: usize = command_table!(@minimum $reply $(, $minimum)?);
            }
        )*
        /// Each command number with the shortest reply it may have.
        pub const REPLY_MINIMUMS: &[(CommandCode, usize)] = &[
            $((<$type as Command>::CODE, <$type as Command>::REPLY_MINIMUM),)*
            $((
                command_table!(@code $shared_channel $shared_code),
                command_table!(@minimum $shared_reply $(, $shared_minimum)?),
            ),)*
        ];
        /// Each command that creates a host object with the command that destroys it again.
        pub const UNDO_COMMANDS: &[(CommandCode, CommandCode)] = &[
            $($((
                <$type as Command>::CODE,
                command_table!(@code $undo_channel $undo_code),
            ),)?)*
        ];
    };
    (@code Vgpu $code:ident) => { CommandCode::Vgpu(VgpuCommand::$code) };
    (@code Global $code:ident) => { CommandCode::Global(GlobalCommand::$code) };
    (@minimum $reply:ty) => { core::mem::size_of::<$reply>() };
    (@minimum $reply:ty, $minimum:expr) => { $minimum };
}

command_table! {
    typed {
        // Process and adapter (§3.1–§3.4).
        CreateProcessCommand => Global CreateProcess -> D3dkmtHandle, // creates the host process
        SetIoSpaceRegionCommand => Global SetIoSpaceRegion -> NtStatus,
        OpenAdapterCommand => Vgpu OpenAdapter -> OpenAdapterReply,
        QueryAdapterInfoCommand => Vgpu QueryAdapterInfo -> (), // [status,] the caller's size
        QueryVideoMemoryInfoCommand => Vgpu QueryVideoMemoryInfo -> QueryVideoMemoryInfoReply,
        EscapeCommand => Vgpu Escape -> (), // the caller's private data size
        QueryClockCalibrationCommand => Vgpu QueryClockCalibration -> QueryClockCalibrationReply,
        QueryStatisticsCommand => Vgpu QueryStatistics -> QueryStatisticsReply,
        // Devices, contexts, paging queues, hardware queues (§3.5–§3.6, §3.11, §3.13–§3.14).
        CreateDeviceCommand => Vgpu CreateDevice -> D3dkmtHandle, // creates a device
        FlushDeviceCommand => Vgpu FlushDevice -> NtStatus,
        // Echo; creates a context; private data follows at +52.
        CreateContextVirtualCommand => Vgpu CreateContextVirtual -> CreateContextVirtualCommand
            { minimum: CREATE_CONTEXT_PRIVATE_OFFSET },
        // Creates a paging queue and its fence (a monitored fence).
        CreatePagingQueueCommand => Vgpu CreatePagingQueue [undo Vgpu DestroyPagingQueue]
            -> CreatePagingQueueReply,
        SubmitCommandCommand => Vgpu SubmitCommand -> NtStatus,
        // Echo; creates a hardware queue and its progress fence; private data follows at +68.
        CreateHwQueueCommand => Vgpu CreateHwQueue [undo Vgpu DestroyHwQueue]
            -> CreateHwQueueCommand
            { minimum: CREATE_HWQUEUE_PRIVATE_OFFSET },
        SubmitCommandToHwQueueCommand => Vgpu SubmitCommandToHwQueue -> NtStatus,
        GetDeviceStateCommand => Vgpu GetDeviceState -> GetDeviceStateReply,
        MarkDeviceAsErrorCommand => Vgpu MarkDeviceAsError -> NtStatus,
        SetContextSchedulingPriorityCommand => Vgpu SetContextSchedulingPriority -> NtStatus,
        GetContextSchedulingPriorityCommand => Vgpu GetContextSchedulingPriority
            -> GetContextSchedulingPriorityReply,
        // Allocations, residency, GPU virtual addresses (§3.7–§3.12, §3.25).
        // Creates the allocations (and a resource); one info per allocation follows.
        CreateAllocationCommand => Vgpu CreateAllocation -> CreateAllocationReply,
        DestroyAllocationCommand => Vgpu DestroyAllocation -> NtStatus, // frees them
        Lock2Command => Vgpu Lock2 -> Lock2Reply,
        Unlock2Command => Vgpu Unlock2 -> NtStatus,
        MakeResidentCommand => Vgpu MakeResident -> MakeResidentReply,
        EvictCommand => Vgpu Evict -> EvictReply,
        ReserveGpuVirtualAddressCommand => Vgpu ReserveGpuVirtualAddress
            -> ReserveGpuVirtualAddressReply,
        MapGpuVirtualAddressCommand => Vgpu MapGpuVirtualAddress -> MapGpuVirtualAddressReply,
        FreeGpuVirtualAddressCommand => Vgpu FreeGpuVirtualAddress -> NtStatus,
        UpdateGpuVirtualAddressCommand => Vgpu UpdateGpuVirtualAddress -> NtStatus,
        SetExistingSysmemStoreCommand => Vgpu SetExistingSysmemStore -> NtStatus,
        SetExistingSysmemPagesCommand => Vgpu SetExistingSysmemPages -> NtStatus,
        // Status, then one value per allocation.
        QueryAllocationResidencyCommand => Vgpu QueryAllocationResidency -> NtStatus,
        OfferAllocationsCommand => Vgpu OfferAllocations -> NtStatus,
        // Fence value and status, then (when asked) one result per handle.
        ReclaimAllocationsCommand => Vgpu ReclaimAllocations -> FenceValueStatusReply
            { minimum: RECLAIM_RESULTS_OFFSET },
        ChangeVideoMemoryReservationCommand => Vgpu ChangeVideoMemoryReservation -> NtStatus,
        UpdateAllocationPropertyCommand => Vgpu UpdateAllocationProperty -> FenceValueStatusReply,
        InvalidateCacheCommand => Vgpu InvalidateCache -> NtStatus,
        // Creates a resource and its allocations; one handle per allocation follows.
        OpenResourceCommand => Vgpu OpenResource -> OpenResourceReply,
        // The two blobs follow.
        GetStandardAllocationDriverDataCommand => Vgpu DdiGetStandardAllocationDriverData
            -> GetStandardAllocationDriverDataReply,
        // Synchronization and sharing (§3.15–§3.19, §3.21).
        CreateSyncObjectCommand => Vgpu CreateSyncObject [undo Global DestroySyncObject]
            -> CreateSyncObjectReply,
        SignalSyncObjectCommand => Vgpu SignalSyncObject -> NtStatus,
        WaitForSyncObjectFromCpuCommand => Vgpu WaitForSyncObjectFromCpu -> NtStatus,
        WaitForSyncObjectFromGpuCommand => Vgpu WaitForSyncObjectFromGpu -> NtStatus,
        OpenSyncObjectCommand => Global OpenSyncObject [undo Global DestroySyncObject]
            -> OpenSyncObjectReply,
        ShareObjectWithHostCommand => Global ShareObjectWithHost -> ShareObjectWithHostReply,
    }
    shared {
        // `HandleCommand` (one handle at +24): each frees the object it names.
        Vgpu DestroyDevice -> NtStatus,
        Vgpu DestroyContext -> NtStatus,
        Vgpu DestroyPagingQueue -> (), // no result expected (also frees the paging fence)
        Vgpu DestroyHwQueue -> NtStatus, // also frees the progress fence
        Global DestroySyncObject -> NtStatus,
        // The bare header.
        Vgpu CloseAdapter -> (), // no result expected
        Vgpu GetInternalAdapterInfo -> InternalAdapterInfoReply
            { minimum: INTERNAL_ADAPTER_INFO_REPLY_OLD_SIZE }, // the full size with the extension header
        Global DestroyProcess -> NtStatus, // frees the host process
        Vgpu FlushHeapTransitions -> NtStatus,
        Global DestroyNtSharedObject -> NtStatus,
        // The 24-byte header with an object handle: a shared handle comes back.
        Global CreateNtSharedObject -> D3dkmtHandle,
        // `AllocationPriorityCommand`; GETALLOCATIONPRIORITY: status, then one value each.
        Vgpu SetAllocationPriority -> NtStatus,
        Vgpu GetAllocationPriority -> NtStatus,
        // `IsFeatureEnabledCommand`.
        Vgpu IsFeatureEnabled -> IsFeatureEnabledReply,
    }
}
