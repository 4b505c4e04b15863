//! OPENADAPTER, CLOSEADAPTER, GETINTERNALADAPTERINFO and QUERYADAPTERINFO (dxg.md §3.3–§3.4).

use super::{D3dkmtHandle, Luid, wire_struct};

wire_struct! {
    /// OPENADAPTER (vGPU 14), 40 bytes.
    pub struct OpenAdapterCommand: CommandHeader {
        pub interface_version: u32,
        pub last_compatible_interface_version: u32,
        @32 pub guest_adapter_luid: Luid,
    } size 40;
}

wire_struct! {
    /// OPENADAPTER reply, 16 bytes.
    pub struct OpenAdapterReply {
        pub host_adapter: D3dkmtHandle,
        pub status: i32,
        pub host_interface_version: u32,
        pub host_last_compatible_interface_version: u32,
    } size 16;
}

/// GETINTERNALADAPTERINFO flags bit 6: async messaging enabled (VM-global).
pub const ADAPTER_FLAG_ASYNC_MESSAGE_ENABLED: u32 = 1 << 6;
/// GETINTERNALADAPTERINFO flags bit 3: hardware scheduling enabled.
pub const ADAPTER_FLAG_HW_SCHEDULING_ENABLED: u32 = 1 << 3;
/// GETINTERNALADAPTERINFO device_types bit 14: virtual render device.
pub const DEVICE_TYPE_VIRTUAL_RENDER: u32 = 1 << 14;

wire_struct! {
    /// GETINTERNALADAPTERINFO reply, 712 bytes (704 below version 40, without `host_vgpu_luid`).
    pub struct InternalAdapterInfoReply {
        pub device_types: u32,
        pub driver_store_copy_mode: u32,
        pub driver_ddi_version: u32,
        pub flags: u32,
        @16 pub host_adapter_luid: Luid,
        /// 80 UTF-16 units.
        @24 pub device_description: [u16; 80],
        /// 260 UTF-16 units.
        @184 pub device_instance_id: [u16; 260],
        @704 pub host_vgpu_luid: Luid,
    } size 712;
}
/// Size of the GETINTERNALADAPTERINFO reply below version 40.
pub const INTERNAL_ADAPTER_INFO_REPLY_OLD_SIZE: usize = 704;

wire_struct! {
    /// QUERYADAPTERINFO (vGPU 2) fixed part; `private_data_size` bytes follow at +32.
    /// Linux sends 39 + size bytes (the struct has a 1-byte placeholder).
    pub struct QueryAdapterInfoCommand: CommandHeader {
        pub query_type: u32,
        pub private_data_size: u32,
    } size 32;
}
/// Bytes Linux sends for QUERYADAPTERINFO beyond `32 + size` (the placeholder's padding).
pub const QUERY_ADAPTER_INFO_SLACK: usize = 7;

/// KMTQAITYPE_ADAPTERTYPE.
pub const QUERY_ADAPTER_TYPE: u32 = 15;
/// KMTQAITYPE_ADAPTERTYPE_RENDER.
pub const QUERY_ADAPTER_TYPE_RENDER: u32 = 57;
/// KMTQAITYPE_PHYSICALADAPTERDEVICEIDS.
pub const QUERY_PHYSICAL_ADAPTER_DEVICE_IDS: u32 = 31;
/// KMTQAITYPE_WDDM_2_7_CAPS.
pub const QUERY_WDDM_2_7_CAPS: u32 = 70;
/// KMTQAITYPE_DRIVER_DESCRIPTION.
pub const QUERY_DRIVER_DESCRIPTION: u32 = 65;
/// `D3DKMT_ADAPTERTYPE` bit 0: render supported.
pub const ADAPTER_TYPE_RENDER_SUPPORTED: u32 = 1 << 0;
/// `D3DKMT_ADAPTERTYPE` bit 7: paravirtualized.
pub const ADAPTER_TYPE_PARAVIRTUALIZED: u32 = 1 << 7;
/// `D3DKMT_ADAPTERTYPE` bit 11: compute only.
pub const ADAPTER_TYPE_COMPUTE_ONLY: u32 = 1 << 11;
/// Bits the guest forces to 0 in a returned `D3DKMT_ADAPTERTYPE`: display_supported (1),
/// post_device (3), indirect_display_device (6), acg_supported (8),
/// support_set_timings_from_vidpn (9), compute_only (11, then set from the PCI device id).
pub const ADAPTER_TYPE_GUEST_CLEARED: u32 =
    (1 << 1) | (1 << 3) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 11);

wire_struct! {
    /// QUERYVIDEOMEMORYINFO (vGPU 21), 40 bytes.
    pub struct QueryVideoMemoryInfoCommand: CommandHeader {
        pub adapter: D3dkmtHandle,
        pub memory_segment_group: u32,
        pub physical_adapter_index: u32,
        pub padding: u32,
    } size 40;
}

wire_struct! {
    /// QUERYVIDEOMEMORYINFO reply, 32 bytes.
    pub struct QueryVideoMemoryInfoReply {
        pub budget: u64,
        pub current_usage: u64,
        pub current_reservation: u64,
        pub available_for_reservation: u64,
    } size 32;
}

wire_struct! {
    /// ESCAPE (vGPU 13) fixed part; `private_data_size` bytes follow at +48 (message 55 + n).
    pub struct EscapeCommand: CommandHeader {
        pub adapter: D3dkmtHandle,
        pub device: D3dkmtHandle,
        pub escape_type: u32,
        pub flags: u32,
        pub private_data_size: u32,
        pub context: D3dkmtHandle,
    } size 48;
}
/// Bytes Linux sends for ESCAPE beyond `48 + n`.
pub const ESCAPE_SLACK: usize = 7;

wire_struct! {
    /// QUERYCLOCKCALIBRATION (vGPU 62), 64 bytes; the args are packed (clock data kept as bytes).
    pub struct QueryClockCalibrationCommand: CommandHeader {
        pub adapter: D3dkmtHandle,
        pub node_ordinal: u32,
        pub physical_adapter_index: u32,
        pub clock_data: [u8; 28],
    } size 64;
}

wire_struct! {
    /// QUERYCLOCKCALIBRATION reply, 32 bytes (packed clock data).
    pub struct QueryClockCalibrationReply {
        pub status: i32,
        pub clock_data: [u8; 28],
    } size 32;
}

wire_struct! {
    /// QUERYSTATISTICS (vGPU 48), 832 bytes.
    pub struct QueryStatisticsCommand: CommandHeader {
        pub statistics_type: u32,
        pub adapter_luid: Luid,
        pub padding: u32,
        pub process: u64,
        pub query: [u8; 784],
    } size 832;
}

wire_struct! {
    /// QUERYSTATISTICS reply, 784 bytes.
    pub struct QueryStatisticsReply {
        pub status: i32,
        pub reserved: u32,
        pub result: [u8; 776],
    } size 784;
}
/// Size of `D3DKMT_QUERYSTATISTICS_RESULT` (0x308); the 8-byte query union follows it.
pub const STATISTICS_RESULT_SIZE: usize = 0x308;
/// `D3DKMT_QUERYSTATISTICS_ADAPTER`.
pub const STATISTICS_ADAPTER: u32 = 0;
/// `D3DKMT_QUERYSTATISTICS_PROCESS`.
pub const STATISTICS_PROCESS: u32 = 1;
/// `D3DKMT_QUERYSTATISTICS_PROCESS_ADAPTER`.
pub const STATISTICS_PROCESS_ADAPTER: u32 = 2;
/// `D3DKMT_QUERYSTATISTICS_SEGMENT`.
pub const STATISTICS_SEGMENT: u32 = 3;
/// `D3DKMT_QUERYSTATISTICS_NODE`.
pub const STATISTICS_NODE: u32 = 5;
/// `D3DKMT_QUERYSTATISTICS_PROCESS_NODE`.
pub const STATISTICS_PROCESS_NODE: u32 = 6;
/// `D3DKMT_QUERYSTATISTICS_PHYSICAL_ADAPTER`.
pub const STATISTICS_PHYSICAL_ADAPTER: u32 = 10;
/// ISFEATUREENABLED feature id: hardware scheduling.
pub const FEATURE_HWSCH: u32 = 0;
/// ISFEATUREENABLED feature id: page-based memory manager.
pub const FEATURE_PAGE_BASED_MEMORY_MANAGER: u32 = 32;
/// ISFEATUREENABLED feature id: kernel-mode testing.
pub const FEATURE_KERNEL_MODE_TESTING: u32 = 33;
/// ISFEATUREENABLED result bit: enabled.
pub const FEATURE_RESULT_ENABLED: u16 = 1 << 0;
/// ISFEATUREENABLED result bit: known feature.
pub const FEATURE_RESULT_KNOWN: u16 = 1 << 1;
/// ISFEATUREENABLED result bit: supported by the driver.
pub const FEATURE_RESULT_SUPPORTED_BY_DRIVER: u16 = 1 << 2;
/// ISFEATUREENABLED result bit: supported on this configuration.
pub const FEATURE_RESULT_SUPPORTED_ON_CONFIG: u16 = 1 << 3;
/// ISFEATUREENABLED descriptor bit: supported.
pub const FEATURE_DESCRIPTOR_SUPPORTED: u16 = 1 << 0;
