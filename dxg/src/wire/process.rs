//! CREATEPROCESS / DESTROYPROCESS and the other global-channel commands (dxg.md §3.1, §3.19, §3.25).

use super::{D3dkmtHandle, wire_struct};

wire_struct! {
    /// CREATEPROCESS (global 1000), 568 bytes. Reply: a bare 4-byte host process handle.
    pub struct CreateProcessCommand: CommandHeader {
        /// Opaque guest cookie.
        pub process: u64,
        /// Guest process id.
        @32 pub process_id: u64,
        /// 261 UTF-16 code units, NUL terminated.
        @40 pub process_name: [u16; 261],
        /// Bit 0 csrss, bit 1 dwm, bit 2 wow64, bit 3 linux_process.
        @562 pub flags: u8,
        pub padding: [u8; 5],
    } size 568;
}
/// CREATEPROCESS flag bit 3: the process is a Linux process.
pub const CREATE_PROCESS_LINUX: u8 = 1 << 3;

wire_struct! {
    /// A command that is just a header plus one handle (DESTROYSYNCOBJECT, CREATENTSHAREDOBJECT,
    /// DESTROYNTSHAREDOBJECT, DESTROYDEVICE, DESTROYCONTEXT, DESTROYPAGINGQUEUE, DESTROYHWQUEUE,
    /// CLOSEADAPTER), 32 bytes.
    pub struct HandleCommand: CommandHeader {
        @24 pub handle: D3dkmtHandle,
        pub padding: u32,
    } size 32;
}

wire_struct! {
    /// SETIOSPACEREGION (global 1010), 48 bytes. Reply: status.
    pub struct SetIoSpaceRegionCommand: CommandHeader {
        pub start: u64,
        @32 pub length: u64,
        @40 pub shared_page_gpadl: u32,
        pub padding: u32,
    } size 48;
}

wire_struct! {
    /// OPENSYNCOBJECT (global 1002), 40 bytes.
    pub struct OpenSyncObjectCommand: CommandHeader {
        pub device: D3dkmtHandle,
        @28 pub global_sync_object: D3dkmtHandle,
        pub engine_affinity: u32,
        @36 pub flags: u32,
    } size 40;
}

wire_struct! {
    /// OPENSYNCOBJECT reply, 24 bytes.
    pub struct OpenSyncObjectReply {
        pub sync_object: D3dkmtHandle,
        pub status: i32,
        pub gpu_virtual_address: u64,
        pub guest_cpu_physical_address: u64,
    } size 24;
}

wire_struct! {
    /// SHAREOBJECTWITHHOST (global 1021), 40 bytes.
    pub struct ShareObjectWithHostCommand: CommandHeader {
        pub device: D3dkmtHandle,
        pub object: D3dkmtHandle,
        pub reserved: u64,
    } size 40;
}

wire_struct! {
    /// SHAREOBJECTWITHHOST reply, 16 bytes.
    pub struct ShareObjectWithHostReply {
        pub status: i32,
        pub padding: u32,
        pub vail_nt_handle: u64,
    } size 16;
}

wire_struct! {
    /// ISFEATUREENABLED (vGPU 68) / ISFEATUREENABLED_GLOBAL (1022), 32 bytes.
    pub struct IsFeatureEnabledCommand: CommandHeader {
        pub feature_id: u32,
        pub padding: u32,
    } size 32;
}

wire_struct! {
    /// ISFEATUREENABLED reply, 16 bytes.
    pub struct IsFeatureEnabledReply {
        pub status: i32,
        pub min_version: u16,
        pub max_version: u16,
        pub descriptor_bits: u16,
        pub version: u16,
        pub result_bits: u16,
        pub padding: u16,
    } size 16;
}
