//! Synchronisation objects: create, signal, CPU and GPU waits (dxg.md §3.15–§3.18).

use super::{D3dkmtHandle, wire_struct};

/// Sync object type: SYNCHRONIZATION_MUTEX.
pub const SYNC_OBJECT_MUTEX: u32 = 1;
/// Sync object type: SEMAPHORE.
pub const SYNC_OBJECT_SEMAPHORE: u32 = 2;
/// Sync object type: FENCE.
pub const SYNC_OBJECT_FENCE: u32 = 3;
/// Sync object type: CPU_NOTIFICATION.
pub const SYNC_OBJECT_CPU_NOTIFICATION: u32 = 4;
/// Sync object type: MONITORED_FENCE.
pub const SYNC_OBJECT_MONITORED_FENCE: u32 = 5;
/// Sync object type: PERIODIC_MONITORED_FENCE.
pub const SYNC_OBJECT_PERIODIC_MONITORED_FENCE: u32 = 6;

wire_struct! {
    /// CREATESYNCOBJECT (vGPU 8), 128 bytes: the 96-byte `D3DKMT_CREATESYNCHRONIZATIONOBJECT2`
    /// verbatim, then the client hint.
    pub struct CreateSyncObjectCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub reserved: u32,
        @32 pub object_type: u32,
        pub flags: u32,
        /// Type-specific union (monitored fence: initial value, cpu va, gpu va, engine affinity).
        @40 pub parameters: [u64; 8],
        @104 pub shared_handle: D3dkmtHandle,
        pub padding: u32,
        @112 pub sync_object: D3dkmtHandle,
        pub reserved2: u32,
        @120 pub client_hint: u32,
        pub padding2: u32,
    } size 128;
}
/// CREATESYNCOBJECT client hint sent by Linux: UMD.
pub const SYNC_CLIENT_HINT_UMD: u32 = 1;

wire_struct! {
    /// CREATESYNCOBJECT reply, 32 bytes.
    pub struct CreateSyncObjectReply {
        pub sync_object: D3dkmtHandle,
        pub global_sync_object: D3dkmtHandle,
        pub fence_gpu_virtual_address: u64,
        pub fence_storage_address: u64,
        pub fence_storage_offset: u32,
        pub padding: u32,
    } size 32;
}

wire_struct! {
    /// SIGNALSYNCOBJECT (vGPU 26) fixed part, 56 bytes; objects, contexts, fence values follow.
    pub struct SignalSyncObjectCommand: CommandHeader {
        pub object_count: u32,
        pub flags: u32,
        pub context_count: u32,
        pub padding: u32,
        @40 pub fence_value: u64,
        /// Guest event id with `enqueue_cpu_event`; otherwise the device handle in the low half.
        pub cpu_event_or_device: u64,
    } size 56;
}
/// SIGNALSYNCOBJECT flag bit 1: enqueue_cpu_event.
pub const SIGNAL_FLAG_ENQUEUE_CPU_EVENT: u32 = 1 << 1;

wire_struct! {
    /// WAITFORSYNCOBJECTFROMCPU (vGPU 22) fixed part, 56 bytes; handles then u64 values follow.
    pub struct WaitForSyncObjectFromCpuCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub object_count: u32,
        pub flags: u32,
        pub padding: u32,
        @40 pub guest_event_pointer: u64,
        pub dereference_event: u8,
        pub padding2: [u8; 7],
    } size 56;
}
/// WAITFORSYNCOBJECTFROMCPU flag bit 0: wait_any.
pub const WAIT_FLAG_WAIT_ANY: u32 = 1;

wire_struct! {
    /// WAITFORSYNCOBJECTFROMGPU (vGPU 25) fixed part, 40 bytes; u64 values then handles follow;
    /// message 48 + 12n.
    pub struct WaitForSyncObjectFromGpuCommand: CommandHeader {
        pub context: D3dkmtHandle,
        pub object_count: u32,
        pub legacy_fence_object: u8,
        pub padding: [u8; 7],
    } size 40;
}
/// Bytes Linux sends for WAITFORSYNCOBJECTFROMGPU beyond `40 + 12n`.
pub const WAIT_FROM_GPU_SLACK: usize = 8;
