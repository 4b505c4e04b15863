//! Devices, contexts, paging queues, hardware queues and device state (dxg.md §3.5, §3.6, §3.11,
//! §3.13, §3.14, §3.20, §3.25).

use super::{D3dkmtHandle, wire_struct};

wire_struct! {
    /// CREATEDEVICE (vGPU 0), 40 bytes. Reply: a bare 4-byte device handle.
    pub struct CreateDeviceCommand: CommandHeader {
        pub flags: u32,
        pub cdd_device: u8,
        pub padding: [u8; 3],
        /// Guest cookie echoed in SETGUESTDATA.
        @32 pub error_code: u64,
    } size 40;
}

wire_struct! {
    /// FLUSHDEVICE (vGPU 42), 32 bytes.
    pub struct FlushDeviceCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub reason: u32,
    } size 32;
}
/// `DXGDEVICE_FLUSHSCHEDULER_DEVICE_TERMINATE`.
pub const FLUSH_REASON_DEVICE_TERMINATE: u32 = 4;

wire_struct! {
    /// CREATECONTEXTVIRTUAL (vGPU 6) fixed part; private data at +52; message 55 + n. Reply: echo.
    pub struct CreateContextVirtualCommand: CommandHeader {
        pub context: D3dkmtHandle,
        pub device: D3dkmtHandle,
        pub node_ordinal: u32,
        pub engine_affinity: u32,
        pub flags: u32,
        pub client_hint: u32,
        @48 pub private_data_size: u32,
        /// Placeholder for the first private bytes (not part of the fixed part).
        pub first_private_bytes: [u8; 4],
    } size 56;
}
/// Offset of CREATECONTEXTVIRTUAL's private data.
pub const CREATE_CONTEXT_PRIVATE_OFFSET: usize = 52;
/// Bytes Linux sends for CREATECONTEXTVIRTUAL beyond `52 + n`.
pub const CREATE_CONTEXT_SLACK: usize = 3;

wire_struct! {
    /// CREATEPAGINGQUEUE (vGPU 9), 56 bytes.
    pub struct CreatePagingQueueCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub priority: i32,
        pub paging_queue: D3dkmtHandle,
        pub sync_object: D3dkmtHandle,
        pub fence_cpu_virtual_address: u64,
        pub physical_adapter_index: u32,
        pub padding: u32,
    } size 56;
}

wire_struct! {
    /// CREATEPAGINGQUEUE reply, 24 bytes.
    pub struct CreatePagingQueueReply {
        pub paging_queue: D3dkmtHandle,
        pub sync_object: D3dkmtHandle,
        pub fence_storage_physical_address: u64,
        pub fence_storage_offset: u64,
    } size 24;
}

wire_struct! {
    /// SUBMITCOMMAND (vGPU 20), 408 bytes; history handles then private data follow.
    pub struct SubmitCommandCommand: CommandHeader {
        pub command_buffer: u64,
        pub command_length: u32,
        pub flags: u32,
        pub present_history_token: u64,
        pub broadcast_context_count: u32,
        @(24 + 28) pub broadcast_context: [D3dkmtHandle; 64],
        pub reserved: u32,
        pub private_data: u64,
        @(24 + 296) pub private_data_size: u32,
        pub num_primaries: u32,
        @(24 + 304) pub written_primaries: [D3dkmtHandle; 16],
        @(24 + 368) pub num_history_buffers: u32,
        pub reserved2: u32,
        pub history_buffer_array: u64,
    } size 408;
}

wire_struct! {
    /// CREATEHWQUEUE (vGPU 50) fixed part; private data at +68; reply: echo.
    pub struct CreateHwQueueCommand: CommandHeader {
        pub status: i32,
        pub hwqueue: D3dkmtHandle,
        pub progress_fence: D3dkmtHandle,
        pub padding: u32,
        pub progress_fence_cpu_address: u64,
        pub progress_fence_gpu_address: u64,
        @56 pub context: D3dkmtHandle,
        pub flags: u32,
        @64 pub private_data_size: u32,
        pub first_private_byte: u32,
    } size 72;
}
/// Offset of CREATEHWQUEUE's private data (in the command and in its echo).
pub const CREATE_HWQUEUE_PRIVATE_OFFSET: usize = 68;

wire_struct! {
    /// SUBMITCOMMANDTOHWQUEUE (vGPU 52), 80 bytes; primaries then private data follow.
    pub struct SubmitCommandToHwQueueCommand: CommandHeader {
        pub hwqueue: D3dkmtHandle,
        pub reserved: u32,
        pub progress_fence_id: u64,
        pub command_buffer: u64,
        pub command_length: u32,
        pub private_data_size: u32,
        pub private_data: u64,
        pub num_primaries: u32,
        pub reserved2: u32,
        pub primaries: u64,
    } size 80;
}

wire_struct! {
    /// GETDEVICESTATE (vGPU 28), 80 bytes.
    pub struct GetDeviceStateCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub state_type: u32,
        pub state: [u64; 6],
    } size 80;
}

wire_struct! {
    /// GETDEVICESTATE reply, 64 bytes.
    pub struct GetDeviceStateReply {
        pub device: D3dkmtHandle,
        pub state_type: u32,
        pub state: [u64; 6],
        pub status: i32,
        pub padding: u32,
    } size 64;
}
/// `D3DKMT_DEVICESTATE_EXECUTION`.
pub const DEVICE_STATE_EXECUTION: u32 = 1;
/// `D3DKMT_DEVICEEXECUTION_ACTIVE`.
pub const DEVICE_EXECUTION_ACTIVE: u32 = 1;
/// `D3DKMT_DEVICEEXECUTION_ERROR_DMAFAULT`.
pub const DEVICE_EXECUTION_ERROR_DMAFAULT: u32 = 6;

wire_struct! {
    /// MARKDEVICEASERROR (vGPU 29), 32 bytes.
    pub struct MarkDeviceAsErrorCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub reason: u32,
    } size 32;
}

wire_struct! {
    /// SETCONTEXTSCHEDULINGPRIORITY (vGPU 33), 40 bytes.
    pub struct SetContextSchedulingPriorityCommand: CommandHeader {
        pub context: D3dkmtHandle,
        pub priority: i32,
        pub in_process: u8,
        pub padding: [u8; 7],
    } size 40;
}

wire_struct! {
    /// GETCONTEXTSCHEDULINGPRIORITY (vGPU 61), 32 bytes.
    pub struct GetContextSchedulingPriorityCommand: CommandHeader {
        pub context: D3dkmtHandle,
        pub in_process: u8,
        pub padding: [u8; 3],
    } size 32;
}

wire_struct! {
    /// GETCONTEXTSCHEDULINGPRIORITY reply, 8 bytes.
    pub struct GetContextSchedulingPriorityReply {
        pub status: i32,
        pub priority: i32,
    } size 8;
}
