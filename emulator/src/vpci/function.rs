//! The emulated PCI functions of a vPCI bus: the GPU-PV function, or a stand-in for another
//! device a VM may have on a vPCI bus of its own (a NIC VF); their descriptions (as listed in
//! BUS_RELATIONS) and config space as seen through the window (vpci.md §10.2).

use crate::vgpu::VgpuPciConfig;
use dxg::wire::{
    Guid, Luid, PCI_CONFIG_GUID, PCI_DEVICE_COMPUTE_ACCELERATOR, PCI_DEVICE_VIRTUAL_RENDER,
    PCI_VENDOR_MICROSOFT,
};

/// Base class "display controller".
pub const BASE_CLASS_DISPLAY: u8 = 0x03;
/// Sub-class "3D controller".
pub const SUB_CLASS_3D: u8 = 0x02;
/// Base class "network controller".
pub const BASE_CLASS_NETWORK: u8 = 0x02;
/// Sub-class "Ethernet controller".
pub const SUB_CLASS_ETHERNET: u8 = 0x00;
/// PCI vendor id of Mellanox, whose ConnectX virtual functions Azure and Hyper-V hand to VMs
/// on a vPCI bus (accelerated networking).
pub const PCI_VENDOR_MELLANOX: u16 = 0x15B3;
/// PCI device id of a ConnectX-4 Lx virtual function.
pub const PCI_DEVICE_CONNECTX4_LX_VF: u16 = 0x1016;

/// One BAR-less, MSI-less PCI function (the emulated host models no BARs or interrupts, so a
/// NIC VF here is only its identity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpciFunction {
    /// Vendor id (0x1414).
    pub vendor_id: u16,
    /// Device id (0x008E render, 0x008A compute-only).
    pub device_id: u16,
    /// Revision.
    pub revision: u8,
    /// Programming interface.
    pub programming_interface: u8,
    /// Sub-class.
    pub sub_class: u8,
    /// Base class.
    pub base_class: u8,
    /// Subsystem vendor (low 16) and id (high 16).
    pub subsystem: u32,
    /// Serial number in the description.
    pub serial_number: u32,
    /// The GPU-PV words at 0xC0..0xDF (and the guest's writes to them); served only by a
    /// GPU-PV function ([`VpciFunction::is_gpu_pv`]).
    pub config: VgpuPciConfig,
    /// COMMAND register (writable, no effect).
    pub command: u16,
}

impl VpciFunction {
    /// A GPU-PV render function 1414:008E, class 03/02/00, with `config`'s words.
    pub fn gpu_pv(config: VgpuPciConfig, serial_number: u32) -> Self {
        VpciFunction {
            vendor_id: PCI_VENDOR_MICROSOFT,
            device_id: PCI_DEVICE_VIRTUAL_RENDER,
            revision: 0,
            programming_interface: 0,
            sub_class: SUB_CLASS_3D,
            base_class: BASE_CLASS_DISPLAY,
            subsystem: 0,
            serial_number,
            config,
            command: 0,
        }
    }

    /// A NIC virtual function (ConnectX-4 Lx VF, class 02/00): something other than a GPU that
    /// a VM may have on a vPCI bus, which the guest must leave alone.
    pub fn network_vf(serial_number: u32) -> Self {
        VpciFunction {
            vendor_id: PCI_VENDOR_MELLANOX,
            device_id: PCI_DEVICE_CONNECTX4_LX_VF,
            revision: 0,
            programming_interface: 0,
            sub_class: SUB_CLASS_ETHERNET,
            base_class: BASE_CLASS_NETWORK,
            subsystem: 0,
            serial_number,
            config: VgpuPciConfig::new(Guid::ZERO, Luid::default()),
            command: 0,
        }
    }

    /// Whether this is a GPU-PV function (1414:008E or 1414:008A).
    pub fn is_gpu_pv(&self) -> bool {
        self.vendor_id == PCI_VENDOR_MICROSOFT
            && matches!(
                self.device_id,
                PCI_DEVICE_VIRTUAL_RENDER | PCI_DEVICE_COMPUTE_ACCELERATOR
            )
    }

    /// The config dword at `offset` (dword-aligned, < 0x1000).
    pub fn read_dword(&self, offset: u16) -> u32 {
        match offset {
            0x00 => u32::from(self.vendor_id) | u32::from(self.device_id) << 16,
            0x04 => u32::from(self.command), // status 0: no capability list
            0x08 => {
                u32::from(self.revision)
                    | u32::from(self.programming_interface) << 8
                    | u32::from(self.sub_class) << 16
                    | u32::from(self.base_class) << 24
            }
            0x2C => self.subsystem,
            o if self.is_gpu_pv() && (PCI_CONFIG_GUID..PCI_CONFIG_GUID + 0x20).contains(&o) => {
                self.config.read_u32(o)
            }
            _ => 0,
        }
    }

    /// Writes `size` bytes (1, 2 or 4, naturally aligned) of `value` at `offset`. COMMAND is
    /// writable; the GPU-PV words take dword writes; everything else ignores writes.
    pub fn write(&mut self, offset: u16, size: u8, value: u32) {
        match (offset, size) {
            (0x04, 2 | 4) => self.command = value as u16,
            (o, 4)
                if self.is_gpu_pv() && (PCI_CONFIG_GUID..PCI_CONFIG_GUID + 0x20).contains(&o) =>
            {
                self.config.write_u32(o, value)
            }
            _ => {}
        }
    }
}
